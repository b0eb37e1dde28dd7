/*
 * check_json.c -- unit tests for json.c: OpenTSDB /api/put datapoints
 * (object or array) to canonical put lines; each datapoint independent
 * (valid ones emitted, counts in json_result); the HTTP pre-checks and
 * their messages (spec/opentsdb-telnet.md section 8); values as numbers or
 * strings and json_format_double's exact round trip; timestamps as numbers
 * or strings; Unicode names converted to ISO-8859-1 bytes (above U+00FF
 * rejected); whole-document errors; /api/rollup's and /api/histogram's
 * datapoints (their fields, pre-checks and rules, the lines they go as).
 * The sink is a fake that records.
 */
#include "autoconf.h"

#include <float.h>
#include <math.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "input/ingest.h"
#include "input/json.h"
#include "base/point.h"
#include "unit.h"
#include "base/util.h"

#define MAX_ERRS 16

struct rec_err {
    enum point_err_kind kind;
    bool relay;
    bool has_dp;
    char reply[POINT_ERR_MAX * 2 + 64];   /* point_error_format, NUL-terminated */
    char input[600];                      /* NUL-terminated */
    size_t ilen;
};

static struct {
    struct sink sink;
    struct ingest_stats st;
    struct point_rules rules;
    char emitted[200000];
    size_t emitted_len;
    int nemit;
    struct rec_err errs[MAX_ERRS];
    int nerr;
    const char *refuse_metric;            /* the fake owner refuses this metric */
} F;

static int
fake_emit(struct sink *s, const char *line, size_t len, uint64_t hash, struct point_error *why)
{
    /* the hash handed along must be the line's own series hash */
    ck_assert_uint_eq(hash, point_line_hash(line, len));
    ck_assert_ptr_eq(s, &F.sink);
    ck_assert_uint_le(F.emitted_len + len, sizeof(F.emitted));
    ck_assert(len > 0 && line[len - 1] == '\n');
    size_t ml = F.refuse_metric != NULL ? strlen(F.refuse_metric) : 0;
    if (ml > 0 && len > 4 + ml && memcmp(line + 4, F.refuse_metric, ml) == 0 &&
        line[4 + ml] == ' ') {
        *why = (struct point_error){ .kind = PE_REFUSED, .cmd = CMD_PUT, .relay = true };
        why->len = (size_t)snprintf(why->msg, sizeof(why->msg), "%s is over a limit",
                                    F.refuse_metric);
        return TS_REFUSED;
    }
    memcpy(F.emitted + F.emitted_len, line, len);
    F.emitted_len += len;
    F.nemit++;
    return TS_OK;
}

static void
fake_error(struct sink *s, const struct point_error *e, const char *input, size_t ilen,
           const void *json_dp)
{
    ck_assert_ptr_eq(s, &F.sink);
    if (F.nerr >= MAX_ERRS)
        return;
    struct rec_err *r = &F.errs[F.nerr++];
    r->kind = e->kind;
    r->relay = e->relay;
    r->has_dp = json_dp != NULL;
    size_t n = point_error_format(e, r->reply, sizeof(r->reply) - 1);
    r->reply[n] = '\0';
    r->ilen = ilen;
    size_t k = TS_MIN(ilen, sizeof(r->input) - 1);
    memcpy(r->input, input, k);
    r->input[k] = '\0';
}

static void
setup(void)
{
    json_init();
    memset(&F, 0, sizeof(F));
    point_rules_init(&F.rules, 8, NULL);
    F.sink.rules = &F.rules;
    F.sink.stats = &F.st;
    F.sink.emit = fake_emit;
    F.sink.on_error = fake_error;
    F.sink.owner = &F;
}

static struct json_result R;
static struct point_error DE;

static int
ingest(const char *doc)
{
    memset(&DE, 0, sizeof(DE));
    return json_ingest(&F.sink, doc, strlen(doc), &R, &DE);
}

#define EMITTED_IS(want)                                                                  \
    do {                                                                                  \
        ck_assert_msg(F.emitted_len == strlen(want) &&                                   \
                          memcmp(F.emitted, want, F.emitted_len) == 0,                    \
                      "emitted [%s], want [%s]", esc(F.emitted, F.emitted_len),  \
                      esc(want, strlen(want))); \
    } while (0)

#define RESULT_IS(p, o, f)                  \
    do {                                    \
        ck_assert_uint_eq(R.points, (p));   \
        ck_assert_uint_eq(R.ok, (o));       \
        ck_assert_uint_eq(R.failed, (f));   \
    } while (0)

/* A one-datapoint document with a given value/timestamp/tags text. */
static int
ingest_dp(const char *metric_json, const char *ts_json, const char *value_json,
          const char *tags_json)
{
    static char doc[8192];
    snprintf(doc, sizeof(doc), "{\"metric\":%s,\"timestamp\":%s,\"value\":%s,\"tags\":%s}",
             metric_json, ts_json, value_json, tags_json);
    return ingest(doc);
}

/* ---- documents -------------------------------------------------------------- */

START_TEST(test_object)
{
    ck_assert_int_eq(ingest("{\"metric\":\"sys.cpu.user\",\"timestamp\":1364410924,"
                            "\"value\":42,\"tags\":{\"host\":\"web01\",\"dc\":\"lga\"}}"),
                     TS_OK);
    RESULT_IS(1, 1, 0);
    EMITTED_IS("put sys.cpu.user 1364410924 42 dc=lga host=web01\n");
    ck_assert_int_eq(F.nerr, 0);
    ck_assert_uint_eq(F.st.received, 1);
    ck_assert_uint_eq(F.st.invalid, 0);
}
END_TEST

START_TEST(test_array)
{
    ck_assert_int_eq(
        ingest("  \n[{\"metric\":\"a\",\"timestamp\":1,\"value\":1,\"tags\":{\"k\":\"v\"}},"
               "{\"tags\":{\"k\":\"w\"},\"value\":2,\"timestamp\":2,\"metric\":\"b\"},"
               "{\"metric\":\"c\",\"timestamp\":3,\"value\":3,\"tags\":{\"k\":\"x\"},"
               "\"unknown\":[1,2,3]}]  "),
        TS_OK);
    RESULT_IS(3, 3, 0);
    EMITTED_IS("put a 1 1 k=v\nput b 2 2 k=w\nput c 3 3 k=x\n");
}
END_TEST

START_TEST(test_empty_array)
{
    ck_assert_int_eq(ingest("[]"), TS_OK);
    RESULT_IS(0, 0, 0);
    ck_assert_int_eq(F.nemit, 0);
}
END_TEST

START_TEST(test_mixed_valid_invalid)
{
    ck_assert_int_eq(
        ingest("[{\"metric\":\"a\",\"timestamp\":1,\"value\":1,\"tags\":{\"k\":\"v\"}},"
               "{\"metric\":\"\",\"timestamp\":1,\"value\":1,\"tags\":{\"k\":\"v\"}},"
               "{\"metric\":\"b\",\"timestamp\":2,\"value\":2.5,\"tags\":{\"k\":\"v\"}},"
               "{\"metric\":\"c!\",\"timestamp\":1,\"value\":1,\"tags\":{\"k\":\"v\"}},"
               "{\"metric\":\"d\",\"timestamp\":1,\"value\":\"x\",\"tags\":{\"k\":\"v\"}},"
               "7,"
               "{\"metric\":\"e\",\"timestamp\":3,\"value\":\"-3\",\"tags\":{\"k\":\"v\"}}]"),
        TS_OK);
    RESULT_IS(7, 3, 4);
    EMITTED_IS("put a 1 1 k=v\nput b 2 2.5 k=v\nput e 3 -3 k=v\n");
    ck_assert_int_eq(F.nerr, 4);
    ck_assert_str_eq(F.errs[0].reply, "put: illegal argument: Metric name was empty");
    ck_assert_str_eq(F.errs[0].input,
                     "{\"metric\":\"\",\"timestamp\":1,\"value\":1,\"tags\":{\"k\":\"v\"}}");
    ck_assert_str_eq(F.errs[1].reply,
                     "put: illegal argument: Invalid metric name (\"c!\"): illegal character: !");
    ck_assert_str_eq(F.errs[2].reply, "put: invalid value: Invalid character 'x' in x");
    ck_assert_int_eq(F.errs[2].kind, PE_INVALID_VALUE);
    ck_assert_str_eq(F.errs[3].reply, "put: illegal argument: Datapoint is not a JSON object");
    ck_assert_uint_eq(F.st.received, 7);
    ck_assert_uint_eq(F.st.invalid, 4);
}
END_TEST

/* A valid datapoint the relay refuses (its rules or limits) fails like an
 * invalid one in the answer, counted as refused; the others go through. */
START_TEST(test_refused_datapoint)
{
    F.refuse_metric = "b";
    ck_assert_int_eq(
        ingest("[{\"metric\":\"a\",\"timestamp\":1,\"value\":1,\"tags\":{\"k\":\"v\"}},"
               "{\"metric\":\"b\",\"timestamp\":2,\"value\":2,\"tags\":{\"k\":\"v\"}},"
               "{\"metric\":\"c\",\"timestamp\":3,\"value\":3,\"tags\":{\"k\":\"v\"}}]"),
        TS_OK);
    RESULT_IS(3, 2, 1);
    EMITTED_IS("put a 1 1 k=v\nput c 3 3 k=v\n");
    ck_assert_int_eq(F.nerr, 1);
    ck_assert_str_eq(F.errs[0].reply, "put: refused: b is over a limit");
    ck_assert_str_eq(F.errs[0].input,
                     "{\"metric\":\"b\",\"timestamp\":2,\"value\":2,\"tags\":{\"k\":\"v\"}}");
    ck_assert_uint_eq(F.st.received, 3);
    ck_assert_uint_eq(F.st.refused, 1);
    ck_assert_uint_eq(F.st.invalid, 0);
}
END_TEST

/* The offending input of a rejected datapoint is its compact JSON, also
 * when the array element is not an object. */
START_TEST(test_non_object_echo)
{
    ck_assert_int_eq(ingest("[7,\"s\",[1,2]]"), TS_OK);
    RESULT_IS(3, 0, 3);
    ck_assert_int_eq(F.nerr, 3);
    ck_assert_str_eq(F.errs[0].reply, "put: illegal argument: Datapoint is not a JSON object");
    ck_assert_str_eq(F.errs[0].input, "7");
    ck_assert_str_eq(F.errs[1].input, "\"s\"");
    ck_assert_str_eq(F.errs[2].input, "[1,2]");
}
END_TEST

/* Each datapoint is independent (spec 8): an integer value beyond 64 bits
 * is one bad point (the TSD reads the value as text: "Value too long"),
 * not a reason to drop its good neighbours. */
START_TEST(test_big_integer_value_is_one_bad_point)
{
    int rc = ingest("[{\"metric\":\"a\",\"timestamp\":1,\"value\":1,\"tags\":{\"k\":\"v\"}},"
                    "{\"metric\":\"b\",\"timestamp\":1,\"value\":100000000000000000000,"
                    "\"tags\":{\"k\":\"v\"}}]");
    ck_assert_msg(rc == TS_OK, "whole document rejected: %s", DE.msg);
    RESULT_IS(2, 1, 1);
    EMITTED_IS("put a 1 1 k=v\n");
}
END_TEST

START_TEST(test_timestamp_out_of_range)
{
    static const char *const ts[] = { "1e300", "-1e300", "9.3e18", "\"99999999999999999999\"" };
    for (size_t i = 0; i < TS_ARRAY_LEN(ts); i++) {
        setup();
        ck_assert_int_eq(ingest_dp("\"m\"", ts[i], "1", "{\"a\":\"b\"}"), TS_OK);
        ck_assert_msg(F.nemit == 0, "timestamp %s emitted [%s]", ts[i],
                      esc(F.emitted, F.emitted_len));
        RESULT_IS(1, 0, 1);
    }
}
END_TEST

START_TEST(test_result_counts_add_up)
{
    ingest("[{\"metric\":\"a\",\"timestamp\":1,\"value\":1,\"tags\":{\"k\":\"v\"}},1,\"s\",null,"
           "{\"metric\":\"b\",\"timestamp\":1,\"value\":1,\"tags\":{\"k\":\"v\"}}]");
    RESULT_IS(5, 2, 3);
    ck_assert_uint_eq(R.ok + R.failed, R.points);
    ck_assert_int_eq(F.nerr, 3);
    ck_assert_uint_eq(F.st.received, 5);
    ck_assert_uint_eq(F.st.invalid, 3);
}
END_TEST

/* ---- the TSD's HTTP pre-checks ---------------------------------------------------- */

struct pre {
    const char *doc;
    const char *reply;
};

static const struct pre pres[] = {
    { "{\"timestamp\":1,\"value\":1,\"tags\":{\"a\":\"b\"}}",
      "put: illegal argument: Metric name was empty" },
    { "{\"metric\":\"\",\"timestamp\":1,\"value\":1,\"tags\":{\"a\":\"b\"}}",
      "put: illegal argument: Metric name was empty" },
    { "{\"metric\":null,\"timestamp\":1,\"value\":1,\"tags\":{\"a\":\"b\"}}",
      "put: illegal argument: Metric name was empty" },
    { "{\"metric\":\"m\",\"value\":1,\"tags\":{\"a\":\"b\"}}",
      "put: illegal argument: Invalid timestamp" },
    { "{\"metric\":\"m\",\"timestamp\":0,\"value\":1,\"tags\":{\"a\":\"b\"}}",
      "put: illegal argument: Invalid timestamp" },
    { "{\"metric\":\"m\",\"timestamp\":-1,\"value\":1,\"tags\":{\"a\":\"b\"}}",
      "put: illegal argument: Invalid timestamp" },
    { "{\"metric\":\"m\",\"timestamp\":\"abc\",\"value\":1,\"tags\":{\"a\":\"b\"}}",
      "put: illegal argument: Invalid timestamp" },
    { "{\"metric\":\"m\",\"timestamp\":1,\"tags\":{\"a\":\"b\"}}",
      "put: illegal argument: Empty value" },
    { "{\"metric\":\"m\",\"timestamp\":1,\"value\":\"\",\"tags\":{\"a\":\"b\"}}",
      "put: illegal argument: Empty value" },
    { "{\"metric\":\"m\",\"timestamp\":1,\"value\":null,\"tags\":{\"a\":\"b\"}}",
      "put: illegal argument: Empty value" },
    { "{\"metric\":\"m\",\"timestamp\":1,\"value\":1}", "put: illegal argument: Missing tags" },
    { "{\"metric\":\"m\",\"timestamp\":1,\"value\":1,\"tags\":{}}",
      "put: illegal argument: Missing tags" },
    { "{\"metric\":\"m\",\"timestamp\":1,\"value\":1,\"tags\":null}",
      "put: illegal argument: Missing tags" },
    /* check order: metric, timestamp, value, tags */
    { "{\"metric\":\"\",\"timestamp\":0,\"value\":\"\",\"tags\":{}}",
      "put: illegal argument: Metric name was empty" },
    { "{\"metric\":\"m\",\"timestamp\":0,\"value\":\"\",\"tags\":{}}",
      "put: illegal argument: Invalid timestamp" },
    { "{\"metric\":\"m\",\"timestamp\":1,\"value\":\"\",\"tags\":{}}",
      "put: illegal argument: Empty value" },
    /* then table 2.1's checks */
    { "{\"metric\":\"m\",\"timestamp\":1,\"value\":\"1e400\",\"tags\":{\"a\":\"b\"}}",
      "put: illegal argument: value is NaN or Infinite: Infinity for metric=m timestamp=1" },
    { "{\"metric\":\"m\",\"timestamp\":1,\"value\":\"1.2.3\",\"tags\":{\"a\":\"b\"}}",
      "put: invalid value: multiple points" },
    { "{\"metric\":\"m\",\"timestamp\":10000000000000,\"value\":1,\"tags\":{\"a\":\"b\"}}",
      "put: illegal argument: bad timestamp=10000000000000 when trying to add value=[1]/0 to "
      "metric=m, tags={a=b}" },
    { "{\"metric\":\"m\",\"timestamp\":1,\"value\":1,\"tags\":{\"a\":\"b!\"}}",
      "put: illegal argument: Invalid tag value with key [a] (\"b!\"): illegal character: !" },
    { "{\"metric\":\"m\",\"timestamp\":1,\"value\":1,\"tags\":{\"a\":\"x!\",\"p\":\"y!\"}}",
      "put: illegal argument: Invalid tag value with key [p] (\"y!\"): illegal character: !" },
    { "{\"metric\":\"m\",\"timestamp\":1,\"value\":1,\"tags\":{\"t1\":\"1\",\"t2\":\"2\",\"t3\":"
      "\"3\",\"t4\":\"4\",\"t5\":\"5\",\"t6\":\"6\",\"t7\":\"7\",\"t8\":\"8\",\"t9\":\"9\"}}",
      "put: illegal argument: Too many tags: 9 maximum allowed: 8, tags: {t4=4, t5=5, t6=6, "
      "t7=7, t8=8, t9=9, t1=1, t2=2, t3=3}" },
    { "{\"metric\":\"m\",\"timestamp\":1,\"value\":1,\"tags\":{\"\":\"b\"}}",
      "put: illegal argument: invalid tag: =b" },
    { "{\"metric\":\"m\",\"timestamp\":1,\"value\":1,\"tags\":{\"a\":\"\"}}",
      "put: illegal argument: invalid tag: a=" },
    /* no way to smuggle a space or a newline into the put line */
    { "{\"metric\":\"m x\",\"timestamp\":1,\"value\":1,\"tags\":{\"a\":\"b\"}}",
      "put: illegal argument: Invalid metric name (\"m x\"): illegal character:  " },
    { "{\"metric\":\"m\",\"timestamp\":1,\"value\":1,\"tags\":{\"a\":\"b\\nput x 1 1 c=d\"}}",
      /* a reply is one line: the newline is echoed as the two characters \n */
      "put: illegal argument: Invalid tag value with key [a] (\"b\\nput x 1 1 c=d\"): illegal "
      "character: \\n" },
    { "{\"metric\":\"m\",\"timestamp\":1,\"value\":\"1 c=d\",\"tags\":{\"a\":\"b\"}}",
      "put: invalid value: Invalid character ' ' in 1 c=d" },
    { "{\"metric\":\"m\",\"timestamp\":1,\"value\":\"1.5 c=d\",\"tags\":{\"a\":\"b\"}}",
      "put: invalid value: For input string: \"1.5 c=d\"" },
};

START_TEST(test_prechecks)
{
    const struct pre *w = &pres[_i];
    ck_assert_int_eq(ingest(w->doc), TS_OK);
    RESULT_IS(1, 0, 1);
    ck_assert_int_eq(F.nemit, 0);
    ck_assert_int_eq(F.nerr, 1);
    ck_assert_msg(strcmp(F.errs[0].reply, w->reply) == 0, "doc %s: got [%s], want [%s]",
                  esc(w->doc, strlen(w->doc)), esc(F.errs[0].reply, strlen(F.errs[0].reply)),
                  esc(w->reply, strlen(w->reply)));
    ck_assert(!F.errs[0].relay);
    ck_assert_msg(F.errs[0].input[0] == '{', "the datapoint is echoed as sent: %s",
                  F.errs[0].input);
    ck_assert_uint_eq(F.st.invalid, 1);
}
END_TEST


/* ---- /api/rollup and /api/histogram datapoints ------------------------------ */

/* Rows taken from the TSD's source: RollUpDataPoint.validate ("Missing
 * interval" / "Missing aggregator" unless a group-by aggregator is given,
 * after IncomingDataPoint.validate), processDataPoint (is_groupby is
 * groupByAggregator != null), TSDB.addAggregatePoint; HistogramPojo
 * .validate (metric, timestamp, tags, then buckets without a value or an
 * id of 0..255 with one), toSimpleHistogram (bounds split on ','; a
 * NumberFormatException is "Unable to parse value to a number" in the
 * HTTP answer: PE_INVALID_VALUE here), addHistogramPoint's checks (their
 * plain messages: the HTTP path throws them synchronously).  A row's
 * want is the line forwarded ("...\n"), or point_error_format's reply. */
struct kind_row {
    enum point_cmd cmd;
    const char *doc;
    const char *want;
    bool relay;          /* the relay's own refusal */
};

#define DP "\"metric\":\"m\",\"timestamp\":1,\"tags\":{\"a\":\"b\"}"
#define DPV DP ",\"value\":1"
#define RO(fields, want) { CMD_ROLLUP, "{" DPV fields "}", want, false }
#define HI(fields, want) { CMD_HISTOGRAM, "{" DP fields "}", want, false }
#define RA "rollup: illegal argument: "
#define HA "histogram: illegal argument: "

static const struct kind_row kind_rows[] = {
    RO(",\"interval\":\"1h\",\"aggregator\":\"sum\"", "rollup 1h-sum m 1 1 a=b\n"),
    RO(",\"interval\":\"1h\",\"aggregator\":\"sum\",\"groupByAggregator\":\"max\"",
       "rollup 1h-sum:max m 1 1 a=b\n"),
    RO(",\"groupByAggregator\":\"sum\"", "rollup sum m 1 1 a=b\n"),
    RO(",\"interval\":\"1h\",\"groupByAggregator\":\"max\"", "rollup 1h-:max m 1 1 a=b\n"),
    RO(",\"aggregator\":\"sum\",\"groupByAggregator\":\"max\"", "rollup -sum:max m 1 1 a=b\n"),
    RO(",\"interval\":\"1h\",\"aggregator\":\"sum\",\"groupByAggregator\":null",
       "rollup 1h-sum m 1 1 a=b\n"),
    RO(",\"interval\":\"1h\",\"aggregator\":\"sum\",\"other\":[1]", "rollup 1h-sum m 1 1 a=b\n"),
    RO(",\"aggregator\":\"sum\"", RA "Missing interval"),
    RO(",\"interval\":\"\",\"aggregator\":\"sum\"", RA "Missing interval"),
    RO(",\"interval\":\"1h\"", RA "Missing aggregator"),
    RO(",\"groupByAggregator\":\"\",\"aggregator\":\"sum\"", RA "Missing interval"),
    { CMD_ROLLUP, "{\"timestamp\":1,\"value\":1,\"tags\":{\"a\":\"b\"}}",
      RA "Metric name was empty", false },                         /* the common ones first */
    { CMD_ROLLUP, "{" DP "}", RA "Empty value", false },
    RO(",\"interval\":\"1h\",\"aggregator\":\"sum\",\"groupByAggregator\":\"\"",
       RA "Cannot write a group by data point without specifying the aggregation function. "
          "Metric=m tags={a=b}"),
    { CMD_ROLLUP, "{\"metric\":\"m\",\"timestamp\":1364410924250,\"value\":1,\"tags\":{\"a\":"
      "\"b\"},\"interval\":\"1h\",\"aggregator\":\"sum\"}",
      RA "bad timestamp=1364410924250 when trying to add value=[1]/0 to metric=m, tags={a=b}",
      false },
    { CMD_ROLLUP, "{\"metric\":\"m\",\"timestamp\":1,\"value\":1,\"tags\":{\"t1\":\"1\",\"t2\":"
      "\"2\",\"t3\":\"3\",\"t4\":\"4\",\"t5\":\"5\",\"t6\":\"6\",\"t7\":\"7\",\"t8\":\"8\"},"
      "\"groupByAggregator\":\"sum\"}",
      RA "Too many tags: 9 maximum allowed: 8, tags: {t4=4, t5=5, _aggregate=SUM, t6=6, t7=7, "
         "t8=8, t1=1, t2=2, t3=3}", false },
    RO(",\"interval\":\"1h\",\"aggregator\":\"avg\"",
       RA "Derived rollup aggregations are not allowed AVG with metric m {a=b}"),
    RO(",\"groupByAggregator\":\"foo\"",
       RA "Invalid group by aggregator foo with metric m {a=b, _aggregate=FOO}"),
    { CMD_ROLLUP, "{" DP ",\"value\":\"x\",\"interval\":\"1h\",\"aggregator\":\"sum\"}",
      "rollup: invalid value: Invalid character 'x' in x", false },
    RO(",\"interval\":{},\"aggregator\":\"sum\"",
       RA "Unable to parse the given JSON: a field holds a map or an array"),
    { CMD_ROLLUP, "{" DPV ",\"interval\":\"1-h\",\"aggregator\":\"sum\"}",
      RA "cannot be relayed as a telnet rollup line: the interval holds a blank or control "
         "character, or a '-' or ':' where the telnet word separates its parts", true },

    HI(",\"buckets\":{\"0,1\":5,\"1,2\":3},\"underflow\":1,\"overflow\":2",
       "histogram m 1 u=1:o=2:0,1=5:1,2=3 a=b\n"),
    HI(",\"buckets\":{\" 0 , 1.5E1 \":5}", "histogram m 1 u=0:o=0:0,1.5E1=5 a=b\n"),
    HI(",\"buckets\":{\"0,1\":1,\"1,2\":2,\"0,1\":3}", "histogram m 1 u=0:o=0:0,1=3:1,2=2 a=b\n"),
    HI(",\"buckets\":{\"0,1\":null,\"1,2\":\"7\",\"2,3\":7.9}",
       "histogram m 1 u=0:o=0:0,1=0:1,2=7:2,3=7 a=b\n"),
    HI(",\"value\":\"AAEC\",\"id\":3", "histogram m 1 3 AAEC a=b\n"),
    HI(",\"value\":\"AA\\nEC==\"", "histogram m 1 0 AAEC== a=b\n"),
    HI("", HA "Histogram buckets cannot be null or empty if 'value' is empty."),
    HI(",\"value\":\"\",\"buckets\":{}",
       HA "Histogram buckets cannot be null or empty if 'value' is empty."),
    HI(",\"value\":null,\"buckets\":null",
       HA "Histogram buckets cannot be null or empty if 'value' is empty."),
    HI(",\"value\":\"AAEC\",\"id\":256", HA "Invalid type. Must be from 0 to 255."),
    HI(",\"value\":\"AAEC\",\"id\":-1", HA "Invalid type. Must be from 0 to 255."),
    { CMD_HISTOGRAM, "{\"metric\":\"m\",\"timestamp\":1,\"buckets\":{}}", HA "Missing tags",
      false },                                                     /* the tags first */
    { CMD_HISTOGRAM, "{\"metric\":\"m\",\"timestamp\":0,\"buckets\":{\"0,1\":1},\"tags\":{\"a\":"
      "\"b\"}}", HA "Invalid timestamp", false },
    HI(",\"buckets\":{\"0,1\":1,\"0\":1}", HA "Unable to parse bucket bounds: 0"),
    HI(",\"buckets\":{\"0,1,2\":1}", HA "Unable to parse bucket bounds: 0,1,2"),
    HI(",\"buckets\":{\"x,1\":1}", "histogram: invalid value: For input string: \"x\""),
    HI(",\"buckets\":{\"0,1\":\"x\"}",
       HA "Unable to parse the given JSON: buckets: a count is not a long"),
    HI(",\"buckets\":[1]", HA "Unable to parse the given JSON: buckets: must map bounds to counts"),
    HI(",\"buckets\":{\"0,1\":1},\"id\":\"x\"",
       HA "Unable to parse the given JSON: id: not an int"),
    { CMD_HISTOGRAM, "{\"metric\":\"m\",\"timestamp\":10000000000000,\"buckets\":{\"0,1\":5},"
      "\"tags\":{\"a\":\"b\"}}",
      HA "bad timestamp=10000000000000 when trying to add value=[0, 0, 1, 0, 0, 0, 0, 63, -128, "
         "0, 0, 5, 0, 0]/0 to metric=m, tags={a=b}", false },
    { CMD_HISTOGRAM, "{\"metric\":\"m!\",\"timestamp\":1,\"buckets\":{\"0,1\":5},"
      "\"tags\":{\"a\":\"b\"}}", HA "Invalid metric name (\"m!\"): illegal character: !", false },
    { CMD_HISTOGRAM, "{" DP ",\"buckets\":{\"0,Infinity\":1}}",
      HA "cannot be relayed as a telnet histogram line: a bound is Infinity or NaN, which the "
         "TSD's telnet reader refuses", true },
    { CMD_HISTOGRAM, "{" DP ",\"value\":\"!!\",\"id\":1}",
      HA "cannot be relayed as a telnet histogram line: the value holds no base64", true },
};

START_TEST(test_kinds)
{
    const struct kind_row *w = &kind_rows[_i];
    memset(&DE, 0, sizeof(DE));
    ck_assert_int_eq(json_ingest_from(&F.sink, w->cmd, w->doc, strlen(w->doc), 0, &R, &DE), TS_OK);
    size_t wl = strlen(w->want);
    if (w->want[wl - 1] == '\n') {
        ck_assert_msg(F.nerr == 0, "doc %s: refused with [%s]", esc(w->doc, strlen(w->doc)),
                      F.nerr ? F.errs[0].reply : "");
        RESULT_IS(1, 1, 0);
        EMITTED_IS(w->want);
        return;
    }
    RESULT_IS(1, 0, 1);
    ck_assert_int_eq(F.nemit, 0);
    ck_assert_msg(F.nerr == 1 && strcmp(F.errs[0].reply, w->want) == 0,
                  "doc %s: got [%s], want [%s]", esc(w->doc, strlen(w->doc)),
                  F.nerr ? esc(F.errs[0].reply, strlen(F.errs[0].reply)) : "",
                  esc(w->want, wl));
    ck_assert_int_eq(F.errs[0].relay, w->relay);
}
END_TEST

/* ---- values ---------------------------------------------------------------------- */

START_TEST(test_values)
{
    static const struct {
        const char *json;
        const char *line;
    } v[] = {
        { "42", "put m 1 42 a=b\n" },
        { "-7", "put m 1 -7 a=b\n" },
        { "0", "put m 1 0 a=b\n" },
        { "9223372036854775807", "put m 1 9223372036854775807 a=b\n" },
        { "1.5", "put m 1 1.5 a=b\n" },
        { "0.1", "put m 1 0.1 a=b\n" },
        { "1.0", "put m 1 1.0 a=b\n" },
        { "-2.0", "put m 1 -2.0 a=b\n" },
        /* numbers keep their text, as the TSD (Jackson) reads them */
        { "1E2", "put m 1 1E2 a=b\n" },
        { "1e300", "put m 1 1e300 a=b\n" },
        { "1.50", "put m 1 1.50 a=b\n" },
        { "123456789.125", "put m 1 123456789.125 a=b\n" },
        { "\"42\"", "put m 1 42 a=b\n" },
        { "\"1.5e3\"", "put m 1 1.5e3 a=b\n" },
        { "\" 1.5 \"", "put m 1 1.5 a=b\n" },      /* trimmed like the TSD */
        { "\"1.5\\n\"", "put m 1 1.5 a=b\n" },
        { "\"0x1.8p1\"", "put m 1 0x1.8p1 a=b\n" },
    };
    for (size_t i = 0; i < TS_ARRAY_LEN(v); i++) {
        setup();
        ck_assert_int_eq(ingest_dp("\"m\"", "1", v[i].json, "{\"a\":\"b\"}"), TS_OK);
        ck_assert_msg(F.nerr == 0, "value %s: rejected [%s]", v[i].json, F.errs[0].reply);
        EMITTED_IS(v[i].line);
    }
}
END_TEST

START_TEST(test_values_rejected)
{
    static const struct {
        const char *json;
        const char *reply;
        enum point_err_kind kind;
    } v[] = {
        { "\"abc\"", "put: invalid value: Invalid character 'a' in abc", PE_INVALID_VALUE },
        { "\"NaN\"", "put: invalid value: Invalid character 'N' in NaN", PE_INVALID_VALUE },
        { "\"-1e400\"",
          "put: illegal argument: value is NaN or Infinite: -Infinity for metric=m timestamp=1",
          PE_ILLEGAL_ARGUMENT },
        { "true", "put: invalid value: For input string: \"true\"", PE_INVALID_VALUE },
        { "[1]", "put: invalid value: value is not a number", PE_INVALID_VALUE },
        { "{\"v\":1}", "put: invalid value: value is not a number", PE_INVALID_VALUE },
    };
    for (size_t i = 0; i < TS_ARRAY_LEN(v); i++) {
        setup();
        ck_assert_int_eq(ingest_dp("\"m\"", "1", v[i].json, "{\"a\":\"b\"}"), TS_OK);
        ck_assert_int_eq(F.nemit, 0);
        ck_assert_int_eq(F.nerr, 1);
        ck_assert_msg(strcmp(F.errs[0].reply, v[i].reply) == 0, "value %s: got [%s], want [%s]",
                      v[i].json, F.errs[0].reply, v[i].reply);
        ck_assert_int_eq(F.errs[0].kind, v[i].kind);
    }
}
END_TEST

/* A non-empty value the relay cannot parse is a parse error ("Unable to
 * parse value to a number" over HTTP, spec 8), never "Empty value". */
START_TEST(test_value_not_latin1_is_parse_error)
{
    ck_assert_int_eq(ingest_dp("\"m\"", "1", "\"1\\u20ac\"", "{\"a\":\"b\"}"), TS_OK);
    ck_assert_int_eq(F.nemit, 0);
    ck_assert_int_eq(F.nerr, 1);
    ck_assert_msg(F.errs[0].kind == PE_INVALID_VALUE, "got [%s]", F.errs[0].reply);
}
END_TEST

START_TEST(test_value_long_string_is_parse_error)
{
    char val[700];
    val[0] = '"';
    memset(val + 1, '1', 600);
    val[601] = '"';
    val[602] = '\0';
    ck_assert_int_eq(ingest_dp("\"m\"", "1", val, "{\"a\":\"b\"}"), TS_OK);
    ck_assert_int_eq(F.nemit, 0);
    ck_assert_int_eq(F.nerr, 1);
    /* the TSD: "Value too long: 111..." -> Unable to parse value to a number */
    ck_assert_msg(F.errs[0].kind == PE_INVALID_VALUE, "got [%s]", F.errs[0].reply);
}
END_TEST

START_TEST(test_format_double)
{
    static const struct {
        double d;
        const char *s;
    } exact[] = {
        { 0.1, "0.1" },
        { 1.0, "1.0" },
        { 1e300, "1e+300" },
        { 123456789.125, "123456789.125" },
        { -2.0, "-2.0" },
        { 100.0, "100.0" },
        { 0.30000000000000004, "0.30000000000000004" },
        { 9007199254740992.0, "9007199254740992.0" },
    };
    char out[64];
    for (size_t i = 0; i < TS_ARRAY_LEN(exact); i++) {
        size_t n = json_format_double(exact[i].d, out, sizeof(out));
        ck_assert_uint_lt(n, sizeof(out));
        out[n] = '\0';
        ck_assert_str_eq(out, exact[i].s);
    }
    /* any double: a '.' or an exponent, and strtod gives it back exactly */
    static const double any[] = {
        0.1, 1.0, 1e300, 123456789.125, 0.1 + 0.2, 5e-324, DBL_MAX, -DBL_MIN, 1e15, 1e16,
        1e22, 123456789012345678.0, 2.5e-5, -0.0, 1.0 / 3.0, 4294967296.0, 3.0e-310,
    };
    for (size_t i = 0; i < TS_ARRAY_LEN(any); i++) {
        size_t n = json_format_double(any[i], out, sizeof(out));
        ck_assert_uint_gt(n, 0);
        ck_assert_uint_lt(n, sizeof(out));
        out[n] = '\0';
        ck_assert_msg(strpbrk(out, ".eE") != NULL, "%s has no '.' or exponent", out);
        char *end;
        double back = strtod(out, &end);
        ck_assert_msg(back == any[i] && *end == '\0', "%.17g -> %s -> %.17g", any[i], out, back);
        ck_assert(signbit(back) == signbit(any[i]));
    }
    /* too small a buffer: 0, not a truncated number */
    ck_assert_uint_eq(json_format_double(123456789.125, out, 5), 0);
}
END_TEST

/* ---- timestamps -------------------------------------------------------------------- */

START_TEST(test_timestamps)
{
    static const struct {
        const char *json;
        const char *line;
    } t[] = {
        { "1364410924", "put m 1364410924 1 a=b\n" },
        { "1364410924250", "put m 1364410924250 1 a=b\n" },
        { "\"1364410924\"", "put m 1364410924 1 a=b\n" },
        { "\"1364410924250\"", "put m 1364410924250 1 a=b\n" },
        { "1364410924.9", "put m 1364410924 1 a=b\n" },    /* truncated, like Jackson */
        { "4294967295", "put m 4294967295 1 a=b\n" },
        { "9999999999999", "put m 9999999999999 1 a=b\n" },
    };
    for (size_t i = 0; i < TS_ARRAY_LEN(t); i++) {
        setup();
        ck_assert_int_eq(ingest_dp("\"m\"", t[i].json, "1", "{\"a\":\"b\"}"), TS_OK);
        ck_assert_msg(F.nerr == 0, "ts %s: rejected [%s]", t[i].json, F.errs[0].reply);
        EMITTED_IS(t[i].line);
    }
}
END_TEST

/* ---- Unicode names ------------------------------------------------------------------- */

START_TEST(test_unicode_latin1)
{
    /* escaped and raw UTF-8: both become the single byte 0xE9 */
    ck_assert_int_eq(ingest("[{\"metric\":\"caf\\u00e9\",\"timestamp\":1,\"value\":1,"
                            "\"tags\":{\"h\\u00f4te\":\"\\u00b5\"}},"
                            "{\"metric\":\"caf\xC3\xA9\",\"timestamp\":1,\"value\":1,"
                            "\"tags\":{\"a\":\"\xC3\xBF\"}}]"),
                     TS_OK);
    RESULT_IS(2, 2, 0);
    EMITTED_IS("put caf\xE9 1 1 h\xF4te=\xB5\nput caf\xE9 1 1 a=\xFF\n");
}
END_TEST

START_TEST(test_unicode_latin1_non_letter)
{
    /* U+00D7 fits a byte but is not a letter: the TSD's own error */
    ck_assert_int_eq(ingest_dp("\"m\\u00d7\"", "1", "1", "{\"a\":\"b\"}"), TS_OK);
    ck_assert_int_eq(F.nerr, 1);
    ck_assert_str_eq(F.errs[0].reply, "put: illegal argument: Invalid metric name (\"m\xC3\x97\"): "
                                      "illegal character: \xC3\x97");
}
END_TEST

static void
assert_rejected_above_ff(const char *metric, const char *tags, const char *what,
                         const char *cp)
{
    setup();
    ck_assert_int_eq(ingest_dp(metric, "1", "1", tags), TS_OK);
    RESULT_IS(1, 0, 1);
    ck_assert_int_eq(F.nemit, 0);
    ck_assert_int_eq(F.nerr, 1);
    ck_assert_msg(strstr(F.errs[0].reply, what) != NULL && strstr(F.errs[0].reply, cp) != NULL,
                  "want [%s] and [%s] in [%s]", what, cp, F.errs[0].reply);
    ck_assert_msg(strstr(F.errs[0].reply, "ISO-8859-1") != NULL, "[%s]", F.errs[0].reply);
}

START_TEST(test_unicode_above_ff)
{
    assert_rejected_above_ff("\"m\\u0100\"", "{\"a\":\"b\"}", "metric name", "U+0100");
    assert_rejected_above_ff("\"\\u4e2d\\u6587\"", "{\"a\":\"b\"}", "metric name", "U+4E2D");
    assert_rejected_above_ff("\"m\"", "{\"\xE4\xB8\xAD\":\"b\"}", "tag name", "U+4E2D");
    assert_rejected_above_ff("\"m\"", "{\"a\":\"\\u20ac\"}", "tag value", "U+20AC");
}
END_TEST

START_TEST(test_unicode_astral_named)
{
    /* U+1F600 (4 bytes in UTF-8): the message must name that character */
    assert_rejected_above_ff("\"m\\ud83d\\ude00\"", "{\"a\":\"b\"}", "metric name", "U+1F600");
}
END_TEST

/* ---- tags --------------------------------------------------------------------------- */

START_TEST(test_tags)
{
    ck_assert_int_eq(ingest_dp("\"m\"", "1", "1", "{\"z\":\"1\",\"a\":\"2\",\"m\":\"3\"}"), TS_OK);
    EMITTED_IS("put m 1 1 a=2 m=3 z=1\n");
    setup();
    /* a repeated key: the last value wins, as in a Java map */
    ck_assert_int_eq(ingest_dp("\"m\"", "1", "1", "{\"a\":\"b\",\"a\":\"c\"}"), TS_OK);
    EMITTED_IS("put m 1 1 a=c\n");
}
END_TEST

START_TEST(test_tag_values_must_be_strings)
{
    static const char *const bad[] = { "1", "1.5", "true", "null", "[\"x\"]", "{\"y\":\"z\"}" };
    for (size_t i = 0; i < TS_ARRAY_LEN(bad); i++) {
        setup();
        char tags[64];
        snprintf(tags, sizeof(tags), "{\"k\":\"v\",\"a\":%s}", bad[i]);
        ck_assert_int_eq(ingest_dp("\"m\"", "1", "1", tags), TS_OK);
        RESULT_IS(1, 0, 1);
        ck_assert_int_eq(F.nemit, 0);
        ck_assert_str_eq(F.errs[0].reply,
                         "put: illegal argument: invalid tag: a (the value must be a string)");
    }
}
END_TEST

/* ---- relay limits -------------------------------------------------------------------- */

START_TEST(test_long_names_relay_error)
{
    static char metric[2200];
    metric[0] = '"';
    memset(metric + 1, 'm', 1100);
    metric[1101] = '"';
    metric[1102] = '\0';
    ck_assert_int_eq(ingest_dp(metric, "1", "1", "{\"a\":\"b\"}"), TS_OK);
    ck_assert_int_eq(F.nerr, 1);
    ck_assert(F.errs[0].relay);
    ck_assert_str_eq(F.errs[0].reply, "put: illegal argument: line too long for the TSD: 1112 "
                                      "bytes, the limit is 1024 (a TSD closes the connection "
                                      "on a longer line)");
    setup();
    memset(metric + 1, 'm', 2100);
    metric[2101] = '"';
    metric[2102] = '\0';
    ck_assert_int_eq(ingest_dp(metric, "1", "1", "{\"a\":\"b\"}"), TS_OK);
    ck_assert_int_eq(F.nerr, 1);
    ck_assert(F.errs[0].relay);
    ck_assert_int_eq(F.nemit, 0);
}
END_TEST

START_TEST(test_long_datapoint_echo)
{
    /* the echoed datapoint of a rejected point is its compact JSON, cut to
     * what fits, never other bytes */
    static char doc[2000];
    char name[701];
    name[0] = '!';
    memset(name + 1, 'x', 699);
    name[700] = '\0';
    snprintf(doc, sizeof(doc), "{\"metric\":\"%s\",\"timestamp\":1,\"value\":1,\"tags\":{\"a\":\"b\"}}",
             name);
    ck_assert_int_eq(ingest(doc), TS_OK);
    ck_assert_int_eq(F.nerr, 1);
    ck_assert_uint_gt(F.errs[0].ilen, 0);
    ck_assert_uint_le(F.errs[0].ilen, strlen(doc));
    size_t k = TS_MIN(F.errs[0].ilen, sizeof(F.errs[0].input) - 1);
    ck_assert_msg(memcmp(F.errs[0].input, doc, k) == 0, "echo [%s...] is not a prefix of the "
                  "datapoint", esc(F.errs[0].input, TS_MIN(k, 24)));
}
END_TEST

START_TEST(test_many_points)
{
    size_t cap = 1000 * 80 + 16;
    char *doc = malloc(cap);
    ck_assert_ptr_nonnull(doc);
    for (int round = 0; round < 3; round++) {
        setup();
        size_t n = 0;
        doc[n++] = '[';
        for (int i = 0; i < 1000; i++)
            n += (size_t)snprintf(doc + n, cap - n,
                                  "%s{\"metric\":\"m\",\"timestamp\":%d,\"value\":%d,\"tags\":"
                                  "{\"k\":\"v\"}}",
                                  i ? "," : "", i + 1, i);
        doc[n++] = ']';
        ck_assert_int_eq(json_ingest(&F.sink, doc, n, &R, &DE), TS_OK);
        RESULT_IS(1000, 1000, 0);
        ck_assert_int_eq(F.nemit, 1000);
        ck_assert(memcmp(F.emitted, "put m 1 0 k=v\nput m 2 1 k=v\n", 28) == 0);
    }
    free(doc);
}
END_TEST

/* ---- whole-document errors -------------------------------------------------------- */

START_TEST(test_not_object_or_array)
{
    static const char *const docs[] = { "42", "\"x\"", "", "   \n", "null", "true", "x[" };
    for (size_t i = 0; i < TS_ARRAY_LEN(docs); i++) {
        setup();
        ck_assert_int_eq(ingest(docs[i]), TS_ERROR);
        ck_assert_int_eq(DE.kind, PE_ILLEGAL_ARGUMENT);
        ck_assert_int_eq(DE.cmd, CMD_PUT);
        ck_assert_uint_eq(DE.len, strlen("The JSON must start as an object or an array"));
        ck_assert_str_eq(DE.msg, "The JSON must start as an object or an array");
        RESULT_IS(0, 0, 0);
        ck_assert_int_eq(F.nemit, 0);
        ck_assert_int_eq(F.nerr, 0);
    }
}
END_TEST

/* The message the HTTP answer of the issue showed as "premature EOF\u000a
 * (at byte 15)". */
START_TEST(test_premature_eof_message)
{
    ck_assert_int_eq(ingest("[{\"metric\":\"m\""), TS_ERROR);
    ck_assert_str_eq(DE.msg, "Unable to parse the given JSON: parse error: premature EOF "
                             "(at byte 15)");
}
END_TEST

START_TEST(test_malformed)
{
    static const char *const docs[] = {
        "{",
        "[{\"metric\":\"m\",\"timestamp\":1,\"value\":1,\"tags\":{\"a\":\"b\"}},",
        "{\"metric\":}",
        "[{\"metric\":\"m\",\"timestamp\":1,\"value\":1,\"tags\":{\"a\":\"b\"}}] x",
        "{\"metric\":\"m\",\"timestamp\":1,\"value\":1,\"tags\":{\"a\":\"b\"}}{}",
        "{'metric':'m'}",
    };
    static const char pre[] = "Unable to parse the given JSON: ";
    for (size_t i = 0; i < TS_ARRAY_LEN(docs); i++) {
        setup();
        ck_assert_int_eq(ingest(docs[i]), TS_ERROR);
        ck_assert_int_eq(DE.kind, PE_ILLEGAL_ARGUMENT);
        ck_assert_msg(strncmp(DE.msg, pre, sizeof(pre) - 1) == 0, "doc %s: [%s]", docs[i], DE.msg);
        ck_assert_uint_eq(DE.len, strlen(DE.msg));
        /* one line: yajl's trailing newline is not in it (an HTTP answer
         * showed it as \u000a, a framed reply split there) */
        for (const char *p = DE.msg; *p != '\0'; p++)
            ck_assert_msg((unsigned char)*p >= 0x20, "doc %s: control byte in [%s]", docs[i],
                          DE.msg);
        /* a syntax error ends the document; complete datapoints before it
         * were already forwarded (streaming parser) */
        ck_assert_int_eq(R.points, R.ok + R.failed);
        ck_assert_int_eq((int)R.ok, F.nemit);
        ck_assert_int_eq(F.nemit, (i == 1 || i == 3 || i == 4) ? 1 : 0);
    }
}
END_TEST

static Suite *
json_suite(void)
{
    Suite *s = suite_create("json");
    TCase *tc = tcase_create("documents");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_object);
    tcase_add_test(tc, test_array);
    tcase_add_test(tc, test_empty_array);
    tcase_add_test(tc, test_mixed_valid_invalid);
    tcase_add_test(tc, test_refused_datapoint);
    tcase_add_test(tc, test_result_counts_add_up);
    tcase_add_test(tc, test_non_object_echo);
    tcase_add_test(tc, test_big_integer_value_is_one_bad_point);
    tcase_add_test(tc, test_many_points);
    tcase_add_test(tc, test_not_object_or_array);
    tcase_add_test(tc, test_malformed);
    tcase_add_test(tc, test_premature_eof_message);
    suite_add_tcase(s, tc);

    tc = tcase_create("datapoints");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_loop_test(tc, test_prechecks, 0, (int)TS_ARRAY_LEN(pres));
    tcase_add_loop_test(tc, test_kinds, 0, (int)TS_ARRAY_LEN(kind_rows));
    tcase_add_test(tc, test_values);
    tcase_add_test(tc, test_values_rejected);
    tcase_add_test(tc, test_value_not_latin1_is_parse_error);
    tcase_add_test(tc, test_value_long_string_is_parse_error);
    tcase_add_test(tc, test_format_double);
    tcase_add_test(tc, test_timestamps);
    tcase_add_test(tc, test_timestamp_out_of_range);
    tcase_add_test(tc, test_tags);
    tcase_add_test(tc, test_tag_values_must_be_strings);
    suite_add_tcase(s, tc);

    tc = tcase_create("names");
    tcase_add_checked_fixture(tc, setup, NULL);
    tcase_add_test(tc, test_unicode_latin1);
    tcase_add_test(tc, test_unicode_latin1_non_letter);
    tcase_add_test(tc, test_unicode_above_ff);
    tcase_add_test(tc, test_unicode_astral_named);
    tcase_add_test(tc, test_long_names_relay_error);
    tcase_add_test(tc, test_long_datapoint_echo);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(json_suite)
