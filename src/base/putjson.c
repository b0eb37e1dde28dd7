/*
 * putjson.c -- a canonical line as one JSON datapoint of the TSD's HTTP
 * API, and the key that finds it in a ?details answer.
 *
 * The line is canonical (point.c wrote it): single spaces, tags sorted, no
 * "\r".  Names are ISO-8859-1 bytes; each byte b becomes the character
 * U+00b in UTF-8, which is what the TSD's telnet decoder makes of it, so a
 * point reads the same over HTTP as it did over telnet.  The timestamp is
 * the long the TSD's telnet parser reads (every '.' deleted, then
 * Tags.parseLong); the value keeps its text, as a JSON number when the
 * text is one and as a JSON string otherwise (Jackson hands the TSD the
 * same text either way).  It never allocates.
 */
#include "autoconf.h"

#include <stdio.h>
#include <string.h>
#include <xxhash.h>

#include "base/point.h"
#include "base/util.h"
#include "base/putjson.h"

#define WORDS_MAX (POINT_MAX_TAGS + 8)

struct pj_words {
    const char *w[WORDS_MAX];
    size_t n[WORDS_MAX];
    int count;
};

struct pj_out {
    char *p;
    size_t len, cap;
    bool full;
};

enum putjson_kind
putjson_kind(const char *line, size_t len)
{
    if (len >= 4 && memcmp(line, "put ", 4) == 0)
        return PJ_PUT;
    if (len >= 7 && memcmp(line, "rollup ", 7) == 0)
        return PJ_ROLLUP;
    return PJ_OTHER;
}

static bool
putjson_split(const char *line, size_t len, struct pj_words *ws)
{
    if (len > 0 && line[len - 1] == '\n')
        len--;
    ws->count = 0;
    size_t i = 0;
    while (i < len) {
        const char *sp = memchr(line + i, ' ', len - i);
        size_t end = sp != NULL ? (size_t)(sp - line) : len;
        if (end > i) {
            if (ws->count == WORDS_MAX)
                return false;
            ws->w[ws->count] = line + i;
            ws->n[ws->count++] = end - i;
        }
        i = end + 1;
    }
    return true;
}

static void
putjson_raw(struct pj_out *o, const char *s, size_t n)
{
    if (o->full || o->cap - o->len < n) {
        o->full = true;
        return;
    }
    memcpy(o->p + o->len, s, n);
    o->len += n;
}

static void
putjson_lit(struct pj_out *o, const char *s)
{
    putjson_raw(o, s, strlen(s));
}

/* Bytes that need more than themselves in a JSON string. */
static bool
putjson_plain(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x20 || ch >= 0x80 || ch == '"' || ch == '\\')
            return false;
    }
    return true;
}

/* ISO-8859-1 bytes as a JSON string (quotes included). */
size_t
putjson_escape_byte(unsigned char ch, bool latin1, char out[8])
{
    if (ch == '"' || ch == '\\') {
        out[0] = '\\';
        out[1] = (char)ch;
        return 2;
    }
    if (ch < 0x20)
        return (size_t)snprintf(out, 8, "\\u%04x", ch);
    if (ch >= 0x80 && latin1) { /* ISO-8859-1 is the first 256 code points */
        out[0] = (char)(0xC0 | (ch >> 6));
        out[1] = (char)(0x80 | (ch & 0x3F));
        return 2;
    }
    out[0] = (char)ch;
    return 1;
}

static void
putjson_string(struct pj_out *o, const char *s, size_t n)
{
    putjson_raw(o, "\"", 1);
    if (putjson_plain(s, n)) { /* the usual name: as it is */
        putjson_raw(o, s, n);
        putjson_raw(o, "\"", 1);
        return;
    }
    for (size_t i = 0; i < n && !o->full; i++) {
        char tmp[8];
        putjson_raw(o, tmp, putjson_escape_byte((unsigned char)s[i], true, tmp));
    }
    putjson_raw(o, "\"", 1);
}

/* ISO-8859-1 bytes to UTF-8, for the key (out holds 2n bytes). */
static size_t
putjson_utf8(const char *s, size_t n, char *out)
{
    size_t k = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch < 0x80) {
            out[k++] = (char)ch;
        } else {
            out[k++] = (char)(0xC0 | (ch >> 6));
            out[k++] = (char)(0x80 | (ch & 0x3F));
        }
    }
    return k;
}

/* The JSON number grammar: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)? */
static bool
putjson_is_number(const char *s, size_t n)
{
    size_t i = 0;
    if (i < n && s[i] == '-')
        i++;
    if (i == n || s[i] < '0' || s[i] > '9')
        return false;
    if (s[i] == '0')
        i++;
    else
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
    if (i < n && s[i] == '.') {
        size_t d = ++i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == d)
            return false;
    }
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t d = i;
        while (i < n && s[i] >= '0' && s[i] <= '9')
            i++;
        if (i == d)
            return false;
    }
    return i == n;
}

/* The timestamp the TSD's telnet parser reads (point_parse_timestamp:
 * dots deleted, parseLong), above 0. */
static bool
putjson_timestamp(const char *s, size_t n, int64_t *ts)
{
    struct point_error err;
    return point_parse_timestamp(s, n, ts, &err) == TS_OK && *ts > 0;
}

uint64_t
putjson_key_begin(const char *metric, size_t mlen, int64_t ts)
{
    return XXH3_64bits_withSeed(metric, mlen, (uint64_t)ts);
}

uint64_t
putjson_key_tag(uint64_t key, const char *k, size_t klen, const char *v, size_t vlen)
{
    return key + XXH3_64bits_withSeed(v, vlen, XXH3_64bits(k, klen));
}

/* "tags":{...} from the words after `first`. */
static bool
putjson_tags(struct pj_out *o, const struct pj_words *ws, int first)
{
    putjson_lit(o, ",\"tags\":{");
    for (int i = first; i < ws->count; i++) {
        const char *eq = memchr(ws->w[i], '=', ws->n[i]);
        if (eq == NULL)
            return false;
        size_t kl = (size_t)(eq - ws->w[i]), vl = ws->n[i] - kl - 1;
        if (i > first)
            putjson_raw(o, ",", 1);
        putjson_string(o, ws->w[i], kl);
        putjson_raw(o, ":", 1);
        putjson_string(o, eq + 1, vl);
    }
    putjson_raw(o, "}", 1);
    return true;
}

/* The words a line needs: a put its command, metric, timestamp, value and
 * a tag; a rollup its command and spec, metric, timestamp and value: with
 * a group-by aggregator it may have no tag (over telnet the TSD adds the
 * aggregate tag; its HTTP API answers "Missing tags" for "tags":{}). */
static int
putjson_min_words(int mi)
{
    return mi == 2 ? mi + 3 : mi + 4;
}

/* The key of a split line: metric, timestamp, tags as UTF-8. */
static uint64_t
putjson_words_key(const struct pj_words *ws, int mi, int64_t ts)
{
    char ku[2 * POINT_LINE_MAX], vu[2 * POINT_LINE_MAX];
    uint64_t key = putjson_key_begin(ku, putjson_utf8(ws->w[mi], ws->n[mi], ku), ts);
    for (int i = mi + 3; i < ws->count; i++) {
        const char *eq = memchr(ws->w[i], '=', ws->n[i]);
        size_t kl = eq != NULL ? (size_t)(eq - ws->w[i]) : ws->n[i];
        size_t vl = eq != NULL ? ws->n[i] - kl - 1 : 0;
        key = putjson_key_tag(key, ku, putjson_utf8(ws->w[i], kl, ku), vu,
                              putjson_utf8(ws->w[i] + kl + (eq != NULL), vl, vu));
    }
    return key;
}

uint64_t
putjson_key(const char *line, size_t len)
{
    static struct pj_words ws;
    enum putjson_kind kind = putjson_kind(line, len);
    int mi = kind == PJ_ROLLUP ? 2 : 1;
    int64_t ts;
    if (kind == PJ_OTHER || !putjson_split(line, len, &ws) || ws.count < putjson_min_words(mi) ||
        !putjson_timestamp(ws.w[mi + 1], ws.n[mi + 1], &ts))
        return 0;
    return putjson_words_key(&ws, mi, ts);
}

/* A rollup's word, split as RollupDataPointRpc splits it: "1h-sum" an
 * interval and an aggregator, "sum" a group-by aggregator (also the
 * aggregator), "1h-sum:max" all three. */
static void
putjson_rollup_spec(struct pj_out *o, const char *s, size_t n)
{
    const char *colon = memchr(s, ':', n);
    size_t first = colon != NULL ? (size_t)(colon - s) : n;
    const char *dash = memchr(s, '-', first);
    if (dash != NULL) {
        putjson_lit(o, ",\"interval\":");
        putjson_string(o, s, (size_t)(dash - s));
        putjson_lit(o, ",\"aggregator\":");
        putjson_string(o, dash + 1, first - (size_t)(dash - s) - 1);
    } else if (colon == NULL) {
        putjson_lit(o, ",\"aggregator\":");
        putjson_string(o, s, n);
    }
    if (colon != NULL) {
        const char *spatial = colon + 1;
        const char *next = memchr(spatial, ':', n - first - 1);
        size_t sn = next != NULL ? (size_t)(next - spatial) : n - first - 1;
        putjson_lit(o, ",\"groupByAggregator\":");
        putjson_string(o, spatial, sn);
    } else if (dash == NULL) {
        putjson_lit(o, ",\"groupByAggregator\":");
        putjson_string(o, s, n);
    }
}

size_t
putjson_write(const char *line, size_t len, char *out, size_t cap, uint64_t *key)
{
    static struct pj_words ws; /* large; the loop is single-threaded */
    enum putjson_kind kind = putjson_kind(line, len);
    if (kind == PJ_OTHER || !putjson_split(line, len, &ws))
        return 0;
    int mi = kind == PJ_ROLLUP ? 2 : 1; /* the metric's word */
    if (ws.count < putjson_min_words(mi))
        return 0;
    int64_t ts;
    if (!putjson_timestamp(ws.w[mi + 1], ws.n[mi + 1], &ts))
        return 0;
    if (key != NULL)
        *key = putjson_words_key(&ws, mi, ts);
    struct pj_out o = { .p = out, .cap = cap };
    char tsbuf[24];
    size_t tl = 0;
    for (uint64_t v = (uint64_t)ts; v > 0 || tl == 0; v /= 10) /* ts > 0 */
        tsbuf[sizeof(tsbuf) - 1 - tl++] = (char)('0' + v % 10);
    putjson_lit(&o, "{\"metric\":");
    putjson_string(&o, ws.w[mi], ws.n[mi]);
    putjson_lit(&o, ",\"timestamp\":");
    putjson_raw(&o, tsbuf + sizeof(tsbuf) - tl, tl);
    putjson_lit(&o, ",\"value\":");
    const char *v = ws.w[mi + 2];
    size_t vn = ws.n[mi + 2];
    if (putjson_is_number(v, vn))
        putjson_raw(&o, v, vn);
    else
        putjson_string(&o, v, vn);
    if (!putjson_tags(&o, &ws, mi + 3))
        return 0;
    if (kind == PJ_ROLLUP)
        putjson_rollup_spec(&o, ws.w[1], ws.n[1]);
    putjson_raw(&o, "}", 1);
    return o.full ? 0 : o.len;
}
