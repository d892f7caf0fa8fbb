/*
 * fuzz_norm.c - libFuzzer target for what ingest does with bytes from the internet
 * before and after the signature check: the X-Hub-Signature-256 parser, the delivery-id
 * and event-name checks, the JSON payload parse and the normalizer. Input layout: the
 * first line is the event name, the second the signature header, the rest the payload.
 * Built and run by `make fuzz` (clang -fsanitize=fuzzer,address,undefined).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "ingest.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size);

/* Copy the next line of [*p, end) into a NUL-ended buffer (at most cap - 1 bytes). */
static void
fuzz_line(const uint8_t **p, const uint8_t *end, char *buf, size_t cap)
{
	const uint8_t *nl = memchr(*p, '\n', (size_t)(end - *p));
	size_t n = (size_t)((nl != NULL ? nl : end) - *p);

	if (n >= cap)
		n = cap - 1;
	memcpy(buf, *p, n);
	buf[n] = '\0';
	*p = nl != NULL ? nl + 1 : end;
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static int init;
	const uint8_t *p = data, *end = data + size;
	char event[128], sig[256], type[JIDO_TYPE_MAX + 1], why[256];
	json_t *payload, *out = NULL;

	if (!init) {
		if (sodium_init() < 0)
			abort();
		init = 1;
	}
	fuzz_line(&p, end, event, sizeof(event));
	fuzz_line(&p, end, sig, sizeof(sig));
	(void)ingest_sig_check("secret", 6, sig, p, (size_t)(end - p));
	(void)ingest_delivery_id_ok(sig);
	payload = json_loadb((const char *)p, (size_t)(end - p), 0, NULL);
	if (payload != NULL) {
		if (ingest_norm(ingest_event_name_ok(event) ? event : "issues", "fuzz-1", payload,
		    &out, type, sizeof(type), why, sizeof(why)) == 0) {
			char *text = jido_json_dump(out);
			if (text == NULL || strncmp(type, "events.", 7) != 0)
				abort();
			free(text);
		}
		json_decref(out);
		json_decref(payload);
	}
	return 0;
}
