/*
 * Signed commits, as git makes and checks them with gpg.format ssh.
 *
 * A commit that moves a version into a protected stage (mreg.json's
 * "protect") carries an SSH signature in its gpgsig header, made by
 * `ssh-keygen -Y sign -n git` over the commit's bytes without that header:
 * exactly what `git commit -S` makes, so stock `git verify-commit` checks
 * it. The key is the user's, configured the way git reads it:
 * user.signingkey (a path to a key, or "key::<public key>" held by the
 * agent), gpg.format ssh, gpg.ssh.program.
 *
 * A signature is checked as git checks it: `ssh-keygen -Y find-principals`
 * finds who signed in an allowed-signers file (git's
 * gpg.ssh.allowedSignersFile format), `ssh-keygen -Y verify` checks the
 * signature for that principal at the commit's time. The signers file comes
 * from a commit's tree, so it is written to a temporary file in the
 * registry's .git/mreg/ for ssh-keygen to read, and removed.
 *
 * ssh-keygen is the reference implementation of the SSHSIG format; no
 * library in Debian verifies it, and git itself runs ssh-keygen.
 */
#define _GNU_SOURCE
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

typedef struct {
	char *format;	/* gpg.format: "ssh" signs here */
	char *key;	/* user.signingkey */
	char *program;	/* gpg.ssh.program (ssh-keygen) */
} sign_config;

static void config_dispose(sign_config *c)
{
	free(c->format);
	free(c->key);
	free(c->program);
}

static char *config_string(git_config *cfg, const char *name)
{
	git_buf b = GIT_BUF_INIT_CONST(NULL, 0);
	char *s = NULL;
	if (git_config_get_string_buf(&b, cfg, name) == 0)
		s = mreg_strdup(b.ptr);
	git_buf_dispose(&b);
	git_error_clear();
	return s;
}

static int read_config(sign_config *c, mreg_registry *reg)
{
	git_config *cfg = NULL;
	int rc;
	memset(c, 0, sizeof(*c));
	if ((rc = mreg_registry_need_git(reg)) < 0)
		return rc;
	if (git_repository_config_snapshot(&cfg, reg->repo) < 0)
		return mreg_libgit2_error("cannot read the git config of", reg->path);
	c->format = config_string(cfg, "gpg.format");
	c->key = config_string(cfg, "user.signingkey");
	c->program = config_string(cfg, "gpg.ssh.program");
	git_config_free(cfg);
	if (!c->program && !(c->program = mreg_strdup("ssh-keygen")))
		return mreg_error_set(MREG_ERROR, "out of memory");
	return 0;
}

/* A temporary file in .git/mreg/ holding data; *path set (free it, unlink it). */
static int temp_file(char **path, mreg_registry *reg, const char *what, const void *data, size_t len)
{
	int rc = mreg_fs_mkdirs(reg->mregdir);
	char *p = mreg_strfmt("%stmp-%s-XXXXXX", reg->mregdir, what);
	*path = NULL;
	if (rc < 0 || !p) {
		free(p);
		return rc < 0 ? rc : mreg_error_set(MREG_ERROR, "out of memory");
	}
	int fd = mkstemp(p);
	if (fd < 0 || write(fd, data, len) != (ssize_t)len) {
		rc = mreg_error_set(MREG_ERROR, "cannot write a temporary file in '%s'", reg->mregdir);
		if (fd >= 0)
			unlink(p);
		free(p);
		if (fd >= 0)
			close(fd);
		return rc;
	}
	close(fd);
	*path = p;
	return 0;
}

static void temp_remove(char *path)
{
	if (path)
		unlink(path);
	free(path);
}

/* Whether prog can be run: a path that is executable, or a name found on PATH. */
static bool runnable(const char *prog)
{
	if (strchr(prog, '/'))
		return access(prog, X_OK) == 0;
	const char *path = getenv("PATH");
	for (const char *p = path ? path : "/usr/bin:/bin"; *p;) {
		size_t n = strcspn(p, ":");
		char *full = mreg_strfmt("%.*s/%s", (int)n, n ? p : ".", prog);
		bool ok = full && access(full, X_OK) == 0;
		free(full);
		if (ok)
			return true;
		p += n + (p[n] == ':');
	}
	return false;
}

/* ssh-keygen is needed: say so plainly, not as a signature that does not verify. */
static int need_program(const char *prog)
{
	return runnable(prog) ? 0
			      : mreg_error_set(MREG_ERROR, "cannot make or check ssh signatures: '%s' is not installed "
							   "(Debian: openssh-client)", prog);
}

static bool configured(const sign_config *c)
{
	return c->format && !strcmp(c->format, "ssh") && c->key && *c->key;
}

/* data signed as `ssh-keygen -Y sign -n git` signs it with the configured key (c is configured): the armored signature. */
static int sign_buffer(mreg_buf *sig, mreg_registry *reg, const sign_config *c, const char *data)
{
	mreg_buf err = MREG_BUF_INIT;
	char *keyfile = NULL, *literal = NULL;
	int rc = 0;
	const char *key = c->key;
	if (!strncmp(key, "key::", 5) || !strncmp(key, "ssh-", 4)) {
		/* a public key whose private half the agent holds: to a file for -f, signed with -U */
		const char *pub = strncmp(key, "key::", 5) ? key : key + 5;
		if ((rc = temp_file(&literal, reg, "key", pub, strlen(pub))) < 0)
			goto done;
		key = literal;
	} else if (!strncmp(key, "~/", 2)) {
		const char *home = getenv("HOME");
		if (!(keyfile = mreg_strfmt("%s%s", home ? home : "", key + 1))) {
			rc = mreg_error_set(MREG_ERROR, "out of memory");
			goto done;
		}
		key = keyfile;
	}
	char *argv[] = { c->program, "-Y", "sign", "-n", "git", "-f", (char *)key, literal ? "-U" : NULL, NULL };
	mreg_buf_clear(sig);
	if ((rc = need_program(c->program)) < 0 || (rc = mreg_remote_run(sig, &err, NULL, argv, data)) < 0)
		goto done;
	if (strncmp(sig->ptr, "-----BEGIN SSH SIGNATURE-----", 29))
		rc = mreg_error_set(MREG_ERROR, "'%s -Y sign' made no signature with '%s'", c->program, c->key);
done:
	temp_remove(literal);
	free(keyfile);
	mreg_buf_dispose(&err);
	return rc;
}

int mreg_sign_read_file(mreg_buf *out, mreg_registry *reg, const git_oid *tree, const char *path)
{
	git_oid id;
	unsigned mode;
	git_object_t type;
	int rc = mreg_tree_path(&id, &mode, reg, tree, path);
	if (rc != 0)
		return rc;
	if (mode != 0100644)
		return 1;
	if ((rc = mreg_tree_read_object(out, &type, reg, &id)) < 0)
		return rc;
	return type == GIT_OBJECT_BLOB ? 0 : 1;
}

/* "YYYYMMDDHHMMSS" of seconds, local time, as git passes -Overify-time. */
static void verify_time(char out[32], int64_t seconds)
{
	time_t t = (time_t)seconds;
	struct tm tm;
	if (!localtime_r(&t, &tm) || !strftime(out, 32, "%Y%m%d%H%M%S", &tm))
		snprintf(out, 32, "19700101000000");
}

/* mreg_sign_verify with program (gpg.ssh.program) already read. */
static int verify_with(char **principal, mreg_buf *why, mreg_registry *reg, char *program, const char *allowed,
		       size_t alen, const char *sig, const char *data, int64_t when)
{
	char *afile = NULL, *sfile = NULL, opt[64], t[32];
	mreg_buf out = MREG_BUF_INIT, err = MREG_BUF_INIT;
	int rc;
	*principal = NULL;
	mreg_buf_clear(why);
	if ((rc = need_program(program)) < 0 || (rc = temp_file(&afile, reg, "signers", allowed, alen)) < 0 ||
	    (rc = temp_file(&sfile, reg, "sig", sig, strlen(sig))) < 0)
		goto done;
	char *find[] = { program, "-Y", "find-principals", "-f", afile, "-s", sfile, NULL };
	if (mreg_remote_run(&out, &err, NULL, find, NULL) < 0 || !out.size) {
		mreg_error_clear();
		mreg_buf_puts(why, "its key is not among the allowed signers");
		rc = 1;
		goto done;
	}
	char *nl = strchr(out.ptr, '\n');
	if (nl)
		*nl = '\0';
	verify_time(t, when > 0 ? when : (int64_t)time(NULL));
	snprintf(opt, sizeof(opt), "-Overify-time=%s", t);
	char *verify[] = { program, "-Y", "verify", "-f", afile, "-I", out.ptr, "-n", "git", "-s", sfile, opt, NULL };
	mreg_buf_clear(&err);
	if (mreg_remote_run(NULL, &err, NULL, verify, data) < 0) {
		mreg_error_clear();
		mreg_buf_printf(why, "its signature does not verify for '%s'", out.ptr);
		rc = 1;
		goto done;
	}
	if (!(*principal = mreg_strdup(out.ptr)))
		rc = mreg_error_set(MREG_ERROR, "out of memory");
done:
	temp_remove(afile);
	temp_remove(sfile);
	mreg_buf_dispose(&out);
	mreg_buf_dispose(&err);
	return rc;
}

int mreg_sign_verify(char **principal, mreg_buf *why, mreg_registry *reg, const char *allowed, size_t alen,
		     const char *sig, const char *data, int64_t when)
{
	sign_config c;
	int rc = read_config(&c, reg);
	if (rc == 0)
		rc = verify_with(principal, why, reg, c.program, allowed, alen, sig, data, when);
	config_dispose(&c);
	return rc;
}

int mreg_sign_commit(mreg_buf *out, const mreg_signing *s, const char *commit, size_t len)
{
	mreg_buf sig = MREG_BUF_INIT, allowed = MREG_BUF_INIT, why = MREG_BUF_INIT;
	char *who = NULL;
	sign_config c;
	int rc = read_config(&c, s->reg);
	if (rc < 0)
		goto done;
	if (!configured(&c)) {
		rc = mreg_error_set(MREG_EINVALID, "'%s' is a protected stage: its commits must be signed, and no ssh "
				    "signing key is configured (git config gpg.format ssh; git config user.signingkey KEY)",
				    s->stage);
		goto done;
	}
	if ((rc = sign_buffer(&sig, s->reg, &c, commit)) < 0)
		goto done;
	if ((rc = mreg_sign_read_file(&allowed, s->reg, s->tree, s->signers)) < 0)
		goto done;
	if (rc == 1) {
		rc = mreg_error_set(MREG_EINVALID, "'%s' is a protected stage and its signers file '%s' is not in the registry",
				    s->stage, s->signers);
		goto done;
	}
	if ((rc = verify_with(&who, &why, s->reg, c.program, allowed.ptr, allowed.size, sig.ptr, commit, 0)) < 0)
		goto done;
	if (rc == 1) {
		rc = mreg_error_set(MREG_EINVALID, "cannot sign for protected stage '%s': %s in '%s'", s->stage, why.ptr,
				    s->signers);
		goto done;
	}
	rc = mreg_git_commit_sign(out, commit, len, sig.ptr);
done:
	config_dispose(&c);
	free(who);
	mreg_buf_dispose(&sig);
	mreg_buf_dispose(&allowed);
	mreg_buf_dispose(&why);
	return rc;
}
