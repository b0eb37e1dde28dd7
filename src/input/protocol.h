/*
 * protocol.h -- what a client speaks, and its input decoded.
 *
 * Owns sniffing a client's protocol (auto listeners), wiring its decoder
 * (telnet, framed or HTTP) to the client -- points up through the env's
 * submit, replies into reply.c, commands and HTTP bodies -- and decoding
 * one buffer of its input.  Where the bytes come from and where an
 * incomplete unit waits are client.c's; this never reads a socket and
 * never closes a client (it asks for a close after the replies).
 */
#ifndef TS_PROTOCOL_H
#define TS_PROTOCOL_H

#include <stddef.h>

#include "base/config.h"
#include "input/conn.h"

/* The client speaks proto from now on: its counters and its decoder. */
void protocol_set(struct client *c, enum listen_proto proto);
/* A framed client is told something in an error frame of its own, outside
 * any decoding (a line of its refused for good by a backend). */
void protocol_framed_notice(struct client *c, const char *text, size_t len);
/* Decodes the complete units at the start of buf (sniffing first when
 * the protocol is not known yet); returns the bytes consumed.  Sets
 * c->blocked when it stopped for room, c->need to the size of a framed
 * unit that is incomplete, c->close_after_write when the client is done. */
size_t protocol_decode(struct client *c, const char *buf, size_t len);

#endif
