/*
 * spawner.c - the executor's process factory. The daemon's prefork hook forks it while
 * the daemon still has one thread (before nng starts its threads with the first socket)
 * and before it installs its own allowlist (net 0). One thread matters: the spawner and
 * every job run on without exec, and a child forked from a threaded process inherits
 * each lock another thread held at that instant; a sanitizer build's allocator has no
 * fork handler, so the spawner then hung on its first malloc and no step ever started
 * (spawner_start refuses to fork a threaded process). The sandbox needs what the daemon
 * must not have (namespaces, mounts, and AF_INET inside the sandbox's own network
 * namespace for the relay and the agent), and a seccomp filter is inherited by every
 * descendant. The
 * spawner keeps nothing but its end of a SEQPACKET socket pair: each message carries two
 * descriptors, a memfd holding the request JSON and the write end of the job's event
 * pipe; it forks one job process (job.c) per message and lets the kernel reap them.
 * It dies with the daemon (PR_SET_PDEATHSIG) and cannot be traced (not dumpable).
 *
 * Its own allowlist (spawner_allow, declared in spawner_allow.c and compiled to BPF at
 * build time, see agent_seccomp.c; default kill), installed once it holds only its
 * socket: the daemon's base and exec lists, AF_INET (the relay inside the sandbox's own
 * network namespace, fetch_issue), and what building a sandbox takes (clone with
 * namespace flags, mount, umount2, pivot_root, sethostname, capset, seccomp). Every job,
 * sandbox and agent inherits it, stacked under the agent policy (agent_seccomp.c), so it
 * also lists what ordinary programs (sh, git, node, python, a Rust CLI) call. ptrace and
 * io_uring_setup answer EPERM (what the agent policy answers, so a program that probes
 * them is told no rather than killed); bpf, kexec, module loading, keyctl,
 * perf_event_open, userfaultfd, setns, foreign socket families and everything unlisted
 * kill the process.
 */
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/syscall.h>
#include <unistd.h>

#include <sodium.h>

#include "jido.h"
#include "job.h"
#include "sandbox.h"


/* In a job process: read the request from the memfd, run it. Never returns. */
__attribute__((noreturn)) static void
spawner_job(int memfd, int evfd)
{
	struct stat st;
	json_error_t err;
	json_t *req = NULL;
	char *buf;

	signal(SIGCHLD, SIG_DFL);
	signal(SIGTERM, SIG_DFL);
	/* When the spawner goes (the daemon stopped), the job and its sandbox go too. */
	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	if (fstat(memfd, &st) != 0 || st.st_size <= 0 || st.st_size > (64 << 20) ||
	    (buf = malloc((size_t)st.st_size)) == NULL)
		_exit(111);
	if (pread(memfd, buf, (size_t)st.st_size, 0) != st.st_size)
		_exit(111);
	close(memfd);
	req = json_loadb(buf, (size_t)st.st_size, 0, &err);
	free(buf);
	if (req == NULL)
		_exit(111);
	int code = job_run(req, evfd);
	json_decref(req);
	_exit(code);
}

/* The spawner's loop on fd. Never returns. */
__attribute__((noreturn)) static void
spawner_loop(int fd)
{
	signal(SIGCHLD, SIG_IGN); /* job processes are reaped by the kernel */
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_IGN);
	for (;;) {
		union {
			char buf[CMSG_SPACE(2 * sizeof(int))];
			struct cmsghdr align;
		} u;
		char b;
		struct iovec iov = { &b, 1 };
		struct msghdr mh;
		struct cmsghdr *c;
		int fds[2];
		ssize_t n;

		memset(&mh, 0, sizeof(mh));
		mh.msg_iov = &iov;
		mh.msg_iovlen = 1;
		mh.msg_control = u.buf;
		mh.msg_controllen = sizeof(u.buf);
		n = recvmsg(fd, &mh, MSG_CMSG_CLOEXEC);
		if (n < 0 && errno == EINTR)
			continue;
		if (n <= 0)
			_exit(0); /* the daemon is gone */
		c = CMSG_FIRSTHDR(&mh);
		if (c == NULL || c->cmsg_type != SCM_RIGHTS ||
		    c->cmsg_len != CMSG_LEN(2 * sizeof(int)))
			continue;
		memcpy(fds, CMSG_DATA(c), sizeof(fds));
		pid_t p = fork();
		if (p == 0) {
			close(fd);
			spawner_job(fds[0], fds[1]);
		}
		close(fds[0]);
		close(fds[1]);
	}
}

int
spawner_threads(void)
{
	DIR *d = opendir("/proc/self/task");
	struct dirent *e;
	int n = 0;

	if (d == NULL)
		return -1;
	while ((e = readdir(d)) != NULL)
		if (e->d_name[0] != '.')
			n++;
	closedir(d);
	return n;
}

int
spawner_start(char *why, size_t whylen)
{
	int sp[2], nth = spawner_threads();
	pid_t p;

	if (nth > 1) {
		snprintf(why, whylen, "the spawner must be forked while the executor has one thread "
		    "(it has %d): a child of a threaded process may inherit a held lock and hang",
		    nth);
		return -1;
	}
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) != 0) {
		snprintf(why, whylen, "socketpair: %s", strerror(errno));
		return -1;
	}
	p = fork();
	if (p < 0) {
		snprintf(why, whylen, "fork the spawner: %s", strerror(errno));
		close(sp[0]);
		close(sp[1]);
		return -1;
	}
	if (p == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
		prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
		prctl(PR_SET_NAME, "jido-spawner", 0, 0, 0);
		/* Keep stdio (logs) and our end of the pair, nothing else. */
		if (dup2(sp[1], 3) != 3)
			_exit(111);
		syscall(SYS_close_range, 4, ~0U, 0);
		int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (nul >= 0) {
			dup2(nul, 0);
			close(nul);
		}
		if (sandbox_spawner_seccomp_install() != 0) {
			jido_error("executor.spawner_seccomp_failed", "{s:s}", "why",
			    "cannot install the spawner's allowlist");
			_exit(111);
		}
		spawner_loop(3);
	}
	close(sp[1]);
	return sp[0];
}

int
spawner_submit(int spfd, const json_t *req, char *why, size_t whylen)
{
	char *text = jido_json_dump(req);
	int memfd = -1, ev[2] = { -1, -1 }, fds[2];
	union {
		char buf[CMSG_SPACE(2 * sizeof(int))];
		struct cmsghdr align;
	} u;
	char b = 'j';
	struct iovec iov = { &b, 1 };
	struct msghdr mh;
	struct cmsghdr *c;
	size_t len;

	if (text == NULL) {
		snprintf(why, whylen, "out of memory");
		return -1;
	}
	len = strlen(text);
	memfd = (int)syscall(SYS_memfd_create, "jido-step", MFD_CLOEXEC);
	if (memfd < 0 || write(memfd, text, len) != (ssize_t)len || pipe2(ev, O_CLOEXEC) != 0) {
		snprintf(why, whylen, "cannot hand the step over: %s", strerror(errno));
		goto fail;
	}
	/* The request holds the run's scoped key: wipe our copy of the text. */
	sodium_memzero(text, len);
	free(text);
	text = NULL;
	fds[0] = memfd;
	fds[1] = ev[1];
	memset(&mh, 0, sizeof(mh));
	memset(&u, 0, sizeof(u));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = u.buf;
	mh.msg_controllen = sizeof(u.buf);
	c = CMSG_FIRSTHDR(&mh);
	c->cmsg_level = SOL_SOCKET;
	c->cmsg_type = SCM_RIGHTS;
	c->cmsg_len = CMSG_LEN(sizeof(fds));
	memcpy(CMSG_DATA(c), fds, sizeof(fds));
	if (sendmsg(spfd, &mh, MSG_NOSIGNAL) != 1) {
		snprintf(why, whylen, "the spawner is gone: %s", strerror(errno));
		goto fail;
	}
	close(memfd);
	close(ev[1]);
	fcntl(ev[0], F_SETFL, O_NONBLOCK);
	return ev[0];
fail:
	if (text != NULL) {
		sodium_memzero(text, len);
		free(text);
	}
	if (memfd >= 0)
		close(memfd);
	if (ev[0] >= 0)
		close(ev[0]);
	if (ev[1] >= 0)
		close(ev[1]);
	return -1;
}
