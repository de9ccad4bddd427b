/*
 * What the backup files share: the backup directory (dir.c), the creation
 * a restore runs under its own lock (create.c), and verification
 * (verify.c), which restores run first.
 */
#ifndef MREG_BACKUP_H
#define MREG_BACKUP_H

#include "../internal.h"

/* dir.c: an id names files in the backup directory, digits and '-' only; ENOTFOUND otherwise. */
int mreg_backup_check_id(const char *id);
/* The directory's lock: LOCK_SH verifying (the bundle read must not be pruned or swept), LOCK_EX creating, pruning. */
int mreg_backup_lock_dir(int *fd, const char *dir, int mode);
/* Whether fmt (a "%s/%s..." of dir and id) names something (true when out of memory: never reuse). */
bool mreg_backup_exists(const char *fmt, const char *dir, const char *id);
/* What a killed create, verify or restore left in dir; the caller holds the directory lock. */
/* Temporary files and orphans (a bundle or state without its metadata) removed: how many orphans. */
size_t mreg_backup_sweep(const char *dir);

/* Large files: "lfs/objects/ab/cd/<sha256>", or "blobs/ab/cd/<xxh128><ext>" from before .git/lfs */
typedef struct {
	char **paths;
	size_t n, a;
} mreg_backup_blobs;
void mreg_backup_blobs_dispose(mreg_backup_blobs *b);
/* Every file under root/rel, as "rel/..." paths (links never followed, temporary files skipped). */
int mreg_backup_blobs_scan(mreg_backup_blobs *out, const char *root, const char *rel);
/* A path a backup keeps large files at: under lfs/objects/ or blobs/, no "..". */
bool mreg_backup_blob_path_ok(const char *p);
/* The file holds what its name (and size, when >= 0) says; ECORRUPT naming path otherwise. */
int mreg_backup_blob_check(const char *path, const char *file, int64_t size);
/* Hard link (or copy) src to rel beneath root, making its directories; an existing file is kept. */
int mreg_backup_place(const char *src, const char *root, const char *rel, bool sync);

/* The metadata <dir>/<id>.json; ENOTFOUND, or ECORRUPT when it does not parse. */
int mreg_backup_read_meta(cJSON **out, const char *dir, const char *id);
/* Its fields, untrusted: "" / -1 when absent or not of their kind. */
const char *mreg_backup_meta_str(const cJSON *m, const char *k);
double mreg_backup_meta_num(const cJSON *m, const char *k);
int64_t mreg_backup_meta_int(const cJSON *m, const char *k);
/* The registry a backup belongs to: its directory, resolved, as the metadata's "registry". */
char *mreg_backup_registry_id(mreg_registry *reg);
/* The backups in dir of the registry regid (NULL: of any), newest first. */
int mreg_backup_list_in(cJSON **out, const char *dir, const char *regid);

/* create.c: a backup, with the writer lock held by the caller (restore keeps it from here to the reset). */
/* Under the writer lock; then the backups past backup.max_backups pruned, spare (a restore's, or NULL) kept. */
int mreg_backup_create_locked(cJSON **meta_out, mreg_registry *reg, const char *reason, const char *spare);
/* Prune with the directory locked exclusively: the newest keep stay, and spare. */
int mreg_backup_prune_locked(size_t *removed, size_t *orphans, const char *dir, const char *regid, int keep,
			     const char *spare);

/* verify.c */
typedef struct {
	const char *id;
	git_oid head;
	const unsigned char *pack;	/* inside the bundle */
	size_t packlen;
	int64_t events;			/* files under events/ at the head */
	int64_t objects;
	/* into (restore-from): the pack's name there, and the events' clocks read as it was indexed (the caller's) */
	char stored[41];
	int64_t *clocks;
	size_t nclocks;
} mreg_backup_bundle;
/*
 * Every object reachable from bi->head is in odb (repo: libgit2's view of
 * it too, for what mreg's reader is unsure of; NULL: odb is a pack just
 * indexed, its ids computed from its bytes, read without hashing them
 * again and walked on every core); bi->objects and bi->events set.
 * ECORRUPT naming the object missing, or the commit or tree that does not
 * parse.
 */
int mreg_backup_check_complete(mreg_backup_bundle *bi, mreg_odb *odb, git_repository *repo);
/* Index a pack into repo's objects/pack (mreg_git_index_pack checks every object as it goes), durable when sync. */
int mreg_backup_import_pack(git_repository *repo, const unsigned char *pack, size_t len, const char *id, bool sync);
/*
 * Verify the backup id in dir. Without repo: index the pack where it lies
 * in the mapped bundle and walk the head there; nothing is written, unless
 * into (a new repository of the caller's, restore-from's, which keeps the
 * objects): the pack and its index are stored there meanwhile, on a
 * second thread, without a sync (bi->stored names it): the caller makes
 * them durable (mreg_git_pack_flush). With repo (a restore into a
 * registry that has the head): see verify.c. bundle_map: the bundle's
 * bytes, kept mapped for the caller.
 */
int mreg_backup_verify_in(cJSON **meta_out, mreg_backup_bundle *bi, const char *dir, const char *id,
			  git_repository *repo, git_repository *into, const char **bundle_map, size_t *bundle_len);

#endif
