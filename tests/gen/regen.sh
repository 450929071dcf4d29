#!/usr/bin/env bash
# Regenerate the committed test captures (pcaps/*.pcap + *.truth.jsonl) from a real etcd.
# Needs root (tcpdump on lo), /usr/bin/etcd 3.4, etcdctl, tcpdump and python3-etcd3
# (grpcjs: also node and npm; gen_grpcjs.py npm-installs @grpc/grpc-js into build/grpcjs).
# Usage: tests/gen/regen.sh [-o OUTDIR] [basic] [grpcjs] [midconn] [apiserver] [why[:STORY,...]] [reports] [damaged]
#   (no names = all; OUTDIR defaults to pcaps/; why:delivered-late = that why story only,
#   leaving the other why captures as they are).  Each generator prints file sizes.
# Captures differ on every run (ports, timestamps, ids): review the truth diff, re-run the
# golden and integration tests, and commit capture and truth together.
set -eu
cd "$(dirname "$0")/../.."
PY=/usr/bin/python3
OUT=pcaps
if [ "${1:-}" = "-o" ]; then OUT=$2; shift 2; fi
mkdir -p "$OUT"
which=${*:-basic grpcjs midconn apiserver why reports damaged}
for g in $which; do
	case $g in
	basic)     $PY tests/gen/gen_basic.py --out "$OUT" ;;
	grpcjs)    $PY tests/gen/gen_grpcjs.py --out "$OUT" ;;
	midconn)   $PY tests/gen/gen_midconn.py --out "$OUT" ;;
	apiserver) if [ -f tests/gen/gen_apiserver.py ]; then $PY tests/gen/gen_apiserver.py "$OUT/demo.pcap"
	           else echo "regen: tests/gen/gen_apiserver.py not present, skipped"; fi ;;
	why|why:*) # shellcheck disable=SC2046
	           if [ -f tests/gen/gen_why.py ]; then $PY tests/gen/gen_why.py "$OUT" $(echo "${g#why}" | tr ':,' '  ')
	           else echo "regen: tests/gen/gen_why.py not present, skipped"; fi ;;
	reports)   $PY tests/gen/gen_reports.py --out "$OUT" ;;
	damaged)   # regression captures for loss notices: seeded damage of the demo capture
	           $PY tests/gen/damage.py --bitflip 0.02 --seed 3 "$OUT/demo.pcap" "$OUT/damaged-bitflip.pcap"
	           $PY tests/gen/damage.py --drop-one 40 "$OUT/demo.pcap" "$OUT/damaged-drop.pcap" ;;
	*) echo "regen: unknown generator '$g' (basic grpcjs midconn apiserver why reports damaged)" >&2; exit 2 ;;
	esac
done
# tcpdump drops privileges and leaves its files owned by user tcpdump: give them back
chown "$(stat -c %u:%g "$OUT")" "$OUT"/*.pcap 2>/dev/null || true
ls -l "$OUT"/*.pcap
