/*
 * Unit tests for the state: convergence of the fold, the state files as a
 * cache, and the invariant checker (core/fold.c, core/statefile.c,
 * core/stateread.c).
 *
 * One generated event set (three models, 40 events, with concurrent
 * registrations that renumber and concurrent promotions that conflict) is
 * folded into a reference state whose files (registry.json, production.json,
 * one file per model) are the bytes everything else must reproduce: any
 * arrival order sorted by (clock, id), and any split into "fold k events,
 * write the files, read them back as a partial state, apply the rest".
 */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "event.h"
#include "state.h"

#define NEVENTS 40
#define BASE_USEC (1767225600LL * 1000000)	/* 2026-01-01T00:00:00Z */
#define FAKE_HEX "00112233445566778899aabbccddeeff"

static mreg_event *events[NEVENTS];
static size_t nevents;

/* ---- building the event set ----------------------------------------- */

static mreg_event *envelope(mreg_event_type type, int64_t clock, const char *node, const char *model,
			    const mreg_event *reg)
{
	mreg_event *ev = calloc(1, sizeof(*ev));
	assert_non_null(ev);
	mreg_event_init(ev);
	ev->type = type;
	ev->clock = clock;
	mreg_time_format(ev->time, BASE_USEC + clock * 1000000 + (int64_t)nevents);
	ev->actor = mreg_strdup(node[1] == '1' ? "alice" : "bob");
	ev->node = mreg_strdup(node);
	ev->model = mreg_strdup(model);
	if (reg) {
		memcpy(ev->ref, reg->id, sizeof(ev->ref));
		ev->version = reg->version;
	}
	return ev;
}

static mreg_event *finish(mreg_event *ev)
{
	mreg_buf b = MREG_BUF_INIT;
	if (mreg_event_serialize(&b, ev) < 0)
		fail_msg("serialize: %s", mreg_error_last());
	mreg_buf_dispose(&b);
	assert_true(nevents < NEVENTS);
	events[nevents++] = ev;
	return ev;
}

static mreg_event *reg(int64_t clock, const char *node, const char *model, int version, mreg_stage stage,
		       mreg_model_type type)
{
	mreg_event *ev = envelope(MREG_EV_REGISTERED, clock, node, model, NULL);
	ev->version = version;
	ev->name = mreg_strfmt("%s model", model);
	ev->description = mreg_strfmt("from %s", node);
	ev->model_type = type;
	ev->stage = stage;
	ev->file_path = mreg_strdup("blobs/00/11/" FAKE_HEX ".pt");
	strcpy(ev->file_hash, "xxh128:" FAKE_HEX);
	ev->file_size = 1000 + clock;
	ev->training_config = cJSON_CreateObject();
	cJSON_AddNumberToObject(ev->training_config, "epochs", (double)(10 * clock));
	cJSON_AddStringToObject(ev->training_config, "note", node);	/* goes to extra_config */
	return finish(ev);
}

static void prom(int64_t clock, const char *node, const mreg_event *r, mreg_stage from, mreg_stage to)
{
	mreg_event *ev = envelope(MREG_EV_PROMOTED, clock, node, r->model, r);
	ev->from = from;
	ev->to = to;
	ev->reason = mreg_strfmt("%s -> %s by %s", mreg_stage_name(from), mreg_stage_name(to), node);
	finish(ev);
}

static void metrics(int64_t clock, const char *node, const mreg_event *r, bool replace, const char *kv1,
		    const char *kv2)
{
	mreg_event *ev = envelope(MREG_EV_METRICS, clock, node, r->model, r);
	ev->replace = replace;
	assert_int_equal(mreg_metrics_set_kv(&ev->metrics, kv1), 0);
	if (kv2)
		assert_int_equal(mreg_metrics_set_kv(&ev->metrics, kv2), 0);
	finish(ev);
}

static void tag(int64_t clock, const char *node, const mreg_event *r, const char *t, bool untag)
{
	mreg_event *ev = envelope(untag ? MREG_EV_UNTAGGED : MREG_EV_TAGGED, clock, node, r->model, r);
	ev->tags = calloc(1, sizeof(char *));
	ev->tags[0] = mreg_strdup(t);
	ev->ntags = 1;
	finish(ev);
}

#define D MREG_STAGE_DEVELOPMENT
#define S MREG_STAGE_STAGING
#define P MREG_STAGE_PRODUCTION
#define A MREG_STAGE_ARCHIVED
#define R MREG_STAGE_REJECTED

/* Indexes of the two concurrent beta promotions whose order decides
 * whether the second is a conflict (see expected_conflicts). */
static size_t beta_up, beta_down;

static void build_events(void)
{
	mreg_event *a1, *a2, *a2b, *b1, *b1b, *g1, *g2, *g3;

	/* alpha: two nodes claim version 2 at clock 2 */
	a1 = reg(1, "n1", "alpha", 1, D, MREG_TYPE_POLICY_VALUE);
	a2 = reg(2, "n1", "alpha", 2, D, MREG_TYPE_POLICY_VALUE);
	a2b = reg(2, "n2", "alpha", 2, D, MREG_TYPE_POLICY_VALUE);
	prom(3, "n1", a1, D, S);
	prom(4, "n1", a1, S, P);	/* these two: one applies, one conflicts */
	prom(4, "n2", a1, S, R);
	metrics(5, "n2", a2b, false, "elo=1500", "games_played=20");
	tag(5, "n1", a2, "candidate", false);
	prom(6, "n1", a2, D, S);
	prom(7, "n1", a2, S, P);
	prom(7, "n2", a2b, D, S);
	prom(8, "n2", a2b, S, P);	/* replaces a2 */
	tag(8, "n1", a2, "candidate", true);
	reg(9, "n3", "alpha", 3, P, MREG_TYPE_POLICY_VALUE);	/* 3 is taken: 4, straight into production */

	/* beta: two nodes register version 1 of a new model at the same clock */
	b1 = reg(1, "n2", "beta", 1, S, MREG_TYPE_HEURISTIC);
	b1b = reg(1, "n3", "beta", 1, D, MREG_TYPE_HEURISTIC);
	prom(2, "n2", b1, S, P);
	prom(3, "n3", b1b, D, S);
	metrics(3, "n2", b1, true, "win_rate=0.6", NULL);
	beta_up = nevents;
	prom(5, "n3", b1b, S, P);
	beta_down = nevents;
	prom(5, "n2", b1, P, S);
	tag(6, "n2", b1, "old", false);
	tag(6, "n3", b1b, "new", false);
	reg(7, "n2", "beta", 3, D, MREG_TYPE_HEURISTIC);
	reg(7, "n3", "beta", 3, D, MREG_TYPE_HEURISTIC);
	tag(9, "n2", b1, "old", true);
	metrics(10, "n2", b1b, false, "elo=1700", NULL);

	/* gamma */
	g1 = reg(2, "n1", "gamma", 1, D, MREG_TYPE_EXPERIMENTAL);
	prom(3, "n1", g1, D, A);
	prom(4, "n1", g1, A, D);	/* one applies, the other conflicts */
	prom(4, "n2", g1, A, D);
	g2 = reg(5, "n1", "gamma", 2, S, MREG_TYPE_EXPERIMENTAL);
	prom(6, "n1", g2, S, P);	/* one applies, the other conflicts */
	prom(6, "n3", g2, S, D);
	g3 = reg(8, "n1", "gamma", 3, P, MREG_TYPE_EXPERIMENTAL);
	metrics(9, "n1", g3, false, "elo=10", "games_played=5");
	tag(10, "n1", g3, "x", false);
	tag(10, "n2", g3, "x", false);
	prom(11, "n1", g3, P, A);
	/* a promotion naming a registration gamma does not have */
	mreg_event *ghost = envelope(MREG_EV_PROMOTED, 11, "n2", "gamma", g3);
	memset(ghost->ref, 'f', 32);
	ghost->from = D;
	ghost->to = S;
	ghost->reason = mreg_strdup("");
	finish(ghost);
	assert_int_equal(nevents, NEVENTS);
}

static int setup_events(void **state)
{
	(void)state;
	build_events();
	return 0;
}

static int teardown_events(void **state)
{
	(void)state;
	for (size_t i = 0; i < nevents; i++)
		mreg_event_free(events[i]);
	nevents = 0;
	return 0;
}

/* ---- folding and writing -------------------------------------------- */

static int cmp_events(const void *a, const void *b)
{
	return mreg_event_cmp(*(mreg_event *const *)a, *(mreg_event *const *)b);
}

static void sorted(mreg_event **out)
{
	memcpy(out, events, sizeof(events));
	qsort(out, NEVENTS, sizeof(*out), cmp_events);
}

static void apply(mreg_state *st, const mreg_event *ev)
{
	if (mreg_fold_apply(st, ev) < 0)
		fail_msg("fold %s: %s", ev->id, mreg_error_last());
}

static mreg_state *fold(mreg_event **evs, size_t n)
{
	mreg_state *st;
	assert_int_equal(mreg_state_new(&st), 0);
	for (size_t i = 0; i < n; i++)
		apply(st, evs[i]);
	return st;
}

static char *model_file(const mreg_model *m)
{
	mreg_buf b = MREG_BUF_INIT;
	assert_true(m->loaded);
	assert_int_equal(mreg_state_write_model(&b, m), 0);
	return mreg_buf_detach(&b);
}

static char *registry_file(const mreg_state *st)
{
	mreg_buf b = MREG_BUF_INIT;
	assert_int_equal(mreg_state_write_registry(&b, st), 0);
	return mreg_buf_detach(&b);
}

static char *production_file(const mreg_state *st)
{
	mreg_buf b = MREG_BUF_INIT;
	assert_int_equal(mreg_state_write_production(&b, st), 0);
	return mreg_buf_detach(&b);
}

/* Every state file of a fully loaded state, concatenated with headers. */
static char *all_files(const mreg_state *st)
{
	mreg_buf b = MREG_BUF_INIT;
	char *s = registry_file(st);
	mreg_buf_printf(&b, "== registry.json\n%s", s);
	free(s);
	s = production_file(st);
	mreg_buf_printf(&b, "== production.json\n%s", s);
	free(s);
	for (size_t i = 0; i < st->nmodels; i++) {
		s = model_file(st->models[i]);
		mreg_buf_printf(&b, "== models/%s.json\n%s", st->models[i]->id, s);
		free(s);
	}
	return mreg_buf_detach(&b);
}

static uint64_t rng = 0x853c49e6748fea9bull;

static uint64_t rng_next(void)
{
	uint64_t z = (rng += 0x9e3779b97f4a7c15ull);
	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ull;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebull;
	return z ^ (z >> 31);
}

/* ---- the reference state -------------------------------------------- */

static const mreg_version *version_by_ref(const mreg_state *st, const mreg_event *reg)
{
	const mreg_model *m = mreg_state_model(st, reg->model);
	assert_non_null(m);
	const mreg_version *v = mreg_model_version_by_ref(m, reg->id, 0);
	assert_non_null(v);
	return v;
}

/* Of two events at one clock, the one that folds first. */
static const mreg_event *first_of(const mreg_event *a, const mreg_event *b)
{
	assert_int_equal(a->clock, b->clock);
	return mreg_event_cmp(a, b) < 0 ? a : b;
}

static void generated_set_renumbers_and_conflicts(void **state)
{
	(void)state;
	mreg_event *evs[NEVENTS];
	sorted(evs);
	mreg_state *st = fold(evs, NEVENTS);

	assert_int_equal(st->nevents, NEVENTS);
	assert_int_equal(st->nmodels, 3);
	assert_int_equal(st->nversions, 11);
	assert_int_equal(st->by_type[MREG_EV_REGISTERED], 11);
	assert_int_equal(st->by_type[MREG_EV_PROMOTED], 18);
	assert_int_equal(st->by_type[MREG_EV_METRICS], 4);
	assert_int_equal(st->by_type[MREG_EV_TAGGED], 5);
	assert_int_equal(st->by_type[MREG_EV_UNTAGGED], 2);

	/* alpha: of the two claims of 2 (events 1 and 2), the first keeps 2 */
	const mreg_event *first = first_of(events[1], events[2]);
	const mreg_event *second = first == events[1] ? events[2] : events[1];
	assert_int_equal(version_by_ref(st, first)->version, 2);
	assert_int_equal(version_by_ref(st, first)->claimed, 2);
	assert_int_equal(version_by_ref(st, second)->version, 3);
	assert_int_equal(version_by_ref(st, second)->claimed, 2);
	/* the registration at clock 9 claimed 3 and went straight to production as 4 */
	assert_int_equal(version_by_ref(st, events[13])->version, 4);
	assert_int_equal(version_by_ref(st, events[13])->claimed, 3);
	const mreg_model *alpha = mreg_state_model(st, "alpha");
	assert_int_equal(alpha->latest, 4);
	assert_non_null(alpha->prod);
	assert_int_equal(alpha->prod->version, 4);

	/* beta: the two registrations of version 1 */
	first = first_of(events[14], events[15]);
	assert_int_equal(version_by_ref(st, first)->version, 1);
	second = first == events[14] ? events[15] : events[14];
	assert_int_equal(version_by_ref(st, second)->version, 2);
	assert_int_equal(version_by_ref(st, second)->claimed, 1);
	const mreg_model *beta = mreg_state_model(st, "beta");
	assert_int_equal(beta->nversions, 4);
	assert_non_null(beta->prod);
	assert_int_equal(beta->prod->version, version_by_ref(st, events[15])->version);

	/* gamma ends with no production version */
	assert_null(mreg_state_model(st, "gamma")->prod);

	/*
	 * Conflicts: one of each concurrent pair (alpha at clock 4, gamma at 4
	 * and 6), the unknown ref, and at beta's clock 5 only if the promotion
	 * to production folds first (it archives the version the other one
	 * moves out of production).
	 */
	size_t want = 4 + (mreg_event_cmp(events[beta_up], events[beta_down]) < 0 ? 1 : 0);
	assert_int_equal(st->nconflicts, want);
	int64_t prod = 0;
	for (size_t i = 0; i < st->nmodels; i++)
		prod += st->models[i]->prod != NULL;
	assert_int_equal(st->stage_count[MREG_STAGE_PRODUCTION], prod);
	mreg_state_free(st);
}

/* ---- convergence ---------------------------------------------------- */

/* The state files of the event set folded in order; evs holds it sorted. */
static char *reference_files(mreg_event **evs)
{
	sorted(evs);
	mreg_state *ref = fold(evs, NEVENTS);
	char *want = all_files(ref);
	mreg_state_free(ref);
	return want;
}

/*
 * Events prepared as a full fold's readers prepare them (mreg_fold_prepare:
 * a registration's training_config made ahead) fold to the same files as
 * events that were not; the prepared config is the event's own, not shared.
 */
static void prepared_events_fold_to_identical_files(void **state)
{
	(void)state;
	mreg_event *evs[NEVENTS];
	char *want = reference_files(evs);
	size_t prepared = 0;
	for (size_t i = 0; i < NEVENTS; i++) {
		assert_int_equal(mreg_fold_prepare(evs[i]), 0);
		prepared += evs[i]->version_config != NULL;
		assert_int_equal(evs[i]->version_config != NULL, evs[i]->type == MREG_EV_REGISTERED);
	}
	assert_true(prepared > 0);
	mreg_state *st = fold(evs, NEVENTS);
	char *got = all_files(st);
	const mreg_version *v = version_by_ref(st, evs[0]);
	assert_ptr_not_equal(v->training_config, evs[0]->version_config);
	assert_string_equal(v->training_config, evs[0]->version_config);
	mreg_state_free(st);
	for (size_t i = 0; i < NEVENTS; i++) {	/* as read: the other cases fold them unprepared */
		free(evs[i]->version_config);
		evs[i]->version_config = NULL;
	}
	if (strcmp(got, want))
		fprintf(stderr, "--- unprepared\n%s--- prepared\n%s", want, got);
	assert_string_equal(got, want);
	free(got);
	free(want);
}

static void shuffled_arrivals_fold_to_identical_files(void **state)
{
	(void)state;
	mreg_event *evs[NEVENTS];
	char *want = reference_files(evs);

	for (int round = 0; round < 20; round++) {
		memcpy(evs, events, sizeof(events));
		for (size_t i = NEVENTS - 1; i > 0; i--) {
			size_t j = (size_t)(rng_next() % (i + 1));
			mreg_event *t = evs[i];
			evs[i] = evs[j];
			evs[j] = t;
		}
		qsort(evs, NEVENTS, sizeof(*evs), cmp_events);
		mreg_state *st = fold(evs, NEVENTS);
		char *got = all_files(st);
		mreg_state_free(st);
		if (strcmp(got, want)) {
			fprintf(stderr, "--- reference\n%s--- round %d\n%s", want, round, got);
			free(got);
			free(want);
			fail_msg("round %d: state files differ from the reference", round);
		}
		free(got);
	}
	free(want);
}

/* ---- incremental = full --------------------------------------------- */

typedef struct {
	char *id;
	char *bytes;
} stored_file;

/* Load a model of a partial state from the stored files, if not loaded (lazily: versions kept as bytes). */
static void load_model(mreg_state *st, stored_file *files, size_t nfiles, const char *id, bool lazy)
{
	mreg_model *m = mreg_state_model(st, id);
	if (!m || m->loaded)
		return;
	for (size_t i = 0; i < nfiles; i++)
		if (!strcmp(files[i].id, id)) {
			if (mreg_state_read_model(st, files[i].bytes, strlen(files[i].bytes), lazy) < 0)
				fail_msg("read model %s: %s", id, mreg_error_last());
			assert_true(m->loaded);
			return;
		}
	fail_msg("no stored file for model %s", id);
}

static void check_incremental(bool lazy)
{
	static const size_t splits[] = { 0, 1, 3, 7, 13, 20, 27, 33, 38, 39, 40 };
	mreg_event *evs[NEVENTS];
	sorted(evs);
	mreg_state *ref = fold(evs, NEVENTS);
	char *want_registry = registry_file(ref);
	char *want_production = production_file(ref);

	for (size_t s = 0; s < sizeof(splits) / sizeof(splits[0]); s++) {
		size_t k = splits[s];
		mreg_state *first = fold(evs, k);
		char *reg_bytes = registry_file(first);
		char *prod_bytes = production_file(first);	/* lazily attached versions point into it */
		stored_file files[8];
		size_t nfiles = first->nmodels;
		assert_true(nfiles <= 8);
		for (size_t i = 0; i < nfiles; i++) {
			files[i].id = strdup(first->models[i]->id);
			files[i].bytes = model_file(first->models[i]);
		}
		mreg_state_free(first);

		mreg_state *st = NULL;
		if (mreg_state_read_registry(&st, reg_bytes, strlen(reg_bytes)) < 0)
			fail_msg("k=%zu: read registry: %s", k, mreg_error_last());
		if (mreg_state_attach_production(st, prod_bytes, strlen(prod_bytes), lazy) < 0)
			fail_msg("k=%zu: attach production: %s", k, mreg_error_last());
		for (size_t i = 0; i < st->nmodels; i++)
			assert_false(st->models[i]->loaded);
		for (size_t i = k; i < NEVENTS; i++) {
			load_model(st, files, nfiles, evs[i]->model, lazy);
			apply(st, evs[i]);
		}

		char *got = registry_file(st);
		if (strcmp(got, want_registry)) {
			fprintf(stderr, "--- full\n%s--- k=%zu\n%s", want_registry, k, got);
			fail_msg("k=%zu: registry.json differs from the one-shot fold", k);
		}
		free(got);
		got = production_file(st);
		if (strcmp(got, want_production))
			fail_msg("k=%zu: production.json differs from the one-shot fold", k);
		free(got);
		assert_int_equal(st->nmodels, ref->nmodels);
		for (size_t i = 0; i < st->nmodels; i++) {
			const mreg_model *m = st->models[i];
			char *want_model = model_file(ref->models[i]);
			if (m->loaded) {
				got = model_file(m);
			} else {
				/* untouched since k: its stored file is still current */
				got = NULL;
				for (size_t j = 0; j < nfiles; j++)
					if (!strcmp(files[j].id, m->id))
						got = strdup(files[j].bytes);
				assert_non_null(got);
			}
			if (strcmp(got, want_model)) {
				fprintf(stderr, "--- full\n%s--- k=%zu\n%s", want_model, k, got);
				fail_msg("k=%zu: models/%s.json differs from the one-shot fold", k, m->id);
			}
			free(got);
			free(want_model);
		}
		mreg_state_free(st);
		for (size_t i = 0; i < nfiles; i++) {
			free(files[i].id);
			free(files[i].bytes);
		}
		free(reg_bytes);
		free(prod_bytes);
	}
	free(want_registry);
	free(want_production);
	mreg_state_free(ref);
}

static void incremental_fold_equals_full_fold(void **state)
{
	(void)state;
	check_incremental(false);
}

/* Production versions as listed: every version at depth 1, as `list --json` prints them. */
static char *listed(const mreg_state *st)
{
	mreg_buf b = MREG_BUF_INIT;
	mreg_jsonw w;
	mreg_jsonw_init(&w, &b);
	mreg_jsonw_arr_begin(&w, NULL);
	for (size_t i = 0; i < st->nmodels; i++)
		if (st->models[i]->prod)
			mreg_version_write(&w, NULL, st->models[i], st->models[i]->prod);
	mreg_jsonw_arr_end(&w);
	assert_int_equal(mreg_jsonw_finish(&w), 0);
	return mreg_buf_detach(&b);
}

/*
 * production.json file read lazily (bytes kept, re-indented on output) and
 * parsed: the same versions, and with listing, the same listing (the lazy
 * one prints a version's members in the file's order, the parsed one in
 * the writer's)
 */
static void lists_the_same(const char *file, bool listing)
{
	mreg_state *full = NULL, *lazy = NULL;
	assert_int_equal(mreg_state_read_production(&full, file, strlen(file)), 0);
	assert_int_equal(mreg_state_borrow_production(&lazy, file, strlen(file)), 0);
	assert_int_equal(full->nmodels, lazy->nmodels);
	size_t nprod = 0;
	for (size_t i = 0; i < lazy->nmodels; i++) {
		const mreg_version *a = full->models[i]->prod, *b = lazy->models[i]->prod;
		assert_non_null(b);
		assert_non_null(b->raw);	/* really lazy */
		assert_string_equal(full->models[i]->id, lazy->models[i]->id);
		assert_int_equal(full->models[i]->type, lazy->models[i]->type);
		assert_int_equal(a->version, b->version);
		assert_int_equal(a->claimed, b->claimed);
		assert_int_equal(a->stage, b->stage);
		assert_string_equal(a->ref, b->ref);
		assert_string_equal(a->updated_at, b->updated_at);
		assert_int_equal(a->metrics.present, b->metrics.present);
		for (int k = 0; k < MREG_METRIC_COUNT; k++)
			if (a->metrics.present & (1u << k))
				assert_true(a->metrics.v[k] == b->metrics.v[k]);
		nprod++;
	}
	assert_true(nprod > 0);
	char *x = listed(full), *y = listed(lazy);
	if (listing)
		assert_string_equal(x, y);
	free(x);
	free(y);
	mreg_state_free(full);
	mreg_state_free(lazy);
}

static void lazy_production_lists_the_same(void **state)
{
	(void)state;
	mreg_event *evs[NEVENTS];
	sorted(evs);
	mreg_state *ref = fold(evs, NEVENTS);
	char *file = production_file(ref);
	lists_the_same(file, true);
	free(file);
	mreg_state_free(ref);
}

/* The member line "key": ... of every version in file moved to the end of its version (after the history). */
static char *member_moved_last(const char *file, const char *key)
{
	char pat[64];
	snprintf(pat, sizeof(pat), "\n      \"%s\": ", key);
	mreg_buf b = MREG_BUF_INIT;
	const char *p = file, *at;
	while ((at = strstr(p, pat))) {
		const char *eol = strchr(at + 1, '\n'), *close = strstr(at, "\n    }");
		assert_non_null(eol);
		assert_non_null(close);
		assert_true(eol[-1] == ',' && eol < close);	/* not the last member already */
		mreg_buf_put(&b, p, (size_t)(at - p));	/* up to the line, which goes */
		mreg_buf_put(&b, eol, (size_t)(close - eol));	/* the rest of the version */
		mreg_buf_putc(&b, ',');
		mreg_buf_put(&b, at, (size_t)(eol - 1 - at));	/* the line again, last, without its comma */
		p = close;
	}
	mreg_buf_puts(&b, p);
	return mreg_buf_detach(&b);
}

/*
 * The lazy reader steps over nested values (training_config, tags,
 * validation, history) in one search each and stops once it has every
 * field: a field that comes after them, in a file whose members are in
 * another order, is still read, and the same as the parser reads it.
 */
static void lazy_read_finds_fields_after_nested_values(void **state)
{
	(void)state;
	mreg_event *evs[NEVENTS];
	sorted(evs);
	mreg_state *ref = fold(evs, NEVENTS);
	char *file = production_file(ref), *moved = member_moved_last(file, "ref");
	char *both = member_moved_last(moved, "updated_at");
	const char *hist = strstr(both, "\n      \"history\": ["), *r = strstr(both, "\n      \"ref\": ");
	assert_non_null(hist);
	assert_true(r > hist);	/* really moved: after the history */
	lists_the_same(both, false);
	free(both);
	free(moved);
	free(file);
	mreg_state_free(ref);
}

/*
 * A listing of one model reads registry.json's head and that model's row
 * only: what it reads equals what a write's read (every row kept) gives
 * for that model, the head's counts included, and a record in the head
 * that begins as the row does (a rollback's) is passed over. A model that
 * is not there (or whose id only begins another's, or is no id) and a
 * file not in our writer's layout are for the full reader (1); a row that
 * names another model below its first line is damage.
 */
static void one_row_reads_as_every_row_does(void **state)
{
	(void)state;
	mreg_event *evs[NEVENTS];
	sorted(evs);
	mreg_state *ref = fold(evs, NEVENTS);
	char *written = registry_file(ref);
	char *copy = mreg_strdup(written);
	/* a member of the head with an object at the rows' indent, as rollbacks has */
	const char *rows = strstr(written, ",\n  \"model_list\": [");
	assert_non_null(rows);
	mreg_buf decoy = MREG_BUF_INIT;
	mreg_buf_put(&decoy, written, (size_t)(rows - written));
	mreg_buf_puts(&decoy, ",\n  \"decoy\": [\n    {\n      \"model_id\": \"beta\",\n      \"x\": 1\n    }\n  ]");
	mreg_buf_puts(&decoy, rows);
	char *reg_bytes = decoy.ptr;
	size_t len = decoy.size, wlen = strlen(written);
	mreg_state *all = NULL, *one = NULL;
	assert_int_equal(mreg_state_read_registry_rows(&all, copy, wlen), 0);
	assert_int_equal(all->nmodels, 3);
	for (size_t i = 0; i < all->nmodels; i++) {
		const mreg_model *a = all->models[i], *o;
		assert_int_equal(mreg_state_read_registry_row(&one, reg_bytes, len, a->id), 0);
		assert_int_equal(one->nmodels, 1);
		o = one->models[0];
		assert_string_equal(o->id, a->id);
		assert_int_equal(o->nversions, a->nversions);
		assert_int_equal(o->latest, a->latest);
		assert_int_equal(o->clock, a->clock);
		assert_int_equal(o->summary_prod, a->summary_prod);
		assert_string_equal(o->last_event, a->last_event);
		assert_int_equal(o->rowlen, a->rowlen);
		assert_memory_equal(o->row, a->row, a->rowlen);
		assert_false(o->loaded);
		assert_int_equal(one->clock, all->clock);
		assert_int_equal(one->nevents, all->nevents);
		assert_int_equal(one->nversions, all->nversions);
		assert_string_equal(one->tree, all->tree);
		mreg_state_free(one);
		one = NULL;
	}
	static const char *const absent[] = { "delta", "alph", "alpha\",\n      \"name", "" };
	for (size_t i = 0; i < sizeof(absent) / sizeof(absent[0]); i++) {
		assert_int_equal(mreg_state_read_registry_row(&one, reg_bytes, len, absent[i]), 1);
		assert_null(one);
	}
	/* beta's row claims to be gamma's further down */
	char *at = strstr(strstr(reg_bytes, "\"model_list\""), "\n    {\n      \"model_id\": \"beta\",\n");
	char *name = at ? strstr(at, "\n      \"name\": ") : NULL;
	assert_non_null(name);
	mreg_buf bad = MREG_BUF_INIT;
	mreg_buf_put(&bad, reg_bytes, (size_t)(name - reg_bytes));
	mreg_buf_puts(&bad, "\n      \"model_id\": \"gamma\",");
	mreg_buf_puts(&bad, name);
	assert_int_equal(mreg_state_read_registry_row(&one, bad.ptr, bad.size, "beta"), MREG_ECORRUPT);
	assert_string_equal(mreg_error_last(), "corrupt state file: model row");
	assert_null(one);
	assert_int_equal(mreg_state_read_registry_row(&one, "{\"model_list\": []}", 18, "beta"), 1);
	assert_null(one);
	mreg_buf_dispose(&bad);
	mreg_buf_dispose(&decoy);
	mreg_state_free(all);
	mreg_state_free(ref);
	free(written);
}

/* The bytes the spans of a spans writer list, in order. */
static char *joined(const mreg_buf *own, const mreg_span *spans, size_t n)
{
	mreg_buf b = MREG_BUF_INIT;
	for (size_t i = 0; i < n; i++)
		mreg_buf_put(&b, spans[i].ptr ? spans[i].ptr : own->ptr + spans[i].off, spans[i].len);
	return mreg_buf_detach(&b);
}

/* registry.json written as spans from rows kept where they lie: its bytes, and how many pieces. */
static char *registry_spans(size_t *n, const mreg_state *st)
{
	mreg_buf own = MREG_BUF_INIT;
	mreg_span *spans = NULL;
	assert_int_equal(mreg_state_write_registry_spans(&own, &spans, n, st), 0);
	char *s = joined(&own, spans, *n);
	free(spans);
	mreg_buf_dispose(&own);
	return s;
}

/*
 * A write writes registry.json and the model files back as spans: the
 * rows and versions it kept are listed where they were read, and those
 * that follow each other there, with just the separator the writer puts
 * between them, are one span. The bytes are the writer's own either way:
 * a row rewritten splits the run, and so does a separator in the file
 * read that is not the writer's (the reader passes over any blanks
 * between rows).
 */
static void spans_write_the_bytes_of_the_writer(void **state)
{
	(void)state;
	mreg_event *evs[NEVENTS];
	sorted(evs);
	mreg_state *ref = fold(evs, NEVENTS);
	char *written = registry_file(ref), *got;
	size_t n;
	mreg_state *st = NULL;

	/* every row kept: the head, the rows as one span, the end */
	assert_int_equal(mreg_state_borrow_registry_rows(&st, written, strlen(written)), 0);
	assert_int_equal(st->nmodels, 3);
	assert_null(st->rowbuf);	/* borrowed, not taken */
	st->production_missing = true;	/* a write's state: the rows keep their production versions */
	got = registry_spans(&n, st);
	assert_string_equal(got, written);
	assert_int_equal(n, 3);
	free(got);
	/* the middle row written anew from its fields: the same bytes, which join the run */
	mreg_model *mid = st->models[1];
	assert_int_equal(mreg_model_row_materialize(mid), 0);
	assert_null(mid->row);
	got = registry_spans(&n, st);
	assert_string_equal(got, written);
	assert_int_equal(n, 3);
	free(got);
	/* changed: the run splits around it, and the bytes are the plain writer's */
	free(mid->name);
	mid->name = mreg_strdup("Beta, renamed");
	char *want = registry_file(st);
	assert_non_null(strstr(want, "Beta, renamed"));
	got = registry_spans(&n, st);
	assert_string_equal(got, want);
	assert_int_equal(n, 5);
	free(got);
	free(want);
	mreg_state_free(st);

	/* blanks of the same length but not the writer's between the first two rows: read, and written back as the writer's */
	const char *second = strstr(written, ",\n    {\n      \"model_id\": \"beta\"");
	assert_non_null(second);
	mreg_buf odd = MREG_BUF_INIT;
	mreg_buf_put(&odd, written, (size_t)(second - written));
	mreg_buf_puts(&odd, ", \n   ");
	mreg_buf_puts(&odd, second + 6);
	assert_int_equal(odd.size, strlen(written));
	assert_int_equal(mreg_state_borrow_registry_rows(&st, odd.ptr, odd.size), 0);
	st->production_missing = true;
	got = registry_spans(&n, st);
	assert_string_equal(got, written);
	assert_int_equal(n, 5);	/* head, alpha, the writer's separator, beta and gamma, end */
	free(got);
	mreg_state_free(st);
	mreg_buf_dispose(&odd);

	/* a model file read lazily: its versions one span; one version rewritten splits it */
	const mreg_model *rm = NULL;
	for (size_t i = 0; i < ref->nmodels; i++)
		if (ref->models[i]->nversions >= 3)
			rm = ref->models[i];
	assert_non_null(rm);
	char *file = model_file(rm);
	assert_int_equal(mreg_state_read_registry(&st, written, strlen(written)), 0);
	assert_int_equal(mreg_state_read_model(st, file, strlen(file), true), 0);
	mreg_model *m = mreg_state_model(st, rm->id);
	assert_true(m->loaded && m->versions[1].raw);
	for (int pass = 0; pass < 3; pass++) {
		mreg_buf own = MREG_BUF_INIT;
		mreg_span *spans = NULL;
		char *plain = model_file(m);
		assert_int_equal(mreg_state_write_model_spans(&own, &spans, &n, m), 0);
		got = joined(&own, spans, n);
		assert_string_equal(got, plain);
		if (pass < 2)
			assert_string_equal(got, file);
		else
			assert_non_null(strstr(got, "\"rewritten.pt\""));
		/* kept, then materialized (the same bytes: they join), then changed (they split) */
		assert_int_equal(n, pass < 2 ? 3 : 5);
		free(got);
		free(plain);
		free(spans);
		mreg_buf_dispose(&own);
		if (pass == 0) {
			assert_int_equal(mreg_version_materialize(&m->versions[1]), 0);
			assert_null(m->versions[1].raw);
		} else if (pass == 1) {
			free(m->versions[1].file_path);
			m->versions[1].file_path = mreg_strdup("rewritten.pt");
		}
	}
	mreg_state_free(st);
	free(file);
	mreg_state_free(ref);
	free(written);
}

/* The write path keeps untouched versions as bytes: files must still come out the same. */
static void lazy_incremental_fold_equals_full_fold(void **state)
{
	(void)state;
	check_incremental(true);
}

static void state_files_read_back_byte_identical(void **state)
{
	(void)state;
	mreg_event *evs[NEVENTS];
	sorted(evs);
	mreg_state *ref = fold(evs, NEVENTS);
	char *reg_bytes = registry_file(ref);
	char *prod_bytes = production_file(ref);
	mreg_state *st = NULL;
	assert_int_equal(mreg_state_read_registry(&st, reg_bytes, strlen(reg_bytes)), 0);
	assert_int_equal(mreg_state_attach_production(st, prod_bytes, strlen(prod_bytes), false), 0);
	char *again = registry_file(st);
	assert_string_equal(again, reg_bytes);
	free(again);
	for (size_t i = 0; i < ref->nmodels; i++) {
		char *bytes = model_file(ref->models[i]);
		assert_int_equal(mreg_state_read_model(st, bytes, strlen(bytes), false), 0);
		again = model_file(st->models[i]);
		assert_string_equal(again, bytes);
		free(again);
		free(bytes);
	}
	char *p1 = production_file(ref), *p2 = production_file(st);
	assert_string_equal(p2, p1);
	free(p1);
	free(p2);
	free(reg_bytes);
	free(prod_bytes);
	mreg_state_free(st);
	mreg_state_free(ref);
}

static void read_model_refuses_file_older_than_registry(void **state)
{
	(void)state;
	mreg_event *evs[NEVENTS];
	sorted(evs);
	/* gamma's file from before its last applied event (its move to
	 * archived at clock 11), the registry from after it */
	const mreg_event *last_gamma = events[38];
	assert_int_equal(last_gamma->clock, 11);
	assert_string_equal(last_gamma->model, "gamma");
	mreg_state *before = fold(evs, 0);
	for (size_t i = 0; i < NEVENTS && evs[i] != last_gamma; i++)
		apply(before, evs[i]);
	mreg_state *now = fold(evs, NEVENTS);
	char *stale = model_file(mreg_state_model(before, "gamma"));
	char *reg_bytes = registry_file(now);
	mreg_state *st = NULL;
	assert_int_equal(mreg_state_read_registry(&st, reg_bytes, strlen(reg_bytes)), 0);
	int rc = mreg_state_read_model(st, stale, strlen(stale), false);
	assert_int_equal(rc, MREG_ECORRUPT);
	assert_string_equal(mreg_error_last(), "corrupt state file: model file is older than the registry summary");
	assert_false(mreg_state_model(st, "gamma")->loaded);
	free(stale);
	free(reg_bytes);
	mreg_state_free(st);
	mreg_state_free(before);
	mreg_state_free(now);
}

/* reg, naming prod by its digest (as a registry.json written with that production.json would) */
static char *naming(const char *reg, const char *prod)
{
	char *out = strdup(reg), digest[33];
	char *at = strstr(out, "\"production_digest\": \"");
	assert_non_null(at);
	mreg_hash128(digest, prod, strlen(prod));
	memcpy(at + strlen("\"production_digest\": \""), digest, 32);
	return out;
}

/* registry.json names production.json by its digest and each production version by number; both must hold. */
static void attach_production_refuses_mismatch(void **state)
{
	(void)state;
	mreg_event *evs[NEVENTS];
	sorted(evs);
	mreg_state *ref = fold(evs, NEVENTS), *early = fold(evs, 20), *st = NULL;
	memset(early->tree, '1', 40);	/* folded from another tree */
	early->tree[40] = '\0';
	char *reg_bytes = registry_file(ref), *prod = production_file(ref), *other = production_file(early);
	size_t nprod = 0;
	for (size_t i = 0; i < ref->nmodels; i++)
		nprod += ref->models[i]->prod != NULL;
	assert_true(nprod >= 1);
	for (int lazy = 0; lazy < 2; lazy++) {
		/* the right file: every production version arrives, lazily or parsed */
		assert_int_equal(mreg_state_read_registry(&st, reg_bytes, strlen(reg_bytes)), 0);
		assert_int_equal(mreg_state_attach_production(st, prod, strlen(prod), lazy), 0);
		for (size_t i = 0; i < st->nmodels; i++) {
			const mreg_version *a = st->models[i]->prod, *b = ref->models[i]->prod;
			assert_int_equal(a != NULL, b != NULL);
			if (a) {
				assert_int_equal(a->version, b->version);
				assert_int_equal(a->raw != NULL, lazy);
			}
		}
		mreg_state_free(st);
		/* another fold's production.json */
		assert_int_equal(mreg_state_read_registry(&st, reg_bytes, strlen(reg_bytes)), 0);
		assert_int_equal(mreg_state_attach_production(st, other, strlen(other), lazy), MREG_ECORRUPT);
		assert_string_equal(mreg_error_last(),
				    "corrupt state file: production.json is not the one registry.json names");
		mreg_state_free(st);
	}
	/* below, registry.json names the damaged file by its digest: the versions themselves must agree */
	/* the same tree, but a production version named by the summary is missing */
	char *cut = strdup(prod);
	char *models = strstr(cut, "\n  \"models\": {");
	assert_non_null(models);
	strcpy(models, "\n  \"models\": {}\n}\n");
	char *named = naming(reg_bytes, cut);
	assert_int_equal(mreg_state_read_registry(&st, named, strlen(named)), 0);
	free(named);
	assert_int_equal(mreg_state_attach_production(st, cut, strlen(cut), true), MREG_ECORRUPT);
	assert_string_equal(mreg_error_last(),
			    "corrupt state file: production.json lacks a production version of the registry summary");
	mreg_state_free(st);
	/* the same tree, but another version number */
	const mreg_model *pm = NULL;
	for (size_t i = 0; i < ref->nmodels && !pm; i++)
		if (ref->models[i]->prod)
			pm = ref->models[i];
	char key[64];
	snprintf(key, sizeof(key), "\n      \"version\": %d,", pm->prod->version);
	char *wrong = strdup(prod);
	char *at = strstr(wrong, key);
	assert_non_null(at);
	at[strlen(key) - 2] = at[strlen(key) - 2] == '9' ? '8' : (char)(at[strlen(key) - 2] + 1);
	named = naming(reg_bytes, wrong);
	assert_int_equal(mreg_state_read_registry(&st, named, strlen(named)), 0);
	free(named);
	assert_int_equal(mreg_state_attach_production(st, wrong, strlen(wrong), false), MREG_ECORRUPT);
	assert_string_equal(mreg_error_last(), "corrupt state file: production.json does not match the registry summary");
	mreg_state_free(st);
	free(wrong);
	free(cut);
	free(reg_bytes);
	free(prod);
	free(other);
	mreg_state_free(ref);
	mreg_state_free(early);
}

/*
 * production.json naming one model twice (a hand edit): refused by both
 * readers, which kept the first entry's name and version and lost them when
 * the second overwrote them.
 */
static void read_production_refuses_a_model_twice(void **state)
{
	(void)state;
	mreg_event *evs[NEVENTS];
	sorted(evs);
	mreg_state *ref = fold(evs, NEVENTS), *st = NULL;
	char *prod = production_file(ref);
	/* the first entry again, right after itself */
	char *first = strstr(prod, "\n    \""), *close = first ? strstr(first, "\n    }") : NULL;
	assert_non_null(close);
	mreg_buf b = MREG_BUF_INIT;
	mreg_buf_put(&b, prod, (size_t)(close + 6 - prod));
	mreg_buf_putc(&b, ',');
	mreg_buf_put(&b, first, (size_t)(close + 6 - first));
	mreg_buf_puts(&b, close + 6);
	assert_int_equal(mreg_state_read_production(&st, b.ptr, b.size), MREG_ECORRUPT);
	assert_string_equal(mreg_error_last(), "corrupt state file: production.json lists a model twice");
	assert_null(st);
	assert_int_equal(mreg_state_borrow_production(&st, b.ptr, b.size), MREG_ECORRUPT);
	assert_string_equal(mreg_error_last(), "corrupt state file: production.json lists a model twice");
	assert_null(st);
	mreg_buf_dispose(&b);
	free(prod);
	mreg_state_free(ref);
}

/* A copy of s with the number after the first key replaced by num. */
static char *with_number(const char *s, const char *key, const char *num)
{
	const char *at = strstr(s, key);
	assert_non_null(at);
	at += strlen(key);
	const char *end = at + strspn(at, "0123456789.-+eE");
	return mreg_strfmt("%.*s%s%s", (int)(at - s), s, num, end);
}

/*
 * Numbers a reader casts to an integer type are range-checked first: past
 * int64_t the cast of a double is undefined (2e87 as the clock), and a
 * version number past an int must not wrap into another version (2^32 + 1
 * read as version 1).
 */
static void readers_refuse_numbers_out_of_range(void **state)
{
	(void)state;
	mreg_event *evs[NEVENTS];
	sorted(evs);
	mreg_state *ref = fold(evs, NEVENTS), *st = NULL;
	char *reg_bytes = registry_file(ref);
	char *bad = with_number(reg_bytes, "\n  \"clock\": ", "2e87");
	assert_int_equal(mreg_state_read_registry(&st, bad, strlen(bad)), MREG_ECORRUPT);
	assert_string_equal(mreg_error_last(), "corrupt state file: clock");
	assert_null(st);
	free(bad);

	const mreg_model *m = ref->models[0];
	assert_int_equal(m->versions[0].version, 1);
	char *file = model_file(m);
	bad = with_number(file, "\n      \"version\": ", "4294967297");
	char *prod = production_file(ref);
	assert_int_equal(mreg_state_read_registry(&st, reg_bytes, strlen(reg_bytes)), 0);
	assert_int_equal(mreg_state_attach_production(st, prod, strlen(prod), true), 0);
	if (mreg_state_read_model(st, file, strlen(file), true) < 0)	/* as written: fine */
		fail_msg("read model: %s", mreg_error_last());
	mreg_state_free(st);
	assert_int_equal(mreg_state_read_registry(&st, reg_bytes, strlen(reg_bytes)), 0);
	assert_int_equal(mreg_state_attach_production(st, prod, strlen(prod), true), 0);
	assert_int_equal(mreg_state_read_model(st, bad, strlen(bad), true), MREG_ECORRUPT);
	assert_string_equal(mreg_error_last(), "corrupt state file: version in a model file");
	mreg_state_free(st);
	free(bad);
	free(prod);
	free(file);
	free(reg_bytes);
	mreg_state_free(ref);
}

/*
 * A model file read on its own whose versions name two in production (a
 * hand edit): refused by the invariant check, and the first one's copy,
 * taken as the model's production version, is not leaked (found by fuzzing).
 */
static void read_model_alone_refuses_two_production_versions(void **state)
{
	(void)state;
	mreg_event *evs[NEVENTS];
	sorted(evs);
	mreg_state *ref = fold(evs, NEVENTS), *st = NULL;
	const mreg_model *m = NULL;
	for (size_t i = 0; i < ref->nmodels && !m; i++)
		if (ref->models[i]->prod && ref->models[i]->nversions >= 2)
			m = ref->models[i];
	assert_non_null(m);
	const mreg_version *other = &m->versions[m->versions[0].stage == MREG_STAGE_PRODUCTION ? 1 : 0];
	char *file = model_file(m), key[64];
	snprintf(key, sizeof(key), "\n      \"version\": %d,", other->version);
	char *at = strstr(file, key), *stage = at ? strstr(at, "\n      \"stage\": \"") : NULL;
	assert_non_null(stage);
	stage += strlen("\n      \"stage\": \"");
	char *bad = mreg_strfmt("%.*sproduction%s", (int)(stage - file), file, strchr(stage, '"'));
	assert_int_equal(mreg_state_read_model_alone(&st, bad, strlen(bad)), MREG_ECORRUPT);
	assert_non_null(strstr(mreg_error_last(), "broken in"));
	assert_null(st);
	free(bad);
	free(file);
	mreg_state_free(ref);
}

static void read_registry_refuses_garbage(void **state)
{
	(void)state;
	mreg_state *st = (mreg_state *)0x1;
	assert_int_equal(mreg_state_read_registry(&st, "{", 1), MREG_ECORRUPT);
	assert_string_equal(mreg_error_last(), "corrupt state file: registry.json does not parse");
	assert_null(st);
	char no_clock[128];
	snprintf(no_clock, sizeof(no_clock), "{\"format\": %d, \"tree\": \"\", \"production_digest\": \"\", \"last_event\": \"\"}",
		 MREG_STATE_FORMAT);
	assert_int_equal(mreg_state_read_registry(&st, no_clock, strlen(no_clock)), MREG_ECORRUPT);
	assert_string_equal(mreg_error_last(), "corrupt state file: clock");
	assert_null(st);
	/* files of an older layout are refused, so the caller folds them anew */
	const char *old = "{\"format\": 1, \"tree\": \"\", \"clock\": 0, \"last_event\": \"\"}";
	assert_int_equal(mreg_state_read_registry(&st, old, strlen(old)), MREG_ECORRUPT);
	assert_string_equal(mreg_error_last(), "corrupt state file: registry.json has another format");
	assert_null(st);
	/* format 3 rows held whole production versions; 4 names them by number */
	const char *three = "{\"format\": 3, \"tree\": \"\", \"clock\": 0, \"last_event\": \"\"}";
	assert_int_equal(mreg_state_read_registry(&st, three, strlen(three)), MREG_ECORRUPT);
	assert_string_equal(mreg_error_last(), "corrupt state file: registry.json has another format");
	assert_null(st);
}

static void read_model_refuses_model_not_in_registry(void **state)
{
	(void)state;
	mreg_state *st;
	assert_int_equal(mreg_state_new(&st), 0);
	const char *doc = "{\"format\": 1, \"model_id\": \"nope\", \"versions\": []}";
	assert_int_equal(mreg_state_read_model(st, doc, strlen(doc), false), MREG_ECORRUPT);
	assert_string_equal(mreg_error_last(), "corrupt state file: model file for a model the registry does not list");
	mreg_state_free(st);
}

/* ---- applying out of order ------------------------------------------ */

static void fold_apply_refuses_out_of_order(void **state)
{
	(void)state;
	mreg_event *evs[NEVENTS];
	sorted(evs);
	mreg_state *st = fold(evs, 10);
	char *before = all_files(st);
	char msg[256];

	/* an earlier clock */
	snprintf(msg, sizeof(msg), "event %s applied out of (clock, id) order", evs[0]->id);
	assert_int_equal(mreg_fold_apply(st, evs[0]), MREG_ERROR);
	assert_int_equal(mreg_error_code(), MREG_ERROR);
	assert_string_equal(mreg_error_last(), msg);
	/* the same event again */
	snprintf(msg, sizeof(msg), "event %s applied out of (clock, id) order", evs[9]->id);
	assert_int_equal(mreg_fold_apply(st, evs[9]), MREG_ERROR);
	assert_string_equal(mreg_error_last(), msg);
	/* the same clock, a smaller id: find a pair of equal clocks in the set */
	size_t i;
	for (i = 1; i < NEVENTS; i++)
		if (evs[i]->clock == evs[i - 1]->clock)
			break;
	assert_true(i < NEVENTS);
	mreg_state *st2 = fold(evs, i + 1);
	snprintf(msg, sizeof(msg), "event %s applied out of (clock, id) order", evs[i - 1]->id);
	assert_int_equal(mreg_fold_apply(st2, evs[i - 1]), MREG_ERROR);
	assert_string_equal(mreg_error_last(), msg);
	assert_int_equal(st2->nevents, (int64_t)i + 1);
	mreg_state_free(st2);

	/* nothing changed */
	assert_int_equal(st->nevents, 10);
	char *after = all_files(st);
	assert_string_equal(after, before);
	free(after);
	free(before);
	/* and the next event in order still applies */
	assert_int_equal(mreg_fold_apply(st, evs[10]), 0);
	assert_int_equal(st->nevents, 11);
	mreg_state_free(st);
}

static void fold_apply_refuses_unloaded_model(void **state)
{
	(void)state;
	mreg_event *evs[NEVENTS];
	sorted(evs);
	mreg_state *full = fold(evs, 20);
	char *reg_bytes = registry_file(full);
	mreg_state *st = NULL;
	assert_int_equal(mreg_state_read_registry(&st, reg_bytes, strlen(reg_bytes)), 0);
	mreg_model *m = mreg_state_model(st, evs[20]->model);
	assert_non_null(m);
	assert_false(m->loaded);
	char msg[256];
	snprintf(msg, sizeof(msg), "model '%s' is not loaded for event %s", evs[20]->model, evs[20]->id);
	assert_int_equal(mreg_fold_apply(st, evs[20]), MREG_ERROR);
	assert_string_equal(mreg_error_last(), msg);
	assert_int_equal(st->nevents, 20);
	mreg_state_free(st);
	mreg_state_free(full);
	free(reg_bytes);
}

/* ---- the invariant checker ------------------------------------------ */

static void add_row(mreg_version *v, mreg_stage from, mreg_stage to)
{
	v->history = realloc(v->history, (v->nhistory + 1) * sizeof(*v->history));
	assert_non_null(v->history);
	mreg_transition *t = &v->history[v->nhistory++];
	memset(t, 0, sizeof(*t));
	t->from = from;
	t->to = to;
	t->reason = mreg_strdup("r");
	t->by = mreg_strdup("t");
	strcpy(t->at, "2026-01-01T00:00:00.000000Z");
}

/* A consistent model "m": 1 archived, 2 production, 3 development. */
static mreg_model *hand_model(mreg_state **out)
{
	mreg_state *st;
	mreg_model *m;
	assert_int_equal(mreg_state_new(&st), 0);
	assert_int_equal(mreg_state_model_add(&m, st, "m"), 0);
	m->versions = calloc(4, sizeof(*m->versions));
	m->aversions = 4;
	m->nversions = 3;
	for (int i = 0; i < 3; i++) {
		mreg_version *v = &m->versions[i];
		v->version = v->claimed = i + 1;
		v->file_path = mreg_strdup("blobs/x");
		add_row(v, MREG_STAGE_NONE, D);
	}
	add_row(&m->versions[0], D, S);
	add_row(&m->versions[0], S, P);
	add_row(&m->versions[0], P, A);
	m->versions[0].stage = A;
	add_row(&m->versions[1], D, S);
	add_row(&m->versions[1], S, P);
	m->versions[1].stage = P;
	m->versions[2].stage = D;
	m->latest = 3;
	m->prod = mreg_version_dup(&m->versions[1]);
	assert_non_null(m->prod);
	*out = st;
	return m;
}

static void assert_corrupt(const mreg_model *m, const char *msg)
{
	mreg_error_clear();
	assert_int_equal(mreg_state_check_model(m), MREG_ECORRUPT);
	assert_int_equal(mreg_error_code(), MREG_ECORRUPT);
	assert_string_equal(mreg_error_last(), msg);
}

static void check_model_accepts_consistent_model(void **state)
{
	(void)state;
	mreg_state *st;
	mreg_model *m = hand_model(&st);
	assert_int_equal(mreg_state_check_model(m), 0);
	mreg_state_free(st);
}

static void check_model_refuses_two_production_versions(void **state)
{
	(void)state;
	mreg_state *st;
	mreg_model *m = hand_model(&st);
	add_row(&m->versions[2], D, S);
	add_row(&m->versions[2], S, P);
	m->versions[2].stage = P;
	assert_corrupt(m, "invariant 1 broken in 'm': versions 2 and 3 are both in production");
	mreg_state_free(st);
}

static void check_model_refuses_production_not_in_summary(void **state)
{
	(void)state;
	mreg_state *st;
	mreg_model *m = hand_model(&st);
	mreg_version_free(m->prod);
	m->prod = NULL;
	assert_corrupt(m, "invariant 1 broken in 'm': production is 2, summary says 0");
	mreg_state_free(st);
}

static void check_model_refuses_versions_out_of_order(void **state)
{
	(void)state;
	mreg_state *st;
	mreg_model *m = hand_model(&st);
	m->versions[1].version = 5;	/* 1, 5, 3 */
	assert_corrupt(m, "invariant 2 broken in 'm': version numbers out of order");
	mreg_state_free(st);
}

static void check_model_refuses_duplicate_version_numbers(void **state)
{
	(void)state;
	mreg_state *st;
	mreg_model *m = hand_model(&st);
	m->versions[2].version = 2;	/* 1, 2, 2 */
	m->latest = 2;
	assert_corrupt(m, "invariant 2 broken in 'm': version numbers out of order");
	mreg_state_free(st);
}

static void check_model_refuses_wrong_latest(void **state)
{
	(void)state;
	mreg_state *st;
	mreg_model *m = hand_model(&st);
	m->latest = 2;
	assert_corrupt(m, "invariant 2 broken in 'm': latest is wrong");
	mreg_state_free(st);
}

static void check_model_refuses_history_not_chaining(void **state)
{
	(void)state;
	mreg_state *st;
	mreg_model *m = hand_model(&st);
	mreg_version *v = &m->versions[2];	/* (new)>development, then staging>production */
	add_row(v, S, P);
	v->stage = P;
	mreg_version_free(m->prod);
	m->prod = NULL;
	m->versions[1].stage = A;
	add_row(&m->versions[1], P, A);
	m->prod = mreg_version_dup(v);
	assert_corrupt(m, "invariant 3 broken in 'm:3': staging -> production in its history");
	mreg_state_free(st);
}

static void check_model_refuses_history_move_the_table_refuses(void **state)
{
	(void)state;
	mreg_state *st;
	mreg_model *m = hand_model(&st);
	mreg_version *v = &m->versions[2];	/* development -> production skips staging */
	add_row(v, D, P);
	v->stage = P;
	add_row(&m->versions[1], P, A);
	m->versions[1].stage = A;
	mreg_version_free(m->prod);
	m->prod = mreg_version_dup(v);
	assert_corrupt(m, "invariant 3 broken in 'm:3': development -> production in its history");
	mreg_state_free(st);
}

static void check_model_refuses_history_without_first_row(void **state)
{
	(void)state;
	mreg_state *st;
	mreg_model *m = hand_model(&st);
	m->versions[0].history[0].from = D;	/* should be "(new)" */
	assert_corrupt(m, "invariant 3 broken in 'm:1': history has no first row");
	mreg_state_free(st);
}

static void check_model_refuses_stage_not_where_history_ends(void **state)
{
	(void)state;
	mreg_state *st;
	mreg_model *m = hand_model(&st);
	m->versions[2].stage = MREG_STAGE_REJECTED;	/* history ends in development */
	assert_corrupt(m, "invariant 3 broken in 'm:3': stage is not where history ends");
	mreg_state_free(st);
}

static void check_model_skips_unloaded_model(void **state)
{
	(void)state;
	mreg_state *st;
	mreg_model *m = hand_model(&st);
	m->latest = 9;	/* broken, but its versions are not loaded */
	mreg_model_unload(m);
	assert_int_equal(mreg_state_check_model(m), 0);
	mreg_state_free(st);
}

int main(void)
{
	const struct CMUnitTest tests[] = {
		cmocka_unit_test(generated_set_renumbers_and_conflicts),
		cmocka_unit_test(shuffled_arrivals_fold_to_identical_files),
		cmocka_unit_test(prepared_events_fold_to_identical_files),
		cmocka_unit_test(incremental_fold_equals_full_fold),
		cmocka_unit_test(lazy_incremental_fold_equals_full_fold),
		cmocka_unit_test(one_row_reads_as_every_row_does),
		cmocka_unit_test(spans_write_the_bytes_of_the_writer),
		cmocka_unit_test(lazy_production_lists_the_same),
		cmocka_unit_test(lazy_read_finds_fields_after_nested_values),
		cmocka_unit_test(state_files_read_back_byte_identical),
		cmocka_unit_test(read_model_refuses_file_older_than_registry),
		cmocka_unit_test(read_registry_refuses_garbage),
		cmocka_unit_test(attach_production_refuses_mismatch),
		cmocka_unit_test(read_model_refuses_model_not_in_registry),
		cmocka_unit_test(read_production_refuses_a_model_twice),
		cmocka_unit_test(readers_refuse_numbers_out_of_range),
		cmocka_unit_test(read_model_alone_refuses_two_production_versions),
		cmocka_unit_test(fold_apply_refuses_out_of_order),
		cmocka_unit_test(fold_apply_refuses_unloaded_model),
		cmocka_unit_test(check_model_accepts_consistent_model),
		cmocka_unit_test(check_model_refuses_two_production_versions),
		cmocka_unit_test(check_model_refuses_production_not_in_summary),
		cmocka_unit_test(check_model_refuses_versions_out_of_order),
		cmocka_unit_test(check_model_refuses_duplicate_version_numbers),
		cmocka_unit_test(check_model_refuses_wrong_latest),
		cmocka_unit_test(check_model_refuses_history_not_chaining),
		cmocka_unit_test(check_model_refuses_history_move_the_table_refuses),
		cmocka_unit_test(check_model_refuses_history_without_first_row),
		cmocka_unit_test(check_model_refuses_stage_not_where_history_ends),
		cmocka_unit_test(check_model_skips_unloaded_model),
	};
	return cmocka_run_group_tests(tests, setup_events, teardown_events);
}
