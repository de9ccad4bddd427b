/*
 * Talking to other nodes: git remotes through libgit2, large files through
 * git-lfs. Nothing home-made on the wire.
 *
 * A fetch downloads the objects of the remote's branch and moves no ref:
 * sync.c checks what came before anything local changes, then moves the
 * branch and the remote-tracking ref itself. A push checks, on the same
 * connection that sends the update, that the remote's branch is still what
 * was merged (the server compares the old value it is sent, so nothing the
 * remote gained meanwhile is overwritten), and reads the per-ref status:
 * libgit2 returns 0 when the server refuses an update, so the status and
 * the server's "remote:" lines are what say a hook refused it.
 *
 * Credentials: for ssh the agent, then the key git config mreg.sshKey names
 * (its .pub beside it), host keys checked against mreg.sshKnownHosts (else
 * ~/.ssh/known_hosts; libgit2 1.5 checks none itself); for http(s) the
 * user and password in the URL, then git's credential helpers (`git
 * credential fill`). Large files move with git-lfs, run as a command: any
 * LFS server works, and path and file:// remotes need none.
 */
#define _GNU_SOURCE
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <poll.h>
#include <signal.h>
#include <sys/prctl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

/* ---- commands run: git credential, git lfs ----------------------------- */

/*
 * argv run in dir with input on its standard input; its standard output
 * into out, its standard error into err (either may be NULL). 0 when it
 * exits 0; MREG_ERROR with err's last line otherwise.
 */
int mreg_remote_run(mreg_buf *out, mreg_buf *err, const char *dir, char *const argv[], const char *input)
{
	int in[2] = { -1, -1 }, o[2] = { -1, -1 }, e[2] = { -1, -1 }, status = 0, rc = 0;
	pid_t pid, parent = getpid();
	if (pipe2(in, O_CLOEXEC) < 0 || pipe2(o, O_CLOEXEC) < 0 || pipe2(e, O_CLOEXEC) < 0) {
		rc = mreg_error_set(MREG_ERROR, "cannot run '%s': %s", argv[0], strerror(errno));
		goto done;
	}
	/*
	 * fork, not posix_spawn: the child dies with mreg (PR_SET_PDEATHSIG), so
	 * a sync killed half-way leaves no git fetch running on, whose
	 * temporary pack mreg gc could not tell from litter.
	 */
	int sp = 0;
	if ((pid = fork()) == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		if (getppid() != parent)
			_exit(127);
		if (dup2(in[0], 0) < 0 || dup2(o[1], 1) < 0 || dup2(e[1], 2) < 0 || (dir && chdir(dir) < 0))
			_exit(127);
		execvp(argv[0], argv);
		_exit(127);
	}
	if (pid < 0)
		sp = errno;
	close(in[0]);
	close(o[1]);
	close(e[1]);
	in[0] = o[1] = e[1] = -1;
	if (sp != 0) {
		rc = mreg_error_set(MREG_ERROR, "cannot run '%s': %s", argv[0], strerror(sp));
		goto done;
	}
	signal(SIGPIPE, SIG_IGN);
	if (input && write(in[1], input, strlen(input)) < 0)
		(void)0;	/* it may not read: its exit says what went wrong */
	close(in[1]);
	in[1] = -1;
	struct pollfd p[2] = { { o[0], POLLIN, 0 }, { e[0], POLLIN, 0 } };
	mreg_buf *to[2] = { out, err };
	for (int open = 2; open;) {
		if (poll(p, 2, -1) < 0 && errno != EINTR)
			break;
		for (int i = 0; i < 2; i++) {
			if (p[i].fd < 0 || !p[i].revents)
				continue;
			char buf[4096];
			ssize_t r = read(p[i].fd, buf, sizeof(buf));
			if (r > 0 && to[i])
				mreg_buf_put(to[i], buf, (size_t)r);
			if (r == 0 || (r < 0 && errno != EINTR)) {
				close(p[i].fd);
				p[i].fd = -1;
				open--;
			}
		}
	}
	o[0] = e[0] = -1;
	while (waitpid(pid, &status, 0) < 0 && errno == EINTR)
		;
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		const char *last = "";
		if (err && err->size) {
			while (err->size && (err->ptr[err->size - 1] == '\n' || err->ptr[err->size - 1] == '\r'))
				err->ptr[--err->size] = '\0';
			const char *nl = strrchr(err->ptr, '\n');
			last = nl ? nl + 1 : err->ptr;
		}
		rc = mreg_error_set(MREG_ERROR, "'%s %s' failed%s%s", argv[0], argv[1] ? argv[1] : "", *last ? ": " : "", last);
	}
done:
	for (int i = 0; i < 2; i++) {
		if (in[i] >= 0)
			close(in[i]);
		if (o[i] >= 0)
			close(o[i]);
		if (e[i] >= 0)
			close(e[i]);
	}
	return rc;
}

/* ---- callbacks --------------------------------------------------------- */

typedef struct {
	mreg_registry *reg;
	const char *name;
	char *url;
	int ssh_tries, http_tries;
	mreg_buf said;		/* the server's "remote:" lines */
	char *refused;		/* a ref's status from the server */
	char *problem;		/* what a callback found wrong, for the message */
} link_ctx;

static char *config_string(mreg_registry *reg, const char *key)
{
	git_config *cfg = NULL;
	git_buf b = GIT_BUF_INIT;
	char *s = NULL;
	if (git_repository_config_snapshot(&cfg, reg->repo) == 0 && git_config_get_string_buf(&b, cfg, key) == 0)
		s = mreg_strdup(b.ptr);
	git_buf_dispose(&b);
	git_config_free(cfg);
	git_error_clear();
	return s;
}

static char *expand_home(const char *path)
{
	const char *home = getenv("HOME");
	if (path[0] == '~' && path[1] == '/' && home)
		return mreg_strfmt("%s%s", home, path + 1);
	return mreg_strdup(path);
}

/* A value of `git credential fill`'s output ("key=value" lines). */
static char *credential_value(const char *out, const char *key)
{
	size_t k = strlen(key);
	for (const char *p = out; p && *p;) {
		const char *nl = strchr(p, '\n');
		size_t n = nl ? (size_t)(nl - p) : strlen(p);
		if (n > k && !strncmp(p, key, k) && p[k] == '=') {
			char *v = malloc(n - k);
			if (v) {
				memcpy(v, p + k + 1, n - k - 1);
				v[n - k - 1] = '\0';
			}
			return v;
		}
		p = nl ? nl + 1 : NULL;
	}
	return NULL;
}

static int http_credential(git_credential **out, link_ctx *c, const char *url, const char *user)
{
	mreg_buf o = MREG_BUF_INIT, e = MREG_BUF_INIT;
	char *input = user ? mreg_strfmt("url=%s\nusername=%s\n\n", url, user) : mreg_strfmt("url=%s\n\n", url);
	char *argv[] = { "git", "credential", "fill", NULL };
	int rc = -1;
	/* no prompt on a terminal: a sync runs unattended */
	setenv("GIT_TERMINAL_PROMPT", "0", 1);
	if (input && mreg_remote_run(&o, &e, c->reg->workdir, argv, input) == 0) {
		char *u = credential_value(o.ptr, "username"), *p = credential_value(o.ptr, "password");
		if (u && p)
			rc = git_credential_userpass_plaintext_new(out, u, p);
		free(u);
		free(p);
	}
	mreg_error_clear();
	if (rc < 0 && !c->problem)
		c->problem = mreg_strfmt("no credentials for %s (put them in the URL or a git credential helper)", url);
	free(input);
	mreg_buf_dispose(&o);
	mreg_buf_dispose(&e);
	return rc;
}

static int credentials(git_credential **out, const char *url, const char *user, unsigned int allowed, void *payload)
{
	link_ctx *c = payload;
	const char *name = user && *user ? user : "git";
	if (allowed & GIT_CREDENTIAL_USERNAME)
		return git_credential_username_new(out, name);
	if (allowed & GIT_CREDENTIAL_SSH_KEY) {
		c->ssh_tries++;
		if (c->ssh_tries == 1 && getenv("SSH_AUTH_SOCK"))
			return git_credential_ssh_key_from_agent(out, name);
		char *key = config_string(c->reg, "mreg.sshKey");
		if (c->ssh_tries <= 2 && key) {
			char *priv = expand_home(key), *pub = priv ? mreg_strfmt("%s.pub", priv) : NULL;
			if (priv && access(priv, R_OK) < 0) {
				if (!c->problem)
					c->problem = mreg_strfmt("cannot read the ssh key '%s' (git config mreg.sshKey): %s", priv,
								 strerror(errno));
				free(priv);
				free(pub);
				free(key);
				return GIT_EAUTH;
			}
			int rc = pub ? git_credential_ssh_key_new(out, name, access(pub, R_OK) == 0 ? pub : NULL, priv, NULL) : -1;
			free(priv);
			free(pub);
			free(key);
			c->ssh_tries = 3;
			return rc;
		}
		free(key);
		if (!c->problem)
			c->problem = mreg_strfmt("the ssh server refused the key%s (ssh agent, git config mreg.sshKey)",
						 c->ssh_tries > 1 ? "s offered" : "");
		return GIT_EAUTH;
	}
	if (allowed & GIT_CREDENTIAL_USERPASS_PLAINTEXT) {
		if (c->http_tries++ == 0)
			return http_credential(out, c, url, user);
		if (!c->problem)
			c->problem = mreg_strfmt("the server refused the credentials for %s", url);
		return GIT_EAUTH;
	}
	return GIT_PASSTHROUGH;
}

/* The host pattern of a known_hosts line matches host (port 22) or [host]:port. */
static bool host_matches(const char *pat, size_t n, const char *host, int port)
{
	char want[300];
	if (port && port != 22)
		snprintf(want, sizeof(want), "[%s]:%d", host, port);
	else
		snprintf(want, sizeof(want), "%s", host);
	if (n > 3 && !strncmp(pat, "|1|", 3)) {
		/* hashed: |1|base64(salt)|base64(HMAC-SHA1(salt, host)) */
		const char *bar = memchr(pat + 3, '|', n - 3);
		unsigned char salt[64], mac[64], got[EVP_MAX_MD_SIZE];
		unsigned int glen = 0;
		if (!bar || bar - (pat + 3) > 60 || pat + n - bar - 1 > 60)
			return false;
		char s64[64], m64[64];
		snprintf(s64, sizeof(s64), "%.*s", (int)(bar - pat - 3), pat + 3);
		snprintf(m64, sizeof(m64), "%.*s", (int)(pat + n - bar - 1), bar + 1);
		int sl = EVP_DecodeBlock(salt, (unsigned char *)s64, (int)strlen(s64));
		int ml = EVP_DecodeBlock(mac, (unsigned char *)m64, (int)strlen(m64));
		if (sl < 20 || ml < 20)
			return false;
		HMAC(EVP_sha1(), salt, 20, (unsigned char *)want, strlen(want), got, &glen);
		return glen == 20 && !memcmp(got, mac, 20);
	}
	for (const char *p = pat, *end = pat + n; p < end;) {
		const char *comma = memchr(p, ',', (size_t)(end - p));
		size_t k = comma ? (size_t)(comma - p) : (size_t)(end - p);
		if (k == strlen(want) && !strncmp(p, want, k))
			return true;
		p += k + 1;
	}
	return false;
}

/* 1 the key is known for host, 0 host is known with another key or not at all, <0 on error */
static int known_host(const char *file, const char *host, int port, const unsigned char *key, size_t keylen,
		      bool *host_seen)
{
	mreg_buf b = MREG_BUF_INIT;
	int found = 0;
	*host_seen = false;
	if (mreg_fs_read(&b, file, 1 << 20) < 0) {
		mreg_error_clear();
		return 0;
	}
	for (char *line = b.ptr; line && *line && !found;) {
		char *nl = strchr(line, '\n');
		if (nl)
			*nl = '\0';
		char *hosts = line + strspn(line, " \t");
		if (*hosts && *hosts != '#' && *hosts != '@') {
			size_t hn = strcspn(hosts, " \t");
			char *type = hosts + hn + strspn(hosts + hn, " \t");
			char *k64 = type + strcspn(type, " \t");
			k64 += strspn(k64, " \t");
			size_t kn = strcspn(k64, " \t\r");
			if (host_matches(hosts, hn, host, port) && kn && kn < 4096) {
				unsigned char *raw = malloc(kn);
				char *enc = strndup(k64, kn);
				int rl = raw && enc ? EVP_DecodeBlock(raw, (unsigned char *)enc, (int)kn) : -1;
				/* EVP_DecodeBlock counts the padding as zero bytes */
				while (rl > 0 && kn && enc[--kn] == '=')
					rl--;
				*host_seen = true;
				found = rl >= 0 && (size_t)rl == keylen && !memcmp(raw, key, keylen);
				free(raw);
				free(enc);
			}
		}
		line = nl ? nl + 1 : NULL;
	}
	mreg_buf_dispose(&b);
	return found;
}

/* The port of an ssh URL (0 when none is given). */
static int url_port(const char *url)
{
	const char *p = strstr(url, "://");
	if (!p)
		return 0;
	p += 3;
	const char *at = strchr(p, '@'), *slash = strchr(p, '/');
	if (at && (!slash || at < slash))
		p = at + 1;
	if (*p == '[')
		p = strchr(p, ']') ? strchr(p, ']') + 1 : p;
	else
		p += strcspn(p, ":/");
	return *p == ':' ? atoi(p + 1) : 0;
}

static int certificate_check(git_cert *cert, int valid, const char *host, void *payload)
{
	link_ctx *c = payload;
	if (cert->cert_type != GIT_CERT_HOSTKEY_LIBSSH2)
		return valid ? 0 : GIT_PASSTHROUGH;	/* TLS: libgit2 checks against the system's CAs */
	const git_cert_hostkey *hk = (const git_cert_hostkey *)cert;
	if (!(hk->type & GIT_CERT_SSH_RAW)) {
		c->problem = mreg_strfmt("cannot check the host key of '%s'", host);
		return GIT_ECERTIFICATE;
	}
	char *file = config_string(c->reg, "mreg.sshKnownHosts");
	char *path = file ? expand_home(file) : expand_home("~/.ssh/known_hosts");
	bool seen = false;
	int port = url_port(c->url);
	int ok = path ? known_host(path, host, port, (const unsigned char *)hk->hostkey, hk->hostkey_len, &seen) : 0;
	if (ok != 1 && !c->problem)
		c->problem = seen ? mreg_strfmt("the host key of '%s' is not the one %s holds: refusing to connect", host, path)
				  : mreg_strfmt("host '%s' is not in %s (add its key, or name a file in git config mreg.sshKnownHosts)",
						host, path);
	free(file);
	free(path);
	return ok == 1 ? 0 : GIT_ECERTIFICATE;
}

static int sideband(const char *str, int len, void *payload)
{
	link_ctx *c = payload;
	if (c->said.size < 8192)
		mreg_buf_put(&c->said, str, (size_t)len);
	return 0;
}

static int push_status(const char *ref, const char *status, void *payload)
{
	link_ctx *c = payload;
	(void)ref;
	if (status && !c->refused)
		c->refused = mreg_strdup(status);
	return 0;
}

static void callbacks_init(git_remote_callbacks *cb, link_ctx *c)
{
	git_remote_init_callbacks(cb, GIT_REMOTE_CALLBACKS_VERSION);
	cb->credentials = credentials;
	cb->certificate_check = certificate_check;
	cb->sideband_progress = sideband;
	cb->push_update_reference = push_status;
	cb->payload = c;
}

static void ctx_dispose(link_ctx *c)
{
	free(c->url);
	mreg_buf_dispose(&c->said);
	free(c->refused);
	free(c->problem);
}

/* The server's last "remote:" line, trimmed, or "". */
static const char *last_said(link_ctx *c, char *out, size_t n)
{
	out[0] = '\0';
	if (!c->said.size || mreg_buf_putc(&c->said, '\0') < 0)
		return out;
	char *s = c->said.ptr;
	for (char *p = s; *p; p++)
		if (*p == '\r')
			*p = '\n';
	size_t len = strlen(s);
	while (len && (s[len - 1] == '\n' || s[len - 1] == ' '))
		s[--len] = '\0';
	/* an mreg hook's first reason ("mreg: ..."), else the server's last words */
	char *why = !strncmp(s, "mreg: ", 6) ? s : strstr(s, "\nmreg: ");
	if (why) {
		why += *why == '\n';
		snprintf(out, n, "%.*s", (int)strcspn(why + 6, "\n"), why + 6);
		return out;
	}
	char *nl = strrchr(s, '\n');
	snprintf(out, n, "%s", nl ? nl + 1 : s);
	return out;
}

/* libgit2's failure as our message, with what a callback found when it is the better word. */
static int link_error(link_ctx *c, const char *what)
{
	const git_error *e = git_error_last();
	int rc;
	if (c->problem)
		rc = mreg_error_set(MREG_ERROR, "cannot %s '%s': %s", what, c->name, c->problem);
	else
		rc = mreg_error_set(MREG_ERROR, "cannot %s '%s': %s", what, c->name, e && e->message ? e->message : "failed");
	git_error_clear();
	return rc;
}

/* The branch the remote's HEAD names (refs/heads/...), into out; false when it names none. */
static bool head_target(char *out, size_t n, git_remote *r)
{
	const git_remote_head **heads = NULL;
	size_t nh = 0;
	if (git_remote_ls(&heads, &nh, r) < 0)
		return false;
	for (size_t i = 0; i < nh; i++)
		if (!strcmp(heads[i]->name, "HEAD") && heads[i]->symref_target &&
		    !strncmp(heads[i]->symref_target, "refs/heads/", 11) && strlen(heads[i]->symref_target) < n) {
			snprintf(out, n, "%s", heads[i]->symref_target);
			return true;
		}
	return false;
}

/* A URL libgit2 serves with its local transport: a path, or file:// (scp-like host:path is ssh). */
static bool local_url(const char *url)
{
	if (!strncmp(url, "file://", 7))
		return true;
	if (strstr(url, "://"))
		return false;
	const char *colon = strchr(url, ':'), *slash = strchr(url, '/');
	return !colon || (slash && slash < colon);
}

static int open_remote(git_remote **out, link_ctx *c, mreg_registry *reg, const char *name)
{
	memset(c, 0, sizeof(*c));
	c->reg = reg;
	c->name = name;
	int rc;
	if ((rc = mreg_registry_need_git(reg)) < 0 || (rc = mreg_git_net_init()) < 0)
		return rc < 0 && !mreg_error_last()[0] ? mreg_libgit2_error("cannot start the network for", name) : rc;
	if (git_remote_lookup(out, reg->repo, name) < 0) {
		git_error_clear();
		return mreg_error_set(MREG_ENOTFOUND, "no remote '%s' (see mreg remote list)", name);
	}
	c->url = mreg_strdup(git_remote_url(*out) ? git_remote_url(*out) : "");
	struct stat sb;
	const char *path = c->url && !strncmp(c->url, "file://", 7) ? c->url + 7 : c->url;
	if (path && local_url(c->url) && stat(path, &sb) < 0)
		return mreg_error_set(MREG_ERROR, "cannot reach '%s': '%s' does not exist", name, path);
	return 0;
}

/* The remote's branch among the heads it advertises; false when it has none (an empty repository). */
static bool advertised(git_oid *out, git_remote *r, const char *branch)
{
	const git_remote_head **heads = NULL;
	size_t n = 0;
	if (git_remote_ls(&heads, &n, r) < 0)
		return false;
	for (size_t i = 0; i < n; i++)
		if (!strcmp(heads[i]->name, branch)) {
			*out = heads[i]->oid;
			return true;
		}
	return false;
}


/*
 * The objects of a repository on this machine, by stock git: libgit2's
 * local transport builds its pack anew, computing deltas (about a second
 * for 10,000 events), where git's upload-pack sends what it has (50 ms).
 * By URL, not by the remote's name: git would move the remote-tracking ref
 * on its own, before the check. No FETCH_HEAD, no tags, no automatic gc.
 */
static int fetch_local(mreg_registry *reg, const char *name, const char *url, const char *branch, const git_oid *tip)
{
	mreg_buf err = MREG_BUF_INIT;
	char *argv[] = { "git", "-c", "gc.auto=0", "-c", "maintenance.auto=false", "fetch", "--quiet", "--no-tags",
			 "--no-write-fetch-head", "--no-recurse-submodules", (char *)url, (char *)branch, NULL };
	int rc = mreg_remote_run(NULL, &err, reg->workdir ? reg->workdir : reg->gitdir, argv, NULL);
	mreg_buf_dispose(&err);
	if (rc < 0)
		return mreg_error_set(MREG_ERROR, "cannot fetch from '%s': %s", name, mreg_error_last());
	git_odb *odb = NULL;
	bool have = git_repository_odb(&odb, reg->repo) == 0 && git_odb_refresh(odb) == 0 && git_odb_exists(odb, tip);
	git_odb_free(odb);
	git_error_clear();
	if (!have)
		return mreg_error_set(MREG_ERROR, "cannot fetch from '%s': its %s did not come", name, branch);
	return 0;
}

int mreg_remote_fetch(git_oid *tip, char **url, char there[256], mreg_registry *reg, const char *name, const char *branch)
{
	git_remote *r = NULL;
	link_ctx c;
	git_remote_callbacks cb;
	int fetch_lock = -1;
	int rc = open_remote(&r, &c, reg, name);
	if (rc < 0)
		goto done;
	callbacks_init(&cb, &c);
	if (git_remote_connect(r, GIT_DIRECTION_FETCH, &cb, NULL, NULL) < 0) {
		rc = link_error(&c, "reach");
		goto done;
	}
	snprintf(there, 256, "%s", branch);
	if (!advertised(tip, r, branch)) {
		/* a registry kept on another branch there: the one its HEAD names */
		if (!head_target(there, 256, r) || !advertised(tip, r, there)) {
			snprintf(there, 256, "%s", branch);	/* none: a push makes ours there */
			rc = 1;
			goto done;
		}
		branch = there;
	}
	git_odb *odb = NULL;
	bool have = git_repository_odb(&odb, reg->repo) == 0 && git_odb_exists(odb, tip);
	git_odb_free(odb);
	if (!have) {
		/* shared: fetches run side by side; mreg gc sweeps their temporary packs only when none does */
		char *lock = mreg_strfmt("%sfetch.lock", reg->mregdir);
		fetch_lock = lock ? open(lock, O_RDWR | O_CREAT | O_CLOEXEC, 0644) : -1;
		free(lock);
		if (fetch_lock >= 0)
			flock(fetch_lock, LOCK_SH);
		if (local_url(c.url)) {
			if ((rc = fetch_local(reg, name, c.url, branch, tip)) < 0)
				goto done;
		} else {
			git_fetch_options fo;
			git_fetch_options_init(&fo, GIT_FETCH_OPTIONS_VERSION);
			fo.callbacks = cb;
			fo.download_tags = GIT_REMOTE_DOWNLOAD_TAGS_NONE;
			fo.update_fetchhead = 0;
			char *spec[] = { (char *)branch };
			git_strarray specs = { spec, 1 };
			if (git_remote_download(r, &specs, &fo) < 0) {
				rc = link_error(&c, "fetch from");
				goto done;
			}
		}
	}
	rc = 0;
done:
	if (fetch_lock >= 0)
		close(fetch_lock);
	if (url && c.url) {
		*url = c.url;
		c.url = NULL;
	}
	if (r)
		git_remote_disconnect(r);
	git_remote_free(r);
	ctx_dispose(&c);
	return rc;
}

int mreg_remote_head_branch(char *out, size_t n, mreg_registry *reg, const char *name)
{
	git_remote *r = NULL;
	link_ctx c;
	git_remote_callbacks cb;
	int rc = open_remote(&r, &c, reg, name);
	out[0] = '\0';
	if (rc < 0)
		goto done;
	callbacks_init(&cb, &c);
	if (git_remote_connect(r, GIT_DIRECTION_FETCH, &cb, NULL, NULL) < 0) {
		rc = link_error(&c, "reach");
		goto done;
	}
	rc = head_target(out, n, r) ? 0 : 1;
done:
	if (r)
		git_remote_disconnect(r);
	git_remote_free(r);
	ctx_dispose(&c);
	return rc;
}


/*
 * A push to a repository on this machine, by stock git. libgit2's local
 * transport moves the remote's branch without comparing its old value (a
 * push racing another would drop the other's commits) and runs no hooks;
 * git push with --force-with-lease=<branch>:<expect> has receive-pack
 * move it only from the value this sync merged (absent: only if it still
 * is), under its lock, and runs the remote's hooks as a server would.
 */
static int push_local(mreg_registry *reg, const char *name, const char *branch, const char *there, const git_oid *expect)
{
	mreg_buf out = MREG_BUF_INIT, err = MREG_BUF_INIT;
	char hex[41] = "";
	if (expect)
		git_oid_tostr(hex, sizeof(hex), expect);
	char *lease = mreg_strfmt("--force-with-lease=%s:%s", there, hex), *spec = mreg_strfmt("%s:%s", branch, there);
	char *argv[] = { "git", "push", "--porcelain", "--no-verify", lease, (char *)name, spec, NULL };
	int rc = lease && spec ? mreg_remote_run(&out, &err, reg->workdir ? reg->workdir : reg->gitdir, argv, NULL)
			       : mreg_error_set(MREG_ERROR, "out of memory");
	if (rc < 0) {
		/* the porcelain line of the ref ("!<tab>src:dst<tab>[rejected] (why)"), else git's last words */
		const char *bang = out.size ? strstr(out.ptr, "!\t") : NULL;
		char why[512] = "", said[512] = "";
		bool have_reason = false;
		if (bang) {
			const char *t = strchr(bang + 2, '\t');
			snprintf(why, sizeof(why), "%.*s", t ? (int)strcspn(t + 1, "\n") : 0, t ? t + 1 : "");
		}
		for (const char *p = err.ptr; p && *p;) {
			const char *nl = strchr(p, '\n');
			long n = nl ? nl - p : (long)strlen(p);
			while (n > 8 && (p[n - 1] == ' ' || p[n - 1] == '\r'))
				n--;
			/* an mreg hook's first reason ("remote: mreg: ..."), else the server's last words */
			bool reason = n > 14 && !strncmp(p, "remote: mreg: ", 14);
			if (reason && !have_reason)
				snprintf(said, sizeof(said), "%.*s", (int)(n - 14), p + 14);
			else if (!have_reason && !strncmp(p, "remote: ", 8) && n > 8 && strncmp(p + 8, "hint:", 5))
				snprintf(said, sizeof(said), "%.*s", (int)(n - 8), p + 8);
			have_reason |= reason;
			p = nl ? nl + 1 : NULL;
		}
		char *msg = mreg_strdup(mreg_error_last());
		if (strstr(why, "stale info") || strstr(why, "fetch first") || strstr(said, "cannot lock ref") ||
		    strstr(why, "cannot lock ref"))
			rc = mreg_error_set(MREG_ECONFLICT, "cannot push to '%s': its %s moved since the fetch; sync again", name,
					    branch);
		else if (why[0])
			rc = mreg_error_set(MREG_ERROR, "'%s' refused the push of %s: %s%s%s", name, branch, why,
					    said[0] ? ": " : "", said);
		else
			rc = mreg_error_set(MREG_ERROR, "cannot push to '%s': %s", name, msg ? msg : "git push failed");
		free(msg);
	}
	free(lease);
	free(spec);
	mreg_buf_dispose(&out);
	mreg_buf_dispose(&err);
	return rc;
}

int mreg_remote_push(mreg_registry *reg, const char *name, const char *branch, const char *there, const git_oid *expect)
{
	git_remote *r = NULL;
	link_ctx c;
	git_remote_callbacks cb;
	git_oid at;
	char said[512];
	int rc = open_remote(&r, &c, reg, name);
	if (rc < 0)
		goto done;
	if (local_url(c.url)) {
		rc = push_local(reg, name, branch, there, expect);
		goto done;
	}
	callbacks_init(&cb, &c);
	if (git_remote_connect(r, GIT_DIRECTION_PUSH, &cb, NULL, NULL) < 0) {
		rc = link_error(&c, "reach");
		goto done;
	}
	bool has = advertised(&at, r, there);
	if (has != (expect != NULL) || (has && !git_oid_equal(&at, expect))) {
		rc = mreg_error_set(MREG_ECONFLICT, "cannot push to '%s': its %s moved since the fetch; sync again", name,
				    there);
		goto done;
	}
	git_push_options po;
	git_push_options_init(&po, GIT_PUSH_OPTIONS_VERSION);
	po.callbacks = cb;
	char *spec = mreg_strfmt("%s:%s", branch, there);
	git_strarray specs = { &spec, 1 };
	int up = spec ? git_remote_upload(r, &specs, &po) : -1;
	if (up == 0)
		up = git_remote_update_tips(r, &cb, 0, GIT_REMOTE_DOWNLOAD_TAGS_UNSPECIFIED, NULL);
	free(spec);
	if (up < 0 && !c.refused)
		rc = link_error(&c, "push to");
	else if (c.refused)
		rc = mreg_error_set(MREG_ERROR, "'%s' refused the push of %s: %s%s%s", name, branch, c.refused,
				    last_said(&c, said, sizeof(said))[0] ? ": " : "", said);
done:
	if (r)
		git_remote_disconnect(r);
	git_remote_free(r);
	ctx_dispose(&c);
	return rc;
}

/* ---- git-lfs --------------------------------------------------------- */

int mreg_remote_lfs(mreg_registry *reg, const char *verb, const char *name, const char *rev, char *const *paths,
		    size_t npaths)
{
	mreg_buf err = MREG_BUF_INIT, inc = MREG_BUF_INIT;
	char *argv[8];
	int n = 0, rc;
	for (size_t i = 0; i < npaths; i++)
		mreg_buf_printf(&inc, "%s%s", i ? "," : "--include=", paths[i]);
	argv[n++] = "git";
	argv[n++] = "lfs";
	argv[n++] = (char *)verb;
	if (npaths)
		argv[n++] = inc.ptr;
	argv[n++] = (char *)name;
	argv[n++] = (char *)rev;
	argv[n] = NULL;
	rc = mreg_buf_oom(&inc) ? mreg_error_set(MREG_ERROR, "out of memory")
				: mreg_remote_run(NULL, &err, reg->workdir ? reg->workdir : reg->gitdir, argv, NULL);
	mreg_buf_dispose(&err);
	mreg_buf_dispose(&inc);
	return rc;
}
