/*
 * The C API's inside (capi.c): a method's arguments read from its JSON
 * object by name, and the handle's state and registries, for the files that
 * hold the methods (capi.c: versions and reads; capi_lifecycle.c: the
 * rollback manager, baselines, the quality watch, comparisons,
 * validations, the auto-promoter, CMA-ES; capi_ops.c: backups, sync,
 * export and import, fsck).
 */
#ifndef MREG_CAPI_H
#define MREG_CAPI_H

#include "internal.h"
#include "mreg.h"

typedef struct {
	const cJSON *args;	/* the call's object (NULL: none given) */
	const char *method;
} mreg_call_args;

/* A string argument; NULL when absent or null; MREG_EINVALID naming key and method when of another type. */
int mreg_arg_str(const char **out, const mreg_call_args *a, const char *key, bool required);
/* A whole number (dflt when absent or null) from min to max. */
int mreg_arg_int(int *out, const mreg_call_args *a, const char *key, int dflt, int min, int max);
/* A number from min to max; *given false when absent or null. */
int mreg_arg_num(double *out, bool *given, const mreg_call_args *a, const char *key, double min, double max);
int mreg_arg_bool(bool *out, const mreg_call_args *a, const char *key);
/* "model" and "version" (0 or absent: the latest). */
int mreg_arg_ref(mreg_ref *ref, const mreg_call_args *a);
int mreg_arg_stage(mreg_stage *out, const mreg_call_args *a, const char *key, bool required);
int mreg_arg_type(mreg_model_type *out, const mreg_call_args *a);
/* An object of the original's metric names (unknown keys ignored, as the original's from_dict). */
int mreg_arg_metrics(mreg_metrics *out, const mreg_call_args *a, const char *key);

/* The state at HEAD (every model), from the handle's cache when HEAD has not moved. */
int mreg_handle_state(const mreg_state **out, mreg_handle *h);
/* The registry the handle reads through. */
mreg_registry *mreg_handle_reader(mreg_handle *h);
/* A registry opened for one write, its actor the call's "actor" when given; free it after. */
int mreg_handle_writer(mreg_registry **out, mreg_handle *h, const mreg_call_args *a);

/* The lifecycle methods (capi_lifecycle.c): 0 or an error when a->method is one of them, else 1. */
int mreg_capi_lifecycle(mreg_jsonw *w, mreg_handle *h, const mreg_call_args *a);
/* Backups, sync and remotes, export and import, fsck (capi_ops.c); the same. */
int mreg_capi_ops(mreg_jsonw *w, mreg_handle *h, const mreg_call_args *a);

#endif
