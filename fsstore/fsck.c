/*
 * mreg fsck: check everything that can be checked, report every problem.
 *
 * Events: read and folded as refresh --full folds them, streamed; each file
 * the fold leaves out (quarantined: a name that is not its hash, a bad
 * schema, a link, a forged clock) is a problem, each event comes after the
 * one before in the log's order, and every event's references name
 * registrations in the log. Artifacts: each committed file hashes to its
 * name, each Git LFS pointer's bytes are in .git/lfs and hash to the name,
 * marked filter=lfs, with a right work tree copy. The fold: a fresh fold of the whole log
 * passes the invariants after every event, every version's file is in the
 * tree, and the state files on disk say the same bytes. The mirror: the
 * work tree and index match HEAD.
 */
#define _GNU_SOURCE
#include "internal.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <xxhash.h>

/* A reference an event makes to a registration: offsets into fsck.notes. */
typedef struct {
	size_t event, model, key;
	mreg_event_type type;
} ref_note;

typedef struct {
	mreg_registry *reg;
	mreg_fsck_cb cb;
	void *payload;
	size_t n;
	mreg_state *st;		/* the fold of HEAD, built as the events stream by */
	bool fold_failed;	/* an event the fold refused: a problem, not an error of fsck's */
	mreg_event last;	/* the clock and id of the event folded last */
	mreg_buf notes;		/* what check_refs needs of the events, as NUL-ended strings */
	ref_note *refs;		/* each reference an event makes, in fold order */
	size_t nrefs, arefs;
	size_t *regs;		/* where each registration's id starts in notes */
	size_t nregs, aregs;
	const char *prefix;	/* of the tree being walked: "artifacts/" */
	char **marks;		/* paths .gitattributes marks filter=lfs */
	size_t nmarks;
	char **lfs;		/* paths holding a Git LFS pointer, and the pointers */
	mreg_lfs_pointer *lfs_ptr;
	size_t nlfs;
} fsck;

static void problem(fsck *f, const char *msg)
{
	f->n++;
	if (f->cb)
		f->cb(msg, f->payload);
}

static void problemf(fsck *f, const char *fmt, const char *a, const char *b)
{
	char *m = mreg_strfmt(fmt, a, b ? b : "");
	problem(f, m ? m : fmt);
	free(m);
}

static void hex_of(char out[33], const void *data, size_t len)
{
	mreg_hash128(out, data, len);
}

/* The paths .gitattributes files mark filter=lfs, gathered while artifacts are walked. */
static void note_lfs_marks(fsck *f, const char *dir, const char *data, size_t len)
{
	for (const char *p = data, *end = data + len; p < end;) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;
		const char *sp = memchr(p, ' ', (size_t)(eol - p));
		if (*p == '/' && sp && memmem(sp, (size_t)(eol - sp), "filter=lfs", 10)) {
			char *m = mreg_strfmt("%s%.*s", dir, (int)(sp - p - 1), p + 1);
			char **more = m ? realloc(f->marks, (f->nmarks + 1) * sizeof(*more)) : NULL;
			if (more) {
				f->marks = more;
				f->marks[f->nmarks++] = m;
			} else {
				free(m);
			}
		}
		p = eol + 1;
	}
}

static bool marked(const fsck *f, const char *path)
{
	for (size_t i = 0; i < f->nmarks; i++)
		if (!strcmp(f->marks[i], path))
			return true;
	return false;
}

/*
 * A committed model file is the file itself (its bytes hash to its name)
 * or a Git LFS pointer to it: then the bytes must be in .git/lfs/objects,
 * hash to the pointer's SHA-256 and to the name's xxh128, and the pointer
 * must be marked filter=lfs beside it.
 */
/* A lean registry's copy of a committed model file: there, and its bytes. */
static void check_lean_copy(fsck *f, const char *path, const char *data, size_t len)
{
	mreg_buf have = MREG_BUF_INIT;
	char *full = mreg_strfmt("%s%s", f->reg->workdir, path);
	struct stat sb;
	if (!full || lstat(full, &sb) < 0 || !S_ISREG(sb.st_mode) || mreg_fs_read(&have, full, len + 1) < 0 ||
	    have.size != len || memcmp(have.ptr, data, len))
		problemf(f, "work tree copy of '%s' is missing or not its bytes (run 'mreg refresh')%s", path, NULL);
	mreg_error_clear();
	mreg_buf_dispose(&have);
	free(full);
}

static int check_artifact_entry(const char *root, const git_tree_entry *e, void *payload)
{
	fsck *f = payload;
	git_blob *blob = NULL;
	const char *name = git_tree_entry_name(e);
	char hex[33], path[512];
	if (git_tree_entry_type(e) == GIT_OBJECT_TREE)
		return 0;
	snprintf(path, sizeof(path), "%s%s%s", f->prefix, root, name);
	git_filemode_t mode = git_tree_entry_filemode(e);
	if (mode != GIT_FILEMODE_BLOB && mode != GIT_FILEMODE_BLOB_EXECUTABLE) {
		problemf(f, "'%s' is %s where mreg keeps model files", path,
			 mode == GIT_FILEMODE_LINK ? "a symbolic link" : "a submodule");
		return 0;
	}
	if (git_blob_lookup(&blob, f->reg->repo, git_tree_entry_id(e)) < 0) {
		problemf(f, "artifact '%s' cannot be read%s", path, NULL);
		return 0;
	}
	const char *data = git_blob_rawcontent(blob);
	size_t len = (size_t)git_blob_rawsize(blob);
	if (!strcmp(name, ".gitattributes")) {
		char dir[512];
		snprintf(dir, sizeof(dir), "%s%s", f->prefix, root);
		note_lfs_marks(f, dir, data, len);
		git_blob_free(blob);
		return 0;
	}
	hex_of(hex, data, len);
	mreg_lfs_pointer ptr;
	if (strlen(name) >= 32 && !strncmp(name, hex, 32)) {
		/* the file itself; a lean registry's work tree copy is checked here, a full checkout's by its status */
		if (f->reg->lean)
			check_lean_copy(f, path, data, len);
	} else if (strlen(name) >= 32 && mreg_lfs_pointer_parse(&ptr, data, len) == 0) {
		char want[33];
		memcpy(want, name, 32);
		want[32] = '\0';
		bool bad = mreg_lfs_check(f->reg, &ptr, want) < 0;
		if (bad)
			problemf(f, "large file of '%s' is not here or not whole: %s", path, mreg_error_last());
		ptr.size = bad ? -1 : ptr.size;	/* marks it: its work tree copy is not checked against a bad store */
		char **more = realloc(f->lfs, (f->nlfs + 1) * sizeof(*more));
		if (more && (more[f->nlfs] = mreg_strdup(path))) {
			f->lfs = more;
			f->lfs_ptr = realloc(f->lfs_ptr, (f->nlfs + 1) * sizeof(*f->lfs_ptr));
			if (f->lfs_ptr)
				f->lfs_ptr[f->nlfs++] = ptr;
		} else if (more) {
			f->lfs = more;
		}
	} else {
		problemf(f, "artifact '%s' is corrupt: its bytes hash to %s", path, hex);
	}
	mreg_error_clear();
	git_blob_free(blob);
	return 0;
}

static int walk_subtree(fsck *f, git_tree *root, const char *dir, git_treewalk_cb cb)
{
	git_tree_entry *e = NULL;
	git_tree *t = NULL;
	if (git_tree_entry_bypath(&e, root, dir) < 0)
		return 0;
	char prefix[64];
	snprintf(prefix, sizeof(prefix), "%s/", dir);
	f->prefix = prefix;
	if (git_tree_entry_type(e) == GIT_OBJECT_TREE && git_tree_lookup(&t, f->reg->repo, git_tree_entry_id(e)) == 0)
		git_tree_walk(t, GIT_TREEWALK_PRE, cb, f);
	else
		problemf(f, "'%s' is not a directory at HEAD%s", dir, NULL);
	f->prefix = "";
	git_tree_free(t);
	git_tree_entry_free(e);
	return 0;
}

/* Every Git LFS pointer is marked filter=lfs, and its work tree copy holds its bytes. */
static void check_lfs_paths(fsck *f)
{
	for (size_t i = 0; i < f->nlfs; i++) {
		char want[33];
		const char *slash = strrchr(f->lfs[i], '/');
		memcpy(want, slash ? slash + 1 : f->lfs[i], 32);
		want[32] = '\0';
		if (!marked(f, f->lfs[i]))
			problemf(f, "'%s' is a Git LFS pointer that no .gitattributes beside it marks filter=lfs%s", f->lfs[i],
				 NULL);
		if (f->reg->workdir && f->lfs_ptr[i].size >= 0 && mreg_lfs_copy_ok(f->reg, f->lfs[i], &f->lfs_ptr[i], want) != 0)
			problemf(f, "work tree copy of large file '%s' is missing or not its bytes (run 'mreg refresh')%s",
				 f->lfs[i], NULL);
		mreg_error_clear();
	}
}

static void check_large_file(fsck *f, const mreg_version *v, const char *model)
{
	char *full = mreg_strfmt("%s%s", f->reg->workdir ? f->reg->workdir : f->reg->gitdir, v->file_path);
	mreg_buf b = MREG_BUF_INIT;
	char hex[33];
	if (!full)
		return;
	if (mreg_fs_read(&b, full, 0) < 0) {
		char *m = mreg_strfmt("model file of '%s:%d' is missing: '%s'", model, v->version, v->file_path);
		problem(f, m ? m : "model file missing");
		free(m);
	} else {
		hex_of(hex, b.ptr, b.size);
		if (strcmp(hex, v->file_hash + 7)) {
			char *m = mreg_strfmt("model file of '%s:%d' is corrupt: '%s' hashes to %s", model, v->version,
					      v->file_path, hex);
			problem(f, m ? m : "model file corrupt");
			free(m);
		}
	}
	mreg_buf_dispose(&b);
	free(full);
}

/* Whether the state file at rel (under statedir) holds other bytes than want. */
static bool differs(const char *statedir, const char *rel, const mreg_buf *want)
{
	mreg_buf have = MREG_BUF_INIT;
	char *path = mreg_strfmt("%s%s", statedir, rel);
	bool d = path && (mreg_fs_read(&have, path, 0) < 0 || have.size != want->size ||
			  memcmp(have.ptr, want->ptr, want->size));
	mreg_buf_dispose(&have);
	free(path);
	return d;
}

static void compare_file(fsck *f, const char *rel, const mreg_buf *want)
{
	if (differs(f->reg->statedir, rel, want))
		problemf(f, "state file '%s' differs from the fold of HEAD (run 'mreg refresh')%s", rel, NULL);
}

/* The model files, made from the fold and compared on every core (a million events: 600 MB of them). */
typedef struct {
	const char *statedir;
	mreg_state *st;
	bool *differ;
} model_job;

static void compare_model(void *arg, size_t i)
{
	model_job *j = arg;
	mreg_buf want = MREG_BUF_INIT;
	char *rel = mreg_strfmt("models/%s.json", j->st->models[i]->id);
	/* a model that cannot be written out here (out of memory) is not said to differ */
	j->differ[i] = rel && mreg_state_write_model(&want, j->st->models[i]) == 0 && differs(j->statedir, rel, &want);
	mreg_buf_dispose(&want);
	free(rel);
	mreg_error_clear();
}

static int cmp_id(const void *a, const void *b)
{
	return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Room for one more of size bytes in *p, which holds n of *a: doubled when full. */
static bool room(void *p, size_t *a, size_t n, size_t size)
{
	if (n < *a)
		return true;
	size_t more = *a ? *a * 2 : 1024;
	void *q = realloc(*(void **)p, more * size);
	if (!q)
		return false;
	*(void **)p = q;
	*a = more;
	return true;
}

/* s kept in f->notes; its offset, or SIZE_MAX when out of memory. */
static size_t note(fsck *f, const char *s)
{
	size_t at = f->notes.size;
	return mreg_buf_put(&f->notes, s, strlen(s) + 1) < 0 ? SIZE_MAX : at;
}

/* What check_refs needs of ev, noted as the fold streams by: its id if a registration, else its references. */
static int note_refs(fsck *f, const mreg_event *ev)
{
	if (ev->type == MREG_EV_REGISTERED) {
		if (!room(&f->regs, &f->aregs, f->nregs, sizeof(*f->regs)))
			return mreg_error_set(MREG_ERROR, "out of memory");
		f->regs[f->nregs++] = note(f, ev->id);
		return mreg_buf_oom(&f->notes) ? mreg_error_set(MREG_ERROR, "out of memory") : 0;
	}
	const char *refs[2] = { mreg_event_has_version(ev) ? ev->ref : NULL,
				mreg_event_body_str(ev, ev->type == MREG_EV_COMPARISON ? "b_ref"
							: ev->type == MREG_EV_ROLLBACK ? "from_ref" : "") };
	for (size_t k = 0; k < 2; k++) {
		if (!refs[k])
			continue;
		if (!room(&f->refs, &f->arefs, f->nrefs, sizeof(*f->refs)))
			return mreg_error_set(MREG_ERROR, "out of memory");
		f->refs[f->nrefs++] = (ref_note){ note(f, ev->id), note(f, ev->model ? ev->model : ""), note(f, refs[k]),
						  ev->type };
	}
	return mreg_buf_oom(&f->notes) ? mreg_error_set(MREG_ERROR, "out of memory") : 0;
}

/*
 * Each event of the fold, checked to come after the one before in the log's
 * order (clock, then id: mreg_event_cmp), which the streamed fold reaches
 * from the heads of the files, noted for check_refs, then applied. A
 * refusal of the fold's is a problem fsck reports.
 */
static int fold_one(const mreg_event *ev, void *arg)
{
	fsck *f = arg;
	if (f->last.id[0] && mreg_event_cmp(&f->last, ev) >= 0) {
		char *m = mreg_strfmt("event %s is folded after event %s, which the log's order puts after it", ev->id,
				      f->last.id);
		problem(f, m ? m : "an event is folded out of the log's order");
		free(m);
	}
	f->last.clock = ev->clock;
	memcpy(f->last.id, ev->id, sizeof(f->last.id));
	int rc = note_refs(f, ev);
	if (rc == 0 && (rc = mreg_fold_apply_bulk(f->st, ev)) < 0)
		f->fold_failed = true;
	return rc;
}

/* Events that name a version whose registration is not in the log (deleted, or never there). */
static void check_refs(fsck *f)
{
	const char **regs = calloc(f->nregs + 1, sizeof(*regs));
	if (!regs)
		return;
	for (size_t i = 0; i < f->nregs; i++)
		regs[i] = f->notes.ptr + f->regs[i];
	qsort(regs, f->nregs, sizeof(*regs), cmp_id);
	for (size_t i = 0; i < f->nrefs; i++) {
		const ref_note *r = &f->refs[i];
		const char *key = f->notes.ptr + r->key;
		if (bsearch(&key, regs, f->nregs, sizeof(*regs), cmp_id))
			continue;
		char *m = mreg_strfmt("event %s (%s of '%s') names registration %s, which is not in the log",
				      f->notes.ptr + r->event, mreg_event_type_name(r->type), f->notes.ptr + r->model, key);
		problem(f, m ? m : "event names a missing registration");
		free(m);
	}
	free(regs);
}

/* Every version's model file is in HEAD's tree (or, from before large files moved to .git/lfs, in blobs/). */
static void check_version_file(fsck *f, git_tree *tree, const mreg_version *v, const char *model)
{
	git_tree_entry *e = NULL;
	if (git_tree_entry_bypath(&e, tree, v->file_path) == 0) {
		git_tree_entry_free(e);
		return;
	}
	git_error_clear();
	if (!strncmp(v->file_path, "blobs/", 6)) {
		check_large_file(f, v, model);
		return;
	}
	char *m = mreg_strfmt("model file of '%s:%d' is missing from HEAD's tree: '%s'", model, v->version, v->file_path);
	problem(f, m ? m : "model file missing");
	free(m);
}

/* After the fold (f->st, whole): its invariants, the references, each version's file, the state files on disk. */
static void check_fold(fsck *f, git_tree *git_tree_head, const git_oid *tree)
{
	char stamp[41], head[41];
	mreg_buf b = MREG_BUF_INIT;
	mreg_state *st = f->st;

	if (mreg_state_check_all(st) < 0) {
		problem(f, mreg_error_last());
		return;
	}
	check_refs(f);
	for (size_t i = 0; i < st->nmodels; i++) {
		mreg_model *m = st->models[i];
		for (int j = 0; j < m->nversions; j++)
			check_version_file(f, git_tree_head, &m->versions[j], m->id);
	}
	git_oid_fmt(head, tree);
	head[40] = '\0';
	memcpy(st->tree, head, sizeof(head));
	mreg_cache_stamp(stamp, f->reg);
	if (!strcmp(stamp, head)) {
		mreg_state_write_registry(&b, st);
		compare_file(f, "registry.json", &b);
		mreg_buf_clear(&b);
		mreg_state_write_production(&b, st);
		compare_file(f, "production.json", &b);
		model_job job = { f->reg->statedir, st, calloc(st->nmodels + 1, sizeof(bool)) };
		if (!job.differ) {
			problem(f, "out of memory comparing the model files");
		} else {
			mreg_parallel_for(st->nmodels, 1, compare_model, &job, NULL);
			for (size_t i = 0; i < st->nmodels; i++)	/* said in the models' order, as one thread would */
				if (job.differ[i])
					problemf(f, "state file 'models/%s.json' differs from the fold of HEAD (run 'mreg refresh')%s",
						 st->models[i]->id, NULL);
		}
		free(job.differ);
	}
	mreg_buf_dispose(&b);
}

static void check_mirror(fsck *f)
{
	git_status_list *sl = NULL;
	git_status_options o;
	char *paths[] = { "events", "artifacts", "blobs", "mreg.json", ".gitignore" };
	git_status_options_init(&o, GIT_STATUS_OPTIONS_VERSION);
	o.show = GIT_STATUS_SHOW_INDEX_AND_WORKDIR;
	o.flags = GIT_STATUS_OPT_INCLUDE_UNTRACKED | GIT_STATUS_OPT_RECURSE_UNTRACKED_DIRS;
	o.pathspec.strings = paths;
	o.pathspec.count = 5;
	if (git_status_list_new(&sl, f->reg->repo, &o) < 0) {
		problemf(f, "cannot read the status of '%s'%s", f->reg->path, NULL);
		return;
	}
	size_t n = git_status_list_entrycount(sl);
	for (size_t i = 0; i < n; i++) {
		const git_status_entry *e = git_status_byindex(sl, i);
		const git_diff_delta *d = e->index_to_workdir ? e->index_to_workdir : e->head_to_index;
		const char *p = d ? (d->new_file.path ? d->new_file.path : d->old_file.path) : "?";
		bool lfs = false, absent = false;
		for (size_t k = 0; k < f->nlfs && !lfs; k++)
			if ((lfs = !strcmp(f->lfs[k], p)))
				absent = f->lfs_ptr[k].size < 0;
		/* a large file's copy is not its pointer: check_lfs_paths compared its bytes (git's LFS filter would agree) */
		if (lfs && e->status == GIT_STATUS_WT_MODIFIED)
			continue;
		/* a large file not here has no copy (never its pointer): said once, above */
		if (lfs && absent && e->status == GIT_STATUS_WT_DELETED)
			continue;
		problemf(f, "work tree differs from HEAD at '%s' (run 'mreg refresh' to restore it)%s", p, NULL);
	}
	git_status_list_free(sl);
}

/*
 * The outcome, for the metrics and /health (prom.c, serve): .git/mreg/parity.json
 * {time, ok, problems}. Not recording it is no failure of the check.
 */
static void record_parity(mreg_registry *reg, size_t n)
{
	char now[MREG_TIME_LEN + 1];
	mreg_time_format(now, mreg_fs_now_usec());
	char *path = mreg_strfmt("%sparity.json", reg->mregdir);
	char *doc = mreg_strfmt("{\n  \"time\": \"%s\",\n  \"ok\": %s,\n  \"problems\": %zu\n}\n", now, n ? "false" : "true", n);
	if (!path || !doc || mreg_fs_mkdirs(reg->mregdir) < 0 || mreg_fs_write_atomic(path, doc, strlen(doc), false) < 0)
		mreg_error_clear();
	free(path);
	free(doc);
}

/* The fold's state and what was noted of its events, freed. */
static void drop_fold(fsck *f)
{
	mreg_state_free(f->st);
	free(f->regs);
	free(f->refs);
	mreg_buf_dispose(&f->notes);
}

int mreg_fsck(size_t *nproblems, mreg_registry *reg, mreg_fsck_cb cb, void *payload)
{
	fsck f;
	memset(&f, 0, sizeof(f));
	f.reg = reg;
	f.cb = cb;
	f.payload = payload;
	f.prefix = "";
	git_oid commit, tree_id;
	git_tree *tree = NULL;
	int rc;

	*nproblems = 0;
	if ((rc = mreg_registry_need_git(reg)) < 0 || (rc = mreg_head_read(&commit, &tree_id, reg)) < 0)
		return rc;
	if (git_tree_lookup(&tree, reg->repo, &tree_id) < 0)
		return mreg_libgit2_error("cannot read the tree of", reg->path);
	/*
	 * The events as every command reads them, folded as they stream by
	 * (refresh --full's fold): each file left out, as it was read or by
	 * the fold (a forged clock), and why, is a problem here. So is an
	 * event the fold refuses, reported in the fold's place; the files past
	 * it in the fold's order are not read. What the fold cannot read (a
	 * missing object, a pack it cannot open) is fsck's error, as it is
	 * every other command's.
	 */
	char *stopped = NULL;	/* why the fold stopped */
	if ((rc = mreg_state_new(&f.st)) == 0 && (rc = mreg_events_fold(reg, &tree_id, f.st, fold_one, &f)) < 0 &&
	    f.fold_failed && (stopped = mreg_strdup(mreg_error_last())))
		rc = 0;
	if (rc < 0) {
		drop_fold(&f);
		git_tree_free(tree);
		return rc;
	}
	for (size_t i = 0; i < f.st->nquarantined; i++)
		problemf(&f, "event file '%s' is left out of the fold: %s", f.st->quarantined[i].path,
			 f.st->quarantined[i].problem);
	walk_subtree(&f, tree, "artifacts", check_artifact_entry);
	git_tree_entry *blobs = NULL;
	if (git_tree_entry_bypath(&blobs, tree, "blobs") == 0)	/* pointers of large files from before .git/lfs */
		walk_subtree(&f, tree, "blobs", check_artifact_entry);
	git_tree_entry_free(blobs);
	git_error_clear();
	check_lfs_paths(&f);
	/* state/ is derived and never committed: a tracked `state` (a peer's link, say) is not the layout */
	git_tree_entry *tracked = NULL;
	if (git_tree_entry_bypath(&tracked, tree, "state") == 0)
		problemf(&f, "HEAD tracks '%s', which mreg keeps for derived state files (git rm --cached it)%s", "state", NULL);
	git_tree_entry_free(tracked);
	git_error_clear();
	if (stopped)
		problem(&f, stopped);
	else
		check_fold(&f, tree, &tree_id);
	if (reg->workdir && !reg->lean)
		check_mirror(&f);
	git_tree_free(tree);
	free(stopped);
	drop_fold(&f);
	for (size_t i = 0; i < f.nmarks; i++)
		free(f.marks[i]);
	free(f.marks);
	for (size_t i = 0; i < f.nlfs; i++)
		free(f.lfs[i]);
	free(f.lfs);
	free(f.lfs_ptr);
	*nproblems = f.n;
	/* for /health, a verdict on the commit that is still HEAD: one that moved meanwhile was a moving target */
	git_oid now;
	if (git_reference_name_to_id(&now, reg->repo, "HEAD") == 0 && git_oid_equal(&now, &commit))
		record_parity(reg, f.n);
	git_error_clear();
	return f.n ? MREG_ECORRUPT : 0;
}
