/*
 * merkle.c - the RFC 6962/9162 Merkle tree of jido-auditor: leaf and node hashes, the
 * persisted frontier (O(log n) append), the tree head, and inclusion and consistency
 * proofs computed from an array of leaf hashes.
 */
#include <string.h>

#include <sodium.h>

#include "audit.h"

void
am_leaf(const void *data, size_t len, uint8_t out[AM_HASH])
{
	crypto_hash_sha256_state st;
	static const uint8_t zero = 0x00;

	crypto_hash_sha256_init(&st);
	crypto_hash_sha256_update(&st, &zero, 1);
	crypto_hash_sha256_update(&st, data, len);
	crypto_hash_sha256_final(&st, out);
}

void
am_node(const uint8_t l[AM_HASH], const uint8_t r[AM_HASH], uint8_t out[AM_HASH])
{
	uint8_t buf[1 + 2 * AM_HASH];

	buf[0] = 0x01;
	memcpy(buf + 1, l, AM_HASH);
	memcpy(buf + 1 + AM_HASH, r, AM_HASH);
	crypto_hash_sha256(out, buf, sizeof(buf));
}

void
am_frontier_append(struct am_frontier *f, const uint8_t leaf[AM_HASH])
{
	uint8_t cur[AM_HASH];
	uint64_t s = f->size;

	memcpy(cur, leaf, AM_HASH);
	/* Each trailing 1 bit of size is a complete subtree of the same height: merge. */
	while (s & 1) {
		am_node(f->h[f->n - 1], cur, cur);
		f->n--;
		s >>= 1;
	}
	memcpy(f->h[f->n++], cur, AM_HASH);
	f->size++;
}

void
am_frontier_root(const struct am_frontier *f, uint8_t out[AM_HASH])
{
	uint8_t cur[AM_HASH];

	if (f->n == 0) {
		crypto_hash_sha256(out, NULL, 0);
		return;
	}
	memcpy(cur, f->h[f->n - 1], AM_HASH);
	for (int i = f->n - 2; i >= 0; i--)
		am_node(f->h[i], cur, cur);
	memcpy(out, cur, AM_HASH);
}

size_t
am_frontier_bytes(const struct am_frontier *f, uint8_t *buf)
{
	memcpy(buf, f->h, (size_t)f->n * AM_HASH);
	return (size_t)f->n * AM_HASH;
}

int
am_frontier_restore(struct am_frontier *f, uint64_t size, const uint8_t *buf, size_t len)
{
	int want = __builtin_popcountll(size);

	if (len != (size_t)want * AM_HASH)
		return JIDO_EINTEGRITY;
	memset(f, 0, sizeof(*f));
	f->size = size;
	f->n = want;
	memcpy(f->h, buf, len);
	return 0;
}

/* Largest power of two strictly less than n (n >= 2). */
static uint64_t
am_split(uint64_t n)
{
	uint64_t k = 1;

	while (k << 1 < n)
		k <<= 1;
	return k;
}

void
am_mth(const uint8_t (*leaves)[AM_HASH], uint64_t n, uint8_t out[AM_HASH])
{
	uint8_t l[AM_HASH], r[AM_HASH];
	uint64_t k;

	if (n == 0) {
		crypto_hash_sha256(out, NULL, 0);
		return;
	}
	if (n == 1) {
		memcpy(out, leaves[0], AM_HASH);
		return;
	}
	k = am_split(n);
	am_mth(leaves, k, l);
	am_mth(leaves + k, n - k, r);
	am_node(l, r, out);
}

/* PATH(m, D[n]): the audit path, leaf to root. */
static void
am_path(const uint8_t (*d)[AM_HASH], uint64_t n, uint64_t m, uint8_t (*out)[AM_HASH],
    size_t *len)
{
	uint64_t k;

	if (n <= 1)
		return;
	k = am_split(n);
	if (m < k) {
		am_path(d, k, m, out, len);
		am_mth(d + k, n - k, out[(*len)++]);
	} else {
		am_path(d + k, n - k, m - k, out, len);
		am_mth(d, k, out[(*len)++]);
	}
}

int
am_inclusion(const uint8_t (*leaves)[AM_HASH], uint64_t n, uint64_t m,
    uint8_t (*out)[AM_HASH], size_t *len)
{
	*len = 0;
	if (m >= n)
		return JIDO_EVALIDATION;
	am_path(leaves, n, m, out, len);
	return 0;
}

/* SUBPROOF(m, D[n], b) of RFC 6962 2.1.2. */
static void
am_subproof(const uint8_t (*d)[AM_HASH], uint64_t n, uint64_t m, int b,
    uint8_t (*out)[AM_HASH], size_t *len)
{
	uint64_t k;

	if (m == n) {
		if (!b)
			am_mth(d, n, out[(*len)++]);
		return;
	}
	k = am_split(n);
	if (m <= k) {
		am_subproof(d, k, m, b, out, len);
		am_mth(d + k, n - k, out[(*len)++]);
	} else {
		am_subproof(d + k, n - k, m - k, 0, out, len);
		am_mth(d, k, out[(*len)++]);
	}
}

int
am_consistency(const uint8_t (*leaves)[AM_HASH], uint64_t n, uint64_t m,
    uint8_t (*out)[AM_HASH], size_t *len)
{
	*len = 0;
	if (m == 0 || m > n)
		return JIDO_EVALIDATION;
	am_subproof(leaves, n, m, 1, out, len);
	return 0;
}

void
am_hex(const uint8_t h[AM_HASH], char out[65])
{
	static const char hx[] = "0123456789abcdef";

	for (int i = 0; i < AM_HASH; i++) {
		out[2 * i] = hx[h[i] >> 4];
		out[2 * i + 1] = hx[h[i] & 15];
	}
	out[64] = '\0';
}

/* Strict: exactly 64 lower-case hex digits. */
int
am_unhex(const char *hex, uint8_t h[AM_HASH])
{
	for (int i = 0; i < 2 * AM_HASH; i++) {
		char c = hex[i];
		int v = c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : -1;
		if (v < 0)
			return JIDO_EVALIDATION;
		if (i & 1)
			h[i / 2] = (uint8_t)(h[i / 2] | v);
		else
			h[i / 2] = (uint8_t)(v << 4);
	}
	return hex[2 * AM_HASH] == '\0' || hex[2 * AM_HASH] == '"' ? 0 : JIDO_EVALIDATION;
}
