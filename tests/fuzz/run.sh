#!/bin/sh
# Build the libFuzzer targets with clang (-fsanitize=fuzzer,address,undefined)
# and run each for a bounded time (FUZZ_TIME seconds, default 60), seeded
# with tests/fixtures. Prints one TAP line per target. Needs the Debian
# package clang (plus the -dev packages the build already needs).
cd "$(dirname "$0")/../.." || exit 2
time=${FUZZ_TIME:-60}
out=build/fuzz
if ! command -v clang >/dev/null 2>&1; then
	echo "not ok - fuzz: clang not installed (apt-get install clang)"
	exit 1
fi
mkdir -p "$out/corpus-msg"
pkgs="gmime-3.0 libxml-2.0 jansson"
# The message module and what it needs; not main.o, not the rest.
srcs="src/msg.c src/msg-body.c src/msg-html.c src/msg-utf8.c src/xmalloc.c src/log.c"
# shellcheck disable=SC2046,SC2086
if ! clang -g -O1 -fsanitize=fuzzer,address,undefined \
    -fno-sanitize-recover=undefined -D_GNU_SOURCE -Isrc \
    $(pkg-config --cflags $pkgs) -o "$out/fuzz_msg" tests/fuzz/fuzz_msg.c \
    $srcs $(pkg-config --libs $pkgs) >"$out/build.log" 2>&1; then
	echo "not ok - fuzz: fuzz_msg does not build"
	sed 's/^/# /' "$out/build.log" | head -20
	exit 1
fi
cp tests/fixtures/*.eml "$out/corpus-msg/" 2>/dev/null
if "$out/fuzz_msg" -max_total_time="$time" -max_len=65536 -timeout=10 \
    -rss_limit_mb=2048 -artifact_prefix="$out/" "$out/corpus-msg" \
    >"$out/fuzz_msg.log" 2>&1; then
	echo "ok - fuzz: fuzz_msg ran ${time}s, $(grep -o 'cov: [0-9]*' "$out/fuzz_msg.log" | tail -1)"
else
	echo "not ok - fuzz: fuzz_msg found a crash (see $out/fuzz_msg.log)"
	grep -m5 'ERROR\|runtime error\|artifact' "$out/fuzz_msg.log" | sed 's/^/# /'
	exit 1
fi
