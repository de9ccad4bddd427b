/*
 * Stages, model types and the transition table.
 *
 *                 +-----------+   +---------+   +------------+
 *   register ---> |development|-->| staging |-->| production |
 *                 +-----------+<--+---------+<--+------------+
 *                   ^  ^  |  |       |  |             |
 *                   |  |  |  +-------|--|----+        |
 *                   |  |  v          v  v    v        v
 *                   |  | +----------+  +----------+   |
 *                   |  +-| rejected |  | archived |<--+
 *                   |    +----------+  +----------+
 *                   +------------------------+
 *
 *   from          to
 *   development   staging, archived, rejected
 *   staging       production, development, archived, rejected
 *   production    archived, staging
 *   archived      development
 *   rejected      development
 *
 * Anything else, staying put included, is refused with
 * "cannot transition from X to Y". A rollback is the one move outside the
 * table: archived -> production, with the replaced version archived in the
 * same event (fold.c).
 */
#ifndef MREG_STAGE_H
#define MREG_STAGE_H

#include <stdbool.h>

typedef enum {
	MREG_STAGE_NONE = -1,
	MREG_STAGE_DEVELOPMENT = 0,
	MREG_STAGE_STAGING,
	MREG_STAGE_PRODUCTION,
	MREG_STAGE_ARCHIVED,
	MREG_STAGE_REJECTED,
	MREG_STAGE_COUNT
} mreg_stage;

typedef enum {
	MREG_TYPE_NONE = -1,
	MREG_TYPE_POLICY_VALUE = 0,
	MREG_TYPE_HEURISTIC,
	MREG_TYPE_ENSEMBLE,
	MREG_TYPE_COMPRESSED,
	MREG_TYPE_EXPERIMENTAL,
	MREG_TYPE_COUNT
} mreg_model_type;

const char *mreg_stage_name(mreg_stage s);
mreg_stage mreg_stage_parse(const char *name);	/* MREG_STAGE_NONE if unknown */
bool mreg_stage_allowed(mreg_stage from, mreg_stage to);

const char *mreg_type_name(mreg_model_type t);
mreg_model_type mreg_type_parse(const char *name);

#endif
