/*
 * ws_load: the WebSocket load generator of tests/bench/ws_bench.py.
 *
 * One thread, epoll, non-blocking sockets to 127.0.0.1 only. It does the
 * HTTP upgrade itself (no permessage-deflate offered), sends masked frames
 * and parses the server's, so that one core drives far more messages than a
 * Python or Node client would, and the server under test stays the
 * bottleneck. Every mode stops by itself: after --seconds, after --count
 * publishes, or when its stdin closes (idle).
 *
 *   ws_load echo   --port P --path /ws/echo  --conns 100 --seconds 5 [--size 64] [--depth 1]
 *   ws_load idle   --port P --path /ws/echo  --conns 10000 --seconds 60
 *   ws_load fanout --port P --path /ws/bench --conns 10000 --count 50 [--gap-ms 20]
 *                  [--seconds 5 [--window 4]]   then a flood on the same connections
 *   ws_load flood  --port P --path /ws/bench --conns 10000 --seconds 5 [--window 4]
 *
 * fanout and flood publish with "POST --publish (default /publish)" on a
 * keep-alive HTTP connection; the body (--size bytes) starts with the
 * publish's sequence number, which each WebSocket connection reads back.
 * Results are one line "result MODE key=value ...", progress lines start
 * with "#" ("# start" when a timed phase begins: the caller samples the
 * server's CPU there), both on stdout; problems go to stderr.
 *
 * Build: cc -O2 -o ws_load ws_load.c (ws_bench.py does it in a temp dir).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <signal.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

/* RFC 6455's own example key and its accept value: every connection sends
 * the same key, so the answer is checked without a SHA-1 here. */
#define WS_KEY "dGhlIHNhbXBsZSBub25jZQ=="
#define WS_ACCEPT "s3pPLMBiTxaQ9kYGzzhZRbK+xOo="
#define DEPTH_MAX 64
#define PENDING_MAX 256         /* connects + handshakes in flight at once */
#define PUBLISH_TIMEOUT_NS (5 * 1000000000ull)

enum state { S_CONNECTING, S_HANDSHAKE, S_OPEN, S_CLOSED };
enum kind { K_WS, K_HTTP, K_STDIN };

struct conn {
	int fd;
	enum kind kind;
	enum state state;
	char *rbuf;
	size_t rlen, rcap;
	char *wbuf;
	size_t wlen, wcap;
	int want_out;
	/* echo: send times of the messages in flight, a ring */
	uint64_t sent_at[DEPTH_MAX];
	unsigned head, inflight;
	/* a message split in fragments: its first bytes and length so far */
	uint64_t frag_seq;
	size_t frag_len;
	int in_frag;
	uint64_t received;
	uint64_t rx_ns;         /* fanout: when the kernel got the bytes last read */
};

static struct {
	const char *mode, *path, *publish;
	int port, conns, size, depth, count, gap_ms, window;
	double seconds;
} opt = { .path = "/ws/echo", .publish = "/publish", .port = 0, .conns = 100,
	  .size = 64, .depth = 1, .count = 20, .gap_ms = 20, .window = 4,
	  .seconds = 5 };

static int ep;
static struct conn *conns;
static struct conn http, in;
static int n_open, n_pending, n_started, n_failed, stdin_eof, rx_stamps;
static uint64_t errors, closes;
static char *payload;           /* the echo message: --size bytes */
static uint32_t rng = 2463534242u;

/* echo */
static uint32_t *lat;           /* microseconds per round trip */
static size_t n_lat, cap_lat;
static int sending = 1;

/* fanout / flood: per publish, how many connections have it, and when */
static uint32_t *got;
static uint64_t *pub_at, *first_at, *last_at, *read_at;     /* CLOCK_REALTIME */
static size_t pub_cap;
static uint64_t next_seq = 1, done_seq = 1;     /* [done_seq, next_seq) outstanding */
static uint64_t delivered, incomplete;
static int http_busy;

static void die(const char *fmt, ...)
{
	va_list ap;
	va_start(ap, fmt);
	fputs("ws_load: ", stderr);
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

/* Fan-out times are on the clock of the kernel's receive timestamps. */
static uint64_t real_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static uint32_t xorshift(void)
{
	rng ^= rng << 13;
	rng ^= rng >> 17;
	rng ^= rng << 5;
	return rng;
}

static void *xrealloc(void *p, size_t n)
{
	p = realloc(p, n);
	if (!p)
		die("out of memory");
	return p;
}

static void watch(struct conn *c, int out)
{
	struct epoll_event ev = { .events = EPOLLIN | (out ? EPOLLOUT : 0), .data.ptr = c };
	if (epoll_ctl(ep, EPOLL_CTL_MOD, c->fd, &ev) != 0)
		die("epoll_ctl: %s", strerror(errno));
	c->want_out = out;
}

static void conn_close(struct conn *c)
{
	if (c->state == S_CLOSED)
		return;
	if (c->kind == K_HTTP)
		die("the publish connection failed");
	if (c->state == S_OPEN) {
		n_open--;
	} else {
		n_pending--;
		n_failed++;     /* never opened: open_all stops waiting for it */
	}
	c->state = S_CLOSED;
	epoll_ctl(ep, EPOLL_CTL_DEL, c->fd, NULL);
	close(c->fd);
	free(c->rbuf);
	free(c->wbuf);
	c->rbuf = c->wbuf = NULL;
	c->rlen = c->rcap = c->wlen = c->wcap = 0;
}

/* Writes what is queued; keeps the rest and asks for EPOLLOUT. */
static void flush_out(struct conn *c)
{
	size_t off = 0;
	while (off < c->wlen) {
		ssize_t n = write(c->fd, c->wbuf + off, c->wlen - off);
		if (n > 0) {
			off += (size_t)n;
		} else if (n < 0 && errno == EINTR) {
			continue;
		} else if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
			break;
		} else {
			errors++;
			conn_close(c);
			return;
		}
	}
	memmove(c->wbuf, c->wbuf + off, c->wlen - off);
	c->wlen -= off;
	if ((c->wlen > 0) != c->want_out)
		watch(c, c->wlen > 0);
}

static void queue_out(struct conn *c, const void *data, size_t len)
{
	if (c->wlen + len > c->wcap) {
		c->wcap = (c->wlen + len) * 2;
		c->wbuf = xrealloc(c->wbuf, c->wcap);
	}
	memcpy(c->wbuf + c->wlen, data, len);
	c->wlen += len;
}

/* Queues one masked client frame (RFC 6455 5.3) with OPCODE and DATA. */
static void queue_frame(struct conn *c, int opcode, const char *data, size_t len)
{
	unsigned char hdr[14];
	size_t h = 0;
	hdr[h++] = (unsigned char)(0x80 | opcode);
	if (len < 126) {
		hdr[h++] = (unsigned char)(0x80 | len);
	} else if (len < 65536) {
		hdr[h++] = 0x80 | 126;
		hdr[h++] = (unsigned char)(len >> 8);
		hdr[h++] = (unsigned char)len;
	} else {
		hdr[h++] = 0x80 | 127;
		for (int i = 7; i >= 0; i--)
			hdr[h++] = (unsigned char)((uint64_t)len >> (8 * i));
	}
	uint32_t key = xorshift();
	memcpy(hdr + h, &key, 4);
	unsigned char mask[4];
	memcpy(mask, &key, 4);
	h += 4;
	queue_out(c, hdr, h);
	unsigned char *p = (unsigned char *)c->wbuf + c->wlen;
	if (c->wlen + len > c->wcap) {
		c->wcap = (c->wlen + len) * 2;
		c->wbuf = xrealloc(c->wbuf, c->wcap);
		p = (unsigned char *)c->wbuf + c->wlen;
	}
	for (size_t i = 0; i < len; i++)
		p[i] = (unsigned char)data[i] ^ mask[i & 3];
	c->wlen += len;
}

static void echo_send(struct conn *c)
{
	c->sent_at[(c->head + c->inflight) % DEPTH_MAX] = now_ns();
	c->inflight++;
	queue_frame(c, 0x1, payload, (size_t)opt.size);
}

static void lat_add(uint64_t ns)
{
	if (n_lat == cap_lat) {
		cap_lat = cap_lat ? cap_lat * 2 : 1 << 16;
		lat = xrealloc(lat, cap_lat * sizeof *lat);
	}
	lat[n_lat++] = (uint32_t)(ns / 1000);
}

static void pub_grow(uint64_t seq)
{
	if (seq < pub_cap)
		return;
	size_t n = pub_cap ? pub_cap : 1024;
	while (n <= seq)
		n *= 2;
	got = xrealloc(got, n * sizeof *got);
	pub_at = xrealloc(pub_at, n * sizeof *pub_at);
	first_at = xrealloc(first_at, n * sizeof *first_at);
	last_at = xrealloc(last_at, n * sizeof *last_at);
	read_at = xrealloc(read_at, n * sizeof *read_at);
	memset(got + pub_cap, 0, (n - pub_cap) * sizeof *got);
	memset(first_at + pub_cap, 0, (n - pub_cap) * sizeof *first_at);
	memset(last_at + pub_cap, 0, (n - pub_cap) * sizeof *last_at);
	pub_cap = n;
}

/*
 * A whole message arrived on C: SEQ is the number it starts with (fanout).
 * A publish's arrival at a connection is when the kernel queued its bytes
 * on our socket (SO_TIMESTAMPNS): the server's doing, not how long this one
 * thread takes to get round to reading 10,000 sockets; read_at is the
 * latter, for comparison.
 */
static void on_message(struct conn *c, uint64_t seq, size_t len)
{
	c->received++;
	if (!strcmp(opt.mode, "echo")) {
		if (len != (size_t)opt.size || c->inflight == 0) {
			errors++;
			return;
		}
		uint64_t t = now_ns();
		lat_add(t - c->sent_at[c->head]);
		c->head = (c->head + 1) % DEPTH_MAX;
		c->inflight--;
		if (sending)
			echo_send(c);
		return;
	}
	if (seq == 0 || seq >= pub_cap)         /* a sync message, or not ours */
		return;
	uint64_t t = real_ns(), arrived = c->rx_ns ? c->rx_ns : t;
	if (got[seq]++ == 0 || arrived < first_at[seq])
		first_at[seq] = arrived;
	if (arrived > last_at[seq])
		last_at[seq] = arrived;
	if (got[seq] == (uint32_t)opt.conns)
		read_at[seq] = t;
	delivered++;
}

static uint64_t read_seq(const unsigned char *p, size_t n)
{
	uint64_t v = 0;
	for (size_t i = 0; i < n && p[i] >= '0' && p[i] <= '9'; i++)
		v = v * 10 + (p[i] - '0');
	return v;
}

/*
 * Parses the server frames in C's buffer; returns the bytes used. Answers
 * pings, counts a close as the server closing.
 */
static size_t parse_frames(struct conn *c)
{
	size_t off = 0;
	while (c->rlen - off >= 2) {
		const unsigned char *p = (unsigned char *)c->rbuf + off;
		size_t avail = c->rlen - off, h = 2;
		int fin = p[0] & 0x80, op = p[0] & 0x0f, masked = p[1] & 0x80;
		uint64_t len = p[1] & 0x7f;
		if (len == 126) {
			if (avail < 4)
				break;
			len = (uint64_t)p[2] << 8 | p[3];
			h = 4;
		} else if (len == 127) {
			if (avail < 10)
				break;
			len = 0;
			for (int i = 0; i < 8; i++)
				len = len << 8 | p[2 + i];
			h = 10;
		}
		if (masked)
			h += 4;         /* servers don't mask; tolerate it anyway */
		if (len > (64u << 20)) {
			errors++;
			conn_close(c);
			return 0;
		}
		if (avail < h + len) {
			if (c->rcap < h + len) {
				/* room for the whole frame, at the start of the buffer */
				memmove(c->rbuf, c->rbuf + off, avail);
				c->rlen = avail;
				c->rcap = h + len;
				c->rbuf = xrealloc(c->rbuf, c->rcap);
				return 0;
			}
			break;
		}
		const unsigned char *data = p + h;
		if (op == 0x1 || op == 0x2) {
			c->frag_seq = read_seq(data, len);
			c->frag_len = len;
			c->in_frag = !fin;
			if (fin)
				on_message(c, c->frag_seq, c->frag_len);
		} else if (op == 0x0 && c->in_frag) {
			c->frag_len += len;
			if (fin) {
				c->in_frag = 0;
				on_message(c, c->frag_seq, c->frag_len);
			}
		} else if (op == 0x9) {
			queue_frame(c, 0xA, (const char *)data, len);
		} else if (op == 0x8) {
			closes++;
			conn_close(c);
			return 0;
		} else if (op != 0xA) {
			errors++;
		}
		off += h + len;
	}
	return off;
}

/* The answer to the upgrade: 101 with our accept value, else a failure. */
static size_t parse_handshake(struct conn *c)
{
	char *end = memmem(c->rbuf, c->rlen, "\r\n\r\n", 4);
	if (!end)
		return 0;
	size_t used = (size_t)(end - c->rbuf) + 4;
	if (c->rlen < 13 || memcmp(c->rbuf, "HTTP/1.1 101", 12) != 0 ||
	    !memmem(c->rbuf, used, WS_ACCEPT, strlen(WS_ACCEPT))) {
		if (n_failed < 3)
			fprintf(stderr, "ws_load: upgrade refused: %.*s\n",
				(int)(memchr(c->rbuf, '\r', used) ? (char *)memchr(c->rbuf, '\r', used) - c->rbuf : 0),
				c->rbuf);
		conn_close(c);
		return 0;
	}
	c->state = S_OPEN;
	n_pending--;
	n_open++;
	if (!strcmp(opt.mode, "echo") && sending)
		for (int i = 0; i < opt.depth; i++)
			echo_send(c);
	return used;
}

/* The publisher's HTTP answers: status line, Content-Length or chunked. */
static size_t parse_http(struct conn *c)
{
	size_t off = 0;
	for (;;) {
		char *start = c->rbuf + off;
		size_t avail = c->rlen - off;
		char *end = memmem(start, avail, "\r\n\r\n", 4);
		if (!end)
			return off;
		size_t head = (size_t)(end - start) + 4, body = 0;
		if (avail < 12 || start[9] != '2') {
			char *eol = memchr(start, '\r', avail);
			die("POST %s answered %.*s: is the publish route there?", opt.publish,
			    (int)(eol ? eol - start : 0), start);
		}
		char *cl = memmem(start, head, "ontent-Length:", 14);
		if (!cl)
			cl = memmem(start, head, "ontent-length:", 14);
		if (cl) {
			body = strtoul(cl + 14, NULL, 10);
		} else if (memmem(start, head, "chunked", 7)) {
			char *z = memmem(start + head, avail - head, "0\r\n\r\n", 5);
			if (!z)
				return off;
			body = (size_t)(z - (start + head)) + 5;
		}
		if (avail < head + body)
			return off;
		off += head + body;
		http_busy = 0;
	}
}

/* read(2), or with the receive timestamp when fan-out asked for them. */
static ssize_t sock_read(struct conn *c)
{
	if (!rx_stamps || c->kind != K_WS)
		return read(c->fd, c->rbuf + c->rlen, c->rcap - c->rlen);
	union {
		char buf[CMSG_SPACE(sizeof(struct timespec)) * 2];
		struct cmsghdr align;
	} ctl;
	struct iovec iov = { c->rbuf + c->rlen, c->rcap - c->rlen };
	struct msghdr m = { .msg_iov = &iov, .msg_iovlen = 1, .msg_control = ctl.buf,
			    .msg_controllen = sizeof ctl.buf };
	ssize_t n = recvmsg(c->fd, &m, 0);
	if (n <= 0)
		return n;
	c->rx_ns = 0;
	for (struct cmsghdr *cm = CMSG_FIRSTHDR(&m); cm; cm = CMSG_NXTHDR(&m, cm)) {
		if (cm->cmsg_level == SOL_SOCKET && cm->cmsg_type == SCM_TIMESTAMPNS) {
			struct timespec ts;
			memcpy(&ts, CMSG_DATA(cm), sizeof ts);
			c->rx_ns = (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
		}
	}
	return n;
}

static void on_readable(struct conn *c)
{
	for (;;) {
		if (!c->rbuf || c->rcap - c->rlen < 1024) {
			c->rcap = c->rcap ? c->rcap * 2 : 4096;
			c->rbuf = xrealloc(c->rbuf, c->rcap);
		}
		ssize_t n = sock_read(c);
		if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
			if (c->kind == K_HTTP)
				die("the publish connection closed");
			closes++;
			conn_close(c);
			return;
		}
		if (n < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		c->rlen += (size_t)n;
		size_t used = 0;
		if (c->kind == K_HTTP)
			used = parse_http(c);
		else if (c->state == S_HANDSHAKE)
			used = parse_handshake(c);
		if (c->state == S_CLOSED)
			return;
		if (c->state == S_OPEN && c->kind == K_WS) {
			memmove(c->rbuf, c->rbuf + used, c->rlen - used);
			c->rlen -= used;
			used = parse_frames(c);
			if (c->state == S_CLOSED)
				return;
		}
		memmove(c->rbuf, c->rbuf + used, c->rlen - used);
		c->rlen -= used;
		if ((size_t)n < 1024)   /* likely drained: skip the EAGAIN read */
			break;
	}
	if (c->wlen)
		flush_out(c);
}

static int tcp_connect(struct conn *c, enum kind kind)
{
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd < 0)
		die("socket: %s (raise ulimit -n?)", strerror(errno));
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (rx_stamps && kind == K_WS)
		setsockopt(fd, SOL_SOCKET, SO_TIMESTAMPNS, &one, sizeof one);
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)opt.port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) != 0 && errno != EINPROGRESS)
		die("connect 127.0.0.1:%d: %s", opt.port, strerror(errno));
	memset(c, 0, sizeof *c);
	c->fd = fd;
	c->kind = kind;
	c->state = S_CONNECTING;
	struct epoll_event ev = { .events = EPOLLIN | EPOLLOUT, .data.ptr = c };
	if (epoll_ctl(ep, EPOLL_CTL_ADD, fd, &ev) != 0)
		die("epoll_ctl: %s", strerror(errno));
	c->want_out = 1;
	return fd;
}

static void start_conns(void)
{
	char req[512];
	int n = snprintf(req, sizeof req, "GET %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
			 "Upgrade: websocket\r\nConnection: Upgrade\r\n"
			 "Sec-WebSocket-Key: " WS_KEY "\r\nSec-WebSocket-Version: 13\r\n\r\n",
			 opt.path, opt.port);
	while (n_started < opt.conns && n_pending < PENDING_MAX) {
		struct conn *c = &conns[n_started++];
		tcp_connect(c, K_WS);
		n_pending++;
		queue_out(c, req, (size_t)n);
	}
}

static void on_event(struct conn *c, uint32_t events)
{
	if (c->kind == K_STDIN) {
		char b[256];
		if (read(0, b, sizeof b) <= 0) {
			epoll_ctl(ep, EPOLL_CTL_DEL, 0, NULL);
			stdin_eof = 1;
		}
		return;
	}
	if (c->state == S_CLOSED)
		return;
	if (c->state == S_CONNECTING && (events & (EPOLLOUT | EPOLLERR | EPOLLHUP))) {
		int err = 0;
		socklen_t l = sizeof err;
		getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &err, &l);
		if (err) {
			if (c->kind == K_HTTP)
				die("connect 127.0.0.1:%d: %s", opt.port, strerror(err));
			if (n_failed < 3)
				fprintf(stderr, "ws_load: connect: %s\n", strerror(err));
			conn_close(c);
			return;
		}
		c->state = c->kind == K_HTTP ? S_OPEN : S_HANDSHAKE;
	}
	if (events & (EPOLLIN | EPOLLHUP | EPOLLERR))
		on_readable(c);
	if (c->state != S_CLOSED && (events & EPOLLOUT))
		flush_out(c);
}

static void publish(uint64_t seq)
{
	static char *body;
	static char head[256];
	if (!body)
		body = xrealloc(NULL, (size_t)opt.size + 32);
	int b = snprintf(body, (size_t)opt.size + 32, "%llu ", (unsigned long long)seq);
	while (b < opt.size)
		body[b++] = 'x';
	int h = snprintf(head, sizeof head, "POST %s HTTP/1.1\r\nHost: 127.0.0.1:%d\r\n"
			 "Content-Type: text/plain\r\nContent-Length: %d\r\n\r\n",
			 opt.publish, opt.port, b);
	if (seq)
		pub_grow(seq);
	queue_out(&http, head, (size_t)h);
	queue_out(&http, body, (size_t)b);
	if (seq)
		pub_at[seq] = real_ns();
	http_busy = 1;
	flush_out(&http);
}

static void loop_once(int timeout_ms)
{
	struct epoll_event evs[1024];
	int n = epoll_wait(ep, evs, 1024, timeout_ms);
	if (n < 0 && errno != EINTR)
		die("epoll_wait: %s", strerror(errno));
	for (int i = 0; i < n; i++)
		on_event(evs[i].data.ptr, evs[i].events);
	start_conns();
}

/* Opens every connection (PENDING_MAX at a time); dies if some fail. */
static void open_all(void)
{
	uint64_t t0 = now_ns(), limit = t0 + 60 * 1000000000ull;
	start_conns();
	while (n_open + n_failed < opt.conns && now_ns() < limit)
		loop_once(10);
	if (n_open < opt.conns)
		die("only %d of %d connections opened (%d failed)", n_open, opt.conns, n_failed);
	printf("# open conns=%d ms=%.0f\n", n_open, (double)(now_ns() - t0) / 1e6);
	fflush(stdout);
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

/* Nearest rank percentile of sorted V[N]. */
static uint32_t pct(const uint32_t *v, size_t n, double p)
{
	if (!n)
		return 0;
	size_t k = (size_t)(p / 100.0 * (double)n + 0.999999);
	return v[k ? k - 1 : 0];
}

static void run_echo(void)
{
	printf("# start\n");
	fflush(stdout);
	uint64_t t0 = now_ns(), end = t0 + (uint64_t)(opt.seconds * 1e9);
	n_lat = 0;
	while (now_ns() < end && n_open > 0)
		loop_once(5);
	sending = 0;
	uint64_t t1 = now_ns();
	size_t done = n_lat;
	for (uint64_t drain = t1 + 2000000000ull; now_ns() < drain;) {
		int left = 0;
		for (int i = 0; i < opt.conns; i++)
			left += conns[i].state == S_OPEN ? (int)conns[i].inflight : 0;
		if (!left)
			break;
		loop_once(5);
	}
	qsort(lat, done, sizeof *lat, cmp_u32);
	printf("result echo conns=%d seconds=%.3f roundtrips=%zu rate=%.1f p50_us=%u p99_us=%u "
	       "errors=%llu closed=%llu open=%d\n", opt.conns, (double)(t1 - t0) / 1e9, done,
	       (double)done / ((double)(t1 - t0) / 1e9), pct(lat, done, 50), pct(lat, done, 99),
	       (unsigned long long)errors, (unsigned long long)closes, n_open);
}

static void run_idle(void)
{
	uint64_t end = now_ns() + (uint64_t)(opt.seconds * 1e9);
	printf("# holding\n");
	fflush(stdout);
	while (now_ns() < end && !stdin_eof)
		loop_once(100);
	printf("result idle conns=%d open=%d errors=%llu closed=%llu\n", opt.conns, n_open,
	       (unsigned long long)errors, (unsigned long long)closes);
}

/*
 * Publishes sequence 0 until every connection has had one message: the
 * server may subscribe a connection a little after its 101.
 */
static void sync_subscribers(void)
{
	uint64_t limit = now_ns() + 20 * 1000000000ull, last = 0;
	for (;;) {
		int missing = 0;
		for (int i = 0; i < opt.conns; i++)
			missing += conns[i].received == 0;
		if (!missing)
			break;
		if (now_ns() > limit)
			die("%d of %d connections never got a published message", missing, opt.conns);
		if (!http_busy && now_ns() - last > 200000000ull) {
			publish(0);
			last = now_ns();
		}
		loop_once(5);
	}
	while (http_busy)
		loop_once(5);
	for (int i = 0; i < 50; i++)    /* let stragglers of the sync arrive */
		loop_once(2);
}

/* Gives up on a publish that has not reached everyone in PUBLISH_TIMEOUT_NS. */
static void advance_done(uint64_t t)
{
	while (done_seq < next_seq &&
	       (got[done_seq] == (uint32_t)opt.conns || t - pub_at[done_seq] > PUBLISH_TIMEOUT_NS)) {
		if (got[done_seq] != (uint32_t)opt.conns)
			incomplete++;
		done_seq++;
	}
}

static uint32_t since_us(uint64_t from, uint64_t to)
{
	return to > from ? (uint32_t)((to - from) / 1000) : 0;
}

static void run_fanout(void)
{
	uint32_t *last = xrealloc(NULL, (size_t)opt.count * sizeof *last);
	uint32_t *first = xrealloc(NULL, (size_t)opt.count * sizeof *first);
	uint32_t *rd = xrealloc(NULL, (size_t)opt.count * sizeof *rd);
	size_t n = 0;
	printf("# start\n");
	fflush(stdout);
	for (int k = 0; k < opt.count; k++) {
		uint64_t seq = next_seq++;
		publish(seq);
		while (done_seq < next_seq) {
			loop_once(1);
			advance_done(real_ns());
		}
		if (got[seq] == (uint32_t)opt.conns) {
			last[n] = since_us(pub_at[seq], last_at[seq]);
			first[n] = since_us(pub_at[seq], first_at[seq]);
			rd[n] = since_us(pub_at[seq], read_at[seq]);
			n++;
		}
		for (uint64_t g = now_ns() + (uint64_t)opt.gap_ms * 1000000ull; now_ns() < g || http_busy;)
			loop_once(1);
	}
	qsort(last, n, sizeof *last, cmp_u32);
	qsort(first, n, sizeof *first, cmp_u32);
	qsort(rd, n, sizeof *rd, cmp_u32);
	printf("result fanout conns=%d publishes=%d complete=%zu p50_ms=%.3f p99_ms=%.3f "
	       "max_ms=%.3f first_p50_ms=%.3f read_p50_ms=%.3f read_p99_ms=%.3f stamped=%d "
	       "errors=%llu closed=%llu\n", opt.conns, opt.count, n,
	       pct(last, n, 50) / 1e3, pct(last, n, 99) / 1e3, n ? last[n - 1] / 1e3 : 0.0,
	       pct(first, n, 50) / 1e3, pct(rd, n, 50) / 1e3, pct(rd, n, 99) / 1e3,
	       conns[0].rx_ns != 0, (unsigned long long)errors, (unsigned long long)closes);
}

/*
 * Publishes as fast as the server takes it, with at most --window publishes
 * not yet at every connection, for --seconds; then waits for those.
 */
static void run_flood(void)
{
	printf("# start\n");
	fflush(stdout);
	uint64_t t0 = now_ns(), end = t0 + (uint64_t)(opt.seconds * 1e9), seq0 = next_seq;
	delivered = 0;
	for (uint64_t t = t0; t < end; t = now_ns()) {
		if (!http_busy && next_seq - done_seq < (uint64_t)opt.window)
			publish(next_seq++);
		loop_once(1);
		advance_done(real_ns());
	}
	while (done_seq < next_seq) {
		loop_once(1);
		advance_done(real_ns());
	}
	double secs = (double)(now_ns() - t0) / 1e9;
	printf("result flood conns=%d seconds=%.3f publishes=%llu delivered=%llu rate=%.1f "
	       "incomplete=%llu errors=%llu closed=%llu\n", opt.conns, secs,
	       (unsigned long long)(next_seq - seq0), (unsigned long long)delivered,
	       (double)delivered / secs, (unsigned long long)incomplete,
	       (unsigned long long)errors, (unsigned long long)closes);
}

static void usage(void)
{
	die("usage: ws_load echo|idle|fanout|flood --port P [--path /ws/echo] [--conns N] "
	    "[--seconds T] [--size BYTES] [--depth D] [--count K] [--gap-ms MS] "
	    "[--window W] [--publish /publish]");
}

static void parse_args(int argc, char **argv)
{
	if (argc < 2)
		usage();
	opt.mode = argv[1];
	for (int i = 2; i < argc; i += 2) {
		if (i + 1 >= argc)
			usage();
		const char *k = argv[i], *v = argv[i + 1];
		if (!strcmp(k, "--port")) opt.port = atoi(v);
		else if (!strcmp(k, "--path")) opt.path = v;
		else if (!strcmp(k, "--publish")) opt.publish = v;
		else if (!strcmp(k, "--conns")) opt.conns = atoi(v);
		else if (!strcmp(k, "--seconds")) opt.seconds = atof(v);
		else if (!strcmp(k, "--size")) opt.size = atoi(v);
		else if (!strcmp(k, "--depth")) opt.depth = atoi(v);
		else if (!strcmp(k, "--count")) opt.count = atoi(v);
		else if (!strcmp(k, "--gap-ms")) opt.gap_ms = atoi(v);
		else if (!strcmp(k, "--window")) opt.window = atoi(v);
		else usage();
	}
	if (strcmp(opt.mode, "echo") && strcmp(opt.mode, "idle") &&
	    strcmp(opt.mode, "fanout") && strcmp(opt.mode, "flood"))
		usage();
	if (opt.port <= 0 || opt.port > 65535 || opt.conns < 1 || opt.conns > 1000000 ||
	    opt.size < 24 || opt.size > (16 << 20) || opt.depth < 1 || opt.depth > DEPTH_MAX ||
	    opt.count < 1 || opt.window < 1 || opt.gap_ms < 0 || !(opt.seconds >= 0) ||
	    opt.seconds > 3600)
		die("an option is out of range (port 1-65535, conns >= 1, size 24 B-16 MiB, "
		    "depth 1-%d, count >= 1, window >= 1, seconds 0-3600)", DEPTH_MAX);
	if (opt.seconds == 0 && strcmp(opt.mode, "fanout"))
		die("--seconds 0 is for fanout only (no flood after the timed publishes)");
}

int main(int argc, char **argv)
{
	parse_args(argc, argv);
	signal(SIGPIPE, SIG_IGN);
	struct rlimit rl;
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
	}
	if (getrlimit(RLIMIT_NOFILE, &rl) == 0 && rl.rlim_cur < (rlim_t)opt.conns + 16)
		die("%d connections need more descriptors than ulimit -n allows (%llu)",
		    opt.conns, (unsigned long long)rl.rlim_cur);
	ep = epoll_create1(EPOLL_CLOEXEC);
	if (ep < 0)
		die("epoll_create1: %s", strerror(errno));
	conns = calloc((size_t)opt.conns, sizeof *conns);
	payload = xrealloc(NULL, (size_t)opt.size);
	memset(payload, 'x', (size_t)opt.size);
	if (!conns)
		die("out of memory");
	if (!strcmp(opt.mode, "idle")) {
		in.kind = K_STDIN;
		in.fd = 0;
		struct epoll_event ev = { .events = EPOLLIN, .data.ptr = &in };
		/* stdin a file or /dev/null (not pollable): hold for --seconds */
		epoll_ctl(ep, EPOLL_CTL_ADD, 0, &ev);
	}
	rx_stamps = !strcmp(opt.mode, "fanout") || !strcmp(opt.mode, "flood");
	open_all();
	if (!strcmp(opt.mode, "echo")) {
		run_echo();
	} else if (!strcmp(opt.mode, "idle")) {
		run_idle();
	} else {
		tcp_connect(&http, K_HTTP);
		while (http.state == S_CONNECTING)
			loop_once(10);
		sync_subscribers();
		if (!strcmp(opt.mode, "fanout"))
			run_fanout();
		if (!strcmp(opt.mode, "flood") || opt.seconds > 0)
			run_flood();
	}
	fflush(stdout);
	return 0;
}
