/*
 * fake_tsd.h -- a scripted TSD for the unit tests, in the test process:
 * a loopback listening socket on the test's libev loop that accepts,
 * keeps every byte each connection sent (in accept order), answers
 * `version` lines like OpenTSDB when told to (all of them, or only the
 * first max_answers: the later ones are lost), and rejects lines that
 * start with "put bad" with an error line.  It can be bound without
 * listening (connections are refused) and listen later, stop reading, or
 * close a connection from its side.  With `auth` set it authenticates as
 * OpenTSDB's AuthenticationChannelHandler does: the first line of a
 * connection is the auth line, answered auth_reply when it matches (NULL:
 * no answer at all) and "AUTH_FAIL\r\n" when it does not; the connection
 * stays open either way (the TSD lets a client try again).
 */
#ifndef TS_FAKE_TSD_H
#define TS_FAKE_TSD_H

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <ev.h>
#include <netinet/in.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define TSD_CONNS 32
#define TSD_VERSION_REPLY "net.opentsdb.tools.BuildData built at revision 0000000 (MODIFIED)\n" \
                          "Built on 2024/01/01 00:00:00 +0000 by test on localhost\n"

struct tsd;

struct tsd_conn {
    struct tsd *t;
    int fd;                 /* -1 once closed */
    bool eof;               /* the peer closed it */
    ev_io io;
    char *buf;
    size_t len, cap;
    size_t scanned;         /* complete lines looked at for replies */
    bool authed;            /* auth: the first line matched */
    size_t skip;            /* auth: the first line's bytes, not data */
};

struct tsd {
    struct ev_loop *loop;
    int lfd;
    int port;
    char port_s[8];
    bool listening;
    ev_io lio;
    struct tsd_conn c[TSD_CONNS];
    int naccepted;
    bool answer_versions;   /* reply to "version" (ack = version) */
    unsigned max_answers;   /* > 0: no more replies than this in all */
    unsigned answered;      /* replies to "version" written */
    const char *auth;       /* the auth line expected first, NULL: none */
    const char *auth_reply; /* the answer to it ("AUTH_SUCCESS\r\n"), NULL: none */
    unsigned auth_matched, auth_mismatched;
    unsigned data_before_auth; /* lines after a first line that did not authenticate */
};

static void
tsd_conn_close(struct tsd_conn *c)
{
    if (c->fd < 0)
        return;
    ev_io_stop(c->t->loop, &c->io);
    close(c->fd);
    c->fd = -1;
}

static void
tsd_reply(struct tsd_conn *c, const char *s)
{
    size_t n = strlen(s);
    if (write(c->fd, s, n) != (ssize_t)n)
        ck_abort_msg("fake TSD: reply not written whole");
}

/* Replies to the lines completed since the last look. */
static void
tsd_scan(struct tsd_conn *c)
{
    for (;;) {
        char *nl = memchr(c->buf + c->scanned, '\n', c->len - c->scanned);
        if (nl == NULL)
            return;
        const char *line = c->buf + c->scanned;
        size_t len = (size_t)(nl - line);
        bool first = c->scanned == 0;
        c->scanned += len + 1;
        if (c->t->auth != NULL && first) {
            struct tsd *t = c->t;
            c->skip = len + 1;
            if (len == strlen(t->auth) && memcmp(line, t->auth, len) == 0) {
                t->auth_matched++;
                c->authed = t->auth_reply != NULL && strncmp(t->auth_reply, "AUTH_SUCCESS", 12) == 0;
                if (t->auth_reply != NULL)
                    tsd_reply(c, t->auth_reply);
            } else {
                t->auth_mismatched++;
                tsd_reply(c, "AUTH_FAIL\r\n");
            }
            continue;
        }
        if (c->t->auth != NULL && !c->authed)
            c->t->data_before_auth++;
        if (len == 7 && memcmp(line, "version", 7) == 0) {
            struct tsd *t = c->t;
            if (t->answer_versions && (t->max_answers == 0 || t->answered < t->max_answers)) {
                tsd_reply(c, TSD_VERSION_REPLY);
                t->answered++;
            }
        } else if (len >= 7 && memcmp(line, "put bad", 7) == 0) {
            tsd_reply(c, "put: illegal argument: a bad line\n");
        }
    }
}

static void
tsd_on_read(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct tsd_conn *c = w->data;
    for (;;) {
        if (c->cap - c->len < 65536) {
            c->cap = c->cap * 2 + 65536;
            c->buf = realloc(c->buf, c->cap);
            ck_assert_ptr_nonnull(c->buf);
        }
        ssize_t n = read(c->fd, c->buf + c->len, c->cap - c->len);
        if (n > 0) {
            c->len += (size_t)n;
            continue;
        }
        if (n == 0) {
            c->eof = true;
            tsd_conn_close(c);
            return;
        }
        if (errno == EINTR)
            continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) {
            c->eof = true;
            tsd_conn_close(c);
            return;
        }
        break;
    }
    tsd_scan(c);
}

static void
tsd_on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    struct tsd *t = w->data;
    for (;;) {
        int fd = accept4(t->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        ck_assert_int_lt(t->naccepted, TSD_CONNS);
        struct tsd_conn *c = &t->c[t->naccepted++];
        c->t = t;
        c->fd = fd;
        ev_io_init(&c->io, tsd_on_read, fd, EV_READ);
        c->io.data = c;
        ev_io_start(loop, &c->io);
    }
}

/* Starts accepting (a bound socket). */
static void
tsd_listen(struct tsd *t)
{
    ck_assert_int_eq(listen(t->lfd, 64), 0);
    t->listening = true;
    ev_io_init(&t->lio, tsd_on_accept, t->lfd, EV_READ);
    t->lio.data = t;
    ev_io_start(t->loop, &t->lio);
}

/* Binds 127.0.0.1 on a free port; listens unless told not to (then
 * connections to it are refused until tsd_listen). */
static void
tsd_open(struct tsd *t, struct ev_loop *loop, bool listening)
{
    memset(t, 0, sizeof(*t));
    t->loop = loop;
    for (int i = 0; i < TSD_CONNS; i++)
        t->c[i].fd = -1;
    t->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(t->lfd, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    ck_assert_int_eq(bind(t->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t alen = sizeof(a);
    ck_assert_int_eq(getsockname(t->lfd, (struct sockaddr *)&a, &alen), 0);
    t->port = ntohs(a.sin_port);
    snprintf(t->port_s, sizeof(t->port_s), "%d", t->port);
    if (listening)
        tsd_listen(t);
}

static void
tsd_free(struct tsd *t)
{
    if (t->lfd < 0)
        return;
    if (t->listening)
        ev_io_stop(t->loop, &t->lio);
    close(t->lfd);
    t->lfd = -1;
    for (int i = 0; i < TSD_CONNS; i++) {
        tsd_conn_close(&t->c[i]);
        free(t->c[i].buf);
        t->c[i].buf = NULL;
    }
}

/* Connections open now. */
static int __attribute__((unused))
tsd_open_conns(const struct tsd *t)
{
    int n = 0;
    for (int i = 0; i < t->naccepted; i++)
        n += t->c[i].fd >= 0;
    return n;
}

/* The data lines (not "version") received on connection i, or on all of
 * them in accept order (i < 0), into out (NUL-terminated); returns the
 * number of lines. */
static size_t
tsd_data(const struct tsd *t, int i, char *out, size_t cap, size_t *outlen)
{
    size_t n = 0, o = 0;
    for (int k = i < 0 ? 0 : i; k < (i < 0 ? t->naccepted : i + 1); k++) {
        const struct tsd_conn *c = &t->c[k];
        size_t off = c->skip; /* the auth line is no data */
        while (off < c->len) {
            const char *nl = memchr(c->buf + off, '\n', c->len - off);
            if (nl == NULL)
                break;
            size_t len = (size_t)(nl - (c->buf + off)) + 1;
            if (!(len == 8 && memcmp(c->buf + off, "version\n", 8) == 0)) {
                if (out != NULL) {
                    ck_assert_uint_lt(o + len, cap);
                    memcpy(out + o, c->buf + off, len);
                }
                o += len;
                n++;
            }
            off += len;
        }
    }
    if (out != NULL)
        out[o] = '\0';
    if (outlen != NULL)
        *outlen = o;
    return n;
}

static size_t
tsd_lines(const struct tsd *t)
{
    return tsd_data(t, -1, NULL, 0, NULL);
}

/* "version" lines received on all connections. */
static size_t
tsd_versions(const struct tsd *t)
{
    size_t n = 0;
    for (int k = 0; k < t->naccepted; k++) {
        const struct tsd_conn *c = &t->c[k];
        for (size_t off = 0; off + 8 <= c->len;) {
            const char *nl = memchr(c->buf + off, '\n', c->len - off);
            if (nl == NULL)
                break;
            size_t len = (size_t)(nl - (c->buf + off)) + 1;
            n += len == 8 && memcmp(c->buf + off, "version\n", 8) == 0;
            off += len;
        }
    }
    return n;
}

/* The data lines received on connection i before its k-th "version"
 * line (k >= 1); fails the test when there are fewer than k. */
static size_t __attribute__((unused))
tsd_lines_before_version(const struct tsd *t, int i, unsigned k)
{
    const struct tsd_conn *c = &t->c[i];
    size_t n = 0;
    unsigned seen = 0;
    for (size_t off = 0; off < c->len;) {
        const char *nl = memchr(c->buf + off, '\n', c->len - off);
        if (nl == NULL)
            break;
        size_t len = (size_t)(nl - (c->buf + off)) + 1;
        if (len == 8 && memcmp(c->buf + off, "version\n", 8) == 0) {
            if (++seen == k)
                return n;
        } else {
            n++;
        }
        off += len;
    }
    ck_abort_msg("fake TSD: connection %d got %u version lines, not %u", i, seen, k);
    return 0;
}

#endif
