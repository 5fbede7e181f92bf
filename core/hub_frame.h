/*
 * hub_frame.h - how a hub message travels through the Redis backplane: the
 * payload of a PUBLISH on <prefix><channel> is
 *
 *     "pt1:" <32 lower-case hex digits: the publishing instance> ":" <message>
 *
 * Text, so that any Redis client can inject a message for Portico's
 * subscribers (with an instance id that is not a Portico process's, such
 * as 32 zeros). The id lets an instance recognise its own messages coming
 * back and not deliver them twice.
 */
#ifndef PT_HUB_FRAME_H
#define PT_HUB_FRAME_H

#include <stddef.h>
#include <stdint.h>

#include "portico/portico.h"

#define HUB_FRAME_MAGIC "pt1:"
#define HUB_FRAME_HEAD 37          /* "pt1:" + 32 hex + ":" */
#define HUB_INSTANCE_HEX 32

enum hub_frame_result {
	HUB_FRAME_OK = 0,
	HUB_FRAME_OWN = 1,          /* ours, back from Redis: not an error */
	HUB_FRAME_SHORT = -1,
	HUB_FRAME_MAGIC_BAD = -2,
	HUB_FRAME_ID_BAD = -3,
	HUB_FRAME_TOO_BIG = -4,
};

/* This process's instance id as 32 lower-case hex digits and a NUL: 128
 * random bits drawn on the first call (thread-safe), the same until exit.
 * Never NULL. */
const char *hub_instance_id(void);

/*
 * Writes the frame of MESSAGE from instance ID (32 hex digits) to OUT, which
 * has room for HUB_FRAME_HEAD + MESSAGE.len bytes; returns the length.
 */
size_t hub_frame_encode(char *out, const char *id, pt_str_t message);

/*
 * Checks the frame IN against our instance id OWN and a largest message of
 * MAX bytes. On HUB_FRAME_OK fills *MESSAGE (borrowed from IN); else
 * returns why it is not delivered. Never reads outside IN.
 */
int hub_frame_decode(pt_str_t in, const char *own, size_t max, pt_str_t *message);

/* A short text for a negative result, for the log. */
const char *hub_frame_strerror(int result);

#endif
