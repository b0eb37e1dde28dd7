/*
 * textout.h -- formatted text into a fixed buffer.
 *
 * Owns nothing but the append: text is added with printf formats,
 * truncated at the buffer's end (always NUL-terminated), never past it.
 * It must never allocate.
 */
#ifndef TS_TEXTOUT_H
#define TS_TEXTOUT_H

#include <stddef.h>

struct textout {
    char *p;
    size_t cap, len;   /* len < cap once anything was written */
};

void textout_printf(struct textout *o, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

#endif
