/* dadfi zoo-train: train a zoo deepfake model (core/networks/zoo.h) on the CelebA subset, with progress, checkpoints,
 * sample grids and exact resume. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "celeba.h"
#include "cli.h"
#include "image.h"
#include "zoo.h"

#define CMD "zoo-train"
#define DEFAULT_DATA "../shared/data/celeba_subset"
#define NSAMPLES 4 /* faces in a sample grid */
#define NVAL 32    /* validation faces for the progress check */

static void help(void) {
    printf(
        "usage: dadfi zoo-train --arch A --out F [options]\n\n"
        "Train a face-attribute editor of the zoo (the deepfake models the protector is trained against) on the\n"
        "train split (partition 0) of the CelebA subset, StarGAN's setting: 128x128 faces, attributes\n"
        "Black_Hair, Blond_Hair, Brown_Hair, Male, Young.  Writes F (weights: generator + discriminator) at the\n"
        "end and the checkpoint F.ckpt (weights + Adam state + step) every few minutes, on --time-limit, and on\n"
        "Ctrl-C / SIGTERM; both are written atomically.  The same seed gives the same run, and --resume continues\n"
        "a checkpoint exactly where it stopped.\n\n"
        "options:\n"
        "  --arch A          stargan | attgan | style (see core/networks/zoo.h)\n"
        "  --out F           output weight file (.dfw); checkpoint F.ckpt\n"
        "  --data DIR        CelebA subset with labels.csv and images/ (default " DEFAULT_DATA ")\n"
        "  --steps N         total training steps, one D and one G update each (default 3000)\n"
        "  --batch B         images per step (default 8)\n"
        "  --seed S          initialisation, data order, targets (default 1)\n"
        "  --width W         generator base channels (default: stargan 16, attgan 16, style 16)\n"
        "  --dwidth D        discriminator base channels (default 16)\n"
        "  --nres R          residual blocks for stargan / style (default 3)\n"
        "  --skip 0|1|2      output mode: 0 plain tanh; 1 global residual, output = clamp(x + G(x), -1, 1), the\n"
        "                    network learns only the edit; 2 attention (GANimation): output = A * colour + (1 - A) * x\n"
        "                    with a learned mask A (default 0).  With --init, --skip 2 turns a plain model into an\n"
        "                    attention one that starts from the plain model's edits (how weights/zoo's stargan and\n"
        "                    style were made: a plain run first, for the edits, then attention, for the face)\n"
        "  --cls-pool K      the discriminator's attribute head judges the image averaged over K x K blocks\n"
        "                    (1: the image itself, the default).  A generator can satisfy a full-resolution head\n"
        "                    with fine textures while the hair colour barely changes; a low-pass view (e.g. 4:\n"
        "                    32x32 colour) leaves it only real colour changes.  Stored in the model; with --init\n"
        "                    or --resume it changes a trained model's view (the head re-learns it from real faces)\n"
        "  --lr L            Adam learning rate, betas 0.5 / 0.999 (default 2e-4)\n"
        "  --lambda-rec X    weight of the L1 reconstruction (default 10)\n"
        "  --lambda-cls X    weight of the attribute classification (default 1)\n"
        "  --lambda-id X     stargan, style: weight of the identity edit L1(G(x; own attributes), x) (default 10;\n"
        "                    0 = StarGAN's cycle only)\n"
        "                    On --resume the three weights are the checkpoint's, unless given (a new schedule)\n"
        "  --ema D           keep a moving average of the generator's weights, ema = D * ema + (1 - D) * w after\n"
        "                    every step (StarGAN v2's evaluation generator; e.g. 0.995: about the last 200 steps),\n"
        "                    used for the validation check, the sample grids and the written weights F (the\n"
        "                    checkpoint keeps both).  GAN generators swing from step to step; the average\n"
        "                    does not (default 0: off; on --resume the checkpoint's unless given)\n"
        "  --init F          a new run from a weight file without Adam state (e.g. a committed weights/zoo/*.dfw):\n"
        "                    generator, discriminator, architecture and widths come from F, everything else from\n"
        "                    the command line; steps count from 0 (Adam's bias correction needs a fresh count)\n"
        "  --resume CKPT     continue this checkpoint (architecture, widths, batch, seed and lr come from it;\n"
        "                    --steps may extend the run)\n"
        "  --samples DIR     write PNG grids (rows: validation faces; columns: input, then the edit of each\n"
        "                    attribute) to DIR/step_NNNNNN.png\n"
        "  --sample-every N  steps between grids and validation checks (default 250): reconstruction error and\n"
        "                    how often the discriminator recognises the requested attribute, on 32 faces\n"
        "  --ckpt-every MIN  minutes between checkpoints (default 5)\n"
        "  --time-limit MIN  stop after MIN minutes, writing the checkpoint and the weights\n\n"
        "Default widths (c = 16, d = 16, R = 3) are what a 2-core machine trains usefully in under an hour:\n"
        "generator forward per image, then steps/s at batch 8 measured on 2 cores shared with other jobs:\n"
        "attgan 0.31 GFLOP, 1.3 (3424 steps in 45 min; hair colour edits visible after ~2000 steps);\n"
        "style 0.75 GFLOP, 0.3-0.5; stargan 1.0 GFLOP, 0.4-0.45 (its conv7x7 layers at 128x128).  Every run\n"
        "prints its own steps/s and ETA.  DF_THREADS=N sets the number of threads (default: all cores).\n\n"
        "examples:\n"
        "  dadfi zoo-train --arch stargan --out stargan.dfw --steps 3000 --samples runs/stargan\n"
        "  dadfi zoo-train --arch stargan --out stargan.dfw --resume stargan.dfw.ckpt --steps 6000\n");
}

static volatile sig_atomic_t stop_requested = 0;
static void on_signal(int sig) {
    (void)sig;
    stop_requested = 1;
}

typedef struct {
    const char *arch, *out, *data, *resume, *init, *samples;
    long steps, batch, seed, width, dwidth, nres, skip, sample_every, cls_pool;
    double lr, lambda_rec, lambda_cls, lambda_id, ema, ckpt_min, time_limit;
    int set_batch, set_seed, set_width, set_dwidth, set_nres, set_skip, set_lr, set_lambda_rec, set_lambda_cls, set_lambda_id, set_cls_pool, set_ema;
} opts;

static int parse(int argc, char **argv, opts *o) {
    memset(o, 0, sizeof *o);
    o->data = DEFAULT_DATA;
    o->steps = 3000, o->batch = 8, o->seed = 1, o->sample_every = 250, o->dwidth = 16, o->nres = 3;
    o->lr = 2e-4, o->lambda_rec = 10, o->lambda_cls = 1, o->lambda_id = 10, o->ckpt_min = 5;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            help();
            return -1;
        }
        if (a[0] != '-') return cli_usage_error(CMD, "unexpected argument '%s'", a);
        if (i + 1 >= argc) return cli_usage_error(CMD, "%s needs a value", a);
        const char *v = argv[++i];
        long *L = NULL;
        double *D = NULL, lo = 0, hi = 0;
        int *flag = NULL;
        if (!strcmp(a, "--arch")) o->arch = v;
        else if (!strcmp(a, "--out")) o->out = v;
        else if (!strcmp(a, "--data")) o->data = v;
        else if (!strcmp(a, "--resume")) o->resume = v;
        else if (!strcmp(a, "--init")) o->init = v;
        else if (!strcmp(a, "--samples")) o->samples = v;
        else if (!strcmp(a, "--steps")) L = &o->steps, lo = 1, hi = 100000000;
        else if (!strcmp(a, "--batch")) L = &o->batch, lo = 1, hi = 256, flag = &o->set_batch;
        else if (!strcmp(a, "--seed")) L = &o->seed, lo = 0, hi = 2147483647, flag = &o->set_seed;
        else if (!strcmp(a, "--width")) L = &o->width, lo = 1, hi = 128, flag = &o->set_width;
        else if (!strcmp(a, "--dwidth")) L = &o->dwidth, lo = 1, hi = 64, flag = &o->set_dwidth;
        else if (!strcmp(a, "--nres")) L = &o->nres, lo = 0, hi = 16, flag = &o->set_nres;
        else if (!strcmp(a, "--skip")) L = &o->skip, lo = 0, hi = 2, flag = &o->set_skip;
        else if (!strcmp(a, "--cls-pool")) L = &o->cls_pool, lo = 1, hi = 32, flag = &o->set_cls_pool;
        else if (!strcmp(a, "--sample-every")) L = &o->sample_every, lo = 1, hi = 100000000;
        else if (!strcmp(a, "--lr")) D = &o->lr, lo = 1e-7, hi = 1, flag = &o->set_lr;
        else if (!strcmp(a, "--lambda-rec")) D = &o->lambda_rec, lo = 0, hi = 1000, flag = &o->set_lambda_rec;
        else if (!strcmp(a, "--lambda-cls")) D = &o->lambda_cls, lo = 0, hi = 1000, flag = &o->set_lambda_cls;
        else if (!strcmp(a, "--lambda-id")) D = &o->lambda_id, lo = 0, hi = 1000, flag = &o->set_lambda_id;
        else if (!strcmp(a, "--ema")) D = &o->ema, lo = 0, hi = 0.99999, flag = &o->set_ema;
        else if (!strcmp(a, "--ckpt-every")) D = &o->ckpt_min, lo = 0.05, hi = 10000;
        else if (!strcmp(a, "--time-limit")) D = &o->time_limit, lo = 0.01, hi = 1e6;
        else return cli_usage_error(CMD, "unknown option '%s'", a);
        if (L && cli_parse_long(v, (long)lo, (long)hi, L))
            return cli_usage_error(CMD, "%s must be an integer in %.0f..%.0f (got '%s')", a, lo, hi, v);
        if (D && cli_parse_float(v, lo, hi, D))
            return cli_usage_error(CMD, "%s must be a number in %g..%g (got '%s')", a, lo, hi, v);
        if (flag) *flag = 1;
    }
    if (!o->out) return cli_usage_error(CMD, "--out is required");
    if (o->resume && o->init) return cli_usage_error(CMD, "--resume and --init exclude each other");
    if (!o->arch && !o->resume && !o->init) return cli_usage_error(CMD, "--arch is required (stargan, attgan or style)");
    zoo_family f;
    if (o->arch && zoo_family_parse(o->arch, &f)) return cli_usage_error(CMD, "%s", df_errmsg());
    return 0;
}

/* ------------------------------------------------------------------ files */
static int save_model(zoo_model *m, const char *path, int checkpoint, const opts *o, double seconds) {
    dfw_writer *w = malloc(sizeof *w);
    if (!w) return df_fail(DF_ERR_NOMEM, "out of memory");
    dfw_writer_init(w);
    const char *base = strrchr(o->data, '/');
    base = base && base[1] ? base + 1 : o->data; /* no machine paths in weight files */
    int ema = !checkpoint && zoo_has_ema(m); /* the weights file holds the averaged generator */
    if (ema) zoo_swap_ema(m);
    df_status s = zoo_write(m, w, checkpoint);
    if (!s) s = dfw_writer_meta_int(w, "train.batch", o->batch);
    if (!s) s = dfw_writer_meta_int(w, "train.seed", o->seed);
    if (!s) s = dfw_writer_meta_float(w, "train.lr", o->lr);
    if (!s) s = dfw_writer_meta_float(w, "train.lambda_rec", o->lambda_rec);
    if (!s) s = dfw_writer_meta_float(w, "train.lambda_cls", o->lambda_cls);
    if (!s) s = dfw_writer_meta_float(w, "train.lambda_id", o->lambda_id);
    if (!s) s = dfw_writer_meta_float(w, "train.ema", o->ema);
    if (!s) s = dfw_writer_meta_int(w, "train.steps", zoo_get_step(m));
    if (!s) s = dfw_writer_meta(w, "train.data", base);
    if (!s && o->init) {
        const char *ib = strrchr(o->init, '/');
        s = dfw_writer_meta(w, "train.init", ib && ib[1] ? ib + 1 : o->init);
    }
    if (!s) s = dfw_writer_meta(w, "train.partition", "0");
    if (!s) s = dfw_writer_meta_float(w, "train.seconds", seconds);
    uint8_t *buf = NULL;
    size_t len = 0;
    if (!s) s = dfw_writer_finish(w, &buf, &len);
    if (ema) zoo_swap_ema(m);
    dfw_writer_free(w);
    free(w);
    if (!s) s = df_write_file_atomic(path, buf, len);
    free(buf);
    return s;
}

/* Load a model to train on.  A checkpoint (init == 0) restores the model and the run's settings; a weight file
 * (init != 0, --init) starts a new run from its G and D: Adam starts afresh, and so does the step count, since
 * Adam's bias correction at a late step with zero moments would make the first updates ~16x too large (beta2
 * 0.999) and wreck the model.  Both carry the training time so far. */
static int load_model(const char *path, int init, opts *o, double *seconds, zoo_model **m) {
    const char *what = init ? "the --init file's" : "the checkpoint's";
    uint8_t *buf;
    size_t len;
    df_status s = df_read_file(path, (size_t)1 << 31, &buf, &len);
    if (s) return s;
    dfw_file f;
    if (!(s = dfw_parse(&f, buf, len))) {
        long v;
        double d;
        char arch[64];
        if (!init) { /* the run's settings */
            if (!(s = dfw_meta_int(&f, "train.batch", &v))) {
                if (o->set_batch && v != o->batch) s = df_fail(DF_ERR_ARG, "--batch %ld differs from the checkpoint's %ld", o->batch, v);
                o->batch = v;
            }
            if (!s && !(s = dfw_meta_int(&f, "train.seed", &v))) {
                if (o->set_seed && v != o->seed) s = df_fail(DF_ERR_ARG, "--seed %ld differs from the checkpoint's %ld", o->seed, v);
                o->seed = v;
            }
            if (!s && !(s = dfw_meta_float(&f, "train.lr", &d))) o->lr = d;
            /* loss weights: the checkpoint's, unless given on the command line (a change of schedule) */
            if (!s && !(s = dfw_meta_float(&f, "train.lambda_rec", &d)) && !o->set_lambda_rec) o->lambda_rec = d;
            if (!s && !(s = dfw_meta_float(&f, "train.lambda_cls", &d)) && !o->set_lambda_cls) o->lambda_cls = d;
            /* older checkpoints have no identity term: they continue with the command line's (or default) value */
            if (!s && !o->set_lambda_id && dfw_meta_float(&f, "train.lambda_id", &d) == DF_OK) o->lambda_id = d;
            if (!s && !o->set_ema && dfw_meta_float(&f, "train.ema", &d) == DF_OK) o->ema = d;
        }
        if (!s && dfw_meta_float(&f, "train.seconds", &d) == DF_OK && d >= 0) *seconds = d;
        if (!s && !(s = dfw_meta_get(&f, "arch", arch, sizeof arch)) && o->arch) {
            zoo_family a, b;
            if (zoo_family_parse(o->arch, &a) == DF_OK && zoo_family_parse(arch, &b) == DF_OK && a != b)
                s = df_fail(DF_ERR_ARG, "--arch %s differs from %s %s", o->arch, what, arch);
        }
        dfw_free(&f);
        if (!s && !(s = zoo_load(m, buf, len, 1))) {
            if (init) zoo_set_step(*m, 0), zoo_clear_ema(*m);
            else if (zoo_get_step(*m) == 0) s = df_fail(DF_ERR_FORMAT, "%s is a weight file, not a checkpoint (--init F starts a run from one)", path);
        }
    }
    free(buf);
    return s;
}

static uint64_t mix(uint64_t a, uint64_t b) {
    uint64_t z = a * 0x9E3779B97F4A7C15ull ^ (b + 0x632BE59BD9B4E019ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

static int write_grid(zoo_model *m, const char *dir, long step, const float *x, const float *attr) {
    int S = zoo_get_config(m)->size, W = (1 + ZOO_NATTR) * S, H = NSAMPLES * S;
    uint8_t *rgb = malloc((size_t)W * H * 3);
    if (!rgb) return df_fail(DF_ERR_NOMEM, "out of memory");
    df_status s = zoo_edit_grid(m, rgb, x, attr, NSAMPLES);
    char path[4096];
    snprintf(path, sizeof path, "%s/step_%06ld.png", dir, step);
    if (!s) s = df_image_save(path, rgb, W, H, DF_FMT_PNG, 0);
    free(rgb);
    return s;
}

/* On n validation faces: reconstruction error (edit to the own attributes) and how often the discriminator's
 * classifier sees the requested attribute in single-attribute edits (a training-time signal; the separate
 * classifier of the evaluation is the real judge). */
static int val_report(zoo_model *m, long step, const float *vx, const float *va, int n, int B, float *y) {
    size_t img = (size_t)3 * zoo_get_config(m)->size * zoo_get_config(m)->size;
    double mae = 0, hit[ZOO_NATTR] = {0}, cnt[ZOO_NATTR] = {0};
    float trg[64 * ZOO_NATTR], logit[64 * ZOO_NATTR];
    if (B > 64) B = 64;
    for (int b0 = 0; b0 < n; b0 += B) {
        int nb = n - b0 < B ? n - b0 : B;
        const float *x = vx + b0 * img, *src = va + (size_t)b0 * ZOO_NATTR;
        df_status s = zoo_edit(m, y, x, src, src, nb);
        if (s) return s;
        for (size_t i = 0; i < nb * img; i++) mae += fabsf(y[i] - x[i]);
        for (int k = 0; k < ZOO_NATTR; k++) {
            for (int b = 0; b < nb; b++) zoo_edit_attrs(trg + b * ZOO_NATTR, src + b * ZOO_NATTR, k);
            if ((s = zoo_edit(m, y, x, src, trg, nb)) || (s = zoo_classify(m, logit, y, nb))) return s;
            for (int b = 0; b < nb; b++) {
                float want = trg[b * ZOO_NATTR + k];
                if (want == src[b * ZOO_NATTR + k]) continue; /* no change requested */
                cnt[k]++;
                hit[k] += (logit[b * ZOO_NATTR + k] > 0) == (want > 0.5f);
            }
        }
    }
    double mean = 0;
    fprintf(stderr, "val @%ld%s: reconstruction MAE %.4f; edits the discriminator recognises:", step,
            zoo_has_ema(m) ? " (moving average)" : "", mae / (n * img));
    for (int k = 0; k < ZOO_NATTR; k++) {
        double a = cnt[k] ? hit[k] / cnt[k] : 0;
        mean += a / ZOO_NATTR;
        fprintf(stderr, " %s %.2f", zoo_attr_names[k], a);
    }
    fprintf(stderr, " (mean %.2f)\n", mean);
    return DF_OK;
}

/* The validation check (and the sample grid if dir != NULL) on the averaged generator when there is one. */
static int check_averaged(zoo_model *m, long step, const float *vx, const float *va, int B, float *vy, const char *dir) {
    int ema = zoo_has_ema(m);
    if (ema) zoo_swap_ema(m);
    df_status s = val_report(m, step, vx, va, NVAL, B, vy);
    if (!s && dir) s = write_grid(m, dir, step, vx, va);
    if (ema) zoo_swap_ema(m);
    return s;
}

/* ------------------------------------------------------------------ main loop */
int cmd_zoo_train(int argc, char **argv) {
    opts o;
    int r = parse(argc, argv, &o);
    if (r) return r < 0 ? EXIT_OK : r;
    double t0 = cli_now(), prev_seconds = 0;
    zoo_model *m = NULL;
    if (o.resume) {
        df_status s = load_model(o.resume, 0, &o, &prev_seconds, &m);
        if (s == DF_ERR_ARG) return cli_usage_error(CMD, "%s", df_errmsg());
        if (s) return cli_runtime_error(CMD, o.resume);
        if (o.set_width || o.set_dwidth || o.set_nres || o.set_skip || o.set_lr) {
            zoo_free(m);
            return cli_usage_error(CMD, "--width, --dwidth, --nres, --skip and --lr come from the checkpoint when resuming");
        }
    } else if (o.init) {
        if (o.set_width || o.set_dwidth || o.set_nres)
            return cli_usage_error(CMD, "--width, --dwidth and --nres come from the --init file");
        df_status s = load_model(o.init, 1, &o, &prev_seconds, &m);
        if (s == DF_ERR_ARG) return cli_usage_error(CMD, "%s", df_errmsg());
        if (s) return cli_runtime_error(CMD, o.init);
        if (o.set_skip && o.skip != zoo_get_config(m)->skip) { /* e.g. a plain generator gains attention */
            zoo_model *conv;
            s = zoo_convert(&conv, m, (int)o.skip, 1);
            zoo_free(m);
            if (s) return cli_usage_error(CMD, "%s", df_errmsg());
            m = conv;
        }
    } else {
        zoo_family f;
        zoo_family_parse(o.arch, &f);
        zoo_config c = zoo_default_config(f);
        if (o.set_width) c.width = (int)o.width;
        c.dwidth = (int)o.dwidth;
        if (f != ZOO_ATTGAN) c.nres = (int)o.nres;
        if (o.set_skip) c.skip = (int)o.skip;
        if (zoo_create(&m, &c, (uint64_t)o.seed, 1)) return cli_runtime_error(CMD, "cannot create the model");
    }
    if (o.set_cls_pool && zoo_set_cls_pool(m, (int)o.cls_pool)) { /* new run, --init or --resume alike */
        zoo_free(m);
        return cli_usage_error(CMD, "%s", df_errmsg());
    }
    const zoo_config *c = zoo_get_config(m);
    celeba_set train = {0}, val = {0};
    if (celeba_open(&train, o.data, 0)) {
        zoo_free(m);
        return cli_runtime_error(CMD, "cannot read the training data (see --data)");
    }
    int B = (int)o.batch, S = c->size;
    size_t img = (size_t)3 * S * S;
    float *x = malloc(B * img * sizeof(float)), *attr = malloc((size_t)B * ZOO_NATTR * sizeof(float));
    float *vx = malloc(NVAL * img * sizeof(float)), vattr[NVAL * ZOO_NATTR], *vy = malloc(B * img * sizeof(float));
    int *idx = malloc(B * sizeof(int)), *flips = malloc(B * sizeof(int)), rc = EXIT_OK;
    char ckpt[4096];
    snprintf(ckpt, sizeof ckpt, "%s.ckpt", o.out);
    if (!x || !attr || !vx || !vy || !idx || !flips) {
        df_fail(DF_ERR_NOMEM, "out of memory");
        rc = cli_runtime_error(CMD, "allocation");
        goto done;
    }
    /* validation faces, different people: the progress check and the sample grids (the first NSAMPLES) */
    int vidx[NVAL];
    if (celeba_open(&val, o.data, 1) || val.n < NVAL) {
        rc = cli_runtime_error(CMD, "cannot read the validation split (partition 1)");
        goto done;
    }
    for (int i = 0; i < NVAL; i++) vidx[i] = (int)((long)i * val.n / NVAL);
    if (celeba_load_batch(&val, vidx, NVAL, vx, vattr, S, NULL)) {
        rc = cli_runtime_error(CMD, "cannot load the validation faces");
        goto done;
    }
    if (o.samples) mkdir(o.samples, 0777);
    struct sigaction sa;
    memset(&sa, 0, sizeof sa);
    sa.sa_handler = on_signal;
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);

    zoo_train_opts to = zoo_default_train_opts();
    to.lr = (float)o.lr, to.lambda_rec = (float)o.lambda_rec, to.lambda_cls = (float)o.lambda_cls, to.lambda_id = (float)o.lambda_id, to.ema = (float)o.ema;
    long start = zoo_get_step(m), step = start;
    fprintf(stderr, "dadfi zoo-train: %s width %d nres %d dwidth %d skip %d cls_pool %d, %.2f GFLOP/image (G forward), %d train faces, "
            "batch %d, steps %ld -> %ld, %d threads\n", zoo_family_arch(c->family), c->width, c->nres, c->dwidth,
            c->skip, c->cls_pool > 1 ? c->cls_pool : 1, zoo_gen_flops(c) * 1e-9, train.n, B, start, o.steps, df_get_threads());
    double last_print = cli_now(), last_ckpt = last_print, acc[6] = {0};
    long acc_n = 0, print_step = step;
    const char *why = "done";
    while (step < o.steps) {
        celeba_batch_indices(idx, train.n, B, (uint64_t)o.seed, step);
        df_rng fr;
        df_rng_seed(&fr, mix((uint64_t)o.seed, (uint64_t)step * 2 + 1));
        for (int b = 0; b < B; b++) flips[b] = (int)(df_rng_u32(&fr) & 1);
        zoo_losses L;
        if (celeba_load_batch(&train, idx, B, x, attr, S, flips) ||
            zoo_train_step(m, &to, x, attr, B, mix((uint64_t)o.seed, (uint64_t)step * 2), &L)) {
            rc = cli_runtime_error(CMD, "training step");
            goto done;
        }
        step++;
        double v[6] = {L.d_adv, L.d_cls, L.g_adv, L.g_cls, L.g_rec, L.g_id};
        for (int k = 0; k < 6; k++) acc[k] += v[k];
        acc_n++;
        if (!(isfinite(L.d_adv) && isfinite(L.g_adv) && isfinite(L.g_rec))) {
            df_fail(DF_ERR_ARG, "a loss is not finite at step %ld (try a lower --lr)", step);
            rc = cli_runtime_error(CMD, "training diverged");
            goto done;
        }
        double now = cli_now();
        if (now - last_print >= 5 || step == o.steps) {
            double sps = (step - print_step) / (now - last_print), eta = (o.steps - step) / (sps > 0 ? sps : 1e-9);
            cli_progress("step %ld/%ld  %.3f steps/s  ETA %.0fm%02.0fs  D adv %.3f cls %.3f | G adv %.3f cls %.3f rec %.4f id %.4f",
                         step, o.steps, sps, floor(eta / 60), fmod(eta, 60), acc[0] / acc_n, acc[1] / acc_n,
                         acc[2] / acc_n, acc[3] / acc_n, acc[4] / acc_n, acc[5] / acc_n);
            memset(acc, 0, sizeof acc), acc_n = 0, last_print = now, print_step = step;
        }
        if (step % o.sample_every == 0) {
            cli_progress_done();
            if (check_averaged(m, step, vx, vattr, B, vy, o.samples)) {
                rc = cli_runtime_error(CMD, "validation / sample grid");
                goto done;
            }
            last_print += cli_now() - now; /* keep the check out of the steps/s */
        }
        int timeout = o.time_limit > 0 && now - t0 >= o.time_limit * 60;
        if (stop_requested || timeout || now - last_ckpt >= o.ckpt_min * 60) {
            if (save_model(m, ckpt, 1, &o, prev_seconds + now - t0)) {
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
    if (step % o.sample_every && check_averaged(m, step, vx, vattr, B, vy, NULL)) {
        rc = cli_runtime_error(CMD, "validation");
        goto done;
    }
    double secs = prev_seconds + cli_now() - t0;
    if (save_model(m, ckpt, 1, &o, secs) || save_model(m, o.out, 0, &o, secs)) {
        rc = cli_runtime_error(CMD, "cannot write the weights");
        goto done;
    }
    fprintf(stderr, "dadfi zoo-train: %s at step %ld (%.1f min); weights %s, checkpoint %s%s%s\n", why, step,
            (cli_now() - t0) / 60, o.out, ckpt, step < o.steps ? "; continue with --resume " : "",
            step < o.steps ? ckpt : "");
done:
    free(x), free(attr), free(vx), free(vy), free(idx), free(flips);
    celeba_free(&train);
    celeba_free(&val);
    zoo_free(m);
    return rc;
}
