/*
 * config.c -- the configuration contract: INI file -> struct config.
 *
 * One typed table drives every key: name, section, type, bounds, offset.
 * libinih does the INI syntax; a counting reader gives us the line of each
 * key, so every error reads "FILE:LINE: [section] key: reason".  It must
 * never touch sockets or the loop.
 */
#include "autoconf.h"

#include "base/config.h"

#include <ctype.h>
#include <stdarg.h>
#include <errno.h>
#include <ini.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/point.h"
#include "base/resolver.h"
#include "base/units.h"
#include "base/util.h"

enum sect { S_RELAY, S_BACKEND, S_REDIS, S_GROUP, S_RULE };
/* K_RULE: a [group] or [rule] key, kept by rulecfg.c */
enum ktype { K_SIZE, K_DURATION, K_INT, K_STRING, K_ENUM, K_LISTEN, K_ADDR, K_RULE };

struct key {
    enum sect sect;
    const char *name;
    enum ktype type;
    size_t off;           /* into struct config, cfg_backend or cfg_redis */
    size_t size;          /* K_STRING: buffer size */
    uint64_t min, max;    /* K_SIZE, K_DURATION, K_INT */
    const char *const *choices; /* K_ENUM, NULL-terminated */
};

static const char *const routing_names[] = { "hash", "roundrobin", "failover", "all", NULL };
static const char *const overflow_names[] = { "block", "drop", NULL };
static const char *const ack_names[] = { "none", "version", NULL };
static const char *const onoff_names[] = { "off", "on", NULL };
static const char *const level_names[] = { "error", "warn", "info", "debug", NULL };
static const char *const proto_names[] = { "auto", "telnet", "framed", "http", NULL };

#define KB 1024ull
#define MB (1024ull * 1024)
#define GB (1024ull * 1024 * 1024)
#define HOUR_MS (3600ull * 1000)
#define R(f) offsetof(struct config, f), sizeof(((struct config *)0)->f)
#define B(f) offsetof(struct cfg_backend, f), sizeof(((struct cfg_backend *)0)->f)
#define D(f) offsetof(struct cfg_redis, f), sizeof(((struct cfg_redis *)0)->f)

static const struct key keys[] = {
    { S_RELAY, "listen", K_LISTEN, 0, 0, 0, 0, NULL },
    { S_RELAY, "routing", K_ENUM, R(routing), 0, 0, routing_names },
    { S_RELAY, "max-clients", K_INT, R(max_clients), 1, 1000000, NULL },
    { S_RELAY, "max-frame-bytes", K_SIZE, R(max_frame_bytes), 64, 16 * MB - 1, NULL },
    { S_RELAY, "max-line-bytes", K_SIZE, R(max_line_bytes), 1100, 16 * MB, NULL },
    { S_RELAY, "max-reply-bytes", K_SIZE, R(max_reply_bytes), 1024, 16 * MB, NULL },
    { S_RELAY, "max-http-body-bytes", K_SIZE, R(max_http_body_bytes), 1024, 256 * MB, NULL },
    { S_RELAY, "idle-timeout", K_DURATION, R(idle_timeout_ms), 0, 30 * 24 * HOUR_MS, NULL },
    { S_RELAY, "read-timeout", K_DURATION, R(read_timeout_ms), 0, 24 * HOUR_MS, NULL },
    { S_RELAY, "memory-limit", K_SIZE, R(memory_limit), 1 * MB, 1024 * GB, NULL },
    { S_RELAY, "control-reserve", K_SIZE, R(control_reserve), 0, 1024 * GB, NULL },
    { S_RELAY, "input-memory", K_SIZE, R(input_memory), 0, 1024 * GB, NULL },
    { S_RELAY, "control-slots", K_INT, R(control_slots), 0, 10000, NULL },
    { S_RELAY, "instance", K_STRING, R(instance), 0, 0, NULL },
    { S_RELAY, "frame-acks", K_ENUM, R(frame_acks), 0, 0, onoff_names },
    { S_RELAY, "block-size", K_SIZE, R(block_size), 4 * KB, 16 * MB, NULL },
    { S_RELAY, "overflow", K_ENUM, R(overflow), 0, 0, overflow_names },
    { S_RELAY, "shutdown-timeout", K_DURATION, R(shutdown_timeout_ms), 0, HOUR_MS, NULL },
    { S_RELAY, "stats-interval", K_DURATION, R(stats_interval_ms), 0, 24 * HOUR_MS, NULL },
    { S_RELAY, "history", K_DURATION, R(history_ms), 0, 24 * HOUR_MS, NULL },
    { S_RELAY, "history-interval", K_DURATION, R(history_interval_ms), 10, 60 * 1000, NULL },
    { S_RELAY, "reconnect-min", K_DURATION, R(reconnect_min_ms), 1, HOUR_MS, NULL },
    { S_RELAY, "reconnect-max", K_DURATION, R(reconnect_max_ms), 1, 24 * HOUR_MS, NULL },
    { S_RELAY, "resolve-timeout", K_DURATION, R(resolve_timeout_ms), 100, 60 * 1000, NULL },
    { S_RELAY, "dns-servers", K_STRING, R(dns_servers), 0, 0, NULL },
    { S_RELAY, "max-tags", K_INT, R(max_tags), 1, 64, NULL },
    { S_RELAY, "allow-specialchars", K_STRING, R(allow_specialchars), 0, 0, NULL },
    { S_RELAY, "default-group", K_STRING, R(default_group), 0, 0, NULL },
    { S_RELAY, "rule-cache", K_SIZE, R(rule_cache_bytes), 0, 256 * MB, NULL },
    { S_RELAY, "rule-match-limit", K_INT, R(rule_match_limit), 100, 100000000, NULL },
    { S_RELAY, "log-level", K_ENUM, R(log_level), 0, 0, level_names },
    { S_RELAY, "log-file", K_STRING, R(log_file), 0, 0, NULL },
    { S_RELAY, "log-buffer-bytes", K_SIZE, R(log_buffer_bytes), 4 * KB, 64 * MB, NULL },
    { S_BACKEND, "address", K_ADDR, B(addr), 0, 0, NULL },
    { S_BACKEND, "conns", K_INT, B(conns), 1, CFG_MAX_CONNS, NULL },
    { S_BACKEND, "write-timeout", K_DURATION, B(write_timeout_ms), 10, 24 * HOUR_MS, NULL },
    { S_BACKEND, "connect-timeout", K_DURATION, B(connect_timeout_ms), 10, HOUR_MS, NULL },
    { S_BACKEND, "ack", K_ENUM, B(ack), 0, 0, ack_names },
    { S_BACKEND, "ack-timeout", K_DURATION, B(ack_timeout_ms), 100, HOUR_MS, NULL },
    { S_BACKEND, "ack-window", K_SIZE, B(ack_window), 4 * KB, 1024 * MB, NULL },
    { S_BACKEND, "max-rate", K_INT, B(max_rate), 0, 1000000000, NULL },
    { S_BACKEND, "overflow", K_ENUM, B(overflow), 0, 0, overflow_names },
    { S_BACKEND, "max-queue-bytes", K_SIZE, B(max_queue_bytes), 0, 1024 * GB, NULL },
    { S_REDIS, "address", K_ADDR, D(addr), 0, 0, NULL },
    { S_REDIS, "prefix", K_STRING, D(prefix), 0, 0, NULL },
    { S_REDIS, "spool-high", K_SIZE, D(spool_high), 64 * KB, 1024 * GB, NULL },
    { S_REDIS, "spool-low", K_SIZE, D(spool_low), 0, 1024 * GB, NULL },
    { S_REDIS, "spool-max-bytes", K_SIZE, D(spool_max_bytes), 1 * MB, 1024 * 1024 * GB, NULL },
    { S_REDIS, "spool-flush-interval", K_DURATION, D(flush_interval_ms), 1, 60 * 1000, NULL },
    { S_REDIS, "connect-timeout", K_DURATION, D(connect_timeout_ms), 10, HOUR_MS, NULL },
    { S_REDIS, "compress-level", K_INT, D(compress_level), 0, 19, NULL },
    { S_REDIS, "sentinels", K_STRING, D(sentinels_text), 0, 0, NULL },
    { S_REDIS, "master-name", K_STRING, D(master_name), 0, 0, NULL },
    { S_REDIS, "takeover-after", K_DURATION, D(takeover_after_ms), 1000, HOUR_MS, NULL },
    { S_REDIS, "min-replicas-ack", K_INT, D(min_replicas_ack), 0, 16, NULL },
    { S_GROUP, "backends", K_RULE, 0, 0, 0, 0, NULL },
    { S_GROUP, "routing", K_RULE, 0, 0, 0, 0, NULL },
    { S_RULE, "match", K_RULE, 0, 0, 0, 0, NULL },
    { S_RULE, "tag", K_RULE, 0, 0, 0, 0, NULL },
    { S_RULE, "action", K_RULE, 0, 0, 0, 0, NULL },
    { S_RULE, "metric", K_RULE, 0, 0, 0, 0, NULL },
    { S_RULE, "tags", K_RULE, 0, 0, 0, 0, NULL },
    { S_RULE, "keys", K_RULE, 0, 0, 0, 0, NULL },
    { S_RULE, "to", K_RULE, 0, 0, 0, 0, NULL },
    { S_RULE, "stop", K_RULE, 0, 0, 0, 0, NULL },
};

const char *
config_proto_name(enum listen_proto p)
{
    return proto_names[p];
}

const char *
config_routing_name(enum routing r)
{
    return routing_names[r];
}

/* Read-only view of keys[] for the documentation checks (tests/unit/check_docs.c). */
size_t
config_key_count(void)
{
    return TS_ARRAY_LEN(keys);
}

const char *
config_key_section(size_t i)
{
    static const char *const sect_names[] = { "relay", "backend", "redis", "group", "rule" };
    return i < TS_ARRAY_LEN(keys) ? sect_names[keys[i].sect] : NULL;
}

const char *
config_key_name(size_t i)
{
    return i < TS_ARRAY_LEN(keys) ? keys[i].name : NULL;
}

bool
config_key_format(size_t i, const struct config *cfg, const struct cfg_backend *b, char *buf,
                  size_t len)
{
    if (i >= TS_ARRAY_LEN(keys) || keys[i].type == K_LISTEN || keys[i].type == K_RULE ||
        (keys[i].sect == S_BACKEND && b == NULL))
        return false;
    const struct key *k = &keys[i];
    const char *base = k->sect == S_RELAY ? (const char *)cfg
                       : k->sect == S_REDIS ? (const char *)&cfg->redis : (const char *)b;
    const char *field = base + k->off;
    uint64_t v = 0;
    if (k->type == K_SIZE || k->type == K_DURATION || k->type == K_INT)
        v = k->size == sizeof(int) ? (uint64_t)*(const int *)(const void *)field
                                   : *(const uint64_t *)(const void *)field;
    switch (k->type) {
    case K_SIZE:
    case K_DURATION:
        units_format(v, k->type == K_DURATION, buf, len);
        break;
    case K_INT:
        snprintf(buf, len, "%llu", (unsigned long long)v);
        break;
    case K_ENUM: {
        int e = k->choices == level_names ? -1 : *(const int *)(const void *)field;
        snprintf(buf, len, "%s", k->choices == level_names ? field
                                 : e < 0 ? "(the relay's)" : k->choices[e]);
        break;
    }
    case K_ADDR: {
        const struct cfg_addr *a = (const struct cfg_addr *)(const void *)field;
        snprintf(buf, len, strchr(a->host, ':') ? "[%s]:%s" : "%s:%s", a->host, a->port);
        break;
    }
    case K_STRING:
    case K_LISTEN:
    default:
        snprintf(buf, len, "%s", field);
        break;
    }
    return true;
}

static void
backend_defaults(struct cfg_backend *b)
{
    memset(b, 0, sizeof(*b));
    b->conns = 2;
    b->write_timeout_ms = 10 * 1000;
    b->connect_timeout_ms = 5 * 1000;
    b->ack = ACK_NONE;
    b->ack_timeout_ms = 10 * 1000;
    b->ack_window = 4 * MB;
    b->max_rate = 0;
    b->overflow = -1;
    b->max_queue_bytes = 0;
}

void
config_defaults(struct config *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    cfg->routing = ROUTE_HASH;
    cfg->max_clients = 10000;
    cfg->max_frame_bytes = 1 * MB;
    cfg->max_line_bytes = 32 * KB;
    cfg->max_reply_bytes = 32 * KB;
    cfg->max_http_body_bytes = 8 * MB;
    cfg->idle_timeout_ms = 5 * 60 * 1000;
    cfg->read_timeout_ms = 30 * 1000;
    cfg->memory_limit = 128 * MB;
    cfg->control_reserve = 0; /* auto: memory-limit / 16, within [256K, 4M] */
    cfg->input_memory = 0;    /* auto: memory-limit - control-reserve - memory-limit / 8 */
    cfg->control_slots = 8;
    cfg->block_size = 64 * KB;
    cfg->overflow = OVERFLOW_BLOCK;
    cfg->shutdown_timeout_ms = 10 * 1000;
    cfg->stats_interval_ms = 0;
    cfg->history_ms = 15 * 60 * 1000;
    cfg->history_interval_ms = 1000;
    cfg->reconnect_min_ms = 100;
    cfg->reconnect_max_ms = 10 * 1000;
    cfg->resolve_timeout_ms = 5 * 1000;
    cfg->max_tags = 8;
    snprintf(cfg->default_group, sizeof(cfg->default_group), "default");
    cfg->rule_cache_bytes = 1 * MB;
    cfg->rule_match_limit = 100000;
    snprintf(cfg->log_level, sizeof(cfg->log_level), "info");
    cfg->log_buffer_bytes = 256 * KB;
    cfg->redis.enabled = false;
    snprintf(cfg->redis.addr.host, sizeof(cfg->redis.addr.host), "127.0.0.1");
    snprintf(cfg->redis.addr.port, sizeof(cfg->redis.addr.port), "6379");
    snprintf(cfg->redis.prefix, sizeof(cfg->redis.prefix), "tsrelay");
    cfg->redis.spool_high = 16 * MB;
    cfg->redis.spool_low = 4 * MB;
    cfg->redis.spool_max_bytes = 4 * GB;
    cfg->redis.flush_interval_ms = 100;
    cfg->redis.connect_timeout_ms = 2000;
    cfg->redis.compress_level = 1;
    cfg->redis.takeover_after_ms = 30 * 1000;
    cfg->redis.min_replicas_ack = 0;
}

/* ---- addresses --------------------------------------------------------- */

static const char *
skip_ws(const char *s)
{
    while (*s == ' ' || *s == '\t')
        s++;
    return s;
}

/* "host:port", "[v6]:port" or ":port" (all addresses). */
int
config_parse_addr(const char *s, struct cfg_addr *out)
{
    const char *host, *port;
    size_t hlen;
    s = skip_ws(s);
    if (*s == '[') {
        const char *rb = strchr(s, ']');
        if (rb == NULL || rb[1] != ':')
            return TS_ERROR;
        host = s + 1;
        hlen = (size_t)(rb - host);
        port = rb + 2;
    } else {
        const char *colon = strrchr(s, ':');
        if (colon == NULL)
            return TS_ERROR;
        host = s;
        hlen = (size_t)(colon - s);
        port = colon + 1;
    }
    if (hlen >= sizeof(out->host))
        return TS_ERROR;
    size_t plen = strlen(port);
    while (plen > 0 && (port[plen - 1] == ' ' || port[plen - 1] == '\t'))
        plen--;
    if (plen == 0 || plen >= sizeof(out->port))
        return TS_ERROR;
    unsigned long p = 0;
    for (size_t i = 0; i < plen; i++) {
        if (!isdigit((unsigned char)port[i]))
            return TS_ERROR;
        p = p * 10 + (unsigned long)(port[i] - '0');
    }
    if (p == 0 || p > 65535)
        return TS_ERROR;
    memcpy(out->host, host, hlen);
    out->host[hlen] = '\0';
    if (hlen == 0)
        snprintf(out->host, sizeof(out->host), "0.0.0.0");
    memcpy(out->port, port, plen);
    out->port[plen] = '\0';
    return TS_OK;
}

/* ---- the INI walk ------------------------------------------------------ */

struct parse_state {
    struct config *cfg;
    const char *name;     /* file name for messages */
    int line;             /* line inih is looking at (one full line per read) */
    const char *text;     /* config_load_string: remaining text */
    FILE *fp;
    char *err;
    size_t errlen;
    bool failed;
    bool listen_given;
    int relay_line;       /* line of [relay], 0 if absent */
    int key_line[TS_ARRAY_LEN(keys)]; /* line of each keys[] entry last set (relay, redis) */
    struct cfg_backend *cur_backend;
    char linebuf[4096];
    char longval[4096];   /* a value too long for inih's line buffer */
    bool longval_used;
};
static int
fail(struct parse_state *ps, int line, const char *section, const char *key,
     const char *fmt, ...) __attribute__((format(printf, 5, 6)));

static int
fail(struct parse_state *ps, int line, const char *section, const char *key,
     const char *fmt, ...)
{
    if (ps->failed)
        return 0;
    ps->failed = true;
    int n = snprintf(ps->err, ps->errlen, "%s:%d: ", ps->name, line);
    if (n < 0 || (size_t)n >= ps->errlen)
        return 0;
    if (section != NULL) {
        int m = snprintf(ps->err + n, ps->errlen - (size_t)n, "[%s]%s%s: ", section,
                         key ? " " : "", key ? key : "");
        if (m < 0)
            return 0;
        n += m;
        if ((size_t)n >= ps->errlen)
            return 0;
    }
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(ps->err + n, ps->errlen - (size_t)n, fmt, ap);
    va_end(ap);
    return 0;
}

static bool valid_name(const char *s);

/* A section header seen by the reader (inih only reports sections through
 * their keys, so empty sections would go unnoticed). */
static void
section_header(struct parse_state *ps, const char *text)
{
    struct config *cfg = ps->cfg;
    const char *end = strchr(text, ']');
    if (end == NULL)
        return; /* inih reports the syntax error */
    char sect[CFG_NAME_MAX + 32];
    size_t n = (size_t)(end - text - 1);
    if (n >= sizeof(sect)) {
        fail(ps, ps->line, NULL, NULL, "section name too long");
        return;
    }
    memcpy(sect, text + 1, n);
    sect[n] = '\0';
    ps->cur_backend = NULL;
    cfg->rules.cur_kind = 0;
    int taken = TS_OK;
    struct rulecfg_err re = { ps->name, ps->err, ps->errlen };
    if (strcmp(sect, "relay") == 0) {
        ps->relay_line = ps->line;
    } else if (strcmp(sect, "redis") == 0) {
        cfg->redis.enabled = true;
        cfg->redis.line = ps->line;
    } else if (strncmp(sect, "backend", 7) == 0 && (sect[7] == ' ' || sect[7] == '\t')) {
        const char *bname = skip_ws(sect + 7);
        if (!valid_name(bname) || strlen(bname) >= CFG_NAME_MAX) {
            fail(ps, ps->line, sect, NULL, "backend name '%s' must be 1-%d of [A-Za-z0-9._-]",
                 bname, CFG_NAME_MAX - 1);
            return;
        }
        for (int i = 0; i < cfg->nbackends; i++) {
            if (strcmp(cfg->backends[i].name, bname) == 0) {
                fail(ps, ps->line, sect, NULL, "backend '%s' is defined twice (first at line %d)",
                     bname, cfg->backends[i].line);
                return;
            }
        }
        if (cfg->nbackends >= CFG_MAX_BACKENDS) {
            fail(ps, ps->line, sect, NULL, "more than %d backends", CFG_MAX_BACKENDS);
            return;
        }
        ps->cur_backend = &cfg->backends[cfg->nbackends++];
        backend_defaults(ps->cur_backend);
        snprintf(ps->cur_backend->name, sizeof(ps->cur_backend->name), "%s", bname);
        ps->cur_backend->line = ps->line;
    } else if (rulecfg_header(&cfg->rules, sect, ps->line, &re, &taken)) {
        ps->failed = ps->failed || taken != TS_OK;
    } else {
        fail(ps, ps->line, sect, NULL, "unknown section (expected [relay], [backend NAME], "
             "[redis], [group NAME] or [rule NAME])");
    }
}

/* inih reader.  Hands inih one whole line per call, so line numbers are
 * exact; strips indentation (inih would take an indented line for the
 * continuation of the previous value); notes section headers; and turns a
 * line longer than inih's buffer into a clear error (a long comment is
 * just shortened). */
static char *
counting_reader(char *str, int num, void *stream)
{
    struct parse_state *ps = stream;
    char *buf = ps->linebuf;
    size_t len;
    if (ps->fp != NULL) {
        if (fgets(buf, (int)sizeof(ps->linebuf), ps->fp) == NULL)
            return NULL;
        len = strlen(buf);
        if (len > 0 && buf[len - 1] != '\n' && !feof(ps->fp)) {
            int ch; /* overlong: skip the rest of the line */
            while ((ch = fgetc(ps->fp)) != EOF && ch != '\n')
                len++;
        }
    } else {
        if (*ps->text == '\0')
            return NULL;
        const char *nl = strchr(ps->text, '\n');
        len = nl ? (size_t)(nl - ps->text) + 1 : strlen(ps->text);
        size_t take = TS_MIN(len, sizeof(ps->linebuf) - 1);
        memcpy(buf, ps->text, take);
        buf[take] = '\0';
        ps->text += len;
    }
    ps->line++;
    const char *t = skip_ws(buf);
    size_t tl = strlen(t);
    if (*t == '[')
        section_header(ps, t);
    if (len >= (size_t)num - 1 || tl >= (size_t)num - 1) {
        if (*t == ';' || *t == '#') {
            snprintf(str, (size_t)num, ";\n");
            return str;
        }
        /* key = <long value>: inih's buffer holds ~200 bytes, so the value
         * travels aside and the handler picks it up */
        const char *eq = strchr(t, '=');
        if (eq != NULL && len < sizeof(ps->linebuf) - 1 && (size_t)(eq - t) + 8 < (size_t)num) {
            snprintf(ps->longval, sizeof(ps->longval), "%s", eq + 1);
            ps->longval_used = true;
            snprintf(str, (size_t)num, "%.*s= \001\n", (int)(eq - t), t);
            return str;
        }
        fail(ps, ps->line, NULL, NULL, "line longer than %zu characters",
             sizeof(ps->linebuf) - 2);
        snprintf(str, (size_t)num, "\n");
        return str;
    }
    memcpy(str, t, tl + 1);
    return str;
}

static const struct key *
find_key(enum sect sect, const char *name)
{
    for (size_t i = 0; i < TS_ARRAY_LEN(keys); i++)
        if (keys[i].sect == sect && strcmp(keys[i].name, name) == 0)
            return &keys[i];
    return NULL;
}

static int
set_listen(struct parse_state *ps, const char *section, const char *value)
{
    struct config *cfg = ps->cfg;
    if (!ps->listen_given) { /* the first listen key replaces the default */
        cfg->nlisten = 0;
        ps->listen_given = true;
    }
    if (cfg->nlisten >= CFG_MAX_LISTEN)
        return fail(ps, ps->line, section, "listen", "more than %d listeners", CFG_MAX_LISTEN);
    char buf[CFG_HOST_MAX + 32];
    snprintf(buf, sizeof(buf), "%s", value);
    char *sp = strpbrk(buf, " \t");
    enum listen_proto proto = PROTO_AUTO;
    if (sp != NULL) {
        *sp = '\0';
        const char *p = skip_ws(sp + 1);
        int found = -1;
        for (int i = 0; proto_names[i] != NULL; i++)
            if (strcasecmp(p, proto_names[i]) == 0)
                found = i;
        if (found < 0)
            return fail(ps, ps->line, section, "listen",
                        "unknown protocol '%s' (expected auto, telnet, framed or http)", p);
        proto = (enum listen_proto)found;
    }
    struct cfg_listen *l = &cfg->listen[cfg->nlisten];
    if (config_parse_addr(buf, &l->addr) != TS_OK)
        return fail(ps, ps->line, section, "listen",
                    "'%s' is not HOST:PORT (e.g. 0.0.0.0:4242 auto)", value);
    l->proto = proto;
    l->line = ps->line;
    cfg->nlisten++;
    return 1;
}

static int
set_value(struct parse_state *ps, const struct key *k, void *base, const char *section,
          const char *value)
{
    char *field = (char *)base + k->off;
    uint64_t v;
    switch (k->type) {
    case K_SIZE:
        if (units_parse_size(value, &v) != TS_OK)
            return fail(ps, ps->line, section, k->name,
                        "'%s' is not a size (e.g. 512K, 64M, 4G)", value);
        goto bounds;
    case K_DURATION:
        if (units_parse_duration_ms(value, &v) != TS_OK)
            return fail(ps, ps->line, section, k->name,
                        "'%s' is not a duration (e.g. 100ms, 10s, 5m)", value);
        goto bounds;
    case K_INT: {
        const char *s = skip_ws(value);
        char *end;
        errno = 0;
        unsigned long long x = strtoull(s, &end, 10);
        if (!isdigit((unsigned char)*s) || errno != 0 || *skip_ws(end) != '\0')
            return fail(ps, ps->line, section, k->name, "'%s' is not a number", value);
        v = x;
        goto bounds;
    }
    case K_STRING:
        if (strlen(value) >= k->size)
            return fail(ps, ps->line, section, k->name, "value longer than %zu bytes",
                        k->size - 1);
        memcpy(field, value, strlen(value) + 1);
        return 1;
    case K_ENUM:
        for (int i = 0; k->choices[i] != NULL; i++) {
            if (strcasecmp(value, k->choices[i]) == 0) {
                if (k->choices == level_names)
                    snprintf(field, k->size, "%s", k->choices[i]);
                else
                    *(int *)(void *)field = i;
                return 1;
            }
        }
        {
            char list[128] = "";
            for (int i = 0; k->choices[i] != NULL; i++) {
                strncat(list, i ? ", " : "", sizeof(list) - strlen(list) - 1);
                strncat(list, k->choices[i], sizeof(list) - strlen(list) - 1);
            }
            return fail(ps, ps->line, section, k->name, "'%s' is not one of: %s", value, list);
        }
    case K_ADDR:
        if (config_parse_addr(value, (struct cfg_addr *)(void *)field) != TS_OK)
            return fail(ps, ps->line, section, k->name, "'%s' is not HOST:PORT", value);
        if (k->sect == S_BACKEND)
            ps->cur_backend->has_address = true;
        return 1;
    case K_LISTEN:
        return set_listen(ps, section, value);
    case K_RULE: {
        struct rulecfg_err re = { ps->name, ps->err, ps->errlen };
        ps->failed = rulecfg_set(&ps->cfg->rules, k->name, value, ps->line, &re) != TS_OK;
        return ps->failed ? 0 : 1;
    }
    }
    return 1;

bounds:
    if (v < k->min || v > k->max)
        return fail(ps, ps->line, section, k->name,
                    "%s is out of range [%llu, %llu]%s", value,
                    (unsigned long long)k->min, (unsigned long long)k->max,
                    k->type == K_DURATION ? " ms" : "");
    if (k->size == sizeof(int))
        *(int *)(void *)field = (int)v;
    else
        *(uint64_t *)(void *)field = v;
    return 1;
}

static bool
valid_name(const char *s)
{
    if (*s == '\0')
        return false;
    for (; *s; s++)
        if (!(isalnum((unsigned char)*s) || *s == '-' || *s == '_' || *s == '.'))
            return false;
    return true;
}

static int
handler(void *user, const char *section, const char *name, const char *value)
{
    struct parse_state *ps = user;
    struct config *cfg = ps->cfg;
    if (ps->failed)
        return 1;
    enum sect sect;
    void *base;
    if (strcmp(section, "relay") == 0) {
        sect = S_RELAY;
        base = cfg;
    } else if (strcmp(section, "redis") == 0) {
        sect = S_REDIS;
        base = &cfg->redis;
    } else if (ps->cur_backend != NULL) {
        sect = S_BACKEND;
        base = ps->cur_backend;
    } else if (cfg->rules.cur_kind != 0) {
        sect = cfg->rules.cur_kind == 'g' ? S_GROUP : S_RULE;
        base = &cfg->rules; /* K_RULE: rulecfg.c keeps the value */
    } else {
        return 1; /* an unknown section: the reader reported it */
    }
    if (ps->longval_used && strcmp(value, "\001") == 0) {
        /* the long value, trimmed as inih trims (inline ; comment too) */
        char *v = ps->longval;
        char *sc = strstr(v, " ;");
        if (sc != NULL)
            *sc = '\0';
        v = (char *)skip_ws(v);
        size_t vl = strlen(v);
        while (vl > 0 && (v[vl - 1] == '\n' || v[vl - 1] == '\r' || v[vl - 1] == ' ' ||
                          v[vl - 1] == '\t'))
            v[--vl] = '\0';
        value = v;
        ps->longval_used = false;
    }
    const struct key *k = find_key(sect, name);
    if (k == NULL)
        return fail(ps, ps->line, section, name, "unknown key");
    if (sect != S_BACKEND)
        ps->key_line[k - keys] = ps->line;
    else if (strcmp(k->name, "ack") == 0)
        ps->cur_backend->ack_line = ps->line;
    return set_value(ps, k, base, section, value);
}

/* Line for a validation error: where the key was set, else where the other
 * key involved was set, else the section header. */
static int
line_of(const struct parse_state *ps, enum sect sect, const char *key, const char *other)
{
    const struct key *k = find_key(sect, key);
    if (k != NULL && ps->key_line[k - keys] > 0)
        return ps->key_line[k - keys];
    k = other ? find_key(sect, other) : NULL;
    if (k != NULL && ps->key_line[k - keys] > 0)
        return ps->key_line[k - keys];
    return sect == S_REDIS ? ps->cfg->redis.line : ps->relay_line;
}

static bool
key_set(const struct parse_state *ps, const char *name)
{
    const struct key *k = find_key(S_RELAY, name);
    return k != NULL && ps->key_line[k - keys] > 0;
}

/* The budget's parts: control reserve, input share, and what the queues
 * keep at least; the largest units must fit the input share (a unit that
 * could never be admitted would wait forever).  Defaults follow a small
 * memory-limit down; values set in the file are checked. */
static bool
budget(struct parse_state *ps)
{
    struct config *cfg = ps->cfg;
    uint64_t lim = cfg->memory_limit, bs = cfg->block_size;
    if (!key_set(ps, "control-reserve") || cfg->control_reserve == 0)
        cfg->control_reserve = TS_MIN(TS_MAX(lim / 16, 256 * KB), 4 * MB);
    if (cfg->control_reserve < 64 * KB || cfg->control_reserve > lim / 4) {
        fail(ps, line_of(ps, S_RELAY, "control-reserve", "memory-limit"), "relay",
             "control-reserve", "must be between 64K and a quarter of memory-limit (%llu)",
             (unsigned long long)(lim / 4));
        return false;
    }
    uint64_t queue_min = TS_MAX(lim / 8, 8 * bs);
    uint64_t input_max = lim - cfg->control_reserve - queue_min;
    if (!key_set(ps, "input-memory") || cfg->input_memory == 0)
        cfg->input_memory = input_max;
    if (cfg->input_memory > input_max || cfg->input_memory < 4 * bs) {
        fail(ps, line_of(ps, S_RELAY, "input-memory", "memory-limit"), "relay", "input-memory",
             "must be between 4 blocks (%llu) and memory-limit less control-reserve less an "
             "eighth for the queues (%llu)",
             (unsigned long long)(4 * bs), (unsigned long long)input_max);
        return false;
    }
    /* a unit waits until the input share can hold it and one read more */
    uint64_t room = cfg->input_memory - bs;
    if (!key_set(ps, "max-frame-bytes") && cfg->max_frame_bytes + 4 > room / 2)
        cfg->max_frame_bytes = room / 2 - 4;
    if (!key_set(ps, "max-http-body-bytes") && cfg->max_http_body_bytes > room / 2)
        cfg->max_http_body_bytes = room / 2;
    if (cfg->max_frame_bytes + 4 > room) {
        fail(ps, line_of(ps, S_RELAY, "max-frame-bytes", "input-memory"), "relay",
             "max-frame-bytes",
             "%llu does not fit input-memory (%llu, less a block): a frame is admitted whole",
             (unsigned long long)cfg->max_frame_bytes, (unsigned long long)cfg->input_memory);
        return false;
    }
    if (cfg->max_http_body_bytes > room) {
        fail(ps, line_of(ps, S_RELAY, "max-http-body-bytes", "input-memory"), "relay",
             "max-http-body-bytes",
             "%llu does not fit input-memory (%llu, less a block): a body is admitted whole",
             (unsigned long long)cfg->max_http_body_bytes,
             (unsigned long long)cfg->input_memory);
        return false;
    }
    return true;
}

/* [redis] sentinels = HOST:PORT, ... into cfg->redis.sentinels[]; with
 * master-name, both or neither. */
static bool
sentinels(struct parse_state *ps)
{
    struct cfg_redis *rc = &ps->cfg->redis;
    const char *p = skip_ws(rc->sentinels_text);
    int line = line_of(ps, S_REDIS, "sentinels", "master-name");
    rc->nsentinels = 0;
    while (*p != '\0') {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char item[CFG_HOST_MAX + 16];
        if (len >= sizeof(item)) {
            fail(ps, line, "redis", "sentinels", "an entry is longer than %zu bytes",
                 sizeof(item) - 1);
            return false;
        }
        memcpy(item, p, len);
        item[len] = '\0';
        if (rc->nsentinels == CFG_MAX_SENTINELS) {
            fail(ps, line, "redis", "sentinels", "more than %d Sentinels", CFG_MAX_SENTINELS);
            return false;
        }
        if (*skip_ws(item) == '\0' || *skip_ws(item) == ':' ||
            config_parse_addr(item, &rc->sentinels[rc->nsentinels]) != TS_OK) {
            fail(ps, line, "redis", "sentinels",
                 "'%s' is not HOST:PORT (sentinels = HOST:PORT, HOST:PORT, ...)", item);
            return false;
        }
        rc->nsentinels++;
        p = comma ? skip_ws(comma + 1) : p + len;
    }
    if ((rc->nsentinels > 0) != (rc->master_name[0] != '\0')) {
        fail(ps, line, "redis", rc->nsentinels > 0 ? "master-name" : "sentinels",
             "sentinels and master-name go together: give both, or neither");
        return false;
    }
    if (rc->master_name[0] != '\0' && !valid_name(rc->master_name)) {
        fail(ps, line_of(ps, S_REDIS, "master-name", NULL), "redis", "master-name",
             "'%s' must be of [A-Za-z0-9._-]", rc->master_name);
        return false;
    }
    return true;
}

_Static_assert(CFG_GROUP_MEMBERS == CFG_MAX_BACKENDS, "a group can hold every backend");

/* The [group] and [rule] sections (rulecfg.c). */
static bool
rule_sections(struct parse_state *ps)
{
    struct config *cfg = ps->cfg;
    const char *names[CFG_MAX_BACKENDS];
    int lines[CFG_MAX_BACKENDS];
    for (int i = 0; i < cfg->nbackends; i++) {
        names[i] = cfg->backends[i].name;
        lines[i] = cfg->backends[i].line;
    }
    struct point_rules pr;
    point_rules_init(&pr, cfg->max_tags, cfg->allow_specialchars);
    struct rulecfg_err re = { ps->name, ps->err, ps->errlen };
    ps->failed = rulecfg_validate(&cfg->rules, names, lines, cfg->nbackends, cfg->default_group,
                                  line_of(ps, S_RELAY, "default-group", NULL), pr.name_ok,
                                  &re) != TS_OK;
    return !ps->failed;
}

static int
validate(struct parse_state *ps)
{
    struct config *cfg = ps->cfg;
    if (cfg->nbackends == 0)
        return fail(ps, ps->line, NULL, NULL, "no [backend NAME] section: nothing to relay to");
    for (int i = 0; i < cfg->nbackends; i++) {
        struct cfg_backend *b = &cfg->backends[i];
        if (!b->has_address) {
            char sect[CFG_NAME_MAX + 16];
            snprintf(sect, sizeof(sect), "backend %s", b->name);
            return fail(ps, b->line, sect, "address", "missing (e.g. address = 127.0.0.1:4243)");
        }
    }
    if (cfg->block_size < 4096 || (cfg->block_size & (cfg->block_size - 1)) != 0)
        return fail(ps, line_of(ps, S_RELAY, "block-size", NULL), "relay", "block-size",
                    "must be a power of two >= 4K");
    if (cfg->max_line_bytes > cfg->block_size - 256)
        return fail(ps, line_of(ps, S_RELAY, "max-line-bytes", "block-size"), "relay",
                    "max-line-bytes",
                    "%llu does not fit a block (block-size %llu, less 256)",
                    (unsigned long long)cfg->max_line_bytes, (unsigned long long)cfg->block_size);
    if (cfg->max_reply_bytes > cfg->block_size - 256)
        return fail(ps, line_of(ps, S_RELAY, "max-reply-bytes", "block-size"), "relay",
                    "max-reply-bytes",
                    "%llu does not fit a block (block-size %llu, less 256)",
                    (unsigned long long)cfg->max_reply_bytes, (unsigned long long)cfg->block_size);
    if (cfg->memory_limit < 16 * cfg->block_size)
        return fail(ps, line_of(ps, S_RELAY, "memory-limit", "block-size"), "relay",
                    "memory-limit",
                    "must hold at least 16 blocks of block-size (%llu bytes)",
                    (unsigned long long)(16 * cfg->block_size));
    if (!budget(ps))
        return 0;
    if (cfg->reconnect_min_ms > cfg->reconnect_max_ms)
        return fail(ps, line_of(ps, S_RELAY, "reconnect-min", "reconnect-max"), "relay",
                    "reconnect-min", "is larger than reconnect-max");
    if (cfg->history_ms > 0) {
        uint64_t samples = cfg->history_ms / cfg->history_interval_ms;
        uint64_t ring = samples * CFG_HISTORY_SAMPLE_BYTES(cfg->nbackends);
        if (samples == 0 || samples > CFG_HISTORY_MAX_SAMPLES)
            return fail(ps, line_of(ps, S_RELAY, "history", "history-interval"), "relay",
                        "history",
                        "keeps %llu samples of history-interval (%llu ms); allowed 1 to %u",
                        (unsigned long long)samples,
                        (unsigned long long)cfg->history_interval_ms, CFG_HISTORY_MAX_SAMPLES);
        if (ring > cfg->memory_limit / 4)
            return fail(ps, line_of(ps, S_RELAY, "history", "memory-limit"), "relay", "history",
                        "its ring needs %llu bytes for %d backends, more than a quarter of "
                        "memory-limit (%llu)",
                        (unsigned long long)ring, cfg->nbackends,
                        (unsigned long long)cfg->memory_limit);
    }
    for (const char *c = cfg->allow_specialchars; *c; c++)
        if (*c == ' ' || *c == '=' || *c == '\n' || *c == '\r')
            return fail(ps, line_of(ps, S_RELAY, "allow-specialchars", NULL), "relay",
                        "allow-specialchars",
                        "may not contain space, '=' or newline characters");
    char why[CFG_ERR_MAX / 2];
    if (resolver_check_servers(cfg->dns_servers, CFG_MAX_DNS_SERVERS, why, sizeof(why)) != TS_OK)
        return fail(ps, line_of(ps, S_RELAY, "dns-servers", NULL), "relay", "dns-servers", "%s",
                    why);
    if (cfg->redis.enabled && !sentinels(ps))
        return 0;
    if (cfg->redis.enabled) {
        if (cfg->redis.spool_low >= cfg->redis.spool_high)
            return fail(ps, line_of(ps, S_REDIS, "spool-low", "spool-high"), "redis",
                        "spool-low",
                        "must be below spool-high (%llu)",
                        (unsigned long long)cfg->redis.spool_high);
        if (cfg->redis.prefix[0] == '\0')
            return fail(ps, line_of(ps, S_REDIS, "prefix", NULL), "redis", "prefix",
                        "must not be empty");
    }
    return rule_sections(ps) ? 1 : 0;
}

static int
load(struct config *cfg, struct parse_state *ps)
{
    char pathcopy[sizeof(cfg->path)];
    snprintf(pathcopy, sizeof(pathcopy), "%s", ps->name);
    config_defaults(cfg);
    snprintf(cfg->path, sizeof(cfg->path), "%s", pathcopy);
    /* default listener until the file names one */
    config_parse_addr("0.0.0.0:4242", &cfg->listen[0].addr);
    cfg->listen[0].proto = PROTO_AUTO;
    cfg->nlisten = 1;

    int rc = ini_parse_stream(counting_reader, ps, handler, ps);
    if (ps->failed)
        return TS_ERROR;
    if (rc != 0) {
        fail(ps, rc > 0 ? rc : 0, NULL, NULL,
             "syntax error (expected [section], key = value or a ; comment)");
        return TS_ERROR;
    }
    validate(ps);
    return ps->failed ? TS_ERROR : TS_OK;
}

static struct parse_state *
new_state(struct config *cfg, const char *name, char *err, size_t errlen)
{
    static struct parse_state ps; /* large (line buffers); config loads are serial */
    memset(&ps, 0, sizeof(ps));
    ps.cfg = cfg;
    ps.name = name;
    ps.err = err;
    ps.errlen = errlen;
    return &ps;
}

int
config_load(struct config *cfg, const char *path, char *err, size_t errlen)
{
    struct parse_state *ps = new_state(cfg, path, err, errlen);
    ps->fp = fopen(path, "r");
    if (ps->fp == NULL) {
        snprintf(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return TS_ERROR;
    }
    int rc = load(cfg, ps);
    fclose(ps->fp);
    return rc;
}

int
config_load_string(struct config *cfg, const char *name, const char *text, char *err,
                   size_t errlen)
{
    struct parse_state *ps = new_state(cfg, name, err, errlen);
    ps->text = text;
    return load(cfg, ps);
}
