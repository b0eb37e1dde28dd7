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
 * same text either way); a histogram's as HistogramPojo's fields.  It
 * never allocates.
 */
#include "autoconf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "base/histogram.h"
#include "base/javanum.h"
#include "base/point.h"
#include "base/putjson.h"
#include "base/util.h"

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
    if (len >= 10 && memcmp(line, "histogram ", 10) == 0)
        return PJ_HISTOGRAM;
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

/* Where a split line's words are: its metric's, its value's (a
 * histogram's codec id, when it has one, comes before it: the TSD takes
 * the word after the timestamp for an id when Integer.parseInt reads it)
 * and its first tag's. */
struct pj_layout {
    int metric, value, first_tag;
    bool coded;
    int32_t id;                 /* coded: the codec id */
};

/* The layout of a line of kind; false when words are missing: a put needs
 * a tag, a histogram too; a rollup with a group-by aggregator may have
 * none (over telnet the TSD adds the aggregate tag; its HTTP API answers
 * "Missing tags" for "tags":{}). */
static bool
putjson_layout(enum putjson_kind kind, const struct pj_words *ws, struct pj_layout *lay)
{
    lay->metric = kind == PJ_ROLLUP ? 2 : 1;
    lay->value = lay->metric + 2;
    lay->coded = kind == PJ_HISTOGRAM && ws->count > lay->value + 1 &&
                 javanum_parse_int(ws->w[lay->value], ws->n[lay->value], &lay->id);
    lay->value += lay->coded;
    lay->first_tag = lay->value + 1;
    return ws->count >= lay->first_tag + (kind != PJ_ROLLUP);
}

/* The key of a split line: metric, timestamp, tags as UTF-8. */
static uint64_t
putjson_words_key(const struct pj_words *ws, const struct pj_layout *lay, int64_t ts)
{
    char ku[2 * POINT_LINE_MAX], vu[2 * POINT_LINE_MAX];
    int mi = lay->metric;
    uint64_t key = putjson_key_begin(ku, putjson_utf8(ws->w[mi], ws->n[mi], ku), ts);
    for (int i = lay->first_tag; i < ws->count; i++) {
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
    struct pj_layout lay;
    int64_t ts;
    if (kind == PJ_OTHER || !putjson_split(line, len, &ws) || !putjson_layout(kind, &ws, &lay) ||
        !putjson_timestamp(ws.w[lay.metric + 1], ws.n[lay.metric + 1], &ts))
        return 0;
    return putjson_words_key(&ws, &lay, ts);
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

/* An integer as JSON. */
static void
putjson_int(struct pj_out *o, int64_t v)
{
    char buf[24];
    int n = snprintf(buf, sizeof(buf), "%lld", (long long)v);
    putjson_raw(o, buf, (size_t)n);
}

/* A float as the shortest text that reads back the same (strtof and
 * Java's Float.parseFloat both round correctly): 0.1f is "0.1", not
 * "0.100000001"; a bound past a float's range ("1e4000" over telnet) is
 * Java's "Infinity". */
static size_t
putjson_float(float f, char *out, size_t cap)
{
    if (isinf(f))
        return (size_t)snprintf(out, cap, "%sInfinity", f < 0 ? "-" : "");
    if (isnan(f))
        return (size_t)snprintf(out, cap, "NaN");
    int n = 0;
    for (int digits = 6; digits <= 9; digits++) {
        n = snprintf(out, cap, "%.*g", digits, (double)f);
        float back = strtof(out, NULL);
        if (memcmp(&back, &f, sizeof(f)) == 0)
            break;
    }
    return (size_t)n;
}

/* A histogram's value: "id" and "value" (the base64 text), or the simple
 * histogram read as parseTelnet reads its text ("u=N:o=N:lo,hi=N:..."),
 * as "buckets", "underflow" and "overflow".  false when the text is not
 * one (point.c refuses such a line), or has no bucket: telnet takes that
 * ("u=1:o=2"), HistogramPojo.validate refuses it, and a coded value would
 * need the simple codec's id, which is the TSD's configuration's. */
static bool
putjson_histogram_value(struct pj_out *o, const struct pj_words *ws, const struct pj_layout *lay)
{
    static struct histogram h; /* 4 KiB; the loop is single-threaded */
    const char *v = ws->w[lay->value];
    size_t vn = ws->n[lay->value];
    struct point_error err;
    if (lay->coded) {
        putjson_lit(o, ",\"id\":");
        putjson_int(o, lay->id);
        putjson_lit(o, ",\"value\":");
        putjson_string(o, v, vn);
        return true;
    }
    if (histogram_parse_text(v, vn, &h, &err) != TS_OK || h.nbuckets == 0)
        return false;
    putjson_lit(o, ",\"buckets\":{");
    for (int i = 0; i < h.nbuckets; i++) {
        char lo[32], hi[32];
        size_t ll = putjson_float(h.b[i].lo, lo, sizeof(lo));
        size_t hl = putjson_float(h.b[i].hi, hi, sizeof(hi));
        putjson_raw(o, i > 0 ? ",\"" : "\"", i > 0 ? 2 : 1);
        putjson_raw(o, lo, ll);
        putjson_raw(o, ",", 1);
        putjson_raw(o, hi, hl);
        putjson_raw(o, "\":", 2);
        putjson_int(o, h.b[i].count);
    }
    putjson_lit(o, "},\"underflow\":");
    putjson_int(o, h.underflow);
    putjson_lit(o, ",\"overflow\":");
    putjson_int(o, h.overflow);
    return true;
}

size_t
putjson_write(const char *line, size_t len, char *out, size_t cap, uint64_t *key)
{
    static struct pj_words ws; /* large; the loop is single-threaded */
    enum putjson_kind kind = putjson_kind(line, len);
    struct pj_layout lay;
    if (kind == PJ_OTHER || !putjson_split(line, len, &ws) || !putjson_layout(kind, &ws, &lay))
        return 0;
    int mi = lay.metric;
    int64_t ts;
    if (!putjson_timestamp(ws.w[mi + 1], ws.n[mi + 1], &ts))
        return 0;
    if (key != NULL)
        *key = putjson_words_key(&ws, &lay, ts);
    struct pj_out o = { .p = out, .cap = cap };
    putjson_lit(&o, "{\"metric\":");
    putjson_string(&o, ws.w[mi], ws.n[mi]);
    putjson_lit(&o, ",\"timestamp\":");
    putjson_int(&o, ts);
    if (kind == PJ_HISTOGRAM) {
        if (!putjson_histogram_value(&o, &ws, &lay))
            return 0;
    } else {
        const char *v = ws.w[lay.value];
        size_t vn = ws.n[lay.value];
        putjson_lit(&o, ",\"value\":");
        if (putjson_is_number(v, vn))
            putjson_raw(&o, v, vn);
        else
            putjson_string(&o, v, vn);
    }
    if (!putjson_tags(&o, &ws, lay.first_tag))
        return 0;
    if (kind == PJ_ROLLUP)
        putjson_rollup_spec(&o, ws.w[1], ws.n[1]);
    putjson_raw(&o, "}", 1);
    return o.full ? 0 : o.len;
}
