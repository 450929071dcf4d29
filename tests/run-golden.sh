#!/usr/bin/env bash
# Golden tests (tcpdump's habit): tests/TESTLIST names a test, a capture in pcaps/ and the
# options; the expected output is tests/golden/NAME.out. Runs with TZ=UTC; any stderr fails.
# --update rewrites the golden files for review (make update-golden).
set -u
cd "$(dirname "$0")/.."
BIN=${EE_BIN:-./etcd-explorer}
update=0; [ "${1:-}" = "--update" ] && update=1
pass=0; fail=0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
while read -r name pcap opts; do
	case "$name" in ''|'#'*) continue ;; esac
	if [ ! -f "pcaps/$pcap" ]; then echo "golden: $name: missing pcaps/$pcap"; fail=$((fail+1)); continue; fi
	# shellcheck disable=SC2086
	TZ=UTC "$BIN" -q -r "pcaps/$pcap" $opts >"$tmp/out" 2>"$tmp/err"; rc=$?
	exp="tests/golden/$name.out"
	if [ $update = 1 ]; then cp "$tmp/out" "$exp"; fi
	if [ $rc -ne 0 ]; then echo "golden: $name: exit $rc"; sed 's/^/    /' "$tmp/err" | head; fail=$((fail+1)); continue; fi
	if [ -s "$tmp/err" ]; then echo "golden: $name: unexpected stderr:"; sed 's/^/    /' "$tmp/err" | head; fail=$((fail+1)); continue; fi
	if [ ! -f "$exp" ]; then echo "golden: $name: no $exp (run make update-golden)"; fail=$((fail+1)); continue; fi
	if ! diff -u "$exp" "$tmp/out" >"$tmp/diff"; then
		echo "golden: $name: output differs from $exp:"; head -40 "$tmp/diff" | sed 's/^/    /'; fail=$((fail+1)); continue
	fi
	pass=$((pass+1))
done < tests/TESTLIST
echo "golden: $pass passed, $fail failed"
[ $fail -eq 0 ]
