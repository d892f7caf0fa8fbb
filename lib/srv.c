/*
 * srv.c - the life of every JidoCode process: argv, config, open, drop, seccomp, serve.
 * jido_srv_dispatch is the one core both the daemon loop (serve) and the stdin filter
 * mode (filter) call, so the two cannot drift apart. It answers the common types
 * (<proc>.health, <proc>.log_level) and hands everything else to the process handler.
 */
#include <errno.h>
#include <limits.h>
#include <pthread.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <unistd.h>

#include <sodium.h>

#include "jido.h"

#define SRV_TICK_MS 200
#define SRV_TICK_MIN_MS 2
#define SRV_WORKERS_MAX 16

struct jido_srv {
	const struct jido_proc *p;
	const struct jido_conf *conf;
	char home[PATH_MAX];
	void *priv;
	int state;
	int filter;
	int64_t started_ms;
	struct jido_bus *rep;
	struct jido_bus *pub;
	uint64_t pub_seq;
	int64_t last_heartbeat;
	int opened;
	char url[4200];            /* own request socket, for the watchdog */
	int want_net;              /* the process asked for AF_INET/AF_INET6 (jido_srv_need_net) */
	struct jido_bus *probe;    /* watchdog's REQ socket while a probe is in flight */
	int64_t probe_sent;
	int64_t probe_next;
	pthread_mutex_t mu;        /* with workers: held around dispatch and tick */
	volatile sig_atomic_t worker_failed;
};

struct srv_worker {
	struct jido_srv *s;
	struct jido_bus_ctx *ctx;
	pthread_t th;
	int started;
};

static volatile sig_atomic_t srv_stop;

const char *
jido_state_name(int s)
{
	static const char *const names[] = { "STARTING", "READY", "DRAINING", "FAILED" };

	return s >= 0 && s <= JIDO_FAILED ? names[s] : "FAILED";
}

const struct jido_conf *jido_srv_conf(const struct jido_srv *s) { return s->conf; }
const char *jido_srv_home(const struct jido_srv *s) { return s->home; }
void *jido_srv_priv(struct jido_srv *s) { return s->priv; }
void jido_srv_need_net(struct jido_srv *s) { s->want_net = 1; }
int jido_srv_state(const struct jido_srv *s) { return s->state; }

int
jido_srv_publish(struct jido_srv *s, const char *type, const char *corr, json_t *data)
{
	json_t *m;
	int rc;

	if (s->pub == NULL) {
		json_decref(data);
		return 0;
	}
	if ((m = jido_msg_new(type, NULL, corr, data)) == NULL)
		return JIDO_EINTERNAL;
	rc = jido_bus_send_json(s->pub, m);
	json_decref(m);
	return rc;
}

int
jido_req_unknown(const struct jido_req *req, char *why, size_t whylen)
{
	snprintf(why, whylen, "unknown type '%s'", req->type);
	return JIDO_EVALIDATION;
}

/* The common types every process answers. Returns -1 when type is not one of them. */
static int
srv_common(struct jido_srv *s, const struct jido_req *req, const char *verb, json_t **out,
    char *why, size_t whylen)
{
	if (strcmp(verb, "health") == 0) {
		*out = json_pack("{s:s,s:s,s:I,s:I,s:s}", "name", s->p->name, "state",
		    jido_state_name(s->state), "pid", (json_int_t)getpid(), "uptime_s",
		    (json_int_t)((jido_now_ms() - s->started_ms) / 1000), "version", JIDO_VERSION);
		return 0;
	}
	if (strcmp(verb, "log_level") == 0) {
		json_t *lv = json_object_get(req->data, "level");
		if (lv != NULL) {
			int l = json_is_string(lv) ? jido_log_level_parse(json_string_value(lv)) : -1;
			if (l < 0) {
				snprintf(why, whylen, "data.level must be debug, info, warn or error");
				return JIDO_EVALIDATION;
			}
			jido_log_set_level(l);
			jido_info("srv.log_level", "{s:s}", "level", jido_log_level_name(l));
		}
		*out = json_pack("{s:s}", "level", jido_log_level_name(jido_log_get_level()));
		return 0;
	}
	return -1;
}

json_t *
jido_srv_dispatch(struct jido_srv *s, const void *buf, size_t len, const struct jido_peer *peer)
{
	struct jido_msg m;
	struct jido_req req;
	char why[512] = "", *id = NULL;
	const char *dot;
	json_t *out = NULL, *reply;
	long long max = jido_conf_int(s->conf, "bus.max_msg");
	int rc;

	if (max > 0 && len > (size_t)max) {
		snprintf(why, sizeof(why), "message too large (%zu bytes, limit %lld)", len, max);
		jido_warn("srv.bad_request", "{s:s}", "why", why);
		return jido_reply_err(NULL, JIDO_EVALIDATION, why);
	}
	if (jido_msg_parse(buf, len, &m, why, sizeof(why), &id) != 0) {
		jido_warn("srv.bad_request", "{s:s}", "why", why);
		reply = jido_reply_err(id, JIDO_EVALIDATION, why);
		free(id);
		return reply;
	}
	free(id);
	dot = strchr(m.type, '.');
	if ((size_t)(dot - m.type) != strlen(s->p->name) ||
	    strncmp(m.type, s->p->name, (size_t)(dot - m.type)) != 0) {
		snprintf(why, sizeof(why), "type '%s' is not for %s", m.type, s->p->name);
		jido_warn("srv.bad_request", "{s:s}", "why", why);
		reply = jido_reply_err(m.id, JIDO_EVALIDATION, why);
		jido_msg_free(&m);
		return reply;
	}
	memset(&req, 0, sizeof(req));
	req.type = m.type;
	req.id = m.id;
	req.corr = m.corr;
	req.data = m.data;
	req.filter = s->filter;
	if (peer != NULL)
		req.peer = *peer;
	rc = srv_common(s, &req, dot + 1, &out, why, sizeof(why));
	if (rc < 0)
		rc = s->p->handle(s, &req, &out, why, sizeof(why));
	if (rc == 0)
		reply = jido_reply_ok(m.id, out);
	else {
		json_decref(out);
		if (rc >= JIDO_ERR_COUNT)
			rc = JIDO_EINTERNAL;
		jido_debug("srv.request_failed", "{s:s,s:s,s:s}", "type", m.type, "code",
		    jido_err_name(rc), "why", why);
		reply = jido_reply_err(m.id, rc, why[0] != '\0' ? why : NULL);
	}
	jido_msg_free(&m);
	if (reply == NULL) /* out of memory building it: still answer */
		reply = jido_reply_err(NULL, JIDO_EINTERNAL, "out of memory");
	return reply;
}

/* Allocate a server for p; resolves home to an absolute path. */
static int
srv_alloc(const struct jido_proc *p, const struct jido_conf *c, struct jido_srv **out,
    char *why, size_t whylen)
{
	struct jido_srv *s = calloc(1, sizeof(*s));

	if (s == NULL)
		return JIDO_EINTERNAL;
	s->p = p;
	s->conf = c;
	pthread_mutex_init(&s->mu, NULL);
	s->started_ms = jido_now_ms();
	s->state = JIDO_STARTING;
	if (jido_abspath(jido_conf_str(c, "home"), s->home, sizeof(s->home)) != 0) {
		snprintf(why, whylen, "state directory path too long");
		free(s);
		return JIDO_EVALIDATION;
	}
	if (p->priv_size > 0 && (s->priv = calloc(1, p->priv_size)) == NULL) {
		free(s);
		return JIDO_EINTERNAL;
	}
	*out = s;
	return 0;
}

int
jido_srv_new(const struct jido_proc *p, const struct jido_conf *c, struct jido_srv **out,
    char *why, size_t whylen)
{
	struct jido_srv *s;
	int rc;

	if ((rc = srv_alloc(p, c, &s, why, whylen)) != 0)
		return rc;
	s->filter = 1;
	if (p->prefork != NULL && (rc = p->prefork(s, why, whylen)) != 0) {
		free(s->priv);
		free(s);
		return rc;
	}
	if (p->open != NULL && (rc = p->open(s, why, whylen)) != 0) {
		if (p->prefork != NULL && p->close != NULL)
			p->close(s); /* what prefork made */
		free(s->priv);
		free(s);
		return rc;
	}
	s->opened = 1;
	s->state = JIDO_READY;
	*out = s;
	return 0;
}

void
jido_srv_free(struct jido_srv *s)
{
	if (s == NULL)
		return;
	if (s->opened && s->p->close != NULL)
		s->p->close(s);
	jido_bus_close(s->probe);
	jido_bus_close(s->rep);
	jido_bus_close(s->pub);
	free(s->priv);
	free(s);
}

int
jido_filter_run(struct jido_srv *s, FILE *in, FILE *out)
{
	char *line = NULL, *text;
	size_t cap = 0;
	ssize_t n;
	long lineno = 0;
	int failed = 0;

	while ((n = getline(&line, &cap, in)) >= 0) {
		json_t *reply;
		lineno++;
		while (n > 0 && (line[n - 1] == '\n' || line[n - 1] == '\r'))
			line[--n] = '\0';
		if (n == 0)
			continue;
		reply = jido_srv_dispatch(s, line, (size_t)n, NULL);
		if (!json_is_true(json_object_get(reply, "ok"))) {
			failed = 1;
			json_object_set_new(reply, "line", json_integer(lineno));
		}
		text = jido_json_dump(reply);
		json_decref(reply);
		if (text == NULL || fprintf(out, "%s\n", text) < 0 || fflush(out) != 0) {
			free(text);
			free(line);
			return 111;
		}
		free(text);
	}
	free(line);
	return failed ? 1 : 0;
}

static void
srv_on_signal(int sig)
{
	(void)sig;
	srv_stop = 1;
}

/* URL of this process's request socket (config override or ipc under home/run). */
static int
srv_url(const struct jido_srv *s, const char *name, int pub, char *buf, size_t len)
{
	char key[64];
	const char *v;

	snprintf(key, sizeof(key), "socket.%s", name);
	v = jido_conf_str(s->conf, key);
	if (v != NULL && v[0] != '\0') {
		int n = snprintf(buf, len, "%s", v);
		return n < 0 || (size_t)n >= len ? JIDO_EVALIDATION : 0;
	}
	return pub ? jido_bus_url_pub(s->home, name, buf, len) :
	    jido_bus_url_req(s->home, name, buf, len);
}

static int
srv_open_sockets(struct jido_srv *s, char *why, size_t whylen)
{
	char url[PATH_MAX + 16], run[PATH_MAX + 8];
	struct jido_bus_tls tls = { jido_conf_str(s->conf, "bus.tls_cert"),
		jido_conf_str(s->conf, "bus.tls_key"), jido_conf_str(s->conf, "bus.tls_ca") };
	int perm = (int)jido_conf_int(s->conf, "bus.socket_mode");
	int rc;

	jido_bus_tls_default(&tls); /* the strings live in the config */
	snprintf(run, sizeof(run), "%s/run", s->home);
	if (jido_mkdirs(run, 0700) != 0) {
		snprintf(why, whylen, "cannot create %s: %s", run, strerror(errno));
		return JIDO_EINTERNAL;
	}
	if ((rc = srv_url(s, s->p->name, 0, url, sizeof(url))) != 0 ||
	    (rc = jido_bus_open(JIDO_BUS_REP, url, 1, perm, &tls, &s->rep)) != 0) {
		snprintf(why, whylen, "cannot listen on %s: %s%s", url, jido_strerror(rc),
		    rc == JIDO_EUNAVAIL ? " (is another one running?)" : "");
		return rc;
	}
	jido_bus_set_timeouts(s->rep, SRV_TICK_MS, (int)jido_conf_int(s->conf, "bus.timeout_ms"));
	snprintf(s->url, sizeof(s->url), "%s", url);
	if (s->p->pub_topic != NULL) {
		if ((rc = srv_url(s, s->p->pub_topic, 1, url, sizeof(url))) != 0 ||
		    (rc = jido_bus_open(JIDO_BUS_PUB, url, 1, perm, &tls, &s->pub)) != 0) {
			snprintf(why, whylen, "cannot listen on %s: %s", url, jido_strerror(rc));
			return rc;
		}
	}
	return 0;
}

/* Give up what the process no longer needs, in a fixed order: stdin, core dumps
 * (a process may hold secrets), then the syscall allowlist. */
static int
srv_drop(struct jido_srv *s, char *why, size_t whylen)
{
	struct rlimit rl = { 0, 0 };
	int fd = open("/dev/null", O_RDONLY);

	if (fd >= 0) {
		dup2(fd, 0);
		if (fd != 0)
			close(fd);
	}
	setrlimit(RLIMIT_CORE, &rl);
	prctl(PR_SET_DUMPABLE, 0, 0, 0, 0);
	struct jido_allow a = s->p->allow;
	if (s->want_net)
		a.net = 1; /* asked for in open, from the config (a remote executor) */
	if (jido_seccomp_install(&a) != 0) {
		snprintf(why, whylen, "cannot install the seccomp allowlist");
		return JIDO_EINTERNAL;
	}
	return 0;
}

static void
srv_heartbeat(struct jido_srv *s)
{
	long long every = jido_conf_int(s->conf, "bus.heartbeat_s") * 1000;
	int64_t now = jido_now_ms();

	if (s->pub == NULL || every <= 0 || now - s->last_heartbeat < every)
		return;
	s->last_heartbeat = now;
	char type[JIDO_TYPE_MAX + 1];
	snprintf(type, sizeof(type), "%s.heartbeat", s->p->pub_topic);
	jido_srv_publish(s, type, NULL, json_pack("{s:s,s:I}", "process", s->p->name, "seq",
	    (json_int_t)++s->pub_seq));
}

/*
 * The watchdog: every bus.watchdog_s the process asks itself for its health over a
 * fresh connection to its own request socket. If no answer comes within three periods,
 * the socket no longer serves new clients (a peer that hung up mid-handshake can wedge
 * an nng 1.5.2 listener), so the process exits 111 and its supervisor starts it clean.
 */
static int
srv_watchdog(struct jido_srv *s)
{
	long long every = jido_conf_int(s->conf, "bus.watchdog_s") * 1000;
	int64_t now = jido_now_ms();
	char *buf;
	size_t len;

	if (every <= 0 || strncmp(s->url, "ipc://", 6) != 0)
		return 0;
	if (s->probe != NULL) {
		if (jido_bus_recv_flags(s->probe, &buf, &len, NULL, 1) == 0) {
			free(buf);
			jido_bus_close(s->probe);
			s->probe = NULL;
			s->probe_next = now + every;
		} else if (now - s->probe_sent > 3 * every) {
			jido_error("srv.wedged", "{s:s,s:I}", "socket", s->url, "waited_ms",
			    (json_int_t)(now - s->probe_sent));
			return JIDO_EUNAVAIL;
		}
		return 0;
	}
	if (now < s->probe_next)
		return 0;
	char type[JIDO_TYPE_MAX + 1];
	json_t *m;
	snprintf(type, sizeof(type), "%s.health", s->p->name);
	s->probe_sent = now;
	if (jido_bus_open(JIDO_BUS_REQ, s->url, 0, 0, NULL, &s->probe) != 0) {
		s->probe = NULL;
		jido_error("srv.wedged", "{s:s,s:s}", "socket", s->url, "why", "cannot dial");
		return JIDO_EUNAVAIL;
	}
	jido_bus_set_timeouts(s->probe, 0, 1000);
	m = jido_msg_new(type, NULL, NULL, NULL);
	jido_bus_send_json(s->probe, m);
	json_decref(m);
	return 0;
}

/* A serving thread: receive on its own context, dispatch under the lock, answer; until
 * a signal (seen within a receive timeout) or a transport failure (then the process
 * stops, as the single loop does). */
static void *
srv_worker_main(void *arg)
{
	struct srv_worker *w = arg;
	struct jido_srv *s = w->s;

	while (!srv_stop && !s->worker_failed) {
		struct jido_peer peer;
		char *buf = NULL;
		size_t len;
		int rc = jido_bus_ctx_recv(w->ctx, &buf, &len, &peer);

		if (rc == 0) {
			char *text;
			/* the reply may share JSON with the handler's state: serialise and release
			 * it under the lock too, send it outside */
			pthread_mutex_lock(&s->mu);
			json_t *reply = jido_srv_dispatch(s, buf, len, &peer);
			text = jido_json_dump(reply);
			json_decref(reply);
			pthread_mutex_unlock(&s->mu);
			free(buf);
			rc = text != NULL ? jido_bus_ctx_send(w->ctx, text, strlen(text)) :
			    JIDO_EINTERNAL;
			if (rc != 0)
				jido_warn("srv.reply_lost", "{s:s}", "why", jido_strerror(rc));
			free(text);
		} else if (rc != JIDO_ETIMEOUT) {
			jido_error("srv.recv_failed", "{s:s}", "why", jido_strerror(rc));
			s->worker_failed = 1;
		}
	}
	return NULL;
}

/* The daemon with p->workers serving threads: the main thread keeps the tick, the
 * heartbeat and the watchdog every SRV_TICK_MS; signals go to it (the workers block
 * them), and at a signal every worker finishes the request it holds before we return. */
static void
srv_loop_workers(struct jido_srv *s, int n)
{
	struct srv_worker w[SRV_WORKERS_MAX];
	int send_ms = (int)jido_conf_int(s->conf, "bus.timeout_ms");
	sigset_t block, old;
	int started = 0;

	memset(w, 0, sizeof(w));
	sigemptyset(&block);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGINT);
	pthread_sigmask(SIG_BLOCK, &block, &old);
	for (int i = 0; i < n; i++) {
		w[i].s = s;
		if (jido_bus_ctx_open(s->rep, SRV_TICK_MS, send_ms, &w[i].ctx) != 0 ||
		    pthread_create(&w[i].th, NULL, srv_worker_main, &w[i]) != 0)
			break;
		w[i].started = 1;
		started++;
	}
	pthread_sigmask(SIG_SETMASK, &old, NULL);
	if (started == 0) {
		jido_error("srv.recv_failed", "{s:s}", "why", "cannot start a serving thread");
		s->worker_failed = 1;
	}
	while (!srv_stop && !s->worker_failed) {
		struct timespec ts = { 0, SRV_TICK_MS * 1000000L };
		nanosleep(&ts, NULL); /* a signal cuts it short */
		if (srv_stop)
			break;
		pthread_mutex_lock(&s->mu);
		if (s->p->tick != NULL)
			s->p->tick(s);
		srv_heartbeat(s);
		pthread_mutex_unlock(&s->mu);
		if (srv_watchdog(s) != 0)
			_exit(111); /* as in srv_loop */
	}
	for (int i = 0; i < n; i++) {
		if (w[i].started)
			pthread_join(w[i].th, NULL);
		jido_bus_ctx_close(w[i].ctx);
	}
}

/*
 * The daemon loop: one request at a time until a signal. The tick (with the heartbeat
 * and the watchdog) follows a request within SRV_TICK_MIN_MS and runs at least every
 * SRV_TICK_MS; under a stream of requests it runs at most every SRV_TICK_MIN_MS, so
 * housekeeping (a planner's SQL scan, say) is not paid once per request.
 */
static void
srv_loop(struct jido_srv *s)
{
	int n = s->p->workers > SRV_WORKERS_MAX ? SRV_WORKERS_MAX : s->p->workers;
	int send_ms = (int)jido_conf_int(s->conf, "bus.timeout_ms"), wait_ms = SRV_TICK_MS;
	int64_t last_tick = 0;

	if (n > 1) {
		srv_loop_workers(s, n);
		return;
	}
	while (!srv_stop) {
		struct jido_peer peer;
		char *buf = NULL;
		size_t len;
		int rc = jido_bus_recv(s->rep, &buf, &len, &peer), due;
		int64_t now;

		if (rc == 0) {
			json_t *reply = jido_srv_dispatch(s, buf, len, &peer);
			jido_free_wiped(buf, len); /* a request may carry a secret (vault.put) */
			if ((rc = jido_bus_send_json(s->rep, reply)) != 0)
				jido_warn("srv.reply_lost", "{s:s}", "why", jido_strerror(rc));
			json_decref(reply);
			rc = 0;
		} else if (rc != JIDO_ETIMEOUT) {
			jido_error("srv.recv_failed", "{s:s}", "why", jido_strerror(rc));
			break;
		}
		now = jido_now_ms();
		due = rc == JIDO_ETIMEOUT || now - last_tick >= SRV_TICK_MIN_MS;
		if (due) {
			last_tick = now;
			if (s->p->tick != NULL)
				s->p->tick(s);
			srv_heartbeat(s);
			if (srv_watchdog(s) != 0) {
				/* A wedged nng socket can hang a graceful close: leave at once and let
				 * the supervisor start us clean (the next start clears the stale file). */
				_exit(111);
			}
		}
		/* a tick owed to this request: wait no longer than SRV_TICK_MIN_MS for the next */
		if ((due ? SRV_TICK_MS : SRV_TICK_MIN_MS) != wait_ms) {
			wait_ms = due ? SRV_TICK_MS : SRV_TICK_MIN_MS;
			jido_bus_set_timeouts(s->rep, wait_ms, send_ms);
		}
	}
}

static void
srv_usage(const struct jido_proc *p, FILE *f)
{
	fprintf(f,
	    "usage: jido-%s [--config FILE] [--home DIR] [--log-level L] COMMAND\n"
	    "%s\n\n"
	    "commands:\n"
	    "  serve            run the daemon on $JIDO_HOME/run/%s.sock\n"
	    "  filter           JSON-line requests on stdin, replies on stdout\n"
	    "%s"
	    "  --check-config   print the effective configuration and exit\n"
	    "  --seccomp-profile  print this process's allowlist as a Docker seccomp profile\n"
	    "  --syscalls       print the allowed syscall names, one per line\n"
	    "  --help, --version\n\n"
	    "exit: 0 ok, 1 negative (a filter line failed), 2 usage/config, 111 system failure\n",
	    p->name, p->summary, p->name, p->command_usage ? p->command_usage : "");
}

int
jido_main(const struct jido_proc *p, int argc, char **argv)
{
	struct jido_conf *conf = NULL;
	struct jido_srv *s = NULL;
	const char *file = NULL, *home = NULL, *level = NULL, *cmd = NULL;
	char why[1024] = "";
	char name[64];
	int i, rc, code = 111;

	snprintf(name, sizeof(name), "%s", p->name);
	jido_log_init(p->name);
	/* Nothing inherited beyond stdio: whatever started us keeps its descriptors. */
	close_range(3, ~0U, 0);
	if (jido_cred_load_self() != 0) {
		fprintf(stderr, "jido-%s: start failed: cannot read JIDO_PROC_CRED_FILE\n", name);
		return 111;
	}
	for (i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--help") == 0 || strcmp(argv[i], "-h") == 0) {
			srv_usage(p, stdout);
			return fflush(stdout) == 0 ? 0 : 111;
		} else if (strcmp(argv[i], "--version") == 0) {
			printf("jido-%s %s\n", p->name, JIDO_VERSION);
			return fflush(stdout) == 0 ? 0 : 111;
		} else if (strcmp(argv[i], "--seccomp-profile") == 0) {
			json_t *prof = jido_seccomp_profile(&p->allow);
			rc = prof != NULL && json_dumpf(prof, stdout, JSON_INDENT(2)) == 0 &&
			    fputc('\n', stdout) != EOF && fflush(stdout) == 0;
			json_decref(prof);
			return rc ? 0 : 111;
		} else if (strcmp(argv[i], "--syscalls") == 0) {
			return jido_seccomp_names(&p->allow, stdout) == 0 ? 0 : 111;
		} else if (strcmp(argv[i], "--config") == 0 && i + 1 < argc)
			file = argv[++i];
		else if (strcmp(argv[i], "--home") == 0 && i + 1 < argc)
			home = argv[++i];
		else if (strcmp(argv[i], "--log-level") == 0 && i + 1 < argc)
			level = argv[++i];
		else if (argv[i][0] == '-' && strcmp(argv[i], "--check-config") != 0) {
			fprintf(stderr, "jido-%s: usage failed: unknown option '%s' (see --help)\n",
			    name, argv[i]);
			return 2;
		} else {
			cmd = argv[i];
			break;
		}
	}
	if (cmd == NULL) {
		srv_usage(p, stderr);
		return 2;
	}
	if (p->command != NULL && strcmp(cmd, "serve") != 0 && strcmp(cmd, "filter") != 0 &&
	    strcmp(cmd, "--check-config") != 0) {
		if ((rc = p->command(argc - i, argv + i)) >= 0)
			return rc;
	}
	if (strcmp(cmd, "serve") != 0 && strcmp(cmd, "filter") != 0 &&
	    strcmp(cmd, "--check-config") != 0) {
		fprintf(stderr, "jido-%s: usage failed: unknown command '%s' (see --help)\n", name,
		    cmd);
		return 2;
	}
	if (sodium_init() < 0) {
		fprintf(stderr, "jido-%s: start failed: libsodium did not initialise\n", name);
		return 111;
	}
	if ((rc = jido_conf_load(file, &conf, why, sizeof(why))) != 0 ||
	    (home != NULL && (rc = jido_conf_set(conf, "home", home, why, sizeof(why))) != 0) ||
	    (level != NULL && (rc = jido_conf_set(conf, "log.level", level, why, sizeof(why))) != 0)) {
		fprintf(stderr, "jido-%s: config failed: %s\n", name, why);
		return 2;
	}
	if (strcmp(cmd, "--check-config") == 0) {
		rc = jido_conf_print(conf, stdout);
		jido_conf_free(conf);
		return rc == 0 ? 0 : 111;
	}
	jido_log_set_level(jido_log_level_parse(jido_conf_str(conf, "log.level")));
	signal(SIGPIPE, SIG_IGN);

	if (strcmp(cmd, "filter") == 0) {
		if ((rc = jido_srv_new(p, conf, &s, why, sizeof(why))) != 0) {
			fprintf(stderr, "jido-%s: filter failed: %s\n", name, why);
			jido_conf_free(conf);
			return jido_err_exit(rc) == 0 ? 111 : jido_err_exit(rc);
		}
		if (jido_seccomp_install(&p->allow) != 0) {
			fprintf(stderr, "jido-%s: filter failed: cannot install seccomp\n", name);
			code = 111;
		} else
			code = jido_filter_run(s, stdin, stdout);
		jido_srv_free(s);
		jido_conf_free(conf);
		return code;
	}

	/* serve: config is parsed; open what we need, drop the rest, then serve. */
	struct sigaction sa;
	memset(&sa, 0, sizeof(sa));
	sa.sa_handler = srv_on_signal;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGINT, &sa, NULL);
	signal(SIGHUP, SIG_IGN);
	if ((rc = srv_alloc(p, conf, &s, why, sizeof(why))) != 0)
		goto fail;
	jido_info("srv.starting", "{s:s,s:s}", "version", JIDO_VERSION, "home", s->home);
	/* Before the sockets: nng starts its threads with the first one (see prefork). */
	if (p->prefork != NULL) {
		if ((rc = p->prefork(s, why, sizeof(why))) != 0)
			goto fail;
		s->opened = 1; /* close releases what prefork made, even if open fails */
	}
	if ((rc = srv_open_sockets(s, why, sizeof(why))) != 0)
		goto fail;
	if (p->open != NULL && (rc = p->open(s, why, sizeof(why))) != 0)
		goto fail;
	s->opened = 1;
	if ((rc = srv_drop(s, why, sizeof(why))) != 0)
		goto fail;
	s->state = JIDO_READY;
	jido_info("srv.ready", "{s:i}", "uptime_ms", (int)(jido_now_ms() - s->started_ms));
	srv_loop(s);
	code = 0;
	s->state = JIDO_DRAINING;
	jido_info("srv.draining", NULL);
	jido_srv_free(s);
	jido_conf_free(conf);
	jido_info("srv.stopped", "{s:i}", "exit", code);
	return code;
fail:
	if (s != NULL)
		s->state = JIDO_FAILED;
	jido_error("srv.start_failed", "{s:s,s:s}", "code", jido_err_name(rc), "why", why);
	fprintf(stderr, "jido-%s: start failed: %s\n", name, why);
	jido_srv_free(s);
	jido_conf_free(conf);
	return rc == JIDO_EVALIDATION ? 2 : 111;
}
