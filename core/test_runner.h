/*
 * test_runner.h - `portico [-c FILE] test [DIR] [--tap]`: the user's
 * *_test.lua files run against the configured routes, in this process
 * (test_runner.c; doc/testing.md).
 */
#ifndef PT_TEST_RUNNER_H
#define PT_TEST_RUNNER_H

struct config;
struct event_base;

/*
 * Before the generation is built: the config made fit for a test run. The
 * listeners become one cleartext HTTP/1.1 + h2c listener on a free
 * loopback port; each HTTP/1.1 upstream points at a stub server of the
 * runner's on loopback (HTTP/2 upstreams stay as configured); the admin
 * listener, pid file, access log and log file are off (warnings and
 * errors go to stderr); var_dir becomes a fresh temporary folder. 0, or
 * -1 with ERR.
 */
int test_runner_prepare(struct config *cfg, struct event_base *base, char *err, size_t errlen);
/* Runs the tests of DIR (NULL: the current folder's, recursively) while the
 * workers serve: the exit status (0 all passed, 1 a failure, 2 none found
 * or usage). TAP: "ok N - ..." lines, else one line per failure; always a
 * last line "N passed, N failed". */
int test_runner_run(const char *dir, int tap);
/* Removes the temporary var_dir. */
void test_runner_cleanup(void);

#endif
