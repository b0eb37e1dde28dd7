/*
 * listener.c -- listening sockets.
 *
 * Accepts in a bounded loop per event.  Over max-clients (or when the
 * budget cannot pay for another client) a connection is told why in one
 * line and closed at once, and counted.  It must never block.
 */
#include "autoconf.h"

#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "client.h"
#include "listener.h"
#include "log.h"
#include "relay.h"
#include "stats.h"
#include "util.h"

#define ACCEPTS_PER_EVENT 256

static void
refuse(struct relay *r, int fd, const char *why)
{
    char msg[160];
    int n = snprintf(msg, sizeof(msg), "error: connection refused by tsrelay: %s\n", why);
    (void)!write(fd, msg, (size_t)n); /* best effort; the socket is fresh */
    close(fd);
    g_stats.clients_rejected++;
    LOG_RL(LOG_WARN, "refused a connection: %s (%llu clients open)", why,
           (unsigned long long)r->nclients);
}

static void
on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct listener *ls = container_of(w, struct listener, io);
    struct relay *r = ls->r;
    for (int i = 0; i < ACCEPTS_PER_EVENT; i++) {
        int fd = accept4(ls->fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                LOG_RL(LOG_ERROR, "accept on %s failed: %s", ls->name, strerror(errno));
            return;
        }
        if (r->phase != PHASE_RUNNING) {
            refuse(r, fd, "shutting down");
            continue;
        }
        if (r->nclients >= r->cfg.max_clients) {
            refuse(r, fd, "too many connections (max-clients)");
            continue;
        }
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        struct client *c = client_new(r, ls, fd);
        if (c == NULL)
            refuse(r, fd, "memory-limit reached");
        else
            log_debug("client fd %d accepted on %s", fd, ls->name);
    }
}

int
listener_open(struct relay *r, struct listener *ls, const struct cfg_listen *cfg, char *err,
              size_t errlen)
{
    memset(ls, 0, sizeof(*ls));
    ls->r = r;
    ls->cfg = cfg;
    ls->fd = -1;
    snprintf(ls->name, sizeof(ls->name), "%s:%s %s", cfg->addr.host, cfg->addr.port,
             config_proto_name(cfg->proto));
    struct addrinfo hints = { .ai_socktype = SOCK_STREAM, .ai_flags = AI_PASSIVE,
                              .ai_family = AF_UNSPEC };
    struct addrinfo *res = NULL;
    int rc = getaddrinfo(cfg->addr.host, cfg->addr.port, &hints, &res);
    if (rc != 0) {
        snprintf(err, errlen, "listen %s: %s", ls->name, gai_strerror(rc));
        return TS_ERROR;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    if (fd < 0) {
        snprintf(err, errlen, "listen %s: socket: %s", ls->name, strerror(errno));
        freeaddrinfo(res);
        return TS_ERROR;
    }
    int one = 1;
    (void)setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, res->ai_addr, res->ai_addrlen) < 0 || listen(fd, 1024) < 0) {
        snprintf(err, errlen, "listen %s: %s", ls->name, strerror(errno));
        close(fd);
        freeaddrinfo(res);
        return TS_ERROR;
    }
    freeaddrinfo(res);
    ls->fd = fd;
    ev_io_init(&ls->io, on_accept, fd, EV_READ);
    ev_io_start(r->loop, &ls->io);
    return TS_OK;
}

void
listener_close(struct listener *ls)
{
    if (ls->fd < 0)
        return;
    ev_io_stop(ls->r->loop, &ls->io);
    close(ls->fd);
    ls->fd = -1;
}

int
listener_port(const struct listener *ls)
{
    struct sockaddr_storage ss;
    socklen_t len = sizeof(ss);
    if (getsockname(ls->fd, (struct sockaddr *)&ss, &len) < 0)
        return -1;
    if (ss.ss_family == AF_INET)
        return ntohs(((struct sockaddr_in *)&ss)->sin_port);
    if (ss.ss_family == AF_INET6)
        return ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
    return -1;
}
