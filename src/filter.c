/* filter.c: the trace/watch/writes filters (--resource, --namespace, --name, --manager,
 * --key-prefix, --writes, --no-housekeeping). */
#include <string.h>

#include "app.h"

const uint8_t *app_record_key(const struct etcd_record *r, size_t *len)
{
	switch (r->c.kind) {
	case REC_WRITE: *len = r->u.write.key_len; return r->u.write.key;
	case REC_WATCH_EVENT: *len = r->u.ev.kv->key.len; return r->u.ev.kv->key.data;
	case REC_WATCH: *len = r->u.watch.range.key_len; return r->u.watch.range.key;
	case REC_RPC: {
		const struct rec_rpc *rpc = &r->u.rpc;
		const void *q = rpc->req;
		if (!q)
			return NULL;
		/* Range, Put and DeleteRange requests all have the key as field 1. */
		switch (rpc->m->method) {
		case EM_RANGE: *len = ((const Etcdserverpb__RangeRequest *)q)->key.len;
			return ((const Etcdserverpb__RangeRequest *)q)->key.data;
		case EM_PUT: *len = ((const Etcdserverpb__PutRequest *)q)->key.len;
			return ((const Etcdserverpb__PutRequest *)q)->key.data;
		case EM_DELETE_RANGE: *len = ((const Etcdserverpb__DeleteRangeRequest *)q)->key.len;
			return ((const Etcdserverpb__DeleteRangeRequest *)q)->key.data;
		case EM_TXN: {
			const Etcdserverpb__TxnRequest *t = q;
			if (!t->n_compare)
				return NULL;
			*len = t->compare[0]->key.len;
			return t->compare[0]->key.data;
		}
		default: return NULL;
		}
	}
	default: return NULL;
	}
}

bool app_filter_pass(const struct app *a, const struct etcd_record *r, const struct meaning *m)
{
	const struct cli_opts *o = a->o;
	if (o->writes_only && r->c.kind != REC_WRITE &&
	    !(r->c.kind == REC_RPC && (r->u.rpc.m->method == EM_PUT || r->u.rpc.m->method == EM_TXN ||
				      r->u.rpc.m->method == EM_DELETE_RANGE) && r->u.rpc.status != 0))
		return false;
	if (o->hide_housekeeping && m && m->housekeeping)
		return false;
	if (o->f_key_prefix) {
		size_t len = 0, pl = strlen(o->f_key_prefix);
		const uint8_t *k = app_record_key(r, &len);
		if (!k || len < pl || memcmp(k, o->f_key_prefix, pl))
			return false;
	}
	bool needs_key = o->f_resource || o->f_namespace || o->f_name;
	if (needs_key) {
		if (!m || !m->has_key)
			return false;
		if (o->f_resource && strcmp(m->key.resource, o->f_resource) &&
		    !(m->key.group[0] && !strncmp(o->f_resource, m->key.resource, strlen(m->key.resource)) &&
		      o->f_resource[strlen(m->key.resource)] == '.' &&
		      !strcmp(o->f_resource + strlen(m->key.resource) + 1, m->key.group)))
			return false;
		if (o->f_namespace && strcmp(m->key.ns, o->f_namespace))
			return false;
		if (o->f_name && strcmp(m->key.name, o->f_name))
			return false;
	}
	if (o->f_manager) {
		if (!m || !m->has_writer || !m->writer.manager || strcmp(m->writer.manager, o->f_manager))
			return false;
	}
	return true;
}
