/*
 * fuzz_putjson.c -- libFuzzer target for putjson.c (a canonical line as a
 * JSON datapoint of the TSD's HTTP API) and putanswer.c (the TSD's answer
 * read back): the proof that tsrelay never sends a TSD JSON it must refuse
 * whole.
 *
 * Input: byte 0 selects the rules (bits 0-1: max-tags 8 / 1 / 64 / 8 with
 * allow-specialchars, quotes, backslashes and control bytes among them)
 * and the command (bit 2: rollup instead of put, else bit 3: histogram);
 * the rest is a telnet line.  When point.c accepts it, its canonical line:
 *   - gives JSON (putjson_write never refuses a line point.c accepts);
 *   - the JSON is one complete, valid JSON object (YAJL, strict: valid
 *     UTF-8) and no longer than PUTJSON_MAX;
 *   - read by tsrelay's own /api/put reader (input/json.c, the TSD's
 *     rules), a put line comes back as the same point: the same canonical
 *     line, its timestamp as the TSD's telnet parser reads it;
 *   - a simple histogram read back by tsrelay's /api/histogram reader is
 *     the same histogram (bounds, counts, underflow, overflow), unless
 *     that reader's telnet line would pass 1,024 bytes (a bound written
 *     longer than it came) or hold an infinite bound ("1e4000" reads as
 *     Infinity, which telnet's lower-casing reader refuses): the TSD's
 *     HTTP reader takes both;
 *   - an answer listing it as failed (echoed as the TSD echoes: the value
 *     as a string) gives back the same match key (putanswer.c).
 */
#include "autoconf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <yajl/yajl_parse.h>

#include "base/histogram.h"
#include "base/pointline.h"
#include "base/point.h"
#include "base/putjson.h"
#include "base/util.h"
#include "fuzz_common.h"
#include "input/ingest.h"
#include "input/json.h"
#include "output/putanswer.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

static struct point_rules rules[4];
static struct ingest_stats st;
static char back[2048];
static size_t back_len;
static int emitted;

static int
keep(struct sink *s, const char *line, size_t len, uint64_t hash, struct point_error *why)
{
    (void)s;
    (void)hash;
    (void)why;
    FUZZ_CHECK(len < sizeof(back));
    memcpy(back, line, len);
    back_len = len;
    emitted++;
    return TS_OK;
}

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    json_init();
    point_rules_init(&rules[0], 8, NULL);
    point_rules_init(&rules[1], 1, NULL);
    point_rules_init(&rules[2], 64, NULL);
    point_rules_init(&rules[3], 8, "\"\\\t\x01\x1f{}[]:,#!$%&*+;<>?@^|~\x7f\xa9\xd7");
    return 0;
}

static uint64_t answer_key;
static int answer_entries;

static void
on_entry(void *ctx, bool has_key, uint64_t key, const char *text, size_t len)
{
    (void)ctx;
    (void)text;
    (void)len;
    answer_entries++;
    FUZZ_CHECK(has_key);
    answer_key = key;
}

/* The JSON is one valid object (YAJL, UTF-8 checked). */
static void
check_valid_json(const char *j, size_t n)
{
    yajl_callbacks none = { 0 };
    yajl_handle h = yajl_alloc(&none, NULL, NULL);
    FUZZ_CHECK(h != NULL);
    bool ok = yajl_parse(h, (const unsigned char *)j, n) == yajl_status_ok &&
              yajl_complete_parse(h) == yajl_status_ok;
    if (!ok)
        fuzz_dump("invalid JSON", j, n);
    FUZZ_CHECK(ok);
    yajl_free(h);
}

/* An answer naming the point gives back its key. */
static void
check_answer_key(const char *j, size_t n, uint64_t key)
{
    static char body[PUTJSON_MAX + 128];
    static struct putanswer a;
    int k = snprintf(body, sizeof(body), "{\"failed\":1,\"errors\":[{\"datapoint\":%.*s,"
                     "\"error\":\"Unknown metric\"}],\"success\":0}", (int)n, j);
    answer_entries = 0;
    putanswer_begin(&a, on_entry, NULL);
    FUZZ_CHECK(putanswer_feed(&a, body, (size_t)k));
    FUZZ_CHECK(putanswer_end(&a));
    putanswer_reset(&a);
    FUZZ_CHECK(answer_entries == 1);
    FUZZ_CHECK(answer_key == key);
}

/* Read back by the TSD's rules: the same put line (timestamp as read). */
static void
check_read_back(const struct point_rules *r, const char *canon, size_t clen, const char *j,
                size_t n)
{
    struct sink s = { .rules = r, .stats = &st, .emit = keep };
    struct json_result res;
    struct point_error err;
    emitted = 0;
    FUZZ_CHECK(json_ingest(&s, j, n, &res, &err) == TS_OK);
    FUZZ_CHECK(emitted == 1);
    struct point p1, p2;
    FUZZ_CHECK(point_parse_line(r, CMD_PUT, false, canon, clen - 1, &p1, &err) == TS_OK);
    FUZZ_CHECK(point_parse_line(r, CMD_PUT, false, back, back_len - 1, &p2, &err) == TS_OK);
    FUZZ_CHECK(p1.timestamp == p2.timestamp);
    FUZZ_CHECK(p1.metric_len == p2.metric_len && !memcmp(p1.metric, p2.metric, p1.metric_len));
    FUZZ_CHECK(p1.value_len == p2.value_len && !memcmp(p1.value, p2.value, p1.value_len));
    FUZZ_CHECK(p1.tags_bytes == p2.tags_bytes);
    FUZZ_CHECK(!memcmp(canon + clen - 1 - p1.tags_bytes, back + back_len - 1 - p2.tags_bytes,
                       p1.tags_bytes));
}

/* A simple histogram's text: the word after the timestamp. */
static bool
histogram_text(const char *line, size_t len, const char **t, size_t *tn)
{
    const char *p = line, *end = line + len;
    for (int w = 0; w < 3; w++) {
        p = memchr(p, ' ', (size_t)(end - p));
        if (p == NULL)
            return false;
        p++;
    }
    const char *sp = memchr(p, ' ', (size_t)(end - p));
    *t = p;
    *tn = (size_t)((sp != NULL ? sp : end) - p);
    return true;
}

static char refused[1100];

static void
keep_refusal(struct sink *s, const struct point_error *e, const char *input, size_t ilen,
             const void *dp)
{
    (void)s;
    (void)input;
    (void)ilen;
    (void)dp;
    snprintf(refused, sizeof(refused), "%.*s", (int)e->len, e->msg);
}

/* Read back by the TSD's rules: the same simple histogram. */
static void
check_histogram_read_back(const struct point_rules *r, const struct point *p, const char *j,
                          size_t n)
{
    static struct histogram want, got;
    struct point_error err;
    if (p->codec != NULL)
        return; /* a coded value is the TSD's codec's to read */
    FUZZ_CHECK(histogram_parse_text(p->value, p->value_len, &want, &err) == TS_OK);
    struct sink s = { .rules = r, .stats = &st, .emit = keep, .on_error = keep_refusal };
    struct json_result res;
    emitted = 0;
    refused[0] = '\0';
    FUZZ_CHECK(json_ingest_from(&s, CMD_HISTOGRAM, j, n, 0, &res, &err) == TS_OK);
    if (emitted == 0 && (strstr(refused, "exceed 1024 bytes") != NULL ||
                         strstr(refused, "Infinity or NaN") != NULL))
        return;
    if (emitted != 1)
        fuzz_dump(refused, j, n);
    FUZZ_CHECK(emitted == 1);
    const char *t;
    size_t tn;
    FUZZ_CHECK(histogram_text(back, back_len - 1, &t, &tn));
    FUZZ_CHECK(histogram_parse_text(t, tn, &got, &err) == TS_OK);
    FUZZ_CHECK(got.nbuckets == want.nbuckets && got.underflow == want.underflow &&
               got.overflow == want.overflow);
    for (int i = 0; i < want.nbuckets; i++)
        FUZZ_CHECK(memcmp(&got.b[i], &want.b[i], sizeof(want.b[i])) == 0);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 1 || size > 4096)
        return 0;
    const struct point_rules *r = &rules[data[0] & 3];
    enum point_cmd cmd = (data[0] & 4) ? CMD_ROLLUP : (data[0] & 8) ? CMD_HISTOGRAM : CMD_PUT;
    const char *line = (const char *)data + 1;
    size_t len = size - 1;
    if (memchr(line, '\n', len) != NULL)
        return 0; /* the decoders split on "\n" first */
    struct point p;
    struct point_error err;
    if (pointline_parse(r, cmd, false, line, len, &p, &err) != TS_OK)
        return 0;
    char canon[POINT_LINE_MAX + 64];
    size_t clen = point_format(&p, canon, sizeof(canon));
    FUZZ_CHECK(clen > 0);
    char j[PUTJSON_MAX];
    uint64_t key;
    size_t n = putjson_write(canon, clen, j, sizeof(j), &key);
    static struct histogram none;
    if (n == 0 && cmd == CMD_HISTOGRAM && p.codec == NULL &&
        histogram_parse_text(p.value, p.value_len, &none, &err) == TS_OK && none.nbuckets == 0)
        return 0; /* no bucket: /api/histogram refuses it (putjson.h) */
    if (n == 0)
        fuzz_dump("no JSON for", canon, clen);
    FUZZ_CHECK(n > 0);
    check_valid_json(j, n);
    check_answer_key(j, n, key);
    if (cmd == CMD_PUT)
        check_read_back(r, canon, clen, j, n);
    if (cmd == CMD_HISTOGRAM)
        check_histogram_read_back(r, &p, j, n);
    return 0;
}
