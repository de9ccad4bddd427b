/*
 * What the command files share: the parsed global options, the option
 * parser, output helpers and the exit-code rule (0 ok, 1 failure, 2 usage).
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

typedef struct cli_args {
	int argc;
	char **argv;
	int pos;
	/* results */
	const char *positional[64];
	int npositional;
} cli_args;

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

/*
 * Walk argv (after the command name). For each option calls back with its
 * index in opts and its value; positionals are collected. Prints a usage
 * error and returns 2 on unknown options or missing values.
 */
typedef int (*cli_opt_cb)(int idx, const char *value, void *payload);
int cli_parse(cli_args *a, const cli_command *cmd, int argc, char **argv, cli_opt_cb cb, void *payload);

int cli_fail(int code);			/* print mreg: <last error>, return exit code */
int cli_usage(const cli_command *cmd, const char *fmt, ...);	/* usage error, exit 2 */
int cli_open(mreg_registry **out, cli_globals *g);
/* Parse a command that takes options but no arguments, then open the registry. */
int cli_open_noargs(mreg_registry **out, cli_globals *g, const cli_command *cmd, int argc, char **argv, cli_opt_cb cb,
		    void *payload);
/* The same for commands that only read state files: no libgit2 while the state is current. */
/* For a command that writes one event: without libgit2 when the registry allows (mreg_registry_open_write). */
int cli_open_write(mreg_registry **out, cli_globals *g);
int cli_open_read(mreg_registry **out, cli_globals *g);
void cli_print_json(const mreg_buf *b);
/* A JSON document for stdout: begin into b, then end prints it and frees b. */
void cli_json_begin(mreg_jsonw *w, mreg_buf *b);
void cli_json_end(mreg_jsonw *w, mreg_buf *b);

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

int cmd_help(cli_globals *g, int argc, char **argv);
void cli_print_help(FILE *out, const cli_command *cmd);

#endif
