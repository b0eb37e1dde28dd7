/*
 * rollup.h -- OpenTSDB 2.4's rules for a rolled-up or pre-aggregated point.
 *
 * Owns what RollupDataPointRpc and TSDB.addAggregatePoint check beyond a
 * put, in their order: the interval/aggregator word as the TSD's parser
 * reads it (`1h-sum`, `sum`, `1h-sum:max`: a '-' between interval and
 * aggregator, a ':' before the group-by aggregator, whatever the
 * documentation says), second timestamps only, the aggregate tag the TSD
 * adds (`_aggregate`) counted with the tags, the group-by aggregator
 * known and not derived, and the same words back for a point that came as
 * JSON.  What depends on the TSD's rollup configuration (its intervals,
 * its aggregator ids) is the TSD's to answer.  It must never allocate or
 * keep a pointer past a call.
 */
#ifndef TS_ROLLUP_H
#define TS_ROLLUP_H

#include <stdbool.h>
#include <stddef.h>

#include "base/point.h"

#define ROLLUP_SPEC_MAX 256  /* a spec word built from JSON fields */

/* A point's interval, rollup (temporal) aggregator and group-by (spatial)
 * aggregator.  A field is absent (Java's null) or present, possibly "". */
struct rollup_spec {
    const char *interval;    size_t interval_len;  bool has_interval;
    const char *agg;         size_t agg_len;       bool has_agg;
    const char *groupby;     size_t groupby_len;   bool has_groupby;
};

/* The telnet word as RollupDataPointRpc splits it: String.split(":")
 * (trailing empty parts dropped), a '-' in the first part separating
 * interval and aggregator, a second part being the group-by aggregator,
 * and a group-by aggregator alone serving as the rollup aggregator too.
 * TS_ERROR (err filled, the relay's words) for a word of nothing but ':',
 * on which the TSD fails with an exception and answers nothing. */
int rollup_spec_parse(const char *word, size_t len, struct rollup_spec *sp,
                      struct point_error *err);

/* The rules of TSDB.addAggregatePoint on a point whose fields passed the
 * TSD's parse (telnet: point_parse_fields; JSON: its pre-checks): the
 * value, a group-by aggregator not empty, a timestamp in seconds, the
 * aggregate tag (added, or checked against the group-by aggregator), the
 * group-by aggregator known and not derived, the tags counted and checked
 * with the aggregate tag, a rollup aggregator not derived.  p's tags are
 * left as they came.  TS_OK or TS_ERROR with err. */
int rollup_check(const struct point_rules *r, struct point *p, const struct rollup_spec *sp,
                 struct point_error *err);

/* The telnet word the TSD parses back into sp (a point that came as
 * JSON).  Returns its length, or 0 (err filled, the relay's own words)
 * when no word says it: a '-' or ':' where the word separates its parts,
 * a blank or control byte, or longer than cap. */
size_t rollup_spec_format(const struct rollup_spec *sp, char *out, size_t cap,
                          struct point_error *err);

/* One telnet `rollup` line: point_parse_fields, the word, rollup_check,
 * point_finish.  TS_OK or TS_ERROR with err. */
int rollup_parse_line(const struct point_rules *r, const char *line, size_t len,
                      struct point *p, struct point_error *err);

/* Is name one of the TSD's aggregators (Aggregators.get)? */
bool rollup_aggregator_known(const char *name, size_t len);

#endif
