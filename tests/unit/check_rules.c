/*
 * check_rules.c -- unit tests of the relay's rules (src/core/rules.c).
 *
 * Points go in as a client's would (validated and made canonical by
 * point.c first).  Covers: without rules a point passes untouched to the
 * default group; each action (drop, rewrite with back-references, set-,
 * drop-, keep-tags, send) and what it leaves; rules in file order, a
 * later rule seeing what an earlier one made (metric and tags); stop
 * (send and drop stop, stop = no goes on, stop = yes stops any action);
 * tag conditions (all must hold, a missing key fails); a changed point is
 * canonical (tags sorted), its hash is the one point_line_hash gives, and
 * it passes point_parse_line; a change the TSD would refuse is refused
 * with the TSD's reason and the rule's name, counted under the rule that
 * changed it last; rollup and histogram lines keep their spec and codec;
 * nothing is counted until rules_commit; pattern errors (the match
 * limit) count and are no match; the metric cache changes nothing (the
 * same verdicts with it off, and for names too long for it); a build
 * refuses patterns that do not compile, back-references past the groups
 * and a template that could be empty, naming file, line and key; the
 * out bound holds for a rule set that grows lines; counters carry over by
 * name.
 */
#include "autoconf.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/pointline.h"
#include "base/config.h"
#include "base/point.h"
#include "base/util.h"
#include "core/rules.h"
#include "unit.h"

static struct config cfg;
static struct ruleset *rs;
static char err[CFG_ERR_MAX];
static struct point_rules prules;
static struct point pt;
static struct point_error perr;
static char canon[POINT_LINE_MAX + 2];
static struct rules_verdict v;
static struct point_error why;
static char out[POINT_LINE_MAX + 2];   /* the verdict's line, without "\n" */

#define HEAD "[relay]\nlisten = 127.0.0.1:4242\n[backend a]\naddress = 127.0.0.1:1\n" \
             "[backend b]\naddress = 127.0.0.1:2\n"
#define GROUPS "[relay]\ndefault-group = main\n[group main]\nbackends = a\n" \
               "[group other]\nbackends = b\n[group third]\nbackends = a, b\n"

static void
build(const char *text)
{
    ck_assert_msg(config_load_string(&cfg, "T", text, err, sizeof(err)) == TS_OK, "%s", err);
    rules_free(rs);
    rs = rules_build(&cfg, err, sizeof(err));
    ck_assert_msg(rs != NULL, "%s", err);
    point_rules_init(&prules, cfg.max_tags, cfg.allow_specialchars);
}

static const char *
build_error(const char *text)
{
    ck_assert_msg(config_load_string(&cfg, "T", text, err, sizeof(err)) == TS_OK, "%s", err);
    struct ruleset *r = rules_build(&cfg, err, sizeof(err));
    ck_assert_msg(r == NULL, "built: %s", text);
    return err;
}

static void
teardown(void)
{
    rules_free(rs);
    rs = NULL;
}

/* The point as a client's: canonical line, then the rules (no commit). */
static int
apply(const char *line)
{
    enum point_cmd cmd = strncmp(line, "rollup ", 7) == 0      ? CMD_ROLLUP
                         : strncmp(line, "histogram ", 10) == 0 ? CMD_HISTOGRAM : CMD_PUT;
    ck_assert_msg(pointline_parse(&prules, cmd, false, line, strlen(line), &pt, &perr) == TS_OK,
                  "input %s: %.*s", line, (int)perr.len, perr.msg);
    size_t n = point_format(&pt, canon, sizeof(canon));
    uint64_t h = point_output_hash(&pt, canon, n);
    memset(&why, 0, sizeof(why));
    int rc = rules_apply(rs, canon, n, h, &v, &why);
    if (rc == TS_OK && v.drop_rule < 0) {
        ck_assert(v.len >= 2 && v.line[v.len - 1] == '\n');
        memcpy(out, v.line, v.len - 1);
        out[v.len - 1] = '\0';
        ck_assert_msg(v.hash == point_line_hash(v.line, v.len), "hash of %s", out);
        /* what leaves is canonical: it parses and formats to itself */
        static struct point q;
        static char again[POINT_LINE_MAX + 2];
        ck_assert_msg(pointline_parse(&prules, cmd, false, out, v.len - 1, &q, &perr) == TS_OK,
                      "%s: %.*s", out, (int)perr.len, perr.msg);
        size_t m = point_format(&q, again, sizeof(again));
        ck_assert_msg(m == v.len && memcmp(again, v.line, m) == 0, "not canonical: %s", out);
    } else {
        out[0] = '\0';
    }
    return rc;
}

static int
commit_apply(const char *line)
{
    int rc = apply(line);
    rules_commit(rs, &v);
    return rc;
}

static const struct rule_stats *
st(int i)
{
    return &rs->rules[i].st;
}

START_TEST(test_no_rules_pass_through)
{
    build(HEAD);
    ck_assert_int_eq(apply("put sys.cpu 1700000000 1 host=a"), TS_OK);
    ck_assert_ptr_eq(v.line, canon); /* untouched: the line itself */
    ck_assert_uint_eq(v.groups, 1);
    ck_assert_int_eq(v.drop_rule, -1);
}
END_TEST

START_TEST(test_drop)
{
    build(HEAD "[rule d]\nmatch = ^debug\\.\naction = drop\n[rule s]\naction = set-tags\n"
               "tags = x=1\n");
    ck_assert_int_eq(commit_apply("put debug.x 1700000000 1 host=a"), TS_OK);
    ck_assert_int_eq(v.drop_rule, 0);
    ck_assert_int_eq(commit_apply("put sys.x 1700000000 1 host=a"), TS_OK);
    ck_assert_int_eq(v.drop_rule, -1);
    ck_assert_str_eq(out, "put sys.x 1700000000 1 host=a x=1");
    ck_assert_uint_eq(st(0)->matched, 1);
    ck_assert_uint_eq(st(0)->dropped, 1);
    ck_assert_uint_eq(st(1)->matched, 1); /* the dropped point never reached it */
}
END_TEST

START_TEST(test_rewrite_and_chain)
{
    build(HEAD "[rule cpu]\nmatch = ^sys\\.cpu\\.([a-z]+)\\.(.+)$\naction = rewrite\n"
               "metric = os.\\2.cpu.\\1\n"
               "[rule os]\nmatch = ^os\\.\naction = set-tags\ntags = os=yes\n");
    ck_assert_int_eq(commit_apply("put sys.cpu.user.total 1700000000 1.5 host=a"), TS_OK);
    ck_assert_str_eq(out, "put os.total.cpu.user 1700000000 1.5 host=a os=yes");
    ck_assert_uint_eq(st(0)->matched, 1);
    ck_assert_uint_eq(st(1)->matched, 1); /* it saw the rewritten metric */
    ck_assert_int_eq(commit_apply("put sys.mem 1700000000 2 host=a"), TS_OK);
    ck_assert_ptr_eq(v.line, canon);
    /* a rewrite to the same metric is no change */
    build(HEAD "[rule same]\nmatch = ^(.+)$\naction = rewrite\nmetric = \\1\n");
    ck_assert_int_eq(apply("put m 1700000000 2 host=a"), TS_OK);
    ck_assert_ptr_eq(v.line, canon);
}
END_TEST

START_TEST(test_tags_actions)
{
    build(HEAD "[rule set]\naction = set-tags\ntags = dc=eu1, host=z\n"
               "[rule drop]\naction = drop-tags\nkeys = pid, request_id\n");
    ck_assert_int_eq(apply("put m 1700000000 1 pid=7 host=a request_id=x b=c"), TS_OK);
    ck_assert_str_eq(out, "put m 1700000000 1 b=c dc=eu1 host=z");
    build(HEAD "[rule keep]\naction = keep-tags\nkeys = host, dc\n");
    ck_assert_int_eq(apply("put m 1700000000 1 pid=7 host=a dc=x zz=1"), TS_OK);
    ck_assert_str_eq(out, "put m 1700000000 1 dc=x host=a");
    ck_assert_int_eq(apply("put m 1700000000 1 host=a dc=x"), TS_OK);
    ck_assert_ptr_eq(v.line, canon); /* nothing to trim: untouched */
    /* a keep-list that leaves no tag: the TSD needs one */
    ck_assert_int_eq(commit_apply("put m 1700000000 1 pid=7"), TS_REFUSED);
    ck_assert_int_eq(why.kind, PE_REFUSED);
    ck_assert_int_eq(v.refuse_rule, 0);
    ck_assert_msg(strstr(why.msg, "rule keep made a point the TSD refuses: illegal argument: "
                         "Need at least one tag (metric=m, tags={})") != NULL, "%s", why.msg);
    ck_assert_uint_eq(st(0)->refused, 1);
}
END_TEST

START_TEST(test_send_stop_and_default)
{
    build(HEAD GROUPS
          "[rule m]\nmatch = ^mirror\\.\naction = send\nto = other\nstop = no\n"
          "[rule t]\nmatch = \\.t$\naction = send\nto = third\n"
          "[rule late]\naction = set-tags\ntags = late=1\n");
    ck_assert_int_eq(apply("put plain 1700000000 1 host=a"), TS_OK);
    ck_assert_uint_eq(v.groups, 1); /* main: the default group */
    ck_assert_str_eq(out, "put plain 1700000000 1 host=a late=1");
    ck_assert_int_eq(apply("put mirror.x 1700000000 1 host=a"), TS_OK);
    ck_assert_uint_eq(v.groups, 2); /* routed: not the default any more */
    ck_assert_str_eq(out, "put mirror.x 1700000000 1 host=a late=1"); /* stop = no */
    ck_assert_int_eq(apply("put mirror.t 1700000000 1 host=a"), TS_OK);
    ck_assert_uint_eq(v.groups, 2 | 4); /* both sends */
    ck_assert_ptr_eq(v.line, canon);    /* t stopped before late */
    /* stop = yes on another action */
    build(HEAD "[rule s]\naction = set-tags\ntags = a=1\nstop = yes\n[rule d]\naction = drop\n");
    ck_assert_int_eq(apply("put m 1700000000 1 host=a"), TS_OK);
    ck_assert_int_eq(v.drop_rule, -1);
}
END_TEST

START_TEST(test_tag_conditions)
{
    build(HEAD "[rule c]\nmatch = ^app\\.\ntag = env=^prod$\ntag = host=^web\\d+$\n"
               "action = set-tags\ntags = tier=front\n"
               "[rule after]\ntag = tier=front\naction = drop-tags\nkeys = host\n");
    ck_assert_int_eq(apply("put app.r 1700000000 1 env=prod host=web12"), TS_OK);
    ck_assert_str_eq(out, "put app.r 1700000000 1 env=prod tier=front");
    ck_assert_int_eq(apply("put app.r 1700000000 1 env=dev host=web12"), TS_OK);
    ck_assert_ptr_eq(v.line, canon);
    ck_assert_int_eq(apply("put app.r 1700000000 1 env=prod"), TS_OK); /* no host */
    ck_assert_ptr_eq(v.line, canon);
    ck_assert_int_eq(apply("put app.r 1700000000 1 env=prodx host=web1"), TS_OK);
    ck_assert_ptr_eq(v.line, canon);
    /* an empty pattern: the key is there */
    build(HEAD "[rule has]\ntag = pid=\naction = drop\n");
    ck_assert_int_eq(apply("put m 1700000000 1 pid=1"), TS_OK);
    ck_assert_int_eq(v.drop_rule, 0);
    ck_assert_int_eq(apply("put m 1700000000 1 pidx=1 xpid=2"), TS_OK);
    ck_assert_int_eq(v.drop_rule, -1);
}
END_TEST

START_TEST(test_refused_changes)
{
    build(HEAD "[rule many]\naction = set-tags\ntags = a=1, b=2, c=3, d=4, e=5, f=6, g=7, h=8\n");
    ck_assert_int_eq(commit_apply("put m 1700000000 1 host=x"), TS_REFUSED);
    ck_assert_msg(strstr(why.msg, "rule many made a point the TSD refuses: illegal argument: Too "
                         "many tags: 9 maximum allowed: 8") != NULL, "%s", why.msg);
    ck_assert_uint_eq(st(0)->refused, 1);
    ck_assert_uint_eq(st(0)->matched, 1);
    char reply[POINT_ERR_MAX * 2];
    point_error_format(&why, reply, sizeof(reply));
    ck_assert_msg(strncmp(reply, "put: refused: rule many ", 24) == 0, "%s", reply);
    /* a rewrite that makes the line longer than the TSD takes */
    build(HEAD "[rule long]\nmatch = ^(.+)$\naction = rewrite\nmetric = \\1\\1\\1\\1\\1\\1\\1\\1\n"
               "[rule tag]\naction = set-tags\ntags = t=1\n");
    char line[300], m[127];
    memset(m, 'm', sizeof(m) - 1);
    m[sizeof(m) - 1] = '\0';
    snprintf(line, sizeof(line), "put %s 1700000000 1 host=x", m);
    ck_assert_int_eq(commit_apply(line), TS_REFUSED);
    ck_assert_int_eq(v.refuse_rule, 1); /* the last one that changed it */
    ck_assert_msg(strstr(why.msg, "line too long for the TSD") != NULL, "%s", why.msg);
}
END_TEST

START_TEST(test_rollup_and_histogram)
{
    build(HEAD "[rule r]\nmatch = ^sys\\.(.+)$\naction = rewrite\nmetric = os.\\1\n"
               "[rule t]\naction = set-tags\ntags = dc=eu\n");
    ck_assert_int_eq(apply("rollup 1h-sum sys.cpu 1700000000 1 host=a"), TS_OK);
    ck_assert_str_eq(out, "rollup 1h-sum os.cpu 1700000000 1 dc=eu host=a");
    ck_assert_int_eq(apply("histogram sys.h 1700000000 5 QUJD host=a"), TS_OK);
    ck_assert_str_eq(out, "histogram os.h 1700000000 5 QUJD dc=eu host=a");
    ck_assert_int_eq(apply("histogram sys.h 1700000000 u=1:o=0:0,1=2 host=a"), TS_OK);
    ck_assert_str_eq(out, "histogram os.h 1700000000 u=1:o=0:0,1=2 dc=eu host=a");
    /* a histogram's value holds "u=": it is no tag */
    build(HEAD "[rule u]\ntag = u=.\naction = drop\n");
    ck_assert_int_eq(apply("histogram h 1700000000 u=1:o=0:0,1=2 host=a"), TS_OK);
    ck_assert_int_eq(v.drop_rule, -1);
    ck_assert_int_eq(apply("histogram h 1700000000 u=1:o=0:0,1=2 u=x"), TS_OK);
    ck_assert_int_eq(v.drop_rule, 0);
}
END_TEST

START_TEST(test_counted_only_on_commit)
{
    build(HEAD "[rule s]\naction = set-tags\ntags = a=1\n[rule d]\nmatch = ^d\naction = drop\n");
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(apply("put dx 1700000000 1 host=x"), TS_OK); /* offered again */
    ck_assert_uint_eq(st(0)->matched, 0);
    ck_assert_uint_eq(st(1)->dropped, 0);
    rules_commit(rs, &v);
    ck_assert_uint_eq(st(0)->matched, 1);
    ck_assert_uint_eq(st(1)->matched, 1);
    ck_assert_uint_eq(st(1)->dropped, 1);
}
END_TEST

START_TEST(test_match_limit_is_no_match)
{
    build(HEAD "[relay]\nrule-match-limit = 100\n"
               "[rule slow]\nmatch = ^(\\w+\\.?)*$\naction = drop\n");
    ck_assert_int_eq(commit_apply("put aaaaaaaaaaaaaaaaaaaaaaaaaaaaaa- 1700000000 1 host=x"),
                     TS_OK);
    ck_assert_int_eq(v.drop_rule, -1);
    ck_assert_uint_eq(st(0)->errors, 1);
    ck_assert_int_eq(commit_apply("put aa.b 1700000000 1 host=x"), TS_OK);
    ck_assert_int_eq(v.drop_rule, 0);
}
END_TEST

START_TEST(test_build_refusals)
{
    const char *e = build_error(HEAD "[rule r]\nmatch = ^a(b\naction = drop\n");
    ck_assert_msg(strcmp(e, "T:8: [rule r] match: missing closing parenthesis at offset 4") == 0,
                  "%s", e);
    e = build_error(HEAD "[rule r]\naction = drop\ntag = k=[x\n");
    ck_assert_msg(strncmp(e, "T:9: [rule r] tag: missing terminating ] ", 41) == 0, "%s", e);
    e = build_error(HEAD "[rule r]\nmatch = ^(a)(b)\naction = rewrite\nmetric = x\\3\n");
    ck_assert_msg(strcmp(e, "T:10: [rule r] metric: \\3: match has 2 capture groups") == 0, "%s",
                  e);
    e = build_error(HEAD "[rule r]\nmatch = ^(.*)$\naction = rewrite\nmetric = \\1\n");
    ck_assert_msg(strncmp(e, "T:10: [rule r] metric: '\\1' could yield an empty metric", 55) == 0,
                  "%s", e);
    e = build_error(HEAD "[rule r]\nmatch = ^(a)?(b)?$\naction = rewrite\nmetric = \\1\\2\n");
    ck_assert_msg(strstr(e, "could yield an empty metric") != NULL, "%s", e);
    /* proved, or a literal: accepted */
    build(HEAD "[rule r]\nmatch = ^(a)?(b+)$\naction = rewrite\nmetric = \\1\\2\n");
    build(HEAD "[rule r]\nmatch = ^(.*)$\naction = rewrite\nmetric = x\\1\n");
    ck_assert_int_eq(apply("put aab 1700000000 1 host=x"), TS_OK);
    ck_assert_str_eq(out, "put xaab 1700000000 1 host=x");
}
END_TEST

/* The same points through the same rules with the cache off, and with
 * names too long for it, give the same verdicts. */
START_TEST(test_cache_changes_nothing)
{
    static const char *const rules_text =
        "[rule d]\nmatch = ^debug\\.\naction = drop\n"
        "[rule r]\nmatch = ^sys\\.([a-z]+)\\.(.+)$\naction = rewrite\nmetric = os.\\1.\\2\n"
        "[rule o]\nmatch = ^os\\.cpu\ntag = host=^h[0-4]$\naction = set-tags\ntags = hot=1\n"
        "[rule k]\nmatch = \\.(x|y)$\naction = drop-tags\nkeys = host\n";
    static const char *const metrics[] = {
        "debug.a", "sys.cpu.x", "sys.mem.y", "sys.cpu.z", "other.x", "os.cpu.q",
        "sys.cpu.aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa"
        "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa.x",
    };
    char text[2048];
    static char want[1000][POINT_LINE_MAX + 2];
    static int want_drop[1000];
    for (int pass = 0; pass < 2; pass++) {
        snprintf(text, sizeof(text), HEAD "[relay]\nrule-cache = %s\n%s", pass ? "0" : "64K",
                 rules_text);
        build(text);
        ck_assert_int_eq(rs->cache.nslots > 0, pass == 0);
        srand(7);
        for (int i = 0; i < 1000; i++) {
            char line[400];
            snprintf(line, sizeof(line), "put %s 1700000000 %d host=h%d x=%d",
                     metrics[rand() % (int)TS_ARRAY_LEN(metrics)], i, rand() % 8, rand() % 3);
            ck_assert_int_eq(apply(line), TS_OK);
            if (pass == 0) {
                snprintf(want[i], sizeof(want[i]), "%s", out);
                want_drop[i] = v.drop_rule;
            } else {
                ck_assert_int_eq(v.drop_rule, want_drop[i]);
                ck_assert_str_eq(out, want[i]);
            }
        }
    }
}
END_TEST

START_TEST(test_out_bound_holds)
{
    build(HEAD "[rule r]\nmatch = ^(.+)$\naction = rewrite\nmetric = \\1.\\1\n"
               "[rule t]\naction = set-tags\ntags = datacenter=eu-west-1, team=metrics\n");
    size_t in = 0, outb = 0;
    for (int i = 0; i < 200; i++) {
        char line[200];
        snprintf(line, sizeof(line), "put m%d 1700000000 1 h=%d", i % 7, i);
        ck_assert_int_eq(apply(line), TS_OK);
        in += strlen(canon);
        outb += v.len;
    }
    ck_assert_msg(outb <= rules_out_bound(rs, in), "%zu bytes became %zu, bound %zu", in, outb,
                  rules_out_bound(rs, in));
    build(HEAD "[rule d]\naction = drop-tags\nkeys = x\n");
    ck_assert_uint_eq(rules_out_bound(rs, 1000), 1000); /* shrinks only */
}
END_TEST

START_TEST(test_carry_by_name)
{
    build(HEAD "[rule a]\naction = set-tags\ntags = x=1\n[rule b]\naction = drop\n");
    commit_apply("put m 1700000000 1 host=x");
    struct ruleset *old = rs;
    rs = NULL;
    build(HEAD "[rule b]\naction = drop\n[rule c]\naction = drop\n[rule a]\naction = drop\n");
    rules_carry(rs, old);
    ck_assert_uint_eq(st(0)->dropped, 1); /* b */
    ck_assert_uint_eq(st(1)->matched, 0); /* c: new */
    ck_assert_uint_eq(st(2)->matched, 1); /* a */
    rules_free(old);
}
END_TEST

static Suite *
rules_suite(void)
{
    Suite *s = suite_create("rules");
    TCase *tc = tcase_create("rules");
    tcase_add_checked_fixture(tc, NULL, teardown);
    tcase_add_test(tc, test_no_rules_pass_through);
    tcase_add_test(tc, test_drop);
    tcase_add_test(tc, test_rewrite_and_chain);
    tcase_add_test(tc, test_tags_actions);
    tcase_add_test(tc, test_send_stop_and_default);
    tcase_add_test(tc, test_tag_conditions);
    tcase_add_test(tc, test_refused_changes);
    tcase_add_test(tc, test_rollup_and_histogram);
    tcase_add_test(tc, test_counted_only_on_commit);
    tcase_add_test(tc, test_match_limit_is_no_match);
    tcase_add_test(tc, test_build_refusals);
    tcase_add_test(tc, test_cache_changes_nothing);
    tcase_add_test(tc, test_out_bound_holds);
    tcase_add_test(tc, test_carry_by_name);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(rules_suite)
