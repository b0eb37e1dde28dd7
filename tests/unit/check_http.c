/*
 * check_http.c -- unit tests for http.c: requests fed as client.c feeds
 * them (whole, byte by byte, pipelined) to a hand-built client with no
 * socket; the exact responses: /api/put's 204 / 200 / 400 and the TSD's
 * ?summary and ?details shapes, gzip bodies, the body bound checked on
 * Content-Length before anything is buffered (413, close), 404 / 405,
 * HEAD without a body, keep-alive and close, /health with no backend up,
 * malformed HTTP.  Emitted lines are recorded by a fake sink.  ?sync
 * (a host that takes waits): the request waits after its last point (the
 * start marked before its first), the client's sync_timeout handed over;
 * proven: the TSD's answers (204, summary with "timeouts":0 when a
 * sync_timeout was given, 400 when a point failed the checks, 200 with
 * failed > 0 and the TSD's words for a point refused for good); timed
 * out: the PutTimeout shape and message; a pipelined request waits behind
 * it; no valid point, or a host without waits: answered at once.
 */
#include "autoconf.h"

#include <jansson.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zlib.h>

#include "base/config.h"
#include "input/http.h"
#include "input/ingest.h"
#include "input/json.h"
#include "base/log.h"
#include "base/point.h"
#include "base/pool.h"
#include "core/relay.h"
#include "base/counters.h"
#include "ops/status.h"
#include "unit.h"
#include "base/util.h"

#define RESP_CAP (1u << 20)

static struct relay R;
static struct sink SINK;
static struct ingest_stats ST;
static struct http_conn *H;

static struct {
    char resp[RESP_CAP];     /* every byte written back, in order */
    size_t resp_len;
    char emitted[1 << 16];
    size_t emitted_len;
    int nemit;
    bool closed;             /* http_feed said close, or a reply asked to */
    int room;                /* points the sink takes before it is full; -1: no bound */
    bool body_later;         /* body memory is not granted at the first ask */
    int body_asks;
    size_t body_out;         /* body bytes the host handed out, not yet back */
    int waits_room, waits_body;
} F;

static int
fake_emit(struct sink *s, const char *line, size_t len, uint64_t hash, struct point_error *why)
{
    (void)why;
    (void)s;
    ck_assert_uint_eq(hash, point_line_hash(line, len));
    if (F.room == 0)
        return TS_EAGAIN;
    if (F.room > 0)
        F.room--;
    ck_assert_uint_le(F.emitted_len + len, sizeof(F.emitted));
    memcpy(F.emitted + F.emitted_len, line, len);
    F.emitted_len += len;
    F.nemit++;
    return TS_OK;
}

static bool
fake_reply(void *ctx, const char *head, size_t hlen, const char *body, size_t blen,
           bool control, bool close)
{
    (void)ctx;
    (void)control;
    ck_assert_msg(!F.closed, "an answer after the one that closed the connection");
    ck_assert_uint_lt(F.resp_len + hlen + blen, sizeof(F.resp)); /* room for the NUL */
    memcpy(F.resp + F.resp_len, head, hlen);
    memcpy(F.resp + F.resp_len + hlen, body, blen);
    F.resp_len += hlen + blen;
    if (close)
        F.closed = true;
    return true;
}

static int
fake_body_alloc(void *ctx, size_t len, char **buf)
{
    (void)ctx;
    if (F.body_later && F.body_asks++ == 0)
        return TS_EAGAIN;
    *buf = malloc(TS_MAX(len, (size_t)1));
    ck_assert_ptr_nonnull(*buf);
    F.body_out += len;
    return TS_OK;
}

static void
fake_body_free(void *ctx, char *buf, size_t len)
{
    (void)ctx;
    ck_assert_uint_ge(F.body_out, len);
    F.body_out -= len;
    free(buf);
}

static size_t used_at_start;

/* ?sync: what the host was asked */
static struct {
    int begins, waits;
    int emitted_at_begin;
    uint64_t timeout_ms;
} SY;

static int
fake_sync_begin(void *ctx)
{
    (void)ctx;
    SY.begins++;
    SY.emitted_at_begin = F.nemit;
    return TS_OK;
}

static int
fake_sync_wait(void *ctx, uint64_t timeout_ms)
{
    (void)ctx;
    SY.waits++;
    SY.timeout_ms = timeout_ms;
    return TS_OK;
}

static void
setup(void)
{
    memset(&R, 0, sizeof(R));
    memset(&F, 0, sizeof(F));
    F.room = -1;
    log_set_level(LOG_ERROR);
    json_init();
    config_defaults(&R.cfg);
    R.cfg.memory_limit = 8u << 20;
    R.cfg.max_http_body_bytes = 64u << 10;
    R.loop = EV_DEFAULT;
    ck_assert_int_eq(pool_init(&R.pool, R.cfg.block_size, R.cfg.memory_limit, 1u << 20,
                               4u << 20), TS_OK);
    point_rules_init(&R.rules, R.cfg.max_tags, R.cfg.allow_specialchars);
    snprintf(R.hostname, sizeof(R.hostname), "unithost");
    used_at_start = pool_used_bytes(&R.pool);
    memset(&ST, 0, sizeof(ST));
    memset(&SINK, 0, sizeof(SINK));
    SINK.rules = &R.rules;
    SINK.stats = &ST;
    SINK.emit = fake_emit;
    struct http_host host = {
        .sink = &SINK,
        .pool = &R.pool,
        .max_body = R.cfg.max_http_body_bytes,
        .data_allowed = true,
        .reply = fake_reply,
        .body_alloc = fake_body_alloc,
        .body_free = fake_body_free,
        .endpoint = status_http,
        .endpoint_ctx = &R,
    };
    H = http_conn_new(&host);
    ck_assert_ptr_nonnull(H);
}

/* The same connection, with a host that takes ?sync waits. */
static void
setup_sync(void)
{
    setup();
    http_conn_free(H);
    memset(&SY, 0, sizeof(SY));
    struct http_host host = {
        .sink = &SINK, .pool = &R.pool, .max_body = R.cfg.max_http_body_bytes,
        .data_allowed = true, .reply = fake_reply, .body_alloc = fake_body_alloc,
        .body_free = fake_body_free, .endpoint = status_http, .endpoint_ctx = &R,
        .sync_begin = fake_sync_begin, .sync_wait = fake_sync_wait,
    };
    H = http_conn_new(&host);
    ck_assert_ptr_nonnull(H);
}

static void
teardown(void)
{
    http_conn_free(H);
    /* nothing charged or handed out for the connection outlives it */
    ck_assert_uint_eq(F.body_out, 0);
    ck_assert_uint_eq(pool_used_bytes(&R.pool), used_at_start);
    pool_destroy(&R.pool);
}

/* Feeds n bytes in reads of `step` bytes (0: all at once), as client.c
 * does: what the decoder did not take is offered again; a request that
 * waits for room gets it (F.room opened) and one for body memory gets it
 * on the next feed. */
static void
feed_in_steps(const char *in, size_t n, size_t step)
{
    size_t off = 0;
    int idle = 0;
    while (off < n && !F.closed) {
        size_t k = step == 0 ? n - off : TS_MIN(step, n - off);
        enum http_state st;
        size_t took = http_feed(H, in + off, k, &st);
        ck_assert_uint_le(took, k);
        off += took;
        if (st == HTTP_CLOSE)
            F.closed = true;
        else if (st == HTTP_WAIT_ROOM)
            F.waits_room++, F.room = F.room == 0 ? 1 : F.room;
        else if (st == HTTP_WAIT_BODY)
            F.waits_body++;
        else
            ck_assert_uint_eq(took, k); /* ready: it took all */
        ck_assert_int_lt(idle = took == 0 ? idle + 1 : 0, 100000);
    }
    /* a request still waiting for room at the end of the input */
    for (int i = 0; i < 100000 && !F.closed; i++) {
        enum http_state st;
        http_feed(H, "", 0, &st);
        if (st == HTTP_READY || st == HTTP_CLOSE)
            break;
        if (st == HTTP_WAIT_ROOM)
            F.waits_room++;
        F.room = F.room == 0 ? 1 : F.room;
    }
    F.resp[F.resp_len] = '\0';
}

static void
feed(const char *in)
{
    feed_in_steps(in, strlen(in), 0);
}

/* A POST /api/put request with body b (n bytes) and extra header lines. */
static char *
put_request(const char *query, const char *extra, const char *b, size_t n, size_t *len)
{
    static char req[1 << 16];
    int k = snprintf(req, sizeof(req),
                     "POST /api/put%s HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n"
                     "%sContent-Length: %zu\r\n\r\n",
                     query, extra, n);
    ck_assert(k > 0 && (size_t)k + n < sizeof(req));
    memcpy(req + k, b, n);
    *len = (size_t)k + n;
    return req;
}

static void
post(const char *query, const char *body)
{
    size_t n;
    char *req = put_request(query, "", body, strlen(body), &n);
    feed_in_steps(req, n, 0);
}

/* The i-th response's status code, headers and body; false when there is
 * no i-th complete response. */
struct resp {
    int status;
    const char *headers;    /* start of header block */
    size_t headers_len;
    const char *body;
    size_t body_len;
};

static bool
response(int i, struct resp *r)
{
    const char *p = F.resp, *end = F.resp + F.resp_len;
    for (int k = 0; k <= i; k++) {
        if (p >= end || strncmp(p, "HTTP/1.1 ", 9) != 0)
            return false;
        const char *hend = strstr(p, "\r\n\r\n");
        if (hend == NULL)
            return false;
        r->status = atoi(p + 9);
        r->headers = p;
        r->headers_len = (size_t)(hend - p) + 2;
        const char *cl = strstr(p, "Content-Length: ");
        ck_assert(cl != NULL && cl < hend);
        size_t blen = strtoul(cl + 16, NULL, 10);
        r->body = hend + 4;
        r->body_len = blen;
        p = r->body + blen;
        if (p > end)
            return false;
    }
    return true;
}

/* The i-th response, which must exist and carry this status. */
static struct resp
nth_response(int i, int status)
{
    struct resp r;
    ck_assert_msg(response(i, &r), "no response %d in: %s", i, esc(F.resp, F.resp_len));
    ck_assert_int_eq(r.status, status);
    return r;
}

/* A whole header line (without its CRLF) of the response. */
static bool
has_header(const struct resp *r, const char *line)
{
    const char *p = r->headers, *end = r->headers + r->headers_len;
    size_t n = strlen(line);
    for (; p + n < end; p++)
        if ((p == r->headers || p[-1] == '\n') && memcmp(p, line, n) == 0 && p[n] == '\r')
            return true;
    return false;
}

static json_t *
body_json(const struct resp *r)
{
    json_error_t err;
    json_t *j = json_loadb(r->body, r->body_len, 0, &err);
    ck_assert_msg(j != NULL, "body is not JSON: %s (%s)", esc(r->body, r->body_len), err.text);
    return j;
}

static int
json_int_at(json_t *j, const char *a, const char *b)
{
    json_t *v = json_object_get(j, a);
    if (b != NULL)
        v = json_object_get(v, b);
    ck_assert_msg(json_is_integer(v), "no integer at %s%s%s", a, b ? "." : "", b ? b : "");
    return (int)json_integer_value(v);
}

static const char *
json_str_at(json_t *j, const char *a, const char *b)
{
    json_t *v = json_object_get(json_object_get(j, a), b);
    ck_assert_msg(json_is_string(v), "no string at %s.%s", a, b);
    return json_string_value(v);
}

#define DP_OK1 "{\"metric\":\"sys.cpu\",\"timestamp\":1500000000,\"value\":42,\"tags\":{\"host\":\"a\"}}"
#define DP_OK2 "{\"metric\":\"sys.mem\",\"timestamp\":1500000001,\"value\":1.5,\"tags\":{\"host\":\"b\"}}"
#define DP_BAD "{\"metric\":\"sys.cpu\",\"timestamp\":1500000002,\"value\":\"x\",\"tags\":{\"host\":\"a\"}}"
#define DP_NOTAG "{\"metric\":\"sys.cpu\",\"timestamp\":1500000003,\"value\":1,\"tags\":{}}"


/* ---- /api/rollup and /api/histogram ---------------------------------------- */

static void
post_path(const char *path, const char *body)
{
    static char req[1 << 16];
    int k = snprintf(req, sizeof(req),
                     "POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n\r\n%s", path,
                     strlen(body), body);
    ck_assert(k > 0 && (size_t)k < sizeof(req));
    feed_in_steps(req, (size_t)k, 0);
}

#define RU_OK "{\"metric\":\"sys.cpu\",\"timestamp\":1500000000,\"value\":7,\"tags\":{\"host\":\"a\"}," \
              "\"interval\":\"1h\",\"aggregator\":\"sum\"}"
#define RU_MS "{\"metric\":\"sys.cpu\",\"timestamp\":1500000000000,\"value\":7,\"tags\":{\"host\":" \
              "\"a\"},\"interval\":\"1h\",\"aggregator\":\"sum\"}"
#define RU_NOAGG "{\"metric\":\"sys.cpu\",\"timestamp\":1500000000,\"value\":7,\"tags\":{\"host\":" \
                 "\"a\"},\"interval\":\"1h\"}"
#define HI_OK "{\"metric\":\"lat\",\"timestamp\":1500000000,\"tags\":{\"host\":\"a\"}," \
              "\"buckets\":{\"0,1\":5},\"overflow\":1}"
#define HI_BAD "{\"metric\":\"lat\",\"timestamp\":1500000000,\"tags\":{\"host\":\"a\"}," \
               "\"buckets\":{\"x,1\":5}}"
#define HI_NONE "{\"metric\":\"lat\",\"timestamp\":1500000000,\"tags\":{\"host\":\"a\"}}"

/* The i-th entry of ?details' errors: its message. */
static const char *
detail_error(json_t *j, size_t i)
{
    json_t *e = json_array_get(json_object_get(j, "errors"), i);
    ck_assert_ptr_nonnull(e);
    ck_assert(json_is_object(json_object_get(e, "datapoint"))); /* as sent */
    return json_string_value(json_object_get(e, "error"));
}

/* The query's parameters: exact names, the last value wins (the TSD's
 * getQueryStringParam), a name without "=value" is given. */
static bool
param(const char *q, const char *name, char *out, size_t cap)
{
    const char *v;
    size_t n;
    if (!http_query_param(q, strlen(q), name, &v, &n))
        return false;
    snprintf(out, cap, "%.*s", (int)n, v);
    return true;
}

START_TEST(query_params_are_read_as_the_tsd_reads_them)
{
    char v[64];
    ck_assert(param("details&sync_timeout=500&sync", "sync", v, sizeof(v)));
    ck_assert_str_eq(v, "");
    ck_assert(param("details&sync_timeout=500&sync", "sync_timeout", v, sizeof(v)));
    ck_assert_str_eq(v, "500");
    ck_assert(param("details&sync_timeout=500&sync", "details", v, sizeof(v)));
    ck_assert(!param("details&sync_timeout=500", "sync", v, sizeof(v)));
    ck_assert(!param("detailsx=1&xdetails", "details", v, sizeof(v)));
    ck_assert(param("backend=a&backend=b", "backend", v, sizeof(v)));
    ck_assert_str_eq(v, "b");
    ck_assert(param("since=&x=1", "since", v, sizeof(v)));
    ck_assert_str_eq(v, "");
    ck_assert(param("a=1=2", "a", v, sizeof(v)));
    ck_assert_str_eq(v, "1=2");
    ck_assert(!param("", "a", v, sizeof(v)));
    ck_assert(!http_query_param(NULL, 0, "a", NULL, NULL)); /* no query at all */
    ck_assert(param("&&a&", "a", v, sizeof(v)));
}
END_TEST

START_TEST(rollup_is_204_and_goes_as_rollup_lines)
{
    post_path("/api/rollup", "[" RU_OK "]");
    nth_response(0, 204);
    post_path("/api/rollup/", "{\"metric\":\"m\",\"timestamp\":1,\"value\":1,\"tags\":{\"a\":\"b\"},"
                              "\"groupByAggregator\":\"max\"}");
    nth_response(1, 204);
    F.emitted[F.emitted_len] = '\0';
    ck_assert_str_eq(F.emitted, "rollup 1h-sum sys.cpu 1500000000 7 host=a\n"
                                "rollup max m 1 1 a=b\n");
}
END_TEST

START_TEST(rollup_details_are_the_tsds)
{
    post_path("/api/rollup?details", "[" RU_OK "," RU_MS "," RU_NOAGG "]");
    struct resp r = nth_response(0, 400);
    json_t *j = body_json(&r);
    ck_assert_int_eq(json_int_at(j, "success", NULL), 1);
    ck_assert_int_eq(json_int_at(j, "failed", NULL), 2);
    ck_assert_str_eq(detail_error(j, 0), "bad timestamp=1500000000000 when trying to add "
                                         "value=[7]/0 to metric=sys.cpu, tags={host=a}");
    ck_assert_str_eq(detail_error(j, 1), "Missing aggregator");
    json_decref(j);
    ck_assert_int_eq(F.nemit, 1);
    post_path("/api/rollup", "[" RU_MS "]");
    r = nth_response(1, 400);
    j = body_json(&r);
    ck_assert_str_eq(json_str_at(j, "error", "message"), "One or more data points had errors");
    ck_assert_str_eq(json_str_at(j, "error", "details"),
                     "Please see the TSD logs or append \"details\" to the put request");
    json_decref(j);
}
END_TEST

START_TEST(histogram_summary_and_details_are_the_tsds)
{
    post_path("/api/histogram?summary", "[" HI_OK "]");
    struct resp r = nth_response(0, 200);
    json_t *j = body_json(&r);
    ck_assert_int_eq(json_int_at(j, "success", NULL), 1);
    ck_assert_int_eq(json_int_at(j, "failed", NULL), 0);
    json_decref(j);
    post_path("/api/histogram?details", "[" HI_BAD "," HI_NONE "," HI_OK "]");
    r = nth_response(1, 400);
    j = body_json(&r);
    ck_assert_int_eq(json_int_at(j, "success", NULL), 1);
    ck_assert_int_eq(json_int_at(j, "failed", NULL), 2);
    ck_assert_str_eq(detail_error(j, 0), "Unable to parse value to a number");
    ck_assert_str_eq(detail_error(j, 1),
                     "Histogram buckets cannot be null or empty if 'value' is empty.");
    json_decref(j);
    F.emitted[F.emitted_len] = '\0';
    ck_assert_str_eq(F.emitted, "histogram lat 1500000000 u=0:o=1:0,1=5 host=a\n"
                                "histogram lat 1500000000 u=0:o=1:0,1=5 host=a\n");
}
END_TEST

START_TEST(get_on_the_writes_is_405)
{
    static const char *const paths[] = { "/api/rollup", "/api/histogram" };
    for (int i = 0; i < 2; i++) {
        char req[128];
        int n = snprintf(req, sizeof(req), "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", paths[i]);
        feed_in_steps(req, (size_t)n, 0);
        nth_response(i, 405);
    }
    ck_assert_int_eq(F.nemit, 0);
}
END_TEST

/* ---- /api/put ------------------------------------------------------------ */

START_TEST(put_valid_is_204_and_emits_canonical_lines)
{
    post("", "[" DP_OK1 "," DP_OK2 "]");
    struct resp r = nth_response(0, 204);
    ck_assert_uint_eq(r.body_len, 0);
    ck_assert(has_header(&r, "Connection: keep-alive"));
    ck_assert(!F.closed);
    ck_assert_int_eq(F.nemit, 2);
    F.emitted[F.emitted_len] = '\0';
    ck_assert_str_eq(F.emitted, "put sys.cpu 1500000000 42 host=a\n"
                                "put sys.mem 1500000001 1.5 host=b\n");
}
END_TEST

START_TEST(put_single_object)
{
    post("", DP_OK1);
    nth_response(0, 204);
    ck_assert_int_eq(F.nemit, 1);
}
END_TEST

START_TEST(put_errors_without_query_is_400_tsd_message)
{
    post("", "[" DP_OK1 "," DP_BAD "]");
    struct resp r = nth_response(0, 400);
    json_t *j = body_json(&r);
    ck_assert_int_eq(json_int_at(j, "error", "code"), 400);
    ck_assert_str_eq(json_str_at(j, "error", "message"), "One or more data points had errors");
    json_decref(j);
    ck_assert_int_eq(F.nemit, 1); /* the valid one still goes */
}
END_TEST

START_TEST(put_summary_all_ok_is_200)
{
    post("?summary", "[" DP_OK1 "," DP_OK2 "]");
    struct resp r = nth_response(0, 200);
    ck_assert(has_header(&r, "Content-Type: application/json"));
    json_t *j = body_json(&r);
    ck_assert_int_eq(json_int_at(j, "success", NULL), 2);
    ck_assert_int_eq(json_int_at(j, "failed", NULL), 0);
    ck_assert_ptr_null(json_object_get(j, "errors"));
    json_decref(j);
}
END_TEST

START_TEST(put_details_mixed_batch)
{
    post("?details", "[" DP_OK1 "," DP_BAD "," DP_OK2 "," DP_NOTAG "]");
    struct resp r = nth_response(0, 400);
    json_t *j = body_json(&r);
    ck_assert_int_eq(json_int_at(j, "success", NULL), 2);
    ck_assert_int_eq(json_int_at(j, "failed", NULL), 2);
    json_t *errs = json_object_get(j, "errors");
    ck_assert(json_is_array(errs));
    ck_assert_uint_eq(json_array_size(errs), 2);
    json_t *e0 = json_array_get(errs, 0);
    /* the datapoint as sent, and the TSD's message for a bad value */
    ck_assert_str_eq(json_string_value(json_object_get(e0, "error")),
                     "Unable to parse value to a number");
    ck_assert_int_eq(json_integer_value(
                         json_object_get(json_object_get(e0, "datapoint"), "timestamp")),
                     1500000002);
    json_t *e1 = json_array_get(errs, 1);
    ck_assert_ptr_nonnull(strstr(json_string_value(json_object_get(e1, "error")), "tag"));
    json_decref(j);
    ck_assert_int_eq(F.nemit, 2);
}
END_TEST

START_TEST(put_details_and_summary_together)
{
    post("?summary&details", "[" DP_OK1 "]");
    struct resp r = nth_response(0, 200);
    json_t *j = body_json(&r);
    ck_assert_int_eq(json_int_at(j, "success", NULL), 1);
    ck_assert(json_is_array(json_object_get(j, "errors")));
    ck_assert_uint_eq(json_array_size(json_object_get(j, "errors")), 0);
    json_decref(j);
}
END_TEST

START_TEST(put_empty_array_is_400)
{
    post("", "[]");
    struct resp r = nth_response(0, 400);
    json_t *j = body_json(&r);
    ck_assert_str_eq(json_str_at(j, "error", "message"), "No datapoints found in content");
    json_decref(j);
}
END_TEST

START_TEST(put_malformed_json_is_400_and_keeps_the_connection)
{
    post("", "{\"metric\":");
    struct resp r = nth_response(0, 400);
    json_t *j = body_json(&r);
    ck_assert_int_eq(json_int_at(j, "error", "code"), 400);
    json_decref(j);
    ck_assert(!F.closed);
    post("", DP_OK1); /* the same connection serves the next request */
    r = nth_response(1, 204);
}
END_TEST

START_TEST(get_on_api_put_is_405)
{
    feed("GET /api/put HTTP/1.1\r\nHost: x\r\n\r\n");
    nth_response(0, 405);
    ck_assert_int_eq(F.nemit, 0);
}
END_TEST

static size_t
gzip(const char *in, size_t n, char *out, size_t cap)
{
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    ck_assert_int_eq(deflateInit2(&zs, 6, Z_DEFLATED, 16 + MAX_WBITS, 8, Z_DEFAULT_STRATEGY),
                     Z_OK);
    zs.next_in = (Bytef *)in;
    zs.avail_in = (uInt)n;
    zs.next_out = (Bytef *)out;
    zs.avail_out = (uInt)cap;
    ck_assert_int_eq(deflate(&zs, Z_FINISH), Z_STREAM_END);
    size_t z = cap - zs.avail_out;
    deflateEnd(&zs);
    return z;
}

START_TEST(put_gzip_body)
{
    const char *body = "[" DP_OK1 "," DP_OK2 "]";
    char z[1024];
    size_t zn = gzip(body, strlen(body), z, sizeof(z));
    size_t n;
    char *req = put_request("?summary", "Content-Encoding: gzip\r\n", z, zn, &n);
    feed_in_steps(req, n, 7); /* the gzip body split across reads */
    struct resp r = nth_response(0, 200);
    json_t *j = body_json(&r);
    ck_assert_int_eq(json_int_at(j, "success", NULL), 2);
    json_decref(j);
    ck_assert_int_eq(F.nemit, 2);
}
END_TEST

START_TEST(put_gzip_garbage_is_400)
{
    size_t n;
    char *req = put_request("", "Content-Encoding: gzip\r\n", "not gzip at all", 15, &n);
    feed_in_steps(req, n, 0);
    struct resp r = nth_response(0, 400);
    json_t *j = body_json(&r);
    ck_assert_str_eq(json_str_at(j, "error", "message"), "Invalid gzip body");
    json_decref(j);
}
END_TEST

START_TEST(gzip_inflating_past_the_bound_is_413)
{
    /* 256 KiB of spaces (JSON whitespace) compress to a few hundred bytes */
    size_t big = 256u << 10;
    char *plain = malloc(big);
    ck_assert_ptr_nonnull(plain);
    memset(plain, ' ', big);
    char z[4096];
    size_t zn = gzip(plain, big, z, sizeof(z));
    free(plain);
    size_t n;
    char *req = put_request("", "Content-Encoding: gzip\r\n", z, zn, &n);
    feed_in_steps(req, n, 0);
    nth_response(0, 413);
    ck_assert(F.closed);
}
END_TEST

/* ---- bounds and framing ---------------------------------------------------- */

START_TEST(content_length_over_the_bound_is_413_before_any_body)
{
    feed("POST /api/put HTTP/1.1\r\nHost: x\r\nContent-Length: 104857600\r\n\r\n");
    struct resp r = nth_response(0, 413);
    ck_assert(has_header(&r, "Connection: close"));
    ck_assert(F.closed);
    /* no body memory was ever asked for */
    ck_assert_int_eq(F.body_asks, 0);
    ck_assert_uint_eq(F.body_out, 0);
}
END_TEST

/* Body memory is asked for on the Content-Length, at the end of the
 * headers; while the host has none, not a byte of the body is taken. */
START_TEST(body_waits_for_memory_without_taking_a_byte)
{
    F.body_later = true;
    size_t n;
    const char *body = "[" DP_OK1 "," DP_OK2 "]";
    char *req = put_request("", "", body, strlen(body), &n);
    enum http_state st;
    size_t took = http_feed(H, req, n, &st);
    ck_assert_int_eq(st, HTTP_WAIT_BODY);
    /* the headers but not their last LF, nor any of the body */
    ck_assert_uint_eq(took, n - strlen(body) - 1);
    ck_assert_int_eq(F.nemit, 0);
    ck_assert_uint_eq(F.resp_len, 0);
    ck_assert(http_in_request(H));
    took += http_feed(H, req + took, n - took, &st);
    ck_assert_int_eq(st, HTTP_READY);
    ck_assert_uint_eq(took, n);
    ck_assert_int_eq(F.body_asks, 2);
    nth_response(0, 204);
    ck_assert_int_eq(F.nemit, 2);
    ck_assert(!http_in_request(H));
}
END_TEST

/* A sink without room stops the request at the datapoint it could not
 * take; fed again, it carries on from there: every point exactly once,
 * and one answer counting them all. */
START_TEST(no_room_resumes_at_the_datapoint)
{
    char body[16384];
    size_t n = 0;
    body[n++] = '[';
    for (int i = 0; i < 50; i++)
        n += (size_t)snprintf(body + n, sizeof(body) - n,
                              "%s{\"metric\":\"m\",\"timestamp\":%d,\"value\":%d,"
                              "\"tags\":{\"h\":\"a\"}}%s",
                              i ? "," : "", 1500000000 + i, i, i == 25 ? ",{\"bad\":1}" : "");
    body[n++] = ']';
    body[n] = '\0';
    size_t rn;
    char *req = put_request("?summary", "", body, n, &rn);
    F.room = 7; /* full after 7 points, then one at a time */
    feed_in_steps(req, rn, 0);
    ck_assert_int_gt(F.waits_room, 5);
    struct resp r = nth_response(0, 400);
    json_t *j = body_json(&r);
    ck_assert_int_eq(json_int_at(j, "success", NULL), 50);
    ck_assert_int_eq(json_int_at(j, "failed", NULL), 1);
    json_decref(j);
    ck_assert_int_eq(F.nemit, 50);
    ck_assert_uint_eq(ST.received, 51);
    ck_assert_uint_eq(ST.invalid, 1);
    /* in order, none twice */
    const char *p = F.emitted;
    for (int i = 0; i < 50; i++) {
        char want[64];
        int k = snprintf(want, sizeof(want), "put m %d %d h=a\n", 1500000000 + i, i);
        ck_assert_msg(strncmp(p, want, (size_t)k) == 0, "point %d: %.40s", i, p);
        p += k;
    }
}
END_TEST

/* The same over gzip: the body is inflated again from its start and the
 * points before the stop are not sent twice. */
START_TEST(no_room_resumes_inside_a_gzip_body)
{
    static char plain[1 << 17];
    size_t n = 0;
    plain[n++] = '[';
    for (int i = 0; i < 800; i++) /* 52 KiB: under max-http-body-bytes */
        n += (size_t)snprintf(plain + n, sizeof(plain) - n,
                              "%s{\"metric\":\"m\",\"timestamp\":%d,\"value\":%d,"
                              "\"tags\":{\"h\":\"a\"}}",
                              i ? "," : "", 1500000000 + i, i);
    plain[n++] = ']';
    char z[1 << 16];
    size_t zn = gzip(plain, n, z, sizeof(z));
    size_t rn;
    char *req = put_request("", "Content-Encoding: gzip\r\n", z, zn, &rn);
    F.room = 300;
    feed_in_steps(req, rn, 0);
    nth_response(0, 204);
    ck_assert_int_gt(F.waits_room, 100);
    ck_assert_int_eq(F.nemit, 800);
    ck_assert_uint_eq(ST.received, 800);
}
END_TEST

START_TEST(chunked_body_past_the_bound_is_413)
{
    char req[8192];
    int k = snprintf(req, sizeof(req),
                     "POST /api/put HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n");
    feed_in_steps(req, (size_t)k, 0);
    /* 40 chunks of 4000 bytes: 160,000 > 64 KiB */
    char chunk[4100];
    int hk = snprintf(chunk, sizeof(chunk), "fa0\r\n");
    memset(chunk + hk, ' ', 4000);
    memcpy(chunk + hk + 4000, "\r\n", 2);
    for (int i = 0; i < 40 && !F.closed; i++)
        feed_in_steps(chunk, (size_t)hk + 4002, 0);
    nth_response(0, 413);
    ck_assert(F.closed);
}
END_TEST

START_TEST(byte_by_byte_equals_whole)
{
    size_t n;
    char *req = put_request("?details", "", "[" DP_OK1 "," DP_BAD "]",
                            strlen("[" DP_OK1 "," DP_BAD "]"), &n);
    char copy[4096];
    memcpy(copy, req, n);
    feed_in_steps(copy, n, 1);
    struct resp r = nth_response(0, 400);
    char first[4096];
    ck_assert_uint_lt(r.body_len, sizeof(first));
    memcpy(first, r.body, r.body_len);
    size_t first_len = r.body_len;
    feed_in_steps(copy, n, 0);
    r = nth_response(1, 400);
    ck_assert_uint_eq(r.body_len, first_len);
    ck_assert(memcmp(r.body, first, first_len) == 0);
    ck_assert_int_eq(F.nemit, 2);
}
END_TEST

START_TEST(pipelined_requests_answered_in_order)
{
    feed("GET /api/version HTTP/1.1\r\nHost: x\r\n\r\n"
         "GET /nope HTTP/1.1\r\nHost: x\r\n\r\n"
         "GET /api/version HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n");
    struct resp r = nth_response(0, 200);
    json_t *j = body_json(&r);
    ck_assert_str_eq(json_string_value(json_object_get(j, "version")), PACKAGE_VERSION);
    json_decref(j);
    r = nth_response(1, 404);
    r = nth_response(2, 200);
    ck_assert(has_header(&r, "Connection: close"));
    ck_assert(F.closed);
    ck_assert(!response(3, &r));
}
END_TEST

START_TEST(head_has_headers_and_no_body)
{
    feed("HEAD /api/version HTTP/1.1\r\nHost: x\r\n\r\n");
    ck_assert(strncmp(F.resp, "HTTP/1.1 200 ", 13) == 0);
    /* the Content-Length the GET answer would have ... */
    const char *cl = strstr(F.resp, "Content-Length: ");
    ck_assert_ptr_nonnull(cl);
    ck_assert_uint_gt(strtoul(cl + 16, NULL, 10), 0);
    /* ... and nothing after the headers */
    const char *hend = strstr(F.resp, "\r\n\r\n");
    ck_assert_ptr_nonnull(hend);
    ck_assert_uint_eq(F.resp_len, (size_t)(hend + 4 - F.resp));
    ck_assert(!F.closed);
}
END_TEST

START_TEST(http10_closes_after_the_answer)
{
    feed("GET /api/version HTTP/1.0\r\n\r\n");
    struct resp r = nth_response(0, 200);
    ck_assert(has_header(&r, "Connection: close"));
    ck_assert(F.closed);
}
END_TEST

/* One answer with this status, which closed the connection: nothing after it. */
static void
only_closing_answer(int status)
{
    struct resp r = nth_response(0, status);
    ck_assert(has_header(&r, "Connection: close"));
    ck_assert(F.closed);
    ck_assert(!response(1, &r));
}

/* What a read carries after a request that ends the connection is not
 * read: no answer, no point taken from it. */
START_TEST(nothing_read_after_an_http10_request)
{
    size_t n;
    char *put = put_request("", "", "[" DP_OK1 "]", strlen("[" DP_OK1 "]"), &n);
    char in[8192];
    int k = snprintf(in, sizeof(in), "GET /api/version HTTP/1.0\r\n\r\n%.*s", (int)n, put);
    feed_in_steps(in, (size_t)k, 0);
    only_closing_answer(200);
    ck_assert_int_eq(F.nemit, 0);
}
END_TEST

/* The same when the closing request waited for room first. */
START_TEST(nothing_read_after_a_closing_put_that_waited)
{
    F.room = 1;
    const char *body = "[" DP_OK1 "," DP_OK2 "]";
    size_t n;
    char *put = put_request("", "Connection: close\r\n", body, strlen(body), &n);
    char in[8192];
    memcpy(in, put, n);
    int k = snprintf(in + n, sizeof(in) - n, "GET /api/version HTTP/1.1\r\nHost: x\r\n\r\n");
    feed_in_steps(in, n + (size_t)k, 0);
    ck_assert_int_ge(F.waits_room, 1);
    only_closing_answer(204);
    ck_assert_int_eq(F.nemit, 2);
}
END_TEST

START_TEST(malformed_request_is_400_and_close)
{
    feed("GET / HTTP/1.1\r\nHost x no colon\r\n\r\n");
    struct resp r = nth_response(0, 400);
    ck_assert(F.closed);
    json_t *j = body_json(&r); /* the TSD's error shape even here */
    ck_assert_int_eq(json_int_at(j, "error", "code"), 400);
    json_decref(j);
}
END_TEST

START_TEST(post_on_version_is_405)
{
    feed("POST /api/version HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\n\r\n");
    nth_response(0, 405);
}
END_TEST

/* ---- health and stats ------------------------------------------------------ */

START_TEST(health_without_backends_is_503)
{
    feed("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    struct resp r = nth_response(0, 503);
    ck_assert_uint_eq(r.body_len, strlen("unhealthy: 0 of 0 backends up\n"));
    ck_assert(memcmp(r.body, "unhealthy: 0 of 0 backends up\n", r.body_len) == 0);
}
END_TEST

START_TEST(metrics_is_prometheus_text)
{
    feed("GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n");
    struct resp r = nth_response(0, 200);
    ck_assert(has_header(&r, "Content-Type: text/plain; version=0.0.4; charset=utf-8"));
    char *b = strndup(r.body, r.body_len);
    ck_assert_ptr_nonnull(strstr(b, "# HELP tsrelay_memory_limit "));
    ck_assert_ptr_nonnull(strstr(b, "# TYPE tsrelay_memory_limit gauge\n"));
    free(b);
}
END_TEST

START_TEST(api_stats_is_a_json_array)
{
    feed("GET /api/stats HTTP/1.1\r\nHost: x\r\n\r\n");
    struct resp r = nth_response(0, 200);
    json_t *j = body_json(&r);
    ck_assert(json_is_array(j));
    ck_assert_uint_gt(json_array_size(j), 10);
    json_t *e = json_array_get(j, 0);
    ck_assert(json_is_string(json_object_get(e, "metric")));
    ck_assert(json_is_integer(json_object_get(e, "timestamp")));
    ck_assert(json_is_object(json_object_get(e, "tags")));
    json_decref(j);
}
END_TEST

/* A ?sync request fed whole: it must wait (no answer yet). */
static void
post_sync(const char *query, const char *body, const char *then)
{
    size_t n;
    char *req = put_request(query, "", body, strlen(body), &n);
    char buf[1 << 16];
    memcpy(buf, req, n);
    size_t tl = then != NULL ? strlen(then) : 0;
    memcpy(buf + n, then ? then : "", tl);
    enum http_state st;
    size_t took = http_feed(H, buf, n + tl, &st);
    ck_assert_int_eq(st, HTTP_WAIT_SYNC);
    ck_assert_uint_eq(took, n); /* nothing after it is read */
    ck_assert(http_sync_waiting(H));
    ck_assert_uint_eq(F.resp_len, 0);
    /* fed again while it waits: still waiting, nothing taken */
    ck_assert_uint_eq(http_feed(H, "", 0, &st), 0);
    ck_assert_int_eq(st, HTTP_WAIT_SYNC);
    if (tl > 0) {
        ck_assert_uint_eq(http_feed(H, then, tl, &st), 0);
        ck_assert_int_eq(st, HTTP_WAIT_SYNC);
    }
}

/* The wait ends: the answer, then whatever was behind it. */
static void
sync_done(bool proven, const char *then)
{
    http_sync_done(H, proven);
    ck_assert(!http_sync_waiting(H));
    enum http_state st;
    http_feed(H, "", 0, &st);
    ck_assert_int_eq(st, HTTP_READY);
    if (then != NULL)
        feed(then);
    F.resp[F.resp_len] = '\0';
}

#define THREE "[{\"metric\":\"m\",\"timestamp\":1,\"value\":1,\"tags\":{\"a\":\"b\"}}," \
              "{\"metric\":\"m\",\"timestamp\":2,\"value\":2,\"tags\":{\"a\":\"b\"}}," \
              "{\"metric\":\"m\",\"timestamp\":3,\"value\":3,\"tags\":{\"a\":\"b\"}}]"

START_TEST(sync_waits_then_answers)
{
    post_sync("?sync&summary", THREE, NULL);
    ck_assert_int_eq(SY.begins, 1);
    ck_assert_int_eq(SY.emitted_at_begin, 0); /* marked before the first point */
    ck_assert_int_eq(SY.waits, 1);
    ck_assert_uint_eq(SY.timeout_ms, 0);      /* none given */
    ck_assert_int_eq(F.nemit, 3);
    sync_done(true, NULL);
    struct resp r;
    ck_assert(response(0, &r));
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "{\"success\":3,\"failed\":0}");
    F.resp_len = 0;
    post_sync("?sync", THREE, NULL); /* no summary: 204 */
    sync_done(true, NULL);
    ck_assert(response(0, &r));
    ck_assert_int_eq(r.status, 204);
}
END_TEST

START_TEST(sync_timeout_shapes)
{
    post_sync("?sync&sync_timeout=500&summary", THREE, NULL);
    ck_assert_uint_eq(SY.timeout_ms, 500);
    sync_done(false, NULL);
    struct resp r;
    ck_assert(response(0, &r));
    ck_assert_int_eq(r.status, 400);
    ck_assert_str_eq(r.body, "{\"success\":0,\"failed\":0,\"timeouts\":3}");
    F.resp_len = 0;
    post_sync("?sync&sync_timeout=500", THREE, NULL);
    sync_done(false, NULL);
    ck_assert(response(0, &r));
    ck_assert_int_eq(r.status, 400);
    ck_assert_ptr_nonnull(strstr(r.body, "The put call has timedout with 0 successful writes, "
                                         "0 failed writes and 3 timed out writes."));
    ck_assert_ptr_nonnull(strstr(r.body, "append \\\"details\\\" to the put request"));
}
END_TEST

START_TEST(sync_refused_point_and_check_failure)
{
    /* a point refused for good while it waits: failed, with the TSD's words; 200 */
    post_sync("?sync&sync_timeout=5000&details", THREE, NULL);
    http_sync_refused(H, "put m 2 2 a=b\n", 14, "Unknown metric", 14);
    sync_done(true, NULL);
    struct resp r;
    ck_assert(response(0, &r));
    ck_assert_int_eq(r.status, 200);
    json_error_t err;
    json_t *j = json_loadb(r.body, r.body_len, 0, &err);
    ck_assert_ptr_nonnull(j);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "success")), 2);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "failed")), 1);
    ck_assert_int_eq(json_integer_value(json_object_get(j, "timeouts")), 0);
    json_t *e = json_array_get(json_object_get(j, "errors"), 0);
    ck_assert_str_eq(json_string_value(json_object_get(e, "error")), "Unknown metric");
    ck_assert_int_eq(json_integer_value(json_object_get(json_object_get(e, "datapoint"),
                                                        "timestamp")), 2);
    json_decref(j);
    /* a point that fails the checks: 400 with ?summary, as the TSD */
    F.resp_len = 0;
    post_sync("?sync&summary", "[{\"metric\":\"m\",\"timestamp\":1,\"value\":1,"
              "\"tags\":{\"a\":\"b\"}},{\"metric\":\"\",\"timestamp\":1,\"value\":1,"
              "\"tags\":{\"a\":\"b\"}}]", NULL);
    sync_done(true, NULL);
    ck_assert(response(0, &r));
    ck_assert_int_eq(r.status, 400);
    ck_assert_str_eq(r.body, "{\"success\":1,\"failed\":1}");
}
END_TEST

START_TEST(sync_pipelined_request_waits_behind)
{
    const char *next = "GET /api/version HTTP/1.1\r\nHost: x\r\n\r\n";
    post_sync("?sync&summary", THREE, next);
    sync_done(true, next);
    struct resp r;
    ck_assert(response(0, &r));
    ck_assert_int_eq(r.status, 200);
    ck_assert(response(1, &r));
    ck_assert_int_eq(r.status, 200);
    ck_assert_ptr_nonnull(strstr(r.body, "\"version\""));
}
END_TEST

START_TEST(sync_answered_at_once_without_points)
{
    post("?sync&summary", "[{\"metric\":\"\",\"timestamp\":1,\"value\":1,"
                          "\"tags\":{\"a\":\"b\"}}]");
    struct resp r;
    ck_assert(response(0, &r));
    ck_assert_int_eq(r.status, 400);
    ck_assert_int_eq(SY.waits, 0);
}
END_TEST

START_TEST(sync_without_waits_answers_at_acceptance)
{
    post("?sync&summary", THREE); /* the plain host: no sync_wait */
    struct resp r;
    ck_assert(response(0, &r));
    ck_assert_int_eq(r.status, 200);
    ck_assert_str_eq(r.body, "{\"success\":3,\"failed\":0}");
}
END_TEST

static Suite *
http_suite(void)
{
    Suite *s = suite_create("http");
    TCase *t = tcase_create("http");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, put_valid_is_204_and_emits_canonical_lines);
    tcase_add_test(t, query_params_are_read_as_the_tsd_reads_them);
    tcase_add_test(t, put_single_object);
    tcase_add_test(t, put_errors_without_query_is_400_tsd_message);
    tcase_add_test(t, put_summary_all_ok_is_200);
    tcase_add_test(t, put_details_mixed_batch);
    tcase_add_test(t, put_details_and_summary_together);
    tcase_add_test(t, rollup_is_204_and_goes_as_rollup_lines);
    tcase_add_test(t, rollup_details_are_the_tsds);
    tcase_add_test(t, histogram_summary_and_details_are_the_tsds);
    tcase_add_test(t, get_on_the_writes_is_405);
    tcase_add_test(t, put_empty_array_is_400);
    tcase_add_test(t, put_malformed_json_is_400_and_keeps_the_connection);
    tcase_add_test(t, get_on_api_put_is_405);
    tcase_add_test(t, put_gzip_body);
    tcase_add_test(t, put_gzip_garbage_is_400);
    tcase_add_test(t, gzip_inflating_past_the_bound_is_413);
    tcase_add_test(t, content_length_over_the_bound_is_413_before_any_body);
    tcase_add_test(t, chunked_body_past_the_bound_is_413);
    tcase_add_test(t, body_waits_for_memory_without_taking_a_byte);
    tcase_add_test(t, no_room_resumes_at_the_datapoint);
    tcase_add_test(t, no_room_resumes_inside_a_gzip_body);
    tcase_add_test(t, byte_by_byte_equals_whole);
    tcase_add_test(t, pipelined_requests_answered_in_order);
    tcase_add_test(t, head_has_headers_and_no_body);
    tcase_add_test(t, http10_closes_after_the_answer);
    tcase_add_test(t, nothing_read_after_an_http10_request);
    tcase_add_test(t, nothing_read_after_a_closing_put_that_waited);
    tcase_add_test(t, malformed_request_is_400_and_close);
    tcase_add_test(t, post_on_version_is_405);
    tcase_add_test(t, health_without_backends_is_503);
    tcase_add_test(t, metrics_is_prometheus_text);
    tcase_add_test(t, api_stats_is_a_json_array);
    tcase_add_test(t, sync_without_waits_answers_at_acceptance);
    TCase *ts = tcase_create("sync");
    tcase_add_checked_fixture(ts, setup_sync, teardown);
    tcase_add_test(ts, sync_waits_then_answers);
    tcase_add_test(ts, sync_timeout_shapes);
    tcase_add_test(ts, sync_refused_point_and_check_failure);
    tcase_add_test(ts, sync_pipelined_request_waits_behind);
    tcase_add_test(ts, sync_answered_at_once_without_points);
    suite_add_tcase(s, ts);
    suite_add_tcase(s, t);
    return s;
}

UNIT_MAIN(http_suite)
