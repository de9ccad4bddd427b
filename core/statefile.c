/*
 * State files: the fold's output as JSON.
 *
 * The files are a public interface (scripts and inference servers read them)
 * and the cache that lets a command skip the fold. Both uses need the same
 * bytes on every node for the same events, so everything here is ordered:
 * models by id, versions by number, tags sorted, history and conflicts in
 * fold order. They are read back whole by stateread.c, which trusts nothing.
 *
 * The lazy readers of the fast road (statelazy.c) lean on this writer's
 * exact layout and hand a file they do not recognise back to stateread.c;
 * a change to the layout changes both, and MREG_STATE_FORMAT.
 */
#include "state.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

void mreg_transition_write(mreg_jsonw *w, const mreg_transition *t)
{
	mreg_jsonw_obj_begin(w, NULL);
	if (t->from == MREG_STAGE_NONE)
		mreg_jsonw_null(w, "from_stage");
	else
		mreg_jsonw_str(w, "from_stage", mreg_stage_name(t->from));
	mreg_jsonw_str(w, "to_stage", mreg_stage_name(t->to));
	mreg_jsonw_str(w, "reason", t->reason);
	mreg_jsonw_str(w, "transitioned_by", t->by);
	mreg_jsonw_str(w, "transitioned_at", t->at);
	mreg_jsonw_str(w, "event", t->event);
	if (t->rollback)
		mreg_jsonw_bool(w, "rollback", true);
	mreg_jsonw_obj_end(w);
}

void mreg_version_write(mreg_jsonw *w, const char *key, const mreg_model *m, const mreg_version *v)
{
	if (v->raw && w->depth <= 2) {
		/* bytes written at depth 2: the same object, its indentation shifted */
		mreg_jsonw_raw_at(w, key, v->raw, v->rawlen, 2);
		return;
	}
	if (v->raw) {
		/* deeper than it was written: parse a copy */
		mreg_version *full = mreg_version_dup(v);
		if (!full || mreg_version_materialize(full) < 0) {
			mreg_version_free(full);
			w->out->oom = 1;
			return;
		}
		mreg_version_write(w, key, m, full);
		mreg_version_free(full);
		return;
	}
	mreg_jsonw_obj_begin(w, key);
	mreg_jsonw_str(w, "model_id", m->id);
	mreg_jsonw_int(w, "version", v->version);
	mreg_jsonw_str(w, "name", m->name);
	mreg_jsonw_str(w, "model_type", mreg_type_name(m->type));
	mreg_jsonw_str(w, "stage", mreg_stage_name(v->stage));
	mreg_jsonw_str(w, "description", m->description);
	mreg_jsonw_str(w, "file_path", v->file_path);
	mreg_jsonw_str(w, "file_hash", v->file_hash);
	mreg_jsonw_int(w, "file_size_bytes", v->file_size);
	mreg_metrics_write(w, "metrics", &v->metrics, true);
	mreg_version_write_config(w, "training_config", v);
	mreg_jsonw_arr_begin(w, "tags");
	for (size_t i = 0; i < v->ntags; i++)
		mreg_jsonw_str(w, NULL, v->tags[i]);
	mreg_jsonw_arr_end(w);
	mreg_jsonw_str(w, "created_at", v->created_at);
	mreg_jsonw_str(w, "updated_at", v->updated_at);
	mreg_jsonw_int(w, "claimed_version", v->claimed);
	mreg_jsonw_str(w, "ref", v->ref);
	mreg_jsonw_value(w, "validation", v->validation);
	if (v->comparisons)
		mreg_jsonw_value(w, "comparisons", v->comparisons);
	else
		mreg_jsonw_arr_begin(w, "comparisons"), mreg_jsonw_arr_end(w);
	mreg_jsonw_arr_begin(w, "history");
	for (size_t i = 0; i < v->nhistory; i++)
		mreg_transition_write(w, &v->history[i]);
	mreg_jsonw_arr_end(w);
	mreg_jsonw_obj_end(w);
}

/* v, or an empty object or array when it is NULL */
static void write_json_or(mreg_jsonw *w, const char *key, const cJSON *v, bool array)
{
	if (v)
		mreg_jsonw_value(w, key, v);
	else if (array)
		mreg_jsonw_arr_begin(w, key), mreg_jsonw_arr_end(w);
	else
		mreg_jsonw_obj_begin(w, key), mreg_jsonw_obj_end(w);
}

void mreg_state_write_quarantined(mreg_jsonw *w, const mreg_state *st)
{
	mreg_jsonw_arr_begin(w, "quarantined");
	for (size_t i = 0; i < st->nquarantined; i++) {
		mreg_jsonw_obj_begin(w, NULL);
		mreg_jsonw_str(w, "path", st->quarantined[i].path);
		mreg_jsonw_str(w, "problem", st->quarantined[i].problem);
		mreg_jsonw_obj_end(w);
	}
	mreg_jsonw_arr_end(w);
}

/*
 * A file written as pieces (the spans writers): the bytes the writer builds
 * go to out, and bytes kept from the file read (a row, a version) are
 * listed where they lie. A kept piece that lies in src right after the
 * last one, with just the bytes between them that the writer put down
 * before it (a separator and an indent), extends that one: a file written
 * back with one change is a handful of pieces, not one per row.
 */
typedef struct {
	mreg_span *sp;
	size_t n, a;
	size_t mark;			/* out's bytes from here on are not listed yet */
	const char *src, *srcend;	/* the bytes read that kept pieces lie in, when known */
} pieces;

static int pieces_add(pieces *ps, mreg_span s)
{
	if (ps->n == ps->a) {
		size_t a = ps->a ? ps->a * 2 : 16;
		mreg_span *p = realloc(ps->sp, a * sizeof(*p));
		if (!p)
			return mreg_error_set(MREG_ERROR, "out of memory");
		ps->sp = p;
		ps->a = a;
	}
	ps->sp[ps->n++] = s;
	return 0;
}

/* The kept bytes p (len of them), after what the writer put in out since the mark (mreg_jsonw_raw_begin). */
static int pieces_kept(pieces *ps, mreg_buf *out, const char *p, size_t len)
{
	size_t gap = out->size - ps->mark;
	mreg_span *last = ps->n ? &ps->sp[ps->n - 1] : NULL;
	uintptr_t lo = (uintptr_t)ps->src, hi = (uintptr_t)ps->srcend, at = (uintptr_t)p;
	/* both in src, and between them (in src too) the bytes the writer put down */
	if (last && last->ptr && ps->src && (uintptr_t)last->ptr >= lo && at <= hi && len <= hi - at &&
	    (uintptr_t)last->ptr + last->len + gap == at && !memcmp(last->ptr + last->len, out->ptr + ps->mark, gap)) {
		last->len += gap + len;
		mreg_buf_truncate(out, ps->mark);	/* those bytes are in the file read already */
		return 0;
	}
	int rc = gap ? pieces_add(ps, (mreg_span){ NULL, ps->mark, gap }) : 0;
	if (rc == 0)
		rc = pieces_add(ps, (mreg_span){ p, 0, len });
	ps->mark = out->size;
	return rc;
}

/* Pieces kept from the len bytes at src (NULL: none kept), after what out holds already. */
static pieces pieces_from(const mreg_buf *out, const char *src, size_t len)
{
	return (pieces){ NULL, 0, 0, out->size, src, src ? src + len : NULL };
}

/*
 * After the writer (rc its result): the pieces listed, out's last bytes
 * among them, into *spans (the caller frees them); none on an error.
 */
static int pieces_end(pieces *ps, mreg_buf *out, int rc, mreg_span **spans, size_t *nspans)
{
	if (rc == 0 && mreg_buf_oom(out))
		rc = mreg_error_set(MREG_ERROR, "out of memory");
	if (rc == 0 && out->size > ps->mark)
		rc = pieces_add(ps, (mreg_span){ NULL, ps->mark, out->size - ps->mark });
	if (rc < 0) {
		free(ps->sp);
		ps->sp = NULL;
		ps->n = 0;
	}
	*spans = ps->sp;
	*nspans = ps->n;
	return rc;
}

static int write_registry(mreg_buf *out, pieces *ps, const mreg_state *st)
{
	mreg_jsonw w;
	mreg_jsonw_init(&w, out);
	mreg_jsonw_obj_begin(&w, NULL);
	mreg_jsonw_int(&w, "format", MREG_STATE_FORMAT);
	mreg_jsonw_str(&w, "tree", st->tree);
	char digest[33];
	if (st->production_missing) {
		/* a write's state without production.json: it names the file that stays */
		memcpy(digest, st->production_digest, sizeof(digest));
	} else {
		/* a whole state holds every production version: production.json's bytes, hashed */
		mreg_buf prod = MREG_BUF_INIT;
		if (mreg_state_write_production(&prod, st) < 0) {
			mreg_buf_dispose(&prod);
			return mreg_error_set(MREG_ERROR, "out of memory");
		}
		mreg_hash128(digest, prod.ptr, prod.size);
		mreg_buf_dispose(&prod);
	}
	mreg_jsonw_str(&w, "production_digest", digest);
	mreg_jsonw_int(&w, "clock", st->clock);
	mreg_jsonw_str(&w, "last_event", st->last_event);
	mreg_jsonw_int(&w, "events", st->nevents);
	mreg_jsonw_obj_begin(&w, "event_types");
	for (int i = 0; i < MREG_EV_COUNT; i++)
		mreg_jsonw_int(&w, mreg_event_type_name((mreg_event_type)i), st->by_type[i]);
	mreg_jsonw_obj_end(&w);
	mreg_jsonw_int(&w, "models", (int64_t)st->nmodels);
	mreg_jsonw_int(&w, "versions", st->nversions);
	mreg_jsonw_obj_begin(&w, "stages");
	for (int i = 0; i < MREG_STAGE_COUNT; i++)
		mreg_jsonw_int(&w, mreg_stage_name((mreg_stage)i), st->stage_count[i]);
	mreg_jsonw_obj_end(&w);
	mreg_jsonw_obj_begin(&w, "types");
	for (int i = 0; i < MREG_TYPE_COUNT; i++)
		mreg_jsonw_int(&w, mreg_type_name((mreg_model_type)i), st->type_count[i]);
	mreg_jsonw_obj_end(&w);
	mreg_jsonw_arr_begin(&w, "conflicts");
	for (size_t i = 0; i < st->nconflicts; i++) {
		const mreg_conflict *c = &st->conflicts[i];
		mreg_jsonw_obj_begin(&w, NULL);
		mreg_jsonw_str(&w, "event", c->event);
		mreg_jsonw_str(&w, "type", c->type);
		mreg_jsonw_str(&w, "model_id", c->model);
		mreg_jsonw_int(&w, "version", c->version);
		mreg_jsonw_str(&w, "message", c->message);
		mreg_jsonw_str(&w, "time", c->time);
		mreg_jsonw_str(&w, "actor", c->actor);
		mreg_jsonw_obj_end(&w);
	}
	mreg_jsonw_arr_end(&w);
	mreg_state_write_quarantined(&w, st);
	mreg_jsonw_int(&w, "event_files", st->nfiles);
	mreg_jsonw_int(&w, "forged_clock", st->forged_clock);
	write_json_or(&w, "baselines", st->baselines, false);
	write_json_or(&w, "pending_rollbacks", st->pending, false);
	write_json_or(&w, "rollbacks", st->rollbacks, true);
	write_json_or(&w, "monitor", st->monitor, false);
	mreg_jsonw_arr_begin(&w, "model_list");
	for (size_t i = 0; i < st->nmodels; i++) {
		const mreg_model *m = st->models[i];
		if (m->row && ps) {	/* a write's model it did not load: its row as it was, where it lies */
			mreg_jsonw_raw_begin(&w, NULL);
			if (pieces_kept(ps, out, m->row, m->rowlen) < 0)
				return MREG_ERROR;
			continue;
		}
		if (m->row) {
			mreg_jsonw_raw(&w, NULL, m->row, m->rowlen);
			continue;
		}
		mreg_jsonw_obj_begin(&w, NULL);
		mreg_jsonw_str(&w, "model_id", m->id);
		mreg_jsonw_str(&w, "name", m->name);
		mreg_jsonw_str(&w, "model_type", mreg_type_name(m->type));
		mreg_jsonw_str(&w, "description", m->description);
		mreg_jsonw_str(&w, "created_at", m->created_at);
		mreg_jsonw_str(&w, "updated_at", m->updated_at);
		mreg_jsonw_int(&w, "versions", m->nversions);
		mreg_jsonw_int(&w, "latest_version", m->latest);
		mreg_jsonw_int(&w, "clock", m->clock);
		mreg_jsonw_str(&w, "last_event", m->last_event);
		/* a write's state has the production versions of the models it loaded; the others' by number */
		mreg_jsonw_int(&w, "production_version",
			       m->prod ? m->prod->version : st->production_missing && !m->loaded ? m->summary_prod : 0);
		mreg_jsonw_obj_end(&w);
	}
	mreg_jsonw_arr_end(&w);
	mreg_jsonw_obj_end(&w);
	return mreg_jsonw_finish(&w) < 0 ? mreg_error_set(MREG_ERROR, "out of memory") : 0;
}

int mreg_state_write_registry(mreg_buf *out, const mreg_state *st)
{
	return write_registry(out, NULL, st);
}

int mreg_state_write_registry_spans(mreg_buf *own, mreg_span **spans, size_t *nspans, const mreg_state *st)
{
	pieces ps = pieces_from(own, st->rowsrc, st->rowsrclen);
	int rc = write_registry(own, &ps, st);
	return pieces_end(&ps, own, rc, spans, nspans);
}

/* The model file; with ps, untouched versions are listed as pieces, not copied. */
static int write_model(mreg_buf *out, pieces *ps, const mreg_model *m)
{
	mreg_jsonw w;

	if (!ps) {
		size_t guess = 4096;	/* grow once, not by copying the file over and over */
		for (int i = 0; i < m->nversions; i++)
			guess += m->versions[i].raw ? m->versions[i].rawlen + 8 : 4096;
		mreg_buf_grow(out, guess);
	}
	mreg_jsonw_init(&w, out);
	mreg_jsonw_obj_begin(&w, NULL);
	mreg_jsonw_int(&w, "format", MREG_STATE_FORMAT);
	mreg_jsonw_str(&w, "model_id", m->id);
	mreg_jsonw_str(&w, "name", m->name);
	mreg_jsonw_str(&w, "model_type", mreg_type_name(m->type));
	mreg_jsonw_str(&w, "description", m->description);
	mreg_jsonw_str(&w, "created_at", m->created_at);
	mreg_jsonw_str(&w, "updated_at", m->updated_at);
	mreg_jsonw_int(&w, "clock", m->clock);
	mreg_jsonw_str(&w, "last_event", m->last_event);
	mreg_jsonw_int(&w, "production_version", m->prod ? m->prod->version : 0);
	mreg_jsonw_int(&w, "latest_version", m->latest);
	mreg_jsonw_arr_begin(&w, "versions");
	for (int i = 0; i < m->nversions; i++) {
		const mreg_version *v = &m->versions[i];
		if (!v->raw) {
			mreg_version_write(&w, NULL, m, v);
		} else if (!ps) {	/* untouched since loaded: the same bytes again */
			mreg_jsonw_raw(&w, NULL, v->raw, v->rawlen);
		} else {
			mreg_jsonw_raw_begin(&w, NULL);
			if (pieces_kept(ps, out, v->raw, v->rawlen) < 0)
				return MREG_ERROR;
		}
	}
	mreg_jsonw_arr_end(&w);
	mreg_jsonw_obj_end(&w);
	return mreg_jsonw_finish(&w) < 0 ? mreg_error_set(MREG_ERROR, "out of memory") : 0;
}

int mreg_state_write_model(mreg_buf *out, const mreg_model *m)
{
	return write_model(out, NULL, m);
}

int mreg_state_write_model_spans(mreg_buf *own, mreg_span **spans, size_t *nspans, const mreg_model *m)
{
	pieces ps = pieces_from(own, m->rawsrc, m->rawsrclen);
	int rc = write_model(own, &ps, m);
	return pieces_end(&ps, own, rc, spans, nspans);
}
