/*
 * ws_msg.h - the messages of graphql-transport-ws (the GraphQL over
 * WebSocket protocol of the npm graphql-ws library), as a client sends
 * them: parsing and checking, apart from the connection (ws.c) so that
 * they can be tested without a server.
 */
#ifndef PORTICO_GQLP_WS_MSG_H
#define PORTICO_GQLP_WS_MSG_H

#include <stddef.h>

#include <jansson.h>

/* The protocol's close codes (PROTOCOL.md). */
enum gqlp_ws_code {
	GQLP_WS_BAD_MESSAGE = 4400,     /* invalid message: reason says why */
	GQLP_WS_UNAUTHORIZED = 4401,    /* subscribe before connection_ack */
	GQLP_WS_FORBIDDEN = 4403,       /* the connection_init hook refused */
	GQLP_WS_INIT_TIMEOUT = 4408,    /* no connection_init in time */
	GQLP_WS_DUPLICATE = 4409,       /* "Subscriber for <id> already exists" */
	GQLP_WS_TOO_MANY_INITS = 4429,  /* a second connection_init */
};

/* The messages a client may send. */
enum gqlp_wsm_type {
	GQLP_WSM_INIT = 1,
	GQLP_WSM_PING = 2,
	GQLP_WSM_PONG = 3,
	GQLP_WSM_SUBSCRIBE = 4,
	GQLP_WSM_COMPLETE = 5,
};

/* One parsed client message. Pointers are borrowed from ROOT. */
struct gqlp_wsm {
	int type;                       /* enum gqlp_wsm_type */
	json_t *root;                   /* owned: json_decref when done */
	json_t *payload;                /* NULL when absent or null */
	const char *id;                 /* SUBSCRIBE, COMPLETE: non-empty */
	size_t id_len;
	/* SUBSCRIBE */
	const char *query;
	size_t query_len;
	json_t *variables;              /* an object, or NULL */
	const char *operation_name;     /* NULL when absent or null */
};

/*
 * Parses the client message DATA[0..LEN) into M. Returns 0; or -1 with *WHY
 * a static sentence for the 4400 close (not JSON, not an object, a type
 * this side does not take, a field of the wrong type), and M->root NULL.
 */
int gqlp_wsm_parse(const char *data, size_t len, struct gqlp_wsm *m, const char **why);

/*
 * Writes PREFIX, ID[0..ID_LEN) and SUFFIX into BUF as a close reason: at
 * most 123 bytes (RFC 6455), cut inside ID at a UTF-8 character boundary
 * (with "..." then). Returns the length written (BUF is NUL-terminated;
 * CAP must be at least 124).
 */
size_t gqlp_wsm_reason(char *buf, size_t cap, const char *prefix, const char *id,
                       size_t id_len, const char *suffix);

#endif
