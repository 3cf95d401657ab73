/* dadfi detect: find faces (BlazeFace) in photos and print their boxes, scores and keypoints. */
#define _POSIX_C_SOURCE 200809L
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "blazeface.h"
#include "cli.h"
#include "image.h"

#define MAX_FACES 256

static const char *kp_names[BF_KEYPOINTS] = {"right_eye", "left_eye", "nose", "mouth", "right_ear", "left_ear"};

static void help(void) {
    printf(
        "usage: dadfi detect [OPTIONS] PHOTO...\n\n"
        "Finds the faces in each photo with BlazeFace, MediaPipe's face detector, and prints one line per face:\n"
        "its score (0..1), its box in photo pixels (x, y of the top-left corner, width, height) and six keypoints\n"
        "(the person's right and left eye, nose tip, mouth centre, right and left ear). Photos of any size: the\n"
        "detector looks at the whole photo shrunk to its input size, then, for large photos, at finer scales in\n"
        "tiles, so that faces from about 3 %% of the photo's short side upward are found.\n\n"
        "options:\n"
        "  --weights F     the detector's weights (default blazeface.dfw from $DADFI_HOME, else beside the executable\n"
        "                  in a build tree, the installed share/dadfi/, or ./build/). They are MediaPipe's models\n"
        "                  (Apache-2.0), not part of the project: make them with\n"
        "                    node tools/convert_blazeface.mjs                 # full-range, 256x256 (default)\n"
        "                    node tools/convert_blazeface.mjs ../shared/models/human-models/blazeface-front.json\n"
        "                  (short-range, 128x128: faces filling much of the photo, as in selfies)\n"
        "  --min-score X   report faces scoring at least X, in (0, 1) (default 0.5, MediaPipe's threshold;\n"
        "                  lower finds more faces and more false ones)\n"
        "  --min-face F    the smallest face to look for, as a fraction of the photo's short side, in\n"
        "                  (0, 1] (default 0.03); larger is faster on large photos\n"
        "  --json FILE     write the results as one JSON object to FILE ('-': to stdout, instead of the lines):\n"
        "                  {\"files\": [{\"file\", \"status\" (\"ok\" | \"failed\"), \"error\", \"width\", \"height\",\n"
        "                  \"seconds\", \"faces\": [{\"score\", \"box\": [x, y, w, h], \"keypoints\": {\"right_eye\": [x, y],\n"
        "                  ...}}]}]}\n\n"
        "exit status: 0 when every photo was read (with or without faces), 1 when one failed, 2 for a usage error.\n\n"
        "examples:\n"
        "  node tools/convert_blazeface.mjs && build/dadfi detect group.jpg\n"
        "  build/dadfi detect --json faces.json --min-score 0.7 photos/*.jpg\n");
}

/* A JSON string: quote, backslash and control characters escaped; other bytes as they are. */
static void json_str(FILE *f, const char *s) {
    fputc('"', f);
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if (*p == '"' || *p == '\\')
            fprintf(f, "\\%c", *p);
        else if (*p < 0x20)
            fprintf(f, "\\u%04x", *p);
        else
            fputc(*p, f);
    }
    fputc('"', f);
}

static void json_faces(FILE *f, const bf_face *faces, int n) {
    fprintf(f, "\"faces\": [");
    for (int i = 0; i < n; i++) {
        const bf_face *b = &faces[i];
        fprintf(f, "%s\n      {\"score\": %.4f, \"box\": [%.1f, %.1f, %.1f, %.1f], \"keypoints\": {", i ? "," : "",
                b->score, b->x0, b->y0, b->x1 - b->x0, b->y1 - b->y0);
        for (int k = 0; k < BF_KEYPOINTS; k++)
            fprintf(f, "%s\"%s\": [%.1f, %.1f]", k ? ", " : "", kp_names[k], b->kp[k][0], b->kp[k][1]);
        fprintf(f, "}}");
    }
    fprintf(f, n ? "\n    ]" : "]");
}

static void print_faces(const char *path, int w, int h, double sec, const bf_face *faces, int n) {
    printf("%s: %d face%s (%dx%d, %.2f s)\n", path, n, n == 1 ? "" : "s", w, h, sec);
    for (int i = 0; i < n; i++) {
        const bf_face *b = &faces[i];
        printf("  face %d: score %.3f, box x %.1f y %.1f w %.1f h %.1f,", i + 1, b->score, b->x0, b->y0, b->x1 - b->x0,
               b->y1 - b->y0);
        for (int k = 0; k < BF_KEYPOINTS; k++) printf(" %s (%.1f, %.1f)%s", kp_names[k], b->kp[k][0], b->kp[k][1], k < 5 ? "," : "\n");
    }
}

int cmd_detect(int argc, char **argv) {
    char where[3 * 4200];
    const char *default_weights = cli_default_file(CLI_FILE_DETECTOR, where, sizeof where);
    const char *weights = default_weights, *json = NULL;
    bf_opts o = bf_default_opts();
    const char **photos = calloc((size_t)argc, sizeof *photos);
    int np = 0;
    if (!photos) return cli_runtime_error("detect", "out of memory");
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        int has_val = i + 1 < argc;
        double v;
        if (cli_is_help(a)) {
            help();
            free(photos);
            return EXIT_OK;
        } else if (!strcmp(a, "--weights") && has_val) {
            weights = argv[++i];
        } else if (!strcmp(a, "--json") && has_val) {
            json = argv[++i];
        } else if (!strcmp(a, "--min-score") && has_val) {
            if (cli_parse_float(argv[++i], 1e-6, 1 - 1e-6, &v)) {
                free(photos);
                return cli_usage_error("detect", "--min-score must be a number in (0, 1), not '%s'", argv[i]);
            }
            o.min_score = (float)v;
        } else if (!strcmp(a, "--min-face") && has_val) {
            if (cli_parse_float(argv[++i], 1e-4, 1, &v)) {
                free(photos);
                return cli_usage_error("detect", "--min-face must be a fraction in (0, 1], not '%s'", argv[i]);
            }
            o.min_face = (float)v;
        } else if (a[0] == '-' && a[1]) {
            free(photos);
            return cli_usage_error("detect", "%s '%s'",
                                   has_val || strncmp(a, "--", 2) ? "unknown option" : "missing value for", a);
        } else
            photos[np++] = a;
    }
    if (np == 0) {
        free(photos);
        return cli_usage_error("detect", "give at least one photo");
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    blazeface *m = NULL;
    if (df_read_file(weights, 64u << 20, &buf, &len) != DF_OK || blazeface_load(&m, buf, len) != DF_OK) {
        fprintf(stderr, "dadfi detect: %s: %s\n", weights, df_errmsg());
        if (weights == default_weights)
            fprintf(stderr, "dadfi detect: blazeface.dfw was looked for in %s; make it with `node "
                            "tools/convert_blazeface.mjs` (needs ../shared/models/human-models), or give --weights\n",
                    where);
        free(buf);
        free(photos);
        return EXIT_RUNTIME;
    }
    free(buf);
    int json_stdout = json && !strcmp(json, "-"), failed = 0;
    char *doc = NULL;
    size_t doclen = 0;
    FILE *jf = json ? open_memstream(&doc, &doclen) : NULL;
    bf_face *faces = malloc(MAX_FACES * sizeof *faces);
    if ((json && !jf) || !faces) {
        if (jf) fclose(jf);
        free(doc), free(faces), free(photos);
        blazeface_free(m);
        return cli_runtime_error("detect", "out of memory");
    }
    if (jf) fprintf(jf, "{\"files\": [");
    for (int i = 0; i < np; i++) {
        df_image img = {0};
        int n = 0;
        double t0 = cli_now();
        df_status s = df_image_load(&img, photos[i]);
        if (!s) s = blazeface_detect(m, img.rgb, img.w, img.h, 3, &o, faces, MAX_FACES, &n);
        double sec = cli_now() - t0;
        if (s) {
            failed++;
            fprintf(stderr, "dadfi detect: %s%s%s\n", strstr(df_errmsg(), photos[i]) ? "" : photos[i],
                    strstr(df_errmsg(), photos[i]) ? "" : ": ", df_errmsg());
        } else if (!json_stdout)
            print_faces(photos[i], img.w, img.h, sec, faces, n);
        if (jf) {
            fprintf(jf, "%s\n  {\"file\": ", i ? "," : "");
            json_str(jf, photos[i]);
            if (s) {
                fprintf(jf, ", \"status\": \"failed\", \"error\": ");
                json_str(jf, df_errmsg());
            } else {
                fprintf(jf, ", \"status\": \"ok\", \"width\": %d, \"height\": %d, \"seconds\": %.3f, ", img.w, img.h, sec);
                json_faces(jf, faces, n);
            }
            fprintf(jf, "}");
        }
        df_image_free(&img);
    }
    int rc = failed ? EXIT_RUNTIME : EXIT_OK;
    if (jf) {
        fprintf(jf, "\n]}\n");
        fclose(jf);
        if (json_stdout) {
            fwrite(doc, 1, doclen, stdout);
            fflush(stdout);
        } else if (df_write_file_atomic(json, doc, doclen) != DF_OK) {
            fprintf(stderr, "dadfi detect: %s\n", df_errmsg());
            rc = EXIT_RUNTIME;
        }
    }
    free(doc), free(faces), free(photos);
    blazeface_free(m);
    return rc;
}
