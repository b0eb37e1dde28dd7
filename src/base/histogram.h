/*
 * histogram.h -- OpenTSDB 2.4's rules for a histogram point.
 *
 * Owns what HistogramDataPointRpc and TSDB.addHistogramPoint check beyond
 * the words of a line: the simple histogram's text ("u=N:o=N:lo,hi=N:...",
 * buckets separated by ':' whatever the documentation says) read as
 * parseTelnet reads it, a timestamp of at most 13 digits, the tags'
 * count and characters -- and the TSD's words for them: on telnet
 * everything after the tags is checked in the TSD's storage callback and
 * answered "histogram: HBase error: ...".  A value with a codec id is the
 * TSD's codec's to decode.  The simple codec's id is taken to be 0 (the
 * TSD's documented configuration) where a message prints the encoding.
 * It must never allocate or keep a pointer past a call.
 */
#ifndef TS_HISTOGRAM_H
#define TS_HISTOGRAM_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/point.h"

#define HISTOGRAM_MAX_BUCKETS 256  /* more than a 1024-byte line can hold */

struct histogram_bucket {
    float lo, hi;
    int64_t count;
};

/* A SimpleHistogram: buckets in the order of its TreeMap (lower bound,
 * then upper, as Float.compare orders them; the same bounds twice keep
 * the last count), underflow and overflow. */
struct histogram {
    int nbuckets;
    int64_t underflow, overflow;
    struct histogram_bucket b[HISTOGRAM_MAX_BUCKETS];
};

void histogram_init(struct histogram *h);
/* SimpleHistogram.addBucket.  false when the histogram is full. */
bool histogram_add(struct histogram *h, float lo, float hi, int64_t count);

/* Long.parseLong (java.lang's, radix 10): TS_OK, or TS_ERROR with its
 * message, `For input string: "<s>"`, in err (kind PE_INVALID_VALUE). */
int histogram_parse_long(const char *s, size_t n, int64_t *out, struct point_error *err);
/* Float.parseFloat: TS_OK, or TS_ERROR with its message ("empty
 * String", "multiple points", `For input string: "<trimmed>"`). */
int histogram_parse_float(const char *s, size_t n, float *out, struct point_error *err);

/* The simple histogram's telnet text, as parseTelnet reads it.  TS_OK,
 * or TS_ERROR with the TSD's message in err (kind PE_HBASE: how a telnet
 * client is told). */
int histogram_parse_text(const char *s, size_t n, struct histogram *h, struct point_error *err);

/* The checks of TSDB.addHistogramPoint after the value was read: the
 * timestamp (at most 9999999999999) and the tags (point_check_series).
 * h: the simple histogram, or NULL for a value with a codec id.  telnet:
 * worded as the TSD answers a telnet client (PE_HBASE), else as its HTTP
 * answer names them.  TS_OK or TS_ERROR with err. */
int histogram_check(const struct point_rules *r, struct point *p, const struct histogram *h,
                    bool telnet, struct point_error *err);

/* One telnet `histogram` line: point_parse_fields, the value, the checks,
 * point_finish.  TS_OK or TS_ERROR with err. */
int histogram_parse_line(const struct point_rules *r, const char *line, size_t len,
                         struct point *p, struct point_error *err);

#endif
