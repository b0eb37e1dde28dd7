/*
 * check_proxy.c -- unit tests of the read pass-through (src/core/proxy.c)
 * and of its header rewriting (src/core/proxyhead.c).
 *
 * proxyhead: hop-by-hop names (case-insensitive, and those a Connection
 * header lists), a request's lines for the backend (hop-by-hop,
 * Content-Length and Expect dropped, Host kept and noticed,
 * X-Forwarded-For merged and extended, too small a buffer refused), an
 * answer's lines for the client (hop-by-hop and listed ones dropped,
 * Content-Length too when the body is framed anew), status lines.
 *
 * proxy: driven as http.c drives it, through a struct httppass whose
 * client is a recorder (what its socket takes, in a budget), against
 * scripted HTTP servers on loopback (fake_http.h): a Content-Length
 * answer passed with its head rewritten; a chunked one chunked anew for an
 * HTTP/1.1 client and sent to the close for an HTTP/1.0 one; a client
 * that takes a few bytes at a time gets everything in order while the
 * relay holds at most a block per connection; a request body streamed up
 * as the backend takes it; a refused backend (502 in the TSD's shape),
 * the next backend for a GET lost before its answer (and not for a
 * POST), a stall (504), a cut after bytes went out; a client that leaves
 * in the middle of an answer closes the backend connection.
 */
#include "autoconf.h"

#include <check.h>
#include <ev.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "base/log.h"
#include "base/pool.h"
#include "base/util.h"
#include "core/proxy.h"
#include "core/proxyhead.h"
#include "input/httppass.h"
#include "input/httpreply.h"
#include "output/backend.h"
#include "output/tls_client.h"
#include "base/tls.h"
#include "unit.h"

#include "fake_http.h"
#include "test_certs.h"

#define WAIT_MS 4000

/* ---- proxyhead ----------------------------------------------------------- */

START_TEST(test_hop_names)
{
    const char *conn = "close, X-Secret";
    ck_assert(proxyhead_hop("Connection", 10, NULL, 0));
    ck_assert(proxyhead_hop("keep-alive", 10, NULL, 0));
    ck_assert(proxyhead_hop("TRANSFER-ENCODING", 17, NULL, 0));
    ck_assert(proxyhead_hop("Proxy-Authorization", 19, NULL, 0));
    ck_assert(!proxyhead_hop("Host", 4, NULL, 0));
    ck_assert(!proxyhead_hop("X-Secret", 8, NULL, 0));
    ck_assert(proxyhead_hop("x-secret", 8, conn, strlen(conn)));
    ck_assert(!proxyhead_hop("X-Secre", 7, conn, strlen(conn)));
    ck_assert(!proxyhead_hop("X-Secrets", 9, conn, strlen(conn)));
}
END_TEST

START_TEST(test_request_lines)
{
    static const char in[] =
        "Host: tsd.example:4242\r\nConnection: keep-alive, X-Foo\r\nX-Foo: 1\r\n"
        "Keep-Alive: 300\r\nTE: trailers\r\nUpgrade: h2c\r\nProxy-Authorization: x\r\n"
        "Content-Length: 5\r\nExpect: 100-continue\r\nX-Forwarded-For: 1.1.1.1\r\n"
        "Accept:  */*  \r\nx-forwarded-for: 2.2.2.2\r\nContent-Type: text/plain\r\n";
    char out[512];
    struct proxyhead_info info;
    size_t n = proxyhead_request(in, strlen(in), "10.0.0.9", out, sizeof(out), &info);
    out[n] = '\0';
    ck_assert_str_eq(out, "Host: tsd.example:4242\r\nAccept: */*\r\n"
                          "Content-Type: text/plain\r\n"
                          "X-Forwarded-For: 1.1.1.1, 2.2.2.2, 10.0.0.9\r\n");
    ck_assert(info.has_host && info.expect_continue);
    n = proxyhead_request("", 0, "::1", out, sizeof(out), &info);
    out[n] = '\0';
    ck_assert_str_eq(out, "X-Forwarded-For: ::1\r\n");
    ck_assert(!info.has_host && !info.expect_continue);
    ck_assert_uint_eq(proxyhead_request(in, strlen(in), "10.0.0.9", out, 40, &info), 0);
}
END_TEST

START_TEST(test_answer_lines)
{
    char a[] = "Date: d\r\nConnection: close, X-Internal\r\nX-Internal: s\r\n"
               "Keep-Alive: timeout=5\r\nTransfer-Encoding: chunked\r\nContent-Length: 10\r\n"
               "Content-Type: application/json\r\n";
    char b[sizeof(a)];
    memcpy(b, a, sizeof(a));
    size_t n = proxyhead_answer(a, strlen(a), true);
    a[n] = '\0';
    ck_assert_str_eq(a, "Date: d\r\nContent-Type: application/json\r\n");
    n = proxyhead_answer(b, strlen(b), false);
    b[n] = '\0';
    ck_assert_str_eq(b, "Date: d\r\nContent-Length: 10\r\nContent-Type: application/json\r\n");
    char st[96];
    ck_assert_uint_eq(proxyhead_status_line(200, "OK", 2, st, sizeof(st)), 17);
    ck_assert_str_eq(st, "HTTP/1.1 200 OK\r\n");
    proxyhead_status_line(404, "", 0, st, sizeof(st));
    ck_assert_str_eq(st, "HTTP/1.1 404 Not Found\r\n");
    char longr[100];
    memset(longr, 'r', sizeof(longr));
    ck_assert_uint_eq(proxyhead_status_line(500, longr, sizeof(longr), st, sizeof(st)),
                      13 + 63 + 2);
}
END_TEST

/* ---- the pass-through ------------------------------------------------------ */

static struct ev_loop *loop;
static struct pool mem;
static struct config cfg;
static struct fhttp A, B;
static struct proxy *px;

/* The client's side: what its socket takes (a budget per call, SIZE_MAX
 * for all), the wake-ups, the error answer. */
struct client {
    struct httppass p;
    char *out;
    size_t len;
    size_t budget;
    bool blocked;
    int wakes;
    int err_code;
    char err[1024];
};

/* What the client got, "" for nothing. */
#define OUT(c) ((c)->out != NULL ? (c)->out : "")

static size_t
c_stream(void *host, const char *data, size_t len)
{
    struct client *c = host;
    size_t take = TS_MIN(len, c->budget);
    if (c->budget != SIZE_MAX)
        c->budget -= take;
    c->out = realloc(c->out, c->len + take + 1);
    memcpy(c->out + c->len, data, take);
    c->len += take;
    c->out[c->len] = '\0';
    c->blocked = take < len;
    return take;
}

static void
c_wake(void *host)
{
    ((struct client *)host)->wakes++;
}

static void
c_error(struct httppass *p, int code, const char *msg, const char *details)
{
    struct client *c = container_of(p, struct client, p);
    c->err_code = code;
    httpreply_error_body(code, msg, details, c->err, sizeof(c->err));
}

static struct client *
client_new(void)
{
    struct client *c = calloc(1, sizeof(*c));
    c->budget = SIZE_MAX;
    c->p.pool = &mem;
    c->p.max_header = 8192;
    c->p.host = c;
    c->p.stream = c_stream;
    c->p.wake = c_wake;
    c->p.respond_error = c_error;
    c->p.ops = &proxy_ops;
    c->p.ops_ctx = px;
    return c;
}

static void
client_free(struct client *c)
{
    httppass_free(&c->p);
    free(c->out);
    free(c);
}

/* Passes a request with these header lines ("Name: value\r\n"...). */
static void
pass(struct client *c, const char *method, const char *url, const char *lines, int minor,
     bool has_body, uint64_t length)
{
    httppass_reset(&c->p);
    for (const char *l = lines; l != NULL && *l != '\0';) {
        const char *colon = strchr(l, ':'), *eol = strstr(l, "\r\n");
        ck_assert_int_eq(httppass_header_field(&c->p, l, (size_t)(colon - l)), TS_OK);
        ck_assert_int_eq(httppass_header_value(&c->p, colon + 2, (size_t)(eol - colon - 2)),
                         TS_OK);
        l = eol + 2;
    }
    ck_assert_int_eq(httppass_headers_end(&c->p), TS_OK);
    struct httppass_req req = {
        .method = method,
        .head = strcmp(method, "HEAD") == 0,
        .url = url,
        .url_len = strlen(url),
        .http_major = 1,
        .http_minor = minor,
        .keep_alive = minor >= 1,
        .has_body = has_body,
        .content_length = length,
        .origin = "10.1.2.3",
    };
    httppass_begin(&c->p, &req);
}

/* Runs the loop until the answer ended (the client draining its socket
 * when it is blocked). */
static void
until_answered(struct client *c, size_t drain)
{
    double end = ev_time() + WAIT_MS / 1000.0;
    while (!c->p.answered && ev_time() < end) {
        if (c->blocked) {
            c->budget = drain;
            c->blocked = false;
            httppass_writable(&c->p);
        }
        ev_run(loop, EVRUN_ONCE | EVRUN_NOWAIT);
        usleep(200);
    }
    ck_assert_msg(c->p.answered, "no answer within %d ms (got %zu bytes)", WAIT_MS, c->len);
}

static void
answer_plain(struct fhttp *s, struct fhttp_conn *c, struct fhttp_req *r)
{
    char body[700];
    if (strstr(r->target, "chunked") != NULL) {
        fhttp_send_str(c, "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nX-Internal: s\r\n"
                          "Connection: X-Internal\r\n\r\n5\r\nhello\r\n7\r\n world!\r\n0\r\n\r\n");
        return;
    }
    if (strstr(r->target, "close-before") != NULL && s == &A) {
        fhttp_conn_close(c);
        return;
    }
    if (strstr(r->target, "stall") != NULL)
        return;
    if (strstr(r->target, "half") != NULL) {
        fhttp_send_str(c, "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n0123456789");
        fhttp_close_after(c);
        return;
    }
    snprintf(body, sizeof(body), "%s %s %zu %s", s == &A ? "A" : "B", r->target, r->body_len,
             strstr(r->headers, "X-Forwarded-For: 10.1.2.3\r\n") ? "xff" : "-");
    fhttp_answer(c, 200, "Keep-Alive: timeout=5\r\n", body);
}

/* cfg: backends a (A's port) and b (B's), proxy = a, b. */
static void
setup(void)
{
    signal(SIGPIPE, SIG_IGN);
    log_init(LOG_ERROR, NULL, 64 * 1024);
    loop = ev_loop_new(EVFLAG_AUTO);
    ck_assert_int_eq(pool_init(&mem, 64 * 1024, 16u << 20, 1u << 20, 8u << 20), TS_OK);
    fhttp_open(&A, loop, true);
    fhttp_open(&B, loop, true);
    A.on_request = B.on_request = answer_plain;
    char text[1024], err[CFG_ERR_MAX];
    snprintf(text, sizeof(text),
             "[relay]\nproxy = a, b\nproxy-timeout = 300ms\nreconnect-min = 10ms\n"
             "[backend a]\naddress = 127.0.0.1:1\nhttp-address = 127.0.0.1:%d\n"
             "http-conns = 2\n"
             "[backend b]\naddress = 127.0.0.1:1\nhttp-address = 127.0.0.1:%d\n",
             A.port, B.port);
    ck_assert_msg(config_load_string(&cfg, "test", text, err, sizeof(err)) == TS_OK, "%s", err);
    px = proxy_new(loop, &mem, &cfg, NULL);
    ck_assert_ptr_nonnull(px);
}

static void
teardown(void)
{
    proxy_free(px);
    fhttp_free(&A);
    fhttp_free(&B);
    pool_destroy(&mem);
    ev_loop_destroy(loop);
    log_close();
}

START_TEST(test_length_answer)
{
    struct client *c = client_new();
    pass(c, "GET", "/api/version?x=1", "Host: h\r\nConnection: close\r\n", 1, false, 0);
    ck_assert(c->p.passing);
    until_answered(c, SIZE_MAX);
    ck_assert_msg(strncmp(OUT(c), "HTTP/1.1 200 X\r\n", 16) == 0, "%s", esc(c->out, c->len));
    ck_assert_msg(strstr(OUT(c), "Content-Length: 24\r\n") != NULL, "%s", esc(c->out, c->len));
    ck_assert_msg(strstr(OUT(c), "Keep-Alive") == NULL, "hop-by-hop passed: %s", OUT(c));
    ck_assert_msg(strstr(OUT(c), "Connection: keep-alive\r\n\r\nA /api/version?x=1 0 xff") != NULL,
                  "%s", OUT(c));
    ck_assert(!c->p.close);
    ck_assert_str_eq(A.reqs[0].target, "/api/version?x=1");
    ck_assert(strstr(A.reqs[0].headers, "Host: h\r\n") != NULL);
    ck_assert(strstr(A.reqs[0].headers, "Connection") == NULL);
    ck_assert_uint_eq(proxy_backend_stats(px, 0)->answered, 1);
    ck_assert_uint_eq(proxy_active(px), 0);
    client_free(c);
}
END_TEST

START_TEST(test_chunked_answers)
{
    struct client *c = client_new();
    pass(c, "GET", "/chunked", "", 1, false, 0);
    until_answered(c, SIZE_MAX);
    const char *body = strstr(OUT(c), "\r\n\r\n");
    ck_assert_msg(strstr(OUT(c), "Transfer-Encoding: chunked\r\n") != NULL, "%s",
                  esc(c->out, c->len));
    ck_assert_msg(strstr(OUT(c), "X-Internal") == NULL, "%s", esc(c->out, c->len));
    ck_assert_str_eq(body, "\r\n\r\n5\r\nhello\r\n7\r\n world!\r\n0\r\n\r\n");
    struct client *d = client_new(); /* HTTP/1.0: to the close */
    pass(d, "GET", "/chunked", "", 0, false, 0);
    until_answered(d, SIZE_MAX);
    ck_assert_msg(strstr(OUT(d), "Transfer-Encoding") == NULL, "%s", esc(d->out, d->len));
    ck_assert_msg(strstr(OUT(d), "Connection: close\r\n\r\nhello world!") != NULL, "%s",
                  esc(d->out, d->len));
    ck_assert(d->p.close);
    client_free(c);
    client_free(d);
}
END_TEST

/* 2 MiB, Content-Length, to a client whose socket takes 1000 bytes a turn. */
static void
answer_big(struct fhttp *s, struct fhttp_conn *c, struct fhttp_req *r)
{
    (void)s;
    (void)r;
    static char big[2u << 20];
    for (size_t i = 0; i < sizeof(big); i++)
        big[i] = (char)('a' + i % 23);
    char head[100];
    int n = snprintf(head, sizeof(head), "HTTP/1.1 200 OK\r\nContent-Length: %zu\r\n\r\n",
                     sizeof(big));
    fhttp_send(c, head, (size_t)n);
    fhttp_send(c, big, sizeof(big));
}

START_TEST(test_slow_client)
{
    A.on_request = answer_big;
    struct client *c = client_new();
    c->budget = 0; /* it takes nothing at first */
    pass(c, "GET", "/big", "", 1, false, 0);
    size_t most = 0;
    double end = ev_time() + 20.0;
    while (!c->p.answered && ev_time() < end) {
        if (c->blocked) {
            c->budget = 20000;
            c->blocked = false;
            httppass_writable(&c->p);
        }
        ev_run(loop, EVRUN_ONCE | EVRUN_NOWAIT);
        most = TS_MAX(most, pool_used_bytes(&mem));
    }
    ck_assert(c->p.answered);
    const char *body = strstr(OUT(c), "\r\n\r\n") + 4;
    size_t blen = c->len - (size_t)(body - c->out);
    ck_assert_uint_eq(blen, 2u << 20);
    for (size_t i = 0; i < blen; i++)
        if (body[i] != (char)('a' + i % 23))
            ck_abort_msg("byte %zu differs", i);
    /* the read block, the request and the answer's head: nothing grows */
    ck_assert_msg(most <= mem.block_size + 16384, "%zu bytes in use at most", most);
    client_free(c);
}
END_TEST

START_TEST(test_request_body)
{
    static char up[300000];
    for (size_t i = 0; i < sizeof(up); i++)
        up[i] = (char)('0' + i % 10);
    struct client *c = client_new();
    pass(c, "POST", "/api/query", "Content-Length: 300000\r\n", 1, true, sizeof(up));
    size_t off = 0;
    double end = ev_time() + WAIT_MS / 1000.0;
    while (off < sizeof(up) && ev_time() < end) {
        size_t give = sizeof(up) - off;
        if (httppass_room(&c->p, &give)) { /* as http.c feeds it: no more than its room */
            httppass_body(&c->p, up + off, give);
            off += give;
        }
        ev_run(loop, EVRUN_ONCE | EVRUN_NOWAIT);
    }
    ck_assert_uint_eq(off, sizeof(up));
    ck_assert_int_gt(c->wakes, 0); /* it had to wait for room, and was woken */
    httppass_body_end(&c->p);
    until_answered(c, SIZE_MAX);
    ck_assert_uint_eq(A.reqs[0].body_len, sizeof(up));
    ck_assert(memcmp(A.reqs[0].body, up, sizeof(up)) == 0);
    ck_assert(strstr(A.reqs[0].headers, "Content-Length: 300000\r\n") != NULL);
    ck_assert_msg(strstr(OUT(c), "A /api/query 300000") != NULL, "%s", esc(c->out, c->len));
    client_free(c);
}
END_TEST

START_TEST(test_refused)
{
    fhttp_free(&A);
    fhttp_free(&B);
    fhttp_open(&A, loop, false); /* bound, not listening */
    fhttp_open(&B, loop, false);
    char text[1024], err[CFG_ERR_MAX];
    snprintf(text, sizeof(text), "[relay]\nproxy = a, b\n[backend a]\naddress = 127.0.0.1:1\n"
             "http-address = 127.0.0.1:%d\n[backend b]\naddress = 127.0.0.1:1\n"
             "http-address = 127.0.0.1:%d\n", A.port, B.port);
    ck_assert_int_eq(config_load_string(&cfg, "test", text, err, sizeof(err)), TS_OK);
    proxy_reconfigure(px);
    struct client *c = client_new();
    pass(c, "POST", "/api/query", "", 1, false, 0);
    until_answered(c, SIZE_MAX);
    ck_assert_int_eq(c->err_code, 502);
    ck_assert_msg(strstr(c->err, "\"code\":502") && strstr(c->err, "cannot connect"), "%s",
                  c->err);
    ck_assert_uint_eq(c->len, 0);
    /* both are down now: refused at once */
    struct client *d = client_new();
    pass(d, "GET", "/api/query", "", 1, false, 0);
    ck_assert(d->p.answered && !d->p.passing);
    ck_assert_int_eq(d->err_code, 502);
    ck_assert_msg(strstr(d->err, "every proxy backend is down"), "%s", d->err);
    client_free(c);
    client_free(d);
}
END_TEST

START_TEST(test_retry_and_not)
{
    struct client *c = client_new();
    pass(c, "GET", "/close-before", "", 1, false, 0);
    until_answered(c, SIZE_MAX);
    ck_assert_msg(strstr(OUT(c), "B /close-before") != NULL, "%s", esc(c->out, c->len));
    ck_assert_uint_eq(proxy_backend_stats(px, 0)->retried, 1);
    struct client *d = client_new();
    pass(d, "POST", "/close-before", "", 1, false, 0);
    until_answered(d, SIZE_MAX);
    ck_assert_int_eq(d->err_code, 502);
    ck_assert_uint_eq(B.nreqs, 1); /* the POST never went to B */
    client_free(c);
    client_free(d);
}
END_TEST

START_TEST(test_stall_and_cut)
{
    struct client *c = client_new();
    pass(c, "GET", "/stall", "", 1, false, 0);
    double t0 = ev_time();
    until_answered(c, SIZE_MAX);
    ck_assert_int_eq(c->err_code, 504);
    ck_assert(ev_time() - t0 >= 0.28);
    struct client *d = client_new();
    pass(d, "GET", "/half", "", 1, false, 0);
    until_answered(d, SIZE_MAX);
    ck_assert(d->p.aborted);
    ck_assert_msg(strstr(OUT(d), "\r\n\r\n0123456789") != NULL, "%s", esc(d->out, d->len));
    ck_assert_uint_eq(proxy_backend_stats(px, 0)->cut, 1);
    ck_assert_uint_eq(proxy_backend_stats(px, 0)->gateway_timeout, 1);
    client_free(c);
    client_free(d);
}
END_TEST

START_TEST(test_client_leaves)
{
    A.on_request = answer_big;
    struct client *c = client_new();
    c->budget = 5000;
    pass(c, "GET", "/big", "", 1, false, 0);
    double end = ev_time() + WAIT_MS / 1000.0;
    while (c->len < 5000 && ev_time() < end)
        ev_run(loop, EVRUN_ONCE | EVRUN_NOWAIT);
    ck_assert_uint_eq(c->len, 5000);
    client_free(c); /* the client is gone in the middle of the answer */
    end = ev_time() + 1.0;
    while (!(A.c[0].eof || A.c[0].fd < 0) && ev_time() < end)
        ev_run(loop, EVRUN_ONCE | EVRUN_NOWAIT);
    ck_assert(A.c[0].eof || A.c[0].fd < 0); /* its backend connection was closed */
    ck_assert_uint_eq(proxy_backend_stats(px, 0)->client_gone, 1);
    ck_assert_uint_eq(proxy_active(px), 0);
}
END_TEST

/* ---- TLS: a backend's context on the pass-through's pool -------------------------- */

static char certdir[256];
static SSL_CTX *sctx;                      /* A's */
static struct backend tbe[CFG_MAX_BACKENDS]; /* the relay's, as far as the proxy reads them */

/* Unchecked fixture (the parent, once): the certificates made. */
static void
px_tls_certs_make(void)
{
    tls_library_init();
    snprintf(certdir, sizeof(certdir), "/tmp/check_proxy.XXXXXX");
    certs_make(certdir);
}

static void
px_tls_certs_remove(void)
{
    certs_remove(certdir);
}

/* cfg: proxy = a, backend a with tls = on verifying server_name; its
 * context built from it and handed to the backend (credentials.c and
 * backend_set_tls at start and on SIGHUP). */
static void
px_tls_config(const char *server_name)
{
    char text[2048], err[CFG_ERR_MAX];
    snprintf(text, sizeof(text),
             "[relay]\nproxy = a\nreconnect-min = 10ms\nreconnect-max = 50ms\n"
             "[backend a]\naddress = 127.0.0.1:1\nhttp-address = 127.0.0.1:%d\n"
             "http-conns = 2\ntls = on\nca = %s\nserver-name = %s\n",
             A.port, certs_path(certdir, "ca.pem"), server_name);
    ck_assert_msg(config_load_string(&cfg, "test", text, err, sizeof(err)) == TS_OK, "%s", err);
    tls_client_free(tbe[0].tls);
    tbe[0].cfg = &cfg.backends[0];
    tbe[0].tls = tls_client_for_backend(&cfg.backends[0], err, sizeof(err));
    ck_assert_msg(tbe[0].tls != NULL, "%s", err);
}

/* A speaks TLS (relay.test's certificate); the proxy reads tbe. */
static void
px_tls_setup(void)
{
    setup();
    proxy_free(px);
    sctx = SSL_CTX_new(TLS_server_method());
    ck_assert_ptr_nonnull(sctx);
    ck_assert_int_eq(SSL_CTX_use_certificate_chain_file(sctx, certs_path(certdir, "server.pem")), 1);
    ck_assert_int_eq(SSL_CTX_use_PrivateKey_file(sctx, certs_path(certdir, "server.key"),
                                                 SSL_FILETYPE_PEM), 1);
    A.tls = sctx;
    memset(tbe, 0, sizeof(tbe));
    px_tls_config("relay.test");
    px = proxy_new(loop, &mem, &cfg, tbe);
    ck_assert_ptr_nonnull(px);
}

static void
px_tls_teardown(void)
{
    teardown();
    tls_client_free(tbe[0].tls);
    tbe[0].tls = NULL;
    SSL_CTX_free(sctx);
    sctx = NULL;
}

/* One GET through the pass-through: its answer's error code (0: A's). */
static int
px_tls_get(void)
{
    struct client *c = client_new();
    pass(c, "GET", "/api/version", "Host: h\r\n", 1, false, 0);
    until_answered(c, SIZE_MAX);
    int code = c->err_code;
    if (code == 0)
        ck_assert_msg(c->len > 0 && memmem(c->out, c->len, "A /api/version", 14) != NULL,
                      "%.*s", (int)c->len, c->out);
    client_free(c);
    return code;
}

/* With the backend's tls = on the pool speaks TLS with its context; a
 * reload that read the certificates again keeps the pool and its
 * connection; another server-name takes a new pool, which refuses a
 * server it cannot verify (502, counted in the backend's tls_failures and
 * the pool's) before a byte of the request is written. */
START_TEST(test_tls_pool)
{
    ck_assert_int_eq(px_tls_get(), 0);
    ck_assert_int_eq(A.tls_handshakes, 1);
    ck_assert_str_eq(httpc_pool_tls_name(proxy_pool(px, 0)), "relay.test");

    px_tls_config("relay.test");
    proxy_reconfigure(px);
    ck_assert_int_eq(px_tls_get(), 0);
    ck_assert_int_eq(A.naccepted, 1);
    ck_assert_int_eq(A.tls_handshakes, 1);
    ck_assert_uint_eq(tbe[0].st.tls_failures, 0);

    int nreqs = A.nreqs;
    px_tls_config("wrong.test");
    proxy_reconfigure(px);
    ck_assert_str_eq(httpc_pool_tls_name(proxy_pool(px, 0)), "wrong.test");
    ck_assert_int_eq(px_tls_get(), 502);
    ck_assert_int_eq(A.nreqs, nreqs);
    ck_assert_uint_eq(tbe[0].st.tls_failures, 1);
    ck_assert_uint_eq(httpc_pool_stats(proxy_pool(px, 0))->tls_failures, 1);
}
END_TEST

static Suite *
proxy_suite(void)
{
    Suite *s = suite_create("proxy");
    TCase *th = tcase_create("proxyhead");
    tcase_add_test(th, test_hop_names);
    tcase_add_test(th, test_request_lines);
    tcase_add_test(th, test_answer_lines);
    suite_add_tcase(s, th);
    TCase *tc = tcase_create("pass");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_length_answer);
    tcase_add_test(tc, test_chunked_answers);
    tcase_add_test(tc, test_slow_client);
    tcase_add_test(tc, test_request_body);
    tcase_add_test(tc, test_refused);
    tcase_add_test(tc, test_retry_and_not);
    tcase_add_test(tc, test_stall_and_cut);
    tcase_add_test(tc, test_client_leaves);
    suite_add_tcase(s, tc);
    TCase *tt = tcase_create("tls");
    tcase_add_unchecked_fixture(tt, px_tls_certs_make, px_tls_certs_remove);
    tcase_add_checked_fixture(tt, px_tls_setup, px_tls_teardown);
    tcase_set_timeout(tt, 30);
    tcase_add_test(tt, test_tls_pool);
    suite_add_tcase(s, tt);
    return s;
}

UNIT_MAIN(proxy_suite)
