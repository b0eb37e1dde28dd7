/*
 * check_hll.c -- unit tests of HyperLogLog (src/base/hll.c).
 *
 * Covers: empty is 0; small counts within 2 % (or 1); counts from 3,000
 * (where the original estimator was biased) to 2,000,000 within 3
 * standard errors (3 x 3.25 %), and the
 * error over 20 independent sketches of 100,000 near the stated 3.25 %;
 * duplicates change nothing (hll_add false, same estimate); the running
 * sum equals a fresh pass over the registers after a million adds; the
 * rank of a hash whose low bits are all zero stays within its register's
 * range; clear starts again; registers merged from a snapshot give the
 * sketch's estimate, of two sketches the union's, and values out of range
 * are clamped.
 */
#include "autoconf.h"

#include <check.h>
#include <math.h>
#include <stdint.h>
#include <string.h>

#include "base/hll.h"
#include "unit.h"

static uint64_t
mix(uint64_t x)
{
    x += 0x9E3779B97F4A7C15ull;
    x = (x ^ (x >> 30)) * 0xBF58476D1CE4E5B9ull;
    x = (x ^ (x >> 27)) * 0x94D049BB133111EBull;
    return x ^ (x >> 31);
}

static double
rel_err(uint64_t est, uint64_t n)
{
    return fabs((double)est - (double)n) / (double)n;
}

START_TEST(test_empty_is_zero)
{
    struct hll h;
    memset(&h, 0x5A, sizeof(h));
    hll_clear(&h);
    ck_assert_uint_eq(hll_estimate(&h), 0);
    ck_assert_uint_eq(h.hist[0], HLL_M);
    ck_assert(fabs(hll_error() - 0.0325) < 0.0001);
}
END_TEST

START_TEST(test_small_counts)
{
    struct hll h;
    hll_clear(&h);
    uint64_t n = 0;
    static const uint64_t marks[] = { 1, 2, 10, 100, 500, 1000, 2000 };
    for (size_t k = 0; k < sizeof(marks) / sizeof(marks[0]); k++) {
        while (n < marks[k])
            hll_add(&h, mix(1000 + n++));
        uint64_t est = hll_estimate(&h);
        ck_assert_msg(rel_err(est, n) <= 0.02 || (est + 1 >= n && est <= n + 1),
                      "%llu distinct estimated as %llu", (unsigned long long)n,
                      (unsigned long long)est);
    }
}
END_TEST

START_TEST(test_large_counts)
{
    struct hll h;
    hll_clear(&h);
    uint64_t n = 0;
    static const uint64_t marks[] = { 3000, 5000, 20000, 100000, 500000, 2000000 };
    for (size_t k = 0; k < sizeof(marks) / sizeof(marks[0]); k++) {
        while (n < marks[k])
            hll_add(&h, mix(7ull << 40 | n++));
        uint64_t est = hll_estimate(&h);
        fprintf(stderr, "# hll: %llu distinct -> %llu (%.2f %%)\n", (unsigned long long)n,
                (unsigned long long)est, 100.0 * rel_err(est, n));
        ck_assert_msg(rel_err(est, n) <= 3 * hll_error(), "%llu estimated as %llu",
                      (unsigned long long)n, (unsigned long long)est);
    }
}
END_TEST

/* The spread over independent sketches is the stated error (within what
 * 20 samples can tell: 0.5x to 1.6x). */
START_TEST(test_error_is_as_stated)
{
    double sq = 0;
    const uint64_t n = 100000;
    for (uint64_t s = 0; s < 20; s++) {
        struct hll h;
        hll_clear(&h);
        for (uint64_t i = 0; i < n; i++)
            hll_add(&h, mix(s << 32 | i));
        double e = ((double)hll_estimate(&h) - (double)n) / (double)n;
        sq += e * e;
    }
    double rms = sqrt(sq / 20);
    fprintf(stderr, "# hll: rms error over 20 sketches of %llu: %.2f %% (stated %.2f %%)\n",
            (unsigned long long)n, 100 * rms, 100 * hll_error());
    ck_assert(rms > 0.5 * hll_error() && rms < 1.6 * hll_error());
}
END_TEST

START_TEST(test_duplicates_change_nothing)
{
    struct hll h;
    hll_clear(&h);
    for (uint64_t i = 0; i < 3000; i++)
        hll_add(&h, mix(i));
    uint64_t est = hll_estimate(&h);
    for (int round = 0; round < 5; round++)
        for (uint64_t i = 0; i < 3000; i++)
            ck_assert(!hll_add(&h, mix(i)));
    ck_assert_uint_eq(hll_estimate(&h), est);
}
END_TEST

START_TEST(test_histogram_is_exact)
{
    struct hll h;
    hll_clear(&h);
    for (uint64_t i = 0; i < 1000000; i++)
        hll_add(&h, mix(i * 31));
    uint32_t hist[HLL_Q + 2] = { 0 };
    for (uint32_t j = 0; j < HLL_M; j++) {
        ck_assert_uint_le(h.reg[j], HLL_Q + 1);
        hist[h.reg[j]]++;
    }
    for (int k = 0; k < HLL_Q + 2; k++)
        ck_assert_uint_eq(hist[k], h.hist[k]);
}
END_TEST

START_TEST(test_rank_bounds)
{
    struct hll h;
    hll_clear(&h);
    /* register 5, every other bit 0: the longest rank there is */
    ck_assert(hll_add(&h, (uint64_t)5 << (64 - HLL_P)));
    ck_assert_uint_eq(h.reg[5], 64 - HLL_P + 1);
    /* register 0 with its first bit set: rank 1 */
    ck_assert(hll_add(&h, (uint64_t)1 << (63 - HLL_P)));
    ck_assert_uint_eq(h.reg[0], 1);
    ck_assert(!hll_add(&h, (uint64_t)1 << (63 - HLL_P)));
    hll_clear(&h);
    ck_assert_uint_eq(h.reg[5], 0);
}
END_TEST

/* Registers from a snapshot: the same estimate as the sketch they came
 * from; merged with another sketch's, the union's; values past the
 * largest are taken as the largest. */
START_TEST(test_merge_registers)
{
    static struct hll a, b, u, r;
    hll_clear(&a);
    hll_clear(&b);
    hll_clear(&u);
    for (uint64_t i = 0; i < 50000; i++) {
        hll_add(&a, mix(i));
        hll_add(&u, mix(i));
    }
    for (uint64_t i = 30000; i < 90000; i++) {
        hll_add(&b, mix(i));
        hll_add(&u, mix(i));
    }
    hll_clear(&r);
    hll_merge_registers(&r, a.reg);
    ck_assert_uint_eq(hll_estimate(&r), hll_estimate(&a));
    hll_merge_registers(&r, b.reg);
    ck_assert_uint_eq(hll_estimate(&r), hll_estimate(&u));
    ck_assert(memcmp(r.hist, u.hist, sizeof(r.hist)) == 0);
    uint8_t bad[HLL_M];
    memset(bad, 200, sizeof(bad));
    hll_clear(&r);
    hll_merge_registers(&r, bad);
    ck_assert_uint_eq(r.reg[0], HLL_Q + 1);
    ck_assert_uint_eq(r.hist[HLL_Q + 1], HLL_M);
}
END_TEST

static Suite *
hll_suite(void)
{
    Suite *s = suite_create("hll");
    TCase *tc = tcase_create("hll");
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_empty_is_zero);
    tcase_add_test(tc, test_small_counts);
    tcase_add_test(tc, test_large_counts);
    tcase_add_test(tc, test_error_is_as_stated);
    tcase_add_test(tc, test_duplicates_change_nothing);
    tcase_add_test(tc, test_histogram_is_exact);
    tcase_add_test(tc, test_rank_bounds);
    tcase_add_test(tc, test_merge_registers);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(hll_suite)
