/* cli.c - (being written: see wh.h for its part) */
#include "wh.h"

typedef int wh_cli_unused;
