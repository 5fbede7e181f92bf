/* portico/portico.h - everything a plugin includes. */
#ifndef PORTICO_PORTICO_H
#define PORTICO_PORTICO_H
#include "portico/types.h"
#include "portico/plugin.h"
#include "portico/api.h"
#endif
