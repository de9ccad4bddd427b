/*
 * What the fsstore files share and nothing outside fsstore sees.
 */
#ifndef MREG_FSSTORE_INTERNAL_H
#define MREG_FSSTORE_INTERNAL_H

#include "store.h"
#include "fsutil.h"
#include "git/git.h"

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
/* The entry at path ('/'-separated) under tree: 0, 1 when there is none, or <0. */
int mreg_tree_path(git_oid *out, unsigned *mode, mreg_registry *reg, const git_oid *tree, const char *path);
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
/* Load one more model of st (lazily), if it exists and is not loaded yet. */
int mreg_cache_load_model(mreg_state *st, mreg_registry *reg, const char *id);
int mreg_cache_stamp(char out[41], mreg_registry *reg);
/* The tree a stamp (state or mirror) records for commit (40 hex digits); false when none does. */
bool mreg_cache_tree_of(git_oid *tree, mreg_registry *reg, const char *commit);
int mreg_cache_mirror_stamp(char out[41], mreg_registry *reg);
int mreg_cache_set_mirror(mreg_registry *reg, const git_oid *tree);
/* State and mirror at HEAD (mreg_cache_ensure), and every large file's work tree copy checked by hash. */
int mreg_cache_check_large(mreg_registry *reg);
/* An index git cannot read (cut short by a power cut) made again from tree; 0 when it reads. */
int mreg_index_check(mreg_registry *reg, const git_oid *tree);
/* The events at tree in fold order; the event files left out (and why) into quarantined, if given. */
int mreg_read_events_at(mreg_event ***out, size_t *n, mreg_state *quarantined, mreg_registry *reg,
			const git_oid *tree);

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
/*
 * Add or replace the entries adds and drop the paths removes (sorted here):
 * 0, 1 if the index is not one this code streams (use libgit2), or <0.
 */
int mreg_index_update(mreg_registry *reg, mreg_index_entry *adds, size_t n, char **removes, size_t nremoves);
/*
 * fn run on a libgit2 index bound to a private file (a copy of the index
 * when copy, else empty), which is then put in place under a recorded
 * index.lock: libgit2 never makes .git/index.lock itself.
 */
int mreg_index_libgit2(mreg_registry *reg, bool copy, int (*fn)(git_index *idx, void *payload), void *payload);

/* lfs.c: large files in Git LFS's layout (see lfs.c) */
typedef struct {
	char oid[65];		/* SHA-256 of the bytes, hex */
	int64_t size;
} mreg_lfs_pointer;
/* A Git LFS pointer file's bytes: 0, or 1 when they are not a (canonical, version 1) pointer. */
int mreg_lfs_pointer_parse(mreg_lfs_pointer *out, const void *data, size_t len);
int mreg_lfs_pointer_format(mreg_buf *out, const mreg_lfs_pointer *p);
/*
 * Whether a committed file (path under artifacts/ or blobs/, named by its
 * xxh128) is a pointer to a large file rather than the file itself: its
 * bytes do not hash to its name and are a pointer.
 */
bool mreg_lfs_pointer_at(mreg_lfs_pointer *out, const char *path, const void *data, size_t len);
/* xxh128 of everything, SHA-256 from when it is started (with the bytes seen before) */
typedef struct {
	struct XXH3_state_s *x;
	struct evp_md_ctx_st *s;
	int64_t size;
} mreg_hasher;
int mreg_hasher_init(mreg_hasher *h, bool sha256);
int mreg_hasher_start_sha256(mreg_hasher *h, const void *seen, size_t len);
void mreg_hasher_update(mreg_hasher *h, const void *data, size_t len, bool sha256);
void mreg_hasher_final(mreg_hasher *h, char xxh[33], char sha[65]);	/* sha may be NULL */
void mreg_hasher_dispose(mreg_hasher *h);
/* The object's file in .git/lfs/objects, opened for reading (ENOTFOUND when absent). */
int mreg_lfs_open(int *out, mreg_registry *reg, const char *oid);
/* The object is there and holds p's bytes (and, given xxh, hashes to it); ECORRUPT otherwise. */
int mreg_lfs_check(mreg_registry *reg, const mreg_lfs_pointer *p, const char *xxh);
/* Move the file tmpname of tmpdir (fsynced by the caller) into the store as p, unless a good copy is there. */
int mreg_lfs_put(mreg_registry *reg, int tmpdir, const char *tmpname, const mreg_lfs_pointer *p);
/* Bytes in memory into the store (durably when reg->fsync); *out: their pointer. */
int mreg_lfs_store_buf(mreg_lfs_pointer *out, mreg_registry *reg, const void *data, size_t len);
/* .git/lfs/tmp, where large files are copied while they are read; litter of killed writers is swept. */
int mreg_lfs_tmp_dir(int *out, mreg_registry *reg);
void mreg_lfs_sweep(mreg_registry *reg);
/* Whether the work tree copy at relpath holds p's bytes (0), or not (1: missing, a link, other bytes). */
int mreg_lfs_copy_ok(mreg_registry *reg, const char *relpath, const mreg_lfs_pointer *p, const char *xxh);
/* The work tree copy at relpath made (or kept, if it holds the right bytes) from the store; *st: its stat. */
int mreg_lfs_checkout(struct stat *st, mreg_registry *reg, const char *relpath, const mreg_lfs_pointer *p,
		      const char *xxh);

/* write.c */
typedef struct {
	const char *path;	/* in the tree */
	const void *data;
	size_t len;
	const mreg_lfs_pointer *lfs;	/* data is this pointer; the work tree gets the bytes it names */
} mreg_addfile;

/* ops.c: a committed file's work tree copy (made without following links; large files from .git/lfs) and its entry */
int mreg_mirror_file(mreg_index_entry *e, mreg_registry *reg, const mreg_addfile *f);
/* The entries into the index: streamed (index.c), else through libgit2 on a private copy */
int mreg_mirror_index(mreg_registry *reg, mreg_index_entry *adds, size_t n, const git_oid *tree);
/* The same, dropping the entries of removes too */
int mreg_mirror_index_change(mreg_registry *reg, mreg_index_entry *adds, size_t n, char **removes, size_t nremoves,
			     const git_oid *tree);


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
/*
 * The files a commit adds for n large files already in the store: a pointer
 * at each path and, per directory, HEAD's .gitattributes with a line for
 * each (ops.c). Paths and pointers are borrowed.
 */
typedef struct {
	mreg_addfile *files;
	size_t n;
	mreg_buf *bufs;
	size_t nbufs;
	char **attrpaths;
	size_t nattr;
} mreg_lfs_files;
int mreg_lfs_files_make(mreg_lfs_files *out, mreg_registry *reg, char *const *paths, const mreg_lfs_pointer *ptrs,
			size_t n);
void mreg_lfs_files_dispose(mreg_lfs_files *f);
/* Large files of a registry from before .git/lfs moved there, in one commit (see ops.c); caller holds the lock. */
int mreg_lfs_migrate(mreg_registry *reg);
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
