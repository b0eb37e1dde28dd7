/*
 * fuzz_http.c -- libFuzzer target for http.c (http-parser callbacks, the
 * body bound, chunked and gzip bodies, keep-alive and pipelining, the
 * endpoints) and, through /api/put, json.c and point.c.
 *
 * The relay is a minimal one: config defaults, a small memory budget, no
 * backends, no spool; the status endpoints answer from it.  The host is
 * a stub in place of client.c: replies are collected as written, bodies
 * are malloc'd, the sink's emit checks each line and takes it.  Each read
 * goes to http_feed as client.c gives it: what was not taken is offered
 * again (a request waiting for body memory or for room); feeding stops
 * when the connection would close.  At the end the connection is freed.
 *
 * Input: byte 0 = split point (fraction of the stream), byte 1 = options:
 *   bits 0-1: pressure: none; body memory granted only at the second ask
 *             (the parser waits at the end of the headers); the sink full
 *             every third point (requests stop and carry on); both, with
 *             the budget all but 6K taken (?details and renders refused)
 *   bit 2:    max-http-body-bytes 64K / 1024 (the configured minimum)
 *   bits 3-7: size of the chunks after the split, 0 = the rest at once
 * The stream is fed twice: (A) in one read, (B) split and chunked; with
 * the sink full every third point alone (mode 2) a third time, (C) in one
 * read into a sink that always has room.
 *
 * Asserts: every emitted line passes fuzz_check_emitted (canonical,
 * idempotent, fields valid, the hash passed with it right); the bytes
 * written back parse as a sequence of complete HTTP/1.1 responses
 * (http-parser in response mode), each with a known status code and a
 * Content-Length that matches its body (302: / leads to /tsrelay/), every
 * application/json body a valid JSON document (YAJL) in valid UTF-8 (unless the budget refused memory
 * during that run, when a reply may be cut); one response per request
 * dispatched, plus at most one error response before the close (unless
 * memory was refused); nothing is answered after a response that closes
 * the connection (a pipelined request after an HTTP/1.0 one is not read);
 * (A) and (B) answer with the same status codes (a
 * read boundary may only end the conversation early, when the client
 * closes); (A) and (C) take the same lines in the same order and answer
 * the same (a request stopped for room carries on where it stopped, never
 * skipping or repeating a point); and after the connection is freed every body is given back and
 * the pool's used bytes are back where they started (nothing of the
 * budget leaks).  Responses are matched to requests in order (the requests'
 * methods come from parsing the input with http-parser too), so the
 * response to HEAD must carry no body.
 */
#include "autoconf.h"

#include <http_parser.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <yajl/yajl_parse.h>

#include "base/config.h"
#include "fuzz_common.h"
#include "input/http.h"
#include "input/ingest.h"
#include "input/json.h"
#include "base/log.h"
#include "base/point.h"
#include "base/pool.h"
#include "core/relay.h"
#include "base/counters.h"
#include "ops/status.h"
#include "base/util.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);
int LLVMFuzzerInitialize(int *argc, char ***argv);

#define MAX_INPUT (256u << 10)
#define RESP_CAP (8u << 20)
#define MAX_STATUS 4096

static struct relay R;

int
LLVMFuzzerInitialize(int *argc, char ***argv)
{
    (void)argc;
    (void)argv;
    log_set_level(LOG_ERROR);
    json_init();
    config_defaults(&R.cfg);
    R.cfg.memory_limit = 8u << 20;
    R.cfg.block_size = 64u << 10;
    if (pool_init(&R.pool, R.cfg.block_size, R.cfg.memory_limit, 1u << 20, 4u << 20) != TS_OK)
        abort();
    R.loop = EV_DEFAULT;
    point_rules_init(&R.rules, R.cfg.max_tags, R.cfg.allow_specialchars);
    snprintf(R.hostname, sizeof(R.hostname), "fuzzhost");
    return 0;
}

/* ---- one conversation ---------------------------------------------------- */

struct run {
    char *resp;                /* every byte written back */
    size_t resp_len;
    bool overflow;
    bool refused;              /* the budget refused memory at some point */
    bool closed;               /* the client would have closed */
    uint64_t requests;         /* requests begun */
    int status[MAX_STATUS];
    size_t nstatus;
    uint64_t taken;            /* lines the sink took, and a digest of them in order */
    uint64_t taken_digest;
};

static struct run runs[3];

/* The host as client.c is, with the pressure the options ask for. */
static struct {
    struct run *run;
    int mode;                  /* bit 0: body memory only at the second ask;
                                  bit 1: the sink full every third point */
    int asks;
    size_t body_out;
    int points;
    bool full;
} host;

static int
emit(struct sink *s, const char *line, size_t len, uint64_t hash, struct point_error *why)
{
    (void)why;
    fuzz_check_emitted(s->rules, line, len, hash);
    if ((host.mode & 2) && host.full)
        return TS_EAGAIN;
    if ((host.mode & 2) && ++host.points % 3 == 0)
        host.full = true;
    struct run *run = host.run;
    run->taken++;
    run->taken_digest = (run->taken_digest ^ hash) * 0x100000001b3ull + len;
    return TS_OK;
}

static bool
reply(void *ctx, const char *head, size_t hlen, const char *body, size_t blen, bool control,
      bool close)
{
    (void)ctx;
    (void)control;
    struct run *run = host.run;
    /* a response that said "Connection: close" was the last one */
    FUZZ_CHECK(!run->closed);
    if (run->resp_len + hlen + blen > RESP_CAP) {
        run->overflow = true;
    } else {
        memcpy(run->resp + run->resp_len, head, hlen);
        memcpy(run->resp + run->resp_len + hlen, body, blen);
        run->resp_len += hlen + blen;
    }
    if (close)
        run->closed = true;
    return true;
}

static int
body_alloc(void *ctx, size_t len, char **buf)
{
    (void)ctx;
    if ((host.mode & 1) && host.asks++ % 2 == 0)
        return TS_EAGAIN;
    *buf = malloc(len > 0 ? len : 1);
    FUZZ_CHECK(*buf != NULL);
    host.body_out += len;
    return TS_OK;
}

static void
body_free(void *ctx, char *buf, size_t len)
{
    (void)ctx;
    FUZZ_CHECK(host.body_out >= len);
    host.body_out -= len;
    free(buf);
}

static void
converse(struct run *run, const char *in, size_t n, const size_t *cuts, size_t ncuts,
         size_t leave, int mode)
{
    struct pool *p = &R.pool;
    size_t used0 = pool_used_bytes(p);
    size_t blocks0 = p->blocks_used;
    size_t pre = 0;
    if (leave > 0 && R.pool.limit > used0 + leave) {
        pre = R.pool.limit - used0 - leave;
        FUZZ_CHECK(pool_charge(p, pre, POOL_CONTROL) == TS_OK);
    }
    uint64_t fails0 = p->stats.get_failures + p->stats.charge_failures;
    uint64_t req0 = g_stats.http_requests;

    static struct ingest_stats st;
    static struct sink sink;
    memset(&st, 0, sizeof(st));
    memset(&sink, 0, sizeof(sink));
    memset(&host, 0, sizeof(host));
    host.run = run;
    host.mode = mode;
    sink.rules = &R.rules;
    sink.stats = &st;
    sink.emit = emit;
    struct http_host hh = {
        .sink = &sink,
        .pool = p,
        .max_body = R.cfg.max_http_body_bytes,
        .data_allowed = true,
        .reply = reply,
        .body_alloc = body_alloc,
        .body_free = body_free,
        .endpoint = status_http,
        .endpoint_ctx = &R,
    };
    struct http_conn *h = http_conn_new(&hh);
    FUZZ_CHECK(h != NULL);

    /* what the decoder does not take is offered again, as client.c does */
    size_t from = 0;
    for (size_t k = 0; k < ncuts && !run->closed; k++) {
        size_t to = cuts[k];
        while (from < to && !run->closed) {
            enum http_state hs;
            size_t took = http_feed(h, in + from, to - from, &hs);
            FUZZ_CHECK(took <= to - from);
            from += took;
            if (hs == HTTP_CLOSE) {
                run->closed = true;
            } else if (hs == HTTP_WAIT_ROOM) {
                host.full = false; /* the queues drained */
            } else if (hs == HTTP_READY) {
                FUZZ_CHECK(from == to); /* ready: it took all */
            } else if (took == 0 && hs == HTTP_WAIT_BODY) {
                continue; /* asks again on the next feed */
            }
        }
    }
    /* a request still waiting at the end of the input gets what it needs */
    for (int i = 0; i < 1000000 && !run->closed; i++) {
        enum http_state hs;
        http_feed(h, "", 0, &hs);
        if (hs == HTTP_READY)
            break;
        if (hs == HTTP_CLOSE)
            run->closed = true;
        host.full = false;
    }
    run->requests = g_stats.http_requests - req0;
    http_conn_free(h);
    FUZZ_CHECK(host.body_out == 0); /* every body given back */
    if (p->stats.get_failures + p->stats.charge_failures != fails0)
        run->refused = true;
    if (pre > 0)
        pool_uncharge(p, pre, POOL_CONTROL);
    /* every byte charged for this connection came back */
    FUZZ_CHECK(pool_used_bytes(p) == used0);
    FUZZ_CHECK(p->blocks_used == blocks0);
    (void)n;
}

/* ---- the responses --------------------------------------------------------- */

struct rstate {
    struct run *run;
    char field[64];
    size_t field_len;
    bool in_value;
    bool json;
    bool saw_length;
    char *body;
    size_t body_len;
    int begun, completed;
};

static char *body_buf;

/* The methods of the requests in the input, in order. */
static int methods[MAX_STATUS];
static size_t nmethods;

static int
q_headers_complete(http_parser *hp)
{
    if (nmethods < MAX_STATUS)
        methods[nmethods++] = (int)hp->method;
    return 0;
}

static const http_parser_settings qsettings = {
    .on_headers_complete = q_headers_complete,
};

static void
scan_requests(const char *in, size_t n)
{
    static http_parser hp;
    nmethods = 0;
    http_parser_init(&hp, HTTP_REQUEST);
    http_parser_execute(&hp, &qsettings, in, n);
}

static int
r_headers_complete(http_parser *hp)
{
    struct rstate *s = hp->data;
    size_t i = (size_t)s->begun - 1; /* this response answers request i */
    if (i < nmethods && methods[i] == HTTP_HEAD) {
        s->json = false; /* the headers of a body that is not sent */
        return 1;        /* no body follows */
    }
    return 0;
}

static int
r_begin(http_parser *hp)
{
    struct rstate *s = hp->data;
    s->begun++;
    s->json = false;
    s->saw_length = false;
    s->field_len = 0;
    s->in_value = false;
    s->body_len = 0;
    return 0;
}

static int
r_field(http_parser *hp, const char *at, size_t len)
{
    struct rstate *s = hp->data;
    if (s->in_value) {
        s->field_len = 0;
        s->in_value = false;
    }
    size_t take = TS_MIN(len, sizeof(s->field) - 1 - s->field_len);
    memcpy(s->field + s->field_len, at, take);
    s->field_len += take;
    s->field[s->field_len] = '\0';
    return 0;
}

static int
r_value(http_parser *hp, const char *at, size_t len)
{
    struct rstate *s = hp->data;
    s->in_value = true;
    if (strcasecmp(s->field, "Content-Type") == 0 && len >= 16 &&
        memcmp(at, "application/json", 16) == 0)
        s->json = true;
    if (strcasecmp(s->field, "Content-Length") == 0)
        s->saw_length = true;
    return 0;
}

static int
r_body(http_parser *hp, const char *at, size_t len)
{
    struct rstate *s = hp->data;
    FUZZ_CHECK(s->body_len + len <= RESP_CAP);
    memcpy(s->body + s->body_len, at, len);
    s->body_len += len;
    return 0;
}

static int
r_complete(http_parser *hp)
{
    struct rstate *s = hp->data;
    struct run *run = s->run;
    s->completed++;
    int code = (int)hp->status_code;
    FUZZ_CHECK(code == 200 || code == 204 || code == 302 || code == 400 || code == 404 ||
               code == 405 || code == 413 || code == 414 || code == 500 || code == 503);
    FUZZ_CHECK(s->saw_length);
    FUZZ_CHECK(hp->http_major == 1 && hp->http_minor == 1);
    if (run->nstatus < MAX_STATUS)
        run->status[run->nstatus++] = code;
    if (s->json && !run->refused) {
        if (!fuzz_valid_utf8(s->body, s->body_len))
            fuzz_dump("response body is not UTF-8", s->body, s->body_len);
        FUZZ_CHECK(fuzz_valid_utf8(s->body, s->body_len));
        /* YAJL (a dependency anyway) as the JSON validator, strings
         * checked as UTF-8 */
        yajl_handle y = yajl_alloc(NULL, NULL, NULL);
        FUZZ_CHECK(y != NULL);
        yajl_status st = yajl_parse(y, (const unsigned char *)s->body, s->body_len);
        if (st == yajl_status_ok)
            st = yajl_complete_parse(y);
        if (st != yajl_status_ok) {
            unsigned char *m = yajl_get_error(y, 1, (const unsigned char *)s->body, s->body_len);
            fprintf(stderr, "response body is not JSON: %s\n", m ? (const char *)m : "?");
            fuzz_dump("body", s->body, s->body_len);
            if (m != NULL)
                yajl_free_error(y, m);
        }
        yajl_free(y);
        FUZZ_CHECK(st == yajl_status_ok);
    }
    return 0;
}

static const http_parser_settings rsettings = {
    .on_message_begin = r_begin,
    .on_header_field = r_field,
    .on_header_value = r_value,
    .on_headers_complete = r_headers_complete,
    .on_body = r_body,
    .on_message_complete = r_complete,
};

static void
check_responses(struct run *run)
{
    if (run->overflow)
        return;
    if (run->refused) {
        /* a refused response shifts the request/response pairing */
        for (size_t i = 0; i < nmethods; i++)
            if (methods[i] == HTTP_HEAD)
                return;
    }
    static http_parser hp;
    static struct rstate s;
    memset(&s, 0, sizeof(s));
    s.run = run;
    s.body = body_buf;
    http_parser_init(&hp, HTTP_RESPONSE);
    hp.data = &s;
    size_t n = http_parser_execute(&hp, &rsettings, run->resp, run->resp_len);
    if (hp.http_errno != HPE_OK) {
        fprintf(stderr, "bad response stream at %zu: %s\n", n,
                http_errno_description(HTTP_PARSER_ERRNO(&hp)));
        fuzz_dump("responses", run->resp, run->resp_len);
    }
    FUZZ_CHECK(hp.http_errno == HPE_OK);
    FUZZ_CHECK(n == run->resp_len);
    if (s.begun != s.completed)
        fuzz_dump("responses end part-way", run->resp, run->resp_len);
    FUZZ_CHECK(s.begun == s.completed); /* ends on a response boundary */
    if (!run->refused && run->nstatus < MAX_STATUS) {
        /* one response per request, plus at most one error before the close */
        FUZZ_CHECK(run->nstatus >= run->requests);
        FUZZ_CHECK(run->nstatus <= run->requests + 1);
    }
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    static bool ready;
    if (!ready) {
        for (int i = 0; i < 3; i++)
            runs[i].resp = malloc(RESP_CAP);
        body_buf = malloc(RESP_CAP);
        ready = true;
    }
    if (size < 2 || size > MAX_INPUT)
        return 0;
    /* bits 0-1: body memory late (1), the sink full every third point
     * (2), both and the budget all but 6K taken (3) */
    int mode = data[1] & 3;
    size_t leave = mode == 3 ? 6u << 10 : 0;
    R.cfg.max_http_body_bytes = (data[1] & 4) ? 1024 : 64u << 10;
    size_t chunk = (size_t)(data[1] >> 3);
    const char *in = (const char *)data + 2;
    size_t n = size - 2;
    size_t split = (size_t)data[0] * n / 255;

    for (int i = 0; i < 3; i++) {
        char *resp = runs[i].resp;
        memset(&runs[i], 0, sizeof(runs[i]));
        runs[i].resp = resp;
    }
    size_t all = n;
    converse(&runs[0], in, n, &all, 1, leave, mode);

    static size_t cuts[MAX_INPUT + 4];
    size_t ncuts = 0;
    cuts[ncuts++] = split;
    if (chunk == 0) {
        cuts[ncuts++] = n;
    } else {
        for (size_t at = split + chunk; at < n; at += chunk)
            cuts[ncuts++] = at;
        cuts[ncuts++] = n;
    }
    converse(&runs[1], in, n, cuts, ncuts, leave, mode);

    scan_requests(in, n);
    check_responses(&runs[0]);
    check_responses(&runs[1]);
    struct run *A = &runs[0], *B = &runs[1];
    if (A->refused || B->refused || A->overflow || B->overflow || A->nstatus >= MAX_STATUS ||
        B->nstatus >= MAX_STATUS)
        return 0;
    size_t common = TS_MIN(A->nstatus, B->nstatus);
    for (size_t i = 0; i < common; i++) {
        if (A->status[i] != B->status[i])
            fprintf(stderr, "response %zu: status %d in one read, %d when split\n", i,
                    A->status[i], B->status[i]);
        FUZZ_CHECK(A->status[i] == B->status[i]);
    }
    /* a conversation may only be cut short by a close */
    if (A->nstatus < B->nstatus)
        FUZZ_CHECK(A->closed);
    if (B->nstatus < A->nstatus)
        FUZZ_CHECK(B->closed);

    /* (C) with the sink full every third point, (A) is compared with the
     * same read into a sink that always has room: stopping and carrying
     * on must take the same lines in the same order and answer the same */
    if (mode != 2)
        return 0;
    struct run *C = &runs[2];
    converse(C, in, n, &all, 1, 0, 0);
    check_responses(C);
    if (C->refused || C->overflow || C->nstatus >= MAX_STATUS)
        return 0;
    if (A->taken != C->taken || A->taken_digest != C->taken_digest)
        fprintf(stderr, "%llu lines taken with the sink full now and then, %llu always room\n",
                (unsigned long long)A->taken, (unsigned long long)C->taken);
    FUZZ_CHECK(A->taken == C->taken && A->taken_digest == C->taken_digest);
    FUZZ_CHECK(A->nstatus == C->nstatus && A->closed == C->closed);
    for (size_t i = 0; i < A->nstatus; i++)
        FUZZ_CHECK(A->status[i] == C->status[i]);
    return 0;
}
