/*
 * lua_tick.c - the CPU tick that starts counting a long Lua run.
 *
 * Lua 5.4's count hook makes the interpreter trap on every instruction
 * (luaG_traceexec), which costs 10% of a request made of many small Lua
 * calls. So a run whose budget is large (lua.max_instructions at or above
 * LUA_EXACT_BELOW, the default among them) starts with no hook: each worker
 * thread has a timer on its own CPU clock, and its signal sets the count
 * hook on the coroutine that runs now (lua_budget_tick). From there the run
 * is counted as before, and stopped when its budget is spent. A run that
 * ends before the thread's next tick (a scheduler tick, 4 ms at 250 Hz) is
 * never counted; one that loops is stopped after at most one tick plus its
 * budget. Setting a hook from a signal handler on the thread it interrupts
 * is what lua.c does on Ctrl-C: lua_sethook only stores the hook and marks
 * the frames of the thread's call list, and the interpreter looks at the
 * mark at calls, returns and backward jumps.
 *
 * The timer runs on the thread's CPU clock, so an idle worker gets no
 * signal; the signal restarts interrupted system calls (SA_RESTART), and an
 * epoll_wait it cuts short is taken again by libevent.
 */
#include <errno.h>
#include <pthread.h>
#include <signal.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <sys/syscall.h>

#include "log.h"
#include "lua_priv.h"
#include "lua_rt.h"

#define TICK_NS 2000000L   /* asked for; the kernel checks CPU timers at its tick */

static pthread_once_t once = PTHREAD_ONCE_INIT;
static int tick_sig;
static int handler_ok;
static __thread timer_t tick_timer;
static __thread int tick_on;

static void on_tick(int sig)
{
	int saved = errno;

	(void)sig;
	lua_budget_tick();
	errno = saved;
}

static void install(void)
{
	struct sigaction sa;

	tick_sig = SIGRTMIN + 3;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = on_tick;
	sa.sa_flags = SA_RESTART;
	sigfillset(&sa.sa_mask);
	handler_ok = sigaction(tick_sig, &sa, NULL) == 0;
}

int lua_tick_thread_start(void)
{
	struct sigevent sev;
	struct itimerspec its = { { 0, TICK_NS }, { 0, TICK_NS } };
	sigset_t one;

	pthread_once(&once, install);
	if (!handler_ok || tick_on)
		return handler_ok ? 0 : -1;
	memset(&sev, 0, sizeof(sev));
	sev.sigev_notify = SIGEV_THREAD_ID;
	sev.sigev_signo = tick_sig;
	sev._sigev_un._tid = (pid_t)syscall(SYS_gettid);
	if (timer_create(CLOCK_THREAD_CPUTIME_ID, &sev, &tick_timer) != 0)
		return -1;
	if (timer_settime(tick_timer, 0, &its, NULL) != 0) {
		timer_delete(tick_timer);
		return -1;
	}
	sigemptyset(&one);
	sigaddset(&one, tick_sig);
	pthread_sigmask(SIG_UNBLOCK, &one, NULL);
	tick_on = 1;
	return 0;
}

void lua_tick_thread_stop(void)
{
	sigset_t one;

	if (!tick_on)
		return;
	timer_delete(tick_timer);
	sigemptyset(&one);
	sigaddset(&one, tick_sig);
	pthread_sigmask(SIG_BLOCK, &one, NULL);
	tick_on = 0;
}

int lua_tick_running(void)
{
	return tick_on;
}
