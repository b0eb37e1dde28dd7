/*
 * rejected_http.c -- GET /tsrelay/rejected and POST
 * /tsrelay/rejected/replay?backend=NAME.
 *
 * The list is JSON: the last refusals (newest first: time, backend,
 * reason, the TSD's words, the line) and, per HTTP backend, the Redis key
 * its refusals are kept in.  A replay begins at once and runs in the
 * background (rejected.replayed counts it); the answer says it began.
 * Strings are escaped for JSON; nothing is allocated but the answer's
 * fixed buffer.
 */
#include "autoconf.h"

#include <http_parser.h>
#include <stdio.h>
#include <string.h>

#include "base/util.h"
#include "core/rejects.h"
#include "core/relay.h"
#include "input/http.h"
#include "input/httpreply.h"
#include "ops/rejected_http.h"
#include "output/backend_http.h"
#include "spool/spool.h"

#define RJ_LIST "/tsrelay/rejected"
#define RJ_REPLAY "/tsrelay/rejected/replay"

bool
rejected_http_path(const char *path, size_t len)
{
    return len >= sizeof(RJ_LIST) - 1 && memcmp(path, RJ_LIST, sizeof(RJ_LIST) - 1) == 0;
}

/* s as a JSON string body, NUL-terminated (httpreply_json_escape): the
 * TSD's lines are ISO-8859-1 (latin1), its messages and names UTF-8. */
static size_t
rejected_http_escape(const char *s, bool latin1, char *out, size_t cap)
{
    size_t o = httpreply_json_escape(s, strlen(s), latin1, out, cap - 1);
    out[o] = '\0';
    return o;
}

static void
rejected_http_list(struct relay *r, struct http_conn *h)
{
    static char body[64 * 1024];
    char a[512], b[512], c[512], d[512];
    size_t n = (size_t)snprintf(body, sizeof(body), "{\"total\":%llu,\"last\":[",
                                (unsigned long long)(r->rejects ? r->rejects->total : 0));
    const struct reject_note *x;
    for (unsigned i = 0; (x = rejects_at(r->rejects, i)) != NULL; i++) {
        rejected_http_escape(x->backend, false, a, sizeof(a));
        rejected_http_escape(x->reason, false, b, sizeof(b));
        rejected_http_escape(x->text, false, c, sizeof(c));
        rejected_http_escape(x->line, true, d, sizeof(d));
        n += (size_t)snprintf(body + n, sizeof(body) - n,
                              "%s{\"time_ms\":%llu,\"backend\":\"%s\",\"reason\":\"%s\","
                              "\"error\":\"%s\",\"line\":\"%s\"}", i ? "," : "",
                              (unsigned long long)x->unix_ms, a, b, c, d);
    }
    n += (size_t)snprintf(body + n, sizeof(body) - n, "],\"kept\":{");
    int k = 0;
    for (int i = 0; i < r->nbackends && n < sizeof(body) - 700; i++) {
        if (backend_http_stats(&r->backends[i]) == NULL)
            continue;
        char key[400];
        spool_rejected_key(r->spool, &r->backends[i], key, sizeof(key));
        rejected_http_escape(r->backends[i].cfg->name, false, a, sizeof(a));
        rejected_http_escape(key, false, b, sizeof(b));
        n += (size_t)snprintf(body + n, sizeof(body) - n, "%s\"%s\":\"%s\"", k++ ? "," : "",
                              a, b);
    }
    n += (size_t)snprintf(body + n, sizeof(body) - n, "}}");
    http_respond(h, 200, "application/json", body, TS_MIN(n, sizeof(body) - 1));
}

/* ?backend=NAME: the backend, or NULL (answered). */
static struct backend *
rejected_http_backend(struct relay *r, struct http_conn *h, const struct http_request *req)
{
    const char *want;
    size_t len;
    if (!http_query_param(req->query, req->query_len, "backend", &want, &len) || len == 0) {
        http_respond_error(h, 400, "Missing backend",
                           "POST /tsrelay/rejected/replay?backend=NAME");
        return NULL;
    }
    for (int i = 0; i < r->nbackends; i++) {
        const char *name = r->backends[i].cfg->name;
        if (strlen(name) == len && memcmp(name, want, len) == 0 && !r->backends[i].retired)
            return &r->backends[i];
    }
    http_respond_error(h, 404, "Unknown backend", NULL);
    return NULL;
}

static void
rejected_http_replay(struct relay *r, struct http_conn *h, const struct http_request *req)
{
    struct backend *be = rejected_http_backend(r, h, req);
    if (be == NULL)
        return;
    if (backend_http_stats(be) == NULL) {
        http_respond_error(h, 400, "Not an HTTP backend",
                           "only protocol = http backends refuse points for good");
        return;
    }
    int rc = spool_reject_replay(r->spool, be);
    if (rc == TS_EAGAIN) {
        http_respond_error(h, 409, "A replay of this backend runs", NULL);
        return;
    }
    if (rc != TS_OK) {
        http_respond_error(h, 503, "No Redis", r->spool == NULL
                           ? "memory-only: refused points are counted and logged, not kept"
                           : "Redis is not connected now");
        return;
    }
    char body[256], a[200];
    rejected_http_escape(be->cfg->name, false, a, sizeof(a));
    int n = snprintf(body, sizeof(body), "{\"backend\":\"%s\",\"replay\":\"started\"}", a);
    http_respond(h, 202, "application/json", body, (size_t)n);
}

void
rejected_http(struct relay *r, struct http_conn *h, const struct http_request *req)
{
    bool list = req->path_len == sizeof(RJ_LIST) - 1;
    bool replay = req->path_len == sizeof(RJ_REPLAY) - 1 &&
                  memcmp(req->path, RJ_REPLAY, req->path_len) == 0;
    if (list && (req->method == HTTP_GET || req->method == HTTP_HEAD))
        rejected_http_list(r, h);
    else if (replay && req->method == HTTP_POST)
        rejected_http_replay(r, h, req);
    else if (list || replay)
        http_respond_error(h, 405, "Method not allowed", NULL);
    else
        http_respond_error(h, 404, "Endpoint not found", NULL);
}
