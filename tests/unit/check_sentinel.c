/*
 * check_sentinel.c -- unit tests of src/spool/sentinel.c that need no Redis.
 *
 * Covers: without Sentinels, the configured numeric address is handed out
 * at once, every time, and ROLE is not asked; with Sentinels that are all
 * unreachable, a round asks each once, fails (TS_ERROR, counted once),
 * and the next call starts a new round; freeing with a round in flight
 * leaves nothing behind (valgrind).  The conversation with real Sentinels
 * and a failover is tests/integration/test_sentinel.py.
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

#include "base/config.h"
#include "spool/sentinel.h"
#include "base/util.h"
#include "unit.h"

static struct ev_loop *loop;
static struct cfg_redis rc;
static struct sentinel_stats st;
static const struct resolver_opts ro = { "127.0.0.1:1", 1000 };

/* A loopback port with nothing listening. */
static int
closed_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    ck_assert_int_eq(bind(fd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t len = sizeof(a);
    getsockname(fd, (struct sockaddr *)&a, &len);
    close(fd);
    return ntohs(a.sin_port);
}

static void
setup(void)
{
    loop = ev_loop_new(EVFLAG_AUTO);
    memset(&rc, 0, sizeof(rc));
    memset(&st, 0, sizeof(st));
    rc.connect_timeout_ms = 1000;
    snprintf(rc.addr.host, sizeof(rc.addr.host), "127.0.0.1");
    snprintf(rc.addr.port, sizeof(rc.addr.port), "6390");
}

static void
teardown(void)
{
    ev_loop_destroy(loop);
}

START_TEST(test_address)
{
    struct sentinel *s = sentinel_new(loop, &rc, &ro, &st);
    ck_assert_ptr_nonnull(s);
    ck_assert(!sentinel_enabled(s));
    char ip[64];
    int port = 0;
    for (int i = 0; i < 3; i++) {
        ck_assert_int_eq(sentinel_master(s, ip, sizeof(ip), &port), TS_OK);
        ck_assert_str_eq(ip, "127.0.0.1");
        ck_assert_int_eq(port, 6390);
    }
    ck_assert_int_eq(sentinel_check_role(s, NULL, NULL, NULL), TS_OK);
    ck_assert_int_eq(st.queries, 0);
    ck_assert_int_eq(st.resolve_failures, 0);
    sentinel_free(s);
}
END_TEST

START_TEST(test_round_fails)
{
    rc.nsentinels = 2;
    snprintf(rc.master_name, sizeof(rc.master_name), "mymaster");
    for (int i = 0; i < 2; i++) {
        snprintf(rc.sentinels[i].host, sizeof(rc.sentinels[i].host), "127.0.0.1");
        snprintf(rc.sentinels[i].port, sizeof(rc.sentinels[i].port), "%d", closed_port());
    }
    struct sentinel *s = sentinel_new(loop, &rc, &ro, &st);
    ck_assert(sentinel_enabled(s));
    char ip[64];
    int port = 0, rc1 = TS_EAGAIN;
    uint64_t end = ts_now_ms() + 5000;
    while ((rc1 = sentinel_master(s, ip, sizeof(ip), &port)) == TS_EAGAIN && ts_now_ms() < end)
        ev_run(loop, EVRUN_ONCE);
    ck_assert_int_eq(rc1, TS_ERROR);
    ck_assert_int_eq(st.failures, 1);
    ck_assert_int_ge(st.queries, 2);
    /* the next call starts another round */
    ck_assert_int_eq(sentinel_master(s, ip, sizeof(ip), &port), TS_EAGAIN);
    sentinel_free(s); /* with a round in flight */
    ck_assert_int_eq(st.failures, 1);
}
END_TEST

static Suite *
sentinel_suite(void)
{
    Suite *s = suite_create("sentinel");
    TCase *tc = tcase_create("sentinel");
    tcase_set_timeout(tc, 20);
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_address);
    tcase_add_test(tc, test_round_fails);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(sentinel_suite)
