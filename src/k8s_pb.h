/* k8s_pb.h: the protobuf walk of k8s_value.c shared with k8s_sparse.c (k8s stage,
 * DESIGN.md "k8s"). Internal to those two files: everything else uses k8s.h.
 *
 * The walk turns protobuf fields into jansson nodes with Kubernetes names (k8s_value.c);
 * k8s_sparse.c calls the same field decoder on the fields of two versions of an object
 * that differ, so that what it builds is, field for field, what the full decoding builds. */
#ifndef EE_K8S_PB_H
#define EE_K8S_PB_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "k8s.h"
#include "k8s.pb-c.h"
#include "rd.h"

/* One walk: the allocation failure flag travels with it. */
struct k8s_walk {
	bool nomem;
};

/* Result of decoding one field. */
enum k8s_field_rc {
	K8S_FIELD_OK,
	K8S_FIELD_BAD,  /* malformed at this field: the message stops here */
	K8S_FIELD_CUT,  /* a length runs past the end: handled, the message stops here */
	K8S_FIELD_FAIL, /* out of memory, or a strict walk met bad bytes below */
};

/* Walks the protobuf fields of p[0..n) into a new JSON object (see k8s_value.c). */
json_t *k8s_pb_message(struct k8s_walk *w, const ProtobufCMessageDescriptor *d, const uint8_t *p,
		       size_t n, int depth, bool strict);

/* Reads the field at r (tag included) and decodes it into obj, a message of type d at depth. */
enum k8s_field_rc k8s_pb_field(struct k8s_walk *w, const ProtobufCMessageDescriptor *d,
			       json_t *obj, struct rd *r, int depth, bool strict);

/* The JSON value of one length-delimited value of schema field fd (string, bytes, message). */
json_t *k8s_len_json(struct k8s_walk *w, const ProtobufCFieldDescriptor *fd, const uint8_t *p,
		     size_t n, int depth, bool strict);

/* True for the entry message protoc-c generates for a map<K, V> field. */
bool k8s_is_map_entry(const ProtobufCMessageDescriptor *d);

/* True for the messages rendered specially (Time, MicroTime, Quantity, IntOrString,
 * FieldsV1, RawExtension): their JSON is not an object of their fields. */
bool k8s_is_special(const ProtobufCMessageDescriptor *d);

/* A map<string, string> entry ({1: key, 2: value}, the last of each kept, "" when absent)
 * into kv[0], kv[1]. False when it holds anything else, or the key is not UTF-8: the
 * walk then decodes the entry as a message. */
bool k8s_string_entry(const uint8_t *p, size_t n, const uint8_t *kv[2], size_t kn[2]);

/* True when p[0..n) is valid UTF-8 (printable: no control characters either). */
bool k8s_utf8_valid(const uint8_t *p, size_t n, bool printable);

/* A whole "k8s\0" envelope: TypeMeta (apiVersion, kind; "" when absent) and the raw
 * object. False when v is not one, or the raw object is missing or cut short. */
bool k8s_envelope(const uint8_t *v, size_t n, char *api_version, size_t av_cap, char *kind,
		  size_t kind_cap, const uint8_t **raw, size_t *raw_n);

/* Descriptor of the object's own message, GenericObject (metadata only) when unknown. */
const ProtobufCMessageDescriptor *k8s_desc_of(const char *api_version, const char *kind);

/* Makes out a protobuf value from the walked object obj (stolen): apiVersion and kind
 * first, as in Kubernetes' JSON. Returns 0 or EE_NOMEM (obj released). */
int k8s_protobuf_value(const char *api_version, const char *kind, json_t *obj,
		       struct k8s_value *out);

/* Fills v's api_version, kind, uid and generation from v->obj (read by the printers for
 * every record: looked up once, when the value is decoded). */
void k8s_value_names(struct k8s_value *v);

/* Arenas (k8s_value.c): jansson nodes made between k8s_arena_begin and k8s_arena_end are
 * carved from the arena; first: the size of its first block. k8s_arena_take gives v a
 * reference to a (v->arena; k8s_value_free drops it); k8s_arena_drop releases an arena
 * that no value took (and does nothing to one that was taken). */
struct k8s_arena *k8s_arena_begin(size_t first);
void k8s_arena_end(void);
void k8s_arena_take(struct k8s_arena *a, struct k8s_value *v);
void k8s_arena_drop(struct k8s_arena *a);

#endif
