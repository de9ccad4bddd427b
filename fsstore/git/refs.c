/*
 * HEAD, branches, packed-refs and reflogs, read and written by hand.
 *
 * A command's first question is where HEAD is; libgit2 would build a
 * reference database for it. The plain cases are read here: HEAD naming a
 * branch by a plain name, the branch a loose file or a line of
 * packed-refs. Anything else (a symbolic ref to a symbolic ref, a name
 * with characters outside the plain ones, a missing branch) answers
 * MREG_GIT_UNSURE, and the caller asks libgit2.
 *
 * A branch moves the way git moves it: its lock file (made by the caller,
 * which records it, see fsstore/registry.c) gets the new id, the reflogs a
 * line each, and the lock is renamed over the ref. The lock and the rename
 * are the caller's; the bytes are written here.
 */
#include "git.h"

#include <ctype.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define HEAD_PREFIX "ref: refs/heads/"

static bool is_hex40(const char *p, size_t n)
{
	return n >= 40 && strspn(p, "0123456789abcdef") >= 40;
}

bool mreg_git_ref_plain(const char *ref)
{
	size_t n = strlen(ref);
	return n > 11 && !strncmp(ref, "refs/heads/", 11) &&
	       strspn(ref, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-/") == n && !strstr(ref, "..") &&
	       ref[11] != '/' && ref[11] != '.';
}

/* 40 hex digits, either case, as libgit2 reads an id */
static bool is_id(const char *p, size_t n)
{
	if (n < 40)
		return false;
	for (size_t i = 0; i < 40; i++)
		if (!isxdigit((unsigned char)p[i]))
			return false;
	return true;
}

int mreg_git_packed_ref(const char **hex, mreg_buf *b, const char *gitdir, const char *ref, size_t n)
{
	char *path = mreg_strfmt("%spacked-refs", gitdir);
	int rc = 0, err = path ? mreg_fs_read(b, path, 64 << 20) : MREG_ERROR;
	*hex = NULL;
	if (err == MREG_ENOTFOUND)
		mreg_buf_clear(b);	/* no file: no packed refs */
	else if (err < 0)
		rc = MREG_GIT_UNSURE;
	/* every line read as libgit2 reads it, or none: a header, "<id> <name>", a peeled "^<id>" */
	for (const char *p = b->ptr, *end = b->ptr + b->size; rc == 0 && p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;
		size_t len = (size_t)(eol - p);
		if (len && eol[-1] == '\r')
			len--;
		if (*p == '#' || (*p == '^' && len == 41 && is_id(p + 1, 40))) {
			/* a header, or the peeled value of the tag before */
		} else if (len > 41 && p[40] == ' ' && is_id(p, len) && memchr(p + 41, ' ', len - 41) == NULL) {
			if (len == 41 + n && !memcmp(p + 41, ref, n))
				*hex = p;
		} else {
			rc = MREG_GIT_UNSURE;	/* a line this reader does not read */
		}
		p = nl ? nl + 1 : end;
	}
	if (rc)
		*hex = NULL;
	mreg_error_clear();
	free(path);
	return rc;
}

/* 40 hex digits in lower case, as git names objects. */
static void copy_id(char out[41], const char *hex)
{
	for (int i = 0; i < 40; i++)
		out[i] = (char)tolower((unsigned char)hex[i]);
	out[40] = '\0';
}

int mreg_git_head(char hex[41], char *branch, size_t branchlen, const char *gitdir)
{
	mreg_buf b = MREG_BUF_INIT, r = MREG_BUF_INIT;
	char *path = mreg_strfmt("%sHEAD", gitdir);
	const char *found = NULL;
	int rc = MREG_GIT_UNSURE;

	if (!path || mreg_fs_read(&b, path, 512) < 0)
		goto done;
	if (b.size == 41 && is_hex40(b.ptr, b.size) && b.ptr[40] == '\n') {
		found = branch ? NULL : b.ptr;	/* detached: only when the caller does not want a branch */
	} else if (b.size > sizeof(HEAD_PREFIX) && !memcmp(b.ptr, HEAD_PREFIX, sizeof(HEAD_PREFIX) - 1) &&
		   b.ptr[b.size - 1] == '\n') {
		const char *ref = b.ptr + 5;	/* refs/heads/<name> */
		size_t n = b.size - 6;
		b.ptr[b.size - 1] = '\0';
		if (!mreg_git_ref_plain(ref) || (branch && branchlen <= n))
			goto done;
		if (branch)
			memcpy(branch, ref, n + 1);
		free(path);
		path = mreg_strfmt("%s%s", gitdir, ref);
		int err = path ? mreg_fs_read(&r, path, 128) : MREG_ERROR;
		if (err == 0 && r.size == 41 && is_hex40(r.ptr, r.size) && r.ptr[40] == '\n')
			found = r.ptr;
		else if (err == MREG_ENOTFOUND)	/* after git gc or git pack-refs */
			mreg_git_packed_ref(&found, &r, gitdir, ref, n);
	}
	if (found) {
		copy_id(hex, found);
		rc = 0;
	}
done:
	mreg_error_clear();
	mreg_buf_dispose(&b);
	mreg_buf_dispose(&r);
	free(path);
	return rc;
}

bool mreg_git_head_branch(char *out, size_t n, const char *gitdir)
{
	mreg_buf b = MREG_BUF_INIT;
	char *path = mreg_strfmt("%sHEAD", gitdir);
	bool ok = path && mreg_fs_read(&b, path, 512) == 0 && b.size > sizeof(HEAD_PREFIX) &&
		  !memcmp(b.ptr, HEAD_PREFIX, sizeof(HEAD_PREFIX) - 1) && b.ptr[b.size - 1] == '\n' && b.size - 5 < n &&
		  !memchr(b.ptr, '\0', b.size) && !strstr(b.ptr, "..");
	if (ok) {
		memcpy(out, b.ptr + 5, b.size - 6);
		out[b.size - 6] = '\0';
	}
	mreg_error_clear();
	mreg_buf_dispose(&b);
	free(path);
	return ok;
}

int mreg_git_ref_read(git_oid *out, const char *gitdir, const char *ref)
{
	mreg_buf b = MREG_BUF_INIT;
	char *path = mreg_strfmt("%s%s", gitdir, ref);
	int rc = MREG_GIT_UNSURE;
	memset(out, 0, sizeof(*out));
	int err = path ? mreg_fs_read(&b, path, 256) : MREG_ERROR;
	if (err == 0) {
		if (b.size >= 40 && git_oid_fromstrn(out, b.ptr, 40) == 0 && (b.size == 40 || b.ptr[40] == '\n'))
			rc = 0;
	} else if (err == MREG_ENOTFOUND) {
		/* no loose file and no packed line: the branch is unborn */
		const char *hex;
		if ((rc = mreg_git_packed_ref(&hex, &b, gitdir, ref, strlen(ref))) == 0 && hex &&
		    git_oid_fromstrn(out, hex, 40) < 0)
			rc = MREG_GIT_UNSURE;
	}
	mreg_error_clear();
	mreg_buf_dispose(&b);
	free(path);
	return rc;
}

int mreg_git_ref_put(int fd, const git_oid *to, bool sync)
{
	char hex[GIT_OID_HEXSZ + 2];
	git_oid_tostr(hex, GIT_OID_HEXSZ + 1, to);
	hex[GIT_OID_HEXSZ] = '\n';
	if (write(fd, hex, GIT_OID_HEXSZ + 1) != GIT_OID_HEXSZ + 1) {
		if (errno == 0)
			errno = ENOSPC;
		return -1;
	}
	return sync ? mreg_fs_flush_data(fd) : 0;	/* the caller fsyncs the directory after the rename */
}

void mreg_git_reflog_append(const char *gitdir, const char *ref, const git_oid *from, const git_oid *to,
			    const mreg_git_ident *who, const char *msg)
{
	char a[GIT_OID_HEXSZ + 1], b[GIT_OID_HEXSZ + 1];
	git_oid_tostr(a, sizeof(a), from);
	git_oid_tostr(b, sizeof(b), to);
	/* as git and libgit2 write it: trailing white space trimmed, one line whatever the message holds */
	size_t mlen = strlen(msg);
	while (mlen && isspace((unsigned char)msg[mlen - 1]))
		mlen--;
	char *path = mreg_strfmt("%slogs/%s", gitdir, ref);
	char *line = mreg_strfmt("%s %s %s <%s> %lld +0000\t%.*s\n", a, b, who->name, who->email, (long long)who->time,
				 (int)mlen, msg);
	if (path && line) {
		for (char *p = strchr(line, '\t'); p && p[1]; p++)
			if (*p == '\n')
				*p = ' ';
		int fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
		if (fd < 0 && errno == ENOENT && mreg_fs_mkparents(path) == 0)
			fd = open(path, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC, 0644);
		if (fd >= 0) {
			ssize_t w = write(fd, line, strlen(line));
			(void)w;	/* a reflog line lost is a reflog line lost: the ref is what counts */
			close(fd);
		}
	}
	mreg_error_clear();
	free(path);
	free(line);
}

bool mreg_git_reflog_next(git_oid *old, git_oid *new_id, const char **pp, const char *end)
{
	while (*pp < end) {
		const char *p = *pp, *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;
		*pp = nl ? nl + 1 : end;
		if (eol - p > 82 && p[40] == ' ' && git_oid_fromstrn(old, p, 40) == 0 &&
		    git_oid_fromstrn(new_id, p + 41, 40) == 0)
			return true;
	}
	return false;
}

int mreg_git_worktree_each(const char *gitdir,
			   int (*fn)(const git_oid *detached, const char *head, const char *log, const char *index,
				     void *payload),
			   void *payload)
{
	char *dir = mreg_strfmt("%sworktrees", gitdir);
	DIR *d = dir ? opendir(dir) : NULL;
	struct dirent *de;
	int rc = 0;
	while (d && rc == 0 && (de = readdir(d))) {
		if (de->d_name[0] == '.')
			continue;
		mreg_buf b = MREG_BUF_INIT;
		char *head = mreg_strfmt("%s/%s/HEAD", dir, de->d_name);
		char *log = mreg_strfmt("%s/%s/logs/HEAD", dir, de->d_name);
		char *index = mreg_strfmt("%s/%s/index", dir, de->d_name);
		git_oid id;
		if (!head || !log || !index) {
			rc = mreg_error_set(MREG_ERROR, "out of memory");
		} else {
			bool detached = mreg_fs_read(&b, head, 256) == 0 && b.size >= 40 && git_oid_fromstrn(&id, b.ptr, 40) == 0;
			mreg_error_clear();
			rc = fn(detached ? &id : NULL, head, log, index, payload);
		}
		mreg_buf_dispose(&b);
		free(head);
		free(log);
		free(index);
	}
	if (d)
		closedir(d);
	free(dir);
	return rc;
}
