/*
 * pb_wkt.c - recognising the well-known types. A message named like one
 * (google.protobuf.Timestamp, ...) gets its special mapping only when its
 * fields are the ones the mapping reads, so an odd definition is treated as
 * a plain message rather than read at the wrong offsets.
 */
#include <stdio.h>

#include "pb_priv.h"

static int is(const struct pb_msg *m, unsigned i, uint32_t number, int type, int label)
{
	return i < m->nfields && m->fields[i].number == number && m->fields[i].type == type &&
		(m->fields[i].label == 3) == (label == 3);
}

static int value_ok(const struct pb_msg *v)
{
	static const int types[] = { PBT_ENUM, PBT_DOUBLE, PBT_STRING, PBT_BOOL, PBT_MESSAGE,
		PBT_MESSAGE };

	if (!v || v->nfields != 6)
		return 0;
	for (unsigned i = 0; i < 6; i++)
		if (!is(v, i, i + 1, types[i], 1) || v->fields[i].oneof != 0)
			return 0;
	return 1;
}

static int check(const struct pb_msg *m)
{
	static const int wrapped[] = {
		[WKT_DOUBLE] = PBT_DOUBLE, [WKT_FLOAT] = PBT_FLOAT, [WKT_INT64] = PBT_INT64,
		[WKT_UINT64] = PBT_UINT64, [WKT_INT32] = PBT_INT32, [WKT_UINT32] = PBT_UINT32,
		[WKT_BOOL] = PBT_BOOL, [WKT_STRING] = PBT_STRING, [WKT_BYTES] = PBT_BYTES,
	};

	if (m->wkt != WKT_NONE && !m->file->proto3)
		return 0;	/* the mappings write fields without presence */
	switch (m->wkt) {
	case WKT_NONE:
		return 1;
	case WKT_TIMESTAMP: case WKT_DURATION:
		return m->nfields == 2 && is(m, 0, 1, PBT_INT64, 1) && is(m, 1, 2, PBT_INT32, 1);
	case WKT_EMPTY:
		return m->nfields == 0;
	case WKT_FIELDMASK:
		return m->nfields == 1 && is(m, 0, 1, PBT_STRING, 3);
	case WKT_ANY:
		return m->nfields == 2 && is(m, 0, 1, PBT_STRING, 1) && is(m, 1, 2, PBT_BYTES, 1);
	case WKT_LIST:
		return m->nfields == 1 && is(m, 0, 1, PBT_MESSAGE, 3) && value_ok(m->fields[0].msg);
	case WKT_VALUE:
		return value_ok(m) && m->fields[4].msg->wkt == WKT_STRUCT &&
			m->fields[5].msg->wkt == WKT_LIST;
	case WKT_STRUCT: {
		const struct pb_msg *e = m->fields[0].msg;

		return m->nfields == 1 && m->fields[0].is_map && e->nfields == 2 &&
			is(e, 0, 1, PBT_STRING, 1) && is(e, 1, 2, PBT_MESSAGE, 1) &&
			value_ok(e->fields[1].msg);
	}
	default:
		return m->nfields == 1 && is(m, 0, 1, wrapped[m->wkt], 1);
	}
}

/* After layout: drop the special mapping of malformed look-alikes; check
 * map entries have their key (1) and value (2) fields. */
int pb_wkt_check(struct pb_registry *r, char *err, size_t errlen)
{
	int changed = 1;

	while (changed) {	/* Value, Struct and ListValue refer to each other */
		changed = 0;
		for (unsigned i = 0; i < r->nmsgs; i++) {
			struct pb_msg *m = r->msgs[i];

			if (m->wkt && !check(m)) {
				m->wkt = WKT_NONE;
				changed = 1;
			}
		}
	}
	for (unsigned i = 0; i < r->nmsgs; i++) {
		const struct pb_msg *m = r->msgs[i];

		if (!m->map_entry)
			continue;
		if (m->nfields != 2 || m->fields[0].number != 1 || m->fields[1].number != 2 ||
		    m->fields[0].label == 3 || m->fields[1].label == 3 ||
		    m->fields[0].type == PBT_MESSAGE || m->fields[0].type == PBT_ENUM ||
		    m->fields[0].type == PBT_BYTES || m->fields[0].type == PBT_FLOAT ||
		    m->fields[0].type == PBT_DOUBLE) {
			snprintf(err, errlen, "%s: %s: a map entry needs a scalar key (1) and a value (2)",
			         m->file->name, m->full_name);
			return -1;
		}
	}
	return 0;
}
