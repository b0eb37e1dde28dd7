/*
 * check_heap.c -- unit tests of the C heap's upkeep (src/base/heap.c).
 *
 * Covers: the policy (heap_trim_due) -- no trim before HEAP_QUIET_TICKS
 * readings, none while malloc in use moves by HEAP_QUIET_BYTES or more or
 * the activity counters move, one per quiet spell, another only after the
 * heap was busy again, none with less than HEAP_TRIM_MIN free; a heap
 * never quiet trimmed every HEAP_BUSY_TICKS ticks (with enough free); and the real thing (heap_init,
 * heap_tick) on glibc: after the dynamic mmap threshold would have been
 * raised by a freed large chunk, a large buffer is still mapped (the
 * threshold stays pinned); free pages below a chunk still in use are
 * resident until the quiet heap's trim gives them back, counted in
 * g_stats (trims, bytes, time).  (Only where glibc's malloc is the
 * allocator: not under AddressSanitizer or valgrind.)
 */
#include "autoconf.h"

#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "base/counters.h"
#include "base/heap.h"
#include "base/util.h"
#include "unit.h"

#define KB 1024u

START_TEST(test_policy_quiet_spells)
{
    struct heap_watch w = { 0 };
    /* the first readings: not enough to call the heap quiet */
    for (int i = 0; i < HEAP_QUIET_TICKS - 1; i++)
        ck_assert(!heap_trim_due(&w, 1000 * KB, 512 * KB, 7));
    ck_assert(heap_trim_due(&w, 1000 * KB + 100, 512 * KB, 7)); /* quiet: trim */
    for (int i = 0; i < 10; i++) /* the same spell: once is enough */
        ck_assert(!heap_trim_due(&w, 1000 * KB, 512 * KB, 7));
    /* busy (an outage): never while it moves */
    ck_assert(!heap_trim_due(&w, 1000 * KB + HEAP_QUIET_BYTES, 512 * KB, 7));
    ck_assert(!heap_trim_due(&w, 1400 * KB, 900 * KB, 7));
    ck_assert(!heap_trim_due(&w, 1200 * KB, 900 * KB, 7));
    /* quiet again for HEAP_QUIET_TICKS readings: one more trim */
    for (int i = 0; i < HEAP_QUIET_TICKS - 1; i++)
        ck_assert(!heap_trim_due(&w, 1010 * KB, 700 * KB, 7));
    ck_assert(heap_trim_due(&w, 1010 * KB, 700 * KB, 7));
    ck_assert(!heap_trim_due(&w, 1010 * KB, 700 * KB, 7));
}
END_TEST

/* A burst between two ticks (a drain, clients connecting) leaves malloc
 * in use where it was, but moves the activity counters: busy. */
START_TEST(test_policy_activity)
{
    struct heap_watch w = { 0 };
    for (int i = 0; i < HEAP_QUIET_TICKS - 1; i++)
        ck_assert(!heap_trim_due(&w, 1000 * KB, 512 * KB, 7));
    ck_assert(heap_trim_due(&w, 1000 * KB, 512 * KB, 7));
    ck_assert(!heap_trim_due(&w, 1000 * KB, 512 * KB, 7));
    ck_assert(!heap_trim_due(&w, 1000 * KB, 512 * KB, 9000)); /* lines spooled */
    for (int i = 0; i < HEAP_QUIET_TICKS - 2; i++)
        ck_assert(!heap_trim_due(&w, 1000 * KB, 512 * KB, 9000));
    ck_assert(heap_trim_due(&w, 1000 * KB, 512 * KB, 9000)); /* quiet again */
    /* moving every tick: never */
    for (uint64_t i = 0; i < 10; i++)
        ck_assert(!heap_trim_due(&w, 1000 * KB, 512 * KB, 9001 + i));
}
END_TEST

/* Never quiet: trimmed every HEAP_BUSY_TICKS ticks, when it keeps
 * HEAP_BUSY_TRIM_MIN free. */
START_TEST(test_policy_busy)
{
    struct heap_watch w = { 0 };
    int trims = 0;
    for (uint64_t i = 0; i < 3 * HEAP_BUSY_TICKS; i++)
        trims += heap_trim_due(&w, 1000 * KB, HEAP_BUSY_TRIM_MIN, i);
    ck_assert_int_eq(trims, 3);
    for (uint64_t i = 0; i < 3 * HEAP_BUSY_TICKS; i++)
        trims += heap_trim_due(&w, 1000 * KB, HEAP_BUSY_TRIM_MIN - 1, 1000 + i);
    ck_assert_int_eq(trims, 3); /* not enough to give back */
    /* enough again: trimmed at once (long overdue), and the count restarts */
    ck_assert(heap_trim_due(&w, 1000 * KB, HEAP_BUSY_TRIM_MIN, 5));
    for (uint64_t i = 0; i < HEAP_BUSY_TICKS - 1; i++)
        ck_assert(!heap_trim_due(&w, 1000 * KB, HEAP_BUSY_TRIM_MIN, 6 + i));
    ck_assert(heap_trim_due(&w, 1000 * KB, HEAP_BUSY_TRIM_MIN, 0));
}
END_TEST

START_TEST(test_policy_nothing_to_give)
{
    struct heap_watch w = { 0 };
    for (int i = 0; i < 5; i++)
        ck_assert(!heap_trim_due(&w, 1000 * KB, HEAP_TRIM_MIN - 1, 7));
    ck_assert(heap_trim_due(&w, 1000 * KB, HEAP_TRIM_MIN, 7)); /* now it has */
}
END_TEST

#if defined(HAVE_MALLOC_TRIM) && defined(HAVE_MALLINFO2) && defined(HAVE_MALLOPT)
#define NSMALL 256
#define SMALL (8u * KB)

/* Once a large chunk was freed, glibc would serve the next ones of that
 * size from the heap; pinned, they are mapped and given back. */
START_TEST(test_threshold_pinned)
{
    if (!unit_glibc_malloc())
        return;
    heap_init();
    char *volatile a = malloc(600 * KB); /* volatile: not optimised away */
    memset(a, 1, 600 * KB);
    free(a);
    struct malloc_reading m0, m1;
    stats_malloc(&m0);
    char *volatile b = malloc(500 * KB);
    memset(b, 1, 500 * KB);
    stats_malloc(&m1);
    ck_assert_uint_ge(m1.mmapped, m0.mmapped + 500 * KB);
    free(b);
}
END_TEST

/* 2 MiB of small chunks freed below one that stays: resident until the
 * quiet heap is trimmed, once. */
START_TEST(test_trim_gives_back)
{
    if (!unit_glibc_malloc())
        return;
    heap_init();
    static char *volatile p[NSMALL];
    for (int i = 0; i < NSMALL; i++) {
        p[i] = malloc(SMALL);
        memset(p[i], 1, SMALL);
    }
    char *volatile pin = malloc(SMALL); /* above them: the top cannot shrink */
    memset(pin, 1, SMALL);
    for (int i = 0; i < NSMALL; i++)
        free(p[i]);
    uint64_t rss0 = stats_rss_bytes();
    uint64_t trims0 = g_stats.malloc_trims;
    bool trimmed = false;
    for (int i = 0; i < HEAP_QUIET_TICKS + 3; i++)
        trimmed |= heap_tick();
    uint64_t rss1 = stats_rss_bytes();
    ck_assert(trimmed);
    ck_assert_uint_eq(g_stats.malloc_trims, trims0 + 1);
    ck_assert_msg(rss1 + 1024 * KB <= rss0, "RSS %llu -> %llu: less than 1 MiB back",
                  (unsigned long long)rss0, (unsigned long long)rss1);
    ck_assert_uint_ge(g_stats.malloc_trimmed_bytes, 1024 * KB);
    ck_assert_uint_gt(g_stats.malloc_trim_ns, 0);
    free(pin);
}
END_TEST
#endif

static Suite *
heap_suite(void)
{
    Suite *s = suite_create("heap");
    TCase *tc = tcase_create("heap");
    tcase_add_test(tc, test_policy_quiet_spells);
    tcase_add_test(tc, test_policy_activity);
    tcase_add_test(tc, test_policy_busy);
    tcase_add_test(tc, test_policy_nothing_to_give);
#if defined(HAVE_MALLOC_TRIM) && defined(HAVE_MALLINFO2) && defined(HAVE_MALLOPT)
    tcase_add_test(tc, test_threshold_pinned);
    tcase_add_test(tc, test_trim_gives_back);
#endif
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(heap_suite)
