/*
 * check_flow.c -- unit tests of backend groups and the flow
 * (src/core/groups.c, src/core/flow.c) and of a point through them
 * (relay_submit_point, src/core/relay.c).
 *
 * Covers: without [group] sections the implicit group "default" picks,
 * for every series, what the one router over all backends picked before
 * groups existed (a file without groups means what it meant); a group's
 * hash depends on its members' names only (another slot order, the same
 * backend); explicit groups keep their members in the order given and
 * leave out slots that are not routable, and a group left with none is
 * refused; a point sent to overlapping groups reaches each backend once;
 * the bounds (targets, connections); counters carried by name.  Through
 * the relay: a rule's drop is taken (TS_OK) and counted as
 * points.rule_dropped, never queued; a refusal is TS_REFUSED with the
 * reason; a point sent to two groups is queued to both backends, counted
 * once per group and as one copy; with no room (TS_EAGAIN) nothing is
 * counted, and the point offered again is counted once; lines of no
 * client (relay_submit_line) go to the default group without the rules.
 */
#include "autoconf.h"

#include <check.h>
#include <stdio.h>
#include <string.h>

#include "base/point.h"
#include "base/util.h"
#include "core/flow.h"
#include "core/router.h"
#include "unit.h"
#include "unit_relay.h"

static struct config cfg;
static char err[CFG_ERR_MAX];

static void
load(const char *text)
{
    ck_assert_msg(config_load_string(&cfg, "T", text, err, sizeof(err)) == TS_OK, "%s", err);
}

static struct flow *
flow_of(const char *const *names, const bool *routable, int n)
{
    struct flow *f = flow_build(&cfg, names, routable, n, err, sizeof(err));
    ck_assert_msg(f != NULL, "%s", err);
    return f;
}

static const bool all4[4] = { true, true, true, true };

START_TEST(test_implicit_default_is_the_old_router)
{
    static const char *const names[4] = { "tsd1", "tsd2", "tsd3", "tsd4" };
    load("[backend tsd1]\naddress = 127.0.0.1:1\n[backend tsd2]\naddress = 127.0.0.1:2\n"
         "[backend tsd3]\naddress = 127.0.0.1:3\n[backend tsd4]\naddress = 127.0.0.1:4\n");
    struct flow *f = flow_of(names, all4, 4);
    ck_assert_int_eq(f->groups.n, 1);
    ck_assert_str_eq(f->groups.g[0].name, "default");
    ck_assert_int_eq(f->nrouted, 4);
    struct router old;
    ck_assert_int_eq(router_init(&old, ROUTE_HASH, names, 4), TS_OK);
    for (uint64_t h = 1; h < 200000; h += 997) {
        uint64_t x = h * 0x9E3779B97F4A7C15ull;
        int want, got;
        ck_assert_int_eq(router_pick(&old, x, NULL, NULL, &want), 1);
        ck_assert_int_eq(flow_targets(f, 1, x, NULL, &got), 1);
        ck_assert_int_eq(got, want);
    }
    router_destroy(&old);
    flow_free(f);
}
END_TEST

START_TEST(test_hash_follows_names_not_slots)
{
    load("[backend x]\naddress = 127.0.0.1:1\n[backend y]\naddress = 127.0.0.1:2\n"
         "[backend z]\naddress = 127.0.0.1:3\n[group g]\nbackends = x, y, z\n"
         "[relay]\ndefault-group = g\n");
    static const char *const a[3] = { "x", "y", "z" };
    static const char *const b[3] = { "z", "x", "y" }; /* another relay's slots */
    struct flow *fa = flow_of(a, all4, 3), *fb = flow_of(b, all4, 3);
    for (uint64_t h = 1; h < 100000; h += 311) {
        uint64_t x = h * 0xC2B2AE3D27D4EB4Full;
        int sa, sb;
        flow_targets(fa, 1, x, NULL, &sa);
        flow_targets(fb, 1, x, NULL, &sb);
        ck_assert_str_eq(a[sa], b[sb]);
    }
    flow_free(fa);
    flow_free(fb);
}
END_TEST

START_TEST(test_explicit_groups_members_and_routable)
{
    load("[backend a]\naddress = 127.0.0.1:1\n[backend b]\naddress = 127.0.0.1:2\n"
         "[backend c]\naddress = 127.0.0.1:3\n[relay]\ndefault-group = main\n"
         "[group main]\nbackends = c, a\nrouting = failover\n[group all]\nbackends = a, b, c\n"
         "routing = all\n");
    static const char *const names[4] = { "a", "b", "c", "old" };
    static const bool routable[4] = { true, true, true, false };
    struct flow *f = flow_of(names, routable, 4);
    ck_assert_int_eq(f->groups.n, 2);
    ck_assert_int_eq(f->groups.g[0].n, 2);
    ck_assert_int_eq(f->groups.g[0].slot[0], 2); /* c first: the order given */
    ck_assert_int_eq(f->groups.g[0].slot[1], 0);
    ck_assert_int_eq(f->nrouted, 3);             /* "old" is in no group */
    int t[8];
    ck_assert_int_eq(flow_targets(f, 1, 42, NULL, t), 1);
    ck_assert_int_eq(t[0], 2);                   /* failover: c */
    ck_assert_int_eq(flow_targets(f, 3, 42, NULL, t), 3); /* c once, though in both */
    ck_assert_uint_eq(flow_max_targets(f), 1);   /* only main can be reached: no send rule */
    flow_free(f);
    /* a group none of whose backends is routable is refused */
    static const bool none_c[4] = { true, true, false, false };
    load("[backend a]\naddress = 127.0.0.1:1\n[backend b]\naddress = 127.0.0.1:2\n"
         "[backend c]\naddress = 127.0.0.1:3\n[group lone]\nbackends = c\n"
         "[group default]\nbackends = a, b\n");
    ck_assert_ptr_null(flow_build(&cfg, names, none_c, 4, err, sizeof(err)));
    ck_assert_msg(strstr(err, "group lone: no backend to route to") != NULL, "%s", err);
}
END_TEST

START_TEST(test_bounds_and_carry)
{
    load("[backend a]\naddress = 127.0.0.1:1\nconns = 4\n[backend b]\naddress = 127.0.0.1:2\n"
         "conns = 2\n[group default]\nbackends = a\n[group m]\nbackends = a, b\nrouting = all\n"
         "[rule s]\nmatch = ^x\naction = send\nto = m\n");
    static const char *const names[2] = { "a", "b" };
    struct flow *f = flow_of(names, all4, 2);
    ck_assert_uint_eq(flow_max_targets(f), 2); /* min(1 + 2, routed backends) */
    static struct backend bes[2];
    bes[0].nconns = 4;
    bes[1].nconns = 2;
    ck_assert_uint_eq(flow_max_conns(f, bes), (4 / 1 + 1) + (4 + 2));
    flow_count(f, 3);
    f->rules->rules[0].st.matched = 5;
    struct flow *g = flow_of(names, all4, 2);
    flow_carry(g, f);
    ck_assert_uint_eq(g->groups.g[0].points, 1);
    ck_assert_uint_eq(g->groups.g[1].points, 1);
    ck_assert_uint_eq(g->rules->rules[0].st.matched, 5);
    flow_free(f);
    flow_free(g);
}
END_TEST

/* ---- a point through the relay -------------------------------------- */

static struct relay R;

static void
relay_setup(void)
{
    static const char *const names[2] = { "a", "b" };
    static const int conns[2] = { 1, 1 };
    unit_relay_build(&R, names, conns, 2, 2, 4096, 1024 * 1024);
}

static void
relay_teardown(void)
{
    unit_relay_free(&R);
}

/* The relay's flow from rules (and groups) over its backends a and b. */
static void
relay_rules(const char *text)
{
    static struct config c;
    char t[4096];
    snprintf(t, sizeof(t), "[backend a]\naddress = 127.0.0.1:1\n[backend b]\n"
             "address = 127.0.0.1:2\n%s", text);
    ck_assert_msg(config_load_string(&c, "T", t, err, sizeof(err)) == TS_OK, "%s", err);
    R.cfg.rules = c.rules;
    snprintf(R.cfg.default_group, sizeof(R.cfg.default_group), "%s", c.default_group);
    ck_assert_msg(relay_build_flow(&R, err, sizeof(err)) == TS_OK, "%s", err);
    relay_apply_limits(&R);
    relay_begin_batch(&R);
}

static int
submit(const char *line, struct point_error *why)
{
    static struct point_rules pr;
    static struct point p;
    struct point_error e;
    static char canon[POINT_LINE_MAX + 2];
    point_rules_init(&pr, 8, NULL);
    ck_assert_int_eq(point_parse_line(&pr, CMD_PUT, false, line, strlen(line), &p, &e), TS_OK);
    size_t n = point_format(&p, canon, sizeof(canon));
    return relay_submit_point(&R, "127.0.0.1", canon, n, point_output_hash(&p, canon, n), why);
}

START_TEST(test_relay_drop_refuse_send)
{
    relay_rules("[group ga]\nbackends = a\n[group gb]\nbackends = b\n[relay]\n"
                "default-group = ga\n"
                "[rule d]\nmatch = ^debug\\.\naction = drop\n"
                "[rule m]\nmatch = ^many\\.\naction = set-tags\ntags = a=1, b=2, c=3, d=4, "
                "e=5, f=6, g=7, h=8\n"
                "[rule both]\nmatch = ^both\\.\naction = send\nto = ga, gb\n");
    struct point_error why;
    ck_assert_int_eq(submit("put debug.x 1700000000 1 host=a", &why), TS_OK);
    ck_assert_uint_eq(g_stats.points_rule_dropped, 1);
    ck_assert_uint_eq(backend_queued_lines(&R.backends[0]) + backend_queued_lines(&R.backends[1]),
                      0);
    ck_assert_int_eq(submit("put many.x 1700000000 1 host=a", &why), TS_REFUSED);
    ck_assert_int_eq(why.kind, PE_REFUSED);
    ck_assert_msg(strstr(why.msg, "rule m made a point") != NULL, "%s", why.msg);
    ck_assert_int_eq(submit("put both.x 1700000000 1 host=a", &why), TS_OK);
    ck_assert_uint_eq(backend_queued_lines(&R.backends[0]), 1);
    ck_assert_uint_eq(backend_queued_lines(&R.backends[1]), 1);
    ck_assert_uint_eq(g_stats.points_copies, 1);
    ck_assert_int_eq(submit("put plain 1700000000 1 host=a", &why), TS_OK);
    ck_assert_uint_eq(backend_queued_lines(&R.backends[0]), 2);
    const struct flow *f = R.flow;
    ck_assert_uint_eq(f->groups.g[0].points, 2);
    ck_assert_uint_eq(f->groups.g[1].points, 1);
    ck_assert_uint_eq(f->rules->rules[0].st.dropped, 1);
    ck_assert_uint_eq(f->rules->rules[1].st.refused, 1);
    ck_assert_uint_eq(f->rules->rules[2].st.matched, 1);
    /* lines of no client: the default group, as they are */
    ck_assert_int_eq(relay_submit_line(&R, "put debug.y 1 1 h=a\n", 20,
                                       point_line_hash("put debug.y 1 1 h=a\n", 20)), TS_OK);
    ck_assert_uint_eq(backend_queued_lines(&R.backends[0]), 3);
    ck_assert_uint_eq(f->rules->rules[0].st.matched, 1);
}
END_TEST

START_TEST(test_relay_no_room_counts_nothing)
{
    relay_rules("[rule s]\naction = set-tags\ntags = x=1\n");
    struct point_error why;
    for (int i = 0; i < R.nbackends; i++)
        R.backends[i].room_cached = 0; /* overflow = block: no room now */
    ck_assert_int_eq(submit("put m 1700000000 1 host=a", &why), TS_EAGAIN);
    ck_assert_int_eq(submit("put m 1700000000 1 host=a", &why), TS_EAGAIN);
    ck_assert_uint_eq(R.flow->rules->rules[0].st.matched, 0);
    ck_assert_uint_eq(R.flow->groups.g[0].points, 0);
    relay_begin_batch(&R); /* room again */
    ck_assert_int_eq(submit("put m 1700000000 1 host=a", &why), TS_OK);
    ck_assert_uint_eq(R.flow->rules->rules[0].st.matched, 1);
    ck_assert_uint_eq(R.flow->groups.g[0].points, 1);
}
END_TEST

static Suite *
flow_suite(void)
{
    Suite *s = suite_create("flow");
    TCase *tc = tcase_create("groups");
    tcase_add_test(tc, test_implicit_default_is_the_old_router);
    tcase_add_test(tc, test_hash_follows_names_not_slots);
    tcase_add_test(tc, test_explicit_groups_members_and_routable);
    tcase_add_test(tc, test_bounds_and_carry);
    suite_add_tcase(s, tc);
    TCase *tr = tcase_create("relay");
    tcase_add_checked_fixture(tr, relay_setup, relay_teardown);
    tcase_add_test(tr, test_relay_drop_refuse_send);
    tcase_add_test(tr, test_relay_no_room_counts_nothing);
    suite_add_tcase(s, tr);
    return s;
}

UNIT_MAIN(flow_suite)
