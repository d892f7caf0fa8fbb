/*
 * secrets.c - `jido secrets put|list|rotate|rm|status|rekey`: the owner's view of the vault.
 * The CLI authenticates as the owner with the owner credential jido-vault keeps in
 * $JIDO_HOME/run/owner.cred (0600; whoever can read it is the owner). A value is never
 * taken from the command line: only from a file or stdin, read into locked memory, sent
 * once, wiped. Values are never printed.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "cli.h"

#define SECRETS_VALUE_MAX 65536

static const char secrets_usage[] =
    "usage: jido secrets put NAME [--scope S] (--from-file F | --from-stdin) [--max-age-days N]\n"
    "       jido secrets list [--scope S] [--json]\n"
    "       jido secrets rotate NAME [--scope S] [--from-file F | --from-stdin] [--grace-s N]\n"
    "       jido secrets rm NAME [--scope S]\n"
    "       jido secrets status [--json]\n"
    "       jido secrets rekey (--key-file F | --passphrase-file F)";


/* Read a value from path ("-" = stdin) into a sodium_malloc'd buffer (*out, caller wipes
 * and frees with sodium_free); one trailing newline is dropped. Returns an exit code. */
static int
secrets_read_value(const char *path, char **out, size_t *len, const char *what)
{
	int fd = strcmp(path, "-") == 0 ? 0 : open(path, O_RDONLY | O_CLOEXEC);
	char *buf;
	size_t got = 0;
	ssize_t n;

	if (fd < 0)
		return cli_fail(errno == ENOENT ? CLI_NOTFOUND : CLI_SYS, what, "cannot read %s: %s",
		    path, strerror(errno));
	if ((buf = sodium_malloc(SECRETS_VALUE_MAX + 2)) == NULL) {
		if (fd != 0)
			close(fd);
		return cli_fail(CLI_SYS, what, "out of locked memory");
	}
	while (got < SECRETS_VALUE_MAX + 1 &&
	    (n = read(fd, buf + got, SECRETS_VALUE_MAX + 1 - got)) > 0)
		got += (size_t)n;
	if (fd != 0)
		close(fd);
	if (got > 0 && buf[got - 1] == '\n')
		got--;
	if (got > 0 && buf[got - 1] == '\r')
		got--;
	buf[got] = '\0';
	if (got == 0 || got > SECRETS_VALUE_MAX) {
		sodium_free(buf);
		return cli_fail(CLI_USAGE, what, "the value must be 1 to %d bytes", SECRETS_VALUE_MAX);
	}
	*out = buf;
	*len = got;
	return 0;
}

/* Send type with data (taken) plus the owner credential; on 0 *r holds an ok reply. A
 * refused or failed request is reported and its exit code returned. */
static int
secrets_call(const struct cli *c, const char *type, json_t *data, struct jido_reply *r,
    const char *what)
{
	char cred[65];
	int rc;

	if ((rc = cli_owner_cred(c, cred, what)) != 0) {
		json_decref(data);
		return rc;
	}
	json_object_set_new(data, "cred", json_string(cred));
	sodium_memzero(cred, sizeof(cred));
	if ((rc = cli_call(c, "vault", type, data, r, what)) != 0)
		return rc;
	if (!r->ok) {
		rc = cli_fail(jido_err_exit(r->err), what, "%s (%s)", r->message ? r->message :
		    jido_strerror(r->err), jido_err_name(r->err));
		jido_reply_free(r);
		return rc;
	}
	return 0;
}

/* Options shared by the subcommands. */
struct secrets_opts {
	const char *name, *scope, *from, *key_file, *pass_file;
	long long max_age_days, grace_s;
	int json;
};

static int
secrets_parse(int argc, char **argv, int want_name, struct secrets_opts *o, const char *what)
{
	memset(o, 0, sizeof(*o));
	o->max_age_days = o->grace_s = -1;
	for (int i = 2; i < argc; i++) {
		const char *a = argv[i];
		char *end;
		if (strcmp(a, "--json") == 0)
			o->json = 1;
		else if (strcmp(a, "--from-stdin") == 0 && o->from == NULL)
			o->from = "-";
		else if (strcmp(a, "--from-file") == 0 && i + 1 < argc && o->from == NULL)
			o->from = argv[++i];
		else if (strcmp(a, "--scope") == 0 && i + 1 < argc)
			o->scope = argv[++i];
		else if (strcmp(a, "--key-file") == 0 && i + 1 < argc)
			o->key_file = argv[++i];
		else if (strcmp(a, "--passphrase-file") == 0 && i + 1 < argc)
			o->pass_file = argv[++i];
		else if ((strcmp(a, "--max-age-days") == 0 || strcmp(a, "--grace-s") == 0) &&
		    i + 1 < argc) {
			long long v = strtoll(argv[i + 1], &end, 10);
			if (*argv[i + 1] == '\0' || *end != '\0' || v < 0 || v > 36500 * 86400LL)
				return cli_fail(CLI_USAGE, what, "%s needs a non-negative number", a);
			*(strcmp(a, "--grace-s") == 0 ? &o->grace_s : &o->max_age_days) = v;
			i++;
		} else if (a[0] != '-' && want_name && o->name == NULL)
			o->name = a;
		else if (strcmp(a, "--value") == 0 || strncmp(a, "--value=", 8) == 0)
			return cli_fail(CLI_USAGE, what, "a value is never accepted on the command "
			    "line: use --from-file F or --from-stdin");
		else
			return cli_fail(CLI_USAGE, what, "unexpected argument '%s'\n%s", a,
			    secrets_usage);
	}
	if (want_name && o->name == NULL)
		return cli_fail(CLI_USAGE, what, "NAME is required\n%s", secrets_usage);
	return 0;
}

/* data {name, scope?} for the named subcommands. */
static json_t *
secrets_named(const struct secrets_opts *o)
{
	json_t *d = json_pack("{s:s}", "name", o->name);

	if (o->scope != NULL)
		json_object_set_new(d, "scope", json_string(o->scope));
	return d;
}

/* put and rotate: the value (if any) goes into data.value, read from a file or stdin. */
static int
secrets_put_rotate(struct cli *c, int argc, char **argv, int rotate)
{
	const char *what = rotate ? "secrets rotate" : "secrets put";
	struct secrets_opts o;
	struct jido_reply r;
	char *value = NULL;
	size_t len = 0;
	json_t *data, *jv;
	int rc;

	if ((rc = secrets_parse(argc, argv, 1, &o, what)) != 0)
		return rc;
	if (!rotate && o.from == NULL)
		return cli_fail(CLI_USAGE, what, "give the value with --from-file F or --from-stdin");
	jido_vault_json_wipe();
	data = secrets_named(&o);
	if (o.from != NULL) {
		if ((rc = secrets_read_value(o.from, &value, &len, what)) != 0) {
			json_decref(data);
			return rc;
		}
		jv = json_stringn(value, len);
		sodium_free(value);
		if (jv == NULL) {
			json_decref(data);
			return cli_fail(CLI_USAGE, what, "the value must be UTF-8 text (hex- or "
			    "base64-encode binary keys)");
		}
		json_object_set_new(data, "value", jv);
	}
	if (o.max_age_days >= 0 && !rotate)
		json_object_set_new(data, "max_age_s", json_integer(o.max_age_days * 86400));
	if (o.grace_s >= 0 && rotate)
		json_object_set_new(data, "grace_s", json_integer(o.grace_s));
	if ((rc = secrets_call(c, rotate ? "vault.rotate" : "vault.put", data, &r, what)) != 0)
		return rc;
	if (c->json || o.json)
		rc = cli_print_json(r.data);
	else if (rotate)
		printf("%s (%s): version %lld is current; version %lld answers until %s\n", o.name,
		    json_string_value(json_object_get(r.data, "scope")),
		    (long long)json_integer_value(json_object_get(r.data, "version")),
		    (long long)json_integer_value(json_object_get(r.data, "previous_version")),
		    json_string_value(json_object_get(r.data, "previous_valid_until")));
	else
		printf("%s (%s): stored as version 1\n", o.name,
		    json_string_value(json_object_get(r.data, "scope")));
	jido_reply_free(&r);
	return rc != 0 ? rc : fflush(stdout) == 0 ? 0 : CLI_SYS;
}

static int
secrets_list(struct cli *c, int argc, char **argv)
{
	struct secrets_opts o;
	struct jido_reply r;
	json_t *data = json_object(), *it;
	size_t i;
	int rc;

	if ((rc = secrets_parse(argc, argv, 0, &o, "secrets list")) != 0) {
		json_decref(data);
		return rc;
	}
	if (o.scope != NULL)
		json_object_set_new(data, "scope", json_string(o.scope));
	if ((rc = secrets_call(c, "vault.list", data, &r, "secrets list")) != 0)
		return rc;
	if (c->json || o.json)
		rc = cli_print_json(r.data);
	else {
		printf("%-32s %-20s %7s  %-20s %s\n", "NAME", "SCOPE", "VERSION", "ROTATED", "STATE");
		json_array_foreach(json_object_get(r.data, "secrets"), i, it)
			printf("%-32s %-20s %7lld  %-20s %s\n",
			    json_string_value(json_object_get(it, "name")),
			    json_string_value(json_object_get(it, "scope")),
			    (long long)json_integer_value(json_object_get(it, "version")),
			    json_string_value(json_object_get(it, "rotated_at")),
			    json_is_true(json_object_get(it, "expired")) ? "expired" :
			    json_is_true(json_object_get(it, "due")) ? "due for rotation" : "ok");
	}
	jido_reply_free(&r);
	return rc != 0 ? rc : fflush(stdout) == 0 ? 0 : CLI_SYS;
}

static int
secrets_rm(struct cli *c, int argc, char **argv)
{
	struct secrets_opts o;
	struct jido_reply r;
	int rc;

	if ((rc = secrets_parse(argc, argv, 1, &o, "secrets rm")) != 0)
		return rc;
	if ((rc = secrets_call(c, "vault.delete", secrets_named(&o), &r, "secrets rm")) != 0)
		return rc;
	if (c->json || o.json)
		rc = cli_print_json(r.data);
	else
		printf("%s (%s): deleted (%lld versions)\n", o.name,
		    json_string_value(json_object_get(r.data, "scope")),
		    (long long)json_integer_value(json_object_get(r.data, "deleted_versions")));
	jido_reply_free(&r);
	return rc != 0 ? rc : fflush(stdout) == 0 ? 0 : CLI_SYS;
}

static int
secrets_status(struct cli *c, int argc, char **argv)
{
	struct secrets_opts o;
	struct jido_reply r;
	json_t *it;
	size_t i;
	int rc;

	if ((rc = secrets_parse(argc, argv, 0, &o, "secrets status")) != 0)
		return rc;
	if ((rc = secrets_call(c, "vault.status", json_object(), &r, "secrets status")) != 0)
		return rc;
	if (c->json || o.json)
		rc = cli_print_json(r.data);
	else {
		printf("vault: %s (%s), %lld secrets, %lld versions, grace %llds\n",
		    json_string_value(json_object_get(r.data, "state")),
		    json_string_value(json_object_get(r.data, "key")),
		    (long long)json_integer_value(json_object_get(r.data, "secrets")),
		    (long long)json_integer_value(json_object_get(r.data, "versions")),
		    (long long)json_integer_value(json_object_get(r.data, "grace_s")));
		json_array_foreach(json_object_get(r.data, "due"), i, it)
			printf("due for rotation: %s (%s), rotated %s\n",
			    json_string_value(json_object_get(it, "name")),
			    json_string_value(json_object_get(it, "scope")),
			    json_string_value(json_object_get(it, "rotated_at")));
	}
	jido_reply_free(&r);
	return rc != 0 ? rc : fflush(stdout) == 0 ? 0 : CLI_SYS;
}

static int
secrets_rekey(struct cli *c, int argc, char **argv)
{
	struct secrets_opts o;
	struct jido_reply r;
	char abs[4096];
	int rc;

	if ((rc = secrets_parse(argc, argv, 0, &o, "secrets rekey")) != 0)
		return rc;
	if ((o.key_file == NULL) == (o.pass_file == NULL))
		return cli_fail(CLI_USAGE, "secrets rekey", "give exactly one of --key-file F and "
		    "--passphrase-file F");
	if (jido_abspath(o.key_file ? o.key_file : o.pass_file, abs, sizeof(abs)) != 0)
		return cli_fail(CLI_USAGE, "secrets rekey", "path too long");
	if ((rc = secrets_call(c, "vault.rekey", json_pack("{s:s}", o.key_file ?
	    "new_key_file" : "new_passphrase_file", abs), &r, "secrets rekey")) != 0)
		return rc;
	if (c->json || o.json)
		rc = cli_print_json(r.data);
	else
		printf("vault rekeyed (%s, %lld data keys rewrapped): %s\n",
		    json_string_value(json_object_get(r.data, "key")),
		    (long long)json_integer_value(json_object_get(r.data, "rewrapped")),
		    json_string_value(json_object_get(r.data, "next")));
	jido_reply_free(&r);
	return rc != 0 ? rc : fflush(stdout) == 0 ? 0 : CLI_SYS;
}

int
cli_secrets(struct cli *c, int argc, char **argv)
{
	if (argc < 2)
		return cli_fail(CLI_USAGE, "secrets", "a subcommand is required\n%s", secrets_usage);
	if (strcmp(argv[1], "put") == 0)
		return secrets_put_rotate(c, argc, argv, 0);
	if (strcmp(argv[1], "rotate") == 0)
		return secrets_put_rotate(c, argc, argv, 1);
	if (strcmp(argv[1], "list") == 0)
		return secrets_list(c, argc, argv);
	if (strcmp(argv[1], "rm") == 0)
		return secrets_rm(c, argc, argv);
	if (strcmp(argv[1], "status") == 0)
		return secrets_status(c, argc, argv);
	if (strcmp(argv[1], "rekey") == 0)
		return secrets_rekey(c, argc, argv);
	return cli_fail(CLI_USAGE, "secrets", "unknown subcommand '%s'\n%s", argv[1],
	    secrets_usage);
}
