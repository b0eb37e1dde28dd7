/*
 * check_routetest.c -- unit tests of the route test, tsrelay -T
 * (src/ops/routetest.c).
 *
 * Covers the exact output for a table of lines: a rewrite with a tag
 * trim and an added tag to a hashed group; a point a rule drops; a
 * rewrite the TSD's rules then refuse (line too long); a set-tags the
 * TSD refuses (too many tags); an invalid line (the reply a client
 * gets); rollup and framed-style lines; a send to several groups (all
 * and failover); roundrobin taking turns; a line over max-line-bytes;
 * CRLF.  And -t's check: a rule that does not compile is refused with
 * FILE:LINE: [rule NAME] match: <PCRE2's message at offset N>.
 */
#include "autoconf.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "base/point.h"
#include "base/util.h"
#include "core/router.h"
#include "ops/routetest.h"
#include "unit.h"

static struct config cfg;
static char err[CFG_ERR_MAX];

static const char conf[] =
    "[relay]\ndefault-group = main\nmax-line-bytes = 1100\n"
    "[backend tsd1]\naddress = 127.0.0.1:1\n[backend tsd2]\naddress = 127.0.0.1:2\n"
    "[backend test1]\naddress = 127.0.0.1:3\n[backend test2]\naddress = 127.0.0.1:4\n"
    "[group main]\nbackends = tsd1, tsd2\n"
    "[group mirror]\nbackends = test1, test2\nrouting = all\n"
    "[group spare]\nbackends = test2, test1\nrouting = failover\n"
    "[group rr]\nbackends = test1, test2\nrouting = roundrobin\n"
    "[rule drop-debug]\nmatch = ^debug\\.\naction = drop\n"
    "[rule rename-cpu]\nmatch = ^sys\\.cpu\\.(.+)$\naction = rewrite\nmetric = os.cpu.\\1\n"
    "[rule long]\nmatch = ^long\\.(.+)$\naction = rewrite\nmetric = \\1\\1\\1\\1\\1\\1\\1\\1\\1\\1\n"
    "stop = yes\n"
    "[rule trim-pid]\naction = drop-tags\nkeys = pid\n"
    "[rule many]\nmatch = ^many\\.\naction = set-tags\n"
    "tags = a=1, b=2, c=3, d=4, e=5, f=6, g=7, h=8\n"
    "[rule dc]\naction = set-tags\ntags = dc=eu1\n"
    "[rule mirror-app]\nmatch = ^app\\.\naction = send\nto = mirror, spare\n"
    "[rule turns]\nmatch = ^rr\\.\naction = send\nto = rr\n";

static char *
run(const char *input)
{
    ck_assert_msg(config_load_string(&cfg, "T", conf, err, sizeof(err)) == TS_OK, "%s", err);
    FILE *in = fmemopen((void *)input, strlen(input), "r");
    char *buf = NULL;
    size_t len = 0;
    FILE *out = open_memstream(&buf, &len);
    ck_assert(in != NULL && out != NULL);
    ck_assert_msg(routetest_run(&cfg, in, out, err, sizeof(err)) == TS_OK, "%s", err);
    fclose(in);
    fclose(out);
    return buf;
}

/* Which of main's backends (tsd1, tsd2: hash) a canonical line goes to,
 * by the router alone. */
static const char *
main_pick(const char *line)
{
    static const char *const names[2] = { "tsd1", "tsd2" };
    struct router rt;
    int b;
    ck_assert_int_eq(router_init(&rt, ROUTE_HASH, names, 2), TS_OK);
    router_pick(&rt, point_line_hash(line, strlen(line)), NULL, NULL, &b);
    router_destroy(&rt);
    return names[b];
}

/* want with each "@" replaced by main_pick of the "  line: " above it. */
static void
expect(const char *input, const char *want_at)
{
    char want[4096], line[POINT_LINE_MAX + 2] = "";
    size_t o = 0;
    for (const char *p = want_at; *p && o + 8 < sizeof(want); p++) {
        if (strncmp(p, "  line: ", 8) == 0) {
            const char *nl = strchr(p, '\n');
            snprintf(line, sizeof(line), "%.*s", (int)(nl - p - 8 + 1), p + 8);
        }
        if (*p == '@')
            o += (size_t)snprintf(want + o, sizeof(want) - o, "%s", main_pick(line));
        else
            want[o++] = *p;
    }
    want[o] = '\0';
    char *got = run(input);
    ck_assert_msg(strcmp(got, want) == 0, "input:\n%s\ngot:\n%s\nwant:\n%s", input, got, want);
    free(got);
}

START_TEST(test_rewrite_trim_tag_hash)
{
    expect("put sys.cpu.user 1700000000 1 host=web1 pid=42\n",
           "put sys.cpu.user 1700000000 1 host=web1 pid=42\n"
           "  rules: rename-cpu, trim-pid, dc\n"
           "  line: put os.cpu.user 1700000000 1 dc=eu1 host=web1\n"
           "  to: main (hash) @\n");
}
END_TEST

START_TEST(test_dropped_refused_invalid)
{
    char longline[400];
    snprintf(longline, sizeof(longline), "put long.%0110d 1700000000 1 host=a\n", 0);
    char *got = run(longline);
    ck_assert_msg(strstr(got, "  rules: long\n  refused: rule long made a point the TSD refuses: "
                         "illegal argument: line too long for the TSD: 1124 bytes, the limit is "
                         "1024") != NULL, "%s", got);
    free(got);
    expect("put debug.x 1700000000 1 host=a\n"
           "put many.x 1700000000 1 host=a\n"
           "put nope 1700000000\n",
           "put debug.x 1700000000 1 host=a\n"
           "  rules: drop-debug\n"
           "  dropped: rule drop-debug\n"
           "put many.x 1700000000 1 host=a\n"
           "  rules: trim-pid, many, dc\n"
           "  refused: rule dc made a point the TSD refuses: illegal argument: Too many tags: 10 "
           "maximum allowed: 8, tags: {a=1, b=2, c=3, d=4, e=5, f=6, g=7, host=a, h=8, dc=eu1}\n"
           "put nope 1700000000\n"
           "  invalid: put: illegal argument: not enough arguments (need least 4, got 2)\n");
}
END_TEST

START_TEST(test_groups_and_kinds_of_lines)
{
    expect("put app.req 1700000000 1 host=web1\r\n"
           "rollup 1h-sum sys.cpu.idle 1700000000 1 host=a\n"
           "sys.cpu.x 1700000000 2 host=b\n",
           "put app.req 1700000000 1 host=web1\n"
           "  rules: trim-pid, dc, mirror-app\n"
           "  line: put app.req 1700000000 1 dc=eu1 host=web1\n"
           "  to: mirror (all) test1, test2; spare (failover) test2\n"
           "rollup 1h-sum sys.cpu.idle 1700000000 1 host=a\n"
           "  rules: rename-cpu, trim-pid, dc\n"
           "  line: rollup 1h-sum os.cpu.idle 1700000000 1 dc=eu1 host=a\n"
           "  to: main (hash) @\n"
           "sys.cpu.x 1700000000 2 host=b\n"
           "  rules: rename-cpu, trim-pid, dc\n"
           "  line: put os.cpu.x 1700000000 2 dc=eu1 host=b\n"
           "  to: main (hash) @\n");
}
END_TEST

START_TEST(test_roundrobin_turns_and_long_input)
{
    char *got = run("put rr.a 1700000000 1 host=a\nput rr.a 1700000000 1 host=a\n"
                    "put rr.a 1700000000 1 host=a\n");
    const char *p = got;
    const char *want[3] = { "rr (roundrobin) test1\n", "rr (roundrobin) test2\n",
                            "rr (roundrobin) test1\n" };
    for (int i = 0; i < 3; i++) {
        p = strstr(p, "  to: ");
        ck_assert_ptr_nonnull(p);
        ck_assert_msg(strncmp(p + 6, want[i], strlen(want[i])) == 0, "%s", got);
        p += 6;
    }
    free(got);
    static char big[1300];
    memset(big, 'x', sizeof(big) - 2);
    big[sizeof(big) - 2] = '\n';
    big[sizeof(big) - 1] = '\0';
    got = run(big);
    ck_assert_msg(strstr(got, "  invalid: line longer than max-line-bytes (1100)\n") != NULL,
                  "%s", got);
    free(got);
}
END_TEST

START_TEST(test_check_refuses_bad_pattern)
{
    ck_assert_int_eq(config_load_string(&cfg, "F.conf", "[backend a]\naddress = 127.0.0.1:1\n"
                                        "[rule bad]\nmatch = ^a(\naction = drop\n",
                                        err, sizeof(err)), TS_OK);
    ck_assert_int_eq(routetest_check(&cfg, err, sizeof(err)), TS_ERROR);
    ck_assert_str_eq(err, "F.conf:4: [rule bad] match: missing closing parenthesis at offset 3");
    ck_assert_int_eq(config_load_string(&cfg, "F.conf", conf, err, sizeof(err)), TS_OK);
    ck_assert_int_eq(routetest_check(&cfg, err, sizeof(err)), TS_OK);
}
END_TEST

static Suite *
routetest_suite(void)
{
    Suite *s = suite_create("routetest");
    TCase *tc = tcase_create("routetest");
    tcase_add_test(tc, test_rewrite_trim_tag_hash);
    tcase_add_test(tc, test_dropped_refused_invalid);
    tcase_add_test(tc, test_groups_and_kinds_of_lines);
    tcase_add_test(tc, test_roundrobin_turns_and_long_input);
    tcase_add_test(tc, test_check_refuses_bad_pattern);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(routetest_suite)
