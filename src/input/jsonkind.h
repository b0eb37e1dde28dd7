/*
 * jsonkind.h -- the fields of a rollup or histogram JSON datapoint.
 *
 * Owns what /api/rollup and /api/histogram add to /api/put's datapoint
 * (OpenTSDB 2.4's RollUpDataPoint: interval, aggregator,
 * groupByAggregator; HistogramPojo: value with id, or buckets with
 * underflow and overflow), read as the TSD's Jackson reads them; their
 * pre-checks in the TSD's order and words (RollUpDataPoint.validate,
 * HistogramPojo.validate and toSimpleHistogram); then the rules of the
 * point (base/rollup.h, base/histogram.h) and the telnet words the point
 * is forwarded as.  json.c hands it the fields as YAJL reads them.  It
 * keeps nothing past a datapoint and never allocates.
 */
#ifndef TS_JSONKIND_H
#define TS_JSONKIND_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/histogram.h"
#include "base/point.h"

#define JSONKIND_TEXT_MAX 128
#define JSONKIND_KEYS_MAX 2048  /* bucket keys of one datapoint, in all */

enum jsonkind_field {
    JK_NONE = 0,        /* not one of the kind's fields: ignored, as Jackson does */
    JK_INTERVAL,
    JK_AGGREGATOR,
    JK_GROUPBY,
    JK_ID,
    JK_UNDERFLOW,
    JK_OVERFLOW,
    JK_BUCKETS,
};

/* A JSON scalar as YAJL hands it. */
enum jsonkind_type { JK_STRING, JK_NUMBER, JK_LITERAL, JK_NULL };

struct jsonkind_text {
    char s[JSONKIND_TEXT_MAX];
    size_t len;
    bool present;           /* given, and not null */
};

struct jsonkind_bucket {
    uint16_t off, len;      /* its key in keys[] */
    int64_t count;
};

struct jsonkind {
    enum point_cmd cmd;
    const char *bad;        /* the first field the TSD's Jackson cannot read */
    struct jsonkind_text interval, aggregator, groupby;
    int64_t id, underflow, overflow;
    bool buckets_given;
    int nbuckets;
    size_t keys_used;
    struct jsonkind_bucket bk[HISTOGRAM_MAX_BUCKETS];
    char keys[JSONKIND_KEYS_MAX];
};

/* A new datapoint of cmd (put has no fields of its own). */
void jsonkind_reset(struct jsonkind *k, enum point_cmd cmd);
/* The field a key of the datapoint names. */
enum jsonkind_field jsonkind_key(const struct jsonkind *k, const char *s, size_t len);
/* A field's scalar value: a string already in ISO-8859-1 (latin1 false:
 * it had a character above U+00FF), a number's text, "true"/"false". */
void jsonkind_scalar(struct jsonkind *k, enum jsonkind_field f, const char *s, size_t len,
                     enum jsonkind_type type, bool latin1);
/* A map or an array as a field's value (buckets' map comes by pieces). */
void jsonkind_nested(struct jsonkind *k, enum jsonkind_field f);
/* "buckets": the map begins; then each of its entries. */
void jsonkind_buckets_begin(struct jsonkind *k);
void jsonkind_bucket(struct jsonkind *k, const char *key, size_t klen, const char *s, size_t len,
                     enum jsonkind_type type);

/* After the TSD's common pre-checks (metric, timestamp, tags; and the
 * value but for a histogram, whose value is optional: value_len 0 when
 * absent or null): the kind's own pre-checks, then the point's rules,
 * then p's words for the telnet line (a rollup's interval/aggregator
 * word, a histogram's text or codec id and value), written into scratch
 * (cap bytes, alive until the line is formatted).  The caller then calls
 * point_finish.  TS_OK or TS_ERROR with err. */
int jsonkind_finish(struct jsonkind *k, const struct point_rules *r, struct point *p,
                    char *scratch, size_t cap, struct point_error *err);

#endif
