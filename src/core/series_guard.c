/*
 * series_guard.c -- the new-series guard (see series_guard.h).
 *
 * A point's way through it:
 *
 *   hash in the current filter ------------------------------> pass
 *   hash in the previous filter only: copied to the current --> pass
 *   otherwise a new series:
 *     the client's and the metric's entries (topk), the hour and day
 *     sums; the first limit without room --> refused (reject) or counted
 *     and named (log); with room, or under log: remembered in the current
 *     filter, counted per minute, per client, per metric (and its
 *     HyperLogLog) --> pass
 *
 * The first two steps are all an established series costs: one or two
 * cache lines of the current filter.  When the current filter is full
 * the previous one is dropped and an empty one becomes current: series
 * seen since the last rotation are held, older ones come back as new.
 * Memory is split once: an eighth of series-memory for the metrics table
 * and its HyperLogLogs, a thirty-second for the clients table, the rest
 * for the two filters, side by side in one mapping aligned to 2 MiB and
 * advised into huge pages (a lookup reads a random place in it: with 4K
 * pages a TLB miss came with every cache miss, and lookups took twice as
 * long), touched once at start so no page fault comes later.  It must
 * never refuse a series it holds, never allocate after series_guard_new,
 * and never read a socket.
 */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <xxhash.h>

#include "base/log.h"
#include "base/util.h"
#include "core/series_guard.h"

#define GUARD_MIN_ENTRIES 16
#define GUARD_HUGE (2u << 20)  /* a huge page */
#define GUARD_NAME_SHOWN 200  /* bytes of a metric name in a refusal */

/* topk entry user flags: a limit this key is over (logged once) */
#define GUARD_FLAG(l) (1u << (l))

static const char *const limit_names[GL_COUNT] = {
    "new-series-per-client-per-hour", "new-series-per-metric-per-hour",
    "max-series-per-metric", "new-series-per-hour", "new-series-per-day",
};

static uint64_t
guard_ev_clock(const struct series_guard *g)
{
    return (uint64_t)(ev_now(g->loop) * 1000.0);
}

static uint64_t
guard_now_ms(const struct series_guard *g)
{
    return g->clock(g);
}

/* ---- set-up -------------------------------------------------------------- */

/* How series-memory is split: entries of each table, bytes per filter. */
struct guard_plan {
    size_t metrics, clients, filter_bytes, total;
};

static struct guard_plan
guard_plan(uint64_t memory)
{
    struct guard_plan p;
    size_t per_metric = topk_bytes(1) + sizeof(struct hll);
    p.metrics = TS_MAX((size_t)(memory / 8) / per_metric, GUARD_MIN_ENTRIES);
    p.clients = TS_MAX((size_t)(memory / 32) / topk_bytes(1), GUARD_MIN_ENTRIES);
    size_t tables = topk_bytes(p.metrics) + p.metrics * sizeof(struct hll) +
                    topk_bytes(p.clients);
    size_t rest = memory > tables ? (size_t)memory - tables : 0;
    p.filter_bytes = cuckoo_bytes(rest / 2);
    p.total = tables + 2 * p.filter_bytes;
    return p;
}

/* The filters' memory: `bytes` mapped at a 2 MiB boundary, advised into
 * huge pages, every page touched.  NULL when the OS refuses. */
static void *
guard_map(size_t bytes)
{
    size_t span = bytes + GUARD_HUGE;
    char *m = mmap(NULL, span, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (m == MAP_FAILED)
        return NULL;
    char *start = (char *)(((uintptr_t)m + GUARD_HUGE - 1) & ~(uintptr_t)(GUARD_HUGE - 1));
    if (start > m)
        munmap(m, (size_t)(start - m));
    size_t tail = (size_t)(m + span - (start + bytes));
    if (tail > 0)
        munmap(start + bytes, tail);
#ifdef MADV_HUGEPAGE
    (void)madvise(start, bytes, MADV_HUGEPAGE);
#endif
    memset(start, 0, bytes); /* the page faults now, not on the data path */
    return start;
}

static void
guard_release(struct series_guard *g)
{
    if (g->filters != NULL)
        munmap(g->filters, 2 * g->f[0].nbuckets * CUCKOO_BUCKET_BYTES);
    g->filters = NULL;
    topk_free(&g->metrics);
    topk_free(&g->clients);
    free(g->hll);
    g->hll = NULL;
}

struct series_guard *
series_guard_new(struct ev_loop *loop, struct pool *pool, const struct cfg_limits *lim,
                 bool *failed)
{
    *failed = false;
    if (lim->series_memory == 0)
        return NULL;
    struct guard_plan p = guard_plan(lim->series_memory);
    struct series_guard *g = calloc(1, sizeof(*g));
    if (g == NULL || pool_charge(pool, p.total, POOL_CONTROL) != TS_OK) {
        free(g);
        *failed = true;
        return NULL;
    }
    g->loop = loop;
    g->clock = guard_ev_clock;
    g->pool = pool;
    g->bytes = p.total;
    g->lim = *lim;
    uint64_t now = guard_now_ms(g);
    g->hll = malloc(p.metrics * sizeof(*g->hll));
    g->filters = guard_map(2 * p.filter_bytes);
    if (g->filters != NULL) {
        cuckoo_init(&g->f[0], g->filters, p.filter_bytes);
        cuckoo_init(&g->f[1], (char *)g->filters + p.filter_bytes, p.filter_bytes);
    }
    if (g->hll == NULL || g->filters == NULL ||
        topk_init(&g->metrics, p.metrics, GUARD_SLOT_MS, now) != TS_OK ||
        topk_init(&g->clients, p.clients, GUARD_SLOT_MS, now) != TS_OK) {
        guard_release(g);
        pool_uncharge(pool, p.total, POOL_CONTROL);
        free(g);
        *failed = true;
        return NULL;
    }
    g->since_ms[0] = g->since_ms[1] = now;
    g->cur_minute = now / 60000;
    log_info("limits: new-series guard in %zu bytes: two filters of %llu series each "
             "(false positives under %.3f%%), %zu metrics and %zu clients tracked; on-limit = %s",
             g->bytes, (unsigned long long)g->f[0].capacity, 100.0 * series_guard_fpr_bound(),
             p.metrics, p.clients, lim->on_limit == ON_LIMIT_LOG ? "log" : "reject");
    return g;
}

void
series_guard_free(struct series_guard *g)
{
    if (g == NULL)
        return;
    guard_release(g);
    pool_uncharge(g->pool, g->bytes, POOL_CONTROL);
    free(g);
}

void
series_guard_set_limits(struct series_guard *g, const struct cfg_limits *lim)
{
    if (g == NULL)
        return;
    uint64_t memory = g->lim.series_memory; /* built once: a restart changes it */
    g->lim = *lim;
    g->lim.series_memory = memory;
}

/* ---- time ---------------------------------------------------------------- */

/* Moves the per-minute ring to now: minutes that left the hour leave
 * last_hour, minutes that left the day leave last_day. */
static void
guard_advance(struct series_guard *g, uint64_t now_ms)
{
    uint64_t m = now_ms / 60000;
    if (m <= g->cur_minute)
        return;
    if (m - g->cur_minute >= GUARD_MINUTES) {
        memset(g->minute, 0, sizeof(g->minute));
        g->last_hour = g->last_day = 0;
    } else {
        for (uint64_t k = g->cur_minute + 1; k <= m; k++) {
            g->last_hour -= g->minute[(k - 60) % GUARD_MINUTES];
            g->last_day -= g->minute[k % GUARD_MINUTES];
            g->minute[k % GUARD_MINUTES] = 0;
        }
    }
    g->cur_minute = m;
    topk_advance(&g->metrics, now_ms);
    topk_advance(&g->clients, now_ms);
}

/* A budget over all clients that had no room and has some again. */
static void
guard_log_room(struct series_guard *g, enum guard_limit l, uint64_t used)
{
    uint64_t limit = series_guard_limit_value(g, l);
    if (!g->over[l] || (limit > 0 && used >= limit))
        return;
    g->over[l] = false;
    log_info("limits: %s has room again (%llu of %llu used): new series pass", limit_names[l],
             (unsigned long long)used, (unsigned long long)limit);
}

void
series_guard_tick(struct series_guard *g)
{
    if (g == NULL)
        return;
    guard_advance(g, guard_now_ms(g));
    guard_log_room(g, GL_HOUR, g->last_hour);
    guard_log_room(g, GL_DAY, g->last_day);
}

/* ---- the filters --------------------------------------------------------- */

/* The current filter is full: the previous one is dropped and starts
 * again, empty, as the current one. */
static void
guard_rotate(struct series_guard *g, uint64_t now_ms)
{
    struct cuckoo *full = &g->f[g->cur];
    g->cur ^= 1;
    cuckoo_clear(&g->f[g->cur]);
    g->since_ms[g->cur] = now_ms;
    g->rotated = true;
    g->st.rotations++;
    LOG_RL(LOG_INFO, "limits: the series filter is full (%llu series): a new one begins; "
           "series not seen since the one before began count as new again (raise "
           "series-memory to remember more)", (unsigned long long)full->count);
}

/* Holds hash in the current filter (a full one rotates first). */
static void
guard_remember(struct series_guard *g, uint64_t hash)
{
    if (cuckoo_insert(&g->f[g->cur], hash) == TS_OK)
        return;
    guard_rotate(g, guard_now_ms(g));
    int rc = cuckoo_insert(&g->f[g->cur], hash);
    TS_ASSERT(rc == TS_OK); /* an empty filter takes it */
    (void)rc;
}

/* ---- the point's metric and client --------------------------------------- */

struct guard_point {
    enum point_cmd cmd;
    const char *metric;
    size_t metric_len;
    uint64_t mkey, ckey;
};

/* The command and metric of a canonical line ("put M ...", "rollup SPEC
 * M ...", "histogram M ..."; single spaces, so words are plain), and the
 * keys of the metric and of origin (none when NULL). */
static void
guard_parse(struct guard_point *p, const char *origin, const char *line, size_t len)
{
    const char *end = line + len, *w = memchr(line, ' ', len);
    p->cmd = line[0] == 'r' ? CMD_ROLLUP : line[0] == 'h' ? CMD_HISTOGRAM : CMD_PUT;
    w = w != NULL ? w + 1 : end;
    if (p->cmd == CMD_ROLLUP) {
        const char *sp = memchr(w, ' ', (size_t)(end - w));
        w = sp != NULL ? sp + 1 : end;
    }
    const char *sp = memchr(w, ' ', (size_t)(end - w));
    p->metric = w;
    p->metric_len = (size_t)((sp != NULL ? sp : end) - w);
    p->mkey = XXH3_64bits(p->metric, p->metric_len);
    p->ckey = origin != NULL ? XXH3_64bits(origin, strlen(origin)) : 0;
}

/* ---- the limits ---------------------------------------------------------- */

const char *
series_guard_limit_name(enum guard_limit l)
{
    return l < GL_COUNT ? limit_names[l] : "?";
}

uint64_t
series_guard_limit_value(const struct series_guard *g, enum guard_limit l)
{
    const struct cfg_limits *lim = &g->lim;
    switch (l) {
    case GL_CLIENT_HOUR: return lim->per_client_hour;
    case GL_METRIC_HOUR: return lim->per_metric_hour;
    case GL_METRIC_SERIES: return lim->max_per_metric;
    case GL_HOUR: return lim->per_hour;
    case GL_DAY: return lim->per_day;
    default: return 0;
    }
}

/* Whether limit l has room for one more new series of (mi, ci) (-1: not
 * in its table, so nothing counted against it yet). */
static bool
guard_has_room(const struct series_guard *g, enum guard_limit l, long mi, long ci)
{
    uint64_t limit = series_guard_limit_value(g, l);
    if (limit == 0)
        return true;
    switch (l) {
    case GL_CLIENT_HOUR: return ci < 0 || topk_kept(&g->clients, (size_t)ci) < limit;
    case GL_METRIC_HOUR: return mi < 0 || topk_kept(&g->metrics, (size_t)mi) < limit;
    case GL_METRIC_SERIES: return mi < 0 || hll_estimate(&g->hll[mi]) < limit;
    case GL_HOUR: return g->last_hour < limit;
    case GL_DAY: return g->last_day < limit;
    default: return true;
    }
}

/* The first limit without room, or GL_COUNT. */
static enum guard_limit
guard_first_full(const struct series_guard *g, const struct guard_point *p)
{
    long ci = g->lim.per_client_hour > 0 ? topk_find(&g->clients, p->ckey) : -1;
    long mi = (g->lim.per_metric_hour | g->lim.max_per_metric) > 0
                  ? topk_find(&g->metrics, p->mkey) : -1;
    for (int l = 0; l < GL_COUNT; l++)
        if (!guard_has_room(g, (enum guard_limit)l, mi, ci))
            return (enum guard_limit)l;
    return GL_COUNT;
}

/* What the client is told: the limit, its value, and whom it concerns. */
static void
guard_refusal(const struct series_guard *g, enum guard_limit l, const struct guard_point *p,
              const char *origin, struct point_error *why)
{
    int n;
    unsigned long long v = (unsigned long long)series_guard_limit_value(g, l);
    int mlen = (int)TS_MIN(p->metric_len, (size_t)GUARD_NAME_SHOWN);
    if (l == GL_CLIENT_HOUR)
        n = snprintf(why->msg, sizeof(why->msg), "new series over %s (%llu) of client %s",
                     limit_names[l], v, origin);
    else if (l == GL_METRIC_HOUR || l == GL_METRIC_SERIES)
        n = snprintf(why->msg, sizeof(why->msg), "new series over %s (%llu) of metric %.*s",
                     limit_names[l], v, mlen, p->metric);
    else
        n = snprintf(why->msg, sizeof(why->msg), "new series over %s (%llu)", limit_names[l],
                     v);
    why->kind = PE_REFUSED;
    why->cmd = p->cmd;
    why->relay = true;
    why->len = n < 0 ? 0 : TS_MIN((size_t)n, sizeof(why->msg) - 1);
}

/* How an offender's new series fare from now on. */
static const char *
guard_fate(const struct series_guard *g)
{
    return g->lim.on_limit == ON_LIMIT_LOG
               ? "still pass (on-limit = log), counted in limits.logged"
               : "are refused; existing series pass";
}

/* The name of the entry with the most new series of table t. */
static void
guard_top_name(const struct topk *t, const char **name, int *len)
{
    size_t top;
    if (topk_top(t, &top, 1) == 1) {
        *name = t->e[top].name;
        *len = t->e[top].name_len;
    } else {
        *name = "(none)";
        *len = 6;
    }
}

/* Names who crossed limit l, once per crossing: the client or metric
 * (its entry flagged until it passes a new series again), or for a
 * budget over all clients, the client and metric with the most new
 * series in the last hour. */
static void
guard_name_offender(struct series_guard *g, enum guard_limit l, const struct guard_point *p,
                    const char *origin, size_t mi, size_t ci)
{
    unsigned long long v = (unsigned long long)series_guard_limit_value(g, l);
    if (l == GL_CLIENT_HOUR || l == GL_METRIC_HOUR || l == GL_METRIC_SERIES) {
        bool client = l == GL_CLIENT_HOUR;
        struct topk_entry *e = client ? &g->clients.e[ci] : &g->metrics.e[mi];
        if (e->user & GUARD_FLAG(l))
            return;
        e->user |= GUARD_FLAG(l);
        int mlen = (int)TS_MIN(p->metric_len, (size_t)GUARD_NAME_SHOWN);
        log_warn("limits: %s %.*s crossed %s = %llu: its new series %s",
                 client ? "client" : "metric", client ? (int)strlen(origin) : mlen,
                 client ? origin : p->metric, limit_names[l], v, guard_fate(g));
        return;
    }
    if (g->over[l])
        return;
    g->over[l] = true;
    const char *cn, *mn;
    int cl, ml;
    guard_top_name(&g->clients, &cn, &cl);
    guard_top_name(&g->metrics, &mn, &ml);
    log_warn("limits: %s = %llu reached: new series %s; the most new series in the last "
             "hour came from client %.*s and metric %.*s", limit_names[l], v, guard_fate(g),
             cl, cn, TS_MIN(ml, GUARD_NAME_SHOWN), mn);
}

/* ---- admission ------------------------------------------------------------ */

/* Counts a new series (let through or not) in the tables; returns the
 * entries.  A key new to its table starts clean (flags, HyperLogLog). */
static void
guard_count(struct series_guard *g, const struct guard_point *p, const char *origin,
            bool passed, uint64_t now, size_t *mi, size_t *ci)
{
    bool fresh;
    *ci = topk_add(&g->clients, p->ckey, origin, strlen(origin), 1, passed, now, &fresh);
    *mi = topk_add(&g->metrics, p->mkey, p->metric, p->metric_len, 1, passed, now, &fresh);
    if (fresh)
        hll_clear(&g->hll[*mi]);
}

/* A series neither filter holds. */
static int
guard_new_series(struct series_guard *g, const char *origin, const char *line, size_t len,
                 uint64_t hash, struct point_error *why)
{
    uint64_t now = guard_now_ms(g);
    struct guard_point p;
    size_t mi, ci;
    guard_parse(&p, origin, line, len);
    guard_advance(g, now);
    enum guard_limit l = guard_first_full(g, &p);
    bool reject = l != GL_COUNT && g->lim.on_limit == ON_LIMIT_REJECT;
    guard_count(g, &p, origin, !reject, now, &mi, &ci);
    if (l != GL_COUNT) {
        guard_name_offender(g, l, &p, origin, mi, ci);
        if (reject) {
            g->st.refused[l]++;
            guard_refusal(g, l, &p, origin, why);
            return TS_REFUSED;
        }
        g->st.logged[l]++;
    } else {
        g->clients.e[ci].user = 0; /* under its limits again */
        g->metrics.e[mi].user = 0;
    }
    guard_remember(g, hash);
    hll_add(&g->hll[mi], hash);
    g->minute[g->cur_minute % GUARD_MINUTES]++;
    g->last_hour++;
    g->last_day++;
    g->st.new_series++;
    return TS_OK;
}

/* A series only the previous filter holds: kept in the current one (it
 * is no new series), and in its metric's HyperLogLog when the metric is
 * tracked (a metric that took its entry since counts it again). */
static void
guard_keep(struct series_guard *g, const char *line, size_t len, uint64_t hash)
{
    struct guard_point p;
    guard_parse(&p, NULL, line, len);
    long mi = topk_find(&g->metrics, p.mkey);
    if (mi >= 0)
        hll_add(&g->hll[mi], hash);
    guard_remember(g, hash);
    g->st.kept_from_previous++;
}

int
series_guard_admit(struct series_guard *g, const char *origin, const char *line, size_t len,
                   uint64_t hash, struct point_error *why)
{
    if (g == NULL || cuckoo_contains(&g->f[g->cur], hash))
        return TS_OK;
    /* an empty previous filter (no rotation yet) is not read: its pages
     * would cost a cache miss for nothing */
    if (g->f[g->cur ^ 1].count > 0 && cuckoo_contains(&g->f[g->cur ^ 1], hash)) {
        guard_keep(g, line, len, hash);
        return TS_OK;
    }
    return guard_new_series(g, origin, line, len, hash, why);
}

/* ---- what stats and the status page show ---------------------------------- */

uint64_t
series_guard_tracked(const struct series_guard *g, bool previous)
{
    return g->f[previous ? g->cur ^ 1 : g->cur].count;
}

uint64_t
series_guard_capacity(const struct series_guard *g)
{
    return g->f[0].capacity;
}

uint64_t
series_guard_window_s(const struct series_guard *g)
{
    uint64_t now = guard_now_ms(g);
    uint64_t since = g->since_ms[g->rotated ? g->cur ^ 1 : g->cur];
    return now > since ? (now - since) / 1000 : 0;
}

double
series_guard_fpr(const struct series_guard *g)
{
    return cuckoo_fpr(&g->f[0]) + cuckoo_fpr(&g->f[1]);
}

double
series_guard_fpr_bound(void)
{
    /* both filters full: 2 x 8 x 0.94 / 65535 */
    return 2.0 * 2.0 * CUCKOO_SLOTS * (CUCKOO_LOAD_PCT / 100.0) / 65535.0;
}

uint64_t
series_guard_metric_series(const struct series_guard *g, size_t i)
{
    return hll_estimate(&g->hll[i]);
}

bool
series_guard_entry_limited(const struct series_guard *g, bool metric, size_t i)
{
    return (metric ? g->metrics.e[i].user : g->clients.e[i].user) != 0;
}
