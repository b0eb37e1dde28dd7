/*
 * history.h -- the status page's memory of the recent past: a fixed ring
 * of samples taken every `history-interval` (1 s) over `history` (15m).
 *
 * Owns the ring (allocated once at start, charged to the memory budget,
 * never grown by uptime), the sampling timer, and the JSON rendering of
 * GET /tsrelay/api/stats/history.  Each sample holds the gauges as sampled and the
 * counters turned into per-second rates over the interval.  It only reads
 * counters; it must never allocate while sampling, never change state it
 * does not own, and never write past the bound history_json_bound() gives.
 *
 * Backends: per-backend series are keyed by backend name.  The ring keeps
 * a slot per backend of the list it was started with; when that list
 * changes (a reload), the next sample re-creates the per-backend part:
 * series of backends that stay are carried over by name, new ones start
 * with nulls for the past, removed ones are dropped.  The global series
 * are never touched by such a change.
 *
 * GET /tsrelay/api/stats/history[?since=T] answers (T: unix seconds; only samples
 * taken after T are listed, so a page refreshing every 2 s fetches only
 * what is new):
 *
 *   {"version":1,"interval":1.000,"capacity":900,"started":1764540000,
 *    "now":1764543210.456,
 *    "columns":["time","mem_live","mem_reserved","mem_rss","mem_limit",
 *               "mem_malloc","mem_malloc_held","received","forwarded",
 *               "spooled","unspooled","dropped","invalid"],
 *    "samples":[[1764543209.001,1048576,2097152,5242880,134217728,
 *                2097152,3145728,51234.5,51200,0,0,0,1.5], ...],
 *    "backends":{"tsd1":{"columns":["queue_bytes","spool_entries",
 *                                   "spool_bytes","backlog_age"],
 *                        "samples":[[65536,0,0,0.012], ...]}}}
 *
 * time: unix seconds (millisecond resolution) when the sample was taken;
 * mem_*: bytes (live = pool_used_bytes, reserved = pool_reserved_bytes,
 * rss, limit = memory-limit, malloc = the C heap in use, malloc_held =
 * what malloc holds from the OS: its arenas plus its mapped chunks, see
 * counters.h); received .. invalid: points per second over
 * the interval before the sample; queue_bytes: the backend's connection
 * queues plus its spool staging, bytes; spool_entries / spool_bytes: the
 * backend's entries and bytes in Redis; backlog_age: seconds the oldest
 * waiting line has waited (0 when none).  Oldest sample first; a backend's
 * samples[i] belongs to the top-level samples[i]; null = not known (a
 * backend added after that sample was taken).
 *
 * Size: at most HISTORY_JSON_HEAD + nbackends * HISTORY_JSON_BACKEND +
 * n * (HISTORY_JSON_ROW + nbackends * HISTORY_JSON_BROW) bytes for n
 * samples (every number is written in at most HISTORY_VALUE_MAX
 * characters): about 320 + 100 per backend bytes per sample, 376 KB for
 * the default 15 minutes with one backend (typically a third of that).
 */
#ifndef TS_HISTORY_H
#define TS_HISTORY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/config.h"

struct relay;
struct history;

enum history_col {
    HC_TIME = 0,
    HC_MEM_LIVE,
    HC_MEM_RESERVED,
    HC_MEM_RSS,
    HC_MEM_LIMIT,
    HC_MEM_MALLOC,
    HC_MEM_MALLOC_HELD,
    HC_RECEIVED,
    HC_FORWARDED,
    HC_SPOOLED,
    HC_UNSPOOLED,
    HC_DROPPED,
    HC_INVALID,
    HC_NCOLS
};

enum history_bcol {
    HB_QUEUE_BYTES = 0,
    HB_SPOOL_ENTRIES,
    HB_SPOOL_BYTES,
    HB_BACKLOG_AGE,
    HB_NCOLS
};

/* Ring bytes per sample of `nbackends` backends (what is charged to the
 * budget, less the fixed header), and the most samples a ring may hold:
 * config.c checks a file against these bounds, so the layout must be the
 * one config.h states. */
_Static_assert(HC_NCOLS == CFG_HISTORY_COLS, "config.h: CFG_HISTORY_COLS");
_Static_assert(HB_NCOLS == CFG_HISTORY_BACKEND_COLS, "config.h: CFG_HISTORY_BACKEND_COLS");
#define HISTORY_SAMPLE_BYTES(nbackends) CFG_HISTORY_SAMPLE_BYTES(nbackends)
#define HISTORY_MAX_SAMPLES CFG_HISTORY_MAX_SAMPLES

/* JSON size bound, see above. */
#define HISTORY_VALUE_MAX 24   /* one number and its separator */
#define HISTORY_JSON_HEAD 1024
#define HISTORY_JSON_BACKEND (2 * CFG_NAME_MAX + 160)
#define HISTORY_JSON_ROW (HC_NCOLS * HISTORY_VALUE_MAX + 4)
#define HISTORY_JSON_BROW (HB_NCOLS * HISTORY_VALUE_MAX + 4)

/* Builds the ring for r (r->cfg.history_ms / history_interval_ms, the
 * backends r has now) and starts its timer; r->history stays NULL when
 * history = 0.  TS_OK, or TS_ERROR with a reason in err. */
int history_start(struct relay *r, char *err, size_t errlen);
/* Stops the timer and frees the ring (its budget too).  NULL-safe. */
void history_stop(struct relay *r);

/* The parts, for tests and the status page. */
struct history *history_create(struct relay *r, uint64_t span_ms, uint64_t interval_ms);
void history_destroy(struct history *h);
/* Takes one sample now: wall_ms = unix time in ms, mono_ns = monotonic
 * time (rates are over the time since the previous sample). */
void history_sample(struct history *h, uint64_t wall_ms, uint64_t mono_ns);

/* Renders the JSON above, samples with time > since only (since < 0:
 * all).  Returns the length; never writes more than cap bytes (output
 * is cut short when cap < history_json_bound()). */
size_t history_format_json(const struct history *h, double since, char *out, size_t cap);
/* Most bytes history_format_json can write for the ring as it is (its
 * capacity, not its current fill: the bound does not move with uptime). */
size_t history_json_bound(const struct history *h);

/* Bytes charged to the budget for the ring (0 for NULL). */
size_t history_bytes(const struct history *h);
size_t history_count(const struct history *h);     /* samples held */
size_t history_capacity(const struct history *h);
uint64_t history_interval_ms(const struct history *h);
/* The newest sample's global columns (HC_NCOLS values) and, for backend
 * name, its columns (HB_NCOLS; NaN when unknown).  false: no sample yet. */
bool history_latest(const struct history *h, double *cols);
bool history_latest_backend(const struct history *h, const char *name, double *cols);

#endif
