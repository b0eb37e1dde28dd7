#!/bin/sh
# test.sh -- installs dependencies, builds tsrelay and runs the whole test
# suite, the way CI does, in under 30 minutes on a fresh 2-core machine:
#   1. plain build: make check (house rules, Check unit tests, integration
#      tests against real redis-server and victoria-metrics, the long
#      scenarios), with the sanitized and fuzzer builds compiled meanwhile
#   2. ASan + UBSan build: make check again without the long scenarios
#      (Makefile.am's SCENARIO_TESTS: they prove timing, which a sanitizer
#      does not change); built without libsystemd (the notify tests cover
#      notify.c's own protocol code) and without dygraphs (the status
#      page's tables-only form is tested there); meanwhile the unit tests
#      under valgrind, make distcheck and the libFuzzer smoke run
#   3. the Debian package: built (twice: reproducible), lintian, installed,
#      checked, removed and purged on this machine (tests/deb.sh; root)
# Tests run several at a time (most of them wait on sockets and timers),
# but those that bound a latency under load run alone at the end (SOLO_TESTS);
# what runs beside them is niced.  The last line is the total:
# "N passed, N failed".
set -u
top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
t_start=$(date +%s)
deploy/install-deps.sh test || { echo "0 passed, 1 failed"; exit 1; }
./autogen.sh >/dev/null || { echo "0 passed, 1 failed"; exit 1; }

jobs=$(nproc)
tjobs=$((jobs + 1))   # tests at a time
status=0
results="$top/build-ci/results"
rm -rf build-ci && mkdir -p "$results"

step() { echo; echo "=== $* ($(($(date +%s) - t_start)) s) ==="; }
# a TAP file of one line for a step that is a single check
tap1() { # FILE OK NAME [LOG]
    if [ "$2" = 0 ]; then echo "ok 1 - $3" >"$1"; else
        { echo "not ok 1 - $3 (${4:-})"; [ -n "${4:-}" ] && tail -n 30 "$4" | sed 's/^/# /'; } >"$1"
    fi
    echo "1..1" >>"$1"
    cat "$1"
}
# make check in build-ci/DIR: the tests several at a time, then the solo
# ones (Makefile.am SOLO_TESTS) alone; make's summary lines kept
check_in() { # DIR [VAR=VALUE...]
    d=$1; shift
    (
        cd "build-ci/$d" || exit 1
        solos=" $(make -s print-solo-tests) "
        solo= rest=
        for t in $(make -s print-tests); do
            case "$solos" in *" $t "*) solo="$solo $t" ;; *) rest="$rest $t" ;; esac
        done
        rc=0
        env "$@" make check -j"$tjobs" TESTS="$rest" || rc=1
        env "$@" make check -j1 TESTS="$solo" || rc=1
        exit $rc
    ) >"build-ci/$d-check.log" 2>&1
}
configure_build() { # DIR CONFIGURE-ARGS...
    d=$1; shift
    mkdir -p "build-ci/$d" && cd "build-ci/$d" &&
        ../../configure -q "$@" >configure.log 2>&1 && make -j"$jobs" >make.log 2>&1
    rc=$?
    cd "$top"
    return $rc
}

# 1. plain build, and its tests; the other builds compile meanwhile
step "plain build"
configure_build plain || { tap1 "$results/build.tap" 1 "plain build" build-ci/plain/make.log; status=1; }
(
    nice -n 10 sh -c '
        cd "$0" &&
        { configure_asan() { mkdir -p build-ci/asan && cd build-ci/asan && ../../configure -q \
              --enable-sanitizers --without-libsystemd --with-dygraphs=no >configure.log 2>&1 &&
              make -j1 >make.log 2>&1; }; (configure_asan); echo $? >build-ci/asan.rc; }
        { mkdir -p build-ci/fuzz && cd build-ci/fuzz && ../../configure -q CC=clang \
              --enable-fuzzers >configure.log 2>&1 && make -j1 >make.log 2>&1; echo $? >../fuzz.rc; }
    ' "$top"
) &
builds=$!
step "plain build: make check -j$tjobs, then the solo tests"
check_in plain || status=1
grep -E '^(FAIL|ERROR|XPASS):|^# (TOTAL|PASS|FAIL|ERROR|SKIP)' build-ci/plain-check.log
wait $builds

# 2. the sanitized build's tests; valgrind, distcheck and fuzzing beside them
step "ASan + UBSan build: make check -j$tjobs; valgrind, distcheck, fuzz smoke beside it"
[ "$(cat build-ci/asan.rc 2>/dev/null)" = 0 ] ||
    { tap1 "$results/asan-build.tap" 1 "ASan build" build-ci/asan/make.log; status=1; }
(
    nice -n 10 tests/valgrind.sh build-ci/plain >"$results/valgrind.tap" 2>&1
    cd build-ci/plain && nice -n 10 make -j1 distcheck >distcheck.log 2>&1
    tap1 "$results/distcheck.tap" $? "make distcheck" build-ci/plain/distcheck.log >/dev/null
    cd "$top/build-ci/fuzz" && [ "$(cat ../fuzz.rc)" = 0 ] && nice -n 10 make fuzz-smoke \
        >"$results/fuzz.tap" 2>&1 ||
        { echo "not ok 1 - fuzz build or smoke run (build-ci/fuzz)"; echo "1..1"; } >>"$results/fuzz.tap"
) &
beside=$!
# test_random_mix: 200 runs in the plain build (the issue's bound); 60
# here, where each run is there to meet the sanitizers, not the statistics
check_in asan ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 \
    UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 TSRELAY_RANDOM_RUNS=60 || status=1
grep -E '^(FAIL|ERROR|XPASS):|^# (TOTAL|PASS|FAIL|ERROR|SKIP)' build-ci/asan-check.log
wait $beside
for f in valgrind distcheck fuzz; do
    grep -q '^not ok' "$results/$f.tap" && { status=1; grep '^not ok' "$results/$f.tap"; }
    echo "$f: $(grep -c '^ok' "$results/$f.tap") ok, $(grep -c '^not ok' "$results/$f.tap") not ok"
done

# 3. the Debian package
step "Debian package: dpkg-buildpackage, lintian, install, tsrelay -t, remove, purge"
tests/deb.sh "$top/build-ci/deb" >"$results/deb.tap" 2>&1 || status=1
grep -E '^(not )?ok' "$results/deb.tap" | tail -n 40

step "summary"
tests/summarize.sh build-ci "$results"
