/*
 * proxyhead.h -- the heads of a passed request and of its answer,
 * rewritten for the next hop.
 *
 * Owns which header lines are hop-by-hop (RFC 9110 7.6.1: Connection,
 * Keep-Alive, Proxy-Connection, TE, Trailer, Transfer-Encoding, Upgrade,
 * Proxy-Authenticate, Proxy-Authorization, and every name a Connection
 * header lists) and so never cross the relay; the framing lines the relay
 * writes itself (Content-Length of a request, Expect: 100-continue, which
 * the relay answers); X-Forwarded-For extended with the client's address;
 * and the answer's status line.  Header lines are "Name: value\r\n" as
 * received.  Plain functions of text: no state, no allocation.
 */
#ifndef TS_PROXYHEAD_H
#define TS_PROXYHEAD_H

#include <stdbool.h>
#include <stddef.h>

/* What the request's head said about itself. */
struct proxyhead_info {
    bool has_host;           /* a Host line (kept) */
    bool expect_continue;    /* Expect: 100-continue (dropped: the relay answers it) */
};

/* Case-insensitive: name (nlen bytes) is hop-by-hop, or listed in the
 * Connection header values `conn` (comma-separated tokens, clen bytes). */
bool proxyhead_hop(const char *name, size_t nlen, const char *conn, size_t clen);

/* The Connection header values of the lines in (all of them, joined by
 * ","), into out (cap bytes); returns the length (cut to cap). */
size_t proxyhead_connection_tokens(const char *in, size_t len, char *out, size_t cap);

/* The request's header lines for the backend into out: hop-by-hop lines,
 * Content-Length and Expect dropped, X-Forwarded-For (the client's, if
 * any, then origin) last.  Returns the length, or 0 when out (cap bytes)
 * is too small (the caller gives len + 128 + the origin's length). */
size_t proxyhead_request(const char *in, size_t len, const char *origin, char *out, size_t cap,
                         struct proxyhead_info *info);

/* The answer's header lines for the client, filtered in place: the
 * hop-by-hop ones and those its Connection headers list dropped, and its
 * Content-Length too when drop_length (the relay frames the body anew).
 * Returns the new length. */
size_t proxyhead_answer(char *lines, size_t len, bool drop_length);

/* "HTTP/1.1 <status> <reason>\r\n" into out (at least 96 bytes); a
 * missing reason becomes the standard one.  Returns the length. */
size_t proxyhead_status_line(int status, const char *reason, size_t rlen, char *out,
                             size_t cap);

#endif
