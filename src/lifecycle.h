/*
 * lifecycle.h -- the relay built from its configuration, run, and torn
 * down (lifecycle.c).  Only main.c includes it.
 */
#ifndef TS_LIFECYCLE_H
#define TS_LIFECYCLE_H

#include <stddef.h>

struct relay;

/* Builds everything from r->cfg (already loaded) on the default loop and
 * installs the signal handlers and timers.  TS_OK, or TS_ERROR with a
 * reason in err. */
int lifecycle_start(struct relay *r, char *err, size_t errlen);
/* Frees what lifecycle_start built, also after it failed half-way. */
void lifecycle_free(struct relay *r);

#endif
