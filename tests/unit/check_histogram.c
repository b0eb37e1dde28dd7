/*
 * check_histogram.c -- unit tests for histogram.c: OpenTSDB 2.4's rules
 * for a `histogram` line.
 *
 * The table's rows are taken from the TSD's source, in its order of
 * checks: HistogramDataPointRpc.importDataPoint (the words, the optional
 * codec id read by Integer.parseInt, the value, Tags.parse of the tags --
 * answered "illegal argument"), then what runs inside its try and reaches
 * the client through the storage error callback as "HBase error":
 * parseTelnet (Tags.splitString on ':' and '=', a lower-cased key, "u" and
 * "o" by Long.parseLong, bounds split on ',' by Float.parseFloat, counts
 * by Long.parseLong -- java.lang's messages), the SimpleHistogram's
 * encoding, and TSDB.addHistogramPoint's checkTimestampAndTags (up to
 * 9999999999999, printing the encoded histogram: the simple codec's id
 * 0, Kryo's big-endian short count and floats, var-long counts) and
 * checkMetricAndTags.  A value with a codec id is the codec's to decode.
 */
#include "autoconf.h"

#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "base/histogram.h"
#include "base/point.h"
#include "point_rows.h"
#include "unit.h"
#include "base/util.h"

#define HA "histogram: illegal argument: "
#define HV "histogram: invalid value: "
#define HB "histogram: HBase error: "
#define T9 "t1=1 t2=2 t3=3 t4=4 t5=5 t6=6 t7=7 t8=8 t9=9"
#define TS14 "histogram m 10000000000000 "
#define BADTS "bad timestamp=10000000000000 when trying to add value="

static const struct row rows[] = {
    /* ---- accepted ------------------------------------------------------ */
    H("histogram m 1 u=0:o=0:0,1=5 a=b", "histogram m 1 u=0:o=0:0,1=5 a=b\n"),
    H("histogram m 1 0 AAEC a=b", "histogram m 1 0 AAEC a=b\n"),
    H("histogram m 1 42 AAEC  b=2 a=1", "histogram m 1 42 AAEC a=1 b=2\n"),
    H("histogram m 1 -1 AAEC a=b", "histogram m 1 -1 AAEC a=b\n"),   /* the codec's to refuse */
    H("histogram m 1 +7 AAEC a=b", "histogram m 1 +7 AAEC a=b\n"),
    H("histogram m 1 U=1:O=2:1E2,2E2=+3 a=b", "histogram m 1 U=1:O=2:1E2,2E2=+3 a=b\n"),
    H("histogram m 1 u=0 a=b", "histogram m 1 u=0 a=b\n"),           /* no bucket at all */
    H("histogram m 1364410924250 u=0 a=b", "histogram m 1364410924250 u=0 a=b\n"), /* ms */
    H("histogram m 1 0x1p3,1e39=1 a=b", "histogram m 1 0x1p3,1e39=1 a=b\n"),
    /* ---- the words ------------------------------------------------------ */
    H("histogram m 1 v", HA "not enough arguments (need least 5, got 3)"),
    H("histogram  m 1 u=0 a=b", HA "empty metric name"),
    H("histogram m x u=0 a=b", HV "Invalid character 'x' in x"),
    H("histogram m 0 u=0 a=b", HA "invalid timestamp: 0"),
    H("histogram m 1  a=b", HA "empty histogram value"),
    H("histogram m 1 42  AAEC a=b", HA "empty histogram value"),
    H("histogram m 1 2147483648 AAEC", HA "invalid tag: AAEC"),     /* no int: the value */
    H("histogram m 1 x a", HA "invalid tag: a"),                    /* before the buckets */
    H("histogram m 1 x a=b a=c", HA "duplicate tag: a=c, tags={a=b}"),
    /* ---- parseTelnet ---------------------------------------------------- */
    H("histogram m 1 u=0:x a=b", HB "Improperly formatted bucket: x"),
    H("histogram m 1 u=0: a=b", HB "Improperly formatted bucket: "),
    H("histogram m 1 u=1=2 a=b", HB "Improperly formatted bucket: u=1=2"),
    H("histogram m 1 0,1,2=5 a=b", HB "Improperly formatted bounds: 0,1,2=5"),
    H("histogram m 1 5=5 a=b", HB "Improperly formatted bounds: 5=5"),
    H("histogram m 1 U=x a=b", HB "For input string: \"x\""),
    H("histogram m 1 o= a=b", HB "For input string: \"\""),
    H("histogram m 1 0,1=9223372036854775808 a=b", HB "For input string: \"9223372036854775808\""),
    H("histogram m 1 0,1=- a=b", HB "For input string: \"-\""),
    H("histogram m 1 A,1=5 a=b", HB "For input string: \"a\""),      /* the key lower-cased */
    H("histogram m 1 ,1=5 a=b", HB "empty String"),
    H("histogram m 1 1..2,3=5 a=b", HB "multiple points"),
    H("histogram m 1 NaN,1=5 a=b", HB "For input string: \"nan\""),
    H("histogram m 1 0,Infinity=5 a=b", HB "For input string: \"infinity\""),
    H("histogram m 1 0,1=x:y a=b", HB "For input string: \"x\""),    /* the first bad one */
    H("histogram m 1 x ", HB "Improperly formatted bucket: x"),      /* before the tags */
    /* ---- checkTimestampAndTags: the encoded histogram ------------------ */
    H(TS14 "u=1:o=2:0,1=5 a=b",
      HB BADTS "[0, 0, 1, 0, 0, 0, 0, 63, -128, 0, 0, 5, 1, 2]/0 to metric=m, tags={a=b}"),
    H(TS14 "2,3=1:0,1=300:U=0:O=0 a=b",                             /* sorted; var-long 300 */
      HB BADTS "[0, 0, 2, 0, 0, 0, 0, 63, -128, 0, 0, -84, 2, 64, 0, 0, 0, 64, 64, 0, 0, 1, 0, "
               "0]/0 to metric=m, tags={a=b}"),
    H(TS14 "0,1=1:-0,1=2 a=b",                                        /* -0.0 first */
      HB BADTS "[0, 0, 2, -128, 0, 0, 0, 63, -128, 0, 0, 2, 0, 0, 0, 0, 63, -128, 0, 0, 1, 0, "
               "0]/0 to metric=m, tags={a=b}"),
    H(TS14 "0,1=1:0.0,1.0=7 a=b",                                     /* the same bounds */
      HB BADTS "[0, 0, 1, 0, 0, 0, 0, 63, -128, 0, 0, 7, 0, 0]/0 to metric=m, tags={a=b}"),
    H(TS14 "u=-1 a=b",
      HB BADTS "[0, 0, 0, -1, -1, -1, -1, -1, -1, -1, -1, -1, 0]/0 to metric=m, tags={a=b}"),
    H(TS14 "3 AAEC a=b", HB BADTS "[3, 0, 1, 2]/0 to metric=m, tags={a=b}"),
    H(TS14 "u=0 ", HB BADTS "[0, 0, 0, 0, 0]/0 to metric=m, tags={}"), /* before the count */
    /* ---- checkMetricAndTags ---------------------------------------------- */
    H("histogram m 1 u=0 ", HB "Need at least one tag (metric=m, tags={})"),
    H("histogram m 1 0 AAEC", HB "Need at least one tag (metric=m, tags={})"),
    H("histogram m 1 u=0 " T9,
      HB "Too many tags: 9 maximum allowed: 8, tags: {t4=4, t5=5, t6=6, t7=7, t8=8, t9=9, t1=1, "
         "t2=2, t3=3}"),
    H("histogram m! 1 u=0:o=0 a=b", HB "Invalid metric name (\"m!\"): illegal character: !"),
    H("histogram m 1 u=0 a=b!", HB "Invalid tag value with key [a] (\"b!\"): illegal character: !"),
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

/* SimpleHistogram.addBucket into a TreeMap: Float.compare order, the
 * same bounds keep the last count, and a bound limit. */
START_TEST(test_buckets)
{
    static struct histogram h;
    histogram_init(&h);
    ck_assert(histogram_add(&h, 2.0f, 3.0f, 1));
    ck_assert(histogram_add(&h, 0.0f, 1.0f, 2));
    ck_assert(histogram_add(&h, -0.0f, 1.0f, 3));
    ck_assert(histogram_add(&h, 0.0f, 0.5f, 4));
    ck_assert(histogram_add(&h, 2.0f, 3.0f, 5));
    ck_assert_int_eq(h.nbuckets, 4);
    ck_assert(signbit(h.b[0].lo));
    ck_assert(h.b[1].lo == 0.0f && h.b[1].hi == 0.5f && h.b[1].count == 4);
    ck_assert(h.b[2].hi == 1.0f && h.b[2].count == 2);
    ck_assert(h.b[3].lo == 2.0f && h.b[3].count == 5);
    histogram_init(&h);
    for (int i = 0; i < HISTOGRAM_MAX_BUCKETS; i++)
        ck_assert(histogram_add(&h, (float)i, (float)i + 1, i));
    ck_assert(!histogram_add(&h, -1.0f, 0.0f, 1));
    ck_assert(histogram_add(&h, 0.0f, 1.0f, 9)); /* an update still fits */
}
END_TEST

/* java.lang's Long.parseLong and Float.parseFloat, directly. */
START_TEST(test_java_numbers)
{
    struct point_error err;
    int64_t v;
    float f;
    ck_assert_int_eq(histogram_parse_long("-9223372036854775808", 20, &v, &err), TS_OK);
    ck_assert(v == INT64_MIN);
    ck_assert_int_eq(histogram_parse_long("00000000000000000000000042", 26, &v, &err), TS_OK);
    ck_assert(v == 42); /* no length limit (Tags.parseLong has one) */
    ck_assert_int_eq(histogram_parse_long("+", 1, &v, &err), TS_ERROR);
    ck_assert_str_eq(err.msg, "For input string: \"+\"");
    ck_assert_int_eq(histogram_parse_long(" 1", 2, &v, &err), TS_ERROR);
    ck_assert_int_eq(histogram_parse_float(" 1.5f\t", 6, &f, &err), TS_OK);
    ck_assert(f == 1.5f);
    ck_assert_int_eq(histogram_parse_float("1e39", 4, &f, &err), TS_OK);
    ck_assert(isinf(f)); /* a float overflows where a double would not */
    ck_assert_int_eq(histogram_parse_float(" x ", 3, &f, &err), TS_ERROR);
    ck_assert_str_eq(err.msg, "For input string: \"x\"");
    ck_assert_int_eq(histogram_parse_float("  ", 2, &f, &err), TS_ERROR);
    ck_assert_str_eq(err.msg, "empty String");
}
END_TEST

/* The relay's 1024 bytes: a longer value is refused before it is read. */
START_TEST(test_line_limit)
{
    char line[3000];
    int n = snprintf(line, sizeof(line), "histogram m 1 ");
    while (n < 2000)
        n += snprintf(line + n, sizeof(line) - (size_t)n, "%d,%d=1:", n, n + 1);
    n += snprintf(line + n, sizeof(line) - (size_t)n, "u=0 a=b");
    struct point p;
    struct point_error err;
    ck_assert_int_eq(histogram_parse_line(&rules, line, (size_t)n, &p, &err), TS_ERROR);
    ck_assert(err.relay);
    ck_assert_int_eq(err.cmd, CMD_HISTOGRAM);
}
END_TEST

static Suite *
histogram_suite(void)
{
    Suite *s = suite_create("histogram");
    TCase *tc = tcase_create("table");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_loop_test(tc, test_table, 0, (int)TS_ARRAY_LEN(rows));
    suite_add_tcase(s, tc);
    tc = tcase_create("parts");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_buckets);
    tcase_add_test(tc, test_java_numbers);
    tcase_add_test(tc, test_line_limit);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(histogram_suite)
