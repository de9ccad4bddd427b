/*
 * Training config: the object a registration carries under
 * "training_config". The keys the original knew (learning_rate,
 * batch_size, ...) are checked and typed; any other top-level key moves
 * into extra_config, sorted; keys come in the original's order, so the
 * same config always gives the same bytes. A registration stores only the
 * keys given; the state's view fills in the original's defaults.
 */
#include "event.h"
#include "num.h"

#include <stdlib.h>
#include <string.h>

typedef enum { CFG_NUM, CFG_INT, CFG_STR, CFG_BOOL, CFG_ANY } cfg_kind;

static const struct {
	const char *key;
	cfg_kind kind;
	double num;
	const char *str;
	bool nullable;
} config_keys[] = {
	{ "learning_rate", CFG_NUM, 0.001, NULL, false },
	{ "batch_size", CFG_INT, 256, NULL, false },
	{ "epochs", CFG_INT, 100, NULL, false },
	{ "optimizer", CFG_STR, 0, "adam", false },
	{ "architecture", CFG_STR, 0, "resnet", false },
	{ "num_residual_blocks", CFG_INT, 10, NULL, false },
	{ "num_filters", CFG_INT, 128, NULL, false },
	{ "augmentation_enabled", CFG_BOOL, 1, NULL, false },
	{ "curriculum_stage", CFG_ANY, 0, NULL, true },
	{ "parent_model_id", CFG_STR, 0, NULL, true },
	{ "training_data_hash", CFG_STR, 0, NULL, true },
};
#define N_CONFIG_KEYS (sizeof(config_keys) / sizeof(config_keys[0]))

static int config_key(const char *k)
{
	for (size_t i = 0; i < N_CONFIG_KEYS; i++)
		if (!strcmp(config_keys[i].key, k))
			return (int)i;
	return -1;
}

static int check_config_value(size_t i, const cJSON *v, const char *subject)
{
	const char *k = config_keys[i].key;
	if (cJSON_IsNull(v)) {
		if (config_keys[i].nullable)
			return 0;
		return mreg_error_set(MREG_EINVALID, "invalid training config %s for '%s': must not be null", k,
				      subject);
	}
	switch (config_keys[i].kind) {
	case CFG_NUM:
		if (!cJSON_IsNumber(v) || v->valuedouble <= 0)
			return mreg_error_set(MREG_EINVALID,
					      "invalid training config %s for '%s': must be a number > 0", k, subject);
		break;
	case CFG_INT:
		if (!cJSON_IsNumber(v) || !mreg_num_is_int(v->valuedouble) || v->valuedouble < 0)
			return mreg_error_set(MREG_EINVALID,
					      "invalid training config %s for '%s': must be a whole number >= 0", k,
					      subject);
		break;
	case CFG_STR:
		if (!cJSON_IsString(v))
			return mreg_error_set(MREG_EINVALID, "invalid training config %s for '%s': must be a string",
					      k, subject);
		break;
	case CFG_BOOL:
		if (!cJSON_IsBool(v))
			return mreg_error_set(MREG_EINVALID,
					      "invalid training config %s for '%s': must be true or false", k, subject);
		break;
	case CFG_ANY:
		if (cJSON_IsArray(v) || cJSON_IsObject(v))
			return mreg_error_set(MREG_EINVALID,
					      "invalid training config %s for '%s': must be a string or a number", k,
					      subject);
		break;
	}
	return 0;
}

/* A member moved into extra_config, and where it came: the later of two with one key wins. */
typedef struct {
	const cJSON *item;
	size_t pos;
} extra_item;

static int cmp_items(const void *a, const void *b)
{
	const extra_item *x = a, *y = b;
	int c = strcmp(x->item->string, y->item->string);
	return c ? c : x->pos < y->pos ? -1 : 1;
}

/* Copy members of src into dst sorted by key; later duplicates win. */
static int add_sorted(cJSON *dst, extra_item *items, size_t n)
{
	if (n)
		qsort(items, n, sizeof(*items), cmp_items);
	for (size_t i = 0; i < n; i++) {
		if (i + 1 < n && !strcmp(items[i].item->string, items[i + 1].item->string))
			continue;
		cJSON *dup = cJSON_Duplicate(items[i].item, 1);
		if (!dup)
			return MREG_ERROR;
		cJSON_AddItemToObject(dst, items[i].item->string, dup);
	}
	return 0;
}

int mreg_config_normalize(cJSON **out, const cJSON *in, bool with_defaults, const char *subject)
{
	const cJSON *given[N_CONFIG_KEYS] = { 0 };
	extra_item *extra = NULL;
	size_t nextra = 0, aextra = 0;
	cJSON *obj = NULL, *ex = NULL;
	const cJSON *c;
	int rc = MREG_ERROR;

	*out = NULL;
	if (in && !cJSON_IsObject(in))
		return mreg_error_set(MREG_EINVALID, "invalid training config for '%s': expected a JSON object",
				      subject);
	cJSON_ArrayForEach(c, in) {
		int k = config_key(c->string);
		if (k >= 0) {
			if ((rc = check_config_value((size_t)k, c, subject)) < 0)
				goto done;
			given[k] = c;
			continue;
		}
		const cJSON *src = c;
		size_t add = 1;
		if (!strcmp(c->string, "extra_config")) {
			if (!cJSON_IsObject(c) && !cJSON_IsNull(c)) {
				rc = mreg_error_set(MREG_EINVALID,
						    "invalid training config extra_config for '%s': expected an object",
						    subject);
				goto done;
			}
			add = (size_t)cJSON_GetArraySize(c);
			src = c->child;
		}
		if (nextra + add > aextra) {
			aextra = (nextra + add) * 2 + 8;
			extra_item *p = realloc(extra, aextra * sizeof(*extra));
			if (!p) {
				rc = mreg_error_set(MREG_ERROR, "out of memory");
				goto done;
			}
			extra = p;
		}
		for (size_t i = 0; i < add && src; i++, src = src->next, nextra++) {
			extra[nextra].item = src;
			extra[nextra].pos = nextra;
		}
	}
	rc = MREG_ERROR;
	if (!(obj = cJSON_CreateObject()))
		goto done;
	for (size_t i = 0; i < N_CONFIG_KEYS; i++) {
		cJSON *v = NULL;
		if (given[i])
			v = cJSON_Duplicate(given[i], 1);
		else if (!with_defaults)
			continue;
		else if (config_keys[i].kind == CFG_STR && config_keys[i].str)
			v = cJSON_CreateString(config_keys[i].str);
		else if (config_keys[i].kind == CFG_NUM || config_keys[i].kind == CFG_INT)
			v = cJSON_CreateNumber(config_keys[i].num);
		else if (config_keys[i].kind == CFG_BOOL)
			v = cJSON_CreateBool(config_keys[i].num != 0);
		else
			v = cJSON_CreateNull();
		if (!v)
			goto done;
		cJSON_AddItemToObject(obj, config_keys[i].key, v);
	}
	if (nextra || with_defaults) {
		if (!(ex = cJSON_CreateObject()))
			goto done;
		if (add_sorted(ex, extra, nextra) < 0)
			goto done;
		cJSON_AddItemToObject(obj, "extra_config", ex);
		ex = NULL;
	}
	*out = obj;
	obj = NULL;
	rc = 0;
done:
	free(extra);
	cJSON_Delete(obj);
	cJSON_Delete(ex);
	return rc;
}

int mreg_config_set_kv(cJSON *obj, const char *kv)
{
	const char *eq = strchr(kv, '=');
	if (!eq || eq == kv)
		return mreg_error_set(MREG_EINVALID, "invalid training config '%s': expected KEY=VALUE", kv);
	char *key = mreg_strfmt("%.*s", (int)(eq - kv), kv);
	if (!key)
		return MREG_ERROR;
	cJSON *v = cJSON_Parse(eq + 1);
	if (!v || cJSON_IsArray(v) || cJSON_IsObject(v)) {
		cJSON_Delete(v);
		v = cJSON_CreateString(eq + 1);
	}
	/* appended, not looked up: an earlier value of the key gives way in mreg_config_normalize */
	int rc = v && cJSON_AddItemToObject(obj, key, v) ? 0 : mreg_error_set(MREG_ERROR, "out of memory");
	if (rc < 0)
		cJSON_Delete(v);
	free(key);
	return rc;
}

void mreg_config_merge(cJSON *into, cJSON *from)
{
	cJSON *c;
	while ((c = from->child)) {
		cJSON_DetachItemViaPointer(from, c);
		cJSON_AddItemToArray(into, c);	/* keeps its key; appends in constant time */
	}
}
