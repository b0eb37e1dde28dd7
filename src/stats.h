/*
 * stats.h -- the relay's counters and their three renderings.
 *
 * Owns the global counter block (points, clients, frames, memory) and the
 * formatters for telnet `stats` (TSD line format), HTTP /api/stats (JSON)
 * and /metrics (Prometheus text).  Modules increment fields directly; this
 * module only reads them.  It must never allocate on the counting path.
 */
#ifndef TS_STATS_H
#define TS_STATS_H

#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "framed.h"
#include "ingest.h"

struct proto_stats {
    struct ingest_stats in;   /* points received / invalid per protocol */
    uint64_t connections;     /* accepted over the process life */
    uint64_t active;          /* open now */
    uint64_t bytes_in;
    uint64_t replies_dropped; /* reply bytes dropped: client not reading */
};

/* Time lines spend inside the relay, from the read that brought them to
 * the write that hands them to a backend: log2 buckets, 4 per octave. */
#define LAT_BUCKETS 160

struct latency_hist {
    uint64_t buckets[LAT_BUCKETS];
    uint64_t samples;
    uint64_t max_ns;
};

void latency_record(struct latency_hist *h, uint64_t ns);
/* The q-quantile (0 < q <= 1) in nanoseconds: upper bound of its bucket. */
uint64_t latency_quantile(const struct latency_hist *h, double q);

struct relay_stats {
    uint64_t start_time;            /* unix seconds */
    struct proto_stats proto[4];    /* by enum listen_proto (AUTO unused) */
    struct framed_stats framed;
    uint64_t http_requests;
    uint64_t http_errors;
    uint64_t http_details_truncated; /* ?details entries over max-http-body-bytes */
    uint64_t clients_rejected;      /* over max-clients and its control slots */
    uint64_t clients_control_slot;  /* taken over max-clients, for stats only */
    uint64_t clients_timed_out;     /* idle or read deadline */
    uint64_t points_dropped;        /* valid points dropped (overflow = drop) */
    uint64_t points_forwarded;      /* lines acknowledged by a backend's TCP */
    uint64_t points_spooled;        /* lines into the spool */
    uint64_t points_unspooled;      /* lines out of the spool into a backend queue */
    uint64_t points_taken_over;     /* lines of a dead instance's spool queued here */
    uint64_t stats_lines_sent;      /* stats-interval lines (received, proto=internal) */
    uint64_t reloads;               /* SIGHUP: configurations applied */
    uint64_t reload_refusals;       /* SIGHUP: files refused (the running one stays) */
    struct latency_hist latency;    /* read -> write, per backend write */
};

extern struct relay_stats g_stats;

struct relay;

/* Resident set size in bytes (from /proc/self/statm), 0 if unknown. */
uint64_t stats_rss_bytes(void);

/* Renderings.  Each writes into out (cap bytes) and returns the length;
 * output is truncated, never overflows. */
size_t stats_format_telnet(struct relay *r, char *out, size_t cap);
size_t stats_format_json(struct relay *r, char *out, size_t cap);
size_t stats_format_prometheus(struct relay *r, char *out, size_t cap);
/* One put line per counter, tagged host=<hostname>, for stats-interval. */
size_t stats_format_puts(struct relay *r, char *out, size_t cap);

#endif
