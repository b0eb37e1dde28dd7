/*
 * http_conn.h -- one HTTP connection's state (struct http_conn), shared by
 * http.c (framing, the parser, dispatch) and httpput.c (the writes and
 * their answers, ?sync).  Only input/http*.c include it.
 */
#ifndef TS_HTTP_CONN_H
#define TS_HTTP_CONN_H

#include <http_parser.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "base/point.h"
#include "input/http_types.h"
#include "input/httppass.h"

#define URL_MAX 4096

struct buf {
    char *p;
    size_t len, cap;
};

enum wait {
    WAIT_NONE = 0,
    WAIT_BODY,
    WAIT_ROOM,
    WAIT_PASS_ROOM,          /* a passed body: no room (the parser is not paused) */
    WAIT_PASS_ANSWER,        /* a passed request, received whole: its answer */
    WAIT_SYNC,               /* a ?sync request: its points' proofs */
};

/* /api/put across the passes of one request (a pass ends when the sink
 * has no room; the next one skips what was done). */
struct put_state {
    bool active;
    bool details, summary;
    bool checked;              /* gzip: the stream and its size were checked */
    size_t skip;               /* elements handled by earlier passes */
    size_t points, ok, failed;
    bool sync;                 /* ?sync: answered once the points are proven */
    bool sync_begun;           /* the host marked where its points begin */
    bool sync_timeout_given;   /* &sync_timeout= */
    bool sync_done;            /* the host answered the wait (the answer is out) */
    uint64_t sync_timeout_ms;
    size_t sync_failed;        /* points refused for good while it waited */
};

struct http_conn {
    struct http_host host;
    http_parser parser;
    char url[URL_MAX];
    size_t url_len;
    bool url_too_long;
    char field[32];
    size_t field_len;
    bool last_was_value;
    bool field_is_encoding;
    char encoding[16];         /* Content-Encoding value, possibly in pieces */
    size_t encoding_len;
    bool gzip;
    bool in_request;
    bool head_request;         /* a parsed HEAD request: answer without body */
    bool is_put;               /* the request is for a write: /api/put, ... */
    enum point_cmd put_cmd;    /* ... which: put, rollup or histogram */
    bool classified;           /* the relay's own path, or passed: decided */
    bool pass_this;            /* the request is passed through */
    bool pass_skip;            /* passing it failed at once: its body is skipped */
    bool pass_head_pause;      /* paused at a passed request's head: feed its body by room */
    bool close;                /* the request being answered ends the connection */
    bool closing;              /* an error ended the conversation */
    enum wait wait;
    size_t body_need;          /* WAIT_BODY: bytes asked of the host */
    int error_status;          /* set: answer this and close */
    const char *error_msg;
    struct buf body;           /* host memory, body_need bytes */
    struct buf details;        /* ?details error entries, charged (input class) */
    size_t details_charged;
    size_t details_count;
    struct put_state put;
    struct httppass pass;      /* a passed request */
};

/* http.c: an answer to the request being handled (control: charged to the
 * control class, for the relay's own answers), and the TSD's error shape. */
void http_conn_respond(struct http_conn *h, int code, const char *ctype, const char *body,
                       size_t blen, bool control);
void http_conn_respond_error(struct http_conn *h, int code, const char *message,
                             const char *details, bool control);

/* httpput.c: a write (/api/put, /api/rollup, /api/histogram) whose body is
 * in h->body: its points into the sink, then the TSD's answer, or the wait
 * for ?sync's proofs.  false when the sink had no room (it comes again). */
bool httpput_answer(struct http_conn *h);
/* The ?details entries' memory, given back. */
void httpput_details_free(struct http_conn *h);

#endif
