/*
 * check_cuckoo.c -- unit tests of the cuckoo filter (src/base/cuckoo.c).
 *
 * Covers: an empty filter holds nothing; every item taken is found (no
 * false negative) up to full load, in filters of odd and tiny sizes (the
 * alternate bucket works without a power of two); full at 94 % of the
 * slots, then TS_ENOMEM and nothing changes; a chain of moves that finds
 * no room stashes the item in hand, which is still found, and the filter
 * is full from then on; clear empties; the false-positive rate measured
 * on 2 million items never inserted, at full load, stays under the
 * stated bound 8 x 0.94 / 65535 (1.15e-4) and is near it; cuckoo_fpr
 * follows the load.
 */
#include "autoconf.h"

#include <check.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "base/cuckoo.h"
#include "base/util.h"
#include "unit.h"

/* splitmix64: distinct, well mixed test hashes from a counter */
/* A filter in `bytes` of heap memory (cuckoo_init takes the caller's). */
static void
init(struct cuckoo *c, size_t bytes)
{
    void *mem = calloc(1, cuckoo_bytes(bytes));
    ck_assert_ptr_nonnull(mem);
    cuckoo_init(c, mem, bytes);
}

static void
done(struct cuckoo *c)
{
    free(c->buckets);
}

static uint64_t
mix(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

START_TEST(test_empty_holds_nothing)
{
    struct cuckoo c;
    init(&c, 64 * 1024);
    ck_assert_uint_eq(c.nbuckets, 8192);
    ck_assert_uint_eq(c.capacity, 8192 * 4 * 94 / 100);
    for (uint64_t i = 0; i < 100000; i++)
        ck_assert(!cuckoo_contains(&c, mix(i)));
    ck_assert_uint_eq(c.count, 0);
    ck_assert(!c.full);
    ck_assert(cuckoo_fpr(&c) == 0.0);
    done(&c);
}
END_TEST

/* Fills a filter of `bytes` to full; every item is found afterwards. */
static void
fill_and_check(size_t bytes, uint64_t seed)
{
    struct cuckoo c;
    init(&c, bytes);
    uint64_t n = 0;
    while (!c.full) {
        ck_assert_int_eq(cuckoo_insert(&c, mix(seed + n)), TS_OK);
        n++;
        ck_assert_uint_le(n, c.nbuckets * 4);
    }
    ck_assert_uint_eq(c.count, n);
    /* full by the count (94 %), unless a tiny filter ran out of moves
     * first (then the stash holds one) */
    ck_assert(n == c.capacity || (c.nbuckets < 64 && c.stash_fp != 0));
    for (uint64_t i = 0; i < n; i++)
        ck_assert_msg(cuckoo_contains(&c, mix(seed + i)), "item %llu of %llu lost",
                      (unsigned long long)i, (unsigned long long)n);
    /* full: nothing more, nothing changes */
    ck_assert_int_eq(cuckoo_insert(&c, mix(seed + n)), TS_ENOMEM);
    ck_assert_uint_eq(c.count, n);
    done(&c);
}

START_TEST(test_no_false_negatives_to_full_load)
{
    fill_and_check(1 << 20, 1);           /* 131072 buckets */
    fill_and_check(1000003, 77);          /* 125000 buckets: not a power of two */
    fill_and_check(8 * 9973, 5);          /* a prime number of buckets */
    fill_and_check(8 * 3, 9);             /* 3 buckets: 11 items */
}
END_TEST

START_TEST(test_tiny_rounds_to_two_buckets)
{
    struct cuckoo c;
    ck_assert_uint_eq(cuckoo_bytes(1), 16);
    init(&c, 1);
    ck_assert_uint_eq(c.nbuckets, 2);
    ck_assert_uint_eq(c.capacity, 7); /* 8 slots x 0.94 */
    for (uint64_t i = 0; i < 7; i++)
        ck_assert_int_eq(cuckoo_insert(&c, mix(i)), TS_OK);
    ck_assert(c.full);
    for (uint64_t i = 0; i < 7; i++)
        ck_assert(cuckoo_contains(&c, mix(i)));
    done(&c);
}
END_TEST

/* The same item nine times: its two buckets hold eight copies, so the
 * ninth finds no room by moving others (they are all the same): it goes
 * to the stash, is still found, and the filter takes no more. */
START_TEST(test_stash_when_moves_find_no_room)
{
    struct cuckoo c;
    init(&c, 1 << 16);
    uint64_t h = mix(42);
    for (int i = 0; i < 8; i++) {
        ck_assert_int_eq(cuckoo_insert(&c, h), TS_OK);
        ck_assert(!c.full);
    }
    ck_assert_uint_eq(c.stash_fp, 0);
    ck_assert_int_eq(cuckoo_insert(&c, h), TS_OK);
    ck_assert(c.full);
    ck_assert_uint_ne(c.stash_fp, 0);
    ck_assert_uint_eq(c.count, 9);
    ck_assert(cuckoo_contains(&c, h));
    ck_assert_int_eq(cuckoo_insert(&c, mix(43)), TS_ENOMEM);
    cuckoo_clear(&c);
    ck_assert_uint_eq(c.stash_fp, 0);
    ck_assert(!c.full);
    ck_assert(!cuckoo_contains(&c, h));
    ck_assert_int_eq(cuckoo_insert(&c, mix(43)), TS_OK);
    done(&c);
}
END_TEST

START_TEST(test_clear_empties)
{
    struct cuckoo c;
    init(&c, 4096);
    for (uint64_t i = 0; !c.full; i++)
        cuckoo_insert(&c, mix(i));
    cuckoo_clear(&c);
    ck_assert_uint_eq(c.count, 0);
    ck_assert(!c.full);
    for (uint64_t i = 0; i < 10000; i++)
        ck_assert(!cuckoo_contains(&c, mix(i)));
    done(&c);
}
END_TEST

/* The stated rate: at full load, items never inserted are found with
 * probability at most 8 x 0.94 / 65535 = 1.147e-4.  2,000,000 probes
 * expect ~230 false positives; the check allows the bound plus 4.5
 * standard deviations (deterministic hashes: the count is always the
 * same) and wants at least half the bound (the filter is really full). */
START_TEST(test_false_positive_rate_at_full_load)
{
    struct cuckoo c;
    init(&c, 4 << 20);
    uint64_t n = 0;
    while (!c.full)
        cuckoo_insert(&c, mix(n++));
    const uint64_t probes = 2000000;
    uint64_t fp = 0;
    for (uint64_t i = 0; i < probes; i++)
        fp += cuckoo_contains(&c, mix((1ull << 40) + i));
    double bound = 8.0 * 0.94 / 65535.0;
    double rate = (double)fp / (double)probes;
    double expect = bound * (double)probes;
    fprintf(stderr, "# cuckoo: %llu items, %llu false positives in %llu probes: %.3g "
            "(bound %.3g, cuckoo_fpr %.3g)\n", (unsigned long long)n, (unsigned long long)fp,
            (unsigned long long)probes, rate, bound, cuckoo_fpr(&c));
    ck_assert_msg((double)fp <= expect + 4.5 * __builtin_sqrt(expect),
                  "rate %.3g over the bound %.3g", rate, bound);
    ck_assert_msg(rate >= bound / 2, "rate %.3g: not full?", rate);
    ck_assert(cuckoo_fpr(&c) <= bound * 1.001 && cuckoo_fpr(&c) >= bound * 0.99);
    done(&c);
}
END_TEST

START_TEST(test_fpr_follows_the_load)
{
    struct cuckoo c;
    init(&c, 80000); /* 10000 buckets, 40000 slots */
    for (uint64_t i = 0; i < 20000; i++)
        cuckoo_insert(&c, mix(i));
    double half = 1.0 - __builtin_pow(1.0 - 1.0 / 65535.0, 8.0 * 0.5);
    ck_assert(cuckoo_fpr(&c) > half * 0.999 && cuckoo_fpr(&c) < half * 1.001);
    done(&c);
}
END_TEST

static Suite *
cuckoo_suite(void)
{
    Suite *s = suite_create("cuckoo");
    TCase *tc = tcase_create("cuckoo");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_empty_holds_nothing);
    tcase_add_test(tc, test_no_false_negatives_to_full_load);
    tcase_add_test(tc, test_tiny_rounds_to_two_buckets);
    tcase_add_test(tc, test_stash_when_moves_find_no_room);
    tcase_add_test(tc, test_clear_empties);
    tcase_add_test(tc, test_false_positive_rate_at_full_load);
    tcase_add_test(tc, test_fpr_follows_the_load);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(cuckoo_suite)
