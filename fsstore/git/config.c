/*
 * The one git-config reader, for the keys mreg reads without libgit2.
 *
 * A write needs three keys (mreg.fsync, mreg.lockTimeout, mreg.actor), a
 * read only to know the repository keeps the plain layout; libgit2 would
 * build its whole config stack for them. They are read here from the files
 * libgit2 1.5 reads, in its order, the later file winning: /etc/gitconfig,
 * $XDG_CONFIG_HOME/git/config (else ~/.config/git/config), ~/.gitconfig,
 * then the repository's config. (libgit2 ignores GIT_CONFIG_GLOBAL,
 * GIT_CONFIG_SYSTEM and GIT_CONFIG_NOSYSTEM; so does this.)
 *
 * Whatever this reader is not sure to read as libgit2 would, it does not
 * guess: an include or includeIf anywhere, a line it cannot parse, no
 * usable HOME, a repository config with extensions, a work tree elsewhere
 * or another format version. core.bare = true is read (not left to
 * libgit2): in a registry's .git it marks one whose events are not checked
 * out (README, "The work tree"). Then it answers MREG_GIT_UNSURE and the
 * caller opens the registry with libgit2, which reads (or refuses) the same
 * files the way it always has.
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
#include "git.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>

typedef struct {
	bool local;		/* the repository's own file: extensions and core.* matter */
	const char *const *keys;	/* "section.key", lower case */
	void (*fn)(const char *key, const char *value, void *payload);
	void *payload;
	char section[64];
	bool has_sub;
	mreg_buf value;
	bool bare;		/* the repository's core.bare: true marks a registry without an event work tree */
} reader;

static bool is_key_char(int c)
{
	return isalnum(c) || c == '-';
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
			return MREG_GIT_UNSURE;
		stop++;
	}
	for (const char *q = stop; q < eol; q++)
		if (*q == '\\' || *q == '"')
			return MREG_GIT_UNSURE;	/* even in a comment: libgit2 may not see it as one */
	while (p < stop && (*p == ' ' || *p == '\r'))
		p++;
	while (stop > p && (stop[-1] == ' ' || stop[-1] == '\r'))
		stop--;
	mreg_buf_clear(out);
	mreg_buf_put(out, p, (size_t)(stop - p));
	return mreg_buf_oom(out) ? mreg_error_set(MREG_ERROR, "out of memory") : 0;
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
			return MREG_GIT_UNSURE;
		quotes += *p == '"';
	}
	return quotes % 2 ? MREG_GIT_UNSURE : 0;
}


/*
 * A section header at *pp (just past the '['): r->section and r->has_sub
 * set, *pp past the ']'. MREG_GIT_UNSURE for what is left to libgit2.
 */
static int parse_section(reader *r, const char **pp, const char *end)
{
	const char *p = *pp;
	size_t n = 0;
	while (p < end && (is_key_char((unsigned char)*p) || *p == '.') && n < sizeof(r->section) - 1)
		r->section[n++] = (char)tolower((unsigned char)*p++);
	r->section[n] = '\0';
	r->has_sub = false;
	if (!n || p == end)
		return MREG_GIT_UNSURE;
	if (*p == ' ' || *p == '\t') {
		/* [section "sub"]: which subsection does not matter here, only that there is one */
		while (p < end && (*p == ' ' || *p == '\t'))
			p++;
		if (p == end || *p != '"')
			return MREG_GIT_UNSURE;
		for (p++; p < end && *p != '"' && *p != '\n'; p++)
			if (*p == '\\')
				return MREG_GIT_UNSURE;	/* escapes in a subsection name: libgit2's to read */
		if (p == end || *p != '"')
			return MREG_GIT_UNSURE;
		p++;
		r->has_sub = true;
	}
	if (p == end || *p != ']' || strchr(r->section, '.'))
		return MREG_GIT_UNSURE;	/* [a.b] is the old subsection form: leave it to libgit2 */
	*pp = p + 1;
	if (!strcmp(r->section, "include") || !strcmp(r->section, "includeif"))
		return MREG_GIT_UNSURE;
	if (r->local && !strcmp(r->section, "extensions"))
		return MREG_GIT_UNSURE;
	return 0;	/* the rest of the line: a key may follow on it, handled next round */
}

static bool wanted(const reader *r, const char *key)
{
	size_t n = strlen(r->section);
	for (const char *const *k = r->keys; k && *k; k++)
		if (!strncmp(*k, r->section, n) && (*k)[n] == '.' && !strcmp(*k + n + 1, key))
			return true;
	return false;
}

/* A key and its value at *pp; wanted ones go to r->fn. MREG_GIT_UNSURE for what is left to libgit2. */
static int parse_key(reader *r, const char **pp, const char *end)
{
	const char *p = *pp;
	char key[64], full[160];
	size_t n = 0;
	int rc;
	if (!isalpha((unsigned char)*p) || !r->section[0])
		return MREG_GIT_UNSURE;
	while (p < end && is_key_char((unsigned char)*p) && n < sizeof(key) - 1)
		key[n++] = (char)tolower((unsigned char)*p++);
	key[n] = '\0';
	while (p < end && (*p == ' ' || *p == '\t' || *p == '\r'))
		p++;
	bool bare = p == end || *p == '\n' || *p == '#' || *p == ';';
	bool want = !r->has_sub && wanted(r, key);
	/* the repository's core keys say where its work tree is */
	bool layout = r->local && !r->has_sub && !strcmp(r->section, "core");
	if (bare) {
		while (p < end && *p != '\n')
			p++;
		mreg_buf_clear(&r->value);
	} else if (*p != '=') {
		return MREG_GIT_UNSURE;
	} else {
		p++;
		if ((rc = want || layout ? plain_value(&r->value, &p, end) : pass_value(&p, end)) != 0)
			return rc;
	}
	*pp = p;
	if (layout && (!strcmp(key, "worktree") ||
		       (!strcmp(key, "bare") && (bare || (strcasecmp(r->value.ptr, "false") && strcasecmp(r->value.ptr, "true")))) ||
		       (!strcmp(key, "repositoryformatversion") && (bare || strcmp(r->value.ptr, "0")))))
		return MREG_GIT_UNSURE;
	if (layout && !strcmp(key, "bare"))
		r->bare = !strcasecmp(r->value.ptr, "true");
	if (want) {
		snprintf(full, sizeof(full), "%s.%s", r->section, key);
		r->fn(full, bare ? NULL : r->value.ptr, r->payload);
	}
	return 0;
}

/* 0 parsed, MREG_GIT_UNSURE this reader is not sure (the caller uses libgit2). */
static int parse_file(reader *r, const char *data, size_t len)
{
	const char *p = data, *end = data + len;
	int rc = 0;
	r->section[0] = '\0';
	r->has_sub = false;
	if (memchr(data, '\0', len))
		return MREG_GIT_UNSURE;	/* git reads past a NUL, libgit2 stops at it: neither is guessed */
	if (len >= 3 && !memcmp(p, "\xef\xbb\xbf", 3))
		p += 3;
	while (p < end && rc == 0) {
		while (p < end && (*p == ' ' || *p == '\t' || *p == '\r'))
			p++;
		if (p == end)
			break;
		if (*p == '\n') {
			p++;
		} else if (*p == '#' || *p == ';') {
			while (p < end && *p != '\n')
				p++;
		} else if (*p == '[') {
			p++;
			rc = parse_section(r, &p, end);
		} else {
			rc = parse_key(r, &p, end);
		}
	}
	return rc;
}

/* 0 and the file parsed, or no such file; MREG_GIT_UNSURE. */
static int read_file(reader *r, const char *path, bool local)
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
		return MREG_GIT_UNSURE;	/* unreadable: libgit2 says what it makes of that */
	}
	r->local = local;
	rc = parse_file(r, b.ptr, b.size);
	mreg_buf_dispose(&b);
	return rc;
}

int mreg_git_config_read(const char *gitdir, const char *const *keys,
			 void (*fn)(const char *key, const char *value, void *payload), void *payload, bool *bare)
{
	reader r = { false, keys, fn, payload, "", false, MREG_BUF_INIT, false };
	const char *home = getenv("HOME"), *xdg = getenv("XDG_CONFIG_HOME");
	char *paths[4] = { NULL, NULL, NULL, NULL };
	int rc = 0;

	/* libgit2 takes HOME as a list (':') and an empty XDG_CONFIG_HOME as a relative path */
	if (!home || home[0] != '/' || strchr(home, ':') || (xdg && xdg[0] != '/'))
		return MREG_GIT_UNSURE;
	paths[0] = mreg_strdup("/etc/gitconfig");
	paths[1] = xdg ? mreg_strfmt("%s/git/config", xdg) : mreg_strfmt("%s/.config/git/config", home);
	paths[2] = mreg_strfmt("%s/.gitconfig", home);
	paths[3] = mreg_strfmt("%sconfig", gitdir);
	for (int i = 0; i < 4 && rc == 0; i++)
		rc = paths[i] ? read_file(&r, paths[i], i == 3) : mreg_error_set(MREG_ERROR, "out of memory");
	for (int i = 0; i < 4; i++)
		free(paths[i]);
	mreg_buf_dispose(&r.value);
	if (bare)
		*bare = r.bare;
	return rc;
}

int mreg_git_config_plain(const char *gitdir, bool *bare)
{
	reader r = { true, NULL, NULL, NULL, "", false, MREG_BUF_INIT, false };
	char *path = mreg_strfmt("%sconfig", gitdir);
	int rc = path ? read_file(&r, path, true) : MREG_GIT_UNSURE;
	free(path);
	mreg_buf_dispose(&r.value);
	if (bare)
		*bare = r.bare;
	return rc;
}

bool mreg_git_config_bool(bool *out, const char *v)
{
	int32_t n;
	if (!v || !strcasecmp(v, "true") || !strcasecmp(v, "yes") || !strcasecmp(v, "on"))
		*out = true;
	else if (!*v || !strcasecmp(v, "false") || !strcasecmp(v, "no") || !strcasecmp(v, "off"))
		*out = false;
	else if (mreg_git_config_int32(&n, v))
		*out = n != 0;
	else
		return false;
	return true;
}

/* A plain decimal number with an optional k, m or g, as git reads it into an int32; false when anything else. */
bool mreg_git_config_int32(int32_t *out, const char *v)
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

/*
 * gc.pruneExpire as a cutoff in seconds: what is unreachable and older goes.
 * As git reads it: "now" or "all" (INT64_MAX: everything unreachable),
 * "never" or "false" (INT64_MIN: nothing), "@<seconds>", a date
 * "YYYY-MM-DD[ HH:MM[:SS]]" in local time (midnight when no time is given),
 * or a relative one: numbers with units (second, minute, hour, day, week,
 * month of 30 days, year of 365; plural or not) separated by dots or
 * spaces, "ago" at the end optional: "2.weeks.ago", "1 day 12 hours".
 * Anything else git's own date parser may know is refused (-1).
 */
int mreg_git_config_expiry(int64_t *out, const char *v, int64_t now)
{
	/* secs 0: calendar units, moved as git moves them */
	static const struct {
		const char *name;
		int64_t secs;
	} units[] = { { "second", 1 },	 { "minute", 60 },	  { "hour", 3600 }, { "day", 86400 },
		      { "week", 7 * 86400 }, { "month", 0 }, { "year", 0 } };
	time_t tnow = (time_t)now;
	struct tm t;
	char *end;

	if (!strcmp(v, "now") || !strcmp(v, "all")) {
		*out = INT64_MAX;
		return 0;
	}
	if (!strcmp(v, "never") || !strcmp(v, "false")) {
		*out = INT64_MIN;
		return 0;
	}
	if (v[0] == '@') {
		errno = 0;
		long long n = strtoll(v + 1, &end, 10);
		if (errno || end == v + 1 || *end)
			return -1;
		*out = n;
		return 0;
	}
	if (!localtime_r(&tnow, &t))
		return -1;
	/* git starts from now in local time and changes what the value names; mktime keeps now's DST flag, as git's does */
	struct tm tm = t;
	const char *rest = v[0] >= '0' && v[0] <= '9' ? strptime(v, "%Y-%m-%d", &tm) : NULL;
	if (rest) {
		if (*rest == ' ' || *rest == 'T') {
			if (!(rest = strptime(rest + 1, "%H:%M", &tm)))
				return -1;
			tm.tm_sec = 0;
			if (*rest == ':' && !(rest = strptime(rest + 1, "%S", &tm)))
				return -1;
			tm.tm_isdst = -1;	/* a time given: in local time, whichever it is then */
		}	/* a date alone keeps now's time of day */
		time_t d;
		if (*rest || (d = mktime(&tm)) == (time_t)-1)
			return -1;
		*out = (int64_t)d;
		return 0;
	}
	int pairs = 0;
	const char *p = v;
	for (;;) {
		while (*p == '.' || *p == ' ')
			p++;
		if (!*p)
			break;
		if (!strncmp(p, "ago", 3) && (p[3] == '\0' || p[3] == '.' || p[3] == ' ')) {
			p += 3;
			while (*p == '.' || *p == ' ')
				p++;
			if (*p || !pairs)
				return -1;
			break;
		}
		if (*p < '0' || *p > '9')
			return -1;
		errno = 0;
		long long num = strtoll(p, &end, 10);
		if (errno || num > 1000000)
			return -1;
		p = end;
		while (*p == '.' || *p == ' ')
			p++;
		size_t len = strspn(p, "abcdefghijklmnopqrstuvwxyz");
		size_t k = 0, base = len && p[len - 1] == 's' ? len - 1 : len;
		while (k < sizeof(units) / sizeof(units[0]) &&
		       !(strlen(units[k].name) == base && !strncmp(p, units[k].name, base)))
			k++;
		if (!len || k == sizeof(units) / sizeof(units[0]))
			return -1;	/* git reads no "min" or "sec" as units: neither does this */
		if (units[k].secs) {
			time_t n = mktime(&t) - (time_t)(num * units[k].secs);
			if (!localtime_r(&n, &t))
				return -1;
		} else if (!strcmp(units[k].name, "year")) {
			t.tm_year -= (int)num;
		} else {	/* months: back across years, days of the month kept (mktime moves a 31st on) */
			long long m = (long long)t.tm_year * 12 + t.tm_mon - num;
			t.tm_year = (int)(m >= 0 ? m / 12 : -((-m + 11) / 12));
			t.tm_mon = (int)(m - (long long)t.tm_year * 12);
		}
		pairs++;
		p += len;
	}
	time_t r;
	if (!pairs || (r = mktime(&t)) == (time_t)-1)
		return -1;
	*out = (int64_t)r;
	return 0;
}

