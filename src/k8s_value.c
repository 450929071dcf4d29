/* k8s_value.c: decodes an etcd value written by kube-apiserver into one JSON tree (k8s
 * stage, DESIGN.md "k8s"): protobuf envelope + object, JSON (custom resources), encrypted
 * at rest, or opaque bytes. Also Secret redaction, which works on that tree.
 *
 * Protobuf value (k8s.io/apimachinery pkg/runtime/generated.proto, proto/k8s.proto):
 *
 *   +----------+----------------------------------------------------------+
 *   | "k8s\0"  | runtime.Unknown                                          |
 *   |  4 bytes |  1: TypeMeta {1: apiVersion, 2: kind}                    |
 *   |          |  2: raw = the object {1: ObjectMeta, 2: spec, 3: status} |
 *   |          |  3: contentEncoding  4: contentType                      |
 *   +----------+----------------------------------------------------------+
 *
 * The object is walked generically, field by field, with the protobuf-c descriptors
 * generated from proto/k8s.proto giving names and types; unknown fields become "#<number>".
 * Encrypted: "k8s:enc:<provider>:v1:<key name>:<ciphertext>" (KMS v2: "k8s:enc:kms:v2:"). */
#include <ctype.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "k8s.h"
#include "k8s_pb.h"
#include "pool.h"

/* Largest value handed to the JSON parser: etcd's default request limit is 1.5 MiB and
 * kube-apiserver refuses objects above ~3 MiB; 16 MiB leaves room for raised limits while
 * bounding the work on garbage. Larger values are shown as BYTES. */
#define K8S_MAX_JSON_BYTES (16u << 20)

/* Highest field number accepted when guessing whether unknown bytes are a nested message:
 * Kubernetes messages use small numbers (under 100), so a huge number means text or noise. */
#define K8S_PB_GUESS_MAX_FIELD 16383

static const uint8_t k8s_magic[4] = {'k', '8', 's', 0};
static const char k8s_enc_magic[] = "k8s:enc:";

/* Object descriptor per stored apiVersion and kind (proto/k8s.proto). */
static const struct {
	const char *api_version, *kind;
	const ProtobufCMessageDescriptor *desc;
} k8s_kinds[] = {
	{"v1", "Pod", &k8s__pod__descriptor},
	{"v1", "ConfigMap", &k8s__config_map__descriptor},
	{"v1", "Secret", &k8s__secret__descriptor},
	{"v1", "Namespace", &k8s__namespace__descriptor},
	{"v1", "Node", &k8s__node__descriptor},
	{"v1", "Service", &k8s__service__descriptor},
	{"v1", "ServiceAccount", &k8s__service_account__descriptor},
	{"v1", "Endpoints", &k8s__endpoints__descriptor},
	{"v1", "Event", &k8s__event__descriptor},
	{"apps/v1", "Deployment", &k8s__deployment__descriptor},
	{"apps/v1", "ReplicaSet", &k8s__replica_set__descriptor},
	{"apps/v1", "StatefulSet", &k8s__stateful_set__descriptor},
	{"apps/v1", "DaemonSet", &k8s__daemon_set__descriptor},
	{"batch/v1", "Job", &k8s__job__descriptor},
	{"coordination.k8s.io/v1", "Lease", &k8s__lease__descriptor},
	{"discovery.k8s.io/v1", "EndpointSlice", &k8s__endpoint_slice__descriptor},
	{"events.k8s.io/v1", "Event", &k8s__events_v1_event__descriptor},
	{"apiextensions.k8s.io/v1", "CustomResourceDefinition",
	 &k8s__custom_resource_definition__descriptor},
};

/* ---- arena for the jansson nodes of one decoded value ------------------------------------
 *
 * jansson allocates every node, string and hash table through one pair of process-wide
 * hooks. While an arena is active (k8s_value_decode_arena), ours carve blocks from it; at
 * other times they are malloc and free, so memory jansson hands out (json_dumps) is still
 * freed with free() by its callers. An arena is made of page-aligned blocks whose pages are
 * registered in a set: jansson's free of a block inside an arena is a no-op, and the arena
 * goes as a whole when its last reference does, without walking the tree (freeing a tree
 * node by node cost as much as building it: the profile in docs/performance.md). The
 * hooks are installed before main, as jansson requires (no block may change hands). */
#define K8S_PAGE 4096u

struct k8s_arena_block {
	struct k8s_arena_block *next;
	size_t cap, used;                /* bytes of the block, header included */
};

struct k8s_arena {
	unsigned refs;
	size_t next_cap;                 /* size of the next block */
	struct k8s_arena_block *blocks;  /* the current one first */
};

static struct k8s_arena *k8s_arena_active; /* set during k8s_value_decode_arena only */

/* The set of pages owned by arenas: open addressing, linear probing, 0 = empty slot. */
static struct {
	uintptr_t *slot;
	size_t cap, n; /* cap: a power of two */
} k8s_pages;

static size_t k8s_page_hash(uintptr_t page)
{
	return (size_t)((page / K8S_PAGE) * 0x9e3779b97f4a7c15ull >> 17) & (k8s_pages.cap - 1);
}

static bool k8s_page_owned(uintptr_t page)
{
	if (!k8s_pages.n)
		return false;
	for (size_t i = k8s_page_hash(page);; i = (i + 1) & (k8s_pages.cap - 1)) {
		if (k8s_pages.slot[i] == page)
			return true;
		if (!k8s_pages.slot[i])
			return false;
	}
}

static void k8s_page_insert(uintptr_t page)
{
	size_t i = k8s_page_hash(page);
	while (k8s_pages.slot[i])
		i = (i + 1) & (k8s_pages.cap - 1);
	k8s_pages.slot[i] = page;
	k8s_pages.n++;
}

/* Makes room for n more pages (load under one half). */
static bool k8s_pages_reserve(size_t more)
{
	if ((k8s_pages.n + more) * 2 <= k8s_pages.cap)
		return true;
	size_t cap = k8s_pages.cap ? k8s_pages.cap : 1024;
	while ((k8s_pages.n + more) * 2 > cap)
		cap *= 2;
	uintptr_t *old = k8s_pages.slot;
	size_t old_cap = k8s_pages.cap;
	k8s_pages.slot = calloc(cap, sizeof *k8s_pages.slot);
	if (!k8s_pages.slot) {
		k8s_pages.slot = old;
		return false;
	}
	k8s_pages.cap = cap;
	k8s_pages.n = 0;
	for (size_t i = 0; i < old_cap; i++)
		if (old[i])
			k8s_page_insert(old[i]);
	free(old);
	return true;
}

/* Removes a page, shifting back the entries of its probe run (no tombstones). */
static void k8s_page_remove(uintptr_t page)
{
	size_t mask = k8s_pages.cap - 1, i = k8s_page_hash(page);
	while (k8s_pages.slot[i] != page) {
		if (!k8s_pages.slot[i])
			return;
		i = (i + 1) & mask;
	}
	k8s_pages.slot[i] = 0;
	k8s_pages.n--;
	for (size_t j = (i + 1) & mask; k8s_pages.slot[j]; j = (j + 1) & mask) {
		size_t home = k8s_page_hash(k8s_pages.slot[j]);
		/* move j back to i unless its home lies cyclically in (i, j] */
		if (((j - home) & mask) >= ((j - i) & mask)) {
			k8s_pages.slot[i] = k8s_pages.slot[j];
			k8s_pages.slot[j] = 0;
			i = j;
		}
	}
}

/* Released blocks of 2^i pages, kept for the next arenas (still registered): values come
 * and go by the hundred thousand, and a malloc'd block per value fragmented the heap
 * (peak RSS grew by half). Bigger blocks go back to free(). */
#define K8S_BLOCK_CLASSES 7          /* 4 KiB .. 256 KiB */
#define K8S_BLOCK_KEEP (4u << 20)    /* bytes of released blocks kept */
static struct k8s_arena_block *k8s_spare[K8S_BLOCK_CLASSES];
static size_t k8s_spare_bytes;

static int k8s_block_class(size_t cap)
{
	int c = 0;
	while (c < K8S_BLOCK_CLASSES && ((size_t)K8S_PAGE << c) < cap)
		c++;
	return c; /* K8S_BLOCK_CLASSES: too big for a class */
}

static struct k8s_arena_block *k8s_block_new(size_t cap)
{
	int c = k8s_block_class(cap);
	if (c < K8S_BLOCK_CLASSES) {
		cap = (size_t)K8S_PAGE << c;
		struct k8s_arena_block *b = k8s_spare[c];
		if (b) {
			k8s_spare[c] = b->next;
			k8s_spare_bytes -= cap;
			return b;
		}
	}
	if (!k8s_pages_reserve(cap / K8S_PAGE))
		return NULL;
	struct k8s_arena_block *b = aligned_alloc(K8S_PAGE, cap);
	if (!b)
		return NULL;
	for (size_t off = 0; off < cap; off += K8S_PAGE)
		k8s_page_insert((uintptr_t)b + off);
	b->cap = cap;
	return b;
}

static void k8s_block_drop(struct k8s_arena_block *b)
{
	int c = k8s_block_class(b->cap);
	if (c < K8S_BLOCK_CLASSES && k8s_spare_bytes + b->cap <= K8S_BLOCK_KEEP) {
		b->next = k8s_spare[c];
		k8s_spare[c] = b;
		k8s_spare_bytes += b->cap;
		return;
	}
	for (size_t off = 0; off < b->cap; off += K8S_PAGE)
		k8s_page_remove((uintptr_t)b + off);
	free(b);
}

static void *k8s_arena_carve(struct k8s_arena *a, size_t n)
{
	const size_t hdr = (sizeof(struct k8s_arena_block) + 15) & ~(size_t)15;
	struct k8s_arena_block *b = a->blocks;
	if (!b || b->cap - b->used < n) {
		size_t cap = a->next_cap > n + hdr ? a->next_cap : n + hdr;
		cap = (cap + K8S_PAGE - 1) & ~(size_t)(K8S_PAGE - 1);
		b = k8s_block_new(cap);
		if (!b)
			return NULL;
		cap = b->cap;
		b->used = hdr;
		b->next = a->blocks;
		a->blocks = b;
		a->next_cap = cap * 2;
	}
	void *p = (unsigned char *)b + b->used;
	b->used += n;
	return p;
}

static void *k8s_json_malloc(size_t n)
{
	if (!k8s_arena_active)
		return malloc(n);
	if (n > SIZE_MAX / 2)
		return NULL;
	return k8s_arena_carve(k8s_arena_active, (n + 15) & ~(size_t)15);
}

static void k8s_json_free(void *p)
{
	if (p && !k8s_page_owned((uintptr_t)p & ~(uintptr_t)(K8S_PAGE - 1)))
		free(p);
	/* a block inside an arena goes with its arena */
}

__attribute__((constructor)) static void k8s_json_hooks(void)
{
	json_set_alloc_funcs(k8s_json_malloc, k8s_json_free);
}

static void k8s_arena_release(struct k8s_arena *a)
{
	if (!a || --a->refs)
		return;
	for (struct k8s_arena_block *b = a->blocks, *n; b; b = n) {
		n = b->next;
		k8s_block_drop(b);
	}
	pool_free(a);
}

/* See k8s_pb.h. */
struct k8s_arena *k8s_arena_begin(size_t first)
{
	struct k8s_arena *a = pool_calloc(sizeof *a); /* one per decoded value: recycled */
	if (!a)
		return NULL;
	a->next_cap = first;
	k8s_arena_active = a;
	return a;
}

void k8s_arena_end(void)
{
	k8s_arena_active = NULL;
}

/* See k8s.h. */
void k8s_value_arena_begin(const struct k8s_value *v)
{
	k8s_arena_active = v ? v->arena : NULL;
}

void k8s_value_arena_end(void)
{
	k8s_arena_active = NULL;
}

void k8s_arena_take(struct k8s_arena *a, struct k8s_value *v)
{
	a->refs++;
	v->arena = a;
}

void k8s_arena_drop(struct k8s_arena *a)
{
	if (a && !a->refs) {
		a->refs = 1;
		k8s_arena_release(a);
	}
}

/* True when p[0..n) is valid UTF-8 (no overlongs, no surrogates, at most U+10FFFF). */
bool k8s_utf8_valid(const uint8_t *p, size_t n, bool printable)
{
	const uint64_t ones = 0x0101010101010101ull, highs = 0x8080808080808080ull;
	size_t i = 0;
	while (i < n) {
		/* 8 bytes at a time while they are plain ASCII: no high bit, no byte below 0x20
		 * or equal to 0x7f (printable), no NUL (not printable); the bit tricks are exact
		 * once the high bits are clear. Any other byte takes the loop below. */
		if (n - i >= 8) {
			uint64_t w;
			memcpy(&w, p + i, 8);
			uint64_t del = w ^ 0x7f * ones; /* zero where a byte is 0x7f */
			uint64_t bad = printable ? ((w - 0x20 * ones) & ~w) | ((del - ones) & ~del)
						 : (w - ones) & ~w;
			if (!((w | bad) & highs)) {
				i += 8;
				continue;
			}
		}
		uint8_t c = p[i];
		if (c < 0x80) {
			if (printable && (c < 0x20 || c == 0x7f) && c != '\t' && c != '\n' && c != '\r')
				return false;
			if (!printable && c == 0)
				return false; /* jansson strings are NUL-terminated */
			i++;
			continue;
		}
		size_t len;
		uint32_t cp;
		if (c >= 0xc2 && c <= 0xdf) {
			len = 2;
			cp = c & 0x1f;
		} else if (c >= 0xe0 && c <= 0xef) {
			len = 3;
			cp = c & 0x0f;
		} else if (c >= 0xf0 && c <= 0xf4) {
			len = 4;
			cp = c & 0x07;
		} else {
			return false;
		}
		if (n - i < len)
			return false;
		for (size_t j = 1; j < len; j++) {
			if ((p[i + j] & 0xc0) != 0x80)
				return false;
			cp = cp << 6 | (p[i + j] & 0x3f);
		}
		if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
		    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
			return false;
		i += len;
	}
	return true;
}

/* A "<N bytes>" placeholder for bytes that are neither text nor a message. */
static json_t *k8s_bytes_note(size_t n)
{
	char buf[48];
	snprintf(buf, sizeof buf, "<%zu bytes>", n);
	return json_string(buf);
}

/* Standard base64, as Kubernetes' JSON renders []byte. Caller owns the result. */
static json_t *k8s_base64(const uint8_t *p, size_t n)
{
	static const char tab[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t out_n = (n + 2) / 3 * 4;
	char *s = pool_alloc(out_n + 1); /* scratch: jansson copies it */
	if (!s)
		return NULL;
	size_t o = 0;
	for (size_t i = 0; i < n; i += 3) {
		uint32_t v = (uint32_t)p[i] << 16;
		if (i + 1 < n)
			v |= (uint32_t)p[i + 1] << 8;
		if (i + 2 < n)
			v |= p[i + 2];
		s[o++] = tab[v >> 18 & 63];
		s[o++] = tab[v >> 12 & 63];
		s[o++] = i + 1 < n ? tab[v >> 6 & 63] : '=';
		s[o++] = i + 2 < n ? tab[v & 63] : '=';
	}
	s[o] = '\0';
	json_t *j = json_stringn_nocheck(s, o);
	pool_free(s);
	return j;
}

/* Nesting depth of JSON text, counted without parsing (brackets outside strings), so a
 * bomb is refused before jansson's recursive parser sees it. */
static int k8s_json_depth(const uint8_t *p, size_t n)
{
	int depth = 0, max = 0;
	bool in_str = false;
	for (size_t i = 0; i < n; i++) {
		uint8_t c = p[i];
		if (in_str) {
			if (c == '\\')
				i++;
			else if (c == '"')
				in_str = false;
		} else if (c == '"') {
			in_str = true;
		} else if (c == '{' || c == '[') {
			if (++depth > max)
				max = depth;
		} else if (c == '}' || c == ']') {
			depth--;
		}
	}
	return max;
}

/* json_loadb with the size and depth guards; NULL when it is not acceptable JSON. */
static json_t *k8s_json_load(const uint8_t *p, size_t n, int depth_left)
{
	if (n > K8S_MAX_JSON_BYTES || k8s_json_depth(p, n) > depth_left)
		return NULL;
	json_error_t err;
	return json_loadb((const char *)p, n, 0, &err);
}

/* Year, month (1-12), day (1-31) of a day count from 1970-01-01 (proleptic Gregorian). */
static void k8s_civil_from_days(int64_t z, int *y, int *m, int *d)
{
	z += 719468;
	int64_t era = (z >= 0 ? z : z - 146096) / 146097;
	int64_t doe = z - era * 146097;
	int64_t yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
	int64_t doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
	int64_t mp = (5 * doy + 2) / 153;
	*d = (int)(doy - (153 * mp + 2) / 5 + 1);
	*m = (int)(mp < 10 ? mp + 3 : mp - 9);
	*y = (int)(yoe + era * 400 + (*m <= 2));
}

/* v (0 <= v < 10^width) as width decimal digits at buf[*n]. */
static void k8s_put_digits(char *buf, int *n, int v, int width)
{
	for (int i = width - 1; i >= 0; i--) {
		buf[*n + i] = (char)('0' + v % 10);
		v /= 10;
	}
	*n += width;
}

/* Time and MicroTime as Kubernetes' JSON writes them: RFC 3339 in UTC, seconds only for
 * Time, 6 fractional digits for MicroTime. An empty message is the zero time (null). */
static json_t *k8s_time_json(const uint8_t *p, size_t n, bool micro)
{
	if (n == 0)
		return json_null();
	struct rd r;
	rd_init(&r, p, n);
	int64_t secs = 0;
	int64_t nanos = 0;
	while (rd_left(&r) > 0 && !r.err) {
		uint64_t tag = rd_varint(&r);
		if ((tag & 7) != 0) {
			r.err = true;
			break;
		}
		uint64_t v = rd_varint(&r);
		if (tag >> 3 == 1)
			secs = (int64_t)v;
		else if (tag >> 3 == 2)
			nanos = (int32_t)v;
	}
	/* years 0001..9999 only, as RFC 3339 allows; anything else is not a time */
	if (r.err || secs < -62135596800LL || secs > 253402300799LL || nanos < 0 ||
	    nanos > 999999999)
		return NULL;
	/* RFC 3339 by hand (civil date from days, H. Hinnant's algorithm): every object has
	 * several times, and gmtime_r + snprintf showed in the profile */
	int64_t days = secs >= 0 ? secs / 86400 : -((-secs + 86399) / 86400);
	int64_t sod = secs - days * 86400;
	int y, mo, d;
	k8s_civil_from_days(days, &y, &mo, &d);
	char buf[32];
	int len = 0;
	k8s_put_digits(buf, &len, y, 4);
	buf[len++] = '-';
	k8s_put_digits(buf, &len, mo, 2);
	buf[len++] = '-';
	k8s_put_digits(buf, &len, d, 2);
	buf[len++] = 'T';
	k8s_put_digits(buf, &len, (int)(sod / 3600), 2);
	buf[len++] = ':';
	k8s_put_digits(buf, &len, (int)(sod / 60 % 60), 2);
	buf[len++] = ':';
	k8s_put_digits(buf, &len, (int)(sod % 60), 2);
	if (micro) {
		buf[len++] = '.';
		k8s_put_digits(buf, &len, (int)(nanos / 1000), 6);
	}
	buf[len++] = 'Z';
	return json_stringn_nocheck(buf, (size_t)len);
}

/* Messages Kubernetes renders specially in JSON: Quantity ("100m"), IntOrString (80 or
 * "http"), FieldsV1 and RawExtension (embedded JSON). Takes the generic decoding and
 * returns the JSON form (a new reference), or NULL to keep the generic form. */
static json_t *k8s_special_json(const ProtobufCMessageDescriptor *d, json_t *generic,
				const uint8_t *p, size_t n, int depth)
{
	if (d == &k8s__quantity__descriptor) {
		json_t *s = json_object_get(generic, "string");
		return json_is_string(s) ? json_incref(s) : NULL;
	}
	if (d == &k8s__int_or_string__descriptor) {
		json_t *type = json_object_get(generic, "type");
		if (json_integer_value(type) == 1) {
			json_t *s = json_object_get(generic, "strVal");
			return s ? json_incref(s) : json_string("");
		}
		json_t *i = json_object_get(generic, "intVal");
		return i ? json_incref(i) : json_integer(0);
	}
	if (d == &k8s__fields_v1__descriptor || d == &k8s__raw_extension__descriptor) {
		/* raw is field 1; take it from the wire (the generic form is base64) */
		struct rd r;
		rd_init(&r, p, n);
		uint64_t tag = rd_varint(&r);
		uint64_t len = rd_varint(&r);
		if (r.err || tag != (1 << 3 | 2) || len != rd_left(&r))
			return NULL;
		return k8s_json_load(r.p, (size_t)len, K8S_MAX_DEPTH - depth);
	}
	return NULL;
}

/* True for the entry message protoc-c generates for a map<K, V> field. */
bool k8s_is_map_entry(const ProtobufCMessageDescriptor *d)
{
	return d && d->n_fields == 2 && d->fields[0].id == 1 && d->fields[1].id == 2 &&
	       strcmp(d->fields[0].name, "key") == 0 && strcmp(d->fields[1].name, "value") == 0 &&
	       strchr(d->name, '.') != strrchr(d->name, '.');
}

/* True for the messages k8s_len_json and k8s_special_json render otherwise than as an
 * object of their fields; see k8s_pb.h. */
bool k8s_is_special(const ProtobufCMessageDescriptor *d)
{
	return d == &k8s__time__descriptor || d == &k8s__micro_time__descriptor ||
	       d == &k8s__quantity__descriptor || d == &k8s__int_or_string__descriptor ||
	       d == &k8s__fields_v1__descriptor || d == &k8s__raw_extension__descriptor;
}

/* Decodes length-delimited bytes of a field the schema does not know: printable text
 * without control characters as a string (short words often parse as protobuf:
 * "argsValue" does); else a nested message if it parses completely; else text with tabs or
 * newlines (a message with field 1 of length 9, 10 or 13 starts "\n\t", "\n\n", "\n\r");
 * else "<N bytes>". */
static json_t *k8s_guess_bytes(struct k8s_walk *w, const uint8_t *p, size_t n, int depth)
{
	if (n == 0)
		return json_string("");
	bool text = k8s_utf8_valid(p, n, true);
	if (text && !memchr(p, '\t', n) && !memchr(p, '\n', n) && !memchr(p, '\r', n))
		return json_stringn_nocheck((const char *)p, n);
	if (depth + 1 < K8S_MAX_DEPTH) {
		json_t *o = k8s_pb_message(w, NULL, p, n, depth + 1, true);
		if (o || w->nomem)
			return o;
	}
	if (text)
		return json_stringn_nocheck((const char *)p, n);
	return k8s_bytes_note(n);
}

/* Converts one scalar field value the schema describes. */
static json_t *k8s_scalar_json(const ProtobufCFieldDescriptor *fd, uint64_t v)
{
	switch (fd->type) {
	case PROTOBUF_C_TYPE_INT32:
	case PROTOBUF_C_TYPE_SFIXED32:
		return json_integer((int32_t)(uint32_t)v);
	case PROTOBUF_C_TYPE_UINT32:
	case PROTOBUF_C_TYPE_FIXED32:
		return json_integer((uint32_t)v);
	case PROTOBUF_C_TYPE_SINT32:
		return json_integer((int32_t)((uint32_t)v >> 1 ^ -(uint32_t)(v & 1)));
	case PROTOBUF_C_TYPE_SINT64:
		return json_integer((json_int_t)(v >> 1 ^ -(v & 1)));
	case PROTOBUF_C_TYPE_BOOL:
		return json_boolean(v != 0);
	case PROTOBUF_C_TYPE_FLOAT: {
		uint32_t u = (uint32_t)v;
		float f;
		memcpy(&f, &u, sizeof f);
		return json_real(f);
	}
	case PROTOBUF_C_TYPE_DOUBLE: {
		double f;
		memcpy(&f, &v, sizeof f);
		return json_real(f);
	}
	default: /* INT64, UINT64, FIXED64, SFIXED64, ENUM */
		return json_integer((json_int_t)v);
	}
}

/* The wire type a schema field arrives with (length-delimited for strings, bytes,
 * messages; also for packed repeated scalars, handled by the caller). */
static int k8s_wire_type(const ProtobufCFieldDescriptor *fd)
{
	switch (fd->type) {
	case PROTOBUF_C_TYPE_SFIXED32:
	case PROTOBUF_C_TYPE_FIXED32:
	case PROTOBUF_C_TYPE_FLOAT:
		return 5;
	case PROTOBUF_C_TYPE_SFIXED64:
	case PROTOBUF_C_TYPE_FIXED64:
	case PROTOBUF_C_TYPE_DOUBLE:
		return 1;
	case PROTOBUF_C_TYPE_STRING:
	case PROTOBUF_C_TYPE_BYTES:
	case PROTOBUF_C_TYPE_MESSAGE:
		return 2;
	default:
		return 0;
	}
}

/* Decodes a length-delimited value of a schema field: string, bytes (base64, as in
 * Kubernetes' JSON), or a message (recursively, with the special renderings). */
json_t *k8s_len_json(struct k8s_walk *w, const ProtobufCFieldDescriptor *fd, const uint8_t *p,
		     size_t n, int depth, bool strict)
{
	if (fd->type == PROTOBUF_C_TYPE_STRING) {
		/* _nocheck here and wherever k8s_utf8_valid has just accepted the bytes (it
		 * accepts a subset of what jansson's check does: no NUL): checking twice was
		 * a twentieth of `--json trace` (callgrind) */
		if (k8s_utf8_valid(p, n, false))
			return json_stringn_nocheck((const char *)p, n);
		return k8s_bytes_note(n);
	}
	if (fd->type == PROTOBUF_C_TYPE_BYTES)
		return k8s_base64(p, n);
	const ProtobufCMessageDescriptor *d = fd->descriptor;
	if (d == &k8s__time__descriptor || d == &k8s__micro_time__descriptor) {
		json_t *t = k8s_time_json(p, n, d == &k8s__micro_time__descriptor);
		if (t)
			return t;
	}
	if (depth + 1 >= K8S_MAX_DEPTH)
		return k8s_bytes_note(n);
	json_t *o = k8s_pb_message(w, d, p, n, depth + 1, strict);
	if (!o)
		return NULL;
	json_t *special = k8s_special_json(d, o, p, n, depth + 1);
	if (special) {
		json_decref(o);
		return special;
	}
	return o;
}

/* Adds a field value under its name: arrays for repeated fields; an unknown field seen
 * twice becomes an array too. Steals val. Names are schema field names or "#N", ASCII:
 * jansson's UTF-8 check of the key is skipped (_nocheck). */
static void k8s_put(struct k8s_walk *w, json_t *obj, const char *name, json_t *val,
		    bool repeated)
{
	if (!val) {
		w->nomem = true;
		return;
	}
	if (!repeated && name[0] != '#') {
		/* a singular schema field: a repeat replaces it (as set would below), so no
		 * lookup first; most fields of a value take this path */
		if (json_object_set_new_nocheck(obj, name, val) != 0)
			w->nomem = true;
		return;
	}
	json_t *cur = json_object_get(obj, name);
	if (repeated) {
		if (!json_is_array(cur)) {
			cur = json_array();
			if (!cur || json_object_set_new_nocheck(obj, name, cur) != 0) {
				w->nomem = true;
				json_decref(val);
				return;
			}
		}
		if (json_array_append_new(cur, val) != 0)
			w->nomem = true;
		return;
	}
	if (cur && name[0] == '#') {
		if (!json_is_array(cur)) {
			json_t *arr = json_array();
			if (!arr || json_array_append(arr, cur) != 0 ||
			    json_object_set_new_nocheck(obj, name, arr) != 0) {
				json_decref(arr);
				json_decref(val);
				w->nomem = true;
				return;
			}
			cur = arr;
		}
		if (json_array_append_new(cur, val) != 0)
			w->nomem = true;
		return;
	}
	if (json_object_set_new_nocheck(obj, name, val) != 0)
		w->nomem = true;
}

/* See k8s_pb.h. */
bool k8s_string_entry(const uint8_t *p, size_t n, const uint8_t *kv[2], size_t kn[2])
{
	struct rd r;
	rd_init(&r, p, n);
	kv[0] = kv[1] = (const uint8_t *)"";
	kn[0] = kn[1] = 0;
	while (rd_left(&r) > 0) {
		uint64_t tag = rd_varint(&r);
		if (r.err || (tag != (1 << 3 | 2) && tag != (2 << 3 | 2)))
			return false;
		uint64_t len = rd_varint(&r);
		if (r.err || len > rd_left(&r))
			return false;
		int f = (int)(tag >> 3) - 1;
		kv[f] = rd_bytes(&r, (size_t)len);
		kn[f] = (size_t)len;
	}
	return k8s_utf8_valid(kv[0], kn[0], false);
}

/* map<string, string> (labels, annotations, ConfigMap data): the entry read straight off
 * the wire into the map, without an entry object. Returns false to leave anything unusual
 * (other fields, bad UTF-8, bad bytes) to the generic path, which gives the same result
 * for the usual case. */
static bool k8s_put_string_map_entry(struct k8s_walk *w, json_t *obj, const char *name,
				     const uint8_t *p, size_t n)
{
	const uint8_t *kv[2];
	size_t kn[2];
	if (!k8s_string_entry(p, n, kv, kn))
		return false;
	json_t *map = json_object_get(obj, name);
	if (!json_is_object(map)) {
		map = json_object();
		if (!map || json_object_set_new_nocheck(obj, name, map) != 0) {
			w->nomem = true;
			return true;
		}
	}
	json_t *val = k8s_utf8_valid(kv[1], kn[1], false)
			      ? json_stringn_nocheck((const char *)kv[1], kn[1])
			      : k8s_bytes_note(kn[1]);
	if (!val || json_object_setn_new_nocheck(map, (const char *)kv[0], kn[0], val) != 0)
		w->nomem = true;
	return true;
}

/* Adds one map<K, V> entry ({1: key, 2: value}) to the JSON object at name. */
static bool k8s_put_map_entry(struct k8s_walk *w, json_t *obj, const ProtobufCFieldDescriptor *fd,
			      const uint8_t *p, size_t n, int depth)
{
	const ProtobufCMessageDescriptor *ed = fd->descriptor;
	if (ed->fields[0].type == PROTOBUF_C_TYPE_STRING &&
	    ed->fields[1].type == PROTOBUF_C_TYPE_STRING &&
	    k8s_put_string_map_entry(w, obj, fd->name, p, n))
		return true;
	json_t *entry = k8s_pb_message(w, ed, p, n, depth + 1, true);
	if (!entry)
		return false;
	json_t *key = json_object_get(entry, "key");
	json_t *val = json_object_get(entry, "value");
	const char *ks = json_is_string(key) ? json_string_value(key) : "";
	json_t *map = json_object_get(obj, fd->name);
	if (!json_is_object(map)) {
		map = json_object();
		if (!map || json_object_set_new_nocheck(obj, fd->name, map) != 0) {
			w->nomem = true;
			json_decref(entry);
			return true;
		}
	}
	if (!val) {
		/* an absent value is the type's zero value */
		const ProtobufCFieldDescriptor *vf = &ed->fields[1];
		val = vf->type == PROTOBUF_C_TYPE_STRING || vf->type == PROTOBUF_C_TYPE_BYTES ||
				      vf->type == PROTOBUF_C_TYPE_MESSAGE
			      ? json_string("")
			      : json_integer(0);
		if (!val || json_object_set_new(map, ks, val) != 0)
			w->nomem = true;
	} else if (json_object_set(map, ks, val) != 0) {
		w->nomem = true;
	}
	json_decref(entry);
	return true;
}

/* Records where a tolerant walk stopped: "#<field>" or "#truncated": "<N bytes>". */
static void k8s_mark_rest(struct k8s_walk *w, json_t *obj, uint32_t field, size_t left)
{
	char name[32], val[64];
	if (field)
		snprintf(name, sizeof name, "#%u", field);
	else
		snprintf(name, sizeof name, "#truncated");
	snprintf(val, sizeof val, "<truncated, %zu bytes>", left);
	json_t *s = json_string(val);
	if (!s || json_object_set_new(obj, name, s) != 0)
		w->nomem = true;
}

/* "#NUM", the name of a field the schema does not know. Hand-rolled: it runs for every
 * unknown field of every decoded value, and snprintf was a tenth of `trace --json` (perf).
 * Made only where a field is unknown (callgrind: 1% when made for every field). */
static const char *field_number_name(char buf[16], uint32_t num)
{
	char tmp[12];
	int n = 0;
	do {
		tmp[n++] = (char)('0' + num % 10);
		num /= 10;
	} while (num && n < (int)sizeof tmp);
	buf[0] = '#';
	for (int i = 0; i < n; i++)
		buf[1 + i] = tmp[n - 1 - i];
	buf[1 + n] = 0;
	return buf;
}

/* Decodes a length-delimited field into obj: schema message, map entry, packed scalars,
 * string or bytes; unknown ones are guessed. */
static enum k8s_field_rc k8s_pb_len_field(struct k8s_walk *w, json_t *obj,
					  const ProtobufCFieldDescriptor *fd, uint32_t num,
					  const uint8_t *p, size_t n, int depth, bool strict)
{
	char uname[16];
	bool repeated = fd && fd->label == PROTOBUF_C_LABEL_REPEATED;
	if (fd && k8s_wire_type(fd) == 2) {
		if (fd->type == PROTOBUF_C_TYPE_MESSAGE && k8s_is_map_entry(fd->descriptor)) {
			if (depth + 2 < K8S_MAX_DEPTH && k8s_put_map_entry(w, obj, fd, p, n, depth))
				return w->nomem ? K8S_FIELD_FAIL : K8S_FIELD_OK;
			if (strict || w->nomem)
				return K8S_FIELD_FAIL;
			k8s_put(w, obj, field_number_name(uname, num), k8s_guess_bytes(w, p, n, depth),
				false);
			return w->nomem ? K8S_FIELD_FAIL : K8S_FIELD_OK;
		}
		json_t *val = k8s_len_json(w, fd, p, n, depth, strict);
		if (!val)
			return K8S_FIELD_FAIL;
		k8s_put(w, obj, fd->name, val, repeated);
		return w->nomem ? K8S_FIELD_FAIL : K8S_FIELD_OK;
	}
	if (fd && repeated) {
		/* packed repeated scalars */
		struct rd pr;
		rd_init(&pr, p, n);
		int wt = k8s_wire_type(fd);
		while (rd_left(&pr) > 0) {
			uint64_t v = wt == 0 ? rd_varint(&pr) : rd_le32(&pr);
			if (wt == 1)
				v |= (uint64_t)rd_le32(&pr) << 32;
			if (pr.err)
				return strict ? K8S_FIELD_FAIL : K8S_FIELD_BAD;
			k8s_put(w, obj, fd->name, k8s_scalar_json(fd, v), true);
		}
		return w->nomem ? K8S_FIELD_FAIL : K8S_FIELD_OK;
	}
	/* not in the schema, or the wire type disagrees with it */
	k8s_put(w, obj, field_number_name(uname, num), k8s_guess_bytes(w, p, n, depth), false);
	return w->nomem ? K8S_FIELD_FAIL : K8S_FIELD_OK;
}

/* Reads and decodes the field at r into obj. */
enum k8s_field_rc k8s_pb_field(struct k8s_walk *w, const ProtobufCMessageDescriptor *d,
			       json_t *obj, struct rd *r, int depth, bool strict)
{
	uint64_t tag = rd_varint(r);
	uint64_t num = tag >> 3;
	unsigned wt = (unsigned)(tag & 7);
	/* field numbers are 1..2^29-1; groups (3, 4) and wire types 6, 7 do not occur */
	if (r->err || num == 0 || num > 0x1fffffff || (wt != 0 && wt != 1 && wt != 2 && wt != 5))
		return K8S_FIELD_BAD;
	if (strict && !d && num > K8S_PB_GUESS_MAX_FIELD)
		return K8S_FIELD_BAD;
	const ProtobufCFieldDescriptor *fd =
		d ? protobuf_c_message_descriptor_get_field(d, (unsigned)num) : NULL;

	if (wt == 2) {
		uint64_t len = rd_varint(r);
		if (r->err)
			return K8S_FIELD_BAD;
		if (len > rd_left(r)) {
			if (strict)
				return K8S_FIELD_BAD;
			/* cut short (a truncated capture): keep what there is of a schema message */
			size_t have = rd_left(r);
			if (fd && fd->type == PROTOBUF_C_TYPE_MESSAGE && !k8s_is_map_entry(fd->descriptor) &&
			    depth + 1 < K8S_MAX_DEPTH && have > 0) {
				json_t *part = k8s_pb_message(w, fd->descriptor, r->p, have, depth + 1, false);
				if (part) {
					k8s_mark_rest(w, part, 0, (size_t)len - have);
					k8s_put(w, obj, fd->name, part, fd->label == PROTOBUF_C_LABEL_REPEATED);
				}
			} else {
				k8s_mark_rest(w, obj, (uint32_t)num, (size_t)len - have);
			}
			return w->nomem ? K8S_FIELD_FAIL : K8S_FIELD_CUT;
		}
		const uint8_t *p = rd_bytes(r, (size_t)len);
		return k8s_pb_len_field(w, obj, fd, (uint32_t)num, p, (size_t)len, depth, strict);
	}

	uint64_t v;
	if (wt == 0) {
		v = rd_varint(r);
	} else if (wt == 1) {
		v = rd_le32(r);
		v |= (uint64_t)rd_le32(r) << 32;
	} else {
		v = rd_le32(r);
	}
	if (r->err)
		return K8S_FIELD_BAD;
	if (fd && (int)wt == k8s_wire_type(fd)) {
		k8s_put(w, obj, fd->name, k8s_scalar_json(fd, v),
			fd->label == PROTOBUF_C_LABEL_REPEATED);
	} else {
		char uname[16];
		k8s_put(w, obj, field_number_name(uname, (uint32_t)num), json_integer((json_int_t)v),
			false);
	}
	return w->nomem ? K8S_FIELD_FAIL : K8S_FIELD_OK;
}

/* Walks the protobuf fields of p[0..n) into a JSON object, naming fields from d (NULL:
 * all unknown). strict: any malformed byte makes the whole result NULL (used to guess
 * whether bytes are a message); otherwise what decodes is kept and the rest is marked
 * "#truncated". depth counts nesting; nothing descends past K8S_MAX_DEPTH. Caller owns
 * the result; NULL on failure (w->nomem tells out of memory apart). */
json_t *k8s_pb_message(struct k8s_walk *w, const ProtobufCMessageDescriptor *d, const uint8_t *p,
		       size_t n, int depth, bool strict)
{
	json_t *obj = json_object();
	if (!obj) {
		w->nomem = true;
		return NULL;
	}
	struct rd r;
	rd_init(&r, p, n);
	while (rd_left(&r) > 0) {
		const uint8_t *start = r.p;
		enum k8s_field_rc rc = k8s_pb_field(w, d, obj, &r, depth, strict);
		if (rc == K8S_FIELD_OK)
			continue;
		if (rc == K8S_FIELD_CUT)
			break;
		if (rc == K8S_FIELD_FAIL || strict) {
			json_decref(obj);
			return NULL;
		}
		k8s_mark_rest(w, obj, 0, (size_t)(r.end - start));
		break;
	}
	return obj;
}

/* Descriptor of the object's own message, GenericObject (metadata only) when unknown. */
const ProtobufCMessageDescriptor *k8s_desc_of(const char *api_version, const char *kind)
{
	for (size_t i = 0; i < sizeof k8s_kinds / sizeof k8s_kinds[0]; i++)
		if (strcmp(api_version, k8s_kinds[i].api_version) == 0 &&
		    strcmp(kind, k8s_kinds[i].kind) == 0)
			return k8s_kinds[i].desc;
	return &k8s__generic_object__descriptor;
}

/* Reads a string field of TypeMeta; "" when absent. */
static void k8s_typemeta(const uint8_t *p, size_t n, char *api_version, size_t av_cap, char *kind,
			 size_t kind_cap)
{
	struct rd r;
	rd_init(&r, p, n);
	while (rd_left(&r) > 0) {
		uint64_t tag = rd_varint(&r);
		if (r.err || (tag & 7) != 2)
			return;
		uint64_t len = rd_varint(&r);
		if (r.err || len > rd_left(&r))
			return;
		const uint8_t *s = rd_bytes(&r, (size_t)len);
		char *dst = tag >> 3 == 1 ? api_version : tag >> 3 == 2 ? kind : NULL;
		size_t cap = tag >> 3 == 1 ? av_cap : kind_cap;
		if (dst && len < cap && k8s_utf8_valid(s, (size_t)len, true)) {
			memcpy(dst, s, (size_t)len);
			dst[len] = '\0';
		}
	}
}

/* Decodes "k8s\0" + runtime.Unknown into out->obj. A truncated envelope still yields the
 * part of the object that is there. Returns 0, EE_NOMEM, or EE_MALFORMED (nothing usable). */
static int k8s_decode_protobuf(const uint8_t *v, size_t n, struct k8s_value *out)
{
	struct rd r;
	rd_init(&r, v + sizeof k8s_magic, n - sizeof k8s_magic);
	char api_version[128] = "", kind[128] = "";
	const uint8_t *raw = NULL;
	size_t raw_n = 0;
	size_t raw_missing = 0;
	bool raw_cut = false, seen_meta = false;
	while (rd_left(&r) > 0) {
		uint64_t tag = rd_varint(&r);
		if (r.err || (tag & 7) != 2)
			break;
		uint64_t len = rd_varint(&r);
		if (r.err)
			break;
		if (len > rd_left(&r)) {
			if (tag >> 3 == 2) {
				/* a capture that cut the value: decode what is there */
				raw = r.p;
				raw_n = rd_left(&r);
				raw_missing = (size_t)len - raw_n;
				raw_cut = true;
			}
			break;
		}
		const uint8_t *p = rd_bytes(&r, (size_t)len);
		if (tag >> 3 == 1) {
			k8s_typemeta(p, (size_t)len, api_version, sizeof api_version, kind, sizeof kind);
			seen_meta = true;
		} else if (tag >> 3 == 2) {
			raw = p;
			raw_n = (size_t)len;
		}
	}
	if (!seen_meta && !raw)
		return EE_MALFORMED;

	struct k8s_walk w = {false};
	json_t *obj = NULL;
	if (raw) {
		obj = k8s_pb_message(&w, k8s_desc_of(api_version, kind), raw, raw_n, 0, false);
		if (obj && raw_cut && !json_object_get(obj, "#truncated"))
			k8s_mark_rest(&w, obj, 0, raw_missing);
	} else {
		obj = json_object();
	}
	if (!obj || w.nomem) {
		json_decref(obj);
		return EE_NOMEM;
	}
	return k8s_protobuf_value(api_version, kind, obj, out);
}

/* See k8s_pb.h. */
int k8s_protobuf_value(const char *api_version, const char *kind, json_t *obj,
		       struct k8s_value *out)
{
	/* apiVersion and kind first, as in Kubernetes' JSON */
	json_t *top = json_object();
	if (!top || json_object_set_new(top, "apiVersion", json_string(api_version)) != 0 ||
	    json_object_set_new(top, "kind", json_string(kind)) != 0 ||
	    json_object_update(top, obj) != 0) {
		json_decref(top);
		json_decref(obj);
		return EE_NOMEM;
	}
	json_decref(obj);
	out->enc = K8S_ENC_PROTOBUF;
	out->obj = top;
	return 0;
}

/* See k8s_pb.h: the envelope walk of k8s_decode_protobuf, for whole values only. */
bool k8s_envelope(const uint8_t *v, size_t n, char *api_version, size_t av_cap, char *kind,
		  size_t kind_cap, const uint8_t **raw, size_t *raw_n)
{
	api_version[0] = kind[0] = '\0';
	*raw = NULL;
	*raw_n = 0;
	if (!v || n < sizeof k8s_magic || memcmp(v, k8s_magic, sizeof k8s_magic) != 0)
		return false;
	struct rd r;
	rd_init(&r, v + sizeof k8s_magic, n - sizeof k8s_magic);
	while (rd_left(&r) > 0) {
		uint64_t tag = rd_varint(&r);
		if (r.err || (tag & 7) != 2)
			return false;
		uint64_t len = rd_varint(&r);
		if (r.err || len > rd_left(&r))
			return false;
		const uint8_t *p = rd_bytes(&r, (size_t)len);
		if (tag >> 3 == 1) {
			k8s_typemeta(p, (size_t)len, api_version, av_cap, kind, kind_cap);
		} else if (tag >> 3 == 2) {
			*raw = p;
			*raw_n = (size_t)len;
		}
	}
	return *raw != NULL;
}

/* Splits "k8s:enc:<provider>:<version>:<key name>:" into provider and key name. */
static void k8s_decode_encrypted(const uint8_t *v, size_t n, struct k8s_value *out)
{
	size_t i = sizeof k8s_enc_magic - 1;
	char *dst[3] = {out->enc_provider, NULL, out->enc_key};
	size_t cap[3] = {sizeof out->enc_provider, 0, sizeof out->enc_key};
	for (int part = 0; part < 3 && i < n; part++) {
		size_t o = 0;
		while (i < n && v[i] != ':') {
			if (dst[part] && o + 1 < cap[part])
				dst[part][o++] = isprint(v[i]) ? (char)v[i] : '?';
			i++;
		}
		if (dst[part])
			dst[part][o] = '\0';
		i++; /* the ':' */
	}
	out->enc = K8S_ENC_ENCRYPTED;
}

/* Fills the printable preview of an opaque value. */
static void k8s_preview(const uint8_t *v, size_t n, struct k8s_value *out)
{
	size_t o = 0;
	for (size_t i = 0; i < n && o + 1 < sizeof out->preview; i++)
		out->preview[o++] = v[i] >= 0x20 && v[i] < 0x7f ? (char)v[i] : '.';
	out->preview[o] = '\0';
}

/* Decodes an etcd value; see src/k8s.h. */
int k8s_value_decode(const uint8_t *v, size_t n, struct k8s_value *out)
{
	memset(out, 0, sizeof *out);
	out->size = n;
	out->api_version = "";
	out->kind = "";
	if (!v)
		n = 0;
	if (n >= sizeof k8s_magic && memcmp(v, k8s_magic, sizeof k8s_magic) == 0) {
		int rc = k8s_decode_protobuf(v, n, out);
		if (rc == EE_NOMEM)
			return rc;
	} else if (n >= sizeof k8s_enc_magic - 1 &&
		   memcmp(v, k8s_enc_magic, sizeof k8s_enc_magic - 1) == 0) {
		k8s_decode_encrypted(v, n, out);
		return 0;
	} else {
		size_t i = 0;
		while (i < n && (v[i] == ' ' || v[i] == '\t' || v[i] == '\n' || v[i] == '\r'))
			i++;
		if (i < n && v[i] == '{') {
			json_t *j = k8s_json_load(v, n, K8S_MAX_DEPTH);
			if (json_is_object(j)) {
				out->enc = K8S_ENC_JSON;
				out->obj = j;
			} else {
				json_decref(j);
			}
		}
	}
	if (!out->obj) {
		out->enc = K8S_ENC_BYTES;
		k8s_preview(v, n, out);
		return 0;
	}
	k8s_value_names(out);
	return 0;
}

/* See k8s_pb.h. */
void k8s_value_names(struct k8s_value *v)
{
	const char *av = json_string_value(json_object_get(v->obj, "apiVersion"));
	const char *kind = json_string_value(json_object_get(v->obj, "kind"));
	v->api_version = av ? av : "";
	v->kind = kind ? kind : "";
	const json_t *md = json_object_get(v->obj, "metadata");
	v->uid = json_string_value(json_object_get(md, "uid"));
	const json_t *gen = json_object_get(md, "generation");
	v->has_generation = json_is_integer(gen);
	v->generation = v->has_generation ? (int64_t)json_integer_value(gen) : 0;
}

/* Decodes into an arena; see src/k8s.h. */
int k8s_value_decode_arena(const uint8_t *v, size_t n, bool redact, struct k8s_value *out)
{
	struct k8s_arena *a = pool_calloc(sizeof *a);
	if (!a) {
		memset(out, 0, sizeof *out);
		return EE_NOMEM;
	}
	a->refs = 1;
	/* the tree takes a few times the value's bytes: one block for most values; from
	 * 16 KiB values on, blocks start at 256 KiB and double (a 16 MiB value asked for a
	 * 256 MiB block at once, and registered its 65 536 pages) */
	a->next_cap = n < (16u << 10) ? 16 * n + 2048 : 256u << 10;
	k8s_arena_active = a;
	int rc = k8s_value_decode(v, n, out);
	if (rc == 0 && out->obj && redact)
		k8s_redact_secrets(out->obj);
	k8s_arena_active = NULL;
	if (rc != 0 || !out->obj) {
		/* nothing of the arena is referenced (BYTES, ENCRYPTED, or a failure) */
		out->obj = NULL;
		k8s_arena_release(a);
		return rc;
	}
	out->arena = a;
	return 0;
}

void k8s_value_ref(const struct k8s_value *v, struct k8s_value *out)
{
	*out = *v;
	if (v->arena)
		v->arena->refs++;
	else
		json_incref(v->obj);
}

size_t k8s_value_mem(const struct k8s_value *v)
{
	size_t n = 0;
	if (v->arena)
		for (const struct k8s_arena_block *b = v->arena->blocks; b; b = b->next)
			n += b->cap;
	return n;
}

/* Releases the tree; the struct may be decoded into again. */
void k8s_value_free(struct k8s_value *v)
{
	if (!v)
		return;
	if (v->arena)
		k8s_arena_release(v->arena); /* the whole tree at once, no walk */
	else
		json_decref(v->obj);
	v->arena = NULL;
	v->obj = NULL;
	v->api_version = "";
	v->kind = "";
	v->uid = NULL;
	v->has_generation = false;
	v->generation = 0;
}

/* Byte length of base64 text (padding and whitespace not counted). */
static size_t k8s_base64_len(const char *s)
{
	size_t chars = 0;
	for (; *s; s++)
		if (isalnum((unsigned char)*s) || *s == '+' || *s == '/' || *s == '-' || *s == '_')
			chars++;
	return chars / 4 * 3 + (chars % 4 == 3 ? 2 : chars % 4 == 2 ? 1 : 0);
}

/* Replaces every value of obj[field] by "<redacted N bytes>". */
static void k8s_redact_map(json_t *obj, const char *field, bool base64)
{
	json_t *map = json_object_get(obj, field);
	const char *k;
	json_t *val;
	json_object_foreach(map, k, val) {
		char buf[64];
		if (json_is_string(val))
			snprintf(buf, sizeof buf, "<redacted %zu bytes>",
				 base64 ? k8s_base64_len(json_string_value(val))
					: json_string_length(val));
		else
			snprintf(buf, sizeof buf, "<redacted>");
		json_object_set_new(map, k, json_string(buf));
	}
}

/* Secret redaction (see src/k8s.h). Also the last-applied-configuration annotation, which
 * kubectl apply fills with the whole Secret, data included. */
void k8s_redact_secrets(json_t *obj)
{
	if (!json_is_object(obj))
		return;
	const char *kind = json_string_value(json_object_get(obj, "kind"));
	const char *av = json_string_value(json_object_get(obj, "apiVersion"));
	if (!kind || !av || strcmp(kind, "Secret") != 0 || strcmp(av, "v1") != 0)
		return;
	k8s_redact_map(obj, "data", true);
	k8s_redact_map(obj, "stringData", false);
	json_t *ann = json_object_get(json_object_get(obj, "metadata"), "annotations");
	const char *lac = "kubectl.kubernetes.io/last-applied-configuration";
	json_t *val = json_object_get(ann, lac);
	if (json_is_string(val)) {
		char buf[64];
		snprintf(buf, sizeof buf, "<redacted %zu bytes>", json_string_length(val));
		json_object_set_new(ann, lac, json_string(buf));
	}
}
