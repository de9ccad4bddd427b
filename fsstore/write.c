/*
 * The commit: the moment of truth of every write (DESIGN section 4, step 4).
 *
 * New objects (event blob, artifact blob, trees, commit) gather in an
 * in-memory object backend and reach disk as one pack through the indexer,
 * which fsyncs pack and index when durability is on. Then the branch moves
 * with compare-and-swap. A crash before the ref update leaves only an
 * unreferenced pack; after it, the event is durable and whatever lags
 * (work tree, index, state files) is repaired by the next command.
 *
 * One pack per write would pile up, so packs are merged geometrically: when
 * there are more than MAX_PACKS, every pack but the largest is merged, and
 * the largest joins once the rest outgrow half of it. Each object is thus
 * rewritten O(log n) times in all.
 */
#define _GNU_SOURCE
#include "internal.h"

#include <dirent.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#define MAX_PACKS 16

static int ensure_mempack(mreg_registry *reg)
{
	if (reg->mempack)
		return 0;
	if (git_mempack_new(&reg->mempack) < 0 || git_odb_add_backend(reg->odb, reg->mempack, 1000) < 0)
		return mreg_git_error("cannot prepare object writing in", reg->path);
	return 0;
}

static int flush_mempack(mreg_registry *reg)
{
	git_buf pack = GIT_BUF_INIT;
	git_odb_writepack *wp = NULL;
	git_indexer_progress stats;
	int rc = 0;

	if (git_mempack_dump(&pack, reg->repo, reg->mempack) < 0) {
		rc = mreg_git_error("cannot pack new objects in", reg->path);
		goto done;
	}
	if (git_odb_write_pack(&wp, reg->odb, NULL, NULL) < 0 || wp->append(wp, pack.ptr, pack.size, &stats) < 0 ||
	    wp->commit(wp, &stats) < 0) {
		rc = mreg_git_error("cannot write a pack in", reg->path);
		goto done;
	}
done:
	if (wp)
		wp->free(wp);
	git_buf_dispose(&pack);
	git_mempack_reset(reg->mempack);
	return rc;
}

static int make_signature(git_signature **out, mreg_registry *reg, const char *time)
{
	int64_t usec = 0;
	mreg_time_parse(&usec, time);
	const char *at = strchr(reg->actor, '@');
	char *email = at ? mreg_strdup(reg->actor) : mreg_strfmt("%s@mreg", reg->actor);
	int rc = email ? git_signature_new(out, reg->actor, email, (git_time_t)(usec / 1000000), 0) : -1;
	free(email);
	return rc < 0 ? mreg_git_error("cannot make a signature for", reg->actor) : 0;
}

int mreg_commit_event(git_oid *tree_out, mreg_registry *reg, const mreg_event *ev, const mreg_buf *bytes,
		      const mreg_addfile *extra, size_t nextra, const char *summary)
{
	git_oid head, base_tree, tree, commit;
	git_tree *base = NULL, *t = NULL;
	git_commit *parent = NULL;
	git_signature *sig = NULL;
	git_reference *ref = NULL;
	git_tree_update up[4];
	char *evpath = NULL, *msg = NULL;
	char branch[256];
	int rc;

	if (nextra > 3)
		return mreg_error_set(MREG_ERROR, "too many files in one event");
	git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, reg->fsync ? 1 : 0);
	if ((rc = ensure_mempack(reg)) < 0 || (rc = mreg_head(&head, &base_tree, reg)) < 0)
		return rc;
	rc = MREG_ERROR;
	if (git_tree_lookup(&base, reg->repo, &base_tree) < 0 || git_commit_lookup(&parent, reg->repo, &head) < 0) {
		rc = mreg_git_error("cannot read HEAD of", reg->path);
		goto done;
	}
	evpath = mreg_strfmt("events/%.2s/%.2s/%s.json", ev->id, ev->id + 2, ev->id);
	msg = mreg_strfmt("%s\n\nMreg-Event: %s\nMreg-Type: %s\n", summary, ev->id, mreg_event_type_name(ev->type));
	if (!evpath || !msg) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
		goto done;
	}
	memset(up, 0, sizeof(up));
	up[0].action = GIT_TREE_UPDATE_UPSERT;
	up[0].filemode = GIT_FILEMODE_BLOB;
	up[0].path = evpath;
	if (git_blob_create_from_buffer(&up[0].id, reg->repo, bytes->ptr, bytes->size) < 0) {
		rc = mreg_git_error("cannot store event in", reg->path);
		goto done;
	}
	for (size_t i = 0; i < nextra; i++) {
		up[i + 1].action = GIT_TREE_UPDATE_UPSERT;
		up[i + 1].filemode = GIT_FILEMODE_BLOB;
		up[i + 1].path = extra[i].path;
		if (git_blob_create_from_buffer(&up[i + 1].id, reg->repo, extra[i].data, extra[i].len) < 0) {
			rc = mreg_git_error("cannot store file in", reg->path);
			goto done;
		}
	}
	if (git_tree_create_updated(&tree, reg->repo, base, nextra + 1, up) < 0 ||
	    git_tree_lookup(&t, reg->repo, &tree) < 0) {
		rc = mreg_git_error("cannot build the tree in", reg->path);
		goto done;
	}
	if ((rc = make_signature(&sig, reg, ev->time)) < 0)
		goto done;
	const git_commit *parents[1] = { parent };
	if (git_commit_create(&commit, reg->repo, NULL, sig, sig, NULL, msg, t, 1, parents) < 0) {
		rc = mreg_git_error("cannot create a commit in", reg->path);
		goto done;
	}
	if ((rc = flush_mempack(reg)) < 0)
		goto done;
	mreg_branch_ref(reg, branch, sizeof(branch));
	char *log = mreg_strfmt("mreg: %s", summary);
	int err = git_reference_create_matching(&ref, reg->repo, branch, &commit, 1, &head, log);
	free(log);
	if (err == GIT_EMODIFIED) {
		rc = mreg_error_set(MREG_ECONFLICT, "branch '%s' of '%s' moved during the write; nothing was committed",
				    branch, reg->path);
		goto done;
	}
	if (err < 0) {
		rc = mreg_git_error("cannot move the branch of", reg->path);
		goto done;
	}
	git_oid_cpy(tree_out, &tree);
	rc = 0;
done:
	git_reference_free(ref);
	git_signature_free(sig);
	git_tree_free(t);
	git_tree_free(base);
	git_commit_free(parent);
	free(evpath);
	free(msg);
	return rc;
}
