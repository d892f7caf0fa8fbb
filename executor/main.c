/* main.c - entry point of jido-executor: everything is in jido_main and executor.c. */
#include "jido.h"

extern const struct jido_proc executor_proc;

int
main(int argc, char **argv)
{
	return jido_main(&executor_proc, argc, argv);
}
