/*
 * jsonkind.c -- the fields of a rollup or histogram JSON datapoint.
 *
 * Jackson's reading, as the TSD's POJOs get it: a String field takes a
 * string, or a number's or a literal's text, and null is absent; an int or
 * long field takes an integer, a float (truncated), a string holding an
 * integer, or null (0); buckets is a map of strings to such longs (a null
 * count is 0, as SimpleHistogram.addBucket makes it), a key given twice
 * keeping its first place and its last count (a LinkedHashMap).  What
 * Jackson would refuse fails the datapoint here (the TSD fails the whole
 * request: "Unable to parse the given JSON").
 *
 * The checks, in the TSD's order: RollUpDataPoint.validate ("Missing
 * interval", "Missing aggregator" unless a group-by aggregator is given),
 * then rollup_check; HistogramPojo.validate (buckets needed without a
 * value, an id of 0..255 with one), toSimpleHistogram (each key split
 * on ',' into two bounds for Float.parseFloat), then histogram_check.
 * The telnet words: a rollup's word that the TSD's parser reads back into
 * the same fields (rollup_spec_format); a histogram's simple text
 * "u=N:o=N:lo,hi=N:..." with the bounds as sent (parseTelnet reads them
 * lower-cased: Infinity and NaN cannot go that way), or its codec id and
 * value with what the TSD's lenient base64 decoder skips left out.
 */
#include "autoconf.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "input/jsonkind.h"
#include "base/javanum.h"
#include "base/rollup.h"
#include "base/util.h"

void
jsonkind_reset(struct jsonkind *k, enum point_cmd cmd)
{
    k->cmd = cmd;
    k->bad = NULL;
    k->interval.present = k->aggregator.present = k->groupby.present = false;
    k->id = k->underflow = k->overflow = 0;
    k->buckets_given = false;
    k->nbuckets = 0;
    k->keys_used = 0;
}

enum jsonkind_field
jsonkind_key(const struct jsonkind *k, const char *s, size_t len)
{
#define KEY(name) (len == sizeof(name) - 1 && memcmp(s, name, len) == 0)
    if (k->cmd == CMD_ROLLUP)
        return KEY("interval") ? JK_INTERVAL : KEY("aggregator") ? JK_AGGREGATOR
             : KEY("groupByAggregator") ? JK_GROUPBY : JK_NONE;
    if (k->cmd == CMD_HISTOGRAM)
        return KEY("id") ? JK_ID : KEY("underflow") ? JK_UNDERFLOW : KEY("overflow") ? JK_OVERFLOW
             : KEY("buckets") ? JK_BUCKETS : JK_NONE;
#undef KEY
    return JK_NONE;
}

static void
jsonkind_fail(struct jsonkind *k, const char *why)
{
    if (k->bad == NULL)
        k->bad = why;
}

/* An int or long field as Jackson reads it: false when it cannot. */
static bool
jsonkind_integer(const char *s, size_t len, enum jsonkind_type type, int64_t min, int64_t max,
                 int64_t *out)
{
    char tmp[64];
    if (type == JK_NULL) {
        *out = 0;
        return true;
    }
    if ((type != JK_NUMBER && type != JK_STRING) || len == 0 || len >= sizeof(tmp))
        return false;
    memcpy(tmp, s, len);
    tmp[len] = '\0';
    char *end;
    if (strpbrk(tmp, ".eE") == NULL) {
        struct point_error unused;
        if (histogram_parse_long(s, len, out, &unused) != TS_OK)
            return false;
    } else {
        double d = strtod(tmp, &end);
        if (type == JK_STRING || *end != '\0' || !isfinite(d) || d < -9.2e18 || d > 9.2e18)
            return false;
        *out = (int64_t)d; /* truncated, as Jackson's float-as-int */
    }
    return *out >= min && *out <= max;
}

static void
jsonkind_text(struct jsonkind *k, struct jsonkind_text *t, const char *name, const char *s,
              size_t len, enum jsonkind_type type, bool latin1)
{
    if (type == JK_NULL) {
        t->present = false;
        return;
    }
    if (!latin1 || len >= sizeof(t->s)) {
        jsonkind_fail(k, name);
        return;
    }
    memcpy(t->s, s, len);
    t->len = len;
    t->present = true;
}

void
jsonkind_scalar(struct jsonkind *k, enum jsonkind_field f, const char *s, size_t len,
                enum jsonkind_type type, bool latin1)
{
    bool ok = true;
    switch (f) {
    case JK_INTERVAL:
        jsonkind_text(k, &k->interval, "interval: a string too long or not relayable", s, len,
                      type, latin1);
        break;
    case JK_AGGREGATOR:
        jsonkind_text(k, &k->aggregator, "aggregator: a string too long or not relayable", s,
                      len, type, latin1);
        break;
    case JK_GROUPBY:
        jsonkind_text(k, &k->groupby, "groupByAggregator: a string too long or not relayable",
                      s, len, type, latin1);
        break;
    case JK_ID:
        ok = jsonkind_integer(s, len, type, INT32_MIN, INT32_MAX, &k->id);
        break;
    case JK_UNDERFLOW:
        ok = jsonkind_integer(s, len, type, INT64_MIN, INT64_MAX, &k->underflow);
        break;
    case JK_OVERFLOW:
        ok = jsonkind_integer(s, len, type, INT64_MIN, INT64_MAX, &k->overflow);
        break;
    case JK_BUCKETS:
        if (type != JK_NULL)
            jsonkind_fail(k, "buckets: must map bounds to counts");
        else
            k->buckets_given = false;
        break;
    case JK_NONE:
        break;
    }
    if (!ok)
        jsonkind_fail(k, f == JK_ID ? "id: not an int" : "underflow/overflow: not a long");
}

void
jsonkind_nested(struct jsonkind *k, enum jsonkind_field f)
{
    if (f != JK_NONE)
        jsonkind_fail(k, f == JK_BUCKETS ? "buckets: must map bounds to counts"
                                         : "a field holds a map or an array");
}

void
jsonkind_buckets_begin(struct jsonkind *k)
{
    k->buckets_given = true;
    k->nbuckets = 0;
    k->keys_used = 0;
}

void
jsonkind_bucket(struct jsonkind *k, const char *key, size_t klen, const char *s, size_t len,
                enum jsonkind_type type)
{
    int64_t count;
    if (!jsonkind_integer(s, len, type, INT64_MIN, INT64_MAX, &count)) {
        jsonkind_fail(k, "buckets: a count is not a long");
        return;
    }
    for (int i = 0; i < k->nbuckets; i++) {
        struct jsonkind_bucket *b = &k->bk[i];
        if (b->len == klen && memcmp(k->keys + b->off, key, klen) == 0) {
            b->count = count; /* LinkedHashMap.put: first place, last value */
            return;
        }
    }
    if (k->nbuckets == HISTOGRAM_MAX_BUCKETS || klen > sizeof(k->keys) - k->keys_used) {
        jsonkind_fail(k, "buckets: more than a 1024-byte telnet line can hold");
        return;
    }
    memcpy(k->keys + k->keys_used, key, klen);
    k->bk[k->nbuckets++] = (struct jsonkind_bucket){ (uint16_t)k->keys_used, (uint16_t)klen,
                                                     count };
    k->keys_used += klen;
}

/* ---- the checks and the words ------------------------------------------ */

static int
jsonkind_error(struct point_error *err, enum point_cmd cmd, enum point_err_kind kind,
               bool relay, const char *msg)
{
    perr_start(err, kind, msg);
    err->cmd = cmd;
    err->relay = relay;
    return TS_ERROR;
}

static struct rollup_spec
jsonkind_spec(const struct jsonkind *k)
{
    struct rollup_spec sp = {
        .interval = k->interval.s, .interval_len = k->interval.len,
        .has_interval = k->interval.present,
        .agg = k->aggregator.s, .agg_len = k->aggregator.len, .has_agg = k->aggregator.present,
        .groupby = k->groupby.s, .groupby_len = k->groupby.len,
        .has_groupby = k->groupby.present,
    };
    return sp;
}

static int
jsonkind_rollup(struct jsonkind *k, const struct point_rules *r, struct point *p, char *scratch,
                size_t cap, struct point_error *err)
{
    bool groupby = k->groupby.present && k->groupby.len > 0;
    if ((!k->interval.present || k->interval.len == 0) && !groupby)
        return jsonkind_error(err, CMD_ROLLUP, PE_ILLEGAL_ARGUMENT, false, "Missing interval");
    if ((!k->aggregator.present || k->aggregator.len == 0) && !groupby)
        return jsonkind_error(err, CMD_ROLLUP, PE_ILLEGAL_ARGUMENT, false, "Missing aggregator");
    struct rollup_spec sp = jsonkind_spec(k);
    if (rollup_check(r, p, &sp, err) != TS_OK)
        return TS_ERROR;
    size_t n = rollup_spec_format(&sp, scratch, TS_MIN(cap, (size_t)ROLLUP_SPEC_MAX), err);
    if (n == 0)
        return TS_ERROR;
    p->spec = scratch;
    p->spec_len = n;
    return TS_OK;
}

/* A bound parseTelnet reads as it was sent (lower-cased, trimmed). */
static bool
jsonkind_bound_sayable(const char *s, size_t n)
{
    return memchr(s, 'I', n) == NULL && memchr(s, 'N', n) == NULL;
}

/* toSimpleHistogram, and its telnet text into out. */
static int
jsonkind_buckets(const struct jsonkind *k, struct histogram *h, char *out, size_t cap,
                 size_t *olen, struct point_error *err)
{
    histogram_init(h);
    h->underflow = k->underflow;
    h->overflow = k->overflow;
    int n = snprintf(out, cap, "u=%lld:o=%lld", (long long)k->underflow, (long long)k->overflow);
    size_t o = (size_t)n;
    for (int i = 0; i < k->nbuckets; i++) {
        const char *key = k->keys + k->bk[i].off;
        size_t kl = k->bk[i].len;
        const char *comma = memchr(key, ',', kl);
        if (comma == NULL || memchr(comma + 1, ',', kl - (size_t)(comma - key) - 1) != NULL) {
            jsonkind_error(err, CMD_HISTOGRAM, PE_ILLEGAL_ARGUMENT, false,
                           "Unable to parse bucket bounds: ");
            perr_put(err, key, kl);
            return TS_ERROR;
        }
        const char *lo = key, *hi = comma + 1;
        size_t ll = (size_t)(comma - key), hl = kl - ll - 1;
        float flo, fhi;
        if (histogram_parse_float(lo, ll, &flo, err) != TS_OK ||
            histogram_parse_float(hi, hl, &fhi, err) != TS_OK) {
            err->cmd = CMD_HISTOGRAM; /* NumberFormatException */
            return TS_ERROR;
        }
        (void)histogram_add(h, flo, fhi, k->bk[i].count);
        javanum_double_grammar(&lo, &ll);
        javanum_double_grammar(&hi, &hl);
        if (!jsonkind_bound_sayable(lo, ll) || !jsonkind_bound_sayable(hi, hl))
            return jsonkind_error(err, CMD_HISTOGRAM, PE_ILLEGAL_ARGUMENT, true,
                                  "cannot be relayed as a telnet histogram line: a bound is "
                                  "Infinity or NaN, which the TSD's telnet reader refuses");
        n = snprintf(out + o, cap - TS_MIN(o, cap), ":%.*s,%.*s=%lld", (int)ll, lo, (int)hl, hi,
                     (long long)k->bk[i].count);
        o += (size_t)n;
    }
    if (o >= cap)
        return jsonkind_error(err, CMD_HISTOGRAM, PE_ILLEGAL_ARGUMENT, true,
                              "line too long for the TSD: the buckets exceed 1024 bytes");
    *olen = o;
    return TS_OK;
}

/* A value with a codec id: "<id> <value>", what base64 does not read left
 * out (one word). */
static int
jsonkind_coded(const struct jsonkind *k, struct point *p, char *out, size_t cap,
               struct point_error *err)
{
    int n = snprintf(out, cap, "%lld", (long long)k->id);
    size_t o = (size_t)n;
    p->codec = out;
    p->codec_len = o;
    char *v = out + o;
    size_t vl = 0;
    for (size_t i = 0; i < p->value_len && o + vl < cap; i++) {
        char c = p->value[i];
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') ||
            c == '+' || c == '/' || c == '=')
            v[vl++] = c;
    }
    if (vl == 0)
        return jsonkind_error(err, CMD_HISTOGRAM, PE_ILLEGAL_ARGUMENT, true,
                              "cannot be relayed as a telnet histogram line: the value holds "
                              "no base64");
    p->value = v;
    p->value_len = vl;
    return TS_OK;
}

static int
jsonkind_histogram(struct jsonkind *k, const struct point_rules *r, struct point *p,
                   char *scratch, size_t cap, struct point_error *err)
{
    static struct histogram h; /* one datapoint at a time, as json.c */
    bool coded = p->value_len > 0;
    if (!coded && (!k->buckets_given || k->nbuckets == 0))
        return jsonkind_error(err, CMD_HISTOGRAM, PE_ILLEGAL_ARGUMENT, false,
                              "Histogram buckets cannot be null or empty if 'value' is empty.");
    if (coded && (k->id < 0 || k->id > 255))
        return jsonkind_error(err, CMD_HISTOGRAM, PE_ILLEGAL_ARGUMENT, false,
                              "Invalid type. Must be from 0 to 255.");
    if (coded) {
        if (jsonkind_coded(k, p, scratch, cap, err) != TS_OK)
            return TS_ERROR;
    } else {
        size_t n;
        if (jsonkind_buckets(k, &h, scratch, cap, &n, err) != TS_OK)
            return TS_ERROR;
        p->codec = NULL;
        p->codec_len = 0;
        p->value = scratch;
        p->value_len = n;
    }
    return histogram_check(r, p, coded ? NULL : &h, false, err);
}

int
jsonkind_finish(struct jsonkind *k, const struct point_rules *r, struct point *p,
                char *scratch, size_t cap, struct point_error *err)
{
    p->cmd = k->cmd;
    if (k->bad != NULL) {
        jsonkind_error(err, k->cmd, PE_ILLEGAL_ARGUMENT, false,
                       "Unable to parse the given JSON: ");
        perr_str(err, k->bad);
        return TS_ERROR;
    }
    if (k->cmd == CMD_ROLLUP)
        return jsonkind_rollup(k, r, p, scratch, cap, err);
    TS_ASSERT(k->cmd == CMD_HISTOGRAM);
    return jsonkind_histogram(k, r, p, scratch, cap, err);
}
