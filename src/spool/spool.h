/*
 * spool.h -- the Redis spool: where a backend's data waits while the
 * backend is down, lagging or behind its high watermark.
 *
 * Owns, per backend, the staging blocks bound for Redis, their pushes
 * (RPUSH to <prefix>:<instance>:spool:<backend>), a failed connection's
 * lines put at the list's head (LPUSH), spool mode (while the list is not
 * empty a backend's new lines go to it too, so order is kept), the drain
 * (drain.c) that brings entries back, start-up recovery (adopting the
 * keys of the layout before instances) and the spool_full state: while
 * Redis refuses writes (OOM, READONLY, MISCONF) new data stays in memory
 * under the overflow policy, and the drain, which needs no write, goes on.
 * The connection is rconn.c's.  Nothing acknowledged by Redis is ever
 * dropped.  It must never block the loop and never let hiredis buffers
 * grow without bound.
 */
#ifndef TS_SPOOL_H
#define TS_SPOOL_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/config.h"
#include "base/pool.h"
#include "base/queue.h"
#include "spool/sentinel.h"
#include "spool/spool_env.h"

struct backend;
struct spool;

struct spool *spool_create(const struct spool_env *env);
void spool_destroy(struct spool *sp);
/* A reload added be (env.backends[n], n the backends so far): its list is
 * recovered like the others'.  A backend added back in its old slot keeps
 * what it had.  No-op without a spool. */
int spool_add_backend(struct spool *sp, struct backend *be);
/* A reload changed the configuration (old: the one before): timeouts,
 * caps and compression apply at once; a new Redis address reconnects. */
void spool_reconfigure(struct spool *sp, const struct config *old);

/* Redis is connected, recovered, takes writes, and is under
 * spool-max-bytes.  (NULL: no spool.) */
bool spool_usable(const struct spool *sp);
bool spool_connected(const struct spool *sp);
/* Redis refuses writes now. */
bool spool_full(const struct spool *sp);
/* Whether backend be's new lines go to the spool now (available: whether
 * be takes data directly, backend_available() as the caller has it).
 * The spool's hysteresis on be's queues, its two marks: the lines go to
 * the spool once be is unavailable or its queues hold more than
 * spool-high, and keep going while its list is not empty (spool mode:
 * order is kept); the spool gives lines back only while the queues are
 * under spool-low, and spool mode ends once its list is drained.  False
 * when the spool is not usable (or there is none). */
bool spool_should_take(const struct spool *sp, const struct backend *be, bool available);
/* Offers a line for backend be.  Returns 1 when the spool took it, 0 when
 * the caller should queue it to the backend directly, TS_ENOMEM when the
 * staging block could not be had (pool refused). */
int spool_offer(struct backend *be, const char *line, size_t len);
/* A connection failed: its undelivered lines (already rewound) move to
 * the head of the backend's spool, ahead of everything newer, so a crash
 * while the backend is down does not lose them.  No-op unless the spool
 * is usable (they stay in the connection's queue). */
void spool_take_queue(struct backend *be, struct queue *q, uint64_t *lines_queued);
/* Push staged blocks, drain into healthy backends, delete delivered
 * entries, reconnect.  Called every tick. */
void spool_tick(struct spool *sp, uint64_t now_ms);

/* Shutdown: move connection queues and staging into Redis. */
void spool_shutdown_begin(struct spool *sp);
/* All spool commands answered (or Redis gone). */
bool spool_quiet(const struct spool *sp);
/* Reads of the drain still out. */
bool spool_draining(const struct spool *sp);

/* A point backend be refused for good: kept in its rejected list
 * (rejected.c), when there is a spool and rejected-max-bytes allows. */
void spool_reject_keep(struct spool *sp, struct backend *be, const char *line, size_t len,
                       const char *reason, const char *text, size_t tlen);
/* Sends be's kept refused points to it again.  TS_OK, TS_EAGAIN (a replay
 * runs), TS_ERROR (no Redis). */
int spool_reject_replay(struct spool *sp, struct backend *be);
struct rejected_stats;
const struct rejected_stats *spool_rejected_stats(const struct spool *sp);
/* The rejected list's key for be, "" without a spool. */
void spool_rejected_key(const struct spool *sp, const struct backend *be, char *out,
                        size_t cap);

/* Introspection for stats. */
const struct spool_stats *spool_get_stats(const struct spool *sp);
/* Times Redis refused the relay's AUTH (or asked for a password). */
uint64_t spool_auth_failures(const struct spool *sp);
struct fleet_stats;
const struct fleet_stats *spool_fleet_stats(const struct spool *sp);
bool spool_backend_mode(const struct backend *be);
uint64_t spool_backend_entries(const struct backend *be);
uint64_t spool_backend_bytes(const struct backend *be);
uint64_t spool_backend_staged_bytes(const struct backend *be);
/* Unix ms the oldest line the spool holds for be was staged, 0 if none. */
uint64_t spool_backend_oldest_ms(const struct backend *be);
uint64_t spool_total_bytes(const struct spool *sp);
/* The backlog's age for be, in ms: since the oldest line not yet
 * acknowledged by it arrived, in its queues or in the spool (memory or
 * Redis); 0 when nothing waits.  (Works without a spool too.) */
uint64_t spool_backlog_age_ms(const struct backend *be);

/* For framed acknowledgements: lines staged for be so far, and lines of
 * them stored (Redis acknowledged them -- and replicas, with
 * min-replicas-ack -- or the backend did, when they went to it from
 * memory); true when nothing of be's that a failed connection had is
 * unsafe (in memory, on its way into Redis, waiting for replicas, or sent
 * from memory and not yet acknowledged) and no push was lost with a
 * connection. */
uint64_t spool_backend_staged_lines(const struct backend *be);
/* For ?sync (proof.c): lines the spool took for be so far, and how many of
 * them (in order) be itself proved; connection k's queue was last handed
 * to the spool up to stream offset *upto, its lines then numbered up to
 * *intake (false: never). */
uint64_t spool_backend_intake(const struct backend *be);
uint64_t spool_backend_proven(const struct backend *be);
bool spool_backend_detached(const struct backend *be, int k, uint64_t *upto, uint64_t *intake);
uint64_t spool_backend_stored_lines(const struct backend *be);
bool spool_backend_settled(const struct backend *be);

#endif
