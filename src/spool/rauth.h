/*
 * rauth.h -- the first command on every Redis or Sentinel connection:
 * AUTH (with a username for ACL users), or PING without a password, so
 * that a Redis asking for a password it was not given is told apart from
 * one that is down.
 *
 * Owns the command and the reading of its reply: ok, or refused with
 * Redis' words (never the password, even if a server echoed it).  Its
 * owners (rconn.c for the master, sentinel.c for Sentinels) embed a
 * struct rauth and decide what a refusal means.  It must never log a
 * password, and never keep the reply past its callback.
 */
#ifndef TS_RAUTH_H
#define TS_RAUTH_H

#include <stdbool.h>
#include <stddef.h>

struct redisAsyncContext;

/* Told once whether the connection may be used; why is Redis' reply (a
 * refusal) or a hint (no password given), valid during the call. */
typedef void (*rauth_fn)(void *ctx, struct redisAsyncContext *ac, bool ok, const char *why);

struct rauth {
    rauth_fn cb;
    void *ctx;
    const char *password;   /* to keep it out of why, whatever a server says */
};

/* Sends AUTH [username] password (or PING when password is empty) on ac;
 * a callback later.  TS_OK when sent, TS_ERROR when hiredis refused it. */
int rauth_send(struct rauth *a, struct redisAsyncContext *ac, const char *username,
               const char *password, rauth_fn cb, void *ctx);

#endif
