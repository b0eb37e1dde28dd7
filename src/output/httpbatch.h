/*
 * httpbatch.h -- a batch of an HTTP backend's lane (output/backend_http.c):
 * the state the two share, and building a request from a lane's lines.
 *
 * Owns the shapes of an HTTP backend (its pool, lanes, the window of
 * batches of each lane) and of a batch (its lines' places and states, the
 * request out, the body block, the answer being read); and, in
 * httpbatch.c, what is done to a batch without the pool: its lines read
 * from the lane's queue, the JSON body of a new batch or of a retry
 * (gzip-compressed within its bound, fewer points when it does not fit),
 * the request's lines sorted by match key and found again by an answer's
 * entry, each line decided once an answer came, a line refused for good
 * reported upward.  Nothing outside backend_http.c and httpbatch.c
 * includes it.  It never allocates and never sends.
 */
#ifndef TS_HTTPBATCH_H
#define TS_HTTPBATCH_H

#include <stdbool.h>
#include <stdint.h>
#include <zlib.h>

#include "output/backend.h"
#include "output/backend_http_stats.h"
#include "output/httpc.h"
#include "output/putanswer.h"
#include "base/putjson.h"
#include "output/throttle.h"

#define HB_PENDING 1u   /* not done yet */
#define HB_INREQ 2u     /* in the request out now */
#define HB_RETRY 4u     /* the answer failed it; a later try may not */
#define HB_FINAL 8u     /* the answer refused it for good */
#define HB_UNSUP 16u    /* refused before sending: no endpoint for it (reported at commit) */

#define HB_GZIP_RATIO CFG_HTTP_GZIP_RATIO /* JSON held for one gzip body: this many
                                              times its bound (base/config.h) */

enum hb_state { HB_FREE = 0, HB_SENDING, HB_WAIT, HB_DONE };

struct hb_kv {
    uint64_t key;
    uint32_t idx;
    uint32_t used;              /* an answer's entry took it */
};

struct hb_lane;

struct hb_batch {
    struct httpc_req req;
    struct hb_lane *lane;
    enum hb_state state;
    enum putjson_kind kind;
    uint64_t start, end;        /* its lines in the lane's stream */
    uint32_t nlines, npending, nrejected, ninreq, nkv;
    uint32_t *offs;             /* each line's start, from `start` */
    uint8_t *bits;
    struct hb_kv *kv;           /* the request's lines by key */
    struct block *body;
    size_t body_len, body_sent;
    unsigned attempts;
    uint64_t retry_at_ms;
    int status;
    uint32_t matched, unmatched;
    unsigned unmatched_rounds;  /* answers whose failures named no point: after two, a
                                   point per request (its failure is then its own) */
    uint32_t nthrottled;        /* entries of this answer that said "throttle" */
    bool gzip;                  /* its body is compressed */
    bool keyed;                 /* kv holds the keys, sorted (httpbatch_find) */
    char target[192];           /* the request's: a reload may change the backend's */
    char headers[128];
    struct putanswer ans;
};

struct hb_lane {
    struct hb_backend *hb;
    struct bconn *c;
    struct hb_batch *win;       /* the window: a ring in queue order */
    unsigned head, n;
};

struct hb_backend {
    struct backend *be;
    struct httpc_pool *pool;
    struct hb_lane *lanes;
    struct hb_batch *batches;   /* nconns x window */
    unsigned window;
    uint32_t batch_cap;         /* lines a batch holds at most */
    char target[3][192];        /* by kind: put, rollup, histogram */
    char *json;                 /* gzip: the JSON before compression */
    size_t json_cap;
    z_stream zs;
    bool zs_ready;
    struct throttle thr;
    struct backend_http_stats st;
};


/* Fills slot b with the lane's next unsent lines (at most `most`, one
 * endpoint; a line no endpoint takes is marked HB_UNSUP and rides along)
 * and its body; fewer when the compressed body would not fit.  b->nlines
 * 0: nothing to send. */
void httpbatch_build_new(struct hb_backend *hb, struct hb_lane *l, struct hb_batch *b,
                         uint32_t most);
/* The request of a retry: b's pending lines, at most `most`. */
void httpbatch_build_retry(struct hb_backend *hb, struct hb_lane *l, struct hb_batch *b,
                           uint32_t most);
/* The request's lines sorted by key. */
void httpbatch_sort(struct hb_batch *b);
/* The request's line with this key no entry took yet, or NULL (the keys
 * are computed and sorted at the first call after a request was built). */
struct hb_kv *httpbatch_find(struct hb_batch *b, uint64_t key);
/* The lines refused before sending, reported now that the batch stands. */
void httpbatch_commit_unsupported(struct hb_batch *b);
/* Every line of the request out refused for good (reported; decided as
 * such by httpbatch_decide). */
void httpbatch_refuse_request(struct hb_batch *b, enum pa_reason why, const char *text,
                              size_t tlen);
/* A line of b refused for good: counted, logged, reported upward. */
void httpbatch_report(struct hb_batch *b, uint32_t idx, enum pa_reason why, const char *text,
                      size_t tlen);
/* The request's lines once its answer came: HB_FINAL ones done (refused),
 * HB_RETRY ones (or all, unless trust) pending again, the others
 * delivered.  Returns the lines done. */
uint32_t httpbatch_decide(struct hb_batch *b, bool trust);

#endif
