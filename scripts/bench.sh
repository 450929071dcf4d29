#!/bin/bash
# bench.sh: `make bench`. Builds the big API-server-like capture (once; cached in build/bench/)
# and measures, in one run on the same file, the bare libpcap read loop, tcpdump -r, tshark
# decoding gRPC with the project's proto/ files (on a slice, scaled per MB) and etcd-explorer
# (trace --json, trace, count, writes). Prints a markdown table (median of BENCH_RUNS runs).
#
#   scripts/bench.sh              measure (generates build/bench/big.pcap if missing)
#   scripts/bench.sh --regen      throw away the cached captures first
#   scripts/bench.sh --profile    also perf-record `trace --json` on the big file, print hot spots
#
# Environment: BENCH_RUNS (3), BENCH_MB (target size of the big capture, 1000),
# BENCH_SEED_SECONDS (30), BENCH_WORKERS (4), BENCH_SLICE_MB (tshark slice, 20),
# EE_BIN (./etcd-explorer). Generating the seed needs root (tcpdump on lo) and etcd.
# Installs bench-only tools when missing (tshark/editcap, time, perf): not part of deps.sh.
set -euo pipefail
cd "$(dirname "$0")/.."
ROOT=$PWD
B=build/bench
EE=${EE_BIN:-./etcd-explorer}
RUNS=${BENCH_RUNS:-3}
TARGET_MB=${BENCH_MB:-1000}
SLICE_MB=${BENCH_SLICE_MB:-20}
PROFILE=0
for a in "$@"; do
	case $a in
	--regen) rm -f $B/seed.pcap $B/big.pcap $B/big.port $B/slice.pcap ;;
	--profile) PROFILE=1 ;;
	*) echo "usage: scripts/bench.sh [--regen] [--profile]" >&2; exit 2 ;;
	esac
done
mkdir -p $B

apt_install() {
	if [ "$(id -u)" != 0 ]; then
		echo "bench: need $* (run as root to install)" >&2
		exit 1
	fi
	echo "bench: installing $*" >&2
	# wireshark-common asks whether non-root users may capture: answer no, non-interactively
	echo "wireshark-common wireshark-common/install-setuid boolean false" | debconf-set-selections
	DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null ||
		{ apt-get update -q >/dev/null && DEBIAN_FRONTEND=noninteractive apt-get install -y -q "$@" >/dev/null; }
}
command -v tshark >/dev/null || apt_install tshark
command -v editcap >/dev/null || apt_install wireshark-common
[ -x /usr/bin/time ] || apt_install time
if [ $PROFILE = 1 ] && ! command -v perf >/dev/null; then apt_install linux-perf; fi

# ---- helpers: the read loop and the replicator ------------------------------------------
CFLAGS="-std=c11 -D_GNU_SOURCE -O2 -g -Wall -Wextra -Werror -Wshadow -Wstrict-prototypes"
for t in readloop replicate; do
	if [ ! -x $B/$t ] || [ tests/bench/$t.c -nt $B/$t ]; then
		cc $CFLAGS -o $B/$t tests/bench/$t.c $(pkg-config --libs libpcap 2>/dev/null || echo -lpcap)
	fi
done

# ---- the captures -----------------------------------------------------------------------
if [ ! -s $B/seed.pcap ]; then
	echo "bench: recording the seed workload from a real etcd (build/bench/seed.pcap)" >&2
	/usr/bin/python3 tests/bench/gen_bench_seed.py $B/seed.pcap \
		--workers "${BENCH_WORKERS:-4}" --seconds "${BENCH_SEED_SECONDS:-30}" >&2
	rm -f $B/big.pcap
fi
# a new seed or a changed replicator (rebuilt above) makes a new big capture
if [ ! -s $B/big.pcap ] || [ ! -s $B/big.port ] || [ $B/seed.pcap -nt $B/big.pcap ] ||
	[ $B/replicate -nt $B/big.pcap ]; then
	seed_mb=$(( $(stat -c %s $B/seed.pcap) / 1000000 + 1 ))
	copies=$(( (TARGET_MB + seed_mb - 1) / seed_mb ))
	[ $copies -lt 1 ] && copies=1
	[ $copies -gt 200 ] && copies=200
	echo "bench: replicating the seed ($seed_mb MB) x $copies (build/bench/big.pcap)" >&2
	$B/replicate -n $copies $B/seed.pcap $B/big.pcap 2>$B/replicate.log
	cat $B/replicate.log >&2
	sed -n 's/.*(etcd port \([0-9]*\)).*/\1/p' $B/replicate.log > $B/big.port
	rm -f $B/slice.pcap
fi
PORT=$(cat $B/big.port)
BIG=$B/big.pcap

# readloop gives the packet and byte counts; the first run also pulls the file into the page
# cache, so every tool below reads from memory (we measure decoding, not the disk)
read -r BIG_PKTS _ < <($B/readloop $BIG)
cat $BIG > /dev/null
BIG_BYTES=$(stat -c %s $BIG)

if [ ! -s $B/slice.pcap ]; then
	# the first SLICE_MB of the big file: guess a packet count, then correct it once (the
	# start of the capture has more small packets than the average)
	n=$(( BIG_PKTS * SLICE_MB * 1000000 / BIG_BYTES + 1 ))
	tcpdump -r $BIG -c $n -w $B/slice.pcap 2>/dev/null
	n=$(( n * SLICE_MB * 1000000 / $(stat -c %s $B/slice.pcap) + 1 ))
	tcpdump -r $BIG -c $n -w $B/slice.pcap 2>/dev/null
fi
SLICE=$B/slice.pcap
SLICE_BYTES=$(stat -c %s $SLICE)
read -r SLICE_PKTS _ < <($B/readloop $SLICE)

# tshark finds the message type of a gRPC call from a `service` declaration:
# proto/services/etcd_services.proto maps each method to the project's own messages
# (a search path's files are loaded recursively, so proto/ covers it)
TSHARK_OPTS=(-n -o "uat:protobuf_search_paths:\"$ROOT/proto\",\"TRUE\""
	-o protobuf.pbf_as_hf:TRUE -o protobuf.bytes_as_string:TRUE
	-d "tcp.port==$PORT,http2")

# gRPC messages in a file, from etcd-explorer's stderr summary ("..., N messages, ...")
msgs_of() { sed -n 's/.* \([0-9]*\) messages,.*/\1/p' "$1" | tail -1; }

# measure NAME FILE CMD...: RUNS runs; median wall seconds -> $T, max peak RSS (KB) -> $RSS.
# stdout goes to /dev/null, stderr to $B/NAME.err (kept: the last run's summary).
measure() {
	local name=$1 file=$2
	shift 2
	local ts=() rss=0 i s e r
	for ((i = 0; i < RUNS; i++)); do
		s=$(date +%s%N)
		/usr/bin/time -f %M -o $B/$name.rss "$@" > /dev/null 2> $B/$name.err
		e=$(date +%s%N)
		ts+=($(( (e - s) / 1000 )))
		r=$(tail -1 $B/$name.rss)
		[ "$r" -gt $rss ] && rss=$r
	done
	T=$(printf '%s\n' "${ts[@]}" | sort -n | sed -n "$(( (RUNS + 1) / 2 ))p")
	RSS=$rss
	echo "bench: $name: $(printf '%s ' "${ts[@]}")us, ${RSS} KB" >&2
}

ROWS=()
# row LABEL FILE_BYTES FILE_PKTS FILE_MSGS USEC RSS_KB -> sets MBPS
row() {
	local label=$1 bytes=$2 pkts=$3 msgs=$4 us=$5 rss=$6
	MBPS=$(awk -v b=$bytes -v u=$us 'BEGIN{printf "%.1f", b / u}')
	local pps mps
	pps=$(awk -v n=$pkts -v u=$us 'BEGIN{printf "%.0f", n * 1e6 / u}')
	mps=$(awk -v n=$msgs -v u=$us 'BEGIN{printf "%.0f", n * 1e6 / u}')
	ROWS+=("$label|$MBPS|$pps|$mps|$(( rss / 1024 ))|$(awk -v u=$us 'BEGIN{printf "%.2f", u / 1e6}')")
}

echo "bench: $BIG: $(( BIG_BYTES / 1000000 )) MB, $BIG_PKTS packets, etcd port $PORT; tshark on $SLICE ($(( SLICE_BYTES / 1000000 )) MB); $RUNS runs each" >&2

# etcd-explorer first: its summary gives the gRPC message count of the big file
measure ee_json $BIG $EE -r $BIG -p $PORT --json trace
BIG_MSGS=$(msgs_of $B/ee_json.err)
T_JSON=$T RSS_JSON=$RSS
measure ee_trace $BIG $EE -r $BIG -p $PORT trace
T_TRACE=$T RSS_TRACE=$RSS
measure ee_count $BIG $EE -r $BIG -p $PORT count
T_COUNT=$T RSS_COUNT=$RSS
measure ee_writes $BIG $EE -r $BIG -p $PORT writes
T_WRITES=$T RSS_WRITES=$RSS
measure readloop $BIG $B/readloop $BIG
T_LOOP=$T RSS_LOOP=$RSS
measure tcpdump $BIG tcpdump -r $BIG -w /dev/null
T_TCPDUMP=$T RSS_TCPDUMP=$RSS
# the slice's message count, for tshark's messages/s (and a check that tshark decoded them)
$EE -r $SLICE -p $PORT count > /dev/null 2> $B/ee_slice.err
SLICE_MSGS=$(msgs_of $B/ee_slice.err)
measure tshark $SLICE tshark -r $SLICE "${TSHARK_OPTS[@]}" -V
T_TSHARK=$T RSS_TSHARK=$RSS
TSHARK_PB=$(tshark -r $SLICE "${TSHARK_OPTS[@]}" -V 2>/dev/null | grep -c '^Protocol Buffers: .*(Message: ' || true)

# Cost with length (issue 6: memory independent of the capture's length, no allocation per
# message in steady state): trace and count on the first quarter of the big file and on the
# whole, once each, for peak RSS, heap allocations (build/alloc/alloc_count.so, LD_PRELOAD)
# and the keys count saw. The copies in the big file write the same keys (see
# docs/performance.md), so a tool whose memory follows keys, not packets, stays flat.
QUARTER=$B/quarter.pcap
[ -s $QUARTER ] || tcpdump -r $BIG -c $(( BIG_PKTS / 4 )) -w $QUARTER 2>/dev/null
ALLOC_SO=$ROOT/build/alloc/alloc_count.so
[ -f $ALLOC_SO ] || make -C $ROOT --no-print-directory build/alloc/alloc_count.so >/dev/null 2>&1
# scale FILE CMD...: "ALLOCS MAXRSS_KB" of one run under the counter
scale() {
	local f=$1; shift
	rm -f $B/alloc.out
	ALLOC_COUNT_OUT=$B/alloc.out LD_PRELOAD=$ALLOC_SO $EE -q -r $f -p $PORT "$@" > /dev/null 2>&1
	sed -E 's/.*(^| )allocs=([0-9]+).* maxrss_kb=([0-9]+).*/\2 \3/' $B/alloc.out 2>/dev/null
}
keys_of() { { $EE -q -r $1 -p $PORT count 2>/dev/null || true; } | sed -n 's/^ *\([0-9]*\)  total keys.*/\1/p'; }
{ $EE -r $QUARTER -p $PORT count > /dev/null 2> $B/ee_quarter.err || true; }
Q_MSGS=$(msgs_of $B/ee_quarter.err)
SCALE_ROWS=()
if [ -f $ALLOC_SO ]; then
	for cmd in "--json trace" count; do
		# shellcheck disable=SC2086
		read -r qa qr < <(scale $QUARTER $cmd) || { qa=0 qr=0; }
		# shellcheck disable=SC2086
		read -r wa wr < <(scale $BIG $cmd) || { wa=0 wr=0; }
		SCALE_ROWS+=("| \`$cmd\` | $(( qr / 1024 )) | $(( wr / 1024 )) | $qa | $wa | $(awk -v a=$qa -v b=$wa -v m=$(( BIG_MSGS - Q_MSGS )) 'BEGIN{printf "%.4f", (b - a) / m}') |")
	done
fi
Q_KEYS=$(keys_of $QUARTER) W_KEYS=$(keys_of $BIG)

row "read loop (pcap_next_ex)" $BIG_BYTES $BIG_PKTS $BIG_MSGS $T_LOOP $RSS_LOOP
MB_LOOP=$MBPS
row "tcpdump -r FILE -w /dev/null" $BIG_BYTES $BIG_PKTS $BIG_MSGS $T_TCPDUMP $RSS_TCPDUMP
row "tshark -V, gRPC + proto/ (slice)" $SLICE_BYTES $SLICE_PKTS $SLICE_MSGS $T_TSHARK $RSS_TSHARK
MB_TSHARK=$MBPS
row "etcd-explorer --json trace" $BIG_BYTES $BIG_PKTS $BIG_MSGS $T_JSON $RSS_JSON
MB_JSON=$MBPS
row "etcd-explorer trace" $BIG_BYTES $BIG_PKTS $BIG_MSGS $T_TRACE $RSS_TRACE
row "etcd-explorer count" $BIG_BYTES $BIG_PKTS $BIG_MSGS $T_COUNT $RSS_COUNT
row "etcd-explorer writes" $BIG_BYTES $BIG_PKTS $BIG_MSGS $T_WRITES $RSS_WRITES

{
	echo "File: \`$BIG\`, $(( BIG_BYTES / 1000000 )) MB, $BIG_PKTS packets, $BIG_MSGS gRPC messages" \
		"(tshark: first $(( SLICE_BYTES / 1000000 )) MB, $SLICE_PKTS packets, $SLICE_MSGS messages;" \
		"tshark showed $TSHARK_PB of them as typed protobuf messages)." \
		"Median of $RUNS runs, wall time, file in the page cache. $(nproc) CPUs," \
		"$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1), $(date -u +%Y-%m-%d)."
	echo
	echo "| tool | MB/s | packets/s | gRPC msgs/s | peak RSS (MB) | s | x tshark | x read loop |"
	echo "|---|---:|---:|---:|---:|---:|---:|---:|"
	for r in "${ROWS[@]}"; do
		IFS='|' read -r label mb pps mps rss sec <<< "$r"
		xt=$(awk -v a=$mb -v b=$MB_TSHARK 'BEGIN{printf "%.1f", a / b}')
		xl=$(awk -v a=$mb -v b=$MB_LOOP 'BEGIN{printf "%.3f", a / b}')
		echo "| $label | $mb | $pps | $mps | $rss | $sec | $xt | $xl |"
	done
	echo
	ok() { awk -v a="$1" -v b="$2" 'BEGIN{print (a >= b) ? "met" : "NOT met"}'; }
	echo "Targets: trace --json >= 50x tshark: $(ok "$MB_JSON" "$(awk -v t=$MB_TSHARK 'BEGIN{print 50 * t}')")" \
		"($(awk -v a=$MB_JSON -v b=$MB_TSHARK 'BEGIN{printf "%.1fx", a / b}'));" \
		">= 1/2 read loop: $(ok "$MB_JSON" "$(awk -v t=$MB_LOOP 'BEGIN{print t / 2}')")" \
		"($(awk -v a=$MB_JSON -v b=$MB_LOOP 'BEGIN{printf "%.3f", a / b}'));" \
		"trace peak RSS < 64 MB: $(ok 65536 "$RSS_TRACE") ($(( RSS_TRACE / 1024 )) MB)."
	if [ ${#SCALE_ROWS[@]} -gt 0 ]; then
		echo
		echo "With length: the first quarter of the file ($(( BIG_PKTS / 4 )) packets, $Q_MSGS messages," \
			"$Q_KEYS keys) against the whole ($BIG_MSGS messages, $W_KEYS keys), one run each;" \
			"allocations are heap allocations (malloc, calloc, realloc, aligned) counted by" \
			"build/alloc/alloc_count.so, and the last column is what the other three quarters" \
			"add per gRPC message."
		echo
		echo "| command | peak RSS, quarter (MB) | peak RSS, whole (MB) | allocations, quarter | allocations, whole | per message after the quarter |"
		echo "|---|---:|---:|---:|---:|---:|"
		printf '%s\n' "${SCALE_ROWS[@]}"
	fi
} | tee $B/results.md

if [ $PROFILE = 1 ]; then
	# DWARF unwinding: the release build keeps no frame pointers; 300 Hz keeps perf.data small
	echo >&2
	echo "bench: perf record --call-graph dwarf $EE -r $BIG -p $PORT --json trace" >&2
	perf record -q --call-graph dwarf,8192 -F 300 -o $B/perf.data \
		$EE -r $BIG -p $PORT --json trace > /dev/null 2>&1
	{
		echo "== self"
		perf report -i $B/perf.data --no-children --sort dso,symbol --stdio -g none \
			--percent-limit 1 2>/dev/null | grep -v '^#' | grep -v '^$' | head -30
		echo "== inclusive (children)"
		perf report -i $B/perf.data --children --sort symbol --stdio -g none \
			--percent-limit 5 2>/dev/null | grep -v '^#' | grep -v '^$' | head -40
	} | tee $B/profile.txt
fi
