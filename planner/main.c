/* main.c - entry point of jido-planner: everything is in jido_main and planner.c. */
#include "jido.h"

extern const struct jido_proc planner_proc;

int
main(int argc, char **argv)
{
	return jido_main(&planner_proc, argc, argv);
}
