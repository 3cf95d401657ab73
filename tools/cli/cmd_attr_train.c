/* dadfi attr-train: train the attribute classifier (core/networks/attrcls.h) on real CelebA faces; it judges the zoo's
 * edits in `dadfi zoo-quality`. */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "attr_eval.h"
#include "cli.h"
#include "image.h"

#define CMD "attr-train"
#define DEFAULT_DATA "../shared/data/celeba_subset"

static void help(void) {
    printf(
        "usage: dadfi attr-train --out F [options]\n\n"
        "Train the attribute classifier (core/networks/attrcls.h: a PatchGAN trunk with 5 outputs per patch, averaged over\n"
        "the patches) that recognises Black_Hair, Blond_Hair, Brown_Hair, Male and Young in a 128x128 face.  It is\n"
        "trained on real faces only, on the train split (partition 0) of the CelebA subset, with random horizontal\n"
        "flips; loss: binary cross-entropy per attribute; Adam (betas 0.9 / 0.999).  The learning rate is constant\n"
        "for the first half of --steps and then falls linearly to a tenth of it.  `dadfi zoo-quality` uses the\n"
        "classifier to check that the zoo's edits show the requested attribute.\n\n"
        "F (weights) is written atomically at the end, on --time-limit and on Ctrl-C / SIGTERM.  After training,\n"
        "the accuracy per attribute on the test split (partition 2) is printed and stored in F's metadata\n"
        "(test.acc.<attribute>, test.acc.mean, test.n) with the run's settings (train.*).  The same seed gives\n"
        "the same run.\n\n"
        "options:\n"
        "  --out F           output weight file (.dfw)\n"
        "  --data DIR        CelebA subset with labels.csv and images/ (default " DEFAULT_DATA ")\n"
        "  --steps N         training steps (default 3000)\n"
        "  --batch B         faces per step (default 32)\n"
        "  --width W         channels of the first layer (default 16; doubling per layer up to 8W)\n"
        "  --lr L            Adam learning rate (default 5e-4)\n"
        "  --seed S          initialisation, data order and flips (default 1)\n"
        "  --time-limit MIN  stop training after MIN minutes (the test evaluation comes on top)\n"
        "  --val N           test on the first N faces of partition 2 (default: all; 0 skips the test)\n\n"
        "Speed: the forward pass is 0.065 GFLOP per face at width 16 (x4 at width 32), a training step about three\n"
        "times that per face plus decoding the JPEGs: ~5 steps/s at batch 32 and width 16 (~2 at width 32) on one\n"
        "core shared with other jobs.  Every run prints its steps/s and ETA.  DF_THREADS=N sets the number of\n"
        "threads (default: all cores).\n\n"
        "example:\n"
        "  dadfi attr-train --data ../shared/data/celeba_subset --out attrcls.dfw --time-limit 20\n");
}

typedef struct {
    const char *out, *data;
    long steps, batch, width, seed, val;
    double lr, time_limit;
} opts;

static int parse(int argc, char **argv, opts *o) {
    memset(o, 0, sizeof *o);
    o->data = DEFAULT_DATA;
    o->steps = 3000, o->batch = 32, o->width = 16, o->seed = 1, o->val = -1, o->lr = 5e-4;
    for (int i = 1; i < argc; i++) {
        const char *a, *v;
        int r = cli_next_option(CMD, argc, argv, &i, help, &a, &v);
        if (r) return r;
        if (!strcmp(a, "--out")) o->out = v;
        else if (!strcmp(a, "--data")) o->data = v;
        else if (!strcmp(a, "--steps")) r = cli_option_long(CMD, a, v, 1, 100000000, &o->steps);
        else if (!strcmp(a, "--batch")) r = cli_option_long(CMD, a, v, 1, 1024, &o->batch);
        else if (!strcmp(a, "--width")) r = cli_option_long(CMD, a, v, 1, 256, &o->width);
        else if (!strcmp(a, "--seed")) r = cli_option_long(CMD, a, v, 0, 2147483647, &o->seed);
        else if (!strcmp(a, "--val")) r = cli_option_long(CMD, a, v, 0, 100000000, &o->val);
        else if (!strcmp(a, "--lr")) r = cli_option_float(CMD, a, v, 1e-7, 1, &o->lr);
        else if (!strcmp(a, "--time-limit")) r = cli_option_float(CMD, a, v, 0.01, 1e6, &o->time_limit);
        else return cli_usage_error(CMD, "unknown option '%s'", a);
        if (r) return r;
    }
    if (!o->out) return cli_usage_error(CMD, "--out is required");
    return 0;
}

/* Weights + provenance; test accuracies when acc != NULL. */
static df_status save(const attrcls *c, const opts *o, double seconds, const double *acc, int ntest) {
    dfw_writer *w = malloc(sizeof *w);
    if (!w) return df_fail(DF_ERR_NOMEM, "out of memory");
    dfw_writer_init(w);
    const char *base = strrchr(o->data, '/');
    base = base && base[1] ? base + 1 : o->data; /* no machine paths in weight files */
    df_status s = attrcls_write(c, w, 0);
    if (!s) s = dfw_writer_meta_int(w, "train.steps", attrcls_get_step(c));
    if (!s) s = dfw_writer_meta_int(w, "train.batch", o->batch);
    if (!s) s = dfw_writer_meta_int(w, "train.seed", o->seed);
    if (!s) s = dfw_writer_meta_float(w, "train.lr", o->lr);
    if (!s) s = dfw_writer_meta(w, "train.data", base);
    if (!s) s = dfw_writer_meta(w, "train.partition", "0");
    if (!s) s = dfw_writer_meta(w, "train.augment", "hflip");
    if (!s) s = dfw_writer_meta_float(w, "train.seconds", seconds);
    if (acc) {
        char key[64];
        if (!s) s = dfw_writer_meta_int(w, "test.n", ntest);
        if (!s) s = dfw_writer_meta(w, "test.partition", "2");
        for (int k = 0; !s && k <= ZOO_NATTR; k++) {
            snprintf(key, sizeof key, "test.acc.%s", k < ZOO_NATTR ? zoo_attr_names[k] : "mean");
            s = dfw_writer_meta_float(w, key, acc[k]);
        }
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    if (!s) s = dfw_writer_finish(w, &buf, &len);
    dfw_writer_free(w);
    free(w);
    if (!s) s = df_write_file_atomic(o->out, buf, len);
    free(buf);
    return s;
}

int cmd_attr_train(int argc, char **argv) {
    opts o;
    int r = parse(argc, argv, &o);
    if (r) return r < 0 ? EXIT_OK : r;
    double t0 = cli_now();
    attrcls_config cfg = attrcls_default_config();
    cfg.width = (int)o.width;
    attrcls *c = NULL;
    if (attrcls_create(&c, &cfg, (uint64_t)o.seed, 1)) return cli_runtime_error(CMD, "cannot create the classifier");
    celeba_set train = {0}, test = {0};
    int B = (int)o.batch, S = cfg.size, rc = EXIT_OK;
    size_t img = (size_t)3 * S * S;
    float *x = malloc(B * img * sizeof(float)), *attr = malloc((size_t)B * ZOO_NATTR * sizeof(float));
    float *logits = malloc((size_t)B * ZOO_NATTR * sizeof(float));
    int *idx = malloc(B * sizeof(int)), *flips = malloc(B * sizeof(int));
    if (!x || !attr || !logits || !idx || !flips) {
        df_fail(DF_ERR_NOMEM, "out of memory");
        rc = cli_runtime_error(CMD, "allocation");
        goto done;
    }
    if (celeba_open(&train, o.data, 0) || train.n < 1) {
        rc = cli_runtime_error(CMD, "cannot read the training split (partition 0; see --data)");
        goto done;
    }
    if (o.val != 0 && (celeba_open(&test, o.data, 2) || test.n < 1)) {
        rc = cli_runtime_error(CMD, "cannot read the test split (partition 2)");
        goto done;
    }
    cli_catch_stop();

    fprintf(stderr, "dadfi %s: width %d, %zu parameters, %d train faces, batch %d, %ld steps, lr %g, %d threads\n",
            CMD, cfg.width, attrcls_params(c)->total, train.n, B, o.steps, o.lr, df_get_threads());
    double last_print = cli_now(), bce = 0, hits = 0;
    long step = 0, print_step = 0, nb = 0;
    const char *why = "done";
    while (step < o.steps) {
        celeba_batch_indices(idx, train.n, B, (uint64_t)o.seed, step);
        df_rng fr;
        df_rng_seed(&fr, (uint64_t)o.seed ^ ((uint64_t)(step + 1) * 0xD1B54A32D192ED03ull));
        for (int b = 0; b < B; b++) flips[b] = (int)(df_rng_u32(&fr) & 1);
        double half = 0.5 * o.steps, f = step < half ? 1.0 : 1.0 - 0.9 * (step - half) / half;
        float loss;
        if (celeba_load_batch(&train, idx, B, x, attr, S, flips) ||
            attrcls_train_step(c, x, attr, B, (float)(o.lr * f), &loss, logits)) {
            rc = cli_runtime_error(CMD, "training step");
            goto done;
        }
        if (!isfinite(loss)) {
            df_fail(DF_ERR_ARG, "the loss is not finite at step %ld (try a lower --lr)", step);
            rc = cli_runtime_error(CMD, "training diverged");
            goto done;
        }
        step++;
        double h[ZOO_NATTR] = {0};
        attr_count_hits(h, logits, attr, B);
        for (int k = 0; k < ZOO_NATTR; k++) hits += h[k];
        bce += loss, nb++;
        double now = cli_now();
        if (now - last_print >= 5 || step == o.steps) {
            double sps = (step - print_step) / (now - last_print), eta = (o.steps - step) / (sps > 0 ? sps : 1e-9);
            cli_progress("step %ld/%ld  %.2f steps/s  ETA %.0fm%02.0fs  BCE %.4f  train acc %.3f", step, o.steps, sps,
                         floor(eta / 60), fmod(eta, 60), bce / nb, hits / ((double)nb * B * ZOO_NATTR));
            bce = hits = 0, nb = 0, last_print = now, print_step = step;
        }
        int timeout = o.time_limit > 0 && now - t0 >= o.time_limit * 60;
        if (cli_stop_requested() || timeout) {
            why = timeout ? "time limit reached" : "interrupted";
            break;
        }
    }
    cli_progress_done();
    double secs = cli_now() - t0;
    if (save(c, &o, secs, NULL, 0)) {
        rc = cli_runtime_error(CMD, o.out);
        goto done;
    }
    fprintf(stderr, "dadfi %s: %s at step %ld (%.1f min); weights %s\n", CMD, why, step, secs / 60, o.out);
    if (cli_stop_requested() || o.val == 0) goto done;
    int n = o.val < 0 || o.val > test.n ? test.n : (int)o.val;
    double acc[ZOO_NATTR + 1];
    if (attr_eval_real(c, &test, n, B, acc, "test")) {
        rc = cli_runtime_error(CMD, "test evaluation");
        goto done;
    }
    printf("test accuracy on %d faces of partition 2: ", n);
    attr_print_acc(stdout, acc);
    printf("\n");
    if (save(c, &o, secs, acc, n)) rc = cli_runtime_error(CMD, o.out);
done:
    free(x), free(attr), free(logits), free(idx), free(flips);
    celeba_free(&train);
    celeba_free(&test);
    attrcls_free(c);
    return rc;
}
