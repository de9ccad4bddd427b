/*
 * The public read API: state, one model, production, the events, status.
 *
 * A read is served from the state files (cache.c) when their stamp names
 * HEAD; otherwise the state is brought up to HEAD first, under the writer
 * lock. Reads run beside writers without a lock: see read_again.
 */
#include "internal.h"

#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

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
	if ((rc = mreg_lock_take(reg)) < 0)
		return rc;
	rc = mreg_cache_ensure(reg);
	mreg_lock_release(reg);
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
	if ((rc = mreg_lock_take(reg)) < 0)
		return rc;
	*locked = true;
	if ((rc = mreg_cache_ensure(reg)) < 0)
		return rc;
	return 1;
}

/* lazy: a listing's state (mreg_cache_load_own), production.json not read */
static int read_state(mreg_state **out, mreg_registry *reg, const char *model, bool all, bool lazy)
{
	stamp_seen seen;
	int rc, again = 0, tries = 0, maps = reg->nmaps;
	bool locked = false;
	*out = NULL;
	if ((rc = ensure_fresh(reg)) < 0)
		return rc;
	do {
		mreg_state_free(*out);
		*out = NULL;
		mreg_cache_release_maps_from(reg, maps);	/* an earlier try's, if any */
		see_stamp(&seen, reg);
		rc = lazy ? mreg_cache_load_own(out, reg, model, all) : mreg_cache_load(out, reg, model, all, false);
	} while ((rc == 0 || rc == MREG_ECORRUPT) && (again = read_again(&seen, reg, &tries, &locked)) > 0);
	if ((rc == 0 || rc == MREG_ECORRUPT) && again < 0)
		rc = again;
	if (rc == MREG_ECORRUPT) {
		/* state files damaged behind a good stamp: fold from the log */
		mreg_state_free(*out);
		*out = NULL;
		mreg_cache_release_maps_from(reg, maps);
		if ((rc = mreg_registry_refresh(reg, true, NULL)) == 0)
			rc = lazy ? mreg_cache_load_own(out, reg, model, all) : mreg_cache_load(out, reg, model, all, false);
	}
	if (locked)
		mreg_lock_release(reg);
	return rc;
}

int mreg_read_state(mreg_state **out, mreg_registry *reg, const char *model, bool all)
{
	return read_state(out, reg, model, all, false);
}

int mreg_read_state_lazy(mreg_state **out, mreg_registry *reg, const char *model, bool all)
{
	return read_state(out, reg, model, all, true);
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

int mreg_read_model(mreg_state **out, mreg_registry *reg, const char *id, int version)
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
		mreg_lock_release(reg);
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

int mreg_read_production(mreg_state **out, mreg_registry *reg)
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
			mreg_cache_release_maps_from(reg, maps);
			continue;
		}
		break;
	} while (1);
	if (rc == MREG_ECORRUPT) {
		if ((rc = mreg_registry_refresh(reg, true, NULL)) == 0)
			rc = load_production(out, reg, path);
	}
	if (locked)
		mreg_lock_release(reg);
	free(path);
	return rc;
}

int mreg_read_events(mreg_event ***out, size_t *n, mreg_registry *reg, const char *model)
{
	git_oid commit, tree;
	int rc;
	if ((rc = mreg_head_read(&commit, &tree, reg)) < 0)
		return rc;
	if ((rc = mreg_events_read(out, n, NULL, reg, &tree)) < 0 || !model)
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

bool mreg_file_here(mreg_registry *reg, const char *file_path, int64_t size)
{
	struct stat sb;
	if (!reg->workdir || !file_path || strncmp(file_path, "artifacts/", 10))
		return true;	/* a bare registry keeps no copies; blobs/ paths are an old registry's */
	char *p = mreg_strfmt("%s%s", reg->workdir, file_path);
	bool here = p && lstat(p, &sb) == 0 && S_ISREG(sb.st_mode) && sb.st_size == size;
	free(p);
	return here;
}
