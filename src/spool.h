/*
 * spool.h -- the Redis spool: where a backend's data waits while the
 * backend is down, lagging or behind its high watermark.
 *
 * Owns the hiredis async connection (libev adapter, same loop), per-backend
 * staging blocks, zstd compression, the push / drain / acknowledge protocol
 * on the keys <prefix>:spool:<backend> and <prefix>:inflight:<backend>, and
 * start-up recovery.  Order is FIFO per backend; nothing acknowledged by
 * Redis is ever dropped: a drained entry is deleted only after the
 * backend's TCP acknowledged every line of it.  It must never block the
 * loop and never let hiredis buffers grow without bound.
 */
#ifndef TS_SPOOL_H
#define TS_SPOOL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "pool.h"
#include "sentinel.h"

struct relay;
struct backend;

/* Entry = header + payload (zstd frame or raw lines). */
#define SPOOL_MAGIC "TSR1"
#define SPOOL_HDR_BYTES 24
enum spool_codec { SPOOL_RAW = 0, SPOOL_ZSTD = 1 };

struct spool_stats {
    uint64_t connects;
    uint64_t disconnects;
    uint64_t pushes;            /* entries written (RPUSH / LPUSH) */
    uint64_t push_failures;
    uint64_t raw_bytes;         /* line bytes before compression */
    uint64_t stored_bytes;      /* entry bytes after compression */
    uint64_t drains;            /* entries taken back (LMOVE) */
    uint64_t acks;              /* drained entries deleted after delivery */
    uint64_t requeued;          /* in-flight entries put back (recovery) */
    uint64_t corrupt;           /* entries that failed to decode (kept) */
    uint64_t lines_evacuated;   /* lines moved from memory to the spool */
    uint64_t local_drains;      /* staging blocks sent without Redis */
    struct sentinel_stats master; /* finding Redis: names, Sentinels (sentinel.c) */
};

int spool_create(struct relay *r);
void spool_destroy(struct relay *r);

/* Redis is connected, recovered, and under spool-max-bytes. */
bool spool_usable(const struct relay *r);
bool spool_connected(const struct relay *r);
/* Offers a line for backend be.  Returns 1 when the spool took it, 0 when
 * the caller should queue it to the backend directly, TS_ENOMEM when the
 * staging block could not be had (pool refused). */
int spool_offer(struct backend *be, const char *line, size_t len);
/* A connection failed: its undelivered lines (already rewound) move to
 * the front of the backend's staging, bound for Redis, so a crash while
 * the backend is down does not lose them.  No-op without a usable spool. */
void spool_take_queue(struct backend *be, struct queue *q, uint64_t *lines_queued);
/* Push staged blocks, drain into healthy backends, delete delivered
 * entries, reconnect.  Called every tick. */
void spool_tick(struct relay *r, uint64_t now_ms);

/* Shutdown: move connection queues and staging into Redis. */
void spool_shutdown_begin(struct relay *r);
/* All spool commands answered (or Redis gone). */
bool spool_quiet(const struct relay *r);
/* Drains outstanding?  (LMOVE replies still due) */
bool spool_draining(const struct relay *r);

/* Introspection for stats. */
const struct spool_stats *spool_get_stats(const struct relay *r);
bool spool_backend_mode(const struct backend *be);
uint64_t spool_backend_entries(const struct backend *be);
uint64_t spool_backend_bytes(const struct backend *be);
uint64_t spool_backend_staged_bytes(const struct backend *be);
uint64_t spool_total_bytes(const struct relay *r);

#endif
