/*
 * httpput.c -- the writes over HTTP: POST /api/put, /api/rollup and
 * /api/histogram, as the TSD's PutDataPointRpc.processDataPoint answers
 * them (shared by the three): 204 when every point is good and neither
 * ?summary nor ?details was asked, 400 with the TSD's error object
 * otherwise, {"success","failed"[,"errors"]} with ?summary / ?details
 * (entries charged to the input class, bounded by max-http-body-bytes).
 * gzip bodies are inflated in pieces into the JSON parser (once first to
 * check the size and the stream), never into a buffer of their own; when
 * the sink has no room the request stops and the next pass skips what
 * was done.  With ?sync the answer waits, through the host, for each
 * point's proof.  It never sees a socket and never allocates per point.
 */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "base/counters.h"
#include "base/log.h"
#include "base/pool.h"
#include "base/putjson.h"
#include "base/util.h"
#include "input/http.h"
#include "input/http_conn.h"
#include "input/httpreply.h"
#include "input/ingest.h"
#include "input/json.h"

#define DETAILS_DP_MAX INGEST_ECHO_MAX /* longest datapoint echoed in ?details */
#define INFLATE_PIECE (64u << 10)

/* ---- /api/put ---------------------------------------------------------- */

/* The request's query (after the "?"; empty when there is none). */
static void
url_query(const char *url, size_t len, const char **q, size_t *qlen)
{
    const char *mark = memchr(url, '?', len);
    *q = mark != NULL ? mark + 1 : url + len;
    *qlen = (size_t)(url + len - *q);
}

/* ?name=<ms>: true with the number (a value that is not one, or none,
 * reads 0, as the TSD's Integer.parseInt would refuse it: no bound). */
static bool
query_ms(const char *q, size_t qlen, const char *name, uint64_t *ms)
{
    const char *v;
    size_t vlen;
    if (!http_query_param(q, qlen, name, &v, &vlen))
        return false;
    uint64_t n = 0;
    for (const char *d = v; d < v + vlen && *d >= '0' && *d <= '9'; d++)
        n = n < UINT64_MAX / 10 ? n * 10 + (uint64_t)(*d - '0') : n;
    *ms = n;
    return true;
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

void
httpput_details_free(struct http_conn *h)
{
    free(h->details.p);
    pool_uncharge(h->host.pool, h->details_charged, POOL_INPUT);
    memset(&h->details, 0, sizeof(h->details));
    h->details_charged = 0;
    h->details_count = 0;
}

static struct http_conn *put_conn; /* the request whose pass is running */

/* One entry of ?details, {"datapoint":<dp>,"error":"<text>"} (dp is JSON;
 * text escaped, latin1: its bytes are ISO-8859-1), whole or not at all
 * (counted): at most max-http-body-bytes of them. */
static void
details_add(struct http_conn *h, const char *dp, size_t dplen, const char *text, size_t tlen,
            bool latin1)
{
    size_t most = 1 + 13 + dplen + 10 + 6 * tlen + 2;
    if (h->details.len + most > h->host.max_body || !details_reserve(h, most)) {
        g_stats.http_details_truncated++;
        return;
    }
    char *o = h->details.p + h->details.len;
    size_t n = 0;
    if (h->details_count++ > 0)
        o[n++] = ',';
    memcpy(o + n, "{\"datapoint\":", 13);
    n += 13;
    memcpy(o + n, dp, dplen);
    n += dplen;
    memcpy(o + n, ",\"error\":\"", 10);
    n += 10;
    n += httpreply_json_escape(text, tlen, latin1, o + n, 6 * tlen);
    memcpy(o + n, "\"}", 2);
    h->details.len += n + 2;
}

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
    if (ilen <= DETAILS_DP_MAX) { /* the datapoint as sent: valid JSON */
        details_add(h, input, ilen, msg, mlen, true);
        return;
    }
    char note[96];
    int k = snprintf(note, sizeof(note), "\"(a %zu-byte datapoint, not repeated)\"", ilen);
    details_add(h, note, (size_t)k, msg, mlen, true);
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
        http_conn_respond_error(h, 400, derr->msg, NULL, false);
        return;
    }
    if (ps->points == 0) {
        http_conn_respond_error(h, 400, "No datapoints found in content", NULL, false);
        return;
    }
    if (!ps->summary && !ps->details) {
        if (ps->failed > 0)
            http_conn_respond_error(h, 400, "One or more data points had errors",
                             "Please see the TSD logs or append \"details\" to the put request",
                             false);
        else
            http_conn_respond(h, 204, NULL, "", 0, false);
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
            http_conn_respond(h, code, "application/json", d, total, false);
            return;
        }
        g_stats.http_details_truncated += h->details_count;
        n += (size_t)snprintf(head + n, sizeof(head) - n, ",\"errors\":[]");
    }
    head[n++] = '}';
    http_conn_respond(h, code, "application/json", head, n, false);
}

/* Runs (or carries on with) /api/put.  false: it waits for room. */
bool
httpput_answer(struct http_conn *h)
{
    struct put_state *ps = &h->put;
    if (!ps->active) {
        memset(ps, 0, sizeof(*ps));
        ps->active = true;
        h->details.len = 0;
        h->details_count = 0;
        if (h->parser.method != HTTP_POST) {
            http_conn_respond_error(h, 405, "Method not allowed",
                             "The HTTP method is not permitted for this endpoint", false);
            ps->active = false;
            return true;
        }
        const char *q;
        size_t qlen;
        url_query(h->url, h->url_len, &q, &qlen);
        ps->details = http_query_param(q, qlen, "details", NULL, NULL);
        ps->summary = http_query_param(q, qlen, "summary", NULL, NULL);
        ps->sync = http_query_param(q, qlen, "sync", NULL, NULL) && h->host.sync_wait != NULL;
        ps->sync_timeout_given = query_ms(q, qlen, "sync_timeout", &ps->sync_timeout_ms) &&
                                 ps->sync_timeout_ms > 0;
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
            http_conn_respond_error(h, z, z == 413 ? "Request body too large" : "Invalid gzip body", NULL,
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
    size_t n = putjson_write(line, len, dp, sizeof(dp), NULL);
    if (n == 0)
        n = (size_t)snprintf(dp, sizeof(dp), "null");
    details_add(h, dp, n, text, tlen, false);
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
        http_conn_respond_error(h, 400, msg,
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
        http_conn_respond_error(h, 400, "One or more data points had errors",
                         "Please see the TSD logs or append \"details\" to the put request",
                         false);
    else
        http_conn_respond(h, 204, NULL, "", 0, false);
}

bool
http_sync_waiting(const struct http_conn *h)
{
    return h->wait == WAIT_SYNC && !h->put.sync_done;
}
