/* verify.c - (being written: see wh.h for its part) */
#include "wh.h"

typedef int wh_verify_unused;
