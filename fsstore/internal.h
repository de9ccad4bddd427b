/*
 * What the fsstore files share and nothing outside fsstore sees.
 */
#ifndef MREG_FSSTORE_INTERNAL_H
#define MREG_FSSTORE_INTERNAL_H

#include "store.h"
#include "fsutil.h"
#include "git/git.h"
#include "../core/breaker.h"
#include "../core/jsonw.h"

#include <git2.h>
#include <git2/sys/mempack.h>
#include <git2/sys/repository.h>
#include <sys/stat.h>

/* An event read and checked from the blob id, by a sync (mreg_incoming_item); taken: *ev becomes NULL. */
typedef struct {
	git_oid id;
	mreg_event **ev;
} mreg_known_event;

struct mreg_registry {
	git_repository *repo;
	git_odb *odb;
	git_odb_backend *mempack;	/* a batch's new objects gather here, then go to disk as one pack */
	struct mreg_odb *lodb;	/* objects read without libgit2 (git/odb.c), opened when first needed */
	char *path;		/* what the user named, for messages */
	char *gitdir;		/* ends in '/' */
	char *workdir;		/* ends in '/'; NULL when bare */
	/*
	 * Events are not checked out (README, "The work tree"): git sees a bare
	 * repository (core.bare in <workdir>.git/config), there is no index, and
	 * the work tree holds state/ and the model files only.
	 */
	bool lean;
	char *statedir;		/* <workdir>state/ or <gitdir>mreg/state/ */
	char *mregdir;		/* <gitdir>mreg/ */
	char *actor;
	char node[17];
	bool fsync;
	int lock_timeout_ms;
	int lockfd;
	int lockdepth;		/* mreg_lock_take calls not yet undone: nested ones keep the lock */
	/* files mapped for lazily loaded state, unmapped by mreg_cache_release_maps() */
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
	/*
	 * HEAD read by hand once under the writer lock (light handles): the
	 * branch it names and, once read, the commit that holds; this process's
	 * own branch moves keep it current, and it goes with the lock (head.c).
	 */
	char head_branch[256];
	git_oid head_commit;
	bool head_branch_known, head_commit_known;
	/*
	 * keep_state: a transaction's state, when it ends as what the files now
	 * hold (loaded and unchanged, or the commit folded in and saved), is
	 * kept here for the caller, with the mappings it borrows; freed with
	 * the registry. The C API answers a write with it instead of reading
	 * the model's state file again. While it lives no caller may release
	 * every mapping (mreg_cache_release_maps), only those above a mark it
	 * took itself; a transaction that commits other than by
	 * mreg_txn_commit clears its current first.
	 */
	bool keep_state;
	mreg_state *kept;
	/*
	 * Events this process has read and checked already (a sync's incoming
	 * range, mreg_incoming_item), sorted by blob id: a fold of the events
	 * added since the state's tree takes such an event instead of reading
	 * and parsing its blob again, when the blob and its name are the same
	 * (mreg_events_added). Borrowed: set and cleared by the caller.
	 */
	mreg_known_event *known_events;
	size_t nknown_events;
	/*
	 * A fold of every event into the state cache (fold_all) uses and
	 * writes the fold's key cache (foldkeys.c); fold_keys_wrong: a key
	 * did not hold while keys from it were in use, and that fold stopped.
	 */
	bool fold_keys, fold_keys_wrong;
};

/* ---- libgit2.c ------------------------------------------------------------ */

/* errors from libgit2, with context, as one of our messages */
int mreg_libgit2_error(const char *what, const char *subject);
/* libgit2 initialised once, with mreg's settings (objects read are hash-checked; creation is not re-checked) */
int mreg_libgit2_ready(void);

/* ---- registry.c: open, init, settings, node id, freshness ------------ */

/* Give a light registry its libgit2 side (a full open); 0 at once for any other. */
int mreg_registry_need_git(mreg_registry *reg);
/*
 * 0 when reg may be written here; EINVALID for a linked work tree (git
 * worktree add): its objects and branches are the main work tree's, in a
 * git directory mreg's writes do not reach from it. Reads go on there.
 */
int mreg_registry_writable(mreg_registry *reg);
/* mreg.fsync and mreg.lockTimeout when git config does not set them */
#define MREG_FSYNC_DEFAULT true
#define MREG_LOCK_TIMEOUT_MS_DEFAULT 30000
/* $USER@host (else $LOGNAME, else unknown): the actor when git config has no mreg.actor */
char *mreg_registry_default_actor(void);
/*
 * reg->fsync, lock_timeout_ms and actor from git config without libgit2
 * (git/config.c); 1 when the config holds something only libgit2 should
 * read, or a value that is not plainly what it should be.
 */
int mreg_registry_settings_light(mreg_registry *reg);
/*
 * A new repository made a registry without an event work tree (reg->lean):
 * core.bare = true, so git keeps no index and checks nothing out.
 */
int mreg_registry_make_lean(git_repository *repo, const char *path);
/* reg->node from .git/mreg/node, made once per registry (the writer lock does it too) */
int mreg_registry_load_node(mreg_registry *reg);

/* ---- lock.c: the writer lock, git's lock files ------------------------ */

int mreg_lock_take(mreg_registry *reg);
/* Nested calls nest: the lock goes with the last mreg_lock_release (or mreg_registry_free). */
void mreg_lock_release(mreg_registry *reg);
/*
 * Wait (up to mreg.lockTimeout) for <relpath>.lock under the git directory
 * ("index", "refs/heads/main") to go: 0, or ELOCKED naming it. For lock
 * files that libgit2 makes; lock files a killed mreg left go with the flock.
 */
int mreg_lock_wait_git(mreg_registry *reg, const char *relpath);
/*
 * <relpath>.lock made exclusively, as git does, waiting as above while
 * another process holds it, and recorded under the flock so that the next
 * mreg removes it if this one dies holding it. *out: its descriptor. After
 * renaming it over <relpath> (or removing it), mreg_lock_file_done.
 */
int mreg_lock_file_create(int *out, mreg_registry *reg, const char *relpath);
void mreg_lock_file_done(mreg_registry *reg);

/* ---- head.c: what HEAD holds --------------------------------------------- */

int mreg_head_read(git_oid *commit, git_oid *tree, mreg_registry *reg);	/* ENOTFOUND: unborn */
/* HEAD read by hand names a branch holding a commit (false: detached, or anything libgit2 should judge) */
bool mreg_head_on_branch(mreg_registry *reg);
const char *mreg_head_branch(mreg_registry *reg, char *buf, size_t n);
/* mreg.json at HEAD, parsed (*out NULL when HEAD has none); MREG_EINVALID when it is not an object. */
int mreg_head_policy_doc(cJSON **out, mreg_registry *reg);
/* artifact_max_bytes of mreg.json at HEAD (default 1 MiB) */
int mreg_head_artifact_limit(mreg_registry *reg, int64_t *out);

/* ---- stamp.c: the trees the state files and the mirror were brought to -- */

/* The stamp name ("stamp", "mirror"): its tree and commit ("" when none; commit may be NULL), and whether
 * it was written in another boot of the machine (other_boot may be NULL). */
int mreg_cache_read_stamp(char tree[41], char commit[41], bool *other_boot, mreg_registry *reg, const char *name);
int mreg_cache_stamp(char out[41], mreg_registry *reg);
int mreg_cache_mirror_stamp(char out[41], mreg_registry *reg);
/* The stamp name records tree, and HEAD's commit when HEAD's tree is tree (written last, after the files). */
int mreg_cache_write_stamp(mreg_registry *reg, const char *name, const git_oid *tree);
int mreg_cache_set_mirror(mreg_registry *reg, const git_oid *tree);
/* The state stamp removed (before the state files are touched). */
int mreg_cache_unstamp(mreg_registry *reg);
/* Whether the state files (and the work tree mirror) are stamped with commit head (40 hex digits). */
bool mreg_cache_fresh_at(mreg_registry *reg, const char *head);
/* The tree a stamp (state or mirror) records for commit (40 hex digits); false when none does. */
bool mreg_cache_tree_of(git_oid *tree, mreg_registry *reg, const char *commit);

/* ---- cache.c: state load and save, incremental fold -------------------- */

void mreg_cache_release_maps(mreg_registry *reg);	/* after freeing the states that borrowed them */
void mreg_cache_release_maps_from(mreg_registry *reg, int first);	/* only maps[first..] */
int mreg_cache_ensure(mreg_registry *reg);	/* state and mirror at HEAD; caller holds the lock */
/* lazy: versions kept as bytes until the fold touches them (writers) */
int mreg_cache_load(mreg_state **out, mreg_registry *reg, const char *model, bool all, bool lazy);
/*
 * A state from registry.json and the models' own files (model's, or all),
 * not production.json: lazily, each loaded model's production version
 * taken from its file. A writer's state (mreg_cache_save reads
 * production.json only when the write changed a production entry) and a
 * listing's; with one model and not all, only that model's row of
 * registry.json is read (the others are not in the state at all).
 */
int mreg_cache_load_own(mreg_state **out, mreg_registry *reg, const char *model, bool all);
/*
 * A write's state: as mreg_cache_load_own, with the models it does not load
 * kept as their rows of registry.json, which it borrows from reg->maps (as
 * its lazily loaded model files): free it before releasing them.
 */
int mreg_cache_load_write(mreg_state **out, mreg_registry *reg, const char *model);
int mreg_cache_save(mreg_registry *reg, mreg_state *st, const git_oid *tree);
/* Load one more model of st (lazily), if it exists and is not loaded yet. */
int mreg_cache_load_model(mreg_state *st, mreg_registry *reg, const char *id);
/*
 * The events evs[0..n) (in fold order) folded onto st, a state loaded from
 * the state files (lazily: the models they touch are loaded here): 0, or 1
 * when the first of them does not come after st's last event (the order
 * changed: fold it all), or <0.
 */
int mreg_cache_apply(mreg_state *st, mreg_registry *reg, mreg_event **evs, size_t n);
/* Whether state/ and state/models/ are plain directories (or not there yet): no link, no file. */
bool mreg_cache_sound(mreg_registry *reg);
/* State and mirror at HEAD (mreg_cache_ensure), and every large file's work tree copy checked by hash. */
int mreg_cache_check_large(mreg_registry *reg);

/* ---- events.c: the events of a tree ------------------------------------ */

/* An event file's name: <xxh128>.json (n bytes, the hash in lowercase hex). */
bool mreg_events_is_name(const char *name, size_t n);
/*
 * The clock on the head of an event file's bytes as mreg writes it (the
 * fold's key); false for any other layout. A mreg_git_key_fn: an indexer
 * takes it as it inflates, and the fold then finds it set (mreg_odb_key).
 */
bool mreg_events_clock_of(int64_t *out, const unsigned char *bytes, size_t n);
/* The events at tree in fold order; the event files left out (and why) into quarantined, if given. */
int mreg_events_read(mreg_event ***out, size_t *n, mreg_state *quarantined, mreg_registry *reg,
			const git_oid *tree);
/*
 * The events of tree_id, each handed to fn in fold order and freed after
 * it; the files left out, and why, into st (with st->nfiles, before the
 * first). Streamed: a first pass reads each file's clock from the head of
 * its bytes (or takes the one its pack was indexed with), a second reads, parses and hands them over in order on every
 * core, a bounded window ahead. Memory: the files' names and keys, not
 * their events. The first error stops it.
 */
int mreg_events_fold(mreg_registry *reg, const git_oid *tree_id, mreg_state *st,
		     int (*fn)(const mreg_event *ev, void *arg), void *arg);
/*
 * The events added between the trees old and tree (in fold order), the
 * files among them left out into *q (a state for its list only; NULL when
 * none) and the number of files seen under events/ into *nfiles. 1 when
 * anything but additions changed there (a full fold is needed).
 */
int mreg_events_added(mreg_event ***out, size_t *n, mreg_state **q, int64_t *nfiles, mreg_registry *reg,
		      const git_oid *old, const git_oid *tree);

/* ---- foldkeys.c: the fold's key cache, the clocks of a large pack's event files ---- */

/* The files of reg's packs (the ready odb's) given to it as keys: how many packs have them now. */
int mreg_fold_keys_load(mreg_registry *reg);
/* Whether pack (of reg's odb) is large and has no file yet; its object count. */
bool mreg_fold_keys_wanted(mreg_registry *reg, size_t pack, uint32_t *count);
/* keys (count, in the pack's .idx order, -1 for none) written as pack's file; no failure is reported. */
void mreg_fold_keys_save(mreg_registry *reg, size_t pack, const int64_t *keys, uint32_t count);
/* The files of packs no longer in objects/pack removed. */
void mreg_fold_keys_prune(mreg_registry *reg);
/* Every file removed, and every key reg's odb holds dropped (a fold then peeks at every head). */
void mreg_fold_keys_drop(mreg_registry *reg);

/* ---- tree.c: objects read; the new objects of a write, built and packed by hand ---- */

/*
 * Keys for the objects of reg's pack named pack-<pack> (mreg_odb_set_keys:
 * keys is the registry's from here on); 1 when it has no such pack.
 */
int mreg_tree_set_keys(mreg_registry *reg, const char *pack, int64_t *keys, size_t n);
/* An object's type and bytes: read by git/odb.c, else (not found there) by libgit2. */
int mreg_tree_read_object(mreg_buf *out, git_object_t *type, mreg_registry *reg, const git_oid *id);
/* The same without the SHA-1 check (mreg_odb_read_named): for event files, checked by their xxh128 names. */
int mreg_tree_read_named(mreg_buf *out, git_object_t *type, mreg_registry *reg, const git_oid *id);
/* The same by libgit2 alone (hash-checked as it reads): for a thread that must not touch mreg's reader while others read through it. */
int mreg_tree_read_git(mreg_buf *out, git_object_t *type, mreg_registry *reg, const git_oid *id);
/* The entry at path ('/'-separated) under tree: 0, 1 when there is none, or <0. */
int mreg_tree_path(git_oid *out, unsigned *mode, mreg_registry *reg, const git_oid *tree, const char *path);

typedef struct {
	git_object_t type;
	git_oid id;
	const void *data;
	size_t len;
	bool owned;		/* data is freed with the set */
} mreg_tree_obj;
typedef struct {
	mreg_tree_obj obj[32];
	size_t n;
} mreg_tree_objs;
typedef struct {
	const char *path;	/* a file's path, '/'-separated, relative to the tree */
	git_oid id;		/* its blob */
} mreg_tree_update;
/* Add an object (data kept by pointer; freed later if owned); its id to id_out. */
int mreg_tree_add(mreg_tree_objs *o, git_object_t type, const void *data, size_t len, bool owned, git_oid *id_out);
void mreg_tree_objs_dispose(mreg_tree_objs *o);
/* The tree base (NULL: empty) with the files of up added or replaced; new trees go to o. */
int mreg_tree_build(git_oid *out, mreg_tree_objs *o, mreg_registry *reg, const git_oid *base,
		    const mreg_tree_update *up, size_t n);
/* ---- sign.c: commits signed and checked as git does with gpg.format ssh ---- */

/* What a signed write needs: the key must be among the signers the policy at tree names for stage. */
typedef struct {
	mreg_registry *reg;
	const git_oid *tree;	/* HEAD's tree: where the signers file is read */
	const char *signers;	/* its path (.mreg/...) */
	const char *stage;	/* the protected stage, for messages */
} mreg_signing;
/* The commit signed, its key checked against the signers file first: MREG_EINVALID naming both when not allowed. */
int mreg_sign_commit(mreg_buf *out, const mreg_signing *s, const char *commit, size_t len);
/* A file of a tree by path: 0 read, 1 none there (or not a plain file). */
int mreg_sign_read_file(mreg_buf *out, mreg_registry *reg, const git_oid *tree, const char *path);
/*
 * sig over data checked against the allowed-signers bytes, at when (seconds):
 * 0 with *principal (free it) when it verifies, 1 with why when it does not.
 */
int mreg_sign_verify(char **principal, mreg_buf *why, mreg_registry *reg, const char *allowed, size_t alen,
		     const char *sig, const char *data, int64_t when);

/* One file (or link, or submodule) that differs between two trees: an id NULL on the side it is not on. */
typedef struct {
	const char *path;
	const git_oid *old_id, *new_id;
	unsigned old_mode, new_mode;
} mreg_tree_change;
typedef int (*mreg_tree_change_fn)(const mreg_tree_change *c, void *payload);
/*
 * What differs between trees a and b under the directory dir ("events"):
 * fn for each file added, removed or changed, reading only the subtrees
 * whose ids differ. A value other than 0 from fn stops the walk and is returned.
 */
int mreg_tree_changes(mreg_registry *reg, const git_oid *a, const git_oid *b, const char *dir, mreg_tree_change_fn fn,
		      void *payload);
/* A commit (parent NULL: a root commit), author and committer name <email> at seconds UTC; signed when sign is given. */
int mreg_tree_commit(git_oid *out, mreg_tree_objs *o, const git_oid *tree, const git_oid *parent, const char *name,
		     const char *email, int64_t seconds, const char *message, const mreg_signing *sign);
/*
 * All of o as one pack with its index in objects/pack, durable when
 * reg->fsync; hex: its name; *created: false when that pack was there.
 */
int mreg_tree_write_pack(mreg_registry *reg, const mreg_tree_objs *o, char hex[41], bool *created);

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

/* A file of a commit: its path in the tree and bytes; lfs: the bytes are this pointer, the work tree gets the file. */
typedef struct {
	const char *path;
	const void *data;
	size_t len;
	const mreg_lfs_pointer *lfs;
} mreg_addfile;

/* tree.c: a batch's objects (libgit2 builds its trees and commit, the new objects gather in memory) */
int mreg_tree_batch_build(git_oid *tree, git_oid *commit, mreg_registry *reg, const git_oid *head,
			  const git_oid *base_tree, const mreg_addfile *files, size_t n, const char *name,
			  const char *email, int64_t seconds, const char *msg);
/* A batch begun empty: objects libgit2 writes from here on gather in memory (merge.c's trees and commit). */
int mreg_tree_batch_start(mreg_registry *reg);
/* The batch's objects as one pack (as mreg_tree_write_pack), then forgotten. */
int mreg_tree_batch_write_pack(mreg_registry *reg, char hex[41], bool *created);

/* ---- lfs_files.c: large files in a commit ------------------------------ */

/*
 * The lines mreg writes in a fan-out directory's .gitattributes, and no
 * others: the union line (so a plain git merge keeps both sides' lines),
 * then "/<name>" MREG_LFS_LINE_TAIL for each large file there.
 */
#define MREG_LFS_UNION_LINE "/.gitattributes merge=union"
#define MREG_LFS_LINE_TAIL " filter=lfs diff=lfs merge=lfs -text"
/* HEAD's .gitattributes at attrpath with the line marking name for Git LFS (and the union line). */
int mreg_lfs_attributes(mreg_buf *out, mreg_registry *reg, const char *attrpath, const char *name);
/* The next name the .gitattributes bytes at *p mark for Git LFS (a line "/<name> ... filter=lfs ..."). */
bool mreg_lfs_attributes_next(const char **name, size_t *len, const char **p, const char *end);
/*
 * The files a commit adds for n large files already in the store: a pointer
 * at each path and, per directory, HEAD's .gitattributes with a line for
 * each. Paths and pointers are borrowed.
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
/* Large files of a registry from before .git/lfs moved there, in one commit (see lfs_files.c); caller holds the lock. */
int mreg_lfs_migrate(mreg_registry *reg);

/* ---- incoming.c: what another node's history may bring ----------------- */

typedef struct {
	char *path;		/* artifacts/ab/cd/<name> */
	mreg_lfs_pointer ptr;
} mreg_incoming_large;
typedef struct {
	char commit[41];	/* the commit that adds it */
	char *path;		/* its path in that commit's tree */
	mreg_event *ev;		/* the event; NULL: a policy file added, changed or deleted (mreg.json, .mreg/...) */
	git_oid id;		/* the event's blob */
} mreg_incoming_item;
typedef struct {
	size_t commits;		/* new commits checked */
	size_t events, artifacts;	/* files they add */
	int64_t max_clock;	/* the largest clock of the events they add */
	char **models;		/* the models those events are about */
	size_t nmodels;
	mreg_incoming_large *large;	/* Git LFS pointers they add */
	size_t nlarge;
	size_t problems;
	mreg_incoming_item *kept;	/* mreg_incoming_check_keep: what each commit adds, in walk order */
	size_t nkept;
} mreg_incoming;
/* A problem found: the commit (40 hex digits), the path in its tree ("" for the commit itself), what is wrong. */
typedef void (*mreg_incoming_cb)(const char *commit, const char *path, const char *problem, void *payload);
/*
 * Check every commit reachable from tip and from none of hide[0..nhide)
 * (none: the whole history) against its parents: it may only add what the
 * layout allows (see incoming.c). 0 when all is well; MREG_EINVALID when cb
 * was called for problems (at most 100); anything else when the history
 * could not be read.
 */
int mreg_incoming_check(mreg_incoming *out, mreg_registry *reg, const git_oid *tip, const git_oid *hide, size_t nhide,
			mreg_incoming_cb cb, void *payload);
/* The same, keeping in out->kept the events and policy files each commit adds (for mreg check). */
int mreg_incoming_check_keep(mreg_incoming *out, mreg_registry *reg, const git_oid *tip, const git_oid *hide,
			     size_t nhide, mreg_incoming_cb cb, void *payload);
int mreg_incoming_note_model(mreg_incoming *in, const char *model);
/* The events in->kept holds, sorted by blob id, for reg->known_events (*out NULL when there are none). */
int mreg_incoming_known(mreg_known_event **out, size_t *n, mreg_incoming *in);
void mreg_incoming_dispose(mreg_incoming *in);

/* ---- signoff.c: who may move a version where (protected stages) ---------- */

typedef struct mreg_signoff mreg_signoff;
/* A problem found: the commit, the path (or NULL), the event (or NULL), what is wrong. */
typedef void (*mreg_signoff_cb)(const char *commit, const char *path, const char *event, const char *problem,
				void *payload);
/* A judge of commits; base: the range's base, whose policy the branch enforces now (NULL: none). */
int mreg_signoff_new(mreg_signoff **out, mreg_registry *reg, const git_oid *base, mreg_signoff_cb cb, void *payload);
void mreg_signoff_free(mreg_signoff *s);
/* An event a commit adds: *stage the protected stage it enters (MREG_STAGE_NONE), *who its allowed signer or NULL. */
int mreg_signoff_event(mreg_stage *stage, const char **who, mreg_signoff *s, const mreg_incoming_item *it);
/* A policy file a commit adds, changes or deletes (mreg.json, .mreg/...): *who its allowed signer or NULL. */
int mreg_signoff_file(const char **who, mreg_signoff *s, const mreg_incoming_item *it);
/* Every item in->kept judged (sync): MREG_EINVALID with the first problem in problem. */
int mreg_signoff_check(char *problem, size_t n, mreg_registry *reg, mreg_incoming *in, const git_oid *base);

/* ---- merge.c: two nodes' histories joined --------------------------------- */

/*
 * The merge of commits ours and theirs: the union of their trees (see
 * merge.c) and a commit with both as parents, made in the batch (landed
 * with mreg_txn_land_batch). MREG_ECONFLICT names a file changed on both sides.
 */
int mreg_merge_commit(git_oid *commit, git_oid *tree, mreg_registry *reg, const git_oid *ours, const git_oid *theirs,
		      const char *message);

/* ---- remote.c: git remotes through libgit2, large files through git-lfs ---- */

/* argv run in dir (input on its standard input); its output into out and err (may be NULL); 0 when it exits 0. */
int mreg_remote_run(mreg_buf *out, mreg_buf *err, const char *dir, char *const argv[], const char *input);
/*
 * The objects of the remote's branch (refs/heads/...) downloaded, no ref
 * moved; *tip: that branch's commit there. A remote without a branch of
 * that name that keeps one its HEAD names is fetched from that one: there,
 * the branch fetched. 1 when the remote has neither (an empty repository).
 * *url (may be NULL): the remote's URL, malloc'd.
 */
int mreg_remote_fetch(git_oid *tip, char **url, char there[256], mreg_registry *reg, const char *name,
		      const char *branch);
/* The branch the remote's HEAD names (refs/heads/...); 1 when it names none. */
int mreg_remote_head_branch(char *out, size_t n, mreg_registry *reg, const char *name);
/* The local branch sent to the remote's branch there, which must still be at expect (NULL: absent). A refusal is an error with the server's words. */
int mreg_remote_push(mreg_registry *reg, const char *name, const char *branch, const char *there, const git_oid *expect);
/* `git lfs VERB [--include=paths] NAME REV` run in the registry. */
int mreg_remote_lfs(mreg_registry *reg, const char *verb, const char *name, const char *rev, char *const *paths,
		    size_t npaths);
int mreg_remote_names(git_strarray *out, mreg_registry *reg);
/* sync.c: a removed remote's record dropped */
void mreg_sync_forget(mreg_registry *reg, const char *name);

/* ---- syncbook.c: sync's record of each remote, and its settings -------- */

typedef struct {
	char *name;
	char *url;
	char last_try[MREG_TIME_LEN + 1], last_success[MREG_TIME_LEN + 1], last_error_at[MREG_TIME_LEN + 1];
	char *last_error;
	int64_t failures;	/* consecutive */
	int64_t received;	/* events received from it, all rounds */
	int64_t last_received;	/* in its last successful round */
	mreg_breaker breaker;
	bool touched;		/* changed by this process: what mreg_syncbook_save writes of it */
} mreg_sync_remote;

typedef struct {
	mreg_sync_remote *r;
	size_t n;
	char round_started[MREG_TIME_LEN + 1], round_finished[MREG_TIME_LEN + 1];
	cJSON *last_round;	/* the last round's summary, as reported */
	cJSON *missing;		/* large files not here yet: [{path, oid, size, problem}] */
	bool round_touched;	/* last_round and missing changed by this process */
} mreg_sync_book;
typedef struct {
	mreg_breaker_config breaker;
	bool push;
	mreg_clone_files files;
	double interval;	/* seconds between the rounds of `sync --every default` */
} mreg_sync_settings;
/* .git/mreg/sync.json as written (a damaged one starts afresh: it is only a record) */
int mreg_syncbook_load(mreg_sync_book *b, mreg_registry *reg);
/*
 * The records this process touched (and its round's, if touched) written
 * into the file as it is now, atomically, under the writer lock: two rounds
 * at once keep each other's records.
 */
int mreg_syncbook_save(mreg_sync_book *b, mreg_registry *reg);
void mreg_syncbook_dispose(mreg_sync_book *b);
/* the record of remote name (made when add and it has none; NULL then only for want of memory) */
mreg_sync_remote *mreg_syncbook_find(mreg_sync_book *b, const char *name, bool add);
/* the record's URL as git config has it now */
void mreg_syncbook_url(mreg_sync_remote *r, mreg_registry *reg);
/* one record as a JSON object (with its name as a member, or as the key) */
void mreg_syncbook_write_remote(mreg_jsonw *w, const mreg_sync_remote *r, bool with_name);
/* Each version of model whose number is not the one its writer claimed, as {model_id, version, claimed, ref}, into into. */
void mreg_syncbook_renumbered(cJSON *into, mreg_registry *reg, const char *model);
/* The conflicts the state records, as {event, type, model_id, version, message, actor}. */
cJSON *mreg_syncbook_conflicts(mreg_registry *reg);
/* The members of after that no member of before equals: what is new. */
cJSON *mreg_syncbook_added(const cJSON *before, const cJSON *after);
/* the settings of git config over the defaults; MREG_EINVALID naming a bad one */
int mreg_syncbook_settings(mreg_sync_settings *s, mreg_registry *reg);

/* ---- mirror.c: the work tree and the index follow HEAD ---------------- */

typedef mreg_git_index_entry mreg_index_entry;
/* A committed file's work tree copy (made without following links; large files from .git/lfs) and its entry */
int mreg_mirror_file(mreg_index_entry *e, mreg_registry *reg, const mreg_addfile *f);
/* The entries into the index: streamed (git/index.c), else through libgit2 on a private copy */
int mreg_mirror_index(mreg_registry *reg, mreg_index_entry *adds, size_t n, const git_oid *tree);
/* The same, dropping the entries of removes too */
int mreg_mirror_index_change(mreg_registry *reg, mreg_index_entry *adds, size_t n, char **removes, size_t nremoves,
			     const git_oid *tree);
/* A batch's event files (n of bytes, named by ids) and files mirrored, and the mirror stamped at tree. */
int mreg_mirror_batch(mreg_registry *reg, const mreg_buf *bytes, const char (*ids)[33], size_t n,
		      const mreg_addfile *files, size_t nfiles, const git_oid *tree);
/*
 * fn run on a libgit2 index bound to a private file (a copy of the index
 * when copy, else empty), which is then put in place under a recorded
 * index.lock: libgit2 never makes .git/index.lock itself.
 */
int mreg_mirror_index_libgit2(mreg_registry *reg, bool copy, int (*fn)(git_index *idx, void *payload),
			      void *payload);
/* An index git cannot read (cut short by a power cut) made again from tree; 0 when it reads. */
int mreg_mirror_index_check(mreg_registry *reg, const git_oid *tree);
/*
 * Bring the mirror to HEAD after a crash or a change made with plain git.
 * What lags: index entries that differ from HEAD, files that differ from
 * their index entries (found by stat, as git status does; asked for by
 * name, or when the mirror was stamped before the machine last started,
 * so that a power cut's damage to files never fsynced is found), and large
 * files whose copy is not there. mreg writes each file itself, never
 * through a symbolic link (see mreg_fs_dir_beneath), before its index
 * entry, the order every write keeps: an index matching HEAD means the
 * files are there too, even if this repair is itself cut short.
 */
enum {
	MREG_MIRROR_FILES = 1,	/* every file against its index entry, by stat */
	MREG_MIRROR_LARGE = 2,	/* every large file's copy (not only those of what changed), by hash */
};
int mreg_mirror_repair(mreg_registry *reg, const git_oid *tree, unsigned how);

/* ---- gc.c ---------------------------------------------------------------- */

/* What a killed gc left (its pack's temporary directory), removed; the caller holds the writer lock. */
void mreg_gc_sweep_tmp(mreg_registry *reg);

/* ---- txn.c: one write, top to bottom ------------------------------------ */

/* Commit files as one event; on success *tree_out is the new tree. */
int mreg_txn_commit_event(git_oid *tree_out, mreg_registry *reg, const mreg_event *ev, const mreg_buf *bytes,
		      const mreg_addfile *extra, size_t nextra, const char *summary);
/* The actor as a commit's author and committer, now. */
int mreg_txn_signature(git_signature **out, mreg_registry *reg);
/*
 * A commit already made in the batch (merge.c), landed as a batch's is: its
 * new objects as one pack, then the branch moved from head with
 * compare-and-swap, durably.
 */
int mreg_txn_land_batch(mreg_registry *reg, const git_oid *commit, const git_oid *tree, const git_oid *head,
			const char *summary);
/* Point the branch at `to` (compare-and-swap with expect unless NULL), durably; for restores. */
int mreg_txn_reset_branch(mreg_registry *reg, const git_oid *to, const git_oid *expect, const char *why);
/* Commit n serialized events (and extra files) in one commit. */
int mreg_txn_commit_batch(git_oid *tree_out, mreg_registry *reg, const mreg_buf *bytes, const char (*ids)[33],
			  size_t n, const mreg_addfile *extra, size_t nextra, const char *summary, const char *time);
/*
 * A write transaction: it owns the event being written and the commit's
 * summary, which the caller fills between begin and commit. begin takes the
 * lock and loads the state with the summary and one model (NULL: none);
 * commit fills the envelope, writes the event (and extra files) as one
 * commit, mirrors it and folds it; end frees everything and unlocks (and may
 * be called again, or after a begin that failed). A refused request ends
 * without a commit.
 */
typedef struct {
	mreg_registry *reg;
	mreg_state *st;
	mreg_event ev;
	mreg_buf summary;	/* one line: newlines become spaces */
	bool locked;
	bool current;		/* st is what the state files hold: loaded, or the commit folded in and saved */
} mreg_txn;
/* begin is init and lock; a request checked before its lock (register) fills t->ev between the two */
void mreg_txn_init(mreg_txn *t, mreg_registry *reg);
int mreg_txn_lock(mreg_txn *t, const char *model);
int mreg_txn_begin(mreg_txn *t, mreg_registry *reg, const char *model);
void mreg_txn_end(mreg_txn *t);
int mreg_txn_envelope(mreg_txn *t, mreg_event *ev);
int mreg_txn_commit(mreg_txn *t, const mreg_addfile *extra, size_t nextra);


/* begin, then find the version ref names (MREG_ENOTFOUND ends the transaction) */
int mreg_txn_begin_on_version(mreg_txn *t, mreg_version **v, mreg_registry *reg, const mreg_ref *ref);
/* Promote v (which ref names) to `to` in t; by (may be NULL) says who decided, in the commit summary. */
int mreg_txn_promote(mreg_txn *t, const mreg_ref *ref, const mreg_version *v, mreg_stage to, const char *reason,
		     const char *by);
/* type, model, ref and version of an event about version v (and an empty body for the newer types) */
int mreg_txn_version_envelope(mreg_event *ev, const mreg_ref *ref, const mreg_version *v, mreg_event_type type);

#endif
