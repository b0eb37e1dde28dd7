/*
 * ingest.h -- from a decoded line or JSON datapoint to a canonical put line.
 *
 * Owns the contract between protocol decoders (telnet, framed, http) and
 * the data path: a `sink` receives each canonical line (emit) or each
 * rejected point (on_error), and counts them.  Decoders know nothing of
 * sockets or backends; the sink's owner does.  It must never allocate on
 * the per-point path.
 */
#ifndef TS_INGEST_H
#define TS_INGEST_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/counters.h"
#include "base/point.h"

#define INGEST_ECHO_MAX 8192

struct sink;

/* Emits one canonical line ("...\n") with its series hash.  TS_OK; or
 * TS_ENOMEM when the point had to be dropped (overflow = drop, counted by
 * the owner); or TS_EAGAIN when there is no room for it now and nothing
 * was done: the decoder stops before this point and offers it again
 * later (overflow = block); or TS_REFUSED when the relay's rules or
 * limits refuse it (final: why is filled, and the decoder reports it to
 * the client as it reports an invalid point, counted as refused). */
typedef int (*sink_emit_fn)(struct sink *s, const char *line, size_t len, uint64_t hash,
                            struct point_error *why);
/* A point was rejected.  input is the offending text (a line, or a JSON
 * datapoint as sent); json_dp is unused (NULL).  A JSON datapoint longer
 * than INGEST_ECHO_MAX may be held only up to that many bytes: read at
 * most TS_MIN(ilen, INGEST_ECHO_MAX) bytes of input. */
typedef void (*sink_error_fn)(struct sink *s, const struct point_error *e, const char *input,
                              size_t ilen, const void *json_dp);

struct sink {
    const struct point_rules *rules;
    struct ingest_stats *stats;
    sink_emit_fn emit;
    sink_error_fn on_error;
    void *owner;
};

/* Validates one line and emits it or reports it.  TS_OK when emitted,
 * TS_EAGAIN when the sink had no room (nothing counted: offer the line
 * again later), TS_ERROR when rejected, refused or dropped. */
int ingest_line(struct sink *s, enum point_cmd cmd, bool implicit_put, const char *line,
                size_t len);
/* Reports a point that failed before point parsing (JSON shape errors). */
void ingest_reject(struct sink *s, const struct point_error *e, const char *input, size_t ilen,
                   const void *json_dp);
/* Reports a valid point the sink refused (emit returned TS_REFUSED). */
void ingest_refused(struct sink *s, const struct point_error *e, const char *input,
                    size_t ilen, const void *json_dp);

#endif
