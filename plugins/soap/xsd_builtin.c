/* xsd_builtin.c - see soap.h (to be written). */
#include "soap.h"
