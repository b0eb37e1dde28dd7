/*
 * check_tls.c -- unit tests of TLS on both sides: src/base/tls.c (contexts,
 * calls, failure reasons, the counted heap), src/input/tls_server.c (the
 * listeners' context, a client's handshake and reads in recv()'s shape,
 * the line of handshake slots) and src/output/tls_client.c (a server's
 * context and its holders, name verification (the context's or a
 * connection's own), writes with their marks and what an acknowledgement
 * proves, the TLS 1.3 probation), and src/ops/credentials.c (contexts
 * built whole, modes of secret files).
 *
 * Certificates are made in the test process (test_certs.h: a CA, a
 * server certificate for relay.test and 127.0.0.1, a client certificate,
 * and another CA with a client of its own), written to a temporary
 * directory; the two sides talk over a non-blocking socketpair, stepped
 * by hand.
 */
#include "autoconf.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include "base/config.h"
#include "base/counters.h"
#include "base/log.h"
#include "base/tls.h"
#include "base/util.h"
#include "input/tls_server.h"
#include "ops/credentials.h"
#include "output/tls_client.h"
#include "test_certs.h"
#include "unit.h"

static char dir[256];

static const char *
path(const char *name)
{
    return certs_path(dir, name);
}

/* ---- certificates ------------------------------------------------------ */

/* Unchecked fixture (the parent, once): OpenSSL counted from its first
 * allocation, the certificates made (test_certs.h). */
static void
make_certs(void)
{
    tls_library_init();
    log_set_level(LOG_ERROR);
    snprintf(dir, sizeof(dir), "/tmp/check_tls.XXXXXX");
    certs_make(dir);
}

static void
remove_certs(void)
{
    certs_remove(dir);
}

/* ---- two ends ----------------------------------------------------------- */

static struct cfg_tls scfg;
static struct tls_server *srv;
static struct tls_client *cli;
static struct tls_link link_;
static struct tls_line line;
static struct tls_session sess;
static int fds[2];
static char why[512];

static void
server_conf(const char *ca, bool tls13)
{
    memset(&scfg, 0, sizeof(scfg));
    snprintf(scfg.cert, sizeof(scfg.cert), "%s", path("server.pem"));
    snprintf(scfg.key, sizeof(scfg.key), "%s", path("server.key"));
    if (ca != NULL)
        snprintf(scfg.ca, sizeof(scfg.ca), "%s", path(ca));
    scfg.min_version = tls13 ? TLS_MIN_13 : TLS_MIN_12;
    scfg.max_handshakes = 4;
    srv = tls_server_new(&scfg, why, sizeof(why));
    ck_assert_msg(srv != NULL, "%s", why);
}

static void
client_conf(const char *name, const char *cert)
{
    char c[64] = "", k[64] = "";
    if (cert != NULL) {
        snprintf(c, sizeof(c), "%s", path(cert));
        snprintf(k, sizeof(k), "%s", path(cert));
        memcpy(k + strlen(k) - 3, "key", 3);
    }
    struct tls_client_opts o = { .what = "[backend t]", .ca = path("ca.pem"), .cert = c,
                                 .key = k, .server_name = name };
    cli = tls_client_new(&o, why, sizeof(why));
    ck_assert_msg(cli != NULL, "%s", why);
}

static void
ends(void)
{
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
    memset(&link_, 0, sizeof(link_));
    memset(&line, 0, sizeof(line));
    ck_assert_int_eq(tls_server_enter(&link_, &line, 4), TS_OK);
    ck_assert_int_eq(tls_server_attach(&link_, srv, fds[0]), TS_OK);
    ck_assert_int_eq(tls_client_begin(&sess, cli, fds[1]), TS_OK);
}

static bool
final(enum tls_io io)
{
    return io == TLS_IO_DONE || io == TLS_IO_FAILED || io == TLS_IO_CLOSED;
}

/* Steps both handshakes until each is over, one way or the other. */
static void
handshake(enum tls_io *s_io, enum tls_io *c_io)
{
    *s_io = *c_io = TLS_IO_WANT_READ;
    for (int i = 0; i < 100 && !(final(*s_io) && final(*c_io)); i++) {
        if (!final(*c_io))
            *c_io = tls_client_handshake(&sess, 1000, 10, why, sizeof(why));
        if (!final(*s_io))
            *s_io = tls_server_handshake(&link_, fds[0]);
    }
}

static void
teardown_ends(void)
{
    tls_server_detach(&link_);
    tls_client_end(&sess, false);
    close(fds[0]);
    close(fds[1]);
    tls_server_free(srv);
    tls_client_free(cli);
    srv = NULL;
    cli = NULL;
}

/* ---- contexts ----------------------------------------------------------- */

START_TEST(test_context_errors)
{
    struct tls_ctx_opts o = { .server = true, .cert = path("nope.pem"), .key = "",
                              .ca = "", .ciphers = "" };
    ck_assert_ptr_null(tls_ctx_new(&o, "[tls]", why, sizeof(why)));
    ck_assert_msg(strstr(why, "[tls] cert ") == why && strstr(why, "cannot read it: No such file"),
                  "%s", why);
    o.cert = path("server.pem");
    o.key = path("client.key");
    ck_assert_ptr_null(tls_ctx_new(&o, "[tls]", why, sizeof(why)));
    ck_assert_msg(strstr(why, "[tls] key ") == why && strstr(why, "key values mismatch"), "%s",
                  why);
    o.key = path("server.key");
    o.ca = path("server.key");
    ck_assert_ptr_null(tls_ctx_new(&o, "[tls]", why, sizeof(why)));
    ck_assert_msg(strstr(why, "[tls] ca ") == why, "%s", why);
    o.ca = "";
    o.ciphers = "NOTHING-KNOWN";
    ck_assert_ptr_null(tls_ctx_new(&o, "[tls]", why, sizeof(why)));
    ck_assert_msg(strstr(why, "[tls] ciphers: no cipher of 'NOTHING-KNOWN'"), "%s", why);
    o.ciphers = "";
    SSL_CTX *ctx = tls_ctx_new(&o, "[tls]", why, sizeof(why));
    ck_assert_msg(ctx != NULL, "%s", why);
    char d[300];
    time_t na;
    tls_ctx_describe(ctx, d, sizeof(d), &na);
    ck_assert_msg(strstr(d, "CN=relay.test, expires ") != NULL, "%s", d);
    ck_assert_int_gt(na, time(NULL));
    SSL_CTX_free(ctx);
}
END_TEST

START_TEST(test_heap_counted)
{
    uint64_t before = tls_memory_bytes();
    ck_assert_uint_gt(before, 0);
    server_conf(NULL, false);
    uint64_t with = tls_memory_bytes();
    ck_assert_uint_gt(with, before);
    tls_server_free(srv);
    srv = NULL;
    ck_assert_uint_lt(tls_memory_bytes(), with);
}
END_TEST

/* ---- a connection -------------------------------------------------------- */

START_TEST(test_handshake_and_data)
{
    server_conf(NULL, false);
    client_conf("relay.test", NULL);
    ends();
    uint64_t done0 = g_stats.tls.handshakes;
    enum tls_io s_io, c_io;
    handshake(&s_io, &c_io);
    ck_assert_msg(s_io == TLS_IO_DONE && c_io == TLS_IO_DONE, "%d %d %s", s_io, c_io, why);
    ck_assert_uint_eq(g_stats.tls.handshakes, done0 + 1);
    ck_assert(link_.established && !link_.slot && line.active == 0);
    ck_assert_str_eq(tls_version_name(sess.ssl), "TLSv1.3");
    /* the client writes three pieces; the server peeks, discards, reads */
    char a[] = "put m 1 1 a=b\n", b[] = "put m 2 2 a=b\n", c[] = "version\n";
    struct iovec iov[3] = { { a, strlen(a) }, { b, strlen(b) }, { c, strlen(c) } };
    ssize_t w = tls_client_writev(&sess, iov, 3, 500);
    ck_assert_int_eq(w, (ssize_t)(strlen(a) + strlen(b) + strlen(c)));
    ck_assert_int_eq(sess.nmarks, 3);
    ck_assert_uint_eq(sess.mark_stream[2], 500 + (uint64_t)w);
    char buf[256];
    ssize_t n = tls_server_recv(&link_, buf, sizeof(buf), true);
    ck_assert_int_eq(n, (ssize_t)strlen(a)); /* a peek shows one record */
    ck_assert(memcmp(buf, a, (size_t)n) == 0);
    ck_assert_int_eq(tls_server_recv(&link_, buf, sizeof(buf), true), n); /* it stays */
    ck_assert_int_eq(tls_server_recv(&link_, NULL, 5, false), 5); /* a discard */
    ck_assert(tls_server_buffered(&link_));
    n = tls_server_recv(&link_, buf, sizeof(buf), false);
    ck_assert_int_eq(n, (ssize_t)strlen(a) - 5);
    ck_assert(!tls_server_buffered(&link_));
    n = tls_server_recv(&link_, buf, sizeof(buf), false);
    ck_assert_int_eq(n, (ssize_t)strlen(b));
    n = tls_server_recv(&link_, buf, sizeof(buf), false);
    ck_assert_int_eq(n, (ssize_t)strlen(c));
    ck_assert_int_eq(tls_server_recv(&link_, buf, sizeof(buf), false), -1);
    ck_assert_int_eq(errno, EAGAIN);
    /* and back */
    ck_assert_int_eq(tls_server_send(&link_, "tsrelay\n", 8), 8);
    ck_assert_int_eq(tls_client_read(&sess, buf, sizeof(buf)), 8);
    ck_assert(sess.proven); /* it wrote to us: it took us */
    /* close_notify: the other end reads the end */
    tls_server_goodbye(&link_);
    ck_assert_int_eq(tls_client_read(&sess, buf, sizeof(buf)), 0);
    teardown_ends();
    ck_assert_uint_eq(g_stats.tls.open, 0);
}
END_TEST

START_TEST(test_marks_and_acknowledgements)
{
    server_conf(NULL, false);
    client_conf("127.0.0.1", NULL); /* an IP address, checked against IP entries */
    ends();
    enum tls_io s_io, c_io;
    handshake(&s_io, &c_io);
    ck_assert_msg(c_io == TLS_IO_DONE, "%s", why);
    uint64_t wire0 = BIO_number_written(SSL_get_wbio(sess.ssl));
    char rec[100];
    memset(rec, 'x', sizeof(rec));
    uint64_t stream = 0, wire[100];
    for (int i = 0; i < 100; i++) { /* 100 records: more than the ring holds */
        struct iovec iov = { rec, sizeof(rec) };
        ck_assert_int_eq(tls_client_writev(&sess, &iov, 1, stream), (ssize_t)sizeof(rec));
        stream += sizeof(rec);
        wire[i] = BIO_number_written(SSL_get_wbio(sess.ssl));
        char sink[256];
        (void)tls_server_recv(&link_, sink, sizeof(sink), false); /* keep the pair flowing */
    }
    ck_assert_int_eq(sess.nmarks, TLS_CLIENT_MARKS);
    uint64_t all = wire[99] - wire0;
    ck_assert_uint_eq(tls_client_acked(&sess, all + (wire0 - 0)), 0); /* nothing acknowledged */
    /* the first ten records' bytes acknowledged: the stream after record 10 */
    ck_assert_uint_eq(tls_client_acked(&sess, wire[99] - wire[9]), 10 * sizeof(rec));
    /* one byte short of record 11: still 10 */
    ck_assert_uint_eq(tls_client_acked(&sess, wire[99] - wire[10] + 1), 0);
    /* everything: the newest mark (the ring coarsened, never ahead) */
    ck_assert_uint_eq(tls_client_acked(&sess, 0), stream);
    ck_assert_int_eq(sess.nmarks, 0);
    teardown_ends();
}
END_TEST

START_TEST(test_probation)
{
    server_conf("ca.pem", false); /* a server that checks client certificates */
    client_conf("relay.test", "client.pem");
    ends();
    enum tls_io s_io, c_io;
    handshake(&s_io, &c_io);
    ck_assert_msg(c_io == TLS_IO_DONE && s_io == TLS_IO_DONE, "%s", why);
    /* TLS 1.3, no ticket, no data yet: on probation for 2 x 10 ms, at least 200 */
    ck_assert(!tls_client_proven(&sess, 1000));
    ck_assert(!tls_client_proven(&sess, 1199));
    ck_assert(tls_client_proven(&sess, 1200));
    teardown_ends();
}
END_TEST

/* ---- refusals, and why -------------------------------------------------- */

static uint64_t
failed(enum tls_fail f)
{
    return g_stats.tls.failures[f];
}

START_TEST(test_name_mismatch)
{
    server_conf(NULL, false);
    client_conf("other.test", NULL);
    ends();
    enum tls_io s_io, c_io;
    handshake(&s_io, &c_io);
    ck_assert_int_eq(c_io, TLS_IO_FAILED);
    ck_assert_msg(strstr(why, "hostname mismatch") && strstr(why, "[bad_certificate]"), "%s", why);
    ck_assert(final(s_io) && s_io != TLS_IO_DONE);
    teardown_ends();
    client_conf("127.0.0.2", NULL);
    server_conf(NULL, false);
    ends();
    handshake(&s_io, &c_io);
    ck_assert_int_eq(c_io, TLS_IO_FAILED);
    ck_assert_msg(strstr(why, "IP address mismatch"), "%s", why);
    teardown_ends();
}
END_TEST

/* A context has holders (a backend and its HTTP pools): the last free
 * frees it; a connection may verify a name of its own (an HTTP pool to
 * http-address) instead of the context's. */
START_TEST(test_holds_and_names)
{
    server_conf(NULL, false);
    client_conf("other.test", NULL);
    ck_assert_ptr_eq(tls_client_hold(cli), cli);
    tls_client_free(cli); /* one holder left: still whole */
    ck_assert_int_eq(cli->holds, 1);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
    memset(&link_, 0, sizeof(link_));
    memset(&line, 0, sizeof(line));
    ck_assert_int_eq(tls_server_enter(&link_, &line, 4), TS_OK);
    ck_assert_int_eq(tls_server_attach(&link_, srv, fds[0]), TS_OK);
    ck_assert_int_eq(tls_client_begin_named(&sess, cli, fds[1], "relay.test"), TS_OK);
    enum tls_io s_io, c_io;
    handshake(&s_io, &c_io);
    ck_assert_msg(c_io == TLS_IO_DONE && s_io == TLS_IO_DONE, "%s", why);
    teardown_ends();
    server_conf(NULL, false);
    client_conf("relay.test", NULL);
    ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0, fds), 0);
    memset(&link_, 0, sizeof(link_));
    memset(&line, 0, sizeof(line));
    ck_assert_int_eq(tls_server_enter(&link_, &line, 4), TS_OK);
    ck_assert_int_eq(tls_server_attach(&link_, srv, fds[0]), TS_OK);
    ck_assert_int_eq(tls_client_begin_named(&sess, cli, fds[1], "127.0.0.2"), TS_OK);
    handshake(&s_io, &c_io);
    ck_assert_int_eq(c_io, TLS_IO_FAILED);
    ck_assert_msg(strstr(why, "IP address mismatch"), "%s", why);
    teardown_ends();
    struct cfg_backend b;
    memset(&b, 0, sizeof(b));
    snprintf(b.addr.host, sizeof(b.addr.host), "tsd1");
    snprintf(b.http_addr.host, sizeof(b.http_addr.host), "tsd1-api");
    ck_assert_str_eq(tls_client_name_for(&b, &b.addr), "tsd1");
    ck_assert_str_eq(tls_client_name_for(&b, &b.http_addr), "tsd1-api");
    snprintf(b.server_name, sizeof(b.server_name), "tsd.example");
    ck_assert_str_eq(tls_client_name_for(&b, &b.http_addr), "tsd.example");
}
END_TEST

START_TEST(test_mtls_refusals)
{
    const char *certs[] = { NULL, "stranger.pem", "client.pem" };
    const enum tls_fail want[] = { TLS_FAIL_NO_CERT, TLS_FAIL_BAD_CERT, TLS_FAIL_OTHER };
    for (int i = 0; i < 3; i++) {
        server_conf("ca.pem", false);
        client_conf("relay.test", certs[i]);
        ends();
        uint64_t before = failed(want[i]);
        enum tls_io s_io, c_io;
        handshake(&s_io, &c_io);
        if (i == 2) {
            ck_assert_msg(s_io == TLS_IO_DONE, "a good certificate: %d", s_io);
        } else {
            ck_assert_int_eq(s_io, TLS_IO_FAILED);
            ck_assert_uint_eq(failed(want[i]), before + 1);
        }
        teardown_ends();
    }
}
END_TEST

START_TEST(test_version_refused)
{
    server_conf(NULL, true); /* min-version 1.3 */
    client_conf("relay.test", NULL);
    ends();
    SSL_set_max_proto_version(sess.ssl, TLS1_2_VERSION);
    uint64_t before = failed(TLS_FAIL_VERSION);
    enum tls_io s_io, c_io;
    handshake(&s_io, &c_io);
    ck_assert_int_eq(s_io, TLS_IO_FAILED);
    ck_assert_uint_eq(failed(TLS_FAIL_VERSION), before + 1);
    teardown_ends();
}
END_TEST

START_TEST(test_not_tls)
{
    server_conf(NULL, false);
    client_conf("relay.test", NULL);
    ends();
    uint64_t before = failed(TLS_FAIL_NOT_TLS);
    ck_assert_int_eq(write(fds[1], "put m 1 1 a=b\n", 14), 14);
    ck_assert_int_eq(tls_server_handshake(&link_, fds[0]), TLS_IO_FAILED);
    ck_assert_uint_eq(failed(TLS_FAIL_NOT_TLS), before + 1);
    teardown_ends();
    server_conf(NULL, false);
    client_conf("relay.test", NULL);
    ends();
    before = failed(TLS_FAIL_CLOSED);
    close(fds[1]);
    fds[1] = open("/dev/null", O_RDONLY); /* (closed again by the teardown) */
    ck_assert_int_eq(tls_server_handshake(&link_, fds[0]), TLS_IO_CLOSED);
    ck_assert_uint_eq(failed(TLS_FAIL_CLOSED), before + 1);
    before = failed(TLS_FAIL_TIMEOUT);
    tls_server_timed_out(&link_, "peer"); /* over already: not counted twice */
    ck_assert_uint_eq(failed(TLS_FAIL_TIMEOUT), before);
    teardown_ends();
}
END_TEST

/* ---- handshake slots ---------------------------------------------------- */

START_TEST(test_line_of_slots)
{
    struct tls_line l;
    struct tls_link t[4];
    memset(&l, 0, sizeof(l));
    memset(t, 0, sizeof(t));
    uint64_t waits = g_stats.tls.waits;
    ck_assert_int_eq(tls_server_enter(&t[0], &l, 2), TS_OK);
    ck_assert_int_eq(tls_server_enter(&t[1], &l, 2), TS_OK);
    ck_assert_int_eq(tls_server_enter(&t[2], &l, 2), TS_EAGAIN);
    ck_assert_int_eq(tls_server_enter(&t[3], &l, 2), TS_EAGAIN);
    ck_assert_uint_eq(g_stats.tls.waiting, 2);
    ck_assert_uint_eq(g_stats.tls.waits, waits + 2);
    ck_assert_ptr_null(tls_server_next(&l, 2)); /* no slot free */
    ck_assert(!tls_server_detach(&t[3]));       /* gone while waiting: out of line */
    ck_assert_uint_eq(g_stats.tls.waiting, 1);
    ck_assert(tls_server_detach(&t[0]));        /* a slot back */
    ck_assert_ptr_eq(tls_server_next(&l, 2), &t[2]);
    ck_assert(t[2].slot && !t[2].queued);
    ck_assert_ptr_null(tls_server_next(&l, 2));
    ck_assert_uint_eq(l.active, 2);
    ck_assert(tls_server_detach(&t[1]));
    ck_assert(tls_server_detach(&t[2]));
    ck_assert_uint_eq(l.active, 0);
    ck_assert_uint_eq(g_stats.tls.waiting, 0);
    /* a newcomer does not pass those in line */
    ck_assert_int_eq(tls_server_enter(&t[0], &l, 1), TS_OK);
    ck_assert_int_eq(tls_server_enter(&t[1], &l, 1), TS_EAGAIN);
    ck_assert(tls_server_detach(&t[0]));
    ck_assert_int_eq(tls_server_enter(&t[2], &l, 1), TS_EAGAIN);
    ck_assert_ptr_eq(tls_server_next(&l, 1), &t[1]);
    tls_server_detach(&t[1]);
    tls_server_detach(&t[2]);
}
END_TEST

/* ---- credentials ------------------------------------------------------- */

static int nwarn;
static char lastwarn[1024];

static void
warn(void *ctx, const char *line_)
{
    (void)ctx;
    nwarn++;
    snprintf(lastwarn, sizeof(lastwarn), "%s", line_);
}

START_TEST(test_credentials)
{
    static struct config cfg;
    static struct credentials cr;
    config_defaults(&cfg);
    cfg.nlisten = 1;
    cfg.listen[0].tls = true;
    snprintf(cfg.path, sizeof(cfg.path), "%s", path("open.pem"));
    snprintf(cfg.tls.cert, sizeof(cfg.tls.cert), "%s", path("server.pem"));
    snprintf(cfg.tls.key, sizeof(cfg.tls.key), "%s", path("server.key"));
    cfg.nbackends = 2;
    snprintf(cfg.backends[0].name, CFG_NAME_MAX, "a");
    snprintf(cfg.backends[1].name, CFG_NAME_MAX, "b");
    cfg.backends[1].tls = 1;
    snprintf(cfg.backends[1].addr.host, CFG_HOST_MAX, "relay.test");
    snprintf(cfg.backends[1].ca, CFG_PATH_MAX, "%s", path("nope.pem"));
    ck_assert_int_eq(credentials_load(&cr, &cfg, NULL, why, sizeof(why)), TS_ERROR);
    ck_assert_msg(strstr(why, "[backend b] ca ") == why, "%s", why);
    ck_assert_ptr_null(cr.server); /* nothing built is kept */
    bool only[CFG_MAX_BACKENDS] = { true, false };
    ck_assert_int_eq(credentials_load(&cr, &cfg, only, why, sizeof(why)), TS_OK);
    ck_assert_ptr_nonnull(cr.server);
    ck_assert_ptr_null(cr.backend[1]); /* left out */
    credentials_free(&cr);
    snprintf(cfg.backends[1].ca, CFG_PATH_MAX, "%s", path("ca.pem"));
    ck_assert_int_eq(credentials_load(&cr, &cfg, NULL, why, sizeof(why)), TS_OK);
    ck_assert_ptr_nonnull(cr.backend[1]);
    ck_assert_str_eq(cr.backend[1]->server_name, "relay.test");
    credentials_free(&cr);
    /* modes: the key is 0600; the configuration holds no password */
    nwarn = 0;
    ck_assert_int_eq(credentials_check_modes(&cfg, warn, NULL), 0);
    chmod(path("server.key"), 0644);
    ck_assert_int_eq(credentials_check_modes(&cfg, warn, NULL), 1);
    ck_assert_msg(strstr(lastwarn, "server.key holds the listeners' TLS private key and is "
                                   "readable by every user (mode 0644)"), "%s", lastwarn);
    chmod(path("server.key"), 0600);
    FILE *f = fopen(path("open.pem"), "w");
    fclose(f);
    chmod(path("open.pem"), 0644);
    cfg.redis.enabled = true;
    snprintf(cfg.redis.password, sizeof(cfg.redis.password), "pw");
    ck_assert_int_eq(credentials_check_modes(&cfg, warn, NULL), 1);
    ck_assert_msg(strstr(lastwarn, "holds a Redis password") && !strstr(lastwarn, "pw "), "%s",
                  lastwarn);
}
END_TEST

static Suite *
tls_suite(void)
{
    Suite *s = suite_create("tls");
    TCase *tc = tcase_create("tls");
    tcase_add_unchecked_fixture(tc, make_certs, remove_certs);
    tcase_set_timeout(tc, 30);
    tcase_add_test(tc, test_context_errors);
    tcase_add_test(tc, test_heap_counted);
    tcase_add_test(tc, test_handshake_and_data);
    tcase_add_test(tc, test_marks_and_acknowledgements);
    tcase_add_test(tc, test_probation);
    tcase_add_test(tc, test_name_mismatch);
    tcase_add_test(tc, test_holds_and_names);
    tcase_add_test(tc, test_mtls_refusals);
    tcase_add_test(tc, test_version_refused);
    tcase_add_test(tc, test_not_tls);
    tcase_add_test(tc, test_line_of_slots);
    tcase_add_test(tc, test_credentials);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(tls_suite)
