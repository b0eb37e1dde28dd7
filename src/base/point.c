/*
 * point.c -- OpenTSDB data point validation and canonical serialization.
 *
 * Mirrors PutDataPointRpc.importDataPoint, Tags.parse/parseLong/
 * validateString, TSDB.addPoint and IncomingDataPoints.checkMetricAndTags
 * of OpenTSDB 2.4/2.5: same checks, same order, same messages.  Java's
 * HashMap iteration order is reproduced where messages print a tag map;
 * what Java's number parsers accept is javanum.c's, their messages are
 * worded here (with pointerr.c's tools).  point_parse_fields and
 * point_check read as the TSD's checks in their order (the numbers of spec
 * table 2.1); a rollup's and a histogram's own rules (rollup.c,
 * histogram.c) are built of the same steps.  Everything works on the
 * caller's bytes, in one pass over a line; it must never allocate.
 */
#include "autoconf.h"

#include <math.h>
#include <stdio.h>
#include <string.h>
#include <xxhash.h>

#include "base/javanum.h"
#include "base/point.h"
#include "base/pointerr.h"
#include "base/util.h"

/* ---- rules ------------------------------------------------------------- */

void
point_rules_init(struct point_rules *r, int max_tags, const char *specials)
{
    TS_ASSERT(max_tags >= 1 && max_tags <= POINT_MAX_TAGS); /* config: 1..64 */
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
    snprintf(r->agg_tag, sizeof(r->agg_tag), "_aggregate");
    r->raw_agg_value[0] = '\0';
    r->block_derived = true;
}

/* ---- Java's numbers, in the TSD's words ------------------------------- */

/* Tags.parseLong's NumberFormatException messages. */
int
point_parse_long(const char *s, size_t n, int64_t *out, struct point_error *err)
{
    size_t bad = 0;
    switch (javanum_parse_long(s, n, out, &bad)) {
    case JLONG_OK:
        return TS_OK;
    case JLONG_EMPTY:
        perr_start(err, PE_INVALID_VALUE, "Empty string");
        return TS_ERROR;
    case JLONG_SIGN_ONLY:
        perr_start(err, PE_INVALID_VALUE, "Just a sign, no value: ");
        break;
    case JLONG_TOO_LONG:
        perr_start(err, PE_INVALID_VALUE, "Value too long: ");
        break;
    case JLONG_BAD_CHAR:
        perr_start(err, PE_INVALID_VALUE, "Invalid character '");
        perr_put(err, s + bad, 1);
        perr_str(err, "' in ");
        break;
    case JLONG_OVERFLOW:
        perr_start(err, PE_INVALID_VALUE, "Overflow in ");
        break;
    }
    perr_put(err, s, n);
    return TS_ERROR;
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
    perr_start(err, PE_ILLEGAL_ARGUMENT, "not enough arguments (need least ");
    perr_i64(err, need);
    perr_str(err, ", got ");
    perr_i64(err, got);
    perr_str(err, ")");
    return TS_ERROR;
}

static int
invalid_tag(struct point_error *err, const char *s, size_t n)
{
    perr_start(err, PE_ILLEGAL_ARGUMENT, "invalid tag: ");
    perr_put(err, s, n);
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
            perr_start(err, PE_ILLEGAL_ARGUMENT, "duplicate tag: ");
            perr_put(err, s, n);
            perr_str(err, ", tags=");
            perr_java_map(err, p->tags, tracked);
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
                perr_start(err, PE_INVALID_VALUE, "Value too long: ");
                for (size_t j = 0; j < n; j++)
                    if (s[j] != '.')
                        perr_put(err, s + j, 1);
                return TS_ERROR;
            }
            buf[m++] = s[i];
        }
        return point_parse_long(buf, m, ts, err);
    }
    return point_parse_long(s, n, ts, err);
}

int
point_parse_timestamp(const char *s, size_t n, int64_t *ts, struct point_error *err)
{
    return parse_timestamp(s, n, ts, err);
}

/* The words of a line up to its tags. */
struct line_words {
    struct words w;
    const char *word[6];  /* the command, then the words before the tags */
    size_t wlen[6];
    int have;
    const char *tw;       /* the first word after them (a tag, or a */
    size_t tn;            /* histogram's value after a codec id) */
    bool more;            /* tw is there */
};

/* Nothing taken yet: the steps fill in what they find. */
static void
start_point(struct point *p, struct point_error *err, enum point_cmd cmd)
{
    err->cmd = cmd;
    p->cmd = cmd;
    p->canon_len = p->tags_bytes = 0;
    p->tags_checked = false;
    p->ntags = 0;
    p->ntag_words = 0;
    p->spec = p->codec = NULL;
    p->spec_len = p->codec_len = 0;
}

/* Check 1 failed: every word counted for the message, as String.split
 * does. */
static int
not_enough_words(struct line_words *lw, enum point_cmd cmd, struct point_error *err)
{
    int total = lw->have + (lw->more ? 1 : 0);
    while (next_word(&lw->w, &lw->tw, &lw->tn))
        total++;
    switch (cmd) {
    case CMD_ROLLUP: return not_enough(err, 7, total - 1);
    case CMD_HISTOGRAM: return not_enough(err, 5, total - 1);
    case CMD_PUT: default: return not_enough(err, 4, total - 1);
    }
}

/* Check 1: the command word (implied for framed text), the words before
 * the tags -- rollup spec metric ts value, else metric ts value -- and at
 * least one more (a tag, possibly empty). */
static int
split_words(struct line_words *lw, enum point_cmd cmd, bool implicit_put, const char *line,
            size_t len, struct point_error *err)
{
    int fixed = cmd == CMD_ROLLUP ? 5 : 4; /* words before the tags, command included */
    lw->w = (struct words){ .p = line, .end = line + len };
    lw->have = 0;
    if (implicit_put) {
        lw->word[0] = "put";
        lw->wlen[0] = 3;
        lw->have = 1;
    }
    while (lw->have < fixed && next_word(&lw->w, &lw->word[lw->have], &lw->wlen[lw->have]))
        lw->have++;
    lw->more = next_word(&lw->w, &lw->tw, &lw->tn);
    if (!lw->more || lw->have < fixed)
        return not_enough_words(lw, cmd, err);
    return TS_OK;
}

/* Check 2 (a rollup's interval/aggregator first): the metric word. */
static int
take_metric(struct point *p, const struct line_words *lw, int mi, struct point_error *err)
{
    if (p->cmd == CMD_ROLLUP) {
        if (lw->wlen[1] == 0) {
            perr_start(err, PE_ILLEGAL_ARGUMENT, "Missing interval or aggregator");
            return TS_ERROR;
        }
        p->spec = lw->word[1];
        p->spec_len = lw->wlen[1];
    }
    p->metric = lw->word[mi];
    p->metric_len = lw->wlen[mi];
    if (p->metric_len == 0) {
        perr_start(err, PE_ILLEGAL_ARGUMENT, "empty metric name");
        return TS_ERROR;
    }
    return TS_OK;
}

/* Checks 3 and 4: a Java long, greater than 0. */
static int
take_timestamp(struct point *p, const char *s, size_t n, struct point_error *err)
{
    p->ts = s;
    p->ts_len = n;
    if (parse_timestamp(s, n, &p->timestamp, err) != TS_OK)
        return TS_ERROR;
    if (p->timestamp <= 0) {
        perr_start(err, PE_ILLEGAL_ARGUMENT, "invalid timestamp: ");
        perr_i64(err, p->timestamp);
        return TS_ERROR;
    }
    return TS_OK;
}

/* Check 5: the value word is not empty.  A histogram's word after the
 * timestamp may be a codec id: then the value is the next word. */
static int
take_value(struct point *p, struct line_words *lw, int mi, struct point_error *err)
{
    p->value = lw->word[mi + 2];
    p->value_len = lw->wlen[mi + 2];
    if (p->cmd == CMD_HISTOGRAM && javanum_is_int(p->value, p->value_len)) {
        /* histogram metric ts <codec-id> <value> tags... */
        p->codec = p->value;
        p->codec_len = p->value_len;
        p->value = lw->tw;
        p->value_len = lw->tn;
        lw->more = next_word(&lw->w, &lw->tw, &lw->tn);
    }
    if (p->value_len == 0) {
        perr_start(err, PE_ILLEGAL_ARGUMENT,
                 p->cmd == CMD_HISTOGRAM ? "empty histogram value" : "empty value");
        return TS_ERROR;
    }
    return TS_OK;
}

/* Check 11: a point without tags. */
static int
no_tags(const struct point *p, struct point_error *err)
{
    perr_start(err, PE_ILLEGAL_ARGUMENT, "Need at least one tag (metric=");
    perr_put(err, p->metric, p->metric_len);
    perr_str(err, ", tags={})");
    return TS_ERROR;
}

/* Checks 1..7 (point_parse_fields; inlined into point_parse_line, the
 * hot path, as a put's steps are into point_check). */
static inline __attribute__((always_inline)) int
parse_fields(const struct point_rules *r, enum point_cmd cmd, bool implicit_put,
             const char *line, size_t len, struct point *p, struct point_error *err)
{
    struct line_words lw;
    int mi = cmd == CMD_ROLLUP ? 2 : 1; /* the metric's word */
    start_point(p, err, cmd);
    if (split_words(&lw, cmd, implicit_put, line, len, err) != TS_OK ||
        take_metric(p, &lw, mi, err) != TS_OK ||
        take_timestamp(p, lw.word[mi + 1], lw.wlen[mi + 1], err) != TS_OK ||
        take_value(p, &lw, mi, err) != TS_OK)
        return TS_ERROR;
    /* checks 6 and 7: the tag words run from lw.tw to the end of the line */
    if (lw.more && parse_tags(r, p, lw.tw, line + len, err) != TS_OK)
        return TS_ERROR;
    return TS_OK;
}

int
point_parse_fields(const struct point_rules *r, enum point_cmd cmd, bool implicit_put,
                   const char *line, size_t len, struct point *p, struct point_error *err)
{
    return parse_fields(r, cmd, implicit_put, line, len, p, err);
}

int
point_parse_line(const struct point_rules *r, enum point_cmd cmd, bool implicit_put,
                 const char *line, size_t len, struct point *p, struct point_error *err)
{
    TS_ASSERT(cmd == CMD_PUT); /* rollup.h and histogram.h have their own */
    if (parse_fields(r, cmd, implicit_put, line, len, p, err) != TS_OK)
        return TS_ERROR;
    return point_check(r, p, err);
}

/* ---- checks 8..14 ------------------------------------------------------ */

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
    javanum_parse_double(s, n, &d, &f);
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
    perr_start(err, PE_ILLEGAL_ARGUMENT, "Invalid ");
    perr_str(err, what);
    if (bracket_of != NULL) {
        perr_str(err, " [");
        perr_put(err, bracket_of, bn);
        perr_str(err, "]");
    }
    perr_str(err, " (\"");
    perr_put(err, s, n);
    perr_str(err, "\"): illegal character: ");
    perr_put(err, s + bad, 1);
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

/* Check 8 for a value with a '.' or an exponent: Double.parseDouble's
 * grammar. */
static int
invalid_double(struct point_error *err, enum javanum_double why, const char *s, size_t n)
{
    if (why == JDOUBLE_MULTIPLE_POINTS) {
        perr_start(err, PE_INVALID_VALUE, "multiple points");
        return TS_ERROR;
    }
    perr_start(err, PE_INVALID_VALUE, "For input string: \"");
    perr_put(err, s, n);
    perr_str(err, "\"");
    return TS_ERROR;
}

/* Check 9: the double is NaN or infinite. */
static int
not_finite(const struct point *p, double d, struct point_error *err)
{
    perr_start(err, PE_ILLEGAL_ARGUMENT, "value is NaN or Infinite: ");
    perr_str(err, isnan(d) ? "NaN" : (d > 0 ? "Infinity" : "-Infinity"));
    perr_str(err, " for metric=");
    perr_put(err, p->metric, p->metric_len);
    perr_str(err, " timestamp=");
    perr_i64(err, p->timestamp);
    return TS_ERROR;
}

/* Checks 8 and 9 for a float: its trimmed text, as FloatingDecimal reads
 * it, is what the canonical line carries. */
static int
check_float_value(struct point *p, struct point_value *vb, struct point_error *err)
{
    const char *s = p->value;
    size_t n = p->value_len;
    enum javanum_double g = javanum_double_grammar(&s, &n);
    if (g != JDOUBLE_OK)
        return invalid_double(err, g, s, n);
    /* the double itself is needed only when it may overflow to
     * infinity, or for the bad-timestamp message */
    if (javanum_may_overflow(s, n)) {
        double d;
        float f;
        javanum_parse_double(s, n, &d, &f);
        if (isnan(d) || isinf(d))
            return not_finite(p, d, err);
    }
    /* the TSD trims chars <= 0x20; so does the canonical line */
    p->value = s;
    p->value_len = n;
    vb->n = -1;
    return TS_OK;
}

/* Checks 8 and 9: the value is a Java long, or a finite Java double. */
static inline __attribute__((always_inline)) int
check_value(struct point *p, struct point_value *vb, struct point_error *err)
{
    int64_t v;
    bool neg = p->value_len > 1 && p->value[0] == '-';
    if (fast_digits(p->value + neg, p->value_len - neg, &v)) {
        vb->n = int_value_bytes(neg ? -v : v, vb->b, &vb->flags);
        return TS_OK;
    }
    if (!looks_like_integer(p->value, p->value_len))
        return check_float_value(p, vb, err);
    if (point_parse_long(p->value, p->value_len, &v, err) != TS_OK)
        return TS_ERROR;
    vb->n = int_value_bytes(v, vb->b, &vb->flags);
    return TS_OK;
}

/* Check 10: a timestamp past what the TSD stores, seconds or ms. */
static int
check_timestamp(const struct point *p, struct point_value *vb, struct point_error *err)
{
    if (((uint64_t)p->timestamp & 0xFFFFFFFF00000000ull) == 0 || p->timestamp <= 9999999999999LL)
        return TS_OK;
    return point_timestamp_refused(p, vb, err);
}

int
point_bad_timestamp(const struct point *p, const uint8_t *b, int n, int flags,
                    struct point_error *err)
{
    perr_start(err, PE_ILLEGAL_ARGUMENT, "bad timestamp=");
    perr_i64(err, p->timestamp);
    perr_str(err, " when trying to add value=");
    perr_value_bytes(err, b, n, flags);
    perr_str(err, " to metric=");
    perr_put(err, p->metric, p->metric_len);
    perr_str(err, ", tags=");
    perr_java_map(err, p->tags, TS_MIN(p->ntags, POINT_MAX_TAGS));
    return TS_ERROR;
}

int
point_timestamp_refused(const struct point *p, struct point_value *vb, struct point_error *err)
{
    point_value_encode(p, vb);
    return point_bad_timestamp(p, vb->b, vb->n, vb->flags, err);
}

/* Checks 11 and 12: at least one tag, at most max-tags. */
static int
check_tag_count(const struct point_rules *r, const struct point *p, struct point_error *err)
{
    if (p->ntags == 0)
        return no_tags(p, err);
    if (p->ntags <= r->max_tags)
        return TS_OK;
    perr_start(err, PE_ILLEGAL_ARGUMENT, "Too many tags: ");
    perr_i64(err, p->ntags);
    perr_str(err, " maximum allowed: ");
    perr_i64(err, r->max_tags);
    perr_str(err, ", tags: ");
    perr_java_map(err, p->tags, TS_MIN(p->ntags, POINT_MAX_TAGS));
    return TS_ERROR;
}

/* Check 13: every byte of the metric is allowed. */
static int
check_metric(const struct point_rules *r, const struct point *p, struct point_error *err)
{
    int bad = check_name(r, p->metric, p->metric_len);
    if (bad >= 0)
        return name_error(err, "metric name", NULL, 0, p->metric, p->metric_len, (size_t)bad);
    return TS_OK;
}

/* Are all tag names and values allowed?  The telnet path knows it from
 * parse_tags. */
static bool
all_tags_ok(const struct point_rules *r, const struct point *p)
{
    if (p->tags_checked)
        return p->tags_ok;
    for (int i = 0; i < p->ntags; i++)
        if (check_name(r, p->tags[i].k, p->tags[i].klen) >= 0 ||
            check_name(r, p->tags[i].v, p->tags[i].vlen) >= 0)
            return false;
    return true;
}

/* The first bad tag name or value in the order of the TSD's HashMap (the
 * same walk as perr_java_map), so it is the one the TSD reports. */
static int
first_bad_tag(const struct point_rules *r, const struct point *p, struct point_error *err)
{
    uint8_t order[POINT_MAX_TAGS];
    perr_java_map_order(p->tags, p->ntags, order);
    for (int i = 0; i < p->ntags; i++) {
        const struct point_tag *t = &p->tags[order[i]];
        int bad = check_name(r, t->k, t->klen);
        if (bad >= 0)
            return name_error(err, "tag name with value", t->v, t->vlen, t->k, t->klen,
                              (size_t)bad);
        bad = check_name(r, t->v, t->vlen);
        if (bad >= 0)
            return name_error(err, "tag value with key", t->k, t->klen, t->v, t->vlen,
                              (size_t)bad);
    }
    return TS_OK;
}

/* Check 14: every byte of the tag names and values is allowed. */
static int
check_tag_names(const struct point_rules *r, const struct point *p, struct point_error *err)
{
    if (all_tags_ok(r, p))
        return TS_OK; /* the fast path: no need for the TSD's report order */
    /* check 12 passed: ntags <= max-tags <= 64, all of them tracked */
    TS_ASSERT(p->ntags <= POINT_MAX_TAGS);
    if (p->ntags > POINT_MAX_TAGS)
        return TS_OK;
    int rc = first_bad_tag(r, p, err);
    TS_ASSERT(rc != TS_OK); /* the byte that was not allowed is in some tag */
    return rc;
}

/* The relay's own limit: the canonical line must fit a TSD's line. */
static int
check_line_length(struct point *p, struct point_error *err)
{
    size_t clen = point_canonical_len(p);
    p->canon_len = clen;
    if (clen - 1 <= POINT_LINE_MAX)
        return TS_OK;
    perr_start(err, PE_ILLEGAL_ARGUMENT, "line too long for the TSD: ");
    perr_i64(err, (int64_t)(clen - 1));
    perr_str(err, " bytes, the limit is 1024 (a TSD closes the connection on a longer line)");
    err->relay = true;
    return TS_ERROR;
}

int
point_check_value(struct point *p, struct point_value *v, struct point_error *err)
{
    v->n = 0;
    v->flags = 0;
    err->cmd = p->cmd;
    return check_value(p, v, err);
}

void
point_value_encode(const struct point *p, struct point_value *v)
{
    if (v->n < 0)
        v->n = float_value_bytes(p->value, p->value_len, v->b, &v->flags);
}

int
point_check_series(const struct point_rules *r, const struct point *p, struct point_error *err)
{
    err->cmd = p->cmd;
    if (check_tag_count(r, p, err) != TS_OK || check_metric(r, p, err) != TS_OK ||
        check_tag_names(r, p, err) != TS_OK)
        return TS_ERROR;
    return TS_OK;
}

int
point_finish(struct point *p, struct point_error *err)
{
    err->cmd = p->cmd;
    sort_tags(p);
    return check_line_length(p, err);
}

int
point_check(const struct point_rules *r, struct point *p, struct point_error *err)
{
    /* the steps of point_check_value, point_check_series and point_finish,
     * called here directly: the put's hot path */
    struct point_value v = { .n = 0, .flags = 0 };
    TS_ASSERT(p->cmd == CMD_PUT);
    err->cmd = p->cmd;
    if (check_value(p, &v, err) != TS_OK || check_timestamp(p, &v, err) != TS_OK ||
        check_tag_count(r, p, err) != TS_OK || check_metric(r, p, err) != TS_OK ||
        check_tag_names(r, p, err) != TS_OK)
        return TS_ERROR;
    sort_tags(p);
    return check_line_length(p, err);
}

/* ---- output ------------------------------------------------------------ */

/* The command words (point_cmd_name's), their lengths known here. */
static const char *const point_word[] = { "put", "rollup", "histogram" };
static const size_t point_word_len[] = { 3, 6, 9 };

size_t
point_canonical_len(const struct point *p)
{
    size_t n = point_word_len[p->cmd] + 1 + p->metric_len + 1 + p->ts_len + 1 +
               p->value_len + 1; /* + "\n" at the end, spaces between */
    if (p->cmd == CMD_ROLLUP)
        n += p->spec_len + 1;
    if (p->codec != NULL)
        n += p->codec_len + 1;
    size_t t = 0;
    for (int i = 0; i < p->ntags && i < POINT_MAX_TAGS; i++)
        t += 1 + p->tags[i].klen + 1 + p->tags[i].vlen;
    ((struct point *)p)->tags_bytes = t > 0 ? t - 1 : 0;
    /* a rollup's group-by point may have no tag of its own (the TSD adds
     * one): its line still needs the word after the value, empty */
    if (p->cmd == CMD_ROLLUP && t == 0)
        n++;
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
    o = put(o, point_word[p->cmd], point_word_len[p->cmd]);
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
    if (p->cmd == CMD_ROLLUP && p->ntags == 0)
        *o++ = ' ';
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
    if (before_tags == 4 && mi == 1 && n[0] == 9 && javanum_is_int(s[3], n[3])) {
        const char *v;
        size_t vn;
        if (!next_word(&w, &v, &vn)) /* codec id present: skip the value */
            return series_hash(s[mi], n[mi], "", 0);
    }
    if (w.done)
        return series_hash(s[mi], n[mi], "", 0);
    return series_hash(s[mi], n[mi], w.p, (size_t)(w.end - w.p));
}