/*
 * State files as the cache of the fold, and keeping them (and, through
 * mirror.c, the work tree mirror) in step with HEAD.
 *
 * Two stamps in .git/mreg/ (stamp.c) say what is current: `stamp` holds
 * the tree the state files were folded from, `mirror` the tree the work
 * tree and index were last brought to. Both are written last, after the
 * files they vouch for, and the state stamp is removed before those files
 * are touched, so a crash in between leaves no stamp and the next command
 * folds afresh.
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
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

void mreg_cache_release_maps_from(mreg_registry *reg, int first)
{
	for (int i = first; i < reg->nmaps; i++)
		mreg_fs_unmap(reg->maps[i].ptr, reg->maps[i].len);
	if (first < reg->nmaps)
		reg->nmaps = first;
}

void mreg_cache_release_maps(mreg_registry *reg)
{
	mreg_cache_release_maps_from(reg, 0);
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

/* A write's state (no production.json): what the loaded model's production entry was, to tell if it changes. */
static int note_prod(mreg_state *st, const char *id, int rc)
{
	mreg_model *m;
	if (rc == 0 && st->production_missing && (m = mreg_state_model(st, id)))
		rc = mreg_state_production_entry_digest(m->prod_loaded, m);
	return rc;
}

static int load_model_file(mreg_state *st, mreg_registry *reg, const char *id, bool lazy)
{
	mreg_buf b = MREG_BUF_INIT;
	char *path = mreg_strfmt("%smodels/%s.json", reg->statedir, id);
	if (path && lazy) {
		int r = borrow_model_file(st, reg, path);
		if (r <= 0) {
			free(path);
			return note_prod(st, id, r);
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
	return note_prod(st, id, rc);
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

/* How load reads the rows of registry.json's model_list */
typedef enum {
	ROWS_PARSED,	/* every row parsed (mreg_state_read_registry) */
	ROWS_KEPT,	/* every row kept as its bytes, a few fields read (a write's: it writes them back as they were) */
	ROWS_OWN,	/* only the row of the model asked for (a listing of one model's) */
} rows_how;

/*
 * One model's listing: registry.json mapped, its head and the model's row
 * read, the other rows neither parsed nor checked. Passing over a thousand
 * rows cost `list --model` about a millisecond, and reading the file into
 * the heap as much again. 1: not our layout, no such row, or no map, for
 * load's other ways (which say what is wrong, as for every other read).
 */
static int load_own_row(mreg_state **out, const char *path, const char *model)
{
	const char *data;
	size_t n;
	int rc = mreg_fs_map(&data, &n, path);
	if (rc < 0) {
		mreg_error_clear();
		return 1;
	}
	rc = mreg_state_read_registry_row(out, data, n, model);
	mreg_fs_unmap(data, n);
	return rc;
}

/*
 * A write's read of registry.json: the file as mreg_fs_map gives it (mapped;
 * read into the heap below the size mreg_fs_set_read_max sets, as the
 * commands that write one event and the library set it), kept with reg:
 * its rows point into it, and are written back from it. Before, the file
 * was read into the heap and written out from a second copy: at a thousand
 * models 418 KB twice, about 200 fresh pages, each a fault, for the first
 * read after a pull; a write still reads it in, and saves the copy out.
 * 1: no map (no slot left, or the file cannot be mapped), for the read
 * into the heap, which says why.
 */
static int load_kept_rows(mreg_state **out, mreg_registry *reg, const char *path)
{
	const char *data;
	size_t n;
	if (reg->nmaps >= (int)(sizeof(reg->maps) / sizeof(reg->maps[0])))
		return 1;
	if (mreg_fs_map(&data, &n, path) < 0) {
		mreg_error_clear();
		return 1;
	}
	int rc = mreg_state_borrow_registry_rows(out, data, n);
	if (rc == 1)
		rc = mreg_state_read_registry(out, data, n);	/* another layout: parsed, nothing borrowed */
	if (rc == 0 && (*out)->rowsrc) {
		reg->maps[reg->nmaps].ptr = (void *)data;
		reg->maps[reg->nmaps].len = n;
		reg->nmaps++;
	} else {
		mreg_fs_unmap(data, n);
	}
	return rc;
}

/* registry.json read into the heap, its rows as rows says (the state takes the bytes when it keeps rows). */
static int load_read(mreg_state **st, mreg_registry *reg, const char *path, rows_how rows)
{
	mreg_buf b = MREG_BUF_INIT;
	int rc = mreg_fs_read(&b, path, 0);
	if (rc == MREG_ENOTFOUND)
		rc = mreg_error_set(MREG_ECORRUPT, "state of '%s' is missing", reg->path);
	if (rc == 0 && rows == ROWS_KEPT) {
		size_t n = b.size;
		char *buf = mreg_buf_detach(&b);	/* the rows live in it: the state takes it */
		rc = buf ? mreg_state_read_registry_rows(st, buf, n) : mreg_error_set(MREG_ERROR, "out of memory");
		if (rc == 1)
			rc = mreg_state_read_registry(st, buf, n);
		if (rc != 0 || !(*st)->rowbuf)
			free(buf);
	} else if (rc == 0) {
		rc = mreg_state_read_registry(st, b.ptr, b.size);
	}
	mreg_buf_dispose(&b);
	return rc;
}

static int load(mreg_state **out, mreg_registry *reg, const char *model, bool all, bool lazy, bool production,
		rows_how rows)
{
	mreg_state *st = NULL;
	char *path = mreg_strfmt("%sregistry.json", reg->statedir);
	int rc = 1, maps = reg->nmaps;

	*out = NULL;
	if (!path)
		return mreg_error_set(MREG_ERROR, "out of memory");
	if (rows == ROWS_OWN && (rc = load_own_row(&st, path, model)) == 1)
		rows = ROWS_KEPT;	/* read as a write reads it */
	if (rc == 1 && rows == ROWS_KEPT)
		rc = load_kept_rows(&st, reg, path);
	if (rc == 1)
		rc = load_read(&st, reg, path, rows);
	free(path);
	if (rc < 0)
		goto done;
	st->production_missing = !production;
	if (production && (rc = attach_production(st, reg, lazy)) < 0)
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
	if (rc < 0)
		mreg_cache_release_maps_from(reg, maps);	/* what the state freed borrowed */
	return rc;
}

int mreg_cache_load(mreg_state **out, mreg_registry *reg, const char *model, bool all, bool lazy)
{
	return load(out, reg, model, all, lazy, true, ROWS_PARSED);
}

int mreg_cache_load_own(mreg_state **out, mreg_registry *reg, const char *model, bool all)
{
	/* one model's listing: of model_list only its row is parsed */
	return load(out, reg, model, all, true, false, model && !all ? ROWS_OWN : ROWS_PARSED);
}

int mreg_cache_load_write(mreg_state **out, mreg_registry *reg, const char *model)
{
	return load(out, reg, model, false, true, false, ROWS_KEPT);
}

/*
 * A write's state gets the production versions of the models it did not
 * load, from production.json (checked against the digest registry.json
 * names), when it must write production.json: only when a model it
 * changed has another production entry now.
 */
static int fill_production(mreg_registry *reg, mreg_state *st)
{
	bool changed = false;
	char now[33];
	int rc = 0;
	for (size_t i = 0; i < st->nmodels && !changed; i++) {
		mreg_model *m = st->models[i];
		if (!m->loaded || !m->dirty)
			continue;
		if ((rc = mreg_state_production_entry_digest(now, m)) < 0)
			return rc;
		changed = strcmp(now, m->prod_loaded[0] ? m->prod_loaded : "-") != 0;	/* "": made by this write */
	}
	if (!changed)
		return 0;
	/* every model's production entry is written: the models kept as rows are read in full */
	if ((rc = mreg_state_rows_materialize(st)) < 0)
		return rc;
	mreg_buf b = MREG_BUF_INIT;
	mreg_state *p = NULL;
	char digest[33];
	char *path = mreg_strfmt("%sproduction.json", reg->statedir);
	rc = path ? mreg_fs_read(&b, path, 0) : mreg_error_set(MREG_ERROR, "out of memory");
	free(path);
	if (rc == 0) {
		mreg_hash128(digest, b.ptr, b.size);
		if (strcmp(digest, st->production_digest))
			rc = mreg_error_set(MREG_ECORRUPT, "corrupt state file: production.json is not the one registry.json names");
	}
	if (rc == 0)
		rc = mreg_state_read_production(&p, b.ptr, b.size);
	for (size_t i = 0; rc == 0 && i < p->nmodels; i++) {
		mreg_model *pm = p->models[i], *m = mreg_state_model(st, pm->id);
		if (!m || (!m->prod_loaded[0] && m->summary_prod != (pm->prod ? pm->prod->version : 0)))
			rc = mreg_error_set(MREG_ECORRUPT, "corrupt state file: production.json does not match the registry summary");
		else if (!m->prod_loaded[0] && !m->prod) {	/* not loaded: the file's is its own */
			m->prod = pm->prod;
			pm->prod = NULL;
		}
	}
	if (rc == 0)
		st->production_missing = false;
	mreg_state_free(p);
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
bool mreg_cache_sound(mreg_registry *reg)
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

/* A dirty model of a save, and how its write went: written on every core when there are many (a full fold's). */
typedef struct {
	mreg_model *m;
	int rc;
	char *msg;
} saving;

typedef struct {
	saving *todo;
	int dir;
} save_job;

static void save_model(void *arg, size_t i)
{
	const save_job *job = arg;
	saving *sv = &job->todo[i];
	mreg_buf b = MREG_BUF_INIT;
	mreg_span *spans = NULL;
	size_t nspans = 0;
	char name[MREG_ID_MAX + 8];
	int rc = mreg_state_write_model_spans(&b, &spans, &nspans, sv->m);
	snprintf(name, sizeof(name), "%s.json", sv->m->id);
	if (rc == 0)
		rc = mreg_fs_write_atomic_at(job->dir, name, &b, spans, nspans, false);
	free(spans);
	mreg_buf_dispose(&b);
	if (rc < 0 && !(sv->msg = mreg_strdup(mreg_error_last())))
		rc = MREG_ERROR;
	sv->rc = rc;
	mreg_error_clear();
}

/* Write the state files of st (dirty models, production.json, registry.json) into the open directories. */
static int save_in(int top, int models, mreg_state *st)
{
	mreg_buf b = MREG_BUF_INIT;
	mreg_span one;
	size_t n = 0;
	int rc = 0;
	for (size_t i = 0; i < st->nmodels; i++)
		n += st->models[i]->loaded && st->models[i]->dirty;
	saving *sv = calloc(n + 1, sizeof(*sv));
	if (!sv) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
		goto done;
	}
	n = 0;
	for (size_t i = 0; i < st->nmodels; i++)
		if (st->models[i]->loaded && st->models[i]->dirty)
			sv[n++] = (saving){ st->models[i], 0, NULL };
	save_job job = { sv, models };
	mreg_parallel_for(n, 1, save_model, &job, NULL);
	for (size_t i = 0; i < n && rc == 0; i++) {
		if (sv[i].rc < 0)
			rc = mreg_error_set(sv[i].rc, "%s", sv[i].msg ? sv[i].msg : "out of memory");
		else
			sv[i].m->dirty = false;
	}
	if (rc < 0)
		goto done;
	mreg_buf_clear(&b);
	/* a write's state that left production as it was: production.json stays, and so does its digest */
	if (!st->production_missing) {
		if ((rc = mreg_state_write_production(&b, st)) < 0)
			goto done;
		mreg_hash128(st->production_digest, b.ptr, b.size);
		one = (mreg_span){ NULL, 0, b.size };
		if ((rc = mreg_fs_write_atomic_at(top, "production.json", &b, &one, 1, false)) < 0)
			goto done;
	}
	mreg_buf_clear(&b);
	/* the rows a write kept as they were go out from where they were read */
	mreg_span *spans = NULL;
	size_t nspans = 0;
	if ((rc = mreg_state_write_registry_spans(&b, &spans, &nspans, st)) == 0)
		rc = mreg_fs_write_atomic_at(top, "registry.json", &b, spans, nspans, false);
	free(spans);
done:
	for (size_t i = 0; sv && i < n; i++)
		free(sv[i].msg);
	free(sv);
	mreg_buf_dispose(&b);
	return rc;
}

int mreg_cache_save(mreg_registry *reg, mreg_state *st, const git_oid *tree)
{
	int top = -1, models = -1, rc;
	git_oid_fmt(st->tree, tree);
	st->tree[40] = '\0';
	/* no stamp while the files are in flux */
	if ((st->production_missing && (rc = fill_production(reg, st)) < 0) || (rc = mreg_cache_unstamp(reg)) < 0 ||
	    (rc = state_dirs(&top, &models, reg)) < 0)
		return rc;
	if ((rc = save_in(top, models, st)) == 0)
		rc = mreg_cache_write_stamp(reg, "stamp", tree);
	/*
	 * Still without production.json after the save: no entry of a model saved changed, so what
	 * each one noted at its load still holds for a writer that goes on with this state.
	 */
	close(top);
	close(models);
	return rc;
}

/* ---- refresh -------------------------------------------------------- */

static int apply_bulk(const mreg_event *ev, void *st)
{
	return mreg_fold_apply_bulk(st, ev);
}

/*
 * Every event folded into st, with the fold's key cache (foldkeys.c); if a
 * key did not hold once keys from it were in use, the files go and the
 * fold runs again from nothing without them (and writes them anew). The
 * odb keeps no keys after it (a later fsck or check in the same process
 * reads every head, and the memory goes).
 */
static int fold_every_event(mreg_state **st, mreg_registry *reg, const git_oid *tree)
{
	int rc;
	reg->fold_keys = true;
	reg->fold_keys_wrong = false;
	if ((rc = mreg_state_new(st)) == 0 && (rc = mreg_events_fold(reg, tree, *st, apply_bulk, *st)) < 0 &&
	    reg->fold_keys_wrong) {
		mreg_fold_keys_drop(reg);	/* this fold finds none then, and writes them anew */
		mreg_state_free(*st);
		*st = NULL;
		if ((rc = mreg_state_new(st)) == 0)
			rc = mreg_events_fold(reg, tree, *st, apply_bulk, *st);
	}
	reg->fold_keys = false;
	if (reg->lodb)
		mreg_odb_clear_keys(reg->lodb);
	return rc;
}

static int fold_all(mreg_registry *reg, const git_oid *tree)
{
	mreg_state *st = NULL;
	int rc;

	if ((rc = fold_every_event(&st, reg, tree)) < 0)
		goto done;
	if ((rc = mreg_state_check_all(st)) < 0)
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
	return rc;
}

int mreg_cache_apply(mreg_state *st, mreg_registry *reg, mreg_event **evs, size_t n)
{
	if (n && st->nevents &&
	    (evs[0]->clock < st->clock || (evs[0]->clock == st->clock && strcmp(evs[0]->id, st->last_event) <= 0)))
		return 1;	/* older events arrived: the order changed, fold it all */
	for (size_t i = 0; i < n; i++) {
		/* the models the event touches: its own, and B of a comparison */
		const char *ids[2] = { evs[i]->model, mreg_event_other_model(evs[i]) };
		for (size_t k = 0; k < 2; k++) {
			mreg_model *m = ids[k] ? mreg_state_model(st, ids[k]) : NULL;
			if (!m || m->loaded)
				continue;
			char *id = mreg_strdup(m->id);
			mreg_buf b = MREG_BUF_INIT;
			char *path = mreg_strfmt("%smodels/%s.json", reg->statedir, id);
			/* borrowing a mapping, as a write's load does: no copy of the file, nor of its versions */
			int r = path && id ? borrow_model_file(st, reg, path) : MREG_ERROR;
			if (r == 1 && (r = mreg_fs_read(&b, path, 0)) == 0)
				r = mreg_state_read_model(st, b.ptr, b.size, true);
			if (r == 0)
				r = note_prod(st, id, 0);
			mreg_buf_dispose(&b);
			free(path);
			free(id);
			if (r < 0)
				return r;
		}
		int rc = mreg_fold_apply(st, evs[i]);
		if (rc < 0)
			return rc;
	}
	return 0;
}

/* 1: done incrementally; 0: needs a full fold; <0 error */
static int fold_new(mreg_registry *reg, const char *stamp, const git_oid *tree)
{
	git_oid old;
	mreg_event **evs = NULL;
	size_t n = 0;
	mreg_state *q = NULL, *st = NULL;
	int64_t nfiles = 0;
	int rc = 0, maps = reg->nmaps;	/* a caller's state may borrow the mappings before these */

	if (git_oid_fromstr(&old, stamp) < 0 || (rc = mreg_events_added(&evs, &n, &q, &nfiles, reg, &old, tree)) != 0) {
		rc = rc < 0 ? rc : 0;
		goto done;
	}
	/* a write's state: the models the new events touch are loaded as they come, production.json only if it changes */
	if (mreg_cache_load_write(&st, reg, NULL) < 0) {
		mreg_error_clear();
		goto done;
	}
	for (size_t i = 0; q && i < q->nquarantined && rc == 0; i++)
		rc = mreg_state_quarantine(st, q->quarantined[i].path, q->quarantined[i].problem);
	if (rc < 0)
		goto done;
	st->nfiles += nfiles;
	/* more files move the clock bound: a clock left out as forged may pass it now, and folds in its place */
	if (st->forged_clock && st->forged_clock <= st->nfiles + MREG_CLOCK_SLACK)
		goto done;
	if ((rc = mreg_cache_apply(st, reg, evs, n)) != 0) {
		rc = rc < 0 ? rc : 0;
		goto done;
	}
	if ((rc = mreg_cache_save(reg, st, tree)) < 0)
		goto done;
	rc = 1;
done:
	mreg_state_free(st);
	mreg_state_free(q);
	mreg_cache_release_maps_from(reg, maps);
	mreg_events_free(evs, n);
	return rc;
}

int mreg_cache_ensure(mreg_registry *reg)
{
	git_oid commit, tree;
	char head[41], stamp[41], mirror[41];
	int rc;

	if ((rc = mreg_head_read(&commit, &tree, reg)) < 0)
		return rc;
	git_oid_fmt(head, &tree);
	head[40] = '\0';
	/* state files reached through a link someone committed are not ours: fold anew into real directories */
	if (!mreg_cache_sound(reg) && (rc = mreg_cache_unstamp(reg)) < 0)
		return rc;
	bool other_boot;
	char stamp_commit[41];
	mreg_cache_read_stamp(stamp, stamp_commit, &other_boot, reg, "stamp");
	/* lean: the model files follow first, so that a stamp at HEAD means they are there too */
	if (reg->lean && (strcmp(stamp, head) || other_boot)) {
		if ((rc = mreg_mirror_repair(reg, &tree, other_boot || !stamp[0] ? MREG_MIRROR_FILES : 0)) < 0)
			return rc;
		if (!strcmp(stamp, head) && (rc = mreg_cache_write_stamp(reg, "stamp", &tree)) < 0)
			return rc;
	}
	if (strcmp(stamp, head)) {
		rc = stamp[0] ? fold_new(reg, stamp, &tree) : 0;
		if (rc == 0)
			rc = fold_all(reg, &tree);
		if (rc < 0)
			return rc;
	}
	if (reg->workdir && !reg->lean) {
		char mirror_commit[41];
		mreg_cache_read_stamp(mirror, mirror_commit, &other_boot, reg, "mirror");
		if ((strcmp(mirror, head) || other_boot) &&
		    (rc = mreg_mirror_repair(reg, &tree, other_boot ? MREG_MIRROR_FILES : 0)) < 0)
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
	if ((rc = mreg_cache_ensure(reg)) < 0 || (rc = mreg_head_read(&commit, &tree, reg)) < 0)
		return rc;
	return mreg_mirror_repair(reg, &tree, MREG_MIRROR_LARGE);
}
