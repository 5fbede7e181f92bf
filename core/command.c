/*
 * command.c - the commands plugins register: `portico webhooks list ...`.
 * A small table filled while the plugins load (main thread) and read once
 * by main, which then runs one command and exits.
 */
#include <stdlib.h>
#include <string.h>

#include "command.h"
#include "plugin.h"

#define COMMAND_NAME_MAX 31
#define COMMAND_SUMMARY_MAX 200
#define COMMANDS_MAX 64

struct command {
	char name[COMMAND_NAME_MAX + 1];
	char *summary;                 /* owned */
	pt_command_fn fn;
	void *ud;
	pt_plugin_ctx *owner;
};

static struct command commands[COMMANDS_MAX];
static unsigned ncommands;

int command_name_ok(const char *name)
{
	size_t n = name ? strlen(name) : 0;

	if (n == 0 || n > COMMAND_NAME_MAX || name[0] < 'a' || name[0] > 'z')
		return 0;
	for (size_t i = 1; i < n; i++)
		if (!((name[i] >= 'a' && name[i] <= 'z') || (name[i] >= '0' && name[i] <= '9') ||
		      name[i] == '-'))
			return 0;
	return 1;
}

int command_register(pt_plugin_ctx *ctx, const char *name, const char *summary,
                     pt_command_fn fn, void *ud)
{
	struct command *c;

	if (!ctx || !fn || !command_name_ok(name) || !summary ||
	    strlen(summary) > COMMAND_SUMMARY_MAX || strpbrk(summary, "\r\n"))
		return PT_EINVAL;
	if (!plugin_loading(ctx))
		return PT_ESTATE;
	for (unsigned i = 0; i < ncommands; i++)
		if (!strcmp(commands[i].name, name))
			return PT_EEXIST;
	if (ncommands == COMMANDS_MAX)
		return PT_ELIMIT;
	c = &commands[ncommands];
	c->summary = strdup(summary);
	if (!c->summary)
		return PT_ENOMEM;
	memcpy(c->name, name, strlen(name) + 1);
	c->fn = fn;
	c->ud = ud;
	c->owner = ctx;
	ncommands++;
	return 0;
}

int command_run(int argc, char **argv)
{
	for (unsigned i = 0; i < ncommands; i++)
		if (!strcmp(commands[i].name, argv[0]))
			return commands[i].fn(commands[i].owner, argc, argv, commands[i].ud);
	return -1;
}

static int by_name(const void *a, const void *b)
{
	return strcmp(((const struct command *)a)->name, ((const struct command *)b)->name);
}

void command_list(FILE *f)
{
	qsort(commands, ncommands, sizeof(commands[0]), by_name);
	for (unsigned i = 0; i < ncommands; i++)
		fprintf(f, "  %-18s %s\n", commands[i].name, commands[i].summary);
}

void command_drop(pt_plugin_ctx *owner)
{
	unsigned j = 0;

	for (unsigned i = 0; i < ncommands; i++) {
		if (commands[i].owner == owner)
			free(commands[i].summary);
		else
			commands[j++] = commands[i];
	}
	ncommands = j;
}

unsigned command_count(void)
{
	return ncommands;
}

void command_clear(void)
{
	for (unsigned i = 0; i < ncommands; i++)
		free(commands[i].summary);
	ncommands = 0;
}
