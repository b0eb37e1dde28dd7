/*
 * stats.c -- the relay's counters and their renderings.
 *
 * One collector walks every counter once (name, help, type, one optional
 * tag), part by part (protocols, clients, access, points, rules and groups,
 * backends -- those in stats_backends.c --, spool, the new-series guard,
 * memory, the C heap, latency and log; tables where the
 * counters are a struct's fields); the writers format what it yields as TSD
 * stats lines, /api/stats JSON, Prometheus text or put lines.  Samples of
 * one metric name are always yielded together, so Prometheus HELP/TYPE
 * lines appear once.  It reads counters only and never allocates.
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
#include "output/backend_http.h"
#include "ops/history.h"
#include "base/log.h"
#include "core/proxy.h"
#include "core/flow.h"
#include "core/relay.h"
#include "input/syncwait.h"
#include "core/series_guard.h"
#include "spool/fleet.h"
#include "spool/rejected.h"
#include "spool/spool.h"
#include "base/counters.h"
#include "ops/stats.h"
#include "base/textout.h"
#include "base/tls.h"
#include "base/util.h"
#include "input/listener.h"
#include "input/tls_server.h"

#include "ops/stats_emit.h"

/* ---- clients and their protocols ---------------------------------------- */

static const char *const proto_tag[] = { "auto", "telnet", "framed", "http" };

/* One sample per protocol of a proto_stats field. */
static void
emit_per_proto(const struct emitter *e, const struct field *f)
{
    for (int p = PROTO_TELNET; p <= PROTO_HTTP; p++)
        emit_tagged(e, f->name, f->help, f->type, "proto", proto_tag[p],
                   field_value(&g_stats.proto[p], f));
}

#define PROTO_FIELD(n, h, t, member) { n, h, t, offsetof(struct proto_stats, member) }

static const struct field proto_received =
    PROTO_FIELD("points.received", "Data points received (valid and invalid).", COUNTER,
                in.received);
static const struct field proto_fields[] = {
    PROTO_FIELD("points.invalid", "Data points rejected by validation.", COUNTER, in.invalid),
    PROTO_FIELD("points.refused", "Valid data points refused by the relay's rules or limits.",
                COUNTER, in.refused),
    PROTO_FIELD("lines.too_long", "Telnet lines over max-line-bytes, discarded.", COUNTER,
                in.too_long),
    PROTO_FIELD("commands", "Non-data commands (version, stats, help, exit, ...).", COUNTER,
                in.commands),
    PROTO_FIELD("bytes.received", "Bytes read from clients.", COUNTER, bytes_in),
    PROTO_FIELD("replies.dropped_bytes",
                "Reply bytes dropped because a client did not read its replies.", COUNTER,
                replies_dropped),
};
static const struct field proto_current =
    PROTO_FIELD("clients.current", "Open client connections.", GAUGE, active);
static const struct field proto_accepted =
    PROTO_FIELD("clients.accepted", "Client connections accepted.", COUNTER, connections);

static void
collect_protocols(struct relay *r, const struct emitter *e)
{
    emit_untagged(e, "uptime", "Seconds since tsrelay started.", GAUGE,
        (uint64_t)time(NULL) - g_stats.start_time);
    emit_per_proto(e, &proto_received);
    emit_tagged(e, proto_received.name, proto_received.help, COUNTER, "proto", "internal",
               g_stats.stats_lines_sent);
    for (size_t i = 0; i < TS_ARRAY_LEN(proto_fields); i++)
        emit_per_proto(e, &proto_fields[i]);
    emit_per_proto(e, &proto_current);
    emit_tagged(e, proto_current.name, proto_current.help, GAUGE, "proto", "pending",
               r->clients.pending);
    emit_per_proto(e, &proto_accepted);
}

static void
collect_clients(struct relay *r, const struct emitter *e)
{
    emit_untagged(e, "clients.rejected", "Connections refused (max-clients and control-slots, shutdown).",
        COUNTER, g_stats.clients_rejected);
    emit_untagged(e, "clients.control_slots", "Open stats-only connections taken over max-clients.",
        GAUGE, r->clients.control_only);
    emit_untagged(e, "clients.control_slot_accepts", "Stats-only connections taken over max-clients.",
        COUNTER, g_stats.clients_control_slot);
    emit_untagged(e, "clients.waiting_memory",
        "Clients waiting for input memory (admission), holding nothing.", GAUGE,
        r->adm.nwaiting);
    emit_untagged(e, "clients.waiting_room", "Clients waiting for room in the queues.", GAUGE,
        r->adm.nroom);
    emit_seconds(e, "clients.longest_wait_seconds", "The longest current wait for memory or room.",
                NULL, NULL, (uint64_t)(admission_longest_wait(&r->adm, ev_now(r->loop)) * 1e9));
    emit_untagged(e, "admission.grants", "Input memory granted to clients for their units.", COUNTER,
        r->adm.st.grants);
    emit_untagged(e, "admission.waits", "Units that had to wait for input memory.", COUNTER,
        r->adm.st.waits);
    emit_untagged(e, "admission.room_waits", "Times a decoder stopped for room in the queues.", COUNTER,
        r->adm.st.room_waits);
    emit_untagged(e, "clients.timed_out", "Clients closed by idle-timeout or read-timeout.", COUNTER,
        g_stats.clients_timed_out);
    emit_untagged(e, "frames.received", "Framed packets received (heartbeats excluded).", COUNTER,
        g_stats.framed.frames);
    emit_untagged(e, "frames.heartbeats", "Framed heartbeats (length 0).", COUNTER,
        g_stats.framed.heartbeats);
    emit_tagged(e, "frames.rejected", "Framed packets rejected.", COUNTER, "reason", "oversize",
               g_stats.framed.rejected_oversize);
    emit_tagged(e, "frames.rejected", "Framed packets rejected.", COUNTER, "reason", "json",
               g_stats.framed.rejected_json);
    emit_untagged(e, "config.reloads", "Configurations applied on SIGHUP.", COUNTER, g_stats.reloads);
    emit_untagged(e, "config.reload_refusals",
        "Configuration files refused on SIGHUP (the running one stays).", COUNTER,
        g_stats.reload_refusals);
    emit_untagged(e, "http.requests", "HTTP requests served.", COUNTER, g_stats.http_requests);
    emit_untagged(e, "http.errors", "HTTP responses with status >= 400.", COUNTER, g_stats.http_errors);
    emit_untagged(e, "http.details_truncated", "?details error entries left out (over max-http-body-bytes).",
        COUNTER, g_stats.http_details_truncated);
    uint64_t waiting = 0;
    for (struct client *c = r->clients.syncing; c != NULL; c = c->sw->next)
        waiting++;
    emit_untagged(e, "http.sync_waiting", "/api/put?sync requests waiting for their points' "
        "proofs.", GAUGE, waiting);
    emit_untagged(e, "http.sync_proven", "/api/put?sync requests answered once every point was "
        "proven.", COUNTER, g_stats.http_sync_proven);
    emit_untagged(e, "http.sync_timeouts", "/api/put?sync requests answered with the TSD's "
        "timeout answer (sync_timeout or sync-max-wait passed).", COUNTER,
        g_stats.http_sync_timeouts);
}

/* ---- who may come in: TLS, allow-lists, Redis logins -------------------- */

static void
collect_access(struct relay *r, const struct emitter *e)
{
    const struct tls_counts *t = &g_stats.tls;
    emit_untagged(e, "tls.handshakes", "TLS handshakes completed on the listeners.", COUNTER,
        t->handshakes);
    for (int f = 0; f < TLS_FAIL_COUNT; f++)
        emit_tagged(e, "tls.failures", "TLS handshakes that failed on the listeners, by "
                   "reason.", COUNTER, "reason", tls_fail_name((enum tls_fail)f),
                   t->failures[f]);
    emit_untagged(e, "tls.handshaking", "TLS clients in their handshake now (at most "
        "max-handshakes).", GAUGE, t->handshaking);
    emit_untagged(e, "tls.waiting", "TLS clients waiting for a handshake slot.", GAUGE,
        t->waiting);
    emit_untagged(e, "tls.waits", "TLS clients that had to wait for a handshake slot.",
        COUNTER, t->waits);
    emit_untagged(e, "tls.clients", "TLS clients open (handshake done).", GAUGE, t->open);
    emit_untagged(e, "tls.memory", "Bytes OpenSSL holds (contexts, connections, buffers).",
        GAUGE, tls_memory_bytes());
    emit_untagged(e, "tls.cert_not_after", "When the listeners' certificate expires (unix "
        "seconds; 0: no TLS listener).", GAUGE,
        r->clients.tls != NULL && r->clients.tls->not_after > 0
            ? (uint64_t)r->clients.tls->not_after : 0);
    for (int i = 0; i < r->nlisteners; i++)
        if (r->listeners[i].fd >= 0)
            emit_tagged(e, "clients.denied", "Connections closed at accept: the address is "
                       "not in the listener's allow= list.", COUNTER, "listener",
                       r->listeners[i].tag, r->listeners[i].denied);
    emit_untagged(e, "admin.denied", "Stats and status requests refused by admin-allow.",
        COUNTER, g_stats.admin_denied);
    const struct spool_stats *ss = spool_get_stats(r->spool);
    emit_tagged(e, "redis.auth_failures", "Logins Redis (server=redis) or a Sentinel refused.",
               COUNTER, "server", "redis", spool_auth_failures(r->spool));
    emit_tagged(e, "redis.auth_failures", "", COUNTER, "server", "sentinel",
               ss != NULL ? ss->master.auth_failures : 0);
}

/* ---- points ------------------------------------------------------------- */

static void
collect_points(struct relay *r, const struct emitter *e)
{
    uint64_t queued_lines = 0;
    for (int i = 0; i < r->nbackends; i++)
        queued_lines += backend_queued_lines(&r->backends[i]);
    emit_untagged(e, "points.forwarded", "Lines acknowledged by a backend's TCP.", COUNTER,
        g_stats.points_forwarded);
    emit_untagged(e, "points.queued", "Lines in backend queues, not yet acknowledged.", GAUGE,
        queued_lines);
    emit_untagged(e, "points.rejected", "Lines a backend refused for good (protocol = http: "
        "Unknown metric, ...; kept, see rejected.*).", COUNTER, g_stats.points_rejected);
    emit_untagged(e, "points.spooled", "Lines that went into the spool.", COUNTER, g_stats.points_spooled);
    emit_untagged(e, "points.unspooled", "Lines taken out of the spool into a backend queue.", COUNTER,
        g_stats.points_unspooled);
    emit_untagged(e, "points.taken_over", "Lines of a dead instance's spool queued here (received there).",
        COUNTER, g_stats.points_taken_over);
    emit_untagged(e, "points.spool_pending", "Lines in the spool (spooled - unspooled).", GAUGE,
        g_stats.points_spooled > g_stats.points_unspooled
            ? g_stats.points_spooled - g_stats.points_unspooled : 0);
    emit_untagged(e, "points.dropped", "Valid lines dropped (overflow = drop, or out of memory).", COUNTER,
        g_stats.points_dropped);
    emit_untagged(e, "points.rule_dropped", "Valid points a rule dropped (action = drop).", COUNTER,
        g_stats.points_rule_dropped);
    emit_untagged(e, "points.copies", "Lines beyond the first when a point went to more than one "
        "backend (routing = all, send to several groups).", COUNTER, g_stats.points_copies);
}

/* ---- rules and groups ---------------------------------------------------- */

#define RULE_FIELD(n, h, member) { n, h, COUNTER, offsetof(struct rule_stats, member) }

static const struct field rule_fields[] = {
    RULE_FIELD("rule.matched", "Points a rule's conditions held for (its action ran).", matched),
    RULE_FIELD("rule.dropped", "Points a rule dropped (action = drop).", dropped),
    RULE_FIELD("rule.refused", "Points a rule changed into one the TSD would refuse (refused, "
               "answered as invalid).", refused),
    RULE_FIELD("rule.errors", "Pattern runs of a rule that PCRE2 gave up on (rule-match-limit): "
               "taken as no match.", errors),
};

static void
collect_rules(struct relay *r, const struct emitter *e)
{
    if (r->flow == NULL)
        return; /* not built yet (a relay without backends) */
    const struct ruleset *rs = r->flow->rules;
    for (size_t f = 0; f < TS_ARRAY_LEN(rule_fields); f++)
        for (int i = 0; i < rs->nrules; i++)
            emit_tagged(e, rule_fields[f].name, rule_fields[f].help, COUNTER, "rule",
                        rs->rules[i].name, field_value(&rs->rules[i].st, &rule_fields[f]));
    const struct groups *gs = &r->flow->groups;
    for (int g = 0; g < gs->n; g++)
        emit_tagged(e, "group.points", "Points sent to a group (each goes to its backend(s) by "
                    "the group's routing).", COUNTER, "group", gs->g[g].name, gs->g[g].points);
    emit_untagged(e, "rules.cache_hits", "Metric names the rules' cache knew (their match "
        "patterns not run again).", COUNTER, rs->cache.hits);
    emit_untagged(e, "rules.cache_misses", "Metric names the rules' cache did not know (every match "
        "pattern ran once, remembered).", COUNTER, rs->cache.misses);
    emit_untagged(e, "rules.cache_uncached", "Metric names too long for the rules' cache "
        "(their patterns ran each time; with the cache off nothing is counted).", COUNTER, rs->cache.uncached);
    emit_untagged(e, "memory.rules", "Bytes of the rules' buffers and metric cache (rule-cache), "
        "accounted apart from memory-limit.", GAUGE, rules_bytes(rs));
}

/* ---- the spool and the fleet -------------------------------------------- */

#define FLEET_FIELD(n, h, member) { n, h, COUNTER, offsetof(struct fleet_stats, member) }

static const struct field fleet_fields[] = {
    FLEET_FIELD("fleet.takeovers", "Spools of dead instances this relay took over (leases won).",
                takeovers),
    FLEET_FIELD("fleet.entries_for_others",
                "Entries of dead instances' spools delivered and deleted.", entries_for_others),
    FLEET_FIELD("fleet.points_for_others",
                "Lines of dead instances' spools queued to this relay's backends.",
                points_for_others),
    FLEET_FIELD("fleet.lists_skipped",
                "Lists of dead instances for backends this relay does not have.", lists_skipped),
    FLEET_FIELD("fleet.leases_lost", "Takeovers stopped because the lease could not be renewed.",
                leases_lost),
    FLEET_FIELD("fleet.released", "Takeovers given back: the instance came back.", released),
    FLEET_FIELD("fleet.held_off",
                "Times this instance found its own spool leased by another relay.", held_off),
};

#define SPOOL_FIELD(n, h, member) { n, h, COUNTER, offsetof(struct spool_stats, member) }

static const struct field spool_replication_fields[] = {
    SPOOL_FIELD("spool.refused", "Writes Redis refused.", refused),
    SPOOL_FIELD("spool.replica_shortfalls",
                "WAITs answered by fewer replicas than min-replicas-ack.", replica_shortfalls),
    SPOOL_FIELD("spool.unreplicated_delivered", "Spooled lines counted as stored once "
                "delivered to a backend, before min-replicas-ack replicas confirmed them.",
                unreplicated_delivered),
};

static const struct field spool_fields[] = {
    SPOOL_FIELD("spool.pushes", "Entries written to Redis.", pushes),
    SPOOL_FIELD("spool.push_failures", "Entry writes that failed (kept in memory).",
                push_failures),
    SPOOL_FIELD("spool.drains", "Entries taken back from Redis.", drains),
    SPOOL_FIELD("spool.lines_evacuated",
                "Lines a failed connection or a shutdown moved from memory to the spool head.",
                lines_evacuated),
    SPOOL_FIELD("spool.acks", "Drained entries deleted after delivery.", acks),
    SPOOL_FIELD("spool.requeued", "In-flight entries put back after a restart or lost reply.",
                requeued),
    SPOOL_FIELD("spool.corrupt", "Entries that failed to decode (set aside).", corrupt),
    SPOOL_FIELD("spool.raw_bytes", "Line bytes before compression.", raw_bytes),
    SPOOL_FIELD("spool.stored_bytes", "Entry bytes after compression.", stored_bytes),
    SPOOL_FIELD("spool.redis_connects", "Connections made to Redis.", connects),
    SPOOL_FIELD("spool.resolve_failures",
                "Lookups of the Redis, Sentinel or master host names that failed.",
                master.resolve_failures),
    SPOOL_FIELD("spool.sentinel_queries", "Sentinels asked for the master's address.",
                master.queries),
    SPOOL_FIELD("spool.sentinel_failures", "Rounds in which no Sentinel named the master.",
                master.failures),
    SPOOL_FIELD("spool.master_changes", "Times the Sentinels named another master than before.",
                master.master_changes),
    SPOOL_FIELD("spool.not_master", "Connections to a named master whose ROLE was not master.",
                master.not_master),
};

static void
collect_spool(struct relay *r, const struct emitter *e)
{
    static const struct spool_stats no_spool;
    static const struct fleet_stats no_fleet;
    const struct spool_stats *ss = spool_get_stats(r->spool);
    const struct fleet_stats *fs = spool_fleet_stats(r->spool);
    ss = ss != NULL ? ss : &no_spool;
    fs = fs != NULL ? fs : &no_fleet;
    emit_untagged(e, "spool.connected", "1 when the Redis spool is connected and ready.", GAUGE,
        spool_connected(r->spool) ? 1 : 0);
    emit_untagged(e, "spool.full", "1 while Redis refuses writes (OOM at maxmemory, READONLY, MISCONF): "
        "new data stays in memory under overflow, the spool is still drained.", GAUGE,
        spool_full(r->spool) ? 1 : 0);
    emit_untagged(e, "spool.full_episodes", "Times Redis began refusing writes.", COUNTER,
        ss->full_episodes);
    emit_fields(e, fleet_fields, TS_ARRAY_LEN(fleet_fields), fs);
    emit_fields(e, spool_replication_fields, TS_ARRAY_LEN(spool_replication_fields), ss);
    emit_untagged(e, "spool.bytes", "Bytes held in Redis by the spool.", GAUGE,
        spool_total_bytes(r->spool));
    emit_fields(e, spool_fields, TS_ARRAY_LEN(spool_fields), ss);
}

/* ---- the new-series guard ([limits]) -------------------------------------- */

#define LIMITS_TOP 10   /* entries of each table shown */

/* A client's address or a metric's name as a tag value every writer can
 * take (a TSD tag, JSON, a Prometheus label): bytes other than
 * [A-Za-z0-9._/-] become '_' (an IPv6 address's ':' too); the status page
 * shows names as they are. */
static const char *
limits_tag(const char *name, size_t len, char *buf, size_t cap)
{
    size_t n = TS_MIN(len, cap - 1);
    for (size_t i = 0; i < n; i++) {
        unsigned char c = (unsigned char)name[i];
        bool ok = (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || (c >= '0' && c <= '9') ||
                  c == '.' || c == '_' || c == '/' || c == '-';
        buf[i] = ok ? (char)c : '_';
    }
    buf[n] = '\0';
    return buf;
}

/* The top entries of one table: their new series in the last hour
 * (attempts, refused ones included) and those let through. */
static void
collect_limits_top(const struct emitter *e, const struct topk *t, const char *tagk,
                   const char *attempts, const char *kept)
{
    size_t top[LIMITS_TOP];
    size_t n = topk_top(t, top, LIMITS_TOP);
    char buf[TOPK_NAME_MAX + 1];
    struct sample s = { .type = GAUGE, .tagk = tagk, .tagv = buf, .passing_tag = true };
    for (int pass = 0; pass < 2; pass++)
        for (size_t i = 0; i < n; i++) {
            s.name = pass == 0 ? attempts : kept;
            s.help = pass == 0 ? "New series in the last hour, refused ones included (an "
                                 "upper bound; the table keeps the heaviest)."
                               : "New series let through in the last hour.";
            limits_tag(t->e[top[i]].name, t->e[top[i]].name_len, buf, sizeof(buf));
            s.value = pass == 0 ? topk_upper(t, top[i]) : topk_kept(t, top[i]);
            e->fn(e->ctx, &s);
        }
}

static void
collect_limits(struct relay *r, const struct emitter *e)
{
    static const struct series_guard_stats none;
    const struct series_guard *g = r->guard;
    const struct series_guard_stats *st = g != NULL ? &g->st : &none;
    emit_untagged(e, "limits.new_series", "New series let through (not seen in the window).",
        COUNTER, st->new_series);
    emit_untagged(e, "limits.new_series_last_hour", "New series let through in the last hour.",
        GAUGE, g != NULL ? g->last_hour : 0);
    emit_untagged(e, "limits.new_series_last_day", "New series let through in the last 24 hours.",
        GAUGE, g != NULL ? g->last_day : 0);
    for (int l = 0; l < GL_COUNT; l++)
        emit_tagged(e, "limits.refused", "Points of new series refused, by the limit that "
                    "refused them.", COUNTER, "limit", series_guard_limit_name(l),
                    st->refused[l]);
    for (int l = 0; l < GL_COUNT; l++)
        emit_tagged(e, "limits.logged", "Points of new series over a limit let through "
                    "(on-limit = log).", COUNTER, "limit", series_guard_limit_name(l),
                    st->logged[l]);
    for (int l = 0; l < GL_COUNT; l++)
        emit_tagged(e, "limits.limit", "The limit in force (0: unlimited).", GAUGE, "limit",
                    series_guard_limit_name(l), g != NULL ? series_guard_limit_value(g, l) : 0);
    emit_tagged(e, "limits.series_tracked", "Series remembered, by filter (a series seen in "
                "both windows is in both).", GAUGE, "filter", "current",
                g != NULL ? series_guard_tracked(g, false) : 0);
    emit_tagged(e, "limits.series_tracked", "", GAUGE, "filter", "previous",
                g != NULL ? series_guard_tracked(g, true) : 0);
    emit_untagged(e, "limits.series_capacity", "Series one filter holds before the filters rotate.",
        GAUGE, g != NULL ? series_guard_capacity(g) : 0);
    emit_untagged(e, "limits.rotations", "Times the current filter was full and a new one began.",
        COUNTER, st->rotations);
    emit_untagged(e, "limits.kept_from_previous", "Series found in the previous filter only, "
        "copied to the current one (not new).", COUNTER, st->kept_from_previous);
    emit_untagged(e, "limits.window_seconds", "How far back the memory of seen series reaches.",
        GAUGE, g != NULL ? series_guard_window_s(g) : 0);
    emit_untagged(e, "limits.false_positive_ppm", "Chance now, per million, that a new series "
        "is taken for a seen one (and let through uncounted).", GAUGE,
        g != NULL ? (uint64_t)(series_guard_fpr(g) * 1e6 + 0.5) : 0);
    emit_untagged(e, "limits.memory_bytes", "series-memory in use (filters and tables, in "
        "memory.live).", GAUGE, g != NULL ? g->bytes : 0);
    if (g == NULL)
        return;
    collect_limits_top(e, &g->clients, "client", "limits.top_client_new_series",
                       "limits.top_client_let_through");
    collect_limits_top(e, &g->metrics, "metric", "limits.top_metric_new_series",
                       "limits.top_metric_let_through");
}

/* ---- memory, latency, the log ------------------------------------------- */

static void
collect_memory(struct relay *r, const struct emitter *e)
{
    const struct pool *p = &r->pool;
    uint64_t queued_bytes = 0;
    for (int i = 0; i < r->nbackends; i++)
        queued_bytes += backend_queued_bytes(&r->backends[i]) +
                        spool_backend_staged_bytes(&r->backends[i]);
    emit_untagged(e, "memory.queued", "Bytes of data queued (backend queues and staging).", GAUGE,
        queued_bytes);
    emit_untagged(e, "memory.live", "Pool bytes in use (blocks handed out and charged buffers).", GAUGE,
        pool_used_bytes(p));
    emit_untagged(e, "memory.reserved", "Pool bytes held from the OS (live plus cached free blocks).",
        GAUGE, pool_reserved_bytes(p));
    emit_untagged(e, "memory.rss", "Resident set size of the process.", GAUGE, stats_rss_bytes());
    emit_tagged(e, "memory.class", "Pool bytes in use by class: queue (data on its way), input "
               "(units being received, replies), control (stats answers).", GAUGE, "class",
               "queue", p->used[POOL_QUEUE]);
    emit_tagged(e, "memory.class", "", GAUGE, "class", "input", p->used[POOL_INPUT]);
    emit_tagged(e, "memory.class", "", GAUGE, "class", "control", p->used[POOL_CONTROL]);
    emit_untagged(e, "memory.input_limit", "input-memory: the most partial units may hold.", GAUGE,
        p->input_limit);
    emit_untagged(e, "memory.control_reserve", "control-reserve: budget only stats answers may use.",
        GAUGE, p->control_reserve);
    emit_untagged(e, "memory.input_waiting", "Bytes clients wait to be granted.", GAUGE,
        r->adm.bytes_waiting);
    emit_untagged(e, "memory.input_forced", "Input held past input-memory (should stay 0).", COUNTER,
        r->clients.st.forced);
    emit_untagged(e, "memory.connections", "Client structures and decoders, accounted apart from the "
        "budget.", GAUGE, r->clients.connection_bytes);
    emit_untagged(e, "memory.limit", "memory-limit: the pool never reserves more.", GAUGE, p->limit);
    emit_untagged(e, "memory.peak_live", "Highest pool bytes in use so far.", GAUGE, p->peak_used_bytes);
    emit_untagged(e, "memory.history", "Bytes of the status-page history ring (fixed, in memory.live).",
        GAUGE, history_bytes(r->history));
    emit_untagged(e, "memory.refusals", "Pool requests refused: budget exhausted.", COUNTER,
        p->stats.get_failures + p->stats.charge_failures);
}

/* The C heap beside the pool (base/counters.h, base/heap.h): what malloc
 * holds, and what giving its free pages back at rest did and cost. */
static void
collect_heap(struct relay *r, const struct emitter *e)
{
    (void)r;
    struct malloc_reading m;
    stats_malloc(&m);
    emit_untagged(e, "memory.malloc_in_use", "C heap bytes malloc handed out and did not get back "
        "(libraries, connections, the history ring; beside the pool).", GAUGE, m.in_use);
    emit_untagged(e, "memory.malloc_arena", "C heap bytes malloc's arenas hold from the OS (in use "
        "there plus free chunks kept).", GAUGE, m.arena);
    emit_untagged(e, "memory.malloc_mmapped", "C heap bytes of large chunks mapped one by one (given "
        "back to the OS when freed).", GAUGE, m.mmapped);
    emit_untagged(e, "memory.malloc_trims", "Times the C heap's free pages were given back to the OS "
        "(malloc_trim, once the heap was quiet).", COUNTER, g_stats.malloc_trims);
    emit_untagged(e, "memory.malloc_trimmed_bytes", "RSS those trims gave back.", COUNTER,
        g_stats.malloc_trimmed_bytes);
    struct sample trim_time = { .name = "memory.malloc_trim_seconds", .help = "Time spent "
                                "in those trims.", .type = COUNTER,
                                .value = g_stats.malloc_trim_ns, .ns_as_seconds = true };
    e->fn(e->ctx, &trim_time);
}

static void
collect_latency_and_log(struct relay *r, const struct emitter *e)
{
    (void)r;
    emit_untagged(e, "latency.samples", "Backend writes measured for latency.", COUNTER,
        g_stats.latency.samples);
    emit_seconds(e, "latency.p50_seconds", "Median time lines spend inside the relay (read to "
                "write).", NULL, NULL, latency_quantile(&g_stats.latency, 0.5));
    emit_seconds(e, "latency.p99_seconds", "99th percentile time inside the relay (read to "
                "write).", NULL, NULL, latency_quantile(&g_stats.latency, 0.99));
    emit_seconds(e, "latency.max_seconds", "Longest time inside the relay (read to write).",
                NULL, NULL, g_stats.latency.max_ns);
    const struct log_stats *ls = log_get_stats();
    emit_untagged(e, "log.lines", "Log lines written.", COUNTER, ls->lines);
    emit_untagged(e, "log.dropped", "Log lines dropped: the log sink was too slow.", COUNTER, ls->dropped);
    emit_untagged(e, "log.suppressed", "Log lines held back by rate limiting.", COUNTER, ls->suppressed);
}

/* The parts, in the order they are rendered.  A part yields every sample
 * of a metric name together (Prometheus HELP/TYPE appear once). */
static void (*const collectors[])(struct relay *r, const struct emitter *e) = {
    collect_protocols, collect_clients, collect_access, collect_points, collect_rules,
    stats_collect_backends, stats_collect_backend_fates, stats_collect_rejected,
    stats_collect_proxy, collect_spool, collect_limits, collect_memory, collect_heap, collect_latency_and_log,
};

static void
collect(struct relay *r, sample_fn fn, void *ctx)
{
    struct emitter e = { .fn = fn, .ctx = ctx };
    for (size_t i = 0; i < TS_ARRAY_LEN(collectors); i++)
        collectors[i](r, &e);
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
    if (s->tagk2 != NULL)
        textout_printf(&o->t, " %s=%s", s->tagk2, s->tagv2);
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
    if (s->passing_tag)
        return;
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
    if (s->tagk2 != NULL)
        textout_printf(&o->t, "\"%s\":\"%s\",", s->tagk2, s->tagv2);
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
    if (s->tagk2 != NULL)
        textout_printf(&o->t, "%s{%s=\"%s\",%s=\"%s\"} %s\n", name, s->tagk, s->tagv,
                       s->tagk2, s->tagv2, v);
    else if (s->tagk != NULL)
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
