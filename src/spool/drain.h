/*
 * drain.h -- reading a spool list back into a backend, and deleting each
 * entry once the backend has every line of it.
 *
 * Owns the entries in flight (records: the exact element, for deletion by
 * value, and where its lines end in each connection's queue), the count
 * of them at the list's head, and the staging time of the oldest entry
 * (backlog age).  Entries are read with LRANGE from just past the ones in
 * flight and deleted with LREM: a read and a deletion, which Redis serves
 * even when it refuses writes (maxmemory with noeviction, a replica), so
 * the drain never waits for a write.  An entry stays in the list until it
 * is delivered: a crash re-delivers at most the entries in flight.  One
 * drain per list; the list's head must change only by this drain's
 * deletions, or be declared changed (drain_head_changed).  It must never
 * delete an entry whose lines are not all acknowledged, and never read
 * more than the queues have room for.
 */
#ifndef TS_DRAIN_H
#define TS_DRAIN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "spool/entry.h"
#include "base/pool.h"
#include "spool/rconn.h"

#define DRAIN_RECORDS 64
#define DRAIN_READ_MAX 16      /* entries asked in one LRANGE */

struct backend;

enum drain_rec_state { DREC_FREE = 0, DREC_ACTIVE, DREC_DONE, DREC_CORRUPT };

struct drain;

struct drain_record {
    struct drain *d;
    enum drain_rec_state state;
    bool del_sent;             /* its LREM (or set-aside) is out */
    char *value;               /* the exact list element */
    size_t vlen;
    uint32_t lines;
    uint64_t staged_ms;
    uint64_t *end;             /* per connection: queue offset after its lines */
};

struct drain_stats {
    uint64_t reads;            /* entries read (delivered into queues) */
    uint64_t lines;            /* lines they held */
    uint64_t deletes;          /* entries deleted after delivery */
    uint64_t corrupt;          /* entries that did not decode (set aside) */
};

/* Whether the drain may read now (the owner's gate: the backend healthy
 * and its queues under spool-low, nothing being pushed to the head). */
typedef bool (*drain_gate_fn)(void *ctx);

struct drain {
    struct rconn *rc;
    drain_gate_fn may_read;    /* asked before reading outside the owner's tick */
    void *gate_ctx;
    struct entry_codec *ec;
    struct backend *be;
    struct pool *pool;
    char key[256];
    char corrupt_key[288];
    struct drain_record rec[DRAIN_RECORDS];
    uint64_t *rec_end;         /* DRAIN_RECORDS x connections */
    int head_out;              /* entries at the head read by us, LREM not yet sent */
    int asked;                 /* entries asked in the LRANGE that is out */
    bool reading;              /* an LRANGE is out */
    bool stale_read;           /* ... sent behind a deletion Redis refused: its
                                  index counted on that entry gone (discarded) */
    bool resync;               /* the head changed: read again from 0 once head_out is 0 */
    bool probing;              /* an LINDEX for the head's staging time is out */
    uint64_t probe_at_ms;
    uint64_t entries;          /* the list's length as last seen */
    uint64_t bytes;            /* its bytes as last seen */
    uint64_t head_staged_ms;   /* staging time of the list's first entry; 0 none */
    bool foreign;              /* another instance's list (fleet.c): its lines are taken over */
    /* called with each entry deleted after its backend acknowledged every
     * line of it (not for entries set aside as corrupt); may be NULL */
    void (*delivered)(void *ctx, const char *value, size_t len);
    void *delivered_ctx;
    struct drain_stats st;
};

int drain_init(struct drain *d, struct rconn *rc, struct entry_codec *ec, struct backend *be,
               struct pool *pool, const char *key, const char *corrupt_key,
               drain_gate_fn may_read, void *gate_ctx);
void drain_free(struct drain *d);

/* Reads what the queues can take now (the caller decides whether the
 * backend should be drained at all).  Once started, reading goes on from
 * the replies -- the next read as soon as one is answered, and as soon as
 * deletions free records -- for as long as the gate says yes. */
void drain_read(struct drain *d);
/* Deletes entries whose lines were all acknowledged (every tick). */
void drain_check(struct drain *d, uint64_t now_ms);
/* The connection to Redis was lost: deletions are sent again later, and
 * reading restarts from the head once the entries in flight are gone. */
void drain_lost(struct drain *d);
/* Something was put at the list's head (a failed connection's lines). */
void drain_head_changed(struct drain *d);
/* Forgets the records (shutdown moved their lines to the spool). */
void drain_forget(struct drain *d);

/* Nothing read and not yet deleted. */
bool drain_idle(const struct drain *d);
int drain_in_flight(const struct drain *d);
/* Staging time of the oldest line still in the list, 0 when none. */
uint64_t drain_oldest_ms(const struct drain *d);
/* Records, for the shutdown's transaction: the i-th element in flight. */
const struct drain_record *drain_record_at(const struct drain *d, int i);

#endif
