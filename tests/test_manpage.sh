#!/usr/bin/env bash
# test_manpage.sh: the man page (docs/etcd-explorer.1) documents what the program accepts,
# and `make install` installs it with the binary (issue 2).
#
#  1. every command of `etcd-explorer help` and of cli.c's COMMANDS table is an entry (.TP
#     tag) of the COMMANDS section;
#  2. every option of `etcd-explorer help` (its option column) and every option of cli.c's
#     getopt string and LONGOPTS table is documented: help's as an entry of OPTIONS (or of
#     a command's synopsis), the rest (aliases such as --colour) at least in the text;
#  3. every long option help prints is one the parser accepts (help does not promise more);
#  4. the page renders without warnings (man or groff, when installed: not a dependency);
#  5. `make install DESTDIR=$tmp PREFIX=/usr` installs bin/etcd-explorer (0755, runs) and
#     share/man/man1/etcd-explorer.1 (0644, identical to docs/);
#  6. negative control: the checks of 2 report a page with one option removed.
#
# EE_BIN: the binary whose help is read (default ./etcd-explorer, built by make install).
# EE_MANPAGE: the page to check (default docs/etcd-explorer.1).
# EE_KEEP_TMP=1: keep the work directory (the extracted lists) and print its name.
# Ends with "manpage: N passed, N failed"; exit status 1 on any failure.
set -u
cd "$(dirname "$0")/.."
PAGE=${EE_MANPAGE:-docs/etcd-explorer.1}
pass=0
fail=0
ok() { pass=$((pass + 1)); }
ko() { fail=$((fail + 1)); echo "FAIL: $*"; }
tmp=$(mktemp -d)
if [ "${EE_KEEP_TMP:-0}" = 1 ]; then echo "work directory: $tmp"; else trap 'rm -rf "$tmp"' EXIT; fi

# The page as plain text lines: roff escapes \- \fB \fI \fR \fP \(aq removed, quotes gone.
plain() {
	sed -e 's/\\-/-/g' -e 's/\\f[BIRP]//g' -e 's/\\(aq/'"'"'/g' -e 's/\\(dq//g' \
		-e 's/"//g' "$1"
}

# Lines of section $2 (".SH NAME" up to the next .SH) of page $1, plain.
section() {
	plain "$1" | awk -v want="$2" '/^\.SH /{on = ($0 == ".SH " want); next} on'
}

# Tag lines (the line after each .TP) of a section, macros stripped.
tags() {
	section "$1" "$2" | awk 'prev == ".TP" {sub(/^\.[A-Z]+ */, ""); print} {prev = $0}'
}

# True when word $2 (an option or a command) appears in the lines on stdin as a word of
# its own: "--name" must not be found inside "--namespace".
has_word() {
	grep -qE -- "(^|[^A-Za-z0-9_-])$(printf '%s' "$2" | sed 's/[.[\*^$]/\\&/g')([^A-Za-z0-9_-]|$)" "$1"
}

# ---- 5 first: make install builds ./etcd-explorer, which the help checks below read.
inst="$tmp/root"
if make --no-print-directory install DESTDIR="$inst" PREFIX=/usr >"$tmp/install.log" 2>&1; then
	ok
else
	ko "make install DESTDIR=$inst PREFIX=/usr failed"
	tail -5 "$tmp/install.log" | sed 's/^/    /'
fi
bin="$inst/usr/bin/etcd-explorer"
man1="$inst/usr/share/man/man1/etcd-explorer.1"
if [ -x "$bin" ] && [ "$(stat -c %a "$bin" 2>/dev/null)" = 755 ] && "$bin" help >/dev/null 2>&1; then
	ok
else
	ko "make install did not install an executable (0755) bin/etcd-explorer that runs"
fi
if [ -f "$man1" ] && [ "$(stat -c %a "$man1" 2>/dev/null)" = 644 ] && cmp -s "$man1" docs/etcd-explorer.1; then
	ok
else
	ko "make install did not install share/man/man1/etcd-explorer.1 (0644, same as docs/)"
fi

BIN=${EE_BIN:-./etcd-explorer}
if ! "$BIN" help >"$tmp/help" 2>&1; then
	ko "'$BIN help' failed"
	echo "manpage: $pass passed, $fail failed"
	exit 1
fi

# ---- what help and cli.c say the program accepts
# help: commands are the first word of the lines under "Commands:" up to the blank line.
awk '/^Commands:/{on = 1; next} on && /^$/{exit} on {print $1}' "$tmp/help" >"$tmp/help.cmds"
# help: the option column of each indented line: up to the first run of 2+ spaces (the
# description), or the whole line when it has no description (the filter list). Options
# named in the description column (kube-apiserver's --etcd-prefix) are not ours.
awk '/^  [^ ]/ {
	s = substr($0, 3); i = match(s, /   */); if (i) s = substr(s, 1, i - 1); print s
}' "$tmp/help" >"$tmp/help.cols"
grep -oE -- '--[a-z][a-z-]+' "$tmp/help.cols" | sort -u >"$tmp/help.long"
grep -oE -- '(^|[ [])-[A-Za-z]([ ]|]|$)' "$tmp/help.cols" | grep -oE -- '-[A-Za-z]' | sort -u >"$tmp/help.short"
# cli.c: the COMMANDS table, LONGOPTS and the getopt string.
sed -n '/COMMANDS\[\] = {/,/};/p' src/cli.c | grep -oE '"[a-z]+"' | tr -d '"' >"$tmp/cli.cmds"
sed -n '/LONGOPTS\[\] = {/,/};/p' src/cli.c | grep -oE '\{"[a-z][a-z-]*"' | tr -d '{"' | sed 's/^/--/' | sort -u >"$tmp/cli.long"
grep -oE 'getopt_long\([^"]*"[^"]*"' src/cli.c | sed 's/.*"\(.*\)"/\1/' | tr -d ':' | grep -oE '[A-Za-z]' | sed 's/^/-/' | sort -u >"$tmp/cli.short"
for f in help.cmds help.long help.short cli.cmds cli.long cli.short; do
	[ -s "$tmp/$f" ] || ko "could not read the $f list (help text or src/cli.c changed shape?)"
done

# ---- checks 1 and 2 against one page; prints one line per thing missing.
check_page() {
	local page=$1 w
	tags "$page" COMMANDS >"$tmp/page.cmdtags"
	tags "$page" OPTIONS >"$tmp/page.opttags"
	# a command's own options (get's --rev, search's -E) may be documented in its synopsis
	cat "$tmp/page.opttags" "$tmp/page.cmdtags" >"$tmp/page.alltags"
	plain "$page" >"$tmp/page.txt"
	for w in $(sort -u "$tmp/help.cmds" "$tmp/cli.cmds"); do
		# the tag must start with the command: ".B status", ".BR list [prefix]"
		if ! awk '{print $1}' "$tmp/page.cmdtags" | grep -qxF -- "$w"; then
			echo "  command '$w' has no entry in the COMMANDS section of $page"
		fi
	done
	for w in $(cat "$tmp/help.long" "$tmp/help.short"); do
		if ! has_word "$tmp/page.alltags" "$w"; then
			echo "  option '$w' (in 'etcd-explorer help') has no entry in OPTIONS of $page"
		fi
	done
	for w in $(cat "$tmp/cli.long" "$tmp/cli.short"); do
		if ! has_word "$tmp/page.txt" "$w"; then
			echo "  option '$w' (accepted by src/cli.c) is not mentioned in $page"
		fi
	done
}

check_page "$PAGE" >"$tmp/missing"
n=$(wc -l <"$tmp/missing")
if [ "$n" -eq 0 ]; then ok; else ko "$n commands/options undocumented:"; cat "$tmp/missing"; fi
# one pass/fail per item, so the count says how much was checked
items=$(cat "$tmp/help.cmds" "$tmp/cli.cmds" "$tmp/help.long" "$tmp/help.short" "$tmp/cli.long" "$tmp/cli.short" | wc -l)
[ "$n" -eq 0 ] && pass=$((pass + items - 1))

# ---- 3: help promises only options the parser has
for w in $(cat "$tmp/help.long"); do
	if grep -qxF -- "$w" "$tmp/cli.long"; then ok; else ko "help prints $w but src/cli.c LONGOPTS has no such option"; fi
done

# ---- 4: renders without warnings
if command -v man >/dev/null 2>&1 && man --help 2>&1 | grep -q -- --warnings; then
	warn=$(MANWIDTH=80 man --warnings -l "$PAGE" 2>&1 >/dev/null)
	if [ -z "$warn" ]; then ok; else ko "man --warnings -l $PAGE:"; echo "$warn" | head -10 | sed 's/^/    /'; fi
elif command -v groff >/dev/null 2>&1; then
	warn=$(groff -man -ww -z "$PAGE" 2>&1)
	if [ -z "$warn" ]; then ok; else ko "groff -man -ww $PAGE:"; echo "$warn" | head -10 | sed 's/^/    /'; fi
else
	echo "note: neither man nor groff installed: rendering not checked"
fi

# ---- 6: negative control: the same checks must catch a page without one option
victim=$(head -1 "$tmp/help.long")
grep -vF -- "$(printf '%s' "$victim" | sed 's/-/\\-/g')" "$PAGE" >"$tmp/broken.1"
check_page "$tmp/broken.1" >"$tmp/broken.missing"
if grep -qF -- "'$victim'" "$tmp/broken.missing"; then ok
else ko "negative control: a page without $victim passed the checks"; fi

echo "manpage: $pass passed, $fail failed"
[ "$fail" -eq 0 ]
