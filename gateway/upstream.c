/*
 * upstream.c - the provider list from config (gateway.upstreams) and the provider keys:
 * from a 0600 key file (tests, single-host set-ups) into sodium_malloc'd locked memory.
 * Keys from the vault are fetched in gateway.c's tick.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include <sodium.h>

#include "gw.h"

static int
up_cmp(const void *a, const void *b)
{
	const struct gw_upstream *x = a, *y = b;

	return (x->priority > y->priority) - (x->priority < y->priority);
}

int
gw_upstreams_parse(const char *text, struct gw_upstream *ups, int max, int *n, char *why,
    size_t whylen)
{
	char *copy = strdup(text != NULL ? text : ""), *save = NULL, *ent;
	int cnt = 0;

	if (copy == NULL)
		return JIDO_EINTERNAL;
	for (ent = strtok_r(copy, ";", &save); ent != NULL; ent = strtok_r(NULL, ";", &save)) {
		char *f[5], *fsave = NULL, *p, *end;
		int nf = 0;
		struct gw_upstream *u;

		while (isspace((unsigned char)*ent))
			ent++;
		if (*ent == '\0')
			continue;
		if (cnt == max) {
			snprintf(why, whylen, "gateway.upstreams: at most %d upstreams", max);
			goto bad_free;
		}
		u = &ups[cnt];
		memset(u, 0, sizeof(*u));
		for (p = strtok_r(ent, ",", &fsave); p != NULL && nf < 5; p = strtok_r(NULL, ",", &fsave)) {
			while (isspace((unsigned char)*p))
				p++;
			end = p + strlen(p);
			while (end > p && isspace((unsigned char)end[-1]))
				*--end = '\0';
			f[nf++] = p;
		}
		if (nf != 5 || p != NULL) {
			snprintf(why, whylen, "gateway.upstreams: entry %d is not "
			    "name,style,base_url,priority,vault:NAME|file:PATH", cnt + 1);
			goto bad_free;
		}
		if (f[0][0] == '\0' || strlen(f[0]) >= sizeof(u->name)) {
			snprintf(why, whylen, "gateway.upstreams: entry %d has a bad name", cnt + 1);
			goto bad_free;
		}
		snprintf(u->name, sizeof(u->name), "%s", f[0]);
		if (strcmp(f[1], "anthropic") == 0)
			u->style = GW_STYLE_ANTHROPIC;
		else if (strcmp(f[1], "openai") == 0)
			u->style = GW_STYLE_OPENAI;
		else {
			snprintf(why, whylen, "gateway.upstreams: %s: style must be anthropic or openai",
			    u->name);
			goto bad_free;
		}
		if ((strncmp(f[2], "http://", 7) != 0 && strncmp(f[2], "https://", 8) != 0) ||
		    strlen(f[2]) >= sizeof(u->base)) {
			snprintf(why, whylen, "gateway.upstreams: %s: base URL must be http(s)://...",
			    u->name);
			goto bad_free;
		}
		snprintf(u->base, sizeof(u->base), "%s", f[2]);
		end = u->base + strlen(u->base);
		while (end > u->base && end[-1] == '/')
			*--end = '\0';
		errno = 0;
		long pr = strtol(f[3], &end, 10);
		if (*f[3] == '\0' || *end != '\0' || errno != 0 || pr < 0 || pr > 1000) {
			snprintf(why, whylen, "gateway.upstreams: %s: priority must be 0-1000", u->name);
			goto bad_free;
		}
		u->priority = (int)pr;
		if (strncmp(f[4], "vault:", 6) == 0 && f[4][6] != '\0' &&
		    strlen(f[4] + 6) < sizeof(u->vault_name))
			snprintf(u->vault_name, sizeof(u->vault_name), "%s", f[4] + 6);
		else if (strncmp(f[4], "file:", 5) == 0 && f[4][5] != '\0' &&
		    strlen(f[4] + 5) < sizeof(u->key_file))
			snprintf(u->key_file, sizeof(u->key_file), "%s", f[4] + 5);
		else {
			snprintf(why, whylen, "gateway.upstreams: %s: key source must be vault:NAME or "
			    "file:PATH", u->name);
			goto bad_free;
		}
		for (int i = 0; i < cnt; i++)
			if (strcmp(ups[i].name, u->name) == 0) {
				snprintf(why, whylen, "gateway.upstreams: name %s appears twice", u->name);
				goto bad_free;
			}
		cnt++;
	}
	free(copy);
	/* stable order by priority (insertion order among equals) */
	qsort(ups, (size_t)cnt, sizeof(*ups), up_cmp);
	*n = cnt;
	return 0;
bad_free:
	free(copy);
	return JIDO_EVALIDATION;
}

int
gw_keyfile_read(const char *path, char **out, char *why, size_t whylen)
{
	struct stat st;
	char *buf;
	ssize_t r;
	size_t len = 0;
	int fd = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW);

	if (fd < 0) {
		snprintf(why, whylen, "cannot open key file %s: %s", path, strerror(errno));
		return JIDO_ESECRET;
	}
	if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode) || (st.st_mode & 077) != 0 ||
	    st.st_size <= 0 || st.st_size > 4096) {
		snprintf(why, whylen, "key file %s must be a regular file of mode 0600 and 1-4096 bytes",
		    path);
		close(fd);
		return JIDO_ESECRET;
	}
	if ((buf = sodium_malloc((size_t)st.st_size + 1)) == NULL) {
		close(fd);
		return JIDO_EINTERNAL;
	}
	while (len < (size_t)st.st_size && (r = read(fd, buf + len, (size_t)st.st_size - len)) > 0)
		len += (size_t)r;
	close(fd);
	while (len > 0 && (buf[len - 1] == '\n' || buf[len - 1] == '\r' || buf[len - 1] == ' '))
		len--;
	buf[len] = '\0';
	for (size_t i = 0; i < len; i++)
		if ((unsigned char)buf[i] < 0x21 || (unsigned char)buf[i] > 0x7e) {
			sodium_free(buf);
			snprintf(why, whylen, "key file %s holds something other than one printable token",
			    path);
			return JIDO_ESECRET;
		}
	if (len == 0) {
		sodium_free(buf);
		snprintf(why, whylen, "key file %s is empty", path);
		return JIDO_ESECRET;
	}
	*out = buf;
	return 0;
}
