/*
 * hub_frame.c - the backplane's payload framing and this process's
 * instance id. See hub_frame.h.
 */
#include <errno.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <unistd.h>

#include "hub_frame.h"

static pthread_once_t id_once = PTHREAD_ONCE_INIT;
static char instance[HUB_INSTANCE_HEX + 1];

static void id_make(void)
{
	static const char hex[] = "0123456789abcdef";
	unsigned char r[HUB_INSTANCE_HEX / 2];
	size_t got = 0;

	while (got < sizeof(r)) {
		ssize_t n = getrandom(r + got, sizeof(r) - got, 0);

		if (n > 0) {
			got += (size_t)n;
		} else if (n < 0 && errno != EINTR) {
			/* no getrandom (an old kernel): still unique per process in
			 * practice, which is all the id must be */
			struct timespec ts;
			unsigned long long x;

			clock_gettime(CLOCK_REALTIME, &ts);
			x = (unsigned long long)ts.tv_nsec ^ ((unsigned long long)ts.tv_sec << 20) ^
			    ((unsigned long long)getpid() << 40);
			for (size_t i = got; i < sizeof(r); i++) {
				x = x * 6364136223846793005ULL + 1442695040888963407ULL;
				r[i] = (unsigned char)(x >> 56);
			}
			got = sizeof(r);
		}
	}
	for (size_t i = 0; i < sizeof(r); i++) {
		instance[2 * i] = hex[r[i] >> 4];
		instance[2 * i + 1] = hex[r[i] & 15];
	}
	instance[HUB_INSTANCE_HEX] = '\0';
}

const char *hub_instance_id(void)
{
	pthread_once(&id_once, id_make);
	return instance;
}

size_t hub_frame_encode(char *out, const char *id, pt_str_t message)
{
	memcpy(out, HUB_FRAME_MAGIC, 4);
	memcpy(out + 4, id, HUB_INSTANCE_HEX);
	out[HUB_FRAME_HEAD - 1] = ':';
	if (message.len)
		memcpy(out + HUB_FRAME_HEAD, message.ptr, message.len);
	return HUB_FRAME_HEAD + message.len;
}

int hub_frame_decode(pt_str_t in, const char *own, size_t max, pt_str_t *message)
{
	const char *id;

	if (!in.ptr || in.len < HUB_FRAME_HEAD)
		return HUB_FRAME_SHORT;
	if (memcmp(in.ptr, HUB_FRAME_MAGIC, 4) != 0 || in.ptr[HUB_FRAME_HEAD - 1] != ':')
		return HUB_FRAME_MAGIC_BAD;
	id = in.ptr + 4;
	for (int i = 0; i < HUB_INSTANCE_HEX; i++)
		if (!((id[i] >= '0' && id[i] <= '9') || (id[i] >= 'a' && id[i] <= 'f')))
			return HUB_FRAME_ID_BAD;
	if (own && memcmp(id, own, HUB_INSTANCE_HEX) == 0)
		return HUB_FRAME_OWN;
	if (in.len - HUB_FRAME_HEAD > max)
		return HUB_FRAME_TOO_BIG;
	message->ptr = in.ptr + HUB_FRAME_HEAD;
	message->len = in.len - HUB_FRAME_HEAD;
	return HUB_FRAME_OK;
}

const char *hub_frame_strerror(int result)
{
	switch (result) {
	case HUB_FRAME_OK:
		return "ok";
	case HUB_FRAME_OWN:
		return "our own message";
	case HUB_FRAME_SHORT:
		return "shorter than the frame head";
	case HUB_FRAME_MAGIC_BAD:
		return "not a Portico frame (no \"pt1:<instance>:\" head)";
	case HUB_FRAME_ID_BAD:
		return "the instance id is not 32 lower-case hex digits";
	case HUB_FRAME_TOO_BIG:
		return "larger than hub.max_message";
	}
	return "unknown";
}
