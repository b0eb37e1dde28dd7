/*
 * backend_http.c -- protocol = http: a backend written as POST /api/put
 * (and /api/rollup, /api/histogram) requests whose answers decide each
 * point's fate.
 *
 * A lane is one of the backend's connections as backend.c keeps them (a
 * queue of canonical lines; the series hash picks it), here without a
 * socket of its own: its lines go out through the backend's httpc pool.
 * Each lane has a window of batches, a ring in queue order:
 *
 *   lane queue:  acked ........ sent ........... appended
 *                | batch | batch | batch |  (unsent lines)
 *   batch:       FREE -> SENDING -> (answer) -> DONE, or WAIT (some lines
 *                failed and will be sent again after a backoff) -> SENDING
 *
 * A batch keeps, per line, where it starts (from the batch's start), its
 * state bits, and for the request out the line's match key (putjson.h),
 * sorted, so each entry of the answer's "errors" finds its line.  A line
 * is done once delivered (not listed as failed) or refused for good
 * (reported upward, backend_env.on_rejected); the oldest batches of a lane
 * that are done are acknowledged (backend_conn_acknowledge), which frees
 * their queue bytes and moves the delivery marks, the drain and the frame
 * acks on.  A retried batch sends only its lines still pending.  The
 * backend's pacer gets the lower of max-rate and the throttle's limit.
 * A pool that cannot connect fails each lane it cannot serve
 * (backend_conn_fail): its lines go to the spool.  Callbacks come from the
 * pool's loop only; writing is asked for through backend_mark_dirty.
 */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "base/counters.h"
#include "base/log.h"
#include "base/util.h"
#include "output/backend.h"
#include "output/backend_http.h"
#include "output/bconn.h"
#include "output/httpbatch.h"
#include "output/httpc.h"
#include "base/putjson.h"
#include "output/throttle.h"

static const struct httpc_req_ops hb_ops;

static struct hb_backend *
hb_of(const struct backend *be)
{
    return be->proto_state;
}

/* ---- set-up ------------------------------------------------------------------- */

static void
hb_targets(struct hb_backend *hb)
{
    const struct cfg_backend *cfg = hb->be->cfg;
    static const char *const paths[3] = { "/api/put", "/api/rollup", "/api/histogram" };
    char sync[64] = "";
    if (cfg->sync && cfg->sync_timeout_ms > 0)
        snprintf(sync, sizeof(sync), "&sync&sync_timeout=%llu",
                 (unsigned long long)cfg->sync_timeout_ms);
    else if (cfg->sync)
        snprintf(sync, sizeof(sync), "&sync");
    for (int k = 0; k < 3; k++)
        snprintf(hb->target[k], sizeof(hb->target[k]), "%s?details%s", paths[k], sync);
}

static struct httpc_pool *
hb_pool_new(struct hb_backend *hb)
{
    struct backend *be = hb->be;
    const struct cfg_backend *cfg = be->cfg;
    const struct config *rc = be->env->cfg;
    char name[96];
    snprintf(name, sizeof(name), "backend %s", cfg->name);
    struct httpc_opts o = {
        .name = name,
        .host = cfg->http_addr.host,
        .port = cfg->http_addr.port,
        .conns = be->nconns,
        .pipeline = cfg->http_pipeline,
        .connect_ms = cfg->connect_timeout_ms,
        .timeout_ms = cfg->write_timeout_ms + (cfg->sync ? cfg->sync_timeout_ms : 0),
        .wait_ms = 0,
        .backoff_min_ms = rc->reconnect_min_ms,
        .backoff_max_ms = rc->reconnect_max_ms,
        .dns_servers = rc->dns_servers,
        .resolve_timeout_ms = rc->resolve_timeout_ms,
        .cls = POOL_CONTROL, /* an answer frees queue memory: it must always be read */
        .tls = be->tls, /* a hold on the backend's context (NULL: clear text) */
        .tls_name = tls_client_name_for(cfg, &cfg->http_addr),
        .tls_failures = &be->st.tls_failures,
    };
    return httpc_pool_new(be->env->loop, be->env->pool, &o);
}

static int
hb_batch_init(struct hb_backend *hb, struct hb_batch *b, struct hb_lane *lane)
{
    memset(b, 0, sizeof(*b));
    b->lane = lane;
    b->req.ops = &hb_ops;
    b->ans.budget = hb->be->env->pool; /* an answer's long tokens */
    b->offs = calloc(hb->batch_cap, sizeof(*b->offs));
    b->bits = calloc(hb->batch_cap, sizeof(*b->bits));
    b->kv = calloc(hb->batch_cap, sizeof(*b->kv));
    /* its body's block, for the backend's life: a request never waits for memory */
    b->body = pool_get(hb->be->env->pool, POOL_QUEUE);
    return b->offs && b->bits && b->kv && b->body ? TS_OK : TS_ERROR;
}

static void hb_detach(struct backend *be);

static int
hb_attach(struct backend *be)
{
    struct hb_backend *hb = calloc(1, sizeof(*hb));
    if (hb == NULL)
        return TS_ERROR;
    be->proto_state = hb;
    hb->be = be;
    hb->window = (unsigned)cfg_http_window(be->cfg);
    hb->batch_cap = (uint32_t)cfg_http_batch_lines(be->cfg, be->env->pool->data_size);
    throttle_init(&hb->thr);
    hb_targets(hb);
    hb->lanes = calloc((size_t)be->nconns, sizeof(*hb->lanes));
    hb->batches = calloc((size_t)be->nconns * hb->window, sizeof(*hb->batches));
    hb->json_cap = be->env->pool->data_size * HB_GZIP_RATIO;
    hb->json = malloc(hb->json_cap);
    hb->pool = hb_pool_new(hb);
    if (hb->lanes == NULL || hb->batches == NULL || hb->json == NULL || hb->pool == NULL ||
        deflateInit2(&hb->zs, 1, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY) != Z_OK) {
        hb_detach(be);
        return TS_ERROR;
    }
    hb->zs_ready = true;
    /* the batches' line arrays and the JSON buffer are the budget's too,
     * beside the bodies' blocks (memory.class{class=queue}), as
     * config_check.c counts them */
    _Static_assert(sizeof(uint32_t) + sizeof(uint8_t) + sizeof(struct hb_kv) <=
                   CFG_HTTP_LINE_BYTES, "a batch's line: offs, bits, kv");
    size_t fixed = (size_t)cfg_http_buffer_bytes(be->cfg, be->env->pool->data_size);
    if (pool_charge(be->env->pool, fixed, POOL_QUEUE) != TS_OK) {
        log_error("backend %s: no memory for its request buffers (%zu bytes: conns x 2 x "
                  "http-pipeline batches of up to http-batch lines, and the gzip buffer): "
                  "the budget's free part is smaller",
                  be->cfg->name, fixed);
        hb_detach(be);
        return TS_ERROR;
    }
    hb->st.buffer_bytes = fixed;
    for (int i = 0; i < be->nconns; i++) {
        struct hb_lane *l = &hb->lanes[i];
        l->hb = hb;
        l->c = &be->conns[i];
        l->win = &hb->batches[(size_t)i * hb->window];
        for (unsigned k = 0; k < hb->window; k++)
            if (hb_batch_init(hb, &l->win[k], l) != TS_OK) {
                log_error("backend %s: no memory for its %u request bodies (a block each: "
                          "conns x 2 x http-pipeline of block-size)", be->cfg->name,
                          (unsigned)be->nconns * hb->window);
                hb_detach(be);
                return TS_ERROR;
            }
    }
    return TS_OK;
}

static void hb_quiesce(struct bconn *c);

static void
hb_detach(struct backend *be)
{
    struct hb_backend *hb = hb_of(be);
    if (hb == NULL)
        return;
    if (hb->lanes != NULL && hb->batches != NULL && hb->pool != NULL)
        for (int i = 0; i < be->nconns; i++)
            hb_quiesce(&be->conns[i]);
    for (size_t i = 0; hb->batches != NULL && i < (size_t)be->nconns * hb->window; i++) {
        struct hb_batch *b = &hb->batches[i];
        putanswer_reset(&b->ans);
        if (b->body != NULL)
            pool_put(be->env->pool, b->body);
        free(b->offs);
        free(b->bits);
        free(b->kv);
    }
    httpc_pool_free(hb->pool);
    if (hb->st.buffer_bytes != 0)
        pool_uncharge(be->env->pool, (size_t)hb->st.buffer_bytes, POOL_QUEUE);
    if (hb->zs_ready)
        deflateEnd(&hb->zs);
    free(hb->json);
    free(hb->batches);
    free(hb->lanes);
    free(hb);
    be->proto_state = NULL;
}

/* ---- the window ---------------------------------------------------------- */

static struct hb_batch *
hb_at(struct hb_lane *l, unsigned i)
{
    return &l->win[(l->head + i) % l->hb->window];
}

/* The oldest batches that are done: acknowledged, their slots free. */
static void
hb_advance(struct hb_lane *l)
{
    while (l->n > 0) {
        struct hb_batch *b = hb_at(l, 0);
        if (b->state != HB_DONE)
            break;
        backend_conn_acknowledge(l->c, b->end, b->nrejected);
        b->state = HB_FREE;
        l->head = (l->head + 1) % l->hb->window;
        l->n--;
    }
}

static void
hb_set_rate(struct hb_backend *hb)
{
    hb->be->pacer.rate = throttle_rate(&hb->thr, hb->be->cfg->max_rate);
    hb->st.rate_limit = hb->thr.limit;
}

/* Hands b's request to the pool.  false: the pool is down. */
static bool
hb_submit(struct hb_lane *l, struct hb_batch *b)
{
    struct hb_backend *hb = l->hb;
    struct backend *be = hb->be;
    snprintf(b->target, sizeof(b->target), "%s", hb->target[b->kind]);
    snprintf(b->headers, sizeof(b->headers), "Content-Type: application/json\r\n%s",
             b->gzip ? "Content-Encoding: gzip\r\n" : "");
    b->req.method = "POST";
    b->req.target = b->target;
    b->req.target_len = strlen(b->target);
    b->req.headers = b->headers;
    b->req.headers_len = strlen(b->headers);
    b->req.has_host = false;
    b->req.body = HTTPC_BODY_LENGTH;
    b->req.body_len = b->body_len;
    b->req.head = false;
    b->body_sent = 0;
    b->status = 0;
    b->matched = b->unmatched = b->nthrottled = 0;
    if (httpc_submit(hb->pool, &b->req) != TS_OK)
        return false;
    b->state = HB_SENDING;
    hb->st.requests++;
    be->st.bytes_written += b->body_len;
    if (be->pacer.rate > 0)
        pacer_take(&be->pacer, b->ninreq);
    throttle_sent(&hb->thr, b->ninreq, backend_now_ms(hb->be));
    if (l->c->state == BC_IDLE)
        l->c->state = BC_UP;
    return true;
}

/* ---- sending ------------------------------------------------------------------ */

/* Lines the pacer allows now (max-rate, the throttle). */
static uint32_t
hb_allow(struct hb_backend *hb)
{
    uint64_t a = pacer_allow(&hb->be->pacer, ts_now_ns());
    uint64_t most = TS_MIN((uint64_t)hb->batch_cap, hb->be->cfg->http_batch);
    return (uint32_t)TS_MIN(a, most);
}

static void hb_lane_fail(struct hb_lane *l, const char *why);

/* A new batch from the lane's unsent lines into slot b.  1: it went (or
 * held only refused lines, done at once); 0: nothing to send now; -1: the
 * pool is down (the lane failed). */
static int
hb_send_new(struct hb_lane *l, struct hb_batch *b)
{
    struct hb_backend *hb = l->hb;
    struct queue *q = &l->c->q;
    uint32_t most = hb_allow(hb);
    if (most == 0) {
        hb->be->st.pacing_waits++;
        return 0;
    }
    httpbatch_build_new(hb, l, b, most);
    if (b->nlines == 0)
        return 0;
    if (b->ninreq > 0 && !hb_submit(l, b)) {
        hb_lane_fail(l, "cannot connect to its HTTP address");
        return -1;
    }
    queue_mark_sent(q, (size_t)(b->end - q->sent));
    httpbatch_commit_unsupported(b);
    if (b->ninreq == 0)
        b->state = HB_DONE;
    return 1;
}

/* A batch's pending lines again.  1: sent; 0: not now (the pacer has not
 * enough for them; the batch keeps its place); -1: the pool is down (the
 * lane failed). */
static int
hb_send_retry(struct hb_lane *l, struct hb_batch *b)
{
    struct hb_backend *hb = l->hb;
    uint32_t most = hb_allow(hb);
    if (most == 0 || (most < b->npending && most < hb->batch_cap / 2)) {
        hb->be->st.pacing_waits++; /* whole, or at least a good part: not a trickle */
        return 0;
    }
    httpbatch_build_retry(hb, l, b, most);
    TS_ASSERT(b->ninreq > 0); /* a waiting batch has lines pending */
    if (b->ninreq == 0) {
        b->state = HB_DONE;
        return 1;
    }
    hb->st.retried += b->ninreq;
    if (!hb_submit(l, b)) {
        hb_lane_fail(l, "cannot connect to its HTTP address");
        return -1;
    }
    return b->ninreq == b->npending ? 1 : 0; /* a part: the rest after its answer */
}

/* ---- the answer ----------------------------------------------------------------- */
/* One entry of the answer's "errors". */
static void
hb_on_entry(void *ctx, bool has_key, uint64_t key, const char *text, size_t len)
{
    struct hb_batch *b = ctx;
    struct hb_backend *hb = b->lane->hb;
    enum pa_reason why = putanswer_classify(text, len);
    if (why == PA_THROTTLE)
        b->nthrottled++;
    struct hb_kv *kv = has_key ? httpbatch_find(b, key) : NULL;
    if (kv == NULL && b->nkv == 1 && !b->kv[0].used)
        kv = &b->kv[0]; /* a request of one point: whatever the echo, the failure is its */
    if (kv == NULL) {
        b->unmatched++;
        LOG_RL(LOG_WARN, "backend %s: a failure in its answer names no point of the request "
               "(%.*s): the request's points go again", hb->be->cfg->name,
               (int)TS_MIN(len, 200), text);
        return;
    }
    kv->used = 1;
    b->matched++;
    if (putanswer_final(why)) {
        b->bits[kv->idx] |= HB_FINAL;
        httpbatch_report(b, kv->idx, why, text, len);
    } else {
        b->bits[kv->idx] |= HB_RETRY;
        hb->st.failed_lines[why]++;
    }
}

static void
hb_on_head(struct httpc_req *r, const struct httpc_head *h)
{
    struct hb_batch *b = container_of(r, struct hb_batch, req);
    b->status = h->status;
    putanswer_begin(&b->ans, hb_on_entry, b);
}

static size_t
hb_on_body(struct httpc_req *r, const char *data, size_t len)
{
    struct hb_batch *b = container_of(r, struct hb_batch, req);
    putanswer_feed(&b->ans, data, len);
    return len;
}

static size_t
hb_body_next(struct httpc_req *r, const char **data, bool *end)
{
    struct hb_batch *b = container_of(r, struct hb_batch, req);
    *data = b->body->data + b->body_sent;
    *end = true;
    return b->body_len - b->body_sent;
}

static void
hb_body_sent(struct httpc_req *r, size_t n)
{
    struct hb_batch *b = container_of(r, struct hb_batch, req);
    b->body_sent += n;
}

enum hb_verdict { HV_PER_POINT, HV_ALL, HV_RETRY_ALL, HV_LANE_FAILED };

/* What a completed exchange says about the request as a whole. */
static enum hb_verdict
hb_verdict(struct hb_batch *b, enum httpc_result res)
{
    struct hb_backend *hb = b->lane->hb;
    const char *name = hb->be->cfg->name;
    if (res != HTTPC_OK) {
        hb->st.lost++;
        if (b->req.sent)
            hb->st.maybe_duplicated += b->ninreq;
        if (res == HTTPC_CONNECT_FAILED && httpc_pool_down(hb->pool))
            return HV_LANE_FAILED;
        LOG_RL(LOG_WARN, "backend %s: a request of %u points got no answer (%s): sent again",
               name, b->ninreq, httpc_result_name(res));
        return HV_RETRY_ALL;
    }
    bool parsed = putanswer_end(&b->ans);
    const struct putanswer *a = &b->ans;
    if (a->too_large) { /* not a TSD's answer: proves nothing */
        hb->st.answers_too_large++;
        LOG_RL(LOG_WARN, "backend %s answered with a JSON token over %d bytes: not a TSD's "
               "answer; the request's %u points go again", name, PA_HEAP_MAX, b->ninreq);
        return HV_RETRY_ALL;
    }
    bool summary = parsed && a->has_failed && !a->whole_error;
    hb->st.answers[TS_MIN(b->status / 100, 5)]++;
    if (b->status >= 200 && b->status < 300)
        return summary ? HV_PER_POINT : HV_ALL;
    if (b->status == 400 && summary)
        return HV_PER_POINT;
    if (b->status == 404 && b->kind != PJ_PUT) {
        /* OpenTSDB before 2.4: no /api/rollup, no /api/histogram.  Sent
         * again they would be refused again, for ever, and hold the lane */
        static const char why[] = "the backend has no such HTTP endpoint (404): OpenTSDB "
                                  "takes rollup and histogram points from 2.4 on";
        hb->st.request_errors++;
        LOG_RL(LOG_ERROR, "backend %s answered 404 to %s: its %u points are refused for good "
               "(kept, see rejected.*)", name, b->target, b->ninreq);
        httpbatch_refuse_request(b, PA_UNSUPPORTED, why, sizeof(why) - 1);
        return HV_ALL;
    }
    if (b->status >= 500) {
        hb->st.server_errors++;
        LOG_RL(LOG_WARN, "backend %s answered %d (%.*s): the request's %u points go again",
               name, b->status, (int)a->message_len, a->message, b->ninreq);
    } else {
        hb->st.request_errors++;
        LOG_RL(LOG_ERROR, "backend %s refused a whole request with %d (%.*s): its %u points "
               "are kept and sent again; check the TSD (tsrelay never sends JSON it refuses)",
               name, b->status, (int)a->message_len, a->message, b->ninreq);
    }
    return HV_RETRY_ALL;
}

/* The lines of the request out, decided: delivered, refused (already
 * reported) or pending again.  Returns the lines done. */
static uint32_t
hb_decide(struct hb_batch *b, enum hb_verdict v)
{
    const struct putanswer *a = &b->ans;
    bool trust = v == HV_ALL;
    if (v == HV_PER_POINT) {
        int64_t expected = a->failed + (a->has_timeouts ? a->timeouts : 0);
        trust = b->unmatched == 0 && (int64_t)b->matched >= expected;
        b->lane->hb->st.unmatched += !trust;
        b->unmatched_rounds += !trust;
    }
    return httpbatch_decide(b, trust);
}

static uint64_t
hb_backoff(const struct hb_backend *hb, unsigned attempts)
{
    const struct config *rc = hb->be->env->cfg;
    uint64_t base = rc->reconnect_min_ms;
    for (unsigned i = 1; i < attempts && base < rc->reconnect_max_ms; i++)
        base *= 2;
    return ts_jittered(TS_MIN(base, rc->reconnect_max_ms));
}

static void
hb_on_done(struct httpc_req *r, enum httpc_result res)
{
    struct hb_batch *b = container_of(r, struct hb_batch, req);
    struct hb_lane *l = b->lane;
    struct hb_backend *hb = l->hb;
    uint64_t now = backend_now_ms(hb->be);
    enum hb_verdict v = hb_verdict(b, res);
    putanswer_reset(&b->ans);
    if (v == HV_LANE_FAILED) {
        hb_lane_fail(l, "cannot connect to its HTTP address");
        return;
    }
    uint32_t done = hb_decide(b, v);
    if (done > 0)
        backend_conn_progress(l->c);
    if (b->nthrottled > 0) {
        hb->st.throttled += b->nthrottled;
        if (throttle_hit(&hb->thr, now)) {
            hb->st.throttle_steps++;
            hb_set_rate(hb);
        }
    }
    if (b->npending == 0) {
        b->state = HB_DONE;
    } else if (done == b->ninreq) { /* the rest were not in this request: on at once */
        b->state = HB_WAIT;
        b->retry_at_ms = now;
    } else {
        b->state = HB_WAIT;
        b->attempts++;
        b->retry_at_ms = now + hb_backoff(hb, b->attempts);
    }
    hb_advance(l);
    backend_mark_dirty(l->c);
}

static const struct httpc_req_ops hb_ops = {
    .body_next = hb_body_next,
    .body_sent = hb_body_sent,
    .on_header = NULL,
    .on_head = hb_on_head,
    .on_body = hb_on_body,
    .on_done = hb_on_done,
};

/* ---- the backend's side ------------------------------------------------------------- */

/* Gives up the lane's requests: it may be rewound (its unacknowledged
 * lines are sent again from the start, on whatever comes next). */
static void
hb_quiesce(struct bconn *c)
{
    struct hb_backend *hb = hb_of(c->be);
    if (hb == NULL || hb->lanes == NULL)
        return;
    struct hb_lane *l = &hb->lanes[c->idx];
    if (l->win == NULL) /* an attach that failed before this lane */
        return;
    for (unsigned i = 0; i < hb->window; i++) {
        struct hb_batch *b = &l->win[i];
        if (b->state == HB_SENDING) {
            if (b->req.sent)
                hb->st.maybe_duplicated += b->ninreq;
            httpc_cancel(&b->req);
        }
        putanswer_reset(&b->ans);
        b->state = HB_FREE;
    }
    l->head = l->n = 0;
}

static void
hb_lane_fail(struct hb_lane *l, const char *why)
{
    hb_quiesce(l->c);
    backend_conn_fail(l->c, why);
}

static void
hb_flush(struct bconn *c)
{
    struct hb_backend *hb = hb_of(c->be);
    if (hb == NULL || hb->pool == NULL || c->state == BC_FAILED)
        return;
    struct hb_lane *l = &hb->lanes[c->idx];
    uint64_t now = backend_now_ms(hb->be);
    /* retries first, oldest first; nothing newer is sent while an older batch
     * of the lane waits to be sent again (a series keeps its order) */
    for (unsigned i = 0; i < l->n; i++) {
        struct hb_batch *b = hb_at(l, i);
        if (b->state != HB_WAIT)
            continue;
        if (b->retry_at_ms > now)
            return;
        int rc = hb_send_retry(l, b);
        if (rc <= 0)
            return;
    }
    while (l->n < hb->window && queue_unsent(&c->q) > 0) {
        int rc = hb_send_new(l, hb_at(l, l->n));
        if (rc <= 0)
            return;
        l->n++;
        hb_advance(l);
    }
}

/* A lane's part of the tick: its backoff after a failure, lag, retries due. */
static void
hb_tick_lane(struct hb_backend *hb, struct hb_lane *l, uint64_t now)
{
    struct bconn *c = l->c;
    const struct backend_env *env = hb->be->env;
    if (c->state == BC_FAILED) {
        if (now < c->retry_at_ms || (!env->running(env->ctx) && queue_unsent(&c->q) == 0))
            return;
        if (httpc_pool_down(hb->pool)) {
            c->retry_at_ms = now + 100; /* the pool's own backoff first */
            return;
        }
        c->state = BC_IDLE;
        log_info("backend %s lane %d: sending again", hb->be->cfg->name, c->idx);
    }
    bool busy = l->n > 0 || queue_unsent(&c->q) > 0;
    if (!busy) {
        c->last_progress_ms = now;
    } else if (!c->lagging && now - c->last_progress_ms > hb->be->cfg->write_timeout_ms) {
        c->lagging = true;
        hb->be->st.lag_events++;
        log_warn("backend %s lane %d: no answer proved a point for %llu ms with %llu bytes "
                 "pending: lagging, new data spools", hb->be->cfg->name, c->idx,
                 (unsigned long long)(now - c->last_progress_ms),
                 (unsigned long long)queue_bytes(&c->q));
    }
    if (queue_unsent(&c->q) > 0)
        backend_mark_dirty(c);
    for (unsigned i = 0; i < l->n; i++)
        if (hb_at(l, i)->state == HB_WAIT && hb_at(l, i)->retry_at_ms <= now)
            backend_mark_dirty(c);
}

static void
hb_tick(struct backend *be, uint64_t now)
{
    struct hb_backend *hb = hb_of(be);
    if (hb == NULL || hb->pool == NULL)
        return;
    throttle_tick(&hb->thr, now);
    hb_set_rate(hb);
    for (int i = 0; i < be->nconns; i++)
        hb_tick_lane(hb, &hb->lanes[i], now);
}

/* A new pool for the backend (its address, pipeline or TLS changed): the
 * requests in flight are given up, the lanes send their lines again. */
static void
hb_pool_replace(struct backend *be)
{
    struct hb_backend *hb = hb_of(be);
    for (int i = 0; i < be->nconns; i++) {
        hb_quiesce(&be->conns[i]);
        queue_rewind(&be->conns[i].q);
        be->conns[i].state = BC_IDLE;
        be->conns[i].lagging = false;
        backend_mark_dirty(&be->conns[i]);
    }
    httpc_pool_free(hb->pool);
    hb->pool = hb_pool_new(hb);
    if (hb->pool == NULL)
        log_error("backend %s: out of memory for its HTTP connections", be->cfg->name);
}

static void
hb_reconfigure(struct backend *be, const struct cfg_backend *old)
{
    struct hb_backend *hb = hb_of(be);
    const struct cfg_backend *cfg = be->cfg;
    hb_targets(hb);
    hb_set_rate(hb);
    bool moved = strcmp(old->http_addr.host, cfg->http_addr.host) != 0 ||
                 strcmp(old->http_addr.port, cfg->http_addr.port) != 0 ||
                 old->http_pipeline != cfg->http_pipeline;
    if (!moved) {
        httpc_pool_set_timeouts(hb->pool, cfg->connect_timeout_ms,
                                cfg->write_timeout_ms + (cfg->sync ? cfg->sync_timeout_ms : 0), 0);
        return;
    }
    log_info("backend %s: its HTTP address or pipeline changed: new connections",
             cfg->name);
    hb_pool_replace(be);
}

/* The backend's TLS context from now on (start, reload): the pool's
 * connections made from now use it; TLS turned on or off, or another
 * name to verify, takes new connections. */
static void
hb_set_tls(struct backend *be)
{
    struct hb_backend *hb = hb_of(be);
    if (hb == NULL || hb->pool == NULL)
        return;
    const char *name = be->tls != NULL ? tls_client_name_for(be->cfg, &be->cfg->http_addr) : "";
    if (strcmp(httpc_pool_tls_name(hb->pool), name) == 0) {
        httpc_pool_set_tls(hb->pool, be->tls);
        return;
    }
    if (httpc_pool_stats(hb->pool)->requests > 0) /* not at start */
        log_info("backend %s: its HTTP connections' TLS changed: new connections",
                 be->cfg->name);
    hb_pool_replace(be);
}

static void
hb_close(struct backend *be)
{
    struct hb_backend *hb = hb_of(be);
    if (hb == NULL)
        return;
    for (int i = 0; i < be->nconns; i++)
        hb_quiesce(&be->conns[i]);
    httpc_pool_free(hb->pool);
    hb->pool = NULL;
}

static int
hb_conns_up(const struct backend *be)
{
    const struct hb_backend *hb = hb_of(be);
    return hb != NULL && hb->pool != NULL ? httpc_pool_conns_open(hb->pool) : 0;
}

const struct backend_proto backend_http_proto = {
    .attach = hb_attach,
    .conns_up = hb_conns_up,
    .detach = hb_detach,
    .flush = hb_flush,
    .tick = hb_tick,
    .quiesce = hb_quiesce,
    .reconfigure = hb_reconfigure,
    .set_tls = hb_set_tls,
    .close = hb_close,
};

/* ---- introspection ------------------------------------------------------------------ */

const struct backend_http_stats *
backend_http_stats(const struct backend *be)
{
    return be->proto == &backend_http_proto && hb_of(be) != NULL ? &hb_of(be)->st : NULL;
}
