/*
 * restore.c - `jido restore DIR`: put a backup made by `jido backup` into this instance's
 * state directory (a stopped instance, or a new one). Nothing is replaced until all of it
 * checks out: the manifest's hashes and sizes, the audit log (jido-auditor verify: chain,
 * signatures, and its last checkpoint is the one the manifest names; --checkpoint FILE
 * adds a checkpoint kept elsewhere), the vault (jido-vault check: every stored version
 * authenticates with the key), and each database's schema version against what the
 * installed binaries create (probed by running each binary once on an empty state
 * directory). A running instance or a newer schema is a conflict (exit 4). Then each file
 * is written next to its place and renamed over it; stale WAL files and the auditor's
 * index (rebuilt from the log at start) are removed.
 */
#include <errno.h>
#include <fcntl.h>
#include <ftw.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "cli.h"

/* Directory of the running jido binary (the other binaries are beside it). */
static int
restore_bindir(char *buf, size_t len)
{
	ssize_t n = readlink("/proc/self/exe", buf, len - 1);
	char *slash;

	if (n < 0)
		return JIDO_EINTERNAL;
	buf[n] = '\0';
	if ((slash = strrchr(buf, '/')) != NULL)
		*slash = '\0';
	return 0;
}

/* Run argv with only env (NULL-terminated) and stdin from /dev/null; stdout into out
 * (a file, may be NULL = /dev/null). Returns the exit status, or -1. */
static int
restore_run(char *const argv[], char *const env[], const char *out)
{
	pid_t pid = fork();
	int st;

	if (pid < 0)
		return -1;
	if (pid == 0) {
		int in = open("/dev/null", O_RDONLY), o = out ? open(out, O_WRONLY | O_CREAT |
		    O_TRUNC, 0600) : open("/dev/null", O_WRONLY);
		if (in < 0 || o < 0 || dup2(in, 0) < 0 || dup2(o, 1) < 0)
			_exit(127);
		execve(argv[0], argv, env);
		_exit(127);
	}
	if (waitpid(pid, &st, 0) != pid)
		return -1;
	return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int
restore_rm_one(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
	return remove(path);
}

/* The schema version the installed binary of proc creates: run it once in filter mode
 * on an empty state directory with an empty config and read its database's
 * user_version. */
static int
restore_probe(const char *bindir, const struct cli_db *d, int *version, char *why, size_t len)
{
	char tmpl[] = "/tmp/jido-probe.XXXXXX", bin[PATH_MAX + 32], home[PATH_MAX + 16];
	char conf[PATH_MAX + 32], db[PATH_MAX + 32], path[PATH_MAX + 64];

	if (mkdtemp(tmpl) == NULL) {
		snprintf(why, len, "cannot make a probe directory: %s", strerror(errno));
		return JIDO_EINTERNAL;
	}
	snprintf(bin, sizeof(bin), "%s/jido-%s", bindir, d->proc);
	snprintf(home, sizeof(home), "JIDO_HOME=%s", tmpl);
	snprintf(conf, sizeof(conf), "JIDO_CONFIG=%s/empty.conf", tmpl);
	snprintf(path, sizeof(path), "%s/empty.conf", tmpl);
	int fd = open(path, O_WRONLY | O_CREAT, 0600);
	if (fd >= 0)
		close(fd);
	char *const argv[] = { bin, "filter", NULL };
	char *const env[] = { home, conf, "PATH=/usr/bin:/bin", "JIDO_LOG_LEVEL=error", NULL };
	int st = restore_run(argv, env, NULL), rc = 0;
	snprintf(db, sizeof(db), "%s/%s", tmpl, d->file);
	if (st != 0 || cli_db_user_version(db, version) != 0) {
		snprintf(why, len, "%s did not create its database (status %d)", bin, st);
		rc = JIDO_EINTERNAL;
	}
	nftw(tmpl, restore_rm_one, 16, FTW_DEPTH | FTW_PHYS);
	return rc;
}

/* Is anything of this instance answering on its sockets? */
static int
restore_running(struct cli *c)
{
	char url[4200], type[64];
	struct jido_reply r;

	for (int i = -1; jido_procs[i < 0 ? 0 : i] != NULL; i++) {
		const char *p = i < 0 ? "supervisor" : jido_procs[i];
		snprintf(type, sizeof(type), "%s.health", p);
		if (cli_url(c, p, url, sizeof(url)) == 0 && jido_bus_call(url, type, NULL, NULL, 300,
		    &r) == 0) {
			jido_reply_free(&r);
			return 1;
		}
	}
	return 0;
}

/* Verify the copied audit log: intact, and ending at the manifest's checkpoint. */
static int
restore_audit_check(const char *bindir, const char *dir, const json_t *man, const char *cpfile,
    char *why, size_t len)
{
	char bin[PATH_MAX + 32], log[PATH_MAX + 64], out[PATH_MAX + 64];
	json_t *audit = json_object_get(man, "audit");

	snprintf(bin, sizeof(bin), "%s/jido-auditor", bindir);
	snprintf(log, sizeof(log), "%s/audit/audit.log", dir);
	snprintf(out, sizeof(out), "%s/.verify.json", dir);
	char *const argv[] = { bin, "verify", log, cpfile ? "--checkpoint" : NULL,
		(char *)cpfile, NULL };
	char *const env[] = { "PATH=/usr/bin:/bin", NULL };
	int st = restore_run(argv, env, out);
	json_t *v = json_load_file(out, 0, NULL);
	unlink(out);
	int rc = 0;
	if (st != 0 || !json_is_true(json_object_get(v, "ok"))) {
		char *t = v ? jido_json_dump(v) : NULL;
		snprintf(why, len, "the audit log does not verify (jido-auditor verify exit %d): %s",
		    st, t ? t : "no result");
		free(t);
		rc = JIDO_EINTEGRITY;
	} else if (json_integer_value(json_object_get(v, "records")) !=
	    json_integer_value(json_object_get(audit, "tree_size")) || !json_is_string(
	    json_object_get(v, "root")) || strcmp(json_string_value(json_object_get(v, "root")),
	    json_string_value(json_object_get(audit, "root")) ?: "") != 0) {
		snprintf(why, len, "the audit log does not end at the manifest's checkpoint (%lld "
		    "records)", (long long)json_integer_value(json_object_get(audit, "tree_size")));
		rc = JIDO_EINTEGRITY;
	}
	json_decref(v);
	return rc;
}

/* jido-vault check on the copied database with the key this instance would use. */
static int
restore_vault_check(struct cli *c, const char *bindir, const char *dir, const char *keyfile,
    const char *passfile, char *why, size_t len)
{
	char bin[PATH_MAX + 32], db[PATH_MAX + 64], home[PATH_MAX + 16], key[PATH_MAX + 32];
	char *argv[12];
	int n = 0;

	snprintf(bin, sizeof(bin), "%s/jido-vault", bindir);
	snprintf(db, sizeof(db), "%s/vault.db", dir);
	snprintf(home, sizeof(home), "%s", c->home);
	argv[n++] = bin;
	argv[n++] = "check";
	argv[n++] = "--db";
	argv[n++] = db;
	argv[n++] = "--home";
	argv[n++] = home;
	snprintf(key, sizeof(key), "%s/vault.key", dir);
	if (keyfile == NULL && passfile == NULL && access(key, F_OK) == 0)
		keyfile = key; /* the backup carries its key (--include-key) */
	if (keyfile != NULL) {
		argv[n++] = "--key-file";
		argv[n++] = (char *)keyfile;
	} else if (passfile != NULL) {
		argv[n++] = "--passphrase-file";
		argv[n++] = (char *)passfile;
	}
	argv[n] = NULL;
	char *const env[] = { "PATH=/usr/bin:/bin", NULL };
	int st = restore_run(argv, env, NULL);
	if (st != 0) {
		snprintf(why, len, "the vault does not check out with this key (jido-vault check exit "
		    "%d): pass the key with --key-file F or --passphrase-file F", st);
		return st == 1 ? JIDO_EINTEGRITY : JIDO_EINTERNAL;
	}
	return 0;
}

/* Write src over dst: copy next to it, remove stale WAL/SHM of a database, rename. */
static int
restore_put(const char *src, const char *dst, int sqlite)
{
	char tmp[PATH_MAX + 64], side[PATH_MAX + 64];

	snprintf(tmp, sizeof(tmp), "%s.restore", dst);
	if (cli_file_copy(src, tmp, 0, 0600) != 0)
		return JIDO_EINTERNAL;
	if (sqlite) {
		snprintf(side, sizeof(side), "%s-wal", dst);
		unlink(side);
		snprintf(side, sizeof(side), "%s-shm", dst);
		unlink(side);
	}
	return rename(tmp, dst) == 0 ? 0 : JIDO_EINTERNAL;
}

int
cli_restore(struct cli *c, int argc, char **argv)
{
	const char *dir = NULL, *keyfile = NULL, *passfile = NULL, *cpfile = NULL;
	char path[PATH_MAX + 64], dst[PATH_MAX + 64], bindir[PATH_MAX], why[PATH_MAX + 512];
	json_error_t je;
	size_t i;
	json_t *f;
	int rc;

#define RESTORE_USAGE "usage: jido restore DIR [--key-file F | --passphrase-file F] " \
	"[--checkpoint FILE]"
	for (int k = 1; k < argc; k++) {
		if (strcmp(argv[k], "--key-file") == 0 && k + 1 < argc)
			keyfile = argv[++k];
		else if (strcmp(argv[k], "--passphrase-file") == 0 && k + 1 < argc)
			passfile = argv[++k];
		else if (strcmp(argv[k], "--checkpoint") == 0 && k + 1 < argc)
			cpfile = argv[++k];
		else if (dir == NULL && argv[k][0] != '-')
			dir = argv[k];
		else
			return cli_fail(CLI_USAGE, "restore", RESTORE_USAGE);
	}
	if (dir == NULL || (keyfile != NULL && passfile != NULL))
		return cli_fail(CLI_USAGE, "restore", RESTORE_USAGE);
	snprintf(path, sizeof(path), "%s/manifest.json", dir);
	json_t *man = json_load_file(path, JSON_REJECT_DUPLICATES, &je);
	if (man == NULL)
		return cli_fail(errno == ENOENT ? CLI_NOTFOUND : CLI_USAGE, "restore",
		    "cannot read %s: %s", path, je.text);
	json_t *files = json_object_get(man, "files");
	if (strcmp(json_string_value(json_object_get(man, "format")) ?: "", "jidocode-backup/1") ||
	    !json_is_array(files)) {
		rc = cli_fail(CLI_USAGE, "restore", "%s is not a jidocode-backup/1 manifest", path);
		goto out;
	}
	if (restore_bindir(bindir, sizeof(bindir)) != 0) {
		rc = cli_fail(CLI_SYS, "restore", "cannot find the jido binaries");
		goto out;
	}
	if (restore_running(c)) {
		rc = cli_fail(CLI_CONFLICT, "restore", "the instance in %s is running: stop it "
		    "first (nothing was changed)", c->home);
		goto out;
	}
	/* 1. every file as the manifest says: names inside DIR, sizes and hashes */
	int have_vault = 0, have_log = 0;
	json_array_foreach(files, i, f) {
		const char *name = json_string_value(json_object_get(f, "name"));
		const char *sum = json_string_value(json_object_get(f, "sha256"));
		char hex[65];
		uint64_t bytes;
		if (name == NULL || sum == NULL || name[0] == '/' || strstr(name, "..") != NULL) {
			rc = cli_fail(CLI_USAGE, "restore", "manifest entry %zu is malformed", i);
			goto out;
		}
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		if (cli_file_sha256(path, hex, &bytes) != 0 || strcmp(hex, sum) != 0 ||
		    (json_int_t)bytes != json_integer_value(json_object_get(f, "bytes"))) {
			rc = cli_fail(CLI_NEG, "restore", "%s does not match the manifest (missing, "
			    "changed or truncated): nothing was changed", name);
			goto out;
		}
		have_vault |= strcmp(name, "vault.db") == 0;
		have_log |= strcmp(name, "audit/audit.log") == 0;
	}
	if (!have_log) {
		rc = cli_fail(CLI_NEG, "restore", "the backup holds no audit log");
		goto out;
	}
	/* 2. the audit log and the vault */
	if ((rc = restore_audit_check(bindir, dir, man, cpfile, why, sizeof(why))) != 0 ||
	    (have_vault && (rc = restore_vault_check(c, bindir, dir, keyfile, passfile, why,
	    sizeof(why))) != 0)) {
		rc = cli_fail(rc == JIDO_EINTEGRITY ? CLI_NEG : CLI_SYS, "restore", "%s: nothing "
		    "was changed", why);
		goto out;
	}
	/* 3. schema versions against the installed binaries */
	json_array_foreach(files, i, f) {
		const char *name = json_string_value(json_object_get(f, "name"));
		int want = (int)json_integer_value(json_object_get(f, "user_version")), have;
		for (const struct cli_db *d = cli_dbs; d->file != NULL; d++) {
			if (strcmp(d->file, name) != 0)
				continue;
			if (restore_probe(bindir, d, &have, why, sizeof(why)) != 0) {
				rc = cli_fail(CLI_SYS, "restore", "%s", why);
				goto out;
			}
			if (want > have) {
				rc = cli_fail(CLI_CONFLICT, "restore", "%s has schema version %d, newer "
				    "than jido-%s's %d: upgrade the binaries first (nothing was changed)",
				    name, want, d->proc, have);
				goto out;
			}
		}
	}
	/* 4. replace */
	if (jido_mkdirs(c->home, 0700) != 0 || (snprintf(path, sizeof(path), "%s/audit",
	    c->home), jido_mkdirs(path, 0700)) != 0 || (snprintf(path, sizeof(path), "%s/run",
	    c->home), jido_mkdirs(path, 0700)) != 0) {
		rc = cli_fail(CLI_SYS, "restore", "cannot create %s", c->home);
		goto out;
	}
	json_array_foreach(files, i, f) {
		const char *name = json_string_value(json_object_get(f, "name"));
		const char *kind = json_string_value(json_object_get(f, "kind")) ?: "";
		const struct cli_db *d = cli_dbs;
		while (d->file != NULL && strcmp(d->file, name) != 0)
			d++;
		if (d->file != NULL)
			cli_db_path(c, d, dst, sizeof(dst));
		else if (strcmp(kind, "vault_key") == 0 && keyfile == NULL) {
			const char *kf = jido_conf_str(c->conf, "vault.key_file");
			snprintf(dst, sizeof(dst), "%s", kf && kf[0] ? kf : "");
			if (dst[0] == '\0')
				snprintf(dst, sizeof(dst), "%s/vault.key", c->home);
		} else if (strcmp(kind, "vault_key") == 0)
			continue;
		else
			snprintf(dst, sizeof(dst), "%s/%s", c->home, name);
		snprintf(path, sizeof(path), "%s/%s", dir, name);
		if (restore_put(path, dst, d->file != NULL) != 0) {
			rc = cli_fail(CLI_SYS, "restore", "cannot write %s: %s", dst, strerror(errno));
			goto out;
		}
	}
	/* the auditor rebuilds its index from the restored log */
	static const char *const idx[] = { "index.db", "index.db-wal", "index.db-shm", NULL };
	for (int k = 0; idx[k] != NULL; k++) {
		snprintf(path, sizeof(path), "%s/audit/%s", c->home, idx[k]);
		unlink(path);
	}
	if (c->json) {
		json_t *o = json_pack("{s:b,s:s,s:I}", "restored", 1, "home", c->home, "files",
		    (json_int_t)json_array_size(files));
		rc = cli_print_json(o);
		json_decref(o);
	} else {
		printf("restored %zu files into %s (audit log and vault verified)\n",
		    json_array_size(files), c->home);
		rc = fflush(stdout) == 0 ? 0 : CLI_SYS;
	}
out:
	json_decref(man);
	return rc;
}
