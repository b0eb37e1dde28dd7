/*
 * check_stats.c -- unit tests of the counters' renderings (src/ops/stats.c).
 *
 * A minimal relay is built by hand (default loop, a pool, two backends on
 * an unused loopback port -- backend_init does not connect -- a router, no
 * spool, a fixed hostname); the loop is never run.  Covers:
 *  - telnet `stats`: every line is the TSD stats format
 *    "tsrelay.<name> <unix-seconds> <integer> [tag=v] host=<hostname>";
 *  - Prometheus: one "# HELP" and one "# TYPE" per metric name, counters
 *    end in _total (gauges do not), every sample is `name{k="v"} value` or
 *    `name value`, the samples of a name are contiguous;
 *  - /api/stats JSON: an array of {metric, timestamp, value, tags} objects
 *    (parsed with jansson);
 *  - counters bumped in g_stats, backend state and the pool show up with
 *    their exact values, the same in all three renderings;
 *  - the C heap beside the pool (memory.malloc_*): shown, consistent, and
 *    following a large allocation made and freed;
 *  - truncation into small buffers never writes past cap and keeps a NUL.
 */
#include "autoconf.h"

#include <check.h>
#include <jansson.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "output/backend.h"
#include "base/config.h"
#include "input/json.h"
#include "base/log.h"
#include "base/pool.h"
#include "core/relay.h"
#include "core/router.h"
#include "core/series_guard.h"
#include "base/counters.h"
#include "core/flow.h"
#include "ops/stats.h"
#include "base/util.h"
#include "unit.h"
#include "unit_relay.h"

#define HOST "unit-host"
#define BS 4096u
#define LIMIT (64u * BS)
#define UPTIME 100u
#define OUTCAP (256 * 1024)

static struct relay R;
static char out[OUTCAP];
static time_t t_before, t_after;

static const char *const LINE = "put sys.cpu 1700000000 1 host=a\n"; /* 32 bytes */

static void
setup(void)
{
    static const char *const names[2] = { "tsd1", "tsd2" };
    static const int conns[2] = { 2, 1 };
    unit_relay_build(&R, names, conns, 2, 2, BS, LIMIT);
    snprintf(R.hostname, sizeof(R.hostname), HOST);
    g_stats.start_time = (uint64_t)time(NULL) - UPTIME;
}

static void
teardown(void)
{
    unit_relay_free(&R);
}

/* Known values in every kind of counter the collector reads. */
static void
bump_counters(void)
{
    g_stats.proto[PROTO_TELNET].in.received = 11;
    g_stats.proto[PROTO_TELNET].in.invalid = 3;
    g_stats.proto[PROTO_FRAMED].in.received = 7;
    g_stats.proto[PROTO_HTTP].in.received = 5;
    g_stats.proto[PROTO_TELNET].active = 2;
    g_stats.proto[PROTO_TELNET].connections = 40;
    g_stats.proto[PROTO_HTTP].bytes_in = 123456789012ull;
    g_stats.framed.frames = 99;
    g_stats.framed.rejected_oversize = 6;
    g_stats.framed.rejected_json = 2;
    g_stats.http_requests = 17;
    g_stats.clients_rejected = 9;
    g_stats.points_forwarded = 1234;
    g_stats.points_spooled = 50;
    g_stats.points_unspooled = 20;
    g_stats.points_dropped = 4;
    /* three lines queued on tsd1 (hash 0: its connection 0, one block) */
    for (int i = 0; i < 3; i++)
        ck_assert_int_eq(backend_enqueue(&R.backends[0], 0, LINE, strlen(LINE)),
                         TS_OK);
    R.backends[0].st.errors = 5;
    R.backends[0].st.connect_attempts = 8;
    /* tsd2 failed (no socket behind it) */
    R.backends[1].conns[0].state = BC_FAILED;
    /* one refusal */
    ck_assert_int_eq(pool_charge(&R.pool, 2 * LIMIT, POOL_CONTROL), TS_ENOMEM);
    /* two rules, their counters; the implicit group's points */
    static struct config c;
    char err[CFG_ERR_MAX];
    ck_assert_msg(config_load_string(&c, "T", "[backend tsd1]\naddress = 127.0.0.1:1\n"
                                     "[rule r1]\naction = drop\ntag = x=y\n"
                                     "[rule r2]\naction = set-tags\ntags = a=b\n",
                                     err, sizeof(err)) == TS_OK, "%s", err);
    R.cfg.rules = c.rules;
    ck_assert_msg(relay_build_flow(&R, err, sizeof(err)) == TS_OK, "%s", err);
    R.flow->rules->rules[0].st = (struct rule_stats){ 11, 7, 0, 0 };
    R.flow->rules->rules[1].st = (struct rule_stats){ 5, 0, 3, 1 };
    R.flow->groups.g[0].points = 13;
    g_stats.points_rule_dropped = 7;
    g_stats.points_copies = 2;
}

/* ---- a common record form for the three renderings ---------------- */

struct rec {
    char name[96];   /* as rendered: "tsrelay.x.y" or "tsrelay_x_y_total" */
    char tagk[32];
    char tagv[64];
    unsigned long long value;
    long long ts;
};

#define MAXREC 512
static struct rec recs[MAXREC];
static int nrecs;

static void
copy_match(char *dst, size_t cap, const char *src, const regmatch_t *m)
{
    size_t len = m->rm_so < 0 ? 0 : (size_t)(m->rm_eo - m->rm_so);
    ck_assert_uint_lt(len, cap);
    memcpy(dst, src + (m->rm_so < 0 ? 0 : m->rm_so), len);
    dst[len] = '\0';
}

static const struct rec *
find(const char *name, const char *tagk, const char *tagv)
{
    for (int i = 0; i < nrecs; i++) {
        if (strcmp(recs[i].name, name) != 0)
            continue;
        if (tagk == NULL ? recs[i].tagk[0] == '\0'
                         : strcmp(recs[i].tagk, tagk) == 0 && strcmp(recs[i].tagv, tagv) == 0)
            return &recs[i];
    }
    return NULL;
}

static unsigned long long
value_of(const char *name, const char *tagk, const char *tagv)
{
    const struct rec *r = find(name, tagk, tagv);
    ck_assert_msg(r != NULL, "no sample %s %s=%s", name, tagk ? tagk : "", tagv ? tagv : "");
    return r->value;
}

/* Parses telnet `stats` output into recs, checking every line's shape. */
static void
parse_telnet(const char *text, size_t len)
{
    regex_t re;
    ck_assert_int_eq(regcomp(&re,
                             "^(tsrelay\\.[a-z_][a-z0-9_]*(\\.[a-z_][a-z0-9_]*)*) ([0-9]+) ([0-9]+[.]?[0-9]*)"
                             "( ([a-z]+)=([A-Za-z0-9._-]+))? host=" HOST "$",
                             REG_EXTENDED), 0);
    ck_assert_uint_gt(len, 0);
    ck_assert_int_eq(text[len - 1], '\n');
    ck_assert_uint_eq(strlen(text), len);
    nrecs = 0;
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        ck_assert_ptr_nonnull(nl);
        char line[512];
        ck_assert_uint_lt((size_t)(nl - p), sizeof(line));
        memcpy(line, p, (size_t)(nl - p));
        line[nl - p] = '\0';
        regmatch_t m[8];
        if (regexec(&re, line, 8, m, 0) != 0)
            ck_abort_msg("not a TSD stats line: '%s'", line);
        ck_assert_int_lt(nrecs, MAXREC);
        struct rec *r = &recs[nrecs++];
        copy_match(r->name, sizeof(r->name), line, &m[1]);
        r->ts = atoll(line + m[3].rm_so);
        r->value = strtoull(line + m[4].rm_so, NULL, 10);
        copy_match(r->tagk, sizeof(r->tagk), line, &m[6]);
        copy_match(r->tagv, sizeof(r->tagv), line, &m[7]);
        if (r->ts < (long long)t_before || r->ts > (long long)t_after)
            ck_abort_msg("timestamp %lld not in [%lld, %lld]: %s", r->ts,
                         (long long)t_before, (long long)t_after, line);
        p = nl + 1;
    }
    regfree(&re);
}

static void
render_telnet(void)
{
    t_before = time(NULL);
    size_t n = stats_format_telnet(&R, out, sizeof(out));
    t_after = time(NULL);
    ck_assert_uint_lt(n, sizeof(out) - 1); /* not truncated */
    parse_telnet(out, n);
}

/* The expected values, by dotted name, for a renderer's name scheme. */
struct expect {
    const char *name;
    const char *tagk, *tagv;
    unsigned long long value;
};

static const struct expect expected[] = {
    { "points.received", "proto", "telnet", 11 },
    { "points.received", "proto", "framed", 7 },
    { "points.received", "proto", "http", 5 },
    { "points.invalid", "proto", "telnet", 3 },
    { "points.invalid", "proto", "framed", 0 },
    { "clients.current", "proto", "telnet", 2 },
    { "clients.accepted", "proto", "telnet", 40 },
    { "bytes.received", "proto", "http", 123456789012ull },
    { "frames.received", NULL, NULL, 99 },
    { "frames.rejected", "reason", "oversize", 6 },
    { "frames.rejected", "reason", "json", 2 },
    { "http.requests", NULL, NULL, 17 },
    { "clients.rejected", NULL, NULL, 9 },
    { "points.forwarded", NULL, NULL, 1234 },
    { "points.spooled", NULL, NULL, 50 },
    { "points.unspooled", NULL, NULL, 20 },
    { "points.spool_pending", NULL, NULL, 30 },
    { "points.dropped", NULL, NULL, 4 },
    { "points.queued", NULL, NULL, 3 },
    { "backend.up", "backend", "tsd1", 1 },
    { "backend.up", "backend", "tsd2", 0 },
    { "backend.queue_bytes", "backend", "tsd1", 96 },
    { "backend.queue_bytes", "backend", "tsd2", 0 },
    { "backend.queue_lines", "backend", "tsd1", 3 },
    { "backend.errors", "backend", "tsd1", 5 },
    { "backend.connect_attempts", "backend", "tsd1", 8 },
    { "backend.connections", "backend", "tsd1", 0 },
    { "spool.connected", NULL, NULL, 0 },
    { "spool.bytes", NULL, NULL, 0 },
    { "memory.queued", NULL, NULL, 96 },
    { "memory.live", NULL, NULL, BS },
    { "memory.reserved", NULL, NULL, BS },
    { "memory.limit", NULL, NULL, LIMIT },
    { "memory.peak_live", NULL, NULL, BS },
    { "memory.refusals", NULL, NULL, 1 },
    { "rule.matched", "rule", "r1", 11 },
    { "rule.dropped", "rule", "r1", 7 },
    { "rule.matched", "rule", "r2", 5 },
    { "rule.refused", "rule", "r2", 3 },
    { "rule.errors", "rule", "r2", 1 },
    { "rule.dropped", "rule", "r2", 0 },
    { "group.points", "group", "default", 13 },
    { "points.rule_dropped", NULL, NULL, 7 },
    { "points.copies", NULL, NULL, 2 },
};

START_TEST(test_telnet_format_and_values)
{
    bump_counters();
    render_telnet();
    ck_assert_int_gt(nrecs, 50);
    for (size_t i = 0; i < TS_ARRAY_LEN(expected); i++) {
        char name[96];
        snprintf(name, sizeof(name), "tsrelay.%s", expected[i].name);
        ck_assert_msg(value_of(name, expected[i].tagk, expected[i].tagv) == expected[i].value,
                      "%s %s=%s is %llu, expected %llu", name,
                      expected[i].tagk ? expected[i].tagk : "",
                      expected[i].tagv ? expected[i].tagv : "",
                      value_of(name, expected[i].tagk, expected[i].tagv), expected[i].value);
    }
    unsigned long long up = value_of("tsrelay.uptime", NULL, NULL);
    ck_assert_uint_ge(up, UPTIME);
    ck_assert_uint_le(up, UPTIME + (unsigned long long)(t_after - t_before) + 1);
    ck_assert_uint_gt(value_of("tsrelay.memory.rss", NULL, NULL), 0);
    ck_assert_uint_eq(value_of("tsrelay.log.lines", NULL, NULL), log_get_stats()->lines);
    /* one line per (name, tag): no duplicates */
    for (int i = 0; i < nrecs; i++)
        for (int j = i + 1; j < nrecs; j++)
            if (strcmp(recs[i].name, recs[j].name) == 0 &&
                strcmp(recs[i].tagk, recs[j].tagk) == 0 &&
                strcmp(recs[i].tagv, recs[j].tagv) == 0)
                ck_abort_msg("duplicate line for %s %s=%s", recs[i].name, recs[i].tagk,
                             recs[i].tagv);
}
END_TEST

START_TEST(test_telnet_zero_counters)
{
    render_telnet();
    ck_assert_uint_eq(value_of("tsrelay.points.received", "proto", "telnet"), 0);
    ck_assert_uint_eq(value_of("tsrelay.memory.live", NULL, NULL), 0);
    ck_assert_uint_eq(value_of("tsrelay.backend.up", "backend", "tsd2"), 1);
    /* every backend, every protocol but auto */
    ck_assert_ptr_null(find("tsrelay.points.received", "proto", "auto"));
    ck_assert_ptr_nonnull(find("tsrelay.backend.queue_bytes", "backend", "tsd1"));
    ck_assert_ptr_nonnull(find("tsrelay.backend.queue_bytes", "backend", "tsd2"));
}
END_TEST

START_TEST(test_puts_format)
{
    bump_counters();
    render_telnet();
    int ntel = nrecs;
    size_t n = stats_format_puts(&R, out, sizeof(out));
    ck_assert_uint_gt(n, 0);
    ck_assert_int_eq(out[n - 1], '\n');
    int lines = 0;
    for (const char *p = out; *p; p = strchr(p, '\n') + 1) {
        ck_assert_msg(strncmp(p, "put tsrelay.", 12) == 0, "not a put line: %.60s", p);
        lines++;
    }
    ck_assert_int_eq(lines, ntel);
    ck_assert_ptr_nonnull(strstr(out, "put tsrelay.points.forwarded "));
    ck_assert_ptr_nonnull(strstr(out, " 1234 host=" HOST "\n"));
}
END_TEST

/* ---- Prometheus ------------------------------------------------------ */

static void
parse_prometheus(const char *text, size_t len)
{
    regex_t sample, help, type;
    ck_assert_int_eq(regcomp(&sample,
                             "^([a-zA-Z_:][a-zA-Z0-9_:]*)"
                             "(\\{([a-zA-Z_][a-zA-Z0-9_]*)=\"([^\"\\\\]*)\"\\})? ([0-9]+[.]?[0-9]*)$",
                             REG_EXTENDED), 0);
    ck_assert_int_eq(regcomp(&help, "^# HELP ([a-zA-Z_:][a-zA-Z0-9_:]*) [^ ].*$",
                             REG_EXTENDED), 0);
    ck_assert_int_eq(regcomp(&type, "^# TYPE ([a-zA-Z_:][a-zA-Z0-9_:]*) (counter|gauge)$",
                             REG_EXTENDED), 0);
    ck_assert_uint_gt(len, 0);
    ck_assert_int_eq(text[len - 1], '\n');
    ck_assert_uint_eq(strlen(text), len);

    static char seen[MAXREC][96];
    int nseen = 0;
    char cur[96] = "";     /* name of the last TYPE line */
    char pending[96] = ""; /* HELP seen, TYPE expected next */
    int cur_samples = 0;
    bool cur_counter = false;
    nrecs = 0;
    const char *p = text;
    while (*p) {
        const char *nl = strchr(p, '\n');
        char line[512];
        ck_assert_uint_lt((size_t)(nl - p), sizeof(line));
        memcpy(line, p, (size_t)(nl - p));
        line[nl - p] = '\0';
        p = nl + 1;
        regmatch_t m[8];
        if (regexec(&help, line, 8, m, 0) == 0) {
            char name[96];
            copy_match(name, sizeof(name), line, &m[1]);
            if (pending[0] != '\0')
                ck_abort_msg("HELP for %s not followed by its TYPE", pending);
            if (cur[0] != '\0' && cur_samples == 0)
                ck_abort_msg("metric %s has no samples", cur);
            for (int i = 0; i < nseen; i++)
                if (strcmp(seen[i], name) == 0)
                    ck_abort_msg("second # HELP for %s (samples not contiguous)", name);
            ck_assert_int_lt(nseen, MAXREC);
            snprintf(seen[nseen++], sizeof(seen[0]), "%s", name);
            snprintf(pending, sizeof(pending), "%s", name);
        } else if (regexec(&type, line, 8, m, 0) == 0) {
            char name[96], kind[16];
            copy_match(name, sizeof(name), line, &m[1]);
            copy_match(kind, sizeof(kind), line, &m[2]);
            if (strcmp(name, pending) != 0)
                ck_abort_msg("# TYPE %s without its # HELP right before", name);
            pending[0] = '\0';
            snprintf(cur, sizeof(cur), "%s", name);
            cur_samples = 0;
            cur_counter = strcmp(kind, "counter") == 0;
            size_t nl2 = strlen(name);
            bool total = nl2 > 6 && strcmp(name + nl2 - 6, "_total") == 0;
            if (cur_counter != total)
                ck_abort_msg("%s %s: counters (and only counters) end in _total", kind, name);
        } else if (regexec(&sample, line, 8, m, 0) == 0) {
            ck_assert_int_lt(nrecs, MAXREC);
            struct rec *r = &recs[nrecs++];
            copy_match(r->name, sizeof(r->name), line, &m[1]);
            copy_match(r->tagk, sizeof(r->tagk), line, &m[3]);
            copy_match(r->tagv, sizeof(r->tagv), line, &m[4]);
            r->value = strtoull(line + m[5].rm_so, NULL, 10);
            r->ts = 0;
            if (pending[0] != '\0' || strcmp(r->name, cur) != 0)
                ck_abort_msg("sample '%s' is not under its own HELP/TYPE (current %s)", line,
                             cur);
            cur_samples++;
        } else {
            ck_abort_msg("not a Prometheus text line: '%s'", line);
        }
    }
    ck_assert_msg(pending[0] == '\0', "HELP for %s at the end without TYPE", pending);
    ck_assert_int_gt(cur_samples, 0);
    regfree(&sample);
    regfree(&help);
    regfree(&type);
}

/* "points.received" -> "tsrelay_points_received" (+ "_total" if present). */
static const struct rec *
find_prom(const char *dotted, const char *tagk, const char *tagv)
{
    char name[96];
    size_t n = (size_t)snprintf(name, sizeof(name), "tsrelay_%s", dotted);
    for (size_t i = 0; i < n; i++)
        if (name[i] == '.')
            name[i] = '_';
    const struct rec *r = find(name, tagk, tagv);
    if (r == NULL) {
        snprintf(name + n, sizeof(name) - n, "_total");
        r = find(name, tagk, tagv);
    }
    return r;
}

START_TEST(test_prometheus)
{
    bump_counters();
    size_t n = stats_format_prometheus(&R, out, sizeof(out));
    ck_assert_uint_lt(n, sizeof(out) - 1);
    parse_prometheus(out, n);
    ck_assert_int_gt(nrecs, 50);
    for (size_t i = 0; i < TS_ARRAY_LEN(expected); i++) {
        const struct rec *r = find_prom(expected[i].name, expected[i].tagk, expected[i].tagv);
        ck_assert_msg(r != NULL, "no sample for %s", expected[i].name);
        ck_assert_msg(r->value == expected[i].value, "%s %s=%s is %llu, expected %llu",
                      r->name, r->tagk, r->tagv, r->value, expected[i].value);
    }
    /* spot checks of the naming scheme */
    ck_assert_ptr_nonnull(find("tsrelay_points_received_total", "proto", "telnet"));
    ck_assert_ptr_nonnull(find("tsrelay_frames_rejected_total", "reason", "json"));
    ck_assert_ptr_nonnull(find("tsrelay_memory_live", NULL, NULL));
    ck_assert_ptr_nonnull(find("tsrelay_backend_up", "backend", "tsd2"));
    ck_assert_ptr_nonnull(strstr(out, "# TYPE tsrelay_points_forwarded_total counter\n"));
    ck_assert_ptr_nonnull(strstr(out, "# TYPE tsrelay_memory_live gauge\n"));
    /* no host label: Prometheus adds its own instance label */
    ck_assert_ptr_null(strstr(out, "host="));
}
END_TEST

/* ---- JSON -------------------------------------------------------------- */

START_TEST(test_json)
{
    bump_counters();
    json_init();
    t_before = time(NULL);
    size_t n = stats_format_json(&R, out, sizeof(out));
    t_after = time(NULL);
    ck_assert_uint_lt(n, sizeof(out) - 1);
    ck_assert_uint_eq(strlen(out), n);
    json_error_t jerr;
    json_t *root = json_loadb(out, n, 0, &jerr);
    ck_assert_msg(root != NULL, "not JSON: %s at %d", jerr.text, jerr.position);
    ck_assert(json_is_array(root));
    ck_assert_uint_gt(json_array_size(root), 50);
    nrecs = 0;
    size_t i;
    json_t *o;
    json_array_foreach(root, i, o) {
        if (!json_is_object(o) || json_object_size(o) != 4)
            ck_abort_msg("element %zu is not an object of 4 members", i);
        json_t *metric = json_object_get(o, "metric");
        json_t *ts = json_object_get(o, "timestamp");
        json_t *value = json_object_get(o, "value");
        json_t *tags = json_object_get(o, "tags");
        if (!json_is_string(metric) || strncmp(json_string_value(metric), "tsrelay.", 8) != 0)
            ck_abort_msg("element %zu: bad metric", i);
        if (!json_is_integer(ts) || json_integer_value(ts) < (json_int_t)t_before ||
            json_integer_value(ts) > (json_int_t)t_after)
            ck_abort_msg("element %zu: bad timestamp", i);
        ck_assert_int_lt(nrecs, MAXREC);
        struct rec *r = &recs[nrecs++];
        memset(r, 0, sizeof(*r));
        snprintf(r->name, sizeof(r->name), "%s", json_string_value(metric));
        /* OpenTSDB's /api/stats gives the value as a string of digits */
        if (json_is_string(value)) {
            const char *v = json_string_value(value);
            /* digits; the latency gauges are decimal seconds */
            const char *dot = strchr(v, '.');
            if (*v == '\0' || strspn(v, "0123456789.") != strlen(v) ||
                (dot != NULL && strchr(dot + 1, '.') != NULL))
                ck_abort_msg("%s: value '%s' is not a number", r->name, v);
            r->value = strtoull(v, NULL, 10);
        } else if (json_is_integer(value)) {
            r->value = (unsigned long long)json_integer_value(value);
        } else {
            ck_abort_msg("%s: value is neither a string nor an integer", r->name);
        }
        if (!json_is_object(tags))
            ck_abort_msg("%s: tags is not an object", r->name);
        json_t *host = json_object_get(tags, "host");
        if (!json_is_string(host) || strcmp(json_string_value(host), HOST) != 0)
            ck_abort_msg("%s: tags.host is not " HOST, r->name);
        size_t ntags = json_object_size(tags);
        if (ntags > 2)
            ck_abort_msg("%s: %zu tags", r->name, ntags);
        const char *k;
        json_t *v;
        json_object_foreach(tags, k, v) {
            if (!json_is_string(v))
                ck_abort_msg("%s: tag %s is not a string", r->name, k);
            if (strcmp(k, "host") != 0) {
                snprintf(r->tagk, sizeof(r->tagk), "%s", k);
                snprintf(r->tagv, sizeof(r->tagv), "%s", json_string_value(v));
            }
        }
    }
    json_decref(root);
    for (size_t e = 0; e < TS_ARRAY_LEN(expected); e++) {
        char name[96];
        snprintf(name, sizeof(name), "tsrelay.%s", expected[e].name);
        ck_assert_msg(value_of(name, expected[e].tagk, expected[e].tagv) == expected[e].value,
                      "%s is %llu, expected %llu", name,
                      value_of(name, expected[e].tagk, expected[e].tagv), expected[e].value);
    }
}
END_TEST

/* The three renderings list the same samples. */
START_TEST(test_renderings_agree)
{
    static struct rec tel[MAXREC];
    bump_counters();
    render_telnet();
    int ntel = nrecs;
    memcpy(tel, recs, sizeof(tel));

    size_t n = stats_format_prometheus(&R, out, sizeof(out));
    parse_prometheus(out, n);
    ck_assert_int_eq(nrecs, ntel);
    for (int i = 0; i < ntel; i++) {
        const struct rec *r = find_prom(tel[i].name + 8, tel[i].tagk[0] ? tel[i].tagk : NULL,
                                        tel[i].tagv);
        if (r == NULL)
            ck_abort_msg("%s %s=%s missing from /metrics", tel[i].name, tel[i].tagk,
                         tel[i].tagv);
        if (strcmp(tel[i].name, "tsrelay.uptime") == 0 ||
            strcmp(tel[i].name, "tsrelay.memory.rss") == 0 ||
            strncmp(tel[i].name, "tsrelay.memory.malloc_", 22) == 0)
            continue;
        if (r->value != tel[i].value)
            ck_abort_msg("%s: %llu in stats, %llu in /metrics", tel[i].name, tel[i].value,
                         r->value);
    }

    json_init();
    n = stats_format_json(&R, out, sizeof(out));
    json_error_t jerr;
    json_t *root = json_loadb(out, n, 0, &jerr);
    ck_assert_ptr_nonnull(root);
    ck_assert_int_eq((int)json_array_size(root), ntel);
    json_decref(root);
}
END_TEST

/* The C heap's figures: in use within what the arenas and maps hold, and
 * a 4 MiB allocation shows in memory.malloc_in_use until it is freed.
 * (Under AddressSanitizer or valgrind malloc is theirs: glibc's figures
 * say nothing.) */
START_TEST(test_malloc_figures)
{
    render_telnet();
    unsigned long long in_use = value_of("tsrelay.memory.malloc_in_use", NULL, NULL);
    unsigned long long arena = value_of("tsrelay.memory.malloc_arena", NULL, NULL);
    unsigned long long mapped = value_of("tsrelay.memory.malloc_mmapped", NULL, NULL);
    ck_assert_ptr_nonnull(find("tsrelay.memory.malloc_mmapped", NULL, NULL));
#ifdef HAVE_MALLINFO2
    if (!unit_glibc_malloc())
        return;
    ck_assert_uint_gt(in_use, 0);
    ck_assert_uint_gt(arena, 0);
    ck_assert_uint_le(in_use, arena + mapped);
    size_t big = 4u << 20;
    char *volatile p = malloc(big);
    ck_assert_ptr_nonnull(p);
    memset(p, 1, big);
    render_telnet();
    unsigned long long held = value_of("tsrelay.memory.malloc_in_use", NULL, NULL);
    free(p);
    render_telnet();
    unsigned long long after = value_of("tsrelay.memory.malloc_in_use", NULL, NULL);
    ck_assert_uint_ge(held, in_use + big);
    ck_assert_uint_le(after + big / 2, held); /* (the test itself allocates) */
#else
    ck_assert_uint_eq(in_use + arena + mapped, 0);
#endif
}
END_TEST

/* ---- truncation ---------------------------------------------------------- */

typedef size_t (*fmt_fn)(struct relay *r, char *out, size_t cap);

static void
check_truncation(fmt_fn fn, const char *what)
{
    static char buf[8192 + 64];
    size_t full = fn(&R, out, sizeof(out));
    ck_assert_uint_gt(full, 1000);
    size_t caps[300];
    size_t ncaps = 0;
    for (size_t c = 0; c < 200; c++)
        caps[ncaps++] = c;
    for (size_t c = 200; c < 8192 && ncaps < TS_ARRAY_LEN(caps); c += 97)
        caps[ncaps++] = c;
    for (size_t k = 0; k < ncaps; k++) {
        size_t cap = caps[k];
        memset(buf, 0x7f, sizeof(buf));
        size_t n = fn(&R, buf, cap);
        for (size_t i = cap; i < sizeof(buf); i++)
            if (buf[i] != 0x7f)
                ck_abort_msg("%s: cap %zu: byte %zu written", what, cap, i);
        if (cap == 0) {
            if (n != 0)
                ck_abort_msg("%s: cap 0 returned %zu", what, n);
            continue;
        }
        /* everything here truncates: the result is cap - 1 bytes and a NUL */
        if (cap < full && n != cap - 1)
            ck_abort_msg("%s: cap %zu returned %zu, expected %zu", what, cap, n, cap - 1);
        if (cap >= 2 && buf[n] != '\0')
            ck_abort_msg("%s: cap %zu: no NUL after %zu bytes", what, cap, n);
        if (cap >= 2 && strlen(buf) != n)
            ck_abort_msg("%s: cap %zu: strlen %zu != %zu", what, cap, strlen(buf), n);
    }
}

START_TEST(test_truncation)
{
    bump_counters();
    json_init();
    check_truncation(stats_format_telnet, "telnet");
    check_truncation(stats_format_prometheus, "prometheus");
    check_truncation(stats_format_json, "json");
    check_truncation(stats_format_puts, "puts");
}
END_TEST

/* The new-series guard's part: refusals per limit, the limits in force,
 * series remembered, memory, and the heaviest client and metric, their
 * names written as tag values every rendering takes (an IPv6 address's
 * ':' as '_'); the top lists are left out of the put lines (they would
 * be new series of their own). */
START_TEST(test_limits_samples)
{
    struct cfg_limits lim = { .per_client_hour = 3, .series_memory = 256 * 1024 };
    bool failed;
    R.guard = series_guard_new(R.loop, &R.pool, &lim, &failed);
    ck_assert_ptr_nonnull(R.guard);
    for (int i = 0; i < 5; i++) {
        char line[64];
        int n = snprintf(line, sizeof(line), "put app.req 1700000000 1 req=%d\n", i);
        struct point_error why;
        int rc = series_guard_admit(R.guard, "2001:db8::1", line, (size_t)n,
                                    point_line_hash(line, (size_t)n), &why);
        ck_assert_int_eq(rc, i < 3 ? TS_OK : TS_REFUSED);
    }
    render_telnet();
    ck_assert_uint_eq(value_of("tsrelay.limits.refused", "limit",
                               "new-series-per-client-per-hour"), 2);
    ck_assert_uint_eq(value_of("tsrelay.limits.refused", "limit", "new-series-per-hour"), 0);
    ck_assert_uint_eq(value_of("tsrelay.limits.limit", "limit",
                               "new-series-per-client-per-hour"), 3);
    ck_assert_uint_eq(value_of("tsrelay.limits.new_series", NULL, NULL), 3);
    ck_assert_uint_eq(value_of("tsrelay.limits.new_series_last_hour", NULL, NULL), 3);
    ck_assert_uint_eq(value_of("tsrelay.limits.series_tracked", "filter", "current"), 3);
    ck_assert_uint_eq(value_of("tsrelay.limits.memory_bytes", NULL, NULL), R.guard->bytes);
    ck_assert_uint_eq(value_of("tsrelay.limits.top_client_new_series", "client", "2001_db8__1"),
                      5);
    ck_assert_uint_eq(value_of("tsrelay.limits.top_client_let_through", "client",
                               "2001_db8__1"), 3);
    ck_assert_uint_eq(value_of("tsrelay.limits.top_metric_new_series", "metric", "app.req"), 5);
    size_t n = stats_format_puts(&R, out, sizeof(out));
    ck_assert_uint_lt(n, sizeof(out) - 1);
    ck_assert_ptr_null(strstr(out, "limits.top_"));
    ck_assert_ptr_nonnull(strstr(out, "put tsrelay.limits.refused "));
    series_guard_free(R.guard);
    R.guard = NULL;
    /* no guard: the counters are there, at 0, and no top list */
    render_telnet();
    ck_assert_uint_eq(value_of("tsrelay.limits.new_series", NULL, NULL), 0);
    ck_assert_ptr_null(find("tsrelay.limits.top_client_new_series", "client", "2001_db8__1"));
}
END_TEST

static Suite *
stats_suite(void)
{
    Suite *s = suite_create("stats");
    TCase *tc = tcase_create("stats");
    tcase_add_checked_fixture(tc, setup, teardown);
    tcase_add_test(tc, test_telnet_format_and_values);
    tcase_add_test(tc, test_telnet_zero_counters);
    tcase_add_test(tc, test_puts_format);
    tcase_add_test(tc, test_prometheus);
    tcase_add_test(tc, test_json);
    tcase_add_test(tc, test_renderings_agree);
    tcase_add_test(tc, test_malloc_figures);
    tcase_add_test(tc, test_truncation);
    tcase_add_test(tc, test_limits_samples);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(stats_suite)
