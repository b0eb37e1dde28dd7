/*
 * listener.h -- listening sockets.
 *
 * Owns bind/listen/accept and the max-clients gate.  Up to max-clients a
 * connection is always taken (never refused for memory: the admission
 * line bounds what clients may buffer).  Past it, control-slots more are
 * taken as stats-only connections (stats, version, help, /health,
 * /metrics, /api/stats), so the relay stays observable when full; past
 * those a connection is told why (an HTTP 503 on http listeners, an error
 * line otherwise), closed at once and counted.  A peer outside the
 * listener's allow= list is closed at accept, unanswered, and counted
 * (clients.denied{listener}).  It must never block.
 */
#ifndef TS_LISTENER_H
#define TS_LISTENER_H

#include <ev.h>
#include <stdint.h>

#include "base/config.h"

struct client_set;

struct listener {
    struct client_set *clients;
    const struct cfg_listen *cfg;
    int fd;
    ev_io io;
    char name[300];    /* "host:port proto [tls]" for logs */
    char tag[300];     /* "host_port": clients.denied{listener} */
    uint64_t denied;   /* connections closed at accept: not in allow= */
};

int listener_open(struct listener *ls, struct client_set *clients, const struct cfg_listen *cfg,
                  char *err, size_t errlen);
void listener_close(struct listener *ls);
/* A kept listener takes its new line (a reload): protocol, tls, allow=
 * for the connections it accepts from now; its name follows. */
void listener_retarget(struct listener *ls, const struct cfg_listen *cfg);
/* The listener's name as a tag value ("0.0.0.0_4242", "__1_4242"). */
void listener_tag(const struct cfg_listen *cfg, char *buf, size_t len);
/* The bound port (useful with port 0). */
int listener_port(const struct listener *ls);

#endif
