/*
 * point.h -- OpenTSDB data point validation and canonical serialization.
 *
 * Owns the TSD's exact grammar for put/rollup/histogram lines: the same
 * check order and the same error text (spec/opentsdb-telnet.md, table 2.1),
 * raw-byte validation of names as ISO-8859-1, and the canonical output line
 * (single spaces, tags sorted by key, "\n", never over 1024 bytes).  Also the
 * series hash that routes a point.  It parses in place and must never
 * allocate or keep pointers past the call.
 */
#ifndef TS_POINT_H
#define TS_POINT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/pointerr.h"

#define POINT_LINE_MAX 1024   /* TSD's limit: bytes before "\n" */

struct point {
    enum point_cmd cmd;
    const char *spec;    size_t spec_len;    /* rollup: interval/aggregator */
    const char *metric;  size_t metric_len;
    const char *ts;      size_t ts_len;      /* as sent */
    const char *codec;   size_t codec_len;   /* histogram: optional codec id */
    const char *value;   size_t value_len;   /* as sent (floats: trimmed) */
    int64_t timestamp;                       /* parsed, seconds or ms */
    int ntags;                               /* distinct tag keys */
    bool tags_checked;                       /* tag bytes already classified */
    bool tags_ok;                            /* ... and all allowed */
    size_t canon_len;                        /* set by point_check */
    size_t tags_bytes;                       /* "k=v k=v" part of it */
    int ntag_words;                          /* non-empty tag words seen */
    struct point_tag tags[POINT_MAX_TAGS];   /* insertion order, then sorted */
};

#define POINT_AGG_TAG_MAX 64

struct point_rules {
    int max_tags;
    uint8_t name_ok[256];  /* bytes allowed in metric and tag names */
    /* rollup points (rollup.c), as a TSD with tsd.rollups.enable checks
     * them; point_rules_init sets the TSD's defaults */
    char agg_tag[POINT_AGG_TAG_MAX];       /* tsd.rollups.agg_tag_key */
    char raw_agg_value[POINT_AGG_TAG_MAX]; /* "": tsd.rollups.tag_raw off; else
                                              tsd.rollups.raw_agg_tag_value */
    bool block_derived;                    /* tsd.rollups.block_derived */
};

void point_rules_init(struct point_rules *r, int max_tags, const char *specials);

/* OpenTSDB's encoding of a value (the smallest of 1, 2, 4, 8 bytes for an
 * integer, flags = length - 1; a float in 4 bytes if exact, else a
 * double; flags 8 | length - 1): what a bad-timestamp message prints. */
struct point_value {
    uint8_t b[8];
    int n;                 /* -1: a float, encoded only if a message needs it */
    int flags;
};

/* Parses and validates one telnet `put` line: checks 1..14 of table 2.1.
 * `line` holds the whole line; when implicit_put is set, the line has no
 * command word (framed text) and is read as "put " + line.  cmd must be
 * CMD_PUT: rollup and histogram lines have rules of their own (rollup.h,
 * histogram.h).  TS_OK or TS_ERROR with err filled. */
int point_parse_line(const struct point_rules *r, enum point_cmd cmd, bool implicit_put,
                     const char *line, size_t len, struct point *p, struct point_error *err);

/* Checks 8..14 of table 2.1 on a point whose fields are already split (the
 * JSON path, a point the relay's rules changed), then point_finish (which
 * sorts its tags).  TS_OK or TS_ERROR. */
int point_check(const struct point_rules *r, struct point *p, struct point_error *err);
/* Check 3 of table 2.1: a timestamp word as the TSD reads it (every '.'
 * removed, then a Java long).  TS_OK or TS_ERROR with err filled. */
int point_parse_timestamp(const char *s, size_t n, int64_t *ts, struct point_error *err);

/* The steps the checks of all three commands are built of, in the TSD's
 * order of table 2.1:
 * point_parse_fields -- checks 1..7 of a line of cmd: the words before
 *   the tags (a rollup's interval/aggregator word, a histogram's codec id),
 *   the timestamp, a value present, the tags' syntax and duplicates;
 * point_check_value -- checks 8 and 9: a Java long or a finite double
 *   (a float's text trimmed as the TSD trims it); v gets its encoding;
 * point_value_encode -- v's bytes for a message, a float encoded now;
 * point_check_series -- checks 11..14: one tag at least, max-tags at most,
 *   the metric's and the tags' characters (messages print p's tags);
 * point_finish -- sorts the tags and applies the relay's own limit, a
 *   canonical line of at most 1024 bytes (sets canon_len). */
int point_parse_fields(const struct point_rules *r, enum point_cmd cmd, bool implicit_put,
                       const char *line, size_t len, struct point *p, struct point_error *err);
int point_check_value(struct point *p, struct point_value *v, struct point_error *err);
void point_value_encode(const struct point *p, struct point_value *v);
/* The TSD's answer to a timestamp it does not store (check 10: "bad
 * timestamp=... when trying to add value=..."): err filled, TS_ERROR. */
int point_timestamp_refused(const struct point *p, struct point_value *v,
                            struct point_error *err);
/* The same message for a value already encoded as bytes b (n of them,
 * the TSD's flags; a histogram's encoding). */
int point_bad_timestamp(const struct point *p, const uint8_t *b, int n, int flags,
                        struct point_error *err);
int point_check_series(const struct point_rules *r, const struct point *p,
                       struct point_error *err);
int point_finish(struct point *p, struct point_error *err);

/* Canonical line length including the final "\n". */
size_t point_canonical_len(const struct point *p);
/* Writes the canonical line (cap >= point_canonical_len). Returns length. */
size_t point_format(const struct point *p, char *out, size_t cap);

/* Series hash: metric + sorted tags.  point_line_hash() computes the same
 * value from a canonical line (used when draining the spool). */
uint64_t point_hash(const struct point *p);
uint64_t point_line_hash(const char *line, size_t len);
/* Same value as point_line_hash(out, len) for the line point_format just
 * wrote, without parsing it again. */
uint64_t point_output_hash(const struct point *p, const char *out, size_t len);


/* Java's Tags.parseLong: TS_OK, or TS_ERROR with the message in err.
 * (Double.parseDouble, which needs no message, is javanum_parse_double.) */
int point_parse_long(const char *s, size_t len, int64_t *out, struct point_error *err);

#endif
