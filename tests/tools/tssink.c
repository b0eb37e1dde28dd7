/*
 * tssink.c -- a fake TSD for tsrelay's tests and benchmarks: it counts.
 *
 * Owns: one listening TCP socket and the connections it accepts, served by
 * a single-threaded epoll loop; counting accepted connections, bytes and
 * complete lines ('\n'); optional line validation and TSD-like replies
 * (error lines, `version` answers); fault modes a real TSD cannot be made
 * to show (never reading, garbage replies, RST after N bytes, slow reads,
 * close right after accept, RST of every connection each N lines parsed --
 * a TSD that crashes with bytes unread, in any reading mode); counting the
 * distinct values of put lines (points sent with distinct integer values
 * show what was parsed at least once, and what twice); the stats file,
 * the accept log and the final JSON line.
 *
 * It must never: forward or store the data it receives, grow a buffer
 * without bound (replies are bounded per connection: reading pauses while
 * a peer does not take them), reset a connection except in reset-after
 * mode, or abort on bad input (bad options print a message and exit 2).
 *
 * stdout: first line {"port":P}; on SIGTERM/SIGINT the stats JSON line.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <netdb.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>

#define TOOL_NAME "tssink"
#include "tool_util.h"

#define EXIT_USAGE    2
#define RBUF          (256 * 1024)     /* one read */
#define OUT_CAP       (1024 * 1024)    /* reply bytes queued per connection */
#define REPLY_RATIO   40               /* max reply bytes per input byte, bounded */
#define HEAD          16               /* bytes of each line kept for checks */
#define GARBAGE_BUF   65536
#define MAX_EVENTS    256
#define STATS_EVERY   0.1
#define SLOW_TICK     0.01
#define READS_PER_EV  8

static const char ERR_REPLY[] = "put: illegal argument: test error\n";
static const char VERSION_REPLY[] =
	"net.opentsdb.tools BuildData built at revision 0000000 (tssink)\n"
	"Built on 1970/01/01 00:00:00 +0000 by tssink@localhost:tssink\n";

enum mode { M_COUNT, M_NEVER_READ, M_GARBAGE, M_RESET_AFTER, M_SLOW, M_CLOSE_AFTER_ACCEPT };

struct sconn {
	int fd;
	uint32_t events;            /* current epoll mask */
	uint64_t bytes;             /* received on this connection */
	int paused;                 /* reading paused: replies not taken */
	int eof;
	int wdead;                  /* writing failed: keep reading, reply no more */
	/* line state (only with --check-lines / --reply-errors / --answer-version /
	 * --distinct) */
	uint64_t line_len;
	char head[HEAD];
	unsigned fields;
	int in_tok;
	/* --distinct: the value field of a put line */
	unsigned dfields;
	int din_tok, dbad;
	uint64_t dval;
	/* replies */
	char *out;                  /* OUT_CAP bytes, allocated on first use */
	size_t out_len, out_off;
	uint64_t garbage_left;
	size_t garbage_pos;
	struct sconn *prev, *next;
};

static struct {
	/* options */
	const char *host;
	int port;
	enum mode mode;
	const char *stats_file;
	const char *accept_log;
	int check_lines;
	int reply_errors;
	int answer_version;
	uint64_t garbage_bytes;
	uint64_t reset_bytes;
	double read_rate;
	int rcvbuf;
	uint64_t reset_lines;       /* RST every connection each this many lines (0: off) */
	uint64_t max_resets;        /* ... at most this many times (0: no limit) */
	uint64_t distinct_max;      /* values [0, N) of put lines tracked (0: off) */
	/* state */
	int lfd, ep, alog_fd;
	int listen_paused;
	double listen_resume;
	struct sconn *conns;
	int slow_cursor;
	double tokens, last_tick;
	unsigned char garbage[GARBAGE_BUF];
	unsigned char rbuf[RBUF];
	unsigned char *seen;        /* --distinct: one bit per value */
	int reset_due;              /* --reset-lines: reset every connection now */
	uint64_t reset_mark;        /* lines at the last reset round */
	/* counters */
	uint64_t accepts, lines, bytes, open, garbage_sent, bad_lines;
	uint64_t error_replies, version_replies, resets;
	uint64_t reset_rounds, distinct, duplicates, untracked;
	uint64_t puts;              /* lines starting "put " (with line state only) */
} g;

static volatile sig_atomic_t g_term, g_usr1;

static void on_signal(int sig)
{
	if (sig == SIGUSR1)
		g_usr1 = 1;
	else
		g_term = 1;
}


/* ---------- stats ---------- */

static int stats_json(char *buf, size_t cap)
{
	int n = snprintf(buf, cap,
	                 "{\"accepts\":%" PRIu64 ",\"lines\":%" PRIu64 ",\"bytes\":%" PRIu64
	                 ",\"open\":%" PRIu64 ",\"garbage_sent\":%" PRIu64 ",\"bad_lines\":%" PRIu64
	                 ",\"error_replies\":%" PRIu64 ",\"version_replies\":%" PRIu64
	                 ",\"resets\":%" PRIu64 ",\"reset_rounds\":%" PRIu64
	                 ",\"distinct\":%" PRIu64 ",\"duplicates\":%" PRIu64
	                 ",\"untracked\":%" PRIu64 ",\"puts\":%" PRIu64 "}\n",
	                 g.accepts, g.lines, g.bytes, g.open, g.garbage_sent, g.bad_lines,
	                 g.error_replies, g.version_replies, g.resets, g.reset_rounds,
	                 g.distinct, g.duplicates, g.untracked, g.puts);
	if (n < 0 || (size_t)n >= cap)
		return -1;
	return n;
}

static void write_stats_file(void)
{
	if (!g.stats_file)
		return;
	char json[1024], tmp[PATH_MAX];
	int n = stats_json(json, sizeof(json));
	int tl = snprintf(tmp, sizeof(tmp), "%s.tmp", g.stats_file);
	if (n < 0 || tl < 0 || (size_t)tl >= sizeof(tmp))
		return;
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0) {
		warnx_("cannot write %s: %s", tmp, strerror(errno));
		return;
	}
	ssize_t w = write(fd, json, (size_t)n);
	close(fd);
	if (w != n || rename(tmp, g.stats_file) < 0)
		warnx_("cannot update %s: %s", g.stats_file, strerror(errno));
}

/* ---------- connections ---------- */

static void set_events(struct sconn *c, uint32_t ev)
{
	if (c->events == ev)
		return;
	struct epoll_event e = { .events = ev, .data.ptr = c };
	if (epoll_ctl(g.ep, EPOLL_CTL_MOD, c->fd, &e) == 0)
		c->events = ev;
}

static void conn_close(struct sconn *c, int rst)
{
	if (rst) {
		struct linger lg = { 1, 0 };
		setsockopt(c->fd, SOL_SOCKET, SO_LINGER, &lg, sizeof(lg));
		g.resets++;
	}
	epoll_ctl(g.ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	if (c->prev)
		c->prev->next = c->next;
	else
		g.conns = c->next;
	if (c->next)
		c->next->prev = c->prev;
	free(c->out);
	free(c);
	g.open--;
}

/* Epoll mask this connection wants now. */
static uint32_t wanted_events(const struct sconn *c)
{
	uint32_t ev = 0;
	switch (g.mode) {
	case M_NEVER_READ:
		return EPOLLET;         /* only HUP/ERR: kept open even after the peer's FIN */
	case M_SLOW:
		break;                  /* read on ticks */
	default:
		if (!c->paused && !c->eof)
			ev |= EPOLLIN;
		break;
	}
	if (c->out_off < c->out_len || (g.mode == M_GARBAGE && c->garbage_left))
		ev |= EPOLLOUT;
	return ev;
}

static void queue_reply(struct sconn *c, const char *s, size_t n)
{
	if (c->wdead)
		return;
	if (!c->out) {
		c->out = malloc(OUT_CAP);
		if (!c->out)
			return;
	}
	if (c->out_off > 0 && c->out_len + n > OUT_CAP) {
		memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
		c->out_len -= c->out_off;
		c->out_off = 0;
	}
	if (c->out_len + n > OUT_CAP)
		return;                 /* cannot happen: reads are sized to fit */
	memcpy(c->out + c->out_len, s, n);
	c->out_len += n;
}

/* The peer takes no more replies (EPIPE/ECONNRESET): drop them but keep
 * reading, so data already received is still counted. */
static void write_failed(struct sconn *c)
{
	c->wdead = 1;
	c->out_off = c->out_len = 0;
	c->garbage_left = 0;
	c->paused = 0;
}

/* Writes queued replies/garbage. Returns -1 if the connection should close. */
static int conn_write(struct sconn *c)
{
	while (c->out_off < c->out_len) {
		ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL);
		if (w > 0) {
			c->out_off += (size_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		write_failed(c);
	}
	if (c->out_off == c->out_len)
		c->out_off = c->out_len = 0;
	while (g.mode == M_GARBAGE && c->garbage_left && c->out_len == 0) {
		size_t n = GARBAGE_BUF - c->garbage_pos;
		if (n > c->garbage_left)
			n = (size_t)c->garbage_left;
		ssize_t w = send(c->fd, g.garbage + c->garbage_pos, n, MSG_NOSIGNAL);
		if (w > 0) {
			c->garbage_left -= (uint64_t)w;
			c->garbage_pos = (c->garbage_pos + (size_t)w) % GARBAGE_BUF;
			g.garbage_sent += (uint64_t)w;
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		write_failed(c);
	}
	/* resume reading once the replies drained below half */
	if (c->paused && c->out_len - c->out_off < OUT_CAP / 2)
		c->paused = 0;
	if (c->eof && c->out_off == c->out_len)
		return -1;              /* peer finished and got its replies */
	set_events(c, wanted_events(c));
	return 0;
}

/* --distinct: a put line's value (its 4th field) seen once more */
static void track_value(const struct sconn *c, int is_put)
{
	if (!is_put)
		return;
	if (c->dfields < 4 || c->dbad || c->dval >= g.distinct_max) {
		g.untracked++;
		return;
	}
	unsigned char bit = (unsigned char)(1u << (c->dval & 7));
	if (g.seen[c->dval >> 3] & bit) {
		g.duplicates++;
	} else {
		g.seen[c->dval >> 3] |= bit;
		g.distinct++;
	}
}

static void line_done(struct sconn *c)
{
	size_t hl = c->line_len < HEAD ? (size_t)c->line_len : HEAD;
	int is_put = hl >= 4 && memcmp(c->head, "put ", 4) == 0;
	g.puts += (uint64_t)is_put;
	if (g.distinct_max)
		track_value(c, is_put);
	if (!is_put && g.answer_version) {
		size_t n = hl;
		if (n && c->head[n - 1] == '\r')
			n--;
		if (c->line_len <= HEAD && n == 7 && memcmp(c->head, "version", 7) == 0) {
			queue_reply(c, VERSION_REPLY, sizeof(VERSION_REPLY) - 1);
			g.version_replies++;
			goto reset;
		}
	}
	if (g.check_lines && (!is_put || c->fields < 5))
		g.bad_lines++;
	if (!is_put && g.reply_errors) {
		queue_reply(c, ERR_REPLY, sizeof(ERR_REPLY) - 1);
		g.error_replies++;
	}
reset:
	c->line_len = 0;
	c->fields = 0;
	c->in_tok = 0;
	c->dfields = 0;
	c->din_tok = 0;
	c->dbad = 0;
	c->dval = 0;
}

/* Per-line state for checks and replies, across read boundaries. */
static void scan_lines(struct sconn *c, const unsigned char *d, size_t n)
{
	while (n) {
		const unsigned char *nl = memchr(d, '\n', n);
		size_t seg = nl ? (size_t)(nl - d) : n;
		if (c->line_len < HEAD) {
			size_t cp = HEAD - (size_t)c->line_len;
			if (cp > seg)
				cp = seg;
			memcpy(c->head + c->line_len, d, cp);
		}
		if (g.check_lines) {
			for (size_t k = 0; k < seg && c->fields < 5; k++) {
				int sep = d[k] == ' ' || d[k] == '\r' || d[k] == '\t';
				if (!sep && !c->in_tok)
					c->fields++;
				c->in_tok = !sep;
			}
		}
		if (g.distinct_max) {
			for (size_t k = 0; k < seg && c->dfields <= 4; k++) {
				int sep = d[k] == ' ' || d[k] == '\r' || d[k] == '\t';
				if (!sep && !c->din_tok)
					c->dfields++;
				c->din_tok = !sep;
				if (sep || c->dfields != 4)
					continue;
				if (d[k] < '0' || d[k] > '9' || c->dval > UINT64_MAX / 10 - 10)
					c->dbad = 1;
				else
					c->dval = c->dval * 10 + (uint64_t)(d[k] - '0');
			}
		}
		c->line_len += seg;
		if (!nl)
			return;
		g.lines++;
		line_done(c);
		d += seg + 1;
		n -= seg + 1;
	}
}

/* --reset-lines: another N lines were parsed since the last round */
static void check_reset_due(void)
{
	if (g.reset_lines && !g.reset_due && g.lines - g.reset_mark >= g.reset_lines &&
	    (g.max_resets == 0 || g.reset_rounds < g.max_resets))
		g.reset_due = 1;
}

static uint64_t count_nl(const unsigned char *d, size_t n)
{
	uint64_t k = 0;
	const unsigned char *end = d + n;
	while (d < end) {
		const unsigned char *nl = memchr(d, '\n', (size_t)(end - d));
		if (!nl)
			break;
		k++;
		d = nl + 1;
	}
	return k;
}

/* Read up to budget bytes. Returns -1 if the connection was closed. */
static int conn_read(struct sconn *c, size_t budget, size_t *got)
{
	int lines_state = g.check_lines || g.reply_errors || g.answer_version || g.distinct_max;
	*got = 0;
	for (int r = 0; r < READS_PER_EV && budget > 0 && !g.reset_due; r++) {
		size_t lim = budget < RBUF ? budget : RBUF;
		if (g.mode == M_RESET_AFTER) {
			uint64_t left = g.reset_bytes - c->bytes;
			if (left < lim)
				lim = (size_t)left;
			if (lim == 0) {
				conn_close(c, 1);
				return -1;
			}
		}
		if (g.reply_errors || g.answer_version) {
			size_t room = OUT_CAP - (c->out_len - c->out_off);
			size_t fit = room / REPLY_RATIO;
			if (fit < 64) {
				c->paused = 1;
				set_events(c, wanted_events(c));
				return 0;
			}
			if (fit < lim)
				lim = fit;
		}
		ssize_t n = recv(c->fd, g.rbuf, lim, 0);
		if (n > 0) {
			c->bytes += (uint64_t)n;
			g.bytes += (uint64_t)n;
			*got += (size_t)n;
			budget -= (size_t)n;
			if (lines_state)
				scan_lines(c, g.rbuf, (size_t)n);
			else
				g.lines += count_nl(g.rbuf, (size_t)n);
			check_reset_due();
			if (c->out_len > c->out_off && conn_write(c) < 0) {
				conn_close(c, 0);
				return -1;
			}
			if (g.mode == M_RESET_AFTER && c->bytes >= g.reset_bytes) {
				conn_close(c, 1);
				return -1;
			}
			if ((size_t)n < lim)
				return 0;
			continue;
		}
		if (n == 0) {
			c->eof = 1;
			if (c->out_off < c->out_len) {
				set_events(c, wanted_events(c));
				return 0;
			}
			conn_close(c, 0);
			return -1;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		conn_close(c, 0);
		return -1;
	}
	return 0;
}

static void log_accept(const struct sockaddr_storage *ss)
{
	if (g.alog_fd < 0)
		return;
	unsigned port = 0;
	if (ss->ss_family == AF_INET)
		port = ntohs(((const struct sockaddr_in *)ss)->sin_port);
	else if (ss->ss_family == AF_INET6)
		port = ntohs(((const struct sockaddr_in6 *)ss)->sin6_port);
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	char line[64];
	int n = snprintf(line, sizeof(line), "%lld.%03ld %u\n", (long long)ts.tv_sec,
	                 ts.tv_nsec / 1000000, port);
	if (n > 0 && write(g.alog_fd, line, (size_t)n) != n)
		warnx_("accept log: %s", strerror(errno));
}

static void do_accept(double t)
{
	for (int k = 0; k < 256; k++) {
		struct sockaddr_storage ss;
		socklen_t sl = sizeof(ss);
		int fd = accept4(g.lfd, (struct sockaddr *)&ss, &sl, SOCK_NONBLOCK | SOCK_CLOEXEC);
		if (fd < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
				warnx_("accept: %s (pausing 100 ms)", strerror(errno));
				struct epoll_event e = { .events = 0, .data.ptr = NULL };
				epoll_ctl(g.ep, EPOLL_CTL_MOD, g.lfd, &e);
				g.listen_paused = 1;
				g.listen_resume = t + 0.1;
			}
			return;
		}
		g.accepts++;
		log_accept(&ss);
		if (g.mode == M_CLOSE_AFTER_ACCEPT) {
			close(fd);              /* nothing read yet: FIN */
			continue;
		}
		struct sconn *c = calloc(1, sizeof(*c));
		if (!c) {
			close(fd);
			continue;
		}
		c->fd = fd;
		if (g.mode == M_GARBAGE)
			c->garbage_left = g.garbage_bytes;
		c->events = wanted_events(c);
		struct epoll_event e = { .events = c->events, .data.ptr = c };
		if (epoll_ctl(g.ep, EPOLL_CTL_ADD, fd, &e) < 0) {
			warnx_("epoll_ctl: %s", strerror(errno));
			close(fd);
			free(c);
			continue;
		}
		c->next = g.conns;
		if (g.conns)
			g.conns->prev = c;
		g.conns = c;
		g.open++;
		if (g.mode == M_RESET_AFTER && g.reset_bytes == 0)
			conn_close(c, 1);
	}
}

/* slow mode: hand out the read budget every tick, round robin */
static void slow_tick(double t)
{
	double dt = t - g.last_tick;
	g.last_tick = t;
	g.tokens += g.read_rate * dt;
	double cap = g.read_rate * 0.1 > 1 ? g.read_rate * 0.1 : 1;
	if (g.tokens > cap)
		g.tokens = cap;
	if (g.tokens < 1 || !g.conns)
		return;
	int n = 0;
	for (struct sconn *c = g.conns; c; c = c->next)
		n++;
	/* start at a rotating position so every connection gets its turn */
	int start = g.slow_cursor++ % n;
	struct sconn *c = g.conns;
	for (int k = 0; k < start; k++)
		c = c->next;
	for (int k = 0; k < n && g.tokens >= 1 && !g.reset_due; k++) {
		struct sconn *nx = c->next ? c->next : g.conns;
		if (!c->paused && !c->eof) {
			size_t got = 0;
			int gone = conn_read(c, (size_t)g.tokens, &got) < 0;
			g.tokens -= (double)got;
			if (gone && nx == c)
				break;
		}
		c = nx;
		if (!c)
			break;
	}
}

/* --reset-lines: every connection is reset at once (a TSD that crashed):
 * what its socket buffers held unread is gone. */
static void reset_round(void)
{
	g.reset_due = 0;
	g.reset_mark = g.lines;
	g.reset_rounds++;
	while (g.conns)
		conn_close(g.conns, 1);
}

/* ---------- setup ---------- */

static int open_listener(void)
{
	char portstr[16];
	snprintf(portstr, sizeof(portstr), "%d", g.port);
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM,
	                          .ai_flags = AI_PASSIVE | AI_NUMERICSERV };
	struct addrinfo *res = NULL;
	int gr = getaddrinfo(g.host, portstr, &hints, &res);
	if (gr != 0) {
		warnx_("cannot resolve %s: %s", g.host, gai_strerror(gr));
		return -1;
	}
	int fd = -1, err = 0;
	for (struct addrinfo *ai = res; ai; ai = ai->ai_next) {
		fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
		            ai->ai_protocol);
		if (fd < 0) {
			err = errno;
			continue;
		}
		int one = 1;
		setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
		if (g.rcvbuf > 0)
			setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &g.rcvbuf, sizeof(g.rcvbuf));
		if (bind(fd, ai->ai_addr, ai->ai_addrlen) == 0 && listen(fd, 1024) == 0)
			break;
		err = errno;
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	if (fd < 0) {
		warnx_("cannot listen on %s:%d: %s", g.host, g.port, strerror(err));
		return -1;
	}
	struct sockaddr_storage ss;
	socklen_t sl = sizeof(ss);
	if (getsockname(fd, (struct sockaddr *)&ss, &sl) == 0) {
		if (ss.ss_family == AF_INET)
			g.port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
		else if (ss.ss_family == AF_INET6)
			g.port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	}
	g.lfd = fd;
	return 0;
}

static void fill_garbage(void)
{
	uint64_t x = 0x9e3779b97f4a7c15ull ^ (uint64_t)getpid();
	for (size_t i = 0; i < GARBAGE_BUF; i++) {
		x ^= x << 13;
		x ^= x >> 7;
		x ^= x << 17;
		g.garbage[i] = (x & 0x3f00) == 0 ? '\n' : (unsigned char)x;   /* ~1/64 newlines */
	}
}

static void usage(FILE *f)
{
	fputs(
"usage: tssink [options]\n"
"  --host H              listen address (default 127.0.0.1)\n"
"  --port P              listen port, 0 = any free one (default 0); first stdout line {\"port\":P}\n"
"  --mode M              count | never-read | garbage | reset-after | slow | close-after-accept\n"
"  --stats-file F        rewrite F atomically every 100 ms, on SIGUSR1 and at exit\n"
"  --accept-log F        append \"<unix time.ms> <peer port>\" per accepted connection\n"
"  --check-lines         count lines not starting with \"put \" or with < 5 fields as bad_lines\n"
"  --reply-errors        answer every line not starting with \"put \" with an error line\n"
"  --answer-version      answer \"version\" lines as a TSD does (two lines), like ack = version needs\n"
"                        (with it, --check-lines, --reply-errors or --distinct: \"puts\" counts put lines)\n"
"  --garbage-bytes N     garbage mode: bytes written back per connection (default 8M)\n"
"  --reset-bytes N       reset-after mode: RST a connection after reading N bytes (default 1M)\n"
"  --read-rate BPS       slow mode: total bytes/s read over all connections (default 1M)\n"
"  --rcvbuf BYTES        SO_RCVBUF of accepted connections (default: kernel)\n"
"  --reset-lines N       any mode that reads: RST every connection each time N more lines were\n"
"                        read (all connections together; a TSD crashing with bytes unread)\n"
"  --max-resets K        --reset-lines: at most K rounds, then read on normally (default 0 = no limit)\n"
"  --distinct N          count distinct integer values [0, N) of put lines (4th field):\n"
"                        \"distinct\", \"duplicates\", \"untracked\" (other values) in the stats\n"
"sizes take K/M/G suffixes. SIGUSR1: write the stats file. SIGTERM/SIGINT: write it,\n"
"print the stats JSON line on stdout, exit 0.\n",
	f);
}

static int parse_size(const char *s, uint64_t *out)
{
	char *e;
	if (!s || !*s || *s == '-')
		return -1;
	errno = 0;
	unsigned long long v = strtoull(s, &e, 10);
	if (errno || e == s)
		return -1;
	uint64_t mul = 1;
	if (*e == 'k' || *e == 'K')
		mul = 1024, e++;
	else if (*e == 'm' || *e == 'M')
		mul = 1024 * 1024, e++;
	else if (*e == 'g' || *e == 'G')
		mul = 1024ull * 1024 * 1024, e++;
	if (*e || v > (UINT64_MAX >> 1) / mul)
		return -1;
	*out = v * mul;
	return 0;
}

enum {
	OPT_HOST = 256, OPT_PORT, OPT_MODE, OPT_STATS, OPT_ALOG, OPT_CHECK, OPT_REPLY,
	OPT_VERSION, OPT_GARBAGE, OPT_RESET, OPT_RATE, OPT_RCVBUF, OPT_RESET_LINES,
	OPT_MAX_RESETS, OPT_DISTINCT, OPT_HELP
};

static int parse_args(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "host", required_argument, NULL, OPT_HOST },
		{ "port", required_argument, NULL, OPT_PORT },
		{ "mode", required_argument, NULL, OPT_MODE },
		{ "stats-file", required_argument, NULL, OPT_STATS },
		{ "accept-log", required_argument, NULL, OPT_ALOG },
		{ "check-lines", no_argument, NULL, OPT_CHECK },
		{ "reply-errors", no_argument, NULL, OPT_REPLY },
		{ "answer-version", no_argument, NULL, OPT_VERSION },
		{ "garbage-bytes", required_argument, NULL, OPT_GARBAGE },
		{ "reset-bytes", required_argument, NULL, OPT_RESET },
		{ "read-rate", required_argument, NULL, OPT_RATE },
		{ "rcvbuf", required_argument, NULL, OPT_RCVBUF },
		{ "reset-lines", required_argument, NULL, OPT_RESET_LINES },
		{ "max-resets", required_argument, NULL, OPT_MAX_RESETS },
		{ "distinct", required_argument, NULL, OPT_DISTINCT },
		{ "help", no_argument, NULL, OPT_HELP },
		{ NULL, 0, NULL, 0 }
	};
	uint64_t u;
	g.host = "127.0.0.1";
	g.mode = M_COUNT;
	g.garbage_bytes = 8u << 20;
	g.reset_bytes = 1u << 20;
	g.read_rate = 1 << 20;
	int ch;
	while ((ch = getopt_long(argc, argv, "h", lo, NULL)) != -1) {
		const char *bad = NULL;
		switch (ch) {
		case OPT_HOST:
			if (!*optarg || strlen(optarg) > 255)
				bad = "--host";
			g.host = optarg;
			break;
		case OPT_PORT:
			if (parse_size(optarg, &u) < 0 || u > 65535 || strpbrk(optarg, "kKmMgG"))
				bad = "--port";
			g.port = (int)u;
			break;
		case OPT_MODE:
			if (!strcmp(optarg, "count"))
				g.mode = M_COUNT;
			else if (!strcmp(optarg, "never-read"))
				g.mode = M_NEVER_READ;
			else if (!strcmp(optarg, "garbage"))
				g.mode = M_GARBAGE;
			else if (!strcmp(optarg, "reset-after"))
				g.mode = M_RESET_AFTER;
			else if (!strcmp(optarg, "slow"))
				g.mode = M_SLOW;
			else if (!strcmp(optarg, "close-after-accept"))
				g.mode = M_CLOSE_AFTER_ACCEPT;
			else
				bad = "--mode";
			break;
		case OPT_STATS:
			if (!*optarg || strlen(optarg) > PATH_MAX - 8)
				bad = "--stats-file";
			g.stats_file = optarg;
			break;
		case OPT_ALOG:
			if (!*optarg)
				bad = "--accept-log";
			g.accept_log = optarg;
			break;
		case OPT_CHECK:
			g.check_lines = 1;
			break;
		case OPT_REPLY:
			g.reply_errors = 1;
			break;
		case OPT_VERSION:
			g.answer_version = 1;
			break;
		case OPT_GARBAGE:
			if (parse_size(optarg, &g.garbage_bytes) < 0)
				bad = "--garbage-bytes";
			break;
		case OPT_RESET:
			if (parse_size(optarg, &g.reset_bytes) < 0)
				bad = "--reset-bytes";
			break;
		case OPT_RATE:
			if (parse_size(optarg, &u) < 0 || u == 0 || u > (1ull << 40))
				bad = "--read-rate";
			g.read_rate = (double)u;
			break;
		case OPT_RCVBUF:
			if (parse_size(optarg, &u) < 0 || u > INT_MAX)
				bad = "--rcvbuf";
			g.rcvbuf = (int)u;
			break;
		case OPT_RESET_LINES:
			if (parse_size(optarg, &g.reset_lines) < 0)
				bad = "--reset-lines";
			break;
		case OPT_MAX_RESETS:
			if (parse_size(optarg, &g.max_resets) < 0)
				bad = "--max-resets";
			break;
		case OPT_DISTINCT:
			if (parse_size(optarg, &g.distinct_max) < 0 || g.distinct_max > (1ull << 34))
				bad = "--distinct (at most 16G)";
			break;
		case OPT_HELP:
		case 'h':
			usage(stdout);
			exit(0);
		default:
			usage(stderr);
			return -1;
		}
		if (bad) {
			warnx_("invalid value for %s: '%s'", bad, optarg ? optarg : "");
			return -1;
		}
	}
	if (optind < argc) {
		warnx_("unexpected argument '%s'", argv[optind]);
		return -1;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (parse_args(argc, argv) < 0)
		return EXIT_USAGE;
	g.alog_fd = -1;
	if (g.accept_log) {
		g.alog_fd = open(g.accept_log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
		if (g.alog_fd < 0) {
			warnx_("cannot open %s: %s", g.accept_log, strerror(errno));
			return EXIT_USAGE;
		}
	}
	if (g.distinct_max) {
		g.seen = calloc((size_t)(g.distinct_max / 8 + 1), 1);
		if (!g.seen) {
			warnx_("out of memory for --distinct %" PRIu64, g.distinct_max);
			return 1;
		}
	}
	if (open_listener() < 0)
		return 1;
	if (g.mode == M_GARBAGE)
		fill_garbage();

	/* signals are delivered only inside epoll_pwait: no races with the flags */
	sigset_t block, orig;
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGUSR1);
	sigprocmask(SIG_BLOCK, &block, &orig);
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGUSR1, &sa, NULL);
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sigset_t waitmask = orig;
	sigdelset(&waitmask, SIGTERM);
	sigdelset(&waitmask, SIGINT);
	sigdelset(&waitmask, SIGUSR1);

	g.ep = epoll_create1(EPOLL_CLOEXEC);
	if (g.ep < 0) {
		warnx_("epoll_create1: %s", strerror(errno));
		return 1;
	}
	struct epoll_event le = { .events = EPOLLIN, .data.ptr = NULL };
	if (epoll_ctl(g.ep, EPOLL_CTL_ADD, g.lfd, &le) < 0) {
		warnx_("epoll_ctl: %s", strerror(errno));
		return 1;
	}
	printf("{\"port\":%d}\n", g.port);
	fflush(stdout);
	write_stats_file();

	double t = now_s();
	double next_stats = t + STATS_EVERY;
	double next_tick = t + SLOW_TICK;
	g.last_tick = t;
	struct epoll_event evs[MAX_EVENTS];
	while (!g_term) {
		t = now_s();
		double wake = t + 0.1;
		if (g.stats_file && next_stats < wake)
			wake = next_stats;
		if (g.mode == M_SLOW && next_tick < wake)
			wake = next_tick;
		if (g.listen_paused && g.listen_resume < wake)
			wake = g.listen_resume;
		int ms = (int)((wake - t) * 1000.0 + 0.999);
		if (ms < 0)
			ms = 0;
		int n = epoll_pwait(g.ep, evs, MAX_EVENTS, ms, &waitmask);
		if (n < 0) {
			if (errno != EINTR) {
				warnx_("epoll_wait: %s", strerror(errno));
				break;
			}
			n = 0;
		}
		t = now_s();
		for (int i = 0; i < n; i++) {
			struct sconn *c = evs[i].data.ptr;
			uint32_t re = evs[i].events;
			if (!c) {
				do_accept(t);
				continue;
			}
			if (g.mode == M_NEVER_READ) {
				if (re & (EPOLLHUP | EPOLLERR))
					conn_close(c, 0);       /* reset: the peer is gone */
				continue;
			}
			if (re & EPOLLOUT) {
				if (conn_write(c) < 0) {
					conn_close(c, 0);
					continue;
				}
			}
			if ((re & (EPOLLIN | EPOLLHUP | EPOLLERR)) && g.mode != M_SLOW) {
				size_t got;
				if (conn_read(c, SIZE_MAX, &got) < 0)
					continue;
			}
			if ((re & EPOLLERR) || (g.mode == M_SLOW && (re & EPOLLHUP))) {
				int soerr = 0;
				socklen_t sl = sizeof(soerr);
				getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
				if (soerr || (re & EPOLLHUP))
					conn_close(c, 0);
			}
		}
		if (g_usr1) {
			g_usr1 = 0;
			write_stats_file();
		}
		if (g.listen_paused && t >= g.listen_resume) {
			struct epoll_event e = { .events = EPOLLIN, .data.ptr = NULL };
			epoll_ctl(g.ep, EPOLL_CTL_MOD, g.lfd, &e);
			g.listen_paused = 0;
		}
		if (g.mode == M_SLOW && t >= next_tick) {
			slow_tick(t);
			next_tick = t + SLOW_TICK;
		}
		if (g.reset_due)
			reset_round();
		if (g.stats_file && t >= next_stats) {
			write_stats_file();
			next_stats = t + STATS_EVERY;
		}
	}
	write_stats_file();
	char json[1024];
	if (stats_json(json, sizeof(json)) > 0)
		fputs(json, stdout);
	fflush(stdout);
	while (g.conns)
		conn_close(g.conns, 0);
	close(g.lfd);
	close(g.ep);
	free(g.seen);
	if (g.alog_fd >= 0)
		close(g.alog_fd);
	return 0;
}
