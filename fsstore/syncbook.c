/*
 * What sync keeps between rounds and what it is told: each remote's record
 * in .git/mreg/sync.json (last try, last success, last error, consecutive
 * failures, events received, its circuit breaker), written atomically under
 * the writer lock so that breakers survive restarts; the settings in git
 * config (mreg.syncPush, mreg.syncFiles, mreg.breaker.*); and `mreg sync
 * status`, which reads both; and what a round changed, for its report.
 */
#define _GNU_SOURCE
#include "internal.h"
#include "../core/breaker.h"
#include "../core/jsonw.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* ---- each remote's record: .git/mreg/sync.json ------------------------- */



void mreg_syncbook_dispose(mreg_sync_book *b)
{
	for (size_t i = 0; i < b->n; i++) {
		free(b->r[i].name);
		free(b->r[i].url);
		free(b->r[i].last_error);
	}
	free(b->r);
	cJSON_Delete(b->last_round);
	cJSON_Delete(b->missing);
	memset(b, 0, sizeof(*b));
}

static void copy_time(char out[MREG_TIME_LEN + 1], const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	snprintf(out, MREG_TIME_LEN + 1, "%s", cJSON_IsString(v) ? v->valuestring : "");
}

static int64_t get_int(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsNumber(v) && v->valuedouble >= 0 ? (int64_t)v->valuedouble : 0;
}

static char *get_str(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsString(v) ? mreg_strdup(v->valuestring) : NULL;
}

static char *book_path(mreg_registry *reg)
{
	return mreg_strfmt("%ssync.json", reg->mregdir);
}

/* The record as it was written; a damaged one is started afresh (it is only a record). */
int mreg_syncbook_load(mreg_sync_book *b, mreg_registry *reg)
{
	mreg_buf buf = MREG_BUF_INIT;
	char *path = book_path(reg);
	memset(b, 0, sizeof(*b));
	if (!path)
		return mreg_error_set(MREG_ERROR, "out of memory");
	int rc = mreg_fs_read(&buf, path, 16 << 20);
	free(path);
	if (rc < 0) {
		mreg_error_clear();
		return 0;
	}
	cJSON *doc = cJSON_ParseWithLength(buf.ptr, buf.size);
	mreg_buf_dispose(&buf);
	const cJSON *remotes = cJSON_GetObjectItemCaseSensitive(doc, "remotes"), *o;
	b->last_round = cJSON_DetachItemFromObjectCaseSensitive(doc, "last_round");
	b->missing = cJSON_DetachItemFromObjectCaseSensitive(doc, "files_not_here");
	if (!cJSON_IsArray(b->missing)) {
		cJSON_Delete(b->missing);
		b->missing = NULL;
	}
	size_t n = (size_t)cJSON_GetArraySize(remotes);
	if (n && !(b->r = calloc(n, sizeof(*b->r)))) {
		cJSON_Delete(doc);
		return mreg_error_set(MREG_ERROR, "out of memory");
	}
	cJSON_ArrayForEach(o, remotes) {
		if (!cJSON_IsObject(o) || !o->string)
			continue;
		mreg_sync_remote *r = &b->r[b->n++];
		r->name = mreg_strdup(o->string);
		r->url = get_str(o, "url");
		r->last_error = get_str(o, "last_error");
		copy_time(r->last_try, o, "last_try");
		copy_time(r->last_success, o, "last_success");
		copy_time(r->last_error_at, o, "last_error_at");
		r->failures = get_int(o, "consecutive_failures");
		r->received = get_int(o, "events_received");
		r->last_received = get_int(o, "last_events_received");
		if (mreg_breaker_read(&r->breaker, cJSON_GetObjectItemCaseSensitive(o, "breaker")) < 0) {
			mreg_error_clear();
			r->breaker = (mreg_breaker)MREG_BREAKER_INIT;
		}
	}
	cJSON_Delete(doc);
	return 0;
}

static void put_time(mreg_jsonw *w, const char *key, const char *t)
{
	mreg_jsonw_str(w, key, t[0] ? t : NULL);
}

void mreg_syncbook_write_remote(mreg_jsonw *w, const mreg_sync_remote *r, bool with_name)
{
	mreg_jsonw_obj_begin(w, with_name ? NULL : r->name);
	if (with_name)
		mreg_jsonw_str(w, "name", r->name);
	mreg_jsonw_str(w, "url", r->url);
	put_time(w, "last_try", r->last_try);
	put_time(w, "last_success", r->last_success);
	mreg_jsonw_str(w, "last_error", r->last_error);
	put_time(w, "last_error_at", r->last_error_at);
	mreg_jsonw_int(w, "consecutive_failures", r->failures);
	mreg_jsonw_int(w, "events_received", r->received);
	mreg_jsonw_int(w, "last_events_received", r->last_received);
	mreg_jsonw_obj_begin(w, "breaker");
	mreg_breaker_write(w, &r->breaker);
	mreg_jsonw_obj_end(w);
	mreg_jsonw_obj_end(w);
}

/* b as the file, atomically; the caller holds the writer lock. */
static int book_write(mreg_sync_book *b, mreg_registry *reg)
{
	mreg_buf out = MREG_BUF_INIT;
	mreg_jsonw w;
	char *path = book_path(reg);
	int rc;
	if (!path)
		return mreg_error_set(MREG_ERROR, "out of memory");
	mreg_jsonw_init(&w, &out);
	mreg_jsonw_obj_begin(&w, NULL);
	mreg_jsonw_value(&w, "last_round", b->last_round);
	if (b->missing)
		mreg_jsonw_value(&w, "files_not_here", b->missing);
	mreg_jsonw_obj_begin(&w, "remotes");
	for (size_t i = 0; i < b->n; i++)
		mreg_syncbook_write_remote(&w, &b->r[i], false);
	mreg_jsonw_obj_end(&w);
	mreg_jsonw_obj_end(&w);
	if ((rc = mreg_jsonw_finish(&w)) == 0)
		rc = mreg_fs_write_atomic(path, out.ptr, out.size, reg->fsync);
	free(path);
	mreg_buf_dispose(&out);
	return rc;
}

static int copy_remote(mreg_sync_remote *to, const mreg_sync_remote *from)
{
	free(to->url);
	free(to->last_error);
	char *name = to->name;
	*to = *from;
	to->name = name;
	to->url = from->url ? mreg_strdup(from->url) : NULL;
	to->last_error = from->last_error ? mreg_strdup(from->last_error) : NULL;
	return (from->url && !to->url) || (from->last_error && !to->last_error) ? mreg_error_set(MREG_ERROR, "out of memory")
										 : 0;
}

int mreg_syncbook_save(mreg_sync_book *b, mreg_registry *reg)
{
	mreg_sync_book cur;
	int rc;
	if ((rc = mreg_lock_take(reg)) < 0)
		return rc;
	if ((rc = mreg_syncbook_load(&cur, reg)) < 0)
		goto done;
	for (size_t i = 0; i < b->n && rc == 0; i++) {
		if (!b->r[i].touched)
			continue;
		mreg_sync_remote *r = mreg_syncbook_find(&cur, b->r[i].name, true);
		rc = r ? copy_remote(r, &b->r[i]) : mreg_error_set(MREG_ERROR, "out of memory");
	}
	if (rc == 0 && b->round_touched) {
		cJSON_Delete(cur.last_round);
		cJSON_Delete(cur.missing);
		cur.last_round = b->last_round ? cJSON_Duplicate(b->last_round, true) : NULL;
		cur.missing = b->missing ? cJSON_Duplicate(b->missing, true) : NULL;
	}
	if (rc == 0)
		rc = book_write(&cur, reg);
	mreg_syncbook_dispose(&cur);
done:
	mreg_lock_release(reg);
	return rc;
}

mreg_sync_remote *mreg_syncbook_find(mreg_sync_book *b, const char *name, bool add)
{
	for (size_t i = 0; i < b->n; i++)
		if (!strcmp(b->r[i].name, name))
			return &b->r[i];
	if (!add)
		return NULL;
	mreg_sync_remote *more = realloc(b->r, (b->n + 1) * sizeof(*more));
	if (!more)
		return NULL;
	b->r = more;
	mreg_sync_remote *r = &b->r[b->n];
	memset(r, 0, sizeof(*r));
	if (!(r->name = mreg_strdup(name)))
		return NULL;
	r->breaker = (mreg_breaker)MREG_BREAKER_INIT;
	b->n++;
	return r;
}

void mreg_syncbook_url(mreg_sync_remote *r, mreg_registry *reg)
{
	git_remote *gr = NULL;
	if (git_remote_lookup(&gr, reg->repo, r->name) == 0 && git_remote_url(gr)) {
		free(r->url);
		r->url = mreg_strdup(git_remote_url(gr));
	}
	git_remote_free(gr);
	git_error_clear();
}

void mreg_sync_forget(mreg_registry *reg, const char *name)
{
	mreg_sync_book b;
	if (mreg_lock_take(reg) < 0) {
		mreg_error_clear();
		return;
	}
	if (mreg_syncbook_load(&b, reg) == 0) {
		for (size_t i = 0; i < b.n; i++)
			if (!strcmp(b.r[i].name, name)) {
				free(b.r[i].name);
				free(b.r[i].url);
				free(b.r[i].last_error);
				b.r[i] = b.r[--b.n];
				book_write(&b, reg);
				break;
			}
	}
	mreg_syncbook_dispose(&b);
	mreg_lock_release(reg);
	mreg_error_clear();
}

/* ---- what a round changed, for its report -------------------------------- */

/* Each version of model whose number is not the one its writer claimed, as {model_id, version, claimed, ref}. */
void mreg_syncbook_renumbered(cJSON *into, mreg_registry *reg, const char *model)
{
	mreg_state *st = NULL;
	/* lazily: a version's number, claim and ref are read without parsing the rest of it */
	if (mreg_cache_load(&st, reg, model, false, true) == 0) {
		const mreg_model *m = mreg_state_model(st, model);
		for (int i = 0; m && i < m->nversions; i++) {
			const mreg_version *v = &m->versions[i];
			if (v->version == v->claimed)
				continue;
			cJSON *o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "model_id", model);
			cJSON_AddNumberToObject(o, "version", v->version);
			cJSON_AddNumberToObject(o, "claimed", v->claimed);
			cJSON_AddStringToObject(o, "ref", v->ref);
			cJSON_AddItemToArray(into, o);
		}
	}
	mreg_state_free(st);
	mreg_cache_release_maps(reg);
	mreg_error_clear();
}

/* The conflicts the state records, as {event, type, model_id, version, message, actor}. */
cJSON *mreg_syncbook_conflicts(mreg_registry *reg)
{
	mreg_state *st = NULL;
	cJSON *arr = cJSON_CreateArray();
	if (mreg_read_state(&st, reg, NULL, false) == 0) {
		for (size_t i = 0; i < st->nconflicts; i++) {
			const mreg_conflict *c = &st->conflicts[i];
			cJSON *o = cJSON_CreateObject();
			cJSON_AddStringToObject(o, "event", c->event);
			cJSON_AddStringToObject(o, "type", c->type ? c->type : "");
			cJSON_AddStringToObject(o, "model_id", c->model ? c->model : "");
			cJSON_AddNumberToObject(o, "version", c->version);
			cJSON_AddStringToObject(o, "message", c->message ? c->message : "");
			cJSON_AddStringToObject(o, "actor", c->actor ? c->actor : "");
			cJSON_AddItemToArray(arr, o);
		}
	}
	mreg_state_free(st);
	mreg_cache_release_maps(reg);
	mreg_error_clear();
	return arr;
}

/* The members of after that no member of before equals: what is new (a version renumbered again is new again). */
cJSON *mreg_syncbook_added(const cJSON *before, const cJSON *after)
{
	cJSON *out = cJSON_CreateArray(), *a;
	cJSON_ArrayForEach(a, after) {
		bool seen = false;
		const cJSON *b;
		cJSON_ArrayForEach(b, before) if (cJSON_Compare(a, b, true)) {
			seen = true;
			break;
		}
		if (!seen)
			cJSON_AddItemToArray(out, cJSON_Duplicate(a, true));
	}
	return out;
}

/* ---- settings from git config ----------------------------------------- */




int mreg_sync_interval(double *out, mreg_registry *reg)
{
	mreg_sync_settings set;
	int rc = mreg_registry_need_git(reg);
	if (rc == 0 && (rc = mreg_syncbook_settings(&set, reg)) == 0)
		*out = set.interval;
	return rc;
}

int mreg_syncbook_settings(mreg_sync_settings *s, mreg_registry *reg)
{
	git_config *cfg = NULL;
	git_buf v = GIT_BUF_INIT;
	int rc = 0, b;
	*s = (mreg_sync_settings){ MREG_BREAKER_CONFIG_INIT, false, MREG_CLONE_FILES_ALL, 600 };
	if (git_repository_config_snapshot(&cfg, reg->repo) < 0)
		return mreg_libgit2_error("cannot read the git config of", reg->path);
	static const char *const keys[] = { "mreg.breaker.failureThreshold", "mreg.breaker.recoveryTimeout",
					     "mreg.breaker.maxBackoff", "mreg.breaker.halfOpenMaxCalls", "mreg.breaker.jitter" };
	for (size_t i = 0; i < sizeof(keys) / sizeof(*keys) && rc == 0; i++) {
		git_buf_dispose(&v);
		if (git_config_get_string_buf(&v, cfg, keys[i]) < 0)
			continue;
		char *end;
		double d = strtod(v.ptr, &end);
		if (end == v.ptr || *end) {
			rc = mreg_error_set(MREG_EINVALID, "invalid git config %s '%s': not a number", keys[i], v.ptr);
			break;
		}
		switch (i) {
		case 0: s->breaker.failure_threshold = (int)d; break;
		case 1: s->breaker.recovery_seconds = d; break;
		case 2: s->breaker.max_backoff_seconds = d; break;
		case 3: s->breaker.half_open_max_calls = (int)d; break;
		default: s->breaker.jitter = d; break;
		}
	}
	if (rc == 0)
		rc = mreg_breaker_config_check(&s->breaker);
	if (rc == 0 && git_config_get_bool(&b, cfg, "mreg.syncPush") == 0)
		s->push = b;
	git_buf_dispose(&v);
	if (rc == 0 && git_config_get_string_buf(&v, cfg, "mreg.syncFiles") == 0) {
		if (!strcmp(v.ptr, "all"))
			s->files = MREG_CLONE_FILES_ALL;
		else if (!strcmp(v.ptr, "serving"))
			s->files = MREG_CLONE_FILES_SERVING;
		else if (!strcmp(v.ptr, "none"))
			s->files = MREG_CLONE_FILES_NONE;
		else
			rc = mreg_error_set(MREG_EINVALID, "invalid git config mreg.syncFiles '%s': all, serving or none", v.ptr);
	}
	git_buf_dispose(&v);
	if (rc == 0 && git_config_get_string_buf(&v, cfg, "mreg.syncInterval") == 0) {
		char *end;
		double d = strtod(v.ptr, &end);
		if (end == v.ptr || *end || !(d >= 1 && d <= 1e7))
			rc = mreg_error_set(MREG_EINVALID, "invalid git config mreg.syncInterval '%s': seconds from 1", v.ptr);
		else
			s->interval = d;
	}
	git_error_clear();
	git_buf_dispose(&v);
	git_config_free(cfg);
	return rc;
}

/* ---- status ------------------------------------------------------------ */

int mreg_sync_status(cJSON **out, mreg_registry *reg)
{
	mreg_sync_book book;
	git_strarray names = { NULL, 0 };
	mreg_state *st = NULL;
	int rc;
	*out = NULL;
	if ((rc = mreg_registry_need_git(reg)) < 0 || (rc = mreg_remote_names(&names, reg)) < 0 ||
	    (rc = mreg_syncbook_load(&book, reg)) < 0)
		goto done;
	if ((rc = mreg_read_state(&st, reg, NULL, false)) < 0)
		goto done;
	cJSON *o = cJSON_CreateObject();
	cJSON_AddItemToObject(o, "last_round", book.last_round ? cJSON_Duplicate(book.last_round, true) : cJSON_CreateNull());
	cJSON_AddItemToObject(o, "files_not_here", book.missing ? cJSON_Duplicate(book.missing, true) : cJSON_CreateArray());
	cJSON_AddNumberToObject(o, "models", (double)st->nmodels);
	cJSON_AddNumberToObject(o, "versions", (double)st->nversions);
	cJSON_AddNumberToObject(o, "events", (double)st->nevents);
	cJSON_AddNumberToObject(o, "conflicts", (double)st->nconflicts);
	cJSON *arr = cJSON_AddArrayToObject(o, "remotes");
	for (size_t i = 0; i < names.count; i++) {
		mreg_sync_remote *r = mreg_syncbook_find(&book, names.strings[i], true);
		if (!r)
			continue;
		mreg_syncbook_url(r, reg);
		mreg_buf b = MREG_BUF_INIT;
		mreg_jsonw w;
		mreg_jsonw_init(&w, &b);
		mreg_syncbook_write_remote(&w, r, true);
		if (mreg_jsonw_finish(&w) == 0)
			cJSON_AddItemToArray(arr, cJSON_ParseWithLength(b.ptr, b.size));
		mreg_buf_dispose(&b);
	}
	*out = o;
done:
	mreg_state_free(st);
	mreg_syncbook_dispose(&book);
	git_strarray_dispose(&names);
	return rc;
}
