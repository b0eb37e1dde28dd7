/*
 * admitted.h -- the memory the admission line grants a client for a unit.
 *
 * Owns how much a unit of n bytes is admitted as (a block of the pool, or
 * whole pages), taking that memory once it is charged (a block, or an
 * anonymous mapping that really goes back to the OS), giving it back, the
 * client's unit buffer made of it, and the HTTP host's body callbacks.
 * Asking the admission line for a unit is the reader's (client.c); an
 * HTTP body is asked for here, when the decoder needs it.  It must never
 * hold memory that was not charged, except in the forced case the plain
 * read guarantees (counted).
 */
#ifndef TS_ADMITTED_H
#define TS_ADMITTED_H

#include <stdbool.h>
#include <stddef.h>

#include "base/pool.h"
#include "input/conn.h"

/* What a unit of n bytes is admitted as: a block, or whole pages. */
size_t admitted_size(const struct client *c, size_t n);
/* Memory for `bytes` already charged: a block's data (*blk set) or a
 * mapping; *cap its usable size.  NULL (the charge returned) if the OS says
 * no. */
char *admitted_take(struct client *c, size_t bytes, struct block **blk, size_t *cap);
/* Gives back what admitted_take gave (mem NULL: nothing). */
void admitted_give_back(struct client *c, char *mem, struct block *blk, size_t bytes);

/* The client's unit buffer, of `bytes` already charged, with the inline
 * bytes moved into it.  false: out of memory. */
bool admitted_open_unit(struct client *c, size_t bytes);
/* Gives the unit buffer back, if the client holds one. */
void admitted_release_unit(struct client *c);
/* A unit buffer that must be had now, charged past the input limit if it
 * must be (the plain read guaranteed the room; counted and logged). */
bool admitted_force(struct client *c, size_t bytes);

/* The HTTP host's body callbacks (http_host.body_alloc / body_free; ctx is
 * the client): TS_OK with *buf, TS_EAGAIN (the client waits in the
 * admission line), TS_ENOMEM. */
int admitted_http_body(void *ctx, size_t len, char **buf);
void admitted_http_body_free(void *ctx, char *buf, size_t len);

#endif
