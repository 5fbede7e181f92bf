/*
 * main.c - the portico daemon: options, start-up, signals, reload, stop.
 *
 * The main thread owns config (re)loading, signals and the worker
 * lifecycle; it never serves a request.
 */
#include <errno.h>
#include <getopt.h>
#ifdef __GLIBC__
#include <malloc.h>
#endif
#include <signal.h>
#include <stdio.h>
#include <sys/resource.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/ssl.h>

#include "admin.h"
#include "test_runner.h"
#include "listen_reload.h"
#include "backplane.h"
#include "command.h"
#include "conf.h"
#include "gen.h"
#include "handlers.h"
#include "http/tls.h"
#include "log.h"
#include "lua/lua_rt.h"
#include "metrics.h"
#include "plugin.h"
#include "process.h"
#include "lua_metrics.h"
#include "phase_metrics.h"
#include "req_metrics.h"
#include "upstream/up_metrics.h"
#include "upstream/health.h"
#include "watchdog.h"
#include "worker.h"

#define ERRLEN 8192

static struct config *running_cfg;   /* the active generation's config (borrowed) */
static const char *conf_path = "conf/portico.conf";
static struct listener_info *listeners;
static unsigned nlisteners;
static int stopping;

static void usage(FILE *f)
{
	fprintf(f, "usage: portico [-c FILE] [-t] [-s reload|stop] [-v]\n"
	           "       portico [-c FILE] COMMAND [ARGS...]\n"
	           "  -c FILE   config file (default conf/portico.conf)\n"
	           "  -t        check the config, plugins and routes, then exit 0 or 1\n"
	           "  -s SIG    signal the running instance (its pid_file): reload or stop\n"
	           "  -v        print the version and exit\n");
}

static struct config *command_cfg;   /* the plugins' options stay valid while it runs */

/*
 * Loads the config and the plugins for a command (run_mode
 * PT_RUN_COMMAND): no route script runs, no worker, listener or log file
 * starts; logs go to stderr, at warn at most (a command's output is not
 * the daemon's chatter). 0, or 1 with the reason printed (QUIET: not).
 */
static int command_setup(int quiet)
{
	static char err[ERRLEN];
	struct config *cfg;

	process_set_mode(PT_RUN_COMMAND);
	log_set_level(PT_LOG_ERROR);
	cfg = config_load(conf_path, err, sizeof(err));
	if (!cfg) {
		if (!quiet)
			fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (!quiet)
		log_set_level(cfg->log_level < PT_LOG_WARN ? cfg->log_level : PT_LOG_WARN);
	if (process_set_var_dir(cfg->var_dir) != 0 || handlers_register_builtin() != 0 ||
	    plugins_load_all(cfg, err, sizeof(err)) != 0) {
		if (!quiet)
			fprintf(stderr, "portico: %s\n", err[0] ? err : "out of memory");
		plugins_unload_all();
		config_free(cfg);
		return 1;
	}
	command_cfg = cfg;
	return 0;
}

static void command_teardown(void)
{
	plugins_unload_all();
	lua_modules_clear();
	metrics_free_all();   /* what the plugins registered in load() */
	config_free(command_cfg);
	command_cfg = NULL;
	process_free();
}

/* `portico [-c FILE] NAME ARGS...`: the command's exit status. */
static int run_command(int argc, char **argv)
{
	int rc;

	if (command_setup(0) != 0) {
		command_teardown();
		return 1;
	}
	rc = command_run(argc, argv);
	if (rc < 0) {
		fprintf(stderr, "portico: unknown command '%s'", argv[0]);
		if (command_count()) {
			fprintf(stderr, "; the plugins of %s provide:\n", conf_path);
			command_list(stderr);
		} else {
			fprintf(stderr, " (the plugins of %s register none; see portico -h)\n",
			        conf_path);
		}
		rc = 2;
	}
	command_teardown();
	fflush(stdout);
	return rc;
}

/* portico -h: the options, and the commands the configured plugins give. */
static int help(void)
{
	usage(stdout);
	if (command_setup(1) == 0 && command_count()) {
		printf("commands (from the plugins of %s):\n", conf_path);
		command_list(stdout);
	} else {
		printf("commands: none (the plugins of %s register none, or it does not load: "
		       "portico -t says why)\n", conf_path);
	}
	command_teardown();
	return 0;
}

static int write_pid_file(const char *path)
{
	FILE *f;

	if (!path)
		return 0;
	f = fopen(path, "w");
	if (!f) {
		log_error("core", "pid_file %s: %s", path, strerror(errno));
		return -1;
	}
	fprintf(f, "%ld\n", (long)getpid());
	fclose(f);
	return 0;
}

static int signal_running(const char *sig)
{
	char err[ERRLEN];
	struct config *cfg = config_load(conf_path, err, sizeof(err));
	int signo = !strcmp(sig, "reload") ? SIGHUP : !strcmp(sig, "stop") ? SIGTERM : 0;
	FILE *f;
	long pid = 0;

	if (!signo) {
		fprintf(stderr, "portico: -s takes reload or stop, not '%s'\n", sig);
		config_free(cfg);
		return 2;
	}
	if (!cfg) {
		fprintf(stderr, "%s\n", err);
		return 1;
	}
	if (!cfg->pid_file) {
		fprintf(stderr, "portico: %s sets no pid_file: cannot find the running instance\n",
		        conf_path);
		config_free(cfg);
		return 1;
	}
	f = fopen(cfg->pid_file, "r");
	if (!f || fscanf(f, "%ld", &pid) != 1 || pid <= 1) {
		fprintf(stderr, "portico: cannot read a pid from %s: %s\n", cfg->pid_file,
		        f ? "no number in it" : strerror(errno));
		if (f)
			fclose(f);
		config_free(cfg);
		return 1;
	}
	fclose(f);
	config_free(cfg);
	if (kill((pid_t)pid, signo) != 0) {
		fprintf(stderr, "portico: cannot signal pid %ld: %s\n", pid, strerror(errno));
		return 1;
	}
	return 0;
}

/* Config -> generation; prints every problem. NULL on failure. */
static struct event_base *test_base;   /* `portico test`: the runner's loop */

static struct gen *build(const char *path, int first, char *err, size_t errlen)
{
	struct config *cfg = config_load(path, err, errlen);

	if (!cfg)
		return NULL;
	if (first && test_base && test_runner_prepare(cfg, test_base, err, errlen) != 0) {
		config_free(cfg);
		return NULL;
	}
	if (!first && listen_reload_prepare(cfg, err, errlen) != 0) {
		config_free(cfg);
		return NULL;
	}
	if (!first && strcmp(cfg->var_dir, process_var_dir()) != 0) {
		char at[32] = "";

		if (cfg->var_dir_line)   /* 0: the default, set nowhere */
			snprintf(at, sizeof(at), ":%d", cfg->var_dir_line);
		snprintf(err, errlen, "%s%s: var_dir cannot change on reload (it is %s; restart to "
		         "use %s)", cfg->file, at, process_var_dir(), cfg->var_dir);
		config_free(cfg);
		return NULL;
	}
	if (first) {
		char lerr[256];

		if (process_set_var_dir(cfg->var_dir) != 0) {
			snprintf(err, errlen, "out of memory");
			config_free(cfg);
			return NULL;
		}

		workers_set_count((unsigned)cfg->workers);
		if (req_metrics_init((unsigned)cfg->workers) != 0 ||
		    lua_metrics_init((unsigned)cfg->workers) != 0 ||
		    phase_metrics_init((unsigned)cfg->workers) != 0 ||
		    up_metrics_init((unsigned)cfg->workers) != 0) {
			snprintf(err, errlen, "out of memory");
			config_free(cfg);
			return NULL;
		}
		/* `portico -t` speaks to the person at the terminal: its log lines
		 * (a refused plugin's reason) go to stderr, not to log.file */
		if (log_open(process_mode() == PT_RUN_CHECK ? NULL : cfg->log_file, cfg->log_level,
		             lerr, sizeof(lerr)) != 0) {
			snprintf(err, errlen, "%s: %s", path, lerr);
			config_free(cfg);
			return NULL;
		}
		if (lua_rt_init(cfg, lerr, sizeof(lerr)) != 0) {
			snprintf(err, errlen, "%s: %s", path, lerr);
			config_free(cfg);
			return NULL;
		}
		if (plugins_load_all(cfg, err, errlen) != 0) {
			config_free(cfg);
			return NULL;
		}
	} else if (plugins_reload(cfg, err, errlen) != 0) {
		listen_reload_abort();
		config_free(cfg);
		return NULL;
	}
	{
		struct gen *g = gen_build(cfg, err, errlen);

		if (!first && !g) {
			char rerr[1024];

			listen_reload_abort();
			/* the plugins took the new options before the scripts were
			 * run (scripts use them: soap.client, grpc.service); the
			 * scripts refused the generation, so back to the options of
			 * the generation that stays */
			if (plugins_reload(running_cfg, rerr, sizeof(rerr)) != 0)
				log_error("core", "reload: the plugins could not take back the running "
				          "config's options: %s", rerr);
		}
		return g;
	}
}

static void warn_restart_only(const struct config *old, const struct config *nw)
{
	if (old->workers != nw->workers)
		log_warn("core", "reload: 'workers' changes take effect at the next restart");
	if (strcmp(old->plugins_dir, nw->plugins_dir) != 0)
		log_warn("core", "reload: 'plugins_dir' changes take effect at the next restart");
}

static struct event_base *main_base;
static struct gen *running_gen;   /* borrowed: the workers hold it (admin reads it) */

/* SIGHUP and POST /reload. 0 when the new generation is live, else -1
 * with ERR (the running generation stays). */
static int reload(char *err, size_t errlen)
{
	struct gen *g;

	log_info("core", "reload: reading %s", conf_path);
	g = build(conf_path, 0, err, errlen);
	if (!g) {
		log_error("core", "reload refused, the running config stays: %s", err);
		return -1;
	}
	warn_restart_only(running_cfg, g->cfg);
	if (running_cfg->admin.port != g->cfg->admin.port ||
	    (g->cfg->admin.port && strcmp(running_cfg->admin.address, g->cfg->admin.address)))
		log_warn("core", "reload: admin listener changes take effect at the next restart");
	admin_update(&g->cfg->admin);
	log_set_level(g->cfg->log_level);
	running_cfg = g->cfg;
	listen_reload_commit();   /* new listeners accept into the new generation */
	workers_set_gen(g);
	health_start(main_base, g);   /* and stops the previous generation's checks */
	running_gen = g;
	if (backplane_apply(g->cfg, err, errlen) != 0)
		log_error("core", "reload: the hub's Redis backplane is off: %s", err);
	gen_unref(g);   /* the workers hold it now */
	log_info("core", "reload: generation %u is live", g->id);
	return 0;
}

static const struct gen *current_gen(void)
{
	return running_gen;
}

/* Twice a second: is every worker's loop still coming back? */
static void on_watchdog(evutil_socket_t fd, short what, void *arg)
{
	(void)fd;
	(void)what;
	(void)arg;
	watchdog_check(running_cfg->watchdog_timeout, watchdog_now_ms());
}

static void on_signal(evutil_socket_t sig, short what, void *arg)
{
	struct event_base *base = arg;

	(void)what;
	if (sig == SIGHUP) {
		static char err[ERRLEN];

		reload(err, sizeof(err));
		return;
	}
	if (stopping)
		return;
	stopping = 1;
	log_info("core", "%s: stopping", sig == SIGINT ? "SIGINT" : "SIGTERM");
	event_base_loopbreak(base);
}

static int make_listeners(const struct config *cfg, char *err, size_t errlen)
{
	listeners = calloc(cfg->nlisteners + 1, sizeof(*listeners));
	if (!listeners) {
		snprintf(err, errlen, "out of memory");
		return -1;
	}
	for (unsigned i = 0; i < cfg->nlisteners; i++) {
		const struct listen_conf *l = &cfg->listeners[i];
		struct listener_info *li = &listeners[i];

		snprintf(li->address, sizeof(li->address), "%s", l->address);
		li->port = l->port;
		li->backlog = l->backlog;
		li->http2 = l->http2;
		snprintf(li->only, sizeof(li->only), "%s", l->only ? l->only : "");
		if (l->ncerts) {
			char why[512];

			li->ssl = tls_ctx_new(l, why, sizeof(why));
			if (!li->ssl) {
				snprintf(err, errlen, "%s:%d: %s", cfg->file, l->line, why);
				return -1;
			}
		}
		nlisteners++;
	}
	return 0;
}

static void free_listeners(void)
{
	for (unsigned i = 0; i < nlisteners; i++)
		tls_ctx_free(listeners[i].ssl);
	free(listeners);
	listeners = NULL;
	nlisteners = 0;
}

/*
 * glibc gives memory back to the kernel whenever the free space at the top
 * of an arena passes its trim threshold: in a worker or a plugin's thread
 * (their own arenas) that is an madvise(MADV_DONTNEED) and a TLB flush of
 * every CPU running the process, paid again when the memory is touched.
 * A request that allocates and frees a few kilobytes (a webhook event:
 * body, headers JSON, the store's copy) crossed it on most requests: 35%
 * of the daemon's time went to those flushes. The daemon keeps up to
 * 64 MiB free per arena instead, and blocks under 4 MiB come from the
 * arenas (not mmap/munmap each). An operator's own setting
 * (GLIBC_TUNABLES, MALLOC_TRIM_THRESHOLD_, MALLOC_MMAP_THRESHOLD_) wins.
 */
static void tune_malloc(void)
{
#if defined(__GLIBC__) && defined(M_TRIM_THRESHOLD) && defined(M_MMAP_THRESHOLD)
	if (getenv("GLIBC_TUNABLES") || getenv("MALLOC_TRIM_THRESHOLD_") ||
	    getenv("MALLOC_MMAP_THRESHOLD_"))
		return;
	mallopt(M_TRIM_THRESHOLD, 64 << 20);
	mallopt(M_MMAP_THRESHOLD, 4 << 20);
#endif
}

/*
 * Open connections are file descriptors: the soft limit (often 1024) is
 * raised to the hard one, as a server holding 10,000 WebSockets needs and
 * as nginx's worker_rlimit_nofile would. The hard limit is the operator's
 * (systemd LimitNOFILE=).
 */
static void raise_nofile(void)
{
	struct rlimit rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= rl.rlim_max)
		return;
	rl.rlim_cur = rl.rlim_max;
	if (rl.rlim_cur > (1u << 20))
		rl.rlim_cur = 1u << 20;
	setrlimit(RLIMIT_NOFILE, &rl);
}

/*
 * `portico [-c FILE] test [DIR|FILE] [--tap]`: the daemon as configured, on
 * a loopback port of its own with the upstreams stubbed, and the tests run
 * against it from this thread (test_runner.h).
 */
static int run_tests(int argc, char **argv)
{
	static char err[ERRLEN];
	const char *dir = NULL;
	struct gen *g;
	int tap = 0, rc;

	for (int i = 1; i < argc; i++) {
		if (!strcmp(argv[i], "--tap")) {
			tap = 1;
		} else if (argv[i][0] == '-' || dir) {
			fprintf(stderr, "usage: portico [-c FILE] test [DIR|FILE] [--tap]\n");
			return 2;
		} else {
			dir = argv[i];
		}
	}
	process_set_mode(PT_RUN_DAEMON);
	signal(SIGPIPE, SIG_IGN);
	if (handlers_register_builtin() != 0 || !(test_base = event_base_new())) {
		fprintf(stderr, "portico test: out of memory\n");
		return 1;
	}
	if (!(g = build(conf_path, 1, err, sizeof(err)))) {
		fprintf(stderr, "portico test: %s\n", err);
		plugins_unload_all();
		test_runner_cleanup();
		return 1;
	}
	running_cfg = g->cfg;
	running_gen = g;
	if (make_listeners(g->cfg, err, sizeof(err)) != 0 ||
	    workers_start((unsigned)g->cfg->workers, listeners, nlisteners, g, err, sizeof(err)) != 0) {
		fprintf(stderr, "portico test: cannot start: %s\n", err);
		test_runner_cleanup();
		return 1;
	}
	gen_unref(g);   /* the workers hold it */
	rc = test_runner_run(dir, tap);
	workers_stop(1);
	plugins_unload_all();
	test_runner_cleanup();
	event_base_free(test_base);
	free_listeners();
	lua_rt_shutdown();
	return rc;
}

int main(int argc, char **argv)
{
	static char err[ERRLEN];
	int opt, test = 0, rc = 0, want_help = 0;
	const char *sig = NULL;
	struct event_base *base;
	struct event *sigs[3], *wd;
	struct timeval wd_every = { 0, 500000 };
	struct gen *g;
	double grace;
	char *pid_path;

	/* "+": options end at the first word, a command's name (its own
	 * options, `--state dead`, are its arguments) */
	while ((opt = getopt(argc, argv, "+c:ts:vh")) != -1) {
		switch (opt) {
		case 'c': conf_path = optarg; break;
		case 't': test = 1; break;
		case 's': sig = optarg; break;
		case 'v': printf("portico %s (plugin ABI %d.%d)\n", PACKAGE_VERSION, PT_ABI_MAJOR,
		                 PT_ABI_MINOR); return 0;
		case 'h': want_help = 1; break;
		default: usage(stderr); return 2;
		}
	}
	if (want_help)
		return help();
	if (optind < argc) {
		if (test || sig) {
			usage(stderr);
			return 2;
		}
		if (!strcmp(argv[optind], "test"))
			return run_tests(argc - optind, argv + optind);
		return run_command(argc - optind, argv + optind);
	}
	if (sig)
		return signal_running(sig);
	process_set_mode(test ? PT_RUN_CHECK : PT_RUN_DAEMON);

	signal(SIGPIPE, SIG_IGN);
	raise_nofile();
	tune_malloc();
	if (handlers_register_builtin() != 0) {
		fprintf(stderr, "portico: cannot register the built-in handlers\n");
		return 1;
	}
	g = build(conf_path, 1, err, sizeof(err));
	if (!g) {
		log_error("core", "cannot start: %s", err);
		plugins_unload_all();
		if (test) {
			/* -t speaks to the person at the terminal, whatever log.file says */
			fprintf(stderr, "%s\n", err);
			fprintf(stdout, "%s: test failed\n", conf_path);
		}
		return 1;
	}
	if (test) {
		/* every route the generation serves: the config's (and openapi's)
		 * and those the route scripts declared */
		unsigned nlua = g->lua ? g->lua->nroutes : 0, nscripts = g->lua ? g->lua->nscripts : 0;

		printf("%s: syntax is ok, %u plugin(s), %u route(s): %u in the config, %u from %u "
		       "route script(s)\n", conf_path, plugins_count(), g->nroutes, g->nroutes - nlua,
		       nlua, nscripts);
		gen_unref(g);
		plugins_unload_all();
		lua_rt_shutdown();
		return 0;
	}
	running_cfg = g->cfg;
	/* signals are caught before the first connection is: a SIGHUP right
	 * after the port opens must reload, not end the process (its default) */
	base = event_base_new();
	if (!base) {
		log_error("core", "cannot start: out of memory");
		return 1;
	}
	main_base = base;
	running_gen = g;
	sigs[0] = evsignal_new(base, SIGHUP, on_signal, base);
	sigs[1] = evsignal_new(base, SIGTERM, on_signal, base);
	sigs[2] = evsignal_new(base, SIGINT, on_signal, base);
	for (int i = 0; i < 3; i++)
		evsignal_add(sigs[i], NULL);
	if (make_listeners(g->cfg, err, sizeof(err)) != 0 ||
	    workers_start((unsigned)g->cfg->workers, listeners, nlisteners, g, err, sizeof(err)) != 0) {
		log_error("core", "cannot start: %s", err);
		return 1;   /* nothing to drain: exit at once */
	}
	listen_reload_init(listeners, nlisteners);
	if (backplane_apply(g->cfg, err, sizeof(err)) != 0) {
		log_error("core", "cannot start the hub's Redis backplane: %s", err);
		rc = 1;
	}
	if (rc == 0 && admin_start(base, &g->cfg->admin, reload, current_gen, err, sizeof(err)) != 0) {
		log_error("core", "cannot start: %s", err);
		rc = 1;
	}
	if (rc == 0 && write_pid_file(g->cfg->pid_file) != 0)
		rc = 1;
	for (unsigned i = 0; i < nlisteners; i++)
		log_info("core", "listening on %s:%d%s", listeners[i].address, listeners[i].port,
		         listeners[i].ssl ? " (TLS)" : "");
	log_info("core", "portico %s started: %d worker(s), pid %ld", PACKAGE_VERSION,
	         g->cfg->workers, (long)getpid());
	health_start(base, g);
	gen_unref(g);   /* the workers hold it */
	/* the main thread is the watchdog: it never runs a request, so it is
	 * free while a worker is stuck (a reload it runs only delays a check) */
	wd = event_new(base, -1, EV_PERSIST, on_watchdog, NULL);
	if (!wd || event_add(wd, &wd_every) != 0)
		log_warn("core", "cannot start the watchdog timer: stuck workers go unnoticed");
	if (rc == 0)
		event_base_dispatch(base);
	admin_stop();
	health_stop();
	if (wd)
		event_free(wd);

	grace = running_cfg->shutdown_timeout;
	pid_path = running_cfg->pid_file ? strdup(running_cfg->pid_file) : NULL;
	log_info("core", "draining connections (up to %gs)", grace);
	/* first: what it receives goes to the workers, which workers_stop frees */
	backplane_stop();
	workers_stop(grace);
	for (int i = 0; i < 3; i++)
		event_free(sigs[i]);
	event_base_free(base);
	if (pid_path)
		unlink(pid_path);
	free(pid_path);
	plugins_unload_all();
	admin_routes_free();
	listen_reload_free();
	free_listeners();
	metrics_free_all();
	req_metrics_free();
	lua_metrics_free();
	phase_metrics_free();
	up_metrics_free();
	lua_rt_shutdown();
	process_free();
	log_info("core", "stopped");
	return rc;
}
