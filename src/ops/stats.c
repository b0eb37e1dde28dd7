/*
 * stats.c -- the relay's counters and their renderings.
 *
 * One collector walks every counter once (name, help, type, one optional
 * tag); the renderers format what it yields as TSD stats lines, /api/stats
 * JSON, Prometheus text or put lines.  Samples of one metric name are
 * always yielded together, so Prometheus HELP/TYPE lines appear once.  It
 * reads counters only and never allocates.
 */
#include "autoconf.h"

#include <fcntl.h>
#include <stdarg.h>
#include <stdbool.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "output/backend.h"
#include "ops/history.h"
#include "base/log.h"
#include "core/relay.h"
#include "spool/fleet.h"
#include "spool/spool.h"
#include "base/counters.h"
#include "ops/stats.h"
#include "base/textout.h"
#include "base/util.h"

/* ---- the collector ----------------------------------------------------- */

enum mtype { GAUGE = 0, COUNTER = 1 };

struct sample {
    const char *name;   /* dotted, without the "tsrelay." prefix */
    const char *help;
    enum mtype type;
    const char *tagk;   /* NULL: no tag */
    const char *tagv;
    uint64_t value;
    bool ns_as_seconds; /* value is nanoseconds, shown as seconds */
};

/* The value as text: an integer, or nanoseconds as decimal seconds. */
static const char *
value_text(const struct sample *s, char *buf, size_t cap)
{
    if (s->ns_as_seconds)
        snprintf(buf, cap, "%llu.%09llu", (unsigned long long)(s->value / 1000000000u),
                 (unsigned long long)(s->value % 1000000000u));
    else
        snprintf(buf, cap, "%llu", (unsigned long long)s->value);
    return buf;
}

typedef void (*sample_fn)(void *ctx, const struct sample *s);

static const char *const proto_tag[] = { "auto", "telnet", "framed", "http" };

static void
collect(struct relay *r, sample_fn fn, void *ctx)
{
    struct sample s;
#define EMIT(n, h, t, k, v, val)                                                  \
    do {                                                                        \
        s.name = (n); s.help = (h); s.type = (t); s.tagk = (k); s.tagv = (v);   \
        s.value = (uint64_t)(val);                                              \
        s.ns_as_seconds = false;                                                \
        fn(ctx, &s);                                                            \
    } while (0)
#define SECONDS(n, h, ns)                                                       \
    do {                                                                        \
        s.name = (n); s.help = (h); s.type = GAUGE; s.tagk = NULL; s.tagv = NULL; \
        s.value = (uint64_t)(ns);                                               \
        s.ns_as_seconds = true;                                                 \
        fn(ctx, &s);                                                            \
    } while (0)
#define PER_PROTO(n, h, t, field)                                               \
    for (int p_ = PROTO_TELNET; p_ <= PROTO_HTTP; p_++)                         \
        EMIT(n, h, t, "proto", proto_tag[p_], g_stats.proto[p_].field)

    uint64_t now = (uint64_t)time(NULL);
    EMIT("uptime", "Seconds since tsrelay started.", GAUGE, NULL, NULL,
         now - g_stats.start_time);
    PER_PROTO("points.received", "Data points received (valid and invalid).", COUNTER,
              in.received);
    EMIT("points.received", "Data points received (valid and invalid).", COUNTER, "proto",
         "internal", g_stats.stats_lines_sent);
    PER_PROTO("points.invalid", "Data points rejected by validation.", COUNTER, in.invalid);
    PER_PROTO("lines.too_long", "Telnet lines over max-line-bytes, discarded.", COUNTER,
              in.too_long);
    PER_PROTO("commands", "Non-data commands (version, stats, help, exit, ...).", COUNTER,
              in.commands);
    PER_PROTO("bytes.received", "Bytes read from clients.", COUNTER, bytes_in);
    PER_PROTO("replies.dropped_bytes",
              "Reply bytes dropped because a client did not read its replies.", COUNTER,
              replies_dropped);
    PER_PROTO("clients.current", "Open client connections.", GAUGE, active);
    EMIT("clients.current", "Open client connections.", GAUGE, "proto", "pending",
         r->clients.pending);
    PER_PROTO("clients.accepted", "Client connections accepted.", COUNTER, connections);
    EMIT("clients.rejected", "Connections refused (max-clients and control-slots, shutdown).",
         COUNTER, NULL, NULL, g_stats.clients_rejected);
    EMIT("clients.control_slots", "Open stats-only connections taken over max-clients.", GAUGE,
         NULL, NULL, r->clients.control_only);
    EMIT("clients.control_slot_accepts", "Stats-only connections taken over max-clients.",
         COUNTER, NULL, NULL, g_stats.clients_control_slot);
    EMIT("clients.waiting_memory", "Clients waiting for input memory (admission), holding nothing.",
         GAUGE, NULL, NULL, r->adm.nwaiting);
    EMIT("clients.waiting_room", "Clients waiting for room in the queues.", GAUGE, NULL, NULL,
         r->adm.nroom);
    SECONDS("clients.longest_wait_seconds", "The longest current wait for memory or room.",
            (uint64_t)(admission_longest_wait(&r->adm, ev_now(r->loop)) * 1e9));
    EMIT("admission.grants", "Input memory granted to clients for their units.", COUNTER, NULL,
         NULL, r->adm.st.grants);
    EMIT("admission.waits", "Units that had to wait for input memory.", COUNTER, NULL, NULL,
         r->adm.st.waits);
    EMIT("admission.room_waits", "Times a decoder stopped for room in the queues.", COUNTER,
         NULL, NULL, r->adm.st.room_waits);
    EMIT("clients.timed_out", "Clients closed by idle-timeout or read-timeout.", COUNTER, NULL,
         NULL, g_stats.clients_timed_out);
    EMIT("frames.received", "Framed packets received (heartbeats excluded).", COUNTER, NULL,
         NULL, g_stats.framed.frames);
    EMIT("frames.heartbeats", "Framed heartbeats (length 0).", COUNTER, NULL, NULL,
         g_stats.framed.heartbeats);
    EMIT("frames.rejected", "Framed packets rejected.", COUNTER, "reason", "oversize",
         g_stats.framed.rejected_oversize);
    EMIT("frames.rejected", "Framed packets rejected.", COUNTER, "reason", "json",
         g_stats.framed.rejected_json);
    EMIT("config.reloads", "Configurations applied on SIGHUP.", COUNTER, NULL, NULL,
         g_stats.reloads);
    EMIT("config.reload_refusals", "Configuration files refused on SIGHUP (the running one "
         "stays).", COUNTER, NULL, NULL, g_stats.reload_refusals);
    EMIT("http.requests", "HTTP requests served.", COUNTER, NULL, NULL, g_stats.http_requests);
    EMIT("http.errors", "HTTP responses with status >= 400.", COUNTER, NULL, NULL,
         g_stats.http_errors);
    EMIT("http.details_truncated", "?details error entries left out (over max-http-body-bytes).",
         COUNTER, NULL, NULL, g_stats.http_details_truncated);

    uint64_t queued_lines = 0, queued_bytes = 0;
    for (int i = 0; i < r->nbackends; i++) {
        queued_lines += backend_queued_lines(&r->backends[i]);
        queued_bytes += backend_queued_bytes(&r->backends[i]) +
                        spool_backend_staged_bytes(&r->backends[i]);
    }
    EMIT("points.forwarded", "Lines acknowledged by a backend's TCP.", COUNTER, NULL, NULL,
         g_stats.points_forwarded);
    EMIT("points.queued", "Lines in backend queues, not yet acknowledged.", GAUGE, NULL, NULL,
         queued_lines);
    EMIT("points.spooled", "Lines that went into the spool.", COUNTER, NULL, NULL,
         g_stats.points_spooled);
    EMIT("points.unspooled", "Lines taken out of the spool into a backend queue.", COUNTER,
         NULL, NULL, g_stats.points_unspooled);
    EMIT("points.taken_over", "Lines of a dead instance's spool queued here (received there).",
         COUNTER, NULL, NULL, g_stats.points_taken_over);
    EMIT("points.spool_pending", "Lines in the spool (spooled - unspooled).", GAUGE, NULL,
         NULL,
         g_stats.points_spooled > g_stats.points_unspooled
             ? g_stats.points_spooled - g_stats.points_unspooled : 0);
    EMIT("points.dropped", "Valid lines dropped (overflow = drop, or out of memory).", COUNTER,
         NULL, NULL, g_stats.points_dropped);

#define PER_BACKEND(n, h, t, expr)                                              \
    for (int b_ = 0; b_ < r->nbackends; b_++) {                                 \
        struct backend *be = &r->backends[b_];                                  \
        (void)be;                                                               \
        EMIT(n, h, t, "backend", be->cfg->name, (expr));                        \
    }
    PER_BACKEND("backend.up", "1 when the backend takes data directly.", GAUGE,
                backend_available(be) ? 1 : 0);
    PER_BACKEND("backend.removed", "0 while configured; 1 removed by a reload and finishing "
                "its queue; 2 retired.", GAUGE, be->retired ? 2 : be->retiring ? 1 : 0);
    PER_BACKEND("backend.handed_over", "Lines a removed backend passed to the others after "
                "shutdown-timeout.", COUNTER, be->st.handed_over);
    PER_BACKEND("backend.spooling", "1 while the backend's new data goes to the spool.",
                GAUGE, spool_backend_mode(be) ? 1 : 0);
    PER_BACKEND("backend.queue_bytes", "Bytes in the backend's connection queues.", GAUGE,
                backend_queued_bytes(be));
    PER_BACKEND("backend.queue_lines", "Lines in the backend's connection queues.", GAUGE,
                backend_queued_lines(be));
    PER_BACKEND("backend.connections", "Backend connections currently up.", GAUGE,
                backend_conns_up(be));
    PER_BACKEND("backend.connects", "Successful connects to the backend.", COUNTER,
                be->st.connects);
    PER_BACKEND("backend.connect_attempts", "Connect attempts to the backend.", COUNTER,
                be->st.connect_attempts);
    PER_BACKEND("backend.reconnects", "Reconnects after a connection was lost.", COUNTER,
                be->st.reconnects);
    PER_BACKEND("backend.failures", "Connect or connection failures.", COUNTER,
                be->st.failures);
    PER_BACKEND("backend.errors", "Error lines the backend wrote back.", COUNTER,
                be->st.errors);
    PER_BACKEND("backend.bytes_written", "Bytes written to the backend.", COUNTER,
                be->st.bytes_written);
    PER_BACKEND("backend.lines_acked", "Lines acknowledged by the backend's TCP.", COUNTER,
                be->st.lines_acked);
    PER_BACKEND("backend.lines_resent", "Lines sent again after a connection failed.",
                COUNTER, be->st.lines_resent);
    PER_BACKEND("backend.lag_events", "Times a connection made no progress for write-timeout.",
                COUNTER, be->st.lag_events);
    PER_BACKEND("backend.dropped", "Lines dropped for the backend: its share was full and its "
                "overflow is drop.", COUNTER, be->st.dropped);
    PER_BACKEND("backend.queue_share_bytes", "The backend's share of the queue memory "
                "(max-queue-bytes).", GAUGE, be->max_queue_bytes);
    PER_BACKEND("backend.barriers", "Version barriers written (ack = version).", COUNTER,
                be->st.barriers);
    PER_BACKEND("backend.barriers_answered", "Version barriers the TSD answered.", COUNTER,
                be->st.barriers_answered);
    PER_BACKEND("backend.ack_timeouts", "Connections failed for a barrier unanswered for "
                "ack-timeout.", COUNTER, be->st.ack_timeouts);
    PER_BACKEND("backend.pacing_waits", "Writes held back by max-rate.", COUNTER,
                be->st.pacing_waits);
    PER_BACKEND("backend.resolve_failures", "Lookups of the backend's host name that failed.",
                COUNTER, be->st.resolve_failures);
    PER_BACKEND("backend.spool_entries", "Entries in the backend's Redis spool.", GAUGE,
                spool_backend_entries(be));
    PER_BACKEND("backend.spool_bytes", "Bytes in the backend's Redis spool and in flight.",
                GAUGE, spool_backend_bytes(be));
    PER_BACKEND("backend.staged_bytes", "Bytes staged in memory on their way to Redis.",
                GAUGE, spool_backend_staged_bytes(be));
    /* status page (issue 14): how long the oldest waiting line has waited */
    for (int b_ = 0; b_ < r->nbackends; b_++) {
        s.name = "backlog.age_seconds";
        s.help = "Seconds the oldest line waiting for the backend has waited (0: none).";
        s.type = GAUGE;
        s.tagk = "backend";
        s.tagv = r->backends[b_].cfg->name;
        s.value = spool_backlog_age_ms(&r->backends[b_]) * 1000000u;
        s.ns_as_seconds = true;
        fn(ctx, &s);
    }

    const struct spool_stats *ss = spool_get_stats(r->spool);
    static const struct spool_stats none;
    if (ss == NULL)
        ss = &none;
    EMIT("spool.connected", "1 when the Redis spool is connected and ready.", GAUGE, NULL,
         NULL, spool_connected(r->spool) ? 1 : 0);
    EMIT("spool.full", "1 while Redis refuses writes (OOM at maxmemory, READONLY, MISCONF): new "
         "data stays in memory under overflow, the spool is still drained.", GAUGE, NULL, NULL,
         spool_full(r->spool) ? 1 : 0);
    EMIT("spool.full_episodes", "Times Redis began refusing writes.", COUNTER, NULL, NULL,
         ss->full_episodes);
    const struct fleet_stats *fs = spool_fleet_stats(r->spool);
    static const struct fleet_stats nofleet;
    if (fs == NULL)
        fs = &nofleet;
    EMIT("fleet.takeovers", "Spools of dead instances this relay took over (leases won).",
         COUNTER, NULL, NULL, fs->takeovers);
    EMIT("fleet.entries_for_others", "Entries of dead instances' spools delivered and deleted.",
         COUNTER, NULL, NULL, fs->entries_for_others);
    EMIT("fleet.points_for_others", "Lines of dead instances' spools queued to this relay's "
         "backends.", COUNTER, NULL, NULL, fs->points_for_others);
    EMIT("fleet.lists_skipped", "Lists of dead instances for backends this relay does not have.",
         COUNTER, NULL, NULL, fs->lists_skipped);
    EMIT("fleet.leases_lost", "Takeovers stopped because the lease could not be renewed.",
         COUNTER, NULL, NULL, fs->leases_lost);
    EMIT("fleet.released", "Takeovers given back: the instance came back.", COUNTER, NULL,
         NULL, fs->released);
    EMIT("fleet.held_off", "Times this instance found its own spool leased by another relay.",
         COUNTER, NULL, NULL, fs->held_off);
    EMIT("spool.refused", "Writes Redis refused.", COUNTER, NULL, NULL, ss->refused);
    EMIT("spool.replica_shortfalls", "WAITs answered by fewer replicas than min-replicas-ack.",
         COUNTER, NULL, NULL, ss->replica_shortfalls);
    EMIT("spool.unreplicated_delivered", "Spooled lines counted as stored once delivered to a "
         "backend, before min-replicas-ack replicas confirmed them.",
         COUNTER, NULL, NULL, ss->unreplicated_delivered);
    EMIT("spool.bytes", "Bytes held in Redis by the spool.", GAUGE, NULL, NULL,
         spool_total_bytes(r->spool));
    EMIT("spool.pushes", "Entries written to Redis.", COUNTER, NULL, NULL, ss->pushes);
    EMIT("spool.push_failures", "Entry writes that failed (kept in memory).", COUNTER, NULL,
         NULL, ss->push_failures);
    EMIT("spool.drains", "Entries taken back from Redis.", COUNTER, NULL, NULL, ss->drains);
    EMIT("spool.lines_evacuated",
         "Lines a failed connection or a shutdown moved from memory to the spool head.", COUNTER,
         NULL, NULL, ss->lines_evacuated);
    EMIT("spool.acks", "Drained entries deleted after delivery.", COUNTER, NULL, NULL, ss->acks);
    EMIT("spool.requeued", "In-flight entries put back after a restart or lost reply.",
         COUNTER, NULL, NULL, ss->requeued);
    EMIT("spool.corrupt", "Entries that failed to decode (set aside).", COUNTER, NULL, NULL,
         ss->corrupt);
    EMIT("spool.raw_bytes", "Line bytes before compression.", COUNTER, NULL, NULL,
         ss->raw_bytes);
    EMIT("spool.stored_bytes", "Entry bytes after compression.", COUNTER, NULL, NULL,
         ss->stored_bytes);
    EMIT("spool.redis_connects", "Connections made to Redis.", COUNTER, NULL, NULL,
         ss->connects);
    EMIT("spool.resolve_failures", "Lookups of the Redis, Sentinel or master host names that "
         "failed.", COUNTER, NULL, NULL, ss->master.resolve_failures);
    EMIT("spool.sentinel_queries", "Sentinels asked for the master's address.", COUNTER, NULL,
         NULL, ss->master.queries);
    EMIT("spool.sentinel_failures", "Rounds in which no Sentinel named the master.", COUNTER,
         NULL, NULL, ss->master.failures);
    EMIT("spool.master_changes", "Times the Sentinels named another master than before.",
         COUNTER, NULL, NULL, ss->master.master_changes);
    EMIT("spool.not_master", "Connections to a named master whose ROLE was not master.",
         COUNTER, NULL, NULL, ss->master.not_master);

    EMIT("memory.queued", "Bytes of data queued (backend queues and staging).", GAUGE, NULL,
         NULL, queued_bytes);
    EMIT("memory.live", "Pool bytes in use (blocks handed out and charged buffers).", GAUGE,
         NULL, NULL, pool_used_bytes(&r->pool));
    EMIT("memory.reserved", "Pool bytes held from the OS (live plus cached free blocks).",
         GAUGE, NULL, NULL, pool_reserved_bytes(&r->pool));
    EMIT("memory.rss", "Resident set size of the process.", GAUGE, NULL, NULL,
         stats_rss_bytes());
    EMIT("memory.class", "Pool bytes in use by class: queue (data on its way), input (units "
         "being received, replies), control (stats answers).", GAUGE, "class", "queue",
         r->pool.used[POOL_QUEUE]);
    EMIT("memory.class", "", GAUGE, "class", "input", r->pool.used[POOL_INPUT]);
    EMIT("memory.class", "", GAUGE, "class", "control", r->pool.used[POOL_CONTROL]);
    EMIT("memory.input_limit", "input-memory: the most partial units may hold.", GAUGE, NULL,
         NULL, r->pool.input_limit);
    EMIT("memory.control_reserve", "control-reserve: budget only stats answers may use.", GAUGE,
         NULL, NULL, r->pool.control_reserve);
    EMIT("memory.input_waiting", "Bytes clients wait to be granted.", GAUGE, NULL, NULL,
         r->adm.bytes_waiting);
    EMIT("memory.input_forced", "Input held past input-memory (should stay 0).", COUNTER, NULL,
         NULL, r->clients.st.forced);
    EMIT("memory.connections", "Client structures and decoders, accounted apart from the budget.",
         GAUGE, NULL, NULL, r->clients.connection_bytes);
    EMIT("memory.limit", "memory-limit: the pool never reserves more.", GAUGE, NULL, NULL,
         r->pool.limit);
    EMIT("memory.peak_live", "Highest pool bytes in use so far.", GAUGE, NULL, NULL,
         r->pool.peak_used_bytes);
    EMIT("memory.history", "Bytes of the status-page history ring (fixed, in memory.live).",
         GAUGE, NULL, NULL, history_bytes(r->history));
    EMIT("memory.refusals", "Pool requests refused: budget exhausted.", COUNTER, NULL, NULL,
         r->pool.stats.get_failures + r->pool.stats.charge_failures);
    EMIT("latency.samples", "Backend writes measured for latency.", COUNTER, NULL, NULL,
         g_stats.latency.samples);
    SECONDS("latency.p50_seconds", "Median time lines spend inside the relay (read to write).",
            latency_quantile(&g_stats.latency, 0.5));
    SECONDS("latency.p99_seconds", "99th percentile time inside the relay (read to write).",
            latency_quantile(&g_stats.latency, 0.99));
    SECONDS("latency.max_seconds", "Longest time inside the relay (read to write).",
            g_stats.latency.max_ns);
    const struct log_stats *ls = log_get_stats();
    EMIT("log.lines", "Log lines written.", COUNTER, NULL, NULL, ls->lines);
    EMIT("log.dropped", "Log lines dropped: the log sink was too slow.", COUNTER, NULL, NULL,
         ls->dropped);
    EMIT("log.suppressed", "Log lines held back by rate limiting.", COUNTER, NULL, NULL,
         ls->suppressed);
#undef PER_BACKEND
#undef PER_PROTO
#undef SECONDS
#undef EMIT
}

/* ---- writers ----------------------------------------------------------- */

struct out {
    struct textout t;
    struct relay *r;
    uint64_t now;
    const char *last_name;
    int count;
};


static void
line_sample(void *ctx, const struct sample *s)
{
    struct out *o = ctx;
    char v[32];
    textout_printf(&o->t, "tsrelay.%s %llu %s", s->name, (unsigned long long)o->now,
         value_text(s, v, sizeof(v)));
    if (s->tagk != NULL)
        textout_printf(&o->t, " %s=%s", s->tagk, s->tagv);
    textout_printf(&o->t, " host=%s\n", o->r->hostname);
}

size_t
stats_format_telnet(struct relay *r, char *out, size_t cap)
{
    struct out o = { .t = { .p = out, .cap = cap }, .r = r, .now = (uint64_t)time(NULL) };
    collect(r, line_sample, &o);
    return o.t.len;
}

static void
put_sample(void *ctx, const struct sample *s)
{
    struct out *o = ctx;
    textout_printf(&o->t, "put ");
    line_sample(ctx, s);
}

size_t
stats_format_puts(struct relay *r, char *out, size_t cap)
{
    struct out o = { .t = { .p = out, .cap = cap }, .r = r, .now = (uint64_t)time(NULL) };
    collect(r, put_sample, &o);
    return o.t.len;
}

static void
json_sample(void *ctx, const struct sample *s)
{
    struct out *o = ctx;
    char v[32];
    textout_printf(&o->t, "%s{\"metric\":\"tsrelay.%s\",\"timestamp\":%llu,\"value\":\"%s\",\"tags\":{",
         o->count++ ? "," : "", s->name, (unsigned long long)o->now,
         value_text(s, v, sizeof(v)));
    if (s->tagk != NULL)
        textout_printf(&o->t, "\"%s\":\"%s\",", s->tagk, s->tagv);
    textout_printf(&o->t, "\"host\":\"%s\"}}", o->r->hostname);
}

size_t
stats_format_json(struct relay *r, char *out, size_t cap)
{
    struct out o = { .t = { .p = out, .cap = cap }, .r = r, .now = (uint64_t)time(NULL) };
    textout_printf(&o.t, "[");
    collect(r, json_sample, &o);
    textout_printf(&o.t, "]");
    return o.t.len;
}

static void
prom_sample(void *ctx, const struct sample *s)
{
    struct out *o = ctx;
    char name[128];
    size_t n = 0;
    n += (size_t)snprintf(name, sizeof(name), "tsrelay_");
    for (const char *c = s->name; *c && n < sizeof(name) - 8; c++)
        name[n++] = *c == '.' ? '_' : *c;
    name[n] = '\0';
    if (s->type == COUNTER)
        snprintf(name + n, sizeof(name) - n, "_total");
    if (o->last_name == NULL || strcmp(o->last_name, s->name) != 0) {
        textout_printf(&o->t, "# HELP %s %s\n# TYPE %s %s\n", name, s->help, name,
             s->type == COUNTER ? "counter" : "gauge");
        o->last_name = s->name;
    }
    char v[32];
    value_text(s, v, sizeof(v));
    if (s->tagk != NULL)
        textout_printf(&o->t, "%s{%s=\"%s\"} %s\n", name, s->tagk, s->tagv, v);
    else
        textout_printf(&o->t, "%s %s\n", name, v);
}

size_t
stats_format_prometheus(struct relay *r, char *out, size_t cap)
{
    struct out o = { .t = { .p = out, .cap = cap }, .r = r };
    collect(r, prom_sample, &o);
    return o.t.len;
}
