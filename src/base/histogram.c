/*
 * histogram.c -- OpenTSDB 2.4's rules for a histogram point.
 *
 * Mirrors HistogramDataPointRpc.importDataPoint and parseTelnet, the
 * SimpleHistogram the simple codec builds, and TSDB.addHistogramPoint's
 * checkTimestampAndTags, in their order.  The TSD's telnet path runs
 * everything after the tags inside a try whose failure goes to the
 * storage error callback: the client reads "histogram: HBase error:
 * <message>" for a bad bucket as for a bad tag count.  Its HTTP path
 * (HistogramPojo) answers the same messages in `details`.  Where a
 * message prints the encoded histogram, it is Kryo's encoding of the
 * SimpleHistogram (id byte, bucket count as a short, each bucket's bounds
 * as big-endian floats and its count as a var-long, then underflow and
 * overflow), with the simple codec's id taken as 0.
 */
#include "autoconf.h"

#include <math.h>
#include <string.h>

#include "base/histogram.h"
#include "base/javanum.h"
#include "base/pointerr.h"
#include "base/util.h"

#define HISTOGRAM_SIMPLE_ID 0
#define HISTOGRAM_RAW_MAX 800   /* encoded bytes a message prints, at most */

void
histogram_init(struct histogram *h)
{
    h->nbuckets = 0;
    h->underflow = h->overflow = 0;
}

/* Float.compare: -0.0 before 0.0 (NaN, which sorts last, cannot come:
 * "nan" is no float to parseTelnet, and a JSON NaN is not relayed). */
static int
histogram_float_compare(float a, float b)
{
    if (a < b)
        return -1;
    if (a > b)
        return 1;
    return signbit(a) == signbit(b) ? 0 : signbit(a) ? -1 : 1;
}

static int
histogram_bucket_compare(const struct histogram_bucket *x, float lo, float hi)
{
    int c = histogram_float_compare(x->lo, lo);
    return c != 0 ? c : histogram_float_compare(x->hi, hi);
}

bool
histogram_add(struct histogram *h, float lo, float hi, int64_t count)
{
    int i = 0;
    while (i < h->nbuckets && histogram_bucket_compare(&h->b[i], lo, hi) < 0)
        i++;
    if (i < h->nbuckets && histogram_bucket_compare(&h->b[i], lo, hi) == 0) {
        h->b[i].count = count; /* TreeMap.put: the same key keeps the last */
        return true;
    }
    if (h->nbuckets == HISTOGRAM_MAX_BUCKETS)
        return false;
    memmove(&h->b[i + 1], &h->b[i], (size_t)(h->nbuckets - i) * sizeof(h->b[0]));
    h->b[i] = (struct histogram_bucket){ lo, hi, count };
    h->nbuckets++;
    return true;
}

/* ---- Java's numbers, in Java's words ---------------------------------- */

static int
histogram_for_input(const char *s, size_t n, struct point_error *err)
{
    perr_start(err, PE_INVALID_VALUE, "For input string: \"");
    perr_put(err, s, n);
    perr_str(err, "\"");
    return TS_ERROR;
}

int
histogram_parse_long(const char *s, size_t n, int64_t *out, struct point_error *err)
{
    size_t i = 0;
    bool neg = false;
    if (n > 0 && (s[0] == '-' || s[0] == '+')) {
        neg = s[0] == '-';
        i = 1;
    }
    if (i == n)
        return histogram_for_input(s, n, err);
    uint64_t limit = neg ? (uint64_t)INT64_MAX + 1 : (uint64_t)INT64_MAX, v = 0;
    for (; i < n; i++) {
        unsigned d = (unsigned)(unsigned char)s[i] - '0';
        if (d > 9 || v > (limit - d) / 10)
            return histogram_for_input(s, n, err);
        v = v * 10 + d;
    }
    *out = neg ? (int64_t)(0 - v) : (int64_t)v;
    return TS_OK;
}

int
histogram_parse_float(const char *s, size_t n, float *out, struct point_error *err)
{
    enum javanum_double g = javanum_double_grammar(&s, &n);
    if (n == 0) {
        perr_start(err, PE_INVALID_VALUE, "empty String");
        return TS_ERROR;
    }
    if (g == JDOUBLE_MULTIPLE_POINTS) {
        perr_start(err, PE_INVALID_VALUE, "multiple points");
        return TS_ERROR;
    }
    double d;
    if (g != JDOUBLE_OK || javanum_parse_double(s, n, &d, out) != TS_OK)
        return histogram_for_input(s, n, err);
    return TS_OK;
}

/* ---- the telnet text --------------------------------------------------- */

static int
histogram_bad_bucket(const char *what, const char *s, size_t n, struct point_error *err)
{
    perr_start(err, PE_HBASE, what);
    perr_put(err, s, n);
    return TS_ERROR;
}

/* One "k=v" of parseTelnet: "u", "o" (any case), or "lo,hi". */
static int
histogram_bucket_text(const char *s, size_t n, struct histogram *h, struct point_error *err)
{
    const char *eq = memchr(s, '=', n);
    if (eq == NULL || memchr(eq + 1, '=', n - (size_t)(eq - s) - 1) != NULL)
        return histogram_bad_bucket("Improperly formatted bucket: ", s, n, err);
    size_t kl = (size_t)(eq - s), vl = n - kl - 1;
    char key[POINT_LINE_MAX + 2];
    for (size_t i = 0; i < kl; i++) /* String.toLowerCase */
        key[i] = (char)ts_latin1_lower((unsigned char)s[i]);
    int rc = TS_OK;
    if (kl == 1 && (key[0] == 'u' || key[0] == 'o')) {
        rc = histogram_parse_long(eq + 1, vl, key[0] == 'u' ? &h->underflow : &h->overflow, err);
    } else {
        const char *comma = memchr(key, ',', kl);
        if (comma == NULL || memchr(comma + 1, ',', kl - (size_t)(comma - key) - 1) != NULL)
            return histogram_bad_bucket("Improperly formatted bounds: ", s, n, err);
        float lo, hi;
        int64_t count;
        size_t ll = (size_t)(comma - key);
        rc = histogram_parse_float(key, ll, &lo, err);
        if (rc == TS_OK)
            rc = histogram_parse_float(comma + 1, kl - ll - 1, &hi, err);
        if (rc == TS_OK)
            rc = histogram_parse_long(eq + 1, vl, &count, err);
        if (rc == TS_OK && !histogram_add(h, lo, hi, count))
            return histogram_bad_bucket("too many buckets: ", s, n, err);
    }
    if (rc != TS_OK)
        err->kind = PE_HBASE;
    return rc;
}

int
histogram_parse_text(const char *s, size_t n, struct histogram *h, struct point_error *err)
{
    err->cmd = CMD_HISTOGRAM;
    histogram_init(h);
    const char *end = s + n;
    for (const char *p = s;;) { /* Tags.splitString on ':': empty parts too */
        const char *c = memchr(p, ':', (size_t)(end - p));
        const char *e = c != NULL ? c : end;
        if (histogram_bucket_text(p, (size_t)(e - p), h, err) != TS_OK)
            return TS_ERROR;
        if (c == NULL)
            return TS_OK;
        p = c + 1;
    }
}

/* ---- the encoding a message prints ------------------------------------- */

struct histogram_raw {
    uint8_t b[HISTOGRAM_RAW_MAX];
    int n;
};

static void
histogram_raw_put(struct histogram_raw *r, uint8_t c)
{
    if (r->n < HISTOGRAM_RAW_MAX)
        r->b[r->n++] = c;
}

static void
histogram_raw_be(struct histogram_raw *r, uint32_t v, int bytes)
{
    for (int i = bytes - 1; i >= 0; i--)
        histogram_raw_put(r, (uint8_t)(v >> (8 * i)));
}

/* Kryo's Output.writeLong(v, true): 7 bits a byte, low first, the ninth
 * byte whole. */
static void
histogram_raw_varlong(struct histogram_raw *r, uint64_t v)
{
    for (int i = 0; i < 8 && v > 0x7F; i++) {
        histogram_raw_put(r, (uint8_t)((v & 0x7F) | 0x80));
        v >>= 7;
    }
    histogram_raw_put(r, (uint8_t)v);
}

static void
histogram_encode(const struct histogram *h, struct histogram_raw *r)
{
    r->n = 0;
    histogram_raw_put(r, HISTOGRAM_SIMPLE_ID);
    histogram_raw_be(r, (uint32_t)h->nbuckets, 2);
    for (int i = 0; i < h->nbuckets; i++) {
        uint32_t lo, hi;
        memcpy(&lo, &h->b[i].lo, 4);
        memcpy(&hi, &h->b[i].hi, 4);
        histogram_raw_be(r, lo, 4);
        histogram_raw_be(r, hi, 4);
        histogram_raw_varlong(r, (uint64_t)h->b[i].count);
    }
    histogram_raw_varlong(r, (uint64_t)h->underflow);
    histogram_raw_varlong(r, (uint64_t)h->overflow);
}

/* A value with a codec id: the id byte, then its base64 decoded (the
 * TSD's lenient decoder skips what is not base64). */
static void
histogram_encode_coded(const struct point *p, struct histogram_raw *r)
{
    int64_t id = 0;
    struct point_error unused;
    r->n = 0;
    (void)histogram_parse_long(p->codec, p->codec_len, &id, &unused);
    histogram_raw_put(r, (uint8_t)id);
    uint32_t acc = 0;
    int bits = 0;
    for (size_t i = 0; i < p->value_len; i++) {
        unsigned char c = (unsigned char)p->value[i];
        int v = c >= 'A' && c <= 'Z' ? c - 'A' : c >= 'a' && c <= 'z' ? c - 'a' + 26
              : c >= '0' && c <= '9' ? c - '0' + 52 : c == '+' ? 62 : c == '/' ? 63 : -1;
        if (v < 0)
            continue;
        acc = (acc << 6) | (uint32_t)v;
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            histogram_raw_put(r, (uint8_t)(acc >> bits));
        }
    }
}

/* ---- the checks -------------------------------------------------------- */

/* checkTimestampAndTags: milliseconds up to 9999999999999. */
static int
histogram_bad_timestamp(const struct point *p, const struct histogram *h,
                        struct point_error *err)
{
    if (((uint64_t)p->timestamp & 0xFFFFFFFF00000000ull) == 0 || p->timestamp <= 9999999999999LL)
        return TS_OK;
    struct histogram_raw raw;
    if (h != NULL)
        histogram_encode(h, &raw);
    else
        histogram_encode_coded(p, &raw);
    return point_bad_timestamp(p, raw.b, raw.n, 0, err);
}

int
histogram_check(const struct point_rules *r, struct point *p, const struct histogram *h,
                bool telnet, struct point_error *err)
{
    err->cmd = CMD_HISTOGRAM;
    if (histogram_bad_timestamp(p, h, err) == TS_OK && point_check_series(r, p, err) == TS_OK)
        return TS_OK;
    if (telnet && err->kind == PE_ILLEGAL_ARGUMENT && !err->relay)
        err->kind = PE_HBASE;
    return TS_ERROR;
}

int
histogram_parse_line(const struct point_rules *r, const char *line, size_t len,
                     struct point *p, struct point_error *err)
{
    struct histogram h;
    if (point_parse_fields(r, CMD_HISTOGRAM, false, line, len, p, err) != TS_OK)
        return TS_ERROR;
    if (p->value_len > POINT_LINE_MAX)
        return point_finish(p, err); /* the relay's limit: no line that long goes */
    if (p->codec == NULL && histogram_parse_text(p->value, p->value_len, &h, err) != TS_OK)
        return TS_ERROR;
    if (histogram_check(r, p, p->codec == NULL ? &h : NULL, true, err) != TS_OK)
        return TS_ERROR;
    return point_finish(p, err);
}
