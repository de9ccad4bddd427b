/*
 * floor: what this machine charges any CLI command before mreg's own work,
 * for `make bench`. It contains no mreg code and is linked statically, so
 * it starts faster than anything that loads a shared library.
 *
 *   floor                        exit at once: the start of a process
 *   floor write DIR PACK IDX [fsync]
 *                                the file work of one durable git commit,
 *                                done the way mreg does it (fsstore/objects.c,
 *                                fsstore/write.c), with no objects to build:
 *
 *     1. a pack of PACK bytes written to a temporary name, written out
 *        (sync_file_range, waited for), renamed;
 *     2. its index of IDX bytes, the same;
 *     3. their directory fsynced: the objects are durable;
 *     4. the branch's lock created exclusively, 41 bytes written, written out;
 *     5. one reflog line appended, the lock renamed over the branch;
 *     6. the branch's directory fsynced: the commit is durable.
 *
 * Two full flushes that must happen in this order, since a branch may never
 * name objects a crash could lose (README, "Durability"; on XFS and on ext4
 * with its journal, where mreg writes this way). With fsync, each file is
 * fsynced instead of written out, as mreg does on any other file system
 * (ext4 without a journal among them): five flushes. The time of `floor write` is the least a
 * durable write in git's format can take as a command here; the time of
 * `floor` alone, the least any command can take.
 */
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

static int fail(const char *what, const char *path)
{
	fprintf(stderr, "floor: cannot %s '%s': %s\n", what, path, strerror(errno));
	return 1;
}

static int per_file_fsync;

/* data to the device and waited for, the flush left to the directory's fsync (as fsstore/fsutil.c) */
static int writeout(int fd)
{
	if (per_file_fsync)
		return fsync(fd);
	return sync_file_range(fd, 0, 0, SYNC_FILE_RANGE_WAIT_BEFORE | SYNC_FILE_RANGE_WRITE | SYNC_FILE_RANGE_WAIT_AFTER);
}

static int sync_dir(const char *dir)
{
	int fd = open(dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
	if (fd < 0 || fsync(fd) < 0)
		return fail("fsync", dir);
	close(fd);
	return 0;
}

/* size bytes to tmp, durable, then renamed to final (steps 1 and 2) */
static int put_file(const char *tmp, const char *final, size_t size)
{
	static char data[1 << 20];
	if (size > sizeof(data)) {
		errno = EFBIG;
		return fail("write", final);
	}
	size_t seed = (size_t)getpid();
	for (size_t i = 0; i < size; i++)
		data[i] = (char)(i * 131 + seed);
	int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0444);
	if (fd < 0 || write(fd, data, size) != (ssize_t)size || writeout(fd) < 0 || close(fd) < 0)
		return fail("write", tmp);
	if (rename(tmp, final) < 0)
		return fail("rename", tmp);
	return 0;
}

static int durable_commit(const char *dir, size_t pack_bytes, size_t idx_bytes)
{
	char packdir[4096], refdir[4096], tmp[4200], final[4200], lock[4200], ref[4200], log[4200];
	long pid = (long)getpid();

	snprintf(packdir, sizeof(packdir), "%s/pack", dir);
	snprintf(refdir, sizeof(refdir), "%s/refs", dir);
	if ((mkdir(dir, 0755) < 0 && errno != EEXIST) || (mkdir(packdir, 0755) < 0 && errno != EEXIST) ||
	    (mkdir(refdir, 0755) < 0 && errno != EEXIST))
		return fail("create", dir);

	snprintf(tmp, sizeof(tmp), "%s/pack-%ld.pack.tmp", packdir, pid);
	snprintf(final, sizeof(final), "%s/pack-%ld.pack", packdir, pid);
	if (put_file(tmp, final, pack_bytes))
		return 1;
	snprintf(tmp, sizeof(tmp), "%s/pack-%ld.idx.tmp", packdir, pid);
	snprintf(final, sizeof(final), "%s/pack-%ld.idx", packdir, pid);
	if (put_file(tmp, final, idx_bytes) || sync_dir(packdir))
		return 1;

	snprintf(lock, sizeof(lock), "%s/main.lock", refdir);
	snprintf(ref, sizeof(ref), "%s/main", refdir);
	snprintf(log, sizeof(log), "%s/main.log", refdir);
	char line[41];
	snprintf(line, sizeof(line), "%040ld", pid);
	line[40] = '\n';
	int fd = open(lock, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0644);
	if (fd < 0 || write(fd, line, sizeof(line)) != (ssize_t)sizeof(line) || writeout(fd) < 0 || close(fd) < 0)
		return fail("write", lock);
	int lfd = open(log, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0644);
	if (lfd < 0 || write(lfd, line, sizeof(line)) != (ssize_t)sizeof(line) || close(lfd) < 0)
		return fail("append to", log);
	if (rename(lock, ref) < 0)
		return fail("rename", lock);
	return sync_dir(refdir);
}

int main(int argc, char **argv)
{
	if (argc == 1)
		return 0;
	if (argc < 5 || argc > 6 || strcmp(argv[1], "write") || (argc == 6 && strcmp(argv[5], "fsync"))) {
		fprintf(stderr, "usage: floor [write DIR PACK_BYTES IDX_BYTES [fsync]]\n");
		return 2;
	}
	per_file_fsync = argc == 6;
	return durable_commit(argv[2], strtoul(argv[3], NULL, 10), strtoul(argv[4], NULL, 10));
}
