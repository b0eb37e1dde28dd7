/*
 * fake_redis.h -- a scripted Redis for the unit tests, in the test
 * process: a loopback listening socket on the test's libev loop that
 * accepts, parses RESP commands (as hiredis writes them: arrays of bulk
 * strings, pipelined, split anywhere) and answers them from a small
 * in-memory model, in order, on each connection.
 *
 * The model: lists (RPUSH LPUSH RPUSHX LRANGE LINDEX LREM LLEN LMOVE),
 * strings (SET [NX] [PX|EX], GET, with expiry), sets (SADD SMEMBERS SREM),
 * DEL EXISTS EXPIRE PEXPIRE MEMORY USAGE SCAN, MULTI/EXEC/DISCARD (an
 * error while queueing aborts the EXEC, as Redis does), PING, ROLE and
 * WAIT (answered with fr->replicas), AUTH (with fr->password set, and an
 * ACL user fr->user: other commands before it get NOAUTH).  What the
 * spool family sends, no more.
 *
 * Faults: refuse writes like Redis at maxmemory with noeviction (OOM:
 * the commands that may use memory) or like a replica (READONLY: every
 * write); stall (read, answer nothing, until unstalled: then everything
 * waiting is answered in order); close a connection from its side; answer
 * the next command with bytes that are not RESP; bind without listening
 * (connections are refused), listen later, stop (close everything, keep
 * the data) and start again on the same port; or a listener whose
 * backlog is full, so a connection attempt hangs.  Every command
 * executed is logged with its arrival time, and a hook may look at each
 * before it is executed.
 */
#ifndef TS_FAKE_REDIS_H
#define TS_FAKE_REDIS_H

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <ev.h>
#include <fnmatch.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/socket.h>
#include <unistd.h>

#include "base/util.h"

#define FR_CONNS 32
#define FR_KEYS 64
#define FR_ARGS 300
#define FR_LOG 8192

/* What Redis refuses now: nothing, the commands that may use memory (at
 * maxmemory with noeviction), or every write (a replica). */
enum fr_refuse { FR_ACCEPT = 0, FR_OOM, FR_READONLY };

struct fredis;

struct fr_str {
    char *p;
    size_t n;
};

/* A command: its words, copied. */
struct fr_cmd {
    int argc;
    struct fr_str *argv;
};

enum fr_type { FR_NONE = 0, FR_LIST, FR_STRING, FR_SET };

struct fr_key {
    struct fr_str name;
    enum fr_type type;
    struct fr_str *v;        /* list elements, set members, or the string (n = 1) */
    size_t n, cap;
    uint64_t expire_ms;      /* ts_now_ms() when it goes; 0: never */
};

struct fr_conn {
    struct fredis *r;
    int fd;                  /* -1 once closed */
    ev_io rio, wio;
    char *in;                /* bytes read, not yet parsed */
    size_t len, cap;
    char *out;               /* replies not yet written */
    size_t olen, ocap;
    bool multi, dirty;       /* in MULTI; an error was queued */
    bool authed;             /* AUTH accepted (with fr->password set) */
    struct fr_cmd *queued;
    size_t nqueued, qcap;
};

struct fr_logent {
    uint64_t ms;             /* ts_now_ms() when it arrived */
    int conn;
    struct fr_cmd cmd;
};

struct fredis {
    struct ev_loop *loop;
    int lfd;
    int port;
    char port_s[8];
    bool listening;
    int dummy_fd;            /* fr_open_full: the connection filling the backlog */
    ev_io lio;
    struct fr_conn c[FR_CONNS];
    int naccepted;
    struct fr_key keys[FR_KEYS];
    /* faults */
    enum fr_refuse refuse;
    bool stall;
    bool garbage;            /* the next reply is not RESP */
    int replicas;            /* WAIT's answer */
    const char *role;        /* ROLE's first word ("master") */
    const char *password;    /* requirepass (NULL: none): commands before AUTH get NOAUTH */
    const char *user;        /* an ACL user besides "default" */
    /* what came */
    struct fr_logent *log;
    size_t nlog;
    void (*hook)(struct fredis *r, const struct fr_cmd *cmd, void *ctx);
    void *hook_ctx;
};

/* ---- strings and commands ------------------------------------------------ */

static struct fr_str
fr_dup(const char *p, size_t n)
{
    struct fr_str s = { malloc(n + 1), n };
    ck_assert_ptr_nonnull(s.p);
    memcpy(s.p, p, n);
    s.p[n] = '\0';
    return s;
}

static bool
fr_is(const struct fr_str *s, const char *word)
{
    return s->n == strlen(word) && strncasecmp(s->p, word, s->n) == 0;
}

static bool
fr_eq(const struct fr_str *a, const struct fr_str *b)
{
    return a->n == b->n && memcmp(a->p, b->p, a->n) == 0;
}

static long long
fr_num(const struct fr_str *s)
{
    return strtoll(s->p, NULL, 10);
}

static void
fr_cmd_free(struct fr_cmd *c)
{
    for (int i = 0; i < c->argc; i++)
        free(c->argv[i].p);
    free(c->argv);
    c->argv = NULL;
    c->argc = 0;
}

static struct fr_cmd
fr_cmd_copy(const struct fr_cmd *c)
{
    struct fr_cmd d = { c->argc, calloc((size_t)c->argc, sizeof(struct fr_str)) };
    ck_assert_ptr_nonnull(d.argv);
    for (int i = 0; i < c->argc; i++)
        d.argv[i] = fr_dup(c->argv[i].p, c->argv[i].n);
    return d;
}

/* ---- the model --------------------------------------------------------- */

static void
fr_key_clear(struct fr_key *k)
{
    for (size_t i = 0; i < k->n; i++)
        free(k->v[i].p);
    free(k->v);
    free(k->name.p);
    memset(k, 0, sizeof(*k));
}

/* The live key of that name, or NULL (an expired one is deleted). */
static struct fr_key *
fr_find(struct fredis *r, const char *name, size_t n)
{
    for (int i = 0; i < FR_KEYS; i++) {
        struct fr_key *k = &r->keys[i];
        if (k->type == FR_NONE || k->name.n != n || memcmp(k->name.p, name, n) != 0)
            continue;
        if (k->expire_ms != 0 && ts_now_ms() >= k->expire_ms) {
            fr_key_clear(k);
            return NULL;
        }
        return k;
    }
    return NULL;
}

static struct fr_key *
fr_make(struct fredis *r, const char *name, size_t n, enum fr_type type)
{
    struct fr_key *k = fr_find(r, name, n);
    if (k != NULL)
        return k;
    for (int i = 0; i < FR_KEYS; i++) {
        if (r->keys[i].type == FR_NONE) {
            k = &r->keys[i];
            k->name = fr_dup(name, n);
            k->type = type;
            return k;
        }
    }
    ck_abort_msg("fake Redis: more than %d keys", FR_KEYS);
    return NULL;
}

/* Inserts a copy of p[0..n) at index at (0: the head, k->n: the tail). */
static void
fr_insert(struct fr_key *k, size_t at, const char *p, size_t n)
{
    if (k->n == k->cap) {
        k->cap = k->cap ? k->cap * 2 : 16;
        k->v = realloc(k->v, k->cap * sizeof(*k->v));
        ck_assert_ptr_nonnull(k->v);
    }
    memmove(&k->v[at + 1], &k->v[at], (k->n - at) * sizeof(*k->v));
    k->v[at] = fr_dup(p, n);
    k->n++;
}

static void
fr_remove(struct fr_key *k, size_t at)
{
    free(k->v[at].p);
    memmove(&k->v[at], &k->v[at + 1], (k->n - at - 1) * sizeof(*k->v));
    k->n--;
}

/* A collection left empty is no key, as in Redis. */
static void
fr_drop_if_empty(struct fr_key *k)
{
    if (k != NULL && k->type != FR_STRING && k->n == 0)
        fr_key_clear(k);
}

/* For the tests: the list `key` (created), its length after pushing. */
static __attribute__((unused)) size_t
fr_rpush(struct fredis *r, const char *key, const char *p, size_t n)
{
    struct fr_key *k = fr_make(r, key, strlen(key), FR_LIST);
    fr_insert(k, k->n, p, n);
    return k->n;
}

static __attribute__((unused)) void
fr_lpush(struct fredis *r, const char *key, const char *p, size_t n)
{
    fr_insert(fr_make(r, key, strlen(key), FR_LIST), 0, p, n);
}

/* The list's length (0 when there is none). */
static __attribute__((unused)) size_t
fr_llen(struct fredis *r, const char *key)
{
    struct fr_key *k = fr_find(r, key, strlen(key));
    return k != NULL && k->type == FR_LIST ? k->n : 0;
}

/* The list's element i, or NULL. */
static __attribute__((unused)) const struct fr_str *
fr_index(struct fredis *r, const char *key, size_t i)
{
    struct fr_key *k = fr_find(r, key, strlen(key));
    return k != NULL && k->type == FR_LIST && i < k->n ? &k->v[i] : NULL;
}

/* ---- replies --------------------------------------------------------------- */

static void
fr_out(struct fr_conn *c, const char *p, size_t n)
{
    if (c->olen + n > c->ocap) {
        c->ocap = (c->olen + n) * 2 + 4096;
        c->out = realloc(c->out, c->ocap);
        ck_assert_ptr_nonnull(c->out);
    }
    memcpy(c->out + c->olen, p, n);
    c->olen += n;
}

/* A RESP line of a number: ":12", "$12", "*12". */
static void
fr_outn(struct fr_conn *c, char type, long long v)
{
    char b[64];
    int n = snprintf(b, sizeof(b), "%c%lld\r\n", type, v);
    fr_out(c, b, (size_t)n);
}

static void
fr_status(struct fr_conn *c, const char *s)
{
    fr_out(c, "+", 1);
    fr_out(c, s, strlen(s));
    fr_out(c, "\r\n", 2);
}

static void
fr_error(struct fr_conn *c, const char *s)
{
    fr_out(c, "-", 1);
    fr_out(c, s, strlen(s));
    fr_out(c, "\r\n", 2);
}

static void
fr_int(struct fr_conn *c, long long v)
{
    fr_outn(c, ':', v);
}

static void
fr_nil(struct fr_conn *c)
{
    fr_out(c, "$-1\r\n", 5);
}

static void
fr_bulk(struct fr_conn *c, const char *p, size_t n)
{
    fr_outn(c, '$', (long long)n);
    fr_out(c, p, n);
    fr_out(c, "\r\n", 2);
}

static void
fr_array(struct fr_conn *c, size_t n)
{
    fr_outn(c, '*', (long long)n);
}

static void fr_conn_close(struct fr_conn *c);

static void
fr_flush(struct fr_conn *c)
{
    size_t off = 0;
    while (off < c->olen) {
        ssize_t n = write(c->fd, c->out + off, c->olen - off);
        if (n > 0) {
            off += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            break;
        c->olen = 0;
        fr_conn_close(c);
        return;
    }
    if (off > 0)
        memmove(c->out, c->out + off, c->olen - off);
    c->olen -= off;
    if (c->olen > 0)
        ev_io_start(c->r->loop, &c->wio);
    else
        ev_io_stop(c->r->loop, &c->wio);
}

/* ---- commands -------------------------------------------------------------- */

/* Commands Redis refuses at maxmemory (denyoom), and every write (a
 * replica refuses them all). */
static bool
fr_denyoom(const struct fr_str *w)
{
    static const char *const deny[] = { "RPUSH", "LPUSH", "RPUSHX", "LMOVE", "SET", "SADD" };
    for (size_t i = 0; i < sizeof(deny) / sizeof(deny[0]); i++)
        if (fr_is(w, deny[i]))
            return true;
    return false;
}

static bool
fr_write(const struct fr_str *w)
{
    static const char *const wr[] = { "LREM", "DEL", "EXPIRE", "PEXPIRE", "SREM" };
    for (size_t i = 0; i < sizeof(wr) / sizeof(wr[0]); i++)
        if (fr_is(w, wr[i]))
            return true;
    return fr_denyoom(w);
}

/* The refusal of this command now, or NULL. */
static const char *
fr_refusal(const struct fredis *r, const struct fr_cmd *cmd)
{
    if (r->refuse == FR_OOM && fr_denyoom(&cmd->argv[0]))
        return "OOM command not allowed when used memory > 'maxmemory'.";
    if (r->refuse == FR_READONLY && fr_write(&cmd->argv[0]))
        return "READONLY You can't write against a read only replica.";
    return NULL;
}

static struct fr_key *
fr_list(struct fredis *r, const struct fr_str *name)
{
    struct fr_key *k = fr_find(r, name->p, name->n);
    return k != NULL && k->type == FR_LIST ? k : NULL;
}

/* LRANGE's and LINDEX's index rules: negative from the end. */
static long long
fr_norm(long long i, size_t n)
{
    return i < 0 ? (long long)n + i : i;
}

static void
fr_lrange(struct fredis *r, struct fr_conn *c, const struct fr_cmd *m)
{
    struct fr_key *k = fr_list(r, &m->argv[1]);
    size_t n = k ? k->n : 0;
    long long a = fr_norm(fr_num(&m->argv[2]), n), b = fr_norm(fr_num(&m->argv[3]), n);
    if (a < 0)
        a = 0;
    if (b >= (long long)n)
        b = (long long)n - 1;
    if (k == NULL || a > b) {
        fr_array(c, 0);
        return;
    }
    fr_array(c, (size_t)(b - a + 1));
    for (long long i = a; i <= b; i++)
        fr_bulk(c, k->v[i].p, k->v[i].n);
}

static void
fr_lrem(struct fredis *r, struct fr_conn *c, const struct fr_cmd *m)
{
    struct fr_key *k = fr_list(r, &m->argv[1]);
    long long count = fr_num(&m->argv[2]), removed = 0;
    const struct fr_str *v = &m->argv[3];
    if (k != NULL && count >= 0) {
        for (size_t i = 0; i < k->n && (count == 0 || removed < count);) {
            if (fr_eq(&k->v[i], v)) {
                fr_remove(k, i);
                removed++;
            } else {
                i++;
            }
        }
    } else if (k != NULL) {
        for (size_t i = k->n; i > 0 && removed < -count; i--) {
            if (fr_eq(&k->v[i - 1], v)) {
                fr_remove(k, i - 1);
                removed++;
            }
        }
    }
    fr_drop_if_empty(k);
    fr_int(c, removed);
}

static void
fr_push(struct fredis *r, struct fr_conn *c, const struct fr_cmd *m, bool left, bool exists)
{
    struct fr_key *k = fr_list(r, &m->argv[1]);
    if (k == NULL && exists) {
        fr_int(c, 0);
        return;
    }
    if (k == NULL)
        k = fr_make(r, m->argv[1].p, m->argv[1].n, FR_LIST);
    for (int i = 2; i < m->argc; i++)
        fr_insert(k, left ? 0 : k->n, m->argv[i].p, m->argv[i].n);
    fr_int(c, (long long)k->n);
}

static void
fr_lmove(struct fredis *r, struct fr_conn *c, const struct fr_cmd *m)
{
    struct fr_key *src = fr_list(r, &m->argv[1]);
    if (src == NULL) {
        fr_nil(c);
        return;
    }
    size_t at = fr_is(&m->argv[3], "LEFT") ? 0 : src->n - 1;
    struct fr_str v = fr_dup(src->v[at].p, src->v[at].n);
    fr_remove(src, at);
    fr_drop_if_empty(src);
    struct fr_key *dst = fr_make(r, m->argv[2].p, m->argv[2].n, FR_LIST);
    fr_insert(dst, fr_is(&m->argv[4], "LEFT") ? 0 : dst->n, v.p, v.n);
    fr_bulk(c, v.p, v.n);
    free(v.p);
}

static void
fr_lindex(struct fredis *r, struct fr_conn *c, const struct fr_cmd *m)
{
    struct fr_key *k = fr_list(r, &m->argv[1]);
    long long i = k ? fr_norm(fr_num(&m->argv[2]), k->n) : -1;
    if (k == NULL || i < 0 || i >= (long long)k->n)
        fr_nil(c);
    else
        fr_bulk(c, k->v[i].p, k->v[i].n);
}

static void
fr_set(struct fredis *r, struct fr_conn *c, const struct fr_cmd *m)
{
    bool nx = false;
    uint64_t ttl = 0;
    for (int i = 3; i < m->argc; i++) {
        if (fr_is(&m->argv[i], "NX"))
            nx = true;
        else if (fr_is(&m->argv[i], "PX") && i + 1 < m->argc)
            ttl = (uint64_t)fr_num(&m->argv[++i]);
        else if (fr_is(&m->argv[i], "EX") && i + 1 < m->argc)
            ttl = (uint64_t)fr_num(&m->argv[++i]) * 1000;
    }
    struct fr_key *k = fr_find(r, m->argv[1].p, m->argv[1].n);
    if (k != NULL && nx) {
        fr_nil(c);
        return;
    }
    if (k != NULL)
        fr_key_clear(k);
    k = fr_make(r, m->argv[1].p, m->argv[1].n, FR_STRING);
    fr_insert(k, 0, m->argv[2].p, m->argv[2].n);
    k->expire_ms = ttl ? ts_now_ms() + ttl : 0;
    fr_status(c, "OK");
}

static void
fr_get(struct fredis *r, struct fr_conn *c, const struct fr_cmd *m)
{
    struct fr_key *k = fr_find(r, m->argv[1].p, m->argv[1].n);
    if (k == NULL || k->type != FR_STRING)
        fr_nil(c);
    else
        fr_bulk(c, k->v[0].p, k->v[0].n);
}

static void
fr_del_exists(struct fredis *r, struct fr_conn *c, const struct fr_cmd *m, bool del)
{
    long long n = 0;
    for (int i = 1; i < m->argc; i++) {
        struct fr_key *k = fr_find(r, m->argv[i].p, m->argv[i].n);
        if (k == NULL)
            continue;
        n++;
        if (del)
            fr_key_clear(k);
    }
    fr_int(c, n);
}

static void
fr_expire(struct fredis *r, struct fr_conn *c, const struct fr_cmd *m, uint64_t unit_ms)
{
    struct fr_key *k = fr_find(r, m->argv[1].p, m->argv[1].n);
    if (k != NULL)
        k->expire_ms = ts_now_ms() + (uint64_t)fr_num(&m->argv[2]) * unit_ms;
    fr_int(c, k != NULL);
}

static void
fr_sets(struct fredis *r, struct fr_conn *c, const struct fr_cmd *m, int op)
{
    struct fr_key *k = fr_find(r, m->argv[1].p, m->argv[1].n);
    if (op == 0) { /* SMEMBERS */
        fr_array(c, k ? k->n : 0);
        for (size_t i = 0; k != NULL && i < k->n; i++)
            fr_bulk(c, k->v[i].p, k->v[i].n);
        return;
    }
    if (k == NULL && op > 0)
        k = fr_make(r, m->argv[1].p, m->argv[1].n, FR_SET);
    long long n = 0;
    for (int i = 2; k != NULL && i < m->argc; i++) {
        size_t j = 0;
        while (j < k->n && !fr_eq(&k->v[j], &m->argv[i]))
            j++;
        if (op > 0 && j == k->n) {
            fr_insert(k, k->n, m->argv[i].p, m->argv[i].n);
            n++;
        } else if (op < 0 && j < k->n) {
            fr_remove(k, j);
            n++;
        }
    }
    fr_drop_if_empty(k);
    fr_int(c, n);
}

/* SCAN: every key matching at once, cursor 0. */
static void
fr_scan(struct fredis *r, struct fr_conn *c, const struct fr_cmd *m)
{
    const char *pat = "*";
    for (int i = 2; i + 1 < m->argc; i++)
        if (fr_is(&m->argv[i], "MATCH"))
            pat = m->argv[i + 1].p;
    size_t n = 0;
    for (int i = 0; i < FR_KEYS; i++)
        n += r->keys[i].type != FR_NONE && fnmatch(pat, r->keys[i].name.p, 0) == 0;
    fr_array(c, 2);
    fr_bulk(c, "0", 1);
    fr_array(c, n);
    for (int i = 0; i < FR_KEYS; i++)
        if (r->keys[i].type != FR_NONE && fnmatch(pat, r->keys[i].name.p, 0) == 0)
            fr_bulk(c, r->keys[i].name.p, r->keys[i].name.n);
}

static void
fr_memory(struct fredis *r, struct fr_conn *c, const struct fr_cmd *m)
{
    struct fr_key *k = m->argc == 3 ? fr_find(r, m->argv[2].p, m->argv[2].n) : NULL;
    if (k == NULL) {
        fr_nil(c);
        return;
    }
    long long bytes = 64;
    for (size_t i = 0; i < k->n; i++)
        bytes += (long long)k->v[i].n + 16;
    fr_int(c, bytes);
}

/* The lists' commands; false when it is none of them. */
static bool
fr_exec_list(struct fredis *r, struct fr_conn *c, const struct fr_cmd *m)
{
    const struct fr_str *w = &m->argv[0];
    if (fr_is(w, "RPUSH") && m->argc >= 3)
        fr_push(r, c, m, false, false);
    else if (fr_is(w, "LPUSH") && m->argc >= 3)
        fr_push(r, c, m, true, false);
    else if (fr_is(w, "RPUSHX") && m->argc >= 3)
        fr_push(r, c, m, false, true);
    else if (fr_is(w, "LRANGE") && m->argc == 4)
        fr_lrange(r, c, m);
    else if (fr_is(w, "LREM") && m->argc == 4)
        fr_lrem(r, c, m);
    else if (fr_is(w, "LLEN") && m->argc == 2)
        fr_int(c, (long long)fr_llen(r, m->argv[1].p));
    else if (fr_is(w, "LINDEX") && m->argc == 3)
        fr_lindex(r, c, m);
    else if (fr_is(w, "LMOVE") && m->argc == 5)
        fr_lmove(r, c, m);
    else
        return false;
    return true;
}

/* The other commands; false when it is unknown. */
static bool
fr_exec_other(struct fredis *r, struct fr_conn *c, const struct fr_cmd *m)
{
    const struct fr_str *w = &m->argv[0];
    if (fr_is(w, "PING"))
        fr_status(c, "PONG");
    else if (fr_is(w, "SET") && m->argc >= 3)
        fr_set(r, c, m);
    else if (fr_is(w, "GET") && m->argc == 2)
        fr_get(r, c, m);
    else if ((fr_is(w, "DEL") || fr_is(w, "EXISTS")) && m->argc >= 2)
        fr_del_exists(r, c, m, fr_is(w, "DEL"));
    else if (fr_is(w, "EXPIRE") && m->argc == 3)
        fr_expire(r, c, m, 1000);
    else if (fr_is(w, "PEXPIRE") && m->argc == 3)
        fr_expire(r, c, m, 1);
    else if (fr_is(w, "SMEMBERS") && m->argc == 2)
        fr_sets(r, c, m, 0);
    else if ((fr_is(w, "SADD") || fr_is(w, "SREM")) && m->argc >= 3)
        fr_sets(r, c, m, fr_is(w, "SADD") ? 1 : -1);
    else if (fr_is(w, "SCAN") && m->argc >= 2)
        fr_scan(r, c, m);
    else if (fr_is(w, "MEMORY") && m->argc >= 2)
        fr_memory(r, c, m);
    else if (fr_is(w, "WAIT") && m->argc == 3)
        fr_int(c, r->replicas);
    else if (fr_is(w, "ROLE")) {
        fr_array(c, 3);
        fr_bulk(c, r->role, strlen(r->role));
        fr_int(c, 0);
        fr_array(c, 0);
    } else
        return false;
    return true;
}

/* Executes m, its reply into c's output. */
static void
fr_exec(struct fredis *r, struct fr_conn *c, const struct fr_cmd *m)
{
    const char *no = fr_refusal(r, m);
    if (no != NULL)
        fr_error(c, no);
    else if (!fr_exec_list(r, c, m) && !fr_exec_other(r, c, m))
        fr_error(c, "ERR unknown command or wrong number of arguments");
}

static void
fr_multi_end(struct fr_conn *c)
{
    for (size_t i = 0; i < c->nqueued; i++)
        fr_cmd_free(&c->queued[i]);
    c->nqueued = 0;
    c->multi = c->dirty = false;
}

static void
fr_exec_queued(struct fredis *r, struct fr_conn *c)
{
    if (c->dirty) {
        fr_error(c, "EXECABORT Transaction discarded because of previous errors.");
    } else {
        fr_array(c, c->nqueued);
        for (size_t i = 0; i < c->nqueued; i++)
            fr_exec(r, c, &c->queued[i]);
    }
    fr_multi_end(c);
}

/* In MULTI: queued, or refused now (which aborts the EXEC). */
static void
fr_queue(struct fredis *r, struct fr_conn *c, const struct fr_cmd *m)
{
    const char *no = fr_refusal(r, m);
    if (no != NULL) {
        fr_error(c, no);
        c->dirty = true;
        return;
    }
    if (c->nqueued == c->qcap) {
        c->qcap = c->qcap ? c->qcap * 2 : 16;
        c->queued = realloc(c->queued, c->qcap * sizeof(*c->queued));
        ck_assert_ptr_nonnull(c->queued);
    }
    c->queued[c->nqueued++] = fr_cmd_copy(m);
    fr_status(c, "QUEUED");
}

static void
fr_log(struct fredis *r, struct fr_conn *c, const struct fr_cmd *m)
{
    ck_assert_uint_lt(r->nlog, FR_LOG);
    if (r->log == NULL) {
        r->log = calloc(FR_LOG, sizeof(*r->log));
        ck_assert_ptr_nonnull(r->log);
    }
    struct fr_logent *e = &r->log[r->nlog++];
    e->ms = ts_now_ms();
    e->conn = (int)(c - r->c);
    e->cmd = fr_cmd_copy(m);
}

/* AUTH [user] password, as Redis 6 and later answer it. */
static void
fr_auth(struct fredis *r, struct fr_conn *c, const struct fr_cmd *m)
{
    if (m->argc < 2 || m->argc > 3) {
        fr_error(c, "ERR wrong number of arguments for 'auth' command");
        return;
    }
    if (r->password == NULL) {
        fr_error(c, "ERR AUTH <password> called without any password configured for the "
                    "default user. Are you sure your configuration is correct?");
        return;
    }
    const struct fr_str *pw = &m->argv[m->argc - 1];
    bool user_ok = m->argc == 2 || fr_is(&m->argv[1], "default") ||
                   (r->user != NULL && m->argv[1].n == strlen(r->user) &&
                    memcmp(m->argv[1].p, r->user, m->argv[1].n) == 0);
    if (user_ok && pw->n == strlen(r->password) && memcmp(pw->p, r->password, pw->n) == 0) {
        c->authed = true;
        fr_status(c, "OK");
    } else {
        fr_error(c, "WRONGPASS invalid username-password pair or user is disabled.");
    }
}

static void
fr_command(struct fredis *r, struct fr_conn *c, const struct fr_cmd *m)
{
    fr_log(r, c, m);
    if (r->hook != NULL)
        r->hook(r, m, r->hook_ctx);
    if (r->garbage) {
        r->garbage = false;
        fr_out(c, "?garbage\r\n", 10);
        return;
    }
    const struct fr_str *w = &m->argv[0];
    if (fr_is(w, "AUTH")) {
        fr_auth(r, c, m);
    } else if (r->password != NULL && !c->authed) {
        fr_error(c, "NOAUTH Authentication required.");
    } else if (fr_is(w, "MULTI")) {
        c->multi = true;
        fr_status(c, "OK");
    } else if (fr_is(w, "EXEC") && c->multi) {
        fr_exec_queued(r, c);
    } else if (fr_is(w, "DISCARD") && c->multi) {
        fr_multi_end(c);
        fr_status(c, "OK");
    } else if (c->multi) {
        fr_queue(r, c, m);
    } else {
        fr_exec(r, c, m);
    }
}

/* ---- parsing --------------------------------------------------------------- */

/* A "<prefix><number>\r\n" line at p (end e): the number and the line's
 * end, or NULL when it is not all there yet. */
static const char *
fr_line(const char *p, const char *e, char prefix, long long *num)
{
    if (p >= e)
        return NULL;
    ck_assert_msg(*p == prefix, "fake Redis: '%c' where '%c' was due", *p, prefix);
    const char *nl = memchr(p, '\n', (size_t)(e - p));
    if (nl == NULL)
        return NULL;
    *num = strtoll(p + 1, NULL, 10);
    return nl + 1;
}

/* Parses one command from in[0..len) into m (its words point into in);
 * the bytes it took, 0 when it is not all there yet. */
static size_t
fr_parse(const char *in, size_t len, struct fr_cmd *m, struct fr_str *argv)
{
    const char *p = in, *e = in + len;
    long long argc, blen;
    if ((p = fr_line(p, e, '*', &argc)) == NULL)
        return 0;
    ck_assert(argc >= 1 && argc <= FR_ARGS);
    for (long long i = 0; i < argc; i++) {
        if ((p = fr_line(p, e, '$', &blen)) == NULL || e - p < blen + 2)
            return 0;
        argv[i].p = (char *)p;
        argv[i].n = (size_t)blen;
        p += blen + 2;
    }
    m->argc = (int)argc;
    m->argv = argv;
    return (size_t)(p - in);
}

/* Answers every whole command read (unless stalled). */
static void
fr_process(struct fr_conn *c)
{
    struct fredis *r = c->r;
    static struct fr_str argv[FR_ARGS];
    size_t off = 0;
    while (!r->stall && c->fd >= 0) {
        struct fr_cmd m;
        size_t n = fr_parse(c->in + off, c->len - off, &m, argv);
        if (n == 0)
            break;
        /* copies: NUL-terminated, and c->in may move */
        struct fr_cmd copy = fr_cmd_copy(&m);
        off += n;
        fr_command(r, c, &copy);
        fr_cmd_free(&copy);
    }
    if (c->fd < 0)
        return;
    if (off > 0)
        memmove(c->in, c->in + off, c->len - off);
    c->len -= off;
    fr_flush(c);
}

/* ---- connections ----------------------------------------------------------- */

static void
fr_conn_close(struct fr_conn *c)
{
    if (c->fd < 0)
        return;
    ev_io_stop(c->r->loop, &c->rio);
    ev_io_stop(c->r->loop, &c->wio);
    close(c->fd);
    c->fd = -1;
    c->len = c->olen = 0;
    fr_multi_end(c);
}

static void
fr_on_read(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct fr_conn *c = w->data;
    for (;;) {
        if (c->cap - c->len < 65536) {
            c->cap = c->cap * 2 + 65536;
            c->in = realloc(c->in, c->cap);
            ck_assert_ptr_nonnull(c->in);
        }
        ssize_t n = read(c->fd, c->in + c->len, c->cap - c->len);
        if (n > 0) {
            c->len += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n == 0 || (errno != EAGAIN && errno != EWOULDBLOCK)) {
            fr_conn_close(c);
            return;
        }
        break;
    }
    fr_process(c);
}

static void
fr_on_write(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    fr_flush(w->data);
}

static void
fr_on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    struct fredis *r = w->data;
    for (;;) {
        int fd = accept4(r->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        ck_assert_int_lt(r->naccepted, FR_CONNS);
        struct fr_conn *c = &r->c[r->naccepted++];
        c->r = r;
        c->fd = fd;
        ev_io_init(&c->rio, fr_on_read, fd, EV_READ);
        c->rio.data = c;
        ev_io_init(&c->wio, fr_on_write, fd, EV_WRITE);
        c->wio.data = c;
        ev_io_start(loop, &c->rio);
    }
}

/* Binds 127.0.0.1 on port (0: a free one). */
static void
fr_bind(struct fredis *r, int port)
{
    r->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(r->lfd, 0);
    int one = 1;
    setsockopt(r->lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                             .sin_port = htons((uint16_t)port) };
    ck_assert_int_eq(bind(r->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t alen = sizeof(a);
    ck_assert_int_eq(getsockname(r->lfd, (struct sockaddr *)&a, &alen), 0);
    r->port = ntohs(a.sin_port);
    snprintf(r->port_s, sizeof(r->port_s), "%d", r->port);
}

/* Starts accepting (a bound socket). */
static __attribute__((unused)) void
fr_listen(struct fredis *r)
{
    ck_assert_int_eq(listen(r->lfd, 64), 0);
    r->listening = true;
    ev_io_init(&r->lio, fr_on_accept, r->lfd, EV_READ);
    r->lio.data = r;
    ev_io_start(r->loop, &r->lio);
}

/* An empty Redis on a free port; listening unless told not to (then
 * connections to it are refused until fr_listen). */
static __attribute__((unused)) void
fr_open(struct fredis *r, struct ev_loop *loop, bool listening)
{
    memset(r, 0, sizeof(*r));
    r->loop = loop;
    r->dummy_fd = -1;
    r->role = "master";
    for (int i = 0; i < FR_CONNS; i++)
        r->c[i].fd = -1;
    fr_bind(r, 0);
    if (listening)
        fr_listen(r);
}

/* A listener that never accepts, its backlog full: a connection attempt
 * hangs (its SYN is dropped) until the client gives up. */
static __attribute__((unused)) void
fr_open_full(struct fredis *r, struct ev_loop *loop)
{
    fr_open(r, loop, false);
    ck_assert_int_eq(listen(r->lfd, 0), 0);
    r->dummy_fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK),
                             .sin_port = htons((uint16_t)r->port) };
    ck_assert_int_eq(connect(r->dummy_fd, (struct sockaddr *)&a, sizeof(a)), 0);
}

/* Closes the connection i from Redis' side (what it had not answered is
 * lost). */
static __attribute__((unused)) void
fr_close(struct fredis *r, int i)
{
    fr_conn_close(&r->c[i]);
}

/* Redis goes away: every connection closed, nothing listening (refused);
 * the data stays for fr_start. */
static __attribute__((unused)) void
fr_stop(struct fredis *r)
{
    for (int i = 0; i < r->naccepted; i++)
        fr_conn_close(&r->c[i]);
    if (r->listening)
        ev_io_stop(r->loop, &r->lio);
    r->listening = false;
    close(r->lfd);
    r->lfd = -1;
}

/* ... and comes back on the same port. */
static __attribute__((unused)) void
fr_start(struct fredis *r)
{
    fr_bind(r, r->port);
    fr_listen(r);
}

/* Stalled: nothing is answered until unstalled, then all of it in order. */
static __attribute__((unused)) void
fr_set_stall(struct fredis *r, bool stall)
{
    r->stall = stall;
    if (stall)
        return;
    for (int i = 0; i < r->naccepted; i++)
        if (r->c[i].fd >= 0)
            fr_process(&r->c[i]);
}

static __attribute__((unused)) int
fr_open_conns(const struct fredis *r)
{
    int n = 0;
    for (int i = 0; i < r->naccepted; i++)
        n += r->c[i].fd >= 0;
    return n;
}

/* The last connection accepted that is open, or -1. */
static __attribute__((unused)) int
fr_last_conn(const struct fredis *r)
{
    for (int i = r->naccepted - 1; i >= 0; i--)
        if (r->c[i].fd >= 0)
            return i;
    return -1;
}

/* Commands named `word` executed so far. */
static __attribute__((unused)) size_t
fr_count(const struct fredis *r, const char *word)
{
    size_t n = 0;
    for (size_t i = 0; i < r->nlog; i++)
        n += fr_is(&r->log[i].cmd.argv[0], word);
    return n;
}

/* The k-th (from 0) logged command named `word`, or NULL. */
static __attribute__((unused)) const struct fr_logent *
fr_nth(const struct fredis *r, const char *word, size_t k)
{
    for (size_t i = 0; i < r->nlog; i++)
        if (fr_is(&r->log[i].cmd.argv[0], word) && k-- == 0)
            return &r->log[i];
    return NULL;
}

static __attribute__((unused)) void
fr_free(struct fredis *r)
{
    if (r->lfd >= 0)
        fr_stop(r);
    if (r->dummy_fd >= 0)
        close(r->dummy_fd);
    r->dummy_fd = -1;
    for (int i = 0; i < FR_CONNS; i++) {
        free(r->c[i].in);
        free(r->c[i].out);
        free(r->c[i].queued);
        r->c[i].in = r->c[i].out = NULL;
        r->c[i].queued = NULL;
    }
    for (int i = 0; i < FR_KEYS; i++)
        if (r->keys[i].type != FR_NONE)
            fr_key_clear(&r->keys[i]);
    for (size_t i = 0; i < r->nlog; i++)
        fr_cmd_free(&r->log[i].cmd);
    free(r->log);
    r->log = NULL;
    r->nlog = 0;
}

#endif
