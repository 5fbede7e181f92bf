/*
 * pb_reflect.c - the fields of a message type and the values of an enum,
 * for the pieces that work from the contract rather than from bytes
 * (transcoding's path templates and query parameters, the OpenAPI listing).
 */
#include <string.h>

#include "pb_priv.h"

unsigned pb_msg_field_count(const struct pb_msg *m)
{
	return m->nfields;
}

static void fill(const struct pb_msg *m, const struct pb_field *f, struct pb_field_info *fi)
{
	fi->name = f->name;
	fi->json_name = f->json_name;
	fi->number = f->number;
	fi->type = (enum pb_type)f->type;
	fi->repeated = f->label == 3;
	fi->map = f->is_map;
	fi->has_presence = f->presence;
	fi->required = f->label == 2;
	fi->oneof = f->oneof >= 0 ? m->oneofs[f->oneof] : NULL;
	fi->msg = f->msg;
	fi->en = f->en;
}

int pb_msg_field_at(const struct pb_msg *m, unsigned i, struct pb_field_info *fi)
{
	if (i >= m->nfields)
		return -1;
	fill(m, &m->fields[i], fi);
	return 0;
}

int pb_msg_field_find(const struct pb_msg *m, const char *name, struct pb_field_info *fi)
{
	const struct pb_field *f = pb_field_by_json(m, name, strlen(name));

	if (!f)
		return -1;
	fill(m, f, fi);
	return 0;
}

const char *pb_msg_file(const struct pb_msg *m)
{
	return m->file->name;
}

const char *pb_enum_name(const struct pb_enum *e)
{
	return e->full_name;
}

unsigned pb_enum_value_count(const struct pb_enum *e)
{
	return e->nvalues;
}

const char *pb_enum_value_at(const struct pb_enum *e, unsigned i, int32_t *number)
{
	if (i >= e->nvalues)
		return NULL;
	if (number)
		*number = e->values[i].number;
	return e->values[i].name;
}
