/*
 * check_backend_http.c -- unit tests of protocol = http backends
 * (src/output/backend_http.c, httpbatch.c) in the test process: a backend
 * built by hand, wired as lifecycle.c wires it (backend_env.http, the
 * flush in an ev_prepare, the tick on a timer), against a scripted TSD
 * (fake_http.h) that answers as OpenTSDB's PutDataPointRpc does.
 *
 * Covers: batches of http-batch points in order, as JSON the TSD reads,
 * on one keep-alive connection, with ?details&sync&sync_timeout=; 204
 * acknowledges them (counted forwarded); a point answered "Please
 * throttle" (200 with failed = 1) is sent again alone after a backoff,
 * then acknowledged, the rate stepping down; "Unknown metric" is refused
 * for good: reported upward with its line and reason, acknowledged, never
 * sent again, not counted forwarded; a failure the answer cannot tie to a
 * point sends the request's points again; a connection closed before the
 * answer, a 500 and a whole-request 400 send them again (the 400 counted
 * as a request error, the lost one's points as maybe duplicated); the
 * second batch answered before the first is not acknowledged before it;
 * a TSD that refuses connections fails the lane (its lines handed to
 * on_failed) and it sends again once the TSD listens; rollup lines go to
 * /api/rollup, histogram lines are refused (unsupported) without being
 * sent; gzip bodies inflate to the JSON; sync = off leaves &sync out.
 */
#include "autoconf.h"

#include <check.h>
#include <ev.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "base/config.h"
#include "base/counters.h"
#include "base/log.h"
#include "base/point.h"
#include "base/pool.h"
#include "base/util.h"
#include "output/backend.h"
#include "output/backend_http.h"
#include "output/tls_client.h"
#include "base/tls.h"
#include "unit.h"
#include "unit_loop.h"

#include "fake_http.h"
#include "test_certs.h"

#define WAIT_MS 5000

static struct ev_loop *loop;
#define run_until(cond, ms) unit_run_until(loop, (cond), (ms))
static struct pool pool;
static struct config cfg;
static struct cfg_backend bcfg;
static struct backend_env env;
static struct bconn *dirty;
static uint64_t batch_ns;
static struct backend be;
static bool be_live;
static ev_prepare flush_w;
static ev_timer tick_w;
static struct fhttp S;

/* on_failed and on_rejected, as seen */
static int failed_calls;
static uint64_t failed_lines;
static int rejected_calls;
static char rejected_line[256], rejected_reason[64], rejected_text[256];

/* the script: what the TSD answers to request n (0-based) */
enum answer { ANS_204 = 0, ANS_THROTTLE_3RD, ANS_UNKNOWN_2ND, ANS_UNMATCHED, ANS_CLOSE,
              ANS_500, ANS_400_WHOLE, ANS_HOLD, ANS_UNKNOWN_UNNAMED, ANS_404 };
static enum answer script[FHTTP_REQS];
static struct fhttp_conn *held_conn;   /* ANS_HOLD: answered later */
static struct fhttp_req *held_req;

static bool
env_running(void *ctx)
{
    (void)ctx;
    return true;
}

static void
env_failed(void *ctx, struct backend *b, struct queue *q, uint64_t *lines_queued)
{
    (void)ctx;
    (void)b;
    (void)q;
    failed_calls++;
    failed_lines = *lines_queued; /* not taken: they stay */
}

static void
env_rejected(void *ctx, struct backend *b, int conn, uint64_t off, const char *line, size_t len,
             const char *reason, const char *text, size_t tlen)
{
    (void)ctx;
    (void)b;
    (void)conn;
    (void)off;
    rejected_calls++;
    snprintf(rejected_line, sizeof(rejected_line), "%.*s", (int)len, line);
    snprintf(rejected_reason, sizeof(rejected_reason), "%s", reason);
    snprintf(rejected_text, sizeof(rejected_text), "%.*s", (int)tlen, text);
}

static void
on_prepare(struct ev_loop *l, ev_prepare *w, int revents)
{
    (void)l;
    (void)w;
    (void)revents;
    backend_flush_all(&dirty);
}

static void
on_tick(struct ev_loop *l, ev_timer *w, int revents)
{
    (void)w;
    (void)revents;
    if (be_live)
        backend_tick(&be, (uint64_t)(ev_now(l) * 1000.0));
}

/* The request body as JSON (inflated when gzip). */
static json_t *
body_json(const struct fhttp_req *r)
{
    static char out[1 << 20];
    const char *text = r->body;
    size_t len = r->body_len;
    if (strstr(r->headers, "Content-Encoding: gzip") != NULL) {
        z_stream zs;
        memset(&zs, 0, sizeof(zs));
        ck_assert_int_eq(inflateInit2(&zs, 16 + MAX_WBITS), Z_OK);
        zs.next_in = (Bytef *)r->body;
        zs.avail_in = (uInt)r->body_len;
        zs.next_out = (Bytef *)out;
        zs.avail_out = sizeof(out);
        ck_assert_int_eq(inflate(&zs, Z_FINISH), Z_STREAM_END);
        len = sizeof(out) - zs.avail_out;
        inflateEnd(&zs);
        text = out;
    }
    json_error_t err;
    json_t *j = json_loadb(text, len, JSON_REJECT_DUPLICATES, &err);
    ck_assert_msg(j != NULL, "body is not JSON: %s", err.text);
    ck_assert(json_is_array(j));
    return j;
}

/* {"datapoint":<the nth point of the request>,"error":text} */
static char *
entry_for(const struct fhttp_req *r, size_t nth, const char *text)
{
    json_t *arr = body_json(r);
    json_t *dp = json_array_get(arr, nth);
    ck_assert_ptr_nonnull(dp);
    json_t *e = json_pack("{s:O,s:s}", "datapoint", dp, "error", text);
    char *s = json_dumps(e, 0);
    json_decref(e);
    json_decref(arr);
    return s;
}

static void
answer_summary(struct fhttp_conn *c, int status, size_t points, const char *entry)
{
    char body[8192];
    snprintf(body, sizeof(body), "{\"success\":%zu,\"failed\":1,\"errors\":[%s]}", points - 1,
             entry);
    fhttp_answer(c, status, "Content-Type: application/json\r\n", body);
}

static void
on_request(struct fhttp *s, struct fhttp_conn *c, struct fhttp_req *r)
{
    int n = (int)(r - s->reqs);
    json_t *arr = body_json(r);
    size_t points = json_array_size(arr);
    json_decref(arr);
    char *e;
    switch (script[n]) {
    case ANS_204:
        fhttp_answer(c, 204, NULL, NULL);
        break;
    case ANS_THROTTLE_3RD:
        e = entry_for(r, 2, "Storage exception: Please throttle writes: 10000 RPCs waiting");
        answer_summary(c, 200, points, e);
        free(e);
        break;
    case ANS_UNKNOWN_2ND:
        e = entry_for(r, 1, "Unknown metric");
        answer_summary(c, 400, points, e);
        free(e);
        break;
    case ANS_UNMATCHED:
        answer_summary(c, 200, points, "{\"datapoint\":{\"metric\":\"nope\",\"timestamp\":1,"
                                       "\"value\":\"1\",\"tags\":{\"x\":\"y\"}},"
                                       "\"error\":\"Storage exception: x\"}");
        break;
    case ANS_CLOSE:
        fhttp_conn_close(c);
        break;
    case ANS_500:
        fhttp_answer(c, 500, NULL, "oops");
        break;
    case ANS_400_WHOLE:
        fhttp_answer(c, 400, "Content-Type: application/json\r\n",
                     "{\"error\":{\"code\":400,\"message\":\"Chunked request not supported.\"}}");
        break;
    case ANS_UNKNOWN_UNNAMED: /* point "m.1" refused, named so no key can match */
        if (strstr(r->body, "\"m.1\"") == NULL) {
            fhttp_answer(c, 204, NULL, NULL);
            break;
        }
        answer_summary(c, 400, points, "{\"datapoint\":{\"metric\":\"(renamed)\","
                                       "\"timestamp\":1,\"value\":\"1\",\"tags\":{}},"
                                       "\"error\":\"Unknown metric\"}");
        break;
    case ANS_404: /* a TSD before 2.4 on /api/rollup or /api/histogram */
        fhttp_answer(c, 404, NULL, "Page not found");
        break;
    case ANS_HOLD: { /* holds the batch with the first point, answers the others */
        json_t *a = body_json(r);
        json_int_t v = json_integer_value(json_object_get(json_array_get(a, 0), "value"));
        json_decref(a);
        if (v != 0) {
            fhttp_answer(c, 204, NULL, NULL);
            break;
        }
        held_conn = c;
        held_req = r;
        break;
    }
    }
}

static void
set_backend(struct cfg_backend *b)
{
    memset(b, 0, sizeof(*b));
    snprintf(b->name, sizeof(b->name), "tsd1");
    snprintf(b->addr.host, sizeof(b->addr.host), "127.0.0.1");
    snprintf(b->addr.port, sizeof(b->addr.port), "%s", S.port_s);
    b->http_addr = b->addr;
    b->has_address = true;
    b->conns = 1;
    b->write_timeout_ms = 10000;
    b->connect_timeout_ms = 1000;
    b->overflow = -1;
    b->protocol = BPROTO_HTTP;
    b->http_batch = 50;
    b->http_batch_bytes = 8192;
    b->http_pipeline = 1;
    b->sync = 1;
    b->sync_timeout_ms = 5000;
}

static void
setup(void)
{
    signal(SIGPIPE, SIG_IGN);
    log_set_level(LOG_ERROR);
    json_object_seed(1);
    loop = ev_loop_new(EVFLAG_AUTO);
    ck_assert_int_eq(pool_init(&pool, 16384, 16 << 20, 0, 0), TS_OK);
    config_defaults(&cfg);
    cfg.reconnect_min_ms = 20;
    cfg.reconnect_max_ms = 100;
    dirty = NULL;
    failed_calls = rejected_calls = 0;
    failed_lines = 0;
    memset(script, 0, sizeof(script));
    held_conn = NULL;
    held_req = NULL;
    env = (struct backend_env){
        .loop = loop, .pool = &pool, .cfg = &cfg, .dirty = &dirty,
        .batch_read_ns = &batch_ns, .running = env_running, .on_failed = env_failed,
        .on_rejected = env_rejected, .http = &backend_http_proto, .ctx = NULL,
    };
    fhttp_open(&S, loop, true);
    S.on_request = on_request;
    set_backend(&bcfg);
    ev_prepare_init(&flush_w, on_prepare);
    ev_prepare_start(loop, &flush_w);
    ev_timer_init(&tick_w, on_tick, 0.02, 0.02);
    ev_timer_start(loop, &tick_w);
    be_live = false;
    memset(&g_stats, 0, sizeof(g_stats));
}

static void
teardown(void)
{
    if (be_live)
        backend_destroy(&be);
    be_live = false;
    fhttp_free(&S);
    ev_prepare_stop(loop, &flush_w);
    ev_timer_stop(loop, &tick_w);
    pool_destroy(&pool);
    ev_loop_destroy(loop);
}

static void
start(void)
{
    ck_assert_int_eq(backend_init(&be, &env, &bcfg, 0), TS_OK);
    be_live = true;
}

enum lines { PUT_FMT, SAME_FMT, ROLLUP_FMT, HISTOGRAM_FMT, CODED_FMT, NOT_HISTOGRAM_FMT };

static void
enqueue(unsigned first, unsigned n, enum lines kind)
{
    for (unsigned i = first; i < first + n; i++) {
        char line[256];
        unsigned ts = 1700000000u + i;
        size_t len = 0;
        switch (kind) {
        case PUT_FMT:
            len = (size_t)snprintf(line, sizeof(line), "put m.%u %u %u host=h\n", i, ts, i);
            break;
        case SAME_FMT: /* one series */
            len = (size_t)snprintf(line, sizeof(line), "put same %u %u host=h\n", ts, i);
            break;
        case ROLLUP_FMT:
            len = (size_t)snprintf(line, sizeof(line), "rollup 1h-sum r.%u %u %u host=h\n", i,
                                   ts, i);
            break;
        case HISTOGRAM_FMT:
            len = (size_t)snprintf(line, sizeof(line), "histogram h.%u %u u=%u:0,1.5=2 host=h\n",
                                   i, ts, i);
            break;
        case CODED_FMT:
            len = (size_t)snprintf(line, sizeof(line), "histogram h.%u %u 1 AAEC host=h\n", i,
                                   ts);
            break;
        case NOT_HISTOGRAM_FMT: /* no JSON for it: refused before sending */
            len = (size_t)snprintf(line, sizeof(line), "histogram h.%u %u %u:1:2 host=h\n", i,
                                   ts, i);
            break;
        }
        ck_assert_int_eq(backend_enqueue(&be, point_line_hash(line, len), line, len), TS_OK);
    }
}


static bool
be_idle(void)
{
    return backend_idle(&be);
}

static const struct backend_http_stats *
st(void)
{
    return backend_http_stats(&be);
}

/* The metrics (as "m.N") of request n's points, comma-separated. */
static const char *
points_of(int n)
{
    static char buf[8192];
    size_t k = 0;
    json_t *arr = body_json(&S.reqs[n]);
    for (size_t i = 0; i < json_array_size(arr); i++)
        k += (size_t)snprintf(buf + k, sizeof(buf) - k, "%s%s", i ? "," : "",
                              json_string_value(json_object_get(json_array_get(arr, i),
                                                                "metric")));
    json_decref(arr);
    buf[k] = '\0';
    return buf;
}

START_TEST(test_batches_delivered_in_order)
{
    start();
    enqueue(0, 120, PUT_FMT);
    ck_assert(run_until(be_idle, WAIT_MS));
    ck_assert_int_eq(S.nreqs, 3);
    ck_assert_int_eq(S.naccepted, 1);            /* one keep-alive connection */
    ck_assert_str_eq(S.reqs[0].method, "POST");
    ck_assert_str_eq(S.reqs[0].target, "/api/put?details&sync&sync_timeout=5000");
    ck_assert_ptr_nonnull(strstr(S.reqs[0].headers, "Content-Type: application/json"));
    json_t *arr = body_json(&S.reqs[0]);
    ck_assert_uint_eq(json_array_size(arr), 50);
    json_t *p = json_array_get(arr, 7);
    ck_assert_str_eq(json_string_value(json_object_get(p, "metric")), "m.7");
    ck_assert_int_eq(json_integer_value(json_object_get(p, "timestamp")), 1700000007);
    ck_assert_int_eq(json_integer_value(json_object_get(p, "value")), 7);
    ck_assert_str_eq(json_string_value(json_object_get(json_object_get(p, "tags"), "host")), "h");
    json_decref(arr);
    ck_assert_str_eq(strrchr(points_of(2), ',') + 1, "m.119");
    ck_assert_uint_eq(g_stats.points_forwarded, 120);
    ck_assert_uint_eq(st()->delivered, 120);
    ck_assert_uint_eq(st()->requests, 3);
    ck_assert_uint_eq(st()->answers[2], 3);
    ck_assert_int_eq(rejected_calls, 0);
}
END_TEST

START_TEST(test_throttled_point_sent_again)
{
    script[0] = ANS_THROTTLE_3RD;
    start();
    enqueue(0, 10, PUT_FMT);
    ck_assert(run_until(be_idle, WAIT_MS));
    ck_assert_int_eq(S.nreqs, 2);
    ck_assert_str_eq(points_of(1), "m.2");       /* the throttled point alone */
    ck_assert_uint_eq(st()->throttled, 1);
    ck_assert_uint_eq(st()->retried, 1);
    ck_assert_uint_eq(st()->failed_lines[PA_THROTTLE], 1);
    ck_assert_uint_eq(st()->delivered, 10);
    ck_assert_uint_eq(st()->throttle_steps, 1);
    ck_assert_uint_gt(be.pacer.rate, 0);         /* the rate stepped down */
    ck_assert_uint_eq(g_stats.points_forwarded, 10);
}
END_TEST

START_TEST(test_unknown_metric_refused_for_good)
{
    script[0] = ANS_UNKNOWN_2ND;
    start();
    enqueue(0, 5, PUT_FMT);
    ck_assert(run_until(be_idle, WAIT_MS));
    ck_assert_int_eq(S.nreqs, 1);                /* never sent again */
    ck_assert_int_eq(rejected_calls, 1);
    ck_assert_str_eq(rejected_line, "put m.1 1700000001 1 host=h\n");
    ck_assert_str_eq(rejected_reason, "unknown_metric");
    ck_assert_str_eq(rejected_text, "Unknown metric");
    ck_assert_uint_eq(st()->rejected[PA_UNKNOWN_METRIC], 1);
    ck_assert_uint_eq(st()->delivered, 4);
    ck_assert_uint_eq(g_stats.points_forwarded, 4);
    ck_assert_uint_eq(be.st.lines_acked, 5);
}
END_TEST

START_TEST(test_unmatched_failure_resends_all)
{
    script[0] = ANS_UNMATCHED;
    start();
    enqueue(0, 4, PUT_FMT);
    ck_assert(run_until(be_idle, WAIT_MS));
    ck_assert_int_eq(S.nreqs, 2);
    ck_assert_str_eq(points_of(1), "m.0,m.1,m.2,m.3");
    ck_assert_uint_eq(st()->unmatched, 1);
    ck_assert_uint_eq(st()->delivered, 4);
}
END_TEST

/* A refusal the answer names so that no point of the request matches it
 * (an echo tsrelay cannot read): the request goes again, then its points
 * one by one, and the refused one is found. */
START_TEST(test_unmatched_refusal_found_point_by_point)
{
    for (int i = 0; i < FHTTP_REQS; i++)
        script[i] = ANS_UNKNOWN_UNNAMED;
    start();
    enqueue(0, 4, PUT_FMT);
    ck_assert(run_until(be_idle, WAIT_MS));
    ck_assert_int_eq(rejected_calls, 1);
    ck_assert_str_eq(rejected_line, "put m.1 1700000001 1 host=h\n");
    ck_assert_uint_eq(st()->delivered, 3);
    ck_assert_uint_eq(st()->unmatched, 2);
    ck_assert_int_le(S.nreqs, 3 + 4);
}
END_TEST

START_TEST(test_lost_500_and_whole_400_resend)
{
    script[0] = ANS_CLOSE;
    script[1] = ANS_500;
    script[2] = ANS_400_WHOLE;
    start();
    enqueue(0, 3, PUT_FMT);
    ck_assert(run_until(be_idle, WAIT_MS));
    ck_assert_int_eq(S.nreqs, 4);
    for (int i = 1; i < 4; i++)
        ck_assert_str_eq(points_of(i), "m.0,m.1,m.2");
    ck_assert_uint_eq(st()->lost, 1);
    ck_assert_uint_eq(st()->maybe_duplicated, 3);
    ck_assert_uint_eq(st()->server_errors, 1);
    ck_assert_uint_eq(st()->request_errors, 1);
    ck_assert_uint_eq(st()->retried, 9);
    ck_assert_uint_eq(g_stats.points_forwarded, 3);
}
END_TEST

static bool
two_requests(void)
{
    return S.nreqs >= 2;
}

static bool
second_answered(void)
{
    return st()->answers[2] >= 1;
}

START_TEST(test_acknowledged_in_order)
{
    /* two connections, one series (one lane): its two batches go on both,
     * the second is answered first */
    bcfg.conns = 2;
    bcfg.http_batch = 2;
    script[0] = script[1] = ANS_HOLD;
    start();
    enqueue(0, 4, SAME_FMT);
    ck_assert(run_until(two_requests, WAIT_MS));
    ck_assert_int_eq(S.naccepted, 2);
    ck_assert(run_until(second_answered, WAIT_MS));
    struct bconn *c = be.conns[0].q.appended > 0 ? &be.conns[0] : &be.conns[1];
    ck_assert_uint_gt(c->q.appended, 0);
    ck_assert_uint_eq(c->q.acked, 0); /* not before the first batch */
    ck_assert_uint_eq(g_stats.points_forwarded, 0);
    ck_assert_ptr_nonnull(held_conn);
    fhttp_answer(held_conn, 204, NULL, NULL);
    ck_assert(run_until(be_idle, WAIT_MS));
    ck_assert_uint_eq(st()->delivered, 4);
    ck_assert_uint_eq(g_stats.points_forwarded, 4);
}
END_TEST

static bool
failed_once(void)
{
    return failed_calls > 0;
}

START_TEST(test_refused_connections_fail_the_lane)
{
    /* nobody listens: the pool cannot connect */
    fhttp_free(&S);
    fhttp_open(&S, loop, false);
    S.on_request = on_request;
    set_backend(&bcfg);
    start();
    enqueue(0, 3, PUT_FMT);
    ck_assert(run_until(failed_once, WAIT_MS));
    ck_assert_uint_eq(failed_lines, 3);
    ck_assert(!backend_available(&be));
    fhttp_listen(&S, 16);
    ck_assert(run_until(be_idle, WAIT_MS));
    ck_assert_str_eq(points_of(S.nreqs - 1), "m.0,m.1,m.2");
}
END_TEST

START_TEST(test_rollup_and_histogram)
{
    start();
    enqueue(0, 2, PUT_FMT);
    enqueue(2, 2, ROLLUP_FMT);
    enqueue(4, 1, HISTOGRAM_FMT);
    enqueue(5, 1, CODED_FMT);
    enqueue(6, 1, NOT_HISTOGRAM_FMT);
    ck_assert(run_until(be_idle, WAIT_MS));
    ck_assert_int_eq(S.nreqs, 3);
    ck_assert_str_eq(S.reqs[1].target, "/api/rollup?details&sync&sync_timeout=5000");
    json_t *arr = body_json(&S.reqs[1]);
    ck_assert_str_eq(json_string_value(json_object_get(json_array_get(arr, 0), "interval")),
                     "1h");
    json_decref(arr);
    /* both histograms in one request to /api/histogram */
    ck_assert_str_eq(S.reqs[2].target, "/api/histogram?details&sync&sync_timeout=5000");
    arr = body_json(&S.reqs[2]);
    ck_assert_uint_eq(json_array_size(arr), 2);
    json_t *simple = json_array_get(arr, 0), *coded = json_array_get(arr, 1);
    ck_assert_int_eq(json_integer_value(json_object_get(simple, "underflow")), 4);
    ck_assert_int_eq(json_integer_value(
        json_object_get(json_object_get(simple, "buckets"), "0,1.5")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(coded, "id")), 1);
    ck_assert_str_eq(json_string_value(json_object_get(coded, "value")), "AAEC");
    json_decref(arr);
    /* the line that is no histogram the TSD reads: refused, not sent */
    ck_assert_int_eq(rejected_calls, 1);
    ck_assert_str_eq(rejected_reason, "unsupported");
    ck_assert_uint_eq(st()->rejected[PA_UNSUPPORTED], 1);
    ck_assert_uint_eq(g_stats.points_forwarded, 6);
}
END_TEST

/* A TSD before 2.4 answers 404 to /api/histogram: its points are refused
 * for good (kept upward), not sent again for ever; the puts after them go
 * on. */
START_TEST(test_histogram_404_refused_for_good)
{
    start();
    script[0] = ANS_404;
    enqueue(0, 3, HISTOGRAM_FMT);
    enqueue(3, 2, PUT_FMT);
    ck_assert(run_until(be_idle, WAIT_MS));
    ck_assert_int_eq(S.nreqs, 2);
    ck_assert_str_eq(S.reqs[0].target, "/api/histogram?details&sync&sync_timeout=5000");
    ck_assert_int_eq(rejected_calls, 3);
    ck_assert_str_eq(rejected_reason, "unsupported");
    ck_assert_uint_eq(st()->rejected[PA_UNSUPPORTED], 3);
    ck_assert_uint_eq(st()->request_errors, 1);
    ck_assert_uint_eq(g_stats.points_forwarded, 2);
}
END_TEST

START_TEST(test_gzip_and_sync_off)
{
    bcfg.http_gzip = 1;
    bcfg.sync = 0;
    start();
    enqueue(0, 50, PUT_FMT);
    ck_assert(run_until(be_idle, WAIT_MS));
    ck_assert_int_eq(S.nreqs, 1);
    ck_assert_str_eq(S.reqs[0].target, "/api/put?details");
    ck_assert_ptr_nonnull(strstr(S.reqs[0].headers, "Content-Encoding: gzip"));
    json_t *arr = body_json(&S.reqs[0]); /* inflates */
    ck_assert_uint_eq(json_array_size(arr), 50);
    json_decref(arr);
    ck_assert_uint_lt(st()->gzip_out, st()->gzip_in);
}
END_TEST

/* The line arrays and the gzip buffer are charged to the budget beside
 * the bodies' blocks, and given back with the backend; a budget without
 * room for them refuses the backend. */
START_TEST(test_buffers_charged_to_the_budget)
{
    bcfg.http_gzip = 1;
    bcfg.http_batch = 5000;
    bcfg.http_pipeline = 2;
    start();
    size_t window = 4, cap = TS_MIN(pool.data_size * 4 / 32, (size_t)5000); /* gzip: 4x */
    size_t bodies = (size_t)be.nconns * window * pool.data_size;
    ck_assert_uint_eq(st()->buffer_bytes,
                      (size_t)be.nconns * window * cap * CFG_HTTP_LINE_BYTES +
                          4 * pool.data_size);
    ck_assert_uint_ge(pool.used[POOL_QUEUE], st()->buffer_bytes + bodies);
    backend_destroy(&be);
    be_live = false;
    ck_assert_uint_eq(pool.used[POOL_QUEUE], 0);

    pool_destroy(&pool);
    /* room for the bodies' blocks, not for the arrays beside them */
    ck_assert_int_eq(pool_init(&pool, 16384, bodies + 96 * 1024, 64 * 1024, 0), TS_OK);
    ck_assert_int_ne(backend_init(&be, &env, &bcfg, 0), TS_OK);
    backend_destroy(&be);
    ck_assert_uint_gt(pool.stats.charge_failures, 0);
    ck_assert_uint_eq(pool.stats.get_failures, 0);
    ck_assert_uint_eq(pool.used[POOL_QUEUE], 0);
}
END_TEST

/* ---- TLS: the backend's context on its HTTP pool ---------------------------- */

static char certdir[256];
static SSL_CTX *sctx; /* the fake server's */

/* Unchecked fixture (the parent, once): the certificates made. */
static void
tls_make_certs(void)
{
    tls_library_init();
    snprintf(certdir, sizeof(certdir), "/tmp/check_backend_http.XXXXXX");
    certs_make(certdir);
}

static void
tls_remove_certs(void)
{
    certs_remove(certdir);
}

/* The fake TSD speaks TLS: its certificate is relay.test's. */
static void
tls_setup(void)
{
    setup();
    sctx = SSL_CTX_new(TLS_server_method());
    ck_assert_ptr_nonnull(sctx);
    ck_assert_int_eq(SSL_CTX_use_certificate_chain_file(sctx, certs_path(certdir, "server.pem")), 1);
    ck_assert_int_eq(SSL_CTX_use_PrivateKey_file(sctx, certs_path(certdir, "server.key"),
                                                 SSL_FILETYPE_PEM), 1);
    SSL_CTX_set_mode(sctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    S.tls = sctx;
}

static void
tls_teardown(void)
{
    teardown();
    SSL_CTX_free(sctx);
    sctx = NULL;
}

/* What start and a reload do: the context built from the backend's
 * configuration (tls = on, ca, server-name) handed to it. */
static void
tls_give(const char *server_name)
{
    char err[512];
    bcfg.tls = 1;
    snprintf(bcfg.ca, sizeof(bcfg.ca), "%s", certs_path(certdir, "ca.pem"));
    snprintf(bcfg.server_name, sizeof(bcfg.server_name), "%s", server_name);
    struct tls_client *tc = tls_client_for_backend(&bcfg, err, sizeof(err));
    ck_assert_msg(tc != NULL, "%s", err);
    backend_set_tls(&be, tc);
}

static bool
tls_refused_twice(void)
{
    return be.st.tls_failures >= 2;
}

/* protocol = http with tls = on: its pool (made in clear by
 * backend_init) takes the context backend_set_tls hands it; a context
 * read again for the same name keeps the pool and its connection;
 * another name takes a new pool, which verifies it: a wrong one is
 * refused before a byte of a request is written, counted in the
 * backend's tls_failures, and the points wait for a good one. */
START_TEST(test_tls_context_kept_or_replaced)
{
    start();
    tls_give("relay.test");
    enqueue(0, 60, PUT_FMT);
    ck_assert(run_until(be_idle, WAIT_MS));
    ck_assert_uint_eq(st()->delivered, 60);
    ck_assert_int_eq(S.naccepted, 1);
    ck_assert_int_eq(S.tls_handshakes, 1);

    tls_give("relay.test"); /* a reload: the certificates read again */
    enqueue(60, 60, PUT_FMT);
    ck_assert(run_until(be_idle, WAIT_MS));
    ck_assert_uint_eq(st()->delivered, 120);
    ck_assert_int_eq(S.naccepted, 1); /* the pool and its connection kept */
    ck_assert_int_eq(S.tls_handshakes, 1);
    ck_assert_uint_eq(be.st.tls_failures, 0);

    int nreqs = S.nreqs;
    tls_give("wrong.test");
    enqueue(120, 10, PUT_FMT);
    ck_assert(run_until(tls_refused_twice, WAIT_MS));
    ck_assert_int_eq(S.nreqs, nreqs); /* nothing written to a server not verified */
    ck_assert_uint_eq(st()->delivered, 120);
    ck_assert_uint_eq(backend_queued_lines(&be), 10);
    ck_assert_int_eq(S.tls_handshakes, 1);

    tls_give("relay.test");
    ck_assert(run_until(be_idle, WAIT_MS));
    ck_assert_uint_eq(st()->delivered, 130);
    ck_assert_int_eq(S.tls_handshakes, 2);
    ck_assert_str_eq(strrchr(points_of(S.nreqs - 1), ',') + 1, "m.129");
}
END_TEST

static Suite *
backend_http_suite(void)
{
    Suite *s = suite_create("backend_http");
    TCase *tc = tcase_create("backend_http");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_batches_delivered_in_order);
    tcase_add_test(tc, test_throttled_point_sent_again);
    tcase_add_test(tc, test_unknown_metric_refused_for_good);
    tcase_add_test(tc, test_unmatched_failure_resends_all);
    tcase_add_test(tc, test_unmatched_refusal_found_point_by_point);
    tcase_add_test(tc, test_lost_500_and_whole_400_resend);
    tcase_add_test(tc, test_acknowledged_in_order);
    tcase_add_test(tc, test_refused_connections_fail_the_lane);
    tcase_add_test(tc, test_rollup_and_histogram);
    tcase_add_test(tc, test_gzip_and_sync_off);
    tcase_add_test(tc, test_histogram_404_refused_for_good);
    tcase_add_test(tc, test_buffers_charged_to_the_budget);
    suite_add_tcase(s, tc);
    TCase *tt = tcase_create("tls");
    tcase_add_unchecked_fixture(tt, tls_make_certs, tls_remove_certs);
    tcase_add_checked_fixture(tt, tls_setup, tls_teardown);
    tcase_set_timeout(tt, 30);
    tcase_add_test(tt, test_tls_context_kept_or_replaced);
    suite_add_tcase(s, tt);
    return s;
}

UNIT_MAIN(backend_http_suite)
