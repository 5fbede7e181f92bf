/*
 * ws_msg.c - parsing graphql-transport-ws client messages (see ws_msg.h).
 *
 * The checks follow PROTOCOL.md and what the graphql-ws library's own
 * server accepts: every message is a JSON object with a string `type`;
 * connection_init, ping and pong may carry an object payload (or null, or
 * none); subscribe needs a non-empty string id and a payload object with a
 * string query, variables and extensions objects or null, operationName a
 * string or null; complete needs a non-empty string id. Messages only a
 * server sends (connection_ack, next, error) and unknown types are invalid
 * here: the connection closes with 4400.
 */
#include <string.h>

#include "ws_msg.h"

static int is_nullish(const json_t *v)
{
	return !v || json_is_null(v);
}

static int read_id(struct gqlp_wsm *m, const char **why)
{
	json_t *id = json_object_get(m->root, "id");

	if (!json_is_string(id)) {
		*why = "the message's 'id' must be a string";
		return -1;
	}
	m->id = json_string_value(id);
	m->id_len = json_string_length(id);
	if (!m->id_len) {
		*why = "the message's 'id' must not be empty";
		return -1;
	}
	return 0;
}

static int read_subscribe(struct gqlp_wsm *m, const char **why)
{
	json_t *q, *v, *op, *ext;

	if (read_id(m, why) != 0)
		return -1;
	if (!json_is_object(m->payload)) {
		*why = "subscribe needs a 'payload' object";
		return -1;
	}
	q = json_object_get(m->payload, "query");
	v = json_object_get(m->payload, "variables");
	op = json_object_get(m->payload, "operationName");
	ext = json_object_get(m->payload, "extensions");
	if (!json_is_string(q)) {
		*why = "subscribe's payload needs a 'query' string";
		return -1;
	}
	if (!is_nullish(v) && !json_is_object(v)) {
		*why = "subscribe's 'variables' must be an object or null";
		return -1;
	}
	if (!is_nullish(op) && !json_is_string(op)) {
		*why = "subscribe's 'operationName' must be a string or null";
		return -1;
	}
	if (!is_nullish(ext) && !json_is_object(ext)) {
		*why = "subscribe's 'extensions' must be an object or null";
		return -1;
	}
	m->query = json_string_value(q);
	m->query_len = json_string_length(q);
	m->variables = json_is_object(v) ? v : NULL;
	m->operation_name = json_is_string(op) ? json_string_value(op) : NULL;
	return 0;
}

int gqlp_wsm_parse(const char *data, size_t len, struct gqlp_wsm *m, const char **why)
{
	static const struct { const char *name; int type; } types[] = {
		{ "connection_init", GQLP_WSM_INIT }, { "ping", GQLP_WSM_PING },
		{ "pong", GQLP_WSM_PONG }, { "subscribe", GQLP_WSM_SUBSCRIBE },
		{ "complete", GQLP_WSM_COMPLETE },
	};
	json_error_t je;
	json_t *t;
	const char *ts;
	int rc = 0;

	memset(m, 0, sizeof(*m));
	/* no NUL inside strings: ids and queries are C strings further on */
	if (!(m->root = json_loadb(data, len, JSON_REJECT_DUPLICATES, &je))) {
		*why = "the message is not JSON";
		return -1;
	}
	if (!json_is_object(m->root)) {
		*why = "the message is not a JSON object";
		goto bad;
	}
	t = json_object_get(m->root, "type");
	if (!json_is_string(t)) {
		*why = "the message has no 'type' string";
		goto bad;
	}
	ts = json_string_value(t);
	for (size_t i = 0; i < sizeof(types) / sizeof(types[0]); i++)
		if (!strcmp(ts, types[i].name) && strlen(ts) == json_string_length(t))
			m->type = types[i].type;
	if (!m->type) {
		*why = "unknown message type";
		goto bad;
	}
	m->payload = json_object_get(m->root, "payload");
	if (json_is_null(m->payload))
		m->payload = NULL;
	switch (m->type) {
	case GQLP_WSM_INIT:
	case GQLP_WSM_PING:
	case GQLP_WSM_PONG:
		if (m->payload && !json_is_object(m->payload)) {
			*why = "the 'payload' must be an object or null";
			goto bad;
		}
		break;
	case GQLP_WSM_SUBSCRIBE:
		rc = read_subscribe(m, why);
		break;
	case GQLP_WSM_COMPLETE:
		rc = read_id(m, why);
		break;
	}
	if (rc == 0)
		return 0;
bad:
	json_decref(m->root);
	memset(m, 0, sizeof(*m));
	return -1;
}

size_t gqlp_wsm_reason(char *buf, size_t cap, const char *prefix, const char *id,
                       size_t id_len, const char *suffix)
{
	size_t max = cap - 1 < 123 ? cap - 1 : 123;
	size_t np = strlen(prefix), ns = strlen(suffix), n = 0;

	if (np + ns + 3 > max) {   /* never with our own texts */
		buf[0] = '\0';
		return 0;
	}
	memcpy(buf, prefix, np);
	n = np;
	if (np + id_len + ns <= max) {
		memcpy(buf + n, id, id_len);
		n += id_len;
	} else {
		size_t room = max - np - ns - 3;

		/* back up to the start of a UTF-8 character */
		while (room > 0 && ((unsigned char)id[room] & 0xC0) == 0x80)
			room--;
		memcpy(buf + n, id, room);
		n += room;
		memcpy(buf + n, "...", 3);
		n += 3;
	}
	memcpy(buf + n, suffix, ns);
	n += ns;
	buf[n] = '\0';
	return n;
}
