/*
 * client.c -- accepted client connections.
 *
 * Reading.  A client holds either nothing, a small partial unit inline, or
 * a buffer admitted for its unit.  With nothing admitted it reads into the
 * shared scratch buffer and decodes in place.  When memory is plentiful
 * (nobody waits, the input class and the queues have room for the worst a
 * read can bring) that is a plain read.  Otherwise it is a peek: complete
 * units are decoded from the peeked bytes and only they are taken off the
 * socket; an incomplete unit stays in the kernel (or moves inline when it
 * is small) until the admission line grants memory for all of it.  A
 * client with an admitted buffer reads into it, and never past its unit
 * when others wait.  A decoder that finds no room in the queues stops at
 * the point it could not place; the client parks in the room line and
 * carries on from there when resumed.  So a waiting client holds nothing
 * it was not granted, and a granted unit always completes.
 *
 * Decoding is protocol.c's, the memory of a unit admitted.c's, and the
 * replies reply.c's: here they are written when the socket takes them, and
 * a client that is done lingers until its peer has read them.  Deadlines:
 * idle-timeout without reads (off by default: a quiet client is kept, as
 * a TSD keeps it, and a vanished one is found by TCP keepalive,
 * tcp-keepalive), read-timeout for a partial unit being read; neither
 * runs while the client waits for us.
 */
#include "autoconf.h"

#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <unistd.h>

#include "input/admitted.h"
#include "input/client.h"
#include "input/frameack.h"
#include "input/protocol.h"
#include "input/reply.h"
#include "input/transport.h"
#include "input/syncwait.h"
#include "base/log.h"
#include "base/pool.h"
#include "base/counters.h"
#include "base/util.h"

#define READS_PER_EVENT 8
#define LINGER_SECONDS 2.0
/* A stats-only slot is given back after this long without a request, so
 * silent connections cannot keep the relay's stats out of reach. */
#define CONTROL_SLOT_IDLE_SECONDS 2.0

enum step { STEP_AGAIN = 0, STEP_IDLE, STEP_WAIT, STEP_CLOSED };

/* ---- writing ----------------------------------------------------------- */

static void begin_linger(struct client *c);

/* Writes what is pending.  false when the client was closed. */
static bool
write_now(struct client *c)
{
    if (c->write_failed) {
        client_close(c, "write failed");
        return false;
    }
    switch (reply_send(c)) {
    case REPLY_PENDING:
        ev_io_start(conn_loop(c), &c->wio);
        return true;
    case REPLY_FAILED:
        client_close(c, "write failed");
        return false;
    case REPLY_SENT:
        break;
    }
    ev_io_stop(conn_loop(c), &c->wio);
    reply_release(c);
    if (c->stream_blocked) { /* a passed answer goes on (and may block again) */
        c->stream_blocked = false;
        if (c->http != NULL)
            http_writable(c->http);
        if (c->write_failed) {
            client_close(c, "write failed");
            return false;
        }
    }
    if (c->close_after_write && !c->lingering && !c->stream_blocked)
        begin_linger(c);
    return true;
}

static void client_handshake(struct client *c);
static void client_tls_next(struct client_set *cs);

static void
client_on_writable(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct client *c = container_of(w, struct client, wio);
    if (c->tls.handshaking)
        client_handshake(c);
    else
        write_now(c);
}

/* ---- reading ----------------------------------------------------------- */

/* Bytes a unit of the client's protocol may need when its size is not
 * known yet (a telnet line still without its newline). */
static size_t
unit_bound(struct client *c)
{
    const struct config *cfg = c->set->env.cfg;
    if (c->proto == PROTO_FRAMED)
        return 4 + (size_t)cfg->max_frame_bytes;
    return (size_t)cfg->max_line_bytes + 2;
}

/* Whether this read must peek: somebody waits, or the input class or the
 * queues lack room for the worst one read can leave behind. */
static bool
pressured(struct client *c)
{
    struct client_set *cs = c->set;
    struct admission *a = cs->env.adm;
    struct pool *p = cs->env.pool;
    if (c->proto == PROTO_AUTO || c->proto == PROTO_HTTP || c->control_only)
        return true;
    if (a->nwaiting > 0 || a->nroom > 0)
        return true;
    size_t hold = cs->scratch_cap + admitted_size(c, unit_bound(c)) +
                  (size_t)cs->env.cfg->max_reply_bytes;
    return pool_avail(p, POOL_INPUT) < hold || pool_avail(p, POOL_QUEUE) < cs->env.read_out_bound;
}

static void
stop_reading(struct client *c)
{
    ev_io_stop(conn_loop(c), &c->rio);
}

/* Waits for room in the queues: resumed by client_admission_poll. */
static int
park_room(struct client *c)
{
    stop_reading(c);
    c->room_wait = true;
    c->last_activity = ev_now(conn_loop(c));
    admission_wait_room(c->set->env.adm, &c->adm, c->last_activity);
    return STEP_WAIT;
}

static int flush_replies(struct client *c, int go);

/* A ?sync request waits for its proofs: nothing more is read (what the
 * peek left stays in the socket) until syncwait.c wakes the client. */
static int
park_sync(struct client *c)
{
    stop_reading(c);
    c->sync_parked = true;
    c->last_activity = ev_now(conn_loop(c));
    return flush_replies(c, STEP_WAIT);
}

/* Waits for input memory (the ticket is in line already). */
static int
park_input(struct client *c)
{
    stop_reading(c);
    c->room_wait = false;
    c->last_activity = ev_now(conn_loop(c));
    return STEP_WAIT;
}

/* Takes n bytes off the socket that a peek already showed.  false: closed. */
static bool
discard(struct client *c, size_t n)
{
    while (n > 0) {
        ssize_t k = transport_discard(c, n);
        if (k < 0 && errno == EINTR)
            continue;
        if (k <= 0) {
            client_close(c, "read failed");
            return false;
        }
        n -= (size_t)k;
    }
    return true;
}

static void
note_read(struct client *c, size_t n)
{
    if (c->proto != PROTO_AUTO)
        conn_stats(c)->bytes_in += n;
    c->last_activity = ev_now(conn_loop(c));
    if (c->http != NULL && http_passing(c->http))
        c->partial_since = c->last_activity; /* a passed body's deadline is for no progress */
}

/* After decoding: replies to write, a close to begin.  STEP_CLOSED when
 * the client is gone, STEP_WAIT when it is closing, else `go`. */
static int
flush_replies(struct client *c, int go)
{
    if (c->out_len > c->out_off || c->close_after_write) {
        if (!write_now(c))
            return STEP_CLOSED;
        if (c->close_after_write)
            return STEP_WAIT;
    }
    return go;
}

static void
set_partial(struct client *c, bool partial)
{
    if (!partial)
        c->partial_since = 0;
    else if (c->partial_since == 0)
        c->partial_since = ev_now(conn_loop(c));
}

/* Decodes with the batch bracket the relay needs (routing facts, latency). */
static size_t
decode_batch(struct client *c, const char *buf, size_t len)
{
    struct client_env *env = &c->set->env;
    env->batch(env->ctx, ts_now_ns());
    size_t n = protocol_decode(c, buf, len);
    env->batch(env->ctx, 0);
    return n;
}

/* recv into buf: *got > 0 when bytes came (STEP_AGAIN); otherwise the
 * step to return -- closed at EOF or on an error, idle when nothing waits,
 * again after a signal. */
static int
recv_into(struct client *c, char *buf, size_t room, bool peek, size_t *got)
{
    *got = 0;
    ssize_t n = transport_recv(c, buf, room, peek);
    if (n > 0) {
        *got = (size_t)n;
        return STEP_AGAIN;
    }
    if (n == 0) {
        client_close(c, NULL);
        return STEP_CLOSED;
    }
    if (errno == EINTR)
        return STEP_AGAIN;
    if (errno != EAGAIN && errno != EWOULDBLOCK) {
        client_close(c, "read failed");
        return STEP_CLOSED;
    }
    return STEP_IDLE;
}

/* Holding an admitted buffer: decode what it has, then read into it. */
static int
step_unit(struct client *c)
{
    if (c->ub_len > c->ub_off) {
        size_t n = decode_batch(c, c->ub + c->ub_off, c->ub_len - c->ub_off);
        c->ub_off += n;
        if (c->blocked)
            return park_room(c);
        int go = flush_replies(c, STEP_AGAIN);
        if (go != STEP_AGAIN)
            return go;
        size_t rest = c->ub_len - c->ub_off;
        memmove(c->ub, c->ub + c->ub_off, rest);
        c->ub_len = rest;
        c->ub_off = 0;
        /* back inline only after progress: a unit just granted holds the
         * inline bytes it was granted for (its rest still in the socket),
         * and giving it back undecoded would ask for it again at once */
        bool small = n > 0 && rest <= CLIENT_INLINE &&
                     (c->need == 0 ? c->proto == PROTO_TELNET : c->need <= CLIENT_INLINE);
        if (rest == 0 || small) {
            memcpy(c->inl, c->ub, rest);
            c->inl_len = rest;
            admitted_release_unit(c);
            set_partial(c, rest > 0);
            return STEP_AGAIN;
        }
    }
    set_partial(c, true);
    size_t room = c->ub_cap - c->ub_len;
    if (c->proto == PROTO_FRAMED && c->need > c->ub_len)
        room = TS_MIN(room, c->need - c->ub_len); /* never past the frame */
    TS_ASSERT(room > 0); /* units fit what was admitted for them */
    if (room == 0) {
        client_close(c, "input unit exceeds its buffer");
        return STEP_CLOSED;
    }
    bool peek = c->proto == PROTO_TELNET && pressured(c);
    size_t got;
    int st = recv_into(c, c->ub + c->ub_len, room, peek, &got);
    if (got == 0)
        return st;
    if (peek) {
        /* others wait: take this line only, then give the memory back */
        const char *nl = memchr(c->ub + c->ub_len, '\n', got);
        if (nl != NULL)
            got = (size_t)(nl - (c->ub + c->ub_len)) + 1;
        if (!discard(c, got))
            return STEP_CLOSED;
    }
    c->ub_len += got;
    note_read(c, got);
    return STEP_AGAIN;
}

/* A passed HTTP request waits for its answer or for room for its body:
 * no reading until its wake (protocol.c). */
static int
park_pass(struct client *c)
{
    int go = flush_replies(c, STEP_WAIT);
    if (go == STEP_CLOSED || !c->pass_wait)
        return go;
    stop_reading(c);
    c->last_activity = ev_now(conn_loop(c));
    return STEP_WAIT;
}

/* An HTTP request that stopped carries on before anything new is read:
 * its body may be all in already.  STEP_AGAIN when it no longer waits. */
static int
resume_http(struct client *c)
{
    enum http_state st;
    http_feed(c->http, "", 0, &st);
    if (st == HTTP_WAIT_ROOM)
        return park_room(c);
    if (st == HTTP_WAIT_PASS) {
        c->pass_wait = true;
        return park_pass(c);
    }
    if (st == HTTP_WAIT_SYNC)
        return park_sync(c);
    if (st == HTTP_CLOSE)
        c->close_after_write = true;
    int go = flush_replies(c, STEP_AGAIN);
    if (go != STEP_AGAIN)
        return go;
    if (st == HTTP_WAIT_BODY)
        return c->adm.waiting ? park_input(c) : STEP_AGAIN;
    return STEP_AGAIN;
}

/* One read at a unit boundary: into the scratch buffer, after the
 * client's inline bytes. */
struct boundary_read {
    char *buf;       /* the scratch buffer: the inline bytes, then the read */
    size_t inl;      /* inline bytes at its start */
    size_t room;     /* what the read could take */
    size_t got;      /* what it took */
    size_t used;     /* decoded from buf */
    bool peek;       /* the bytes read are still in the socket */
};

/* Bytes of the buffer the decoder left. */
static size_t
boundary_rest(const struct boundary_read *r)
{
    return r->inl + r->got - r->used;
}

/* A read that filled its room may have left more in the socket. */
static int
more_or_idle(const struct boundary_read *r)
{
    return r->got == r->room ? STEP_AGAIN : STEP_IDLE;
}

/* Reads (or peeks, when pressured) after the inline bytes.  r->got > 0
 * when bytes came; otherwise the step to return. */
static int
read_at_boundary(struct client *c, struct boundary_read *r)
{
    struct client_set *cs = c->set;
    r->buf = cs->scratch;
    r->inl = c->inl_len;
    memcpy(r->buf, c->inl, r->inl);
    r->room = cs->scratch_cap - r->inl;
    r->peek = pressured(c);
    r->used = 0;
    int st = recv_into(c, r->buf + r->inl, r->room, r->peek, &r->got);
    if (r->got > 0 && !r->peek) {
        c->inl_len = 0;
        note_read(c, r->got);
    }
    return st;
}

/* After a peek: takes off the socket what was decoded (the inline bytes
 * come first) and drops the inline bytes decoded.  false: closed. */
static bool
take_decoded(struct client *c, const struct boundary_read *r)
{
    size_t t = r->inl, used = r->used;
    size_t from_sock = used > t ? used - t : 0;
    if (from_sock > 0) {
        if (!discard(c, from_sock))
            return false;
        note_read(c, from_sock);
    }
    if (used >= t) {
        c->inl_len = 0;
    } else if (used > 0) {
        memmove(c->inl, c->inl + used, t - used);
        c->inl_len = t - used;
    }
    return true;
}

/* After a plain read: what the decoder left goes into a unit buffer of
 * `bytes` (the plain read promised the room).  false: closed. */
static bool
hold_rest(struct client *c, const struct boundary_read *r, size_t bytes)
{
    if (!admitted_force(c, bytes)) {
        client_close(c, "out of memory");
        return false;
    }
    memcpy(c->ub, r->buf + r->used, boundary_rest(r));
    c->ub_len = boundary_rest(r);
    return true;
}

/* The decoder stopped for room: the client waits its turn, holding what
 * a plain read left (a peek left it in the socket). */
static int
hold_for_room(struct client *c, const struct boundary_read *r)
{
    size_t rest = boundary_rest(r);
    if (!r->peek && rest > 0 && !hold_rest(c, r, admitted_size(c, TS_MAX(rest, unit_bound(c)))))
        return STEP_CLOSED;
    set_partial(c, c->inl_len > 0 || c->ub != NULL);
    return park_room(c);
}

/* HTTP keeps a partial request in its parser; a body may wait for memory. */
static int
after_http_read(struct client *c, const struct boundary_read *r)
{
    set_partial(c, c->http != NULL && http_in_request(c->http));
    if (c->adm.waiting)
        return park_input(c); /* a body waits for memory */
    return more_or_idle(r);
}

/* A small incomplete unit moves inline; after a peek, its bytes still in
 * the socket are taken off it. */
static int
keep_inline(struct client *c, const struct boundary_read *r)
{
    size_t rest = boundary_rest(r);
    size_t in_sock = r->peek ? r->inl + r->got - TS_MAX(r->used, r->inl) : 0;
    memmove(c->inl, r->buf + r->used, rest);
    c->inl_len = rest;
    if (in_sock > 0) {
        if (!discard(c, in_sock))
            return STEP_CLOSED;
        note_read(c, in_sock);
    }
    return more_or_idle(r);
}

/* An incomplete unit at the head: inline when it is small, else in a unit
 * buffer -- at once after a plain read, or once the admission line grants
 * it after a peek (its bytes wait in the socket meanwhile). */
static int
keep_incomplete(struct client *c, const struct boundary_read *r)
{
    size_t rest = boundary_rest(r);
    set_partial(c, true);
    bool small = c->need == 0 ? rest <= CLIENT_INLINE : c->need <= CLIENT_INLINE;
    if (small && rest <= CLIENT_INLINE)
        return keep_inline(c, r);
    size_t want = admitted_size(c, c->need != 0 ? c->need : unit_bound(c));
    if (!r->peek)
        return hold_rest(c, r, want) ? STEP_AGAIN : STEP_CLOSED;
    /* inline bytes stay where they are; the rest stays in the socket */
    if (admission_request(c->set->env.adm, &c->adm, want, ev_now(conn_loop(c))) != TS_OK)
        return park_input(c);
    if (!admitted_open_unit(c, want)) {
        client_close(c, "out of memory");
        return STEP_CLOSED;
    }
    return STEP_AGAIN; /* step_unit reads the rest into it */
}

/* Holding nothing admitted: read (or peek) into the scratch buffer after
 * the inline bytes, decode in place, keep only what is incomplete. */
static int
step_boundary(struct client *c)
{
    if (c->http != NULL && http_waiting(c->http)) {
        int go = resume_http(c);
        if (go != STEP_AGAIN || http_waiting(c->http))
            return go == STEP_AGAIN ? STEP_IDLE : go;
    }
    struct boundary_read r;
    int st = read_at_boundary(c, &r);
    if (r.got == 0)
        return st;
    r.used = decode_batch(c, r.buf, r.inl + r.got);
    if (r.peek && !take_decoded(c, &r))
        return STEP_CLOSED;
    if (c->pass_wait)
        return park_pass(c);
    if (c->blocked)
        return hold_for_room(c, &r);
    if (c->sync_parked)
        return park_sync(c);
    int go = flush_replies(c, STEP_AGAIN);
    if (go != STEP_AGAIN)
        return go;
    if (c->proto == PROTO_HTTP)
        return after_http_read(c, &r);
    if (boundary_rest(&r) == 0) {
        set_partial(c, false);
        return more_or_idle(&r);
    }
    return keep_incomplete(c, &r);
}

static int
step(struct client *c)
{
    if (c->ub != NULL)
        return step_unit(c);
    return step_boundary(c);
}

/* Reads and decodes until the socket is drained, the client waits or a
 * round's worth of reads is done. */
static void
client_run(struct client *c)
{
    struct client_env *env = &c->set->env;
    for (int i = 0; i < READS_PER_EVENT; i++) {
        if (!env->running(env->ctx) && c->proto != PROTO_TELNET) {
            stop_reading(c);
            return;
        }
        int s = step(c);
        if (s == STEP_CLOSED)
            return;
        if (s != STEP_AGAIN)
            break;
    }
    /* TLS may hold decrypted input the socket will not signal again */
    if (transport_buffered(c) && ev_is_active(&c->rio) && !c->lingering)
        ev_feed_event(conn_loop(c), &c->rio, EV_READ);
}

/* Closing while the peer may still be sending would make the kernel answer
 * with an RST, which can destroy the reply we just wrote before the peer
 * reads it.  So: FIN first, then read and discard until the peer closes,
 * for at most LINGER_SECONDS. */
static void
begin_linger(struct client *c)
{
    struct ev_loop *loop = conn_loop(c);
    c->lingering = true;
    tls_server_goodbye(&c->tls); /* close_notify before the FIN (TLS) */
    shutdown(c->fd, SHUT_WR);
    admission_cancel(c->set->env.adm, &c->adm);
    admitted_release_unit(c);
    c->inl_len = 0;
    c->reading_stopped = false;
    ev_io_start(loop, &c->rio);
    ev_timer_stop(loop, &c->timer);
    ev_timer_set(&c->timer, LINGER_SECONDS, 0.0);
    ev_timer_start(loop, &c->timer);
}

static void
linger_read(struct client *c)
{
    char buf[16384];
    for (int i = 0; i < 4; i++) {
        ssize_t n = read(c->fd, buf, sizeof(buf));
        if (n > 0)
            continue;
        if (n < 0 && (errno == EINTR))
            continue;
        if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
            return;
        client_close(c, NULL); /* EOF or error: the peer is gone */
        return;
    }
}

static void
client_on_readable(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct client *c = container_of(w, struct client, rio);
    if (c->lingering) {
        linger_read(c);
        return;
    }
    if (c->tls.handshaking) {
        client_handshake(c);
        return;
    }
    client_run(c);
}

/* ---- TLS --------------------------------------------------------------- */

/* Handshake slots were given back: the TLS clients next in line begin
 * theirs (their ClientHello is in the socket: a read event is fed). */
static void
client_tls_next(struct client_set *cs)
{
    struct tls_link *t;
    uint64_t max = cs->env.cfg->tls.max_handshakes;
    while ((t = tls_server_next(&cs->tls_line, max)) != NULL) {
        struct client *c = container_of(t, struct client, tls);
        if (tls_server_attach(t, cs->tls, c->fd) != TS_OK) {
            client_close(c, "no memory for its TLS (or TLS is off now)");
            continue;
        }
        ev_io_start(cs->env.loop, &c->rio);
        ev_feed_event(cs->env.loop, &c->rio, EV_READ);
    }
}

/* One step of a TLS client's handshake (its read deadline runs from the
 * accept: partial_since); once over, its input is read as anyone's. */
static void
client_handshake(struct client *c)
{
    struct ev_loop *loop = conn_loop(c);
    switch (tls_server_handshake(&c->tls, c->fd)) {
    case TLS_IO_DONE:
        ev_io_stop(loop, &c->wio);
        c->partial_since = 0;
        c->last_activity = ev_now(loop);
        client_tls_next(c->set); /* its slot went back */
        client_run(c); /* input may have come with the handshake's last flight */
        return;
    case TLS_IO_WANT_READ:
        ev_io_stop(loop, &c->wio);
        return;
    case TLS_IO_WANT_WRITE:
        ev_io_start(loop, &c->wio);
        return;
    case TLS_IO_CLOSED:
    case TLS_IO_FAILED:
    default:
        client_close(c, "TLS handshake failed"); /* counted and logged by tls_server.c */
        return;
    }
}

/* ---- waking up --------------------------------------------------------- */

static void
granted(struct admit_ticket *t, void *ctx)
{
    (void)ctx;
    struct client *c = container_of(t, struct client, adm);
    if (c->proto == PROTO_HTTP) {
        size_t cap;
        c->http_body = admitted_take(c, t->bytes, &c->http_body_blk, &cap);
        c->http_body_len = t->bytes;
    } else if (!admitted_open_unit(c, t->bytes)) {
        client_close(c, "out of memory");
        return;
    }
    c->last_activity = ev_now(conn_loop(c));
    ev_io_start(conn_loop(c), &c->rio);
    client_run(c);
}

static void
resumed(struct admit_ticket *t, void *ctx)
{
    (void)ctx;
    struct client *c = container_of(t, struct client, adm);
    c->room_wait = false;
    c->last_activity = ev_now(conn_loop(c));
    ev_io_start(conn_loop(c), &c->rio);
    client_run(c);
}

void
client_wake(struct client *c)
{
    c->sync_parked = false;
    c->last_activity = ev_now(conn_loop(c));
    if (!write_now(c))
        return; /* closed */
    if (c->lingering || c->close_after_write)
        return;
    ev_io_start(conn_loop(c), &c->rio);
    client_run(c);
}

void
client_admission_poll(struct client_set *cs)
{
    if (cs->env.adm->head == NULL && cs->env.adm->rhead == NULL)
        return;
    if (!cs->env.running(cs->env.ctx))
        return;
    admission_poll(cs->env.adm, granted, resumed, cs);
}

/* ---- deadlines --------------------------------------------------------- */

static bool
holds_partial(struct client *c)
{
    return c->partial_since > 0 || (c->http != NULL && http_in_request(c->http));
}

/* Seconds of silence before the client is closed, 0 = never. */
static double
idle_limit(const struct client *c)
{
    if (c->control_only)
        return CONTROL_SLOT_IDLE_SECONDS;
    return (double)c->set->env.cfg->idle_timeout_ms / 1000.0;
}

static void
arm_timer(struct client *c)
{
    const struct config *cfg = c->set->env.cfg;
    struct ev_loop *loop = conn_loop(c);
    double now = ev_now(loop);
    double deadline = 0;
    if (idle_limit(c) > 0)
        deadline = c->last_activity + idle_limit(c);
    if (cfg->read_timeout_ms > 0 && holds_partial(c)) {
        double since = c->partial_since > 0 ? c->partial_since : c->last_activity;
        double d = since + (double)cfg->read_timeout_ms / 1000.0;
        if (deadline == 0 || d < deadline)
            deadline = d;
    }
    /* a unit may start pending before the next look: look at least once
     * per read-timeout */
    if (cfg->read_timeout_ms > 0) {
        double d = now + (double)cfg->read_timeout_ms / 1000.0;
        if (deadline == 0 || d < deadline)
            deadline = d;
    }
    if (deadline == 0)
        deadline = now + 60.0;
    ev_timer_set(&c->timer, TS_MAX(deadline - now, 0.01), 0.0);
    ev_timer_start(loop, &c->timer);
}

static void
client_on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    struct client *c = container_of(w, struct client, timer);
    const struct config *cfg = c->set->env.cfg;
    double now = ev_now(loop);
    if (c->lingering) {
        client_close(c, "lingering close timed out");
        return;
    }
    if (c->adm.waiting || c->reading_stopped || c->pass_wait || c->stream_blocked ||
        c->sync_parked) {
        /* it waits for us (memory, room, shutdown): its silence is ours,
         * not idleness, and its partial unit waits for us too */
        c->last_activity = now;
        if (c->partial_since > 0)
            c->partial_since = now;
        arm_timer(c);
        return;
    }
    double since = c->partial_since > 0 ? c->partial_since : c->last_activity;
    bool late = cfg->read_timeout_ms > 0 && holds_partial(c) &&
                now - since >= (double)cfg->read_timeout_ms / 1000.0;
    bool idle = idle_limit(c) > 0 && now - c->last_activity >= idle_limit(c);
    if ((c->tls.handshaking || c->tls.queued) && (late || idle)) { /* nothing in clear */
        char peer[LOG_PEER_MAX];
        tls_server_timed_out(&c->tls, log_peer(c->fd, peer, sizeof(peer)));
        g_stats.clients_timed_out++;
        client_close(c, "TLS handshake timed out");
        return;
    }
    if (idle) {
        g_stats.clients_timed_out++;
        client_close(c, "idle timeout");
        return;
    }
    if (late) {
        g_stats.clients_timed_out++;
        static const char msg[] = "error: read timeout: incomplete input for too long; closing";
        if (c->proto == PROTO_TELNET || c->proto == PROTO_AUTO)
            reply_line(c, msg, sizeof(msg) - 1, POOL_CONTROL);
        char peer[LOG_PEER_MAX];
        LOG_RL(LOG_INFO, "client %s: read deadline passed with a partial unit: closed",
               log_peer(c->fd, peer, sizeof(peer)));
        c->close_after_write = true;
        write_now(c);
        return;
    }
    arm_timer(c);
}

/* ---- life -------------------------------------------------------------- */

int
client_set_init(struct client_set *cs, const struct client_env *env)
{
    memset(cs, 0, sizeof(*cs));
    cs->env = *env;
    cs->scratch_cap = env->pool->data_size;
    cs->scratch = malloc(cs->scratch_cap);
    return cs->scratch != NULL ? TS_OK : TS_ERROR;
}

void
client_set_free(struct client_set *cs)
{
    while (cs->all != NULL)
        client_close(cs->all, NULL);
    free(cs->scratch);
    cs->scratch = NULL;
}

struct client *
client_new(struct client_set *cs, const struct cfg_listen *lc, int fd, bool control_only,
           const struct sockaddr *peer, socklen_t peer_len, const char *origin)
{
    struct client *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    struct ev_loop *loop = cs->env.loop;
    bool in_line = false;
    if (lc->tls) {
        int go = tls_server_enter(&c->tls, &cs->tls_line, cs->env.cfg->tls.max_handshakes);
        in_line = go == TS_EAGAIN;
        if (go == TS_OK && tls_server_attach(&c->tls, cs->tls, fd) != TS_OK) {
            tls_server_detach(&c->tls);
            free(c);
            return NULL;
        }
    }
    c->set = cs;
    c->lc = lc;
    c->fd = fd;
    snprintf(c->origin, sizeof(c->origin), "%s", origin);
    if (peer != NULL)
        memcpy(&c->peer, peer, TS_MIN((size_t)peer_len, sizeof(c->peer)));
    c->control_only = control_only;
    c->last_activity = ev_now(loop);
    ev_io_init(&c->rio, client_on_readable, fd, EV_READ);
    ev_io_init(&c->wio, client_on_writable, fd, EV_WRITE);
    ev_timer_init(&c->timer, client_on_timer, 1.0, 0.0);
    c->next = cs->all;
    if (cs->all != NULL)
        cs->all->prev = c;
    cs->all = c;
    cs->n++;
    cs->connection_bytes += sizeof(*c);
    if (control_only)
        cs->control_only++;
    c->proto = PROTO_AUTO;
    cs->pending++;
    if (lc->proto != PROTO_AUTO)
        protocol_set(c, lc->proto);
    if (lc->tls) /* the handshake is bounded by read-timeout, as a partial unit is */
        c->partial_since = ev_now(loop);
    if (!in_line) /* (in line: its ClientHello waits in the kernel) */
        ev_io_start(loop, &c->rio);
    arm_timer(c);
    return c;
}

void
client_close(struct client *c, const char *why)
{
    struct client_set *cs = c->set;
    struct ev_loop *loop = cs->env.loop;
    log_debug("client fd %d (%s) closed: %s", c->fd,
              config_proto_name(c->proto == PROTO_AUTO ? PROTO_TELNET : c->proto),
              why != NULL ? why : "end of stream");
    TS_ASSERT(c->proto != PROTO_AUTO || cs->pending > 0); /* counted when accepted */
    if (c->proto != PROTO_AUTO)
        conn_stats(c)->active--;
    else if (cs->pending > 0)
        cs->pending--;
    ev_io_stop(loop, &c->rio);
    ev_io_stop(loop, &c->wio);
    ev_timer_stop(loop, &c->timer);
    bool slot_freed = tls_server_detach(&c->tls);
    close(c->fd);
    admission_cancel(cs->env.adm, &c->adm);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        cs->all = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    cs->n--;
    cs->connection_bytes -= sizeof(*c);
    if (c->control_only)
        cs->control_only--;
    if (c->fa_listed) {
        for (struct client **pp = &cs->acking; *pp != NULL; pp = &(*pp)->fa_next)
            if (*pp == c) {
                *pp = c->fa_next;
                break;
            }
    }
    if (c->fa != NULL) {
        cs->connection_bytes -= frameack_size(c->fa->width);
        frameack_free(c->fa);
    }
    syncwait_forget(c);
    admitted_release_unit(c);
    if (c->http != NULL) {
        http_conn_free(c->http); /* gives its body back through admitted_http_body_free */
        cs->connection_bytes -= http_conn_size();
    }
    if (c->http_body != NULL)
        admitted_give_back(c, c->http_body, c->http_body_blk, c->http_body_len);
    reply_release(c);
    free(c);
    if (slot_freed)
        client_tls_next(cs);
}

void
client_stop_all_reading(struct client_set *cs)
{
    for (struct client *c = cs->all; c != NULL; c = c->next) {
        if (c->proto == PROTO_TELNET && !c->control_only)
            continue; /* `status` answers "shutting-down"; its points are refused */
        ev_io_stop(cs->env.loop, &c->rio);
        admission_cancel(cs->env.adm, &c->adm);
        c->reading_stopped = true;
    }
}
