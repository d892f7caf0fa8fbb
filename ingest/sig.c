/*
 * sig.c - GitHub webhook signatures: X-Hub-Signature-256 is "sha256=" followed by the
 * lowercase hex HMAC-SHA256 of the raw request body under the webhook secret. We check
 * it over the bytes as received (never re-serialised JSON), in constant time.
 * The HMAC is OpenSSL's when libcrypto can be loaded (dlopen, once, the way lib/ghapp.c
 * loads it for RS256, so that nothing links it): its SHA-256 uses the CPU's SHA
 * extensions where present, about 6x faster than libsodium's portable C on a ~10 KB
 * payload (bench/README.md, ingest). Without libcrypto, libsodium's.
 */
#include <dlfcn.h>
#include <pthread.h>
#include <string.h>

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <sodium.h>

#include "ingest.h"

/* libcrypto's HMAC() and EVP_sha256(), resolved once by sig_crypto_load; NULL when
 * libcrypto is not there. */
static struct {
	unsigned char *(*hmac)(const EVP_MD *, const void *, int, const unsigned char *, size_t,
	    unsigned char *, unsigned int *);
	const EVP_MD *(*sha256)(void);
} sig_crypto;
static pthread_once_t sig_crypto_once = PTHREAD_ONCE_INIT;

static void
sig_crypto_load(void)
{
	void *h = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_LOCAL);

	if (h == NULL)
		return;
	*(void **)&sig_crypto.hmac = dlsym(h, "HMAC");
	*(void **)&sig_crypto.sha256 = dlsym(h, "EVP_sha256");
	if (sig_crypto.hmac == NULL || sig_crypto.sha256 == NULL)
		sig_crypto.hmac = NULL;
}

/* HMAC-SHA256 of body under a key of any length (long keys are hashed first, as RFC
 * 2104 asks). OpenSSL keeps the key-derived state in a context of its own that it
 * cleanses before freeing; libsodium's state is wiped here. Returns 0, or JIDO_EINTERNAL
 * when libcrypto fails (mac is then zeroes, which no signature matches). */
static int
sig_hmac(const void *secret, size_t slen, const void *body, size_t len,
    unsigned char mac[crypto_auth_hmacsha256_BYTES])
{
	crypto_auth_hmacsha256_state st;
	unsigned int n = 0;

	pthread_once(&sig_crypto_once, sig_crypto_load);
	if (sig_crypto.hmac != NULL) {
		if (sig_crypto.hmac(sig_crypto.sha256(), secret, (int)slen, body, len, mac,
		    &n) == NULL || n != crypto_auth_hmacsha256_BYTES) {
			sodium_memzero(mac, crypto_auth_hmacsha256_BYTES);
			return JIDO_EINTERNAL;
		}
		return 0;
	}
	crypto_auth_hmacsha256_init(&st, secret, slen);
	crypto_auth_hmacsha256_update(&st, body, len);
	crypto_auth_hmacsha256_final(&st, mac);
	sodium_memzero(&st, sizeof(st));
	return 0;
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
	if ((rc = sig_hmac(secret, slen, body, len, want)) == 0)
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

	(void)sig_hmac(secret, slen, body, len, mac); /* zeroes on failure: verifies nothing */
	sodium_bin2hex(hex, sizeof(hex), mac, sizeof(mac));
	snprintf(out, outlen, "%s%s", INGEST_SIG_PREFIX, hex);
	sodium_memzero(mac, sizeof(mac));
}
