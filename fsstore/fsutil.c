/*
 * Small file-system helpers: whole-file reads with a size cap, atomic
 * replace (temp file, optional fsync, rename, fsync of the directory), and
 * mkdir -p. Everything mreg writes outside git objects goes through here.
 */
#define _GNU_SOURCE
#include "fsutil.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <fts.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mman.h>
#include <sys/stat.h>
#include <sys/sysmacros.h>
#include <sys/vfs.h>
#include <sys/uio.h>
#include <time.h>
#include <unistd.h>

int mreg_fs_read(mreg_buf *out, const char *path, size_t cap)
{
	/* O_NONBLOCK: a FIFO at path reads empty (or fails) at once instead of waiting for a writer */
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);
	struct stat st;
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return mreg_error_set(MREG_ENOTFOUND, "file not found: '%s'", path);
		return mreg_error_set(MREG_ERROR, "cannot read '%s': %s", path, strerror(errno));
	}
	if (cap && cap <= 65536) {
		/* a small file (a ref, a stamp, config): no fstat, and no read after the short one */
		if (mreg_buf_grow(out, cap + 2) < 0) {
			close(fd);
			return mreg_error_set(MREG_ERROR, "out of memory reading '%s'", path);
		}
		size_t want = cap + 1;
		while (want) {
			ssize_t r = read(fd, out->ptr + out->size, want);
			if (r < 0 && errno == EINTR)
				continue;
			if (r < 0) {
				int err = errno;
				close(fd);
				return mreg_error_set(err == EISDIR ? MREG_EINVALID : MREG_ERROR, "cannot read '%s': %s",
						      path, err == EISDIR ? "not a regular file" : strerror(err));
			}
			out->size += (size_t)r;
			out->ptr[out->size] = '\0';
			if ((size_t)r < want)
				break;	/* a regular file reads short only at its end */
			want -= (size_t)r;
		}
		close(fd);
		if (out->size > cap)
			return mreg_error_set(MREG_EINVALID, "cannot read '%s': larger than %zu bytes", path, cap);
		return 0;
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode)) {
		close(fd);
		return mreg_error_set(MREG_EINVALID, "cannot read '%s': not a regular file", path);
	}
	if (cap && (size_t)st.st_size > cap) {
		close(fd);
		return mreg_error_set(MREG_EINVALID, "cannot read '%s': larger than %zu bytes", path, cap);
	}
	if (mreg_buf_grow(out, (size_t)st.st_size) < 0) {
		close(fd);
		return mreg_error_set(MREG_ERROR, "out of memory reading '%s'", path);
	}
	for (;;) {
		if (out->asize - out->size < 2 && mreg_buf_grow(out, 65536) < 0) {
			close(fd);
			return mreg_error_set(MREG_ERROR, "out of memory reading '%s'", path);
		}
		ssize_t r = read(fd, out->ptr + out->size, out->asize - out->size - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0) {
			close(fd);
			return mreg_error_set(MREG_ERROR, "cannot read '%s': %s", path, strerror(errno));
		}
		if (r == 0)
			break;
		out->size += (size_t)r;
		out->ptr[out->size] = '\0';
		if (cap && out->size > cap) {
			close(fd);
			return mreg_error_set(MREG_EINVALID, "cannot read '%s': larger than %zu bytes", path, cap);
		}
	}
	close(fd);
	return 0;
}

int mreg_fs_read_fd(mreg_buf *out, int fd, const char *what)
{
	struct stat st;
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode))
		return mreg_error_set(MREG_EINVALID, "cannot read '%s': not a regular file", what);
	if (mreg_buf_grow(out, (size_t)st.st_size + 1) < 0)
		return mreg_error_set(MREG_ERROR, "out of memory reading '%s'", what);
	for (;;) {
		if (out->asize - out->size < 2 && mreg_buf_grow(out, 65536) < 0)
			return mreg_error_set(MREG_ERROR, "out of memory reading '%s'", what);
		ssize_t r = read(fd, out->ptr + out->size, out->asize - out->size - 1);
		if (r < 0 && errno == EINTR)
			continue;
		if (r < 0)
			return mreg_error_set(MREG_ERROR, "cannot read '%s': %s", what, strerror(errno));
		if (r == 0)
			return 0;
		out->size += (size_t)r;
		out->ptr[out->size] = '\0';
	}
}

/*
 * Files up to read_max bytes are read into memory instead of mapped. A
 * mapping costs a page-table entry per page to set up and to tear down; a
 * read costs a copy into the heap, which is cheaper only when the heap's
 * pages are already there or come in large pages, as in the mreg CLI
 * (cmd/alloc.c). Set once, before the first registry is opened, so that
 * mreg_fs_unmap() can tell the two kinds apart by their length.
 */
static size_t read_max;

void mreg_fs_set_read_max(size_t bytes)
{
	read_max = bytes;
}

static int read_whole(const char **data, int fd, size_t size, const char *path)
{
	char *b = malloc(size + 1);
	size_t got = 0;
	if (!b)
		return mreg_error_set(MREG_ERROR, "out of memory reading '%s'", path);
	while (got < size) {
		ssize_t r = read(fd, b + got, size - got);
		if (r < 0 && errno == EINTR)
			continue;
		if (r <= 0) {
			int err = r < 0 ? errno : 0;
			free(b);
			if (err)
				return mreg_error_set(MREG_ERROR, "cannot read '%s': %s", path, strerror(err));
			return mreg_error_set(MREG_ERROR, "cannot read '%s': it shrank while being read", path);
		}
		got += (size_t)r;
	}
	b[size] = '\0';
	*data = b;
	return 0;
}

int mreg_fs_map(const char **data, size_t *len, const char *path)
{
	int fd = open(path, O_RDONLY | O_NONBLOCK | O_CLOEXEC);	/* never waits on a FIFO; S_ISREG below */
	struct stat st;
	int rc = 0;
	*data = NULL;
	*len = 0;
	if (fd < 0) {
		if (errno == ENOENT || errno == ENOTDIR)
			return mreg_error_set(MREG_ENOTFOUND, "file not found: '%s'", path);
		return mreg_error_set(MREG_ERROR, "cannot read '%s': %s", path, strerror(errno));
	}
	if (fstat(fd, &st) < 0 || !S_ISREG(st.st_mode) || st.st_size == 0) {
		close(fd);
		return mreg_error_set(MREG_ECORRUPT, "cannot map '%s': empty or not a regular file", path);
	}
	if ((size_t)st.st_size <= read_max) {
		rc = read_whole(data, fd, (size_t)st.st_size, path);
	} else {
		/* page-cache pages mapped directly: no copy, no zeroed memory, one fault pass */
		void *p = mmap(NULL, (size_t)st.st_size, PROT_READ, MAP_PRIVATE | MAP_POPULATE, fd, 0);
		if (p == MAP_FAILED)
			rc = mreg_error_set(MREG_ERROR, "cannot map '%s': %s", path, strerror(errno));
		else
			*data = p;
	}
	close(fd);
	if (rc == 0)
		*len = (size_t)st.st_size;
	return rc;
}

void mreg_fs_unmap(const char *data, size_t len)
{
	if (data && len <= read_max)
		free((void *)data);
	else if (data)
		munmap((void *)data, len);
}

int mreg_fs_sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0)
		return -1;
	int rc = fsync(fd), err = errno;
	close(fd);
	errno = err;
	return rc;
}

/* ext4 and XFS: one journal (log) for the whole file system, committed after a device cache flush */
#define EXT4_MAGIC 0xEF53
#define XFS_MAGIC 0x58465342

/*
 * Whether an ext4 file system on device dev keeps its journal. ext4 runs
 * without one too (made with -O ^has_journal, as some virtual machines'
 * disks are): then a directory's fsync writes the directory alone, not the
 * inodes of the files renamed into it, and only a file's own fsync makes
 * its size and blocks durable. The kernel lists each journal it runs in
 * /proc/fs/jbd2 as "<device>-<inode>"; the device's name is in
 * /sys/dev/block/<major>:<minor>/uevent. Anything not found: no journal.
 */
static bool ext4_journaled(dev_t dev)
{
	static pthread_mutex_t mu = PTHREAD_MUTEX_INITIALIZER;
	static dev_t known_dev;
	static bool known, known_journaled;
	char path[64], name[64] = "";
	mreg_buf b = MREG_BUF_INIT;
	bool journaled = false;

	pthread_mutex_lock(&mu);
	if (known && known_dev == dev) {
		journaled = known_journaled;
		pthread_mutex_unlock(&mu);
		return journaled;
	}
	pthread_mutex_unlock(&mu);
	snprintf(path, sizeof(path), "/sys/dev/block/%u:%u/uevent", major(dev), minor(dev));
	if (mreg_fs_read(&b, path, 4096) == 0) {
		const char *p = strstr(b.ptr, "DEVNAME=");
		if (p && (p == b.ptr || p[-1] == '\n'))
			sscanf(p + 8, "%63[^\n/]", name);
	}
	mreg_error_clear();
	mreg_buf_dispose(&b);
	DIR *d = name[0] ? opendir("/proc/fs/jbd2") : NULL;
	size_t n = strlen(name);
	for (struct dirent *e; d && !journaled && (e = readdir(d));)
		journaled = !strncmp(e->d_name, name, n) && e->d_name[n] == '-';
	if (d)
		closedir(d);
	pthread_mutex_lock(&mu);
	known_dev = dev;
	known_journaled = journaled;
	known = true;
	pthread_mutex_unlock(&mu);
	return journaled;
}

int mreg_fs_flush_data(int fd)
{
	struct statfs sf;
	struct stat sb;
	if (fstatfs(fd, &sf) == 0 &&
	    (sf.f_type == XFS_MAGIC || (sf.f_type == EXT4_MAGIC && fstat(fd, &sb) == 0 && ext4_journaled(sb.st_dev))) &&
	    sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER) == 0)
		return 0;
	return fsync(fd);
}

int mreg_fs_fsync_dir(const char *dir)
{
	return mreg_fs_sync_dir(dir) < 0 ? mreg_error_set(MREG_ERROR, "cannot fsync '%s': %s", dir, strerror(errno)) : 0;
}

/*
 * Replacing a file by renaming over it makes the file system deal with
 * both files at once, in the writer's time: ext4 allocates and starts
 * writing the new file's delayed blocks at the rename (its auto_da_alloc
 * guard for programs that skip fsync), and frees the old file's blocks.
 * Measured here, that is 0.4-0.6 ms per replaced file, for a file of 4 KB
 * as for one of 150 KB, against 0.07 ms for the swap below. A write
 * replaces five such files (the index, the mirror note, three state files).
 *
 * So the two names are swapped with RENAME_EXCHANGE, one atomic step in
 * which `to` always names a whole file, the old one or the new one, as with
 * rename; then the old file, now under `from`, is unlinked. A file replaced
 * again before the kernel wrote it back never gets blocks at all. Where the
 * swap is refused (`to` missing, or a file system without it), rename.
 *
 * What ext4's guard gave up here protected files nobody fsyncs against a
 * power cut. mreg replaces only files it can make again that way (the git
 * index, the stamps, the state files), and a command that finds one empty
 * or cut short makes it again from HEAD (mreg_mirror_index_check, the stamps);
 * what must survive a power cut (packs, the branch) is fsynced and renamed.
 */
int mreg_fs_replace(const char *from, const char *to)
{
	struct stat sb;
	/* swapped with a file (or a link) only: a directory at `to` is refused by rename, not moved aside */
	if (lstat(to, &sb) == 0 && !S_ISDIR(sb.st_mode) && renameat2(AT_FDCWD, from, AT_FDCWD, to, RENAME_EXCHANGE) == 0) {
		unlink(from);	/* if this fails, the name is a leftover the sweeps remove */
		return 0;
	}
	return rename(from, to);
}

int mreg_fs_write_atomic(const char *path, const void *data, size_t len, bool sync)
{
	mreg_span one = { data, 0, len };
	return mreg_fs_write_atomic_spans(path, NULL, &one, 1, sync);
}

int mreg_fs_write_spans(int fd, const mreg_buf *own, const mreg_span *spans, size_t n)
{
	struct iovec iov[64];
	for (size_t i = 0; i < n;) {
		int k = 0;
		for (; i < n && k < 64; i++)
			if (spans[i].len) {
				iov[k].iov_base = (void *)(spans[i].ptr ? spans[i].ptr : own->ptr + spans[i].off);
				iov[k].iov_len = spans[i].len;
				k++;
			}
		for (int j = 0; j < k;) {
			ssize_t w = writev(fd, iov + j, k - j);
			if (w < 0 && errno == EINTR)
				continue;
			if (w < 0)
				return -1;
			while (j < k && (size_t)w >= iov[j].iov_len)
				w -= (ssize_t)iov[j++].iov_len;
			if (j < k) {
				iov[j].iov_base = (char *)iov[j].iov_base + w;
				iov[j].iov_len -= (size_t)w;
			}
		}
	}
	return 0;
}

int mreg_fs_write_atomic_spans(const char *path, const mreg_buf *own, const mreg_span *spans, size_t n, bool sync)
{
	char *tmp = mreg_strfmt("%s.mreg-tmp%d", path, (int)getpid());
	int fd = -1, rc = MREG_ERROR;
	if (!tmp)
		return mreg_error_set(MREG_ERROR, "out of memory");
	fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 && errno == ENOENT && mreg_fs_mkparents(path) == 0)
		fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0644);
	if (fd < 0 || mreg_fs_write_spans(fd, own, spans, n) < 0 || (sync && fsync(fd) < 0)) {
		rc = mreg_error_set(MREG_ERROR, "cannot write '%s': %s", path, strerror(errno));
		goto done;
	}
	int c = close(fd);
	fd = -1;
	if (c < 0 || mreg_fs_replace(tmp, path) < 0) {
		rc = mreg_error_set(MREG_ERROR, "cannot write '%s': %s", path, strerror(errno));
		goto done;
	}
	if (sync) {	/* the rename itself is durable once its directory is */
		char *dir = mreg_strdup(path);
		char *slash = dir ? strrchr(dir, '/') : NULL;
		if (slash)
			*slash = '\0';
		rc = mreg_fs_fsync_dir(slash ? dir : ".");
		free(dir);
		if (rc < 0)
			goto done;
	}
	rc = 0;
done:
	if (fd >= 0)
		close(fd);
	if (rc < 0)
		unlink(tmp);
	free(tmp);
	return rc;
}

int mreg_fs_mkdirs(const char *dir)
{
	char *p = mreg_strdup(dir);
	if (!p)
		return mreg_error_set(MREG_ERROR, "out of memory");
	for (char *s = p + 1; *s; s++) {
		if (*s != '/')
			continue;
		*s = '\0';
		if (mkdir(p, 0755) < 0 && errno != EEXIST) {
			int e = errno;
			free(p);
			return mreg_error_set(MREG_ERROR, "cannot create directory '%s': %s", dir, strerror(e));
		}
		*s = '/';
	}
	int rc = 0;
	if (mkdir(p, 0755) < 0 && errno != EEXIST)
		rc = mreg_error_set(MREG_ERROR, "cannot create directory '%s': %s", dir, strerror(errno));
	free(p);
	return rc;
}

int mreg_fs_mkparents(const char *path)
{
	char *p = mreg_strdup(path);
	char *slash = p ? strrchr(p, '/') : NULL;
	int rc = 0;
	if (!p)
		return mreg_error_set(MREG_ERROR, "out of memory");
	if (slash && slash != p) {
		*slash = '\0';
		rc = mreg_fs_mkdirs(p);
	}
	free(p);
	return rc;
}

void mreg_fs_unlink_where(const char *dir, bool (*match)(const char *name))
{
	DIR *d = opendir(dir);
	struct dirent *de;
	while (d && (de = readdir(d))) {
		if (de->d_name[0] == '.' || !match(de->d_name))
			continue;
		char *f = mreg_strfmt("%s/%s", dir, de->d_name);
		if (f)
			unlink(f);
		free(f);
	}
	if (d)
		closedir(d);
}

void mreg_fs_sweep_tmp(const char *dir, bool recursive)
{
	DIR *d = opendir(dir);
	struct dirent *de;
	if (!d)
		return;
	while ((de = readdir(d))) {
		if (de->d_name[0] == '.' && (!de->d_name[1] || (de->d_name[1] == '.' && !de->d_name[2])))
			continue;
		char *p = mreg_strfmt("%s/%s", dir, de->d_name);
		if (!p)
			break;
		if (strstr(de->d_name, ".mreg-tmp"))
			unlink(p);
		else if (recursive && de->d_type == DT_DIR)
			mreg_fs_sweep_tmp(p, true);
		free(p);
	}
	closedir(d);
}

int64_t mreg_fs_now_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

/* ---- paths beneath a directory, never through a symbolic link -------- */

/*
 * A peer decides what a checkout puts in the work tree: a committed
 * symbolic link `state -> /anywhere` or `events/ab -> /anywhere` would make
 * every write by path land where the peer chose. So what mreg writes under
 * the work tree (and under .git/lfs) is reached from a directory it opened
 * itself, one name at a time, with O_NOFOLLOW: a symbolic link (or a file)
 * where the layout has a directory is refused, or, when asked, removed and
 * made a directory (a repair: the work tree is a mirror mreg owns).
 * Directories made on the way are fsynced, with the first one that existed
 * above them, when durability is asked for: a new file's name survives a
 * power cut only if the names of the directories leading to it do.
 */
static int open_dir_at(int at, const char *name)
{
	return openat(at, name, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC);
}

int mreg_fs_dir_beneath(int *out, const char *root, const char *rel, unsigned how)
{
	int fd = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	*out = -1;
	if (fd < 0)
		return mreg_error_set(errno == ENOENT ? MREG_ENOTFOUND : MREG_ERROR, "cannot open directory '%s': %s",
				      root, strerror(errno));
	int rc = mreg_fs_dir_beneath_at(out, fd, rel, how);
	close(fd);
	return rc;
}

int mreg_fs_dir_beneath_at(int *out, int rootfd, const char *rel, unsigned how)
{
	char comp[256];
	int fd = fcntl(rootfd, F_DUPFD_CLOEXEC, 0);
	int rc = 0;

	*out = -1;
	if (fd < 0)
		return mreg_error_set(MREG_ERROR, "cannot open '%s': %s", rel, strerror(errno));
	for (const char *p = rel; *p;) {
		size_t n = strcspn(p, "/");
		if (n == 0 || n >= sizeof(comp) || (n == 1 && p[0] == '.') || (n == 2 && p[0] == '.' && p[1] == '.')) {
			rc = mreg_error_set(MREG_EINVALID, "invalid path '%s'", rel);
			goto done;
		}
		memcpy(comp, p, n);
		comp[n] = '\0';
		int sub = open_dir_at(fd, comp);
		if (sub < 0 && (errno == ELOOP || errno == ENOTDIR)) {
			struct stat sb;
			bool link = fstatat(fd, comp, &sb, AT_SYMLINK_NOFOLLOW) == 0 && S_ISLNK(sb.st_mode);
			if (!(how & MREG_FS_REPAIR)) {
				rc = mreg_error_set(MREG_ECORRUPT, "'%.*s' is %s, not a directory", (int)(p - rel + n), rel,
						    link ? "a symbolic link" : "a file");
				goto done;
			}
			if (unlinkat(fd, comp, 0) < 0) {
				rc = mreg_error_set(MREG_ERROR, "cannot remove '%.*s': %s", (int)(p - rel + n), rel,
						    strerror(errno));
				goto done;
			}
			errno = ENOENT;
		}
		if (sub < 0 && errno == ENOENT && (how & (MREG_FS_MKDIRS | MREG_FS_REPAIR))) {
			if (mkdirat(fd, comp, 0755) < 0 && errno != EEXIST) {
				rc = mreg_error_set(MREG_ERROR, "cannot create directory '%.*s': %s", (int)(p - rel + n),
						    rel, strerror(errno));
				goto done;
			}
			/* the new name is durable once its directory is: the first that existed, or one made here */
			if ((how & MREG_FS_SYNC) && fsync(fd) < 0) {
				rc = mreg_error_set(MREG_ERROR, "cannot fsync the directory above '%.*s': %s",
						    (int)(p - rel + n), rel, strerror(errno));
				goto done;
			}
			sub = open_dir_at(fd, comp);
		}
		if (sub < 0) {
			rc = mreg_error_set(errno == ENOENT ? MREG_ENOTFOUND : MREG_ERROR, "cannot open directory '%.*s': %s",
					    (int)(p - rel + n), rel, strerror(errno));
			goto done;
		}
		close(fd);
		fd = sub;
		p += n;
		while (*p == '/')
			p++;
	}
	*out = fd;
	fd = -1;
done:
	if (fd >= 0)
		close(fd);
	return rc;
}

int mreg_fs_parent_beneath(int *out, const char **name, const char *root, const char *relpath, unsigned how)
{
	const char *slash = strrchr(relpath, '/');
	char dir[512];
	*name = slash ? slash + 1 : relpath;
	if (!slash) {
		*out = open(root, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
		return *out >= 0 ? 0 : mreg_error_set(MREG_ERROR, "cannot open directory '%s': %s", root, strerror(errno));
	}
	if ((size_t)(slash - relpath) >= sizeof(dir))
		return mreg_error_set(MREG_EINVALID, "invalid path '%s'", relpath);
	memcpy(dir, relpath, (size_t)(slash - relpath));
	dir[slash - relpath] = '\0';
	return mreg_fs_dir_beneath(out, root, dir, how);
}

int mreg_fs_open_at(int *out, int dirfd, const char *name, int flags, unsigned how)
{
	*out = openat(dirfd, name, flags | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (*out < 0 && errno == ELOOP && (flags & O_CREAT) && (how & MREG_FS_REPAIR)) {
		/* a symbolic link where mreg keeps a file: the link goes, never what it points to */
		if (unlinkat(dirfd, name, 0) == 0)
			*out = openat(dirfd, name, flags | O_NOFOLLOW | O_CLOEXEC, 0644);
	}
	if (*out >= 0)
		return 0;
	if (errno == ELOOP)
		return mreg_error_set(MREG_ECORRUPT, "'%s' is a symbolic link", name);
	return mreg_error_set(errno == ENOENT ? MREG_ENOTFOUND : MREG_ERROR, "cannot open '%s': %s", name, strerror(errno));
}

int mreg_fs_write_atomic_at(int dirfd, const char *name, const mreg_buf *own, const mreg_span *spans, size_t n,
			    bool sync)
{
	char tmp[300];
	int fd = -1, rc = 0;
	if (snprintf(tmp, sizeof(tmp), "%s.mreg-tmp%d", name, (int)getpid()) >= (int)sizeof(tmp))
		return mreg_error_set(MREG_EINVALID, "name too long: '%s'", name);
	unlinkat(dirfd, tmp, 0);	/* a leftover of a killed process with this pid */
	fd = openat(dirfd, tmp, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0644);
	if (fd < 0 || mreg_fs_write_spans(fd, own, spans, n) < 0 || (sync && fsync(fd) < 0)) {
		rc = mreg_error_set(MREG_ERROR, "cannot write '%s': %s", name, strerror(errno));
		goto done;
	}
	int c = close(fd);
	fd = -1;
	/* a swap moves a file or a link at name to tmp, and tmp is unlinked; a directory there is refused */
	struct stat sb;
	bool swap = fstatat(dirfd, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(sb.st_mode);
	if (c < 0 || ((!swap || renameat2(dirfd, tmp, dirfd, name, RENAME_EXCHANGE) < 0) && renameat(dirfd, tmp, dirfd, name) < 0)) {
		rc = mreg_error_set(MREG_ERROR, "cannot write '%s': %s", name, strerror(errno));
		goto done;
	}
	if (sync && fsync(dirfd) < 0)
		rc = mreg_error_set(MREG_ERROR, "cannot fsync the directory of '%s': %s", name, strerror(errno));
done:
	if (fd >= 0)
		close(fd);
	unlinkat(dirfd, tmp, 0);	/* the old file after a swap, or the temporary after a failure */
	return rc;
}

/* path and what is below it, children before their directory, never through a link: fn for each. */
static void walk(const char *path, void (*fn)(const FTSENT *e, void *payload), void *payload)
{
	char *argv[] = { (char *)path, NULL };
	FTS *f = fts_open(argv, FTS_PHYSICAL | FTS_NOCHDIR, NULL);
	FTSENT *e;
	while (f && (e = fts_read(f)))
		if (e->fts_info != FTS_D)	/* a directory comes again after its children (FTS_DP) */
			fn(e, payload);
	if (f)
		fts_close(f);
}

static void remove_one(const FTSENT *e, void *payload)
{
	(void)payload;
	if (e->fts_info == FTS_DP)
		rmdir(e->fts_accpath);
	else
		unlink(e->fts_accpath);
}

void mreg_fs_remove_tree(const char *path)
{
	walk(path, remove_one, NULL);
}

static void add_size(const FTSENT *e, void *payload)
{
	if (e->fts_info == FTS_F)
		*(int64_t *)payload += (int64_t)e->fts_statp->st_size;
}

int64_t mreg_fs_tree_size(const char *path)
{
	int64_t n = 0;
	walk(path, add_size, &n);
	return n;
}

/* ---- bulk work on every core ---------------------------------------- */

int mreg_threads(void)
{
	const char *env = getenv("MREG_FOLD_THREADS");
	long n = env && *env ? strtol(env, NULL, 10) : sysconf(_SC_NPROCESSORS_ONLN);
	return n < 1 ? 1 : n > MREG_MAX_THREADS ? MREG_MAX_THREADS : (int)n;
}

typedef struct {
	size_t n, chunk;
	void (*fn)(void *arg, size_t i);
	void *arg;
	void (*done)(void);
	atomic_size_t next;
} par;

static void take_chunks(par *p)
{
	for (;;) {
		size_t at = atomic_fetch_add(&p->next, p->chunk);
		if (at >= p->n)
			return;
		for (size_t i = at; i < p->n && i < at + p->chunk; i++)
			p->fn(p->arg, i);
	}
}

static void *par_thread(void *arg)
{
	par *p = arg;
	take_chunks(p);
	if (p->done)
		p->done();
	return NULL;
}

void mreg_parallel_for(size_t n, size_t chunk, void (*fn)(void *arg, size_t i), void *arg, void (*done)(void))
{
	par p = { n, chunk ? chunk : 1, fn, arg, done, 0 };
	pthread_t tid[MREG_MAX_THREADS];
	size_t most = n / (2 * p.chunk);	/* two chunks a thread at least (no look at the cores for less) */
	int want = most > 1 ? mreg_threads() : 1, started = 0;
	if ((size_t)want > most)
		want = (int)most;
	for (int i = 0; i < want - 1; i++)
		if (pthread_create(&tid[started], NULL, par_thread, &p) == 0)
			started++;
	take_chunks(&p);
	for (int i = 0; i < started; i++)
		pthread_join(tid[i], NULL);
}
