/*
 * syncwait.h -- clients whose HTTP ?sync request waits for its points'
 * proofs.
 *
 * Owns a client's wait (two marks of the delivery proof -- where the
 * request's points began and where they ended, client_env.sync_mark --
 * and its deadline: the client's sync_timeout, never past sync-max-wait),
 * the set's list of waiting clients, and ending a wait: proven
 * (client_env.sync_proven) or timed out, the answer given
 * (http_sync_done) and the client woken.  A waiting client reads nothing
 * (its next requests wait behind the answer) and holds only its marks;
 * other clients and the stats never wait for it.  It must never answer
 * before the proof or past the deadline by more than a loop turn.
 */
#ifndef TS_SYNCWAIT_H
#define TS_SYNCWAIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct client;
struct client_set;

struct syncwait {
    size_t width;               /* words per mark */
    uint64_t *start, *end;      /* the marks */
    double deadline;            /* ev_now */
    bool waiting;
    bool listed;                /* on the set's list */
    struct client *next;
};

size_t syncwait_size(size_t width);
void syncwait_free(struct syncwait *sw);

/* The HTTP host's callbacks (ctx: the client). */
int syncwait_begin(void *ctx);
int syncwait_wait(void *ctx, uint64_t timeout_ms);

/* Ends the waits that are proven or past their deadline, each client then
 * woken by wake (client_wake); once per loop turn. */
void syncwait_poll(struct client_set *cs, void (*wake)(struct client *c));
/* The backends changed (a reload): every wait marks its end again, now,
 * and its start at 0 (later and wider: still correct). */
void syncwait_remark(struct client_set *cs);
/* A client goes: off the list. */
void syncwait_forget(struct client *c);

#endif
