/*
 * Fuzzing the state-file readers (core/stateread.c, core/statelazy.c):
 * they read files that sit in the work tree, where anyone may have edited
 * them, and trust nothing (a file that does not read is folded anew from the log).
 *
 * An input is up to four files cut apart by SEP: registry.json,
 * production.json, then model files. Each goes through every reader that
 * takes it, the lazy ones and the full ones, on a state read from the
 * registry file and on its own; every version read is then materialized,
 * and whatever read whole is written out again, as a writer does with the
 * state it loaded; registry.json also as a write reads it, its rows kept
 * as bytes, and as a listing of one model reads it (models square_8 and
 * other, the seeds'). Each file is copied into a buffer of its exact size, so
 * a read past its end is caught.
 *
 * A reader must answer 0 or a negative code, with a one-line message: a
 * crash, leak or undefined behaviour anywhere fails.
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "state.h"

#define SEP "\n--8<--\n"
#define MAX_PARTS 4

#define CHECK(cond)                  \
	do {                         \
		if (!(cond))         \
			abort();     \
	} while (0)

typedef struct {
	char *data;	/* exactly len bytes, no NUL after them */
	size_t len;
} part;

static size_t split(part *parts, const uint8_t *data, size_t size)
{
	const char *p = (const char *)data, *end = p + size;
	size_t n = 0, sl = sizeof(SEP) - 1;
	while (n < MAX_PARTS) {
		const char *q = p;
		while (q + sl <= end && memcmp(q, SEP, sl))
			q++;
		if (q + sl > end)
			q = end;
		parts[n].len = (size_t)(q - p);
		parts[n].data = malloc(parts[n].len ? parts[n].len : 1);
		CHECK(parts[n].data);
		memcpy(parts[n].data, p, parts[n].len);
		n++;
		if (q == end)
			break;
		p = q + sl;
	}
	return n;
}

static void check_rc(int rc)
{
	CHECK(rc <= 0);
	if (rc < 0)
		CHECK(!strchr(mreg_error_last(), '\n'));
}

static void materialize_all(mreg_state *st)
{
	for (size_t i = 0; st && i < st->nmodels; i++) {
		mreg_model *m = st->models[i];
		if (m->prod)
			check_rc(mreg_version_materialize(m->prod));
		for (int k = 0; m->loaded && m->versions && k < m->nversions; k++)
			check_rc(mreg_version_materialize(&m->versions[k]));
	}
}

/* What a spans writer wrote (rc, own and its spans) is what the plain writer wrote (want). */
static void same_as_spans(const mreg_buf *want, int rc, const mreg_buf *own, mreg_span *spans, size_t n)
{
	check_rc(rc);
	if (rc < 0)
		return;
	size_t at = 0;
	for (size_t i = 0; i < n; i++) {
		const char *p = spans[i].ptr ? spans[i].ptr : own->ptr + spans[i].off;
		CHECK(spans[i].ptr || spans[i].off + spans[i].len <= own->size);
		CHECK(at + spans[i].len <= want->size && !memcmp(want->ptr + at, p, spans[i].len));
		at += spans[i].len;
	}
	CHECK(at == want->size);
	free(spans);
}

/*
 * Write st out as a writer would: registry, production, and every model
 * file read; registry.json and the model files also as spans (the kept
 * rows and versions where they lie), which must give the same bytes.
 */
static void write_all(const mreg_state *st)
{
	mreg_buf b = MREG_BUF_INIT, own = MREG_BUF_INIT;
	mreg_span *spans;
	size_t n;
	int rc = mreg_state_write_registry(&b, st);
	check_rc(rc);
	if (rc == 0) {
		rc = mreg_state_write_registry_spans(&own, &spans, &n, st);	/* before spans and n are passed on */
		same_as_spans(&b, rc, &own, spans, n);
	}
	mreg_buf_clear(&b);
	check_rc(mreg_state_write_production(&b, st));
	for (size_t i = 0; i < st->nmodels; i++) {
		const mreg_model *m = st->models[i];
		if (!m->loaded || (m->nversions && !m->versions))
			continue;
		mreg_buf_clear(&b);
		rc = mreg_state_write_model(&b, m);
		check_rc(rc);
		mreg_buf_clear(&own);
		if (rc == 0) {
			rc = mreg_state_write_model_spans(&own, &spans, &n, m);
			same_as_spans(&b, rc, &own, spans, n);
		}
	}
	mreg_buf_dispose(&own);
	mreg_buf_dispose(&b);
}

/* registry.json, then production.json attached and the model files read into it. */
static void read_on_registry(const part *parts, size_t n, bool lazy)
{
	mreg_state *st = NULL;
	int rc = mreg_state_read_registry(&st, parts[0].data, parts[0].len);
	check_rc(rc);
	if (rc < 0)
		return;
	if (n > 1)
		check_rc(mreg_state_attach_production(st, parts[1].data, parts[1].len, lazy));
	for (size_t i = 2; i < n; i++)
		check_rc(mreg_state_read_model(st, parts[i].data, parts[i].len, lazy));
	if (!lazy)
		write_all(st);
	materialize_all(st);
	write_all(st);
	mreg_state_free(st);
}

/*
 * On a state whose models keep their rows: the model files read lazily
 * into it, written out as a write would; then every row and version read
 * whole.
 */
static void models_written(mreg_state *st, const part *parts, size_t n)
{
	for (size_t i = 2; i < n; i++)
		check_rc(mreg_state_read_model(st, parts[i].data, parts[i].len, true));
	write_all(st);
	check_rc(mreg_state_rows_materialize(st));
	materialize_all(st);
}

/*
 * registry.json as a write reads it (its model rows kept as bytes, in a
 * buffer the state takes, or borrowed from a mapping), the model files
 * read lazily into it, then written out: the models loaded from their
 * rows, the others as their bytes; then every row read whole.
 */
static void read_rows(const part *parts, size_t n, bool borrowed)
{
	mreg_state *st = NULL;
	char *buf = malloc(parts[0].len ? parts[0].len : 1);
	CHECK(buf);
	memcpy(buf, parts[0].data, parts[0].len);
	int rc = borrowed ? mreg_state_borrow_registry_rows(&st, buf, parts[0].len)
			  : mreg_state_read_registry_rows(&st, buf, parts[0].len);
	CHECK(rc <= 1);
	if (rc == 0) {
		CHECK(borrowed ? !st->rowbuf : st->rowbuf == buf);
		models_written(st, parts, n);
		write_all(st);
		mreg_state_free(st);
	} else {
		check_rc(rc < 0 ? rc : 0);
	}
	if (rc != 0 || borrowed)
		free(buf);	/* else the state took it */
}

/*
 * registry.json as a listing of one model reads it (the head and model
 * id's row only), the model files read lazily into it, written out: at
 * most one model, and that one named id.
 */
static void read_row(const part *parts, size_t n, const char *id)
{
	mreg_state *st = NULL;
	int rc = mreg_state_read_registry_row(&st, parts[0].data, parts[0].len, id);
	CHECK(rc <= 1);
	if (rc != 0) {
		CHECK(!st);
		if (rc < 0)
			check_rc(rc);
		return;
	}
	CHECK(st->nmodels <= 1);
	CHECK(!st->nmodels || !strcmp(st->models[0]->id, id));
	models_written(st, parts, n);
	mreg_state_free(st);
}

static void read_alone(const part *p, int version)
{
	mreg_state *st = NULL;
	int rc = mreg_state_read_production(&st, p->data, p->len);
	check_rc(rc);
	materialize_all(st);
	mreg_state_free(st);
	st = NULL;
	rc = mreg_state_borrow_production(&st, p->data, p->len);
	CHECK(rc <= 1);
	if (rc < 1)
		check_rc(rc);
	materialize_all(st);
	mreg_state_free(st);
	st = NULL;
	rc = mreg_state_read_model_alone(&st, p->data, p->len);
	check_rc(rc);
	if (rc == 0)
		write_all(st);
	mreg_state_free(st);
	st = NULL;
	rc = mreg_state_read_model_version(&st, p->data, p->len, version);
	check_rc(rc);
	materialize_all(st);
	mreg_state_free(st);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	part parts[MAX_PARTS];
	size_t n = split(parts, data, size);
	mreg_error_clear();
	read_on_registry(parts, n, true);
	read_on_registry(parts, n, false);
	read_rows(parts, n, false);
	read_rows(parts, n, true);
	read_row(parts, n, "square_8");
	read_row(parts, n, "other");
	for (size_t i = 1; i < n; i++)
		read_alone(&parts[i], (int)(size % 4));	/* 0: the latest; else a number */
	for (size_t i = 0; i < n; i++)
		free(parts[i].data);
	return 0;
}
