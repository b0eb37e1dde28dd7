/*
 * putanswer.h -- what a TSD answered to POST /api/put?details, and what
 * each failure means for the point.
 *
 * Owns reading the answer's JSON body as it streams in (YAJL, in a fixed
 * arena per parser, nothing buffered): the counts (success, failed,
 * timeouts), each entry of "errors" (its datapoint's match key, from
 * putjson.h, and its error text) handed to the caller as it completes,
 * and a whole-request error object ({"error":{"code","message"}}); and the
 * table of the TSD's per-point error texts (OpenTSDB 2.4/2.5
 * PutDataPointRpc.processDataPoint, IncomingDataPoint.validate,
 * TSDB.addPoint): which are final (the point will never be stored as it
 * is) and which a later try can fix (storage exceptions, throttling,
 * timeouts).  What the parser holds past its arena is charged to the
 * memory budget when the caller gives one (pool.h).  It knows nothing of
 * requests, queues or backends.
 */
#ifndef TS_PUTANSWER_H
#define TS_PUTANSWER_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct pool;

/* Why a point failed: a label for counters (backend.rejected{reason}). */
enum pa_reason {
    PA_UNKNOWN_METRIC = 0,  /* "Unknown metric" (auto-create off) -- final */
    PA_ILLEGAL_ARGUMENT,    /* the TSD's checks refused it (other tsd.core settings) -- final */
    PA_INVALID_VALUE,       /* "Unable to parse value to a number" -- final */
    PA_INVALID,             /* its own pre-checks: empty metric, timestamp, value, tags -- final */
    PA_UNSUPPORTED,         /* a line the HTTP API has no endpoint for here (histogram) -- final */
    PA_THROTTLE,            /* "Please throttle" -- retried, and the rate backs off */
    PA_STORAGE,             /* "Storage exception: ..." (HBase) -- retried */
    PA_TIMEOUT,             /* "Timeout exception", "Write timedout" -- retried */
    PA_UNEXPECTED,          /* "Unexpected exception" (HBase errors of UID lookups) -- retried */
    PA_NREASONS
};

#define PA_FINAL_REASONS 5   /* the reasons below this are final */

const char *putanswer_reason_name(enum pa_reason r);
/* The TSD's per-point error text -> why. */
enum pa_reason putanswer_classify(const char *text, size_t len);
static inline bool putanswer_final(enum pa_reason r) { return r < PA_FINAL_REASONS; }

#define PA_TEXT_MAX 512      /* error texts kept (longer: cut) */
#define PA_NAME_MAX 2056     /* a name as UTF-8: a 1,024-byte line's, twice (Latin-1) */
#define PA_ARENA 6144        /* the parser's memory (more: malloc'd, counted, charged) */
#define PA_HEAP_MAX (1024 * 1024) /* malloc'd past the arena, at most: a longer token
                                     (a TSD's answer has none) ends the reading */

/* One entry of "errors": has_key false when its datapoint was null or not
 * one the key could be read from. */
typedef void (*putanswer_error_fn)(void *ctx, bool has_key, uint64_t key, const char *text,
                                   size_t len);

struct putanswer {
    /* the answer */
    bool has_success, has_failed, has_timeouts;
    int64_t success, failed, timeouts;
    uint64_t errors;             /* entries of "errors" seen */
    bool whole_error;            /* {"error":{...}}: the request as a whole */
    char message[PA_TEXT_MAX];   /* its message (and details) */
    size_t message_len;
    bool syntax_error;           /* the body was not JSON */
    /* the parser's */
    putanswer_error_fn on_error;
    void *ctx;
    void *h;                     /* yajl_handle */
    int depth;
    int where;                   /* what the current key is inside */
    int key;                     /* the key just read */
    bool in_errors, in_entry, in_dp, in_tags, in_error_obj;
    bool dp_null, dp_metric, dp_ts;
    uint64_t dp_key;             /* metric and timestamp */
    uint64_t dp_tags;            /* the tags' sum */
    int64_t dp_timestamp;
    char metric[PA_NAME_MAX];
    size_t metric_len;
    char tagk[PA_NAME_MAX];
    size_t tagk_len;
    char text[PA_TEXT_MAX];
    size_t text_len;
    size_t arena_used;
    uint64_t mallocs;            /* allocations past the arena */
    size_t heap_bytes;           /* of them, held now */
    bool too_large;              /* held past PA_HEAP_MAX, or the budget refused it:
                                    reading stopped */
    struct pool *budget;         /* charged for heap_bytes (POOL_CONTROL); NULL: none.
                                    The caller's, kept by putanswer_begin */
    _Alignas(16) char arena[PA_ARENA];
};

/* Starts reading an answer (any earlier one is forgotten). */
void putanswer_begin(struct putanswer *a, putanswer_error_fn on_error, void *ctx);
/* Body bytes as they come; false once the body is not JSON. */
bool putanswer_feed(struct putanswer *a, const char *data, size_t len);
/* The body ended: false when it was not complete JSON. */
bool putanswer_end(struct putanswer *a);
/* Frees what the parser holds (after end, or to abandon it). */
void putanswer_reset(struct putanswer *a);

#endif
