/*
 * tls_server.c -- TLS on the listeners: the [tls] context, and each TLS
 * client's connection.
 *
 * The context is built once per start and per SIGHUP; SSL_new takes a
 * reference on it, so freeing the old one on a reload leaves the
 * connections that use it untouched.  A client's reads map OpenSSL's
 * outcomes onto recv()'s: bytes, 0 at the end, -1 with EAGAIN when the
 * socket must be waited for (also when OpenSSL wants to write while
 * reading: the client's write watcher is not needed for that, a TLS 1.3
 * server never has to answer while it reads).  It never blocks.
 */
#include "autoconf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/counters.h"
#include "base/log.h"
#include "base/util.h"
#include "input/tls_server.h"

struct tls_server *
tls_server_new(const struct cfg_tls *cfg, char *err, size_t errlen)
{
    struct tls_server *ts = calloc(1, sizeof(*ts));
    if (ts == NULL) {
        snprintf(err, errlen, "[tls]: out of memory");
        return NULL;
    }
    struct tls_ctx_opts o = {
        .server = true,
        .cert = cfg->cert,
        .key = cfg->key,
        .ca = cfg->ca,
        .tls13_only = cfg->min_version == TLS_MIN_13,
        .ciphers = cfg->ciphers,
    };
    ts->ctx = tls_ctx_new(&o, "[tls]", err, errlen);
    if (ts->ctx == NULL) {
        free(ts);
        return NULL;
    }
    ts->mtls = cfg->ca[0] != '\0';
    tls_ctx_describe(ts->ctx, ts->describe, sizeof(ts->describe), &ts->not_after);
    return ts;
}

void
tls_server_free(struct tls_server *ts)
{
    if (ts == NULL)
        return;
    SSL_CTX_free(ts->ctx); /* a reference: open connections keep theirs */
    free(ts);
}

/* ---- handshake slots ------------------------------------------------------ */

int
tls_server_enter(struct tls_link *t, struct tls_line *line, uint64_t max)
{
    t->line = line;
    if (line->active < max && line->head == NULL) {
        line->active++;
        t->slot = true;
        return TS_OK;
    }
    t->queued = true;
    t->next = NULL;
    if (line->tail != NULL)
        line->tail->next = t;
    else
        line->head = t;
    line->tail = t;
    g_stats.tls.waiting++;
    g_stats.tls.waits++;
    return TS_EAGAIN;
}

/* Out of line (closed while waiting). */
static void
tls_server_unqueue(struct tls_link *t)
{
    struct tls_line *line = t->line;
    struct tls_link *prev = NULL;
    for (struct tls_link *p = line->head; p != NULL; prev = p, p = p->next) {
        if (p != t)
            continue;
        if (prev != NULL)
            prev->next = t->next;
        else
            line->head = t->next;
        if (line->tail == t)
            line->tail = prev;
        break;
    }
    t->queued = false;
    t->next = NULL;
    g_stats.tls.waiting--;
}

struct tls_link *
tls_server_next(struct tls_line *line, uint64_t max)
{
    struct tls_link *t = line->head;
    if (t == NULL || line->active >= max)
        return NULL;
    tls_server_unqueue(t);
    line->active++;
    t->slot = true;
    return t;
}

/* The handshake is over, one way or the other: its slot goes back. */
static void
tls_server_give_back(struct tls_link *t)
{
    if (!t->slot)
        return;
    t->slot = false;
    TS_ASSERT(t->line->active > 0);
    t->line->active--;
}

/* ---- one client ------------------------------------------------------------ */

int
tls_server_attach(struct tls_link *t, struct tls_server *ts, int fd)
{
    TS_ASSERT(t->slot && t->ssl == NULL);
    t->ssl = ts != NULL ? SSL_new(ts->ctx) : NULL;
    if (t->ssl == NULL || SSL_set_fd(t->ssl, fd) != 1) {
        SSL_free(t->ssl);
        t->ssl = NULL;
        return TS_ERROR;
    }
    SSL_set_accept_state(t->ssl);
    t->handshaking = true;
    g_stats.tls.handshaking++;
    return TS_OK;
}

/* The handshake ended without a connection: counted by reason, logged. */
static void
tls_server_failed(struct tls_link *t, enum tls_fail f, const char *why, const char *peer)
{
    t->handshaking = false;
    g_stats.tls.handshaking--;
    g_stats.tls.failures[f]++;
    LOG_RL(f == TLS_FAIL_CLOSED || f == TLS_FAIL_TIMEOUT ? LOG_INFO : LOG_WARN,
           "client %s: TLS handshake failed (%s): %s", peer, tls_fail_name(f), why);
}

enum tls_io
tls_server_handshake(struct tls_link *t, int fd)
{
    char peer[LOG_PEER_MAX]; /* filled (getpeername) only for a line written */
    enum tls_io io = tls_handshake(t->ssl);
    if (io == TLS_IO_DONE) {
        tls_server_give_back(t);
        t->handshaking = false;
        t->established = true;
        g_stats.tls.handshaking--;
        g_stats.tls.handshakes++;
        g_stats.tls.open++;
        log_debug("client %s: TLS handshake done (%s, %s)", log_peer(fd, peer, sizeof(peer)),
                  tls_version_name(t->ssl), SSL_get_cipher_name(t->ssl));
    } else if (io == TLS_IO_WANT_READ) {
        /* waiting for the client: its record buffers (some 34 KB) go back
         * until it sends (a half-open handshake costs its state only) */
        (void)SSL_free_buffers(t->ssl);
    } else if (io == TLS_IO_CLOSED) {
        tls_server_failed(t, TLS_FAIL_CLOSED, "the client closed the connection",
                          log_peer(fd, peer, sizeof(peer)));
    } else if (io == TLS_IO_FAILED) {
        char why[300];
        enum tls_fail f = tls_failure(t->ssl, why, sizeof(why));
        tls_server_failed(t, f, why, log_peer(fd, peer, sizeof(peer)));
    }
    return io;
}

void
tls_server_timed_out(struct tls_link *t, const char *peer)
{
    if (t->handshaking) {
        tls_server_failed(t, TLS_FAIL_TIMEOUT, "not finished within read-timeout", peer);
    } else if (t->queued) { /* its turn never came */
        g_stats.tls.failures[TLS_FAIL_TIMEOUT]++;
        LOG_RL(LOG_INFO, "client %s: TLS handshake failed (timeout): waited for a handshake "
               "slot (max-handshakes) past read-timeout", peer);
    }
}

ssize_t
tls_server_recv(struct tls_link *t, void *buf, size_t len, bool peek)
{
    char sink[4096];
    size_t done = 0;
    do { /* a discard (buf NULL) takes len bytes already peeked */
        size_t got = 0;
        void *into = buf != NULL ? buf : sink;
        size_t want = buf != NULL ? len : TS_MIN(len - done, sizeof(sink));
        enum tls_io io = tls_read(t->ssl, into, want, peek, &got);
        if (io == TLS_IO_DONE) {
            done += got;
            if (buf != NULL)
                return (ssize_t)got;
            continue;
        }
        if (done > 0)
            return (ssize_t)done;
        return tls_read_result(io);
    } while (done < len);
    return (ssize_t)done;
}

ssize_t
tls_server_send(struct tls_link *t, const void *buf, size_t len)
{
    size_t put = 0;
    enum tls_io io = tls_write(t->ssl, buf, len, &put);
    return io == TLS_IO_DONE ? (ssize_t)put : tls_write_result(io);
}

bool
tls_server_buffered(const struct tls_link *t)
{
    return t->established && SSL_pending(t->ssl) > 0;
}

void
tls_server_goodbye(struct tls_link *t)
{
    if (t->established)
        tls_close_notify(t->ssl);
}

bool
tls_server_detach(struct tls_link *t)
{
    bool freed = t->slot;
    if (t->queued)
        tls_server_unqueue(t);
    tls_server_give_back(t);
    if (t->handshaking)
        g_stats.tls.handshaking--;
    if (t->established)
        g_stats.tls.open--;
    SSL_free(t->ssl);
    t->ssl = NULL;
    t->handshaking = t->established = false;
    return freed;
}
