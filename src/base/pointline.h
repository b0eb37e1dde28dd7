/*
 * pointline.h -- a telnet line of any command, by the TSD's rules for it.
 *
 * Owns the command of a data line by its first word, and the choice
 * between put's rules (point.c), rollup's (rollup.c) and
 * histogram's (histogram.c) for a line whose command word is known.  It
 * never allocates and never counts.
 */
#ifndef TS_POINTLINE_H
#define TS_POINTLINE_H

#include <stdbool.h>
#include <stddef.h>

#include "base/point.h"

/* A data line's command by its first word: put, rollup, histogram;
 * any other word begins a put without its command word (*implicit_put:
 * a framed payload's lines, a route test's). */
enum point_cmd pointline_cmd(const char *line, size_t len, bool *implicit_put);

/* The line after its command word (a put's may have none: implicit_put),
 * parsed and checked as the TSD does for cmd, its tags sorted.  TS_OK or
 * TS_ERROR with err filled. */
int pointline_parse(const struct point_rules *r, enum point_cmd cmd, bool implicit_put,
                    const char *line, size_t len, struct point *p, struct point_error *err);

#endif
