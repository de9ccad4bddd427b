/*
 * Rollback manager, auto-promoter and regression policy decisions, and the
 * policy itself as mreg.json states it (see lifecycle.h). Numbers in
 * reasons are formatted as the original's Python f-strings format them:
 * {x:.0f}, {x:.1f}, {x:.1%}, and str() of a float; a zero never has a sign.
 */
#include "lifecycle.h"
#include "num.h"

#include <math.h>
#include <stddef.h>
#include <string.h>

/*
 * Every key of mreg.json, with its type and range. A key not in this table
 * is refused: a misspelt threshold would otherwise do nothing, silently.
 * The default mreg.json is in fsstore/registry.c; the two change together.
 */
enum { KEY_GROUP, KEY_FORMAT, KEY_BYTES, KEY_NUM, KEY_COUNT, KEY_BOOL, KEY_PROTECT };

static const struct policy_key {
	const char *group;	/* NULL: top level */
	const char *name;
	int kind;
	size_t off;
	double min, max;
} policy_keys[] = {
	{ NULL, "format", KEY_FORMAT, 0, 0, 0 },
	{ NULL, "artifact_max_bytes", KEY_BYTES, offsetof(mreg_policy, artifact_max_bytes), 0,
	  (double)MREG_ARTIFACT_MAX_BYTES_CAP },
	{ NULL, "rollback", KEY_GROUP, 0, 0, 0 },
	{ NULL, "auto_promote", KEY_GROUP, 0, 0, 0 },
	{ NULL, "backup", KEY_GROUP, 0, 0, 0 },
	{ NULL, "protect", KEY_PROTECT, 0, 0, 0 },
	{ "rollback", "elo_drop_threshold", KEY_NUM, offsetof(mreg_policy, elo_drop_threshold), 0, 1e6 },
	{ "rollback", "win_rate_drop_threshold", KEY_NUM, offsetof(mreg_policy, win_rate_drop_threshold), 0, 1 },
	{ "rollback", "min_games_for_evaluation", KEY_COUNT, offsetof(mreg_policy, min_games_for_evaluation), 0, 1e12 },
	{ "rollback", "require_approval", KEY_BOOL, offsetof(mreg_policy, require_approval), 0, 0 },
	{ "rollback", "auto_rollback_enabled", KEY_BOOL, offsetof(mreg_policy, auto_rollback_enabled), 0, 0 },
	{ "rollback", "cooldown_minutes", KEY_NUM, offsetof(mreg_policy, cooldown_minutes), 0, 1e7 },
	{ "rollback", "max_rollbacks_per_day", KEY_COUNT, offsetof(mreg_policy, max_rollbacks_per_day), 0, 1e6 },
	{ "rollback", "quality_critical_threshold", KEY_NUM, offsetof(mreg_policy, quality_critical_threshold), 0, 1 },
	{ "rollback", "quality_sustained_minutes", KEY_NUM, offsetof(mreg_policy, quality_sustained_minutes), 0, 1e7 },
	{ "rollback", "consecutive_regressions_required", KEY_COUNT,
	  offsetof(mreg_policy, consecutive_regressions_required), 1, 1e6 },
	{ "auto_promote", "min_elo_improvement", KEY_NUM, offsetof(mreg_policy, min_elo_improvement), -1e6, 1e6 },
	{ "auto_promote", "min_games", KEY_COUNT, offsetof(mreg_policy, min_games), 0, 1e12 },
	{ "backup", "max_backups", KEY_COUNT, offsetof(mreg_policy, max_backups), 1, 1e6 },
	{ "backup", "interval_hours", KEY_NUM, offsetof(mreg_policy, backup_interval_hours), 0, 1e6 },
};

/* A key as a message shows it: 64 bytes at most, control characters as '?', so the message stays one line. */
static void put_key(mreg_buf *b, const char *group, const char *name)
{
	size_t n = 0;
	if (group)
		mreg_buf_printf(b, "%s.", group);
	for (const unsigned char *s = (const unsigned char *)name; *s && n < 64; s++, n++)
		mreg_buf_putc(b, *s < 0x20 || *s == 0x7f ? '?' : (char)*s);
	if (strlen(name) > 64)
		mreg_buf_puts(b, "...");
}

/* "invalid mreg.json in 'SUBJECT': " + what + " 'KEY'" or "'KEY' " + what */
static int policy_error(const char *subject, const char *group, const char *name, const char *before,
			const char *after)
{
	mreg_buf b = MREG_BUF_INIT;
	if (subject)
		mreg_buf_printf(&b, "invalid mreg.json in '%s': %s'", subject, before);
	else
		mreg_buf_printf(&b, "invalid mreg.json: %s'", before);
	put_key(&b, group, name);
	mreg_buf_printf(&b, "'%s", after);
	int rc = mreg_error_set(MREG_EINVALID, "%s", b.ptr);
	mreg_buf_dispose(&b);
	return rc;
}

/*
 * A signers path: relative, under .mreg/, of plain names (letters, digits,
 * '.', '_', '-', no name starting with '.'), so it can only name a file the
 * registry's layout holds (incoming.c).
 */
static bool signers_path_ok(const char *s)
{
	size_t n = strlen(s);
	if (n >= MREG_SIGNERS_PATH_MAX || strncmp(s, ".mreg/", 6) || n == 6)
		return false;
	for (const char *p = s + 6; *p; p++) {
		bool start = p == s + 6 || p[-1] == '/';
		if ((start && (*p == '.' || *p == '/')) ||
		    !((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || *p == '.' ||
		      *p == '_' || *p == '-' || *p == '/'))
			return false;
	}
	return s[n - 1] != '/';
}

/* "protect": {"<stage>": {"signers": ".mreg/<file>"}, ...} */
static int protect_object(mreg_policy *p, const cJSON *obj, const char *subject)
{
	const cJSON *c, *d;
	if (!cJSON_IsObject(obj))
		return policy_error(subject, NULL, "protect", "", " must be an object of stages");
	memset(p->protect, 0, sizeof(p->protect));
	cJSON_ArrayForEach(c, obj) {
		mreg_stage s = mreg_stage_parse(c->string);
		if (s == MREG_STAGE_NONE)
			return policy_error(subject, "protect", c->string, "unknown stage ", "");
		if (p->protect[s][0])
			return policy_error(subject, "protect", c->string, "duplicate key ", "");
		if (!cJSON_IsObject(c))
			return policy_error(subject, "protect", c->string, "", " must be an object with \"signers\"");
		cJSON_ArrayForEach(d, c) if (strcmp(d->string, "signers"))
			return policy_error(subject, "protect", d->string, "unknown key ", "");
		const cJSON *f = cJSON_GetObjectItemCaseSensitive(c, "signers");
		if (!cJSON_IsString(f) || !signers_path_ok(f->valuestring))
			return policy_error(subject, "protect", c->string, "",
					    ".signers must name a file under .mreg/ (plain names, at most 127 bytes)");
		memcpy(p->protect[s], f->valuestring, strlen(f->valuestring) + 1);
	}
	return 0;
}

static bool is_whole(double v)
{
	return isfinite(v) && v == floor(v);
}

/* The members of one object of mreg.json (group NULL: the top level) into *p. */
static int policy_object(mreg_policy *p, const cJSON *obj, const char *group, const char *subject)
{
	const cJSON *c, *d;
	cJSON_ArrayForEach(c, obj) {
		const struct policy_key *k = NULL;
		for (d = obj->child; d != c; d = d->next)
			if (!strcmp(d->string, c->string))
				return policy_error(subject, group, c->string, "duplicate key ", "");
		for (size_t i = 0; !k && i < sizeof(policy_keys) / sizeof(policy_keys[0]); i++)
			if (!strcmp(policy_keys[i].name, c->string) &&
			    (group ? policy_keys[i].group && !strcmp(policy_keys[i].group, group) : !policy_keys[i].group))
				k = &policy_keys[i];
		if (!k)
			return policy_error(subject, group, c->string, "unknown key ", "");
		double v = c->valuedouble;
		bool num = cJSON_IsNumber(c) && isfinite(v);
		char *field = (char *)p + k->off;
		int rc;
		switch (k->kind) {
		case KEY_GROUP:
			if (!cJSON_IsObject(c))
				return policy_error(subject, group, c->string, "", " must be an object");
			if ((rc = policy_object(p, c, c->string, subject)) < 0)
				return rc;
			break;
		case KEY_FORMAT:
			if (!num || !is_whole(v) || v < 1 || v > 1e9)
				return policy_error(subject, group, c->string, "", " must be a whole number >= 1");
			if (v > MREG_POLICY_FORMAT) {
				if (subject)
					return mreg_error_set(MREG_EINVALID,
							      "unsupported mreg.json format %lld in '%s': this mreg is too old (it reads format %d)",
							      (long long)v, subject, MREG_POLICY_FORMAT);
				return mreg_error_set(MREG_EINVALID,
						      "unsupported mreg.json format %lld: this mreg is too old (it reads format %d)",
						      (long long)v, MREG_POLICY_FORMAT);
			}
			break;
		case KEY_BYTES:
			if (!num || !is_whole(v) || v < k->min || v > k->max)
				return policy_error(subject, group, c->string, "",
						    " must be a whole number of bytes from 0 to 9007199254740992 (2^53)");
			*(int64_t *)(void *)field = (int64_t)v;
			break;
		case KEY_NUM:
		case KEY_COUNT:
			if (!num || v < k->min || v > k->max || (k->kind == KEY_COUNT && !is_whole(v))) {
				mreg_buf why = MREG_BUF_INIT;
				mreg_buf_printf(&why, " must be a %s from %g to %g",
						k->kind == KEY_COUNT ? "whole number" : "number", k->min, k->max);
				rc = policy_error(subject, group, c->string, "", why.ptr);
				mreg_buf_dispose(&why);
				return rc;
			}
			*(double *)(void *)field = mreg_num_nz(v);
			break;
		case KEY_BOOL:
			if (!cJSON_IsBool(c))
				return policy_error(subject, group, c->string, "", " must be true or false");
			*(bool *)(void *)field = cJSON_IsTrue(c);
			break;
		case KEY_PROTECT:
			if ((rc = protect_object(p, c, subject)) < 0)
				return rc;
			break;
		}
	}
	return 0;
}

int mreg_policy_from_json(mreg_policy *p, const cJSON *doc, const char *subject)
{
	mreg_policy q = *p;
	if (!cJSON_IsObject(doc)) {
		if (subject)
			return mreg_error_set(MREG_EINVALID, "invalid mreg.json in '%s': not a JSON object", subject);
		return mreg_error_set(MREG_EINVALID, "invalid mreg.json: not a JSON object");
	}
	int rc = policy_object(&q, doc, NULL, subject);
	if (rc == 0)
		*p = q;
	return rc;
}

unsigned mreg_event_stages_entered(const mreg_event *ev)
{
	mreg_stage to = ev->type == MREG_EV_PROMOTED	 ? ev->to
			: ev->type == MREG_EV_REGISTERED ? ev->stage
			: ev->type == MREG_EV_ROLLBACK	 ? MREG_STAGE_PRODUCTION
							 : MREG_STAGE_NONE;
	if (to == MREG_STAGE_NONE)
		return 0;
	unsigned mask = 1u << to;
	if (to == MREG_STAGE_PRODUCTION)
		mask |= 1u << MREG_STAGE_ARCHIVED;
	return mask;
}

mreg_stage mreg_policy_protected(const mreg_policy *p, unsigned mask)
{
	for (int s = 0; s < MREG_STAGE_COUNT; s++)
		if ((mask & (1u << s)) && p->protect[s][0])
			return (mreg_stage)s;
	return MREG_STAGE_NONE;
}

int mreg_rollback_allowed(mreg_buf *why, const mreg_state *st, const char *model, const char *trigger, int64_t now,
			  const mreg_policy *p)
{
	if (!trigger || strncmp(trigger, "auto_", 5) || !strcmp(trigger, "auto_regression_approved"))
		return 0;	/* a person's rollback (manual, approved) is not held back */
	int64_t last = -1;
	double today = 0;
	const cJSON *r;
	cJSON_ArrayForEach(r, st->rollbacks) {
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(r, "model_id");
		const cJSON *at = cJSON_GetObjectItemCaseSensitive(r, "timestamp");
		int64_t t;
		if (!cJSON_IsString(id) || strcmp(id->valuestring, model) || !cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "success")) ||
		    !cJSON_IsString(at) || mreg_time_parse(&t, at->valuestring) < 0)
			continue;
		if (t > last)
			last = t;
		if (now - t < (int64_t)86400 * 1000000)
			today++;
	}
	if (p->cooldown_minutes > 0 && last >= 0 && (double)(now - last) < p->cooldown_minutes * 60e6) {
		mreg_buf_printf(why, "the last rollback of '%s' was %.0f minutes ago (rollback.cooldown_minutes: ", model,
				(double)(now - last) / 60e6);
		mreg_put_pyfloat(why, p->cooldown_minutes);
		mreg_buf_putc(why, ')');
		return 1;
	}
	if (p->max_rollbacks_per_day > 0 && today >= p->max_rollbacks_per_day) {
		mreg_buf_printf(why, "'%s' was rolled back %.0f times in the last 24 hours (rollback.max_rollbacks_per_day: %.0f)",
				model, today, p->max_rollbacks_per_day);
		return 1;
	}
	return 0;
}

bool mreg_policy_protects(const mreg_policy *p)
{
	return mreg_policy_protected(p, (1u << MREG_STAGE_COUNT) - 1) != MREG_STAGE_NONE;
}

void mreg_put_pyfloat(mreg_buf *b, double v)
{
	size_t start = b->size;
	mreg_buf_printf(b, "%g", mreg_num_nz(v));
	if (!strpbrk(b->ptr + start, ".en"))	/* integral: Python keeps one decimal */
		mreg_buf_puts(b, ".0");
}

static bool metric(double *out, const mreg_metrics *m, mreg_metric k)
{
	if (!(m->present & (1u << k)))
		return false;
	*out = m->v[k];
	return true;
}

/* A number member of a JSON object; false when absent or null. */
static bool num_of(double *out, const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	if (!cJSON_IsNumber(v))
		return false;
	*out = v->valuedouble;
	return true;
}

int mreg_check_performance(mreg_buf *out, const cJSON *baseline, const mreg_metrics *cur, const mreg_policy *p)
{
	double bgames = 0, games = 0, belo, elo, bwr, wr;
	if (!baseline) {
		mreg_buf_puts(out, "No baseline set");
		return 0;
	}
	num_of(&bgames, baseline, "games_played");
	metric(&games, cur, MREG_METRIC_GAMES_PLAYED);
	double since = games - bgames;
	if (since < p->min_games_for_evaluation) {
		mreg_buf_printf(out, "Insufficient games (%g)", mreg_num_nz(since));
		return 0;
	}
	/* as the original: a zero or missing rating is not compared */
	if (num_of(&belo, baseline, "elo") && metric(&elo, cur, MREG_METRIC_ELO) && belo != 0 && elo != 0 &&
	    belo - elo >= p->elo_drop_threshold) {
		mreg_buf_printf(out, "Elo dropped by %.0f (threshold: ", belo - elo);
		mreg_put_pyfloat(out, p->elo_drop_threshold);
		mreg_buf_putc(out, ')');
		return 1;
	}
	if (num_of(&bwr, baseline, "win_rate") && metric(&wr, cur, MREG_METRIC_WIN_RATE) && bwr != 0 && wr != 0 &&
	    bwr - wr >= p->win_rate_drop_threshold) {
		mreg_buf_printf(out, "Win rate dropped by %.1f%% (threshold: %.1f%%)", (bwr - wr) * 100,
				p->win_rate_drop_threshold * 100);
		return 1;
	}
	mreg_buf_puts(out, "Performance within acceptable range");
	return 0;
}

const mreg_version *mreg_rollback_candidate(const mreg_model *m)
{
	const mreg_version *any = NULL;
	for (int i = m->nversions; i-- > 0;) {
		const mreg_version *v = &m->versions[i];
		if (v->stage != MREG_STAGE_ARCHIVED)
			continue;
		if (!any)
			any = v;
		double elo;
		if (metric(&elo, &v->metrics, MREG_METRIC_ELO) && elo > 0)
			return v;
	}
	return any;
}

int mreg_should_rollback(mreg_buf *out, mreg_buf *check, const mreg_state *st, const mreg_model *m,
			 const mreg_metrics *cur, const mreg_policy *p)
{
	if (!m || !m->prod) {
		mreg_buf_puts(out, "Model not in production");
		return 0;
	}
	/* the performance check answers for any production version, with or without a candidate (as check_performance) */
	mreg_buf tmp = MREG_BUF_INIT;
	mreg_buf *c = check ? check : &tmp;
	int degraded = mreg_check_baselines(c, st, m->id, cur ? cur : &m->prod->metrics, p);
	if (!mreg_rollback_candidate(m)) {
		mreg_buf_puts(out, "No rollback candidates available");
		mreg_buf_dispose(&tmp);
		return 0;
	}
	mreg_buf_puts(out, degraded ? c->ptr : "No rollback needed");
	mreg_buf_dispose(&tmp);
	return degraded;
}

mreg_stage mreg_auto_promote_decide(mreg_buf *out, const mreg_model *m, const mreg_version *v, const mreg_policy *p)
{
	double games = 0, elo, pelo;
	metric(&games, &v->metrics, MREG_METRIC_GAMES_PLAYED);
	if (v->stage == MREG_STAGE_DEVELOPMENT) {
		double need = floor(p->min_games / 2);
		if (games < need) {
			mreg_buf_printf(out, "Insufficient games (%g < %g)", mreg_num_nz(games), mreg_num_nz(need));
			return MREG_STAGE_NONE;
		}
		if (!metric(&elo, &v->metrics, MREG_METRIC_ELO)) {
			mreg_buf_puts(out, "No Elo rating available");
			return MREG_STAGE_NONE;
		}
		mreg_buf_puts(out, "Model meets staging criteria");
		return MREG_STAGE_STAGING;
	}
	if (v->stage != MREG_STAGE_STAGING) {
		mreg_buf_printf(out, "Model is in %s, not development or staging", mreg_stage_name(v->stage));
		return MREG_STAGE_NONE;
	}
	if (games < p->min_games) {
		mreg_buf_printf(out, "Insufficient games (%g < %g)", mreg_num_nz(games), mreg_num_nz(p->min_games));
		return MREG_STAGE_NONE;
	}
	/* production is compared per model (the original took any model's) */
	if (!m->prod) {
		mreg_buf_puts(out, "No current production model");
		return MREG_STAGE_PRODUCTION;
	}
	if (!metric(&elo, &v->metrics, MREG_METRIC_ELO) || !metric(&pelo, &m->prod->metrics, MREG_METRIC_ELO)) {
		mreg_buf_puts(out, "Cannot compare Elo ratings");
		return MREG_STAGE_NONE;
	}
	if (elo - pelo < p->min_elo_improvement) {
		mreg_buf_printf(out, "Elo improvement insufficient (%.1f < ", mreg_num_nz(elo - pelo));
		mreg_put_pyfloat(out, p->min_elo_improvement);
		mreg_buf_putc(out, ')');
		return MREG_STAGE_NONE;
	}
	mreg_buf_printf(out, "Elo improved by %.1f", mreg_num_nz(elo - pelo));
	return MREG_STAGE_PRODUCTION;
}

int mreg_regression_decide(mreg_regression_action *action, mreg_buf *out, const char **trigger,
			   const char *severity, double elo_drop, const char *reason, const mreg_policy *p)
{
	*action = MREG_REGRESSION_NOTHING;
	*trigger = NULL;
	if (!strcmp(severity, "critical")) {
		*action = MREG_REGRESSION_ROLLBACK;
		*trigger = "auto_regression_critical";
		mreg_buf_printf(out, "Auto-rollback: CRITICAL regression - %s", reason);
	} else if (!strcmp(severity, "severe")) {
		if (p->require_approval) {
			*action = MREG_REGRESSION_WAIT;
			mreg_buf_puts(out, reason);
		} else {
			*action = MREG_REGRESSION_ROLLBACK;
			*trigger = "auto_regression_severe";
			mreg_buf_printf(out, "Auto-rollback: SEVERE regression - %s", reason);
		}
	} else if (!strcmp(severity, "moderate")) {
		if (elo_drop > 30) {
			*action = MREG_REGRESSION_ROLLBACK;
			*trigger = "auto_regression_moderate";
			mreg_buf_printf(out, "Auto-rollback: MODERATE regression with elo_drop=%.1f - %s", mreg_num_nz(elo_drop),
					reason);
		} else {
			mreg_buf_printf(out, "Moderate regression with elo_drop=%.1f: monitoring, no rollback",
					mreg_num_nz(elo_drop));
		}
	} else if (!strcmp(severity, "minor")) {
		mreg_buf_puts(out, "Minor regression: no action");
	} else {
		return mreg_error_set(MREG_EINVALID,
				      "invalid severity '%s': use minor, moderate, severe or critical", severity);
	}
	if (*action == MREG_REGRESSION_ROLLBACK && !p->auto_rollback_enabled) {
		/* the original's auto_rollback_enabled false: recorded and reported, never rolled back by itself */
		*action = MREG_REGRESSION_WAIT;
		*trigger = NULL;
		mreg_buf_clear(out);
		mreg_buf_printf(out, "Auto-rollback disabled: %s", reason);
	}
	return 0;
}

void mreg_regression_write(mreg_jsonw *w, const char *model, mreg_regression_action act, const char *reason, int from,
			   int to)
{
	static const char *const names[] = { "none", "rollback", "wait" };
	mreg_jsonw_obj_begin(w, NULL);
	mreg_jsonw_str(w, "model_id", model);
	mreg_jsonw_str(w, "action", names[act]);
	mreg_jsonw_str(w, "reason", reason);
	if (act == MREG_REGRESSION_ROLLBACK) {
		mreg_jsonw_int(w, "from_version", from);
		mreg_jsonw_int(w, "to_version", to);
	}
	mreg_jsonw_obj_end(w);
}

bool mreg_cmaes_elo(double *out, double fitness)
{
	if (!(fitness > 0.01 && fitness < 0.99))
		return false;
	*out = -400 * log10(1 / fitness - 1);
	return true;
}

int mreg_rollback_stats_of(mreg_rollback_stats *out, const mreg_state *st, int64_t now)
{
	const cJSON *r;
	memset(out, 0, sizeof(*out));
	if (!(out->by_trigger = cJSON_CreateObject()))
		return mreg_error_set(MREG_ERROR, "out of memory");
	cJSON_ArrayForEach(r, st->rollbacks) {
		int64_t at;
		const cJSON *ts = cJSON_GetObjectItemCaseSensitive(r, "timestamp");
		const cJSON *tr = cJSON_GetObjectItemCaseSensitive(r, "triggered_by");
		out->total++;
		out->successful += cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(r, "success"));
		if (cJSON_IsString(ts) && mreg_time_parse(&at, ts->valuestring) == 0 && now - at < 86400LL * 1000000)
			out->recent++;
		const char *name = cJSON_IsString(tr) ? tr->valuestring : "unknown";
		cJSON *c = cJSON_GetObjectItemCaseSensitive(out->by_trigger, name);
		if (c)
			cJSON_SetNumberValue(c, c->valuedouble + 1);
		else if (!cJSON_AddNumberToObject(out->by_trigger, name, 1))
			return mreg_error_set(MREG_ERROR, "out of memory");
	}
	return 0;
}

void mreg_rollback_stats_dispose(mreg_rollback_stats *s)
{
	cJSON_Delete(s->by_trigger);
	s->by_trigger = NULL;
}

void mreg_rollback_stats_write(mreg_jsonw *w, const mreg_rollback_stats *s)
{
	mreg_jsonw_obj_begin(w, NULL);
	mreg_jsonw_int(w, "total_rollbacks", s->total);
	mreg_jsonw_int(w, "successful", s->successful);
	mreg_jsonw_int(w, "failed", s->total - s->successful);
	mreg_jsonw_value(w, "by_trigger", s->by_trigger);
	mreg_jsonw_int(w, "recent_24h", s->recent);
	mreg_jsonw_obj_end(w);
}

void mreg_rolled_back_write(mreg_jsonw *w, const char *model, int from, int to, const char *reason, const char *trigger)
{
	mreg_jsonw_obj_begin(w, NULL);
	mreg_jsonw_bool(w, "success", true);
	mreg_jsonw_str(w, "model_id", model);
	mreg_jsonw_int(w, "from_version", from);
	mreg_jsonw_int(w, "to_version", to);
	mreg_jsonw_str(w, "reason", reason);
	mreg_jsonw_str(w, "triggered_by", trigger);
	mreg_jsonw_obj_end(w);
}

void mreg_rollback_history_write(mreg_jsonw *w, const mreg_state *st, const char *model, double limit)
{
	int shown = 0;
	mreg_jsonw_arr_begin(w, NULL);
	/* newest first: the record is in fold order */
	for (int i = cJSON_GetArraySize(st->rollbacks) - 1; i >= 0 && (limit < 0 || shown < limit); i--) {
		const cJSON *r = cJSON_GetArrayItem(st->rollbacks, i);
		const cJSON *id = cJSON_GetObjectItemCaseSensitive(r, "model_id");
		if (model && (!cJSON_IsString(id) || strcmp(id->valuestring, model)))
			continue;
		shown++;
		mreg_jsonw_value(w, NULL, r);
	}
	mreg_jsonw_arr_end(w);
}
