/*
 * cmd.c - jido-auditor's subcommands beyond serve/filter:
 *   verify FILE|- [--checkpoint C]   the offline verifier (a filter: one JSON line out)
 *   load [--writers W] [--records N] [--push] [--acks] [--tag T]   a load generator for
 *        the tests and benchmarks: W threads each append N records (subjects T<w>-<i>)
 *        through jido_audit_append; --acks prints "seq subject" per acknowledged record;
 *        with --push the run ends with jido_audit_flush (all durable) and its time counts.
 */
#include <errno.h>
#include <fcntl.h>
#include <inttypes.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "audit.h"

static int
cmd_verify(int argc, char **argv)
{
	struct ar_checkpoint trust;
	struct ar_verify r;
	const char *file = NULL, *cpfile = NULL;
	char why[256], *text;
	int fd, rc, have_trust = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--checkpoint") == 0 && i + 1 < argc)
			cpfile = argv[++i];
		else if (file == NULL && (argv[i][0] != '-' || strcmp(argv[i], "-") == 0))
			file = argv[i];
		else {
			fprintf(stderr, "jido-auditor: verify failed: usage: jido-auditor verify "
			    "FILE [--checkpoint C]\n");
			return 2;
		}
	}
	if (file == NULL) {
		fprintf(stderr, "jido-auditor: verify failed: usage: jido-auditor verify FILE "
		    "[--checkpoint C]\n");
		return 2;
	}
	if (sodium_init() < 0)
		return 111;
	if (cpfile != NULL) {
		char buf[4096];
		ssize_t n;
		if ((fd = open(cpfile, O_RDONLY | O_CLOEXEC)) < 0) {
			fprintf(stderr, "jido-auditor: verify failed: cannot read %s: %s\n", cpfile,
			    strerror(errno));
			return errno == ENOENT ? 3 : 111;
		}
		n = read(fd, buf, sizeof(buf) - 1);
		close(fd);
		buf[n < 0 ? 0 : n] = '\0';
		while (n > 0 && (buf[n - 1] == '\n' || buf[n - 1] == ' '))
			buf[--n] = '\0';
		if ((rc = ar_checkpoint_parse(buf, strlen(buf), &trust, why, sizeof(why))) != 0) {
			fprintf(stderr, "jido-auditor: verify failed: %s: %s\n", cpfile, why);
			return rc == JIDO_EINTEGRITY ? 1 : 2;
		}
		have_trust = 1;
	}
	if (strcmp(file, "-") == 0)
		fd = 0;
	else if ((fd = open(file, O_RDONLY | O_CLOEXEC)) < 0) {
		fprintf(stderr, "jido-auditor: verify failed: cannot read %s: %s\n", file,
		    strerror(errno));
		return errno == ENOENT ? 3 : 111;
	}
	rc = ar_verify_fd(fd, 0, have_trust ? &trust : NULL, &r);
	if (fd != 0)
		close(fd);
	if (rc != 0) {
		fprintf(stderr, "jido-auditor: verify failed: cannot read %s\n", file);
		return 111;
	}
	json_t *j = ar_verify_json(&r);
	text = j != NULL ? json_dumps(j, JSON_COMPACT) : NULL;
	json_decref(j);
	if (text == NULL || printf("%s\n", text) < 0 || fflush(stdout) != 0) {
		free(text);
		return 111;
	}
	free(text);
	if (!r.ok)
		fprintf(stderr, "jido-auditor: verify failed: %s %" PRIu64 " (line %" PRIu64
		    "): %s\n", r.what, r.seq, r.line, r.why);
	return r.ok ? 0 : 1;
}

/* ---------------------------------------------------------------- load */

struct load {
	struct jido_conf *conf;
	char home[4096];
	long long records;
	const char *tag;
	int push, acks, id;
	pthread_mutex_t *out_mu;
	long long done;
	int failed;
};

static void *
load_writer(void *arg)
{
	struct load *l = arg;
	char pad[64];

	memset(pad, 'x', sizeof(pad) - 1);
	pad[sizeof(pad) - 1] = '\0';
	for (long long i = 0; i < l->records; i++) {
		char subject[64];
		uint64_t seq = 0;
		int rc;
		snprintf(subject, sizeof(subject), "%s%d-%lld", l->tag, l->id, i);
		json_t *rec = json_pack("{s:s,s:s,s:s,s:s,s:s,s:{s:I,s:s}}", "actor", "load",
		    "channel", "system", "action", "load.append", "subject", subject, "result", "ok",
		    "details", "i", (json_int_t)i, "pad", pad);
		rc = jido_audit_append(l->conf, l->home, rec, !l->push, &seq);
		if (rc != 0) {
			l->failed = rc;
			break;
		}
		l->done++;
		if (l->acks) {
			pthread_mutex_lock(l->out_mu);
			printf("%" PRIu64 " %s\n", seq, subject);
			fflush(stdout);
			pthread_mutex_unlock(l->out_mu);
		}
	}
	return NULL;
}

static int
cmd_load(int argc, char **argv)
{
	struct jido_conf *conf;
	pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	char why[1024];
	const char *tag = "w";
	int writers = 1, push = 0, acks = 0, failed = 0;
	long long records = 1000, done = 0;

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--writers") == 0 && i + 1 < argc)
			writers = atoi(argv[++i]);
		else if (strcmp(argv[i], "--records") == 0 && i + 1 < argc)
			records = atoll(argv[++i]);
		else if (strcmp(argv[i], "--tag") == 0 && i + 1 < argc)
			tag = argv[++i];
		else if (strcmp(argv[i], "--push") == 0)
			push = 1;
		else if (strcmp(argv[i], "--acks") == 0)
			acks = 1;
		else {
			fprintf(stderr, "jido-auditor: load failed: usage: jido-auditor load "
			    "[--writers W] [--records N] [--push] [--acks] [--tag T]\n");
			return 2;
		}
	}
	if (writers < 1 || writers > 1024 || records < 1) {
		fprintf(stderr, "jido-auditor: load failed: --writers 1..1024, --records >= 1\n");
		return 2;
	}
	if (sodium_init() < 0 || jido_conf_load(NULL, &conf, why, sizeof(why)) != 0) {
		fprintf(stderr, "jido-auditor: load failed: %s\n", why);
		return 2;
	}
	struct load *l = calloc((size_t)writers, sizeof(*l));
	pthread_t *t = calloc((size_t)writers, sizeof(*t));
	int64_t t0 = jido_now_ms();
	for (int i = 0; l != NULL && t != NULL && i < writers; i++) {
		l[i].conf = conf;
		jido_abspath(jido_conf_str(conf, "home"), l[i].home, sizeof(l[i].home));
		l[i].records = records;
		l[i].push = push;
		l[i].tag = tag;
		l[i].acks = acks;
		l[i].id = i;
		l[i].out_mu = &mu;
		if (pthread_create(&t[i], NULL, load_writer, &l[i]) != 0)
			l[i].failed = JIDO_EINTERNAL, t[i] = 0;
	}
	for (int i = 0; l != NULL && t != NULL && i < writers; i++) {
		if (t[i] != 0)
			pthread_join(t[i], NULL);
		done += l[i].done;
		if (l[i].failed != 0)
			failed = l[i].failed;
	}
	/* --push: the time runs until the auditor confirms every record durable */
	int frc = push ? jido_audit_flush() : 0;
	for (int i = 0; frc == JIDO_ETIMEOUT && i < 30; i++) /* a busy machine: ask again */
		frc = jido_audit_flush();
	int64_t ms = jido_now_ms() - t0;
	if (frc != 0 && failed == 0)
		failed = frc;
	jido_audit_close();
	fprintf(stderr, "{\"writers\":%d,\"records\":%lld,\"ms\":%lld,\"rate\":%.0f,\"push\":%s,"
	    "\"error\":\"%s\"}\n", writers, done, (long long)ms, ms > 0 ? done * 1000.0 / (double)ms :
	    0.0, push ? "true" : "false", failed ? jido_err_name(failed) : "");
	free(l);
	free(t);
	jido_conf_free(conf);
	return failed ? 1 : 0;
}

int
auditor_command(int argc, char **argv)
{
	if (strcmp(argv[0], "verify") == 0)
		return cmd_verify(argc, argv);
	if (strcmp(argv[0], "load") == 0)
		return cmd_load(argc, argv);
	return -1;
}
