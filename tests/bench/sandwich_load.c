/*
 * sandwich_load: the load generator of tests/bench/sandwich_bench.py.
 *
 * One thread, epoll, non-blocking sockets to 127.0.0.1 only. It holds
 * --subs WebSocket subscribers on --ws-path (the demo's /ws/orders), then
 * sends POST --path (the demo's /v1/orders, a JWT in Authorization) at a
 * steady open-loop rate: order i is due at start + i / rate whatever the
 * answers to the earlier ones, on an idle keep-alive HTTP/1.1 connection of
 * a pool (--conns opened first, up to --conns-max: one request in flight on
 * each, no pipelining). Every order's item is "sb<i>", which the hub's
 * message carries back, so a WebSocket message is matched to its POST
 * without waiting for the POST's answer. All latencies run from the order's
 * due time (not from when it was written: a late generator or a full pool
 * shows up in them rather than hiding, no coordinated omission), on
 * CLOCK_MONOTONIC:
 *
 *   rest     due -> the POST's complete answer
 *   ws       due -> a subscriber has read the message (every delivery)
 *   ws_last  due -> the last of the --subs subscribers has it (per order)
 *   lag      due -> the POST's first byte written (the generator's own lateness)
 *   lead     the first push's arrival -> the POST's answer, per order (< 0: the
 *            answer came first)
 *
 * It stops by itself: --seconds of sending, then at most --drain seconds
 * for the answers and messages still due. Output: "# ..." progress lines
 * ("# start" when the timed phase begins: the caller samples the server's
 * CPU there) and one "result key=value ..." line on stdout; problems on
 * stderr.
 *
 *   sandwich_load --port P --tokens FILE --rate 1000 --seconds 10 --subs 100
 *                 [--conns 16] [--conns-max 512] [--drain 5]
 *                 [--path /v1/orders] [--ws-path /ws/orders] [--customers 5]
 *                 [--open-timeout 10]
 *
 * --tokens: a file of JWTs, one a line; order i uses line i mod n, subscriber
 * j line j mod n (so a per-consumer rate limit can be met with enough of them).
 *
 * Build: cc -O2 -o sandwich_load sandwich_load.c (sandwich_bench.py does it).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/timerfd.h>
#include <time.h>
#include <unistd.h>

#define WS_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define WS_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
#define MAX_ORDERS 10000000u
#define MAX_DELIVERIES 100000000u
#define MAX_HEAD 65536
#define MAX_MSG (4u << 20)
#define NONE UINT32_MAX

enum kind { K_HTTP, K_WS, K_TIMER };
enum state { S_HANDSHAKE, S_OPEN, S_CLOSED };

struct conn {
	int fd;
	enum kind kind;
	enum state state;
	char *rbuf;
	size_t rlen, rcap;
	char *wbuf;
	size_t wlen, wcap;
	int want_out;
	uint32_t seq;           /* HTTP: the order in flight, NONE when idle */
	char *msg;              /* WS: a fragmented message so far */
	size_t msg_len;
	int in_msg;
};

static struct {
	const char *path, *ws_path, *tokens;
	int port, subs, conns, conns_max, customers;
	double rate, seconds, drain, open_timeout;
} opt = { .open_timeout = 10, .path = "/v1/orders", .ws_path = "/ws/orders", .subs = 1, .conns = 16,
	  .conns_max = 512, .customers = 5, .rate = 200, .seconds = 10, .drain = 5 };

static int ep, tfd;
static char **tok;
static size_t ntok;
static struct conn *http;       /* the pool: conns_max slots */
static int n_http;              /* slots in use (open) */
static struct conn *ws;
static int ws_open, ws_failed;
static struct conn timer = { .kind = K_TIMER };

static uint32_t n_orders, next_order, answered;
static uint64_t t0, period_ns;
static uint32_t *rest_us, *lag_us, *first_us, *last_us, *got;
static uint8_t *st;             /* per order: 0 no answer yet, 1 2xx, 2 another status, 3 lost */
static uint32_t *deliv;         /* every delivery's latency, us */
static uint64_t n_deliv, cap_deliv;
static uint64_t st_2xx, st_429, st_4xx, st_5xx, st_other, conn_errors, ws_closes,
	other_msgs, dup_msgs, unknown_seq;

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("sandwich_load: ", stderr);
	vfprintf(stderr, fmt, ap);
	fputc('\n', stderr);
	va_end(ap);
	exit(1);
}

static uint64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint64_t cpu_us_self(void)
{
	struct rusage ru;
	getrusage(RUSAGE_SELF, &ru);
	return (uint64_t)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000ull +
	       (uint64_t)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec);
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n ? n : 1);
	if (!p)
		die("out of memory");
	return p;
}

static void *xcalloc(size_t n, size_t s)
{
	void *p = calloc(n ? n : 1, s);
	if (!p)
		die("out of memory");
	return p;
}

static uint64_t due(uint32_t i) { return t0 + (uint64_t)i * period_ns; }

static uint32_t us_since(uint64_t then, uint64_t now)
{
	uint64_t d = now > then ? (now - then) / 1000 : 0;
	return d >= NONE ? NONE - 1 : (uint32_t)d;
}

static void watch(struct conn *c, int op, int out)
{
	struct epoll_event ev = { .events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c };
	if (epoll_ctl(ep, op, c->fd, &ev) != 0)
		die("epoll_ctl: %s", strerror(errno));
	c->want_out = out;
}

static void conn_free(struct conn *c)
{
	if (c->state == S_CLOSED)
		return;
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->rbuf);
	free(c->wbuf);
	free(c->msg);
	c->rbuf = c->wbuf = c->msg = NULL;
	c->rlen = c->rcap = c->wlen = c->wcap = c->msg_len = 0;
	c->in_msg = 0;
	c->state = S_CLOSED;
}

static void conn_close(struct conn *c)
{
	if (c->state == S_CLOSED)
		return;
	if (c->kind == K_HTTP) {
		if (c->seq != NONE) {   /* the order in flight is lost */
			conn_errors++;
			rest_us[c->seq] = NONE - 1;
			st[c->seq] = 3;
			answered++;
			c->seq = NONE;
		}
		n_http--;
	} else if (c->state == S_OPEN) {
		ws_open--;
		ws_closes++;
	} else {
		ws_failed++;
	}
	conn_free(c);
}

static void flush_out(struct conn *c)
{
	size_t off = 0;
	while (off < c->wlen) {
		ssize_t n = write(c->fd, c->wbuf + off, c->wlen - off);
		if (n > 0)
			off += (size_t)n;
		else if (n < 0 && errno == EINTR)
			continue;
		else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		else {
			conn_errors++;
			conn_close(c);
			return;
		}
	}
	memmove(c->wbuf, c->wbuf + off, c->wlen - off);
	c->wlen -= off;
	if ((c->wlen > 0) != c->want_out)
		watch(c, EPOLL_CTL_MOD, c->wlen > 0);
}

static void queue_out(struct conn *c, const void *data, size_t len)
{
	if (c->wlen + len > c->wcap) {
		c->wcap = (c->wlen + len) * 2;
		c->wbuf = xrealloc(c->wbuf, c->wcap);
	}
	memcpy(c->wbuf + c->wlen, data, len);
	c->wlen += len;
	flush_out(c);
}

static int connect_to(void)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port) };
	int one = 1;
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket: %s", strerror(errno));
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	/* a blocking connect: on loopback it is done at once */
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0) {
		int e = errno;
		close(fd);
		errno = e;
		return -1;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return fd;
}

/* An idle HTTP connection, opening one when the pool has room; NULL when
 * every one of --conns-max has an order in flight. */
static struct conn *idle_http(void)
{
	struct conn *free_slot = NULL;
	for (int i = 0; i < opt.conns_max; i++) {
		struct conn *c = &http[i];
		if (c->state == S_OPEN && c->seq == NONE && c->wlen == 0)
			return c;
		if (c->state == S_CLOSED && !free_slot)
			free_slot = c;
	}
	if (!free_slot)
		return NULL;
	int fd = connect_to();
	if (fd < 0) {
		conn_errors++;
		return NULL;
	}
	memset(free_slot, 0, sizeof *free_slot);
	free_slot->fd = fd;
	free_slot->kind = K_HTTP;
	free_slot->state = S_OPEN;
	free_slot->seq = NONE;
	watch(free_slot, EPOLL_CTL_ADD, 0);
	n_http++;
	return free_slot;
}

static void send_order(struct conn *c, uint32_t i, uint64_t now)
{
	char body[160], req[4096];
	int bl = snprintf(body, sizeof body, "{\"item\":\"sb%u\",\"quantity\":1,\"customer_id\":%u}",
			  i, 1 + i % (uint32_t)opt.customers);
	int rl = snprintf(req, sizeof req,
			  "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
			  "Authorization: Bearer %s\r\nContent-Type: application/json\r\n"
			  "Content-Length: %d\r\n\r\n%s",
			  opt.path, opt.port, tok[i % ntok], bl, body);
	if (rl <= 0 || (size_t)rl >= sizeof req)
		die("request too long (token?)");
	c->seq = i;
	lag_us[i] = us_since(due(i), now);
	queue_out(c, req, (size_t)rl);
}

/* "name:" at the start of a header line in HEAD (len bytes): its value. */
static const char *header(const char *head, size_t len, const char *name, size_t *vlen)
{
	size_t nl = strlen(name);
	const char *p = memchr(head, '\n', len), *end = head + len;
	while (p && p + 1 < end) {
		const char *line = p + 1, *eol = memchr(line, '\n', (size_t)(end - line));
		if (!eol)
			break;
		if ((size_t)(eol - line) > nl && line[nl] == ':' && strncasecmp(line, name, nl) == 0) {
			const char *v = line + nl + 1;
			while (v < eol && (*v == ' ' || *v == '\t'))
				v++;
			const char *ve = eol;
			while (ve > v && (ve[-1] == '\r' || ve[-1] == ' '))
				ve--;
			*vlen = (size_t)(ve - v);
			return v;
		}
		p = eol;
	}
	return NULL;
}

/* The length of a complete chunked body at P (n bytes), 0 when incomplete,
 * -1 when malformed. */
static long chunked_len(const char *p, size_t n)
{
	size_t off = 0;
	for (;;) {
		const char *eol = memmem(p + off, n - off, "\r\n", 2);
		if (!eol)
			return 0;
		char *endp;
		unsigned long sz = strtoul(p + off, &endp, 16);
		if (endp == p + off)
			return -1;
		off = (size_t)(eol - p) + 2;
		if (sz == 0) {          /* trailers until an empty line */
			for (;;) {
				const char *e2 = memmem(p + off, n - off, "\r\n", 2);
				if (!e2)
					return 0;
				size_t l = (size_t)(e2 - (p + off));
				off += l + 2;
				if (l == 0)
					return (long)off;
			}
		}
		if (off + sz + 2 > n)
			return 0;
		off += sz + 2;
	}
}

static void http_readable(struct conn *c, uint64_t now)
{
	for (;;) {
		if (c->rcap - c->rlen < 16384) {
			c->rcap = c->rcap ? c->rcap * 2 : 32768;
			c->rbuf = xrealloc(c->rbuf, c->rcap);
		}
		ssize_t n = read(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen);
		if (n > 0) {
			c->rlen += (size_t)n;
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		conn_close(c);          /* closed by the server, or an error */
		return;
	}
	while (c->rlen > 0) {
		char *he = memmem(c->rbuf, c->rlen, "\r\n\r\n", 4);
		if (!he) {
			if (c->rlen > MAX_HEAD) {
				fprintf(stderr, "sandwich_load: an answer's head past %d bytes\n", MAX_HEAD);
				conn_close(c);
			}
			return;
		}
		size_t hl = (size_t)(he - c->rbuf) + 4, vl;
		int status = c->rlen > 12 ? atoi(c->rbuf + 9) : 0;
		const char *v;
		long bl;
		int close_after = 0;
		if ((v = header(c->rbuf, hl, "transfer-encoding", &vl)) && vl >= 7 &&
		    strncasecmp(v + vl - 7, "chunked", 7) == 0) {
			bl = chunked_len(c->rbuf + hl, c->rlen - hl);
			if (bl < 0) {
				conn_close(c);
				return;
			}
			if (bl == 0)
				return;
		} else if ((v = header(c->rbuf, hl, "content-length", &vl))) {
			bl = strtol(v, NULL, 10);
			if (bl < 0 || bl > (long)MAX_MSG) {
				fprintf(stderr, "sandwich_load: an answer's content-length: %.*s\n",
					(int)(vl > 40 ? 40 : vl), v);
				conn_close(c);
				return;
			}
			if (hl + (size_t)bl > c->rlen)
				return;
		} else {
			bl = 0;
		}
		if ((v = header(c->rbuf, hl, "connection", &vl)) && vl == 5 && strncasecmp(v, "close", 5) == 0)
			close_after = 1;
		if (c->seq == NONE) {
			fprintf(stderr, "sandwich_load: an answer with no request\n");
			conn_close(c);
			return;
		}
		rest_us[c->seq] = us_since(due(c->seq), now);
		if (status < 200 || status >= 300) {
			static int shown;
			if (shown++ < 3)        /* a few for the reader: why */
				fprintf(stderr, "sandwich_load: order %u: %.*s\n", c->seq,
					(int)(hl + (size_t)bl > 600 ? 600 : hl + (size_t)bl), c->rbuf);
		}
		st[c->seq] = status >= 200 && status < 300 ? 1 : 2;
		answered++;
		c->seq = NONE;
		if (status >= 200 && status < 300)
			st_2xx++;
		else if (status == 429)
			st_429++;
		else if (status >= 400 && status < 500)
			st_4xx++;
		else if (status >= 500)
			st_5xx++;
		else
			st_other++;
		size_t used = hl + (size_t)bl;
		memmove(c->rbuf, c->rbuf + used, c->rlen - used);
		c->rlen -= used;
		if (close_after) {
			conn_free(c);
			n_http--;
			return;
		}
	}
}

static void ws_message(const char *p, size_t n, uint64_t now)
{
	const char *k = memmem(p, n, "\"item\":\"sb", 10);
	if (!k) {
		other_msgs++;
		return;
	}
	k += 10;
	uint64_t seq = 0;
	int digits = 0;
	while (k < p + n && *k >= '0' && *k <= '9' && digits < 12) {
		seq = seq * 10 + (uint64_t)(*k++ - '0');
		digits++;
	}
	if (!digits || seq >= n_orders || seq >= next_order) {
		unknown_seq++;
		return;
	}
	if (got[seq] >= (uint32_t)opt.subs) {
		dup_msgs++;
		return;
	}
	uint32_t l = us_since(due((uint32_t)seq), now);
	if (got[seq]++ == 0)
		first_us[seq] = l;
	last_us[seq] = l;
	if (n_deliv < cap_deliv)
		deliv[n_deliv++] = l;
}

static void ws_pong(struct conn *c, const char *p, size_t n)
{
	char f[2 + 4 + 125];
	if (n > 125)
		n = 125;
	f[0] = (char)0x8A;
	f[1] = (char)(0x80 | n);
	memset(f + 2, 0, 4);    /* a zero mask: the payload goes as is */
	memcpy(f + 6, p, n);
	queue_out(c, f, 6 + n);
}

static void ws_readable(struct conn *c, uint64_t now)
{
	for (;;) {
		if (c->rcap - c->rlen < 16384) {
			c->rcap = c->rcap ? c->rcap * 2 : 32768;
			c->rbuf = xrealloc(c->rbuf, c->rcap);
		}
		ssize_t n = read(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen);
		if (n > 0) {
			c->rlen += (size_t)n;
			if (c->rlen > MAX_MSG + 64) {
				fprintf(stderr, "sandwich_load: a WebSocket message past %u bytes\n", MAX_MSG);
				conn_close(c);
				return;
			}
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		conn_close(c);
		return;
	}
	size_t off = 0;
	if (c->state == S_HANDSHAKE) {
		char *he = memmem(c->rbuf, c->rlen, "\r\n\r\n", 4);
		if (!he)
			return;
		size_t vl;
		const char *acc = header(c->rbuf, (size_t)(he - c->rbuf) + 4, "sec-websocket-accept", &vl);
		if (strncmp(c->rbuf, "HTTP/1.1 101", 12) != 0 || !acc || vl != strlen(WS_ACCEPT) ||
		    memcmp(acc, WS_ACCEPT, vl) != 0) {
			fprintf(stderr, "sandwich_load: the WebSocket upgrade was refused: %.*s\n",
				(int)(strchr(c->rbuf, '\r') ? strchr(c->rbuf, '\r') - c->rbuf : 40), c->rbuf);
			conn_close(c);
			return;
		}
		c->state = S_OPEN;
		ws_open++;
		off = (size_t)(he - c->rbuf) + 4;
	}
	while (c->rlen - off >= 2) {
		const unsigned char *h = (const unsigned char *)c->rbuf + off;
		size_t avail = c->rlen - off, hl = 2;
		uint64_t len = h[1] & 0x7f;
		int fin = h[0] & 0x80, op = h[0] & 0x0f;
		if (h[1] & 0x80) {      /* a masked frame from a server */
			conn_close(c);
			return;
		}
		if (len == 126) {
			if (avail < 4)
				break;
			len = ((uint64_t)h[2] << 8) | h[3];
			hl = 4;
		} else if (len == 127) {
			if (avail < 10)
				break;
			len = 0;
			for (int i = 0; i < 8; i++)
				len = (len << 8) | h[2 + i];
			hl = 10;
		}
		if (len > MAX_MSG) {
			conn_close(c);
			return;
		}
		if (avail < hl + len)
			break;
		const char *pl = (const char *)h + hl;
		if (op == 0x9) {
			ws_pong(c, pl, (size_t)len);
		} else if (op == 0x8) {
			conn_close(c);
			return;
		} else if (op == 0x1 || op == 0x2 || op == 0x0) {
			if (op != 0 && fin && !c->in_msg) {
				ws_message(pl, (size_t)len, now);
			} else {        /* fragments: gather them */
				if (c->msg_len + len > MAX_MSG) {
					conn_close(c);
					return;
				}
				c->msg = xrealloc(c->msg, c->msg_len + len);
				memcpy(c->msg + c->msg_len, pl, (size_t)len);
				c->msg_len += len;
				c->in_msg = 1;
				if (fin) {
					ws_message(c->msg, c->msg_len, now);
					c->msg_len = 0;
					c->in_msg = 0;
				}
			}
		}
		off += hl + len;
	}
	memmove(c->rbuf, c->rbuf + off, c->rlen - off);
	c->rlen -= off;
}

static void open_subscribers(void)
{
	ws = xcalloc((size_t)opt.subs, sizeof *ws);
	for (int i = 0; i < opt.subs; i++) {
		struct conn *c = &ws[i];
		char req[4096];
		c->fd = connect_to();
		if (c->fd < 0)
			die("connect 127.0.0.1:%d: %s", opt.port, strerror(errno));
		c->kind = K_WS;
		c->state = S_HANDSHAKE;
		watch(c, EPOLL_CTL_ADD, 0);
		int n = snprintf(req, sizeof req,
				 "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\nUpgrade: websocket\r\n"
				 "Connection: Upgrade\r\nSec-WebSocket-Key: " WS_KEY "\r\n"
				 "Sec-WebSocket-Version: 13\r\nAuthorization: Bearer %s\r\n\r\n",
				 opt.ws_path, opt.port, tok[(size_t)i % ntok]);
		queue_out(c, req, (size_t)n);
	}
	uint64_t end = now_ns() + (uint64_t)(opt.open_timeout * 1e9);
	struct epoll_event evs[256];
	while (ws_open + ws_failed < opt.subs && now_ns() < end) {
		int n = epoll_wait(ep, evs, 256, 100);
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (evs[i].events & EPOLLOUT)
				flush_out(c);
			if (c->state != S_CLOSED && (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
				ws_readable(c, now_ns());
		}
	}
	if (ws_open < opt.subs)
		die("%d of %d WebSocket subscribers opened", ws_open, opt.subs);
}

static void arm_timer(uint64_t at)
{
	struct itimerspec its = { 0 };
	its.it_value.tv_sec = (time_t)(at / 1000000000ull);
	its.it_value.tv_nsec = (long)(at % 1000000000ull);
	if (its.it_value.tv_sec == 0 && its.it_value.tv_nsec == 0)
		its.it_value.tv_nsec = 1;
	timerfd_settime(tfd, TFD_TIMER_ABSTIME, &its, NULL);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* p50 p99 p999 max of the N values in V (sorted here), in ms */
static void pcts(const char *name, uint32_t *v, size_t n)
{
	if (n == 0) {
		printf(" %s_n=0 %s_p50=nan %s_p99=nan %s_p999=nan %s_max=nan", name, name, name, name, name);
		return;
	}
	qsort(v, n, sizeof *v, cmp_u32);
	double q[3] = { 0.5, 0.99, 0.999 };
	const char *qn[3] = { "p50", "p99", "p999" };
	printf(" %s_n=%zu", name, n);
	for (int i = 0; i < 3; i++) {
		size_t k = (size_t)(q[i] * (double)n);
		if (k >= n)
			k = n - 1;
		printf(" %s_%s=%.3f", name, qn[i], v[k] / 1000.0);
	}
	printf(" %s_max=%.3f", name, v[n - 1] / 1000.0);
}

static int cmp_i64(const void *a, const void *b)
{
	int64_t x = *(const int64_t *)a, y = *(const int64_t *)b;
	return x < y ? -1 : x > y;
}

/* p50 p99 of the N signed values in V (us), in ms */
static void pcts_signed(const char *name, int64_t *v, size_t n)
{
	if (n == 0) {
		printf(" %s_n=0 %s_p1=nan %s_p50=nan %s_p99=nan", name, name, name, name);
		return;
	}
	qsort(v, n, sizeof *v, cmp_i64);
	size_t k1 = (size_t)(0.01 * (double)n), k50 = n / 2, k99 = (size_t)(0.99 * (double)n);
	if (k99 >= n)
		k99 = n - 1;
	printf(" %s_n=%zu %s_p1=%.3f %s_p50=%.3f %s_p99=%.3f", name, n, name, v[k1] / 1000.0,
	       name, v[k50] / 1000.0, name, v[k99] / 1000.0);
}

static void usage(void)
{
	die("usage: sandwich_load --port P --tokens FILE [--rate R] [--seconds S] [--subs N] "
	    "[--conns C] [--conns-max M] [--drain S] [--path P] [--ws-path P] [--customers K]");
}

/* ---- crm mode: a stand-in for scripts/demo-crm that costs next to nothing ----
 *
 * sandwich_load crm --port P [--seconds S]
 *
 * Answers every POST with a SOAP 1.1 envelope: GetCustomer's answer for
 * customers 1 to 5 (the same fields and values as scripts/demo-crm), the
 * CustomerNotFound fault for any other <customerId>. Keep-alive HTTP/1.1,
 * one epoll thread. It leaves when its stdin closes (the bench ends) or
 * after --seconds (default 3600). With it, the sandwich's rate is set by
 * Portico, not by a Python server's GIL. */
#define SOAP_HEAD "<?xml version=\"1.0\" encoding=\"utf-8\"?>\n<soap:Envelope " \
	"xmlns:soap=\"http://schemas.xmlsoap.org/soap/envelope/\" xmlns:c=\"urn:example:crm\">" \
	"<soap:Body>"
#define SOAP_TAIL "</soap:Body></soap:Envelope>"

static const char *const crm_names[5] = { "Ada Lovelace", "Charles Babbage", "Grace Hopper",
					   "Alan Turing", "Edsger Dijkstra" };
static const char *const crm_mails[5] = { "ada", "charles", "grace", "alan", "edsger" };
static const char *const crm_tiers[5] = { "GOLD", "SILVER", "BRONZE", "SILVER", "BRONZE" };

static void crm_answer(struct conn *c, const char *body, size_t n)
{
	char env[2048], out[2600];
	const char *k = memmem(body, n, "customerId>", 11);
	long id = k ? strtol(k + 11, NULL, 10) : 0;
	int status = 200, el;
	if (id >= 1 && id <= 5)
		el = snprintf(env, sizeof env, SOAP_HEAD "<c:GetCustomerResponse><c:customer>"
			      "<c:id>%ld</c:id><c:name>%s</c:name><c:email>%s@example.com</c:email>"
			      "<c:tier>%s</c:tier></c:customer></c:GetCustomerResponse>" SOAP_TAIL,
			      id, crm_names[id - 1], crm_mails[id - 1], crm_tiers[id - 1]);
	else {
		status = 500;
		el = snprintf(env, sizeof env, SOAP_HEAD "<soap:Fault><faultcode>soap:Client</faultcode>"
			      "<faultstring>customer %ld does not exist</faultstring><detail>"
			      "<c:CustomerNotFound><c:customerId>%ld</c:customerId></c:CustomerNotFound>"
			      "</detail></soap:Fault>" SOAP_TAIL, id, id);
	}
	int ol = snprintf(out, sizeof out, "HTTP/1.1 %s\r\ncontent-type: text/xml; charset=utf-8\r\n"
			  "content-length: %d\r\n\r\n%s",
			  status == 200 ? "200 OK" : "500 Internal Server Error", el, env);
	queue_out(c, out, (size_t)ol);
}

static void crm_readable(struct conn *c)
{
	for (;;) {
		if (c->rcap - c->rlen < 16384) {
			c->rcap = c->rcap ? c->rcap * 2 : 32768;
			c->rbuf = xrealloc(c->rbuf, c->rcap);
		}
		ssize_t n = read(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen);
		if (n > 0) {
			c->rlen += (size_t)n;
			if (c->rlen > 1u << 20) {
				conn_free(c);
				return;
			}
			continue;
		}
		if (n < 0 && errno == EINTR)
			continue;
		if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
			break;
		conn_free(c);
		return;
	}
	size_t off = 0;
	for (;;) {
		char *he = memmem(c->rbuf + off, c->rlen - off, "\r\n\r\n", 4);
		if (!he)
			break;
		size_t hl = (size_t)(he - (c->rbuf + off)) + 4, vl;
		const char *v = header(c->rbuf + off, hl, "content-length", &vl);
		size_t bl = v ? (size_t)strtoul(v, NULL, 10) : 0;
		if (bl > 1u << 20) {
			conn_free(c);
			return;
		}
		if (off + hl + bl > c->rlen)
			break;
		crm_answer(c, c->rbuf + off + hl, bl);
		if (c->state == S_CLOSED)
			return;
		off += hl + bl;
	}
	memmove(c->rbuf, c->rbuf + off, c->rlen - off);
	c->rlen -= off;
}

static int crm_main(int argc, char **argv)
{
	int port = 0, one = 1;
	double seconds = 3600;
	for (int i = 2; i + 1 < argc; i += 2) {
		if (!strcmp(argv[i], "--port")) port = atoi(argv[i + 1]);
		else if (!strcmp(argv[i], "--seconds")) seconds = atof(argv[i + 1]);
		else die("usage: sandwich_load crm --port P [--seconds S]");
	}
	if (port <= 0 || port > 65535 || seconds <= 0)
		die("usage: sandwich_load crm --port P [--seconds S]");
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int lfd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK, 0);
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
	if (lfd < 0 || bind(lfd, (struct sockaddr *)&sa, sizeof sa) != 0 || listen(lfd, 1024) != 0)
		die("crm: listen 127.0.0.1:%d: %s", port, strerror(errno));
	ep = epoll_create1(EPOLL_CLOEXEC);
	struct conn lc = { .fd = lfd, .kind = K_TIMER }, in = { .fd = 0, .kind = K_WS };
	watch(&lc, EPOLL_CTL_ADD, 0);
	int have_stdin = epoll_ctl(ep, EPOLL_CTL_ADD, 0,
				   &(struct epoll_event){ .events = EPOLLIN, .data.ptr = &in }) == 0;
	printf("# crm listening on %d\n", port);
	fflush(stdout);
	uint64_t end = now_ns() + (uint64_t)(seconds * 1e9);
	struct epoll_event evs[256];
	while (now_ns() < end) {
		int n = epoll_wait(ep, evs, 256, 1000);
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (c == &lc) {
				int fd;
				while ((fd = accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC)) >= 0) {
					struct conn *nc = xcalloc(1, sizeof *nc);
					nc->fd = fd;
					nc->kind = K_HTTP;
					nc->state = S_OPEN;
					nc->seq = NONE;
					setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
					watch(nc, EPOLL_CTL_ADD, 0);
				}
				continue;
			}
			if (c == &in) {
				char b[256];
				if (read(0, b, sizeof b) <= 0)
					return 0;       /* the bench is gone */
				continue;
			}
			if (evs[i].events & EPOLLOUT)
				flush_out(c);
			if (c->state != S_CLOSED && (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)))
				crm_readable(c);
			/* a closed connection's struct is kept: a later event in
			 * this batch may still name it (a few bytes per connection) */
		}
		(void)have_stdin;
	}
	return 0;
}

int main(int argc, char **argv)
{
	if (argc > 1 && !strcmp(argv[1], "crm"))
		return crm_main(argc, argv);
	for (int i = 1; i < argc; i++) {
		const char *a = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
		if (!v)
			usage();
		i++;
		if (!strcmp(a, "--port")) opt.port = atoi(v);
		else if (!strcmp(a, "--tokens")) opt.tokens = v;
		else if (!strcmp(a, "--rate")) opt.rate = atof(v);
		else if (!strcmp(a, "--seconds")) opt.seconds = atof(v);
		else if (!strcmp(a, "--subs")) opt.subs = atoi(v);
		else if (!strcmp(a, "--conns")) opt.conns = atoi(v);
		else if (!strcmp(a, "--conns-max")) opt.conns_max = atoi(v);
		else if (!strcmp(a, "--drain")) opt.drain = atof(v);
		else if (!strcmp(a, "--path")) opt.path = v;
		else if (!strcmp(a, "--ws-path")) opt.ws_path = v;
		else if (!strcmp(a, "--customers")) opt.customers = atoi(v);
		else if (!strcmp(a, "--open-timeout")) opt.open_timeout = atof(v);
		else usage();
	}
	if (opt.port <= 0 || opt.port > 65535 || !opt.tokens || opt.rate <= 0 || opt.rate > 1e6 ||
	    opt.seconds <= 0 || opt.seconds > 3600 || opt.subs < 0 || opt.subs > 100000 ||
	    opt.conns < 1 || opt.conns_max < opt.conns || opt.conns_max > 60000 ||
	    opt.drain < 0 || opt.drain > 600 || opt.open_timeout <= 0 || opt.open_timeout > 600 || opt.customers < 1)
		usage();

	FILE *tf = fopen(opt.tokens, "r");
	if (!tf)
		die("%s: %s", opt.tokens, strerror(errno));
	char line[2048];
	while (fgets(line, sizeof line, tf)) {
		line[strcspn(line, "\r\n")] = 0;
		if (!*line)
			continue;
		tok = xrealloc(tok, (ntok + 1) * sizeof *tok);
		tok[ntok++] = strdup(line);
	}
	fclose(tf);
	if (!ntok)
		die("%s: no tokens", opt.tokens);

	double no = opt.rate * opt.seconds;
	if (no < 1 || no > MAX_ORDERS)
		die("rate x seconds: %.0f orders (1 to %u)", no, MAX_ORDERS);
	n_orders = (uint32_t)no;
	period_ns = (uint64_t)(1e9 / opt.rate);
	rest_us = xcalloc(n_orders, sizeof *rest_us);
	lag_us = xcalloc(n_orders, sizeof *lag_us);
	first_us = xcalloc(n_orders, sizeof *first_us);
	last_us = xcalloc(n_orders, sizeof *last_us);
	got = xcalloc(n_orders, sizeof *got);
	st = xcalloc(n_orders, sizeof *st);
	for (uint32_t i = 0; i < n_orders; i++)
		rest_us[i] = NONE;
	cap_deliv = (uint64_t)n_orders * (uint64_t)opt.subs;
	if (cap_deliv > MAX_DELIVERIES)
		cap_deliv = MAX_DELIVERIES;
	deliv = xcalloc((size_t)cap_deliv, sizeof *deliv);

	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	ep = epoll_create1(EPOLL_CLOEXEC);
	tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
	if (ep < 0 || tfd < 0)
		die("epoll/timerfd: %s", strerror(errno));
	timer.fd = tfd;
	watch(&timer, EPOLL_CTL_ADD, 0);

	http = xcalloc((size_t)opt.conns_max, sizeof *http);
	for (int i = 0; i < opt.conns_max; i++)
		http[i].state = S_CLOSED;
	open_subscribers();
	for (int i = 0; i < opt.conns; i++)
		if (!idle_http())
			die("connect 127.0.0.1:%d: %s", opt.port, strerror(errno));

	printf("# start orders=%u subs=%d\n", n_orders, opt.subs);
	fflush(stdout);
	uint64_t cpu0 = cpu_us_self();
	t0 = now_ns() + 1000000;
	uint64_t send_end = due(n_orders), deadline = send_end + (uint64_t)(opt.drain * 1e9);
	uint64_t full_waits = 0, max_inflight = 0;
	struct epoll_event evs[512];
	for (;;) {
		uint64_t now = now_ns();
		while (next_order < n_orders && due(next_order) <= now) {
			struct conn *c = idle_http();
			if (!c) {
				full_waits++;
				break;
			}
			send_order(c, next_order++, now);
		}
		if ((uint64_t)(next_order - answered) > max_inflight)
			max_inflight = next_order - answered;
		int all_in = next_order == n_orders && answered == n_orders;
		if (all_in && opt.subs > 0) {
			/* every order answered 2xx must reach every subscriber */
			static uint32_t checked;
			while (checked < n_orders &&
			       (got[checked] >= (uint32_t)opt.subs || st[checked] >= 2))
				checked++;
			all_in = checked == n_orders;
		}
		if (all_in || now >= deadline)
			break;
		arm_timer(next_order < n_orders ? due(next_order) : deadline);
		int n = epoll_wait(ep, evs, 512, -1);
		if (n < 0 && errno != EINTR)
			die("epoll_wait: %s", strerror(errno));
		now = now_ns();
		for (int i = 0; i < n; i++) {
			struct conn *c = evs[i].data.ptr;
			if (c->kind == K_TIMER) {
				uint64_t x;
				while (read(tfd, &x, sizeof x) > 0)
					;
				continue;
			}
			if (c->state == S_CLOSED)
				continue;
			if (evs[i].events & EPOLLOUT)
				flush_out(c);
			if (c->state == S_CLOSED)
				continue;
			if (evs[i].events & (EPOLLIN | EPOLLERR | EPOLLHUP)) {
				if (c->kind == K_HTTP)
					http_readable(c, now);
				else
					ws_readable(c, now);
			}
		}
	}
	uint64_t t_end = now_ns();
	uint64_t cpu = cpu_us_self() - cpu0;
	double wall = (double)(t_end - t0) / 1e9;
	double send_wall = (double)(send_end - t0) / 1e9;

	/* the answers: only those that came (a lost one counts in errors) */
	uint32_t *r = xcalloc(n_orders, sizeof *r), *lg = xcalloc(n_orders, sizeof *lg),
		 *wl = xcalloc(n_orders, sizeof *wl), *wf = xcalloc(n_orders, sizeof *wf);
	int64_t *lead = xcalloc(n_orders, sizeof *lead);
	size_t nr = 0, nl = 0, nwl = 0, nwf = 0, nlead = 0;
	uint64_t unanswered = 0, missing = 0;
	for (uint32_t i = 0; i < next_order; i++) {
		lg[nl++] = lag_us[i];
		if (rest_us[i] == NONE)
			unanswered++;
		else if (rest_us[i] != NONE - 1)
			r[nr++] = rest_us[i];
		if (got[i] > 0)
			wf[nwf++] = first_us[i];
		/* how long before the 201 the first push came (< 0: after it) */
		if (got[i] > 0 && st[i] == 1)
			lead[nlead++] = (int64_t)rest_us[i] - (int64_t)first_us[i];
		if (opt.subs > 0 && got[i] >= (uint32_t)opt.subs)
			wl[nwl++] = last_us[i];
		if (st[i] == 1) /* answered 201, so published: its message is due
				 * (orders still unanswered at the end count in
				 * unanswered, not here) */
			missing += (uint64_t)opt.subs -
				   (got[i] < (uint32_t)opt.subs ? got[i] : (uint32_t)opt.subs);
	}
	printf("result orders=%u sent=%u rate=%.1f subs=%d wall=%.3f s2xx=%lu s429=%lu s4xx=%lu "
	       "s5xx=%lu sother=%lu conn_errors=%lu unanswered=%lu delivered=%lu missing=%lu "
	       "ws_closes=%lu other_msgs=%lu dup_msgs=%lu unknown=%lu conns=%d max_inflight=%lu "
	       "pool_full=%lu gen_cpu_us=%lu gen_cpu_pct=%.1f",
	       n_orders, next_order, next_order / send_wall, opt.subs, wall, st_2xx, st_429, st_4xx,
	       st_5xx, st_other, conn_errors, unanswered, n_deliv, missing, ws_closes, other_msgs,
	       dup_msgs, unknown_seq, n_http, max_inflight, full_waits, cpu,
	       100.0 * (double)cpu / 1e6 / wall);
	pcts("rest", r, nr);
	pcts("ws", deliv, (size_t)n_deliv);
	pcts("wsfirst", wf, nwf);
	pcts("wslast", wl, nwl);
	pcts("lag", lg, nl);
	pcts_signed("lead", lead, nlead);
	printf("\n");
	fflush(stdout);
	return 0;
}
