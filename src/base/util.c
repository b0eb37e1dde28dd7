/*
 * util.c -- the out-of-line half of util.h: what an assertion does when
 * it fails (only in the builds that define TS_ASSERTS).
 */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>

#include "base/util.h"

#ifdef TS_ASSERTS
void
ts_assert_failed(const char *cond, const char *file, int line)
{
    fprintf(stderr, "tsrelay: %s:%d: assertion failed: %s\n", file, line, cond);
    abort();
}
#endif
