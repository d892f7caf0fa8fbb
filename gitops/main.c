/* main.c - entry point of jido-gitops: everything is in jido_main and gitops.c. */
#include "jido.h"

extern const struct jido_proc gitops_proc;

int
main(int argc, char **argv)
{
	return jido_main(&gitops_proc, argc, argv);
}
