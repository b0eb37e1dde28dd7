/*
 * evacuate.c -- at shutdown, a backend's connection queues go to the head
 * of its spool, and the entries they were drained from leave it, in one
 * transaction.
 *
 * The queues are rewound first (unacknowledged lines become unsent
 * again); each block becomes an entry (chain.c); the LPUSH and the LREMs
 * go inside MULTI/EXEC, so Redis never holds lines both in a new entry
 * and in the entry they were drained from.  A failure is logged: the
 * lines stay in the queues (the shutdown reports what it could not
 * spool).  It never blocks.
 */
#include "autoconf.h"

#include <hiredis/hiredis.h>
#include <string.h>

#include "base/counters.h"
#include "base/log.h"
#include "spool/chain.h"
#include "spool/evacuate.h"

static void
evacuate_on_exec(redisAsyncContext *ac, void *reply, void *priv)
{
    struct spool_backend *sb = priv;
    redisReply *rep = rconn_reply(ac, reply);
    sb->evac_out--;
    if (rep == NULL || rep->type != REDIS_REPLY_ARRAY) {
        log_error("backend %s: evacuating its queues to Redis failed%s%.*s", sb->be->cfg->name,
                  rep ? ": " : "", rep ? (int)TS_MIN(rep->len, 200) : 0,
                  rep && rep->str ? rep->str : "");
        return;
    }
    /* queues are in Redis now; the entries they were read from are gone */
    struct backend *be = sb->be;
    for (int k = 0; k < be->nconns; k++) {
        struct bconn *c = &be->conns[k];
        queue_clear(&c->q, sp_pool(sb->sp));
        c->lines_queued = 0;
    }
    drain_forget(&sb->drain);
}

/* An LREM for each entry the drain has in flight. */
static void
evacuate_records(struct spool_backend *sb)
{
    struct rconn *rc = &sb->sp->rc;
    for (int i = 0;; i++) {
        const struct drain_record *r = drain_record_at(&sb->drain, i);
        if (r == NULL)
            break;
        const char *lr[4] = { "LREM", sb->key, "1", r->value };
        size_t lrl[4] = { 4, strlen(sb->key), 1, r->vlen };
        rconn_send(rc, rconn_ignore, NULL, 4, lr, lrl);
    }
}

void
evacuate_backend(struct spool_backend *sb)
{
    struct spool *sp = sb->sp;
    struct backend *be = sb->be;
    size_t nblocks = 0;
    backend_quiesce(be); /* requests in flight given up: the queues may be rewound */
    for (int k = 0; k < be->nconns; k++) {
        queue_rewind(&be->conns[k].q);
        nblocks += be->conns[k].q.nblocks;
    }
    if (nblocks == 0 && drain_in_flight(&sb->drain) == 0)
        return;
    struct entry_list el = { 0 };
    for (int k = 0; k < be->nconns; k++) {
        if (entries_add_chain(&sp->ec, sp->scratch, &el, be->conns[k].q.head, false) != TS_OK) {
            log_error("backend %s: out of memory evacuating its queues", be->cfg->name);
            goto out;
        }
    }
    rconn_send1(&sp->rc, rconn_ignore, NULL, "MULTI");
    if (el.n > 0)
        entries_lpush(&sp->rc, sb->key, &el, rconn_ignore, NULL);
    evacuate_records(sb);
    if (rconn_send1(&sp->rc, evacuate_on_exec, sb, "EXEC"))
        sb->evac_out++;
    sp->st.lines_evacuated += el.lines;
    sp->st.pushes += el.n;
    g_stats.points_spooled += el.lines;
    log_info("backend %s: %llu undelivered lines moved to the spool for the next start",
             be->cfg->name, (unsigned long long)el.lines);
out:
    entries_free(&el);
}
