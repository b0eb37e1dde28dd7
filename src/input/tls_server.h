/*
 * tls_server.h -- TLS on the listeners: the [tls] context, and each TLS
 * client's connection.
 *
 * Owns the listeners' context (certificate, key, client CAs for mTLS,
 * minimum version, ciphers: built from [tls], replaced whole on SIGHUP --
 * connections already open keep the context they began with), the
 * handshake of each client driven by the loop's events (counted:
 * tls.handshakes, tls.failures{reason}; the read deadline is the
 * client's, see client.c), and a client's reads and writes in recv()'s
 * and write()'s shape (transport.h calls them), so the decoders never
 * know TLS is there.  A connection costs OpenSSL's SSL object and, only
 * while bytes are in flight, its record buffers (released when idle).
 * It must never block, never read past what the caller asked for, and
 * never log a key.
 */
#ifndef TS_TLS_SERVER_H
#define TS_TLS_SERVER_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>
#include <time.h>

#include "base/config.h"
#include "base/tls.h"

/* The listeners' context: what [tls] says, loaded. */
struct tls_server {
    SSL_CTX *ctx;
    bool mtls;                 /* client certificates required ([tls] ca) */
    time_t not_after;          /* the certificate's end (unix seconds) */
    char describe[300];        /* its subject and end, for logs */
};

/* Loads [tls]: NULL with the reason in err (the file and OpenSSL's
 * words; never a key's bytes). */
struct tls_server *tls_server_new(const struct cfg_tls *cfg, char *err, size_t errlen);
/* Connections begun with it keep it alive until they close. */
void tls_server_free(struct tls_server *ts);

struct tls_line;

/* One client's TLS. */
struct tls_link {
    SSL *ssl;                  /* NULL: a plain client, or one waiting in line */
    struct tls_line *line;     /* the handshake slots it waits for or holds */
    struct tls_link *next;     /* in line */
    bool queued;               /* waiting in line for a handshake slot */
    bool slot;                 /* holds a handshake slot */
    bool handshaking;          /* counted in tls.handshaking */
    bool established;          /* counted in tls.clients */
};

/* Handshakes in progress at most [tls] max-handshakes at a time: each
 * holds some 40 KB of OpenSSL's state (its message buffer, the buffered
 * flight, the SSL object) until it ends.  The TLS clients past them wait
 * in line holding their socket only (their ClientHello waits in the
 * kernel), oldest first, within their read deadline. */
struct tls_line {
    struct tls_link *head, *tail;
    uint64_t active;           /* slots held */
};

/* A TLS client on a listener: TS_OK, its handshake may begin (a slot is
 * taken: attach it); TS_EAGAIN, it waits in line (read nothing from it
 * until tls_server_next hands it out). */
int tls_server_enter(struct tls_link *t, struct tls_line *line, uint64_t max);
/* The next client in line when a slot is free (its slot taken: attach
 * it), else NULL. */
struct tls_link *tls_server_next(struct tls_line *line, uint64_t max);
/* Begins the TLS of a client holding a slot, over fd (nothing is read or
 * written yet).  TS_OK, or TS_ERROR (out of memory). */
int tls_server_attach(struct tls_link *t, struct tls_server *ts, int fd);
/* One handshake step on the client's socket fd (its peer is looked up
 * only for a line that is written).  TLS_IO_DONE: over (counted);
 * WANT_READ/WANT_WRITE: call again when the socket is ready; FAILED or
 * CLOSED: counted and logged, close the client. */
enum tls_io tls_server_handshake(struct tls_link *t, int fd);
/* The handshake did not finish within the client's deadline. */
void tls_server_timed_out(struct tls_link *t, const char *peer);
/* recv(2) in TLS: up to len plaintext bytes into buf, or a peek (they
 * stay), or a discard of len bytes already peeked (buf NULL).  > 0 bytes,
 * 0 at the end of the stream, -1 with errno (EAGAIN: wait for the
 * socket). */
ssize_t tls_server_recv(struct tls_link *t, void *buf, size_t len, bool peek);
/* write(2) in TLS: > 0 bytes taken, or -1 with errno (EAGAIN). */
ssize_t tls_server_send(struct tls_link *t, const void *buf, size_t len);
/* Plaintext already decrypted and not yet read: the socket will not
 * signal it. */
bool tls_server_buffered(const struct tls_link *t);
/* close_notify, when the socket takes it (before the FIN of a graceful
 * close). */
void tls_server_goodbye(struct tls_link *t);
/* Frees the connection (the socket is the caller's) and its place in
 * line.  true when it gave a handshake slot back (the next may go). */
bool tls_server_detach(struct tls_link *t);

#endif
