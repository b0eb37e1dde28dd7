/*
 * tsload.c -- load generator for tsrelay's integration tests and benchmarks.
 *
 * Owns: a deterministic stream of OpenTSDB data points (telnet lines, framed
 * text, framed JSON or HTTP POST /api/put) sent over N non-blocking TCP
 * connections from one thread, optional smooth pacing, measurement of write
 * blocking (backpressure), counting of whatever the server sends back, and
 * exactly one JSON result line on stdout.
 *
 * Data model: point i in [0, points): series s = i % S, timestamp (seconds)
 * = T0 + i / S, value = i (or i + 0.5), tags host=h<s % 1000> series=s<s>;
 * its metric is --metric, or with --metrics A,B,... the (s % K)-th of the K
 * names.
 * Connection c sends the points with i % conns == c, in increasing order.
 *
 * It must never: depend on anything beyond libc and libm, issue a syscall per
 * point, block on one socket while others wait, grow a buffer without bound,
 * close a connection with an RST, or abort on bad input (bad options print a
 * message and exit 2).
 *
 * Exit status: 0 success; 1 connection error (connect failed, reset, peer
 * closed while data was pending); 2 usage; 3 --duration-limit exceeded;
 * 4 data still unacknowledged after --drain-timeout; 5 interrupted.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <getopt.h>
#include <inttypes.h>
#include <limits.h>
#include <math.h>
#include <netdb.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/socket.h>
#include <sys/types.h>
#include <time.h>
#include <unistd.h>
#include <linux/sockios.h>

#define TOOL_NAME "tsload"
#include "tool_util.h"

#define EXIT_CONN      1
#define EXIT_USAGE     2
#define EXIT_DURATION  3
#define EXIT_UNDRAINED 4
#define EXIT_INTR      5

#define MAX_METRIC     256          /* bytes of --metric */
#define MAX_METRICS    64           /* names of --metrics */
#define MAX_BATCH      100000       /* points per frame/request/write */
#define MAX_MARKS      1024         /* batches per send buffer */
#define HTTP_HDR_MAX   1024         /* room reserved for the request header */
#define RX_BUF         65536        /* one read of replies */
#define RX_LINE        512          /* printed reply line, truncated */
#define HTTP_RX_HDR    8192         /* response header, bounded */
#define PRINT_LINES    20
#define LINGER_SEC     10.0
#define SEND_ROUNDS    16           /* writes per connection per loop turn */
#define FRAME_MAX      ((1u << 24) - 1)

enum proto { P_TELNET, P_FRAMED, P_JSON, P_HTTP };
enum cstate { C_SENDING, C_DRAIN, C_LINGER, C_CLOSED };

struct mark {
	size_t end;                 /* batch ends at this buffer offset */
	uint32_t npts;
};

struct http_rx {
	int state;                  /* enum hrx */
	int status;
	int close_after;
	int chunked;
	uint64_t remain;
	size_t hlen;
	char hdr[HTTP_RX_HDR];
	size_t blen;
	char body[RX_LINE];         /* sample of an error body, for printing */
};

enum hrx { HR_HDR, HR_BODY, HR_CSIZE, HR_CDATA, HR_CCRLF, HR_TRAILER, HR_EOF };

struct conn {
	int idx;
	int fd;
	enum cstate state;
	uint64_t total;             /* points this connection must send */
	uint64_t generated;         /* points formatted so far */
	uint64_t sent;              /* points whose bytes were fully written */
	char *buf;                  /* send buffer, capacity g.bufcap */
	size_t len, off;
	struct mark marks[MAX_MARKS];
	int nmarks, mi;
	int blocked;                /* EAGAIN seen, waiting for POLLOUT */
	double blocked_since;
	int rd_eof;
	int failed;
	int drained;                /* acknowledged (or, --linger-exit: peer closed) */
	double phase_deadline;      /* drain or linger deadline */
	double last_outq_check;
	/* replies */
	int outstanding;            /* http requests without response */
	struct http_rx hr;
	unsigned char fhdr[4];      /* framed reply parser */
	int fhdr_got;
	uint64_t fremain;
	int text_replies;           /* replies not framed after all */
	size_t llen;
	char line[RX_LINE];
};

static struct {
	/* options */
	const char *host;
	int port;
	enum proto proto;
	int nconns;
	uint64_t points;
	double rate;
	uint64_t batch;
	int batch_given;
	uint64_t series;
	uint64_t start_ts;
	int start_ts_given;
	int float_values;
	char metric[MAX_METRIC + 1];
	double duration_limit;
	double stall_ms;
	int linger_exit;
	double drain_timeout;
	double close_grace;
	int print_replies;
	double retry_connect;
	const char *http_path;
	int pipeline;
	size_t write_size;
	int write_size_given;
	int sndbuf;
	int framed_put;
	const char *metrics;        /* --metrics A,B,...: NULL for --metric alone */
	/* derived */
	char pre[MAX_METRICS][MAX_METRIC * 6 + 64];   /* per-point prefix, per metric */
	size_t prelen[MAX_METRICS];
	int nmetrics;
	size_t maxpt;               /* upper bound of one formatted point */
	size_t bufcap;
	double rate_c;              /* per connection */
	char host_hdr[300];
	/* run state */
	struct conn *conns;
	double t_prog;
	double t_start;
	double t_send_done;
	uint64_t reply_bytes;
	uint64_t reply_lines;
	uint64_t responses;
	uint64_t errors;
	uint64_t conn_errors;
	double max_blocked;
	uint64_t max_outq;
	int printed;
	int undrained;
	unsigned char rx[RX_BUF];
} g;

static volatile sig_atomic_t g_stop;

static void on_signal(int sig)
{
	(void)sig;
	g_stop = 1;
}


/* ---------- formatting ---------- */

static const char digits2[201] =
	"00010203040506070809101112131415161718192021222324252627282930313233343536373839"
	"40414243444546474849505152535455565758596061626364656667686970717273747576777879"
	"8081828384858687888990919293949596979899";

/* Writes v in decimal at p, returns the end. At most 20 bytes. */
static char *u64dec(char *p, uint64_t v)
{
	char tmp[24];
	char *e = tmp + sizeof(tmp);
	char *q = e;
	while (v >= 100) {
		unsigned r = (unsigned)(v % 100);
		v /= 100;
		q -= 2;
		memcpy(q, digits2 + 2 * r, 2);
	}
	if (v >= 10) {
		q -= 2;
		memcpy(q, digits2 + 2 * v, 2);
	} else {
		*--q = (char)('0' + v);
	}
	size_t n = (size_t)(e - q);
	memcpy(p, q, n);
	return p + n;
}

#define PUT_LIT(p, s) do { memcpy((p), (s), sizeof(s) - 1); (p) += sizeof(s) - 1; } while (0)

/* One text point (telnet or framed text), newline terminated. */
static char *fmt_text(char *p, uint64_t i)
{
	uint64_t s = i % g.series;
	int m = (int)(s % (uint64_t)g.nmetrics);
	memcpy(p, g.pre[m], g.prelen[m]);
	p += g.prelen[m];
	p = u64dec(p, g.start_ts + i / g.series);
	*p++ = ' ';
	p = u64dec(p, i);
	if (g.float_values)
		PUT_LIT(p, ".5");
	PUT_LIT(p, " host=h");
	p = u64dec(p, s % 1000);
	PUT_LIT(p, " series=s");
	p = u64dec(p, s);
	*p++ = '\n';
	return p;
}

/* One JSON datapoint object (no separator). */
static char *fmt_json(char *p, uint64_t i)
{
	uint64_t s = i % g.series;
	int m = (int)(s % (uint64_t)g.nmetrics);
	memcpy(p, g.pre[m], g.prelen[m]);     /* {"metric":"M","timestamp": */
	p += g.prelen[m];
	p = u64dec(p, g.start_ts + i / g.series);
	PUT_LIT(p, ",\"value\":");
	p = u64dec(p, i);
	if (g.float_values)
		PUT_LIT(p, ".5");
	PUT_LIT(p, ",\"tags\":{\"host\":\"h");
	p = u64dec(p, s % 1000);
	PUT_LIT(p, "\",\"series\":\"s");
	p = u64dec(p, s);
	PUT_LIT(p, "\"}}");
	return p;
}

/* JSON string body escape of src into dst (capacity cap), returns length or -1. */
static int json_escape(char *dst, size_t cap, const char *src)
{
	size_t o = 0;
	for (const unsigned char *s = (const unsigned char *)src; *s; s++) {
		char tmp[8];
		size_t n;
		if (*s == '"' || *s == '\\') {
			tmp[0] = '\\';
			tmp[1] = (char)*s;
			n = 2;
		} else if (*s < 0x20) {
			n = (size_t)snprintf(tmp, sizeof(tmp), "\\u%04x", *s);
		} else {
			tmp[0] = (char)*s;
			n = 1;
		}
		if (o + n >= cap)
			return -1;
		memcpy(dst + o, tmp, n);
		o += n;
	}
	dst[o] = '\0';
	return (int)o;
}

/* ---------- send side ---------- */

static int conn_sending_done(const struct conn *c)
{
	return c->generated == c->total && c->off == c->len &&
	       (g.proto != P_HTTP || c->outstanding == 0);
}

static void add_mark(struct conn *c, uint32_t npts)
{
	c->marks[c->nmarks].end = c->len;
	c->marks[c->nmarks].npts = npts;
	c->nmarks++;
}

/* Point index of this connection's k-th point. */
static uint64_t point_index(const struct conn *c, uint64_t k)
{
	return (uint64_t)c->idx + k * (uint64_t)g.nconns;
}

/* Points this connection may have generated by time t (pacing). */
static uint64_t allowed_by(const struct conn *c, double t)
{
	if (g.rate <= 0)
		return c->total;
	double a = floor(g.rate_c * (t - g.t_start));
	if (a < 0)
		return 0;
	if (a >= (double)c->total)
		return c->total;
	return (uint64_t)a;
}

/* Points the next batch needs before it may be generated. */
static uint64_t next_need(const struct conn *c)
{
	uint64_t left = c->total - c->generated;
	if (g.proto == P_TELNET && !g.batch_given)
		return 1;
	return left < g.batch ? left : g.batch;
}

static void gen_framed(struct conn *c, uint64_t n)
{
	size_t hdr = c->len;
	char *p = c->buf + hdr + 4;
	char *p0 = p;
	for (uint64_t k = 0; k < n; k++) {
		uint64_t i = point_index(c, c->generated + k);
		if (g.proto == P_JSON) {
			*p++ = k == 0 ? '[' : ',';
			p = fmt_json(p, i);
		} else {
			p = fmt_text(p, i);
		}
	}
	if (g.proto == P_JSON)
		*p++ = ']';
	uint32_t plen = (uint32_t)(p - p0);
	unsigned char *h = (unsigned char *)c->buf + hdr;
	h[0] = (unsigned char)(plen >> 24);
	h[1] = (unsigned char)(plen >> 16);
	h[2] = (unsigned char)(plen >> 8);
	h[3] = (unsigned char)plen;
	c->len = (size_t)(p - c->buf);
	c->generated += n;
	add_mark(c, (uint32_t)n);
}

static void gen_http(struct conn *c, uint64_t n)
{
	size_t start = c->len;
	char *b0 = c->buf + start + HTTP_HDR_MAX;
	char *p = b0;
	*p++ = '[';
	for (uint64_t k = 0; k < n; k++) {
		if (k)
			*p++ = ',';
		p = fmt_json(p, point_index(c, c->generated + k));
	}
	*p++ = ']';
	size_t blen = (size_t)(p - b0);
	char hdr[HTTP_HDR_MAX];
	int hl = snprintf(hdr, sizeof(hdr),
	                  "POST %s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\n"
	                  "Content-Length: %zu\r\n\r\n", g.http_path, g.host_hdr, blen);
	if (hl < 0 || (size_t)hl >= sizeof(hdr))
		hl = 0;                     /* cannot happen: lengths checked at start */
	memcpy(c->buf + start, hdr, (size_t)hl);
	memmove(c->buf + start + hl, b0, blen);
	c->len = start + (size_t)hl + blen;
	c->generated += n;
	c->outstanding++;
	add_mark(c, (uint32_t)n);
}

/* Refill an empty send buffer with as many batches as pacing allows. */
static void conn_fill(struct conn *c, double t)
{
	if (c->off < c->len || c->generated >= c->total)
		return;
	c->off = c->len = 0;
	c->nmarks = c->mi = 0;
	uint64_t allow = allowed_by(c, t);
	while (c->generated < allow && c->nmarks < MAX_MARKS) {
		uint64_t avail = allow - c->generated;
		if (g.proto == P_TELNET) {
			uint64_t n = 0;
			uint64_t lim = g.batch_given ? g.batch : UINT64_MAX;
			if (g.batch_given && avail < next_need(c))
				break;
			char *p = c->buf + c->len;
			while (n < avail && n < lim &&
			       (g.batch_given || (size_t)(p - c->buf) < g.write_size)) {
				p = fmt_text(p, point_index(c, c->generated + n));
				n++;
			}
			c->len = (size_t)(p - c->buf);
			c->generated += n;
			add_mark(c, (uint32_t)n);
			break;                  /* one chunk or one batch per write */
		}
		uint64_t need = next_need(c);
		if (avail < need)
			break;
		if (g.proto == P_HTTP) {
			if (c->outstanding >= g.pipeline)
				break;
			gen_http(c, need);
		} else {
			gen_framed(c, need);
		}
		if (c->len >= g.write_size)
			break;
	}
}

static void account_sent(struct conn *c)
{
	while (c->mi < c->nmarks && c->marks[c->mi].end <= c->off)
		c->sent += c->marks[c->mi++].npts;
}

static void sample_outq(struct conn *c)
{
	int q = 0;
	if (c->fd >= 0 && ioctl(c->fd, SIOCOUTQ, &q) == 0 && q > 0 &&
	    (uint64_t)q > g.max_outq)
		g.max_outq = (uint64_t)q;
}

static void block_end(struct conn *c, double t)
{
	if (!c->blocked)
		return;
	double d = (t - c->blocked_since) * 1000.0;
	if (d > g.max_blocked)
		g.max_blocked = d;
	if (g.stall_ms > 0 && d >= g.stall_ms)
		warnx_("conn %d: writes blocked for %.1f ms (at t=%.3f s)", c->idx, d,
		       c->blocked_since - g.t_start);
	c->blocked = 0;
}

static void conn_close_graceful(struct conn *c);

static void conn_fail(struct conn *c, const char *what, int err)
{
	if (c->state == C_CLOSED)
		return;
	if (err)
		warnx_("conn %d: %s: %s", c->idx, what, strerror(err));
	else
		warnx_("conn %d: %s", c->idx, what);
	/* complete telnet lines of a partly written batch still count */
	if (g.proto == P_TELNET && c->mi < c->nmarks) {
		size_t from = c->mi ? c->marks[c->mi - 1].end : 0;
		for (size_t k = from; k < c->off; k++)
			if (c->buf[k] == '\n')
				c->sent++;
	}
	c->failed = 1;
	double t = now_s();
	if (t > g.t_send_done)
		g.t_send_done = t;
	g.errors++;
	g.conn_errors++;
	conn_close_graceful(c);
}

/* Write pending data; refill when empty; stop at EAGAIN or after a few rounds. */
static void conn_send(struct conn *c, double t, int *busy)
{
	for (int round = 0; round < SEND_ROUNDS; round++) {
		if (c->off == c->len)
			conn_fill(c, t);
		if (c->off == c->len)
			return;
		ssize_t w = send(c->fd, c->buf + c->off, c->len - c->off, MSG_NOSIGNAL);
		if (w > 0) {
			block_end(c, t);
			c->off += (size_t)w;
			account_sent(c);
			continue;
		}
		if (w < 0 && errno == EINTR)
			continue;
		if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			if (!c->blocked) {
				c->blocked = 1;
				c->blocked_since = t;
				if (g.stall_ms > 0)
					sample_outq(c);
			}
			return;
		}
		conn_fail(c, "send", w < 0 ? errno : EIO);
		return;
	}
	*busy = 1;
}

/* ---------- replies ---------- */

static void print_line(struct conn *c, const char *s, size_t n)
{
	if (!g.print_replies || g.printed >= PRINT_LINES)
		return;
	while (n && (s[n - 1] == '\r' || s[n - 1] == '\n'))
		n--;
	char clean[RX_LINE];
	for (size_t k = 0; k < n && k < sizeof(clean); k++) {
		unsigned char ch = (unsigned char)s[k];
		clean[k] = (ch < 0x20 || ch >= 0x7f) ? '?' : (char)ch;
	}
	if (n > sizeof(clean))
		n = sizeof(clean);
	fprintf(stderr, "tsload: reply conn %d: %.*s\n", c->idx, (int)n, clean);
	g.printed++;
}

/* Text replies: count lines, keep the current one for printing. */
static void text_rx(struct conn *c, const unsigned char *d, size_t n, int frame_end)
{
	while (n) {
		const unsigned char *nl = memchr(d, '\n', n);
		size_t seg = nl ? (size_t)(nl - d) + 1 : n;
		size_t room = sizeof(c->line) - c->llen;
		size_t cp = seg < room ? seg : room;
		memcpy(c->line + c->llen, d, cp);
		c->llen += cp;
		if (nl) {
			g.reply_lines++;
			print_line(c, c->line, c->llen);
			c->llen = 0;
		}
		d += seg;
		n -= seg;
	}
	if (frame_end && c->llen) {
		g.reply_lines++;
		print_line(c, c->line, c->llen);
		c->llen = 0;
	}
}

/* Framed replies: length-prefixed text payloads. */
static void framed_rx(struct conn *c, const unsigned char *d, size_t n)
{
	while (n) {
		if (c->text_replies) {
			text_rx(c, d, n, 0);
			return;
		}
		if (c->fremain == 0) {
			c->fhdr[c->fhdr_got++] = *d++;
			n--;
			if (c->fhdr_got < 4)
				continue;
			c->fhdr_got = 0;
			uint32_t len = (uint32_t)c->fhdr[0] << 24 | (uint32_t)c->fhdr[1] << 16 |
			               (uint32_t)c->fhdr[2] << 8 | c->fhdr[3];
			if (len > FRAME_MAX) {
				/* not a frame: the server answers in plain text */
				c->text_replies = 1;
				text_rx(c, c->fhdr, 4, 0);
				continue;
			}
			c->fremain = len;
			continue;
		}
		size_t take = n < c->fremain ? n : (size_t)c->fremain;
		c->fremain -= take;
		text_rx(c, d, take, c->fremain == 0);
		d += take;
		n -= take;
	}
}

static void http_response_done(struct conn *c)
{
	struct http_rx *h = &c->hr;
	g.responses++;
	if (c->outstanding > 0)
		c->outstanding--;
	if (h->status < 200 || h->status > 299) {
		g.errors++;
		g.reply_lines++;
		if (g.print_replies && g.printed < PRINT_LINES) {
			fprintf(stderr, "tsload: reply conn %d: HTTP %d %.*s\n", c->idx, h->status,
			        (int)h->blen, h->body);
			g.printed++;
		}
	}
	h->state = HR_HDR;
	h->hlen = 0;
	h->blen = 0;
	h->remain = 0;
}

static void http_keep_body(struct http_rx *h, const unsigned char *d, size_t n)
{
	size_t room = sizeof(h->body) - h->blen;
	size_t cp = n < room ? n : room;
	for (size_t k = 0; k < cp; k++)
		h->body[h->blen++] = (d[k] == '\n' || d[k] == '\r') ? ' ' : (char)d[k];
}

/* Parses the complete header in h->hdr. Returns 0, or -1 if malformed. */
static int http_parse_header(struct http_rx *h)
{
	h->hdr[h->hlen] = '\0';
	int maj, min, st;
	if (sscanf(h->hdr, "HTTP/%d.%d %d", &maj, &min, &st) != 3 || st < 100 || st > 999)
		return -1;
	h->status = st;
	h->chunked = 0;
	h->close_after = (maj == 1 && min == 0);
	int have_cl = 0;
	uint64_t cl = 0;
	char *line = strstr(h->hdr, "\r\n");
	while (line && line[2] && !(line[2] == '\r' && line[3] == '\n')) {
		line += 2;
		char *end = strstr(line, "\r\n");
		if (!end)
			break;
		char *colon = memchr(line, ':', (size_t)(end - line));
		if (colon) {
			size_t nlen = (size_t)(colon - line);
			char *v = colon + 1;
			while (v < end && (*v == ' ' || *v == '\t'))
				v++;
			size_t vlen = (size_t)(end - v);
			if (nlen == 14 && strncasecmp(line, "Content-Length", 14) == 0) {
				char *e;
				errno = 0;
				unsigned long long x = strtoull(v, &e, 10);
				if (e == v || errno)
					return -1;
				cl = x;
				have_cl = 1;
			} else if (nlen == 17 && strncasecmp(line, "Transfer-Encoding", 17) == 0) {
				if (vlen >= 7 && strncasecmp(end - 7, "chunked", 7) == 0)
					h->chunked = 1;
			} else if (nlen == 10 && strncasecmp(line, "Connection", 10) == 0) {
				if (vlen >= 5 && strncasecmp(v, "close", 5) == 0)
					h->close_after = 1;
				else if (vlen >= 10 && strncasecmp(v, "keep-alive", 10) == 0)
					h->close_after = 0;
			}
		}
		line = end;
	}
	if (st < 200 || st == 204 || st == 304) {
		h->remain = 0;
		h->state = HR_BODY;
	} else if (h->chunked) {
		h->state = HR_CSIZE;
	} else if (have_cl) {
		h->remain = cl;
		h->state = HR_BODY;
	} else {
		h->state = HR_EOF;
	}
	return 0;
}

/* Minimal HTTP/1.1 response reader: status, Content-Length or chunked. */
static int http_rx(struct conn *c, const unsigned char *d, size_t n)
{
	struct http_rx *h = &c->hr;
	while (n || (h->state == HR_BODY && h->remain == 0)) {
		switch (h->state) {
		case HR_HDR:
			while (n) {
				if (h->hlen >= sizeof(h->hdr) - 1) {
					warnx_("conn %d: HTTP response header too large", c->idx);
					return -1;
				}
				h->hdr[h->hlen++] = (char)*d++;
				n--;
				if (h->hlen >= 4 && memcmp(h->hdr + h->hlen - 4, "\r\n\r\n", 4) == 0)
					break;
			}
			if (h->hlen >= 4 && memcmp(h->hdr + h->hlen - 4, "\r\n\r\n", 4) == 0) {
				if (http_parse_header(h) < 0) {
					warnx_("conn %d: malformed HTTP response", c->idx);
					return -1;
				}
				h->hlen = 0;
				if (h->status < 200)     /* 1xx: another header follows */
					h->state = HR_HDR;
			}
			break;
		case HR_BODY: {
			size_t take = n < h->remain ? n : (size_t)h->remain;
			http_keep_body(h, d, take);
			d += take;
			n -= take;
			h->remain -= take;
			if (h->remain == 0)
				http_response_done(c);
			break;
		}
		case HR_CSIZE:
		case HR_TRAILER:
			/* collect one line into hdr (reused once the header is parsed) */
			while (n) {
				char ch = (char)*d++;
				n--;
				if (ch == '\n') {
					h->hdr[h->hlen] = '\0';
					if (h->state == HR_CSIZE) {
						char *e;
						unsigned long long sz = strtoull(h->hdr, &e, 16);
						if (e == h->hdr) {
							warnx_("conn %d: bad HTTP chunk size", c->idx);
							return -1;
						}
						h->remain = sz;
						h->state = sz ? HR_CDATA : HR_TRAILER;
						h->hlen = 0;
					} else {
						int empty = h->hlen == 0 || (h->hlen == 1 && h->hdr[0] == '\r');
						h->hlen = 0;
						if (empty) {
							http_response_done(c);
						}
					}
					break;
				}
				if (h->hlen < sizeof(h->hdr) - 1)
					h->hdr[h->hlen++] = ch;
			}
			break;
		case HR_CDATA: {
			size_t take = n < h->remain ? n : (size_t)h->remain;
			http_keep_body(h, d, take);
			d += take;
			n -= take;
			h->remain -= take;
			if (h->remain == 0) {
				h->state = HR_CCRLF;
				h->hlen = 0;
			}
			break;
		}
		case HR_CCRLF:
			while (n && h->state == HR_CCRLF) {
				char ch = (char)*d++;
				n--;
				if (ch == '\n') {
					h->state = HR_CSIZE;
					h->hlen = 0;
				}
			}
			break;
		case HR_EOF:
			http_keep_body(h, d, n);
			n = 0;
			break;
		}
	}
	return 0;
}

static void rx_data(struct conn *c, const unsigned char *d, size_t n)
{
	g.reply_bytes += n;
	if (g.proto == P_HTTP) {
		if (http_rx(c, d, n) < 0)
			conn_fail(c, "unusable HTTP response", 0);
	} else if (g.proto == P_TELNET) {
		text_rx(c, d, n, 0);
	} else {
		framed_rx(c, d, n);
	}
}

/* Read whatever is there. Returns -1 if the connection was failed/closed. */
static int conn_read(struct conn *c)
{
	for (int k = 0; k < 64 && !c->rd_eof; k++) {
		ssize_t r = recv(c->fd, g.rx, sizeof(g.rx), 0);
		if (r > 0) {
			rx_data(c, g.rx, (size_t)r);
			if (c->state == C_CLOSED)
				return -1;
			if ((size_t)r < sizeof(g.rx))
				return 0;
			continue;
		}
		if (r == 0) {
			c->rd_eof = 1;
			if (g.proto == P_HTTP && c->hr.state == HR_EOF)
				http_response_done(c);
			if (c->state == C_SENDING && !conn_sending_done(c)) {
				conn_fail(c, "peer closed the connection while data was pending", 0);
				return -1;
			}
			if (c->state == C_LINGER) {
				if (g.linger_exit)
					c->drained = 1;
				conn_close_graceful(c);
				return -1;
			}
			return 0;
		}
		if (errno == EINTR)
			continue;
		if (errno == EAGAIN || errno == EWOULDBLOCK)
			return 0;
		conn_fail(c, "recv", errno);
		return -1;
	}
	return 0;
}

/* Close without RST: read away what is queued first, so close() sends FIN. */
static void conn_close_graceful(struct conn *c)
{
	if (c->fd >= 0) {
		for (int k = 0; k < 1024; k++) {
			ssize_t r = recv(c->fd, g.rx, sizeof(g.rx), MSG_DONTWAIT);
			if (r <= 0)
				break;
			g.reply_bytes += (uint64_t)r;
		}
		shutdown(c->fd, SHUT_WR);
		close(c->fd);
	}
	c->fd = -1;
	c->state = C_CLOSED;
}

/* ---------- connect ---------- */

static int connect_one(const struct addrinfo *ai, double timeout, int *err)
{
	int fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK | SOCK_CLOEXEC,
	                ai->ai_protocol);
	if (fd < 0) {
		*err = errno;
		return -1;
	}
	if (g.sndbuf > 0)
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &g.sndbuf, sizeof(g.sndbuf));
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) < 0) {
		if (errno != EINPROGRESS) {
			*err = errno;
			close(fd);
			return -1;
		}
		struct pollfd p = { .fd = fd, .events = POLLOUT };
		int ms = (int)(timeout * 1000.0);
		int r;
		do {
			r = poll(&p, 1, ms < 1 ? 1 : ms);
		} while (r < 0 && errno == EINTR && !g_stop);
		if (r <= 0) {
			*err = r == 0 ? ETIMEDOUT : errno;
			close(fd);
			return -1;
		}
		int soerr = 0;
		socklen_t sl = sizeof(soerr);
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &soerr, &sl) < 0 || soerr) {
			*err = soerr ? soerr : errno;
			close(fd);
			return -1;
		}
	}
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof(one));
	return fd;
}

static int connect_all(void)
{
	char portstr[16];
	snprintf(portstr, sizeof(portstr), "%d", g.port);
	struct addrinfo hints = { .ai_family = AF_UNSPEC, .ai_socktype = SOCK_STREAM };
	struct addrinfo *res = NULL;
	int gr = getaddrinfo(g.host, portstr, &hints, &res);
	if (gr != 0) {
		warnx_("cannot resolve %s: %s", g.host, gai_strerror(gr));
		return -1;
	}
	double deadline = now_s() + g.retry_connect;
	int rc = 0;
	for (int i = 0; i < g.nconns && rc == 0; i++) {
		for (;;) {
			int err = 0, fd = -1;
			for (struct addrinfo *ai = res; ai && fd < 0; ai = ai->ai_next) {
				double left = deadline - now_s();
				fd = connect_one(ai, left > 5.0 ? left : 5.0, &err);
			}
			if (fd >= 0) {
				g.conns[i].fd = fd;
				break;
			}
			if (g_stop || now_s() >= deadline) {
				warnx_("connect to %s:%d (conn %d): %s", g.host, g.port, i, strerror(err));
				rc = -1;
				break;
			}
			struct timespec ts = { 0, 100 * 1000 * 1000 };
			nanosleep(&ts, NULL);
		}
	}
	freeaddrinfo(res);
	return rc;
}

/* ---------- options ---------- */

static void usage(FILE *f)
{
	fputs(
"usage: tsload --port P --points N [options]\n"
"  --host H                 server address (default 127.0.0.1)\n"
"  --port P                 server port (required)\n"
"  --proto telnet|framed|json|http   (default telnet)\n"
"  --conns N                connections; conn c sends points i with i%N==c (default 1)\n"
"  --points N               total points (required)\n"
"  --rate R                 total points/s over all connections, 0 = unpaced (default 0)\n"
"  --batch B                points per frame/request (default 100); telnet: points per write\n"
"                           (default: fill --write-size)\n"
"  --series S               distinct series (default 1000)\n"
"  --start-ts T0            first timestamp, seconds (default now - points/series - 60)\n"
"  --metric M               metric name (default tsload.m)\n"
"  --metrics A,B,...        metric names instead: series s has the (s %% K)-th of K (<= 64)\n"
"  --float-values           value = i + 0.5 instead of i\n"
"  --duration-limit SEC     give up after SEC seconds, exit 3 (default 600)\n"
"  --report-stall-ms M      sample SIOCOUTQ and log write stalls >= M ms (default 0 = off)\n"
"  --linger-exit            after sending: shutdown(SHUT_WR), read until the peer closes (<= 10 s)\n"
"  --drain-timeout SEC      default exit: wait for SIOCOUTQ == 0 this long (default 30)\n"
"  --close-grace SEC        default exit: after SIOCOUTQ == 0, shutdown(SHUT_WR) and wait this\n"
"                           long for the peer's FIN before closing (default 2)\n"
"  --print-replies          print the first 20 reply lines to stderr\n"
"  --retry-connect SEC      keep retrying connect for SEC seconds (default 0)\n"
"  --http-path PATH         request path for --proto http (default /api/put)\n"
"  --pipeline K             http requests in flight per connection (default 1)\n"
"  --write-size BYTES       coalesce batches up to this many bytes per write (default 64K)\n"
"  --sndbuf BYTES           SO_SNDBUF of each connection (default: kernel)\n"
"  --framed-put             framed text lines start with \"put \"\n"
"output: one JSON line {\"sent\",\"seconds\",\"rate\",\"reply_bytes\",\"errors\",\n"
"  \"max_blocked_ms\",\"max_outq\",\"conns\",\"reply_lines\",\"responses\",\"conn_errors\",\"drained\"}\n"
"exit: 0 ok, 1 connection error, 2 usage, 3 duration limit, 4 unacknowledged after\n"
"  --drain-timeout, 5 interrupted\n",
	f);
}

static int parse_u64(const char *s, uint64_t max, uint64_t *out)
{
	char *e;
	if (!s || !*s || *s == '-')
		return -1;
	errno = 0;
	unsigned long long v = strtoull(s, &e, 10);
	if (errno || *e || v > max)
		return -1;
	*out = v;
	return 0;
}

static int parse_dbl(const char *s, double max, double *out)
{
	char *e;
	if (!s || !*s)
		return -1;
	errno = 0;
	double v = strtod(s, &e);
	if (errno || *e || !(v >= 0) || v > max)
		return -1;
	*out = v;
	return 0;
}

enum {
	OPT_HOST = 256, OPT_PORT, OPT_PROTO, OPT_CONNS, OPT_POINTS, OPT_RATE, OPT_BATCH, OPT_SERIES,
	OPT_START, OPT_FLOAT, OPT_METRIC, OPT_DURATION, OPT_STALL, OPT_LINGER, OPT_DRAIN, OPT_PRINT,
	OPT_RETRY, OPT_GRACE, OPT_PATH, OPT_PIPE, OPT_WSIZE, OPT_SNDBUF, OPT_FPUT, OPT_METRICS,
	OPT_HELP
};

static int parse_args(int argc, char **argv)
{
	static const struct option lo[] = {
		{ "host", required_argument, NULL, OPT_HOST },
		{ "port", required_argument, NULL, OPT_PORT },
		{ "proto", required_argument, NULL, OPT_PROTO },
		{ "conns", required_argument, NULL, OPT_CONNS },
		{ "points", required_argument, NULL, OPT_POINTS },
		{ "rate", required_argument, NULL, OPT_RATE },
		{ "batch", required_argument, NULL, OPT_BATCH },
		{ "series", required_argument, NULL, OPT_SERIES },
		{ "start-ts", required_argument, NULL, OPT_START },
		{ "float-values", no_argument, NULL, OPT_FLOAT },
		{ "metric", required_argument, NULL, OPT_METRIC },
		{ "duration-limit", required_argument, NULL, OPT_DURATION },
		{ "report-stall-ms", required_argument, NULL, OPT_STALL },
		{ "linger-exit", no_argument, NULL, OPT_LINGER },
		{ "drain-timeout", required_argument, NULL, OPT_DRAIN },
		{ "close-grace", required_argument, NULL, OPT_GRACE },
		{ "print-replies", no_argument, NULL, OPT_PRINT },
		{ "retry-connect", required_argument, NULL, OPT_RETRY },
		{ "http-path", required_argument, NULL, OPT_PATH },
		{ "pipeline", required_argument, NULL, OPT_PIPE },
		{ "write-size", required_argument, NULL, OPT_WSIZE },
		{ "sndbuf", required_argument, NULL, OPT_SNDBUF },
		{ "framed-put", no_argument, NULL, OPT_FPUT },
		{ "metrics", required_argument, NULL, OPT_METRICS },
		{ "help", no_argument, NULL, OPT_HELP },
		{ NULL, 0, NULL, 0 }
	};
	int have_port = 0, have_points = 0;
	uint64_t u;
	g.host = "127.0.0.1";
	g.proto = P_TELNET;
	g.nconns = 1;
	g.batch = 100;
	g.series = 1000;
	g.duration_limit = 600;
	g.drain_timeout = 30;
	g.close_grace = 2;
	g.http_path = "/api/put";
	g.pipeline = 1;
	g.write_size = 65536;
	snprintf(g.metric, sizeof(g.metric), "%s", "tsload.m");

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
			if (parse_u64(optarg, 65535, &u) < 0 || u == 0)
				bad = "--port";
			g.port = (int)u;
			have_port = 1;
			break;
		case OPT_PROTO:
			if (!strcmp(optarg, "telnet"))
				g.proto = P_TELNET;
			else if (!strcmp(optarg, "framed"))
				g.proto = P_FRAMED;
			else if (!strcmp(optarg, "json"))
				g.proto = P_JSON;
			else if (!strcmp(optarg, "http"))
				g.proto = P_HTTP;
			else
				bad = "--proto";
			break;
		case OPT_CONNS:
			if (parse_u64(optarg, 100000, &u) < 0 || u == 0)
				bad = "--conns";
			g.nconns = (int)u;
			break;
		case OPT_POINTS:
			if (parse_u64(optarg, (uint64_t)1 << 50, &g.points) < 0)
				bad = "--points";
			have_points = 1;
			break;
		case OPT_RATE:
			if (parse_dbl(optarg, 1e10, &g.rate) < 0)
				bad = "--rate";
			break;
		case OPT_BATCH:
			if (parse_u64(optarg, MAX_BATCH, &g.batch) < 0 || g.batch == 0)
				bad = "--batch";
			g.batch_given = 1;
			break;
		case OPT_SERIES:
			if (parse_u64(optarg, (uint64_t)1 << 40, &g.series) < 0 || g.series == 0)
				bad = "--series";
			break;
		case OPT_START:
			if (parse_u64(optarg, (uint64_t)1 << 40, &g.start_ts) < 0)
				bad = "--start-ts";
			g.start_ts_given = 1;
			break;
		case OPT_FLOAT:
			g.float_values = 1;
			break;
		case OPT_METRIC:
			if (!*optarg || strlen(optarg) > MAX_METRIC)
				bad = "--metric (1..256 bytes)";
			else
				snprintf(g.metric, sizeof(g.metric), "%s", optarg);
			break;
		case OPT_DURATION:
			if (parse_dbl(optarg, 1e7, &g.duration_limit) < 0 || g.duration_limit <= 0)
				bad = "--duration-limit";
			break;
		case OPT_STALL:
			if (parse_dbl(optarg, 1e7, &g.stall_ms) < 0)
				bad = "--report-stall-ms";
			break;
		case OPT_LINGER:
			g.linger_exit = 1;
			break;
		case OPT_DRAIN:
			if (parse_dbl(optarg, 1e7, &g.drain_timeout) < 0)
				bad = "--drain-timeout";
			break;
		case OPT_GRACE:
			if (parse_dbl(optarg, 1e7, &g.close_grace) < 0)
				bad = "--close-grace";
			break;
		case OPT_PRINT:
			g.print_replies = 1;
			break;
		case OPT_RETRY:
			if (parse_dbl(optarg, 1e7, &g.retry_connect) < 0)
				bad = "--retry-connect";
			break;
		case OPT_PATH:
			if (optarg[0] != '/' || strlen(optarg) > 512 || strpbrk(optarg, " \r\n"))
				bad = "--http-path";
			g.http_path = optarg;
			break;
		case OPT_PIPE:
			if (parse_u64(optarg, MAX_MARKS, &u) < 0 || u == 0)
				bad = "--pipeline";
			g.pipeline = (int)u;
			break;
		case OPT_WSIZE:
			if (parse_u64(optarg, 64u << 20, &u) < 0 || u == 0)
				bad = "--write-size";
			g.write_size = (size_t)u;
			g.write_size_given = 1;
			break;
		case OPT_SNDBUF:
			if (parse_u64(optarg, INT_MAX, &u) < 0)
				bad = "--sndbuf";
			g.sndbuf = (int)u;
			break;
		case OPT_FPUT:
			g.framed_put = 1;
			break;
		case OPT_METRICS:
			if (!*optarg)
				bad = "--metrics";
			g.metrics = optarg;
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
	if (!have_port || !have_points) {
		warnx_("--port and --points are required");
		usage(stderr);
		return -1;
	}
	return 0;
}

/* The prefix of points of one metric name. */
static int set_prefix(int m, const char *name)
{
	if (!*name || strlen(name) > MAX_METRIC) {
		warnx_("a metric name must have 1 to %d bytes", MAX_METRIC);
		return -1;
	}
	if (g.proto == P_JSON || g.proto == P_HTTP) {
		char esc[MAX_METRIC * 6 + 1];
		if (json_escape(esc, sizeof(esc), name) < 0)
			return -1;
		g.prelen[m] = (size_t)snprintf(g.pre[m], sizeof(g.pre[m]),
		                               "{\"metric\":\"%s\",\"timestamp\":", esc);
	} else if (g.proto == P_TELNET || g.framed_put) {
		g.prelen[m] = (size_t)snprintf(g.pre[m], sizeof(g.pre[m]), "put %s ", name);
	} else {
		g.prelen[m] = (size_t)snprintf(g.pre[m], sizeof(g.pre[m]), "%s ", name);
	}
	return 0;
}

/* --metric, or the names of --metrics. */
static int set_prefixes(void)
{
	if (g.metrics == NULL) {
		g.nmetrics = 1;
		return set_prefix(0, g.metric);
	}
	char name[MAX_METRIC + 1];
	const char *p = g.metrics;
	g.nmetrics = 0;
	for (;;) {
		size_t n = strcspn(p, ",");
		if (g.nmetrics == MAX_METRICS || n == 0 || n > MAX_METRIC) {
			warnx_("--metrics: 1 to %d names of 1 to %d bytes, separated by commas",
			       MAX_METRICS, MAX_METRIC);
			return -1;
		}
		memcpy(name, p, n);
		name[n] = '\0';
		if (set_prefix(g.nmetrics++, name) < 0)
			return -1;
		if (p[n] == '\0')
			return 0;
		p += n + 1;
	}
}

/* Prefixes, size bounds and buffers derived from the options. */
static int setup(void)
{
	if (set_prefixes() < 0)
		return -1;
	size_t prelen = 0;
	for (int m = 0; m < g.nmetrics; m++)
		if (g.prelen[m] > prelen)
			prelen = g.prelen[m];
	/* prefix + ts + value(.5) + tags (+ JSON punctuation) + separator */
	g.maxpt = prelen + 20 + 22 + 20 + 20 + 64;
	if (!g.start_ts_given) {
		uint64_t now = (uint64_t)time(NULL);
		uint64_t back = g.points / g.series + 60;
		g.start_ts = now > back ? now - back : 0;
	}
	if (!g.write_size_given && g.nconns > 64) {
		/* keep the buffers of many connections within ~64 MiB */
		size_t ws = (64u << 20) / (size_t)g.nconns;
		g.write_size = ws < 4096 ? 4096 : ws;
	}
	uint64_t batch_bytes = g.batch * g.maxpt + 16;
	if ((g.proto == P_FRAMED || g.proto == P_JSON) && batch_bytes > FRAME_MAX) {
		warnx_("--batch too large: a frame must stay below 16 MiB");
		return -1;
	}
	g.bufcap = g.write_size + (size_t)batch_bytes + 2 * HTTP_HDR_MAX + g.maxpt;
	if (g.proto == P_HTTP) {
		if (strchr(g.host, ':'))
			snprintf(g.host_hdr, sizeof(g.host_hdr), "[%s]:%d", g.host, g.port);
		else
			snprintf(g.host_hdr, sizeof(g.host_hdr), "%s:%d", g.host, g.port);
	}
	g.rate_c = g.rate / g.nconns;
	g.conns = calloc((size_t)g.nconns, sizeof(*g.conns));
	if (!g.conns) {
		warnx_("out of memory");
		return -1;
	}
	for (int i = 0; i < g.nconns; i++) {
		struct conn *c = &g.conns[i];
		c->idx = i;
		c->fd = -1;
		c->total = g.points > (uint64_t)i ? (g.points - (uint64_t)i - 1) / (uint64_t)g.nconns + 1 : 0;
		c->buf = malloc(g.bufcap);
		if (!c->buf) {
			warnx_("out of memory for %d send buffers of %zu bytes", g.nconns, g.bufcap);
			return -1;
		}
	}
	return 0;
}

/* ---------- main loop ---------- */

/* POLLHUP/POLLERR: the connection is gone (reset, or closed both ways). */
static void conn_hup(struct conn *c, short re)
{
	if (c->state == C_CLOSED)
		return;
	int soerr = 0;
	socklen_t sl = sizeof(soerr);
	getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &soerr, &sl);
	if (c->state == C_LINGER) {
		if (g.linger_exit && !soerr)
			c->drained = 1;
		conn_close_graceful(c);
		return;
	}
	if (c->state == C_DRAIN) {
		int q = 0;
		if (!soerr && ioctl(c->fd, SIOCOUTQ, &q) == 0 && q == 0) {
			c->drained = 1;
			conn_close_graceful(c);
			return;
		}
	}
	if (!(re & POLLERR) && !soerr && !(re & POLLHUP))
		return;
	conn_fail(c, c->state == C_DRAIN ? "connection lost before all data was acknowledged"
	                                 : "connection lost", soerr);
}

/* All data handed to the kernel: wait for its acknowledgement, or linger. */
static void conn_finish_sending(struct conn *c, double t)
{
	block_end(c, t);
	if (t > g.t_send_done)
		g.t_send_done = t;
	if (g.linger_exit) {
		shutdown(c->fd, SHUT_WR);
		c->state = C_LINGER;
		c->phase_deadline = t + LINGER_SEC;
		if (c->rd_eof)
			conn_close_graceful(c);
	} else {
		c->state = C_DRAIN;
		c->phase_deadline = t + g.drain_timeout;
		c->last_outq_check = 0;
	}
}

static void conn_drain_check(struct conn *c, double t)
{
	if (t - c->last_outq_check < 0.002)
		return;
	c->last_outq_check = t;
	int q = 0;
	if (ioctl(c->fd, SIOCOUTQ, &q) < 0)
		q = 0;
	if (g.stall_ms > 0 && q > 0 && (uint64_t)q > g.max_outq)
		g.max_outq = (uint64_t)q;
	if (q == 0) {
		/* all acknowledged: FIN, then wait a little for the peer's FIN, so a
		 * late reply cannot meet a closed socket (which would answer RST and
		 * make the peer's kernel drop what its application has not read) */
		c->drained = 1;
		shutdown(c->fd, SHUT_WR);
		c->state = C_LINGER;
		c->phase_deadline = t + g.close_grace;
		if (c->rd_eof)
			conn_close_graceful(c);
	} else if (t >= c->phase_deadline) {
		warnx_("conn %d: %d bytes still unacknowledged after --drain-timeout %.1f s",
		       c->idx, q, g.drain_timeout);
		g.undrained++;
		conn_close_graceful(c);
	}
}

static void print_result(void)
{
	uint64_t sent = 0;
	int drained = 0;
	for (int i = 0; i < g.nconns; i++) {
		sent += g.conns[i].sent;
		drained += g.conns[i].drained;
	}
	double secs = g.t_send_done > g.t_start ? g.t_send_done - g.t_start : 0;
	double rate = secs > 0 ? (double)sent / secs : 0;
	printf("{\"sent\":%" PRIu64 ",\"seconds\":%.3f,\"rate\":%.1f,\"reply_bytes\":%" PRIu64
	       ",\"errors\":%" PRIu64 ",\"max_blocked_ms\":%.1f,\"max_outq\":%" PRIu64
	       ",\"conns\":%d,\"reply_lines\":%" PRIu64 ",\"responses\":%" PRIu64
	       ",\"conn_errors\":%" PRIu64 ",\"drained\":%s}\n",
	       sent, secs, rate, g.reply_bytes, g.errors, g.max_blocked, g.max_outq,
	       g.nconns, g.reply_lines, g.responses, g.conn_errors,
	       drained == g.nconns ? "true" : "false");
	fflush(stdout);
}

static int run(void)
{
	struct pollfd *pfd = calloc((size_t)g.nconns, sizeof(*pfd));
	int *pidx = calloc((size_t)g.nconns, sizeof(*pidx));
	if (!pfd || !pidx) {
		warnx_("out of memory");
		free(pfd);
		free(pidx);
		return EXIT_CONN;
	}
	int rc = 0;
	g.t_start = now_s();
	g.t_send_done = g.t_start;
	double hard_deadline = g.t_prog + g.duration_limit;
	double next_sample = g.t_start;
	for (;;) {
		double t = now_s();
		if (g_stop) {
			warnx_("interrupted");
			rc = EXIT_INTR;
			break;
		}
		if (t >= hard_deadline) {
			warnx_("--duration-limit %.1f s exceeded", g.duration_limit);
			rc = EXIT_DURATION;
			break;
		}
		int busy = 0, draining = 0, open = 0;
		double wake = t + 0.05;
		int sample = g.stall_ms > 0 && t >= next_sample;
		if (sample)
			next_sample = t + 0.01;
		for (int i = 0; i < g.nconns; i++) {
			struct conn *c = &g.conns[i];
			if (c->state == C_SENDING) {
				double tc = now_s();    /* a turn over many connections takes time */
				if (!c->blocked)
					conn_send(c, tc, &busy);
				if (c->state == C_SENDING && conn_sending_done(c))
					conn_finish_sending(c, now_s());
				else if (c->state == C_SENDING && sample)
					sample_outq(c);
			}
			if (c->state == C_DRAIN) {
				conn_drain_check(c, t);
				draining = 1;
			}
			if (c->state == C_LINGER && t >= c->phase_deadline) {
				if (g.linger_exit)
					warnx_("conn %d: peer did not close within %.0f s of our shutdown",
					       c->idx, LINGER_SEC);
				conn_close_graceful(c);
			}
			if (c->state == C_CLOSED)
				continue;
			open++;
			if (c->state == C_LINGER && c->phase_deadline < wake)
				wake = c->phase_deadline;
			if (c->state == C_SENDING && g.rate > 0 && c->off == c->len &&
			    c->generated < c->total &&
			    !(g.proto == P_HTTP && c->outstanding >= g.pipeline)) {
				double tn = g.t_start + (double)(c->generated + next_need(c)) / g.rate_c;
				if (tn < wake)
					wake = tn;
			}
		}
		if (!open)
			break;
		int n = 0;
		for (int i = 0; i < g.nconns; i++) {
			struct conn *c = &g.conns[i];
			if (c->state == C_CLOSED)
				continue;
			short ev = 0;
			if (!c->rd_eof)
				ev |= POLLIN;
			if (c->state == C_SENDING && c->off < c->len)
				ev |= POLLOUT;
			pfd[n].fd = c->fd;
			pfd[n].events = ev;
			pfd[n].revents = 0;
			pidx[n] = i;
			n++;
		}
		double dt = busy ? 0 : wake - t;
		if (draining && dt > 0.002)
			dt = 0.002;
		if (g.stall_ms > 0 && dt > 0.01)
			dt = 0.01;
		if (dt < 0)
			dt = 0;
		struct timespec ts = { (time_t)dt, (long)((dt - floor(dt)) * 1e9) };
		int pr = ppoll(pfd, (nfds_t)n, &ts, NULL);
		if (pr < 0) {
			if (errno == EINTR)
				continue;
			warnx_("poll: %s", strerror(errno));
			rc = EXIT_CONN;
			break;
		}
		if (pr == 0)
			continue;
		for (int k = 0; k < n; k++) {
			struct conn *c = &g.conns[pidx[k]];
			short re = pfd[k].revents;
			if (!re || c->state == C_CLOSED)
				continue;
			if (re & (POLLIN | POLLHUP | POLLERR)) {
				if (conn_read(c) < 0)
					continue;
			}
			if (re & (POLLHUP | POLLERR))
				conn_hup(c, re);
			if (c->state == C_SENDING && (re & POLLOUT)) {
				double tw = now_s();
				conn_send(c, tw, &busy);
				if (c->state == C_SENDING && conn_sending_done(c))
					conn_finish_sending(c, tw);
			}
		}
	}
	double t_end = now_s();
	for (int i = 0; i < g.nconns; i++) {
		struct conn *c = &g.conns[i];
		if (c->state == C_SENDING) {
			block_end(c, t_end);
			if (g.t_send_done < t_end)
				g.t_send_done = t_end;
		}
		if (c->state != C_CLOSED)
			conn_close_graceful(c);
	}
	free(pfd);
	free(pidx);
	if (rc == 0 && g.conn_errors)
		rc = EXIT_CONN;
	if (rc == 0 && g.undrained)
		rc = EXIT_UNDRAINED;
	return rc;
}

int main(int argc, char **argv)
{
	g.t_prog = now_s();
	if (parse_args(argc, argv) < 0)
		return EXIT_USAGE;
	if (setup() < 0)
		return EXIT_USAGE;
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = SIG_IGN;
	sigaction(SIGPIPE, &sa, NULL);
	sa.sa_handler = on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);

	int rc;
	if (connect_all() < 0) {
		rc = g_stop ? EXIT_INTR : EXIT_CONN;
		g.errors++;
		g.conn_errors++;
		g.t_start = g.t_send_done = now_s();
		for (int i = 0; i < g.nconns; i++)
			if (g.conns[i].fd >= 0)
				conn_close_graceful(&g.conns[i]);
	} else {
		rc = run();
	}
	print_result();
	for (int i = 0; i < g.nconns; i++)
		free(g.conns[i].buf);
	free(g.conns);
	return rc;
}
