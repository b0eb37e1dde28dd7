#!/bin/sh
# tests/fuzz/run.sh -- a longer run of one libFuzzer target, with its seed
# corpus, and the new inputs merged back into the corpus, minimised.
#
# Usage, from a build tree configured with ./configure CC=clang --enable-fuzzers
# (after `make`):
#     ../tests/fuzz/run.sh TARGET SECONDS [libFuzzer options...]
# TARGET is point, telnet, framed, json, http, httppass, putjson or rules.  Example:
#     ../tests/fuzz/run.sh http 600 -jobs=1
#
# What it does:
#   1. runs tests/fuzz/fuzz_TARGET for SECONDS over the seed corpus
#      (tests/fuzz/corpus/TARGET in the source tree, read only) and a fresh
#      directory that collects the new inputs;
#   2. merges seeds and new inputs with -merge=1 into a fresh directory
#      (only inputs that add coverage survive) and makes that the corpus;
#   (tests/fuzz/dict/TARGET.dict, if there is one, is passed as -dict)
#   3. leaves crashes, if any, in the work directory it prints, and exits 1.
#
# Environment:
#   FUZZ_MERGE=min   (default) replace the corpus with the minimised merge
#   FUZZ_MERGE=add   only add the new inputs that add coverage
#   FUZZ_MERGE=no    leave the corpus alone
#   FUZZ_NICE=10     nice level of the fuzzer (the machine may be shared)
#   FUZZ_WORK=DIR    work directory (default: a new one under ${TMPDIR:-/tmp})
#   UBSAN_OPTIONS    default halt_on_error=1:print_stacktrace=1, so UBSan
#                    reports are findings (libFuzzer saves the input)
# Reproduce a crash:  tests/fuzz/fuzz_TARGET CRASH-FILE
# Minimise a crash:   tests/fuzz/fuzz_TARGET -minimize_crash=1 -runs=20000 CRASH-FILE
set -eu

usage() {
    echo "usage: $0 point|telnet|framed|json|http|httppass|putjson|rules SECONDS [libFuzzer options...]" >&2
    exit 2
}
[ $# -ge 2 ] || usage
target=$1
seconds=$2
shift 2
case $target in
point) max_len=2048 ;;
telnet) max_len=8192 ;;
framed) max_len=16384 ;;
json) max_len=8192 ;;
http) max_len=16384 ;;
httppass) max_len=16384 ;;
putjson) max_len=2048 ;;
rules) max_len=8192 ;;
*) usage ;;
esac
case $seconds in
'' | *[!0-9]*) usage ;;
esac

here=$(cd "$(dirname "$0")" && pwd)
corpus=$here/corpus/$target
bin=${FUZZ_BIN_DIR:-tests/fuzz}/fuzz_$target
if [ ! -x "$bin" ]; then
    echo "$0: $bin not found: run me from a build tree configured with" \
        "./configure CC=clang --enable-fuzzers, after make" >&2
    exit 2
fi
mkdir -p "$corpus"
dict=
if [ -f "$here/dict/$target.dict" ]; then
    dict=-dict=$here/dict/$target.dict
fi
work=${FUZZ_WORK:-$(mktemp -d "${TMPDIR:-/tmp}/fuzz-$target.XXXXXX")}
mkdir -p "$work/new" "$work/merged" "$work/artifacts"
export UBSAN_OPTIONS="${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1}"
nice_level=${FUZZ_NICE:-10}

echo "fuzz_$target: $seconds s, corpus $corpus ($(ls "$corpus" | wc -l) inputs), work $work"
status=0
nice -n "$nice_level" "$bin" -max_total_time="$seconds" -rss_limit_mb=2048 -timeout=10 \
    -max_len="$max_len" -print_final_stats=1 -artifact_prefix="$work/artifacts/" \
    ${dict:+"$dict"} "$@" "$work/new" "$corpus" >"$work/log" 2>&1 || status=$?
grep -E '^#[0-9]+.*(DONE|pulse)' "$work/log" | tail -n 1 || :
grep -E '^Done [0-9]+ runs' "$work/log" || :

case ${FUZZ_MERGE:-min} in
min)
    nice -n "$nice_level" "$bin" -merge=1 -rss_limit_mb=2048 -timeout=10 \
        -max_len="$max_len" "$work/merged" "$corpus" "$work/new" >"$work/merge.log" 2>&1
    if [ -n "$(ls "$work/merged")" ]; then
        rm -f "$corpus"/*
        cp "$work/merged"/* "$corpus"/
    fi
    ;;
add)
    nice -n "$nice_level" "$bin" -merge=1 -rss_limit_mb=2048 -timeout=10 \
        -max_len="$max_len" "$corpus" "$work/new" >"$work/merge.log" 2>&1
    ;;
no) ;;
*)
    echo "$0: FUZZ_MERGE must be min, add or no" >&2
    exit 2
    ;;
esac
echo "corpus: $(ls "$corpus" | wc -l) inputs, $(du -sk "$corpus" | cut -f1) KiB"

if [ "$status" -ne 0 ]; then
    echo "fuzz_$target FAILED (exit $status): see $work/log" >&2
    ls "$work/artifacts" | sed "s|^|  $work/artifacts/|" >&2
    exit 1
fi
