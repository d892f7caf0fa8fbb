/* main.c - entry point of jido-ingest: everything is in jido_main and ingest.c. */
#include "jido.h"

extern const struct jido_proc ingest_proc;

int
main(int argc, char **argv)
{
	return jido_main(&ingest_proc, argc, argv);
}
