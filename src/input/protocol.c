/*
 * protocol.c -- what a client speaks, and its input decoded.
 *
 * An auto listener's client is sniffed on its first bytes: 0x00 starts a
 * frame, an HTTP method a request, anything else a telnet line.  Then its
 * decoder is wired to it: points go up through the env's submit (or are
 * refused on a stats-only slot), error and command replies go to the
 * client's reply buffer (a framed payload's replies in one reply frame),
 * an HTTP body's memory comes from admitted.c.  Decoding never copies: the
 * decoders parse where the bytes were read.  It never reads a socket.
 */
#include "autoconf.h"

#include <stdio.h>
#include <string.h>

#include "input/admitted.h"
#include "input/frameack.h"
#include "input/protocol.h"
#include "input/reply.h"
#include "base/allow.h"
#include "input/syncwait.h"
#include "base/log.h"
#include "base/util.h"

/* A point up to the relay. */
static int
protocol_emit(struct sink *s, const char *line, size_t len, uint64_t hash,
              struct point_error *why)
{
    struct client *c = s->owner;
    c->produced = true;
    return c->set->env.submit(c->set->env.ctx, c->origin, line, len, hash, why);
}

/* A stats-only slot (over max-clients): data is refused, counted invalid
 * (it was received), and the connection closes after saying why. */
static int
emit_refused(struct sink *s, const char *line, size_t len, uint64_t hash,
             struct point_error *why)
{
    (void)line;
    (void)len;
    (void)hash;
    (void)why;
    struct client *c = s->owner;
    static const char msg[] = "error: too many connections (max-clients): this connection "
                              "serves stats, version and help only; closing";
    s->stats->invalid++;
    reply_line(c, msg, sizeof(msg) - 1, POOL_CONTROL);
    c->close_after_write = true;
    return TS_ERROR;
}

static void
telnet_reply(struct telnet_io *io, const char *text, size_t len)
{
    reply_line(container_of(io, struct client, tio), text, len, POOL_INPUT);
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
                         "Built on %s by tsrelay\n", /* the source's date: reproducible */
                         PACKAGE_VERSION, TSRELAY_REVISION, "MINT", TSRELAY_SOURCE_DATE);
        reply_bytes(c, buf, (size_t)n, POOL_CONTROL);
        return false;
    }
    case TC_STATS: {
        if (!allow_match(&c->set->env.cfg->admin_allow, (const struct sockaddr *)&c->peer)) {
            static const char no[] = "error: stats: not allowed from this address (admin-allow)";
            g_stats.admin_denied++;
            reply_line(c, no, sizeof(no) - 1, POOL_CONTROL);
            return false;
        }
        /* as much as one reply buffer holds */
        if (!reply_room(c, sizeof(c->out_small) + 1, POOL_CONTROL))
            return false;
        size_t n = c->set->env.stats_text(c->set->env.ctx, c->out + c->out_len,
                                          c->out_cap - c->out_len);
        c->out_len += n;
        return false;
    }
    case TC_STATUS: {
        const char *w = c->set->env.status_word(c->set->env.ctx);
        reply_line(c, w, strlen(w), POOL_CONTROL);
        return false;
    }
    case TC_HELP:
        reply_line(c, telnet_help_text, telnet_help_len, POOL_CONTROL);
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
    if (!reply_room(c, 4, POOL_INPUT))
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
        conn_stats(c)->replies_dropped += len + 1;
        return;
    }
    reply_line(c, text, len, POOL_INPUT);
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

/* A passed HTTP request can go on (its answer ended, or its body has room
 * again): the client reads and decodes again, from the loop. */
static void
protocol_wake(void *ctx)
{
    struct client *c = ctx;
    if (!c->pass_wait || c->lingering)
        return;
    c->pass_wait = false;
    ev_io_start(conn_loop(c), &c->rio);
    ev_feed_event(conn_loop(c), &c->rio, EV_READ);
}

void
protocol_framed_notice(struct client *c, const char *text, size_t len)
{
    framed_say(c, text, len);
    if (c->out_len > c->out_off)
        ev_io_start(conn_loop(c), &c->wio); /* written when the socket takes it */
}

void
protocol_set(struct client *c, enum listen_proto proto)
{
    struct client_set *cs = c->set;
    const struct config *cfg = cs->env.cfg;
    TS_ASSERT(c->proto != PROTO_AUTO || cs->pending > 0); /* counted when accepted */
    if (c->proto == PROTO_AUTO && cs->pending > 0)
        cs->pending--;
    c->proto = proto;
    struct proto_stats *ps = conn_stats(c);
    ps->connections++;
    ps->active++;
    c->sink.rules = cs->env.rules;
    c->sink.stats = &ps->in;
    c->sink.emit = c->control_only ? emit_refused : protocol_emit;
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
            .peer = (const struct sockaddr *)&c->peer,
            .ctx = c,
            .reply = reply_http,
            .body_alloc = admitted_http_body,
            .body_free = admitted_http_body_free,
            .endpoint = cs->env.endpoint,
            .endpoint_ctx = cs->env.endpoint_ctx,
            .pass = cs->env.pass,
            .pass_ctx = cs->env.pass_ctx,
            .origin = c->origin,
            .max_header = cfg->max_http_header_bytes,
            .stream = reply_stream,
            .wake = protocol_wake,
            .sync_begin = cs->env.sync_mark != NULL ? syncwait_begin : NULL,
            .sync_wait = cs->env.sync_mark != NULL ? syncwait_wait : NULL,
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
        protocol_set(c, PROTO_FRAMED);
        return true;
    }
    for (size_t i = 0; i < TS_ARRAY_LEN(methods); i++) {
        size_t ml = strlen(methods[i]);
        size_t n = TS_MIN(len, ml);
        if (memcmp(buf, methods[i], n) == 0) {
            if (len < ml)
                return false;
            protocol_set(c, PROTO_HTTP);
            return true;
        }
    }
    protocol_set(c, PROTO_TELNET);
    long at = telnet_foreign_start(buf, len);
    if (at >= 0) { /* neither telnet nor HTTP: say so at once, not after read-timeout */
        char line[400], peer[LOG_PEER_MAX];
        reply_line(c, line, telnet_foreign_reply(buf, len, at, line, sizeof(line)),
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
    if (c->fa != NULL && !c->fio.blocked) /* (resuming a frame: where it began stays) */
        frameack_begin(c->fa, c->set->env.fa_mark, c->set->env.ctx);
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
size_t
protocol_decode(struct client *c, const char *buf, size_t len)
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
        else if (st == HTTP_WAIT_PASS)
            c->pass_wait = true;
        else if (st == HTTP_WAIT_SYNC)
            c->sync_parked = true;
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
