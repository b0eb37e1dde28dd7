/*
 * series_guard.h -- the new-series guard: a TSD's UID tables protected
 * from series explosions, and the senders that cause them named.
 *
 * Owns what the relay remembers of the series it let through (a rotating
 * pair of cuckoo filters, base/cuckoo.h), the new-series budgets of
 * [limits] (per hour and per day over all clients; per metric and per
 * client per hour; the series of one metric, estimated), and the
 * bounded tables of the metrics and clients with the most new series in
 * the last hour (base/topk.h, a HyperLogLog per metric, base/hll.h).  A
 * series is its metric and sorted tags (the hash point_line_hash gives);
 * it is new when neither filter holds it.  A point of a series held
 * always passes; a new series passes and is remembered while every
 * budget has room, and is refused otherwise (on-limit = reject: the
 * point gets a PE_REFUSED error naming the limit; on-limit = log: it
 * passes, counted and named).  Everything is allocated once, at
 * series_guard_new, within series-memory, charged to the pool: nothing
 * per point or per series.  The filters rotate when the current one is
 * full: the window is as long as series-memory holds.  It must never
 * refuse a point of a series it holds, never allocate after start, and
 * never read a socket.
 */
#ifndef TS_SERIES_GUARD_H
#define TS_SERIES_GUARD_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/config.h"
#include "base/cuckoo.h"
#include "base/hll.h"
#include "base/point.h"
#include "base/pool.h"
#include "base/topk.h"

/* The limits, in the order a new series is checked against them (the
 * most specific first: it names the culprit). */
enum guard_limit {
    GL_CLIENT_HOUR = 0,  /* new-series-per-client-per-hour */
    GL_METRIC_HOUR,      /* new-series-per-metric-per-hour */
    GL_METRIC_SERIES,    /* max-series-per-metric */
    GL_HOUR,             /* new-series-per-hour */
    GL_DAY,              /* new-series-per-day */
    GL_COUNT
};

#define GUARD_MINUTES 1440       /* the per-day ring: one count per minute */
#define GUARD_SLOT_MS (5 * 60 * 1000) /* the tables' hour: 12 slots of 5 minutes */

struct series_guard_stats {
    uint64_t new_series;         /* new series let through (and remembered) */
    uint64_t refused[GL_COUNT];  /* points refused, by the limit that refused them */
    uint64_t logged[GL_COUNT];   /* points over a limit let through (on-limit = log) */
    uint64_t rotations;          /* the current filter was full: a new one began */
    uint64_t kept_from_previous; /* series found in the older filter only, kept */
};

struct series_guard {
    struct ev_loop *loop;
    uint64_t (*clock)(const struct series_guard *g); /* unix ms: ev_now (tests set their own) */
    struct pool *pool;
    struct cfg_limits lim;       /* the limits in force */
    size_t bytes;                /* allocated, charged to the pool (POOL_CONTROL) */
    void *filters;               /* both filters' buckets, one mapping (huge pages) */
    struct cuckoo f[2];          /* f[cur]: the current filter; the other: the previous */
    int cur;
    uint64_t since_ms[2];        /* when each filter began (unix ms) */
    bool rotated;                /* the previous filter holds a full generation */
    uint32_t minute[GUARD_MINUTES]; /* new series let through, per minute */
    uint64_t cur_minute;         /* absolute minute of the newest count */
    uint64_t last_hour, last_day; /* sums over the last 60 and 1440 minutes */
    struct topk metrics, clients;
    struct hll *hll;             /* one per metrics entry: the metric's series */
    bool over[GL_COUNT];         /* the hourly/daily limits: over now (logged once) */
    struct series_guard_stats st;
};

/* The guard of lim within lim->series_memory, charged to pool.  NULL
 * when series-memory is 0 (no guard), or with *failed set when the
 * memory could not be had. */
struct series_guard *series_guard_new(struct ev_loop *loop, struct pool *pool,
                                      const struct cfg_limits *lim, bool *failed);
void series_guard_free(struct series_guard *g);
/* A reload: the new limits and on-limit apply at once; what was seen,
 * counted and named stays (series-memory needs a restart). */
void series_guard_set_limits(struct series_guard *g, const struct cfg_limits *lim);

/* A client's valid point: the canonical line, its series hash, and the
 * client's source address.  TS_OK (let through), or TS_REFUSED with why
 * filled (PE_REFUSED, naming the limit).  g NULL: TS_OK. */
int series_guard_admit(struct series_guard *g, const char *origin, const char *line, size_t len,
                       uint64_t hash, struct point_error *why);
/* Ages the counts (call every tick); logs a budget that has room again. */
void series_guard_tick(struct series_guard *g);

/* ---- what stats and the status page show -------------------------------- */

/* The key of limit l ("new-series-per-hour"), and its value in force. */
const char *series_guard_limit_name(enum guard_limit l);
uint64_t series_guard_limit_value(const struct series_guard *g, enum guard_limit l);
/* Series remembered: in the current filter, in the previous one (a series
 * seen in both windows is in both); the series one filter holds. */
uint64_t series_guard_tracked(const struct series_guard *g, bool previous);
uint64_t series_guard_capacity(const struct series_guard *g);
/* How far back the memory of series reaches, in seconds. */
uint64_t series_guard_window_s(const struct series_guard *g);
/* The false-positive rate now: the chance a new series is taken for a
 * seen one (either filter), and the bound stated at full filters. */
double series_guard_fpr(const struct series_guard *g);
double series_guard_fpr_bound(void);
/* The estimated series of metrics entry i. */
uint64_t series_guard_metric_series(const struct series_guard *g, size_t i);
/* Whether entry i of the metrics (or clients) table is over a limit now. */
bool series_guard_entry_limited(const struct series_guard *g, bool metric, size_t i);

#endif
