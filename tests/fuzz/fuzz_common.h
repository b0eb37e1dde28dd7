/*
 * fuzz_common.h -- invariants shared by the libFuzzer targets.
 *
 * FUZZ_CHECK traps (a crash libFuzzer records) when an invariant fails,
 * after printing which one.  fuzz_check_emitted() is the contract of
 * every line a decoder emits: at most 1024 bytes before a single final
 * "\n", single spaces, a known command word, a fixed point of the parser
 * (re-parsing the line gives the same bytes back), timestamp and value
 * valid by references that share no code with point.c, and one routing
 * hash whether computed from the point, from the line, or passed to
 * sink.emit with it.
 */
#ifndef TS_FUZZ_COMMON_H
#define TS_FUZZ_COMMON_H

#include <math.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/histogram.h"
#include "base/point.h"
#include "base/pointline.h"
#include "base/rollup.h"
#include "base/util.h"

/* A known finding a target tolerates by default, so that a run can go on
 * looking for other bugs, has a <TARGET>_KNOWN_<NAME> macro in that target
 * (build with -D<macro>=0 once the bug is fixed) and a reproducer under
 * tests/fuzz/crashes/. */

#define FUZZ_CHECK(cond)                                                              \
    do {                                                                              \
        if (!(cond)) {                                                                \
            fprintf(stderr, "fuzz invariant failed: %s (%s:%d)\n", #cond, __FILE__,   \
                    __LINE__);                                                        \
            __builtin_trap();                                                         \
        }                                                                             \
    } while (0)

/* Prints bytes escaped (for the report of a failed invariant). */
static inline void
fuzz_dump(const char *label, const char *s, size_t n)
{
    fprintf(stderr, "%s (%zu bytes): \"", label, n);
    for (size_t i = 0; i < n && i < 4096; i++) {
        unsigned char c = (unsigned char)s[i];
        if (c >= 0x20 && c < 0x7F && c != '\\' && c != '"')
            fputc(c, stderr);
        else
            fprintf(stderr, "\\x%02X", c);
    }
    fprintf(stderr, "%s\"\n", n > 4096 ? "..." : "");
}

/* Well-formed UTF-8 (no overlongs, no surrogates, <= U+10FFFF). */
static inline bool
fuzz_valid_utf8(const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned c = u[i];
        size_t k;
        unsigned cp;
        if (c < 0x80) {
            i++;
            continue;
        } else if (c >= 0xC2 && c <= 0xDF) {
            k = 1;
            cp = c & 0x1F;
        } else if (c >= 0xE0 && c <= 0xEF) {
            k = 2;
            cp = c & 0x0F;
        } else if (c >= 0xF0 && c <= 0xF4) {
            k = 3;
            cp = c & 0x07;
        } else {
            return false;
        }
        if (n - i <= k) /* needs k continuation bytes after u[i] */
            return false;
        for (size_t j = 1; j <= k; j++) {
            if ((u[i + j] & 0xC0) != 0x80)
                return false;
            cp = (cp << 6) | (u[i + j] & 0x3F);
        }
        if ((k == 2 && cp < 0x800) || (k == 3 && (cp < 0x10000 || cp > 0x10FFFF)) ||
            (cp >= 0xD800 && cp <= 0xDFFF))
            return false;
        i += k + 1;
    }
    return true;
}

/* The command word of a canonical line; false if there is none. */
static inline bool
fuzz_line_cmd(const char *line, size_t len, enum point_cmd *cmd)
{
    if (len > 4 && memcmp(line, "put ", 4) == 0)
        *cmd = CMD_PUT;
    else if (len > 7 && memcmp(line, "rollup ", 7) == 0)
        *cmd = CMD_ROLLUP;
    else if (len > 10 && memcmp(line, "histogram ", 10) == 0)
        *cmd = CMD_HISTOGRAM;
    else
        return false;
    return true;
}

/* Java's Tags.parseLong, written independently of point.c: optional sign,
 * at most 19 digits (20 chars with the sign), within a long. */
static inline bool
fuzz_ref_parse_long(const char *s, size_t n, int64_t *out)
{
    if (n == 0)
        return false;
    size_t i = 0;
    bool neg = false;
    if (s[0] == '+' || s[0] == '-') {
        neg = s[0] == '-';
        i = 1;
        if (n == 1 || n > 20)
            return false;
    } else if (n > 19) {
        return false;
    }
    __int128 v = 0;
    for (; i < n; i++) {
        if (s[i] < '0' || s[i] > '9')
            return false;
        v = v * 10 + (s[i] - '0');
    }
    if (neg)
        v = -v;
    if (v > INT64_MAX || v < INT64_MIN)
        return false;
    *out = (int64_t)v;
    return true;
}

/* The fields of an accepted point, checked against references that do
 * not share point.c's code: the timestamp text (dots removed) is a Java
 * long equal to p->timestamp, > 0 and within the TSD's range; a put or
 * rollup value is a Java long, or a number C's strtod reads whole to a
 * finite double (the TSD rejects NaN and infinities). */
static inline void
fuzz_check_point_fields(const struct point *p)
{
    char buf[1100];
    size_t m = 0;
    FUZZ_CHECK(p->ts_len > 0 && p->ts_len < sizeof(buf));
    for (size_t i = 0; i < p->ts_len; i++)
        if (p->ts[i] != '.')
            buf[m++] = p->ts[i];
    int64_t ts = 0;
    FUZZ_CHECK(fuzz_ref_parse_long(buf, m, &ts));
    FUZZ_CHECK(ts == p->timestamp);
    FUZZ_CHECK(ts > 0);
    FUZZ_CHECK(ts <= 9999999999999LL || ((uint64_t)ts >> 32) == 0);
    if (p->cmd == CMD_ROLLUP)
        FUZZ_CHECK(((uint64_t)ts >> 32) == 0); /* seconds only */
    if (p->cmd == CMD_HISTOGRAM)
        return; /* the TSD's codec reads the value */
    const char *v = p->value;
    size_t n = p->value_len;
    FUZZ_CHECK(n > 0 && n < sizeof(buf));
    if (memchr(v, '.', n) == NULL && memchr(v, 'e', n) == NULL && memchr(v, 'E', n) == NULL) {
        int64_t x;
        FUZZ_CHECK(fuzz_ref_parse_long(v, n, &x));
        return;
    }
    /* a float: no blanks left (the TSD trims them, so does the line) */
    FUZZ_CHECK((unsigned char)v[0] > ' ' && (unsigned char)v[n - 1] > ' ');
    memcpy(buf, v, n);
    buf[n] = '\0';
    char last = buf[n - 1];
    bool hex = strpbrk(buf, "xX") != NULL;
    if (n > 1 && (last == 'f' || last == 'F' || last == 'd' || last == 'D') &&
        (!hex || strpbrk(buf, "pP") != NULL))
        buf[--n] = '\0';
    FUZZ_CHECK(memchr(buf, '\0', n) == NULL);
    char *end = NULL;
    double d = strtod(buf, &end);
    FUZZ_CHECK(end == buf + n);
    FUZZ_CHECK(isfinite(d));
}

/* Every line a decoder hands to the sink.  inner_nl_ok: the input could
 * carry "\n" inside a field (only fuzz_point feeds such lines; the real
 * decoders split on "\n" first), so skip the "single \n" check. */
static inline void
fuzz_check_canonical_ex(const struct point_rules *r, const char *line, size_t len,
                        bool inner_nl_ok)
{
    FUZZ_CHECK(len >= 2);
    FUZZ_CHECK(len <= POINT_LINE_MAX + 1);
    FUZZ_CHECK(line[len - 1] == '\n');
    if (!inner_nl_ok)
        FUZZ_CHECK(memchr(line, '\n', len - 1) == NULL);
    enum point_cmd cmd;
    FUZZ_CHECK(fuzz_line_cmd(line, len, &cmd));
    FUZZ_CHECK(line[0] != ' ');
    /* (a rollup without a tag of its own ends in one space: its group-by
     * tag is the TSD's to add, and the TSD needs the word) */
    FUZZ_CHECK(line[len - 2] != ' ' || (cmd == CMD_ROLLUP && line[len - 3] != ' '));
    for (size_t i = 0; i + 1 < len; i++)
        FUZZ_CHECK(!(line[i] == ' ' && line[i + 1] == ' '));

    /* idempotence: the canonical line is a fixed point of parse+format */
    static struct point p;
    static struct point_error err;
    int rc = pointline_parse(r, cmd, false, line, len - 1, &p, &err);
    if (rc != TS_OK)
        fprintf(stderr, "canonical line rejected on re-parse: %.*s\n", (int)err.len, err.msg);
    FUZZ_CHECK(rc == TS_OK);
    FUZZ_CHECK(p.cmd == cmd);
    char again[POINT_LINE_MAX + 2];
    size_t n = point_format(&p, again, sizeof(again));
    FUZZ_CHECK(n == point_canonical_len(&p));
    FUZZ_CHECK(n == len);
    FUZZ_CHECK(memcmp(again, line, len) == 0);
    /* tags: sorted by key, keys distinct */
    for (int i = 1; i < p.ntags; i++) {
        const struct point_tag *a = &p.tags[i - 1], *b = &p.tags[i];
        size_t m = TS_MIN(a->klen, b->klen);
        int c = memcmp(a->k, b->k, m);
        FUZZ_CHECK(c < 0 || (c == 0 && a->klen < b->klen));
    }
    FUZZ_CHECK(p.ntags <= r->max_tags);
    FUZZ_CHECK(p.ntags >= 1 || (cmd == CMD_ROLLUP && line[len - 2] == ' '));
    fuzz_check_point_fields(&p);
    /* routing: the spool's line hash agrees with the live point's hash */
    uint64_t h = point_line_hash(line, len);
    FUZZ_CHECK(h == point_hash(&p));
    FUZZ_CHECK(h == point_line_hash(again, n));
    FUZZ_CHECK(h == point_line_hash(line, len - 1)); /* with or without "\n" */
    FUZZ_CHECK(h == point_output_hash(&p, again, n));
}

/* A line and the hash a decoder passed to sink.emit with it. */
static inline void
fuzz_check_emitted(const struct point_rules *r, const char *line, size_t len, uint64_t hash)
{
    fuzz_check_canonical_ex(r, line, len, false);
    FUZZ_CHECK(hash == point_line_hash(line, len));
}

static inline void
fuzz_check_canonical(const struct point_rules *r, const char *line, size_t len)
{
    fuzz_check_canonical_ex(r, line, len, false);
}

/* A rejected point's error as every decoder receives it. */
static inline void
fuzz_check_point_error(const struct point_error *e)
{
    FUZZ_CHECK(e->kind == PE_ILLEGAL_ARGUMENT || e->kind == PE_INVALID_VALUE ||
               (e->kind == PE_HBASE && e->cmd == CMD_HISTOGRAM));
    FUZZ_CHECK(e->len < POINT_ERR_MAX);
    FUZZ_CHECK(e->cmd == CMD_PUT || e->cmd == CMD_ROLLUP || e->cmd == CMD_HISTOGRAM);
}

#endif
