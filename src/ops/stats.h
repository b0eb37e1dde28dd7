/*
 * stats.h -- the relay's counters rendered: telnet stats, /api/stats, /metrics.
 *
 * Owns the formatters for telnet `stats` (TSD line format), HTTP
 * /api/stats (JSON), /metrics (Prometheus text) and stats-interval put
 * lines.  It reads the counter store (base/counters.h) and the state of
 * every module below it; it must never write a counter and never
 * allocate.
 */
#ifndef TS_STATS_H
#define TS_STATS_H

#include <stddef.h>
#include <stdint.h>

struct relay;

/* Renderings.  Each writes into out (cap bytes) and returns the length;
 * output is truncated, never overflows. */
size_t stats_format_telnet(struct relay *r, char *out, size_t cap);
size_t stats_format_json(struct relay *r, char *out, size_t cap);
size_t stats_format_prometheus(struct relay *r, char *out, size_t cap);
/* One put line per counter, tagged host=<hostname>, for stats-interval. */
size_t stats_format_puts(struct relay *r, char *out, size_t cap);

#endif
