/*
 * config_values.c -- a configuration value's text into data, for config.c:
 * sizes (K/M/G/T), durations (ms/s/m/h), HOST:PORT, and the listen line
 * with its options; sizes and durations written back as a file gives
 * them; and every key's default value.  Plain text in, plain data out: it must never touch a socket, a
 * file or the loop.
 */
#include "autoconf.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/config.h"
#include "base/config_parse.h"
#include "base/util.h"


/* A size's unit: "", B, K/KB/KiB, M.., G.., T..; 0 when it is none. */
static uint64_t
config_values_size_unit(const char *u)
{
    uint64_t mult;
    switch (toupper((unsigned char)*u)) {
    case '\0': return 1;
    case 'B': mult = 1; break;
    case 'K': mult = KB; break;
    case 'M': mult = MB; break;
    case 'G': mult = GB; break;
    case 'T': mult = 1024 * GB; break;
    default: return 0;
    }
    u++;
    if (mult > 1) { /* accept K, KB, KiB */
        if (*u == 'i' || *u == 'I')
            u++;
        if (*u == 'b' || *u == 'B')
            u++;
    }
    return *cfg_skip_ws(u) == '\0' ? mult : 0;
}

/* A duration's unit in ms: "" (seconds), s, ms, m/min, h; 0 when none. */
static uint64_t
config_values_duration_unit(const char *u)
{
    if (*u == '\0' || strcasecmp(u, "s") == 0)
        return 1000; /* a bare number is seconds */
    if (strcasecmp(u, "ms") == 0)
        return 1;
    if (strcasecmp(u, "m") == 0 || strcasecmp(u, "min") == 0)
        return 60 * 1000;
    if (strcasecmp(u, "h") == 0)
        return HOUR_MS;
    return 0;
}

/* A whole number followed by a unit that unit() turns into a multiplier
 * (0: not a unit); the product must fit in 64 bits. */
static int
config_values_number(const char *s, uint64_t (*unit)(const char *), uint64_t *out)
{
    s = cfg_skip_ws(s);
    if (!isdigit((unsigned char)*s))
        return TS_ERROR;
    errno = 0;
    char *end;
    unsigned long long v = strtoull(s, &end, 10);
    if (errno != 0)
        return TS_ERROR;
    uint64_t mult = unit(cfg_skip_ws(end));
    if (mult == 0 || (v != 0 && mult > UINT64_MAX / v))
        return TS_ERROR;
    *out = (uint64_t)v * mult;
    return TS_OK;
}

int
config_parse_size(const char *s, uint64_t *out)
{
    return config_values_number(s, config_values_size_unit, out);
}

int
config_parse_duration_ms(const char *s, uint64_t *out)
{
    return config_values_number(s, config_values_duration_unit, out);
}

/* "host:port", "[v6]:port" or ":port" (all addresses). */
int
config_parse_addr(const char *s, struct cfg_addr *out)
{
    const char *host, *port;
    size_t hlen;
    s = cfg_skip_ws(s);
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

/* A size or a duration the way a file would give it: the largest unit
 * that divides it ("128M", "5m", "100ms"); 0 as "0". */
void
config_format_with_unit(uint64_t v, bool duration, char *buf, size_t len)
{
    static const struct { uint64_t mult; const char *name; } sizes[] = {
        { 1024 * GB, "T" }, { GB, "G" }, { MB, "M" }, { KB, "K" }, { 1, "" },
    }, durations[] = {
        { HOUR_MS, "h" }, { 60 * 1000, "m" }, { 1000, "s" }, { 1, "ms" },
    };
    const size_t n = duration ? TS_ARRAY_LEN(durations) : TS_ARRAY_LEN(sizes);
    for (size_t i = 0; i < n; i++) {
        const uint64_t mult = duration ? durations[i].mult : sizes[i].mult;
        if (v == 0 || v % mult == 0 || i == n - 1) {
            snprintf(buf, len, "%llu%s", (unsigned long long)(v / mult),
                     v == 0 ? "" : duration ? durations[i].name : sizes[i].name);
            return;
        }
    }
}


/* ---- the listen line ---------------------------------------------------- */

static const char *const config_values_protos[] = { "auto", "telnet", "framed", "http", NULL };

/* One option word of a listen line (after its address) into l. */
static int
config_values_listen_word(const char *w, struct cfg_listen *l, bool *seen_proto, char *why,
                          size_t whylen)
{
    if (strncasecmp(w, "allow=", 6) == 0) {
        if (l->allow.n > 0) {
            snprintf(why, whylen, "allow= is given twice (list every network in one)");
            return TS_ERROR;
        }
        if (w[6] == '\0') {
            snprintf(why, whylen, "allow= needs CIDR[,CIDR...] (e.g. allow=10.0.0.0/8)");
            return TS_ERROR;
        }
        char inner[CFG_ERR_MAX / 2];
        if (allow_parse(w + 6, &l->allow, inner, sizeof(inner)) != TS_OK) {
            snprintf(why, whylen, "allow=: %s", inner);
            return TS_ERROR;
        }
        return TS_OK;
    }
    if (strcasecmp(w, "tls") == 0) {
        l->tls = true;
        return TS_OK;
    }
    for (int i = 0; config_values_protos[i] != NULL; i++) {
        if (strcasecmp(w, config_values_protos[i]) == 0) {
            if (*seen_proto) {
                snprintf(why, whylen, "two protocols ('%s' and '%s')",
                         config_values_protos[l->proto], w);
                return TS_ERROR;
            }
            *seen_proto = true;
            l->proto = (enum listen_proto)i;
            return TS_OK;
        }
    }
    snprintf(why, whylen, "unknown protocol '%.60s' (expected auto, telnet, framed or http; "
             "or the options tls and allow=CIDR[,CIDR...])", w);
    return TS_ERROR;
}

/* "HOST:PORT [PROTO] [tls] [allow=CIDR[,CIDR...]]", options in any order;
 * spaces after the commas of allow= are allowed. */
int
config_parse_listen(const char *s, struct cfg_listen *l, char *why, size_t whylen)
{
    char buf[CFG_HOST_MAX + CFG_ALLOW_TEXT_MAX + 64];
    size_t n = 0;
    memset(l, 0, sizeof(*l));
    l->proto = PROTO_AUTO;
    for (const char *p = cfg_skip_ws(s); *p != '\0'; p++) {
        if (n + 1 >= sizeof(buf)) {
            snprintf(why, whylen, "longer than %zu bytes", sizeof(buf) - 1);
            return TS_ERROR;
        }
        buf[n++] = *p;
        if (*p == ',') /* "allow=a, b": one word */
            p = cfg_skip_ws(p + 1) - 1;
    }
    buf[n] = '\0';
    char *save = NULL;
    char *addr = strtok_r(buf, " \t", &save);
    if (addr == NULL || config_parse_addr(addr, &l->addr) != TS_OK) {
        snprintf(why, whylen, "'%.100s' is not HOST:PORT (e.g. 0.0.0.0:4242 auto)",
                 addr != NULL ? addr : "");
        return TS_ERROR;
    }
    bool seen_proto = false;
    for (char *w = strtok_r(NULL, " \t", &save); w != NULL; w = strtok_r(NULL, " \t", &save))
        if (config_values_listen_word(w, l, &seen_proto, why, whylen) != TS_OK)
            return TS_ERROR;
    return TS_OK;
}

/* ---- defaults ----------------------------------------------------------- */

void
config_backend_defaults(struct cfg_backend *b)
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
    b->http_conns = 4;
    b->http_batch = 50;            /* the TSD's docs: about 50 points a request */
    b->http_batch_bytes = 8 * KB;  /* a TSD's HTTP decoder takes bodies <= 8K whole */
    b->http_pipeline = 1;          /* a TSD may answer pipelined requests out of order */
    b->sync = 1;
    b->sync_timeout_ms = 10 * 1000;
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
    cfg->max_http_header_bytes = 8 * KB; /* the TSD's own (Netty's HttpRequestDecoder) */
    cfg->idle_timeout_ms = 0;           /* the TSD's tsd.core.socket.timeout */
    cfg->tcp_keepalive_ms = 5 * 60 * 1000;
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
    snprintf(cfg->log_level, sizeof(cfg->log_level), "info");
    snprintf(cfg->default_group, sizeof(cfg->default_group), "default");
    cfg->rule_cache_bytes = 1 * MB;
    cfg->rule_match_limit = 100000;
    cfg->log_buffer_bytes = 256 * KB;
    cfg->proxy_connect_timeout_ms = 5 * 1000;
    cfg->proxy_timeout_ms = 2 * 60 * 1000;
    cfg->proxy_queue_timeout_ms = 10 * 1000;
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
    cfg->redis.rejected_max_bytes = 16 * MB;
    cfg->limits.series_memory = 8 * MB; /* follows a small memory-limit down (config_check.c) */
    cfg->limits.on_limit = ON_LIMIT_REJECT;
    cfg->sync_max_wait_ms = 30 * 1000;
    cfg->tls.max_handshakes = 64;
}
