/*
 * ucall.h - pt_api's streaming upstream calls (ABI 1.7: ucall_start,
 * ucall_write, ucall_end, ucall_pause, ucall_cancel), for the gRPC client
 * and proxy. See ucall.c for how they sit on the outbound client.
 */
#ifndef PT_UPSTREAM_UCALL_H
#define PT_UPSTREAM_UCALL_H

#include "portico/portico.h"

pt_ucall *ucall_start(pt_worker *w, pt_exchange *x, const struct pt_upstream_req *req,
                      int body_more, const struct pt_ucall_ops *ops, void *ud, int *err);
int64_t ucall_write(pt_ucall *c, const void *data, size_t len);
int ucall_end(pt_ucall *c, const pt_str_t *trailers, uint32_t ntrailers);
void ucall_pause(pt_ucall *c, int paused);
void ucall_cancel(pt_ucall *c);

#endif
