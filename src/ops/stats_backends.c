/*
 * stats_backends.c -- the stats collector's per-backend parts: each
 * backend's connections, queues, acknowledgements and spool share, the
 * read pass-through's HTTP pools, HTTP backends' point fates, and the
 * refused points kept in Redis.  Yields samples to an emitter
 * (stats_emit.h); reads counters only, never allocates, never writes.
 */
#include "autoconf.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <string.h>

#include "base/counters.h"
#include "base/util.h"
#include "core/proxy.h"
#include "core/relay.h"
#include "ops/stats_emit.h"
#include "output/backend.h"
#include "output/backend_http.h"
#include "spool/rejected.h"
#include "spool/spool.h"

/* ---- backends ----------------------------------------------------------- */

/* A per-backend sample: computed from the backend, or a field of its
 * counters (when value is NULL). */
struct backend_metric {
    struct field f;
    uint64_t (*value)(const struct backend *be);
};

static uint64_t
be_up(const struct backend *be)
{
    return backend_available(be) ? 1 : 0;
}

static uint64_t
be_removed(const struct backend *be)
{
    return be->retired ? 2 : be->retiring ? 1 : 0;
}

static uint64_t
be_spooling(const struct backend *be)
{
    return spool_backend_mode(be) ? 1 : 0;
}

static uint64_t
be_conns_up(const struct backend *be)
{
    return (uint64_t)backend_conns_up(be);
}

static uint64_t
be_share(const struct backend *be)
{
    return be->max_queue_bytes;
}

#define BE_COUNT(n, h, t, member) { { n, h, t, offsetof(struct backend_stats, member) }, NULL }
#define BE_CALC(n, h, t, fn) { { n, h, t, 0 }, fn }

static const struct backend_metric backend_metrics[] = {
    BE_CALC("backend.up", "1 when the backend takes data directly.", GAUGE, be_up),
    BE_CALC("backend.removed", "0 while configured; 1 removed by a reload and finishing "
            "its queue; 2 retired.", GAUGE, be_removed),
    BE_COUNT("backend.handed_over", "Lines a removed backend passed to the others after "
             "shutdown-timeout.", COUNTER, handed_over),
    BE_CALC("backend.spooling", "1 while the backend's new data goes to the spool.", GAUGE,
            be_spooling),
    BE_CALC("backend.queue_bytes", "Bytes in the backend's connection queues.", GAUGE,
            backend_queued_bytes),
    BE_CALC("backend.queue_lines", "Lines in the backend's connection queues.", GAUGE,
            backend_queued_lines),
    BE_CALC("backend.connections", "Backend connections currently up.", GAUGE, be_conns_up),
    BE_COUNT("backend.connects", "Successful connects to the backend.", COUNTER, connects),
    BE_COUNT("backend.connect_attempts", "Connect attempts to the backend.", COUNTER,
             connect_attempts),
    BE_COUNT("backend.reconnects", "Reconnects after a connection was lost.", COUNTER,
             reconnects),
    BE_COUNT("backend.failures", "Connect or connection failures.", COUNTER, failures),
    BE_COUNT("backend.errors", "Error lines the backend wrote back.", COUNTER, errors),
    BE_COUNT("backend.bytes_written", "Bytes written to the backend.", COUNTER, bytes_written),
    BE_COUNT("backend.lines_acked", "Lines acknowledged by the backend's TCP.", COUNTER,
             lines_acked),
    BE_COUNT("backend.lines_resent", "Lines sent again after a connection failed.", COUNTER,
             lines_resent),
    BE_COUNT("backend.lag_events", "Times a connection made no progress for write-timeout.",
             COUNTER, lag_events),
    BE_COUNT("backend.dropped", "Lines dropped for the backend: its share was full and its "
             "overflow is drop.", COUNTER, dropped),
    BE_CALC("backend.queue_share_bytes", "The backend's share of the queue memory "
            "(max-queue-bytes).", GAUGE, be_share),
    BE_COUNT("backend.barriers", "Version barriers written (ack = version).", COUNTER,
             barriers),
    BE_COUNT("backend.barriers_answered", "Version barriers the TSD answered.", COUNTER,
             barriers_answered),
    BE_COUNT("backend.ack_timeouts", "Connections failed for a barrier unanswered for "
             "ack-timeout.", COUNTER, ack_timeouts),
    BE_COUNT("backend.auth_failures", "Connections whose auth line the backend did not "
             "answer AUTH_SUCCESS (refused, other words, or no answer in connect-timeout).",
             COUNTER, auth_failures),
    BE_COUNT("backend.pacing_waits", "Writes held back by max-rate.", COUNTER, pacing_waits),
    BE_COUNT("backend.resolve_failures", "Lookups of the backend's host name that failed.",
             COUNTER, resolve_failures),
    BE_COUNT("backend.tls_failures", "TLS handshakes with the backend that failed "
             "(tls = on): its telnet connections, its protocol = http connections and the "
             "read pass-through's.", COUNTER, tls_failures),
    BE_CALC("backend.spool_entries", "Entries in the backend's Redis spool.", GAUGE,
            spool_backend_entries),
    BE_CALC("backend.spool_bytes", "Bytes in the backend's Redis spool and in flight.", GAUGE,
            spool_backend_bytes),
    BE_CALC("backend.staged_bytes", "Bytes staged in memory on their way to Redis.", GAUGE,
            spool_backend_staged_bytes),
};

void
stats_collect_backends(struct relay *r, const struct emitter *e)
{
    for (size_t m = 0; m < TS_ARRAY_LEN(backend_metrics); m++) {
        const struct backend_metric *bm = &backend_metrics[m];
        for (int b = 0; b < r->nbackends; b++) {
            const struct backend *be = &r->backends[b];
            uint64_t v = bm->value != NULL ? bm->value(be) : field_value(&be->st, &bm->f);
            emit_tagged(e, bm->f.name, bm->f.help, bm->f.type, "backend", be->cfg->name, v);
        }
    }
    /* how long the oldest waiting line has waited (the status page) */
    for (int b = 0; b < r->nbackends; b++)
        emit_seconds(e, "backlog.age_seconds",
                    "Seconds the oldest line waiting for the backend has waited (0: none).",
                    "backend", r->backends[b].cfg->name,
                    spool_backlog_age_ms(&r->backends[b]) * 1000000u);
}

/* ---- the read pass-through --------------------------------------------- */

/* A per-proxy-backend sample: a field of its pass-through counters, of
 * its HTTP pool's counters (pool), or computed from the pool (value). */
struct proxy_metric {
    struct field f;
    bool pool;
    uint64_t (*value)(const struct httpc_pool *hp);
};

static uint64_t
px_open(const struct httpc_pool *hp)
{
    return (uint64_t)httpc_pool_conns_open(hp);
}

static uint64_t
px_busy(const struct httpc_pool *hp)
{
    return (uint64_t)httpc_pool_conns_busy(hp);
}

static uint64_t
px_waiting(const struct httpc_pool *hp)
{
    return httpc_pool_waiting(hp);
}

static uint64_t
px_down(const struct httpc_pool *hp)
{
    return httpc_pool_down(hp) ? 1 : 0;
}

static uint64_t
px_5xx(const struct httpc_pool *hp)
{
    return httpc_pool_stats(hp)->status[5];
}

#define PX_COUNT(n, h, member) \
    { { n, h, COUNTER, offsetof(struct proxy_stats, member) }, false, NULL }
#define PX_POOL(n, h, member) \
    { { n, h, COUNTER, offsetof(struct httpc_stats, member) }, true, NULL }
#define PX_CALC(n, h, t, fn) { { n, h, t, 0 }, false, fn }

static const struct proxy_metric proxy_metrics[] = {
    PX_COUNT("proxy.requests", "Requests passed to the proxy backend (tries).", requests),
    PX_COUNT("proxy.answered", "Answers passed whole to the client.", answered),
    PX_COUNT("proxy.retried", "GET/HEAD requests tried again on the next backend: their "
             "connection failed before any answer byte reached the client.", retried),
    PX_COUNT("proxy.bad_gateway", "502 answered: the backend unreachable, its answer lost or "
             "not HTTP.", bad_gateway),
    PX_COUNT("proxy.unavailable", "503 answered: no free connection within "
             "proxy-queue-timeout, or no memory.", unavailable),
    PX_COUNT("proxy.gateway_timeout", "504 answered: no progress within proxy-timeout.",
             gateway_timeout),
    PX_COUNT("proxy.cut", "Answers cut (client connection closed) after bytes of them went "
             "out.", cut),
    PX_COUNT("proxy.client_gone", "Requests whose client left before the answer was passed.",
             client_gone),
    PX_COUNT("proxy.bytes_up", "Request body bytes passed to the backend.", bytes_up),
    PX_COUNT("proxy.bytes_down", "Answer body bytes passed to clients.", bytes_down),
    PX_CALC("proxy.connections", "Open keep-alive connections to the backend's HTTP API "
            "(at most http-conns).", GAUGE, px_open),
    PX_CALC("proxy.connections_busy", "Connections holding a request until its answer has "
            "passed.", GAUGE, px_busy),
    PX_CALC("proxy.waiting", "Requests waiting for a free connection.", GAUGE, px_waiting),
    PX_CALC("proxy.down", "1 while the backend's last connect failed and none is open.", GAUGE,
            px_down),
    PX_POOL("proxy.connects", "Connections made to the backend's HTTP API.", connects),
    PX_POOL("proxy.connect_errors", "Connects to the backend's HTTP API that failed.",
            connect_errors),
    PX_POOL("proxy.tls_failures", "TLS handshakes with the backend's HTTP API that failed "
            "(its tls = on; also in backend.tls_failures).", tls_failures),
    PX_POOL("proxy.reused", "Requests sent on a connection that served one before.", reused),
    PX_POOL("proxy.server_closes", "Connections the backend closed (or said it would).",
            server_closes),
    PX_CALC("proxy.answers_5xx", "Answers with a 5xx status from the backend itself.", COUNTER,
            px_5xx),
};

void
stats_collect_proxy(struct relay *r, const struct emitter *e)
{
    int n = proxy_count(r->proxy);
    emit_untagged(e, "proxy.active", "HTTP requests being passed to a TSD now.", GAUGE,
                  proxy_active(r->proxy));
    for (size_t m = 0; m < TS_ARRAY_LEN(proxy_metrics); m++) {
        const struct proxy_metric *pm = &proxy_metrics[m];
        for (int i = 0; i < n; i++) {
            const struct httpc_pool *hp = proxy_pool(r->proxy, i);
            uint64_t v = pm->value != NULL ? pm->value(hp)
                         : pm->pool ? field_value(httpc_pool_stats(hp), &pm->f)
                                    : field_value(proxy_backend_stats(r->proxy, i), &pm->f);
            emit_tagged(e, pm->f.name, pm->f.help, pm->f.type, "backend",
                        proxy_name(r->proxy, i), v);
        }
    }
}

/* ---- HTTP backends: each point's fate --------------------------------------- */

#define BH_FIELD(n, h, t, member) { n, h, t, offsetof(struct backend_http_stats, member) }

static const struct field backend_http_fields[] = {
    BH_FIELD("backend.retried", "Points sent again to an HTTP backend (throttled, storage "
             "exceptions, timeouts, 5xx, lost connections, requests refused whole).", COUNTER,
             retried),
    BH_FIELD("backend.throttled", "Points an HTTP backend answered \"Please throttle\".", COUNTER,
             throttled),
    BH_FIELD("backend.http.requests", "Requests sent to an HTTP backend (retries included).",
             COUNTER, requests),
    BH_FIELD("backend.http.delivered", "Points an HTTP backend's answers proved.", COUNTER,
             delivered),
    BH_FIELD("backend.http.request_errors", "Requests an HTTP backend refused whole (400 "
             "without details, other 4xx): their points are kept and sent again.", COUNTER,
             request_errors),
    BH_FIELD("backend.http.answers_too_large", "Answers with a JSON token over 1 MiB (no "
             "TSD writes one), or over what the budget had room for: not read on; their "
             "points are sent again.", COUNTER,
             answers_too_large),
    BH_FIELD("backend.http.server_errors", "5xx answers of an HTTP backend.", COUNTER,
             server_errors),
    BH_FIELD("backend.http.lost", "Requests with no complete answer (connection lost, timed "
             "out).", COUNTER, lost),
    BH_FIELD("backend.http.maybe_duplicated", "Points sent again after a request the backend "
             "may have executed (sent, not answered).", COUNTER, maybe_duplicated),
    BH_FIELD("backend.http.unmatched", "Answers whose failures named no point of the request "
             "(its unproven points were all sent again; after two, one point per request).",
             COUNTER, unmatched),
    BH_FIELD("backend.http.throttle_steps", "Times the rate stepped down for \"Please "
             "throttle\".", COUNTER, throttle_steps),
    BH_FIELD("backend.http.rate_limit", "The throttle's rate limit now, points/s (0: none).",
             GAUGE, rate_limit),
    BH_FIELD("backend.http.gzip_in_bytes", "Request JSON bytes before gzip.", COUNTER, gzip_in),
    BH_FIELD("backend.http.gzip_out_bytes", "Request body bytes after gzip.", COUNTER,
             gzip_out),
    BH_FIELD("backend.http.buffer_bytes", "Bytes of an HTTP backend's line arrays and gzip "
             "buffer, charged to the budget (memory.class{class=queue}) beside its bodies' "
             "blocks.", GAUGE, buffer_bytes),
};

void
stats_collect_backend_fates(struct relay *r, const struct emitter *e)
{
    for (int reason = 0; reason < PA_NREASONS; reason++)
        for (int b = 0; b < r->nbackends; b++) {
            const struct backend_http_stats *hs = backend_http_stats(&r->backends[b]);
            if (hs != NULL && putanswer_final((enum pa_reason)reason))
                emit_tagged2(e, "backend.rejected", "Points a backend refused for good, by "
                             "reason (kept in Redis: see rejected.*).", COUNTER, "backend",
                             r->backends[b].cfg->name, "reason",
                             putanswer_reason_name((enum pa_reason)reason),
                             hs->rejected[reason]);
        }
    for (int reason = 0; reason < PA_NREASONS; reason++)
        for (int b = 0; b < r->nbackends; b++) {
            const struct backend_http_stats *hs = backend_http_stats(&r->backends[b]);
            if (hs != NULL && !putanswer_final((enum pa_reason)reason))
                emit_tagged2(e, "backend.failed", "Points a backend failed and that were sent "
                             "again, by reason.", COUNTER, "backend", r->backends[b].cfg->name,
                             "reason", putanswer_reason_name((enum pa_reason)reason),
                             hs->failed_lines[reason]);
        }
    for (size_t m = 0; m < TS_ARRAY_LEN(backend_http_fields); m++)
        for (int b = 0; b < r->nbackends; b++) {
            const struct backend_http_stats *hs = backend_http_stats(&r->backends[b]);
            if (hs != NULL)
                emit_tagged(e, backend_http_fields[m].name, backend_http_fields[m].help,
                            backend_http_fields[m].type, "backend", r->backends[b].cfg->name,
                            field_value(hs, &backend_http_fields[m]));
        }
}

#define REJ_FIELD(n, h, member) { n, h, COUNTER, offsetof(struct rejected_stats, member) }

static const struct field rejected_fields[] = {
    REJ_FIELD("rejected.kept", "Refused points kept in Redis (<prefix>:<instance>:rejected:"
              "<backend>).", kept),
    REJ_FIELD("rejected.dropped", "Kept refused points pushed out past rejected-max-bytes.",
              dropped),
    REJ_FIELD("rejected.unkept", "Refused points not kept (Redis away or refusing, too many at "
              "once): counted and sampled in the log only.", unkept),
    REJ_FIELD("rejected.replayed", "Kept refused points handed to their backend again.",
              replayed),
    REJ_FIELD("rejected.replays", "Replays of kept refused points begun.", replays),
};

void
stats_collect_rejected(struct relay *r, const struct emitter *e)
{
    static const struct rejected_stats none;
    const struct rejected_stats *rs = spool_rejected_stats(r->spool);
    emit_fields(e, rejected_fields, TS_ARRAY_LEN(rejected_fields), rs != NULL ? rs : &none);
}
