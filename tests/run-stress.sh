#!/usr/bin/env bash
# Stress tests (issue 5, "Damaged input"): crafted captures written at test time by
# tests/gen/stress.py into a temp dir (thousands of connections and streams, declared lengths
# far beyond the data, HPACK / CONTINUATION / protobuf / gzip bombs, garbage before the first
# frame). For each capture, `--json trace` and `--json status` must:
#   - exit 0 and print nothing that looks like a sanitizer report;
#   - finish within STRESS_TIMEOUT seconds (default 120: a hang detector, not a timing test);
#   - stay below STRESS_RSS_MB of peak RSS (see docs/robustness.md for the figure);
#   - (trace) end with a summary whose counters report the loss where there was one, and
#     decode the calls after the damage (tests/gen/stress.py --check, NAME.expect.json).
# Usage: tests/run-stress.sh [SCENARIO ...]      EE_BIN picks the binary (./etcd-explorer).
set -u
cd "$(dirname "$0")/.."
BIN=${EE_BIN:-./etcd-explorer}
PY=/usr/bin/python3
TIMEOUT=${STRESS_TIMEOUT:-120}
# Peak RSS bound. The tool's own limits allow about 64 MB (one gRPC message) + 64 MB (its
# decompression buffer) + 16 MB (one HTTP/2 frame) + the protobuf unpacking of a message
# + per-connection state; 512 MB leaves room for that. Under AddressSanitizer, freed memory
# sits in a 256 MB quarantine and every byte has shadow, so the bound is doubled.
if grep -q __asan_init "$BIN" 2>/dev/null; then
	RSS_MB=${STRESS_RSS_MB:-1024}
else
	RSS_MB=${STRESS_RSS_MB:-512}
fi
pass=0; fail=0
ok() { pass=$((pass+1)); }
ko() { fail=$((fail+1)); echo "stress: FAIL: $*"; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

# Runs "$@" with a timeout; writes its peak RSS in KB to $tmp/rss and returns its exit code
# (124 on timeout). /usr/bin/time -f %M when installed, else the rusage of the child as
# python's resource module reports it (the same number: ru_maxrss of the waited child).
measure() {
	if [ -x /usr/bin/time ]; then
		/usr/bin/time -o "$tmp/rss" -f %M timeout "$TIMEOUT" "$@"
	else
		$PY -c '
import resource, subprocess, sys
try:
    rc = subprocess.run(sys.argv[3:], timeout=float(sys.argv[2])).returncode
except subprocess.TimeoutExpired:
    rc = 124
open(sys.argv[1], "w").write("%d\n" % resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss)
sys.exit(rc)' "$tmp/rss" "$TIMEOUT" "$@"
	fi
}

if ! $PY tests/gen/stress.py --out "$tmp" "$@" >"$tmp/gen.log" 2>&1; then
	ko "tests/gen/stress.py"; sed 's/^/    /' "$tmp/gen.log"
	echo "stress: $pass passed, $fail failed"; exit 1
fi

for exp in "$tmp"/*.expect.json; do
	name=$(basename "${exp%.expect.json}")
	pcap="$tmp/$name.pcap"
	for cmd in trace status; do
		out="$tmp/$name.$cmd.jsonl"; err="$tmp/$name.$cmd.err"
		measure "$BIN" -q -r "$pcap" --json "$cmd" >"$out" 2>"$err"; rc=$?
		rss=$(tail -1 "$tmp/rss" 2>/dev/null | tr -dc 0-9); rss=${rss:-0}
		what="$name $cmd"
		if [ $rc -eq 124 ]; then ko "$what: no result within ${TIMEOUT}s"; continue; fi
		if grep -q "Sanitizer\|runtime error\|LeakSanitizer" "$err"; then
			ko "$what: sanitizer report"; grep -m3 "ERROR\|runtime error\|SUMMARY" "$err" | sed 's/^/    /'
			continue
		fi
		if [ $rc -ne 0 ]; then ko "$what: exit $rc"; head -3 "$err" | sed 's/^/    /'; continue; fi
		if [ "$rss" -gt $((RSS_MB * 1024)) ]; then
			ko "$what: peak RSS $((rss / 1024)) MB > $RSS_MB MB"; continue
		fi
		if [ "$cmd" = trace ]; then
			if ! $PY tests/gen/stress.py --check "$exp" "$out" >"$tmp/check" 2>&1; then
				ko "$what: summary/records"; sed 's/^/  /' "$tmp/check"; continue
			fi
		elif ! $PY -c 'import json,sys; json.load(open(sys.argv[1]))' "$out" 2>/dev/null; then
			ko "$what: output is not one JSON object"; continue
		fi
		[ -n "${STRESS_VERBOSE:-}" ] && echo "stress: $what: ok, peak RSS $((rss / 1024)) MB"
		ok
	done
done
echo "stress: $pass passed, $fail failed"
[ $fail -eq 0 ]
