/*
 * headers_json.c - a request's headers as the JSON text the store keeps
 * with an inbound event ({"name":"value",...}), written straight into one
 * buffer: building a jansson object and dumping it cost a tenth of
 * receiving an event. The text is what that did: names in first-seen
 * order, repeats joined with ", ", cookie/authorization/
 * proxy-authorization left out, a value that is not UTF-8 left out, names
 * of 128 bytes or more and values over the per-value bound skipped, and
 * nothing more once the total bound is reached.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "evid_json.h"

struct hv {
	const char *name;
	size_t nlen;
	char *val;              /* owned when joined, else the request's */
	size_t vlen;
	int owned;
};

static int dropped(const char *name, size_t n)
{
	return (n == 6 && !memcmp(name, "cookie", 6)) ||
	       (n == 13 && !memcmp(name, "authorization", 13)) ||
	       (n == 19 && !memcmp(name, "proxy-authorization", 19));
}

/* Whether any of the 8 bytes at P is below 0x20, '"' or '\\' (exact as a
 * yes/no; see special8 in evid_json.c). */
static int escape8(const char *p)
{
	const uint64_t ones = 0x0101010101010101ull, high = 0x8080808080808080ull;
	uint64_t v, q, b;

	memcpy(&v, p, 8);
	q = v ^ (ones * '"');
	b = v ^ (ones * '\\');
	return (((v - ones * 0x20) & ~v) | ((q - ones) & ~q) | ((b - ones) & ~b)) & high ? 1 : 0;
}

size_t wh_json_escape(char *out, const char *s, size_t n)
{
	static const char hex[] = "0123456789ABCDEF";   /* as jansson writes them */
	size_t o = 0;

	for (size_t i = 0; i < n; i++) {
		unsigned char c;

		/* eight bytes a step while none needs escaping (a control
		 * byte, '"' or '\\'), the bulk of a header */
		while (n - i >= 8 && !escape8(s + i)) {
			memcpy(out + o, s + i, 8);
			o += 8;
			i += 8;
		}
		if (i == n)
			break;
		c = (unsigned char)s[i];
		if (c == '"' || c == '\\') {
			out[o++] = '\\';
			out[o++] = (char)c;
		} else if (c < 0x20) {
			out[o++] = '\\';
			switch (c) {
			case '\b': out[o++] = 'b'; break;
			case '\f': out[o++] = 'f'; break;
			case '\n': out[o++] = 'n'; break;
			case '\r': out[o++] = 'r'; break;
			case '\t': out[o++] = 't'; break;
			default:
				memcpy(out + o, "u00", 3);
				out[o + 3] = hex[c >> 4];
				out[o + 4] = hex[c & 15];
				o += 5;
			}
		} else {
			out[o++] = (char)c;
		}
	}
	return o;
}

char *wh_headers_json(unsigned n, wh_header_at_fn at, void *ud, size_t max_total,
                      size_t max_value)
{
	struct hv stack[32], *h = n <= 32 ? stack : malloc(n * sizeof(*h));
	unsigned nh = 0;
	size_t total = 2, need = 3;
	char *text = NULL, *o;

	if (!h)
		return NULL;
	for (unsigned i = 0; i < n; i++) {
		const char *name, *val;
		size_t nlen, vlen;
		unsigned k;

		if (at(ud, i, &name, &nlen, &val, &vlen) != 0 || !nlen || nlen >= 128 ||
		    vlen > max_value || dropped(name, nlen) || !wh_utf8_valid(name, nlen))
			continue;
		if (total + nlen + vlen + 8 > max_total)
			break;
		if (!wh_utf8_valid(val, vlen))
			continue;
		for (k = 0; k < nh && (h[k].nlen != nlen || memcmp(h[k].name, name, nlen)); k++)
			;
		if (k < nh) {
			char *j = malloc(h[k].vlen + 2 + vlen);

			if (!j)
				continue;
			memcpy(j, h[k].val, h[k].vlen);
			memcpy(j + h[k].vlen, ", ", 2);
			memcpy(j + h[k].vlen + 2, val, vlen);
			if (h[k].owned)
				free(h[k].val);
			h[k].val = j;
			h[k].vlen += 2 + vlen;
			h[k].owned = 1;
		} else {
			h[nh++] = (struct hv){ name, nlen, (char *)val, vlen, 0 };
		}
		total += nlen + vlen + 8;
	}
	for (unsigned k = 0; k < nh; k++)
		need += 6 * (h[k].nlen + h[k].vlen) + 6;   /* \u00XX at worst */
	if ((text = malloc(need)) != NULL) {
		o = text;
		*o++ = '{';
		for (unsigned k = 0; k < nh; k++) {
			if (k)
				*o++ = ',';
			*o++ = '"';
			o += wh_json_escape(o, h[k].name, h[k].nlen);
			*o++ = '"';
			*o++ = ':';
			*o++ = '"';
			o += wh_json_escape(o, h[k].val, h[k].vlen);
			*o++ = '"';
		}
		*o++ = '}';
		*o = '\0';
	}
	for (unsigned k = 0; k < nh; k++)
		if (h[k].owned)
			free(h[k].val);
	if (h != stack)
		free(h);
	return text;
}
