/*
 * The command line's one option parser, and what every command file uses
 * around the library: opening the registry, reporting an error with its
 * exit code, reading numbers, REFs and JSON files the user named, printing
 * JSON documents.
 *
 * cli_parse checks argv against the command's option table and keeps argv;
 * the lookups (cli_get, cli_has, cli_next) walk it again with the same
 * rules, so an option's values come back in the order given and a value
 * such as `-r --` is never mistaken for an option. A lookup of a name that
 * is not in the command's table is a mistake in mreg, not in the command
 * line, and stops the program.
 */
#include "cli.h"
#include "../core/num.h"

#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- the option parser ------------------------------------------------ */

/* The option of cmd that arg ("--name", "--name=VALUE" or "-x") names, or NULL; *inline_value: VALUE, else NULL. */
static const cli_opt *opt_lookup(const cli_command *cmd, const char *arg, const char **inline_value)
{
	*inline_value = NULL;
	if (arg[1] == '-') {
		const char *eq = strchr(arg + 2, '=');
		size_t n = eq ? (size_t)(eq - arg - 2) : strlen(arg + 2);
		for (const cli_opt *o = cmd->opts; o && o->name; o++)
			if (strlen(o->name) == n && !strncmp(o->name, arg + 2, n)) {
				*inline_value = eq ? eq + 1 : NULL;
				return o;
			}
	} else if (!arg[2]) {
		for (const cli_opt *o = cmd->opts; o && o->name; o++)
			if (o->short_name == arg[1])
				return o;
	}
	return NULL;
}

static bool is_positional(const char *arg)
{
	return arg[0] != '-' || !arg[1];
}

int cli_parse(cli_args *a, const char *name, int argc, char **argv)
{
	a->cmd = cli_find(name);
	a->argc = argc;
	a->argv = argv;
	a->optend = argc;
	a->npositional = 0;
	if (!a->cmd) {
		fprintf(stderr, "mreg: internal error: no command '%s' in the table\n", name);
		abort();
	}
	for (int i = 1; i < argc; i++) {
		const char *arg = argv[i], *value;
		if (i > a->optend || is_positional(arg)) {
			if (a->npositional >= CLI_POSITIONAL_MAX)
				return cli_usage(a->cmd, "too many arguments");
			a->positional[a->npositional++] = arg;
			continue;
		}
		if (!strcmp(arg, "--")) {
			a->optend = i;
			continue;
		}
		const cli_opt *o = opt_lookup(a->cmd, arg, &value);
		if (!o)
			return cli_usage(a->cmd, "unknown option '%s' for %s", arg, a->cmd->name);
		if (o->has_value && !value) {
			if (i + 1 >= argc)
				return cli_usage(a->cmd, "option '--%s' needs a value", o->name);
			i++;
		} else if (!o->has_value && value) {
			return cli_usage(a->cmd, "option '--%s' takes no value", o->name);
		}
	}
	return 0;
}

/* Whether name is one of names, "a|b|c". */
static bool name_in(const char *names, const char *name)
{
	size_t n = strlen(name);
	for (const char *p = names;; p++) {
		const char *bar = strchr(p, '|');
		size_t len = bar ? (size_t)(bar - p) : strlen(p);
		if (len == n && !strncmp(p, name, n))
			return true;
		if (!bar)
			return false;
		p = bar;
	}
}

/* Every one of names is an option of cmd: a lookup of any other is a bug. */
static void check_names(const cli_command *cmd, const char *names)
{
	for (const char *p = names;; p++) {
		const char *bar = strchr(p, '|');
		int len = bar ? (int)(bar - p) : (int)strlen(p);
		const cli_opt *o = cmd->opts;
		while (o && o->name && (strlen(o->name) != (size_t)len || strncmp(o->name, p, (size_t)len)))
			o++;
		if (!o || !o->name) {
			fprintf(stderr, "mreg: internal error: %s has no option '--%.*s'\n", cmd->name, len, p);
			abort();
		}
		if (!bar)
			return;
		p = bar;
	}
}

const char *cli_next(const cli_args *a, int *it, const char *names, const char **value)
{
	check_names(a->cmd, names);
	for (int i = *it > 1 ? *it : 1; i < a->optend; i++) {
		const char *arg = a->argv[i], *v;
		if (is_positional(arg))
			continue;
		const cli_opt *o = opt_lookup(a->cmd, arg, &v);	/* found: cli_parse accepted argv */
		if (o->has_value && !v)
			v = a->argv[++i];
		if (name_in(names, o->name)) {
			*it = i + 1;
			*value = v;
			return o->name;
		}
	}
	*it = a->optend;
	*value = NULL;
	return NULL;
}

const char *cli_get(const cli_args *a, const char *name)
{
	const char *value, *last = NULL;
	for (int it = 0; cli_next(a, &it, name, &value);)
		last = value;
	return last;
}

bool cli_has(const cli_args *a, const char *name)
{
	const char *value;
	int it = 0;
	return cli_next(a, &it, name, &value) != NULL;
}

/* ---- errors and opening the registry ---------------------------------- */

int cli_fail(int code)
{
	fprintf(stderr, "mreg: %s\n", mreg_error_last());
	if (code == MREG_EUSAGE)
		return 2;
	return code < 0 ? 1 : code;
}

int cli_usage(const cli_command *cmd, const char *fmt, ...)
{
	va_list ap;
	fprintf(stderr, "mreg: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	if (cmd && strchr(cmd->usage, '\n'))	/* one line on stderr, whatever the usage holds */
		fprintf(stderr, " (usage: see 'mreg help %s')\n", cmd->name);
	else if (cmd)
		fprintf(stderr, " (usage: %s)\n", cmd->usage);
	else
		fprintf(stderr, "\n");
	return 2;
}

int cli_open(mreg_registry **out, cli_globals *g)
{
	int rc = mreg_registry_open(out, g->dir);
	return rc < 0 ? cli_fail(rc) : 0;
}

int cli_open_noargs(mreg_registry **out, cli_args *a, cli_globals *g, const char *name, int argc, char **argv)
{
	int rc;
	if ((rc = cli_parse(a, name, argc, argv)))
		return rc;
	if (a->npositional)
		return cli_usage(a->cmd, "%s takes no arguments", name);
	return cli_open(out, g);
}

int cli_open_write(mreg_registry **out, cli_globals *g)
{
	int rc = mreg_registry_open_write(out, g->dir);
	return rc < 0 ? cli_fail(rc) : 0;
}

int cli_open_read(mreg_registry **out, cli_globals *g)
{
	int rc = mreg_registry_open_read(out, g->dir);
	return rc < 0 ? cli_fail(rc) : 0;
}

/* ---- values the user gives -------------------------------------------- */

int cli_number(double *out, const char *value, const char *option, double min, double max)
{
	char *end;
	double v = strtod(value, &end);
	if (!*value || *end || !(v >= min && v <= max))
		return mreg_error_set(MREG_EUSAGE, "invalid %s '%s': expected a number from %g to %g", option, value, min,
				      max);
	*out = mreg_num_nz(v);	/* -0 is 0, and is stored and shown as 0 */
	return 0;
}

int cli_number_opt(double *out, bool *given, const cli_args *a, const char *name, double min, double max)
{
	const char *v = cli_get(a, name);
	char label[64];
	if (!v)
		return 0;
	snprintf(label, sizeof(label), "--%s", name);
	if (cli_number(out, v, label, min, max) < 0) {
		cli_usage(a->cmd, "%s", mreg_error_last());
		return -1;
	}
	if (given)
		*given = true;
	return 0;
}

int cli_ref(mreg_ref *ref, const cli_args *a, const char *s, bool must_agree)
{
	const char *v = cli_get(a, "version");
	int rc = mreg_ref_parse(ref, s);
	if (rc < 0)
		return cli_fail(rc);
	if (v) {
		char *end;
		long n = strtol(v, &end, 10);
		if (*end || n < 1 || n > 1 << 30)
			return cli_usage(a->cmd, "invalid version '%s': expected a number >= 1", v);
		if (must_agree && ref->version && ref->version != n)
			return cli_usage(a->cmd, "'%s' and -v %s name different versions", s, v);
		ref->version = (int)n;
	}
	return 0;
}

int cli_read_json_file(cJSON **out, const char *path, const char *what)
{
	mreg_buf b = MREG_BUF_INIT;
	int rc = mreg_user_file_read(&b, path, what, CLI_JSON_FILE_MAX);
	*out = NULL;
	if (rc < 0)
		goto done;
	*out = cJSON_ParseWithLength(b.ptr, b.size);
	if (!cJSON_IsObject(*out)) {
		cJSON_Delete(*out);
		*out = NULL;
		rc = mreg_error_set(MREG_EINVALID, "invalid %s '%s': not a JSON object", what, path);
	}
done:
	mreg_buf_dispose(&b);
	return rc;
}

/* ---- output ------------------------------------------------------------ */

const char *cli_member_text(char *buf, size_t n, const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	if (cJSON_IsString(v))
		return v->valuestring;
	if (cJSON_IsNumber(v) && n >= MREG_NUM_MAX && mreg_num_format(buf, mreg_num_nz(v->valuedouble)) >= 0)
		return buf;
	if (cJSON_IsBool(v))
		return cJSON_IsTrue(v) ? "yes" : "no";
	return "-";
}

mreg_jsonw *cli_json_start(cli_json *j)
{
	mreg_buf empty = MREG_BUF_INIT;
	j->buf = empty;
	j->object = false;
	mreg_jsonw_init(&j->w, &j->buf);
	return &j->w;
}

mreg_jsonw *cli_json_object(cli_json *j)
{
	cli_json_start(j);
	j->object = true;
	mreg_jsonw_obj_begin(&j->w, NULL);
	return &j->w;
}

void cli_json_print(cli_json *j)
{
	if (j->object)
		mreg_jsonw_obj_end(&j->w);
	mreg_jsonw_finish(&j->w);
	fwrite(j->buf.ptr, 1, j->buf.size, stdout);
	mreg_buf_dispose(&j->buf);
}

void cli_print_value(const cJSON *v)
{
	cli_json j;
	mreg_jsonw_value(cli_json_start(&j), NULL, v);
	cli_json_print(&j);
}

void cli_print_version(const mreg_model *m, const mreg_version *v)
{
	cli_json j;
	mreg_version_write(cli_json_start(&j), NULL, m, v);
	cli_json_print(&j);
}

void cli_print_versions(const mreg_row *rows, size_t n)
{
	cli_json j;
	mreg_jsonw *w = cli_json_start(&j);
	mreg_jsonw_arr_begin(w, NULL);
	for (size_t i = 0; i < n; i++)
		mreg_version_write(w, NULL, rows[i].model, rows[i].version);
	mreg_jsonw_arr_end(w);
	cli_json_print(&j);
}

int cli_print_version_of(mreg_registry *reg, const char *model, int version)
{
	mreg_state *st = NULL;
	mreg_model *m;
	mreg_version *v;
	mreg_ref ref;
	int rc;

	memset(&ref, 0, sizeof(ref));
	snprintf(ref.model, sizeof(ref.model), "%s", model);
	ref.version = version;
	if ((rc = mreg_read_model(&st, reg, model, version)) < 0 || (rc = mreg_query_version(&m, &v, st, &ref)) < 0)
		rc = cli_fail(rc);
	else
		cli_print_version(m, v);
	mreg_state_free(st);
	return rc;
}

const char *cli_str(const cJSON *o, const char *key)
{
	const char *s = cJSON_GetStringValue(cJSON_GetObjectItemCaseSensitive(o, key));
	return s ? s : "";
}

double cli_num(const cJSON *o, const char *key)
{
	const cJSON *v = cJSON_GetObjectItemCaseSensitive(o, key);
	return cJSON_IsNumber(v) ? v->valuedouble : 0;
}

int64_t cli_now_usec(void)
{
	struct timespec ts;
	clock_gettime(CLOCK_REALTIME, &ts);
	return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}
