/*
 * git.c - gitops's git runner. Every git invocation gets a clean, fixed environment (no
 * user or system config, no prompts, gitops's own identity) and, when it needs the
 * GitHub token, a credential helper that reads "username/password" lines from a pipe on
 * fd 3. The token is therefore never in argv, the remote URL, .git/config, a file or any
 * process's environment; the pipe is written once and closed, and the buffer wiped.
 */
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include <sodium.h>

#include "gitops.h"

#define GIT_ARGV_MAX 64

/* The helper: answers "get" with what the pipe holds; ignores store and erase. It must
 * not be given the token any other way. */
static const char git_helper[] =
    "credential.helper=!f() { test \"$1\" = get && cat <&3; }; f";

/* Append up to cap bytes of fd's data to *buf (grows). 0 on EOF, 1 more to come. */
static int
git_drain(int fd, char **buf, size_t *len, size_t *cap)
{
	char tmp[8192];
	ssize_t n = read(fd, tmp, sizeof(tmp));

	if (n < 0)
		return errno == EINTR || errno == EAGAIN ? 1 : 0;
	if (n == 0)
		return 0;
	if (*len + (size_t)n + 1 > *cap) {
		size_t nc = (*cap ? *cap * 2 : 16384);
		while (nc < *len + (size_t)n + 1)
			nc *= 2;
		char *nb = realloc(*buf, nc);
		if (nb == NULL)
			return 0;
		*buf = nb;
		*cap = nc;
	}
	memcpy(*buf + *len, tmp, (size_t)n);
	*len += (size_t)n;
	(*buf)[*len] = '\0';
	return 1;
}

int
gitops_git_run(const struct gitops_git *g, const char *dir, const char *const *argv,
    const char *token, const char *stdin_text, char **out, char *err, size_t errlen)
{
	const char *args[GIT_ARGV_MAX + 16];
	char env_home[4200], env_path[4200], env_an[300], env_ae[300], env_cn[300], env_ce[300];
	char *envp[20];
	int pin[2] = { -1, -1 }, pout[2] = { -1, -1 }, perr[2] = { -1, -1 }, ptok[2] = { -1, -1 };
	char *obuf = NULL, *ebuf = NULL;
	size_t olen = 0, ocap = 0, elen = 0, ecap = 0, inoff = 0, inlen;
	int n = 0, status = -1, rc = -1, open_fds;
	pid_t pid;
	int64_t deadline;

	if (out != NULL)
		*out = NULL;
	if (err != NULL && errlen > 0)
		err[0] = '\0';
	args[n++] = g->git;
	args[n++] = "-c";
	args[n++] = "credential.helper=";
	if (token != NULL) {
		args[n++] = "-c";
		args[n++] = git_helper;
	}
	args[n++] = "-c";
	args[n++] = "core.hooksPath=/dev/null";
	args[n++] = "-c";
	args[n++] = "commit.gpgsign=false";
	for (int i = 0; argv[i] != NULL; i++) {
		if (i >= GIT_ARGV_MAX)
			return -1;
		args[n++] = argv[i];
	}
	args[n] = NULL;
	const char *path = getenv("PATH");
	snprintf(env_path, sizeof(env_path), "PATH=%s", path ? path : "/usr/bin:/bin");
	snprintf(env_home, sizeof(env_home), "HOME=%s", g->home);
	snprintf(env_an, sizeof(env_an), "GIT_AUTHOR_NAME=%s", g->author_name);
	snprintf(env_ae, sizeof(env_ae), "GIT_AUTHOR_EMAIL=%s", g->author_email);
	snprintf(env_cn, sizeof(env_cn), "GIT_COMMITTER_NAME=%s", g->author_name);
	snprintf(env_ce, sizeof(env_ce), "GIT_COMMITTER_EMAIL=%s", g->author_email);
	int e = 0;
	envp[e++] = env_path;
	envp[e++] = env_home;
	envp[e++] = (char *)"GIT_CONFIG_NOSYSTEM=1";
	envp[e++] = (char *)"GIT_CONFIG_GLOBAL=/dev/null";
	envp[e++] = (char *)"GIT_TERMINAL_PROMPT=0";
	envp[e++] = (char *)"GIT_ASKPASS=/bin/false";
	envp[e++] = (char *)"LC_ALL=C";
	envp[e++] = env_an;
	envp[e++] = env_ae;
	envp[e++] = env_cn;
	envp[e++] = env_ce;
	envp[e] = NULL;

	if (pipe2(pout, O_CLOEXEC) != 0 || pipe2(perr, O_CLOEXEC) != 0 ||
	    pipe2(pin, O_CLOEXEC) != 0)
		goto out;
	if (token != NULL) {
		char cred[1024];
		int len = snprintf(cred, sizeof(cred), "username=x-access-token\npassword=%s\n",
		    token);
		if (pipe2(ptok, O_CLOEXEC) != 0 || len <= 0 || (size_t)len >= sizeof(cred) ||
		    write(ptok[1], cred, (size_t)len) != len) {
			sodium_memzero(cred, sizeof(cred));
			goto out;
		}
		sodium_memzero(cred, sizeof(cred));
		close(ptok[1]);
		ptok[1] = -1;
	}
	if ((pid = fork()) < 0)
		goto out;
	if (pid == 0) {
		setpgid(0, 0);
		if (dup2(pin[0], 0) < 0 || dup2(pout[1], 1) < 0 || dup2(perr[1], 2) < 0)
			_exit(127);
		if (ptok[0] == 3) /* dup2 onto itself would keep close-on-exec */
			fcntl(3, F_SETFD, 0);
		else if (ptok[0] >= 0) {
			if (dup2(ptok[0], 3) < 0)
				_exit(127);
		} else
			close(3);
		if (dir != NULL && chdir(dir) != 0)
			_exit(126);
		execvpe(g->git, (char *const *)args, envp);
		_exit(127);
	}
	close(pin[0]);
	pin[0] = -1;
	close(pout[1]);
	pout[1] = -1;
	close(perr[1]);
	perr[1] = -1;
	if (ptok[0] >= 0) {
		close(ptok[0]);
		ptok[0] = -1;
	}
	inlen = stdin_text ? strlen(stdin_text) : 0;
	if (inlen == 0) {
		close(pin[1]);
		pin[1] = -1;
	} else
		fcntl(pin[1], F_SETFL, O_NONBLOCK);
	deadline = jido_now_ms() + (int64_t)(g->timeout_s > 0 ? g->timeout_s : 120) * 1000;
	open_fds = 2;
	while (open_fds > 0 || pin[1] >= 0) {
		struct pollfd fds[3];
		int nf = 0, left = (int)(deadline - jido_now_ms());
		if (left <= 0) {
			kill(-pid, SIGKILL);
			kill(pid, SIGKILL);
			snprintf(err, errlen, "git %s: timed out after %d s", argv[0], g->timeout_s);
			waitpid(pid, NULL, 0);
			status = -2;
			goto out;
		}
		fds[nf++] = (struct pollfd){ pout[0], POLLIN, 0 };
		fds[nf++] = (struct pollfd){ perr[0], POLLIN, 0 };
		if (pin[1] >= 0)
			fds[nf++] = (struct pollfd){ pin[1], POLLOUT, 0 };
		if (poll(fds, (nfds_t)nf, left > 200 ? 200 : left) < 0 && errno != EINTR)
			break;
		if (pout[0] >= 0 && (fds[0].revents & (POLLIN | POLLHUP | POLLERR)) &&
		    !git_drain(pout[0], &obuf, &olen, &ocap)) {
			close(pout[0]);
			pout[0] = -1;
			open_fds--;
		}
		if (perr[0] >= 0 && (fds[1].revents & (POLLIN | POLLHUP | POLLERR)) &&
		    !git_drain(perr[0], &ebuf, &elen, &ecap)) {
			close(perr[0]);
			perr[0] = -1;
			open_fds--;
		}
		if (pin[1] >= 0 && nf == 3 && (fds[2].revents & (POLLOUT | POLLERR | POLLHUP))) {
			ssize_t w = write(pin[1], stdin_text + inoff, inlen - inoff);
			if (w > 0)
				inoff += (size_t)w;
			if (w < 0 && errno != EAGAIN && errno != EINTR)
				inoff = inlen;
			if (inoff >= inlen) {
				close(pin[1]);
				pin[1] = -1;
			}
		}
	}
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
out:
	if (status >= 0)
		rc = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
	if (rc != 0 && err != NULL && errlen > 0 && err[0] == '\0') {
		/* the last non-empty stderr line names the failure */
		const char *last = "";
		if (ebuf != NULL) {
			char *s = ebuf + elen;
			while (s > ebuf && (s[-1] == '\n' || s[-1] == '\r'))
				*--s = '\0';
			last = strrchr(ebuf, '\n') ? strrchr(ebuf, '\n') + 1 : ebuf;
		}
		if (status >= 0 && WIFSIGNALED(status))
			snprintf(err, errlen, "git %s killed by signal %d (%s)%s", argv[0],
			    WTERMSIG(status), WTERMSIG(status) == SIGSYS ? "SIGSYS: a syscall outside "
			    "gitops's allowlist" : strsignal(WTERMSIG(status)), "");
		else
			snprintf(err, errlen, "git %s failed (%d): %s", argv[0], rc, last);
	}
	if (out != NULL && rc == 0) {
		*out = obuf ? obuf : strdup("");
		obuf = NULL;
	}
	free(obuf);
	free(ebuf);
	for (int i = 0; i < 2; i++) {
		if (pin[i] >= 0)
			close(pin[i]);
		if (pout[i] >= 0)
			close(pout[i]);
		if (perr[i] >= 0)
			close(perr[i]);
		if (ptok[i] >= 0)
			close(ptok[i]);
	}
	return rc;
}
