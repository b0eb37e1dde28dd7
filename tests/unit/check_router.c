/*
 * check_router.c -- unit tests of the routing policies (src/core/router.c).
 *
 * Covers: hash is deterministic (same hash, same backend, across router
 * instances) and spreads series evenly; when a backend is unavailable only
 * its series move (and spread over the others), the others' series stay;
 * adding a fourth backend moves only about a quarter of the series, all to
 * the new one; with none available the ring owner is returned.  failover
 * picks the first available; roundrobin rotates over the available ones;
 * all returns every backend.  Many relays, one fleet (issue 12): 10,000
 * real series (point_line_hash of put lines) through two routers that
 * list the same backends in different orders land on the same backend
 * name, for every permutation; adding a third backend to two moves 25-42%
 * of them, all to the new one; names decide, not positions.
 */
#include "autoconf.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "base/config.h"
#include "base/point.h"
#include "core/router.h"
#include "base/util.h"
#include "unit.h"

#define NSERIES 100000

static const char *const names3[] = { "tsd1", "tsd2", "tsd3" };
static const char *const names4[] = { "tsd1", "tsd2", "tsd3", "tsd4" };

/* Deterministic 64-bit pseudo-random series hashes (xorshift64*). */
static uint64_t
next_hash(uint64_t *s)
{
    *s ^= *s >> 12;
    *s ^= *s << 25;
    *s ^= *s >> 27;
    return *s * 0x2545F4914F6CDD1Dull;
}

/* Availability: bit i set = backend i is down. */
static bool
avail_mask(void *ctx, int b)
{
    unsigned down = *(unsigned *)ctx;
    return (down & (1u << b)) == 0;
}

static int
pick1(struct router *rt, uint64_t h, unsigned down)
{
    int out[CFG_MAX_BACKENDS];
    int n = router_pick(rt, h, avail_mask, &down, out);
    /* plain checks: a passing ck_assert costs a message to the runner */
    if (n != 1 || out[0] < 0 || out[0] >= rt->nbackends)
        ck_abort_msg("router_pick returned %d backend(s), first %d", n, out[0]);
    return out[0];
}

static unsigned char owner3[NSERIES];

static void
assign3(struct router *rt, unsigned down, unsigned char *out)
{
    uint64_t s = 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < NSERIES; i++)
        out[i] = (unsigned char)pick1(rt, next_hash(&s), down);
}

START_TEST(test_init_errors)
{
    struct router rt;
    ck_assert_int_eq(router_init(&rt, ROUTE_HASH, names3, 0), TS_ERROR);
    router_destroy(&rt);
    ck_assert_int_eq(router_init(&rt, ROUTE_HASH, names3, 3), TS_OK);
    ck_assert_int_eq(rt.nring, 3 * ROUTER_VNODES);
    for (int i = 1; i < rt.nring; i++)
        ck_assert(rt.ring[i - 1].point <= rt.ring[i].point);
    router_destroy(&rt);
    ck_assert_ptr_null(rt.ring);
}
END_TEST

START_TEST(test_hash_deterministic_and_even)
{
    struct router a, b;
    ck_assert_int_eq(router_init(&a, ROUTE_HASH, names3, 3), TS_OK);
    ck_assert_int_eq(router_init(&b, ROUTE_HASH, names3, 3), TS_OK);
    int count[3] = { 0, 0, 0 };
    uint64_t s = 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < NSERIES; i++) {
        uint64_t h = next_hash(&s);
        int x = pick1(&a, h, 0);
        if (pick1(&a, h, 0) != x || pick1(&b, h, 0) != x)
            ck_abort_msg("hash %llx: the pick is not deterministic", (unsigned long long)h);
        /* without an availability callback: the same owner */
        int out[4];
        if (router_pick(&a, h, NULL, NULL, out) != 1 || out[0] != x)
            ck_abort_msg("hash %llx: avail = NULL picks %d, not %d", (unsigned long long)h,
                         out[0], x);
        count[x]++;
    }
    for (int k = 0; k < 3; k++)
        ck_assert_msg(count[k] >= NSERIES * 25 / 100 && count[k] <= NSERIES * 42 / 100,
                      "backend %d got %d of %d series", k, count[k], NSERIES);
    /* the edges of the hash space map somewhere valid, and stably */
    ck_assert_int_eq(pick1(&a, 0, 0), pick1(&b, 0, 0));
    ck_assert_int_eq(pick1(&a, UINT64_MAX, 0), pick1(&b, UINT64_MAX, 0));
    /* a hash past the last ring point wraps to the first */
    ck_assert_int_eq(pick1(&a, a.ring[a.nring - 1].point + 1, 0), a.ring[0].backend);
    ck_assert_int_eq(pick1(&a, a.ring[0].point, 0), a.ring[0].backend);
    router_destroy(&a);
    router_destroy(&b);
}
END_TEST

START_TEST(test_hash_unavailable_moves_only_its_series)
{
    static unsigned char moved[NSERIES];
    struct router rt;
    ck_assert_int_eq(router_init(&rt, ROUTE_HASH, names3, 3), TS_OK);
    assign3(&rt, 0, owner3);
    for (int down = 0; down < 3; down++) {
        assign3(&rt, 1u << down, moved);
        int to[3] = { 0, 0, 0 }, nmoved = 0;
        for (int i = 0; i < NSERIES; i++) {
            if (owner3[i] == down) {
                if (moved[i] == down)
                    ck_abort_msg("series %d stayed on unavailable backend %d", i, down);
                to[moved[i]]++;
                nmoved++;
            } else if (moved[i] != owner3[i]) {
                ck_abort_msg("series %d moved from %d to %d while only %d was down", i,
                             owner3[i], moved[i], down);
            }
        }
        /* the orphaned series spread over both remaining backends */
        for (int k = 0; k < 3; k++) {
            if (k == down)
                continue;
            ck_assert_msg(to[k] >= nmoved / 5 && to[k] <= nmoved * 4 / 5,
                          "backend %d took %d of the %d series of backend %d", k, to[k],
                          nmoved, down);
        }
    }
    /* two down: everything on the third */
    assign3(&rt, 1u | 4u, moved);
    for (int i = 0; i < NSERIES; i++)
        if (moved[i] != 1)
            ck_abort_msg("series %d on %d with only backend 1 up", i, moved[i]);
    /* none available: the owner, so data can spool there */
    assign3(&rt, 7u, moved);
    ck_assert(memcmp(moved, owner3, NSERIES) == 0);
    /* back up: everything returns home */
    assign3(&rt, 0, moved);
    ck_assert(memcmp(moved, owner3, NSERIES) == 0);
    router_destroy(&rt);
}
END_TEST

START_TEST(test_hash_add_backend)
{
    struct router r3, r4;
    ck_assert_int_eq(router_init(&r3, ROUTE_HASH, names3, 3), TS_OK);
    ck_assert_int_eq(router_init(&r4, ROUTE_HASH, names4, 4), TS_OK);
    uint64_t s = 0x9E3779B97F4A7C15ull;
    int nmoved = 0, count4[4] = { 0, 0, 0, 0 };
    for (int i = 0; i < NSERIES; i++) {
        uint64_t h = next_hash(&s);
        int a = pick1(&r3, h, 0), b = pick1(&r4, h, 0);
        count4[b]++;
        if (a != b) {
            if (b != 3)
                ck_abort_msg("series moved from %d to %d, not to the new backend", a, b);
            nmoved++;
        }
    }
    ck_assert_msg(nmoved >= NSERIES * 17 / 100 && nmoved <= NSERIES * 33 / 100,
                  "adding a 4th backend moved %d of %d series", nmoved, NSERIES);
    for (int k = 0; k < 4; k++)
        ck_assert_msg(count4[k] >= NSERIES * 17 / 100 && count4[k] <= NSERIES * 33 / 100,
                      "backend %d got %d of %d series", k, count4[k], NSERIES);
    /* the new backend down: the 3-backend assignment exactly */
    s = 0x9E3779B97F4A7C15ull;
    for (int i = 0; i < NSERIES; i++) {
        uint64_t h = next_hash(&s);
        if (pick1(&r4, h, 1u << 3) != pick1(&r3, h, 0))
            ck_abort_msg("series %d: with tsd4 down the 4-backend ring differs", i);
    }
    router_destroy(&r3);
    router_destroy(&r4);
}
END_TEST

START_TEST(test_hash_single_backend)
{
    struct router rt;
    ck_assert_int_eq(router_init(&rt, ROUTE_HASH, names3, 1), TS_OK);
    uint64_t s = 1;
    for (int i = 0; i < 1000; i++) {
        uint64_t h = next_hash(&s);
        ck_assert_int_eq(pick1(&rt, h, 0), 0);
        ck_assert_int_eq(pick1(&rt, h, 1u), 0);
    }
    router_destroy(&rt);
}
END_TEST

START_TEST(test_failover)
{
    struct router rt;
    ck_assert_int_eq(router_init(&rt, ROUTE_FAILOVER, names3, 3), TS_OK);
    uint64_t s = 7;
    for (int i = 0; i < 100; i++) {
        uint64_t h = next_hash(&s);
        ck_assert_int_eq(pick1(&rt, h, 0), 0);
        ck_assert_int_eq(pick1(&rt, h, 1u), 1);
        ck_assert_int_eq(pick1(&rt, h, 2u), 0);
        ck_assert_int_eq(pick1(&rt, h, 1u | 2u), 2);
        ck_assert_int_eq(pick1(&rt, h, 1u | 4u), 1);
        /* none available: the first in order */
        ck_assert_int_eq(pick1(&rt, h, 7u), 0);
    }
    int out[4];
    ck_assert_int_eq(router_pick(&rt, 5, NULL, NULL, out), 1);
    ck_assert_int_eq(out[0], 0);
    router_destroy(&rt);
}
END_TEST

START_TEST(test_roundrobin)
{
    struct router rt;
    ck_assert_int_eq(router_init(&rt, ROUTE_ROUNDROBIN, names3, 3), TS_OK);
    /* all available: 0 1 2 0 1 2 ..., regardless of the hash */
    int first = pick1(&rt, 42, 0);
    for (int i = 1; i < 30; i++)
        ck_assert_int_eq(pick1(&rt, 42, 0), (first + i) % 3);

    /* backend 1 down: alternate over 0 and 2 evenly */
    int count[3] = { 0, 0, 0 }, prev = -1;
    for (int i = 0; i < 300; i++) {
        int b = pick1(&rt, (uint64_t)i, 2u);
        ck_assert_int_ne(b, 1);
        ck_assert_int_ne(b, prev);
        prev = b;
        count[b]++;
    }
    ck_assert_int_eq(count[0], 150);
    ck_assert_int_eq(count[2], 150);

    /* only backend 2 up */
    for (int i = 0; i < 10; i++)
        ck_assert_int_eq(pick1(&rt, 1, 1u | 2u), 2);
    /* none available: still a valid backend (pick1 checks the range) */
    for (int i = 0; i < 10; i++)
        (void)pick1(&rt, 1, 7u);
    router_destroy(&rt);
}
END_TEST

START_TEST(test_all)
{
    struct router rt;
    ck_assert_int_eq(router_init(&rt, ROUTE_ALL, names4, 4), TS_OK);
    for (unsigned down = 0; down < 16; down++) {
        int out[CFG_MAX_BACKENDS];
        memset(out, -1, sizeof(out));
        ck_assert_int_eq(router_pick(&rt, down * 977u, avail_mask, &down, out), 4);
        for (int i = 0; i < 4; i++)
            ck_assert_int_eq(out[i], i);
        ck_assert_int_eq(out[4], -1);
    }
    router_destroy(&rt);
}
END_TEST

/* ---- many relays, one fleet -------------------------------------------- */

#define FLEET_SERIES 10000

static uint64_t fleet_hash[FLEET_SERIES];

/* Hashes of 10,000 distinct series, as the relay computes them from the
 * canonical lines it routes. */
static void
fleet_series(void)
{
    for (int i = 0; i < FLEET_SERIES; i++) {
        char line[160];
        int n = snprintf(line, sizeof(line), "put sys.cpu.%s 1764540000 %d host=web%03d cpu=%d "
                         "dc=dc%d\n", i % 3 == 0 ? "user" : "system", i, i % 500, i % 8,
                         i % 3);
        fleet_hash[i] = point_line_hash(line, (size_t)n);
    }
    /* distinct series, distinct hashes (no accidental agreement) */
    int same = 0;
    for (int i = 1; i < FLEET_SERIES; i++)
        same += fleet_hash[i] == fleet_hash[i - 1];
    ck_assert_int_eq(same, 0);
}

/* The backend name each series lands on. */
static void
fleet_assign(const char *const *names, int n, const char **out)
{
    struct router rt;
    ck_assert_int_eq(router_init(&rt, ROUTE_HASH, names, n), TS_OK);
    for (int i = 0; i < FLEET_SERIES; i++)
        out[i] = names[pick1(&rt, fleet_hash[i], 0)];
    router_destroy(&rt);
}

START_TEST(test_hash_order_independent)
{
    static const char *a[FLEET_SERIES], *b[FLEET_SERIES];
    static const char *const orders[6][3] = {
        { "tsd-a", "tsd-b", "tsd-c" }, { "tsd-a", "tsd-c", "tsd-b" },
        { "tsd-b", "tsd-a", "tsd-c" }, { "tsd-b", "tsd-c", "tsd-a" },
        { "tsd-c", "tsd-a", "tsd-b" }, { "tsd-c", "tsd-b", "tsd-a" },
    };
    fleet_series();
    fleet_assign(orders[0], 3, a);
    int count[3] = { 0, 0, 0 };
    for (int i = 0; i < FLEET_SERIES; i++)
        count[a[i][4] - 'a']++;
    for (int k = 0; k < 3; k++)
        ck_assert_msg(count[k] >= FLEET_SERIES * 25 / 100 && count[k] <= FLEET_SERIES * 42 / 100,
                      "tsd-%c got %d of %d series", 'a' + k, count[k], FLEET_SERIES);
    for (int p = 1; p < 6; p++) {
        fleet_assign(orders[p], 3, b);
        for (int i = 0; i < FLEET_SERIES; i++)
            if (strcmp(a[i], b[i]) != 0)
                ck_abort_msg("series %d: %s with order 0, %s with order %d", i, a[i], b[i], p);
    }
    /* two backends in either order too */
    static const char *const ab[] = { "tsd-a", "tsd-b" }, *const ba[] = { "tsd-b", "tsd-a" };
    fleet_assign(ab, 2, a);
    fleet_assign(ba, 2, b);
    for (int i = 0; i < FLEET_SERIES; i++)
        if (strcmp(a[i], b[i]) != 0)
            ck_abort_msg("series %d: %s listed a,b but %s listed b,a", i, a[i], b[i]);
}
END_TEST

START_TEST(test_hash_third_backend)
{
    static const char *two[FLEET_SERIES], *three[FLEET_SERIES];
    static const char *const names2[] = { "tsd-a", "tsd-b" };
    /* the new backend listed first: positions shift, names do not */
    static const char *const names3b[] = { "tsd-new", "tsd-b", "tsd-a" };
    fleet_series();
    fleet_assign(names2, 2, two);
    fleet_assign(names3b, 3, three);
    int moved = 0;
    for (int i = 0; i < FLEET_SERIES; i++) {
        if (strcmp(two[i], three[i]) == 0)
            continue;
        if (strcmp(three[i], "tsd-new") != 0)
            ck_abort_msg("series %d moved from %s to %s, not to the new backend", i, two[i],
                         three[i]);
        moved++;
    }
    ck_assert_msg(moved >= FLEET_SERIES * 25 / 100 && moved <= FLEET_SERIES * 42 / 100,
                  "adding a third backend moved %d of %d series", moved, FLEET_SERIES);
}
END_TEST

static Suite *
router_suite(void)
{
    Suite *s = suite_create("router");
    TCase *tc = tcase_create("router");
    tcase_add_test(tc, test_init_errors);
    tcase_add_test(tc, test_hash_deterministic_and_even);
    tcase_add_test(tc, test_hash_unavailable_moves_only_its_series);
    tcase_add_test(tc, test_hash_add_backend);
    tcase_add_test(tc, test_hash_single_backend);
    tcase_add_test(tc, test_failover);
    tcase_add_test(tc, test_roundrobin);
    tcase_add_test(tc, test_all);
    tcase_add_test(tc, test_hash_order_independent);
    tcase_add_test(tc, test_hash_third_backend);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(router_suite)
