/*
 * File-system helpers, for all of fsstore/ (git/ too): whole-file reads and
 * mappings, atomic replaces, directories opened one name at a time without
 * following a link, fsync of directories. Nothing here knows a registry.
 */
#ifndef MREG_FSUTIL_H
#define MREG_FSUTIL_H

#include "../core/common.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/*
 * A whole file, read-only: read into the heap when it is at most the size
 * mreg_fs_set_read_max() gave, else mapped and populated in one go;
 * ENOTFOUND if missing, ECORRUPT if empty or not a regular file.
 */
int mreg_fs_map(const char **data, size_t *len, const char *path);
void mreg_fs_unmap(const char *data, size_t len);
/* Write spans (of own, or where they point) to fd; -1 with errno on failure. */
int mreg_fs_write_spans(int fd, const mreg_buf *own, const mreg_span *spans, size_t n);
/* Atomic replace like mreg_fs_write_atomic, the content given as spans of own. */
int mreg_fs_write_atomic_spans(const char *path, const mreg_buf *own, const mreg_span *spans, size_t n, bool sync);
/* rename(from, to) as readers see it, at less cost when to exists; -1 with errno. */
int mreg_fs_replace(const char *from, const char *to);
/* Remove files named *.mreg-tmp* (left by killed writers) in dir, and below it if recursive. */
void mreg_fs_sweep_tmp(const char *dir, bool recursive);
/* Remove the files in dir (not below it) whose names match; names starting with '.' are passed by. */
void mreg_fs_unlink_where(const char *dir, bool (*match)(const char *name));
int mreg_fs_read(mreg_buf *out, const char *path, size_t cap);
/* The rest of the regular file fd into out. */
int mreg_fs_read_fd(mreg_buf *out, int fd, const char *what);
int mreg_fs_write_atomic(const char *path, const void *data, size_t len, bool sync);
int mreg_fs_mkdirs(const char *dir);	/* mkdir -p of dir itself */
int mreg_fs_mkparents(const char *path);	/* mkdir -p of path's parent */
/*
 * The directory rel ('/'-separated, no '.' or '..') beneath root, opened
 * one name at a time without following a symbolic link: a link or a file
 * on the way is ECORRUPT, or with REPAIR is removed and made a directory;
 * MKDIRS makes what is missing; SYNC makes new names durable (each new
 * directory's parent is fsynced; the caller fsyncs the one it gets after
 * adding its own file). *out: a directory fd to close.
 */
#define MREG_FS_MKDIRS 1u
#define MREG_FS_REPAIR 2u
#define MREG_FS_SYNC 4u
int mreg_fs_dir_beneath(int *out, const char *root, const char *rel, unsigned how);
/* The same beneath a directory already open. */
int mreg_fs_dir_beneath_at(int *out, int rootfd, const char *rel, unsigned how);
/* The directory of relpath beneath root, as mreg_fs_dir_beneath; *name: relpath's last part. */
int mreg_fs_parent_beneath(int *out, const char **name, const char *root, const char *relpath, unsigned how);
/* openat with O_NOFOLLOW (mode 0644); with O_CREAT and REPAIR a symbolic link at name is removed first. */
int mreg_fs_open_at(int *out, int dirfd, const char *name, int flags, unsigned how);
/* Atomic replace of name in dirfd (temporary file, swap, unlink); whatever was at name, a link too, is replaced. */
int mreg_fs_write_atomic_at(int dirfd, const char *name, const mreg_buf *own, const mreg_span *spans, size_t n,
			    bool sync);
int mreg_fs_fsync_dir(const char *dir);
/*
 * Bulk work on every core: fn(arg, i) for each i below n, on up to
 * mreg_threads() threads (this one among them) taking chunk indexes at a
 * time; on this thread alone when there are fewer than two chunks a
 * thread. done, when given, runs on each other thread before it ends (to
 * free what it kept per thread). fn must not touch what another i does.
 */
#define MREG_MAX_THREADS 8
int mreg_threads(void);	/* $MREG_FOLD_THREADS (1 to 8), else one a core up to 8 */
void mreg_parallel_for(size_t n, size_t chunk, void (*fn)(void *arg, size_t i), void *arg, void (*done)(void));
/*
 * fd's data written out to the device and waited for, without the flush of
 * the device's cache and of the file's metadata that fsync adds, on ext4 and
 * XFS; a full fsync elsewhere. Durable once a full flush of the same file
 * system follows (fsync of the directory the file is then renamed into):
 * the one flush that makes a write durable (README, "Durability"). -1 with
 * errno on failure.
 */
int mreg_fs_flush_data(int fd);
/* The same with no message: -1 with errno, for a caller that says more than "cannot fsync". */
int mreg_fs_sync_dir(const char *dir);
/* path removed, and all below it if a directory (links removed, never followed); what cannot be goes unsaid. */
void mreg_fs_remove_tree(const char *path);
/* The bytes of the regular files at and below path (links not followed). */
int64_t mreg_fs_tree_size(const char *path);
int64_t mreg_fs_now_usec(void);

#endif
