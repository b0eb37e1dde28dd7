/*
 * pointline.c -- a telnet line of any command, by the TSD's rules for it:
 * put's, rollup's or histogram's, and the command of a data line by its
 * first word.  Never allocates, never counts.
 */
#include "autoconf.h"

#include <string.h>

#include "base/histogram.h"
#include "base/pointline.h"
#include "base/rollup.h"

int
pointline_parse(const struct point_rules *r, enum point_cmd cmd, bool implicit_put,
                const char *line, size_t len, struct point *p, struct point_error *err)
{
    switch (cmd) {
    case CMD_ROLLUP:
        return rollup_parse_line(r, line, len, p, err);
    case CMD_HISTOGRAM:
        return histogram_parse_line(r, line, len, p, err);
    case CMD_PUT:
        break;
    }
    return point_parse_line(r, CMD_PUT, implicit_put, line, len, p, err);
}

enum point_cmd
pointline_cmd(const char *line, size_t len, bool *implicit_put)
{
    const char *sp = memchr(line, ' ', len);
    size_t w = sp != NULL ? (size_t)(sp - line) : len;
    *implicit_put = false;
    if (w == 6 && memcmp(line, "rollup", 6) == 0)
        return CMD_ROLLUP;
    if (w == 9 && memcmp(line, "histogram", 9) == 0)
        return CMD_HISTOGRAM;
    *implicit_put = !(w == 3 && memcmp(line, "put", 3) == 0);
    return CMD_PUT;
}
