#!/bin/sh
# The SDK promise: sdk/examples/hello builds out of tree with nothing but
# `pkg-config --cflags --libs portico-plugin`, and the daemon loads it and
# serves its handler over HTTP.
set -eu
src=${PORTICO_SRCDIR:?}
build=${PORTICO_BUILDDIR:?}
bin=${PORTICO_BIN:?}
work=$(mktemp -d "${TMPDIR:-/tmp}/portico-sdk.XXXXXX")
pid=""
cleanup() {
	[ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	rm -rf "$work"
}
trap cleanup EXIT

cp -R "$src/sdk/examples/hello" "$work/hello"
chmod -R u+w "$work/hello"
# the uninstalled .pc in the build tree
PKG_CONFIG_PATH="$build/sdk" make -s -C "$work/hello" >"$work/build.log" 2>&1 || {
	cat "$work/build.log"; echo "FAIL: hello did not build out of tree"; exit 1; }
mkdir "$work/plugins"
cp "$work/hello/hello.so" "$work/plugins/"

port=$(/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
cat >"$work/portico.conf" <<CONF
workers = 1
plugins_dir = "$work/plugins"
log = { level = "info", file = "$work/error.log" }
listen { address = "127.0.0.1", port = $port }
plugin "hello" { greeting = "Hello from a plugin" }
route { method = "GET", path = "/hello/:name", handler = "hello" }
CONF
"$bin" -t -c "$work/portico.conf" || { cat "$work/error.log"; echo "FAIL: -t"; exit 1; }
"$bin" -c "$work/portico.conf" &
pid=$!
i=0
until curl -s -o /dev/null "http://127.0.0.1:$port/"; do
	i=$((i + 1))
	[ $i -lt 100 ] || { cat "$work/error.log"; echo "FAIL: no listener"; exit 1; }
	sleep 0.05
done
body=$(curl -s "http://127.0.0.1:$port/hello/ada")
[ "$body" = "Hello from a plugin, ada!" ] || { echo "FAIL: got '$body'"; cat "$work/error.log"; exit 1; }
grep -q "loaded hello 1.0.0" "$work/error.log" || { echo "FAIL: no load line"; exit 1; }
echo "ok: hello built with pkg-config, loaded and answered"
