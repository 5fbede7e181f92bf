/*
 * evid_json.h - one value of a JSON body at a dot path, found without
 * building the document (evid_json.c).
 */
#ifndef PORTICO_WH_EVID_JSON_H
#define PORTICO_WH_EVID_JSON_H

#include <stddef.h>

/*
 * The value at PATH ("data.object.id": object keys; a part of digits also
 * indexes an array) in BODY, a JSON object, when it is a string (decoded)
 * or an integer (in decimal): copied into BUF (BUFLEN, NUL-terminated,
 * truncated) and its full length returned. -1 when absent, another type,
 * or BODY is not JSON as jansson's json_loadb reads it.
 */
long wh_json_text(const unsigned char *body, size_t len, const char *path, char *buf,
                  size_t buflen);

#endif
