/*
 * point_rows.h -- the table-driven check of the TSD's line grammar, shared
 * by check_point.c, check_rollup.c and check_histogram.c: one row per
 * input line with the exact canonical line (ends in "\n") or the exact
 * reply of point_error_format, parsed as ingest.c parses a line of its
 * command (pointline_parse).
 */
#ifndef TS_POINT_ROWS_H
#define TS_POINT_ROWS_H

#include <check.h>
#include <stdbool.h>
#include <string.h>

#include "base/point.h"
#include "base/pointline.h"
#include "unit.h"
#include "base/util.h"

struct row {
    enum point_cmd cmd;
    bool implicit;      /* framed text: no command word */
    const char *in;     /* the line, without its newline */
    const char *want;   /* canonical line ("...\n") or the exact error reply */
};

#define P(in, want) { CMD_PUT, false, in, want }
#define R(in, want) { CMD_ROLLUP, false, in, want }
#define H(in, want) { CMD_HISTOGRAM, false, in, want }
#define I(in, want) { CMD_PUT, true, in, want }

static void __attribute__((unused))
check_row(const struct point_rules *r, const struct row *w)
{
    struct point p;
    struct point_error err;
    memset(&err, 0, sizeof(err));
    int rc = pointline_parse(r, w->cmd, w->implicit, w->in, strlen(w->in), &p, &err);
    size_t wl = strlen(w->want);
    bool want_ok = wl > 0 && w->want[wl - 1] == '\n';
    if (want_ok) {
        char reply[POINT_ERR_MAX * 2 + 64] = "";
        if (rc != TS_OK)
            point_error_format(&err, reply, sizeof(reply));
        ck_assert_msg(rc == TS_OK, "input [%s]: rejected with [%s], want [%s]",
                      esc(w->in, strlen(w->in)), esc(reply, strlen(reply)), esc(w->want, wl));
        char out[POINT_LINE_MAX + 2];
        ck_assert_uint_eq(point_canonical_len(&p), wl);
        size_t n = point_format(&p, out, sizeof(out));
        ck_assert_msg(n == wl && memcmp(out, w->want, wl) == 0, "input [%s]: got [%s], want [%s]",
                      esc(w->in, strlen(w->in)), esc(out, n), esc(w->want, wl));
    } else {
        ck_assert_msg(rc == TS_ERROR, "input [%s]: accepted, want error [%s]",
                      esc(w->in, strlen(w->in)), esc(w->want, wl));
        char reply[POINT_ERR_MAX * 2 + 64];
        size_t n = point_error_format(&err, reply, sizeof(reply));
        ck_assert_msg(n == wl && memcmp(reply, w->want, wl) == 0,
                      "input [%s]: got [%s], want [%s]", esc(w->in, strlen(w->in)),
                      esc(reply, n), esc(w->want, wl));
        ck_assert_msg(!err.relay, "input [%s]: a TSD error flagged as a relay limit",
                      esc(w->in, strlen(w->in)));
        ck_assert_int_eq(err.cmd, w->cmd);
    }
}

#endif
