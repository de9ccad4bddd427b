/*
 * What the fsstore files share and nothing outside fsstore sees.
 */
#ifndef MREG_FSSTORE_INTERNAL_H
#define MREG_FSSTORE_INTERNAL_H

#include "store.h"
#include "../core/sha1.h"

#include <git2.h>
#include <git2/sys/mempack.h>
#include <git2/sys/repository.h>
#include <sys/stat.h>

struct mreg_registry {
	git_repository *repo;
	git_odb *odb;
	git_odb_backend *mempack;	/* a batch's new objects gather here, then go to disk as one pack */
	struct mreg_odb *lodb;	/* objects read without libgit2 (odb.c), opened when first needed */
	char *path;		/* what the user named, for messages */
	char *gitdir;		/* ends in '/' */
	char *workdir;		/* ends in '/'; NULL when bare */
	char *statedir;		/* <workdir>state/ or <gitdir>mreg/state/ */
	char *mregdir;		/* <gitdir>mreg/ */
	char *actor;
	char node[17];
	bool fsync;
	int lock_timeout_ms;
	int lockfd;
	int lockdepth;		/* mreg_lock calls not yet undone: nested ones keep the lock */
	/* files mapped for lazily loaded state, unmapped by mreg_release_maps() */
	struct {
		void *ptr;
		size_t len;
	} maps[16];
	int nmaps;
	/* opened without libgit2 (open_read, open_write): repo and odb are NULL until mreg_registry_need_git */
	bool light;
	bool settings;		/* fsync, lock_timeout_ms and actor are read from git config */
	/* the commit (and its tree) this process last moved the branch to, while it holds the lock */
	git_oid known_commit, known_tree;
	bool known;
};

/* errors from libgit2, with context, as one of our messages */
int mreg_git_error(const char *what, const char *subject);

/* fsutil.c */
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
int mreg_fs_fsync_path(const char *path);
/* Remove files named *.mreg-tmp* (left by killed writers) in dir, and below it if recursive. */
void mreg_fs_sweep_tmp(const char *dir, bool recursive);
/* Remove the files in dir (not below it) whose names match; names starting with '.' are passed by. */
void mreg_fs_unlink_where(const char *dir, bool (*match)(const char *name));
int mreg_fs_read(mreg_buf *out, const char *path, size_t cap);
int mreg_fs_write_atomic(const char *path, const void *data, size_t len, bool sync);
int mreg_fs_mkdirs(const char *dir);	/* mkdir -p of dir itself */
int mreg_fs_mkparents(const char *path);	/* mkdir -p of path's parent */
int mreg_fs_fsync_dir(const char *dir);
int64_t mreg_fs_now_usec(void);

/* config.c */
/* mreg.fsync and mreg.lockTimeout when git config does not set them */
#define MREG_FSYNC_DEFAULT true
#define MREG_LOCK_TIMEOUT_MS_DEFAULT 30000
/* $USER@host (else $LOGNAME, else unknown): the actor when git config has no mreg.actor */
char *mreg_default_actor(void);
/*
 * reg->fsync, lock_timeout_ms and actor from git config without libgit2;
 * 1 when the config holds something only libgit2 should read (see config.c).
 */
int mreg_config_light(mreg_registry *reg);

/* repo.c */
int mreg_lock(mreg_registry *reg);
/* Nested calls nest: the lock goes with the last mreg_unlock (or mreg_registry_free). */
void mreg_unlock(mreg_registry *reg);
/*
 * Wait (up to mreg.lockTimeout) for <relpath>.lock under the git directory
 * ("index", "refs/heads/main") to go: 0, or ELOCKED naming it. For lock
 * files that libgit2 makes; lock files a killed mreg left go with the flock.
 */
int mreg_clear_stale_lock(mreg_registry *reg, const char *relpath);
/*
 * <relpath>.lock made exclusively, as git does, waiting as above while
 * another process holds it, and recorded under the flock so that the next
 * mreg removes it if this one dies holding it. *out: its descriptor. After
 * renaming it over <relpath> (or removing it), mreg_lockfile_done.
 */
int mreg_lockfile_create(int *out, mreg_registry *reg, const char *relpath);
void mreg_lockfile_done(mreg_registry *reg);
/* libgit2 initialised once, with mreg's settings (objects read are hash-checked; creation is not re-checked) */
int mreg_libgit2_ready(void);
/* Give a light registry its libgit2 side (a full open); 0 at once for any other. */
int mreg_registry_need_git(mreg_registry *reg);
/* The 40 hex digits of ref (n bytes, e.g. refs/heads/main) in gitdir's packed-refs, read into b; NULL: none. */
const char *mreg_packed_ref(mreg_buf *b, const char *gitdir, const char *ref, size_t n);
/* Whether the state files (and the work tree mirror) are stamped with commit head (40 hex digits). */
bool mreg_cache_fresh_at(mreg_registry *reg, const char *head);
/* reg->node from .git/mreg/node, made once per registry (the writer lock does it too) */
int mreg_load_node(mreg_registry *reg);
int mreg_head(git_oid *commit, git_oid *tree, mreg_registry *reg);	/* ENOTFOUND: unborn */
/* HEAD read by hand names a branch holding a commit (false: detached, or anything libgit2 should judge) */
bool mreg_head_on_branch(mreg_registry *reg);
/* An object's type and bytes: read by odb.c, else (not found there) by libgit2. */
int mreg_object_read(mreg_buf *out, git_object_t *type, mreg_registry *reg, const git_oid *id);
/* ops.c: artifact_max_bytes of mreg.json at HEAD (default 1 MiB) */
int mreg_artifact_limit(mreg_registry *reg, int64_t *out);
/* mreg.json at HEAD, parsed (*out NULL when HEAD has none); MREG_EINVALID when it is not an object. */
int mreg_head_policy_doc(cJSON **out, mreg_registry *reg);
const char *mreg_branch_ref(mreg_registry *reg, char *buf, size_t n);

/* cache.c */
void mreg_release_maps(mreg_registry *reg);	/* after freeing the states that borrowed them */
void mreg_release_maps_from(mreg_registry *reg, int first);	/* only maps[first..] */
int mreg_cache_ensure(mreg_registry *reg);	/* state and mirror at HEAD; caller holds the lock */
/* lazy: versions kept as bytes until the fold touches them (writers) */
int mreg_cache_load(mreg_state **out, mreg_registry *reg, const char *model, bool all, bool lazy);
int mreg_cache_save(mreg_registry *reg, mreg_state *st, const git_oid *tree);
/* The state files at HEAD (brought up to date first) hard-linked, or copied, into dest. */
int mreg_cache_snapshot(mreg_registry *reg, const char *dest);
/*
 * Take a snapshot made by mreg_cache_snapshot as the state, if it was folded
 * from tree (else 1: nothing done, the caller folds). Caller holds the lock.
 */
int mreg_cache_adopt(mreg_registry *reg, const char *src, const git_oid *tree);
/* Load one more model of st (lazily), if it exists and is not loaded yet. */
int mreg_cache_load_model(mreg_state *st, mreg_registry *reg, const char *id);
int mreg_cache_stamp(char out[41], mreg_registry *reg);
/* The tree a stamp (state or mirror) records for commit (40 hex digits); false when none does. */
bool mreg_cache_tree_of(git_oid *tree, mreg_registry *reg, const char *commit);
int mreg_cache_mirror_stamp(char out[41], mreg_registry *reg);
int mreg_cache_set_mirror(mreg_registry *reg, const git_oid *tree);
/* An index git cannot read (cut short by a power cut) made again from tree; 0 when it reads. */
int mreg_index_check(mreg_registry *reg, const git_oid *tree);
int mreg_read_events_at(mreg_event ***out, size_t *n, mreg_registry *reg, const git_oid *tree);

/* objects.c: the new objects of one write, hashed, built and packed by hand */
typedef struct {
	git_object_t type;
	git_oid id;
	const void *data;
	size_t len;
	bool owned;		/* data is freed with the set */
} mreg_obj;
typedef struct {
	mreg_obj obj[32];
	size_t n;
} mreg_objs;
typedef struct {
	const char *path;	/* a file's path, '/'-separated, relative to the tree */
	git_oid id;		/* its blob */
} mreg_tree_update;

/* "commit", "tree", "blob" or "tag", as object headers name them */
const char *mreg_objs_type_name(git_object_t type);
/* The object id: SHA-1 of "<type> <size>\0" and the bytes. */
void mreg_objs_hash(git_oid *out, git_object_t type, const void *data, size_t len);

/* odb.c: objects read without libgit2, from packs (with deltas) and loose files */
typedef struct mreg_odb mreg_odb;
int mreg_odb_open(mreg_odb **out, const char *objdir);	/* objdir ends in '/' */
void mreg_odb_free(mreg_odb *odb);
/*
 * The object's type and bytes (checked against id) into out. 1: not found
 * here; whether libgit2 could find it, mreg_odb_unsure says (alternates, a
 * multi-pack-index, an index this reader does not read). ECORRUPT: damaged.
 */
int mreg_odb_read(mreg_buf *out, git_object_t *type, mreg_odb *odb, const git_oid *id);
bool mreg_odb_unsure(const mreg_odb *odb);
/* Look at objects/pack again: packs written since are read, packs removed since dropped. */
int mreg_odb_refresh(mreg_odb *odb);

/* pack.c: a set of object ids (open addressing; the all-zero id cannot be stored) */
typedef struct {
	unsigned char (*slot)[20];
	size_t cap, n;
} mreg_oid_set;
/* 1 added, 0 already there, -1 out of memory; free(s->slot) when done */
int mreg_oid_set_add(mreg_oid_set *s, const unsigned char *oid);
int mreg_oid_set_has(const mreg_oid_set *s, const unsigned char *oid);
/* One whole object as a pack entry (type-and-size header, zlib data) appended to out. */
int mreg_pack_put_object(mreg_buf *out, git_object_t type, const void *data, size_t len);
/* Objects as pack entries, one zlib stream for all; where each starts and the CRC-32 of its entry. */
int mreg_pack_put_objects(mreg_buf *out, uint64_t *offsets, uint32_t *crcs, const mreg_obj *objs, size_t n);

/* objects.c: add an object (data kept by pointer; freed later if owned); its id to id_out. */
int mreg_objs_add(mreg_objs *o, git_object_t type, const void *data, size_t len, bool owned, git_oid *id_out);
void mreg_objs_dispose(mreg_objs *o);
/* The tree base (NULL: empty) with the files of up added or replaced; new trees go to o. */
int mreg_objs_tree(git_oid *out, mreg_objs *o, mreg_registry *reg, const git_oid *base, const mreg_tree_update *up,
		   size_t n);
/* A commit (parent NULL: a root commit), author and committer name <email> at seconds UTC. */
int mreg_objs_commit(git_oid *out, mreg_objs *o, const git_oid *tree, const git_oid *parent, const char *name,
		     const char *email, int64_t seconds, const char *message);
/*
 * All of o as one pack with its index in objects/pack, durable when
 * reg->fsync; hex: its name; *created: false when that pack was there.
 */
int mreg_objs_write_pack(mreg_registry *reg, const mreg_objs *o, char hex[41], bool *created);
/* One object of a pack being stored: its id, where its entry starts, the CRC-32 of the entry. */
typedef struct {
	unsigned char id[20];
	uint64_t offset;
	uint32_t crc;
} mreg_pack_row;
/*
 * Store a pack built in memory ("PACK", version 2, any count, then the n
 * entries): the count is set, the trailer added, and the pack and its .idx
 * (rows are sorted here) written to objects/pack, durable when reg->fsync.
 * hex: the pack's name; *created: false when a pack of that name (the
 * same bytes) was already there, so that it is not this write's to remove.
 * Nothing is named until both files are written whole.
 */
int mreg_pack_store(mreg_registry *reg, mreg_buf *pack, mreg_pack_row *rows, size_t n, char hex[41], bool *created);

/* index.c: add or replace regular-file entries, streaming a version 2 index */
typedef struct {
	const char *path;
	git_oid id;
	struct stat st;
} mreg_index_entry;
/* 0, 1 if the index is not one this code streams (use libgit2), or <0 */
int mreg_index_add(mreg_registry *reg, mreg_index_entry *adds, size_t n);

/* write.c */
typedef struct {
	const char *path;	/* in the tree */
	const void *data;
	size_t len;
} mreg_addfile;

/* Commit files as one event; on success *tree_out is the new tree. */
int mreg_commit_event(git_oid *tree_out, mreg_registry *reg, const mreg_event *ev, const mreg_buf *bytes,
		      const mreg_addfile *extra, size_t nextra, const char *summary);

/* Point the branch at `to` (compare-and-swap with expect unless NULL), durably; for restores. */
int mreg_reset_branch(mreg_registry *reg, const git_oid *to, const git_oid *expect, const char *why);

/* Commit n serialized events (and extra files) in one commit. */
int mreg_commit_batch(git_oid *tree_out, mreg_registry *reg, const mreg_buf *bytes, const char (*ids)[33], size_t n,
		      const mreg_addfile *extra, size_t nextra, const char *summary, const char *time);

/*
 * ops.c: a write transaction. begin takes the lock and loads the state with
 * the summary and one model (NULL: none); commit fills the envelope, writes
 * the event (and extra files) as one commit, mirrors it and folds it; end
 * frees the state and unlocks. A refused request ends without a commit.
 */
typedef struct {
	mreg_registry *reg;
	mreg_state *st;
} mreg_txn;

int mreg_txn_begin(mreg_txn *t, mreg_registry *reg, const char *model);
void mreg_txn_end(mreg_txn *t);
int mreg_txn_envelope(mreg_txn *t, mreg_event *ev);
int mreg_txn_commit(mreg_txn *t, mreg_event *ev, const mreg_addfile *extra, size_t nextra, const char *summary);
/* begin, then find the version ref names (MREG_ENOTFOUND ends the transaction) */
int mreg_txn_begin_on_version(mreg_txn *t, mreg_version **v, mreg_registry *reg, const mreg_ref *ref);
/* Promote v (which ref names) to `to` in t; by (may be NULL) says who decided, in the commit summary. */
int mreg_txn_promote(mreg_txn *t, const mreg_ref *ref, const mreg_version *v, mreg_stage to, const char *reason,
		     const char *by);
/* type, model, ref and version of an event about version v (and an empty body for the newer types) */
int mreg_txn_version_envelope(mreg_event *ev, const mreg_ref *ref, const mreg_version *v, mreg_event_type type);

#endif
