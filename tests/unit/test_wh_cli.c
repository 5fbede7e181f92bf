/*
 * `portico webhooks ...` (plugins/webhook/cli.c) on a store filled through
 * the store itself, stdout and stderr captured.
 */
#include "wh_store_test_util.h"

/* ---- the CLI ------------------------------------------------------------------ */

static char out[1 << 16], errout[4096];

static void slurp(const char *path, char *buf, size_t len)
{
	FILE *f = fopen(path, "r");
	size_t n = f ? fread(buf, 1, len - 1, f) : 0;

	buf[n] = '\0';
	if (f)
		fclose(f);
}

/* Runs wh_cli with stdout and stderr into files; OUT and ERROUT hold them. */
static int cli(int argc, ...)
{
	char *argv[16], po[160], pe[160];
	va_list ap;
	int o1, e1, fo, fe, rc;

	va_start(ap, argc);
	argv[0] = "webhooks";
	for (int i = 1; i < argc; i++)
		argv[i] = va_arg(ap, char *);
	argv[argc] = NULL;
	va_end(ap);
	snprintf(po, sizeof(po), "%s/out", dir);
	snprintf(pe, sizeof(pe), "%s/err", dir);
	fflush(stdout);
	fflush(stderr);
	fo = open(po, O_CREAT | O_TRUNC | O_WRONLY, 0600);
	fe = open(pe, O_CREAT | O_TRUNC | O_WRONLY, 0600);
	o1 = dup(1);
	e1 = dup(2);
	dup2(fo, 1);
	dup2(fe, 2);
	rc = wh_cli(NULL, argc, argv, NULL);
	fflush(stdout);
	fflush(stderr);
	dup2(o1, 1);
	dup2(e1, 2);
	close(o1);
	close(e1);
	close(fo);
	close(fe);
	slurp(po, out, sizeof(out));
	slurp(pe, errout, sizeof(errout));
	return rc;
}

static void fill_for_cli(void)
{
	struct wh_store *s = open_store();
	struct wh_event_in ev;
	struct put_res r;
	static const unsigned char bin[] = { 0x00, 0xff, 0x10, 'a' };

	assert_int_equal(put1(s, "stripe", "evt_ok", "{\"type\":\"paid\"}\n"), WH_STORED);  /* 1 */
	assert_int_equal(put1(s, "stripe", "evt_bad", "{}"), WH_STORED);                    /* 2 */
	ev = event("github", "evt_\x1b[31mred", "x");                                        /* 3 */
	ev.body = bin;
	ev.body_len = sizeof(bin);
	assert_int_equal(put_wait(s, &ev, &r), WH_STORED);
	ev = event("https://example.test/hook", "msg_1", "{\"a\":1}");                       /* 4 */
	ev.kind = WH_OUTBOUND;
	ev.meta_json = "{\"secret\":\"whsec_TOPSECRET\",\"scheme\":\"standard\"}";
	ev.headers_json = "{\"authorization\":\"Bearer APIKEY1\",\"x-auth-token\":\"APIKEY2\","
	                  "\"x-trace\":\"visible\"}";
	assert_int_equal(put_wait(s, &ev, &r), WH_STORED);
	assert_int_equal(s->ops->start(s, wks, 1, 2, job_cb, NULL), 0);
	assert_int_equal(wait_jobs(2, 10000), 2);
	s->ops->finish(s, got[0].job, WH_DONE, 0, 0, NULL);
	s->ops->finish(s, got[1].job, WH_DEAD, 0, 0, "handler: boom");
	got[0].job = got[1].job = NULL;
	sync_writer(s);
	close_store(s);
	/* what close left in processing, as a stopped daemon would */
	q_exec("UPDATE jobs SET state = 'received' WHERE state = 'processing'");
	wh_opts_main.store = "sqlite";
	wh_opts_main.path = dbpath;
}

static void test_cli_list_and_show(void **state)
{
	(void)state;
	fill_for_cli();
	assert_int_equal(cli(2, "list"), 0);
	assert_non_null(strstr(out, "EVENT_ID"));
	assert_non_null(strstr(out, "evt_ok"));
	assert_non_null(strstr(out, "msg_1"));
	assert_non_null(strstr(out, "\\x1b[31mred"));       /* escaped, never raw */
	assert_null(strchr(out, 0x1b));
	assert_non_null(strstr(out, "handler: boom"));
	{
		/* every row's STATE under the header's, escaped or cut values and all */
		size_t col = (size_t)(strstr(out, "STATE") - out);
		int rows = 0;

		for (char *l = strchr(out, '\n'); l && l[1]; l = strchr(l + 1, '\n')) {
			const char *st = l + 1 + col;

			assert_true(!strncmp(st, "done", 4) || !strncmp(st, "dead", 4) ||
			            !strncmp(st, "received", 8) || !strncmp(st, "processing", 10));
			rows++;
		}
		assert_int_equal(rows, 4);
	}

	assert_int_equal(cli(4, "list", "--state", "dead"), 0);
	assert_non_null(strstr(out, "evt_bad"));
	assert_null(strstr(out, "evt_ok"));
	assert_int_equal(cli(4, "list", "--kind", "outbound"), 0);
	assert_non_null(strstr(out, "msg_1"));
	assert_null(strstr(out, "evt_ok"));
	assert_int_equal(cli(6, "list", "--source", "stripe", "--limit", "1"), 0);
	assert_non_null(strstr(out, "evt_bad"));
	assert_null(strstr(out, "evt_ok"));

	assert_int_equal(cli(3, "show", "1"), 0);
	assert_non_null(strstr(out, "event_id:     evt_ok"));
	assert_non_null(strstr(out, "content-type: application/json"));
	assert_non_null(strstr(out, "{\"type\":\"paid\"}"));
	assert_non_null(strstr(out, "#1"));
	assert_non_null(strstr(out, "done"));
	assert_int_equal(cli(3, "show", "3"), 0);
	assert_non_null(strstr(out, "base64"));
	assert_non_null(strstr(out, "AP8QYQ=="));
	assert_int_equal(cli(3, "show", "4"), 0);
	assert_non_null(strstr(out, "outbound"));
	assert_null(strstr(out, "TOPSECRET"));
	assert_null(strstr(out, "APIKEY"));   /* credentials among the extra headers */
	assert_non_null(strstr(out, "x-trace: visible"));
	assert_non_null(strstr(out, "(hidden)"));
	assert_int_equal(cli(3, "show", "99"), 1);
	assert_non_null(strstr(errout, "no job 99"));
}

static int count_str(const char *hay, const char *needle)
{
	int n = 0;

	for (const char *p = hay; (p = strstr(p, needle)); p++)
		n++;
	return n;
}

/* A success is recorded by its job's row alone (no row of attempts):
 * `show` lists it after the failed attempts, a replay first keeps it as
 * a row of attempts, and a row written for it before (an older store)
 * is not shown twice. */
static void test_cli_success_shown_and_kept_by_replay(void **state)
{
	struct wh_store *s = open_store();
	const char *p1, *p2;

	(void)state;
	assert_int_equal(put1(s, "stripe", "evt_a", "{}"), WH_STORED);                /* 1 */
	assert_int_equal(s->ops->start(s, wks, 1, 2, job_cb, NULL), 0);
	assert_int_equal(wait_jobs(1, 10000), 1);
	s->ops->finish(s, got[0].job, WH_RETRY, wh_sq_now_ms(), 0, "try again");
	got[0].job = NULL;
	assert_int_equal(wait_jobs(2, 10000), 2);
	assert_int_equal(got[1].job->attempt, 2);
	s->ops->finish(s, got[1].job, WH_DONE, 0, 0, NULL);
	got[1].job = NULL;
	sync_writer(s);
	close_store(s);
	wh_opts_main.store = "sqlite";
	wh_opts_main.path = dbpath;
	assert_int_equal(q_int("SELECT count(*) FROM attempts"), 1);   /* the retry only */

	assert_int_equal(cli(3, "show", "1"), 0);
	assert_non_null(strstr(out, "state:        done"));
	p1 = strstr(out, "#1 ");
	p2 = strstr(out, "#2 ");
	assert_non_null(p1);
	assert_non_null(p2);
	assert_true(p1 < p2);
	assert_non_null(strstr(p1, "retry"));
	assert_non_null(strstr(p1, "try again"));
	assert_non_null(strstr(p2, "done"));
	assert_null(strstr(out, "(none yet)"));

	/* replayed: the success becomes a row of attempts, shown as before */
	assert_int_equal(cli(3, "replay", "1"), 0);
	assert_int_equal(q_int("SELECT count(*) FROM attempts WHERE job_id = 1"), 2);
	assert_int_equal(q_int("SELECT count(*) FROM attempts WHERE job_id = 1 AND n = 2"
	                       " AND outcome = 'done' AND duration_ms >= 0"), 1);
	assert_int_equal(q_int("SELECT count(*) FROM jobs WHERE id = 1 AND state = 'received'"
	                       " AND attempts = 0"), 1);
	assert_int_equal(cli(3, "show", "1"), 0);
	assert_int_equal(count_str(out, "  #"), 2);
	assert_non_null(strstr(strstr(out, "#2 "), "done"));
	assert_int_equal(cli(3, "replay", "1"), 0);               /* not done: nothing kept */
	assert_int_equal(q_int("SELECT count(*) FROM attempts WHERE job_id = 1"), 2);

	/* done again, as an older store recorded it: a row of attempts with
	 * the row's time; shown once, not kept twice by a replay */
	q_exec("UPDATE jobs SET state = 'done', attempts = 1, next_at = 5000, updated_at = 9000"
	       " WHERE id = 1;"
	       "INSERT INTO attempts (job_id, n, at, outcome, duration_ms)"
	       " VALUES (1, 1, 9000, 'done', 4000)");
	assert_int_equal(cli(3, "show", "1"), 0);
	assert_int_equal(count_str(out, "  #"), 3);
	assert_int_equal(cli(4, "replay", "--state", "done"), 0);
	assert_non_null(strstr(out, "replayed 1 job"));
	assert_int_equal(q_int("SELECT count(*) FROM attempts WHERE job_id = 1"), 3);
}

static void test_cli_replay_and_purge(void **state)
{
	(void)state;
	fill_for_cli();
	assert_int_equal(cli(3, "replay", "2"), 0);
	assert_non_null(strstr(out, "replayed 1 job"));
	assert_int_equal(q_int("SELECT count(*) FROM jobs WHERE id = 2 AND state = 'received'"
	                       " AND attempts = 0"), 1);
	q_exec("UPDATE jobs SET state = 'dead' WHERE id IN (2, 3)");
	assert_int_equal(cli(6, "replay", "--state", "dead", "--source", "stripe"), 0);
	assert_non_null(strstr(out, "replayed 1 job"));
	assert_int_equal(q_int("SELECT state = 'dead' FROM jobs WHERE id = 3"), 1);
	assert_int_equal(cli(4, "replay", "--state", "dead"), 0);
	assert_non_null(strstr(out, "replayed 1 job"));
	q_exec("UPDATE jobs SET state = 'processing' WHERE id = 3");
	assert_int_equal(cli(3, "replay", "3"), 1);
	assert_non_null(strstr(errout, "being processed"));
	assert_int_equal(cli(3, "replay", "77"), 1);
	assert_non_null(strstr(errout, "no job 77"));

	q_exec("UPDATE jobs SET state = 'done', updated_at = 1000 WHERE id IN (1, 2)");
	assert_int_equal(cli(4, "purge", "--older", "30d"), 0);
	assert_non_null(strstr(out, "purged 2 jobs"));
	assert_int_equal(q_int("SELECT count(*) FROM jobs"), 2);
	assert_int_equal(q_int("SELECT count(*) FROM attempts WHERE job_id IN (1, 2)"), 0);
	assert_int_equal(cli(4, "purge", "--older", "1h"), 0);
	assert_non_null(strstr(out, "purged 0 jobs"));
}

static void test_cli_usage_errors_and_missing_store(void **state)
{
	(void)state;
	fill_for_cli();
	assert_int_equal(cli(1), 2);
	assert_non_null(strstr(errout, "usage:"));
	assert_int_equal(cli(2, "frobnicate"), 2);
	assert_non_null(strstr(errout, "unknown command"));
	assert_int_equal(cli(2, "show"), 2);
	assert_int_equal(cli(3, "show", "abc"), 2);
	assert_int_equal(cli(3, "show", "-1"), 2);
	assert_int_equal(cli(4, "list", "--limit", "0"), 2);
	assert_int_equal(cli(4, "list", "--state", "weird"), 2);
	assert_non_null(strstr(errout, "unknown state"));
	assert_int_equal(cli(3, "list", "--state"), 2);
	assert_int_equal(cli(4, "list", "--kind", "sideways"), 2);
	assert_int_equal(cli(3, "list", "--bogus"), 2);
	assert_int_equal(cli(2, "replay"), 2);
	assert_int_equal(cli(5, "replay", "2", "--state", "dead"), 2);
	assert_int_equal(cli(4, "replay", "--state", "processing"), 2);
	assert_int_equal(cli(2, "purge"), 2);
	assert_int_equal(cli(4, "purge", "--older", "30"), 2);
	assert_int_equal(cli(4, "purge", "--older", "30x"), 2);
	assert_int_equal(cli(4, "purge", "--older", "d"), 2);
	assert_int_equal(cli(4, "purge", "--older", "99999999999999999d"), 2);

	wh_opts_main.path = "/nonexistent/dir/webhooks.db";
	assert_int_equal(cli(2, "list"), 1);
	assert_non_null(strstr(errout, "no store at /nonexistent/dir/webhooks.db"));
	wh_opts_main.store = "redis";
	assert_int_equal(cli(2, "list"), 1);
	assert_non_null(strstr(errout, "SQLite store only"));
	wh_opts_main.store = "sqlite";
	{
		int fd;

		wh_opts_main.path = dbpath;
		unlink(dbpath);
		fd = open(dbpath, O_CREAT | O_WRONLY | O_TRUNC, 0600);
		for (int i = 0; i < 64; i++)
			assert_int_equal(write(fd, "garbage garbage garbage garbage!", 32), 32);
		close(fd);
		assert_int_equal(cli(2, "list"), 1);
		assert_non_null(strstr(errout, "not a database"));
	}
}

int main(void)
{
	const struct CMUnitTest tests[] = {
#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)
		T(test_cli_list_and_show),
		T(test_cli_success_shown_and_kept_by_replay),
		T(test_cli_replay_and_purge),
		T(test_cli_usage_errors_and_missing_store),
	};

	return cmocka_run_group_tests(tests, NULL, NULL);
}
