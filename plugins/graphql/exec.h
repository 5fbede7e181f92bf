/*
 * exec.h - the GraphQL executor (specification October 2021, section 6)
 * with resolvers in Lua.
 *
 * One execution answers one operation of a parsed (and validated) document:
 * it coerces the variables, runs the resolvers level by level (every field
 * of a level started before any is awaited, so resolvers that wait overlap;
 * batched resolvers get every parent of the level in one call), completes
 * the values against the schema, propagates nulls and writes the response
 * JSON with the fields in request order. Introspection (__schema, __type,
 * __typename) is answered from the schema in C.
 *
 * Resolvers are the functions a route script handed to graphql.resolvers
 * (lmod.c), found in the registry of the Lua state the execution runs in.
 */
#ifndef PORTICO_GQL_EXEC_H
#define PORTICO_GQL_EXEC_H

#include <stddef.h>

#include <jansson.h>
#include <portico/portico.h>

#include "ast.h"
#include "schema.h"

struct lua_State;
struct gql_exec;

/* What an execution produced (the response body and how to answer). */
struct gql_result {
	char *json;             /* {"errors":[...],"data":...}; owned by the execution */
	size_t len;
	int has_data;           /* 0: a request error (no "data" entry): HTTP 4xx */
	int internal;           /* the server failed (out of memory): HTTP 500 */
	int source_ref;         /* GQL_EXEC_SOURCE: registry ref in L of the value the
	                           root field's resolver returned, valid until
	                           gql_exec_free; LUA_NOREF with errors in json */
};

/*
 * What an execution does. SOURCE and EVENT are the two halves of a
 * subscription (specification 6.2.3): SOURCE runs the root field's resolver
 * only and hands back what it returned (a hub channel, for the caller to
 * subscribe to) without completing it; EVENT executes the selection set
 * once with the value at event_index as the root field's value (its
 * resolver is not called), nested resolvers running as usual.
 */
enum gql_exec_mode {
	GQL_EXEC_NORMAL = 0,
	GQL_EXEC_SOURCE = 1,
	GQL_EXEC_EVENT = 2,
};

typedef void (*gql_exec_done_fn)(struct gql_exec *e, const struct gql_result *r, void *ud);

struct gql_exec_req {
	const struct gql_schema *schema;        /* borrowed until done */
	const struct gql_doc *doc;              /* borrowed until done */
	const char *operation_name;             /* NULL: the only operation */
	json_t *variables;                      /* borrowed for the call to gql_exec_start */
	struct lua_State *L;                    /* the state holding the resolvers */
	pt_exchange *x;                         /* resolver tasks run for it */
	/* When set, resolver tasks run through RESUME(RESUME_UD, ...) instead
	 * of api->lua_task_resume(x, ...): the same contract (a WebSocket
	 * connection's ws_lua_task_resume, which may refuse once it closed). */
	int (*resume)(void *resume_ud, struct lua_State *co, int nargs, int *nres,
	              pt_lua_task_fn done, void *ud);
	void *resume_ud;
	const struct pt_api *api;
	int ctx_index;                          /* stack index in L of the ctx table, 0: none */
	unsigned max_errors;                    /* 0: 100 */
	int mode;                               /* enum gql_exec_mode */
	int event_index;                        /* GQL_EXEC_EVENT: stack index in L of the
	                                           event, read by gql_exec_start */
	gql_exec_done_fn done;                  /* called once, maybe before start returns */
	void *ud;
};

/*
 * Starts executing REQ. DONE is called exactly once with the response,
 * possibly before this returns (when no resolver waited); it owns the
 * execution and frees it with gql_exec_free (R is valid until then).
 * Returns 0, or -1 when out of memory (DONE is then never called).
 */
int gql_exec_start(const struct gql_exec_req *req);
void gql_exec_free(struct gql_exec *e);

/* Which operation of DOC runs for NAME (NULL: the only one), or NULL with
 * a graphql-js message in MSG. */
const struct gql_definition *gql_exec_operation(const struct gql_doc *doc, const char *name,
                                                const char **msg);

#endif
