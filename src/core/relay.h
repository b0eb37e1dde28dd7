/*
 * relay.h -- the process-wide context, and the data path's core.
 *
 * The context holds the loop, the configuration, the memory pool, the
 * backends, the router, the spool, the listeners and client lists, and
 * the lifecycle state (running, shutting down); lifecycle.c builds it.
 * The core (relay.c) routes each canonical line to its backend(s) and
 * keeps the limits that follow from the configuration.  The modules of
 * ops/ read the context; the layers below never see it: they report
 * upward through the callback structs the wiring fills.
 */
#ifndef TS_RELAY_H
#define TS_RELAY_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "input/admission.h"
#include "output/backend.h"
#include "input/client.h"
#include "base/config.h"
#include "base/point.h"
#include "base/pool.h"
#include "core/flow.h"

struct spool;
struct history;
struct listener;
struct proxy;
struct rejects;
struct series_guard;

enum relay_phase { PHASE_RUNNING = 0, PHASE_FLUSHING, PHASE_SPOOLING, PHASE_DONE };

struct relay {
    struct ev_loop *loop;
    struct config cfg;
    struct pool pool;
    struct point_rules rules;
    struct backend *backends;       /* CFG_MAX_BACKENDS slots: a reload adds, retires */
    int nbackends;                  /* slots in use (retired ones too) */
    struct flow *flow;              /* groups and rules: where points go (flow.h) */
    char handover[CFG_MAX_BACKENDS][CFG_RULE_NAME_MAX]; /* a removed slot's group */
    struct spool *spool;            /* NULL: memory-only */
    struct proxy *proxy;            /* the read pass-through (core/proxy.c) */
    struct history *history;        /* status-page samples (history.c); NULL: off */
    struct rejects *rejects;        /* points refused for good (rejects.c) */
    struct series_guard *guard;     /* [limits] (series_guard.c); NULL: series-memory 0 */
    struct listener *listeners;     /* CFG_MAX_LISTEN slots */
    int nlisteners;
    struct client_set clients;      /* all open clients */
    struct admission adm;           /* who may buffer input, who may decode */
    struct backend_env benv;        /* what the backends see of the relay */
    char instance[320];             /* this relay's name in Redis keys */
    struct bconn *dirty;            /* connections with data to write */
    enum relay_phase phase;
    uint64_t phase_deadline_ms;
    int exit_code;
    char hostname[256];
    uint64_t batch_read_ns;         /* monotonic time of the read being decoded */
    size_t line_room;               /* queue bytes a line needs before it is taken */
    size_t drain_room;              /* queue bytes new lines leave to the spool's drain */
    ev_prepare flush_watcher;
    ev_timer tick;                  /* housekeeping, every TICK_MS */
    ev_timer trim;                  /* pool trimming */
    ev_timer stats_timer;           /* stats-interval */
    ev_signal sigterm, sigint, sighup, sigusr1;
};

#define TICK_MS 20

/* A client's valid point, as a canonical line, on its way in: the stage
 * where the relay's rules (core/rules.c: drop, rewrite, the groups) and
 * limits (the new-series guard, on the series as it will reach the TSD)
 * act, then routed.  origin is the client's source address.  What
 * relay_submit_to returns (a point a rule dropped: TS_OK, counted as
 * points.rule_dropped), or TS_REFUSED with why filled. */
int relay_submit_point(struct relay *r, const char *origin, const char *line, size_t len,
                       uint64_t hash, struct point_error *why);
/* Routes a canonical line to the backend(s) of the groups of mask
 * groups (the flow's groups + spool).  TS_OK; TS_ENOMEM when it was
 * dropped (overflow = drop, counted); TS_EAGAIN when the queues have no
 * room for it now (overflow = block): nothing was done.  Lines of no
 * client (the stats-interval lines, a removed backend's hand-over) come
 * here or to relay_submit_line, never through the rules. */
int relay_submit_to(struct relay *r, uint64_t groups, const char *line, size_t len,
                    uint64_t hash);
/* relay_submit_to the default group. */
int relay_submit_line(struct relay *r, const char *line, size_t len, uint64_t hash);
/* Caches per-backend routing facts (available, spooling) for the lines of
 * one client read; call before decoding it. */
void relay_begin_batch(struct relay *r);

/* The flow (groups and rules) of r->cfg over the backends not retiring
 * (at start).  TS_OK, or TS_ERROR with err written. */
int relay_build_flow(struct relay *r, char *err, size_t errlen);
/* f becomes the relay's flow (counters of the same names go on); the
 * old one is freed.  Between two points: each point follows the rules in
 * force when it was decoded. */
void relay_set_flow(struct relay *r, struct flow *f);
/* Recomputes what follows from the limits and the backends: each
 * backend's share of the queues, the room a line and the spool's drain
 * need, the admission thresholds, the read bound (start and reload). */
void relay_apply_limits(struct relay *r);

/* The relay's state in the TSD's word (telnet `status`, OpenTSDB 2.5):
 * "shutting-down" once shutdown began; else "ok" when every backend takes
 * data (backend_available: no connection failed or lagging -- a backend
 * that was never sent anything counts as up), "partial" when some do or
 * the spool takes data for them (spool_usable), "error" when none does
 * and no spool takes data.  Backends removed by a reload do not count. */
const char *relay_status_word(const struct relay *r);

/* Queue bytes one client read may need at most (the clients' resume
 * step): its lines to every target, plus fresh blocks and spool entries. */
size_t relay_read_out_bound(const struct relay *r);

#endif
