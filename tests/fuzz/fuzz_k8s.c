/* fuzz_k8s.c: libFuzzer target of the k8s stage: the input as an etcd value (decode,
 * diff against itself and a fixed object, writer, redaction; also decoded into an arena as
 * the trace path does) and as a key / range. */
#include <stdint.h>
#include <string.h>

#include "k8s.h"

/* A small fixed object to diff against (a Deployment-like tree). */
static json_t *fuzz_fixed(void)
{
	static json_t *fixed;
	if (!fixed) {
		json_error_t e;
		fixed = json_loads("{\"apiVersion\":\"apps/v1\",\"kind\":\"Deployment\","
				   "\"metadata\":{\"name\":\"web\",\"generation\":2,\"labels\":{\"a\":\"b\"},"
				   "\"managedFields\":[{\"manager\":\"m\",\"operation\":\"Update\","
				   "\"time\":\"2024-01-01T00:00:00Z\"}]},"
				   "\"spec\":{\"replicas\":3,\"template\":{\"spec\":{\"containers\":"
				   "[{\"name\":\"c\",\"image\":\"i\"}]}}},\"#2\":{\"#1\":\"x\"}}",
				   0, &e);
	}
	return fixed;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct k8s_value v;
	if (k8s_value_decode(data, size, &v) == 0) {
		json_t *d = k8s_diff(v.obj, v.obj, K8S_DIFF_NOISE);
		if (v.obj && json_array_size(d) != 0)
			__builtin_trap(); /* a tree must equal itself */
		json_decref(d);
		d = k8s_diff(fuzz_fixed(), v.obj, 0);
		json_decref(d);
		d = k8s_diff(v.obj, fuzz_fixed(), K8S_DIFF_NOISE);
		json_decref(d);
		struct k8s_writer w;
		(void)k8s_writer_of(v.obj, fuzz_fixed(), &w);
		(void)k8s_writer_of(v.obj, NULL, &w);
		(void)k8s_generation_bumped(fuzz_fixed(), v.obj);
		k8s_redact_secrets(v.obj);
		k8s_value_free(&v);
	}

	/* the arena decoding the trace path uses (objcache), with redaction, and a second
	 * reference outliving the first */
	struct k8s_value va, vb;
	if (k8s_value_decode_arena(data, size, true, &va) == 0) {
		k8s_value_ref(&va, &vb);
		json_t *d = k8s_diff(fuzz_fixed(), va.obj, 0);
		json_decref(d);
		struct k8s_writer w;
		(void)k8s_writer_of(va.obj, fuzz_fixed(), &w);
		(void)k8s_value_mem(&va);
		k8s_value_free(&va);
		d = k8s_diff(vb.obj, vb.obj, K8S_DIFF_NOISE);
		if (vb.obj && json_array_size(d) != 0)
			__builtin_trap();
		json_decref(d);
		k8s_value_free(&vb);
	}

	struct k8s_key k;
	(void)k8s_key_parse(data, size, NULL, 0, "/registry", &k);
	/* split the input into key and range end at the first 0xff byte */
	const uint8_t *sep = memchr(data, 0xff, size);
	if (sep)
		(void)k8s_key_parse(data, (size_t)(sep - data), sep + 1, size - (size_t)(sep - data) - 1,
				    "/registry", &k);
	return 0;
}
