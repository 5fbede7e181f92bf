/*
 * plugin.c - the plugin loader and the handler/filter registry.
 *
 * Like nginx, an incompatible plugin is refused before any of its code runs
 * beyond the entry function, and the message names the file and both ABIs.
 */
#include <dirent.h>
#include <dlfcn.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "api_table.h"
#include "command.h"
#include "log.h"
#include "plugin.h"
#include "worker.h"

/* the smallest descriptor a 1.x plugin can have: up to and including unload */
#define PLUGIN_MIN_SIZE (offsetof(struct pt_plugin, unload) + sizeof(void (*)(void)))

static struct pt_plugin_ctx *plugins;      /* load order */
static const struct pt_plugin_ctx *loading; /* whose load() runs now */
static unsigned nplugins;

static struct handler_reg *handlers;
static size_t nhandlers, cap_handlers;
static struct filter_reg *filters;
static size_t nfilters, cap_filters;

struct pt_plugin_ctx *plugin_open(const char *path, char *err, size_t errlen)
{
	const struct pt_plugin *(*entry)(void);
	const struct pt_plugin *d;
	struct pt_plugin_ctx *p;
	void *dl;

	dl = dlopen(path, RTLD_NOW | RTLD_LOCAL);
	if (!dl) {
		snprintf(err, errlen, "plugin %s: cannot load: %s", path, dlerror());
		return NULL;
	}
	*(void **)&entry = dlsym(dl, PT_PLUGIN_ENTRY_NAME);
	if (!entry) {
		snprintf(err, errlen, "plugin %s: no entry symbol '%s': not a portico plugin "
		         "(declare it with PT_PLUGIN_ENTRY)", path, PT_PLUGIN_ENTRY_NAME);
		dlclose(dl);
		return NULL;
	}
	d = entry();
	if (!d) {
		snprintf(err, errlen, "plugin %s: %s() returned NULL", path, PT_PLUGIN_ENTRY_NAME);
		dlclose(dl);
		return NULL;
	}
	if (d->abi_major != PT_ABI_MAJOR || d->abi_minor > PT_ABI_MINOR) {
		snprintf(err, errlen, "plugin %s: built for plugin ABI %u.%u, this portico provides "
		         "%u.%u; rebuild it against portico-plugin %u.x", path, d->abi_major,
		         d->abi_minor, PT_ABI_MAJOR, PT_ABI_MINOR, PT_ABI_MAJOR);
		dlclose(dl);
		return NULL;
	}
	if (d->size < PLUGIN_MIN_SIZE) {
		snprintf(err, errlen, "plugin %s: descriptor is %u bytes, smaller than ABI %u.0's "
		         "%zu; was it built with PT_PLUGIN_HEAD?", path, d->size, PT_ABI_MAJOR,
		         (size_t)PLUGIN_MIN_SIZE);
		dlclose(dl);
		return NULL;
	}
	if (!d->name || !*d->name || strlen(d->name) >= sizeof(p->name)) {
		snprintf(err, errlen, "plugin %s: descriptor has no usable name", path);
		dlclose(dl);
		return NULL;
	}
	p = calloc(1, sizeof(*p));
	if (!p || !(p->path = strdup(path))) {
		free(p);
		snprintf(err, errlen, "plugin %s: out of memory", path);
		dlclose(dl);
		return NULL;
	}
	p->dl = dl;
	p->desc = d;
	snprintf(p->name, sizeof(p->name), "%s", d->name);
	return p;
}

/* The callbacks past `unload` exist only if the plugin's descriptor has them. */
static int has_reload(const struct pt_plugin_ctx *p)
{
	return p->desc->size >= offsetof(struct pt_plugin, reload) + sizeof(p->desc->reload) &&
	       p->desc->reload;
}

int plugin_load(struct pt_plugin_ctx *p, const pt_conf *opts, char *err, size_t errlen)
{
	int rc;

	if (!p->worker_data) {
		/* every id a reload may start */
		p->worker_data = calloc(worker_slots() + 1, sizeof(void *));
		if (!p->worker_data) {
			snprintf(err, errlen, "plugin %s: out of memory", p->path);
			return -1;
		}
	}
	if (!p->desc->load) {
		p->loaded = 1;
		return 0;
	}
	loading = p;
	rc = p->desc->load(p, api_table(), opts ? opts : conf_empty());
	loading = NULL;
	if (rc != 0) {
		snprintf(err, errlen, "plugin %s (%s): load failed: %s", p->path, p->name,
		         pt_strerror_impl(rc));
		return -1;
	}
	p->loaded = 1;
	return 0;
}

int plugin_loading(const struct pt_plugin_ctx *p)
{
	return p && p == loading;
}

void plugin_close(struct pt_plugin_ctx *p)
{
	if (!p)
		return;
	if (p->dl)
		dlclose(p->dl);
	free(p->worker_data);
	free(p->path);
	free(p);
}

static int so_filter(const struct dirent *d)
{
	size_t n = strlen(d->d_name);

	return n > 3 && strcmp(d->d_name + n - 3, ".so") == 0 && d->d_name[0] != '.';
}

/* Drops the handlers and filters a failed optional plugin registered. */
static void registry_drop(struct pt_plugin_ctx *owner)
{
	size_t j = 0;

	for (size_t i = 0; i < nhandlers; i++) {
		if (handlers[i].owner == owner)
			free((char *)handlers[i].name);
		else
			handlers[j++] = handlers[i];
	}
	nhandlers = j;
	j = 0;
	for (size_t i = 0; i < nfilters; i++) {
		if (filters[i].owner == owner)
			free((char *)filters[i].name);
		else
			filters[j++] = filters[i];
	}
	nfilters = j;
}

int plugins_load_all(const struct config *cfg, char *err, size_t errlen)
{
	struct dirent **ents = NULL;
	struct pt_plugin_ctx **tail = &plugins;
	char path[4096], why[1024];
	char refused[32][64];    /* plugins whose load() failed: already said why */
	unsigned nrefused = 0;
	int n, failed = 0;

	err[0] = '\0';
	n = scandir(cfg->plugins_dir, &ents, so_filter, alphasort);
	if (n < 0) {
		snprintf(err, errlen, "%s: plugins_dir %s: %s", cfg->file, cfg->plugins_dir,
		         strerror(errno));
		return -1;
	}
	for (int i = 0; i < n; i++) {
		struct pt_plugin_ctx *p;
		const struct plugin_conf *pc;

		snprintf(path, sizeof(path), "%s/%s", cfg->plugins_dir, ents[i]->d_name);
		free(ents[i]);
		p = plugin_open(path, why, sizeof(why));
		if (!p) {
			log_error("plugins", "%s", why);
			failed = 1;
			continue;
		}
		pc = config_plugin(cfg, p->name);
		if (pc && !pc->enabled) {
			log_info("plugins", "plugin %s (%s) is disabled by %s:%d", p->name, path,
			         cfg->file, pc->line);
			plugin_close(p);
			continue;
		}
		for (struct pt_plugin_ctx *q = plugins; q; q = q->next) {
			if (!strcmp(q->name, p->name)) {
				log_error("plugins", "plugin %s: the name '%s' is taken by %s", path,
				          p->name, q->path);
				plugin_close(p);
				p = NULL;
				failed = 1;
				break;
			}
		}
		if (!p)
			continue;
		if (plugin_load(p, pc ? pc->opts : NULL, why, sizeof(why)) != 0) {
			if (nrefused < sizeof(refused) / sizeof(refused[0]))   /* said once, above */
				snprintf(refused[nrefused++], sizeof(refused[0]), "%s", p->name);
			registry_drop(p);
			command_drop(p);
			if (pc && pc->optional) {
				log_warn("plugins", "%s (optional: skipped)", why);
			} else {
				log_error("plugins", "%s", why);
				failed = 1;
			}
			plugin_close(p);
			continue;
		}
		log_info("plugins", "loaded %s %s from %s", p->name,
		         p->desc->version ? p->desc->version : "", path);
		*tail = p;
		tail = &p->next;
		nplugins++;
	}
	free(ents);
	for (unsigned i = 0; i < cfg->nplugins; i++) {
		const struct plugin_conf *pc = &cfg->plugins[i];
		struct pt_plugin_ctx *q;

		unsigned r;

		for (q = plugins; q && strcmp(q->name, pc->name); q = q->next)
			;
		for (r = 0; r < nrefused && strcmp(refused[r], pc->name); r++)
			;
		if (!q && r == nrefused && pc->enabled && !pc->optional) {
			log_error("plugins", "%s:%d: plugin \"%s\" is configured but no plugin of that "
			          "name is in %s", cfg->file, pc->line, pc->name, cfg->plugins_dir);
			failed = 1;
		}
	}
	if (failed)
		snprintf(err, errlen, "one or more plugins were refused (see the lines above)");
	return failed ? -1 : 0;
}

int plugins_reload(const struct config *cfg, char *err, size_t errlen)
{
	for (struct pt_plugin_ctx *p = plugins; p; p = p->next) {
		const struct plugin_conf *pc = config_plugin(cfg, p->name);
		int rc;

		if (!has_reload(p))
			continue;
		char why[1024];

		api_log_capture(p, why, sizeof(why));
		rc = p->desc->reload(p, pc ? pc->opts : conf_empty());
		api_log_capture_end();
		if (rc != 0) {
			if (why[0])   /* what the plugin logged says more than the code */
				snprintf(err, errlen, "plugin %s refused the new options: %s", p->name, why);
			else
				snprintf(err, errlen, "plugin %s refused the new options: %s", p->name,
				         pt_strerror_impl(rc));
			return -1;
		}
	}
	return 0;
}

void plugins_worker_start(pt_worker *w)
{
	for (struct pt_plugin_ctx *p = plugins; p; p = p->next)
		if (p->desc->worker_start && p->desc->worker_start(p, w) != 0)
			log_error(p->name, "worker_start failed on worker %u", worker_index(w));
}

void plugins_worker_stop(pt_worker *w)
{
	for (struct pt_plugin_ctx *p = plugins; p; p = p->next)
		if (p->desc->worker_stop)
			p->desc->worker_stop(p, w);
}

void plugins_unload_all(void)
{
	/* reverse load order: a later plugin may use an earlier one's handlers */
	while (plugins) {
		struct pt_plugin_ctx *p = plugins, *prev = NULL;

		for (; p->next; prev = p, p = p->next)
			;
		if (p->desc->unload)
			p->desc->unload(p);
		if (prev)
			prev->next = NULL;
		else
			plugins = NULL;
		plugin_close(p);
	}
	nplugins = 0;
	registry_clear();
	command_clear();
}

struct pt_plugin_ctx *plugins_first(void)
{
	return plugins;
}

unsigned plugins_count(void)
{
	return nplugins;
}

int registry_handler_add(struct pt_plugin_ctx *owner, const char *name, pt_handler_fn fn, void *ud)
{
	if (!name || !*name || !fn)
		return PT_EINVAL;
	if (registry_handler(name))
		return PT_EEXIST;
	if (nhandlers == cap_handlers) {
		size_t cap = cap_handlers ? cap_handlers * 2 : 16;
		struct handler_reg *h = realloc(handlers, cap * sizeof(*h));

		if (!h)
			return PT_ENOMEM;
		handlers = h;
		cap_handlers = cap;
	}
	handlers[nhandlers].name = strdup(name);
	if (!handlers[nhandlers].name)
		return PT_ENOMEM;
	handlers[nhandlers].fn = fn;
	handlers[nhandlers].ud = ud;
	handlers[nhandlers].owner = owner;
	nhandlers++;
	return 0;
}

/* Adds a filter with FN or DEF (the other NULL). */
static int filter_add(struct pt_plugin_ctx *owner, const char *name, int phase,
                      pt_filter_fn fn, const struct pt_filter_def *def, void *ud)
{
	if (!name || !*name || (!fn && !(def && def->run)) || phase < PT_PHASE_ACCESS ||
	    phase > PT_PHASE_LOG)
		return PT_EINVAL;
	if (registry_filter(name))
		return PT_EEXIST;
	if (nfilters == cap_filters) {
		size_t cap = cap_filters ? cap_filters * 2 : 16;
		struct filter_reg *f = realloc(filters, cap * sizeof(*f));

		if (!f)
			return PT_ENOMEM;
		filters = f;
		cap_filters = cap;
	}
	filters[nfilters].name = strdup(name);
	if (!filters[nfilters].name)
		return PT_ENOMEM;
	filters[nfilters].phase = phase;
	filters[nfilters].fn = fn;
	memset(&filters[nfilters].def, 0, sizeof(filters[nfilters].def));
	if (def)   /* a plugin built against a smaller struct: copy what it has */
		memcpy(&filters[nfilters].def, def, def->size < sizeof(*def) ? def->size : sizeof(*def));
	filters[nfilters].def.name = filters[nfilters].name;
	filters[nfilters].ud = ud;
	filters[nfilters].owner = owner;
	nfilters++;
	return 0;
}

int registry_filter_add(struct pt_plugin_ctx *owner, const char *name, int phase,
                        pt_filter_fn fn, void *ud)
{
	return filter_add(owner, name, phase, fn, NULL, ud);
}

int registry_filter_define(struct pt_plugin_ctx *owner, const struct pt_filter_def *def,
                           void *ud)
{
	if (!def || def->size < offsetof(struct pt_filter_def, run) + sizeof(def->run))
		return PT_EINVAL;
	return filter_add(owner, def->name, def->phase, NULL, def, ud);
}

const struct handler_reg *registry_handler(const char *name)
{
	for (size_t i = 0; i < nhandlers; i++)
		if (!strcmp(handlers[i].name, name))
			return &handlers[i];
	return NULL;
}

const struct filter_reg *registry_filter(const char *name)
{
	for (size_t i = 0; i < nfilters; i++)
		if (!strcmp(filters[i].name, name))
			return &filters[i];
	return NULL;
}

void registry_handler_names(char *buf, size_t len)
{
	size_t off = 0;

	buf[0] = '\0';
	for (size_t i = 0; i < nhandlers && off + 1 < len; i++) {
		int n = snprintf(buf + off, len - off, "%s%s", i ? ", " : "", handlers[i].name);

		if (n < 0)
			break;
		off += (size_t)n;
	}
}

void registry_clear(void)
{
	for (size_t i = 0; i < nhandlers; i++)
		free((char *)handlers[i].name);
	for (size_t i = 0; i < nfilters; i++)
		free((char *)filters[i].name);
	free(handlers);
	free(filters);
	handlers = NULL;
	filters = NULL;
	nhandlers = cap_handlers = nfilters = cap_filters = 0;
}
