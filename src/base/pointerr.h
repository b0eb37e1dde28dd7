/*
 * pointerr.h -- the TSD's error text for a data point.
 *
 * Owns the wording tools the point checks (point.c, rollup.c,
 * histogram.c) build their messages with: a bounded message buffer, a
 * number, Java's HashMap.toString() order of a tag map, Arrays.toString
 * of OpenTSDB's value bytes; and the error of a point itself, as the relay
 * answers it (point_error_format).  It words what others decide: it must
 * never judge a point, allocate, or keep a pointer past a call.
 */
#ifndef TS_POINTERR_H
#define TS_POINTERR_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define POINT_MAX_TAGS 128    /* tags tracked per point (max-tags <= 64) */
#define POINT_ERR_MAX 1024    /* error messages are truncated to this */

enum point_cmd { CMD_PUT = 0, CMD_ROLLUP, CMD_HISTOGRAM };

struct point_tag {
    const char *k;
    const char *v;
    uint32_t klen;
    uint32_t vlen;
};

/* What the TSD would have said; kind selects the reply prefix. */
enum point_err_kind {
    PE_NONE = 0,
    PE_ILLEGAL_ARGUMENT,  /* "<cmd>: illegal argument: ..." */
    PE_INVALID_VALUE,     /* "<cmd>: invalid value: ..." */
    PE_REFUSED,           /* "<cmd>: refused: ...": a valid point the relay's
                             rules or limits keep from the TSD */
    PE_HBASE,             /* "<cmd>: HBase error: ...": how the TSD words a
                             telnet histogram's failure after its tags were
                             read (its checks run in the storage callback) */
};

struct point_error {
    enum point_err_kind kind;
    enum point_cmd cmd;
    bool relay;            /* a limit of the relay, not of the TSD */
    size_t len;
    char msg[POINT_ERR_MAX];  /* ISO-8859-1 bytes, like the TSD's strings */
};

/* Appends `len` ISO-8859-1 bytes to out as UTF-8 (how the TSD's replies are
 * encoded), with a newline written as the two characters \n so a reply stays
 * one line; returns bytes written, never more than cap. */
size_t latin1_to_utf8(const char *in, size_t len, char *out, size_t cap);
/* The reply line for an error: "<cmd>: <kind>: <msg>" without "\n". */
size_t point_error_format(const struct point_error *e, char *out, size_t cap);
const char *point_cmd_name(enum point_cmd cmd);

/* Starts e over: kind, not the relay's own limit, text s (may be NULL). */
void perr_start(struct point_error *e, enum point_err_kind kind, const char *s);
/* Appends bytes (truncated at POINT_ERR_MAX), a C string, a number. */
void perr_put(struct point_error *e, const char *s, size_t n);
void perr_str(struct point_error *e, const char *s);
void perr_i64(struct point_error *e, int64_t v);
/* Appends "{k1=v1, k2=v2}" in the order a java.util.HashMap built by
 * inserting these n tags in order iterates them (n <= POINT_MAX_TAGS). */
void perr_java_map(struct point_error *e, const struct point_tag *tags, int n);
/* That order, as indexes into tags. */
void perr_java_map_order(const struct point_tag *tags, int n, uint8_t *order);
/* Appends Arrays.toString of the n bytes (as Java's signed bytes), then
 * "/" and the flags: "[0, 1, -2]/3". */
void perr_value_bytes(struct point_error *e, const uint8_t *b, int n, int flags);

#endif
