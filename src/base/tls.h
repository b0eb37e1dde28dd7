/*
 * tls.h -- OpenSSL 3 under the relay's sockets, for both sides.
 *
 * Owns the library's set-up (once, before anything else allocates: its
 * heap counted, so /metrics can say what TLS holds), contexts built from
 * PEM files with the settings every side shares (TLS 1.2 at least, no
 * renegotiation, no server session cache, buffers released when idle),
 * the non-blocking calls on one connection (handshake, read, peek,
 * write, close_notify) with their outcome in one small enum, and why a
 * handshake failed, in a few words a counter can carry.  It knows nothing
 * of clients, backends or the loop: input/tls_server.c and
 * output/tls_client.c build on it.  It must never block (the sockets are
 * non-blocking), never print a key, and never let OpenSSL's error queue
 * leak from one call into the next.
 */
#ifndef TS_TLS_H
#define TS_TLS_H

#include <openssl/ssl.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <time.h>

#include "base/counters.h"

/* What a call on a connection came to. */
enum tls_io {
    TLS_IO_DONE = 0,     /* did what was asked (bytes moved, handshake over) */
    TLS_IO_WANT_READ,    /* wait until the socket is readable, then call again */
    TLS_IO_WANT_WRITE,   /* wait until it is writable, then call again */
    TLS_IO_CLOSED,       /* the peer closed (close_notify, or end of stream) */
    TLS_IO_FAILED,       /* a protocol or socket error: the connection is done */
};

/* Why a handshake failed (tls.failures{reason}); TLS_FAIL_COUNT names. */
enum tls_fail {
    TLS_FAIL_TIMEOUT = 0, /* not finished within its deadline */
    TLS_FAIL_CLOSED,      /* the peer went away half-way */
    TLS_FAIL_VERSION,     /* no protocol version in common (e.g. TLS 1.1 offered) */
    TLS_FAIL_CIPHER,      /* no cipher or group in common */
    TLS_FAIL_NO_CERT,     /* mTLS: the peer sent no certificate */
    TLS_FAIL_BAD_CERT,    /* a certificate did not verify (CA, name, dates) */
    TLS_FAIL_NOT_TLS,     /* the peer spoke something else (plain telnet, HTTP) */
    TLS_FAIL_OTHER,
};
#define TLS_FAIL_COUNT (TLS_FAIL_OTHER + 1)
_Static_assert(TLS_FAIL_COUNT == TLS_FAIL_KINDS, "counters.h counts every reason");

/* What opening a context needs; unused paths are empty strings. */
struct tls_ctx_opts {
    bool server;
    const char *cert;      /* PEM chain; a server needs one, a client may */
    const char *key;       /* PEM private key of cert */
    const char *ca;        /* PEM CAs: a server asks for client certificates
                              (mTLS); a client verifies the server (empty:
                              the system's trust store) */
    bool tls13_only;       /* min-version 1.3 (else 1.2) */
    const char *ciphers;   /* TLS 1.2 cipher list; empty: OpenSSL's default */
};

/* Call first thing in main: OpenSSL's heap is counted from then on (set
 * once; later calls do nothing). */
void tls_library_init(void);
/* Bytes OpenSSL holds now (contexts, connections, buffers); 0 when it
 * allocated before tls_library_init could count. */
uint64_t tls_memory_bytes(void);

/* A context, or NULL with the reason in err ("[tls] key /path: ...").
 * what names the configuration part for the message ("[tls]"). */
SSL_CTX *tls_ctx_new(const struct tls_ctx_opts *o, const char *what, char *err, size_t errlen);
/* The context's certificate, for logs: "CN=relay.example, expires
 * 2027-01-31" into buf; *not_after its end (unix seconds, 0 if none). */
void tls_ctx_describe(SSL_CTX *ctx, char *buf, size_t len, time_t *not_after);

/* One step of the handshake. */
enum tls_io tls_handshake(SSL *s);
/* Up to len bytes of plaintext into buf (peek: left in the connection).
 * DONE with *got > 0, or why not. */
enum tls_io tls_read(SSL *s, void *buf, size_t len, bool peek, size_t *got);
/* Writes up to len bytes: DONE with *put > 0 (at least one record went
 * to the socket whole), or why not.  After WANT_WRITE the next call must
 * offer at least the same len from the same bytes. */
enum tls_io tls_write(SSL *s, const void *buf, size_t len, size_t *put);
/* What a tls_read that moved nothing means, as recv(2) says it: -1 with
 * errno EAGAIN (call again once the socket is ready) or ECONNRESET, 0
 * when the peer closed. */
int tls_read_result(enum tls_io io);
/* What a tls_write that moved nothing means, as send(2) says it: -1 with
 * errno EAGAIN or EPIPE.  (WANT_READ on a write: only a renegotiation asks
 * that, and it is off: it waits as a write would.) */
int tls_write_result(enum tls_io io);
/* Sends close_notify if the socket takes it now (best effort; the caller
 * then shuts its socket down). */
void tls_close_notify(SSL *s);
/* Why the last call on s failed: the reason (for the counter) and a short
 * text (for the log: OpenSSL's reason, and a verify failure's cause). */
enum tls_fail tls_failure(SSL *s, char *buf, size_t len);
const char *tls_fail_name(enum tls_fail f);
const char *tls_version_name(const SSL *s);

#endif
