/*
 * tls_client.c -- TLS from the relay to a server.
 *
 * Writes go record by record (partial writes on): after each record the
 * socket took whole, a mark pairs the record bytes written so far with
 * the stream offset reached.  When the ring of marks is full the newest
 * mark moves forward instead (coarser, never early).  A write that
 * wanted the socket remembers its length: OpenSSL holds that record
 * encrypted and must be offered at least as much again.  It never
 * blocks.
 */
#include "autoconf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <openssl/x509v3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/util.h"
#include "output/tls_client.h"

/* An IP address is matched against the certificate's IP entries. */
static bool
tls_client_is_ip(const char *name)
{
    unsigned char ip[16];
    return inet_pton(AF_INET, name, ip) == 1 || inet_pton(AF_INET6, name, ip) == 1;
}

struct tls_client *
tls_client_new(const struct tls_client_opts *o, char *err, size_t errlen)
{
    struct tls_client *tc = calloc(1, sizeof(*tc));
    if (tc == NULL) {
        snprintf(err, errlen, "%s: out of memory", o->what);
        return NULL;
    }
    struct tls_ctx_opts co = {
        .server = false, .cert = o->cert, .key = o->key, .ca = o->ca, .ciphers = "",
    };
    tc->ctx = tls_ctx_new(&co, o->what, err, errlen);
    if (tc->ctx == NULL) {
        free(tc);
        return NULL;
    }
    snprintf(tc->server_name, sizeof(tc->server_name), "%s", o->server_name);
    tc->name_is_ip = tls_client_is_ip(o->server_name);
    tc->holds = 1;
    return tc;
}

struct tls_client *
tls_client_for_backend(const struct cfg_backend *b, char *err, size_t errlen)
{
    char what[CFG_NAME_MAX + 16];
    snprintf(what, sizeof(what), "[backend %s]", b->name);
    struct tls_client_opts o = {
        .what = what,
        .ca = b->ca,
        .cert = b->cert,
        .key = b->key,
        .server_name = tls_client_name_for(b, &b->addr),
    };
    return tls_client_new(&o, err, errlen);
}

const char *
tls_client_name_for(const struct cfg_backend *b, const struct cfg_addr *to)
{
    return b->server_name[0] != '\0' ? b->server_name : to->host;
}

struct tls_client *
tls_client_hold(struct tls_client *tc)
{
    TS_ASSERT(tc->holds > 0);
    tc->holds++;
    return tc;
}

void
tls_client_free(struct tls_client *tc)
{
    if (tc == NULL || --tc->holds > 0)
        return;
    SSL_CTX_free(tc->ctx); /* a reference: open connections keep theirs */
    free(tc);
}

int
tls_client_begin(struct tls_session *t, struct tls_client *tc, int fd)
{
    return tls_client_begin_named(t, tc, fd, NULL);
}

int
tls_client_begin_named(struct tls_session *t, struct tls_client *tc, int fd, const char *name)
{
    bool own = name != NULL && name[0] != '\0';
    const char *n = own ? name : tc->server_name;
    bool is_ip = own ? tls_client_is_ip(name) : tc->name_is_ip;
    memset(t, 0, sizeof(*t));
    t->ssl = SSL_new(tc->ctx);
    if (t->ssl == NULL || SSL_set_fd(t->ssl, fd) != 1)
        goto fail;
    SSL_set_connect_state(t->ssl);
    if (is_ip) {
        if (X509_VERIFY_PARAM_set1_ip_asc(SSL_get0_param(t->ssl), n) != 1)
            goto fail;
    } else {
        SSL_set_hostflags(t->ssl, X509_CHECK_FLAG_NO_PARTIAL_WILDCARDS);
        if (SSL_set_tlsext_host_name(t->ssl, n) != 1 || SSL_set1_host(t->ssl, n) != 1)
            goto fail;
    }
    t->handshaking = true;
    t->refused = false;
    return TS_OK;
fail:
    SSL_free(t->ssl);
    t->ssl = NULL;
    return TS_ERROR;
}

enum tls_io
tls_client_handshake(struct tls_session *t, uint64_t now_ms, uint64_t took_ms, char *why,
                     size_t whylen)
{
    enum tls_io io = tls_handshake(t->ssl);
    if (io == TLS_IO_DONE) {
        t->handshaking = false;
        t->proven = SSL_version(t->ssl) < TLS1_3_VERSION;
        t->probation_ms = now_ms + TS_MAX(2 * took_ms, (uint64_t)200);
    } else if (io == TLS_IO_FAILED) {
        enum tls_fail f = tls_failure(t->ssl, why, whylen);
        size_t n = strlen(why);
        snprintf(why + n, whylen - n, " [%s]", tls_fail_name(f));
    } else if (io == TLS_IO_CLOSED) {
        snprintf(why, whylen, "the server closed the connection during the handshake");
    }
    return io;
}

/* A record went out whole: the stream reached `stream` when the socket
 * had taken `wire` record bytes. */
static void
tls_client_mark(struct tls_session *t, uint64_t wire, uint64_t stream)
{
    int i;
    if (t->nmarks == TLS_CLIENT_MARKS) {
        i = (t->first + t->nmarks - 1) % TLS_CLIENT_MARKS; /* the newest moves on */
    } else {
        i = (t->first + t->nmarks) % TLS_CLIENT_MARKS;
        t->nmarks++;
    }
    t->mark_wire[i] = wire;
    t->mark_stream[i] = stream;
}

ssize_t
tls_client_writev(struct tls_session *t, const struct iovec *iov, int iovcnt, uint64_t stream)
{
    size_t total = 0;
    for (int i = 0; i < iovcnt; i++) {
        const char *p = iov[i].iov_base;
        size_t left = iov[i].iov_len;
        while (left > 0) {
            size_t put = 0;
            enum tls_io io = tls_write(t->ssl, p, left, &put);
            if (io != TLS_IO_DONE) {
                if (io == TLS_IO_WANT_WRITE || io == TLS_IO_WANT_READ)
                    t->wpending = left; /* this record is OpenSSL's now */
                return total > 0 ? (ssize_t)total : tls_write_result(io);
            }
            t->wpending = 0;
            total += put;
            p += put;
            left -= put;
            tls_client_mark(t, BIO_number_written(SSL_get_wbio(t->ssl)), stream + total);
        }
    }
    return (ssize_t)total;
}

int
tls_client_write_all(struct tls_session *t, const char *text, const char *suffix)
{
    const char *parts[2] = { text, suffix };
    for (int i = 0; i < 2; i++) {
        size_t left = strlen(parts[i]);
        const char *p = parts[i];
        while (left > 0) {
            size_t put = 0;
            enum tls_io io = tls_write(t->ssl, p, left, &put);
            if (io != TLS_IO_DONE) {
                (void)tls_write_result(io); /* errno */
                return TS_ERROR;
            }
            p += put;
            left -= put;
        }
    }
    return TS_OK;
}

ssize_t
tls_client_read(struct tls_session *t, void *buf, size_t len)
{
    size_t got = 0;
    enum tls_io io = tls_read(t->ssl, buf, len, false, &got);
    if (io == TLS_IO_DONE) {
        t->proven = true; /* the server writes to us: it took us */
        return (ssize_t)got;
    }
    /* a protocol failure before the server took us: with TLS 1.3 a refused
     * client certificate comes only now, at the first read */
    if (io == TLS_IO_FAILED)
        t->refused = !t->proven && SSL_SESSION_has_ticket(SSL_get0_session(t->ssl)) != 1;
    return tls_read_result(io);
}

bool
tls_client_proven(struct tls_session *t, uint64_t now_ms)
{
    if (t->ssl == NULL || t->proven)
        return true;
    if (t->handshaking)
        return false;
    /* a session ticket is sent only once the server has accepted us (data
     * read proves it too: tls_client_read) */
    t->proven = now_ms >= t->probation_ms ||
                SSL_SESSION_has_ticket(SSL_get0_session(t->ssl)) == 1;
    return t->proven;
}

const char *
tls_client_error(struct tls_session *t, char *buf, size_t len)
{
    (void)tls_failure(t->ssl, buf, len);
    return buf;
}

bool
tls_client_buffered(const struct tls_session *t)
{
    return t->ssl != NULL && !t->handshaking && SSL_pending(t->ssl) > 0;
}

uint64_t
tls_client_acked(struct tls_session *t, uint64_t unacked)
{
    if (t->ssl == NULL)
        return 0;
    uint64_t written = BIO_number_written(SSL_get_wbio(t->ssl));
    uint64_t wire = written - TS_MIN(unacked, written);
    uint64_t acked = 0;
    while (t->nmarks > 0 && t->mark_wire[t->first] <= wire) {
        acked = t->mark_stream[t->first];
        t->first = (t->first + 1) % TLS_CLIENT_MARKS;
        t->nmarks--;
    }
    return acked;
}

void
tls_client_end(struct tls_session *t, bool graceful)
{
    if (t->ssl == NULL)
        return;
    if (graceful && !t->handshaking)
        tls_close_notify(t->ssl);
    SSL_free(t->ssl);
    t->ssl = NULL;
    t->handshaking = false;
    t->refused = false;
    t->wpending = 0;
    t->nmarks = t->first = 0;
}
