/* A shared object that is not a portico plugin: no entry symbol. */
#include <portico/portico.h>

PT_EXPORT int not_a_plugin(void);
PT_EXPORT int not_a_plugin(void)
{
	return 42;
}
