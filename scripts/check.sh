#!/usr/bin/env bash
# make check: unit tests, golden outputs, integration tests with a real etcd, reports vs
# etcdctl, stress captures, steady-state heap allocations, the wrapper script, the man page,
# fuzz smoke. All binaries are the AddressSanitizer+UBSan builds, except in the alloc suite,
# which counts the release binary's allocations (EE_REL_BIN, default ./etcd-explorer).
# Ends with "check: N passed, N failed".
set -u
cd "$(dirname "$0")/.."
export ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=0}
export UBSAN_OPTIONS=${UBSAN_OPTIONS:-print_stacktrace=1:halt_on_error=1}
export EE_BIN=build/asan/etcd-explorer
suites=0; failed=0
run() {
	local name=$1; shift
	echo "== $name"
	suites=$((suites+1))
	if ! "$@"; then failed=$((failed+1)); echo "== $name: FAILED"; fi
}
run unit scripts/run-unit.sh build/asan/unit/test_* build/tsan/unit/test_capture
run golden tests/run-golden.sh
run integration tests/run-integration.sh
run reports tests/run-reports.sh
run stress tests/run-stress.sh
run alloc tests/run-alloc.sh
run wrapper tests/test_wrapper.sh
run manpage tests/test_manpage.sh
run fuzz-smoke env FUZZ_SECONDS="${FUZZ_SECONDS:-5}" scripts/fuzz.sh build/fuzz/fuzz_*
echo "check: $((suites-failed)) passed, $failed failed"
[ $failed -eq 0 ]
