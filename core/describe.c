/*
 * An event in words, one line, for people reading what a range of commits
 * does (`mreg check`): "square8_2p:3 staging -> production (passed
 * evaluation) by alice". Free text (reasons, tags, names) is cut to a
 * readable length and its control characters shown as '?', so one event is
 * always one line whatever its writer put in it. And an event as the log
 * lists it (`mreg log --json`, the API's /events): its envelope alone.
 */
#include "event.h"

#include <string.h>

#define TEXT_MAX 160

/* s as one short line: control characters as '?', cut at TEXT_MAX bytes with "...". */
static void put_text(mreg_buf *b, const char *s)
{
	size_t n = 0;
	for (const unsigned char *p = (const unsigned char *)s; *p && n < TEXT_MAX; p++, n++)
		mreg_buf_putc(b, *p < 0x20 || *p == 0x7f ? '?' : (char)*p);
	if (strlen(s) > TEXT_MAX)
		mreg_buf_puts(b, "...");
}

/* " (text)" when text is given and not empty. */
static void put_paren(mreg_buf *b, const char *text)
{
	if (!text || !*text)
		return;
	mreg_buf_puts(b, " (");
	put_text(b, text);
	mreg_buf_putc(b, ')');
}

static void put_tags(mreg_buf *b, const mreg_event *ev)
{
	for (size_t i = 0; i < ev->ntags && i < 8; i++) {
		mreg_buf_puts(b, i ? ", " : " ");
		put_text(b, ev->tags[i]);
	}
	if (ev->ntags > 8)
		mreg_buf_printf(b, " and %zu more", ev->ntags - 8);
}

void mreg_event_describe(mreg_buf *out, const mreg_event *ev, int version, int other)
{
	int v = version > 0 ? version : ev->version;
	mreg_buf_puts(out, ev->model);
	if (mreg_event_has_version(ev) || ev->type == MREG_EV_REGISTERED)
		mreg_buf_printf(out, ":%d", v);
	switch (ev->type) {
	case MREG_EV_REGISTERED:
		mreg_buf_printf(out, " registered in %s", mreg_stage_name(ev->stage));
		break;
	case MREG_EV_PROMOTED:
		mreg_buf_printf(out, " %s -> %s", mreg_stage_name(ev->from), mreg_stage_name(ev->to));
		put_paren(out, ev->reason);
		break;
	case MREG_EV_METRICS:
		mreg_buf_puts(out, ev->replace ? " metrics replaced" : " metrics updated");
		break;
	case MREG_EV_TAGGED:
	case MREG_EV_UNTAGGED:
		mreg_buf_puts(out, ev->type == MREG_EV_TAGGED ? " tagged" : " untagged");
		put_tags(out, ev);
		break;
	case MREG_EV_VALIDATION:
		mreg_buf_puts(out, " validation ");
		put_text(out, mreg_event_body_str(ev, "action"));
		break;
	case MREG_EV_COMPARISON:
		mreg_buf_puts(out, " compared with ");
		put_text(out, mreg_event_body_str(ev, "b_model"));
		mreg_buf_printf(out, ":%d", other > 0 ? other : (int)mreg_event_body_num(ev, "b_version", 0));
		break;
	case MREG_EV_BASELINE:
		if (mreg_event_body_str(ev, "name")) {
			mreg_buf_puts(out, " baseline '");
			put_text(out, mreg_event_body_str(ev, "name"));
			mreg_buf_puts(out, "' set");
		} else {
			mreg_buf_puts(out, " baseline set");
		}
		break;
	case MREG_EV_QUALITY:
		mreg_buf_printf(out, " data quality %.3f reported (threshold %.3f)", mreg_event_body_num(ev, "score", 0),
				mreg_event_body_num(ev, "threshold", 0));
		break;
	case MREG_EV_CHECKED:
		mreg_buf_puts(out, cJSON_IsTrue(cJSON_GetObjectItemCaseSensitive(ev->body, "degraded"))
					   ? " rollback check: degraded"
					   : " rollback check: within range");
		put_paren(out, mreg_event_body_str(ev, "reason"));
		break;
	case MREG_EV_ROLLBACK:
		mreg_buf_printf(out, " archived -> production, rolled back from %d",
				other > 0 ? other : (int)mreg_event_body_num(ev, "from_version", 0));
		put_paren(out, mreg_event_body_str(ev, "reason"));
		break;
	case MREG_EV_ROLLBACK_REQUESTED:
		mreg_buf_puts(out, " rollback requested");
		put_paren(out, mreg_event_body_str(ev, "reason"));
		break;
	case MREG_EV_ROLLBACK_CLEARED:
		mreg_buf_puts(out, " rollback request cleared");
		break;
	default:
		mreg_buf_printf(out, " %s", mreg_event_type_name(ev->type));
		break;
	}
	mreg_buf_puts(out, " by ");
	put_text(out, ev->actor);
}

void mreg_event_write_summary(mreg_jsonw *w, const mreg_event *e)
{
	mreg_jsonw_obj_begin(w, NULL);
	mreg_jsonw_str(w, "id", e->id);
	mreg_jsonw_int(w, "clock", e->clock);
	mreg_jsonw_str(w, "time", e->time);
	mreg_jsonw_str(w, "type", mreg_event_type_name(e->type));
	mreg_jsonw_str(w, "actor", e->actor);
	mreg_jsonw_str(w, "node", e->node);
	mreg_jsonw_str(w, "model", e->model);
	mreg_jsonw_int(w, "version", e->version);
	mreg_jsonw_str(w, "ref", e->ref[0] ? e->ref : NULL);
	mreg_jsonw_obj_end(w);
}
