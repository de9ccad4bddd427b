/*
 * Moving an original registry in: its SQLite database (REFERENCE.md lists
 * the tables) replayed as events. The original kept current values and a
 * transition log; mreg keeps events. So a version becomes a registration
 * at its creation time in the stage its transition log starts with,
 * carrying its current metrics, config and tags (the original kept no
 * history of those), and every later transition becomes a promotion at its
 * own time by its own actor. Validations become the steps that reach their
 * recorded status; comparisons become comparison events. Everything is
 * sorted by the original's times and appended in one commit, so a
 * migration is all or nothing.
 *
 * The original's times are naive local times; they are read as UTC.
 */
#define _GNU_SOURCE /* timegm, strptime */
#include "internal.h"

#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>

typedef struct {
	int64_t at;		/* microseconds, UTC */
	int rank;		/* among equal times: registrations first */
	size_t seq;		/* then the order they were read in */
	mreg_event *ev;
	size_t version;		/* index into versions: the version the event is about */
	size_t version_b;	/* comparisons: B's index */
} item;

typedef struct {
	char *model;
	int number;
	char stage0[16];	/* the stage its history starts in */
	int64_t created;
	mreg_event *reg;	/* its registration (owned by its item), once it has an id */
	char *path;		/* where its file was found */
	mreg_buf data;		/* the file, when it is committed under artifacts/ */
	bool large;
} version_row;

typedef struct {
	mreg_registry *reg;
	sqlite3 *db;
	char *dbdir;
	version_row *v;
	size_t nv;
	item *items;
	size_t nitems, aitems;
	int64_t limit;
	mreg_migrate_report *rep;
	mreg_lfs_pointer *lfs_ptrs;	/* of the large files, stored */
} migration;

/* "2025-12-01T10:20:30.123456", with ' ' for 'T', optional fraction, optional Z or +HH:MM */
static int parse_time(int64_t *out, const char *s)
{
	struct tm tm = { 0 };
	const char *p = s ? strptime(s, "%Y-%m-%d", &tm) : NULL;
	if (!p || (*p != 'T' && *p != ' ') || !(p = strptime(p + 1, "%H:%M:%S", &tm)))
		return -1;
	int64_t usec = 0;
	if (*p == '.') {
		int digits = 0;
		for (p++; *p >= '0' && *p <= '9'; p++)
			if (digits++ < 6)
				usec = usec * 10 + (*p - '0');
		while (digits++ < 6)
			usec *= 10;
	}
	int64_t off = 0;
	if (*p == 'Z') {
		p++;
	} else if ((*p == '+' || *p == '-') && strlen(p) >= 6) {
		int oh, om;
		if (sscanf(p + 1, "%2d:%2d", &oh, &om) != 2)
			return -1;
		off = (*p == '+' ? 1 : -1) * ((int64_t)oh * 3600 + om * 60);
		p += 6;
	}
	if (*p)
		return -1;
	*out = ((int64_t)timegm(&tm) - off) * 1000000 + usec;
	return 0;
}

static const char *col(sqlite3_stmt *s, int i)
{
	return (const char *)sqlite3_column_text(s, i);
}

static int db_error(migration *mg, const char *what)
{
	return mreg_error_set(MREG_EINVALID, "cannot migrate: %s: %s", what, sqlite3_errmsg(mg->db));
}

static int add_item(migration *mg, mreg_event *ev, int64_t at, int rank, size_t version)
{
	if (mg->nitems == mg->aitems) {
		size_t n = mg->aitems ? mg->aitems * 2 : 256;
		item *p = realloc(mg->items, n * sizeof(*p));
		if (!p) {
			mreg_event_free(ev);
			return mreg_error_set(MREG_ERROR, "out of memory");
		}
		mg->items = p;
		mg->aitems = n;
	}
	mg->items[mg->nitems] = (item){ at, rank, mg->nitems, ev, version, (size_t)-1 };
	mg->nitems++;
	return 0;
}

static mreg_event *new_event(mreg_event_type type, const char *model)
{
	mreg_event *ev = malloc(sizeof(*ev));
	if (!ev)
		return NULL;
	mreg_event_init(ev);
	ev->type = type;
	if (!(ev->model = mreg_strdup(model))) {
		mreg_event_free(ev);
		return NULL;
	}
	return ev;
}

static size_t find_version(const migration *mg, const char *model, int number)
{
	for (size_t i = 0; i < mg->nv; i++)
		if (mg->v[i].number == number && !strcmp(mg->v[i].model, model))
			return i;
	return (size_t)-1;
}

static bool has_table(migration *mg, const char *name)
{
	sqlite3_stmt *s = NULL;
	bool yes = false;
	if (sqlite3_prepare_v2(mg->db, "SELECT 1 FROM sqlite_master WHERE type='table' AND name=?", -1, &s, NULL) ==
	    SQLITE_OK) {
		sqlite3_bind_text(s, 1, name, -1, SQLITE_STATIC);
		yes = sqlite3_step(s) == SQLITE_ROW;
	}
	sqlite3_finalize(s);
	return yes;
}

/* A JSON column: NULL or empty gives an empty object. */
static int json_col(cJSON **out, sqlite3_stmt *s, int i, const char *what, const char *subject)
{
	const char *t = col(s, i);
	*out = t && *t ? cJSON_Parse(t) : cJSON_CreateObject();
	if (!*out || (!cJSON_IsObject(*out) && !cJSON_IsNull(*out))) {
		cJSON_Delete(*out);
		*out = NULL;
		return mreg_error_set(MREG_EINVALID, "cannot migrate '%s': %s is not a JSON object", subject, what);
	}
	return 0;
}

/* The version's file: its stored path, that path beside the database, or models/<id>/v<N><ext> there. */
static int read_file(migration *mg, version_row *vr, const char *stored, mreg_buf *out)
{
	const char *slash = strrchr(stored, '/'), *base = slash ? slash + 1 : stored, *dot = strrchr(base, '.');
	char *tries[3] = {
		mreg_strdup(stored),
		stored[0] != '/' ? mreg_strfmt("%s/%s", mg->dbdir, stored) : NULL,
		mreg_strfmt("%s/models/%s/v%d%s", mg->dbdir, vr->model, vr->number, dot && dot != base ? dot : ".pt"),
	};
	int rc = MREG_ENOTFOUND;
	for (int i = 0; i < 3 && rc == MREG_ENOTFOUND; i++) {
		if (!tries[i])
			continue;
		mreg_buf_clear(out);
		if ((rc = mreg_fs_read(out, tries[i], 0)) == 0) {
			vr->path = tries[i];
			tries[i] = NULL;
		}
	}
	for (int i = 0; i < 3; i++)
		free(tries[i]);
	if (rc == MREG_ENOTFOUND)
		return mreg_error_set(MREG_ENOTFOUND, "cannot migrate '%s:%d': its model file '%s' is not found", vr->model,
				      vr->number, stored);
	return rc;
}

/* The tags of version number of model, from the tags table (statement tg), into ev. */
static int row_tags(mreg_event *ev, sqlite3_stmt *tg, const char *model, int number)
{
	int rc = 0;
	sqlite3_reset(tg);
	sqlite3_bind_text(tg, 1, model, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(tg, 2, number);
	while (sqlite3_step(tg) == SQLITE_ROW) {
		char **tp = realloc(ev->tags, (ev->ntags + 1) * sizeof(*tp));
		if (!tp)
			return mreg_error_set(MREG_ERROR, "out of memory");
		ev->tags = tp;
		if (!(ev->tags[ev->ntags] = mreg_strdup(col(tg, 0))))
			return mreg_error_set(MREG_ERROR, "out of memory");
		if ((rc = mreg_tag_check(ev->tags[ev->ntags++])) < 0)
			return rc;
	}
	return 0;
}

/* The version's file, read (vr->data) and named as a registration names it (ev's file fields). */
static int row_file(migration *mg, version_row *vr, mreg_event *ev, const char *stored)
{
	int rc;
	/* the file, stored as a registration stores it */
	if ((rc = read_file(mg, vr, stored, &vr->data)) < 0)
		return rc;
	char hex[33], ext[17] = "";
	mreg_hash128(hex, vr->data.ptr, vr->data.size);
	const char *slash = strrchr(vr->path, '/'), *base = slash ? slash + 1 : vr->path, *dot = strrchr(base, '.');
	if (dot && dot != base && strlen(dot) <= 16 && dot[1]) {
		size_t k = 0;
		for (const char *c = dot; *c; c++)
			ext[k++] = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
		ext[k] = '\0';
		if (strspn(ext + 1, "abcdefghijklmnopqrstuvwxyz0123456789") != k - 1)
			ext[0] = '\0';
	}
	vr->large = (int64_t)vr->data.size > mg->limit;
	ev->file_path = mreg_strfmt("artifacts/%.2s/%.2s/%s%s", hex, hex + 2, hex, ext);
	snprintf(ev->file_hash, sizeof(ev->file_hash), "xxh128:%s", hex);
	ev->file_size = (int64_t)vr->data.size;
	if (!ev->name || !ev->description || !ev->file_path)
		return mreg_error_set(MREG_ERROR, "out of memory");
	return 0;
}

/* One row of the versions query (statement s; t and tg: its first stage and its tags) as a registration. */
static int version_from_row(migration *mg, sqlite3_stmt *s, sqlite3_stmt *t, sqlite3_stmt *tg)
{
	int rc = 0;
	version_row *p = realloc(mg->v, (mg->nv + 1) * sizeof(*p));
	if (!p)
		return mreg_error_set(MREG_ERROR, "out of memory");
	mg->v = p;
	version_row *vr = &mg->v[mg->nv++];
	memset(vr, 0, sizeof(*vr));
	mreg_buf_init(&vr->data, 0);
	vr->model = mreg_strdup(col(s, 0));
	vr->number = sqlite3_column_int(s, 1);
	const char *model = vr->model ? vr->model : "";
	char subject[MREG_ID_MAX + 16];
	snprintf(subject, sizeof(subject), "%s:%d", model, vr->number);
	if (!vr->model || mreg_id_check(vr->model) < 0 || vr->number < 1)
		return mreg_error_set(MREG_EINVALID, "cannot migrate '%s': not an id and version mreg takes", subject);
	if (parse_time(&vr->created, col(s, 6)) < 0)
		return mreg_error_set(MREG_EINVALID, "cannot migrate '%s': created_at '%s' is not a time", subject,
				    col(s, 6) ? col(s, 6) : "");
	/* the stage its history starts in; without history, where it is now */
	sqlite3_reset(t);
	sqlite3_bind_text(t, 1, model, -1, SQLITE_TRANSIENT);
	sqlite3_bind_int(t, 2, vr->number);
	const char *st0 = sqlite3_step(t) == SQLITE_ROW ? col(t, 0) : col(s, 2);
	snprintf(vr->stage0, sizeof(vr->stage0), "%s", st0 ? st0 : "");
	mreg_event *ev = new_event(MREG_EV_REGISTERED, model);
	if (!ev)
		return mreg_error_set(MREG_ERROR, "out of memory");
	if ((rc = add_item(mg, ev, vr->created, 0, mg->nv - 1)) < 0)	/* the item owns it from here */
		return rc;
	ev->version = vr->number;
	ev->stage = mreg_stage_parse(vr->stage0);
	ev->model_type = mreg_type_parse(col(s, 9));
	ev->name = mreg_strdup(col(s, 7) ? col(s, 7) : model);
	ev->description = mreg_strdup(col(s, 8) ? col(s, 8) : "");
	if (ev->stage == MREG_STAGE_NONE || ev->model_type == MREG_TYPE_NONE)
		return mreg_error_set(MREG_EINVALID, "cannot migrate '%s': unknown stage '%s' or model type '%s'", subject,
				    vr->stage0, col(s, 9) ? col(s, 9) : "");
	cJSON *metrics = NULL, *cfg = NULL;
	if ((rc = json_col(&metrics, s, 4, "metrics_json", subject)) < 0)
		return rc;
	rc = mreg_metrics_from_json(&ev->metrics, metrics, subject);
	cJSON_Delete(metrics);
	if (rc < 0 || (rc = json_col(&cfg, s, 5, "training_config_json", subject)) < 0)
		return rc;
	rc = mreg_config_normalize(&ev->training_config, cfg, false, subject);
	cJSON_Delete(cfg);
	if (rc < 0)
		return rc;
	if ((rc = row_tags(ev, tg, model, vr->number)) < 0 || (rc = row_file(mg, vr, ev, col(s, 3) ? col(s, 3) : "")) < 0)
		return rc;
	mg->rep->versions++;
	return 0;
}

static int load_versions(migration *mg)
{
	sqlite3_stmt *s = NULL, *t = NULL, *tg = NULL;
	int rc = 0;
	const char *q = "SELECT v.model_id, v.version, v.stage, v.file_path, v.metrics_json, v.training_config_json, "
			"v.created_at, m.name, m.description, m.model_type FROM versions v JOIN models m ON "
			"m.model_id = v.model_id ORDER BY v.model_id, v.version";
	if (sqlite3_prepare_v2(mg->db, q, -1, &s, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(mg->db,
			       "SELECT to_stage FROM stage_transitions WHERE model_id=? AND version=? AND from_stage IS "
			       "NULL ORDER BY transitioned_at, id LIMIT 1",
			       -1, &t, NULL) != SQLITE_OK ||
	    sqlite3_prepare_v2(mg->db, "SELECT tag FROM tags WHERE model_id=? AND version=? ORDER BY tag", -1, &tg,
			       NULL) != SQLITE_OK) {
		rc = db_error(mg, "reading versions");
		goto done;
	}
	int step;
	while ((step = sqlite3_step(s)) == SQLITE_ROW)
		if ((rc = version_from_row(mg, s, t, tg)) < 0)
			goto done;
	if (step != SQLITE_DONE)
		rc = db_error(mg, "reading versions");
done:
	sqlite3_finalize(s);
	sqlite3_finalize(t);
	sqlite3_finalize(tg);
	return rc;
}

static int load_transitions(migration *mg)
{
	sqlite3_stmt *s = NULL;
	int rc = 0, step;
	if (sqlite3_prepare_v2(mg->db,
			       "SELECT model_id, version, from_stage, to_stage, reason, transitioned_by, transitioned_at "
			       "FROM stage_transitions WHERE from_stage IS NOT NULL ORDER BY transitioned_at, id",
			       -1, &s, NULL) != SQLITE_OK)
		return db_error(mg, "reading stage_transitions");
	while ((step = sqlite3_step(s)) == SQLITE_ROW) {
		const char *model = col(s, 0) ? col(s, 0) : "";
		int number = sqlite3_column_int(s, 1);
		size_t vi = find_version(mg, model, number);
		int64_t at;
		if (vi == (size_t)-1) {
			mg->rep->skipped++;	/* a transition of a version the database does not have */
			continue;
		}
		if (parse_time(&at, col(s, 6)) < 0) {
			rc = mreg_error_set(MREG_EINVALID, "cannot migrate '%s:%d': transitioned_at '%s' is not a time", model,
					    number, col(s, 6) ? col(s, 6) : "");
			break;
		}
		mreg_event *ev = new_event(MREG_EV_PROMOTED, model);
		if (!ev) {
			rc = mreg_error_set(MREG_ERROR, "out of memory");
			break;
		}
		ev->from = mreg_stage_parse(col(s, 2));
		ev->to = mreg_stage_parse(col(s, 3));
		ev->reason = mreg_strdup(col(s, 4) ? col(s, 4) : "");
		ev->actor = mreg_strdup(col(s, 5) && *col(s, 5) ? col(s, 5) : "system");
		if (ev->from == MREG_STAGE_NONE || ev->to == MREG_STAGE_NONE) {
			mreg_event_free(ev);
			rc = mreg_error_set(MREG_EINVALID, "cannot migrate '%s:%d': a transition names an unknown stage", model,
					    number);
			break;
		}
		if ((rc = add_item(mg, ev, at, 1, vi)) < 0)
			break;
		mg->rep->transitions++;
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = db_error(mg, "reading stage_transitions");
	sqlite3_finalize(s);
	return rc;
}

static int load_comparisons(migration *mg)
{
	sqlite3_stmt *s = NULL;
	int rc = 0, step;
	if (!has_table(mg, "comparisons"))
		return 0;
	if (sqlite3_prepare_v2(mg->db,
			       "SELECT model_a_id, model_a_version, model_b_id, model_b_version, games_played, model_a_wins, "
			       "model_b_wins, draws, elo_diff, compared_at, notes FROM comparisons ORDER BY compared_at, id",
			       -1, &s, NULL) != SQLITE_OK)
		return db_error(mg, "reading comparisons");
	while ((step = sqlite3_step(s)) == SQLITE_ROW) {
		size_t a = find_version(mg, col(s, 0) ? col(s, 0) : "", sqlite3_column_int(s, 1));
		size_t b = find_version(mg, col(s, 2) ? col(s, 2) : "", sqlite3_column_int(s, 3));
		int64_t at;
		if (a == (size_t)-1 || b == (size_t)-1 || a == b || parse_time(&at, col(s, 9)) < 0) {
			mg->rep->skipped++;
			continue;
		}
		mreg_event *ev = new_event(MREG_EV_COMPARISON, mg->v[a].model);
		if (!ev || !(ev->body = cJSON_CreateObject())) {
			mreg_event_free(ev);
			rc = mreg_error_set(MREG_ERROR, "out of memory");
			break;
		}
		cJSON_AddStringToObject(ev->body, "b_model", mg->v[b].model);
		cJSON_AddStringToObject(ev->body, "b_ref", "");	/* set once B's registration has its id */
		cJSON_AddNumberToObject(ev->body, "b_version", mg->v[b].number);
		static const char *const counts[] = { "games", "a_wins", "b_wins", "draws" };
		for (int k = 0; k < 4; k++) {
			sqlite3_int64 n = sqlite3_column_int64(s, 4 + k);
			cJSON_AddNumberToObject(ev->body, counts[k], (double)(n < 0 ? 0 : n));
		}
		if (sqlite3_column_type(s, 8) != SQLITE_NULL)
			cJSON_AddNumberToObject(ev->body, "elo_diff", sqlite3_column_double(s, 8));
		if (col(s, 10) && *col(s, 10))
			cJSON_AddStringToObject(ev->body, "notes", col(s, 10));
		if ((rc = add_item(mg, ev, at, 3, a)) < 0)
			break;
		mg->items[mg->nitems - 1].version_b = b;
		mg->rep->comparisons++;
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = db_error(mg, "reading comparisons");
	sqlite3_finalize(s);
	return rc;
}

static int validation_step(migration *mg, size_t vi, const char *action, int64_t at, cJSON *extra)
{
	mreg_event *ev = new_event(MREG_EV_VALIDATION, mg->v[vi].model);
	if (!ev || !(ev->body = cJSON_CreateObject())) {
		mreg_event_free(ev);
		cJSON_Delete(extra);
		return mreg_error_set(MREG_ERROR, "out of memory");
	}
	ev->actor = mreg_strdup("system");
	cJSON_AddStringToObject(ev->body, "action", action);
	cJSON *c;
	while (extra && (c = extra->child)) {
		cJSON_DetachItemViaPointer(extra, c);
		cJSON_AddItemToObject(ev->body, c->string, c);
	}
	cJSON_Delete(extra);
	return add_item(mg, ev, at, 2, vi);
}

/* The steps that take a validation from where registration leaves it to its recorded status. */
static int load_validations(migration *mg)
{
	sqlite3_stmt *s = NULL;
	int rc = 0, step;
	if (!has_table(mg, "validations"))
		return 0;
	if (sqlite3_prepare_v2(mg->db,
			       "SELECT model_id, version, status, work_id, baselines, games_per_matchup, results_json, "
			       "started_at, completed_at, created_at, updated_at FROM validations ORDER BY created_at, id",
			       -1, &s, NULL) != SQLITE_OK)
		return db_error(mg, "reading validations");
	while (rc == 0 && (step = sqlite3_step(s)) == SQLITE_ROW) {
		size_t vi = find_version(mg, col(s, 0) ? col(s, 0) : "", sqlite3_column_int(s, 1));
		const char *status = col(s, 2) ? col(s, 2) : "";
		int64_t created, updated, started = 0, completed = 0;
		static const char *const known[] = { "pending", "queued", "running", "passed", "failed" };
		bool ok = false;
		for (int k = 0; k < 5; k++)
			ok |= !strcmp(status, known[k]);
		if (vi == (size_t)-1 || !ok || parse_time(&created, col(s, 9)) < 0 || parse_time(&updated, col(s, 10)) < 0) {
			mg->rep->skipped++;
			continue;
		}
		if (col(s, 7) && parse_time(&started, col(s, 7)) < 0)
			started = 0;
		if (col(s, 8) && parse_time(&completed, col(s, 8)) < 0)
			completed = 0;
		/* create: baselines and games as recorded (a fresh pending one when registration made none) */
		cJSON *extra = cJSON_CreateObject(), *bl = col(s, 4) ? cJSON_Parse(col(s, 4)) : NULL;
		if (!cJSON_IsArray(bl)) {
			cJSON_Delete(bl);
			bl = cJSON_CreateArray();
		}
		cJSON_AddItemToObject(extra, "baselines", bl);
		int games = sqlite3_column_type(s, 5) == SQLITE_NULL ? 50 : sqlite3_column_int(s, 5);
		cJSON_AddNumberToObject(extra, "games_per_matchup", games < 1 ? 50 : games);
		if ((rc = validation_step(mg, vi, "create", created, extra)) < 0)
			break;
		const char *wid = col(s, 3);
		bool done = !strcmp(status, "passed") || !strcmp(status, "failed");
		if (wid && *wid && (strcmp(status, "pending"))) {
			cJSON *q = cJSON_CreateObject();
			cJSON_AddStringToObject(q, "work_id", wid);
			rc = validation_step(mg, vi, "queue", started ? started : updated, q);
		}
		if (rc == 0 && (!strcmp(status, "running") || (done && started)))
			rc = validation_step(mg, vi, "start", started ? started : updated, NULL);
		if (rc == 0 && done) {
			cJSON *r = NULL, *res = col(s, 6) ? cJSON_Parse(col(s, 6)) : NULL;
			if (cJSON_IsObject(res)) {
				r = cJSON_CreateObject();
				cJSON_AddItemToObject(r, "results", res);
			} else {
				cJSON_Delete(res);
			}
			rc = validation_step(mg, vi, !strcmp(status, "passed") ? "pass" : "fail", completed ? completed : updated, r);
		}
		mg->rep->validations++;
	}
	if (rc == 0 && step != SQLITE_DONE)
		rc = db_error(mg, "reading validations");
	sqlite3_finalize(s);
	return rc;
}

static int cmp_items(const void *x, const void *y)
{
	const item *a = x, *b = y;
	if (a->at != b->at)
		return a->at < b->at ? -1 : 1;
	if (a->rank != b->rank)
		return a->rank - b->rank;
	return a->seq < b->seq ? -1 : a->seq > b->seq;
}

/* Clocks, times, actors and refs in fold order; registrations get their ids as they come. */
static int build_events(migration *mg, int64_t clock)
{
	/* nothing about a version may come before its registration */
	for (size_t i = 0; i < mg->nitems; i++) {
		item *it = &mg->items[i];
		int64_t reg = mg->v[it->version].created;
		if (it->version_b != (size_t)-1 && mg->v[it->version_b].created > reg)
			reg = mg->v[it->version_b].created;
		if (it->ev->type != MREG_EV_REGISTERED && it->at < reg)
			it->at = reg;
	}
	qsort(mg->items, mg->nitems, sizeof(*mg->items), cmp_items);
	mreg_buf b = MREG_BUF_INIT;
	int rc = 0;
	for (size_t i = 0; i < mg->nitems && rc == 0; i++) {
		item *it = &mg->items[i];
		mreg_event *ev = it->ev;
		version_row *vr = &mg->v[it->version];
		ev->clock = ++clock;
		mreg_time_format(ev->time, it->at);
		/* the original recorded no actor for registrations: its history shows them as "system" */
		if (!ev->actor && !(ev->actor = mreg_strdup("system"))) {
			rc = mreg_error_set(MREG_ERROR, "out of memory");
			break;
		}
		if (!(ev->node = mreg_strdup(mg->reg->node))) {
			rc = mreg_error_set(MREG_ERROR, "out of memory");
			break;
		}
		if (ev->type != MREG_EV_REGISTERED) {
			ev->version = vr->number;
			memcpy(ev->ref, vr->reg->id, sizeof(ev->ref));
		}
		if (it->version_b != (size_t)-1)
			cJSON_ReplaceItemInObjectCaseSensitive(ev->body, "b_ref",
							       cJSON_CreateString(mg->v[it->version_b].reg->id));
		mreg_buf_clear(&b);
		if ((rc = mreg_event_serialize(&b, ev)) < 0) {
			rc = mreg_error_set(rc, "cannot migrate '%s:%d': %s", vr->model, vr->number, mreg_error_last());
			break;
		}
		if (ev->type == MREG_EV_REGISTERED)
			vr->reg = ev;
	}
	mreg_buf_dispose(&b);
	return rc;
}

/* Large files go where a registration puts them: the bytes into .git/lfs, a pointer into the tree. */
static int place_large(mreg_lfs_files *out, migration *mg)
{
	char **paths = calloc(mg->nitems + 1, sizeof(*paths));
	mreg_lfs_pointer *ptrs = calloc(mg->nitems + 1, sizeof(*ptrs));
	size_t n = 0;
	int rc = 0;
	memset(out, 0, sizeof(*out));
	if (!paths || !ptrs)
		rc = mreg_error_set(MREG_ERROR, "out of memory");
	for (size_t i = 0; rc == 0 && i < mg->nitems; i++) {
		mreg_event *ev = mg->items[i].ev;
		version_row *vr = &mg->v[mg->items[i].version];
		if (ev->type != MREG_EV_REGISTERED || !vr->large)
			continue;
		if ((rc = mreg_lfs_store_buf(&ptrs[n], mg->reg, vr->data.ptr, vr->data.size)) == 0)
			paths[n++] = ev->file_path;
	}
	if (rc == 0)
		rc = mreg_lfs_files_make(out, mg->reg, paths, ptrs, n);
	mg->lfs_ptrs = ptrs;	/* the files borrow them */
	free(paths);
	return rc;
}

/* The original's database at db_path, opened read-only into mg, and checked to be one. */
static int open_db(migration *mg, const char *db_path)
{
	struct stat sb;
	if (stat(db_path, &sb) < 0)
		return mreg_error_set(MREG_ENOTFOUND, "database not found: '%s'", db_path);
	if (!S_ISREG(sb.st_mode))
		return mreg_error_set(MREG_EINVALID, "not a database: '%s' is %s", db_path,
				      S_ISDIR(sb.st_mode) ? "a directory" : "not a regular file");
	if (sqlite3_open_v2(db_path, &mg->db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK)
		return mreg_error_set(MREG_EINVALID, "cannot open database '%s': %s", db_path, sqlite3_errmsg(mg->db));
	if (!has_table(mg, "models") || !has_table(mg, "versions") || !has_table(mg, "stage_transitions"))
		return mreg_error_set(MREG_EINVALID,
				      "not an original registry database: '%s' lacks models, versions or stage_transitions",
				      db_path);
	const char *slash = strrchr(db_path, '/');
	mg->dbdir = slash ? mreg_strfmt("%.*s", (int)(slash - db_path), db_path) : mreg_strdup(".");
	return mg->dbdir ? 0 : mreg_error_set(MREG_ERROR, "out of memory");
}

/* Every item's event and the files they add (small ones committed, large ones' pointers) in one append. */
static int append_all(migration *mg, mreg_lfs_files *lf, const char *db_path)
{
	mreg_migrate_report *out = mg->rep;
	mreg_event **evs = NULL;
	const char **paths = NULL;
	const void **datas = NULL;
	size_t *lens = NULL;
	int rc;

	evs = calloc(mg->nitems, sizeof(*evs));
	paths = calloc(mg->nv + 2 * mg->nitems + 1, sizeof(*paths));
	datas = calloc(mg->nv + 2 * mg->nitems + 1, sizeof(*datas));
	lens = calloc(mg->nv + 2 * mg->nitems + 1, sizeof(*lens));
	if (!evs || !paths || !datas || !lens) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
		goto done;
	}
	size_t nfiles = 0;
	for (size_t i = 0; i < mg->nitems; i++) {
		evs[i] = mg->items[i].ev;
		version_row *vr = &mg->v[mg->items[i].version];
		if (evs[i]->type == MREG_EV_REGISTERED && !vr->large) {
			bool dup = false;	/* the same file twice: one tree entry */
			for (size_t k = 0; k < nfiles && !dup; k++)
				dup = !strcmp(paths[k], evs[i]->file_path);
			if (!dup) {
				paths[nfiles] = evs[i]->file_path;
				datas[nfiles] = vr->data.ptr;
				lens[nfiles++] = vr->data.size;
			}
		}
	}
	if ((rc = place_large(lf, mg)) < 0)
		goto done;
	for (size_t i = 0; i < lf->n; i++) {
		paths[nfiles] = lf->files[i].path;
		datas[nfiles] = lf->files[i].data;
		lens[nfiles++] = lf->files[i].len;
	}
	char *summary = mreg_strfmt("migrate %s: %zu models, %zu versions, %zu transitions", db_path, out->models,
				    out->versions, out->transitions);
	if (!summary) {
		rc = mreg_error_set(MREG_ERROR, "out of memory");
		goto done;
	}
	rc = mreg_append_events(mg->reg, evs, mg->nitems, paths, datas, lens, nfiles, summary);
	free(summary);
done:
	free(evs);
	free(paths);
	free(datas);
	free(lens);
	return rc;
}

int mreg_migrate(mreg_migrate_report *out, mreg_registry *reg, const char *db_path)
{
	migration mg;
	mreg_state *st = NULL;
	mreg_lfs_files lf;
	int rc;
	bool locked = false;

	memset(out, 0, sizeof(*out));
	memset(&mg, 0, sizeof(mg));
	memset(&lf, 0, sizeof(lf));
	mg.reg = reg;
	mg.rep = out;
	if (!reg->workdir)
		return mreg_error_set(MREG_EINVALID, "cannot migrate into '%s': it is a bare repository", reg->path);
	if ((rc = open_db(&mg, db_path)) < 0)
		goto done;
	/*
	 * The writer lock from here to the commit: the check that none of the
	 * database's models is here yet, and the clocks given, hold when the
	 * events land (mreg_append_events takes the lock again, nested).
	 */
	if ((rc = mreg_registry_writable(reg)) < 0 || (rc = mreg_lock_take(reg)) < 0)
		goto done;
	locked = true;
	if ((rc = mreg_cache_ensure(reg)) < 0 || (rc = mreg_cache_load(&st, reg, NULL, false, false)) < 0)
		goto done;
	/* the limit of mreg.json decides committed or .git/lfs, as for register */
	if ((rc = mreg_head_artifact_limit(reg, &mg.limit)) < 0)
		goto done;
	if ((rc = load_versions(&mg)) < 0 || (rc = load_transitions(&mg)) < 0 || (rc = load_comparisons(&mg)) < 0 ||
	    (rc = load_validations(&mg)) < 0)
		goto done;
	for (size_t i = 0; i < mg.nv; i++) {
		if (i && !strcmp(mg.v[i - 1].model, mg.v[i].model))
			continue;
		out->models++;
		if (mreg_state_model(st, mg.v[i].model)) {
			rc = mreg_error_set(MREG_EEXISTS, "cannot migrate: model '%s' is already in '%s'", mg.v[i].model,
					    reg->path);
			goto done;
		}
	}
	if (mg.nitems == 0) {
		rc = mreg_error_set(MREG_EINVALID, "nothing to migrate: '%s' has no versions", db_path);
		goto done;
	}
	if ((rc = mreg_registry_load_node(reg)) < 0 || (rc = build_events(&mg, st->clock)) < 0)
		goto done;
	size_t before = st->nconflicts;
	if ((rc = append_all(&mg, &lf, db_path)) < 0)
		goto done;
	out->events = mg.nitems;
	mreg_state_free(st);
	st = NULL;
	if (mreg_read_state(&st, reg, NULL, false) == 0 && st->nconflicts > before)
		out->conflicts = st->nconflicts - before;
done:
	for (size_t i = 0; i < mg.nitems; i++)
		mreg_event_free(mg.items[i].ev);
	free(mg.items);
	for (size_t i = 0; i < mg.nv; i++) {
		free(mg.v[i].model);
		free(mg.v[i].path);
		mreg_buf_dispose(&mg.v[i].data);
	}
	free(mg.v);
	free(mg.dbdir);
	mreg_lfs_files_dispose(&lf);
	free(mg.lfs_ptrs);
	mreg_state_free(st);
	if (locked)
		mreg_lock_release(reg);
	sqlite3_close(mg.db);
	return rc;
}
