/* dadfi deepfake: run a zoo model on a photo (edit hair colour, gender, age). */
#include <math.h>
#include <stdlib.h>
#include <string.h>

#include "celeba.h"
#include "cli.h"
#include "deepfake_graph.h"
#include "graph.h"
#include "image.h"
#include "zoo.h"

#define CMD "deepfake"
#define MAX_ATTR_ARGS 16

static void help(void) {
    printf(
        "usage: dadfi deepfake --model F [--attr NAME=0|1 ...] [options] IN OUT\n"
        "       dadfi deepfake --model IMPORTED.dfw [--size N] [--no-crop] IN OUT\n\n"
        "Edit the face in IN with a zoo model (a .dfw written by `dadfi zoo-train`) and write the 128x128 result\n"
        "to OUT (.png or .jpg).  Like StarGAN's CelebA setting, the photo's centred square is cropped (a 178x218\n"
        "aligned CelebA face gives its 178x178 centre) and resized to 128x128; --no-crop resizes the whole picture\n"
        "(for faces that are already cropped square).\n\n"
        "The face's own attributes are estimated by the model's discriminator (printed); --attr sets targets.\n"
        "Setting one hair colour to 1 clears the other two unless they are given too.  Without --attr the hair\n"
        "colour is flipped: to Blond_Hair, or to Black_Hair if the face already looks blond.\n\n"
        "options:\n"
        "  --model F          zoo weight file (zoo-stargan, zoo-attgan or zoo-style)\n"
        "  --attr NAME=0|1    target attribute; NAME is Black_Hair, Blond_Hair, Brown_Hair, Male or Young\n"
        "                     (repeatable)\n"
        "  --src NAME=0|1     override the estimated source attribute (repeatable; matters for zoo-attgan,\n"
        "                     which edits by the difference target - source)\n"
        "  --grid             write input | edit of each attribute side by side instead of one edit\n"
        "  --no-crop          resize the whole picture instead of cropping its centred square\n"
        "  --seed S           style noise for zoo-style (default: none, the mean style)\n"
        "  --quality Q        JPEG quality for .jpg output (default 95)\n"
        "  --size N           imported models (tools/convert_tfjs_graph.mjs): the side the photo is resized to\n"
        "                     (default: the model's own, e.g. 256; a multiple of the model's size multiple)\n\n"
        "examples:\n"
        "  dadfi deepfake --model weights/zoo/stargan.dfw face.jpg blond.png\n"
        "  dadfi deepfake --model weights/zoo/attgan.dfw --attr Male=1 --attr Young=0 face.jpg older_man.png\n"
        "  dadfi deepfake --model weights/zoo/style.dfw --grid --no-crop crop.png grid.png\n");
}

/* "NAME=0|1" -> index and value; returns 0 on success. */
static int parse_attr(const char *s, int *k, float *v) {
    const char *eq = strchr(s, '=');
    if (!eq || (strcmp(eq + 1, "0") && strcmp(eq + 1, "1"))) return -1;
    char name[32];
    size_t n = (size_t)(eq - s);
    if (n == 0 || n >= sizeof name) return -1;
    memcpy(name, s, n);
    name[n] = 0;
    if ((*k = zoo_attr_index(name)) < 0) return -1;
    *v = eq[1] == '1' ? 1.0f : 0.0f;
    return 0;
}

int cmd_deepfake(int argc, char **argv) {
    const char *model = NULL, *in = NULL, *out = NULL;
    int ntrg = 0, nsrc = 0, tk[MAX_ATTR_ARGS], sk[MAX_ATTR_ARGS], crop = 1, grid = 0, have_seed = 0;
    float tv[MAX_ATTR_ARGS], sv[MAX_ATTR_ARGS];
    long seed = 0, quality = 95, size = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (cli_is_help(a)) {
            help();
            return EXIT_OK;
        }
        if (!strcmp(a, "--no-crop")) {
            crop = 0;
            continue;
        }
        if (!strcmp(a, "--grid")) {
            grid = 1;
            continue;
        }
        if (a[0] == '-' && a[1]) {
            if (i + 1 >= argc) return cli_usage_error(CMD, "%s needs a value", a);
            const char *v = argv[++i];
            if (!strcmp(a, "--model")) {
                model = v;
            } else if (!strcmp(a, "--attr") || !strcmp(a, "--src")) {
                int is_src = a[2] == 's', *n = is_src ? &nsrc : &ntrg;
                if (*n >= MAX_ATTR_ARGS) return cli_usage_error(CMD, "too many %s options", a);
                if (parse_attr(v, is_src ? &sk[*n] : &tk[*n], is_src ? &sv[*n] : &tv[*n]))
                    return cli_usage_error(CMD,
                                           "%s '%s': expected NAME=0 or NAME=1 with NAME one of Black_Hair, "
                                           "Blond_Hair, Brown_Hair, Male, Young",
                                           a, v);
                (*n)++;
            } else if (!strcmp(a, "--seed")) {
                if (cli_parse_long(v, 0, 2147483647L, &seed)) return cli_usage_error(CMD, "--seed must be an integer >= 0");
                have_seed = 1;
            } else if (!strcmp(a, "--size")) {
                if (cli_parse_long(v, 1, 4096, &size)) return cli_usage_error(CMD, "--size must be in 1..4096");
            } else if (!strcmp(a, "--quality")) {
                if (cli_parse_long(v, 1, 100, &quality)) return cli_usage_error(CMD, "--quality must be in 1..100");
            } else {
                return cli_usage_error(CMD, "unknown option '%s'", a);
            }
            continue;
        }
        if (!in) in = a;
        else if (!out) out = a;
        else return cli_usage_error(CMD, "unexpected argument '%s'", a);
    }
    if (!model) return cli_usage_error(CMD, "--model is required");
    if (!in || !out) return cli_usage_error(CMD, "expected an input and an output image");
    df_image_format fmt;
    if (df_image_format_from_path(out, &fmt)) return cli_usage_error(CMD, "output '%s' must end in .png, .jpg or .jpeg", out);
    if (grid && ntrg) return cli_usage_error(CMD, "--grid shows every attribute: it takes no --attr");

    uint8_t *buf = NULL;
    size_t len;
    zoo_model *m = NULL;
    df_image img = {0};
    float *x = NULL, *y = NULL;
    uint8_t *rgb = NULL;
    int rc = EXIT_OK;
    if (df_read_file(model, (size_t)1 << 30, &buf, &len)) return cli_runtime_error(CMD, NULL); /* names it */
    if (graph_is_graph_file(buf, len)) { /* an imported model: no attributes */
        if (ntrg || nsrc || grid || have_seed) {
            free(buf);
            return cli_usage_error(CMD, "%s is an imported model: --attr, --src, --grid and --seed do not apply", model);
        }
        rc = deepfake_graph(CMD, model, buf, len, in, out, crop, size, (int)quality);
        free(buf);
        return rc;
    }
    if (size) {
        free(buf);
        return cli_usage_error(CMD, "--size applies to imported models only (zoo models run at their own size)");
    }
    df_status st = zoo_load(&m, buf, len, 0);
    free(buf);
    if (st) return cli_runtime_error(CMD, model);
    const zoo_config *c = zoo_get_config(m);
    int S = c->size;
    if (df_image_load(&img, in)) { /* the message names the file */
        rc = cli_runtime_error(CMD, NULL);
        goto done;
    }
    x = malloc((size_t)3 * S * S * sizeof(float));
    y = malloc((size_t)3 * S * S * sizeof(float));
    if (!x || !y || celeba_prepare(x, S, img.rgb, img.w, img.h, crop, 0)) {
        rc = cli_runtime_error(CMD, "preparing the face");
        goto done;
    }
    if (!crop && img.w != img.h)
        fprintf(stderr, "dadfi %s: note: %dx%d picture stretched to %dx%d (--no-crop)\n", CMD, img.w, img.h, S, S);
    float logit[ZOO_NATTR], src[ZOO_NATTR], trg[ZOO_NATTR];
    if (zoo_classify(m, logit, x, 1)) {
        rc = cli_runtime_error(CMD, "estimating the attributes");
        goto done;
    }
    for (int k = 0; k < ZOO_NATTR; k++) src[k] = logit[k] > 0 ? 1.0f : 0.0f;
    for (int i = 0; i < nsrc; i++) src[sk[i]] = sv[i];
    fprintf(stderr, "source attributes (P estimated by the model):");
    for (int k = 0; k < ZOO_NATTR; k++) fprintf(stderr, " %s=%.0f (%.2f)", zoo_attr_names[k], src[k], 1 / (1 + exp(-logit[k])));
    fprintf(stderr, "\n");
    if (grid) {
        int W = (1 + ZOO_NATTR) * S;
        rgb = malloc((size_t)W * S * 3);
        if (!rgb || zoo_edit_grid(m, rgb, x, src, 1)) {
            if (!rgb) df_fail(DF_ERR_NOMEM, "out of memory");
            rc = cli_runtime_error(CMD, "editing");
            goto done;
        }
        if (df_image_save(out, rgb, W, S, fmt, (int)quality)) { /* the message names the file */
            rc = cli_runtime_error(CMD, NULL);
            goto done;
        }
        fprintf(stderr, "wrote %s: input, then the edit of each of", out);
        for (int k = 0; k < ZOO_NATTR; k++) fprintf(stderr, " %s", zoo_attr_names[k]);
        fprintf(stderr, "\n");
        goto done;
    }
    memcpy(trg, src, sizeof trg);
    if (ntrg == 0) {
        zoo_edit_attrs(trg, src, src[ZOO_BLOND] > 0.5f ? ZOO_BLACK : ZOO_BLOND);
    } else {
        int set_hair[3] = {0, 0, 0};
        for (int i = 0; i < ntrg; i++)
            if (tk[i] <= ZOO_BROWN) set_hair[tk[i]] = 1;
        for (int i = 0; i < ntrg; i++)
            if (tk[i] <= ZOO_BROWN && tv[i] > 0.5f) /* one hair colour on: the others off unless given */
                for (int h = 0; h <= ZOO_BROWN; h++)
                    if (!set_hair[h]) trg[h] = 0;
        for (int i = 0; i < ntrg; i++) trg[tk[i]] = tv[i];
    }
    fprintf(stderr, "target attributes:");
    for (int k = 0; k < ZOO_NATTR; k++) fprintf(stderr, " %s=%.0f", zoo_attr_names[k], trg[k]);
    fprintf(stderr, "\n");
    float z[64] = {0};
    if (have_seed && c->family == ZOO_STYLE) {
        df_rng r;
        df_rng_seed(&r, (uint64_t)seed);
        for (int k = 0; k < c->zdim && k < 64; k++) z[k] = df_rng_normal(&r);
    }
    rgb = malloc((size_t)S * S * 3);
    if (!rgb || zoo_gen_forward(m, 0, y, x, src, trg, z, 1)) {
        rc = cli_runtime_error(CMD, "running the model");
        goto done;
    }
    df_planar_to_rgb8(rgb, y, S, S, 3);
    if (df_image_save(out, rgb, S, S, fmt, (int)quality)) rc = cli_runtime_error(CMD, NULL);
done:
    free(x), free(y), free(rgb);
    df_image_free(&img);
    zoo_free(m);
    return rc;
}
