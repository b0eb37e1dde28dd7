/*
 * config.c -- the configuration contract: INI file -> struct config.
 *
 * One typed table drives every key: name, section, type, bounds, offset.
 * libinih does the INI syntax; a counting reader gives us the line of each
 * key, so every error reads "FILE:LINE: [section] key: reason".  The
 * units a value is written in are config_values.c's, the checks that need
 * the whole file config_check.c's.  It must never touch sockets or the
 * loop.
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

#include "base/config_parse.h"
#include "base/util.h"

/* K_RULE: a [group] or [rule] key, kept by rulecfg.c */
enum ktype { K_SIZE, K_DURATION, K_INT, K_STRING, K_ENUM, K_LISTEN, K_ADDR, K_SECRET, K_TSD_LINE,
             K_RULE };

struct key {
    enum cfg_sect sect;
    const char *name;
    enum ktype type;
    size_t off;           /* into struct config, cfg_backend or cfg_redis */
    size_t size;          /* K_STRING: buffer size */
    uint64_t min, max;    /* K_SIZE, K_DURATION, K_INT */
    const char *const *choices; /* K_ENUM, NULL-terminated */
};

/* A K_SECRET is a K_STRING whose value is never written anywhere (logs,
 * error messages, the reload's account of changes): only "(set)".  A
 * K_TSD_LINE is a secret that is also a line to a TSD (set_tsd_line). */

static const char *const routing_names[] = { "hash", "roundrobin", "failover", "all", NULL };
static const char *const overflow_names[] = { "block", "drop", NULL };
static const char *const ack_names[] = { "none", "version", NULL };
static const char *const onoff_names[] = { "off", "on", NULL };
static const char *const level_names[] = { "error", "warn", "info", "debug", NULL };
static const char *const proto_names[] = { "auto", "telnet", "framed", "http", NULL };
static const char *const tls_version_names[] = { "1.2", "1.3", NULL };
static const char *const bproto_names[] = { "telnet", "http", NULL };
static const char *const on_limit_names[] = { "reject", "log", NULL };

#define R(f) offsetof(struct config, f), sizeof(((struct config *)0)->f)
#define B(f) offsetof(struct cfg_backend, f), sizeof(((struct cfg_backend *)0)->f)
#define D(f) offsetof(struct cfg_redis, f), sizeof(((struct cfg_redis *)0)->f)
#define T(f) offsetof(struct cfg_tls, f), sizeof(((struct cfg_tls *)0)->f)
#define L(f) offsetof(struct cfg_limits, f), sizeof(((struct cfg_limits *)0)->f)
#define LIMIT_MAX 1000000000000ull

static const struct key keys[] = {
    { S_RELAY, "listen", K_LISTEN, 0, 0, 0, 0, NULL },
    { S_RELAY, "routing", K_ENUM, R(routing), 0, 0, routing_names },
    { S_RELAY, "max-clients", K_INT, R(max_clients), 1, 1000000, NULL },
    { S_RELAY, "max-frame-bytes", K_SIZE, R(max_frame_bytes), 64, 16 * MB - 1, NULL },
    { S_RELAY, "max-line-bytes", K_SIZE, R(max_line_bytes), 1100, 16 * MB, NULL },
    { S_RELAY, "max-reply-bytes", K_SIZE, R(max_reply_bytes), 1024, 16 * MB, NULL },
    { S_RELAY, "max-http-body-bytes", K_SIZE, R(max_http_body_bytes), 1024, 256 * MB, NULL },
    { S_RELAY, "max-http-header-bytes", K_SIZE, R(max_http_header_bytes), 1 * KB, 64 * KB, NULL },
    { S_RELAY, "idle-timeout", K_DURATION, R(idle_timeout_ms), 0, 30 * 24 * HOUR_MS, NULL },
    { S_RELAY, "tcp-keepalive", K_DURATION, R(tcp_keepalive_ms), 0, 32767 * 1000ull, NULL },
    { S_RELAY, "read-timeout", K_DURATION, R(read_timeout_ms), 0, 24 * HOUR_MS, NULL },
    { S_RELAY, "memory-limit", K_SIZE, R(memory_limit), 1 * MB, 1024 * GB, NULL },
    { S_RELAY, "control-reserve", K_SIZE, R(control_reserve), 0, 1024 * GB, NULL },
    { S_RELAY, "input-memory", K_SIZE, R(input_memory), 0, 1024 * GB, NULL },
    { S_RELAY, "control-slots", K_INT, R(control_slots), 0, 10000, NULL },
    { S_RELAY, "instance", K_STRING, R(instance), 0, 0, NULL },
    { S_RELAY, "frame-acks", K_ENUM, R(frame_acks), 0, 0, onoff_names },
    { S_RELAY, "sync-max-wait", K_DURATION, R(sync_max_wait_ms), 100, HOUR_MS, NULL },
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
    { S_RELAY, "admin-allow", K_STRING, R(admin_allow_text), 0, 0, NULL },
    { S_RELAY, "proxy", K_STRING, R(proxy_text), 0, 0, NULL },
    { S_RELAY, "proxy-connect-timeout", K_DURATION, R(proxy_connect_timeout_ms), 10, HOUR_MS,
      NULL },
    { S_RELAY, "proxy-timeout", K_DURATION, R(proxy_timeout_ms), 100, 24 * HOUR_MS, NULL },
    { S_RELAY, "proxy-queue-timeout", K_DURATION, R(proxy_queue_timeout_ms), 10, HOUR_MS, NULL },
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
    { S_BACKEND, "tls", K_ENUM, B(tls), 0, 0, onoff_names },
    { S_BACKEND, "ca", K_STRING, B(ca), 0, 0, NULL },
    { S_BACKEND, "server-name", K_STRING, B(server_name), 0, 0, NULL },
    { S_BACKEND, "cert", K_STRING, B(cert), 0, 0, NULL },
    { S_BACKEND, "key", K_STRING, B(key), 0, 0, NULL },
    { S_BACKEND, "auth", K_TSD_LINE, B(auth), 0, 0, NULL },
    { S_BACKEND, "protocol", K_ENUM, B(protocol), 0, 0, bproto_names },
    { S_BACKEND, "http-address", K_ADDR, B(http_addr), 0, 0, NULL },
    { S_BACKEND, "http-conns", K_INT, B(http_conns), 1, CFG_MAX_CONNS, NULL },
    { S_BACKEND, "http-batch", K_INT, B(http_batch), 1, 100000, NULL },
    { S_BACKEND, "http-batch-bytes", K_SIZE, B(http_batch_bytes), 1 * KB, 16 * MB, NULL },
    { S_BACKEND, "http-gzip", K_ENUM, B(http_gzip), 0, 0, onoff_names },
    { S_BACKEND, "http-pipeline", K_INT, B(http_pipeline), 1, 64, NULL },
    { S_BACKEND, "sync", K_ENUM, B(sync), 0, 0, onoff_names },
    { S_BACKEND, "sync-timeout", K_DURATION, B(sync_timeout_ms), 0, HOUR_MS, NULL },
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
    { S_REDIS, "username", K_STRING, D(username), 0, 0, NULL },
    { S_REDIS, "password", K_SECRET, D(password), 0, 0, NULL },
    { S_REDIS, "sentinel-username", K_STRING, D(sentinel_username), 0, 0, NULL },
    { S_REDIS, "sentinel-password", K_SECRET, D(sentinel_password), 0, 0, NULL },
    { S_TLS, "cert", K_STRING, T(cert), 0, 0, NULL },
    { S_TLS, "key", K_STRING, T(key), 0, 0, NULL },
    { S_TLS, "ca", K_STRING, T(ca), 0, 0, NULL },
    { S_TLS, "min-version", K_ENUM, T(min_version), 0, 0, tls_version_names },
    { S_TLS, "ciphers", K_STRING, T(ciphers), 0, 0, NULL },
    { S_TLS, "max-handshakes", K_INT, T(max_handshakes), 1, 100000, NULL },
    { S_REDIS, "rejected-max-bytes", K_SIZE, D(rejected_max_bytes), 0, 1024 * GB, NULL },
    { S_LIMITS, "new-series-per-hour", K_INT, L(per_hour), 0, LIMIT_MAX, NULL },
    { S_LIMITS, "new-series-per-day", K_INT, L(per_day), 0, LIMIT_MAX, NULL },
    { S_LIMITS, "new-series-per-metric-per-hour", K_INT, L(per_metric_hour), 0, LIMIT_MAX, NULL },
    { S_LIMITS, "new-series-per-client-per-hour", K_INT, L(per_client_hour), 0, LIMIT_MAX, NULL },
    { S_LIMITS, "max-series-per-metric", K_INT, L(max_per_metric), 0, LIMIT_MAX, NULL },
    { S_LIMITS, "series-memory", K_SIZE, L(series_memory), 0, 4 * GB, NULL },
    { S_LIMITS, "on-limit", K_ENUM, L(on_limit), 0, 0, on_limit_names },
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
_Static_assert(TS_ARRAY_LEN(keys) <= CFG_KEYS_MAX, "config_parse.h: CFG_KEYS_MAX");

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
    static const char *const sect_names[] = { "relay", "backend", "redis", "tls", "limits",
                                              "group", "rule" };
    return i < TS_ARRAY_LEN(keys) ? sect_names[keys[i].sect] : NULL;
}

const char *
config_key_name(size_t i)
{
    return i < TS_ARRAY_LEN(keys) ? keys[i].name : NULL;
}

/* Where key k's value is: in cfg (its [relay], [redis], [tls] or [limits]
 * part) or in the backend b; NULL for a [group] or [rule] key. */
static const char *
key_field(const struct key *k, const struct config *cfg, const struct cfg_backend *b)
{
    switch (k->sect) {
    case S_RELAY: return (const char *)cfg + k->off;
    case S_REDIS: return (const char *)&cfg->redis + k->off;
    case S_TLS: return (const char *)&cfg->tls + k->off;
    case S_LIMITS: return (const char *)&cfg->limits + k->off;
    case S_GROUP:
    case S_RULE: return NULL;
    case S_BACKEND: break;
    }
    return (const char *)b + k->off;
}
bool
config_key_format(size_t i, const struct config *cfg, const struct cfg_backend *b, char *buf,
                  size_t len)
{
    if (i >= TS_ARRAY_LEN(keys) || keys[i].type == K_LISTEN || keys[i].type == K_RULE ||
        (keys[i].sect == S_BACKEND && b == NULL))
        return false;
    const struct key *k = &keys[i];
    const char *field = key_field(k, cfg, b);
    uint64_t v = 0;
    if (k->type == K_SIZE || k->type == K_DURATION || k->type == K_INT)
        v = k->size == sizeof(int) ? (uint64_t)*(const int *)(const void *)field
                                   : *(const uint64_t *)(const void *)field;
    switch (k->type) {
    case K_SIZE:
    case K_DURATION:
        config_format_with_unit(v, k->type == K_DURATION, buf, len);
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
    case K_SECRET:
    case K_TSD_LINE:
        snprintf(buf, len, "%s", field[0] != '\0' ? "(set)" : "");
        break;
    case K_STRING:
    case K_LISTEN:
    default:
        snprintf(buf, len, "%s", field);
        break;
    }
    return true;
}

bool
config_key_secret(size_t i)
{
    return i < TS_ARRAY_LEN(keys) && (keys[i].type == K_SECRET || keys[i].type == K_TSD_LINE);
}

bool
config_key_equal(size_t i, const struct config *a, const struct cfg_backend *ab,
                 const struct config *b, const struct cfg_backend *bb)
{
    if (i >= TS_ARRAY_LEN(keys) || keys[i].type == K_LISTEN || keys[i].type == K_RULE ||
        (keys[i].sect == S_BACKEND && (ab == NULL || bb == NULL)))
        return true;
    const struct key *k = &keys[i];
    const char *fa = key_field(k, a, ab), *fb = key_field(k, b, bb);
    if (k->type == K_STRING || k->type == K_SECRET || k->type == K_TSD_LINE)
        return strcmp(fa, fb) == 0;
    return memcmp(fa, fb, k->size) == 0;
}

bool
config_tls_listeners(const struct config *cfg)
{
    for (int i = 0; i < cfg->nlisten; i++)
        if (cfg->listen[i].tls)
            return true;
    return false;
}

/* ---- the INI walk ------------------------------------------------------ */

int
cfg_fail(struct parse_state *ps, int line, const char *section, const char *key,
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


/* A secret that is a line to a TSD (a backend's auth line): a TSD line,
 * whose first byte does not turn the connection into HTTP.  Messages
 * never quote it. */
static int
set_tsd_line(struct parse_state *ps, const struct key *k, char *field, const char *section,
           const char *value)
{
    size_t n = strlen(value);
    if (n >= k->size)
        return cfg_fail(ps, ps->line, section, k->name, "longer than %zu bytes (a TSD's line)",
                    k->size - 1);
    for (size_t i = 0; i < n; i++)
        if ((unsigned char)value[i] < 0x20 || value[i] == 0x7f)
            return cfg_fail(ps, ps->line, section, k->name, "holds a control character");
    if (value[0] >= 'A' && value[0] <= 'Z')
        return cfg_fail(ps, ps->line, section, k->name,
                    "starts with a capital letter: a TSD reads a connection whose first byte "
                    "is A-Z as HTTP (start the line with a lower-case command)");
    memcpy(field, value, n + 1);
    return 1;
}

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
        cfg_fail(ps, ps->line, NULL, NULL, "section name too long");
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
    } else if (strcmp(sect, "tls") == 0) {
        cfg->tls.line = ps->line;
    } else if (strcmp(sect, "limits") == 0) {
        cfg->limits.line = ps->line;
    } else if (strncmp(sect, "backend", 7) == 0 && (sect[7] == ' ' || sect[7] == '\t')) {
        const char *bname = cfg_skip_ws(sect + 7);
        if (!cfg_valid_name(bname) || strlen(bname) >= CFG_NAME_MAX) {
            cfg_fail(ps, ps->line, sect, NULL, "backend name '%s' must be 1-%d of [A-Za-z0-9._-]",
                 bname, CFG_NAME_MAX - 1);
            return;
        }
        for (int i = 0; i < cfg->nbackends; i++) {
            if (strcmp(cfg->backends[i].name, bname) == 0) {
                cfg_fail(ps, ps->line, sect, NULL, "backend '%s' is defined twice (first at line %d)",
                     bname, cfg->backends[i].line);
                return;
            }
        }
        if (cfg->nbackends >= CFG_MAX_BACKENDS) {
            cfg_fail(ps, ps->line, sect, NULL, "more than %d backends", CFG_MAX_BACKENDS);
            return;
        }
        ps->cur_backend = &cfg->backends[cfg->nbackends++];
        config_backend_defaults(ps->cur_backend);
        snprintf(ps->cur_backend->name, sizeof(ps->cur_backend->name), "%s", bname);
        ps->cur_backend->line = ps->line;
    } else if (rulecfg_header(&cfg->rules, sect, ps->line, &re, &taken)) {
        ps->failed = ps->failed || taken != TS_OK;
    } else {
        cfg_fail(ps, ps->line, sect, NULL, "unknown section (expected [relay], [backend NAME], "
                 "[redis], [tls], [limits], [group NAME] or [rule NAME])");
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
    const char *t = cfg_skip_ws(buf);
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
        cfg_fail(ps, ps->line, NULL, NULL, "line longer than %zu characters",
             sizeof(ps->linebuf) - 2);
        snprintf(str, (size_t)num, "\n");
        return str;
    }
    memcpy(str, t, tl + 1);
    return str;
}

static const struct key *
find_key(enum cfg_sect sect, const char *name)
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
        return cfg_fail(ps, ps->line, section, "listen", "more than %d listeners", CFG_MAX_LISTEN);
    struct cfg_listen *l = &cfg->listen[cfg->nlisten];
    char why[CFG_ERR_MAX / 2];
    if (config_parse_listen(value, l, why, sizeof(why)) != TS_OK)
        return cfg_fail(ps, ps->line, section, "listen", "%s", why);
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
        if (config_parse_size(value, &v) != TS_OK)
            return cfg_fail(ps, ps->line, section, k->name,
                        "'%s' is not a size (e.g. 512K, 64M, 4G)", value);
        goto bounds;
    case K_DURATION:
        if (config_parse_duration_ms(value, &v) != TS_OK)
            return cfg_fail(ps, ps->line, section, k->name,
                        "'%s' is not a duration (e.g. 100ms, 10s, 5m)", value);
        goto bounds;
    case K_INT: {
        const char *s = cfg_skip_ws(value);
        char *end;
        errno = 0;
        unsigned long long x = strtoull(s, &end, 10);
        if (!isdigit((unsigned char)*s) || errno != 0 || *cfg_skip_ws(end) != '\0')
            return cfg_fail(ps, ps->line, section, k->name, "'%s' is not a number", value);
        v = x;
        goto bounds;
    }
    case K_STRING:
    case K_SECRET: /* (never in a message) */
        if (strlen(value) >= k->size)
            return cfg_fail(ps, ps->line, section, k->name, "value longer than %zu bytes",
                        k->size - 1);
        memcpy(field, value, strlen(value) + 1);
        return 1;
    case K_TSD_LINE:
        return set_tsd_line(ps, k, field, section, value);
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
            return cfg_fail(ps, ps->line, section, k->name, "'%s' is not one of: %s", value, list);
        }
    case K_ADDR:
        if (config_parse_addr(value, (struct cfg_addr *)(void *)field) != TS_OK)
            return cfg_fail(ps, ps->line, section, k->name, "'%s' is not HOST:PORT", value);
        if (k->sect == S_BACKEND && strcmp(k->name, "address") == 0)
            ps->cur_backend->has_address = true;
        else if (k->sect == S_BACKEND)
            ps->cur_backend->has_http_address = true;
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
        return cfg_fail(ps, ps->line, section, k->name,
                    "%s is out of range [%llu, %llu]%s", value,
                    (unsigned long long)k->min, (unsigned long long)k->max,
                    k->type == K_DURATION ? " ms" : "");
    if (k->size == sizeof(int))
        *(int *)(void *)field = (int)v;
    else
        *(uint64_t *)(void *)field = v;
    return 1;
}

bool
cfg_valid_name(const char *s)
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
    enum cfg_sect sect;
    void *base;
    if (strcmp(section, "relay") == 0) {
        sect = S_RELAY;
        base = cfg;
    } else if (strcmp(section, "redis") == 0) {
        sect = S_REDIS;
        base = &cfg->redis;
    } else if (strcmp(section, "tls") == 0) {
        sect = S_TLS;
        base = &cfg->tls;
    } else if (strcmp(section, "limits") == 0) {
        sect = S_LIMITS;
        base = &cfg->limits;
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
        v = (char *)cfg_skip_ws(v);
        size_t vl = strlen(v);
        while (vl > 0 && (v[vl - 1] == '\n' || v[vl - 1] == '\r' || v[vl - 1] == ' ' ||
                          v[vl - 1] == '\t'))
            v[--vl] = '\0';
        value = v;
        ps->longval_used = false;
    }
    const struct key *k = find_key(sect, name);
    if (k == NULL)
        return cfg_fail(ps, ps->line, section, name, "unknown key");
    if (sect != S_BACKEND)
        ps->key_line[k - keys] = ps->line;
    else if (strcmp(k->name, "ack") == 0)
        ps->cur_backend->ack_line = ps->line;
    return set_value(ps, k, base, section, value);
}

/* Line for a validation error: where the key was set, else where the other
 * key involved was set, else the section header. */
int
cfg_line_of(const struct parse_state *ps, enum cfg_sect sect, const char *key, const char *other)
{
    const struct key *k = find_key(sect, key);
    if (k != NULL && ps->key_line[k - keys] > 0)
        return ps->key_line[k - keys];
    k = other ? find_key(sect, other) : NULL;
    if (k != NULL && ps->key_line[k - keys] > 0)
        return ps->key_line[k - keys];
    if (sect == S_TLS)
        return ps->cfg->tls.line;
    if (sect == S_LIMITS)
        return ps->cfg->limits.line;
    return sect == S_REDIS ? ps->cfg->redis.line : ps->relay_line;
}

bool
cfg_key_set_in(const struct parse_state *ps, enum cfg_sect sect, const char *name)
{
    const struct key *k = find_key(sect, name);
    return k != NULL && ps->key_line[k - keys] > 0;
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
        cfg_fail(ps, rc > 0 ? rc : 0, NULL, NULL,
             "syntax error (expected [section], key = value or a ; comment)");
        return TS_ERROR;
    }
    config_check(ps);
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
