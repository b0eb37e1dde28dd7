/*
 * config_check.c -- the checks that need the whole file: every backend
 * has an address, the memory budget's parts fit together, the units fit a
 * block, the history ring fits the budget, Sentinels and master-name go
 * together, TLS and access settings, the read pass-through's backends.
 * Each error names the file, the line and the key (cfg_line_of).  Plain
 * data: it must never touch a socket, a file or the loop.
 */
#include "autoconf.h"

#include <stdio.h>
#include <string.h>

#include "base/allow.h"
#include "base/config.h"
#include "base/config_parse.h"
#include "base/point.h"
#include "base/resolver.h"
#include "base/util.h"


/* [limits] series-memory: the new-series guard's share of the budget.
 * The default (8M) follows a small memory-limit down (a sixteenth; under
 * 256K, no guard unless a limit is set); a value set is 0 (no guard:
 * then no limit may be set) or 256K to a quarter of memory-limit. */
static bool
limits_budget(struct parse_state *ps)
{
    struct cfg_limits *l = &ps->cfg->limits;
    uint64_t lim = ps->cfg->memory_limit;
    int line = cfg_line_of(ps, S_LIMITS, "series-memory", NULL);
    bool any = (l->per_hour | l->per_day | l->per_metric_hour | l->per_client_hour |
                l->max_per_metric) != 0;
    l->series_memory_set = cfg_key_set_in(ps, S_LIMITS, "series-memory");
    if (!l->series_memory_set) {
        l->series_memory = TS_MIN(l->series_memory, lim / 16);
        if (l->series_memory < 256 * KB)
            l->series_memory = any ? 256 * KB : 0;
    } else if (l->series_memory != 0 && (l->series_memory < 256 * KB || l->series_memory > lim / 4))
        return cfg_fail(ps, line, "limits", "series-memory",
                        "must be 0 (no guard) or between 256K and a quarter of memory-limit "
                        "(%llu)", (unsigned long long)(lim / 4)) != 0;
    if (l->series_memory == 0 && any)
        return cfg_fail(ps, line, "limits", "series-memory",
                        "is 0 (no new-series guard), so no limit can be kept: set it, or set "
                        "the limits to 0") != 0;
    return true;
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
    if (!cfg_key_set(ps, "control-reserve") || cfg->control_reserve == 0)
        cfg->control_reserve = TS_MIN(TS_MAX(lim / 16, 256 * KB), 4 * MB);
    if (cfg->control_reserve < 64 * KB || cfg->control_reserve > lim / 4) {
        cfg_fail(ps, cfg_line_of(ps, S_RELAY, "control-reserve", "memory-limit"), "relay",
             "control-reserve", "must be between 64K and a quarter of memory-limit (%llu)",
             (unsigned long long)(lim / 4));
        return false;
    }
    if (!limits_budget(ps))
        return false;
    uint64_t queue_min = TS_MAX(lim / 8, 8 * bs);
    uint64_t input_max = lim - cfg->control_reserve - queue_min - cfg->limits.series_memory;
    if (!cfg_key_set(ps, "input-memory") || cfg->input_memory == 0)
        cfg->input_memory = input_max;
    if (cfg->input_memory > input_max || cfg->input_memory < 4 * bs) {
        cfg_fail(ps, cfg_line_of(ps, S_RELAY, "input-memory", "memory-limit"), "relay", "input-memory",
             "must be between 4 blocks (%llu) and memory-limit less control-reserve, an "
             "eighth for the queues and [limits] series-memory (%llu bytes; %llu)",
             (unsigned long long)(4 * bs), (unsigned long long)cfg->limits.series_memory,
             (unsigned long long)input_max);
        return false;
    }
    /* a unit waits until the input share can hold it and one read more */
    uint64_t room = cfg->input_memory - bs;
    if (!cfg_key_set(ps, "max-frame-bytes") && cfg->max_frame_bytes + 4 > room / 2)
        cfg->max_frame_bytes = room / 2 - 4;
    if (!cfg_key_set(ps, "max-http-body-bytes") && cfg->max_http_body_bytes > room / 2)
        cfg->max_http_body_bytes = room / 2;
    if (cfg->max_frame_bytes + 4 > room) {
        cfg_fail(ps, cfg_line_of(ps, S_RELAY, "max-frame-bytes", "input-memory"), "relay",
             "max-frame-bytes",
             "%llu does not fit input-memory (%llu, less a block): a frame is admitted whole",
             (unsigned long long)cfg->max_frame_bytes, (unsigned long long)cfg->input_memory);
        return false;
    }
    if (cfg->max_http_body_bytes > room) {
        cfg_fail(ps, cfg_line_of(ps, S_RELAY, "max-http-body-bytes", "input-memory"), "relay",
             "max-http-body-bytes",
             "%llu does not fit input-memory (%llu, less a block): a body is admitted whole",
             (unsigned long long)cfg->max_http_body_bytes,
             (unsigned long long)cfg->input_memory);
        return false;
    }
    return true;
}

/* What the protocol = http backends hold for their life (config.h:
 * CFG_HTTP_LINE_BYTES; counted with whole blocks, a little over what
 * backend_http.c charges).  It must leave the input share its 4 blocks
 * (what input-memory needs at least): backends that cannot fit are
 * refused here (tsrelay -t, a reload), not when they start. */
static bool
http_backends_fit(struct parse_state *ps)
{
    struct config *cfg = ps->cfg;
    uint64_t bs = cfg->block_size, total = 0;
    for (int i = 0; i < cfg->nbackends; i++) {
        const struct cfg_backend *b = &cfg->backends[i];
        if (b->protocol != BPROTO_HTTP)
            continue;
        total += (uint64_t)b->conns * cfg_http_window(b) * bs + cfg_http_buffer_bytes(b, bs);
    }
    uint64_t room = cfg->memory_limit - cfg->control_reserve - cfg->limits.series_memory;
    if (total == 0 || total + 4 * bs <= room)
        return true;
    return cfg_fail(ps, cfg_line_of(ps, S_RELAY, "memory-limit", NULL), "relay", "memory-limit",
                    "the protocol = http backends hold %llu bytes (conns x 2 x http-pipeline "
                    "request bodies of a block each, their line arrays, a gzip buffer of 4 "
                    "blocks each): with 4 blocks for input that is more than memory-limit "
                    "less control-reserve and series-memory (%llu)",
                    (unsigned long long)total, (unsigned long long)room) != 0;
}

/* [redis] sentinels = HOST:PORT, ... into cfg->redis.sentinels[]; with
 * master-name, both or neither. */
static bool
sentinels(struct parse_state *ps)
{
    struct cfg_redis *rc = &ps->cfg->redis;
    const char *p = cfg_skip_ws(rc->sentinels_text);
    int line = cfg_line_of(ps, S_REDIS, "sentinels", "master-name");
    rc->nsentinels = 0;
    while (*p != '\0') {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        char item[CFG_HOST_MAX + 16];
        if (len >= sizeof(item)) {
            cfg_fail(ps, line, "redis", "sentinels", "an entry is longer than %zu bytes",
                 sizeof(item) - 1);
            return false;
        }
        memcpy(item, p, len);
        item[len] = '\0';
        if (rc->nsentinels == CFG_MAX_SENTINELS) {
            cfg_fail(ps, line, "redis", "sentinels", "more than %d Sentinels", CFG_MAX_SENTINELS);
            return false;
        }
        if (*cfg_skip_ws(item) == '\0' || *cfg_skip_ws(item) == ':' ||
            config_parse_addr(item, &rc->sentinels[rc->nsentinels]) != TS_OK) {
            cfg_fail(ps, line, "redis", "sentinels",
                 "'%s' is not HOST:PORT (sentinels = HOST:PORT, HOST:PORT, ...)", item);
            return false;
        }
        rc->nsentinels++;
        p = comma ? cfg_skip_ws(comma + 1) : p + len;
    }
    if ((rc->nsentinels > 0) != (rc->master_name[0] != '\0')) {
        cfg_fail(ps, line, "redis", rc->nsentinels > 0 ? "master-name" : "sentinels",
             "sentinels and master-name go together: give both, or neither");
        return false;
    }
    if (rc->master_name[0] != '\0' && !cfg_valid_name(rc->master_name)) {
        cfg_fail(ps, cfg_line_of(ps, S_REDIS, "master-name", NULL), "redis", "master-name",
             "'%s' must be of [A-Za-z0-9._-]", rc->master_name);
        return false;
    }
    return true;
}

/* [tls] for TLS listeners; a backend's TLS keys only with tls = on (a
 * CA set on a backend left in clear text is a mistake, not a choice). */
static bool
tls_settings(struct parse_state *ps)
{
    struct config *cfg = ps->cfg;
    const struct cfg_tls *t = &cfg->tls;
    if ((t->cert[0] != '\0') != (t->key[0] != '\0')) {
        cfg_fail(ps, cfg_line_of(ps, S_TLS, t->cert[0] ? "key" : "cert", "cert"), "tls",
             t->cert[0] ? "key" : "cert", "cert and key go together: give both");
        return false;
    }
    for (int i = 0; i < cfg->nlisten; i++) {
        if (cfg->listen[i].tls && t->cert[0] == '\0') {
            cfg_fail(ps, cfg->listen[i].line, "relay", "listen",
                 "tls needs a certificate: [tls] cert and key");
            return false;
        }
    }
    for (int i = 0; i < cfg->nbackends; i++) {
        const struct cfg_backend *b = &cfg->backends[i];
        char sect[CFG_NAME_MAX + 16];
        snprintf(sect, sizeof(sect), "backend %s", b->name);
        if (!b->tls && (b->ca[0] || b->server_name[0] || b->cert[0] || b->key[0])) {
            cfg_fail(ps, b->line, sect, "tls", "ca, server-name, cert and key need tls = on");
            return false;
        }
        if ((b->cert[0] != '\0') != (b->key[0] != '\0')) {
            cfg_fail(ps, b->line, sect, b->cert[0] ? "key" : "cert",
                 "cert and key go together: give both");
            return false;
        }
        if (strpbrk(b->server_name, " \t,") != NULL) {
            cfg_fail(ps, b->line, sect, "server-name", "'%s' is not a host name", b->server_name);
            return false;
        }
    }
    return true;
}

/* admin-allow, and the Redis credentials: a username needs its password. */
static bool
access_settings(struct parse_state *ps)
{
    struct config *cfg = ps->cfg;
    char why[CFG_ERR_MAX / 2];
    if (allow_parse(cfg->admin_allow_text, &cfg->admin_allow, why, sizeof(why)) != TS_OK) {
        cfg_fail(ps, cfg_line_of(ps, S_RELAY, "admin-allow", NULL), "relay", "admin-allow", "%s", why);
        return false;
    }
    const struct cfg_redis *rc = &cfg->redis;
    if (!rc->enabled)
        return true;
    if (rc->username[0] != '\0' && rc->password[0] == '\0') {
        cfg_fail(ps, cfg_line_of(ps, S_REDIS, "username", NULL), "redis", "username",
             "needs a password (AUTH username password)");
        return false;
    }
    if (rc->sentinel_username[0] != '\0' && rc->sentinel_password[0] == '\0') {
        cfg_fail(ps, cfg_line_of(ps, S_REDIS, "sentinel-username", NULL), "redis", "sentinel-username",
             "needs sentinel-password");
        return false;
    }
    if (rc->sentinel_password[0] != '\0' && rc->nsentinels == 0) {
        cfg_fail(ps, cfg_line_of(ps, S_REDIS, "sentinel-password", NULL), "redis", "sentinel-password",
             "is for Sentinels: give sentinels and master-name too (the master's own is "
             "password)");
        return false;
    }
    return true;
}

/* A passed request's headers fit half a block (the default follows a
 * small block down). */
static bool
header_bound(struct parse_state *ps)
{
    struct config *cfg = ps->cfg;
    if (!cfg_key_set(ps, "max-http-header-bytes") && cfg->max_http_header_bytes > cfg->block_size / 2)
        cfg->max_http_header_bytes = cfg->block_size / 2;
    if (cfg->max_http_header_bytes <= cfg->block_size / 2)
        return true;
    cfg_fail(ps, cfg_line_of(ps, S_RELAY, "max-http-header-bytes", "block-size"), "relay",
         "max-http-header-bytes", "%llu does not fit half a block (block-size %llu)",
         (unsigned long long)cfg->max_http_header_bytes, (unsigned long long)cfg->block_size);
    return false;
}

/* [relay] proxy = NAME, NAME ... into cfg->proxy[] (failover order):
 * each a backend of the file, none twice. */
static bool
proxy_list(struct parse_state *ps)
{
    struct config *cfg = ps->cfg;
    int line = cfg_line_of(ps, S_RELAY, "proxy", NULL);
    const char *p = cfg_skip_ws(cfg->proxy_text);
    cfg->nproxy = 0;
    while (*p != '\0') {
        size_t len = strcspn(p, ", \t");
        char name[CFG_NAME_MAX];
        if (len == 0 || len >= sizeof(name)) {
            cfg_fail(ps, line, "relay", "proxy", "'%s' is not a list of backend names "
                 "(proxy = NAME, NAME, ...)", cfg->proxy_text);
            return false;
        }
        memcpy(name, p, len);
        name[len] = '\0';
        bool known = false;
        for (int i = 0; i < cfg->nbackends; i++)
            known = known || strcmp(cfg->backends[i].name, name) == 0;
        for (int i = 0; i < cfg->nproxy; i++)
            if (strcmp(cfg->proxy[i], name) == 0) {
                cfg_fail(ps, line, "relay", "proxy", "backend '%s' is named twice", name);
                return false;
            }
        if (!known) {
            cfg_fail(ps, line, "relay", "proxy", "'%s' is not a [backend NAME] of this file", name);
            return false;
        }
        snprintf(cfg->proxy[cfg->nproxy++], CFG_NAME_MAX, "%s", name);
        p = cfg_skip_ws(p + len);
        if (*p == ',')
            p = cfg_skip_ws(p + 1);
    }
    return true;
}

/* Every backend has an address (and an HTTP address, its own or that). */
static bool
backends_check(struct parse_state *ps)
{
    struct config *cfg = ps->cfg;
    if (cfg->nbackends == 0) {
        cfg_fail(ps, ps->line, NULL, NULL, "no [backend NAME] section: nothing to relay to");
        return false;
    }
    for (int i = 0; i < cfg->nbackends; i++) {
        struct cfg_backend *b = &cfg->backends[i];
        if (!b->has_address) {
            char sect[CFG_NAME_MAX + 16];
            snprintf(sect, sizeof(sect), "backend %s", b->name);
            cfg_fail(ps, b->line, sect, "address", "missing (e.g. address = 127.0.0.1:4243)");
            return false;
        }
        if (!b->has_http_address)
            b->http_addr = b->addr; /* a TSD serves telnet and HTTP on one port */
    }
    return true;
}

/* The block: a power of two, and every unit bound within it. */
static bool
block_check(struct parse_state *ps)
{
    struct config *cfg = ps->cfg;
    if (cfg->block_size < 4096 || (cfg->block_size & (cfg->block_size - 1)) != 0)
        return cfg_fail(ps, cfg_line_of(ps, S_RELAY, "block-size", NULL), "relay", "block-size",
                        "must be a power of two >= 4K");
    if (cfg->max_line_bytes > cfg->block_size - 256)
        return cfg_fail(ps, cfg_line_of(ps, S_RELAY, "max-line-bytes", "block-size"), "relay",
                        "max-line-bytes", "%llu does not fit a block (block-size %llu, less 256)",
                        (unsigned long long)cfg->max_line_bytes,
                        (unsigned long long)cfg->block_size);
    if (cfg->max_reply_bytes > cfg->block_size - 256)
        return cfg_fail(ps, cfg_line_of(ps, S_RELAY, "max-reply-bytes", "block-size"), "relay",
                        "max-reply-bytes", "%llu does not fit a block (block-size %llu, less 256)",
                        (unsigned long long)cfg->max_reply_bytes,
                        (unsigned long long)cfg->block_size);
    if (!header_bound(ps))
        return false;
    if (cfg->memory_limit < 16 * cfg->block_size)
        return cfg_fail(ps, cfg_line_of(ps, S_RELAY, "memory-limit", "block-size"), "relay",
                        "memory-limit", "must hold at least 16 blocks of block-size (%llu bytes)",
                        (unsigned long long)(16 * cfg->block_size));
    return true;
}

/* The status page's ring: some samples, and at most a quarter of the budget. */
static bool
history_check(struct parse_state *ps)
{
    struct config *cfg = ps->cfg;
    if (cfg->history_ms == 0)
        return true;
    uint64_t samples = cfg->history_ms / cfg->history_interval_ms;
    uint64_t ring = samples * CFG_HISTORY_SAMPLE_BYTES(cfg->nbackends);
    if (samples == 0 || samples > CFG_HISTORY_MAX_SAMPLES)
        return cfg_fail(ps, cfg_line_of(ps, S_RELAY, "history", "history-interval"), "relay",
                        "history",
                        "keeps %llu samples of history-interval (%llu ms); allowed 1 to %u",
                        (unsigned long long)samples,
                        (unsigned long long)cfg->history_interval_ms, CFG_HISTORY_MAX_SAMPLES);
    if (ring > cfg->memory_limit / 4)
        return cfg_fail(ps, cfg_line_of(ps, S_RELAY, "history", "memory-limit"), "relay",
                        "history",
                        "its ring needs %llu bytes for %d backends, more than a quarter of "
                        "memory-limit (%llu)",
                        (unsigned long long)ring, cfg->nbackends,
                        (unsigned long long)cfg->memory_limit);
    return true;
}

/* [redis]: the watermarks in order, a prefix. */
static bool
redis_check(struct parse_state *ps)
{
    const struct cfg_redis *rc = &ps->cfg->redis;
    if (!rc->enabled)
        return true;
    if (!sentinels(ps))
        return false;
    if (rc->spool_low >= rc->spool_high)
        return cfg_fail(ps, cfg_line_of(ps, S_REDIS, "spool-low", "spool-high"), "redis",
                        "spool-low", "must be below spool-high (%llu)",
                        (unsigned long long)rc->spool_high);
    if (rc->prefix[0] == '\0')
        return cfg_fail(ps, cfg_line_of(ps, S_REDIS, "prefix", NULL), "redis", "prefix",
                        "must not be empty");
    return true;
}

_Static_assert(CFG_GROUP_MEMBERS == CFG_MAX_BACKENDS, "a group can hold every backend");

/* The [group] and [rule] sections (rulecfg.c), against the backends. */
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
                                  cfg_line_of(ps, S_RELAY, "default-group", NULL), pr.name_ok,
                                  &re) != TS_OK;
    return !ps->failed;
}

int
config_check(struct parse_state *ps)
{
    struct config *cfg = ps->cfg;
    if (!backends_check(ps))
        return 0;
    if (cfg->tcp_keepalive_ms > 0 && cfg->tcp_keepalive_ms < 1000)
        return cfg_fail(ps, cfg_line_of(ps, S_RELAY, "tcp-keepalive", NULL), "relay",
                        "tcp-keepalive",
                        "must be 0 (off) or at least 1s (the kernel counts it in seconds)");
    if (!proxy_list(ps) || !block_check(ps) || !budget(ps) || !http_backends_fit(ps))
        return 0;
    if (cfg->reconnect_min_ms > cfg->reconnect_max_ms)
        return cfg_fail(ps, cfg_line_of(ps, S_RELAY, "reconnect-min", "reconnect-max"), "relay",
                        "reconnect-min", "is larger than reconnect-max");
    if (!history_check(ps))
        return 0;
    for (const char *c = cfg->allow_specialchars; *c; c++)
        if (*c == ' ' || *c == '=' || *c == '\n' || *c == '\r')
            return cfg_fail(ps, cfg_line_of(ps, S_RELAY, "allow-specialchars", NULL), "relay",
                            "allow-specialchars",
                            "may not contain space, '=' or newline characters");
    char why[CFG_ERR_MAX / 2];
    if (resolver_check_servers(cfg->dns_servers, CFG_MAX_DNS_SERVERS, why, sizeof(why)) != TS_OK)
        return cfg_fail(ps, cfg_line_of(ps, S_RELAY, "dns-servers", NULL), "relay",
                        "dns-servers", "%s", why);
    if (!redis_check(ps) || !tls_settings(ps) || !access_settings(ps))
        return 0;
    return rule_sections(ps) ? 1 : 0;
}
