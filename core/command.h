/*
 * command.h - commands plugins register (pt_api.command_register), run as
 * `portico [-c FILE] NAME ARGS...`.
 */
#ifndef PT_COMMAND_H
#define PT_COMMAND_H

#include <stdio.h>

#include "portico/portico.h"

/* pt_api.command_register. Main thread, while plugins load. */
int command_register(pt_plugin_ctx *ctx, const char *name, const char *summary,
                     pt_command_fn fn, void *ud);
/* Whether NAME has the shape of a command name: [a-z][a-z0-9-]*. */
int command_name_ok(const char *name);
/* Runs command ARGV[0]: its exit status, or -1 when no such command. */
int command_run(int argc, char **argv);
/* Writes "  name  summary" lines, one per command, sorted by name. */
void command_list(FILE *f);
/* Forgets the commands of OWNER (a plugin whose load failed). */
void command_drop(pt_plugin_ctx *owner);
unsigned command_count(void);
void command_clear(void);

#endif
