/*
 * series_snapshot.h -- what the new-series guard remembers, kept in Redis
 * across a restart.
 *
 * Owns the snapshot of a guard under <prefix>:<instance>:series: a Redis
 * hash of its filters (the series let through), its per-minute counts of
 * the last day, and its tables of metrics (with their HyperLogLogs) and
 * clients.  It is written once, when the relay shuts down (SIGTERM,
 * after the spool's last write), and read once, when it starts (before
 * it listens), each time over a plain blocking hiredis connection of its
 * own (the configured address, or the master the Sentinels name),
 * bounded by [redis] connect-timeout and a 10-second reply timeout: at
 * those two moments no client is served.  The key expires 7 days after
 * it was written.  A snapshot of another shape (series-memory changed, or
 * another build), or a damaged one, is ignored and the log says why:
 * the guard then starts empty.  The filters go in chunks of 16 MiB (one
 * MULTI/EXEC): the transfer buffers are hiredis' own, for the moment of
 * the transfer (the tables and one chunk), outside memory-limit.  It must never run while clients are served, never keep
 * a connection, and never take a snapshot it cannot check whole.
 */
#ifndef TS_SERIES_SNAPSHOT_H
#define TS_SERIES_SNAPSHOT_H

#include "base/config.h"
#include "core/series_guard.h"

#define SNAPSHOT_TTL_MS (7ull * 24 * 3600 * 1000)

/* Writes g's snapshot.  TS_OK, or TS_ERROR (logged: the next start is
 * empty, or restores an older snapshot). */
int series_snapshot_save(const struct series_guard *g, const struct cfg_redis *rc,
                         const char *instance);
/* Restores g (new, nothing seen yet) from its snapshot.  TS_OK when one
 * was restored; TS_ERROR when there was none, or it was ignored (logged). */
int series_snapshot_load(struct series_guard *g, const struct cfg_redis *rc,
                         const char *instance);

#endif
