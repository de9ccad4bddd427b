/*
 * The stage machine's table (diagram in stage.h). The CLI, the fold and the
 * invariant check all ask mreg_stage_allowed(); nothing else encodes it.
 */
#include "stage.h"

#include <string.h>

static const char *const stage_names[MREG_STAGE_COUNT] = {
	"development", "staging", "production", "archived", "rejected"
};

static const char *const type_names[MREG_TYPE_COUNT] = {
	"policy_value", "heuristic", "ensemble", "compressed", "experimental"
};

#define D (1u << MREG_STAGE_DEVELOPMENT)
#define S (1u << MREG_STAGE_STAGING)
#define P (1u << MREG_STAGE_PRODUCTION)
#define A (1u << MREG_STAGE_ARCHIVED)
#define R (1u << MREG_STAGE_REJECTED)

static const unsigned allowed[MREG_STAGE_COUNT] = {
	[MREG_STAGE_DEVELOPMENT] = S | A | R,
	[MREG_STAGE_STAGING] = P | D | A | R,
	[MREG_STAGE_PRODUCTION] = A | S,
	[MREG_STAGE_ARCHIVED] = D,
	[MREG_STAGE_REJECTED] = D,
};

const char *mreg_stage_name(mreg_stage s)
{
	return s >= 0 && s < MREG_STAGE_COUNT ? stage_names[s] : "(new)";
}

mreg_stage mreg_stage_parse(const char *name)
{
	for (int i = 0; name && i < MREG_STAGE_COUNT; i++)
		if (!strcmp(name, stage_names[i]))
			return (mreg_stage)i;
	return MREG_STAGE_NONE;
}

bool mreg_stage_allowed(mreg_stage from, mreg_stage to)
{
	if (from < 0 || from >= MREG_STAGE_COUNT || to < 0 || to >= MREG_STAGE_COUNT)
		return false;
	return (allowed[from] >> to) & 1u;
}

const char *mreg_type_name(mreg_model_type t)
{
	return t >= 0 && t < MREG_TYPE_COUNT ? type_names[t] : "unknown";
}

mreg_model_type mreg_type_parse(const char *name)
{
	for (int i = 0; name && i < MREG_TYPE_COUNT; i++)
		if (!strcmp(name, type_names[i]))
			return (mreg_model_type)i;
	return MREG_TYPE_NONE;
}
