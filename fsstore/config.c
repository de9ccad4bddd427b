/*
 * mreg's own settings from git config, read without libgit2.
 *
 * A write needs three keys: mreg.fsync, mreg.lockTimeout and mreg.actor.
 * libgit2 would build its whole config stack for them. They are read here
 * from the files libgit2 1.5 reads, in its order, the later file winning:
 * /etc/gitconfig, $XDG_CONFIG_HOME/git/config (else ~/.config/git/config),
 * ~/.gitconfig, then the repository's config. (libgit2 ignores
 * GIT_CONFIG_GLOBAL, GIT_CONFIG_SYSTEM and GIT_CONFIG_NOSYSTEM; so does this.)
 *
 * Whatever this reader is not sure to read as libgit2 would, it does not
 * guess: an include or includeIf anywhere, a line it cannot parse, a value
 * that is not plainly a boolean or a number, no usable HOME, a repository
 * config with extensions, a work tree elsewhere or another format version.
 * Then it answers 1 and the caller opens the registry with libgit2, which
 * reads (or refuses) the same files the way it always has.
 *
 * The syntax read is the plain part of git's: [section] or [section "sub"]
 * (names without case), `key = value` or a bare `key` (true), # and ;
 * comments. A backslash anywhere in a value (an escape, or a line that goes
 * on on the next), and quotes or a tab in the value of a key it reads, are
 * left to libgit2: its reading of those differs from git's in small ways,
 * and guessing either would be wrong half the time. Other keys' values may
 * hold quotes in pairs (aliases, a quoted user name): they end with their
 * line all the same.
 */
#define _GNU_SOURCE
#include "internal.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

typedef struct {
	bool local;		/* the repository's own file: extensions and core.* matter */
	/* the last values seen, NULL when never set; bool_true: a bare key */
	char *fsync, *timeout, *actor;
	bool fsync_bare;
} settings;

static bool is_key_char(int c)
{
	return isalnum(c) || c == '-';
}

static void set(char **slot, const char *v)
{
	free(*slot);
	*slot = v ? mreg_strdup(v) : NULL;
}

/*
 * The value after '=', up to the end of the line, when it is a plain one:
 * no backslash (escapes, continued lines), no quotes and no tab, where
 * libgit2's reading has quirks of its own (a quote after a backslash, tabs
 * kept, comment lines inside continued values); a # or ; comment after it
 * and the spaces around it go. 1 for anything else: libgit2 reads it.
 */
static int plain_value(mreg_buf *out, const char **pp, const char *end)
{
	const char *p = *pp, *eol = memchr(p, '\n', (size_t)(end - p));
	if (!eol)
		eol = end;
	*pp = eol;
	const char *stop = p;
	while (stop < eol && *stop != '#' && *stop != ';') {
		/* a backslash, a quote, or a control byte (tab, form feed...) but the \r of a CRLF line */
		if (*stop == '\\' || *stop == '"' || ((unsigned char)*stop < 0x20 && !(*stop == '\r' && stop + 1 == eol)))
			return 1;
		stop++;
	}
	for (const char *q = stop; q < eol; q++)
		if (*q == '\\' || *q == '"')
			return 1;	/* even in a comment: libgit2 may not see it as one */
	while (p < stop && (*p == ' ' || *p == '\r'))
		p++;
	while (stop > p && (stop[-1] == ' ' || stop[-1] == '\r'))
		stop--;
	mreg_buf_clear(out);
	mreg_buf_put(out, p, (size_t)(stop - p));
	return mreg_buf_oom(out) ? -1 : 0;
}

/*
 * Past a value this reader does not need (another section's): it ends at
 * the end of its line unless a backslash continues it. Quotes in pairs
 * (an alias, a quoted name) change nothing about where the line ends; a
 * backslash, or a quote left open, is for libgit2 to read.
 */
static int pass_value(const char **pp, const char *end)
{
	const char *p = *pp, *eol = memchr(p, '\n', (size_t)(end - p));
	if (!eol)
		eol = end;
	*pp = eol;
	size_t quotes = 0;
	for (; p < eol; p++) {
		if (*p == '\\')
			return 1;
		quotes += *p == '"';
	}
	return quotes % 2;
}

/* 0 parsed, 1 this reader is not sure (the caller uses libgit2). */
static int parse_file(settings *s, const char *data, size_t len)
{
	const char *p = data, *end = data + len;
	char section[64] = "";
	bool has_sub = false;
	mreg_buf v = MREG_BUF_INIT;
	int rc = 1;

	if (memchr(data, '\0', len))
		goto done;	/* git reads past a NUL, libgit2 stops at it: neither is guessed */
	if (len >= 3 && !memcmp(p, "\xef\xbb\xbf", 3))
		p += 3;
	while (p < end) {
		while (p < end && (*p == ' ' || *p == '\t' || *p == '\r'))
			p++;
		if (p == end)
			break;
		if (*p == '\n') {
			p++;
			continue;
		}
		if (*p == '#' || *p == ';') {
			while (p < end && *p != '\n')
				p++;
			continue;
		}
		if (*p == '[') {
			size_t n = 0;
			p++;
			while (p < end && (is_key_char((unsigned char)*p) || *p == '.') && n < sizeof(section) - 1)
				section[n++] = (char)tolower((unsigned char)*p++);
			section[n] = '\0';
			has_sub = false;
			if (!n || p == end)
				goto done;
			if (*p == ' ' || *p == '\t') {
				/* [section "sub"]: which subsection does not matter here, only that there is one */
				while (p < end && (*p == ' ' || *p == '\t'))
					p++;
				if (p == end || *p != '"')
					goto done;
				for (p++; p < end && *p != '"' && *p != '\n'; p++)
					if (*p == '\\')
						goto done;	/* escapes in a subsection name: libgit2's to read */
				if (p == end || *p != '"')
					goto done;
				p++;
				has_sub = true;
			}
			if (p == end || *p != ']' || strchr(section, '.'))
				goto done;	/* [a.b] is the old subsection form: leave it to libgit2 */
			p++;
			if (!strcmp(section, "include") || !strcmp(section, "includeif"))
				goto done;
			if (s->local && !strcmp(section, "extensions"))
				goto done;
			continue;	/* the rest of the line: a key may follow on it, handled next round */
		}
		if (!isalpha((unsigned char)*p) || !section[0])
			goto done;
		char key[64];
		size_t n = 0;
		while (p < end && is_key_char((unsigned char)*p) && n < sizeof(key) - 1)
			key[n++] = (char)tolower((unsigned char)*p++);
		key[n] = '\0';
		while (p < end && (*p == ' ' || *p == '\t' || *p == '\r'))
			p++;
		bool bare = p == end || *p == '\n' || *p == '#' || *p == ';';
		if (bare) {
			while (p < end && *p != '\n')
				p++;
			mreg_buf_clear(&v);
		} else if (*p != '=') {
			goto done;
		} else {
			p++;
			/* mreg's keys and the repository's core keys are read; the rest only passed */
			bool wanted = !has_sub && (!strcmp(section, "mreg") || (s->local && !strcmp(section, "core")));
			if ((wanted ? plain_value(&v, &p, end) : pass_value(&p, end)) != 0)
				goto done;
		}
		if (!strcmp(section, "mreg") && !has_sub) {
			if (!strcmp(key, "fsync")) {
				set(&s->fsync, bare ? NULL : v.ptr);
				s->fsync_bare = bare;
			} else if (!strcmp(key, "locktimeout")) {
				set(&s->timeout, bare ? "" : v.ptr);
			} else if (!strcmp(key, "actor")) {
				set(&s->actor, bare ? "" : v.ptr);
			}
		} else if (s->local && !strcmp(section, "core") && !has_sub) {
			if (!strcmp(key, "worktree") || (!strcmp(key, "bare") && !(!bare && !strcasecmp(v.ptr, "false"))) ||
			    (!strcmp(key, "repositoryformatversion") && (bare || strcmp(v.ptr, "0"))))
				goto done;
		}
	}
	rc = 0;
done:
	mreg_buf_dispose(&v);
	return rc;
}

/* 0 and the file parsed into s, or no such file; 1 when unsure. */
static int read_file(settings *s, const char *path, bool local)
{
	mreg_buf b = MREG_BUF_INIT;
	int rc = mreg_fs_read(&b, path, 1 << 20);
	if (rc == MREG_ENOTFOUND) {
		mreg_error_clear();
		return 0;
	}
	if (rc < 0) {
		mreg_error_clear();
		mreg_buf_dispose(&b);
		return 1;	/* unreadable: libgit2 says what it makes of that */
	}
	s->local = local;
	rc = parse_file(s, b.ptr, b.size);
	mreg_buf_dispose(&b);
	return rc;
}

/* A plain decimal number with an optional k, m or g, as an int32; false when anything else. */
static bool plain_int32(int32_t *out, const char *v)
{
	int64_t n = 0;
	const char *p = v;
	if (!isdigit((unsigned char)*p) || (*p == '0' && p[1]))
		return false;
	for (; isdigit((unsigned char)*p); p++) {
		n = n * 10 + (*p - '0');
		if (n > INT32_MAX)
			return false;
	}
	int64_t mult = 1;
	if (*p == 'k' || *p == 'K')
		mult = 1024;
	else if (*p == 'm' || *p == 'M')
		mult = 1024 * 1024;
	else if (*p == 'g' || *p == 'G')
		mult = 1024 * 1024 * 1024;
	if (mult > 1)
		p++;
	if (*p || n * mult > INT32_MAX)
		return false;
	*out = (int32_t)(n * mult);
	return true;
}

char *mreg_default_actor(void)
{
	const char *user = getenv("USER");
	char host[256] = "localhost";
	if (!user || !*user)
		user = getenv("LOGNAME");
	if (!user || !*user)
		user = "unknown";
	if (gethostname(host, sizeof(host) - 1) < 0)
		strcpy(host, "localhost");
	host[sizeof(host) - 1] = '\0';
	return mreg_strfmt("%s@%s", user, host);
}

int mreg_config_light(mreg_registry *reg)
{
	settings s = { false, NULL, NULL, NULL, false };
	const char *home = getenv("HOME"), *xdg = getenv("XDG_CONFIG_HOME");
	char *paths[4] = { NULL, NULL, NULL, NULL };
	int rc = 1;

	/* libgit2 takes HOME as a list (':') and an empty XDG_CONFIG_HOME as a relative path */
	if (!home || home[0] != '/' || strchr(home, ':') || (xdg && xdg[0] != '/'))
		return 1;
	paths[0] = mreg_strdup("/etc/gitconfig");
	paths[1] = xdg ? mreg_strfmt("%s/git/config", xdg) : mreg_strfmt("%s/.config/git/config", home);
	paths[2] = mreg_strfmt("%s/.gitconfig", home);
	paths[3] = mreg_strfmt("%sconfig", reg->gitdir);
	for (int i = 0; i < 4; i++)
		if (!paths[i] || read_file(&s, paths[i], i == 3) != 0)
			goto done;
	bool fsync = MREG_FSYNC_DEFAULT;
	int lock_ms = MREG_LOCK_TIMEOUT_MS_DEFAULT;
	if (s.fsync_bare) {
		fsync = true;
	} else if (s.fsync) {
		int32_t n;
		if (!strcasecmp(s.fsync, "true") || !strcasecmp(s.fsync, "yes") || !strcasecmp(s.fsync, "on"))
			fsync = true;
		else if (!*s.fsync || !strcasecmp(s.fsync, "false") || !strcasecmp(s.fsync, "no") ||
			 !strcasecmp(s.fsync, "off"))
			fsync = false;
		else if (plain_int32(&n, s.fsync))
			fsync = n != 0;
		else
			goto done;
	}
	if (s.timeout) {
		int32_t t;
		if (!plain_int32(&t, s.timeout))
			goto done;
		if ((int64_t)t * 1000 > INT32_MAX)
			goto done;
		lock_ms = t * 1000;
	}
	char *actor = s.actor && *s.actor ? mreg_strdup(s.actor) : mreg_default_actor();
	if (!actor) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
		goto done;
	}
	free(reg->actor);
	reg->actor = actor;
	reg->fsync = fsync;
	reg->lock_timeout_ms = lock_ms;
	reg->settings = true;
	rc = 0;
done:
	for (int i = 0; i < 4; i++)
		free(paths[i]);
	free(s.fsync);
	free(s.timeout);
	free(s.actor);
	return rc;
}
