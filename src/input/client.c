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
 * Replies go to a small inline buffer, then to one bounded buffer; a
 * client that never reads them loses replies (counted), not memory.
 * Deadlines: idle-timeout without reads, read-timeout for a partial unit
 * being read; neither runs while the client waits for us.
 */
#include "autoconf.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/socket.h>
#include <unistd.h>

#include "input/client.h"
#include "input/frameack.h"
#include "input/framed.h"
#include "input/http.h"
#include "base/log.h"
#include "base/pool.h"
#include "base/counters.h"
#include "input/telnet.h"
#include "base/util.h"

#define READS_PER_EVENT 8
#define LINGER_SECONDS 2.0
/* A stats-only slot is given back after this long without a request, so
 * silent connections cannot keep the relay's stats out of reach. */
#define CONTROL_SLOT_IDLE_SECONDS 2.0

enum step { STEP_AGAIN = 0, STEP_IDLE, STEP_WAIT, STEP_CLOSED };

static struct proto_stats *
pstats(struct client *c)
{
    return &g_stats.proto[c->proto == PROTO_AUTO ? PROTO_TELNET : c->proto];
}

static struct pool *
pool_of(struct client *c)
{
    return c->set->env.pool;
}

static struct ev_loop *
loop_of(struct client *c)
{
    return c->set->env.loop;
}

/* ---- replies ----------------------------------------------------------- */

static void
release_reply(struct client *c)
{
    struct pool *p = pool_of(c);
    if (c->out_blk != NULL) {
        pool_put(p, c->out_blk);
        c->out_blk = NULL;
    } else if (c->out != NULL && c->out != c->out_small) {
        free(c->out);
        pool_uncharge(p, c->out_charged, c->out_cls);
    }
    c->out = NULL;
    c->out_cap = c->out_len = c->out_off = c->out_charged = 0;
}

/* Room for n more reply bytes: the inline buffer, then one block of the
 * class (bounded by max-reply-bytes).  false: the reply is dropped. */
static bool
ensure_out(struct client *c, size_t n, enum pool_class cls)
{
    if (c->out == NULL) {
        c->out = c->out_small;
        c->out_cap = sizeof(c->out_small);
        c->out_len = c->out_off = 0;
    }
    if (c->out_cap - c->out_len >= n)
        return true;
    if (c->out != c->out_small)
        return false; /* at its bound */
    struct pool *p = pool_of(c);
    size_t cap = TS_MIN(p->data_size, c->set->env.cfg->max_reply_bytes);
    size_t pending = c->out_len - c->out_off;
    if (pending + n > cap)
        return false;
    struct block *b = pool_get(p, cls);
    if (b == NULL)
        return false;
    memcpy(b->data, c->out + c->out_off, pending);
    c->out_blk = b;
    c->out = b->data;
    c->out_cap = cap;
    c->out_len = pending;
    c->out_off = 0;
    return true;
}

static bool
reply_as(struct client *c, const char *data, size_t len, enum pool_class cls)
{
    if (!ensure_out(c, len, cls)) {
        pstats(c)->replies_dropped += len;
        return false;
    }
    memcpy(c->out + c->out_len, data, len);
    c->out_len += len;
    return true;
}

/* An HTTP response: one buffer of the exact size, charged to the class. */
static bool
http_reply(void *ctx, const char *head, size_t hlen, const char *body, size_t blen, bool control,
           bool close)
{
    struct client *c = ctx;
    struct pool *p = pool_of(c);
    enum pool_class cls = control ? POOL_CONTROL : POOL_INPUT;
    size_t total = hlen + blen;
    if (close)
        c->close_after_write = true;
    if (c->out == NULL || c->out_cap - c->out_len < total) {
        size_t pending = c->out != NULL ? c->out_len - c->out_off : 0;
        size_t cap = pending + total;
        char *b = NULL;
        if (cap <= sizeof(c->out_small) && (c->out == NULL || c->out == c->out_small)) {
            if (c->out == NULL) {
                c->out = c->out_small;
                c->out_cap = sizeof(c->out_small);
                c->out_len = c->out_off = 0;
            }
            memmove(c->out_small, c->out + c->out_off, pending);
            c->out_len = pending;
            c->out_off = 0;
        } else {
            if (pool_charge(p, cap, cls) != TS_OK)
                return false;
            b = malloc(cap);
            if (b == NULL) {
                pool_uncharge(p, cap, cls);
                return false;
            }
            if (pending > 0)
                memcpy(b, c->out + c->out_off, pending);
            release_reply(c);
            c->out = b;
            c->out_charged = cap;
            c->out_cls = cls;
            c->out_cap = cap;
            c->out_len = pending;
            c->out_off = 0;
        }
    }
    memcpy(c->out + c->out_len, head, hlen);
    memcpy(c->out + c->out_len + hlen, body, blen);
    c->out_len += total;
    return true;
}

static void begin_linger(struct client *c);

/* Writes what is pending.  false when the client was closed. */
static bool
write_now(struct client *c)
{
    while (c->out_off < c->out_len) {
        ssize_t n = write(c->fd, c->out + c->out_off, c->out_len - c->out_off);
        if (n < 0) {
            if (errno == EINTR)
                continue;
            if (errno == EAGAIN || errno == EWOULDBLOCK) {
                ev_io_start(loop_of(c), &c->wio);
                return true;
            }
            client_close(c, "write failed");
            return false;
        }
        c->out_off += (size_t)n;
    }
    ev_io_stop(loop_of(c), &c->wio);
    release_reply(c);
    if (c->close_after_write && !c->lingering)
        begin_linger(c);
    return true;
}

static void
on_writable(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    write_now(container_of(w, struct client, wio));
}

/* ---- protocol glue ----------------------------------------------------- */

static int
emit(struct sink *s, const char *line, size_t len, uint64_t hash)
{
    struct client *c = s->owner;
    c->produced = true;
    return c->set->env.submit(c->set->env.ctx, line, len, hash);
}

/* One reply line (text + '\n') into the output buffer, or counted as dropped. */
static void
reply_line_as(struct client *c, const char *text, size_t len, enum pool_class cls)
{
    if (!ensure_out(c, len + 1, cls)) {
        pstats(c)->replies_dropped += len + 1;
        return;
    }
    memcpy(c->out + c->out_len, text, len);
    c->out[c->out_len + len] = '\n';
    c->out_len += len + 1;
}

static void
telnet_reply(struct telnet_io *io, const char *text, size_t len)
{
    reply_line_as(container_of(io, struct client, tio), text, len, POOL_INPUT);
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

/* A stats-only slot (over max-clients): data is refused, counted invalid
 * (it was received), and the connection closes after saying why. */
static int
emit_refused(struct sink *s, const char *line, size_t len, uint64_t hash)
{
    (void)line;
    (void)len;
    (void)hash;
    struct client *c = s->owner;
    static const char msg[] = "error: too many connections (max-clients): this connection "
                              "serves stats, version and help only; closing";
    s->stats->invalid++;
    reply_line_as(c, msg, sizeof(msg) - 1, POOL_CONTROL);
    c->close_after_write = true;
    return TS_ERROR;
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
                         "Built on %s by tsrelay\n", /* the source's date: reproducible */
                         PACKAGE_VERSION, TSRELAY_REVISION, "MINT", TSRELAY_SOURCE_DATE);
        reply_as(c, buf, (size_t)n, POOL_CONTROL);
        return false;
    }
    case TC_STATS: {
        /* as much as one reply buffer holds */
        if (!ensure_out(c, sizeof(c->out_small) + 1, POOL_CONTROL))
            return false;
        size_t n = c->set->env.stats_text(c->set->env.ctx, c->out + c->out_len,
                                          c->out_cap - c->out_len);
        c->out_len += n;
        return false;
    }
    case TC_HELP:
        reply_line_as(c, telnet_help_text, telnet_help_len, POOL_CONTROL);
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
    if (!ensure_out(c, 4, POOL_INPUT))
        return;
    c->frame_mark = c->out_len;
    c->out_len += 4;
    c->frame_open = true;
}

static void
framed_line(struct framed_io *io, const char *text, size_t len)
{
    struct client *c = container_of(io, struct client, fio);
    if (!c->frame_open) {
        pstats(c)->replies_dropped += len + 1;
        return;
    }
    reply_line_as(c, text, len, POOL_INPUT);
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

/* Says a framed error in its own reply frame. */
static void
framed_say(struct client *c, const char *text, size_t len)
{
    framed_begin(&c->fio);
    framed_line(&c->fio, text, len);
    framed_end(&c->fio);
}

static int http_body_alloc(void *ctx, size_t len, char **buf);
static void http_body_free(void *ctx, char *buf, size_t len);

static void
set_proto(struct client *c, enum listen_proto proto)
{
    struct client_set *cs = c->set;
    const struct config *cfg = cs->env.cfg;
    if (c->proto == PROTO_AUTO && cs->pending > 0)
        cs->pending--;
    c->proto = proto;
    struct proto_stats *ps = pstats(c);
    ps->connections++;
    ps->active++;
    c->sink.rules = cs->env.rules;
    c->sink.stats = &ps->in;
    c->sink.emit = c->control_only ? emit_refused : emit;
    c->sink.owner = c;
    switch (proto) {
    case PROTO_FRAMED:
        if (cfg->frame_acks && cs->env.fa_width > 0 && !c->control_only) {
            c->fa = frameack_new(cs->env.fa_width);
            if (c->fa != NULL)
                cs->connection_bytes += frameack_size(cs->env.fa_width);
        }
        c->sink.on_error = framed_error;
        c->fio.sink = &c->sink;
        c->fio.max_frame = (uint32_t)cfg->max_frame_bytes;
        c->fio.stats = &g_stats.framed;
        c->fio.reply_begin = framed_begin;
        c->fio.reply_line = framed_line;
        c->fio.reply_end = framed_end;
        break;
    case PROTO_HTTP: {
        c->sink.on_error = NULL; /* set per request by http.c */
        struct http_host host = {
            .sink = &c->sink,
            .pool = cs->env.pool,
            .max_body = cfg->max_http_body_bytes,
            .data_allowed = !c->control_only,
            .ctx = c,
            .reply = http_reply,
            .body_alloc = http_body_alloc,
            .body_free = http_body_free,
            .endpoint = cs->env.endpoint,
            .endpoint_ctx = cs->env.endpoint_ctx,
        };
        c->http = http_conn_new(&host);
        if (c->http != NULL)
            cs->connection_bytes += http_conn_size();
        else
            c->close_after_write = true;
        break;
    }
    case PROTO_TELNET:
    case PROTO_AUTO:
    default:
        c->sink.on_error = telnet_error;
        c->tio.sink = &c->sink;
        c->tio.max_line = cfg->max_line_bytes;
        c->tio.command = telnet_command;
        c->tio.reply = telnet_reply;
        break;
    }
}

/* auto: 0x00 -> framed; an HTTP method -> http; else telnet, unless the
 * first word has bytes no telnet client sends (telnet_foreign_start):
 * then an error line, and closed.  Returns false while the first bytes
 * could still be an HTTP method. */
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
    long at = telnet_foreign_start(buf, len);
    if (at >= 0) { /* neither telnet nor HTTP: say so at once, not after read-timeout */
        char line[400], peer[LOG_PEER_MAX];
        reply_line_as(c, line, telnet_foreign_reply(buf, len, at, line, sizeof(line)),
                      POOL_CONTROL);
        c->close_after_write = true;
        LOG_RL(LOG_WARN, "client %s: neither telnet nor HTTP (first byte 0x%02x): closed",
               log_peer(c->fd, peer, sizeof(peer)), (unsigned char)buf[0]);
    }
    return true;
}

static size_t
decode_framed(struct client *c, const char *buf, size_t len)
{
    const struct config *cfg = c->set->env.cfg;
    if (c->control_only) {
        static const char msg[] = "error: too many connections (max-clients): this connection "
                                  "serves stats only; closing";
        framed_say(c, msg, sizeof(msg) - 1);
        c->close_after_write = true;
        return len;
    }
    enum framed_status st;
    uint32_t bad = 0;
    size_t need = 0;
    size_t n = framed_feed(&c->fio, buf, len, &need, &st, &bad);
    c->need = need;
    c->blocked = c->fio.blocked;
    if (c->fa != NULL && c->fio.completed > c->fa_seen) {
        struct client_set *cs = c->set;
        frameack_note(c->fa, c->fio.completed - c->fa_seen, cs->env.fa_mark, cs->env.ctx);
        c->fa_seen = c->fio.completed;
        if (!c->fa_listed) {
            c->fa_listed = true;
            c->fa_next = cs->acking;
            cs->acking = c;
        }
    }
    if (st == FRAMED_OVERSIZE) {
        char line[200];
        int k = snprintf(line, sizeof(line),
                         "error: frame too large: %u bytes, max-frame-bytes is %llu; "
                         "closing the connection",
                         bad, (unsigned long long)cfg->max_frame_bytes);
        framed_say(c, line, (size_t)k);
        char peer[LOG_PEER_MAX];
        LOG_RL(LOG_WARN, "client %s: frame header claims %u bytes (max %llu): closed",
               log_peer(c->fd, peer, sizeof(peer)), bad,
               (unsigned long long)cfg->max_frame_bytes);
        c->close_after_write = true;
        c->need = 0;
        return len;
    }
    return n;
}

/* Decodes the complete units at the start of buf; returns the bytes
 * consumed.  Sets c->blocked when it stopped for room, c->need to the
 * size of a framed unit that is incomplete. */
static size_t
decode(struct client *c, const char *buf, size_t len)
{
    c->blocked = false;
    c->need = 0;
    if (len == 0)
        return 0;
    if (c->proto == PROTO_AUTO) {
        if (!sniff(c, buf, len))
            return 0;
        if (c->close_after_write)
            return len; /* neither telnet nor HTTP: answered */
    }
    switch (c->proto) {
    case PROTO_FRAMED:
        return decode_framed(c, buf, len);
    case PROTO_HTTP: {
        if (c->http == NULL)
            return len;
        enum http_state st;
        size_t n = http_feed(c->http, buf, len, &st);
        if (st == HTTP_WAIT_ROOM)
            c->blocked = true;
        else if (st == HTTP_CLOSE)
            c->close_after_write = true;
        return n;
    }
    case PROTO_TELNET:
    default: {
        bool stop = false;
        size_t n = telnet_feed(&c->tio, buf, len, &stop);
        c->blocked = c->tio.blocked;
        if (stop)
            c->close_after_write = true;
        return n;
    }
    }
}

/* ---- admitted memory --------------------------------------------------- */

/* What a unit of n bytes is admitted as: a block, or whole pages.  Pages
 * are never a block's size: take_admitted takes block_size for a block,
 * whose data is a header short of it (a unit of data_size + 1 .. block_size
 * bytes would overrun it). */
static size_t
admitted_size(struct client *c, size_t n)
{
    struct pool *p = pool_of(c);
    if (n <= p->data_size)
        return p->block_size;
    size_t pg = 4096;
    size_t pages = (n + pg - 1) / pg * pg;
    return pages == p->block_size ? pages + pg : pages;
}

/* Memory for `bytes` already charged (an admission): a block's data when
 * it is a block, else a mapping.  NULL (charge returned) if the OS says no. */
static char *
take_admitted(struct client *c, size_t bytes, struct block **blk, size_t *cap)
{
    struct pool *p = pool_of(c);
    *blk = NULL;
    if (bytes == p->block_size) {
        struct block *b = pool_get_charged(p, POOL_INPUT);
        if (b != NULL) {
            *blk = b;
            *cap = p->data_size;
            return b->data;
        }
    } else {
        /* mapped, not malloc'd: freeing it really returns it to the OS */
        char *m = mmap(NULL, bytes, PROT_READ | PROT_WRITE, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
        if (m != MAP_FAILED) {
            *cap = bytes;
            return m;
        }
    }
    admission_release(c->set->env.adm, bytes);
    return NULL;
}

static void
give_back(struct client *c, char *mem, struct block *blk, size_t bytes)
{
    if (blk != NULL) {
        pool_put(pool_of(c), blk);
    } else if (mem != NULL) {
        munmap(mem, bytes);
        admission_release(c->set->env.adm, bytes);
    }
}

static void
release_ub(struct client *c)
{
    if (c->ub == NULL)
        return;
    give_back(c, c->ub, c->ub_blk, c->ub_charged);
    c->ub = NULL;
    c->ub_blk = NULL;
    c->ub_cap = c->ub_len = c->ub_off = c->ub_charged = 0;
}

/* The admitted buffer, with the inline bytes moved into it. */
static bool
open_ub(struct client *c, size_t bytes)
{
    c->ub = take_admitted(c, bytes, &c->ub_blk, &c->ub_cap);
    if (c->ub == NULL)
        return false;
    c->ub_charged = c->ub_blk != NULL ? 0 : bytes;
    memcpy(c->ub, c->inl, c->inl_len);
    c->ub_len = c->inl_len;
    c->ub_off = 0;
    c->inl_len = 0;
    return true;
}

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

/* Memory must be had now: the plain read guaranteed it (see pressured). */
static bool
force_admitted(struct client *c, size_t bytes)
{
    struct pool *p = pool_of(c);
    if (pool_charge(p, bytes, POOL_INPUT) != TS_OK) {
        /* past the input limit by one read at most; counted and logged */
        p->used[POOL_INPUT] += bytes;
        c->set->st.forced++;
        char peer[LOG_PEER_MAX];
        LOG_RL(LOG_ERROR, "client %s: %zu bytes of input held past input-memory",
               log_peer(c->fd, peer, sizeof(peer)), bytes);
    }
    return open_ub(c, bytes);
}

static int
http_body_alloc(void *ctx, size_t len, char **buf)
{
    struct client *c = ctx;
    size_t bytes = admitted_size(c, TS_MAX(len, (size_t)1));
    if (c->http_body != NULL) { /* granted while it waited */
        *buf = c->http_body;
        c->http_body = NULL;
        return TS_OK;
    }
    int rc = admission_request(c->set->env.adm, &c->adm, bytes, ev_now(loop_of(c)));
    if (rc != TS_OK)
        return TS_EAGAIN;
    size_t cap;
    *buf = take_admitted(c, bytes, &c->http_body_blk, &cap);
    c->http_body_len = bytes;
    return *buf != NULL ? TS_OK : TS_ENOMEM;
}

static void
http_body_free(void *ctx, char *buf, size_t len)
{
    struct client *c = ctx;
    (void)len;
    give_back(c, buf, c->http_body_blk, c->http_body_len);
    c->http_body_blk = NULL;
    c->http_body_len = 0;
}

/* ---- reading ----------------------------------------------------------- */

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
    ev_io_stop(loop_of(c), &c->rio);
}

/* Waits for room in the queues: resumed by client_admission_poll. */
static int
park_room(struct client *c)
{
    stop_reading(c);
    c->room_wait = true;
    c->last_activity = ev_now(loop_of(c));
    admission_wait_room(c->set->env.adm, &c->adm, c->last_activity);
    return STEP_WAIT;
}

/* Waits for input memory (the ticket is in line already). */
static int
park_input(struct client *c)
{
    stop_reading(c);
    c->room_wait = false;
    c->last_activity = ev_now(loop_of(c));
    return STEP_WAIT;
}

/* Takes n bytes off the socket that a peek already showed.  false: closed. */
static bool
discard(struct client *c, size_t n)
{
    while (n > 0) {
        ssize_t k = recv(c->fd, NULL, n, MSG_TRUNC | MSG_DONTWAIT);
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
        pstats(c)->bytes_in += n;
    c->last_activity = ev_now(loop_of(c));
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
        c->partial_since = ev_now(loop_of(c));
}

/* Decodes with the batch bracket the relay needs (routing facts, latency). */
static size_t
decode_batch(struct client *c, const char *buf, size_t len)
{
    struct client_env *env = &c->set->env;
    env->batch(env->ctx, ts_now_ns());
    size_t n = decode(c, buf, len);
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
    ssize_t n = recv(c->fd, buf, room, peek ? MSG_PEEK : 0);
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
        bool small = rest <= CLIENT_INLINE && (c->need == 0 ? c->proto == PROTO_TELNET
                                                            : c->need <= CLIENT_INLINE);
        if (rest == 0 || small) {
            memcpy(c->inl, c->ub, rest);
            c->inl_len = rest;
            release_ub(c);
            set_partial(c, rest > 0);
            return STEP_AGAIN;
        }
    }
    set_partial(c, true);
    size_t room = c->ub_cap - c->ub_len;
    if (c->proto == PROTO_FRAMED && c->need > c->ub_len)
        room = TS_MIN(room, c->need - c->ub_len); /* never past the frame */
    if (room == 0) { /* cannot happen: units fit what was admitted for them */
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

/* An HTTP request that stopped carries on before anything new is read:
 * its body may be all in already.  STEP_AGAIN when it no longer waits. */
static int
resume_http(struct client *c)
{
    enum http_state st;
    http_feed(c->http, "", 0, &st);
    if (st == HTTP_WAIT_ROOM)
        return park_room(c);
    if (st == HTTP_CLOSE)
        c->close_after_write = true;
    int go = flush_replies(c, STEP_AGAIN);
    if (go != STEP_AGAIN)
        return go;
    if (st == HTTP_WAIT_BODY)
        return c->adm.waiting ? park_input(c) : STEP_AGAIN;
    return STEP_AGAIN;
}

/* Holding nothing admitted: read (or peek) into the scratch buffer after
 * the inline bytes, decode in place, keep only what is incomplete. */
static int
step_boundary(struct client *c)
{
    struct client_set *cs = c->set;
    if (c->http != NULL && http_waiting(c->http)) {
        int r = resume_http(c);
        if (r != STEP_AGAIN || http_waiting(c->http))
            return r == STEP_AGAIN ? STEP_IDLE : r;
    }
    char *buf = cs->scratch;
    size_t t = c->inl_len;
    memcpy(buf, c->inl, t);
    size_t room = cs->scratch_cap - t;
    bool peek = pressured(c);
    size_t got;
    int st = recv_into(c, buf + t, room, peek, &got);
    if (got == 0)
        return st;
    size_t total = t + got;
    if (!peek) {
        c->inl_len = 0;
        note_read(c, got);
    }
    size_t used = decode_batch(c, buf, total);
    if (peek) {
        /* take off the socket what was decoded (inline bytes come first) */
        size_t from_sock = used > t ? used - t : 0;
        if (from_sock > 0) {
            if (!discard(c, from_sock))
                return STEP_CLOSED;
            note_read(c, from_sock);
        }
        if (used >= t) {
            c->inl_len = 0;
        } else if (used > 0) {
            memmove(c->inl, c->inl + used, t - used);
            c->inl_len = t - used;
        }
    }
    size_t rest = total - used;
    if (c->blocked) {
        if (!peek && rest > 0) {
            /* the plain read promised room for what it leaves: hold it */
            if (!force_admitted(c, admitted_size(c, TS_MAX(rest, unit_bound(c))))) {
                client_close(c, "out of memory");
                return STEP_CLOSED;
            }
            memcpy(c->ub, buf + used, rest);
            c->ub_len = rest;
        }
        set_partial(c, c->inl_len > 0 || c->ub != NULL);
        return park_room(c);
    }
    int go = flush_replies(c, STEP_AGAIN);
    if (go != STEP_AGAIN)
        return go;
    if (c->proto == PROTO_HTTP) {
        set_partial(c, c->http != NULL && http_in_request(c->http));
        if (c->adm.waiting)
            return park_input(c); /* a body waits for memory */
        return got == room ? STEP_AGAIN : STEP_IDLE;
    }
    if (rest == 0) {
        set_partial(c, false);
        return got == room ? STEP_AGAIN : STEP_IDLE;
    }
    /* an incomplete unit at the head: keep it inline when it is small */
    set_partial(c, true);
    size_t in_sock = peek ? total - TS_MAX(used, t) : 0;
    bool small = c->need == 0 ? rest <= CLIENT_INLINE : c->need <= CLIENT_INLINE;
    if (small && rest <= CLIENT_INLINE) {
        memmove(c->inl, buf + used, rest);
        c->inl_len = rest;
        if (in_sock > 0) {
            if (!discard(c, in_sock))
                return STEP_CLOSED;
            note_read(c, in_sock);
        }
        return got == room ? STEP_AGAIN : STEP_IDLE;
    }
    size_t want = admitted_size(c, c->need != 0 ? c->need : unit_bound(c));
    if (!peek) {
        if (!force_admitted(c, want)) {
            client_close(c, "out of memory");
            return STEP_CLOSED;
        }
        memcpy(c->ub, buf + used, rest);
        c->ub_len = rest;
        return STEP_AGAIN;
    }
    /* inline bytes stay where they are; the rest stays in the socket */
    if (admission_request(cs->env.adm, &c->adm, want, ev_now(loop_of(c))) != TS_OK)
        return park_input(c);
    if (!open_ub(c, want)) {
        client_close(c, "out of memory");
        return STEP_CLOSED;
    }
    return STEP_AGAIN; /* step_unit reads the rest into it */
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
        if (!env->running(env->ctx)) {
            stop_reading(c);
            return;
        }
        int s = step(c);
        if (s != STEP_AGAIN)
            return;
    }
}

/* Closing while the peer may still be sending would make the kernel answer
 * with an RST, which can destroy the reply we just wrote before the peer
 * reads it.  So: FIN first, then read and discard until the peer closes,
 * for at most LINGER_SECONDS. */
static void
begin_linger(struct client *c)
{
    struct ev_loop *loop = loop_of(c);
    c->lingering = true;
    shutdown(c->fd, SHUT_WR);
    admission_cancel(c->set->env.adm, &c->adm);
    release_ub(c);
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
on_readable(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)revents;
    struct client *c = container_of(w, struct client, rio);
    if (c->lingering) {
        linger_read(c);
        return;
    }
    client_run(c);
}

/* ---- waking up --------------------------------------------------------- */

static void
granted(struct admit_ticket *t, void *ctx)
{
    (void)ctx;
    struct client *c = container_of(t, struct client, adm);
    if (c->proto == PROTO_HTTP) {
        size_t cap;
        c->http_body = take_admitted(c, t->bytes, &c->http_body_blk, &cap);
        c->http_body_len = t->bytes;
    } else if (!open_ub(c, t->bytes)) {
        client_close(c, "out of memory");
        return;
    }
    c->last_activity = ev_now(loop_of(c));
    ev_io_start(loop_of(c), &c->rio);
    client_run(c);
}

static void
resumed(struct admit_ticket *t, void *ctx)
{
    (void)ctx;
    struct client *c = container_of(t, struct client, adm);
    c->room_wait = false;
    c->last_activity = ev_now(loop_of(c));
    ev_io_start(loop_of(c), &c->rio);
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

/* ---- frame acknowledgements --------------------------------------------- */

/* "ack N" in a reply frame of its own. */
static bool
send_ack(struct client *c, uint64_t n)
{
    char msg[32];
    int k = snprintf(msg + 4, sizeof(msg) - 4, "ack %llu", (unsigned long long)n);
    framed_put_len(msg, (uint32_t)k);
    if (!ensure_out(c, (size_t)k + 4, POOL_CONTROL))
        return false;
    memcpy(c->out + c->out_len, msg, (size_t)k + 4);
    c->out_len += (size_t)k + 4;
    return true;
}

void
client_frame_acks(struct client_set *cs)
{
    struct client **pp = &cs->acking;
    while (*pp != NULL) {
        struct client *c = *pp;
        if (c->fa == NULL || !frameack_pending(c->fa) || c->lingering) {
            *pp = c->fa_next; /* nothing waits: off the list */
            c->fa_listed = false;
            c->fa_next = NULL;
            continue;
        }
        pp = &c->fa_next;
        if (!ensure_out(c, 32, POOL_CONTROL))
            continue; /* its replies are full: next time */
        uint64_t n = frameack_ready(c->fa, cs->env.fa_safe, cs->env.ctx);
        if (n > 0 && send_ack(c, n))
            ev_io_start(cs->env.loop, &c->wio); /* written when the socket takes it */
    }
}

size_t
client_frame_acks_remark(struct client_set *cs, size_t fa_width)
{
    size_t closed = 0;
    cs->env.fa_width = fa_width;
    struct client *next;
    for (struct client *c = cs->all; c != NULL; c = next) {
        next = c->next;
        if (c->fa == NULL)
            continue;
        size_t before = frameack_size(c->fa->width);
        struct frameack *fa = frameack_remark(c->fa, fa_width, cs->env.fa_mark, cs->env.ctx);
        if (fa == NULL) {
            client_close(c, "out of memory for its frame acknowledgements");
            closed++;
            continue;
        }
        c->fa = fa;
        cs->connection_bytes += frameack_size(fa->width) - before;
    }
    return closed;
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
    struct ev_loop *loop = loop_of(c);
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
on_timer(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)revents;
    struct client *c = container_of(w, struct client, timer);
    const struct config *cfg = c->set->env.cfg;
    double now = ev_now(loop);
    if (c->lingering) {
        client_close(c, "lingering close timed out");
        return;
    }
    if (c->adm.waiting || c->reading_stopped) {
        /* it waits for us (memory, room, shutdown): its silence is ours,
         * not idleness, and its partial unit waits for us too */
        c->last_activity = now;
        if (c->partial_since > 0)
            c->partial_since = now;
        arm_timer(c);
        return;
    }
    if (idle_limit(c) > 0 && now - c->last_activity >= idle_limit(c)) {
        g_stats.clients_timed_out++;
        client_close(c, "idle timeout");
        return;
    }
    double since = c->partial_since > 0 ? c->partial_since : c->last_activity;
    if (cfg->read_timeout_ms > 0 && holds_partial(c) &&
        now - since >= (double)cfg->read_timeout_ms / 1000.0) {
        g_stats.clients_timed_out++;
        static const char msg[] = "error: read timeout: incomplete input for too long; closing";
        if (c->proto == PROTO_TELNET || c->proto == PROTO_AUTO)
            reply_line_as(c, msg, sizeof(msg) - 1, POOL_CONTROL);
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
client_new(struct client_set *cs, const struct cfg_listen *lc, int fd, bool control_only)
{
    struct client *c = calloc(1, sizeof(*c));
    if (c == NULL)
        return NULL;
    struct ev_loop *loop = cs->env.loop;
    c->set = cs;
    c->lc = lc;
    c->fd = fd;
    c->control_only = control_only;
    c->last_activity = ev_now(loop);
    ev_io_init(&c->rio, on_readable, fd, EV_READ);
    ev_io_init(&c->wio, on_writable, fd, EV_WRITE);
    ev_timer_init(&c->timer, on_timer, 1.0, 0.0);
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
        set_proto(c, lc->proto);
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
    if (c->proto != PROTO_AUTO)
        pstats(c)->active--;
    else if (cs->pending > 0)
        cs->pending--;
    ev_io_stop(loop, &c->rio);
    ev_io_stop(loop, &c->wio);
    ev_timer_stop(loop, &c->timer);
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
    release_ub(c);
    if (c->http != NULL) {
        http_conn_free(c->http); /* gives its body back through http_body_free */
        cs->connection_bytes -= http_conn_size();
    }
    if (c->http_body != NULL)
        give_back(c, c->http_body, c->http_body_blk, c->http_body_len);
    release_reply(c);
    free(c);
}

void
client_stop_all_reading(struct client_set *cs)
{
    for (struct client *c = cs->all; c != NULL; c = c->next) {
        ev_io_stop(cs->env.loop, &c->rio);
        admission_cancel(cs->env.adm, &c->adm);
        c->reading_stopped = true;
    }
}
