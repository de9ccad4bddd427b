/*
 * The JSON writer: the one place that decides how mreg's bytes look.
 *
 * Event ids are hashes of bytes as written, and state files must be
 * byte-identical on every node, so output is fully determined by the calls
 * made: keys in the order given, 2-space indentation, one member per line,
 * shortest round-trip numbers (num.c), strings escaped the same way always.
 * Empty objects and arrays are written as {} and [].
 */
#ifndef MREG_JSONW_H
#define MREG_JSONW_H

#include "common.h"
#include <cjson/cJSON.h>
#include <stdbool.h>

#define MREG_JSONW_DEPTH 32

typedef struct {
	mreg_buf *out;
	int depth;
	int count[MREG_JSONW_DEPTH];	/* members written at each depth */
} mreg_jsonw;

void mreg_jsonw_init(mreg_jsonw *w, mreg_buf *out);
/* key is NULL inside arrays and for the top-level value. */
void mreg_jsonw_obj_begin(mreg_jsonw *w, const char *key);
void mreg_jsonw_obj_end(mreg_jsonw *w);
void mreg_jsonw_arr_begin(mreg_jsonw *w, const char *key);
void mreg_jsonw_arr_end(mreg_jsonw *w);
void mreg_jsonw_str(mreg_jsonw *w, const char *key, const char *s);	/* NULL writes null */
void mreg_jsonw_int(mreg_jsonw *w, const char *key, int64_t v);
void mreg_jsonw_num(mreg_jsonw *w, const char *key, double v);
void mreg_jsonw_bool(mreg_jsonw *w, const char *key, bool v);
void mreg_jsonw_null(mreg_jsonw *w, const char *key);
/* Bytes this writer wrote before at the same depth, copied as they are. */
void mreg_jsonw_raw(mreg_jsonw *w, const char *key, const char *json, size_t len);
/* Bytes this writer wrote at depth `at` (>= the current one), re-indented to this depth. */
void mreg_jsonw_raw_at(mreg_jsonw *w, const char *key, const char *json, size_t len, int at);
/* What precedes such a value (separator, indentation, key); the caller adds the bytes. */
void mreg_jsonw_raw_begin(mreg_jsonw *w, const char *key);
/* A parsed value, members in their stored order. */
void mreg_jsonw_value(mreg_jsonw *w, const char *key, const cJSON *v);
/*
 * v's bytes as mreg_jsonw_value writes them as a member at depth `at` (what
 * follows the key), appended to out: bytes for mreg_jsonw_raw_at at that
 * depth. MREG_ERROR, with its message, when v is too deep or memory short.
 */
int mreg_jsonw_render_at(mreg_buf *out, const cJSON *v, int at);
/* Close the document with a newline; 0, or MREG_ERROR if the buffer failed. */
int mreg_jsonw_finish(mreg_jsonw *w);

#endif
