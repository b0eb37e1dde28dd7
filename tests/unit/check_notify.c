/*
 * check_notify.c -- unit tests of the systemd notifications (src/ops/notify.c).
 *
 * Covers: no NOTIFY_SOCKET = no-op; a message arriving whole on a path
 * socket and on an abstract (@name) socket; a socket nobody listens on
 * (an error, not a crash); NOTIFY_SOCKET that cannot be an AF_UNIX address;
 * WATCHDOG_USEC and WATCHDOG_PID; the STATUS= text and its bounds.  The
 * timers and READY/STOPPING ordering are tested against the real daemon
 * (tests/integration/test_notify.py).  Runs the same with and without
 * libsystemd (configure --without-libsystemd).
 */
#include "autoconf.h"

#include <check.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#include "ops/notify.h"
#include "base/util.h"
#include "unit.h"

static char dir[64];
static char path[128];

static void
setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/check_notify.XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/notify.sock", dir);
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
}

static void
teardown(void)
{
    notify_close();
    unlink(path);
    rmdir(dir);
    unsetenv("NOTIFY_SOCKET");
    unsetenv("WATCHDOG_USEC");
    unsetenv("WATCHDOG_PID");
}

/* A datagram socket bound to name (a path, or @abstract). */
static int
listen_on(const char *name)
{
    int fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(fd, 0);
    struct sockaddr_un sa;
    memset(&sa, 0, sizeof(sa));
    sa.sun_family = AF_UNIX;
    size_t len = strlen(name);
    ck_assert_uint_lt(len, sizeof(sa.sun_path));
    memcpy(sa.sun_path, name, len);
    if (name[0] == '@')
        sa.sun_path[0] = '\0';
    socklen_t salen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    ck_assert_msg(bind(fd, (struct sockaddr *)&sa, salen) == 0, "bind %s: %s", name,
                  strerror(errno));
    return fd;
}

/* The next datagram, or "" after 2 s. */
static const char *
receive(int fd)
{
    static char buf[1024];
    struct pollfd p = { .fd = fd, .events = POLLIN };
    buf[0] = '\0';
    if (poll(&p, 1, 2000) == 1) {
        ssize_t n = recv(fd, buf, sizeof(buf) - 1, 0);
        buf[n > 0 ? n : 0] = '\0';
    }
    return buf;
}

static int
pending(int fd)
{
    struct pollfd p = { .fd = fd, .events = POLLIN };
    return poll(&p, 1, 100);
}

START_TEST(test_off_without_socket)
{
    ck_assert_int_eq(notify_open(), 0);
    ck_assert_int_eq(notify_send("READY=1"), TS_OK);
    ck_assert_uint_eq(notify_watchdog_usec(), 0);
    setenv("NOTIFY_SOCKET", "", 1);
    setenv("WATCHDOG_USEC", "400000", 1);
    ck_assert_int_eq(notify_open(), 0);
    ck_assert_uint_eq(notify_watchdog_usec(), 0);
    notify_stopping(); /* no relay, no socket: nothing happens */
}
END_TEST

START_TEST(test_path_socket)
{
    int fd = listen_on(path);
    setenv("NOTIFY_SOCKET", path, 1);
    ck_assert_int_eq(notify_open(), 1);
    ck_assert_int_eq(notify_send("READY=1\nSTATUS=starting"), TS_OK);
    ck_assert_str_eq(receive(fd), "READY=1\nSTATUS=starting");
    ck_assert_int_eq(notify_send("WATCHDOG=1"), TS_OK);
    ck_assert_str_eq(receive(fd), "WATCHDOG=1");
    notify_stopping(); /* before notify_ready: a bare STOPPING=1 */
    ck_assert_str_eq(receive(fd), "STOPPING=1");
    notify_stopping(); /* once only */
    ck_assert_int_eq(pending(fd), 0);
    notify_close();
    ck_assert_int_eq(notify_send("WATCHDOG=1"), TS_OK); /* closed: a no-op */
    ck_assert_int_eq(pending(fd), 0);
    close(fd);
}
END_TEST

START_TEST(test_abstract_socket)
{
    char name[64];
    snprintf(name, sizeof(name), "@tsrelay-check-notify-%ld", (long)getpid());
    int fd = listen_on(name);
    setenv("NOTIFY_SOCKET", name, 1);
    ck_assert_int_eq(notify_open(), 1);
    ck_assert_int_eq(notify_send("READY=1"), TS_OK);
    ck_assert_str_eq(receive(fd), "READY=1");
    close(fd);
}
END_TEST

START_TEST(test_nobody_listening)
{
    setenv("NOTIFY_SOCKET", path, 1); /* no such socket */
    ck_assert_int_eq(notify_open(), 1);
    errno = 0;
    ck_assert_int_eq(notify_send("READY=1"), TS_ERROR);
    ck_assert_msg(errno != 0, "errno says why");
}
END_TEST

START_TEST(test_unusable_socket_name)
{
    char longname[200];
    memset(longname, 'x', sizeof(longname) - 1);
    longname[0] = '/';
    longname[sizeof(longname) - 1] = '\0';
    setenv("NOTIFY_SOCKET", longname, 1); /* longer than sun_path */
    int rc = notify_open();
    /* the built-in protocol refuses it at once; libsystemd when sending */
    if (rc == 1)
        ck_assert_int_eq(notify_send("READY=1"), TS_ERROR);
    else
        ck_assert_int_eq(rc, TS_ERROR);
    notify_close();
    setenv("NOTIFY_SOCKET", "relative/path", 1);
    rc = notify_open();
    if (rc == 1)
        ck_assert_int_eq(notify_send("READY=1"), TS_ERROR);
    else
        ck_assert_int_eq(rc, TS_ERROR);
}
END_TEST

START_TEST(test_watchdog_env)
{
    int fd = listen_on(path);
    setenv("NOTIFY_SOCKET", path, 1);
    setenv("WATCHDOG_USEC", "400000", 1);
    ck_assert_int_eq(notify_open(), 1);
    ck_assert_uint_eq(notify_watchdog_usec(), 400000);

    char pid[32];
    snprintf(pid, sizeof(pid), "%ld", (long)getpid());
    setenv("WATCHDOG_PID", pid, 1);
    ck_assert_int_eq(notify_open(), 1);
    ck_assert_uint_eq(notify_watchdog_usec(), 400000);

    snprintf(pid, sizeof(pid), "%ld", (long)getpid() + 1); /* another process's */
    setenv("WATCHDOG_PID", pid, 1);
    ck_assert_int_eq(notify_open(), 1);
    ck_assert_uint_eq(notify_watchdog_usec(), 0);

    unsetenv("WATCHDOG_PID");
    static const char *const bad[] = { "", "0", "abc", "12x", "-5" };
    for (size_t i = 0; i < TS_ARRAY_LEN(bad); i++) {
        setenv("WATCHDOG_USEC", bad[i], 1);
        ck_assert_int_eq(notify_open(), 1);
        ck_assert_msg(notify_watchdog_usec() == 0, "WATCHDOG_USEC='%s' gave %llu", bad[i],
                      (unsigned long long)notify_watchdog_usec());
    }
    unsetenv("WATCHDOG_USEC");
    ck_assert_int_eq(notify_open(), 1);
    ck_assert_uint_eq(notify_watchdog_usec(), 0);
    close(fd);
}
END_TEST

START_TEST(test_status_text)
{
    char buf[128];
    size_t n = notify_format_status(buf, sizeof(buf), 12345, 12000, 0, 0);
    ck_assert_str_eq(buf, "in 12345 pts/s, out 12000 pts/s, backlog 0 points / 0 B");
    ck_assert_uint_eq(n, strlen(buf));
    notify_format_status(buf, sizeof(buf), 0, 0, 310, 1023);
    ck_assert_str_eq(buf, "in 0 pts/s, out 0 pts/s, backlog 310 points / 1023 B");
    notify_format_status(buf, sizeof(buf), 0, 0, 1, 64 * 1024);
    ck_assert_str_eq(buf, "in 0 pts/s, out 0 pts/s, backlog 1 points / 64.0 KiB");
    notify_format_status(buf, sizeof(buf), 0, 0, 1, 3 * 1024 * 1024 + 512 * 1024);
    ck_assert_str_eq(buf, "in 0 pts/s, out 0 pts/s, backlog 1 points / 3.5 MiB");
    notify_format_status(buf, sizeof(buf), 0, 0, 1, 4ull << 30);
    ck_assert_str_eq(buf, "in 0 pts/s, out 0 pts/s, backlog 1 points / 4.0 GiB");
    notify_format_status(buf, sizeof(buf), UINT64_MAX, UINT64_MAX, UINT64_MAX, UINT64_MAX);
    ck_assert_msg(strstr(buf, "PiB") != NULL, "largest unit: %s", buf);

    /* bounded: truncated, NUL-terminated, the length of what is there */
    char small[16];
    memset(small, 'Z', sizeof(small));
    n = notify_format_status(small, sizeof(small), 12345, 12000, 0, 0);
    ck_assert_uint_eq(n, sizeof(small) - 1);
    ck_assert_str_eq(small, "in 12345 pts/s,");
    ck_assert_uint_eq(notify_format_status(small, 0, 1, 2, 3, 4), 0);
    ck_assert_int_eq(small[0], 'i'); /* cap 0: nothing written */
}
END_TEST

static Suite *
notify_suite(void)
{
    Suite *s = suite_create("notify");
    TCase *tc = tcase_create("notify");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_off_without_socket);
    tcase_add_test(tc, test_path_socket);
    tcase_add_test(tc, test_abstract_socket);
    tcase_add_test(tc, test_nobody_listening);
    tcase_add_test(tc, test_unusable_socket_name);
    tcase_add_test(tc, test_watchdog_env);
    tcase_add_test(tc, test_status_text);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(notify_suite)
