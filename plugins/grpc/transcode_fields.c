/*
 * transcode_fields.c - what a path variable or query parameter names: is
 * the field repeated (the values make an array, even one), a bool (JSON
 * true/false, not a string), a message? Read from the contract with pb.h's
 * field lookups; a dotted path follows message fields (by proto name or
 * JSON name).
 */
#include <stdio.h>
#include <string.h>

#include "transcode_priv.h"

#define MAX_DEPTH 16

int transcode_field_kind(const struct pb_registry *reg, const struct pb_msg *m, const char *path,
                         size_t len)
{
	const char *p = path, *end = path + len;
	unsigned depth = 0;

	(void)reg;
	for (;;) {
		const char *dot = memchr(p, '.', (size_t)(end - p));
		size_t seg = dot ? (size_t)(dot - p) : (size_t)(end - p);
		struct pb_field_info fi;
		char name[256];

		if (!m || !seg || seg >= sizeof(name) || ++depth > MAX_DEPTH)
			return -1;
		memcpy(name, p, seg);
		name[seg] = '\0';
		if (pb_msg_field_find(m, name, &fi) != 0)
			return -1;
		if (!dot) {
			int k = fi.repeated ? TC_KIND_REPEATED : 0;

			if (fi.type == PB_BOOL)
				k |= TC_KIND_BOOL;
			if (fi.type == PB_MESSAGE)
				k |= TC_KIND_MESSAGE;
			return k;
		}
		if (fi.type != PB_MESSAGE || fi.repeated)
			return -1;   /* a path through a value or a list */
		m = fi.msg;
		p = dot + 1;
	}
}
