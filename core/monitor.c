/*
 * The rollback monitor's record of each model, folded from events, and the
 * decisions read from it: named baselines (baseline.set with a name), the
 * quality watch (quality.reported: the original's QualityRollbackWatcher),
 * and the run of consecutive regressions its checks saw (rollback.checked:
 * the original's consecutive_regressions_required). Everything is in the
 * state, so every node that folds the same log decides the same.
 */
#include "lifecycle.h"
#include "num.h"

#include <string.h>

/* The record of model in st->monitor, made when first needed; NULL when out of memory. */
static cJSON *record_of(mreg_state *st, const char *model)
{
	cJSON *o = cJSON_GetObjectItemCaseSensitive(st->monitor, model);
	if (o)
		return o;
	if (mreg_json_put_sorted(&st->monitor, model, cJSON_CreateObject()) < 0)
		return NULL;
	return cJSON_GetObjectItemCaseSensitive(st->monitor, model);
}

static void set_member(cJSON *o, const char *key, cJSON *v)
{
	if (cJSON_GetObjectItemCaseSensitive(o, key))
		cJSON_ReplaceItemInObjectCaseSensitive(o, key, v);
	else
		cJSON_AddItemToObject(o, key, v);
}

static cJSON *body_copy(const mreg_event *ev, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(ev->body, key);
	return v ? cJSON_Duplicate(v, 1) : cJSON_CreateNull();
}

/* baseline.set with a name: one of the model's named baselines, as the unnamed one is kept. */
static int apply_named(cJSON *rec, const mreg_event *ev)
{
	cJSON *bl = cJSON_GetObjectItemCaseSensitive(rec, "baselines");
	if (!bl && !(bl = cJSON_AddObjectToObject(rec, "baselines")))
		return mreg_error_set(MREG_ERROR, "out of memory");
	cJSON *b = cJSON_CreateObject();
	if (b) {
		cJSON_AddItemToObject(b, "elo", body_copy(ev, "elo"));
		cJSON_AddItemToObject(b, "win_rate", body_copy(ev, "win_rate"));
		cJSON_AddItemToObject(b, "games_played", body_copy(ev, "games_played"));
		cJSON_AddStringToObject(b, "set_at", ev->time);
		cJSON_AddStringToObject(b, "set_by", ev->actor);
		cJSON_AddStringToObject(b, "event", ev->id);
	}
	return mreg_json_put_sorted(&bl, mreg_event_body_str(ev, "name"), b);
}

/*
 * quality.reported: a score below the threshold it was judged by starts the
 * watch (low_since, kept while scores stay low); a score at or above it
 * ends the watch.
 */
static int apply_quality(cJSON *rec, const mreg_event *ev)
{
	cJSON *q = cJSON_GetObjectItemCaseSensitive(rec, "quality");
	if (!q && !(q = cJSON_AddObjectToObject(rec, "quality")))
		return mreg_error_set(MREG_ERROR, "out of memory");
	double score = mreg_event_body_num(ev, "score", 1), threshold = mreg_event_body_num(ev, "threshold", 0);
	const cJSON *since = cJSON_GetObjectItemCaseSensitive(q, "low_since");
	double reports = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(q, "reports"));
	cJSON *low = score >= threshold	   ? cJSON_CreateNull()
		     : cJSON_IsString(since) ? cJSON_CreateString(since->valuestring)
					     : cJSON_CreateString(ev->time);
	set_member(q, "score", cJSON_CreateNumber(score));
	set_member(q, "threshold", cJSON_CreateNumber(threshold));
	set_member(q, "reported_at", cJSON_CreateString(ev->time));
	set_member(q, "low_since", low);
	set_member(q, "reports", cJSON_CreateNumber((reports > 0 ? reports : 0) + 1));
	set_member(q, "event", cJSON_CreateString(ev->id));
	return 0;
}

int mreg_monitor_apply(mreg_state *st, const mreg_event *ev)
{
	cJSON *rec = record_of(st, ev->model);
	if (!rec)
		return mreg_error_set(MREG_ERROR, "out of memory");
	switch (ev->type) {
	case MREG_EV_BASELINE:
		return apply_named(rec, ev);
	case MREG_EV_QUALITY:
		return apply_quality(rec, ev);
	case MREG_EV_CHECKED: {
		double n = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(rec, "regressions"));
		bool degraded = cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ev->body, "degraded"));
		set_member(rec, "regressions", cJSON_CreateNumber(degraded ? (n > 0 ? n : 0) + 1 : 0));
		return 0;
	}
	default:
		return mreg_error_set(MREG_ERROR, "event %s is not the rollback monitor's", ev->id);
	}
}

void mreg_monitor_rolled_back(mreg_state *st, const char *model, const char *trigger)
{
	cJSON *rec = cJSON_GetObjectItemCaseSensitive(st->monitor, model);
	if (!rec)
		return;
	/* as the unnamed baseline: the production version they were judged by is gone */
	cJSON_DeleteItemFromObjectCaseSensitive(rec, "baselines");
	cJSON_DeleteItemFromObjectCaseSensitive(rec, "regressions");
	cJSON *q = cJSON_GetObjectItemCaseSensitive(rec, "quality");
	if (q && trigger && !strcmp(trigger, "auto_quality"))
		set_member(q, "low_since", cJSON_CreateNull());	/* what the original meant: the watch ends */
}

int mreg_monitor_regressions(const mreg_state *st, const char *model)
{
	const cJSON *n = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(st->monitor, model),
							  "regressions");
	return cJSON_IsNumber(n) ? (int)n->valuedouble : 0;
}

const cJSON *mreg_monitor_quality(const mreg_state *st, const char *model)
{
	return cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(st->monitor, model), "quality");
}

int mreg_quality_due(mreg_buf *why, double *minutes, const mreg_state *st, const char *model, int64_t now,
		     const mreg_policy *p)
{
	const cJSON *q = mreg_monitor_quality(st, model);
	const cJSON *since = cJSON_GetObjectItemCaseSensitive(q, "low_since");
	int64_t t;
	*minutes = 0;
	if (!cJSON_IsString(since) || mreg_time_parse(&t, since->valuestring) < 0) {
		mreg_buf_printf(why, "'%s' is not being watched for low data quality", model);
		return 0;
	}
	*minutes = mreg_num_nz((double)(now - t) / 60e6);
	double score = cJSON_GetNumberValue(cJSON_GetObjectItemCaseSensitive(q, "score"));
	if (*minutes < p->quality_sustained_minutes) {
		mreg_buf_printf(why, "Low quality (%.3f) for %.1f minutes, under rollback.quality_sustained_minutes (",
				score, *minutes);
		mreg_put_pyfloat(why, p->quality_sustained_minutes);
		mreg_buf_putc(why, ')');
		return 0;
	}
	mreg_buf_printf(why, "Sustained low quality (%.3f) for %.1f minutes", score, *minutes);
	return 1;
}

/* One baseline's check; the name goes into the reason when there is one. */
static int check_one(mreg_buf *out, const cJSON *baseline, const char *name, const mreg_metrics *cur,
		     const mreg_policy *p)
{
	int degraded = mreg_check_performance(out, baseline, cur, p);
	if (name)
		mreg_buf_printf(out, " (baseline '%s')", name);
	return degraded;
}

int mreg_check_baselines(mreg_buf *out, const mreg_state *st, const char *model, const mreg_metrics *cur,
			 const mreg_policy *p)
{
	const cJSON *unnamed = cJSON_GetObjectItemCaseSensitive(st->baselines, model);
	const cJSON *named = cJSON_GetObjectItemCaseSensitive(cJSON_GetObjectItemCaseSensitive(st->monitor, model),
							      "baselines");
	const cJSON *b;
	mreg_buf one = MREG_BUF_INIT;
	int degraded = 0;
	/* the unnamed baseline first, as the original's one; then each named one, in name order */
	if (unnamed || !cJSON_GetArraySize(named))
		degraded = check_one(out, unnamed, NULL, cur, p);
	cJSON_ArrayForEach(b, named) {
		if (degraded)
			break;
		mreg_buf_clear(&one);
		degraded = check_one(&one, b, b->string, cur, p);
		if (degraded || (!unnamed && b == named->child)) {
			mreg_buf_clear(out);
			mreg_buf_puts(out, one.ptr);
		}
	}
	mreg_buf_dispose(&one);
	return degraded;
}
