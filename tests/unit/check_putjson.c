/*
 * check_putjson.c -- unit tests of src/output/putjson.c: a canonical line
 * as the TSD's HTTP API reads it, and the key that finds it in an answer.
 *
 * Covers: the JSON of put, rollup and histogram lines (names, the
 * timestamp as the TSD's telnet parser reads it, values as numbers or
 * strings, tags, a rollup's word split as RollupDataPointRpc splits it, a
 * histogram's codec id and value, or its simple text as buckets,
 * underflow and overflow -- read back by tsrelay's own /api/histogram
 * reader into the same histogram), escapes and
 * ISO-8859-1 bytes as UTF-8, lines it does not take, a buffer too small;
 * and the promise that a TSD never refuses a request of tsrelay's as a
 * whole: 20,000 random lines that point.c accepts (any allowed byte in
 * names, specials such as quotes, backslashes, tabs and control bytes,
 * Latin-1 letters, every value form Java reads, dotted and signed
 * timestamps) each give JSON that jansson reads strictly, that tsrelay's
 * own /api/put reader (input/json.c, the TSD's rules) turns back into the
 * same point, and whose key an answer's echo of it (tags in another
 * order, the value as a string) gives back (output/putanswer.c).
 */
#include "autoconf.h"

#include <check.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/histogram.h"
#include "base/point.h"
#include "base/util.h"
#include "input/ingest.h"
#include "input/json.h"
#include "output/putanswer.h"
#include "base/putjson.h"
#include "unit.h"

static struct point_rules rules;

/* ---- a sink that keeps the last line ---------------------------------------- */

static struct {
    struct sink sink;
    struct ingest_stats st;
    char line[2048];
    size_t len;
    int nemit, nerr;
    char err[1100];
} K;

static int
keep_emit(struct sink *s, const char *line, size_t len, uint64_t hash, struct point_error *why)
{
    (void)s;
    (void)hash;
    (void)why;
    ck_assert_uint_lt(len, sizeof(K.line));
    memcpy(K.line, line, len);
    K.len = len;
    K.nemit++;
    return TS_OK;
}

static void
keep_error(struct sink *s, const struct point_error *e, const char *input, size_t ilen,
           const void *dp)
{
    (void)s;
    (void)input;
    (void)ilen;
    (void)dp;
    snprintf(K.err, sizeof(K.err), "%.*s", (int)e->len, e->msg);
    K.nerr++;
}

static void
setup(void)
{
    json_init();
    point_rules_init(&rules, 8, "\"\\\t\x01{}[]:,#");
    memset(&K, 0, sizeof(K));
    K.sink.rules = &rules;
    K.sink.stats = &K.st;
    K.sink.emit = keep_emit;
    K.sink.on_error = keep_error;
}

static size_t
enc(const char *line, char *out, size_t cap, uint64_t *key)
{
    return putjson_write(line, strlen(line), out, cap, key);
}

#define JSON_IS(line, want)                                                          \
    do {                                                                             \
        char o_[PUTJSON_MAX];                                                        \
        uint64_t k_;                                                                 \
        size_t n_ = enc(line, o_, sizeof(o_), &k_);                                  \
        ck_assert_msg(n_ == strlen(want) && memcmp(o_, want, n_) == 0,               \
                      "%s -> [%s], want [%s]", line, esc(o_, n_), want);             \
    } while (0)

START_TEST(test_put_line)
{
    JSON_IS("put sys.cpu 1356998400 42 host=web01 cpu=0\n",
            "{\"metric\":\"sys.cpu\",\"timestamp\":1356998400,\"value\":42,"
            "\"tags\":{\"host\":\"web01\",\"cpu\":\"0\"}}");
    JSON_IS("put m 1364410924.250 -1.5e3 a=b",
            "{\"metric\":\"m\",\"timestamp\":1364410924250,\"value\":-1.5e3,"
            "\"tags\":{\"a\":\"b\"}}");
    /* the telnet parser's reading: dots deleted, sign and zeros gone */
    JSON_IS("put m +0001356998400 1 a=b\n",
            "{\"metric\":\"m\",\"timestamp\":1356998400,\"value\":1,\"tags\":{\"a\":\"b\"}}");
}
END_TEST

START_TEST(test_values_java_reads)
{
    /* not JSON numbers: strings, which the TSD parses as it parses telnet */
    static const char *const vals[] = { "1.5f", ".5", "5.", "+1", "007", "0x1.8p1", "1E5D" };
    for (size_t i = 0; i < TS_ARRAY_LEN(vals); i++) {
        char line[128], want[256];
        snprintf(line, sizeof(line), "put m 1 %s a=b\n", vals[i]);
        snprintf(want, sizeof(want),
                 "{\"metric\":\"m\",\"timestamp\":1,\"value\":\"%s\",\"tags\":{\"a\":\"b\"}}",
                 vals[i]);
        JSON_IS(line, want);
    }
    JSON_IS("put m 1 -0 a=b\n", "{\"metric\":\"m\",\"timestamp\":1,\"value\":-0,"
                                "\"tags\":{\"a\":\"b\"}}");
}
END_TEST

START_TEST(test_escapes_and_latin1)
{
    JSON_IS("put m\"\\ 1 1 k\t=v\x01\n",
            "{\"metric\":\"m\\\"\\\\\",\"timestamp\":1,\"value\":1,"
            "\"tags\":{\"k\\u0009\":\"v\\u0001\"}}");
    /* ISO-8859-1 bytes: the characters U+00C9 and U+00FF */
    JSON_IS("put \xC9t\xE9 1 1 h=\xFF\n",
            "{\"metric\":\"\xC3\x89t\xC3\xA9\",\"timestamp\":1,\"value\":1,"
            "\"tags\":{\"h\":\"\xC3\xBF\"}}");
}
END_TEST

START_TEST(test_rollup_words)
{
    JSON_IS("rollup 1h-sum m 1 2 a=b\n",
            "{\"metric\":\"m\",\"timestamp\":1,\"value\":2,\"tags\":{\"a\":\"b\"},"
            "\"interval\":\"1h\",\"aggregator\":\"sum\"}");
    JSON_IS("rollup max m 1 2 a=b\n",
            "{\"metric\":\"m\",\"timestamp\":1,\"value\":2,\"tags\":{\"a\":\"b\"},"
            "\"aggregator\":\"max\",\"groupByAggregator\":\"max\"}");
    JSON_IS("rollup 1h-sum:max m 1 2 a=b\n",
            "{\"metric\":\"m\",\"timestamp\":1,\"value\":2,\"tags\":{\"a\":\"b\"},"
            "\"interval\":\"1h\",\"aggregator\":\"sum\",\"groupByAggregator\":\"max\"}");
    ck_assert_int_eq(putjson_kind("rollup x", 8), PJ_ROLLUP);
    /* a group-by aggregator and no tag: the TSD's telnet path takes it
     * (it adds the aggregate tag); the JSON says so, the TSD answers */
    JSON_IS("rollup max m 1 2\n",
            "{\"metric\":\"m\",\"timestamp\":1,\"value\":2,\"tags\":{},"
            "\"aggregator\":\"max\",\"groupByAggregator\":\"max\"}");
    ck_assert_uint_ne(putjson_key("rollup max m 1 2\n", 17), 0);
    ck_assert_uint_eq(putjson_key("put m 1 2\n", 10), 0); /* a put needs a tag */
}
END_TEST

START_TEST(test_histogram_lines)
{
    JSON_IS("histogram m 1 7 AAECAw== a=b\n",
            "{\"metric\":\"m\",\"timestamp\":1,\"id\":7,\"value\":\"AAECAw==\","
            "\"tags\":{\"a\":\"b\"}}");
    /* parseTelnet's reading: keys in any case, the same bounds twice keep
     * the last count, buckets in the TreeMap's order, counts as longs */
    JSON_IS("histogram m 1.5 U=3:0.5,1=+4:o=2:0,0.5=007:0.5,1.0=5 b=c a=b\n",
            "{\"metric\":\"m\",\"timestamp\":15,\"buckets\":{\"0,0.5\":7,\"0.5,1\":5},"
            "\"underflow\":3,\"overflow\":2,\"tags\":{\"b\":\"c\",\"a\":\"b\"}}");
    ck_assert_int_eq(putjson_kind("histogram m", 11), PJ_HISTOGRAM);
    /* the id as Integer.parseInt reads it: leading zeros, a sign */
    JSON_IS("histogram m 1 +0000000000000000000001 AAEC a=b\n",
            "{\"metric\":\"m\",\"timestamp\":1,\"id\":1,\"value\":\"AAEC\","
            "\"tags\":{\"a\":\"b\"}}");
    /* the key skips the codec id and the value: tags from the right word */
    char o[PUTJSON_MAX];
    uint64_t k1, k2;
    ck_assert_uint_gt(enc("histogram m 1 7 AAECAw== a=b\n", o, sizeof(o), &k1), 0);
    ck_assert_uint_gt(enc("histogram m 1 u=1:0,1=2 a=b\n", o, sizeof(o), &k2), 0);
    ck_assert(k1 == k2 && k1 == putjson_key("put m 1 1 a=b\n", 14));
    ck_assert_uint_eq(enc("histogram m 1 7 AAECAw==\n", o, sizeof(o), &k1), 0); /* no tag */
    ck_assert_uint_eq(enc("histogram m 1 u=x:0,1=2 a=b\n", o, sizeof(o), &k1), 0);
    /* no bucket: telnet takes it, HistogramPojo.validate refuses it */
    ck_assert_uint_eq(enc("histogram m 1 u=1:o=2 a=b\n", o, sizeof(o), &k1), 0);
}
END_TEST

START_TEST(test_not_taken)
{
    char o[PUTJSON_MAX];
    uint64_t k;
    ck_assert_uint_eq(enc("version\n", o, sizeof(o), &k), 0);
    ck_assert_uint_eq(enc("put m 1\n", o, sizeof(o), &k), 0);
    ck_assert_uint_eq(enc("put m x 1 a=b\n", o, sizeof(o), &k), 0);
    ck_assert_uint_eq(enc("put m 1 1 a=b\n", o, 20, &k), 0); /* too small: nothing */
}
END_TEST

START_TEST(test_key_ignores_tag_order_and_value)
{
    char o[PUTJSON_MAX];
    uint64_t k1, k2, k3;
    ck_assert_uint_gt(enc("put m 1 1 a=b c=d\n", o, sizeof(o), &k1), 0);
    ck_assert_uint_gt(enc("put m 1 2 c=d a=b\n", o, sizeof(o), &k2), 0);
    ck_assert_uint_gt(enc("put m 2 1 a=b c=d\n", o, sizeof(o), &k3), 0);
    ck_assert(k1 == k2);
    ck_assert(k1 != k3);
}
END_TEST

/* Found by fuzz_putjson: input/json.c refused a tag name over 255 bytes of
 * UTF-8 and a value over 511 characters that telnet (and the TSD) take. */
START_TEST(test_long_names_and_values_read_back)
{
    static char line[2048], json[PUTJSON_MAX];
    size_t n = (size_t)sprintf(line, "put m 1 1.");
    memset(line + n, '0', 700);
    n += 700;
    n += (size_t)sprintf(line + n, "1 a=b ");
    memset(line + n, '\xFF', 120); /* 240 bytes of UTF-8 */
    n += 120;
    n += (size_t)sprintf(line + n, "c=3\n");
    struct point pt;
    struct point_error err;
    ck_assert_int_eq(point_parse_line(&rules, CMD_PUT, false, line, n - 1, &pt, &err), TS_OK);
    uint64_t key;
    size_t jl = putjson_write(line, n, json, sizeof(json), &key);
    ck_assert_uint_gt(jl, 0);
    struct json_result res;
    ck_assert_int_eq(json_ingest(&K.sink, json, jl, &res, &err), TS_OK);
    ck_assert_msg(K.nemit == 1, "refused: %s", K.err);
    ck_assert(K.len == n && memcmp(K.line, line, n) == 0);
}
END_TEST

/* ---- the round trip on random lines ------------------------------------------------ */

static unsigned long rng = 88172645463325252ul;

static unsigned
rnd(unsigned n)
{
    rng ^= rng << 13;
    rng ^= rng >> 7;
    rng ^= rng << 17;
    return (unsigned)(rng % n);
}

/* A name of 1..12 bytes point.c accepts. */
static size_t
rnd_name(char *o)
{
    static const char pool[] = "abcXYZ019-_./\"\\\t\x01{}[]:,#\xC0\xC9\xE9\xFF\xAA\xB5";
    size_t n = 1 + rnd(12);
    for (size_t i = 0; i < n; i++)
        o[i] = pool[rnd(sizeof(pool) - 1)];
    return n;
}

static size_t
rnd_value(char *o, size_t cap)
{
    static const char *const pre[] = { "", "-", "+", "00", ".", "0x1.8p" };
    static const char *const post[] = { "", ".5", ".", "e3", ".25f", "E-2", ".0D" };
    const char *a = pre[rnd(TS_ARRAY_LEN(pre))], *b = post[rnd(TS_ARRAY_LEN(post))];
    return (size_t)snprintf(o, cap, "%s%u%s", a, rnd(100000), b);
}

static size_t
rnd_timestamp(char *o, size_t cap)
{
    switch (rnd(4)) {
    case 0: return (size_t)snprintf(o, cap, "%u", 1 + rnd(2000000000));
    case 1: return (size_t)snprintf(o, cap, "1%012u", rnd(999999999));
    case 2: return (size_t)snprintf(o, cap, "1364410924.%03u", rnd(1000));
    default: return (size_t)snprintf(o, cap, "+000%u", 1 + rnd(2000000000));
    }
}

static size_t
rnd_line(char *o)
{
    size_t n = (size_t)sprintf(o, "put ");
    n += rnd_name(o + n);
    o[n++] = ' ';
    n += rnd_timestamp(o + n, 64);
    o[n++] = ' ';
    n += rnd_value(o + n, 64);
    unsigned tags = 1 + rnd(8);
    for (unsigned t = 0; t < tags; t++) {
        o[n++] = ' ';
        n += (size_t)sprintf(o + n, "k%u", t); /* distinct keys */
        n += rnd_name(o + n);
        o[n++] = '=';
        n += rnd_name(o + n);
    }
    o[n++] = '\n';
    return n;
}

/* The canonical line with its timestamp as the TSD reads it. */
static size_t
normalized(const char *line, size_t len, char *out)
{
    const char *sp1 = memchr(line + 4, ' ', len - 4);
    const char *sp2 = memchr(sp1 + 1, ' ', (size_t)(line + len - sp1 - 1));
    char ts[64];
    size_t k = 0;
    for (const char *p = sp1 + 1; p < sp2; p++)
        if (*p != '.')
            ts[k++] = *p;
    int64_t v;
    struct point_error err;
    ck_assert_int_eq(point_parse_long(ts, k, &v, &err), TS_OK);
    size_t n = (size_t)(sp1 + 1 - line);
    memcpy(out, line, n);
    n += (size_t)sprintf(out + n, "%lld", (long long)v);
    memcpy(out + n, sp2, (size_t)(line + len - sp2));
    return n + (size_t)(line + len - sp2);
}

static struct {
    int calls;
    bool has;
    uint64_t key;
    char text[64];
} E;

static void
echo_entry(void *ctx, bool has_key, uint64_t key, const char *text, size_t len)
{
    (void)ctx;
    E.calls++;
    E.has = has_key;
    E.key = key;
    snprintf(E.text, sizeof(E.text), "%.*s", (int)len, text);
}

/* An answer that lists the point as the TSD would echo it (value as a
 * string, tags in another order), read by putanswer: the key it gives. */
static uint64_t
echo_key(const char *json)
{
    json_error_t jerr;
    json_t *dp = json_loads(json, 0, &jerr);
    ck_assert_msg(dp != NULL, "jansson: %s: %s", jerr.text, json);
    json_t *v = json_object_get(dp, "value");
    if (!json_is_string(v)) {
        char vtext[64];
        snprintf(vtext, sizeof(vtext), "%g", json_number_value(v));
        json_object_set_new(dp, "value", json_string(vtext));
    }
    json_t *tags = json_object_get(dp, "tags"), *rev = json_object();
    const char *names[16];
    size_t nt = 0;
    const char *tk;
    json_t *tv;
    json_object_foreach(tags, tk, tv) names[nt++] = tk;
    for (size_t i = nt; i-- > 0;)
        json_object_set(rev, names[i], json_object_get(tags, names[i]));
    json_object_set_new(dp, "tags", rev);
    json_t *ans = json_pack("{s:i,s:i,s:[{s:o,s:s}]}", "success", 0, "failed", 1, "errors",
                            "datapoint", dp, "error", "Unknown metric");
    char *text = json_dumps(ans, JSON_PRESERVE_ORDER);
    struct putanswer *a = calloc(1, sizeof(*a));
    memset(&E, 0, sizeof(E));
    putanswer_begin(a, echo_entry, NULL);
    size_t tl = strlen(text);
    ck_assert(putanswer_feed(a, text, tl / 2));
    ck_assert(putanswer_feed(a, text + tl / 2, tl - tl / 2));
    ck_assert(putanswer_end(a));
    ck_assert_int_eq(E.calls, 1);
    ck_assert(E.has);
    ck_assert_str_eq(E.text, "Unknown metric");
    ck_assert_int_eq(a->failed, 1);
    putanswer_reset(a);
    free(a);
    free(text);
    json_decref(ans);
    return E.key;
}

/* Random simple histograms: their JSON read by tsrelay's /api/histogram
 * reader (the TSD's rules) gives the same histogram back. */
START_TEST(test_histograms_read_back)
{
    static char line[2048], json[PUTJSON_MAX];
    static struct histogram want, got;
    for (int r = 0; r < 2000; r++) {
        size_t n = (size_t)sprintf(line, "histogram h.m 1700000000 u=%u", rnd(50));
        unsigned nb = 1 + rnd(20);
        for (unsigned i = 0; i < nb; i++) {
            float lo = (float)rnd(100000) / (float)(1 + rnd(999));
            n += (size_t)sprintf(line + n, ":%.*g,%.7g=%u", 2 + (int)rnd(7), (double)lo,
                                 (double)(lo * 1.5f + 1.0f), rnd(1000000));
        }
        n += (size_t)sprintf(line + n, ":O=%u host=a\n", rnd(9));
        struct point_error err;
        const char *text = line + 25, *sp = strchr(text, ' '); /* after "histogram h.m <ts> " */
        ck_assert_int_eq(histogram_parse_text(text, (size_t)(sp - text), &want, &err), TS_OK);
        size_t jl = putjson_write(line, n, json, sizeof(json), NULL);
        ck_assert_msg(jl > 0, "no JSON for %s", line);
        struct json_result res;
        K.nemit = K.nerr = 0;
        ck_assert_int_eq(json_ingest_from(&K.sink, CMD_HISTOGRAM, json, jl, 0, &res, &err), TS_OK);
        ck_assert_msg(K.nemit == 1, "%s -> %.*s refused: %s", line, (int)jl, json, K.err);
        /* "histogram h.m 1700000000 <text> host=a" */
        const char *t = K.line + 25, *e = memchr(t, ' ', K.len - 25);
        ck_assert_int_eq(histogram_parse_text(t, (size_t)(e - t), &got, &err), TS_OK);
        ck_assert_int_eq(got.nbuckets, want.nbuckets);
        ck_assert(got.underflow == want.underflow && got.overflow == want.overflow);
        for (int i = 0; i < want.nbuckets; i++)
            ck_assert_msg(memcmp(&got.b[i], &want.b[i], sizeof(want.b[i])) == 0,
                          "%s: bucket %d differs", line, i);
    }
}
END_TEST

START_TEST(test_random_lines_round_trip)
{
    static char line[4096], canon[2048], json[PUTJSON_MAX], want[2048];
    int tried = 0, valid = 0;
    for (tried = 0; valid < 20000 && tried < 200000; tried++) {
        size_t len = rnd_line(line);
        struct point pt;
        struct point_error err;
        if (point_parse_line(&rules, CMD_PUT, false, line, len - 1, &pt, &err) != TS_OK)
            continue; /* e.g. a value Java does not read */
        size_t clen = point_format(&pt, canon, sizeof(canon));
        ck_assert_uint_gt(clen, 0);
        valid++;
        uint64_t key;
        size_t jl = putjson_write(canon, clen, json, sizeof(json) - 1, &key);
        ck_assert_msg(jl > 0, "no JSON for %s", esc(canon, clen));
        json[jl] = '\0';
        /* strict JSON (valid UTF-8, escapes, no duplicate keys) */
        json_error_t jerr;
        json_t *doc = json_loadb(json, jl, JSON_REJECT_DUPLICATES, &jerr);
        ck_assert_msg(doc != NULL, "%s -> %s: %s", esc(canon, clen), esc(json, jl), jerr.text);
        json_decref(doc);
        /* the TSD's reading of it: the same point */
        struct json_result res;
        K.nemit = K.nerr = 0;
        ck_assert_int_eq(json_ingest(&K.sink, json, jl, &res, &err), TS_OK);
        ck_assert_msg(K.nemit == 1, "%s -> %s refused: %s", esc(canon, clen), esc(json, jl),
                      K.err);
        size_t wl = normalized(canon, clen, want);
        ck_assert_msg(K.len == wl && memcmp(K.line, want, wl) == 0, "%s -> %s -> %s",
                      esc(canon, clen), esc(json, jl), esc(K.line, K.len));
        /* and an answer naming it names it by the same key */
        ck_assert(echo_key(json) == key);
    }
    ck_assert_int_ge(valid, 20000);
}
END_TEST

static Suite *
putjson_suite(void)
{
    Suite *s = suite_create("putjson");
    TCase *tc = tcase_create("putjson");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_set_timeout(tc, 60);
    tcase_add_test(tc, test_put_line);
    tcase_add_test(tc, test_values_java_reads);
    tcase_add_test(tc, test_escapes_and_latin1);
    tcase_add_test(tc, test_rollup_words);
    tcase_add_test(tc, test_not_taken);
    tcase_add_test(tc, test_histogram_lines);
    tcase_add_test(tc, test_histograms_read_back);
    tcase_add_test(tc, test_key_ignores_tag_order_and_value);
    tcase_add_test(tc, test_long_names_and_values_read_back);
    tcase_add_test(tc, test_random_lines_round_trip);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(putjson_suite)
