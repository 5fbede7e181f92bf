/* handlers.h - the core's own handlers ("static"). */
#ifndef PT_HANDLERS_H
#define PT_HANDLERS_H

/* Registers them; call before building a generation. 0 or PT_E*. */
int handlers_register_builtin(void);

#endif
