#!/usr/bin/env bash
# Integration tests against real etcd traffic:
#  1. every committed capture with a truth file: the tool's --json trace must contain every
#     operation the client did (tests/check_truth.py);
#  2. fresh captures: a real etcd + etcdctl + python3-etcd3 workload captured now, checked the
#     same way (the committed files cannot hide a regression in capture handling);
#  3. damaged variants of the captures (tests/gen/damage.py): no crash, no sanitizer report,
#     and the records outside the damaged region are identical;
#  4. live: the tool captures on lo while etcdctl writes; each write shows up within 1 s.
set -u
cd "$(dirname "$0")/.."
BIN=${EE_BIN:-./etcd-explorer}
PY=/usr/bin/python3
pass=0; fail=0
ok() { pass=$((pass+1)); }
ko() { fail=$((fail+1)); echo "integration: FAIL: $*"; }
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT

# 1. committed captures vs their truth files
for truth in pcaps/*.truth.jsonl; do
	[ -e "$truth" ] || continue
	pcap=${truth%.truth.jsonl}.pcap
	name=$(basename "${pcap%.pcap}")
	flags=""; case "$name" in midconn*) flags="--midconn" ;; esac
	if ! "$BIN" -q -r "$pcap" --json trace >"$tmp/$name.jsonl" 2>"$tmp/$name.err"; then
		ko "$name: tool failed"; sed 's/^/    /' "$tmp/$name.err" | head; continue
	fi
	if [ -s "$tmp/$name.err" ]; then ko "$name: stderr"; head "$tmp/$name.err"; continue; fi
	# shellcheck disable=SC2086
	if $PY tests/check_truth.py "$truth" "$tmp/$name.jsonl" $flags >"$tmp/$name.check" 2>&1; then ok
	else ko "$name: truth check"; tail -15 "$tmp/$name.check" | sed 's/^/    /'; fi
done

# 1b. each why-*.pcap tells one story; its verdict must be the one expect.json names
for exp in pcaps/why-*.expect.json; do
	[ -e "$exp" ] || continue
	pcap=${exp%.expect.json}.pcap
	# .key/.verdict, and .other_key/.other_verdict when the story has a second object
	for which in "" other_; do
		key=$(jq -r ".${which}key // empty" "$exp"); want=$(jq -r ".${which}verdict // empty" "$exp")
		[ -n "$key" ] || continue
		got=$("$BIN" -q -r "$pcap" --json why "$key" 2>"$tmp/why.err" | jq -r .verdict_code)
		if [ "$got" = "$want" ] && [ ! -s "$tmp/why.err" ]; then ok
		else ko "$(basename "$pcap") $key: verdict $got, expected $want"; fi
	done
done

# 2. fresh captures from a real etcd
if [ -x /usr/bin/etcd ] && [ -f tests/gen/gen_basic.py ] && [ "${EE_SKIP_FRESH:-0}" != 1 ]; then
	if $PY tests/gen/gen_basic.py --out "$tmp/fresh" >"$tmp/gen.log" 2>&1; then
		for truth in "$tmp"/fresh/*.truth.jsonl; do
			[ -e "$truth" ] || continue
			pcap=${truth%.truth.jsonl}.pcap
			if "$BIN" -q -r "$pcap" --json trace >"$tmp/fresh.jsonl" 2>"$tmp/fresh.err" &&
				$PY tests/check_truth.py "$truth" "$tmp/fresh.jsonl" >"$tmp/fresh.check" 2>&1; then ok
			else ko "fresh $(basename "$pcap")"; tail -15 "$tmp/fresh.check" "$tmp/fresh.err" 2>/dev/null | sed 's/^/    /'; fi
		done
	else
		ko "fresh capture generation"; tail -20 "$tmp/gen.log" | sed 's/^/    /'
	fi
fi

# 3. damaged captures
if [ -f tests/gen/damage.py ]; then
	for pcap in pcaps/basic-etcdctl.pcap pcaps/demo.pcap pcaps/midconn.pcap; do
		[ -f "$pcap" ] || continue
		name=$(basename "${pcap%.pcap}")
		for dmg in "--reorder 8" "--duplicate 0.1" "--drop-one 40" "--drop-one 90" "--snaplen 128" "--bitflip 0.02"; do
			tag=$(echo "$dmg" | tr -d ' -')
			# shellcheck disable=SC2086
			$PY tests/gen/damage.py $dmg "$pcap" "$tmp/$name-$tag.pcap" >/dev/null 2>&1 || { ko "damage.py $dmg $pcap"; continue; }
			"$BIN" -q -r "$tmp/$name-$tag.pcap" --json trace >"$tmp/$name-$tag.jsonl" 2>"$tmp/$name-$tag.err"; rc=$?
			if [ $rc -ne 0 ] || grep -q "Sanitizer\|runtime error" "$tmp/$name-$tag.err"; then
				ko "$name $dmg: exit $rc"; head -5 "$tmp/$name-$tag.err" | sed 's/^/    /'; continue
			fi
			ok
		done
		if [ -f tests/compare_damaged.py ]; then
			"$BIN" -q -r "$pcap" --json trace >"$tmp/$name-clean.jsonl" 2>/dev/null
			# Duplicates are compared record by record; so is reorder8, which also swaps
			# packets across directions (a response before its request: grpc.c holds it
			# until the request; a SYN after the first data: h2 still finds the preface;
			# a RST before the peer's last data: tcp waits before closing), with the
			# tolerances of compare_damaged.py --reorder. A dropped segment too: what its
			# loss took from HPACK (a :path, the trailers' entries) is inferred or learned.
			# Snaplen 128 too, midconn included: joined without a SYN and with every
			# payload cut, -p auto waits past the gaps for the port found on the other
			# connection (it used to decide at the first gap and take a client's port).
			# Bit flips damage silently (TCP checksums are not checked: offload makes
			# them wrong in captures): those runs must only finish cleanly.
			for tag in duplicate0.1 reorder8 dropone40 dropone90 snaplen128; do
				flags=; [ $tag = reorder8 ] && flags=--reorder
				if $PY tests/compare_damaged.py $flags "$tmp/$name-clean.jsonl" "$tmp/$name-$tag.jsonl" >"$tmp/cmp" 2>&1; then ok
				else ko "$name $tag: records differ from the undamaged run"; tail -5 "$tmp/cmp" | sed 's/^/    /'; fi
			done
		fi
	done
fi

# 3b. two etcd clusters in one capture (demo's and reports'): the summary counts them and
# stderr says that the key store mixes their keys
if [ -f pcaps/demo.pcap ] && [ -f pcaps/reports.pcap ]; then
	$PY - pcaps/demo.pcap pcaps/reports.pcap "$tmp/two.pcap" <<'PYEOF'
import sys
sys.path.insert(0, "tests/gen")
from damage import Pcap
a, b = (Pcap(open(f, "rb").read()) for f in sys.argv[1:3])
a.recs = sorted(a.recs + b.recs, key=lambda r: (r[0], r[1]))
open(sys.argv[3], "wb").write(a.dump())
PYEOF
	n=$("$BIN" -r "$tmp/two.pcap" --json trace 2>"$tmp/two.err" | jq -r 'select(.kind=="summary") | .clusters')
	if [ "$n" = 2 ] && grep -q "2 etcd clusters in this capture" "$tmp/two.err"; then ok
	else ko "two clusters: summary says ${n:-nothing}"; head -3 "$tmp/two.err" | sed 's/^/    /'; fi
fi

# 4. live capture on lo
if [ "$(id -u)" = 0 ] && [ -f tests/live_test.py ] && [ "${EE_SKIP_LIVE:-0}" != 1 ]; then
	if $PY tests/live_test.py "$BIN" >"$tmp/live.log" 2>&1; then ok
	else ko "live test"; tail -20 "$tmp/live.log" | sed 's/^/    /'; fi
fi

echo "integration: $pass passed, $fail failed"
[ $fail -eq 0 ]
