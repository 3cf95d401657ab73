#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "cli.h"

int cli_usage_error(const char *cmd, const char *fmt, ...) {
    va_list ap;
    fprintf(stderr, "dadfi %s: ", cmd);
    va_start(ap, fmt);
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    fprintf(stderr, "\n(see `dadfi %s --help`)\n", cmd);
    return EXIT_USAGE;
}

int cli_runtime_error(const char *cmd, const char *what) {
    fprintf(stderr, "dadfi %s: %s: %s\n", cmd, what, df_errmsg());
    return EXIT_RUNTIME;
}

int cli_parse_float(const char *s, double lo, double hi, double *out) {
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    double v = strtod(s, &end);
    if (errno || *end || !isfinite(v) || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

int cli_parse_long(const char *s, long lo, long hi, long *out) {
    if (!s || !*s) return -1;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || v < lo || v > hi) return -1;
    *out = v;
    return 0;
}

int cli_is_help(const char *s) { return strcmp(s, "--help") == 0 || strcmp(s, "-h") == 0; }

double cli_now(void) {
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return ts.tv_sec + ts.tv_nsec * 1e-9;
}

static int progress_open = 0;

void cli_progress(const char *fmt, ...) {
    int tty = isatty(2);
    va_list ap;
    va_start(ap, fmt);
    if (tty) fprintf(stderr, "\r\033[K");
    vfprintf(stderr, fmt, ap);
    va_end(ap);
    if (!tty) fprintf(stderr, "\n");
    progress_open = tty;
    fflush(stderr);
}

void cli_progress_done(void) {
    if (progress_open) fprintf(stderr, "\n");
    progress_open = 0;
}
