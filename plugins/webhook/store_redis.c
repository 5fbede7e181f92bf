/* store_redis.c - (being written: see wh.h for its part) */
#include "wh.h"

typedef int wh_store_redis_unused;
