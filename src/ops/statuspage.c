/*
 * statuspage.c -- the HTML status page (GET /tsrelay/) and what it loads.
 *
 * The page is written in one pass into the caller's buffer (status.c
 * charges it to the budget and grows it while the page does not fit):
 * a header, the chart area (filled by the inline script from
 * /tsrelay/api/stats/history, with dygraphs when it was compiled in; a note
 * otherwise), the tables of current values, and the inline style and
 * script.  The tables are the same markup the script fetches from
 * /tsrelay/tables every 2 s.  Every value goes through html() or a number
 * formatter; no outside URL appears.  It only reads state.
 */
#include "autoconf.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>
#include <time.h>

#include "output/backend.h"
#include "ops/history.h"
#include "base/pool.h"
#include "base/allow.h"
#include "core/flow.h"
#include "core/relay.h"
#include "input/tls_server.h"
#include "core/rejects.h"
#include "core/relay.h"
#include "output/backend_http.h"
#include "core/series_guard.h"
#include "spool/spool.h"
#include "base/counters.h"
#include "ops/status_assets.h"
#include "ops/statuspage.h"
#include "base/util.h"

/* ---- a bounded writer -------------------------------------------------- */

struct page {
    char *p;
    size_t cap, len;   /* len <= cap - 1; cap - 1 = full (did not fit) */
};

static void
raw(struct page *o, const char *s, size_t n)
{
    if (o->cap == 0)
        return;
    size_t room = o->cap - 1 - o->len;
    if (n > room) {
        n = room;
        memcpy(o->p + o->len, s, n);
        o->len = o->cap - 1;
    } else {
        memcpy(o->p + o->len, s, n);
        o->len += n;
    }
    o->p[o->len] = '\0';
}

static void
str(struct page *o, const char *s)
{
    raw(o, s, strlen(s));
}

static void fmt(struct page *o, const char *f, ...) __attribute__((format(printf, 2, 3)));

/* Formatted markup: only constants and numbers go through here. */
static void
fmt(struct page *o, const char *f, ...)
{
    char buf[512];
    va_list ap;
    va_start(ap, f);
    int n = vsnprintf(buf, sizeof(buf), f, ap);
    va_end(ap);
    if (n > 0)
        raw(o, buf, TS_MIN((size_t)n, sizeof(buf) - 1));
}

/* Length of the valid UTF-8 sequence at s (n bytes left), 0 if none. */
static size_t
utf8_seq(const unsigned char *s, size_t n)
{
    size_t k;
    unsigned min;
    if (s[0] >= 0xC2 && s[0] <= 0xDF) {
        k = 2;
        min = 0x80;
    } else if (s[0] >= 0xE0 && s[0] <= 0xEF) {
        k = 3;
        min = 0x800;
    } else if (s[0] >= 0xF0 && s[0] <= 0xF4) {
        k = 4;
        min = 0x10000;
    } else {
        return 0;
    }
    if (n < k)
        return 0;
    unsigned cp = s[0] & (0x7F >> k);
    for (size_t i = 1; i < k; i++) {
        if ((s[i] & 0xC0) != 0x80)
            return 0;
        cp = (cp << 6) | (s[i] & 0x3F);
    }
    if (cp < min || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF))
        return 0;
    return k;
}

/* Text as HTML: markup characters as entities, valid UTF-8 as it is, any
 * other byte >= 0x80 as the ISO-8859-1 character it is on a TSD's wire,
 * control characters as U+FFFD. */
static void
html_n(struct page *o, const char *s, size_t n)
{
    const unsigned char *u = (const unsigned char *)s;
    size_t i = 0;
    while (i < n) {
        unsigned char c = u[i];
        const char *ent = NULL;
        char num[16];
        switch (c) {
        case '&': ent = "&amp;"; break;
        case '<': ent = "&lt;"; break;
        case '>': ent = "&gt;"; break;
        case '"': ent = "&quot;"; break;
        case '\'': ent = "&#39;"; break;
        default: break;
        }
        if (ent != NULL) {
            str(o, ent);
            i++;
        } else if (c < 0x20 || c == 0x7F) {
            str(o, c == '\t' ? " " : "&#xFFFD;");
            i++;
        } else if (c < 0x80) {
            size_t j = i; /* a run of plain ASCII */
            while (j < n && u[j] >= 0x20 && u[j] < 0x7F && u[j] != '&' && u[j] != '<' &&
                   u[j] != '>' && u[j] != '"' && u[j] != '\'')
                j++;
            raw(o, s + i, j - i);
            i = j;
        } else {
            size_t k = utf8_seq(u + i, n - i);
            if (k > 0) {
                raw(o, s + i, k);
                i += k;
            } else {
                snprintf(num, sizeof(num), "&#x%02X;", c);
                str(o, num);
                i++;
            }
        }
    }
}

static void
html(struct page *o, const char *s)
{
    html_n(o, s, strlen(s));
}

/* ---- number formatting ------------------------------------------------- */

static const char *
bytes_text(char *b, size_t cap, double v)
{
    static const char *const unit[] = { "B", "KiB", "MiB", "GiB", "TiB", "PiB" };
    int u = 0;
    if (isnan(v))
        return "n/a";
    while (v >= 1024.0 && u < 5) {
        v /= 1024.0;
        u++;
    }
    if (u == 0)
        snprintf(b, cap, "%.0f B", v);
    else
        snprintf(b, cap, "%.*f %s", v < 10 ? 2 : v < 100 ? 1 : 0, v, unit[u]);
    return b;
}

/* 1234567 -> "1,234,567" */
static const char *
count_text(char *b, size_t cap, uint64_t v)
{
    char digits[32];
    int n = snprintf(digits, sizeof(digits), "%llu", (unsigned long long)v);
    size_t j = 0;
    for (int i = 0; i < n && j + 2 < cap; i++) {
        if (i > 0 && (n - i) % 3 == 0)
            b[j++] = ',';
        b[j++] = digits[i];
    }
    b[j] = '\0';
    return b;
}

static const char *
rate_text(char *b, size_t cap, double v)
{
    if (isnan(v))
        return "n/a";
    if (v >= 1e6)
        snprintf(b, cap, "%.2fM/s", v / 1e6);
    else if (v >= 1e4)
        snprintf(b, cap, "%.1fk/s", v / 1e3);
    else
        snprintf(b, cap, "%.*f/s", v > 0 && v < 10 ? 1 : 0, v);
    return b;
}

static const char *
duration_text(char *b, size_t cap, double s)
{
    if (isnan(s))
        return "n/a";
    uint64_t t = (uint64_t)s;
    if (s < 60)
        snprintf(b, cap, "%.1f s", s);
    else if (t < 3600)
        snprintf(b, cap, "%llu min %02llu s", (unsigned long long)(t / 60),
                 (unsigned long long)(t % 60));
    else if (t < 86400)
        snprintf(b, cap, "%llu h %02llu min", (unsigned long long)(t / 3600),
                 (unsigned long long)(t / 60 % 60));
    else
        snprintf(b, cap, "%llu d %llu h", (unsigned long long)(t / 86400),
                 (unsigned long long)(t / 3600 % 24));
    return b;
}

static const char *
utc_text(char *b, size_t cap, time_t t)
{
    struct tm tm;
    if (gmtime_r(&t, &tm) == NULL || strftime(b, cap, "%Y-%m-%d %H:%M:%S UTC", &tm) == 0)
        snprintf(b, cap, "%lld", (long long)t);
    return b;
}

/* A table cell with a byte count: exact in the title, readable inside. */
static void
td_bytes(struct page *o, const char *id, double v)
{
    char b[48];
    if (id != NULL)
        fmt(o, "<td class=\"num\" id=\"%s\"", id);
    else
        str(o, "<td class=\"num\"");
    if (!isnan(v))
        fmt(o, " data-v=\"%.0f\" title=\"%.0f bytes\"", v, v);
    fmt(o, ">%s</td>", bytes_text(b, sizeof(b), v));
}

static void
td_count(struct page *o, uint64_t v)
{
    char b[48];
    fmt(o, "<td class=\"num\" data-v=\"%llu\">%s</td>", (unsigned long long)v,
        count_text(b, sizeof(b), v));
}

/* ---- what the tables say ----------------------------------------------- */

/* failed (a connection failed or is probing), lagging, up, connecting,
 * or idle (no connection opened: nothing was sent yet). */
static const char *
backend_state(const struct backend *be)
{
    bool failed = false, lagging = false, connecting = false, up = false;
    for (int i = 0; i < be->nconns; i++) {
        const struct bconn *c = &be->conns[i];
        failed |= c->state == BC_FAILED || c->state == BC_PROBING;
        lagging |= c->lagging;
        connecting |= c->state == BC_CONNECTING || c->state == BC_AUTH;
        up |= c->state == BC_UP;
    }
    return failed ? "failed" : lagging ? "lagging" : up ? "up" : connecting ? "connecting" : "idle";
}

static void
table_process(struct page *o, struct relay *r)
{
    char b[64];
    time_t now = time(NULL);
    uint64_t up = (uint64_t)now > g_stats.start_time ? (uint64_t)now - g_stats.start_time : 0;
    str(o, "<section><h2>Process</h2><table class=\"kv\"><tbody>");
    str(o, "<tr><th>version</th><td id=\"version\">");
    html(o, PACKAGE_VERSION " (" TSRELAY_REVISION ")");
    str(o, "</td></tr><tr><th>host</th><td>");
    html(o, r->hostname);
    fmt(o, "</td></tr><tr><th>uptime</th><td id=\"uptime\" data-v=\"%llu\">%s",
        (unsigned long long)up, duration_text(b, sizeof(b), (double)up));
    fmt(o, " (since %s)</td></tr>", utc_text(b, sizeof(b), (time_t)g_stats.start_time));
    str(o, "<tr><th>listeners</th><td>");
    for (int i = 0; i < r->cfg.nlisten; i++) {
        const struct cfg_listen *l = &r->cfg.listen[i];
        str(o, i ? ", " : "");
        html(o, l->addr.host);
        str(o, ":");
        html(o, l->addr.port);
        str(o, " ");
        html(o, config_proto_name(l->proto));
        if (l->tls)
            str(o, " tls");
        if (l->allow.n > 0) {
            char allow[CFG_ALLOW_TEXT_MAX];
            allow_format(&l->allow, allow, sizeof(allow));
            str(o, " allow=");
            html(o, allow);
        }
    }
    if (r->clients.tls != NULL) {
        str(o, "</td></tr><tr><th>TLS certificate</th><td>");
        html(o, r->clients.tls->describe);
    }
    str(o, "</td></tr><tr><th>routing</th><td>");
    html(o, config_routing_name(r->cfg.routing));
    str(o, "</td></tr>");
    const struct history *h = r->history;
    if (h != NULL)
        fmt(o, "<tr><th>history</th><td>%zu of %zu samples, one every %llu ms</td></tr>",
            history_count(h), history_capacity(h), (unsigned long long)history_interval_ms(h));
    else
        str(o, "<tr><th>history</th><td>off (history = 0)</td></tr>");
    fmt(o, "<tr><th>as of</th><td id=\"asof\" data-v=\"%lld\">%s</td></tr>", (long long)now,
        utc_text(b, sizeof(b), now));
    str(o, "</tbody></table></section>\n");
}

static void
table_memory(struct page *o, struct relay *r)
{
    uint64_t queued = 0;
    for (int i = 0; i < r->nbackends; i++)
        queued += backend_queued_bytes(&r->backends[i]) +
                  spool_backend_staged_bytes(&r->backends[i]);
    struct malloc_reading m;
    stats_malloc(&m);
    struct {
        const char *id, *name, *what;
        double v;
    } rows[] = {
        { "mem-live", "live", "pool blocks handed out and charged buffers",
          (double)pool_used_bytes(&r->pool) },
        { "mem-reserved", "reserved", "live plus free blocks kept for reuse",
          (double)pool_reserved_bytes(&r->pool) },
        { "mem-rss", "RSS", "resident set size of the process", (double)stats_rss_bytes() },
        { "mem-limit", "limit", "memory-limit: the pool never reserves more",
          (double)r->pool.limit },
        { "mem-queued", "queued", "put lines waiting in backend queues and spool staging",
          (double)queued },
        { "mem-peak", "peak live", "highest live so far", (double)r->pool.peak_used_bytes },
        { "mem-history", "history ring", "this page's samples (fixed, part of live)",
          (double)history_bytes(r->history) },
        { "mem-malloc", "malloc in use", "the C heap beside the pool: libraries (hiredis, "
          "c-ares, libev), connections, the history ring", (double)m.in_use },
        { "mem-malloc-arena", "malloc arena", "heap malloc holds from the OS: in use there "
          "plus free chunks it keeps", (double)m.arena },
        { "mem-malloc-mmapped", "malloc mmapped", "large chunks mapped one by one (given "
          "back when freed)", (double)m.mmapped },
    };
    str(o, "<section><h2>Memory</h2><table class=\"kv\"><tbody>");
    for (size_t i = 0; i < TS_ARRAY_LEN(rows); i++) {
        fmt(o, "<tr><th>%s</th>", rows[i].name);
        td_bytes(o, rows[i].id, rows[i].v);
        fmt(o, "<td class=\"what\">%s</td></tr>", rows[i].what);
    }
    str(o, "</tbody></table></section>\n");
}

static void
table_points(struct page *o, struct relay *r)
{
    uint64_t received = g_stats.stats_lines_sent, invalid = 0;
    for (int p = PROTO_TELNET; p <= PROTO_HTTP; p++) {
        received += g_stats.proto[p].in.received;
        invalid += g_stats.proto[p].in.invalid;
    }
    double last[HC_NCOLS];
    bool have = history_latest(r->history, last);
    struct {
        const char *name;
        uint64_t total;
        int col;
        const char *what;
    } rows[] = {
        { "received", received, HC_RECEIVED, "valid and invalid, every protocol" },
        { "forwarded", g_stats.points_forwarded, HC_FORWARDED,
          "acknowledged by a backend's TCP" },
        { "spooled", g_stats.points_spooled, HC_SPOOLED, "into the Redis spool" },
        { "unspooled", g_stats.points_unspooled, HC_UNSPOOLED, "back out of the spool" },
        { "dropped", g_stats.points_dropped, HC_DROPPED, "valid points dropped (overflow)" },
        { "invalid", invalid, HC_INVALID, "rejected by validation" },
    };
    char b[48];
    str(o, "<section><h2>Points</h2><table><thead><tr><th></th><th>total</th>"
           "<th>last interval</th><th></th></tr></thead><tbody>");
    for (size_t i = 0; i < TS_ARRAY_LEN(rows); i++) {
        fmt(o, "<tr><th>%s</th>", rows[i].name);
        td_count(o, rows[i].total);
        fmt(o, "<td class=\"num\">%s</td><td class=\"what\">%s</td></tr>",
            have ? rate_text(b, sizeof(b), last[rows[i].col]) : "n/a", rows[i].what);
    }
    uint64_t pending = g_stats.points_spooled > g_stats.points_unspooled
                           ? g_stats.points_spooled - g_stats.points_unspooled : 0;
    uint64_t queued = 0;
    for (int i = 0; i < r->nbackends; i++)
        queued += backend_queued_lines(&r->backends[i]);
    str(o, "<tr><th>queued now</th>");
    td_count(o, queued);
    str(o, "<td></td><td class=\"what\">in backend queues, not yet acknowledged</td></tr>");
    str(o, "<tr><th>in the spool now</th>");
    td_count(o, pending);
    str(o, "<td></td><td class=\"what\">spooled minus unspooled</td></tr>");
    str(o, "</tbody></table></section>\n");
}

static void
table_backends(struct page *o, struct relay *r)
{
    char b[64];
    str(o, "<section><h2>Backends</h2><table id=\"backends\"><thead><tr><th>backend</th>"
           "<th>address</th><th>state</th><th>connections</th><th>queue</th>"
           "<th>spool</th><th>backlog age</th><th>errors</th><th>last error</th>"
           "<th>ack</th></tr></thead><tbody>");
    if (r->nbackends == 0)
        str(o, "<tr><td colspan=\"10\">no backend</td></tr>");
    for (int i = 0; i < r->nbackends; i++) {
        struct backend *be = &r->backends[i];
        const char *state = backend_state(be);
        str(o, "<tr><td class=\"name\">");
        html(o, be->cfg->name);
        bool http = be->cfg->protocol == BPROTO_HTTP;
        const struct cfg_addr *addr = http ? &be->cfg->http_addr : &be->cfg->addr;
        str(o, "</td><td>");
        html(o, addr->host);
        str(o, ":");
        html(o, addr->port);
        fmt(o, "</td><td><span class=\"state %s\">%s</span>%s</td>", state, state,
            spool_backend_mode(be) ? " <span class=\"state spooling\">spooling</span>" : "");
        fmt(o, "<td class=\"num\">%d / %d</td>", backend_conns_up(be), be->nconns);
        td_bytes(o, NULL, (double)(backend_queued_bytes(be) + spool_backend_staged_bytes(be)));
        fmt(o, "<td class=\"num\" data-v=\"%llu\">%s entries, ",
            (unsigned long long)spool_backend_entries(be),
            count_text(b, sizeof(b), spool_backend_entries(be)));
        fmt(o, "%s</td>", bytes_text(b, sizeof(b), (double)spool_backend_bytes(be)));
        uint64_t age = spool_backlog_age_ms(be);
        fmt(o, "<td class=\"num\" data-v=\"%.3f\">%s</td>", (double)age / 1000.0,
            age ? duration_text(b, sizeof(b), (double)age / 1000.0) : "none");
        td_count(o, be->st.errors);
        str(o, "<td class=\"err\">");
        html(o, be->st.last_error[0] ? be->st.last_error : "");
        fmt(o, "</td><td>%s</td></tr>", http ? (be->cfg->sync ? "http, stored (sync)" : "http")
                                     : be->cfg->ack == ACK_VERSION ? "version" : "none");
    }
    str(o, "</tbody></table></section>\n");
}

/* The groups (their backends and points) and the rules, in file order,
 * with their counts. */
static void
table_rules(struct page *o, struct relay *r)
{
    if (r->flow == NULL)
        return; /* not built yet (a relay without backends) */
    const struct groups *gs = &r->flow->groups;
    const struct ruleset *rs = r->flow->rules;
    str(o, "<section><h2>Groups and rules</h2><table id=\"groups\"><thead><tr><th>group</th>"
           "<th>routing</th><th>backends</th><th>points</th></tr></thead><tbody>");
    for (int g = 0; g < gs->n; g++) {
        str(o, "<tr><td class=\"name\">");
        html(o, gs->g[g].name);
        fmt(o, "%s</td><td>%s</td><td>", g == rs->default_group ? " (default)" : "",
            config_routing_name(gs->g[g].policy));
        for (int k = 0; k < gs->g[g].n; k++) {
            str(o, k ? ", " : "");
            html(o, r->backends[gs->g[g].slot[k]].cfg->name);
        }
        str(o, "</td>");
        td_count(o, gs->g[g].points);
        str(o, "</tr>");
    }
    str(o, "</tbody></table><table id=\"rules\"><thead><tr><th>rule</th><th>action</th>"
           "<th>matched</th><th>dropped</th><th>refused</th><th>errors</th></tr></thead><tbody>");
    if (rs->nrules == 0)
        str(o, "<tr><td colspan=\"6\">no rule: every point goes to the default group as "
               "it came</td></tr>");
    for (int i = 0; i < rs->nrules; i++) {
        const struct rule *ru = &rs->rules[i];
        str(o, "<tr><td class=\"name\">");
        html(o, ru->name);
        fmt(o, "</td><td>%s%s</td>", rulecfg_action_name(ru->action),
            ru->action == RULE_SEND && !ru->stop ? " (stop = no)" : "");
        td_count(o, ru->st.matched);
        td_count(o, ru->st.dropped);
        td_count(o, ru->st.refused);
        td_count(o, ru->st.errors);
        str(o, "</tr>");
    }
    str(o, "</tbody></table></section>\n");
}

static void
table_clients(struct page *o, struct relay *r)
{
    static const char *const names[] = { "auto", "telnet", "framed", "http" };
    str(o, "<section><h2>Clients</h2><table id=\"clients\"><thead><tr><th>protocol</th>"
           "<th>open</th><th>accepted</th><th>points</th><th>invalid</th><th>bytes in</th>"
           "</tr></thead><tbody>");
    for (int p = PROTO_TELNET; p <= PROTO_HTTP; p++) {
        const struct proto_stats *ps = &g_stats.proto[p];
        fmt(o, "<tr><th>%s</th>", names[p]);
        td_count(o, ps->active);
        td_count(o, ps->connections);
        td_count(o, ps->in.received);
        td_count(o, ps->in.invalid);
        td_bytes(o, NULL, (double)ps->bytes_in);
        str(o, "</tr>");
    }
    str(o, "</tbody></table><table class=\"kv\"><tbody><tr><th>pending</th>");
    td_count(o, r->clients.pending);
    str(o, "<td class=\"what\">connected, protocol not known yet</td></tr>"
           "<tr><th>waiting for memory</th>");
    td_count(o, r->adm.nwaiting);
    str(o, "<td class=\"what\">a unit waits for input memory, holding nothing</td></tr>"
           "<tr><th>waiting for room</th>");
    td_count(o, r->adm.nroom);
    str(o, "<td class=\"what\">decoded points wait for room in the queues</td></tr>"
           "<tr><th>stats-only slots</th>");
    td_count(o, r->clients.control_only);
    str(o, "<td class=\"what\">open over max-clients, for stats only</td></tr>"
           "<tr><th>rejected</th>");
    td_count(o, g_stats.clients_rejected);
    str(o, "<td class=\"what\">over max-clients and control-slots, or shutting down</td></tr>"
           "<tr><th>timed out</th>");
    td_count(o, g_stats.clients_timed_out);
    str(o, "<td class=\"what\">idle-timeout or read-timeout</td></tr>"
           "</tbody></table></section>\n");
}

static void
table_spool(struct page *o, struct relay *r)
{
    str(o, "<section><h2>Redis spool</h2><table class=\"kv\" id=\"spool\"><tbody>");
    if (!r->cfg.redis.enabled) {
        str(o, "<tr><th>spool</th><td>not configured: memory only</td></tr>"
               "</tbody></table></section>\n");
        return;
    }
    /* address and key prefix only: never the rest of [redis] */
    str(o, "<tr><th>address</th><td>");
    html(o, r->cfg.redis.addr.host);
    str(o, ":");
    html(o, r->cfg.redis.addr.port);
    str(o, "</td></tr><tr><th>key prefix</th><td>");
    html(o, r->cfg.redis.prefix);
    bool up = spool_connected(r->spool);
    fmt(o, "</td></tr><tr><th>connected</th><td><span class=\"state %s\">%s</span></td></tr>",
        up ? "up" : "failed", up ? "yes" : "no");
    const struct spool_stats *st = spool_get_stats(r->spool);
    static const struct spool_stats none;
    if (st == NULL)
        st = &none;
    bool full = spool_full(r->spool);
    char b[48];
    fmt(o, "<tr><th>full</th><td><span class=\"state %s\">%s</span> <span class=\"what\">"
        "(Redis refusing writes; episodes: ", full ? "failed" : "up", full ? "yes" : "no");
    fmt(o, "%s)</span></td></tr>", count_text(b, sizeof(b), st->full_episodes));
    str(o, "<tr><th>bytes in Redis</th>");
    td_bytes(o, "spool-bytes", (double)spool_total_bytes(r->spool));
    str(o, "</tr><tr><th>compression</th>");
    if (st->stored_bytes > 0)
        fmt(o, "<td class=\"num\" data-v=\"%.2f\">%.1f : 1</td></tr>",
            (double)st->raw_bytes / (double)st->stored_bytes,
            (double)st->raw_bytes / (double)st->stored_bytes);
    else
        str(o, "<td>n/a (nothing spooled yet)</td></tr>");
    str(o, "<tr><th>entries pushed</th>");
    td_count(o, st->pushes);
    str(o, "</tr><tr><th>entries drained</th>");
    td_count(o, st->drains);
    str(o, "</tr><tr><th>entries delivered</th>");
    td_count(o, st->acks);
    str(o, "</tr><tr><th>corrupt entries</th>");
    td_count(o, st->corrupt);
    str(o, "</tr></tbody></table></section>\n");
}

/* The last points HTTP backends refused for good, newest first. */
static void
table_rejects(struct page *o, struct relay *r)
{
    bool any_http = false;
    for (int i = 0; i < r->nbackends; i++)
        any_http |= backend_http_stats(&r->backends[i]) != NULL;
    if (!any_http)
        return;
    char b[64];
    str(o, "<section><h2>Refused for good</h2><table id=\"rejects\"><thead><tr><th>time</th>"
           "<th>backend</th><th>reason</th><th>the TSD's words</th><th>line</th></tr></thead>"
           "<tbody>");
    const struct reject_note *n = rejects_at(r->rejects, 0);
    if (n == NULL)
        str(o, "<tr><td colspan=\"5\">none</td></tr>");
    for (unsigned i = 0; (n = rejects_at(r->rejects, i)) != NULL; i++) {
        fmt(o, "<tr><td>%s</td><td class=\"name\">", utc_text(b, sizeof(b),
                                                            (time_t)(n->unix_ms / 1000)));
        html(o, n->backend);
        str(o, "</td><td>");
        html(o, n->reason);
        str(o, "</td><td class=\"err\">");
        html(o, n->text);
        str(o, "</td><td class=\"err\">");
        html(o, n->line);
        str(o, "</td></tr>");
    }
    fmt(o, "</tbody></table><p class=\"what\">%s refused in all; kept in Redis as "
        "&lt;prefix&gt;:&lt;instance&gt;:rejected:&lt;backend&gt;, sent again with "
        "POST /tsrelay/rejected/replay?backend=NAME</p></section>\n",
        count_text(b, sizeof(b), r->rejects != NULL ? r->rejects->total : 0));
}

/* ---- the new-series guard ------------------------------------------------ */

#define LIMITS_ROWS 20  /* rows of each top table */

/* "1,234 of 10,000" or "1,234 (unlimited)". */
static void
limits_used(struct page *o, const char *name, uint64_t used, uint64_t limit, const char *what)
{
    char a[48], b[48];
    fmt(o, "<tr><th>%s</th><td class=\"num\" data-v=\"%llu\">%s", name,
        (unsigned long long)used, count_text(a, sizeof(a), used));
    if (limit > 0)
        fmt(o, " of %s", count_text(b, sizeof(b), limit));
    else
        str(o, " (unlimited)");
    fmt(o, "</td><td class=\"what\">%s</td></tr>", what);
}

static void
limits_summary(struct page *o, const struct series_guard *g)
{
    char a[48], b[48];
    const struct series_guard_stats *st = &g->st;
    limits_used(o, "new series, last hour", g->last_hour,
                series_guard_limit_value(g, GL_HOUR), "new-series-per-hour");
    limits_used(o, "new series, last 24 h", g->last_day,
                series_guard_limit_value(g, GL_DAY), "new-series-per-day");
    for (int l = GL_CLIENT_HOUR; l <= GL_METRIC_SERIES; l++) {
        uint64_t v = series_guard_limit_value(g, (enum guard_limit)l);
        fmt(o, "<tr><th>%s</th><td class=\"num\">%s</td><td></td></tr>",
            series_guard_limit_name((enum guard_limit)l),
            v > 0 ? count_text(a, sizeof(a), v) : "unlimited");
    }
    uint64_t refused = 0, logged = 0;
    for (int l = 0; l < GL_COUNT; l++) {
        refused += st->refused[l];
        logged += st->logged[l];
    }
    fmt(o, "<tr><th>on limit</th><td>%s</td><td class=\"what\">points refused: %s; over a "
        "limit and let through (log): ", g->lim.on_limit == ON_LIMIT_LOG ? "log" : "reject",
        count_text(a, sizeof(a), refused));
    fmt(o, "%s</td></tr>", count_text(b, sizeof(b), logged));
    fmt(o, "<tr><th>series remembered</th><td class=\"num\">%s",
        count_text(a, sizeof(a), series_guard_tracked(g, false)));
    fmt(o, " + %s</td>", count_text(b, sizeof(b), series_guard_tracked(g, true)));
    fmt(o, "<td class=\"what\">current + previous filter, of %s each; ",
        count_text(a, sizeof(a), series_guard_capacity(g)));
    fmt(o, "rotations: %s; ", count_text(b, sizeof(b), st->rotations));
    fmt(o, "false positives now %.4f %%</td></tr>", 100.0 * series_guard_fpr(g));
    fmt(o, "<tr><th>window</th><td class=\"num\">%s</td><td class=\"what\">how far back "
        "the memory of series reaches</td></tr>",
        duration_text(a, sizeof(a), (double)series_guard_window_s(g)));
}

/* The heaviest entries of one table, with what they were let through. */
static void
limits_top(struct page *o, const struct series_guard *g, bool metrics)
{
    const struct topk *t = metrics ? &g->metrics : &g->clients;
    size_t top[LIMITS_ROWS];
    size_t n = topk_top(t, top, LIMITS_ROWS);
    fmt(o, "<h3>Top %s by new series, last hour</h3><table id=\"top-%s\"><thead><tr>"
        "<th>%s</th><th>new series</th><th>let through</th>%s<th>state</th></tr></thead>"
        "<tbody>", metrics ? "metrics" : "clients", metrics ? "metrics" : "clients",
        metrics ? "metric" : "client", metrics ? "<th>series (est.)</th>" : "");
    if (n == 0)
        fmt(o, "<tr><td colspan=\"%d\">no new series in the last hour</td></tr>",
            metrics ? 5 : 4);
    for (size_t i = 0; i < n; i++) {
        size_t k = top[i];
        bool limited = series_guard_entry_limited(g, metrics, k);
        str(o, "<tr><td class=\"name\">");
        html_n(o, t->e[k].name, t->e[k].name_len);
        str(o, t->e[k].truncated ? "&hellip;</td>" : "</td>");
        td_count(o, topk_upper(t, k));
        td_count(o, topk_kept(t, k));
        if (metrics)
            td_count(o, series_guard_metric_series(g, k));
        fmt(o, "<td><span class=\"state %s\">%s</span></td></tr>", limited ? "failed" : "up",
            limited ? "over a limit" : "ok");
    }
    str(o, "</tbody></table>");
}

static void
table_limits(struct page *o, struct relay *r)
{
    const struct series_guard *g = r->guard;
    str(o, "<section><h2>New series</h2><table class=\"kv\" id=\"limits\"><tbody>");
    if (g == NULL) {
        str(o, "<tr><th>guard</th><td>off (series-memory = 0)</td></tr>"
               "</tbody></table></section>\n");
        return;
    }
    limits_summary(o, g);
    str(o, "</tbody></table>");
    limits_top(o, g, true);
    limits_top(o, g, false);
    str(o, "</section>\n");
}

static void
tables(struct page *o, struct relay *r)
{
    table_process(o, r);
    table_memory(o, r);
    table_points(o, r);
    table_backends(o, r);
    table_rejects(o, r);
    table_rules(o, r);
    table_clients(o, r);
    table_spool(o, r);
    table_limits(o, r); /* the new-series guard */
}

/* ---- the page ---------------------------------------------------------- */

bool
statuspage_has_charts(void)
{
    return status_dygraph_js_len > 0;
}

size_t
statuspage_format_tables(struct relay *r, char *out, size_t cap)
{
    struct page o = { .p = out, .cap = cap };
    tables(&o, r);
    return o.len;
}

size_t
statuspage_format(struct relay *r, char *out, size_t cap)
{
    struct page o = { .p = out, .cap = cap };
    bool charts = statuspage_has_charts();
    str(&o, "<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">"
            "<meta name=\"viewport\" content=\"width=device-width, initial-scale=1\">"
            "<title>tsrelay ");
    html(&o, r->hostname);
    str(&o, "</title><link rel=\"icon\" href=\"data:,\">");
    if (charts && status_dygraph_css_len > 0)
        str(&o, "<link rel=\"stylesheet\" href=\"/tsrelay/dygraph.css\">");
    str(&o, "<style>\n");
    raw(&o, (const char *)status_page_css, status_page_css_len);
    str(&o, "</style></head>\n<body><header><h1>tsrelay <span class=\"host\">");
    html(&o, r->hostname);
    str(&o, "</span></h1><p id=\"live\">Current values as of loading this page.</p>"
            "</header>\n<main>\n");
    if (charts) {
        str(&o, "<section id=\"charts\" class=\"charts\">"
                "<figure><figcaption>Memory (log scale): the limit, RSS, reserved and live"
                "</figcaption>"
                "<div id=\"chart-mem\" class=\"chart\"></div>"
                "<div id=\"legend-mem\" class=\"legend\"></div></figure>"
                "<figure><figcaption>Memory trend: RSS, pool and malloc "
                "<span id=\"trend-mem\" class=\"trend\"></span></figcaption>"
                "<div id=\"chart-trend\" class=\"chart\"></div>"
                "<div id=\"legend-trend\" class=\"legend\"></div></figure>"
                "<figure><figcaption>Points per second</figcaption>"
                "<div id=\"chart-points\" class=\"chart\"></div>"
                "<div id=\"legend-points\" class=\"legend\"></div></figure>"
                "<div id=\"chart-backends\"></div>"
                "<noscript><p class=\"note\">The charts need JavaScript. The tables below "
                "show the values as of loading this page; reload for new ones.</p>"
                "</noscript></section>\n");
    } else {
        str(&o, "<section id=\"charts\"><p class=\"note\" id=\"no-charts\">Charts are "
                "unavailable: this tsrelay was built without the dygraphs chart library "
                "(Debian package libjs-dygraphs; configure --with-dygraphs). The tables "
                "show current values; <a href=\"/tsrelay/api/stats/history\">"
                "/tsrelay/api/stats/history</a> "
                "has the recent past.</p></section>\n");
    }
    str(&o, "<div id=\"tables\">\n");
    tables(&o, r);
    str(&o, "</div>\n</main>\n<footer>Data: <a href=\"/tsrelay/api/stats/history\">"
            "/tsrelay/api/stats/history</a> &middot; <a href=\"/tsrelay/api/stats\">"
            "/tsrelay/api/stats</a> &middot; "
            "<a href=\"/metrics\">/metrics</a> &middot; <a href=\"/health\">/health</a>");
    if (charts)
        str(&o, " &middot; charts drawn by dygraphs (<a href=\"/tsrelay/dygraph-LICENSE\">"
                "MIT licence</a>)");
    str(&o, "</footer>\n");
    if (charts)
        str(&o, "<script src=\"/tsrelay/dygraph.min.js\"></script>\n");
    str(&o, "<script>\n");
    raw(&o, (const char *)status_page_js, status_page_js_len);
    str(&o, "</script>\n</body></html>\n");
    return o.len;
}

bool
statuspage_asset(const char *path, size_t path_len, const char **ctype, const char **body,
                 size_t *len)
{
    static const struct {
        const char *path, *ctype;
        const unsigned char *body;
        const size_t *len;
    } assets[] = {
        { "/tsrelay/dygraph.min.js", "application/javascript; charset=utf-8", status_dygraph_js,
          &status_dygraph_js_len },
        { "/tsrelay/dygraph.css", "text/css; charset=utf-8", status_dygraph_css,
          &status_dygraph_css_len },
        { "/tsrelay/dygraph-LICENSE", "text/plain; charset=utf-8", status_dygraph_license,
          &status_dygraph_license_len },
    };
    for (size_t i = 0; i < TS_ARRAY_LEN(assets); i++) {
        if (strlen(assets[i].path) == path_len && memcmp(assets[i].path, path, path_len) == 0 &&
            *assets[i].len > 0) {
            *ctype = assets[i].ctype;
            *body = (const char *)assets[i].body;
            *len = *assets[i].len;
            return true;
        }
    }
    return false;
}
