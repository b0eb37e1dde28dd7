/*
 * reload.h -- SIGHUP: the configuration reloaded in place.
 *
 * Owns the step from the running configuration to the file's new one:
 * what changes at once (listeners, backends, routing, limits, timeouts,
 * the Redis address and timeouts, log level, stats interval), what needs
 * a restart (kept as it runs, with a warning), and removed backends
 * finishing their work.  A file with errors changes nothing.  It must
 * never drop a line and never close a client.
 */
#ifndef TS_RELOAD_H
#define TS_RELOAD_H

#include <stdint.h>

struct relay;

/* Reads r->cfg.path again and applies it; a bad file is refused (logged,
 * counted) and the running configuration stays. */
void reload_config(struct relay *r);
/* Removed backends: delivered their queues, or at shutdown-timeout
 * handed what is left to the others by routing (every tick). */
void reload_tick(struct relay *r, uint64_t now_ms);

#endif
