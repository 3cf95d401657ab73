/* dadfi protect: run Gen on photos and write protected copies; report what was written and how much it
 * changed (a line per file, or JSON for scripts).  Faces are found by BlazeFace and each is protected in its
 * CelebA-convention square at the models' scale (gen_faces.h); without faces, the whole photo (gen.h). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "blazeface.h"
#include "cli.h"
#include "gen.h"
#include "gen_faces.h"
#include "image.h"
#include "resample.h"

#define DEFAULT_WORK_SIDE GF_WORK_FACE
#define DEFAULT_FACE_SIZE 128

static void help(void) {
    printf(
        "usage: dadfi protect [OPTIONS] IN OUT\n"
        "       dadfi protect [OPTIONS] --out-dir DIR IN...\n\n"
        "Adds a small perturbation that makes deepfake face-editing models produce broken output. It is hard to\n"
        "see at normal viewing size; at 1:1 on smooth skin a faint texture can show. Every output pixel stays\n"
        "within eps of the input (plus 8-bit rounding).\n\n"
        "Faces: a face detector (BlazeFace) finds every face, and each is protected in the square a deepfake\n"
        "pipeline crops around it (CelebA's convention: about 1.8 times the face box, centred just above the\n"
        "eyes' midpoint), at the size the models see it (--face-size); pixels outside every face square are not\n"
        "changed. One face that fills the photo (its square over 1.1 times the short side: an aligned face chip,\n"
        "a close-up) is protected with the whole photo as its crop, as a deepfake pipeline would feed it. When no\n"
        "face is found, the photo is protected whole as if it were one face crop (its short side\n"
        "at the face size, the scale a model sees a close-up at), and the output line and a note say so: a face\n"
        "the detector missed that is smaller in the frame gets little of that protection. --require-face makes such\n"
        "a photo fail instead; --face places squares by hand. Without the detector's weights (the default file\n"
        "missing) photos are protected whole, with a note.\n\n"
        "IN   JPEG, PNG or BMP (EXIF orientation applied). WebP, GIF, HEIC and TIFF are not read here: convert\n"
        "     them first (e.g. `dwebp photo.webp -o photo.png`, Debian package webp); the web page reads WebP.\n"
        "OUT  a .png (lossless) or .jpg file; for a directory use --out-dir.\n\n"
        "options:\n"
        "  --weights F     Gen weight file (default: gen.dfw from $DADFI_HOME, else the build tree's weights/, the\n"
        "                  installed share/dadfi/, or ./weights/; see \"files\" below)\n"
        "  --eps E         L-infinity budget on the [-1, 1] pixel scale (default 0.05 = 6.4/255; range 0..0.5)\n"
        "  --format F      png (default, lossless) or jpg; with --out-dir the output is IN's name + -protected.F;\n"
        "                  with OUT, the format follows OUT's extension unless --format is given\n"
        "  --quality Q     JPEG quality 1..100 (default 95); recompression weakens the protection\n"
        "  --detector F    the face detector's weights (default: blazeface.dfw, looked for like gen.dfw: beside the\n"
        "                  executable in a build tree, share/dadfi/, ./build/); MediaPipe's BlazeFace models, not part\n"
        "                  of the project: make them with\n"
        "                    node tools/convert_blazeface.mjs   (needs ../shared/models/human-models)\n"
        "  --face-size N   each face square is shrunk to N x N pixels for Gen, the size deepfake models take faces\n"
        "                  at (default %d; a multiple of 8 in 32..1024)\n"
        "  --face CX,CY,SIDE  protect this square (centre x, y and side in photo pixels) instead of detecting faces;\n"
        "                  repeatable (up to %d squares, the same for every IN)\n"
        "  --require-face  a photo in which no face is found fails (exit 1, nothing written) instead of being\n"
        "                  protected whole\n"
        "  --no-detect     no detection: protect the whole photo as one face crop, for photos that already are\n"
        "                  one (the output line then names no faces)\n"
        "  --work-side S   the whole-photo path's working resolution, the perturbation upsampled back: by default\n"
        "                  the short side at --face-size (the long side at most %d), as a deepfake model sees a\n"
        "                  face crop; S: the longest side at most S pixels (0: full resolution). Measured on 60\n"
        "                  CelebA photos through an attacker's jittered crop: 37 / 3 / 45 %% of the zoo's edits\n"
        "                  broken by default, 0 / 0 / 2 %% at S = 1024 or 0\n"
        "  --out-dir DIR   batch mode: protect every IN into DIR (created if missing); an output that already\n"
        "                  exists is skipped, which is not a failure\n"
        "  --force         overwrite existing outputs (default: refuse OUT, skip in --out-dir)\n"
        "  --json FILE     write the results as one JSON object to FILE ('-': to stdout, instead of the lines):\n"
        "                    {\"written\": N, \"skipped\": N, \"failed\": N, \"seconds\": S, \"files\": [{\"input\",\n"
        "                     \"output\", \"status\": \"written\" | \"skipped\" | \"failed\", \"width\", \"height\",\n"
        "                     \"format\": \"png\" | \"jpeg\", \"quality\" (null for png), \"eps\", \"psnr_db\" (null\n"
        "                     when no pixel changed), \"max_change\" (8-bit levels), \"bytes\", \"seconds\";\n"
        "                     \"scope\": \"faces\" | \"whole_photo\", \"faces\" (faces protected: 0 for a whole\n"
        "                     photo with none, 1 with scope whole_photo when one face fills the photo),\n"
        "                     \"squares\": [[cx, cy, side], ...], \"detection\": \"detected\" | \"given\" |\n"
        "                     \"no_face\" | \"no_detector\" | \"off\" (--no-detect);\n"
        "                     \"reason\" when skipped, \"error\" when failed}]}\n"
        "                  (more fields may be added later)\n"
        "  -q, --quiet     print nothing unless something fails (errors always go to stderr)\n\n"
        "output: one line per written file on stdout, e.g.\n"
        "  protected selfie.jpg -> selfie.png (1200x1600 PNG): 1 face, PSNR 47.5 dB, largest change 6 of 255 levels,"
        " 0.31 s\n"
        "  protected hills.jpg -> hills.png (1600x1200 PNG): no face found, whole photo, PSNR 41.0 dB, ...\n"
        "PSNR (0..255 scale) and the largest change compare the file as written (for JPEG: decoded again, so they\n"
        "include the recompression) with IN. --out-dir also prints the skipped outputs and a summary line\n"
        "(\"protect: 2 written, 1 skipped, 0 failed in 1.9 s\").\n"
        "exit status: 0 when every input was written or skipped, 1 when one failed, 2 for a usage error.\n\n"
        "files: the default weights are found without the checkout as the current directory: with DADFI_HOME set,\n"
        "only there ($DADFI_HOME/gen.dfw, blazeface.dfw); else beside the executable as a build tree has them\n"
        "(build/dadfi: ../weights/gen.dfw, build/blazeface.dfw), as `cmake --install` puts them (PREFIX/bin/dadfi:\n"
        "PREFIX/share/dadfi/), and last ./weights/gen.dfw and ./build/blazeface.dfw.\n\n"
        "examples:\n"
        "  dadfi protect selfie.jpg selfie-protected.png\n"
        "  dadfi protect --eps 0.03 --out-dir protected/ photos/*.jpg\n"
        "  dadfi protect --json - -q selfie.jpg selfie-protected.png   # JSON on stdout\n"
        "  dadfi protect --face 620,540,700 group.jpg group-protected.png   # one square, placed by hand\n"
        "  dadfi protect --no-detect face-crop.png face-crop-protected.png   # already a face crop\n",
        DEFAULT_FACE_SIZE, GF_MAX_FACES, GF_WORK_FACE_MAX);
}

static int exists(const char *path) {
    struct stat st;
    return stat(path, &st) == 0;
}

static int is_dir(const char *path) {
    struct stat st;
    return stat(path, &st) == 0 && S_ISDIR(st.st_mode);
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

/* ------------------------------------------------------------------ a growing text buffer for the JSON */
typedef struct {
    char *p;
    size_t n, cap;
    int failed; /* out of memory: the JSON is not written */
} sbuf;

static void sb_put(sbuf *b, const char *s, size_t len) {
    if (b->failed) return;
    if (len + 1 > b->cap - b->n) {
        size_t cap = b->cap ? b->cap : 4096;
        while (len + 1 > cap - b->n) cap *= 2;
        char *p = realloc(b->p, cap);
        if (!p) {
            b->failed = 1;
            return;
        }
        b->p = p;
        b->cap = cap;
    }
    memcpy(b->p + b->n, s, len);
    b->n += len;
    b->p[b->n] = 0;
}

static void sb_str(sbuf *b, const char *s) { sb_put(b, s, strlen(s)); }

static void sb_printf(sbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static void sb_printf(sbuf *b, const char *fmt, ...) {
    char tmp[256];
    va_list ap;
    va_start(ap, fmt);
    int k = vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    if (k > 0) sb_put(b, tmp, (size_t)k < sizeof tmp ? (size_t)k : sizeof tmp - 1);
}

/* Length of the valid UTF-8 sequence at s (0 if invalid). */
static int utf8_len(const unsigned char *s) {
    int n = s[0] < 0x80 ? 1 : (s[0] & 0xE0) == 0xC0 ? 2 : (s[0] & 0xF0) == 0xE0 ? 3 : (s[0] & 0xF8) == 0xF0 ? 4 : 0;
    if (n == 0 || (n == 2 && s[0] < 0xC2) || (n == 4 && s[0] > 0xF4)) return 0;
    for (int i = 1; i < n; i++)
        if ((s[i] & 0xC0) != 0x80) return 0;
    if (n == 3 && ((s[0] == 0xE0 && s[1] < 0xA0) || (s[0] == 0xED && s[1] >= 0xA0))) return 0; /* overlong, surrogate */
    if (n == 4 && ((s[0] == 0xF0 && s[1] < 0x90) || (s[0] == 0xF4 && s[1] >= 0x90))) return 0;
    return n;
}

/* A JSON string; bytes that are not UTF-8 (file names can hold any byte) become U+FFFD. */
static void sb_json_str(sbuf *b, const char *s) {
    sb_str(b, "\"");
    for (const unsigned char *p = (const unsigned char *)s; *p;) {
        int n = utf8_len(p);
        if (n == 0) {
            sb_str(b, "\\ufffd");
            p++;
        } else if (*p == '"' || *p == '\\') {
            sb_str(b, "\\");
            sb_put(b, (const char *)p++, 1);
        } else if (*p < 0x20) {
            sb_printf(b, "\\u%04x", *p++);
        } else {
            sb_put(b, (const char *)p, (size_t)n);
            p += n;
        }
    }
    sb_str(b, "\"");
}

/* ------------------------------------------------------------------ one photo */
typedef struct {
    df_image_format fmt;
    int quality, require_face;
    gf_photo_opts po;       /* eps, face size, working side, --no-detect, --face squares */
    blazeface *det;         /* NULL: no detector (the default weights are missing) */
} prot_opts;

typedef struct {
    int w, h, max_change;
    double psnr, seconds; /* psnr: INFINITY when no value changed */
    size_t bytes;
    gf_photo_result pr;   /* detection, squares */
    char err[600];
} result;

static int fail_file(result *r, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
static int fail_file(result *r, const char *fmt, ...) {
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(r->err, sizeof r->err, fmt, ap);
    va_end(ap);
    fprintf(stderr, "dadfi protect: %s\n", r->err);
    return EXIT_RUNTIME;
}

/* PSNR (0..255 scale) and the largest change in levels between two 8-bit buffers. */
static void compare8(const uint8_t *a, const uint8_t *b, size_t n, double *psnr, int *maxd) {
    double se = 0;
    int m = 0;
    for (size_t i = 0; i < n; i++) {
        int d = (int)a[i] - (int)b[i];
        se += (double)d * d;
        if (abs(d) > m) m = abs(d);
    }
    *maxd = m;
    *psnr = se > 0 ? 10 * log10(255.0 * 255.0 * (double)n / se) : INFINITY;
}

/* Error messages name each file once: df_image_load's and df_write_file_atomic's messages already name their
 * path, the others get it here. */
static int protect_one(gen_model *g, const char *in, const char *out, const prot_opts *o, int quiet, result *r) {
    double t0 = cli_now();
    memset(r, 0, sizeof *r);
    df_image img;
    if (df_image_load(&img, in) != DF_OK) return fail_file(r, "%s", df_errmsg());
    if (!quiet && (img.notes & DF_IMG_NOTE_ALPHA_DROPPED))
        fprintf(stderr, "dadfi protect: note: %s has an alpha channel; it is dropped in the output\n", in);
    size_t n = (size_t)img.w * img.h * 3;
    uint8_t *res = malloc(n), *enc = NULL;
    size_t enclen = 0;
    df_image back = {0};
    int rc = EXIT_OK;
    int given_inside = 0;
    for (int i = 0; i < o->po.ngiven; i++) given_inside += gf_square_in_photo(&o->po.given[i], img.w, img.h);
    gf_photo_opts po = o->po;
    po.whole_if_no_face = !o->require_face;
    df_status s = DF_OK;
    if (!res) {
        rc = fail_file(r, "%s: out of memory (%dx%d pixels)", in, img.w, img.h);
    } else if (!po.no_detect && po.ngiven > 0 && !given_inside) {
        rc = fail_file(r, "%s: no --face square lies inside the %dx%d photo", in, img.w, img.h);
    } else if ((s = gf_protect_photo(g, o->det, res, img.rgb, img.w, img.h, 3, &po, &r->pr, NULL, NULL)) != DF_OK) {
        rc = fail_file(r, "%s: %s", in, df_errmsg());
    } else if (r->pr.det == GF_DET_NO_FACE && o->require_face) {
        rc = fail_file(r, "%s: no face found (--require-face); --face CX,CY,SIDE places one by hand", in);
    } else if (df_image_encode(res, img.w, img.h, o->fmt, o->quality, &enc, &enclen) != DF_OK) {
        rc = fail_file(r, "%s: %s", out, df_errmsg());
    } else if (o->fmt == DF_FMT_JPEG && df_image_decode(&back, enc, enclen) != DF_OK) { /* what the file holds */
        rc = fail_file(r, "%s: cannot decode the JPEG just encoded: %s", out, df_errmsg());
    } else if (df_write_file_atomic(out, enc, enclen) != DF_OK) {
        rc = fail_file(r, "%s", df_errmsg());
    } else {
        compare8(back.rgb ? back.rgb : res, img.rgb, n, &r->psnr, &r->max_change);
        r->w = img.w;
        r->h = img.h;
        r->bytes = enclen;
    }
    if (rc == EXIT_OK && r->pr.det == GF_DET_NO_FACE && !quiet)
        fprintf(stderr, "dadfi protect: note: no face found in %s: the whole photo is protected as one face crop, "
                        "which protects a face that fills the photo, little one smaller in it (--face CX,CY,SIDE "
                        "places a square by hand)\n", in);
    r->seconds = cli_now() - t0;
    df_image_free(&back);
    free(enc);
    free(res);
    df_image_free(&img);
    return rc;
}

static void print_written(const char *in, const char *out, const prot_opts *o, const result *r) {
    char q[16] = "";
    if (o->fmt == DF_FMT_JPEG) snprintf(q, sizeof q, " q%d", o->quality);
    printf("protected %s -> %s (%dx%d %s%s): ", in, out, r->w, r->h, o->fmt == DF_FMT_PNG ? "PNG" : "JPEG", q);
    if (r->pr.fills) printf("1 face filling the photo, whole photo as its crop, ");
    else if (r->pr.nsq > 0) printf("%d face%s, ", r->pr.nsq, r->pr.nsq == 1 ? "" : "s");
    else if (r->pr.det == GF_DET_NO_FACE) printf("no face found, whole photo, ");
    else if (r->pr.det == GF_DET_NO_DETECTOR) printf("whole photo (no face detector), ");
    if (isinf(r->psnr)) printf("no pixel changed");
    else printf("PSNR %.1f dB, largest change %d of 255 levels", r->psnr, r->max_change);
    printf(", %.2f s\n", r->seconds);
    fflush(stdout);
}

static void json_file(sbuf *b, int first, const char *in, const char *out, const char *status, const prot_opts *o,
                      const result *r) {
    sb_str(b, first ? "\n    {\"input\": " : ",\n    {\"input\": ");
    sb_json_str(b, in);
    sb_str(b, ", \"output\": ");
    if (out) sb_json_str(b, out);
    else sb_str(b, "null");
    sb_printf(b, ", \"status\": \"%s\"", status);
    if (!strcmp(status, "written")) {
        sb_printf(b, ", \"width\": %d, \"height\": %d, \"format\": \"%s\", \"quality\": ", r->w, r->h,
                  o->fmt == DF_FMT_PNG ? "png" : "jpeg");
        if (o->fmt == DF_FMT_JPEG) sb_printf(b, "%d", o->quality);
        else sb_str(b, "null");
        sb_printf(b, ", \"eps\": %g, \"psnr_db\": ", o->po.eps);
        if (isinf(r->psnr)) sb_str(b, "null");
        else sb_printf(b, "%.3f", r->psnr);
        sb_printf(b, ", \"max_change\": %d, \"bytes\": %zu, \"seconds\": %.3f", r->max_change, r->bytes, r->seconds);
        const gf_photo_result *p = &r->pr;
        sb_printf(b, ", \"scope\": \"%s\", \"faces\": %d, \"squares\": [", p->protected_whole ? "whole_photo" : "faces",
                  p->nsq);
        for (int i = 0; i < p->nsq; i++)
            sb_printf(b, "%s[%.1f, %.1f, %.1f]", i ? ", " : "", p->sq[i].cx, p->sq[i].cy, p->sq[i].side);
        sb_printf(b, "], \"detection\": \"%s\"", gf_detection_name(p->det));
    } else {
        sb_str(b, !strcmp(status, "skipped") ? ", \"reason\": " : ", \"error\": ");
        sb_json_str(b, r->err);
    }
    sb_str(b, "}");
}

/* "CX,CY,SIDE": three finite numbers, SIDE >= 4.  Returns 0 on success. */
static int parse_square(const char *s, gf_square *q) {
    double v[3];
    char *end;
    for (int k = 0; k < 3; k++) {
        v[k] = strtod(s, &end);
        if (end == s || !isfinite(v[k]) || *end != (k < 2 ? ',' : '\0')) return -1;
        s = end + 1;
    }
    if (fabs(v[0]) > 1e6 || fabs(v[1]) > 1e6 || v[2] < 4 || v[2] > 1e5) return -1;
    q->cx = v[0], q->cy = v[1], q->side = v[2];
    return 0;
}

/* The detector: *m = NULL when the default weights are missing (photos are then protected whole, with a note);
 * an error for a named file that cannot be read, or a file that is not a detector. */
static int load_detector(const char *path, int named, int require_face, int quiet, const char *where,
                         blazeface **m) {
    *m = NULL;
    if (!named && !exists(path) && !require_face) {
        if (!quiet)
            fprintf(stderr, "dadfi protect: note: no face detector (blazeface.dfw not found in %s): whole photos are "
                            "protected; make it with `node tools/convert_blazeface.mjs` (needs "
                            "../shared/models/human-models), or give --detector F, or --no-detect for face crops\n",
                    where);
        return EXIT_OK;
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    if (df_read_file(path, 64u << 20, &buf, &len) != DF_OK || blazeface_load(m, buf, len) != DF_OK) {
        fprintf(stderr, "dadfi protect: %s%s%s\n", strstr(df_errmsg(), path) ? "" : path,
                strstr(df_errmsg(), path) ? "" : ": ", df_errmsg());
        if (!exists(path))
            fprintf(stderr, "dadfi protect: %smake the detector's weights with `node tools/convert_blazeface.mjs` "
                            "(needs ../shared/models/human-models)\n", require_face && !named ? "--require-face needs "
                            "the face detector: " : "");
        free(buf);
        *m = NULL;
        return EXIT_RUNTIME;
    }
    free(buf);
    return EXIT_OK;
}

/* ------------------------------------------------------------------ the command */
int cmd_protect(int argc, char **argv) {
    char gen_where[3 * 4200], det_where[3 * 4200];
    const char *default_weights = cli_default_file(CLI_FILE_GEN, gen_where, sizeof gen_where);
    const char *default_detector = cli_default_file(CLI_FILE_DETECTOR, det_where, sizeof det_where);
    const char *weights = default_weights, *out_dir = NULL, *format = NULL, *json = NULL;
    const char *detector = default_detector;
    double eps = 0.05;
    long quality = 95, work_side = DEFAULT_WORK_SIDE, face_size = DEFAULT_FACE_SIZE;
    int force = 0, quiet = 0, npos = 0, detector_named = 0, no_detect = 0, require_face = 0;
    int ngiven = 0;
    gf_square given[GF_MAX_FACES];
    char **pos = calloc((size_t)argc, sizeof *pos);
    if (!pos) return EXIT_RUNTIME;
#define USAGE(...) /* the message may name an argument in pos: print, then free */ \
    do {                                                                           \
        int urc_ = cli_usage_error("protect", __VA_ARGS__);                        \
        free(pos);                                                                 \
        return urc_;                                                               \
    } while (0)
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
            if (cli_parse_float(argv[++i], 0.0, 0.5, &eps)) USAGE("--eps must be a number in [0, 0.5], got '%s'", argv[i]);
        } else if (!strcmp(a, "--format") && has_val) {
            format = argv[++i];
            if (strcmp(format, "png") && strcmp(format, "jpg") && strcmp(format, "jpeg"))
                USAGE("--format must be png or jpg, got '%s'", format);
        } else if (!strcmp(a, "--quality") && has_val) {
            if (cli_parse_long(argv[++i], 1, 100, &quality))
                USAGE("--quality must be an integer in 1..100, got '%s'", argv[i]);
        } else if (!strcmp(a, "--work-side") && has_val) {
            if (cli_parse_long(argv[++i], 0, 65536, &work_side) || (work_side > 0 && work_side < 64))
                USAGE("--work-side must be 0 or an integer in 64..65536, got '%s'", argv[i]);
        } else if (!strcmp(a, "--detector") && has_val) {
            detector = argv[++i];
            detector_named = 1;
        } else if (!strcmp(a, "--face-size") && has_val) {
            if (cli_parse_long(argv[++i], 32, 1024, &face_size) || face_size % 8)
                USAGE("--face-size must be a multiple of 8 in 32..1024, got '%s'", argv[i]);
        } else if (!strcmp(a, "--face") && has_val) {
            if (ngiven == GF_MAX_FACES) USAGE("at most %d --face squares", GF_MAX_FACES);
            if (parse_square(argv[++i], &given[ngiven]))
                USAGE("--face takes CX,CY,SIDE in photo pixels (SIDE at least 4), got '%s'", argv[i]);
            ngiven++;
        } else if (!strcmp(a, "--no-detect")) {
            no_detect = 1;
        } else if (!strcmp(a, "--require-face")) {
            require_face = 1;
        } else if (!strcmp(a, "--out-dir") && has_val) {
            out_dir = argv[++i];
        } else if (!strcmp(a, "--json") && has_val) {
            json = argv[++i];
        } else if (!strcmp(a, "--force")) {
            force = 1;
        } else if (!strcmp(a, "-q") || !strcmp(a, "--quiet")) {
            quiet = 1;
        } else if (a[0] == '-' && a[1]) {
            USAGE("unknown option or missing value: '%s'", a);
        } else {
            pos[npos++] = argv[i];
        }
    }
    if (!out_dir && npos >= 2) { /* OUT is a directory: say so before anything else */
        const char *o = pos[npos - 1];
        size_t ol = strlen(o);
        if (is_dir(o) || (ol && o[ol - 1] == '/'))
            USAGE("'%s' is a directory; to write protected copies into it use --out-dir:\n"
                  "  dadfi protect --out-dir %s IN...",
                  o, o);
    }
    if (out_dir ? npos < 1 : npos != 2) USAGE(out_dir ? "give at least one input file" : "give exactly IN and OUT (for several inputs: --out-dir DIR IN...)");
    if (out_dir && exists(out_dir) && !is_dir(out_dir)) USAGE("--out-dir '%s' exists and is not a directory", out_dir);
    df_image_format fmt = DF_FMT_PNG;
    if (format) {
        fmt = strcmp(format, "png") ? DF_FMT_JPEG : DF_FMT_PNG;
    } else if (!out_dir && df_image_format_from_path(pos[1], &fmt) != DF_OK) {
        USAGE("cannot tell the output format from '%s': use .png or .jpg, or --format", pos[1]);
    }
    if (!out_dir && !force && exists(pos[1])) USAGE("'%s' exists; use --force to overwrite", pos[1]);
    if (no_detect && (ngiven || require_face || detector_named))
        USAGE("--no-detect protects the whole photo: it excludes --face, --require-face and --detector");
    for (int k = 0; k < ngiven; k++)
        if (given[k].side > face_size * RS_MAX_SHRINK || given[k].side * RS_MAX_SHRINK < face_size)
            USAGE("--face %g,%g,%g: the side must be within %gx the face size %ld either way", given[k].cx,
                  given[k].cy, given[k].side, RS_MAX_SHRINK, face_size);
#undef USAGE
    int json_stdout = json && !strcmp(json, "-"), lines = !quiet && !json_stdout;
    blazeface *det = NULL;
    if (!no_detect && !ngiven && load_detector(detector, detector_named, require_face, quiet, det_where, &det) != EXIT_OK) {
        free(pos);
        return EXIT_RUNTIME;
    }

    uint8_t *wbuf = NULL;
    size_t wlen = 0;
    gen_model *g = NULL;
    if (df_read_file(weights, 64u << 20, &wbuf, &wlen) != DF_OK) { /* the message names the file */
        fprintf(stderr, "dadfi protect: %s\n", df_errmsg());
        if (!exists(weights) && weights == default_weights)
            fprintf(stderr, "dadfi protect: the default Gen weights were looked for in %s: set DADFI_HOME to the "
                            "folder that holds gen.dfw, install dadfi (cmake --install), or pass --weights FILE\n",
                    gen_where);
        blazeface_free(det);
        free(pos);
        return EXIT_RUNTIME;
    }
    if (gen_load(&g, wbuf, wlen, 0) != DF_OK) {
        free(wbuf);
        blazeface_free(det);
        free(pos);
        return cli_runtime_error("protect", weights);
    }
    free(wbuf);

    prot_opts po = {fmt, (int)quality, require_face, gf_photo_default_opts(), det};
    po.po.eps = (float)eps;
    po.po.face_size = (int)face_size;
    po.po.work_side = (int)work_side;
    po.po.no_detect = no_detect;
    po.po.given = given;
    po.po.ngiven = ngiven;
    sbuf jb = {0};
    int rc = EXIT_OK, written = 0, skipped = 0, failed = 0;
    double t0 = cli_now();
    result r;
    if (!out_dir) {
        rc = protect_one(g, pos[0], pos[1], &po, quiet, &r);
        if (rc != EXIT_OK) {
            failed++;
        } else {
            written++;
            if (lines) print_written(pos[0], pos[1], &po, &r);
        }
        json_file(&jb, 1, pos[0], pos[1], rc == EXIT_OK ? "written" : "failed", &po, &r);
    } else {
        /* outputs written by this run, to catch two inputs with the same name (a/x.jpg b/x.png -> x-protected) */
        char **done = calloc((size_t)npos, sizeof *done);
        if (!exists(out_dir) && mkdir(out_dir, 0777) != 0) {
            fprintf(stderr, "dadfi protect: cannot create directory '%s'\n", out_dir);
            rc = EXIT_RUNTIME;
            npos = 0;
        }
        int progress = !quiet && isatty(2); /* the per-file lines are the progress elsewhere */
        for (int i = 0; i < npos && done; i++) {
            char *out = batch_name(out_dir, pos[i], fmt);
            const char *status = "written";
            memset(&r, 0, sizeof r);
            int dup = -1;
            for (int k = 0; out && k < i && dup < 0; k++)
                if (done[k] && !strcmp(done[k], out)) dup = k;
            if (progress) cli_progress_clear();
            if (!out) {
                status = "failed";
                fail_file(&r, "%s: out of memory", pos[i]);
            } else if (dup >= 0 && !strcmp(pos[dup], pos[i])) {
                status = "skipped";
                snprintf(r.err, sizeof r.err, "listed twice");
                if (lines) printf("skipped %s: %s\n", pos[i], r.err);
            } else if (dup >= 0) {
                status = "failed";
                fail_file(&r, "%s: its output '%s' was already written from '%s' in this run (rename one of them)",
                          pos[i], out, pos[dup]);
            } else if (!force && exists(out)) {
                status = "skipped";
                snprintf(r.err, sizeof r.err, "'%s' exists (--force overwrites it)", out);
                if (lines) printf("skipped %s: %s\n", pos[i], r.err);
            } else if (protect_one(g, pos[i], out, &po, quiet, &r) != EXIT_OK) {
                status = "failed";
            } else {
                done[i] = out, out = NULL;
                if (lines) print_written(pos[i], done[i], &po, &r);
            }
            written += status[0] == 'w', skipped += status[0] == 's', failed += status[0] == 'f';
            json_file(&jb, i == 0, pos[i], done[i] ? done[i] : out, status, &po, &r);
            fflush(stdout);
            if (progress) {
                double el = cli_now() - t0, eta = el / (i + 1) * (npos - i - 1);
                cli_progress("protect: %d/%d  %.2f s/image  ETA %.0f s  (%d written, %d skipped, %d failed)", i + 1,
                             npos, el / (i + 1), eta, written, skipped, failed);
            }
            free(out);
        }
        if (!done) rc = EXIT_RUNTIME, fprintf(stderr, "dadfi protect: out of memory\n");
        cli_progress_clear();
        for (int i = 0; done && i < npos; i++) free(done[i]);
        free(done);
        if (failed) rc = EXIT_RUNTIME;
        if (failed || lines)
            fprintf(failed ? stderr : stdout, "protect: %d written, %d skipped, %d failed in %.2f s\n", written,
                    skipped, failed, cli_now() - t0);
    }
    if (failed) rc = EXIT_RUNTIME;
    if (json) {
        sbuf doc = {0};
        sb_printf(&doc, "{\"written\": %d, \"skipped\": %d, \"failed\": %d, \"seconds\": %.3f, \"files\": [", written,
                  skipped, failed, cli_now() - t0);
        if (jb.p) sb_put(&doc, jb.p, jb.n);
        sb_str(&doc, jb.n ? "\n  ]}\n" : "]}\n");
        if (doc.failed || jb.failed) {
            fprintf(stderr, "dadfi protect: out of memory writing the JSON\n");
            rc = EXIT_RUNTIME;
        } else if (json_stdout) {
            fputs(doc.p, stdout);
            fflush(stdout);
        } else if (df_write_file_atomic(json, doc.p, doc.n) != DF_OK) {
            fprintf(stderr, "dadfi protect: %s\n", df_errmsg());
            rc = EXIT_RUNTIME;
        }
        free(doc.p);
    }
    free(jb.p);
    gen_free(g);
    blazeface_free(det);
    free(pos);
    return rc;
}
