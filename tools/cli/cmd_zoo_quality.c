/* dadfi zoo-quality: does a zoo model edit well enough to be worth protecting against?  Measures the three
 * quality bars (requested attribute recognised by a separate classifier, reconstruction error, CMUA mask) on the
 * test split. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attr_eval.h"
#include "cli.h"
#include "image.h"
#include "metrics.h"
#include "zoo_list.h"

#define CMD "zoo-quality"
#define MAX_BATCH 16
#define MIN_EDIT_ACC 0.70
#define MAX_REC_MAE 0.10
#define MIN_MASK 0.95

static void help(void) {
    printf(
        "usage: dadfi zoo-quality --classifier F --models F1,F2,... --data DIR [--n N] [--split test|val] [--json OUT]\n\n"
        "Checks the quality bar of zoo deepfake models on the first N faces of the test split (partition 2) of\n"
        "the CelebA subset.  Each face gets the five single-attribute edits (a hair colour set one-hot, Male or\n"
        "Young flipped) and the identity edit (target = its own attributes).  A model passes when\n"
        "  edit accuracy      >= %.2f  the attribute classifier F (`dadfi attr-train`, trained on real faces only)\n"
        "                              sees the requested value of the edited attribute in the output, averaged\n"
        "                              over the five attributes; only edits that change the attribute count\n"
        "  reconstruction MAE <= %.2f  mean |G(x; own attributes) - x| on the [-1, 1] scale\n"
        "  mask non-empty     >= %.2f  share of (face, edit) pairs whose CMUA mask (pixels where the sum over RGB\n"
        "                              of |edit - x| exceeds 0.5) is non-empty, over the five edits of every\n"
        "                              face; the mean share of masked pixels (coverage) is reported too\n"
        "The classifier's own accuracy on the same real faces is printed first, and per model its accuracy on the\n"
        "reconstructions (the own attributes): the edit accuracy means little where the classifier is weak on an\n"
        "attribute or thrown off by the model's artefacts.  Results go to stdout (and --json), progress to\n"
        "stderr; the exit code is 0 whether or not the models pass.\n\n"
        "options:\n"
        "  --classifier F  attribute classifier weights (arch attr-classifier)\n"
        "  --models LIST   comma-separated zoo weight files; a model's name is its file name without .dfw\n"
        "  --data DIR      CelebA subset with labels.csv and images/\n"
        "  --n N           faces (default 200; at most the split's size)\n"
        "  --split S       test (partition 2, default: the bar) or val (partition 1: for choosing a checkpoint\n"
        "                  without looking at the test faces)\n"
        "  --json OUT      also write the results as JSON\n\n"
        "example:\n"
        "  dadfi zoo-quality --classifier attrcls.dfw --models weights/zoo/stargan.dfw,weights/zoo/attgan.dfw \\\n"
        "      --data ../shared/data/celeba_subset --n 200 --json zoo-quality.json\n",
        MIN_EDIT_ACC, MAX_REC_MAE, MIN_MASK);
}

typedef struct {
    const char *classifier, *models, *data, *json, *split;
    long n;
    int partition;
} opts;

static int parse(int argc, char **argv, opts *o) {
    memset(o, 0, sizeof *o);
    o->n = 200, o->split = "test", o->partition = 2;
    for (int i = 1; i < argc; i++) {
        const char *a, *v;
        int r = cli_next_option(CMD, argc, argv, &i, help, &a, &v);
        if (r) return r;
        if (!strcmp(a, "--classifier")) o->classifier = v;
        else if (!strcmp(a, "--models")) o->models = v;
        else if (!strcmp(a, "--data")) o->data = v;
        else if (!strcmp(a, "--json")) o->json = v;
        else if (!strcmp(a, "--split")) {
            if (strcmp(v, "test") && strcmp(v, "val")) return cli_usage_error(CMD, "--split must be test or val");
            o->split = v, o->partition = !strcmp(v, "val") ? 1 : 2;
        }
        else if (!strcmp(a, "--n")) r = cli_option_long(CMD, a, v, 1, 1000000, &o->n);
        else return cli_usage_error(CMD, "unknown option '%s'", a);
        if (r) return r;
    }
    if (!o->classifier || !o->models || !o->data) return cli_usage_error(CMD, "--classifier, --models and --data are required");
    return 0;
}

typedef struct {
    double hit[ZOO_NATTR], cnt[ZOO_NATTR]; /* edits of attribute k that change it, and those recognised */
    double abs_err;                         /* sum |G(x; src) - x| */
    double rec_hit[ZOO_NATTR];              /* classifier right about the own attributes on G(x; src) */
    double faces;
    double mask_nonempty, mask_cover, pairs;
    /* results */
    double acc[ZOO_NATTR + 1], rec_acc[ZOO_NATTR + 1], mae, nonempty, cover;
    int pass_acc, pass_rec, pass_mask;
} model_stats;

static void finish(model_stats *m, long nvals) {
    m->acc[ZOO_NATTR] = m->rec_acc[ZOO_NATTR] = 0;
    for (int k = 0; k < ZOO_NATTR; k++) {
        m->acc[k] = m->cnt[k] ? m->hit[k] / m->cnt[k] : NAN;
        m->acc[ZOO_NATTR] += m->acc[k] / ZOO_NATTR; /* NAN if an attribute had no edit: then it cannot pass */
        m->rec_acc[k] = m->rec_hit[k] / m->faces;
        m->rec_acc[ZOO_NATTR] += m->rec_acc[k] / ZOO_NATTR;
    }
    m->mae = m->abs_err / nvals;
    m->nonempty = m->mask_nonempty / m->pairs;
    m->cover = m->mask_cover / m->pairs;
    m->pass_acc = m->acc[ZOO_NATTR] >= MIN_EDIT_ACC;
    m->pass_rec = m->mae <= MAX_REC_MAE;
    m->pass_mask = m->nonempty >= MIN_MASK;
}

/* One batch of faces x [nb,3,S,S] with attributes src through model m. */
static df_status measure(model_stats *st, zoo_model *m, attrcls *cls, const float *x, const float *src, int nb,
                         int S, float *y, float *trg, float *logits, uint8_t *mask) {
    size_t img = (size_t)3 * S * S, n = nb * img;
    df_status s = zoo_edit(m, y, x, src, src, nb);
    if (!s) s = attrcls_forward(cls, logits, y, nb);
    if (s) return s;
    for (size_t i = 0; i < n; i++) st->abs_err += fabsf(y[i] - x[i]);
    attr_count_hits(st->rec_hit, logits, src, nb);
    st->faces += nb;
    for (int k = 0; k < ZOO_NATTR; k++) {
        for (int b = 0; b < nb; b++) zoo_edit_attrs(trg + b * ZOO_NATTR, src + b * ZOO_NATTR, k);
        if ((s = zoo_edit(m, y, x, src, trg, nb)) || (s = attrcls_forward(cls, logits, y, nb))) return s;
        for (int b = 0; b < nb; b++) {
            long px = df_cmua_mask(mask, y + b * img, x + b * img, S, S);
            st->mask_nonempty += px > 0;
            st->mask_cover += (double)px / ((double)S * S);
            st->pairs++;
            float want = trg[b * ZOO_NATTR + k];
            if (want == src[b * ZOO_NATTR + k]) continue; /* no change requested */
            st->cnt[k]++;
            st->hit[k] += (logits[b * ZOO_NATTR + k] > 0) == (want > 0.5f);
        }
    }
    return DF_OK;
}

static const char *base_name(const char *p) {
    const char *b = strrchr(p, '/');
    return b && b[1] ? b + 1 : p;
}

/* JSON number (null for NaN). */
static void jnum(char **p, size_t *left, double v) {
    int w = isfinite(v) ? snprintf(*p, *left, "%.6g", v) : snprintf(*p, *left, "null");
    if (w > 0 && (size_t)w < *left) *p += w, *left -= (size_t)w;
    else *left = 0;
}

static void jstr(char **p, size_t *left, const char *fmt, const char *s) {
    int w = snprintf(*p, *left, fmt, s);
    if (w > 0 && (size_t)w < *left) *p += w, *left -= (size_t)w;
    else *left = 0;
}

/* A JSON string value: quotes, backslashes and control characters replaced by '_'. */
static void jname(char **p, size_t *left, const char *fmt, const char *s) {
    char clean[256];
    size_t i = 0;
    for (; s[i] && i + 1 < sizeof clean; i++) clean[i] = s[i] == '"' || s[i] == '\\' || (unsigned char)s[i] < 0x20 ? '_' : s[i];
    clean[i] = 0;
    jstr(p, left, fmt, clean);
}

static void jattrs(char **p, size_t *left, const double acc[ZOO_NATTR + 1]) {
    for (int k = 0; k <= ZOO_NATTR; k++) {
        jstr(p, left, k ? ", \"%s\": " : "{\"%s\": ", k < ZOO_NATTR ? zoo_attr_names[k] : "mean");
        jnum(p, left, acc[k]);
    }
    jstr(p, left, "%s}", "");
}

static df_status write_json(const opts *o, const zoo_list *zl, const model_stats *st, const double cacc[ZOO_NATTR + 1],
                            int n) {
    size_t cap = 4096 + (size_t)zl->n * 2048, left = cap;
    char *buf = malloc(cap), *p = buf;
    if (!buf) return df_fail(DF_ERR_NOMEM, "out of memory");
    char tmp[256];
    jname(&p, &left, "{\n  \"data\": \"%s\",\n", base_name(o->data));
    snprintf(tmp, sizeof tmp, "  \"partition\": %d,\n", o->partition);
    jstr(&p, &left, "%s", tmp);
    snprintf(tmp, sizeof tmp, "  \"n\": %d,\n  \"thresholds\": {\"edit_accuracy_min\": %.2f, \"reconstruction_mae_max\": "
             "%.2f, \"mask_nonempty_min\": %.2f},\n", n, MIN_EDIT_ACC, MAX_REC_MAE, MIN_MASK);
    jstr(&p, &left, "%s", tmp);
    jname(&p, &left, "  \"classifier\": {\"file\": \"%s\", \"accuracy_real\": ", base_name(o->classifier));
    jattrs(&p, &left, cacc);
    jstr(&p, &left, "%s", "},\n  \"models\": [\n");
    for (int i = 0; i < zl->n; i++) {
        const model_stats *m = &st[i];
        jname(&p, &left, "    {\"name\": \"%s\", ", zl->name[i]);
        jstr(&p, &left, "\"arch\": \"%s\", \"edit_accuracy\": ", zoo_family_arch(zoo_get_config(zl->m[i])->family));
        jattrs(&p, &left, m->acc);
        jstr(&p, &left, "%s", ",\n     \"edits_counted\": {");
        for (int k = 0; k < ZOO_NATTR; k++) {
            snprintf(tmp, sizeof tmp, "%s\"%s\": %.0f", k ? ", " : "", zoo_attr_names[k], m->cnt[k]);
            jstr(&p, &left, "%s", tmp);
        }
        jstr(&p, &left, "%s", "},\n     \"classifier_accuracy_reconstructed\": ");
        jattrs(&p, &left, m->rec_acc);
        jstr(&p, &left, "%s", ",\n     \"reconstruction_mae\": ");
        jnum(&p, &left, m->mae);
        jstr(&p, &left, "%s", ", \"mask_nonempty\": ");
        jnum(&p, &left, m->nonempty);
        jstr(&p, &left, "%s", ", \"mask_coverage\": ");
        jnum(&p, &left, m->cover);
        snprintf(tmp, sizeof tmp, ",\n     \"pass\": {\"edit_accuracy\": %s, \"reconstruction\": %s, \"mask\": %s, "
                 "\"all\": %s}}%s\n", m->pass_acc ? "true" : "false", m->pass_rec ? "true" : "false",
                 m->pass_mask ? "true" : "false", m->pass_acc && m->pass_rec && m->pass_mask ? "true" : "false",
                 i + 1 < zl->n ? "," : "");
        jstr(&p, &left, "%s", tmp);
    }
    jstr(&p, &left, "%s", "  ]\n}\n");
    df_status s = left ? df_write_file_atomic(o->json, buf, cap - left)
                       : df_fail(DF_ERR_NOMEM, "JSON larger than %zu bytes", cap);
    free(buf);
    return s;
}

int cmd_zoo_quality(int argc, char **argv) {
    opts o;
    int r = parse(argc, argv, &o);
    if (r) return r < 0 ? EXIT_OK : r;
    double t0 = cli_now();
    attrcls *cls = NULL;
    zoo_list zl = {0};
    celeba_set test = {0};
    model_stats *st = NULL;
    float *x = NULL, *src = NULL, *y = NULL, *trg = NULL, *logits = NULL;
    uint8_t *mask = NULL, *wbuf = NULL;
    int *idx = NULL, S = 0, rc = EXIT_OK;
    size_t wlen = 0;
    if (df_read_file(o.classifier, 256u << 20, &wbuf, &wlen) || attrcls_load(&cls, wbuf, wlen, 0)) {
        rc = cli_runtime_error(CMD, o.classifier);
        goto done;
    }
    if (zoo_list_load(&zl, o.models, &S)) {
        rc = cli_runtime_error(CMD, "--models");
        goto done;
    }
    if (attrcls_get_config(cls)->size != S) {
        df_fail(DF_ERR_ARG, "the classifier takes %d x %d faces, the models %d x %d", attrcls_get_config(cls)->size,
                attrcls_get_config(cls)->size, S, S);
        rc = cli_runtime_error(CMD, o.classifier);
        goto done;
    }
    if (celeba_open(&test, o.data, o.partition) || test.n < 1) {
        df_fail(DF_ERR_IO, "cannot read the %s split (partition %d; see --data): %s", o.split, o.partition, df_errmsg());
        rc = cli_runtime_error(CMD, o.data);
        goto done;
    }
    int n = o.n < test.n ? (int)o.n : test.n, B = MAX_BATCH;
    size_t img = (size_t)3 * S * S;
    x = malloc(B * img * sizeof(float)), y = malloc(B * img * sizeof(float));
    src = malloc(B * ZOO_NATTR * sizeof(float)), trg = malloc(B * ZOO_NATTR * sizeof(float));
    logits = malloc(B * ZOO_NATTR * sizeof(float)), mask = malloc((size_t)S * S), idx = malloc(B * sizeof(int));
    st = calloc((size_t)zl.n, sizeof *st);
    if (!x || !y || !src || !trg || !logits || !mask || !idx || !st) {
        df_fail(DF_ERR_NOMEM, "out of memory");
        rc = cli_runtime_error(CMD, "allocation");
        goto done;
    }
    char names[1024];
    zoo_list_names(&zl, names, sizeof names);
    fprintf(stderr, "dadfi %s: %s on %d %s faces (of %d), %d threads\n", CMD, names, n, o.split, test.n, df_get_threads());
    double chit[ZOO_NATTR] = {0}, cacc[ZOO_NATTR + 1] = {0}, last = cli_now();
    for (int b0 = 0; b0 < n; b0 += B) {
        int nb = n - b0 < B ? n - b0 : B;
        for (int b = 0; b < nb; b++) idx[b] = b0 + b;
        if (celeba_load_batch(&test, idx, nb, x, src, S, NULL) || attrcls_forward(cls, logits, x, nb)) {
            rc = cli_runtime_error(CMD, "loading / classifying the faces");
            goto done;
        }
        attr_count_hits(chit, logits, src, nb);
        for (int i = 0; i < zl.n; i++)
            if (measure(&st[i], zl.m[i], cls, x, src, nb, S, y, trg, logits, mask)) {
                rc = cli_runtime_error(CMD, zl.name[i]);
                goto done;
            }
        double now = cli_now();
        if (now - last >= 5 || b0 + nb == n) {
            double eta = (now - t0) / (b0 + nb) * (n - b0 - nb);
            cli_progress("%d/%d faces  ETA %.0fm%02.0fs", b0 + nb, n, floor(eta / 60), fmod(eta, 60));
            last = now;
        }
    }
    cli_progress_done();
    for (int k = 0; k < ZOO_NATTR; k++) {
        cacc[k] = chit[k] / n;
        cacc[ZOO_NATTR] += cacc[k] / ZOO_NATTR;
    }
    printf("zoo quality on %d %s faces (partition %d of %s)\n", n, o.split, o.partition, base_name(o.data));
    printf("bars: edit accuracy >= %.2f, reconstruction MAE <= %.2f, mask non-empty >= %.2f\n\n", MIN_EDIT_ACC,
           MAX_REC_MAE, MIN_MASK);
    printf("classifier %s on the real faces: ", base_name(o.classifier));
    attr_print_acc(stdout, cacc);
    printf("\n\n");
    for (int i = 0; i < zl.n; i++) {
        model_stats *m = &st[i];
        finish(m, (long)n * (long)img);
        printf("%s (%s)\n  edit accuracy: ", zl.name[i], zoo_family_arch(zoo_get_config(zl.m[i])->family));
        attr_print_acc(stdout, m->acc);
        printf("  %s\n  edits counted:", m->pass_acc ? "PASS" : "FAIL");
        for (int k = 0; k < ZOO_NATTR; k++) printf(" %s %.0f", zoo_attr_names[k], m->cnt[k]);
        printf("\n  reconstruction MAE %.4f  %s\n  classifier on the reconstructions (own attributes; reference): ", m->mae,
               m->pass_rec ? "PASS" : "FAIL");
        attr_print_acc(stdout, m->rec_acc);
        printf("\n");
        printf("  mask non-empty %.3f (mean coverage %.3f)  %s\n", m->nonempty, m->cover, m->pass_mask ? "PASS" : "FAIL");
        printf("  overall: %s\n\n", m->pass_acc && m->pass_rec && m->pass_mask ? "PASS" : "FAIL");
    }
    fflush(stdout);
    if (o.json && write_json(&o, &zl, st, cacc, n)) rc = cli_runtime_error(CMD, o.json);
done:
    free(x), free(y), free(src), free(trg), free(logits), free(mask), free(idx), free(st), free(wbuf);
    attrcls_free(cls);
    zoo_list_free(&zl);
    celeba_free(&test);
    return rc;
}
