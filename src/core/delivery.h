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

#endif
