/*
 * What the command files share: the parsed global options, the command
 * table, the one option parser, output helpers and the exit-code rule
 * (0 ok, 1 failure, 2 usage).
 *
 * Every command declares its options in a table (cli_opt) beside it, and
 * its row in cli_commands (main.c) points at that table: `mreg help`,
 * `mreg CMD --help` and the man page are printed from the same rows.
 * cli_parse checks a command's arguments against its table once; the
 * command then finds each option's value by its name (cli_get, cli_has,
 * cli_next), never by its place in the table.
 */
#ifndef MREG_CLI_H
#define MREG_CLI_H

#include "../fsstore/store.h"

#include <stdbool.h>
#include <stdio.h>

typedef struct {
	const char *dir;	/* -C / --registry-dir */
	bool json;
} cli_globals;

/* One option of a command: long name, short letter (0: none), takes a value. */
typedef struct {
	const char *name;
	char short_name;
	bool has_value;
	const char *help;	/* "VALUE  what it does" */
} cli_opt;

typedef int (*cli_fn)(cli_globals *g, int argc, char **argv);

typedef struct {
	const char *name;
	cli_fn fn;
	const char *summary;
	const char *usage;
	const cli_opt *opts;
	const char *details;
} cli_command;

extern const cli_command cli_commands[];
const cli_command *cli_find(const char *name);

/* The option table of a command without options. */
extern const cli_opt opts_none[];

#define CLI_POSITIONAL_MAX 64

/*
 * A command's arguments as cli_parse accepted them: the positionals in
 * order, and argv, in which cli_get, cli_has and cli_next find the options.
 */
typedef struct cli_args {
	const cli_command *cmd;
	int argc;
	char **argv;
	int optend;	/* options stop here: at "--", else argc */
	const char *positional[CLI_POSITIONAL_MAX];
	int npositional;
} cli_args;

/*
 * Check argv (argv[0] is the command's name) against the options of the
 * command called name: an option is --name, --name=VALUE, --name VALUE, -x
 * or -x VALUE; "--" ends the options; anything else is a positional.
 * Returns 0, or 2 after printing the usage error (unknown option, missing
 * or unexpected value, too many arguments).
 */
int cli_parse(cli_args *a, const char *name, int argc, char **argv);
/* The value of the last --name given, or NULL (also for a flag). */
const char *cli_get(const cli_args *a, const char *name);
/* Whether --name was given at all: for flags. */
bool cli_has(const cli_args *a, const char *name);
/*
 * The options given, in the order given, that are one of names ("metric",
 * or several as "metric|metrics-file"): the name of the next one after *it
 * (0 to start), its value in *value (NULL for a flag), or NULL at the end.
 *   for (int it = 0; (name = cli_next(&a, &it, "tag", &value));) ...
 */
const char *cli_next(const cli_args *a, int *it, const char *names, const char **value);

int cli_fail(int code);			/* print mreg: <last error>, return exit code */
int cli_usage(const cli_command *cmd, const char *fmt, ...);	/* usage error, exit 2 */
int cli_open(mreg_registry **out, cli_globals *g);
/* Parse a command that takes options but no arguments into a, then open the registry. */
int cli_open_noargs(mreg_registry **out, cli_args *a, cli_globals *g, const char *name, int argc, char **argv);
/* For a command that writes one event: without libgit2 when the registry allows (mreg_registry_open_write). */
int cli_open_write(mreg_registry **out, cli_globals *g);
/* For commands that only read state files: no libgit2 while the state is current. */
int cli_open_read(mreg_registry **out, cli_globals *g);

/*
 * A JSON document for stdout: cli_json_start, the writer's calls, then
 * cli_json_print, which prints the document and frees it. A document that
 * is one object starts with cli_json_object instead: the object is opened
 * there and closed by cli_json_print.
 *   cli_json j;
 *   mreg_jsonw *w = cli_json_object(&j);
 *   mreg_jsonw_int(w, "removed", n);
 *   cli_json_print(&j);
 */
typedef struct {
	mreg_buf buf;
	mreg_jsonw w;
	bool object;
} cli_json;
mreg_jsonw *cli_json_start(cli_json *j);
mreg_jsonw *cli_json_object(cli_json *j);
void cli_json_print(cli_json *j);
/* The time now, in microseconds since the epoch (as event times are). */
int64_t cli_now_usec(void);
/* A member of a JSON object the library returned: its string ("" when absent or not one), its number (0). */
const char *cli_str(const cJSON *o, const char *key);
double cli_num(const cJSON *o, const char *key);
/* One parsed value (NULL prints null) as the JSON document on stdout. */
void cli_print_value(const cJSON *v);
/* One version object, as show --json prints it. */
void cli_print_version(const mreg_model *m, const mreg_version *v);
/* An array of the rows' version objects, as list --json prints it. */
void cli_print_versions(const mreg_row *rows, size_t n);
/* The version object of model:version read from reg; 0, or the exit code after printing the error. */
int cli_print_version_of(mreg_registry *reg, const char *model, int version);

/*
 * A JSON object from a file the user named (16 MiB at most); what names the
 * file in messages. The JSON files commands read (metrics, config, results,
 * import metadata, CMA-ES weights) all go through mreg_user_file_read, here
 * or in the library: a FIFO, a device or a directory is refused without
 * blocking on it. (Model files, a migrated database and backups have checks
 * of their own in the library.)
 */
#define CLI_JSON_FILE_MAX ((size_t)16 << 20)
int cli_read_json_file(cJSON **out, const char *path, const char *what);
/* A number option value; MREG_EUSAGE naming the option if it is not one (min/max inclusive). */
int cli_number(double *out, const char *value, const char *option, double min, double max);
/*
 * The number option --name into *out (left alone when not given; *given
 * set when it is, if given is not NULL): 0, or -1 after printing the usage
 * error.
 */
int cli_number_opt(double *out, bool *given, const cli_args *a, const char *name, double min, double max);
/*
 * REF s, with the version of -v N (the command's option "version") when it
 * is given: the original's `promote ID -v N` still works. With must_agree a
 * REF naming another version than -v is a usage error, else -v wins. 0, or the exit code after printing the error.
 */
int cli_ref(mreg_ref *ref, const cli_args *a, const char *s, bool must_agree);
/* A cJSON object's member as text for a table: numbers shortest, booleans yes/no, missing "-". */
const char *cli_member_text(char *buf, size_t n, const cJSON *o, const char *key);

int cmd_help(cli_globals *g, int argc, char **argv);
void cli_print_help(FILE *out, const cli_command *cmd);
/* alloc.c: a command that runs until stopped hands unused memory back to the kernel */
void cli_alloc_long_running(void);
/* main.c: where the command word is in argv, past the global options (argc: none) */
int cli_command_at(int argc, char **argv);
/* main.c: register, promote, archive, reject, update-metrics, tag, untag */
bool cli_writes_one_event(const char *command);
/* main.c: the command (argv[0], its arguments after it) folds the whole log: fsck, restore-from, clone, refresh --full */
bool cli_folds_whole_log(int argc, char **argv);

#endif
