/*
 * pointerr.c -- the TSD's error text for a data point.
 *
 * A message is built in the point_error's fixed buffer, truncated rather
 * than overrun.  Where the TSD prints a tag map it prints a
 * java.util.HashMap, whose iteration order follows String.hashCode over
 * ISO-8859-1 chars, spread (h ^ h >>> 16) into a table of 16 buckets that
 * doubles while size > 0.75 * capacity: by bucket, then by insertion.
 * Replies are encoded as the TSD's StringEncoder does (UTF-8 here).  It
 * never allocates.
 */
#include "autoconf.h"

#include <stdio.h>
#include <string.h>

#include "base/pointerr.h"
#include "base/util.h"

void
perr_put(struct point_error *e, const char *s, size_t n)
{
    size_t room = sizeof(e->msg) - 1 - e->len;
    if (n > room)
        n = room;
    memcpy(e->msg + e->len, s, n);
    e->len += n;
    e->msg[e->len] = '\0';
}

void
perr_str(struct point_error *e, const char *s)
{
    perr_put(e, s, strlen(s));
}

void
perr_i64(struct point_error *e, int64_t v)
{
    char b[24];
    int n = snprintf(b, sizeof(b), "%lld", (long long)v);
    perr_put(e, b, (size_t)n);
}

void
perr_start(struct point_error *e, enum point_err_kind kind, const char *s)
{
    e->kind = kind;
    e->relay = false;
    e->len = 0;
    e->msg[0] = '\0';
    if (s != NULL)
        perr_str(e, s);
}

/* Java String.hashCode over ISO-8859-1 chars, then HashMap.hash(). */
static uint32_t
perr_java_hash(const char *s, size_t n)
{
    uint32_t h = 0;
    for (size_t i = 0; i < n; i++)
        h = 31u * h + (unsigned char)s[i];
    return h ^ (h >> 16);
}

/* The order in which a java.util.HashMap (default capacity 16, load
 * factor 0.75) built by inserting these tags in order iterates them: by
 * bucket, then by insertion within a bucket.  n <= POINT_MAX_TAGS. */
void
perr_java_map_order(const struct point_tag *tags, int n, uint8_t *order)
{
    uint32_t cap = 16;
    while ((uint64_t)n * 4 > (uint64_t)cap * 3)
        cap *= 2;
    uint32_t idx[POINT_MAX_TAGS];
    for (int i = 0; i < n; i++)
        idx[i] = perr_java_hash(tags[i].k, tags[i].klen) & (cap - 1);
    for (int pass = 0; pass < n; pass++) {
        /* selection by (bucket, insertion) without sorting in place */
        int best = -1;
        for (int i = 0; i < n; i++)
            if (idx[i] != UINT32_MAX && (best < 0 || idx[i] < idx[best]))
                best = i;
        order[pass] = (uint8_t)best;
        idx[best] = UINT32_MAX;
    }
}

/* Appends "{k1=v1, k2=v2}" as the TSD's HashMap.toString() prints them. */
void
perr_java_map(struct point_error *e, const struct point_tag *tags, int n)
{
    uint8_t order[POINT_MAX_TAGS];
    perr_java_map_order(tags, n, order);
    perr_put(e, "{", 1);
    for (int i = 0; i < n; i++) {
        const struct point_tag *t = &tags[order[i]];
        if (i > 0)
            perr_put(e, ", ", 2);
        perr_put(e, t->k, t->klen);
        perr_put(e, "=", 1);
        perr_put(e, t->v, t->vlen);
    }
    perr_put(e, "}", 1);
}

const char *
point_cmd_name(enum point_cmd cmd)
{
    switch (cmd) {
    case CMD_ROLLUP: return "rollup";
    case CMD_HISTOGRAM: return "histogram";
    case CMD_PUT: break;
    }
    return "put";
}

size_t
latin1_to_utf8(const char *in, size_t len, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)in[i];
        if (c == '\n') {
            /* a reply is one line: echoed input (a JSON name can hold a
             * newline; a telnet line cannot) must not break it */
            if (o + 2 > cap)
                break;
            out[o++] = '\\';
            out[o++] = 'n';
        } else if (c < 0x80) {
            if (o + 1 > cap)
                break;
            out[o++] = (char)c;
        } else {
            if (o + 2 > cap)
                break;
            out[o++] = (char)(0xC0 | (c >> 6));
            out[o++] = (char)(0x80 | (c & 0x3F));
        }
    }
    return o;
}

size_t
point_error_format(const struct point_error *e, char *out, size_t cap)
{
    const char *kind = e->kind == PE_INVALID_VALUE ? "invalid value"
                       : e->kind == PE_REFUSED  ? "refused"
                       : e->kind == PE_HBASE    ? "HBase error"
                                                : "illegal argument";
    int n = snprintf(out, cap, "%s: %s: ", point_cmd_name(e->cmd), kind);
    if (n < 0 || (size_t)n >= cap)
        return cap > 0 ? cap - 1 : 0;
    return (size_t)n + latin1_to_utf8(e->msg, e->len, out + n, cap - (size_t)n);
}

/* Arrays.toString of OpenTSDB's encoding of the value, then "/flags". */
void
perr_value_bytes(struct point_error *e, const uint8_t *b, int n, int flags)
{
    perr_put(e, "[", 1);
    for (int i = 0; i < n; i++) {
        if (i)
            perr_put(e, ", ", 2);
        perr_i64(e, (int8_t)b[i]);
    }
    perr_put(e, "]/", 2);
    perr_i64(e, flags);
}
