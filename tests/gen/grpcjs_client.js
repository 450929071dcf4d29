#!/usr/bin/env node
// grpcjs_client.js: drive an etcd through @grpc/grpc-js (Node's http2 + nghttp2: a third
// gRPC client stack besides grpc-go and grpc C-core) and print one truth record (JSON) a
// line on stdout for every operation, in the format of tests/gen/harness.py PyOps, with
// "client": "grpc-js".  tests/gen/gen_grpcjs.py runs it under a capture and files the lines.
//
// Usage: NODE_PATH=DIR/node_modules node tests/gen/grpcjs_client.js HOST:PORT
// The project's proto/ has messages only, so the etcd services are written into a temp dir
// at run time (as scripts/bench.sh does for tshark).  All calls share ONE channel.
'use strict';

const path = require('path');
const grpc = require('@grpc/grpc-js');
const protoLoader = require('@grpc/proto-loader');

const target = process.argv[2];
if (!target) {
	process.stderr.write('usage: grpcjs_client.js HOST:PORT\n');
	process.exit(2);
}
const PROTO = path.resolve(__dirname, '..', '..', 'proto');
const BIG = 100 * 1024;    // > 64 KB: many DATA frames and flow-control windows


// ---- truth output ------------------------------------------------------------------------

// int64 fields arrive as decimal strings (longs: String); lease and member ids exceed 2^53,
// so they are printed as exact JSON integers through BigInt rather than as JS numbers.
function big(s) {
	return BigInt(s);
}

function keyFields(buf, name) {
	const b = Buffer.from(buf);
	const s = b.toString('utf8');
	if (Buffer.from(s, 'utf8').equals(b))
		return { [name]: s };
	return { [name + '_b64']: b.toString('base64') };
}

function emit(op, fields) {
	const rec = { op: op, client: 'grpc-js' };
	for (const [k, v] of Object.entries(fields)) {
		if (v === null || v === undefined)
			continue;
		if ((k === 'key' || k === 'range_end') && typeof v !== 'string')
			Object.assign(rec, keyFields(v, k));
		else
			rec[k] = v;
	}
	const text = JSON.stringify(rec, (k, v) =>
		typeof v === 'bigint' ? '__BIG__' + v.toString() + '__' : v);
	process.stdout.write(text.replace(/"__BIG__(-?\d+)__"/g, '$1') + '\n');
	return rec;
}

function prefixEnd(prefix) {
	const b = Buffer.from(prefix);
	let n = b.length;
	while (n > 0) {
		if (b[n - 1] < 0xff) {
			const e = Buffer.from(b.subarray(0, n));
			e[n - 1]++;
			return e;
		}
		n--;
	}
	return Buffer.from([0]);
}

function bigValue(n, seed) {
	const line = seed + '-0123456789abcdefghijklmnopqrstuvwxyz\n';
	return Buffer.from(line.repeat(Math.ceil(n / line.length)).slice(0, n));
}

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));
const rev = (resp) => big(resp.header.revision);

// ---- clients on one channel --------------------------------------------------------------

// proto/services/etcd_services.proto: the services over proto/rpc.proto's messages
function loadServices() {
	const def = protoLoader.loadSync(path.join(PROTO, 'services', 'etcd_services.proto'), {
		includeDirs: [PROTO], keepCase: true, longs: String, enums: String, bytes: Buffer,
		defaults: true, oneofs: true,
	});
	return grpc.loadPackageDefinition(def).etcdserverpb;
}

const pb = loadServices();
const creds = grpc.credentials.createInsecure();
const channel = new grpc.Channel(target, creds, {});
const opt = { channelOverride: channel };
const kv = new pb.KV(target, creds, opt);
const watchc = new pb.Watch(target, creds, opt);
const lease = new pb.Lease(target, creds, opt);
const cluster = new pb.Cluster(target, creds, opt);
const maint = new pb.Maintenance(target, creds, opt);

function unary(client, method, req) {
	return new Promise((resolve, reject) => {
		client[method](req, { deadline: Date.now() + 10000 }, (err, resp) => {
			if (err)
				reject(err);
			else
				resolve(resp);
		});
	});
}

function errFields(e) {
	return { grpc_status: e.code, error: e.details };
}

// ---- operations (names and fields as harness.py PyOps) ------------------------------------

async function put(key, value, o = {}) {
	const v = Buffer.from(value);
	const f = { key: Buffer.from(key) };
	const req = { key: f.key, value: v, prev_kv: !!o.prev_kv, lease: o.lease || '0' };
	try {
		const r = await unary(kv, 'Put', req);
		return emit('put', { ...f, revision: rev(r), value_size: v.length,
			lease: o.lease ? big(o.lease) : null, prev_kv: o.prev_kv ? true : null });
	} catch (e) {
		return emit('put', { ...f, ...errFields(e) });
	}
}

async function get(key, o = {}) {
	const f = { key: Buffer.from(key) };
	const req = { key: f.key };
	if (o.prefix) {
		f.range_end = prefixEnd(key);
		req.range_end = f.range_end;
	}
	for (const k of ['limit', 'keys_only', 'count_only']) {
		if (o[k]) {
			req[k] = o[k];
			f[k] = o[k];
		}
	}
	if (o.revision) {
		req.revision = String(o.revision);
		f.rev = o.revision;
	}
	try {
		const r = await unary(kv, 'Range', req);
		return emit('get', { ...f, revision: rev(r), count: Number(r.count) });
	} catch (e) {
		return emit('get', { ...f, ...errFields(e) });
	}
}

async function del(key, o = {}) {
	const f = { key: Buffer.from(key) };
	const req = { key: f.key, prev_kv: !!o.prev_kv };
	if (o.prefix) {
		f.range_end = prefixEnd(key);
		req.range_end = f.range_end;
	}
	try {
		const r = await unary(kv, 'DeleteRange', req);
		return emit('delete', { ...f, revision: rev(r), deleted: Number(r.deleted),
			prev_kv: o.prev_kv ? true : null });
	} catch (e) {
		return emit('delete', { ...f, ...errFields(e) });
	}
}

// compare: [{key, target: 'MOD', result: 'LESS'|'EQUAL'|..., mod_revision}];
// success/failure: [['put', key, value] | ['get', key] | ['del', key]]
function requestOps(ops) {
	return ops.map(([kind, key, value]) => {
		if (kind === 'put')
			return { request_put: { key: Buffer.from(key), value: Buffer.from(value) } };
		if (kind === 'get')
			return { request_range: { key: Buffer.from(key) } };
		return { request_delete_range: { key: Buffer.from(key) } };
	});
}

async function txn(compare, success, failure) {
	const req = {
		compare: compare.map((c) => ({ ...c, key: Buffer.from(c.key) })),
		success: requestOps(success), failure: requestOps(failure),
	};
	const ckeys = compare.map((c) => c.key);
	try {
		const r = await unary(kv, 'Txn', req);
		const writes = [];
		for (const [kind, key] of (r.succeeded ? success : failure)) {
			if (kind === 'put')
				writes.push({ op: 'put', ...keyFields(key, 'key') });
			else if (kind === 'del')
				writes.push({ op: 'delete', ...keyFields(key, 'key') });
		}
		return emit('txn', { revision: rev(r), succeeded: !!r.succeeded, compare_keys: ckeys,
			writes: writes, n_success: success.length, n_failure: failure.length });
	} catch (e) {
		return emit('txn', { compare_keys: ckeys, ...errFields(e) });
	}
}

async function compact(revision) {
	try {
		const r = await unary(kv, 'Compact', { revision: String(revision) });
		return emit('compact', { compact_revision: revision, revision: rev(r) });
	} catch (e) {
		return emit('compact', { compact_revision: revision, ...errFields(e) });
	}
}

async function leaseGrant(ttl) {
	const r = await unary(lease, 'LeaseGrant', { TTL: String(ttl) });
	emit('lease_grant', { id: big(r.ID), ttl: Number(r.TTL), revision: rev(r) });
	return r.ID;
}

function leaseKeepAlive(id) {
	return new Promise((resolve, reject) => {
		const call = lease.LeaseKeepAlive();
		let done = false;
		call.on('data', (r) => {
			if (done)
				return;
			done = true;
			call.end();
			resolve(emit('lease_keepalive', { id: big(r.ID), ttl: Number(r.TTL),
				revision: rev(r) }));
		});
		call.on('error', (e) => {
			if (!done)
				reject(e);
		});
		call.on('status', () => {});
		call.write({ ID: id });
	});
}

async function leaseTimeToLive(id) {
	const r = await unary(lease, 'LeaseTimeToLive', { ID: id, keys: true });
	return emit('lease_timetolive', { id: big(r.ID), ttl: Number(r.TTL), revision: rev(r),
		keys: r.keys.length });
}

async function leaseRevoke(id) {
	try {
		const r = await unary(lease, 'LeaseRevoke', { ID: id });
		return emit('lease_revoke', { id: big(id), revision: rev(r) });
	} catch (e) {
		return emit('lease_revoke', { id: big(id), ...errFields(e) });
	}
}

async function memberList() {
	const r = await unary(cluster, 'MemberList', {});
	return emit('member_list', { member_id: big(r.header.member_id),
		members: r.members.length });
}

async function status() {
	const r = await unary(maint, 'Status', {});
	return emit('status', { revision: rev(r), member_id: big(r.header.member_id),
		version: r.version });
}

// One Watch stream carries every watch (as etcd's own clients do).  Creates are answered
// in order, so each create waits for its "created" response to learn the watch id.
class Watcher {
	constructor() {
		this.call = watchc.Watch();
		this.waiters = [];     // [predicate, resolve] for responses someone awaits
		this.call.on('data', (r) => this.onData(r));
		this.call.on('error', () => {});   // CANCELLED when we end the stream
		this.call.on('status', () => {});
	}

	onData(r) {
		const wid = big(r.watch_id);
		for (const ev of r.events || []) {
			emit('watch_event', { watch_id: wid, key: ev.kv.key,
				type: ev.type === 'DELETE' ? 'delete' : 'put',
				mod_revision: big(ev.kv.mod_revision), revision: rev(r),
				prev_kv: ev.prev_kv ? true : null });
		}
		if (!r.created && !r.canceled && !(r.events || []).length)
			emit('watch_progress', { watch_id: wid, revision: rev(r) });
		for (let i = 0; i < this.waiters.length; i++) {
			const [pred, resolve] = this.waiters[i];
			if (pred(r)) {
				this.waiters.splice(i, 1);
				resolve(r);
				break;
			}
		}
	}

	wait(pred) {
		return new Promise((resolve, reject) => {
			const t = setTimeout(() => reject(new Error('watch response timeout')), 10000);
			this.waiters.push([pred, (r) => {
				clearTimeout(t);
				resolve(r);
			}]);
		});
	}

	async create(key, o = {}) {
		const f = { key: Buffer.from(key) };
		const req = { key: f.key, prev_kv: !!o.prev_kv };
		if (o.prefix) {
			f.range_end = prefixEnd(key);
			req.range_end = f.range_end;
		}
		const p = this.wait((r) => r.created);
		this.call.write({ create_request: req });
		const r = await p;
		emit('watch_create', { ...f, watch_id: big(r.watch_id),
			prev_kv: o.prev_kv ? true : null });
		return r.watch_id;
	}

	async progress() {
		// etcd 3.4 answers with one response, watch_id -1, no events: a progress
		// notification at the current store revision (recorded by onData)
		const p = this.wait((r) => !r.created && !r.canceled && !(r.events || []).length);
		this.call.write({ progress_request: {} });
		emit('watch_progress_request', {});
		await p;
	}

	async cancel(wid) {
		const p = this.wait((r) => r.canceled && r.watch_id === wid);
		this.call.write({ cancel_request: { watch_id: wid } });
		await p;
		emit('watch_cancel', { watch_id: big(wid) });
	}

	end() {
		this.call.cancel();
	}
}

// ---- the story (tests/gen/gen_basic.py's python story, through grpc-js) ---------------------

async function main() {
	const w = new Watcher();
	const wid = await w.create('/jw/', { prefix: true, prev_kv: true });
	const wid1 = await w.create('/jw/only');

	await put('/j/1', 'one');
	await put('/j/2', 'two');
	await put('/j/3', 'three');
	await put('/j/1', 'uno', { prev_kv: true });
	await get('/j/1');
	await get('/j/', { prefix: true });
	await get('/j/', { prefix: true, limit: 2 });
	await get('/j/', { prefix: true, keys_only: true });
	await get('/j/', { prefix: true, count_only: true });
	let r = await get('/j/1');
	await get('/j/1', { revision: Number(r.revision) - 1 });
	await get('/nope');

	await put('/jw/x', '1');
	await put('/jw/only', '2');
	await put('/jw/x', '3');
	await del('/jw/x', { prev_kv: true });
	await sleep(300);    // let the watch deliver before asking for progress
	await w.progress();
	await w.cancel(wid1);

	await put('/jd/1', 'a');
	await put('/jd/2', 'b');
	await put('/jd/3', 'c');
	await del('/jd/1');
	await del('/jd/', { prefix: true, prev_kv: true });
	await del('/nope');

	r = await get('/j/2');
	const mod = Number(r.revision);
	await txn([{ key: '/j/2', target: 'MOD', result: 'LESS', mod_revision: String(mod + 1) }],
		[['put', '/jt/ok', 'yes'], ['get', '/j/2']], [['put', '/jt/bad', 'no']]);
	await txn([{ key: '/j/2', target: 'MOD', result: 'EQUAL', mod_revision: '1' }],
		[['put', '/jt/ok2', 'yes']], [['put', '/jt/bad2', 'no'], ['del', '/j/3']]);

	const id = await leaseGrant(60);
	await put('/jl/1', 'leased', { lease: id });
	await leaseKeepAlive(id);
	await leaseTimeToLive(id);
	await leaseRevoke(id);
	await leaseRevoke('305441741');             // 0x1234abcd: NotFound

	await put(Buffer.from([0x2f, 0x6a, 0x62, 0x69, 0x6e, 0x2f, 0xff, 0x00, 0xfe, 0x6b]),
		Buffer.from([0x00, 0x01, 0x62, 0x69, 0x6e]));
	await get(Buffer.from([0x2f, 0x6a, 0x62, 0x69, 0x6e, 0x2f, 0xff, 0x00, 0xfe, 0x6b]));

	await put('/jbig/1', bigValue(BIG, 'js'));
	await get('/jbig/1');

	await memberList();
	await status();

	r = await get('/j/1');
	await compact(Number(r.revision));
	await get('/j/1', { revision: 2 });         // OutOfRange: compacted
	await put('/jw/z', 'last');
	await sleep(300);
	await w.cancel(wid);
	w.end();
	channel.close();
}

main().catch((e) => {
	process.stderr.write('grpcjs_client: ' + (e.stack || e) + '\n');
	process.exit(1);
});
