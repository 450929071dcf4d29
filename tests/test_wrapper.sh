#!/usr/bin/env bash
# scripts/etcd-explorer.sh, the original script's interface:
#  1. with the real binary ($EE_BIN, default ./etcd-explorer, given to the wrapper as
#     ETCD_EXPLORER_BIN; once without it, so the wrapper makes and runs ./etcd-explorer
#     itself, compared with ./etcd-explorer): help, reports on pcaps/demo.pcap equal to running the binary
#     directly (count, get, search, watch, --json), unknown command / missing argument fail
#     with a clear message and exit 2;
#  2. in a throw-away fake repository (a Makefile that "builds" a binary echoing its
#     arguments): the build when the binary is missing, no rebuild when it is up to date, a
#     rebuild when a source is newer, a failed build reported, and the exact argv the
#     wrapper hands on (live defaults -i any -p 2379, env overrides, -r/-p, quoting).
# Ends with "wrapper: N passed, N failed".
set -u
cd "$(dirname "$0")/.." || exit 2
BIN=${EE_BIN:-./etcd-explorer}
W=scripts/etcd-explorer.sh
PCAP=pcaps/demo.pcap
CMA=/registry/demo.mycompany.com/configmapapps/demo/my-nginx-app
pass=0; fail=0
tmp=$(mktemp -d); trap 'rm -rf "$tmp"' EXIT
ok() { pass=$((pass+1)); }
ko() { fail=$((fail+1)); echo "wrapper: FAIL: $*"; }

# same NAME ARGS...: the wrapper's stdout and exit status equal the binary's
same() {
	local name=$1; shift
	ETCD_EXPLORER_BIN=$BIN "$W" "$@" >"$tmp/w.out" 2>"$tmp/w.err"; local wrc=$?
	"$BIN" "$@" >"$tmp/b.out" 2>"$tmp/b.err"; local brc=$?
	if [ $wrc -eq $brc ] && [ $wrc -eq 0 ] && [ -s "$tmp/b.out" ] && cmp -s "$tmp/w.out" "$tmp/b.out"; then ok
	else ko "$name: wrapper exit $wrc, binary exit $brc, outputs differ or empty"
		diff "$tmp/w.out" "$tmp/b.out" | head -5 | sed 's/^/    /'; head -3 "$tmp/w.err" | sed 's/^/    /'; fi
}

# fails NAME PATTERN ARGS...: exit 2, nothing on stdout, PATTERN in stderr
fails() {
	local name=$1 pat=$2; shift 2
	ETCD_EXPLORER_BIN=$BIN "$W" "$@" >"$tmp/f.out" 2>"$tmp/f.err"; local rc=$?
	if [ $rc -eq 2 ] && [ ! -s "$tmp/f.out" ] && grep -q -- "$pat" "$tmp/f.err"; then ok
	else ko "$name: exit $rc, stderr: $(head -2 "$tmp/f.err")"; fi
}

# 1. the real binary
if [ ! -x "$BIN" ]; then
	ko "$BIN is not built"
else
	ETCD_EXPLORER_BIN=$BIN "$W" help >"$tmp/help" 2>&1; rc=$?
	if [ $rc -eq 0 ] && grep -q "^usage: etcd-explorer.sh" "$tmp/help" &&
		grep -q "watch PREFIX" "$tmp/help" && grep -q "^usage: etcd-explorer \[options\]" "$tmp/help"; then ok
	else ko "help: exit $rc, wrapper usage + binary help expected"; head -5 "$tmp/help"; fi

	same "count" -r "$PCAP" count
	# without ETCD_EXPLORER_BIN: the wrapper builds ./etcd-explorer if stale and runs it
	env -u ETCD_EXPLORER_BIN "$W" -r "$PCAP" count >"$tmp/w.out" 2>"$tmp/w.err"; rc=$?
	if [ $rc -eq 0 ] && ./etcd-explorer -r "$PCAP" count 2>/dev/null | cmp -s - "$tmp/w.out" &&
		[ -s "$tmp/w.out" ]; then ok
	else ko "repo binary: wrapper exit $rc or output differs from ./etcd-explorer"; head -3 "$tmp/w.err"; fi
	same "count --json" -r "$PCAP" --json count
	same "get KEY" -r "$PCAP" get "$CMA"
	same "get KEY --json --rev" -r "$PCAP" --json get "$CMA" --rev 30
	same "get RES/NS/NAME" -r "$PCAP" get configmaps/demo/app-settings
	same "search" -r "$PCAP" search my-nginx
	same "search -E" -r "$PCAP" search -E 'pods/demo/web-[0-9]$'
	same "watch" -r "$PCAP" watch /registry/demo.mycompany.com
	same "custom configmapapps" -r "$PCAP" custom configmapapps
	same "list PREFIX" -r "$PCAP" -q list /registry/configmaps/
	# the arguments really reach the binary: get and watch output name the key
	if ETCD_EXPLORER_BIN=$BIN "$W" -r "$PCAP" get "$CMA" 2>/dev/null | grep -q "my-nginx-app"; then ok
	else ko "get: output does not name the object"; fi

	fails "unknown command" "unknown command 'frobnicate'" frobnicate
	fails "unknown command with -r" "unknown command 'lst'" -r "$PCAP" lst
	fails "get without a key" "'get' needs an argument" -r "$PCAP" get
	fails "search without a pattern" "'search' needs an argument" search
	fails "watch without a prefix" "'watch' needs an argument" watch
	fails "-i and -r" "exclude each other" -i lo -r "$PCAP" count
	fails "no command" "usage:"
fi

# 2. a fake repository: build logic and the exact argv
fake=$tmp/repo
mkdir -p "$fake/scripts" "$fake/src"
cp "$W" "$fake/scripts/"
echo "int x;" >"$fake/src/x.c"
cat >"$fake/Makefile" <<'EOF'
etcd-explorer: src/x.c
	@grep -q BROKEN src/x.c && { echo "x.c:1: error: it is broken"; exit 1; } || true
	@echo built >>build.log
	@printf '#!/bin/sh\nfor a in "$$@"; do printf "[%%s]" "$$a"; done; echo\n' >etcd-explorer
	@chmod +x etcd-explorer
EOF
FW=$fake/scripts/etcd-explorer.sh
builds() { [ -f "$fake/build.log" ] && wc -l <"$fake/build.log" || echo 0; }

# argv NAME EXPECTED [ENV=VAL ...] -- ARGS...
argv() {
	local name=$1 want=$2; shift 2
	local envs=()
	while [ "$1" != "--" ]; do envs+=("$1"); shift; done; shift
	local got
	got=$(env -u ETCD_EXPLORER_BIN -u ETCD_EXPLORER_IFACE -u ETCD_EXPLORER_PORT "${envs[@]}" "$FW" "$@" 2>"$tmp/a.err")
	if [ "$got" = "$want" ]; then ok; else ko "$name: argv $got, expected $want $(head -2 "$tmp/a.err")"; fi
}

argv "first run builds; live defaults" "[-i][any][-p][2379][status]" -- status
if [ "$(builds)" = 1 ]; then ok; else ko "missing binary: expected 1 build, got $(builds)"; fi
argv "up to date: no rebuild" "[-i][any][-p][2379][count]" -- count
if [ "$(builds)" = 1 ]; then ok; else ko "up-to-date binary rebuilt ($(builds) builds)"; fi
touch -d "+2 seconds" "$fake/src/x.c"
argv "newer source: rebuild" "[-i][any][-p][2379][members]" -- members
if [ "$(builds)" = 2 ]; then ok; else ko "newer source: expected 2 builds, got $(builds)"; fi
argv "get KEY with spaces" "[-i][any][-p][2379][get][/registry/a b/c]" -- get "/registry/a b/c"
argv "search -E" "[-i][any][-p][2379][-E][search][pods/.*web]" -- search -E 'pods/.*web'
argv "watch, -i -p given" "[-i][lo][-p][12379][--json][watch][/registry/]" -- -i lo -p 12379 --json watch /registry/
argv "watch, env defaults" "[-i][eth0][-p][2381][watch][/registry/]" \
	ETCD_EXPLORER_IFACE=eth0 ETCD_EXPLORER_PORT=2381 -- watch /registry/
argv "-r: no live defaults" "[-r][x.pcap][list][/app/]" -- -r x.pcap list /app/
argv "-r -p, options with values" "[-r][x.pcap][-p][2380][--rev][5][-c][10][get][/k]" \
	-- -r x.pcap -p 2380 get /k --rev 5 -c 10
argv "BPF expression last" "[-i][any][-p][2379][watch][/r/][--][host][10.0.0.1]" -- watch /r/ -- host 10.0.0.1

echo "BROKEN" >"$fake/src/x.c"; touch -d "+4 seconds" "$fake/src/x.c"
env -u ETCD_EXPLORER_BIN "$FW" count >"$tmp/b.out" 2>"$tmp/b.err"; rc=$?
if [ $rc -eq 2 ] && grep -q "building etcd-explorer failed" "$tmp/b.err" && grep -q "it is broken" "$tmp/b.err"; then ok
else ko "failed build: exit $rc, stderr $(head -3 "$tmp/b.err")"; fi

echo "wrapper: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
