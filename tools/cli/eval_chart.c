/* dadfi eval chart: draw the report's charts (core/evaluation/plot.h) from tab-separated values. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "cli.h"
#include "image.h"
#include "plot.h"

#define MAX_SERIES 64
#define MAX_GROUPS 256
#define MAX_POINTS 1024
#define MAX_FIELDS (MAX_SERIES + 1)

int eval_chart_command(int argc, char **argv);

static void help(void) {
    printf("usage: dadfi eval chart (--bars | --lines) IN.tsv --out OUT.png [OPTIONS]\n\n"
           "Draws a chart of tab-separated values into a PNG (our own plotting code, core/evaluation/plot.c).\n"
           "  --bars IN.tsv   grouped bars: the first line is a header whose cells after the first name the series;\n"
           "                  every further line is a group label followed by one value per series (empty, nan or\n"
           "                  null: no bar)\n"
           "  --lines IN.tsv  lines: every line is SERIES<TAB>X<TAB>Y[<TAB>POINT LABEL]; series in order of first use\n"
           "  --title T, --xlabel T, --ylabel T\n"
           "  --ymin A --ymax B   fixed y range (default: from the data)\n"
           "  --fmt F         value labels above bars, printf format such as %%.2f (bars only; shown where they fit)\n"
           "  --log           logarithmic y axis (bars only; values <= 0 get no bar)\n"
           "  --width W --height H   canvas size in pixels (default: from the data)\n");
}

/* Split s in place at tabs into at most max fields. */
static int split_tabs(char *s, char **f, int max) {
    int n = 0;
    for (;;) {
        if (n == max) return max + 1;
        f[n++] = s;
        char *t = strchr(s, '\t');
        if (!t) break;
        *t = 0;
        s = t + 1;
    }
    size_t l = strlen(f[n - 1]);
    if (l && f[n - 1][l - 1] == '\r') f[n - 1][l - 1] = 0;
    return n;
}

static int parse_value(const char *s, double *v) {
    if (!*s || !strcmp(s, "nan") || !strcmp(s, "null") || !strcmp(s, "NaN")) {
        *v = NAN;
        return 0;
    }
    return cli_parse_float(s, -1e300, 1e300, v);
}

/* Exactly one conversion, and it is %[flags][width][.prec](f|g|e). */
static int float_format(const char *f) {
    const char *p = strchr(f, '%');
    if (!p || strchr(p + 1, '%')) return 0;
    p += 1 + strspn(p + 1, "-+ #0123456789.");
    return *p && strchr("fgeFGE", *p) != NULL;
}

typedef struct {
    const char *bars, *lines, *out, *title, *xlabel, *ylabel, *fmt;
    double ymin, ymax;
    long width, height;
    int logy;
} chart_args;

static df_status draw_bars(df_canvas *c, const chart_args *a, char *text) {
    char *save = NULL, *f[MAX_FIELDS + 1];
    const char *series[MAX_SERIES], *groups[MAX_GROUPS];
    static double values[MAX_GROUPS * MAX_SERIES];
    int ns = -1, ng = 0;
    long lineno = 0;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        int nf = split_tabs(line, f, MAX_FIELDS);
        if (ns < 0) {
            if (nf < 2 || nf > MAX_FIELDS) return df_fail(DF_ERR_FORMAT, "header needs 1..%d series", MAX_SERIES);
            ns = nf - 1;
            for (int k = 0; k < ns; k++) series[k] = f[k + 1];
            continue;
        }
        if (nf != ns + 1) return df_fail(DF_ERR_FORMAT, "line %ld has %d fields, the header %d", lineno, nf, ns + 1);
        if (ng == MAX_GROUPS) return df_fail(DF_ERR_FORMAT, "more than %d groups", MAX_GROUPS);
        groups[ng] = f[0];
        for (int k = 0; k < ns; k++)
            if (parse_value(f[k + 1], &values[ng * ns + k]))
                return df_fail(DF_ERR_FORMAT, "line %ld: '%s' is not a number", lineno, f[k + 1]);
        ng++;
    }
    if (ns < 1 || ng < 1) return df_fail(DF_ERR_FORMAT, "no data rows");
    df_bar_chart b = {a->title, a->ylabel, ng, ns, groups, series, values, a->ymin, a->ymax, a->fmt,
                      (int)a->width, (int)a->height, a->logy};
    return df_plot_bars(c, &b);
}

static df_status draw_lines(df_canvas *c, const chart_args *a, char *text) {
    char *save = NULL, *f[5];
    const char *series[MAX_SERIES];
    static double xs[MAX_SERIES][MAX_POINTS], ys[MAX_SERIES][MAX_POINTS];
    static const char *labels[MAX_SERIES][MAX_POINTS];
    int np[MAX_SERIES] = {0}, ns = 0;
    long lineno = 0;
    for (char *line = strtok_r(text, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        int nf = split_tabs(line, f, 4);
        if (nf < 3 || nf > 4) return df_fail(DF_ERR_FORMAT, "line %ld: need SERIES, X, Y [, LABEL]", lineno);
        int s = 0;
        while (s < ns && strcmp(series[s], f[0])) s++;
        if (s == ns) {
            if (ns == MAX_SERIES) return df_fail(DF_ERR_FORMAT, "more than %d series", MAX_SERIES);
            series[ns++] = f[0];
        }
        if (np[s] == MAX_POINTS) return df_fail(DF_ERR_FORMAT, "more than %d points in a series", MAX_POINTS);
        if (parse_value(f[1], &xs[s][np[s]]) || parse_value(f[2], &ys[s][np[s]]))
            return df_fail(DF_ERR_FORMAT, "line %ld: X and Y must be numbers", lineno);
        labels[s][np[s]] = nf == 4 ? f[3] : NULL;
        np[s]++;
    }
    if (!ns) return df_fail(DF_ERR_FORMAT, "no data rows");
    const double *xp[MAX_SERIES], *yp[MAX_SERIES];
    const char *const *lp[MAX_SERIES];
    for (int s = 0; s < ns; s++) xp[s] = xs[s], yp[s] = ys[s], lp[s] = labels[s];
    df_line_chart l = {a->title, a->xlabel, a->ylabel, ns, series, np, xp, yp, lp, 0, 0, a->ymin, a->ymax,
                       (int)a->width, (int)a->height};
    return df_plot_lines(c, &l);
}

int eval_chart_command(int argc, char **argv) {
    chart_args a = {0};
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        int has = i + 1 < argc, bad = 0;
        if (cli_is_help(o)) {
            help();
            return EXIT_OK;
        } else if (!strcmp(o, "--bars") && has) a.bars = argv[++i];
        else if (!strcmp(o, "--lines") && has) a.lines = argv[++i];
        else if (!strcmp(o, "--out") && has) a.out = argv[++i];
        else if (!strcmp(o, "--title") && has) a.title = argv[++i];
        else if (!strcmp(o, "--xlabel") && has) a.xlabel = argv[++i];
        else if (!strcmp(o, "--ylabel") && has) a.ylabel = argv[++i];
        else if (!strcmp(o, "--fmt") && has) a.fmt = argv[++i];
        else if (!strcmp(o, "--log")) a.logy = 1;
        else if (!strcmp(o, "--ymin") && has) bad = cli_parse_float(argv[++i], -1e300, 1e300, &a.ymin);
        else if (!strcmp(o, "--ymax") && has) bad = cli_parse_float(argv[++i], -1e300, 1e300, &a.ymax);
        else if (!strcmp(o, "--width") && has) bad = cli_parse_long(argv[++i], 64, 16384, &a.width);
        else if (!strcmp(o, "--height") && has) bad = cli_parse_long(argv[++i], 64, 16384, &a.height);
        else return cli_usage_error("eval chart", "unknown option or missing value: '%s'", o);
        if (bad) return cli_usage_error("eval chart", "bad value for %s: '%s'", o, argv[i]);
    }
    if (!a.out || !a.bars == !a.lines) return cli_usage_error("eval chart", "give --out and one of --bars, --lines");
    if (a.fmt && !float_format(a.fmt))
        return cli_usage_error("eval chart", "--fmt must hold one floating-point conversion such as %%.2f");
    const char *in = a.bars ? a.bars : a.lines;
    uint8_t *buf = NULL;
    size_t len = 0;
    if (df_read_file(in, 16u << 20, &buf, &len) != DF_OK) return cli_runtime_error("eval chart", in);
    char *text = realloc(buf, len + 1);
    if (!text) {
        free(buf);
        return cli_runtime_error("eval chart", "out of memory");
    }
    text[len] = 0;
    df_canvas c = {0};
    df_status s = a.bars ? draw_bars(&c, &a, text) : draw_lines(&c, &a, text);
    if (!s) s = df_image_save(a.out, c.rgb, c.w, c.h, DF_FMT_PNG, 0);
    df_canvas_free(&c);
    free(text);
    return s ? cli_runtime_error("eval chart", s == DF_ERR_FORMAT ? in : a.out) : EXIT_OK;
}
