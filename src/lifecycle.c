/*
 * lifecycle.c -- the wiring of the modules into one relay, and its life.
 *
 * Builds the relay (pool, the new-series guard and its snapshot,
 * backends, router, spool, clients, history, listeners) and fills the
 * callback structs through which lower modules
 * report upward (client_env, backend_env, spool_env); runs the per-loop
 * flush and the housekeeping tick; and drives shutdown: on SIGTERM/SIGINT
 * stop accepting and reading, let healthy backends take what they can
 * within shutdown-timeout, move the rest to the spool, wait for Redis to
 * acknowledge, then stop the loop.  SIGUSR1 reopens the log file (for
 * logrotate); SIGHUP reopens it and reloads the configuration
 * (ops/reload.c).  It is the top of the house: it may include any module,
 * and none includes it but main.c.
 */
#include "autoconf.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "base/counters.h"
#include "base/heap.h"
#include "base/log.h"
#include "base/point.h"
#include "base/util.h"
#include "core/delivery.h"
#include "core/proxy.h"
#include "core/rejects.h"
#include "core/relay.h"
#include "core/flow.h"
#include "core/series_guard.h"
#include "core/series_snapshot.h"
#include "input/client.h"
#include "input/json.h"
#include "input/listener.h"
#include "input/syncwait.h"
#include "lifecycle.h"
#include "ops/credentials.h"
#include "ops/history.h"
#include "ops/notify.h"
#include "ops/reload.h"
#include "ops/stats.h"
#include "ops/status.h"
#include "input/tls_server.h"
#include "output/backend.h"
#include "output/backend_http.h"
#include "spool/spool.h"

/* ---- lifecycle --------------------------------------------------------- */

static uint64_t
lifecycle_now_ms(struct relay *r)
{
    return (uint64_t)(ev_now(r->loop) * 1000.0);
}

static void
begin_shutdown(struct relay *r)
{
    if (r->phase != PHASE_RUNNING) {
        log_warn("second signal: exiting now");
        r->phase = PHASE_DONE;
        ev_break(r->loop, EVBREAK_ALL);
        return;
    }
    notify_stopping(); /* systemd: STOPPING=1 */
    log_info("shutting down: no more clients (telnet ones are answered, their points "
             "refused); flushing backends for up to %llu ms",
             (unsigned long long)r->cfg.shutdown_timeout_ms);
    r->phase = PHASE_FLUSHING;
    r->phase_deadline_ms = lifecycle_now_ms(r) + r->cfg.shutdown_timeout_ms;
    for (int i = 0; i < r->nlisteners; i++)
        listener_close(&r->listeners[i]);
    client_stop_all_reading(&r->clients);
}

/* Every backend has delivered what it holds, or cannot. */
static bool
flushed(struct relay *r)
{
    for (int i = 0; i < r->nbackends; i++) {
        struct backend *be = &r->backends[i];
        for (int k = 0; k < be->nconns; k++) {
            struct bconn *c = &be->conns[k];
            if (queue_empty(&c->q))
                continue;
            if ((c->state == BC_UP && !c->lagging) || c->state == BC_CONNECTING ||
                c->state == BC_AUTH)
                return false;
        }
    }
    return true;
}

static void
shutdown_step(struct relay *r)
{
    uint64_t now = lifecycle_now_ms(r);
    switch (r->phase) {
    case PHASE_FLUSHING:
        if ((flushed(r) || now >= r->phase_deadline_ms) && !spool_draining(r->spool)) {
            r->phase = PHASE_SPOOLING;
            r->phase_deadline_ms = now + TS_MAX(r->cfg.shutdown_timeout_ms, 5000);
            spool_shutdown_begin(r->spool);
        } else if (now >= r->phase_deadline_ms + 5000) {
            r->phase = PHASE_SPOOLING; /* Redis never answered the drains */
            r->phase_deadline_ms = now + 5000;
            spool_shutdown_begin(r->spool);
        }
        break;
    case PHASE_SPOOLING:
        if (spool_quiet(r->spool) || now >= r->phase_deadline_ms) {
            uint64_t left = 0;
            for (int i = 0; i < r->nbackends; i++)
                left += backend_queued_lines(&r->backends[i]);
            if (left > 0)
                log_error("exiting with %llu lines neither delivered nor spooled",
                          (unsigned long long)left);
            else
                log_info("shutdown complete: everything delivered or spooled");
            /* [limits]: what the guard remembers, for the next start */
            series_snapshot_save(r->guard, &r->cfg.redis, r->instance);
            r->phase = PHASE_DONE;
            ev_break(r->loop, EVBREAK_ALL);
        }
        break;
    default:
        break;
    }
}

static void
on_prepare(struct ev_loop *loop, ev_prepare *w, int revents)
{
    (void)loop;
    (void)revents;
    struct relay *r = container_of(w, struct relay, flush_watcher);
    client_admission_poll(&r->clients);
    backend_flush_all(&r->dirty);
    if (r->clients.acking != NULL)
        client_frame_acks(&r->clients);
    if (r->clients.syncing != NULL)
        syncwait_poll(&r->clients, client_wake);
}

static void
on_tick(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct relay *r = container_of(w, struct relay, tick);
    uint64_t now = lifecycle_now_ms(r);
    for (int i = 0; i < r->nbackends; i++)
        if (!r->backends[i].retired)
            backend_tick(&r->backends[i], now);
    reload_tick(r, now); /* removed backends finishing (reload.c) */
    spool_tick(r->spool, now);
    series_guard_tick(r->guard); /* [limits]: the hour and day move on */
    if (r->phase != PHASE_RUNNING)
        shutdown_step(r);
}

static void
on_trim(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct relay *r = container_of(w, struct relay, trim);
    pool_trim(&r->pool);
    heap_tick(); /* the C heap's free pages, once it is quiet (base/heap.c) */
}

static void
on_stats_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct relay *r = container_of(w, struct relay, stats_timer);
    static char buf[64 * 1024];
    size_t n = stats_format_puts(r, buf, sizeof(buf));
    size_t off = 0;
    while (off < n) {
        char *nl = memchr(buf + off, '\n', n - off);
        if (nl == NULL)
            break;
        size_t len = (size_t)(nl - (buf + off)) + 1;
        relay_begin_batch(r);
        /* the relay's own lines wait for nobody: no room, no line */
        if (relay_submit_line(r, buf + off, len, point_line_hash(buf + off, len)) != TS_EAGAIN)
            g_stats.stats_lines_sent++; /* points.received{proto=internal} */
        off += len;
    }
}

static void
on_signal(struct ev_loop *loop, ev_signal *w, int revents)
{
    (void)loop;
    (void)revents;
    struct relay *r = w->data;
    if (w->signum == SIGHUP || w->signum == SIGUSR1) {
        const char *sig = w->signum == SIGHUP ? "SIGHUP" : "SIGUSR1";
        if (!log_to_file()) {
            if (w->signum == SIGUSR1) /* its only job: say why nothing happened */
                log_info("SIGUSR1: logging to stderr: no log file to reopen");
        } else if (log_reopen() != TS_OK) {
            log_error("%s: cannot reopen the log file: %s", sig, strerror(errno));
        } else {
            log_info("%s: log file reopened", sig);
        }
        if (w->signum == SIGHUP && r->phase == PHASE_RUNNING)
            reload_config(r); /* reload.c */
        return;
    }
    begin_shutdown(r);
}

/* ---- the clients' view of the relay ----------------------------------- */

static int
env_submit(void *ctx, const char *origin, const char *line, size_t len, uint64_t hash,
           struct point_error *why)
{
    struct relay *r = ctx;
    if (r->phase != PHASE_RUNNING) {
        /* a telnet client still read while the relay drains: told, not
         * kept (telnet has no acknowledgement to resend by) */
        *why = (struct point_error){ .kind = PE_REFUSED, .relay = true };
        why->cmd = len > 7 && memcmp(line, "rollup ", 7) == 0      ? CMD_ROLLUP
                   : len > 10 && memcmp(line, "histogram ", 10) == 0 ? CMD_HISTOGRAM
                                                                      : CMD_PUT;
        why->len = (size_t)snprintf(why->msg, sizeof(why->msg),
                                    "tsrelay is shutting down: the point was not taken; send it "
                                    "again to a relay that runs");
        return TS_REFUSED;
    }
    return relay_submit_point(ctx, origin, line, len, hash, why);
}

static void
env_batch(void *ctx, uint64_t read_ns)
{
    struct relay *r = ctx;
    if (read_ns != 0)
        relay_begin_batch(r);
    r->batch_read_ns = read_ns;
}

static bool
env_running(void *ctx)
{
    const struct relay *r = ctx;
    return r->phase == PHASE_RUNNING;
}

static size_t
env_stats_text(void *ctx, char *out, size_t cap)
{
    return stats_format_telnet(ctx, out, cap);
}

static const char *
env_status_word(void *ctx)
{
    return relay_status_word(ctx);
}

static void
env_fa_mark(void *ctx, uint64_t *w)
{
    struct relay *r = ctx;
    delivery_mark(r->backends, r->nbackends, w);
}

static bool
env_fa_safe(void *ctx, const uint64_t *w)
{
    struct relay *r = ctx;
    return delivery_safe(r->backends, r->nbackends, w);
}

static void
env_sync_mark(void *ctx, uint64_t *w)
{
    struct relay *r = ctx;
    delivery_sync_mark(r->backends, r->nbackends, w);
}

static bool
env_sync_proven(void *ctx, const uint64_t *w)
{
    struct relay *r = ctx;
    return delivery_proven(r->backends, r->nbackends, w);
}

static int
start_clients(struct relay *r)
{
    struct client_env env = {
        .loop = r->loop,
        .pool = &r->pool,
        .adm = &r->adm,
        .cfg = &r->cfg,
        .rules = &r->rules,
        .ctx = r,
        .submit = env_submit,
        .batch = env_batch,
        .running = env_running,
        .stats_text = env_stats_text,
        .status_word = env_status_word,
        .endpoint = status_http,
        .endpoint_ctx = r,
        .pass = &proxy_ops,
        .pass_ctx = r->proxy,
        .read_out_bound = relay_read_out_bound(r),
        .fa_width = delivery_width(r->backends, r->nbackends),
        .fa_mark = env_fa_mark,
        .fa_safe = env_fa_safe,
        .sync_mark = env_sync_mark,
        .sync_proven = env_sync_proven,
    };
    admission_init(&r->adm, &r->pool, 0, 0);
    if (client_set_init(&r->clients, &env) != TS_OK)
        return TS_ERROR;
    relay_apply_limits(r);
    return TS_OK;
}

/* ---- the backends' and the spool's view of the relay ------------------- */

static void
env_failed(void *ctx, struct backend *be, struct queue *q, uint64_t *lines_queued)
{
    (void)ctx;
    spool_take_queue(be, q, lines_queued);
}

static void
env_rejected(void *ctx, struct backend *be, int conn, uint64_t off, const char *line,
             size_t len, const char *reason, const char *text, size_t tlen)
{
    rejects_note(ctx, be, conn, off, line, len, reason, text, tlen);
}

static bool
env_backlog(void *ctx, const struct backend *be)
{
    (void)ctx;
    return spool_backend_mode(be) || spool_backend_staged_bytes(be) > 0;
}

/* This relay's name in Redis keys: the configured one, or host:port of
 * its first listener. */
static void
name_instance(struct relay *r)
{
    const struct config *cfg = &r->cfg;
    if (cfg->instance[0] != '\0')
        snprintf(r->instance, sizeof(r->instance), "%s", cfg->instance);
    else
        snprintf(r->instance, sizeof(r->instance), "%s:%s", r->hostname,
                 cfg->nlisten > 0 ? cfg->listen[0].addr.port : "0");
}

static void
lifecycle_warn(void *ctx, const char *line)
{
    (void)ctx;
    log_warn("%s", line);
}

/* The TLS contexts the file asks for (listeners', backends'), and a
 * warning for each secret others may read.  TS_ERROR: a certificate or key
 * does not load (err says which). */
static int
start_credentials(struct relay *r, struct credentials *cr, char *err, size_t errlen)
{
    char why[CFG_ERR_MAX];
    if (credentials_load(cr, &r->cfg, NULL, why, sizeof(why)) != TS_OK) {
        snprintf(err, errlen, "%s: %s", r->cfg.path, why);
        return TS_ERROR;
    }
    if (cr->server != NULL)
        log_info("TLS listeners: certificate %s%s", cr->server->describe,
                 cr->server->mtls ? "; client certificates required ([tls] ca)" : "");
    (void)credentials_check_modes(&r->cfg, lifecycle_warn, NULL);
    return TS_OK;
}

static int
start_backends(struct relay *r, struct credentials *cr, char *err, size_t errlen)
{
    const struct config *cfg = &r->cfg;
    r->benv = (struct backend_env){
        .loop = r->loop,
        .pool = &r->pool,
        .cfg = cfg,
        .dirty = &r->dirty,
        .batch_read_ns = &r->batch_read_ns,
        .running = env_running,
        .on_failed = env_failed,
        .has_backlog = env_backlog,
        .on_rejected = env_rejected,
        .http = &backend_http_proto,
        .ctx = r,
    };
    r->nbackends = cfg->nbackends;
    r->backends = calloc(CFG_MAX_BACKENDS, sizeof(*r->backends)); /* a reload may add */
    r->rejects = rejects_new();
    if (r->backends == NULL || r->rejects == NULL)
        return TS_ERROR;
    for (int i = 0; i < r->nbackends; i++) {
        if (backend_init(&r->backends[i], &r->benv, &cfg->backends[i], i) != TS_OK) {
            snprintf(err, errlen, "cannot set up backend %s", cfg->backends[i].name);
            return TS_ERROR;
        }
        backend_set_tls(&r->backends[i], cr->backend[i]);
        cr->backend[i] = NULL;
    }
    if (relay_build_flow(r, err, errlen) != TS_OK) /* groups and rules (core/flow.c) */
        return TS_ERROR;
    if (!cfg->redis.enabled)
        return TS_OK;
    name_instance(r);
    /* [limits]: what the guard remembered when it last stopped.  Read
     * (blocking, nothing is served yet) before the spool opens its own
     * connections: a question the spool had sent to a Sentinel would wait
     * unread behind it, its deadline running, and the Sentinel pass over */
    series_snapshot_load(r->guard, &cfg->redis, r->instance);
    struct spool_env senv = {
        .loop = r->loop,
        .pool = &r->pool,
        .cfg = cfg,
        .backends = r->backends,
        .nbackends = r->nbackends,
        .instance = r->instance,
        .running = env_running,
        .ctx = r,
    };
    r->spool = spool_create(&senv);
    if (r->spool == NULL) {
        snprintf(err, errlen, "cannot set up the Redis spool");
        return TS_ERROR;
    }
    return TS_OK;
}

/* ---- set-up ------------------------------------------------------------ */

/* The loop's watchers: the flush before each wait, the housekeeping tick,
 * pool trimming, stats-interval, and the signals. */
static void
start_watchers(struct relay *r)
{
    const struct config *cfg = &r->cfg;
    ev_prepare_init(&r->flush_watcher, on_prepare);
    ev_prepare_start(r->loop, &r->flush_watcher);
    ev_timer_init(&r->tick, on_tick, TICK_MS / 1000.0, TICK_MS / 1000.0);
    ev_timer_start(r->loop, &r->tick);
    /* each second, free blocks idle for the whole second go half back to
     * the OS: after a burst, reserved memory follows live memory down; and
     * the C heap's free pages once it is quiet */
    ev_timer_init(&r->trim, on_trim, 1.0, 1.0);
    ev_timer_start(r->loop, &r->trim);
    if (cfg->stats_interval_ms > 0) {
        double iv = (double)cfg->stats_interval_ms / 1000.0;
        ev_timer_init(&r->stats_timer, on_stats_timer, iv, iv);
        ev_timer_start(r->loop, &r->stats_timer);
    }
    ev_signal_init(&r->sigterm, on_signal, SIGTERM);
    ev_signal_init(&r->sigint, on_signal, SIGINT);
    ev_signal_init(&r->sighup, on_signal, SIGHUP);
    ev_signal_init(&r->sigusr1, on_signal, SIGUSR1);
    r->sigterm.data = r->sigint.data = r->sighup.data = r->sigusr1.data = r;
    ev_signal_start(r->loop, &r->sigterm);
    ev_signal_start(r->loop, &r->sigint);
    ev_signal_start(r->loop, &r->sighup);
    ev_signal_start(r->loop, &r->sigusr1);
}

int
lifecycle_start(struct relay *r, char *err, size_t errlen)
{
    const struct config *cfg = &r->cfg;
    heap_init(); /* glibc's thresholds pinned (base/heap.c) */
    r->loop = EV_DEFAULT;
    if (gethostname(r->hostname, sizeof(r->hostname) - 1) != 0)
        snprintf(r->hostname, sizeof(r->hostname), "localhost");
    for (char *c = r->hostname; *c; c++) /* keep it a valid tag value */
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') ||
              *c == '-' || *c == '.' || *c == '_'))
            *c = '_';
    g_stats.start_time = (uint64_t)time(NULL);
    if (pool_init(&r->pool, cfg->block_size, cfg->memory_limit, cfg->control_reserve,
                  cfg->input_memory) != TS_OK) {
        snprintf(err, errlen, "cannot set up the memory pool");
        return TS_ERROR;
    }
    point_rules_init(&r->rules, cfg->max_tags, cfg->allow_specialchars);
    json_init();
    bool failed;
    r->guard = series_guard_new(r->loop, &r->pool, &cfg->limits, &failed);
    if (failed) {
        snprintf(err, errlen, "cannot set up the new-series guard: no memory for "
                 "series-memory (%llu bytes)", (unsigned long long)cfg->limits.series_memory);
        return TS_ERROR;
    }

    struct credentials cr;
    if (start_credentials(r, &cr, err, errlen) != TS_OK)
        return TS_ERROR;
    if (start_backends(r, &cr, err, errlen) != TS_OK) {
        credentials_free(&cr);
        return TS_ERROR;
    }
    /* before the clients (they pass to it), after the backends (their TLS) */
    r->proxy = proxy_new(r->loop, &r->pool, &r->cfg, r->backends);
    if (r->proxy == NULL) {
        snprintf(err, errlen, "cannot set up the read pass-through");
        credentials_free(&cr);
        return TS_ERROR;
    }
    if (start_clients(r) != TS_OK) {
        snprintf(err, errlen, "cannot set up the clients");
        credentials_free(&cr);
        return TS_ERROR;
    }
    r->clients.tls = cr.server; /* the listeners' context, replaced by reloads */
    cr.server = NULL;
    credentials_free(&cr);
    if (history_start(r, err, errlen) != TS_OK) /* status page (history.c) */
        return TS_ERROR;
    r->nlisteners = cfg->nlisten;
    r->listeners = calloc(CFG_MAX_LISTEN, sizeof(*r->listeners)); /* a reload may add */
    if (r->listeners == NULL)
        return TS_ERROR;
    for (int i = 0; i < r->nlisteners; i++) {
        if (listener_open(&r->listeners[i], &r->clients, &cfg->listen[i], err, errlen) != TS_OK)
            return TS_ERROR;
        log_info("listening on %s", r->listeners[i].name);
    }

    start_watchers(r);
    return TS_OK;
}

void
lifecycle_free(struct relay *r)
{
    client_set_free(&r->clients); /* (passed requests are aborted with their clients) */
    tls_server_free(r->clients.tls);
    r->clients.tls = NULL;
    proxy_free(r->proxy);
    r->proxy = NULL;
    for (int i = 0; i < r->nlisteners && r->listeners != NULL; i++)
        listener_close(&r->listeners[i]);
    free(r->listeners);
    history_stop(r); /* status page (history.c) */
    spool_destroy(r->spool);
    r->spool = NULL;
    for (int i = 0; i < r->nbackends && r->backends != NULL; i++) {
        backend_close_all(&r->backends[i]);
        backend_destroy(&r->backends[i]);
    }
    free(r->backends);
    rejects_free(r->rejects);
    r->rejects = NULL;
    flow_free(r->flow);
    r->flow = NULL;
    series_guard_free(r->guard);
    r->guard = NULL;
    pool_destroy(&r->pool);
    if (r->loop != NULL) {
        ev_prepare_stop(r->loop, &r->flush_watcher);
        ev_timer_stop(r->loop, &r->tick);
        ev_timer_stop(r->loop, &r->trim);
        ev_timer_stop(r->loop, &r->stats_timer);
        ev_signal_stop(r->loop, &r->sigterm);
        ev_signal_stop(r->loop, &r->sigint);
        ev_signal_stop(r->loop, &r->sighup);
        ev_signal_stop(r->loop, &r->sigusr1);
    }
}
