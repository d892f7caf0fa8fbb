/*
 * workspace.c - per-project git checkouts and result diffs (see workspace.h). git runs
 * with a hardened environment: no system or global config, no credential helper, no
 * prompts, hooks and fsmonitor off, the ext:: transport refused.
 */
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "jido.h"
#include "executor.h"
#include "workspace.h"

extern char **environ;

int
ws_check_repo(const char *repo, char *why, size_t whylen)
{
	const char *slash = repo != NULL ? strchr(repo, '/') : NULL;
	size_t i;

	if (repo == NULL || slash == NULL || slash == repo || slash[1] == '\0' ||
	    strchr(slash + 1, '/') != NULL || strlen(repo) > 200 || repo[0] == '.' ||
	    slash[1] == '.')
		goto bad;
	for (i = 0; repo[i] != '\0'; i++)
		if (!isalnum((unsigned char)repo[i]) && strchr("-_./", repo[i]) == NULL)
			goto bad;
	return 0;
bad:
	snprintf(why, whylen, "workspace.repo must be owner/name");
	return JIDO_EVALIDATION;
}

int
ws_check_branch(const char *b, char *why, size_t whylen)
{
	size_t i;

	if (b == NULL || b[0] == '\0' || b[0] == '-' || b[0] == '/' || strlen(b) > 200 ||
	    strstr(b, "..") != NULL || strstr(b, "//") != NULL || strstr(b, "@{") != NULL ||
	    b[strlen(b) - 1] == '/' || b[strlen(b) - 1] == '.' ||
	    (strlen(b) >= 5 && strcmp(b + strlen(b) - 5, ".lock") == 0))
		goto bad;
	for (i = 0; b[i] != '\0'; i++)
		if (!isalnum((unsigned char)b[i]) && strchr("-_./", b[i]) == NULL)
			goto bad;
	return 0;
bad:
	snprintf(why, whylen, "invalid branch name '%.80s'", b ? b : "(null)");
	return JIDO_EVALIDATION;
}

int
ws_check_url(const char *url, char *why, size_t whylen)
{
	const char *p;

	if (url == NULL || strlen(url) > 1000)
		goto bad;
	if (url[0] == '/')
		return 0;
	if (strncmp(url, "https://", 8) == 0)
		p = url + 8;
	else if (strncmp(url, "http://", 7) == 0)
		p = url + 7;
	else if (strncmp(url, "file://", 7) == 0)
		return 0;
	else
		goto bad;
	/* No credentials in the URL: the checkout is read-only, never with a token. */
	if (memchr(p, '@', strcspn(p, "/")) != NULL) {
		snprintf(why, whylen, "workspace.clone_url must not carry credentials");
		return JIDO_EPOLICY;
	}
	return 0;
bad:
	snprintf(why, whylen, "workspace.clone_url must be https://, http://, file:// or an "
	    "absolute path");
	return JIDO_EVALIDATION;
}

int
ws_git(const struct ws *w, char **out, size_t cap, int *trunc, char *why, size_t whylen,
    const char *const *args)
{
	static const char *const pre[] = { "git", "-c", "core.hooksPath=/dev/null", "-c",
		"core.fsmonitor=false", "-c", "safe.directory=*", "-c", "credential.helper=",
		"-c", "protocol.ext.allow=never", "-c", "core.askPass=/bin/false", "-c",
		"user.name=jido", "-c", "user.email=jido@localhost", NULL };
	const char *argv[64];
	char env_dir[600], env_wt[600], env_home[600];
	char *envp[16];
	int po[2], pe[2], st;
	size_t n = 0, len = 0, elen = 0;
	char err[512];
	pid_t pid;

	for (size_t i = 0; pre[i] != NULL; i++)
		argv[n++] = pre[i];
	for (size_t i = 0; args[i] != NULL && n < 63; i++)
		argv[n++] = args[i];
	argv[n] = NULL;
	snprintf(env_dir, sizeof(env_dir), "GIT_DIR=%s", w->gitdir);
	snprintf(env_wt, sizeof(env_wt), "GIT_WORK_TREE=%s", w->wt);
	snprintf(env_home, sizeof(env_home), "HOME=%s", w->gitdir);
	n = 0;
	envp[n++] = env_dir;
	envp[n++] = env_wt;
	envp[n++] = env_home;
	envp[n++] = (char *)"PATH=/usr/local/bin:/usr/bin:/bin";
	envp[n++] = (char *)"GIT_CONFIG_NOSYSTEM=1";
	envp[n++] = (char *)"GIT_TERMINAL_PROMPT=0";
	envp[n++] = (char *)"GIT_ASKPASS=/bin/false";
	envp[n++] = (char *)"LC_ALL=C";
	envp[n] = NULL;
	if (pipe2(po, O_CLOEXEC) != 0 || pipe2(pe, O_CLOEXEC) != 0) {
		snprintf(why, whylen, "pipe: %s", strerror(errno));
		return -1;
	}
	if ((pid = fork()) < 0) {
		snprintf(why, whylen, "fork: %s", strerror(errno));
		close(po[0]); close(po[1]); close(pe[0]); close(pe[1]);
		return -1;
	}
	if (pid == 0) {
		int nul = open("/dev/null", O_RDONLY);
		if (nul < 0 || dup2(nul, 0) < 0 || dup2(po[1], 1) < 0 || dup2(pe[1], 2) < 0)
			_exit(127);
		execve("/usr/bin/git", (char *const *)argv, envp);
		_exit(127);
	}
	close(po[1]);
	close(pe[1]);
	if (out != NULL) {
		*out = malloc(cap + 1);
		if (*out == NULL) {
			kill(pid, SIGKILL);
		}
	}
	if (trunc != NULL)
		*trunc = 0;
	struct pollfd p[2] = { { po[0], POLLIN, 0 }, { pe[0], POLLIN, 0 } };
	while (p[0].fd >= 0 || p[1].fd >= 0) {
		char buf[8192];
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		for (int i = 0; i < 2; i++) {
			if (p[i].fd < 0 || !(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			ssize_t r = read(p[i].fd, buf, sizeof(buf));
			if (r <= 0) {
				close(p[i].fd);
				p[i].fd = -1;
				continue;
			}
			if (i == 0 && out != NULL && *out != NULL) {
				size_t k = len + (size_t)r > cap ? cap - len : (size_t)r;
				memcpy(*out + len, buf, k);
				len += k;
				if (k < (size_t)r && trunc != NULL)
					*trunc = 1;
			} else if (i == 1) {
				size_t k = elen + (size_t)r >= sizeof(err) ? sizeof(err) - 1 - elen : (size_t)r;
				memcpy(err + elen, buf, k);
				elen += k;
			}
		}
	}
	err[elen] = '\0';
	if (out != NULL && *out != NULL)
		(*out)[len] = '\0';
	while (waitpid(pid, &st, 0) < 0 && errno == EINTR)
		;
	int code = WIFEXITED(st) ? WEXITSTATUS(st) : 128 + WTERMSIG(st);
	if (code != 0) {
		err[strcspn(err, "\n")] = '\0';
		snprintf(why, whylen, "git %s: %s", args[0], elen ? err : "failed");
	}
	if (out != NULL && *out == NULL) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	return code;
}

#define GIT(w, why, whylen, ...) ws_git(w, NULL, 0, NULL, why, whylen, \
	(const char *const[]){ __VA_ARGS__, NULL })

/* Apply diff to w's work tree through a file in its git dir (removed after). */
static int
ws_apply(const struct ws *w, const char *diff, char *why, size_t whylen)
{
	char file[700];
	size_t len = strlen(diff);
	int fd, rc;

	snprintf(file, sizeof(file), "%s/jido-run.diff", w->gitdir);
	if ((fd = open(file, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0600)) < 0 ||
	    write(fd, diff, len) != (ssize_t)len) {
		snprintf(why, whylen, "cannot write the run's diff: %s", strerror(errno));
		if (fd >= 0)
			close(fd);
		return JIDO_EINTERNAL;
	}
	close(fd);
	rc = GIT(w, why, whylen, "-C", w->wt, "apply", "--whitespace=nowarn", file);
	unlink(file);
	return rc == 0 ? 0 : JIDO_EEXEC;
}

int
ws_prepare(const char *root, const char *repo, const char *url, const char *base,
    const char *branch, const char *diff, uid_t uid, gid_t gid, struct ws *w, char *why,
    size_t whylen)
{
	char slug[256], refspec[600], remote_ref[300];
	struct stat st;
	int rc;
	char *sha = NULL;

	if ((rc = ws_check_repo(repo, why, whylen)) != 0 || (rc = ws_check_url(url, why, whylen)) != 0 ||
	    (rc = ws_check_branch(base, why, whylen)) != 0 ||
	    (rc = ws_check_branch(branch, why, whylen)) != 0)
		return rc;
	snprintf(slug, sizeof(slug), "%s", repo);
	*strchr(slug, '/') = '_';
	memset(w, 0, sizeof(*w));
	snprintf(w->gitdir, sizeof(w->gitdir), "%s/git/%s_.git", root, slug);
	snprintf(w->wt, sizeof(w->wt), "%s/ws/%s", root, slug);
	if (jido_mkdirs(w->gitdir, 0700) != 0 || jido_mkdirs(w->wt, 0755) != 0) {
		snprintf(why, whylen, "cannot create the workspace under %s: %s", root, strerror(errno));
		return JIDO_EINTERNAL;
	}
	char head[600];
	snprintf(head, sizeof(head), "%s/HEAD", w->gitdir);
	if (stat(head, &st) != 0) {
		if (GIT(w, why, whylen, "init", "-q") != 0)
			return JIDO_EEXEC;
		if (GIT(w, why, whylen, "remote", "add", "origin", url) != 0)
			return JIDO_EEXEC;
	} else if (GIT(w, why, whylen, "remote", "set-url", "origin", url) != 0)
		return JIDO_EEXEC;
	snprintf(refspec, sizeof(refspec), "+refs/heads/%s:refs/remotes/origin/%s", base, base);
	snprintf(remote_ref, sizeof(remote_ref), "refs/remotes/origin/%s", base);
	if (GIT(w, why, whylen, "fetch", "-q", "--no-tags", "origin", refspec) != 0)
		return JIDO_EEXEC;
	if (GIT(w, why, whylen, "checkout", "-q", "-f", "-B", branch, remote_ref) != 0 ||
	    GIT(w, why, whylen, "reset", "-q", "--hard", remote_ref) != 0 ||
	    GIT(w, why, whylen, "clean", "-q", "-fdx") != 0)
		return JIDO_EEXEC;
	if (ws_git(w, &sha, 64, NULL, why, whylen, (const char *const[]){ "rev-parse", remote_ref,
	    NULL }) != 0) {
		free(sha);
		return JIDO_EEXEC;
	}
	sha[strcspn(sha, "\n")] = '\0';
	snprintf(w->base_sha, sizeof(w->base_sha), "%s", sha);
	free(sha);
	if (diff != NULL && diff[0] != '\0' && (rc = ws_apply(w, diff, why, whylen)) != 0)
		return rc;
	if (geteuid() == 0 && sandbox_workspace_own(w->wt, uid, gid) != 0) {
		snprintf(why, whylen, "cannot give the workspace to uid %u: %s", (unsigned)uid,
		    strerror(errno));
		return JIDO_EINTERNAL;
	}
	return 0;
}

/* Replace every byte that is not part of valid UTF-8 with '?', in place (a text file in
 * another encoding still yields a readable diff). */
static void
ws_utf8_fix(char *s)
{
	unsigned char *p = (unsigned char *)s;

	while (*p != '\0') {
		int n = *p < 0x80 ? 1 : (*p >> 5) == 6 ? 2 : (*p >> 4) == 14 ? 3 : (*p >> 3) == 30 ? 4 : 0;
		int ok = n > 0;
		for (int i = 1; ok && i < n; i++)
			ok = (p[i] & 0xc0) == 0x80;
		if (ok && n == 2 && *p < 0xc2)
			ok = 0; /* overlong */
		if (!ok) {
			*p++ = '?';
			continue;
		}
		p += n;
	}
}

json_t *
ws_diff(const struct ws *w, size_t max_diff, char *why, size_t whylen)
{
	char *numstat = NULL, *diff = NULL, *line, *save = NULL;
	int trunc = 0, ntrunc = 0;
	json_int_t added = 0, removed = 0, nfiles = 0;
	json_t *res, *files, *bins;

	if (GIT(w, why, whylen, "add", "-A") != 0)
		return NULL;
	if (ws_git(w, &numstat, 4 << 20, &ntrunc, why, whylen, (const char *const[]){ "diff",
	    "--cached", "--numstat", w->base_sha, NULL }) != 0 ||
	    ws_git(w, &diff, max_diff, &trunc, why, whylen, (const char *const[]){ "diff",
	    "--cached", "--binary", w->base_sha, NULL }) != 0) {
		free(numstat);
		free(diff);
		return NULL;
	}
	ws_utf8_fix(diff);
	ws_utf8_fix(numstat);
	files = json_array();
	bins = json_array();
	for (line = strtok_r(numstat, "\n", &save); line != NULL; line = strtok_r(NULL, "\n", &save)) {
		char *t1 = strchr(line, '\t'), *t2 = t1 ? strchr(t1 + 1, '\t') : NULL;
		if (t2 == NULL)
			continue;
		*t1 = *t2 = '\0';
		int bin = strcmp(line, "-") == 0;
		json_int_t a = bin ? 0 : strtoll(line, NULL, 10), r = bin ? 0 : strtoll(t1 + 1, NULL, 10);
		nfiles++;
		added += a;
		removed += r;
		if (bin)
			json_array_append_new(bins, json_string(t2 + 1));
		json_array_append_new(files, json_pack("{s:s,s:I,s:I,s:b}", "path", t2 + 1, "added", a,
		    "removed", r, "binary", bin));
	}
	res = json_pack("{s:s,s:b,s:I,s:I,s:I,s:o,s:o,s:s}", "diff", diff, "diff_truncated", trunc,
	    "files_changed", nfiles, "lines_added", added, "lines_removed", removed,
	    "binary_files", bins, "files", files, "base_sha", w->base_sha);
	free(numstat);
	free(diff);
	if (res == NULL)
		snprintf(why, whylen, "the diff is not valid UTF-8 text");
	return res;
}
