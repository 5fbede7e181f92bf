/* api_table.h - the pt_api table the core hands to plugins. */
#ifndef PT_API_TABLE_H
#define PT_API_TABLE_H

#include "portico/portico.h"

const struct pt_api *api_table(void);
const char *pt_strerror_impl(int err);
/* While a capture runs on this thread, the errors CTX logs through
 * pt_api.log (every one, "; " between) is copied into BUF (CAP bytes, "" when none): a plugin's
 * refused reload then says why in POST /reload's answer too. */
void api_log_capture(pt_plugin_ctx *ctx, char *buf, size_t cap);
void api_log_capture_end(void);

#endif
