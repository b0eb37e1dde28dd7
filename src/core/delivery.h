/*
 * delivery.h -- how far delivery has got, as a mark that can be checked
 * later.
 *
 * Owns the meaning of "safe" for a line: acknowledged by its backend
 * (by TCP, or by a version barrier), or stored in Redis (its push
 * replied).  A mark records, per backend, where each connection's queue
 * ends and how many lines were staged for the spool; the mark is safe once
 * every line submitted before it is.  It is conservative: lines of other
 * clients count too, and after a backend's lines moved between queue and
 * spool it waits until that backend holds nothing unsafe.  It reads
 * backend and spool state only; it must never change it.
 */
#ifndef TS_DELIVERY_H
#define TS_DELIVERY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

struct backend;

/* Words a mark takes for these backends. */
size_t delivery_width(const struct backend *bes, int n);
void delivery_mark(const struct backend *bes, int n, uint64_t *w);
bool delivery_safe(const struct backend *bes, int n, const uint64_t *w);

/* ?sync's stricter proof, in marks of the same width: every line before
 * the mark acknowledged by its backend itself -- by TCP (ack = none), a
 * barrier's answer (ack = version), an answer of a protocol = http
 * backend (stored with sync = on), or refused for good -- and a line that
 * went through the spool only once the spool gave it back and the backend
 * answered for it (spool/proof.c): Redis holding it is not enough. */
void delivery_sync_mark(const struct backend *bes, int n, uint64_t *w);
bool delivery_proven(const struct backend *bes, int n, const uint64_t *w);
/* Whether a line at stream offset off of backend b's connection conn
 * (with `spooled` lines of it given back by the spool after the mark) may
 * be one a client put between marks start and end: in its range, or
 * past it when the client's lines went to that backend's spool.  For
 * telling a client that its point was refused (may say so of a point of
 * another client; never misses one of its own). */
bool delivery_sync_covers(const struct backend *bes, int n, const uint64_t *start,
                          const uint64_t *end, int b, int conn, uint64_t off);

#endif
