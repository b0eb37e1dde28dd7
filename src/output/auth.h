/*
 * auth.h -- the authentication line a TSD may expect first on a telnet
 * connection ([backend NAME] auth).
 *
 * Owns the handshake's two ends: writing the configured line first on a
 * new connection, and reading the TSD's answer as OpenTSDB's
 * AuthenticationChannelHandler writes it: "AUTH_SUCCESS" or "AUTH_FAIL"
 * (each with "\r\n"; before 2.4's release it wrote "AUTH_SUCCESS." and a
 * misspelt "AUT_HFAIL", also taken).  The line is a secret: it must never
 * be logged, counted, shown or echoed -- not even as an answer that
 * quotes it.
 */
#ifndef TS_AUTH_H
#define TS_AUTH_H

#include <stddef.h>

enum auth_answer {
    AUTH_SUCCEEDED = 0,  /* the connection may carry data now */
    AUTH_REFUSED,        /* the TSD's failure word */
    AUTH_OTHER,          /* anything else (a TSD without authentication
                            answers "unknown command: <the line's word>") */
};

/* Writes "<line>\n" on a connected, empty socket: TS_OK, or TS_ERROR with
 * errno (a short write counts as an error). */
int auth_send(int fd, const char *line);
/* The TSD's answer: one line, "\r" already stripped. */
enum auth_answer auth_answer(const char *line, size_t len);

#endif
