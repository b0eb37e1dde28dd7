/*
 * http.c -- HTTP/1.1 for the relay: request framing, dispatch, and the
 * pass-through's side of a request.
 *
 * http-parser drives a small state machine per connection.  Headers are
 * read into fixed fields (nothing is buffered for them).  A write's body
 * (/api/put, /api/rollup, /api/histogram) is checked against
 * max-http-body-bytes on its Content-Length, then asked of the host
 * (admission) before a byte of it is read: the parser pauses at the end of
 * the headers until the host has the memory.  Chunked bodies ask for the
 * bound.  The write itself and its answer are httpput.c's; when the sink
 * has no room, the parser pauses at the end of the request and the next
 * feed carries on from the datapoint where it stopped.  The relay's other
 * paths go to the host's endpoint, every other one to the pass-through.
 * It never sees a socket.
 */
#include "autoconf.h"

#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "input/http.h"
#include "input/http_conn.h"
#include "input/httpreply.h"
#include "input/ingest.h"
#include "input/json.h"
#include "base/log.h"
#include "base/putjson.h"
#include "base/pool.h"
#include "base/counters.h"
#include "base/util.h"


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

void
http_conn_respond(struct http_conn *h, int code, const char *ctype, const char *body, size_t blen,
        bool control)
{
    respond_with(h, code, ctype, NULL, body, blen, control);
}

void
http_conn_respond_error(struct http_conn *h, int code, const char *message, const char *details,
                 bool control)
{
    char b[3 * 1024];
    size_t n = httpreply_error_body(code, message, details, b, sizeof(b));
    http_conn_respond(h, code, "application/json", b, n, control);
}

void
http_respond(struct http_conn *h, int code, const char *ctype, const char *body, size_t len)
{
    http_conn_respond(h, code, ctype, body, len, true);
}

bool
http_query_param(const char *query, size_t qlen, const char *name, const char **val,
                 size_t *vlen)
{
    if (query == NULL) /* no "?" */
        return false;
    size_t nl = strlen(name);
    bool found = false;
    for (const char *p = query, *end = query + qlen; p < end;) {
        const char *amp = memchr(p, '&', (size_t)(end - p));
        const char *e = amp != NULL ? amp : end;
        const char *eq = memchr(p, '=', (size_t)(e - p));
        const char *ke = eq != NULL ? eq : e;
        if ((size_t)(ke - p) == nl && memcmp(p, name, nl) == 0) {
            found = true;
            if (val != NULL)
                *val = eq != NULL ? eq + 1 : e;
            if (vlen != NULL)
                *vlen = eq != NULL ? (size_t)(e - eq - 1) : 0;
        }
        p = e + 1;
    }
    return found;
}

void
http_respond_error(struct http_conn *h, int code, const char *message, const char *details)
{
    http_conn_respond_error(h, code, message, details, true);
}

void
http_redirect(struct http_conn *h, const char *location)
{
    respond_with(h, 302, NULL, location, "", 0, true);
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
        return httpput_answer(h);
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
        http_conn_respond_error(h, 404, "Endpoint not found", NULL, true);
    return true;
}

static void
request_done(struct http_conn *h)
{
    release_body(h);
    httppass_reset(&h->pass);
    h->pass_this = h->pass_skip = h->pass_head_pause = false;
    if (h->details.cap > 65536)
        httpput_details_free(h); /* give back a large one between requests */
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
    http_conn_respond_error(container_of(ps, struct http_conn, pass), code, msg, details, false);
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
    httpput_details_free(h);
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
            http_conn_respond_error(h, h->error_status, h->error_msg, NULL, false);
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
            http_conn_respond_error(h, h->error_status, h->error_msg, NULL, false);
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
            http_conn_respond_error(h, 400, msg, NULL, false);
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
