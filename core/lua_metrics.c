/* lua_metrics.c - see lua_metrics.h. */
#include <pthread.h>
#include <stdatomic.h>
#include <stdlib.h>

#include "lua_alloc.h"
#include "lua_metrics.h"
#include "worker.h"

/* One worker's counter on its own cache line. */
struct wcount {
	_Atomic uint64_t instructions;
	char pad[64 - sizeof(uint64_t)];
};

struct reg {
	const struct lua_mem *m;
	unsigned w;
	struct reg *next;
};

static struct wcount *counts;
static unsigned ncounts;
static struct reg *states;
static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;

int lua_metrics_init(unsigned nworkers)
{
	if (!(counts = aligned_alloc(64, (size_t)(nworkers ? nworkers : 1) * sizeof(*counts))))
		return -1;
	for (unsigned i = 0; i < nworkers; i++)
		atomic_init(&counts[i].instructions, 0);
	ncounts = nworkers;
	return 0;
}

void lua_metrics_add_state(unsigned w, const struct lua_mem *m)
{
	struct reg *r = malloc(sizeof(*r));

	if (!r)
		return;   /* the state runs; only its memory goes uncounted */
	r->m = m;
	r->w = w;
	pthread_mutex_lock(&mu);
	r->next = states;
	states = r;
	pthread_mutex_unlock(&mu);
}

void lua_metrics_remove_state(const struct lua_mem *m)
{
	pthread_mutex_lock(&mu);
	for (struct reg **p = &states; *p; p = &(*p)->next)
		if ((*p)->m == m) {
			struct reg *r = *p;

			*p = r->next;
			free(r);
			break;
		}
	pthread_mutex_unlock(&mu);
}

void lua_metrics_instructions(unsigned w, uint64_t n)
{
	_Atomic uint64_t *c;

	if (w >= ncounts)
		return;
	c = &counts[w].instructions;
	atomic_store_explicit(c, atomic_load_explicit(c, memory_order_relaxed) + n,
	                      memory_order_relaxed);
}

void lua_metrics_render(FILE *f)
{
	size_t *mem;
	/* the slots used so far, not all max_workers: a retired worker's
	 * counter stays (counters never go down), unused slots are not rows */
	unsigned used = worker_slots_used() < ncounts ? worker_slots_used() : ncounts;

	if (!ncounts || !(mem = calloc(ncounts, sizeof(*mem))))
		return;
	pthread_mutex_lock(&mu);
	for (struct reg *r = states; r; r = r->next)
		if (r->w < ncounts)
			mem[r->w] += __atomic_load_n(&r->m->used, __ATOMIC_RELAXED);
	pthread_mutex_unlock(&mu);
	fputs("# HELP portico_lua_memory_bytes Memory in use by the worker's route-script Lua "
	      "states.\n# TYPE portico_lua_memory_bytes gauge\n", f);
	for (unsigned w = 0; w < used; w++)
		fprintf(f, "portico_lua_memory_bytes{worker=\"%u\"} %zu\n", w, mem[w]);
	fputs("# HELP portico_lua_instructions_total Lua VM instructions run by the worker's "
	      "route scripts (counted in steps of the budget hook's interval).\n"
	      "# TYPE portico_lua_instructions_total counter\n", f);
	for (unsigned w = 0; w < used; w++)
		fprintf(f, "portico_lua_instructions_total{worker=\"%u\"} %llu\n", w,
		        (unsigned long long)atomic_load_explicit(&counts[w].instructions,
		                                                 memory_order_relaxed));
	free(mem);
}

void lua_metrics_free(void)
{
	pthread_mutex_lock(&mu);
	while (states) {
		struct reg *r = states;

		states = r->next;
		free(r);
	}
	pthread_mutex_unlock(&mu);
	free(counts);
	counts = NULL;
	ncounts = 0;
}
