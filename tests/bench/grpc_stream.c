/*
 * grpc_stream: the bidi-streaming client of tests/bench/grpc_bench.py.
 *
 * One bench.Echo/Chat call over h2c (prior knowledge) to 127.0.0.1, the
 * same client for every server: one thread, poll, libnghttp2 for HTTP/2,
 * gRPC framing and the protobuf Msg { bytes payload = 1; } by hand, so
 * that one core drives far more messages than a gRPC library's client
 * would (libgrpc++'s synchronous client needed as much CPU per message as
 * the C++ server) and the server stays the bottleneck.
 *
 *   grpc_stream PORT SECONDS WINDOW SIZE
 *
 * It keeps at most WINDOW messages of SIZE payload bytes on the stream
 * not yet echoed, checks that each echo is the message sent (in order:
 * the payload carries its sequence number and a pattern from it) and
 * times it from when nghttp2 took it for sending to when its echo was
 * read. After 1 s of warm-up it prints "# start"; after SECONDS more
 * "result stream messages=N rate=R p50_us=.. p99_us=.. bad=B" (stdout:
 * the caller samples the server's CPU at both lines); then it ends its
 * half of the stream, reads the rest and checks grpc-status 0 in the
 * trailers. Exit 0 when all was right, 1 otherwise (why on stderr). Every
 * wait is bounded: the whole run by SECONDS + 30 s.
 *
 * Build: cc -O2 -o grpc_stream grpc_stream.c -lnghttp2 (grpc_bench.py
 * does it in a temp dir).
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <netinet/in.h>
#include <netinet/tcp.h>
#include <poll.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include <nghttp2/nghttp2.h>

#define WINDOW_MAX 100000
#define SIZE_MAX_MSG (1 << 20)
#define LAT_MAX (1 << 22)	/* latencies kept for the percentiles */

struct client {
	int fd;
	nghttp2_session *h2;
	int32_t stream;
	size_t size, window;

	/* sending: messages to write, and the bytes of one not yet all taken */
	uint8_t *msg;		/* one encoded message, rebuilt per sequence number */
	size_t msg_len, msg_off;
	uint64_t next_seq;	/* the next message to encode */
	size_t queued;		/* messages allowed out, not yet encoded */
	int writing;		/* msg holds a message partly handed to nghttp2 */
	int eof;		/* end our half once the queue is empty */
	int64_t *sent_at;	/* slot seq % window: when it went to nghttp2 */

	/* receiving: gRPC frames across DATA chunks */
	uint8_t *rbuf;
	size_t rlen, rcap;
	uint64_t got_seq;	/* the next echo expected */
	size_t inflight;
	uint64_t bad;

	/* timing */
	int64_t warm_end, t0, t_end;
	int timing, timed_done;
	uint64_t counted;
	uint32_t *lat_us;
	size_t nlat;

	int grpc_status;	/* -1 until the trailers say */
	char grpc_message[200];
	int closed;		/* the stream is over */
	uint32_t close_error;
	int http_status;
};

static int64_t now_ns(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (int64_t)ts.tv_sec * 1000000000 + ts.tv_nsec;
}

/* The payload of message SEQ: SEQ's 8 bytes, then a pattern from it. */
static void fill(uint8_t *p, uint64_t seq, size_t size)
{
	memcpy(p, &seq, 8);
	for (size_t i = 8; i < size; i++)
		p[i] = (uint8_t)('a' + (seq + i) % 26);
}

static size_t varint(uint8_t *p, size_t v)
{
	size_t n = 0;
	do {
		p[n] = (uint8_t)(v & 0x7f);
		v >>= 7;
		if (v)
			p[n] |= 0x80;
		n++;
	} while (v);
	return n;
}

/* Encodes message SEQ into c->msg: the 5-byte gRPC prefix, then the Msg. */
static void encode(struct client *c, uint64_t seq)
{
	uint8_t *p = c->msg + 5;
	p[0] = 0x0a;
	size_t n = 1 + varint(p + 1, c->size);
	fill(p + n, seq, c->size);
	n += c->size;
	c->msg[0] = 0;
	c->msg[1] = (uint8_t)(n >> 24);
	c->msg[2] = (uint8_t)(n >> 16);
	c->msg[3] = (uint8_t)(n >> 8);
	c->msg[4] = (uint8_t)n;
	c->msg_len = n + 5;
	c->msg_off = 0;
}

/* nghttp2 asks for request body bytes: messages while the window allows. */
static ssize_t on_body(nghttp2_session *h2, int32_t stream, uint8_t *buf, size_t len,
                       uint32_t *flags, nghttp2_data_source *src, void *arg)
{
	struct client *c = arg;
	size_t out = 0;
	(void)h2;
	(void)stream;
	(void)src;
	while (out < len) {
		if (!c->writing) {
			if (!c->queued)
				break;
			c->queued--;
			encode(c, c->next_seq);
			c->sent_at[c->next_seq % c->window] = now_ns();
			c->next_seq++;
			c->writing = 1;
		}
		size_t n = c->msg_len - c->msg_off;
		if (n > len - out)
			n = len - out;
		memcpy(buf + out, c->msg + c->msg_off, n);
		c->msg_off += n;
		out += n;
		if (c->msg_off == c->msg_len)
			c->writing = 0;
	}
	if (!out && !c->writing && !c->queued) {
		if (c->eof) {
			*flags |= NGHTTP2_DATA_FLAG_EOF;
			return 0;
		}
		return NGHTTP2_ERR_DEFERRED;
	}
	return (ssize_t)out;
}

/* One echoed Msg (the protobuf bytes of a gRPC frame): checks and times it. */
static void on_message(struct client *c, const uint8_t *p, size_t len)
{
	int64_t t = now_ns();
	uint64_t seq = c->got_seq++;
	uint8_t want[16];
	size_t n = 1 + varint(want + 1, c->size);
	want[0] = 0x0a;
	int ok = len == n + c->size && !memcmp(p, want, n);
	if (ok) {
		uint64_t s;
		memcpy(&s, p + n, 8);
		ok = s == seq;
		for (size_t i = 8; ok && i < c->size; i++)
			ok = p[n + i] == (uint8_t)('a' + (seq + i) % 26);
	}
	if (!ok)
		c->bad++;
	int64_t lat = t - c->sent_at[seq % c->window];
	c->inflight--;
	if (!c->eof) {
		c->queued++;
		c->inflight++;
		nghttp2_session_resume_data(c->h2, c->stream);
	}
	if (c->timed_done)
		return;
	if (!c->timing) {
		if (t >= c->warm_end) {
			c->timing = 1;
			c->t0 = t;
			c->t_end = t + (c->t_end - c->warm_end);
			printf("# start\n");
			fflush(stdout);
		}
		return;
	}
	c->counted++;
	if (c->nlat < LAT_MAX)
		c->lat_us[c->nlat++] = (uint32_t)(lat / 1000);
	if (t >= c->t_end) {
		c->timed_done = 1;
		c->eof = 1;
		nghttp2_session_resume_data(c->h2, c->stream);
	}
}

static int on_data(nghttp2_session *h2, uint8_t flags, int32_t stream, const uint8_t *data,
                   size_t len, void *arg)
{
	struct client *c = arg;
	(void)h2;
	(void)flags;
	if (stream != c->stream)
		return 0;
	if (c->rlen + len > c->rcap) {
		size_t cap = (c->rlen + len) * 2;
		uint8_t *p = realloc(c->rbuf, cap);
		if (!p)
			return NGHTTP2_ERR_CALLBACK_FAILURE;
		c->rbuf = p;
		c->rcap = cap;
	}
	memcpy(c->rbuf + c->rlen, data, len);
	c->rlen += len;
	size_t off = 0;
	while (c->rlen - off >= 5) {
		const uint8_t *f = c->rbuf + off;
		size_t n = (size_t)f[1] << 24 | (size_t)f[2] << 16 | (size_t)f[3] << 8 | f[4];
		if (f[0] != 0 || n > SIZE_MAX_MSG + 16) {
			fprintf(stderr, "grpc_stream: a frame with flags %u and length %zu\n",
			        f[0], n);
			return NGHTTP2_ERR_CALLBACK_FAILURE;
		}
		if (c->rlen - off < 5 + n)
			break;
		on_message(c, f + 5, n);
		off += 5 + n;
	}
	memmove(c->rbuf, c->rbuf + off, c->rlen - off);
	c->rlen -= off;
	return 0;
}

static int on_header(nghttp2_session *h2, const nghttp2_frame *frame, const uint8_t *name,
                     size_t namelen, const uint8_t *value, size_t valuelen, uint8_t flags,
                     void *arg)
{
	struct client *c = arg;
	(void)h2;
	(void)flags;
	if (frame->hd.stream_id != c->stream)
		return 0;
	if (namelen == 7 && !memcmp(name, ":status", 7))
		c->http_status = atoi((const char *)value);
	else if (namelen == 11 && !memcmp(name, "grpc-status", 11))
		c->grpc_status = atoi((const char *)value);
	else if (namelen == 12 && !memcmp(name, "grpc-message", 12))
		snprintf(c->grpc_message, sizeof c->grpc_message, "%.*s", (int)valuelen,
		         (const char *)value);
	return 0;
}

static int on_close(nghttp2_session *h2, int32_t stream, uint32_t error, void *arg)
{
	struct client *c = arg;
	(void)h2;
	if (stream == c->stream) {
		c->closed = 1;
		c->close_error = error;
	}
	return 0;
}

static ssize_t on_send(nghttp2_session *h2, const uint8_t *data, size_t len, int flags,
                       void *arg)
{
	struct client *c = arg;
	(void)h2;
	(void)flags;
	ssize_t n = send(c->fd, data, len, MSG_NOSIGNAL);
	if (n < 0)
		return errno == EAGAIN ? NGHTTP2_ERR_WOULDBLOCK : NGHTTP2_ERR_CALLBACK_FAILURE;
	return n;
}

static int cmp_u32(const void *a, const void *b)
{
	uint32_t x = *(const uint32_t *)a, y = *(const uint32_t *)b;
	return x < y ? -1 : x > y;
}

static int connect_to(int port)
{
	struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((uint16_t)port) };
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	int fd = socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK, 0);
	if (fd < 0)
		return -1;
	int one = 1;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (connect(fd, (struct sockaddr *)&sa, sizeof sa) < 0 && errno != EINPROGRESS) {
		close(fd);
		return -1;
	}
	struct pollfd pfd = { .fd = fd, .events = POLLOUT };
	int err = 0;
	socklen_t elen = sizeof err;
	if (poll(&pfd, 1, 5000) != 1 ||
	    getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &elen) < 0 || err) {
		close(fd);
		return -1;
	}
	return fd;
}

int main(int argc, char **argv)
{
	if (argc != 5) {
		fprintf(stderr, "usage: grpc_stream PORT SECONDS WINDOW SIZE\n");
		return 2;
	}
	int port = atoi(argv[1]);
	double seconds = atof(argv[2]);
	long window = atol(argv[3]), size = atol(argv[4]);
	if (port <= 0 || port > 65535 || !(seconds > 0 && seconds < 3600) || window < 1 ||
	    window > WINDOW_MAX || size < 8 || size > SIZE_MAX_MSG) {
		fprintf(stderr, "grpc_stream: PORT 1-65535, SECONDS > 0, WINDOW 1-%d, "
		        "SIZE 8-%d\n", WINDOW_MAX, SIZE_MAX_MSG);
		return 2;
	}
	struct client c = { .size = (size_t)size, .window = (size_t)window,
	                    .grpc_status = -1 };
	c.msg = malloc(c.size + 16);
	c.sent_at = calloc(c.window, sizeof *c.sent_at);
	c.lat_us = malloc(LAT_MAX * sizeof *c.lat_us);
	if (!c.msg || !c.sent_at || !c.lat_us) {
		fprintf(stderr, "grpc_stream: out of memory\n");
		return 1;
	}
	c.fd = connect_to(port);
	if (c.fd < 0) {
		fprintf(stderr, "grpc_stream: cannot connect to 127.0.0.1:%d\n", port);
		return 1;
	}

	nghttp2_session_callbacks *cb;
	nghttp2_session_callbacks_new(&cb);
	nghttp2_session_callbacks_set_send_callback(cb, on_send);
	nghttp2_session_callbacks_set_on_data_chunk_recv_callback(cb, on_data);
	nghttp2_session_callbacks_set_on_header_callback(cb, on_header);
	nghttp2_session_callbacks_set_on_stream_close_callback(cb, on_close);
	nghttp2_session_client_new(&c.h2, cb, &c);
	nghttp2_session_callbacks_del(cb);
	nghttp2_settings_entry iv[] = {
		{ NGHTTP2_SETTINGS_MAX_CONCURRENT_STREAMS, 100 },
		{ NGHTTP2_SETTINGS_INITIAL_WINDOW_SIZE, 1 << 24 },
	};
	nghttp2_submit_settings(c.h2, NGHTTP2_FLAG_NONE, iv, 2);
	nghttp2_session_set_local_window_size(c.h2, NGHTTP2_FLAG_NONE, 0, 1 << 24);

	char authority[32];
	snprintf(authority, sizeof authority, "127.0.0.1:%d", port);
#define HDR(n, v) { (uint8_t *)(n), (uint8_t *)(v), sizeof(n) - 1, strlen(v), \
                    NGHTTP2_NV_FLAG_NONE }
	nghttp2_nv hdrs[] = {
		HDR(":method", "POST"), HDR(":scheme", "http"),
		HDR(":authority", authority), HDR(":path", "/bench.Echo/Chat"),
		HDR("content-type", "application/grpc"), HDR("te", "trailers"),
	};
	nghttp2_data_provider body = { .read_callback = on_body };
	c.stream = nghttp2_submit_request(c.h2, NULL, hdrs, sizeof hdrs / sizeof hdrs[0],
	                                  &body, &c);
	if (c.stream < 0) {
		fprintf(stderr, "grpc_stream: %s\n", nghttp2_strerror(c.stream));
		return 1;
	}
	c.queued = c.inflight = c.window;

	int64_t start = now_ns();
	c.warm_end = start + 1000000000;
	c.t_end = c.warm_end + (int64_t)(seconds * 1e9);	/* moved to t0 + SECONDS */
	int64_t deadline = c.t_end + 30 * 1000000000LL;
	uint8_t buf[65536];
	const char *fail = NULL;
	while (!c.closed) {
		if (nghttp2_session_send(c.h2)) {
			fail = "sending failed";
			break;
		}
		if (!nghttp2_session_want_read(c.h2) && !nghttp2_session_want_write(c.h2)) {
			fail = "the connection ended";
			break;
		}
		int64_t left = (deadline - now_ns()) / 1000000;
		if (left <= 0) {
			fail = "timed out";
			break;
		}
		struct pollfd pfd = { .fd = c.fd, .events = POLLIN };
		if (nghttp2_session_want_write(c.h2))
			pfd.events |= POLLOUT;
		if (poll(&pfd, 1, (int)(left < 1000 ? left : 1000)) < 0 && errno != EINTR) {
			fail = "poll failed";
			break;
		}
		if (pfd.revents & (POLLIN | POLLHUP | POLLERR)) {
			ssize_t n = recv(c.fd, buf, sizeof buf, 0);
			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
				fail = "the server closed the connection";
				break;
			}
			if (n > 0 && nghttp2_session_mem_recv(c.h2, buf, (size_t)n) < 0) {
				fail = "the server's HTTP/2 was not understood";
				break;
			}
		}
	}

	if (c.timed_done) {
		qsort(c.lat_us, c.nlat, sizeof *c.lat_us, cmp_u32);
		double secs = (double)(c.t_end - c.t0) / 1e9;
		printf("result stream messages=%llu rate=%.1f p50_us=%u p99_us=%u bad=%llu\n",
		       (unsigned long long)c.counted, (double)c.counted / secs,
		       c.nlat ? c.lat_us[c.nlat / 2] : 0,
		       c.nlat ? c.lat_us[c.nlat * 99 / 100] : 0, (unsigned long long)c.bad);
		fflush(stdout);
	}
	if (!fail && !c.timed_done)
		fail = "the stream ended before the timed part did";
	if (!fail && (c.http_status != 200 || c.grpc_status != 0 || c.close_error))
		fail = "the call did not end well";
	if (!fail && c.bad)
		fail = "echoes were not the messages sent";
	if (fail) {
		fprintf(stderr, "grpc_stream: %s (HTTP %d, grpc-status %d \"%s\", RST %u, "
		        "%llu echoes, %llu bad)\n", fail, c.http_status, c.grpc_status,
		        c.grpc_message, c.close_error, (unsigned long long)c.got_seq,
		        (unsigned long long)c.bad);
		return 1;
	}
	nghttp2_session_del(c.h2);
	close(c.fd);
	return 0;
}
