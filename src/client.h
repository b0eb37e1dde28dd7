/*
 * client.h -- one accepted client connection.
 *
 * Owns the socket, protocol sniffing (auto listeners), the bounded input
 * tail (an inline buffer, a pool block, or for a large frame one buffer
 * charged to the budget after its length was checked), the bounded reply
 * buffer, idle and partial-read deadlines, and pausing when memory is
 * short.  Decoding is delegated to telnet/framed/http.  It must never read
 * when there is no memory for what it reads, and never let a client that
 * does not read its replies grow the process.
 */
#ifndef TS_CLIENT_H
#define TS_CLIENT_H

#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"
#include "framed.h"
#include "ingest.h"
#include "telnet.h"

#define CLIENT_TAIL_INLINE 512

struct relay;
struct listener;
struct http_conn;
struct block;

struct client {
    struct relay *r;
    struct listener *ls;
    int fd;
    enum listen_proto proto;       /* AUTO until sniffed */
    ev_io rio;
    ev_io wio;
    ev_timer timer;                /* idle and partial-read deadlines */
    double last_activity;          /* ev_now of the last read */
    double partial_since;          /* ev_now when the pending unit began, 0 if none */
    /* input tail: the incomplete line/frame/request kept between reads */
    size_t tail_len;
    struct block *tail_blk;        /* when the tail outgrows tail_small */
    char *big;                     /* a frame larger than a block */
    size_t big_cap;
    size_t need;                   /* framed: bytes the pending frame needs */
    /* replies */
    char *out;                     /* block data or a charged buffer */
    struct block *out_blk;
    size_t out_cap, out_len, out_off;
    size_t out_charged;
    size_t frame_mark;             /* framed: start of the reply frame */
    bool frame_open;
    bool close_after_write;
    bool paused;
    bool reading_stopped;
    bool produced;                 /* has emitted data points */
    bool lingering;                /* our side is done: discard input until
                                      the peer closes (or a short deadline) */
    struct client *next, *prev;    /* relay->clients */
    struct client *next_paused;
    struct sink sink;
    struct telnet_io tio;
    struct framed_io fio;
    struct http_conn *http;
    char tail_small[CLIENT_TAIL_INLINE];
};

/* Takes over an accepted socket.  NULL (socket closed) when over budget. */
struct client *client_new(struct relay *r, struct listener *ls, int fd);
void client_close(struct client *c, const char *why);

/* Appends reply bytes; drops (and counts) what does not fit the cap. */
bool client_reply(struct client *c, const char *data, size_t len);
/* HTTP: a response of known size in one buffer charged to the budget. */
bool client_reply_reserve(struct client *c, size_t len);
/* Frees the reply buffer and its budget: the reply was written (or the
 * client is gone). */
void client_release_reply(struct client *c);
void client_write_now(struct client *c);

/* Memory came back: resume paused clients that can read again. */
void client_resume_paused(struct relay *r);
/* Shutdown: stop reading from every client. */
void client_stop_all_reading(struct relay *r);
void client_close_all(struct relay *r);

#endif
