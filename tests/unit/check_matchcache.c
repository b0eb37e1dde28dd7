/*
 * check_matchcache.c -- unit tests of the rules' metric cache
 * (src/core/matchcache.c).
 *
 * Covers: a name put is found again with its mask, and only that name
 * (same hash, other bytes: a miss); two names of one pair both stay; a
 * third name of the pair evicts the one not taken last; names over
 * MATCHCACHE_NAME_MAX and a cache of no room are never cached (and
 * counted); masks of more than 64 rules; the size stays within its bytes.
 */
#include "autoconf.h"

#include <check.h>
#include <string.h>

#include "base/util.h"
#include "core/matchcache.h"
#include "unit.h"

static struct matchcache mc;

static uint64_t *
put(const char *name, uint64_t h, uint64_t bits)
{
    uint64_t *m = matchcache_put(&mc, name, strlen(name), h);
    ck_assert_ptr_nonnull(m);
    m[0] = bits;
    return m;
}

static const uint64_t *
get(const char *name, uint64_t h)
{
    return matchcache_get(&mc, name, strlen(name), h);
}

START_TEST(test_put_then_get)
{
    ck_assert_int_eq(matchcache_init(&mc, 64 * 1024, 20), TS_OK);
    ck_assert_uint_ge(mc.nslots, 2);
    ck_assert_uint_le(matchcache_bytes(&mc), 64 * 1024);
    ck_assert_ptr_null(get("sys.cpu", 7));
    put("sys.cpu", 7, 0x5);
    const uint64_t *m = get("sys.cpu", 7);
    ck_assert_ptr_nonnull(m);
    ck_assert_uint_eq(m[0], 0x5);
    /* same hash, other bytes or length: never a guess */
    ck_assert_ptr_null(get("sys.cpX", 7));
    ck_assert_ptr_null(get("sys.cp", 7));
    ck_assert_uint_eq(mc.hits, 1);
    ck_assert_uint_eq(mc.misses, 3);
    matchcache_free(&mc);
}
END_TEST

START_TEST(test_pair_keeps_two_evicts_older)
{
    ck_assert_int_eq(matchcache_init(&mc, 64 * 1024, 20), TS_OK);
    uint64_t pairs = mc.nslots / 2;
    /* three names whose hashes pick the same pair */
    put("a", 3, 1);
    put("b", 3 + pairs, 2);
    ck_assert_ptr_nonnull(get("a", 3));
    ck_assert_ptr_nonnull(get("b", 3 + pairs));
    put("c", 3 + 2 * pairs, 3); /* evicts a (b was taken last) */
    ck_assert_ptr_null(get("a", 3));
    ck_assert_ptr_nonnull(get("b", 3 + pairs));
    ck_assert_uint_eq(get("c", 3 + 2 * pairs)[0], 3);
    put("a", 3, 1); /* evicts b (c was taken last) */
    ck_assert_ptr_null(get("b", 3 + pairs));
    ck_assert_ptr_nonnull(get("c", 3 + 2 * pairs));
    matchcache_free(&mc);
}
END_TEST

START_TEST(test_not_cached)
{
    char longname[MATCHCACHE_NAME_MAX + 2];
    memset(longname, 'm', sizeof(longname) - 1);
    longname[sizeof(longname) - 1] = '\0';
    ck_assert_int_eq(matchcache_init(&mc, 64 * 1024, 20), TS_OK);
    ck_assert_ptr_null(matchcache_put(&mc, longname, strlen(longname), 9));
    ck_assert_ptr_null(get(longname, 9));
    ck_assert_uint_eq(mc.uncached, 1);
    longname[MATCHCACHE_NAME_MAX] = '\0'; /* the longest that is cached */
    put(longname, 9, 1);
    ck_assert_ptr_nonnull(get(longname, 9));
    matchcache_free(&mc);
    /* no room for a pair: off */
    ck_assert_int_eq(matchcache_init(&mc, 100, 20), TS_OK);
    ck_assert_uint_eq(mc.nslots, 0);
    ck_assert_ptr_null(matchcache_put(&mc, "a", 1, 1));
    ck_assert_ptr_null(get("a", 1));
    ck_assert_uint_eq(mc.uncached, 1);
    ck_assert_uint_eq(matchcache_bytes(&mc), 0);
    matchcache_free(&mc);
}
END_TEST

START_TEST(test_wide_masks)
{
    ck_assert_int_eq(matchcache_init(&mc, 1024 * 1024, 200), TS_OK);
    ck_assert_int_eq(mc.words, 4);
    uint64_t *m = matchcache_put(&mc, "x", 1, 42);
    ck_assert_ptr_nonnull(m);
    for (int w = 0; w < 4; w++)
        ck_assert_uint_eq(m[w], 0); /* a fresh entry starts empty */
    m[3] = 1ull << 7;
    const uint64_t *g = get("x", 42);
    ck_assert_uint_eq(g[3], 1ull << 7);
    ck_assert_uint_le(matchcache_bytes(&mc), 1024 * 1024);
    matchcache_free(&mc);
}
END_TEST

static Suite *
matchcache_suite(void)
{
    Suite *s = suite_create("matchcache");
    TCase *tc = tcase_create("matchcache");
    tcase_add_test(tc, test_put_then_get);
    tcase_add_test(tc, test_pair_keeps_two_evicts_older);
    tcase_add_test(tc, test_not_cached);
    tcase_add_test(tc, test_wide_masks);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(matchcache_suite)
