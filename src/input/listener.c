/*
 * listener.c -- listening sockets.
 *
 * Accepts in a bounded loop per event, and sets each accepted socket's
 * options (TCP_NODELAY; tcp-keepalive, so that a vanished peer is found
 * while a quiet one is kept).  A peer outside the listener's allow= list
 * is closed at once, unanswered, and counted.  Over
 * max-clients a connection gets a stats-only slot while control-slots
 * last; beyond them it is told why (in clear text on a plain listener;
 * a TLS one just closes) and closed at once, and counted.  It must never
 * block.
 */
#include "autoconf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "input/client.h"
#include "input/listener.h"
#include "base/log.h"
#include "base/counters.h"
#include "base/allow.h"
#include "base/util.h"

#define ACCEPTS_PER_EVENT 256

static void
listener_refuse(struct listener *ls, int fd, const char *why)
{
    char msg[400];
    int n = 0;
    if (ls->cfg->tls) {
        /* a TLS client cannot read clear text: the close says it */
    } else if (ls->cfg->proto == PROTO_HTTP) {
        char body[200];
        int b = snprintf(body, sizeof(body),
                         "{\"error\":{\"code\":503,\"message\":\"connection refused by "
                         "tsrelay: %s\"}}", why);
        n = snprintf(msg, sizeof(msg),
                     "HTTP/1.1 503 Service Unavailable\r\nServer: tsrelay/%s\r\n"
                     "Content-Type: application/json\r\nContent-Length: %d\r\n"
                     "Connection: close\r\n\r\n%s", PACKAGE_VERSION, b, body);
    } else {
        n = snprintf(msg, sizeof(msg), "error: connection refused by tsrelay: %s\n", why);
    }
    char peer[LOG_PEER_MAX];
    log_peer(fd, peer, sizeof(peer)); /* before the close */
    if (n > 0)
        (void)!write(fd, msg, (size_t)n); /* best effort; the socket is fresh */
    /* FIN, not RST: the peer reads the reason (what it may still send is
     * not read, which can turn into an RST only after our bytes) */
    shutdown(fd, SHUT_WR);
    close(fd);
    g_stats.clients_rejected++;
    LOG_RL(LOG_WARN, "refused a connection from %s on %s: %s (%llu clients open)", peer,
           ls->name, why, (unsigned long long)ls->clients->n);
}

/* The source address as text ("10.0.0.1", "::1"): what identifies a
 * client to the relay's limits (its port changes with each connection). */
static void
listener_origin_text(const struct sockaddr *sa, char *out, size_t cap)
{
    const void *addr = NULL;
    if (sa != NULL && sa->sa_family == AF_INET)
        addr = &((const struct sockaddr_in *)(const void *)sa)->sin_addr;
    else if (sa != NULL && sa->sa_family == AF_INET6)
        addr = &((const struct sockaddr_in6 *)(const void *)sa)->sin6_addr;
    if (addr == NULL || inet_ntop(sa->sa_family, addr, out, (socklen_t)cap) == NULL)
        snprintf(out, cap, "unknown");
}

/* TCP keepalive on a client's socket (tcp-keepalive: the idle time; then
 * 3 probes a third of it apart, at most 75 s apart): a peer that vanished
 * (its host gone, its network dropped) is found and its slot freed, while
 * a live but quiet client answers the probes in its kernel and is kept.
 * As the TSD's tsd.network.keep_alive, with a time of the relay's own. */
static void
listener_keepalive(int fd, uint64_t idle_ms)
{
    int on = idle_ms > 0;
    (void)setsockopt(fd, SOL_SOCKET, SO_KEEPALIVE, &on, sizeof(on));
    if (!on)
        return;
    int idle = (int)TS_MAX(idle_ms / 1000, (uint64_t)1);
    int intvl = TS_MIN(TS_MAX(idle / 3, 1), 75), cnt = 3;
    (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPIDLE, &idle, sizeof(idle));
    (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPINTVL, &intvl, sizeof(intvl));
    (void)setsockopt(fd, IPPROTO_TCP, TCP_KEEPCNT, &cnt, sizeof(cnt));
}

/* A peer outside the listener's allow= list: closed at once, unanswered
 * (nothing is read, nothing told), counted. */
static void
listener_deny(struct listener *ls, int fd, const struct sockaddr *from)
{
    char peer[CLIENT_ORIGIN_MAX];
    listener_origin_text(from, peer, sizeof(peer));
    close(fd);
    ls->denied++;
    LOG_RL(LOG_WARN, "denied a connection from %s on %s: not in its allow= list", peer,
           ls->name);
}

static void
on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct listener *ls = container_of(w, struct listener, io);
    struct client_set *cs = ls->clients;
    const struct config *cfg = cs->env.cfg;
    for (int i = 0; i < ACCEPTS_PER_EVENT; i++) {
        struct sockaddr_storage from;
        socklen_t from_len = sizeof(from);
        int fd = accept4(ls->fd, (struct sockaddr *)&from, &from_len,
                         SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR || errno == ECONNABORTED)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                LOG_RL(LOG_ERROR, "accept on %s failed: %s", ls->name, strerror(errno));
            return;
        }
        if (!allow_match(&ls->cfg->allow, (const struct sockaddr *)&from)) {
            listener_deny(ls, fd, (const struct sockaddr *)&from);
            continue;
        }
        if (!cs->env.running(cs->env.ctx)) {
            listener_refuse(ls, fd, "shutting down");
            continue;
        }
        uint64_t open = cs->n - cs->control_only;
        bool control_only = open >= cfg->max_clients;
        if (control_only && cs->control_only >= cfg->control_slots) {
            listener_refuse(ls, fd, "too many connections (max-clients)");
            continue;
        }
        int one = 1;
        (void)setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
        listener_keepalive(fd, cfg->tcp_keepalive_ms);
        char origin[CLIENT_ORIGIN_MAX];
        listener_origin_text((const struct sockaddr *)&from, origin, sizeof(origin));
        struct client *c = client_new(cs, ls->cfg, fd, control_only,
                                      (const struct sockaddr *)&from, from_len, origin);
        if (c == NULL) {
            listener_refuse(ls, fd, "out of memory");
            continue;
        }
        if (control_only)
            g_stats.clients_control_slot++;
        char peer[LOG_PEER_MAX];
        log_debug("client %s (fd %d) accepted on %s%s", log_peer(fd, peer, sizeof(peer)), fd,
                  ls->name, control_only ? " (stats only: max-clients reached)" : "");
    }
}

void
listener_tag(const struct cfg_listen *cfg, char *buf, size_t len)
{
    snprintf(buf, len, "%s_%s", cfg->addr.host, cfg->addr.port);
    for (char *p = buf; *p != '\0'; p++) /* a TSD's tag value: [A-Za-z0-9._/-] */
        if (!((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') ||
              *p == '.' || *p == '-' || *p == '/'))
            *p = '_';
}

void
listener_retarget(struct listener *ls, const struct cfg_listen *cfg)
{
    ls->cfg = cfg;
    snprintf(ls->name, sizeof(ls->name), "%s:%s %s%s", cfg->addr.host, cfg->addr.port,
             config_proto_name(cfg->proto), cfg->tls ? " tls" : "");
    listener_tag(cfg, ls->tag, sizeof(ls->tag));
}

int
listener_open(struct listener *ls, struct client_set *clients, const struct cfg_listen *cfg,
              char *err, size_t errlen)
{
    memset(ls, 0, sizeof(*ls));
    ls->clients = clients;
    ls->cfg = cfg;
    ls->fd = -1;
    listener_retarget(ls, cfg);
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
    ev_io_start(clients->env.loop, &ls->io);
    return TS_OK;
}

void
listener_close(struct listener *ls)
{
    if (ls->fd < 0)
        return;
    ev_io_stop(ls->clients->env.loop, &ls->io);
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
