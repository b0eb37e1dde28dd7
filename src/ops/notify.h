/*
 * notify.h -- systemd service notifications (Type=notify, WatchdogSec=).
 *
 * Owns the notification socket and two timers on the relay's loop: STATUS=
 * (rates in and out, backlog) every NOTIFY_STATUS_SECONDS, and WATCHDOG=1
 * every half of WATCHDOG_USEC.  READY=1 and STOPPING=1 are sent when the
 * relay says so.  Without NOTIFY_SOCKET in the environment every call is a
 * no-op.  It must never block the loop, never fail or stop the relay (a
 * notification that cannot be sent is logged, rate-limited), and never
 * write to the counters it reads.
 */
#ifndef TS_NOTIFY_H
#define TS_NOTIFY_H

#include <stddef.h>
#include <stdint.h>

struct relay;

#define NOTIFY_STATUS_SECONDS 2.0

/* The listeners are bound: sends READY=1 and a first STATUS=, and starts
 * the status and watchdog timers on r->loop.  Call once, after relay_init
 * succeeded and before ev_run. */
void notify_ready(struct relay *r);
/* Shutdown began: sends STOPPING=1.  The watchdog keeps running while the
 * relay flushes and spools. */
void notify_stopping(void);
/* Stops the timers and closes the socket (the loop has ended). */
void notify_close(void);

/* Lower layers, exposed for the unit tests. */

/* Reads NOTIFY_SOCKET, WATCHDOG_USEC and WATCHDOG_PID.  Returns 1 when
 * notifications are on, 0 when NOTIFY_SOCKET is unset or empty, TS_ERROR
 * (logged) when it cannot be used. */
int notify_open(void);
/* Sends one message ("READY=1", "STATUS=...", several separated by
 * '\n').  TS_OK (also when notifications are off), or TS_ERROR with errno
 * set. */
int notify_send(const char *msg);
/* The watchdog interval systemd asked for, in microseconds; 0 = none. */
uint64_t notify_watchdog_usec(void);
/* "in R pts/s, out R pts/s, backlog N points / B" into out (cap bytes,
 * always NUL-terminated); returns the length written. */
size_t notify_format_status(char *out, size_t cap, uint64_t in_rate, uint64_t out_rate,
                            uint64_t backlog_points, uint64_t backlog_bytes);

#endif
