/*
 * What HEAD holds: its commit and tree, the branch it names, the objects
 * under it, and the policy in its mreg.json.
 *
 * Objects are read by hand (fsstore/git/odb.c) and, where that reader is
 * not sure (alternates, a multi-pack-index, an index it does not read),
 * by libgit2. HEAD is read by hand too when the handle is light; a full
 * handle asks libgit2.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>

/*
 * The commit of the branch HEAD named when the writer lock was taken (a
 * light handle keeps both under the lock; lock.c), read once; false when
 * nothing is kept, or the branch does not read plainly (unborn, odd).
 */
static bool kept_head(git_oid *commit, mreg_registry *reg)
{
	if (!reg->light || !reg->head_branch_known)
		return false;
	if (!reg->head_commit_known) {
		if (mreg_git_ref_read(&reg->head_commit, reg->gitdir, reg->head_branch) != 0 ||
		    git_oid_is_zero(&reg->head_commit))
			return false;
		reg->head_commit_known = true;
	}
	*commit = reg->head_commit;
	return true;
}

bool mreg_head_on_branch(mreg_registry *reg)
{
	char hex[41], branch[256];
	git_oid c;
	return kept_head(&c, reg) || mreg_git_head(hex, branch, sizeof(branch), reg->gitdir) == 0;
}

const char *mreg_head_branch(mreg_registry *reg, char *buf, size_t n)
{
	git_reference *head = NULL;
	const char *name = "refs/heads/main";
	char head_hex[41];
	if (reg->light && reg->head_branch_known && strlen(reg->head_branch) < n)
		return strcpy(buf, reg->head_branch);
	if (reg->light && mreg_git_head(head_hex, buf, n, reg->gitdir) == 0)
		return buf;
	if (mreg_registry_need_git(reg) < 0)
		mreg_error_clear();	/* the default name, and the next call says what is wrong */
	else if (git_reference_lookup(&head, reg->repo, "HEAD") == 0 &&
	    git_reference_type(head) == GIT_REFERENCE_SYMBOLIC)
		name = git_reference_symbolic_target(head);
	size_t len = strlen(name);
	if (len >= n)
		len = n - 1;
	memcpy(buf, name, len);
	buf[len] = '\0';
	git_reference_free(head);
	return buf;
}

/*
 * HEAD's commit and tree without libgit2: the tree from a stamp of that
 * commit, else from the commit. 1: ask libgit2.
 */
static int light_head(git_oid *commit, git_oid *tree, mreg_registry *reg)
{
	char hex[41];
	git_object_t type;
	mreg_buf b = MREG_BUF_INIT;
	if (kept_head(commit, reg))
		git_oid_tostr(hex, sizeof(hex), commit);
	else if (mreg_git_head(hex, NULL, 0, reg->gitdir) != 0 || git_oid_fromstr(commit, hex) < 0)
		return 1;
	if (reg->known && git_oid_equal(&reg->known_commit, commit)) {
		*tree = reg->known_tree;
		return 0;
	}
	if (mreg_cache_tree_of(tree, reg, hex))
		return 0;
	int rc = mreg_tree_read_object(&b, &type, reg, commit);
	if (rc == 0 && (type != GIT_OBJECT_COMMIT || !mreg_git_commit_tree(tree, b.ptr, b.size)))
		rc = mreg_error_set(MREG_ECORRUPT, "HEAD of '%s' is not a commit", reg->path);
	mreg_buf_dispose(&b);
	return rc;
}

int mreg_head_read(git_oid *commit, git_oid *tree, mreg_registry *reg)
{
	git_commit *c = NULL;
	int rc;
	if (reg->light && (rc = light_head(commit, tree, reg)) <= 0)
		return rc;
	if ((rc = mreg_registry_need_git(reg)) < 0)
		return rc;
	int err = git_reference_name_to_id(commit, reg->repo, "HEAD");
	if (err == GIT_ENOTFOUND || err == GIT_EUNBORNBRANCH)
		return mreg_error_set(MREG_ENOTFOUND, "registry '%s' has no commits", reg->path);
	if (err < 0)
		return mreg_libgit2_error("cannot read HEAD of", reg->path);
	if (git_commit_lookup(&c, reg->repo, commit) < 0)
		return mreg_libgit2_error("cannot read the HEAD commit of", reg->path);
	git_oid_cpy(tree, git_commit_tree_id(c));
	git_commit_free(c);
	return 0;
}

int mreg_head_policy_doc(cJSON **out, mreg_registry *reg)
{
	git_oid c, t, id;
	git_object_t type;
	mreg_buf b = MREG_BUF_INIT;
	int rc = mreg_head_read(&c, &t, reg);
	*out = NULL;
	if (rc < 0)
		return rc;
	if ((rc = mreg_tree_read_object(&b, &type, reg, &t)) < 0)
		goto done;
	if (type != GIT_OBJECT_TREE) {
		rc = mreg_error_set(MREG_ECORRUPT, "HEAD of '%s' has no tree", reg->path);
		goto done;
	}
	mreg_git_tree_entry te;
	if (!mreg_git_tree_find(&te, b.ptr, b.size, "mreg.json", 9) || te.mode == 040000)
		goto done;	/* none: the defaults */
	id = te.id;
	if ((rc = mreg_tree_read_object(&b, &type, reg, &id)) < 0)
		goto done;
	*out = type == GIT_OBJECT_BLOB ? cJSON_ParseWithLength(b.ptr, b.size) : NULL;
	if (!cJSON_IsObject(*out)) {
		cJSON_Delete(*out);
		*out = NULL;
		rc = mreg_error_set(MREG_EINVALID, "invalid mreg.json in '%s': not a JSON object", reg->path);
	}
done:
	mreg_buf_dispose(&b);
	return rc;
}

/* artifact_max_bytes of mreg.json: the largest model file committed to git (default 1 MiB). */
int mreg_head_artifact_limit(mreg_registry *reg, int64_t *out)
{
	mreg_policy p;
	int rc = mreg_registry_policy(&p, reg);	/* an invalid mreg.json is refused, naming the key */
	*out = p.artifact_max_bytes;
	return rc;
}

int mreg_head_peek(char out[41], const mreg_registry *reg)
{
	int rc = mreg_git_head(out, NULL, 0, reg->gitdir);
	if (rc < 0)
		mreg_error_clear();
	return rc == 0 ? 0 : 1;
}

int mreg_head_now(char out[41], mreg_registry *reg)
{
	git_oid c, t;
	int rc = mreg_git_head(out, NULL, 0, reg->gitdir);
	if (rc == 0)
		return 0;
	if (rc < 0)
		mreg_error_clear();
	/* a detached or packed HEAD, anything the hand reader leaves to libgit2 */
	if ((rc = mreg_registry_need_git(reg)) < 0 || (rc = mreg_head_read(&c, &t, reg)) < 0)
		return rc;
	git_oid_tostr(out, 41, &c);
	return 0;
}
