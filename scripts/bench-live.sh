#!/bin/bash
# bench-live.sh: the live half of issue 6. Starts a throw-away etcd on loopback (random free
# ports, never 2379), traces it with `etcd-explorer -i lo -p PORT trace > /dev/null` while a
# load generator drives it, and reports libpcap's drop count and the CPU time of the tool
# next to etcd's.
#
#   scripts/bench-live.sh            (root: live capture on lo)
#
# Load: `etcdctl check perf --load=$LIVE_LOAD` (grpc-go, many clients, Puts at a fixed
# rate for 60 s; s/m/l/xl = 150/1000/8000/15000 puts/s) plus $LIVE_WORKERS processes of the
# bench seed workload (tests/bench/gen_bench_seed.py: Txn writes with 1-4 KB values, Range
# pages, Watch streams with prev_kv) for the same time. Defaults: LIVE_LOAD=l, LIVE_WORKERS=2.
set -euo pipefail
cd "$(dirname "$0")/.."
B=build/bench
EE=${EE_BIN:-./etcd-explorer}
LOAD=${LIVE_LOAD:-l}
WORKERS=${LIVE_WORKERS:-2}
LOAD_SECS=60	# etcdctl check perf always runs 60 s
mkdir -p $B
[ "$(id -u)" = 0 ] || { echo "bench-live: needs root (live capture on lo)" >&2; exit 1; }
[ -x /usr/bin/time ] || DEBIAN_FRONTEND=noninteractive apt-get install -y -q time >/dev/null
[ -x "$EE" ] || make -s etcd-explorer

read -r PORT PEER < <(/usr/bin/python3 -c '
import sys; sys.path.insert(0, "tests/gen"); import harness
a = harness.free_port(); b = harness.free_port(avoid=(2379, 2380, a)); print(a, b)')
DATA=$(mktemp -d /tmp/ee-live-etcd.XXXXXX)
PIDS=()
cleanup() {
	for p in "${PIDS[@]}"; do kill "$p" 2>/dev/null || true; done
	wait 2>/dev/null || true
	rm -rf "$DATA"
}
trap cleanup EXIT

etcd --data-dir "$DATA/data" --name default \
	--listen-client-urls http://127.0.0.1:$PORT --advertise-client-urls http://127.0.0.1:$PORT \
	--listen-peer-urls http://127.0.0.1:$PEER --initial-advertise-peer-urls http://127.0.0.1:$PEER \
	--initial-cluster default=http://127.0.0.1:$PEER --logger zap --log-level error \
	--quota-backend-bytes=4294967296 > "$DATA/etcd.log" 2>&1 &
ETCD_PID=$!
PIDS+=($ETCD_PID)
for _ in $(seq 100); do
	ETCDCTL_API=3 etcdctl --endpoints=127.0.0.1:$PORT endpoint health >/dev/null 2>&1 && break
	sleep 0.2
done

clk=$(getconf CLK_TCK)
cpu_of() {	# utime + stime of a process, in seconds
	awk -v t=$clk '{ sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / t }' /proc/$1/stat
}

DUR=$(( LOAD_SECS + 10 ))
/usr/bin/time -f "%U %S %M" -o $B/live.time $EE -i lo -p $PORT --duration ${DUR}s trace \
	> /dev/null 2> $B/live.err &
EE_PID=$!
sleep 2	# the capture is open and filtering before the load starts
ETCD_CPU0=$(cpu_of $ETCD_PID)
echo "bench-live: etcd on 127.0.0.1:$PORT, tracing for ${DUR}s; load: check perf --load=$LOAD + $WORKERS workers" >&2

WPIDS=()
for ((i = 0; i < WORKERS; i++)); do
	/usr/bin/python3 tests/bench/gen_bench_seed.py /dev/null --worker $i --port $PORT \
		--seconds $LOAD_SECS 2>> $B/live.workers &
	WPIDS+=($!)
done
ETCDCTL_API=3 etcdctl --endpoints=127.0.0.1:$PORT check perf --load=$LOAD \
	> $B/live.perf 2>&1 || true
for p in "${WPIDS[@]}"; do wait "$p" || true; done
ETCD_CPU1=$(cpu_of $ETCD_PID)
wait $EE_PID || true

read -r EU ES ERSS < $B/live.time
EE_CPU=$(awk -v u=$EU -v s=$ES 'BEGIN{printf "%.2f", u + s}')
ETCD_CPU=$(awk -v a=$ETCD_CPU0 -v b=$ETCD_CPU1 'BEGIN{printf "%.2f", b - a}')
SUMMARY=$(grep -m1 'packets' $B/live.err || true)
DROPS=$(sed -n 's/.* \([0-9]*\) dropped by the kernel.*/\1/p' $B/live.err | tail -1)
{
	echo "Live, $(date -u +%Y-%m-%d), $(nproc) CPUs: etcd 127.0.0.1:$PORT, load \`etcdctl check perf --load=$LOAD\` + $WORKERS seed workers for ${LOAD_SECS} s."
	echo
	echo "| | value |"
	echo "|---|---|"
	echo "| check perf result | $(grep -E 'PASS|FAIL' $B/live.perf | tr '\n' ' ' | sed 's/|/\\|/g') |"
	echo "| etcd-explorer summary | ${SUMMARY#etcd-explorer: } |"
	echo "| libpcap drops | ${DROPS:-?} |"
	echo "| etcd-explorer CPU (user+sys) | ${EE_CPU} s ($(awk -v c=$EE_CPU -v d=$DUR 'BEGIN{printf "%.1f", 100 * c / d}')% of one core over ${DUR} s), peak RSS $(( ERSS / 1024 )) MB |"
	echo "| etcd CPU during the load | ${ETCD_CPU} s |"
	echo "| tool / etcd CPU | $(awk -v a=$EE_CPU -v b=$ETCD_CPU 'BEGIN{ if (b > 0) printf "%.2f", a / b; else print "?" }') |"
} | tee $B/live.md
