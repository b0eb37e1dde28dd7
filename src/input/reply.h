/*
 * reply.h -- a client's replies, buffered until its socket takes them.
 *
 * Owns the client's reply buffer: a small inline one, then one block of
 * the pool (bounded by max-reply-bytes), or for an HTTP response one
 * buffer of its exact size, charged to its class.  A reply that does not
 * fit is dropped and counted, never grown past its bound: a client that
 * does not read its replies loses them, not the process's memory.  It
 * writes what is pending; closing and lingering are client.c's.
 */
#ifndef TS_REPLY_H
#define TS_REPLY_H

#include <stdbool.h>
#include <stddef.h>

#include "base/pool.h"
#include "input/conn.h"

/* Room for n more reply bytes (the inline buffer, then one block of the
 * class).  false: there is none, the reply is to be dropped. */
bool reply_room(struct client *c, size_t n, enum pool_class cls);
/* Appends len bytes, or counts them dropped (false). */
bool reply_bytes(struct client *c, const char *data, size_t len, enum pool_class cls);
/* Appends text and "\n", or counts them dropped. */
void reply_line(struct client *c, const char *text, size_t len, enum pool_class cls);
/* The HTTP host's reply callback (http_host.reply; ctx is the client): an
 * HTTP response in one buffer of its exact size.  false: no memory. */
bool reply_http(void *ctx, const char *head, size_t hlen, const char *body, size_t blen,
                bool control, bool close);
/* The HTTP host's stream callback (http_host.stream; ctx is the client):
 * a passed answer's bytes straight to the socket, after what is pending
 * in the buffer.  Returns the bytes the socket took; fewer than len
 * leaves the client waiting for it to be writable (stream_blocked), and
 * http_writable is called once everything is written. */
size_t reply_stream(void *ctx, const char *data, size_t len);
/* Gives the buffer back (nothing pending, or the client is closing). */
void reply_release(struct client *c);

enum reply_sent {
    REPLY_SENT = 0,   /* all written (the buffer is still held) */
    REPLY_PENDING,    /* the socket is full: write again when writable */
    REPLY_FAILED,     /* the socket failed: the client is to be closed */
};
/* Writes what is pending, as much as the socket takes. */
enum reply_sent reply_send(struct client *c);

#endif
