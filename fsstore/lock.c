/*
 * The writer lock, and git's lock files.
 *
 * One writer at a time per registry: flock(2) on .git/mreg/lock, waited
 * for up to mreg.lockTimeout. It dies with its process, so a crashed
 * writer never leaves a stale lock behind.
 */
#define _GNU_SOURCE
#include "internal.h"

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <time.h>
#include <unistd.h>

/*
 * Lock files of git's protocol (<name>.lock, created exclusively, renamed
 * over <name>) that mreg takes: the branch's when it moves it, the index's
 * when it mirrors a write. A git command may hold one for as long as it
 * likes (`git commit` holds the branch's while its reference-transaction
 * hook runs), so mreg waits for a lock file it did not make to go, up to
 * mreg.lockTimeout, and never removes it: it fails naming the file.
 *
 * A lock file left by a killed mreg is told apart for certain. mreg makes
 * its lock files while it holds the flock on .git/mreg/lock, and records in
 * that very file which one it made (device, inode and birth time, and the
 * name) before the name appears: the file is made unnamed (O_TMPFILE), the
 * record written, and only then the file linked under the lock's name,
 * which fails if the name exists, as O_EXCL would. The record is cleared
 * after the rename (or the unlink), and at the latest when the flock goes.
 * So a record found by the next holder of the flock was left by a dead mreg
 * (no live one holds the flock), and a lock file that is still the file it
 * names is that mreg's own, removed at once. Where O_TMPFILE is missing the
 * file is made by name and recorded right after (a window of one system
 * call). A lock file made by libgit2 is not recorded: it is waited for.
 *
 * The record is one line at the start of .git/mreg/lock (the file's content
 * means nothing else): "<dev> <ino> <birth in ns, 0 if unknown> <name>",
 * then (optional) the same three numbers for the file at the lock's target
 * at the time (0 0 0: none); an empty first line means no record.
 */
#define MARK_MAX 512

typedef struct {
	unsigned long long dev, ino, birth;
} file_id;

static int marked_fd = -1;	/* the flock file holding a record this process wrote */

static int file_id_of(file_id *out, int fd, const char *path)
{
	struct statx sx;
	if (statx(fd, path, path[0] ? AT_SYMLINK_NOFOLLOW : AT_EMPTY_PATH, STATX_INO | STATX_BTIME, &sx) < 0)
		return -1;
	out->dev = (unsigned long long)makedev(sx.stx_dev_major, sx.stx_dev_minor);
	out->ino = (unsigned long long)sx.stx_ino;
	out->birth = sx.stx_mask & STATX_BTIME
			     ? (unsigned long long)sx.stx_btime.tv_sec * 1000000000ull + sx.stx_btime.tv_nsec
			     : 0;
	return 0;
}

static void mark_clear(mreg_registry *reg)
{
	if (reg->lockfd < 0 || marked_fd != reg->lockfd)
		return;
	ssize_t w = pwrite(reg->lockfd, "\n", 1, 0);
	(void)w;
	marked_fd = -1;
}

/* Record lock file fd, <relpath>.lock, as made by this process; nothing unless it holds the flock. */
static void mark_set(mreg_registry *reg, int fd, const char *path, const char *relpath)
{
	file_id id, was = { 0, 0, 0 };
	if (reg->lockfd < 0 || file_id_of(&id, fd, "") < 0)
		return;
	char *target = mreg_strfmt("%.*s", (int)(strlen(path) - 5), path);	/* without ".lock" */
	if (!target || file_id_of(&was, AT_FDCWD, target) < 0)
		was = (file_id){ 0, 0, 0 };
	char *line = mreg_strfmt("%llu %llu %llu %s.lock %llu %llu %llu\n", id.dev, id.ino, id.birth, relpath, was.dev,
				 was.ino, was.birth);
	if (line && strlen(line) <= MARK_MAX && pwrite(reg->lockfd, line, strlen(line), 0) == (ssize_t)strlen(line))
		marked_fd = reg->lockfd;
	free(line);
	free(target);
}

static bool same_file(const file_id *rec, const file_id *now)
{
	return rec->ino && now->dev == rec->dev && now->ino == rec->ino && (!rec->birth || now->birth == rec->birth);
}

static file_id parse_id(char **p)
{
	file_id id = { 0, 0, 0 };
	char *end;
	id.dev = strtoull(*p, &end, 10);
	id.ino = *end == ' ' ? strtoull(end + 1, &end, 10) : 0;
	id.birth = *end == ' ' ? strtoull(end + 1, &end, 10) : 0;
	*p = end;
	return id;
}

/*
 * Under a fresh flock: a record means its writer died holding the lock
 * file it names. Remove what is at the lock's name if it is the file
 * recorded, or the file that was at <relpath> then (a writer that swaps
 * the new file in with RENAME_EXCHANGE, as mreg_fs_replace does, leaves
 * the old one at the lock's name until it unlinks it); then the record.
 */
static void recover_dead_lock(mreg_registry *reg)
{
	char line[MARK_MAX + 1], *p = line;
	file_id now;
	ssize_t n = pread(reg->lockfd, line, MARK_MAX, 0);
	if (n <= 0 || line[0] == '\n')
		return;
	line[n] = '\0';
	char *nl = strchr(line, '\n');
	if (nl)
		*nl = '\0';
	file_id rec = parse_id(&p);
	char *rel = *p == ' ' ? p + 1 : p;
	char *sp = strchr(rel, ' ');
	file_id was = { 0, 0, 0 };
	if (sp) {
		*sp++ = '\0';
		was = parse_id(&sp);
	}
	size_t len = strlen(rel);
	/* a lock file of this git directory, nothing else */
	if (len > 5 && !strcmp(rel + len - 5, ".lock") && rel[0] != '/' && !strstr(rel, "..")) {
		char *path = mreg_strfmt("%s%s", reg->gitdir, rel);
		if (path && file_id_of(&now, AT_FDCWD, path) == 0 && (same_file(&rec, &now) || same_file(&was, &now)))
			unlink(path);
		free(path);
	}
	marked_fd = reg->lockfd;
	mark_clear(reg);
}

/* Wait until <gitdir><relpath>.lock is gone or deadline (µs) passes: ELOCKED naming it then. */
static int wait_git_lock(mreg_registry *reg, const char *relpath, int64_t deadline)
{
	char *path = mreg_strfmt("%s%s.lock", reg->gitdir, relpath);
	struct stat sb;
	long nap = 1000000;	/* ns: 1 ms, growing to 32 */
	int rc = 0;
	if (!path)
		return mreg_error_set(MREG_ERROR, "out of memory");
	while (lstat(path, &sb) == 0) {
		if (mreg_fs_now_usec() >= deadline) {
			const char *what = !strncmp(relpath, "refs/", 5) ? "move the branch of"
					   : !strcmp(relpath, "index")    ? "update the index of"
									  : "lock a file of";
			rc = mreg_error_set(MREG_ELOCKED,
					    "cannot %s '%s': '%s.lock' is held by another process (gave up after %d s; "
					    "remove it if no git command is running)",
					    what, reg->path, relpath, reg->lock_timeout_ms / 1000);
			break;
		}
		struct timespec ts = { 0, nap };
		nanosleep(&ts, NULL);
		if (nap < 32000000)
			nap *= 2;
	}
	free(path);
	return rc;
}

/* The lock file path (<relpath>.lock under the git directory) made and named as above; -1 with errno. */
static int make_lock_file(mreg_registry *reg, const char *path, const char *relpath)
{
	const char *slash = strrchr(path, '/');
	char *dir = mreg_strfmt("%.*s", (int)(slash - path), path);
	int fd = -1, err = ENOMEM;
	if (!dir)
		goto done;
	fd = open(dir, O_TMPFILE | O_WRONLY | O_CLOEXEC, 0644);
	if (fd >= 0) {
		char *proc = mreg_strfmt("/proc/self/fd/%d", fd);
		mark_set(reg, fd, path, relpath);
		int linked = proc ? linkat(AT_FDCWD, proc, AT_FDCWD, path, AT_SYMLINK_FOLLOW) : -1;
		free(proc);
		if (linked == 0) {
			err = 0;
			goto done;
		}
		err = errno;
		close(fd);
		fd = -1;
		mark_clear(reg);
		if (err != ENOENT || access("/proc/self/fd", F_OK) == 0)
			goto done;	/* EEXIST: held; or a real failure */
	} else if ((err = errno) == ENOENT) {
		goto done;	/* no directory yet */
	}
	/* no O_TMPFILE here, or no /proc: made by name and recorded right after */
	fd = open(path, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	err = fd < 0 ? errno : 0;
	if (fd >= 0)
		mark_set(reg, fd, path, relpath);
done:
	free(dir);
	errno = err;
	return fd;
}

int mreg_lock_file_create(int *out, mreg_registry *reg, const char *relpath)
{
	char *path = mreg_strfmt("%s%s.lock", reg->gitdir, relpath);
	int64_t deadline = mreg_fs_now_usec() + (int64_t)reg->lock_timeout_ms * 1000;
	bool made_dirs = false;
	int rc = 0;
	*out = -1;
	if (!path)
		return mreg_error_set(MREG_ERROR, "out of memory");
	for (;;) {
		int fd = make_lock_file(reg, path, relpath);
		if (fd >= 0) {
			*out = fd;
			break;
		}
		if (errno == ENOENT && !made_dirs) {
			made_dirs = true;
			if ((rc = mreg_fs_mkparents(path)) < 0)
				break;
			continue;
		}
		if (errno != EEXIST) {
			rc = mreg_error_set(MREG_ERROR, "cannot create '%s.lock' in '%s': %s", relpath, reg->path,
					    strerror(errno));
			break;
		}
		if ((rc = wait_git_lock(reg, relpath, deadline)) < 0)
			break;
	}
	free(path);
	return rc;
}

void mreg_lock_file_done(mreg_registry *reg)
{
	mark_clear(reg);
}

int mreg_lock_take(mreg_registry *reg)
{
	char *path;
	int rc;
	if (reg->lockfd >= 0) {
		reg->lockdepth++;
		return 0;
	}
	if (!reg->settings && (rc = mreg_registry_need_git(reg)) < 0)	/* the lock's timeout is a setting */
		return rc;
	if (!(path = mreg_strfmt("%slock", reg->mregdir)))
		return mreg_error_set(MREG_ERROR, "out of memory");
	int fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	if (fd < 0 && errno == ENOENT) {	/* a clone: .git/mreg/ is not there yet */
		if ((rc = mreg_fs_mkdirs(reg->mregdir)) < 0) {
			free(path);
			return rc;
		}
		fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0644);
	}
	free(path);
	if (fd < 0)
		return mreg_error_set(MREG_ERROR, "cannot open the lock of '%s': %s", reg->path, strerror(errno));
	int64_t start = mreg_fs_now_usec();
	for (;;) {
		if (flock(fd, LOCK_EX | LOCK_NB) == 0)
			break;
		if (errno != EWOULDBLOCK && errno != EINTR) {
			close(fd);
			return mreg_error_set(MREG_ERROR, "cannot lock '%s': %s", reg->path, strerror(errno));
		}
		if (mreg_fs_now_usec() - start >= (int64_t)reg->lock_timeout_ms * 1000) {
			close(fd);
			return mreg_error_set(MREG_ELOCKED,
					      "registry is locked by another writer: '%s' (gave up after %d s; see git config mreg.lockTimeout)",
					      reg->path, reg->lock_timeout_ms / 1000);
		}
		struct timespec ts = { 0, 2 * 1000 * 1000 };
		nanosleep(&ts, NULL);
	}
	reg->lockfd = fd;
	reg->lockdepth = 1;
	if ((rc = mreg_registry_load_node(reg)) < 0) {
		mreg_lock_release(reg);
		return rc;
	}
	/*
	 * A lock file a killed mreg left goes now; one a git command holds is
	 * waited for before anything is read, so that a `git commit` moving the
	 * branch right now is seen rather than raced.
	 */
	recover_dead_lock(reg);
	char branch[256];
	int64_t deadline = mreg_fs_now_usec() + (int64_t)reg->lock_timeout_ms * 1000;
	bool named = mreg_git_head_branch(branch, sizeof(branch), reg->gitdir);
	if ((named && (rc = wait_git_lock(reg, branch, deadline)) < 0) || (rc = wait_git_lock(reg, "index", deadline)) < 0) {
		mreg_lock_release(reg);
		return rc;
	}
	/* what HEAD names, kept while the lock is held: one read of HEAD per write (head.c) */
	if (named && reg->light && mreg_git_ref_plain(branch)) {
		memcpy(reg->head_branch, branch, sizeof(branch));
		reg->head_branch_known = true;
		reg->head_commit_known = false;
	}
	return 0;
}

void mreg_lock_release(mreg_registry *reg)
{
	if (reg->lockfd >= 0 && --reg->lockdepth <= 0) {
		mark_clear(reg);	/* whatever this process made is renamed or removed by now */
		close(reg->lockfd);
		reg->lockfd = -1;
		reg->lockdepth = 0;
		reg->known = false;	/* others may move the branch from here on */
		reg->head_branch_known = reg->head_commit_known = false;
	}
}

/*
 * Before writing <relpath> through a lock file that is not made by
 * mreg_lock_file_create (libgit2's index writes): wait for the lock file to
 * go, as above. A lock file a killed mreg left was removed when the flock
 * was taken.
 */
int mreg_lock_wait_git(mreg_registry *reg, const char *relpath)
{
	return wait_git_lock(reg, relpath, mreg_fs_now_usec() + (int64_t)reg->lock_timeout_ms * 1000);
}
