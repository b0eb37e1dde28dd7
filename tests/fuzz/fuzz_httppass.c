/*
 * fuzz_httppass.c -- libFuzzer target for a passed request on the
 * client's side: http.c's pass path (which paths pass, the head kept as
 * received under max-http-header-bytes, the body fed by the pass-through's
 * room, the wait for the answer, pipelining after it) and httppass.c.
 *
 * The pass-through is a stub in place of core/proxy.c: it records each
 * request (method, target, head, body) and answers one whose body is
 * complete with a fixed response; the relay's own paths get a fixed
 * answer from a stub endpoint (both 204s: no body, the same for HEAD).
 * The host is a stub in place of client.c: replies and streamed bytes are
 * collected in order.  Each read goes to
 * http_feed as client.c gives it; a request that waits gets what it waits
 * for (its answer, or more room) and is fed again.
 *
 * Input: byte 0 = split point (fraction of the stream), byte 1 = options:
 *   bits 0-2: room: 0 = unbounded, else the room opens by 1, 7, 64, ...
 *             bytes at a time (the body stops where the room ends)
 *   bits 3-7: size of the chunks after the split, 0 = the rest at once
 * The stream is fed (A) in one read with unbounded room, (B) split and
 * chunked with the room the options say, and (C) as (B) with every third
 * request failed at once (502) and every fourth answer cut after its head.
 *
 * Asserts: a body never gets more bytes than its room; nothing is passed
 * after a request ended (answered, failed, cut or gone) and its body end
 * comes once; (A) and (B) pass the same requests (method, target, head,
 * body bytes) and write back the same bytes (room and read boundaries
 * change nothing but timing); the bytes written back in (A) and (B) parse
 * as complete HTTP/1.1 responses (paired with the requests' methods: a
 * HEAD's has no body), one per request at most; nothing is written after
 * an answer that closes the connection (none twice to one request, in
 * (C) too); after the connection is freed the pool's used bytes are back
 * where they started.
 */
#include "autoconf.h"

#include <http_parser.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz_common.h"
#include "input/http.h"
#include "input/httppass.h"
#include "input/ingest.h"
#include "input/json.h"
#include "base/log.h"
#include "base/pool.h"
#include "base/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define MAX_INPUT (256u << 10)
#define RESP_CAP (4u << 20)
/* answers without bodies: the same on the wire for HEAD and GET */
#define ANSWER "HTTP/1.1 204 No Content\r\nX-Passed: 1\r\n\r\n"

static struct pool P;
static struct point_rules RULES;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log_set_level(LOG_ERROR);
    if (pool_init(&P, 64u << 10, 8u << 20, 1u << 20, 4u << 20) != TS_OK)
        abort();
    json_init();
    point_rules_init(&RULES, 8, "");
    return 0;
}

/* ---- one conversation ---------------------------------------------------- */

struct run {
    char *resp;                 /* every byte written back, in order */
    size_t resp_len;
    uint64_t passed;            /* requests passed, and a digest of them in order */
    uint64_t digest;
    bool closed;
};

static struct run runs[3];

static struct {
    struct run *run;
    int room_mode;              /* 0: unbounded */
    bool faults;                /* (C): fail every 3rd, cut every 4th answer */
    size_t room;
    struct httppass *p;         /* the live exchange, or NULL */
    bool has_body, body_ended;
    int begins;
} S;

static uint64_t
mix(uint64_t d, const char *s, size_t n)
{
    for (size_t i = 0; i < n; i++)
        d = (d ^ (unsigned char)s[i]) * 0x100000001b3ull;
    return d;
}

/* /api/put's points (the relay's own path): checked, taken. */
static int
h_emit(struct sink *s, const char *line, size_t len, uint64_t hash, struct point_error *why)
{
    (void)why;
    fuzz_check_emitted(s->rules, line, len, hash);
    return TS_OK;
}

static bool
h_reply(void *ctx, const char *head, size_t hlen, const char *body, size_t blen, bool control,
        bool close)
{
    (void)ctx;
    (void)control;
    struct run *run = S.run;
    if (getenv("FUZZ_VERBOSE"))
        fuzz_dump(close ? "reply (close)" : "reply", head, hlen);
    FUZZ_CHECK(!run->closed);
    FUZZ_CHECK(run->resp_len + hlen + blen <= RESP_CAP);
    memcpy(run->resp + run->resp_len, head, hlen);
    memcpy(run->resp + run->resp_len + hlen, body, blen);
    run->resp_len += hlen + blen;
    run->closed = run->closed || close;
    return true;
}

static size_t
h_stream(void *ctx, const char *data, size_t len)
{
    return h_reply(ctx, data, len, "", 0, false, false) ? len : 0;
}

static void
h_wake(void *ctx)
{
    (void)ctx;
}

static int
h_body_alloc(void *ctx, size_t len, char **buf)
{
    (void)ctx;
    *buf = malloc(len > 0 ? len : 1);
    FUZZ_CHECK(*buf != NULL);
    return TS_OK;
}

static void
h_body_free(void *ctx, char *buf, size_t len)
{
    (void)ctx;
    (void)len;
    free(buf);
}

static void
h_endpoint(void *ctx, struct http_conn *h, const struct http_request *req)
{
    (void)ctx;
    (void)req;
    http_respond(h, 204, NULL, "", 0);
}

static bool
p_active(void *ctx)
{
    (void)ctx;
    return true;
}

static int
p_begin(void *ctx, struct httppass *p, const struct httppass_req *req, void **state)
{
    (void)ctx;
    FUZZ_CHECK(S.p == NULL); /* one at a time on a connection */
    struct run *run = S.run;
    run->passed++;
    run->digest = mix(run->digest, req->method, strlen(req->method));
    run->digest = mix(run->digest, req->url, req->url_len);
    run->digest = mix(run->digest, req->headers, req->headers_len);
    *state = &S;
    S.p = p;
    S.has_body = req->has_body;
    S.body_ended = false;
    if (S.faults && ++S.begins % 3 == 0) {
        S.p = NULL;
        httppass_fail(p, 502, "The TSD could not be reached", "fuzz");
    }
    return TS_OK;
}

static size_t
p_body_room(void *state)
{
    FUZZ_CHECK(state == &S && S.p != NULL && !S.body_ended);
    return S.room_mode == 0 ? SIZE_MAX : S.room;
}

static void
p_body(void *state, const char *data, size_t len)
{
    FUZZ_CHECK(state == &S && S.p != NULL && !S.body_ended);
    if (S.room_mode != 0) {
        FUZZ_CHECK(len <= S.room);
        S.room -= len;
    }
    S.run->digest = mix(S.run->digest, data, len);
}

static void
p_body_end(void *state)
{
    FUZZ_CHECK(state == &S && S.p != NULL && !S.body_ended);
    S.body_ended = true;
}

static void
p_writable(void *state)
{
    FUZZ_CHECK(state == &S && S.p != NULL);
}

static void
p_abort(void *state)
{
    FUZZ_CHECK(state == &S && S.p != NULL);
    S.p = NULL;
}

static const struct httppass_ops pops = {
    .active = p_active,
    .begin = p_begin,
    .body_room = p_body_room,
    .body = p_body,
    .body_end = p_body_end,
    .writable = p_writable,
    .abort = p_abort,
};

/* A request waits: it gets its answer (its body is complete) or room. */
static void
serve_wait(void)
{
    static const size_t opens[] = { 0, 1, 7, 64, 1000, 3, 13, 100000 };
    if (S.p == NULL)
        return;
    if (S.has_body && !S.body_ended) {
        S.room += opens[S.room_mode];
        return;
    }
    struct httppass *p = S.p;
    S.p = NULL;
    if (S.faults && S.begins % 4 == 3) {
        httppass_send(p, "HTTP/1.1 200 OK\r\nContent-Length: 6\r\n\r\npa", 41);
        httppass_abort(p);
        return;
    }
    FUZZ_CHECK(httppass_send(p, ANSWER, sizeof(ANSWER) - 1) == sizeof(ANSWER) - 1);
    httppass_done(p, false);
}

static void
converse(struct run *run, const char *in, size_t n, const size_t *cuts, size_t ncuts,
         int room_mode, bool faults)
{
    size_t used0 = pool_used_bytes(&P);
    memset(&S, 0, sizeof(S));
    S.run = run;
    S.room_mode = room_mode;
    S.faults = faults;
    static struct ingest_stats st;
    static struct sink sink;
    memset(&sink, 0, sizeof(sink));
    sink.rules = &RULES;
    sink.stats = &st;
    sink.emit = h_emit;
    struct http_host hh = {
        .sink = &sink,
        .pool = &P,
        .max_body = 64u << 10,
        .data_allowed = true,
        .reply = h_reply,
        .body_alloc = h_body_alloc,
        .body_free = h_body_free,
        .endpoint = h_endpoint,
        .pass = &pops,
        .origin = "10.0.0.1",
        .max_header = 2048,
        .stream = h_stream,
        .wake = h_wake,
    };
    struct http_conn *h = http_conn_new(&hh);
    FUZZ_CHECK(h != NULL);
    size_t from = 0;
    int stuck = 0;
    for (size_t k = 0; k < ncuts && !run->closed; k++) {
        while (from < cuts[k] && !run->closed) {
            enum http_state hs;
            size_t took = http_feed(h, in + from, cuts[k] - from, &hs);
            FUZZ_CHECK(took <= cuts[k] - from);
            from += took;
            if (hs == HTTP_CLOSE)
                run->closed = true;
            else if (hs == HTTP_WAIT_PASS)
                serve_wait();
            else if (hs == HTTP_READY)
                FUZZ_CHECK(from == cuts[k]);
            stuck = took == 0 ? stuck + 1 : 0;
            FUZZ_CHECK(stuck < 1000000);
        }
    }
    for (int i = 0; i < 1000000 && !run->closed; i++) { /* what still waits */
        enum http_state hs;
        http_feed(h, "", 0, &hs);
        if (hs == HTTP_READY)
            break;
        if (hs == HTTP_CLOSE)
            run->closed = true;
        serve_wait();
    }
    http_conn_free(h); /* a live exchange is aborted (p_abort checks it) */
    FUZZ_CHECK(pool_used_bytes(&P) == used0);
    (void)n;
}

/* The methods of the requests in the input, in order (a HEAD's answer
 * has the headers of a body it does not carry). */
#define MAX_REQS 4096
static int methods[MAX_REQS];
static size_t nmethods, nanswers;

static int
q_headers_complete(http_parser *hp)
{
    if (nmethods < MAX_REQS)
        methods[nmethods++] = (int)hp->method;
    return 0;
}

static const http_parser_settings qsettings = {
    .on_headers_complete = q_headers_complete,
};

static int
r_begin(http_parser *hp)
{
    (void)hp;
    nanswers++;
    return 0;
}

static int
r_headers_complete(http_parser *hp)
{
    (void)hp;
    size_t i = nanswers - 1; /* this answer is request i's */
    return i < nmethods && methods[i] == HTTP_HEAD ? 1 : 0;
}

static const http_parser_settings rsettings = {
    .on_message_begin = r_begin,
    .on_headers_complete = r_headers_complete,
};

/* The bytes written back parse as whole HTTP/1.1 responses, one per
 * request at most, in order. */
static void
check_responses(const struct run *run)
{
    static http_parser hp;
    nanswers = 0;
    http_parser_init(&hp, HTTP_RESPONSE);
    size_t k = http_parser_execute(&hp, &rsettings, run->resp, run->resp_len);
    if (k != run->resp_len || HTTP_PARSER_ERRNO(&hp) != HPE_OK)
        fuzz_dump("responses", run->resp, run->resp_len);
    FUZZ_CHECK(k == run->resp_len && HTTP_PARSER_ERRNO(&hp) == HPE_OK);
    FUZZ_CHECK(nanswers <= nmethods + 1); /* (+1: the error that ends it) */
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    if (size < 3 || size > MAX_INPUT)
        return 0;
    const char *in = (const char *)data + 2;
    size_t n = size - 2;
    size_t split = n * data[0] / 256;
    int room_mode = data[1] & 7;
    size_t step = (size_t)(data[1] >> 3) * 3;
    static size_t cuts[MAX_INPUT + 2];
    size_t ncuts = 0;
    cuts[ncuts++] = split;
    for (size_t at = split; at < n;) {
        at = step == 0 ? n : TS_MIN(n, at + step);
        cuts[ncuts++] = at;
    }
    size_t whole = n;
    for (int r = 0; r < 3; r++) {
        if (runs[r].resp == NULL)
            runs[r].resp = malloc(RESP_CAP);
        FUZZ_CHECK(runs[r].resp != NULL);
        runs[r].resp_len = 0;
        runs[r].passed = runs[r].digest = 0;
        runs[r].closed = false;
    }
    static http_parser qp;
    nmethods = 0;
    http_parser_init(&qp, HTTP_REQUEST);
    http_parser_execute(&qp, &qsettings, in, n);
    converse(&runs[0], in, n, &whole, 1, 0, false);
    converse(&runs[1], in, n, cuts, ncuts, room_mode, false);
    converse(&runs[2], in, n, cuts, ncuts, room_mode, true);
    check_responses(&runs[0]);
    check_responses(&runs[1]);
    if (runs[0].passed != runs[1].passed || runs[0].digest != runs[1].digest ||
        runs[0].resp_len != runs[1].resp_len ||
        memcmp(runs[0].resp, runs[1].resp, runs[0].resp_len) != 0) {
        fuzz_dump("(A) responses", runs[0].resp, runs[0].resp_len);
        fuzz_dump("(B) responses", runs[1].resp, runs[1].resp_len);
    }
    FUZZ_CHECK(runs[0].passed == runs[1].passed && runs[0].digest == runs[1].digest);
    FUZZ_CHECK(runs[0].resp_len == runs[1].resp_len &&
               memcmp(runs[0].resp, runs[1].resp, runs[0].resp_len) == 0);
    return 0;
}
