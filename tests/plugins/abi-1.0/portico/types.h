/*
 * portico/types.h - plain types shared by the plugin ABI and the core.
 *
 * Everything here is part of the stable ABI: fixed-width integers, enums with
 * explicit values, no libevent or core structure.
 */
#ifndef PORTICO_TYPES_H
#define PORTICO_TYPES_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/* A borrowed view of bytes: not NUL-terminated unless a function says so. */
typedef struct pt_str {
	const char *ptr;
	size_t len;
} pt_str_t;

#define PT_STR(lit) ((pt_str_t){ (lit), sizeof(lit) - 1 })

/* Error codes: functions return 0 or one of these (negative). */
enum pt_err {
	PT_OK = 0,
	PT_EINVAL = -1,     /* an argument is wrong */
	PT_ENOMEM = -2,     /* out of memory */
	PT_ENOENT = -3,     /* no such key, header, route, plugin */
	PT_EEXIST = -4,     /* the name is already registered */
	PT_ESTATE = -5,     /* not allowed in the object's current state */
	PT_ENOSYS = -6,     /* not provided by this core build */
	PT_ETIMEDOUT = -7,  /* an outbound call ran out of time */
	PT_EIO = -8,        /* a peer or file failed */
	PT_ELIMIT = -9,     /* a configured limit was reached */
	PT_ETYPE = -10,     /* a config value has the wrong type */
};

/* HTTP methods as a bit set, so a route can name several. */
enum pt_method {
	PT_METHOD_UNKNOWN = 0,
	PT_METHOD_GET = 1u << 0,
	PT_METHOD_HEAD = 1u << 1,
	PT_METHOD_POST = 1u << 2,
	PT_METHOD_PUT = 1u << 3,
	PT_METHOD_DELETE = 1u << 4,
	PT_METHOD_PATCH = 1u << 5,
	PT_METHOD_OPTIONS = 1u << 6,
	PT_METHOD_CONNECT = 1u << 7,
	PT_METHOD_TRACE = 1u << 8,
	PT_METHOD_ANY = 0x1ffu,
};

/* Log levels, most severe first. */
enum pt_log_level {
	PT_LOG_ERROR = 0,
	PT_LOG_WARN = 1,
	PT_LOG_INFO = 2,
	PT_LOG_DEBUG = 3,
};

#ifdef __cplusplus
}
#endif
#endif
