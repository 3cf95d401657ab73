/* dadfi protect: run Gen on photos and write protected copies. */
#define _POSIX_C_SOURCE 200809L
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "cli.h"
#include "gen.h"
#include "image.h"

#define DEFAULT_WEIGHTS "weights/gen.dfw"
#define DEFAULT_WORK_SIDE 1024

static void help(void) {
    printf(
        "usage: dadfi protect [OPTIONS] IN OUT\n"
        "       dadfi protect [OPTIONS] --out-dir DIR IN...\n\n"
        "Adds a perturbation that people do not see but that makes deepfake face-editing models produce broken\n"
        "output. Every output pixel stays within eps of the input (plus 8-bit rounding).\n\n"
        "options:\n"
        "  --weights F     Gen weight file (default %s)\n"
        "  --eps E         L-infinity budget on the [-1, 1] pixel scale (default 0.05 = 6.4/255; range 0..0.5)\n"
        "  --format F      png (default, lossless) or jpg; with --out-dir the output is IN's name + -protected.F;\n"
        "                  with OUT, the format follows OUT's extension unless --format is given\n"
        "  --quality Q     JPEG quality 1..100 (default 95); recompression weakens the protection\n"
        "  --work-side S   photos larger than S pixels on their longest side are processed at that working\n"
        "                  resolution and the perturbation is upsampled (default %d; 0 = always full resolution)\n"
        "  --out-dir DIR   batch mode: protect every IN into DIR (created if missing)\n"
        "  --force         overwrite existing outputs (default: refuse)\n"
        "  -q, --quiet     no progress output\n\n"
        "examples:\n"
        "  dadfi protect selfie.jpg selfie-protected.png\n"
        "  dadfi protect --eps 0.03 --out-dir protected/ photos/*.jpg\n",
        DEFAULT_WEIGHTS, DEFAULT_WORK_SIDE);
}

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

/* out_dir/<basename without extension>-protected.<ext> */
static char *batch_name(const char *dir, const char *in, df_image_format fmt) {
    const char *base = strrchr(in, '/');
    base = base ? base + 1 : in;
    const char *dot = strrchr(base, '.');
    size_t stem = dot && dot != base ? (size_t)(dot - base) : strlen(base);
    size_t n = strlen(dir) + stem + 32;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s/%.*s-protected.%s", dir, (int)stem, base, fmt == DF_FMT_PNG ? "png" : "jpg");
    return s;
}

static int protect_one(gen_model *g, const char *in, const char *out, df_image_format fmt, int quality, float eps,
                       int work_side, int quiet) {
    df_image img;
    if (df_image_load(&img, in) != DF_OK) {
        fprintf(stderr, "dadfi protect: %s: %s\n", in, df_errmsg());
        return EXIT_RUNTIME;
    }
    if (!quiet && (img.notes & DF_IMG_NOTE_ALPHA_DROPPED))
        fprintf(stderr, "dadfi protect: note: %s has an alpha channel; it is dropped in the output\n", in);
    uint8_t *res = malloc((size_t)img.w * img.h * 3);
    if (!res) {
        fprintf(stderr, "dadfi protect: %s: out of memory\n", in);
        df_image_free(&img);
        return EXIT_RUNTIME;
    }
    int rc = EXIT_OK;
    if (gen_protect_rgb8(g, res, img.rgb, img.w, img.h, 3, eps, work_side, NULL, NULL) != DF_OK ||
        df_image_save(out, res, img.w, img.h, fmt, quality) != DF_OK) {
        fprintf(stderr, "dadfi protect: %s: %s\n", in, df_errmsg());
        rc = EXIT_RUNTIME;
    }
    free(res);
    df_image_free(&img);
    return rc;
}

int cmd_protect(int argc, char **argv) {
    const char *weights = DEFAULT_WEIGHTS, *out_dir = NULL, *format = NULL;
    double eps = 0.05;
    long quality = 95, work_side = DEFAULT_WORK_SIDE;
    int force = 0, quiet = 0, npos = 0;
    char **pos = calloc((size_t)argc, sizeof *pos);
    if (!pos) return EXIT_RUNTIME;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_val = i + 1 < argc;
        if (cli_is_help(a)) {
            help();
            free(pos);
            return EXIT_OK;
        } else if (!strcmp(a, "--weights") && has_val) {
            weights = argv[++i];
        } else if (!strcmp(a, "--eps") && has_val) {
            if (cli_parse_float(argv[++i], 0.0, 0.5, &eps)) {
                free(pos);
                return cli_usage_error("protect", "--eps must be a number in [0, 0.5], got '%s'", argv[i]);
            }
        } else if (!strcmp(a, "--format") && has_val) {
            format = argv[++i];
            if (strcmp(format, "png") && strcmp(format, "jpg") && strcmp(format, "jpeg")) {
                free(pos);
                return cli_usage_error("protect", "--format must be png or jpg, got '%s'", format);
            }
        } else if (!strcmp(a, "--quality") && has_val) {
            if (cli_parse_long(argv[++i], 1, 100, &quality)) {
                free(pos);
                return cli_usage_error("protect", "--quality must be an integer in 1..100, got '%s'", argv[i]);
            }
        } else if (!strcmp(a, "--work-side") && has_val) {
            if (cli_parse_long(argv[++i], 0, 65536, &work_side) || (work_side > 0 && work_side < 64)) {
                free(pos);
                return cli_usage_error("protect", "--work-side must be 0 or an integer in 64..65536, got '%s'",
                                       argv[i]);
            }
        } else if (!strcmp(a, "--out-dir") && has_val) {
            out_dir = argv[++i];
        } else if (!strcmp(a, "--force")) {
            force = 1;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            quiet = 1;
        } else if (a[0] == '-' && a[1]) {
            free(pos);
            return cli_usage_error("protect", "unknown option or missing value: '%s'", a);
        } else {
            pos[npos++] = argv[i];
        }
    }
    if (out_dir ? npos < 1 : npos != 2) {
        free(pos);
        return cli_usage_error("protect", out_dir ? "give at least one input file" : "give exactly IN and OUT");
    }
    df_image_format fmt = DF_FMT_PNG;
    if (format) {
        fmt = strcmp(format, "png") ? DF_FMT_JPEG : DF_FMT_PNG;
    } else if (!out_dir && df_image_format_from_path(pos[1], &fmt) != DF_OK) {
        const char *o = pos[1];
        free(pos);
        return cli_usage_error("protect", "cannot tell the output format from '%s': use .png or .jpg, or --format", o);
    }
    if (!out_dir && !force && exists(pos[1])) {
        const char *o = pos[1];
        free(pos);
        return cli_usage_error("protect", "'%s' exists; use --force to overwrite", o);
    }

    uint8_t *wbuf = NULL;
    size_t wlen = 0;
    gen_model *g = NULL;
    if (df_read_file(weights, 64u << 20, &wbuf, &wlen) != DF_OK || gen_load(&g, wbuf, wlen, 0) != DF_OK) {
        free(wbuf);
        free(pos);
        return cli_runtime_error("protect", weights);
    }
    free(wbuf);

    int rc = EXIT_OK, failed = 0;
    if (!out_dir) {
        rc = protect_one(g, pos[0], pos[1], fmt, (int)quality, (float)eps, (int)work_side, quiet);
    } else {
        if (!exists(out_dir) && mkdir(out_dir, 0777) != 0) {
            fprintf(stderr, "dadfi protect: cannot create directory '%s'\n", out_dir);
            rc = EXIT_RUNTIME;
            npos = 0;
        }
        double t0 = cli_now();
        for (int i = 0; i < npos; i++) {
            char *out = batch_name(out_dir, pos[i], fmt);
            if (!out) {
                rc = EXIT_RUNTIME;
                break;
            }
            if (!force && exists(out)) {
                fprintf(stderr, "dadfi protect: %s: '%s' exists; skipped (use --force to overwrite)\n", pos[i], out);
                failed++;
            } else if (protect_one(g, pos[i], out, fmt, (int)quality, (float)eps, (int)work_side, quiet) != EXIT_OK) {
                failed++;
            }
            if (!quiet) {
                double el = cli_now() - t0, eta = el / (i + 1) * (npos - i - 1);
                cli_progress("protect: %d/%d  %.2f s/image  ETA %.0f s  (%d failed)", i + 1, npos, el / (i + 1), eta,
                             failed);
            }
            free(out);
        }
        if (!quiet) cli_progress_done();
        if (failed) {
            fprintf(stderr, "dadfi protect: %d of %d inputs failed\n", failed, npos);
            rc = EXIT_RUNTIME;
        }
    }
    gen_free(g);
    free(pos);
    return rc;
}
