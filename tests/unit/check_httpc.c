/*
 * check_httpc.c -- unit tests of the HTTP client (src/output/httpc.c,
 * httpc_conn.c) on its own libev loop against a scripted HTTP server on
 * loopback (fake_http.h).
 *
 * Covers: a GET answered with a Content-Length body, its headers, Host
 * added; the next request reuses the connection (one accept), and an
 * idle connection gives its read block back; chunked bodies, a header
 * split across reads, a body read to the server's close (the connection
 * is not reused), "Connection: close"; HEAD, 100 Continue (skipped), 204,
 * 304 without bodies, and the connection kept; backpressure: a caller
 * that takes nothing gets nothing more until it resumes, the pool holds
 * one block, every byte arrives in order; pipelining: four requests in
 * flight on one connection once the server kept it alive, answered in
 * order; a connection closed before an answer (every pipelined request
 * lost, unanswered) and in the middle of one (lost, answered); no
 * progress (timeout), a caller that never takes the body (timeout), but
 * a caller whose request body comes slower than the timeout is no
 * server's stall (found by test_proxy_faults under load: a client's
 * chunked upload answered 504);
 * connect refused (the pool is down, refuses at once, backs off, then
 * connects), a connect that hangs (connect timeout); the wait bound;
 * request bodies by Content-Length and chunked, given in pieces as the
 * caller has them, and a large one; cancels (waiting: nothing; receiving:
 * the connection is closed and replaced); garbage and an overlong header;
 * a server that closes an idle connection; never more than `conns`
 * connections.
 */
#include "autoconf.h"

#include <check.h>
#include <ev.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output/httpc.h"
#include "output/httpc_conn.h"
#include "output/tls_client.h"
#include "base/log.h"
#include "base/pool.h"
#include "base/tls.h"
#include "base/util.h"
#include "unit.h"

#include "fake_http.h"
#include "test_certs.h"

#define WAIT_MS 3000

static struct ev_loop *loop;
static struct pool mem;
static struct fhttp S;
static struct httpc_pool *P;

/* A request with everything its callbacks saw. */
struct treq {
    struct httpc_req r;
    char target[256];
    int heads;                 /* on_head calls */
    struct httpc_head head;
    char hdrs[8192];           /* "name=value;" */
    char *body;
    size_t body_len;
    size_t quota;              /* body bytes it takes now (SIZE_MAX: all) */
    int body_calls;
    size_t max_used;           /* pool bytes in use seen at on_body */
    bool done;
    enum httpc_result res;
    /* the request body, given out in pieces */
    const char *src;
    size_t src_avail;          /* bytes body_next may give now */
    size_t src_off;            /* bytes sent */
    bool src_end;
};

static size_t
t_body_next(struct httpc_req *r, const char **data, bool *end)
{
    struct treq *t = container_of(r, struct treq, r);
    *data = t->src + t->src_off;
    *end = t->src_end && t->src_off == t->src_avail;
    return t->src_avail - t->src_off;
}

static void
t_body_sent(struct httpc_req *r, size_t n)
{
    struct treq *t = container_of(r, struct treq, r);
    t->src_off += n;
    ck_assert_uint_le(t->src_off, t->src_avail);
}

static void
t_on_header(struct httpc_req *r, const char *name, size_t nlen, const char *value, size_t vlen)
{
    struct treq *t = container_of(r, struct treq, r);
    size_t n = strlen(t->hdrs);
    snprintf(t->hdrs + n, sizeof(t->hdrs) - n, "%.*s=%.*s;", (int)nlen, name, (int)vlen, value);
}

static void
t_on_head(struct httpc_req *r, const struct httpc_head *h)
{
    struct treq *t = container_of(r, struct treq, r);
    t->heads++;
    t->head = *h;
    t->head.reason = NULL;
}

static size_t
t_on_body(struct httpc_req *r, const char *data, size_t len)
{
    struct treq *t = container_of(r, struct treq, r);
    t->body_calls++;
    t->max_used = TS_MAX(t->max_used, pool_used_bytes(&mem));
    size_t take = TS_MIN(len, t->quota);
    t->body = realloc(t->body, t->body_len + take + 1);
    memcpy(t->body + t->body_len, data, take);
    t->body_len += take;
    t->body[t->body_len] = '\0';
    if (t->quota != SIZE_MAX)
        t->quota -= take;
    return take;
}

static void
t_on_done(struct httpc_req *r, enum httpc_result res)
{
    struct treq *t = container_of(r, struct treq, r);
    ck_assert(!t->done);
    t->done = true;
    t->res = res;
}

static const struct httpc_req_ops tops = {
    .body_next = t_body_next,
    .body_sent = t_body_sent,
    .on_header = t_on_header,
    .on_head = t_on_head,
    .on_body = t_on_body,
    .on_done = t_on_done,
};

static struct treq *
treq_new(const char *method, const char *target)
{
    struct treq *t = calloc(1, sizeof(*t));
    ck_assert_ptr_nonnull(t);
    snprintf(t->target, sizeof(t->target), "%s", target);
    t->r.ops = &tops;
    t->r.method = method;
    t->r.target = t->target;
    t->r.target_len = strlen(t->target);
    t->r.headers = "X-Test: 1\r\n";
    t->r.headers_len = strlen(t->r.headers);
    t->r.head = strcmp(method, "HEAD") == 0;
    t->quota = SIZE_MAX;
    return t;
}

static void
treq_free(struct treq *t)
{
    free(t->body);
    free(t);
}

static void
run_for(int ms)
{
    double end = ev_time() + ms / 1000.0;
    while (ev_time() < end)
        ev_run(loop, EVRUN_ONCE | EVRUN_NOWAIT), usleep(500);
}

/* Runs the loop until *flag (or fails after WAIT_MS). */
static void
wait_done(struct treq *t)
{
    double end = ev_time() + WAIT_MS / 1000.0;
    while (!t->done && ev_time() < end)
        ev_run(loop, EVRUN_ONCE);
    ck_assert_msg(t->done, "request %s not done within %d ms", t->target, WAIT_MS);
}

static void
submit_ok(struct treq *t)
{
    ck_assert_int_eq(httpc_submit(P, &t->r), TS_OK);
}

static struct httpc_opts
opts(int conns, int pipeline)
{
    struct httpc_opts o = {
        .name = "test",
        .host = "127.0.0.1",
        .port = S.port_s,
        .conns = conns,
        .pipeline = pipeline,
        .connect_ms = 1000,
        .timeout_ms = 2000,
        .wait_ms = 2000,
        .backoff_min_ms = 50,
        .backoff_max_ms = 200,
        .resolve_timeout_ms = 1000,
        .cls = POOL_INPUT,
    };
    return o;
}

static void
new_pool(int conns, int pipeline)
{
    struct httpc_opts o = opts(conns, pipeline);
    P = httpc_pool_new(loop, &mem, &o);
    ck_assert_ptr_nonnull(P);
}

/* ---- scripts ------------------------------------------------------------ */

/* Answers "ok <target>" to every request. */
static void
echo_target(struct fhttp *s, struct fhttp_conn *c, struct fhttp_req *r)
{
    (void)s;
    char body[600];
    snprintf(body, sizeof(body), "ok %s", r->target);
    fhttp_answer(c, 200, "X-A: 1\r\n", body);
}

static void
setup(void)
{
    signal(SIGPIPE, SIG_IGN);
    log_init(LOG_ERROR, NULL, 64 * 1024);
    loop = ev_loop_new(EVFLAG_AUTO);
    ck_assert_int_eq(pool_init(&mem, 64 * 1024, 16u << 20, 1u << 20, 8u << 20), TS_OK);
    fhttp_open(&S, loop, true);
    S.on_request = echo_target;
    P = NULL;
}

static void
teardown(void)
{
    httpc_pool_free(P);
    P = NULL;
    fhttp_free(&S);
    pool_destroy(&mem);
    ev_loop_destroy(loop);
    log_close();
}

/* ---- tests ------------------------------------------------------------- */

START_TEST(test_get_keepalive)
{
    new_pool(2, 1);
    struct treq *a = treq_new("GET", "/api/version");
    submit_ok(a);
    wait_done(a);
    ck_assert_int_eq(a->res, HTTPC_OK);
    ck_assert_int_eq(a->heads, 1);
    ck_assert_int_eq(a->head.status, 200);
    ck_assert(a->head.keep_alive && a->head.has_length && a->head.body);
    ck_assert_str_eq(a->body, "ok /api/version");
    ck_assert_msg(strstr(a->hdrs, "X-A=1;") != NULL, "headers: %s", a->hdrs);
    ck_assert(a->r.sent && a->r.answered && !a->r.reused);
    char host[64];
    snprintf(host, sizeof(host), "Host: 127.0.0.1:%d\r\n", S.port);
    ck_assert_msg(strstr(S.reqs[0].headers, host) != NULL, "%s", S.reqs[0].headers);
    ck_assert(strstr(S.reqs[0].headers, "X-Test: 1\r\n") != NULL);
    ck_assert_str_eq(S.reqs[0].method, "GET");
    ck_assert_str_eq(S.reqs[0].target, "/api/version");
    ck_assert_uint_eq(pool_used_bytes(&mem), 0); /* idle: its block went back */
    struct treq *b = treq_new("GET", "/q?x=1");
    submit_ok(b);
    wait_done(b);
    ck_assert_int_eq(b->res, HTTPC_OK);
    ck_assert_str_eq(b->body, "ok /q?x=1");
    ck_assert(b->r.reused);
    ck_assert_int_eq(S.naccepted, 1);
    ck_assert_int_eq(S.reqs[1].conn, 0);
    ck_assert_int_eq(httpc_pool_conns_open(P), 1);
    ck_assert_int_eq(httpc_pool_conns_busy(P), 0);
    ck_assert_uint_eq(httpc_pool_stats(P)->responses, 2);
    ck_assert_uint_eq(httpc_pool_stats(P)->status[2], 2);
    treq_free(a);
    treq_free(b);
}
END_TEST

static void
answer_chunked(struct fhttp *s, struct fhttp_conn *c, struct fhttp_req *r)
{
    (void)s;
    (void)r;
    fhttp_send_str(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n");
    fhttp_send_str(c, "5\r\nhello\r\n");
    fhttp_send_str(c, "1;ext=1\r\n \r\n6\r\nworld!\r\n0\r\nTrailer: x\r\n\r\n");
}

static void
answer_to_eof(struct fhttp *s, struct fhttp_conn *c, struct fhttp_req *r)
{
    (void)s;
    (void)r;
    fhttp_send_str(c, "HTTP/1.0 200 OK\r\nContent-Type: text/plain\r\n\r\nread to the end");
    fhttp_close_after(c);
}

static void
answer_close(struct fhttp *s, struct fhttp_conn *c, struct fhttp_req *r)
{
    (void)s;
    (void)r;
    fhttp_answer(c, 200, "Connection: close\r\n", "bye");
    fhttp_close_after(c);
}

START_TEST(test_bodies_and_closes)
{
    new_pool(1, 1);
    S.on_request = answer_chunked;
    struct treq *a = treq_new("GET", "/chunked");
    submit_ok(a);
    wait_done(a);
    ck_assert_int_eq(a->res, HTTPC_OK);
    ck_assert(a->head.chunked && !a->head.has_length);
    ck_assert_str_eq(a->body, "hello world!");
    S.on_request = answer_to_eof;
    struct treq *b = treq_new("GET", "/eof");
    submit_ok(b);
    wait_done(b);
    ck_assert_int_eq(b->res, HTTPC_OK);
    ck_assert(!b->head.keep_alive);
    ck_assert_str_eq(b->body, "read to the end");
    ck_assert_int_eq(S.naccepted, 1);
    S.on_request = answer_close;
    struct treq *c = treq_new("GET", "/close");
    submit_ok(c);
    wait_done(c);
    ck_assert_int_eq(c->res, HTTPC_OK);
    ck_assert_str_eq(c->body, "bye");
    ck_assert_int_eq(S.naccepted, 2); /* not reused after a body read to EOF */
    S.on_request = echo_target;
    struct treq *d = treq_new("GET", "/after");
    submit_ok(d);
    wait_done(d);
    ck_assert_int_eq(d->res, HTTPC_OK);
    ck_assert_int_eq(S.naccepted, 3); /* nor after Connection: close */
    ck_assert_uint_eq(httpc_pool_stats(P)->lost, 0);
    treq_free(a);
    treq_free(b);
    treq_free(c);
    treq_free(d);
}
END_TEST

/* A head split across reads: the first part now, the rest later. */
static struct fhttp_conn *split_conn;

static void
answer_split(struct fhttp *s, struct fhttp_conn *c, struct fhttp_req *r)
{
    (void)s;
    (void)r;
    split_conn = c;
    fhttp_send_str(c, "HTTP/1.1 200 OK\r\nX-Lo");
}

START_TEST(test_header_split)
{
    new_pool(1, 1);
    S.on_request = answer_split;
    split_conn = NULL;
    struct treq *a = treq_new("GET", "/split");
    submit_ok(a);
    double end = ev_time() + WAIT_MS / 1000.0;
    while (!a->r.answered && ev_time() < end)
        ev_run(loop, EVRUN_ONCE);
    ck_assert(a->r.answered && !a->done);
    fhttp_send_str(split_conn, "ng: ab");
    run_for(20);
    fhttp_send_str(split_conn, "c\r\nContent-Length: 2\r\n\r\nok");
    wait_done(a);
    ck_assert_int_eq(a->res, HTTPC_OK);
    ck_assert_msg(strstr(a->hdrs, "X-Long=abc;") != NULL, "%s", a->hdrs);
    ck_assert_str_eq(a->body, "ok");
    treq_free(a);
}
END_TEST

static void
answer_no_bodies(struct fhttp *s, struct fhttp_conn *c, struct fhttp_req *r)
{
    (void)s;
    if (strcmp(r->method, "HEAD") == 0)
        fhttp_send_str(c, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
    else if (strcmp(r->target, "/continue") == 0)
        fhttp_send_str(c, "HTTP/1.1 100 Continue\r\nX-Interim: 1\r\n\r\n"
                          "HTTP/1.1 201 Created\r\nContent-Length: 4\r\n\r\ndone");
    else if (strcmp(r->target, "/204") == 0)
        fhttp_send_str(c, "HTTP/1.1 204 No Content\r\n\r\n");
    else
        fhttp_send_str(c, "HTTP/1.1 304 Not Modified\r\nContent-Length: 50\r\n\r\n");
}

START_TEST(test_no_body_answers)
{
    new_pool(1, 1);
    S.on_request = answer_no_bodies;
    const char *methods[] = { "HEAD", "GET", "GET", "GET" };
    const char *targets[] = { "/head", "/continue", "/204", "/304" };
    const int want[] = { 200, 201, 204, 304 };
    const char *bodies[] = { NULL, "done", NULL, NULL };
    for (int i = 0; i < 4; i++) {
        struct treq *t = treq_new(methods[i], targets[i]);
        submit_ok(t);
        wait_done(t);
        ck_assert_msg(t->res == HTTPC_OK, "%s %s: %s", methods[i], targets[i],
                      httpc_result_name(t->res));
        ck_assert_int_eq(t->heads, 1);
        ck_assert_int_eq(t->head.status, want[i]);
        ck_assert_int_eq(t->head.body, bodies[i] != NULL);
        if (bodies[i] != NULL)
            ck_assert_str_eq(t->body, bodies[i]);
        else
            ck_assert_uint_eq(t->body_len, 0);
        ck_assert_msg(strstr(t->hdrs, "X-Interim") == NULL, "interim headers shown");
        treq_free(t);
    }
    ck_assert_int_eq(S.naccepted, 1); /* kept alive throughout */
    ck_assert_uint_eq(httpc_pool_stats(P)->status[1], 1);
}
END_TEST

/* 3 MiB in a pattern, Content-Length. */
#define BIG (3u << 20)
static char *big;

static void
answer_big(struct fhttp *s, struct fhttp_conn *c, struct fhttp_req *r)
{
    (void)s;
    (void)r;
    char head[128];
    int n = snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %u\r\n\r\n", BIG);
    fhttp_send(c, head, (size_t)n);
    fhttp_send(c, big, BIG);
}

static void
make_big(void)
{
    big = malloc(BIG);
    for (unsigned i = 0; i < BIG; i++)
        big[i] = (char)('a' + (i * 7 + i / 4096) % 26);
}

START_TEST(test_backpressure)
{
    new_pool(1, 1);
    make_big();
    S.on_request = answer_big;
    struct treq *a = treq_new("GET", "/big");
    a->quota = 1000;
    submit_ok(a);
    double end = ev_time() + WAIT_MS / 1000.0;
    while (a->body_len < 1000 && ev_time() < end)
        ev_run(loop, EVRUN_ONCE);
    ck_assert_uint_eq(a->body_len, 1000);
    int calls = a->body_calls;
    run_for(100); /* takes nothing: nothing more is offered, nothing read */
    ck_assert_int_eq(a->body_calls, calls);
    ck_assert(!a->done);
    ck_assert_uint_le(pool_used_bytes(&mem), mem.block_size);
    end = ev_time() + 10.0;
    while (!a->done && ev_time() < end) {
        a->quota = 50000;
        httpc_resume(&a->r);
        ev_run(loop, EVRUN_ONCE);
    }
    ck_assert(a->done);
    ck_assert_int_eq(a->res, HTTPC_OK);
    ck_assert_uint_eq(a->body_len, BIG);
    ck_assert(memcmp(a->body, big, BIG) == 0);
    ck_assert_uint_le(a->max_used, mem.block_size);
    ck_assert_uint_gt(httpc_pool_stats(P)->pauses, 10);
    free(big);
    treq_free(a);
}
END_TEST

/* Answers only once 5 requests came on the connection: 1, then 4 more. */
static void
answer_in_batches(struct fhttp *s, struct fhttp_conn *c, struct fhttp_req *r)
{
    (void)r;
    if (c->nreq != 1 && c->nreq < 5)
        return;
    for (int i = 0; i < s->nreqs; i++) {
        if (s->reqs[i].conn != c->idx || (c->nreq == 5 && s->reqs[i].nth == 0))
            continue;
        char body[600];
        snprintf(body, sizeof(body), "ok %s", s->reqs[i].target);
        fhttp_answer(c, 200, NULL, body);
    }
}

START_TEST(test_pipelining)
{
    new_pool(1, 4);
    S.on_request = answer_in_batches;
    struct treq *first = treq_new("GET", "/first");
    submit_ok(first);
    wait_done(first);
    ck_assert_int_eq(first->res, HTTPC_OK);
    struct treq *t[4];
    for (int i = 0; i < 4; i++) {
        char target[32];
        snprintf(target, sizeof(target), "/p%d", i);
        t[i] = treq_new("GET", target);
        submit_ok(t[i]);
    }
    for (int i = 0; i < 4; i++)
        wait_done(t[i]);
    for (int i = 0; i < 4; i++) {
        char want[32];
        snprintf(want, sizeof(want), "ok /p%d", i);
        ck_assert_int_eq(t[i]->res, HTTPC_OK);
        ck_assert_str_eq(t[i]->body, want);
        treq_free(t[i]);
    }
    ck_assert_int_eq(S.naccepted, 1);
    ck_assert_int_eq(S.nreqs, 5);
    treq_free(first);
}
END_TEST

/* Closes the connection once `close_at` requests came on it. */
static int close_at;

static void
close_unanswered(struct fhttp *s, struct fhttp_conn *c, struct fhttp_req *r)
{
    (void)s;
    (void)r;
    if (c->nreq == 1 && close_at > 1) {
        fhttp_answer(c, 200, NULL, "x"); /* keep-alive shown: pipelining on */
        return;
    }
    if (c->nreq >= close_at)
        fhttp_conn_close(c);
}

START_TEST(test_lost_before_answer)
{
    new_pool(1, 4);
    S.on_request = close_unanswered;
    close_at = 1;
    struct treq *a = treq_new("POST", "/once");
    a->r.body = HTTPC_BODY_LENGTH;
    a->r.body_len = 3;
    a->src = "abc";
    a->src_avail = 3;
    submit_ok(a);
    wait_done(a);
    ck_assert_int_eq(a->res, HTTPC_LOST);
    ck_assert(a->r.sent && !a->r.answered);
    close_at = 4; /* the first answered, then 3 in flight, closed */
    struct treq *first = treq_new("GET", "/first");
    submit_ok(first);
    wait_done(first);
    ck_assert_int_eq(first->res, HTTPC_OK);
    struct treq *t[3];
    for (int i = 0; i < 3; i++) {
        t[i] = treq_new("GET", "/lost");
        submit_ok(t[i]);
    }
    for (int i = 0; i < 3; i++) {
        wait_done(t[i]);
        ck_assert_int_eq(t[i]->res, HTTPC_LOST);
        ck_assert(t[i]->r.sent && !t[i]->r.answered);
        treq_free(t[i]);
    }
    ck_assert_uint_eq(httpc_pool_stats(P)->lost, 4);
    treq_free(a);
    treq_free(first);
}
END_TEST

static void
close_mid_answer(struct fhttp *s, struct fhttp_conn *c, struct fhttp_req *r)
{
    (void)s;
    (void)r;
    char half[500];
    memset(half, 'h', sizeof(half));
    fhttp_send_str(c, "HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n");
    fhttp_send(c, half, sizeof(half));
    fhttp_close_after(c);
}

START_TEST(test_lost_mid_answer)
{
    new_pool(1, 1);
    S.on_request = close_mid_answer;
    struct treq *a = treq_new("GET", "/half");
    submit_ok(a);
    wait_done(a);
    ck_assert_int_eq(a->res, HTTPC_LOST);
    ck_assert(a->r.answered);
    ck_assert_int_eq(a->heads, 1);
    ck_assert_uint_eq(a->body_len, 500);
    treq_free(a);
}
END_TEST

static void
stay_silent(struct fhttp *s, struct fhttp_conn *c, struct fhttp_req *r)
{
    (void)s;
    (void)c;
    (void)r;
}

START_TEST(test_timeouts)
{
    struct httpc_opts o = opts(1, 1);
    o.timeout_ms = 200;
    P = httpc_pool_new(loop, &mem, &o);
    S.on_request = stay_silent;
    struct treq *a = treq_new("GET", "/stall");
    double t0 = ev_time();
    submit_ok(a);
    wait_done(a);
    double took = ev_time() - t0;
    ck_assert_int_eq(a->res, HTTPC_TIMEOUT);
    ck_assert_msg(took >= 0.19 && took < 1.5, "timed out after %.3f s", took);
    /* a caller that never takes the body: no progress either */
    S.on_request = answer_chunked;
    struct treq *b = treq_new("GET", "/never-read");
    b->quota = 0;
    submit_ok(b);
    wait_done(b);
    ck_assert_int_eq(b->res, HTTPC_TIMEOUT);
    ck_assert_uint_eq(httpc_pool_stats(P)->timeouts, 2);
    treq_free(a);
    treq_free(b);
}
END_TEST

START_TEST(test_connect_refused)
{
    fhttp_free(&S);
    fhttp_open(&S, loop, false); /* bound, not listening: refused */
    S.on_request = echo_target;
    new_pool(2, 1);
    struct treq *a = treq_new("GET", "/refused");
    submit_ok(a);
    wait_done(a);
    ck_assert_int_eq(a->res, HTTPC_CONNECT_FAILED);
    ck_assert(!a->r.sent);
    ck_assert(httpc_pool_down(P));
    struct treq *b = treq_new("GET", "/while-down");
    ck_assert_int_eq(httpc_submit(P, &b->r), TS_EAGAIN);
    fhttp_listen(&S, 64);
    double end = ev_time() + 1.0;
    while (httpc_pool_down(P) && ev_time() < end)
        run_for(10);
    ck_assert(!httpc_pool_down(P)); /* backoff: 50 ms jittered */
    submit_ok(b);
    wait_done(b);
    ck_assert_int_eq(b->res, HTTPC_OK);
    ck_assert_uint_eq(httpc_pool_stats(P)->connect_errors, 1);
    treq_free(a);
    treq_free(b);
}
END_TEST

START_TEST(test_connect_timeout)
{
    fhttp_free(&S);
    fhttp_open(&S, loop, false);
    ck_assert_int_eq(listen(S.lfd, 0), 0); /* never accepted: the queue fills */
    int fill[3];
    for (int i = 0; i < 3; i++) {
        fill[i] = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
        struct sockaddr_in a = { .sin_family = AF_INET, .sin_port = htons((uint16_t)S.port),
                                 .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
        (void)connect(fill[i], (struct sockaddr *)&a, sizeof(a));
    }
    run_for(50);
    struct httpc_opts o = opts(1, 1);
    o.connect_ms = 150;
    P = httpc_pool_new(loop, &mem, &o);
    struct treq *a = treq_new("GET", "/hangs");
    double t0 = ev_time();
    submit_ok(a);
    wait_done(a);
    double took = ev_time() - t0;
    ck_assert_int_eq(a->res, HTTPC_CONNECT_FAILED);
    ck_assert_msg(took >= 0.14 && took < 1.0, "gave up after %.3f s", took);
    for (int i = 0; i < 3; i++)
        close(fill[i]);
    treq_free(a);
}
END_TEST

START_TEST(test_wait_bound)
{
    struct httpc_opts o = opts(1, 1);
    o.wait_ms = 150;
    P = httpc_pool_new(loop, &mem, &o);
    S.on_request = stay_silent;
    struct treq *a = treq_new("GET", "/holds");
    struct treq *b = treq_new("GET", "/waits");
    submit_ok(a);
    submit_ok(b);
    run_for(20);
    ck_assert_uint_eq(httpc_pool_waiting(P), 1);
    double t0 = ev_time();
    wait_done(b);
    ck_assert_int_eq(b->res, HTTPC_WAIT_TIMEOUT);
    ck_assert(!b->r.sent);
    ck_assert(ev_time() - t0 < 1.0);
    ck_assert(!a->done);
    httpc_cancel(&a->r);
    run_for(20);
    ck_assert(!a->done);
    ck_assert_int_eq(S.nreqs, 1);
    treq_free(a);
    treq_free(b);
}
END_TEST

static void
answer_body_len(struct fhttp *s, struct fhttp_conn *c, struct fhttp_req *r)
{
    (void)s;
    char body[64];
    snprintf(body, sizeof(body), "%zu", r->body_len);
    fhttp_answer(c, 200, NULL, body);
}

/* A request body's text. */
static const char body_text[] = "0123456789abcdefghijklmnopqrstuvwxyz";

/* Gives the body in three pieces, pause_ms apart, with body_ready: the
 * request cannot be done before its last piece. */
static void
feed_in_pieces(struct treq *t, size_t total, int pause_ms)
{
    for (int k = 1; k <= 3; k++) {
        run_for(pause_ms);
        ck_assert(!t->done);
        t->src_avail = total * (size_t)k / 3;
        t->src_end = k == 3;
        httpc_body_ready(&t->r);
    }
}

START_TEST(test_request_bodies)
{
    new_pool(1, 1);
    S.on_request = answer_body_len;
    const char *text = body_text;
    size_t n = sizeof(body_text) - 1;
    struct treq *a = treq_new("POST", "/length");
    a->r.body = HTTPC_BODY_LENGTH;
    a->r.body_len = n;
    a->src = text;
    submit_ok(a);
    feed_in_pieces(a, n, 10);
    wait_done(a);
    ck_assert_int_eq(a->res, HTTPC_OK);
    ck_assert_str_eq(S.reqs[0].body, text);
    ck_assert(!S.reqs[0].chunked);
    struct treq *b = treq_new("PUT", "/chunked");
    b->r.body = HTTPC_BODY_CHUNKED;
    b->src = text;
    submit_ok(b);
    feed_in_pieces(b, n, 10);
    wait_done(b);
    ck_assert_int_eq(b->res, HTTPC_OK);
    ck_assert_str_eq(S.reqs[1].body, text);
    ck_assert(S.reqs[1].chunked);
    ck_assert_str_eq(S.reqs[1].method, "PUT");
    /* chunked with the body all there at the first write: the head's seven
     * pieces, the chunk's framing and its bytes in one writev (found by
     * ASan in test_proxy_faults: the iovec array held eight) */
    struct treq *d = treq_new("POST", "/chunked-at-once");
    d->r.body = HTTPC_BODY_CHUNKED;
    d->src = text;
    d->src_avail = n;
    d->src_end = true;
    submit_ok(d);
    wait_done(d);
    ck_assert_int_eq(d->res, HTTPC_OK);
    ck_assert_str_eq(S.reqs[2].body, text);
    ck_assert(S.reqs[2].chunked);
    make_big();
    struct treq *c = treq_new("POST", "/big");
    c->r.body = HTTPC_BODY_LENGTH;
    c->r.body_len = BIG;
    c->src = big;
    c->src_avail = BIG;
    submit_ok(c);
    wait_done(c);
    ck_assert_int_eq(c->res, HTTPC_OK);
    ck_assert_uint_eq(S.reqs[3].body_len, BIG);
    ck_assert(memcmp(S.reqs[3].body, big, BIG) == 0);
    ck_assert_int_eq(S.naccepted, 1);
    free(big);
    treq_free(a);
    treq_free(b);
    treq_free(c);
    treq_free(d);
}
END_TEST

/* The caller's body comes in pieces 2.5 timeouts apart: the wait is the
 * caller's, not the server's -- the request completes, chunked or not. */
START_TEST(test_slow_body_is_not_a_timeout)
{
    struct httpc_opts o = opts(1, 1);
    o.timeout_ms = 200;
    P = httpc_pool_new(loop, &mem, &o);
    S.on_request = answer_body_len;
    const char *text = body_text;
    size_t n = sizeof(body_text) - 1;
    for (int chunked = 0; chunked < 2; chunked++) {
        struct treq *a = treq_new("POST", "/slow");
        a->r.body = chunked ? HTTPC_BODY_CHUNKED : HTTPC_BODY_LENGTH;
        a->r.body_len = chunked ? 0 : n;
        a->src = text;
        submit_ok(a);
        feed_in_pieces(a, n, 500);
        wait_done(a);
        ck_assert_int_eq(a->res, HTTPC_OK);
        ck_assert_str_eq(S.reqs[chunked].body, text);
        treq_free(a);
    }
    ck_assert_uint_eq(httpc_pool_stats(P)->timeouts, 0);
}
END_TEST

START_TEST(test_cancel)
{
    new_pool(1, 1);
    S.on_request = answer_chunked;
    struct treq *a = treq_new("GET", "/receiving");
    a->quota = 2; /* paused in the middle of the body */
    struct treq *b = treq_new("GET", "/waiting");
    submit_ok(a);
    submit_ok(b);
    double end = ev_time() + WAIT_MS / 1000.0;
    while (a->body_len < 2 && ev_time() < end)
        ev_run(loop, EVRUN_ONCE);
    ck_assert_uint_eq(a->body_len, 2);
    httpc_cancel(&b->r);
    httpc_cancel(&a->r);
    free(b); /* the caller's memory is its own again at once */
    run_for(50);
    ck_assert(!a->done);
    ck_assert(S.c[0].eof || S.c[0].fd < 0); /* its connection was closed */
    S.on_request = echo_target;
    struct treq *c = treq_new("GET", "/next");
    submit_ok(c);
    wait_done(c);
    ck_assert_int_eq(c->res, HTTPC_OK);
    ck_assert_int_eq(S.naccepted, 2);
    ck_assert_int_eq(S.nreqs, 2); /* the waiting one never went out */
    treq_free(a);
    treq_free(c);
}
END_TEST

static void
answer_garbage(struct fhttp *s, struct fhttp_conn *c, struct fhttp_req *r)
{
    (void)s;
    if (strcmp(r->target, "/garbage") == 0) {
        fhttp_send_str(c, "SSH-2.0-OpenSSH\r\n\r\n");
        return;
    }
    static char longv[HTTPC_FIELD_MAX + 100];
    memset(longv, 'v', sizeof(longv) - 1);
    fhttp_send_str(c, "HTTP/1.1 200 OK\r\nX-Long: ");
    fhttp_send_str(c, longv);
    fhttp_send_str(c, "\r\nContent-Length: 0\r\n\r\n");
}

START_TEST(test_bad_responses)
{
    new_pool(1, 1);
    S.on_request = answer_garbage;
    struct treq *a = treq_new("GET", "/garbage");
    submit_ok(a);
    wait_done(a);
    ck_assert_int_eq(a->res, HTTPC_BAD_RESPONSE);
    struct treq *b = treq_new("GET", "/long-header");
    submit_ok(b);
    wait_done(b);
    ck_assert_int_eq(b->res, HTTPC_BAD_RESPONSE);
    ck_assert_uint_eq(httpc_pool_stats(P)->bad_responses, 2);
    treq_free(a);
    treq_free(b);
}
END_TEST

START_TEST(test_server_closes_idle)
{
    new_pool(1, 1);
    struct treq *a = treq_new("GET", "/one");
    submit_ok(a);
    wait_done(a);
    ck_assert_int_eq(a->res, HTTPC_OK);
    fhttp_conn_close(&S.c[0]); /* an idle timeout on the server's side */
    run_for(50);
    ck_assert_int_eq(httpc_pool_conns_open(P), 0);
    struct treq *b = treq_new("GET", "/two");
    submit_ok(b);
    wait_done(b);
    ck_assert_int_eq(b->res, HTTPC_OK);
    ck_assert(!b->r.reused);
    ck_assert_int_eq(S.naccepted, 2);
    ck_assert_uint_eq(httpc_pool_stats(P)->lost, 0);
    treq_free(a);
    treq_free(b);
}
END_TEST

START_TEST(test_conns_bound)
{
    new_pool(2, 1);
    struct treq *t[10];
    for (int i = 0; i < 10; i++) {
        t[i] = treq_new("GET", "/many");
        submit_ok(t[i]);
    }
    int most = 0;
    for (int i = 0; i < 10; i++) {
        double end = ev_time() + WAIT_MS / 1000.0;
        while (!t[i]->done && ev_time() < end) {
            ev_run(loop, EVRUN_ONCE);
            most = TS_MAX(most, fhttp_open_conns(&S));
        }
        ck_assert_int_eq(t[i]->res, HTTPC_OK);
        treq_free(t[i]);
    }
    ck_assert_int_le(most, 2);
    ck_assert_int_le(S.naccepted, 2);
    ck_assert_uint_ge(httpc_pool_stats(P)->reused, 8);
}
END_TEST

/* ---- TLS: a scripted TLS server (OpenSSL in the test) ------------------------ */

static char certdir[256];
static SSL_CTX *sctx;            /* the fake server's */
static struct tls_client *cctx;    /* the pool's */
static uint64_t tls_failed;      /* the caller's counter (opts.tls_failures) */

/* Unchecked fixture (the parent, once): OpenSSL counted from its first
 * allocation, the certificates made. */
static void
tls_make_certs(void)
{
    tls_library_init();
    snprintf(certdir, sizeof(certdir), "/tmp/check_httpc.XXXXXX");
    certs_make(certdir);
}

static void
tls_remove_certs(void)
{
    certs_remove(certdir);
}

/* The fake server's context: its certificate (relay.test, 127.0.0.1);
 * client_ca set: a client certificate of that CA required. */
static void
tls_server(const char *client_ca)
{
    sctx = SSL_CTX_new(TLS_server_method());
    ck_assert_ptr_nonnull(sctx);
    ck_assert_int_eq(SSL_CTX_use_certificate_chain_file(sctx, certs_path(certdir, "server.pem")), 1);
    ck_assert_int_eq(SSL_CTX_use_PrivateKey_file(sctx, certs_path(certdir, "server.key"),
                                                 SSL_FILETYPE_PEM), 1);
    SSL_CTX_set_mode(sctx, SSL_MODE_ENABLE_PARTIAL_WRITE | SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
    if (client_ca != NULL) {
        ck_assert_int_eq(SSL_CTX_load_verify_locations(sctx, certs_path(certdir, client_ca),
                                                       NULL), 1);
        SSL_CTX_set_verify(sctx, SSL_VERIFY_PEER | SSL_VERIFY_FAIL_IF_NO_PEER_CERT, NULL);
    }
    S.tls = sctx;
}

/* A client context: CAs ca, the context's name, an optional certificate. */
static struct tls_client *
tls_ctx(const char *ca, const char *name, const char *cert)
{
    char c[600] = "", k[600] = "";
    if (cert != NULL) {
        snprintf(c, sizeof(c), "%s/%s.pem", certdir, cert);
        snprintf(k, sizeof(k), "%s/%s.key", certdir, cert);
    }
    struct tls_client_opts o = { .what = "[backend t]", .ca = certs_path(certdir, ca),
                                 .cert = c, .key = k, .server_name = name };
    char err[512];
    struct tls_client *t = tls_client_new(&o, err, sizeof(err));
    ck_assert_msg(t != NULL, "%s", err);
    return t;
}

/* A TLS pool: cctx (which the pool holds; the test drops its own hold),
 * verifying name (NULL: the context's). */
static void
tls_pool(int conns, const char *name)
{
    struct httpc_opts o = opts(conns, 1);
    o.tls = cctx;
    o.tls_name = name;
    o.tls_failures = &tls_failed;
    tls_failed = 0;
    P = httpc_pool_new(loop, &mem, &o);
    ck_assert_ptr_nonnull(P);
}

static void
tls_setup(void)
{
    setup();
    sctx = NULL;
    cctx = NULL;
}

static void
tls_teardown(void)
{
    httpc_pool_free(P);
    P = NULL;
    tls_client_free(cctx);
    cctx = NULL;
    fhttp_free(&S);
    SSL_CTX_free(sctx);
    sctx = NULL;
    teardown();
}

/* Keep-alive through TLS: one handshake for many requests (TLS 1.3
 * session tickets that arrive while the connection is idle are taken by
 * OpenSSL and keep it open), the same bytes as in clear. */
START_TEST(test_tls_keepalive)
{
    tls_server(NULL);
    cctx = tls_ctx("ca.pem", "relay.test", NULL);
    tls_pool(2, NULL);
    for (int i = 0; i < 20; i++) {
        char target[32];
        snprintf(target, sizeof(target), "/q?i=%d", i);
        struct treq *t = treq_new("GET", target);
        submit_ok(t);
        wait_done(t);
        ck_assert_int_eq(t->res, HTTPC_OK);
        char want[64];
        snprintf(want, sizeof(want), "ok %s", target);
        ck_assert_str_eq(t->body, want);
        ck_assert(t->r.reused == (i > 0));
        ck_assert_uint_eq(pool_used_bytes(&mem), 0); /* idle: its block went back */
        treq_free(t);
        if (i % 4 == 1)
            fhttp_send_ticket(&S.c[0]); /* a record for nobody: the connection stays */
        run_for(5);
    }
    ck_assert_int_eq(S.naccepted, 1);
    ck_assert_int_eq(S.tls_handshakes, 1);
    const struct httpc_stats *st = httpc_pool_stats(P);
    ck_assert_uint_eq(st->tls_handshakes, 1);
    ck_assert_uint_eq(st->tls_failures, 0);
    ck_assert_uint_eq(st->server_closes, 0);
    ck_assert_uint_eq(st->reused, 19);
    ck_assert_str_eq(httpc_pool_tls_name(P), "relay.test");
    char host[64];
    snprintf(host, sizeof(host), "Host: 127.0.0.1:%d\r\n", S.port);
    ck_assert_msg(strstr(S.reqs[0].headers, host) != NULL, "%s", S.reqs[0].headers);
}
END_TEST

/* 3 MiB through TLS to a caller that takes 1,000 bytes, then nothing,
 * then a little at a time, with 4 KiB blocks (block-size's least): a
 * 16 KiB record is read into the block in parts, and what OpenSSL still
 * holds decrypted (which the socket will not signal) is read on; every
 * byte arrives in order, one pool block at most. */
START_TEST(test_tls_backpressure)
{
    pool_destroy(&mem);
    ck_assert_int_eq(pool_init(&mem, 4096, 16u << 20, 1u << 20, 8u << 20), TS_OK);
    tls_server(NULL);
    cctx = tls_ctx("ca.pem", "127.0.0.1", NULL); /* an IP: matched against the IP entries */
    tls_pool(1, NULL);
    make_big();
    S.on_request = answer_big;
    struct treq *a = treq_new("GET", "/big");
    a->quota = 1000;
    submit_ok(a);
    double end = ev_time() + WAIT_MS / 1000.0;
    while (a->body_len < 1000 && ev_time() < end)
        ev_run(loop, EVRUN_ONCE);
    ck_assert_uint_eq(a->body_len, 1000);
    int calls = a->body_calls;
    run_for(100);
    ck_assert_int_eq(a->body_calls, calls);
    end = ev_time() + 20.0;
    while (!a->done && ev_time() < end) {
        a->quota = 3000; /* less than a block: the rest waits in the block or in OpenSSL */
        httpc_resume(&a->r);
        ev_run(loop, EVRUN_ONCE);
    }
    ck_assert(a->done);
    ck_assert_msg(a->res == HTTPC_OK, "%s after %zu bytes", httpc_result_name(a->res),
                  a->body_len);
    ck_assert_uint_eq(a->body_len, BIG);
    ck_assert(memcmp(a->body, big, BIG) == 0);
    ck_assert_uint_le(a->max_used, mem.block_size);
    free(big);
    treq_free(a);
}
END_TEST

/* Request bodies through TLS, by Content-Length and chunked, given in
 * pieces; a 3 MiB one to a server that stops reading for a while (the
 * writes wait for the socket and go on where they stopped): the server
 * gets every byte. */
START_TEST(test_tls_request_bodies)
{
    tls_server(NULL);
    cctx = tls_ctx("ca.pem", "relay.test", NULL);
    tls_pool(1, NULL);
    S.on_request = answer_body_len;
    const char *text = body_text;
    size_t n = sizeof(body_text) - 1;
    struct treq *a = treq_new("POST", "/length");
    a->r.body = HTTPC_BODY_LENGTH;
    a->r.body_len = n;
    a->src = text;
    submit_ok(a);
    feed_in_pieces(a, n, 10);
    wait_done(a);
    ck_assert_int_eq(a->res, HTTPC_OK);
    ck_assert_str_eq(S.reqs[0].body, text);
    struct treq *b = treq_new("PUT", "/chunked");
    b->r.body = HTTPC_BODY_CHUNKED;
    b->src = text;
    submit_ok(b);
    feed_in_pieces(b, n, 10);
    wait_done(b);
    ck_assert_int_eq(b->res, HTTPC_OK);
    ck_assert_str_eq(S.reqs[1].body, text);
    ck_assert(S.reqs[1].chunked);
    make_big();
    struct treq *c = treq_new("POST", "/big");
    c->r.body = HTTPC_BODY_LENGTH;
    c->r.body_len = BIG;
    c->src = big;
    c->src_avail = BIG;
    /* small socket buffers: 3 MiB cannot sit in the kernel's */
    int small = 32 * 1024;
    ck_assert_int_eq(setsockopt(S.c[0].fd, SOL_SOCKET, SO_RCVBUF, &small, sizeof(small)), 0);
    ck_assert_int_eq(setsockopt(P->conns[0].fd, SOL_SOCKET, SO_SNDBUF, &small, sizeof(small)),
                     0);
    fhttp_reading(&S.c[0], false);
    submit_ok(c);
    run_for(300); /* the socket fills: writes wait */
    ck_assert(!c->done);
    ck_assert_uint_lt(c->src_off, BIG);
    fhttp_reading(&S.c[0], true);
    wait_done(c);
    ck_assert_int_eq(c->res, HTTPC_OK);
    ck_assert_uint_eq(S.reqs[2].body_len, BIG);
    ck_assert(memcmp(S.reqs[2].body, big, BIG) == 0);
    ck_assert_int_eq(S.naccepted, 1);
    ck_assert_int_eq(S.tls_handshakes, 1);
    free(big);
    treq_free(a);
    treq_free(b);
    treq_free(c);
}
END_TEST

/* A failed handshake is a connect failure: nothing of the request
 * reaches the server, it is counted (the pool's and the caller's
 * counter), and the pool is down for its backoff. */
static void
expect_refused(const char *what)
{
    struct treq *t = treq_new("GET", "/refused");
    submit_ok(t);
    wait_done(t);
    ck_assert_msg(t->res == HTTPC_CONNECT_FAILED, "%s: %s", what, httpc_result_name(t->res));
    ck_assert(!t->r.sent && !t->r.answered);
    ck_assert_int_eq(S.nreqs, 0);
    const struct httpc_stats *st = httpc_pool_stats(P);
    ck_assert_uint_eq(st->tls_failures, 1);
    ck_assert_uint_eq(st->tls_handshakes, 0);
    ck_assert_uint_eq(st->connect_errors, 1);
    ck_assert_uint_eq(tls_failed, 1);
    ck_assert(httpc_pool_down(P));
    ck_assert_int_eq(httpc_pool_conns_open(P), 0);
    ck_assert_uint_eq(pool_used_bytes(&mem), 0);
    treq_free(t);
}

START_TEST(test_tls_wrong_name)
{
    tls_server(NULL);
    cctx = tls_ctx("ca.pem", "relay.test", NULL);
    tls_pool(1, "wrong.test"); /* the pool's name, not the context's */
    ck_assert_str_eq(httpc_pool_tls_name(P), "wrong.test");
    expect_refused("a name the certificate does not carry");
    httpc_pool_free(P);
    P = NULL;
    fhttp_free(&S);
    fhttp_open(&S, loop, true);
    S.on_request = echo_target;
    S.tls = sctx;
    tls_pool(1, "relay.test"); /* the same context, the right name */
    struct treq *t = treq_new("GET", "/right");
    submit_ok(t);
    wait_done(t);
    ck_assert_int_eq(t->res, HTTPC_OK);
    treq_free(t);
}
END_TEST

START_TEST(test_tls_unknown_ca)
{
    tls_server(NULL);
    cctx = tls_ctx("other.pem", "relay.test", NULL);
    tls_pool(1, NULL);
    expect_refused("a certificate of a CA not trusted");
}
END_TEST

START_TEST(test_tls_not_tls)
{
    S.greeting = "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n"; /* in clear */
    cctx = tls_ctx("ca.pem", "relay.test", NULL);
    tls_pool(1, NULL);
    expect_refused("a server that does not speak TLS");
}
END_TEST

/* A server that accepts and never finishes the handshake: refused when
 * connect_ms (1 s) is over, counted. */
START_TEST(test_tls_handshake_timeout)
{
    tls_server(NULL);
    S.tls_stall = true;
    cctx = tls_ctx("ca.pem", "relay.test", NULL);
    tls_pool(1, NULL);
    double t0 = ev_time();
    expect_refused("a handshake never finished");
    double took = ev_time() - t0;
    ck_assert_msg(took >= 0.9 && took < 2.5, "refused after %.2f s", took);
}
END_TEST

/* mTLS: with the client certificate the server wants, answered; without
 * one, or with one of another CA, the server refuses it and nothing
 * reaches it (TLS 1.3: the refusal comes after the client's handshake,
 * so the request may have been written: it is lost, never answered). */
START_TEST(test_tls_client_cert)
{
    tls_server("ca.pem");
    cctx = tls_ctx("ca.pem", "relay.test", "client");
    tls_pool(1, NULL);
    struct treq *t = treq_new("GET", "/with-cert");
    submit_ok(t);
    wait_done(t);
    ck_assert_int_eq(t->res, HTTPC_OK);
    treq_free(t);
    const char *certs[] = { NULL, "stranger" };
    for (int i = 0; i < 2; i++) {
        httpc_pool_free(P);
        P = NULL;
        tls_client_free(cctx);
        cctx = tls_ctx("ca.pem", "relay.test", certs[i]);
        tls_pool(1, NULL);
        int before = S.tls_failures;
        t = treq_new("GET", "/refused");
        submit_ok(t);
        wait_done(t);
        ck_assert_msg(t->res == HTTPC_LOST || t->res == HTTPC_CONNECT_FAILED, "%s",
                      httpc_result_name(t->res));
        ck_assert(!t->r.answered);
        ck_assert_int_eq(S.tls_failures, before + 1);
        /* counted on our side too, whether refused in the handshake (TLS
         * 1.2) or after it, at the first read (TLS 1.3) */
        ck_assert_uint_eq(httpc_pool_stats(P)->tls_failures, 1);
        treq_free(t);
    }
    ck_assert_int_eq(S.nreqs, 1);
}
END_TEST

/* The server ends an idle connection with close_notify: the pool sees it
 * closed, and the next request goes on a new connection (nothing lost). */
START_TEST(test_tls_close_notify_idle)
{
    tls_server(NULL);
    cctx = tls_ctx("ca.pem", "relay.test", NULL);
    tls_pool(1, NULL);
    struct treq *a = treq_new("GET", "/one");
    submit_ok(a);
    wait_done(a);
    ck_assert_int_eq(a->res, HTTPC_OK);
    run_for(20);
    fhttp_close_notify(&S.c[0]);
    run_for(50);
    ck_assert_int_eq(httpc_pool_conns_open(P), 0);
    struct treq *b = treq_new("GET", "/two");
    submit_ok(b);
    wait_done(b);
    ck_assert_int_eq(b->res, HTTPC_OK);
    ck_assert(!b->r.reused);
    ck_assert_int_eq(S.naccepted, 2);
    ck_assert_int_eq(S.tls_handshakes, 2);
    ck_assert_uint_eq(httpc_pool_stats(P)->lost, 0);
    ck_assert_uint_eq(httpc_pool_stats(P)->server_closes, 1);
    treq_free(a);
    treq_free(b);
}
END_TEST

/* Certificates rotate (a reload): httpc_pool_set_tls hands the pool a
 * new context; the open connection keeps the one it was made with, new
 * connections use the new one.  The old context's owner lets it go at
 * once: the pool's hold keeps it alive. */
START_TEST(test_tls_set_context)
{
    tls_server("ca.pem");
    cctx = tls_ctx("ca.pem", "relay.test", "client");
    tls_pool(1, NULL);
    struct treq *a = treq_new("GET", "/one");
    submit_ok(a);
    wait_done(a);
    ck_assert_int_eq(a->res, HTTPC_OK);
    struct tls_client *next = tls_ctx("ca.pem", "relay.test", "stranger");
    httpc_pool_set_tls(P, next);
    tls_client_free(cctx); /* the owner's hold: the pool holds next now */
    cctx = next;
    struct treq *b = treq_new("GET", "/two");
    submit_ok(b);
    wait_done(b);
    ck_assert_int_eq(b->res, HTTPC_OK); /* the open connection, made with the old one */
    ck_assert(b->r.reused);
    fhttp_conn_close(&S.c[0]);
    run_for(50);
    struct treq *c = treq_new("GET", "/three");
    submit_ok(c);
    wait_done(c);
    ck_assert_msg(c->res != HTTPC_OK, "a new connection used the new certificate: refused");
    ck_assert_int_eq(S.naccepted, 2);
    ck_assert_int_eq(S.nreqs, 2);
    treq_free(a);
    treq_free(b);
    treq_free(c);
}
END_TEST

static Suite *
httpc_suite(void)
{
    Suite *s = suite_create("httpc");
    TCase *tc = tcase_create("core");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_get_keepalive);
    tcase_add_test(tc, test_bodies_and_closes);
    tcase_add_test(tc, test_header_split);
    tcase_add_test(tc, test_no_body_answers);
    tcase_add_test(tc, test_backpressure);
    tcase_add_test(tc, test_pipelining);
    tcase_add_test(tc, test_lost_before_answer);
    tcase_add_test(tc, test_lost_mid_answer);
    tcase_add_test(tc, test_timeouts);
    tcase_add_test(tc, test_slow_body_is_not_a_timeout);
    tcase_add_test(tc, test_connect_refused);
    tcase_add_test(tc, test_connect_timeout);
    tcase_add_test(tc, test_wait_bound);
    tcase_add_test(tc, test_request_bodies);
    tcase_add_test(tc, test_cancel);
    tcase_add_test(tc, test_bad_responses);
    tcase_add_test(tc, test_server_closes_idle);
    tcase_add_test(tc, test_conns_bound);
    suite_add_tcase(s, tc);
    TCase *tt = tcase_create("tls");
    tcase_add_unchecked_fixture(tt, tls_make_certs, tls_remove_certs);
    tcase_add_checked_fixture(tt, tls_setup, tls_teardown);
    tcase_set_timeout(tt, 30);
    tcase_add_test(tt, test_tls_keepalive);
    tcase_add_test(tt, test_tls_backpressure);
    tcase_add_test(tt, test_tls_request_bodies);
    tcase_add_test(tt, test_tls_wrong_name);
    tcase_add_test(tt, test_tls_unknown_ca);
    tcase_add_test(tt, test_tls_not_tls);
    tcase_add_test(tt, test_tls_handshake_timeout);
    tcase_add_test(tt, test_tls_client_cert);
    tcase_add_test(tt, test_tls_close_notify_idle);
    tcase_add_test(tt, test_tls_set_context);
    suite_add_tcase(s, tt);
    return s;
}

UNIT_MAIN(httpc_suite)
