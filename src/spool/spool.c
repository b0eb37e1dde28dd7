/*
 * spool.c -- the Redis spool: its public face, its wiring and its tick.
 *
 * Keys per backend B: <prefix>:<instance>:spool:B, a FIFO list of entries
 * (entry.c: a block of complete put lines, compressed, stamped with the
 * time its first line was staged), and <prefix>:<instance>:spool:B:corrupt
 * for entries that do not decode.  The spool is made of:
 *
 *   stage.c     lines into staging blocks, RPUSH; a failed connection's
 *               lines to the list's head (LPUSH); spool_full.
 *   settle.c    when what was taken is safe (stored lines, replicas, lines
 *               sent from memory): the frame acks' count.
 *   unspool.c   the drain's gate, lines straight from memory to a healthy
 *               backend, the end of spool mode.
 *   drain.c     reading a list back (LRANGE) and deleting delivered
 *               entries (LREM): no write, so a full Redis is drained too.
 *   recover.c   on every connection: the layout before instances adopted,
 *               the lists measured.
 *   evacuate.c  shutdown: connection queues to the head of the list.
 *   chain.c     block chains and the entries of a run of blocks.
 *   fleet.c     liveness and takeover; rconn.c the connection; sentinel.c
 *               where Redis is; spool_state.h the state they share.
 *
 * While a backend's list is not empty its new lines go to the list too,
 * so order is FIFO.  With Redis down, staged blocks wait in memory (and
 * go straight to a healthy backend); everything stays in the pool budget.
 * This file owns the spool's life (create, reconfigure, destroy), the
 * connection's events, the order of each tick, shutdown and the answers
 * to the relay.  It must never block the loop and never drop what Redis
 * holds.
 */
#include "autoconf.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "spool/chain.h"
#include "spool/evacuate.h"
#include "spool/proof.h"
#include "spool/recover.h"
#include "spool/settle.h"
#include "spool/spool.h"
#include "spool/spool_state.h"
#include "spool/stage.h"
#include "spool/unspool.h"

/* ---- the connection ------------------------------------------------------ */

static void
spool_on_up(void *ctx)
{
    struct spool *sp = ctx;
    sp->st.connects++;
    sp->state = SP_RECOVERING;
    recover_all(sp);
}

static void
spool_on_lost(void *ctx)
{
    struct spool *sp = ctx;
    fleet_lost(sp->fleet);
    sp->st.disconnects++;
    sp->state = SP_DOWN;
    sp->inflight_bytes = 0;
    sp->waiting = false;
    for (int i = 0; i < sp->nsb; i++) {
        stage_lost(&sp->sb[i]);
        drain_lost(&sp->sb[i].drain);
    }
}

/* Redis is connected and recovered (the rejected lists may be used). */
static bool
spool_ready(void *ctx)
{
    const struct spool *sp = ctx;
    return sp->state == SP_READY;
}

/* ---- life ------------------------------------------------------------------ */

static int
spool_backend_init(struct spool *sp, struct spool_backend *sb, struct backend *be)
{
    const struct config *cfg = sp_cfg(sp);
    const char *name = be->cfg->name;
    memset(sb, 0, sizeof(*sb));
    sb->sp = sp;
    sb->be = be;
    snprintf(sb->key, sizeof(sb->key), "%s:%s:spool:%s", cfg->redis.prefix, sp->env.instance,
             name);
    snprintf(sb->legacy_spool, sizeof(sb->legacy_spool), "%s:spool:%s", cfg->redis.prefix,
             name);
    snprintf(sb->legacy_inflight, sizeof(sb->legacy_inflight), "%s:inflight:%s",
             cfg->redis.prefix, name);
    char corrupt[300];
    snprintf(corrupt, sizeof(corrupt), "%s:corrupt", sb->key);
    queue_init(&sb->staging);
    if (drain_init(&sb->drain, &sp->rc, &sp->ec, be, sp_pool(sp), sb->key, corrupt,
                   unspool_may_read, sb) != TS_OK)
        return TS_ERROR;
    sb->drain.delivered = settle_entry_delivered;
    sb->drain.delivered_ctx = sb;
    if (proof_init(sb) != TS_OK)
        return TS_ERROR;
    be->sp = sb;
    return TS_OK;
}

/* The fleet, over the spool's connection. */
static struct fleet *
spool_fleet_new(struct spool *sp)
{
    const struct spool_env *env = &sp->env;
    struct fleet_env fenv = {
        .rc = &sp->rc,
        .ec = &sp->ec,
        .pool = env->pool,
        .cfg = env->cfg,
        .backends = env->backends,
        .nbackends = env->nbackends,
        .instance = env->instance,
        .running = env->running,
        .ctx = env->ctx,
    };
    return fleet_new(&fenv);
}

struct spool *
spool_create(const struct spool_env *env)
{
    struct spool *sp = calloc(1, sizeof(*sp));
    if (sp == NULL)
        return NULL;
    sp->env = *env;
    const struct config *cfg = env->cfg;
    sp->inflight_cap = TS_MIN((size_t)8 << 20, cfg->memory_limit / 8);
    sp->nsb = env->nbackends;
    sp->sb = calloc(CFG_MAX_BACKENDS, sizeof(*sp->sb)); /* a reload may add backends */
    sp->scratch = malloc(env->pool->data_size);
    if (sp->sb == NULL || sp->scratch == NULL ||
        entry_codec_init(&sp->ec, env->pool->data_size, cfg->redis.compress_level) != TS_OK) {
        free(sp->sb);
        free(sp->scratch);
        free(sp);
        return NULL;
    }
    snprintf(sp->probe_key, sizeof(sp->probe_key), "%s:%s:full-probe", cfg->redis.prefix,
             env->instance);
    for (int i = 0; i < sp->nsb; i++) {
        if (spool_backend_init(sp, &sp->sb[i], &env->backends[i]) != TS_OK) {
            sp->nsb = i;
            spool_destroy(sp);
            return NULL;
        }
    }
    struct resolver_opts ro = { cfg->dns_servers, cfg->resolve_timeout_ms };
    sp->master = sentinel_new(env->loop, &cfg->redis, &ro, &sp->st.master);
    if (sp->master == NULL) {
        spool_destroy(sp);
        return NULL;
    }
    sp->fleet = spool_fleet_new(sp);
    if (sp->fleet == NULL) {
        spool_destroy(sp);
        return NULL;
    }
    rconn_init(&sp->rc, env->loop, sp->master, &cfg->redis, cfg->redis.connect_timeout_ms,
               cfg->reconnect_min_ms, cfg->reconnect_max_ms, spool_on_up, spool_on_lost, sp);
    rejected_init(&sp->rej, &sp->rc, env->pool, cfg, env->instance, env->backends, &sp->nsb,
                  spool_ready, sp);
    return sp;
}

int
spool_add_backend(struct spool *sp, struct backend *be)
{
    if (sp == NULL)
        return TS_OK;
    if (be->sp != NULL) /* its slot came back: the list is the same */
        return TS_OK;
    if (sp->nsb >= CFG_MAX_BACKENDS)
        return TS_ERROR;
    struct spool_backend *sb = &sp->sb[sp->nsb];
    if (spool_backend_init(sp, sb, be) != TS_OK)
        return TS_ERROR;
    sp->nsb++;
    fleet_set_backends(sp->fleet, sp->nsb);
    if (sp->state == SP_RECOVERING)
        sp->recovering++;
    if (sp->state != SP_DOWN) /* (down: recovered with the others when it is up) */
        recover_one(sb);
    return TS_OK;
}

void
spool_reconfigure(struct spool *sp, const struct config *old)
{
    if (sp == NULL)
        return;
    const struct config *cfg = sp_cfg(sp);
    sp->inflight_cap = TS_MIN((size_t)8 << 20, cfg->memory_limit / 8);
    sp->ec.level = cfg->redis.compress_level;
    bool moved = strcmp(old->redis.addr.host, cfg->redis.addr.host) != 0 ||
                 strcmp(old->redis.addr.port, cfg->redis.addr.port) != 0;
    /* new credentials are tried at once (and proven on a new connection) */
    bool login = strcmp(old->redis.username, cfg->redis.username) != 0 ||
                 strcmp(old->redis.password, cfg->redis.password) != 0;
    rconn_reconfigure(&sp->rc, cfg->redis.connect_timeout_ms, cfg->reconnect_min_ms,
                      cfg->reconnect_max_ms, moved || login);
    if (moved)
        log_warn("redis: the address changed to %s:%s: reconnecting; entries left in the "
                 "old Redis stay there", cfg->redis.addr.host, cfg->redis.addr.port);
    else if (login)
        log_info("redis: the username or password changed: reconnecting with them");
}

void
spool_destroy(struct spool *sp)
{
    if (sp == NULL)
        return;
    if (sp->fleet != NULL)
        rconn_free(&sp->rc); /* (initialized last) */
    fleet_free(sp->fleet);
    sentinel_free(sp->master);
    struct pool *p = sp_pool(sp);
    for (int i = 0; i < sp->nsb && sp->sb != NULL; i++) {
        struct spool_backend *sb = &sp->sb[i];
        queue_clear(&sb->staging, p);
        chain_free(p, sb->push_head);
        chain_free(p, sb->failed_head);
        chain_free(p, sb->evac_head);
        chain_free(p, sb->evac_push);
        chain_free(p, sb->unconf_head);
        drain_free(&sb->drain);
        proof_free(sb);
        if (sb->be != NULL)
            sb->be->sp = NULL;
    }
    free(sp->sb);
    free(sp->scratch);
    entry_codec_free(&sp->ec);
    free(sp);
}

/* ---- the tick -------------------------------------------------------------- */

/* One backend's part of the tick.  mine: this instance's spool is not
 * leased by another relay. */
static void
spool_tick_backend(struct spool_backend *sb, uint64_t now, bool mine)
{
    struct spool *sp = sb->sp;
    struct drain *d = &sb->drain;
    settle_direct(sb);
    proof_tick(sb);
    if (sp->state == SP_READY && !mine) {
        unspool_from_memory(sb); /* the spool is another relay's for now: memory only */
    } else if (sp->state == SP_READY) {
        stage_push_ready(sb, now, sp->shutting_down);
        if (sp->full && sb->evac_head != NULL)
            unspool_from_memory(sb); /* Redis will not take them: straight to the backend */
        if (!sp_evac_pending(sb))
            drain_check(d, now);
        if (unspool_may_read(sb))
            drain_read(d);
        if (sp->full && d->entries == 0 && drain_idle(d))
            unspool_from_memory(sb); /* the list is empty: memory is next */
        unspool_leave_mode(sb);
    } else if (sp->state == SP_DOWN) {
        unspool_from_memory(sb);
    }
}

/* The counters kept elsewhere (codec, connection, drains), into st. */
static void
spool_collect(struct spool *sp)
{
    sp->st.raw_bytes = sp->ec.raw_bytes;
    sp->st.stored_bytes = sp->ec.stored_bytes;
    sp->st.connects = sp->rc.connects;
    sp->st.disconnects = sp->rc.disconnects;
    uint64_t reads = 0, deletes = 0, corrupt = 0;
    for (int i = 0; i < sp->nsb; i++) {
        reads += sp->sb[i].drain.st.reads;
        deletes += sp->sb[i].drain.st.deletes;
        corrupt += sp->sb[i].drain.st.corrupt;
    }
    sp->st.drains = reads;
    sp->st.acks = deletes;
    sp->st.corrupt = corrupt;
}

void
spool_tick(struct spool *sp, uint64_t now)
{
    if (sp == NULL)
        return;
    rconn_tick(&sp->rc, now);
    bool mine = !fleet_self_held(sp->fleet);
    if (sp->state == SP_READY) {
        fleet_tick(sp->fleet, now);
        settle_confirm(sp);
    }
    for (int i = 0; i < sp->nsb; i++)
        spool_tick_backend(&sp->sb[i], now, mine);
    rejected_tick(&sp->rej);
    stage_probe_full(sp, now);
    spool_collect(sp);
}

/* ---- shutdown ---------------------------------------------------------- */

void
spool_shutdown_begin(struct spool *sp)
{
    if (sp == NULL)
        return;
    sp->shutting_down = true;
    if (sp->state != SP_READY) {
        uint64_t lines = 0;
        for (int i = 0; i < sp->nsb; i++)
            lines += backend_queued_lines(sp->sb[i].be);
        if (lines > 0)
            log_error("redis unavailable at shutdown: %llu queued lines cannot be spooled",
                      (unsigned long long)lines);
        return;
    }
    for (int i = 0; i < sp->nsb; i++) {
        struct spool_backend *sb = &sp->sb[i];
        evacuate_backend(sb);
        stage_push_ready(sb, sp_now_ms(sp), true);
    }
}

bool
spool_quiet(const struct spool *sp)
{
    if (sp == NULL || sp->state != SP_READY)
        return true;
    if (sp->rc.pending > 0 || !fleet_quiet(sp->fleet))
        return false;
    for (int i = 0; i < sp->nsb; i++) {
        const struct spool_backend *sb = &sp->sb[i];
        if (sb->npushing > 0 || sb->evac_out > 0 || sp_evac_pending(sb) ||
            sb->unconf_head != NULL)
            return false;
        if (!queue_empty(&sb->staging) && !sp->full)
            return false;
    }
    return true;
}

bool
spool_draining(const struct spool *sp)
{
    if (sp == NULL)
        return false;
    for (int i = 0; i < sp->nsb; i++)
        if (sp->sb[i].drain.reading)
            return true;
    return false;
}

/* ---- the relay's questions and lines ----------------------------------- */

bool
spool_connected(const struct spool *sp)
{
    return sp != NULL && sp->state == SP_READY;
}

bool
spool_full(const struct spool *sp)
{
    return sp != NULL && sp->full;
}

bool
spool_usable(const struct spool *sp)
{
    if (sp == NULL || sp->state != SP_READY || sp->shutting_down || sp->full)
        return false;
    if (fleet_self_held(sp->fleet))
        return false; /* another relay drains it: hands off */
    return sp_committed_bytes(sp) < sp_cfg(sp)->redis.spool_max_bytes;
}

bool
spool_should_take(const struct spool *sp, const struct backend *be, bool available)
{
    if (!spool_usable(sp))
        return false;
    return spool_backend_mode(be) || !available || sp_level(sp, be) == SP_ABOVE_HIGH;
}

int
spool_offer(struct backend *be, const char *line, size_t len)
{
    struct spool_backend *sb = be->sp;
    if (sb == NULL || !spool_usable(sb->sp))
        return 0;
    return stage_line(sb, line, len);
}

void
spool_take_queue(struct backend *be, struct queue *q, uint64_t *lines_queued)
{
    struct spool_backend *sb = be->sp;
    if (sb == NULL || !spool_usable(sb->sp) || queue_empty(q))
        return;
    stage_failed_queue(sb, q, lines_queued);
}

void
spool_reject_keep(struct spool *sp, struct backend *be, const char *line, size_t len,
                  const char *reason, const char *text, size_t tlen)
{
    if (sp != NULL)
        rejected_keep(&sp->rej, be, line, len, reason, text, tlen);
}

int
spool_reject_replay(struct spool *sp, struct backend *be)
{
    return sp != NULL ? rejected_replay(&sp->rej, be) : TS_ERROR;
}

const struct rejected_stats *
spool_rejected_stats(const struct spool *sp)
{
    return sp != NULL ? &sp->rej.st : NULL;
}

void
spool_rejected_key(const struct spool *sp, const struct backend *be, char *out, size_t cap)
{
    if (sp == NULL)
        snprintf(out, cap, "%s", "");
    else
        rejected_key(&sp->rej, be, out, cap);
}

/* ---- introspection ------------------------------------------------------- */

const struct spool_stats *
spool_get_stats(const struct spool *sp)
{
    return sp ? &sp->st : NULL;
}

uint64_t
spool_auth_failures(const struct spool *sp)
{
    return sp ? sp->rc.auth_failures : 0;
}

const struct fleet_stats *
spool_fleet_stats(const struct spool *sp)
{
    return sp ? fleet_get_stats(sp->fleet) : NULL;
}

bool
spool_backend_mode(const struct backend *be)
{
    return be->sp != NULL && be->sp->mode;
}

uint64_t
spool_backend_entries(const struct backend *be)
{
    return be->sp ? be->sp->drain.entries : 0;
}

uint64_t
spool_backend_bytes(const struct backend *be)
{
    return be->sp ? be->sp->drain.bytes : 0;
}

uint64_t
spool_backend_staged_bytes(const struct backend *be)
{
    if (be->sp == NULL)
        return 0;
    uint64_t n = queue_bytes(&be->sp->staging);
    const struct block *chains[5] = { be->sp->push_head, be->sp->evac_head, be->sp->evac_push,
                                      be->sp->failed_head, be->sp->unconf_head };
    for (int i = 0; i < 5; i++)
        for (const struct block *b = chains[i]; b != NULL; b = b->next)
            n += b->len - b->start;
    return n;
}

uint64_t
spool_backend_oldest_ms(const struct backend *be)
{
    const struct spool_backend *sb = be->sp;
    if (sb == NULL)
        return 0;
    uint64_t oldest = drain_oldest_ms(&sb->drain);
    const struct block *firsts[4] = { sb->evac_push, sb->evac_head, sb->push_head,
                                      sb->failed_head };
    for (int i = 0; i < 4; i++)
        if (firsts[i] != NULL && firsts[i]->stamp != 0 &&
            (oldest == 0 || firsts[i]->stamp < oldest))
            oldest = firsts[i]->stamp;
    const struct block *h = sb->staging.head;
    if (h != NULL && h->len > h->start && h->stamp != 0 && (oldest == 0 || h->stamp < oldest))
        oldest = h->stamp;
    return oldest;
}

uint64_t
spool_backlog_age_ms(const struct backend *be)
{
    uint64_t oldest = backend_oldest_ms(be);
    uint64_t s = spool_backend_oldest_ms(be);
    if (s != 0 && (oldest == 0 || s < oldest))
        oldest = s;
    if (oldest == 0)
        return 0;
    uint64_t now = entry_clock_ms();
    return now > oldest ? now - oldest : 0;
}

uint64_t
spool_total_bytes(const struct spool *sp)
{
    return sp ? sp_total_bytes(sp) : 0;
}

uint64_t
spool_backend_staged_lines(const struct backend *be)
{
    return be->sp ? be->sp->staged_lines : 0;
}

uint64_t
spool_backend_stored_lines(const struct backend *be)
{
    return be->sp ? be->sp->stored_lines : 0;
}

uint64_t
spool_backend_intake(const struct backend *be)
{
    return be->sp ? be->sp->intake : 0;
}

uint64_t
spool_backend_proven(const struct backend *be)
{
    return be->sp ? be->sp->proven : 0;
}

bool
spool_backend_detached(const struct backend *be, int k, uint64_t *upto, uint64_t *intake)
{
    const struct spool_backend *sb = be->sp;
    if (sb == NULL || sb->proof_off == NULL)
        return false;
    size_t nc = (size_t)be->nconns;
    *upto = sb->proof_off[nc + (size_t)k];
    *intake = sb->proof_off[2 * nc + (size_t)k];
    return *intake > 0;
}

bool
spool_backend_settled(const struct backend *be)
{
    const struct spool_backend *sb = be->sp;
    return sb == NULL || (!sp_evac_pending(sb) && sb->failed_head == NULL &&
                          sb->unconf_head == NULL && sb->evac_held == 0 && !sb->evac_direct);
}
