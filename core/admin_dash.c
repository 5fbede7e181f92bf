/*
 * admin_dash.c - the dashboard on the admin listener: GET /dashboard (a
 * plain HTML file with its script inline, from PT_DASHBOARD_DIR, else the
 * source tree's dashboard/), and /dashboard/ws, a WebSocket (RFC 6455)
 * that pushes the whole /metrics text once a second. The page computes
 * the rates, error share, latency percentiles, upstream health, WebSocket
 * connections and webhook queue from it: one source of truth, nothing the
 * page shows that a scraper would not see.
 *
 * Kept small like the rest of the admin listener: server-to-client text
 * frames only; from the client, control frames (close, ping) are answered
 * and anything else is read and dropped; a client frame over 4 KiB, an
 * unmasked frame or reserved bits close the connection (1002/1009). At
 * most DASH_MAX clients; a client that has DASH_MAX_QUEUED bytes unread is
 * dropped, so a stuck browser cannot grow the main thread's memory.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/buffer.h>
#include <event2/bufferevent.h>
#include <event2/event.h>
#include <openssl/evp.h>
#include <openssl/sha.h>

#include "admin_dash.h"
#include "log.h"

#define DASH_MAX 8
#define DASH_MAX_QUEUED (4u << 20)
#define DASH_MAX_FRAME 4096
#define DASH_PAGE_MAX (1u << 20)

struct dclient {
	struct bufferevent *bev;
	struct dclient *prev, *next;
	int closing;
};

static struct dclient *clients;
static unsigned nclients;
static struct event *tick;
static dash_render_fn render;

#ifndef PT_DASHBOARD_DIR
#define PT_DASHBOARD_DIR "/usr/share/portico/dashboard"
#endif
#ifndef PT_SRC_DASHBOARD_DIR
#define PT_SRC_DASHBOARD_DIR "dashboard"
#endif

char *dash_page(size_t *len)
{
	static const char *const dirs[] = { PT_DASHBOARD_DIR, PT_SRC_DASHBOARD_DIR };
	const char *env = getenv("PORTICO_DASHBOARD_DIR");

	for (int i = -1; i < 2; i++) {
		const char *dir = i < 0 ? env : dirs[i];
		char path[4096];
		struct stat st;
		char *buf;
		int fd;

		if (!dir || snprintf(path, sizeof(path), "%s/index.html", dir) >= (int)sizeof(path))
			continue;
		if ((fd = open(path, O_RDONLY | O_CLOEXEC)) < 0)
			continue;
		if (fstat(fd, &st) != 0 || st.st_size <= 0 || st.st_size > DASH_PAGE_MAX ||
		    !(buf = malloc((size_t)st.st_size))) {
			close(fd);
			continue;
		}
		if (read(fd, buf, (size_t)st.st_size) != st.st_size) {
			free(buf);
			close(fd);
			continue;
		}
		close(fd);
		*len = (size_t)st.st_size;
		return buf;
	}
	return NULL;
}

int dash_accept_key(const char *key, char out[29])
{
	static const char guid[] = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
	unsigned char md[SHA_DIGEST_LENGTH];
	char buf[64 + sizeof(guid)];
	size_t n = key ? strlen(key) : 0;
	unsigned char raw[20];

	/* a 16-byte nonce, base64: 24 characters */
	if (n != 24 || EVP_DecodeBlock(raw, (const unsigned char *)key, 24) != 18)
		return -1;
	memcpy(buf, key, n);
	memcpy(buf + n, guid, sizeof(guid) - 1);
	SHA1((const unsigned char *)buf, n + sizeof(guid) - 1, md);
	EVP_EncodeBlock((unsigned char *)out, md, sizeof(md));
	return 0;
}

static void client_free(struct dclient *c)
{
	if (c->prev)
		c->prev->next = c->next;
	else
		clients = c->next;
	if (c->next)
		c->next->prev = c->prev;
	nclients--;
	bufferevent_free(c->bev);
	free(c);
	if (!nclients && tick)
		event_del(tick);
}

static void frame(struct evbuffer *out, int opcode, const void *data, size_t len)
{
	unsigned char h[10];
	size_t n = 2;

	h[0] = (unsigned char)(0x80 | opcode);
	if (len < 126) {
		h[1] = (unsigned char)len;
	} else if (len < 65536) {
		h[1] = 126;
		h[2] = (unsigned char)(len >> 8);
		h[3] = (unsigned char)len;
		n = 4;
	} else {
		h[1] = 127;
		for (int i = 0; i < 8; i++)
			h[2 + i] = (unsigned char)((uint64_t)len >> (56 - 8 * i));
		n = 10;
	}
	evbuffer_add(out, h, n);
	evbuffer_add(out, data, len);
}

static void close_with(struct dclient *c, unsigned code)
{
	unsigned char b[2] = { (unsigned char)(code >> 8), (unsigned char)code };

	if (c->closing)
		return;
	c->closing = 1;
	frame(bufferevent_get_output(c->bev), 8, b, 2);
	bufferevent_disable(c->bev, EV_READ);
}

/* Client frames: control frames answered, data read and dropped. */
static void on_read(struct bufferevent *bev, void *arg)
{
	struct dclient *c = arg;
	struct evbuffer *in = bufferevent_get_input(bev);

	while (!c->closing) {
		unsigned char h[14], payload[DASH_MAX_FRAME];
		size_t avail = evbuffer_get_length(in), need = 2, len;
		int op;

		if (avail < 2)
			return;
		evbuffer_copyout(in, h, avail < sizeof(h) ? avail : sizeof(h));
		if ((h[0] & 0x70) || !(h[1] & 0x80)) {   /* reserved bits; unmasked */
			close_with(c, 1002);
			return;
		}
		op = h[0] & 0x0f;
		len = h[1] & 0x7f;
		if (len == 126) {
			need = 4;
			if (avail < need)
				return;
			len = (size_t)h[2] << 8 | h[3];
		} else if (len == 127) {
			close_with(c, 1009);
			return;
		}
		if (len > DASH_MAX_FRAME || (op >= 8 && (len > 125 || !(h[0] & 0x80)))) {
			close_with(c, op >= 8 ? 1002 : 1009);
			return;
		}
		if (avail < need + 4 + len)
			return;
		evbuffer_drain(in, need);
		evbuffer_copyout(in, h, 4);   /* the mask */
		evbuffer_drain(in, 4);
		evbuffer_remove(in, payload, len);
		for (size_t i = 0; i < len; i++)
			payload[i] ^= h[i % 4];
		if (op == 8) {
			c->closing = 1;
			frame(bufferevent_get_output(bev), 8, payload, len >= 2 ? 2 : 0);
			bufferevent_disable(bev, EV_READ);
			return;
		}
		if (op == 9)
			frame(bufferevent_get_output(bev), 10, payload, len);
	}
}

static void on_write(struct bufferevent *bev, void *arg)
{
	struct dclient *c = arg;

	(void)bev;
	if (c->closing)
		client_free(c);   /* the close frame is out */
}

static void on_event(struct bufferevent *bev, short what, void *arg)
{
	(void)bev;
	(void)what;
	client_free(arg);
}

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	char *text = NULL;
	size_t len;

	(void)fd;
	(void)what;
	(void)arg;
	if (!nclients || !render || !(text = render(&len)))
		return;
	for (struct dclient *c = clients, *next; c; c = next) {
		struct evbuffer *out = bufferevent_get_output(c->bev);

		next = c->next;
		if (c->closing)
			continue;
		if (evbuffer_get_length(out) > DASH_MAX_QUEUED) {
			log_info("admin", "a dashboard client reads too slowly: dropped");
			client_free(c);
			continue;
		}
		frame(out, 1, text, len);
	}
	free(text);
}

int dash_adopt(struct bufferevent *bev, const char *accept_key, dash_render_fn fn)
{
	struct event_base *base = bufferevent_get_base(bev);
	struct timeval second = { 1, 0 }, wt = { 10, 0 };
	struct dclient *c;

	render = fn;
	if (nclients >= DASH_MAX || !(c = calloc(1, sizeof(*c))))
		return -1;
	if (!tick && !(tick = event_new(base, -1, EV_PERSIST, on_tick, NULL))) {
		free(c);
		return -1;
	}
	c->bev = bev;
	c->next = clients;
	if (clients)
		clients->prev = c;
	clients = c;
	nclients++;
	bufferevent_setcb(bev, on_read, on_write, on_event, c);
	bufferevent_set_timeouts(bev, NULL, &wt);   /* a reader that stops: gone */
	bufferevent_setwatermark(bev, EV_READ, 0, 2 * DASH_MAX_FRAME);
	evbuffer_add_printf(bufferevent_get_output(bev),
	                    "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\n"
	                    "Connection: Upgrade\r\nSec-WebSocket-Accept: %s\r\n\r\n", accept_key);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	if (nclients == 1)
		event_add(tick, &second);
	on_tick(-1, 0, NULL);   /* the first picture at once */
	return 0;
}

void dash_stop(void)
{
	while (clients)
		client_free(clients);
	if (tick)
		event_free(tick);
	tick = NULL;
}
