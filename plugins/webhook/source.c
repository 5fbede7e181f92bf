/* source.c - (being written: see wh.h for its part) */
#include "wh.h"

typedef int wh_source_unused;
