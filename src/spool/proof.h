/*
 * proof.h -- when the lines a backend's spool took are proven delivered
 * by the backend itself (not merely stored in Redis): the proof ?sync
 * asks for (core/delivery.c).
 *
 * Owns, per backend: the intake (lines the spool took for it, counted in
 * the order it took them: staged new lines, a failed connection's lines);
 * for each connection, how far its queue was handed to the spool (the
 * queue's end then) and the intake just after; and `proven`, the intake
 * count up to which every line is proven: when the spool is empty (every
 * line it took is back in the connections' queues, or was never sent
 * elsewhere) a snapshot of the queues' ends is taken, and once the
 * backend acknowledged everything up to them, proven becomes the intake
 * of that moment.  A connection handed to the spool again before that
 * voids the snapshot (the lines left the queues).  It reads the spool's
 * and the backend's state and changes nothing but its own.
 */
#ifndef TS_PROOF_H
#define TS_PROOF_H

#include <stdbool.h>
#include <stdint.h>

#include "spool/spool_state.h"

struct queue;

int proof_init(struct spool_backend *sb);
void proof_free(struct spool_backend *sb);
/* n more lines taken (staged). */
void proof_took(struct spool_backend *sb, uint64_t n);
/* A connection's queue q, ending at stream offset `end`, was handed to
 * the spool with n lines. */
void proof_took_queue(struct spool_backend *sb, const struct queue *q, uint64_t end, uint64_t n);
/* Snapshots and their proof (every tick). */
void proof_tick(struct spool_backend *sb);

#endif
