/*
 * listener.h -- listening sockets.
 *
 * Owns bind/listen/accept and the max-clients gate: a connection over the
 * limit is accepted, told why in one line, and closed at once (counted).
 * It must never block and never hand a socket to a client it cannot pay
 * for.
 */
#ifndef TS_LISTENER_H
#define TS_LISTENER_H

#include <ev.h>

#include "config.h"

struct relay;

struct listener {
    struct relay *r;
    const struct cfg_listen *cfg;
    int fd;
    ev_io io;
    char name[300];    /* "host:port proto" for logs */
};

int listener_open(struct relay *r, struct listener *ls, const struct cfg_listen *cfg,
                  char *err, size_t errlen);
void listener_close(struct listener *ls);
/* The bound port (useful with port 0). */
int listener_port(const struct listener *ls);

#endif
