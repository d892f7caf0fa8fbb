/*
 * ghapp.c - GitHub App authentication for ingest and gitops: a JWT (RS256, signed with
 * the App's private key with OpenSSL's libcrypto: libsodium has no RSA) exchanged at
 * POST /app/installations/{id}/access_tokens for an installation token, which is cached
 * in sodium_malloc'd (locked) memory and minted again 5 minutes before GitHub says it
 * expires, or at once when a caller saw it refused (force). The private key comes from
 * the vault (github.app_private_key) or, in tests, a 0600 PEM file
 * (github.app_private_key_file), is read only to mint, and wiped right after.
 * libcrypto is loaded with the first signature (dlopen, as lib/curl_shim.c does for
 * libcurl): a process that never signs as an App (most never do) does not map it.
 */
#include <dlfcn.h>
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <curl/curl.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <sodium.h>

#include "jido.h"

#define GHAPP_PEM_MAX 16384
#define GHAPP_BODY_MAX 65536
#define GHAPP_TOKEN_MAX 1024

struct jido_ghapp {
	const struct jido_conf *c; /* borrowed */
	char home[4096];
	char app_id[64];
	char installation_id[64];
	char *token;      /* sodium_malloc'd installation token, or NULL */
	int64_t expires;  /* unix seconds GitHub gave for token */
	char *pem;        /* sodium_malloc'd key handed over by a parent (ship worker), or NULL */
};

/* ------------------------------------------------------------------ JWT */

/* base64url without padding of n bytes into a malloc'd string (caller frees). */
static char *
b64url(const void *p, size_t n)
{
	size_t cap = sodium_base64_encoded_len(n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	char *s = malloc(cap);

	if (s != NULL)
		sodium_bin2base64(s, cap, p, n, sodium_base64_VARIANT_URLSAFE_NO_PADDING);
	return s;
}

/* libcrypto's entry points this file uses, resolved by ghapp_crypto_load. */
static struct {
	BIO *(*bio_new_mem_buf)(const void *, int);
	int (*bio_free)(BIO *);
	EVP_PKEY *(*pem_read_bio_privatekey)(BIO *, EVP_PKEY **, pem_password_cb *, void *);
	int (*pkey_get_base_id)(const EVP_PKEY *);
	void (*pkey_free)(EVP_PKEY *);
	EVP_MD_CTX *(*md_ctx_new)(void);
	void (*md_ctx_free)(EVP_MD_CTX *);
	const EVP_MD *(*sha256)(void);
	int (*digest_sign_init)(EVP_MD_CTX *, EVP_PKEY_CTX **, const EVP_MD *, ENGINE *,
	    EVP_PKEY *);
	int (*digest_sign)(EVP_MD_CTX *, unsigned char *, size_t *, const unsigned char *,
	    size_t);
} gc;
static pthread_once_t gc_once = PTHREAD_ONCE_INIT;
static int gc_ok;
static char gc_why[200];

static void
ghapp_crypto_load(void)
{
	void *h = dlopen("libcrypto.so.3", RTLD_NOW | RTLD_LOCAL);

	if (h == NULL) {
		snprintf(gc_why, sizeof(gc_why), "cannot load libcrypto: %s", dlerror());
		return;
	}
#define GC_SYM(field, name) \
	if ((*(void **)&gc.field = dlsym(h, name)) == NULL) { \
		snprintf(gc_why, sizeof(gc_why), "libcrypto has no %s", name); \
		return; \
	}
	GC_SYM(bio_new_mem_buf, "BIO_new_mem_buf")
	GC_SYM(bio_free, "BIO_free")
	GC_SYM(pem_read_bio_privatekey, "PEM_read_bio_PrivateKey")
	GC_SYM(pkey_get_base_id, "EVP_PKEY_get_base_id")
	GC_SYM(pkey_free, "EVP_PKEY_free")
	GC_SYM(md_ctx_new, "EVP_MD_CTX_new")
	GC_SYM(md_ctx_free, "EVP_MD_CTX_free")
	GC_SYM(sha256, "EVP_sha256")
	GC_SYM(digest_sign_init, "EVP_DigestSignInit")
	GC_SYM(digest_sign, "EVP_DigestSign")
#undef GC_SYM
	gc_ok = 1;
}

int
jido_ghapp_jwt(const char *pem, size_t pemlen, const char *app_id, int64_t now, char **jwt,
    char *why, size_t whylen)
{
	BIO *bio = NULL;
	EVP_PKEY *key = NULL;
	EVP_MD_CTX *md = NULL;
	json_t *claims;
	char *hdr = NULL, *pay = NULL, *text = NULL, *input = NULL, *sig64 = NULL;
	unsigned char *sig = NULL;
	size_t siglen = 0;
	int rc = JIDO_EINTERNAL;

	*jwt = NULL;
	/* iat 60 s in the past (clock drift), exp 9 minutes ahead: GitHub's cap is 10 */
	claims = json_pack("{s:I,s:I,s:s}", "iat", (json_int_t)(now - 60), "exp",
	    (json_int_t)(now + 540), "iss", app_id);
	text = claims ? json_dumps(claims, JSON_COMPACT) : NULL;
	json_decref(claims);
	hdr = b64url("{\"alg\":\"RS256\",\"typ\":\"JWT\"}", 27);
	pay = text ? b64url(text, strlen(text)) : NULL;
	if (hdr == NULL || pay == NULL || (input = malloc(strlen(hdr) + strlen(pay) + 2)) == NULL) {
		snprintf(why, whylen, "out of memory");
		goto out;
	}
	sprintf(input, "%s.%s", hdr, pay);
	pthread_once(&gc_once, ghapp_crypto_load);
	if (!gc_ok) {
		snprintf(why, whylen, "cannot sign the GitHub App JWT: %s", gc_why);
		goto out;
	}
	if ((bio = gc.bio_new_mem_buf(pem, (int)pemlen)) == NULL ||
	    (key = gc.pem_read_bio_privatekey(bio, NULL, NULL, NULL)) == NULL ||
	    gc.pkey_get_base_id(key) != EVP_PKEY_RSA) {
		snprintf(why, whylen, "the GitHub App private key is not an RSA key in PEM form");
		rc = JIDO_ESECRET;
		goto out;
	}
	if ((md = gc.md_ctx_new()) == NULL ||
	    gc.digest_sign_init(md, NULL, gc.sha256(), NULL, key) != 1 ||
	    gc.digest_sign(md, NULL, &siglen, (const unsigned char *)input, strlen(input)) != 1 ||
	    (sig = malloc(siglen)) == NULL ||
	    gc.digest_sign(md, sig, &siglen, (const unsigned char *)input, strlen(input)) != 1 ||
	    (sig64 = b64url(sig, siglen)) == NULL) {
		snprintf(why, whylen, "cannot sign the GitHub App JWT (RS256)");
		goto out;
	}
	if ((*jwt = malloc(strlen(input) + strlen(sig64) + 2)) == NULL) {
		snprintf(why, whylen, "out of memory");
		goto out;
	}
	sprintf(*jwt, "%s.%s", input, sig64);
	rc = 0;
out:
	if (gc_ok) {
		gc.md_ctx_free(md);
		gc.pkey_free(key); /* OpenSSL clears RSA key material when freeing it */
		gc.bio_free(bio);
	}
	free(hdr);
	free(pay);
	free(text);
	free(input);
	free(sig);
	free(sig64);
	return rc;
}

/* ------------------------------------------------------------------ the cache */

int
jido_ghapp_configured(const struct jido_conf *c)
{
	const char *id = jido_conf_str(c, "github.app_id");

	return id != NULL && id[0] != '\0';
}

int
jido_ghapp_new(const struct jido_conf *c, const char *home, struct jido_ghapp **out,
    char *why, size_t whylen)
{
	const char *id = jido_conf_str(c, "github.app_id");
	const char *inst = jido_conf_str(c, "github.app_installation_id");
	struct jido_ghapp *g;

	*out = NULL;
	if (id == NULL || id[0] == '\0' || inst == NULL || inst[0] == '\0' ||
	    strspn(id, "0123456789") != strlen(id) || strspn(inst, "0123456789") != strlen(inst) ||
	    strlen(id) >= 64 || strlen(inst) >= 64) {
		snprintf(why, whylen, "github.app_id and github.app_installation_id must both be "
		    "set to numbers for GitHub App authentication");
		return JIDO_EVALIDATION;
	}
	if ((g = calloc(1, sizeof(*g))) == NULL) {
		snprintf(why, whylen, "out of memory");
		return JIDO_EINTERNAL;
	}
	g->c = c;
	snprintf(g->home, sizeof(g->home), "%s", home ? home : "");
	snprintf(g->app_id, sizeof(g->app_id), "%s", id);
	snprintf(g->installation_id, sizeof(g->installation_id), "%s", inst);
	*out = g;
	return 0;
}

static void
ghapp_drop(char **p)
{
	if (*p != NULL) {
		sodium_memzero(*p, strlen(*p));
		sodium_free(*p);
		*p = NULL;
	}
}

void
jido_ghapp_free(struct jido_ghapp *g)
{
	if (g == NULL)
		return;
	ghapp_drop(&g->token);
	ghapp_drop(&g->pem);
	free(g);
}

int
jido_ghapp_set_key(struct jido_ghapp *g, const char *pem, size_t len)
{
	ghapp_drop(&g->pem);
	if (len == 0 || len > GHAPP_PEM_MAX || (g->pem = sodium_malloc(len + 1)) == NULL)
		return JIDO_EINTERNAL;
	memcpy(g->pem, pem, len);
	g->pem[len] = '\0';
	return 0;
}

int
jido_ghapp_key(struct jido_ghapp *g, char **pem, char *why, size_t whylen)
{
	const char *file = jido_conf_str(g->c, "github.app_private_key_file");

	*pem = NULL;
	if (g->pem != NULL) {
		size_t n = strlen(g->pem);
		if ((*pem = sodium_malloc(n + 1)) == NULL)
			return JIDO_EINTERNAL;
		memcpy(*pem, g->pem, n + 1);
		return 0;
	}
	if (file != NULL && file[0] != '\0') {
		struct stat st;
		int fd = open(file, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);
		ssize_t n = -1;
		if (fd < 0 || fstat(fd, &st) != 0 || (st.st_mode & 077) != 0 ||
		    st.st_uid != geteuid() || st.st_size <= 0 || st.st_size > GHAPP_PEM_MAX ||
		    (*pem = sodium_malloc((size_t)st.st_size + 1)) == NULL ||
		    (n = read(fd, *pem, (size_t)st.st_size)) != st.st_size) {
			snprintf(why, whylen, "github.app_private_key_file: must be a readable 0600 "
			    "PEM file of ours (%s)", fd < 0 ? strerror(errno) : "bad mode or size");
			if (fd >= 0)
				close(fd);
			if (*pem != NULL) {
				sodium_memzero(*pem, (size_t)st.st_size);
				sodium_free(*pem);
				*pem = NULL;
			}
			return JIDO_ESECRET;
		}
		close(fd);
		(*pem)[n] = '\0';
		return 0;
	}
	return jido_vault_get(g->c, g->home, "github.app_private_key", NULL, pem, why, whylen);
}

/* RFC 3339 UTC ("2026-01-01T00:00:00Z") to unix seconds; -1 when malformed. */
static int64_t
ghapp_time(const char *s)
{
	struct tm tm;
	const char *end;

	memset(&tm, 0, sizeof(tm));
	if (s == NULL || (end = strptime(s, "%Y-%m-%dT%H:%M:%S", &tm)) == NULL)
		return -1;
	return (int64_t)timegm(&tm);
}

void
jido_curl_slist_free_wiped(struct curl_slist *l)
{
	for (struct curl_slist *it = l; it != NULL; it = it->next)
		sodium_memzero(it->data, strlen(it->data));
	curl_slist_free_all(l);
}

/* Mint: JWT, then the exchange. On 0 g->token and g->expires hold the new token. */
static int
ghapp_mint(struct jido_ghapp *g, char *why, size_t whylen)
{
	const char *api = jido_conf_str(g->c, "github.api_url");
	char url[1200], *pem = NULL, *jwt = NULL, *auth = NULL;
	struct curl_slist *h = NULL;
	struct jido_buf b = { .max = GHAPP_BODY_MAX, .wipe = 1 }; /* holds the token */
	long status = 0;
	json_t *resp = NULL;
	CURL *cu = NULL;
	int rc;

	if ((rc = jido_ghapp_key(g, &pem, why, whylen)) != 0)
		return rc;
	rc = jido_ghapp_jwt(pem, strlen(pem), g->app_id, (int64_t)time(NULL), &jwt, why, whylen);
	sodium_memzero(pem, strlen(pem));
	sodium_free(pem);
	if (rc != 0)
		return rc;
	snprintf(url, sizeof(url), "%s/app/installations/%s/access_tokens", api ? api : "",
	    g->installation_id);
	if ((auth = malloc(strlen(jwt) + 32)) == NULL || (cu = curl_easy_init()) == NULL) {
		rc = JIDO_EINTERNAL;
		snprintf(why, whylen, "out of memory");
		goto out;
	}
	sprintf(auth, "Authorization: Bearer %s", jwt);
	h = curl_slist_append(h, auth);
	h = curl_slist_append(h, "Accept: application/vnd.github+json");
	h = curl_slist_append(h, "X-GitHub-Api-Version: 2022-11-28");
	h = curl_slist_append(h, "User-Agent: JidoCode");
	curl_easy_setopt(cu, CURLOPT_URL, url);
	curl_easy_setopt(cu, CURLOPT_POST, 1L);
	curl_easy_setopt(cu, CURLOPT_POSTFIELDS, "");
	curl_easy_setopt(cu, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(cu, CURLOPT_WRITEFUNCTION, jido_buf_curl_write);
	curl_easy_setopt(cu, CURLOPT_WRITEDATA, &b);
	curl_easy_setopt(cu, CURLOPT_TIMEOUT, 30L);
	curl_easy_setopt(cu, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(cu, CURLOPT_PROTOCOLS_STR, "http,https");
	if (curl_easy_perform(cu) != CURLE_OK) {
		rc = JIDO_EUNAVAIL;
		snprintf(why, whylen, "POST %s: no answer", url);
		goto out;
	}
	curl_easy_getinfo(cu, CURLINFO_RESPONSE_CODE, &status);
	resp = b.p ? json_loads(b.p, 0, NULL) : NULL;
	const char *tok = json_string_value(json_object_get(resp, "token"));
	int64_t exp = ghapp_time(json_string_value(json_object_get(resp, "expires_at")));
	if (status != 201 || tok == NULL || strlen(tok) == 0 || strlen(tok) > GHAPP_TOKEN_MAX ||
	    exp < 0) {
		const char *m = json_string_value(json_object_get(resp, "message"));
		rc = status == 401 || status == 403 || status == 404 ? JIDO_EAUTHZ : JIDO_EPROVIDER;
		snprintf(why, whylen, "GitHub App installation token: HTTP %ld: %s", status,
		    m ? m : "no token in the answer");
		goto out;
	}
	ghapp_drop(&g->token);
	if ((g->token = sodium_malloc(strlen(tok) + 1)) == NULL) {
		rc = JIDO_EINTERNAL;
		snprintf(why, whylen, "out of locked memory");
		goto out;
	}
	memcpy(g->token, tok, strlen(tok) + 1);
	g->expires = exp;
	rc = 0;
	jido_info("ghapp.token_minted", "{s:s,s:I}", "installation", g->installation_id,
	    "expires_in_s", (json_int_t)(exp - (int64_t)time(NULL)));
out:
	if (resp != NULL) { /* wipe the token's copy in the answer */
		json_t *t = json_object_get(resp, "token");
		if (json_is_string(t))
			sodium_memzero((void *)json_string_value(t), json_string_length(t));
	}
	json_decref(resp);
	jido_free_wiped(b.p, b.cap);
	if (auth != NULL) {
		sodium_memzero(auth, strlen(auth));
		free(auth);
	}
	if (jwt != NULL) { /* a bearer credential for its ten minutes */
		sodium_memzero(jwt, strlen(jwt));
		free(jwt);
	}
	jido_curl_slist_free_wiped(h); /* libcurl's copy of auth */
	if (cu != NULL)
		curl_easy_cleanup(cu);
	return rc;
}

int
jido_ghapp_fresh(const struct jido_ghapp *g, int64_t now)
{
	return g->token != NULL && now < g->expires - JIDO_GHAPP_REFRESH_S;
}

int
jido_ghapp_token(struct jido_ghapp *g, int force, char **tok, char *why, size_t whylen)
{
	int rc;

	*tok = NULL;
	if (force || !jido_ghapp_fresh(g, (int64_t)time(NULL)))
		if ((rc = ghapp_mint(g, why, whylen)) != 0)
			return rc;
	if ((*tok = sodium_malloc(strlen(g->token) + 1)) == NULL) {
		snprintf(why, whylen, "out of locked memory");
		return JIDO_EINTERNAL;
	}
	memcpy(*tok, g->token, strlen(g->token) + 1);
	return 0;
}

void
jido_ghapp_preset(struct jido_ghapp *g, const char *token, int64_t expires)
{
	ghapp_drop(&g->token);
	if ((g->token = sodium_malloc(strlen(token) + 1)) != NULL) {
		memcpy(g->token, token, strlen(token) + 1);
		g->expires = expires;
	}
}
