/*
 * Two nodes' histories joined: the merge commit of `mreg sync`.
 *
 * Event and model files are named by their hashes, so two histories never
 * hold different bytes at one path there: the merged tree is the union of
 * both trees. Three kinds of file can differ, and each is settled so that
 * every node, merging in either direction, makes the same tree:
 *
 *   .gitattributes of a fan-out directory: the union of both sides' lines,
 *     the merge=union line first and the others sorted (the file git itself
 *     would merge by union, in an order that does not depend on who merges);
 *   mreg.json, .gitignore and the files under .mreg/: the side that
 *     changed it since the merge base; changed on both sides, the merge is
 *     refused (a person decides);
 *   anything else: refused (incoming.c lets nothing else differ).
 *
 * The new trees and the commit gather in the batch (tree.c) and land as one
 * pack with the branch moved by compare-and-swap (txn.c).
 */
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef struct {
	const char *p;
	size_t n;
} line;

static int cmp_lines(const void *a, const void *b)
{
	const line *x = a, *y = b;
	size_t k = x->n < y->n ? x->n : y->n;
	int r = memcmp(x->p, y->p, k);
	return r ? r : (x->n > y->n) - (x->n < y->n);
}

static size_t split(line *out, const char *data, size_t len)
{
	size_t n = 0;
	for (const char *p = data, *end = data + len; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		size_t k = nl ? (size_t)(nl - p) : (size_t)(end - p);
		if (out)
			out[n] = (line){ p, k };
		n++;
		p += k + 1;
	}
	return n;
}

/* Both files' lines, once each: the union line first, the rest sorted. */
static int union_lines(git_oid *out, mreg_registry *reg, const git_oid *a, const git_oid *b)
{
	static const char first[] = MREG_LFS_UNION_LINE;
	git_blob *x = NULL, *y = NULL;
	line *ls = NULL;
	mreg_buf buf = MREG_BUF_INIT;
	int rc = 0;
	if (git_blob_lookup(&x, reg->repo, a) < 0 || git_blob_lookup(&y, reg->repo, b) < 0) {
		rc = mreg_libgit2_error("cannot read a .gitattributes of", reg->path);
		goto done;
	}
	const char *xd = git_blob_rawcontent(x), *yd = git_blob_rawcontent(y);
	size_t xl = (size_t)git_blob_rawsize(x), yl = (size_t)git_blob_rawsize(y);
	size_t nx = split(NULL, xd, xl), n = nx + split(NULL, yd, yl);
	if (!(ls = calloc(n + 1, sizeof(*ls)))) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
		goto done;
	}
	split(ls, xd, xl);
	split(ls + nx, yd, yl);
	qsort(ls, n, sizeof(*ls), cmp_lines);
	mreg_buf_printf(&buf, "%s\n", first);
	for (size_t i = 0; i < n; i++) {
		bool dup = i && !cmp_lines(&ls[i], &ls[i - 1]);
		bool is_first = ls[i].n == sizeof(first) - 1 && !memcmp(ls[i].p, first, ls[i].n);
		if (!dup && !is_first && ls[i].n) {
			mreg_buf_put(&buf, ls[i].p, ls[i].n);
			mreg_buf_putc(&buf, '\n');
		}
	}
	if (mreg_buf_oom(&buf))
		rc = mreg_error_set(MREG_ERROR, "out of memory");
	else if (git_blob_create_from_buffer(out, reg->repo, buf.ptr, buf.size) < 0)
		rc = mreg_libgit2_error("cannot store a .gitattributes in", reg->path);
done:
	free(ls);
	mreg_buf_dispose(&buf);
	git_blob_free(x);
	git_blob_free(y);
	return rc;
}

static int union_trees(git_oid *out, mreg_registry *reg, const git_oid *ours, const git_oid *theirs, const git_oid *base,
		       const char *dir);

/* One name both trees hold differently (o ours, t theirs, b the base's, may be NULL): what the merge holds. */
static int settle(git_oid *out, git_filemode_t *mode, mreg_registry *reg, const git_tree_entry *o, const git_tree_entry *t,
		  const git_tree_entry *b, const char *dir)
{
	const char *name = git_tree_entry_name(t);
	char path[512];
	snprintf(path, sizeof(path), "%s%s", dir, name);
	*mode = git_tree_entry_filemode(o);
	if (git_tree_entry_type(o) == GIT_OBJECT_TREE && git_tree_entry_type(t) == GIT_OBJECT_TREE) {
		char sub[sizeof(path) + 1];
		snprintf(sub, sizeof(sub), "%s/", path);
		return union_trees(out, reg, git_tree_entry_id(o), git_tree_entry_id(t),
				   b && git_tree_entry_type(b) == GIT_OBJECT_TREE ? git_tree_entry_id(b) : NULL, sub);
	}
	bool files = git_tree_entry_type(o) == GIT_OBJECT_BLOB && git_tree_entry_type(t) == GIT_OBJECT_BLOB;
	if (files && !strcmp(name, ".gitattributes"))
		return union_lines(out, reg, git_tree_entry_id(o), git_tree_entry_id(t));
	bool by_hand = (!dir[0] && (!strcmp(name, "mreg.json") || !strcmp(name, ".gitignore"))) || !strcmp(dir, ".mreg/");
	if (files && by_hand && b) {
		if (git_oid_equal(git_tree_entry_id(b), git_tree_entry_id(o))) {
			*out = *git_tree_entry_id(t);
			*mode = git_tree_entry_filemode(t);
			return 0;
		}
		if (git_oid_equal(git_tree_entry_id(b), git_tree_entry_id(t))) {
			*out = *git_tree_entry_id(o);
			return 0;
		}
	}
	return mreg_error_set(MREG_ECONFLICT, "'%s' was changed on both sides since they parted; merge it by hand", path);
}

static int union_trees(git_oid *out, mreg_registry *reg, const git_oid *ours, const git_oid *theirs, const git_oid *base,
		       const char *dir)
{
	git_tree *o = NULL, *t = NULL, *b = NULL;
	git_treebuilder *tb = NULL;
	int rc = 0;
	if (git_oid_equal(ours, theirs)) {
		*out = *ours;
		return 0;
	}
	if (git_tree_lookup(&o, reg->repo, ours) < 0 || git_tree_lookup(&t, reg->repo, theirs) < 0 ||
	    (base && git_tree_lookup(&b, reg->repo, base) < 0) || git_treebuilder_new(&tb, reg->repo, o) < 0) {
		rc = mreg_libgit2_error("cannot read the trees to merge in", reg->path);
		goto done;
	}
	size_t n = git_tree_entrycount(t);
	for (size_t i = 0; i < n && rc == 0; i++) {
		const git_tree_entry *te = git_tree_entry_byindex(t, i);
		const git_tree_entry *oe = git_tree_entry_byname(o, git_tree_entry_name(te));
		git_oid id = *git_tree_entry_id(te);
		git_filemode_t mode = git_tree_entry_filemode(te);
		if (oe && git_oid_equal(git_tree_entry_id(oe), &id) && git_tree_entry_filemode(oe) == mode)
			continue;
		if (oe)
			rc = settle(&id, &mode, reg, oe, te, b ? git_tree_entry_byname(b, git_tree_entry_name(te)) : NULL, dir);
		if (rc == 0 && git_treebuilder_insert(NULL, tb, git_tree_entry_name(te), &id, mode) < 0)
			rc = mreg_libgit2_error("cannot build the merged tree of", reg->path);
	}
	if (rc == 0 && git_treebuilder_write(out, tb) < 0)
		rc = mreg_libgit2_error("cannot write the merged tree of", reg->path);
done:
	git_treebuilder_free(tb);
	git_tree_free(o);
	git_tree_free(t);
	git_tree_free(b);
	return rc;
}

int mreg_merge_commit(git_oid *commit, git_oid *tree, mreg_registry *reg, const git_oid *ours, const git_oid *theirs,
		      const char *message)
{
	git_commit *oc = NULL, *tc = NULL;
	git_tree *merged = NULL;
	git_signature *sig = NULL;
	git_oid base, base_tree;
	bool has_base;
	int rc;

	if ((rc = mreg_tree_batch_start(reg)) < 0)
		return rc;
	if (git_commit_lookup(&oc, reg->repo, ours) < 0 || git_commit_lookup(&tc, reg->repo, theirs) < 0) {
		rc = mreg_libgit2_error("cannot read the commits to merge in", reg->path);
		goto done;
	}
	has_base = git_merge_base(&base, reg->repo, ours, theirs) == 0;
	git_error_clear();
	if (has_base) {
		git_commit *bc = NULL;
		if (git_commit_lookup(&bc, reg->repo, &base) < 0) {
			rc = mreg_libgit2_error("cannot read the merge base in", reg->path);
			goto done;
		}
		base_tree = *git_commit_tree_id(bc);
		git_commit_free(bc);
	}
	if ((rc = union_trees(tree, reg, git_commit_tree_id(oc), git_commit_tree_id(tc), has_base ? &base_tree : NULL,
			      "")) < 0 ||
	    (rc = mreg_txn_signature(&sig, reg)) < 0)
		goto done;
	const git_commit *parents[2] = { oc, tc };
	if (git_tree_lookup(&merged, reg->repo, tree) < 0 ||
	    git_commit_create(commit, reg->repo, NULL, sig, sig, NULL, message, merged, 2, parents) < 0)
		rc = mreg_libgit2_error("cannot make the merge commit in", reg->path);
done:
	git_signature_free(sig);
	git_tree_free(merged);
	git_commit_free(oc);
	git_commit_free(tc);
	return rc;
}
