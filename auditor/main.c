/* main.c - entry point of jido-auditor: everything is in jido_main and auditor.c. */
#include "jido.h"

extern const struct jido_proc auditor_proc;

int
main(int argc, char **argv)
{
	return jido_main(&auditor_proc, argc, argv);
}
