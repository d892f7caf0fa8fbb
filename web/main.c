/* main.c - entry point of jido-web: everything is in jido_main and web.c; only the serve
 * command binds the HTTP port (filter mode answers web.* from stdin without it). */
#include <string.h>

#include "jido.h"

extern const struct jido_proc web_proc;
extern int web_serving;

int
main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++)
		if (strcmp(argv[i], "serve") == 0)
			web_serving = 1;
	return jido_main(&web_proc, argc, argv);
}
