/*
 * check_resolver.c -- unit tests of src/base/resolver.c against a DNS responder
 * in the test itself (UDP on 127.0.0.1, driven by the same libev loop).
 *
 * Covers: numeric addresses answer at once and never make a lookup; a name
 * is looked up in the background (TS_EAGAIN, the done callback, then
 * TS_OK once, with the port set); one lookup at a time; NXDOMAIN and a
 * server that never answers fail (the latter at resolve-timeout), counted,
 * with the name in the message; several addresses are handed out in turn;
 * a resolver freed with a lookup in flight reports nothing; the
 * dns-servers syntax check.
 */
#include "autoconf.h"

#include <arpa/inet.h>
#include <check.h>
#include <ev.h>
#include <netinet/in.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/resolver.h"
#include "base/util.h"
#include "unit.h"

enum mode { ANSWER, NXDOMAIN, DROP };

static struct ev_loop *loop;
static int dns_fd = -1;
static ev_io dns_io;
static int dns_port;
static enum mode mode;
static const char *answers[4];   /* A records to give */
static int queries;
static int done_calls;

/* Answers every A query from answers[] (AAAA: NOERROR, no data). */
static void
on_query(struct ev_loop *l, ev_io *w, int revents)
{
    (void)l;
    (void)w;
    (void)revents;
    unsigned char q[512], r[1024];
    struct sockaddr_in peer;
    socklen_t plen = sizeof(peer);
    ssize_t n = recvfrom(dns_fd, q, sizeof(q), 0, (struct sockaddr *)&peer, &plen);
    if (n < 17)
        return;
    queries++;
    if (mode == DROP)
        return;
    size_t off = 12;
    while (off < (size_t)n && q[off] != 0)
        off += (size_t)q[off] + 1;
    size_t qend = off + 5; /* zero label, type, class */
    if (qend > (size_t)n)
        return;
    int qtype = (q[off + 1] << 8) | q[off + 2];
    memcpy(r, q, qend);
    r[2] = 0x84 | (q[2] & 1);                 /* QR, AA, RD copied */
    r[3] = 0x80 | (mode == NXDOMAIN ? 3 : 0); /* RA, rcode */
    r[6] = r[7] = r[8] = r[9] = r[10] = r[11] = 0;
    size_t len = qend;
    int an = 0;
    for (int i = 0; mode == ANSWER && qtype == 1 && i < 4 && answers[i] != NULL; i++) {
        unsigned char rr[16] = { 0xC0, 0x0C, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4 };
        inet_pton(AF_INET, answers[i], rr + 12);
        memcpy(r + len, rr, 16);
        len += 16;
        an++;
    }
    r[7] = (unsigned char)an;
    sendto(dns_fd, r, len, 0, (struct sockaddr *)&peer, plen);
}

static void
setup(void)
{
    loop = ev_loop_new(EVFLAG_AUTO);
    dns_fd = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
    ck_assert_int_ge(dns_fd, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    ck_assert_int_eq(bind(dns_fd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t alen = sizeof(a);
    getsockname(dns_fd, (struct sockaddr *)&a, &alen);
    dns_port = ntohs(a.sin_port);
    ev_io_init(&dns_io, on_query, dns_fd, EV_READ);
    ev_io_start(loop, &dns_io);
    mode = ANSWER;
    memset(answers, 0, sizeof(answers));
    queries = 0;
    done_calls = 0;
}

static void
teardown(void)
{
    ev_io_stop(loop, &dns_io);
    close(dns_fd);
    ev_loop_destroy(loop);
}

static void
on_done(void *ctx)
{
    (void)ctx;
    done_calls++;
}

static struct resolver *
make(uint64_t timeout_ms)
{
    char servers[64];
    snprintf(servers, sizeof(servers), "127.0.0.1:%d", dns_port);
    struct resolver_opts o = { servers, timeout_ms };
    struct resolver *rs = resolver_new(loop, &o);
    ck_assert_ptr_nonnull(rs);
    resolver_set_done(rs, on_done, NULL);
    return rs;
}

/* Runs the loop until the done callback (or ms). */
static void
run_until_done(int ms)
{
    uint64_t end = ts_now_ms() + (uint64_t)ms;
    int before = done_calls;
    while (done_calls == before && ts_now_ms() < end)
        ev_run(loop, EVRUN_ONCE);
}

static const char *
ip_of(const struct sockaddr_storage *sa, int *port)
{
    static char buf[INET6_ADDRSTRLEN];
    ck_assert_int_eq(resolver_format(sa, buf, sizeof(buf), port), TS_OK);
    return buf;
}

START_TEST(test_numeric)
{
    struct resolver *rs = make(1000);
    struct sockaddr_storage sa;
    socklen_t len = 0;
    int port;
    ck_assert_int_eq(resolver_lookup(rs, "127.0.0.7", "4243", &sa, &len), TS_OK);
    ck_assert_str_eq(ip_of(&sa, &port), "127.0.0.7");
    ck_assert_int_eq(port, 4243);
    ck_assert_int_eq(len, sizeof(struct sockaddr_in));
    ck_assert_int_eq(resolver_lookup(rs, "::1", "6379", &sa, &len), TS_OK);
    ck_assert_str_eq(ip_of(&sa, &port), "::1");
    ck_assert_int_eq(port, 6379);
    ck_assert(!resolver_busy(rs));
    ck_assert_int_eq(resolver_get_stats(rs)->lookups, 0);
    ck_assert_int_eq(queries, 0);
    ck_assert(resolver_is_numeric("10.1.2.3"));
    ck_assert(resolver_is_numeric("fe80::1"));
    ck_assert(!resolver_is_numeric("tsd1.example"));
    ck_assert(!resolver_is_numeric(""));
    resolver_free(rs);
}
END_TEST

START_TEST(test_name)
{
    answers[0] = "127.0.0.9";
    struct resolver *rs = make(2000);
    struct sockaddr_storage sa;
    socklen_t len = 0;
    int port;
    ck_assert_int_eq(resolver_lookup(rs, "tsd.unit.test", "4243", &sa, &len), TS_EAGAIN);
    ck_assert(resolver_busy(rs));
    /* one lookup at a time: asking again starts none */
    ck_assert_int_eq(resolver_lookup(rs, "tsd.unit.test", "4243", &sa, &len), TS_EAGAIN);
    ck_assert_int_eq(resolver_get_stats(rs)->lookups, 1);
    run_until_done(2000);
    ck_assert_int_eq(done_calls, 1);
    ck_assert(!resolver_busy(rs));
    ck_assert_int_eq(resolver_lookup(rs, "tsd.unit.test", "4243", &sa, &len), TS_OK);
    ck_assert_str_eq(ip_of(&sa, &port), "127.0.0.9");
    ck_assert_int_eq(port, 4243);
    ck_assert_int_ge(queries, 1);
    /* handed out once: the next call looks again, and sees a change */
    answers[0] = "127.0.0.10";
    ck_assert_int_eq(resolver_lookup(rs, "tsd.unit.test", "4243", &sa, &len), TS_EAGAIN);
    run_until_done(2000);
    ck_assert_int_eq(resolver_lookup(rs, "tsd.unit.test", "4243", &sa, &len), TS_OK);
    ck_assert_str_eq(ip_of(&sa, &port), "127.0.0.10");
    ck_assert_int_eq(resolver_get_stats(rs)->lookups, 2);
    ck_assert_int_eq(resolver_get_stats(rs)->failures, 0);
    ck_assert_str_eq(resolver_error(rs), "");
    resolver_free(rs);
}
END_TEST

START_TEST(test_rotation)
{
    answers[0] = "127.0.0.21";
    answers[1] = "127.0.0.22";
    struct resolver *rs = make(2000);
    struct sockaddr_storage sa;
    socklen_t len;
    int port;
    char seen[2][INET6_ADDRSTRLEN];
    for (int i = 0; i < 2; i++) {
        ck_assert_int_eq(resolver_lookup(rs, "multi.unit.test", "80", &sa, &len), TS_EAGAIN);
        run_until_done(2000);
        ck_assert_int_eq(resolver_lookup(rs, "multi.unit.test", "80", &sa, &len), TS_OK);
        snprintf(seen[i], sizeof(seen[i]), "%s", ip_of(&sa, &port));
    }
    ck_assert_str_ne(seen[0], seen[1]);
    resolver_free(rs);
}
END_TEST

START_TEST(test_nxdomain)
{
    mode = NXDOMAIN;
    struct resolver *rs = make(2000);
    struct sockaddr_storage sa;
    socklen_t len;
    ck_assert_int_eq(resolver_lookup(rs, "gone.unit.test", "4243", &sa, &len), TS_EAGAIN);
    run_until_done(2000);
    ck_assert_int_eq(done_calls, 1);
    ck_assert_int_eq(resolver_lookup(rs, "gone.unit.test", "4243", &sa, &len), TS_ERROR);
    ck_assert_msg(strstr(resolver_error(rs), "cannot resolve gone.unit.test") != NULL, "%s",
                  resolver_error(rs));
    ck_assert_int_eq(resolver_get_stats(rs)->failures, 1);
    ck_assert_int_eq(resolver_get_stats(rs)->timeouts, 0);
    /* the failure is handed out once too: the next call looks again */
    mode = ANSWER;
    answers[0] = "127.0.0.5";
    ck_assert_int_eq(resolver_lookup(rs, "gone.unit.test", "4243", &sa, &len), TS_EAGAIN);
    run_until_done(2000);
    ck_assert_int_eq(resolver_lookup(rs, "gone.unit.test", "4243", &sa, &len), TS_OK);
    resolver_free(rs);
}
END_TEST

START_TEST(test_timeout)
{
    mode = DROP;
    struct resolver *rs = make(300);
    struct sockaddr_storage sa;
    socklen_t len;
    uint64_t t0 = ts_now_ms();
    ck_assert_int_eq(resolver_lookup(rs, "slow.unit.test", "4243", &sa, &len), TS_EAGAIN);
    run_until_done(3000);
    uint64_t took = ts_now_ms() - t0;
    ck_assert_int_eq(done_calls, 1);
    ck_assert_msg(took >= 250 && took < 1500, "the deadline fired after %llu ms",
                  (unsigned long long)took);
    ck_assert_int_eq(resolver_lookup(rs, "slow.unit.test", "4243", &sa, &len), TS_ERROR);
    ck_assert_msg(strstr(resolver_error(rs), "resolve-timeout (300 ms)") != NULL, "%s",
                  resolver_error(rs));
    ck_assert_int_eq(resolver_get_stats(rs)->timeouts, 1);
    ck_assert_int_eq(resolver_get_stats(rs)->failures, 1);
    resolver_free(rs);
}
END_TEST

START_TEST(test_free_in_flight)
{
    mode = DROP;
    struct resolver *rs = make(5000);
    struct sockaddr_storage sa;
    socklen_t len;
    ck_assert_int_eq(resolver_lookup(rs, "slow.unit.test", "4243", &sa, &len), TS_EAGAIN);
    for (int i = 0; i < 5; i++)
        ev_run(loop, EVRUN_NOWAIT);
    resolver_free(rs);
    ev_run(loop, EVRUN_NOWAIT);
    ck_assert_int_eq(done_calls, 0);
}
END_TEST

START_TEST(test_bad_port)
{
    struct resolver *rs = make(1000);
    struct sockaddr_storage sa;
    socklen_t len;
    ck_assert_int_eq(resolver_lookup(rs, "tsd.unit.test", "http", &sa, &len), TS_ERROR);
    ck_assert_int_eq(queries, 0);
    resolver_free(rs);
}
END_TEST

START_TEST(test_check_servers)
{
    char err[256];
    ck_assert_int_eq(resolver_check_servers("", 4, err, sizeof(err)), TS_OK);
    ck_assert_int_eq(resolver_check_servers("  ", 4, err, sizeof(err)), TS_OK);
    ck_assert_int_eq(resolver_check_servers("127.0.0.1", 4, err, sizeof(err)), TS_OK);
    ck_assert_int_eq(resolver_check_servers("127.0.0.1:5353, 10.0.0.2", 4, err, sizeof(err)),
                     TS_OK);
    ck_assert_int_eq(resolver_check_servers("[::1]:53,::1,[fe80::2]", 4, err, sizeof(err)),
                     TS_OK);
    ck_assert_int_eq(resolver_check_servers("ns1.example", 4, err, sizeof(err)), TS_ERROR);
    ck_assert_msg(strstr(err, "not an IP address") != NULL, "%s", err);
    ck_assert_int_eq(resolver_check_servers("127.0.0.1:0", 4, err, sizeof(err)), TS_ERROR);
    ck_assert_int_eq(resolver_check_servers("127.0.0.1:99999", 4, err, sizeof(err)), TS_ERROR);
    ck_assert_int_eq(resolver_check_servers("127.0.0.1,,127.0.0.2", 4, err, sizeof(err)),
                     TS_ERROR);
    ck_assert_int_eq(resolver_check_servers("[::1", 4, err, sizeof(err)), TS_ERROR);
    ck_assert_int_eq(resolver_check_servers("1.1.1.1,1.1.1.2,1.1.1.3,1.1.1.4,1.1.1.5", 4, err,
                                            sizeof(err)),
                     TS_ERROR);
    ck_assert_msg(strstr(err, "more than 4") != NULL, "%s", err);
}
END_TEST

static Suite *
resolver_suite(void)
{
    Suite *s = suite_create("resolver");
    TCase *tc = tcase_create("resolver");
    tcase_set_timeout(tc, 20);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_numeric);
    tcase_add_test(tc, test_name);
    tcase_add_test(tc, test_rotation);
    tcase_add_test(tc, test_nxdomain);
    tcase_add_test(tc, test_timeout);
    tcase_add_test(tc, test_free_in_flight);
    tcase_add_test(tc, test_bad_port);
    tcase_add_test(tc, test_check_servers);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(resolver_suite)
