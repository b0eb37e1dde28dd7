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

#define POINT_MAX_TAGS 128    /* tags tracked per point (max-tags <= 64) */
#define POINT_LINE_MAX 1024   /* TSD's limit: bytes before "\n" */
#define POINT_ERR_MAX 1024    /* error messages are truncated to this */

enum point_cmd { CMD_PUT = 0, CMD_ROLLUP, CMD_HISTOGRAM };

struct point_tag {
    const char *k;
    const char *v;
    uint32_t klen;
    uint32_t vlen;
};

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

/* What the TSD would have said; kind selects the reply prefix. */
enum point_err_kind {
    PE_NONE = 0,
    PE_ILLEGAL_ARGUMENT,  /* "<cmd>: illegal argument: ..." */
    PE_INVALID_VALUE,     /* "<cmd>: invalid value: ..." */
    PE_REFUSED,           /* "<cmd>: refused: ...": a valid point the relay's
                             rules or limits keep from the TSD */
};

struct point_error {
    enum point_err_kind kind;
    enum point_cmd cmd;
    bool relay;            /* a limit of the relay, not of the TSD */
    size_t len;
    char msg[POINT_ERR_MAX];  /* ISO-8859-1 bytes, like the TSD's strings */
};

struct point_rules {
    int max_tags;
    uint8_t name_ok[256];  /* bytes allowed in metric and tag names */
};

void point_rules_init(struct point_rules *r, int max_tags, const char *specials);

/* Parses and validates one telnet line of `cmd` (rollup/histogram/put).
 * `line` holds the whole line; when implicit_put is set, the line has no
 * command word (framed text) and is read as "put " + line.  TS_OK or
 * TS_ERROR with err filled. */
int point_parse_line(const struct point_rules *r, enum point_cmd cmd, bool implicit_put,
                     const char *line, size_t len, struct point *p, struct point_error *err);

/* Checks 8..14 of table 2.1 on a point whose fields are already split (the
 * JSON path, a point the relay's rules changed); sorts its tags.  TS_OK or
 * TS_ERROR. */
int point_check(const struct point_rules *r, struct point *p, struct point_error *err);
/* Check 3 of table 2.1: a timestamp word as the TSD reads it (every '.'
 * removed, then a Java long).  TS_OK or TS_ERROR with err filled. */
int point_parse_timestamp(const char *s, size_t n, int64_t *ts, struct point_error *err);

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

/* Appends `len` ISO-8859-1 bytes to out as UTF-8 (how the TSD's replies are
 * encoded), with a newline written as the two characters \n so a reply stays
 * one line; returns bytes written, never more than cap. */
size_t latin1_to_utf8(const char *in, size_t len, char *out, size_t cap);
/* The reply line for an error: "<cmd>: <kind>: <msg>" without "\n". */
size_t point_error_format(const struct point_error *e, char *out, size_t cap);
const char *point_cmd_name(enum point_cmd cmd);

/* Java's Tags.parseLong: TS_OK, or TS_ERROR with the message in err.
 * (Double.parseDouble, which needs no message, is javanum_parse_double.) */
int point_parse_long(const char *s, size_t len, int64_t *out, struct point_error *err);

#endif
