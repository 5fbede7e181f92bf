/*
 * cli.c - `portico webhooks list|show|replay|purge`: the SQLite store seen
 * and mended from a shell, while the daemon runs or not.
 *
 * It opens its own connection to wh_opts_main.path: reads are WAL readers
 * (they never block the daemon's writer); replay and purge are one short
 * IMMEDIATE transaction each, waiting up to WH_SQ_BUSY_MS for the writer.
 * A replayed job is found by the daemon's poll within WH_SQ_POLL_MS.
 * Everything printed that came from a sender (ids, types, headers, bodies,
 * errors) has its control bytes and invalid UTF-8 escaped: a hostile
 * payload cannot drive the terminal. Outbound secrets are never printed.
 *
 * Exit: 0 done, 1 failure (no store, a locked or broken database, no such
 * job), 2 usage.
 */
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <jansson.h>
#include "store_sqlite.h"

static const char usage_text[] =
	"usage: portico webhooks list [--source S] [--state ST] [--kind inbound|outbound] [--limit N]\n"
	"       portico webhooks show ID\n"
	"       portico webhooks replay ID\n"
	"       portico webhooks replay --state ST [--source S] [--kind inbound|outbound]\n"
	"       portico webhooks purge --older DURATION   (e.g. 30d; units s, m, h, d)\n";

static int usage(const char *why)
{
	if (why)
		fprintf(stderr, "webhooks: %s\n", why);
	fputs(usage_text, stderr);
	return 2;
}

struct args {
	const char *source, *state, *older;
	int kind;            /* 0: any */
	long long limit, id;
	int has_id;
};

/* Length of the valid UTF-8 sequence at P (at most N bytes), or 0. */
static size_t utf8_len(const unsigned char *p, size_t n)
{
	size_t len;
	unsigned cp;

	if (p[0] < 0x80)
		return 1;
	if (p[0] >= 0xc2 && p[0] <= 0xdf)
		len = 2, cp = p[0] & 0x1f;
	else if (p[0] >= 0xe0 && p[0] <= 0xef)
		len = 3, cp = p[0] & 0x0f;
	else if (p[0] >= 0xf0 && p[0] <= 0xf4)
		len = 4, cp = p[0] & 0x07;
	else
		return 0;
	if (len > n)
		return 0;
	for (size_t i = 1; i < len; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return 0;
		cp = (cp << 6) | (p[i] & 0x3f);
	}
	if ((len == 3 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
	    (len == 4 && (cp < 0x10000 || cp > 0x10ffff)))
		return 0;
	return len;
}

/* True when P..N is UTF-8 text a terminal shows as it is (tabs and line
 * breaks allowed, no other control byte). */
static int is_text(const unsigned char *p, size_t n)
{
	for (size_t i = 0; i < n;) {
		size_t l = utf8_len(p + i, n - i);

		if (l == 0)
			return 0;
		if (l == 1 && ((p[i] < 0x20 && p[i] != '\n' && p[i] != '\r' && p[i] != '\t') ||
		               p[i] == 0x7f))
			return 0;
		i += l;
	}
	return 1;
}

/* Prints P..N to F with control bytes and invalid UTF-8 as \xNN; at most
 * MAX characters (then "..."; 0: no limit). Returns the columns used
 * (a character counts one). F NULL: only measures. */
static size_t put_esc(FILE *f, const char *s, size_t n, size_t max)
{
	const unsigned char *p = (const unsigned char *)s;
	size_t shown = 0, cols = 0;

	for (size_t i = 0; i < n;) {
		size_t l = utf8_len(p + i, n - i);

		if (max && shown >= max) {
			if (f)
				fputs("...", f);
			return cols + 3;
		}
		if (l == 0 || (l == 1 && (p[i] < 0x20 || p[i] == 0x7f))) {
			if (f)
				fprintf(f, "\\x%02x", p[i]);
			i++;
			cols += 4;
		} else {
			if (f)
				fwrite(p + i, 1, l, f);
			i += l;
			cols++;
		}
		shown++;
	}
	return cols;
}

/* Column I of ST escaped, in WIDTH columns (cut with "..." when longer;
 * 0: as long as it is), padded to WIDTH when PAD. */
static void put_col(sqlite3_stmt *st, int i, size_t width, int pad)
{
	const char *t = (const char *)sqlite3_column_text(st, i);
	size_t n = t ? (size_t)sqlite3_column_bytes(st, i) : 0, cols;

	if (!t)
		t = "";
	cols = put_esc(NULL, t, n, 0);
	if (width && cols > width)
		cols = put_esc(stdout, t, n, width > 3 ? width - 3 : 1);
	else
		put_esc(stdout, t, n, 0);

	while (pad && cols++ < width)
		putchar(' ');
}

static void iso_time(int64_t ms, char *buf, size_t len)
{
	time_t t = (time_t)(ms / 1000);
	struct tm tm;

	if (ms <= 0 || !gmtime_r(&t, &tm)) {
		snprintf(buf, len, "-");
		return;
	}
	snprintf(buf, len, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900,
	         tm.tm_mon + 1, tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(ms % 1000));
}

static const char *kind_name(int kind)
{
	return kind == WH_INBOUND ? "inbound" : kind == WH_OUTBOUND ? "outbound" : "?";
}

static int parse_kind(const char *s)
{
	return !strcmp(s, "inbound") ? WH_INBOUND : !strcmp(s, "outbound") ? WH_OUTBOUND : -1;
}

static int known_state(const char *s)
{
	static const char *const states[] = { WH_STATE_RECEIVED, WH_STATE_PROCESSING,
	                                      WH_STATE_DONE, WH_STATE_RETRYING, WH_STATE_DEAD };

	for (unsigned i = 0; i < 5; i++)
		if (!strcmp(s, states[i]))
			return 1;
	return 0;
}

static int parse_count(const char *s, long long *out)
{
	char *end;
	long long v;

	if (!*s || *s == '-' || *s == '+')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || *end || v <= 0)
		return -1;
	*out = v;
	return 0;
}

/* "30d", "12h", "90m", "3600s" -> milliseconds; -1 when malformed. */
static int64_t parse_duration(const char *s)
{
	char *end;
	long long v;
	int64_t unit;

	if (*s < '0' || *s > '9')
		return -1;
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno || end[0] == '\0' || end[1] != '\0')
		return -1;
	switch (end[0]) {
	case 's': unit = 1000; break;
	case 'm': unit = 60 * 1000; break;
	case 'h': unit = 3600 * 1000; break;
	case 'd': unit = 86400 * 1000; break;
	default: return -1;
	}
	if (v > INT64_MAX / unit / 2)
		return -1;
	return v * unit;
}

/* Options after the subcommand, "--name value" or "--name=value";
 * anything unexpected is a usage error. */
static int parse_args(int argc, char **argv, int from, struct args *a, const char *allowed)
{
	memset(a, 0, sizeof(*a));
	a->limit = 50;
	for (int i = from; i < argc; i++) {
		const char *arg = argv[i], *eq, *v;
		char o[16] = "", opt[20], list[64];
		size_t n;

		if (arg[0] != '-' || arg[1] != '-') {
			if (strstr(allowed, "ID") && !a->has_id && parse_count(arg, &a->id) == 0) {
				a->has_id = 1;
				continue;
			}
			fprintf(stderr, "webhooks: unexpected argument '%s'\n", arg);
			return -1;
		}
		/* a whole lowercase word of ALLOWED ("ID" there is the positional one) */
		eq = strchr(arg, '=');
		n = eq ? (size_t)(eq - arg) : strlen(arg);
		if (n < sizeof(o) && arg[2] >= 'a' && arg[2] <= 'z')
			snprintf(o, sizeof(o), "%.*s", (int)n, arg);
		snprintf(opt, sizeof(opt), " %s ", o + (o[0] ? 2 : 0));
		snprintf(list, sizeof(list), " %s", allowed);
		if (!o[0] || !strstr(list, opt)) {
			fprintf(stderr, "webhooks: unknown option '%.*s'\n", (int)n, arg);
			return -1;
		}
		v = eq ? eq + 1 : i + 1 < argc ? argv[++i] : NULL;
		if (!v) {
			fprintf(stderr, "webhooks: %s needs a value\n", o);
			return -1;
		}
		if (!strcmp(o, "--source")) {
			a->source = v;
		} else if (!strcmp(o, "--state")) {
			if (!known_state(v)) {
				fprintf(stderr, "webhooks: unknown state '%s' (received, processing, "
				        "done, retrying, dead)\n", v);
				return -1;
			}
			a->state = v;
		} else if (!strcmp(o, "--kind")) {
			if ((a->kind = parse_kind(v)) < 0) {
				fprintf(stderr, "webhooks: --kind is inbound or outbound, not '%s'\n", v);
				return -1;
			}
		} else if (!strcmp(o, "--limit")) {
			if (parse_count(v, &a->limit) != 0) {
				fprintf(stderr, "webhooks: --limit needs a positive number\n");
				return -1;
			}
		} else if (!strcmp(o, "--older")) {
			a->older = v;
		}
	}
	return 0;
}

static sqlite3 *open_store(const char *path)
{
	struct stat st;
	sqlite3 *db = NULL;
	char err[200];

	if (stat(path, &st) != 0) {
		if (errno == ENOENT)
			fprintf(stderr, "webhooks: no store at %s (the daemon creates it when it first "
			        "starts; is var_dir the daemon's?)\n", path);
		else
			fprintf(stderr, "webhooks: %s: %s\n", path, strerror(errno));
		return NULL;
	}
	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
		fprintf(stderr, "webhooks: %s: %s\n", path, db ? sqlite3_errmsg(db) : "cannot open");
		sqlite3_close(db);
		return NULL;
	}
	sqlite3_busy_timeout(db, WH_SQ_BUSY_MS);
	if (wh_sq_schema(db, 0, err, sizeof(err)) != 0) {
		fprintf(stderr, "webhooks: %s: %s\n", path, err);
		sqlite3_close(db);
		return NULL;
	}
	return db;
}

static void bind_opt(sqlite3_stmt *st, int i, const char *v)
{
	if (v)
		sqlite3_bind_text(st, i, v, -1, SQLITE_STATIC);
	else
		sqlite3_bind_null(st, i);
}

static int db_fail(sqlite3 *db, const char *what)
{
	fprintf(stderr, "webhooks: %s: %s\n", what, sqlite3_errmsg(db));
	return 1;
}

/* The escaped width of column I of ST. */
static size_t col_width(sqlite3_stmt *st, int i)
{
	const char *t = (const char *)sqlite3_column_text(st, i);

	return t ? put_esc(NULL, t, (size_t)sqlite3_column_bytes(st, i), 0) : 0;
}

/*
 * SOURCE, EVENT_ID and TYPE are never cut (an id is what the operator
 * copies, an outbound source a whole URL): their columns are as wide as
 * their longest value, at least the header's width. The rows are read
 * twice, to measure and to print, in one read transaction so that both
 * passes see the same rows.
 */
static int cmd_list(sqlite3 *db, const struct args *a)
{
	static const char sql[] =
		"SELECT * FROM (SELECT id, kind, source, event_id, type, state, attempts,"
		" received_at, last_error FROM jobs WHERE (?1 IS NULL OR source = ?1)"
		" AND (?2 IS NULL OR state = ?2) AND (?3 = 0 OR kind = ?3)"
		" ORDER BY id DESC LIMIT ?4) ORDER BY id";
	size_t w[3] = { 20, 36, 28 };
	sqlite3_stmt *st;
	int rc;

	if (sqlite3_exec(db, "BEGIN", NULL, NULL, NULL) != SQLITE_OK)
		return db_fail(db, "list");
	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK) {
		db_fail(db, "list");
		sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return 1;
	}
	bind_opt(st, 1, a->source);
	bind_opt(st, 2, a->state);
	sqlite3_bind_int(st, 3, a->kind);
	sqlite3_bind_int64(st, 4, a->limit);
	while ((rc = sqlite3_step(st)) == SQLITE_ROW)
		for (int i = 0; i < 3; i++)
			if (col_width(st, 2 + i) > w[i])
				w[i] = col_width(st, 2 + i);
	if (rc != SQLITE_DONE)
		goto out;
	sqlite3_reset(st);
	printf("%-8s %-8s %-*s %-*s %-*s %-10s %8s  %-24s %s\n", "ID", "KIND", (int)w[0], "SOURCE",
	       (int)w[1], "EVENT_ID", (int)w[2], "TYPE", "STATE", "ATTEMPTS", "RECEIVED_AT",
	       "LAST_ERROR");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char at[80];

		iso_time(sqlite3_column_int64(st, 7), at, sizeof(at));
		printf("%-8lld %-8s ", (long long)sqlite3_column_int64(st, 0),
		       kind_name(sqlite3_column_int(st, 1)));
		for (int i = 0; i < 3; i++) {
			put_col(st, 2 + i, w[i], 1);
			putchar(' ');
		}
		printf("%-10s %8d  %-24s ", (const char *)sqlite3_column_text(st, 5),
		       sqlite3_column_int(st, 6), at);
		put_col(st, 8, 80, 0);
		putchar('\n');
	}
out:
	if (rc != SQLITE_DONE)
		db_fail(db, "list");
	sqlite3_finalize(st);
	sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	return rc != SQLITE_DONE;
}

static void put_base64(const unsigned char *p, size_t n)
{
	static const char tb[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
	size_t col = 0;

	for (size_t i = 0; i < n; i += 3) {
		unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) |
		             (i + 2 < n ? p[i + 2] : 0);
		char q[4] = { tb[v >> 18 & 63], tb[v >> 12 & 63],
		              i + 1 < n ? tb[v >> 6 & 63] : '=', i + 2 < n ? tb[v & 63] : '=' };

		fwrite(q, 1, 4, stdout);
		if ((col += 4) >= 76) {
			putchar('\n');
			col = 0;
		}
	}
	if (col)
		putchar('\n');
}

/* Whether a header's value is a credential the CLI must not print: an
 * outbound delivery's extra headers may carry the receiver's API key. */
static int header_secret(const char *name)
{
	static const char *const exact[] = { "authorization", "proxy-authorization", "cookie",
	                                     "set-cookie", "x-api-key", "api-key" };

	for (size_t i = 0; i < sizeof(exact) / sizeof(exact[0]); i++)
		if (!strcasecmp(name, exact[i]))
			return 1;
	return strcasestr(name, "token") || strcasestr(name, "secret") ||
	       strcasestr(name, "password");
}

/* Headers as "name: value" lines (the stored JSON object), else as stored;
 * credentials (header_secret) as "(hidden)". */
static void put_headers(const char *json)
{
	json_t *o = json ? json_loads(json, 0, NULL) : NULL;
	const char *k;
	json_t *v;

	printf("headers:\n");
	if (!json_is_object(o)) {
		if (json) {
			printf("  ");
			put_esc(stdout, json, strlen(json), 0);
			putchar('\n');
		}
		json_decref(o);
		return;
	}
	json_object_foreach(o, k, v) {
		printf("  ");
		put_esc(stdout, k, strlen(k), 0);
		printf(": ");
		if (header_secret(k))
			printf("(hidden)");
		else if (json_is_string(v))
			put_esc(stdout, json_string_value(v), json_string_length(v), 0);
		putchar('\n');
	}
	json_decref(o);
}

/* Outbound meta without its secret. */
static void put_meta(const char *json)
{
	json_t *o = json ? json_loads(json, 0, NULL) : NULL;
	char *text;

	if (!json)
		return;
	if (json_is_object(o) && json_object_get(o, "secret"))
		json_object_set_new(o, "secret", json_string("(hidden)"));
	text = o ? json_dumps(o, JSON_COMPACT) : NULL;
	printf("%-13s ", "meta:");
	if (text)
		put_esc(stdout, text, strlen(text), 0);
	else
		printf("(not JSON)");
	putchar('\n');
	free(text);
	json_decref(o);
}

static int show_attempts(sqlite3 *db, long long id)
{
	static const char sql[] = WH_SQ_RUNS_OF_JOB;
	sqlite3_stmt *st;
	int rc, any = 0;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return db_fail(db, "show");
	sqlite3_bind_int64(st, 1, id);
	printf("attempts:\n");
	while ((rc = sqlite3_step(st)) == SQLITE_ROW) {
		char at[80];

		any = 1;
		iso_time(sqlite3_column_int64(st, 2), at, sizeof(at));
		printf("  #%-3d %s  %-5s", sqlite3_column_int(st, 1), at,
		       (const char *)sqlite3_column_text(st, 3));
		if (sqlite3_column_type(st, 4) != SQLITE_NULL)
			printf("  status %d", sqlite3_column_int(st, 4));
		printf("  %lld ms", (long long)sqlite3_column_int64(st, 6));
		if (sqlite3_column_type(st, 5) != SQLITE_NULL) {
			printf("  ");
			put_col(st, 5, 0, 0);
		}
		putchar('\n');
	}
	if (!any)
		printf("  (none yet)\n");
	sqlite3_finalize(st);
	return rc == SQLITE_DONE ? 0 : db_fail(db, "show");
}

static int cmd_show(sqlite3 *db, long long id)
{
	static const char sql[] =
		"SELECT id, kind, source, event_id, type, state, attempts, max_attempts, base, cap,"
		" ordered, received_at, next_at, updated_at, last_status, last_error, headers,"
		" meta, body FROM jobs WHERE id = ?1";
	static const char *const names[] = { "source:", "event_id:", "type:", "state:" };
	sqlite3_stmt *st;
	const unsigned char *body;
	size_t blen;
	char t1[80], t2[80], t3[80];
	int rc;

	if (sqlite3_prepare_v2(db, sql, -1, &st, NULL) != SQLITE_OK)
		return db_fail(db, "show");
	sqlite3_bind_int64(st, 1, id);
	rc = sqlite3_step(st);
	if (rc != SQLITE_ROW) {
		sqlite3_finalize(st);
		if (rc == SQLITE_DONE) {
			fprintf(stderr, "webhooks: no job %lld\n", id);
			return 1;
		}
		return db_fail(db, "show");
	}
	printf("%-13s %lld\n", "id:", (long long)sqlite3_column_int64(st, 0));
	printf("%-13s %s\n", "kind:", kind_name(sqlite3_column_int(st, 1)));
	for (int i = 0; i < 4; i++) {
		printf("%-13s ", names[i]);
		put_col(st, 2 + i, 0, 0);
		putchar('\n');
	}
	printf("%-13s %d of %d (backoff base %g s, cap %g s)\n", "attempts:",
	       sqlite3_column_int(st, 6), sqlite3_column_int(st, 7),
	       sqlite3_column_double(st, 8), sqlite3_column_double(st, 9));
	printf("%-13s %s\n", "ordered:", sqlite3_column_int(st, 10) ? "yes" : "no");
	iso_time(sqlite3_column_int64(st, 11), t1, sizeof(t1));
	iso_time(sqlite3_column_int64(st, 12), t2, sizeof(t2));
	iso_time(sqlite3_column_int64(st, 13), t3, sizeof(t3));
	printf("%-13s %s\n%-13s %s\n%-13s %s\n", "received_at:", t1, "next_at:", t2,
	       "updated_at:", t3);
	if (sqlite3_column_type(st, 14) != SQLITE_NULL)
		printf("%-13s %d\n", "last_status:", sqlite3_column_int(st, 14));
	if (sqlite3_column_type(st, 15) != SQLITE_NULL) {
		printf("%-13s ", "last_error:");
		put_col(st, 15, 0, 0);
		putchar('\n');
	}
	put_meta((const char *)sqlite3_column_text(st, 17));
	put_headers((const char *)sqlite3_column_text(st, 16));
	body = sqlite3_column_blob(st, 18);
	blen = (size_t)sqlite3_column_bytes(st, 18);
	if (is_text(body, blen)) {
		printf("body (%zu bytes):\n", blen);
		if (blen)
			fwrite(body, 1, blen, stdout);
		if (!blen || body[blen - 1] != '\n')
			putchar('\n');
	} else {
		printf("body (%zu bytes, not UTF-8 text: base64):\n", blen);
		put_base64(body, blen);
	}
	sqlite3_finalize(st);
	return show_attempts(db, id);
}

/* Binds the replay's selection (?2 id, ?3 state, ?4 source, ?5 kind; ?1
 * NOW when not 0) to ST and runs it: SQLITE_OK or the error. */
static int replay_step(sqlite3_stmt *st, const struct args *a, int64_t now)
{
	int rc;

	if (now)
		sqlite3_bind_int64(st, 1, now);
	sqlite3_bind_int64(st, 2, a->id);
	bind_opt(st, 3, a->state);
	bind_opt(st, 4, a->source);
	sqlite3_bind_int(st, 5, a->kind);
	rc = sqlite3_step(st);
	return rc == SQLITE_DONE ? SQLITE_OK : rc;
}

/* Runs SQL (binding what BIND says) in one IMMEDIATE transaction; *N the
 * rows changed. */
static int write_tx(sqlite3 *db, const char *what, const char *keep, const char *sql,
                    const struct args *a, int64_t now, int64_t *n)
{
	sqlite3_stmt *st = NULL;
	int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);

	/* KEEP first: the done runs of the jobs SQL changes, into attempts */
	if (rc == SQLITE_OK && keep) {
		rc = sqlite3_prepare_v2(db, keep, -1, &st, NULL);
		if (rc == SQLITE_OK)
			rc = replay_step(st, a, 0);
		sqlite3_finalize(st);
		st = NULL;
	}
	if (rc == SQLITE_OK)
		rc = sqlite3_prepare_v2(db, sql, -1, &st, NULL);
	if (rc == SQLITE_OK) {
		rc = replay_step(st, a, now);
		*n = sqlite3_changes(db);
	}
	sqlite3_finalize(st);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		db_fail(db, what);
		if (!sqlite3_get_autocommit(db))
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return 1;
	}
	return 0;
}

static int cmd_replay(sqlite3 *db, const struct args *a)
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
	int64_t n = 0;

	if (a->has_id) {
		sqlite3_stmt *st;
		int rc;

		if (write_tx(db, "replay", keep_id, by_id, a, wh_sq_now_ms(), &n) != 0)
			return 1;
		if (n == 0) {
			/* why not: missing, or running now */
			if (sqlite3_prepare_v2(db, "SELECT state FROM jobs WHERE id = ?1", -1, &st,
			                       NULL) != SQLITE_OK)
				return db_fail(db, "replay");
			sqlite3_bind_int64(st, 1, a->id);
			rc = sqlite3_step(st);
			if (rc == SQLITE_ROW)
				fprintf(stderr, "webhooks: job %lld is being processed now; replay it "
				        "once it has finished\n", a->id);
			else
				fprintf(stderr, "webhooks: no job %lld\n", a->id);
			sqlite3_finalize(st);
			return 1;
		}
	} else {
		if (write_tx(db, "replay", keep_state, by_state, a, wh_sq_now_ms(), &n) != 0)
			return 1;
	}
	printf("replayed %lld job%s\n", (long long)n, n == 1 ? "" : "s");
	return 0;
}

static int cmd_purge(sqlite3 *db, int64_t older_ms, const char *text)
{
	int64_t n = 0;
	int rc = sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL);

	if (rc == SQLITE_OK)
		rc = wh_sq_purge(db, wh_sq_now_ms() - older_ms, 0, &n);
	if (rc == SQLITE_OK)
		rc = sqlite3_exec(db, "COMMIT", NULL, NULL, NULL);
	if (rc != SQLITE_OK) {
		db_fail(db, "purge");
		if (!sqlite3_get_autocommit(db))
			sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
		return 1;
	}
	printf("purged %lld job%s (done or dead, finished more than %s ago)\n", (long long)n,
	       n == 1 ? "" : "s", text);
	return 0;
}

int wh_cli(pt_plugin_ctx *ctx, int argc, char **argv, void *ud)
{
	const char *cmd = argc > 1 ? argv[1] : NULL;
	struct args a;
	int64_t older = 0;
	sqlite3 *db;
	int rc;

	(void)ctx;
	(void)ud;
	if (!cmd || !strcmp(cmd, "-h") || !strcmp(cmd, "--help") || !strcmp(cmd, "help"))
		return usage(cmd ? NULL : "which command?");
	if (!strcmp(cmd, "list")) {
		if (parse_args(argc, argv, 2, &a, "source state kind limit ") != 0)
			return usage(NULL);
	} else if (!strcmp(cmd, "show")) {
		if (parse_args(argc, argv, 2, &a, "ID") != 0 || !a.has_id)
			return usage(a.has_id ? NULL : "show needs a job ID (a positive number)");
	} else if (!strcmp(cmd, "replay")) {
		if (parse_args(argc, argv, 2, &a, "ID state source kind ") != 0)
			return usage(NULL);
		if (a.has_id == !!a.state || (a.has_id && (a.source || a.kind)))
			return usage("replay takes a job ID, or --state (and --source, --kind)");
		if (a.state && !strcmp(a.state, WH_STATE_PROCESSING))
			return usage("jobs being processed cannot be replayed");
	} else if (!strcmp(cmd, "purge")) {
		if (parse_args(argc, argv, 2, &a, "older ") != 0)
			return usage(NULL);
		if (!a.older || (older = parse_duration(a.older)) < 0)
			return usage("purge needs --older with a duration such as 30d, 12h, 90m, 600s");
	} else {
		fprintf(stderr, "webhooks: unknown command '%s'\n", cmd);
		return usage(NULL);
	}

	if (wh_opts_main.store && strcmp(wh_opts_main.store, "sqlite") != 0) {
		fprintf(stderr, "webhooks: this config keeps webhooks in \"%s\"; the command "
		        "reads the SQLite store only\n", wh_opts_main.store);
		return 1;
	}
	if (!wh_opts_main.path || !*wh_opts_main.path) {
		fprintf(stderr, "webhooks: no store path configured (var_dir)\n");
		return 1;
	}
	if (!(db = open_store(wh_opts_main.path)))
		return 1;
	if (!strcmp(cmd, "list"))
		rc = cmd_list(db, &a);
	else if (!strcmp(cmd, "show"))
		rc = cmd_show(db, a.id);
	else if (!strcmp(cmd, "replay"))
		rc = cmd_replay(db, &a);
	else
		rc = cmd_purge(db, older, a.older);
	sqlite3_close(db);
	fflush(stdout);
	return rc;
}

/*
 * Weak stand-ins so this part links before the plugin glue (webhook.c)
 * lands: its definitions replace these at link time. Unit tests define
 * their own.
 */
__attribute__((weak)) struct wh_opts wh_opts_main;

__attribute__((weak)) void wh_metrics_lag(const char *source, double seconds)
{
	(void)source;
	(void)seconds;
}
