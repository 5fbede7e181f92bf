/*
 * hub.c - in-process pub/sub. The subscriber list is guarded by one mutex:
 * publishing is not on the request hot path. Each delivery is a task posted
 * to the subscriber's worker carrying a reference-counted copy of the
 * message, so one publish copies the message once.
 *
 * With a Redis backplane, hub_publish also hands the message to it
 * (backplane.c) after local delivery; what comes from other instances goes
 * through hub_publish_local, which does not.
 *
 * Every message gets an id when it is published (hub_message_id), one
 * counter for all channels: ids increase in publish order and agree on
 * every worker, which is what lets an SSE client resume on another worker.
 */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "backplane.h"
#include "hub.h"
#include "worker.h"

struct msg {
	atomic_uint refs;
	uint64_t id;          /* hub_message_id() while it is delivered */
	size_t clen, mlen;
	char data[];          /* channel, NUL, message, NUL */
};

struct pt_sub {
	struct pt_sub *next;
	pt_worker *w;
	char *channel;
	size_t len;
	int prefix;           /* "name.*": every channel starting with "name." */
	pt_hub_fn fn;
	void *ud;
	atomic_int live;      /* 0 once unsubscribed: queued deliveries are dropped */
	atomic_uint refs;     /* the list + queued deliveries */
};

struct delivery {
	struct pt_sub *sub;
	struct msg *msg;
};

static pthread_mutex_t hub_mu = PTHREAD_MUTEX_INITIALIZER;
static struct pt_sub *subs;
static uint64_t last_id;                      /* under hub_mu */
static _Thread_local uint64_t delivering;     /* the id deliver() is handing out */

static void msg_unref(struct msg *m)
{
	if (atomic_fetch_sub(&m->refs, 1) == 1)
		free(m);
}

static void sub_unref(struct pt_sub *s)
{
	if (atomic_fetch_sub(&s->refs, 1) == 1) {
		free(s->channel);
		free(s);
	}
}

static void deliver(void *ud)
{
	struct delivery *d = ud;

	delivering = d->msg->id;
	if (atomic_load(&d->sub->live))
		d->sub->fn(d->sub->w, (pt_str_t){ d->msg->data, d->msg->clen },
		           (pt_str_t){ d->msg->data + d->msg->clen + 1, d->msg->mlen }, d->sub->ud);
	delivering = 0;
	msg_unref(d->msg);
	sub_unref(d->sub);
	free(d);
}

uint64_t hub_message_id(void)
{
	uint64_t id = delivering;

	if (!id) {
		pthread_mutex_lock(&hub_mu);
		id = last_id;
		pthread_mutex_unlock(&hub_mu);
	}
	return id;
}

static int matches(const struct pt_sub *s, pt_str_t ch)
{
	if (s->prefix)
		return ch.len >= s->len && memcmp(ch.ptr, s->channel, s->len) == 0;
	return ch.len == s->len && memcmp(ch.ptr, s->channel, s->len) == 0;
}

int hub_publish_local(pt_str_t channel, pt_str_t message)
{
	struct msg *m;
	int n = 0;

	if (!channel.len)
		return PT_EINVAL;
	m = malloc(sizeof(*m) + channel.len + message.len + 2);
	if (!m)
		return PT_ENOMEM;
	atomic_init(&m->refs, 1);
	m->clen = channel.len;
	m->mlen = message.len;
	memcpy(m->data, channel.ptr, channel.len);
	m->data[channel.len] = '\0';
	if (message.len)
		memcpy(m->data + channel.len + 1, message.ptr, message.len);
	m->data[channel.len + 1 + message.len] = '\0';
	pthread_mutex_lock(&hub_mu);
	/* taken under the lock that orders the posts: every worker's queue sees
	 * the messages in id order */
	m->id = ++last_id;
	for (struct pt_sub *s = subs; s; s = s->next) {
		struct delivery *d;

		if (!matches(s, channel) || !(d = malloc(sizeof(*d))))
			continue;
		d->sub = s;
		d->msg = m;
		atomic_fetch_add(&s->refs, 1);
		atomic_fetch_add(&m->refs, 1);
		if (worker_post(s->w, deliver, d) != 0) {
			atomic_fetch_sub(&s->refs, 1);
			atomic_fetch_sub(&m->refs, 1);
			free(d);
			continue;
		}
		n++;
	}
	pthread_mutex_unlock(&hub_mu);
	msg_unref(m);
	return n;
}

int hub_publish(pt_str_t channel, pt_str_t message)
{
	int n = hub_publish_local(channel, message);

	if (n >= 0)
		backplane_forward(channel, message);
	return n;
}

pt_sub *hub_subscribe(pt_worker *w, pt_str_t channel, pt_hub_fn fn, void *ud)
{
	struct pt_sub *s;

	if (!w || !fn || !channel.len || !(s = calloc(1, sizeof(*s))))
		return NULL;
	s->prefix = channel.len >= 2 && channel.ptr[channel.len - 1] == '*' &&
	            channel.ptr[channel.len - 2] == '.';
	s->len = s->prefix ? channel.len - 1 : channel.len;   /* keep the '.' */
	s->channel = malloc(s->len + 1);
	if (!s->channel) {
		free(s);
		return NULL;
	}
	memcpy(s->channel, channel.ptr, s->len);
	s->channel[s->len] = '\0';
	s->w = w;
	s->fn = fn;
	s->ud = ud;
	atomic_init(&s->live, 1);
	atomic_init(&s->refs, 1);
	pthread_mutex_lock(&hub_mu);
	s->next = subs;
	subs = s;
	pthread_mutex_unlock(&hub_mu);
	return s;
}

void hub_unsubscribe(pt_sub *s)
{
	struct pt_sub **pp;

	if (!s)
		return;
	atomic_store(&s->live, 0);
	pthread_mutex_lock(&hub_mu);
	for (pp = &subs; *pp && *pp != s; pp = &(*pp)->next)
		;
	if (*pp)
		*pp = s->next;
	pthread_mutex_unlock(&hub_mu);
	sub_unref(s);
}
