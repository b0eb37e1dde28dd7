/*
 * auth.c -- the authentication line a TSD may expect first on a telnet
 * connection.
 *
 * OpenTSDB (AuthenticationChannelHandler, 2.4 and 2.5) hands the first
 * line of a connection, split into words, to its authentication plugin and
 * writes TELNET_AUTH_SUCCESS "AUTH_SUCCESS\r\n" or TELNET_AUTH_FAILURE
 * "AUTH_FAIL\r\n"; on failure it keeps the connection open for another
 * try.  Its early code (2016, never released) wrote "AUTH_SUCCESS.\r\n"
 * and "AUT_HFAIL\r\n": both are read too.  The line goes in one write on a
 * socket that has sent nothing yet, so it never waits in a queue.  It
 * never logs: the caller words what happened without the line.
 */
#include "autoconf.h"

#include <errno.h>
#include <stdbool.h>
#include <stdint.h>
#include <string.h>
#include <sys/uio.h>
#include <unistd.h>

#include "output/auth.h"
#include "base/util.h"

int
auth_send(int fd, const char *line)
{
    struct iovec iov[2] = {
        { (void *)(uintptr_t)line, strlen(line) },
        { (void *)(uintptr_t)"\n", 1 },
    };
    size_t want = iov[0].iov_len + 1;
    ssize_t w;
    do {
        w = writev(fd, iov, 2);
    } while (w < 0 && errno == EINTR);
    if (w == (ssize_t)want)
        return TS_OK;
    if (w >= 0)
        errno = EAGAIN; /* a fresh socket takes a line whole; this one did not */
    return TS_ERROR;
}

static bool
auth_is(const char *line, size_t len, const char *word)
{
    return len == strlen(word) && memcmp(line, word, len) == 0;
}

enum auth_answer
auth_answer(const char *line, size_t len)
{
    if (auth_is(line, len, "AUTH_SUCCESS") || auth_is(line, len, "AUTH_SUCCESS."))
        return AUTH_SUCCEEDED;
    if (auth_is(line, len, "AUTH_FAIL") || auth_is(line, len, "AUT_HFAIL"))
        return AUTH_REFUSED;
    return AUTH_OTHER;
}
