/*
 * bconn.h -- what backend.c and bconn_open.c share about one backend
 * connection (struct bconn, backend.h).  Only output/backend*.c and
 * output/bconn*.c include it.
 */
#ifndef TS_BCONN_H
#define TS_BCONN_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct backend;
struct bconn;

/* backend.c */
struct ev_loop *backend_loop_of(const struct backend *be);
uint64_t backend_now_ms(const struct backend *be);
/* The backend's address, without blocking: TS_OK, TS_EAGAIN while the
 * name resolves, TS_ERROR (counted) when the lookup failed. */
int bconn_resolve(struct backend *be);
/* The connection moved bytes: not lagging. */
void bconn_progress(struct bconn *c);
/* The connection failed: closed gracefully, its lines kept (or handed
 * upward), retried after the backoff. */
void bconn_fail(struct bconn *c, const char *what, int err);
/* Writes what the connection may write now. */
void bconn_flush(struct bconn *c);
void bconn_on_readable(struct ev_loop *loop, ev_io *w, int revents);
void bconn_on_writable(struct ev_loop *loop, ev_io *w, int revents);

/* bconn_open.c */
/* Connects (probe: only to see that the backend is reachable again). */
void bconn_connect(struct bconn *c, bool probe);
/* The non-blocking connect completed. */
void bconn_connected(struct bconn *c);
/* One more step of the TLS handshake (the socket is ready). */
void bconn_handshake(struct bconn *c);
/* The TSD's answer to the auth line: false when the connection failed. */
bool bconn_auth_answered(struct bconn *c, const char *line, size_t len);
void bconn_on_connect_timeout(struct ev_loop *loop, ev_timer *w, int revents);

#endif
