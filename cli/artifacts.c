/*
 * artifacts.c - `jido artifacts`: list, history, get (copied from the
 * blob file under the state directory, its SHA-256 checked), put (a file through the
 * planner's spool), share links (made and revoked by jido-web, which holds the share
 * key), and unfreezing a share link the anomaly guard froze (tokens: `jido tokens unfreeze`,
 * a table operation).
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "cli.h"
#include "artifact.h"

static const char art_usage[] =
    "usage: jido artifacts list RUN\n"
    "       jido artifacts history RUN NAME\n"
    "       jido artifacts get RUN NAME [--version N] [-o FILE]\n"
    "       jido artifacts put RUN NAME --from-file F [--kind K] [--type MEDIA]\n"
    "       jido artifacts share RUN NAME [--ttl 1h] [--once] [--version N]\n"
    "       jido artifacts links [RUN] [--all]\n"
    "       jido artifacts revoke LINK\n"
    "       jido artifacts unfreeze LINK\n";

/* Call and turn an error reply into the documented exit code. On 0 *out is the reply's
 * data (new reference). */
static int
art_call(struct cli *c, const char *proc, const char *type, json_t *data, json_t **out,
    const char *what)
{
	struct jido_reply r;
	int rc;

	if ((rc = cli_call(c, proc, type, data, &r, what)) != 0)
		return rc;
	if (!r.ok) {
		rc = cli_fail(jido_err_exit(r.err), what, "%s", r.message ? r.message : "refused");
		jido_reply_free(&r);
		return rc;
	}
	*out = json_incref(r.data);
	jido_reply_free(&r);
	return 0;
}

static const char *
art_s(const json_t *j, const char *k)
{
	const char *s = json_string_value(json_object_get(j, k));
	return s ? s : "";
}

static long long
art_i(const json_t *j, const char *k)
{
	return (long long)json_integer_value(json_object_get(j, k));
}

static int
art_print_rows(struct cli *c, json_t *out, const char *key)
{
	json_t *row;
	size_t i;

	if (c->json)
		return cli_print_json(out);
	printf("%-28s %-12s %4s %12s %-14s %-9s %s\n", "NAME", "KIND", "VER", "SIZE", "SHA256",
	    "REDACTION", "RUN");
	json_array_foreach(json_object_get(out, key), i, row)
		printf("%-28s %-12s v%-3lld %12lld %.12s.. %-9s %s\n", art_s(row, "name"),
		    art_s(row, "kind"), art_i(row, "version"), art_i(row, "size"),
		    art_s(row, "hash"), art_s(row, "redaction"), art_s(row, "run_id"));
	return fflush(stdout) == 0 ? 0 : CLI_SYS;
}

/* Copy the blob to out_path (atomically) or stdout, checking its SHA-256 on the way. */
static int
art_copy_out(struct cli *c, const json_t *row, const char *out_path)
{
	char path[8192], tmp[8192], hex[65];
	unsigned char buf[1 << 16], dg[crypto_hash_sha256_BYTES];
	crypto_hash_sha256_state sha;
	int in, outfd = STDOUT_FILENO;
	ssize_t n;

	snprintf(path, sizeof(path), "%s/%s", c->home, art_s(row, "path"));
	if ((in = open(path, O_RDONLY | O_CLOEXEC | O_NOFOLLOW)) < 0)
		return cli_fail(errno == ENOENT ? CLI_NOTFOUND : CLI_SYS, "artifacts get",
		    "cannot open the blob %s: %s", path, strerror(errno));
	if (out_path != NULL && strcmp(out_path, "-") != 0) {
		snprintf(tmp, sizeof(tmp), "%s.partXXXXXX", out_path);
		if ((outfd = mkostemp(tmp, O_CLOEXEC)) < 0) {
			close(in);
			return cli_fail(CLI_SYS, "artifacts get", "cannot create %s: %s", tmp,
			    strerror(errno));
		}
	}
	crypto_hash_sha256_init(&sha);
	while ((n = read(in, buf, sizeof(buf))) > 0) {
		crypto_hash_sha256_update(&sha, buf, (size_t)n);
		for (ssize_t off = 0; off < n;) {
			ssize_t w = write(outfd, buf + off, (size_t)(n - off));
			if (w <= 0) {
				close(in);
				if (outfd != STDOUT_FILENO) {
					close(outfd);
					unlink(tmp);
				}
				return cli_fail(CLI_SYS, "artifacts get", "write: %s", strerror(errno));
			}
			off += w;
		}
	}
	close(in);
	crypto_hash_sha256_final(&sha, dg);
	sodium_bin2hex(hex, sizeof(hex), dg, sizeof(dg));
	if (n < 0 || strcmp(hex, art_s(row, "hash")) != 0) {
		if (outfd != STDOUT_FILENO) {
			close(outfd);
			unlink(tmp);
		}
		return n < 0 ? cli_fail(CLI_SYS, "artifacts get", "read: %s", strerror(errno)) :
		    cli_fail(CLI_SYS, "artifacts get", "integrity_error: the blob's SHA-256 is %s, "
		    "not the recorded %s", hex, art_s(row, "hash"));
	}
	if (outfd != STDOUT_FILENO) {
		if (fsync(outfd) != 0 || close(outfd) != 0 || rename(tmp, out_path) != 0) {
			unlink(tmp);
			return cli_fail(CLI_SYS, "artifacts get", "cannot write %s: %s", out_path,
			    strerror(errno));
		}
	}
	return 0;
}

/* Copy a file into the planner's spool (artifacts/incoming, 0600); name into spool. */
static int
art_spool(struct cli *c, const char *from, char *spool, size_t len, char *path, size_t plen)
{
	unsigned char raw[8], buf[1 << 16];
	int in, out;
	ssize_t n;

	randombytes_buf(raw, sizeof(raw));
	memcpy(spool, "cli-", 4);
	sodium_bin2hex(spool + 4, len - 4, raw, sizeof(raw));
	snprintf(path, plen, "%s/artifacts/incoming/%s", c->home, spool);
	if ((in = open(from, O_RDONLY | O_CLOEXEC)) < 0)
		return cli_fail(errno == ENOENT ? CLI_NOTFOUND : CLI_USAGE, "artifacts put",
		    "cannot read %s: %s", from, strerror(errno));
	if ((out = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0600)) < 0) {
		close(in);
		return cli_fail(CLI_SYS, "artifacts put", "cannot write the spool %s: %s (is the "
		    "planner's state directory here?)", path, strerror(errno));
	}
	while ((n = read(in, buf, sizeof(buf))) > 0)
		if (write(out, buf, (size_t)n) != n) {
			n = -1;
			break;
		}
	close(in);
	if (n < 0 || fsync(out) != 0 || close(out) != 0) {
		unlink(path);
		return cli_fail(CLI_SYS, "artifacts put", "cannot copy %s into the spool", from);
	}
	return 0;
}

int
cli_artifacts(struct cli *c, int argc, char **argv)
{
	const char *sub = argc > 1 ? argv[1] : NULL, *pos[2] = { NULL, NULL };
	const char *out_path = NULL, *from = NULL, *kind = NULL, *media = NULL, *ttl = "1h";
	int npos = 0, once = 0, all = 0, rc;
	long version = 0;
	json_t *out = NULL;

	if (sub == NULL) {
		fputs(art_usage, stderr);
		return CLI_USAGE;
	}
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		if (strcmp(a, "--version") == 0 && i + 1 < argc) {
			char *end;
			version = strtol(argv[++i], &end, 10);
			if (*end != '\0' || version < 1)
				return cli_fail(CLI_USAGE, "artifacts", "--version wants a number >= 1");
		} else if (strcmp(a, "-o") == 0 && i + 1 < argc)
			out_path = argv[++i];
		else if (strcmp(a, "--from-file") == 0 && i + 1 < argc)
			from = argv[++i];
		else if (strcmp(a, "--kind") == 0 && i + 1 < argc)
			kind = argv[++i];
		else if (strcmp(a, "--type") == 0 && i + 1 < argc)
			media = argv[++i];
		else if (strcmp(a, "--ttl") == 0 && i + 1 < argc)
			ttl = argv[++i];
		else if (strcmp(a, "--once") == 0)
			once = 1;
		else if (strcmp(a, "--all") == 0)
			all = 1;
		else if (strcmp(a, "--json") == 0)
			c->json = 1;
		else if (a[0] == '-' || npos >= 2)
			return cli_fail(CLI_USAGE, "artifacts", "unexpected '%s'\n%s", a, art_usage);
		else
			pos[npos++] = a;
	}
	if (strcmp(sub, "list") == 0 && npos == 1) {
		if ((rc = art_call(c, "planner", "planner.artifacts.list", json_pack("{s:s}",
		    "run_id", pos[0]), &out, "artifacts list")) != 0)
			return rc;
		rc = art_print_rows(c, out, "artifacts");
	} else if (strcmp(sub, "history") == 0 && npos == 2) {
		if ((rc = art_call(c, "planner", "planner.artifacts.history", json_pack("{s:s,s:s}",
		    "run_id", pos[0], "name", pos[1]), &out, "artifacts history")) != 0)
			return rc;
		rc = art_print_rows(c, out, "versions");
	} else if (strcmp(sub, "get") == 0 && npos == 2) {
		json_t *d = json_pack("{s:s,s:s}", "run_id", pos[0], "name", pos[1]);
		if (version > 0)
			json_object_set_new(d, "version", json_integer(version));
		if ((rc = art_call(c, "planner", "planner.artifacts.get", d, &out,
		    "artifacts get")) != 0)
			return rc;
		rc = art_copy_out(c, out, out_path);
	} else if (strcmp(sub, "put") == 0 && npos == 2 && from != NULL) {
		char spool[40], path[8192];
		if ((rc = art_spool(c, from, spool, sizeof(spool), path, sizeof(path))) != 0)
			return rc;
		json_t *d = json_pack("{s:s,s:s,s:s,s:s}", "run_id", pos[0], "name", pos[1], "spool",
		    spool, "kind", kind ? kind : "other");
		if (media != NULL)
			json_object_set_new(d, "media_type", json_string(media));
		rc = art_call(c, "planner", "planner.artifacts.put", d, &out, "artifacts put");
		unlink(path); /* the planner took it (or refused it): gone either way */
		if (rc != 0)
			return rc;
		/* the planner redacts and hashes in a worker; wait for its answer */
		while (rc == 0 && strcmp(art_s(out, "state"), "running") == 0) {
			json_t *st = NULL;
			struct timespec ts = { 0, 200 * 1000 * 1000 };
			nanosleep(&ts, NULL);
			rc = art_call(c, "planner", "planner.artifacts.put_status", json_pack("{s:s}",
			    "job", art_s(out, "job")), &st, "artifacts put");
			if (rc == 0) {
				json_decref(out);
				out = st;
			}
		}
		if (rc != 0)
			return rc;
		if (strcmp(art_s(out, "state"), "failed") == 0) {
			json_t *e = json_object_get(out, "error");
			rc = cli_fail(jido_err_exit(jido_err_from_name(art_s(e, "code"))),
			    "artifacts put", "%s", art_s(e, "message"));
			json_decref(out);
			return rc;
		}
		json_t *row = json_incref(json_object_get(out, "artifact"));
		json_decref(out);
		out = row;
		rc = c->json ? cli_print_json(out) : (printf("%s v%lld %s %lld bytes (%s)\n",
		    art_s(out, "name"), art_i(out, "version"), art_s(out, "hash"),
		    art_i(out, "size"), art_s(out, "redaction")) < 0 ? CLI_SYS : 0);
	} else if (strcmp(sub, "share") == 0 && npos == 2) {
		json_t *d = json_pack("{s:s,s:s,s:s,s:b}", "run_id", pos[0], "name", pos[1], "ttl",
		    ttl, "once", once);
		if (version > 0)
			json_object_set_new(d, "version", json_integer(version));
		if ((rc = art_call(c, "web", "web.share.create", d, &out, "artifacts share")) != 0)
			return rc;
		rc = c->json ? cli_print_json(out) : (printf("%s\n", art_s(out, "url")) < 0 ?
		    CLI_SYS : 0);
	} else if (strcmp(sub, "links") == 0 && npos <= 1) {
		json_t *d = json_pack("{s:b}", "all", all), *l;
		size_t i;
		if (pos[0] != NULL)
			json_object_set_new(d, "run_id", json_string(pos[0]));
		if ((rc = art_call(c, "web", "web.share.list", d, &out, "artifacts links")) != 0)
			return rc;
		if (c->json)
			rc = cli_print_json(out);
		else {
			json_array_foreach(json_object_get(out, "links"), i, l) {
				time_t e = (time_t)art_i(l, "expires_s");
				char t[32];
				strftime(t, sizeof(t), "%Y-%m-%dT%H:%M:%SZ", gmtime(&e));
				printf("%s %-8s %s/%s v%lld until %s%s uses=%lld\n  %s\n", art_s(l, "id"),
				    art_s(l, "state"), art_s(l, "run_id"), art_s(l, "name"),
				    art_i(l, "version"), t, json_is_true(json_object_get(l, "once")) ?
				    " once" : "", art_i(l, "uses"), art_s(l, "url"));
			}
			rc = fflush(stdout) == 0 ? 0 : CLI_SYS;
		}
	} else if ((strcmp(sub, "revoke") == 0 || strcmp(sub, "unfreeze") == 0) && npos == 1) {
		int rev = strcmp(sub, "revoke") == 0;
		if ((rc = art_call(c, "web", rev ? "web.share.revoke" : "web.guard.unfreeze", rev ?
		    json_pack("{s:s}", "id", pos[0]) : json_pack("{s:s,s:s}", "kind", "link",
		    "subject", pos[0]), &out, rev ? "artifacts revoke" : "artifacts unfreeze")) != 0)
			return rc;
		rc = c->json ? cli_print_json(out) : (printf("%s %s\n", pos[0], rev ? "revoked" :
		    "unfrozen") < 0 ? CLI_SYS : 0);
	} else {
		fputs(art_usage, stderr);
		return CLI_USAGE;
	}
	json_decref(out);
	return rc;
}
