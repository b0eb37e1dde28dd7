/*
 * sentinel.c -- where the spool's Redis is: the configured address, or the
 * master that Redis Sentinels name.
 *
 * A round (with Sentinels) starts at the Sentinel that answered last and
 * asks each in turn, one at a time:
 *
 *   resolve its name -> connect (hiredis async, libev adapter) and send
 *   AUTH (with sentinel-password) and SENTINEL
 *   get-master-addr-by-name NAME -> [ip, port]: resolve the master's name
 *   (Sentinels give addresses unless resolve-hostnames is on) -> done.
 *   No answer within connect-timeout, nil (the Sentinel does not know the
 *   master), an error, a lost connection, a name that does not resolve,
 *   AUTH refused: the next Sentinel.  Every Sentinel passed over: the
 *   round fails.
 *
 * The Sentinel connection is closed once it has answered; the next round
 * opens a new one.  The resolver's done callback moves a round on; the
 * caller polls sentinel_master() for the outcome.  It must never block
 * the loop and never touch the spool's keys.
 */
#include "autoconf.h"

#include <arpa/inet.h>
#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <hiredis/adapters/libev.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/log.h"
#include "spool/rauth.h"
#include "spool/sentinel.h"
#include "base/util.h"

enum sn_state {
    SN_IDLE = 0,         /* no round */
    SN_RESOLVING,        /* the current Sentinel's name */
    SN_ASKING,           /* connected or connecting, the question sent */
    SN_RESOLVING_MASTER, /* the name a Sentinel gave */
    SN_FOUND,            /* the answer waits for sentinel_master() */
    SN_FAILED,           /* no Sentinel named the master this round */
};

struct sentinel {
    struct ev_loop *loop;
    const struct cfg_redis *cfg;
    struct resolver *res;
    struct sentinel_stats *st;
    enum sn_state state;
    int idx;                        /* the Sentinel being asked */
    int asked;                      /* Sentinels passed over this round */
    int first;                      /* where the next round starts: the one that
                                       answered last, or the next after a stale one */
    redisAsyncContext *ac;          /* the connection to the Sentinel asked */
    struct rauth auth;              /* its first command: sentinel-password */
    ev_timer timer;                 /* its deadline: connect-timeout */
    char mhost[CFG_HOST_MAX];       /* the master, as the Sentinel named it */
    char mport[8];
    struct sockaddr_storage addr;   /* ... resolved */
    char cand_ip[INET6_ADDRSTRLEN]; /* the master handed out, until ROLE confirms it */
    int cand_port;
    int cand_by;                    /* the Sentinel that named it */
    char last_ip[INET6_ADDRSTRLEN]; /* the master confirmed before */
    int last_port;
    bool failing;                   /* this run of failed rounds was logged */
    char why[256];                  /* why the last Sentinel was passed over */
    struct log_rl resolve_rl;       /* the Redis name does not resolve */
    sentinel_role_fn role_cb;
    void *role_ctx;
};

static void ask(struct sentinel *s);

bool
sentinel_enabled(const struct sentinel *s)
{
    return s->cfg->nsentinels > 0;
}

static const struct cfg_addr *
current(const struct sentinel *s)
{
    return &s->cfg->sentinels[s->idx];
}

/* Drops the connection to the Sentinel asked (deferred by hiredis when
 * called from one of its callbacks); its callbacks then find s->ac != ac. */
static void
close_ac(struct sentinel *s, bool graceful)
{
    redisAsyncContext *ac = s->ac;
    ev_timer_stop(s->loop, &s->timer);
    if (ac == NULL)
        return;
    s->ac = NULL;
    if (graceful)
        redisAsyncDisconnect(ac);
    else
        redisAsyncFree(ac);
}

/* The current Sentinel is passed over; the next one is asked. */
static void
pass_over(struct sentinel *s, bool graceful)
{
    close_ac(s, graceful);
    s->asked++;
    s->idx = (s->idx + 1) % s->cfg->nsentinels;
    ask(s);
}

static void
resolve_master(struct sentinel *s)
{
    int rc = resolver_lookup(s->res, s->mhost, s->mport, &s->addr, &(socklen_t){ 0 });
    if (rc == TS_EAGAIN) {
        s->state = SN_RESOLVING_MASTER;
        return;
    }
    if (rc != TS_OK) {
        s->st->resolve_failures++;
        snprintf(s->why, sizeof(s->why), "%s", resolver_error(s->res));
        pass_over(s, true);
        return;
    }
    s->first = s->idx;
    s->state = SN_FOUND;
}

static void
on_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    struct sentinel *s = priv;
    const redisReply *r = reply;
    if (r == NULL || ac != s->ac || s->state != SN_ASKING)
        return; /* gone, or a connection already passed over */
    const struct cfg_addr *a = current(s);
    if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
        r->element[0]->type == REDIS_REPLY_STRING && r->element[1]->type == REDIS_REPLY_STRING &&
        r->element[0]->len > 0 && r->element[0]->len < sizeof(s->mhost) &&
        r->element[1]->len > 0 && r->element[1]->len < sizeof(s->mport)) {
        memcpy(s->mhost, r->element[0]->str, r->element[0]->len + 1);
        memcpy(s->mport, r->element[1]->str, r->element[1]->len + 1);
        close_ac(s, true);
        resolve_master(s);
        return;
    }
    bool noauth = r->type == REDIS_REPLY_ERROR && strncmp(r->str, "NOAUTH", 6) == 0;
    if (r->type == REDIS_REPLY_NIL)
        snprintf(s->why, sizeof(s->why), "Sentinel %s:%s does not know master '%s'", a->host,
                 a->port, s->cfg->master_name);
    else if (r->type == REDIS_REPLY_ERROR)
        snprintf(s->why, sizeof(s->why), "Sentinel %s:%s: %.180s%s", a->host, a->port, r->str,
                 noauth ? " (it wants a password: [redis] sentinel-password)" : "");
    else
        snprintf(s->why, sizeof(s->why), "Sentinel %s:%s: unexpected reply type %d", a->host,
                 a->port, r->type);
    s->st->auth_failures += noauth;
    pass_over(s, true);
}

/* The Sentinel's answer to AUTH: refused, it is passed over. */
static void
on_auth(void *ctx, redisAsyncContext *ac, bool ok, const char *why)
{
    struct sentinel *s = ctx;
    if (ok || ac != s->ac || s->state != SN_ASKING)
        return;
    s->st->auth_failures++;
    snprintf(s->why, sizeof(s->why), "Sentinel %s:%s: authentication refused: %.150s "
             "(check [redis] sentinel-username and sentinel-password)", current(s)->host,
             current(s)->port, why);
    pass_over(s, true);
}

static void
on_connect(const redisAsyncContext *ac, int status)
{
    struct sentinel *s = ac->data;
    if (status == REDIS_OK || ac != s->ac)
        return;
    /* hiredis frees ac after this callback */
    s->ac = NULL;
    snprintf(s->why, sizeof(s->why), "Sentinel %s:%s: %s", current(s)->host, current(s)->port,
             ac->errstr[0] ? ac->errstr : "cannot connect");
    pass_over(s, true);
}

static void
on_disconnect(const redisAsyncContext *ac, int status)
{
    struct sentinel *s = ac->data;
    (void)status;
    if (ac != s->ac)
        return; /* closed by us */
    s->ac = NULL;
    snprintf(s->why, sizeof(s->why), "Sentinel %s:%s: connection lost%s%s", current(s)->host,
             current(s)->port, ac->errstr[0] ? ": " : "", ac->errstr);
    pass_over(s, true);
}

static void
on_timeout(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct sentinel *s = container_of(w, struct sentinel, timer);
    if (s->state != SN_ASKING)
        return;
    snprintf(s->why, sizeof(s->why), "Sentinel %s:%s: no answer within connect-timeout (%llu ms)",
             current(s)->host, current(s)->port,
             (unsigned long long)s->cfg->connect_timeout_ms);
    pass_over(s, false);
}

static void
round_failed(struct sentinel *s)
{
    s->state = SN_FAILED;
    s->st->failures++;
    if (!s->failing)
        log_warn("redis: no Sentinel named master '%s' (%s); memory-only, asking again "
                 "with backoff", s->cfg->master_name, s->why);
    s->failing = true;
}

/* Asks the current Sentinel, or the next ones, until one is in flight or
 * every one was passed over. */
static void
ask(struct sentinel *s)
{
    while (s->asked < s->cfg->nsentinels) {
        const struct cfg_addr *a = current(s);
        struct sockaddr_storage sa;
        socklen_t len;
        int rc = resolver_lookup(s->res, a->host, a->port, &sa, &len);
        if (rc == TS_EAGAIN) {
            s->state = SN_RESOLVING;
            return;
        }
        char ip[INET6_ADDRSTRLEN];
        int port = 0;
        if (rc != TS_OK) {
            s->st->resolve_failures++;
            snprintf(s->why, sizeof(s->why), "%s", resolver_error(s->res));
        } else if (resolver_format(&sa, ip, sizeof(ip), &port) != TS_OK) {
            snprintf(s->why, sizeof(s->why), "Sentinel %s:%s: unusable address", a->host,
                     a->port);
        } else {
            redisAsyncContext *ac = redisAsyncConnect(ip, port);
            if (ac != NULL && ac->err == 0) {
                ac->data = s;
                redisLibevAttach(s->loop, ac);
                redisAsyncSetConnectCallback(ac, on_connect);
                redisAsyncSetDisconnectCallback(ac, on_disconnect);
                /* AUTH first, with a password (pipelined: the question waits
                 * behind it); without, a NOAUTH answer says one is needed */
                if ((s->cfg->sentinel_password[0] == '\0' ||
                     rauth_send(&s->auth, ac, s->cfg->sentinel_username,
                                s->cfg->sentinel_password, on_auth, s) == TS_OK) &&
                    redisAsyncCommand(ac, on_reply, s, "SENTINEL get-master-addr-by-name %s",
                                      s->cfg->master_name) == REDIS_OK) {
                    s->ac = ac;
                    s->state = SN_ASKING;
                    s->st->queries++;
                    ev_timer_set(&s->timer, (double)s->cfg->connect_timeout_ms / 1000.0, 0.0);
                    ev_timer_start(s->loop, &s->timer);
                    return;
                }
            }
            snprintf(s->why, sizeof(s->why), "Sentinel %s:%s: %s", a->host, a->port,
                     ac != NULL && ac->errstr[0] ? ac->errstr : "cannot connect");
            if (ac != NULL)
                redisAsyncFree(ac);
        }
        s->asked++;
        s->idx = (s->idx + 1) % s->cfg->nsentinels;
    }
    round_failed(s);
}

/* A lookup finished: the round goes on. */
static void
on_resolved(void *ctx)
{
    struct sentinel *s = ctx;
    if (s->state == SN_RESOLVING)
        ask(s);
    else if (s->state == SN_RESOLVING_MASTER)
        resolve_master(s);
}

/* The master confirmed by ROLE: logged when it is new, counted when it
 * moved. */
static void
note_master(struct sentinel *s)
{
    const char *ip = s->cand_ip;
    int port = s->cand_port;
    const struct cfg_addr *by = &s->cfg->sentinels[s->cand_by];
    if (s->last_port != 0 && strcmp(ip, s->last_ip) == 0 && port == s->last_port) {
        if (s->failing)
            log_info("redis: the Sentinels name %s:%d as master '%s' again", ip, port,
                     s->cfg->master_name);
    } else if (s->last_port != 0) {
        s->st->master_changes++;
        log_warn("redis: master '%s' moved from %s:%d to %s:%d (Sentinel %s:%s)",
                 s->cfg->master_name, s->last_ip, s->last_port, ip, port, by->host, by->port);
    } else {
        log_info("redis: the Sentinels name %s:%d as master '%s' (Sentinel %s:%s)", ip, port,
                 s->cfg->master_name, by->host, by->port);
    }
    snprintf(s->last_ip, sizeof(s->last_ip), "%s", ip);
    s->last_port = port;
    s->failing = false;
}

int
sentinel_master(struct sentinel *s, char *ip, size_t cap, int *port)
{
    if (!sentinel_enabled(s)) {
        struct sockaddr_storage sa;
        socklen_t len;
        int rc = resolver_lookup(s->res, s->cfg->addr.host, s->cfg->addr.port, &sa, &len);
        if (rc == TS_ERROR) {
            s->st->resolve_failures++;
            log_rl_msg(&s->resolve_rl, 10000, LOG_WARN, "redis: %s; memory-only, retrying",
                       resolver_error(s->res));
        }
        if (rc != TS_OK)
            return rc;
        return resolver_format(&sa, ip, cap, port);
    }
    switch (s->state) {
    case SN_FOUND:
        s->state = SN_IDLE;
        if (resolver_format(&s->addr, ip, cap, port) != TS_OK)
            return TS_ERROR;
        snprintf(s->cand_ip, sizeof(s->cand_ip), "%s", ip);
        s->cand_port = *port;
        s->cand_by = s->first;
        return TS_OK;
    case SN_FAILED:
        s->state = SN_IDLE;
        return TS_ERROR;
    case SN_IDLE:
        s->asked = 0;
        s->idx = s->first;
        s->why[0] = '\0';
        ask(s);
        if (s->state == SN_FOUND || s->state == SN_FAILED)
            return sentinel_master(s, ip, cap, port);
        return TS_EAGAIN;
    default:
        return TS_EAGAIN;
    }
}

static void
on_role(redisAsyncContext *ac, void *reply, void *priv)
{
    struct sentinel *s = priv;
    const redisReply *r = reply;
    if (r == NULL || s->role_cb == NULL)
        return; /* the connection went away: its owner knows */
    sentinel_role_fn cb = s->role_cb;
    s->role_cb = NULL;
    const char *role = "unknown";
    if (r->type == REDIS_REPLY_ARRAY && r->elements > 0 &&
        r->element[0]->type == REDIS_REPLY_STRING)
        role = r->element[0]->str;
    else if (r->type == REDIS_REPLY_ERROR)
        role = r->str;
    if (strcmp(role, "master") == 0) {
        note_master(s);
        cb(s->role_ctx, true);
        return;
    }
    s->st->not_master++;
    const struct cfg_addr *by = &s->cfg->sentinels[s->cand_by];
    log_warn("redis %s:%d, named by Sentinel %s:%s, is not the master (ROLE: %.100s): "
             "asking the Sentinels again", ac->c.tcp.host ? ac->c.tcp.host : "?",
             ac->c.tcp.port, by->host, by->port, role);
    /* a stale Sentinel: the next round starts with the one after it */
    s->first = (s->cand_by + 1) % s->cfg->nsentinels;
    cb(s->role_ctx, false);
}

int
sentinel_check_role(struct sentinel *s, struct redisAsyncContext *ac, sentinel_role_fn cb,
                    void *ctx)
{
    if (!sentinel_enabled(s))
        return TS_OK;
    s->role_cb = cb;
    s->role_ctx = ctx;
    if (redisAsyncCommand(ac, on_role, s, "ROLE") != REDIS_OK) {
        s->role_cb = NULL;
        return TS_ERROR;
    }
    return TS_EAGAIN;
}

struct sentinel *
sentinel_new(struct ev_loop *loop, const struct cfg_redis *cfg, const struct resolver_opts *ro,
             struct sentinel_stats *st)
{
    struct sentinel *s = calloc(1, sizeof(*s));
    if (s == NULL)
        return NULL;
    s->loop = loop;
    s->cfg = cfg;
    s->st = st;
    s->res = resolver_new(loop, ro);
    if (s->res == NULL) {
        free(s);
        return NULL;
    }
    resolver_set_done(s->res, on_resolved, s);
    ev_timer_init(&s->timer, on_timeout, 1.0, 0.0);
    return s;
}

void
sentinel_free(struct sentinel *s)
{
    if (s == NULL)
        return;
    s->state = SN_IDLE; /* what freeing the connection reports is ignored */
    s->role_cb = NULL;
    close_ac(s, false);
    resolver_free(s->res);
    free(s);
}
