/*
 * check_topk.c -- unit tests of the sliding-window space-saving table
 * (src/base/topk.c), on a simulated clock.
 *
 * Covers: exact counts while keys fit, the top list in order (count-0
 * entries left out, ties and n larger than the table); a key that comes
 * when the table is full takes the smallest entry and inherits its count
 * as error, so for every key count <= true <= upper (checked against an
 * exact count over a random Zipf-like stream), and a heavy key is never
 * lost; the index finds every entry and no evicted key after thousands
 * of take-overs (deletion shifts clusters back correctly); window
 * rotation: a count stays for the 12 slots of the window and leaves
 * with its slot, a partial advance drops only what left, a long pause
 * clears everything, the clock never runs backwards; kept ages with its
 * slot and is part of the key's own count only; names are kept (and cut
 * at TOPK_NAME_MAX, flagged); user flags are 0 for a key new to an
 * entry; the heap stays a heap after aging; a table rebuilt from its
 * entries (a snapshot) finds, counts and ranks as the original, trusting
 * no total, kept or name length it was given.
 */
#include "autoconf.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/topk.h"
#include "base/util.h"
#include "unit.h"

#define SLOT 1000ull
#define T0 (1000000ull * SLOT)

static size_t
add(struct topk *t, uint64_t key, uint32_t n, uint32_t kept, uint64_t now)
{
    char name[32];
    int len = snprintf(name, sizeof(name), "k%llu", (unsigned long long)key);
    bool fresh;
    return topk_add(t, key, name, (size_t)len, n, kept, now, &fresh);
}

static void
heap_ok(const struct topk *t)
{
    for (size_t p = 1; p < t->n; p++)
        ck_assert_uint_le(t->e[t->heap[(p - 1) / 2]].total, t->e[t->heap[p]].total);
    for (size_t p = 0; p < t->n; p++)
        ck_assert_uint_eq(t->e[t->heap[p]].heap_pos, p);
}

START_TEST(test_exact_while_it_fits)
{
    struct topk t;
    ck_assert_int_eq(topk_init(&t, 8, SLOT, T0), TS_OK);
    for (uint64_t k = 1; k <= 5; k++)
        for (uint64_t i = 0; i < k * 10; i++)
            add(&t, k, 1, i % 2, T0);
    for (uint64_t k = 1; k <= 5; k++) {
        long i = topk_find(&t, k);
        ck_assert_int_ge(i, 0);
        ck_assert_uint_eq(topk_lower(&t, (size_t)i), k * 10);
        ck_assert_uint_eq(topk_upper(&t, (size_t)i), k * 10);
        ck_assert_uint_eq(topk_kept(&t, (size_t)i), k * 5);
    }
    ck_assert_int_eq(topk_find(&t, 99), -1);
    size_t top[10];
    ck_assert_uint_eq(topk_top(&t, top, 10), 5);
    for (size_t j = 0; j < 5; j++)
        ck_assert_uint_eq(t.e[top[j]].key, 5 - j);
    ck_assert_uint_eq(topk_top(&t, top, 2), 2);
    ck_assert_uint_eq(t.e[top[0]].key, 5);
    ck_assert_uint_eq(t.e[top[1]].key, 4);
    heap_ok(&t);
    topk_free(&t);
}
END_TEST

START_TEST(test_takeover_inherits_the_smallest)
{
    struct topk t;
    ck_assert_int_eq(topk_init(&t, 3, SLOT, T0), TS_OK);
    add(&t, 1, 5, 5, T0);
    add(&t, 2, 3, 3, T0);
    add(&t, 3, 7, 7, T0);
    t.e[topk_find(&t, 2)].user = 0x55;
    bool fresh;
    size_t i = topk_add(&t, 4, "k4", 2, 1, 1, T0, &fresh);
    ck_assert(fresh);
    ck_assert_int_eq(topk_find(&t, 2), -1);        /* the smallest went */
    ck_assert_int_eq(topk_find(&t, 4), (long)i);
    ck_assert_uint_eq(t.e[i].user, 0);
    ck_assert_uint_eq(topk_lower(&t, i), 1);       /* its own */
    ck_assert_uint_eq(topk_upper(&t, i), 4);       /* + the 3 it inherited */
    ck_assert_uint_eq(topk_kept(&t, i), 1);
    ck_assert_uint_eq(t.takeovers, 1);
    add(&t, 4, 1, 0, T0);
    ck_assert_uint_eq(topk_lower(&t, i), 2);
    heap_ok(&t);
    topk_free(&t);
}
END_TEST

/* Space-saving's promises over a skewed random stream: for every key in
 * the table, lower <= true <= upper; every key over N / capacity is in
 * the table. */
START_TEST(test_bounds_hold_on_a_skewed_stream)
{
    enum { KEYS = 5000, CAP = 64, EVENTS = 200000 };
    static uint32_t truth[KEYS];
    memset(truth, 0, sizeof(truth));
    struct topk t;
    ck_assert_int_eq(topk_init(&t, CAP, SLOT, T0), TS_OK);
    srand(7);
    for (int e = 0; e < EVENTS; e++) {
        /* ~Zipf: small keys much more often */
        uint64_t k = (uint64_t)(rand() % KEYS) * (uint64_t)(rand() % KEYS) / KEYS;
        truth[k]++;
        add(&t, k, 1, 0, T0);
    }
    for (size_t i = 0; i < t.n; i++) {
        uint64_t k = t.e[i].key;
        ck_assert_uint_le(topk_lower(&t, i), truth[k]);
        ck_assert_uint_ge(topk_upper(&t, i), truth[k]);
    }
    for (uint64_t k = 0; k < KEYS; k++)
        if (truth[k] > EVENTS / CAP)
            ck_assert_msg(topk_find(&t, k) >= 0, "heavy key %llu (%u) lost",
                          (unsigned long long)k, truth[k]);
    heap_ok(&t);
    topk_free(&t);
}
END_TEST

START_TEST(test_index_after_many_takeovers)
{
    struct topk t;
    ck_assert_int_eq(topk_init(&t, 100, SLOT, T0), TS_OK);
    srand(3);
    for (int round = 0; round < 20000; round++) {
        uint64_t k = (uint64_t)round;
        add(&t, k, (uint32_t)(1 + rand() % 5), 0, T0);
        if (round % 1000 == 999) {
            for (size_t i = 0; i < t.n; i++)
                ck_assert_int_eq(topk_find(&t, t.e[i].key), (long)i);
        }
    }
    size_t in = 0;
    for (uint64_t k = 0; k < 20000; k++)
        in += topk_find(&t, k) >= 0;
    ck_assert_uint_eq(in, 100);
    ck_assert_uint_eq(t.takeovers, 20000 - 100);
    topk_free(&t);
}
END_TEST

START_TEST(test_window_rotation)
{
    struct topk t;
    ck_assert_int_eq(topk_init(&t, 4, SLOT, T0), TS_OK);
    size_t i = add(&t, 1, 10, 4, T0);               /* slot 0 */
    add(&t, 1, 5, 5, T0 + 3 * SLOT + 999);          /* slot 3 */
    ck_assert_uint_eq(topk_lower(&t, i), 15);
    ck_assert_uint_eq(topk_kept(&t, i), 9);
    /* slot 0 is in the window until 12 slots later */
    topk_advance(&t, T0 + 11 * SLOT + 999);
    ck_assert_uint_eq(topk_lower(&t, i), 15);
    topk_advance(&t, T0 + 12 * SLOT);
    ck_assert_uint_eq(topk_lower(&t, i), 5);
    ck_assert_uint_eq(topk_upper(&t, i), 5);
    ck_assert_uint_eq(topk_kept(&t, i), 5);
    /* the clock does not run backwards */
    topk_advance(&t, T0);
    ck_assert_uint_eq(topk_lower(&t, i), 5);
    topk_advance(&t, T0 + 15 * SLOT);
    ck_assert_uint_eq(topk_lower(&t, i), 0);
    size_t top[4];
    ck_assert_uint_eq(topk_top(&t, top, 4), 0);     /* count 0: not shown */
    /* a long pause clears everything at once */
    add(&t, 2, 3, 0, T0 + 16 * SLOT);
    topk_advance(&t, T0 + 1000 * SLOT);
    ck_assert_uint_eq(topk_upper(&t, (size_t)topk_find(&t, 2)), 0);
    heap_ok(&t);
    topk_free(&t);
}
END_TEST

/* An inherited error ages with the slot it came from. */
START_TEST(test_error_ages_with_its_slot)
{
    struct topk t;
    ck_assert_int_eq(topk_init(&t, 1, SLOT, T0), TS_OK);
    add(&t, 1, 8, 0, T0);
    size_t i = add(&t, 2, 1, 1, T0 + 5 * SLOT);
    ck_assert_uint_eq(topk_upper(&t, i), 9);
    ck_assert_uint_eq(topk_lower(&t, i), 1);
    topk_advance(&t, T0 + 12 * SLOT);               /* slot 0 leaves, with the 8 */
    ck_assert_uint_eq(topk_upper(&t, i), 1);
    ck_assert_uint_eq(topk_lower(&t, i), 1);
    topk_free(&t);
}
END_TEST

/* After aging, the smallest is the one taken over (the heap was rebuilt). */
START_TEST(test_heap_after_aging)
{
    struct topk t;
    ck_assert_int_eq(topk_init(&t, 3, SLOT, T0), TS_OK);
    add(&t, 1, 100, 0, T0);              /* big, but old */
    add(&t, 2, 5, 0, T0 + 6 * SLOT);
    add(&t, 3, 7, 0, T0 + 6 * SLOT);
    topk_advance(&t, T0 + 12 * SLOT);    /* key 1 now counts 0 */
    heap_ok(&t);
    add(&t, 4, 1, 0, T0 + 12 * SLOT);
    ck_assert_int_eq(topk_find(&t, 1), -1);
    ck_assert_int_ge(topk_find(&t, 2), 0);
    ck_assert_int_ge(topk_find(&t, 3), 0);
    topk_free(&t);
}
END_TEST

START_TEST(test_names)
{
    struct topk t;
    ck_assert_int_eq(topk_init(&t, 2, SLOT, T0), TS_OK);
    char longname[300];
    memset(longname, 'x', sizeof(longname));
    bool fresh;
    size_t i = topk_add(&t, 1, longname, sizeof(longname), 1, 0, T0, &fresh);
    ck_assert(t.e[i].truncated);
    ck_assert_uint_eq(t.e[i].name_len, TOPK_NAME_MAX);
    i = topk_add(&t, 2, "sys.cpu", 7, 1, 0, T0, &fresh);
    ck_assert(!t.e[i].truncated);
    ck_assert_uint_eq(t.e[i].name_len, 7);
    ck_assert(memcmp(t.e[i].name, "sys.cpu", 7) == 0);
    /* a key seen again keeps its entry and name */
    ck_assert_uint_eq(topk_add(&t, 2, "other", 5, 1, 0, T0, &fresh), i);
    ck_assert(!fresh);
    ck_assert(memcmp(t.e[i].name, "sys.cpu", 7) == 0);
    topk_free(&t);
}
END_TEST

/* A snapshot's entries written back: same finds, counts, order; totals
 * recounted from the slots (a damaged total is not trusted), kept never
 * over count, names cut to TOPK_NAME_MAX; more entries than the table
 * holds is refused. */
START_TEST(test_rebuild_from_entries)
{
    struct topk a, b;
    ck_assert_int_eq(topk_init(&a, 50, SLOT, T0), TS_OK);
    ck_assert_int_eq(topk_init(&b, 50, SLOT, T0), TS_OK);
    srand(11);
    for (int i = 0; i < 5000; i++)
        add(&a, (uint64_t)(rand() % 200), 1, (uint32_t)(rand() % 2), T0 + (uint64_t)(i % 7) * SLOT);
    memcpy(b.e, a.e, a.n * sizeof(a.e[0]));
    b.e[0].total = 1;                   /* damaged */
    b.e[1].kept[0] = b.e[1].count[0] + 5;
    b.e[2].name_len = 5000;
    ck_assert_int_eq(topk_rebuild(&b, a.n, a.cur_slot), TS_OK);
    heap_ok(&b);
    for (size_t i = 0; i < a.n; i++) {
        ck_assert_int_eq(topk_find(&b, a.e[i].key), (long)i);
        ck_assert_uint_eq(topk_upper(&b, i), topk_upper(&a, i));
        ck_assert_uint_eq(topk_lower(&b, i), topk_lower(&a, i));
    }
    ck_assert_uint_le(topk_kept(&b, 1), topk_lower(&b, 1));
    ck_assert_uint_eq(b.e[2].name_len, TOPK_NAME_MAX);
    size_t ta[10], tb[10];
    ck_assert_uint_eq(topk_top(&a, ta, 10), topk_top(&b, tb, 10));
    for (int i = 0; i < 10; i++)
        ck_assert_uint_eq(topk_upper(&a, ta[i]), topk_upper(&b, tb[i]));
    /* it goes on counting and aging as the original would */
    add(&a, 7, 3, 3, T0 + 20 * SLOT);
    add(&b, 7, 3, 3, T0 + 20 * SLOT);
    ck_assert_uint_eq(topk_upper(&a, (size_t)topk_find(&a, 7)), topk_upper(&b, (size_t)topk_find(&b, 7)));
    ck_assert_int_eq(topk_rebuild(&b, 51, a.cur_slot), TS_ERROR);
    topk_free(&a);
    topk_free(&b);
}
END_TEST

static Suite *
topk_suite(void)
{
    Suite *s = suite_create("topk");
    TCase *tc = tcase_create("topk");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_exact_while_it_fits);
    tcase_add_test(tc, test_takeover_inherits_the_smallest);
    tcase_add_test(tc, test_bounds_hold_on_a_skewed_stream);
    tcase_add_test(tc, test_index_after_many_takeovers);
    tcase_add_test(tc, test_window_rotation);
    tcase_add_test(tc, test_error_ages_with_its_slot);
    tcase_add_test(tc, test_heap_after_aging);
    tcase_add_test(tc, test_names);
    tcase_add_test(tc, test_rebuild_from_entries);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(topk_suite)
