#!/bin/sh
# Build the libFuzzer targets with clang (-fsanitize=fuzzer,address,undefined)
# and run each for a bounded time (FUZZ_TIME seconds, default 60):
#   fuzz_msg    the message parser, seeded with tests/fixtures/*.eml
#   fuzz_rules  the rule loader (and evaluation of what loads), seeded with
#               tests/fuzz/seeds-rules and the shipped rules/*.yaml
#   fuzz_tmpl   the template renderer in every mode, tests/fuzz/seeds-tmpl
#   fuzz_html   HTML to text from the parser's events against the walk of
#               libxml2's tree: any difference is a crash; seeded with
#               tests/fixtures/*.eml
# FUZZ_TARGETS picks some ("fuzz_rules fuzz_tmpl"). Prints one TAP line per
# target. Needs the Debian package clang (plus the -dev packages the build
# already needs). Crashes are written to build/fuzz/<target>-crash-*.
cd "$(dirname "$0")/../.." || exit 2
time=${FUZZ_TIME:-60}
targets=${FUZZ_TARGETS:-"fuzz_msg fuzz_rules fuzz_tmpl fuzz_html"}
out=build/fuzz
if ! command -v clang >/dev/null 2>&1; then
	echo "not ok - fuzz: clang not installed (apt-get install clang)"
	exit 1
fi
mkdir -p "$out"
pkgs="libcurl libpcre2-8 yaml-0.1 libcrypto sqlite3 gmime-3.0 libxml-2.0 jansson"
msg_srcs="src/msg.c src/msg-body.c src/msg-head.c src/msg-mime.c src/msg-html.c src/msg-utf8.c src/xmalloc.c src/log.c"
# The rule loader reaches conf.c (durations) and through it most modules:
# every source but main.c.
all_srcs=$(ls src/*.c | grep -v '^src/main\.c$')

# build TARGET SOURCES...
build() {
	t=$1
	shift
	# shellcheck disable=SC2046,SC2086
	if ! clang -g -O1 -fsanitize=fuzzer,address,undefined \
	    -fno-sanitize-recover=undefined -D_GNU_SOURCE \
	    -DPCRE2_CODE_UNIT_WIDTH=8 -DFACTEUR_VERSION='"fuzz"' -Isrc \
	    $(pkg-config --cflags $pkgs) -o "$out/$t" "tests/fuzz/$t.c" \
	    "$@" $(pkg-config --libs $pkgs) -lpthread -lm \
	    >"$out/$t.build.log" 2>&1; then
		echo "not ok - fuzz: $t does not build"
		sed 's/^/# /' "$out/$t.build.log" | head -20
		return 1
	fi
}

# run TARGET SEEDS...: a fresh corpus dir from the seeds, then fuzz it.
run() {
	t=$1
	shift
	mkdir -p "$out/corpus-$t"
	for s in "$@"; do
		[ -f "$s" ] && cp "$s" "$out/corpus-$t/"
	done
	if "$out/$t" -max_total_time="$time" -max_len=65536 -timeout=10 \
	    -rss_limit_mb=2048 -artifact_prefix="$out/$t-" \
	    "$out/corpus-$t" >"$out/$t.log" 2>&1; then
		echo "ok - fuzz: $t ran ${time}s, $(grep -o 'cov: [0-9]*' "$out/$t.log" | tail -1)"
	else
		echo "not ok - fuzz: $t found a crash (see $out/$t.log)"
		grep -m5 'ERROR\|runtime error\|artifact' "$out/$t.log" | sed 's/^/# /'
		return 1
	fi
}

status=0
for t in $targets; do
	case $t in
	fuzz_msg)
		# shellcheck disable=SC2086
		build fuzz_msg $msg_srcs && run fuzz_msg tests/fixtures/*.eml ||
		    status=1 ;;
	fuzz_rules)
		# shellcheck disable=SC2086
		build fuzz_rules $all_srcs && run fuzz_rules \
		    tests/fuzz/seeds-rules/* rules/*.yaml || status=1 ;;
	fuzz_tmpl)
		build fuzz_tmpl src/tmpl.c src/xmalloc.c src/log.c &&
		    run fuzz_tmpl tests/fuzz/seeds-tmpl/* || status=1 ;;
	fuzz_html)
		build fuzz_html src/msg-html.c src/xmalloc.c src/log.c &&
		    run fuzz_html tests/fixtures/*.eml || status=1 ;;
	*)
		echo "not ok - fuzz: no target $t"
		status=1 ;;
	esac
done
exit $status
