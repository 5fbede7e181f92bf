/* api_table.h - the pt_api table the core hands to plugins. */
#ifndef PT_API_TABLE_H
#define PT_API_TABLE_H

#include "portico/portico.h"

const struct pt_api *api_table(void);
const char *pt_strerror_impl(int err);

#endif
