/*
 * stage.h -- staging and pushing: a backend's lines into Redis.
 *
 * Owns the way in: staging blocks filled by spool_offer and pushed with
 * RPUSH (the open block once it is spool-flush-interval old, sealed ones
 * at once), within the cap on bytes inside hiredis' buffers and
 * spool-max-bytes; a failed connection's lines put at the list's head in
 * one LPUSH, ahead of anything newer; pushes lost with the connection
 * kept in order for the next one; and spool_full: a refused write (OOM,
 * READONLY, MISCONF) makes the spool take no new data, staged blocks are
 * offered again every second, and with nothing staged a write that
 * changes nothing asks whether Redis takes writes again.  It must never
 * drop a block Redis did not take, and never put newer lines ahead of a
 * failed connection's.
 */
#ifndef TS_STAGE_H
#define TS_STAGE_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/queue.h"
#include "spool/spool_state.h"

/* Stages one line (the spool is usable).  1 when taken, 0 when the
 * backend should have it directly (not in spool mode, available and
 * under spool-high), TS_ENOMEM when the pool refused a block. */
int stage_line(struct spool_backend *sb, const char *line, size_t len);
/* A failed connection's undelivered lines (rewound, detached from q) go
 * to the head of the list (the spool is usable). */
void stage_failed_queue(struct spool_backend *sb, struct queue *q, uint64_t *lines_queued);
/* Pushes a failed connection's lines, then sealed blocks, and the open
 * one once it is old enough (force: at once). */
void stage_push_ready(struct spool_backend *sb, uint64_t now_ms, bool force);
/* spool_full with no push to retry: a probe write now and then (every
 * tick). */
void stage_probe_full(struct spool *sp, uint64_t now_ms);
/* The connection was lost (its callbacks ran): pushes lost with it, blocks
 * waiting for replicas (a failover may have lost them) and a failed
 * connection's lines go back to staging, the oldest first. */
void stage_lost(struct spool_backend *sb);

#endif
