/* ghapp_test.c - GitHub App auth: a JWT signed with a fresh test RSA key verifies with
 * its public key (RS256 over header.payload), carries iat = now-60, exp <= now+600 and
 * iss = the App id; a flipped payload byte does not verify; a key that is not RSA is
 * refused; the token cache is fresh until 5 minutes before expiry; configuration is
 * validated. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sodium.h>

#include "jido.h"

/* PEM text of key (private or public), malloc'd. */
static char *
pem_of(EVP_PKEY *key, int private)
{
	BIO *b = BIO_new(BIO_s_mem());
	char *p, *out;
	long n;

	assert_int_equal(private ? PEM_write_bio_PrivateKey(b, key, NULL, NULL, 0, NULL, NULL) :
	    PEM_write_bio_PUBKEY(b, key), 1);
	n = BIO_get_mem_data(b, &p);
	out = malloc((size_t)n + 1);
	memcpy(out, p, (size_t)n);
	out[n] = '\0';
	BIO_free(b);
	return out;
}

/* Decode a base64url part into a malloc'd NUL-ended buffer; *n its length. */
static unsigned char *
unb64(const char *s, size_t len, size_t *n)
{
	unsigned char *out = malloc(len + 1);

	assert_int_equal(sodium_base642bin(out, len, s, len, NULL, n, NULL,
	    sodium_base64_VARIANT_URLSAFE_NO_PADDING), 0);
	out[*n] = '\0';
	return out;
}

static void
test_jwt_verifies(void **state)
{
	EVP_PKEY *key = EVP_RSA_gen(2048), *pub;
	char *priv = pem_of(key, 1), *pubpem = pem_of(key, 0), *jwt = NULL, why[256];
	const int64_t now = 1767225600; /* 2026-01-01 */
	BIO *b;
	EVP_MD_CTX *md;
	size_t n;
	unsigned char *hdr, *pay, *sig;
	json_t *j;

	(void)state;
	assert_int_equal(jido_ghapp_jwt(priv, strlen(priv), "12345", now, &jwt, why, sizeof(why)),
	    0);
	char *d1 = strchr(jwt, '.'), *d2 = d1 ? strchr(d1 + 1, '.') : NULL;
	assert_non_null(d2);
	hdr = unb64(jwt, (size_t)(d1 - jwt), &n);
	j = json_loads((char *)hdr, 0, NULL);
	assert_string_equal(json_string_value(json_object_get(j, "alg")), "RS256");
	json_decref(j);
	pay = unb64(d1 + 1, (size_t)(d2 - d1 - 1), &n);
	j = json_loads((char *)pay, 0, NULL);
	assert_int_equal(json_integer_value(json_object_get(j, "iat")), now - 60);
	assert_true(json_integer_value(json_object_get(j, "exp")) > now);
	assert_true(json_integer_value(json_object_get(j, "exp")) <= now + 600);
	assert_string_equal(json_string_value(json_object_get(j, "iss")), "12345");
	json_decref(j);
	/* the signature verifies with the public key alone */
	sig = unb64(d2 + 1, strlen(d2 + 1), &n);
	b = BIO_new_mem_buf(pubpem, -1);
	pub = PEM_read_bio_PUBKEY(b, NULL, NULL, NULL);
	assert_non_null(pub);
	md = EVP_MD_CTX_new();
	assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pub), 1);
	assert_int_equal(EVP_DigestVerify(md, sig, n, (unsigned char *)jwt, (size_t)(d2 - jwt)), 1);
	EVP_MD_CTX_free(md);
	/* one changed byte of the signed part does not */
	jwt[(d2 - jwt) - 3] ^= 1;
	md = EVP_MD_CTX_new();
	assert_int_equal(EVP_DigestVerifyInit(md, NULL, EVP_sha256(), NULL, pub), 1);
	assert_int_not_equal(EVP_DigestVerify(md, sig, n, (unsigned char *)jwt, (size_t)(d2 - jwt)),
	    1);
	EVP_MD_CTX_free(md);
	EVP_PKEY_free(pub);
	BIO_free(b);
	free(hdr);
	free(pay);
	free(sig);
	free(jwt);
	free(priv);
	free(pubpem);
	EVP_PKEY_free(key);
}

static void
test_bad_key(void **state)
{
	EVP_PKEY *ed = EVP_PKEY_Q_keygen(NULL, NULL, "ED25519");
	char *pem = pem_of(ed, 1), *jwt = NULL, why[256];

	(void)state;
	assert_int_equal(jido_ghapp_jwt(pem, strlen(pem), "1", 1000, &jwt, why, sizeof(why)),
	    JIDO_ESECRET);
	assert_null(jwt);
	assert_int_equal(jido_ghapp_jwt("not a key", 9, "1", 1000, &jwt, why, sizeof(why)),
	    JIDO_ESECRET);
	free(pem);
	EVP_PKEY_free(ed);
}

static void
test_cache_and_conf(void **state)
{
	struct jido_conf *c = NULL;
	struct jido_ghapp *g = NULL;
	char why[256], *tok = NULL;
	int64_t now = 1767225600;

	(void)state;
	unsetenv("JIDO_GITHUB_APP_ID");
	unsetenv("JIDO_GITHUB_APP_INSTALLATION_ID");
	assert_int_equal(jido_conf_load("/dev/null", &c, why, sizeof(why)), 0);
	assert_false(jido_ghapp_configured(c));
	assert_int_equal(jido_conf_set(c, "github.app_id", "42", why, sizeof(why)), 0);
	assert_true(jido_ghapp_configured(c));
	assert_int_equal(jido_ghapp_new(c, "/tmp", &g, why, sizeof(why)), JIDO_EVALIDATION);
	assert_int_equal(jido_conf_set(c, "github.app_installation_id", "7x", why, sizeof(why)), 0);
	assert_int_equal(jido_ghapp_new(c, "/tmp", &g, why, sizeof(why)), JIDO_EVALIDATION);
	assert_int_equal(jido_conf_set(c, "github.app_installation_id", "7", why, sizeof(why)), 0);
	assert_int_equal(jido_ghapp_new(c, "/tmp", &g, why, sizeof(why)), 0);
	assert_false(jido_ghapp_fresh(g, now));
	/* fresh until 5 minutes before the expiry GitHub gave */
	jido_ghapp_preset(g, "ghs_cached", now + JIDO_GHAPP_REFRESH_S + 1);
	assert_true(jido_ghapp_fresh(g, now));
	assert_false(jido_ghapp_fresh(g, now + 1));
	/* a fresh token is served from the cache without minting */
	jido_ghapp_preset(g, "ghs_cached", (int64_t)time(NULL) + 3600);
	assert_int_equal(jido_ghapp_token(g, 0, &tok, why, sizeof(why)), 0);
	assert_string_equal(tok, "ghs_cached");
	sodium_free(tok);
	jido_ghapp_free(g);
	jido_conf_free(c);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_jwt_verifies),
		cmocka_unit_test(test_bad_key),
		cmocka_unit_test(test_cache_and_conf),
	};
	if (sodium_init() < 0)
		return 1;
	jido_log_init("test");
	jido_log_set_level(JIDO_LOG_ERROR);
	return cmocka_run_group_tests(tests, NULL, NULL);
}
