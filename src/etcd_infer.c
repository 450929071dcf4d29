/* etcd_infer.c: guesses the etcd method of a gRPC message whose :path is unknown (stream
 * joined mid-connection, HPACK entry from before the capture), part of the etcd stage.
 * Each candidate's protobuf-c descriptor is matched against the message's wire shape;
 * field-name hints (registry keys, prefix range ends, Kubernetes values, lease-sized IDs)
 * and how common each method is in kube-apiserver traffic break the ties.
 *
 * Protobuf wire format (protobuf.dev/programming-guides/encoding):
 *   field = key:varint(field_number << 3 | wire_type) payload
 *   wire_type 0 varint | 1 fixed64 | 2 varint length + bytes | 5 fixed32  (3, 4: groups, unused)
 */
#include <string.h>

#include <protobuf-c/protobuf-c.h>

#include "etcd_int.h"
#include "rd.h"

/* Nesting depth examined: Watch create inside WatchRequest, ops inside Txn, kvs inside a
 * RangeResponse; deeper levels add little and cost time. */
#define INFER_MAX_DEPTH 3
/* Fields examined per message (all depths): bounds the work on a 100 MB Range response. */
#define INFER_FIELD_BUDGET 4096
/* Field numbers above this are not etcd's (the largest in rpc.proto is Compare.range_end 64). */
#define INFER_MAX_FIELD 1000

enum { W_VARINT = 0, W_FIXED64 = 1, W_LEN = 2, W_FIXED32 = 5 };

/* Scoring weights. */
#define S_FIELD 3       /* a field that exists in the descriptor with the right wire type */
#define S_UNKNOWN (-6)  /* a field number the descriptor does not have */
#define S_HINT 6        /* a strong semantic hint (registry key, prefix range end, k8s value) */

/* How often each method appears in kube-apiserver <-> etcd traffic: breaks ties between
 * messages of identical shape (header-only responses, {1: varint} requests). */
static const int prior[EM__COUNT] = {
	[EM_RANGE] = 6, [EM_TXN] = 5, [EM_WATCH] = 5, [EM_LEASE_GRANT] = 4,
	[EM_LEASE_KEEPALIVE] = 4, [EM_PUT] = 3, [EM_DELETE_RANGE] = 3, [EM_COMPACT] = 3,
	[EM_STATUS] = 3, [EM_LEASE_REVOKE] = 2, [EM_LEASE_TIME_TO_LIVE] = 2, [EM_MEMBER_LIST] = 2,
	[EM_LEASE_LEASES] = 1, [EM_MEMBER_ADD] = 1, [EM_MEMBER_REMOVE] = 1, [EM_MEMBER_UPDATE] = 1,
	[EM_MEMBER_PROMOTE] = 1, [EM_ALARM] = 1, [EM_DEFRAGMENT] = 1, [EM_HASH] = 1,
	[EM_HASH_KV] = 1, [EM_SNAPSHOT] = 1, [EM_MOVE_LEADER] = 1, [EM_DOWNGRADE] = 1,
};

struct fit_ctx {
	int budget;
};

/* True when the bytes are valid UTF-8 without control characters (tab/CR/LF allowed):
 * what etcd's string fields (names, URLs, versions) hold, and binary values do not. */
static bool text_plausible(const uint8_t *p, size_t n)
{
	size_t i = 0;
	while (i < n) {
		uint8_t c = p[i];
		if (c < 0x80) {
			if ((c < 0x20 && c != '\t' && c != '\n' && c != '\r') || c == 0x7f)
				return false;
			i++;
			continue;
		}
		size_t k = c >= 0xf0 && c <= 0xf4 ? 3 : c >= 0xe0 ? 2 : c >= 0xc2 && c < 0xe0 ? 1 : 0;
		if (k == 0 || c > 0xf4 || n - i - 1 < k)
			return false;
		for (size_t j = 1; j <= k; j++)
			if ((p[i + j] & 0xc0) != 0x80)
				return false;
		i += k + 1;
	}
	return true;
}

static bool has_prefix(const uint8_t *p, size_t n, const char *s)
{
	size_t l = strlen(s);
	return n >= l && memcmp(p, s, l) == 0;
}

/* True when end is the "prefix end" of key (key with its last byte below 0xff plus one), or
 * "\0" (every key >= key): the range_end values clients actually send. */
static bool range_end_typical(const uint8_t *key, size_t kn, const uint8_t *end, size_t en)
{
	if (en == 1 && end[0] == 0)
		return true;
	if (kn == 0 || en == 0 || en > kn)
		return false;
	size_t i = en - 1;
	return memcmp(key, end, i) == 0 && end[i] == (uint8_t)(key[i] + 1);
}

/* Wire type a field of this descriptor is encoded with (packed repeated scalars aside). */
static int field_wire_type(const ProtobufCFieldDescriptor *fd)
{
	switch (fd->type) {
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return W_FIXED64;
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_FLOAT:
		return W_FIXED32;
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_BYTES:
	case PROTOBUF_C_TYPE_MESSAGE:
		return W_LEN;
	default:
		return W_VARINT;
	}
}

/* Plausibility of an integer by the field's name: lease IDs are large random numbers,
 * revisions, TTLs and watch ids are small. */
static int varint_hint(const char *name, uint64_t v)
{
	if (!strcmp(name, "ID") || !strcmp(name, "lease"))
		return v >= (1ull << 32) ? 3 : -3;
	if (!strcmp(name, "TTL") || !strcmp(name, "limit"))
		return v < (1ull << 31) ? 1 : -3;
	if (!strcmp(name, "revision") || !strcmp(name, "start_revision") ||
	    !strcmp(name, "compact_revision") || !strcmp(name, "watch_id"))
		return v < (1ull << 40) || v == UINT64_MAX ? 1 : -4;
	return 0;
}

/* Matches one message's bytes against descriptor d: returns a score >= 0, or
 * ETCD_INFER_REJECT when a field's wire type or content cannot belong to d. */
static int fit_msg(struct fit_ctx *fc, const ProtobufCMessageDescriptor *d, const uint8_t *p,
		   size_t n, int depth)
{
	struct rd r;
	int score = 0;
	const uint8_t *key = NULL;
	size_t key_len = 0;
	uint32_t seen = 0; /* field numbers 1..31 already scored: repeats only get checked */

	rd_init(&r, p, n);
	while (rd_left(&r) > 0 && fc->budget > 0) {
		fc->budget--;
		uint64_t tag = rd_varint(&r);
		uint64_t num = tag >> 3;
		int wt = (int)(tag & 7);
		uint64_t v = 0;
		const uint8_t *b = NULL;
		size_t bn = 0;

		if (r.err || num == 0 || num > INFER_MAX_FIELD)
			return ETCD_INFER_REJECT;
		switch (wt) {
		case W_VARINT: v = rd_varint(&r); break;
		case W_FIXED64: rd_skip(&r, 8); break;
		case W_FIXED32: rd_skip(&r, 4); break;
		case W_LEN:
			v = rd_varint(&r);
			if (v > rd_left(&r))
				return ETCD_INFER_REJECT;
			bn = (size_t)v;
			b = rd_bytes(&r, bn);
			break;
		default: return ETCD_INFER_REJECT;
		}
		if (r.err)
			return ETCD_INFER_REJECT;

		const ProtobufCFieldDescriptor *fd =
			protobuf_c_message_descriptor_get_field(d, (unsigned)num);
		if (!fd) {
			score += S_UNKNOWN;
			continue;
		}
		int want = field_wire_type(fd);
		bool packed = fd->label == PROTOBUF_C_LABEL_REPEATED && want != W_LEN && wt == W_LEN;
		if (wt != want && !packed)
			return ETCD_INFER_REJECT;
		bool first = num >= 32 || !(seen & (1u << num));
		if (num < 32)
			seen |= 1u << num;

		switch (fd->type) {
		case PROTOBUF_C_TYPE_BOOL:
			if (!packed && v > 1)
				return ETCD_INFER_REJECT;
			break;
		case PROTOBUF_C_TYPE_ENUM:
			if (!packed && !protobuf_c_enum_descriptor_get_value(fd->descriptor, (int)v))
				score -= 2;
			break;
		case PROTOBUF_C_TYPE_STRING:
			if (!text_plausible(b, bn))
				return ETCD_INFER_REJECT;
			if (first && !strcmp(fd->name, "version") && bn >= 3 && b[0] >= '2' &&
			    b[0] <= '9' && b[1] == '.')
				score += S_HINT;
			break;
		case PROTOBUF_C_TYPE_BYTES:
			if (!first)
				break;
			if (!strcmp(fd->name, "key") || !strcmp(fd->name, "keys")) {
				key = b, key_len = bn;
				if (has_prefix(b, bn, "/registry/"))
					score += S_HINT;
			} else if (!strcmp(fd->name, "range_end")) {
				/* A range end that is not the prefix end of (a prefix of) the key is
				 * rare; a Put's small value in that place is not. */
				score += range_end_typical(key, key_len, b, bn) ? S_HINT : -2 * S_HINT;
			} else if (!strcmp(fd->name, "value")) {
				if (has_prefix(b, bn, "k8s\0") || has_prefix(b, bn, "{"))
					score += S_HINT;
			}
			break;
		case PROTOBUF_C_TYPE_MESSAGE:
			if (depth + 1 < INFER_MAX_DEPTH) {
				int s = fit_msg(fc, fd->descriptor, b, bn, depth + 1);
				if (s <= ETCD_INFER_REJECT)
					return ETCD_INFER_REJECT;
				if (first)
					score += s / 2;
			}
			break;
		default:
			if (first && !packed)
				score += varint_hint(fd->name, v);
			break;
		}
		if (first)
			score += S_FIELD;
	}
	return score;
}

/* Top-level fields present, by number (1..31), for the method-specific adjustments. */
static uint32_t top_fields(const uint8_t *p, size_t n, int *count)
{
	struct rd r;
	uint32_t mask = 0;

	*count = 0;
	rd_init(&r, p, n);
	for (int i = 0; i < 64 && rd_left(&r) > 0; i++) {
		uint64_t tag = rd_varint(&r);
		uint64_t num = tag >> 3;
		switch (tag & 7) {
		case W_VARINT: (void)rd_varint(&r); break;
		case W_FIXED64: rd_skip(&r, 8); break;
		case W_FIXED32: rd_skip(&r, 4); break;
		case W_LEN: rd_skip(&r, (size_t)rd_varint(&r)); break;
		default: r.err = true; break;
		}
		if (r.err)
			break;
		if (num < 32 && !(mask & (1u << num))) {
			mask |= 1u << num;
			(*count)++;
		}
	}
	return mask;
}

#define F(n) (1u << (n))

/* What the descriptors cannot say: fields a real message of that method always carries. */
static int shape_adjust(enum etcd_method m, enum tcp_dir dir, uint32_t f, size_t n,
			const ProtobufCMessageDescriptor *d)
{
	if (n == 0)
		return d->n_fields == 0 ? 4 : 0;
	if (dir == TCP_C2S) {
		switch (m) {
		case EM_TXN:
			return (f & (F(1) | F(2))) ? 0 : -3;
		case EM_WATCH:
			return 2; /* one-of-three shape is distinctive once it fits */
		default:
			return 0;
		}
	}
	/* Header-only: responses that have nothing else, a Put without prev_kv, a DeleteRange
	 * that deleted nothing. */
	bool header_only = f == F(1);
	if (header_only)
		return d->n_fields == 1 || m == EM_PUT || m == EM_DELETE_RANGE ? 3 : 0;
	switch (m) {
	case EM_WATCH:
		/* A WatchResponse says created, canceled, or carries events; a bare watch_id is
		 * only a progress notification. */
		return (f & (F(3) | F(4) | F(11))) ? 2 : -3;
	case EM_TXN:
		return (f & F(3)) ? 2 : -3;
	case EM_LEASE_KEEPALIVE:
	case EM_LEASE_GRANT:
	case EM_LEASE_TIME_TO_LIVE:
		return (f & F(2)) && (f & F(3)) ? 0 : -4;
	default:
		return 0;
	}
}

/* Scores every method for one message (see etcd_int.h). */
int etcd_infer_score(enum tcp_dir dir, const uint8_t *p, size_t n, int score[EM__COUNT])
{
	static const uint8_t empty[1];
	int count = 0;

	if (!p)
		p = empty, n = 0;
	uint32_t f = top_fields(p, n, &count);

	score[EM_UNKNOWN] = ETCD_INFER_REJECT;
	for (int m = 1; m < EM__COUNT; m++) {
		const struct etcd_method_info *mi = etcd_method_info((enum etcd_method)m);
		const ProtobufCMessageDescriptor *d = dir == TCP_C2S ? mi->req : mi->resp;
		struct fit_ctx fc = {INFER_FIELD_BUDGET};
		int s = fit_msg(&fc, d, p, n, 0);
		if (s <= ETCD_INFER_REJECT) {
			score[m] = ETCD_INFER_REJECT;
			continue;
		}
		/* Auth RPCs are rare next to kube-apiserver's traffic, and their reduced
		 * string-only messages fit almost any text: they must win on shape alone. */
		int pr = mi->service == ES_AUTH ? -2 : prior[m];
		score[m] = s + pr + shape_adjust((enum etcd_method)m, dir, f, n, d);
	}
	if (dir == TCP_S2C && (f & F(1)))
		count--; /* the header is common to every response */
	return count;
}

/* Picks the best-scored method (see etcd_int.h). */
enum etcd_method etcd_infer_pick(const int score[EM__COUNT], int evidence, int *confidence)
{
	int best = EM_UNKNOWN, second = EM_UNKNOWN;

	for (int m = 1; m < EM__COUNT; m++) {
		if (score[m] <= ETCD_INFER_REJECT)
			continue;
		if (best == EM_UNKNOWN || score[m] > score[best]) {
			second = best;
			best = m;
		} else if (second == EM_UNKNOWN || score[m] > score[second]) {
			second = m;
		}
	}
	if (best == EM_UNKNOWN) {
		*confidence = 0;
		return EM_UNKNOWN;
	}
	int margin = second == EM_UNKNOWN ? 20 : score[best] - score[second];
	int conf = 35 + 4 * margin;
	int cap = evidence <= 0 ? 30 : evidence == 1 ? 75 : 99;
	if (conf > cap)
		conf = cap;
	if (conf < 1)
		conf = 1;
	*confidence = conf;
	return (enum etcd_method)best;
}

/* Infers the method of one message (see etcd.h). */
enum etcd_method etcd_method_infer(enum tcp_dir dir, const uint8_t *p, size_t n, int *confidence)
{
	int score[EM__COUNT];
	int conf = 0;
	static const uint8_t empty[1];

	if (!p)
		p = empty, n = 0;
	int ev = etcd_infer_score(dir, p, n, score);
	enum etcd_method m = etcd_infer_pick(score, ev, &conf);
	if (confidence)
		*confidence = conf;
	return m;
}
