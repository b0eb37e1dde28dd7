/*
 * check_log.c -- unit tests of the logger (src/base/log.c).
 *
 * Covers: level parsing and filtering; the line format in a file (ISO-8601
 * UTC timestamp with milliseconds, level word, message, one "\n"); long
 * messages truncated to one line; rate limiting (log_rl_msg and LOG_RL:
 * calls within the interval are suppressed and counted, the next emitted
 * line says "[N similar suppressed]"); a slow sink (a FIFO nobody reads)
 * never blocks the caller: lines beyond the buffer are dropped and counted;
 * log_reopen after the file was renamed writes to a new file.
 *
 * Every test logs into files or FIFOs under a fresh mkdtemp directory.
 */
#include "autoconf.h"

#include <check.h>
#include <errno.h>
#include <fcntl.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"
#include "unit.h"

static char dir[64];
static char path[128];
static struct log_stats base; /* counters at the start of the test */

/* Counters since the start of the test (they are process-wide). */
#define LINES() (log_get_stats()->lines - base.lines)
#define DROPPED() (log_get_stats()->dropped - base.dropped)
#define SUPPRESSED() (log_get_stats()->suppressed - base.suppressed)

static void
setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/tsrelay-log-XXXXXX");
    ck_assert_ptr_nonnull(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/relay.log", dir);
    base = *log_get_stats();
}

static void
rm_rf(const char *d)
{
    static const char *const names[] = { "relay.log", "relay.log.1", "fifo" };
    char p[160];
    for (size_t i = 0; i < TS_ARRAY_LEN(names); i++) {
        snprintf(p, sizeof(p), "%s/%s", d, names[i]);
        unlink(p);
    }
    rmdir(d);
}

static void
teardown(void)
{
    rm_rf(dir);
}

/* Reads a whole file into buf (NUL-terminated); returns its length. */
static size_t
slurp(const char *p, char *buf, size_t cap)
{
    FILE *f = fopen(p, "r");
    ck_assert_msg(f != NULL, "cannot open %s", p);
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    return n;
}

static int
count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

START_TEST(test_parse_level)
{
    enum log_level l = LOG_ERROR;
    ck_assert_int_eq(log_parse_level("error", &l), TS_OK);
    ck_assert_int_eq(l, LOG_ERROR);
    ck_assert_int_eq(log_parse_level("WARN", &l), TS_OK);
    ck_assert_int_eq(l, LOG_WARN);
    ck_assert_int_eq(log_parse_level("warning", &l), TS_OK);
    ck_assert_int_eq(l, LOG_WARN);
    ck_assert_int_eq(log_parse_level("Info", &l), TS_OK);
    ck_assert_int_eq(l, LOG_INFO);
    ck_assert_int_eq(log_parse_level("debug", &l), TS_OK);
    ck_assert_int_eq(l, LOG_DEBUG);
    l = LOG_INFO;
    ck_assert_int_eq(log_parse_level("trace", &l), TS_ERROR);
    ck_assert_int_eq(log_parse_level("", &l), TS_ERROR);
    ck_assert_int_eq(l, LOG_INFO);
}
END_TEST

START_TEST(test_level_filtering)
{
    ck_assert_int_eq(log_init(LOG_WARN, path, 4096), TS_OK);
    ck_assert_int_eq(log_get_level(), LOG_WARN);
    log_debug("debug-1");
    log_info("info-1");
    log_warn("warn-1");
    log_error("error-1");
    log_msg(LOG_INFO, "info-2");
    ck_assert_uint_eq(LINES(), 2);

    log_set_level(LOG_DEBUG);
    ck_assert_int_eq(log_get_level(), LOG_DEBUG);
    log_debug("debug-2");
    log_info("info-3");
    log_set_level(LOG_ERROR);
    log_warn("warn-2");
    log_error("error-2");
    ck_assert_uint_eq(LINES(), 5);
    ck_assert_uint_eq(DROPPED(), 0);
    log_close();

    char buf[4096];
    slurp(path, buf, sizeof(buf));
    ck_assert_int_eq(count_lines(buf), 5);
    ck_assert_ptr_null(strstr(buf, "debug-1"));
    ck_assert_ptr_null(strstr(buf, "info-1"));
    ck_assert_ptr_null(strstr(buf, "info-2"));
    ck_assert_ptr_null(strstr(buf, "warn-2"));
    const char *w1 = strstr(buf, " WARN warn-1\n");
    const char *e1 = strstr(buf, " ERROR error-1\n");
    const char *d2 = strstr(buf, " DEBUG debug-2\n");
    const char *i3 = strstr(buf, " INFO info-3\n");
    const char *e2 = strstr(buf, " ERROR error-2\n");
    ck_assert(w1 != NULL && e1 != NULL && d2 != NULL && i3 != NULL && e2 != NULL);
    ck_assert(w1 < e1 && e1 < d2 && d2 < i3 && i3 < e2); /* in order */
}
END_TEST

START_TEST(test_file_format)
{
    time_t before = time(NULL);
    ck_assert_int_eq(log_init(LOG_INFO, path, 4096), TS_OK);
    log_info("hello %s %d", "world", 42);
    log_error("disk on fire");
    /* synchronous before a loop is attached: already in the file */
    char buf[4096];
    slurp(path, buf, sizeof(buf));
    ck_assert_int_eq(count_lines(buf), 2);
    log_close();
    time_t after = time(NULL);

    regex_t re;
    ck_assert_int_eq(regcomp(&re,
                             "^([0-9]{4})-([0-9]{2})-([0-9]{2})T([0-9]{2}):([0-9]{2}):([0-9]{2})"
                             "\\.[0-9]{3}Z (INFO|ERROR) (.*)$",
                             REG_EXTENDED | REG_NEWLINE), 0);
    const char *want_level[] = { "INFO", "ERROR" };
    const char *want_msg[] = { "hello world 42", "disk on fire" };
    const char *p = buf;
    for (int i = 0; i < 2; i++) {
        regmatch_t m[9];
        ck_assert_msg(regexec(&re, p, 9, m, 0) == 0, "line %d malformed: %s", i, p);
        ck_assert_int_eq(m[0].rm_so, 0);
        ck_assert_int_eq(p[m[0].rm_eo], '\n');
        ck_assert_int_eq((int)(m[7].rm_eo - m[7].rm_so), (int)strlen(want_level[i]));
        ck_assert(strncmp(p + m[7].rm_so, want_level[i], strlen(want_level[i])) == 0);
        ck_assert_int_eq((int)(m[8].rm_eo - m[8].rm_so), (int)strlen(want_msg[i]));
        ck_assert(strncmp(p + m[8].rm_so, want_msg[i], strlen(want_msg[i])) == 0);
        /* the timestamp is now, in UTC */
        struct tm tm;
        memset(&tm, 0, sizeof(tm));
        tm.tm_year = atoi(p + m[1].rm_so) - 1900;
        tm.tm_mon = atoi(p + m[2].rm_so) - 1;
        tm.tm_mday = atoi(p + m[3].rm_so);
        tm.tm_hour = atoi(p + m[4].rm_so);
        tm.tm_min = atoi(p + m[5].rm_so);
        tm.tm_sec = atoi(p + m[6].rm_so);
        time_t t = timegm(&tm);
        ck_assert_msg(t >= before && t <= after, "timestamp %ld not in [%ld, %ld]", (long)t,
                      (long)before, (long)after);
        p += m[0].rm_eo + 1;
    }
    ck_assert_int_eq(*p, '\0');
    regfree(&re);
}
END_TEST

START_TEST(test_long_message_one_line)
{
    ck_assert_int_eq(log_init(LOG_INFO, path, 8192), TS_OK);
    static char msg[5000];
    memset(msg, 'm', sizeof(msg) - 1);
    msg[sizeof(msg) - 1] = '\0';
    log_info("%s", msg);
    log_info("next");
    log_close();
    static char buf[16384];
    size_t n = slurp(path, buf, sizeof(buf));
    ck_assert_int_eq(count_lines(buf), 2);
    const char *nl = strchr(buf, '\n');
    ck_assert_uint_le((size_t)(nl - buf) + 1, 1024);
    ck_assert_int_eq(nl[-1], 'm');
    ck_assert(strstr(nl + 1, " INFO next\n") != NULL);
    ck_assert_int_eq(buf[n - 1], '\n');
}
END_TEST

START_TEST(test_log_init_bad_path)
{
    char bad[200];
    snprintf(bad, sizeof(bad), "%s/no-such-dir/x.log", dir);
    ck_assert_int_eq(log_init(LOG_INFO, bad, 4096), TS_ERROR);
}
END_TEST

START_TEST(test_rate_limit)
{
    ck_assert_int_eq(log_init(LOG_INFO, path, 4096), TS_OK);
    struct log_rl rl = { 0, 0 };
    log_rl_msg(&rl, 300, LOG_WARN, "backend %s down", "a");
    log_rl_msg(&rl, 300, LOG_WARN, "backend %s down", "b");
    log_rl_msg(&rl, 300, LOG_WARN, "backend %s down", "c");
    ck_assert_uint_eq(rl.suppressed, 2);
    ck_assert_uint_eq(SUPPRESSED(), 2);
    ck_assert_uint_eq(LINES(), 1);
    /* below the level: neither emitted nor counted as suppressed */
    log_rl_msg(&rl, 300, LOG_DEBUG, "noise");
    ck_assert_uint_eq(SUPPRESSED(), 2);

    usleep(350 * 1000);
    log_rl_msg(&rl, 300, LOG_WARN, "backend %s down", "d");
    ck_assert_uint_eq(rl.suppressed, 0);
    ck_assert_uint_eq(LINES(), 2);
    /* the count starts over */
    log_rl_msg(&rl, 300, LOG_WARN, "backend %s down", "e");
    ck_assert_uint_eq(rl.suppressed, 1);
    ck_assert_uint_eq(SUPPRESSED(), 3);
    log_close();

    char buf[4096];
    slurp(path, buf, sizeof(buf));
    ck_assert_int_eq(count_lines(buf), 2);
    ck_assert_msg(strstr(buf, " WARN backend a down\n") != NULL, "log: %s", buf);
    ck_assert_msg(strstr(buf, " WARN backend d down [2 similar suppressed]\n") != NULL,
                  "log: %s", buf);
    ck_assert_ptr_null(strstr(buf, "backend b"));
    ck_assert_ptr_null(strstr(buf, "backend e"));
}
END_TEST

static void
rl_site(int i)
{
    LOG_RL(LOG_ERROR, "site hit %d", i);
}

START_TEST(test_log_rl_macro)
{
    ck_assert_int_eq(log_init(LOG_INFO, path, 4096), TS_OK);
    for (int i = 0; i < 5; i++)
        rl_site(i);
    ck_assert_uint_eq(LINES(), 1);
    ck_assert_uint_eq(SUPPRESSED(), 4);
    /* another call site has its own limiter */
    LOG_RL(LOG_ERROR, "other site");
    ck_assert_uint_eq(LINES(), 2);
    /* a site below the level costs nothing */
    log_set_level(LOG_WARN);
    for (int i = 0; i < 3; i++)
        LOG_RL(LOG_INFO, "quiet %d", i);
    ck_assert_uint_eq(SUPPRESSED(), 4);
    ck_assert_uint_eq(LINES(), 2);
    log_close();

    char buf[4096];
    slurp(path, buf, sizeof(buf));
    ck_assert_int_eq(count_lines(buf), 2);
    ck_assert(strstr(buf, " ERROR site hit 0\n") != NULL);
    ck_assert(strstr(buf, " ERROR other site\n") != NULL);
}
END_TEST

/* A sink that never reads: the caller must never block; lines beyond the
 * pipe and the buffer are dropped and counted, and whole lines only ever
 * reach the sink. */
START_TEST(test_slow_sink_drops)
{
    char fifo[160];
    snprintf(fifo, sizeof(fifo), "%s/fifo", dir);
    ck_assert_int_eq(mkfifo(fifo, 0600), 0);
    int rfd = open(fifo, O_RDONLY | O_NONBLOCK);
    ck_assert_int_ge(rfd, 0);
    ck_assert_int_eq(log_init(LOG_INFO, fifo, 4096), TS_OK);
    log_attach_loop(EV_DEFAULT);

    const int total = 3000; /* ~300 KB: far more than a pipe (64 KB) + 4 KB */
    uint64_t t0 = ts_now_ms();
    for (int i = 0; i < total; i++)
        log_info("slow sink line %05d %s", i,
                 "padding padding padding padding padding padding padding");
    uint64_t took = ts_now_ms() - t0;
    const struct log_stats *st = log_get_stats();
    ck_assert_msg(took < 500, "logging %d lines took %llu ms: the caller blocked", total,
                  (unsigned long long)took);
    ck_assert_uint_gt(DROPPED(), 0);
    ck_assert_uint_eq(LINES() + DROPPED(), (uint64_t)total);
    ck_assert_uint_le(log_buffered(), 4096);
    ck_assert_uint_gt(log_buffered(), 0);
    ck_assert_uint_eq(st->write_errors, base.write_errors);

    /* now read everything: the sink sees exactly the accepted lines */
    static char got[512 * 1024];
    size_t glen = 0;
    for (int spins = 0; spins < 1000; spins++) {
        ssize_t n;
        while ((n = read(rfd, got + glen, sizeof(got) - glen)) > 0)
            glen += (size_t)n;
        if (log_buffered() == 0)
            break;
        log_flush(0); /* the loop is not run here: push the rest by hand */
    }
    ssize_t n;
    while ((n = read(rfd, got + glen, sizeof(got) - glen)) > 0)
        glen += (size_t)n;
    ck_assert_uint_eq(log_buffered(), 0);
    ck_assert_uint_gt(glen, 0);
    ck_assert_int_eq(got[glen - 1], '\n');
    got[glen] = '\0';
    ck_assert_int_eq(count_lines(got), (int)LINES());
    /* the first line went through whole */
    ck_assert(strstr(got, " INFO slow sink line 00000 padding") != NULL);

    /* with room again, lines are accepted again */
    uint64_t lines = st->lines, dropped = st->dropped;
    log_info("after the storm");
    ck_assert_uint_eq(st->lines, lines + 1);
    ck_assert_uint_eq(st->dropped, dropped);
    glen = 0;
    for (int spins = 0; spins < 100 && glen == 0; spins++) {
        log_flush(10);
        while ((n = read(rfd, got + glen, sizeof(got) - glen)) > 0)
            glen += (size_t)n;
    }
    got[glen] = '\0';
    ck_assert_msg(strstr(got, " INFO after the storm\n") != NULL, "read: %s", got);
    log_close();
    close(rfd);
}
END_TEST

START_TEST(test_reopen_after_rename)
{
    char rotated[160];
    snprintf(rotated, sizeof(rotated), "%s/relay.log.1", dir);
    ck_assert_int_eq(log_init(LOG_INFO, path, 4096), TS_OK);
    log_attach_loop(EV_DEFAULT);
    log_info("before rotation");
    ck_assert_int_eq(rename(path, rotated), 0);
    log_info("after rename");
    ck_assert_int_eq(log_reopen(), TS_OK);
    log_info("after reopen");
    log_flush(1000);
    ck_assert_uint_eq(log_buffered(), 0);
    log_close();

    char a[4096], b[4096];
    slurp(rotated, a, sizeof(a));
    slurp(path, b, sizeof(b));
    ck_assert_int_eq(count_lines(a), 2);
    ck_assert(strstr(a, " INFO before rotation\n") != NULL);
    ck_assert(strstr(a, " INFO after rename\n") != NULL);
    ck_assert_int_eq(count_lines(b), 1);
    ck_assert(strstr(b, " INFO after reopen\n") != NULL);
}
END_TEST

START_TEST(test_reopen_stderr_noop)
{
    ck_assert_int_eq(log_init(LOG_INFO, NULL, 4096), TS_OK);
    ck_assert_int_eq(log_reopen(), TS_OK);
    log_close();
}
END_TEST

static Suite *
log_suite(void)
{
    Suite *s = suite_create("log");
    TCase *tc = tcase_create("log");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_parse_level);
    tcase_add_test(tc, test_level_filtering);
    tcase_add_test(tc, test_file_format);
    tcase_add_test(tc, test_long_message_one_line);
    tcase_add_test(tc, test_log_init_bad_path);
    tcase_add_test(tc, test_rate_limit);
    tcase_add_test(tc, test_log_rl_macro);
    tcase_add_test(tc, test_slow_sink_drops);
    tcase_add_test(tc, test_reopen_after_rename);
    tcase_add_test(tc, test_reopen_stderr_noop);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(log_suite)
