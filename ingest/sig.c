/*
 * sig.c - GitHub webhook signatures: X-Hub-Signature-256 is "sha256=" followed by the
 * lowercase hex HMAC-SHA256 of the raw request body under the webhook secret. We check
 * it over the bytes as received (never re-serialised JSON), in constant time.
 */
#include <string.h>

#include <sodium.h>

#include "ingest.h"

/* HMAC-SHA256 of body under a key of any length (libsodium's multi-part API hashes long
 * keys as RFC 2104 asks). */
static void
sig_hmac(const void *secret, size_t slen, const void *body, size_t len,
    unsigned char mac[crypto_auth_hmacsha256_BYTES])
{
	crypto_auth_hmacsha256_state st;

	crypto_auth_hmacsha256_init(&st, secret, slen);
	crypto_auth_hmacsha256_update(&st, body, len);
	crypto_auth_hmacsha256_final(&st, mac);
	sodium_memzero(&st, sizeof(st));
}

int
ingest_sig_check(const void *secret, size_t slen, const char *header, const void *body,
    size_t len)
{
	unsigned char want[crypto_auth_hmacsha256_BYTES], got[crypto_auth_hmacsha256_BYTES];
	size_t plen = strlen(INGEST_SIG_PREFIX), bin_len = 0;
	const char *end = NULL;
	int rc;

	if (header == NULL || strncmp(header, INGEST_SIG_PREFIX, plen) != 0 ||
	    strlen(header + plen) != 2 * sizeof(got))
		return JIDO_EVALIDATION;
	/* Hex digits only, either case (GitHub sends lowercase). */
	for (const char *p = header + plen; *p != '\0'; p++)
		if (!((*p >= '0' && *p <= '9') || (*p >= 'a' && *p <= 'f') ||
		    (*p >= 'A' && *p <= 'F')))
			return JIDO_EVALIDATION;
	if (sodium_hex2bin(got, sizeof(got), header + plen, 2 * sizeof(got), NULL, &bin_len,
	    &end) != 0 || bin_len != sizeof(got))
		return JIDO_EVALIDATION;
	sig_hmac(secret, slen, body, len, want);
	rc = sodium_memcmp(want, got, sizeof(want)) == 0 ? 0 : JIDO_EAUTHZ;
	sodium_memzero(want, sizeof(want));
	return rc;
}

void
ingest_sig_make(const void *secret, size_t slen, const void *body, size_t len, char *out,
    size_t outlen)
{
	unsigned char mac[crypto_auth_hmacsha256_BYTES];
	char hex[2 * sizeof(mac) + 1];

	sig_hmac(secret, slen, body, len, mac);
	sodium_bin2hex(hex, sizeof(hex), mac, sizeof(mac));
	snprintf(out, outlen, "%s%s", INGEST_SIG_PREFIX, hex);
	sodium_memzero(mac, sizeof(mac));
}
