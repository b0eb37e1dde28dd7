#!/bin/sh
# summarize.sh BUILDROOT RESULTS -- totals of a test.sh run: every test
# result automake recorded (.trs, one per TAP line) in every build under
# BUILDROOT, plus the TAP files in RESULTS (valgrind, fuzz smoke).
# Skipped tests do not count as passed.  Last line: "N passed, N failed".
set -u
root=${1:?}
results=${2:?}
pass=0
fail=0
for f in $(find "$root" -name '*.trs' 2>/dev/null); do
    p=$(grep -c '^:test-result: PASS' "$f")
    x=$(grep -c -E '^:test-result: (FAIL|XPASS|SKIP)' "$f")
    # ERROR is the script's exit status: a failure of its own only when
    # no test point failed (a crash, a missing plan)
    [ "$x" -eq 0 ] && x=$(grep -c '^:test-result: ERROR' "$f")
    pass=$((pass + p))
    fail=$((fail + x))
    if [ "$x" -gt 0 ]; then
        echo "FAILED in $f:"
        grep -E '^:test-result: (FAIL|ERROR|XPASS|SKIP)' "$f" | sed 's/^/    /'
        # what the failing points said: each "not ok" line of the test's
        # log and the diagnostics under it (a CI log may be all one sees)
        log=${f%.trs}.log
        [ -f "$log" ] && awk '/^not ok /{n=40; print "    " $0; next}
            n>0 && /^#/{n--; print "      " substr($0, 1, 600); next} {n=0}' "$log"
        # no failing point (a crash, an exception): how the log ends
        [ -f "$log" ] && ! grep -q '^not ok ' "$log" &&
            grep -v -E '^(ok |PASS: |ERROR: |FAIL: )' "$log" | tail -n 15 | sed 's/^/      | /' 
    fi
done
for f in "$results"/*.tap; do
    [ -f "$f" ] || continue
    p=$(grep -c '^ok ' "$f")
    x=$(grep -c '^not ok ' "$f")
    pass=$((pass + p))
    fail=$((fail + x))
    [ "$x" -gt 0 ] && grep '^not ok ' "$f" | sed "s|^|    $(basename "$f"): |"
done
if [ $((pass + fail)) -eq 0 ]; then
    fail=1
    echo "no test results found"
fi
echo "$pass passed, $fail failed"
[ "$fail" -eq 0 ]
