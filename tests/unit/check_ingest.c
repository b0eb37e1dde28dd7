/*
 * check_ingest.c -- unit tests of the decoders' sink (src/input/ingest.c): from
 * a decoded line to a canonical put line, or an error.
 *
 * Covers: a valid put, rollup and histogram line is emitted once in its
 * canonical form ("\n"-terminated, tags sorted, single spaces) with the
 * series hash point_line_hash gives for that line, and counted received;
 * an implicit put (framed text) gets its "put "; an invalid line is
 * counted received and invalid, reported with the input as sent and the
 * TSD's error, and not emitted; no on_error callback is fine; a sink
 * without room (TS_EAGAIN) leaves the counters as they were, so the same
 * line offered again later counts once; a dropped point (TS_ENOMEM) is a
 * failure other than TS_EAGAIN and stays counted received; ingest_reject
 * counts and reports a point that failed before parsing (JSON shape),
 * passing its datapoint through.
 */
#include "autoconf.h"

#include <check.h>
#include <string.h>

#include "input/ingest.h"
#include "base/point.h"
#include "unit.h"
#include "base/util.h"

static struct point_rules rules;
static struct ingest_stats st;
static struct sink S;

static int emit_rc;        /* what the fake owner answers */
static int nemit, nerr;
static char emitted[2048];
static size_t emitted_len;
static uint64_t emitted_hash;
static struct point_error last_err;
static char err_input[256];
static size_t err_ilen;
static const void *err_dp;

static int
fake_emit(struct sink *s, const char *line, size_t len, uint64_t hash, struct point_error *why)
{
    ck_assert_ptr_eq(s, &S);
    nemit++;
    if (emit_rc == TS_REFUSED) { /* the relay's limits say why, as the TSD would */
        why->kind = PE_REFUSED;
        why->cmd = CMD_PUT;
        why->relay = true;
        why->len = (size_t)snprintf(why->msg, sizeof(why->msg), "over a limit");
    }
    ck_assert_uint_lt(len, sizeof(emitted));
    memcpy(emitted, line, len);
    emitted_len = len;
    emitted_hash = hash;
    return emit_rc;
}

static void
fake_error(struct sink *s, const struct point_error *e, const char *input, size_t ilen,
           const void *json_dp)
{
    ck_assert_ptr_eq(s, &S);
    nerr++;
    last_err = *e;
    err_ilen = TS_MIN(ilen, sizeof(err_input));
    memcpy(err_input, input, err_ilen);
    err_dp = json_dp;
}

static void
setup(void)
{
    point_rules_init(&rules, 8, "");
    memset(&st, 0, sizeof(st));
    S = (struct sink){ .rules = &rules, .stats = &st, .emit = fake_emit,
                       .on_error = fake_error, .owner = NULL };
    emit_rc = TS_OK;
    nemit = nerr = 0;
    emitted_len = 0;
    err_dp = NULL;
}

static int
ingest(enum point_cmd cmd, bool implicit, const char *line)
{
    return ingest_line(&S, cmd, implicit, line, strlen(line));
}

static void
expect_emitted(const char *want)
{
    ck_assert_msg(emitted_len == strlen(want) && memcmp(emitted, want, emitted_len) == 0,
                  "emitted \"%s\", not \"%s\"", esc(emitted, emitted_len),
                  esc(want, strlen(want)));
    ck_assert_uint_eq(emitted_hash, point_line_hash(emitted, emitted_len));
}

START_TEST(test_valid_lines)
{
    ck_assert_int_eq(ingest(CMD_PUT, false, "put sys.cpu 1700000000 42.5  host=a   dc=x "),
                     TS_OK);
    expect_emitted("put sys.cpu 1700000000 42.5 dc=x host=a\n");
    ck_assert_int_eq(ingest(CMD_ROLLUP, false, "rollup 1h-sum:max m 1 1.5  b=2 a=1"), TS_OK);
    expect_emitted("rollup 1h-sum:max m 1 1.5 a=1 b=2\n");
    ck_assert_int_eq(ingest(CMD_HISTOGRAM, false, "histogram m 1 42 AAEC  b=2 a=1"), TS_OK);
    expect_emitted("histogram m 1 42 AAEC a=1 b=2\n");
    ck_assert_int_eq(nemit, 3);
    ck_assert_int_eq(nerr, 0);
    ck_assert_uint_eq(st.received, 3);
    ck_assert_uint_eq(st.invalid, 0);
    /* the same series, other timestamp and value: the same hash */
    uint64_t h = emitted_hash;
    ck_assert_int_eq(ingest(CMD_HISTOGRAM, false, "histogram m 2 42 AAEC a=1 b=2"), TS_OK);
    ck_assert_uint_eq(emitted_hash, h);
}
END_TEST

START_TEST(test_implicit_put)
{
    ck_assert_int_eq(ingest(CMD_PUT, true, "sys.mem 1700000001 7 host=b"), TS_OK);
    expect_emitted("put sys.mem 1700000001 7 host=b\n");
    ck_assert_uint_eq(st.received, 1);
}
END_TEST

START_TEST(test_invalid_reported)
{
    const char *bad = "put sys.cpu notatime 1 host=a";
    ck_assert_int_eq(ingest(CMD_PUT, false, bad), TS_ERROR);
    ck_assert_int_eq(nemit, 0);
    ck_assert_int_eq(nerr, 1);
    ck_assert_uint_eq(st.received, 1);
    ck_assert_uint_eq(st.invalid, 1);
    ck_assert_uint_eq(err_ilen, strlen(bad));
    ck_assert(memcmp(err_input, bad, err_ilen) == 0);
    ck_assert_ptr_null(err_dp);
    ck_assert_int_ne(last_err.kind, PE_NONE);
    ck_assert_int_eq(last_err.cmd, CMD_PUT);
    char msg[POINT_ERR_MAX + 64];
    size_t n = point_error_format(&last_err, msg, sizeof(msg));
    ck_assert_msg(n > 5 && memcmp(msg, "put: ", 5) == 0, "reply \"%s\"", esc(msg, n));
    /* too many tags for the rules */
    ck_assert_int_eq(ingest(CMD_PUT, false, "put m 1 1 a=1 b=1 c=1 d=1 e=1 f=1 g=1 h=1 i=1"),
                     TS_ERROR);
    ck_assert_uint_eq(st.invalid, 2);
    /* without a callback: counted all the same */
    S.on_error = NULL;
    ck_assert_int_eq(ingest(CMD_ROLLUP, false, "rollup"), TS_ERROR);
    ck_assert_uint_eq(st.invalid, 3);
    ck_assert_uint_eq(st.received, 3);
    ck_assert_int_eq(nerr, 2);
    ck_assert_int_eq(nemit, 0);
}
END_TEST

START_TEST(test_no_room_counts_nothing)
{
    emit_rc = TS_EAGAIN;
    ck_assert_int_eq(ingest(CMD_PUT, false, "put m 1 1 a=b"), TS_EAGAIN);
    ck_assert_int_eq(ingest(CMD_PUT, false, "put m 1 1 a=b"), TS_EAGAIN);
    ck_assert_int_eq(nemit, 2);
    ck_assert_uint_eq(st.received, 0);
    ck_assert_uint_eq(st.invalid, 0);
    /* room again: the line counts once */
    emit_rc = TS_OK;
    ck_assert_int_eq(ingest(CMD_PUT, false, "put m 1 1 a=b"), TS_OK);
    ck_assert_uint_eq(st.received, 1);
    expect_emitted("put m 1 1 a=b\n");
}
END_TEST

START_TEST(test_dropped)
{
    emit_rc = TS_ENOMEM;
    int rc = ingest(CMD_PUT, false, "put m 1 1 a=b");
    ck_assert_int_ne(rc, TS_OK);
    ck_assert_int_ne(rc, TS_EAGAIN); /* the decoder goes on past it */
    ck_assert_uint_eq(st.received, 1);
    ck_assert_uint_eq(st.invalid, 0);  /* the owner counts drops */
    ck_assert_int_eq(nerr, 0);
}
END_TEST

START_TEST(test_refused)
{
    emit_rc = TS_REFUSED;
    ck_assert_int_eq(ingest(CMD_PUT, false, "put m 1 1 a=b"), TS_ERROR);
    ck_assert_uint_eq(st.received, 1);
    ck_assert_uint_eq(st.refused, 1);
    ck_assert_uint_eq(st.invalid, 0); /* valid: refused, not invalid */
    ck_assert_int_eq(nerr, 1);        /* answered like an invalid point */
    ck_assert_int_eq(last_err.kind, PE_REFUSED);
    ck_assert_str_eq(last_err.msg, "over a limit");
    ck_assert_uint_eq(err_ilen, strlen("put m 1 1 a=b"));
    char text[256];
    size_t n = point_error_format(&last_err, text, sizeof(text) - 1);
    text[n] = '\0';
    ck_assert_str_eq(text, "put: refused: over a limit");
}
END_TEST

START_TEST(test_reject)
{
    struct point_error e = { .kind = PE_ILLEGAL_ARGUMENT, .cmd = CMD_PUT };
    e.len = (size_t)snprintf(e.msg, sizeof(e.msg), "metric must be a string");
    int dp = 0;
    const char *in = "{\"metric\":1}";
    ingest_reject(&S, &e, in, strlen(in), &dp);
    ck_assert_int_eq(nerr, 1);
    ck_assert_uint_eq(st.invalid, 1);
    ck_assert_uint_eq(st.received, 0); /* the JSON path counts received itself */
    ck_assert_ptr_eq(err_dp, &dp);
    ck_assert_uint_eq(err_ilen, strlen(in));
    ck_assert_str_eq(last_err.msg, "metric must be a string");
    S.on_error = NULL;
    ingest_reject(&S, &e, in, strlen(in), NULL);
    ck_assert_uint_eq(st.invalid, 2);
}
END_TEST

static Suite *
ingest_suite(void)
{
    Suite *s = suite_create("ingest");
    TCase *t = tcase_create("ingest");
    tcase_add_checked_fixture(t, setup, NULL);
    tcase_add_test(t, test_valid_lines);
    tcase_add_test(t, test_implicit_put);
    tcase_add_test(t, test_invalid_reported);
    tcase_add_test(t, test_no_room_counts_nothing);
    tcase_add_test(t, test_dropped);
    tcase_add_test(t, test_refused);
    tcase_add_test(t, test_reject);
    suite_add_tcase(s, t);
    return s;
}

UNIT_MAIN(ingest_suite)
