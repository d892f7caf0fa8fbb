/* main.c - entry point of jido-vault: everything is in jido_main and vault.c. */
#include "jido.h"

extern const struct jido_proc vault_proc;

int
main(int argc, char **argv)
{
	return jido_main(&vault_proc, argc, argv);
}
