#!/usr/bin/env bash
# etcd-explorer.sh: the original script's interface, answered from the wire.
# A thin wrapper around ./etcd-explorer: builds it (make -C REPO, quietly) when it is missing
# or older than its sources, then runs it with the same command and arguments.  Live by
# default (interface `any`, etcd port 2379), so the original README's commands work as
# written:  scripts/etcd-explorer.sh status | custom | watch /registry/demo.mycompany.com ...
# Usage: scripts/etcd-explorer.sh help   (docs/commands.md)
set -u

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
ME=$(basename "$0")

usage() {
	cat <<EOF
usage: $ME [-i IFACE | -r FILE] [-p PORT] [OPTIONS] COMMAND [ARGS]

The commands of the original etcd-explorer.sh, answered from etcd's gRPC traffic:
  status              cluster health: endpoints, revision, leader, version, db size, latency
  members             cluster members
  size                db size and bytes per resource type
  list [PREFIX]       keys seen, latest revision of each
  count               keys per resource type
  get KEY             one object, decoded, with its history of writes
  search PATTERN      keys matching a substring (-E: a regular expression)
  custom [TYPE]       custom resources by group and resource
  watch PREFIX        every change under PREFIX as it happens
  help                this text and etcd-explorer's own
and etcd-explorer's: trace, writes, why KEY.

Where the traffic comes from:
  live (default)      -i \${ETCD_EXPLORER_IFACE:-any} -p \${ETCD_EXPLORER_PORT:-2379};
                      report commands print at Ctrl-C (or -c N, --duration 30s)
  -i IFACE            capture on IFACE (needs root or CAP_NET_RAW)
  -r FILE             read a pcap/pcapng file instead ('-' = stdin); without -p the
                      file is searched for etcd on any port
  -p PORT[,PORT]      etcd client port(s)
Every other option (--json, -c N, --duration D, --rev N, -E, ...) is passed on.
Environment: ETCD_EXPLORER_IFACE, ETCD_EXPLORER_PORT (live defaults), ETCD_EXPLORER_BIN
(run this binary instead of building $ROOT/etcd-explorer).
EOF
}

die() {
	echo "$ME: $*" >&2
	exit 2
}

# Builds $ROOT/etcd-explorer when it is missing or a source is newer; make's output is
# shown only when the build fails.
ensure_binary() {
	if [ -n "${ETCD_EXPLORER_BIN:-}" ]; then
		[ -x "$ETCD_EXPLORER_BIN" ] || die "ETCD_EXPLORER_BIN=$ETCD_EXPLORER_BIN is not an executable"
		BIN=$ETCD_EXPLORER_BIN
		return
	fi
	BIN=$ROOT/etcd-explorer
	if [ -x "$BIN" ] && [ -z "$(cd "$ROOT" && find Makefile src capture hpack proto \
		-newer "$BIN" -type f 2>/dev/null | head -1)" ]; then
		return
	fi
	local log
	log=$(mktemp) || die "mktemp failed"
	if ! make -C "$ROOT" -s etcd-explorer >"$log" 2>&1; then
		echo "$ME: building etcd-explorer failed (make -C $ROOT):" >&2
		tail -30 "$log" >&2
		rm -f "$log"
		exit 2
	fi
	rm -f "$log"
	[ -x "$BIN" ] || die "make did not produce $BIN"
}

# Split the arguments: source options (-i/-r/-p), the command, and everything else in order.
iface="" file="" port="" cmd=""
pass=()     # options passed on, in order
args=()     # the command's arguments
while [ $# -gt 0 ]; do
	a=$1
	case $a in
	-i|-r|-p)
		[ $# -ge 2 ] || die "option $a needs an argument (try: $ME help)"
		case $a in -i) iface=$2 ;; -r) file=$2 ;; -p) port=$2 ;; esac
		shift 2; continue ;;
	-c|-w|--duration|--prefix|--max-mem|--resource|--namespace|--name|--manager|--key-prefix|--rev)
		[ $# -ge 2 ] || die "option $a needs an argument (try: $ME help)"
		pass+=("$a" "$2"); shift 2; continue ;;
	-h|--help)
		cmd=help; shift; continue ;;
	--)
		pass+=("$@"); break ;;   # a BPF expression: the rest of the line
	-?*)
		pass+=("$a"); shift; continue ;;
	esac
	if [ -z "$cmd" ]; then cmd=$a; else args+=("$a"); fi
	shift
done

case $cmd in
"")
	usage >&2
	exit 2 ;;
help)
	usage
	ensure_binary
	echo
	echo "etcd-explorer (run by $ME as $BIN):"
	"$BIN" help
	exit $? ;;
get|search|watch|why)
	[ ${#args[@]} -ge 1 ] || die "'$cmd' needs an argument: $ME $cmd $(
		case $cmd in get) echo KEY ;; search) echo PATTERN ;; watch) echo PREFIX ;; why) echo KEY ;; esac)" ;;
status|members|size|list|count|custom|trace|writes) ;;
*)
	die "unknown command '$cmd' (commands: status members size list count get search custom watch help; try: $ME help)" ;;
esac

[ -z "$iface" ] || [ -z "$file" ] || die "-i and -r exclude each other"
src=()
if [ -n "$file" ]; then
	src=(-r "$file")
	[ -z "$port" ] || src+=(-p "$port")
else
	src=(-i "${iface:-${ETCD_EXPLORER_IFACE:-any}}" -p "${port:-${ETCD_EXPLORER_PORT:-2379}}")
fi

ensure_binary
# options first, then the command and its arguments, then any BPF expression ("--" ...)
bpf=()
for i in "${!pass[@]}"; do
	if [ "${pass[$i]}" = "--" ]; then
		bpf=("${pass[@]:$i}")
		pass=("${pass[@]:0:$i}")
		break
	fi
done
exec "$BIN" "${src[@]}" "${pass[@]}" "$cmd" "${args[@]}" "${bpf[@]}"
