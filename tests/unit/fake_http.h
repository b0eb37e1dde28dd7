/*
 * fake_http.h -- a scripted HTTP server for the unit tests, in the test
 * process: a loopback listening socket on the test's libev loop that
 * accepts, parses each connection's requests with http-parser (method,
 * target, header lines, body, however they are framed) and records them
 * in arrival order; for each complete request it calls the test's script
 * (on_request), which answers with raw bytes (fhttp_send: buffered and
 * written as the socket takes them), or closes, or stays silent.  It can
 * also stop reading a connection, count what it accepted, and be bound
 * without listening (connections are refused).  With an OpenSSL server
 * context in `tls` it speaks TLS (non-blocking handshake on the loop,
 * then the same script): it counts the handshakes done and failed, can
 * stall them (tls_stall: accepts, never answers), send a session ticket
 * on an idle connection, and end one with close_notify.
 */
#ifndef TS_FAKE_HTTP_H
#define TS_FAKE_HTTP_H

#include <arpa/inet.h>
#include <check.h>
#include <errno.h>
#include <ev.h>
#include <http_parser.h>
#include <netinet/in.h>
#include <openssl/ssl.h>
#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#define FHTTP_CONNS 64
#define FHTTP_REQS 256

struct fhttp;

struct fhttp_req {
    int conn;               /* index of the connection it came on */
    int nth;                /* its place on that connection (0: first) */
    char method[16];
    char target[512];
    char headers[4096];     /* "Name: value\r\n" lines as received */
    size_t headers_len;
    char *body;             /* malloc'd, NUL-terminated */
    size_t body_len;
    bool chunked;
};

struct fhttp_conn {
    struct fhttp *s;
    int idx;
    int fd;                 /* -1 once closed */
    bool eof;               /* the peer closed its side */
    ev_io rio, wio;
    http_parser parser;
    int nreq;               /* requests completed on it */
    struct fhttp_req *cur;  /* being parsed */
    bool in_value;
    char *out;              /* answer bytes not yet written */
    size_t out_len, out_off, out_cap;
    bool close_after;       /* close once out is written */
    SSL *ssl;               /* TLS (the server's tls set) */
    bool hs_done;           /* its handshake is done */
};

struct fhttp {
    struct ev_loop *loop;
    int lfd;
    int port;
    char port_s[8];
    bool listening;
    ev_io lio;
    struct fhttp_conn c[FHTTP_CONNS];
    int naccepted;
    struct fhttp_req reqs[FHTTP_REQS];
    int nreqs;
    /* the script: one complete request; answer it or not */
    void (*on_request)(struct fhttp *s, struct fhttp_conn *c, struct fhttp_req *r);
    void *data;             /* the test's */
    SSL_CTX *tls;           /* set: connections speak TLS (the test owns the context) */
    bool tls_stall;         /* accept, never handshake */
    const char *greeting;   /* set: written to each connection at once, then closed (a
                               server that answers a TLS client in clear) */
    int tls_handshakes;     /* done */
    int tls_failures;       /* failed (the client gave up or was refused) */
};

static void
fhttp_conn_close(struct fhttp_conn *c)
{
    if (c->fd < 0)
        return;
    ev_io_stop(c->s->loop, &c->rio);
    ev_io_stop(c->s->loop, &c->wio);
    if (c->ssl != NULL)
        SSL_free(c->ssl);
    c->ssl = NULL;
    close(c->fd);
    c->fd = -1;
}

/* Bytes out: through TLS when on.  > 0, or -1 with errno (EAGAIN). */
static ssize_t
fhttp_write(struct fhttp_conn *c, const char *p, size_t len)
{
    if (c->ssl == NULL)
        return send(c->fd, p, len, MSG_NOSIGNAL);
    size_t put = 0;
    if (SSL_write_ex(c->ssl, p, len, &put) == 1)
        return (ssize_t)put;
    int e = SSL_get_error(c->ssl, 0);
    errno = e == SSL_ERROR_WANT_WRITE || e == SSL_ERROR_WANT_READ ? EAGAIN : EPIPE;
    return -1;
}

/* Bytes in: > 0, 0 at the end, -1 with errno (EAGAIN). */
static ssize_t
fhttp_read(struct fhttp_conn *c, char *buf, size_t len)
{
    if (c->ssl == NULL)
        return read(c->fd, buf, len);
    size_t got = 0;
    if (SSL_read_ex(c->ssl, buf, len, &got) == 1)
        return (ssize_t)got;
    int e = SSL_get_error(c->ssl, 0);
    if (e == SSL_ERROR_WANT_READ || e == SSL_ERROR_WANT_WRITE) {
        errno = EAGAIN;
        return -1;
    }
    errno = ECONNRESET;
    return e == SSL_ERROR_ZERO_RETURN ? 0 : -1;
}

static void
fhttp_flush(struct fhttp_conn *c)
{
    while (c->fd >= 0 && c->out_off < c->out_len) {
        ssize_t n = fhttp_write(c, c->out + c->out_off, c->out_len - c->out_off);
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            ev_io_start(c->s->loop, &c->wio);
            return;
        }
        if (n < 0) {
            fhttp_conn_close(c);
            return;
        }
        c->out_off += (size_t)n;
    }
    if (c->fd >= 0) {
        ev_io_stop(c->s->loop, &c->wio);
        c->out_off = c->out_len = 0;
        if (c->close_after)
            fhttp_conn_close(c);
    }
}

/* Queues bytes to send on c (written as the socket takes them). */
static void __attribute__((unused))
fhttp_send(struct fhttp_conn *c, const char *data, size_t len)
{
    if (c->fd < 0)
        return;
    if (c->out_cap - c->out_len < len) {
        c->out_cap = (c->out_len + len) * 2;
        c->out = realloc(c->out, c->out_cap);
        ck_assert_ptr_nonnull(c->out);
    }
    memcpy(c->out + c->out_len, data, len);
    c->out_len += len;
    fhttp_flush(c);
}

static void __attribute__((unused))
fhttp_send_str(struct fhttp_conn *c, const char *s)
{
    fhttp_send(c, s, strlen(s));
}

/* "HTTP/1.1 <status> X\r\nContent-Length: n\r\n<extra>\r\n<body>" */
static void __attribute__((unused))
fhttp_answer(struct fhttp_conn *c, int status, const char *extra, const char *body)
{
    char head[1024];
    size_t blen = body ? strlen(body) : 0;
    int n = snprintf(head, sizeof(head), "HTTP/1.1 %d X\r\nContent-Length: %zu\r\n%s\r\n", status,
                     blen, extra ? extra : "");
    fhttp_send(c, head, (size_t)n);
    if (blen > 0)
        fhttp_send(c, body, blen);
}

/* Closes once everything queued is written. */
static void __attribute__((unused))
fhttp_close_after(struct fhttp_conn *c)
{
    c->close_after = true;
    fhttp_flush(c);
}

static bool fhttp_handshake(struct fhttp_conn *c);

static void
fhttp_on_writable(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct fhttp_conn *c = w->data;
    if (c->ssl != NULL && !c->hs_done) {
        ev_io_stop(loop, &c->wio);
        (void)fhttp_handshake(c);
        return;
    }
    fhttp_flush(c);
}

/* One step of the server's handshake: true once it is done. */
static bool
fhttp_handshake(struct fhttp_conn *c)
{
    if (c->s->tls_stall)
        return false;
    int r = SSL_accept(c->ssl);
    if (r == 1) {
        c->hs_done = true;
        c->s->tls_handshakes++;
        return true;
    }
    int e = SSL_get_error(c->ssl, r);
    if (e == SSL_ERROR_WANT_WRITE)
        ev_io_start(c->s->loop, &c->wio);
    if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE) {
        c->s->tls_failures++;
        c->eof = true;
        fhttp_conn_close(c);
    }
    return false;
}

/* A TLS 1.3 session ticket on c now: a record with no data for the
 * client's application. */
static void __attribute__((unused))
fhttp_send_ticket(struct fhttp_conn *c)
{
    ck_assert_int_eq(SSL_new_session_ticket(c->ssl), 1);
    ck_assert_int_eq(SSL_do_handshake(c->ssl), 1);
}

/* Ends connection c as a server's idle timeout does over TLS:
 * close_notify, then the socket closed. */
static void __attribute__((unused))
fhttp_close_notify(struct fhttp_conn *c)
{
    if (c->ssl != NULL)
        (void)SSL_shutdown(c->ssl);
    fhttp_conn_close(c);
}

static struct fhttp_conn *
fhttp_of(http_parser *p)
{
    return p->data;
}

static int
fhttp_on_begin(http_parser *p)
{
    struct fhttp_conn *c = fhttp_of(p);
    struct fhttp *s = c->s;
    ck_assert_int_lt(s->nreqs, FHTTP_REQS);
    c->cur = &s->reqs[s->nreqs++];
    memset(c->cur, 0, sizeof(*c->cur));
    c->cur->conn = c->idx;
    c->cur->nth = c->nreq;
    c->in_value = false;
    return 0;
}

static int
fhttp_on_url(http_parser *p, const char *at, size_t len)
{
    struct fhttp_req *r = fhttp_of(p)->cur;
    size_t have = strlen(r->target);
    ck_assert_uint_lt(have + len, sizeof(r->target));
    memcpy(r->target + have, at, len);
    r->target[have + len] = '\0';
    return 0;
}

static void
fhttp_hdr_add(struct fhttp_req *r, const char *at, size_t len)
{
    ck_assert_uint_lt(r->headers_len + len + 4, sizeof(r->headers));
    memcpy(r->headers + r->headers_len, at, len);
    r->headers_len += len;
    r->headers[r->headers_len] = '\0';
}

static int
fhttp_on_field(http_parser *p, const char *at, size_t len)
{
    struct fhttp_conn *c = fhttp_of(p);
    if (c->in_value)
        fhttp_hdr_add(c->cur, "\r\n", 2);
    c->in_value = false;
    fhttp_hdr_add(c->cur, at, len);
    return 0;
}

static int
fhttp_on_value(http_parser *p, const char *at, size_t len)
{
    struct fhttp_conn *c = fhttp_of(p);
    if (!c->in_value)
        fhttp_hdr_add(c->cur, ": ", 2);
    c->in_value = true;
    fhttp_hdr_add(c->cur, at, len);
    return 0;
}

static int
fhttp_on_headers(http_parser *p)
{
    struct fhttp_conn *c = fhttp_of(p);
    if (c->in_value)
        fhttp_hdr_add(c->cur, "\r\n", 2);
    snprintf(c->cur->method, sizeof(c->cur->method), "%s", http_method_str(p->method));
    c->cur->chunked = (p->flags & F_CHUNKED) != 0;
    c->cur->body = calloc(1, 1);
    return 0;
}

static int
fhttp_on_body(http_parser *p, const char *at, size_t len)
{
    struct fhttp_req *r = fhttp_of(p)->cur;
    r->body = realloc(r->body, r->body_len + len + 1);
    ck_assert_ptr_nonnull(r->body);
    memcpy(r->body + r->body_len, at, len);
    r->body_len += len;
    r->body[r->body_len] = '\0';
    return 0;
}

static int
fhttp_on_complete(http_parser *p)
{
    struct fhttp_conn *c = fhttp_of(p);
    struct fhttp_req *r = c->cur;
    c->nreq++;
    c->cur = NULL;
    if (c->s->on_request != NULL)
        c->s->on_request(c->s, c, r);
    return c->fd < 0 ? -1 : 0;
}

static const http_parser_settings fhttp_settings = {
    .on_message_begin = fhttp_on_begin,
    .on_url = fhttp_on_url,
    .on_header_field = fhttp_on_field,
    .on_header_value = fhttp_on_value,
    .on_headers_complete = fhttp_on_headers,
    .on_body = fhttp_on_body,
    .on_message_complete = fhttp_on_complete,
};

static void
fhttp_on_read(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct fhttp_conn *c = w->data;
    char buf[65536];
    if (c->ssl != NULL && !c->hs_done && !fhttp_handshake(c)) {
        if (c->s->tls_stall) { /* its bytes stay unread; a close shows as EOF */
            char b;
            if (recv(c->fd, &b, 1, MSG_PEEK) == 0) {
                c->eof = true;
                fhttp_conn_close(c);
            } else {
                ev_io_stop(loop, &c->rio);
            }
        }
        return;
    }
    for (;;) {
        ssize_t n = fhttp_read(c, buf, sizeof(buf));
        if (n > 0) {
            size_t k = http_parser_execute(&c->parser, &fhttp_settings, buf, (size_t)n);
            if (c->fd < 0)
                return;
            ck_assert_msg(k == (size_t)n, "fake HTTP server: bad request: %s",
                          http_errno_description(HTTP_PARSER_ERRNO(&c->parser)));
            continue;
        }
        if (n == 0 || (errno != EINTR && errno != EAGAIN && errno != EWOULDBLOCK)) {
            c->eof = true;
            ev_io_stop(c->s->loop, &c->rio);
            if (c->out_off == c->out_len)
                fhttp_conn_close(c);
            return;
        }
        if (errno != EINTR)
            return;
    }
}

/* Stops (or starts again) reading connection c. */
static void __attribute__((unused))
fhttp_reading(struct fhttp_conn *c, bool on)
{
    if (c->fd < 0)
        return;
    if (on)
        ev_io_start(c->s->loop, &c->rio);
    else
        ev_io_stop(c->s->loop, &c->rio);
}

static void
fhttp_on_accept(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)revents;
    struct fhttp *s = w->data;
    for (;;) {
        int fd = accept4(s->lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0)
            return;
        ck_assert_int_lt(s->naccepted, FHTTP_CONNS);
        struct fhttp_conn *c = &s->c[s->naccepted];
        memset(c, 0, sizeof(*c));
        c->s = s;
        c->idx = s->naccepted++;
        c->fd = fd;
        http_parser_init(&c->parser, HTTP_REQUEST);
        c->parser.data = c;
        ev_io_init(&c->rio, fhttp_on_read, fd, EV_READ);
        ev_io_init(&c->wio, fhttp_on_writable, fd, EV_WRITE);
        c->rio.data = c->wio.data = c;
        if (s->greeting != NULL) {
            fhttp_send_str(c, s->greeting);
            fhttp_close_after(c);
            continue;
        }
        if (s->tls != NULL) {
            c->ssl = SSL_new(s->tls);
            ck_assert_ptr_nonnull(c->ssl);
            SSL_set_fd(c->ssl, fd);
            SSL_set_accept_state(c->ssl);
        }
        ev_io_start(loop, &c->rio);
    }
}

static void __attribute__((unused))
fhttp_listen(struct fhttp *s, int backlog)
{
    ck_assert_int_eq(listen(s->lfd, backlog), 0);
    s->listening = true;
    ev_io_init(&s->lio, fhttp_on_accept, s->lfd, EV_READ);
    s->lio.data = s;
    ev_io_start(s->loop, &s->lio);
}

/* Binds 127.0.0.1 on a free port; listens unless told not to. */
static void
fhttp_open(struct fhttp *s, struct ev_loop *loop, bool listening)
{
    memset(s, 0, sizeof(*s));
    s->loop = loop;
    for (int i = 0; i < FHTTP_CONNS; i++)
        s->c[i].fd = -1;
    s->lfd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
    ck_assert_int_ge(s->lfd, 0);
    struct sockaddr_in a = { .sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK) };
    ck_assert_int_eq(bind(s->lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    socklen_t alen = sizeof(a);
    ck_assert_int_eq(getsockname(s->lfd, (struct sockaddr *)&a, &alen), 0);
    s->port = ntohs(a.sin_port);
    snprintf(s->port_s, sizeof(s->port_s), "%d", s->port);
    if (listening)
        fhttp_listen(s, 64);
}

static void
fhttp_free(struct fhttp *s)
{
    if (s->lfd < 0)
        return;
    if (s->listening)
        ev_io_stop(s->loop, &s->lio);
    close(s->lfd);
    s->lfd = -1;
    for (int i = 0; i < s->naccepted; i++) {
        fhttp_conn_close(&s->c[i]);
        free(s->c[i].out);
    }
    for (int i = 0; i < s->nreqs; i++)
        free(s->reqs[i].body);
}

/* Connections open now. */
static int __attribute__((unused))
fhttp_open_conns(const struct fhttp *s)
{
    int n = 0;
    for (int i = 0; i < s->naccepted; i++)
        n += s->c[i].fd >= 0 && !s->c[i].eof;
    return n;
}

#endif
