/*
 * http.c -- HTTP/1.1 for the relay: request framing and the writes, POST
 * /api/put, /api/rollup and /api/histogram.
 *
 * http-parser drives a small state machine per connection.  Headers are
 * read into fixed fields (nothing is buffered for them).  A /api/put body
 * is checked against max-http-body-bytes on its Content-Length, then asked
 * of the host (admission) before a byte of it is read: the parser pauses
 * at the end of the headers until the host has the memory.  Chunked bodies
 * ask for the bound.  gzip bodies are inflated in pieces into the JSON
 * parser (once first to check the size and the stream), never into a
 * buffer of their own.  When the sink has no room, the parser pauses at
 * the end of the request and the next feed carries on from the datapoint
 * where it stopped.  The writes answer exactly as the TSD's
 * PutDataPointRpc.processDataPoint (shared by the three): 204 when
 * every point is good and neither ?summary nor ?details was asked, 400
 * with the TSD's error object otherwise, {"success","failed"[,"errors"]}
 * with ?summary / ?details.  It never sees a socket.
 */
#include "autoconf.h"

#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "input/http.h"
#include "input/httpreply.h"
#include "input/ingest.h"
#include "input/json.h"
#include "base/log.h"
#include "base/putjson.h"
#include "base/pool.h"
#include "base/counters.h"
#include "base/util.h"

#define URL_MAX 4096
#define DETAILS_DP_MAX INGEST_ECHO_MAX /* longest datapoint echoed in ?details */
#define INFLATE_PIECE (64u << 10)

struct buf {
    char *p;
    size_t len, cap;
};

enum wait {
    WAIT_NONE = 0,
    WAIT_BODY,
    WAIT_ROOM,
    WAIT_PASS_ROOM,          /* a passed body: no room (the parser is not paused) */
    WAIT_PASS_ANSWER,        /* a passed request, received whole: its answer */
    WAIT_SYNC,               /* a ?sync request: its points' proofs */
};

/* /api/put across the passes of one request (a pass ends when the sink
 * has no room; the next one skips what was done). */
struct put_state {
    bool active;
    bool details, summary;
    bool checked;              /* gzip: the stream and its size were checked */
    size_t skip;               /* elements handled by earlier passes */
    size_t points, ok, failed;
    bool sync;                 /* ?sync: answered once the points are proven */
    bool sync_begun;           /* the host marked where its points begin */
    bool sync_timeout_given;   /* &sync_timeout= */
    bool sync_done;            /* the host answered the wait (the answer is out) */
    uint64_t sync_timeout_ms;
    size_t sync_failed;        /* points refused for good while it waited */
};

struct http_conn {
    struct http_host host;
    http_parser parser;
    char url[URL_MAX];
    size_t url_len;
    bool url_too_long;
    char field[32];
    size_t field_len;
    bool last_was_value;
    bool field_is_encoding;
    char encoding[16];         /* Content-Encoding value, possibly in pieces */
    size_t encoding_len;
    bool gzip;
    bool in_request;
    bool head_request;         /* a parsed HEAD request: answer without body */
    bool is_put;               /* the request is for a write: /api/put, ... */
    enum point_cmd put_cmd;    /* ... which: put, rollup or histogram */
    bool classified;           /* the relay's own path, or passed: decided */
    bool pass_this;            /* the request is passed through */
    bool pass_skip;            /* passing it failed at once: its body is skipped */
    bool pass_head_pause;      /* paused at a passed request's head: feed its body by room */
    bool close;                /* the request being answered ends the connection */
    bool closing;              /* an error ended the conversation */
    enum wait wait;
    size_t body_need;          /* WAIT_BODY: bytes asked of the host */
    int error_status;          /* set: answer this and close */
    const char *error_msg;
    struct buf body;           /* host memory, body_need bytes */
    struct buf details;        /* ?details error entries, charged (input class) */
    size_t details_charged;
    size_t details_count;
    struct put_state put;
    struct httppass pass;      /* a passed request */
};

/* ---- responses (httpreply.c) ------------------------------------------- */

static void
respond_with(struct http_conn *h, int code, const char *ctype, const char *location,
             const char *body, size_t blen, bool control)
{
    struct httpreply_to to = { .reply = h->host.reply, .ctx = h->host.ctx,
                               .head = h->head_request, .close = h->close };
    if (!httpreply_send(&to, code, ctype, location, body, blen, control))
        h->closing = true;
}

static void
respond(struct http_conn *h, int code, const char *ctype, const char *body, size_t blen,
        bool control)
{
    respond_with(h, code, ctype, NULL, body, blen, control);
}

static void
respond_error_as(struct http_conn *h, int code, const char *message, const char *details,
                 bool control)
{
    char b[3 * 1024];
    size_t n = httpreply_error_body(code, message, details, b, sizeof(b));
    respond(h, code, "application/json", b, n, control);
}

void
http_respond(struct http_conn *h, int code, const char *ctype, const char *body, size_t len)
{
    respond(h, code, ctype, body, len, true);
}

void
http_respond_error(struct http_conn *h, int code, const char *message, const char *details)
{
    respond_error_as(h, code, message, details, true);
}

void
http_redirect(struct http_conn *h, const char *location)
{
    respond_with(h, 302, NULL, location, "", 0, true);
}

/* ---- /api/put ---------------------------------------------------------- */

static bool
query_has(const char *url, size_t len, const char *name)
{
    const char *q = memchr(url, '?', len);
    if (q == NULL)
        return false;
    size_t nl = strlen(name);
    const char *p = q + 1, *end = url + len;
    while (p < end) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *e = amp ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(e - p));
        const char *ke = eq ? eq : e;
        if ((size_t)(ke - p) == nl && memcmp(p, name, nl) == 0)
            return true;
        p = e + 1;
    }
    return false;
}

/* ?name=<ms>: true with the number (a value that is not one reads 0, as
 * the TSD's Integer.parseInt would refuse it: no bound). */
static bool
query_ms(const char *url, size_t len, const char *name, uint64_t *ms)
{
    const char *q = memchr(url, '?', len);
    size_t nl = strlen(name);
    for (const char *p = q ? q + 1 : url + len, *end = url + len; p < end;) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *e = amp ? amp : end;
        if ((size_t)(e - p) > nl && memcmp(p, name, nl) == 0 && p[nl] == '=') {
            uint64_t v = 0;
            for (const char *d = p + nl + 1; d < e && *d >= '0' && *d <= '9'; d++)
                v = v < UINT64_MAX / 10 ? v * 10 + (uint64_t)(*d - '0') : v;
            *ms = v;
            return true;
        }
        p = e + 1;
    }
    return false;
}

/* Room for n more bytes of ?details, charged to the input class. */
static bool
details_reserve(struct http_conn *h, size_t n)
{
    struct buf *d = &h->details;
    if (d->cap - d->len >= n)
        return true;
    size_t cap = TS_MAX(TS_MAX(d->cap * 2, d->len + n), (size_t)4096);
    if (pool_charge(h->host.pool, cap - h->details_charged, POOL_INPUT) != TS_OK)
        return false;
    char *p = realloc(d->p, cap);
    if (p == NULL) {
        pool_uncharge(h->host.pool, cap - h->details_charged, POOL_INPUT);
        return false;
    }
    d->p = p;
    d->cap = cap;
    h->details_charged = cap;
    return true;
}

static void
details_free(struct http_conn *h)
{
    free(h->details.p);
    pool_uncharge(h->host.pool, h->details_charged, POOL_INPUT);
    memset(&h->details, 0, sizeof(h->details));
    h->details_charged = 0;
    h->details_count = 0;
}

static struct http_conn *put_conn; /* the request whose pass is running */

static void
put_error(struct sink *s, const struct point_error *e, const char *input, size_t ilen,
          const void *json_dp)
{
    (void)s;
    (void)json_dp;
    struct http_conn *h = put_conn;
    if (h == NULL || !h->put.details)
        return;
    /* the TSD's HTTP messages: NumberFormatException -> this text */
    const char *msg = e->msg;
    size_t mlen = e->len;
    if (e->kind == PE_INVALID_VALUE) {
        msg = "Unable to parse value to a number";
        mlen = strlen(msg);
    }
    /* the whole entry or nothing: at most max-http-body-bytes of them */
    size_t dp = ilen <= DETAILS_DP_MAX ? ilen : 96;
    size_t most = 1 + 13 + dp + 10 + 6 * mlen + 2;
    if (h->details.len + most > h->host.max_body || !details_reserve(h, most)) {
        g_stats.http_details_truncated++;
        return;
    }
    struct buf *d = &h->details;
    char *o = d->p + d->len;
    size_t n = 0;
    if (h->details_count++ > 0)
        o[n++] = ',';
    memcpy(o + n, "{\"datapoint\":", 13);
    n += 13;
    if (ilen <= DETAILS_DP_MAX) {
        memcpy(o + n, input, ilen); /* the datapoint as sent: valid JSON */
        n += ilen;
    } else {
        n += (size_t)snprintf(o + n, 96, "\"(a %zu-byte datapoint, not repeated)\"", ilen);
    }
    memcpy(o + n, ",\"error\":\"", 10);
    n += 10;
    n += httpreply_json_escape(msg, mlen, true, o + n, 6 * mlen);
    memcpy(o + n, "\"}", 2);
    d->len += n + 2;
}

/* A gzip body inflated in pieces to `piece`; with piece NULL only counted.
 * Returns 0, 400 (not a gzip stream), 413 (inflates past the bound) or
 * TS_EAGAIN from the JSON stream. */
static int
inflate_body(struct http_conn *h, bool parse, struct point_error *derr, int *json_rc)
{
    static z_stream zs;
    static bool zs_ready;
    static char out[INFLATE_PIECE];
    if (!zs_ready) {
        if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
            return 400;
        zs_ready = true;
    } else {
        inflateReset(&zs);
    }
    zs.next_in = (Bytef *)h->body.p;
    zs.avail_in = (uInt)h->body.len;
    uint64_t total = 0;
    *json_rc = TS_OK;
    for (;;) {
        zs.next_out = (Bytef *)out;
        zs.avail_out = sizeof(out);
        int rc = inflate(&zs, Z_NO_FLUSH);
        size_t got = sizeof(out) - zs.avail_out;
        total += got;
        if (total > h->host.max_body)
            return 413;
        if (parse && got > 0 && *json_rc == TS_OK) {
            *json_rc = json_stream_feed(out, got, derr);
            if (*json_rc == TS_EAGAIN)
                return TS_EAGAIN;
        }
        if (rc == Z_STREAM_END)
            return 0;
        if (rc != Z_OK && !(rc == Z_BUF_ERROR && zs.avail_out == 0))
            return 400;
        if (zs.avail_in == 0 && got == 0)
            return 400; /* truncated stream */
    }
}

/* One pass over the body from put.skip.  TS_OK with the document's result
 * in rc/derr, or TS_EAGAIN: no room, call again later. */
static int
put_pass(struct http_conn *h, int *doc_rc, struct point_error *derr, int *gzip_status)
{
    struct json_result res;
    *gzip_status = 0;
    put_conn = h;
    h->host.sink->on_error = put_error;
    int rc;
    if (!h->gzip) {
        rc = json_ingest_from(h->host.sink, h->put_cmd, h->body.p ? h->body.p : "", h->body.len,
                              h->put.skip, &res, derr);
    } else if (json_stream_begin(h->host.sink, h->put_cmd, h->put.skip, &res) != TS_OK) {
        rc = TS_ERROR;
        derr->len = (size_t)snprintf(derr->msg, sizeof(derr->msg), "out of memory");
    } else {
        int jrc;
        int z = inflate_body(h, true, derr, &jrc);
        int end = json_stream_end(jrc == TS_OK ? derr : &(struct point_error){ 0 });
        TS_ASSERT(z == 0 || z == TS_EAGAIN); /* the stream was checked before this pass */
        if (z == TS_EAGAIN)
            rc = TS_EAGAIN;
        else if (z != 0)
            rc = TS_ERROR, *gzip_status = z;
        else
            rc = jrc != TS_OK ? jrc : end;
    }
    h->host.sink->on_error = NULL;
    put_conn = NULL;
    h->put.points += res.points;
    h->put.ok += res.ok;
    h->put.failed += res.failed;
    if (rc == TS_EAGAIN) {
        h->put.skip = res.handled;
        return TS_EAGAIN;
    }
    *doc_rc = rc;
    return TS_OK;
}

static void put_summary(struct http_conn *h, size_t ok, size_t failed, long timeouts, int code);

static void
put_answer(struct http_conn *h, int doc_rc, const struct point_error *derr)
{
    struct put_state *ps = &h->put;
    if (doc_rc != TS_OK) {
        respond_error_as(h, 400, derr->msg, NULL, false);
        return;
    }
    if (ps->points == 0) {
        respond_error_as(h, 400, "No datapoints found in content", NULL, false);
        return;
    }
    if (!ps->summary && !ps->details) {
        if (ps->failed > 0)
            respond_error_as(h, 400, "One or more data points had errors",
                             "Please see the TSD logs or append \"details\" to the put request",
                             false);
        else
            respond(h, 204, NULL, "", 0, false);
        return;
    }
    put_summary(h, ps->ok, ps->failed, -1, ps->failed > 0 ? 400 : 200);
}

/* {"success","failed"[,"timeouts"][,"errors":[...]]} with status code. */
static void
put_summary(struct http_conn *h, size_t ok, size_t failed, long timeouts, int code)
{
    struct put_state *ps = &h->put;
    char head[128];
    int k = snprintf(head, sizeof(head), "{\"success\":%zu,\"failed\":%zu", ok, failed);
    if (timeouts >= 0)
        k += snprintf(head + k, sizeof(head) - (size_t)k, ",\"timeouts\":%ld", timeouts);
    size_t n = (size_t)k;
    if (ps->details) {
        /* wrap the entries in place: they were reserved with room to spare */
        static const char open[] = ",\"errors\":[";
        size_t total = n + sizeof(open) - 1 + h->details.len + 2;
        if (details_reserve(h, total)) {
            char *d = h->details.p;
            memmove(d + n + sizeof(open) - 1, d, h->details.len);
            memcpy(d, head, n);
            memcpy(d + n, open, sizeof(open) - 1);
            memcpy(d + total - 2, "]}", 2);
            respond(h, code, "application/json", d, total, false);
            return;
        }
        g_stats.http_details_truncated += h->details_count;
        n += (size_t)snprintf(head + n, sizeof(head) - n, ",\"errors\":[]");
    }
    head[n++] = '}';
    respond(h, code, "application/json", head, n, false);
}

/* Runs (or carries on with) /api/put.  false: it waits for room. */
static bool
api_put(struct http_conn *h)
{
    struct put_state *ps = &h->put;
    if (!ps->active) {
        memset(ps, 0, sizeof(*ps));
        ps->active = true;
        h->details.len = 0;
        h->details_count = 0;
        if (h->parser.method != HTTP_POST) {
            respond_error_as(h, 405, "Method not allowed",
                             "The HTTP method is not permitted for this endpoint", false);
            ps->active = false;
            return true;
        }
        ps->details = query_has(h->url, h->url_len, "details");
        ps->summary = query_has(h->url, h->url_len, "summary");
        ps->sync = query_has(h->url, h->url_len, "sync") && h->host.sync_wait != NULL;
        ps->sync_timeout_given = query_ms(h->url, h->url_len, "sync_timeout",
                                          &ps->sync_timeout_ms) && ps->sync_timeout_ms > 0;
    }
    if (ps->sync && !ps->sync_begun) {
        ps->sync_begun = true; /* the host marks where the request's points begin */
        ps->sync = h->host.sync_begin(h->host.ctx) == TS_OK;
    }
    if (h->gzip && !ps->checked) {
        int jrc;
        struct point_error unused;
        int z = inflate_body(h, false, &unused, &jrc);
        if (z != 0) {
            if (z == 413)
                h->close = true;
            respond_error_as(h, z, z == 413 ? "Request body too large" : "Invalid gzip body", NULL,
                             false);
            ps->active = false;
            return true;
        }
        ps->checked = true;
    }
    int doc_rc = TS_OK, gz = 0;
    struct point_error derr;
    memset(&derr, 0, sizeof(derr));
    if (put_pass(h, &doc_rc, &derr, &gz) == TS_EAGAIN)
        return false;
    if (ps->sync && doc_rc == TS_OK && ps->ok > 0) {
        uint64_t wait = ps->sync_timeout_given ? ps->sync_timeout_ms : 0;
        if (h->host.sync_wait(h->host.ctx, wait) == TS_OK) {
            h->wait = WAIT_SYNC; /* answered by http_sync_done */
            return false;
        }
    }
    put_answer(h, doc_rc, &derr);
    ps->active = false;
    return true;
}

/* ---- ?sync -------------------------------------------------------------- */

void
http_sync_refused(struct http_conn *h, const char *line, size_t len, const char *text,
                  size_t tlen)
{
    struct put_state *ps = &h->put;
    if (h->wait != WAIT_SYNC || ps->sync_done || ps->sync_failed >= ps->ok)
        return;
    ps->sync_failed++;
    if (!ps->details)
        return;
    /* the datapoint as the TSD would echo it, and its words */
    char dp[PUTJSON_MAX];
    uint64_t key;
    size_t n = putjson_write(line, len, dp, sizeof(dp), &key);
    if (n == 0)
        n = (size_t)snprintf(dp, sizeof(dp), "null");
    size_t most = 16 + n + 12 + 6 * tlen + 4;
    if (h->details.len + most > h->host.max_body || !details_reserve(h, most)) {
        g_stats.http_details_truncated++;
        return;
    }
    char *o = h->details.p + h->details.len;
    size_t k = 0;
    if (h->details_count++ > 0)
        o[k++] = ',';
    k += (size_t)snprintf(o + k, most, "{\"datapoint\":%.*s,\"error\":\"", (int)n, dp);
    k += httpreply_json_escape(text, tlen, false, o + k, 6 * tlen);
    memcpy(o + k, "\"}", 2);
    h->details.len += k + 2;
}

void
http_sync_done(struct http_conn *h, bool proven)
{
    struct put_state *ps = &h->put;
    if (h->wait != WAIT_SYNC || ps->sync_done)
        return;
    ps->sync_done = true;
    size_t refused = TS_MIN(ps->sync_failed, ps->ok);
    size_t failed = ps->failed + refused, rest = ps->ok - refused;
    char msg[200];
    if (!proven) { /* the TSD's PutTimeout: 400 */
        g_stats.http_sync_timeouts++;
        if (ps->summary || ps->details) {
            put_summary(h, 0, failed, (long)rest, 400);
            return;
        }
        snprintf(msg, sizeof(msg), "The put call has timedout with 0 successful writes, %zu "
                 "failed writes and %zu timed out writes.", failed, rest);
        respond_error_as(h, 400, msg,
                         "Please see the TSD logs or append \"details\" to the put request",
                         false);
        return;
    }
    g_stats.http_sync_proven++;
    if (ps->summary || ps->details) { /* storage failures alone: still 200 */
        put_summary(h, rest, failed, ps->sync_timeout_given ? 0 : -1, ps->failed > 0 ? 400 : 200);
        return;
    }
    if (failed > 0)
        respond_error_as(h, 400, "One or more data points had errors",
                         "Please see the TSD logs or append \"details\" to the put request",
                         false);
    else
        respond(h, 204, NULL, "", 0, false);
}

bool
http_sync_waiting(const struct http_conn *h)
{
    return h->wait == WAIT_SYNC && !h->put.sync_done;
}

/* ---- requests ----------------------------------------------------------- */

static void
release_body(struct http_conn *h)
{
    if (h->body.p != NULL)
        h->host.body_free(h->host.ctx, h->body.p, h->body.cap);
    memset(&h->body, 0, sizeof(h->body));
}

/* Answers the request; false when /api/put waits for room. */
static bool
http_dispatch(struct http_conn *h)
{
    if (h->is_put)
        return api_put(h);
    size_t plen = h->url_len;
    const char *q = memchr(h->url, '?', h->url_len);
    if (q != NULL)
        plen = (size_t)(q - h->url);
    struct http_request req = {
        .method = (int)h->parser.method,
        .head = h->head_request,
        .path = h->url,
        .path_len = plen,
        .query = q != NULL ? q + 1 : h->url + plen,
        .query_len = q != NULL ? h->url_len - plen - 1 : 0,
        .peer = h->host.peer,
    };
    if (h->host.endpoint != NULL)
        h->host.endpoint(h->host.endpoint_ctx, h, &req);
    else
        respond_error_as(h, 404, "Endpoint not found", NULL, true);
    return true;
}

static void
request_done(struct http_conn *h)
{
    release_body(h);
    httppass_reset(&h->pass);
    h->pass_this = h->pass_skip = h->pass_head_pause = false;
    if (h->details.cap > 65536)
        details_free(h); /* give back a large one between requests */
    h->in_request = false;
    h->head_request = false;
    h->is_put = false;
}

/* A request answered with "Connection: close" is the last one read: the
 * parser stops there, whatever the same read carried after it. */
static void
stop_if_last(struct http_conn *h)
{
    if (!h->close)
        return;
    h->closing = true;
    http_parser_pause(&h->parser, 1);
}

/* ---- parser callbacks -------------------------------------------------- */

/* /api/put, /api/rollup, /api/histogram (a trailing '/' too): the writes,
 * answered here; their datapoints' command in *cmd. */
static bool
write_path(const char *path, size_t len, enum point_cmd *cmd)
{
    static const struct { const char *path; enum point_cmd cmd; } writes[] = {
        { "/api/put", CMD_PUT }, { "/api/rollup", CMD_ROLLUP }, { "/api/histogram", CMD_HISTOGRAM },
    };
    if (len > 0 && path[len - 1] == '/')
        len--;
    for (size_t i = 0; i < TS_ARRAY_LEN(writes); i++) {
        if (strlen(writes[i].path) == len && memcmp(path, writes[i].path, len) == 0) {
            *cmd = writes[i].cmd;
            return true;
        }
    }
    return false;
}

static int
on_message_begin(http_parser *p)
{
    struct http_conn *h = p->data;
    h->url_len = 0;
    h->url_too_long = false;
    h->gzip = false;
    h->field_len = 0;
    h->last_was_value = false;
    h->field_is_encoding = false;
    h->encoding_len = 0;
    h->encoding[0] = '\0';
    h->in_request = true;
    h->head_request = false;
    h->is_put = false;
    h->classified = h->pass_this = h->pass_skip = h->pass_head_pause = false;
    httppass_reset(&h->pass);
    return 0;
}

static int
on_url(http_parser *p, const char *at, size_t len)
{
    struct http_conn *h = p->data;
    if (h->url_len + len >= URL_MAX) {
        h->url_too_long = true;
        return 0;
    }
    memcpy(h->url + h->url_len, at, len);
    h->url_len += len;
    return 0;
}

/* The path is known once the headers begin: the relay's own, or passed. */
static void
classify(struct http_conn *h)
{
    h->classified = true;
    h->pass_this = !h->url_too_long && httppass_classify(&h->pass, h->url, h->url_len);
}

/* A passed request's head could not be kept: 431 past the bound, 503
 * without memory. */
static int
pass_head_error(struct http_conn *h)
{
    h->error_status = h->pass.too_long ? 431 : 503;
    h->error_msg = h->pass.too_long ? "Request header fields too large (max-http-header-bytes)"
                                    : "memory-limit reached";
    return -1;
}

static int
on_header_field(http_parser *p, const char *at, size_t len)
{
    struct http_conn *h = p->data;
    if (!h->classified)
        classify(h);
    if (h->pass_this && httppass_header_field(&h->pass, at, len) != TS_OK)
        return pass_head_error(h);
    if (h->last_was_value) { /* a new field after a value */
        h->field_len = 0;
        h->last_was_value = false;
    }
    size_t take = TS_MIN(len, sizeof(h->field) - 1 - h->field_len);
    memcpy(h->field + h->field_len, at, take);
    h->field_len += take;
    h->field[h->field_len] = '\0';
    return 0;
}

static int
on_header_value(http_parser *p, const char *at, size_t len)
{
    struct http_conn *h = p->data;
    if (h->pass_this && httppass_header_value(&h->pass, at, len) != TS_OK)
        return pass_head_error(h);
    if (!h->last_was_value) /* the first piece of this value */
        h->field_is_encoding = strcasecmp(h->field, "Content-Encoding") == 0;
    if (h->field_is_encoding) {
        /* values may arrive in pieces: collect, decide at the end of headers */
        size_t take = TS_MIN(len, sizeof(h->encoding) - 1 - h->encoding_len);
        memcpy(h->encoding + h->encoding_len, at, take);
        h->encoding_len += take;
        h->encoding[h->encoding_len] = '\0';
    }
    h->last_was_value = true;
    return 0;
}

/* Asks the host for the body's memory; pauses the parser when it must wait. */
static int
ask_body(struct http_conn *h)
{
    char *mem = NULL;
    int rc = h->host.body_alloc(h->host.ctx, h->body_need, &mem);
    if (rc == TS_EAGAIN) {
        h->wait = WAIT_BODY;
        http_parser_pause(&h->parser, 1);
        return 0;
    }
    if (rc != TS_OK) {
        h->error_status = 503;
        h->error_msg = "memory-limit reached";
        return -1;
    }
    h->body.p = mem;
    h->body.cap = h->body_need;
    h->body.len = 0;
    h->wait = WAIT_NONE;
    return 0;
}

/* A passed request's head is complete: the pass-through takes it.  With
 * a body, the parser pauses so that the body is fed only as fast as the
 * pass-through takes it (http_feed). */
static int
pass_begin(struct http_conn *h, http_parser *p)
{
    struct httppass *ps = &h->pass;
    if (httppass_headers_end(ps) != TS_OK)
        return pass_head_error(h);
    if (!h->host.data_allowed) {
        h->error_status = 503;
        h->error_msg = "too many connections (max-clients): this connection serves stats only";
        return -1;
    }
    bool chunked = (p->flags & F_CHUNKED) != 0;
    bool body = chunked || (p->content_length != ULLONG_MAX && p->content_length > 0);
    struct httppass_req req = {
        .method = http_method_str(p->method),
        .head = h->head_request,
        .url = h->url,
        .url_len = h->url_len,
        .http_major = p->http_major,
        .http_minor = p->http_minor,
        .keep_alive = !h->close,
        .has_body = body,
        .chunked = chunked,
        .content_length = body && !chunked ? p->content_length : 0,
        .origin = h->host.origin != NULL ? h->host.origin : "unknown",
    };
    h->pass_skip = !httppass_begin(ps, &req); /* answered at once: a body is skipped */
    if (h->pass_skip && h->close) { /* that answer ended the connection */
        h->closing = true;
        http_parser_pause(p, 1);
        return 0;
    }
    if (ps->passing && body) {
        h->pass_head_pause = true;
        http_parser_pause(p, 1);
    }
    return 0;
}

static int
on_headers_complete(http_parser *p)
{
    struct http_conn *h = p->data;
    uint64_t max = h->host.max_body;
    h->gzip = strcasecmp(h->encoding, "gzip") == 0 || strcasecmp(h->encoding, "x-gzip") == 0;
    h->head_request = p->method == HTTP_HEAD;
    h->close = !http_should_keep_alive(p);
    size_t plen = h->url_len;
    const char *q = memchr(h->url, '?', h->url_len);
    if (q != NULL)
        plen = (size_t)(q - h->url);
    h->is_put = write_path(h->url, plen, &h->put_cmd);
    if (h->url_too_long) {
        h->error_status = 414;
        h->error_msg = "URL too long";
        return -1;
    }
    if (!h->classified)
        classify(h);
    if (h->pass_this)
        return pass_begin(h, p); /* streamed: max-http-body-bytes does not apply */
    if (p->content_length != ULLONG_MAX && p->content_length > max) {
        h->error_status = 413;
        h->error_msg = "Request body too large (max-http-body-bytes)";
        return -1;
    }
    if (h->is_put && !h->host.data_allowed) {
        h->error_status = 503;
        h->error_msg = "too many connections (max-clients): this connection serves stats only";
        return -1;
    }
    bool chunked = (p->flags & F_CHUNKED) != 0;
    bool body = chunked || (p->content_length != ULLONG_MAX && p->content_length > 0);
    if (!h->is_put || !body || p->method != HTTP_POST)
        return 0; /* a body nobody reads is skipped, not kept */
    h->body_need = chunked ? (size_t)max : (size_t)p->content_length;
    return ask_body(h);
}

static int
on_body(http_parser *p, const char *at, size_t len)
{
    struct http_conn *h = p->data;
    if (h->pass_this) {
        httppass_body(&h->pass, at, len); /* (http_feed gave no more than its room) */
        return 0;
    }
    if (h->body.p == NULL)
        return 0; /* not kept */
    if (h->body.len + len > h->body.cap) { /* chunked past the bound */
        h->error_status = 413;
        h->error_msg = "Request body too large (max-http-body-bytes)";
        return -1;
    }
    memcpy(h->body.p + h->body.len, at, len);
    h->body.len += len;
    return 0;
}

/* A passed request has ended for the pass-through: its connection goes
 * on (or ends, as its answer said). */
static void
pass_finish(struct http_conn *h)
{
    bool aborted = h->pass.aborted;
    if (h->pass.close)
        h->close = true;
    request_done(h);
    if (aborted) {
        h->closing = true; /* cut: nothing more on this connection */
        return;
    }
    stop_if_last(h);
}

/* A passed request was received whole: its answer may still be coming. */
static int
pass_complete(struct http_conn *h, http_parser *p)
{
    struct httppass *ps = &h->pass;
    httppass_body_end(ps);
    if (ps->passing) {
        h->wait = WAIT_PASS_ANSWER;
        http_parser_pause(p, 1);
        return 0;
    }
    pass_finish(h);
    return 0;
}

static int
on_message_complete(http_parser *p)
{
    struct http_conn *h = p->data;
    g_stats.http_requests++;
    if (h->pass_this)
        return pass_complete(h, p);
    if (!http_dispatch(h)) {
        if (h->wait == WAIT_NONE)
            h->wait = WAIT_ROOM;
        http_parser_pause(p, 1);
        return 0;
    }
    request_done(h);
    stop_if_last(h);
    return 0;
}

static const http_parser_settings settings = {
    .on_message_begin = on_message_begin,
    .on_url = on_url,
    .on_header_field = on_header_field,
    .on_header_value = on_header_value,
    .on_headers_complete = on_headers_complete,
    .on_body = on_body,
    .on_message_complete = on_message_complete,
};

/* ---- public ------------------------------------------------------------ */

/* The pass-through's error answer (httppass_fail). */
static void
pass_respond_error(struct httppass *ps, int code, const char *msg, const char *details)
{
    respond_error_as(container_of(ps, struct http_conn, pass), code, msg, details, false);
}

bool
http_passing(const struct http_conn *h)
{
    return h->pass.passing || h->wait == WAIT_PASS_ROOM || h->wait == WAIT_PASS_ANSWER;
}

void
http_writable(struct http_conn *h)
{
    httppass_writable(&h->pass);
}

size_t
http_conn_size(void)
{
    return sizeof(struct http_conn);
}

struct http_conn *
http_conn_new(const struct http_host *host)
{
    struct http_conn *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return NULL;
    h->host = *host;
    http_parser_init(&h->parser, HTTP_REQUEST);
    h->parser.data = h;
    h->pass.pool = host->pool;
    h->pass.max_header = (size_t)host->max_header;
    h->pass.host = host->ctx;
    h->pass.stream = host->stream;
    h->pass.wake = host->wake;
    h->pass.respond_error = pass_respond_error;
    h->pass.ops = host->pass;
    h->pass.ops_ctx = host->pass_ctx;
    return h;
}

void
http_conn_free(struct http_conn *h)
{
    if (h == NULL)
        return;
    release_body(h);
    details_free(h);
    httppass_free(&h->pass); /* a passed request in progress is aborted */
    free(h);
}

bool
http_waiting(const struct http_conn *h)
{
    return h->wait != WAIT_NONE;
}

bool
http_in_request(const struct http_conn *h)
{
    return h->in_request;
}

/* Carries on with a waiting request.  false: it still waits. */
static bool
resume(struct http_conn *h, enum http_state *state)
{
    switch (h->wait) {
    case WAIT_BODY:
        if (ask_body(h) != 0) {
            respond_error_as(h, h->error_status, h->error_msg, NULL, false);
            *state = HTTP_CLOSE;
            return false;
        }
        if (h->wait == WAIT_BODY) {
            *state = HTTP_WAIT_BODY;
            return false;
        }
        break;
    case WAIT_ROOM:
        if (!http_dispatch(h)) {
            *state = h->wait == WAIT_SYNC ? HTTP_WAIT_SYNC : HTTP_WAIT_ROOM;
            return false;
        }
        request_done(h);
        h->wait = WAIT_NONE;
        stop_if_last(h);
        break;
    case WAIT_PASS_ROOM: /* the parser is not paused: it was not fed */
        if (!httppass_room(&h->pass, &(size_t){ 1 })) {
            *state = HTTP_WAIT_PASS;
            return false;
        }
        h->wait = WAIT_NONE;
        return true;
    case WAIT_PASS_ANSWER:
        if (h->pass.passing) {
            *state = HTTP_WAIT_PASS;
            return false;
        }
        h->wait = WAIT_NONE;
        pass_finish(h);
        break;
    case WAIT_SYNC:
        if (!h->put.sync_done) {
            *state = HTTP_WAIT_SYNC;
            return false;
        }
        h->put.active = false; /* answered by http_sync_done */
        request_done(h);
        h->wait = WAIT_NONE;
        stop_if_last(h);
        break;
    case WAIT_NONE:
        return true;
    }
    http_parser_pause(&h->parser, 0);
    return true;
}

/* After one execute of n of the give bytes: true to feed on, false to
 * stop (*state says why). */
static bool
after_execute(struct http_conn *h, size_t n, size_t give, enum http_state *state)
{
    if (h->error_status != 0) {
        h->close = true;
        if (!httppass_cut(&h->pass))
            respond_error_as(h, h->error_status, h->error_msg, NULL, false);
        h->closing = true;
        *state = HTTP_CLOSE;
        return false;
    }
    if (h->closing) { /* the last request was answered, or a reply failed */
        *state = HTTP_CLOSE;
        return false;
    }
    enum http_errno err = HTTP_PARSER_ERRNO(&h->parser);
    if (err == HPE_PAUSED && h->pass_head_pause && h->wait == WAIT_NONE) {
        h->pass_head_pause = false; /* the body now, by room */
        http_parser_pause(&h->parser, 0);
        return true;
    }
    if (err == HPE_PAUSED) {
        *state = h->wait == WAIT_BODY   ? HTTP_WAIT_BODY
                 : h->wait == WAIT_ROOM ? HTTP_WAIT_ROOM
                 : h->wait == WAIT_SYNC ? HTTP_WAIT_SYNC : HTTP_WAIT_PASS;
        return false;
    }
    if (err != HPE_OK) {
        char msg[160];
        snprintf(msg, sizeof(msg), "Malformed HTTP request: %s", http_errno_description(err));
        h->close = true;
        if (!httppass_cut(&h->pass))
            respond_error_as(h, 400, msg, NULL, false);
        h->closing = true;
        *state = HTTP_CLOSE;
        return false;
    }
    if (h->parser.upgrade || n != give) {
        h->closing = true;
        *state = HTTP_CLOSE;
        return false;
    }
    return true;
}

size_t
http_feed(struct http_conn *h, const char *buf, size_t len, enum http_state *state)
{
    *state = HTTP_READY;
    if (h->closing) {
        *state = HTTP_CLOSE;
        return 0;
    }
    if (!resume(h, state)) {
        if (*state == HTTP_CLOSE)
            h->closing = true;
        return 0;
    }
    if (h->closing || h->pass.aborted) { /* the resumed request was the last, or was cut */
        h->closing = true;
        *state = HTTP_CLOSE;
        return 0;
    }
    size_t done = 0; /* (http-parser takes 0 bytes for the end of the stream: never given) */
    while (done < len) {
        size_t give = len - done;
        if (!h->pass_head_pause && !httppass_room(&h->pass, &give)) {
            h->wait = WAIT_PASS_ROOM;
            *state = HTTP_WAIT_PASS;
            return done;
        }
        size_t n = http_parser_execute(&h->parser, &settings, buf + done, give);
        done += n;
        if (!after_execute(h, n, give, state))
            return done;
    }
    if (h->close && !h->in_request) {
        /* answered a request that ends the connection */
        h->closing = true;
        *state = HTTP_CLOSE;
    }
    return done;
}
