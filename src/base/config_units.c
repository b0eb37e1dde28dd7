/*
 * config_units.c -- the units of the configuration contract: sizes
 * (K/M/G/T, binary), durations (ms/s/m/h; a bare number is seconds) and
 * HOST:PORT addresses, parsed from a value's text (config.h declares
 * them).  Plain functions of their text: it must never touch the loop,
 * a socket or the key table.
 */
#include "autoconf.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/config.h"
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
size_unit(const char *u)
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
duration_unit(const char *u)
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
parse_number_with_unit(const char *s, uint64_t (*unit)(const char *), uint64_t *out)
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
config_parse_size(const char *s, uint64_t *out)
{
    return parse_number_with_unit(s, size_unit, out);
}

int
config_parse_duration_ms(const char *s, uint64_t *out)
{
    return parse_number_with_unit(s, duration_unit, out);
}

/* "host:port", "[v6]:port" or ":port" (all addresses). */
int
config_parse_addr(const char *s, struct cfg_addr *out)
{
    const char *host, *port;
    size_t hlen;
    s = units_skip_ws(s);
    if (*s == '[') {
        const char *rb = strchr(s, ']');
        if (rb == NULL || rb[1] != ':')
            return TS_ERROR;
        host = s + 1;
        hlen = (size_t)(rb - host);
        port = rb + 2;
    } else {
        const char *colon = strrchr(s, ':');
        if (colon == NULL)
            return TS_ERROR;
        host = s;
        hlen = (size_t)(colon - s);
        port = colon + 1;
    }
    if (hlen >= sizeof(out->host))
        return TS_ERROR;
    size_t plen = strlen(port);
    while (plen > 0 && (port[plen - 1] == ' ' || port[plen - 1] == '\t'))
        plen--;
    if (plen == 0 || plen >= sizeof(out->port))
        return TS_ERROR;
    unsigned long p = 0;
    for (size_t i = 0; i < plen; i++) {
        if (!isdigit((unsigned char)port[i]))
            return TS_ERROR;
        p = p * 10 + (unsigned long)(port[i] - '0');
    }
    if (p == 0 || p > 65535)
        return TS_ERROR;
    memcpy(out->host, host, hlen);
    out->host[hlen] = '\0';
    if (hlen == 0)
        snprintf(out->host, sizeof(out->host), "0.0.0.0");
    memcpy(out->port, port, plen);
    out->port[plen] = '\0';
    return TS_OK;
}
