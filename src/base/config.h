/*
 * config.h -- the configuration contract: INI file -> struct config.
 *
 * Owns parsing (libinih), defaults, units (K/M/G sizes, ms/s/m/h
 * durations), validation, and a key's value written back as a file gives
 * it (the reload log).  Every error names file, line and key.  It
 * must never touch sockets or the loop: the result is plain data.
 */
#ifndef TS_CONFIG_H
#define TS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/rulecfg.h"

#define CFG_MAX_LISTEN 16
#define CFG_MAX_BACKENDS 64
#define CFG_MAX_CONNS 64
#define CFG_NAME_MAX 64
#define CFG_HOST_MAX 256
#define CFG_ERR_MAX 512
#define CFG_MAX_SENTINELS 8
#define CFG_MAX_DNS_SERVERS 4
/* The status page's history ring (ops/history.c), bounded here so that a
 * file is checked whole at load: at most CFG_HISTORY_MAX_SAMPLES samples
 * (history / history-interval), each of CFG_HISTORY_COLS numbers plus
 * CFG_HISTORY_BACKEND_COLS per backend (history.h asserts its layout fits). */
#define CFG_HISTORY_MAX_SAMPLES 100000u
#define CFG_HISTORY_COLS 11
#define CFG_HISTORY_BACKEND_COLS 4
#define CFG_HISTORY_SAMPLE_BYTES(nbackends) \
    ((size_t)CFG_HISTORY_COLS * sizeof(double) + \
     (size_t)(nbackends) * CFG_HISTORY_BACKEND_COLS * sizeof(double))

enum listen_proto { PROTO_AUTO = 0, PROTO_TELNET, PROTO_FRAMED, PROTO_HTTP };
enum routing { ROUTE_HASH = 0, ROUTE_ROUNDROBIN, ROUTE_FAILOVER, ROUTE_ALL };
enum overflow_policy { OVERFLOW_BLOCK = 0, OVERFLOW_DROP };
enum ack_mode { ACK_NONE = 0, ACK_VERSION };

struct cfg_addr {
    char host[CFG_HOST_MAX];
    char port[8];
};

struct cfg_listen {
    struct cfg_addr addr;
    enum listen_proto proto;
    int line;
};

struct cfg_backend {
    char name[CFG_NAME_MAX];
    struct cfg_addr addr;
    int conns;
    uint64_t write_timeout_ms;
    uint64_t connect_timeout_ms;
    enum ack_mode ack;
    uint64_t ack_timeout_ms;     /* a barrier unanswered this long fails the connection */
    uint64_t ack_window;         /* bytes written and not yet acknowledged by a barrier, at most */
    uint64_t max_rate;           /* points/s this backend is sent at most, 0 = unlimited */
    int overflow;                /* enum overflow_policy; -1: the relay's */
    uint64_t max_queue_bytes;    /* its share of the queue budget, 0 = an equal share */
    bool has_address;
    int ack_line;
    int line;
};

struct cfg_redis {
    bool enabled;
    struct cfg_addr addr;
    char prefix[CFG_NAME_MAX];
    uint64_t spool_high;
    uint64_t spool_low;
    uint64_t spool_max_bytes;
    uint64_t flush_interval_ms;
    uint64_t connect_timeout_ms;
    int compress_level;
    char sentinels_text[1024];  /* sentinels as written; parsed into sentinels[] */
    struct cfg_addr sentinels[CFG_MAX_SENTINELS];
    int nsentinels;             /* 0: connect to address */
    char master_name[CFG_NAME_MAX];
    uint64_t takeover_after_ms;  /* an instance silent this long has its spool taken over */
    int min_replicas_ack;        /* a push is stored once WAIT says this many replicas have it */
    int line;
};

struct config {
    char path[1024];
    struct cfg_listen listen[CFG_MAX_LISTEN];
    int nlisten;
    enum routing routing;
    uint64_t max_clients;
    uint64_t max_frame_bytes;
    uint64_t max_line_bytes;
    uint64_t max_reply_bytes;
    uint64_t max_http_body_bytes;
    uint64_t idle_timeout_ms;
    uint64_t read_timeout_ms;    /* deadline for a partial line/frame/request */
    uint64_t memory_limit;
    uint64_t control_reserve;    /* the budget's last bytes, for stats and health only */
    uint64_t input_memory;       /* most the clients' partial units may hold */
    uint64_t control_slots;      /* stats-only connections over max-clients */
    char instance[CFG_NAME_MAX * 4]; /* this relay's name in Redis keys; empty: host:port */
    int frame_acks;              /* 1: framed packets are acknowledged (ack N frames) */
    uint64_t block_size;
    enum overflow_policy overflow;
    uint64_t shutdown_timeout_ms;
    uint64_t stats_interval_ms;
    uint64_t history_ms;         /* status-page history kept (0 = off) */
    uint64_t history_interval_ms;/* one history sample this often */
    uint64_t reconnect_min_ms;
    uint64_t reconnect_max_ms;
    uint64_t resolve_timeout_ms; /* a host name's lookup (backends, Redis, Sentinels) */
    char dns_servers[512];       /* "IP[:PORT],...": "" = the system's resolv.conf */
    int max_tags;
    char allow_specialchars[64];
    char default_group[CFG_RULE_NAME_MAX]; /* where points no send rule routes go */
    uint64_t rule_cache_bytes;   /* the rules' metric cache (core/matchcache.c), 0 = off */
    uint64_t rule_match_limit;   /* PCRE2 match limit of one pattern on one point */
    char log_level[16];
    char log_file[1024];
    uint64_t log_buffer_bytes;
    struct cfg_backend backends[CFG_MAX_BACKENDS];
    int nbackends;
    struct cfg_redis redis;
    struct cfg_rules rules;      /* [group NAME] and [rule NAME] sections (rulecfg.h) */
};

/* Fills cfg with defaults (no backends, one listener on 0.0.0.0:4242). */
void config_defaults(struct config *cfg);
/* Parses and validates a file.  On error returns TS_ERROR and writes
 * "FILE:LINE: [section] key: reason" into err. */
int config_load(struct config *cfg, const char *path, char *err, size_t errlen);
/* Same, from a string (tests); name is used in error messages. */
int config_load_string(struct config *cfg, const char *name, const char *text,
                       char *err, size_t errlen);

/* "host:port", "[v6]:port" or ":port" (sizes and durations: base/units.h).
 * TS_OK or TS_ERROR. */
int config_parse_addr(const char *s, struct cfg_addr *out);

const char *config_proto_name(enum listen_proto p);
const char *config_routing_name(enum routing r);

/* The key table, read-only: its size, and key i's section ("relay",
 * "backend", "redis", "group" or "rule"; NULL past the end) and name. */
size_t config_key_count(void);
const char *config_key_section(size_t i);
const char *config_key_name(size_t i);
/* Key i's value as a file gives it ("128M", "5m", "hash",
 * "127.0.0.1:4243"): from cfg for [relay] and [redis] keys, from b for
 * [backend] keys.  false for a key of no single value (listen, the
 * [group] and [rule] keys), or a [backend] key without b. */
bool config_key_format(size_t i, const struct config *cfg, const struct cfg_backend *b,
                       char *buf, size_t len);

#endif
