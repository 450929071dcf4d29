/* h2.c: HTTP/2 framing (RFC 9113), between tcp/ (in-order bytes per direction) and grpc/
 * (events per stream). Each direction has its own framer state and HPACK decoder; frames
 * are parsed as views into the fed bytes, and only a frame cut by a feed boundary is copied.
 * Without the preface (joined mid-connection, after a GAP or a bad frame) a direction
 * re-synchronises by finding H2_RESYNC_CHAIN chained plausible frame headers. */
#include "h2.h"

#include <stdlib.h>
#include <string.h>

#include "rd.h"

/* RFC 9113 3.4: the client connection preface. */
static const uint8_t h2_preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
#define H2_PREFACE_LEN 24
#define H2_HDR_LEN 9
/* RFC 9113 6.5.2: initial SETTINGS_MAX_FRAME_SIZE, used for plausibility until SETTINGS. */
#define H2_DEFAULT_MAX_FRAME 16384u
/* The length field is 24 bits. */
#define H2_MAX_FRAME_LEN 0xffffffu
/* Bytes a resync candidate may need to see before its chain is decided: covers three
 * default-size frames (2 x 16 KiB + headers) with room for larger SETTINGS-raised frames. */
#define H2_RESYNC_LOOKAHEAD (64u * 1024)
/* Fields handed up per header block; a gRPC request has about ten. */
#define H2_MAX_FIELDS 256
/* Bytes of decoded names+values kept per header block (a copy: HPACK views die with emit). */
#define H2_MAX_FIELD_BYTES (256u * 1024)
/* A partial-frame buffer grown past this is released after use, not kept per connection. */
#define H2_KEEP_BUFFER (64u * 1024)

/* Frame flags (RFC 9113 6.x). */
#define H2_F_END_STREAM 0x01
#define H2_F_ACK 0x01
#define H2_F_END_HEADERS 0x04
#define H2_F_PADDED 0x08
#define H2_F_PRIORITY 0x20

/* Flags defined per known frame type; anything else is implausible during resync. */
static const uint8_t h2_flags_defined[10] = {
	[H2_DATA] = H2_F_END_STREAM | H2_F_PADDED,
	[H2_HEADERS] = H2_F_END_STREAM | H2_F_END_HEADERS | H2_F_PADDED | H2_F_PRIORITY,
	[H2_SETTINGS] = H2_F_ACK,
	[H2_PUSH_PROMISE] = H2_F_END_HEADERS | H2_F_PADDED,
	[H2_PING] = H2_F_ACK,
	[H2_CONTINUATION] = H2_F_END_HEADERS,
};

/*  Frame header, RFC 9113 4.1:
 *  +-----------------------------------------------+
 *  |                 Length (24)                   |
 *  +---------------+---------------+---------------+
 *  |   Type (8)    |   Flags (8)   |
 *  +-+-------------+---------------+-------------------------------+
 *  |R|                 Stream Identifier (31)                      |
 *  +=+=============================================================+
 *  |                   Frame Payload (0...)                      ...
 */
struct h2_fhdr {
	uint32_t len;
	uint8_t type, flags;
	bool r;
	uint32_t stream;
};

enum h2_state { H2_ST_PREFACE, H2_ST_FRAMES, H2_ST_RESYNC };

/* A header block being assembled from HEADERS/PUSH_PROMISE + CONTINUATION. */
struct h2_block {
	bool active, drop, push, end_stream;
	uint32_t stream;
	uint8_t *buf;
	size_t len, cap;
};

struct h2_dir {
	enum h2_state st;
	size_t preface_got;           /* preface bytes matched so far */
	bool preface_maybe;           /* joined mid-connection: the preface may still come first */
	uint32_t max_frame;           /* plausibility limit for frames in this direction */
	uint32_t table_max;           /* SETTINGS_HEADER_TABLE_SIZE for our decoder, 0 = unset */
	bool table_max_set;
	struct hpack_decoder *hd;
	/* partial frame (H2_ST_FRAMES) */
	uint8_t *fbuf;
	size_t flen, fcap;
	uint64_t skip_left;           /* bytes of a frame too large to buffer, still to skip */
	/* resync lookahead (H2_ST_RESYNC), and a buffer handed back for replay after acceptance */
	uint8_t *rbuf;
	size_t rlen, rcap;
	uint8_t *replay;
	size_t replay_off, replay_len;
	uint64_t skipped;             /* bytes skipped during the current resync */
	struct h2_block blk;
	/* fields of the block being decoded: offsets into farena until handed up */
	struct hpack_field fields[H2_MAX_FIELDS];
	size_t nfields;
	uint8_t *farena;
	size_t falen, facap;
	size_t fbytes; /* bytes of the block's fields, copied or not (H2_MAX_FIELD_BYTES) */
	bool fields_cut;
};

struct h2_conn {
	struct h2_callbacks cb;
	void *ctx;
	struct h2_dir d[2];
	struct h2_stats st;
	ee_ts ts;
};

/* Parses the 9-byte frame header at p: returns bytes consumed or EE_INCOMPLETE. */
static int h2_fhdr_parse(const uint8_t *p, size_t n, struct h2_fhdr *h)
{
	struct rd r;
	rd_init(&r, p, n < H2_HDR_LEN ? n : H2_HDR_LEN);
	h->len = rd_be24(&r);
	h->type = rd_u8(&r);
	h->flags = rd_u8(&r);
	uint32_t s = rd_be32(&r);
	if (r.err)
		return EE_INCOMPLETE;
	h->r = (s >> 31) != 0;
	h->stream = s & 0x7fffffffu;
	return H2_HDR_LEN;
}

/* Could h be a frame header sent in dir? `first` = the first frame of a resync chain, where
 * extension types are not accepted (too weak a signal to start from). */
static bool h2_fhdr_plausible(const struct h2_fhdr *h, enum tcp_dir dir, uint32_t max_frame,
			      bool first)
{
	if (h->r || h->len > max_frame)
		return false;
	if (h->type > H2_CONTINUATION)
		return !first;
	if (h->flags & ~h2_flags_defined[h->type])
		return false;
	bool odd = (h->stream & 1) != 0; /* gRPC: every stream is client-initiated */
	switch (h->type) {
	case H2_DATA:
		return odd && (!(h->flags & H2_F_PADDED) || h->len >= 1);
	case H2_HEADERS:
		return odd && h->len >= (uint32_t)((h->flags & H2_F_PADDED ? 1 : 0) +
						   (h->flags & H2_F_PRIORITY ? 5 : 0));
	case H2_PRIORITY:
		return odd && h->len == 5;
	case H2_RST_STREAM:
		return odd && h->len == 4;
	case H2_SETTINGS:
		return h->stream == 0 && h->len % 6 == 0 && !((h->flags & H2_F_ACK) && h->len);
	case H2_PUSH_PROMISE:
		return dir == TCP_S2C && odd && h->len >= (h->flags & H2_F_PADDED ? 5u : 4u);
	case H2_PING:
		return h->stream == 0 && h->len == 8;
	case H2_GOAWAY:
		return h->stream == 0 && h->len >= 8;
	case H2_WINDOW_UPDATE:
		return (h->stream == 0 || odd) && h->len == 4;
	case H2_CONTINUATION:
		return odd && !first;
	}
	return false;
}

/* Public wrapper of the plausibility check, for a lone (first) header. */
bool h2_frame_header_plausible(const uint8_t p[9], enum tcp_dir dir, uint32_t max_frame)
{
	struct h2_fhdr h;
	if (h2_fhdr_parse(p, H2_HDR_LEN, &h) < 0)
		return false;
	return h2_fhdr_plausible(&h, dir, max_frame > H2_MAX_FRAME_LEN ? H2_MAX_FRAME_LEN : max_frame,
				 true);
}

/* Sends a notice up. */
static void h2_notice(struct h2_conn *c, enum tcp_dir dir, enum h2_notice what, uint64_t n)
{
	if (c->cb.on_notice)
		c->cb.on_notice(c->ctx, dir, what, n, c->ts);
}

/* Grows *buf to hold at least need bytes (geometric, so a frame arriving in small pieces
 * is not reallocated per piece). Returns false on allocation failure. */
static bool h2_buf_reserve(uint8_t **buf, size_t *cap, size_t need, size_t limit)
{
	if (need <= *cap)
		return true;
	size_t ncap = *cap ? *cap * 2 : 1024;
	while (ncap < need)
		ncap *= 2;
	if (ncap > limit)
		ncap = need > limit ? need : limit;
	uint8_t *nb = realloc(*buf, ncap);
	if (!nb)
		return false;
	*buf = nb;
	*cap = ncap;
	return true;
}

/* Appends n bytes to the resync lookahead. */
static bool h2_rbuf_append(struct h2_dir *d, const uint8_t *p, size_t n)
{
	if (!n)
		return true;
	if (!h2_buf_reserve(&d->rbuf, &d->rcap, d->rlen + n, SIZE_MAX))
		return false;
	memcpy(d->rbuf + d->rlen, p, n);
	d->rlen += n;
	return true;
}

/* Replaces dir's HPACK decoder by a fresh partial one: after lost header bytes the exact
 * table is wrong (insertions of the lost block are unknown), and a failed decoder stays
 * failed. Entries inserted before the loss become "unknown" to the new decoder. */
static void h2_decoder_reset(struct h2_dir *d)
{
	struct hpack_decoder *nd = hpack_decoder_new(false);
	if (!nd)
		return; /* keep the old one; it fails visibly if it is wrong */
	hpack_decoder_free(d->hd);
	d->hd = nd;
	if (d->table_max_set)
		hpack_decoder_set_max_table(nd, d->table_max);
}

/* Drops a header block in progress. Returns true if one was. */
static bool h2_block_drop(struct h2_dir *d)
{
	bool was = d->blk.active;
	d->blk.active = false;
	d->blk.drop = false;
	d->blk.len = 0;
	return was;
}

/* Enters resync: whatever was buffered is gone, `pending` bytes (already seen, to be
 * rescanned) seed the lookahead. */
static void h2_resync_enter(struct h2_dir *d, const uint8_t *pending, size_t n)
{
	d->st = H2_ST_RESYNC;
	d->flen = 0;
	d->skip_left = 0;
	d->rlen = 0;
	if (!h2_rbuf_append(d, pending, n))
		d->skipped += n;
	if (h2_block_drop(d))
		h2_decoder_reset(d); /* the block's insertions are lost, in either mode */
}

/* A frame broke the protocol: report it and rescan from the byte after its start. */
static void h2_bad_frame(struct h2_conn *c, enum tcp_dir dir, const uint8_t *frame, size_t n)
{
	struct h2_dir *d = &c->d[dir];
	c->st.bad_frames++;
	h2_notice(c, dir, H2_N_BAD_FRAME, 0);
	/* copy out first: frame may point into fbuf, which h2_resync_enter reuses */
	uint8_t *tmp = NULL;
	if (n > 1) {
		tmp = malloc(n - 1);
		if (tmp)
			memcpy(tmp, frame + 1, n - 1);
	}
	d->skipped = 1 + (tmp ? 0 : (n ? n - 1 : 0));
	h2_resync_enter(d, tmp, tmp ? n - 1 : 0);
	free(tmp);
}

/* A field of the block being collected whose name and value point into hpack's replay
 * cache instead of farena: h2's own bit, above every HPACK_F_*, cleared before the
 * fields are handed up. */
#define H2_F_DIRECT 0x80000000u

/* hpack emit callback: keeps one field for the block. Its views die with emit, so it is
 * copied into the direction's arena, unless hpack is replaying a cached block: those views
 * stay valid until the decoder's next block (hpack_decoder_replaying), which comes after
 * on_headers has returned, and most header blocks of a connection are replays. The byte
 * limit counts both kinds, so a block is cut the same whether it is replayed or not. */
static void h2_field_collect(void *ctx, const struct hpack_field *f)
{
	struct h2_dir *d = ctx;
	size_t need = f->name_len + f->value_len;
	if (d->nfields >= H2_MAX_FIELDS || d->fbytes + need > H2_MAX_FIELD_BYTES) {
		d->fields_cut = true;
		return;
	}
	if (hpack_decoder_replaying(d->hd)) {
		struct hpack_field *o = &d->fields[d->nfields++];
		*o = *f;
		o->flags |= H2_F_DIRECT;
		d->fbytes += need;
		return;
	}
	if (!h2_buf_reserve(&d->farena, &d->facap, d->falen + need + 1, H2_MAX_FIELD_BYTES + 1)) {
		d->fields_cut = true;
		return;
	}
	d->fbytes += need;
	struct hpack_field *o = &d->fields[d->nfields++];
	*o = *f;
	/* store offsets now; the arena may move until the block is done */
	o->name = (const uint8_t *)(uintptr_t)d->falen;
	if (f->name_len)
		memcpy(d->farena + d->falen, f->name, f->name_len);
	d->falen += f->name_len;
	o->value = (const uint8_t *)(uintptr_t)d->falen;
	if (f->value_len)
		memcpy(d->farena + d->falen, f->value, f->value_len);
	d->falen += f->value_len;
}

/* Runs hpack over one complete block and hands the fields up (unless a PUSH_PROMISE, which
 * is decoded only to keep the dynamic table in step). A failing decoder is replaced by a
 * partial one that gets the same block, so its insertions are followed from here on. */
static void h2_block_decode(struct h2_conn *c, enum tcp_dir dir, uint32_t stream,
			    const uint8_t *blk, size_t len, bool end_stream, bool emit)
{
	struct h2_dir *d = &c->d[dir];
	d->nfields = 0;
	d->falen = 0;
	d->fbytes = 0;
	d->fields_cut = false;
	c->st.header_blocks++;
	int r = hpack_decode_block(d->hd, blk, len, h2_field_collect, d);
	if (r < 0) {
		c->st.hpack_errors++;
		h2_notice(c, dir, H2_N_HPACK_ERROR, 0);
		h2_decoder_reset(d);
		d->nfields = 0;
		d->falen = 0;
		d->fbytes = 0;
		d->fields_cut = false;
		r = hpack_decode_block(d->hd, blk, len, h2_field_collect, d);
		if (r < 0) {
			d->nfields = 0;
			h2_decoder_reset(d);
		}
	}
	if (d->fields_cut) {
		c->st.limit_skips++;
		h2_notice(c, dir, H2_N_LIMIT, 0);
	}
	for (size_t i = 0; i < d->nfields; i++) {
		struct hpack_field *f = &d->fields[i];
		if (f->flags & H2_F_DIRECT) {
			f->flags &= ~H2_F_DIRECT;
		} else {
			f->name = d->farena ? d->farena + (uintptr_t)f->name : (const uint8_t *)"";
			f->value = d->farena ? d->farena + (uintptr_t)f->value : (const uint8_t *)"";
		}
		if (f->flags & (HPACK_F_UNKNOWN_NAME | HPACK_F_UNKNOWN_VALUE))
			c->st.header_fields_unknown++;
	}
	if (!emit || !c->cb.on_headers)
		return;
	if (r < 0 && !end_stream)
		return; /* nothing to say: the headers are lost */
	c->cb.on_headers(c->ctx, stream, dir, d->fields, d->nfields, end_stream, c->ts);
}

/* Strips padding (RFC 9113 6.1): payload = [pad len 1] data [padding]. Returns false when
 * the pad length is not below the payload length. skip = fixed bytes after the pad length. */
static bool h2_unpad(const struct h2_fhdr *h, const uint8_t *pl, size_t skip, const uint8_t **out,
		     size_t *outn)
{
	struct rd r;
	rd_init(&r, pl, h->len);
	size_t pad = 0;
	if (h->flags & H2_F_PADDED)
		pad = rd_u8(&r);
	rd_skip(&r, skip);
	if (r.err || pad > rd_left(&r))
		return false;
	*out = r.p;
	*outn = rd_left(&r) - pad;
	return true;
}

/* Starts or finishes a header block with the fragment of a HEADERS or PUSH_PROMISE. */
static void h2_block_start(struct h2_conn *c, enum tcp_dir dir, const struct h2_fhdr *h,
			   const uint8_t *frag, size_t n, bool push)
{
	struct h2_dir *d = &c->d[dir];
	bool end_stream = !push && (h->flags & H2_F_END_STREAM);
	if (h->flags & H2_F_END_HEADERS) {
		/* the common case: the whole block in one frame, decoded from the view */
		if (n > HPACK_MAX_BLOCK) {
			c->st.limit_skips++;
			h2_notice(c, dir, H2_N_LIMIT, n);
			h2_decoder_reset(d);
			return;
		}
		h2_block_decode(c, dir, h->stream, frag, n, end_stream, !push);
		return;
	}
	struct h2_block *b = &d->blk;
	b->active = true;
	b->push = push;
	b->end_stream = end_stream;
	b->stream = h->stream;
	b->len = 0;
	b->drop = false;
	if (n > HPACK_MAX_BLOCK || !h2_buf_reserve(&b->buf, &b->cap, n, HPACK_MAX_BLOCK)) {
		b->drop = true;
		c->st.limit_skips++;
		h2_notice(c, dir, H2_N_LIMIT, n);
		return;
	}
	if (n)
		memcpy(b->buf, frag, n);
	b->len = n;
}

/* Appends a CONTINUATION fragment; decodes when END_HEADERS. */
static void h2_block_continue(struct h2_conn *c, enum tcp_dir dir, const struct h2_fhdr *h,
			      const uint8_t *frag, size_t n)
{
	struct h2_dir *d = &c->d[dir];
	struct h2_block *b = &d->blk;
	if (!b->drop) {
		if (b->len + n > HPACK_MAX_BLOCK ||
		    !h2_buf_reserve(&b->buf, &b->cap, b->len + n, HPACK_MAX_BLOCK)) {
			b->drop = true;
			c->st.limit_skips++;
			h2_notice(c, dir, H2_N_LIMIT, b->len + n);
		} else {
			if (n)
				memcpy(b->buf + b->len, frag, n);
			b->len += n;
		}
	}
	if (!(h->flags & H2_F_END_HEADERS))
		return;
	b->active = false;
	if (b->drop) {
		/* the block's table insertions are lost with it */
		h2_decoder_reset(d);
		b->drop = false;
	} else {
		h2_block_decode(c, dir, b->stream, b->buf, b->len, b->end_stream, !b->push);
	}
	b->len = 0;
	if (b->cap > H2_KEEP_BUFFER) {
		free(b->buf);
		b->buf = NULL;
		b->cap = 0;
	}
}

/* Ends an open header block whose CONTINUATION chain will not end: a HEADERS frame came
 * instead. RFC 9113 6.10 makes that a connection error for a peer, and a real peer never
 * sends it, so for a sniffer it means the chain's end was lost (or we were dropping an
 * over-long block and the peer moved on). The block's fields are lost (reported as an
 * HPACK error, the bytes held as the size) and with them its table insertions, so the
 * decoder goes on in partial mode; the block's END_STREAM still closes its stream. */
static void h2_block_cut(struct h2_conn *c, enum tcp_dir dir)
{
	struct h2_dir *d = &c->d[dir];
	struct h2_block *b = &d->blk;
	uint32_t stream = b->stream;
	bool end_stream = b->end_stream && !b->push;
	uint64_t held = b->len;
	h2_block_drop(d);
	h2_decoder_reset(d);
	c->st.header_blocks_cut++;
	h2_notice(c, dir, H2_N_HPACK_ERROR, held);
	if (end_stream && c->cb.on_headers)
		c->cb.on_headers(c->ctx, stream, dir, d->fields, 0, true, c->ts);
}

/* Applies a SETTINGS frame sent in dir (RFC 9113 6.5): payload = n x (id 16, value 32). */
static void h2_settings_apply(struct h2_conn *c, enum tcp_dir dir, const uint8_t *pl, size_t n)
{
	struct h2_dir *peer = &c->d[!dir];
	struct rd r;
	rd_init(&r, pl, n);
	while (rd_left(&r) >= 6) {
		uint16_t id = rd_be16(&r);
		uint32_t v = rd_be32(&r);
		if (id == 0x1) {
			/* the sender decodes with it: the other direction's blocks use this table */
			peer->table_max = v;
			peer->table_max_set = true;
			hpack_decoder_set_max_table(peer->hd, v);
		} else if (id == 0x5 && v >= H2_DEFAULT_MAX_FRAME && v <= H2_MAX_FRAME_LEN) {
			/* frames sent to the sender, i.e. in the other direction, may be this large */
			if (v > peer->max_frame)
				peer->max_frame = v;
		}
	}
}

/* Handles one complete frame (payload pl, h->len bytes). Returns false for a protocol
 * violation (caller resyncs). */
static bool h2_frame_handle(struct h2_conn *c, enum tcp_dir dir, const struct h2_fhdr *h,
			    const uint8_t *pl)
{
	struct h2_dir *d = &c->d[dir];
	const uint8_t *v;
	size_t vn;
	struct rd r;
	rd_init(&r, pl, h->len);
	if (d->blk.active && (h->type != H2_CONTINUATION || h->stream != d->blk.stream)) {
		/* RFC 9113 6.10: nothing may interleave a header block. A HEADERS frame means
		 * the peer moved on (h2_block_cut); anything else is a violation. */
		if (h->type != H2_HEADERS || !h->stream)
			return false;
		h2_block_cut(c, dir);
	}
	if (h->type > H2_CONTINUATION) {
		c->st.frames_unknown++;
		return true;
	}
	c->st.frames[h->type]++;
	switch (h->type) {
	case H2_DATA:
		if (!h->stream || !h2_unpad(h, pl, 0, &v, &vn))
			return false;
		if (c->cb.on_data)
			c->cb.on_data(c->ctx, h->stream, dir, v, vn, h->flags & H2_F_END_STREAM, c->ts);
		return true;
	case H2_HEADERS:
		if (!h->stream || !h2_unpad(h, pl, h->flags & H2_F_PRIORITY ? 5 : 0, &v, &vn))
			return false;
		h2_block_start(c, dir, h, v, vn, false);
		return true;
	case H2_PUSH_PROMISE:
		if (!h->stream || !h2_unpad(h, pl, 4, &v, &vn))
			return false;
		h2_block_start(c, dir, h, v, vn, true);
		return true;
	case H2_CONTINUATION:
		if (!d->blk.active)
			return false;
		h2_block_continue(c, dir, h, pl, h->len);
		return true;
	case H2_SETTINGS:
		if (h->stream || h->len % 6 || ((h->flags & H2_F_ACK) && h->len))
			return false;
		if (!(h->flags & H2_F_ACK))
			h2_settings_apply(c, dir, pl, h->len);
		return true;
	case H2_RST_STREAM: {
		uint32_t code = rd_be32(&r);
		if (!h->stream || h->len != 4 || r.err)
			return false;
		if (c->cb.on_rst_stream)
			c->cb.on_rst_stream(c->ctx, h->stream, dir, code, c->ts);
		return true;
	}
	case H2_GOAWAY: {
		uint32_t last = rd_be32(&r) & 0x7fffffffu;
		uint32_t code = rd_be32(&r);
		if (h->stream || r.err)
			return false;
		if (c->cb.on_goaway)
			c->cb.on_goaway(c->ctx, dir, last, code, r.p, rd_left(&r), c->ts);
		return true;
	}
	case H2_PING:
		return !h->stream && h->len == 8;
	case H2_PRIORITY:
		return h->stream && h->len == 5;
	case H2_WINDOW_UPDATE:
		return h->len == 4;
	}
	return true;
}

/* Handles a whole frame; on violation enters resync over its bytes (after the first). */
static void h2_frame_run(struct h2_conn *c, enum tcp_dir dir, const struct h2_fhdr *h,
			 const uint8_t *frame)
{
	if (!h2_frame_handle(c, dir, h, frame + H2_HDR_LEN))
		h2_bad_frame(c, dir, frame, H2_HDR_LEN + h->len);
}

/* Is a frame of this length too large to buffer? Then it is skipped (the caller skips its
 * bytes), counted. In sync state a length over SETTINGS_MAX_FRAME_SIZE is otherwise fine:
 * we are a passive observer, not the peer that would enforce it. */
static bool h2_frame_too_big(struct h2_conn *c, enum tcp_dir dir, const struct h2_fhdr *h)
{
	if ((uint64_t)H2_HDR_LEN + h->len <= H2_MAX_FRAME_BUFFER)
		return false;
	struct h2_dir *d = &c->d[dir];
	c->st.limit_skips++;
	h2_notice(c, dir, H2_N_LIMIT, h->len);
	if (h->type == H2_HEADERS || h->type == H2_CONTINUATION || h->type == H2_PUSH_PROMISE ||
	    d->blk.active) {
		h2_block_drop(d);
		h2_decoder_reset(d);
	}
	return true;
}

/* Consumes frames from p. Whole frames are handled in place; a cut frame is copied to fbuf
 * until complete. Returns bytes used; may switch the direction to resync. */
static size_t h2_frames_consume(struct h2_conn *c, enum tcp_dir dir, const uint8_t *p, size_t n)
{
	struct h2_dir *d = &c->d[dir];
	size_t used = 0;
	struct h2_fhdr h;
	while (used < n && d->st == H2_ST_FRAMES) {
		const uint8_t *q = p + used;
		size_t left = n - used;
		if (d->skip_left) {
			size_t k = left < d->skip_left ? left : (size_t)d->skip_left;
			d->skip_left -= k;
			used += k;
			continue;
		}
		if (d->flen == 0 && h2_fhdr_parse(q, left, &h) > 0 && left >= H2_HDR_LEN + h.len) {
			/* zero-copy path: the whole frame is here */
			used += H2_HDR_LEN + h.len;
			if (!h2_frame_too_big(c, dir, &h))
				h2_frame_run(c, dir, &h, q);
			continue;
		}
		/* cut frame: first complete the header, then the payload, in fbuf */
		if (d->flen < H2_HDR_LEN) {
			size_t k = H2_HDR_LEN - d->flen;
			if (k > left)
				k = left;
			if (!h2_buf_reserve(&d->fbuf, &d->fcap, H2_HDR_LEN, H2_MAX_FRAME_BUFFER))
				return n; /* out of memory: drop input; tcp-level loss is reported */
			memcpy(d->fbuf + d->flen, q, k);
			d->flen += k;
			used += k;
			if (d->flen < H2_HDR_LEN)
				break;
			h2_fhdr_parse(d->fbuf, d->flen, &h);
			if (h2_frame_too_big(c, dir, &h)) {
				d->flen = 0;
				d->skip_left = h.len;
			}
			continue;
		}
		h2_fhdr_parse(d->fbuf, d->flen, &h);
		size_t need = H2_HDR_LEN + h.len;
		size_t k = need - d->flen;
		if (k > left)
			k = left;
		if (!h2_buf_reserve(&d->fbuf, &d->fcap, d->flen + k, H2_MAX_FRAME_BUFFER)) {
			/* cannot buffer: skip the frame's rest, counted as a limit */
			c->st.limit_skips++;
			h2_notice(c, dir, H2_N_LIMIT, h.len);
			if (h.type == H2_HEADERS || h.type == H2_CONTINUATION ||
			    h.type == H2_PUSH_PROMISE || d->blk.active) {
				h2_block_drop(d);
				h2_decoder_reset(d);
			}
			d->skip_left = need - d->flen;
			d->flen = 0;
			continue;
		}
		memcpy(d->fbuf + d->flen, q, k);
		d->flen += k;
		used += k;
		if (d->flen < need)
			break;
		d->flen = 0;
		h2_frame_run(c, dir, &h, d->fbuf);
		if (d->fcap > H2_KEEP_BUFFER && d->st == H2_ST_FRAMES) {
			free(d->fbuf);
			d->fbuf = NULL;
			d->fcap = 0;
		}
	}
	return used;
}

enum { H2_CHAIN_REJECT, H2_CHAIN_ACCEPT, H2_CHAIN_MORE };

/* Decides whether a frame boundary is at p: H2_RESYNC_CHAIN plausible headers chaining
 * (each at the previous one's end), CONTINUATIONs only right after an open header block of
 * the same stream. The last frame may extend past n; MORE when bytes needed are missing. */
static int h2_chain_check(const uint8_t *p, size_t n, enum tcp_dir dir, uint32_t max_frame)
{
	size_t off = 0;
	bool expect_cont = false;
	uint32_t cont_stream = 0;
	for (int i = 0; i < H2_RESYNC_CHAIN; i++) {
		if (off + H2_HDR_LEN > H2_RESYNC_LOOKAHEAD)
			return H2_CHAIN_REJECT;
		struct h2_fhdr h;
		if (h2_fhdr_parse(p + off, n - off, &h) < 0)
			return H2_CHAIN_MORE;
		if (!h2_fhdr_plausible(&h, dir, max_frame, i == 0))
			return H2_CHAIN_REJECT;
		bool cont = h.type == H2_CONTINUATION;
		if (cont != expect_cont || (cont && h.stream != cont_stream))
			return H2_CHAIN_REJECT;
		if (h.type == H2_HEADERS || h.type == H2_PUSH_PROMISE || cont) {
			expect_cont = !(h.flags & H2_F_END_HEADERS);
			cont_stream = h.stream;
		} else {
			expect_cont = false;
		}
		off += H2_HDR_LEN + h.len;
		if (off > n && i + 1 < H2_RESYNC_CHAIN)
			return off + H2_HDR_LEN > H2_RESYNC_LOOKAHEAD ? H2_CHAIN_REJECT : H2_CHAIN_MORE;
	}
	return H2_CHAIN_ACCEPT;
}

/* Resync accepted: report the skipped bytes, resume framing. */
static void h2_resync_done(struct h2_conn *c, enum tcp_dir dir)
{
	struct h2_dir *d = &c->d[dir];
	c->st.resyncs++;
	c->st.resync_skipped_bytes += d->skipped;
	if (d->skipped)
		h2_decoder_reset(d); /* the skipped bytes may have held a header block */
	h2_notice(c, dir, H2_N_RESYNC, d->skipped);
	d->skipped = 0;
	d->st = H2_ST_FRAMES;
	d->flen = 0;
}

/* Finds the first offset of p where a chain is complete (returns it, *found = true).
 * *pending = the first offset still undecided for want of bytes (n if none): the lookahead
 * must keep bytes from there. A later complete chain wins over an earlier undecided one:
 * waiting on a false candidate whose claimed length reaches far ahead would stall a quiet
 * connection, and two overlapping valid chains (the only case where the choice depends on
 * how bytes were chunked) are vanishingly rare. */
static size_t h2_resync_scan(const uint8_t *p, size_t n, enum tcp_dir dir, uint32_t mf,
			     size_t *pending, bool *found)
{
	*pending = n;
	*found = false;
	for (size_t o = 0; o < n; o++) {
		int v = h2_chain_check(p + o, n - o, dir, mf);
		if (v == H2_CHAIN_ACCEPT) {
			*found = true;
			return o;
		}
		if (v == H2_CHAIN_MORE && *pending == n)
			*pending = o;
	}
	return n;
}

/* Scans for a frame boundary. With an empty lookahead, scans p in place; otherwise appends
 * p to the lookahead and scans that (on acceptance, the lookahead's rest is handed back for
 * replay). Returns bytes of p used. */
static size_t h2_resync_consume(struct h2_conn *c, enum tcp_dir dir, const uint8_t *p, size_t n)
{
	struct h2_dir *d = &c->d[dir];
	uint32_t mf = d->max_frame;
	size_t pending;
	bool found;
	if (d->rlen == 0) {
		size_t o = h2_resync_scan(p, n, dir, mf, &pending, &found);
		if (found) {
			d->skipped += o;
			h2_resync_done(c, dir);
			return o;
		}
		d->skipped += pending;
		if (!h2_rbuf_append(d, p + pending, n - pending))
			d->skipped += n - pending;
		return n;
	}
	if (!h2_rbuf_append(d, p, n)) {
		d->skipped += d->rlen + n;
		d->rlen = 0;
		return n;
	}
	size_t o = h2_resync_scan(d->rbuf, d->rlen, dir, mf, &pending, &found);
	if (found) {
		d->skipped += o;
		h2_resync_done(c, dir);
		d->replay = d->rbuf;
		d->replay_off = o;
		d->replay_len = d->rlen - o;
		d->rbuf = NULL;
		d->rlen = d->rcap = 0;
		return n;
	}
	d->skipped += pending;
	memmove(d->rbuf, d->rbuf + pending, d->rlen - pending);
	d->rlen -= pending;
	return n;
}

/* Matches the client preface; a mismatch is not fatal: the bytes seen are rescanned. */
static size_t h2_preface_consume(struct h2_conn *c, enum tcp_dir dir, const uint8_t *p, size_t n)
{
	struct h2_dir *d = &c->d[dir];
	size_t used = 0;
	while (used < n && d->preface_got < H2_PREFACE_LEN) {
		if (p[used] != h2_preface[d->preface_got]) {
			h2_resync_enter(d, h2_preface, d->preface_got);
			return used;
		}
		d->preface_got++;
		used++;
	}
	if (d->preface_got == H2_PREFACE_LEN) {
		d->st = H2_ST_FRAMES;
		if (d->preface_maybe) {
			/* The connection starts here after all (its SYN came late, or was not
			 * captured): the client's HPACK table starts empty, so decode exactly. */
			struct hpack_decoder *hd = hpack_decoder_new(true);
			if (hd) {
				hpack_decoder_free(d->hd);
				d->hd = hd;
			}
			d->preface_maybe = false;
		}
		h2_notice(c, dir, H2_N_PREFACE, 0);
	}
	return used;
}

/* Runs one direction's state machine over p, then over any lookahead handed back by a
 * resync (iteratively, so repeated resyncs cannot deepen the stack). */
static void h2_dir_run(struct h2_conn *c, enum tcp_dir dir, const uint8_t *p, size_t n)
{
	struct h2_dir *d = &c->d[dir];
	uint8_t *own = NULL;
	for (;;) {
		while (n > 0) {
			size_t used = 0;
			switch (d->st) {
			case H2_ST_PREFACE:
				used = h2_preface_consume(c, dir, p, n);
				break;
			case H2_ST_FRAMES:
				used = h2_frames_consume(c, dir, p, n);
				break;
			case H2_ST_RESYNC:
				used = h2_resync_consume(c, dir, p, n);
				break;
			}
			p += used;
			n -= used;
		}
		if (!d->replay)
			break;
		free(own);
		own = d->replay;
		p = own + d->replay_off;
		n = d->replay_len;
		d->replay = NULL;
	}
	free(own);
}

/* Creates a connection; see h2.h. */
struct h2_conn *h2_conn_new(const struct h2_callbacks *cb, void *ctx, bool from_start)
{
	struct h2_conn *c = calloc(1, sizeof *c);
	if (!c)
		return NULL;
	if (cb)
		c->cb = *cb;
	c->ctx = ctx;
	for (int i = 0; i < 2; i++) {
		struct h2_dir *d = &c->d[i];
		d->max_frame = H2_DEFAULT_MAX_FRAME;
		d->hd = hpack_decoder_new(from_start);
		if (!d->hd) {
			h2_conn_free(c);
			return NULL;
		}
		d->st = i == TCP_C2S ? H2_ST_PREFACE : from_start ? H2_ST_FRAMES : H2_ST_RESYNC;
		/* Joined mid-connection, the client side may still begin with the preface (a
		 * reordered SYN); anything else is rescanned for a frame boundary, losing nothing. */
		d->preface_maybe = !from_start && i == TCP_C2S;
	}
	return c;
}

/* Feeds in-order bytes of one direction. */
void h2_conn_feed(struct h2_conn *c, enum tcp_dir dir, const uint8_t *p, size_t n, ee_ts ts)
{
	if (!c || !p || (dir != TCP_C2S && dir != TCP_S2C))
		return;
	c->ts = ts;
	h2_dir_run(c, dir, p, n);
}

/* TCP lost bytes. When the loss is known to fall inside the frame being read, framing
 * survives (the frame is dropped); otherwise the direction resyncs. Either way the HPACK
 * decoder becomes partial unless the lost bytes were provably inside a non-header frame. */
void h2_conn_gap(struct h2_conn *c, enum tcp_dir dir, uint64_t missing, ee_ts ts)
{
	if (!c || (dir != TCP_C2S && dir != TCP_S2C))
		return;
	struct h2_dir *d = &c->d[dir];
	c->ts = ts;
	h2_notice(c, dir, H2_N_GAP, missing);
	if (d->st == H2_ST_FRAMES && missing) {
		if (d->skip_left && missing <= d->skip_left) {
			d->skip_left -= missing;
			return;
		}
		struct h2_fhdr h;
		if (d->flen >= H2_HDR_LEN && h2_fhdr_parse(d->fbuf, d->flen, &h) > 0 &&
		    d->flen + missing <= H2_HDR_LEN + (uint64_t)h.len) {
			d->skip_left = H2_HDR_LEN + (uint64_t)h.len - d->flen - missing;
			d->flen = 0;
			if (h.type == H2_HEADERS || h.type == H2_CONTINUATION ||
			    h.type == H2_PUSH_PROMISE || d->blk.active) {
				h2_block_drop(d);
				h2_decoder_reset(d);
			}
			return;
		}
	}
	d->skipped = 0;
	h2_resync_enter(d, NULL, 0);
	h2_decoder_reset(d);
}

/* Names a pre-capture HPACK entry of dir's decoder. */
int h2_conn_learn(struct h2_conn *c, enum tcp_dir dir, uint64_t unknown_id, const char *name,
		  const char *value)
{
	if (!c || (dir != TCP_C2S && dir != TCP_S2C))
		return EE_MALFORMED;
	return hpack_decoder_learn(c->d[dir].hd, unknown_id, name, value);
}

/* Adds counters. */
void h2_conn_add_stats(const struct h2_conn *c, struct h2_stats *st)
{
	if (!c || !st)
		return;
	for (int i = 0; i < 10; i++)
		st->frames[i] += c->st.frames[i];
	st->frames_unknown += c->st.frames_unknown;
	st->resyncs += c->st.resyncs;
	st->resync_skipped_bytes += c->st.resync_skipped_bytes;
	st->bad_frames += c->st.bad_frames;
	st->hpack_errors += c->st.hpack_errors;
	st->limit_skips += c->st.limit_skips;
	st->header_blocks += c->st.header_blocks;
	st->header_fields_unknown += c->st.header_fields_unknown;
	st->header_blocks_cut += c->st.header_blocks_cut;
}

/* Frees everything the connection owns. */
void h2_conn_free(struct h2_conn *c)
{
	if (!c)
		return;
	for (int i = 0; i < 2; i++) {
		struct h2_dir *d = &c->d[i];
		hpack_decoder_free(d->hd);
		free(d->fbuf);
		free(d->rbuf);
		free(d->replay);
		free(d->blk.buf);
		free(d->farena);
	}
	free(c);
}
