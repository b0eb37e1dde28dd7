/*
 * config.h -- the configuration contract: INI file -> struct config.
 *
 * Owns parsing (libinih), defaults, units (config_values.c: K/M/G sizes, ms/s/m/h
 * durations), validation, and a key's value written back as a file gives
 * it (the reload log).  Every error names file, line and key.  It
 * must never touch sockets or the loop: the result is plain data.
 */
#ifndef TS_CONFIG_H
#define TS_CONFIG_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/allow.h"
#include "base/rulecfg.h"

#define CFG_MAX_LISTEN 16
#define CFG_MAX_BACKENDS 64
#define CFG_MAX_CONNS 64
#define CFG_NAME_MAX 64
#define CFG_HOST_MAX 256
#define CFG_ERR_MAX 512
#define CFG_AUTH_MAX 1024     /* a TSD line: at most 1023 bytes before the "\n" */
#define CFG_MAX_SENTINELS 8
#define CFG_MAX_DNS_SERVERS 4
#define CFG_PATH_MAX 512       /* a certificate's, a key's or a CA's file */
#define CFG_SECRET_MAX 256     /* a password */
#define CFG_ALLOW_TEXT_MAX 1024
/* The status page's history ring (ops/history.c), bounded here so that a
 * file is checked whole at load: at most CFG_HISTORY_MAX_SAMPLES samples
 * (history / history-interval), each of CFG_HISTORY_COLS numbers plus
 * CFG_HISTORY_BACKEND_COLS per backend (history.h asserts its layout fits). */
#define CFG_HISTORY_MAX_SAMPLES 100000u
#define CFG_HISTORY_COLS 13
#define CFG_HISTORY_BACKEND_COLS 4
#define CFG_HISTORY_SAMPLE_BYTES(nbackends) \
    ((size_t)CFG_HISTORY_COLS * sizeof(double) + \
     (size_t)(nbackends) * CFG_HISTORY_BACKEND_COLS * sizeof(double))

/* What a protocol = http backend holds for its life, charged to the
 * queue class (output/backend_http.c; config_check.c sees that it fits):
 * a window of 2 x http-pipeline batches per connection, each a body block
 * and CFG_HTTP_LINE_BYTES per line it may hold (http-batch at most, and
 * what a body fits at 32 bytes of JSON a point, CFG_HTTP_GZIP_RATIO times
 * that with gzip); and a buffer of CFG_HTTP_GZIP_RATIO blocks for the
 * JSON before compression.  backend_http.c asserts the line's parts fit. */
#define CFG_HTTP_LINE_BYTES 24
#define CFG_HTTP_GZIP_RATIO 4

enum listen_proto { PROTO_AUTO = 0, PROTO_TELNET, PROTO_FRAMED, PROTO_HTTP };
enum routing { ROUTE_HASH = 0, ROUTE_ROUNDROBIN, ROUTE_FAILOVER, ROUTE_ALL };
enum overflow_policy { OVERFLOW_BLOCK = 0, OVERFLOW_DROP };
enum ack_mode { ACK_NONE = 0, ACK_VERSION };
enum tls_min_version { TLS_MIN_12 = 0, TLS_MIN_13 };
enum bproto { BPROTO_TELNET = 0, BPROTO_HTTP };

struct cfg_addr {
    char host[CFG_HOST_MAX];
    char port[8];
};

/* listen = HOST:PORT [PROTO] [tls] [allow=CIDR[,CIDR...]] */
struct cfg_listen {
    struct cfg_addr addr;
    enum listen_proto proto;
    bool tls;                    /* clients speak TLS first ([tls] has the certificate) */
    struct allow_list allow;     /* who may connect; empty: everyone */
    int line;
};

/* [tls]: the listeners' certificate and what they ask of clients. */
struct cfg_tls {
    char cert[CFG_PATH_MAX];     /* PEM: the certificate, then its chain */
    char key[CFG_PATH_MAX];      /* PEM: its private key */
    char ca[CFG_PATH_MAX];       /* PEM: CAs of client certificates; set: mTLS */
    int min_version;             /* enum tls_min_version */
    char ciphers[512];           /* OpenSSL cipher list for TLS 1.2; empty: OpenSSL's */
    uint64_t max_handshakes;     /* handshakes in progress at once (~40 KB each) */
    int line;                    /* of [tls], 0 if absent */
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
    int tls;                     /* 1: TLS to the TSD (or a TLS-terminating proxy) */
    char ca[CFG_PATH_MAX];       /* CAs the server's certificate must chain to; empty: system's */
    char server_name[CFG_HOST_MAX]; /* SNI and the name verified; empty: address's host */
    char cert[CFG_PATH_MAX];     /* a client certificate, if the server asks for one */
    char key[CFG_PATH_MAX];
    char auth[CFG_AUTH_MAX];     /* sent first on each connection; "" = none (a secret) */
    int protocol;                /* enum bproto */
    struct cfg_addr http_addr;   /* its HTTP API: the read pass-through's and, with
                                    protocol = http, where POST /api/put goes (default: addr) */
    int http_conns;              /* the pass-through's keep-alive connections to it */
    uint64_t http_batch;         /* points per request at most */
    uint64_t http_batch_bytes;   /* a request's body at most (before gzip) */
    int http_gzip;               /* 1: request bodies gzip-compressed */
    int http_pipeline;           /* requests in flight per connection at most */
    int sync;                    /* 1: ?sync, an answer proves storage */
    uint64_t sync_timeout_ms;    /* &sync_timeout= (0: none) */
    bool has_address;
    bool has_http_address;
    int ack_line;
    int line;
};

/* A protocol = http backend's window: batches per connection, sent or
 * waiting for a retry (two per request in flight). */
static inline uint64_t
cfg_http_window(const struct cfg_backend *b)
{
    return b->http_pipeline > 1 ? 2u * (uint64_t)b->http_pipeline : 2u;
}

/* Lines a batch holds at most: http-batch, and what a body of data_size
 * bytes fits at 32 bytes of JSON a point (CFG_HTTP_GZIP_RATIO times that
 * with gzip). */
static inline uint64_t
cfg_http_batch_lines(const struct cfg_backend *b, uint64_t data_size)
{
    uint64_t fits = data_size * (b->http_gzip ? CFG_HTTP_GZIP_RATIO : 1) / 32;
    return fits < b->http_batch ? fits : b->http_batch;
}

/* What it holds for its life beside its bodies' blocks (one a batch):
 * the batches' line arrays and the gzip buffer. */
static inline uint64_t
cfg_http_buffer_bytes(const struct cfg_backend *b, uint64_t data_size)
{
    return (uint64_t)b->conns * cfg_http_window(b) * cfg_http_batch_lines(b, data_size) *
               CFG_HTTP_LINE_BYTES +
           CFG_HTTP_GZIP_RATIO * data_size;
}

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
    char username[CFG_NAME_MAX]; /* AUTH username password (ACL users); empty: AUTH password */
    char password[CFG_SECRET_MAX]; /* empty: no AUTH */
    char sentinel_username[CFG_NAME_MAX];
    char sentinel_password[CFG_SECRET_MAX]; /* Sentinels' own AUTH */
    uint64_t rejected_max_bytes; /* the rejected lists' bound (spool/rejected.c) */
    int line;
};

enum on_limit { ON_LIMIT_REJECT = 0, ON_LIMIT_LOG };

/* [limits]: the new-series guard (core/series_guard.c); 0 = unlimited. */
struct cfg_limits {
    uint64_t per_hour;           /* new-series-per-hour */
    uint64_t per_day;            /* new-series-per-day */
    uint64_t per_metric_hour;    /* new-series-per-metric-per-hour */
    uint64_t per_client_hour;    /* new-series-per-client-per-hour */
    uint64_t max_per_metric;     /* max-series-per-metric (an estimate) */
    uint64_t series_memory;      /* the guard's memory; 0: no guard */
    int on_limit;                /* enum on_limit */
    bool series_memory_set;      /* given in the file (not the default) */
    int line;                    /* of [limits], 0 if absent */
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
    uint64_t max_http_header_bytes; /* a passed-through request's headers, at most */
    uint64_t idle_timeout_ms;    /* 0 (default): a quiet client is kept, as a TSD keeps it */
    uint64_t tcp_keepalive_ms;   /* client sockets' keepalive idle time, 0 = off */
    uint64_t read_timeout_ms;    /* deadline for a partial line/frame/request */
    uint64_t memory_limit;
    uint64_t control_reserve;    /* the budget's last bytes, for stats and health only */
    uint64_t input_memory;       /* most the clients' partial units may hold */
    uint64_t control_slots;      /* stats-only connections over max-clients */
    char instance[CFG_NAME_MAX * 4]; /* this relay's name in Redis keys; empty: host:port */
    int frame_acks;              /* 1: framed packets are acknowledged (ack N frames) */
    uint64_t sync_max_wait_ms;   /* ?sync: the longest an answer waits for its proofs */
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
    char admin_allow_text[CFG_ALLOW_TEXT_MAX]; /* as written; parsed into admin_allow */
    struct allow_list admin_allow; /* who may read stats and status; empty: everyone */
    struct cfg_tls tls;
    struct cfg_backend backends[CFG_MAX_BACKENDS];
    int nbackends;
    /* the read pass-through: backends that serve every HTTP request that
     * is not a write, in failover order (none: off) */
    char proxy_text[CFG_MAX_BACKENDS * (CFG_NAME_MAX + 2)]; /* as written */
    char proxy[CFG_MAX_BACKENDS][CFG_NAME_MAX];
    int nproxy;
    uint64_t proxy_connect_timeout_ms;
    uint64_t proxy_timeout_ms;       /* no progress either way */
    uint64_t proxy_queue_timeout_ms; /* a request waits this long for a free connection */
    struct cfg_redis redis;
    struct cfg_limits limits;
    struct cfg_rules rules;      /* [group NAME] and [rule NAME] sections (rulecfg.h) */
};

/* Fills cfg with defaults (no backends, one listener on 0.0.0.0:4242). */
void config_defaults(struct config *cfg);
/* A [backend] section's defaults (config_values.c). */
void config_backend_defaults(struct cfg_backend *b);
/* Parses and validates a file.  On error returns TS_ERROR and writes
 * "FILE:LINE: [section] key: reason" into err. */
int config_load(struct config *cfg, const char *path, char *err, size_t errlen);
/* Same, from a string (tests); name is used in error messages. */
int config_load_string(struct config *cfg, const char *name, const char *text,
                       char *err, size_t errlen);

/* Unit parsers (rulecfg.c's too).  Return TS_OK or TS_ERROR. */
int config_parse_size(const char *s, uint64_t *out);
int config_parse_duration_ms(const char *s, uint64_t *out);
int config_parse_addr(const char *s, struct cfg_addr *out);
/* A listen line's value (config_values.c): TS_OK, or TS_ERROR with why. */
int config_parse_listen(const char *s, struct cfg_listen *out, char *why, size_t whylen);
/* A size or a duration the way a file would give it ("128M", "5m"). */
void config_format_with_unit(uint64_t v, bool duration, char *buf, size_t len);

const char *config_proto_name(enum listen_proto p);
const char *config_routing_name(enum routing r);

/* The key table, read-only: its size, and key i's section ("relay",
 * "backend", "redis", "tls", "limits", "group" or "rule"; NULL past the
 * end) and name. */
size_t config_key_count(void);
const char *config_key_section(size_t i);
const char *config_key_name(size_t i);
/* Key i holds a secret (a password, a backend's auth line):
 * config_key_format never writes its value, only whether it is set. */
bool config_key_secret(size_t i);
/* Whether key i has the same value in (a, ab) and (b, bb) -- secrets
 * compared without being written anywhere. */
bool config_key_equal(size_t i, const struct config *a, const struct cfg_backend *ab,
                      const struct config *b, const struct cfg_backend *bb);
/* Any listener with tls (they need [tls] cert and key). */
bool config_tls_listeners(const struct config *cfg);
/* Key i's value as a file gives it ("128M", "5m", "hash",
 * "127.0.0.1:4243"; a secret as "(set)" or ""): from cfg for [relay],
 * [redis], [tls] and [limits] keys, from b for [backend] keys.  false for
 * a key of no single value (listen, the [group] and [rule] keys), or a
 * [backend] key without b. */
bool config_key_format(size_t i, const struct config *cfg, const struct cfg_backend *b,
                       char *buf, size_t len);

#endif
