/*
 * history.c -- the status page's ring of recent samples.
 *
 * One allocation per part, made when the ring is created, charged to the
 * memory budget and written through then (resident from the start): the
 * global columns (capacity x HC_NCOLS doubles) and the per-backend columns
 * (capacity x backends x HB_NCOLS doubles).
 * A sample overwrites the oldest slot; nothing grows with uptime.  The
 * sampler reads the same counters and gauges the stats module shows and
 * turns counters into rates over the time since the previous sample.  It
 * never allocates while sampling, except once when the backend list
 * changed (see history.h), and never changes what it reads.
 */
#include "autoconf.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "output/backend.h"
#include "ops/history.h"
#include "base/log.h"
#include "base/pool.h"
#include "core/relay.h"
#include "spool/spool.h"
#include "base/counters.h"
#include "base/textout.h"
#include "base/util.h"

/* The counters whose rates are sampled, in column order from HC_RECEIVED. */
#define NRATES (HC_NCOLS - HC_RECEIVED)

struct history {
    struct relay *r;
    ev_timer timer;
    bool timer_started;
    uint64_t interval_ms;
    size_t cap;                 /* samples the ring holds */
    size_t head;                /* slot the next sample goes to */
    size_t count;               /* samples held, <= cap */
    double *g;                  /* cap x HC_NCOLS */
    int nb;                     /* backend slots */
    char (*names)[CFG_NAME_MAX];/* nb backend names, slot order */
    double *b;                  /* cap x nb x HB_NCOLS, sample-major */
    size_t bpart_bytes;         /* charged for names + b */
    size_t bytes;               /* charged in all */
    uint64_t prev[NRATES];      /* counters at the previous sample */
    uint64_t prev_mono_ns;
    uint64_t wall0_ms;          /* unix time at mono0_ns: sample times */
    uint64_t mono0_ns;          /* follow the monotonic clock (no steps) */
};

static const char *const gcol_names[HC_NCOLS] = {
    "time", "mem_live", "mem_reserved", "mem_rss", "mem_limit", "mem_malloc",
    "mem_malloc_held", "received", "forwarded", "spooled", "unspooled", "dropped",
    "invalid",
};

static const char *const bcol_names[HB_NCOLS] = {
    "queue_bytes", "spool_entries", "spool_bytes", "backlog_age",
};

/* ---- reading the relay ------------------------------------------------- */

static void
read_counters(uint64_t out[NRATES])
{
    uint64_t received = g_stats.stats_lines_sent, invalid = 0;
    for (int p = PROTO_TELNET; p <= PROTO_HTTP; p++) {
        received += g_stats.proto[p].in.received;
        invalid += g_stats.proto[p].in.invalid;
    }
    out[HC_RECEIVED - HC_RECEIVED] = received;
    out[HC_FORWARDED - HC_RECEIVED] = g_stats.points_forwarded;
    out[HC_SPOOLED - HC_RECEIVED] = g_stats.points_spooled;
    out[HC_UNSPOOLED - HC_RECEIVED] = g_stats.points_unspooled;
    out[HC_DROPPED - HC_RECEIVED] = g_stats.points_dropped;
    out[HC_INVALID - HC_RECEIVED] = invalid;
}

static void
read_backend(struct backend *be, double *cols)
{
    cols[HB_QUEUE_BYTES] = (double)(backend_queued_bytes(be) + spool_backend_staged_bytes(be));
    cols[HB_SPOOL_ENTRIES] = (double)spool_backend_entries(be);
    cols[HB_SPOOL_BYTES] = (double)spool_backend_bytes(be);
    cols[HB_BACKLOG_AGE] = (double)spool_backlog_age_ms(be) / 1000.0;
}

/* ---- the per-backend part ---------------------------------------------- */

static double *
bslot(const struct history *h, size_t sample, int slot)
{
    return &h->b[(sample * (size_t)h->nb + (size_t)slot) * HB_NCOLS];
}

static size_t
bpart_bytes(size_t cap, int nb)
{
    return (size_t)nb * CFG_NAME_MAX + cap * (size_t)nb * HB_NCOLS * sizeof(double);
}

/* The ring's slots name the relay's backends, in its order. */
static bool
backends_match(const struct history *h)
{
    const struct relay *r = h->r;
    if (h->nb != r->nbackends)
        return false;
    for (int i = 0; i < h->nb; i++)
        if (strcmp(h->names[i], r->backends[i].cfg->name) != 0)
            return false;
    return true;
}

/* Re-creates the per-backend part for the relay's backend list, carrying
 * series over by name.  TS_OK, or TS_ENOMEM (the old part stays). */
static int
remap_backends(struct history *h)
{
    struct relay *r = h->r;
    int nb = r->nbackends;
    size_t want = bpart_bytes(h->cap, nb);
    if (want > h->bpart_bytes && pool_charge(&r->pool, want - h->bpart_bytes, POOL_CONTROL) != TS_OK)
        return TS_ENOMEM;
    char (*names)[CFG_NAME_MAX] = NULL;
    double *b = NULL;
    if (nb > 0) {
        names = calloc((size_t)nb, CFG_NAME_MAX);
        b = malloc(h->cap * (size_t)nb * HB_NCOLS * sizeof(double));
    }
    if (nb > 0 && (names == NULL || b == NULL)) {
        free(names);
        free(b);
        if (want > h->bpart_bytes)
            pool_uncharge(&r->pool, want - h->bpart_bytes, POOL_CONTROL);
        return TS_ENOMEM;
    }
    for (int k = 0; k < nb; k++) {
        snprintf(names[k], CFG_NAME_MAX, "%s", r->backends[k].cfg->name);
        int old = -1;
        for (int j = 0; j < h->nb && old < 0; j++)
            if (strcmp(h->names[j], names[k]) == 0)
                old = j;
        for (size_t i = 0; i < h->cap; i++) {
            double *dst = &b[(i * (size_t)nb + (size_t)k) * HB_NCOLS];
            for (int c = 0; c < HB_NCOLS; c++)
                dst[c] = old >= 0 ? bslot(h, i, old)[c] : NAN;
        }
    }
    free(h->names);
    free(h->b);
    if (want < h->bpart_bytes)
        pool_uncharge(&r->pool, h->bpart_bytes - want, POOL_CONTROL);
    h->bytes = h->bytes - h->bpart_bytes + want;
    h->bpart_bytes = want;
    h->names = names;
    h->b = b;
    h->nb = nb;
    return TS_OK;
}

/* ---- create / sample / destroy ----------------------------------------- */

struct history *
history_create(struct relay *r, uint64_t span_ms, uint64_t interval_ms)
{
    if (span_ms == 0 || interval_ms == 0 || span_ms < interval_ms ||
        span_ms / interval_ms > HISTORY_MAX_SAMPLES)
        return NULL;
    size_t cap = (size_t)(span_ms / interval_ms);
    size_t gbytes = cap * HC_NCOLS * sizeof(double);
    size_t total = sizeof(struct history) + gbytes;
    if (pool_charge(&r->pool, total, POOL_CONTROL) != TS_OK)
        return NULL;
    struct history *h = calloc(1, sizeof(*h));
    double *g = malloc(gbytes);
    if (h == NULL || g == NULL) {
        free(h);
        free(g);
        pool_uncharge(&r->pool, total, POOL_CONTROL);
        return NULL;
    }
    /* written through once: the ring is charged in full, and resident in
     * full from the start -- filled a sample a second, its pages would
     * otherwise join the RSS one by one for the first `history` (a creep
     * of ~130 bytes a second that looks like a leak) */
    for (size_t i = 0; i < cap * HC_NCOLS; i++)
        g[i] = NAN;
    h->r = r;
    h->g = g;
    h->cap = cap;
    h->interval_ms = interval_ms;
    h->bytes = total;
    if (remap_backends(h) != TS_OK) {
        history_destroy(h);
        return NULL;
    }
    read_counters(h->prev);
    h->mono0_ns = h->prev_mono_ns = ts_now_ns();
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    h->wall0_ms = (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
    return h;
}

void
history_destroy(struct history *h)
{
    if (h == NULL)
        return;
    if (h->timer_started)
        ev_timer_stop(h->r->loop, &h->timer);
    pool_uncharge(&h->r->pool, h->bytes, POOL_CONTROL);
    free(h->names);
    free(h->b);
    free(h->g);
    free(h);
}

void
history_sample(struct history *h, uint64_t wall_ms, uint64_t mono_ns)
{
    struct relay *r = h->r;
    if (!backends_match(h) && remap_backends(h) != TS_OK)
        LOG_RL(LOG_WARN, "status history: no memory to follow the new backend list; "
                         "per-backend history keeps the old one");
    double *g = &h->g[h->head * HC_NCOLS];
    g[HC_TIME] = (double)wall_ms / 1000.0;
    g[HC_MEM_LIVE] = (double)pool_used_bytes(&r->pool);
    g[HC_MEM_RESERVED] = (double)pool_reserved_bytes(&r->pool);
    g[HC_MEM_RSS] = (double)stats_rss_bytes();
    g[HC_MEM_LIMIT] = (double)r->pool.limit;
    struct malloc_reading m;
    stats_malloc(&m);
    g[HC_MEM_MALLOC] = (double)m.in_use;
    g[HC_MEM_MALLOC_HELD] = (double)(m.arena + m.mmapped);
    uint64_t now[NRATES];
    read_counters(now);
    uint64_t dt = mono_ns > h->prev_mono_ns ? mono_ns - h->prev_mono_ns : 0;
    for (int i = 0; i < NRATES; i++) {
        uint64_t d = now[i] >= h->prev[i] ? now[i] - h->prev[i] : 0;
        g[HC_RECEIVED + i] = dt > 0 ? (double)d * 1e9 / (double)dt : 0.0;
        h->prev[i] = now[i];
    }
    h->prev_mono_ns = mono_ns;
    /* per backend, by name: a slot whose backend is gone (only while the
     * remap above could not be made) reads as unknown */
    bool same = backends_match(h);
    for (int k = 0; k < h->nb; k++) {
        double *cols = bslot(h, h->head, k);
        struct backend *be = NULL;
        if (same) {
            be = &r->backends[k];
        } else {
            for (int j = 0; j < r->nbackends && be == NULL; j++)
                if (strcmp(r->backends[j].cfg->name, h->names[k]) == 0)
                    be = &r->backends[j];
        }
        if (be != NULL) {
            read_backend(be, cols);
        } else {
            for (int c = 0; c < HB_NCOLS; c++)
                cols[c] = NAN;
        }
    }
    h->head = (h->head + 1) % h->cap;
    if (h->count < h->cap)
        h->count++;
}

static void
history_on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct history *h = container_of(w, struct history, timer);
    uint64_t mono = ts_now_ns();
    uint64_t ms = (mono - h->mono0_ns) / 1000000u;
    uint64_t prev_ms = (h->prev_mono_ns - h->mono0_ns) / 1000000u;
    /* a late timer fires again at once (libev resets a missed repeat to
     * now): that tick is not a sample of its own -- sample times stay half
     * an interval apart at least, and never repeat a millisecond */
    if (h->count > 0 && (mono - h->prev_mono_ns < h->interval_ms * 500000u || ms == prev_ms))
        return;
    history_sample(h, h->wall0_ms + ms, mono);
}

int
history_start(struct relay *r, char *err, size_t errlen)
{
    const struct config *cfg = &r->cfg;
    r->history = NULL;
    if (cfg->history_ms == 0)
        return TS_OK;
    struct history *h = history_create(r, cfg->history_ms, cfg->history_interval_ms);
    if (h == NULL) {
        snprintf(err, errlen,
                 "cannot set up the status history (history = %llu ms every %llu ms): "
                 "memory-limit too small?",
                 (unsigned long long)cfg->history_ms,
                 (unsigned long long)cfg->history_interval_ms);
        return TS_ERROR;
    }
    double iv = (double)h->interval_ms / 1000.0;
    ev_timer_init(&h->timer, history_on_timer, iv, iv);
    ev_timer_start(r->loop, &h->timer);
    h->timer_started = true;
    r->history = h;
    log_info("status history: %zu samples every %llu ms, %zu bytes", h->cap,
             (unsigned long long)h->interval_ms, h->bytes);
    return TS_OK;
}

void
history_stop(struct relay *r)
{
    history_destroy(r->history);
    r->history = NULL;
}

/* ---- reading the ring -------------------------------------------------- */

size_t
history_bytes(const struct history *h)
{
    return h ? h->bytes : 0;
}

size_t
history_count(const struct history *h)
{
    return h ? h->count : 0;
}

size_t
history_capacity(const struct history *h)
{
    return h ? h->cap : 0;
}

uint64_t
history_interval_ms(const struct history *h)
{
    return h ? h->interval_ms : 0;
}

static size_t
newest(const struct history *h)
{
    return (h->head + h->cap - 1) % h->cap;
}

bool
history_latest(const struct history *h, double *cols)
{
    if (h == NULL || h->count == 0)
        return false;
    memcpy(cols, &h->g[newest(h) * HC_NCOLS], HC_NCOLS * sizeof(double));
    return true;
}

bool
history_latest_backend(const struct history *h, const char *name, double *cols)
{
    if (h == NULL || h->count == 0)
        return false;
    for (int k = 0; k < h->nb; k++) {
        if (strcmp(h->names[k], name) == 0) {
            memcpy(cols, bslot(h, newest(h), k), HB_NCOLS * sizeof(double));
            return true;
        }
    }
    return false;
}

size_t
history_json_bound(const struct history *h)
{
    if (h == NULL)
        return HISTORY_JSON_HEAD;
    return HISTORY_JSON_HEAD + (size_t)h->nb * HISTORY_JSON_BACKEND +
           h->cap * (HISTORY_JSON_ROW + (size_t)h->nb * HISTORY_JSON_BROW);
}

/* ---- JSON -------------------------------------------------------------- */

enum vkind { V_TIME, V_INT, V_RATE, V_SECONDS };

/* One number in at most HISTORY_VALUE_MAX - 1 characters: every value is
 * clamped to [0, 1e19] (an integer of at most 20 digits), times and
 * seconds have 3 decimals and stay under 1e12, rates 6 significant
 * digits; NaN is null. */
static void
value(struct textout *o, double v, enum vkind k, bool first)
{
    const char *sep = first ? "" : ",";
    if (isnan(v)) {
        textout_printf(o, "%snull", sep);
        return;
    }
    if (!(v >= 0.0))
        v = 0.0;
    switch (k) {
    case V_TIME:
    case V_SECONDS:
        textout_printf(o, "%s%.3f", sep, v < 1e12 ? v : 1e12);
        break;
    case V_RATE:
        textout_printf(o, "%s%.6g", sep, v < 1e19 ? v : 1e19);
        break;
    case V_INT:
        textout_printf(o, "%s%.0f", sep, v < 1e19 ? v : 1e19);
        break;
    }
}

static enum vkind
gkind(int c)
{
    if (c == HC_TIME)
        return V_TIME;
    return c >= HC_RECEIVED ? V_RATE : V_INT;
}

static enum vkind
bkind(int c)
{
    return c == HB_BACKLOG_AGE ? V_SECONDS : V_INT;
}

size_t
history_format_json(const struct history *h, double since, char *out, size_t cap)
{
    struct textout o = { .p = out, .cap = cap };
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    double now = (double)ts.tv_sec + (double)(ts.tv_nsec / 1000000) / 1000.0;
    textout_printf(&o, "{\"version\":1,\"interval\":%.3f,\"capacity\":%zu,\"started\":%llu,\"now\":%.3f,"
             "\"columns\":[",
         h ? (double)h->interval_ms / 1000.0 : 0.0, h ? h->cap : 0,
         (unsigned long long)g_stats.start_time, now);
    for (int c = 0; c < HC_NCOLS; c++)
        textout_printf(&o, "%s\"%s\"", c ? "," : "", gcol_names[c]);
    textout_printf(&o, "],\"samples\":[");
    size_t n = h ? h->count : 0;
    size_t first = h ? (h->head + h->cap - n) % h->cap : 0;
    size_t skip = 0; /* samples at or before `since` (times increase) */
    while (skip < n && h->g[((first + skip) % h->cap) * HC_NCOLS + HC_TIME] <= since)
        skip++;
    for (size_t i = skip; i < n; i++) {
        const double *g = &h->g[((first + i) % h->cap) * HC_NCOLS];
        textout_printf(&o, "%s[", i > skip ? "," : "");
        for (int c = 0; c < HC_NCOLS; c++)
            value(&o, g[c], gkind(c), c == 0);
        textout_printf(&o, "]");
    }
    textout_printf(&o, "],\"backends\":{");
    for (int k = 0; h != NULL && k < h->nb; k++) {
        /* names are [A-Za-z0-9._-] (config.c): nothing to escape */
        textout_printf(&o, "%s\"%s\":{\"columns\":[", k ? "," : "", h->names[k]);
        for (int c = 0; c < HB_NCOLS; c++)
            textout_printf(&o, "%s\"%s\"", c ? "," : "", bcol_names[c]);
        textout_printf(&o, "],\"samples\":[");
        for (size_t i = skip; i < n; i++) {
            const double *cols = bslot(h, (first + i) % h->cap, k);
            textout_printf(&o, "%s[", i > skip ? "," : "");
            for (int c = 0; c < HB_NCOLS; c++)
                value(&o, cols[c], bkind(c), c == 0);
            textout_printf(&o, "]");
        }
        textout_printf(&o, "]}");
    }
    textout_printf(&o, "}}");
    return o.len;
}
