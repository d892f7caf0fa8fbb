/* main.c - entry point of jido-web: everything is in jido_main and web.c. */
#include "jido.h"

extern const struct jido_proc web_proc;

int
main(int argc, char **argv)
{
	return jido_main(&web_proc, argc, argv);
}
