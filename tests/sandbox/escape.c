/*
 * escape.c - escape attempts, each made from inside the sandbox by
 * tests/e2e/sandbox.sh: `escape NAME [ARGS]`. Prints one line saying what happened and
 * exits 0 when the attempt was stopped, 1 when it got through (an escape), 2 on a usage
 * error. Attempts that the kernel ends by killing the process (memory) show up as a
 * signal in the caller's exit status instead.
 */
#define _GNU_SOURCE
#include <arpa/inet.h>
#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/ptrace.h>
#include <sys/socket.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static int
blocked(const char *what, int err)
{
	printf("blocked: %s: %s\n", what, strerror(err));
	return 0;
}

static int
escaped(const char *what)
{
	printf("ESCAPED: %s\n", what);
	return 1;
}

/* connect to addr:port (v4 or v6 literal). */
static int
try_connect(const char *addr, int port)
{
	struct sockaddr_storage ss;
	socklen_t len;
	int fam, fd;

	memset(&ss, 0, sizeof(ss));
	if (strchr(addr, ':') != NULL) {
		struct sockaddr_in6 *s6 = (struct sockaddr_in6 *)&ss;
		s6->sin6_family = fam = AF_INET6;
		s6->sin6_port = htons((unsigned short)port);
		inet_pton(AF_INET6, addr, &s6->sin6_addr);
		len = sizeof(*s6);
	} else {
		struct sockaddr_in *s4 = (struct sockaddr_in *)&ss;
		s4->sin_family = fam = AF_INET;
		s4->sin_port = htons((unsigned short)port);
		inet_pton(AF_INET, addr, &s4->sin_addr);
		len = sizeof(*s4);
	}
	if ((fd = socket(fam, SOCK_STREAM, 0)) < 0)
		return blocked("socket", errno);
	struct timeval tv = { 2, 0 };
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof(tv));
	if (connect(fd, (struct sockaddr *)&ss, len) != 0)
		return blocked(addr, errno);
	return escaped(addr);
}

int
main(int argc, char **argv)
{
	const char *t = argc > 1 ? argv[1] : "";

	setvbuf(stdout, NULL, _IONBF, 0);
	if (strcmp(t, "connect") == 0 && argc == 4)
		return try_connect(argv[2], atoi(argv[3]));
	if (strcmp(t, "dns") == 0) {
		struct addrinfo *ai;
		int rc = getaddrinfo(argc > 2 ? argv[2] : "example.com", "80", NULL, &ai);
		if (rc != 0) {
			printf("blocked: dns: %s\n", gai_strerror(rc));
			/* and a raw UDP query to a public resolver */
			int fd = socket(AF_INET, SOCK_DGRAM, 0);
			struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons(53) };
			inet_pton(AF_INET, "8.8.8.8", &sa.sin_addr);
			if (fd >= 0 && sendto(fd, "x", 1, 0, (struct sockaddr *)&sa, sizeof(sa)) < 0)
				return blocked("udp 8.8.8.8:53", errno);
			return escaped("udp 8.8.8.8:53 sent");
		}
		return escaped("dns resolved");
	}
	if (strcmp(t, "read") == 0 && argc >= 3) {
		/* read each path; a marker (argv[2] when it starts with '=') must never show */
		const char *marker = argv[2][0] == '=' ? argv[2] + 1 : NULL;
		for (int i = marker ? 3 : 2; i < argc; i++) {
			char buf[65536];
			int fd = open(argv[i], O_RDONLY);
			if (fd < 0) {
				blocked(argv[i], errno);
				continue;
			}
			ssize_t n = read(fd, buf, sizeof(buf) - 1);
			close(fd);
			if (n < 0) {
				blocked(argv[i], errno);
				continue;
			}
			buf[n] = '\0';
			for (ssize_t k = 0; k < n; k++)
				if (buf[k] == '\0')
					buf[k] = '\n';
			if (marker == NULL || strstr(buf, marker) != NULL)
				return escaped(argv[i]);
			printf("readable but harmless: %s\n", argv[i]);
		}
		return 0;
	}
	if (strcmp(t, "write") == 0) {
		for (int i = 2; i < argc; i++) {
			int fd = open(argv[i], O_WRONLY | O_CREAT | O_TRUNC, 0644);
			if (fd >= 0)
				return escaped(argv[i]);
			blocked(argv[i], errno);
		}
		return 0;
	}
	if (strcmp(t, "ptrace") == 0) {
		pid_t c = fork();
		if (c == 0) {
			pause();
			_exit(0);
		}
		long r = ptrace(PTRACE_ATTACH, c, NULL, NULL);
		int e = errno;
		kill(c, SIGKILL);
		waitpid(c, NULL, 0);
		if (r == 0)
			return escaped("ptrace attach to a child");
		blocked("ptrace attach to a child", e);
		if (ptrace(PTRACE_ATTACH, 1, NULL, NULL) == 0)
			return escaped("ptrace attach to pid 1");
		return blocked("ptrace attach to pid 1", errno);
	}
	if (strcmp(t, "mount") == 0) {
		if (mount("none", "/tmp", "tmpfs", 0, NULL) == 0)
			return escaped("mount tmpfs");
		blocked("mount tmpfs", errno);
		if (mount("/usr", "/work", NULL, MS_BIND, NULL) == 0)
			return escaped("bind mount");
		return blocked("bind mount", errno);
	}
	if (strcmp(t, "userns") == 0) {
		if (unshare(CLONE_NEWUSER) == 0)
			return escaped("unshare(CLONE_NEWUSER)");
		blocked("unshare(CLONE_NEWUSER)", errno);
		long p = syscall(SYS_clone, CLONE_NEWUSER | SIGCHLD, 0, 0, 0, 0);
		if (p == 0)
			_exit(0);
		if (p > 0) {
			waitpid((pid_t)p, NULL, 0);
			return escaped("clone(CLONE_NEWUSER)");
		}
		return blocked("clone(CLONE_NEWUSER)", errno);
	}
	if (strcmp(t, "forkbomb") == 0 && argc == 3) {
		int want = atoi(argv[2]), n = 0;
		for (; n < want; n++) {
			pid_t c = fork();
			if (c == 0) {
				pause();
				_exit(0);
			}
			if (c < 0)
				break;
		}
		printf("forked %d of %d\n", n, want);
		if (n >= want)
			return escaped("fork bomb ran unchecked");
		return blocked("fork", EAGAIN);
	}
	if (strcmp(t, "membomb") == 0 && argc == 3) {
		long want = atol(argv[2]), mb;
		for (mb = 0; mb < want; mb++) {
			char *p = malloc(1 << 20);
			if (p == NULL)
				return blocked("malloc", ENOMEM);
			memset(p, 1, 1 << 20);
		}
		return escaped("memory bomb ran unchecked");
	}
	if (strcmp(t, "fill") == 0 && argc == 4) {
		long want = atol(argv[3]), mb;
		static char chunk[1 << 20];
		signal(SIGXFSZ, SIG_IGN);
		int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0644);
		if (fd < 0)
			return blocked(argv[2], errno);
		memset(chunk, 'x', sizeof(chunk));
		for (mb = 0; mb < want; mb++)
			if (write(fd, chunk, sizeof(chunk)) != (ssize_t)sizeof(chunk)) {
				printf("wrote %ld MiB\n", mb);
				return blocked("write", errno);
			}
		return escaped("disk fill ran unchecked");
	}
	if (strcmp(t, "get") == 0 && argc == 3) {
		/* not an attempt: the allowed way out, an HTTP GET to 127.0.0.1:PORT (the relay) */
		struct sockaddr_in sa = { .sin_family = AF_INET, .sin_port = htons((unsigned short)atoi(argv[2])) };
		char buf[4096];
		ssize_t n, got = 0;
		int fd = socket(AF_INET, SOCK_STREAM, 0);
		inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
		if (fd < 0 || connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
			printf("get: connect: %s\n", strerror(errno));
			return 3;
		}
		const char *req = "GET /v1/ping HTTP/1.0\r\nHost: gateway\r\n\r\n";
		if (write(fd, req, strlen(req)) < 0)
			return 3;
		while ((n = read(fd, buf + got, sizeof(buf) - 1 - (size_t)got)) > 0)
			got += n;
		buf[got] = '\0';
		printf("%s\n", buf);
		return got > 0 ? 0 : 3;
	}
	if (strcmp(t, "hang") == 0) {
		/* ignore SIGTERM, with a child and a grandchild that ignore it too */
		signal(SIGTERM, SIG_IGN);
		fork();
		fork();
		for (;;)
			pause();
	}
	fprintf(stderr, "usage: escape connect ADDR PORT | dns | read [=MARKER] PATH... | "
	    "write PATH... | ptrace | mount | userns | forkbomb N | membomb MIB | "
	    "fill PATH MIB | hang\n");
	return 2;
}
