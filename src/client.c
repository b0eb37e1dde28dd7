/*
 * client.c -- one accepted client connection.
 *
 * Reading: a client reads only when the pool can take what the read may
 * produce (overflow = block) and can hold its leftover; otherwise it is
 * paused and its socket's buffers fill: TCP backpressure.  Data is read
 * into a shared scratch buffer (or the client's own tail block / checked
 * large-frame buffer), decoded in place, and only the incomplete unit is
 * kept.  Replies go to one bounded buffer; a client that never reads them
 * loses replies (counted), not memory.  Deadlines: idle-timeout without
 * reads, read-timeout for a unit (line, frame, request) that stays
 * incomplete.
 */
#include "autoconf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <unistd.h>

#include "client.h"
#include "framed.h"
#include "http.h"
#include "listener.h"
#include "log.h"
#include "pool.h"
#include "relay.h"
#include "stats.h"
#include "status.h"
#include "telnet.h"
#include "util.h"

#define READS_PER_EVENT 8

static char *scratch;       /* one read's worth, shared by all clients */
static size_t scratch_cap;

/* ---- replies ----------------------------------------------------------- */

void
client_release_reply(struct client *c)
{
    struct pool *p = &c->r->pool;
    if (c->out_blk != NULL) {
        pool_put(p, c->out_blk);
        c->out_blk = NULL;
    } else if (c->out != NULL) {
        free(c->out);
        pool_uncharge(p, c->out_charged);
    }
    c->out = NULL;
    c->out_cap = c->out_len = c->out_off = c->out_charged = 0;
}

static bool
ensure_out(struct client *c)
{
    if (c->out != NULL)
        return true;
    struct block *b = pool_get(&c->r->pool, POOL_CLIENT);
    if (b == NULL)
        return false;
    c->out_blk = b;
    c->out = b->data;
    c->out_cap = TS_MIN(c->r->pool.data_size, c->r->cfg.max_reply_bytes);
    c->out_len = c->out_off = 0;
    return true;
}

static struct proto_stats *
pstats(struct client *c)
{
    return &g_stats.proto[c->proto == PROTO_AUTO ? PROTO_TELNET : c->proto];
}

bool
client_reply(struct client *c, const char *data, size_t len)
{
    if (!ensure_out(c) || c->out_cap - c->out_len < len) {
        pstats(c)->replies_dropped += len;
        return false;
    }
    memcpy(c->out + c->out_len, data, len);
    c->out_len += len;
    return true;
}

bool
client_reply_reserve(struct client *c, size_t len)
{
    if (c->out != NULL && c->out_cap - c->out_len >= len)
        return true;
    size_t pending = c->out_len - c->out_off;
    size_t cap = pending + len;
    if (pool_charge(&c->r->pool, cap, POOL_CLIENT) != TS_OK)
        return false;
    char *b = malloc(cap);
    if (b == NULL) {
        pool_uncharge(&c->r->pool, cap);
        return false;
    }
    if (pending > 0)
        memcpy(b, c->out + c->out_off, pending);
    client_release_reply(c);
    c->out = b;
    c->out_charged = cap;
    c->out_cap = cap;
    c->out_len = pending;
    c->out_off = 0;
    return true;
}

static void begin_linger(struct client *c);

void
client_write_now(struct client *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                ev_io_start(c->r->loop, &c->wio);
                return;
            }
            client_close(c, "write failed");
            return;
        }
        c->out_off += (size_t)n;
    }
    ev_io_stop(c->r->loop, &c->wio);
    client_release_reply(c);
    if (c->close_after_write && !c->lingering)
        begin_linger(c);
}

static void
on_writable(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    client_write_now(container_of(w, struct client, wio));
}

/* ---- protocol glue ----------------------------------------------------- */

static int
emit(struct sink *s, const char *line, size_t len, uint64_t hash)
{
    struct client *c = s->owner;
    c->produced = true;
    return relay_submit_line(c->r, line, len, hash);
}

static void
telnet_reply(struct telnet_io *io, const char *text, size_t len)
{
    struct client *c = container_of(io, struct client, tio);
    if (c->out != NULL || ensure_out(c)) {
        if (c->out_cap - c->out_len >= len + 1) {
            memcpy(c->out + c->out_len, text, len);
            c->out[c->out_len + len] = '\n';
            c->out_len += len + 1;
            return;
        }
    }
    pstats(c)->replies_dropped += len + 1;
}

static void
telnet_error(struct sink *s, const struct point_error *e, const char *input, size_t ilen,
             const void *json_dp)
{
    (void)input;
    (void)ilen;
    (void)json_dp;
    struct client *c = s->owner;
    telnet_report_error(&c->tio, e);
}

static bool
telnet_command(struct telnet_io *io, enum telnet_cmd cmd)
{
    struct client *c = container_of(io, struct client, tio);
    switch (cmd) {
    case TC_VERSION: {
        char buf[256];
        int n = snprintf(buf, sizeof(buf),
                         "tsrelay %s (OpenTSDB relay) built at revision %s (%s)\n"
                         "Built on %s %s by tsrelay\n",
                         PACKAGE_VERSION, TSRELAY_REVISION, "MINT", __DATE__, __TIME__);
        client_reply(c, buf, (size_t)n);
        return false;
    }
    case TC_STATS: {
        if (!ensure_out(c))
            return false;
        size_t n = stats_format_telnet(c->r, c->out + c->out_len, c->out_cap - c->out_len);
        c->out_len += n;
        return false;
    }
    case TC_HELP:
        telnet_reply(io, telnet_help_text, telnet_help_len);
        return false;
    case TC_EXIT:
        return true;
    }
    return false;
}

static void
framed_begin(struct framed_io *io)
{
    struct client *c = container_of(io, struct client, fio);
    c->frame_open = false;
    if (!ensure_out(c) || c->out_cap - c->out_len < 4)
        return;
    c->frame_mark = c->out_len;
    c->out_len += 4;
    c->frame_open = true;
}

static void
framed_line(struct framed_io *io, const char *text, size_t len)
{
    struct client *c = container_of(io, struct client, fio);
    if (!c->frame_open || c->out_cap - c->out_len < len + 1) {
        pstats(c)->replies_dropped += len + 1;
        return;
    }
    memcpy(c->out + c->out_len, text, len);
    c->out[c->out_len + len] = '\n';
    c->out_len += len + 1;
}

static void
framed_end(struct framed_io *io)
{
    struct client *c = container_of(io, struct client, fio);
    if (!c->frame_open)
        return;
    c->frame_open = false;
    size_t n = c->out_len - c->frame_mark - 4;
    if (n == 0)
        c->out_len = c->frame_mark; /* nothing to say: no frame */
    else
        framed_put_len(c->out + c->frame_mark, (uint32_t)n);
}

static void
framed_error(struct sink *s, const struct point_error *e, const char *input, size_t ilen,
             const void *json_dp)
{
    (void)json_dp;
    struct client *c = s->owner;
    char line[POINT_ERR_MAX * 2 + 512];
    size_t n = framed_error_line(e, input, ilen, line, sizeof(line));
    framed_line(&c->fio, line, n);
}

static void
set_proto(struct client *c, enum listen_proto proto)
{
    struct relay *r = c->r;
    c->proto = proto;
    struct proto_stats *ps = pstats(c);
    ps->connections++;
    ps->active++;
    c->sink.rules = &r->rules;
    c->sink.stats = &ps->in;
    c->sink.emit = emit;
    c->sink.owner = c;
    switch (proto) {
    case PROTO_FRAMED:
        c->sink.on_error = framed_error;
        c->fio.sink = &c->sink;
        c->fio.max_frame = (uint32_t)r->cfg.max_frame_bytes;
        c->fio.stats = &g_stats.framed;
        c->fio.reply_begin = framed_begin;
        c->fio.reply_line = framed_line;
        c->fio.reply_end = framed_end;
        break;
    case PROTO_HTTP:
        c->sink.on_error = NULL; /* set per request by http.c */
        c->http = http_conn_new(c);
        if (c->http != NULL)
            http_set_endpoint(c->http, status_http, r);
        break;
    case PROTO_TELNET:
    case PROTO_AUTO:
    default:
        c->sink.on_error = telnet_error;
        c->tio.sink = &c->sink;
        c->tio.max_line = r->cfg.max_line_bytes;
        c->tio.command = telnet_command;
        c->tio.reply = telnet_reply;
        break;
    }
}

/* auto: 0x00 -> framed; an HTTP method -> http; else telnet.  Returns
 * false while the first bytes could still be an HTTP method. */
static bool
sniff(struct client *c, const char *buf, size_t len)
{
    static const char *const methods[] = { "GET ", "POST ", "PUT ", "HEAD ", "DELETE ",
                                           "OPTIONS " };
    if (buf[0] == 0) {
        set_proto(c, PROTO_FRAMED);
        return true;
    }
    for (size_t i = 0; i < TS_ARRAY_LEN(methods); i++) {
        size_t ml = strlen(methods[i]);
        size_t n = TS_MIN(len, ml);
        if (memcmp(buf, methods[i], n) == 0) {
            if (len < ml)
                return false;
            set_proto(c, PROTO_HTTP);
            return true;
        }
    }
    set_proto(c, PROTO_TELNET);
    return true;
}

/* Decodes what is complete; returns bytes consumed. */
static size_t
decode(struct client *c, const char *buf, size_t len)
{
    if (c->proto == PROTO_AUTO && !sniff(c, buf, len))
        return 0;
    switch (c->proto) {
    case PROTO_FRAMED: {
        enum framed_status st;
        uint32_t bad = 0;
        size_t need = 0;
        size_t n = framed_feed(&c->fio, buf, len, &need, &st, &bad);
        c->need = need;
        if (st == FRAMED_OVERSIZE) {
            char line[200];
            int k = snprintf(line, sizeof(line),
                             "error: frame too large: %u bytes, max-frame-bytes is %llu; "
                             "closing the connection",
                             bad, (unsigned long long)c->r->cfg.max_frame_bytes);
            framed_begin(&c->fio);
            framed_line(&c->fio, line, (size_t)k);
            framed_end(&c->fio);
            LOG_RL(LOG_WARN, "client fd %d: frame header claims %u bytes (max %llu): closed",
                   c->fd, bad, (unsigned long long)c->r->cfg.max_frame_bytes);
            c->close_after_write = true;
            c->need = 0;
            return len;
        }
        return n;
    }
    case PROTO_HTTP:
        if (http_feed(c->http, buf, len) != TS_OK)
            c->close_after_write = true;
        return len;
    case PROTO_TELNET:
    default: {
        bool stop = false;
        size_t n = telnet_feed(&c->tio, buf, len, &stop);
        if (stop)
            c->close_after_write = true;
        return n;
    }
    }
}

/* ---- input tail -------------------------------------------------------- */

static void
release_tail(struct client *c)
{
    struct pool *p = &c->r->pool;
    if (c->tail_blk != NULL) {
        pool_put(p, c->tail_blk);
        c->tail_blk = NULL;
    }
    if (c->big != NULL) {
        munmap(c->big, c->big_cap);
        pool_uncharge(p, c->big_cap);
        c->big = NULL;
        c->big_cap = 0;
    }
}

/* Keeps buf[consumed..len) for the next read. */
static void
keep_tail(struct client *c, char *buf, size_t len, size_t consumed)
{
    size_t left = len - consumed;
    const char *src = buf + consumed;
    double now = ev_now(c->r->loop);
    if (consumed > 0 || left == 0)
        c->partial_since = left > 0 ? now : 0;
    else if (c->partial_since == 0)
        c->partial_since = now;
    if (left == 0) {
        release_tail(c);
        c->tail_len = 0;
        return;
    }
    if (consumed == 0 && (buf == c->big || (c->tail_blk && buf == c->tail_blk->data))) {
        c->tail_len = left; /* already in place */
        return;
    }
    if (left <= CLIENT_TAIL_INLINE) {
        memmove(c->tail_small, src, left);
        release_tail(c);
    } else if (c->tail_blk != NULL && buf == c->tail_blk->data) {
        memmove(c->tail_blk->data, src, left);
    } else if (c->big != NULL && buf == c->big) {
        memmove(c->big, src, left);
    } else {
        if (c->tail_blk == NULL)
            c->tail_blk = pool_get(&c->r->pool, POOL_CLIENT);
        if (c->tail_blk == NULL) { /* checked before reading; cannot happen */
            log_error("client fd %d: no memory for %zu pending bytes; closing", c->fd, left);
            c->close_after_write = true;
            c->tail_len = 0;
            return;
        }
        memcpy(c->tail_blk->data, src, left);
    }
    c->tail_len = left;
}

/* A frame bigger than a block: one buffer of exactly its size, charged
 * to the budget, allocated only after its length passed max-frame-bytes. */
static bool
ensure_big(struct client *c)
{
    struct pool *p = &c->r->pool;
    if (c->proto != PROTO_FRAMED || c->need <= p->data_size || c->big != NULL)
        return true;
    if (pool_charge(p, c->need, POOL_CLIENT) != TS_OK)
        return false;
    /* mapped, not malloc'd: freeing it really returns it to the OS */
    char *b = mmap(NULL, c->need, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (b == MAP_FAILED) {
        pool_uncharge(p, c->need);
        return false;
    }
    const char *from = c->tail_blk ? c->tail_blk->data : c->tail_small;
    memcpy(b, from, c->tail_len);
    if (c->tail_blk != NULL) {
        pool_put(p, c->tail_blk);
        c->tail_blk = NULL;
    }
    c->big = b;
    c->big_cap = c->need;
    return true;
}

/* ---- reading ----------------------------------------------------------- */

/* A client that has never sent data points (an operator asking `stats`,
 * a health check) may read this much even when queues are full, so the
 * relay stays observable; a data client must wait for memory. */
#define SMALL_READ 4096

static bool
can_read(struct client *c)
{
    struct relay *r = c->r;
    struct pool *p = &r->pool;
    if (r->phase != PHASE_RUNNING)
        return false;
    if (pool_avail(p, POOL_CLIENT) < p->block_size)
        return false;
    if (r->cfg.overflow == OVERFLOW_BLOCK && c->produced &&
        pool_avail(p, POOL_QUEUE) < r->read_headroom)
        return false;
    return ensure_big(c);
}

static size_t
read_room(struct client *c, size_t room)
{
    struct relay *r = c->r;
    if (!c->produced && r->cfg.overflow == OVERFLOW_BLOCK &&
        pool_avail(&r->pool, POOL_QUEUE) < r->read_headroom)
        return TS_MIN(room, SMALL_READ);
    return room;
}

static void
pause_reading(struct client *c)
{
    if (c->paused)
        return;
    ev_io_stop(c->r->loop, &c->rio);
    c->paused = true;
    c->next_paused = c->r->paused;
    c->r->paused = c;
    g_stats.reads_paused++;
}

#define LINGER_SECONDS 2.0

static void
unpause(struct client *c)
{
    if (!c->paused)
        return;
    for (struct client **pp = &c->r->paused; *pp != NULL; pp = &(*pp)->next_paused) {
        if (*pp == c) {
            *pp = c->next_paused;
            break;
        }
    }
    c->paused = false;
    c->next_paused = NULL;
}

/* Closing while the peer may still be sending would make the kernel answer
 * with an RST, which can destroy the reply we just wrote before the peer
 * reads it.  So: FIN first, then read and discard until the peer closes,
 * for at most LINGER_SECONDS. */
static void
begin_linger(struct client *c)
{
    struct relay *r = c->r;
    c->lingering = true;
    shutdown(c->fd, SHUT_WR);
    release_tail(c);
    unpause(c);
    c->reading_stopped = false;
    ev_io_start(r->loop, &c->rio);
    ev_timer_stop(r->loop, &c->timer);
    ev_timer_set(&c->timer, LINGER_SECONDS, 0.0);
    ev_timer_start(r->loop, &c->timer);
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
on_readable(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct client *c = container_of(w, struct client, rio);
    struct relay *r = c->r;
    if (c->lingering) {
        linger_read(c);
        return;
    }
    for (int iter = 0; iter < READS_PER_EVENT; iter++) {
        if (!can_read(c)) {
            if (r->phase == PHASE_RUNNING)
                pause_reading(c);
            return;
        }
        char *base;
        size_t have = c->tail_len, room;
        if (c->big != NULL) {
            base = c->big;
            room = c->big_cap - have;
        } else if (c->tail_blk != NULL) {
            base = c->tail_blk->data;
            room = r->pool.data_size - have;
        } else {
            base = scratch;
            memcpy(scratch, c->tail_small, have);
            room = scratch_cap - have;
        }
        if (room == 0) { /* cannot happen: decoders bound their units */
            client_close(c, "input unit exceeds its buffer");
            return;
        }
        room = read_room(c, room);
        ssize_t n = read(c->fd, base + have, room);
        if (n == 0) {
            client_close(c, NULL);
            return;
        }
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK)
                client_close(c, "read failed");
            return;
        }
        c->last_activity = ev_now(r->loop);
        r->batch_read_ns = ts_now_ns();
        relay_begin_batch(r);
        size_t len = have + (size_t)n;
        size_t consumed = decode(c, base, len);
        if (c->proto != PROTO_AUTO)
            pstats(c)->bytes_in += (uint64_t)n;
        keep_tail(c, base, len, consumed);
        r->batch_read_ns = 0;
        if (c->out_len > c->out_off || c->close_after_write) {
            client_write_now(c); /* may close c */
            return;
        }
        if ((size_t)n < room)
            return; /* drained the socket */
    }
}

/* ---- deadlines --------------------------------------------------------- */

static void
arm_timer(struct client *c)
{
    struct relay *r = c->r;
    double now = ev_now(r->loop);
    double deadline = 0;
    if (r->cfg.idle_timeout_ms > 0)
        deadline = c->last_activity + (double)r->cfg.idle_timeout_ms / 1000.0;
    bool partial = c->partial_since > 0 || (c->http != NULL && http_in_request(c->http));
    if (r->cfg.read_timeout_ms > 0 && partial) {
        double since = c->partial_since > 0 ? c->partial_since : c->last_activity;
        double d = since + (double)r->cfg.read_timeout_ms / 1000.0;
        if (deadline == 0 || d < deadline)
            deadline = d;
    }
    /* a unit may start pending before the next look: look at least once
     * per read-timeout */
    if (r->cfg.read_timeout_ms > 0) {
        double d = now + (double)r->cfg.read_timeout_ms / 1000.0;
        if (deadline == 0 || d < deadline)
            deadline = d;
    }
    if (deadline == 0)
        deadline = now + 60.0;
    ev_timer_set(&c->timer, TS_MAX(deadline - now, 0.01), 0.0);
    ev_timer_start(r->loop, &c->timer);
}

static void
on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    struct client *c = container_of(w, struct client, timer);
    struct relay *r = c->r;
    double now = ev_now(loop);
    if (c->lingering) {
        client_close(c, "lingering close timed out");
        return;
    }
    if (c->paused) {
        /* we stopped reading it (memory): its silence is ours, not idleness,
         * and its partial unit waits for us */
        c->last_activity = now;
        if (c->partial_since > 0)
            c->partial_since = now;
        arm_timer(c);
        return;
    }
    if (r->cfg.idle_timeout_ms > 0 &&
        now - c->last_activity >= (double)r->cfg.idle_timeout_ms / 1000.0) {
        g_stats.clients_timed_out++;
        client_close(c, "idle timeout");
        return;
    }
    bool partial = c->partial_since > 0 || (c->http != NULL && http_in_request(c->http));
    double since = c->partial_since > 0 ? c->partial_since : c->last_activity;
    if (r->cfg.read_timeout_ms > 0 && partial &&
        now - since >= (double)r->cfg.read_timeout_ms / 1000.0) {
        g_stats.clients_timed_out++;
        const char *msg = "error: read timeout: incomplete input for too long; closing";
        if (c->proto == PROTO_TELNET || c->proto == PROTO_AUTO)
            telnet_reply(&c->tio, msg, strlen(msg));
        LOG_RL(LOG_INFO, "client fd %d: read deadline passed with a partial unit: closed",
               c->fd);
        c->close_after_write = true;
        client_write_now(c);
        return;
    }
    arm_timer(c);
}

/* ---- life -------------------------------------------------------------- */

struct client *
client_new(struct relay *r, struct listener *ls, int fd)
{
    if (scratch == NULL) {
        scratch_cap = r->pool.data_size;
        scratch = malloc(scratch_cap);
        if (scratch == NULL)
            return NULL;
    }
    if (pool_charge(&r->pool, sizeof(struct client), POOL_CLIENT) != TS_OK)
        return NULL;
    struct client *c = calloc(1, sizeof(*c));
    if (c == NULL) {
        pool_uncharge(&r->pool, sizeof(struct client));
        return NULL;
    }
    c->r = r;
    c->ls = ls;
    c->fd = fd;
    c->last_activity = ev_now(r->loop);
    ev_io_init(&c->rio, on_readable, fd, EV_READ);
    ev_io_init(&c->wio, on_writable, fd, EV_WRITE);
    ev_timer_init(&c->timer, on_timer, 1.0, 0.0);
    c->next = r->clients;
    if (r->clients != NULL)
        r->clients->prev = c;
    r->clients = c;
    r->nclients++;
    c->proto = PROTO_AUTO;
    if (ls->cfg->proto != PROTO_AUTO)
        set_proto(c, ls->cfg->proto);
    ev_io_start(r->loop, &c->rio);
    arm_timer(c);
    return c;
}

void
client_close(struct client *c, const char *why)
{
    struct relay *r = c->r;
    log_debug("client fd %d (%s) closed: %s", c->fd,
              config_proto_name(c->proto == PROTO_AUTO ? PROTO_TELNET : c->proto),
              why != NULL ? why : "end of stream");
    if (c->proto != PROTO_AUTO)
        pstats(c)->active--;
    ev_io_stop(r->loop, &c->rio);
    ev_io_stop(r->loop, &c->wio);
    ev_timer_stop(r->loop, &c->timer);
    close(c->fd);
    unpause(c);
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        r->clients = c->next;
    if (c->next != NULL)
        c->next->prev = c->prev;
    r->nclients--;
    release_tail(c);
    client_release_reply(c);
    if (c->http != NULL)
        http_conn_free(c->http);
    free(c);
    pool_uncharge(&r->pool, sizeof(struct client));
}

void
client_resume_paused(struct relay *r)
{
    struct client **pp = &r->paused;
    while (*pp != NULL) {
        struct client *c = *pp;
        if (!can_read(c)) {
            pp = &c->next_paused;
            continue;
        }
        *pp = c->next_paused;
        c->paused = false;
        c->next_paused = NULL;
        ev_io_start(r->loop, &c->rio);
    }
}

void
client_stop_all_reading(struct relay *r)
{
    for (struct client *c = r->clients; c != NULL; c = c->next) {
        ev_io_stop(r->loop, &c->rio);
        c->reading_stopped = true;
    }
}

void
client_close_all(struct relay *r)
{
    while (r->clients != NULL)
        client_close(r->clients, NULL);
}
