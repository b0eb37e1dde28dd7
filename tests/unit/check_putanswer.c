/*
 * check_putanswer.c -- unit tests of src/output/putanswer.c (a TSD's
 * answer to /api/put?details, and the table of its per-point error texts)
 * and src/output/throttle.c (the rate while a TSD throttles).
 *
 * Covers: every entry of the table, each text as OpenTSDB 2.4/2.5 writes
 * it (PutDataPointRpc.processDataPoint, IncomingDataPoint.validate,
 * TSDB.addPoint's checks), final or retried; answers as the TSD writes
 * them -- a summary with storage failures (200 and failed > 0), 400 with
 * a validation failure, the sync_timeout shape with timeouts and "Write
 * timedout" entries, a null datapoint, a whole-request error object
 * ({"error":{...}}), keys in any order, a body that is not JSON -- fed
 * whole and split at every byte; many entries and long texts past the
 * parser's arena (malloc'd, counted, freed).  throttle: unlimited until a
 * throttle; half the rate sent then; one step per 500 ms; doubled each
 * calm second; lifted once well over the rate; never under a sixteenth of
 * the episode's first rate (nor the floor); max-rate still caps it.
 */
#include "autoconf.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/pool.h"
#include "base/util.h"
#include "output/putanswer.h"
#include "base/putjson.h"
#include "output/throttle.h"
#include "unit.h"

/* ---- the table ------------------------------------------------------------------ */

START_TEST(test_table)
{
    static const struct {
        const char *text;
        enum pa_reason why;
    } rows[] = {
        /* processDataPoint's catch blocks */
        { "Unknown metric", PA_UNKNOWN_METRIC },
        { "Unable to parse value to a number", PA_INVALID_VALUE },
        { "Please throttle", PA_THROTTLE },
        { "Timeout exception", PA_TIMEOUT },
        { "Unexpected exception", PA_UNEXPECTED },
        /* the write's errback: "Storage exception: " + the exception's message */
        { "Storage exception: org.hbase.async.PleaseThrottleException: 10000 RPCs waiting on "
          "\"tsdb,,1\" to come back online", PA_THROTTLE },
        { "Storage exception: Please throttle writes: region too busy", PA_THROTTLE },
        { "Storage exception: org.hbase.async.RegionOfflineException: tsdb", PA_STORAGE },
        { "Storage exception: RPC timed out", PA_STORAGE },
        /* the PutTimeout task (sync_timeout) */
        { "Write timedout", PA_TIMEOUT },
        /* IncomingDataPoint.validate */
        { "Metric name was empty", PA_INVALID },
        { "Invalid timestamp", PA_INVALID },
        { "Empty value", PA_INVALID },
        { "Missing tags", PA_INVALID },
        { "Unexpected null datapoint encountered in set.", PA_INVALID },
        /* IllegalArgumentException messages (TSDB.addPoint, Tags, checkMetricAndTags) */
        { "Too many tags: 9 maximum allowed: 8, tags: {a=b}", PA_ILLEGAL_ARGUMENT },
        { "Need at least one tag (metric=m, tags={})", PA_ILLEGAL_ARGUMENT },
        { "Invalid metric name (\"m m\"): illegal character:  ", PA_ILLEGAL_ARGUMENT },
        { "Invalid tag value with key [a] (\"b c\"): illegal character:  ", PA_ILLEGAL_ARGUMENT },
        { "value is NaN or Infinite: NaN for metric=m timestamp=1", PA_ILLEGAL_ARGUMENT },
        { "bad timestamp=99999999999999 when trying to add value=[1]/0 to metric=m, tags={a=b}",
          PA_ILLEGAL_ARGUMENT },
    };
    for (size_t i = 0; i < TS_ARRAY_LEN(rows); i++) {
        enum pa_reason got = putanswer_classify(rows[i].text, strlen(rows[i].text));
        ck_assert_msg(got == rows[i].why, "%s: %s, want %s", rows[i].text,
                      putanswer_reason_name(got), putanswer_reason_name(rows[i].why));
    }
    ck_assert(putanswer_final(PA_UNKNOWN_METRIC));
    ck_assert(putanswer_final(PA_ILLEGAL_ARGUMENT));
    ck_assert(putanswer_final(PA_INVALID_VALUE));
    ck_assert(putanswer_final(PA_INVALID));
    ck_assert(putanswer_final(PA_UNSUPPORTED));
    ck_assert(!putanswer_final(PA_THROTTLE));
    ck_assert(!putanswer_final(PA_STORAGE));
    ck_assert(!putanswer_final(PA_TIMEOUT));
    ck_assert(!putanswer_final(PA_UNEXPECTED));
    ck_assert_str_eq(putanswer_reason_name(PA_UNKNOWN_METRIC), "unknown_metric");
    ck_assert_str_eq(putanswer_reason_name(PA_NREASONS), "?");
}
END_TEST

/* ---- answers ---------------------------------------------------------------------- */

#define ENTRIES 600

static struct {
    int n;
    bool has[ENTRIES];
    uint64_t key[ENTRIES];
    char text[ENTRIES][PA_TEXT_MAX];
} A;

static void
on_entry(void *ctx, bool has_key, uint64_t key, const char *text, size_t len)
{
    (void)ctx;
    ck_assert_int_lt(A.n, ENTRIES);
    A.has[A.n] = has_key;
    A.key[A.n] = key;
    snprintf(A.text[A.n], PA_TEXT_MAX, "%.*s", (int)len, text);
    A.n++;
}

static struct putanswer *
parse(const char *body, size_t split, bool *ok)
{
    static struct putanswer *a;
    if (a == NULL)
        a = calloc(1, sizeof(*a));
    memset(&A, 0, sizeof(A));
    putanswer_begin(a, on_entry, NULL);
    size_t len = strlen(body);
    size_t first = split < len ? split : len;
    bool good = putanswer_feed(a, body, first);
    good = putanswer_feed(a, body + first, len - first) && good;
    *ok = putanswer_end(a) && good;
    putanswer_reset(a);
    return a;
}

static uint64_t
key_of(const char *line)
{
    char o[PUTJSON_MAX];
    uint64_t k;
    ck_assert_uint_gt(putjson_write(line, strlen(line), o, sizeof(o), &k), 0);
    return k;
}

/* The shapes the TSD writes, each fed split at every byte. */
START_TEST(test_answers_split_anywhere)
{
    static const char *const sync_200 =
        "{\"failed\":1,\"errors\":[{\"datapoint\":{\"metric\":\"sys.cpu\",\"timestamp\":1356998400,"
        "\"value\":\"42\",\"tags\":{\"cpu\":\"0\",\"host\":\"web01\"}},\"error\":\"Storage exception: "
        "Please throttle writes\"}],\"success\":1}";
    uint64_t k = key_of("put sys.cpu 1356998400 42 host=web01 cpu=0\n");
    for (size_t split = 0; split <= strlen(sync_200); split++) {
        bool ok;
        struct putanswer *a = parse(sync_200, split, &ok);
        ck_assert_msg(ok, "split at %zu", split);
        ck_assert(a->has_failed && a->failed == 1 && a->has_success && a->success == 1);
        ck_assert(!a->whole_error && !a->has_timeouts);
        ck_assert_int_eq(A.n, 1);
        ck_assert(A.has[0] && A.key[0] == k);
        ck_assert_str_eq(A.text[0], "Storage exception: Please throttle writes");
    }
}
END_TEST

START_TEST(test_timeout_shape)
{
    /* PutTimeout: 400, success/failed/timeouts, "Write timedout" entries */
    bool ok;
    struct putanswer *a = parse(
        "{\"success\":0,\"failed\":0,\"timeouts\":2,\"errors\":["
        "{\"error\":\"Write timedout\",\"datapoint\":{\"tags\":{\"a\":\"b\"},\"metric\":\"m\","
        "\"timestamp\":1,\"value\":\"1\"}},"
        "{\"datapoint\":{\"metric\":\"m\",\"timestamp\":2,\"value\":\"1\",\"tags\":{\"a\":\"b\"}},"
        "\"error\":\"Write timedout\"}]}", 7, &ok);
    ck_assert(ok);
    ck_assert(a->has_timeouts && a->timeouts == 2);
    ck_assert_int_eq(A.n, 2);
    ck_assert(A.key[0] == key_of("put m 1 1 a=b"));
    ck_assert(A.key[1] == key_of("put m 2 1 a=b"));
}
END_TEST

START_TEST(test_null_datapoint_and_whole_error)
{
    bool ok;
    struct putanswer *a = parse("{\"success\":0,\"failed\":1,\"errors\":[{\"datapoint\":null,"
                                "\"error\":\"Unexpected null datapoint encountered in set.\"}]}",
                                3, &ok);
    ck_assert(ok);
    ck_assert_int_eq(A.n, 1);
    ck_assert(!A.has[0]);
    a = parse("{\"error\":{\"code\":400,\"message\":\"Chunked request not supported.\","
              "\"details\":\"x\",\"trace\":\"at ...\"}}", 20, &ok);
    ck_assert(ok);
    ck_assert(a->whole_error && !a->has_failed);
    ck_assert_str_eq(a->message, "Chunked request not supported.: x");
    ck_assert_int_eq(A.n, 0);
}
END_TEST

START_TEST(test_not_json)
{
    bool ok;
    struct putanswer *a = parse("<html>Bad gateway</html>", 5, &ok);
    ck_assert(!ok && a->syntax_error);
    a = parse("{\"success\":1,", 100, &ok); /* cut short */
    ck_assert(!ok);
    a = parse("", 0, &ok);
    ck_assert(!ok);
}
END_TEST

START_TEST(test_many_entries_past_the_arena)
{
    size_t cap = 1 << 20, n = 0;
    char *body = malloc(cap);
    n += (size_t)sprintf(body, "{\"success\":0,\"failed\":500,\"errors\":[");
    for (int i = 0; i < 500; i++)
        n += (size_t)sprintf(body + n, "%s{\"datapoint\":{\"metric\":\"m%0300d\",\"timestamp\":%d,"
                             "\"value\":\"1\",\"tags\":{\"a\":\"b\"}},\"error\":\"Unknown metric\"}",
                             i ? "," : "", i, i + 1);
    n += (size_t)sprintf(body + n, "]}");
    bool ok;
    struct putanswer *a = parse(body, n / 3, &ok);
    ck_assert(ok);
    ck_assert_int_eq(A.n, 500);
    char line[512];
    snprintf(line, sizeof(line), "put m%0300d %d 1 a=b", 499, 500);
    ck_assert(A.key[499] == key_of(line));
    ck_assert_int_eq(a->errors, 500);
    free(body);
}
END_TEST

/* A token longer than any TSD writes (a 3 MiB error text, fed in 64 KiB
 * reads): the reading stops once YAJL holds PA_HEAP_MAX past its arena,
 * and what it held stays near that bound (PA_HEAP_MAX + one read, doubled
 * by its buffer's growth). */
START_TEST(test_token_past_the_bound)
{
    size_t big = 3u << 20, n = 0;
    char *body = malloc(big + 64);
    n += (size_t)sprintf(body, "{\"failed\":1,\"errors\":[{\"error\":\"");
    memset(body + n, 'x', big);
    n += big;
    n += (size_t)sprintf(body + n, "\"}]}");
    static struct putanswer a;
    putanswer_begin(&a, NULL, NULL);
    size_t most = 0;
    bool fed = true;
    for (size_t o = 0; o < n && fed; o += 65536) {
        fed = putanswer_feed(&a, body + o, TS_MIN((size_t)65536, n - o));
        most = TS_MAX(most, a.heap_bytes);
    }
    ck_assert(!fed && a.too_large && a.syntax_error);
    ck_assert_uint_le(most, 2 * (PA_HEAP_MAX + 65536) + 4096);
    ck_assert(!putanswer_end(&a));
    putanswer_reset(&a);
    ck_assert_uint_eq(a.heap_bytes, 0);
    /* a long answer of ordinary tokens is read whole (the entries test) */
    free(body);
}
END_TEST

/* An answer of one 200 KB error text, fed in 16 KiB reads: what YAJL
 * holds past its arena is charged to the budget while held (and given
 * back); a budget without room for it stops the reading as too large. */
static bool
feed_long_token(struct putanswer *a, struct pool *p, size_t *most_charged)
{
    size_t big = 200 * 1024, n = 0;
    char *body = malloc(big + 64);
    n += (size_t)sprintf(body, "{\"failed\":1,\"errors\":[{\"error\":\"");
    memset(body + n, 'y', big);
    n += big;
    n += (size_t)sprintf(body + n, "\"}]}");
    putanswer_begin(a, NULL, NULL);
    bool fed = true;
    *most_charged = 0;
    for (size_t o = 0; o < n && fed; o += 16384) {
        fed = putanswer_feed(a, body + o, TS_MIN((size_t)16384, n - o));
        ck_assert_uint_le(p->used[POOL_CONTROL], a->heap_bytes);
        *most_charged = TS_MAX(*most_charged, p->used[POOL_CONTROL]);
    }
    free(body);
    return fed && putanswer_end(a);
}

START_TEST(test_token_charged_to_the_budget)
{
    static struct pool p;
    static struct putanswer a;
    size_t most;
    ck_assert_int_eq(pool_init(&p, 16384, 4 << 20, 1 << 20, 0), TS_OK);
    a.budget = &p;
    ck_assert(feed_long_token(&a, &p, &most));
    ck_assert(!a.too_large);
    ck_assert_uint_ge(most, 200 * 1024);     /* the token was held, and charged */
    ck_assert_uint_eq(p.stats.charge_failures, 0);
    putanswer_reset(&a);
    ck_assert_uint_eq(p.used[POOL_CONTROL], 0);
    pool_destroy(&p);

    /* 64 KiB of budget: refused, not read on, nothing left charged */
    ck_assert_int_eq(pool_init(&p, 16384, 64 * 1024, 16 * 1024, 0), TS_OK);
    a.budget = &p;
    ck_assert(!feed_long_token(&a, &p, &most));
    ck_assert(a.too_large && a.syntax_error);
    ck_assert_uint_le(most, 64 * 1024);
    ck_assert_uint_gt(p.stats.charge_failures, 0);
    putanswer_reset(&a);
    ck_assert_uint_eq(p.used[POOL_CONTROL], 0);
    ck_assert_uint_eq(a.heap_bytes, 0);
    pool_destroy(&p);
}
END_TEST

/* Found by fuzz_putjson: names longer than 1,024 bytes of UTF-8 (a line of
 * Latin-1 letters) were cut, and the key did not match. */
START_TEST(test_long_names_keep_their_key)
{
    static char line[1200], body[4096];
    size_t n = (size_t)sprintf(line, "put m 1 1 ");
    memset(line + n, '\xFF', 550);
    n += 550;
    n += (size_t)sprintf(line + n, "=v");
    char dp[PUTJSON_MAX];
    uint64_t key;
    size_t dl = putjson_write(line, n, dp, sizeof(dp), &key);
    ck_assert_uint_gt(dl, 1100);
    snprintf(body, sizeof(body), "{\"failed\":1,\"errors\":[{\"datapoint\":%.*s,"
             "\"error\":\"Unknown metric\"}],\"success\":0}", (int)dl, dp);
    bool ok;
    parse(body, 100, &ok);
    ck_assert(ok);
    ck_assert_int_eq(A.n, 1);
    ck_assert(A.key[0] == key);
}
END_TEST

/* ---- throttle --------------------------------------------------------------------- */

START_TEST(test_throttle_steps)
{
    struct throttle t;
    throttle_init(&t);
    uint64_t now = 1000;
    ck_assert_uint_eq(throttle_rate(&t, 0), 0);
    ck_assert_uint_eq(throttle_rate(&t, 500), 500);
    for (int s = 0; s < 3; s++, now += 1000) /* 10,000 points/s */
        throttle_sent(&t, 10000, now);
    ck_assert(throttle_hit(&t, now));
    ck_assert_uint_eq(throttle_rate(&t, 0), 5000);
    ck_assert_uint_eq(throttle_rate(&t, 3000), 3000); /* max-rate still caps */
    ck_assert(!throttle_hit(&t, now + 400));          /* one step per 500 ms */
    ck_assert(throttle_hit(&t, now + 550));
    ck_assert_uint_eq(throttle_rate(&t, 0), 2500);
    /* calm seconds: doubled each */
    now += 550;
    for (int s = 1; s <= 3; s++) {
        throttle_sent(&t, 2500, now + 1000 * (uint64_t)s);
        throttle_tick(&t, now + 1000 * (uint64_t)s);
    }
    ck_assert_uint_eq(throttle_rate(&t, 0), 2500 * 8);
    /* never under the episode's floor: its first rate / 16 */
    for (int i = 0; i < 50; i++)
        throttle_hit(&t, now + 10000 + 600 * (uint64_t)i);
    ck_assert_uint_eq(throttle_rate(&t, 0), 10000 / THROTTLE_DEPTH);
    ck_assert_uint_gt(t.downs, 5);
    /* a slow backend's floor: THROTTLE_FLOOR */
    struct throttle u;
    throttle_init(&u);
    throttle_sent(&u, 20, 1000);
    for (int i = 0; i < 20; i++)
        throttle_hit(&u, 2000 + 600 * (uint64_t)i);
    ck_assert_uint_eq(throttle_rate(&u, 0), THROTTLE_FLOOR);
}
END_TEST

START_TEST(test_throttle_lifted_when_calm)
{
    struct throttle t;
    throttle_init(&t);
    throttle_sent(&t, 100, 1000);
    throttle_sent(&t, 100, 2100);
    ck_assert(throttle_hit(&t, 2100));
    ck_assert_uint_gt(throttle_rate(&t, 0), 0);
    uint64_t now = 2100;
    for (int s = 0; s < 40 && throttle_rate(&t, 0) != 0; s++) {
        now += 1000;
        throttle_sent(&t, 10, now); /* demand is low: the limit overtakes it */
        throttle_tick(&t, now);
    }
    ck_assert_uint_eq(throttle_rate(&t, 0), 0);
    ck_assert_uint_ge(now - 2100, 10000); /* not before ten calm seconds */
}
END_TEST

static Suite *
putanswer_suite(void)
{
    Suite *s = suite_create("putanswer");
    TCase *tc = tcase_create("putanswer");
    tcase_add_test(tc, test_table);
    tcase_add_test(tc, test_token_charged_to_the_budget);
    tcase_add_test(tc, test_answers_split_anywhere);
    tcase_add_test(tc, test_timeout_shape);
    tcase_add_test(tc, test_null_datapoint_and_whole_error);
    tcase_add_test(tc, test_not_json);
    tcase_add_test(tc, test_many_entries_past_the_arena);
    tcase_add_test(tc, test_token_past_the_bound);
    tcase_add_test(tc, test_long_names_keep_their_key);
    tcase_add_test(tc, test_throttle_steps);
    tcase_add_test(tc, test_throttle_lifted_when_calm);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(putanswer_suite)
