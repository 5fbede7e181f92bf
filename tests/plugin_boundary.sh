#!/bin/sh
# The plugin boundary is the build's: every in-tree plugin (plugins/*,
# tests/plugins/*) compiles with the SDK headers only. Asks make how it
# would compile each plugin source (-n, nothing is built) and fails on any
# include path that reaches the core (-I.../core, or the top folder, from
# which "core/x.h" resolves).
set -eu
build=${PORTICO_BUILDDIR:?}
src=${PORTICO_SRCDIR:?}
unset MAKEFLAGS MFLAGS MAKELEVEL || true
cd "$build"
what=""
n=0
for f in "$src"/plugins/*/*.c "$src"/tests/plugins/*.c; do
	rel=${f#"$src"/}
	what="$what -W $rel"
	n=$((n + 1))
done
# one module per plugins/ folder and per fixture source
targets=""
for d in "$src"/plugins/*/; do
	targets="$targets plugins/$(basename "$d").la"
done
for f in "$src"/tests/plugins/*.c; do
	targets="$targets tests/plugins/$(basename "$f" .c).la"
done
# shellcheck disable=SC2086
lines=$(make -n V=1 $what $targets 2>&1 | grep -e '--mode=compile' || true)
got=$(printf '%s\n' "$lines" | grep -c -e '--mode=compile' || true)
[ "$got" -ge "$n" ] || { echo "FAIL: make -n showed $got compile lines for $n plugin sources"; exit 1; }
bad=$(printf '%s\n' "$lines" | tr ' ' '\n' | grep -E '^-I' | sort -u |
	grep -vE '^-I(\./)?(\.\./)*(sdk/include|plugins/[a-z_]+)$|^-I/usr/' || true)
if [ -n "$bad" ]; then
	echo "FAIL: plugins compile with include paths outside the SDK:"
	echo "$bad"
	exit 1
fi
echo "ok: $n plugin sources compile against sdk/include only"
