/* merkle_test.c - the Merkle tree: known hashes, the O(log n) frontier against the
 * recursive tree head, and every inclusion and consistency proof of small trees checked
 * by verifiers written here from RFC 9162 2.1.3.2 and 2.1.4.2. */
#include <setjmp.h>
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <cmocka.h>
#include <sodium.h>

#include "audit.h"

static uint8_t leaves[600][AM_HASH];

static int
setup(void **state)
{
	(void)state;
	if (sodium_init() < 0)
		return -1;
	for (int i = 0; i < 600; i++) {
		char d[32];
		snprintf(d, sizeof(d), "leaf %d", i);
		am_leaf(d, strlen(d), leaves[i]);
	}
	return 0;
}

static void
test_known_hashes(void **state)
{
	uint8_t h[AM_HASH];
	char hex[65];

	(void)state;
	am_leaf("", 0, h); /* SHA-256(0x00) */
	am_hex(h, hex);
	assert_string_equal(hex, "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d");
	am_mth(NULL, 0, h); /* empty tree: SHA-256("") */
	am_hex(h, hex);
	assert_string_equal(hex, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
	assert_int_equal(am_unhex(hex, h), 0);
	hex[3] = 'A';
	assert_int_not_equal(am_unhex(hex, h), 0);
}

static void
test_frontier_matches_mth(void **state)
{
	struct am_frontier f, g;
	uint8_t a[AM_HASH], b[AM_HASH], buf[AM_MAXH * AM_HASH];

	(void)state;
	memset(&f, 0, sizeof(f));
	for (uint64_t n = 0; n <= 600; n++) {
		am_frontier_root(&f, a);
		am_mth((const uint8_t(*)[AM_HASH])leaves, n, b);
		assert_memory_equal(a, b, AM_HASH);
		assert_int_equal(f.n, __builtin_popcountll(n));
		size_t len = am_frontier_bytes(&f, buf);
		assert_int_equal(am_frontier_restore(&g, n, buf, len), 0);
		am_frontier_root(&g, b);
		assert_memory_equal(a, b, AM_HASH);
		if (n > 0)
			assert_int_not_equal(am_frontier_restore(&g, n, buf, len + AM_HASH), 0);
		if (n < 600)
			am_frontier_append(&f, leaves[n]);
	}
}

/* RFC 9162 2.1.3.2 */
static int
rfc_inclusion_ok(uint64_t index, uint64_t size, const uint8_t leaf[AM_HASH],
    uint8_t (*path)[AM_HASH], size_t plen, const uint8_t root[AM_HASH])
{
	uint64_t fn = index, sn = size - 1;
	uint8_t r[AM_HASH];

	if (index >= size)
		return 0;
	memcpy(r, leaf, AM_HASH);
	for (size_t i = 0; i < plen; i++) {
		if (sn == 0)
			return 0;
		if ((fn & 1) || fn == sn) {
			am_node(path[i], r, r);
			if (!(fn & 1))
				while (!(fn & 1) && fn != 0) {
					fn >>= 1;
					sn >>= 1;
				}
		} else
			am_node(r, path[i], r);
		fn >>= 1;
		sn >>= 1;
	}
	return sn == 0 && memcmp(r, root, AM_HASH) == 0;
}

/* RFC 9162 2.1.4.2 */
static int
rfc_consistency_ok(uint64_t m, uint64_t n, const uint8_t h1[AM_HASH], const uint8_t h2[AM_HASH],
    uint8_t (*proof)[AM_HASH], size_t plen)
{
	uint8_t p[AM_MAXH + 1][AM_HASH], fr[AM_HASH], sr[AM_HASH];
	size_t k = 0;
	uint64_t fn, sn;

	if (m == n)
		return plen == 0 && memcmp(h1, h2, AM_HASH) == 0;
	if (plen == 0)
		return 0;
	if ((m & (m - 1)) == 0)
		memcpy(p[k++], h1, AM_HASH);
	for (size_t i = 0; i < plen; i++)
		memcpy(p[k++], proof[i], AM_HASH);
	fn = m - 1;
	sn = n - 1;
	while (fn & 1) {
		fn >>= 1;
		sn >>= 1;
	}
	memcpy(fr, p[0], AM_HASH);
	memcpy(sr, p[0], AM_HASH);
	for (size_t i = 1; i < k; i++) {
		if (sn == 0)
			return 0;
		if ((fn & 1) || fn == sn) {
			am_node(p[i], fr, fr);
			am_node(p[i], sr, sr);
			if (!(fn & 1))
				while (!(fn & 1) && fn != 0) {
					fn >>= 1;
					sn >>= 1;
				}
		} else
			am_node(sr, p[i], sr);
		fn >>= 1;
		sn >>= 1;
	}
	return memcmp(fr, h1, AM_HASH) == 0 && memcmp(sr, h2, AM_HASH) == 0 && sn == 0;
}

static void
test_inclusion_proofs(void **state)
{
	uint8_t path[AM_MAXH][AM_HASH], root[AM_HASH];
	size_t plen;

	(void)state;
	for (uint64_t n = 1; n <= 70; n++) {
		am_mth((const uint8_t(*)[AM_HASH])leaves, n, root);
		for (uint64_t m = 0; m < n; m++) {
			assert_int_equal(am_inclusion((const uint8_t(*)[AM_HASH])leaves, n, m, path,
			    &plen), 0);
			assert_true(rfc_inclusion_ok(m, n, leaves[m], path, plen, root));
			/* the proof is for this leaf only */
			assert_false(rfc_inclusion_ok(m, n, leaves[(m + 1) % 600], path, plen, root));
			if (plen > 0) {
				path[plen - 1][0] ^= 1;
				assert_false(rfc_inclusion_ok(m, n, leaves[m], path, plen, root));
			}
		}
		assert_int_not_equal(am_inclusion((const uint8_t(*)[AM_HASH])leaves, n, n, path,
		    &plen), 0);
	}
}

static void
test_consistency_proofs(void **state)
{
	uint8_t proof[AM_MAXH][AM_HASH], h1[AM_HASH], h2[AM_HASH];
	size_t plen;

	(void)state;
	for (uint64_t n = 1; n <= 45; n++) {
		am_mth((const uint8_t(*)[AM_HASH])leaves, n, h2);
		for (uint64_t m = 1; m <= n; m++) {
			am_mth((const uint8_t(*)[AM_HASH])leaves, m, h1);
			assert_int_equal(am_consistency((const uint8_t(*)[AM_HASH])leaves, n, m, proof,
			    &plen), 0);
			assert_true(rfc_consistency_ok(m, n, h1, h2, proof, plen));
			if (plen > 0) {
				proof[0][5] ^= 0x40;
				assert_false(rfc_consistency_ok(m, n, h1, h2, proof, plen));
			}
		}
		assert_int_not_equal(am_consistency((const uint8_t(*)[AM_HASH])leaves, n, 0, proof,
		    &plen), 0);
	}
	/* a different history is not consistent */
	uint8_t other[8][AM_HASH];
	memcpy(other, leaves, sizeof(other));
	other[2][0] ^= 1;
	am_mth((const uint8_t(*)[AM_HASH])other, 5, h1);
	am_mth((const uint8_t(*)[AM_HASH])leaves, 8, h2);
	am_consistency((const uint8_t(*)[AM_HASH])leaves, 8, 5, proof, &plen);
	assert_false(rfc_consistency_ok(5, 8, h1, h2, proof, plen));
}

int
main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(test_known_hashes),
		cmocka_unit_test(test_frontier_matches_mth),
		cmocka_unit_test(test_inclusion_proofs),
		cmocka_unit_test(test_consistency_proofs),
	};

	return cmocka_run_group_tests(tests, setup, NULL);
}
