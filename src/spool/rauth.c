/*
 * rauth.c -- the first command on every Redis or Sentinel connection:
 * AUTH, or PING without a password.
 *
 * A reply that is not an error lets the connection be used; an error is
 * passed on with the password masked, should a server ever echo it.  A
 * connection that went (NULL reply) is its owner's disconnect callback's
 * business.  It never logs.
 */
#include "autoconf.h"

#include <hiredis/async.h>
#include <hiredis/hiredis.h>
#include <stdio.h>
#include <string.h>

#include "base/util.h"
#include "spool/rauth.h"

/* text with every occurrence of the password masked, into out. */
static void
rauth_mask(const char *text, size_t len, const char *password, char *out, size_t cap)
{
    size_t pl = password != NULL ? strlen(password) : 0;
    size_t n = 0;
    for (size_t i = 0; i < len && n + 1 < cap;) {
        if (pl > 0 && i + pl <= len && memcmp(text + i, password, pl) == 0) {
            size_t k = TS_MIN((size_t)3, cap - 1 - n);
            memcpy(out + n, "***", k);
            n += k;
            i += pl;
            continue;
        }
        out[n++] = text[i] == '\n' || text[i] == '\r' ? ' ' : text[i];
        i++;
    }
    out[n] = '\0';
}

static void
rauth_on_reply(redisAsyncContext *ac, void *reply, void *priv)
{
    struct rauth *a = priv;
    const redisReply *r = reply;
    if (r == NULL || a->cb == NULL)
        return; /* the connection went: its owner knows */
    rauth_fn cb = a->cb;
    a->cb = NULL;
    if (r->type != REDIS_REPLY_ERROR) {
        cb(a->ctx, ac, true, "");
        return;
    }
    char why[300];
    rauth_mask(r->str != NULL ? r->str : "", r->str != NULL ? r->len : 0, a->password, why,
               sizeof(why));
    if (a->password == NULL || a->password[0] == '\0') {
        size_t n = strlen(why);
        snprintf(why + n, sizeof(why) - n, " (no password is configured for it)");
    }
    cb(a->ctx, ac, false, why);
}

int
rauth_send(struct rauth *a, redisAsyncContext *ac, const char *username, const char *password,
           rauth_fn cb, void *ctx)
{
    a->cb = cb;
    a->ctx = ctx;
    a->password = password;
    const char *argv[3];
    size_t lens[3];
    int argc = 0;
    if (password == NULL || password[0] == '\0') {
        argv[argc] = "PING";
        lens[argc++] = 4;
    } else {
        argv[argc] = "AUTH";
        lens[argc++] = 4;
        if (username != NULL && username[0] != '\0') {
            argv[argc] = username;
            lens[argc++] = strlen(username);
        }
        argv[argc] = password;
        lens[argc++] = strlen(password);
    }
    if (redisAsyncCommandArgv(ac, rauth_on_reply, a, argc, argv, lens) != REDIS_OK) {
        a->cb = NULL;
        return TS_ERROR;
    }
    return TS_OK;
}
