/*
 * status.c -- what tsrelay shows about itself over HTTP.
 *
 * Everything of its own lives under /tsrelay/, a prefix no TSD uses: the
 * status page /tsrelay/ (statuspage.c), its tables alone at
 * /tsrelay/tables, its files beside it, the history ring at
 * /tsrelay/api/stats/history (history.c), the stats JSON at
 * /tsrelay/api/stats and the version at /tsrelay/api/version.  /health
 * answers 200 while the relay can take data (a backend or the spool takes
 * it) and 503 with the reasons otherwise; /metrics is the Prometheus
 * rendering.  Without a read pass-through (proxy off) / redirects to
 * /tsrelay/ and /api/version, /api/stats answer as before; with one, the
 * HTTP decoder hands those to the TSD and never here.  Renderings go into
 * a buffer charged to the control part of the budget (it stays available
 * when data has filled the rest).  Everything but /api/version (the TSD's
 * own, which clients ask) and the redirect of / is for addresses in
 * [relay] admin-allow only (403 otherwise, counted).  It only reads state.
 */
#include "autoconf.h"

#include <http_parser.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output/backend.h"
#include "ops/history.h"
#include "base/allow.h"
#include "base/counters.h"
#include "ops/rejected_http.h"
#include "base/pool.h"
#include "core/relay.h"
#include "spool/spool.h"
#include "ops/stats.h"
#include "ops/status.h"
#include "ops/statuspage.h"
#include "base/util.h"

#define RENDER_START (64u << 10)
#define RENDER_MAX (8u << 20)

static void
api_version(struct relay *r, struct http_conn *h)
{
    char body[512];
    int n = snprintf(body, sizeof(body),
                     "{\"version\":\"%s\",\"short_revision\":\"%s\",\"full_revision\":\"%s\","
                     "\"repo_status\":\"MINT\",\"host\":\"%s\",\"user\":\"tsrelay\","
                     "\"repo\":\"tsrelay\",\"timestamp\":\"%s\"}",
                     PACKAGE_VERSION, TSRELAY_REVISION, TSRELAY_REVISION, r->hostname,
                     TSRELAY_SOURCE_DATE);
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

/* 200 while the relay can take data: a backend takes it, or the spool
 * does (a TSD outage is what the spool is for; a load balancer must keep
 * sending to a relay that spools).  503 with the reasons otherwise. */
static void
health(struct relay *r, struct http_conn *h)
{
    char body[1024];
    size_t n = 0;
    int up = 0, routed = 0;
    for (int i = 0; i < r->nbackends; i++) {
        const struct backend *be = &r->backends[i];
        if (be->retired)
            continue;
        bool ok = backend_available(be);
        if (!be->retiring) { /* a removed one finishing its queue takes no new data */
            up += ok;
            routed++;
        }
        int k = snprintf(body + n, sizeof(body) - n, "backend %s: %s%s\n", be->cfg->name,
                         ok ? "up" : "down or lagging", be->retiring ? " (removed, finishing)" : "");
        if (k > 0 && (size_t)k < sizeof(body) - n)
            n += (size_t)k;
    }
    bool spooling = spool_usable(r->spool);
    if (r->spool != NULL) {
        const char *why = spooling ? "takes data"
                          : !spool_connected(r->spool) ? "redis not connected"
                          : spool_full(r->spool) ? "redis refuses writes"
                                                 : "takes no data (held by another relay, or full)";
        int k = snprintf(body + n, sizeof(body) - n, "spool: %s\n", why);
        if (k > 0 && (size_t)k < sizeof(body) - n)
            n += (size_t)k;
    }
    bool ok = up > 0 || spooling;
    int k = snprintf(body + n, sizeof(body) - n, "%s: %d of %d backends up%s\n",
                     ok ? "ok" : "unhealthy", up, routed,
                     up == 0 && spooling ? ", spooling to Redis" : "");
    if (k > 0 && (size_t)k < sizeof(body) - n)
        n += (size_t)k;
    http_respond(h, ok ? 200 : 503, "text/plain; charset=utf-8", body, n);
}

/* ?since=<unix seconds> among the query parameters: TS_OK (since
 * untouched when absent) or TS_ERROR when it is not a number. */
static int
query_since(const struct http_request *req, double *since)
{
    const char *val;
    size_t n;
    if (!http_query_param(req->query, req->query_len, "since", &val, &n))
        return TS_OK;
    char num[64];
    if (n >= sizeof(num))
        return TS_ERROR;
    memcpy(num, val, n);
    num[n] = '\0';
    char *stop;
    double v = strtod(num, &stop);
    if (stop == num || *stop != '\0' || !isfinite(v))
        return TS_ERROR;
    *since = v;
    return TS_OK;
}

static void
api_history(struct relay *r, struct http_conn *h, const struct http_request *req)
{
    double since = -1.0;
    if (query_since(req, &since) != TS_OK) {
        http_respond_error(h, 400, "Invalid since", "expected ?since=<unix seconds>");
        return;
    }
    size_t cap = history_json_bound(r->history) + 1;
    if (pool_charge(&r->pool, cap, POOL_CONTROL) != TS_OK) {
        http_respond_error(h, 503, "memory-limit reached", NULL);
        return;
    }
    char *buf = malloc(cap);
    if (buf == NULL) {
        pool_uncharge(&r->pool, cap, POOL_CONTROL);
        http_respond_error(h, 503, "out of memory", NULL);
        return;
    }
    size_t n = history_format_json(r->history, since, buf, cap);
    http_respond(h, 200, "application/json", buf, n);
    free(buf);
    pool_uncharge(&r->pool, cap, POOL_CONTROL);
}

/* The relay's page for a path under /tsrelay (the prefix taken off):
 * true when it answered. */
static bool
own_page(struct relay *r, struct http_conn *h, const struct http_request *req, const char *p,
         size_t n)
{
#define IS(s) (n == sizeof(s) - 1 && memcmp(p, s, n) == 0)
    const char *actype = NULL, *abody = NULL;
    size_t alen = 0;
    if (IS("") || IS("/")) {
        if (n == 0)
            http_redirect(h, "/tsrelay/");
        else
            render(r, h, "text/html; charset=utf-8", statuspage_format);
    } else if (IS("/tables")) {
        render(r, h, "text/html; charset=utf-8", statuspage_format_tables);
    } else if (IS("/api/stats") || IS("/api/stats/")) {
        render(r, h, "application/json", stats_format_json);
    } else if (IS("/api/stats/history") || IS("/api/stats/history/")) {
        api_history(r, h, req);
    } else if (IS("/api/version") || IS("/api/version/")) {
        api_version(r, h);
    } else if (statuspage_asset(req->path, req->path_len, &actype, &abody, &alen)) {
        http_respond(h, 200, actype, abody, alen);
    } else {
        return false;
    }
    return true;
#undef IS
}

void
status_http(void *ctx, struct http_conn *h, const struct http_request *req)
{
    struct relay *r = ctx;
    bool get = req->method == HTTP_GET || req->method == HTTP_HEAD;
#define PATH(s) (req->path_len == sizeof(s) - 1 && memcmp(req->path, s, req->path_len) == 0)
    bool mine = req->path_len >= 8 && memcmp(req->path, "/tsrelay", 8) == 0 &&
                (req->path_len == 8 || req->path[8] == '/');
    /* without a pass-through the TSD's /api/version and /api/stats are the
     * relay's, and / leads to its page (with one, these go to the TSD) */
    bool compat = PATH("/api/version") || PATH("/api/version/") || PATH("/api/stats") ||
                  PATH("/api/stats/") || PATH("/");
    if (!mine && !compat && !PATH("/metrics") && !PATH("/health")) {
        http_respond_error(h, 404, "Endpoint not found", NULL);
        return;
    }
    /* the relay's own state (all but the TSD's /api/version, and the
     * redirect of /) is admin-allow's; so is the replay of refused points */
    bool open = PATH("/api/version") || PATH("/api/version/") || PATH("/");
    if (!open && !allow_match(&r->cfg.admin_allow, req->peer)) {
        g_stats.admin_denied++;
        http_respond_error(h, 403, "Forbidden", "this address is not in admin-allow");
        return;
    }
    if (rejected_http_path(req->path, req->path_len)) { /* GET, and POST .../replay */
        rejected_http(r, h, req);
        return;
    }
    if (!get) {
        http_respond_error(h, 405, "Method not allowed", NULL);
        return;
    }
    if (mine && !own_page(r, h, req, req->path + 8, req->path_len - 8))
        http_respond_error(h, 404, "Endpoint not found", NULL);
    else if (PATH("/"))
        http_redirect(h, "/tsrelay/");
    else if (PATH("/api/version") || PATH("/api/version/"))
        api_version(r, h);
    else if (PATH("/api/stats") || PATH("/api/stats/"))
        render(r, h, "application/json", stats_format_json);
    else if (PATH("/metrics"))
        render(r, h, "text/plain; version=0.0.4; charset=utf-8", stats_format_prometheus);
    else if (PATH("/health"))
        health(r, h);
#undef PATH
}
