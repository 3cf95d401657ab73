/* dadfi pgd: protect one photo by per-image PGD against zoo models (the slow baseline Gen must beat). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "celeba.h"
#include "cli.h"
#include "image.h"
#include "metrics.h"
#include "pgd.h"
#include "zoo_list.h"

#define CMD "pgd"

static void help(void) {
    printf(
        "usage: dadfi pgd --models F1,F2,... [options] IN OUT\n\n"
        "Protect the face in IN by projected gradient ascent on the zoo models' edits (Ruiz et al. 2020): from a\n"
        "random start in the eps ball, --steps sign steps of --step on the squared error between the models'\n"
        "edit of the protected face and of the original, projected back to |delta| <= eps and the pixel range.\n"
        "Iteration k attacks edit k mod (number of --attr) of every model, so one run covers several edits.\n"
        "Like `dadfi deepfake`, the models see the photo's centred square resized to their input size (128);\n"
        "the perturbation is computed there, bilinearly upsampled to the square's full resolution and clipped to\n"
        "eps (pixels outside the square are unchanged).  The face's own attributes are estimated by the first\n"
        "model's classifier.  Prints the time taken and each model's disruption (L2_mask; success > 0.05) on\n"
        "the written 8-bit result.\n\n"
        "options:\n"
        "  --models LIST     comma-separated zoo weight files (white box: gradients by backpropagation)\n"
        "  --eps E           L-inf budget on the [-1, 1] scale (default 0.05 = 6.4/255)\n"
        "  --steps N         iterations (default 10)\n"
        "  --step X          step size (default 0.01)\n"
        "  --attr LIST       target edits, comma-separated among Black_Hair, Blond_Hair, Brown_Hair, Male, Young\n"
        "                    (default: all five)\n"
        "  --momentum M      MI-FGSM momentum (default 0: plain sign steps)\n"
        "  --no-balance      with several models, step along the plain sum of their gradients (default: each\n"
        "                    model's gradient scaled to mean |g| = 1 first, so the least sensitive model is\n"
        "                    attacked too; with a plain sum the most sensitive one decides almost every sign)\n"
        "  --through-jpeg Q  attack through a differentiable JPEG at quality Q (core/layers/augment.h), for a photo a site\n"
        "                    will re-encode: the perturbation is optimised for what survives the codec\n"
        "  --masked          weight the squared error by the region the deepfake edits (CMUA mask) + 0.1\n"
        "  --feat W          add W x the models' bottleneck-feature distance\n"
        "  --blackbox        estimate gradients by queries only (NES, antithetic): --nes-samples N (50),\n"
        "                    --nes-sigma S (0.01), --nes-down D (4: directions drawn at 1/D resolution)\n"
        "  --no-crop         the models see the whole picture resized (for faces already cropped square)\n"
        "  --seed S          random start and NES directions (default 1)\n"
        "  --quality Q       JPEG quality for .jpg output (default 95)\n"
        "  -q, --quiet       print nothing but errors\n\n"
        "example:\n"
        "  dadfi pgd --models weights/zoo/stargan.dfw,weights/zoo/attgan.dfw,weights/zoo/style.dfw face.jpg out.png\n");
}

/* "A,B" -> attribute indices; returns the count (0 on error). */
static int parse_attrs(const char *s, int *k) {
    int n = 0;
    char buf[256];
    if (strlen(s) >= sizeof buf) return 0;
    strcpy(buf, s);
    for (char *p = strtok(buf, ","); p; p = strtok(NULL, ",")) {
        int a = zoo_attr_index(p);
        if (a < 0 || n == ZOO_NATTR) return 0;
        k[n++] = a;
    }
    return n;
}

int cmd_pgd(int argc, char **argv) {
    const char *models = NULL, *in = NULL, *out = NULL;
    int crop = 1, quiet = 0, attrs[ZOO_NATTR] = {0, 1, 2, 3, 4}, nattr = ZOO_NATTR;
    long quality = 95;
    pgd_opts o = pgd_default_opts();
    o.nes_down = 4;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        double d;
        long v;
        if (cli_is_help(a)) {
            help();
            return EXIT_OK;
        } else if (!strcmp(a, "--no-crop")) {
            crop = 0;
        } else if (!strcmp(a, "--masked")) {
            o.masked = 1;
        } else if (!strcmp(a, "--blackbox")) {
            o.blackbox = 1;
        } else if (!strcmp(a, "--no-balance")) {
            o.balance = 0;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            quiet = 1;
        } else if (a[0] == '-' && a[1]) {
            if (i + 1 >= argc) return cli_usage_error(CMD, "%s needs a value", a);
            const char *val = argv[++i];
            if (!strcmp(a, "--models")) models = val;
            else if (!strcmp(a, "--attr")) {
                if (!(nattr = parse_attrs(val, attrs)))
                    return cli_usage_error(CMD, "--attr: comma-separated names among Black_Hair, Blond_Hair, "
                                                "Brown_Hair, Male, Young (got '%s')", val);
            } else if (!strcmp(a, "--eps") && !cli_parse_float(val, 0, 2, &d)) o.eps = (float)d;
            else if (!strcmp(a, "--step") && !cli_parse_float(val, 0, 2, &d)) o.step = (float)d;
            else if (!strcmp(a, "--momentum") && !cli_parse_float(val, 0, 1, &d)) o.momentum = (float)d;
            else if (!strcmp(a, "--feat") && !cli_parse_float(val, 0, 1e6, &d)) o.feat_weight = (float)d;
            else if (!strcmp(a, "--nes-sigma") && !cli_parse_float(val, 1e-6, 1, &d)) o.nes_sigma = (float)d;
            else if (!strcmp(a, "--steps") && !cli_parse_long(val, 0, 100000, &v)) o.iters = (int)v;
            else if (!strcmp(a, "--nes-samples") && !cli_parse_long(val, 1, 100000, &v)) o.nes_samples = (int)v;
            else if (!strcmp(a, "--nes-down") && !cli_parse_long(val, 1, 64, &v)) o.nes_down = (int)v;
            else if (!strcmp(a, "--seed") && !cli_parse_long(val, 0, 0x7fffffffL, &v)) o.seed = (uint64_t)v;
            else if (!strcmp(a, "--quality") && !cli_parse_long(val, 1, 100, &v)) quality = v;
            else if (!strcmp(a, "--through-jpeg") && !cli_parse_long(val, 1, 100, &v)) o.jpeg = (int)v;
            else return cli_usage_error(CMD, "unknown option or bad value: %s %s", a, val);
        } else if (!in) {
            in = a;
        } else if (!out) {
            out = a;
        } else {
            return cli_usage_error(CMD, "give one input and one output file");
        }
    }
    if (!models) return cli_usage_error(CMD, "--models is required");
    if (!in || !out) return cli_usage_error(CMD, "give an input and an output file");
    df_image_format fmt;
    if (df_image_format_from_path(out, &fmt)) return cli_usage_error(CMD, "%s", df_errmsg());

    zoo_list zl;
    int S;
    if (zoo_list_load(&zl, models, &S)) return cli_runtime_error(CMD, "cannot load the models");
    if (o.blackbox && S % o.nes_down) {
        zoo_list_free(&zl);
        return cli_usage_error(CMD, "--nes-down must divide the models' input size %d", S);
    }
    df_image img = {0};
    pgd_ctx *c = NULL;
    size_t per = (size_t)3 * S * S;
    int rc = EXIT_OK, W = 0, H = 0, x0 = 0, y0 = 0, cw = 0, ch = 0;
    float *x = malloc(per * 4), *xa = malloc(per * 4), *xo = malloc(per * 4), *yc = malloc(per * 4);
    float *ya = malloc(per * 4), *full = NULL, *delta = NULL, src[ZOO_NATTR], trg[ZOO_NATTR * ZOO_NATTR], logit[ZOO_NATTR];
    if (!x || !xa || !xo || !yc || !ya) {
        df_fail(DF_ERR_NOMEM, "out of memory");
        rc = cli_runtime_error(CMD, "allocation");
        goto done;
    }
    if (df_image_load(&img, in)) { /* the message names the file */
        rc = cli_runtime_error(CMD, NULL);
        goto done;
    }
    W = img.w, H = img.h, cw = W, ch = H;
    if (crop) {
        int side = W < H ? W : H;
        x0 = (W - side) / 2, y0 = (H - side) / 2, cw = ch = side;
    }
    full = malloc((size_t)3 * W * H * 4);
    delta = malloc((size_t)3 * cw * ch * 4);
    if (!full || !delta) {
        df_fail(DF_ERR_NOMEM, "out of memory for a %d x %d image", W, H);
        rc = cli_runtime_error(CMD, in);
        goto done;
    }
    if (celeba_prepare(x, S, img.rgb, W, H, crop, 0) || zoo_classify(zl.m[0], logit, x, 1) || pgd_ctx_create(&c)) {
        rc = cli_runtime_error(CMD, "preparing the face");
        goto done;
    }
    for (int k = 0; k < ZOO_NATTR; k++) src[k] = logit[k] > 0 ? 1.0f : 0.0f;
    for (int k = 0; k < nattr; k++) zoo_edit_attrs(trg + k * ZOO_NATTR, src, attrs[k]);
    pgd_model pm[ZOO_LIST_MAX];
    for (int i = 0; i < zl.n; i++) pm[i] = (pgd_model){zl.m[i], src, trg, nattr, NULL, 1.0f, NULL};
    double t0 = cli_now();
    float loss = 0;
    if (pgd_set_models(c, pm, zl.n, 1) || pgd_attack(c, xa, x, &o, &loss)) {
        rc = cli_runtime_error(CMD, "PGD");
        goto done;
    }
    double ms = (cli_now() - t0) * 1e3;
    /* delta at S -> the crop's resolution, clipped, added to the photo */
    for (size_t k = 0; k < per; k++) xa[k] -= x[k];
    df_resize_bilinear_forward(delta, xa, 3, S, S, ch, cw);
    df_rgb8_to_planar(full, img.rgb, W, H, 3);
    for (int p = 0; p < 3; p++)
        for (int yy = 0; yy < ch; yy++)
            for (int xx = 0; xx < cw; xx++) {
                float *v = full + ((size_t)p * H + y0 + yy) * W + x0 + xx;
                float d = delta[((size_t)p * ch + yy) * cw + xx];
                d = d < -o.eps ? -o.eps : d > o.eps ? o.eps : d;
                *v += d;
                *v = *v < -1 ? -1 : *v > 1 ? 1 : *v;
            }
    df_planar_to_rgb8(img.rgb, full, W, H, 3);
    if (df_image_save(out, img.rgb, W, H, fmt, (int)quality)) {
        rc = cli_runtime_error(CMD, NULL);
        goto done;
    }
    if (!quiet) {
        printf("pgd: %d iterations x %d model%s in %.0f ms (%s), loss %.4f; source attributes:", o.iters, zl.n,
               zl.n > 1 ? "s" : "", ms, o.blackbox ? "black box" : "white box", loss);
        for (int k = 0; k < ZOO_NATTR; k++) printf(" %s=%d", zoo_attr_names[k], (int)src[k]);
        printf("\ndisruption of the written image (L2_mask, success > %.2f):\n", DF_SUCCESS_THRESHOLD);
        if (celeba_prepare(xo, S, img.rgb, W, H, crop, 0)) {
            rc = cli_runtime_error(CMD, "measuring");
            goto done;
        }
        for (int i = 0; i < zl.n; i++) {
            printf("  %-16s", zl.name[i]);
            for (int k = 0; k < nattr; k++) {
                df_disruption d;
                if (zoo_edit(zl.m[i], yc, x, src, trg + k * ZOO_NATTR, 1) ||
                    zoo_edit(zl.m[i], ya, xo, src, trg + k * ZOO_NATTR, 1)) {
                    rc = cli_runtime_error(CMD, "measuring");
                    goto done;
                }
                df_disruption_measure(&d, ya, yc, x, S, S);
                printf(" %s %.3f%s", zoo_attr_names[attrs[k]], d.l2_mask, d.success ? "*" : "");
            }
            printf("\n");
        }
    }
done:
    free(x), free(xa), free(xo), free(yc), free(ya), free(full), free(delta);
    df_image_free(&img);
    pgd_ctx_free(c);
    zoo_list_free(&zl);
    return rc;
}
