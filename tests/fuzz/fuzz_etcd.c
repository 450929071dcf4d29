/* fuzz_etcd.c: libFuzzer target for the etcd stage.
 * Mode A (first byte < 0x80): the byte picks a method (bits 1..6) and a direction (bit 0);
 * the rest goes to etcd_message_decode and etcd_method_infer.
 * Mode B (first byte >= 0x80): the rest is a sequence of chunks [dir|len:1][bytes:len] fed
 * through a whole connection (grpc, h2, hpack, etcd); bit 0 = handshake seen, bit 1 = send
 * the client preface first so the fuzzer starts past it. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <protobuf-c/protobuf-c.h>

#include "etcd.h"

static uint64_t sink_count;

static void sink(void *ctx, const struct etcd_record *r)
{
	/* Touch what printers read, so sanitizers see bad pointers. */
	sink_count += r->c.kind;
	if (r->c.kind == REC_RPC)
		sink_count += strlen(r->u.rpc.m->name) + strlen(r->u.rpc.status_message);
	else if (r->c.kind == REC_WATCH_EVENT)
		sink_count += r->u.ev.kv->key.len + (r->u.ev.range->key_len ? r->u.ev.range->key[0] : 0);
	else if (r->c.kind == REC_WRITE && r->u.write.key_len)
		sink_count += r->u.write.key[r->u.write.key_len - 1];
	else if (r->c.kind == REC_NOTICE)
		sink_count += strlen(r->u.notice.what) + strlen(r->u.notice.detail);
}

static void fuzz_message(uint8_t sel, const uint8_t *p, size_t n)
{
	enum etcd_method m = (enum etcd_method)((sel >> 1) % EM__COUNT);
	enum tcp_dir dir = (sel & 1) ? TCP_S2C : TCP_C2S;
	ProtobufCMessage *msg = etcd_message_decode(m, dir, p, n, NULL);
	if (msg)
		protobuf_c_message_free_unpacked(msg, NULL);
	int conf = -1;
	enum etcd_method g = etcd_method_infer(dir, p, n, &conf);
	if ((unsigned)g >= EM__COUNT || conf < 0 || conf > 100)
		abort();
}

static void fuzz_conn(uint8_t sel, const uint8_t *p, size_t n)
{
	static const char preface[] = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
	struct etcd_sink sk = {NULL, sink};
	struct etcd_decoder *d = etcd_decoder_new(&sk);
	struct tcp_conn_info ci;
	memset(&ci, 0, sizeof(ci));
	ci.id = 1;
	ci.saw_syn = sel & 1;
	strcpy(ci.name, "10.0.0.1:40000-10.0.0.2:2379");
	struct etcd_conn *c = etcd_conn_open(d, &ci, 1);
	ee_ts ts = 10;
	if (sel & 2)
		etcd_conn_data(c, TCP_C2S, (const uint8_t *)preface, sizeof(preface) - 1, ts);
	size_t i = 0;
	while (i < n) {
		uint8_t h = p[i++];
		size_t len = h & 0x7f;
		if (len > n - i)
			len = n - i;
		enum tcp_dir dir = (h & 0x80) ? TCP_S2C : TCP_C2S;
		if (len == 0)
			etcd_conn_gap(c, dir, 17, ts);
		else
			etcd_conn_data(c, dir, p + i, len, ts);
		i += len;
		ts += 7;
	}
	etcd_conn_close(c, TCP_CLOSE_END, ts);
	struct etcd_stats st;
	etcd_decoder_get_stats(d, &st);
	etcd_decoder_free(d);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return 0;
	if (data[0] & 0x80)
		fuzz_conn(data[0], data + 1, size - 1);
	else
		fuzz_message(data[0], data + 1, size - 1);
	return 0;
}
