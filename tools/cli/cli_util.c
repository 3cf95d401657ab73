#define _POSIX_C_SOURCE 200809L
#include <errno.h>
#include <math.h>
#include <signal.h>
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
    if (what) fprintf(stderr, "dadfi %s: %s: %s\n", cmd, what, df_errmsg());
    else fprintf(stderr, "dadfi %s: %s\n", cmd, df_errmsg());
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

int cli_next_option(const char *cmd, int argc, char **argv, int *i, void (*help)(void), const char **name,
                    const char **val) {
    const char *a = argv[*i];
    if (cli_is_help(a)) {
        help();
        return -1;
    }
    if (a[0] != '-') return cli_usage_error(cmd, "unexpected argument '%s'", a);
    if (*i + 1 >= argc) return cli_usage_error(cmd, "%s needs a value", a);
    *name = a;
    *val = argv[++*i];
    return 0;
}

int cli_option_long(const char *cmd, const char *opt, const char *val, long lo, long hi, long *out) {
    if (cli_parse_long(val, lo, hi, out) == 0) return 0;
    return cli_usage_error(cmd, "%s must be an integer in %ld..%ld (got '%s')", opt, lo, hi, val);
}

int cli_option_float(const char *cmd, const char *opt, const char *val, double lo, double hi, double *out) {
    if (cli_parse_float(val, lo, hi, out) == 0) return 0;
    return cli_usage_error(cmd, "%s must be a number in %g..%g (got '%s')", opt, lo, hi, val);
}

static volatile sig_atomic_t stop_flag = 0;
static void on_stop_signal(int sig) {
    (void)sig;
    stop_flag = 1;
}

void cli_catch_stop(void) {
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_stop_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
}

int cli_stop_requested(void) { return stop_flag != 0; }

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

void cli_progress_clear(void) {
    if (progress_open) fprintf(stderr, "\r\033[K");
    progress_open = 0;
    fflush(stderr);
}

void cli_progress_done(void) {
    if (progress_open) fprintf(stderr, "\n");
    progress_open = 0;
}

/* ------------------------------------------------------------------ default data files (cli.h) */
/* The executable's folder (Linux: /proc/self/exe), without a trailing slash; "" when unknown. */
static const char *exe_dir(void) {
    static char dir[4096];
    static int done;
    if (!done) {
        done = 1;
        ssize_t n = readlink("/proc/self/exe", dir, sizeof dir - 1);
        dir[n > 0 ? n : 0] = '\0';
        char *slash = strrchr(dir, '/');
        if (slash) *slash = '\0';
        else dir[0] = '\0';
    }
    return dir;
}

const char *cli_default_file(cli_file f, char *where, size_t wn) {
    static char found[3][4096];
    static const char *names[] = {"gen.dfw", "blazeface.dfw", "mobilenet.dfw"};
    const char *name = names[f], *home = getenv("DADFI_HOME"), *ed = exe_dir();
    char cand[4][4096];
    int nc = 0;
    if (home && *home) {
        snprintf(cand[nc++], sizeof cand[0], "%s/%s", home, name);
    } else {
        if (*ed) {
            if (f == CLI_FILE_GEN) snprintf(cand[nc++], sizeof cand[0], "%s/../weights/%s", ed, name);
            else snprintf(cand[nc++], sizeof cand[0], "%s/%s", ed, name);
            snprintf(cand[nc++], sizeof cand[0], "%s/../share/dadfi/%s", ed, name);
        }
        snprintf(cand[nc++], sizeof cand[0], f == CLI_FILE_GEN ? "weights/%s" : "build/%s", name);
    }
    int pick = 0;
    while (pick < nc && access(cand[pick], R_OK) != 0) pick++;
    if (pick == nc) pick = 0;
    if (where && wn) {
        where[0] = '\0';
        for (int i = 0; i < nc; i++) {
            size_t l = strlen(where);
            snprintf(where + l, wn - l, "%s%s", i ? ", " : "", cand[i]);
        }
    }
    memcpy(found[f], cand[pick], sizeof found[f]);
    return found[f];
}
