/*
 * log.h -- leveled, rate-limited logging that never blocks the event loop.
 *
 * Owns the log sink (stderr or a file), a bounded output buffer, the
 * counters of lines written and dropped, and how a line names a client
 * (its address, log_peer).  Lines are formatted into the
 * buffer and written with non-blocking writes when the sink is ready; when
 * the sink is slow and the buffer is full, lines are dropped and counted.
 * It must never block the loop, and never allocate per line.
 */
#ifndef TS_LOG_H
#define TS_LOG_H

#include <stdarg.h>
#include <stdint.h>
#include <ev.h>

enum log_level { LOG_ERROR = 0, LOG_WARN, LOG_INFO, LOG_DEBUG };

struct log_stats {
    uint64_t lines;       /* lines accepted into the buffer */
    uint64_t dropped;     /* lines dropped: buffer full (slow sink) */
    uint64_t suppressed;  /* lines suppressed by rate limiting */
    uint64_t write_errors;
};

/* Per call-site rate limiter (see LOG_RL). */
struct log_rl {
    uint64_t last_ms;
    uint64_t suppressed;
};

int log_init(enum log_level level, const char *path, size_t buffer_bytes);
/* Switches to non-blocking, loop-driven output. */
void log_attach_loop(struct ev_loop *loop);
void log_set_level(enum log_level level);
enum log_level log_get_level(void);
int log_parse_level(const char *s, enum log_level *out);
/* Reopens the log file (SIGUSR1, SIGHUP); no-op for stderr. */
int log_reopen(void);
/* Whether the log goes to a file (log-file set), not stderr. */
int log_to_file(void);
/* A log line's name for a socket's peer, in buf: "ADDR:PORT" ("[ADDR]:PORT"
 * for IPv6), or "fd N" when it has none (gone, not a socket).  Called only
 * when a line is written: it costs a getpeername(). */
#define LOG_PEER_MAX 64
const char *log_peer(int fd, char *buf, size_t len);
/* Writes out what is buffered, blocking for at most timeout_ms. */
void log_flush(int timeout_ms);
void log_close(void);
const struct log_stats *log_get_stats(void);
size_t log_buffered(void);

void log_msg(enum log_level level, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));
void log_vmsg(enum log_level level, const char *fmt, va_list ap)
    __attribute__((format(printf, 2, 0)));
/* Emits at most one line per interval per call site, then says how many
 * similar lines it held back. */
void log_rl_msg(struct log_rl *rl, uint64_t interval_ms, enum log_level level,
                const char *fmt, ...) __attribute__((format(printf, 4, 5)));

#define log_error(...) log_msg(LOG_ERROR, __VA_ARGS__)
#define log_warn(...) log_msg(LOG_WARN, __VA_ARGS__)
#define log_info(...) log_msg(LOG_INFO, __VA_ARGS__)
#define log_debug(...)                                   \
    do {                                                 \
        if (log_get_level() >= LOG_DEBUG)                \
            log_msg(LOG_DEBUG, __VA_ARGS__);             \
    } while (0)

/* Rate-limited logging: one line per second per call site. */
#define LOG_RL(level, ...)                                      \
    do {                                                        \
        static struct log_rl log_rl_site_;                      \
        if (log_get_level() >= (level))                         \
            log_rl_msg(&log_rl_site_, 1000, (level), __VA_ARGS__); \
    } while (0)

#endif
