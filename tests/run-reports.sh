#!/usr/bin/env bash
# The explorer reports against etcdctl: list, count, get, search, custom, members and status
# of a capture must say what etcdctl said at its end (tests/check_reports.py).
#  1. the committed capture pcaps/reports.pcap with pcaps/reports.etcdctl.json (plus the
#     checker's self-test: tampered etcdctl answers must fail);
#  2. a fresh capture made now with a real etcd (tests/gen/gen_reports.py --out TMP), so the
#     committed bytes cannot hide a regression (needs root for tcpdump and /usr/bin/etcd;
#     skipped with EE_SKIP_FRESH=1).
# Uses $EE_BIN (default ./etcd-explorer).  Ends with "reports: N passed, N failed".
set -u
cd "$(dirname "$0")/.." || exit 2
BIN=${EE_BIN:-./etcd-explorer}
PY=/usr/bin/python3
pass=0; fail=0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

# check NAME PCAP TRUTH [checker options]
check() {
	local name=$1 pcap=$2 truth=$3; shift 3
	if $PY tests/check_reports.py --bin "$BIN" "$@" "$pcap" "$truth" >"$tmp/check.out" 2>&1; then
		pass=$((pass+1))
	else
		fail=$((fail+1)); echo "reports: FAIL: $name"
		sed 's/^/    /' "$tmp/check.out" | tail -25
	fi
}

if [ -f pcaps/reports.pcap ] && [ -f pcaps/reports.etcdctl.json ]; then
	check committed pcaps/reports.pcap pcaps/reports.etcdctl.json --selftest
else
	fail=$((fail+1)); echo "reports: FAIL: pcaps/reports.pcap or pcaps/reports.etcdctl.json missing"
fi

if [ "${EE_SKIP_FRESH:-0}" != 1 ]; then
	if [ ! -x /usr/bin/etcd ] || [ "$(id -u)" != 0 ]; then
		fail=$((fail+1)); echo "reports: FAIL: a fresh capture needs /usr/bin/etcd and root (EE_SKIP_FRESH=1 skips it)"
	elif $PY tests/gen/gen_reports.py --out "$tmp/fresh" >"$tmp/gen.log" 2>&1; then
		check fresh "$tmp/fresh/reports.pcap" "$tmp/fresh/reports.etcdctl.json"
		size=$(stat -c %s "$tmp/fresh/reports.pcap")
		if [ "$size" -lt 300000 ]; then pass=$((pass+1))
		else fail=$((fail+1)); echo "reports: FAIL: fresh capture is $size bytes (budget 300 KB)"; fi
	else
		fail=$((fail+1)); echo "reports: FAIL: fresh capture generation"
		tail -20 "$tmp/gen.log" | sed 's/^/    /'
	fi
fi

echo "reports: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
