/*
 * Verifying a backup: its bundle hashes to what the metadata says, is a
 * bundle whose pack checksum holds, and holds every object its head
 * reaches (the pack indexed where it lies, mreg_git_index_pack_mem
 * checking each object), with the number of events the metadata says;
 * every large file beside it hashes to its name.
 */
#include "backup.h"

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/file.h>
#include <sys/stat.h>
#include <unistd.h>

/* ---- verify ---------------------------------------------------------- */

/* Header, head and pack checksum of a bundle already known to hash right. */
static int check_bundle_bytes(mreg_backup_bundle *bi, const char *data, size_t len, const cJSON *meta)
{
	const char *why;
	char hex[41];
	if (mreg_git_bundle_parse(&bi->head, &bi->pack, &bi->packlen, &why, data, len) < 0)
		return mreg_error_set(MREG_ECORRUPT, "corrupt backup '%s': %s", bi->id, why);
	git_oid_tostr(hex, sizeof(hex), &bi->head);
	if (strcmp(hex, mreg_backup_meta_str(meta, "head")))
		return mreg_error_set(MREG_ECORRUPT, "corrupt backup '%s': its bundle's head %s is not the metadata's %s",
				      bi->id, hex, mreg_backup_meta_str(meta, "head"));
	return 0;
}

/* Index a pack into repo's objects/pack (mreg_git_index_pack: every object checked as it goes), durable when sync. */
int mreg_backup_import_pack(git_repository *repo, const unsigned char *pack, size_t len, const char *id, bool sync)
{
	char hex[41], *packdir = mreg_strfmt("%sobjects/pack", git_repository_commondir(repo));
	int rc = packdir ? mreg_fs_mkdirs(packdir) : mreg_error_set(MREG_ERROR, "out of memory");
	if (rc == 0 && (rc = mreg_git_index_pack(hex, packdir, pack, len, sync)) == MREG_ECORRUPT)
		rc = mreg_error_set(MREG_ECORRUPT, "corrupt backup '%s': its pack does not index: %s", id, mreg_error_last());
	free(packdir);
	return rc;
}

/*
 * The pack stored in the registry restore-from builds (aside), on a thread
 * of its own while the head is walked where the pack lies in the bundle:
 * at a million events writing its 620 MB out took about as long as the
 * walk. Not synced here: restore-from starts its writeback once its own
 * few small files are synced (behind 620 MB on their way to the disk, the
 * branch's reflog waited a third of a second for its fsync), and waits for
 * it before the registry is moved into place (mreg_git_pack_flush). Synced
 * here, the fold waited half a second for the disk.
 */
typedef struct {
	char *packdir;
	const mreg_backup_bundle *bi;
	const unsigned char *idx;	/* the in-place odb's, which outlives the store */
	size_t idxlen;
	pthread_t tid;
	bool started;
	int rc;
	char msg[1024];
	char hex[41];		/* the stored pack's name */
} pack_store;

static void *store_pack(void *arg)
{
	pack_store *s = arg;
	bool created;
	if ((s->rc = mreg_git_pack_store_idx(s->packdir, s->bi->pack, s->bi->packlen, s->idx, s->idxlen, false, s->hex,
					     &created)) < 0)
		snprintf(s->msg, sizeof(s->msg), "%s", mreg_error_last());
	return NULL;
}

/* The store's end: its thread joined, its error (when there was none before) into rc. */
static int pack_stored(pack_store *s, int rc)
{
	if (s->started)
		pthread_join(s->tid, NULL);
	if (rc == 0 && s->rc < 0)
		rc = mreg_error_set(s->rc, "%s", s->msg);
	free(s->packdir);
	return rc;
}

/*
 * The bundle's pack indexed where it lies in the mapped bundle: an odb to
 * walk the head in. Nothing written, unless into: then the pack and that
 * index are also stored there, by store (pack_stored waits for it; the odb
 * is freed after), and the clock of each event is read as the indexer
 * inflates it (bi->clocks), for the fold that follows (mreg_tree_set_keys):
 * a fold's first pass otherwise inflates every event file's head again,
 * about a tenth of a restore at a million events.
 */
static int open_in_place(mreg_odb **odb, mreg_backup_bundle *bi, const char *id, git_repository *into,
			 pack_store *store)
{
	mreg_buf idx = MREG_BUF_INIT;
	int rc = mreg_git_index_pack_mem(&idx, into ? &bi->clocks : NULL, into ? mreg_events_clock_of : NULL, bi->pack,
					 bi->packlen);
	if (rc == MREG_ECORRUPT)
		rc = mreg_error_set(MREG_ECORRUPT, "corrupt backup '%s': its pack does not index: %s", id, mreg_error_last());
	if (rc < 0) {
		mreg_buf_dispose(&idx);
		return rc;
	}
	size_t len = idx.size;
	unsigned char *bytes = (unsigned char *)mreg_buf_detach(&idx);
	if ((rc = mreg_odb_open_pack(odb, id, bi->pack, bi->packlen, bytes, len)) < 0 || !into)
		return rc;
	*store = (pack_store){ .bi = bi, .idx = bytes, .idxlen = len };
	/* the directory restore.c's flush_stored_pack names: the two must agree */
	if (!(store->packdir = mreg_strfmt("%sobjects/pack", git_repository_commondir(into))))
		return mreg_error_set(MREG_ERROR, "out of memory");
	if ((rc = mreg_fs_mkdirs(store->packdir)) == 0 && mreg_threads() > 1)
		store->started = pthread_create(&store->tid, NULL, store_pack, store) == 0;
	if (rc == 0 && !store->started)
		store_pack(store);	/* one thread (MREG_FOLD_THREADS=1), or none to be had: here, first */
	return rc;
}

/*
 * Verify the backup id in dir. Without repo: index the pack and walk the
 * head where the pack lies in the mapped bundle, nothing written (backup
 * verify), or with the pack stored into `into` meanwhile (restore-from
 * builds its registry there). With repo (a restore into a registry that
 * has the head): see below.
 */
int mreg_backup_verify_in(cJSON **meta_out, mreg_backup_bundle *bi, const char *dir, const char *id, git_repository *repo,
			  git_repository *into, const char **bundle_map, size_t *bundle_len)
{
	bool local_history = repo != NULL;
	cJSON *meta = NULL;
	const char *data = NULL;
	size_t len = 0;
	char *bpath = NULL, *objdir = NULL;
	mreg_odb *odb = NULL;
	pack_store store = { .rc = 0 };
	int rc;

	memset(bi, 0, sizeof(*bi));
	bi->id = id;
	if ((rc = mreg_backup_read_meta(&meta, dir, id)) < 0)
		goto done;
	bpath = mreg_strfmt("%s/%s", dir, mreg_backup_meta_str(meta, "bundle"));
	if (!bpath || strcmp(mreg_backup_meta_str(meta, "id"), id) || strchr(mreg_backup_meta_str(meta, "bundle"), '/')) {
		rc = mreg_error_set(MREG_ECORRUPT, "corrupt backup '%s': its metadata names another backup", id);
		goto done;
	}
	if ((rc = mreg_fs_map(&data, &len, bpath)) < 0) {
		rc = mreg_error_set(rc == MREG_ENOTFOUND ? MREG_ECORRUPT : rc, "backup file missing: '%s'", bpath);
		goto done;
	}
	char hex[33], want[48];
	mreg_hash128(hex, data, len);
	snprintf(want, sizeof(want), "xxh128:%s", hex);
	if ((int64_t)len != mreg_backup_meta_int(meta, "bundle_size") || strcmp(want, mreg_backup_meta_str(meta, "bundle_hash"))) {
		rc = mreg_error_set(MREG_ECORRUPT, "hash mismatch in backup '%s': the bundle (%zu bytes) hashes to %s, the metadata says %s (%.0f bytes)",
				    id, len, want, mreg_backup_meta_str(meta, "bundle_hash"), mreg_backup_meta_num(meta, "bundle_size"));
		goto done;
	}
	if ((rc = check_bundle_bytes(bi, data, len, meta)) < 0)
		goto done;
	if (!repo && (rc = open_in_place(&odb, bi, id, into, &store)) < 0)
		goto done;
	/*
	 * Completeness. A head that is the registry's own history (HEAD or an
	 * ancestor of it) has its objects in the registry, whose integrity is
	 * `mreg fsck`'s business: the bundle's hash, header and pack checksum
	 * above are what restore needs then. Anything else is walked.
	 */
	git_oid cur;
	bool own = local_history && git_reference_name_to_id(&cur, repo, "HEAD") == 0 &&
		   (git_oid_equal(&cur, &bi->head) || git_graph_descendant_of(repo, &cur, &bi->head) == 1);
	if (own) {
		bi->events = mreg_backup_meta_int(meta, "events");
		bi->objects = -1;
	} else {
		/* a linked work tree's git directory has no objects: the common directory's */
		if (!odb && (!(objdir = mreg_strfmt("%sobjects/", git_repository_commondir(repo))) ||
			     (rc = mreg_odb_open(&odb, objdir)) < 0)) {
			rc = objdir ? rc : mreg_error_set(MREG_ERROR, "out of memory");
			goto done;
		}
		if ((rc = mreg_backup_check_complete(bi, odb, repo)) < 0)
			goto done;
	}
	if (bi->events != mreg_backup_meta_int(meta, "events")) {
		rc = mreg_error_set(MREG_ECORRUPT, "count mismatch in backup '%s': %lld events at its head, the metadata says %.0f",
				    id, (long long)bi->events, mreg_backup_meta_num(meta, "events"));
		goto done;
	}
	const cJSON *b;
	cJSON_ArrayForEach(b, cJSON_GetObjectItemCaseSensitive(meta, "blobs")) {
		const char *p = mreg_backup_meta_str(b, "path");
		char *f = mreg_backup_blob_path_ok(p) ? mreg_strfmt("%s/%s", dir, p) : NULL;
		rc = f ? mreg_backup_blob_check(p, f, mreg_backup_meta_int(b, "size"))
		       : mreg_error_set(MREG_ECORRUPT, "corrupt backup '%s': it names a large file '%s' outside lfs/objects/ and blobs/",
					id, p);
		free(f);
		if (rc < 0)
			goto done;
	}
done:
	rc = pack_stored(&store, rc);
	if (rc == 0 && into && store.idx) {
		memcpy(bi->stored, store.hex, sizeof(bi->stored));
		bi->nclocks = mreg_odb_count(odb);	/* the in-place odb's one pack: a clock (or none) per object */
	} else {
		free(bi->clocks);
		bi->clocks = NULL;
	}
	mreg_odb_free(odb);
	free(objdir);
	free(bpath);
	if (rc == 0 && bundle_map) {
		*bundle_map = data;
		*bundle_len = len;
	} else {
		mreg_fs_unmap(data, len);
	}
	if (rc == 0 && meta_out)
		*meta_out = meta;
	else
		cJSON_Delete(meta);
	return rc;
}

static cJSON *verify_report(const cJSON *meta, const mreg_backup_bundle *bi)
{
	cJSON *r = cJSON_CreateObject();
	char hex[41];
	git_oid_tostr(hex, sizeof(hex), &bi->head);
	cJSON_AddStringToObject(r, "id", bi->id);
	cJSON_AddBoolToObject(r, "ok", 1);
	cJSON_AddStringToObject(r, "head", hex);
	cJSON_AddNumberToObject(r, "objects", (double)bi->objects);
	cJSON_AddNumberToObject(r, "events", (double)bi->events);
	cJSON_AddNumberToObject(r, "blobs", cJSON_GetArraySize(cJSON_GetObjectItemCaseSensitive(meta, "blobs")));
	return r;
}

int mreg_backup_verify(cJSON **report, mreg_registry *reg, const char *id)
{
	char *dir = NULL;
	cJSON *meta = NULL;
	mreg_backup_bundle bi;
	int dfd = -1;
	int rc = mreg_backup_dir(&dir, reg);
	*report = NULL;
	if (rc == 0 && (rc = mreg_backup_check_id(id)) == 0 && (rc = mreg_backup_lock_dir(&dfd, dir, LOCK_SH)) == 0 &&
	    (rc = mreg_backup_verify_in(&meta, &bi, dir, id, NULL, NULL, NULL, NULL)) == 0)
		*report = verify_report(meta, &bi);
	if (dfd >= 0)
		close(dfd);
	cJSON_Delete(meta);
	free(dir);
	return rc;
}
