/*
 * spool_state.h -- the spool's state, shared by the modules it is made of:
 * spool.c on top (the public face, the wiring, the tick), stage.c,
 * settle.c, unspool.c, recover.c and evacuate.c under it.
 *
 * Owns the two structs -- the spool (its connection, codec, spool_full,
 * the WAIT for replicas, the bytes inside hiredis' buffers) and a
 * backend's part of it (its keys, its staging, the chains of blocks on
 * their way into Redis or back, the line counts behind frame acks, its
 * drain) -- and the few questions every module asks of them, the spool's
 * hysteresis among them.  Nothing outside src/spool/ includes it.  It must
 * never hold behaviour beyond those questions.
 */
#ifndef TS_SPOOL_STATE_H
#define TS_SPOOL_STATE_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/config.h"
#include "base/pool.h"
#include "base/queue.h"
#include "base/util.h"
#include "output/backend.h"
#include "spool/drain.h"
#include "spool/entry.h"
#include "spool/fleet.h"
#include "spool/rconn.h"
#include "spool/rejected.h"
#include "spool/sentinel.h"
#include "spool/spool_env.h"

/* A block's flags: BF_STAGED when spool_offer made it (its lines count
 * in staged_lines; a failed connection's lines do not: their frames are
 * held by spool_backend_settled instead).  Its tag, while it waits for
 * replicas: its entry's hash (never 0), 0 once the entry left the list
 * delivered, or when it had none. */
#define BF_STAGED 1

struct spool_backend {
    struct spool *sp;
    struct backend *be;
    char key[256];
    char legacy_spool[200];         /* the layout before instances */
    char legacy_inflight[200];
    bool mode;                      /* new lines go to the spool */
    bool recovered;
    struct queue staging;           /* blocks bound for Redis */
    struct block *push_head, *push_tail;     /* RPUSH sent, reply due */
    int npushing;
    struct block *failed_head, *failed_tail; /* pushes lost with the connection */
    struct block *evac_head, *evac_tail;     /* a failed connection's lines, for the head */
    struct block *evac_push;                 /* ... their LPUSH sent, reply due */
    struct block *unconf_head, *unconf_tail; /* in Redis, replicas not yet confirmed */
    size_t evac_push_bytes;                  /* charged for that LPUSH */
    size_t evac_push_entries;
    int evac_out;                   /* shutdown evacuations in flight */
    uint64_t staged_lines;          /* lines ever staged (framed acks) */
    uint64_t stored_lines;          /* ... of them acknowledged by Redis */
    uint64_t evac_held;             /* blocks of failed connections' lines not yet
                                       stored nor handed to the backend again */
    bool evac_direct;               /* some went to the backend from memory: held
                                       until it acknowledged all it has */
    uint64_t direct_lines;          /* staged lines that went to the backend from
                                       memory: stored once it acknowledged all it has */
    /* ?sync's proof of spooled lines (proof.c) */
    uint64_t intake;                /* lines taken, staged or from a failed connection */
    uint64_t proven;                /* ... up to this count proven by the backend */
    bool snap;                      /* a snapshot waits for the backend's acks */
    uint64_t snap_intake;
    uint64_t *proof_off;            /* 3 x conns: snapshot ends; detached up to; its intake */
    struct drain drain;
};

enum sp_state { SP_DOWN = 0, SP_RECOVERING, SP_READY };

struct spool {
    struct spool_env env;
    struct sentinel *master;     /* where Redis is: address or Sentinels */
    struct rconn rc;
    struct fleet *fleet;         /* liveness, takeover (fleet.c) */
    struct entry_codec ec;
    enum sp_state state;
    size_t inflight_bytes;       /* charged bytes inside hiredis buffers */
    size_t inflight_cap;
    int recovering;
    bool shutting_down;
    bool full;                   /* Redis refuses writes */
    uint64_t full_retry_ms;      /* when a push is tried again */
    bool full_probing;           /* a probe write is out (nothing staged to retry) */
    char probe_key[256];         /* never exists: RPUSHX on it writes nothing */
    bool cap_logged;
    bool waiting;                /* a WAIT is out (min-replicas-ack) */
    bool wait_short_logged;
    uint64_t wait_at_ms;         /* no WAIT before (after a shortfall) */
    char *scratch;               /* a block's lines without barriers */
    struct spool_backend *sb;
    int nsb;
    struct rejected rej;         /* points refused for good, kept (rejected.c) */
    struct spool_stats st;
};

static inline uint64_t
sp_now_ms(const struct spool *sp)
{
    return (uint64_t)(ev_now(sp->env.loop) * 1000.0);
}

static inline const struct config *
sp_cfg(const struct spool *sp)
{
    return sp->env.cfg;
}

static inline struct pool *
sp_pool(const struct spool *sp)
{
    return sp->env.pool;
}

/* A failed connection's lines wait for their LPUSH, or its reply. */
static inline bool
sp_evac_pending(const struct spool_backend *sb)
{
    return sb->evac_head != NULL || sb->evac_push != NULL;
}

/* What the lists hold, as last seen. */
static inline uint64_t
sp_total_bytes(const struct spool *sp)
{
    uint64_t n = 0;
    for (int i = 0; i < sp->nsb; i++)
        n += sp->sb[i].drain.bytes;
    return n;
}

/* What the spool holds once the pushes in flight land: the cap's measure. */
static inline uint64_t
sp_committed_bytes(const struct spool *sp)
{
    return sp_total_bytes(sp) + sp->inflight_bytes;
}

/* The spool's hysteresis, both marks in one place: where a backend's
 * queues (the bytes its connections hold) stand.  Above spool-high its
 * new lines go to the spool (and it enters spool mode); under spool-low
 * the spool gives lines back (the drain reads); in between each side
 * keeps to what it does.  (config.c keeps spool-low under spool-high.) */
enum sp_level { SP_UNDER_LOW, SP_BETWEEN, SP_ABOVE_HIGH };

static inline enum sp_level
sp_level(const struct spool *sp, const struct backend *be)
{
    uint64_t queued = backend_queued_bytes(be);
    if (queued > sp_cfg(sp)->redis.spool_high)
        return SP_ABOVE_HIGH;
    if (queued < sp_cfg(sp)->redis.spool_low)
        return SP_UNDER_LOW;
    return SP_BETWEEN;
}

#endif
