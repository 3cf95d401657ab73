/* The dadfi command line: one file per command (cmd_*.c), dispatched from main.c. */
#ifndef DF_CLI_H
#define DF_CLI_H

#include <stdio.h>

#include "df.h"

/* Default data files, found without the repository as the current directory (cli_default_file):
 *   DADFI_HOME set:   only $DADFI_HOME/NAME;
 *   else, in order:   beside the executable's folder as the build tree has it (build/dadfi: ../weights/gen.dfw,
 *                     blazeface.dfw and mobilenet.dfw in build/ itself), the installed layout (PREFIX/bin/dadfi:
 *                     PREFIX/share/dadfi/NAME, `cmake --install`), then the current directory's weights/gen.dfw
 *                     or build/NAME (a checkout).
 * Gen: gen.dfw; the face detector (MediaPipe's BlazeFace, made by tools/convert_blazeface.mjs): blazeface.dfw;
 * MobileNet (eval's Frechet and perceptual distances): mobilenet.dfw. */
typedef enum { CLI_FILE_GEN, CLI_FILE_DETECTOR, CLI_FILE_MOBILENET } cli_file;
/* The first candidate that exists, else the first candidate (for the error message).  where (optional, n bytes)
 * gets the candidates in search order, ", "-separated, for messages. */
const char *cli_default_file(cli_file f, char *where, size_t n);

/* Exit codes. */
enum { EXIT_OK = 0, EXIT_RUNTIME = 1, EXIT_USAGE = 2 };

typedef struct {
    const char *name;
    const char *summary;                 /* one line for `dadfi --help` */
    int (*run)(int argc, char **argv);   /* argv[0] is the command name */
} cli_command;

/* Commands (each in cmd_<name>.c). */
int cmd_protect(int argc, char **argv);
int cmd_detect(int argc, char **argv);
int cmd_info(int argc, char **argv);
int cmd_gen_init(int argc, char **argv);
int cmd_zoo_train(int argc, char **argv);
int cmd_deepfake(int argc, char **argv);
int cmd_train_gen(int argc, char **argv);
int cmd_pgd(int argc, char **argv);
int cmd_train_universal(int argc, char **argv);
int cmd_eval(int argc, char **argv);
int cmd_attr_train(int argc, char **argv);
int cmd_zoo_quality(int argc, char **argv);

/* Shared helpers (cli_util.c). */
/* Print "dadfi CMD: message" to stderr and return EXIT_USAGE. */
int cli_usage_error(const char *cmd, const char *fmt, ...);
/* Print "dadfi CMD: what: df_errmsg()" to stderr and return EXIT_RUNTIME.  what = NULL when the message names
 * the file already (df_read_file, df_image_load, df_image_save): "dadfi CMD: df_errmsg()". */
int cli_runtime_error(const char *cmd, const char *what);
/* Strict number parsing: whole string must be a number in [lo, hi]. Return 0 on success. */
int cli_parse_float(const char *s, double lo, double hi, double *out);
int cli_parse_long(const char *s, long lo, long hi, long *out);
/* Is argv[i] "--help" or "-h"? */
int cli_is_help(const char *s);
/* Commands whose options all take a value ("--name value"): read the option at argv[*i] into *name and its
 * value into *val, advancing *i past the value.  Returns 0, -1 for --help / -h (help() has printed the help), or
 * EXIT_USAGE after a usage error (a bare argument, a missing value). */
int cli_next_option(const char *cmd, int argc, char **argv, int *i, void (*help)(void), const char **name,
                    const char **val);
/* Option value in [lo, hi]: 0, or EXIT_USAGE after a usage error naming opt and the range. */
int cli_option_long(const char *cmd, const char *opt, const char *val, long lo, long hi, long *out);
int cli_option_float(const char *cmd, const char *opt, const char *val, double lo, double hi, double *out);
/* Long runs: after cli_catch_stop(), SIGINT and SIGTERM only set a flag that cli_stop_requested() reads (the run
 * saves its state and ends cleanly). */
void cli_catch_stop(void);
int cli_stop_requested(void);
/* Wall-clock seconds (monotonic). */
double cli_now(void);
/* Progress line on stderr (\r-updated when stderr is a terminal, one line per call otherwise). */
void cli_progress(const char *fmt, ...);
void cli_progress_done(void);   /* ends the progress line (a newline when it is open on a terminal) */
void cli_progress_clear(void);  /* erases an open progress line on a terminal, so other output can follow */

#endif
