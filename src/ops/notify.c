/*
 * notify.c -- systemd service notifications (Type=notify, WatchdogSec=).
 *
 * Owns the notification socket and its two timers on the relay's loop:
 * STATUS= every NOTIFY_STATUS_SECONDS (points/s in and out, the backlog in
 * memory and in Redis) and WATCHDOG=1 every half of WATCHDOG_USEC, so a
 * loop that is stuck stops feeding the watchdog.  READY=1 and STOPPING=1
 * are sent when main.c and lifecycle.c say so.  Built with libsystemd it calls
 * sd_notify(); without, it speaks the documented protocol itself: one
 * datagram per message to the AF_UNIX socket named by $NOTIFY_SOCKET (a
 * path, or an abstract name when it starts with '@').  Without
 * NOTIFY_SOCKET every call is a no-op.
 *
 * It must never block the loop (the built-in sender's socket is
 * non-blocking, and sd_notify() could wait only while PID 1 leaves its
 * queue full; a message that cannot be sent is dropped and logged,
 * rate-limited), never fail or stop the relay, and never write to the
 * counters it reads.
 */
#include "autoconf.h"

#include <errno.h>
#include <ev.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <unistd.h>

#ifdef HAVE_LIBSYSTEMD
#include <systemd/sd-daemon.h>
#endif

#include "output/backend.h"
#include "base/log.h"
#include "ops/notify.h"
#include "core/relay.h"
#include "spool/spool.h"
#include "base/counters.h"
#include "base/util.h"

#define NOTIFY_MSG_MAX 256

static struct {
    bool on;                    /* NOTIFY_SOCKET is set and usable */
    bool stopping;
    uint64_t watchdog_usec;     /* 0: no watchdog */
    struct relay *r;
    ev_timer status_timer;
    ev_timer watchdog_timer;
    bool timers;                /* the timers were started */
    ev_tstamp last_t;           /* time of the previous STATUS= */
    uint64_t last_in, last_out;
} N;

#ifndef HAVE_LIBSYSTEMD
/* The built-in sender: one non-blocking AF_UNIX datagram socket and the
 * address from NOTIFY_SOCKET. */
static int notify_fd = -1;
static struct sockaddr_un notify_addr;
static socklen_t notify_addrlen;
#endif

/* ---- the protocol ------------------------------------------------------ */

/* WATCHDOG_USEC, for this process only (WATCHDOG_PID, when set, must be
 * ours: the variables may have been inherited from a parent). */
static uint64_t
watchdog_from_env(void)
{
#ifdef HAVE_LIBSYSTEMD
    uint64_t usec = 0;
    return sd_watchdog_enabled(0, &usec) > 0 ? usec : 0;
#else
    const char *us = getenv("WATCHDOG_USEC");
    const char *pid = getenv("WATCHDOG_PID");
    if (us == NULL || *us < '0' || *us > '9')
        return 0;
    char *end;
    errno = 0;
    unsigned long long v = strtoull(us, &end, 10);
    if (errno != 0 || *end != '\0' || v == 0)
        return 0;
    if (pid != NULL && *pid != '\0') {
        unsigned long long p = strtoull(pid, &end, 10);
        if (*end != '\0' || p != (unsigned long long)getpid())
            return 0;
    }
    return (uint64_t)v;
#endif
}

int
notify_open(void)
{
    notify_close();
    const char *path = getenv("NOTIFY_SOCKET");
    if (path == NULL || *path == '\0')
        return 0;
#ifndef HAVE_LIBSYSTEMD
    size_t len = strlen(path);
    if ((path[0] != '/' && path[0] != '@') || len >= sizeof(notify_addr.sun_path)) {
        log_error("systemd notify: NOTIFY_SOCKET '%s' is not an absolute path or an @name "
                  "shorter than %zu bytes; not notifying", path, sizeof(notify_addr.sun_path));
        return TS_ERROR;
    }
    memset(&notify_addr, 0, sizeof(notify_addr));
    notify_addr.sun_family = AF_UNIX;
    memcpy(notify_addr.sun_path, path, len);
    if (path[0] == '@')
        notify_addr.sun_path[0] = '\0'; /* abstract: the name is exactly len bytes */
    notify_addrlen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len);
    notify_fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
    if (notify_fd < 0) {
        log_error("systemd notify: socket failed: %s; not notifying", strerror(errno));
        return TS_ERROR;
    }
#endif
    N.on = true;
    N.watchdog_usec = watchdog_from_env();
    return 1;
}

int
notify_send(const char *msg)
{
    if (!N.on)
        return TS_OK;
#ifdef HAVE_LIBSYSTEMD
    int rc = sd_notify(0, msg);
    if (rc < 0) {
        errno = -rc;
        return TS_ERROR;
    }
    return TS_OK;
#else
    ssize_t n;
    do {
        n = sendto(notify_fd, msg, strlen(msg), MSG_NOSIGNAL, (const struct sockaddr *)&notify_addr,
                   notify_addrlen);
    } while (n < 0 && errno == EINTR);
    return n < 0 ? TS_ERROR : TS_OK;
#endif
}

uint64_t
notify_watchdog_usec(void)
{
    return N.on ? N.watchdog_usec : 0;
}

/* Sends msg; a failure is logged (rate-limited) and otherwise ignored. */
static void
send_or_log(const char *msg)
{
    if (notify_send(msg) != TS_OK) {
        const char *nl = strchr(msg, '\n');
        LOG_RL(LOG_WARN, "systemd notify: cannot send %.*s: %s",
               (int)(nl ? (size_t)(nl - msg) : strlen(msg)), msg, strerror(errno));
    }
}

/* ---- what STATUS= says ------------------------------------------------- */

static size_t
format_bytes(char *out, size_t cap, uint64_t b)
{
    static const char *const unit[] = { "KiB", "MiB", "GiB", "TiB", "PiB" };
    int n;
    if (b < 1024) {
        n = snprintf(out, cap, "%llu B", (unsigned long long)b);
    } else {
        double v = (double)b / 1024.0;
        size_t u = 0;
        while (v >= 1024.0 && u + 1 < TS_ARRAY_LEN(unit)) {
            v /= 1024.0;
            u++;
        }
        n = snprintf(out, cap, "%.1f %s", v, unit[u]);
    }
    return n < 0 ? 0 : TS_MIN((size_t)n, cap - 1);
}

size_t
notify_format_status(char *out, size_t cap, uint64_t in_rate, uint64_t out_rate,
                     uint64_t backlog_points, uint64_t backlog_bytes)
{
    if (cap == 0)
        return 0;
    char bytes[32];
    format_bytes(bytes, sizeof(bytes), backlog_bytes);
    int n = snprintf(out, cap, "in %llu pts/s, out %llu pts/s, backlog %llu points / %s",
                     (unsigned long long)in_rate, (unsigned long long)out_rate,
                     (unsigned long long)backlog_points, bytes);
    return n < 0 ? 0 : TS_MIN((size_t)n, cap - 1);
}

/* Points received from clients on every listener (the counters of
 * stats.c's points.received, internal stats lines excluded). */
static uint64_t
points_in(void)
{
    uint64_t n = 0;
    for (int p = PROTO_TELNET; p <= PROTO_HTTP; p++)
        n += g_stats.proto[p].in.received;
    return n;
}

/* What waits for a TSD: lines in backend queues and in the spool; bytes
 * queued in memory (queues and staging) plus bytes held in Redis. */
static void
backlog(struct relay *r, uint64_t *points, uint64_t *bytes)
{
    uint64_t lines = 0, b = 0;
    for (int i = 0; i < r->nbackends; i++) {
        lines += backend_queued_lines(&r->backends[i]);
        b += backend_queued_bytes(&r->backends[i]) +
             spool_backend_staged_bytes(&r->backends[i]);
    }
    if (g_stats.points_spooled > g_stats.points_unspooled)
        lines += g_stats.points_spooled - g_stats.points_unspooled;
    *points = lines;
    *bytes = b + spool_total_bytes(r->spool);
}

/* "STATUS=..." with rates since the previous one (0 on the first). */
static void
send_status(const char *prefix)
{
    struct relay *r = N.r;
    ev_tstamp now = ev_now(r->loop);
    uint64_t in = points_in(), out = g_stats.points_forwarded;
    uint64_t in_rate = 0, out_rate = 0;
    if (N.last_t > 0 && now > N.last_t) {
        double dt = now - N.last_t;
        in_rate = (uint64_t)((double)(in - N.last_in) / dt + 0.5);
        out_rate = (uint64_t)((double)(out - N.last_out) / dt + 0.5);
    }
    N.last_t = now;
    N.last_in = in;
    N.last_out = out;
    uint64_t points, bytes;
    backlog(r, &points, &bytes);
    char msg[NOTIFY_MSG_MAX];
    int n = snprintf(msg, sizeof(msg), "%sSTATUS=%s", prefix, N.stopping ? "stopping: " : "");
    size_t off = n < 0 ? 0 : TS_MIN((size_t)n, sizeof(msg) - 1);
    notify_format_status(msg + off, sizeof(msg) - off, in_rate, out_rate, points, bytes);
    send_or_log(msg);
}

/* ---- timers and the relay's calls -------------------------------------- */

static void
on_status(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
    send_status("");
}

static void
on_watchdog(struct ev_loop *loop, ev_timer *w, int revents)
{
    (void)loop;
    (void)w;
    (void)revents;
    send_or_log("WATCHDOG=1");
}

void
notify_ready(struct relay *r)
{
    if (notify_open() != 1)
        return;
    N.r = r;
    send_status("READY=1\n");
    ev_timer_init(&N.status_timer, on_status, NOTIFY_STATUS_SECONDS, NOTIFY_STATUS_SECONDS);
    ev_timer_start(r->loop, &N.status_timer);
    if (N.watchdog_usec > 0) {
        double iv = (double)N.watchdog_usec / 2e6;
        ev_timer_init(&N.watchdog_timer, on_watchdog, iv, iv);
        ev_timer_start(r->loop, &N.watchdog_timer);
        send_or_log("WATCHDOG=1");
        log_info("systemd notify: ready; status every %.0f s, watchdog every %.3f s",
                 NOTIFY_STATUS_SECONDS, iv);
    } else {
        log_info("systemd notify: ready; status every %.0f s, no watchdog",
                 NOTIFY_STATUS_SECONDS);
    }
    N.timers = true;
}

void
notify_stopping(void)
{
    if (!N.on || N.stopping)
        return;
    N.stopping = true;
    if (N.r != NULL)
        send_status("STOPPING=1\n");
    else
        send_or_log("STOPPING=1");
}

void
notify_close(void)
{
    if (N.timers && N.r != NULL) {
        ev_timer_stop(N.r->loop, &N.status_timer);
        ev_timer_stop(N.r->loop, &N.watchdog_timer);
    }
#ifndef HAVE_LIBSYSTEMD
    if (notify_fd >= 0)
        close(notify_fd);
    notify_fd = -1;
#endif
    N.on = false;
    N.stopping = false;
    N.timers = false;
    N.watchdog_usec = 0;
    N.r = NULL;
    N.last_t = 0;
    N.last_in = N.last_out = 0;
}
