/*
 * unspool.h -- giving a backend its lines back: when its drain may read,
 * what goes to it straight from memory, and when its spool mode ends.
 *
 * Owns the gate of a backend's drain (the spool ready and this
 * instance's, the relay running, nothing on its way to the list's head,
 * the backend available and its queues under spool-low), the lines that
 * go to the backend without Redis (a failed connection's first, then
 * staging's, while its queues have room), and the end of spool mode (the
 * list, staging and every push empty).  It must never hand a line to the
 * backend ahead of an older one, and never end spool mode while anything
 * of the backend's is in Redis or on its way there.
 */
#ifndef TS_UNSPOOL_H
#define TS_UNSPOOL_H

#include <stdbool.h>

#include "spool/spool_state.h"

/* The drain's gate (ctx: the spool_backend). */
bool unspool_may_read(void *ctx);
/* Without Redis (down, refusing writes once its list is empty, or another
 * relay's for now), the blocks in memory go straight to a healthy
 * backend, oldest first, while its queues have room. */
void unspool_from_memory(struct spool_backend *sb);
/* Spool mode ends once nothing of the backend's is in the list, in
 * flight, staged or on its way into Redis. */
void unspool_leave_mode(struct spool_backend *sb);

#endif
