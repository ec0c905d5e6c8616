/*
 * What the commands of examples/vidaction.c share with examples/study.c (`vidaction study`):
 * the program's name, argument parsing, JSON output and the commands `study` runs in-process.
 * Not a library interface: the study command is a client of the CLI's commands, which are
 * clients of the public API.
 */
#ifndef VIDACTION_CLI_H
#define VIDACTION_CLI_H

#include <stdio.h>

#include <vidaction.h>

/* "vidaction", or "vidaction[R]" on rank R of a data-parallel run */
extern const char *prog;
/* what the last cmd_eval of this process measured */
extern vida_eval_result g_last_eval;

/* prints "prog: error: MSG ARG (see --help)"; returns 2 */
int usage_error(const char *msg, const char *arg);
void usage(FILE *f);
/* the value after argv[*i] (advancing *i), or NULL when there is none */
const char *arg_value(int argc, char **argv, int *i);
/* a whole decimal number in [lo, hi]: 0, else -1 */
int parse_long(const char *s, long lo, long hi, long *out);
void json_string(const char *s);
void json_double(double d);
double wall_seconds(void);

/* --class-list FILE into dp->classes (kept until the next call); prints the error, returns 1 */
int load_class_list(const char *path, vida_dataset_params *dp);

int cmd_train(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_study(int argc, char **argv);
/* runs fn as `vidaction NAME ARGS...` (NULL-terminated, at most 61) in this process */
int run_cmd(int (*fn)(int, char **), const char *name, ...);
/* --json of the long commands: stdout goes to stderr until stdout_back */
int stdout_to_stderr(void);
/* the same into an open file descriptor (study: /dev/null while it plans) */
int stdout_to(int fd);
void stdout_back(int *saved);

/* The network and clip geometry of `demo` and `study`: R(2+1)D-10 at 1/4 width on 8x32x32
   clips (every second frame), batches of 16. */
#define DEMO_ARCH "--arch", "r2plus1d", "--depth", "10", "--width", "0.25"
#define DEMO_GEOMETRY "--clip-len", "8", "--stride", "2", "--short-side", "40", "--crop", "32", "--batch", "16"
#define DEMO_CLASSES 8

#endif
