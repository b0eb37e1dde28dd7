/*
 * check_rollup.c -- unit tests for rollup.c: OpenTSDB 2.4's rules for a
 * `rollup` line and a rollup point from JSON.
 *
 * The table's rows are taken from the TSD's source, in its order of
 * checks: RollupDataPointRpc.importDataPoint (the words, the parser's
 * reading of the interval/aggregator word -- `1h-sum`, `sum`,
 * `1h-sum:max`, and the forms String.split(":") makes of the rest), then
 * TSDB.addAggregatePoint/addAggregatePointInternal as a TSD with rollups
 * enabled and its default settings runs them (tsd.rollups.agg_tag_key
 * _aggregate, tag_raw false, block_derived true): the value, a group-by
 * aggregator not empty, seconds only, the aggregate tag added or matched,
 * Aggregators.get of the lower-cased group-by aggregator, derived
 * aggregations blocked, IncomingDataPoints.checkMetricAndTags with the
 * aggregate tag counted, the rollup aggregator not derived.  HashMap
 * orders in expected messages were computed independently (Java's
 * String.hashCode, spread, 16 buckets doubling past 0.75 load).
 * Then: the TSD's other settings as rules, the relay's own refusal of a
 * word of only ':', the words built back from JSON fields and read again
 * as the TSD reads them, and the 1024-byte line.
 */
#include "autoconf.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "base/point.h"
#include "base/rollup.h"
#include "point_rows.h"
#include "unit.h"
#include "base/util.h"

#define RA "rollup: illegal argument: "
#define RV "rollup: invalid value: "
#define T8 "t1=1 t2=2 t3=3 t4=4 t5=5 t6=6 t7=7 t8=8"

static const struct row rows[] = {
    /* ---- accepted: the word's forms, as the parser reads them ----------- */
    R("rollup 1h-sum m 1 1 a=b", "rollup 1h-sum m 1 1 a=b\n"),
    R("rollup 1h-sum:max m 1 1.5  b=2 a=1", "rollup 1h-sum:max m 1 1.5 a=1 b=2\n"),
    R("rollup sum m 1364410924 7 a=b", "rollup sum m 1364410924 7 a=b\n"),
    R("rollup 1h-sum m 4294967295 1 a=b", "rollup 1h-sum m 4294967295 1 a=b\n"),
    R("rollup :sum m 1 1 a=b", "rollup :sum m 1 1 a=b\n"),          /* ["", "sum"] */
    R("rollup 1h:sum m 1 1 a=b", "rollup 1h:sum m 1 1 a=b\n"),      /* no '-': group-by */
    R("rollup 1h-sum: m 1 1 a=b", "rollup 1h-sum: m 1 1 a=b\n"),    /* trailing "" dropped */
    R("rollup a:sum:c m 1 1 a=b", "rollup a:sum:c m 1 1 a=b\n"),    /* parts[1] only */
    R("rollup -sum m 1 1 a=b", "rollup -sum m 1 1 a=b\n"),
    R("rollup - m 1 1 a=b", "rollup - m 1 1 a=b\n"),
    R("rollup 1h-sum:MAX m 1 1 a=b", "rollup 1h-sum:MAX m 1 1 a=b\n"), /* looked up lower-cased */
    R("rollup 1h-sum:p99 m 1 1 a=b", "rollup 1h-sum:p99 m 1 1 a=b\n"),
    R("rollup ep999r7 m 1 1 a=b", "rollup ep999r7 m 1 1 a=b\n"),
    R("rollup zimsum m 1 1 a=b", "rollup zimsum m 1 1 a=b\n"),
    /* the point's own aggregate tag, equal ignoring case: kept as sent */
    R("rollup 1h-sum:max m 1 1 _aggregate=Max a=b", "rollup 1h-sum:max m 1 1 _aggregate=Max a=b\n"),
    /* a group-by point needs no tag of its own: the TSD adds one */
    R("rollup sum m 1 1 ", "rollup sum m 1 1 \n"),
    R("rollup sum m 1 1 t1=1 t2=2 t3=3 t4=4 t5=5 t6=6 t7=7",
      "rollup sum m 1 1 t1=1 t2=2 t3=3 t4=4 t5=5 t6=6 t7=7\n"),        /* 7 + _aggregate */
    R("rollup 1h-sum m 1 1 " T8, "rollup 1h-sum m 1 1 " T8 "\n"),    /* none added: 8 */
    R("rollup 1h-sum m 1 0x1.8p1 a=b", "rollup 1h-sum m 1 0x1.8p1 a=b\n"),

    /* ---- importDataPoint, in its order --------------------------------- */
    R("rollup", RA "not enough arguments (need least 7, got 0)"),
    R("rollup 1h-sum m 1 1", RA "not enough arguments (need least 7, got 4)"),
    R("rollup m 1 1 a=b", RA "not enough arguments (need least 7, got 4)"),
    R("rollup  m 1 1 a=b", RA "Missing interval or aggregator"),
    R("rollup sum  1 1 a=b", RA "empty metric name"),
    R("rollup sum m x 1 a=b", RV "Invalid character 'x' in x"),
    R("rollup sum m 0 1 a=b", RA "invalid timestamp: 0"),
    R("rollup sum m 1  a=b", RA "empty value"),
    R("rollup sum m 1 1 a", RA "invalid tag: a"),
    R("rollup sum m 1 1 a=b a=c", RA "duplicate tag: a=c, tags={a=b}"),
    /* ---- addAggregatePoint: the value ---------------------------------- */
    R("rollup sum m 1 x a=b", RV "Invalid character 'x' in x"),
    R("rollup 1h-sum m 1 1e400 a=b", RA "value is NaN or Infinite: Infinity for metric=m timestamp=1"),
    /* ---- a group-by aggregator must be named --------------------------- */
    R("rollup 1h-sum::max m 1 1 a=b",
      RA "Cannot write a group by data point without specifying the aggregation function. "
         "Metric=m tags={a=b}"),
    R("rollup 1h-sum::max m 1 x a=b", RV "Invalid character 'x' in x"),  /* the value first */
    /* ---- seconds only (a put takes milliseconds) ----------------------- */
    R("rollup 1h-sum m 1364410924250 1 a=b",
      RA "bad timestamp=1364410924250 when trying to add value=[1]/0 to metric=m, tags={a=b}"),
    R("rollup 1h-sum m 1364410924.250 1 a=b",
      RA "bad timestamp=1364410924250 when trying to add value=[1]/0 to metric=m, tags={a=b}"),
    R("rollup 1h-sum m 4294967296 1.5 a=b",
      RA "bad timestamp=4294967296 when trying to add value=[63, -64, 0, 0]/11 to metric=m, "
         "tags={a=b}"),
    R("rollup 1h-sum m 4294967296 300 a=b",
      RA "bad timestamp=4294967296 when trying to add value=[1, 44]/1 to metric=m, tags={a=b}"),
    R("rollup 1h-sum::max m 4294967296 1 a=b",                          /* after the group-by */
      RA "Cannot write a group by data point without specifying the aggregation function. "
         "Metric=m tags={a=b}"),
    R("rollup 1h-sum m 4294967296 1 ",                                  /* before the count */
      RA "bad timestamp=4294967296 when trying to add value=[1]/0 to metric=m, tags={}"),
    R("rollup sum m 4294967296 1 _aggregate=x",                         /* before the tag */
      RA "bad timestamp=4294967296 when trying to add value=[1]/0 to metric=m, "
         "tags={_aggregate=x}"),
    /* ---- the aggregate tag --------------------------------------------- */
    R("rollup 1h-sum:max m 1 1 _aggregate=min a=b",
      RA "Given tag value for _aggregate of min did not match the group by aggregator of max "
         "for m {_aggregate=min, a=b}"),
    R("rollup 1h-sum m 1 1 _aggregate=SUM",
      RA "Given tag value for _aggregate of SUM did not match the group by aggregator of null "
         "for m {_aggregate=SUM}"),
    R("rollup 1h-avg:sum m! 1 1 _aggregate=max",                        /* before the names */
      RA "Given tag value for _aggregate of max did not match the group by aggregator of sum "
         "for m! {_aggregate=max}"),
    /* ---- the group-by aggregator: known, not derived -------------------- */
    R("rollup 1h-sum:foo m 1 1 a=b",
      RA "Invalid group by aggregator foo with metric m {a=b, _aggregate=FOO}"),
    R("rollup squareSum m 1 1 a=b",
      RA "Invalid group by aggregator squareSum with metric m {a=b, _aggregate=SQUARESUM}"),
    R("rollup 1h-sum:foo m! 1 1 a=b!",                                  /* before the names */
      RA "Invalid group by aggregator foo with metric m! {a=b!, _aggregate=FOO}"),
    R("rollup 1h-sum:avg m 1 1 a=b",
      RA "Derived group by aggregations are not allowed avg with metric m {a=b, _aggregate=AVG}"),
    R("rollup dev m 1 1 a=b",
      RA "Derived group by aggregations are not allowed dev with metric m {a=b, _aggregate=DEV}"),
    /* ---- the tags, with the aggregate tag ------------------------------ */
    R("rollup sum m 1 1 " T8,
      RA "Too many tags: 9 maximum allowed: 8, tags: {t4=4, t5=5, _aggregate=SUM, t6=6, t7=7, "
         "t8=8, t1=1, t2=2, t3=3}"),
    R("rollup 1h-sum m 1 1 ", RA "Need at least one tag (metric=m, tags={})"),
    R("rollup sum m! 1 1 a=b", RA "Invalid metric name (\"m!\"): illegal character: !"),
    R("rollup sum m 1 1 a=b!", RA "Invalid tag value with key [a] (\"b!\"): illegal character: !"),
    /* ---- the rollup aggregator, not derived ---------------------------- */
    R("rollup 1h-avg m 1 1 a=b",
      RA "Derived rollup aggregations are not allowed AVG with metric m {a=b}"),
    R("rollup 1h-Dev:sum m 1 1 a=b",
      RA "Derived rollup aggregations are not allowed DEV with metric m {a=b, _aggregate=SUM}"),
    R("rollup 1h-avg m! 1 1 a=b", RA "Invalid metric name (\"m!\"): illegal character: !"),
};

static struct point_rules rules;

static void
setup(void)
{
    point_rules_init(&rules, 8, NULL);
}

START_TEST(test_table)
{
    check_row(&rules, &rows[_i]);
}
END_TEST

/* tsd.rollups.tag_raw (with its raw value), a key of its own, and
 * block_derived off: the other settings a TSD may run with. */
START_TEST(test_settings)
{
    struct point_rules r;
    point_rules_init(&r, 8, NULL);
    snprintf(r.raw_agg_value, sizeof(r.raw_agg_value), "RAW");
    static const struct row raw8 = R("rollup 1h-sum m 1 1 " T8,
        RA "Too many tags: 9 maximum allowed: 8, tags: {t4=4, t5=5, _aggregate=RAW, t6=6, t7=7, "
           "t8=8, t1=1, t2=2, t3=3}");
    static const struct row raw0 = R("rollup 1h-sum m 1 1 ", "rollup 1h-sum m 1 1 \n");
    check_row(&r, &raw8);
    check_row(&r, &raw0); /* the raw tag is a tag: nothing is missing */
    point_rules_init(&r, 8, NULL);
    snprintf(r.agg_tag, sizeof(r.agg_tag), "agg");
    static const struct row key = R("rollup 1h-sum:max m 1 1 agg=min",
        RA "Given tag value for agg of min did not match the group by aggregator of max for m "
           "{agg=min}");
    static const struct row other = R("rollup 1h-sum:max m 1 1 _aggregate=min",
                                      "rollup 1h-sum:max m 1 1 _aggregate=min\n");
    check_row(&r, &key);
    check_row(&r, &other);
    point_rules_init(&r, 8, NULL);
    r.block_derived = false;
    static const struct row avg = R("rollup 1h-avg:dev m 1 1 a=b", "rollup 1h-avg:dev m 1 1 a=b\n");
    check_row(&r, &avg);
    point_rules_init(&r, 2, NULL);
    static const struct row two = R("rollup sum m 1 1 a=b",
                                    "rollup sum m 1 1 a=b\n");
    static const struct row three = R("rollup sum m 1 1 a=b c=d",
        RA "Too many tags: 3 maximum allowed: 2, tags: {a=b, _aggregate=SUM, c=d}");
    check_row(&r, &two);
    check_row(&r, &three);
}
END_TEST

/* A word of nothing but ':' throws in the TSD (parts[0] of an empty
 * array), which answers nothing: the relay refuses it in its own words. */
START_TEST(test_only_colons)
{
    static const char *const lines[] = { "rollup : m 1 1 a=b", "rollup ::: m 1 1 a=b" };
    for (size_t i = 0; i < TS_ARRAY_LEN(lines); i++) {
        struct point p;
        struct point_error err;
        ck_assert_int_eq(rollup_parse_line(&rules, lines[i], strlen(lines[i]), &p, &err),
                         TS_ERROR);
        ck_assert(err.relay);
        ck_assert_int_eq(err.cmd, CMD_ROLLUP);
        ck_assert_ptr_nonnull(strstr(err.msg, "nothing but ':'"));
    }
}
END_TEST

/* The parser's reading of the word, field by field. */
START_TEST(test_spec_parse)
{
    static const struct {
        const char *word;
        const char *i, *a, *g; /* NULL: absent */
    } cases[] = {
        { "1h-sum", "1h", "sum", NULL },
        { "sum", NULL, "sum", "sum" },
        { "1h-sum:max", "1h", "sum", "max" },
        { "1h-sum:", "1h", "sum", NULL },
        { "1h-sum::max", "1h", "sum", "" },
        { ":sum", NULL, "sum", "sum" },
        { "1h:sum", NULL, "sum", "sum" },
        { "a:b:c", NULL, "b", "b" },
        { "-", "", "", NULL },
        { "1h-x-y", "1h", "x-y", NULL },
        { "sum:", NULL, "sum", "sum" },
    };
    for (size_t k = 0; k < TS_ARRAY_LEN(cases); k++) {
        struct rollup_spec sp;
        struct point_error err;
        const char *w = cases[k].word;
        ck_assert_int_eq(rollup_spec_parse(w, strlen(w), &sp, &err), TS_OK);
        const char *want[3] = { cases[k].i, cases[k].a, cases[k].g };
        const char *got[3] = { sp.interval, sp.agg, sp.groupby };
        size_t gl[3] = { sp.interval_len, sp.agg_len, sp.groupby_len };
        bool has[3] = { sp.has_interval, sp.has_agg, sp.has_groupby };
        for (int f = 0; f < 3; f++) {
            ck_assert_msg(has[f] == (want[f] != NULL), "%s: field %d present %d", w, f, has[f]);
            if (want[f] != NULL)
                ck_assert_msg(gl[f] == strlen(want[f]) && memcmp(got[f], want[f], gl[f]) == 0,
                              "%s: field %d is [%.*s], want [%s]", w, f, (int)gl[f], got[f],
                              want[f]);
        }
    }
}
END_TEST

static struct rollup_spec
spec(const char *i, const char *a, const char *g)
{
    struct rollup_spec sp = { 0 };
    sp.interval = i;
    sp.interval_len = i ? strlen(i) : 0;
    sp.has_interval = i != NULL;
    sp.agg = a;
    sp.agg_len = a ? strlen(a) : 0;
    sp.has_agg = a != NULL;
    sp.groupby = g;
    sp.groupby_len = g ? strlen(g) : 0;
    sp.has_groupby = g != NULL;
    return sp;
}

static bool
same_text(const char *a, size_t an, bool ha, const char *b, size_t bn, bool hb)
{
    return ha == hb && an == bn && (an == 0 || memcmp(a, b, an) == 0);
}

/* A JSON point's fields become a word the TSD reads back the same (an
 * absent interval reads back as "", which the TSD treats as absent; an
 * absent rollup aggregator with a group-by one reads back as it, or as
 * "", which the TSD treats alike: no interval to look it up for). */
START_TEST(test_spec_format)
{
    static const struct {
        const char *i, *a, *g, *word;
    } cases[] = {
        { "1h", "sum", NULL, "1h-sum" },
        { "1h", "sum", "max", "1h-sum:max" },
        { NULL, NULL, "sum", "sum" },
        { NULL, "sum", "max", "-sum:max" },
        { "1h", NULL, "max", "1h-:max" },
        { NULL, NULL, "p-9", "-:p-9" },
        { "1h", "x-y", NULL, "1h-x-y" },
    };
    for (size_t k = 0; k < TS_ARRAY_LEN(cases); k++) {
        struct rollup_spec sp = spec(cases[k].i, cases[k].a, cases[k].g), back;
        struct point_error err;
        char word[ROLLUP_SPEC_MAX];
        size_t n = rollup_spec_format(&sp, word, sizeof(word), &err);
        ck_assert_msg(n == strlen(cases[k].word) && memcmp(word, cases[k].word, n) == 0,
                      "case %zu: [%.*s], want [%s]", k, (int)n, word, cases[k].word);
        ck_assert_int_eq(rollup_spec_parse(word, n, &back, &err), TS_OK);
        ck_assert(same_text(back.groupby, back.groupby_len, back.has_groupby, sp.groupby,
                            sp.groupby_len, sp.has_groupby));
        ck_assert_uint_eq(back.interval_len, sp.interval_len);
        ck_assert(sp.interval_len == 0 || memcmp(back.interval, sp.interval, sp.interval_len) == 0);
        if (sp.has_agg)
            ck_assert(same_text(back.agg, back.agg_len, true, sp.agg, sp.agg_len, true));
    }
    /* what no word can say: the relay's refusal */
    static const struct {
        const char *i, *a, *g;
    } bad[] = {
        { "1-h", "sum", NULL }, { "1:h", "sum", NULL }, { "1h", "s:m", NULL },
        { "1h", "sum", "m:x" }, { "1h", "s m", NULL }, { "1h\t", "sum", NULL },
        { NULL, NULL, NULL },
    };
    for (size_t k = 0; k < TS_ARRAY_LEN(bad); k++) {
        struct rollup_spec sp = spec(bad[k].i, bad[k].a, bad[k].g);
        struct point_error err;
        char word[ROLLUP_SPEC_MAX];
        ck_assert_uint_eq(rollup_spec_format(&sp, word, sizeof(word), &err), 0);
        ck_assert(err.relay);
    }
}
END_TEST

START_TEST(test_aggregators)
{
    ck_assert(rollup_aggregator_known("sum", 3));
    ck_assert(rollup_aggregator_known("SUM", 3));
    ck_assert(rollup_aggregator_known("ep50r3", 6));
    ck_assert(!rollup_aggregator_known("squareSum", 9)); /* lower-cased: never found */
    ck_assert(!rollup_aggregator_known("", 0));
    ck_assert(!rollup_aggregator_known("su", 2));
}
END_TEST

static Suite *
rollup_suite(void)
{
    Suite *s = suite_create("rollup");
    TCase *tc = tcase_create("table");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_loop_test(tc, test_table, 0, (int)TS_ARRAY_LEN(rows));
    suite_add_tcase(s, tc);
    tc = tcase_create("rules");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_settings);
    tcase_add_test(tc, test_only_colons);
    tcase_add_test(tc, test_spec_parse);
    tcase_add_test(tc, test_spec_format);
    tcase_add_test(tc, test_aggregators);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(rollup_suite)
