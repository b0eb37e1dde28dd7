/*
 * rconn.c -- the relay's asynchronous connection to Redis.
 *
 * States: DOWN (waiting for retry_at), CONNECTING (with a timer: hiredis
 * has no connect timeout of its own here), UP.  A lost connection is
 * reported once, then retried with backoff; log lines only on changes.
 * It never blocks.
 */
#include "autoconf.h"

#include <hiredis/adapters/libev.h>
#include <hiredis/hiredis.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "base/log.h"
#include "spool/rconn.h"
#include "base/util.h"

static uint64_t
rconn_now_ms(const struct rconn *rc)
{
    return (uint64_t)(ev_now(rc->loop) * 1000.0);
}

static void
rconn_schedule_retry(struct rconn *rc)
{
    rc->state = RC_DOWN;
    uint64_t d = rc->backoff_ms / 2 + (uint64_t)rand() % (rc->backoff_ms + 1);
    rc->retry_at_ms = rconn_now_ms(rc) + d;
    rc->backoff_ms = TS_MIN(rc->backoff_ms * 2, rc->reconnect_max_ms);
}

static void
rconn_mark_up(struct rconn *rc)
{
    ev_timer_stop(rc->loop, &rc->connect_timer);
    rc->connects++;
    rc->backoff_ms = rc->reconnect_min_ms;
    rc->was_up = true;
    rc->state = RC_UP;
    log_info("redis %s:%d: connected", rc->host, rc->port);
    rc->on_up(rc->ctx);
}

static void
rconn_on_role(void *ctx, bool is_master)
{
    struct rconn *rc = ctx;
    if (rc->state != RC_CONNECTING || rc->ac == NULL)
        return;
    if (is_master)
        rconn_mark_up(rc);
    else
        redisAsyncDisconnect(rc->ac); /* rconn_on_disconnect: retry, ask again */
}

/* Logged in (or no password needed): a master the Sentinels named must
 * say so itself, then it is up. */
static void
rconn_on_auth(void *ctx, redisAsyncContext *ac, bool ok, const char *why)
{
    struct rconn *rc = ctx;
    if (rc->state != RC_CONNECTING || rc->ac != ac)
        return;
    if (!ok) {
        rc->auth_failures++;
        if (!rc->auth_failing)
            log_warn("redis %s:%d: authentication refused: %s; memory-only, retrying with "
                     "backoff (check [redis] username and password)", rc->host, rc->port, why);
        rc->auth_failing = true;
        rc->was_up = false;
        redisAsyncDisconnect(ac); /* rconn_on_disconnect: retry after the backoff */
        return;
    }
    if (rc->auth_failing)
        log_info("redis %s:%d: authentication accepted again", rc->host, rc->port);
    rc->auth_failing = false;
    if (sentinel_check_role(rc->master, ac, rconn_on_role, rc) == TS_EAGAIN)
        return;
    rconn_mark_up(rc);
}

static void
rconn_on_connect(const redisAsyncContext *ac, int status)
{
    struct rconn *rc = ac->data;
    if (status != REDIS_OK) {
        ev_timer_stop(rc->loop, &rc->connect_timer);
        if (rc->was_up || rc->connects == 0)
            log_warn("redis %s:%d: cannot connect: %s; memory-only until it answers",
                     rc->host, rc->port, ac->errstr[0] ? ac->errstr : "error");
        rc->was_up = false;
        rc->ac = NULL; /* hiredis frees it */
        rconn_schedule_retry(rc);
        return;
    }
    /* the connect timer keeps running: AUTH (and ROLE) must answer in time too */
    if (rauth_send(&rc->auth, rc->ac, rc->cfg->username, rc->cfg->password, rconn_on_auth,
                   rc) != TS_OK)
        redisAsyncDisconnect(rc->ac);
}

static void
rconn_on_disconnect(const redisAsyncContext *ac, int status)
{
    struct rconn *rc = ac->data;
    (void)status;
    bool was_up = rc->state == RC_UP;
    rc->ac = NULL;
    rc->pending = 0;
    if (rc->destroying || rc->freeing)
        return;
    rconn_schedule_retry(rc);
    if (!was_up) /* refused by the ROLE check: ask again */
        return;
    rc->disconnects++;
    log_warn("redis: connection lost%s%s; memory-only until it returns",
             ac->errstr[0] ? ": " : "", ac->errstr);
    rc->on_lost(rc->ctx);
}

static void
rconn_on_connect_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct rconn *rc = container_of(w, struct rconn, connect_timer);
    if (rc->state != RC_CONNECTING || rc->ac == NULL)
        return;
    redisAsyncContext *ac = rc->ac;
    rc->ac = NULL;
    rc->freeing = true; /* connected but silent (AUTH, ROLE): its disconnect is ours */
    redisAsyncFree(ac);
    rc->freeing = false;
    if (rc->was_up || rc->connects == 0)
        log_warn("redis: connect timed out (or AUTH went unanswered); memory-only until "
                 "it answers");
    rc->was_up = false;
    rconn_schedule_retry(rc);
}

static void
rconn_start_connect(struct rconn *rc)
{
    int found = sentinel_master(rc->master, rc->host, sizeof(rc->host), &rc->port);
    if (found == TS_EAGAIN)
        return; /* being resolved or asked for: still down, the tick asks again */
    if (found != TS_OK) {
        rconn_schedule_retry(rc);
        return;
    }
    redisAsyncContext *ac = redisAsyncConnect(rc->host, rc->port);
    if (ac == NULL || ac->err) {
        LOG_RL(LOG_WARN, "redis: connect: %s", ac ? ac->errstr : "out of memory");
        if (ac != NULL)
            redisAsyncFree(ac);
        rconn_schedule_retry(rc);
        return;
    }
    ac->data = rc;
    redisLibevAttach(rc->loop, ac);
    redisAsyncSetConnectCallback(ac, rconn_on_connect);
    redisAsyncSetDisconnectCallback(ac, rconn_on_disconnect);
    rc->ac = ac;
    rc->state = RC_CONNECTING;
    ev_timer_set(&rc->connect_timer, (double)rc->connect_timeout_ms / 1000.0, 0.0);
    ev_timer_start(rc->loop, &rc->connect_timer);
}

void
rconn_init(struct rconn *rc, struct ev_loop *loop, struct sentinel *master,
           const struct cfg_redis *cfg, uint64_t connect_timeout_ms, uint64_t reconnect_min_ms,
           uint64_t reconnect_max_ms, void (*on_up)(void *), void (*on_lost)(void *), void *ctx)
{
    memset(rc, 0, sizeof(*rc));
    rc->loop = loop;
    rc->master = master;
    rc->cfg = cfg;
    rc->connect_timeout_ms = connect_timeout_ms;
    rc->reconnect_min_ms = reconnect_min_ms;
    rc->reconnect_max_ms = reconnect_max_ms;
    rc->backoff_ms = reconnect_min_ms;
    rc->on_up = on_up;
    rc->on_lost = on_lost;
    rc->ctx = ctx;
    ev_timer_init(&rc->connect_timer, rconn_on_connect_timeout, 1.0, 0.0);
    rconn_start_connect(rc);
}

void
rconn_free(struct rconn *rc)
{
    rc->destroying = true;
    ev_timer_stop(rc->loop, &rc->connect_timer);
    if (rc->ac != NULL) {
        redisAsyncContext *ac = rc->ac;
        rc->ac = NULL;
        redisAsyncFree(ac);
    }
}

void
rconn_reconfigure(struct rconn *rc, uint64_t connect_timeout_ms, uint64_t reconnect_min_ms,
                  uint64_t reconnect_max_ms, bool moved)
{
    rc->connect_timeout_ms = connect_timeout_ms;
    rc->reconnect_min_ms = reconnect_min_ms;
    rc->reconnect_max_ms = reconnect_max_ms;
    rc->backoff_ms = reconnect_min_ms;
    if (!moved)
        return;
    redisAsyncContext *ac = rc->ac;
    if (rc->state == RC_UP && ac != NULL) {
        redisAsyncDisconnect(ac); /* replies due still come; then rconn_on_disconnect */
    } else if (ac != NULL) {      /* connecting (or logging in, or checking its ROLE) */
        ev_timer_stop(rc->loop, &rc->connect_timer);
        rc->ac = NULL;
        rc->freeing = true;
        redisAsyncFree(ac);
        rc->freeing = false;
        rc->state = RC_DOWN;
    }
    rc->retry_at_ms = 0;
}

void
rconn_tick(struct rconn *rc, uint64_t now)
{
    if (rc->state == RC_DOWN && now >= rc->retry_at_ms)
        rconn_start_connect(rc);
}

bool
rconn_send(struct rconn *rc, redisCallbackFn *cb, void *priv, int argc, const char **argv,
           const size_t *argvlen)
{
    if (rc->ac == NULL || rc->state != RC_UP)
        return false;
    if (redisAsyncCommandArgv(rc->ac, cb, priv, argc, argv, argvlen) != REDIS_OK)
        return false;
    rc->pending++;
    return true;
}

bool
rconn_send1(struct rconn *rc, redisCallbackFn *cb, void *priv, const char *word)
{
    const char *argv[1] = { word };
    size_t len[1] = { strlen(word) };
    return rconn_send(rc, cb, priv, 1, argv, len);
}

bool
rconn_send3(struct rconn *rc, redisCallbackFn *cb, void *priv, const char *a, const char *b,
            const char *c, size_t clen)
{
    const char *argv[3] = { a, b, c };
    size_t lens[3] = { strlen(a), strlen(b), clen };
    return rconn_send(rc, cb, priv, c ? 3 : 2, argv, lens);
}

redisReply *
rconn_reply(redisAsyncContext *ac, void *reply)
{
    struct rconn *rc = ac->data;
    /* every command sent was counted, and its one call comes before the
     * disconnect callback zeroes the count */
    TS_ASSERT(rc != NULL && rc->pending > 0);
    if (rc != NULL && rc->pending > 0)
        rc->pending--;
    return reply;
}

void
rconn_ignore(redisAsyncContext *ac, void *reply, void *priv)
{
    (void)priv;
    (void)rconn_reply(ac, reply);
}

bool
rconn_write_refused(const redisReply *rep)
{
    if (rep == NULL || rep->type != REDIS_REPLY_ERROR || rep->str == NULL)
        return false;
    return strncasecmp(rep->str, "OOM", 3) == 0 || strncasecmp(rep->str, "READONLY", 8) == 0 ||
           strncasecmp(rep->str, "MISCONF", 7) == 0 ||
           strncasecmp(rep->str, "EXECABORT", 9) == 0;
}
