/*
 * sse.c - Server-Sent Events endpoints fed by the hub.
 *
 * Each worker keeps, per channel, one hub subscription and a replay buffer
 * of the channel's last messages (at most `replay` of them and
 * `replay_bytes` bytes, the largest any endpoint of the channel asked for).
 * A stream is an open GET of an endpoint: it is listed on each of its
 * channels, so one publish is copied once into the buffer and framed once
 * for all the worker's streams.
 *
 * Every message carries the id the hub gave it at publish
 * (hub_message_id): one counter over all channels, so ids increase on
 * each channel, and every worker frames the same message with the same id.
 * A client that reconnects with Last-Event-ID L gets the buffered messages
 * with ids above L. The buffer is complete above its floor: the last id
 * published before the worker subscribed, or the last id it evicted. An L
 * below the floor (or above the last id published: the daemon restarted)
 * means messages may be lost: the stream then starts with
 *
 *     event: reset\ndata: <channel>\n\n
 *
 * for each such channel, followed by what the buffer still holds.
 *
 * The workers subscribe to every channel an sse.endpoint named when the
 * scripts loaded as they start, so their buffers hold the same messages;
 * a channel first seen later (a reload) starts on a worker with its first
 * request there.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "wsp.h"

struct msg {
	uint64_t id;
	size_t len;
	char data[];
};

struct stream;

struct tap {                      /* a stream on one channel */
	struct tap *prev, *next;      /* the channel's streams */
	struct stream *s;
	struct chan *c;
};

struct chan {
	struct chan *next;            /* the worker's channels */
	struct wsp_worker *ww;
	char *name;
	size_t len;
	pt_sub *sub;
	uint64_t floor;               /* every message above it is (or was) here */
	struct msg **ring;            /* the last messages, oldest at head */
	unsigned cap, head, n;
	size_t bytes, max_bytes;
	struct tap *taps;
	unsigned ntaps;
};

struct stream {
	struct stream *prev, *next;   /* the worker's streams */
	struct wsp_worker *ww;
	pt_exchange *x;               /* referenced */
	pt_timer *beat;
	struct tap taps[WSP_MAX_CHANNELS];
	unsigned ntaps;
	int multi;                    /* more than one channel: `event:` lines */
	unsigned long sent;
	pt_str_t path;
};

struct wsp_worker {
	pt_worker *w;
	struct chan *chans;
	struct stream *streams;
	unsigned nstreams;
};

static const struct pt_api *api(void)
{
	return wsp_api;
}

/* ---- framing ------------------------------------------------------------- */

struct buf {
	char *p;
	size_t n, cap;
	int oom;
};

static void put(struct buf *b, const char *p, size_t n)
{
	if (b->oom)
		return;
	if (b->n + n > b->cap) {
		size_t cap = b->cap ? b->cap : 256;
		char *q;

		while (cap < b->n + n)
			cap *= 2;
		if (!(q = realloc(b->p, cap))) {
			b->oom = 1;
			return;
		}
		b->p = q;
		b->cap = cap;
	}
	memcpy(b->p + b->n, p, n);
	b->n += n;
}

/*
 * One event: `id:`, `event: CHANNEL` when NAMED, and a `data:` line per
 * line of the message (CRLF, LF and CR end lines, as the SSE parser reads
 * them), so a multi-line message arrives whole.
 */
static void frame(struct buf *b, const struct chan *c, const struct msg *m, int named)
{
	char id[32];
	size_t i = 0, start = 0;

	put(b, id, (size_t)snprintf(id, sizeof(id), "id: %llu\n", (unsigned long long)m->id));
	if (named) {
		put(b, "event: ", 7);
		put(b, c->name, c->len);
		put(b, "\n", 1);
	}
	for (;;) {
		if (i == m->len || m->data[i] == '\n' || m->data[i] == '\r') {
			put(b, "data: ", 6);
			put(b, m->data + start, i - start);
			put(b, "\n", 1);
			if (i == m->len)
				break;
			if (m->data[i] == '\r' && i + 1 < m->len && m->data[i + 1] == '\n')
				i++;
			start = ++i;
			continue;
		}
		i++;
	}
	put(b, "\n", 1);
}

/* ---- streams --------------------------------------------------------------- */

static void tap_unlink(struct tap *t)
{
	if (!t->c)
		return;
	if (t->prev)
		t->prev->next = t->next;
	else
		t->c->taps = t->next;
	if (t->next)
		t->next->prev = t->prev;
	t->c->ntaps--;
	t->c = NULL;
}

/*
 * Ends S and frees it: off its channels (the channels' subscriptions stay,
 * for the replay buffers), the timer gone, the response finished unless the
 * client left, the exchange let go.
 */
static void stream_close(struct stream *s, const char *why)
{
	struct wsp_worker *ww = s->ww;

	for (unsigned i = 0; i < s->ntaps; i++)
		tap_unlink(&s->taps[i]);
	if (s->prev)
		s->prev->next = s->next;
	else
		ww->streams = s->next;
	if (s->next)
		s->next->prev = s->prev;
	ww->nstreams--;
	api()->timer_free(s->beat);
	api()->exchange_on_abort(s->x, NULL, NULL);
	if (!api()->exchange_aborted(s->x))
		api()->exchange_finish(s->x);
	api()->log(wsp_ctx, PT_LOG_DEBUG, "sse stream on %.*s ended (%s) after %lu event(s); "
	           "%u stream(s) left on worker %u", (int)s->path.len, s->path.ptr, why, s->sent,
	           ww->nstreams, api()->worker_id(ww->w));
	api()->exchange_unref(s->x);
	free(s);
}

/* Writes to S; 0, or -1 when its client is gone (S is then closed). */
static int stream_put(struct stream *s, const char *p, size_t n)
{
	if (api()->exchange_aborted(s->x) || api()->exchange_write(s->x, p, n) != 0) {
		stream_close(s, "the client left");
		return -1;
	}
	return 0;
}

static void on_abort(void *ud)
{
	stream_close(ud, "the client left");
}

static void on_beat(void *ud)
{
	stream_put(ud, ":\n\n", 3);
}

/* ---- channels ------------------------------------------------------------- */

static void msg_drop_oldest(struct chan *c)
{
	struct msg *m = c->ring[c->head];

	c->floor = m->id;
	c->bytes -= m->len;
	free(m);
	c->head = (c->head + 1) % c->cap;
	c->n--;
}

/* A hub message on C's channel, on C's worker. */
static void on_message(pt_worker *w, pt_str_t channel, pt_str_t message, void *ud)
{
	struct chan *c = ud;
	struct buf b[2] = { { 0 }, { 0 } };   /* framed without and with `event:` */
	struct msg *m;
	struct tap *t, *next;

	(void)w;
	(void)channel;
	if (!(m = malloc(sizeof(*m) + message.len + 1))) {
		api()->log(wsp_ctx, PT_LOG_ERROR, "sse: out of memory: a message on %s is lost",
		           c->name);
		return;
	}
	m->id = api()->hub_message_id();
	m->len = message.len;
	memcpy(m->data, message.ptr, message.len);
	m->data[message.len] = '\0';
	for (t = c->taps; t; t = next) {
		struct buf *f = &b[t->s->multi];

		next = t->next;   /* the stream may close: only its own tap goes */
		if (!f->n && !f->oom)
			frame(f, c, m, t->s->multi);
		if (f->oom) {
			stream_close(t->s, "out of memory");
			continue;
		}
		if (stream_put(t->s, f->p, f->n) == 0)
			t->s->sent++;
	}
	free(b[0].p);
	free(b[1].p);
	/* into the replay buffer. A message over its byte bound is not kept,
	 * and neither is anything older: the buffer stays gapless above its floor */
	if (!c->cap || m->len > c->max_bytes) {
		while (c->n)
			msg_drop_oldest(c);
		c->floor = m->id;
		free(m);
		return;
	}
	while (c->n && (c->n == c->cap || c->bytes + m->len > c->max_bytes))
		msg_drop_oldest(c);
	c->ring[(c->head + c->n) % c->cap] = m;
	c->n++;
	c->bytes += m->len;
}

/* Grows C's bounds to REPLAY messages and MAX_BYTES (never shrinks). 0/-1. */
static int chan_grow(struct chan *c, unsigned replay, size_t max_bytes)
{
	if (max_bytes > c->max_bytes)
		c->max_bytes = max_bytes;
	if (replay > c->cap) {
		struct msg **ring = calloc(replay, sizeof(*ring));

		if (!ring)
			return -1;
		for (unsigned i = 0; i < c->n; i++)
			ring[i] = c->ring[(c->head + i) % c->cap];
		free(c->ring);
		c->ring = ring;
		c->head = 0;
		c->cap = replay;
	}
	return 0;
}

/* WW's channel NAME, made (and subscribed) when absent; NULL on failure. */
static struct chan *chan_get(struct wsp_worker *ww, pt_str_t name, unsigned replay,
                             size_t max_bytes)
{
	struct chan *c;

	for (c = ww->chans; c; c = c->next)
		if (c->len == name.len && !memcmp(c->name, name.ptr, name.len))
			return chan_grow(c, replay, max_bytes) == 0 ? c : NULL;
	if (!(c = calloc(1, sizeof(*c))) || !(c->name = strndup(name.ptr, name.len)) ||
	    chan_grow(c, replay, max_bytes) != 0) {
		if (c)
			free(c->name);
		free(c);
		return NULL;
	}
	c->len = name.len;
	c->ww = ww;
	if (!(c->sub = api()->hub_subscribe(ww->w, name, on_message, c))) {
		free(c->ring);
		free(c->name);
		free(c);
		return NULL;
	}
	c->floor = api()->hub_message_id();   /* after subscribing: see api.h */
	c->next = ww->chans;
	ww->chans = c;
	return c;
}

static void chan_free(struct chan *c)
{
	api()->hub_unsubscribe(c->sub);
	while (c->n)
		msg_drop_oldest(c);
	free(c->ring);
	free(c->name);
	free(c);
}

static void registered(pt_str_t channel, unsigned replay, size_t replay_bytes, void *ud)
{
	struct wsp_worker *ww = ud;

	if (!chan_get(ww, channel, replay, replay_bytes))
		api()->log(wsp_ctx, PT_LOG_ERROR, "sse: cannot buffer channel %.*s on worker %u "
		           "(out of memory)", (int)channel.len, channel.ptr, api()->worker_id(ww->w));
}

struct wsp_worker *wsp_worker_new(pt_worker *w)
{
	struct wsp_worker *ww = calloc(1, sizeof(*ww));

	if (!ww)
		return NULL;
	ww->w = w;
	wsp_registry_each(registered, ww);
	return ww;
}

/* The worker stops (the daemon's shutdown): every stream ends, then the
 * channels. */
void wsp_worker_free(struct wsp_worker *ww)
{
	if (!ww)
		return;
	while (ww->streams)
		stream_close(ww->streams, "the worker stops");
	while (ww->chans) {
		struct chan *c = ww->chans;

		ww->chans = c->next;
		chan_free(c);
	}
	free(ww);
}

/* ---- the handler ------------------------------------------------------------ */

/* Last-Event-ID as a number; 0 and *HAVE 0 when absent or not a decimal id. */
static uint64_t last_event_id(pt_exchange *x, int *have)
{
	pt_str_t v;
	uint64_t id = 0;

	*have = 0;
	if (api()->exchange_header(x, PT_STR("last-event-id"), 0, &v) != 0 || !v.len ||
	    v.len > 19)
		return 0;
	for (size_t i = 0; i < v.len; i++) {
		if (v.ptr[i] < '0' || v.ptr[i] > '9')
			return 0;
		id = id * 10 + (uint64_t)(v.ptr[i] - '0');
	}
	*have = 1;
	return id;
}

/*
 * Sends S what it missed after LAST: a reset for each channel whose buffer
 * cannot say, then the buffered messages above LAST (at most REPLAY per
 * channel), in id order across channels. 0, or -1 when S was closed.
 */
static int replay_since(struct stream *s, uint64_t last, unsigned replay)
{
	unsigned pos[WSP_MAX_CHANNELS];
	uint64_t newest = api()->hub_message_id();
	struct buf b = { 0 };

	for (unsigned i = 0; i < s->ntaps; i++) {
		struct chan *c = s->taps[i].c;
		unsigned skip = c->n > replay ? c->n - replay : 0;
		uint64_t floor = skip ? c->ring[(c->head + skip - 1) % c->cap]->id : c->floor;

		pos[i] = skip;
		while (pos[i] < c->n && c->ring[(c->head + pos[i]) % c->cap]->id <= last)
			pos[i]++;
		if (last < floor || last > newest) {
			put(&b, "event: reset\ndata: ", 19);
			put(&b, c->name, c->len);
			put(&b, "\n\n", 2);
			if (last > newest)   /* ids restarted: the whole buffer is new to it */
				pos[i] = skip;
		}
	}
	for (;;) {
		int best = -1;
		const struct msg *bm = NULL;

		for (unsigned i = 0; i < s->ntaps; i++) {
			struct chan *c = s->taps[i].c;
			const struct msg *m;

			if (pos[i] >= c->n)
				continue;
			m = c->ring[(c->head + pos[i]) % c->cap];
			if (!bm || m->id < bm->id) {
				bm = m;
				best = (int)i;
			}
		}
		if (best < 0)
			break;
		frame(&b, s->taps[best].c, bm, s->multi);
		pos[best]++;
		s->sent++;
	}
	if (b.oom) {
		free(b.p);
		stream_close(s, "out of memory");
		return -1;
	}
	if (b.n && stream_put(s, b.p, b.n) != 0) {
		free(b.p);
		return -1;
	}
	free(b.p);
	return 0;
}

static uint64_t ms_of(double secs)
{
	return secs < 0.001 ? 1 : (uint64_t)(secs * 1000.0 + 0.5);
}

int wsp_sse_handle(pt_exchange *x, const pt_conf *opts, void *ud)
{
	pt_worker *w = api()->exchange_worker(x);
	struct wsp_worker *ww = api()->worker_get_data(wsp_ctx, w);
	struct wsp_opts o;
	struct stream *s;
	uint64_t last;
	int have_last;
	char err[256];

	(void)ud;
	if (wsp_opts_read(opts, &o, err, sizeof(err)) != 0) {
		api()->log(wsp_ctx, PT_LOG_ERROR, "sse endpoint %.*s: %s",
		           (int)api()->exchange_path(x).len, api()->exchange_path(x).ptr, err);
		return PT_EINVAL;
	}
	if (!ww || !(s = calloc(1, sizeof(*s))))
		return PT_ENOMEM;
	s->ww = ww;
	s->x = x;
	s->path = api()->exchange_path(x);   /* lives as long as X */
	for (unsigned i = 0; i < o.nchannels; i++) {
		struct chan *c = chan_get(ww, o.channels[i], o.replay, o.replay_bytes);
		int dup = 0;

		if (!c) {
			for (unsigned j = 0; j < s->ntaps; j++)
				tap_unlink(&s->taps[j]);
			free(s);
			return PT_ENOMEM;
		}
		for (unsigned j = 0; j < s->ntaps; j++)
			dup |= s->taps[j].c == c;
		if (dup)
			continue;
		s->taps[s->ntaps] = (struct tap){ NULL, c->taps, s, c };
		if (c->taps)
			c->taps->prev = &s->taps[s->ntaps];
		c->taps = &s->taps[s->ntaps];
		c->ntaps++;
		s->ntaps++;
	}
	s->multi = s->ntaps > 1;   /* a channel named twice counts once */
	api()->exchange_ref(x);
	s->next = ww->streams;
	if (s->next)
		s->next->prev = s;
	ww->streams = s;
	ww->nstreams++;
	api()->exchange_header_set(x, PT_STR("content-type"), PT_STR("text/event-stream; charset=utf-8"));
	api()->exchange_header_set(x, PT_STR("cache-control"), PT_STR("no-cache"));
	api()->exchange_header_set(x, PT_STR("x-accel-buffering"), PT_STR("no"));
	api()->exchange_status_set(x, 200);
	if (api()->exchange_method(x) == PT_METHOD_HEAD) {
		stream_close(s, "HEAD");
		return 0;
	}
	if (api()->exchange_on_abort(x, on_abort, s) != 0) {   /* gone already */
		stream_close(s, "the client left");
		return 0;
	}
	/* the headers go out now: a client that has them is subscribed */
	if (stream_put(s, ":\n\n", 3) != 0)
		return 0;
	last = last_event_id(x, &have_last);
	if (have_last && replay_since(s, last, o.replay) != 0)
		return 0;
	if (o.heartbeat > 0 && (s->beat = api()->timer_new(w, on_beat, s)))
		api()->timer_start(s->beat, ms_of(o.heartbeat), 1);
	api()->log(wsp_ctx, PT_LOG_DEBUG, "sse stream on %.*s started on worker %u (%u stream(s))",
	           (int)s->path.len, s->path.ptr, api()->worker_id(w), ww->nstreams);
	return 0;
}
