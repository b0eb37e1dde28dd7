/*
 * client.h -- accepted client connections.
 *
 * Owns each client's socket, protocol sniffing (auto listeners), its
 * input (a small inline tail, or a buffer admitted for its unit), its
 * bounded reply buffer, idle and read deadlines, and the rules that keep
 * memory bounded without ever stopping progress:
 *   - complete units are decoded where they were read, never copied;
 *   - a unit that is incomplete is kept only in memory admitted for all
 *     of it (a frame's announced length, a long line's bound, an HTTP
 *     body's Content-Length), asked of the admission line before a byte of
 *     it is read; a client that must wait holds nothing but its struct;
 *   - a decoder that finds the queues full stops where it is and waits
 *     its turn for room, holding only what it had already admitted.
 * Decoding is delegated to telnet/framed/http (protocol.c); points go up
 * through the env's submit callback.  Its state is in conn.h, its replies
 * in reply.c, the memory of its units in admitted.c.  It must never read
 * what it has no memory for, never drop a valid point under overflow =
 * block, and never let a client that does not read its replies grow the
 * process.
 */
#ifndef TS_CLIENT_H
#define TS_CLIENT_H

#include <stdbool.h>
#include <stddef.h>
#include <sys/socket.h>

#include "base/config.h"
#include "input/conn.h"

int client_set_init(struct client_set *cs, const struct client_env *env);
/* Closes every client and frees the scratch buffer. */
void client_set_free(struct client_set *cs);

/* Takes over an accepted socket (never refused for memory: a client's
 * fixed part is accounted apart, in connection_bytes). */
/* On a TLS listener the client's handshake begins (the set's [tls]
 * context); NULL when out of memory. */
/* A client on fd, accepted from peer (origin: its address as text, no
 * port: what identifies it to the relay's limits). */
struct client *client_new(struct client_set *cs, const struct cfg_listen *lc, int fd,
                          bool control_only, const struct sockaddr *peer, socklen_t peer_len,
                          const char *origin);
void client_close(struct client *c, const char *why);

/* Grants waiting clients their memory and resumes those waiting for room
 * (call once per loop iteration, before the backends flush). */
void client_admission_poll(struct client_set *cs);
/* frame-acks: answers "ack N" to framed clients whose frames are safe now
 * (at most one per client per call; call once per loop iteration). */
void client_frame_acks(struct client_set *cs);
/* The backends changed (a reload) or lines moved between them: every
 * client's waiting frames are marked again, fa_width words wide from now
 * on.  A client whose marks cannot grow (out of memory) is closed: its
 * unacknowledged frames are its to resend.  Returns the clients closed. */
size_t client_frame_acks_remark(struct client_set *cs, size_t fa_width);
/* A client that waited for something other than memory (its ?sync
 * proofs) carries on: its replies written, reading again. */
void client_wake(struct client *c);
/* Shutdown: stop reading from every client but the telnet ones (a
 * telnet client may ask `status` while the relay drains; the relay
 * refuses its points); nobody waits any more. */
void client_stop_all_reading(struct client_set *cs);

#endif
