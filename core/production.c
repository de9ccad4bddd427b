/*
 * state/production.json: model id -> its production version, what an
 * inference server reads; and the digest of one model's entry, by which a
 * write tells whether it must rewrite the file (fsstore/cache.c).
 */
#include "state.h"

#include <string.h>

static void write_prod(mreg_jsonw *w, const char *key, const mreg_model *m)
{
	if (!m->prod)
		mreg_jsonw_null(w, key);
	else
		mreg_version_write(w, key, m, m->prod);
}

int mreg_state_write_production(mreg_buf *out, const mreg_state *st)
{
	mreg_jsonw w;
	mreg_jsonw_init(&w, out);
	mreg_jsonw_obj_begin(&w, NULL);
	mreg_jsonw_int(&w, "format", MREG_STATE_FORMAT);
	mreg_jsonw_obj_begin(&w, "models");
	for (size_t i = 0; i < st->nmodels; i++)
		if (st->models[i]->prod)
			write_prod(&w, st->models[i]->id, st->models[i]);
	mreg_jsonw_obj_end(&w);
	mreg_jsonw_obj_end(&w);
	return mreg_jsonw_finish(&w) < 0 ? mreg_error_set(MREG_ERROR, "out of memory") : 0;
}

int mreg_state_production_entry_digest(char out[33], const mreg_model *m)
{
	mreg_buf b = MREG_BUF_INIT;
	mreg_jsonw w;
	if (!m->prod) {
		strcpy(out, "-");
		return 0;
	}
	/* at the depth production.json holds it: an object's member in an object */
	mreg_jsonw_init(&w, &b);
	mreg_jsonw_obj_begin(&w, NULL);
	mreg_jsonw_obj_begin(&w, "models");
	write_prod(&w, m->id, m);
	mreg_jsonw_obj_end(&w);
	mreg_jsonw_obj_end(&w);
	int rc = mreg_jsonw_finish(&w) < 0 ? mreg_error_set(MREG_ERROR, "out of memory") : 0;
	if (rc == 0)
		mreg_hash128(out, b.ptr, b.size);
	mreg_buf_dispose(&b);
	return rc;
}
