/*
 * Questions asked of a state: which version a REF means, which versions a
 * listing shows and in what order, how many versions sit in each stage.
 * Listing across models needs those models loaded; the caller loads them.
 */
#ifndef MREG_QUERY_H
#define MREG_QUERY_H

#include "state.h"

typedef struct {
	char model[MREG_ID_MAX + 1];
	int version;		/* 0: latest */
} mreg_ref;

/* "model_id[:N]" */
int mreg_ref_parse(mreg_ref *out, const char *s);

/* The version a ref names; MREG_ENOTFOUND with a message naming it. */
int mreg_query_version(mreg_model **model, mreg_version **version, const mreg_state *st, const mreg_ref *ref);

typedef struct {
	mreg_stage stage;	/* MREG_STAGE_NONE: any */
	mreg_model_type type;	/* MREG_TYPE_NONE: any */
	const char *tag;	/* NULL: any */
	const char *model;	/* NULL: any */
} mreg_filter;

#define MREG_FILTER_INIT { MREG_STAGE_NONE, MREG_TYPE_NONE, NULL, NULL }

typedef struct {
	const mreg_model *model;
	const mreg_version *version;
} mreg_row;

/* Matching versions, newest update first (then model id, then version, descending). */
int mreg_query_list(mreg_row **out, size_t *n, const mreg_state *st, const mreg_filter *f);

#endif
