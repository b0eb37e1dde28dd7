/*
 * point.c -- OpenTSDB data point validation and canonical serialization.
 *
 * Mirrors PutDataPointRpc.importDataPoint, Tags.parse/parseLong/
 * validateString, TSDB.addPoint and IncomingDataPoints.checkMetricAndTags
 * of OpenTSDB 2.4/2.5: same checks, same order, same messages.  Java's
 * HashMap iteration order is reproduced where messages print a tag map.
 * Everything works on the caller's bytes; it must never allocate.
 */
#include "autoconf.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

#include "base/point.h"
#include "base/util.h"

/* ---- error text -------------------------------------------------------- */

static void
eb_put(struct point_error *e, const char *s, size_t n)
{
    size_t room = sizeof(e->msg) - 1 - e->len;
    if (n > room)
        n = room;
    memcpy(e->msg + e->len, s, n);
    e->len += n;
    e->msg[e->len] = '\0';
}

static void
eb_str(struct point_error *e, const char *s)
{
    eb_put(e, s, strlen(s));
}

static void
eb_i64(struct point_error *e, int64_t v)
{
    char b[24];
    int n = snprintf(b, sizeof(b), "%lld", (long long)v);
    eb_put(e, b, (size_t)n);
}

static void
eb_start(struct point_error *e, enum point_err_kind kind, const char *s)
{
    e->kind = kind;
    e->relay = false;
    e->len = 0;
    e->msg[0] = '\0';
    if (s != NULL)
        eb_str(e, s);
}

/* Java String.hashCode over ISO-8859-1 chars, then HashMap.hash(). */
static uint32_t
java_spread_hash(const char *s, size_t n)
{
    uint32_t h = 0;
    for (size_t i = 0; i < n; i++)
        h = 31u * h + (unsigned char)s[i];
    return h ^ (h >> 16);
}

/* Appends "{k1=v1, k2=v2}" in the order a java.util.HashMap (default
 * capacity 16, load factor 0.75) built by inserting these tags in order
 * would iterate them: by bucket, then by insertion within a bucket. */
static void
eb_java_map(struct point_error *e, const struct point_tag *tags, int n)
{
    uint32_t cap = 16;
    while ((uint64_t)n * 4 > (uint64_t)cap * 3)
        cap *= 2;
    eb_put(e, "{", 1);
    int printed = 0;
    /* Walk buckets in order; n is small (<= POINT_MAX_TAGS). */
    uint32_t idx[POINT_MAX_TAGS];
    for (int i = 0; i < n; i++)
        idx[i] = java_spread_hash(tags[i].k, tags[i].klen) & (cap - 1);
    for (int pass = 0; pass < n; pass++) {
        /* selection by (bucket, insertion) without sorting in place */
        int best = -1;
        for (int i = 0; i < n; i++) {
            if (idx[i] == UINT32_MAX)
                continue;
            if (best < 0 || idx[i] < idx[best])
                best = i;
        }
        if (best < 0)
            break;
        if (printed++)
            eb_put(e, ", ", 2);
        eb_put(e, tags[best].k, tags[best].klen);
        eb_put(e, "=", 1);
        eb_put(e, tags[best].v, tags[best].vlen);
        idx[best] = UINT32_MAX;
    }
    eb_put(e, "}", 1);
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
    const char *kind = e->kind == PE_INVALID_VALUE ? "invalid value" : "illegal argument";
    int n = snprintf(out, cap, "%s: %s: ", point_cmd_name(e->cmd), kind);
    if (n < 0 || (size_t)n >= cap)
        return cap > 0 ? cap - 1 : 0;
    return (size_t)n + latin1_to_utf8(e->msg, e->len, out + n, cap - (size_t)n);
}

/* ---- rules ------------------------------------------------------------- */

void
point_rules_init(struct point_rules *r, int max_tags, const char *specials)
{
    memset(r, 0, sizeof(*r));
    r->max_tags = max_tags;
    for (int c = '0'; c <= '9'; c++)
        r->name_ok[c] = 1;
    for (int c = 'a'; c <= 'z'; c++)
        r->name_ok[c] = 1;
    for (int c = 'A'; c <= 'Z'; c++)
        r->name_ok[c] = 1;
    r->name_ok['-'] = r->name_ok['_'] = r->name_ok['.'] = r->name_ok['/'] = 1;
    /* ISO-8859-1 letters (Java Character.isLetter on Latin-1 chars) */
    r->name_ok[0xAA] = r->name_ok[0xB5] = r->name_ok[0xBA] = 1;
    for (int c = 0xC0; c <= 0xFF; c++)
        if (c != 0xD7 && c != 0xF7)
            r->name_ok[c] = 1;
    for (const char *s = specials; s != NULL && *s; s++)
        r->name_ok[(unsigned char)*s] = 1;
}

/* ---- Java number parsing ---------------------------------------------- */

static bool
is_digit(char c)
{
    return c >= '0' && c <= '9';
}

int
point_parse_long(const char *s, size_t n, int64_t *out, struct point_error *err)
{
    if (n == 0) {
        eb_start(err, PE_INVALID_VALUE, "Empty string");
        return TS_ERROR;
    }
    size_t i = 0;
    char c = s[0];
    if (c == '+' || c == '-') {
        if (n == 1) {
            eb_start(err, PE_INVALID_VALUE, "Just a sign, no value: ");
            eb_put(err, s, n);
            return TS_ERROR;
        }
        if (n > 20)
            goto too_long;
        i = 1;
    } else if (n > 19) {
        goto too_long;
    }
    uint64_t x = 0;
    for (; i < n; i++) {
        if (!is_digit(s[i])) {
            eb_start(err, PE_INVALID_VALUE, "Invalid character '");
            eb_put(err, s + i, 1);
            eb_str(err, "' in ");
            eb_put(err, s, n);
            return TS_ERROR;
        }
        x = x * 10 + (uint64_t)(s[i] - '0'); /* <= 19 digits: no overflow */
    }
    /* Java accumulates -x in a wrapping long and fails when it turns
     * positive, or when a positive result would be Long.MIN_VALUE. */
    int64_t v = (int64_t)(0 - x);
    if (v > 0 || (s[0] != '-' && x == (uint64_t)1 << 63)) {
        eb_start(err, PE_INVALID_VALUE, "Overflow in ");
        eb_put(err, s, n);
        return TS_ERROR;
    }
    *out = s[0] == '-' ? v : -v;
    return TS_OK;

too_long:
    eb_start(err, PE_INVALID_VALUE, "Value too long: ");
    eb_put(err, s, n);
    return TS_ERROR;
}

/* Java Integer.parseInt succeeds? (histogram codec ids) */
static bool
java_parses_int(const char *s, size_t n)
{
    size_t i = 0;
    bool neg = false;
    if (n > 0 && (s[0] == '+' || s[0] == '-')) {
        neg = s[0] == '-';
        i = 1;
    }
    if (i == n)
        return false;
    uint64_t x = 0;
    for (; i < n; i++) {
        if (!is_digit(s[i]))
            return false;
        x = x * 10 + (uint64_t)(s[i] - '0');
        if (x > (uint64_t)INT32_MAX + 1)
            return false;
    }
    return neg || x <= (uint64_t)INT32_MAX;
}

static bool
is_hex(char c)
{
    return is_digit(c) || (c >= 'a' && c <= 'f') || (c >= 'A' && c <= 'F');
}

static bool
is_suffix(char c)
{
    return c == 'f' || c == 'F' || c == 'd' || c == 'D';
}

/* FloatingDecimal.readJavaFormatString's grammar on the trimmed string:
 * returns 0 ok, 1 "For input string", 2 "multiple points". */
static int
java_double_grammar(const char *s, size_t n)
{
    size_t i = 0;
    if (n == 0)
        return 1;
    if (s[i] == '+' || s[i] == '-')
        i++;
    if (i < n && s[i] == 'N')
        return (n - i == 3 && memcmp(s + i, "NaN", 3) == 0) ? 0 : 1;
    if (i < n && s[i] == 'I')
        return (n - i == 8 && memcmp(s + i, "Infinity", 8) == 0) ? 0 : 1;
    if (i + 1 < n && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'X')) {
        /* ([-+])?0[xX]((H+\.?)|(H*\.H+))[pP]([-+])?D+[fFdD]? */
        i += 2;
        size_t h1 = 0, h2 = 0;
        while (i < n && is_hex(s[i])) { i++; h1++; }
        bool dot = false;
        if (i < n && s[i] == '.') {
            dot = true;
            i++;
            while (i < n && is_hex(s[i])) { i++; h2++; }
        }
        if (dot ? (h1 == 0 && h2 == 0) : h1 == 0)
            return 1;
        if (i >= n || (s[i] != 'p' && s[i] != 'P'))
            return 1;
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t d = 0;
        while (i < n && is_digit(s[i])) { i++; d++; }
        if (d == 0)
            return 1;
        if (i < n && is_suffix(s[i]))
            i++;
        return i == n ? 0 : 1;
    }
    size_t digits = 0;
    bool dot = false;
    for (; i < n; i++) {
        if (is_digit(s[i])) {
            digits++;
        } else if (s[i] == '.') {
            if (dot)
                return 2;
            dot = true;
        } else {
            break;
        }
    }
    if (digits == 0)
        return 1;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            i++;
        size_t d = 0;
        while (i < n && is_digit(s[i])) { i++; d++; }
        if (d == 0)
            return 1;
    }
    if (i < n && (i != n - 1 || !is_suffix(s[i])))
        return 1;
    return 0;
}

int
point_parse_java_double(const char *s, size_t n, double *d, float *f)
{
    while (n > 0 && (unsigned char)*s <= ' ') {
        s++;
        n--;
    }
    while (n > 0 && (unsigned char)s[n - 1] <= ' ')
        n--;
    if (java_double_grammar(s, n) != 0)
        return TS_ERROR;
    char buf[1100];
    if (n >= sizeof(buf)) {
        /* too long to carry on a 1024-byte line anyway; call it finite */
        *d = 1.0;
        *f = 1.0f;
        return TS_OK;
    }
    memcpy(buf, s, n);
    buf[n] = '\0';
    /* drop a trailing type suffix (f/F/d/D); for hex floats it can only
     * follow the binary exponent, so a final hex digit is never dropped */
    bool hex = strpbrk(buf, "xX") != NULL;
    if (n > 1 && is_suffix(buf[n - 1]) && (!hex || strpbrk(buf, "pP") != NULL))
        buf[n - 1] = '\0';
    *d = strtod(buf, NULL);
    *f = strtof(buf, NULL);
    return TS_OK;
}

/* ---- the put grammar --------------------------------------------------- */

struct words {
    const char *p;
    const char *end;
    bool done;
};

/* Next word split on single 0x20 bytes (Tags.splitString).  Words are
 * short: a plain loop beats a memchr call here. */
static inline bool
next_word(struct words *w, const char **s, size_t *n)
{
    if (w->done)
        return false;
    const char *p = w->p, *end = w->end;
    *s = p;
    while (p < end && *p != ' ')
        p++;
    *n = (size_t)(p - *s);
    if (p == end)
        w->done = true;
    else
        w->p = p + 1;
    return true;
}

static int
not_enough(struct point_error *err, int need, int got)
{
    eb_start(err, PE_ILLEGAL_ARGUMENT, "not enough arguments (need least ");
    eb_i64(err, need);
    eb_str(err, ", got ");
    eb_i64(err, got);
    eb_str(err, ")");
    return TS_ERROR;
}

static int
invalid_tag(struct point_error *err, const char *s, size_t n)
{
    eb_start(err, PE_ILLEGAL_ARGUMENT, "invalid tag: ");
    eb_put(err, s, n);
    return TS_ERROR;
}

/* Tags.parse, after the syntax check: "k=v" (eq at its '=') into the map. */
static int
add_tag(struct point *p, const char *s, size_t n, const char *eq, struct point_error *err)
{
    uint32_t klen = (uint32_t)(eq - s);
    uint32_t vlen = (uint32_t)(n - klen - 1);
    p->ntag_words++;
    int tracked = TS_MIN(p->ntags, POINT_MAX_TAGS);
    for (int i = 0; i < tracked; i++) {
        struct point_tag *t = &p->tags[i];
        if (t->klen == klen && t->k[0] == s[0] && memcmp(t->k, s, klen) == 0) {
            if (t->vlen == vlen && memcmp(t->v, eq + 1, vlen) == 0)
                return TS_OK; /* same k=v again collapses */
            eb_start(err, PE_ILLEGAL_ARGUMENT, "duplicate tag: ");
            eb_put(err, s, n);
            eb_str(err, ", tags=");
            eb_java_map(err, p->tags, tracked);
            return TS_ERROR;
        }
    }
    if (p->ntags < POINT_MAX_TAGS) {
        struct point_tag *t = &p->tags[p->ntags];
        t->k = s;
        t->klen = klen;
        t->v = eq + 1;
        t->vlen = vlen;
    }
    p->ntags++; /* may exceed POINT_MAX_TAGS: only the count is kept */
    return TS_OK;
}

/* Every tag word of [s, end), in one pass: splits words on ' ', checks
 * each is exactly k=v, adds it, and notes whether any name byte is outside
 * the allowed set (checked, in the TSD's order, only if so). */
static int
parse_tags(const struct point_rules *r, struct point *p, const char *s, const char *end,
           struct point_error *err)
{
    const char *ws = s, *eq = NULL;
    int neq = 0;
    unsigned ok = 1;
    for (const char *q = s;; q++) {
        if (q == end || *q == ' ') {
            size_t n = (size_t)(q - ws);
            if (n > 0) {
                if (neq != 1 || eq == ws || eq == q - 1)
                    return invalid_tag(err, ws, n);
                if (add_tag(p, ws, n, eq, err) != TS_OK)
                    return TS_ERROR;
            }
            if (q == end)
                break;
            ws = q + 1;
            neq = 0;
            eq = NULL;
            continue;
        }
        if (*q == '=') {
            if (neq++ == 0)
                eq = q;
        } else {
            ok &= r->name_ok[(unsigned char)*q];
        }
    }
    p->tags_checked = true;
    p->tags_ok = ok != 0;
    return TS_OK;
}

/* Plain digits, at most 18 of them: the value, no Java corner case. */
static inline bool
fast_digits(const char *s, size_t n, int64_t *out)
{
    if (n == 0 || n > 18)
        return false;
    int64_t v = 0;
    for (size_t i = 0; i < n; i++) {
        unsigned d = (unsigned)(unsigned char)s[i] - '0';
        if (d > 9)
            return false;
        v = v * 10 + (int64_t)d;
    }
    *out = v;
    return true;
}

static int
parse_timestamp(const char *s, size_t n, int64_t *ts, struct point_error *err)
{
    if (fast_digits(s, n, ts))
        return TS_OK;
    if (memchr(s, '.', n) != NULL) {
        char buf[64];
        size_t m = 0;
        for (size_t i = 0; i < n; i++) {
            if (s[i] == '.')
                continue;
            if (m == sizeof(buf)) {
                /* far too long for a long: report as Java would */
                eb_start(err, PE_INVALID_VALUE, "Value too long: ");
                for (size_t j = 0; j < n; j++)
                    if (s[j] != '.')
                        eb_put(err, s + j, 1);
                return TS_ERROR;
            }
            buf[m++] = s[i];
        }
        return point_parse_long(buf, m, ts, err);
    }
    return point_parse_long(s, n, ts, err);
}

int
point_parse_line(const struct point_rules *r, enum point_cmd cmd, bool implicit_put,
                 const char *line, size_t len, struct point *p, struct point_error *err)
{
    struct words w = { .p = line, .end = line + len };
    const char *word[6];
    size_t wlen[6];
    int fixed; /* words before the tags, command included */
    err->cmd = cmd;
    p->cmd = cmd;
    p->canon_len = p->tags_bytes = 0;
    p->tags_checked = false;
    p->ntags = 0;
    p->ntag_words = 0;
    p->spec = p->codec = NULL;
    p->spec_len = p->codec_len = 0;

    int have = 0;
    if (implicit_put) {
        word[0] = "put";
        wlen[0] = 3;
        have = 1;
    }
    switch (cmd) {
    case CMD_ROLLUP: fixed = 5; break;      /* rollup spec metric ts value */
    case CMD_HISTOGRAM: fixed = 4; break;   /* histogram metric ts [id] value */
    case CMD_PUT: default: fixed = 4; break;/* put metric ts value */
    }
    while (have < fixed && next_word(&w, &word[have], &wlen[have]))
        have++;
    /* need at least one more word (a tag, possibly empty) */
    const char *tw;
    size_t tn;
    bool more = next_word(&w, &tw, &tn);
    int total = have + (more ? 1 : 0);
    if (!more || have < fixed) {
        /* count every word for the message, as String.split does */
        while (next_word(&w, &tw, &tn))
            total++;
        switch (cmd) {
        case CMD_ROLLUP: return not_enough(err, 7, total - 1);
        case CMD_HISTOGRAM: return not_enough(err, 5, total - 1);
        case CMD_PUT: default: return not_enough(err, 4, total - 1);
        }
    }

    int mi = 1;
    if (cmd == CMD_ROLLUP) {
        if (wlen[1] == 0) {
            eb_start(err, PE_ILLEGAL_ARGUMENT, "Missing interval or aggregator");
            return TS_ERROR;
        }
        p->spec = word[1];
        p->spec_len = wlen[1];
        mi = 2;
    }
    p->metric = word[mi];
    p->metric_len = wlen[mi];
    if (p->metric_len == 0) {
        eb_start(err, PE_ILLEGAL_ARGUMENT, "empty metric name");
        return TS_ERROR;
    }
    p->ts = word[mi + 1];
    p->ts_len = wlen[mi + 1];
    if (parse_timestamp(p->ts, p->ts_len, &p->timestamp, err) != TS_OK)
        return TS_ERROR;
    if (p->timestamp <= 0) {
        eb_start(err, PE_ILLEGAL_ARGUMENT, "invalid timestamp: ");
        eb_i64(err, p->timestamp);
        return TS_ERROR;
    }
    p->value = word[mi + 2];
    p->value_len = wlen[mi + 2];

    if (cmd == CMD_HISTOGRAM && java_parses_int(p->value, p->value_len)) {
        /* histogram metric ts <codec-id> <value> tags... */
        p->codec = p->value;
        p->codec_len = p->value_len;
        p->value = tw;
        p->value_len = tn;
        more = next_word(&w, &tw, &tn);
        if (p->value_len == 0) {
            eb_start(err, PE_ILLEGAL_ARGUMENT, "empty histogram value");
            return TS_ERROR;
        }
    } else if (p->value_len == 0) {
        eb_start(err, PE_ILLEGAL_ARGUMENT,
                 cmd == CMD_HISTOGRAM ? "empty histogram value" : "empty value");
        return TS_ERROR;
    }

    /* the tag words run from tw to the end of the line */
    if (more && parse_tags(r, p, tw, line + len, err) != TS_OK)
        return TS_ERROR;
    if (cmd == CMD_HISTOGRAM) {
        /* the value is decoded by the TSD's histogram codec; the relay only
         * checks what it can: names and tags */
        if (p->ntags == 0) {
            eb_start(err, PE_ILLEGAL_ARGUMENT, "Need at least one tag (metric=");
            eb_put(err, p->metric, p->metric_len);
            eb_str(err, ", tags={})");
            return TS_ERROR;
        }
    }
    return point_check(r, p, err);
}

/* ---- checks 8..14 ------------------------------------------------------ */

/* Could this (grammatical) Java double overflow to infinity?  Only with a
 * large decimal exponent, very many integer digits, or a hex float. */
static bool
double_may_overflow(const char *s, size_t n)
{
    size_t int_digits = 0, i = 0;
    if (i < n && (s[i] == '+' || s[i] == '-'))
        i++;
    if (i + 1 < n && s[i] == '0' && (s[i + 1] == 'x' || s[i + 1] == 'X'))
        return true;
    while (i < n && s[i] == '0')
        i++;
    while (i < n && is_digit(s[i])) {
        i++;
        int_digits++;
    }
    while (i < n && (is_digit(s[i]) || s[i] == '.'))
        i++;
    long e = 0;
    if (i < n && (s[i] == 'e' || s[i] == 'E')) {
        i++;
        bool neg = false;
        if (i < n && (s[i] == '+' || s[i] == '-'))
            neg = s[i++] == '-';
        while (i < n && is_digit(s[i]) && e < 100000)
            e = e * 10 + (s[i++] - '0');
        if (neg)
            e = -e;
    }
    return (long)int_digits + e > 300;
}

/* OpenTSDB's bytes for an integer value: the smallest of 1, 2, 4, 8 bytes,
 * big-endian, flags = length - 1.  Returns the length. */
static int
int_value_bytes(int64_t v, uint8_t *vb, int *flags)
{
    int vn = (v >= INT8_MIN && v <= INT8_MAX) ? 1
           : (v >= INT16_MIN && v <= INT16_MAX) ? 2
           : (v >= INT32_MIN && v <= INT32_MAX) ? 4 : 8;
    for (int i = 0; i < vn; i++)
        vb[i] = (uint8_t)((uint64_t)v >> (8 * (vn - 1 - i)));
    *flags = vn - 1;
    return vn;
}

/* OpenTSDB's bytes for a float value: 4-byte float if exact, else double. */
static int
float_value_bytes(const char *s, size_t n, uint8_t *vb, int *flags)
{
    double d;
    float f;
    uint64_t bits;
    int vn;
    point_parse_java_double(s, n, &d, &f);
    if ((double)(float)d == d) {
        uint32_t fb;
        memcpy(&fb, &f, 4);
        bits = fb;
        vn = 4;
        *flags = 8 | 3;
    } else {
        memcpy(&bits, &d, 8);
        vn = 8;
        *flags = 8 | 7;
    }
    for (int i = 0; i < vn; i++)
        vb[i] = (uint8_t)(bits >> (8 * (vn - 1 - i)));
    return vn;
}

/* Arrays.toString of OpenTSDB's encoding of the value, then "/flags". */
static void
eb_value_bytes(struct point_error *e, const uint8_t *b, int n, int flags)
{
    eb_put(e, "[", 1);
    for (int i = 0; i < n; i++) {
        if (i)
            eb_put(e, ", ", 2);
        eb_i64(e, (int8_t)b[i]);
    }
    eb_put(e, "]/", 2);
    eb_i64(e, flags);
}

static int
check_name(const struct point_rules *r, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (!r->name_ok[(unsigned char)s[i]])
            return (int)i;
    return -1;
}

static int
name_error(struct point_error *err, const char *what, const char *bracket_of, size_t bn,
           const char *s, size_t n, size_t bad)
{
    eb_start(err, PE_ILLEGAL_ARGUMENT, "Invalid ");
    eb_str(err, what);
    if (bracket_of != NULL) {
        eb_str(err, " [");
        eb_put(err, bracket_of, bn);
        eb_str(err, "]");
    }
    eb_str(err, " (\"");
    eb_put(err, s, n);
    eb_str(err, "\"): illegal character: ");
    eb_put(err, s + bad, 1);
    return TS_ERROR;
}

static void
sort_tags(struct point *p)
{
    for (int i = 1; i < p->ntags; i++) {
        struct point_tag t = p->tags[i];
        int j = i - 1;
        while (j >= 0) {
            const struct point_tag *u = &p->tags[j];
            int c = (unsigned char)u->k[0] - (unsigned char)t.k[0];
            if (c == 0) {
                size_t m = TS_MIN(u->klen, t.klen);
                c = memcmp(u->k, t.k, m);
                if (c == 0)
                    c = u->klen <= t.klen ? -1 : 1;
            }
            if (c < 0)
                break;
            p->tags[j + 1] = p->tags[j];
            j--;
        }
        p->tags[j + 1] = t;
    }
}

static bool
looks_like_integer(const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        if (s[i] == '.' || s[i] == 'e' || s[i] == 'E')
            return false;
    return true;
}

int
point_check(const struct point_rules *r, struct point *p, struct point_error *err)
{
    err->cmd = p->cmd;
    uint8_t vb[8];
    int vn = 0, flags = 0;

    if (p->cmd != CMD_HISTOGRAM) {
        int64_t v;
        bool neg = p->value_len > 1 && p->value[0] == '-';
        if (fast_digits(p->value + neg, p->value_len - neg, &v)) {
            if (neg)
                v = -v;
            vn = int_value_bytes(v, vb, &flags);
        } else if (looks_like_integer(p->value, p->value_len)) {
            if (point_parse_long(p->value, p->value_len, &v, err) != TS_OK)
                return TS_ERROR;
            vn = int_value_bytes(v, vb, &flags);
        } else {
            /* trimmed text, as FloatingDecimal reads it */
            const char *s = p->value;
            size_t n = p->value_len;
            while (n > 0 && (unsigned char)*s <= ' ') { s++; n--; }
            while (n > 0 && (unsigned char)s[n - 1] <= ' ') n--;
            int g = java_double_grammar(s, n);
            if (g != 0) {
                if (g == 2) {
                    eb_start(err, PE_INVALID_VALUE, "multiple points");
                } else {
                    eb_start(err, PE_INVALID_VALUE, "For input string: \"");
                    eb_put(err, s, n);
                    eb_str(err, "\"");
                }
                return TS_ERROR;
            }
            /* the double itself is needed only when it may overflow to
             * infinity, or for the bad-timestamp message below */
            if (double_may_overflow(s, n)) {
                double d;
                float f;
                point_parse_java_double(s, n, &d, &f);
                if (isnan(d) || isinf(d)) {
                    eb_start(err, PE_ILLEGAL_ARGUMENT, "value is NaN or Infinite: ");
                    eb_str(err, isnan(d) ? "NaN" : (d > 0 ? "Infinity" : "-Infinity"));
                    eb_str(err, " for metric=");
                    eb_put(err, p->metric, p->metric_len);
                    eb_str(err, " timestamp=");
                    eb_i64(err, p->timestamp);
                    return TS_ERROR;
                }
            }
            /* the TSD trims chars <= 0x20; so does the canonical line */
            p->value = s;
            p->value_len = n;
            vn = -1; /* a float: bytes computed only if a message needs them */
        }
    }

    if (((uint64_t)p->timestamp & 0xFFFFFFFF00000000ull) != 0 &&
        p->timestamp > 9999999999999LL) {
        if (vn < 0)
            vn = float_value_bytes(p->value, p->value_len, vb, &flags);
        eb_start(err, PE_ILLEGAL_ARGUMENT, "bad timestamp=");
        eb_i64(err, p->timestamp);
        eb_str(err, " when trying to add value=");
        eb_value_bytes(err, vb, vn, flags);
        eb_str(err, " to metric=");
        eb_put(err, p->metric, p->metric_len);
        eb_str(err, ", tags=");
        eb_java_map(err, p->tags, TS_MIN(p->ntags, POINT_MAX_TAGS));
        return TS_ERROR;
    }
    if (p->ntags == 0) {
        eb_start(err, PE_ILLEGAL_ARGUMENT, "Need at least one tag (metric=");
        eb_put(err, p->metric, p->metric_len);
        eb_str(err, ", tags={})");
        return TS_ERROR;
    }
    if (p->ntags > r->max_tags) {
        eb_start(err, PE_ILLEGAL_ARGUMENT, "Too many tags: ");
        eb_i64(err, p->ntags);
        eb_str(err, " maximum allowed: ");
        eb_i64(err, r->max_tags);
        eb_str(err, ", tags: ");
        eb_java_map(err, p->tags, TS_MIN(p->ntags, POINT_MAX_TAGS));
        return TS_ERROR;
    }
    int bad = check_name(r, p->metric, p->metric_len);
    if (bad >= 0)
        return name_error(err, "metric name", NULL, 0, p->metric, p->metric_len, (size_t)bad);
    /* fast path: every name valid, no need for the TSD's report order */
    bool all_ok = p->tags_checked ? p->tags_ok : true;
    for (int i = 0; i < p->ntags && all_ok && !p->tags_checked; i++)
        all_ok = check_name(r, p->tags[i].k, p->tags[i].klen) < 0 &&
                 check_name(r, p->tags[i].v, p->tags[i].vlen) < 0;
    /* else: tags in HashMap iteration order (same bucket walk as
     * eb_java_map), so the first reported is the one the TSD reports */
    if (!all_ok && p->ntags <= POINT_MAX_TAGS) {
        uint32_t cap = 16;
        while ((uint64_t)p->ntags * 4 > (uint64_t)cap * 3)
            cap *= 2;
        uint32_t idx[POINT_MAX_TAGS];
        for (int i = 0; i < p->ntags; i++)
            idx[i] = java_spread_hash(p->tags[i].k, p->tags[i].klen) & (cap - 1);
        for (int pass = 0; pass < p->ntags; pass++) {
            int best = -1;
            for (int i = 0; i < p->ntags; i++)
                if (idx[i] != UINT32_MAX && (best < 0 || idx[i] < idx[best]))
                    best = i;
            const struct point_tag *t = &p->tags[best];
            idx[best] = UINT32_MAX;
            bad = check_name(r, t->k, t->klen);
            if (bad >= 0)
                return name_error(err, "tag name with value", t->v, t->vlen, t->k, t->klen,
                                  (size_t)bad);
            bad = check_name(r, t->v, t->vlen);
            if (bad >= 0)
                return name_error(err, "tag value with key", t->k, t->klen, t->v, t->vlen,
                                  (size_t)bad);
        }
    }
    sort_tags(p);
    size_t clen = point_canonical_len(p);
    p->canon_len = clen;
    if (clen - 1 > POINT_LINE_MAX) {
        eb_start(err, PE_ILLEGAL_ARGUMENT, "line too long for the TSD: ");
        eb_i64(err, (int64_t)(clen - 1));
        eb_str(err, " bytes, the limit is 1024 (a TSD closes the connection on a longer line)");
        err->relay = true;
        return TS_ERROR;
    }
    return TS_OK;
}

/* ---- output ------------------------------------------------------------ */

size_t
point_canonical_len(const struct point *p)
{
    size_t n = strlen(point_cmd_name(p->cmd)) + 1 + p->metric_len + 1 + p->ts_len + 1 +
               p->value_len + 1; /* + "\n" at the end, spaces between */
    if (p->cmd == CMD_ROLLUP)
        n += p->spec_len + 1;
    if (p->codec != NULL)
        n += p->codec_len + 1;
    size_t t = 0;
    for (int i = 0; i < p->ntags && i < POINT_MAX_TAGS; i++)
        t += 1 + p->tags[i].klen + 1 + p->tags[i].vlen;
    ((struct point *)p)->tags_bytes = t > 0 ? t - 1 : 0;
    return n + t;
}

static char *
put(char *o, const char *s, size_t n)
{
    memcpy(o, s, n);
    return o + n;
}

size_t
point_format(const struct point *p, char *out, size_t cap)
{
    size_t need = p->canon_len ? p->canon_len : point_canonical_len(p);
    if (need > cap)
        return 0;
    char *o = out;
    const char *cmd = point_cmd_name(p->cmd);
    o = put(o, cmd, strlen(cmd));
    *o++ = ' ';
    if (p->cmd == CMD_ROLLUP) {
        o = put(o, p->spec, p->spec_len);
        *o++ = ' ';
    }
    o = put(o, p->metric, p->metric_len);
    *o++ = ' ';
    o = put(o, p->ts, p->ts_len);
    *o++ = ' ';
    if (p->codec != NULL) {
        o = put(o, p->codec, p->codec_len);
        *o++ = ' ';
    }
    o = put(o, p->value, p->value_len);
    for (int i = 0; i < p->ntags; i++) {
        *o++ = ' ';
        o = put(o, p->tags[i].k, p->tags[i].klen);
        *o++ = '=';
        o = put(o, p->tags[i].v, p->tags[i].vlen);
    }
    *o++ = '\n';
    return (size_t)(o - out);
}

static uint64_t
series_hash(const char *metric, size_t mlen, const char *tags, size_t tlen)
{
    return XXH3_64bits_withSeed(tags, tlen, XXH3_64bits(metric, mlen));
}

uint64_t
point_hash(const struct point *p)
{
    /* tags are sorted; hash them as the canonical line spells them */
    char buf[POINT_LINE_MAX + 2];
    size_t n = 0;
    for (int i = 0; i < p->ntags && n < sizeof(buf); i++) {
        const struct point_tag *t = &p->tags[i];
        if (n + 1 + t->klen + 1 + t->vlen > sizeof(buf))
            break;
        if (i)
            buf[n++] = ' ';
        memcpy(buf + n, t->k, t->klen);
        n += t->klen;
        buf[n++] = '=';
        memcpy(buf + n, t->v, t->vlen);
        n += t->vlen;
    }
    return series_hash(p->metric, p->metric_len, buf, n);
}

uint64_t
point_output_hash(const struct point *p, const char *out, size_t len)
{
    return series_hash(p->metric, p->metric_len, out + len - 1 - p->tags_bytes, p->tags_bytes);
}

uint64_t
point_line_hash(const char *line, size_t len)
{
    if (len > 0 && line[len - 1] == '\n')
        len--;
    struct words w = { .p = line, .end = line + len };
    const char *s[6];
    size_t n[6];
    int k = 0;
    if (!next_word(&w, &s[0], &n[0]))
        return 0;
    int before_tags; /* words before the tags, metric index */
    int mi = 1;
    if (n[0] == 6 && memcmp(s[0], "rollup", 6) == 0) {
        before_tags = 5;
        mi = 2;
    } else if (n[0] == 9 && memcmp(s[0], "histogram", 9) == 0) {
        before_tags = 4;
    } else {
        before_tags = 4;
    }
    for (k = 1; k < before_tags; k++)
        if (!next_word(&w, &s[k], &n[k]))
            return series_hash(line, len, "", 0);
    if (before_tags == 4 && mi == 1 && n[0] == 9 && java_parses_int(s[3], n[3])) {
        const char *v;
        size_t vn;
        if (!next_word(&w, &v, &vn)) /* codec id present: skip the value */
            return series_hash(s[mi], n[mi], "", 0);
    }
    if (w.done)
        return series_hash(s[mi], n[mi], "", 0);
    return series_hash(s[mi], n[mi], w.p, (size_t)(w.end - w.p));
}
