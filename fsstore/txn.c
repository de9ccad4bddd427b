/*
 * One write, top to bottom (DESIGN section 4).
 *
 * Every write operation (fsstore/ops.c) is one transaction:
 *
 *   1. mreg_txn_begin: take the writer lock (lock.c), bring the state and
 *      the mirror up to HEAD (cache.c), load the summary and the one model
 *      concerned;
 *   2. the operation validates its request against that state: a refused
 *      request ends here (mreg_txn_end) and writes nothing;
 *   3. mreg_txn_envelope: the event's clock, time, actor and node; the
 *      operation builds the event and stores its model file first;
 *   4. commit_event: the event blob, the trees on its path and the commit
 *      (tree.c), one pack with its index (git/packw.c), then the branch
 *      moved with compare-and-swap, durably (update_branch): the moment of
 *      truth;
 *   5. mirror: the work tree and the index follow the new commit
 *      (mirror.c);
 *   6. the one new event folded into the state, the state files rewritten
 *      (cache.c); mreg_txn_end unlocks.
 *
 * mreg_txn_commit runs steps 3 to 6. A crash before step 4's branch move
 * leaves only an unreferenced pack; after it, the event is durable and
 * whatever lags (work tree, index, state files) is repaired by the next
 * command, which compares the stamps with HEAD (cache.c).
 *
 * A write refused before its branch moves (the branch moved meanwhile, a
 * lock file held past mreg.lockTimeout, a full disk) removes the pack it
 * made; a pack file is only named once both it and its index are written
 * whole, so a full disk leaves none. An unreferenced pack a writer killed
 * at the wrong moment leaves is garbage for `mreg gc` (gc.c), which removes
 * it past the grace period. One pack per write would pile up, so after
 * each write the small packs are merged geometrically (git/packw.c).
 *
 * Batches (imports, migrations, restores) take the same road with many
 * events in one commit (mreg_txn_commit_batch), and restores move the branch
 * alone (mreg_txn_reset_branch).
 */
#define _GNU_SOURCE
#include "internal.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#define MAX_PACKS 8

/* ---- step 1: begin ---------------------------------------------------- */

/* HEAD names a branch, read by hand, else (detached, or anything odd) judged by libgit2. */
static int check_on_branch(mreg_registry *reg)
{
	int rc;
	if (reg->light && mreg_head_on_branch(reg))
		return 0;
	if ((rc = mreg_registry_need_git(reg)) < 0)
		return rc;
	if (git_repository_head_detached(reg->repo) == 1)
		return mreg_error_set(MREG_EINVALID, "cannot write to '%s': HEAD is detached (check out a branch)",
				      reg->path);
	return 0;
}

void mreg_txn_init(mreg_txn *t, mreg_registry *reg)
{
	t->reg = reg;
	t->st = NULL;
	t->locked = false;
	t->current = false;
	mreg_event_init(&t->ev);
	mreg_buf_init(&t->summary, 0);
}

int mreg_txn_lock(mreg_txn *t, const char *model)
{
	mreg_registry *reg = t->reg;
	int rc;
	if (!reg->workdir)
		return mreg_error_set(MREG_EINVALID, "cannot write to '%s': it is a bare repository", reg->path);
	if ((rc = mreg_registry_writable(reg)) < 0 || (rc = mreg_lock_take(reg)) < 0)
		return rc;
	t->locked = true;
	mreg_lfs_sweep(reg);	/* what a killed writer left: no writer is alive but us */
	/* under the lock, so that a checkout since the open is seen */
	if ((rc = check_on_branch(reg)) < 0 || (rc = mreg_lfs_migrate(reg)) < 0)
		return rc;
	if ((rc = mreg_cache_ensure(reg)) < 0 || (rc = mreg_cache_load_write(&t->st, reg, model)) < 0) {
		if (rc == MREG_ECORRUPT) {
			/* state damaged behind its stamp: fold from the log and retry once */
			char *p = mreg_strfmt("%sstamp", reg->mregdir);
			if (p)
				unlink(p);
			free(p);
			if ((rc = mreg_cache_ensure(reg)) == 0)
				rc = mreg_cache_load_write(&t->st, reg, model);
		}
	}
	t->current = rc == 0;
	return rc;
}

int mreg_txn_begin(mreg_txn *t, mreg_registry *reg, const char *model)
{
	mreg_txn_init(t, reg);
	int rc = mreg_txn_lock(t, model);
	if (rc < 0)
		mreg_txn_end(t);
	return rc;
}

void mreg_txn_end(mreg_txn *t)
{
	mreg_event_dispose(&t->ev);
	mreg_event_init(&t->ev);
	mreg_buf_dispose(&t->summary);
	if (t->reg->keep_state) {	/* the last transaction's state, if current, for the caller */
		mreg_state_free(t->reg->kept);
		t->reg->kept = t->current ? t->st : NULL;
		if (t->current)
			t->st = NULL;
	}
	mreg_state_free(t->st);
	t->st = NULL;
	t->current = false;
	if (t->locked) {
		if (!t->reg->kept)	/* else they go with it, when the registry does */
			mreg_cache_release_maps(t->reg);
		mreg_lock_release(t->reg);
		t->locked = false;
	}
}

/* ---- step 3: the envelope ---------------------------------------------- */

/* The envelope: a Lamport clock one past everything folded, now, who, where. */
int mreg_txn_envelope(mreg_txn *t, mreg_event *ev)
{
	if (ev->clock)
		return 0;
	ev->clock = t->st->clock + 1;
	mreg_time_format(ev->time, mreg_fs_now_usec());
	if (!(ev->actor = mreg_strdup(t->reg->actor)) || !(ev->node = mreg_strdup(t->reg->node)))
		return mreg_error_set(MREG_ERROR, "out of memory");
	return 0;
}

/* ---- step 4: the commit, the moment of truth ------------------------- */

/* Who a commit and a reflog line name: the actor, as libgit2's signature would have it. */
typedef struct {
	char *name, *email;
	int64_t time;
} signature;

static void signature_dispose(signature *s)
{
	free(s->name);
	free(s->email);
	s->name = s->email = NULL;
}

/* What libgit2 trims from the ends of a name or an address. */
static bool is_crud(unsigned char c)
{
	return c <= 32 || strchr(".,:;<>\"\\'", c);
}

/* Nothing that libgit2 would trim or refuse: the signature is the actor as it is. */
static bool plain_ident(const char *s)
{
	size_t n = strlen(s);
	return n && !is_crud((unsigned char)s[0]) && !is_crud((unsigned char)s[n - 1]) && !strpbrk(s, "<>");
}

static int make_signature(signature *out, mreg_registry *reg, const char *time)
{
	out->name = out->email = NULL;
	/* a commit header holds the actor on one line, between no angle brackets: anything else breaks the commit */
	for (const unsigned char *p = (const unsigned char *)reg->actor; *p; p++)
		if (*p < ' ' || *p == 0x7f || *p == '<' || *p == '>') {
			char shown[80];
			size_t k = 0;
			for (const unsigned char *q = (const unsigned char *)reg->actor; *q && k < sizeof(shown) - 1; q++)
				shown[k++] = *q < ' ' || *q == 0x7f ? '?' : (char)*q;
			shown[k] = '\0';
			return mreg_error_set(MREG_EINVALID,
					      "invalid actor '%s': no control characters, '<' or '>' (see git config mreg.actor)",
					      shown);
		}
	int64_t usec = 0;
	mreg_time_parse(&usec, time);
	const char *at = strchr(reg->actor, '@');
	char *email = at ? mreg_strdup(reg->actor) : mreg_strfmt("%s@mreg", reg->actor);
	out->time = usec / 1000000;
	out->name = out->email = NULL;
	if (!email)
		return mreg_error_set(MREG_ERROR, "out of memory");
	if (plain_ident(reg->actor) && plain_ident(email)) {
		out->name = mreg_strdup(reg->actor);
		out->email = email;
		return out->name ? 0 : mreg_error_set(MREG_ERROR, "out of memory");
	}
	/* anything else: libgit2 trims it, or refuses it, its own way */
	git_signature *sig = NULL;
	int rc = mreg_registry_need_git(reg);
	if (rc == 0 && git_signature_new(&sig, reg->actor, email, (git_time_t)out->time, 0) < 0)
		rc = mreg_libgit2_error("cannot make a signature for", reg->actor);
	free(email);
	if (rc < 0)
		return rc;
	out->name = mreg_strdup(sig->name);
	out->email = mreg_strdup(sig->email);
	git_signature_free(sig);
	if (!out->name || !out->email) {
		signature_dispose(out);
		return mreg_error_set(MREG_ERROR, "out of memory");
	}
	return 0;
}

/*
 * Move the branch to `to` as git does it: take <ref>.lock exclusively
 * (waiting while a git command holds it: mreg_lock_file_create), check
 * the branch still holds `expect` (compare-and-swap; NULL: any value),
 * write the lock, make it durable, log the move in the branch's reflog and
 * HEAD's, rename the lock over the ref and make the directory durable. This
 * is the moment of truth of a write. The reflog names the actor. *moved_out
 * says whether the rename happened, whatever else failed.
 */
static int update_branch(bool *moved_out, mreg_registry *reg, const char *branch, const git_oid *to,
			 const git_oid *expect, const signature *who, const char *msg, const char *moved)
{
	git_oid cur;
	char *path = mreg_strfmt("%s%s", reg->gitdir, branch), *lock = mreg_strfmt("%s%s.lock", reg->gitdir, branch);
	mreg_git_ident id = { who->name, who->email, who->time };
	int rc = 0, fd = -1;

	*moved_out = false;
	if (!path || !lock) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
		goto done;
	}
	if ((rc = mreg_lock_file_create(&fd, reg, branch)) < 0)
		goto done;
	if (mreg_git_ref_read(&cur, reg->gitdir, branch) != 0) {
		rc = mreg_error_set(MREG_ECORRUPT, "cannot move the branch of '%s': '%s' does not hold a commit id",
				    reg->path, branch);
		goto fail;
	}
	if (expect && !git_oid_equal(&cur, expect)) {
		rc = mreg_error_set(MREG_ECONFLICT, "branch '%s' of '%s' %s", branch, reg->path, moved);
		goto fail;
	}
	if (mreg_git_ref_put(fd, to, reg->fsync) < 0) {
		rc = mreg_error_set(MREG_ERROR, "cannot move the branch of '%s': %s", reg->path, strerror(errno));
		goto fail;
	}
	close(fd);
	fd = -1;
	mreg_git_reflog_append(reg->gitdir, branch, &cur, to, &id, msg);
	char head_target[256];
	if (!strcmp(mreg_head_branch(reg, head_target, sizeof(head_target)), branch))
		mreg_git_reflog_append(reg->gitdir, "HEAD", &cur, to, &id, msg);
	if (rename(lock, path) < 0) {
		rc = mreg_error_set(MREG_ERROR, "cannot move the branch of '%s': %s", reg->path, strerror(errno));
		goto fail;
	}
	mreg_lock_file_done(reg);
	*moved_out = true;
	if (reg->head_branch_known && !strcmp(branch, reg->head_branch)) {
		reg->head_commit = *to;	/* HEAD as kept under the lock moves with it (head.c) */
		reg->head_commit_known = true;
	}
	if (reg->fsync) {
		char *slash = strrchr(path, '/');
		*slash = '\0';
		if (mreg_fs_sync_dir(path) < 0)
			/* the branch has moved: say so, or a retry would write the event twice */
			rc = mreg_error_set(MREG_ERROR, "the write to '%s' is in its history, but making it durable failed "
					    "(cannot fsync '%s': %s): do not repeat it; check the disk", reg->path, path,
					    strerror(errno));
	}
	goto done;
fail:
	if (fd >= 0)
		close(fd);
	fd = -1;
	unlink(lock);
	mreg_lock_file_done(reg);
done:
	if (fd >= 0)
		close(fd);
	free(path);
	free(lock);
	return rc;
}

/* A pack this write made, removed (index first: a pack without one is never read). */
static void remove_pack(mreg_registry *reg, const char *hex)
{
	char *dir = mreg_strfmt("%sobjects/pack", reg->gitdir);
	if (dir)
		mreg_git_pack_remove(dir, hex);
	free(dir);
}

/*
 * Step 4's last part, shared by every commit path: the pack written
 * (pack_rc says how that went), compare-and-swap the branch from head to
 * commit (durable: the moment of truth), then merge packs, which is
 * housekeeping and may fail on its own. A write refused here (the branch
 * moved, a lock held too long, a full disk) removes the pack it wrote, if
 * it made it (pack, created): nothing refers to it. *tree_out: the tree
 * of the commit that landed.
 */
static int land(git_oid *tree_out, mreg_registry *reg, int pack_rc, const char *pack, bool created,
		const git_oid *commit, const git_oid *tree, const git_oid *head, const signature *who, const char *summary)
{
	char branch[256];
	bool moved = false;
	int rc = pack_rc;

	if (rc == 0) {
		mreg_head_branch(reg, branch, sizeof(branch));
		char *log = mreg_strfmt("mreg: %s", summary);
		rc = log ? update_branch(&moved, reg, branch, commit, head, who, log,
					 "moved during the write; nothing was committed")
			 : mreg_error_set(MREG_ERROR, "out of memory");
		free(log);
	}
	if (rc < 0) {
		if (!moved && created)	/* (or named, then the directory could not be made durable) */
			remove_pack(reg, pack);
		return rc;
	}
	reg->known_commit = *commit;	/* for the stamps: HEAD is this commit, of this tree */
	reg->known_tree = *tree;
	reg->known = true;
	git_oid_cpy(tree_out, tree);
	/* what a killed gc left, then the small packs merged */
	char *dir = mreg_strfmt("%sobjects/pack", reg->gitdir);
	mreg_gc_sweep_tmp(reg);
	if (!dir || mreg_git_pack_merge(dir, MAX_PACKS, reg->fsync) < 0)
		mreg_error_clear();
	free(dir);
	return 0;
}

/*
 * An event that moves a version into a stage mreg.json protects is
 * committed signed (sign.c): *out filled and *sign set then, else NULL.
 */
static int signing_for(mreg_signing *out, const mreg_signing **sign, mreg_policy *p, mreg_registry *reg,
		       const mreg_event *ev, const git_oid *tree)
{
	unsigned mask = mreg_event_stages_entered(ev);
	int rc;
	*sign = NULL;
	if (!mask || (rc = mreg_registry_policy(p, reg)) < 0)
		return mask ? rc : 0;
	mreg_stage s = mreg_policy_protected(p, mask);
	if (s == MREG_STAGE_NONE)
		return 0;
	*out = (mreg_signing){ reg, tree, p->protect[s], mreg_stage_name(s) };
	*sign = out;
	return 0;
}

int mreg_txn_commit_event(git_oid *tree_out, mreg_registry *reg, const mreg_event *ev, const mreg_buf *bytes,
		      const mreg_addfile *extra, size_t nextra, const char *summary)
{
	mreg_signing signing;
	const mreg_signing *sign = NULL;
	mreg_policy policy = MREG_POLICY_INIT;
	git_oid head, base_tree, tree, commit;
	signature sig = { NULL, NULL, 0 };
	mreg_tree_objs objs;
	mreg_tree_update up[4];
	char evpath[MREG_EVENT_PATH_MAX], *msg = NULL, pack[41];
	bool created = false;
	int rc;

	objs.n = 0;
	if (nextra > 3)
		return mreg_error_set(MREG_ERROR, "too many files in one event");
	if ((rc = mreg_head_read(&head, &base_tree, reg)) < 0)
		return rc;
	mreg_event_path(evpath, ev->id);
	msg = mreg_strfmt("%s\n\nMreg-Event: %s\nMreg-Type: %s\n", summary, ev->id, mreg_event_type_name(ev->type));
	if (!msg) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
		goto done;
	}
	up[0].path = evpath;
	if ((rc = mreg_tree_add(&objs, GIT_OBJECT_BLOB, bytes->ptr, bytes->size, false, &up[0].id)) < 0)
		goto done;
	for (size_t i = 0; i < nextra; i++) {
		up[i + 1].path = extra[i].path;
		if ((rc = mreg_tree_add(&objs, GIT_OBJECT_BLOB, extra[i].data, extra[i].len, false, &up[i + 1].id)) < 0)
			goto done;
	}
	if ((rc = mreg_tree_build(&tree, &objs, reg, &base_tree, up, nextra + 1)) < 0 ||
	    (rc = make_signature(&sig, reg, ev->time)) < 0 ||
	    (rc = signing_for(&signing, &sign, &policy, reg, ev, &base_tree)) < 0 ||
	    (rc = mreg_tree_commit(&commit, &objs, &tree, &head, sig.name, sig.email, sig.time, msg, sign)) < 0)
		goto done;
	rc = mreg_tree_write_pack(reg, &objs, pack, &created);
	rc = land(tree_out, reg, rc, pack, created, &commit, &tree, &head, &sig, summary);
done:
	mreg_tree_objs_dispose(&objs);
	signature_dispose(&sig);
	free(msg);
	return rc;
}

/*
 * Many events in one commit: for imports, migrations and benchmarks, where a
 * commit per event would be wasted work. Only the objects the repository
 * does not have yet are written (tree.c's batch), as one pack.
 */
int mreg_txn_commit_batch(git_oid *tree_out, mreg_registry *reg, const mreg_buf *bytes, const char (*ids)[33], size_t n,
		      const mreg_addfile *extra, size_t nextra, const char *summary, const char *time)
{
	git_oid head, base_tree, tree, commit;
	signature who = { NULL, NULL, 0 };
	mreg_addfile *files = NULL;
	char (*paths)[MREG_EVENT_PATH_MAX] = NULL;
	char *msg = NULL, pack[41];
	bool created = false;
	int rc;

	if ((rc = mreg_registry_need_git(reg)) < 0 || (rc = mreg_head_read(&head, &base_tree, reg)) < 0)
		return rc;
	files = calloc(n + nextra + 1, sizeof(*files));
	paths = calloc(n ? n : 1, sizeof(*paths));
	msg = mreg_strfmt("%s\n\nMreg-Events: %zu\nMreg-Type: batch\n", summary, n);
	if (!files || !paths || !msg) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < n; i++) {
		mreg_event_path(paths[i], ids[i]);
		files[i] = (mreg_addfile){ paths[i], bytes[i].ptr, bytes[i].size, NULL };
	}
	for (size_t i = 0; i < nextra; i++)
		files[n + i] = extra[i];
	if ((rc = make_signature(&who, reg, time)) < 0 ||
	    (rc = mreg_tree_batch_build(&tree, &commit, reg, &head, &base_tree, files, n + nextra, who.name, who.email,
				   who.time, msg)) < 0)
		goto done;
	rc = mreg_tree_batch_write_pack(reg, pack, &created);
	rc = land(tree_out, reg, rc, pack, created, &commit, &tree, &head, &who, summary);
done:
	signature_dispose(&who);
	free(files);
	free(paths);
	free(msg);
	return rc;
}

int mreg_txn_signature(git_signature **out, mreg_registry *reg)
{
	signature who = { NULL, NULL, 0 };
	char now[MREG_TIME_LEN + 1];
	int rc;
	mreg_time_format(now, mreg_fs_now_usec());
	if ((rc = make_signature(&who, reg, now)) == 0 &&
	    git_signature_new(out, who.name, who.email, (git_time_t)who.time, 0) < 0)
		rc = mreg_libgit2_error("cannot make a signature for", reg->actor);
	signature_dispose(&who);
	return rc;
}

int mreg_txn_land_batch(mreg_registry *reg, const git_oid *commit, const git_oid *tree, const git_oid *head,
			const char *summary)
{
	signature who = { NULL, NULL, 0 };
	char pack[41], now[MREG_TIME_LEN + 1];
	bool created = false;
	git_oid landed;
	int rc;
	mreg_time_format(now, mreg_fs_now_usec());
	if ((rc = make_signature(&who, reg, now)) == 0) {
		rc = mreg_tree_batch_write_pack(reg, pack, &created);
		rc = land(&landed, reg, rc, pack, created, commit, tree, head, &who, summary);
	}
	signature_dispose(&who);
	return rc;
}

int mreg_txn_reset_branch(mreg_registry *reg, const git_oid *to, const git_oid *expect, const char *why)
{
	signature who = { NULL, NULL, 0 };
	char branch[256], now[MREG_TIME_LEN + 1];
	int rc;
	bool moved;
	mreg_head_branch(reg, branch, sizeof(branch));
	mreg_time_format(now, mreg_fs_now_usec());
	char *log = mreg_strfmt("mreg: %s", why);
	if (!log)
		rc = mreg_error_set(MREG_ERROR, "out of memory");
	else if ((rc = make_signature(&who, reg, now)) == 0)
		rc = update_branch(&moved, reg, branch, to, expect, &who, log, "moved meanwhile; nothing was changed");
	reg->known = false;
	signature_dispose(&who);
	free(log);
	return rc;
}

/* ---- step 5: the mirror ------------------------------------------------ */

/* Work tree and index follow the new commit (step 5). */
static int mirror(mreg_registry *reg, const char *evpath, const mreg_buf *bytes, const mreg_addfile *extra,
		  size_t nextra, const git_oid *tree)
{
	mreg_index_entry adds[4];
	int rc;
	git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 0);	/* a mirror: repaired from HEAD if lost */
	if (nextra > 3)
		return mreg_error_set(MREG_ERROR, "too many files in one event");
	if (reg->lean) {
		/* the model file only, before the state's stamp moves (cache.c) */
		for (size_t i = 0; i < nextra; i++)
			if ((rc = mreg_mirror_file(&adds[i], reg, &extra[i])) < 0)
				return rc;
		return 0;
	}
	mreg_addfile ev = { evpath, bytes->ptr, bytes->size, NULL };
	rc = mreg_mirror_file(&adds[0], reg, &ev);
	for (size_t i = 0; rc == 0 && i < nextra; i++)
		rc = mreg_mirror_file(&adds[i + 1], reg, &extra[i]);
	if (rc < 0)
		return rc;
	if ((rc = mreg_mirror_index(reg, adds, nextra + 1, tree)) == 0)
		rc = mreg_cache_set_mirror(reg, tree);
	return rc;
}

/* ---- steps 3 to 6 ------------------------------------------------------ */

/* Fill the envelope, write, mirror, fold. ev->id is set on return. */
int mreg_txn_commit(mreg_txn *t, const mreg_addfile *extra, size_t nextra)
{
	mreg_registry *reg = t->reg;
	mreg_event *ev = &t->ev;
	mreg_buf bytes = MREG_BUF_INIT;
	const char *summary = t->summary.ptr;
	git_oid tree;
	char evpath[MREG_EVENT_PATH_MAX];
	int rc;

	if (mreg_buf_oom(&t->summary))
		return mreg_error_set(MREG_ERROR, "out of memory");
	/* one line in git log --oneline, whatever the summary holds (a reason, a name) */
	for (char *p = t->summary.ptr; *p; p++)
		if (*p == '\n' || *p == '\r')
			*p = ' ';
	t->current = false;	/* until the event is folded in and saved */
	if ((rc = mreg_txn_envelope(t, ev)) < 0)
		return rc;
	if ((rc = mreg_event_serialize(&bytes, ev)) < 0)
		goto done;
	if ((rc = mreg_txn_commit_event(&tree, reg, ev, &bytes, extra, nextra, summary)) < 0)
		goto done;
	/* committed: from here on the event is durable, and failures only leave a lag to repair */
	mreg_event_path(evpath, ev->id);
	if ((rc = mirror(reg, evpath, &bytes, extra, nextra, &tree)) < 0)
		goto lag;
	/* the event is one more file; what it replaced on its path (a peer's link or file) is no longer there */
	t->st->nfiles++;
	for (size_t k = 6; k <= 12; k += 3) {
		char dir[16];
		snprintf(dir, sizeof(dir), "%.*s", (int)k, evpath);
		mreg_state_unquarantine(t->st, dir);
	}
	if ((rc = mreg_fold_apply(t->st, ev)) < 0 || (rc = mreg_cache_save(reg, t->st, &tree)) < 0)
		goto lag;
	t->current = true;
	rc = 0;
	goto done;
lag:
	/* the commit stands; say so, and leave the repair to the next command */
	rc = 0;
done:
	mreg_buf_dispose(&bytes);
	return rc;
}

/* ---- transactions about one version ------------------------------------ */

/* Begin a transaction on an existing version named by ref. */
int mreg_txn_begin_on_version(mreg_txn *t, mreg_version **v, mreg_registry *reg, const mreg_ref *ref)
{
	mreg_model *m;
	int rc;
	if ((rc = mreg_txn_begin(t, reg, ref->model)) < 0)
		return rc;
	if ((rc = mreg_query_version(&m, v, t->st, ref)) < 0)
		mreg_txn_end(t);
	return rc;
}

int mreg_txn_version_envelope(mreg_event *ev, const mreg_ref *ref, const mreg_version *v, mreg_event_type type)
{
	ev->type = type;
	ev->version = v->version;
	memcpy(ev->ref, v->ref, sizeof(ev->ref));
	if (!(ev->model = mreg_strdup(ref->model)))
		return mreg_error_set(MREG_ERROR, "out of memory");
	/* the newer types keep their payload in a body: an empty one to fill */
	if (type >= MREG_EV_VALIDATION && !ev->body && !(ev->body = cJSON_CreateObject()))
		return mreg_error_set(MREG_ERROR, "out of memory");
	return 0;
}

int mreg_txn_promote(mreg_txn *t, const mreg_ref *ref, const mreg_version *v, mreg_stage to, const char *reason,
		     const char *by)
{
	mreg_event *ev = &t->ev;
	int rc;
	if ((rc = mreg_txn_version_envelope(ev, ref, v, MREG_EV_PROMOTED)) < 0)
		return rc;
	ev->from = v->stage;
	ev->to = to;
	if (!(ev->reason = mreg_strdup(reason ? reason : "")))
		return mreg_error_set(MREG_ERROR, "out of memory");
	mreg_buf_printf(&t->summary, "promote %s:%d %s -> %s%s%s%s%s", ref->model, v->version, mreg_stage_name(v->stage),
			mreg_stage_name(to), by || (reason && *reason) ? ": " : "", by ? by : "", by ? ": " : "",
			reason ? reason : "");
	return mreg_txn_commit(t, NULL, 0);
}
