/* main.c - entry point of jido-ingest: notes whether the command is serve (only the
 * daemon binds the webhook listener), then everything is in jido_main and ingest.c. */
#include <string.h>

#include "jido.h"

extern const struct jido_proc ingest_proc;
extern int ingest_serving;

int
main(int argc, char **argv)
{
	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0 || strcmp(argv[i], "--home") == 0 ||
		    strcmp(argv[i], "--log-level") == 0) {
			i++;
			continue;
		}
		if (argv[i][0] != '-') {
			ingest_serving = strcmp(argv[i], "serve") == 0;
			break;
		}
	}
	return jido_main(&ingest_proc, argc, argv);
}
