#!/usr/bin/env bash
# Installs the Debian packages the build and the tests need, only those missing.
# Used by `make demo` and `make check`; safe to run again. Needs root (or sudo) to install.
set -eu
BUILD="gcc make pkg-config libpcap-dev libnghttp2-dev libprotobuf-c-dev protobuf-c-compiler zlib1g-dev libjansson-dev"
TEST="etcd-server etcd-client tcpdump python3 python3-etcd3 clang libclang-rt-14-dev jq iproute2 time man-db"
want="$BUILD"
[ "${1:-}" = "--build-only" ] || want="$want $TEST"
missing=""
for p in $want; do
	dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing="$missing $p"
done
[ -z "$missing" ] && exit 0
echo "deps: installing:$missing"
SUDO=""
[ "$(id -u)" -eq 0 ] || SUDO="sudo"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# etcd-server's postinst starts a system etcd on 2379 when a service manager runs; tests use
# their own ports, so that is harmless, but keep it from starting where we can.
$SUDO apt-get install -y -qq --no-install-recommends $missing >/dev/null
