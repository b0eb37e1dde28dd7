/*
 * httpreply.c -- the relay's own HTTP responses, as bytes.
 *
 * A response is one head (status line, Server, Content-Length, optional
 * Content-Type and Location, Connection) and its body, handed to the
 * host's reply callback whole; a HEAD request gets the same head and no
 * body.  Errors have the TSD's JSON shape.  No state, no socket.
 */
#include "autoconf.h"

#include <stdio.h>
#include <string.h>

#include "input/httpreply.h"
#include "base/counters.h"
#include "base/log.h"
#include "base/point.h"
#include "base/putjson.h"
#include "base/util.h"

size_t
httpreply_json_escape(const char *s, size_t n, bool latin1, char *out, size_t cap)
{
    size_t o = 0;
    for (size_t i = 0; i < n; i++) {
        char tmp[8];
        size_t k = putjson_escape_byte((unsigned char)s[i], latin1, tmp);
        if (o + k > cap)
            break;
        memcpy(out + o, tmp, k);
        o += k;
    }
    return o;
}

const char *
httpreply_status_text(int code)
{
    switch (code) {
    case 200: return "OK";
    case 204: return "No Content";
    case 302: return "Found";
    case 400: return "Bad Request";
    case 404: return "Not Found";
    case 405: return "Method Not Allowed";
    case 413: return "Payload Too Large";
    case 414: return "URI Too Long";
    case 431: return "Request Header Fields Too Large";
    case 500: return "Internal Server Error";
    case 502: return "Bad Gateway";
    case 503: return "Service Unavailable";
    case 504: return "Gateway Timeout";
    }
    return "Error";
}

bool
httpreply_send(const struct httpreply_to *to, int code, const char *ctype, const char *location,
               const char *body, size_t blen, bool control)
{
    char head[640];
    int n = snprintf(head, sizeof(head),
                     "HTTP/1.1 %d %s\r\nServer: tsrelay/%s\r\nContent-Length: %zu\r\n"
                     "%s%s%s%s%.256s%sConnection: %s\r\n\r\n",
                     code, httpreply_status_text(code), PACKAGE_VERSION, blen,
                     ctype ? "Content-Type: " : "", ctype ? ctype : "", ctype ? "\r\n" : "",
                     location ? "Location: " : "", location ? location : "",
                     location ? "\r\n" : "", to->close ? "close" : "keep-alive");
    if (code >= 400)
        g_stats.http_errors++;
    size_t send = to->head ? 0 : blen; /* HEAD: same headers, no body */
    if (n < 0 || (size_t)n >= sizeof(head) ||
        !to->reply(to->ctx, head, (size_t)n, body, send, control, to->close)) {
        LOG_RL(LOG_WARN, "http: no memory for a %zu-byte response; closing", (size_t)n + send);
        return false;
    }
    return true;
}

size_t
httpreply_error_body(int code, const char *message, const char *details, char *b, size_t size)
{
    size_t cap = size - 8; /* room for the closing characters */
    int k = snprintf(b, size, "{\"error\":{\"code\":%d,\"message\":\"", code);
    size_t n = (size_t)k;
    n += httpreply_json_escape(message, strlen(message), false, b + n, cap / 2 - n);
    n += (size_t)snprintf(b + n, size - n, "\"");
    if (details != NULL) {
        n += (size_t)snprintf(b + n, size - n, ",\"details\":\"");
        n += httpreply_json_escape(details, strlen(details), false, b + n, cap - n);
        n += (size_t)snprintf(b + n, size - n, "\"");
    }
    n += (size_t)snprintf(b + n, size - n, "}}");
    return n;
}
