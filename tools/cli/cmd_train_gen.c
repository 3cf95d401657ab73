/* dadfi train-gen: train the protector Gen against zoo models (core/training/protector.h), with progress, validation,
 * checkpoints, sample grids and exact resume. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "celeba.h"
#include "cli.h"
#include "image.h"
#include "metrics.h"
#include "plot.h"
#include "protector.h"
#include "zoo_list.h"

#define CMD "train-gen"
#define DEFAULT_DATA "../shared/data/celeba_subset"
#define NSAMPLES 4
#define MAX_SET 64
#define VAL_SEED 20240601u

static void help(void) {
    printf(
        "usage: dadfi train-gen --recipe paper|ours --models F1,F2,... --out F [options]\n\n"
        "Train Gen, the protector, with the DADFI algorithm (design.md \"The algorithm\"; core/training/protector.h) on the\n"
        "train split of the CelebA subset against zoo models, each face getting a random attribute edit per model.\n"
        "  paper  Loss = Loss_Idex + Loss_Idey + 0.5 * hinge, exactly: Ide_y's reals are mod_i(x + adv_i) with adv_i\n"
        "         a universal PGD perturbation per model (computed first, --adv-batches batches) or, with\n"
        "         --per-image-pgd, a per-image PGD run in every step; Gen's tanh scale 0.1, bounded by the hinge.\n"
        "  ours   the paper's losses plus a direct term (maximise the masked disruption of every model, capped per\n"
        "         image), a perturbation-energy hinge (PSNR target 37.5 dB), random JPEG / resize / blur / input\n"
        "         diversity before the models (from step 400, ramped up over 800 steps), Gen's tanh scale = eps.\n"
        "Writes F (Gen weights, usable by `dadfi protect --weights F`) at the end, and the checkpoint F.ckpt (Gen,\n"
        "Ide_x, Ide_y, Adam state, universal perturbations, options, step) every few minutes, on --time-limit and\n"
        "on Ctrl-C / SIGTERM, atomically.  One seed gives one run; --resume continues a checkpoint exactly.\n"
        "Progress: step, steps/s, ETA, the losses (D: discriminators; G: Gen's terms), and the success rate\n"
        "(L2_mask > 0.05) on --val validation faces (partition 1, fixed edits) of the last validation.\n\n"
        "options:\n"
        "  --recipe R        paper | ours\n"
        "  --models LIST     comma-separated zoo weight files (n >= 1; the paper uses 3); imported image-to-image\n"
        "                    models (tools/convert_tfjs_graph.mjs, e.g. a CartoonGAN) may follow: recipe ours with\n"
        "                    --set p_warp=P > 0 only; they see the attacker's crop of the same frame resampled to\n"
        "                    their own side (256 for the CartoonGANs: ~2 s per face per core, measure steps/s\n"
        "                    first), weighted by --set w_graph=W (default 1), and no Ide_y\n"
        "  --out F           output weight file; checkpoint F.ckpt\n"
        "  --data DIR        CelebA subset with labels.csv and images/ (default " DEFAULT_DATA ")\n"
        "  --steps N         total steps (default 3000)\n"
        "  --batch B         faces per step (default 8)\n"
        "  --eps E           budget on the [-1, 1] scale (default 0.05)\n"
        "  --width C         Gen width (default 16: 1.4 GFLOP per 256x256 image)\n"
        "  --seed S          initialisation, data order, edits, transforms (default 1)\n"
        "  --blackbox        the models are only queried: NES gradient estimates (set nes_samples, nes_down)\n"
        "  --no-idey         train without Ide_y (the paper's ablation)\n"
        "  --per-image-pgd   Ide_y's reals from per-image PGD every step (slow) instead of universal ones\n"
        "  --adv-batches N   batches for the universal perturbations before step 0 (default 50)\n"
        "  --set NAME=VALUE  any training option of core/training/protector.h's prot_opts (repeatable), e.g.\n"
        "                    --set w_direct=5 --set p_jpeg=0.6 --set lr_g=1e-4 --set d_width=16\n"
        "                    --set gen_chroma=1 (a grey perturbation) or 2 (grey + colour at half resolution):\n"
        "                    JPEG's chroma subsampling, from quality 90 down, discards full-resolution colour;\n"
        "                    --set gen_smooth=K: K passes of a [1 2 1]/4 blur on the delta (no pixel-grid\n"
        "                    patterns: they do not survive an attacker's resampling and show on flat skin)\n"
        "  --resume CKPT     continue a checkpoint: recipe, models' checksums, options, batch and seed come from it\n"
        "                    (--steps may extend the run; --models may point to moved copies of the same files)\n"
        "  --init F          start a new run (other options, step 0, fresh Adam state) from trained weights: Gen from\n"
        "                    F (weights or checkpoint), and from a checkpoint with the same models also Ide_x, Ide_y\n"
        "                    and the universal perturbations (--adv-batches 0 keeps those as they are)\n"
        "  --val N           validation faces (default 32; 0: none)\n"
        "  --val-every N     steps between validations (default 100)\n"
        "  --samples DIR     PNG grids DIR/step_NNNNNN.png: original | protected | perturbation x10 |\n"
        "                    deepfake(original) | deepfake(protected) per model, for 4 validation faces\n"
        "  --sample-every N  steps between grids (default 250)\n"
        "  --ckpt-every MIN  minutes between checkpoints (default 5)\n"
        "  --time-limit MIN  stop after MIN minutes, writing the checkpoint and the weights\n\n"
        "DF_THREADS=N sets the number of threads (default: all cores).\n\n"
        "examples:\n"
        "  dadfi train-gen --recipe ours --models zoo/stargan.dfw,zoo/attgan.dfw,zoo/style.dfw --out gen.dfw \\\n"
        "      --steps 4000 --samples runs/ours --time-limit 170\n"
        "  dadfi train-gen --resume gen.dfw.ckpt --out gen.dfw --steps 6000\n");
}

static volatile sig_atomic_t stop_requested = 0;
static void on_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}

typedef struct {
    const char *recipe, *models, *out, *data, *resume, *samples, *init;
    long steps, batch, seed, width, adv_batches, val, val_every, sample_every;
    double eps, ckpt_min, time_limit;
    int blackbox, no_idey, per_image, nset;
    const char *set[MAX_SET];
    int run_opts; /* options that define the run (not allowed with --resume) */
} args;

static int parse(int argc, char **argv, args *a) {
    memset(a, 0, sizeof *a);
    a->data = DEFAULT_DATA;
    a->steps = 3000, a->batch = 8, a->seed = 1, a->width = 16, a->adv_batches = 50, a->val = 32, a->val_every = 100;
    a->sample_every = 250, a->eps = 0.05, a->ckpt_min = 5;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (cli_is_help(o)) {
            help();
            return -1;
        }
        if (!strcmp(o, "--blackbox")) a->blackbox = 1, a->run_opts++;
        else if (!strcmp(o, "--no-idey")) a->no_idey = 1, a->run_opts++;
        else if (!strcmp(o, "--per-image-pgd")) a->per_image = 1, a->run_opts++;
        else if (o[0] != '-') return cli_usage_error(CMD, "unexpected argument '%s'", o);
        else if (i + 1 >= argc) return cli_usage_error(CMD, "%s needs a value", o);
        else {
            const char *v = argv[++i];
            long *L = NULL;
            double *D = NULL, lo = 0, hi = 0;
            int run = 0;
            if (!strcmp(o, "--recipe")) a->recipe = v, run = 1;
            else if (!strcmp(o, "--models")) a->models = v;
            else if (!strcmp(o, "--out")) a->out = v;
            else if (!strcmp(o, "--data")) a->data = v;
            else if (!strcmp(o, "--resume")) a->resume = v;
            else if (!strcmp(o, "--init")) a->init = v, run = 1;
            else if (!strcmp(o, "--samples")) a->samples = v;
            else if (!strcmp(o, "--set")) {
                if (a->nset == MAX_SET) return cli_usage_error(CMD, "at most %d --set options", MAX_SET);
                a->set[a->nset++] = v, run = 1;
            } else if (!strcmp(o, "--steps")) L = &a->steps, lo = 1, hi = 1e9;
            else if (!strcmp(o, "--batch")) L = &a->batch, lo = 1, hi = 256, run = 1;
            else if (!strcmp(o, "--seed")) L = &a->seed, lo = 0, hi = 2147483647, run = 1;
            else if (!strcmp(o, "--width")) L = &a->width, lo = 1, hi = 256, run = 1;
            else if (!strcmp(o, "--adv-batches")) L = &a->adv_batches, lo = 0, hi = 1e7, run = 1;
            else if (!strcmp(o, "--val")) L = &a->val, lo = 0, hi = 100000;
            else if (!strcmp(o, "--val-every")) L = &a->val_every, lo = 1, hi = 1e9;
            else if (!strcmp(o, "--sample-every")) L = &a->sample_every, lo = 1, hi = 1e9;
            else if (!strcmp(o, "--eps")) D = &a->eps, lo = 1e-4, hi = 1, run = 1;
            else if (!strcmp(o, "--ckpt-every")) D = &a->ckpt_min, lo = 0.05, hi = 1e6;
            else if (!strcmp(o, "--time-limit")) D = &a->time_limit, lo = 0.01, hi = 1e7;
            else return cli_usage_error(CMD, "unknown option '%s'", o);
            if (L && cli_parse_long(v, (long)lo, (long)hi, L))
                return cli_usage_error(CMD, "%s must be an integer in %.0f..%.0f (got '%s')", o, lo, hi, v);
            if (D && cli_parse_float(v, lo, hi, D))
                return cli_usage_error(CMD, "%s must be a number in %g..%g (got '%s')", o, lo, hi, v);
            a->run_opts += run;
        }
    }
    if (!a->out) return cli_usage_error(CMD, "--out is required");
    if (a->resume) {
        if (a->run_opts)
            return cli_usage_error(CMD, "with --resume the recipe, options, batch, seed, eps and width come from the "
                                        "checkpoint (give only --steps, --models, --data, --out, --val*, --samples, "
                                        "--sample-every, --ckpt-every, --time-limit)");
        return 0;
    }
    if (!a->recipe || (strcmp(a->recipe, "paper") && strcmp(a->recipe, "ours")))
        return cli_usage_error(CMD, "--recipe paper or --recipe ours is required");
    if (!a->models) return cli_usage_error(CMD, "--models is required");
    return 0;
}

/* Training options from the command line (a new run). */
static int make_opts(const args *a, prot_opts *o) {
    *o = prot_default_opts(strcmp(a->recipe, "ours") ? PROT_PAPER : PROT_OURS);
    o->eps = o->eps_start = (float)a->eps;
    if (o->recipe == PROT_OURS) o->out_scale = (float)a->eps;
    o->gen_width = (int)a->width;
    o->blackbox = a->blackbox;
    if (a->no_idey) o->idey = 0;
    if (a->per_image) o->universal = 0;
    for (int k = 0; k < a->nset; k++) {
        char name[64];
        const char *eq = strchr(a->set[k], '=');
        if (!eq || eq == a->set[k] || (size_t)(eq - a->set[k]) >= sizeof name)
            return cli_usage_error(CMD, "--set needs NAME=VALUE (got '%s')", a->set[k]);
        memcpy(name, a->set[k], (size_t)(eq - a->set[k]));
        name[eq - a->set[k]] = 0;
        if (prot_opts_set(o, name, eq + 1)) return cli_usage_error(CMD, "%s", df_errmsg());
    }
    return 0;
}

/* ------------------------------------------------------------------ checkpoint files */
typedef struct {
    prot_opts o;
    uint64_t seed;
    long batch;
    double seconds;
    char models[4096];
    uint32_t crc[ZOO_LIST_MAX];
    int nmodels;
    char init[256];
    uint8_t *buf;
    size_t len;
} ckpt_info;

static df_status read_ckpt(const char *path, ckpt_info *c) {
    memset(c, 0, sizeof *c);
    df_status s = df_read_file(path, (size_t)1 << 31, &c->buf, &c->len);
    if (s) return s;
    dfw_file f;
    if ((s = dfw_parse(&f, c->buf, c->len))) return s;
    long n = 0;
    char kind[32];
    if (dfw_meta_get(&f, "checkpoint", kind, sizeof kind) || strcmp(kind, PROT_ARCH))
        s = df_fail(DF_ERR_FORMAT, "%s is not a train-gen checkpoint", path);
    c->o = prot_default_opts(PROT_PAPER);
    if (!s) s = prot_opts_read(&f, &c->o);
    if (!s) s = prot_checkpoint_seed(&f, &c->seed);
    if (!s) s = dfw_meta_int(&f, "batch", &c->batch);
    if (!s) s = dfw_meta_int(&f, "models", &n);
    long ng = 0;
    if (!s && dfw_meta_has(&f, "graphs")) s = dfw_meta_int(&f, "graphs", &ng);
    if (!s && (ng < 0 || ng > ZOO_LIST_MAX)) s = df_fail(DF_ERR_FORMAT, "bad imported model count %ld", ng);
    n += ng;
    if (!s) s = dfw_meta_get(&f, "train.models", c->models, sizeof c->models);
    if (!s && (n < 1 || n > ZOO_LIST_MAX)) s = df_fail(DF_ERR_FORMAT, "bad model count %ld", n);
    for (int i = 0; i < n && !s; i++) {
        char key[32];
        long v;
        snprintf(key, sizeof key, "train.model_crc.%d", i);
        if (!(s = dfw_meta_int(&f, key, &v))) c->crc[i] = (uint32_t)v;
    }
    c->nmodels = (int)n;
    if (!s) dfw_meta_float(&f, "train.seconds", &c->seconds);
    if (!s) dfw_meta_get(&f, "train.init", c->init, sizeof c->init);
    dfw_free(&f);
    return s;
}

/* Checkpoint (checkpoint != 0: everything, model paths and checksums) or weights (model names only). */
static const char *init_file; /* --init, recorded in the files' meta */

static df_status save(const prot_trainer *t, const char *path, int checkpoint, const char *models_arg,
                      const zoo_list *zl, const graph_list *gl, const char *data, double seconds, const prot_val *v) {
    dfw_writer *w = malloc(sizeof *w);
    if (!w) return df_fail(DF_ERR_NOMEM, "out of memory");
    dfw_writer_init(w);
    char names[1024];
    zoo_list_names(zl, names, sizeof names);
    for (int j = 0; j < gl->n; j++) {
        size_t k = strlen(names);
        snprintf(names + k, sizeof names - k, ",%s", gl->name[j]);
    }
    const char *base = strrchr(data, '/');
    base = base && base[1] ? base + 1 : data; /* no machine paths in weight files */
    df_status s = checkpoint ? prot_write(t, w) : prot_write_weights(t, w);
    if (!s) s = dfw_writer_meta(w, "train.model_names", names);
    if (!s) s = dfw_writer_meta(w, "train.data", base);
    if (!s) s = dfw_writer_meta(w, "train.partition", "0");
    if (!s) s = dfw_writer_meta_float(w, "train.seconds", seconds);
    if (!s && init_file) {
        const char *ib = strrchr(init_file, '/');
        s = dfw_writer_meta(w, "train.init", ib ? ib + 1 : init_file);
    }
    if (!s && v) s = dfw_writer_meta_float(w, "train.val_success", v->success_mean);
    if (!s && v) s = dfw_writer_meta_float(w, "train.val_psnr", v->psnr);
    if (checkpoint) {
        if (!s) s = dfw_writer_meta(w, "train.models", models_arg);
        for (int i = 0; i < zl->n + gl->n && !s; i++) { /* zoo models, then imported ones */
            char key[32];
            snprintf(key, sizeof key, "train.model_crc.%d", i);
            s = dfw_writer_meta_int(w, key, (long)(i < zl->n ? zl->crc[i] : gl->crc[i - zl->n]));
        }
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    if (!s) s = dfw_writer_finish(w, &buf, &len);
    dfw_writer_free(w);
    free(w);
    if (!s) s = df_write_file_atomic(path, buf, len);
    free(buf);
    return s;
}

/* ------------------------------------------------------------------ sample grid */
static df_status write_grid(prot_trainer *t, const zoo_list *zl, const char *dir, long step, const float *x,
                            const float *src, int S) {
    int n = zl->n, cols = 3 + 2 * n;
    size_t per = (size_t)3 * S * S;
    float *buf = malloc((size_t)NSAMPLES * per * (2 + 2 * n) * sizeof(float));
    if (!buf) return df_fail(DF_ERR_NOMEM, "out of memory");
    float *xa = buf, *pert = buf + NSAMPLES * per, *yc[ZOO_LIST_MAX], *ya[ZOO_LIST_MAX];
    for (int i = 0; i < n; i++) {
        yc[i] = buf + (2 + 2 * i) * NSAMPLES * per;
        ya[i] = yc[i] + NSAMPLES * per;
    }
    prot_val v;
    df_status s = prot_validate(t, x, src, NSAMPLES, VAL_SEED, &v, xa, yc, ya);
    const float **cells = malloc((size_t)NSAMPLES * cols * sizeof *cells);
    const char **titles = malloc((size_t)cols * sizeof *titles);
    char (*tbuf)[80] = malloc((size_t)cols * 80);
    df_canvas c = {0};
    if (!s && (!cells || !titles || !tbuf)) s = df_fail(DF_ERR_NOMEM, "out of memory");
    if (!s) {
        for (size_t k = 0; k < NSAMPLES * per; k++) pert[k] = 10.0f * (xa[k] - x[k]);
        snprintf(tbuf[0], 80, "original");
        snprintf(tbuf[1], 80, "protected");
        snprintf(tbuf[2], 80, "perturbation x10");
        for (int i = 0; i < n; i++) {
            snprintf(tbuf[3 + 2 * i], 80, "%s(orig)", zl->name[i]);
            snprintf(tbuf[4 + 2 * i], 80, "%s(prot)", zl->name[i]);
        }
        for (int k = 0; k < cols; k++) titles[k] = tbuf[k];
        for (int r = 0; r < NSAMPLES; r++) {
            const float **row = cells + r * cols;
            row[0] = x + r * per, row[1] = xa + r * per, row[2] = pert + r * per;
            for (int i = 0; i < n; i++) row[3 + 2 * i] = yc[i] + r * per, row[4 + 2 * i] = ya[i] + r * per;
        }
        char title[160];
        snprintf(title, sizeof title, "step %ld: success %.0f%% (these 4 faces), PSNR %.1f dB", step,
                 100 * v.success_mean, v.psnr);
        df_image_grid g = {NSAMPLES, cols, S, S, 1, cells, titles, NULL, title};
        s = df_plot_grid(&c, &g);
    }
    char path[4096];
    snprintf(path, sizeof path, "%s/step_%06ld.png", dir, step);
    if (!s) s = df_image_save(path, c.rgb, c.w, c.h, DF_FMT_PNG, 0);
    df_canvas_free(&c);
    free(cells), free(titles), free(tbuf), free(buf);
    return s;
}

static uint64_t mix(uint64_t a, uint64_t b) {
    uint64_t z = a * 0x9E3779B97F4A7C15ull ^ (b + 0x632BE59BD9B4E019ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

/* Batch `step` of the training set (epoch-wise shuffle, random mirror) into x, src. */
static df_status load_batch(const celeba_set *s, int *idx, int *flips, int B, uint64_t seed, long step, float *x,
                            float *src, int S) {
    celeba_batch_indices(idx, s->n, B, seed, step);
    df_rng r;
    df_rng_seed(&r, mix(seed, (uint64_t)step));
    for (int b = 0; b < B; b++) flips[b] = (int)(df_rng_u32(&r) & 1);
    return celeba_load_batch(s, idx, B, x, src, S, flips);
}

static void print_val(const prot_val *v, const zoo_list *zl, const graph_list *gl, long step) {
    cli_progress_done();
    fprintf(stderr, "  validation at step %ld: success %.1f%% (", step, 100 * v->success_mean);
    for (int i = 0; i < zl->n + gl->n; i++)
        fprintf(stderr, "%s%s %.0f%% L2m %.3f", i ? ", " : "", i < zl->n ? zl->name[i] : gl->name[i - zl->n],
                100 * v->success[i], v->l2_mask[i]);
    fprintf(stderr, "), PSNR %.2f dB, SSIM %.3f\n", v->psnr, v->ssim);
}

/* ------------------------------------------------------------------ main */
int cmd_train_gen(int argc, char **argv) {
    args a;
    int r = parse(argc, argv, &a);
    if (r) return r < 0 ? EXIT_OK : r;
    prot_opts po;
    ckpt_info ck = {0};
    uint64_t seed = (uint64_t)a.seed;
    int B = (int)a.batch;
    double prev_seconds = 0;
    if (a.resume) {
        if (read_ckpt(a.resume, &ck)) {
            free(ck.buf);
            return cli_runtime_error(CMD, a.resume);
        }
        po = ck.o, seed = ck.seed, B = (int)ck.batch, prev_seconds = ck.seconds;
        if (!a.models) a.models = ck.models;
    } else if ((r = make_opts(&a, &po))) {
        return r;
    }
    init_file = a.init ? a.init : ck.init[0] ? ck.init : NULL;
    zoo_list zl;
    graph_list gl;
    if (model_list_load(&zl, &gl, a.models) || (zl.n == 0 && df_fail(DF_ERR_ARG, "no zoo model in --models: Gen's "
                                                                               "working size comes from them"))) {
        free(ck.buf);
        graph_list_free(&gl);
        return cli_runtime_error(CMD, "cannot load the models");
    }
    int S = zoo_get_config(zl.m[0])->size;
    if (a.resume) {
        int ok = zl.n + gl.n == ck.nmodels;
        for (int i = 0; ok && i < zl.n + gl.n; i++) ok = (i < zl.n ? zl.crc[i] : gl.crc[i - zl.n]) == ck.crc[i];
        if (!ok) {
            free(ck.buf);
            zoo_list_free(&zl);
            graph_list_free(&gl);
            return cli_usage_error(CMD, "the models differ from the checkpoint's (%s)", ck.models);
        }
    }
    prot_trainer *t = NULL;
    celeba_set train = {0}, val = {0};
    size_t per = (size_t)3 * S * S;
    int nv = 0, rc = EXIT_OK, *idx = malloc(B * sizeof(int)), *flips = malloc(B * sizeof(int));
    float *x = malloc(B * per * 4), *src = malloc((size_t)B * ZOO_NATTR * 4), *xv = NULL, *sv = NULL;
    prot_val v, *have_v = NULL;
    memset(&v, 0, sizeof v);
    char ckpt[4096];
    snprintf(ckpt, sizeof ckpt, "%s.ckpt", a.out);
    if (!idx || !flips || !x || !src) {
        df_fail(DF_ERR_NOMEM, "out of memory");
        rc = cli_runtime_error(CMD, "allocation");
        goto done;
    }
    if (prot_create_targets(&t, &po, zl.m, zl.n, gl.g, gl.n, B, seed) || (a.resume && prot_resume(t, ck.buf, ck.len))) {
        rc = cli_runtime_error(CMD, a.resume ? a.resume : "cannot create the trainer");
        goto done;
    }
    if (a.init) {
        uint8_t *ib = NULL;
        size_t il = 0;
        df_status s = df_read_file(a.init, (size_t)1 << 31, &ib, &il);
        if (!s) s = prot_init_from(t, ib, il);
        free(ib);
        if (s) {
            rc = cli_runtime_error(CMD, a.init);
            goto done;
        }
    }
    free(ck.buf);
    ck.buf = NULL;
    if (celeba_open(&train, a.data, 0)) {
        rc = cli_runtime_error(CMD, "cannot read the training data (see --data)");
        goto done;
    }
    long nval = a.val > NSAMPLES || !a.samples ? a.val : NSAMPLES;
    if (nval > 0) {
        if (celeba_open(&val, a.data, 1)) {
            rc = cli_runtime_error(CMD, "cannot read the validation data");
            goto done;
        }
        nv = (int)(nval < val.n ? nval : val.n);
        xv = malloc((size_t)nv * per * 4), sv = malloc((size_t)nv * ZOO_NATTR * 4);
        int *vi = malloc((size_t)nv * sizeof(int));
        for (int k = 0; vi && k < nv; k++) vi[k] = (int)((long)k * val.n / nv); /* different people */
        df_status s = (xv && sv && vi) ? celeba_load_batch(&val, vi, nv, xv, sv, S, NULL)
                                       : df_fail(DF_ERR_NOMEM, "out of memory");
        free(vi);
        if (s) {
            rc = cli_runtime_error(CMD, "loading the validation faces");
            goto done;
        }
    }
    if (a.samples) mkdir(a.samples, 0777);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    double t0 = cli_now();
    const prot_opts *o = prot_get_opts(t);
    long step = prot_get_step(t);
    fprintf(stderr, "dadfi %s: recipe %s, %d model%s (%s), Gen width %d (%.2f GFLOP per 256x256), eps %.3g, %d train "
            "faces, batch %d, steps %ld -> %ld, %d threads%s%s%s\n", CMD, o->recipe == PROT_OURS ? "ours" : "paper",
            zl.n + gl.n, zl.n + gl.n > 1 ? "s" : "", a.models, o->gen_width, gen_flops(&(gen_config){o->gen_width, 1, 0, 0}, 256, 256) * 1e-9,
            o->eps, train.n, B, step, a.steps, df_get_threads(), o->blackbox ? ", black box" : "",
            o->idey ? "" : ", no Ide_y", o->idey && !o->universal ? ", per-image PGD labels" : "");

    /* universal perturbations first (Ide_y's reals), unless resumed */
    if (!a.resume && o->idey && o->universal && a.adv_batches > 0) {
        double ta = cli_now(), last = ta;
        for (long b = 0; b < a.adv_batches && !stop_requested; b++) {
            double l = 0;
            if (load_batch(&train, idx, flips, B, mix(seed, 0xAD7), b, x, src, S)) {
                rc = cli_runtime_error(CMD, "loading a batch");
                goto done;
            }
            for (int i = 0; i < zl.n; i++) {
                float li;
                if (prot_universal_update(t, i, x, src, b, &li)) {
                    rc = cli_runtime_error(CMD, "universal perturbation");
                    goto done;
                }
                l += li / zl.n;
            }
            double now = cli_now();
            if (now - last >= 5 || b + 1 == a.adv_batches) {
                double eta = (a.adv_batches - b - 1) * (now - ta) / (b + 1);
                cli_progress("universal perturbations: batch %ld/%ld  ETA %.0fm%02.0fs  loss %.4f", b + 1,
                             a.adv_batches, floor(eta / 60), fmod(eta, 60), l);
                last = now;
            }
        }
        cli_progress_done();
        if (stop_requested) goto done;
        if (save(t, ckpt, 1, a.models, &zl, &gl, a.data, prev_seconds + cli_now() - t0, NULL)) {
            rc = cli_runtime_error(CMD, ckpt);
            goto done;
        }
    }

    double last_print = cli_now(), last_ckpt = last_print;
    prot_losses acc;
    memset(&acc, 0, sizeof acc);
    long acc_n = 0, print_step = step;
    const char *why = "done";
    while (step < a.steps) {
        if (nv > 0 && (step % a.val_every == 0 || !have_v)) {
            if (prot_validate(t, xv, sv, nv, VAL_SEED, &v, NULL, NULL, NULL)) {
                rc = cli_runtime_error(CMD, "validation");
                goto done;
            }
            have_v = &v;
            print_val(&v, &zl, &gl, step);
        }
        if (a.samples && step % a.sample_every == 0 && write_grid(t, &zl, a.samples, step, xv, sv, S)) {
            rc = cli_runtime_error(CMD, "sample grid");
            goto done;
        }
        prot_losses L;
        if (load_batch(&train, idx, flips, B, seed, step, x, src, S) || prot_step(t, x, src, &L)) {
            rc = cli_runtime_error(CMD, "training step");
            goto done;
        }
        step = prot_get_step(t);
        if (!isfinite(L.total)) {
            df_fail(DF_ERR_ARG, "a loss is not finite at step %ld (try a lower lr_g / lr_d)", step);
            rc = cli_runtime_error(CMD, "training diverged");
            goto done;
        }
        float *pa = (float *)&acc, *pl = (float *)&L;
        for (size_t k = 0; k < sizeof L / sizeof(float); k++) pa[k] += pl[k];
        acc_n++;
        double now = cli_now();
        if (now - last_print >= 10 || step == a.steps) {
            double sps = (step - print_step) / (now - last_print), eta = (a.steps - step) / (sps > 0 ? sps : 1e-9);
            float k = 1.0f / acc_n;
            cli_progress("step %ld/%ld %.3f st/s ETA %.0fh%02.0fm | D x %.3f y %.3f | G x %.3f y %.3f hinge %.4f "
                         "direct %.4f feat %.4f energy %.3f linf %.3f | val %.1f%%",
                         step, a.steps, sps, floor(eta / 3600), fmod(eta / 60, 60), acc.d_idex * k, acc.d_idey * k,
                         acc.g_idex * k, acc.g_idey * k, acc.hinge * k, acc.direct * k, acc.feat * k, acc.energy * k,
                         acc.linf * k, have_v ? 100 * v.success_mean : 0.0);
            memset(&acc, 0, sizeof acc), acc_n = 0, last_print = now, print_step = step;
        }
        int timeout = a.time_limit > 0 && now - t0 >= a.time_limit * 60;
        if (stop_requested || timeout || now - last_ckpt >= a.ckpt_min * 60) {
            if (save(t, ckpt, 1, a.models, &zl, &gl, a.data, prev_seconds + now - t0, have_v)) {
                rc = cli_runtime_error(CMD, ckpt);
                goto done;
            }
            last_ckpt = now;
        }
        if (stop_requested || timeout) {
            why = stop_requested ? "interrupted" : "time limit reached";
            break;
        }
    }
    cli_progress_done();
    if (nv > 0 && step == a.steps) {
        if (prot_validate(t, xv, sv, nv, VAL_SEED, &v, NULL, NULL, NULL)) {
            rc = cli_runtime_error(CMD, "validation");
            goto done;
        }
        have_v = &v;
        print_val(&v, &zl, &gl, step);
        if (a.samples && write_grid(t, &zl, a.samples, step, xv, sv, S)) {
            rc = cli_runtime_error(CMD, "sample grid");
            goto done;
        }
    }
    double secs = prev_seconds + cli_now() - t0;
    if (save(t, ckpt, 1, a.models, &zl, &gl, a.data, secs, have_v) || save(t, a.out, 0, a.models, &zl, &gl, a.data, secs, have_v)) {
        rc = cli_runtime_error(CMD, "cannot write the weights");
        goto done;
    }
    fprintf(stderr, "dadfi %s: %s at step %ld (%.1f min this run); weights %s, checkpoint %s%s%s\n", CMD, why, step,
            (cli_now() - t0) / 60, a.out, ckpt, step < a.steps ? "; continue with --resume " : "",
            step < a.steps ? ckpt : "");
done:
    free(ck.buf);
    free(idx), free(flips), free(x), free(src), free(xv), free(sv);
    celeba_free(&train);
    celeba_free(&val);
    prot_free(t);
    zoo_list_free(&zl);
    graph_list_free(&gl);
    return rc;
}
