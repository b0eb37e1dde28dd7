/*
 * resolver.c -- host names to addresses without blocking the loop.
 *
 * c-ares rather than glibc's getaddrinfo_a: c-ares runs on our loop (its
 * sockets are handed to libev through the socket-state callback, its
 * retransmissions through ares_timeout() and a timer), where
 * getaddrinfo_a runs a helper thread per lookup, cannot cancel a lookup in
 * progress, and cannot be pointed at another DNS server than resolv.conf's
 * (the tests need their own, on a loopback port).
 *
 * One lookup at a time per resolver, behind a deadline (resolve-timeout):
 * past it the lookup is cancelled (ares_cancel on the resolver's own
 * channel touches no other owner's lookup) and reported failed.  Each
 * lookup gets a fresh channel, so an edited resolv.conf is read by the
 * next one; the channel of a finished lookup is freed when the next starts
 * or with the resolver, never from inside c-ares' own callback.  The owner
 * hears of a finished lookup after c-ares has returned, from the loop.  It
 * must never block, never keep more than the last answer, never log.
 */
#include "autoconf.h"

#include <ares.h>
#include <arpa/inet.h>
#include <ctype.h>
#include <netdb.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "base/resolver.h"
#include "base/util.h"

#define RES_MAX_SOCKS 16         /* c-ares sockets of one lookup: UDP + TCP per server */
#define RES_MAX_ADDRS 8          /* addresses of an answer kept (rotated over) */
#define RES_SERVERS_MAX 512

enum res_state { RES_IDLE = 0, RES_BUSY, RES_DONE_OK, RES_DONE_FAIL };

struct res_sock {
    ev_io io;
    struct resolver *rs;
    bool used;
};

struct resolver {
    struct ev_loop *loop;
    char servers[RES_SERVERS_MAX];  /* dns-servers, spaces removed; "" = resolv.conf */
    uint64_t timeout_ms;
    ares_channel ch;                /* the current (or last) lookup's channel */
    enum res_state state;
    bool timed_out;                 /* the deadline cancelled the lookup */
    bool notify;                    /* finished inside c-ares: tell the owner after */
    ev_timer ares_timer;            /* c-ares' retransmissions */
    ev_timer deadline;              /* resolve-timeout */
    struct res_sock socks[RES_MAX_SOCKS];
    struct sockaddr_storage addrs[RES_MAX_ADDRS];
    socklen_t addrlens[RES_MAX_ADDRS];
    int naddrs;
    unsigned rotate;                /* which address of an answer to hand out */
    uint16_t port;
    char host[256];                 /* the name being looked up, for messages */
    uint64_t started_ms;
    resolver_done_fn done;
    void *done_ctx;
    char err[512];
    struct resolver_stats st;
};

static bool ares_ready;

/* ---- c-ares on libev --------------------------------------------------- */

static void
arm_ares_timer(struct resolver *rs)
{
    ev_timer_stop(rs->loop, &rs->ares_timer);
    if (rs->ch == NULL || rs->state != RES_BUSY)
        return;
    struct timeval tv;
    struct timeval *tvp = ares_timeout(rs->ch, NULL, &tv);
    if (tvp == NULL)
        return;
    ev_timer_set(&rs->ares_timer, (double)tvp->tv_sec + (double)tvp->tv_usec / 1e6, 0.0);
    ev_timer_start(rs->loop, &rs->ares_timer);
}

/* After every call into c-ares from the loop: its next timeout, and the
 * owner told of a lookup that finished meanwhile (last: it may start the
 * next lookup). */
static void
after_ares(struct resolver *rs)
{
    arm_ares_timer(rs);
    if (rs->notify) {
        rs->notify = false;
        if (rs->done != NULL)
            rs->done(rs->done_ctx);
    }
}

static void
on_sock(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    struct res_sock *s = container_of(w, struct res_sock, io);
    struct resolver *rs = s->rs;
    int fd = w->fd;
    ares_process_fd(rs->ch, (revents & EV_READ) ? fd : ARES_SOCKET_BAD,
                    (revents & EV_WRITE) ? fd : ARES_SOCKET_BAD);
    after_ares(rs);
}

static void
on_ares_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct resolver *rs = container_of(w, struct resolver, ares_timer);
    if (rs->ch != NULL)
        ares_process_fd(rs->ch, ARES_SOCKET_BAD, ARES_SOCKET_BAD);
    after_ares(rs);
}

static void
on_deadline(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)revents;
    struct resolver *rs = container_of(w, struct resolver, deadline);
    if (rs->state == RES_BUSY && rs->ch != NULL) {
        rs->timed_out = true;
        ares_cancel(rs->ch); /* on_addrinfo runs now, with ARES_ECANCELLED */
    }
    after_ares(rs);
}

/* c-ares opens, watches or closes one of its sockets. */
static void
sock_state(void *data, ares_socket_t fd, int readable, int writable)
{
    struct resolver *rs = data;
    struct res_sock *slot = NULL, *spare = NULL;
    for (int i = 0; i < RES_MAX_SOCKS; i++) {
        struct res_sock *s = &rs->socks[i];
        if (s->used && s->io.fd == fd)
            slot = s;
        else if (!s->used && spare == NULL)
            spare = s;
    }
    if (slot != NULL)
        ev_io_stop(rs->loop, &slot->io);
    if (!readable && !writable) {
        if (slot != NULL)
            slot->used = false;
        return;
    }
    if (slot == NULL) {
        if (spare == NULL)
            return; /* unwatched: the deadline ends the lookup */
        slot = spare;
        slot->used = true;
    }
    ev_io_set(&slot->io, fd, (readable ? EV_READ : 0) | (writable ? EV_WRITE : 0));
    ev_io_start(rs->loop, &slot->io);
}

static void
set_port(struct sockaddr_storage *sa, uint16_t port)
{
    if (sa->ss_family == AF_INET)
        ((struct sockaddr_in *)(void *)sa)->sin_port = htons(port);
    else if (sa->ss_family == AF_INET6)
        ((struct sockaddr_in6 *)(void *)sa)->sin6_port = htons(port);
}

static void
on_addrinfo(void *arg, int status, int timeouts, struct ares_addrinfo *res)
{
    (void)timeouts;
    struct resolver *rs = arg;
    if (status == ARES_EDESTRUCTION || rs->state != RES_BUSY) {
        if (res != NULL)
            ares_freeaddrinfo(res);
        return; /* the resolver is going away */
    }
    ev_timer_stop(rs->loop, &rs->deadline);
    rs->naddrs = 0;
    if (status == ARES_SUCCESS && res != NULL) {
        for (struct ares_addrinfo_node *n = res->nodes; n != NULL && rs->naddrs < RES_MAX_ADDRS;
             n = n->ai_next) {
            if ((n->ai_family != AF_INET && n->ai_family != AF_INET6) ||
                n->ai_addrlen > sizeof(rs->addrs[0]))
                continue;
            memcpy(&rs->addrs[rs->naddrs], n->ai_addr, n->ai_addrlen);
            rs->addrlens[rs->naddrs] = (socklen_t)n->ai_addrlen;
            set_port(&rs->addrs[rs->naddrs], rs->port);
            rs->naddrs++;
        }
    }
    if (res != NULL)
        ares_freeaddrinfo(res);
    uint64_t now = ts_now_ms();
    rs->st.last_ms = now > rs->started_ms ? now - rs->started_ms : 0;
    if (rs->naddrs > 0) {
        rs->state = RES_DONE_OK;
        rs->err[0] = '\0';
    } else {
        rs->state = RES_DONE_FAIL;
        rs->st.failures++;
        if (rs->timed_out) {
            rs->st.timeouts++;
            snprintf(rs->err, sizeof(rs->err),
                     "cannot resolve %.200s: no answer within resolve-timeout (%llu ms)", rs->host,
                     (unsigned long long)rs->timeout_ms);
        } else if (status == ARES_SUCCESS) {
            snprintf(rs->err, sizeof(rs->err), "cannot resolve %.200s: no IPv4 or IPv6 address",
                     rs->host);
        } else {
            snprintf(rs->err, sizeof(rs->err), "cannot resolve %.200s: %s", rs->host,
                     ares_strerror(status));
        }
    }
    rs->notify = true;
}

/* ---- lookups ----------------------------------------------------------- */

/* Frees the channel (never from inside c-ares) and forgets its sockets,
 * whether or not c-ares reported closing them. */
static void
drop_channel(struct resolver *rs)
{
    if (rs->ch != NULL) {
        ares_channel ch = rs->ch;
        rs->state = RES_IDLE; /* on_addrinfo ignores what destruction reports */
        ares_destroy(ch);
        rs->ch = NULL;
    }
    for (int i = 0; i < RES_MAX_SOCKS; i++) {
        ev_io_stop(rs->loop, &rs->socks[i].io);
        rs->socks[i].used = false;
    }
}

static int
numeric(const char *host, const char *port, struct sockaddr_storage *out, socklen_t *outlen)
{
    struct addrinfo hints = { .ai_flags = AI_NUMERICHOST | AI_NUMERICSERV,
                              .ai_family = AF_UNSPEC,
                              .ai_socktype = SOCK_STREAM };
    struct addrinfo *res = NULL;
    if (getaddrinfo(host, port, &hints, &res) != 0 || res == NULL)
        return TS_ERROR;
    int rc = TS_ERROR;
    if (res->ai_addrlen <= sizeof(*out)) {
        memset(out, 0, sizeof(*out));
        memcpy(out, res->ai_addr, res->ai_addrlen);
        *outlen = res->ai_addrlen;
        rc = TS_OK;
    }
    freeaddrinfo(res);
    return rc;
}

bool
resolver_is_numeric(const char *host)
{
    struct sockaddr_storage sa;
    socklen_t len;
    return numeric(host, "1", &sa, &len) == TS_OK;
}

static int
new_channel(struct resolver *rs)
{
    if (!ares_ready) {
        int rc = ares_library_init(ARES_LIB_INIT_ALL);
        if (rc != ARES_SUCCESS) {
            snprintf(rs->err, sizeof(rs->err), "cannot resolve %.200s: c-ares: %s", rs->host,
                     ares_strerror(rc));
            return TS_ERROR;
        }
        ares_ready = true;
    }
    struct ares_options o;
    memset(&o, 0, sizeof(o));
    o.sock_state_cb = sock_state;
    o.sock_state_cb_data = rs;
    /* retransmit within the deadline: c-ares doubles the wait each round */
    o.timeout = (int)TS_MIN(TS_MAX(rs->timeout_ms / 4, 100), 2000);
    o.tries = 3;
    int rc = ares_init_options(&rs->ch, &o,
                               ARES_OPT_SOCK_STATE_CB | ARES_OPT_TIMEOUTMS | ARES_OPT_TRIES);
    if (rc != ARES_SUCCESS) {
        rs->ch = NULL;
        snprintf(rs->err, sizeof(rs->err), "cannot resolve %.200s: c-ares: %s", rs->host,
                 ares_strerror(rc));
        return TS_ERROR;
    }
    if (rs->servers[0] != '\0') {
        rc = ares_set_servers_ports_csv(rs->ch, rs->servers);
        if (rc != ARES_SUCCESS) {
            snprintf(rs->err, sizeof(rs->err), "cannot resolve %.200s: dns-servers '%.200s': %s",
                     rs->host, rs->servers, ares_strerror(rc));
            ares_destroy(rs->ch);
            rs->ch = NULL;
            return TS_ERROR;
        }
    }
    return TS_OK;
}

static int
parse_port(const char *port, uint16_t *out)
{
    unsigned long p = 0;
    if (port == NULL || *port == '\0')
        return TS_ERROR;
    for (const char *c = port; *c; c++) {
        if (!isdigit((unsigned char)*c) || p > 65535)
            return TS_ERROR;
        p = p * 10 + (unsigned long)(*c - '0');
    }
    if (p == 0 || p > 65535)
        return TS_ERROR;
    *out = (uint16_t)p;
    return TS_OK;
}

int
resolver_lookup(struct resolver *rs, const char *host, const char *port,
                struct sockaddr_storage *out, socklen_t *outlen)
{
    switch (rs->state) {
    case RES_BUSY:
        return TS_EAGAIN;
    case RES_DONE_OK: {
        int k = (int)(rs->rotate++ % (unsigned)rs->naddrs);
        memset(out, 0, sizeof(*out));
        memcpy(out, &rs->addrs[k], rs->addrlens[k]);
        *outlen = rs->addrlens[k];
        rs->state = RES_IDLE;
        return TS_OK;
    }
    case RES_DONE_FAIL:
        rs->state = RES_IDLE;
        return TS_ERROR;
    case RES_IDLE:
        break;
    }
    if (numeric(host, port, out, outlen) == TS_OK) {
        rs->err[0] = '\0';
        return TS_OK;
    }
    snprintf(rs->host, sizeof(rs->host), "%s", host);
    if (parse_port(port, &rs->port) != TS_OK) {
        snprintf(rs->err, sizeof(rs->err), "port '%s' is not a number", port ? port : "");
        return TS_ERROR;
    }
    /* a fresh channel per lookup: resolv.conf as it is now */
    drop_channel(rs);
    rs->st.lookups++;
    if (new_channel(rs) != TS_OK) {
        rs->st.failures++;
        return TS_ERROR;
    }
    rs->state = RES_BUSY;
    rs->timed_out = false;
    rs->notify = false;
    rs->naddrs = 0;
    rs->err[0] = '\0';
    rs->started_ms = ts_now_ms();
    ev_timer_set(&rs->deadline, (double)rs->timeout_ms / 1000.0, 0.0);
    ev_timer_start(rs->loop, &rs->deadline);
    struct ares_addrinfo_hints hints = { .ai_flags = 0, .ai_family = AF_UNSPEC,
                                         .ai_socktype = SOCK_STREAM,
                                         .ai_protocol = IPPROTO_TCP };
    ares_getaddrinfo(rs->ch, host, NULL, &hints, on_addrinfo, rs);
    if (rs->state != RES_BUSY) {
        /* answered at once (the hosts file, a bad name): no callback */
        rs->notify = false;
        ev_timer_stop(rs->loop, &rs->deadline);
        return resolver_lookup(rs, host, port, out, outlen);
    }
    arm_ares_timer(rs);
    return TS_EAGAIN;
}

bool
resolver_busy(const struct resolver *rs)
{
    return rs->state == RES_BUSY;
}

const char *
resolver_error(const struct resolver *rs)
{
    return rs->err;
}

const struct resolver_stats *
resolver_get_stats(const struct resolver *rs)
{
    return &rs->st;
}

/* ---- life -------------------------------------------------------------- */

struct resolver *
resolver_new(struct ev_loop *loop, const struct resolver_opts *opts)
{
    struct resolver *rs = calloc(1, sizeof(*rs));
    if (rs == NULL)
        return NULL;
    rs->loop = loop;
    rs->timeout_ms = opts->timeout_ms ? opts->timeout_ms : 5000;
    size_t k = 0;
    for (const char *c = opts->servers ? opts->servers : ""; *c && k + 1 < sizeof(rs->servers);
         c++)
        if (*c != ' ' && *c != '\t')
            rs->servers[k++] = *c;
    rs->servers[k] = '\0';
    ev_timer_init(&rs->ares_timer, on_ares_timer, 1.0, 0.0);
    ev_timer_init(&rs->deadline, on_deadline, 1.0, 0.0);
    for (int i = 0; i < RES_MAX_SOCKS; i++) {
        ev_io_init(&rs->socks[i].io, on_sock, -1, EV_READ);
        rs->socks[i].rs = rs;
    }
    return rs;
}

void
resolver_set_done(struct resolver *rs, resolver_done_fn fn, void *ctx)
{
    rs->done = fn;
    rs->done_ctx = ctx;
}

void
resolver_free(struct resolver *rs)
{
    if (rs == NULL)
        return;
    rs->done = NULL;
    ev_timer_stop(rs->loop, &rs->ares_timer);
    ev_timer_stop(rs->loop, &rs->deadline);
    drop_channel(rs);
    free(rs);
}

/* ---- helpers ----------------------------------------------------------- */

int
resolver_format(const struct sockaddr_storage *sa, char *buf, size_t cap, int *port)
{
    const void *a;
    if (sa->ss_family == AF_INET) {
        const struct sockaddr_in *s4 = (const struct sockaddr_in *)(const void *)sa;
        a = &s4->sin_addr;
        *port = ntohs(s4->sin_port);
    } else if (sa->ss_family == AF_INET6) {
        const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)(const void *)sa;
        a = &s6->sin6_addr;
        *port = ntohs(s6->sin6_port);
    } else {
        return TS_ERROR;
    }
    return inet_ntop(sa->ss_family, a, buf, (socklen_t)cap) != NULL ? TS_OK : TS_ERROR;
}

/* One "IP", "IP:PORT", "[IPv6]" or "[IPv6]:PORT" (spaces trimmed). */
static int
check_server(const char *s, size_t len, char *err, size_t errlen)
{
    char item[128], host[INET6_ADDRSTRLEN + 1];
    while (len > 0 && (*s == ' ' || *s == '\t')) {
        s++;
        len--;
    }
    while (len > 0 && (s[len - 1] == ' ' || s[len - 1] == '\t'))
        len--;
    if (len == 0 || len >= sizeof(item)) {
        snprintf(err, errlen, "an empty or overlong entry");
        return TS_ERROR;
    }
    memcpy(item, s, len);
    item[len] = '\0';
    const char *port = NULL;
    size_t hlen;
    const char *h = item;
    if (item[0] == '[') {
        const char *rb = strchr(item, ']');
        if (rb == NULL || (rb[1] != '\0' && rb[1] != ':')) {
            snprintf(err, errlen, "'%s' is not [IPv6] or [IPv6]:PORT", item);
            return TS_ERROR;
        }
        h = item + 1;
        hlen = (size_t)(rb - h);
        port = rb[1] == ':' ? rb + 2 : NULL;
    } else {
        const char *colon = strchr(item, ':');
        if (colon != NULL && strchr(colon + 1, ':') != NULL) {
            hlen = len; /* a bare IPv6 address */
        } else {
            hlen = colon ? (size_t)(colon - item) : len;
            port = colon ? colon + 1 : NULL;
        }
    }
    if (hlen == 0 || hlen >= sizeof(host)) {
        snprintf(err, errlen, "'%s' is not an IP address", item);
        return TS_ERROR;
    }
    memcpy(host, h, hlen);
    host[hlen] = '\0';
    unsigned char buf[sizeof(struct in6_addr)];
    if (inet_pton(AF_INET, host, buf) != 1 && inet_pton(AF_INET6, host, buf) != 1) {
        snprintf(err, errlen, "'%s' is not an IP address (DNS servers are given by address)",
                 host);
        return TS_ERROR;
    }
    uint16_t p;
    if (port != NULL && parse_port(port, &p) != TS_OK) {
        snprintf(err, errlen, "'%s': the port is not 1 to 65535", item);
        return TS_ERROR;
    }
    return TS_OK;
}

int
resolver_check_servers(const char *list, int max, char *err, size_t errlen)
{
    int n = 0;
    const char *p = list;
    while (*p == ' ' || *p == '\t')
        p++;
    if (*p == '\0')
        return TS_OK;
    for (;;) {
        const char *comma = strchr(p, ',');
        size_t len = comma ? (size_t)(comma - p) : strlen(p);
        if (check_server(p, len, err, errlen) != TS_OK)
            return TS_ERROR;
        if (++n > max) {
            snprintf(err, errlen, "more than %d servers", max);
            return TS_ERROR;
        }
        if (comma == NULL)
            return TS_OK;
        p = comma + 1;
    }
}
