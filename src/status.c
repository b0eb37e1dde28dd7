/*
 * status.c -- what tsrelay shows about itself over HTTP.
 *
 * /health answers 200 while a backend takes data and 503 with the reason
 * otherwise; /api/version the TSD's version object; /api/stats and
 * /metrics the stats module's JSON and Prometheus renderings, written into
 * a buffer charged to the control part of the budget (it stays available
 * when data has filled the rest).  It only reads state.
 */
#include "autoconf.h"

#include <http_parser.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "backend.h"
#include "pool.h"
#include "relay.h"
#include "stats.h"
#include "status.h"
#include "util.h"

#define RENDER_START (64u << 10)
#define RENDER_MAX (8u << 20)

static void
api_version(struct relay *r, struct http_conn *h)
{
    char body[512];
    int n = snprintf(body, sizeof(body),
                     "{\"version\":\"%s\",\"short_revision\":\"%s\",\"full_revision\":\"%s\","
                     "\"repo_status\":\"MINT\",\"host\":\"%s\",\"user\":\"tsrelay\","
                     "\"repo\":\"tsrelay\",\"timestamp\":\"%s %s\"}",
                     PACKAGE_VERSION, TSRELAY_REVISION, TSRELAY_REVISION, r->hostname, __DATE__,
                     __TIME__);
    http_respond(h, 200, "application/json", body, (size_t)n);
}

/* Renders with fmt into a buffer that grows until the output fits. */
static void
render(struct relay *r, struct http_conn *h, const char *ctype,
       size_t (*fmt)(struct relay *, char *, size_t))
{
    struct pool *p = &r->pool;
    for (size_t cap = RENDER_START;; cap *= 2) {
        if (pool_charge(p, cap, POOL_CONTROL) != TS_OK) {
            http_respond_error(h, 503, "memory-limit reached", NULL);
            return;
        }
        char *buf = malloc(cap);
        if (buf == NULL) {
            pool_uncharge(p, cap, POOL_CONTROL);
            http_respond_error(h, 503, "out of memory", NULL);
            return;
        }
        size_t n = fmt(r, buf, cap);
        bool fits = n < cap - 1 || cap >= RENDER_MAX;
        if (fits)
            http_respond(h, 200, ctype, buf, n);
        free(buf);
        pool_uncharge(p, cap, POOL_CONTROL);
        if (fits)
            return;
    }
}

static void
health(struct relay *r, struct http_conn *h)
{
    char body[1024];
    size_t n = 0;
    int up = 0;
    for (int i = 0; i < r->nbackends; i++) {
        bool ok = backend_available(&r->backends[i]);
        up += ok;
        int k = snprintf(body + n, sizeof(body) - n, "backend %s: %s\n", r->backends[i].cfg->name,
                         ok ? "up" : "down or lagging");
        if (k > 0 && (size_t)k < sizeof(body) - n)
            n += (size_t)k;
    }
    int k = snprintf(body + n, sizeof(body) - n, "%s: %d of %d backends up\n",
                     up > 0 ? "ok" : "unhealthy", up, r->nbackends);
    if (k > 0 && (size_t)k < sizeof(body) - n)
        n += (size_t)k;
    http_respond(h, up > 0 ? 200 : 503, "text/plain; charset=utf-8", body, n);
}

void
status_http(void *ctx, struct http_conn *h, const struct http_request *req)
{
    struct relay *r = ctx;
    bool get = req->method == HTTP_GET || req->method == HTTP_HEAD;
#define PATH(s) (req->path_len == sizeof(s) - 1 && memcmp(req->path, s, req->path_len) == 0)
    bool known = PATH("/api/version") || PATH("/api/version/") || PATH("/api/stats") ||
                 PATH("/api/stats/") || PATH("/metrics") || PATH("/health");
    if (!known) {
        http_respond_error(h, 404, "Endpoint not found", NULL);
        return;
    }
    if (!get) {
        http_respond_error(h, 405, "Method not allowed", NULL);
        return;
    }
    if (PATH("/api/version") || PATH("/api/version/"))
        api_version(r, h);
    else if (PATH("/api/stats") || PATH("/api/stats/"))
        render(r, h, "application/json", stats_format_json);
    else if (PATH("/metrics"))
        render(r, h, "text/plain; version=0.0.4; charset=utf-8", stats_format_prometheus);
    else
        health(r, h);
#undef PATH
}
