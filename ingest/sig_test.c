/*
 * sig_test.c - webhook signatures: GitHub's documented test vector verifies, every single
 * flipped bit of body, signature or secret fails, malformed headers are told apart, and
 * the secret file (current + previous line, mode checks) works as a rotation needs.
 */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <cmocka.h>
#include <sodium.h>

#include "ingest.h"

static const char vec_secret[] = "It's a Secret to Everybody";
static const char vec_body[] = "Hello, World!";
static const char vec_sig[] =
    "sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17";

static void
test_vector_verifies(void **state)
{
	char made[80];

	(void)state;
	assert_int_equal(ingest_sig_check(vec_secret, strlen(vec_secret), vec_sig, vec_body,
	    strlen(vec_body)), 0);
	ingest_sig_make(vec_secret, strlen(vec_secret), vec_body, strlen(vec_body), made,
	    sizeof(made));
	assert_string_equal(made, vec_sig);
	/* Uppercase hex is the same digest. */
	char upper[80];
	snprintf(upper, sizeof(upper), "sha256=%s", vec_sig + 7);
	for (char *p = upper + 7; *p; p++)
		if (*p >= 'a' && *p <= 'f')
			*p = (char)(*p - 32);
	assert_int_equal(ingest_sig_check(vec_secret, strlen(vec_secret), upper, vec_body,
	    strlen(vec_body)), 0);
}

static void
test_body_bit_flips_fail(void **state)
{
	char body[sizeof(vec_body)];
	size_t n = strlen(vec_body);

	(void)state;
	for (size_t i = 0; i < n * 8; i++) {
		memcpy(body, vec_body, sizeof(body));
		body[i / 8] ^= (char)(1 << (i % 8));
		assert_int_equal(ingest_sig_check(vec_secret, strlen(vec_secret), vec_sig, body, n),
		    JIDO_EAUTHZ);
	}
	/* A byte more or less fails too. */
	assert_int_equal(ingest_sig_check(vec_secret, strlen(vec_secret), vec_sig, vec_body,
	    n - 1), JIDO_EAUTHZ);
	assert_int_equal(ingest_sig_check(vec_secret, strlen(vec_secret), vec_sig,
	    "Hello, World!\n", n + 1), JIDO_EAUTHZ);
}

static void
test_signature_bit_flips_fail(void **state)
{
	unsigned char mac[32];
	char hex[65], sig[80];
	size_t got;

	(void)state;
	assert_int_equal(sodium_hex2bin(mac, sizeof(mac), vec_sig + 7, 64, NULL, &got, NULL), 0);
	for (size_t i = 0; i < 256; i++) {
		unsigned char m2[32];
		memcpy(m2, mac, sizeof(m2));
		m2[i / 8] ^= (unsigned char)(1 << (i % 8));
		sodium_bin2hex(hex, sizeof(hex), m2, sizeof(m2));
		snprintf(sig, sizeof(sig), "sha256=%s", hex);
		assert_int_equal(ingest_sig_check(vec_secret, strlen(vec_secret), sig, vec_body,
		    strlen(vec_body)), JIDO_EAUTHZ);
	}
}

static void
test_secret_bit_flips_fail(void **state)
{
	char secret[sizeof(vec_secret)];
	size_t n = strlen(vec_secret);

	(void)state;
	for (size_t i = 0; i < n * 8; i++) {
		memcpy(secret, vec_secret, sizeof(secret));
		secret[i / 8] ^= (char)(1 << (i % 8));
		assert_int_equal(ingest_sig_check(secret, n, vec_sig, vec_body, strlen(vec_body)),
		    JIDO_EAUTHZ);
	}
}

static void
test_malformed_headers(void **state)
{
	static const char *const bad[] = {
		NULL, "", "sha256=", "sha1=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
		"sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e1",
		"sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e177",
		"sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e1g",
		" sha256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
		"SHA256=757107ea0eb2509fc211221cce984b8a37570b6d7586c22c46f4379c8b043e17",
		NULL
	};

	(void)state;
	assert_int_equal(ingest_sig_check(vec_secret, strlen(vec_secret), NULL, vec_body,
	    strlen(vec_body)), JIDO_EVALIDATION);
	for (int i = 1; bad[i] != NULL; i++)
		assert_int_equal(ingest_sig_check(vec_secret, strlen(vec_secret), bad[i], vec_body,
		    strlen(vec_body)), JIDO_EVALIDATION);
}

static void
write_file(const char *path, const char *text, mode_t mode)
{
	FILE *f = fopen(path, "w");

	assert_non_null(f);
	fputs(text, f);
	fclose(f);
	chmod(path, mode);
}

static void
test_secret_file_rotation(void **state)
{
	struct ingest_secrets k;
	char dir[] = "/tmp/ingest-sig-XXXXXX", path[64], why[256], sig_old[80], sig_new[80];

	(void)state;
	assert_non_null(mkdtemp(dir));
	snprintf(path, sizeof(path), "%s/secret", dir);
	ingest_secrets_init(&k);
	assert_int_equal(ingest_secrets_verify(&k, vec_sig, vec_body, strlen(vec_body)),
	    JIDO_ESECRET);
	ingest_sig_make("old-secret", 10, vec_body, strlen(vec_body), sig_old, sizeof(sig_old));
	ingest_sig_make("new-secret", 10, vec_body, strlen(vec_body), sig_new, sizeof(sig_new));

	write_file(path, "old-secret\n", 0600);
	assert_int_equal(ingest_secrets_load_file(&k, path, why, sizeof(why)), 0);
	assert_int_equal(ingest_secrets_verify(&k, sig_old, vec_body, strlen(vec_body)), 0);
	assert_int_equal(ingest_secrets_verify(&k, sig_new, vec_body, strlen(vec_body)),
	    JIDO_EAUTHZ);
	/* Rotation: the new one first, the old one still accepted. */
	write_file(path, "new-secret\r\nold-secret\r\n", 0600);
	assert_int_equal(ingest_secrets_load_file(&k, path, why, sizeof(why)), 0);
	assert_int_equal(ingest_secrets_verify(&k, sig_new, vec_body, strlen(vec_body)), 0);
	assert_int_equal(ingest_secrets_verify(&k, sig_old, vec_body, strlen(vec_body)), 0);
	/* Grace over. */
	write_file(path, "new-secret", 0600);
	assert_int_equal(ingest_secrets_load_file(&k, path, why, sizeof(why)), 0);
	assert_int_equal(ingest_secrets_verify(&k, sig_old, vec_body, strlen(vec_body)),
	    JIDO_EAUTHZ);
	/* A group-readable file is refused and the secret in force is kept. */
	write_file(path, "evil\n", 0640);
	assert_int_equal(ingest_secrets_load_file(&k, path, why, sizeof(why)), JIDO_ESECRET);
	assert_non_null(strstr(why, "chmod 600"));
	assert_null(strstr(why, "evil"));
	assert_int_equal(ingest_secrets_verify(&k, sig_new, vec_body, strlen(vec_body)), 0);
	/* An empty first line is refused. */
	write_file(path, "\nold\n", 0600);
	assert_int_equal(ingest_secrets_load_file(&k, path, why, sizeof(why)), JIDO_ESECRET);
	ingest_secrets_clear(&k);
	assert_int_equal(ingest_secrets_verify(&k, sig_new, vec_body, strlen(vec_body)),
	    JIDO_ESECRET);
	unlink(path);
	rmdir(dir);
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_vector_verifies),
		cmocka_unit_test(test_body_bit_flips_fail),
		cmocka_unit_test(test_signature_bit_flips_fail),
		cmocka_unit_test(test_secret_bit_flips_fail),
		cmocka_unit_test(test_malformed_headers),
		cmocka_unit_test(test_secret_file_rotation),
	};
	if (sodium_init() < 0)
		return 1;
	return cmocka_run_group_tests(tests, NULL, NULL);
}
