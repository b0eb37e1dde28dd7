/*
 * admission.h -- who may buffer input, and who may decode it, when memory
 * is short.
 *
 * Owns two first-come first-served lines of waiting clients:
 *   - input: a client whose next unit (frame, long telnet line, HTTP body)
 *     is incomplete asks for the unit's whole size before it reads a byte
 *     of it; granted at once when nobody waits ahead and the pool's input
 *     class has room, otherwise it waits its turn holding nothing;
 *   - room: a client whose decoded points found the queues full waits for
 *     them to drain, and is resumed in turn when they did.
 * Granted bytes are charged to POOL_INPUT.  It decides and counts only; it
 * must never read a socket, and never skip a waiter for a later one.
 */
#ifndef TS_ADMISSION_H
#define TS_ADMISSION_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/pool.h"

/* A place in one of the lines, embedded in the waiting party. */
struct admit_ticket {
    struct admit_ticket *next;
    size_t bytes;            /* input: what it asks for */
    double since;            /* when it began to wait */
    bool waiting;
};

struct admission_stats {
    uint64_t grants;         /* input requests granted */
    uint64_t waits;          /* input requests that had to wait */
    uint64_t room_waits;     /* decoders stopped for queue room */
    uint64_t room_resumes;
};

struct admission {
    struct pool *pool;
    struct admit_ticket *head, *tail;    /* input line */
    size_t nwaiting;
    size_t bytes_waiting;
    struct admit_ticket *rhead, *rtail;  /* room line */
    size_t nroom;
    size_t room_resume;      /* queue bytes free before the room line moves */
    size_t room_step;        /* bytes one resumed decoder may take */
    struct admission_stats st;
};

void admission_init(struct admission *a, struct pool *p, size_t room_resume, size_t room_step);

/* Asks for `bytes` of input memory.  TS_OK: charged now, the caller owns
 * it (admission_release gives it back).  TS_EAGAIN: the ticket waits in
 * line; admission_poll grants it later, or admission_cancel withdraws it. */
int admission_request(struct admission *a, struct admit_ticket *t, size_t bytes, double now);
void admission_cancel(struct admission *a, struct admit_ticket *t);
void admission_release(struct admission *a, size_t bytes);

/* The ticket waits for queue room (no memory is held for it). */
void admission_wait_room(struct admission *a, struct admit_ticket *t, double now);

typedef void (*admission_fn)(struct admit_ticket *t, void *ctx);
/* Grants the input line's heads that fit now, then resumes room waiters
 * in turn while the queues have room (room_resume free, or the queues
 * empty: then no more room comes by waiting); each leaves its line before
 * fn is called. */
void admission_poll(struct admission *a, admission_fn granted, admission_fn resumed, void *ctx);

/* The longest current wait in either line, in seconds. */
double admission_longest_wait(const struct admission *a, double now);

#endif
