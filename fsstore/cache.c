/*
 * State files as the cache of the fold, and keeping them (and the work tree
 * mirror) in step with HEAD.
 *
 * Two stamps in .git/mreg/ say what is current: `stamp` holds the tree the
 * state files were folded from, `mirror` the tree the work tree and index
 * were last brought to. Both are written last, after the files they vouch
 * for, and the state stamp is removed before those files are touched, so a
 * crash in between leaves no stamp and the next command folds afresh.
 *
 * Refreshing takes the cheap road when it can: if the state's tree and HEAD's
 * differ only by added event files, and every added event sorts after the
 * last one folded, only those events are folded into the models they name.
 * Anything else (a reset, a merge that brings older events, a changed or
 * deleted file) folds the whole log from HEAD's tree.
 */
#define _GNU_SOURCE
#include "internal.h"

#include <dirent.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

/*
 * This boot of the machine (the kernel's boot id), "" where unknown. The
 * work tree copies and the git index are never fsynced; a power cut may
 * leave a file cut short behind an index entry that survived. A mirror
 * stamp written in another boot vouches for nothing, and the next command
 * checks every file against the index (as `mreg refresh` does).
 */
static const char *boot_id(void)
{
	static char id[40];
	static bool read;
	if (!read) {
		mreg_buf b = MREG_BUF_INIT;
		if (mreg_fs_read(&b, "/proc/sys/kernel/random/boot_id", 64) == 0 && b.size >= 36 &&
		    strspn(b.ptr, "0123456789abcdef-") == 36)
			memcpy(id, b.ptr, 36);
		mreg_error_clear();
		mreg_buf_dispose(&b);
		read = true;
	}
	return id;
}

/*
 * A stamp is "<tree>\n<commit>\n" (the mirror's adds "<boot id>\n"): the
 * tree the files were made from and the commit HEAD was at. The commit
 * gives the fast check (one ref read, no object read); the tree decides when
 * HEAD moved to a commit with the same content (a merge of nothing new, a
 * rebase). A mirror stamp from another boot names no commit (*other_boot).
 */
static int read_stamp3(char tree[41], char commit[41], bool *other_boot, mreg_registry *reg, const char *name)
{
	mreg_buf b = MREG_BUF_INIT;
	char *path = mreg_strfmt("%s%s", reg->mregdir, name);
	int rc = path ? mreg_fs_read(&b, path, 160) : MREG_ERROR;
	tree[0] = '\0';
	if (commit)
		commit[0] = '\0';
	if (other_boot)
		*other_boot = false;
	if (rc == 0 && b.size >= 40 && strspn(b.ptr, "0123456789abcdef") >= 40) {
		memcpy(tree, b.ptr, 40);
		tree[40] = '\0';
		if (commit && b.size >= 82 && b.ptr[40] == '\n' && strspn(b.ptr + 41, "0123456789abcdef") >= 40) {
			memcpy(commit, b.ptr + 41, 40);
			commit[40] = '\0';
		}
		const char *boot = b.size >= 82 + 37 ? b.ptr + 82 : NULL;
		if (boot && boot_id()[0] && (memcmp(boot, boot_id(), 36) || boot[36] != '\n')) {
			if (commit)
				commit[0] = '\0';
			if (other_boot)
				*other_boot = true;
		}
	}
	mreg_error_clear();
	mreg_buf_dispose(&b);
	free(path);
	return 0;
}

static int read_stamp2(char tree[41], char commit[41], mreg_registry *reg, const char *name)
{
	return read_stamp3(tree, commit, NULL, reg, name);
}

static int read_stamp(char out[41], mreg_registry *reg, const char *name)
{
	return read_stamp2(out, NULL, reg, name);
}

static int write_stamp(mreg_registry *reg, const char *name, const git_oid *tree)
{
	char line[128];
	git_oid commit, t;
	git_oid_fmt(line, tree);
	line[40] = '\n';
	size_t n = 41;
	/* HEAD's commit, if HEAD's tree is the one stamped (known without a look when this process just moved it) */
	bool known = reg->known && git_oid_equal(&reg->known_tree, tree);
	if (known)
		commit = reg->known_commit;
	if (known || (mreg_head(&commit, &t, reg) == 0 && git_oid_equal(&t, tree))) {
		git_oid_fmt(line + 41, &commit);
		line[81] = '\n';
		n = 82;
		if (!strcmp(name, "mirror") && boot_id()[0]) {
			memcpy(line + 82, boot_id(), 36);
			line[118] = '\n';
			n = 119;
		}
	}
	char *path = mreg_strfmt("%s%s", reg->mregdir, name);
	if (!path)
		return mreg_error_set(MREG_ERROR, "out of memory");
	int rc = mreg_fs_write_atomic(path, line, n, false);
	free(path);
	return rc;
}

static bool state_dirs_sound(mreg_registry *reg);

bool mreg_cache_fresh_at(mreg_registry *reg, const char *head)
{
	char tree[41], commit[41];
	if (!state_dirs_sound(reg))
		return false;
	read_stamp2(tree, commit, reg, "stamp");
	if (strcmp(commit, head))
		return false;
	if (!reg->workdir)
		return true;
	read_stamp2(tree, commit, reg, "mirror");
	return !strcmp(commit, head);
}

bool mreg_cache_tree_of(git_oid *tree, mreg_registry *reg, const char *commit)
{
	static const char *const names[] = { "stamp", "mirror" };
	char t[41], c[41];
	for (size_t i = 0; i < 2; i++) {
		read_stamp2(t, c, reg, names[i]);
		if (!strcmp(c, commit) && git_oid_fromstr(tree, t) == 0)
			return true;
	}
	return false;
}

int mreg_cache_stamp(char out[41], mreg_registry *reg)
{
	return read_stamp(out, reg, "stamp");
}

int mreg_cache_mirror_stamp(char out[41], mreg_registry *reg)
{
	return read_stamp(out, reg, "mirror");
}

int mreg_cache_set_mirror(mreg_registry *reg, const git_oid *tree)
{
	return write_stamp(reg, "mirror", tree);
}

void mreg_release_maps_from(mreg_registry *reg, int first)
{
	for (int i = first; i < reg->nmaps; i++)
		mreg_fs_unmap(reg->maps[i].ptr, reg->maps[i].len);
	if (first < reg->nmaps)
		reg->nmaps = first;
}

void mreg_release_maps(mreg_registry *reg)
{
	mreg_release_maps_from(reg, 0);
}

/* Lazily, borrowing a mapping of the file: 1 if that is not possible here. */
static int borrow_model_file(mreg_state *st, mreg_registry *reg, const char *path)
{
	const char *data;
	size_t len;
	int rc;
	if (reg->nmaps >= (int)(sizeof(reg->maps) / sizeof(reg->maps[0])))
		return 1;
	if ((rc = mreg_fs_map(&data, &len, path)) < 0) {
		mreg_error_clear();
		return 1;
	}
	rc = mreg_state_borrow_model(st, data, len);
	if (rc != 0) {
		mreg_fs_unmap(data, len);
		return rc;
	}
	reg->maps[reg->nmaps].ptr = (void *)data;
	reg->maps[reg->nmaps].len = len;
	reg->nmaps++;
	return 0;
}

static int load_model_file(mreg_state *st, mreg_registry *reg, const char *id, bool lazy)
{
	mreg_buf b = MREG_BUF_INIT;
	char *path = mreg_strfmt("%smodels/%s.json", reg->statedir, id);
	if (path && lazy) {
		int r = borrow_model_file(st, reg, path);
		if (r <= 0) {
			free(path);
			return r;
		}
	}
	int rc = path ? mreg_fs_read(&b, path, 0) : mreg_error_set(MREG_ERROR, "out of memory");
	if (rc == MREG_ENOTFOUND)
		rc = mreg_error_set(MREG_ECORRUPT, "state file of '%s' is missing", id);
	if (rc == 0 && lazy) {
		size_t n = b.size;
		char *buf = mreg_buf_detach(&b);	/* the lazily loaded versions live in it */
		rc = buf ? mreg_state_adopt_model(st, buf, n) : mreg_error_set(MREG_ERROR, "out of memory");
	} else if (rc == 0) {
		rc = mreg_state_read_model(st, b.ptr, b.size, false);
	}
	mreg_buf_dispose(&b);
	free(path);
	return rc;
}

int mreg_cache_load_model(mreg_state *st, mreg_registry *reg, const char *id)
{
	mreg_model *m = mreg_state_model(st, id);
	return m && !m->loaded ? load_model_file(st, reg, id, true) : 0;
}

/* The production versions of production.json into st; lazily from a mapping kept with reg. */
static int attach_production(mreg_state *st, mreg_registry *reg, bool lazy)
{
	mreg_buf b = MREG_BUF_INIT;
	const char *data = NULL;
	size_t len = 0;
	char *path = mreg_strfmt("%sproduction.json", reg->statedir);
	int rc;
	if (!path)
		return mreg_error_set(MREG_ERROR, "out of memory");
	if (lazy && reg->nmaps < (int)(sizeof(reg->maps) / sizeof(reg->maps[0])) &&
	    mreg_fs_map(&data, &len, path) == 0) {
		rc = mreg_state_attach_production(st, data, len, true);
		if (rc == 0) {
			reg->maps[reg->nmaps].ptr = (void *)data;
			reg->maps[reg->nmaps].len = len;
			reg->nmaps++;
		} else {
			mreg_fs_unmap(data, len);
		}
	} else {
		mreg_error_clear();
		rc = mreg_fs_read(&b, path, 0);
		if (rc == MREG_ENOTFOUND)
			rc = mreg_error_set(MREG_ECORRUPT, "state of '%s' is missing production.json", reg->path);
		if (rc == 0)
			rc = mreg_state_attach_production(st, b.ptr, b.size, false);
	}
	mreg_buf_dispose(&b);
	free(path);
	return rc;
}

int mreg_cache_load(mreg_state **out, mreg_registry *reg, const char *model, bool all, bool lazy)
{
	mreg_buf b = MREG_BUF_INIT;
	mreg_state *st = NULL;
	char *path = mreg_strfmt("%sregistry.json", reg->statedir);
	int rc;

	*out = NULL;
	if (!path)
		return mreg_error_set(MREG_ERROR, "out of memory");
	rc = mreg_fs_read(&b, path, 0);
	free(path);
	if (rc == MREG_ENOTFOUND)
		rc = mreg_error_set(MREG_ECORRUPT, "state of '%s' is missing", reg->path);
	if (rc < 0 || (rc = mreg_state_read_registry(&st, b.ptr, b.size)) < 0 ||
	    (rc = attach_production(st, reg, lazy)) < 0)
		goto done;
	for (size_t i = 0; i < st->nmodels; i++) {
		mreg_model *m = st->models[i];
		if ((all || (model && !strcmp(model, m->id))) && (rc = load_model_file(st, reg, m->id, lazy)) < 0)
			goto done;
	}
	*out = st;
	st = NULL;
done:
	mreg_state_free(st);
	mreg_buf_dispose(&b);
	return rc;
}

/*
 * The state directory and its models/ directory, opened without following
 * a symbolic link: the work tree is a peer's to fill, and a committed link
 * `state -> /anywhere` would otherwise send every state file (and the
 * removal of stale ones) there. A link or a file where they belong is
 * removed and a directory made (the state is derived: it is folded anew).
 */
static int state_dirs(int *top, int *models, mreg_registry *reg)
{
	int rc;
	*top = *models = -1;
	rc = reg->workdir ? mreg_fs_dir_beneath(top, reg->workdir, "state", MREG_FS_MKDIRS | MREG_FS_REPAIR)
			  : mreg_fs_dir_beneath(top, reg->gitdir, "mreg/state", MREG_FS_MKDIRS | MREG_FS_REPAIR);
	if (rc == 0 && (rc = mreg_fs_dir_beneath_at(models, *top, "models", MREG_FS_MKDIRS | MREG_FS_REPAIR)) < 0) {
		close(*top);
		*top = -1;
	}
	return rc;
}

/* Whether state/ and state/models/ are plain directories (or not there yet): no link, no file. */
static bool state_dirs_sound(mreg_registry *reg)
{
	struct stat sb;
	char *a = mreg_strfmt("%s", reg->statedir), *b = mreg_strfmt("%smodels", reg->statedir);
	bool ok = a && b;
	if (ok) {
		a[strlen(a) - 1] = '\0';	/* no trailing '/': lstat the name itself */
		ok = (lstat(a, &sb) < 0 ? errno == ENOENT : S_ISDIR(sb.st_mode)) &&
		     (lstat(b, &sb) < 0 ? errno == ENOENT : S_ISDIR(sb.st_mode));
	}
	free(a);
	free(b);
	return ok;
}

/* Model files of models the fold no longer has, and temporary files of killed writers. */
static void remove_stale_models(int top, int models, const mreg_state *st)
{
	int fd = fcntl(models, F_DUPFD_CLOEXEC, 0);
	DIR *d = fd >= 0 ? fdopendir(fd) : NULL;
	struct dirent *de;
	if (!d && fd >= 0)
		close(fd);
	while (d && (de = readdir(d))) {
		size_t n = strlen(de->d_name);
		if (strstr(de->d_name, ".mreg-tmp")) {	/* left by a killed writer */
			unlinkat(models, de->d_name, 0);
			continue;
		}
		if (n < 6 || strcmp(de->d_name + n - 5, ".json"))
			continue;
		char id[MREG_ID_MAX + 1];
		if (n - 5 > MREG_ID_MAX)
			continue;
		memcpy(id, de->d_name, n - 5);
		id[n - 5] = '\0';
		if (!mreg_state_model(st, id))
			unlinkat(models, de->d_name, 0);
	}
	if (d)
		closedir(d);
	/* and the same litter beside registry.json */
	static const char *const names[] = { "registry.json", "production.json" };
	fd = fcntl(top, F_DUPFD_CLOEXEC, 0);
	d = fd >= 0 ? fdopendir(fd) : NULL;
	if (!d && fd >= 0)
		close(fd);
	while (d && (de = readdir(d))) {
		for (size_t i = 0; i < 2; i++)
			if (!strncmp(de->d_name, names[i], strlen(names[i])) && strstr(de->d_name, ".mreg-tmp"))
				unlinkat(top, de->d_name, 0);
	}
	if (d)
		closedir(d);
}

/* Write the state files of st (dirty models, production.json, registry.json) into the open directories. */
static int save_in(int top, int models, mreg_state *st)
{
	mreg_buf b = MREG_BUF_INIT;
	mreg_span one;
	char name[MREG_ID_MAX + 8];
	int rc = 0;
	for (size_t i = 0; i < st->nmodels; i++) {
		mreg_model *m = st->models[i];
		if (!m->loaded || !m->dirty)
			continue;
		mreg_span *spans = NULL;
		size_t nspans = 0;
		mreg_buf_clear(&b);
		if ((rc = mreg_state_write_model_spans(&b, &spans, &nspans, m)) < 0)
			goto done;
		snprintf(name, sizeof(name), "%s.json", m->id);
		rc = mreg_fs_write_atomic_at(models, name, &b, spans, nspans, false);
		free(spans);
		if (rc < 0)
			goto done;
		m->dirty = false;
	}
	mreg_buf_clear(&b);
	if ((rc = mreg_state_write_production(&b, st)) < 0)
		goto done;
	one = (mreg_span){ NULL, 0, b.size };
	if ((rc = mreg_fs_write_atomic_at(top, "production.json", &b, &one, 1, false)) < 0)
		goto done;
	mreg_buf_clear(&b);
	if ((rc = mreg_state_write_registry(&b, st)) < 0)
		goto done;
	one = (mreg_span){ NULL, 0, b.size };
	rc = mreg_fs_write_atomic_at(top, "registry.json", &b, &one, 1, false);
done:
	mreg_buf_dispose(&b);
	return rc;
}

static int unstamp(mreg_registry *reg)
{
	int rc = 0;
	char *path = mreg_strfmt("%sstamp", reg->mregdir);
	if (!path)
		return mreg_error_set(MREG_ERROR, "out of memory");
	if (unlink(path) < 0 && errno != ENOENT)
		rc = mreg_error_set(MREG_ERROR, "cannot remove '%s': %s", path, strerror(errno));
	free(path);
	return rc;
}

int mreg_cache_save(mreg_registry *reg, mreg_state *st, const git_oid *tree)
{
	int top = -1, models = -1, rc;
	git_oid_fmt(st->tree, tree);
	st->tree[40] = '\0';
	/* no stamp while the files are in flux */
	if ((rc = unstamp(reg)) < 0 || (rc = state_dirs(&top, &models, reg)) < 0)
		return rc;
	if ((rc = save_in(top, models, st)) == 0)
		rc = write_stamp(reg, "stamp", tree);
	close(top);
	close(models);
	return rc;
}

/* ---- reading events from git ---------------------------------------- */

typedef struct {
	mreg_registry *reg;
	mreg_event **evs;
	size_t n, a;
	mreg_state *q;		/* the event files left out, and why (a state for its list only) */
	int64_t nfiles;		/* entries seen under events/, good or not */
	int rc;
} collect;

static int is_event_name(const char *name)
{
	size_t n = strlen(name);
	return n == 37 && !strcmp(name + 32, ".json") && strspn(name, "0123456789abcdef") == 32;
}

static int quarantine(collect *c, const char *path, const char *fmt, const char *arg)
{
	char *msg = mreg_strfmt(fmt, arg);
	int rc = 0;
	if (!c->q)
		rc = mreg_state_new(&c->q);
	if (rc == 0)
		rc = msg ? mreg_state_quarantine(c->q, path, msg) : mreg_error_set(MREG_ERROR, "out of memory");
	free(msg);
	mreg_error_clear();
	return rc;
}

/*
 * One entry under events/ (path: events/ab/cd/<name>): an event for the
 * fold, or, when it is anything but a valid event file in its place, left
 * out with the reason (quarantined). Only what mreg cannot read at all (a
 * missing object, no memory) stops the fold.
 */
static int push_event(collect *c, const git_oid *id, git_filemode_t mode, const char *path)
{
	git_blob *blob = NULL;
	mreg_event *ev = NULL;
	const char *name = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
	char want[33];
	int rc;

	c->nfiles++;
	if (mode != GIT_FILEMODE_BLOB && mode != GIT_FILEMODE_BLOB_EXECUTABLE)
		return quarantine(c, path, "%s, not an event file",
				  mode == GIT_FILEMODE_LINK ? "a symbolic link" : mode == GIT_FILEMODE_COMMIT ? "a submodule" : "not a file");
	if (!is_event_name(name))
		return quarantine(c, path, "%s", "not named <xxh128>.json");
	if (strlen(path) != 7 + 6 + 37 || strncmp(path, "events/", 7) || strncmp(path + 7, name, 2) || path[9] != '/' ||
	    strncmp(path + 10, name + 2, 2) || path[12] != '/')
		return quarantine(c, path, "%s", "not in its fan-out directory events/ab/cd/");
	if (git_blob_lookup(&blob, c->reg->repo, id) < 0)
		return mreg_git_error("cannot read event", path);
	memcpy(want, name, 32);
	want[32] = '\0';
	rc = mreg_event_parse(&ev, git_blob_rawcontent(blob), (size_t)git_blob_rawsize(blob), want);
	git_blob_free(blob);
	if (rc == MREG_EINVALID || rc == MREG_ECORRUPT) {
		char msg[1024];
		snprintf(msg, sizeof(msg), "%s", mreg_error_last());
		return quarantine(c, path, "%s", msg);
	}
	if (rc < 0)
		return rc;
	if (c->n == c->a) {
		size_t a = c->a ? c->a * 2 : 256;
		mreg_event **p = realloc(c->evs, a * sizeof(*p));
		if (!p) {
			mreg_event_free(ev);
			return mreg_error_set(MREG_ERROR, "out of memory");
		}
		c->evs = p;
		c->a = a;
	}
	c->evs[c->n++] = ev;
	return 0;
}

/* The quarantined files of c into st. */
static int quarantine_into(mreg_state *st, const collect *c)
{
	int rc = 0;
	for (size_t i = 0; c->q && i < c->q->nquarantined && rc == 0; i++)
		rc = mreg_state_quarantine(st, c->q->quarantined[i].path, c->q->quarantined[i].problem);
	return rc;
}

static int walk_cb(const char *root, const git_tree_entry *e, void *payload)
{
	collect *c = payload;
	char path[512];
	if (git_tree_entry_type(e) == GIT_OBJECT_TREE)
		return 0;
	snprintf(path, sizeof(path), "events/%s%s", root, git_tree_entry_name(e));
	if ((c->rc = push_event(c, git_tree_entry_id(e), git_tree_entry_filemode(e), path)) < 0)
		return -1;
	return 0;
}

static int cmp_events(const void *a, const void *b)
{
	return mreg_event_cmp(*(mreg_event *const *)a, *(mreg_event *const *)b);
}

void mreg_events_free(mreg_event **evs, size_t n)
{
	for (size_t i = 0; i < n; i++)
		mreg_event_free(evs[i]);
	free(evs);
}

int mreg_read_events_at(mreg_event ***out, size_t *n, mreg_state *quarantined, mreg_registry *reg,
			const git_oid *tree_id)
{
	git_tree *tree = NULL, *events = NULL;
	git_tree_entry *e = NULL;
	collect c = { reg, NULL, 0, 0, NULL, 0, 0 };
	int rc = 0;
	if ((rc = mreg_registry_need_git(reg)) < 0)
		return rc;

	*out = NULL;
	*n = 0;
	if (git_tree_lookup(&tree, reg->repo, tree_id) < 0)
		return mreg_git_error("cannot read the tree of", reg->path);
	if (git_tree_entry_bypath(&e, tree, "events") == 0) {
		if (git_tree_entry_type(e) != GIT_OBJECT_TREE || git_tree_lookup(&events, reg->repo, git_tree_entry_id(e)) < 0) {
			/* a file (or link) where the events should be: nothing to fold, and it says so */
			git_error_clear();
			c.nfiles++;
			if ((rc = quarantine(&c, "events", "%s", "not a directory")) < 0)
				goto done;
		} else if (git_tree_walk(events, GIT_TREEWALK_PRE, walk_cb, &c) < 0) {
			rc = c.rc < 0 ? c.rc : mreg_git_error("cannot walk the events of", reg->path);
			goto done;
		}
	}
	git_error_clear();
	if (quarantined) {
		quarantined->nfiles = c.nfiles;	/* the base of the clock bound, before the fold */
		if ((rc = quarantine_into(quarantined, &c)) < 0)
			goto done;
	}
	if (c.n)
		qsort(c.evs, c.n, sizeof(*c.evs), cmp_events);
	*out = c.evs;
	*n = c.n;
	c.evs = NULL;
	c.n = 0;
done:
	mreg_state_free(c.q);
	mreg_events_free(c.evs, c.n);
	git_tree_entry_free(e);
	git_tree_free(events);
	git_tree_free(tree);
	return rc;
}

/* ---- refresh -------------------------------------------------------- */

static int fold_all(mreg_registry *reg, const git_oid *tree)
{
	mreg_event **evs = NULL;
	mreg_state *st = NULL;
	size_t n = 0;
	int rc;

	if ((rc = mreg_state_new(&st)) < 0 || (rc = mreg_read_events_at(&evs, &n, st, reg, tree)) < 0)
		goto done;
	for (size_t i = 0; i < n; i++)
		if ((rc = mreg_fold_apply(st, evs[i])) < 0)
			goto done;
	for (size_t i = 0; i < st->nmodels; i++)
		st->models[i]->dirty = true;
	if ((rc = mreg_cache_save(reg, st, tree)) < 0)
		goto done;
	mreg_fs_sweep_tmp(reg->mregdir, false);
	int top, models;
	if ((rc = state_dirs(&top, &models, reg)) == 0) {
		remove_stale_models(top, models, st);
		close(top);
		close(models);
	}
done:
	mreg_state_free(st);
	mreg_events_free(evs, n);
	return rc;
}

/* 1: done incrementally; 0: needs a full fold; <0 error */
static int fold_new(mreg_registry *reg, const char *stamp, const git_oid *tree)
{
	git_oid old_id;
	git_tree *old = NULL, *cur = NULL;
	git_diff *diff = NULL;
	git_diff_options o;
	char *spec[] = { "events" };
	collect c = { reg, NULL, 0, 0, NULL, 0, 0 };
	mreg_state *st = NULL;
	int rc = 0, maps = reg->nmaps;	/* a caller's state may borrow the mappings before these */
	if ((rc = mreg_registry_need_git(reg)) < 0)
		return rc;

	if (git_oid_fromstr(&old_id, stamp) < 0 || git_tree_lookup(&old, reg->repo, &old_id) < 0 ||
	    git_tree_lookup(&cur, reg->repo, tree) < 0)
		goto done;
	git_diff_options_init(&o, GIT_DIFF_OPTIONS_VERSION);
	o.pathspec.strings = spec;
	o.pathspec.count = 1;
	if (git_diff_tree_to_tree(&diff, reg->repo, old, cur, &o) < 0)
		goto done;
	size_t nd = git_diff_num_deltas(diff);
	for (size_t i = 0; i < nd; i++) {
		const git_diff_delta *d = git_diff_get_delta(diff, i);
		if (d->status != GIT_DELTA_ADDED)
			goto done;
		if ((rc = push_event(&c, &d->new_file.id, d->new_file.mode, d->new_file.path)) < 0)
			goto done;
	}
	if (c.n)
		qsort(c.evs, c.n, sizeof(*c.evs), cmp_events);
	if (mreg_cache_load(&st, reg, NULL, false, true) < 0) {
		mreg_error_clear();
		rc = 0;
		goto done;
	}
	if ((rc = quarantine_into(st, &c)) < 0)
		goto done;
	st->nfiles += c.nfiles;
	/* more files move the clock bound: a clock left out as forged may pass it now, and folds in its place */
	if (st->forged_clock && st->forged_clock <= st->nfiles + MREG_CLOCK_SLACK) {
		rc = 0;
		goto done;
	}
	if (c.n && st->nevents &&
	    (c.evs[0]->clock < st->clock || (c.evs[0]->clock == st->clock && strcmp(c.evs[0]->id, st->last_event) <= 0)))
		goto done;	/* older events arrived: the order changed, fold it all */
	for (size_t i = 0; i < c.n; i++) {
		/* the models the event touches: its own, and B of a comparison */
		const char *ids[2] = { c.evs[i]->model, mreg_event_other_model(c.evs[i]) };
		for (size_t k = 0; k < 2; k++) {
			mreg_model *m = ids[k] ? mreg_state_model(st, ids[k]) : NULL;
			if (!m || m->loaded)
				continue;
			char *id = mreg_strdup(m->id);
			mreg_buf b = MREG_BUF_INIT;
			char *path = mreg_strfmt("%smodels/%s.json", reg->statedir, id);
			int r = path && id ? mreg_fs_read(&b, path, 0) : MREG_ERROR;
			if (r == 0)
				r = mreg_state_read_model(st, b.ptr, b.size, true);
			mreg_buf_dispose(&b);
			free(path);
			free(id);
			if (r < 0) {
				rc = 0;
				goto done;
			}
		}
		if ((rc = mreg_fold_apply(st, c.evs[i])) < 0)
			goto done;
	}
	if ((rc = mreg_cache_save(reg, st, tree)) < 0)
		goto done;
	rc = 1;
done:
	mreg_state_free(st);
	mreg_state_free(c.q);
	mreg_release_maps_from(reg, maps);
	mreg_events_free(c.evs, c.n);
	git_diff_free(diff);
	git_tree_free(old);
	git_tree_free(cur);
	return rc;
}

/*
 * Bring the mirror to HEAD after a crash or a change made with plain git:
 * the files of mreg's paths (`git checkout -f HEAD -- paths`, missing ones
 * too), then their index entries (`git reset -- paths`: a writer killed
 * between the work tree and the index leaves entries missing), then the
 * litter of killed writers.
 */
typedef struct {
	char **paths;
	size_t n, a;
} path_list;

static int collect_path(const git_diff_delta *d, float progress, void *payload)
{
	path_list *l = payload;
	(void)progress;
	const char *p = d->new_file.path ? d->new_file.path : d->old_file.path;
	if (l->n == l->a) {
		l->a = l->a ? l->a * 2 : 64;
		char **q = realloc(l->paths, l->a * sizeof(*q));
		if (!q)
			return -1;
		l->paths = q;
	}
	if (!(l->paths[l->n] = mreg_strdup(p)))
		return -1;
	l->n++;
	return 0;
}

static void path_list_dispose(path_list *l)
{
	for (size_t i = 0; i < l->n; i++)
		free(l->paths[i]);
	free(l->paths);
}

/*
 * The git index is derived data and never fsynced: a power cut can leave
 * it empty or cut short, and then git and libgit2 refuse to read it. Such
 * an index is made again from tree (HEAD's), as `git reset` would; its
 * entries carry no stat data, so the next `git status` hashes the files
 * once and finds them clean. 0 when the index reads, or was made again.
 */
static int read_tree_into(git_index *idx, void *payload)
{
	return git_index_read_tree(idx, payload) < 0 ? mreg_git_error("cannot make the index again from", "HEAD") : 0;
}

int mreg_index_check(mreg_registry *reg, const git_oid *tree)
{
	git_index *idx = NULL;
	git_tree *t = NULL;
	int rc = mreg_registry_need_git(reg);
	if (rc < 0)
		return rc;
	char *path = mreg_strfmt("%sindex", reg->gitdir);
	if (!path)
		return mreg_error_set(MREG_ERROR, "out of memory");
	/* libgit2 takes an empty file for an empty index; git does not, and neither may this */
	struct stat sb;
	int st = stat(path, &sb);
	bool missing = st < 0 && errno == ENOENT;	/* no index: an empty one, which the repair fills */
	if (missing || (st == 0 && sb.st_size >= 12 + 20 && git_index_open(&idx, path) == 0)) {
		git_index_free(idx);
		free(path);
		return 0;
	}
	git_error_clear();
	free(path);
	if (git_tree_lookup(&t, reg->repo, tree) < 0)
		return mreg_git_error("cannot make the index again in", reg->path);
	rc = mreg_index_libgit2(reg, false, read_tree_into, t);
	git_tree_free(t);
	return rc;
}

static int path_add(path_list *l, const char *p)
{
	git_diff_delta d;
	memset(&d, 0, sizeof(d));
	d.new_file.path = p;
	return collect_path(&d, 0, l);
}

static int cmp_str(const void *a, const void *b)
{
	return strcmp(*(char *const *)a, *(char *const *)b);
}

/* Sorted, each path once (the diffs and the large-file scan may name one twice). */
static void path_list_unique(path_list *l)
{
	size_t k = 0;
	if (l->n)
		qsort(l->paths, l->n, sizeof(*l->paths), cmp_str);
	for (size_t i = 0; i < l->n; i++) {
		if (k && !strcmp(l->paths[k - 1], l->paths[i])) {
			free(l->paths[i]);
			continue;
		}
		l->paths[k++] = l->paths[i];
	}
	l->n = k;
}

/*
 * Large files whose work tree copy is missing or is not the right size (a
 * `git pull` or `git checkout` without the LFS filter writes the pointer
 * text there) join the lag. They are named in the .gitattributes files
 * under artifacts/ and blobs/: all of them (refresh, a first look), or
 * those of the attribute files that changed since the mirror's tree.
 */
typedef struct {
	mreg_registry *reg;
	git_tree *head;
	path_list *lag;
	const char *prefix;	/* of a tree walk's roots: "artifacts/" */
	bool by_hash;		/* a copy of the right size is hashed too */
	int rc;
} lfs_scan;

static void lfs_scan_attributes(lfs_scan *s, const char *attrpath, const git_oid *attr_id)
{
	git_blob *blob = NULL;
	const char *slash = strrchr(attrpath, '/');
	size_t dirlen = slash ? (size_t)(slash - attrpath) + 1 : 0;
	if (git_blob_lookup(&blob, s->reg->repo, attr_id) < 0) {
		git_error_clear();
		return;
	}
	const char *p = git_blob_rawcontent(blob), *end = p + git_blob_rawsize(blob);
	while (p < end && s->rc == 0) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		const char *eol = nl ? nl : end;
		const char *sp = memchr(p, ' ', (size_t)(eol - p));
		/* "/<name> filter=lfs ...": the lines mreg writes */
		if (*p == '/' && sp && sp - p > 1 && sp - p < 200 && memmem(sp, (size_t)(eol - sp), "filter=lfs", 10)) {
			char path[512];
			snprintf(path, sizeof(path), "%.*s%.*s", (int)dirlen, attrpath, (int)(sp - p - 1), p + 1);
			git_tree_entry *e = NULL;
			git_blob *b = NULL;
			mreg_lfs_pointer ptr;
			struct stat sb;
			char *full = mreg_strfmt("%s%s", s->reg->workdir, path);
			if (full && git_tree_entry_bypath(&e, s->head, path) == 0 && git_tree_entry_type(e) == GIT_OBJECT_BLOB &&
			    git_blob_lookup(&b, s->reg->repo, git_tree_entry_id(e)) == 0 &&
			    mreg_lfs_pointer_parse(&ptr, git_blob_rawcontent(b), (size_t)git_blob_rawsize(b)) == 0) {
				char want[33];
				const char *base = strrchr(path, '/') ? strrchr(path, '/') + 1 : path;
				snprintf(want, sizeof(want), "%.32s", base);
				bool lags = lstat(full, &sb) < 0 || !S_ISREG(sb.st_mode) || sb.st_size != ptr.size ||
					    (s->by_hash && mreg_lfs_copy_ok(s->reg, path, &ptr, want) != 0);
				if (lags && path_add(s->lag, path) < 0)
					s->rc = mreg_error_set(MREG_ERROR, "out of memory");
			}
			git_error_clear();
			git_blob_free(b);
			git_tree_entry_free(e);
			free(full);
		}
		p = eol + 1;
	}
	git_blob_free(blob);
}

static int lfs_walk_cb(const char *root, const git_tree_entry *e, void *payload)
{
	lfs_scan *s = payload;
	if (git_tree_entry_type(e) != GIT_OBJECT_BLOB || strcmp(git_tree_entry_name(e), ".gitattributes"))
		return 0;
	char path[512];
	snprintf(path, sizeof(path), "%s%s%s", s->prefix, root, git_tree_entry_name(e));
	lfs_scan_attributes(s, path, git_tree_entry_id(e));
	return s->rc < 0 ? -1 : 0;
}

static int lfs_lag(path_list *lag, mreg_registry *reg, git_tree *head, const git_oid *since, bool by_hash)
{
	static char *dirs[] = { "artifacts", "blobs" };
	lfs_scan s = { reg, head, lag, "", by_hash, 0 };
	git_tree *old = NULL;
	git_diff *diff = NULL;
	if (since && git_tree_lookup(&old, reg->repo, since) == 0) {
		git_diff_options o;
		git_diff_options_init(&o, GIT_DIFF_OPTIONS_VERSION);
		o.pathspec.strings = dirs;
		o.pathspec.count = 2;
		if (git_diff_tree_to_tree(&diff, reg->repo, old, head, &o) == 0) {
			size_t nd = git_diff_num_deltas(diff);
			for (size_t i = 0; i < nd && s.rc == 0; i++) {
				const git_diff_delta *d = git_diff_get_delta(diff, i);
				const char *slash = strrchr(d->new_file.path, '/');
				if ((d->status == GIT_DELTA_ADDED || d->status == GIT_DELTA_MODIFIED) &&
				    !strcmp(slash ? slash + 1 : d->new_file.path, ".gitattributes"))
					lfs_scan_attributes(&s, d->new_file.path, &d->new_file.id);
			}
			git_diff_free(diff);
			git_tree_free(old);
			return s.rc;
		}
		git_tree_free(old);
	}
	git_error_clear();
	for (size_t i = 0; i < 2 && s.rc == 0; i++) {
		git_tree_entry *e = NULL;
		git_tree *t = NULL;
		if (git_tree_entry_bypath(&e, head, dirs[i]) == 0 && git_tree_entry_type(e) == GIT_OBJECT_TREE &&
		    git_tree_lookup(&t, reg->repo, git_tree_entry_id(e)) == 0) {
			char root[32];
			snprintf(root, sizeof(root), "%s/", dirs[i]);
			s.prefix = root;	/* git_tree_walk's roots are relative to the tree walked */
			git_tree_walk(t, GIT_TREEWALK_PRE, lfs_walk_cb, &s);
			s.prefix = "";
		}
		git_error_clear();
		git_tree_entry_free(e);
		git_tree_free(t);
	}
	return s.rc;
}

/* Make one lagging path what HEAD has: *entry set when a file was written (1: removed, 2: left alone). */
static int repair_path(mreg_index_entry *entry, mreg_registry *reg, git_tree *head, const char *path)
{
	git_tree_entry *e = NULL;
	git_blob *blob = NULL;
	int rc = 0;
	if (git_tree_entry_bypath(&e, head, path) < 0) {
		/* not in HEAD: the file goes (a link too, never what it points to); the directories stay */
		const char *name;
		int dir;
		git_error_clear();
		if (mreg_fs_parent_beneath(&dir, &name, reg->workdir, path, 0) == 0) {
			struct stat sb;
			if (fstatat(dir, name, &sb, AT_SYMLINK_NOFOLLOW) == 0 && !S_ISDIR(sb.st_mode))
				unlinkat(dir, name, 0);
			close(dir);
		}
		mreg_error_clear();
		return 1;
	}
	git_filemode_t mode = git_tree_entry_filemode(e);
	if (mode != GIT_FILEMODE_BLOB && mode != GIT_FILEMODE_BLOB_EXECUTABLE) {
		/* a link, a submodule or a directory where mreg keeps files: never made in the work tree */
		git_tree_entry_free(e);
		return 2;
	}
	if (git_blob_lookup(&blob, reg->repo, git_tree_entry_id(e)) < 0) {
		rc = mreg_git_error("cannot read", path);
		goto done;
	}
	mreg_lfs_pointer ptr;
	const void *data = git_blob_rawcontent(blob);
	size_t len = (size_t)git_blob_rawsize(blob);
	mreg_addfile f = { path, data, len, mreg_lfs_pointer_at(&ptr, path, data, len) ? &ptr : NULL };
	rc = mreg_mirror_file(entry, reg, &f);
	if (rc == MREG_ENOTFOUND && f.lfs) {
		/* the large file is not here (not fetched yet): the pointer, as git without LFS has it */
		mreg_error_clear();
		f.lfs = NULL;
		rc = mreg_mirror_file(entry, reg, &f);
	}
	if (rc == 0 && mode == GIT_FILEMODE_BLOB_EXECUTABLE) {
		char *full = mreg_strfmt("%s%s", reg->workdir, path);
		if (full && chmod(full, 0755) == 0)
			lstat(full, &entry->st);
		free(full);
	}
done:
	git_blob_free(blob);
	git_tree_entry_free(e);
	return rc;
}

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
/* How far repair_mirror looks (see below). */
enum {
	MIRROR_FILES = 1,	/* every file against its index entry, by stat */
	MIRROR_LARGE = 2,	/* every large file's copy (not only those of what changed), by hash */
};

static int repair_mirror(mreg_registry *reg, const git_oid *tree, unsigned how)
{
	git_diff_options d;
	git_object *headc = NULL;
	git_tree *t = NULL;
	git_diff *diff = NULL;
	char *paths[] = { "events", "artifacts", "blobs", "mreg.json", ".gitignore" };
	git_strarray spec = { paths, 5 };
	path_list lag = { NULL, 0, 0 }, gone = { NULL, 0, 0 };
	mreg_index_entry *adds = NULL;
	size_t nadds = 0;
	char since_hex[41];
	git_oid since;
	int rc = 0;
	if ((rc = mreg_registry_need_git(reg)) < 0)
		return rc;

	git_libgit2_opts(GIT_OPT_ENABLE_FSYNC_GITDIR, 0);
	mreg_clear_stale_lock(reg, "index");
	if ((rc = mreg_index_check(reg, tree)) < 0)
		return rc;
	git_diff_options_init(&d, GIT_DIFF_OPTIONS_VERSION);
	d.pathspec = spec;
	if (git_tree_lookup(&t, reg->repo, tree) < 0 || git_diff_tree_to_index(&diff, reg->repo, t, NULL, &d) < 0 ||
	    git_diff_foreach(diff, collect_path, NULL, NULL, NULL, &lag) < 0) {
		rc = mreg_git_error("cannot compare the index with HEAD in", reg->path);
		goto done;
	}
	git_diff_free(diff);
	diff = NULL;
	bool thorough = how & MIRROR_FILES;
	if (thorough && (git_diff_index_to_workdir(&diff, reg->repo, NULL, &d) < 0 ||
			 git_diff_foreach(diff, collect_path, NULL, NULL, NULL, &lag) < 0)) {
		rc = mreg_git_error("cannot compare the work tree with the index in", reg->path);
		goto done;
	}
	mreg_cache_mirror_stamp(since_hex, reg);
	bool have_since = !how && since_hex[0] && git_oid_fromstr(&since, since_hex) == 0;
	if ((rc = lfs_lag(&lag, reg, t, have_since ? &since : NULL, how & MIRROR_LARGE)) < 0)
		goto done;
	path_list_unique(&lag);
	if (lag.n && !(adds = calloc(lag.n, sizeof(*adds)))) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
		goto done;
	}
	for (size_t i = 0; i < lag.n; i++) {
		int r = repair_path(&adds[nadds], reg, t, lag.paths[i]);
		if (r < 0) {
			rc = r;
			goto done;
		}
		if (r == 0)
			nadds++;
		else if (r == 1 && path_add(&gone, lag.paths[i]) < 0) {
			rc = mreg_error_set(MREG_ERROR, "out of memory");
			goto done;
		}
	}
	/* entries of the files written, and of files HEAD no longer has dropped, in one index write */
	if ((nadds || gone.n) && (rc = mreg_mirror_index_change(reg, adds, nadds, gone.paths, gone.n, tree)) < 0)
		goto done;
	/* temporary files can only be where the lagging files are: sweep those directories, not the tree */
	for (size_t i = 0; i < lag.n; i++) {
		const char *slash = strrchr(lag.paths[i], '/');
		size_t n = slash ? (size_t)(slash - lag.paths[i]) : 0;
		if (i && n && !strncmp(lag.paths[i - 1], lag.paths[i], n) && lag.paths[i - 1][n] == '/' &&
		    !strchr(lag.paths[i - 1] + n + 1, '/'))
			continue;	/* the same directory as the path before */
		char *dir = mreg_strfmt("%s%.*s", reg->workdir, (int)n, lag.paths[i]);
		if (dir)
			mreg_fs_sweep_tmp(dir, false);
		free(dir);
	}
	mreg_fs_sweep_tmp(reg->mregdir, false);
	rc = mreg_cache_set_mirror(reg, tree);
done:
	free(adds);
	path_list_dispose(&lag);
	path_list_dispose(&gone);
	git_diff_free(diff);
	git_tree_free(t);
	git_object_free(headc);
	return rc;
}

int mreg_cache_ensure(mreg_registry *reg)
{
	git_oid commit, tree;
	char head[41], stamp[41], mirror[41];
	int rc;

	if ((rc = mreg_head(&commit, &tree, reg)) < 0)
		return rc;
	git_oid_fmt(head, &tree);
	head[40] = '\0';
	/* state files reached through a link someone committed are not ours: fold anew into real directories */
	if (!state_dirs_sound(reg) && (rc = unstamp(reg)) < 0)
		return rc;
	mreg_cache_stamp(stamp, reg);
	if (strcmp(stamp, head)) {
		rc = stamp[0] ? fold_new(reg, stamp, &tree) : 0;
		if (rc == 0)
			rc = fold_all(reg, &tree);
		if (rc < 0)
			return rc;
	}
	if (reg->workdir) {
		bool other_boot;
		char mirror_commit[41];
		read_stamp3(mirror, mirror_commit, &other_boot, reg, "mirror");
		if ((strcmp(mirror, head) || other_boot) && (rc = repair_mirror(reg, &tree, other_boot ? MIRROR_FILES : 0)) < 0)
			return rc;
	}
	return 0;
}

int mreg_cache_check_large(mreg_registry *reg)
{
	git_oid commit, tree;
	int rc;
	if (!reg->workdir)
		return 0;
	if ((rc = mreg_cache_ensure(reg)) < 0 || (rc = mreg_head(&commit, &tree, reg)) < 0)
		return rc;
	return repair_mirror(reg, &tree, MIRROR_LARGE);
}

int mreg_registry_refresh(mreg_registry *reg, bool force, bool *was_fresh)
{
	int rc;
	mreg_status s;
	if ((rc = mreg_registry_status(&s, reg)) < 0)
		return rc;
	if (was_fresh)
		*was_fresh = s.state_fresh && s.mirror_fresh;
	if ((rc = mreg_lock(reg)) < 0)
		return rc;
	if (reg->workdir && (rc = mreg_lfs_migrate(reg)) < 0) {
		mreg_unlock(reg);
		return rc;
	}
	if (force) {
		char *p = mreg_strfmt("%sstamp", reg->mregdir);
		char *q = mreg_strfmt("%smirror", reg->mregdir);
		if (p)
			unlink(p);
		if (q && reg->workdir)
			unlink(q);
		free(p);
		free(q);
	}
	rc = mreg_cache_ensure(reg);
	if (rc == 0 && reg->workdir) {
		/* asked for by name: check the work tree files too, whatever the stamps say */
		git_oid commit, tree;
		if ((rc = mreg_head(&commit, &tree, reg)) == 0)
			rc = repair_mirror(reg, &tree, MIRROR_FILES);
	}
	mreg_unlock(reg);
	return rc;
}

int mreg_registry_status(mreg_status *out, mreg_registry *reg)
{
	git_oid commit, tree;
	char stamp[41], stamp_commit[41], mirror[41], mirror_commit[41];
	int rc;
	memset(out, 0, sizeof(*out));
	if ((rc = mreg_registry_need_git(reg)) < 0)
		return rc;
	mreg_branch_ref(reg, out->branch, sizeof(out->branch));
	int err = git_reference_name_to_id(&commit, reg->repo, "HEAD");
	if (err == GIT_ENOTFOUND || err == GIT_EUNBORNBRANCH)
		return mreg_error_set(MREG_ENOTFOUND, "registry '%s' has no commits", reg->path);
	if (err < 0)
		return mreg_git_error("cannot read HEAD of", reg->path);
	git_oid_fmt(out->head, &commit);
	read_stamp2(stamp, stamp_commit, reg, "stamp");
	bool other_boot;
	read_stamp3(mirror, mirror_commit, &other_boot, reg, "mirror");
	out->state_fresh = !strcmp(stamp_commit, out->head) && state_dirs_sound(reg);
	out->mirror_fresh = !reg->workdir || !strcmp(mirror_commit, out->head);
	if (out->state_fresh && out->mirror_fresh) {
		memcpy(out->tree, stamp, sizeof(stamp));
		return 0;	/* the fast path: no object read */
	}
	if ((rc = mreg_head(&commit, &tree, reg)) < 0)
		return rc;
	git_oid_fmt(out->tree, &tree);
	out->state_fresh = !strcmp(stamp, out->tree) && state_dirs_sound(reg);
	out->mirror_fresh = !reg->workdir || (!strcmp(mirror, out->tree) && !other_boot);
	return 0;
}

/* The read path's check: one ref read when fresh, a locked refresh when not. */
static int ensure_fresh(mreg_registry *reg)
{
	mreg_status s;
	int rc;
	if (reg->light)
		return 0;	/* opened because the stamps name HEAD's commit */
	if ((rc = mreg_registry_status(&s, reg)) < 0)
		return rc;
	if (s.state_fresh && s.mirror_fresh)
		return 0;
	if ((rc = mreg_lock(reg)) < 0)
		return rc;
	rc = mreg_cache_ensure(reg);
	mreg_unlock(reg);
	return rc;
}

/*
 * Reading the state files while a writer replaces them. A writer removes
 * the stamp before it writes any state file and writes it again after the
 * last one, so files read between two identical readings of the stamp are
 * one consistent set. A read that saw the stamp change (or missing), or
 * that found the files disagreeing while it changed, is read again: a
 * concurrent write is not corruption. Files that disagree under a stamp
 * that did not move are damaged, and are folded anew.
 */
typedef struct {
	char bytes[160];
	size_t len;
} stamp_seen;

static void see_stamp(stamp_seen *s, mreg_registry *reg)
{
	mreg_buf b = MREG_BUF_INIT;
	char *path = mreg_strfmt("%sstamp", reg->mregdir);
	s->len = 0;
	if (path && mreg_fs_read(&b, path, sizeof(s->bytes) - 1) == 0 && b.size) {
		memcpy(s->bytes, b.ptr, b.size);
		s->len = b.size;
	}
	mreg_error_clear();
	mreg_buf_dispose(&b);
	free(path);
}

/*
 * 1: read again (a writer was at work), 0: what was read stands. After a
 * few reads that writers kept overlapping, the next one is made holding
 * the writer lock (*locked): one consistent read, waited for as a write
 * would be, rather than a race with a steady stream of writers.
 */
static int read_again(const stamp_seen *before, mreg_registry *reg, int *tries, bool *locked)
{
	stamp_seen after;
	int rc;
	see_stamp(&after, reg);
	if (*locked || (before->len && before->len == after.len && !memcmp(before->bytes, after.bytes, after.len)))
		return 0;
	mreg_error_clear();
	if (++*tries < 3) {
		struct timespec ts = { 0, 2 * 1000 * 1000 };
		nanosleep(&ts, NULL);
		return 1;
	}
	if ((rc = mreg_lock(reg)) < 0)
		return rc;
	*locked = true;
	if ((rc = mreg_cache_ensure(reg)) < 0)
		return rc;
	return 1;
}

int mreg_registry_state(mreg_state **out, mreg_registry *reg, const char *model, bool all)
{
	stamp_seen seen;
	int rc, again = 0, tries = 0;
	bool locked = false;
	*out = NULL;
	if ((rc = ensure_fresh(reg)) < 0)
		return rc;
	do {
		mreg_state_free(*out);
		*out = NULL;
		see_stamp(&seen, reg);
		rc = mreg_cache_load(out, reg, model, all, false);
	} while ((rc == 0 || rc == MREG_ECORRUPT) && (again = read_again(&seen, reg, &tries, &locked)) > 0);
	if ((rc == 0 || rc == MREG_ECORRUPT) && again < 0)
		rc = again;
	if (rc == MREG_ECORRUPT) {
		/* state files damaged behind a good stamp: fold from the log */
		if ((rc = mreg_registry_refresh(reg, true, NULL)) == 0)
			rc = mreg_cache_load(out, reg, model, all, false);
	}
	if (locked)
		mreg_unlock(reg);
	return rc;
}

static int load_model_alone(mreg_state **out, mreg_registry *reg, const char *id, int version)
{
	const char *data = NULL;
	size_t len = 0;
	char *path = mreg_strfmt("%smodels/%s.json", reg->statedir, id);
	/* mapped, not copied: the state built from it keeps no pointer into it */
	int rc = path ? mreg_fs_map(&data, &len, path) : mreg_error_set(MREG_ERROR, "out of memory");
	free(path);
	if (rc == MREG_ENOTFOUND) {
		rc = mreg_state_new(out);	/* fresh state and no file: no such model */
	} else if (rc == 0) {
		rc = version < 0 ? mreg_state_read_model_alone(out, data, len)
				 : mreg_state_read_model_version(out, data, len, version);
	}
	mreg_fs_unmap(data, len);
	return rc;
}

int mreg_registry_model(mreg_state **out, mreg_registry *reg, const char *id, int version)
{
	stamp_seen seen;
	int rc, again = 0, tries = 0;
	bool locked = false;
	*out = NULL;
	if ((rc = mreg_id_check(id)) < 0)
		return rc;
	if ((rc = ensure_fresh(reg)) < 0)
		return rc;
	do {
		mreg_state_free(*out);
		*out = NULL;
		see_stamp(&seen, reg);
		rc = load_model_alone(out, reg, id, version);
	} while ((rc == 0 || rc == MREG_ECORRUPT) && (again = read_again(&seen, reg, &tries, &locked)) > 0);
	if ((rc == 0 || rc == MREG_ECORRUPT) && again < 0)
		rc = again;
	if (rc == MREG_ECORRUPT) {
		if ((rc = mreg_registry_refresh(reg, true, NULL)) == 0)
			rc = load_model_alone(out, reg, id, version);
	}
	if (locked)
		mreg_unlock(reg);
	return rc;
}

/* production.json alone: lazily, from a mapping kept until the registry is freed, else read whole. */
static int load_production(mreg_state **out, mreg_registry *reg, const char *path)
{
	mreg_buf b = MREG_BUF_INIT;
	const char *data = NULL;
	size_t len = 0;
	int rc;
	if (reg->nmaps < (int)(sizeof(reg->maps) / sizeof(reg->maps[0])) && mreg_fs_map(&data, &len, path) == 0) {
		if ((rc = mreg_state_borrow_production(out, data, len)) == 0) {
			reg->maps[reg->nmaps].ptr = (void *)data;
			reg->maps[reg->nmaps].len = len;
			reg->nmaps++;
			return 0;
		}
		mreg_fs_unmap(data, len);
	}
	mreg_error_clear();
	rc = mreg_fs_read(&b, path, 0);
	if (rc == 0)
		rc = mreg_state_read_production(out, b.ptr, b.size);
	mreg_buf_dispose(&b);
	return rc == MREG_ENOTFOUND ? mreg_error_set(MREG_ECORRUPT, "state of '%s' is missing production.json", reg->path) : rc;
}

int mreg_registry_production(mreg_state **out, mreg_registry *reg)
{
	stamp_seen seen;
	int rc, tries = 0, maps;
	bool locked = false;
	*out = NULL;
	if ((rc = ensure_fresh(reg)) < 0)
		return rc;
	char *path = mreg_strfmt("%sproduction.json", reg->statedir);
	if (!path)
		return mreg_error_set(MREG_ERROR, "out of memory");
	do {
		mreg_state_free(*out);
		*out = NULL;
		maps = reg->nmaps;
		see_stamp(&seen, reg);
		rc = load_production(out, reg, path);
		if (rc == 0 || rc == MREG_ECORRUPT) {
			int again = read_again(&seen, reg, &tries, &locked);
			if (again < 0) {
				mreg_state_free(*out);
				*out = NULL;
				rc = again;
			}
			if (again <= 0)
				break;
			mreg_state_free(*out);	/* it may borrow the mapping dropped next */
			*out = NULL;
			mreg_release_maps_from(reg, maps);
			continue;
		}
		break;
	} while (1);
	if (rc == MREG_ECORRUPT) {
		if ((rc = mreg_registry_refresh(reg, true, NULL)) == 0)
			rc = load_production(out, reg, path);
	}
	if (locked)
		mreg_unlock(reg);
	free(path);
	return rc;
}

int mreg_registry_events(mreg_event ***out, size_t *n, mreg_registry *reg, const char *model)
{
	git_oid commit, tree;
	int rc;
	if ((rc = mreg_head(&commit, &tree, reg)) < 0)
		return rc;
	if ((rc = mreg_read_events_at(out, n, NULL, reg, &tree)) < 0 || !model)
		return rc;
	size_t k = 0;
	for (size_t i = 0; i < *n; i++) {
		if (!strcmp((*out)[i]->model, model))
			(*out)[k++] = (*out)[i];
		else
			mreg_event_free((*out)[i]);
	}
	*n = k;
	return 0;
}
