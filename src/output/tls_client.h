/*
 * tls_client.h -- TLS from the relay to a server: a backend's context,
 * and each connection's handshake, writes, reads and proof of delivery.
 *
 * Owns a server's context (the CAs its certificate must chain to, or the
 * system's trust store; an optional client certificate; TLS 1.2 at
 * least) and its holders (a backend, and the HTTP pools that share its
 * context), the name verified and sent as SNI (a DNS name, or an IP
 * address matched against the certificate's IP entries; the context's,
 * or a connection's own), and one connection's
 * state over a non-blocking socket the caller owns and watches: handshake
 * steps, writev() and read() in their usual shape (-1 with EAGAIN when
 * the socket must be waited for), and which plaintext bytes the peer's
 * TCP has acknowledged -- SIOCOUTQ counts record bytes, so each write
 * leaves a mark (record bytes written so far, stream offset) and an
 * acknowledgement is the newest mark it covers.  Written for the TSD
 * connections (backend.c), and for any other client of the relay over
 * TCP (the HTTP client, httpc_tls.c): nothing here knows what the bytes
 * mean.  It must
 * never block, never read past what the caller asked for, and never
 * claim a byte acknowledged before the record that carried it was.
 */
#ifndef TS_TLS_CLIENT_H
#define TS_TLS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <sys/types.h>
#include <sys/uio.h>

#include "base/config.h"
#include "base/tls.h"

/* What a server's context needs; unused paths are empty strings. */
struct tls_client_opts {
    const char *what;          /* for messages: "[backend tsd1]" */
    const char *ca;            /* PEM CAs; empty: the system's trust store */
    const char *cert;          /* PEM client certificate (chain) and ... */
    const char *key;           /* ... its key, when the server asks for one */
    const char *server_name;   /* verified and sent as SNI */
};

/* One server's context (shared by its connections, and by every holder:
 * a backend's telnet connections and its HTTP pools share one). */
struct tls_client {
    SSL_CTX *ctx;
    char server_name[CFG_HOST_MAX];
    bool name_is_ip;           /* verified against the certificate's IP entries, no SNI */
    int holds;                 /* its owner's, and one per tls_client_hold */
};

/* NULL with the reason in err (the file and OpenSSL's words). */
struct tls_client *tls_client_new(const struct tls_client_opts *o, char *err, size_t errlen);
/* A backend's: its ca, cert, key, and server-name (default: the host of
 * its address).  NULL with err; b must have tls = on. */
struct tls_client *tls_client_for_backend(const struct cfg_backend *b, char *err, size_t errlen);
/* The name a backend's connections to `to` verify: its server-name, or
 * the host they connect to (address for telnet, http-address for HTTP). */
const char *tls_client_name_for(const struct cfg_backend *b, const struct cfg_addr *to);
/* One more holder of tc (an HTTP pool sharing a backend's context):
 * returns tc; each hold ends with a tls_client_free. */
struct tls_client *tls_client_hold(struct tls_client *tc);
/* Drops a hold; the last frees it.  Connections begun with it keep its
 * OpenSSL context alive until they end. */
void tls_client_free(struct tls_client *tc);

#define TLS_CLIENT_MARKS 64

/* One connection. */
struct tls_session {
    SSL *ssl;                  /* NULL: none (plain, or not begun) */
    bool handshaking;
    bool proven;               /* the server has accepted us (see tls_client_proven) */
    bool refused;              /* it failed us after the handshake, before accepting us
                                  (TLS 1.3: a client certificate refused): a failed
                                  handshake, counted as one */
    uint64_t probation_ms;     /* until then, TCP acknowledgements prove nothing */
    size_t wpending;           /* a write wanted the socket: offer this much again */
    int nmarks, first;         /* the marks: a ring, oldest first */
    uint64_t mark_wire[TLS_CLIENT_MARKS];   /* record bytes written when ... */
    uint64_t mark_stream[TLS_CLIENT_MARKS]; /* ... the stream reached this offset */
};

/* Begins the client side over the connected socket fd.  TS_OK or
 * TS_ERROR (out of memory). */
int tls_client_begin(struct tls_session *t, struct tls_client *tc, int fd);
/* The same, verifying (and sending as SNI) name instead of the context's
 * (NULL or empty: the context's). */
int tls_client_begin_named(struct tls_session *t, struct tls_client *tc, int fd,
                           const char *name);
/* One handshake step: DONE, WANT_READ/WANT_WRITE (call again when the
 * socket is ready), or FAILED/CLOSED with the reason in why.  now_ms and
 * took_ms (since the connection was made) set the probation below. */
enum tls_io tls_client_handshake(struct tls_session *t, uint64_t now_ms, uint64_t took_ms,
                                 char *why, size_t whylen);
/* Whether the server has accepted the connection, so that what its TCP
 * acknowledges was read by it.  In TLS 1.3 a client's handshake ends
 * before the server has checked the client's certificate: a server that
 * refuses it still acknowledges, by TCP, what the client wrote meanwhile,
 * then sends an alert and drops it.  So a TLS 1.3 connection is on
 * probation until the server has sent a session ticket or data, or until
 * twice the handshake's time (at least 200 ms) has passed without an
 * alert; TLS 1.2 checks the client first. */
bool tls_client_proven(struct tls_session *t, uint64_t now_ms);
/* writev(2) over TLS; stream is the offset of iov's first byte in the
 * caller's stream (for the marks).  > 0 bytes taken, or -1 with errno
 * (EAGAIN: wait for the socket, then offer at least wpending bytes from
 * the same offset). */
ssize_t tls_client_writev(struct tls_session *t, const struct iovec *iov, int iovcnt,
                          uint64_t stream);
/* read(2) over TLS: > 0, 0 at the end, -1 with errno (EAGAIN). */
ssize_t tls_client_read(struct tls_session *t, void *buf, size_t len);
/* Writes text then suffix whole, before any data of the stream (the auth
 * line: bytes that are no line of the queue, so they take no mark).
 * TS_OK, or TS_ERROR with errno (what could not go at once is an error). */
int tls_client_write_all(struct tls_session *t, const char *text, const char *suffix);
/* Why the last call that returned -1 (not EAGAIN) failed, for the log:
 * OpenSSL's reason, or the alert the server sent. */
const char *tls_client_error(struct tls_session *t, char *buf, size_t len);
/* Decrypted input waiting that the socket will not signal again. */
bool tls_client_buffered(const struct tls_session *t);
/* The stream offset up to which the peer's TCP has acknowledged every
 * byte, given the record bytes it has not (SIOCOUTQ); 0 when no mark is
 * covered yet. */
uint64_t tls_client_acked(struct tls_session *t, uint64_t unacked);
/* Ends the connection: close_notify first when graceful (the socket is
 * the caller's to shut down and close). */
void tls_client_end(struct tls_session *t, bool graceful);

#endif
