/*
 * rejected.h -- the points a backend refused for good, kept in Redis for
 * an operator, and sent to it again on demand.
 *
 * Owns, per backend, the list <prefix>:<instance>:rejected:<backend> (one
 * readable text entry per point: its line, then "reason: ", "time: " and
 * "backend: " lines, uncompressed) and its byte count (the same key and
 * ":bytes"), both changed only by scripts that keep them in step: an entry
 * pushed and the oldest popped while the list holds more than
 * rejected-max-bytes (each counted dropped); and the replay: the entries
 * there when it began, read from the head a few at a time into the
 * backend's queues while they have room, each removed once handed (a
 * point refused again is pushed again, after them, and not replayed in
 * the same run).  An entry's command is charged to the memory budget
 * (queue class) until Redis answers it.  Entries sent while Redis is away
 * or refusing writes, more than REJECTED_INFLIGHT at once, or past the
 * budget, are not kept (counted, sampled in the log).  The connection is the spool's.  It must never hold an
 * entry in memory past its command and never replay an entry twice in
 * one run.
 */
#ifndef TS_REJECTED_H
#define TS_REJECTED_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/config.h"
#include "base/pool.h"
#include "spool/rconn.h"

#define REJECTED_INFLIGHT 1024  /* entries sent to Redis and not yet answered, at most */
#define REJECTED_REPLAY_STEP 64 /* entries read per replay step */
#define REJECTED_ENTRY_MAX 2048 /* an entry's text at most */

struct backend;
struct rejected;

struct rejected_stats {
    uint64_t kept;               /* entries Redis took */
    uint64_t dropped;            /* entries pushed out past rejected-max-bytes */
    uint64_t unkept;             /* entries not kept: no Redis, refused, too many at once,
                                    no memory */
    uint64_t replayed;           /* lines handed to a backend again */
    uint64_t replays;            /* replays begun */
};

struct rejected_replay {
    struct rejected *rj;         /* its commands' callbacks find their way back */
    int idx;                     /* the backend's slot */
    bool active;
    bool reading;                /* an LRANGE (or the trim after it) is out */
    uint64_t left;               /* entries of the run still to hand over */
};

struct rejected {
    struct rconn *rc;            /* the spool's connection */
    const struct config *cfg;
    const char *instance;
    struct backend *backends;    /* the spool's, by slot */
    const int *nbackends;
    bool (*ready)(void *ctx);    /* Redis is connected and recovered */
    void *ctx;
    struct pool *pool;           /* charged for the keep commands out */
    int outstanding;             /* commands out */
    /* the keep commands out, oldest first (Redis answers in order): the
     * bytes each charged */
    uint32_t keep_bytes[REJECTED_INFLIGHT];
    unsigned keep_head, keep_out;
    struct rejected_replay replay[CFG_MAX_BACKENDS];
    struct rejected_stats st;
};

void rejected_init(struct rejected *rj, struct rconn *rc, struct pool *pool,
                   const struct config *cfg, const char *instance, struct backend *backends,
                   const int *nbackends, bool (*ready)(void *ctx), void *ctx);
/* Keeps one refused line (with or without its "\n") of backend be. */
void rejected_keep(struct rejected *rj, struct backend *be, const char *line, size_t len,
                   const char *reason, const char *text, size_t tlen);
/* Begins sending be's kept entries to it again.  TS_OK; TS_EAGAIN: one
 * is running; TS_ERROR: Redis is not there. */
int rejected_replay(struct rejected *rj, struct backend *be);
/* Replays move on (every tick). */
void rejected_tick(struct rejected *rj);
/* The list's key for be (for logs, the status page). */
void rejected_key(const struct rejected *rj, const struct backend *be, char *out, size_t cap);

#endif
