/*
 * notify.c - notifications to the owner when a run waits for approval or fails: a Telegram
 * bot (sendMessage), a generic JSON webhook signed with HMAC-SHA256 (X-Jido-Signature:
 * sha256=<hex> over the raw body), or ntfy. Configured with web.notify (kind),
 * web.notify_url, web.notify_chat (Telegram), web.notify_secret (bot token, HMAC key or
 * ntfy token) and debounced: the first event goes out at once, later ones within
 * web.notify_debounce_s are gathered into one message. Each line links to the run's page.
 * A provider breaker that opens is announced too: the notifier polls gateway.breakers
 * every web.notify_breaker_poll_s (0: never).
 *
 * The HTTP thread queues (notify_event); a notifier thread of its own sends with libcurl,
 * so a slow endpoint never holds up a page. Both threads start after seccomp.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <curl/curl.h>
#include <sodium.h>

#include "web.h"

#define NOTIFY_QMAX 50

struct notify {
	pthread_t th;
	int started;
	pthread_mutex_t mu;
	pthread_cond_t cv;
	int stop;
	char *q[NOTIFY_QMAX];   /* pending lines, owned */
	int nq;
	int dropped;
	int64_t last_sent;      /* monotonic ms of the last send, 0 never */
	int kind;               /* 0 off, 1 telegram, 2 webhook, 3 ntfy */
	int64_t debounce_ms;
	int64_t breaker_poll_ms;
	int64_t breaker_next;   /* monotonic ms of the next gateway.breakers poll */
	char brk_name[16][64];  /* upstreams seen, with their last breaker state */
	int brk_open[16];
	int nbrk;
};

static const char *const kinds[] = { "off", "telegram", "webhook", "ntfy" };

int
notify_open(struct web *w, char *why, size_t whylen)
{
	const char *k = jido_conf_str(w->conf, "web.notify");
	struct notify *n;
	int kind = 0;

	for (int i = 1; i < 4; i++)
		if (k != NULL && strcmp(k, kinds[i]) == 0)
			kind = i;
	if (kind == 0 && k != NULL && k[0] != '\0' && strcmp(k, "off") != 0) {
		snprintf(why, whylen, "web.notify must be telegram, webhook, ntfy or off, not '%s'", k);
		return JIDO_EVALIDATION;
	}
	if (kind != 0 && jido_conf_str(w->conf, "web.notify_url")[0] == '\0') {
		snprintf(why, whylen, "web.notify = %s needs web.notify_url", kinds[kind]);
		return JIDO_EVALIDATION;
	}
	if (kind == 1 && (jido_conf_str(w->conf, "web.notify_chat")[0] == '\0' ||
	    jido_conf_str(w->conf, "web.notify_secret")[0] == '\0')) {
		snprintf(why, whylen, "web.notify = telegram needs web.notify_chat and "
		    "web.notify_secret (the bot token)");
		return JIDO_EVALIDATION;
	}
	if (kind == 2 && jido_conf_str(w->conf, "web.notify_secret")[0] == '\0') {
		snprintf(why, whylen, "web.notify = webhook needs web.notify_secret (the HMAC key)");
		return JIDO_EVALIDATION;
	}
	if ((n = calloc(1, sizeof(*n))) == NULL)
		return JIDO_EINTERNAL;
	pthread_mutex_init(&n->mu, NULL);
	pthread_cond_init(&n->cv, NULL);
	n->kind = kind;
	n->debounce_ms = jido_conf_int(w->conf, "web.notify_debounce_s") * 1000;
	n->breaker_poll_ms = jido_conf_int(w->conf, "web.notify_breaker_poll_s") * 1000;
	w->notify = n;
	if (kind != 0)
		curl_global_init(CURL_GLOBAL_DEFAULT);
	return 0;
}

const char *
notify_kind(struct web *w)
{
	return w->notify != NULL ? kinds[w->notify->kind] : "off";
}

void
notify_event(struct web *w, const char *line)
{
	struct notify *n = w->notify;

	if (n == NULL || n->kind == 0)
		return;
	pthread_mutex_lock(&n->mu);
	if (n->nq < NOTIFY_QMAX)
		n->q[n->nq++] = strdup(line);
	else
		n->dropped++;
	pthread_cond_signal(&n->cv);
	pthread_mutex_unlock(&n->mu);
}

static size_t
notify_discard(char *p, size_t size, size_t nmemb, void *arg)
{
	(void)p;
	(void)arg;
	return size * nmemb;
}

/* Send text once; 0 on a 2xx answer. */
static int
notify_send(struct web *w, int kind, const char *text)
{
	const char *url = jido_conf_str(w->conf, "web.notify_url");
	const char *secret = jido_conf_str(w->conf, "web.notify_secret");
	struct curl_slist *h = NULL;
	char *body = NULL, full[1024], hdr[256];
	long status = 0;
	CURL *c = curl_easy_init();
	int rc = JIDO_EPROVIDER;

	if (c == NULL)
		return JIDO_EINTERNAL;
	if (kind == 1) { /* Telegram: POST <url>/bot<token>/sendMessage */
		snprintf(full, sizeof(full), "%s/bot%s/sendMessage", url, secret);
		json_t *j = json_pack("{s:s,s:s,s:b}", "chat_id", jido_conf_str(w->conf,
		    "web.notify_chat"), "text", text, "disable_web_page_preview", 1);
		body = jido_json_dump(j);
		json_decref(j);
		h = curl_slist_append(h, "Content-Type: application/json");
	} else if (kind == 2) { /* webhook: signed JSON */
		unsigned char mac[crypto_auth_hmacsha256_BYTES];
		char hex[2 * sizeof(mac) + 1], ts[40];
		json_t *j;
		jido_time_rfc3339(ts, sizeof(ts));
		j = json_pack("{s:s,s:s,s:s}", "event", "jidocode.notification", "text", text, "at",
		    ts);
		body = jido_json_dump(j);
		json_decref(j);
		if (body != NULL) {
			crypto_auth_hmacsha256_state st;
			crypto_auth_hmacsha256_init(&st, (const unsigned char *)secret, strlen(secret));
			crypto_auth_hmacsha256_update(&st, (const unsigned char *)body, strlen(body));
			crypto_auth_hmacsha256_final(&st, mac);
			sodium_bin2hex(hex, sizeof(hex), mac, sizeof(mac));
			snprintf(hdr, sizeof(hdr), "X-Jido-Signature: sha256=%s", hex);
			h = curl_slist_append(h, hdr);
		}
		h = curl_slist_append(h, "Content-Type: application/json");
		snprintf(full, sizeof(full), "%s", url);
	} else { /* ntfy: the text as the body */
		body = strdup(text);
		h = curl_slist_append(h, "Title: JidoCode");
		if (secret[0] != '\0') {
			snprintf(hdr, sizeof(hdr), "Authorization: Bearer %s", secret);
			h = curl_slist_append(h, hdr);
		}
		snprintf(full, sizeof(full), "%s", url);
	}
	if (body == NULL)
		goto out;
	curl_easy_setopt(c, CURLOPT_URL, full);
	curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
	curl_easy_setopt(c, CURLOPT_HTTPHEADER, h);
	curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 10000L);
	curl_easy_setopt(c, CURLOPT_CONNECTTIMEOUT_MS, 5000L);
	curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
	curl_easy_setopt(c, CURLOPT_PROTOCOLS_STR, "http,https");
	curl_easy_setopt(c, CURLOPT_IPRESOLVE, CURL_IPRESOLVE_V4);
	curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, notify_discard);
	if (curl_easy_perform(c) == CURLE_OK &&
	    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status) == CURLE_OK &&
	    status >= 200 && status < 300)
		rc = 0;
out:
	/* never log the URL: a Telegram URL carries the bot token */
	if (rc == 0)
		w->m.notify_sent++;
	else {
		w->m.notify_failed++;
		jido_warn("web.notify_failed", "{s:s,s:i}", "kind", kinds[kind], "status",
		    (int)status);
	}
	sodium_memzero(full, sizeof(full));
	free(body);
	curl_slist_free_all(h);
	curl_easy_cleanup(c);
	return rc;
}

/*
 * Ask the gateway for its breakers and queue a line for each upstream whose breaker is
 * open now and was not at the last poll (or was never seen): the owner hears when a
 * provider is cut off, once per opening. Called by the notifier thread without n->mu.
 * A gateway that does not answer changes nothing.
 */
static void
notify_breakers_poll(struct web *w)
{
	struct notify *n = w->notify;
	struct jido_reply r;
	const json_t *u;
	size_t i;

	if (web_call(w, "gateway", "gateway.breakers", NULL, NULL, &r) != 0)
		return;
	json_array_foreach(r.ok ? json_object_get(r.data, "upstreams") : NULL, i, u) {
		const char *name = json_string_value(json_object_get(u, "name"));
		const char *state = json_string_value(json_object_get(u, "state"));
		int open = state != NULL && strcmp(state, "open") == 0, k;
		if (name == NULL)
			continue;
		for (k = 0; k < n->nbrk && strcmp(n->brk_name[k], name) != 0; k++)
			;
		if (k == n->nbrk) {
			if (n->nbrk == 16)
				continue;
			snprintf(n->brk_name[k], sizeof(n->brk_name[k]), "%s", name);
			n->brk_open[k] = 0;
			n->nbrk++;
		}
		if (open && !n->brk_open[k]) {
			char line[512];
			snprintf(line, sizeof(line), "Provider breaker open: %s (%lld failures); its "
			    "requests go to the next upstream: %s/agents", name, (long long)
			    json_integer_value(json_object_get(u, "failures")),
			    jido_conf_str(w->conf, "web.public_url"));
			notify_event(w, line);
		}
		n->brk_open[k] = open;
	}
	jido_reply_free(&r);
}

static void *
notify_thread(void *arg)
{
	struct web *w = arg;
	struct notify *n = w->notify;

	pthread_mutex_lock(&n->mu);
	while (!n->stop) {
		int64_t now = jido_now_ms(), wait_ms = 1000;
		if (n->breaker_poll_ms > 0 && now >= n->breaker_next) {
			n->breaker_next = now + n->breaker_poll_ms;
			pthread_mutex_unlock(&n->mu);
			notify_breakers_poll(w);
			pthread_mutex_lock(&n->mu);
			continue;
		}
		if (n->breaker_poll_ms > 0 && n->breaker_next - now < wait_ms)
			wait_ms = n->breaker_next - now;
		if (n->nq > 0) {
			int64_t due = n->last_sent == 0 ? now : n->last_sent + n->debounce_ms;
			if (now >= due) {
				char text[4096] = "";
				int count = n->nq, dropped = n->dropped;
				for (int i = 0; i < n->nq; i++) {
					if (strlen(text) + strlen(n->q[i]) + 2 < sizeof(text))
						snprintf(text + strlen(text), sizeof(text) - strlen(text), "%s%s",
						    text[0] ? "\n" : "", n->q[i]);
					free(n->q[i]);
				}
				n->nq = 0;
				n->dropped = 0;
				n->last_sent = now;
				if (dropped > 0)
					snprintf(text + strlen(text), sizeof(text) - strlen(text),
					    "\n(and %d more)", dropped);
				pthread_mutex_unlock(&n->mu);
				jido_info("web.notify", "{s:s,s:i}", "kind", kinds[n->kind], "events",
				    count + dropped);
				notify_send(w, n->kind, text);
				pthread_mutex_lock(&n->mu);
				continue;
			}
			wait_ms = due - now;
		}
		struct timespec ts;
		clock_gettime(CLOCK_REALTIME, &ts);
		ts.tv_sec += wait_ms / 1000;
		ts.tv_nsec += (wait_ms % 1000) * 1000000;
		if (ts.tv_nsec >= 1000000000) {
			ts.tv_sec++;
			ts.tv_nsec -= 1000000000;
		}
		pthread_cond_timedwait(&n->cv, &n->mu, &ts);
	}
	pthread_mutex_unlock(&n->mu);
	return NULL;
}

int
notify_start(struct web *w)
{
	struct notify *n = w->notify;

	if (n == NULL || n->kind == 0 || n->started)
		return 0;
	if (pthread_create(&n->th, NULL, notify_thread, w) != 0)
		return JIDO_EINTERNAL;
	n->started = 1;
	return 0;
}

void
notify_close(struct web *w)
{
	struct notify *n = w->notify;

	if (n == NULL)
		return;
	if (n->started) {
		pthread_mutex_lock(&n->mu);
		n->stop = 1;
		pthread_cond_signal(&n->cv);
		pthread_mutex_unlock(&n->mu);
		pthread_join(n->th, NULL);
	}
	for (int i = 0; i < n->nq; i++)
		free(n->q[i]);
	pthread_mutex_destroy(&n->mu);
	pthread_cond_destroy(&n->cv);
	if (n->kind != 0)
		curl_global_cleanup();
	free(n);
	w->notify = NULL;
}
