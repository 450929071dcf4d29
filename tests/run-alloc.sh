#!/usr/bin/env bash
# Steady-state allocation test (issue 6: "no allocation per packet or per message in steady
# state"). tests/gen/gen_steady.py records a fixed key set updated round after round on one
# unary and one watch connection into a temp dir; the capture is cut at a third of its
# packets (tcpdump -c) so the warm-up (connections, HPACK tables, the key set's first
# writes) is in both runs. Each command runs on the prefix and on the whole capture under
# build/alloc/alloc_count.so (LD_PRELOAD heap-allocation counter), and
#   steady allocs per message = (allocs(whole) - allocs(prefix)) / (messages(whole) - messages(prefix))
# with messages from the `--json trace` summary. Pass when <= ALLOC_MAX_PER_MSG (0.01).
# The same runs check memory: with a fixed key set, peak RSS on the whole capture (three
# times the prefix) stays within ALLOC_RSS_SLACK_KB (1024) of the prefix's: `trace` streams,
# `count` grows with keys, not packets.
# The release binary is measured (EE_REL_BIN, default ./etcd-explorer), never EE_BIN: an
# ASan build must have its runtime first in the link order and has its own allocator.
# Usage: tests/run-alloc.sh      env: EE_REL_BIN, ALLOC_MAX_PER_MSG, ALLOC_ROUNDS (gen_steady
# --rounds), ALLOC_SO (the counter library), ALLOC_KEEP=DIR (keep capture and counts there).
set -u
cd "$(dirname "$0")/.." || exit 1
BIN=${EE_REL_BIN:-./etcd-explorer}
SO=${ALLOC_SO:-build/alloc/alloc_count.so}
MAX=${ALLOC_MAX_PER_MSG:-0.01}
RSS_SLACK=${ALLOC_RSS_SLACK_KB:-1024}
PY=/usr/bin/python3
pass=0; fail=0
ok() { pass=$((pass+1)); }
ko() { fail=$((fail+1)); echo "alloc: FAIL: $*"; }
finish() { echo "alloc: $pass passed, $fail failed"; [ $fail -eq 0 ]; exit $?; }
if [ -n "${ALLOC_KEEP:-}" ]; then tmp=$ALLOC_KEEP; mkdir -p "$tmp"
else tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT; fi

if [ ! -x "$BIN" ]; then ko "$BIN: no such binary (make)"; finish; fi
if grep -q __asan_init "$BIN" 2>/dev/null; then
	ko "$BIN is an AddressSanitizer build: set EE_REL_BIN to the release binary"; finish
fi
if [ ! -f "$SO" ] && ! make --no-print-directory "$SO" >"$tmp/make.log" 2>&1; then
	ko "cannot build $SO"; sed 's/^/    /' "$tmp/make.log"; finish
fi
case $SO in /*) ;; *) SO=$PWD/$SO ;; esac

# shellcheck disable=SC2086
if ! $PY tests/gen/gen_steady.py "$tmp/steady.pcap" ${ALLOC_ROUNDS:+--rounds "$ALLOC_ROUNDS"} \
		>"$tmp/gen.log" 2>&1; then
	ko "tests/gen/gen_steady.py"; sed 's/^/    /' "$tmp/gen.log"; finish
fi
port=$($PY -c 'import json,sys; print(json.loads(open(sys.argv[1]).readline())["port"])' \
	"$tmp/steady.truth.jsonl")

# summary FILE FIELD: a number from the `--json trace` summary line of FILE's run
summary() {
	"$BIN" -q -r "$1" -p "$port" --json trace | tail -1 | grep -o "\"$2\":[0-9]*" | cut -d: -f2
}
whole=$tmp/steady.pcap; pre=$tmp/prefix.pcap
packets=$(summary "$whole" packets)
if [ -z "$packets" ] || [ "$packets" -lt 3000 ]; then ko "capture too small (${packets:-?} packets)"; finish; fi
tcpdump -r "$whole" -w "$pre" -c $((packets / 3)) 2>/dev/null
msg_whole=$(summary "$whole" messages); msg_pre=$(summary "$pre" messages)
dmsg=$((msg_whole - msg_pre))
if [ "$dmsg" -lt 1000 ]; then ko "only $dmsg messages after the cut"; finish; fi
echo "alloc: $packets packets, cut at $((packets / 3)); messages $msg_pre -> $msg_whole; max $MAX allocs per message"

# allocs FILE CMD...: total heap allocations of one run (0 exit required), or empty
allocs() {
	local f=$1 out; shift
	out=$tmp/count.$$.$RANDOM
	if ! ALLOC_COUNT_OUT=$out LD_PRELOAD=$SO "$BIN" -q -r "$f" -p "$port" "$@" \
			>/dev/null 2>"$tmp/err"; then
		head -3 "$tmp/err" | sed 's/^/    /' >&2; return
	fi
	tail -1 "$out" >>"$tmp/counts"
	tail -1 "$out" | sed -E 's/.*(^| )allocs=([0-9]+).* maxrss_kb=([0-9]+).*/\2 \3/'
}

for cmd in "--json trace" "trace" "count" "writes" "--json watch /registry/"; do
	# shellcheck disable=SC2086
	read -r a_pre rss_pre < <(allocs "$pre" $cmd)
	# shellcheck disable=SC2086
	read -r a_whole rss_whole < <(allocs "$whole" $cmd)
	if [ -z "$a_pre" ] || [ -z "$a_whole" ] || [ -z "$rss_pre" ] || [ -z "$rss_whole" ]; then
		ko "$cmd: run failed or no count"; continue
	fi
	read -r rate verdict < <(awk -v a="$a_pre" -v b="$a_whole" -v m="$dmsg" -v max="$MAX" \
		'BEGIN { r = (b - a) / m; printf "%.4f %s\n", r, (r <= max ? "ok" : "FAIL") }')
	printf 'alloc: %-24s allocs %7d -> %7d  steady %.4f per message (overall %.2f)  %s\n' \
		"$cmd" "$a_pre" "$a_whole" "$rate" "$(awk -v b="$a_whole" -v m="$msg_whole" \
		'BEGIN { printf "%.2f", b / m }')" "$verdict"
	if [ "$verdict" = ok ]; then ok; else ko "$cmd: $rate allocations per message in steady state > $MAX"; fi
	printf 'alloc: %-24s peak RSS %6d -> %6d KB (3x the packets)  %s\n' "$cmd" "$rss_pre" \
		"$rss_whole" "$([ "$rss_whole" -le $((rss_pre + RSS_SLACK)) ] && echo ok || echo FAIL)"
	if [ "$rss_whole" -le $((rss_pre + RSS_SLACK)) ]; then ok
	else ko "$cmd: peak RSS grew from $rss_pre to $rss_whole KB with the capture's length"; fi
done
finish
