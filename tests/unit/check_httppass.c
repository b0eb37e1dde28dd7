/*
 * check_httppass.c -- unit tests of a passed request on the client's side
 * (src/input/httppass.c, driven by src/input/http.c): requests fed as
 * client.c feeds them to a connection whose pass-through is a recorder
 * that answers when the test says so.
 *
 * Covers: which paths are the relay's own and which pass (and none while
 * the pass-through is inactive); the head as received reaches it, and one
 * over max-http-header-bytes is a 431 that never does; a stats-only slot
 * gets 503; the body is fed no faster than its room (Content-Length and
 * chunked, in pieces), its end told once; the next pipelined request waits
 * for the passed answer, whose bytes come first; an error answered at
 * once skips the body and the connection goes on; a malformed chunked
 * body aborts the exchange with a 400 (nothing went out) or just closes
 * (something did); an abort mid-answer closes the connection; a client
 * gone mid-exchange aborts it once; the head's memory is charged and
 * given back.
 */
#include "autoconf.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "base/pool.h"
#include "base/util.h"
#include "input/http.h"
#include "input/httppass.h"
#include "unit.h"

static struct pool pool;
static struct http_conn *H;
static size_t used_at_start;

static struct {
    char resp[1 << 16];       /* every byte written back, replies and streams, in order */
    size_t resp_len;
    bool closed;
    bool active;
    /* the pass-through's view */
    struct httppass *p;
    int begins, ends, aborts, writables;
    char method[16], url[256], headers[4096];
    bool has_body, chunked;
    size_t room;              /* body bytes it takes now */
    char body[4096];
    size_t body_len;
    int fail_at_once;         /* begin answers this error at once */
    int wakes;
} F;

static bool
t_reply(void *ctx, const char *head, size_t hlen, const char *body, size_t blen, bool control,
        bool close)
{
    (void)ctx;
    (void)control;
    ck_assert_uint_lt(F.resp_len + hlen + blen, sizeof(F.resp));
    memcpy(F.resp + F.resp_len, head, hlen);
    memcpy(F.resp + F.resp_len + hlen, body, blen);
    F.resp_len += hlen + blen;
    F.resp[F.resp_len] = '\0';
    F.closed = F.closed || close;
    return true;
}

static size_t
t_stream(void *ctx, const char *data, size_t len)
{
    return t_reply(ctx, data, len, "", 0, false, false) ? len : 0;
}

static void
t_wake(void *ctx)
{
    (void)ctx;
    F.wakes++;
}

static int
t_body_alloc(void *ctx, size_t len, char **buf)
{
    (void)ctx;
    *buf = malloc(TS_MAX(len, (size_t)1));
    return TS_OK;
}

static void
t_body_free(void *ctx, char *buf, size_t len)
{
    (void)ctx;
    (void)len;
    free(buf);
}

/* The relay's own endpoint: "own PATH". */
static void
t_endpoint(void *ctx, struct http_conn *h, const struct http_request *req)
{
    (void)ctx;
    char body[300];
    int n = snprintf(body, sizeof(body), "own %.*s", (int)req->path_len, req->path);
    http_respond(h, 200, "text/plain", body, (size_t)n);
}

static bool
p_active(void *ctx)
{
    (void)ctx;
    return F.active;
}

static int
p_begin(void *ctx, struct httppass *p, const struct httppass_req *req, void **state)
{
    (void)ctx;
    F.begins++;
    F.p = p;
    *state = &F;
    snprintf(F.method, sizeof(F.method), "%s", req->method);
    snprintf(F.url, sizeof(F.url), "%.*s", (int)req->url_len, req->url);
    snprintf(F.headers, sizeof(F.headers), "%.*s", (int)req->headers_len, req->headers);
    F.has_body = req->has_body;
    F.chunked = req->chunked;
    if (F.fail_at_once)
        httppass_fail(p, F.fail_at_once, "The TSD could not be reached", "details");
    return TS_OK;
}

static size_t
p_body_room(void *state)
{
    ck_assert_ptr_eq(state, &F);
    return F.room;
}

static void
p_body(void *state, const char *data, size_t len)
{
    (void)state;
    ck_assert_uint_le(len, F.room); /* never more than its room */
    ck_assert_uint_lt(F.body_len + len, sizeof(F.body));
    memcpy(F.body + F.body_len, data, len);
    F.body_len += len;
    F.room -= len;
}

static void
p_body_end(void *state)
{
    (void)state;
    F.ends++;
}

static void
p_writable(void *state)
{
    (void)state;
    F.writables++;
}

static void
p_abort(void *state)
{
    ck_assert_ptr_eq(state, &F);
    F.aborts++;
    F.p = NULL;
}

static const struct httppass_ops pops = {
    .active = p_active,
    .begin = p_begin,
    .body_room = p_body_room,
    .body = p_body,
    .body_end = p_body_end,
    .writable = p_writable,
    .abort = p_abort,
};

static void
open_conn(bool data_allowed)
{
    struct http_host host = {
        .pool = &pool,
        .max_body = 1 << 16,
        .data_allowed = data_allowed,
        .reply = t_reply,
        .body_alloc = t_body_alloc,
        .body_free = t_body_free,
        .endpoint = t_endpoint,
        .pass = &pops,
        .origin = "10.0.0.7",
        .max_header = 1024,
        .stream = t_stream,
        .wake = t_wake,
    };
    H = http_conn_new(&host);
    ck_assert_ptr_nonnull(H);
}

static void
setup(void)
{
    memset(&F, 0, sizeof(F));
    F.active = true;
    F.room = SIZE_MAX;
    log_set_level(LOG_ERROR);
    ck_assert_int_eq(pool_init(&pool, 64 * 1024, 8u << 20, 1u << 20, 4u << 20), TS_OK);
    used_at_start = pool_used_bytes(&pool);
    open_conn(true);
}

static void
teardown(void)
{
    http_conn_free(H);
    ck_assert_uint_eq(pool_used_bytes(&pool), used_at_start); /* the head's memory is back */
    pool_destroy(&pool);
}

/* Feeds what is left of in[*off..n): returns the state. */
static enum http_state
feed_from(const char *in, size_t n, size_t *off)
{
    enum http_state st;
    size_t took = http_feed(H, in + *off, n - *off, &st);
    *off += took;
    return st;
}

static enum http_state
feed(const char *in)
{
    size_t off = 0;
    return feed_from(in, strlen(in), &off);
}

/* The pass-through answers the passed request: head and body, then done. */
static void
answer(const char *text)
{
    ck_assert_ptr_nonnull(F.p);
    ck_assert_uint_eq(httppass_send(F.p, text, strlen(text)), strlen(text));
    httppass_done(F.p, false);
}

START_TEST(test_relay_paths)
{
    static const char *const own[] = { "/api/put", "/api/put/", "/api/rollup", "/api/histogram/",
                                       "/tsrelay", "/tsrelay/", "/tsrelay/api/stats",
                                       "/metrics", "/health" };
    static const char *const passed[] = { "/", "/api/query", "/api/version", "/api/stats",
                                          "/tsrelayx", "/api/putx", "/q", "/metrics/x" };
    for (size_t i = 0; i < TS_ARRAY_LEN(own); i++)
        ck_assert_msg(httppass_relay_path(own[i], strlen(own[i])), "%s", own[i]);
    for (size_t i = 0; i < TS_ARRAY_LEN(passed); i++)
        ck_assert_msg(!httppass_relay_path(passed[i], strlen(passed[i])), "%s", passed[i]);
    ck_assert_int_eq(feed("GET /tsrelay/api/stats?x=1 HTTP/1.1\r\nHost: x\r\n\r\n"), HTTP_READY);
    ck_assert_int_eq(F.begins, 0);
    ck_assert_msg(strstr(F.resp, "own /tsrelay/api/stats") != NULL, "%s", F.resp);
    ck_assert_int_eq(feed("GET /api/query?start=1h-ago HTTP/1.1\r\nHost: x\r\n\r\n"),
                     HTTP_WAIT_PASS);
    ck_assert_int_eq(F.begins, 1);
    ck_assert_str_eq(F.method, "GET");
    ck_assert_str_eq(F.url, "/api/query?start=1h-ago");
    answer("HTTP/1.1 200 OK\r\nContent-Length: 0\r\n\r\n");
    ck_assert_int_gt(F.wakes, 0);
    ck_assert_int_eq(feed(""), HTTP_READY);
    F.active = false; /* a reload turned it off */
    feed("GET /api/query HTTP/1.1\r\nHost: x\r\n\r\n");
    ck_assert_int_eq(F.begins, 1);
    ck_assert_msg(strstr(F.resp, "own /api/query") != NULL, "%s", F.resp);
}
END_TEST

START_TEST(test_head_as_received)
{
    feed("GET /q HTTP/1.1\r\nHost: tsd\r\nX-A:  1 \r\nConnection: keep-alive\r\n\r\n");
    ck_assert_str_eq(F.headers, "Host: tsd\r\nX-A: 1 \r\nConnection: keep-alive\r\n");
    answer("HTTP/1.1 204 No Content\r\n\r\n");
    feed("");
    char big[1400];
    memset(big, 'v', sizeof(big) - 1);
    big[sizeof(big) - 1] = '\0';
    char req[2000];
    snprintf(req, sizeof(req), "GET /q HTTP/1.1\r\nHost: tsd\r\nX-Big: %s\r\n\r\n", big);
    ck_assert_int_eq(feed(req), HTTP_CLOSE);
    ck_assert_int_eq(F.begins, 1); /* never passed */
    ck_assert_msg(strstr(F.resp, "HTTP/1.1 431 ") != NULL &&
                  strstr(F.resp, "max-http-header-bytes") != NULL, "%s", F.resp);
}
END_TEST

START_TEST(test_stats_only_slot)
{
    http_conn_free(H);
    open_conn(false);
    ck_assert_int_eq(feed("GET /api/query HTTP/1.1\r\nHost: x\r\n\r\n"), HTTP_CLOSE);
    ck_assert_int_eq(F.begins, 0);
    ck_assert_msg(strstr(F.resp, "HTTP/1.1 503 ") != NULL && strstr(F.resp, "max-clients"),
                  "%s", F.resp);
}
END_TEST

/* Feeds req in 7-byte reads with the room opening by 13 bytes when it is
 * spent; the body must arrive whole, never past the room. */
static void
feed_by_room(const char *req)
{
    size_t off = 0, n = strlen(req);
    F.room = 0;
    for (int i = 0; i < 10000 && off < n; i++) {
        size_t k = TS_MIN(n - off, (size_t)7);
        enum http_state st;
        size_t took = http_feed(H, req + off, k, &st);
        off += took;
        if (st == HTTP_WAIT_PASS && F.room == 0)
            F.room = 13;
    }
    ck_assert_uint_eq(off, n);
}

START_TEST(test_body_by_room)
{
    static const char body[] = "0123456789abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGHIJ";
    char req[512];
    snprintf(req, sizeof(req), "POST /api/query HTTP/1.1\r\nHost: x\r\nContent-Length: %zu\r\n"
             "\r\n%s", strlen(body), body);
    feed_by_room(req);
    ck_assert(F.has_body && !F.chunked);
    ck_assert_uint_eq(F.body_len, strlen(body));
    ck_assert(memcmp(F.body, body, F.body_len) == 0);
    ck_assert_int_eq(F.ends, 1);
    answer("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    F.body_len = 0;
    F.ends = 0;
    feed("");
    snprintf(req, sizeof(req), "POST /api/query HTTP/1.1\r\nHost: x\r\n"
             "Transfer-Encoding: chunked\r\n\r\n1a\r\n%.26s\r\n%zx\r\n%s\r\n0\r\n\r\n",
             body, strlen(body) - 26, body + 26);
    feed_by_room(req);
    ck_assert(F.chunked);
    ck_assert_uint_eq(F.body_len, strlen(body));
    ck_assert(memcmp(F.body, body, F.body_len) == 0);
    ck_assert_int_eq(F.ends, 1);
    answer("HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok");
    ck_assert_int_eq(feed(""), HTTP_READY);
}
END_TEST

START_TEST(test_pipelined_in_order)
{
    static const char two[] = "GET /api/query HTTP/1.1\r\nHost: x\r\n\r\n"
                              "GET /health HTTP/1.1\r\nHost: x\r\n\r\n";
    size_t off = 0;
    ck_assert_int_eq(feed_from(two, strlen(two), &off), HTTP_WAIT_PASS);
    ck_assert_uint_lt(off, strlen(two)); /* the second waits, unread */
    ck_assert_uint_eq(F.resp_len, 0);
    ck_assert(http_passing(H));
    answer("HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\npassed");
    ck_assert_int_eq(feed_from(two, strlen(two), &off), HTTP_READY);
    ck_assert_uint_eq(off, strlen(two));
    const char *p = strstr(F.resp, "passed"), *o = strstr(F.resp, "own /health");
    ck_assert_msg(p != NULL && o != NULL && p < o, "%s", F.resp);
    ck_assert(!http_passing(H));
}
END_TEST

START_TEST(test_error_at_once)
{
    F.fail_at_once = 502;
    feed("POST /api/query HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhello"
         "GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
    ck_assert_msg(strstr(F.resp, "HTTP/1.1 502 Bad Gateway") != NULL &&
                  strstr(F.resp, "{\"error\":{\"code\":502") != NULL, "%s", F.resp);
    ck_assert_uint_eq(F.body_len, 0); /* skipped */
    ck_assert_msg(strstr(F.resp, "own /health") != NULL, "the connection goes on: %s", F.resp);
    ck_assert(!F.closed);
}
END_TEST

/* Found by fuzz_httppass: an answered request never gets a second answer,
 * and an answer that closes ends the reading. */
START_TEST(test_one_answer_per_request)
{
    F.fail_at_once = 502;
    ck_assert_int_eq(feed("POST /api/query HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked"
                          "\r\n\r\n5\r\nhello\r\nZZ\r\n"), HTTP_CLOSE);
    ck_assert_msg(strstr(F.resp, " 502 ") != NULL && strstr(F.resp, " 400 ") == NULL,
                  "one answer only: %s", F.resp);
    http_conn_free(H);
    F.resp_len = 0;
    F.resp[0] = '\0';
    F.closed = false;
    open_conn(true);
    ck_assert_int_eq(feed("POST /api/query HTTP/1.1\r\nHost: x\r\nConnection: close\r\n"
                          "Content-Length: 3\r\n\r\nabcGET /health HTTP/1.1\r\n\r\n"),
                     HTTP_CLOSE);
    ck_assert_msg(strstr(F.resp, " 502 ") != NULL && strstr(F.resp, "own /health") == NULL,
                  "nothing read after an answer that closes: %s", F.resp);
}
END_TEST

/* Found by fuzz_httppass: a head past the bound that is also malformed is
 * a 400 wherever the reads split it (the bound's verdict comes at the
 * head's end). */
START_TEST(test_head_verdict_at_its_end)
{
    char req[3000];
    int n = snprintf(req, sizeof(req), "GET /q HTTP/1.1\r\nX-Big: %01400d\r\nBad Header\r\n\r\n",
                     0);
    for (size_t step = 1; step <= 2048; step *= 8) {
        http_conn_free(H);
        F.resp_len = 0;
        F.resp[0] = '\0';
        open_conn(true);
        size_t off = 0;
        enum http_state st = HTTP_READY;
        while (off < (size_t)n && st != HTTP_CLOSE) {
            size_t k = TS_MIN((size_t)n - off, step);
            off += http_feed(H, req + off, k, &st);
        }
        ck_assert_msg(strstr(F.resp, "HTTP/1.1 400 ") != NULL, "reads of %zu: %s", step, F.resp);
    }
    ck_assert_int_eq(F.begins, 0);
}
END_TEST

START_TEST(test_malformed_body)
{
    ck_assert_int_eq(feed("POST /api/query HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked"
                          "\r\n\r\n5\r\nhello\r\nZZ\r\n"), HTTP_CLOSE);
    ck_assert_int_eq(F.aborts, 1);
    ck_assert_msg(strstr(F.resp, "HTTP/1.1 400 ") != NULL, "%s", F.resp);
    http_conn_free(H);
    F.resp_len = 0;
    F.resp[0] = '\0';
    open_conn(true);
    feed("POST /api/query HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n");
    httppass_send(F.p, "HTTP/1.1 200 OK\r\n", 17); /* bytes of an answer went out */
    ck_assert_int_eq(feed("ZZ\r\n"), HTTP_CLOSE);
    ck_assert_int_eq(F.aborts, 2);
    ck_assert_msg(strstr(F.resp, " 400 ") == NULL, "no 400 after an answer began: %s", F.resp);
}
END_TEST

START_TEST(test_abort_and_gone)
{
    feed("GET /api/query HTTP/1.1\r\nHost: x\r\n\r\nGET /health HTTP/1.1\r\n\r\n");
    httppass_send(F.p, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\nabc", 44);
    httppass_abort(F.p);
    ck_assert_int_eq(feed("GET /health HTTP/1.1\r\n\r\n"), HTTP_CLOSE);
    ck_assert_msg(strstr(F.resp, "own /health") == NULL, "%s", F.resp);
    ck_assert_int_eq(F.aborts, 0); /* it ended itself: not told again */
    http_conn_free(H);
    open_conn(true);
    feed("GET /api/query HTTP/1.1\r\nHost: x\r\n\r\n");
    ck_assert_int_eq(F.aborts, 0);
    http_conn_free(H); /* the client is gone mid-exchange */
    H = NULL;
    ck_assert_int_eq(F.aborts, 1);
    open_conn(true);
}
END_TEST

static Suite *
httppass_suite(void)
{
    Suite *s = suite_create("httppass");
    TCase *t = tcase_create("httppass");
    tcase_add_checked_fixture(t, setup, teardown);
    tcase_add_test(t, test_relay_paths);
    tcase_add_test(t, test_head_as_received);
    tcase_add_test(t, test_stats_only_slot);
    tcase_add_test(t, test_body_by_room);
    tcase_add_test(t, test_pipelined_in_order);
    tcase_add_test(t, test_error_at_once);
    tcase_add_test(t, test_one_answer_per_request);
    tcase_add_test(t, test_head_verdict_at_its_end);
    tcase_add_test(t, test_malformed_body);
    tcase_add_test(t, test_abort_and_gone);
    suite_add_tcase(s, t);
    return s;
}

UNIT_MAIN(httppass_suite)
