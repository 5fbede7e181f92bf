/*
 * process.h - facts about this process that plugins ask for: how it runs
 * (pt_api.run_mode) and where it keeps state (pt_api.var_dir).
 */
#ifndef PT_PROCESS_H
#define PT_PROCESS_H

/* enum pt_run_mode; set by main before the plugins load. */
void process_set_mode(int mode);
int process_mode(void);
/* Copies DIR (the first config's var_dir): 0, or -1 out of memory. */
int process_set_var_dir(const char *dir);
/* The var_dir set at start; the configure default before that. Never NULL. */
const char *process_var_dir(void);
void process_free(void);

#endif
