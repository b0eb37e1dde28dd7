#!/bin/sh
# valgrind.sh BUILDDIR -- runs every Check unit test binary of a plain
# (non-sanitizer) build under valgrind memcheck, one TAP line each: a leak
# or an invalid access fails the line.  Check's fork mode is turned off so
# valgrind sees the tests themselves.
set -u
build=${1:?usage: tests/valgrind.sh BUILDDIR}
n=0
failed=0
for t in "$build"/tests/unit/check_*; do
    case "$t" in *.o|*.log|*.trs|*.c) continue ;; esac
    [ -x "$t" ] || continue
    n=$((n + 1))
    name=$(basename "$t")
    log="$t.valgrind.log"
    if CK_FORK=no valgrind --quiet --error-exitcode=99 --leak-check=full \
            --show-leak-kinds=definite,indirect --errors-for-leak-kinds=definite,indirect \
            "$t" >"$log" 2>&1; then
        echo "ok $n - $name under valgrind: no errors, no leaks"
    else
        failed=$((failed + 1))
        echo "not ok $n - $name under valgrind"
        grep -E '==[0-9]+==|not ok' "$log" | head -30 | sed 's/^/# /'
    fi
done
echo "1..$n"
[ $n -gt 0 ] && [ $failed -eq 0 ]
