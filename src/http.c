/*
 * http.c -- the OpenTSDB HTTP API subset a relay serves.
 *
 * http-parser drives a small state machine per connection.  The body bound
 * is checked on Content-Length before a byte of it is buffered (chunked
 * bodies are counted as they come); gzip bodies are inflated into a buffer
 * with the same bound.  /api/put answers exactly as the TSD does: 204 when
 * every point is good and neither ?summary nor ?details was asked, 400 with
 * the TSD's error object otherwise, {"success","failed"[,"errors"]} with
 * ?summary / ?details.  All buffers are charged to the memory budget.
 */
#include "autoconf.h"

#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <zlib.h>

#include "client.h"
#include "http.h"
#include "json.h"
#include "log.h"
#include "pool.h"
#include "relay.h"
#include "stats.h"
#include "util.h"

#define URL_MAX 4096
#define DETAILS_DP_MAX 8192       /* longest datapoint echoed in ?details */

struct buf {
    char *p;
    size_t len, cap, charged;
};

struct http_conn {
    struct client *c;
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
    int error_status;          /* set: answer this and close */
    const char *error_msg;
    struct buf body;
    struct buf details;        /* ?details error entries */
    bool close;                /* the request being answered ends the connection */
    http_endpoint_fn endpoint; /* every path but /api/put */
    void *endpoint_ctx;
    size_t details_count;
};

/* ---- buffers charged to the budget ------------------------------------ */

static bool
buf_reserve(struct pool *p, struct buf *b, size_t need)
{
    if (b->cap - b->len >= need)
        return true;
    size_t cap = TS_MAX(b->cap * 2, b->len + need);
    if (cap < 4096)
        cap = 4096;
    if (pool_charge(p, cap - b->charged, POOL_CLIENT) != TS_OK)
        return false;
    char *n = realloc(b->p, cap);
    if (n == NULL) {
        pool_uncharge(p, cap - b->charged);
        return false;
    }
    b->p = n;
    b->cap = cap;
    b->charged = cap;
    return true;
}

static bool
buf_put(struct pool *p, struct buf *b, const char *s, size_t n)
{
    if (!buf_reserve(p, b, n))
        return false;
    memcpy(b->p + b->len, s, n);
    b->len += n;
    return true;
}

static void
buf_free(struct pool *p, struct buf *b)
{
    free(b->p);
    pool_uncharge(p, b->charged);
    memset(b, 0, sizeof(*b));
}

/* JSON string body (no quotes) from ISO-8859-1 or UTF-8 text. */
static void
buf_json_escape(struct pool *p, struct buf *b, const char *s, size_t n, bool latin1)
{
    char tmp[8];
    for (size_t i = 0; i < n; i++) {
        unsigned char ch = (unsigned char)s[i];
        if (ch == '"' || ch == '\\') {
            tmp[0] = '\\';
            tmp[1] = (char)ch;
            buf_put(p, b, tmp, 2);
        } else if (ch < 0x20) {
            int k = snprintf(tmp, sizeof(tmp), "\\u%04x", ch);
            buf_put(p, b, tmp, (size_t)k);
        } else if (ch >= 0x80 && latin1) {
            size_t k = latin1_to_utf8((const char *)&ch, 1, tmp, sizeof(tmp));
            buf_put(p, b, tmp, k);
        } else {
            buf_put(p, b, (const char *)&ch, 1);
        }
    }
}

/* ---- responses --------------------------------------------------------- */

static const char *
status_text(int code)
{
    switch (code) {
    case 200: return "OK";
    case 204: return "No Content";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 500: return "Internal Server Error";
    case 503: return "Service Unavailable";
    }
    return "Error";
}

static void
respond(struct http_conn *h, int code, const char *ctype, const char *body, size_t blen,
        bool close)
{
    struct client *c = h->c;
    char head[256];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\nServer: tsrelay/%s\r\nContent-Length: %zu\r\n"
                     "%s%s%sConnection: %s\r\n\r\n",
                     code, status_text(code), PACKAGE_VERSION, blen,
                     ctype ? "Content-Type: " : "", ctype ? ctype : "", ctype ? "\r\n" : "",
                     close ? "close" : "keep-alive");
    if (code >= 400)
        g_stats.http_errors++;
    bool head_only = h->head_request; /* same headers, no body */
    size_t send = head_only ? 0 : blen;
    if (!client_reply_reserve(c, (size_t)n + send)) {
        LOG_RL(LOG_WARN, "http: no memory for a %zu-byte response; closing", (size_t)n + send);
        c->close_after_write = true;
        return;
    }
    client_reply(c, head, (size_t)n);
    client_reply(c, body, send);
    if (close)
        c->close_after_write = true;
}

static void
respond_error(struct http_conn *h, int code, const char *message, const char *details,
              bool close)
{
    struct pool *p = &h->c->r->pool;
    struct buf b = { 0 };
    char num[64];
    buf_put(p, &b, "{\"error\":{\"code\":", 17);
    int k = snprintf(num, sizeof(num), "%d", code);
    buf_put(p, &b, num, (size_t)k);
    buf_put(p, &b, ",\"message\":\"", 12);
    buf_json_escape(p, &b, message, strlen(message), false);
    buf_put(p, &b, "\"", 1);
    if (details != NULL) {
        buf_put(p, &b, ",\"details\":\"", 12);
        buf_json_escape(p, &b, details, strlen(details), false);
        buf_put(p, &b, "\"", 1);
    }
    buf_put(p, &b, "}}", 2);
    respond(h, code, "application/json", b.p ? b.p : "", b.len, close);
    buf_free(p, &b);
}

void
http_respond(struct http_conn *h, int code, const char *ctype, const char *body, size_t len)
{
    respond(h, code, ctype, body, len, h->close);
}

void
http_respond_error(struct http_conn *h, int code, const char *message, const char *details)
{
    respond_error(h, code, message, details, h->close);
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

static void
put_error(struct sink *s, const struct point_error *e, const char *input, size_t ilen,
          const void *json_dp)
{
    (void)json_dp;
    struct client *c = s->owner;
    struct http_conn *h = c->http;
    struct pool *p = &c->r->pool;
    struct buf *d = &h->details;
    /* ?details answers at most max-http-body-bytes of error entries */
    if (d->len > c->r->cfg.max_http_body_bytes) {
        g_stats.http_details_truncated++;
        return;
    }
    /* the TSD's HTTP messages: NumberFormatException -> this text */
    const char *msg = e->msg;
    size_t mlen = e->len;
    if (e->kind == PE_INVALID_VALUE) {
        msg = "Unable to parse value to a number";
        mlen = strlen(msg);
    }
    if (h->details_count++ > 0)
        buf_put(p, d, ",", 1);
    buf_put(p, d, "{\"datapoint\":", 13);
    if (ilen <= DETAILS_DP_MAX) {
        buf_put(p, d, input, ilen); /* the datapoint as sent: valid JSON */
    } else {
        char note[96];
        int k = snprintf(note, sizeof(note), "\"(a %zu-byte datapoint, not repeated)\"", ilen);
        buf_put(p, d, note, (size_t)k);
    }
    buf_put(p, d, ",\"error\":\"", 10);
    buf_json_escape(p, d, msg, mlen, true);
    buf_put(p, d, "\"}", 2);
}

static int
inflate_body(struct http_conn *h, struct buf *out)
{
    struct pool *p = &h->c->r->pool;
    size_t max = h->c->r->cfg.max_http_body_bytes;
    z_stream zs;
    memset(&zs, 0, sizeof(zs));
    if (inflateInit2(&zs, 16 + MAX_WBITS) != Z_OK)
        return 400;
    zs.next_in = (Bytef *)h->body.p;
    zs.avail_in = (uInt)h->body.len;
    int rc;
    do {
        if (out->len >= max) {
            inflateEnd(&zs);
            return 413;
        }
        if (!buf_reserve(p, out, TS_MIN((size_t)65536, max - out->len))) {
            inflateEnd(&zs);
            return 503;
        }
        zs.next_out = (Bytef *)(out->p + out->len);
        zs.avail_out = (uInt)(out->cap - out->len);
        if (out->len + zs.avail_out > max)
            zs.avail_out = (uInt)(max - out->len);
        size_t before = zs.avail_out;
        rc = inflate(&zs, Z_NO_FLUSH);
        out->len += before - zs.avail_out;
        if (rc == Z_BUF_ERROR && zs.avail_in == 0)
            break;
    } while (rc == Z_OK || (rc == Z_BUF_ERROR && zs.avail_out == 0));
    inflateEnd(&zs);
    return (rc == Z_STREAM_END) ? 0 : 400;
}

static void
api_put(struct http_conn *h, bool close)
{
    struct client *c = h->c;
    struct pool *p = &c->r->pool;
    if (h->parser.method != HTTP_POST) {
        respond_error(h, 405, "Method not allowed",
                      "The HTTP method is not permitted for this endpoint", close);
        return;
    }
    const char *body = h->body.p ? h->body.p : "";
    size_t blen = h->body.len;
    struct buf plain = { 0 };
    if (h->gzip) {
        int rc = inflate_body(h, &plain);
        if (rc != 0) {
            buf_free(p, &plain);
            respond_error(h, rc, rc == 413 ? "Request body too large" : "Invalid gzip body",
                          NULL, rc == 413 || close);
            return;
        }
        body = plain.p ? plain.p : "";
        blen = plain.len;
    }
    bool details = query_has(h->url, h->url_len, "details");
    bool summary = query_has(h->url, h->url_len, "summary");
    struct json_result res;
    struct point_error derr;
    h->details.len = 0;
    h->details_count = 0;
    c->sink.on_error = put_error;
    int rc = json_ingest(&c->sink, body, blen, &res, &derr);
    c->sink.on_error = NULL;
    buf_free(p, &plain);
    if (rc != TS_OK) {
        respond_error(h, 400, derr.msg, NULL, close);
        return;
    }
    if (res.points == 0) {
        respond_error(h, 400, "No datapoints found in content", NULL, close);
        return;
    }
    if (!summary && !details) {
        if (res.failed > 0)
            respond_error(h, 400, "One or more data points had errors",
                          "Please see the TSD logs or append \"details\" to the put request",
                          close);
        else
            respond(h, 204, NULL, "", 0, close);
        return;
    }
    struct buf b = { 0 };
    char num[96];
    int k = snprintf(num, sizeof(num), "{\"success\":%zu,\"failed\":%zu", res.ok, res.failed);
    buf_put(p, &b, num, (size_t)k);
    if (details) {
        buf_put(p, &b, ",\"errors\":[", 11);
        if (h->details.len > 0)
            buf_put(p, &b, h->details.p, h->details.len);
        buf_put(p, &b, "]", 1);
    }
    buf_put(p, &b, "}", 1);
    respond(h, res.failed > 0 ? 400 : 200, "application/json", b.p, b.len, close);
    buf_free(p, &b);
}

static void
dispatch(struct http_conn *h)
{
    g_stats.http_requests++;
    h->close = !http_should_keep_alive(&h->parser);
    size_t plen = h->url_len;
    const char *q = memchr(h->url, '?', h->url_len);
    if (q != NULL)
        plen = (size_t)(q - h->url);
    if ((plen == 8 && memcmp(h->url, "/api/put", 8) == 0) ||
        (plen == 9 && memcmp(h->url, "/api/put/", 9) == 0)) {
        api_put(h, h->close);
        return;
    }
    struct http_request req = {
        .method = (int)h->parser.method,
        .head = h->head_request,
        .path = h->url,
        .path_len = plen,
        .query = q != NULL ? q + 1 : h->url + plen,
        .query_len = q != NULL ? h->url_len - plen - 1 : 0,
    };
    if (h->endpoint != NULL)
        h->endpoint(h->endpoint_ctx, h, &req);
    else
        respond_error(h, 404, "Endpoint not found", NULL, h->close);
}

/* ---- parser callbacks -------------------------------------------------- */

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
    h->body.len = 0;
    h->in_request = true;
    h->head_request = false;
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

static int
on_header_field(http_parser *p, const char *at, size_t len)
{
    struct http_conn *h = p->data;
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

static int
on_headers_complete(http_parser *p)
{
    struct http_conn *h = p->data;
    struct client *c = h->c;
    uint64_t max = c->r->cfg.max_http_body_bytes;
    h->gzip = strcasecmp(h->encoding, "gzip") == 0 || strcasecmp(h->encoding, "x-gzip") == 0;
    h->head_request = p->method == HTTP_HEAD;
    if (h->url_too_long) {
        h->error_status = 414;
        h->error_msg = "URL too long";
        return -1;
    }
    if (p->content_length != ULLONG_MAX && p->content_length > max) {
        h->error_status = 413;
        h->error_msg = "Request body too large (max-http-body-bytes)";
        return -1;
    }
    if (p->content_length != ULLONG_MAX && p->content_length > 0) {
        if (!buf_reserve(&c->r->pool, &h->body, (size_t)p->content_length)) {
            h->error_status = 503;
            h->error_msg = "memory-limit reached";
            return -1;
        }
    }
    return 0;
}

static int
on_body(http_parser *p, const char *at, size_t len)
{
    struct http_conn *h = p->data;
    struct client *c = h->c;
    if (h->body.len + len > c->r->cfg.max_http_body_bytes) {
        h->error_status = 413;
        h->error_msg = "Request body too large (max-http-body-bytes)";
        return -1;
    }
    if (!buf_put(&c->r->pool, &h->body, at, len)) {
        h->error_status = 503;
        h->error_msg = "memory-limit reached";
        return -1;
    }
    return 0;
}

static int
on_message_complete(http_parser *p)
{
    struct http_conn *h = p->data;
    dispatch(h);
    h->in_request = false;
    h->head_request = false;
    /* give back a large body buffer between requests */
    if (h->body.cap > 65536)
        buf_free(&h->c->r->pool, &h->body);
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

struct http_conn *
http_conn_new(struct client *c)
{
    struct http_conn *h = calloc(1, sizeof(*h));
    if (h == NULL)
        return NULL;
    if (pool_charge(&c->r->pool, sizeof(*h), POOL_CLIENT) != TS_OK) {
        free(h);
        return NULL;
    }
    h->c = c;
    http_parser_init(&h->parser, HTTP_REQUEST);
    h->parser.data = h;
    return h;
}

void
http_set_endpoint(struct http_conn *h, http_endpoint_fn fn, void *ctx)
{
    h->endpoint = fn;
    h->endpoint_ctx = ctx;
}

void
http_conn_free(struct http_conn *h)
{
    struct pool *p = &h->c->r->pool;
    buf_free(p, &h->body);
    buf_free(p, &h->details);
    free(h);
    pool_uncharge(p, sizeof(*h));
}

int
http_in_request(const struct http_conn *h)
{
    return h->in_request;
}

int
http_feed(struct http_conn *h, const char *buf, size_t len)
{
    if (h == NULL)
        return TS_ERROR;
    size_t n = http_parser_execute(&h->parser, &settings, buf, len);
    if (h->error_status != 0) {
        respond_error(h, h->error_status, h->error_msg, NULL, true);
        return TS_ERROR;
    }
    if (h->parser.http_errno != HPE_OK) {
        char msg[160];
        snprintf(msg, sizeof(msg), "Malformed HTTP request: %s",
                 http_errno_description(HTTP_PARSER_ERRNO(&h->parser)));
        respond_error(h, 400, msg, NULL, true);
        return TS_ERROR;
    }
    if (h->parser.upgrade || n != len)
        return TS_ERROR;
    return TS_OK;
}
