/*
 * relay.c - the only way out of the sandbox: a small process inside the sandbox's
 * network namespace listens on 127.0.0.1:<port>; for each connection it asks the broker
 * outside (the sandbox's parent, over an inherited SEQPACKET socket) for a descriptor
 * already connected to the gateway's unix socket, and copies bytes both ways. The relay
 * itself never opens a path or an address outside the sandbox.
 */
#include <errno.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "jido.h"
#include "sandbox.h"

/* Ask the broker for a gateway connection. Returns the descriptor or -1. */
static int
relay_dial(int broker_fd)
{
	union {
		char buf[CMSG_SPACE(sizeof(int))];
		struct cmsghdr align;
	} u;
	char b = 'c';
	struct iovec iov = { &b, 1 };
	struct msghdr mh;
	struct cmsghdr *c;
	int fd = -1;

	if (send(broker_fd, &b, 1, MSG_NOSIGNAL) != 1)
		return -1;
	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = u.buf;
	mh.msg_controllen = sizeof(u.buf);
	if (recvmsg(broker_fd, &mh, MSG_CMSG_CLOEXEC) <= 0 || b != 'y')
		return -1;
	c = CMSG_FIRSTHDR(&mh);
	if (c == NULL || c->cmsg_type != SCM_RIGHTS || c->cmsg_len != CMSG_LEN(sizeof(int)))
		return -1;
	memcpy(&fd, CMSG_DATA(c), sizeof(int));
	return fd;
}

/* Copy bytes between a and b until both directions are closed. */
static void
relay_pump(int a, int b)
{
	char buf[16384];
	int open_ab = 1, open_ba = 1;

	while (open_ab || open_ba) {
		struct pollfd p[2] = { { open_ab ? a : -1, POLLIN, 0 }, { open_ba ? b : -1, POLLIN, 0 } };
		if (poll(p, 2, -1) < 0) {
			if (errno == EINTR)
				continue;
			return;
		}
		for (int i = 0; i < 2; i++) {
			int from = i == 0 ? a : b, to = i == 0 ? b : a;
			if (!(p[i].revents & (POLLIN | POLLHUP | POLLERR)))
				continue;
			ssize_t n = read(from, buf, sizeof(buf));
			if (n <= 0) {
				shutdown(to, SHUT_WR);
				if (i == 0)
					open_ab = 0;
				else
					open_ba = 0;
				continue;
			}
			for (ssize_t off = 0; off < n;) {
				ssize_t w = send(to, buf + off, (size_t)(n - off), MSG_NOSIGNAL);
				if (w <= 0)
					return;
				off += w;
			}
		}
	}
}

int
relay_serve(int port, int broker_fd, int ready_fd)
{
	struct sockaddr_in sa;
	int one = 1, ls;

	signal(SIGCHLD, SIG_IGN); /* connection children are reaped by the kernel */
	ls = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (ls < 0)
		return 1;
	setsockopt(ls, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
	memset(&sa, 0, sizeof(sa));
	sa.sin_family = AF_INET;
	sa.sin_port = htons((uint16_t)port);
	sa.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if (bind(ls, (struct sockaddr *)&sa, sizeof(sa)) != 0 || listen(ls, 64) != 0)
		return 1;
	if (write(ready_fd, "r", 1) != 1)
		return 1;
	close(ready_fd);
	for (;;) {
		int c = accept4(ls, NULL, NULL, SOCK_CLOEXEC);
		if (c < 0) {
			if (errno == EINTR || errno == ECONNABORTED)
				continue;
			return 1;
		}
		int g = relay_dial(broker_fd);
		if (g < 0) {
			/* The gateway is not reachable: the client sees the connection close. */
			close(c);
			continue;
		}
		pid_t p = fork();
		if (p == 0) {
			close(ls);
			close(broker_fd);
			relay_pump(c, g);
			_exit(0);
		}
		close(c);
		close(g);
	}
}
