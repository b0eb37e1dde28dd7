/*
 * rconn.h -- the relay's asynchronous connection to Redis.
 *
 * Owns the hiredis async context on the libev loop (hiredis' own adapter),
 * connecting with a timeout, logging in (AUTH [username] password before
 * anything else, on every connection; a refusal is logged once per run
 * and counted, and the connection is retried as if Redis were down),
 * reconnecting with exponential backoff and jitter, and the count of
 * replies still due.  Where Redis is comes from
 * sentinel.c (the configured address, resolved without blocking, or the
 * master the Sentinels name, whose ROLE is checked before it is used).  Its owner (the spool) is
 * told when the connection is up and when it is lost; every command sent
 * gets its callback exactly once (a NULL reply when the connection went).
 * It must never block the loop and never keep a context it was told is
 * gone.
 */
#ifndef TS_RCONN_H
#define TS_RCONN_H

#include <ev.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/config.h"
#include "spool/rauth.h"
#include "spool/sentinel.h"

enum rconn_state { RC_DOWN = 0, RC_CONNECTING, RC_UP };

struct rconn {
    struct ev_loop *loop;
    struct sentinel *master;   /* where Redis is */
    const struct cfg_redis *cfg; /* username and password (read at each connect) */
    struct rauth auth;         /* the connection's first command */
    char host[64];             /* the address connected to */
    int port;
    uint64_t connect_timeout_ms, reconnect_min_ms, reconnect_max_ms;
    redisAsyncContext *ac;
    enum rconn_state state;
    uint64_t retry_at_ms;
    uint64_t backoff_ms;
    ev_timer connect_timer;
    int pending;               /* replies due */
    bool was_up;               /* to log state changes once */
    bool destroying;
    bool freeing;              /* freeing a context ourselves: its callbacks are ignored */
    uint64_t connects, disconnects;
    uint64_t auth_failures;    /* AUTH refused (wrong password, no such user, none given) */
    bool auth_failing;         /* this run of refusals was logged */
    void (*on_up)(void *ctx);
    void (*on_lost)(void *ctx);
    void *ctx;
};

/* cfg: [redis] username and password, read at each connection (a reload
 * changes them in place). */
void rconn_init(struct rconn *rc, struct ev_loop *loop, struct sentinel *master,
                const struct cfg_redis *cfg, uint64_t connect_timeout_ms,
                uint64_t reconnect_min_ms, uint64_t reconnect_max_ms,
                void (*on_up)(void *), void (*on_lost)(void *), void *ctx);
void rconn_free(struct rconn *rc);
/* A reload: new timeouts; moved: Redis is elsewhere now -- the
 * connection is closed gracefully and made again at once. */
void rconn_reconfigure(struct rconn *rc, uint64_t connect_timeout_ms, uint64_t reconnect_min_ms,
                       uint64_t reconnect_max_ms, bool moved);
/* Connects when it is time to (call every tick). */
void rconn_tick(struct rconn *rc, uint64_t now_ms);

/* Sends a command; false when there is no connection.  cb runs once. */
bool rconn_send(struct rconn *rc, redisCallbackFn *cb, void *priv, int argc, const char **argv,
                const size_t *argvlen);
/* One-word commands (MULTI, EXEC); up to three words with lengths. */
bool rconn_send1(struct rconn *rc, redisCallbackFn *cb, void *priv, const char *word);
bool rconn_send3(struct rconn *rc, redisCallbackFn *cb, void *priv, const char *a, const char *b,
                 const char *c, size_t clen);
/* Every callback of a command sent through rconn_send opens with this:
 * one reply less is due.  Returns the reply, or NULL when the connection
 * went (the command's one call then). */
redisReply *rconn_reply(redisAsyncContext *ac, void *reply);
/* A callback that only counts the reply. */
void rconn_ignore(redisAsyncContext *ac, void *reply, void *priv);

static inline bool rconn_up(const struct rconn *rc) { return rc->state == RC_UP; }

/* A reply Redis gives when it refuses writes: OOM (maxmemory with
 * noeviction), READONLY (a replica), MISCONF (persistence failing). */
bool rconn_write_refused(const redisReply *rep);

#endif
