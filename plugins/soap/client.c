/* client.c - see soap.h (to be written). */
#include "soap.h"
