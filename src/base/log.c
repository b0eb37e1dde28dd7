/*
 * log.c -- leveled, rate-limited logging that never blocks the event loop.
 *
 * Owns the sink fd, one fixed output buffer and the log counters.  Lines go
 * into the buffer; an ev_io watcher drains it when the sink is writable.
 * Before a loop is attached (start-up, unit tests) writes are synchronous.
 * It must never block the loop and never allocate per line.
 */
#include "autoconf.h"

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "base/log.h"
#include "base/util.h"

#define LOG_LINE_MAX 1024

static struct {
    enum log_level level;
    int fd;
    char *path;            /* NULL: stderr */
    char *buf;             /* pending output */
    size_t cap, start, end;
    struct ev_loop *loop;
    ev_io wio;
    int nonblocking;
    struct log_stats stats;
} lg = { .level = LOG_INFO, .fd = 2 };

static const char *level_names[] = { "ERROR", "WARN", "INFO", "DEBUG" };

int
log_parse_level(const char *s, enum log_level *out)
{
    static const char *names[] = { "error", "warn", "info", "debug" };
    for (size_t i = 0; i < TS_ARRAY_LEN(names); i++) {
        if (strcasecmp(s, names[i]) == 0) {
            *out = (enum log_level)i;
            return TS_OK;
        }
    }
    if (strcasecmp(s, "warning") == 0) {
        *out = LOG_WARN;
        return TS_OK;
    }
    return TS_ERROR;
}

static int
log_open_sink(const char *path)
{
    return open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC | O_NONBLOCK, 0644);
}

int
log_init(enum log_level level, const char *path, size_t buffer_bytes)
{
    lg.level = level;
    if (buffer_bytes < 4096)
        buffer_bytes = 4096;
    char *nbuf = realloc(lg.buf, buffer_bytes);
    if (nbuf == NULL)
        return TS_ERROR;
    lg.buf = nbuf;
    lg.cap = buffer_bytes;
    lg.start = lg.end = 0;
    if (path != NULL && path[0] != '\0') {
        int fd = log_open_sink(path);
        if (fd < 0)
            return TS_ERROR;
        free(lg.path);
        lg.path = strdup(path);
        if (lg.fd > 2)
            close(lg.fd);
        lg.fd = fd;
    }
    return TS_OK;
}

void
log_set_level(enum log_level level)
{
    lg.level = level;
}

enum log_level
log_get_level(void)
{
    return lg.level;
}

const struct log_stats *
log_get_stats(void)
{
    return &lg.stats;
}

size_t
log_buffered(void)
{
    return lg.end - lg.start;
}

/* Writes as much buffered output as the sink takes without blocking. */
static void
log_write_out(void)
{
    while (lg.start < lg.end) {
        ssize_t n = write(lg.fd, lg.buf + lg.start, lg.end - lg.start);
        if (n > 0) {
            lg.start += (size_t)n;
            continue;
        }
        if (n < 0 && errno == EINTR)
            continue;
        if (n < 0 && errno != EAGAIN && errno != EWOULDBLOCK) {
            lg.stats.write_errors++;
            lg.start = lg.end; /* the sink is broken: discard, keep running */
        }
        break;
    }
    if (lg.start == lg.end)
        lg.start = lg.end = 0;
    if (lg.loop != NULL) {
        if (lg.start < lg.end && !ev_is_active(&lg.wio))
            ev_io_start(lg.loop, &lg.wio);
        else if (lg.start == lg.end && ev_is_active(&lg.wio))
            ev_io_stop(lg.loop, &lg.wio);
    }
}

static void
log_on_writable(struct ev_loop *loop, ev_io *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
    log_write_out();
}

void
log_attach_loop(struct ev_loop *loop)
{
    lg.loop = loop;
    int fl = fcntl(lg.fd, F_GETFL);
    if (fl >= 0 && !(fl & O_NONBLOCK))
        (void)fcntl(lg.fd, F_SETFL, fl | O_NONBLOCK);
    lg.nonblocking = 1;
    ev_io_init(&lg.wio, log_on_writable, lg.fd, EV_WRITE);
}

int
log_reopen(void)
{
    if (lg.path == NULL)
        return TS_OK;
    int fd = log_open_sink(lg.path);
    if (fd < 0)
        return TS_ERROR;
    if (lg.loop != NULL && ev_is_active(&lg.wio))
        ev_io_stop(lg.loop, &lg.wio);
    close(lg.fd);
    lg.fd = fd;
    if (lg.loop != NULL)
        ev_io_set(&lg.wio, lg.fd, EV_WRITE);
    log_write_out();
    return TS_OK;
}

int
log_to_file(void)
{
    return lg.path != NULL;
}

const char *
log_peer(int fd, char *buf, size_t len)
{
    struct sockaddr_storage ss;
    socklen_t sl = sizeof(ss);
    char ip[INET6_ADDRSTRLEN];
    const struct sockaddr_in *a4 = (const struct sockaddr_in *)&ss;
    const struct sockaddr_in6 *a6 = (const struct sockaddr_in6 *)&ss;
    if (getpeername(fd, (struct sockaddr *)&ss, &sl) != 0)
        ss.ss_family = AF_UNSPEC;
    if (ss.ss_family == AF_INET && inet_ntop(AF_INET, &a4->sin_addr, ip, sizeof(ip)) != NULL)
        snprintf(buf, len, "%s:%u", ip, (unsigned)ntohs(a4->sin_port));
    else if (ss.ss_family == AF_INET6 &&
             inet_ntop(AF_INET6, &a6->sin6_addr, ip, sizeof(ip)) != NULL)
        snprintf(buf, len, "[%s]:%u", ip, (unsigned)ntohs(a6->sin6_port));
    else
        snprintf(buf, len, "fd %d", fd);
    return buf;
}

void
log_flush(int timeout_ms)
{
    uint64_t deadline = ts_now_ms() + (uint64_t)(timeout_ms > 0 ? timeout_ms : 0);
    for (;;) {
        log_write_out();
        if (lg.start == lg.end)
            return;
        uint64_t now = ts_now_ms();
        if (now >= deadline)
            return;
        struct pollfd pfd = { .fd = lg.fd, .events = POLLOUT };
        (void)poll(&pfd, 1, (int)(deadline - now));
    }
}

void
log_close(void)
{
    log_flush(1000);
    if (lg.loop != NULL && ev_is_active(&lg.wio))
        ev_io_stop(lg.loop, &lg.wio);
    lg.loop = NULL;
    if (lg.fd > 2)
        close(lg.fd);
    lg.fd = 2;
    free(lg.path);
    lg.path = NULL;
    free(lg.buf);
    lg.buf = NULL;
    lg.cap = lg.start = lg.end = 0;
}

/* Appends one formatted line; drops it (counted) when the buffer is full. */
static void
log_emit(enum log_level level, const char *suffix, const char *fmt, va_list ap)
    __attribute__((format(printf, 3, 0)));

static void
log_emit(enum log_level level, const char *suffix, const char *fmt, va_list ap)
{
    char line[LOG_LINE_MAX];
    struct timeval tv;
    struct tm tm;
    gettimeofday(&tv, NULL);
    gmtime_r(&tv.tv_sec, &tm);
    int n = snprintf(line, sizeof(line), "%04d-%02d-%02dT%02d:%02d:%02d.%03ldZ %s ",
                     tm.tm_year + 1900, tm.tm_mon + 1, tm.tm_mday, tm.tm_hour,
                     tm.tm_min, tm.tm_sec, (long)(tv.tv_usec / 1000), level_names[level]);
    int m = vsnprintf(line + n, sizeof(line) - (size_t)n, fmt, ap);
    size_t len = (size_t)n + (m < 0 ? 0 : (size_t)m);
    if (len > sizeof(line) - 2)
        len = sizeof(line) - 2;
    if (suffix != NULL) {
        int k = snprintf(line + len, sizeof(line) - len, "%s", suffix);
        len += (k < 0 ? 0 : (size_t)k);
        if (len > sizeof(line) - 2)
            len = sizeof(line) - 2;
    }
    line[len++] = '\n';

    if (lg.buf == NULL) { /* not initialised: plain stderr */
        (void)!write(2, line, len);
        lg.stats.lines++;
        return;
    }
    if (lg.cap - lg.end < len && lg.start > 0) {
        memmove(lg.buf, lg.buf + lg.start, lg.end - lg.start);
        lg.end -= lg.start;
        lg.start = 0;
    }
    if (lg.cap - lg.end < len) {
        lg.stats.dropped++;
        return;
    }
    memcpy(lg.buf + lg.end, line, len);
    lg.end += len;
    lg.stats.lines++;
    if (lg.loop == NULL) {
        log_flush(1000); /* start-up and tests: synchronous */
        return;
    }
    if (!ev_is_active(&lg.wio))
        log_write_out();
}

void
log_vmsg(enum log_level level, const char *fmt, va_list ap)
{
    if (level > lg.level)
        return;
    log_emit(level, NULL, fmt, ap);
}

void
log_msg(enum log_level level, const char *fmt, ...)
{
    if (level > lg.level)
        return;
    va_list ap;
    va_start(ap, fmt);
    log_emit(level, NULL, fmt, ap);
    va_end(ap);
}

void
log_rl_msg(struct log_rl *rl, uint64_t interval_ms, enum log_level level,
           const char *fmt, ...)
{
    if (level > lg.level)
        return;
    uint64_t now = ts_now_ms();
    if (rl->last_ms != 0 && now - rl->last_ms < interval_ms) {
        rl->suppressed++;
        lg.stats.suppressed++;
        return;
    }
    char suffix[64];
    const char *sfx = NULL;
    if (rl->suppressed > 0) {
        snprintf(suffix, sizeof(suffix), " [%llu similar suppressed]",
                 (unsigned long long)rl->suppressed);
        sfx = suffix;
    }
    rl->last_ms = now;
    rl->suppressed = 0;
    va_list ap;
    va_start(ap, fmt);
    log_emit(level, sfx, fmt, ap);
    va_end(ap);
}
