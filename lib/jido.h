/*
 * jido.h - the one public header of libjido, the code every JidoCode process shares:
 * error codes, the message envelope, the nng bus, logging, configuration, seccomp,
 * SQLite helpers, the filter driver and the common process main (jido_main).
 *
 * Conventions (nng-style): functions return 0 or a positive JIDO_E* code; a comment on
 * each function that allocates or takes a reference says who owns what afterwards.
 */
#ifndef JIDO_H
#define JIDO_H

#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/types.h>

#include <jansson.h>

#ifndef JIDO_VERSION
#define JIDO_VERSION "0.0.0-dev"
#endif

/* ---------------------------------------------------------------- errors (err.c) */

/* The shared error table of the design brief. 0 is success; codes are stable. */
enum jido_err {
	JIDO_OK = 0,
	JIDO_EVALIDATION = 1,   /* validation_error */
	JIDO_EAUTHZ = 2,        /* authorization_error */
	JIDO_ENOTFOUND = 3,     /* not_found */
	JIDO_ECONFLICT = 4,     /* conflict */
	JIDO_ESECRET = 5,       /* secret_unavailable */
	JIDO_EINTEGRITY = 6,    /* integrity_error */
	JIDO_EPROVIDER = 7,     /* provider_error */
	JIDO_EEXEC = 8,         /* execution_error */
	JIDO_EPOLICY = 9,       /* policy_violation */
	JIDO_ETIMEOUT = 10,     /* timeout */
	JIDO_EUNAVAIL = 11,     /* unavailable */
	JIDO_EINTERNAL = 12,    /* internal */
	JIDO_EFROZEN = 13,      /* frozen: the anomaly guard holds the subject (REST 423) */
	JIDO_ERR_COUNT
};

/* Wire name of a code ("validation_error"); "internal" for an unknown code. Static. */
const char *jido_err_name(int code);
/* One-line English description of a code. Static string. */
const char *jido_strerror(int code);
/* Code for a wire name, or JIDO_EINTERNAL when the name is not in the table. */
int jido_err_from_name(const char *name);
/* The CLI exit code for an error code: 0 ok, 1 denied, 2 usage, 3 not found,
 * 4 conflict, 111 system failure. */
int jido_err_exit(int code);

/* ---------------------------------------------------------------- log (log.c) */

enum jido_log_level { JIDO_LOG_DEBUG = 0, JIDO_LOG_INFO, JIDO_LOG_WARN, JIDO_LOG_ERROR };

/* Set the process name written in every line (pointer kept; pass a static string). */
void jido_log_init(const char *proc);
/* Set/get the level at run time. jido_log_level_parse returns -1 for an unknown name. */
void jido_log_set_level(int level);
int jido_log_get_level(void);
int jido_log_level_parse(const char *name);
const char *jido_log_level_name(int level);
/* Write one JSON line to stderr: ts, proc, pid, level, msg (a stable message id) and the
 * fields packed from fmt (a json_pack format for an object, or NULL). One write(2). */
void jido_log(int level, const char *msgid, const char *fmt, ...);
#define jido_debug(...) jido_log(JIDO_LOG_DEBUG, __VA_ARGS__)
#define jido_info(...) jido_log(JIDO_LOG_INFO, __VA_ARGS__)
#define jido_warn(...) jido_log(JIDO_LOG_WARN, __VA_ARGS__)
#define jido_error(...) jido_log(JIDO_LOG_ERROR, __VA_ARGS__)

/* ---------------------------------------------------------------- messages (msg.c) */

#define JIDO_MSG_V 1
#define JIDO_ID_MAX 128
#define JIDO_TYPE_MAX 64

/* A parsed request or event. Borrowed views into `root`, which the struct owns. */
struct jido_msg {
	json_t *root;     /* owned: the whole envelope */
	const char *type; /* "<destination>.<verb>" */
	const char *id;
	const char *corr; /* NULL when absent */
	json_t *data;     /* borrowed from root; an object (empty when absent) */
};

/* A parsed reply. Borrowed views into `root`, which the struct owns. */
struct jido_reply {
	json_t *root;
	const char *id;
	int ok;
	json_t *data;        /* borrowed; NULL unless ok */
	int err;             /* JIDO_E* when !ok */
	const char *message; /* borrowed; NULL when ok */
};

/* Fill buf (at least 33 bytes) with a fresh random id (32 hex chars). */
void jido_id_new(char *buf, size_t len);

/* Parse and strictly validate a request/event envelope from raw bytes. On success fills
 * *m (caller frees with jido_msg_free). On failure returns JIDO_EVALIDATION and writes a
 * one-line reason into why; *id_out (may be NULL) receives the request id when one could
 * be read, as a malloc'd string the caller frees, so a reply can still echo it. */
int jido_msg_parse(const void *buf, size_t len, struct jido_msg *m, char *why, size_t whylen,
    char **id_out);
void jido_msg_free(struct jido_msg *m);

/* Build a request/event envelope. Takes ownership of data (may be NULL = {}); corr may be
 * NULL; id NULL = a fresh one. Returns a new reference, or NULL on allocation failure. */
json_t *jido_msg_new(const char *type, const char *id, const char *corr, json_t *data);
/* Build a reply. ok: takes ownership of data (NULL = {}). error: code and message.
 * id may be NULL (the request could not be read). Returns a new reference. */
json_t *jido_reply_ok(const char *id, json_t *data);
json_t *jido_reply_err(const char *id, int code, const char *message);
/* Parse and validate a reply from raw bytes; caller frees with jido_reply_free. */
int jido_reply_parse(const void *buf, size_t len, struct jido_reply *r, char *why, size_t whylen);
void jido_reply_free(struct jido_reply *r);

/* Serialize compactly (one line, no newline). Returns a malloc'd string the caller frees,
 * or NULL. */
char *jido_json_dump(const json_t *j);

/* ---------------------------------------------------------------- config (conf.c) */

enum jido_conf_type { JIDO_CONF_STR, JIDO_CONF_INT, JIDO_CONF_BOOL, JIDO_CONF_PATH };

/* One known key. The table lives in conf.c; every key any process reads is in it. */
struct jido_conf_key {
	const char *name;  /* "web.listen" -> env JIDO_WEB_LISTEN */
	int type;
	const char *def;   /* built-in default, as text */
	int secret;        /* never printed */
	const char *help;
};

struct jido_conf; /* opaque */

/* Load: built-in defaults, then file (NULL = $JIDO_CONFIG, else $JIDO_HOME/jido.conf when it
 * exists), then JIDO_* environment variables. Unknown key in the file or a value of the
 * wrong type: JIDO_EVALIDATION with the key (and file:line) in why. On success *out is
 * owned by the caller (jido_conf_free). */
int jido_conf_load(const char *file, struct jido_conf **out, char *why, size_t whylen);
void jido_conf_free(struct jido_conf *c);
/* Set a value from the command line (highest precedence). */
int jido_conf_set(struct jido_conf *c, const char *key, const char *value, char *why,
    size_t whylen);
/* Borrowed value (lives as long as c); NULL for an unknown key. */
const char *jido_conf_str(const struct jido_conf *c, const char *key);
long long jido_conf_int(const struct jido_conf *c, const char *key);
int jido_conf_bool(const struct jido_conf *c, const char *key);
/* Print the effective configuration (key = value  # source); secrets as "(set)". */
int jido_conf_print(const struct jido_conf *c, FILE *f);
/* The key table, for docs and tests. */
const struct jido_conf_key *jido_conf_keys(size_t *n);

/* ---------------------------------------------------------------- bus (bus.c) */

enum jido_bus_proto { JIDO_BUS_REQ, JIDO_BUS_REP, JIDO_BUS_PUB, JIDO_BUS_SUB, JIDO_BUS_PUSH,
	JIDO_BUS_PULL };

/* The identity of the sender of a message, when the transport knows it. */
struct jido_peer {
	int known;   /* 1 on ipc */
	uint64_t uid;
	uint64_t pid;
};

struct jido_bus; /* opaque: one nng socket */

/* URL of a process's request socket, or of a topic's publish socket, under home/run.
 * Writes into buf; JIDO_EVALIDATION when it does not fit. */
int jido_bus_url_req(const char *home, const char *proc, char *buf, size_t len);
int jido_bus_url_pub(const char *home, const char *topic, char *buf, size_t len);

/* TLS material for tls+tcp:// (all paths; NULL fields are not used). */
struct jido_bus_tls {
	const char *cert; /* PEM certificate chain */
	const char *key;  /* PEM private key */
	const char *ca;   /* PEM CA to verify the peer with */
};

/* Open a socket of proto and listen on (listen=1) or dial (0) url. ipc socket files are
 * created with mode perm (0600 when 0). maxmsg caps one received message (0: 64 MiB).
 * tls may be NULL. On success *out is owned by the caller (jido_bus_close). */
int jido_bus_open(int proto, const char *url, int listen, int perm, const struct jido_bus_tls *tls,
    struct jido_bus **out);
/* perm for a dialler (listen = 0): connect in the background instead of failing fast. */
#define JIDO_BUS_DIAL_BG 1
/* Remember tls (its strings must outlive the process's use of the bus) as the material
 * for tls+tcp:// URLs opened with tls == NULL (jido_bus_call). Used when tls->ca is set. */
void jido_bus_tls_default(const struct jido_bus_tls *tls);
/* Close the socket; for an ipc listener the socket file is removed. NULL is fine. */
void jido_bus_close(struct jido_bus *b);
int jido_bus_set_timeouts(struct jido_bus *b, int recv_ms, int send_ms);
/* Subscribe (SUB only) to messages starting with prefix ("" = all). */
int jido_bus_subscribe(struct jido_bus *b, const char *prefix);
/* Send len bytes. */
int jido_bus_send(struct jido_bus *b, const void *buf, size_t len);
/* Send a JSON value compactly (does not take ownership). */
int jido_bus_send_json(struct jido_bus *b, const json_t *j);
/* Receive one message. *buf is malloc'd, owned by the caller. peer may be NULL.
 * JIDO_ETIMEOUT when the receive timeout passes. */
int jido_bus_recv(struct jido_bus *b, char **buf, size_t *len, struct jido_peer *peer);
/* The same; nonblock=1 returns JIDO_ETIMEOUT at once when nothing is waiting. */
int jido_bus_recv_flags(struct jido_bus *b, char **buf, size_t *len, struct jido_peer *peer,
    int nonblock);

/* A context on a REP listener: its own request/reply state, so several threads can each
 * have one request in flight on the same socket (nng contexts). recv_ms/send_ms bound
 * each receive (JIDO_ETIMEOUT when it passes) and each send. On success *out is owned
 * by the caller (jido_bus_ctx_close, before jido_bus_close of b). */
struct jido_bus_ctx;
int jido_bus_ctx_open(struct jido_bus *b, int recv_ms, int send_ms, struct jido_bus_ctx **out);
/* Receive the next request on c, as jido_bus_recv does (*buf malloc'd, caller frees). */
int jido_bus_ctx_recv(struct jido_bus_ctx *c, char **buf, size_t *len, struct jido_peer *peer);
/* Answer the request last received on c with len bytes, or with j compactly (does not
 * take ownership of j). */
int jido_bus_ctx_send(struct jido_bus_ctx *c, const void *buf, size_t len);
int jido_bus_ctx_send_json(struct jido_bus_ctx *c, const json_t *j);
void jido_bus_ctx_close(struct jido_bus_ctx *c); /* NULL is fine */

/* One request/reply round trip: dial url, send {type, data}, wait timeout_ms for the reply.
 * Takes ownership of data (may be NULL). On 0, *r holds an ok or error reply (caller frees
 * with jido_reply_free); a transport failure returns JIDO_EUNAVAIL or JIDO_ETIMEOUT. */
int jido_bus_call(const char *url, const char *type, const char *corr, json_t *data,
    int timeout_ms, struct jido_reply *r);
/* The same, with the connection (TCP connect, TLS handshake) made in the background, so
 * that the whole call, connecting included, ends within about 2 x timeout_ms even when
 * the peer's network is gone (a refused connection also waits out the timeout). */
int jido_bus_call_bounded(const char *url, const char *type, const char *corr, json_t *data,
    int timeout_ms, struct jido_reply *r);
/* The same on an already dialled REQ socket. */
int jido_bus_call_on(struct jido_bus *b, const char *type, const char *corr, json_t *data,
    struct jido_reply *r);
/* A call answered later: start sends it (takes data; *out owned by the
 * caller, jido_bus_async_free; the connection is made in the background), poll takes the
 * answer without waiting (*done = 1 with *r to free; JIDO_ETIMEOUT once timeout_ms has
 * passed without one, a peer that is not there included), so a serving loop that calls a
 * peer which calls it back keeps answering. */
struct jido_bus_async;
int jido_bus_async_start(const char *url, const char *type, const char *corr, json_t *data,
    int timeout_ms, struct jido_bus_async **out);
int jido_bus_async_poll(struct jido_bus_async *a, int *done, struct jido_reply *r);
void jido_bus_async_free(struct jido_bus_async *a);
/* An outbox (outbox.c): calls sent with jido_bus_async_* by a serving loop and collected
 * from its tick; each one's outcome goes once to done(arg, key, rc, r): rc 0 with *r the
 * answer (done frees it with jido_reply_free), else the transport error (r NULL). send
 * takes data; a full outbox waits (up to timeout_ms) for its answers first. poll(o, 0)
 * takes what has come; poll(o, until) waits until then (jido_now_ms) and gives up on the
 * rest (JIDO_ETIMEOUT). free drops what still waits. */
struct jido_outbox;
typedef void (*jido_outbox_done_fn)(void *arg, const char *key, int rc, struct jido_reply *r);
int jido_outbox_new(size_t slots, jido_outbox_done_fn done, void *arg,
    struct jido_outbox **out);
void jido_outbox_send(struct jido_outbox *o, const char *url, const char *type,
    const char *corr, const char *key, json_t *data, int timeout_ms);
void jido_outbox_poll(struct jido_outbox *o, int64_t wait_ms);
void jido_outbox_free(struct jido_outbox *o);

/* ---------------------------------------------------------------- seccomp (seccomp.c) */

/* A process's allowlist: syscall names beyond the base that every daemon needs (the nng
 * bus, logging, SQLite, time). net: may open AF_INET/AF_INET6 sockets (the base allows
 * only AF_UNIX). exec: may execve. Default action for anything else: kill the process. */
struct jido_allow {
	const char *const *names; /* NULL-terminated */
	int net;
	int exec;
	/* Optional, NULL-terminated: names answered EPERM instead of killing (a program the
	 * process runs is told no, as by its own policy, rather than killed). */
	const char *const *refuse;
	/* Optional: the list of a helper process the process forks before installing its own
	 * (the executor's spawner). Not installed by jido_seccomp_install(a); the deploy
	 * profile and names (which wrap the whole service) are the union of both. */
	const struct jido_allow *child;
};

/* Install the base list plus a's names, default action SCMP_ACT_KILL_PROCESS, with
 * no_new_privs. Irreversible for this process and its future children. */
int jido_seccomp_install(const struct jido_allow *a);
/* The same filter, built but not loaded: a libseccomp scmp_filter_ctx (new, the caller
 * seccomp_release()s it), or NULL. For build-time generators that export the BPF. */
void *jido_seccomp_ctx(const struct jido_allow *a);
/* The same rules as a Docker seccomp profile (plus what the container runtime and the
 * loader need before the process installs its own filter). New reference, or NULL. */
json_t *jido_seccomp_profile(const struct jido_allow *a);
/* The allowed syscall names, one per line (for systemd's SystemCallFilter=; argument
 * conditions are expressed there by RestrictAddressFamilies= instead). */
int jido_seccomp_names(const struct jido_allow *a, FILE *f);

/* ---------------------------------------------------------------- sqlite (db.c) */

struct sqlite3;

/* Open (creating) path with WAL, a busy timeout, foreign keys on, then apply migrations:
 * migrations[i] brings the schema from user_version i to i+1, each in one transaction.
 * A database whose user_version is newer than n is refused (JIDO_ECONFLICT, why says so).
 * On success *out is owned by the caller (sqlite3_close). */
int jido_db_open(const char *path, const char *const *migrations, int n, struct sqlite3 **out,
    char *why, size_t whylen);
/* Execute SQL that returns no rows. */
int jido_db_exec(struct sqlite3 *db, const char *sql, char *why, size_t whylen);

/* ---------------------------------------------------------------- processes (srv.c) */

enum jido_state { JIDO_STARTING = 0, JIDO_READY, JIDO_DRAINING, JIDO_FAILED };
const char *jido_state_name(int s);

struct jido_srv;

/* A request as the handler sees it. All borrowed for the duration of the call. */
struct jido_req {
	const char *type;
	const char *id;
	const char *corr;
	json_t *data;
	struct jido_peer peer;
	int filter; /* 1 when driven from stdin (filter mode) */
};

/* A handler's answer: on 0, *out is a new reference to the reply's data (NULL = {}); on an
 * error code, why holds the one-line message (never a secret value). */
typedef int (*jido_handler_fn)(struct jido_srv *s, const struct jido_req *req, json_t **out,
    char *why, size_t whylen);

/* The answer for a type the handler does not know: JIDO_EVALIDATION, naming it. */
int jido_req_unknown(const struct jido_req *req, char *why, size_t whylen);

/* What a process is. One static instance per process, in <proc>/<proc>.c. */
struct jido_proc {
	const char *name;       /* "vault" */
	const char *summary;    /* one line for --help */
	const char *pub_topic;  /* publish socket it owns ("events"), or NULL */
	struct jido_allow allow;
	/* After config, while the process still has one thread (before the bus sockets,
	 * whose library starts its threads): fork helper processes that run on without
	 * exec here. A child forked later holds every lock another thread held at that
	 * instant (the sanitizer runtime's allocator among them) and may wait for it
	 * forever. When it succeeds, close is called on the way out. May be NULL. */
	int (*prefork)(struct jido_srv *s, char *why, size_t whylen);
	/* After config, before seccomp: open files, databases, listeners. May be NULL. */
	int (*open)(struct jido_srv *s, char *why, size_t whylen);
	/* The core handler, shared by serve and filter modes. Never NULL. */
	jido_handler_fn handle;
	/* Called about every tick_ms while serving (timers, housekeeping). May be NULL. */
	void (*tick)(struct jido_srv *s);
	/* Release what open made. May be NULL. */
	void (*close)(struct jido_srv *s);
	size_t priv_size; /* bytes of zeroed private state for the process (jido_srv_priv) */
	/* Extra subcommands beyond serve/filter (e.g. "verify"): returns the exit code, or -1
	 * when argv[0] is not one of them. May be NULL. */
	int (*command)(int argc, char **argv);
	const char *command_usage; /* lines for --help describing them, or NULL */
	/* Serving threads, each with its own context on the request socket, so the transport
	 * work of concurrent requests overlaps; handle and tick still run one at a time (under
	 * one lock), so a handler needs no locking of its own. 0 or 1: the main thread
	 * serves, with a tick after each request as well. */
	int workers;
};

/* Accessors for handlers. */
const struct jido_conf *jido_srv_conf(const struct jido_srv *s);
const char *jido_srv_home(const struct jido_srv *s); /* absolute state directory */
void *jido_srv_priv(struct jido_srv *s);
/* From open: install the allowlist with AF_INET/AF_INET6 sockets too (a process whose
 * config makes it dial tls+tcp:// from its main thread, e.g. a remote executor). */
void jido_srv_need_net(struct jido_srv *s);
int jido_srv_state(const struct jido_srv *s);
/* Publish an event on the process's own publish socket (no-op without one). Takes
 * ownership of data. */
int jido_srv_publish(struct jido_srv *s, const char *type, const char *corr, json_t *data);

/* Dispatch one raw request through the common types (<proc>.health, <proc>.log_level)
 * and the process handler. Always returns a reply (new reference), never NULL. This is
 * the one function both serve and filter modes call. */
json_t *jido_srv_dispatch(struct jido_srv *s, const void *buf, size_t len,
    const struct jido_peer *peer);

/* The whole life of a process binary: parse argv (serve, filter, --help, --version,
 * --check-config), load config, open, drop, seccomp, serve. Returns the exit code. */
int jido_main(const struct jido_proc *p, int argc, char **argv);

/* The filter driver: read JSON lines from in, dispatch each, write one reply line each to
 * out; a bad line gets an error reply with "line": N. Returns 0, or 111 when writing to out
 * failed. Exposed for tests. */
int jido_filter_run(struct jido_srv *s, FILE *in, FILE *out);

/* For tests: create a server for p with config c (borrowed) without sockets; calls open.
 * Caller frees with jido_srv_free (which calls close). */
int jido_srv_new(const struct jido_proc *p, const struct jido_conf *c, struct jido_srv **out,
    char *why, size_t whylen);
void jido_srv_free(struct jido_srv *s);

/* ---------------------------------------------------------------- credentials (cred.c) */

/* This process's credential (64 hex chars) as handed to it at start, or NULL. Static. */
const char *jido_cred_self(void);
/* Read it from JIDO_PROC_CRED or the file JIDO_PROC_CRED_FILE and scrub the environment.
 * jido_main calls this before anything else. */
int jido_cred_load_self(void);
/* A fresh random credential (64 hex chars + NUL) into out. */
int jido_cred_new(char out[65]);
/* SHA-256 of a credential, hex, into out. */
void jido_cred_hash(const char *cred, char out[65]);
/* Write $home/run/creds (0600, atomically): a line "name sha256hex" per process.
 * names is NULL-terminated; creds[i] belongs to names[i]. */
int jido_cred_table_write(const char *home, const char *const *names, char (*creds)[65]);
/* Which process does cred belong to, according to table (the text of run/creds, read by
 * the verifier before its seccomp)? Fills name; JIDO_EAUTHZ when nobody. Constant-time
 * compare per line. */
int jido_cred_lookup(const char *table, const char *cred, char *name, size_t len);

/* ---------------------------------------------------------------- util (util.c) */

/* Format why (truncated to whylen) and return code: the one-line error of every handler. */
int jido_fail(int code, char *why, size_t whylen, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* Make dir and parents with mode (existing dirs are fine). */
int jido_mkdirs(const char *path, mode_t mode);
/* Absolute form of path into buf. */
int jido_abspath(const char *path, char *buf, size_t len);
/* Monotonic milliseconds. */
int64_t jido_now_ms(void);
/* A growable NUL-terminated string: zero-initialise; p is malloc'd (the caller frees it);
 * fail is set (and stays) when an allocation failed, after which puts do nothing.
 * max (0: none) caps n for jido_buf_curl_write, which sets too_big at the cap.
 * wipe: the contents may be secret; growing copies into a new block and wipes the old
 * one (jido_free_wiped) instead of realloc, which would leave the old bytes in freed
 * memory, and the caller frees p with jido_free_wiped(p, cap). */
struct jido_buf {
	char *p;
	size_t n, cap;
	int fail;
	size_t max;
	int too_big;
	int wipe;
};
void jido_buf_put(struct jido_buf *b, const char *s, size_t n);
void jido_buf_puts(struct jido_buf *b, const char *s);
/* A libcurl CURLOPT_WRITEFUNCTION appending to the jido_buf in arg (the response body,
 * NUL-terminated in b->p, the caller's to free). Returns 0, which makes libcurl abort the
 * transfer, when the body would pass b->max (too_big set; nothing of that chunk kept) or
 * memory ran out (fail set). */
size_t jido_buf_curl_write(char *data, size_t size, size_t nmemb, void *arg);
/* Wipe n bytes at p with sodium_memzero, then free(p) (p may be NULL). For buffers that
 * may have held a secret: bus messages (a vault.get answer, a vault.put request). */
void jido_free_wiped(void *p, size_t n);
/* Wipe every string of a libcurl header list (it may hold an Authorization header), then
 * curl_slist_free_all(l) (l may be NULL). In lib/ghapp.c, with the other libcurl user. */
struct curl_slist;
void jido_curl_slist_free_wiped(struct curl_slist *l);
/* Tests only: a test binary that defines this (weak here) sees every buffer the bus
 * wipes, right after the wipe and before it is freed. */
void jido_wipe_observe(const void *p, size_t n) __attribute__((weak));
/* UTC wall time as RFC 3339 with milliseconds into buf (>= 32 bytes). */
void jido_time_rfc3339(char *buf, size_t len);
/* 1 when s is a short name: 1-63 of [A-Za-z0-9._-], not starting with '.' (an executor
 * id, a certificate's file name). */
int jido_name_ok(const char *s);
/* Process names of the stack, NULL-terminated, in start order. */
extern const char *const jido_procs[];

/* ---------------------------------------------------------------- redaction (redact.c) */

/* A copy of s with secrets replaced by "[REDACTED]": the exact values in known
 * (NULL-terminated, may be NULL; values shorter than 4 bytes are ignored; the longest
 * match wins) and common token patterns (ghp_/gho_/ghs_/ghu_/ghr_/github_pat_, sk-ant-,
 * sk-, jgw_, xoxb-, AWS AKIA/ASIA ids, the credential of "Bearer x"/"token x", PEM
 * private-key blocks). *changed (may be NULL) says whether anything was.
 * Returns a malloc'd string the caller frees, or NULL when out of memory. */
char *jido_redact_str(const char *s, const char *const *known, int *changed);

/* A redactor for a stream of lines (the executor's output): the secret values it knows,
 * with their encodings, and whether the previous line opened a PEM private-key block.
 * Zero-initialise; release with jido_redact_free. */
#define JIDO_REDACT_MAX_KNOWN 32
struct jido_redact {
	char *known[JIDO_REDACT_MAX_KNOWN + 1]; /* owned, NULL-terminated; wiped on free */
	size_t nknown;
	int in_pem;
};
/* Add a secret value (copied) and its base64, base64url, hex (both cases) and
 * URL-encoded forms. Values shorter than 8 bytes, or a full table: -1. */
int jido_redact_add(struct jido_redact *r, const char *value);
/* r's known values as a NULL-terminated list for jido_redact_str/json (NULL when none);
 * borrowed from r. */
const char *const *jido_redact_known(const struct jido_redact *r);
/* Redact one line (no newline), as jido_redact_str with r's values, plus the PEM state:
 * the lines of a private-key block opened on an earlier line become "[REDACTED]", up to
 * and including its END line. Malloc'd, or NULL when redaction failed (the caller drops
 * the line and logs the drop). */
char *jido_redact_line(struct jido_redact *r, const char *line, int *changed);
/* Wipe and free r's values. */
void jido_redact_free(struct jido_redact *r);
/* 1 when a JSON field of this name holds a secret by its name (token, secret, password,
 * key, authorization, ...). */
int jido_redact_key_is_secret(const char *name);
/* Redact j in place, recursively: every string as jido_redact_str, and the whole string
 * value of fields named like secrets. Returns the number of values changed, -1 on
 * allocation failure. j is borrowed. */
int jido_redact_json(json_t *j, const char *const *known);
/* Whether jido_redact_json would change anything in j (no allocation). */
int jido_redact_json_needed(const json_t *j, const char *const *known);

/* ---------------------------------------------------------------- audit client (audit_client.c) */

/* Append one audit record to jido-auditor. record: {actor, channel (web|api|cli|mcp|
 * webhook|system), action, subject, run_id?, result, details?}; taken (always released).
 * sync=1: audit.append on run/auditor.sock (socket.auditor), returns 0 only once the
 * record is durable, *seq (may be NULL) receives its seq; a side effect must not happen
 * unless this returned 0. sync=0: fire-and-forget on run/auditor.push
 * (socket.auditor_push), returns 0 when queued to the socket. home: the state directory
 * (absolute). Errors: the auditor's error code, JIDO_EUNAVAIL or JIDO_ETIMEOUT. */
int jido_audit_append(const struct jido_conf *c, const char *home, json_t *record, int sync,
    uint64_t *seq);
/* Fire-and-forget records are buffered (at most 256 records or 5 ms) and pushed as
 * numbered audit.append_batch messages of at most JIDO_AUDIT_BATCH_MAX records; a
 * sync=0 call may also return the failure of an earlier push (reported once).
 * jido_audit_flush pushes the buffer and returns 0 only once the auditor confirms every
 * record buffered since the last flush is durable (JIDO_EVALIDATION: it rejected a batch;
 * JIDO_EUNAVAIL/JIDO_ETIMEOUT: lost or not confirmed in bus.timeout_ms). */
#define JIDO_AUDIT_BATCH_MAX 1024
int jido_audit_flush(void);
/* Flush (failures logged), then close the cached sockets (at exit; not while other threads
 * append). */
void jido_audit_close(void);
/* ---------------------------------------------------------------- vault client (vault_client.c) */

struct jido_conf;

/* Fetch one secret from jido-vault, proving who we are with jido_cred_self() (data.cred).
 * scope NULL = "instance". On 0, *value is a NUL-ended sodium_malloc'd copy the caller
 * wipes and frees with sodium_free (the length is strlen). Errors: the vault's code
 * (authorization_error, not_found, secret_unavailable, integrity_error, ...), or
 * JIDO_EUNAVAIL/JIDO_ETIMEOUT when the vault does not answer; why says which. */
int jido_vault_get(const struct jido_conf *c, const char *home, const char *name,
    const char *scope, char **value, char *why, size_t whylen);
/* The same for one version (0 = current; an older one answers only during its rotation's
 * grace). *len (may be NULL) receives the value's length and *got (may be NULL) the
 * version served. */
int jido_vault_get_version(const struct jido_conf *c, const char *home, const char *name,
    const char *scope, int64_t version, char **value, size_t *len, int64_t *got, char *why,
    size_t whylen);
/* The vault's request socket URL: socket.vault, else run/vault.sock under home.
 * JIDO_EVALIDATION when it does not fit. */
int jido_vault_url(const struct jido_conf *c, const char *home, char *url, size_t len);
/* ---------------------------------------------------------------- libcurl on first use (curl_shim.c) */
/* libjido defines libcurl's entry points itself and dlopens libcurl.so.4 on the first call
 * that needs it (binaries do not link -lcurl); see curl_shim.c. */
int jido_curl_loaded(void);          /* 1 once libcurl has been loaded and initialised */
const char *jido_curl_error(void);   /* why loading failed (static), or NULL */

/* ---------------------------------------------------------------- GitHub App (ghapp.c) */

/* An installation token is minted again this long before GitHub says it expires. */
#define JIDO_GHAPP_REFRESH_S 300

struct jido_ghapp;

/* A GitHub App JWT for app_id, signed RS256 with the PEM private key pem[0..pemlen):
 * claims iat = now - 60, exp = now + 540 (GitHub allows at most 10 minutes), iss = app_id.
 * On 0 *jwt is a malloc'd string the caller frees. JIDO_ESECRET when pem is not an RSA
 * private key. */
int jido_ghapp_jwt(const char *pem, size_t pemlen, const char *app_id, int64_t now,
    char **jwt, char *why, size_t whylen);
/* Is a GitHub App configured (github.app_id set)? */
int jido_ghapp_configured(const struct jido_conf *c);
/* A token cache for the configured App (github.app_id, github.app_installation_id,
 * github.api_url; the key from github.app_private_key_file or the vault's
 * github.app_private_key). c is borrowed and must outlive it. On 0 the caller owns *out
 * (jido_ghapp_free). */
int jido_ghapp_new(const struct jido_conf *c, const char *home, struct jido_ghapp **out,
    char *why, size_t whylen);
void jido_ghapp_free(struct jido_ghapp *g);
/* Use this PEM (copied into locked memory) instead of the file or the vault: a process
 * without a vault credential (gitops's ship worker) gets it from its parent. */
int jido_ghapp_set_key(struct jido_ghapp *g, const char *pem, size_t len);
/* The App's private key as minting reads it (the preset one, the file or the vault). On 0
 * *pem is a sodium_malloc'd copy the caller wipes and frees with sodium_free. */
int jido_ghapp_key(struct jido_ghapp *g, char **pem, char *why, size_t whylen);
/* Take a token minted elsewhere (the parent) as the cached one, expiring at expires. */
void jido_ghapp_preset(struct jido_ghapp *g, const char *token, int64_t expires);
/* Is the cached token good at now (more than JIDO_GHAPP_REFRESH_S before its expiry)? */
int jido_ghapp_fresh(const struct jido_ghapp *g, int64_t now);
/* The installation token: the cached one while fresh, else (or when force: the caller
 * saw it refused) a new one from POST /app/installations/{id}/access_tokens. On 0 *tok
 * is a sodium_malloc'd copy the caller wipes and frees with sodium_free. Errors:
 * JIDO_ESECRET (no usable key), JIDO_EAUTHZ (GitHub refused the JWT), JIDO_EUNAVAIL,
 * JIDO_EPROVIDER. */
int jido_ghapp_token(struct jido_ghapp *g, int force, char **tok, char *why, size_t whylen);

/* Make jansson wipe every block it frees (explicit_bzero over the usable size), so
 * secrets that passed through JSON do not linger in freed heap. Process-wide; call once
 * before handling secrets. Compatible with blocks allocated before the call. */
void jido_vault_json_wipe(void);

#endif
