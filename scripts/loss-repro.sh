#!/usr/bin/env bash
# Capture loss, reproduced offline (issue 5; docs/robustness.md "Capture loss"): drops bursts
# of consecutive packets from a capture, as a kernel ring that overflows does (both
# directions, 50..2000 packets a burst, tests/gen/damage.py --drop-bursts), and runs
# `etcd-explorer -r LOSSY -p PORT trace` on each under /usr/bin/time: CPU per packet and peak
# RSS next to the clean file's.  Deterministic (damage.py --seed).
# Usage: scripts/loss-repro.sh [PCAP [PORT [FRACTION...]]]
#   defaults: build/bench/seed.pcap (`make bench` builds it), the port in build/bench/big.port,
#   fractions 0.1 0.3 0.6 0.8.  EE_BIN picks the binary (./etcd-explorer).  Needs the `time`
#   package (bench-only, as in scripts/bench.sh).
set -eu
cd "$(dirname "$0")/.."
PCAP=${1:-build/bench/seed.pcap}
PORT=${2:-$(cat build/bench/big.port 2>/dev/null || echo 2379)}
shift $(($# < 2 ? $# : 2))
FRACS=${*:-0.1 0.3 0.6 0.8}
BIN=${EE_BIN:-./etcd-explorer}
[ -x /usr/bin/time ] || { echo "loss-repro: needs /usr/bin/time (apt-get install time)" >&2; exit 2; }
[ -r "$PCAP" ] || { echo "loss-repro: $PCAP missing (make bench builds it)" >&2; exit 2; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

# One run: prints "| name | packets | gaps | CPU s | us/packet | peak RSS MB |".
run() {
	/usr/bin/time -o "$tmp/time" -f "%U %S %M" "$BIN" -r "$2" -p "$PORT" trace >/dev/null 2>"$tmp/err"
	read -r u s m <"$tmp/time"
	local sum pk gaps
	sum=$(grep -E '^etcd-explorer: [0-9]+ packets' "$tmp/err" | tail -1)
	pk=$(echo "$sum" | sed -E 's/^etcd-explorer: ([0-9]+) packets.*/\1/')
	gaps=$(echo "$sum" | sed -E 's/.* ([0-9]+) gaps.*/\1/')
	awk -v n="$1" -v pk="$pk" -v g="$gaps" -v u="$u" -v s="$s" -v m="$m" 'BEGIN {
		printf "| %s | %d | %d | %.2f | %.1f | %.0f |\n", n, pk, g, u + s,
		       pk ? (u + s) * 1e6 / pk : 0, m / 1024 }'
}

echo "| capture | packets | gaps | CPU s | us/packet | peak RSS MB |"
echo "|---|---:|---:|---:|---:|---:|"
run clean "$PCAP"
for f in $FRACS; do
	/usr/bin/python3 tests/gen/damage.py "$PCAP" "$tmp/lossy.pcap" --drop-bursts "$f" \
		--seed 1 2>/dev/null
	run "loss $f" "$tmp/lossy.pcap"
done
