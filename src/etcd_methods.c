/* etcd_methods.c: the etcd v3 method table (gRPC path -> service, method, protobuf-c
 * descriptors) and message decoding, part of the etcd stage (DESIGN.md "etcd").
 * Paths and message types come from etcd's api/etcdserverpb/rpc.proto service blocks. */
#include <stdlib.h>
#include <string.h>

#include <protobuf-c/protobuf-c.h>

#include "etcd.h"
#include "pb_fast.h"
#include "rd.h"

/* Txn ops nest Txns (RequestOp.request_txn); protobuf-c unpacks recursively without a depth
 * limit, so a crafted message could exhaust the stack. etcd itself caps a txn's ops at 128
 * (--max-txn-ops); 32 levels of nesting is far beyond any real client. */
#define ETCD_MAX_NESTING 32

#define D(x) (&etcdserverpb__##x##__descriptor)

/* Indexed by enum etcd_method. Auth requests and responses use the reduced messages of
 * proto/rpc.proto whose field 1 matches the real one; passwords and tokens stay undecoded. */
static const struct etcd_method_info methods[EM__COUNT] = {
	[EM_UNKNOWN] = {EM_UNKNOWN, ES_UNKNOWN, "?", "Unknown", "", NULL, NULL, false, false},
#define M(e, svc, sname, name, rq, rs, cs, ss)                                                     \
	[e] = {e, svc, sname, name, "/etcdserverpb." sname "/" name, D(rq), D(rs), cs, ss}
	M(EM_RANGE, ES_KV, "KV", "Range", range_request, range_response, false, false),
	M(EM_PUT, ES_KV, "KV", "Put", put_request, put_response, false, false),
	M(EM_DELETE_RANGE, ES_KV, "KV", "DeleteRange", delete_range_request, delete_range_response,
	  false, false),
	M(EM_TXN, ES_KV, "KV", "Txn", txn_request, txn_response, false, false),
	M(EM_COMPACT, ES_KV, "KV", "Compact", compaction_request, compaction_response, false, false),
	M(EM_WATCH, ES_WATCH, "Watch", "Watch", watch_request, watch_response, true, true),
	M(EM_LEASE_GRANT, ES_LEASE, "Lease", "LeaseGrant", lease_grant_request, lease_grant_response,
	  false, false),
	M(EM_LEASE_REVOKE, ES_LEASE, "Lease", "LeaseRevoke", lease_revoke_request,
	  lease_revoke_response, false, false),
	M(EM_LEASE_KEEPALIVE, ES_LEASE, "Lease", "LeaseKeepAlive", lease_keep_alive_request,
	  lease_keep_alive_response, true, true),
	M(EM_LEASE_TIME_TO_LIVE, ES_LEASE, "Lease", "LeaseTimeToLive", lease_time_to_live_request,
	  lease_time_to_live_response, false, false),
	M(EM_LEASE_LEASES, ES_LEASE, "Lease", "LeaseLeases", lease_leases_request,
	  lease_leases_response, false, false),
	M(EM_MEMBER_ADD, ES_CLUSTER, "Cluster", "MemberAdd", member_add_request, member_add_response,
	  false, false),
	M(EM_MEMBER_REMOVE, ES_CLUSTER, "Cluster", "MemberRemove", member_remove_request,
	  member_remove_response, false, false),
	M(EM_MEMBER_UPDATE, ES_CLUSTER, "Cluster", "MemberUpdate", member_update_request,
	  member_update_response, false, false),
	M(EM_MEMBER_LIST, ES_CLUSTER, "Cluster", "MemberList", member_list_request,
	  member_list_response, false, false),
	M(EM_MEMBER_PROMOTE, ES_CLUSTER, "Cluster", "MemberPromote", member_promote_request,
	  member_promote_response, false, false),
	M(EM_ALARM, ES_MAINTENANCE, "Maintenance", "Alarm", alarm_request, alarm_response, false,
	  false),
	M(EM_STATUS, ES_MAINTENANCE, "Maintenance", "Status", status_request, status_response, false,
	  false),
	M(EM_DEFRAGMENT, ES_MAINTENANCE, "Maintenance", "Defragment", defragment_request,
	  defragment_response, false, false),
	M(EM_HASH, ES_MAINTENANCE, "Maintenance", "Hash", hash_request, hash_response, false, false),
	M(EM_HASH_KV, ES_MAINTENANCE, "Maintenance", "HashKV", hash_kvrequest, hash_kvresponse, false,
	  false),
	M(EM_SNAPSHOT, ES_MAINTENANCE, "Maintenance", "Snapshot", snapshot_request, snapshot_response,
	  false, true),
	M(EM_MOVE_LEADER, ES_MAINTENANCE, "Maintenance", "MoveLeader", move_leader_request,
	  move_leader_response, false, false),
	M(EM_DOWNGRADE, ES_MAINTENANCE, "Maintenance", "Downgrade", downgrade_request,
	  downgrade_response, false, false),
	M(EM_AUTH_ENABLE, ES_AUTH, "Auth", "AuthEnable", auth_empty_request, auth_header_response,
	  false, false),
	M(EM_AUTH_DISABLE, ES_AUTH, "Auth", "AuthDisable", auth_empty_request, auth_header_response,
	  false, false),
	M(EM_AUTH_STATUS, ES_AUTH, "Auth", "AuthStatus", auth_empty_request, auth_status_response,
	  false, false),
	/* AuthenticateRequest {name 1, password 2}; AuthenticateResponse {header 1, token 2}. */
	M(EM_AUTHENTICATE, ES_AUTH, "Auth", "Authenticate", auth_name_request, auth_header_response,
	  false, false),
	M(EM_USER_ADD, ES_AUTH, "Auth", "UserAdd", auth_name_request, auth_header_response, false,
	  false),
	/* AuthUserGetResponse {header 1, repeated string roles 2}. */
	M(EM_USER_GET, ES_AUTH, "Auth", "UserGet", auth_name_request, auth_list_response, false,
	  false),
	M(EM_USER_LIST, ES_AUTH, "Auth", "UserList", auth_empty_request, auth_list_response, false,
	  false),
	M(EM_USER_DELETE, ES_AUTH, "Auth", "UserDelete", auth_name_request, auth_header_response,
	  false, false),
	M(EM_USER_CHANGE_PASSWORD, ES_AUTH, "Auth", "UserChangePassword", auth_name_request,
	  auth_header_response, false, false),
	M(EM_USER_GRANT_ROLE, ES_AUTH, "Auth", "UserGrantRole", auth_user_role_request,
	  auth_header_response, false, false),
	M(EM_USER_REVOKE_ROLE, ES_AUTH, "Auth", "UserRevokeRole", auth_user_role_request,
	  auth_header_response, false, false),
	M(EM_ROLE_ADD, ES_AUTH, "Auth", "RoleAdd", auth_name_request, auth_header_response, false,
	  false),
	/* AuthRoleGetResponse's field 2 is repeated authpb.Permission (messages, not strings). */
	M(EM_ROLE_GET, ES_AUTH, "Auth", "RoleGet", auth_role_request, auth_header_response, false,
	  false),
	M(EM_ROLE_LIST, ES_AUTH, "Auth", "RoleList", auth_empty_request, auth_list_response, false,
	  false),
	M(EM_ROLE_DELETE, ES_AUTH, "Auth", "RoleDelete", auth_role_request, auth_header_response,
	  false, false),
	M(EM_ROLE_GRANT_PERMISSION, ES_AUTH, "Auth", "RoleGrantPermission", auth_name_request,
	  auth_header_response, false, false),
	M(EM_ROLE_REVOKE_PERMISSION, ES_AUTH, "Auth", "RoleRevokePermission", auth_role_request,
	  auth_header_response, false, false),
#undef M
};

/* Returns the table entry of m (the EM_UNKNOWN entry for out-of-range values). */
const struct etcd_method_info *etcd_method_info(enum etcd_method m)
{
	if ((unsigned)m >= EM__COUNT)
		return &methods[EM_UNKNOWN];
	return &methods[m];
}

/* Finds the method whose name is the n bytes at p within service svc. */
static const struct etcd_method_info *method_find(enum etcd_service svc, const char *p, size_t n)
{
	for (int m = 1; m < EM__COUNT; m++) {
		if (methods[m].service != svc)
			continue;
		const char *name = methods[m].name;
		if (strlen(name) == n && memcmp(name, p, n) == 0)
			return &methods[m];
	}
	return NULL;
}

/* Maps "/etcdserverpb.<Service>/<Method>" to its entry; NULL for anything else (other gRPC
 * services on the same port: health, v3lock, v3election, ...). Called once per stream. */
const struct etcd_method_info *etcd_method_by_path(const char *path, size_t len)
{
	static const char pfx[] = "/etcdserverpb.";
	static const struct {
		const char *name;
		size_t len;
		enum etcd_service svc;
	} svcs[] = {
		{"KV/", 3, ES_KV},
		{"Watch/", 6, ES_WATCH},
		{"Lease/", 6, ES_LEASE},
		{"Cluster/", 8, ES_CLUSTER},
		{"Maintenance/", 12, ES_MAINTENANCE},
		{"Auth/", 5, ES_AUTH},
	};
	const size_t pl = sizeof(pfx) - 1;

	if (!path || len <= pl || memcmp(path, pfx, pl) != 0)
		return NULL;
	const char *rest = path + pl;
	size_t rn = len - pl;
	for (size_t i = 0; i < sizeof(svcs) / sizeof(svcs[0]); i++) {
		if (rn > svcs[i].len && memcmp(rest, svcs[i].name, svcs[i].len) == 0)
			return method_find(svcs[i].svc, rest + svcs[i].len, rn - svcs[i].len);
	}
	return NULL;
}

/* The messages of etcd's schema that contain themselves: TxnRequest -> RequestOp ->
 * TxnRequest (request_txn), and the same for responses. Every other message has a fixed,
 * small depth, so only these need to be walked. */
static bool txn_cycle(const ProtobufCMessageDescriptor *d)
{
	return d == &etcdserverpb__txn_request__descriptor ||
	       d == &etcdserverpb__request_op__descriptor ||
	       d == &etcdserverpb__txn_response__descriptor ||
	       d == &etcdserverpb__response_op__descriptor;
}

/* True unless a message field nests deeper than ETCD_MAX_NESTING. Malformed bytes pass:
 * protobuf-c rejects them itself. Only the Txn cycle is walked (txn_cycle): nesting
 * elsewhere is bounded by the schema. */
static bool nesting_ok(const ProtobufCMessageDescriptor *d, const uint8_t *p, size_t n, int depth)
{
	struct rd r;

	if (depth > ETCD_MAX_NESTING)
		return false;
	rd_init(&r, p, n);
	while (rd_left(&r) > 0) {
		uint64_t tag;
		const uint8_t *b;
		size_t len;
		if (!rd_pb_field(&r, &tag, &b, &len))
			return true;
		if ((tag & 7) == 2) {
			const ProtobufCFieldDescriptor *fd =
				tag >> 3 <= 0xffffffffu
					? protobuf_c_message_descriptor_get_field(d, (unsigned)(tag >> 3))
					: NULL;
			if (fd && fd->type == PROTOBUF_C_TYPE_MESSAGE && txn_cycle(fd->descriptor) &&
			    !nesting_ok(fd->descriptor, b, len, depth + 1))
				return false;
		}
	}
	return true;
}

/* Decodes with the request (C2S) or response (S2C) descriptor of m. The result is owned by
 * alloc: with an arena, reset the arena; with NULL, protobuf_c_message_free_unpacked. */
void *etcd_message_decode(enum etcd_method m, enum tcp_dir dir, const uint8_t *p, size_t n,
			  struct ProtobufCAllocator *alloc)
{
	const struct etcd_method_info *mi = etcd_method_info(m);
	const ProtobufCMessageDescriptor *d = dir == TCP_C2S ? mi->req : mi->resp;

	if (!d || (!p && n))
		return NULL;
	static const uint8_t empty[1];
	if (!p)
		p = empty;
	/* EE_PB_SLOW=1 (any value but "" and "0") keeps protobuf-c for everything, to compare. */
	static int slow = -1;
	if (slow < 0) {
		const char *e = getenv("EE_PB_SLOW");
		slow = e && *e && strcmp(e, "0") != 0;
	}
	if (!slow) {
		/* pb_fast gives back what it allocated before a refusal (FALLBACK; the arena's
		 * budget too, pb_fast_set_budget), so protobuf-c below starts from the same
		 * allocator state; TOO_DEEP is nesting_ok's refusal. */
		ProtobufCMessage *out;
		int rc = pb_fast_decode(d, p, n, alloc, ETCD_MAX_NESTING, &out);
		if (rc == PB_FAST_OK)
			return out;
		if (rc != PB_FAST_FALLBACK)
			return NULL;
	}
	if (m == EM_TXN && !nesting_ok(d, p, n, 0))
		return NULL;
	return protobuf_c_message_unpack(d, alloc, n, p);
}
