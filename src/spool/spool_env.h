/*
 * spool_env.h -- the spool's contract with the relay, its types: what the
 * spool needs from the relay (spool_env, filled by lifecycle.c) and what
 * it counts (spool_stats, rendered by ops/stats.c).
 *
 * Owns nothing but the two structs; spool.h declares the functions.  They
 * sit below spool.h so that the modules the spool is made of (spool_state.h)
 * can hold them without including the spool's public header.  It must
 * never grow functions.
 */
#ifndef TS_SPOOL_ENV_H
#define TS_SPOOL_ENV_H

#include <ev.h>
#include <stdbool.h>
#include <stdint.h>

#include "base/config.h"
#include "base/pool.h"
#include "spool/sentinel.h"

struct backend;

struct spool_stats {
    uint64_t connects;
    uint64_t disconnects;
    uint64_t pushes;            /* entries written (RPUSH / LPUSH) */
    uint64_t push_failures;
    uint64_t refused;           /* writes Redis refused (OOM, READONLY, MISCONF) */
    uint64_t full_episodes;     /* times spool_full went to 1 */
    uint64_t raw_bytes;         /* line bytes before compression */
    uint64_t stored_bytes;      /* entry bytes after compression */
    uint64_t drains;            /* entries read back */
    uint64_t acks;              /* entries deleted after delivery */
    uint64_t requeued;          /* entries adopted from the layout before instances */
    uint64_t corrupt;           /* entries that failed to decode (set aside) */
    uint64_t lines_evacuated;   /* lines moved from memory to the spool */
    uint64_t local_drains;      /* staging blocks sent without Redis */
    uint64_t replica_shortfalls; /* WAITs answered by fewer than min-replicas-ack */
    uint64_t unreplicated_delivered; /* lines stored by delivery before replicas confirmed */
    struct sentinel_stats master; /* finding Redis: names, Sentinels (sentinel.c) */
};

/* What the spool needs from the relay (lifecycle.c wires it). */
struct spool_env {
    struct ev_loop *loop;
    struct pool *pool;
    const struct config *cfg;
    struct backend *backends;
    int nbackends;
    const char *instance;       /* this relay's name in the keys */
    bool (*running)(void *ctx); /* false once shutdown began */
    void *ctx;
};

#endif
