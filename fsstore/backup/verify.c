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

/* Tree id's bytes into out; false when it is not a tree there. */
static bool read_tree(mreg_buf *out, mreg_odb *odb, const git_oid *id)
{
	git_object_t type;
	return mreg_odb_read(out, &type, odb, id) == 0 && type == GIT_OBJECT_TREE;
}

/* The events at head: blobs under events/ab/cd/, three levels down (what the second level's trees hold). */
static int64_t count_events(mreg_odb *odb, const git_oid *head)
{
	mreg_buf b = MREG_BUF_INIT, l1 = MREG_BUF_INIT, l2 = MREG_BUF_INIT;
	git_object_t type;
	git_oid tree;
	mreg_git_tree_entry e, e1, e2;
	int64_t n = 0;
	if (mreg_odb_read(&b, &type, odb, head) == 0 && type == GIT_OBJECT_COMMIT &&
	    mreg_git_commit_tree(&tree, b.ptr, b.size) && read_tree(&b, odb, &tree) &&
	    mreg_git_tree_find(&e, b.ptr, b.size, "events", 6) && read_tree(&b, odb, &e.id)) {
		const char *p = b.ptr, *end = b.ptr + b.size;
		while (mreg_git_tree_next(&e1, &p, end) == 1) {
			if (!read_tree(&l1, odb, &e1.id))
				continue;
			const char *q = l1.ptr, *qend = l1.ptr + l1.size;
			while (mreg_git_tree_next(&e2, &q, qend) == 1) {
				if (!read_tree(&l2, odb, &e2.id))
					continue;
				const char *r = l2.ptr, *rend = l2.ptr + l2.size;
				while (mreg_git_tree_next(&e, &r, rend) == 1)
					n++;
			}
		}
	}
	mreg_error_clear();
	mreg_buf_dispose(&b);
	mreg_buf_dispose(&l1);
	mreg_buf_dispose(&l2);
	return n;
}

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

/*
 * An object the walk needs, read by mreg's reader (hash-checked, in a
 * registry: repo; a pack just indexed, without repo, had every id computed
 * from its bytes as it was indexed), or by libgit2 for one mreg's reader
 * does not find where libgit2 might (mreg_odb_unsure). 1: missing.
 */
static int read_needed(mreg_buf *out, git_object_t *type, mreg_odb *odb, git_repository *repo, const git_oid *id)
{
	int rc = repo ? mreg_odb_read(out, type, odb, id) : mreg_odb_read_named(out, type, odb, id);
	if (rc != 1 || !repo || !mreg_odb_unsure(odb))
		return rc;
	git_odb *godb = NULL;
	git_odb_object *o = NULL;
	if (git_repository_odb(&godb, repo) < 0 || git_odb_read(&o, godb, id) < 0) {
		git_error_clear();
		git_odb_free(godb);
		return 1;
	}
	mreg_buf_clear(out);
	mreg_buf_put(out, git_odb_object_data(o), git_odb_object_size(o));
	*type = git_odb_object_type(o);
	git_odb_object_free(o);
	git_odb_free(godb);
	return mreg_buf_oom(out) ? mreg_error_set(MREG_ERROR, "out of memory") : 0;
}

static int has_blob(mreg_odb *odb, git_repository *repo, const git_oid *id)
{
	int rc = mreg_odb_has(odb, id);
	if (rc != 1 || !repo || !mreg_odb_unsure(odb))
		return rc;
	git_odb *godb = NULL;
	bool there = git_repository_odb(&godb, repo) == 0 && git_odb_exists(godb, id);
	git_odb_free(godb);
	return there ? 0 : 1;
}

/*
 * Every object reachable from head is in odb (repo: libgit2's view of it,
 * for what mreg's reader is unsure of; or NULL); events counted at the
 * head. Trees and commits are read by mreg's own reader: libgit2's object
 * lookups took three times as long, a third of a restore at a million
 * events.
 */
static int check_complete(mreg_backup_bundle *bi, mreg_odb *odb, git_repository *repo)
{
	mreg_git_oidset seen = { NULL, 0, 0 };
	mreg_buf obj = MREG_BUF_INIT;
	git_oid *stack = NULL;
	size_t n = 0, a = 0;
	char hex[41];
	int rc = 0;
#define PUSH(o)                                                                                   \
	do {                                                                                      \
		if (n == a) {                                                                     \
			a = a ? a * 2 : 1024;                                                     \
			git_oid *s_ = realloc(stack, a * sizeof(*s_));                            \
			if (!s_) {                                                                \
				rc = mreg_error_set(MREG_ERROR, "out of memory");                  \
				goto done;                                                        \
			}                                                                         \
			stack = s_;                                                               \
		}                                                                                 \
		stack[n++] = *(o);                                                                \
	} while (0)
#define MISSING(o)                                                                                               \
	mreg_error_set(MREG_ECORRUPT, "corrupt backup '%s': its head is incomplete: object %s is missing", bi->id, \
		       git_oid_tostr(hex, sizeof(hex), (o)))
	/* every pack open, large indexes with their radix; one that will not open: the reads that need it say so */
	if (mreg_odb_ready(odb) < 0)
		mreg_error_clear();
	PUSH(&bi->head);
	while (n && rc == 0) {
		git_oid id = stack[--n], link;
		git_object_t type;
		int added = mreg_git_oidset_add(&seen, id.id);
		if (added < 0) {
			rc = mreg_error_set(MREG_ERROR, "out of memory");
			break;
		}
		if (!added)
			continue;
		if ((rc = read_needed(&obj, &type, odb, repo, &id)) != 0) {
			rc = rc == 1 ? MISSING(&id) : rc;
			break;
		}
		if (type == GIT_OBJECT_COMMIT) {
			int r = mreg_git_commit_tree(&link, obj.ptr, obj.size) ? 1 : -1;
			const char *p = r == 1 ? obj.ptr + 46 : obj.ptr, *end = obj.ptr + obj.size;
			if (r == 1)
				PUSH(&link);
			while (r == 1 && (r = mreg_git_commit_next_parent(&link, &p, end)) == 1)
				PUSH(&link);
			if (r < 0) {
				rc = mreg_error_set(MREG_ECORRUPT, "corrupt backup '%s': commit %s does not parse", bi->id,
						    git_oid_tostr(hex, sizeof(hex), &id));
				break;
			}
		} else if (type == GIT_OBJECT_TREE) {
			const char *p = obj.ptr, *end = obj.ptr + obj.size;
			mreg_git_tree_entry e;
			int r;
			while (rc == 0 && (r = mreg_git_tree_next(&e, &p, end)) == 1) {
				/* as libgit2 reads a mode: a directory is a tree, a gitlink a commit elsewhere, anything else a blob */
				if ((e.mode & 0170000) == 0040000) {
					PUSH(&e.id);
				} else if ((e.mode & 0170000) != 0160000) {
					/* a blob need not be read, only be there */
					if (mreg_git_oidset_has(&seen, e.id.id))
						continue;
					if ((r = has_blob(odb, repo, &e.id)) != 0)
						rc = r == 1 ? MISSING(&e.id) : r;
					else if (mreg_git_oidset_add(&seen, e.id.id) < 0)
						rc = mreg_error_set(MREG_ERROR, "out of memory");
				}
			}
			if (rc == 0 && r < 0)
				rc = mreg_error_set(MREG_ECORRUPT, "corrupt backup '%s': tree %s does not parse", bi->id,
						    git_oid_tostr(hex, sizeof(hex), &id));
		}
	}
	bi->objects = (int64_t)seen.n;
	if (rc == 0)
		bi->events = count_events(odb, &bi->head);
#undef PUSH
#undef MISSING
done:
	free(stack);
	mreg_buf_dispose(&obj);
	mreg_git_oidset_dispose(&seen);
	return rc;
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
 * walk. Durable, as any restore.
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
	if ((s->rc = mreg_git_pack_store_idx(s->packdir, s->bi->pack, s->bi->packlen, s->idx, s->idxlen, true, s->hex,
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
		if ((rc = check_complete(bi, odb, repo)) < 0)
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
		bi->nclocks = mreg_git_be32(store.idx + 8 + 255 * 4);
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
