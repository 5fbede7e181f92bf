/*
 * fuzz_graphql_ws.c - libFuzzer target for plugins/graphql/ws_msg.c (the
 * graphql-transport-ws client messages).
 *
 * Input: one WebSocket message as a client would send it. gqlp_wsm_parse
 * must accept it with every field its type promises (an id for subscribe
 * and complete, a query for subscribe) or refuse it with a reason, and
 * never crash or leak. An accepted id then goes through gqlp_wsm_reason,
 * which must stay within 123 bytes.
 *
 * Build: clang -g -O1 -fsanitize=fuzzer,address,undefined -Iplugins/graphql \
 *   tests/fuzz/fuzz_graphql_ws.c plugins/graphql/ws_msg.c -ljansson
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "ws_msg.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct gqlp_wsm m;
	const char *why = NULL;
	char reason[128];
	size_t n;

	if (gqlp_wsm_parse((const char *)data, size, &m, &why) != 0) {
		if (!why || m.root)
			abort();
		return 0;
	}
	if (!m.root || m.type < GQLP_WSM_INIT || m.type > GQLP_WSM_COMPLETE)
		abort();
	if (m.type == GQLP_WSM_SUBSCRIBE && (!m.query || !m.id || !m.id_len))
		abort();
	if (m.type == GQLP_WSM_COMPLETE && (!m.id || !m.id_len))
		abort();
	if (m.id) {
		n = gqlp_wsm_reason(reason, sizeof(reason), "Subscriber for ", m.id, m.id_len,
		                    " already exists");
		if (n > 123 || strlen(reason) != n)
			abort();
	}
	json_decref(m.root);
	return 0;
}
