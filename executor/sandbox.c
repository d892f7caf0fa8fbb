/*
 * sandbox.c - builds the sandbox with the kernel's own primitives (no external program):
 * clone(2) into new user, mount, pid, net, ipc, uts and cgroup namespaces; the parent maps
 * the agent's uid 1000 to an unprivileged host uid and makes the child's cgroups while the
 * child (pid 1 of the new pid namespace) makes a tmpfs root of read-only system binds,
 * the workspace read-write at /work, private tmpfs /tmp and HOME, a minimal /dev and a
 * fresh /proc, pivots into it, sets rlimits, drops every capability, sets no_new_privs,
 * installs the agent seccomp policy, joins its cgroups, and runs the command as its
 * child, reaping everything until the command ends; then it reports the status to the
 * parent. When pid 1 dies the kernel kills the whole tree.
 */
#include <errno.h>
#include <fcntl.h>
#include <grp.h>
#include <linux/capability.h>
#include <net/if.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/ioctl.h>
#include <sys/mount.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/syscall.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "jido.h"
#include "sandbox.h"

extern char **environ;

#define SB_ROOT "/tmp" /* mount point of the new root's tmpfs, in the private mount ns */
#define SB_SETUP_FAILED 125

void
sandbox_spec_init(struct sandbox_spec *spec)
{
	memset(spec, 0, sizeof(*spec));
	spec->net = SANDBOX_NET_NONE;
	spec->grace_ms = 2000;
	spec->fsize = 1LL << 30;
	spec->pids = 256;
	spec->nofile = 1024;
	spec->tmp_size = 512LL << 20;
	spec->host_uid = 65534;
	spec->host_gid = 65534;
	spec->fd_out = 1;
	spec->fd_err = 2;
	spec->cgroups = 1;
}

#define SB_MAX_FDS 6

/* Send one byte tag on a SOCK_SEQPACKET socket with n descriptors (0-SB_MAX_FDS)
 * attached. The descriptors stay the caller's. 0, or -1 with errno. */
static int
sb_send_fds(int sock, char tag, const int *fds, int n)
{
	union {
		char buf[CMSG_SPACE(SB_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { &tag, 1 };
	struct msghdr mh;

	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	if (n > 0) {
		memset(&u, 0, sizeof(u));
		mh.msg_control = u.buf;
		mh.msg_controllen = CMSG_SPACE((size_t)n * sizeof(int));
		struct cmsghdr *c = CMSG_FIRSTHDR(&mh);
		c->cmsg_level = SOL_SOCKET;
		c->cmsg_type = SCM_RIGHTS;
		c->cmsg_len = CMSG_LEN((size_t)n * sizeof(int));
		memcpy(CMSG_DATA(c), fds, (size_t)n * sizeof(int));
	}
	return sendmsg(sock, &mh, MSG_NOSIGNAL) == 1 ? 0 : -1;
}

/* Receive one byte (into *tag) and up to SB_MAX_FDS descriptors (close-on-exec, into fds;
 * owned by the caller) from a SOCK_SEQPACKET socket. Returns how many descriptors came, or
 * -1 when nothing did (hang-up, error). */
static int
sb_recv_fds(int sock, char *tag, int fds[SB_MAX_FDS])
{
	union {
		char buf[CMSG_SPACE(SB_MAX_FDS * sizeof(int))];
		struct cmsghdr align;
	} u;
	struct iovec iov = { tag, 1 };
	struct msghdr mh;
	struct cmsghdr *c;
	ssize_t r;
	int n = 0;

	memset(&mh, 0, sizeof(mh));
	mh.msg_iov = &iov;
	mh.msg_iovlen = 1;
	mh.msg_control = u.buf;
	mh.msg_controllen = sizeof(u.buf);
	while ((r = recvmsg(sock, &mh, MSG_CMSG_CLOEXEC)) < 0 && errno == EINTR)
		;
	if (r != 1)
		return -1;
	for (c = CMSG_FIRSTHDR(&mh); c != NULL; c = CMSG_NXTHDR(&mh, c))
		if (c->cmsg_level == SOL_SOCKET && c->cmsg_type == SCM_RIGHTS) {
			n = (int)((c->cmsg_len - CMSG_LEN(0)) / sizeof(int));
			if (n > SB_MAX_FDS) /* cannot happen: the buffer holds SB_MAX_FDS */
				n = SB_MAX_FDS;
			memcpy(fds, CMSG_DATA(c), (size_t)n * sizeof(int));
		}
	return n;
}

/* ---------------------------------------------------------------- child side */

/* Report a setup failure to the parent over errfd and end the child. Never returns. */
__attribute__((format(printf, 2, 3), noreturn)) static void
sb_die(int errfd, const char *fmt, ...)
{
	char buf[256];
	va_list ap;
	int n;

	va_start(ap, fmt);
	n = vsnprintf(buf, sizeof(buf), fmt, ap);
	va_end(ap);
	if (n > (int)sizeof(buf) - 1)
		n = (int)sizeof(buf) - 1;
	if (n > 0 && write(errfd, buf, (size_t)n) < 0)
		_exit(SB_SETUP_FAILED);
	_exit(SB_SETUP_FAILED);
}

/* The mount flags of the mount holding path that a user namespace may not clear. */
static unsigned long
sb_locked_flags(const char *path)
{
	struct statvfs sv;
	unsigned long f = 0;

	if (statvfs(path, &sv) != 0)
		return 0;
	if (sv.f_flag & ST_NOSUID)
		f |= MS_NOSUID;
	if (sv.f_flag & ST_NODEV)
		f |= MS_NODEV;
	if (sv.f_flag & ST_NOEXEC)
		f |= MS_NOEXEC;
	if (sv.f_flag & ST_NOATIME)
		f |= MS_NOATIME;
	if (sv.f_flag & ST_NODIRATIME)
		f |= MS_NODIRATIME;
	if (sv.f_flag & ST_RELATIME)
		f |= MS_RELATIME;
	return f;
}

/* Remount the bind at dst read-only, nosuid, nodev (keeping the flags a user namespace
 * may not clear). The fallback when mount_setattr is not there (see sb_make_root). */
static int
sb_remount_ro(const char *dst)
{
	return mount(NULL, dst, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV |
	    sb_locked_flags(dst), NULL);
}

/* mkdir -p of path (absolute, inside the new root): one mkdir when the parent exists. */
static int
sb_mkdirs(const char *path, mode_t mode)
{
	char buf[4096];
	char *p;

	if (mkdir(path, mode) == 0 || errno == EEXIST)
		return 0;
	if (errno != ENOENT)
		return -1;
	if (snprintf(buf, sizeof(buf), "%s", path) >= (int)sizeof(buf))
		return -1;
	/* SB_ROOT itself exists: start below it. */
	for (p = buf + sizeof(SB_ROOT); *p != '\0'; p++) {
		if (*p != '/')
			continue;
		*p = '\0';
		if (mkdir(buf, mode) != 0 && errno != EEXIST)
			return -1;
		*p = '/';
	}
	return mkdir(buf, mode) != 0 && errno != EEXIST ? -1 : 0;
}

/* Bind host path at the same place in the new root, when it exists: a symlink is
 * recreated as a symlink, a file bound onto an empty file, a directory onto a dir. The
 * bind is made read-only later, with the whole root (sb_make_root). Returns 1 when a
 * bind was made, 0 when not (missing, or a symlink). */
static int
sb_bind_host(const char *host, int errfd)
{
	char dst[4096], target[4096];
	struct stat st;
	ssize_t n;

	if (lstat(host, &st) != 0)
		return 0;
	if (snprintf(dst, sizeof(dst), SB_ROOT "%s", host) >= (int)sizeof(dst))
		sb_die(errfd, "setup: path too long: %s", host);
	if (S_ISLNK(st.st_mode)) {
		if ((n = readlink(host, target, sizeof(target) - 1)) < 0)
			return 0;
		target[n] = '\0';
		if (symlink(target, dst) != 0 && errno != EEXIST)
			sb_die(errfd, "setup: symlink %s: %s", host, strerror(errno));
		return 0;
	}
	if (S_ISDIR(st.st_mode)) {
		if (sb_mkdirs(dst, 0755) != 0)
			sb_die(errfd, "setup: mkdir %s: %s", dst, strerror(errno));
	} else {
		int fd = open(dst, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0 && errno == ENOENT) { /* the parent first */
			char *slash = strrchr(dst, '/');
			*slash = '\0';
			if (sb_mkdirs(dst, 0755) != 0)
				sb_die(errfd, "setup: mkdir %s: %s", dst, strerror(errno));
			*slash = '/';
			fd = open(dst, O_WRONLY | O_CREAT | O_CLOEXEC, 0644);
		}
		if (fd < 0)
			sb_die(errfd, "setup: create %s: %s", dst, strerror(errno));
		close(fd);
	}
	if (mount(host, dst, NULL, MS_BIND | MS_REC, NULL) != 0)
		sb_die(errfd, "setup: bind %s: %s", host, strerror(errno));
	return 1;
}

static void
sb_write_file(const char *path, const char *text, int errfd)
{
	int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	size_t len = strlen(text);

	if (fd < 0 || write(fd, text, len) != (ssize_t)len)
		sb_die(errfd, "setup: write %s: %s", path, strerror(errno));
	close(fd);
}

static void
sb_tmpfs(const char *dst, const char *opts, unsigned long flags, int errfd)
{
	if (mount("tmpfs", dst, "tmpfs", flags, opts) != 0) /* dst exists (sb_make_root) */
		sb_die(errfd, "setup: tmpfs %s: %s", dst, strerror(errno));
}

/* The system parts of the root, bound read-only. */
static const char *const sb_system[] = {
	"/usr", "/bin", "/sbin", "/lib", "/lib32", "/lib64", "/libx32",
	"/etc/ld.so.cache", "/etc/ld.so.conf", "/etc/ld.so.conf.d", "/etc/alternatives",
	"/etc/ssl", "/etc/ca-certificates", "/etc/nsswitch.conf", "/etc/localtime",
	"/etc/mime.types", "/etc/os-release", "/etc/gitconfig", "/etc/profile",
	NULL
};

static const char *const sb_devices[] = { "null", "zero", "full", "random", "urandom", "tty",
	NULL };

/* Make the new root and every bind under it read-only, nosuid, nodev: one
 * mount_setattr(AT_RECURSIVE) for the whole tree (kernel 5.12+). Where that call is
 * missing or refused (an older kernel, an outer seccomp profile), each bind the list
 * made (bound[i] set, system list then spec's) and the root are remounted one by one. */
static void
sb_root_readonly(const struct sandbox_spec *spec, const unsigned char *bound, int errfd)
{
	struct mount_attr attr;
	char dst[4096];
	size_t i, k = 0;

	memset(&attr, 0, sizeof(attr));
	attr.attr_set = MOUNT_ATTR_RDONLY | MOUNT_ATTR_NOSUID | MOUNT_ATTR_NODEV;
	if (syscall(SYS_mount_setattr, AT_FDCWD, SB_ROOT, AT_RECURSIVE, &attr, sizeof(attr)) == 0)
		return;
	if (errno != ENOSYS && errno != EPERM && errno != EINVAL)
		sb_die(errfd, "setup: make the root read-only: %s", strerror(errno));
	for (i = 0; sb_system[i] != NULL; i++, k++)
		if (bound[k] && (snprintf(dst, sizeof(dst), SB_ROOT "%s", sb_system[i]),
		    sb_remount_ro(dst) != 0))
			sb_die(errfd, "setup: remount %s read-only: %s", dst, strerror(errno));
	for (i = 0; i < SANDBOX_MAX_BINDS && spec->ro_binds[i] != NULL; i++, k++)
		if (bound[k] && (snprintf(dst, sizeof(dst), SB_ROOT "%s", spec->ro_binds[i]),
		    sb_remount_ro(dst) != 0))
			sb_die(errfd, "setup: remount %s read-only: %s", dst, strerror(errno));
	if (mount(NULL, SB_ROOT, NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID | MS_NODEV,
	    NULL) != 0)
		sb_die(errfd, "setup: remount the root read-only: %s", strerror(errno));
}

/* Build the new root under SB_ROOT and pivot into it. ws_fd: O_PATH of the workspace or -1. */
static void
sb_make_root(const struct sandbox_spec *spec, int ws_fd, int errfd)
{
	static const char *const mountpoints[] = { SB_ROOT "/etc", SB_ROOT "/dev",
		SB_ROOT "/proc", SB_ROOT "/tmp", SB_ROOT "/home/agent", SB_ROOT "/work", NULL };
	unsigned char bound[sizeof(sb_system) / sizeof(sb_system[0]) + SANDBOX_MAX_BINDS];
	char opts[64], path[4096];
	size_t i, k = 0;

	if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) != 0)
		sb_die(errfd, "setup: make / private: %s", strerror(errno));
	if (mount("tmpfs", SB_ROOT, "tmpfs", MS_NOSUID | MS_NODEV, "mode=0755,size=1m") != 0)
		sb_die(errfd, "setup: root tmpfs: %s", strerror(errno));
	for (i = 0; sb_system[i] != NULL; i++)
		bound[k++] = (unsigned char)sb_bind_host(sb_system[i], errfd);
	for (i = 0; i < SANDBOX_MAX_BINDS && spec->ro_binds[i] != NULL; i++)
		bound[k++] = (unsigned char)sb_bind_host(spec->ro_binds[i], errfd);
	/* Everything the root itself holds is made before it turns read-only: the files
	 * below and the mount points of the writable mounts (/dev, /proc, /tmp, HOME, /work),
	 * which are mounted after it. */
	for (i = 0; mountpoints[i] != NULL; i++)
		if (sb_mkdirs(mountpoints[i], 0755) != 0)
			sb_die(errfd, "setup: mkdir %s: %s", mountpoints[i], strerror(errno));
	sb_write_file(SB_ROOT "/etc/passwd",
	    "agent:x:1000:1000:agent:/home/agent:/bin/sh\n"
	    "nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n", errfd);
	sb_write_file(SB_ROOT "/etc/group", "agent:x:1000:\nnogroup:x:65534:\n", errfd);
	sb_write_file(SB_ROOT "/etc/hosts", "127.0.0.1 localhost\n", errfd);
	sb_write_file(SB_ROOT "/etc/hostname", "sandbox\n", errfd);
	sb_write_file(SB_ROOT "/etc/resolv.conf", "# no DNS in the sandbox\n", errfd);
	sb_root_readonly(spec, bound, errfd);

	/* /dev: a tmpfs with the harmless character devices bound in. */
	sb_tmpfs(SB_ROOT "/dev", "mode=0755,size=64k", MS_NOSUID | MS_NOEXEC, errfd);
	for (i = 0; sb_devices[i] != NULL; i++) {
		char src[64];
		snprintf(src, sizeof(src), "/dev/%s", sb_devices[i]);
		snprintf(path, sizeof(path), SB_ROOT "/dev/%s", sb_devices[i]);
		int fd = open(path, O_WRONLY | O_CREAT | O_CLOEXEC, 0666);
		if (fd < 0)
			sb_die(errfd, "setup: create %s: %s", path, strerror(errno));
		close(fd);
		if (mount(src, path, NULL, MS_BIND, NULL) != 0)
			sb_die(errfd, "setup: bind %s: %s", src, strerror(errno));
	}
	if (symlink("/proc/self/fd", SB_ROOT "/dev/fd") != 0 ||
	    symlink("/proc/self/fd/0", SB_ROOT "/dev/stdin") != 0 ||
	    symlink("/proc/self/fd/1", SB_ROOT "/dev/stdout") != 0 ||
	    symlink("/proc/self/fd/2", SB_ROOT "/dev/stderr") != 0)
		sb_die(errfd, "setup: /dev links: %s", strerror(errno));
	if (mkdir(SB_ROOT "/dev/shm", 0755) != 0)
		sb_die(errfd, "setup: mkdir /dev/shm: %s", strerror(errno));
	sb_tmpfs(SB_ROOT "/dev/shm", "mode=1777,size=16m", MS_NOSUID | MS_NODEV | MS_NOEXEC, errfd);
	if (mount(NULL, SB_ROOT "/dev", NULL, MS_REMOUNT | MS_BIND | MS_RDONLY | MS_NOSUID |
	    MS_NOEXEC, NULL) != 0)
		sb_die(errfd, "setup: remount /dev read-only: %s", strerror(errno));

	/* A fresh /proc of the new pid namespace. */
	if (mount("proc", SB_ROOT "/proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) != 0)
		sb_die(errfd, "setup: mount /proc: %s", strerror(errno));

	/* Private /tmp and HOME. */
	snprintf(opts, sizeof(opts), "mode=1777,size=%lld", spec->tmp_size);
	sb_tmpfs(SB_ROOT "/tmp", opts, MS_NOSUID | MS_NODEV, errfd);
	snprintf(opts, sizeof(opts), "mode=0700,size=%lld", spec->tmp_size);
	sb_tmpfs(SB_ROOT "/home/agent", opts, MS_NOSUID | MS_NODEV, errfd);

	/* The workspace, read-write. */
	if (ws_fd >= 0) {
		char src[64];
		snprintf(src, sizeof(src), "/proc/self/fd/%d", ws_fd);
		if (mount(src, SB_ROOT "/work", NULL, MS_BIND | MS_REC, NULL) != 0)
			sb_die(errfd, "setup: bind the workspace: %s", strerror(errno));
		close(ws_fd);
	} else {
		snprintf(opts, sizeof(opts), "mode=0755,size=%lld", spec->tmp_size);
		sb_tmpfs(SB_ROOT "/work", opts, MS_NOSUID | MS_NODEV, errfd);
	}

	/* Pivot: the tmpfs becomes /, the old root is detached. */
	if (chdir(SB_ROOT) != 0 || syscall(SYS_pivot_root, ".", ".") != 0)
		sb_die(errfd, "setup: pivot_root: %s", strerror(errno));
	if (umount2(".", MNT_DETACH) != 0)
		sb_die(errfd, "setup: detach the old root: %s", strerror(errno));
	if (chdir("/") != 0) /* / is read-only already (sb_root_readonly) */
		sb_die(errfd, "setup: chdir /: %s", strerror(errno));
}

/* Bring up loopback in the new network namespace (the only interface there). */
static void
sb_loopback_up(int errfd)
{
	struct ifreq ifr;
	int fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);

	memset(&ifr, 0, sizeof(ifr));
	snprintf(ifr.ifr_name, sizeof(ifr.ifr_name), "lo");
	if (fd < 0 || ioctl(fd, SIOCGIFFLAGS, &ifr) != 0)
		sb_die(errfd, "setup: loopback: %s", strerror(errno));
	ifr.ifr_flags |= IFF_UP | IFF_RUNNING;
	if (ioctl(fd, SIOCSIFFLAGS, &ifr) != 0)
		sb_die(errfd, "setup: loopback up: %s", strerror(errno));
	close(fd);
}

static void
sb_rlimit(int res, long long v, const char *name, int errfd)
{
	struct rlimit rl;

	rl.rlim_cur = rl.rlim_max = v <= 0 ? RLIM_INFINITY : (rlim_t)v;
	if (setrlimit(res, &rl) != 0)
		sb_die(errfd, "setup: rlimit %s: %s", name, strerror(errno));
}

/* Drop every capability: bounding set, ambient, then effective/permitted/inheritable. */
static void
sb_caps_drop(int errfd)
{
	struct __user_cap_header_struct hdr = { _LINUX_CAPABILITY_VERSION_3, 0 };
	struct __user_cap_data_struct data[2];
	int c;

	for (c = 0; c < 64; c++)
		if (prctl(PR_CAPBSET_DROP, c, 0, 0, 0) != 0 && errno == EINVAL)
			break;
	prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0);
	memset(data, 0, sizeof(data));
	if (syscall(SYS_capset, &hdr, data) != 0)
		sb_die(errfd, "setup: capset: %s", strerror(errno));
}

static volatile sig_atomic_t sb_init_sig;

/* pid 1 forwards SIGTERM/SIGINT/SIGHUP to every other process of the sandbox. */
static void
sb_init_forward(int sig)
{
	sb_init_sig = sig;
	kill(-1, sig);
}

/* The environment built from scratch: fixed entries, then the spec's. Static storage. */
static char **
sb_env(const struct sandbox_spec *spec)
{
	static char *env[128];
	static const char *const fixed[] = {
		"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=/home/agent", "USER=agent",
		"LOGNAME=agent", "SHELL=/bin/sh", "TERM=dumb", "LANG=C.UTF-8", "TMPDIR=/tmp",
		"UV_USE_IO_URING=0", NULL
	};
	size_t n = 0, i;

	for (i = 0; fixed[i] != NULL; i++)
		env[n++] = (char *)fixed[i];
	for (i = 0; spec->envp != NULL && spec->envp[i] != NULL && n < 127; i++)
		env[n++] = spec->envp[i];
	env[n] = NULL;
	return env;
}

/* The whole life of the sandbox's pid 1. Never returns. */
__attribute__((noreturn)) static void
sb_child(const struct sandbox_spec *spec, int syncfd, int errfd, int gw_fd, int donefd)
{
	int ws_fd = -1, i, join[SB_MAX_FDS], njoin, nhome = 0;
	char go;
	int relay_ready[2] = { -1, -1 };
	pid_t cmd, relay = -1;
	int status, code = SB_SETUP_FAILED;

	prctl(PR_SET_PDEATHSIG, SIGKILL, 0, 0, 0);
	/* What needs no uid map is done while the parent writes it: the workspace, opened
	 * here in the new mount namespace (a bind source must be a mount of the caller's
	 * namespace) and before the uid change (its parents may be traversable only by the
	 * executor's own uid); the hostname and loopback (capabilities in our own user
	 * namespace are enough); the rlimits. */
	if (spec->workspace != NULL &&
	    (ws_fd = open(spec->workspace, O_PATH | O_DIRECTORY | O_CLOEXEC)) < 0)
		sb_die(errfd, "setup: workspace %s: %s", spec->workspace, strerror(errno));
	if (sethostname("sandbox", 7) != 0)
		sb_die(errfd, "setup: sethostname: %s", strerror(errno));
	sb_loopback_up(errfd);
	sb_rlimit(RLIMIT_CORE, 0, "core", errfd);
	sb_rlimit(RLIMIT_FSIZE, spec->fsize, "fsize", errfd);
	sb_rlimit(RLIMIT_NOFILE, spec->nofile, "nofile", errfd);
	sb_rlimit(RLIMIT_NPROC, spec->pids, "nproc", errfd);
	sb_rlimit(RLIMIT_CPU, spec->cpu_s, "cpu", errfd);
	/* Wait for the parent: uid/gid maps written. */
	if (read(syncfd, &go, 1) != 1)
		_exit(SB_SETUP_FAILED);
	/* Become uid/gid 1000 (the host ids the parent mapped) and drop the supplementary
	 * groups (possible when a privileged parent left setgroups allowed). */
	prctl(PR_SET_KEEPCAPS, 1, 0, 0, 0);
	if (setgroups(0, NULL) != 0 && errno != EPERM)
		sb_die(errfd, "setup: setgroups: %s", strerror(errno));
	if (setresgid(SANDBOX_UID, SANDBOX_UID, SANDBOX_UID) != 0 ||
	    setresuid(SANDBOX_UID, SANDBOX_UID, SANDBOX_UID) != 0)
		sb_die(errfd, "setup: become uid %d: %s", SANDBOX_UID, strerror(errno));
	sb_make_root(spec, ws_fd, errfd);
	sb_caps_drop(errfd);
	if (prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0) != 0)
		sb_die(errfd, "setup: no_new_privs: %s", strerror(errno));
	/* pid 1 and the relay hold descriptors the agent must not reach through /proc. */
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	if (sandbox_seccomp_install() != 0)
		sb_die(errfd, "setup: cannot install the agent seccomp policy");

	/* The parent makes our cgroups while we build the root (off the critical path) and
	 * says so here: on v1 with the `tasks` files it opened attached, n of ours then n of
	 * the executor's own ("home"), and we join ours by writing "0" (see sb_cgroups); on v2
	 * it has moved us itself. Nothing of the command's runs before: the relay and the
	 * command are forked below. */
	if ((njoin = sb_recv_fds(syncfd, &go, join)) < 0)
		_exit(SB_SETUP_FAILED);
	if (go == 'h') { /* pairs: we may leave and report early (see the end) */
		nhome = njoin / 2;
		njoin = nhome;
	}
	for (i = 0; i < njoin; i++) {
		if (write(join[i], "0", 1) != 1)
			sb_die(errfd, "setup: cannot join the cgroup: %s", strerror(errno));
		close(join[i]);
	}
	close(syncfd);

	if (spec->net == SANDBOX_NET_GATEWAY) {
		if (pipe2(relay_ready, O_CLOEXEC) != 0)
			sb_die(errfd, "setup: pipe: %s", strerror(errno));
		relay = fork();
		if (relay < 0)
			sb_die(errfd, "setup: fork the relay: %s", strerror(errno));
		if (relay == 0) {
			close(errfd);
			close(donefd);
			for (i = 0; i < nhome; i++) /* the executor's own cgroups: not the relay's */
				close(join[nhome + i]);
			close(relay_ready[0]);
			_exit(relay_serve(spec->gateway_port, gw_fd, relay_ready[1]));
		}
		close(relay_ready[1]);
		if (read(relay_ready[0], &go, 1) != 1)
			sb_die(errfd, "setup: the gateway relay did not start (port %d)",
			    spec->gateway_port);
		close(relay_ready[0]);
		close(gw_fd);
	}

	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = sb_init_forward;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);

	cmd = fork();
	if (cmd < 0)
		sb_die(errfd, "setup: fork: %s", strerror(errno));
	if (cmd == 0) {
		int nul = open("/dev/null", O_RDONLY | O_CLOEXEC);
		signal(SIGTERM, SIG_DFL);
		signal(SIGINT, SIG_DFL);
		signal(SIGHUP, SIG_DFL);
		setsid();
		if (nul < 0 || dup2(nul, 0) < 0 || dup2(spec->fd_out, 1) < 0 ||
		    dup2(spec->fd_err, 2) < 0)
			sb_die(errfd, "setup: stdio: %s", strerror(errno));
		close(errfd);
		/* Nothing else is inherited. */
		syscall(SYS_close_range, 3, ~0U, 0);
		if (chdir("/work") != 0)
			_exit(SB_SETUP_FAILED);
		environ = sb_env(spec);
		/* The address-space limit is set last, for the command only: pid 1 (and a
		 * sanitizer build's runtime) keep their own mappings. */
		sb_rlimit(RLIMIT_AS, spec->as, "as", 2);
		execvp(spec->argv[0], spec->argv);
		dprintf(2, "jido-sandbox: cannot run %s: %s\n", spec->argv[0], strerror(errno));
		_exit(errno == ENOENT ? 127 : 126);
	}
	/* The command runs: setup succeeded, the parent sees EOF on errfd. */
	close(errfd);
	if (spec->fd_out > 2)
		close(spec->fd_out);
	if (spec->fd_err > 2)
		close(spec->fd_err);
	for (;;) {
		pid_t p = waitpid(-1, &status, 0);
		if (p < 0) {
			if (errno == EINTR)
				continue;
			break;
		}
		if (p == cmd) {
			code = WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
			/* The command is the sandbox: whatever it left behind goes with it. */
			kill(-1, SIGKILL);
		}
	}
	/* Every other process of the namespace is dead and reaped (ECHILD). Leave our cgroups
	 * for the executor's own (so the parent can remove them now) and report the status:
	 * the parent need not wait for the kernel to tear down our namespaces as we exit. */
	for (i = 0; i < nhome; i++)
		if (write(join[nhome + i], "0", 1) != 1)
			break;
	if (go == 'h' && i == nhome) {
		uint32_t c = (uint32_t)code;
		if (write(donefd, &c, sizeof(c)) < 0)
			_exit(code);
	}
	_exit(code);
}

/* ---------------------------------------------------------------- parent side */

static int
sb_write_proc(pid_t pid, const char *file, const char *text)
{
	char path[64];
	int fd, ok;

	snprintf(path, sizeof(path), "/proc/%d/%s", (int)pid, file);
	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0)
		return -1;
	ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text);
	close(fd);
	return ok ? 0 : -1;
}

/* This process's cgroup path for controller ctrl (v1) or the unified one (ctrl NULL),
 * from /proc/self/cgroup, into buf. */
static int
sb_cgroup_self(const char *ctrl, char *buf, size_t len)
{
	char line[512];
	FILE *f = fopen("/proc/self/cgroup", "re");
	int rc = -1;

	if (f == NULL)
		return -1;
	while (fgets(line, sizeof(line), f) != NULL) {
		char *a = strchr(line, ':'), *b;
		if (a == NULL || (b = strchr(a + 1, ':')) == NULL)
			continue;
		*b = '\0';
		b[strcspn(b + 1, "\n") + 1] = '\0';
		int match = 0;
		if (ctrl == NULL)
			match = a[1] == '\0';
		else {
			char *tok, *save = NULL;
			for (tok = strtok_r(a + 1, ",", &save); tok != NULL;
			    tok = strtok_r(NULL, ",", &save))
				if (strcmp(tok, ctrl) == 0)
					match = 1;
		}
		if (match) {
			snprintf(buf, len, "%s", strcmp(b + 1, "/") == 0 ? "" : b + 1);
			rc = 0;
			break;
		}
	}
	fclose(f);
	return rc;
}

static int
sb_write_path(const char *dir, const char *file, const char *text)
{
	char path[512];
	int fd, ok;

	snprintf(path, sizeof(path), "%s/%s", dir, file);
	if ((fd = open(path, O_WRONLY | O_CLOEXEC)) < 0)
		return -1;
	ok = write(fd, text, strlen(text)) == (ssize_t)strlen(text);
	close(fd);
	return ok ? 0 : -1;
}

static unsigned sb_seq;

/*
 * Make fresh cgroups with the spec's memory and pids limits (and the cpu controller, when
 * limited), while the sandbox's pid 1 builds its root (it joins before it forks anything). cgroup v2 when
 * /sys/fs/cgroup/cgroup.controllers lists the controller, else v1
 * (/sys/fs/cgroup/<controller>). What cannot be applied is logged
 * (sandbox.cgroup_unavailable) and the rlimits still hold. Dirs made go into sb->cg.
 *
 * Joining: on v1 the child joins by itself, writing "0" (itself, one thread) to the
 * `tasks` file this function opens into join[i] (owned by the caller; -1 when none). The
 * kernel moves a lone current thread without taking cgroup_threadgroup_rwsem, so no RCU
 * grace period (5-12 ms) is paid, which a parent writing the child's pid to cgroup.procs
 * pays on every start. The open file carries the opener's (our) credentials, which the
 * kernel checks at write time. join[3 + i] gets the executor's own (home) `tasks` file of
 * the same controller (-1 when it cannot be opened): pid 1 moves itself back there once
 * the command's tree is gone, so that the parent can remove the cgroups without waiting
 * for pid 1's exit (sandbox_wait). On v2 the parent writes the pid to cgroup.procs after
 * the clone (sb_cgroups_join_v2); *v2 says which.
 */
static void
sb_cgroups(const struct sandbox_spec *spec, struct sandbox *sb, int join[6], int *v2out)
{
	static const char *const ctrls[3] = { "memory", "pids", "cpu" };
	char own[256], dir[256], val[64], v2ctl[256] = "";
	int v2 = 0, i, fd;

	fd = open("/sys/fs/cgroup/cgroup.controllers", O_RDONLY | O_CLOEXEC);
	if (fd >= 0) {
		ssize_t n = read(fd, v2ctl, sizeof(v2ctl) - 1);
		v2ctl[n > 0 ? n : 0] = '\0';
		close(fd);
		v2 = 1;
	}
	*v2out = v2;
	sb_seq++;
	for (i = 0; i < 3; i++) {
		const char *why = NULL;
		if (strcmp(ctrls[i], "memory") == 0 && spec->memory <= 0)
			continue;
		if (strcmp(ctrls[i], "cpu") == 0 && spec->cpus <= 0)
			continue; /* each v1 join costs an RCU grace period: only when limited */
		if (v2) {
			if (strstr(v2ctl, ctrls[i]) == NULL) {
				why = "controller not enabled (cgroup v2)";
				goto skip;
			}
			if (i > 0 && sb->cg[0][0] != '\0') {
				snprintf(sb->cg[i], sizeof(sb->cg[i]), "%s", "");
				continue; /* one v2 dir holds every controller */
			}
			if (sb_cgroup_self(NULL, own, sizeof(own)) != 0) {
				why = "no unified cgroup for this process";
				goto skip;
			}
			snprintf(dir, sizeof(dir), "/sys/fs/cgroup%s/jido-sb-%d-%u", own,
			    (int)getpid(), sb_seq);
		} else {
			if (sb_cgroup_self(ctrls[i], own, sizeof(own)) != 0) {
				why = "controller not mounted (cgroup v1)";
				goto skip;
			}
			snprintf(dir, sizeof(dir), "/sys/fs/cgroup/%s%s/jido-sb-%d-%u", ctrls[i], own,
			    (int)getpid(), sb_seq);
		}
		if (mkdir(dir, 0755) != 0) {
			why = strerror(errno);
			goto skip;
		}
		snprintf(sb->cg[i], sizeof(sb->cg[i]), "%s", dir);
		if (strcmp(ctrls[i], "memory") == 0) {
			snprintf(val, sizeof(val), "%lld", spec->memory);
			if (sb_write_path(dir, v2 ? "memory.max" : "memory.limit_in_bytes", val) != 0) {
				why = "cannot set the memory limit";
				goto skip;
			}
			if (v2)
				sb_write_path(dir, "memory.swap.max", "0");
			else
				sb_write_path(dir, "memory.memsw.limit_in_bytes", val);
		}
		if (strcmp(ctrls[i], "pids") == 0 || (v2 && strstr(v2ctl, "pids") != NULL)) {
			snprintf(val, sizeof(val), "%d", spec->pids);
			if (sb_write_path(dir, "pids.max", val) != 0 && !v2) {
				why = "cannot set pids.max";
				goto skip;
			}
		}
		if (strcmp(ctrls[i], "cpu") == 0 || (v2 && spec->cpus > 0)) {
			/* cpus CPUs' worth of time per 100 ms period */
			if (v2)
				snprintf(val, sizeof(val), "%d 100000", spec->cpus * 100000);
			else
				snprintf(val, sizeof(val), "%d", spec->cpus * 100000);
			if (sb_write_path(dir, v2 ? "cpu.max" : "cpu.cfs_quota_us", val) != 0 && !v2) {
				why = "cannot set the CPU quota";
				goto skip;
			}
		}
		if (!v2) {
			char tasks[300];
			snprintf(tasks, sizeof(tasks), "%s/tasks", dir);
			if ((join[i] = open(tasks, O_WRONLY | O_CLOEXEC)) < 0) {
				why = "cannot open the cgroup's tasks file";
				goto skip;
			}
			/* And our own (home) one, for pid 1 to leave by before it reports. */
			snprintf(tasks, sizeof(tasks), "/sys/fs/cgroup/%s%s/tasks", ctrls[i], own);
			join[3 + i] = open(tasks, O_WRONLY | O_CLOEXEC);
		}
		continue;
skip:
		jido_warn("sandbox.cgroup_unavailable", "{s:s,s:s,s:s}", "controller", ctrls[i],
		    "version", v2 ? "v2" : "v1", "why", why);
		if (sb->cg[i][0] != '\0' && rmdir(sb->cg[i]) == 0)
			sb->cg[i][0] = '\0';
	}
}

/* cgroup v2: move pid (the sandbox's pid 1, not yet past setup) into the dir made. */
static void
sb_cgroups_join_v2(struct sandbox *sb, pid_t pid)
{
	char val[32];

	if (sb->cg[0][0] == '\0')
		return;
	snprintf(val, sizeof(val), "%d", (int)pid);
	if (sb_write_path(sb->cg[0], "cgroup.procs", val) != 0) {
		jido_warn("sandbox.cgroup_unavailable", "{s:s,s:s,s:s}", "controller", "all",
		    "version", "v2", "why", "cannot join the cgroup");
		rmdir(sb->cg[0]);
		sb->cg[0][0] = '\0';
	}
}

static void
sb_cgroups_remove(struct sandbox *sb)
{
	int i, tries;

	for (i = 0; i < 3; i++) {
		if (sb->cg[i][0] == '\0')
			continue;
		/* The processes die asynchronously after pid 1: retry briefly. */
		for (tries = 0; tries < 200 && rmdir(sb->cg[i]) != 0 && errno == EBUSY; tries++)
			usleep(1000);
		sb->cg[i][0] = '\0';
	}
}

int
sandbox_start(const struct sandbox_spec *spec, struct sandbox *sb, char *why, size_t whylen)
{
	int syncp[2] = { -1, -1 }, errp[2] = { -1, -1 }, donep[2] = { -1, -1 }, ws_fd = -1;
	int gw_fd = -1, join[2 * 3], v2 = 0, i, rc;
	char map[64], msg[256];
	ssize_t n;
	size_t got = 0;
	pid_t pid;
	int status;

	memset(sb, 0, sizeof(*sb));
	sb->pid = -1;
	sb->pidfd = -1;
	sb->broker_fd = -1;
	sb->done_fd = -1;
	for (i = 0; i < 6; i++)
		join[i] = -1;
	if (spec->argv == NULL || spec->argv[0] == NULL) {
		snprintf(why, whylen, "no command to run");
		return JIDO_EVALIDATION;
	}
	if (spec->net == SANDBOX_NET_GATEWAY &&
	    (spec->gateway_sock == NULL || spec->gateway_port < 1024 || spec->gateway_port > 65535)) {
		snprintf(why, whylen, "--net gateway needs a gateway socket and a port 1024-65535");
		return JIDO_EVALIDATION;
	}
	if (spec->workspace != NULL && (ws_fd = open(spec->workspace, O_PATH | O_DIRECTORY |
	    O_CLOEXEC)) < 0) {
		snprintf(why, whylen, "workspace %s: %s", spec->workspace, strerror(errno));
		return JIDO_EVALIDATION;
	}
	if (ws_fd >= 0)
		close(ws_fd); /* checked here; the child opens it again in its namespace */
	ws_fd = -1;
	if (spec->net == SANDBOX_NET_GATEWAY) {
		int sp[2];
		if (strlen(spec->gateway_sock) >= sizeof(sb->gateway)) {
			snprintf(why, whylen, "gateway socket path too long");
			if (ws_fd >= 0)
				close(ws_fd);
			return JIDO_EVALIDATION;
		}
		snprintf(sb->gateway, sizeof(sb->gateway), "%s", spec->gateway_sock);
		if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, sp) != 0) {
			snprintf(why, whylen, "socketpair: %s", strerror(errno));
			if (ws_fd >= 0)
				close(ws_fd);
			return JIDO_EINTERNAL;
		}
		sb->broker_fd = sp[0];
		gw_fd = sp[1];
	}
	/* syncp: a SEQPACKET pair, so that the cgroup `tasks` descriptors can go along. */
	if (socketpair(AF_UNIX, SOCK_SEQPACKET | SOCK_CLOEXEC, 0, syncp) != 0 ||
	    pipe2(errp, O_CLOEXEC) != 0 || pipe2(donep, O_CLOEXEC) != 0) {
		snprintf(why, whylen, "pipe: %s", strerror(errno));
		goto fail;
	}
	sb->started_ms = jido_now_ms();
	pid = (pid_t)syscall(SYS_clone, CLONE_NEWUSER | CLONE_NEWNS | CLONE_NEWPID | CLONE_NEWNET |
	    CLONE_NEWIPC | CLONE_NEWUTS | CLONE_NEWCGROUP | SIGCHLD, 0, 0, 0, 0);
	if (pid < 0) {
		snprintf(why, whylen, "clone into new namespaces: %s", strerror(errno));
		goto fail;
	}
	if (pid == 0) {
		close(syncp[1]);
		close(errp[0]);
		close(donep[0]);
		if (sb->broker_fd >= 0)
			close(sb->broker_fd);
		sb_child(spec, syncp[0], errp[1], gw_fd, donep[1]);
	}
	sb->pid = pid;
	close(syncp[0]);
	close(donep[1]);
	sb->done_fd = donep[0];
	donep[0] = donep[1] = -1;
	close(errp[1]);
	syncp[0] = errp[1] = -1;
	if (ws_fd >= 0)
		close(ws_fd);
	if (gw_fd >= 0)
		close(gw_fd);
	ws_fd = gw_fd = -1;
	/* Map the agent's uid/gid 1000 to the unprivileged host ids; nothing else. */
	/* An unprivileged parent must deny setgroups before writing gid_map; root may leave
	 * it allowed so that the child can drop root's supplementary groups. */
	if (geteuid() != 0 && sb_write_proc(pid, "setgroups", "deny") != 0) {
		snprintf(why, whylen, "setgroups deny: %s", strerror(errno));
		goto kill;
	}
	snprintf(map, sizeof(map), "%d %u 1\n", SANDBOX_UID, (unsigned)spec->host_uid);
	if (sb_write_proc(pid, "uid_map", map) != 0) {
		snprintf(why, whylen, "uid_map: %s", strerror(errno));
		goto kill;
	}
	snprintf(map, sizeof(map), "%d %u 1\n", SANDBOX_UID, (unsigned)spec->host_gid);
	if (sb_write_proc(pid, "gid_map", map) != 0) {
		snprintf(why, whylen, "gid_map: %s", strerror(errno));
		goto kill;
	}
	if (write(syncp[1], "g", 1) != 1) {
		snprintf(why, whylen, "the sandbox child went away");
		goto kill;
	}
	/* The child builds its root now; its cgroups are made meanwhile. join[i] and
	 * join[3 + i]: the tasks files of our cgroup i and of the executor's own. */
	if (spec->cgroups)
		sb_cgroups(spec, sb, join, &v2);
	if (spec->cgroups && v2)
		sb_cgroups_join_v2(sb, pid);
	/* pid 1 can leave its cgroups before it reports (sandbox_wait) only when each one it
	 * joins came with the executor's own; on v2 the parent waits for its exit. */
	sb->home_ok = !v2 || sb->cg[0][0] == '\0';
	for (i = 0; i < 3; i++)
		if (join[i] >= 0 && join[3 + i] < 0)
			sb->home_ok = 0;
	{
		/* 'h': ours then the homes, pairs, and pid 1 reports early; 'c': ours only. */
		int send[6], k = 0;
		for (i = 0; i < 3; i++)
			if (join[i] >= 0)
				send[k++] = join[i];
		for (i = 0; sb->home_ok && i < 3; i++)
			if (join[i] >= 0)
				send[k++] = join[3 + i];
		rc = sb_send_fds(syncp[1], sb->home_ok ? 'h' : 'c', send, k);
	}
	for (i = 0; i < 6; i++)
		if (join[i] >= 0)
			close(join[i]);
	if (rc != 0) {
		snprintf(why, whylen, "the sandbox child went away");
		goto kill;
	}
	close(syncp[1]);
	syncp[1] = -1;
	/* EOF on errp: the command was started (or a setup step said why not). */
	while ((n = read(errp[0], msg + got, sizeof(msg) - 1 - got)) > 0 && got < sizeof(msg) - 1)
		got += (size_t)n;
	msg[got] = '\0';
	close(errp[0]);
	errp[0] = -1;
	if (got > 0) {
		snprintf(why, whylen, "%s", msg);
		goto kill;
	}
	sb->pidfd = (int)syscall(SYS_pidfd_open, pid, 0);
	fcntl(sb->done_fd, F_SETFL, O_NONBLOCK);
	sb->grace_ms = spec->grace_ms;
	sb->deadline_ms = spec->timeout_s > 0 ? sb->started_ms + spec->timeout_s * 1000LL : 0;
	return 0;
kill:
	kill(pid, SIGKILL);
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	sb_cgroups_remove(sb);
	sb->pid = -1;
fail:
	if (syncp[0] >= 0)
		close(syncp[0]);
	if (syncp[1] >= 0)
		close(syncp[1]);
	if (errp[0] >= 0)
		close(errp[0]);
	if (errp[1] >= 0)
		close(errp[1]);
	if (donep[0] >= 0)
		close(donep[0]);
	if (donep[1] >= 0)
		close(donep[1]);
	if (sb->done_fd >= 0)
		close(sb->done_fd);
	sb->done_fd = -1;
	if (ws_fd >= 0)
		close(ws_fd);
	if (gw_fd >= 0)
		close(gw_fd);
	if (sb->broker_fd >= 0)
		close(sb->broker_fd);
	sb->broker_fd = -1;
	return JIDO_EEXEC;
}

/*
 * The relay inside the sandbox asked for a connection to the gateway (one byte on the
 * broker socket): connect to the gateway's unix socket here, outside, with the executor's
 * own credentials, and pass the connected descriptor in (SCM_RIGHTS). A failed connect is
 * answered with a message without a descriptor. A hang-up stops the broker.
 */
static void
sb_broker(struct sandbox *sb)
{
	struct sockaddr_un sa;
	char b;
	ssize_t n = recv(sb->broker_fd, &b, 1, MSG_DONTWAIT);
	int fd = -1;

	if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
		close(sb->broker_fd);
		sb->broker_fd = -1;
		return;
	}
	if (n < 0)
		return;
	memset(&sa, 0, sizeof(sa));
	sa.sun_family = AF_UNIX;
	snprintf(sa.sun_path, sizeof(sa.sun_path), "%s", sb->gateway);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	if (fd >= 0 && connect(fd, (struct sockaddr *)&sa, sizeof(sa)) != 0) {
		jido_warn("sandbox.gateway_unreachable", "{s:s,s:s}", "socket", sb->gateway, "why",
		    strerror(errno));
		close(fd);
		fd = -1;
	}
	sb_send_fds(sb->broker_fd, fd >= 0 ? 'y' : 'n', &fd, fd >= 0 ? 1 : 0);
	if (fd >= 0)
		close(fd);
}

void
sandbox_kill(struct sandbox *sb)
{
	if (sb->pid > 0)
		kill(sb->pid, SIGKILL);
}

int
sandbox_wait(struct sandbox *sb, int wait_ms, struct sandbox_result *res)
{
	int64_t end = wait_ms < 0 ? INT64_MAX : jido_now_ms() + wait_ms;
	int status, reaped = 1;

	for (;;) {
		int64_t now = jido_now_ms(), next = end;
		pid_t p = waitpid(sb->pid, &status, WNOHANG);
		uint32_t code;

		if (p == sb->pid)
			break;
		if (p < 0 && errno != EINTR)
			return -1;
		/* pid 1 reported: the tree is gone and it has left its cgroups; its own exit
		 * (the kernel tearing down the namespaces) need not be waited for. */
		if (sb->done_fd >= 0) {
			ssize_t n = read(sb->done_fd, &code, sizeof(code));
			if (n == (ssize_t)sizeof(code) && code < 256) {
				status = (int)code << 8; /* as waitpid would say: exited with code */
				reaped = 0;
				break;
			}
			if (n == 0 || (n < 0 && errno != EAGAIN && errno != EINTR)) {
				close(sb->done_fd); /* died without a report: wait for its exit */
				sb->done_fd = -1;
			}
		}
		if (sb->deadline_ms > 0 && now >= sb->deadline_ms && !sb->term_sent) {
			/* Out of time: SIGTERM to the tree (pid 1 forwards it). */
			sb->timed_out = 1;
			sb->term_sent = 1;
			sb->term_ms = now;
			kill(sb->pid, SIGTERM);
		}
		if (sb->term_sent && now >= sb->term_ms + sb->grace_ms)
			kill(sb->pid, SIGKILL); /* pid 1 dies: the kernel kills the rest */
		if (sb->broker_fd >= 0) {
			struct pollfd b = { sb->broker_fd, POLLIN, 0 };
			if (poll(&b, 1, 0) > 0)
				sb_broker(sb);
		}
		if (now >= end)
			return 0;
		if (sb->deadline_ms > 0 && !sb->term_sent && sb->deadline_ms < next)
			next = sb->deadline_ms;
		if (sb->term_sent && sb->term_ms + sb->grace_ms < next)
			next = sb->term_ms + sb->grace_ms;
		int ms = next - now > 100 ? 100 : (int)(next - now);
		if (ms < 1)
			ms = 1;
		struct pollfd pfd[3] = { { sb->pidfd, POLLIN, 0 }, { sb->broker_fd, POLLIN, 0 },
			{ sb->done_fd, POLLIN, 0 } };
		if (poll(pfd, 3, sb->pidfd >= 0 ? ms : (ms < 10 ? ms : 10)) > 0 &&
		    (pfd[1].revents & (POLLIN | POLLHUP)))
			sb_broker(sb);
	}
	memset(res, 0, sizeof(*res));
	res->duration_ms = jido_now_ms() - sb->started_ms;
	res->timed_out = sb->timed_out;
	if (WIFEXITED(status)) {
		res->exit_code = WEXITSTATUS(status);
		if (res->exit_code > 128 && res->exit_code < 128 + 65)
			res->signal = res->exit_code - 128;
	} else {
		res->signal = WTERMSIG(status);
		res->exit_code = 128 + res->signal;
	}
	if (res->timed_out)
		snprintf(res->why, sizeof(res->why), "timed out; the whole process tree was killed");
	if (sb->pidfd >= 0)
		close(sb->pidfd);
	sb->pidfd = -1;
	if (sb->broker_fd >= 0)
		close(sb->broker_fd);
	sb->broker_fd = -1;
	if (sb->done_fd >= 0)
		close(sb->done_fd);
	sb->done_fd = -1;
	sb_cgroups_remove(sb);
	if (!reaped) /* reap pid 1 if it is gone already; else it stays a zombie (see .h) */
		waitpid(sb->pid, &status, WNOHANG);
	sb->pid = -1;
	return 1;
}
