#!/usr/bin/env bash
# Runs each unit test binary; prints their own summaries and a total line.
set -u
total_p=0; total_f=0; bad=0
for t in "$@"; do
	out=$("$t" 2>&1); rc=$?
	printf '%s\n' "$out" | tail -n 20 | grep -v '^$' | sed 's/^/  /'
	line=$(printf '%s\n' "$out" | grep -E '[0-9]+ passed, [0-9]+ failed' | tail -1)
	p=$(sed -E 's/.* ([0-9]+) passed.*/\1/' <<<"$line"); f=$(sed -E 's/.* ([0-9]+) failed.*/\1/' <<<"$line")
	[ -n "$line" ] || { p=0; f=1; }
	[ $rc -ne 0 ] && [ "$f" = 0 ] && f=1
	total_p=$((total_p + p)); total_f=$((total_f + f))
done
echo "unit: $total_p passed, $total_f failed"
[ $total_f -eq 0 ]
