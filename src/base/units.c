/*
 * units.c -- sizes and durations as a configuration file writes them.
 *
 * "512K", "64M", "4G" (binary multiples; K, KB and KiB alike) and "100ms",
 * "10s", "5m", "1h" (a bare number is seconds), read into bytes and
 * milliseconds with overflow checked, and written back with the largest
 * unit that divides them.  Plain functions of their arguments: no state,
 * no allocation.
 */
#include "autoconf.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <strings.h>

#include "base/units.h"
#include "base/util.h"

#define KB 1024ull
#define MB (1024ull * 1024)
#define GB (1024ull * 1024 * 1024)
#define HOUR_MS (3600ull * 1000)

static const char *
units_skip_ws(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/* A size's unit: "", B, K/KB/KiB, M.., G.., T..; 0 when it is none. */
static uint64_t
units_size_mult(const char *u)
{
    uint64_t mult;
    switch (toupper((unsigned char)*u)) {
    case '\0': return 1;
    case 'B': mult = 1; break;
    case 'K': mult = KB; break;
    case 'M': mult = MB; break;
    case 'G': mult = GB; break;
    case 'T': mult = 1024 * GB; break;
    default: return 0;
    }
    u++;
    if (mult > 1) { /* accept K, KB, KiB */
        if (*u == 'i' || *u == 'I')
            u++;
        if (*u == 'b' || *u == 'B')
            u++;
    }
    return *units_skip_ws(u) == '\0' ? mult : 0;
}

/* A duration's unit in ms: "" (seconds), s, ms, m/min, h; 0 when none. */
static uint64_t
units_duration_mult(const char *u)
{
    if (*u == '\0' || strcasecmp(u, "s") == 0)
        return 1000; /* a bare number is seconds */
    if (strcasecmp(u, "ms") == 0)
        return 1;
    if (strcasecmp(u, "m") == 0 || strcasecmp(u, "min") == 0)
        return 60 * 1000;
    if (strcasecmp(u, "h") == 0)
        return HOUR_MS;
    return 0;
}

/* A whole number followed by a unit that unit() turns into a multiplier
 * (0: not a unit); the product must fit in 64 bits. */
static int
units_number(const char *s, uint64_t (*unit)(const char *), uint64_t *out)
{
    s = units_skip_ws(s);
    if (!isdigit((unsigned char)*s))
        return TS_ERROR;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0)
        return TS_ERROR;
    uint64_t mult = unit(units_skip_ws(end));
    if (mult == 0 || (v != 0 && mult > UINT64_MAX / v))
        return TS_ERROR;
    *out = (uint64_t)v * mult;
    return TS_OK;
}

int
units_parse_size(const char *s, uint64_t *out)
{
    return units_number(s, units_size_mult, out);
}

int
units_parse_duration_ms(const char *s, uint64_t *out)
{
    return units_number(s, units_duration_mult, out);
}

/* A size or a duration the way a file would give it: the largest unit
 * that divides it ("128M", "5m", "100ms"); 0 as "0". */
void
units_format(uint64_t v, bool duration, char *buf, size_t len)
{
    static const struct { uint64_t mult; const char *name; } sizes[] = {
        { 1024 * GB, "T" }, { GB, "G" }, { MB, "M" }, { KB, "K" }, { 1, "" },
    }, durations[] = {
        { HOUR_MS, "h" }, { 60 * 1000, "m" }, { 1000, "s" }, { 1, "ms" },
    };
    const size_t n = duration ? TS_ARRAY_LEN(durations) : TS_ARRAY_LEN(sizes);
    for (size_t i = 0; i < n; i++) {
        const uint64_t mult = duration ? durations[i].mult : sizes[i].mult;
        if (v == 0 || v % mult == 0 || i == n - 1) {
            snprintf(buf, len, "%llu%s", (unsigned long long)(v / mult),
                     v == 0 ? "" : duration ? durations[i].name : sizes[i].name);
            return;
        }
    }
}
