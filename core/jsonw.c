/*
 * Pretty JSON writer with a fixed layout; see jsonw.h for why it exists.
 */
#include "jsonw.h"
#include "num.h"

#include <math.h>
#include <string.h>

void mreg_jsonw_init(mreg_jsonw *w, mreg_buf *out)
{
	w->out = out;
	w->depth = 0;
	w->count[0] = 0;
}

static void indent(mreg_jsonw *w)
{
	static const char spaces[2 * MREG_JSONW_DEPTH] = "                                                                ";
	mreg_buf_put(w->out, spaces, 2 * (size_t)w->depth);
}

static void member(mreg_jsonw *w, const char *key)
{
	if (w->depth > 0) {
		if (w->count[w->depth]++)
			mreg_buf_putc(w->out, ',');
		mreg_buf_putc(w->out, '\n');
		indent(w);
	}
	if (key) {
		mreg_buf_put_json_string(w->out, key);
		mreg_buf_put(w->out, ": ", 2);
	}
}

static void w_open(mreg_jsonw *w, const char *key, char c)
{
	member(w, key);
	mreg_buf_putc(w->out, c);
	if (w->depth + 1 < MREG_JSONW_DEPTH) {
		w->depth++;
		w->count[w->depth] = 0;
	} else {
		w->out->oom = 1;	/* deeper than any mreg document */
	}
}

static void w_close(mreg_jsonw *w, char c)
{
	int n = w->count[w->depth];
	w->depth--;
	if (n) {
		mreg_buf_putc(w->out, '\n');
		indent(w);
	}
	mreg_buf_putc(w->out, c);
}

void mreg_jsonw_obj_begin(mreg_jsonw *w, const char *key) { w_open(w, key, '{'); }
void mreg_jsonw_obj_end(mreg_jsonw *w) { w_close(w, '}'); }
void mreg_jsonw_arr_begin(mreg_jsonw *w, const char *key) { w_open(w, key, '['); }
void mreg_jsonw_arr_end(mreg_jsonw *w) { w_close(w, ']'); }

void mreg_jsonw_str(mreg_jsonw *w, const char *key, const char *s)
{
	member(w, key);
	if (s)
		mreg_buf_put_json_string(w->out, s);
	else
		mreg_buf_puts(w->out, "null");
}

void mreg_jsonw_int(mreg_jsonw *w, const char *key, int64_t v)
{
	member(w, key);
	mreg_buf_printf(w->out, "%lld", (long long)v);
}

void mreg_jsonw_num(mreg_jsonw *w, const char *key, double v)
{
	char num[MREG_NUM_MAX];
	member(w, key);
	if (mreg_num_format(num, v) < 0)
		mreg_buf_puts(w->out, "null");
	else
		mreg_buf_puts(w->out, num);
}

void mreg_jsonw_bool(mreg_jsonw *w, const char *key, bool v)
{
	member(w, key);
	mreg_buf_puts(w->out, v ? "true" : "false");
}

void mreg_jsonw_null(mreg_jsonw *w, const char *key)
{
	member(w, key);
	mreg_buf_puts(w->out, "null");
}

void mreg_jsonw_raw(mreg_jsonw *w, const char *key, const char *json, size_t len)
{
	member(w, key);
	mreg_buf_put(w->out, json, len);
}

void mreg_jsonw_raw_at(mreg_jsonw *w, const char *key, const char *json, size_t len, int at)
{
	size_t drop = at > w->depth ? (size_t)(at - w->depth) * 2 : 0;
	const char *p = json, *end = json + len;
	member(w, key);
	/* every line after the first starts with at least `at` levels of indentation */
	while (p < end) {
		const char *nl = memchr(p, '\n', (size_t)(end - p));
		if (!nl) {
			mreg_buf_put(w->out, p, (size_t)(end - p));
			break;
		}
		mreg_buf_put(w->out, p, (size_t)(nl + 1 - p));
		p = nl + 1;
		for (size_t i = 0; i < drop && p < end && *p == ' '; i++)
			p++;
	}
}

int mreg_jsonw_render_at(mreg_buf *out, const cJSON *v, int at)
{
	mreg_jsonw w;
	size_t start = out->size;
	if (at < 1 || at >= MREG_JSONW_DEPTH - 1)
		return mreg_error_set(MREG_ERROR, "cannot write a JSON value at depth %d", at);
	mreg_jsonw_init(&w, out);
	w.depth = at;
	w.count[at] = 0;
	mreg_jsonw_value(&w, NULL, v);
	/* a first member at that depth starts on a line of its own: the value starts after the indentation */
	size_t lead = 1 + 2 * (size_t)at;
	if (out->oom || out->size < start + lead)
		return mreg_error_set(MREG_ERROR, "cannot write a JSON value: nested deeper than %d levels, or out of memory",
				      MREG_JSONW_DEPTH - 1 - at);
	memmove(out->ptr + start, out->ptr + start + lead, out->size - start - lead);
	mreg_buf_truncate(out, out->size - lead);
	return 0;
}

void mreg_jsonw_raw_begin(mreg_jsonw *w, const char *key)
{
	member(w, key);
}

void mreg_jsonw_value(mreg_jsonw *w, const char *key, const cJSON *v)
{
	const cJSON *c;
	if (!v || cJSON_IsNull(v)) {
		mreg_jsonw_null(w, key);
	} else if (cJSON_IsBool(v)) {
		mreg_jsonw_bool(w, key, cJSON_IsTrue(v));
	} else if (cJSON_IsNumber(v)) {
		mreg_jsonw_num(w, key, v->valuedouble);
	} else if (cJSON_IsString(v)) {
		mreg_jsonw_str(w, key, v->valuestring);
	} else if (cJSON_IsArray(v)) {
		mreg_jsonw_arr_begin(w, key);
		cJSON_ArrayForEach(c, v)
			mreg_jsonw_value(w, NULL, c);
		mreg_jsonw_arr_end(w);
	} else if (cJSON_IsObject(v)) {
		mreg_jsonw_obj_begin(w, key);
		cJSON_ArrayForEach(c, v)
			mreg_jsonw_value(w, c->string, c);
		mreg_jsonw_obj_end(w);
	} else {
		mreg_jsonw_null(w, key);
	}
}

int mreg_jsonw_finish(mreg_jsonw *w)
{
	mreg_buf_putc(w->out, '\n');
	return mreg_buf_oom(w->out) ? MREG_ERROR : 0;
}
