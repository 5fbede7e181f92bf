/* store_sqlite.c - (being written: see wh.h for its part) */
#include "wh.h"

typedef int wh_store_sqlite_unused;
