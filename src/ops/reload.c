/*
 * reload.c -- SIGHUP: the configuration reloaded in place.
 *
 * The new file is parsed whole before anything changes; a file with
 * errors, or listeners that cannot be bound, is refused and the running
 * configuration stays.  Then, at once:
 *   - backends keep their slot (struct and connections) by name: one
 *     that stays keeps its connections and queue and takes its new
 *     address, ack mode, timeouts, max-rate, overflow and share; an added
 *     one gets a new slot (or its old one back); a removed one retires:
 *     no longer routed to, it has shutdown-timeout to deliver its queues
 *     (and the spool it is working off), then what is left is handed to
 *     the remaining backends by routing, and it goes quiet;
 *   - listeners are matched by address: kept sockets are never closed,
 *     removed ones are (their clients stay), added ones are bound;
 *   - routing, limits, the Redis address and timeouts, log level and
 *     stats interval follow the file; frame-ack marks are taken again;
 *   - the new-series budgets of [limits] and on-limit apply at once, and
 *     the guard keeps every series it remembers and every count (its
 *     series-memory needs a restart).
 * Keys that need a restart keep their running value, with a warning.
 * It must never drop a line and never close a client.
 */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "output/backend.h"
#include "input/client.h"
#include "base/config.h"
#include "core/delivery.h"
#include "core/proxy.h"
#include "input/listener.h"
#include "base/log.h"
#include "base/point.h"
#include "core/flow.h"
#include "core/relay.h"
#include "core/series_guard.h"
#include "ops/reload.h"
#include "spool/spool.h"
#include "input/tls_server.h"
#include "ops/credentials.h"
#include "base/counters.h"
#include "base/util.h"

/* The file's configuration, and the running one while it is replaced:
 * large, and reloads are serial. */
static struct config next_cfg, prev_cfg;

static uint64_t
reload_now_ms(const struct relay *r)
{
    return (uint64_t)(ev_now(r->loop) * 1000.0);
}

static void
reload_warn(void *ctx, const char *line)
{
    (void)ctx;
    log_warn("reload: %s", line);
}

/* ---- keys that need a restart ----------------------------------------- */

static int
keep_str(char *next, const char *cur, size_t cap, const char *key)
{
    if (strcmp(next, cur) == 0)
        return 0;
    log_warn("reload: %s needs a restart: keeping '%s' (the file says '%s')", key, cur, next);
    snprintf(next, cap, "%s", cur);
    return 1;
}

/* A [relay] (or [sect]) key's value in n as a file gives it ("64K", "15m"). */
static const char *
section_key_text(const struct config *n, const char *sect, const char *key, char *buf,
                 size_t len)
{
    for (size_t i = 0; i < config_key_count(); i++)
        if (strcmp(config_key_section(i), sect) == 0 &&
            strcmp(config_key_name(i), key) == 0 && config_key_format(i, n, NULL, buf, len))
            return buf;
    return "?";
}

static const char *
relay_key_text(const struct config *n, const char *key, char *buf, size_t len)
{
    return section_key_text(n, "relay", key, buf, len);
}

/* [limits] series-memory sizes what the new-series guard built at start:
 * it stays (and with it everything the guard remembers); a default that
 * followed a new memory-limit stays silently. */
static int
keep_series_memory(struct config *n, const struct config *c)
{
    const struct cfg_limits *l = &n->limits;
    if (c->limits.series_memory == 0 &&
        (l->per_hour | l->per_day | l->per_metric_hour | l->per_client_hour |
         l->max_per_metric) != 0)
        log_warn("reload: [limits] the limits need the new-series guard, which is off "
                 "(series-memory was 0 at start): they apply after a restart");
    if (n->limits.series_memory == c->limits.series_memory || !n->limits.series_memory_set) {
        n->limits.series_memory = c->limits.series_memory;
        n->limits.series_memory_set = c->limits.series_memory_set;
        return 0;
    }
    char want[32], have[32];
    log_warn("reload: [limits] series-memory needs a restart: keeping %s (the file says %s)%s",
             section_key_text(c, "limits", "series-memory", have, sizeof(have)),
             section_key_text(n, "limits", "series-memory", want, sizeof(want)),
             c->limits.series_memory == 0 ? "; there is no guard, so no limit applies" : "");
    n->limits.series_memory = c->limits.series_memory;
    return 1;
}

/* A [relay] number field of n (next) that must keep c's (cur) value. */
static int
keep_u64(const struct config *n, const struct config *c, uint64_t *next, uint64_t cur,
         const char *key)
{
    if (*next == cur)
        return 0;
    char want[32], have[32];
    log_warn("reload: %s needs a restart: keeping %s (the file says %s)", key,
             relay_key_text(c, key, have, sizeof(have)),
             relay_key_text(n, key, want, sizeof(want)));
    *next = cur;
    return 1;
}

/* What is built once at start keeps its running value: the pool's block,
 * this relay's name and key space in Redis, how Redis is found, the
 * resolvers, the history ring, the log file. */
static int
keep_restart_only(struct config *n, const struct config *c)
{
    int kept = 0;
    kept += keep_u64(n, c, &n->block_size, c->block_size, "block-size");
    kept += keep_str(n->instance, c->instance, sizeof(n->instance), "instance");
    kept += keep_u64(n, c, &n->history_ms, c->history_ms, "history");
    kept += keep_u64(n, c, &n->history_interval_ms, c->history_interval_ms, "history-interval");
    kept += keep_str(n->log_file, c->log_file, sizeof(n->log_file), "log-file");
    kept += keep_u64(n, c, &n->log_buffer_bytes, c->log_buffer_bytes, "log-buffer-bytes");
    kept += keep_str(n->dns_servers, c->dns_servers, sizeof(n->dns_servers), "dns-servers");
    kept += keep_series_memory(n, c);
    kept += keep_u64(n, c, &n->resolve_timeout_ms, c->resolve_timeout_ms, "resolve-timeout");
    if (n->redis.enabled != c->redis.enabled) {
        log_warn("reload: [redis] on or off needs a restart: keeping it %s",
                 c->redis.enabled ? "on" : "off");
        kept++;
    }
    if (!c->redis.enabled) {
        n->redis = c->redis; /* off: nothing of it applies */
        return kept;
    }
    n->redis.enabled = true;
    kept += keep_str(n->redis.prefix, c->redis.prefix, sizeof(n->redis.prefix),
                     "[redis] prefix");
    kept += keep_str(n->redis.master_name, c->redis.master_name, sizeof(n->redis.master_name),
                     "[redis] master-name");
    if (keep_str(n->redis.sentinels_text, c->redis.sentinels_text,
                 sizeof(n->redis.sentinels_text), "[redis] sentinels") > 0) {
        memcpy(n->redis.sentinels, c->redis.sentinels, sizeof(n->redis.sentinels));
        n->redis.nsentinels = c->redis.nsentinels;
        kept++;
    }
    return kept;
}

/* ---- backends ---------------------------------------------------------- */

struct plan {
    int nslots;
    bool added[CFG_MAX_BACKENDS];    /* a new slot */
    bool revived[CFG_MAX_BACKENDS];  /* a retiring or retired slot the file names again */
    bool removed[CFG_MAX_BACKENDS];  /* routed to until now, not in the file */
    bool named[CFG_MAX_BACKENDS];    /* in the file: routed to by its groups, its TLS
                                        context built anew */
    int nadded, nremoved, nkept;
    int nlisten_added, nlisten_removed;
};

static int
slot_named(const struct relay *r, const char *name)
{
    for (int i = 0; i < r->nbackends; i++)
        if (strcmp(r->backends[i].cfg->name, name) == 0)
            return i;
    return -1;
}

/* Lays the file's backends out in the relay's slots: a backend keeps its
 * slot by name; a slot the file does not name keeps its configuration (it
 * retires); new ones take new slots.  TS_ERROR: the slots are used up. */
static int
align_backends(struct relay *r, struct config *n, struct plan *p, char *err, size_t errlen)
{
    static struct cfg_backend slots[CFG_MAX_BACKENDS];
    bool named[CFG_MAX_BACKENDS] = { false };
    p->nslots = r->nbackends;
    for (int i = 0; i < r->nbackends; i++)
        slots[i] = *r->backends[i].cfg;
    for (int j = 0; j < n->nbackends; j++) {
        struct cfg_backend *nb = &n->backends[j];
        int i = slot_named(r, nb->name);
        if (i < 0) {
            if (p->nslots == CFG_MAX_BACKENDS) {
                snprintf(err, errlen, "no slot for backend %s: %d backends were configured "
                         "since start (restart to reuse the slots of removed ones)",
                         nb->name, CFG_MAX_BACKENDS);
                return TS_ERROR;
            }
            i = p->nslots++;
            p->added[i] = true;
            p->nadded++;
        } else {
            const struct backend *be = &r->backends[i];
            if (nb->conns != be->nconns) {
                log_warn("reload: backend %s: conns needs a restart: keeping %d", nb->name,
                         be->nconns);
                nb->conns = be->nconns;
            }
            if (nb->protocol != be->cfg->protocol) {
                log_warn("reload: backend %s: protocol needs a restart: keeping %s", nb->name,
                         be->cfg->protocol == BPROTO_HTTP ? "http" : "telnet");
                nb->protocol = be->cfg->protocol;
            }
            if (be->retiring || be->retired)
                p->revived[i] = true;
            else
                p->nkept++;
        }
        named[i] = true;
        slots[i] = *nb;
    }
    for (int i = 0; i < r->nbackends; i++) {
        const struct backend *be = &r->backends[i];
        if (!named[i] && !be->retiring && !be->retired) {
            p->removed[i] = true;
            p->nremoved++;
        }
    }
    memcpy(n->backends, slots, sizeof(slots[0]) * (size_t)p->nslots);
    memcpy(p->named, named, sizeof(named));
    n->nbackends = p->nslots;
    return TS_OK;
}

/* The file's groups and rules over the planned slots; NULL with err
 * written (a rule that does not compile refuses the whole file). */
static struct flow *
reload_plan_flow(const struct config *n, const struct plan *p, char *err, size_t errlen)
{
    const char *names[CFG_MAX_BACKENDS];
    for (int i = 0; i < p->nslots; i++)
        names[i] = n->backends[i].name;
    return flow_build(n, names, p->named, p->nslots, err, errlen);
}

/* A removed backend's lines go, after shutdown-timeout, to the group it
 * was in (the first, in the file's order) if the new file still has one
 * of that name, else to the default group. */
static void
reload_note_handover_group(struct relay *r, int slot)
{
    const struct groups *gs = &r->flow->groups;
    r->handover[slot][0] = '\0';
    for (int g = 0; g < gs->n && r->handover[slot][0] == '\0'; g++)
        for (int k = 0; k < gs->g[g].n; k++)
            if (gs->g[g].slot[k] == slot)
                snprintf(r->handover[slot], sizeof(r->handover[slot]), "%s", gs->g[g].name);
}

static void
retire(struct relay *r, struct backend *be)
{
    reload_note_handover_group(r, be->idx);
    be->retiring = true;
    be->retire_at_ms = reload_now_ms(r) + r->cfg.shutdown_timeout_ms;
    log_info("backend %s: removed: no new data; %llu lines queued get %llu ms to be "
             "delivered, then go to the others",
             be->cfg->name, (unsigned long long)backend_queued_lines(be),
             (unsigned long long)r->cfg.shutdown_timeout_ms);
}

static void
apply_backends(struct relay *r, const struct plan *p)
{
    for (int i = 0; i < p->nslots; i++) {
        struct backend *be = &r->backends[i];
        const struct cfg_backend *cfg = &r->cfg.backends[i];
        if (p->added[i]) {
            r->nbackends = i + 1;
            if (backend_init(be, &r->benv, cfg, i) != TS_OK) {
                backend_destroy(be);
                be->nconns = 0; /* an empty slot, never routed to */
                be->retired = true;
                log_error("reload: out of memory for backend %s: it is not used", cfg->name);
                continue;
            }
            if (spool_add_backend(r->spool, be) != TS_OK)
                log_error("reload: backend %s: out of memory for its spool: memory only",
                          cfg->name);
            log_info("backend %s: added (%s:%s)", cfg->name, cfg->addr.host, cfg->addr.port);
            continue;
        }
        backend_reconfigure(be, cfg); /* compares be->cfg (the old copy), then takes cfg */
        if (p->revived[i]) {
            be->retiring = be->retired = false;
            backend_revive(be);
            log_info("backend %s: added back", cfg->name);
        }
        if (p->removed[i])
            retire(r, be);
    }
}

/* An added backend that could not be set up (out of memory) is routed
 * to by no group: the flow is built again without it (the old one stays
 * when that leaves a group with no backend). */
static struct flow *
reload_replan_without_failed(struct relay *r, struct plan *p, struct flow *flow)
{
    bool failed = false;
    for (int i = 0; i < p->nslots; i++) {
        if (p->added[i] && r->backends[i].retired) {
            p->named[i] = false;
            failed = true;
        }
    }
    if (!failed)
        return flow;
    char err[CFG_ERR_MAX];
    struct flow *again = reload_plan_flow(&r->cfg, p, err, sizeof(err));
    if (again == NULL) {
        log_error("reload: without the backends that could not be set up: %s; their lines "
                  "are dropped (counted) until the next reload", err);
        return flow;
    }
    flow_free(flow);
    return again;
}

/* ---- listeners ------------------------------------------------------------ */

static int
listener_named(const struct listener *ls, int n, const bool *taken, const struct cfg_listen *lc)
{
    for (int i = 0; i < n; i++)
        if (!taken[i] && ls[i].fd >= 0 && strcmp(ls[i].cfg->addr.host, lc->addr.host) == 0 &&
            strcmp(ls[i].cfg->addr.port, lc->addr.port) == 0)
            return i;
    return -1;
}

/* Builds the listeners of the file in a new array: kept sockets move
 * over (their watcher stopped and started again), new ones are bound.
 * TS_ERROR when one cannot be bound (all new ones closed again, the old
 * array untouched). */
static int
open_listeners(struct relay *r, const struct config *n, struct listener **out, bool *taken, struct plan *p, char *err, size_t errlen)
{
    struct listener *ls = calloc(CFG_MAX_LISTEN, sizeof(*ls));
    if (ls == NULL) {
        snprintf(err, errlen, "out of memory");
        return TS_ERROR;
    }
    for (int j = 0; j < n->nlisten; j++) {
        ls[j].fd = -1;
        /* old listeners' cfg still points at the running table */
        int i = listener_named(r->listeners, r->nlisteners, taken, &n->listen[j]);
        if (i >= 0) {
            taken[i] = true;
            continue; /* moved over in move_listeners, once nothing can fail */
        }
        if (listener_open(&ls[j], &r->clients, &n->listen[j], err, errlen) != TS_OK) {
            for (int k = 0; k < j; k++)
                if (ls[k].fd >= 0)
                    listener_close(&ls[k]);
            free(ls);
            return TS_ERROR;
        }
        p->nlisten_added++;
    }
    *out = ls;
    return TS_OK;
}

/* The kept sockets move into the new array, pointed at the new table;
 * removed ones are closed (their clients stay).  r->cfg is the new
 * configuration by now. */
static void
move_listeners(struct relay *r, struct listener *ls, struct plan *p)
{
    bool moved[CFG_MAX_LISTEN] = { false };
    for (int j = 0; j < r->cfg.nlisten; j++) {
        if (ls[j].fd >= 0) { /* newly bound: its cfg pointed at next_cfg */
            listener_retarget(&ls[j], &r->cfg.listen[j]);
            log_info("listening on %s", ls[j].name);
            continue;
        }
        int i = -1;
        for (int k = 0; k < r->nlisteners && i < 0; k++)
            if (!moved[k] && r->listeners[k].fd >= 0 &&
                strcmp(prev_cfg.listen[k].addr.host, r->cfg.listen[j].addr.host) == 0 &&
                strcmp(prev_cfg.listen[k].addr.port, r->cfg.listen[j].addr.port) == 0)
                i = k;
        TS_ASSERT(i >= 0); /* open_listeners matched it */
        if (i < 0)
            continue;
        moved[i] = true;
        ev_io_stop(r->loop, &r->listeners[i].io);
        ls[j] = r->listeners[i];
        listener_retarget(&ls[j], &r->cfg.listen[j]);
        ev_io_start(r->loop, &ls[j].io);
    }
    for (int k = 0; k < r->nlisteners; k++) {
        if (moved[k] || r->listeners[k].fd < 0)
            continue;
        log_info("no longer listening on %s (its clients stay)", r->listeners[k].name);
        listener_close(&r->listeners[k]);
        p->nlisten_removed++;
    }
    free(r->listeners);
    r->listeners = ls;
    r->nlisteners = r->cfg.nlisten;
}

/* ---- TLS ---------------------------------------------------------------- */

/* The contexts built from the file go to the listeners (new clients) and
 * to the backends it names (new connections); open ones keep theirs. */
static void
apply_credentials(struct relay *r, struct credentials *cr, const struct plan *p)
{
    for (int i = 0; i < p->nslots; i++) {
        if (!p->named[i] || r->backends[i].conns == NULL)
            continue;
        backend_set_tls(&r->backends[i], cr->backend[i]);
        cr->backend[i] = NULL;
    }
    tls_server_free(r->clients.tls); /* its clients keep it until they close */
    r->clients.tls = cr->server;
    if (cr->server != NULL)
        log_info("reload: TLS listeners: certificate %s%s", cr->server->describe,
                 cr->server->mtls ? "; client certificates required ([tls] ca)" : "");
    cr->server = NULL;
    credentials_free(cr);
    (void)credentials_check_modes(&r->cfg, reload_warn, NULL);
}

/* ---- what changed --------------------------------------------------------- */

/* Logs key i if its value differs: "reload: [relay] idle-timeout 5m -> 5s".
 * Returns 1 when it did. */
static int
log_change(size_t i, const char *sect, const struct cfg_backend *ob,
           const struct cfg_backend *nb, const struct config *n)
{
    char was[CFG_HOST_MAX + 16], is[CFG_HOST_MAX + 16];
    if (config_key_secret(i)) { /* never its value, not even the old one */
        if (config_key_equal(i, &prev_cfg, ob, n, nb))
            return 0;
        log_info("reload: [%s] %s changed (not shown)", sect, config_key_name(i));
        return 1;
    }
    if (!config_key_format(i, &prev_cfg, ob, was, sizeof(was)) ||
        !config_key_format(i, n, nb, is, sizeof(is)) || strcmp(was, is) == 0)
        return 0;
    log_info("reload: [%s] %s %s -> %s", sect, config_key_name(i), was[0] ? was : "(empty)",
             is[0] ? is : "(empty)");
    return 1;
}

/* Every value the reload changed, one line each, against prev_cfg: the
 * [relay] and [redis] keys, and each backend's keys by its slot (added
 * backends are logged as added).  Keys that need a restart were set back
 * to their running value, so they show only in their own warning. */
static int
log_changes(const struct config *n)
{
    int changed = 0;
    for (size_t i = 0; i < config_key_count(); i++) {
        const char *sect = config_key_section(i);
        if (strcmp(sect, "backend") != 0) {
            if (strcmp(sect, "redis") != 0 || (n->redis.enabled && prev_cfg.redis.enabled))
                changed += log_change(i, sect, NULL, NULL, n);
            continue;
        }
        for (int b = 0; b < n->nbackends && b < prev_cfg.nbackends; b++) {
            char name[CFG_NAME_MAX + 16];
            snprintf(name, sizeof(name), "backend %s", n->backends[b].name);
            changed += log_change(i, name, &prev_cfg.backends[b], &n->backends[b], n);
        }
    }
    return changed;
}

/* Names in a that b lacks, comma-separated into buf ("" for none). */
static const char *
reload_names_missing(const char *const *a, int na, const char *const *b, int nb, char *buf,
                     size_t cap)
{
    size_t o = 0;
    buf[0] = '\0';
    for (int i = 0; i < na && o + 1 < cap; i++) {
        bool found = false;
        for (int k = 0; k < nb && !found; k++)
            found = strcmp(a[i], b[k]) == 0;
        if (!found)
            o += (size_t)snprintf(buf + o, cap - o, "%s%s", o ? ", " : "", a[i]);
    }
    return buf;
}

/* The groups and the rules the reload added and removed, by name (a rule
 * of the same name that changed is replaced, its counters go on). */
static void
reload_log_flow_changes(const struct flow *was, const struct flow *is)
{
    static const char *wn[CFG_MAX_RULES], *in[CFG_MAX_RULES];
    char add[512], del[512];
    for (int kind = 0; kind < 2; kind++) {
        int nw = kind ? was->rules->nrules : was->groups.n;
        int ni = kind ? is->rules->nrules : is->groups.n;
        for (int i = 0; i < nw; i++)
            wn[i] = kind ? was->rules->rules[i].name : was->groups.g[i].name;
        for (int i = 0; i < ni; i++)
            in[i] = kind ? is->rules->rules[i].name : is->groups.g[i].name;
        reload_names_missing(in, ni, wn, nw, add, sizeof(add));
        reload_names_missing(wn, nw, in, ni, del, sizeof(del));
        if (add[0] != '\0' || del[0] != '\0')
            log_info("reload: %s added: %s; removed: %s", kind ? "rules" : "groups",
                     add[0] ? add : "none", del[0] ? del : "none");
    }
}

/* "1 key needs", "2 keys need" */
static const char *
plural(int k, const char *one, const char *many)
{
    return k == 1 ? one : many;
}

/* ---- the reload -------------------------------------------------------- */

static void
reload_refuse(const struct relay *r, const char *why)
{
    g_stats.reload_refusals++;
    log_error("SIGHUP: %s refused: %s; running the last good configuration", r->cfg.path, why);
}

void
reload_config(struct relay *r)
{
    char err[CFG_ERR_MAX];
    if (config_load(&next_cfg, r->cfg.path, err, sizeof(err)) != TS_OK) {
        reload_refuse(r, err);
        return;
    }
    struct plan p;
    memset(&p, 0, sizeof(p));
    int kept = keep_restart_only(&next_cfg, &r->cfg);
    if (align_backends(r, &next_cfg, &p, err, sizeof(err)) != TS_OK) {
        reload_refuse(r, err);
        return;
    }
    /* certificates rotate: read again, whether the file changed or not */
    static struct credentials cr;
    if (credentials_load(&cr, &next_cfg, p.named, err, sizeof(err)) != TS_OK) {
        reload_refuse(r, err);
        return;
    }
    struct flow *flow = reload_plan_flow(&next_cfg, &p, err, sizeof(err));
    if (flow == NULL) {
        credentials_free(&cr);
        reload_refuse(r, err);
        return;
    }
    struct listener *ls = NULL;
    bool taken[CFG_MAX_LISTEN] = { false };
    if (open_listeners(r, &next_cfg, &ls, taken, &p, err, sizeof(err)) != TS_OK) {
        credentials_free(&cr);
        flow_free(flow);
        reload_refuse(r, err);
        return;
    }

    /* nothing can fail from here: the new configuration runs */
    prev_cfg = r->cfg;
    for (int i = 0; i < r->nbackends; i++) /* compared against by backend_reconfigure */
        r->backends[i].cfg = &prev_cfg.backends[i];
    r->cfg = next_cfg;
    int changed = log_changes(&r->cfg);
    move_listeners(r, ls, &p);
    apply_backends(r, &p);
    apply_credentials(r, &cr, &p);
    if (pool_set_limits(&r->pool, r->cfg.memory_limit, r->cfg.control_reserve,
                        r->cfg.input_memory) != TS_OK)
        log_error("reload: the memory limits do not fit the pool: keeping the old ones");
    flow = reload_replan_without_failed(r, &p, flow);
    reload_log_flow_changes(r->flow, flow);
    relay_set_flow(r, flow); /* the next point follows the new groups and rules */
    relay_apply_limits(r);
    point_rules_init(&r->rules, r->cfg.max_tags, r->cfg.allow_specialchars);
    series_guard_set_limits(r->guard, &r->cfg.limits); /* what it saw stays */
    enum log_level level;
    if (log_parse_level(r->cfg.log_level, &level) == TS_OK)
        log_set_level(level);
    if (r->cfg.stats_interval_ms != prev_cfg.stats_interval_ms) {
        ev_timer_stop(r->loop, &r->stats_timer);
        if (r->cfg.stats_interval_ms > 0) {
            double iv = (double)r->cfg.stats_interval_ms / 1000.0;
            ev_timer_set(&r->stats_timer, iv, iv);
            ev_timer_start(r->loop, &r->stats_timer);
        }
    }
    spool_reconfigure(r->spool, &prev_cfg);
    proxy_reconfigure(r->proxy); /* the proxy list, its addresses, conns and timeouts */
    size_t closed = client_frame_acks_remark(&r->clients,
                                             delivery_width(r->backends, r->nbackends));
    if (closed > 0)
        log_warn("reload: %zu framed clients closed: no memory to widen their frame "
                 "acknowledgements (they resend what was not acknowledged)", closed);
    g_stats.reloads++;
    log_info("SIGHUP: %s reloaded: %d %s changed; backends %d kept, %d added, %d removed; "
             "listeners %d added, %d removed; %d %s, %d %s; %d %s a restart (running values "
             "kept)", r->cfg.path, changed, plural(changed, "value", "values"), p.nkept,
             p.nadded, p.nremoved, p.nlisten_added, p.nlisten_removed, r->flow->groups.n,
             plural(r->flow->groups.n, "group", "groups"), r->flow->rules->nrules,
             plural(r->flow->rules->nrules, "rule", "rules"), kept,
             plural(kept, "key needs", "keys need"));
}

/* ---- retiring backends ------------------------------------------------------ */

struct handing {
    struct relay *r;
    uint64_t groups;
};

static int
hand_line(void *ctx, const char *line, size_t len, uint64_t hash)
{
    struct handing *h = ctx;
    return relay_submit_to(h->r, h->groups, line, len, hash);
}

/* The groups a removed backend's lines go to now (not through the rules
 * again: they went through them when they came). */
static struct handing
reload_handing_for(struct relay *r, const struct backend *be)
{
    int g = groups_find(&r->flow->groups, r->handover[be->idx]);
    if (g < 0)
        g = r->flow->rules->default_group;
    return (struct handing){ r, 1ull << g };
}

/* Nothing of be waits in memory: its queues, and what its spool holds
 * there. */
static bool
quiet(const struct backend *be)
{
    return backend_idle(be) && !spool_backend_mode(be) &&
           spool_backend_staged_bytes(be) == 0;
}

static void
reload_finish(struct relay *r, struct backend *be, uint64_t handed)
{
    struct handing h = reload_handing_for(r, be);
    for (int k = 0; k < be->nconns; k++)
        handed += backend_hand_over(&be->conns[k], hand_line, &h); /* closes it */
    be->retiring = false;
    be->retired = true;
    uint64_t left = spool_backend_entries(be);
    if (left > 0)
        log_warn("backend %s: retired; %llu spool entries stay in Redis under its name until "
                 "a backend of that name is configured again",
                 be->cfg->name, (unsigned long long)left);
    else
        log_info("backend %s: retired (%llu lines handed to the other backends)", be->cfg->name,
                 (unsigned long long)handed);
}

void
reload_tick(struct relay *r, uint64_t now)
{
    for (int i = 0; i < r->nbackends; i++) {
        struct backend *be = &r->backends[i];
        if (!be->retiring)
            continue;
        if (now < be->retire_at_ms) {
            if (quiet(be) && spool_backend_entries(be) == 0)
                reload_finish(r, be, 0);
            continue;
        }
        /* shutdown-timeout is over: what it holds goes to the others */
        uint64_t handed = 0;
        bool all = true;
        relay_begin_batch(r);
        struct handing h = reload_handing_for(r, be);
        for (int k = 0; k < be->nconns; k++) {
            struct bconn *c = &be->conns[k];
            if (queue_empty(&c->q) && c->fd < 0)
                continue;
            handed += backend_hand_over(c, hand_line, &h);
            if (!queue_empty(&c->q) && queue_unsent(&c->q) > 0)
                all = false; /* no room now: next tick */
        }
        be->st.handed_over += handed;
        if (handed > 0) /* the lines are in other queues now: marks again */
            client_frame_acks_remark(&r->clients, r->clients.env.fa_width);
        if (all && quiet(be))
            reload_finish(r, be, handed);
    }
}
