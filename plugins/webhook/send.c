/* send.c - (being written: see wh.h for its part) */
#include "wh.h"

typedef int wh_send_unused;
