/*
 * fake_planner.c - a stand-in for jido-planner (and, on the gateway's socket, for the
 * gateway's key operations) in the executor's end-to-end tests: listens REP on URL,
 * appends every request it gets (one JSON line) to OUTFILE, and answers ok with the
 * request's id: gateway.keys.create with {key: KEY, key_id: "kid-1"}, anything else with
 * {recorded: true}. Built by the tests with plain nng and jansson (no libjido).
 * usage: fake_planner URL OUTFILE [KEY]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jansson.h>
#include <nng/nng.h>
#include <nng/protocol/reqrep0/rep.h>

int
main(int argc, char **argv)
{
	nng_socket s;
	FILE *out;

	if ((argc != 3 && argc != 4) || (out = fopen(argv[2], "a")) == NULL)
		return 2;
	if (nng_rep0_open(&s) != 0 || nng_listen(s, argv[1], NULL, 0) != 0)
		return 111;
	for (;;) {
		char *buf = NULL;
		size_t len;
		if (nng_recv(s, &buf, &len, NNG_FLAG_ALLOC) != 0)
			return 111;
		json_t *m = json_loadb(buf, len, 0, NULL);
		fprintf(out, "%.*s\n", (int)len, buf);
		fflush(out);
		nng_free(buf, len);
		const char *type = m ? json_string_value(json_object_get(m, "type")) : NULL;
		json_t *r = json_pack("{s:i,s:O,s:b,s:{s:b}}", "v", 1, "id",
		    m ? json_object_get(m, "id") : json_null(), "ok", 1, "data", "recorded", 1);
		if (type != NULL && strcmp(type, "gateway.keys.create") == 0 && argc == 4)
			json_object_set_new(r, "data", json_pack("{s:s,s:s}", "key", argv[3],
			    "key_id", "kid-1"));
		char *t = json_dumps(r, JSON_COMPACT);
		nng_send(s, t, strlen(t), 0);
		free(t);
		json_decref(r);
		json_decref(m);
	}
}
