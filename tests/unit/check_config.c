/*
 * check_config.c -- unit tests of the configuration contract (src/base/config.c).
 *
 * Covers: the shipped conf/tsrelay.conf and the values it documents;
 * defaults when keys are absent; size and duration units; address forms;
 * listen keys and protocols; and the errors: every one must name the
 * file, the line and the key ("NAME:LINE: [section] key: reason"), both
 * for config_load_string and for config_load on a real file.
 */
#include "autoconf.h"

#include <check.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "base/config.h"
#include "base/util.h"
#include "unit.h"

#define KB 1024ull
#define MB (1024ull * 1024)
#define GB (1024ull * 1024 * 1024)

static struct config cfg;
static char err[CFG_ERR_MAX];

/* A minimal valid tail: one backend. */
#define BACKEND_OK "[backend b1]\naddress = 127.0.0.1:4243\n"

static int
load(const char *text)
{
    memset(err, 0, sizeof(err));
    return config_load_string(&cfg, "NAME", text, err, sizeof(err));
}

/* Loads text that must fail and checks the error starts with prefix. */
#define ASSERT_ERR_PREFIX(text, prefix)                                              \
    do {                                                                             \
        int rc_ = load(text);                                                        \
        ck_assert_msg(rc_ == TS_ERROR, "accepted a bad config; expected error '%s'", \
                      (prefix));                                                     \
        ck_assert_msg(strncmp(err, (prefix), strlen(prefix)) == 0,                   \
                      "error is '%s', expected it to start with '%s'", err, (prefix)); \
    } while (0)

#define ASSERT_OK(text)                                                              \
    do {                                                                             \
        int rc_ = load(text);                                                        \
        ck_assert_msg(rc_ == TS_OK, "rejected a good config: %s", err);              \
    } while (0)

/* ---- the shipped file ------------------------------------------------- */

START_TEST(test_shipped_conf)
{
    const char *path = TOPSRCDIR "/conf/tsrelay.conf";
    int rc = config_load(&cfg, path, err, sizeof(err));
    ck_assert_msg(rc == TS_OK, "shipped conf rejected: %s", err);
    ck_assert_str_eq(cfg.path, path);

    ck_assert_int_eq(cfg.nlisten, 1);
    ck_assert_str_eq(cfg.listen[0].addr.host, "0.0.0.0");
    ck_assert_str_eq(cfg.listen[0].addr.port, "4242");
    ck_assert_int_eq(cfg.listen[0].proto, PROTO_AUTO);
    ck_assert_int_eq(cfg.routing, ROUTE_HASH);
    ck_assert_uint_eq(cfg.max_clients, 10000);
    ck_assert_uint_eq(cfg.max_frame_bytes, 1 * MB);
    ck_assert_uint_eq(cfg.max_line_bytes, 32 * KB);
    ck_assert_uint_eq(cfg.max_reply_bytes, 32 * KB);
    ck_assert_uint_eq(cfg.max_http_body_bytes, 8 * MB);
    ck_assert_uint_eq(cfg.idle_timeout_ms, 0);       /* a TSD keeps quiet clients */
    ck_assert_uint_eq(cfg.tcp_keepalive_ms, 5 * 60 * 1000);
    ck_assert_uint_eq(cfg.read_timeout_ms, 30 * 1000);
    ck_assert_uint_eq(cfg.memory_limit, 128 * MB);
    ck_assert_uint_eq(cfg.block_size, 64 * KB);
    ck_assert_int_eq(cfg.overflow, OVERFLOW_BLOCK);
    ck_assert_uint_eq(cfg.shutdown_timeout_ms, 10 * 1000);
    ck_assert_uint_eq(cfg.stats_interval_ms, 0);
    ck_assert_uint_eq(cfg.reconnect_min_ms, 100);
    ck_assert_uint_eq(cfg.reconnect_max_ms, 10 * 1000);
    ck_assert_int_eq(cfg.max_tags, 8);
    ck_assert_str_eq(cfg.allow_specialchars, "");
    ck_assert_str_eq(cfg.log_level, "info");
    ck_assert_str_eq(cfg.log_file, "");
    ck_assert_uint_eq(cfg.log_buffer_bytes, 256 * KB);
    ck_assert_uint_eq(cfg.history_ms, 15 * 60 * 1000);
    ck_assert_uint_eq(cfg.history_interval_ms, 1000);

    ck_assert_int_eq(cfg.nbackends, 1);
    const struct cfg_backend *b = &cfg.backends[0];
    ck_assert_str_eq(b->name, "tsd1");
    ck_assert_str_eq(b->addr.host, "127.0.0.1");
    ck_assert_str_eq(b->addr.port, "4243");
    ck_assert(b->has_address);
    ck_assert_int_eq(b->conns, 2);
    ck_assert_uint_eq(b->write_timeout_ms, 10 * 1000);
    ck_assert_uint_eq(b->connect_timeout_ms, 5 * 1000);
    ck_assert_int_eq(b->ack, ACK_NONE);

    ck_assert(cfg.redis.enabled);
    ck_assert_str_eq(cfg.redis.addr.host, "127.0.0.1");
    ck_assert_str_eq(cfg.redis.addr.port, "6379");
    ck_assert_str_eq(cfg.redis.prefix, "tsrelay");
    ck_assert_uint_eq(cfg.redis.spool_high, 16 * MB);
    ck_assert_uint_eq(cfg.redis.spool_low, 4 * MB);
    ck_assert_uint_eq(cfg.redis.spool_max_bytes, 4 * GB);
    ck_assert_uint_eq(cfg.redis.flush_interval_ms, 100);
    ck_assert_uint_eq(cfg.redis.connect_timeout_ms, 2000);
    ck_assert_int_eq(cfg.redis.compress_level, 1);
}
END_TEST

START_TEST(test_missing_file)
{
    int rc = config_load(&cfg, "/nonexistent-dir-for-tsrelay/x.conf", err, sizeof(err));
    ck_assert_int_eq(rc, TS_ERROR);
    ck_assert_msg(strncmp(err, "/nonexistent-dir-for-tsrelay/x.conf: ", 37) == 0,
                  "error: %s", err);
}
END_TEST

/* ---- defaults --------------------------------------------------------- */

START_TEST(test_defaults)
{
    ASSERT_OK(BACKEND_OK);
    ck_assert_str_eq(cfg.path, "NAME");
    ck_assert_int_eq(cfg.nlisten, 1);
    ck_assert_str_eq(cfg.listen[0].addr.host, "0.0.0.0");
    ck_assert_str_eq(cfg.listen[0].addr.port, "4242");
    ck_assert_int_eq(cfg.listen[0].proto, PROTO_AUTO);
    ck_assert_int_eq(cfg.routing, ROUTE_HASH);
    ck_assert_uint_eq(cfg.max_clients, 10000);
    ck_assert_uint_eq(cfg.max_frame_bytes, 1 * MB);
    ck_assert_uint_eq(cfg.max_line_bytes, 32 * KB);
    ck_assert_uint_eq(cfg.max_reply_bytes, 32 * KB);
    ck_assert_uint_eq(cfg.max_http_body_bytes, 8 * MB);
    ck_assert_uint_eq(cfg.idle_timeout_ms, 0);
    ck_assert_uint_eq(cfg.tcp_keepalive_ms, 300000);
    ck_assert_uint_eq(cfg.read_timeout_ms, 30000);
    ck_assert_uint_eq(cfg.memory_limit, 128 * MB);
    ck_assert_uint_eq(cfg.block_size, 64 * KB);
    ck_assert_int_eq(cfg.overflow, OVERFLOW_BLOCK);
    ck_assert_uint_eq(cfg.shutdown_timeout_ms, 10000);
    ck_assert_uint_eq(cfg.stats_interval_ms, 0);
    ck_assert_uint_eq(cfg.reconnect_min_ms, 100);
    ck_assert_int_eq(cfg.max_tags, 8);
    ck_assert_str_eq(cfg.allow_specialchars, "");
    ck_assert_str_eq(cfg.log_level, "info");
    ck_assert_str_eq(cfg.log_file, "");
    ck_assert_uint_eq(cfg.log_buffer_bytes, 256 * KB);
    ck_assert_uint_eq(cfg.history_ms, 15 * 60 * 1000);
    ck_assert_uint_eq(cfg.history_interval_ms, 1000);
    ck_assert_int_eq(cfg.nbackends, 1);
    ck_assert_str_eq(cfg.backends[0].name, "b1");
    ck_assert_int_eq(cfg.backends[0].conns, 2);
    ck_assert_uint_eq(cfg.backends[0].write_timeout_ms, 10000);
    ck_assert_uint_eq(cfg.backends[0].connect_timeout_ms, 5000);
    ck_assert_int_eq(cfg.backends[0].ack, ACK_NONE);
    /* no [redis] section: memory-only */
    ck_assert(!cfg.redis.enabled);
}
END_TEST

START_TEST(test_redis_defaults)
{
    ASSERT_OK(BACKEND_OK "[redis]\nprefix = relay-a\n");
    ck_assert(cfg.redis.enabled);
    ck_assert_str_eq(cfg.redis.addr.host, "127.0.0.1");
    ck_assert_str_eq(cfg.redis.addr.port, "6379");
    ck_assert_str_eq(cfg.redis.prefix, "relay-a");
    ck_assert_uint_eq(cfg.redis.spool_high, 16 * MB);
    ck_assert_uint_eq(cfg.redis.spool_low, 4 * MB);
    ck_assert_uint_eq(cfg.redis.spool_max_bytes, 4 * GB);
    ck_assert_uint_eq(cfg.redis.flush_interval_ms, 100);
    ck_assert_uint_eq(cfg.redis.connect_timeout_ms, 2000);
    ck_assert_int_eq(cfg.redis.compress_level, 1);
}
END_TEST

/* "[redis]" alone (all defaults) must enable the spool: only omitting the
 * section runs memory-only. */
START_TEST(test_redis_empty_section_enables)
{
    ASSERT_OK(BACKEND_OK "[redis]\n");
    ck_assert_msg(cfg.redis.enabled, "an empty [redis] section left the spool disabled");
}
END_TEST

START_TEST(test_all_keys_set)
{
    ASSERT_OK("[relay]\n"
              "routing = failover\n"
              "max-clients = 12\n"
              "max-frame-bytes = 2M\n"
              "max-line-bytes = 2000\n"
              "max-reply-bytes = 4K\n"
              "max-http-body-bytes = 1M\n"
              "idle-timeout = 0\n"
              "read-timeout = 250ms\n"
              "memory-limit = 1G\n"
              "block-size = 8K\n"
              "overflow = drop\n"
              "shutdown-timeout = 1m\n"
              "stats-interval = 15s\n"
              "reconnect-min = 50ms\n"
              "reconnect-max = 1h\n"
              "max-tags = 12\n"
              "allow-specialchars = !@\n"
              "log-level = DEBUG\n"
              "log-file = /var/log/tsrelay.log\n"
              "log-buffer-bytes = 1M\n"
              "[backend a.b-c_d]\n"
              "address = tsd.example.com:14242\n"
              "conns = 64\n"
              "write-timeout = 500ms\n"
              "connect-timeout = 2s\n"
              "ack = none\n"
              "[redis]\n"
              "address = [::1]:6380\n"
              "spool-high = 64K\n"
              "spool-low = 0\n"
              "spool-max-bytes = 1M\n"
              "spool-flush-interval = 1ms\n"
              "connect-timeout = 10ms\n"
              "compress-level = 0\n");
    ck_assert_int_eq(cfg.routing, ROUTE_FAILOVER);
    ck_assert_uint_eq(cfg.max_clients, 12);
    ck_assert_uint_eq(cfg.max_frame_bytes, 2 * MB);
    ck_assert_uint_eq(cfg.max_line_bytes, 2000);
    ck_assert_uint_eq(cfg.max_reply_bytes, 4 * KB);
    ck_assert_uint_eq(cfg.max_http_body_bytes, 1 * MB);
    ck_assert_uint_eq(cfg.idle_timeout_ms, 0);
    ck_assert_uint_eq(cfg.read_timeout_ms, 250);
    ck_assert_uint_eq(cfg.memory_limit, 1 * GB);
    ck_assert_uint_eq(cfg.block_size, 8 * KB);
    ck_assert_int_eq(cfg.overflow, OVERFLOW_DROP);
    ck_assert_uint_eq(cfg.shutdown_timeout_ms, 60000);
    ck_assert_uint_eq(cfg.stats_interval_ms, 15000);
    ck_assert_uint_eq(cfg.reconnect_min_ms, 50);
    ck_assert_uint_eq(cfg.reconnect_max_ms, 3600000);
    ck_assert_int_eq(cfg.max_tags, 12);
    ck_assert_str_eq(cfg.allow_specialchars, "!@");
    ck_assert_str_eq(cfg.log_level, "debug");
    ck_assert_str_eq(cfg.log_file, "/var/log/tsrelay.log");
    ck_assert_uint_eq(cfg.log_buffer_bytes, 1 * MB);
    ck_assert_int_eq(cfg.nbackends, 1);
    ck_assert_str_eq(cfg.backends[0].name, "a.b-c_d");
    ck_assert_str_eq(cfg.backends[0].addr.host, "tsd.example.com");
    ck_assert_str_eq(cfg.backends[0].addr.port, "14242");
    ck_assert_int_eq(cfg.backends[0].conns, 64);
    ck_assert_uint_eq(cfg.backends[0].write_timeout_ms, 500);
    ck_assert_uint_eq(cfg.backends[0].connect_timeout_ms, 2000);
    ck_assert_int_eq(cfg.backends[0].ack, ACK_NONE);
    ck_assert(cfg.redis.enabled);
    ck_assert_str_eq(cfg.redis.addr.host, "::1");
    ck_assert_str_eq(cfg.redis.addr.port, "6380");
    ck_assert_uint_eq(cfg.redis.spool_high, 64 * KB);
    ck_assert_uint_eq(cfg.redis.spool_low, 0);
    ck_assert_uint_eq(cfg.redis.spool_max_bytes, 1 * MB);
    ck_assert_uint_eq(cfg.redis.flush_interval_ms, 1);
    ck_assert_uint_eq(cfg.redis.connect_timeout_ms, 10);
    ck_assert_int_eq(cfg.redis.compress_level, 0);
}
END_TEST

/* The read pass-through: proxy names backends (failover order, each once,
 * of this file); http-address defaults to address; the timeouts and the
 * header bound; errors name the line. */
START_TEST(test_proxy_keys)
{
    ASSERT_OK(BACKEND_OK);
    ck_assert_int_eq(cfg.nproxy, 0); /* off */
    ck_assert_int_eq(cfg.backends[0].http_conns, 4);
    ck_assert_str_eq(cfg.backends[0].http_addr.host, "127.0.0.1");
    ck_assert_str_eq(cfg.backends[0].http_addr.port, "4243");
    ck_assert_uint_eq(cfg.proxy_connect_timeout_ms, 5000);
    ck_assert_uint_eq(cfg.proxy_timeout_ms, 120000);
    ck_assert_uint_eq(cfg.proxy_queue_timeout_ms, 10000);
    ck_assert_uint_eq(cfg.max_http_header_bytes, 8 * KB);
    ASSERT_OK("[relay]\nproxy = b2, b1\nproxy-connect-timeout = 250ms\nproxy-timeout = 30s\n"
              "proxy-queue-timeout = 2s\nmax-http-header-bytes = 16K\n"
              "[backend b1]\naddress = 127.0.0.1:4243\nhttp-address = 127.0.0.1:8080\n"
              "http-conns = 8\n[backend b2]\naddress = tsd2:4242\n");
    ck_assert_int_eq(cfg.nproxy, 2);
    ck_assert_str_eq(cfg.proxy[0], "b2");
    ck_assert_str_eq(cfg.proxy[1], "b1");
    ck_assert_str_eq(cfg.backends[0].http_addr.port, "8080");
    ck_assert_str_eq(cfg.backends[0].addr.port, "4243"); /* the telnet address stays */
    ck_assert_int_eq(cfg.backends[0].http_conns, 8);
    ck_assert_str_eq(cfg.backends[1].http_addr.host, "tsd2");
    ck_assert_uint_eq(cfg.proxy_connect_timeout_ms, 250);
    ck_assert_uint_eq(cfg.proxy_timeout_ms, 30000);
    ck_assert_uint_eq(cfg.proxy_queue_timeout_ms, 2000);
    ck_assert_uint_eq(cfg.max_http_header_bytes, 16 * KB);
    ASSERT_OK("[relay]\nproxy = b1\n" BACKEND_OK);
    ck_assert_int_eq(cfg.nproxy, 1);
    ASSERT_ERR_PREFIX("[relay]\nproxy = b1, nope\n" BACKEND_OK,
                      "NAME:2: [relay] proxy: 'nope' is not a [backend NAME] of this file");
    ASSERT_ERR_PREFIX("[relay]\nproxy = b1 b1\n" BACKEND_OK,
                      "NAME:2: [relay] proxy: backend 'b1' is named twice");
    ASSERT_ERR_PREFIX("[relay]\nproxy = b1,,b1\n" BACKEND_OK, "NAME:2: [relay] proxy: ");
    ASSERT_ERR_PREFIX(BACKEND_OK "http-address = nope\n",
                      "NAME:3: [backend b1] http-address: 'nope' is not HOST:PORT");
    ASSERT_ERR_PREFIX(BACKEND_OK "http-conns = 0\n", "NAME:3: [backend b1] http-conns: ");
    ASSERT_ERR_PREFIX("[relay]\nblock-size = 8K\nmax-line-bytes = 2K\nmax-reply-bytes = 2K\n"
                      "max-http-header-bytes = 8K\n" BACKEND_OK,
                      "NAME:5: [relay] max-http-header-bytes: 8192 does not fit half a block");
    ASSERT_OK("[relay]\nblock-size = 4K\nmax-line-bytes = 2K\nmax-reply-bytes = 2K\n" BACKEND_OK);
    ck_assert_uint_eq(cfg.max_http_header_bytes, 2 * KB); /* the default follows the block */
}
END_TEST

START_TEST(test_multiple_backends_in_order)
{
    ASSERT_OK("[backend one]\naddress = 10.0.0.1:4242\n"
              "[backend two]\naddress = 10.0.0.2:4242\nconns = 3\n"
              "[backend three]\naddress = 10.0.0.3:4242\n");
    ck_assert_int_eq(cfg.nbackends, 3);
    ck_assert_str_eq(cfg.backends[0].name, "one");
    ck_assert_str_eq(cfg.backends[1].name, "two");
    ck_assert_str_eq(cfg.backends[2].name, "three");
    ck_assert_str_eq(cfg.backends[2].addr.host, "10.0.0.3");
    ck_assert_int_eq(cfg.backends[0].conns, 2);
    ck_assert_int_eq(cfg.backends[1].conns, 3);
    ck_assert_int_eq(cfg.backends[2].conns, 2);
}
END_TEST

/* ---- units ------------------------------------------------------------ */

START_TEST(test_sizes)
{
    static const struct { const char *s; uint64_t v; } good[] = {
        { "0", 0 },           { "1", 1 },            { "4096", 4096 },
        { "1K", KB },         { "1k", KB },          { "64K", 64 * KB },
        { "64KB", 64 * KB },  { "64KiB", 64 * KB },  { "64kib", 64 * KB },
        { "64 K", 64 * KB },  { " 8M ", 8 * MB },    { "8MB", 8 * MB },
        { "8MiB", 8 * MB },   { "4G", 4 * GB },      { "4GiB", 4 * GB },
        { "4GB", 4 * GB },    { "100B", 100 },       { "1T", 1024 * GB },
    };
    static const char *const bad[] = {
        "", " ", "K", "-1", "+1", "1.5M", "1,5M", "64X", "64KX", "64KiBB", "64 K B",
        "64K 1", "abc", "0x10", "99999999999999999999", "17179869184G",
    };
    for (size_t i = 0; i < TS_ARRAY_LEN(good); i++) {
        uint64_t v = 12345;
        ck_assert_msg(config_parse_size(good[i].s, &v) == TS_OK, "'%s' rejected", good[i].s);
        ck_assert_msg(v == good[i].v, "'%s' = %llu, expected %llu", good[i].s,
                      (unsigned long long)v, (unsigned long long)good[i].v);
    }
    for (size_t i = 0; i < TS_ARRAY_LEN(bad); i++) {
        uint64_t v = 12345;
        ck_assert_msg(config_parse_size(bad[i], &v) == TS_ERROR, "'%s' accepted as %llu",
                      bad[i], (unsigned long long)v);
        ck_assert_msg(v == 12345, "'%s' wrote the output on error", bad[i]);
    }
}
END_TEST

START_TEST(test_durations)
{
    static const struct { const char *s; uint64_t v; } good[] = {
        { "0", 0 },          { "30", 30000 },     { "1s", 1000 },      { "10s", 10000 },
        { "10S", 10000 },    { "100ms", 100 },    { "100MS", 100 },    { "0ms", 0 },
        { "5m", 300000 },    { "5min", 300000 },  { "2h", 7200000 },   { " 7 s", 7000 },
        { "1 ms", 1 },
    };
    static const char *const bad[] = {
        "", " ", "s", "ms", "-1", "1.5s", "10x", "10 sec", "10us", "1d", "abc",
        "10s5", "99999999999999999999", "18446744073709551615h",
    };
    for (size_t i = 0; i < TS_ARRAY_LEN(good); i++) {
        uint64_t v = 12345;
        ck_assert_msg(config_parse_duration_ms(good[i].s, &v) == TS_OK, "'%s' rejected",
                      good[i].s);
        ck_assert_msg(v == good[i].v, "'%s' = %llu ms, expected %llu", good[i].s,
                      (unsigned long long)v, (unsigned long long)good[i].v);
    }
    for (size_t i = 0; i < TS_ARRAY_LEN(bad); i++) {
        uint64_t v = 12345;
        ck_assert_msg(config_parse_duration_ms(bad[i], &v) == TS_ERROR,
                      "'%s' accepted as %llu ms", bad[i], (unsigned long long)v);
    }
}
END_TEST

START_TEST(test_units_in_file)
{
    ASSERT_OK("[relay]\nmemory-limit = 256MiB\nmax-frame-bytes = 65536\n"
              "idle-timeout = 90\nread-timeout = 1500ms\n" BACKEND_OK);
    ck_assert_uint_eq(cfg.memory_limit, 256 * MB);
    ck_assert_uint_eq(cfg.max_frame_bytes, 65536);
    ck_assert_uint_eq(cfg.idle_timeout_ms, 90000);
    ck_assert_uint_eq(cfg.read_timeout_ms, 1500);

    ASSERT_ERR_PREFIX("[relay]\nmemory-limit = 12 apples\n" BACKEND_OK,
                      "NAME:2: [relay] memory-limit: '12 apples' is not a size");
    ASSERT_ERR_PREFIX("[relay]\n\nidle-timeout = 1.5s\n" BACKEND_OK,
                      "NAME:3: [relay] idle-timeout: '1.5s' is not a duration");
    ASSERT_ERR_PREFIX("[relay]\nmax-clients = 10k\n" BACKEND_OK,
                      "NAME:2: [relay] max-clients: '10k' is not a number");
    ASSERT_ERR_PREFIX("[relay]\nmax-clients =\n" BACKEND_OK,
                      "NAME:2: [relay] max-clients: '' is not a number");
}
END_TEST

/* ---- addresses and listeners ----------------------------------------- */

START_TEST(test_addresses)
{
    struct cfg_addr a;
    ck_assert_int_eq(config_parse_addr("127.0.0.1:4242", &a), TS_OK);
    ck_assert_str_eq(a.host, "127.0.0.1");
    ck_assert_str_eq(a.port, "4242");
    ck_assert_int_eq(config_parse_addr("tsd-1.example.com:1", &a), TS_OK);
    ck_assert_str_eq(a.host, "tsd-1.example.com");
    ck_assert_str_eq(a.port, "1");
    ck_assert_int_eq(config_parse_addr("[::1]:65535", &a), TS_OK);
    ck_assert_str_eq(a.host, "::1");
    ck_assert_str_eq(a.port, "65535");
    ck_assert_int_eq(config_parse_addr("[fe80::1%eth0]:80", &a), TS_OK);
    ck_assert_str_eq(a.host, "fe80::1%eth0");
    ck_assert_str_eq(a.port, "80");
    ck_assert_int_eq(config_parse_addr(":4242", &a), TS_OK);
    ck_assert_str_eq(a.host, "0.0.0.0");
    ck_assert_str_eq(a.port, "4242");
    ck_assert_int_eq(config_parse_addr("  10.1.2.3:99  ", &a), TS_OK);
    ck_assert_str_eq(a.host, "10.1.2.3");
    ck_assert_str_eq(a.port, "99");

    static const char *const bad[] = {
        "127.0.0.1",       "127.0.0.1:",     "127.0.0.1:0",    "127.0.0.1:65536",
        "127.0.0.1:abc",   "127.0.0.1:42a",  "127.0.0.1:-1",   "127.0.0.1:+80",
        "127.0.0.1:99999999999", "[::1]",    "[::1]4242",      "[::1]:",
        "[::1:4242",       ":",              ":0",             "",
    };
    for (size_t i = 0; i < TS_ARRAY_LEN(bad); i++) {
        memset(&a, 0, sizeof(a));
        ck_assert_msg(config_parse_addr(bad[i], &a) == TS_ERROR, "'%s' accepted (%s / %s)",
                      bad[i], a.host, a.port);
    }
    /* a host name longer than the buffer is refused, not truncated */
    char longhost[CFG_HOST_MAX + 16];
    memset(longhost, 'h', CFG_HOST_MAX + 4);
    snprintf(longhost + CFG_HOST_MAX + 4, 12, ":4242");
    ck_assert_int_eq(config_parse_addr(longhost, &a), TS_ERROR);
}
END_TEST

START_TEST(test_listen_keys)
{
    ASSERT_OK("[relay]\n"
              "listen = 0.0.0.0:4242 auto\n"
              "listen = :4243 telnet\n"
              "listen = [::1]:4244   framed\n"
              "listen = 127.0.0.1:8080 HTTP\n"
              "listen = 127.0.0.1:4245\n" BACKEND_OK);
    ck_assert_int_eq(cfg.nlisten, 5);
    ck_assert_str_eq(cfg.listen[0].addr.host, "0.0.0.0");
    ck_assert_str_eq(cfg.listen[0].addr.port, "4242");
    ck_assert_int_eq(cfg.listen[0].proto, PROTO_AUTO);
    ck_assert_int_eq(cfg.listen[0].line, 2);
    ck_assert_str_eq(cfg.listen[1].addr.host, "0.0.0.0");
    ck_assert_str_eq(cfg.listen[1].addr.port, "4243");
    ck_assert_int_eq(cfg.listen[1].proto, PROTO_TELNET);
    ck_assert_int_eq(cfg.listen[1].line, 3);
    ck_assert_str_eq(cfg.listen[2].addr.host, "::1");
    ck_assert_str_eq(cfg.listen[2].addr.port, "4244");
    ck_assert_int_eq(cfg.listen[2].proto, PROTO_FRAMED);
    ck_assert_str_eq(cfg.listen[3].addr.port, "8080");
    ck_assert_int_eq(cfg.listen[3].proto, PROTO_HTTP);
    ck_assert_str_eq(cfg.listen[4].addr.port, "4245");
    ck_assert_int_eq(cfg.listen[4].proto, PROTO_AUTO);
    ck_assert_int_eq(cfg.listen[4].line, 6);
    ck_assert_str_eq(config_proto_name(PROTO_FRAMED), "framed");
    ck_assert_str_eq(config_routing_name(ROUTE_ROUNDROBIN), "roundrobin");

    /* a single listen key replaces the default listener */
    ASSERT_OK("[relay]\nlisten = 127.0.0.1:5000 telnet\n" BACKEND_OK);
    ck_assert_int_eq(cfg.nlisten, 1);
    ck_assert_str_eq(cfg.listen[0].addr.host, "127.0.0.1");
    ck_assert_str_eq(cfg.listen[0].addr.port, "5000");
    ck_assert_int_eq(cfg.listen[0].proto, PROTO_TELNET);
}
END_TEST

START_TEST(test_listen_errors)
{
    ASSERT_ERR_PREFIX("[relay]\nlisten = 0.0.0.0:4242 auto\nlisten = 0.0.0.0:4243 gopher\n"
                      BACKEND_OK,
                      "NAME:3: [relay] listen: unknown protocol 'gopher'");
    ASSERT_ERR_PREFIX("[relay]\nlisten = 0.0.0.0:0 telnet\n" BACKEND_OK,
                      "NAME:2: [relay] listen: '0.0.0.0:0' is not HOST:PORT");
    ASSERT_ERR_PREFIX("[relay]\nlisten = 0.0.0.0:65536\n" BACKEND_OK,
                      "NAME:2: [relay] listen: ");
    ASSERT_ERR_PREFIX("[relay]\nlisten = 0.0.0.0:abc\n" BACKEND_OK,
                      "NAME:2: [relay] listen: ");
    ASSERT_ERR_PREFIX("[relay]\nlisten = 4242\n" BACKEND_OK, "NAME:2: [relay] listen: ");

    char text[4096];
    size_t n = (size_t)snprintf(text, sizeof(text), "[relay]\n");
    for (int i = 0; i < CFG_MAX_LISTEN + 1; i++)
        n += (size_t)snprintf(text + n, sizeof(text) - n, "listen = :%d\n", 5000 + i);
    snprintf(text + n, sizeof(text) - n, "%s", BACKEND_OK);
    ASSERT_ERR_PREFIX(text, "NAME:18: [relay] listen: more than 16 listeners");
}
END_TEST

START_TEST(test_backend_address_errors)
{
    ASSERT_ERR_PREFIX("[backend b1]\naddress = 127.0.0.1:0\n",
                      "NAME:2: [backend b1] address: '127.0.0.1:0' is not HOST:PORT");
    ASSERT_ERR_PREFIX("[backend b1]\naddress = 127.0.0.1:65536\n",
                      "NAME:2: [backend b1] address: '127.0.0.1:65536' is not HOST:PORT");
    ASSERT_ERR_PREFIX("[backend b1]\naddress = host:abc\n",
                      "NAME:2: [backend b1] address: 'host:abc' is not HOST:PORT");
    ASSERT_ERR_PREFIX(BACKEND_OK "[redis]\naddress = localhost\n",
                      "NAME:4: [redis] address: 'localhost' is not HOST:PORT");
}
END_TEST

/* ---- errors: file, line, key ------------------------------------------ */

START_TEST(test_unknown_key_line)
{
    const char *text = "; comment line 1\n"
                       "# comment line 2\n"
                       "\n"
                       "[relay]\n"
                       "routing = hash\n"
                       "   \n"
                       "bogus-key = 1\n" BACKEND_OK;
    ASSERT_ERR_PREFIX(text, "NAME:7: [relay] bogus-key: unknown key");
    ck_assert_str_eq(err, "NAME:7: [relay] bogus-key: unknown key");

    /* CRLF line endings count lines the same way */
    ASSERT_ERR_PREFIX("[relay]\r\nrouting = hash\r\nbogus = 2\r\n" BACKEND_OK,
                      "NAME:3: [relay] bogus: unknown key");
    /* keys of one section are not valid in another */
    ASSERT_ERR_PREFIX(BACKEND_OK "routing = hash\n",
                      "NAME:3: [backend b1] routing: unknown key");
    ASSERT_ERR_PREFIX("[relay]\naddress = 127.0.0.1:1\n" BACKEND_OK,
                      "NAME:2: [relay] address: unknown key");
    ASSERT_ERR_PREFIX(BACKEND_OK "[redis]\nconns = 2\n",
                      "NAME:4: [redis] conns: unknown key");
}
END_TEST

/* The same error through config_load on a real file names the path. */
START_TEST(test_unknown_key_in_file)
{
    char dir[] = "/tmp/tsrelay-config-XXXXXX";
    ck_assert_ptr_nonnull(mkdtemp(dir));
    char path[256];
    snprintf(path, sizeof(path), "%s/bad.conf", dir);
    FILE *f = fopen(path, "w");
    ck_assert_ptr_nonnull(f);
    fputs("; line 1\n[relay]\nrouting = hash\n\n; line 5\nmax-clients = 10\n"
          "bogus-key = yes\n" BACKEND_OK, f);
    fclose(f);

    int rc = config_load(&cfg, path, err, sizeof(err));
    char expect[512];
    snprintf(expect, sizeof(expect), "%s:7: [relay] bogus-key: unknown key", path);
    unlink(path);
    rmdir(dir);
    ck_assert_int_eq(rc, TS_ERROR);
    ck_assert_str_eq(err, expect);
}
END_TEST

/* ack = version is not implemented: refused, with the line of the key */
START_TEST(test_ack_version_and_backend_policies)
{
    ASSERT_OK("[backend b1]\naddress = 127.0.0.1:4243\nack = version\n");
    ck_assert_int_eq(cfg.backends[0].ack, ACK_VERSION);
    ck_assert_uint_eq(cfg.backends[0].ack_timeout_ms, 10000);
    ck_assert_uint_eq(cfg.backends[0].ack_window, 4u << 20);
    ck_assert_uint_eq(cfg.backends[0].max_rate, 0);
    ck_assert_int_eq(cfg.backends[0].overflow, -1); /* the relay's */
    ASSERT_OK("[relay]\noverflow = block\ninstance = relay-a\nframe-acks = on\n"
              "[backend b1]\naddress = 127.0.0.1:4243\nack = version\nack-timeout = 3s\n"
              "ack-window = 1M\nmax-rate = 100000\noverflow = drop\nmax-queue-bytes = 8M\n");
    ck_assert_str_eq(cfg.instance, "relay-a");
    ck_assert_int_eq(cfg.frame_acks, 1);
    ck_assert_uint_eq(cfg.backends[0].ack_timeout_ms, 3000);
    ck_assert_uint_eq(cfg.backends[0].ack_window, 1u << 20);
    ck_assert_uint_eq(cfg.backends[0].max_rate, 100000);
    ck_assert_int_eq(cfg.backends[0].overflow, OVERFLOW_DROP);
    ck_assert_uint_eq(cfg.backends[0].max_queue_bytes, 8u << 20);
    ASSERT_ERR_PREFIX("[backend b1]\naddress = 127.0.0.1:4243\nack-timeout = 10ms\n",
                      "NAME:3: [backend b1] ack-timeout: 10ms is out of range");
}
END_TEST

START_TEST(test_unknown_section)
{
    ASSERT_ERR_PREFIX(BACKEND_OK "\n[rediss]\naddress = 127.0.0.1:6379\n",
                      "NAME:4: [rediss]: unknown section");
    ASSERT_ERR_PREFIX("[backend]\naddress = 127.0.0.1:1\n", "NAME:1: [backend]: unknown section");
    ASSERT_ERR_PREFIX("[backendx a]\naddress = 127.0.0.1:1\n",
                      "NAME:1: [backendx a]: unknown section");
}
END_TEST

START_TEST(test_bad_backend_name)
{
    ASSERT_ERR_PREFIX("[backend a/b]\naddress = 127.0.0.1:1\n",
                      "NAME:1: [backend a/b]: backend name 'a/b' must be");
}
END_TEST

START_TEST(test_duplicate_backend)
{
    ASSERT_ERR_PREFIX("[backend a]\naddress = 127.0.0.1:1\n"
                      "[backend b]\naddress = 127.0.0.1:2\n"
                      "[backend a]\naddress = 127.0.0.1:3\n",
                      "NAME:5: [backend a]: backend 'a' is defined twice (first at line ");
}
END_TEST

/* Two sections with the same name back to back are still a duplicate. */
START_TEST(test_duplicate_backend_adjacent)
{
    int rc = load("[backend a]\naddress = 127.0.0.1:1\n"
                  "[backend a]\naddress = 127.0.0.1:3\n");
    ck_assert_msg(rc == TS_ERROR,
                  "adjacent duplicate [backend a] sections accepted (merged, address %s:%s)",
                  cfg.backends[0].addr.host, cfg.backends[0].addr.port);
    ck_assert_msg(strstr(err, "defined twice") != NULL, "error: %s", err);
}
END_TEST

START_TEST(test_backend_without_address)
{
    /* the error names the backend's section line (3), and the key */
    const char *text = "[relay]\n"
                       "routing = hash\n"
                       "[backend lonely]\n"
                       "conns = 4\n"
                       "ack = none\n"
                       "[backend ok]\n"
                       "address = 127.0.0.1:1\n";
    ASSERT_ERR_PREFIX(text, "NAME:");
    ck_assert_msg(strstr(err, "[backend lonely] address: missing") != NULL, "error: %s", err);
    ck_assert_str_eq(err, "NAME:3: [backend lonely] address: missing (e.g. address = "
                          "127.0.0.1:4243)");
}
END_TEST

/* A backend section with no keys at all is still a backend without an
 * address, not silently ignored. */
START_TEST(test_backend_empty_section)
{
    int rc = load("[backend empty]\n[backend ok]\naddress = 127.0.0.1:1\n");
    ck_assert_msg(rc == TS_ERROR, "empty [backend empty] ignored: %d backend(s) configured",
                  cfg.nbackends);
    ck_assert_msg(strncmp(err, "NAME:1: [backend empty] address: missing", 40) == 0,
                  "error: %s", err);
}
END_TEST

START_TEST(test_no_backends)
{
    ASSERT_ERR_PREFIX("[relay]\nrouting = hash\n", "NAME:");
    ck_assert_msg(strstr(err, "no [backend NAME] section") != NULL, "error: %s", err);
    ASSERT_ERR_PREFIX("", "NAME:");
    ck_assert_msg(strstr(err, "no [backend NAME] section") != NULL, "error: %s", err);
}
END_TEST

START_TEST(test_out_of_range)
{
    ASSERT_ERR_PREFIX("[relay]\nmax-clients = 0\n" BACKEND_OK,
                      "NAME:2: [relay] max-clients: 0 is out of range [1, 1000000]");
    ASSERT_ERR_PREFIX("[relay]\nmax-clients = 1000001\n" BACKEND_OK,
                      "NAME:2: [relay] max-clients: 1000001 is out of range");
    ASSERT_ERR_PREFIX("[relay]\nmax-tags = 65\n" BACKEND_OK,
                      "NAME:2: [relay] max-tags: 65 is out of range [1, 64]");
    ASSERT_ERR_PREFIX("[relay]\nmemory-limit = 1000K\n" BACKEND_OK,
                      "NAME:2: [relay] memory-limit: 1000K is out of range");
    ASSERT_ERR_PREFIX("[relay]\nmax-frame-bytes = 16M\n" BACKEND_OK,
                      "NAME:2: [relay] max-frame-bytes: 16M is out of range");
    ASSERT_ERR_PREFIX("[relay]\nreconnect-min = 0\n" BACKEND_OK,
                      "NAME:2: [relay] reconnect-min: 0 is out of range [1, 3600000] ms");
    ASSERT_ERR_PREFIX("[relay]\nshutdown-timeout = 2h\n" BACKEND_OK,
                      "NAME:2: [relay] shutdown-timeout: 2h is out of range");
    ASSERT_ERR_PREFIX("[backend b1]\naddress = 127.0.0.1:1\nconns = 0\n",
                      "NAME:3: [backend b1] conns: 0 is out of range [1, 64]");
    ASSERT_ERR_PREFIX("[backend b1]\naddress = 127.0.0.1:1\nconns = 65\n",
                      "NAME:3: [backend b1] conns: 65 is out of range [1, 64]");
    ASSERT_ERR_PREFIX("[backend b1]\naddress = 127.0.0.1:1\nwrite-timeout = 5ms\n",
                      "NAME:3: [backend b1] write-timeout: 5ms is out of range");
    ASSERT_ERR_PREFIX(BACKEND_OK "[redis]\ncompress-level = 20\n",
                      "NAME:4: [redis] compress-level: 20 is out of range [0, 19]");
    ASSERT_ERR_PREFIX(BACKEND_OK "[redis]\nspool-high = 1K\n",
                      "NAME:4: [redis] spool-high: 1K is out of range");
    /* bounds are inclusive */
    ASSERT_OK("[relay]\nmax-clients = 1000000\nmax-tags = 1\n" BACKEND_OK);
    ck_assert_uint_eq(cfg.max_clients, 1000000);
    ck_assert_int_eq(cfg.max_tags, 1);
}
END_TEST

START_TEST(test_history_keys)
{
    ASSERT_OK("[relay]\nhistory = 2s\nhistory-interval = 10ms\n" BACKEND_OK);
    ck_assert_uint_eq(cfg.history_ms, 2000);
    ck_assert_uint_eq(cfg.history_interval_ms, 10);
    ASSERT_OK("[relay]\nhistory = 0\nhistory-interval = 1m\n" BACKEND_OK); /* off */
    ck_assert_uint_eq(cfg.history_ms, 0);
    ck_assert_uint_eq(cfg.history_interval_ms, 60000);
    ASSERT_OK("[relay]\nhistory = 24h\n" BACKEND_OK); /* 86400 samples, ~10 MB */
    ASSERT_ERR_PREFIX("[relay]\nhistory-interval = 9ms\n" BACKEND_OK,
                      "NAME:2: [relay] history-interval: 9ms is out of range [10, 60000] ms");
    ASSERT_ERR_PREFIX("[relay]\nhistory-interval = 61s\n" BACKEND_OK,
                      "NAME:2: [relay] history-interval: 61s is out of range");
    ASSERT_ERR_PREFIX("[relay]\nhistory = 25h\n" BACKEND_OK,
                      "NAME:2: [relay] history: 25h is out of range [0, 86400000] ms");
    /* shorter than one sample, or more samples than a ring holds */
    ASSERT_ERR_PREFIX("[relay]\nhistory = 500ms\n" BACKEND_OK,
                      "NAME:2: [relay] history: keeps 0 samples of history-interval (1000 ms)");
    ASSERT_ERR_PREFIX("[relay]\nhistory = 24h\nhistory-interval = 100ms\n" BACKEND_OK,
                      "NAME:2: [relay] history: keeps 864000 samples");
    /* a ring over a quarter of memory-limit */
    ASSERT_ERR_PREFIX("[relay]\nmemory-limit = 4M\nhistory = 24h\n" BACKEND_OK,
                      "NAME:3: [relay] history: its ring needs 11750400 bytes for 1 backends");
}
END_TEST

/* issue 12: names resolved on the loop, Redis found through Sentinels */
START_TEST(test_names_and_sentinels)
{
    ASSERT_OK(BACKEND_OK);
    ck_assert_uint_eq(cfg.resolve_timeout_ms, 5000);
    ck_assert_str_eq(cfg.dns_servers, "");
    ck_assert_int_eq(cfg.redis.nsentinels, 0);
    ASSERT_OK("[relay]\nresolve-timeout = 250ms\ndns-servers = 127.0.0.1:5353, [::1]:53\n"
              BACKEND_OK);
    ck_assert_uint_eq(cfg.resolve_timeout_ms, 250);
    ck_assert_str_eq(cfg.dns_servers, "127.0.0.1:5353, [::1]:53");
    ASSERT_ERR_PREFIX("[relay]\nresolve-timeout = 99ms\n" BACKEND_OK,
                      "NAME:2: [relay] resolve-timeout: 99ms is out of range [100, 60000] ms");
    ASSERT_ERR_PREFIX("[relay]\ndns-servers = ns1.example\n" BACKEND_OK,
                      "NAME:2: [relay] dns-servers: 'ns1.example' is not an IP address");
    ASSERT_ERR_PREFIX("[relay]\ndns-servers = 127.0.0.1:0\n" BACKEND_OK,
                      "NAME:2: [relay] dns-servers: '127.0.0.1:0': the port");

    ASSERT_OK(BACKEND_OK "[redis]\nsentinels = s1.example:26379, 127.0.0.1:26380,[::1]:26381\n"
              "master-name = mymaster\n");
    ck_assert_int_eq(cfg.redis.nsentinels, 3);
    ck_assert_str_eq(cfg.redis.sentinels[0].host, "s1.example");
    ck_assert_str_eq(cfg.redis.sentinels[0].port, "26379");
    ck_assert_str_eq(cfg.redis.sentinels[1].host, "127.0.0.1");
    ck_assert_str_eq(cfg.redis.sentinels[2].host, "::1");
    ck_assert_str_eq(cfg.redis.sentinels[2].port, "26381");
    ck_assert_str_eq(cfg.redis.master_name, "mymaster");
    /* both or neither */
    ASSERT_ERR_PREFIX(BACKEND_OK "[redis]\nsentinels = 127.0.0.1:26379\n",
                      "NAME:4: [redis] master-name: sentinels and master-name go together");
    ASSERT_ERR_PREFIX(BACKEND_OK "[redis]\nmaster-name = mymaster\n",
                      "NAME:4: [redis] sentinels: sentinels and master-name go together");
    ASSERT_ERR_PREFIX(BACKEND_OK "[redis]\nsentinels = 127.0.0.1\nmaster-name = m\n",
                      "NAME:4: [redis] sentinels: '127.0.0.1' is not HOST:PORT");
    ASSERT_ERR_PREFIX(BACKEND_OK "[redis]\nsentinels = a:1,,b:2\nmaster-name = m\n",
                      "NAME:4: [redis] sentinels: '' is not HOST:PORT");
    ASSERT_ERR_PREFIX(BACKEND_OK "[redis]\nsentinels = a:1\nmaster-name = my master\n",
                      "NAME:5: [redis] master-name: 'my master' must be of [A-Za-z0-9._-]");
    ASSERT_ERR_PREFIX(BACKEND_OK "[redis]\nsentinels = a:1,b:1,c:1,d:1,e:1,f:1,g:1,h:1,i:1\n"
                      "master-name = m\n",
                      "NAME:4: [redis] sentinels: more than 8 Sentinels");
}
END_TEST

START_TEST(test_bad_enums)
{
    ASSERT_ERR_PREFIX("[relay]\nrouting = random\n" BACKEND_OK,
                      "NAME:2: [relay] routing: 'random' is not one of: hash, roundrobin, "
                      "failover, all");
    ASSERT_ERR_PREFIX("[relay]\noverflow = spill\n" BACKEND_OK,
                      "NAME:2: [relay] overflow: 'spill' is not one of: block, drop");
    ASSERT_ERR_PREFIX("[relay]\nlog-level = trace\n" BACKEND_OK,
                      "NAME:2: [relay] log-level: 'trace' is not one of: error, warn, info, "
                      "debug");
    ASSERT_ERR_PREFIX("[backend b1]\naddress = 127.0.0.1:1\nack = tcp\n",
                      "NAME:3: [backend b1] ack: 'tcp' is not one of: none, version");
}
END_TEST

START_TEST(test_spool_watermarks)
{
    ASSERT_OK(BACKEND_OK "[redis]\nspool-high = 8M\nspool-low = 8191K\n");
    ck_assert_uint_eq(cfg.redis.spool_low, 8191 * KB);

    /* the error names the key and the line where spool-low is set */
    const char *eq = BACKEND_OK
        "[redis]\n"               /* 3 */
        "address = 127.0.0.1:6379\n"
        "spool-high = 8M\n"       /* 5 */
        "spool-low = 8M\n";       /* 6 */
    ASSERT_ERR_PREFIX(eq, "NAME:");
    ck_assert_msg(strstr(err, "[redis] spool-low: must be below spool-high") != NULL,
                  "error: %s", err);
    ck_assert_str_eq(err, "NAME:6: [redis] spool-low: must be below spool-high (8388608)");
}
END_TEST

START_TEST(test_spool_low_above_high)
{
    ASSERT_ERR_PREFIX(BACKEND_OK "[redis]\nspool-low = 32M\n", "NAME:");
    ck_assert_msg(strstr(err, "[redis] spool-low: must be below spool-high (16777216)") != NULL,
                  "error: %s", err);
}
END_TEST

START_TEST(test_max_line_fits_block)
{
    /* block-size less 256 is the largest line: 4K block -> 3840 */
    ASSERT_OK("[relay]\nblock-size = 4K\nmax-line-bytes = 3840\nmax-reply-bytes = 2K\n"
              "memory-limit = 4M\n" BACKEND_OK);
    ck_assert_uint_eq(cfg.max_line_bytes, 3840);

    const char *text = "[relay]\n"
                       "block-size = 4K\n"
                       "max-line-bytes = 3841\n"  /* 3 */
                       "max-reply-bytes = 2K\n"
                       "\n" BACKEND_OK;
    ASSERT_ERR_PREFIX(text, "NAME:");
    ck_assert_msg(strstr(err, "[relay] max-line-bytes: 3841 does not fit a block") != NULL,
                  "error: %s", err);
    ck_assert_str_eq(err, "NAME:3: [relay] max-line-bytes: 3841 does not fit a block "
                          "(block-size 4096, less 256)");
}
END_TEST

/* The budget's parts: defaults follow memory-limit; the largest units
 * must fit the input share (a unit that could never be admitted would
 * wait forever); the defaults of the unit bounds shrink to fit. */
START_TEST(test_budget_parts)
{
    ASSERT_OK("[relay]\nmemory-limit = 16M\n" BACKEND_OK);
    ck_assert_uint_eq(cfg.control_reserve, 1u << 20);             /* limit / 16 */
    ck_assert_uint_eq(cfg.limits.series_memory, 1u << 20);       /* limit / 16 */
    /* less the reserve, an eighth for the queues and series-memory */
    ck_assert_uint_eq(cfg.input_memory, 16u * 1048576 - 1048576 - 2097152 - 1048576);
    ck_assert_uint_eq(cfg.control_slots, 8);
    ck_assert_uint_eq(cfg.max_frame_bytes, 1u << 20);             /* fits: kept */
    /* 8M would leave no room for a second body: half the share */
    ck_assert_uint_eq(cfg.max_http_body_bytes, (12u * 1048576 - 65536) / 2);
    /* a small budget: the reserve has a floor, the unit bounds shrink */
    ASSERT_OK("[relay]\nmemory-limit = 1M\n" BACKEND_OK);
    ck_assert_uint_eq(cfg.control_reserve, 256u << 10);
    ck_assert_uint_eq(cfg.limits.series_memory, 0);               /* under 256K: no guard */
    ck_assert_uint_eq(cfg.input_memory, 256u << 10);             /* 1M - 256K - 512K */
    ck_assert_uint_eq(cfg.max_frame_bytes, (256u << 10) / 2 - 32768 - 4);
    ck_assert_uint_eq(cfg.max_http_body_bytes, (256u << 10) / 2 - 32768);
    /* set too large for the input share: refused, naming the key */
    ASSERT_ERR_PREFIX("[relay]\nmemory-limit = 4M\nmax-frame-bytes = 4M\n" BACKEND_OK,
                      "NAME:3: [relay] max-frame-bytes: 4194304 does not fit input-memory");
    ASSERT_ERR_PREFIX("[relay]\nmemory-limit = 4M\nmax-http-body-bytes = 8M\n" BACKEND_OK,
                      "NAME:3: [relay] max-http-body-bytes: 8388608 does not fit input-memory");
    ASSERT_ERR_PREFIX("[relay]\nmemory-limit = 16M\ninput-memory = 15M\n" BACKEND_OK,
                      "NAME:3: [relay] input-memory: must be between");
    /* the guard's default share is charged too, and the error says so */
    ASSERT_ERR_PREFIX("[relay]\nmemory-limit = 6000K\ninput-memory = 4668K\n" BACKEND_OK,
                      "NAME:3: [relay] input-memory: must be between");
    ck_assert_msg(strstr(err, "series-memory (384000 bytes; 4608000)") != NULL, "error: %s", err);
    ASSERT_ERR_PREFIX("[relay]\nmemory-limit = 16M\ncontrol-reserve = 8M\n" BACKEND_OK,
                      "NAME:3: [relay] control-reserve: must be between 64K");
    ASSERT_OK("[relay]\nmemory-limit = 16M\ninput-memory = 4M\ncontrol-reserve = 512K\n"
              "control-slots = 0\n" BACKEND_OK);
    ck_assert_uint_eq(cfg.input_memory, 4u << 20);
    ck_assert_uint_eq(cfg.control_reserve, 512u << 10);
    ck_assert_uint_eq(cfg.control_slots, 0);
    ck_assert_uint_eq(cfg.max_http_body_bytes, ((4u << 20) - 65536) / 2);
}
END_TEST

/* The protocol = http backends' bodies and buffers must fit the budget
 * beside 4 blocks of input: refused by the check, not when they start. */
START_TEST(test_http_backends_fit)
{
#define HTTP_BACKEND(n) "[backend h" #n "]\naddress = 127.0.0.1:4242\nprotocol = http\n"
    /* 1M: 768K less 4 blocks; one backend holds 2 x 2 x (64K + 50 lines) + 4 x 64K */
    ASSERT_ERR_PREFIX("[relay]\nmemory-limit = 1M\n" HTTP_BACKEND(1),
                      "NAME:2: [relay] memory-limit: the protocol = http backends hold "
                      "529088 bytes");
    ASSERT_OK("[relay]\nmemory-limit = 2M\n" HTTP_BACKEND(1));
    ASSERT_OK("[relay]\nmemory-limit = 1M\n" BACKEND_OK); /* telnet: nothing held */
    /* 16M (14M less the reserve and the guard): a backend of 8 connections
     * with 4 requests in flight holds 8 x 8 x (64K + 50 lines) + 4 blocks,
     * about 4.3M: three fit, four do not */
    ASSERT_OK("[relay]\nmemory-limit = 16M\n"
              HTTP_BACKEND(1) "conns = 8\nhttp-pipeline = 4\n"
              HTTP_BACKEND(2) "conns = 8\nhttp-pipeline = 2\n");
    ASSERT_ERR_PREFIX("[relay]\nmemory-limit = 16M\n"
                      HTTP_BACKEND(1) "conns = 8\nhttp-pipeline = 4\n"
                      HTTP_BACKEND(2) "conns = 8\nhttp-pipeline = 4\n"
                      HTTP_BACKEND(3) "conns = 8\nhttp-pipeline = 4\n"
                      HTTP_BACKEND(4) "conns = 8\nhttp-pipeline = 4\n",
                      "NAME:2: [relay] memory-limit: the protocol = http backends hold");
#undef HTTP_BACKEND
}
END_TEST

START_TEST(test_block_size_power_of_two)
{
    ASSERT_ERR_PREFIX("[relay]\nblock-size = 65000\n" BACKEND_OK, "NAME:");
    ck_assert_msg(strstr(err, "[relay] block-size: must be a power of two") != NULL,
                  "error: %s", err);
    ASSERT_ERR_PREFIX("[relay]\nblock-size = 64K\nmemory-limit = 512K\n" BACKEND_OK,
                      "NAME:3: [relay] memory-limit: 512K is out of range");
    ASSERT_ERR_PREFIX("[relay]\nblock-size = 1M\nmemory-limit = 8M\n" BACKEND_OK, "NAME:");
    ck_assert_msg(strstr(err, "[relay] memory-limit: must hold at least 16 blocks") != NULL,
                  "error: %s", err);
    ASSERT_ERR_PREFIX("[relay]\nreconnect-min = 20s\nreconnect-max = 10s\n" BACKEND_OK, "NAME:");
    ck_assert_msg(strstr(err, "[relay] reconnect-min: is larger than reconnect-max") != NULL,
                  "error: %s", err);
}
END_TEST

/* ---- syntax ----------------------------------------------------------- */

START_TEST(test_inline_comments)
{
    ASSERT_OK("[relay]                 ; the relay itself\n"
              "routing = roundrobin    ; spread points\n"
              "max-clients = 77 ; few\n"
              "memory-limit = 64M\t; tab before\n"
              "# a whole-line hash comment\n"
              "; a whole-line semicolon comment\n"
              "[backend b1] ; the only one\n"
              "address = 127.0.0.1:4243 ; local TSD\n");
    ck_assert_int_eq(cfg.routing, ROUTE_ROUNDROBIN);
    ck_assert_uint_eq(cfg.max_clients, 77);
    ck_assert_uint_eq(cfg.memory_limit, 64 * MB);
    ck_assert_int_eq(cfg.nbackends, 1);
    ck_assert_str_eq(cfg.backends[0].name, "b1");
    ck_assert_str_eq(cfg.backends[0].addr.host, "127.0.0.1");
    ck_assert_str_eq(cfg.backends[0].addr.port, "4243");
}
END_TEST

/* Indented keys are keys: libinih (built with INI_ALLOW_MULTILINE) would
 * otherwise take an indented line as a continuation of the previous value,
 * silently setting log-file to "log-level = debug". */
START_TEST(test_indented_keys)
{
    int rc = load("[relay]\n"
                  "    log-file = /var/log/tsrelay.log\n"
                  "    log-level = debug\n"
                  "[backend b1]\n"
                  "    address = 127.0.0.1:4243\n"
                  "    conns = 3\n");
    ck_assert_msg(rc == TS_OK, "indented keys rejected: %s", err);
    ck_assert_str_eq(cfg.log_file, "/var/log/tsrelay.log");
    ck_assert_str_eq(cfg.log_level, "debug");
    ck_assert_int_eq(cfg.backends[0].conns, 3);
}
END_TEST

START_TEST(test_empty_values)
{
    ASSERT_OK("[relay]\nlog-file = /tmp/x.log\nlog-file =\nallow-specialchars =\n" BACKEND_OK);
    ck_assert_str_eq(cfg.log_file, "");
    ck_assert_str_eq(cfg.allow_specialchars, "");
    ASSERT_OK("[relay]\nlog-file =    ; stderr\n" BACKEND_OK);
    ck_assert_str_eq(cfg.log_file, "");
    ASSERT_ERR_PREFIX("[relay]\nallow-specialchars = a=b\n" BACKEND_OK, "NAME:");
    ck_assert_msg(strstr(err, "[relay] allow-specialchars: may not contain") != NULL,
                  "error: %s", err);
    ASSERT_ERR_PREFIX(BACKEND_OK "[redis]\nprefix =\n", "NAME:");
    ck_assert_msg(strstr(err, "[redis] prefix: must not be empty") != NULL, "error: %s", err);
}
END_TEST

START_TEST(test_syntax_error)
{
    ASSERT_ERR_PREFIX("[relay]\nrouting = hash\nthis line has no equals sign\n" BACKEND_OK,
                      "NAME:3: ");
    ck_assert_msg(strstr(err, "syntax error") != NULL, "error: %s", err);
    ASSERT_ERR_PREFIX("[relay\nrouting = hash\n" BACKEND_OK, "NAME:1: ");
}
END_TEST

/* Long lines: a comment or a value longer than libinih's default line
 * buffer (200 bytes) must not break parsing or truncate the value
 * (log-file holds up to 1023 bytes). */
START_TEST(test_long_comment_line)
{
    char text[2048];
    char c[400];
    memset(c, 'x', sizeof(c) - 1);
    c[sizeof(c) - 1] = '\0';
    snprintf(text, sizeof(text), "; %s\n[relay]\nrouting = all\n" BACKEND_OK, c);
    int rc = load(text);
    ck_assert_msg(rc == TS_OK, "a 400-byte comment line broke the parse: %s", err);
    ck_assert_int_eq(cfg.routing, ROUTE_ALL);
}
END_TEST

START_TEST(test_long_value)
{
    char text[2048];
    char path[400];
    path[0] = '/';
    memset(path + 1, 'p', sizeof(path) - 2);
    path[sizeof(path) - 1] = '\0';
    snprintf(text, sizeof(text), "[relay]\nlog-file = %s\n" BACKEND_OK, path);
    int rc = load(text);
    ck_assert_msg(rc == TS_OK, "a 399-byte log-file value rejected: %s", err);
    ck_assert_msg(strcmp(cfg.log_file, path) == 0, "log-file truncated to %zu bytes",
                  strlen(cfg.log_file));
}
END_TEST

START_TEST(test_error_truncated_safely)
{
    char small[24];
    memset(small, 'Z', sizeof(small));
    int rc = config_load_string(&cfg, "A-VERY-LONG-FILE-NAME-FOR-ERRORS",
                                "[relay]\nbogus = 1\n" BACKEND_OK, small, 16);
    ck_assert_int_eq(rc, TS_ERROR);
    ck_assert_uint_eq(strlen(small), 15);
    ck_assert_int_eq(small[16], 'Z');
}
END_TEST

/* ---- values as the reload log shows them --------------------------------- */

static const char *
key_value(const char *sect, const char *name, const struct cfg_backend *b)
{
    static char buf[CFG_HOST_MAX + 16];
    for (size_t i = 0; i < config_key_count(); i++)
        if (strcmp(config_key_section(i), sect) == 0 && strcmp(config_key_name(i), name) == 0) {
            ck_assert(config_key_format(i, &cfg, b, buf, sizeof(buf)));
            return buf;
        }
    ck_abort_msg("no key [%s] %s", sect, name);
    return NULL;
}

START_TEST(test_key_format_values)
{
    ASSERT_OK("[relay]\nidle-timeout = 300s\nread-timeout = 1500ms\nmemory-limit = 131072K\n"
              "max-line-bytes = 1500\nlog-level = DEBUG\nrouting = all\nhistory = 0\n"
              "[backend b1]\naddress = [::1]:4243\nmax-rate = 250\n"
              "[redis]\nspool-max-bytes = 2048G\nprefix = p\n");
    const struct cfg_backend *b = &cfg.backends[0];
    ck_assert_str_eq(key_value("relay", "idle-timeout", NULL), "5m");
    ck_assert_str_eq(key_value("relay", "read-timeout", NULL), "1500ms");
    ck_assert_str_eq(key_value("relay", "shutdown-timeout", NULL), "10s");
    ck_assert_str_eq(key_value("relay", "history", NULL), "0");
    ck_assert_str_eq(key_value("relay", "memory-limit", NULL), "128M");
    ck_assert_str_eq(key_value("relay", "max-line-bytes", NULL), "1500");
    ck_assert_str_eq(key_value("relay", "block-size", NULL), "64K");
    ck_assert_str_eq(key_value("relay", "max-clients", NULL), "10000");
    ck_assert_str_eq(key_value("relay", "log-level", NULL), "debug");
    ck_assert_str_eq(key_value("relay", "routing", NULL), "all");
    ck_assert_str_eq(key_value("relay", "frame-acks", NULL), "off");
    ck_assert_str_eq(key_value("relay", "log-file", NULL), "");
    ck_assert_str_eq(key_value("backend", "address", b), "[::1]:4243");
    ck_assert_str_eq(key_value("backend", "max-rate", b), "250");
    ck_assert_str_eq(key_value("backend", "overflow", b), "(the relay's)");
    ck_assert_str_eq(key_value("backend", "ack", b), "none");
    ck_assert_str_eq(key_value("redis", "spool-max-bytes", NULL), "2T");
    ck_assert_str_eq(key_value("redis", "spool-flush-interval", NULL), "100ms");
    ck_assert_str_eq(key_value("redis", "address", NULL), "127.0.0.1:6379");
    size_t listen = config_key_count();
    for (size_t i = 0; i < config_key_count(); i++)
        if (strcmp(config_key_name(i), "listen") == 0)
            listen = i;
    char buf[64];
    ck_assert(!config_key_format(listen, &cfg, b, buf, sizeof(buf)));
}
END_TEST

/* Every key's shown value, written back into a file, reads as the same
 * value: what the reload log says is what a file would say. */
START_TEST(test_key_format_round_trip)
{
    ASSERT_OK("[relay]\nidle-timeout = 90s\nmemory-limit = 1536M\ninstance = x:1\n"
              "[backend b1]\naddress = 127.0.0.1:4243\nack = version\noverflow = drop\n"
              "[redis]\nsentinels = 127.0.0.1:26379\nmaster-name = m\n"
              "[limits]\nnew-series-per-hour = 5000\nseries-memory = 24M\non-limit = log\n");
    static struct config first;
    first = cfg;
    static char text[16384];
    size_t n = 0;
    for (int pass = 0; pass < 4; pass++) {
        static const char *const sects[] = { "relay", "backend", "redis", "limits" };
        n += (size_t)snprintf(text + n, sizeof(text) - n, "[%s%s]\n", sects[pass],
                              pass == 1 ? " b1" : "");
        for (size_t i = 0; i < config_key_count(); i++) {
            char v[CFG_HOST_MAX + 16];
            if (strcmp(config_key_section(i), sects[pass]) != 0 ||
                !config_key_format(i, &first, &first.backends[0], v, sizeof(v)) || v[0] == '\0')
                continue;
            n += (size_t)snprintf(text + n, sizeof(text) - n, "%s = %s\n", config_key_name(i), v);
        }
    }
    ASSERT_OK(text);
    for (size_t i = 0; i < config_key_count(); i++) {
        char a[CFG_HOST_MAX + 16], b[CFG_HOST_MAX + 16];
        if (!config_key_format(i, &first, &first.backends[0], a, sizeof(a)))
            continue;
        ck_assert(config_key_format(i, &cfg, &cfg.backends[0], b, sizeof(b)));
        ck_assert_msg(strcmp(a, b) == 0, "[%s] %s: %s, then %s", config_key_section(i),
                      config_key_name(i), a, b);
    }
}
END_TEST


/* ---- TLS, allow-lists, credentials ------------------------------------- */

START_TEST(test_listen_options)
{
    ASSERT_OK("[relay]\nlisten = 127.0.0.1:4242\n"
              "listen = 0.0.0.0:4243 telnet tls allow=10.0.0.0/8, 127.0.0.1/32\n"
              "listen = [::1]:4244 allow=::1/128 tls http\n"
              "listen = :4245 TLS\n"
              "[tls]\ncert = /c.pem\nkey = /k.pem\n" BACKEND_OK);
    ck_assert_int_eq(cfg.nlisten, 4);
    ck_assert(!cfg.listen[0].tls);
    ck_assert_int_eq(cfg.listen[0].allow.n, 0);
    ck_assert_int_eq(cfg.listen[0].proto, PROTO_AUTO);
    ck_assert(cfg.listen[1].tls);
    ck_assert_int_eq(cfg.listen[1].proto, PROTO_TELNET);
    ck_assert_int_eq(cfg.listen[1].allow.n, 2);
    ck_assert_int_eq(cfg.listen[1].allow.nets[0].bits, 8);
    ck_assert_int_eq(cfg.listen[1].allow.nets[1].bits, 32);
    ck_assert_str_eq(cfg.listen[2].addr.host, "::1");
    ck_assert_int_eq(cfg.listen[2].proto, PROTO_HTTP);
    ck_assert(cfg.listen[2].tls);
    ck_assert_int_eq(cfg.listen[2].allow.nets[0].bits, 128);
    ck_assert(cfg.listen[3].tls);
    ck_assert_int_eq(cfg.listen[3].proto, PROTO_AUTO);
    ck_assert(config_tls_listeners(&cfg));
    ck_assert_uint_eq(cfg.tls.max_handshakes, 64);
    ck_assert_int_eq(cfg.tls.min_version, TLS_MIN_12);
}
END_TEST

START_TEST(test_listen_option_errors)
{
    ASSERT_ERR_PREFIX("[relay]\nlisten = 0.0.0.0:4242 auto allow=10.0.0.1/8\n" BACKEND_OK,
                      "NAME:2: [relay] listen: allow=: '10.0.0.1/8' has bits set past its /8");
    ASSERT_ERR_PREFIX("[relay]\nlisten = 0.0.0.0:4242 allow=10.0.0.0/33\n" BACKEND_OK,
                      "NAME:2: [relay] listen: allow=: '10.0.0.0/33': the prefix length");
    ASSERT_ERR_PREFIX("[relay]\nlisten = 0.0.0.0:4242 allow=host.example\n" BACKEND_OK,
                      "NAME:2: [relay] listen: allow=: 'host.example' is not an IPv4 or IPv6");
    ASSERT_ERR_PREFIX("[relay]\nlisten = 0.0.0.0:4242 allow=\n" BACKEND_OK,
                      "NAME:2: [relay] listen: allow= needs CIDR");
    ASSERT_ERR_PREFIX("[relay]\nlisten = 0.0.0.0:4242 allow=::1 allow=::2\n" BACKEND_OK,
                      "NAME:2: [relay] listen: allow= is given twice");
    ASSERT_ERR_PREFIX("[relay]\nlisten = 0.0.0.0:4242 telnet http\n" BACKEND_OK,
                      "NAME:2: [relay] listen: two protocols");
    ASSERT_ERR_PREFIX("[relay]\nlisten = 0.0.0.0:4242 ssl\n" BACKEND_OK,
                      "NAME:2: [relay] listen: unknown protocol 'ssl'");
    ASSERT_ERR_PREFIX("[relay]\nlisten = 0.0.0.0:4242 tls\n" BACKEND_OK,
                      "NAME:2: [relay] listen: tls needs a certificate: [tls] cert and key");
    ASSERT_ERR_PREFIX("[relay]\nadmin-allow = 10.0.0.0/8,300.1.1.1\n" BACKEND_OK,
                      "NAME:2: [relay] admin-allow: '300.1.1.1' is not an IPv4 or IPv6");
}
END_TEST

START_TEST(test_tls_section)
{
    ASSERT_OK("[relay]\nadmin-allow = 10.0.0.0/8 ::1\n[tls]\ncert = /c.pem\nkey = /k.pem\n"
              "ca = /ca.pem\nmin-version = 1.3\nciphers = ECDHE+AESGCM\nmax-handshakes = 8\n"
              BACKEND_OK);
    ck_assert_str_eq(cfg.tls.cert, "/c.pem");
    ck_assert_str_eq(cfg.tls.ca, "/ca.pem");
    ck_assert_int_eq(cfg.tls.min_version, TLS_MIN_13);
    ck_assert_str_eq(cfg.tls.ciphers, "ECDHE+AESGCM");
    ck_assert_uint_eq(cfg.tls.max_handshakes, 8);
    ck_assert_int_eq(cfg.admin_allow.n, 2);
    ck_assert(!config_tls_listeners(&cfg)); /* [tls] alone makes no TLS listener */
    ASSERT_ERR_PREFIX("[relay]\n[tls]\ncert = /c.pem\n" BACKEND_OK,
                      "NAME:3: [tls] key: cert and key go together");
    ASSERT_ERR_PREFIX("[tls]\nmin-version = 1.1\n" BACKEND_OK,
                      "NAME:2: [tls] min-version: '1.1' is not one of: 1.2, 1.3");
    ASSERT_ERR_PREFIX("[tls]\nverify = yes\n" BACKEND_OK, "NAME:2: [tls] verify: unknown key");
    ASSERT_ERR_PREFIX("[tls]\nmax-handshakes = 0\n" BACKEND_OK,
                      "NAME:2: [tls] max-handshakes: 0 is out of range");
}
END_TEST

START_TEST(test_backend_tls)
{
    ASSERT_OK("[backend b1]\naddress = tsd.example:4242\ntls = on\nca = /ca.pem\n"
              "server-name = tsd.internal\ncert = /c.pem\nkey = /k.pem\n"
              "[backend b2]\naddress = 127.0.0.1:4243\n");
    ck_assert_int_eq(cfg.backends[0].tls, 1);
    ck_assert_str_eq(cfg.backends[0].server_name, "tsd.internal");
    ck_assert_str_eq(cfg.backends[0].key, "/k.pem");
    ck_assert_int_eq(cfg.backends[1].tls, 0);
    ck_assert(!config_tls_listeners(&cfg)); /* a TLS backend is no TLS listener */
    ASSERT_ERR_PREFIX("[backend b1]\naddress = 127.0.0.1:1\nca = /ca.pem\n",
                      "NAME:1: [backend b1] tls: ca, server-name, cert and key need tls = on");
    ASSERT_ERR_PREFIX("[backend b1]\naddress = 127.0.0.1:1\ntls = on\nkey = /k.pem\n",
                      "NAME:1: [backend b1] cert: cert and key go together");
    ASSERT_ERR_PREFIX("[backend b1]\naddress = 127.0.0.1:1\ntls = on\nserver-name = a b\n",
                      "NAME:1: [backend b1] server-name: 'a b' is not a host name");
}
END_TEST

START_TEST(test_redis_credentials)
{
    ASSERT_OK(BACKEND_OK "[redis]\nusername = relay\npassword = p;w=d #x\n"
              "sentinels = 127.0.0.1:26379\nmaster-name = m\nsentinel-password = s3\n");
    ck_assert_str_eq(cfg.redis.username, "relay");
    ck_assert_str_eq(cfg.redis.password, "p;w=d #x");
    ck_assert_str_eq(cfg.redis.sentinel_password, "s3");
    ASSERT_ERR_PREFIX(BACKEND_OK "[redis]\nusername = relay\n",
                      "NAME:4: [redis] username: needs a password");
    ASSERT_ERR_PREFIX(BACKEND_OK "[redis]\nsentinel-password = s3\n",
                      "NAME:4: [redis] sentinel-password: is for Sentinels");
    ASSERT_ERR_PREFIX(BACKEND_OK "[redis]\nsentinels = 127.0.0.1:26379\nmaster-name = m\n"
                      "sentinel-username = u\n",
                      "NAME:6: [redis] sentinel-username: needs sentinel-password");
}
END_TEST

/* A secret is shown as set or not, never as itself, and compared without
 * being formatted. */
START_TEST(test_secret_keys)
{
    ASSERT_OK(BACKEND_OK "[redis]\npassword = hunter2\n");
    static struct config other;
    other = cfg;
    size_t pw = config_key_count(), user = config_key_count();
    for (size_t i = 0; i < config_key_count(); i++) {
        if (strcmp(config_key_section(i), "redis") != 0)
            continue;
        if (strcmp(config_key_name(i), "password") == 0)
            pw = i;
        if (strcmp(config_key_name(i), "username") == 0)
            user = i;
    }
    ck_assert(config_key_secret(pw));
    ck_assert(!config_key_secret(user));
    char buf[64];
    ck_assert(config_key_format(pw, &cfg, NULL, buf, sizeof(buf)));
    ck_assert_str_eq(buf, "(set)");
    ck_assert(config_key_equal(pw, &cfg, NULL, &other, NULL));
    snprintf(other.redis.password, sizeof(other.redis.password), "hunter3");
    ck_assert(!config_key_equal(pw, &cfg, NULL, &other, NULL));
    ASSERT_ERR_PREFIX(BACKEND_OK "[redis]\npassword = "
                      "0123456789012345678901234567890123456789012345678901234567890123456789"
                      "0123456789012345678901234567890123456789012345678901234567890123456789"
                      "0123456789012345678901234567890123456789012345678901234567890123456789"
                      "0123456789012345678901234567890123456789012345678901234567890123456789\n",
                      "NAME:4: [redis] password: value longer than 255 bytes");
    ck_assert_ptr_null(strstr(err, "0123"));
}
END_TEST

/* [backend] auth: a secret -- kept as written, shown as "(set)", refused
 * in messages that never quote it; a line starting with A-Z would make a
 * TSD read the connection as HTTP. */
START_TEST(test_auth_key)
{
    ASSERT_OK(BACKEND_OK "auth = hello s3cr3t token\n");
    ck_assert_str_eq(cfg.backends[0].auth, "hello s3cr3t token");
    size_t k = config_key_count();
    for (size_t i = 0; i < config_key_count(); i++)
        if (strcmp(config_key_section(i), "backend") == 0 && strcmp(config_key_name(i), "auth") == 0)
            k = i;
    ck_assert_uint_lt(k, config_key_count());
    ck_assert(config_key_secret(k));
    char buf[64];
    ck_assert(config_key_format(k, &cfg, &cfg.backends[0], buf, sizeof(buf)));
    ck_assert_str_eq(buf, "(set)");
    static struct config other;
    other = cfg;
    ck_assert(config_key_equal(k, &cfg, &cfg.backends[0], &other, &other.backends[0]));
    snprintf(other.backends[0].auth, sizeof(other.backends[0].auth), "hello other");
    ck_assert(!config_key_equal(k, &cfg, &cfg.backends[0], &other, &other.backends[0]));
    ASSERT_OK(BACKEND_OK);
    ck_assert_str_eq(cfg.backends[0].auth, "");
    ck_assert(config_key_format(k, &cfg, &cfg.backends[0], buf, sizeof(buf)));
    ck_assert_str_eq(buf, "");
    ASSERT_ERR_PREFIX(BACKEND_OK "auth = Secret\n",
                      "NAME:3: [backend b1] auth: starts with a capital letter");
    ck_assert(strstr(err, "Secret") == NULL);
    static char big[2000];
    int n = snprintf(big, sizeof(big), BACKEND_OK "auth = ");
    memset(big + n, 'x', 1024);
    big[n + 1024] = '\n';
    ASSERT_ERR_PREFIX(big, "NAME:3: [backend b1] auth: longer than 1023 bytes");
    ck_assert(strstr(err, "xxxx") == NULL);
}
END_TEST

/* tcp-keepalive: 0 (off) or whole seconds from 1s; idle-timeout is off
 * unless set. */
START_TEST(test_tcp_keepalive)
{
    ASSERT_OK("[relay]\ntcp-keepalive = 0\n" BACKEND_OK);
    ck_assert_uint_eq(cfg.tcp_keepalive_ms, 0);
    ASSERT_OK("[relay]\ntcp-keepalive = 1s\nidle-timeout = 10m\n" BACKEND_OK);
    ck_assert_uint_eq(cfg.tcp_keepalive_ms, 1000);
    ck_assert_uint_eq(cfg.idle_timeout_ms, 600000);
    ASSERT_ERR_PREFIX("[relay]\ntcp-keepalive = 500ms\n" BACKEND_OK,
                      "NAME:2: [relay] tcp-keepalive: must be 0 (off) or at least 1s");
    ASSERT_ERR_PREFIX("[relay]\ntcp-keepalive = 10h\n" BACKEND_OK,
                      "NAME:2: [relay] tcp-keepalive: 10h is out of range");
}
END_TEST

/* [limits]: the new-series guard's keys, their defaults and bounds. */
START_TEST(test_limits_section)
{
    ASSERT_OK("[relay]\n" BACKEND_OK);
    ck_assert_uint_eq(cfg.limits.series_memory, 8u << 20);
    ck_assert_uint_eq(cfg.limits.per_hour | cfg.limits.per_day | cfg.limits.per_metric_hour |
                      cfg.limits.per_client_hour | cfg.limits.max_per_metric, 0);
    ck_assert_int_eq(cfg.limits.on_limit, ON_LIMIT_REJECT);
    ck_assert_int_eq(cfg.limits.line, 0);
    ASSERT_OK(BACKEND_OK "[limits]\nnew-series-per-hour = 10000\nnew-series-per-day = 100000\n"
              "new-series-per-metric-per-hour = 1000\nnew-series-per-client-per-hour = 2000\n"
              "max-series-per-metric = 50000\nseries-memory = 16M\non-limit = LOG\n");
    ck_assert_uint_eq(cfg.limits.per_hour, 10000);
    ck_assert_uint_eq(cfg.limits.per_day, 100000);
    ck_assert_uint_eq(cfg.limits.per_metric_hour, 1000);
    ck_assert_uint_eq(cfg.limits.per_client_hour, 2000);
    ck_assert_uint_eq(cfg.limits.max_per_metric, 50000);
    ck_assert_uint_eq(cfg.limits.series_memory, 16u << 20);
    ck_assert_int_eq(cfg.limits.on_limit, ON_LIMIT_LOG);
    ck_assert_int_eq(cfg.limits.line, 3);
    /* the input share leaves series-memory out */
    ck_assert_uint_eq(cfg.input_memory, (128u << 20) - (4u << 20) - (16u << 20) - (16u << 20));
    ASSERT_ERR_PREFIX(BACKEND_OK "[limits]\non-limit = drop\n",
                      "NAME:4: [limits] on-limit: 'drop' is not one of: reject, log");
    ASSERT_ERR_PREFIX(BACKEND_OK "[limits]\nnew-series-per-hour = -1\n",
                      "NAME:4: [limits] new-series-per-hour: '-1' is not a number");
    ASSERT_ERR_PREFIX(BACKEND_OK "[limits]\nseries-memory = 100K\n",
                      "NAME:4: [limits] series-memory: must be 0 (no guard) or between 256K");
    ASSERT_ERR_PREFIX("[relay]\nmemory-limit = 16M\n" BACKEND_OK "[limits]\nseries-memory = 8M\n",
                      "NAME:6: [limits] series-memory: must be 0 (no guard) or between 256K "
                      "and a quarter of memory-limit (4194304)");
    ASSERT_ERR_PREFIX(BACKEND_OK "[limits]\nseries-memory = 0\nmax-series-per-metric = 5\n",
                      "NAME:4: [limits] series-memory: is 0 (no new-series guard)");
    ASSERT_ERR_PREFIX(BACKEND_OK "[limits]\nlisten = 1\n", "NAME:4: [limits] listen: unknown key");
    ASSERT_ERR_PREFIX(BACKEND_OK "[limit]\n", "NAME:3: [limit]: unknown section (expected "
                      "[relay], [backend NAME], [redis], [tls], [limits], [group NAME] or "
                      "[rule NAME])");
    /* 0 turns the guard off; a small memory-limit takes a sixteenth */
    ASSERT_OK(BACKEND_OK "[limits]\nseries-memory = 0\n");
    ck_assert_uint_eq(cfg.limits.series_memory, 0);
    ASSERT_OK("[relay]\nmemory-limit = 32M\n" BACKEND_OK);
    ck_assert_uint_eq(cfg.limits.series_memory, 2u << 20);
    ASSERT_OK("[relay]\nmemory-limit = 2M\n" BACKEND_OK "[limits]\nnew-series-per-hour = 1\n");
    ck_assert_uint_eq(cfg.limits.series_memory, 256u << 10); /* the floor, with a limit */
}
END_TEST

static Suite *
config_suite(void)
{
    Suite *s = suite_create("config");
    TCase *tc = tcase_create("config");
    tcase_add_test(tc, test_shipped_conf);
    tcase_add_test(tc, test_auth_key);
    tcase_add_test(tc, test_tcp_keepalive);
    tcase_add_test(tc, test_missing_file);
    tcase_add_test(tc, test_defaults);
    tcase_add_test(tc, test_redis_defaults);
    tcase_add_test(tc, test_redis_empty_section_enables);
    tcase_add_test(tc, test_all_keys_set);
    tcase_add_test(tc, test_proxy_keys);
    tcase_add_test(tc, test_multiple_backends_in_order);
    tcase_add_test(tc, test_sizes);
    tcase_add_test(tc, test_durations);
    tcase_add_test(tc, test_units_in_file);
    tcase_add_test(tc, test_addresses);
    tcase_add_test(tc, test_listen_keys);
    tcase_add_test(tc, test_listen_errors);
    tcase_add_test(tc, test_backend_address_errors);
    tcase_add_test(tc, test_unknown_key_line);
    tcase_add_test(tc, test_unknown_key_in_file);
    tcase_add_test(tc, test_ack_version_and_backend_policies);
    tcase_add_test(tc, test_unknown_section);
    tcase_add_test(tc, test_bad_backend_name);
    tcase_add_test(tc, test_duplicate_backend);
    tcase_add_test(tc, test_duplicate_backend_adjacent);
    tcase_add_test(tc, test_backend_without_address);
    tcase_add_test(tc, test_backend_empty_section);
    tcase_add_test(tc, test_no_backends);
    tcase_add_test(tc, test_out_of_range);
    tcase_add_test(tc, test_history_keys);
    tcase_add_test(tc, test_names_and_sentinels);
    tcase_add_test(tc, test_bad_enums);
    tcase_add_test(tc, test_spool_watermarks);
    tcase_add_test(tc, test_spool_low_above_high);
    tcase_add_test(tc, test_max_line_fits_block);
    tcase_add_test(tc, test_block_size_power_of_two);
    tcase_add_test(tc, test_http_backends_fit);
    tcase_add_test(tc, test_budget_parts);
    tcase_add_test(tc, test_limits_section);
    tcase_add_test(tc, test_inline_comments);
    tcase_add_test(tc, test_indented_keys);
    tcase_add_test(tc, test_empty_values);
    tcase_add_test(tc, test_syntax_error);
    tcase_add_test(tc, test_long_comment_line);
    tcase_add_test(tc, test_long_value);
    tcase_add_test(tc, test_error_truncated_safely);
    tcase_add_test(tc, test_key_format_values);
    tcase_add_test(tc, test_key_format_round_trip);
    tcase_add_test(tc, test_listen_options);
    tcase_add_test(tc, test_listen_option_errors);
    tcase_add_test(tc, test_tls_section);
    tcase_add_test(tc, test_backend_tls);
    tcase_add_test(tc, test_redis_credentials);
    tcase_add_test(tc, test_secret_keys);
    suite_add_tcase(s, tc);
    return s;
}

UNIT_MAIN(config_suite)
