/* soap_test_globals.c - what the SOAP model's unit tests need of the plugin:
 * soap_api is NULL there (no daemon), and the parts that log check it. */
#include "soap.h"

const struct pt_api *soap_api;
const char sl_null_key = 0;
