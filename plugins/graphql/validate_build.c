/*
 * validate_build.c - compiles the vendored validate.c (not edited here):
 * its static valloc() clashes with the valloc(3) that <stdlib.h> declares
 * under _GNU_SOURCE, so the name is moved aside after <stdlib.h>.
 */
#include <stdlib.h>
#define valloc gql_validate_valloc
#include "validate.c"
