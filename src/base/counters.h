/*
 * counters.h -- the relay's counter store: the one place every module
 * writes its process-wide counts.
 *
 * Owns the global counter block (points, clients, frames, HTTP, reloads),
 * the per-decoder counter structs the decoders are handed, the latency
 * histogram, and the readings of the process's memory outside the pool
 * (RSS, the C heap).  It sits at the bottom: every layer may
 * include it, and it includes nothing of the relay's.  Rendering the
 * counters (telnet stats, /api/stats, /metrics) is ops/stats.c's, which
 * reads this store and the modules above; this module must never read
 * another module, and never allocate on the counting path.
 */
#ifndef TS_COUNTERS_H
#define TS_COUNTERS_H

#include <stddef.h>
#include <stdint.h>

/* Per decoder (telnet, framed, http): what its sink saw. */
struct ingest_stats {
    uint64_t received;   /* points seen (valid + invalid) */
    uint64_t invalid;    /* points rejected by validation */
    uint64_t refused;    /* valid points refused by the relay's rules or limits */
    uint64_t too_long;   /* lines over max-line-bytes (discarded) */
    uint64_t commands;   /* non-data commands (version, stats, ...) */
};

/* The framed decoder's own counts. */
struct framed_stats {
    uint64_t frames;
    uint64_t heartbeats;
    uint64_t rejected_oversize;
    uint64_t rejected_json;
};

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

/* TLS on the listeners (input/tls_server.c): handshakes completed, and
 * failed by reason (base/tls.h's enum tls_fail, TLS_FAIL_COUNT of them). */
#define TLS_FAIL_KINDS 8
struct tls_counts {
    uint64_t handshakes;            /* completed */
    uint64_t failures[TLS_FAIL_KINDS];
    uint64_t handshaking;           /* gauge: clients in a handshake now */
    uint64_t waiting;               /* gauge: clients waiting for a handshake slot */
    uint64_t waits;                 /* clients that had to wait for one */
    uint64_t open;                  /* gauge: TLS clients open (handshake done) */
};

struct relay_stats {
    uint64_t start_time;            /* unix seconds */
    struct proto_stats proto[4];    /* by enum listen_proto (AUTO unused) */
    struct framed_stats framed;
    uint64_t http_requests;
    uint64_t http_errors;
    uint64_t http_details_truncated; /* ?details entries over max-http-body-bytes */
    uint64_t http_sync_proven;      /* ?sync requests answered once proven */
    uint64_t http_sync_timeouts;    /* ?sync requests answered with the timeout shape */
    uint64_t clients_rejected;      /* over max-clients and its control slots */
    uint64_t clients_control_slot;  /* taken over max-clients, for stats only */
    uint64_t clients_timed_out;     /* idle or read deadline */
    uint64_t points_dropped;        /* valid points dropped (overflow = drop) */
    uint64_t points_rule_dropped;   /* valid points a rule dropped (action = drop) */
    uint64_t points_copies;         /* lines beyond the first when a point goes to more
                                       than one backend (routing = all, send to groups) */
    uint64_t points_forwarded;      /* lines acknowledged by a backend's TCP */
    uint64_t points_rejected;       /* lines a backend refused for good (protocol = http) */
    uint64_t points_spooled;        /* lines into the spool */
    uint64_t points_unspooled;      /* lines out of the spool into a backend queue */
    uint64_t points_taken_over;     /* lines of a dead instance's spool queued here */
    uint64_t stats_lines_sent;      /* stats-interval lines (received, proto=internal) */
    uint64_t reloads;               /* SIGHUP: configurations applied */
    uint64_t reload_refusals;       /* SIGHUP: files refused (the running one stays) */
    uint64_t admin_denied;          /* stats or status asked from outside admin-allow */
    struct tls_counts tls;
    uint64_t malloc_trims;          /* heap.c: malloc_trim(0) calls, the heap quiet */
    uint64_t malloc_trim_ns;        /* time they took */
    uint64_t malloc_trimmed_bytes;  /* RSS they gave back */
    struct latency_hist latency;    /* read -> write, per backend write */
};

extern struct relay_stats g_stats;

/* Resident set size in bytes (from /proc/self/statm), 0 if unknown. */
uint64_t stats_rss_bytes(void);

/* The C heap beside the pool, from glibc's mallinfo2() (all zero where
 * the C library has none): what malloc handed out and did not get back
 * (in_use, chunk headers included, large mapped chunks too), what its
 * arenas hold from the OS (arena: in use there plus free chunks kept),
 * and the large chunks mapped one by one (mmapped, given back on free).
 * The heap holds arena + mmapped; arena + mmapped - in_use is free memory
 * malloc keeps.  mallinfo2 walks the free lists: call it for a rendering
 * or a sample, never per line. */
struct malloc_reading {
    uint64_t in_use;
    uint64_t arena;
    uint64_t mmapped;
};

void stats_malloc(struct malloc_reading *m);

#endif
