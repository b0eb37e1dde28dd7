/*
 * pointline.c -- a telnet line of any command, by the TSD's rules for it:
 * put's, rollup's or histogram's.  Never allocates, never counts.
 */
#include "autoconf.h"

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
