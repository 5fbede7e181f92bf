#!/bin/sh
# Build and run one libFuzzer target: tests/fuzz/run.sh NAME [SECONDS]
#   NAME selects tests/fuzz/fuzz_NAME.c, tests/fuzz/corpus/NAME/ and
#   tests/fuzz/NAME.dict (optional). Runs from the repo root on a copy of the
#   seed corpus in a temp dir; exits non-zero on a crash, leak or timeout.
#   Env: CC (default clang), FUZZ_JOBS (parallel workers, default 1),
#        FUZZ_KEEP=1 keeps the temp dir (crash reproducers are printed).
set -eu

name=${1:?usage: tests/fuzz/run.sh NAME [SECONDS]}
secs=${2:-60}
root=$(cd "$(dirname "$0")/../.." && pwd)
cd "$root"

# Sources each target needs besides its driver.
case $name in
h1)	srcs="core/http/h1_parser.c core/http/h1_lex.c core/http/h1_chunked.c"; target=tests/fuzz/fuzz_h1_parser.c ;;
router)	srcs="core/router.c"; target=tests/fuzz/fuzz_router.c ;;
json)	srcs="core/lua/lua_json.c -Icore/lua $(pkg-config --cflags --libs lua5.4 jansson)"; target=tests/fuzz/fuzz_json.c ;;
jwt)	srcs="plugins/rest/jwt.c -Iplugins/rest $(pkg-config --cflags --libs openssl jansson)"; target=tests/fuzz/fuzz_jwt.c ;;
graphql)	srcs="plugins/graphql/lexer.c plugins/graphql/parser.c plugins/graphql/parser_sdl.c plugins/graphql/printer.c plugins/graphql/gql_arena.c -Iplugins/graphql"; target=tests/fuzz/fuzz_graphql.c ;;
h1_response)	srcs="core/http/h1_response.c core/http/h1_lex.c core/http/h1_chunked.c"; target=tests/fuzz/fuzz_h1_response.c ;;
graphql_ws)	srcs="plugins/graphql/ws_msg.c -Iplugins/graphql $(pkg-config --cflags --libs jansson)"; target=tests/fuzz/fuzz_graphql_ws.c ;;
lua_pattern)	srcs="core/lua/lua_pattern.c -Icore/lua $(pkg-config --cflags --libs lua5.4)"; target=tests/fuzz/fuzz_lua_pattern.c ;;
ws_frame)	srcs="core/ws/ws_frame.c core/ws/ws_deflate.c -Icore/ws $(pkg-config --cflags --libs zlib)"; target=tests/fuzz/fuzz_ws_frame.c ;;
pb_decode)	srcs="plugins/grpc/pb_*.c -Iplugins/grpc $(pkg-config --cflags --libs lua5.4 jansson libprotobuf-c) -lm"; target=tests/fuzz/fuzz_pb_decode.c ;;
pb_json)	srcs="plugins/grpc/pb_*.c -Iplugins/grpc $(pkg-config --cflags --libs lua5.4 jansson libprotobuf-c) -lm"; target=tests/fuzz/fuzz_pb_json.c ;;
wh_verify)	srcs="plugins/webhook/verify.c plugins/webhook/evid.c -Iplugins/webhook $(pkg-config --cflags --libs openssl jansson lua5.4)"; target=tests/fuzz/fuzz_wh_verify.c ;;
soap_envelope)	srcs="plugins/soap/util.c plugins/soap/xml.c plugins/soap/xml_scan.c plugins/soap/wsse.c plugins/soap/xsd.c plugins/soap/xsd_builtin.c plugins/soap/wsdl.c plugins/soap/codec_enc.c plugins/soap/codec_dec.c plugins/soap/codec_any.c plugins/soap/codec_util.c plugins/soap/envelope.c plugins/soap/schema.c tests/unit/soap_test_stub.c -Iplugins/soap $(pkg-config --cflags --libs libxml-2.0 lua5.4 openssl) -lm"; target=tests/fuzz/fuzz_soap_envelope.c ;;
*)	srcs=""; target=tests/fuzz/fuzz_$name.c ;;
esac
[ -f "$target" ] || { echo "run.sh: no fuzz target $target" >&2; exit 2; }

CC=${CC:-clang}
work=$(mktemp -d "${TMPDIR:-/tmp}/fuzz-$name.XXXXXX")
if [ "${FUZZ_KEEP:-0}" != 1 ]; then
	trap 'rm -rf "$work"' EXIT
fi

# shellcheck disable=SC2086
$CC -g -O1 -fsanitize=fuzzer,address,undefined -fno-sanitize-recover=undefined \
	-Icore -Icore/http -Isdk/include -o "$work/fuzz_$name" "$target" $srcs

mkdir -p "$work/corpus" "$work/artifacts"
if [ -d "tests/fuzz/corpus/$name" ]; then
	cp -R "tests/fuzz/corpus/$name/." "$work/corpus/"
fi
dict=""
if [ -f "tests/fuzz/$name.dict" ]; then
	dict="-dict=tests/fuzz/$name.dict"
fi

jobs=${FUZZ_JOBS:-1}
par=""
if [ "$jobs" -gt 1 ]; then
	par="-fork=$jobs"
fi

echo "run.sh: fuzzing $name for ${secs}s in $work"
status=0
# shellcheck disable=SC2086
"$work/fuzz_$name" $dict $par -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
	-print_final_stats=1 -artifact_prefix="$work/artifacts/" "$work/corpus" \
	>"$work/log" 2>&1 || status=$?
tail -n 25 "$work/log"
if [ "$status" -ne 0 ] || [ -n "$(ls -A "$work/artifacts")" ]; then
	echo "run.sh: $name FAILED (exit $status); reproducers:" >&2
	for f in "$work/artifacts"/*; do
		[ -e "$f" ] || continue
		echo "  $f" >&2
	done
	[ "$status" -ne 0 ] || status=1
	exit "$status"
fi
echo "run.sh: $name clean"
