/*
 * httpreply.h -- the relay's own HTTP responses, as bytes.
 *
 * Owns the status line and headers of a response (Server, Content-Length,
 * Content-Type, Location, Connection; a HEAD answer without its body),
 * the TSD's JSON error object ({"error":{"code","message"[,"details"]}})
 * and JSON string escaping.  The bytes go to the client through the
 * host's reply callback; it keeps no state and never touches a socket.
 */
#ifndef TS_HTTPREPLY_H
#define TS_HTTPREPLY_H

#include <stdbool.h>
#include <stddef.h>

/* Where a response goes, and how the request asked for it. */
struct httpreply_to {
    /* http_host.reply: head, then body; false when it could not be kept */
    bool (*reply)(void *ctx, const char *head, size_t hlen, const char *body, size_t blen,
                  bool control, bool close);
    void *ctx;
    bool head;               /* a HEAD request: the same headers, no body */
    bool close;              /* the connection ends after it */
};

/* A response (location: a Location header, or NULL).  false: the reply
 * could not be buffered (the connection is to close); logged, rate-limited. */
bool httpreply_send(const struct httpreply_to *to, int code, const char *ctype,
                    const char *location, const char *body, size_t blen, bool control);
/* The TSD's JSON error object into out (cap bytes, at least 256): the
 * message and the details shortened to fit.  Returns its length. */
size_t httpreply_error_body(int code, const char *message, const char *details, char *out,
                            size_t cap);
/* Escapes s for a JSON string body into out (cap bytes); ISO-8859-1 input
 * when latin1.  Stops before an escape that would not fit.  Returns the
 * bytes written. */
size_t httpreply_json_escape(const char *s, size_t n, bool latin1, char *out, size_t cap);
/* The reason phrase of a status code ("Not Found"). */
const char *httpreply_status_text(int code);

#endif
