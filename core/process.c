/*
 * process.c - how this process runs and where it keeps state. Both are
 * fixed at start: the run mode by main's options, var_dir by the first
 * config (a reload may not change it: see main.c).
 */
#include <stdlib.h>
#include <string.h>

#include "portico/portico.h"
#include "process.h"

static int mode = PT_RUN_DAEMON;
static char *var_dir;

void process_set_mode(int m)
{
	mode = m;
}

int process_mode(void)
{
	return mode;
}

int process_set_var_dir(const char *dir)
{
	char *copy = strdup(dir);

	if (!copy)
		return -1;
	free(var_dir);
	var_dir = copy;
	return 0;
}

const char *process_var_dir(void)
{
	return var_dir ? var_dir : PT_VAR_DIR;
}

void process_free(void)
{
	free(var_dir);
	var_dir = NULL;
}
