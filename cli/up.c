/*
 * up.c - `jido up`: start the eight processes for local use, wait until each is READY,
 * restart any that dies (exponential backoff, a log line saying why it died), answer
 * supervisor.status on run/supervisor.sock for `jido status`, and on Ctrl-C or SIGTERM
 * stop them all and leave no socket file behind.
 */
#include <dirent.h>
#include <errno.h>
#include <limits.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <termios.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "cli.h"

#define UP_BACKOFF_MIN_MS 100
#define UP_BACKOFF_MAX_MS 30000
#define UP_STABLE_MS 10000   /* ran this long: the next death restarts at the minimum */
#define UP_STOP_GRACE_MS 10000
#define UP_NPROCS 8

struct up_child {
	const char *name;
	pid_t pid;            /* 0 while not running */
	int state;            /* as last seen; JIDO_STARTING until its health says READY */
	int restarts;
	int64_t started_ms;
	int64_t restart_at;   /* when pid == 0: when to start it again */
	int64_t backoff_ms;
	int64_t next_probe;
	char last_exit[96];
};

static struct {
	struct up_child kids[UP_NPROCS];
	char creds[UP_NPROCS][65]; /* kids[i]'s credential, handed over at every start */
	char bindir[PATH_MAX];
	struct cli *cli;
} up;

static volatile sig_atomic_t up_stop;

/* The vault passphrase typed at the terminal (sodium_malloc'd), handed to jido-vault in
 * JIDO_VAULT_PASSPHRASE at each of its starts; NULL when none was typed. */
static char *up_pass;

/* Read one line without echo into buf (cap bytes). 0 on success. */
static int
up_read_hidden(const char *prompt, char *buf, size_t cap)
{
	struct termios old, quiet;
	size_t n = 0;
	int ch, rc = 0;

	fputs(prompt, stderr);
	fflush(stderr);
	if (tcgetattr(0, &old) != 0)
		return -1;
	quiet = old;
	quiet.c_lflag &= ~(tcflag_t)(ECHO | ECHONL);
	tcsetattr(0, TCSAFLUSH, &quiet);
	while ((ch = getchar()) != EOF && ch != '\n')
		if (n + 1 < cap)
			buf[n++] = (char)ch;
	buf[n] = '\0';
	if (ch == EOF)
		rc = -1;
	tcsetattr(0, TCSAFLUSH, &old);
	fputc('\n', stderr);
	return rc;
}

/* In a terminal with no vault.passphrase_file: ask for the vault passphrase when the
 * vault is sealed with one, or, on the first start, offer to seal it with one (empty:
 * a key file, as without a terminal). Returns an exit code, 0 to go on. */
static int
up_vault_passphrase(struct cli *c)
{
	const char *pf = jido_conf_str(c->conf, "vault.passphrase_file");
	const char *dbc = jido_conf_str(c->conf, "vault.db");
	char db[PATH_MAX + 32], *again;
	sqlite3 *h = NULL;
	sqlite3_stmt *st = NULL;
	int sealed = 0, fresh;

	if ((pf != NULL && pf[0] != '\0') || !isatty(0))
		return 0;
	snprintf(db, sizeof(db), "%s", dbc != NULL && dbc[0] != '\0' ? dbc : "");
	if (db[0] == '\0')
		snprintf(db, sizeof(db), "%s/vault.db", c->home);
	fresh = access(db, F_OK) != 0;
	if (!fresh && sqlite3_open_v2(db, &h, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(h, "SELECT kind FROM kek WHERE id = 1", -1, &st, NULL) ==
	    SQLITE_OK && sqlite3_step(st) == SQLITE_ROW)
		sealed = strcmp((const char *)sqlite3_column_text(st, 0), "argon2id") == 0;
	else if (!fresh)
		fresh = 1; /* no vault in it yet */
	sqlite3_finalize(st);
	sqlite3_close(h);
	if (!sealed && !fresh)
		return 0;
	if ((up_pass = sodium_malloc(1024)) == NULL || (again = sodium_malloc(1024)) == NULL)
		return cli_fail(CLI_SYS, "up", "out of locked memory");
	if (up_read_hidden(fresh ? "new vault passphrase (empty: keep the master key in a "
	    "0600 key file): " : "vault passphrase: ", up_pass, 1024) != 0)
		up_pass[0] = '\0';
	if (fresh && up_pass[0] != '\0' &&
	    (up_read_hidden("again: ", again, 1024) != 0 || strcmp(again, up_pass) != 0)) {
		sodium_free(again);
		return cli_fail(CLI_USAGE, "up", "the two passphrases differ");
	}
	sodium_free(again);
	if (up_pass[0] == '\0') {
		sodium_free(up_pass);
		up_pass = NULL;
		if (sealed)
			return cli_fail(CLI_USAGE, "up", "the vault is sealed with a passphrase: type "
			    "it, or set vault.passphrase_file");
	}
	return 0;
}

static void
up_on_signal(int sig)
{
	(void)sig;
	up_stop = 1;
}

/* Describe a wait status for the log: "exited with status 1", "killed by signal 9 (KILL)". */
static void
up_describe(int status, char *buf, size_t len)
{
	if (WIFEXITED(status))
		snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
	else if (WIFSIGNALED(status))
		snprintf(buf, len, "killed by signal %d (%s)%s", WTERMSIG(status),
		    sigabbrev_np(WTERMSIG(status)) ? sigabbrev_np(WTERMSIG(status)) : "?",
		    WTERMSIG(status) == SIGSYS ? ": a syscall outside its seccomp allowlist" : "");
	else
		snprintf(buf, len, "stopped (status 0x%x)", status);
}

static int
up_spawn(struct up_child *k)
{
	char path[PATH_MAX + 32];
	pid_t pid;

	snprintf(path, sizeof(path), "%s/jido-%s", up.bindir, k->name);
	if ((pid = fork()) < 0) {
		jido_error("up.spawn_failed", "{s:s,s:s}", "name", k->name, "why", strerror(errno));
		return JIDO_EINTERNAL;
	}
	if (pid == 0) {
		signal(SIGINT, SIG_DFL);
		signal(SIGTERM, SIG_DFL);
		prctl(PR_SET_PDEATHSIG, SIGTERM);
		setenv("JIDO_PROC_CRED", up.creds[k - up.kids], 1);
		if (up_pass != NULL && strcmp(k->name, "vault") == 0)
			setenv("JIDO_VAULT_PASSPHRASE", up_pass, 1);
		execl(path, path, "serve", (char *)NULL);
		fprintf(stderr, "jido: up failed: cannot run %s: %s\n", path, strerror(errno));
		_exit(111);
	}
	k->pid = pid;
	k->state = JIDO_STARTING;
	k->started_ms = jido_now_ms();
	k->next_probe = k->started_ms + 20;
	jido_info("up.started", "{s:s,s:i}", "name", k->name, "pid", (int)pid);
	return 0;
}

/* Reap dead children and schedule their restarts. */
static void
up_reap(void)
{
	int status;
	pid_t pid;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		for (int i = 0; i < UP_NPROCS; i++) {
			struct up_child *k = &up.kids[i];
			int64_t now = jido_now_ms();
			if (k->pid != pid)
				continue;
			up_describe(status, k->last_exit, sizeof(k->last_exit));
			k->pid = 0;
			k->state = JIDO_FAILED;
			if (now - k->started_ms >= UP_STABLE_MS)
				k->backoff_ms = UP_BACKOFF_MIN_MS;
			if (!up_stop) {
				k->restart_at = now + k->backoff_ms;
				jido_warn("up.died", "{s:s,s:i,s:s,s:I}", "name", k->name, "pid",
				    (int)pid, "why", k->last_exit, "restart_in_ms",
				    (json_int_t)k->backoff_ms);
				k->backoff_ms *= 2;
				if (k->backoff_ms > UP_BACKOFF_MAX_MS)
					k->backoff_ms = UP_BACKOFF_MAX_MS;
			} else
				jido_info("up.exited", "{s:s,s:s}", "name", k->name, "why", k->last_exit);
		}
	}
}

/* Ask a starting child for its health; mark it READY when it says so. */
static void
up_probe(struct up_child *k)
{
	struct jido_reply r;
	char url[PATH_MAX + 32], type[64];

	if (cli_url(up.cli, k->name, url, sizeof(url)) != 0)
		return;
	snprintf(type, sizeof(type), "%s.health", k->name);
	if (jido_bus_call(url, type, NULL, NULL, 200, &r) != 0)
		return;
	if (r.ok) {
		const char *st = json_string_value(json_object_get(r.data, "state"));
		if (st != NULL && strcmp(st, "READY") == 0 && k->state != JIDO_READY) {
			k->state = JIDO_READY;
			jido_info("up.ready", "{s:s,s:i,s:I}", "name", k->name, "pid", (int)k->pid,
			    "after_ms", (json_int_t)(jido_now_ms() - k->started_ms));
		}
	}
	jido_reply_free(&r);
}

/* supervisor.status and supervisor.health. */
static int
up_handle(struct jido_srv *s, const struct jido_req *req, json_t **out, char *why,
    size_t whylen)
{
	json_t *arr;

	(void)s;
	if (strcmp(req->type, "supervisor.status") != 0)
		return jido_req_unknown(req, why, whylen);
	arr = json_array();
	for (int i = 0; i < UP_NPROCS; i++) {
		struct up_child *k = &up.kids[i];
		char url[PATH_MAX + 32];
		cli_url(up.cli, k->name, url, sizeof(url));
		json_array_append_new(arr, json_pack("{s:s,s:s,s:I,s:I,s:i,s:s,s:s}", "name",
		    k->name, "state", k->pid != 0 ? jido_state_name(k->state) : "DOWN", "pid",
		    (json_int_t)k->pid, "uptime_s", (json_int_t)(k->pid != 0 ?
		    (jido_now_ms() - k->started_ms) / 1000 : 0), "restarts", k->restarts,
		    "socket", url, "last_exit", k->last_exit));
	}
	*out = json_pack("{s:o,s:I}", "processes", arr, "pid", (json_int_t)getpid());
	return 0;
}

static const char *const up_allow[] = { NULL };
static const struct jido_proc up_proc = {
	.name = "supervisor",
	.summary = "jido up",
	.allow = { up_allow, 0, 1 },
	.handle = up_handle,
};

/* Stop every child: SIGTERM, wait for them to drain, SIGKILL what is left, remove any
 * socket file a killed child left behind, and the credential table (void once we stop). */
static void
up_stop_all(void)
{
	int64_t deadline = jido_now_ms() + UP_STOP_GRACE_MS;
	int alive;

	for (int i = UP_NPROCS - 1; i >= 0; i--)
		if (up.kids[i].pid != 0)
			kill(up.kids[i].pid, SIGTERM);
	do {
		up_reap();
		alive = 0;
		for (int i = 0; i < UP_NPROCS; i++)
			alive += up.kids[i].pid != 0;
		if (alive > 0)
			usleep(20000);
	} while (alive > 0 && jido_now_ms() < deadline);
	for (int i = 0; i < UP_NPROCS; i++) {
		if (up.kids[i].pid != 0) {
			jido_warn("up.kill", "{s:s}", "name", up.kids[i].name);
			kill(up.kids[i].pid, SIGKILL);
			waitpid(up.kids[i].pid, NULL, 0);
			up.kids[i].pid = 0;
		}
	}
	/* Every socket file left in run/ (whatever a killed process listened on: request,
	 * publish, push and HTTP sockets alike), then the credential table. The supervisor's
	 * own socket is still open and removed when it closes. */
	char run[PATH_MAX + 8], path[PATH_MAX + 300];
	DIR *d;
	struct dirent *e;
	struct stat st;

	snprintf(run, sizeof(run), "%s/run", up.cli->home);
	if ((d = opendir(run)) != NULL) {
		while ((e = readdir(d)) != NULL) {
			snprintf(path, sizeof(path), "%s/%s", run, e->d_name);
			if (strcmp(e->d_name, "supervisor.sock") != 0 && lstat(path, &st) == 0 &&
			    S_ISSOCK(st.st_mode))
				unlink(path);
		}
		closedir(d);
	}
	snprintf(path, sizeof(path), "%s/creds", run);
	unlink(path);
}

int
cli_up(struct cli *c, int argc, char **argv)
{
	struct jido_srv *srv = NULL;
	struct jido_bus *bus = NULL;
	struct sigaction sa;
	char url[PATH_MAX + 32], run[PATH_MAX + 8], why[512], *slash;
	int all_ready = 0;
	ssize_t n;

	if (argc > 1)
		return cli_fail(CLI_USAGE, "up", "unexpected argument '%s'", argv[1]);
	memset(&up, 0, sizeof(up));
	up.cli = c;
	jido_log_init("up");
	if ((n = readlink("/proc/self/exe", up.bindir, sizeof(up.bindir) - 1)) < 0)
		return cli_fail(CLI_SYS, "up", "cannot find my own binary: %s", strerror(errno));
	up.bindir[n] = '\0';
	if ((slash = strrchr(up.bindir, '/')) != NULL)
		*slash = '\0';
	for (int i = 0; i < UP_NPROCS; i++) {
		char path[PATH_MAX + 32];
		snprintf(path, sizeof(path), "%s/jido-%s", up.bindir, jido_procs[i]);
		if (access(path, X_OK) != 0)
			return cli_fail(CLI_SYS, "up", "%s is missing (run 'make' first)", path);
		up.kids[i].name = jido_procs[i];
		up.kids[i].backoff_ms = UP_BACKOFF_MIN_MS;
	}
	snprintf(run, sizeof(run), "%s/run", c->home);
	if (jido_mkdirs(run, 0700) != 0)
		return cli_fail(CLI_SYS, "up", "cannot create %s: %s", run, strerror(errno));
	setenv("JIDO_HOME", c->home, 1);
	if (cli_url(c, "supervisor", url, sizeof(url)) != 0 ||
	    jido_bus_open(JIDO_BUS_REP, url, 1, (int)jido_conf_int(c->conf, "bus.socket_mode"),
	    NULL, &bus) != 0)
		return cli_fail(CLI_CONFLICT, "up", "another 'jido up' is already running for %s",
		    c->home);
	jido_bus_set_timeouts(bus, 50, 1000);
	if ((n = up_vault_passphrase(c)) != 0) {
		jido_bus_close(bus);
		return (int)n;
	}
	for (int i = 0; i < UP_NPROCS; i++)
		jido_cred_new(up.creds[i]);
	if (jido_cred_table_write(c->home, jido_procs, up.creds) != 0) {
		jido_bus_close(bus);
		return cli_fail(CLI_SYS, "up", "cannot write %s/creds", run);
	}
	if (jido_srv_new(&up_proc, c->conf, &srv, why, sizeof(why)) != 0) {
		jido_bus_close(bus);
		return cli_fail(CLI_SYS, "up", "%s", why);
	}
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = up_on_signal;
	sigaction(SIGINT, &sa, NULL);
	sigaction(SIGTERM, &sa, NULL);
	signal(SIGPIPE, SIG_IGN);
	jido_info("up.starting", "{s:s,s:s}", "home", c->home, "bin", up.bindir);

	/* The vault first, READY before anyone asks it for a secret (the auditor fetches its
	 * signing key at start); then the rest. A vault that never gets READY does not hold
	 * the others back for more than 5 s: they start and retry on their own. */
	up_spawn(&up.kids[0]);
	for (int64_t until = jido_now_ms() + 5000; !up_stop && jido_now_ms() < until &&
	    up.kids[0].pid != 0 && up.kids[0].state != JIDO_READY;) {
		up_probe(&up.kids[0]);
		if (up.kids[0].state != JIDO_READY)
			usleep(20000);
		up_reap();
	}
	for (int i = 1; i < UP_NPROCS; i++)
		up_spawn(&up.kids[i]);
	while (!up_stop) {
		int64_t now = jido_now_ms();
		int ready = 0;
		char *buf;
		size_t len;

		up_reap();
		for (int i = 0; i < UP_NPROCS && !up_stop; i++) {
			struct up_child *k = &up.kids[i];
			if (k->pid == 0 && now >= k->restart_at) {
				if (up_spawn(k) == 0)
					k->restarts++;
			} else if (k->pid != 0 && k->state != JIDO_READY && now >= k->next_probe) {
				up_probe(k);
				k->next_probe = jido_now_ms() + 50;
			}
			ready += k->pid != 0 && k->state == JIDO_READY;
		}
		if (ready == UP_NPROCS && !all_ready) {
			all_ready = 1;
			jido_info("up.all_ready", "{s:i,s:s}", "processes", ready, "home", c->home);
		} else if (ready < UP_NPROCS)
			all_ready = 0;
		if (jido_bus_recv(bus, &buf, &len, NULL) == 0) {
			json_t *reply = jido_srv_dispatch(srv, buf, len, NULL);
			free(buf);
			jido_bus_send_json(bus, reply);
			json_decref(reply);
		}
	}
	jido_info("up.stopping", NULL);
	up_stop_all();
	jido_srv_free(srv);
	jido_bus_close(bus);
	sodium_memzero(up.creds, sizeof(up.creds));
	sodium_free(up_pass);
	up_pass = NULL;
	jido_info("up.stopped", NULL);
	return 0;
}
