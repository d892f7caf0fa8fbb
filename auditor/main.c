/* main.c - entry point of jido-auditor: serve and filter run the auditor's own drivers
 * (serve.c: concurrent request contexts for group commit); everything else (--help,
 * --version, --check-config, verify, load) goes through jido_main. */
#include <string.h>

#include "audit.h"

int
main(int argc, char **argv)
{
	const char *file = NULL, *home = NULL, *level = NULL;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			file = argv[++i];
		else if (strcmp(argv[i], "--home") == 0 && i + 1 < argc)
			home = argv[++i];
		else if (strcmp(argv[i], "--log-level") == 0 && i + 1 < argc)
			level = argv[++i];
		else if (strcmp(argv[i], "serve") == 0 || strcmp(argv[i], "filter") == 0)
			return auditor_run(argv[i], file, home, level);
		else
			break;
	}
	return jido_main(&auditor_proc, argc, argv);
}
