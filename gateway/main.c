/* main.c - entry point of jido-gateway: everything is in jido_main and gateway.c. */
#include "jido.h"

extern const struct jido_proc gateway_proc;

int
main(int argc, char **argv)
{
	return jido_main(&gateway_proc, argc, argv);
}
