/*
 * backend_http_stats.h -- the counters of an HTTP backend
 * (output/backend_http.c), as ops/stats.c renders them.
 *
 * Owns only the struct (shared by backend_http.c and httpbatch.c, read by
 * the renderers).  Plain declarations: no code.
 */
#ifndef TS_BACKEND_HTTP_STATS_H
#define TS_BACKEND_HTTP_STATS_H

#include <stdint.h>

#include "output/putanswer.h"

/* An HTTP backend's counters (stats: backend.http.*). */
struct backend_http_stats {
    uint64_t requests;            /* requests sent (retries included) */
    uint64_t answers[6];          /* answers by status class: [2] 2xx .. [5] 5xx */
    uint64_t delivered;           /* lines an answer proved */
    uint64_t rejected[PA_NREASONS]; /* lines refused for good, by reason */
    uint64_t retried;             /* lines sent again */
    uint64_t throttled;           /* lines answered "Please throttle" */
    uint64_t throttle_steps;      /* times the rate stepped down */
    uint64_t failed_lines[PA_NREASONS]; /* lines failed and retried, by reason */
    uint64_t request_errors;      /* requests refused whole (400 without details, 4xx) */
    uint64_t answers_too_large;   /* answers holding a token over PA_HEAP_MAX: sent again */
    uint64_t server_errors;       /* 5xx answers */
    uint64_t lost;                /* requests with no (complete) answer */
    uint64_t maybe_duplicated;    /* lines sent again after a request the TSD may have
                                     executed (sent, not answered): at most the window */
    uint64_t unmatched;           /* failures the answer did not tie to a line (the
                                     request's unproven lines were all sent again) */
    uint64_t gzip_in, gzip_out;   /* body bytes before and after compression */
    uint64_t rate_limit;          /* the throttle's limit now, points/s (0: none) */
    uint64_t buffer_bytes;        /* the line arrays and gzip buffer charged to the budget */
};

#endif
