/*
 * backplane.c - the hub's Redis backplane. See backplane.h.
 *
 * Threads. Publishers (workers, plugins, the main thread) only touch the
 * queue, under bp_mu, and write the eventfd when the backplane thread is
 * not already awake for them. The backplane thread owns everything else:
 * its event_base, the publishing link (PUBLISH, at most WINDOW unanswered)
 * and the subscribed link (one PSUBSCRIBE). Both links reconnect by
 * themselves (backplane_link.c).
 *
 * Up and down. The backplane is up while the publishing link is up and
 * the PSUBSCRIBE is confirmed. Leaving up logs one warning; coming back one
 * info line; failed attempts in between only debug lines.
 *
 * Timeouts. A PUBLISH unanswered for the stall time (4 x redis.timeout, at
 * least 1 s) drops the publishing link. A PSUBSCRIBE unconfirmed as long
 * drops the subscribed link. Every second the publishing link publishes a
 * heartbeat on <prefix>\x01ping; the subscribed link must see its own
 * within the stall time + 2 s, or it is dropped: a half-open connection
 * would otherwise go unnoticed until TCP keepalive gives up.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/eventfd.h>
#include <time.h>
#include <unistd.h>

#include <event2/event.h>
#include <hiredis/async.h>
#include <hiredis/hiredis.h>

#include "backplane.h"
#include "backplane_link.h"
#include "conf.h"
#include "hub.h"
#include "hub_frame.h"
#include "log.h"
#include "metrics.h"

#define WHO "hub"
#define WINDOW 256			/* PUBLISH commands unanswered at most */
#define TICK_MS 250
#define PING_EVERY_MS 1000
#define PING_CHANNEL "\x01ping"		/* after the prefix; no hub channel has \x01 */
#define MAX_CHANNEL 256
#define REPORT_EVERY_MS 10000		/* rejected messages: one log line per 10 s at most */

struct item {
	struct item *next;
	size_t clen, flen;
	char data[];			/* channel, then the frame */
};

struct backplane {
	char *key;			/* the settings as text, to compare on reload */
	char host[256];
	int port;
	char *prefix, *pattern, *ping;	/* prefix, prefix escaped + "*", prefix + PING_CHANNEL */
	size_t prefix_len, ping_len;
	unsigned stall_ms, hb_timeout_ms;
	size_t queue_max, queue_bytes_max;

	/* under bp_mu */
	struct item *head, *tail;
	size_t n, bytes;
	uint64_t dropped;		/* queue overflows, ever */
	int wake_pending;		/* publishers need not write the eventfd: it was
					   written and not read yet, or the thread
					   drains when the backplane is up again */

	/* the thread's */
	pthread_t thread;
	int efd;
	atomic_int stopping;
	struct event_base *base;
	struct event *ev_wake, *ev_tick;
	struct bp_link *pub, *sub;
	unsigned inflight;
	uint64_t quiet_since;		/* last PUBLISH reply, or the first owed */
	uint64_t ping_sent, ping_seen, sub_since;
	int sub_pending;		/* the PSUBSCRIBE is not confirmed yet */
	int subscribed;
	int up, ever_up, warned;
	uint64_t dropped_at_down;
	char *scratch;			/* prefix + channel for PUBLISH */
	size_t scratch_cap;
	uint64_t rejected, rejected_logged, last_report;
};

static pthread_mutex_t bp_mu = PTHREAD_MUTEX_INITIALIZER;
static struct backplane *active;	/* under bp_mu */
static atomic_int on;			/* active != NULL, read without the lock */
static atomic_size_t max_message = 65536;

static pt_metric *m_dropped, *m_rejected, *m_sent, *m_received, *m_up;

static uint64_t now_ms(void)
{
	struct timespec ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return (uint64_t)ts.tv_sec * 1000u + (uint64_t)ts.tv_nsec / 1000000u;
}

int backplane_channel_ok(pt_str_t ch)
{
	if (!ch.len || ch.len > MAX_CHANNEL)
		return 0;
	for (size_t i = 0; i < ch.len; i++)
		if ((unsigned char)ch.ptr[i] < 0x20 || ch.ptr[i] == 0x7f)
			return 0;
	return 1;
}

/* ---- the queue (any thread) ---------------------------------------------- */

void backplane_forward(pt_str_t channel, pt_str_t message)
{
	struct backplane *bp;
	struct item *it, *old = NULL;
	int wake = 0;

	if (!atomic_load_explicit(&on, memory_order_acquire))
		return;			/* off: the common case, without a lock */
	if (!backplane_channel_ok(channel) || message.len > atomic_load(&max_message)) {
		/* the other instances would refuse it: it stays local */
		if (m_rejected)
			metric_add(m_rejected, 1);
		log_debug(WHO, "backplane: not forwarded (channel or size out of bounds): %.*s",
		          (int)(channel.len > 64 ? 64 : channel.len), channel.ptr);
		return;
	}
	it = malloc(sizeof(*it) + channel.len + HUB_FRAME_HEAD + message.len);
	if (!it)
		return;
	it->next = NULL;
	it->clen = channel.len;
	memcpy(it->data, channel.ptr, channel.len);
	it->flen = hub_frame_encode(it->data + channel.len, hub_instance_id(), message);
	pthread_mutex_lock(&bp_mu);
	bp = active;
	if (!bp) {
		pthread_mutex_unlock(&bp_mu);
		free(it);
		return;
	}
	if (bp->tail)
		bp->tail->next = it;
	else
		bp->head = it;
	bp->tail = it;
	bp->n++;
	bp->bytes += it->clen + it->flen;
	/* bounded: the oldest go first (at most one for the count, maybe
	 * several for the bytes); the newest message itself always stays */
	while (bp->head != it && (bp->n > bp->queue_max || bp->bytes > bp->queue_bytes_max)) {
		struct item *h = bp->head;

		bp->head = h->next;
		bp->n--;
		bp->bytes -= h->clen + h->flen;
		bp->dropped++;
		h->next = old;
		old = h;
	}
	if (!bp->wake_pending) {
		bp->wake_pending = 1;
		wake = 1;
	}
	if (wake) {
		uint64_t one = 1;

		if (write(bp->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
			bp->wake_pending = 0;
	}
	pthread_mutex_unlock(&bp_mu);
	while (old) {
		struct item *next = old->next;

		free(old);
		if (m_dropped)
			metric_add(m_dropped, 1);
		old = next;
	}
}

static struct item *queue_pop(struct backplane *bp)
{
	struct item *it;

	pthread_mutex_lock(&bp_mu);
	it = bp->head;
	if (it) {
		bp->head = it->next;
		if (!bp->head)
			bp->tail = NULL;
		bp->n--;
		bp->bytes -= it->clen + it->flen;
	}
	pthread_mutex_unlock(&bp_mu);
	return it;
}

static uint64_t queue_dropped(struct backplane *bp)
{
	uint64_t d;

	pthread_mutex_lock(&bp_mu);
	d = bp->dropped;
	pthread_mutex_unlock(&bp_mu);
	return d;
}

/* ---- up and down (the backplane thread) ---------------------------------- */

static void drain(struct backplane *bp);

static void state_update(struct backplane *bp, const char *why)
{
	int up = bp_link_ac(bp->pub) && bp->subscribed;

	if (up && !bp->up) {
		uint64_t lost = queue_dropped(bp) - bp->dropped_at_down;

		bp->up = 1;
		if (!bp->ever_up)
			log_info(WHO, "backplane: connected to Redis at %s:%d, channels %s*, instance %s",
			         bp->host, bp->port, bp->prefix, hub_instance_id());
		else if (lost)
			log_info(WHO, "backplane: Redis at %s:%d is back: delivery across instances "
			         "resumed; %llu message(s) published meanwhile were dropped, the queue "
			         "being full", bp->host, bp->port, (unsigned long long)lost);
		else
			log_info(WHO, "backplane: Redis at %s:%d is back: delivery across instances "
			         "resumed", bp->host, bp->port);
		bp->ever_up = 1;
		bp->warned = 0;
		if (m_up)
			metric_set(m_up, 1);
		/* what waited is sent now that we hear Redis again */
		pthread_mutex_lock(&bp_mu);
		bp->wake_pending = 0;
		pthread_mutex_unlock(&bp_mu);
		drain(bp);
	} else if (!up && bp->up) {
		bp->up = 0;
		bp->dropped_at_down = queue_dropped(bp);
		log_warn(WHO, "backplane: lost Redis at %s:%d (%s): messages still reach this "
		         "instance's subscribers, not the other instances', until it is back "
		         "(retrying with backoff up to 5 s)", bp->host, bp->port,
		         why ? why : "unknown");
		bp->warned = 1;
		if (m_up)
			metric_set(m_up, 0);
	} else if (!up && !bp->warned && why) {
		bp->dropped_at_down = queue_dropped(bp);
		log_warn(WHO, "backplane: cannot reach Redis at %s:%d (%s): messages reach this "
		         "instance's subscribers only until it answers (retrying with backoff up "
		         "to 5 s)", bp->host, bp->port, why);
		bp->warned = 1;
	}
}

/* ---- publishing ------------------------------------------------------------ */

static void on_published(redisAsyncContext *ac, void *r, void *priv)
{
	struct bp_link *l = ac->data;
	struct backplane *bp = priv;
	redisReply *reply = r;

	if (!l || !reply)
		return;			/* the link let this context go */
	if (bp->inflight)
		bp->inflight--;
	bp->quiet_since = now_ms();
	if (reply->type == REDIS_REPLY_ERROR) {
		bp->rejected++;
		if (bp->quiet_since - bp->last_report >= REPORT_EVERY_MS) {
			bp->last_report = bp->quiet_since;
			log_warn(WHO, "backplane: Redis refused a PUBLISH: %.200s", reply->str);
		}
	}
	drain(bp);
}

static int publish(struct backplane *bp, redisAsyncContext *ac, const char *ch, size_t clen,
                   const char *frame, size_t flen)
{
	const char *argv[3] = { "PUBLISH", bp->scratch, frame };
	size_t argvlen[3] = { 7, bp->prefix_len + clen, flen };

	if (bp->prefix_len + clen > bp->scratch_cap) {
		char *s = realloc(bp->scratch, bp->prefix_len + clen);

		if (!s)
			return -1;
		bp->scratch = s;
		bp->scratch_cap = bp->prefix_len + clen;
		argv[1] = s;
	}
	memcpy(bp->scratch, bp->prefix, bp->prefix_len);
	memcpy(bp->scratch + bp->prefix_len, ch, clen);
	if (redisAsyncCommandArgv(ac, on_published, bp, 3, argv, argvlen) != REDIS_OK)
		return -1;
	if (bp->inflight++ == 0)
		bp->quiet_since = now_ms();
	return 0;
}

/*
 * Sends queued messages while the backplane is up and the window has room.
 * Up, not only the publishing link: Redis keeps no message for a subscriber
 * that is not there, and our own subscription being back is the best sign
 * that the other instances' are too.
 */
static void drain(struct backplane *bp)
{
	redisAsyncContext *ac;
	struct item *it;

	while (bp->up && (ac = bp_link_ac(bp->pub)) && bp->inflight < WINDOW &&
	       (it = queue_pop(bp))) {
		if (publish(bp, ac, it->data, it->clen, it->data + it->clen, it->flen) == 0 && m_sent)
			metric_add(m_sent, 1);
		free(it);
	}
}

static void on_wake(evutil_socket_t fd, short what, void *arg)
{
	struct backplane *bp = arg;
	uint64_t n;

	(void)what;
	if (read(fd, &n, sizeof(n)) < 0 && errno != EAGAIN)
		log_debug(WHO, "backplane: eventfd read: %s", strerror(errno));
	if (atomic_load(&bp->stopping)) {
		event_base_loopbreak(bp->base);
		return;
	}
	if (!bp->up)
		return;			/* publishers need not wake us until it is up */
	pthread_mutex_lock(&bp_mu);
	bp->wake_pending = 0;
	pthread_mutex_unlock(&bp_mu);
	drain(bp);
}

static void on_pub_link(struct bp_link *l, int up, const char *why, void *ud)
{
	struct backplane *bp = ud;

	(void)l;
	bp->inflight = 0;		/* what was in flight is lost with the link */
	if (up) {
		bp->ping_sent = 0;
		bp->ping_seen = now_ms();
	}
	state_update(bp, why);
}

/* ---- subscribing ----------------------------------------------------------- */

static void reject(struct backplane *bp, const char *why, pt_str_t ch)
{
	uint64_t now = now_ms();

	bp->rejected++;
	if (m_rejected)
		metric_add(m_rejected, 1);
	if (now - bp->last_report < REPORT_EVERY_MS)
		return;
	log_warn(WHO, "backplane: dropped a message from Redis on channel \"%.*s\": %s "
	         "(%llu dropped since the last report)", (int)(ch.len > 80 ? 80 : ch.len), ch.ptr,
	         why, (unsigned long long)(bp->rejected - bp->rejected_logged));
	bp->last_report = now;
	bp->rejected_logged = bp->rejected;
}

static void on_pmessage(struct backplane *bp, const redisReply *chr, const redisReply *payr)
{
	pt_str_t ch, msg;
	int rc;

	if (chr->type != REDIS_REPLY_STRING || payr->type != REDIS_REPLY_STRING ||
	    chr->len < bp->prefix_len || memcmp(chr->str, bp->prefix, bp->prefix_len) != 0)
		return;			/* not a message on our pattern */
	ch = (pt_str_t){ chr->str + bp->prefix_len, chr->len - bp->prefix_len };
	rc = hub_frame_decode((pt_str_t){ payr->str, payr->len }, hub_instance_id(),
	                      atomic_load(&max_message), &msg);
	if (chr->len == bp->ping_len && memcmp(chr->str, bp->ping, bp->ping_len) == 0) {
		if (rc == HUB_FRAME_OWN)
			bp->ping_seen = now_ms();
		return;			/* another instance's heartbeat */
	}
	if (rc == HUB_FRAME_OWN)
		return;			/* delivered here when it was published */
	if (rc != HUB_FRAME_OK) {
		reject(bp, hub_frame_strerror(rc), ch);
		return;
	}
	if (!backplane_channel_ok(ch)) {
		reject(bp, "the channel name is empty, longer than 256 bytes or has a control "
		       "character", ch);
		return;
	}
	if (m_received)
		metric_add(m_received, 1);
	hub_publish_local(ch, msg);
}

static void on_sub_reply(redisAsyncContext *ac, void *r, void *priv)
{
	struct backplane *bp = priv;
	redisReply *reply = r, **e;

	if (!ac->data || !reply)
		return;
	if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 3)
		return;
	e = reply->element;
	if (e[0]->type != REDIS_REPLY_STRING)
		return;
	if (!strcasecmp(e[0]->str, "pmessage") && reply->elements == 4) {
		on_pmessage(bp, e[2], e[3]);
	} else if (!strcasecmp(e[0]->str, "psubscribe") && bp->sub_pending) {
		bp->sub_pending = 0;
		bp->subscribed = 1;
		bp->ping_seen = now_ms();
		state_update(bp, NULL);
	}
}

static void on_sub_link(struct bp_link *l, int up, const char *why, void *ud)
{
	struct backplane *bp = ud;

	bp->subscribed = 0;
	bp->sub_pending = 0;
	if (up) {
		const char *argv[2] = { "PSUBSCRIBE", bp->pattern };

		/* this may run inside hiredis' connect callback, where the context
		 * must not be freed: if queueing fails (no memory), the tick's
		 * confirmation timeout drops the link */
		if (redisAsyncCommandArgv(bp_link_ac(l), on_sub_reply, bp, 2, argv, NULL) != REDIS_OK)
			log_debug(WHO, "backplane: cannot queue PSUBSCRIBE");
		bp->sub_pending = 1;
		bp->sub_since = now_ms();
	}
	state_update(bp, why);
}

/* ---- timers ------------------------------------------------------------------ */

static void on_tick(evutil_socket_t fd, short what, void *arg)
{
	struct backplane *bp = arg;
	redisAsyncContext *ac = bp_link_ac(bp->pub);
	uint64_t now = now_ms();
	char why[96];

	(void)fd;
	(void)what;
	if (ac && bp->inflight && now - bp->quiet_since >= bp->stall_ms) {
		snprintf(why, sizeof(why), "no reply to PUBLISH for %llu ms",
		         (unsigned long long)(now - bp->quiet_since));
		bp_link_fail(bp->pub, why);
		ac = NULL;
	}
	if (bp->sub_pending && now - bp->sub_since >= bp->stall_ms) {
		snprintf(why, sizeof(why), "PSUBSCRIBE not confirmed within %u ms", bp->stall_ms);
		bp_link_fail(bp->sub, why);
	}
	/* past the window if need be: under a steady load the window stays full,
	 * and a heartbeat held back would drop a healthy subscription */
	if (ac && bp->subscribed && now - bp->ping_sent >= PING_EVERY_MS) {
		char frame[HUB_FRAME_HEAD];

		hub_frame_encode(frame, hub_instance_id(), (pt_str_t){ "", 0 });
		if (publish(bp, ac, PING_CHANNEL, sizeof(PING_CHANNEL) - 1, frame, sizeof(frame)) == 0)
			bp->ping_sent = now;
	}
	if (ac && bp->subscribed && now - bp->ping_seen >= bp->hb_timeout_ms) {
		snprintf(why, sizeof(why), "no heartbeat came back through Redis for %llu ms",
		         (unsigned long long)(now - bp->ping_seen));
		bp_link_fail(bp->sub, why);
	}
}

/* ---- life -------------------------------------------------------------------- */

static void *thread_main(void *arg)
{
	struct backplane *bp = arg;

	bp_link_start(bp->pub);
	bp_link_start(bp->sub);
	event_base_dispatch(bp->base);
	return NULL;
}

static void bp_free(struct backplane *bp)
{
	struct item *it;

	if (!bp)
		return;
	bp_link_free(bp->pub);
	bp_link_free(bp->sub);
	if (bp->ev_wake)
		event_free(bp->ev_wake);
	if (bp->ev_tick)
		event_free(bp->ev_tick);
	if (bp->base)
		event_base_free(bp->base);
	if (bp->efd >= 0)
		close(bp->efd);
	while ((it = bp->head)) {
		bp->head = it->next;
		free(it);
	}
	free(bp->key);
	free(bp->prefix);
	free(bp->pattern);
	free(bp->ping);
	free(bp->scratch);
	free(bp);
}

/* The settings the backplane is made of, as one malloc'd string (or NULL). */
static char *settings_key(const struct config *cfg)
{
	const struct redis_conf *rc = &cfg->redis;
	char *key;

	if (asprintf(&key, "%s|%d|%s|%d|%.3f|%.3f|%s|%u|%zu", rc->host, rc->port,
	             rc->password ? rc->password : "", rc->db, rc->timeout, rc->connect_timeout,
	             cfg->hub_prefix, cfg->hub_backplane_queue,
	             cfg->hub_backplane_queue_bytes) < 0)
		return NULL;
	return key;
}

/* PSUBSCRIBE takes a glob: the prefix's own *?[]\ must match themselves. */
static char *pattern_of(const char *prefix)
{
	char *p = malloc(2 * strlen(prefix) + 2), *o = p;

	if (!p)
		return NULL;
	for (const char *s = prefix; *s; s++) {
		if (strchr("*?[]\\", *s))
			*o++ = '\\';
		*o++ = *s;
	}
	*o++ = '*';
	*o = '\0';
	return p;
}

static struct backplane *bp_new(const struct config *cfg, char *err, size_t errlen)
{
	const struct redis_conf *rc = &cfg->redis;
	struct redis_opts o = {
		.host = rc->host, .port = rc->port, .password = rc->password, .db = rc->db,
		.connect_timeout_ms = (unsigned)(rc->connect_timeout * 1000),
	};
	struct timeval tick = { 0, TICK_MS * 1000 };
	struct backplane *bp = calloc(1, sizeof(*bp));
	unsigned timeout_ms = (unsigned)(rc->timeout * 1000);

	if (!bp) {
		snprintf(err, errlen, "out of memory");
		return NULL;
	}
	bp->efd = -1;
	bp->key = settings_key(cfg);
	snprintf(bp->host, sizeof(bp->host), "%s", rc->host);
	bp->port = rc->port;
	bp->prefix = strdup(cfg->hub_prefix);
	bp->pattern = pattern_of(cfg->hub_prefix);
	bp->prefix_len = strlen(cfg->hub_prefix);
	bp->ping_len = bp->prefix_len + sizeof(PING_CHANNEL) - 1;
	bp->ping = malloc(bp->ping_len + 1);
	if (bp->ping)
		snprintf(bp->ping, bp->ping_len + 1, "%s%s", cfg->hub_prefix, PING_CHANNEL);
	bp->stall_ms = timeout_ms * 4 > 1000 ? timeout_ms * 4 : 1000;
	bp->hb_timeout_ms = bp->stall_ms + 2000;
	bp->queue_max = cfg->hub_backplane_queue;
	bp->queue_bytes_max = cfg->hub_backplane_queue_bytes;
	if (!bp->key || !bp->prefix || !bp->pattern || !bp->ping) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	bp->efd = eventfd(0, EFD_NONBLOCK | EFD_CLOEXEC);
	if (bp->efd < 0) {
		snprintf(err, errlen, "eventfd: %s", strerror(errno));
		goto fail;
	}
	bp->base = event_base_new();
	if (bp->base) {
		bp->ev_wake = event_new(bp->base, bp->efd, EV_READ | EV_PERSIST, on_wake, bp);
		bp->ev_tick = event_new(bp->base, -1, EV_PERSIST, on_tick, bp);
		bp->pub = bp_link_new(bp->base, &o, "publishing", on_pub_link, bp);
		bp->sub = bp_link_new(bp->base, &o, "subscribed", on_sub_link, bp);
	}
	if (!bp->base || !bp->ev_wake || !bp->ev_tick || !bp->pub || !bp->sub ||
	    event_add(bp->ev_wake, NULL) != 0 || event_add(bp->ev_tick, &tick) != 0) {
		snprintf(err, errlen, "out of memory");
		goto fail;
	}
	return bp;
fail:
	bp_free(bp);
	return NULL;
}

static int bp_start(const struct config *cfg, char *err, size_t errlen)
{
	struct backplane *bp = bp_new(cfg, err, errlen);
	sigset_t all, old;
	int rc;

	if (!bp)
		return -1;
	/* made before ON is set, which publishers read with acquire */
	m_dropped = metric_new(METRIC_COUNTER, "portico_hub_backplane_dropped_total",
	                       "Hub messages dropped before reaching Redis, the backplane's "
	                       "queue being full");
	m_rejected = metric_new(METRIC_COUNTER, "portico_hub_backplane_rejected_total",
	                        "Hub messages refused by the backplane: malformed or oversized "
	                        "from Redis, or out of bounds to send");
	m_sent = metric_new(METRIC_COUNTER, "portico_hub_backplane_published_total",
	                    "Hub messages sent to Redis");
	m_received = metric_new(METRIC_COUNTER, "portico_hub_backplane_received_total",
	                        "Hub messages from other instances delivered here");
	m_up = metric_new(METRIC_GAUGE, "portico_hub_backplane_up",
	                  "1 while the hub's Redis backplane is connected and subscribed");
	if (m_up)
		metric_set(m_up, 0);
	/* signals are the main thread's */
	sigfillset(&all);
	pthread_sigmask(SIG_BLOCK, &all, &old);
	rc = pthread_create(&bp->thread, NULL, thread_main, bp);
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (rc != 0) {
		snprintf(err, errlen, "cannot start its thread: %s", strerror(rc));
		bp_free(bp);
		return -1;
	}
	pthread_setname_np(bp->thread, "pt-backplane");
	pthread_mutex_lock(&bp_mu);
	active = bp;
	atomic_store(&on, 1);
	pthread_mutex_unlock(&bp_mu);
	return 0;
}

void backplane_stop(void)
{
	struct backplane *bp;
	uint64_t one = 1;

	pthread_mutex_lock(&bp_mu);
	bp = active;
	active = NULL;
	atomic_store(&on, 0);
	pthread_mutex_unlock(&bp_mu);
	if (!bp)
		return;
	/* no publisher can reach BP now: only its thread is left */
	atomic_store(&bp->stopping, 1);
	if (write(bp->efd, &one, sizeof(one)) < 0 && errno != EAGAIN)
		log_error(WHO, "backplane: cannot wake its thread: %s", strerror(errno));
	pthread_join(bp->thread, NULL);
	if (bp->n)
		log_info(WHO, "backplane: stopped, %zu queued message(s) not sent", bp->n);
	else
		log_debug(WHO, "backplane: stopped");
	if (m_up)
		metric_set(m_up, 0);
	bp_free(bp);
}

int backplane_apply(const struct config *cfg, char *err, size_t errlen)
{
	char *key;
	int same;

	atomic_store(&max_message, cfg->hub_max_message);
	if (!cfg->hub_backplane || !cfg->redis.host) {
		backplane_stop();
		return 0;
	}
	hub_instance_id();		/* drawn now, not on the first message */
	key = settings_key(cfg);
	pthread_mutex_lock(&bp_mu);
	same = key && active && !strcmp(active->key, key);
	pthread_mutex_unlock(&bp_mu);
	free(key);
	if (same)
		return 0;
	backplane_stop();
	return bp_start(cfg, err, errlen);
}
