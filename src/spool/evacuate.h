/*
 * evacuate.h -- at shutdown, what a backend's connections still hold goes
 * to the head of its spool for the next start.
 *
 * Owns the shutdown's transaction per backend: MULTI, one LPUSH of the
 * connection queues' unsent and unacknowledged lines (without barriers),
 * an LREM for each entry the drain has in flight (their lines are among
 * those pushed), EXEC.  Only once Redis executed it are the queues and the
 * drain's records let go.  It must never let go of a line Redis did not
 * take, and never leave an entry in the list whose lines it pushed again.
 */
#ifndef TS_EVACUATE_H
#define TS_EVACUATE_H

#include "spool/spool_state.h"

/* Sends the transaction for sb (the spool is ready); sb->evac_out counts
 * it until its EXEC is answered. */
void evacuate_backend(struct spool_backend *sb);

#endif
