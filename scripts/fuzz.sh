#!/usr/bin/env bash
# Runs each libFuzzer target for FUZZ_SECONDS, seeded from tests/fuzz/corpus/<target>/ and,
# for whole-capture targets, from pcaps/. New crashes are kept in build/fuzz/crashes/.
set -u
secs=${FUZZ_SECONDS:-5}
pass=0; fail=0
mkdir -p build/fuzz/crashes
for bin in "$@"; do
	name=$(basename "$bin")
	# callers pass build/fuzz/fuzz_*: skip the logs that sit beside the binaries
	case "$name" in *.*) continue ;; esac
	[ -x "$bin" ] || continue
	corpus="build/fuzz/corpus/$name"; mkdir -p "$corpus"
	seeds=""
	[ -d "tests/fuzz/corpus/$name" ] && seeds="tests/fuzz/corpus/$name"
	[ "$name" = fuzz_pcap ] && seeds="$seeds pcaps"
	# shellcheck disable=SC2086
	if "$bin" -max_total_time="$secs" -rss_limit_mb=2048 -timeout=10 -print_final_stats=0 \
		-artifact_prefix=build/fuzz/crashes/"$name"- "$corpus" $seeds >"build/fuzz/$name.log" 2>&1; then
		pass=$((pass+1))
	else
		echo "fuzz: $name found a failure:"; grep -E "ERROR|SUMMARY|artifact" "build/fuzz/$name.log" | head -5 | sed 's/^/    /'
		fail=$((fail+1))
	fi
done
echo "fuzz: $pass passed, $fail failed"
[ $fail -eq 0 ]
