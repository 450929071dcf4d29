/* grpc.c: gRPC over HTTP/2 (doc/PROTOCOL-HTTP2.md of grpc), between h2/ (frames per stream)
 * and etcd/ (messages per RPC). Keeps the stream table of a connection, reads the request
 * and response headers it needs, and reassembles length-prefixed messages, decompressing
 * them with zlib. It also finds message starts again when bytes were lost before them. */
#include "grpc.h"

#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "rd.h"
#include "pool.h"

/* Message prefix: | flag 1 | length 4 (BE) |, see grpc.h. */
#define GRPC_PREFIX 5
/* Buckets of a connection's stream hash: GRPC_MAX_STREAMS_PER_CONN / 4 keeps chains short. */
#define GRPC_HASH_BUCKETS 1024
/* A DATA payload this large is "full-size" (grpc-go and C-core write 16 KiB frames, the
 * RFC 9113 default SETTINGS_MAX_FRAME_SIZE): a message starting there may continue after. */
#define GRPC_FULL_FRAME 16384u
/* grpc-status values are small codes (0..16); anything longer is garbage. */
#define GRPC_STATUS_DIGITS 6
/* Recently closed stream ids remembered, so frames still in flight after RST_STREAM or
 * GOAWAY (DATA the client had already sent) do not resurrect a phantom stream. */
#define GRPC_CLOSED_RING 256
/* Closed streams kept for reuse per connection: a unary RPC is a stream, so without them
 * every RPC would cost a calloc and a free. */
#define GRPC_STREAM_POOL 64
/* A reassembly buffer grown past this is released after its message, not kept. */
#define GRPC_KEEP_BUFFER (64u * 1024)
/* A response seen before its request (grpc_hold_wanted) waits for it at most this long
 * (capture time), with at most this many bytes per stream and per connection. */
#define GRPC_HOLD_US 1000000
#define GRPC_HOLD_STREAM_BYTES (1u << 20)
#define GRPC_HOLD_CONN_BYTES (4u << 20)

/* Reassembly state of one stream direction. */
struct grpc_sdir {
	uint8_t hdr[GRPC_PREFIX];
	size_t hlen;          /* prefix bytes gathered (prefix cut across frames) */
	bool in_msg, compressed;
	uint32_t mlen;        /* length of the message being gathered */
	uint8_t *buf;         /* its bytes, when cut across frames */
	size_t blen, bcap;
	uint64_t skip;        /* bytes of an oversize message still to skip */
	bool hunting;         /* bytes here may start mid-message: look for a start at a frame */
	uint32_t loss_epoch;  /* the connection's loss_epoch[dir] this state has caught up with */
	uint64_t hunt_skipped;/* bytes skipped while hunting; > 0 makes the next message resumed */
	bool resumed_next;
};

struct grpc_gstream {
	struct grpc_stream s;
	struct grpc_gstream *hnext;        /* hash chain */
	struct grpc_gstream *older, *newer;/* creation order, for eviction */
	struct grpc_sdir d[2];
	/* Response held until its request is seen (grpc_hold_wanted) */
	bool holding, hold_done;
	ee_ts hold_since;
	struct grpc_gstream *hold_prev, *hold_next; /* the connection's holding list */
	struct grpc_held *held, **held_tail;
	size_t held_bytes;
	bool trailers_held;
	ee_ts trailers_ts;
};

/* A response message waiting for its stream's request. */
struct grpc_held {
	struct grpc_held *next;
	ee_ts ts;
	bool resumed;
	size_t n;
	uint8_t p[];
};

struct grpc_conn {
	struct grpc_callbacks cb;
	struct h2_conn *h2;
	struct grpc_gstream *hash[GRPC_HASH_BUCKETS];
	struct grpc_gstream *oldest, *newest;
	size_t nstreams;
	struct grpc_stats st;   /* h2 part filled by add_stats */
	uint32_t closed[GRPC_CLOSED_RING]; /* recently closed ids (0 = empty slot) */
	size_t closed_next;
	uint32_t max_closed;    /* highest id ever put in closed[] */
	uint8_t *zbuf;          /* decompression output, reused */
	size_t zcap;
	struct grpc_gstream *pool; /* closed streams for reuse (linked by hnext) */
	size_t npool;
	uint32_t max_c2s_id;    /* highest stream id the client opened with HEADERS */
	size_t nholding;        /* streams holding a response */
	struct grpc_gstream *holding;  /* their list */
	/* Bumped when bytes are lost in a direction: every stream catches up lazily
	 * (grpc_sdir_sync) instead of a walk over all streams per loss. */
	uint32_t loss_epoch[2];
	size_t held_bytes;      /* their held messages */
};

static uint32_t grpc_max_message = GRPC_DEFAULT_MAX_MESSAGE;

/* Sets the reassembly limit for every connection (process-wide, like a command-line flag). */
void grpc_set_max_message(uint32_t bytes)
{
	grpc_max_message = bytes ? bytes : GRPC_DEFAULT_MAX_MESSAGE;
}

/* Finds a stream by id. */
static struct grpc_gstream *grpc_stream_find(struct grpc_conn *g, uint32_t id)
{
	struct grpc_gstream *gs = g->hash[id % GRPC_HASH_BUCKETS];
	while (gs && gs->s.id != id)
		gs = gs->hnext;
	return gs;
}

/* Discards a direction's partial message; reports it when bytes were pending. */
static void grpc_sdir_drop(struct grpc_conn *g, struct grpc_gstream *gs, enum tcp_dir dir,
			   const char *why, ee_ts ts)
{
	struct grpc_sdir *sd = &gs->d[dir];
	bool had = sd->in_msg || sd->hlen || sd->skip;
	sd->in_msg = false;
	sd->hlen = 0;
	sd->blen = 0;
	sd->skip = 0;
	if (had && why && g->cb.on_loss)
		g->cb.on_loss(g->cb.ctx, &gs->s, dir, why, ts);
}

/* Catches a stream direction up with losses in the connection since it last looked: its
 * partial message is discarded (and reported), and the next bytes may start mid-message. */
static void grpc_sdir_sync(struct grpc_conn *g, struct grpc_gstream *gs, enum tcp_dir dir,
			   ee_ts ts)
{
	struct grpc_sdir *sd = &gs->d[dir];
	if (sd->loss_epoch == g->loss_epoch[dir])
		return;
	sd->loss_epoch = g->loss_epoch[dir];
	grpc_sdir_drop(g, gs, dir, "bytes lost in the connection", ts);
	sd->hunting = true;
}

/* Hands up a held response (messages, then trailers) with their own timestamps; the
 * stream never holds again. */
static void grpc_release(struct grpc_conn *g, struct grpc_gstream *gs)
{
	if (!gs->holding)
		return;
	gs->holding = false;
	gs->hold_done = true;
	g->nholding--;
	if (gs->hold_prev)
		gs->hold_prev->hold_next = gs->hold_next;
	else
		g->holding = gs->hold_next;
	if (gs->hold_next)
		gs->hold_next->hold_prev = gs->hold_prev;
	gs->hold_prev = gs->hold_next = NULL;
	while (gs->held) {
		struct grpc_held *h = gs->held;
		gs->held = h->next;
		gs->held_bytes -= h->n;
		g->held_bytes -= h->n;
		gs->s.msgs[TCP_S2C]++;
		if (g->cb.on_message)
			g->cb.on_message(g->cb.ctx, &gs->s, TCP_S2C, h->p, h->n, h->resumed, h->ts);
		pool_free(h);
	}
	gs->held_tail = &gs->held;
	if (gs->trailers_held) {
		gs->trailers_held = false;
		if (g->cb.on_trailers)
			g->cb.on_trailers(g->cb.ctx, &gs->s, gs->trailers_ts);
	}
}

/* Last call for a stream: tells the next stage, unlinks and frees it. */
static void grpc_stream_close(struct grpc_conn *g, struct grpc_gstream *gs, ee_ts ts)
{
	for (int dir = 0; dir < 2; dir++) {
		grpc_sdir_sync(g, gs, dir, ts);
		grpc_sdir_drop(g, gs, dir, "stream closed mid-message", ts);
	}
	grpc_release(g, gs);
	if (g->cb.on_stream_close)
		g->cb.on_stream_close(g->cb.ctx, &gs->s, ts);
	g->closed[g->closed_next++ % GRPC_CLOSED_RING] = gs->s.id;
	if (gs->s.id > g->max_closed)
		g->max_closed = gs->s.id;
	struct grpc_gstream **pp = &g->hash[gs->s.id % GRPC_HASH_BUCKETS];
	while (*pp && *pp != gs)
		pp = &(*pp)->hnext;
	if (*pp)
		*pp = gs->hnext;
	if (gs->older)
		gs->older->newer = gs->newer;
	else
		g->oldest = gs->newer;
	if (gs->newer)
		gs->newer->older = gs->older;
	else
		g->newest = gs->older;
	g->nstreams--;
	pool_free(gs->d[0].buf);
	pool_free(gs->d[1].buf);
	if (g->npool < GRPC_STREAM_POOL) {
		gs->hnext = g->pool;
		g->pool = gs;
		g->npool++;
	} else {
		free(gs);
	}
}

/* Creates a stream (evicting the oldest when the table is full). The caller calls
 * on_stream_open once it has read what it knows. */
static struct grpc_gstream *grpc_stream_new(struct grpc_conn *g, uint32_t id, ee_ts ts)
{
	if (g->nstreams >= GRPC_MAX_STREAMS_PER_CONN && g->oldest)
		grpc_stream_close(g, g->oldest, ts);
	struct grpc_gstream *gs = g->pool;
	if (gs) {
		g->pool = gs->hnext;
		g->npool--;
		memset(gs, 0, sizeof *gs);
	} else {
		gs = calloc(1, sizeof *gs);
		if (!gs)
			return NULL;
	}
	gs->s.id = id;
	gs->s.status = -1;
	gs->d[TCP_C2S].loss_epoch = g->loss_epoch[TCP_C2S];
	gs->d[TCP_S2C].loss_epoch = g->loss_epoch[TCP_S2C];
	struct grpc_gstream **b = &g->hash[id % GRPC_HASH_BUCKETS];
	gs->hnext = *b;
	*b = gs;
	gs->older = g->newest;
	if (g->newest)
		g->newest->newer = gs;
	else
		g->oldest = gs;
	g->newest = gs;
	g->nstreams++;
	g->st.streams++;
	return gs;
}

/* Copies a header value into a fixed C string field (truncating). */
static void grpc_copy_str(char *dst, size_t cap, const uint8_t *p, size_t n)
{
	if (n >= cap)
		n = cap - 1;
	if (n)
		memcpy(dst, p, n);
	dst[n] = '\0';
}

/* Compares a field name with a C string. */
static bool grpc_name_is(const struct hpack_field *f, const char *name)
{
	size_t n = strlen(name);
	return !(f->flags & HPACK_F_UNKNOWN_NAME) && f->name_len == n && memcmp(f->name, name, n) == 0;
}

/* grpc-encoding value -> enum. */
static enum grpc_compression grpc_enc_parse(const uint8_t *p, size_t n)
{
	if (n == 4 && memcmp(p, "gzip", 4) == 0)
		return GRPC_ENC_GZIP;
	if (n == 7 && memcmp(p, "deflate", 7) == 0)
		return GRPC_ENC_DEFLATE;
	if (n == 8 && memcmp(p, "identity", 8) == 0)
		return GRPC_ENC_IDENTITY;
	return GRPC_ENC_OTHER;
}

/* Value of a hex digit, or -1. */
static int grpc_hex(uint8_t c)
{
	if (c >= '0' && c <= '9')
		return c - '0';
	if (c >= 'a' && c <= 'f')
		return c - 'a' + 10;
	if (c >= 'A' && c <= 'F')
		return c - 'A' + 10;
	return -1;
}

/* grpc-message is percent-encoded (PROTOCOL-HTTP2.md); a '%' not followed by two hex
 * digits is kept literally, as the spec asks of decoders. Output truncated to cap-1. */
static void grpc_percent_decode(char *dst, size_t cap, const uint8_t *p, size_t n)
{
	size_t o = 0;
	for (size_t i = 0; i < n && o + 1 < cap; i++) {
		int hi, lo;
		if (p[i] == '%' && i + 2 < n && (hi = grpc_hex(p[i + 1])) >= 0 &&
		    (lo = grpc_hex(p[i + 2])) >= 0) {
			dst[o++] = (char)(hi << 4 | lo);
			i += 2;
		} else {
			dst[o++] = (char)p[i];
		}
	}
	dst[o] = '\0';
}

/* grpc-status: a small decimal; unparsable -> 2 (UNKNOWN), as grpc clients do. */
static int grpc_status_parse(const uint8_t *p, size_t n)
{
	if (n == 0 || n > GRPC_STATUS_DIGITS)
		return 2;
	int v = 0;
	for (size_t i = 0; i < n; i++) {
		if (p[i] < '0' || p[i] > '9')
			return 2;
		v = v * 10 + (p[i] - '0');
	}
	return v;
}

/* Reads the request headers: :path (or its unknown HPACK reference), user-agent,
 * grpc-encoding. */
static void grpc_request_read(struct grpc_gstream *gs, const struct hpack_field *f, size_t n)
{
	bool have_path = false;
	for (size_t i = 0; i < n; i++) {
		if (grpc_name_is(&f[i], ":path")) {
			if (f[i].flags & HPACK_F_UNKNOWN_VALUE) {
				gs->s.path_unknown = true;
				gs->s.path_unknown_id = f[i].unknown_id;
				gs->s.path[0] = '\0';
			} else {
				grpc_copy_str(gs->s.path, sizeof gs->s.path, f[i].value, f[i].value_len);
				gs->s.path_unknown = false;
			}
			have_path = true;
		} else if (grpc_name_is(&f[i], "user-agent") && !(f[i].flags & HPACK_F_UNKNOWN_VALUE)) {
			grpc_copy_str(gs->s.user_agent, sizeof gs->s.user_agent, f[i].value,
				      f[i].value_len);
		} else if (grpc_name_is(&f[i], "grpc-encoding") &&
			   !(f[i].flags & HPACK_F_UNKNOWN_VALUE)) {
			gs->s.enc[TCP_C2S] = grpc_enc_parse(f[i].value, f[i].value_len);
		}
	}
	if (have_path)
		return;
	/* An entry unknown in both name and value: clients write :method and :scheme from the
	 * static table, then :path, so the first such reference is most likely :path. */
	for (size_t i = 0; i < n; i++) {
		if ((f[i].flags & HPACK_F_UNKNOWN_NAME) && (f[i].flags & HPACK_F_UNKNOWN_VALUE)) {
			gs->s.path_unknown = true;
			gs->s.path_unknown_id = f[i].unknown_id;
			return;
		}
	}
}

/* Ends one direction of a stream; closes the stream when both are done. */
static void grpc_stream_end(struct grpc_conn *g, struct grpc_gstream *gs, enum tcp_dir dir,
			    ee_ts ts)
{
	grpc_sdir_sync(g, gs, dir, ts);
	grpc_sdir_drop(g, gs, dir, "stream ended mid-message", ts);
	gs->s.ended[dir] = true;
	if (dir == TCP_C2S)
		grpc_release(g, gs);
	if (gs->s.ended[TCP_C2S] && gs->s.ended[TCP_S2C])
		grpc_stream_close(g, gs, ts);
}

/* Was this stream closed recently? (Only asked when the id is not in the table.) */
static bool grpc_stream_was_closed(const struct grpc_conn *g, uint32_t id)
{
	/* A client opens streams in increasing id order, so a new stream's id is above every
	 * closed one: skip the ring walk for each request's HEADERS. */
	if (id > g->max_closed)
		return false;
	for (size_t i = 0; i < GRPC_CLOSED_RING; i++)
		if (g->closed[i] == id)
			return true;
	return false;
}

/* Opens a stream not announced by request HEADERS (joined mid-stream): its bytes in
 * directions without HEADERS may start mid-message. */
static struct grpc_gstream *grpc_stream_adopt(struct grpc_conn *g, uint32_t id, ee_ts ts)
{
	struct grpc_gstream *gs = grpc_stream_new(g, id, ts);
	if (!gs)
		return NULL;
	gs->d[TCP_C2S].hunting = true;
	gs->d[TCP_S2C].hunting = true;
	if (g->cb.on_stream_open)
		g->cb.on_stream_open(g->cb.ctx, &gs->s, ts);
	return gs;
}

/* Should this stream's response wait for its request? A client sends its request
 * (HEADERS, then a message) before any server answers, so a response seen first means the
 * capture reordered packets across directions (capturing on several CPUs, or damage), or
 * the request went by just before the capture began. The request may still come while the
 * client has neither sent a message nor ended its side, and, when its HEADERS are unseen,
 * has not opened a later stream (clients open streams in increasing id order). A stream
 * the response joined without HEADERS (its start was before the capture) never waits. */
static bool grpc_hold_wanted(const struct grpc_conn *g, const struct grpc_gstream *gs)
{
	if (gs->hold_done || gs->s.ended[TCP_C2S] || gs->s.msgs[TCP_C2S] || gs->s.reset)
		return false;
	if (gs->s.headers_seen[TCP_C2S])
		return true;
	return gs->s.headers_seen[TCP_S2C] && gs->s.id > g->max_c2s_id;
}

/* Starts holding the response when it should wait; true when it is held. */
static bool grpc_hold(struct grpc_conn *g, struct grpc_gstream *gs, ee_ts ts)
{
	if (gs->holding)
		return true;
	if (!grpc_hold_wanted(g, gs))
		return false;
	gs->holding = true;
	gs->hold_since = ts;
	gs->held_tail = &gs->held;
	g->nholding++;
	gs->hold_prev = NULL;
	gs->hold_next = g->holding;
	if (g->holding)
		g->holding->hold_prev = gs;
	g->holding = gs;
	return true;
}

/* Releases the responses whose request can no longer come: a later stream was opened
 * (new_id, for streams whose request HEADERS are unseen), or GRPC_HOLD_US went by. */
static void grpc_release_stale(struct grpc_conn *g, uint32_t new_id, ee_ts ts)
{
	struct grpc_gstream *gs = g->holding, *next;
	for (; gs; gs = next) {
		next = gs->hold_next;
		if ((new_id > gs->s.id && !gs->s.headers_seen[TCP_C2S]) ||
		    ts - gs->hold_since > GRPC_HOLD_US)
			grpc_release(g, gs);
	}
}

/* A field standing for "grpc-status: 0" once grpc_status_infer decided so. */
static const struct hpack_field grpc_status_ok = {
	.name = (const uint8_t *)"grpc-status", .name_len = 11, .value = (const uint8_t *)"0",
	.value_len = 1,
};

/* Trailers whose fields are HPACK entries from before the capture (or ones lost in a gap):
 * a response that carried a message ended with "grpc-status: 0", which grpc-go (etcd's
 * server) writes first, followed by "grpc-message: " (empty); an error is a Trailers-Only
 * response, or carries a non-empty message (a new entry, or a literal, not both unknown).
 * So one or two fields, all unknown, after a response message are taken as those two, and
 * their entries named so that later trailers using them decode exactly, as a stream's
 * :path is (grpc_conn_learn_path). */
static bool grpc_status_infer(struct grpc_conn *g, struct grpc_gstream *gs,
			      const struct hpack_field *f, size_t n)
{
	if ((!gs->s.msgs[TCP_S2C] && !gs->held) || n == 0 || n > 2)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!(f[i].flags & HPACK_F_UNKNOWN_NAME) || !(f[i].flags & HPACK_F_UNKNOWN_VALUE))
			return false;
	gs->s.status = 0;
	gs->s.status_inferred = true;
	g->st.status_inferred++;
	(void)h2_conn_learn(g->h2, TCP_S2C, f[0].unknown_id, "grpc-status", "0");
	if (n == 2 && f[1].unknown_id != f[0].unknown_id)
		(void)h2_conn_learn(g->h2, TCP_S2C, f[1].unknown_id, "grpc-message", "");
	return true;
}

/* h2 callback: a header block. */
static void grpc_on_headers(void *ctx, uint32_t stream, enum tcp_dir dir,
			    const struct hpack_field *f, size_t n, bool end_stream, ee_ts ts)
{
	struct grpc_conn *g = ctx;
	struct grpc_gstream *gs = grpc_stream_find(g, stream);
	if (!gs && grpc_stream_was_closed(g, stream))
		return; /* late frame of a finished stream (ids are never reused) */
	if (dir == TCP_C2S) {
		if (stream > g->max_c2s_id) {
			g->max_c2s_id = stream;
			if (g->nholding)
				grpc_release_stale(g, stream, ts);
		}
		if (!gs) {
			gs = grpc_stream_new(g, stream, ts);
			if (!gs)
				return;
			grpc_request_read(gs, f, n);
			gs->s.headers_seen[TCP_C2S] = true;
			if (g->cb.on_stream_open)
				g->cb.on_stream_open(g->cb.ctx, &gs->s, ts);
		} else if (!gs->s.headers_seen[TCP_C2S]) {
			/* The response came first (reordered capture): the path arrives late. */
			grpc_request_read(gs, f, n);
			gs->s.headers_seen[TCP_C2S] = true;
			if (g->cb.on_stream_open)
				g->cb.on_stream_open(g->cb.ctx, &gs->s, ts);
		}
	} else {
		if (!gs) {
			gs = grpc_stream_adopt(g, stream, ts);
			if (!gs)
				return;
			grpc_sdir_sync(g, gs, TCP_S2C, ts);
			gs->d[TCP_S2C].hunting = false; /* response starts here */
		}
		const struct hpack_field *status = NULL, *msg = NULL;
		for (size_t i = 0; i < n; i++) {
			if (grpc_name_is(&f[i], "grpc-status") && !(f[i].flags & HPACK_F_UNKNOWN_VALUE))
				status = &f[i];
			else if (grpc_name_is(&f[i], "grpc-message") &&
				 !(f[i].flags & HPACK_F_UNKNOWN_VALUE))
				msg = &f[i];
			else if (!gs->s.headers_seen[TCP_S2C] && grpc_name_is(&f[i], "grpc-encoding") &&
				 !(f[i].flags & HPACK_F_UNKNOWN_VALUE))
				gs->s.enc[TCP_S2C] = grpc_enc_parse(f[i].value, f[i].value_len);
		}
		gs->s.headers_seen[TCP_S2C] = true;
		if (!status && end_stream && grpc_status_infer(g, gs, f, n))
			status = &grpc_status_ok;
		if (status) {
			if (status != &grpc_status_ok)
				gs->s.status = grpc_status_parse(status->value, status->value_len);
			if (msg)
				grpc_percent_decode(gs->s.message, sizeof gs->s.message, msg->value,
						    msg->value_len);
			if (gs->trailers_held) {
				/* repeated trailers: keep the first */
			} else if (grpc_hold(g, gs, ts)) {
				gs->trailers_held = true;
				gs->trailers_ts = ts;
			} else if (g->cb.on_trailers) {
				g->cb.on_trailers(g->cb.ctx, &gs->s, ts);
			}
		}
	}
	if (end_stream)
		grpc_stream_end(g, gs, dir, ts);
}

/* Guesses the compression of a message on a stream whose headers were not seen, from the
 * gzip magic or a zlib header (RFC 1952 / RFC 1950). */
static enum grpc_compression grpc_enc_sniff(const uint8_t *p, size_t n)
{
	if (n >= 2 && p[0] == 0x1f && p[1] == 0x8b)
		return GRPC_ENC_GZIP;
	if (n >= 2 && (p[0] & 0x0f) == 8 && ((p[0] << 8) | p[1]) % 31 == 0)
		return GRPC_ENC_DEFLATE;
	return GRPC_ENC_IDENTITY;
}

/* Inflates p into g->zbuf, at most grpc_max_message bytes. Returns the length, or
 * EE_LIMIT (a bomb: output would pass the limit) / EE_MALFORMED. */
static long grpc_inflate(struct grpc_conn *g, enum grpc_compression enc, const uint8_t *p,
			 size_t n)
{
	z_stream z;
	memset(&z, 0, sizeof z);
	if (inflateInit2(&z, enc == GRPC_ENC_GZIP ? 16 + MAX_WBITS : MAX_WBITS) != Z_OK)
		return EE_NOMEM;
	z.next_in = (Bytef *)(uintptr_t)p;
	z.avail_in = (uInt)n;
	size_t out = 0;
	long ret = EE_MALFORMED;
	for (;;) {
		if (out == g->zcap) {
			if (g->zcap >= grpc_max_message) {
				ret = EE_LIMIT;
				break;
			}
			size_t ncap = g->zcap ? g->zcap * 2 : 4096;
			if (ncap > grpc_max_message)
				ncap = grpc_max_message;
			uint8_t *nb = realloc(g->zbuf, ncap);
			if (!nb) {
				ret = EE_NOMEM;
				break;
			}
			g->zbuf = nb;
			g->zcap = ncap;
		}
		z.next_out = g->zbuf + out;
		z.avail_out = (uInt)(g->zcap - out);
		int r = inflate(&z, Z_NO_FLUSH);
		out = g->zcap - z.avail_out;
		if (r == Z_STREAM_END) {
			ret = (long)out;
			break;
		}
		if (r != Z_OK && !(r == Z_BUF_ERROR && z.avail_out == 0))
			break; /* corrupt, or input ended before the stream did */
		if (z.avail_in == 0 && z.avail_out != 0)
			break;
	}
	inflateEnd(&z);
	if (g->zcap > GRPC_KEEP_BUFFER && ret < 0) {
		free(g->zbuf);
		g->zbuf = NULL;
		g->zcap = 0;
	}
	return ret;
}

/* Hands one complete message up, decompressing it first if flagged. */
static void grpc_deliver(struct grpc_conn *g, struct grpc_gstream *gs, enum tcp_dir dir,
			 const uint8_t *p, size_t n, bool compressed, ee_ts ts)
{
	struct grpc_sdir *sd = &gs->d[dir];
	bool resumed = sd->resumed_next;
	sd->resumed_next = false;
	if (compressed) {
		enum grpc_compression enc = gs->s.enc[dir];
		if (enc == GRPC_ENC_IDENTITY && !gs->s.headers_seen[dir])
			enc = grpc_enc_sniff(p, n);
		long r = EE_UNSUPPORTED;
		if (enc == GRPC_ENC_GZIP || enc == GRPC_ENC_DEFLATE)
			r = grpc_inflate(g, enc, p, n);
		if (r < 0) {
			g->st.decompress_errors++;
			if (g->cb.on_loss)
				g->cb.on_loss(g->cb.ctx, &gs->s, dir,
					      r == EE_LIMIT ? "decompressed message over the limit"
					      : r == EE_UNSUPPORTED ? "compressed without a known grpc-encoding"
								    : "bad compressed message",
					      ts);
			return;
		}
		g->st.compressed++;
		p = g->zbuf;
		n = (size_t)r;
	}
	g->st.messages++;
	g->st.bytes += n;
	if (resumed)
		g->st.resumed++;
	if (dir == TCP_S2C && grpc_hold(g, gs, ts)) {
		struct grpc_held *h = NULL;
		if (gs->held_bytes + n <= GRPC_HOLD_STREAM_BYTES &&
		    g->held_bytes + n <= GRPC_HOLD_CONN_BYTES)
			h = pool_alloc(sizeof *h + n);
		if (h) {
			h->next = NULL;
			h->ts = ts;
			h->resumed = resumed;
			h->n = n;
			if (n)
				memcpy(h->p, p, n); /* n: a message this stage reassembled */
			*gs->held_tail = h;
			gs->held_tail = &h->next;
			gs->held_bytes += n;
			g->held_bytes += n;
			return;
		}
		grpc_release(g, gs); /* too much to hold: deliver in order, stop waiting */
	}
	gs->s.msgs[dir]++;
	if (g->cb.on_message)
		g->cb.on_message(g->cb.ctx, &gs->s, dir, p ? p : (const uint8_t *)"", n, resumed, ts);
	if (dir == TCP_C2S)
		grpc_release(g, gs); /* the request the response waited for */
}

/* Could a message start at the beginning of this DATA payload? Used when the stream's bytes
 * may begin mid-message: a valid flag, a length within the limit that fits this frame or a
 * frame full enough to be continued. */
static bool grpc_start_plausible(const uint8_t *p, size_t n)
{
	struct rd r;
	rd_init(&r, p, n);
	uint8_t flag = rd_u8(&r);
	uint32_t len = rd_be32(&r);
	if (r.err || flag > 1 || len > grpc_max_message)
		return false;
	return len <= rd_left(&r) || n >= GRPC_FULL_FRAME;
}

/* Consumes one DATA payload of a stream direction: prefixes and bodies, several messages
 * per payload or one across many. Whole messages inside p are delivered in place. */
static void grpc_data_consume(struct grpc_conn *g, struct grpc_gstream *gs, enum tcp_dir dir,
			      const uint8_t *p, size_t n, ee_ts ts)
{
	struct grpc_sdir *sd = &gs->d[dir];
	static const uint8_t none[1];
	if (!p)
		p = none; /* an empty DATA frame: no pointer arithmetic on NULL (UBSan) */
	grpc_sdir_sync(g, gs, dir, ts);
	if (sd->hunting) {
		if (!grpc_start_plausible(p, n)) {
			sd->hunt_skipped += n;
			g->st.skipped_bytes += n;
			return;
		}
		sd->hunting = false;
		sd->resumed_next = sd->hunt_skipped > 0;
		sd->hunt_skipped = 0;
	}
	size_t off = 0;
	while (off < n) {
		size_t left = n - off;
		if (sd->skip) {
			size_t k = left < sd->skip ? left : (size_t)sd->skip;
			sd->skip -= k;
			off += k;
			continue;
		}
		if (!sd->in_msg) {
			size_t k = GRPC_PREFIX - sd->hlen;
			if (k > left)
				k = left;
			memcpy(sd->hdr + sd->hlen, p + off, k);
			sd->hlen += k;
			off += k;
			if (sd->hlen < GRPC_PREFIX)
				break;
			sd->hlen = 0;
			struct rd r;
			rd_init(&r, sd->hdr, GRPC_PREFIX);
			uint8_t flag = rd_u8(&r);
			uint32_t len = rd_be32(&r);
			if (flag > 1) {
				/* not a message start: we lost track; find one at a later frame */
				if (g->cb.on_loss)
					g->cb.on_loss(g->cb.ctx, &gs->s, dir, "bad message flag", ts);
				sd->hunting = true;
				sd->hunt_skipped = GRPC_PREFIX + (n - off);
				g->st.skipped_bytes += GRPC_PREFIX + (n - off);
				return;
			}
			if (len > grpc_max_message) {
				g->st.oversize++;
				if (g->cb.on_loss)
					g->cb.on_loss(g->cb.ctx, &gs->s, dir, "message over the size limit", ts);
				sd->skip = len;
				continue;
			}
			sd->in_msg = true;
			sd->compressed = flag == 1;
			sd->mlen = len;
			sd->blen = 0;
		}
		left = n - off;
		if (sd->blen == 0 && left >= sd->mlen) {
			/* zero-copy: the whole body is in this payload */
			sd->in_msg = false;
			off += sd->mlen;
			grpc_deliver(g, gs, dir, p + off - sd->mlen, sd->mlen, sd->compressed, ts);
			continue;
		}
		size_t k = sd->mlen - sd->blen;
		if (k > left)
			k = left;
		if (sd->bcap < sd->blen + k) {
			size_t ncap = sd->bcap ? sd->bcap * 2 : 4096;
			while (ncap < sd->blen + k)
				ncap *= 2;
			if (ncap > sd->mlen)
				ncap = sd->mlen;
			uint8_t *nb = pool_realloc(sd->buf, ncap);
			if (!nb) {
				/* cannot hold it: skip the rest of this message */
				sd->skip = sd->mlen - sd->blen;
				sd->in_msg = false;
				sd->blen = 0;
				if (g->cb.on_loss)
					g->cb.on_loss(g->cb.ctx, &gs->s, dir, "out of memory", ts);
				continue;
			}
			sd->buf = nb;
			sd->bcap = ncap;
		}
		if (k) /* an empty message leaves buf NULL: no memcpy on it (UBSan) */
			memcpy(sd->buf + sd->blen, p + off, k);
		sd->blen += k;
		off += k;
		if (sd->blen == sd->mlen) {
			sd->in_msg = false;
			sd->blen = 0;
			grpc_deliver(g, gs, dir, sd->buf, sd->mlen, sd->compressed, ts);
			if (sd->bcap > GRPC_KEEP_BUFFER) {
				pool_free(sd->buf);
				sd->buf = NULL;
				sd->bcap = 0;
			}
		}
	}
}

/* h2 callback: a DATA payload (padding stripped). */
static void grpc_on_data(void *ctx, uint32_t stream, enum tcp_dir dir, const uint8_t *p, size_t n,
			 bool end_stream, ee_ts ts)
{
	struct grpc_conn *g = ctx;
	struct grpc_gstream *gs = grpc_stream_find(g, stream);
	if (!gs && grpc_stream_was_closed(g, stream))
		return; /* late DATA of a finished stream */
	if (!gs) {
		gs = grpc_stream_adopt(g, stream, ts);
		if (!gs)
			return;
	}
	if (n)
		grpc_data_consume(g, gs, dir, p, n, ts);
	if (end_stream)
		grpc_stream_end(g, gs, dir, ts);
}

/* h2 callback: RST_STREAM closes the stream at once. */
static void grpc_on_rst_stream(void *ctx, uint32_t stream, enum tcp_dir dir, uint32_t code,
			       ee_ts ts)
{
	struct grpc_conn *g = ctx;
	struct grpc_gstream *gs = grpc_stream_find(g, stream);
	if (!gs)
		return;
	gs->s.reset = true;
	grpc_stream_close(g, gs, ts);
}

/* h2 callback: GOAWAY from the server closes the client streams it will not process
 * (ids > last_stream). A client's GOAWAY names server-initiated (even) streams, which
 * gRPC does not use, so it closes nothing. */
static void grpc_on_goaway(void *ctx, enum tcp_dir dir, uint32_t last_stream, uint32_t code,
			   const uint8_t *debug, size_t n, ee_ts ts)
{
	struct grpc_conn *g = ctx;
	if (dir != TCP_S2C)
		return;
	struct grpc_gstream *gs = g->oldest;
	while (gs) {
		struct grpc_gstream *next = gs->newer;
		if (gs->s.id > last_stream)
			grpc_stream_close(g, gs, ts);
		gs = next;
	}
}

/* h2 callback: bytes were lost or skipped in dir: partial messages there are discarded and
 * every stream of that direction looks for a message start again. */
static void grpc_on_notice(void *ctx, enum tcp_dir dir, enum h2_notice what, uint64_t skipped,
			   ee_ts ts)
{
	struct grpc_conn *g = ctx;
	static const char *const names[] = {
		[H2_N_RESYNC] = "resync", [H2_N_BAD_FRAME] = "bad-frame",
		[H2_N_HPACK_ERROR] = "hpack-error", [H2_N_LIMIT] = "limit",
	};
	/* A resync that skipped nothing (a mid-connection join landing on a frame start) is
	 * not a loss. */
	bool lossless = what == H2_N_RESYNC && skipped == 0;
	if ((unsigned)what < sizeof names / sizeof names[0] && names[what] && !lossless &&
	    g->cb.on_conn_notice)
		g->cb.on_conn_notice(g->cb.ctx, dir, names[what], skipped, ts);
	if (what == H2_N_PREFACE || what == H2_N_HPACK_ERROR)
		return;
	g->loss_epoch[dir]++; /* every stream catches up when next touched (grpc_sdir_sync) */
}

static const struct h2_callbacks grpc_h2_callbacks = {
	.on_headers = grpc_on_headers,
	.on_data = grpc_on_data,
	.on_rst_stream = grpc_on_rst_stream,
	.on_goaway = grpc_on_goaway,
	.on_notice = grpc_on_notice,
};

/* Creates a connection and its h2 framer (with the grpc_conn as the framer's ctx). */
struct grpc_conn *grpc_conn_new(const struct grpc_callbacks *cb, bool from_start)
{
	struct grpc_conn *g = calloc(1, sizeof *g);
	if (!g)
		return NULL;
	if (cb)
		g->cb = *cb;
	g->h2 = h2_conn_new(&grpc_h2_callbacks, g, from_start);
	if (!g->h2) {
		free(g);
		return NULL;
	}
	return g;
}

/* Feeds in-order bytes of one direction. */
void grpc_conn_feed(struct grpc_conn *g, enum tcp_dir dir, const uint8_t *p, size_t n, ee_ts ts)
{
	if (!g)
		return;
	if (g->nholding)
		grpc_release_stale(g, 0, ts);
	h2_conn_feed(g->h2, dir, p, n, ts);
}

/* TCP lost bytes in dir; h2 reports it back through on_notice. */
void grpc_conn_gap(struct grpc_conn *g, enum tcp_dir dir, uint64_t missing, ee_ts ts)
{
	if (g)
		h2_conn_gap(g->h2, dir, missing, ts);
}

/* Names a stream's unknown :path entry in the request decoder and fills s->path. */
int grpc_conn_learn_path(struct grpc_conn *g, struct grpc_stream *s, const char *path)
{
	if (!g || !s || !path)
		return EE_MALFORMED;
	int r = EE_OK;
	bool was_unknown = s->path_unknown;
	uint64_t id = s->path_unknown_id;
	if (was_unknown)
		r = h2_conn_learn(g->h2, TCP_C2S, id, ":path", path);
	grpc_copy_str(s->path, sizeof s->path, (const uint8_t *)path, strlen(path));
	s->path_unknown = false;
	if (!was_unknown)
		return r;
	/* Open streams whose HEADERS referenced the same entry are named too (the next stage
	 * hears it as their request headers, late). */
	for (struct grpc_gstream *gs = g->oldest; gs; gs = gs->newer) {
		if (&gs->s == s || !gs->s.path_unknown || gs->s.path_unknown_id != id)
			continue;
		grpc_copy_str(gs->s.path, sizeof gs->s.path, (const uint8_t *)path, strlen(path));
		gs->s.path_unknown = false;
		if (g->cb.on_stream_open)
			g->cb.on_stream_open(g->cb.ctx, &gs->s, 0);
	}
	return r;
}

void grpc_conn_tick(struct grpc_conn *g, ee_ts now)
{
	if (g && g->nholding)
		grpc_release_stale(g, 0, now);
}

void grpc_conn_foreach_stream(struct grpc_conn *g, void (*fn)(void *ctx, struct grpc_stream *s),
			      void *ctx)
{
	for (struct grpc_gstream *gs = g ? g->oldest : NULL; gs; gs = gs->newer)
		fn(ctx, &gs->s);
}

/* Closes every stream and frees the connection. */
void grpc_conn_free(struct grpc_conn *g, ee_ts ts)
{
	if (!g)
		return;
	while (g->oldest)
		grpc_stream_close(g, g->oldest, ts);
	while (g->pool) {
		struct grpc_gstream *gs = g->pool;
		g->pool = gs->hnext;
		free(gs);
	}
	h2_conn_free(g->h2);
	free(g->zbuf);
	free(g);
}

/* Adds counters (h2's included). */
void grpc_conn_add_stats(const struct grpc_conn *g, struct grpc_stats *st)
{
	if (!g || !st)
		return;
	h2_conn_add_stats(g->h2, &st->h2);
	st->streams += g->st.streams;
	st->messages += g->st.messages;
	st->bytes += g->st.bytes;
	st->compressed += g->st.compressed;
	st->decompress_errors += g->st.decompress_errors;
	st->oversize += g->st.oversize;
	st->skipped_bytes += g->st.skipped_bytes;
	st->resumed += g->st.resumed;
	st->status_inferred += g->st.status_inferred;
}
