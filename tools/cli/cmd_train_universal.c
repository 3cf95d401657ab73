/* dadfi train-universal: one perturbation for every face (CMUA-Watermark style) against zoo models. */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "celeba.h"
#include "cli.h"
#include "image.h"
#include "metrics.h"
#include "protector.h"
#include "zoo_list.h"

#define CMD "train-universal"
#define DEFAULT_DATA "../shared/data/celeba_subset"

static void help(void) {
    printf(
        "usage: dadfi train-universal --models F1,F2,... --out F.dfw [options]\n\n"
        "Compute a universal perturbation (CMUA-Watermark style): one delta [3,S,S], |delta| <= eps, that disrupts\n"
        "the given zoo models on every face.  Batches of training faces (CelebA partition 0), each with a random\n"
        "single-attribute edit per model, take --iters sign steps of --step each on the shared delta (gradient\n"
        "summed over the batch's images and the models), starting uniformly in the eps ball.  One model gives\n"
        "that model's perturbation (the paper's adv_i); several give one for the ensemble.  At the end the\n"
        "success rate (L2_mask > 0.05) on --val validation faces is printed per model.\n"
        "Writes a .dfw with tensor \"delta\" [3,S,S] and meta arch \"universal-perturbation\", eps, size (what\n"
        "`dadfi eval --protector universal:F` reads).\n\n"
        "options:\n"
        "  --models LIST   comma-separated zoo weight files\n"
        "  --out F         output file\n"
        "  --data DIR      CelebA subset (default " DEFAULT_DATA ")\n"
        "  --eps E         L-inf budget on the [-1, 1] scale (default 0.05)\n"
        "  --batches N     batches (default 200)\n"
        "  --batch B       faces per batch (default 8)\n"
        "  --iters K       sign steps per batch (default 5)\n"
        "  --step X        step size (default 0.002)\n"
        "  --momentum M    momentum across batches (default 0.9; 0: plain sign steps)\n"
        "  --masked        weight the squared error by the region each edit changes (CMUA mask) + 0.1\n"
        "  --blackbox      NES gradient estimates (queries only): --nes-samples N (20), --nes-down D (4)\n"
        "  --val N         validation faces for the final success rates (default 64; 0: skip)\n"
        "  --seed S        data order, edits, start (default 1)\n"
        "  -q, --quiet     no progress\n\n"
        "example:\n"
        "  dadfi train-universal --models weights/zoo/stargan.dfw --out adv_stargan.dfw --batches 100\n");
}

typedef struct {
    const char *models, *out, *data;
    long batches, batch, iters, val, seed, nes_samples, nes_down;
    double eps, step, momentum;
    int masked, blackbox, quiet;
} args;

static int parse(int argc, char **argv, args *a) {
    memset(a, 0, sizeof *a);
    a->data = DEFAULT_DATA;
    a->batches = 200, a->batch = 8, a->iters = 5, a->val = 64, a->seed = 1, a->nes_samples = 20, a->nes_down = 4;
    a->eps = 0.05, a->step = 0.002, a->momentum = 0.9;
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i];
        if (cli_is_help(o)) {
            help();
            return -1;
        }
        if (!strcmp(o, "--masked")) a->masked = 1;
        else if (!strcmp(o, "--blackbox")) a->blackbox = 1;
        else if (!strcmp(o, "-q") || !strcmp(o, "--quiet")) a->quiet = 1;
        else if (o[0] != '-') return cli_usage_error(CMD, "unexpected argument '%s'", o);
        else if (i + 1 >= argc) return cli_usage_error(CMD, "%s needs a value", o);
        else {
            const char *v = argv[++i];
            int bad = 0;
            if (!strcmp(o, "--models")) a->models = v;
            else if (!strcmp(o, "--out")) a->out = v;
            else if (!strcmp(o, "--data")) a->data = v;
            else if (!strcmp(o, "--batches")) bad = cli_parse_long(v, 1, 100000000, &a->batches);
            else if (!strcmp(o, "--batch")) bad = cli_parse_long(v, 1, 256, &a->batch);
            else if (!strcmp(o, "--iters")) bad = cli_parse_long(v, 1, 10000, &a->iters);
            else if (!strcmp(o, "--val")) bad = cli_parse_long(v, 0, 100000, &a->val);
            else if (!strcmp(o, "--seed")) bad = cli_parse_long(v, 0, 0x7fffffffL, &a->seed);
            else if (!strcmp(o, "--nes-samples")) bad = cli_parse_long(v, 1, 100000, &a->nes_samples);
            else if (!strcmp(o, "--nes-down")) bad = cli_parse_long(v, 1, 64, &a->nes_down);
            else if (!strcmp(o, "--eps")) bad = cli_parse_float(v, 1e-6, 2, &a->eps);
            else if (!strcmp(o, "--step")) bad = cli_parse_float(v, 0, 2, &a->step);
            else if (!strcmp(o, "--momentum")) bad = cli_parse_float(v, 0, 1, &a->momentum);
            else return cli_usage_error(CMD, "unknown option '%s'", o);
            if (bad) return cli_usage_error(CMD, "bad value for %s: '%s'", o, v);
        }
    }
    if (!a->models || !a->out) return cli_usage_error(CMD, "--models and --out are required");
    return 0;
}

/* Success rate and mean L2_mask of x + delta per model on faces x [n,3,S,S]; targets drawn from seed. */
static df_status measure(const zoo_list *zl, const float *delta, const float *x, const float *src, int n, int S,
                         uint64_t seed, double *succ, double *l2) {
    size_t per = (size_t)3 * S * S;
    float *xa = malloc(per * 4), *yc = malloc(per * 4), *ya = malloc(per * 4), trg[ZOO_NATTR];
    df_status s = (xa && yc && ya) ? DF_OK : df_fail(DF_ERR_NOMEM, "out of memory");
    df_rng r;
    df_rng_seed(&r, seed);
    for (int i = 0; i < zl->n; i++) succ[i] = l2[i] = 0;
    for (int b = 0; b < n && !s; b++) {
        const float *xb = x + b * per;
        for (size_t k = 0; k < per; k++) {
            float v = xb[k] + delta[k];
            xa[k] = v < -1 ? -1 : v > 1 ? 1 : v;
        }
        for (int i = 0; i < zl->n && !s; i++) {
            prot_random_targets(trg, NULL, src + b * ZOO_NATTR, 1, 0, &r);
            s = zoo_edit(zl->m[i], yc, xb, src + b * ZOO_NATTR, trg, 1);
            if (!s) s = zoo_edit(zl->m[i], ya, xa, src + b * ZOO_NATTR, trg, 1);
            if (s) break;
            df_disruption d;
            df_disruption_measure(&d, ya, yc, xb, S, S);
            succ[i] += (double)d.success / n;
            l2[i] += d.l2_mask / n;
        }
    }
    free(xa), free(yc), free(ya);
    return s;
}

int cmd_train_universal(int argc, char **argv) {
    args a;
    int r = parse(argc, argv, &a);
    if (r) return r < 0 ? EXIT_OK : r;
    zoo_list zl;
    int S;
    if (zoo_list_load(&zl, a.models, &S)) return cli_runtime_error(CMD, "cannot load the models");
    if (a.blackbox && S % a.nes_down) {
        zoo_list_free(&zl);
        return cli_usage_error(CMD, "--nes-down must divide the models' input size %d", S);
    }
    int B = (int)a.batch, n = zl.n, rc = EXIT_OK, nv = 0;
    size_t per = (size_t)3 * S * S;
    celeba_set train = {0}, val = {0};
    pgd_ctx *c = NULL;
    float *x = malloc(B * per * 4), *src = malloc((size_t)B * ZOO_NATTR * 4), *delta = calloc(per, 4);
    float *vel = calloc(per, 4), *trg = malloc((size_t)n * B * ZOO_NATTR * 4), *xv = NULL, *sv = NULL;
    int *idx = malloc(B * sizeof(int));
    if (!x || !src || !delta || !vel || !trg || !idx || pgd_ctx_create(&c)) {
        rc = cli_runtime_error(CMD, "allocation");
        goto done;
    }
    if (celeba_open(&train, a.data, 0)) {
        rc = cli_runtime_error(CMD, "cannot read the training data (see --data)");
        goto done;
    }
    if (a.val > 0) {
        if (celeba_open(&val, a.data, 1)) {
            rc = cli_runtime_error(CMD, "cannot read the validation data");
            goto done;
        }
        nv = (int)(a.val < val.n ? a.val : val.n);
        xv = malloc((size_t)nv * per * 4), sv = malloc((size_t)nv * ZOO_NATTR * 4);
        int *vi = malloc((size_t)nv * sizeof(int));
        for (int k = 0; vi && k < nv; k++) vi[k] = (int)((long)k * val.n / nv);
        df_status s = (xv && sv && vi) ? celeba_load_batch(&val, vi, nv, xv, sv, S, NULL)
                                       : df_fail(DF_ERR_NOMEM, "out of memory");
        free(vi);
        if (s) {
            rc = cli_runtime_error(CMD, "loading the validation faces");
            goto done;
        }
    }
    pgd_opts po = pgd_default_opts();
    po.eps = (float)a.eps, po.step = (float)a.step, po.iters = (int)a.iters, po.momentum = (float)a.momentum;
    po.masked = a.masked, po.blackbox = a.blackbox, po.nes_samples = (int)a.nes_samples, po.nes_down = (int)a.nes_down;
    pgd_model pm[ZOO_LIST_MAX];
    for (int i = 0; i < n; i++) pm[i] = (pgd_model){zl.m[i], src, trg + (size_t)i * B * ZOO_NATTR, 1, NULL, 1.0f, NULL};
    df_rng rng;
    df_rng_seed(&rng, (uint64_t)a.seed * 7919 + 17);
    double t0 = cli_now(), last = t0, acc = 0;
    int accn = 0;
    if (!a.quiet)
        fprintf(stderr, "dadfi %s: %d model%s, %d train faces, %ld batches of %d, %ld steps of %.4g each, eps %.4g\n",
                CMD, n, n > 1 ? "s" : "", train.n, a.batches, B, a.iters, a.step, a.eps);
    for (long b = 0; b < a.batches; b++) {
        celeba_batch_indices(idx, train.n, B, (uint64_t)a.seed, b);
        float l = 0;
        if (celeba_load_batch(&train, idx, B, x, src, S, NULL)) {
            rc = cli_runtime_error(CMD, "loading a batch");
            goto done;
        }
        for (int i = 0; i < n; i++) prot_random_targets(trg + (size_t)i * B * ZOO_NATTR, NULL, src, B, 0, &rng);
        if (pgd_set_models(c, pm, n, B) ||
            pgd_universal_step(c, delta, a.momentum > 0 ? vel : NULL, x, &po, b * a.iters, &rng, &l)) {
            rc = cli_runtime_error(CMD, "universal step");
            goto done;
        }
        acc += l, accn++;
        double now = cli_now();
        if (!a.quiet && (now - last >= 5 || b + 1 == a.batches)) {
            double bps = (b + 1) / (now - t0), eta = (a.batches - b - 1) / bps;
            cli_progress("batch %ld/%ld  %.2f batches/s  ETA %.0fm%02.0fs  loss %.5f", b + 1, a.batches, bps,
                         floor(eta / 60), fmod(eta, 60), acc / accn);
            acc = 0, accn = 0, last = now;
        }
    }
    if (!a.quiet) cli_progress_done();
    dfw_writer w;
    dfw_writer_init(&w);
    char names[1024];
    zoo_list_names(&zl, names, sizeof names);
    int dims[3] = {3, S, S};
    uint8_t *buf = NULL;
    size_t len = 0;
    df_status s = dfw_writer_meta(&w, "arch", "universal-perturbation");
    if (!s) s = dfw_writer_meta_float(&w, "eps", a.eps);
    if (!s) s = dfw_writer_meta_int(&w, "size", S);
    if (!s) s = dfw_writer_meta(&w, "models", names);
    if (!s) s = dfw_writer_meta_int(&w, "batches", a.batches);
    if (!s) s = dfw_writer_meta_int(&w, "batch", B);
    if (!s) s = dfw_writer_meta_int(&w, "iters", a.iters);
    if (!s) s = dfw_writer_meta_float(&w, "step", a.step);
    if (!s) s = dfw_writer_meta_float(&w, "momentum", a.momentum);
    if (!s) s = dfw_writer_meta_int(&w, "masked", a.masked);
    if (!s) s = dfw_writer_meta_int(&w, "blackbox", a.blackbox);
    if (!s) s = dfw_writer_meta_int(&w, "seed", a.seed);
    if (!s) s = dfw_writer_tensor(&w, "delta", 3, dims, delta);
    if (!s) s = dfw_writer_finish(&w, &buf, &len);
    dfw_writer_free(&w);
    if (!s) s = df_write_file_atomic(a.out, buf, len);
    free(buf);
    if (s) {
        rc = cli_runtime_error(CMD, a.out);
        goto done;
    }
    if (nv > 0) {
        double succ[ZOO_LIST_MAX], l2[ZOO_LIST_MAX];
        if (measure(&zl, delta, xv, sv, nv, S, 4242, succ, l2)) {
            rc = cli_runtime_error(CMD, "validation");
            goto done;
        }
        printf("validation (%d faces, one random edit each; success = L2_mask > %.2f):\n", nv, DF_SUCCESS_THRESHOLD);
        for (int i = 0; i < n; i++)
            printf("  %-16s success %5.1f%%  mean L2_mask %.4f\n", zl.name[i], 100 * succ[i], l2[i]);
    }
    if (!a.quiet) fprintf(stderr, "dadfi %s: wrote %s (%.1f min)\n", CMD, a.out, (cli_now() - t0) / 60);
done:
    free(x), free(src), free(delta), free(vel), free(trg), free(xv), free(sv), free(idx);
    celeba_free(&train);
    celeba_free(&val);
    pgd_ctx_free(c);
    zoo_list_free(&zl);
    return rc;
}
