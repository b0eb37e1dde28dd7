/*
 * fuzz_json.c -- libFuzzer target for json.c and jsonkind.c: OpenTSDB
 * /api/put documents (an object or an array of datapoint objects) through
 * YAJL's streaming parser and its arena allocator into canonical put
 * lines, and the same document as /api/rollup's and /api/histogram's into
 * rollup and histogram lines.
 *
 * Input: the whole document (read three times: put, rollup, histogram).
 *
 * Asserts: res.points == res.ok + res.failed, ok == lines emitted,
 * failed == errors reported, and the sink counters agree (received ==
 * points, invalid == failed) -- also on TS_ERROR, when the datapoints
 * before a syntax error were taken; TS_ERROR -> doc_err a sane
 * point_error whose framed reply line is one line of valid UTF-8.  Every
 * emitted line passes fuzz_check_emitted (<= 1025 bytes, one final "\n",
 * single spaces, a put line that re-parses to itself, fields valid by an
 * independent reference, the hash passed with it the line's routing hash).
 * Every rejected datapoint: a sane point_error (message shorter than
 * POINT_ERR_MAX), the echoed input no longer than the document, and its
 * framed reply line (framed_error_line) a single line of valid UTF-8
 * within its buffer.  A second json_ingest of the same document gives the
 * same lines and counts (nothing is kept between documents).  As rollup
 * and histogram datapoints: the same counts and checks, every line of
 * that command.
 */
#include "autoconf.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "input/framed.h"
#include "fuzz_common.h"
#include "input/ingest.h"
#include "input/json.h"
#include "base/point.h"
#include "base/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define OUT_CAP (4u << 20)

struct run {
    struct sink sink;
    struct ingest_stats st;
    char *emitted;
    size_t emitted_len;
    bool overflow;
    size_t nemit, nerr;
    size_t doc_len;
    enum point_cmd cmd;     /* put, rollup or histogram datapoints */
};

static struct point_rules rules;
static struct run runs[2];

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    json_init();
    point_rules_init(&rules, 8, NULL);
    runs[0].emitted = malloc(OUT_CAP);
    runs[1].emitted = malloc(OUT_CAP);
    return 0;
}

static int
emit(struct sink *s, const char *line, size_t len, uint64_t hash, struct point_error *why)
{
    (void)why;
    struct run *R = s->owner;
    fuzz_check_emitted(s->rules, line, len, hash);
    enum point_cmd cmd;
    FUZZ_CHECK(fuzz_line_cmd(line, len, &cmd) && cmd == R->cmd);
    R->nemit++;
    if (R->emitted_len + len > OUT_CAP) {
        R->overflow = true;
        return TS_OK;
    }
    memcpy(R->emitted + R->emitted_len, line, len);
    R->emitted_len += len;
    return TS_OK;
}

static void
on_error(struct sink *s, const struct point_error *e, const char *input, size_t ilen,
         const void *json_dp)
{
    struct run *R = s->owner;
    R->nerr++;
    (void)json_dp;
    fuzz_check_point_error(e);
    FUZZ_CHECK(e->cmd == R->cmd);
    FUZZ_CHECK(ilen <= R->doc_len); /* the datapoint's own text */
    static char line[POINT_ERR_MAX * 2 + 512];
    size_t n = framed_error_line(e, input, ilen, line, sizeof(line));
    FUZZ_CHECK(n < sizeof(line));
    if (memchr(line, '\n', n) != NULL)
        fuzz_dump("framed reply line", line, n);
    FUZZ_CHECK(memchr(line, '\n', n) == NULL);
    FUZZ_CHECK(fuzz_valid_utf8(line, n));
}

static int
run_once(struct run *R, enum point_cmd cmd, const char *buf, size_t len,
         struct json_result *res, struct point_error *derr)
{
    char *e = R->emitted;
    memset(R, 0, sizeof(*R));
    R->emitted = e;
    R->cmd = cmd;
    R->sink.rules = &rules;
    R->sink.stats = &R->st;
    R->sink.emit = emit;
    R->sink.on_error = on_error;
    R->sink.owner = R;
    R->doc_len = len;
    memset(res, 0xA5, sizeof(*res));
    int rc = json_ingest_from(&R->sink, cmd, buf, len, 0, res, derr);
    /* a syntax error part-way leaves the datapoints before it counted */
    FUZZ_CHECK(res->points == res->ok + res->failed);
    FUZZ_CHECK(res->ok == R->nemit);
    FUZZ_CHECK(res->failed == R->nerr);
    FUZZ_CHECK(R->st.received == res->points);
    FUZZ_CHECK(R->st.invalid == res->failed);
    if (rc != TS_OK) {
        FUZZ_CHECK(rc == TS_ERROR);
        fuzz_check_point_error(derr);
        FUZZ_CHECK(derr->cmd == cmd);
        FUZZ_CHECK(derr->msg[derr->len] == '\0');
        /* its framed reply line (framed.c echoes the document after it) */
        static char line[POINT_ERR_MAX * 2 + 512];
        size_t n = framed_error_line(derr, buf, len, line, sizeof(line));
        FUZZ_CHECK(n < sizeof(line));
        if (memchr(line, '\n', n) != NULL)
            fuzz_dump("framed reply line", line, n);
        FUZZ_CHECK(memchr(line, '\n', n) == NULL);
        FUZZ_CHECK(fuzz_valid_utf8(line, n));
    }
    return rc;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    struct json_result r1, r2;
    static struct point_error d1, d2;
    int rc1 = run_once(&runs[0], CMD_PUT, buf, size, &r1, &d1);
    int rc2 = run_once(&runs[1], CMD_PUT, buf, size, &r2, &d2);
    FUZZ_CHECK(rc1 == rc2);
    FUZZ_CHECK(r1.points == r2.points && r1.ok == r2.ok && r1.failed == r2.failed);
    if (!runs[0].overflow && !runs[1].overflow) {
        FUZZ_CHECK(runs[0].emitted_len == runs[1].emitted_len);
        FUZZ_CHECK(memcmp(runs[0].emitted, runs[1].emitted, runs[0].emitted_len) == 0);
    }
    (void)run_once(&runs[0], CMD_ROLLUP, buf, size, &r1, &d1);
    (void)run_once(&runs[1], CMD_HISTOGRAM, buf, size, &r2, &d2);
    return 0;
}
