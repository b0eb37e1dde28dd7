/*
 * textout.c -- formatted text into a fixed buffer (see textout.h).
 */
#include "autoconf.h"

#include <stdarg.h>
#include <stdio.h>

#include "base/textout.h"
#include "base/util.h"

void
textout_printf(struct textout *o, const char *fmt, ...)
{
    if (o->cap == 0 || o->len >= o->cap - 1)
        return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(o->p + o->len, o->cap - o->len, fmt, ap);
    va_end(ap);
    if (n < 0)
        return;
    o->len = TS_MIN(o->len + (size_t)n, o->cap - 1);
}
