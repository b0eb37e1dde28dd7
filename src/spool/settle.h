/*
 * settle.h -- when what the spool took is safe: the count of stored
 * lines behind framed acknowledgements.
 *
 * Owns the moment a block's lines count as stored, in staging order: when
 * Redis took its entry -- or, with min-replicas-ack, when WAIT says
 * enough replicas have it, or when the drain delivered its entry (what a
 * backend acknowledged needs no replica) -- and, for lines that went to
 * the backend from memory, when the backend holds nothing unacknowledged.
 * One WAIT at a time, at most one a tick.  It must never count a line
 * stored before it is, and never let a master without replicas hold
 * every block for ever.
 */
#ifndef TS_SETTLE_H
#define TS_SETTLE_H

#include <stddef.h>

#include "spool/spool_state.h"

/* A block leaves the spool stored (or confirmed, or delivered through its
 * entry): its lines count as stored when they were staged ones; the block
 * goes back to the pool. */
void settle_block(struct spool_backend *sb, struct block *b);
/* Redis took the blocks first..last (a chain): stored now, or waiting for
 * replicas with min-replicas-ack. */
void settle_pushed(struct spool_backend *sb, struct block *first, struct block *last);
/* The drain's callback (ctx: the spool_backend): it deleted an entry of
 * the list after the backend acknowledged every line of it. */
void settle_entry_delivered(void *ctx, const char *value, size_t len);
/* Sends a WAIT for the blocks waiting for replicas, when it is time to
 * (every tick). */
void settle_confirm(struct spool *sp);
/* Lines handed to the backend from memory are safe once it acknowledged
 * them: when it holds nothing unacknowledged, all of them are (every
 * tick). */
void settle_direct(struct spool_backend *sb);

#endif
