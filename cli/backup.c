/*
 * backup.c - `jido backup DIR`: a consistent copy of an instance while its stack runs.
 * Each process's SQLite database is copied with the online backup API from a read-only
 * connection (one read transaction per database: each copy is that database at one
 * instant; the gateway, which holds its database exclusively, makes its copy itself with
 * VACUUM INTO on gateway.backup); then the auditor signs its head (audit.checkpoint) and the audit log is copied
 * up to and including that signed checkpoint, so every effect in the copied databases has
 * its audit record in the copied log (audit before effect). The vault's database stays
 * encrypted; its key file is copied only with --include-key. A manifest records each
 * file's size, SHA-256 and schema version (PRAGMA user_version). Shared helpers for
 * restore.c are declared in cli.h.
 */
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>
#include <sqlite3.h>

#include "cli.h"

/* The databases of an instance: file name under the state directory, the process that
 * owns it, and the config key that may move it. */
const struct cli_db cli_dbs[] = {
	{ "vault.db", "vault", "vault.db" },
	{ "planner.db", "planner", "planner.db" },
	{ "ingest.db", "ingest", NULL },
	{ "web.db", "web", NULL },
	{ "gateway.db", "gateway", NULL },
	{ NULL, NULL, NULL },
};

/* Plain files copied as they are when present (credentials and keys, 0600). */
static const char *const cli_backup_files[] = { "run/owner.cred", "audit/signing.key", NULL };

int
cli_db_path(const struct cli *c, const struct cli_db *d, char *buf, size_t len)
{
	const char *v = d->key ? jido_conf_str(c->conf, d->key) : NULL;
	int n = v != NULL && v[0] != '\0' ? snprintf(buf, len, "%s", v) :
	    snprintf(buf, len, "%s/%s", c->home, d->file);

	return n < 0 || (size_t)n >= len ? JIDO_EVALIDATION : 0;
}

int
cli_file_sha256(const char *path, char hex[65], uint64_t *bytes)
{
	crypto_hash_sha256_state st;
	unsigned char buf[65536], h[32];
	int fd = open(path, O_RDONLY | O_CLOEXEC);
	ssize_t n;

	*bytes = 0;
	if (fd < 0)
		return errno == ENOENT ? JIDO_ENOTFOUND : JIDO_EINTERNAL;
	crypto_hash_sha256_init(&st);
	while ((n = read(fd, buf, sizeof(buf))) > 0) {
		crypto_hash_sha256_update(&st, buf, (unsigned long long)n);
		*bytes += (uint64_t)n;
	}
	close(fd);
	if (n < 0)
		return JIDO_EINTERNAL;
	crypto_hash_sha256_final(&st, h);
	sodium_bin2hex(hex, 65, h, sizeof(h));
	return 0;
}

int
cli_file_copy(const char *from, const char *to, uint64_t limit, int mode)
{
	unsigned char buf[65536];
	int in = open(from, O_RDONLY | O_CLOEXEC), out;
	uint64_t done = 0;
	ssize_t n;

	if (in < 0)
		return errno == ENOENT ? JIDO_ENOTFOUND : JIDO_EINTERNAL;
	if ((out = open(to, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, mode)) < 0) {
		close(in);
		return JIDO_EINTERNAL;
	}
	while (limit == 0 || done < limit) {
		size_t want = sizeof(buf);
		if (limit != 0 && limit - done < want)
			want = (size_t)(limit - done);
		if ((n = read(in, buf, want)) <= 0)
			break;
		if (write(out, buf, (size_t)n) != n) {
			n = -1;
			break;
		}
		done += (uint64_t)n;
	}
	int rc = n < 0 || (limit != 0 && done != limit) || fsync(out) != 0 ? JIDO_EINTERNAL : 0;
	close(in);
	if (close(out) != 0)
		rc = JIDO_EINTERNAL;
	return rc;
}

int
cli_db_user_version(const char *path, int *version)
{
	sqlite3 *db = NULL;
	sqlite3_stmt *st = NULL;
	int rc = JIDO_EINTERNAL;

	if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK &&
	    sqlite3_prepare_v2(db, "PRAGMA user_version", -1, &st, NULL) == SQLITE_OK &&
	    sqlite3_step(st) == SQLITE_ROW) {
		*version = sqlite3_column_int(st, 0);
		rc = 0;
	}
	sqlite3_finalize(st);
	sqlite3_close(db);
	return rc;
}

/* Copy the database at src into dst (a new file) with the online backup API, reading
 * through a read-only connection. A database another process holds exclusively stays
 * busy: JIDO_ECONFLICT after about timeout_ms. why says what failed. */
static int
backup_sqlite(const char *src, const char *dst, int timeout_ms, char *why, size_t whylen)
{
	sqlite3 *from = NULL, *to = NULL;
	sqlite3_backup *b;
	int rc, waited = 0;

	if (sqlite3_open_v2(src, &from, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
		snprintf(why, whylen, "cannot open %s: %s", src, from ? sqlite3_errmsg(from) : "?");
		sqlite3_close(from);
		return JIDO_EINTERNAL;
	}
	sqlite3_busy_timeout(from, 200);
	if (sqlite3_open_v2(dst, &to, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) !=
	    SQLITE_OK || (b = sqlite3_backup_init(to, "main", from, "main")) == NULL) {
		snprintf(why, whylen, "cannot start the backup of %s: %s", src, sqlite3_errmsg(to));
		sqlite3_close(to);
		sqlite3_close(from);
		return JIDO_EINTERNAL;
	}
	/* All pages in one step: one read transaction, so the copy is one instant. */
	while ((rc = sqlite3_backup_step(b, -1)) == SQLITE_BUSY || rc == SQLITE_LOCKED) {
		struct timespec ts = { 0, 50 * 1000000L };
		if ((waited += 250) > timeout_ms)
			break;
		nanosleep(&ts, NULL);
	}
	sqlite3_backup_finish(b);
	if (rc != SQLITE_DONE)
		snprintf(why, whylen, "%s: %s", src, rc == SQLITE_BUSY || rc == SQLITE_LOCKED ?
		    "locked by its process (exclusive locking)" : sqlite3_errstr(rc));
	sqlite3_close(to);
	sqlite3_close(from);
	if (rc != SQLITE_DONE) {
		unlink(dst);
		return rc == SQLITE_BUSY || rc == SQLITE_LOCKED ? JIDO_ECONFLICT : JIDO_EINTERNAL;
	}
	return 0;
}

/* Ask the running gateway to copy its database to path (gateway.backup, VACUUM INTO). */
static int
backup_by_gateway(struct cli *c, const char *path, char *why, size_t whylen)
{
	char abs[PATH_MAX + 64], url[4200];
	struct jido_reply r;
	int rc;

	if (jido_abspath(path, abs, sizeof(abs)) != 0 || cli_url(c, "gateway", url,
	    sizeof(url)) != 0) {
		snprintf(why, whylen, "path too long: %s", path);
		return JIDO_EVALIDATION;
	}
	if ((rc = jido_bus_call(url, "gateway.backup", NULL, json_pack("{s:s}", "path", abs),
	    30000, &r)) != 0) {
		snprintf(why, whylen, "gateway.db is locked by jido-gateway, which does not answer "
		    "gateway.backup (%s)", jido_strerror(rc));
		return rc;
	}
	if (!r.ok)
		snprintf(why, whylen, "gateway.backup: %s", r.message);
	rc = r.ok ? 0 : r.err;
	jido_reply_free(&r);
	return rc;
}

/* Add a file entry (hash, size, and more fields from extra, taken) to the manifest. */
static int
backup_entry(json_t *files, const char *dir, const char *name, const char *kind, json_t *extra)
{
	char path[PATH_MAX + 64], hex[65];
	uint64_t bytes;
	int rc;

	snprintf(path, sizeof(path), "%s/%s", dir, name);
	if ((rc = cli_file_sha256(path, hex, &bytes)) != 0) {
		json_decref(extra);
		return rc;
	}
	json_t *e = json_pack("{s:s,s:s,s:I,s:s}", "name", name, "kind", kind, "bytes",
	    (json_int_t)bytes, "sha256", hex);
	if (extra != NULL)
		json_object_update(e, extra);
	json_decref(extra);
	json_array_append_new(files, e);
	return 0;
}

/* The offset just past the checkpoint line for tree_size/root in the log at path (size
 * -1: the last checkpoint, whose size and root go into *size and root), or 0 when none. */
static uint64_t
backup_log_cut(const char *path, json_int_t *size, char root[65])
{
	FILE *f = fopen(path, "re");
	char *line = NULL;
	size_t cap = 0;
	ssize_t n;
	uint64_t off = 0, cut = 0;
	int last = *size < 0;

	if (f == NULL)
		return 0;
	while ((last || cut == 0) && (n = getline(&line, &cap, f)) > 0) {
		off += (uint64_t)n;
		if (strncmp(line, "{\"checkpoint\"", 13) != 0 || line[n - 1] != '\n')
			continue;
		json_t *j = json_loadb(line, (size_t)n, 0, NULL), *cp = json_object_get(j, "checkpoint");
		const char *r = json_string_value(json_object_get(cp, "root"));
		json_int_t sz = json_integer_value(json_object_get(cp, "tree_size"));
		if (r != NULL && strlen(r) == 64 && (last || (sz == *size && strcmp(r, root) == 0))) {
			cut = off;
			if (last) {
				*size = sz;
				memcpy(root, r, 65);
			}
		}
		json_decref(j);
	}
	free(line);
	fclose(f);
	if (last && cut == 0)
		*size = -1;
	return cut;
}

/* Sign the head and copy the log up to that checkpoint into dir/audit/audit.log. With
 * the auditor stopped, the log's last checkpoint is the cut. */
static int
backup_audit(struct cli *c, const char *dir, json_t *man, json_t *files)
{
	char src[PATH_MAX + 32], dst[PATH_MAX + 64], url[4200], root[65] = "";
	struct jido_reply r;
	json_int_t size = -1;
	int rc;

	if (cli_url(c, "auditor", url, sizeof(url)) != 0)
		return cli_fail(CLI_USAGE, "backup", "socket path too long");
	rc = jido_bus_call(url, "audit.checkpoint", NULL, NULL,
	    (int)jido_conf_int(c->conf, "bus.timeout_ms"), &r);
	if (rc == 0 && !r.ok) {
		rc = cli_fail(jido_err_exit(r.err), "backup", "audit.checkpoint: %s", r.message);
		jido_reply_free(&r);
		return rc;
	}
	if (rc == 0) {
		json_t *cp = json_object_get(r.data, "checkpoint");
		size = json_integer_value(json_object_get(cp, "tree_size"));
		snprintf(root, sizeof(root), "%s", json_string_value(json_object_get(cp, "root")) ?:
		    "");
		jido_reply_free(&r);
	} else if (rc != JIDO_EUNAVAIL)
		return cli_fail(CLI_SYS, "backup", "audit.checkpoint: %s", jido_strerror(rc));
	snprintf(src, sizeof(src), "%s/audit/audit.log", c->home);
	uint64_t cut = backup_log_cut(src, &size, root);
	if (cut == 0)
		return cli_fail(CLI_SYS, "backup", "no signed checkpoint%s in %s", size >= 0 ?
		    " of the size just signed" : "", src);
	snprintf(dst, sizeof(dst), "%s/audit/audit.log", dir);
	if (cli_file_copy(src, dst, cut, 0600) != 0)
		return cli_fail(CLI_SYS, "backup", "cannot copy %s", src);
	json_object_set_new(man, "audit", json_pack("{s:I,s:s,s:I}", "tree_size", size, "root",
	    root, "log_bytes", (json_int_t)cut));
	if (backup_entry(files, dir, "audit/audit.log", "audit_log", NULL) != 0)
		return cli_fail(CLI_SYS, "backup", "cannot hash the audit log copy");
	return 0;
}

int
cli_backup(struct cli *c, int argc, char **argv)
{
	const char *dir = NULL;
	int include_key = 0, rc;
	char path[PATH_MAX + 64], src[PATH_MAX + 32], why[PATH_MAX + 256], ts[40];

	for (int i = 1; i < argc; i++) {
		if (strcmp(argv[i], "--include-key") == 0)
			include_key = 1;
		else if (dir == NULL && argv[i][0] != '-')
			dir = argv[i];
		else
			return cli_fail(CLI_USAGE, "backup", "usage: jido backup DIR [--include-key]");
	}
	if (dir == NULL)
		return cli_fail(CLI_USAGE, "backup", "usage: jido backup DIR [--include-key]");
	if (mkdir(dir, 0700) != 0 && errno != EEXIST)
		return cli_fail(CLI_SYS, "backup", "cannot create %s: %s", dir, strerror(errno));
	snprintf(path, sizeof(path), "%s/manifest.json", dir);
	if (access(path, F_OK) == 0)
		return cli_fail(CLI_CONFLICT, "backup", "%s already holds a backup", dir);
	snprintf(path, sizeof(path), "%s/audit", dir);
	snprintf(src, sizeof(src), "%s/run", dir);
	if ((mkdir(path, 0700) != 0 && errno != EEXIST) || (mkdir(src, 0700) != 0 &&
	    errno != EEXIST))
		return cli_fail(CLI_SYS, "backup", "cannot create %s: %s", path, strerror(errno));
	json_t *files = json_array();
	jido_time_rfc3339(ts, sizeof(ts));
	json_t *man = json_pack("{s:s,s:s,s:s,s:s}", "format", "jidocode-backup/1", "version",
	    JIDO_VERSION, "created", ts, "home", c->home);

	/* 1. every database, each at one instant */
	for (const struct cli_db *d = cli_dbs; d->file != NULL; d++) {
		int uv;
		if (cli_db_path(c, d, src, sizeof(src)) != 0 || access(src, F_OK) != 0)
			continue; /* this instance has none */
		snprintf(path, sizeof(path), "%s/%s", dir, d->file);
		if ((rc = backup_sqlite(src, path, 2000, why, sizeof(why))) == JIDO_ECONFLICT &&
		    strcmp(d->proc, "gateway") == 0)
			/* held with locking_mode=EXCLUSIVE by the running gateway: it copies */
			rc = backup_by_gateway(c, path, why, sizeof(why));
		if (rc != 0) {
			rc = cli_fail(CLI_SYS, "backup", "%s", why);
			goto out;
		}
		if (cli_db_user_version(path, &uv) != 0) {
			rc = cli_fail(CLI_SYS, "backup", "cannot read the schema version of %s", path);
			goto out;
		}
		if (backup_entry(files, dir, d->file, "sqlite", json_pack("{s:s,s:i}", "proc",
		    d->proc, "user_version", uv)) != 0) {
			rc = cli_fail(CLI_SYS, "backup", "cannot hash %s", path);
			goto out;
		}
	}
	/* 2. credentials and keys that live in files */
	for (int i = 0; cli_backup_files[i] != NULL; i++) {
		snprintf(src, sizeof(src), "%s/%s", c->home, cli_backup_files[i]);
		snprintf(path, sizeof(path), "%s/%s", dir, cli_backup_files[i]);
		if ((rc = cli_file_copy(src, path, 0, 0600)) == JIDO_ENOTFOUND)
			continue;
		if (rc != 0 || backup_entry(files, dir, cli_backup_files[i], "file", NULL) != 0) {
			rc = cli_fail(CLI_SYS, "backup", "cannot copy %s", src);
			goto out;
		}
	}
	if (include_key) {
		const char *kf = jido_conf_str(c->conf, "vault.key_file");
		if (kf == NULL || kf[0] == '\0')
			snprintf(src, sizeof(src), "%s/vault.key", c->home);
		else
			snprintf(src, sizeof(src), "%s", kf);
		snprintf(path, sizeof(path), "%s/vault.key", dir);
		if (cli_file_copy(src, path, 0, 0600) != 0 ||
		    backup_entry(files, dir, "vault.key", "vault_key", NULL) != 0) {
			rc = cli_fail(CLI_SYS, "backup", "cannot copy the vault key file %s", src);
			goto out;
		}
	}
	/* 3. the audit log up to a checkpoint signed now (after the databases) */
	if ((rc = backup_audit(c, dir, man, files)) != 0)
		goto out;
	json_object_set(man, "files", files);
	snprintf(path, sizeof(path), "%s/manifest.json", dir);
	snprintf(src, sizeof(src), "%s/manifest.json.tmp", dir);
	if (json_dump_file(man, src, JSON_INDENT(2)) != 0 || rename(src, path) != 0) {
		rc = cli_fail(CLI_SYS, "backup", "cannot write %s", path);
		goto out;
	}
	if (c->json)
		rc = cli_print_json(man);
	else {
		printf("backup in %s: %zu files, audit log to %lld records (signed)\n",
		    dir, json_array_size(files), (long long)json_integer_value(json_object_get(
		    json_object_get(man, "audit"), "tree_size")));
		rc = fflush(stdout) == 0 ? 0 : CLI_SYS;
	}
out:
	json_decref(files);
	json_decref(man);
	return rc;
}
