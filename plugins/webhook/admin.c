/*
 * admin.c - the webhook inbox on the admin listener (ABI 1.9
 * admin_route_register), for an operator's tools and the dashboard:
 *
 *   GET  /webhooks?source=S&state=ST&kind=inbound|outbound&limit=N   the newest jobs
 *   GET  /webhooks/ID                                                one job, its runs
 *   POST /webhooks/ID/replay                                         due again now
 *   POST /webhooks/replay?state=dead[&source=S][&kind=K]             every such job
 *
 * The same store and rules as `portico webhooks` (cli.c): a connection of
 * its own to the SQLite file (WAL reads never block the daemon's writer;
 * a replay is one short IMMEDIATE transaction, waiting at most
 * WH_SQ_BUSY_MS), found by the queue's poll within WH_SQ_POLL_MS. Bodies
 * and headers are not listed; GET /webhooks/ID gives the headers with the
 * signature and credential headers hidden, and the body as text when it is
 * UTF-8 (else base64). The Redis store has no admin view (as no CLI).
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include <jansson.h>
#include <openssl/evp.h>

#include "store_sqlite.h"
#include "whg.h"

struct q {
	char source[128], state[128], kind[128];
	long long limit;
	int has_source, has_state, has_kind;
};

static int hexv(char c)
{
	return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 :
	       c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

/* Percent-decodes S[0..N) into OUT (CAP); -1 when malformed or too long. */
static int decode(const char *s, size_t n, char *out, size_t cap)
{
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		char c = s[i];

		if (c == '%') {
			int h, l;

			if (i + 2 >= n || (h = hexv(s[i + 1])) < 0 || (l = hexv(s[i + 2])) < 0)
				return -1;
			c = (char)(h << 4 | l);
			i += 2;
		} else if (c == '+') {
			c = ' ';
		}
		if (!c || o + 1 >= cap)
			return -1;
		out[o++] = c;
	}
	out[o] = '\0';
	return 0;
}

static const char *parse_query(pt_str_t qs, struct q *q)
{
	const char *p = qs.ptr, *end = qs.ptr + qs.len;

	memset(q, 0, sizeof(*q));
	q->limit = 50;
	while (p < end) {
		const char *amp = memchr(p, '&', (size_t)(end - p)), *eq;
		const char *e = amp ? amp : end;
		char val[128];

		eq = memchr(p, '=', (size_t)(e - p));
		if (!eq || decode(eq + 1, (size_t)(e - eq - 1), val, sizeof(val)) != 0)
			return "a query parameter is not name=value (percent-encoded, at most 127 bytes)";
		if (eq - p == 6 && !memcmp(p, "source", 6)) {
			snprintf(q->source, sizeof(q->source), "%s", val);
			q->has_source = 1;
		} else if (eq - p == 5 && !memcmp(p, "state", 5)) {
			if (strcmp(val, WH_STATE_RECEIVED) && strcmp(val, WH_STATE_PROCESSING) &&
			    strcmp(val, WH_STATE_DONE) && strcmp(val, WH_STATE_RETRYING) &&
			    strcmp(val, WH_STATE_DEAD))
				return "state is one of received, processing, done, retrying, dead";
			snprintf(q->state, sizeof(q->state), "%s", val);
			q->has_state = 1;
		} else if (eq - p == 4 && !memcmp(p, "kind", 4)) {
			if (strcmp(val, "inbound") && strcmp(val, "outbound"))
				return "kind is inbound or outbound";
			snprintf(q->kind, sizeof(q->kind), "%s", val);
			q->has_kind = 1;
		} else if (eq - p == 5 && !memcmp(p, "limit", 5)) {
			char *x;

			q->limit = strtoll(val, &x, 10);
			if (*x || x == val || q->limit < 1 || q->limit > 1000)
				return "limit is 1 to 1000";
		} else {
			return "unknown query parameter (source, state, kind, limit)";
		}
		p = amp ? amp + 1 : end;
	}
	return NULL;
}

static int kind_code(const struct q *q)
{
	return !q->has_kind ? 0 : !strcmp(q->kind, "inbound") ? WH_INBOUND : WH_OUTBOUND;
}

static int reply(char **body, size_t *len, int status, json_t *j)
{
	if (!j)
		return 500;
	*body = json_dumps(j, JSON_COMPACT);
	json_decref(j);
	if (!*body)
		return 500;
	*len = strlen(*body);
	return status;
}

static int fail(char **body, size_t *len, int status, const char *why)
{
	return reply(body, len, status, json_pack("{s:s}", "error", why));
}

static sqlite3 *open_db(const char **why)
{
	sqlite3 *db = NULL;
	struct stat st;
	char err[200];

	if (strcmp(wh_opts_main.store, "sqlite") != 0) {
		*why = "the admin inbox reads the SQLite store; this one is Redis";
		return NULL;
	}
	if (!wh_opts_main.path || stat(wh_opts_main.path, &st) != 0) {
		*why = "no webhook store yet (it is made when a script first names a source)";
		return NULL;
	}
	if (sqlite3_open_v2(wh_opts_main.path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK ||
	    (sqlite3_busy_timeout(db, WH_SQ_BUSY_MS), wh_sq_schema(db, 0, err, sizeof(err)) != 0)) {
		wh_api->log(whg_ctx, PT_LOG_WARN, "admin: cannot open %s: %s", wh_opts_main.path,
		            db ? sqlite3_errmsg(db) : "no memory");
		sqlite3_close(db);
		*why = "the webhook store cannot be opened (see the error log)";
		return NULL;
	}
	return db;
}

static json_t *col_text(sqlite3_stmt *st, int i)
{
	const unsigned char *t = sqlite3_column_text(st, i);

	/* json_string refuses invalid UTF-8: a hostile id shows as null */
	return t ? json_string((const char *)t) : json_null();
}

static int list(sqlite3 *db, const struct q *q, char **body, size_t *len)
{
	static const char sql[] =
		"SELECT id, kind, source, event_id, type, state, attempts, received_at, next_at,"
		" last_error FROM jobs WHERE (?1 IS NULL OR source = ?1)"
		" AND (?2 IS NULL OR state = ?2) AND (?3 = 0 OR kind = ?3)"
		" ORDER BY id DESC LIMIT ?4";
	sqlite3_stmt *st;
	json_t *a = json_array();
	int rc;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		json_decref(a);
		return fail(body, len, 500, "the store refused the query");
	}
	if (q->has_source)
		sqlite3_bind_text(st, 1, q->source, -1, SQLITE_STATIC);
	if (q->has_state)
		sqlite3_bind_text(st, 2, q->state, -1, SQLITE_STATIC);
	sqlite3_bind_int(st, 3, kind_code(q));
	sqlite3_bind_int64(st, 4, q->limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		json_array_append_new(a, json_pack("{s:I,s:s,s:o,s:o,s:o,s:o,s:i,s:I,s:I,s:o}",
		        "id", (json_int_t)sqlite3_column_int64(st, 0),
		        "kind", sqlite3_column_int(st, 1) == WH_INBOUND ? "inbound" : "outbound",
		        "source", col_text(st, 2), "event_id", col_text(st, 3), "type", col_text(st, 4),
		        "state", col_text(st, 5), "attempts", sqlite3_column_int(st, 6),
		        "received_at_ms", (json_int_t)sqlite3_column_int64(st, 7),
		        "next_at_ms", (json_int_t)sqlite3_column_int64(st, 8),
		        "last_error", col_text(st, 9)));
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		json_decref(a);
		return fail(body, len, 503, "the store is busy: try again");
	}
	return reply(body, len, 200, json_pack("{s:o}", "jobs", a));
}

static int header_secret(const char *name)
{
	static const char *const hide[] = { "authorization", "cookie", "signature", "secret",
	                                    "token", "hmac", "api-key", "apikey" };

	for (size_t i = 0; i < sizeof(hide) / sizeof(hide[0]); i++)
		if (strcasestr(name, hide[i]))
			return 1;
	return 0;
}

/* Job ID's runs as a JSON array (n, at_ms, outcome, status, error,
 * duration_ms), or NULL when the store refused the query. */
static json_t *runs_of(sqlite3 *db, long long id)
{
	static const char sql[] = WH_SQ_RUNS_OF_JOB;
	sqlite3_stmt *st;
	json_t *a = json_array();
	int rc;

	if (!a || sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		json_decref(a);
		return NULL;
	}
	sqlite3_bind_int64(st, 1, id);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		json_array_append_new(a, json_pack("{s:i,s:I,s:o,s:o,s:o,s:I}",
		        "n", sqlite3_column_int(st, 1), "at_ms", (json_int_t)sqlite3_column_int64(st, 2),
		        "outcome", col_text(st, 3),
		        "status", sqlite3_column_type(st, 4) == SQLITE_NULL ? json_null() :
		                  json_integer(sqlite3_column_int(st, 4)),
		        "error", col_text(st, 5),
		        "duration_ms", (json_int_t)sqlite3_column_int64(st, 6)));
	}
	sqlite3_finalize(st);
	if (rc != SQLITE_DONE) {
		json_decref(a);
		return NULL;
	}
	return a;
}

static int show(sqlite3 *db, long long id, char **body, size_t *len)
{
	static const char sql[] =
		"SELECT id, kind, source, event_id, type, state, attempts, received_at, next_at,"
		" last_error, headers, body FROM jobs WHERE id = ?1";
	sqlite3_stmt *st;
	json_t *j = NULL, *h;
	int rc;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return fail(body, len, 500, "the store refused the query");
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc == SQLITE_ROW) {
		const char *hj = (const char *)sqlite3_column_text(st, 10);
		const void *b = sqlite3_column_blob(st, 11);
		int blen = sqlite3_column_bytes(st, 11);
		json_t *btext = b ? json_stringn(b, (size_t)blen) : json_string("");
		const char *k;
		json_t *v;

		h = hj ? json_loads(hj, 0, NULL) : NULL;
		if (json_is_object(h))
			json_object_foreach(h, k, v)
				if (header_secret(k))
					json_object_set_new(h, k, json_string("***"));
		j = json_pack("{s:I,s:s,s:o,s:o,s:o,s:o,s:i,s:I,s:I,s:o,s:o}",
		        "id", (json_int_t)sqlite3_column_int64(st, 0),
		        "kind", sqlite3_column_int(st, 1) == WH_INBOUND ? "inbound" : "outbound",
		        "source", col_text(st, 2), "event_id", col_text(st, 3), "type", col_text(st, 4),
		        "state", col_text(st, 5), "attempts", sqlite3_column_int(st, 6),
		        "received_at_ms", (json_int_t)sqlite3_column_int64(st, 7),
		        "next_at_ms", (json_int_t)sqlite3_column_int64(st, 8),
		        "last_error", col_text(st, 9), "headers", h ? h : json_object());
		if (j && btext) {
			json_object_set_new(j, "body", btext);
		} else if (j && b) {
			char *b64 = malloc(((size_t)blen + 2) / 3 * 4 + 1);

			if (b64)
				EVP_EncodeBlock((unsigned char *)b64, b, blen);
			json_object_set_new(j, "body_base64", b64 ? json_string(b64) : json_null());
			free(b64);
		}
	}
	sqlite3_finalize(st);
	if (rc == SQLITE_DONE)
		return fail(body, len, 404, "no such job");
	if (rc == SQLITE_ROW && j) {
		json_t *runs = runs_of(db, id);

		if (!runs) {
			json_decref(j);
			j = NULL;
		} else {
			json_object_set_new(j, "runs", runs);
		}
	}
	if (rc != SQLITE_ROW || !j) {
		json_decref(j);
		return fail(body, len, 503, "the store is busy: try again");
	}
	return reply(body, len, 200, j);
}

static int replay(sqlite3 *db, long long id, const struct q *q, char **body, size_t *len)
{
	static const char by_id[] =
		"UPDATE jobs SET state = 'received', attempts = 0, next_at = ?1, updated_at = ?1"
		" WHERE id = ?2 AND state <> 'processing'";
	static const char by_state[] =
		"UPDATE jobs SET state = 'received', attempts = 0, next_at = ?1, updated_at = ?1"
		" WHERE state = ?3 AND (?4 IS NULL OR source = ?4) AND (?5 = 0 OR kind = ?5)";
	/* the same jobs' successful runs, kept as rows of attempts first */
	static const char keep_id[] = WH_SQ_KEEP_DONE " AND id = ?2";
	static const char keep_state[] = WH_SQ_KEEP_DONE
		" AND state = ?3 AND (?4 IS NULL OR source = ?4) AND (?5 = 0 OR kind = ?5)";
	sqlite3_stmt *st = NULL;
	long long n = 0;
	int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);

	for (int i = 0; i < 2 && rc == SQLITE_OK; i++) {
		rc = sqlite3_prepare_v2(db, i ? (id ? by_id : by_state) : (id ? keep_id : keep_state),
		                        -1, &st, NULL);
		if (rc != SQLITE_OK)
			break;
		sqlite3_bind_int64(st, 1, wh_sq_now_ms());
		sqlite3_bind_int64(st, 2, id);
		if (q->has_state)
			sqlite3_bind_text(st, 3, q->state, -1, SQLITE_STATIC);
		if (q->has_source)
			sqlite3_bind_text(st, 4, q->source, -1, SQLITE_STATIC);
		sqlite3_bind_int(st, 5, kind_code(q));
		rc = sqlite3_step(st);
		rc = rc == SQLITE_DONE ? SQLITE_OK : rc;
		n = sqlite3_changes(db);
		sqlite3_finalize(st);
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		if (!sqlite3_get_autocommit(db))
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return fail(body, len, 503, "the store is busy: try again");
	}
	if (id && !n)
		return fail(body, len, 409, "no such job, or it is being processed now");
	wh_api->log(whg_ctx, PT_LOG_INFO, "admin: replayed %lld job%s", n, n == 1 ? "" : "s");
	return reply(body, len, 200, json_pack("{s:b,s:I}", "ok", 1, "replayed", (json_int_t)n));
}

static int serve(const struct pt_admin_req *req, char **body, size_t *len, void *ud)
{
	const char *rest = req->path.ptr + sizeof("/webhooks") - 1, *why = NULL;
	size_t rlen = req->path.len - (sizeof("/webhooks") - 1);
	int get = req->method.len == 3 && !memcmp(req->method.ptr, "GET", 3);
	int post = req->method.len == 4 && !memcmp(req->method.ptr, "POST", 4);
	long long id = 0;
	struct q q;
	sqlite3 *db;
	int status;

	(void)ud;
	if ((why = parse_query(req->query, &q)))
		return fail(body, len, 400, why);
	/* "", "/replay", "/ID", "/ID/replay" */
	if (rlen && !(rlen == 7 && !memcmp(rest, "/replay", 7))) {
		char num[24], *x;
		const char *slash = memchr(rest + 1, '/', rlen - 1);
		size_t nlen = slash ? (size_t)(slash - rest - 1) : rlen - 1;

		if (!nlen || nlen >= sizeof(num))
			return fail(body, len, 404, "not found");
		memcpy(num, rest + 1, nlen);
		num[nlen] = '\0';
		id = strtoll(num, &x, 10);
		if (*x || id < 1)
			return fail(body, len, 404, "not found");
		if (slash && !(rest + rlen - slash == 7 && !memcmp(slash, "/replay", 7)))
			return fail(body, len, 404, "not found");
		if (!slash && !get)
			return fail(body, len, 405, "GET /webhooks/ID; POST /webhooks/ID/replay");
		if (slash && !post)
			return fail(body, len, 405, "POST /webhooks/ID/replay");
	} else if (rlen) {
		if (!post)
			return fail(body, len, 405, "POST /webhooks/replay?state=...");
		if (!q.has_state)
			return fail(body, len, 400, "replay everything in which state? ?state=dead");
	} else if (!get) {
		return fail(body, len, 405, "GET /webhooks");
	}
	if (!(db = open_db(&why)))
		return fail(body, len, 503, why);
	if (!rlen)
		status = list(db, &q, body, len);
	else if (post)
		status = replay(db, id, &q, body, len);
	else
		status = show(db, id, body, len);
	sqlite3_close(db);
	return status;
}

/* Called from load: the inbox on the admin listener (ABI 1.9; before, none). */
int whg_admin_register(pt_plugin_ctx *ctx)
{
	if (!PT_API_HAS(wh_api, admin_route_register))
		return 0;
	return wh_api->admin_route_register(ctx, "/webhooks", serve, NULL);
}
