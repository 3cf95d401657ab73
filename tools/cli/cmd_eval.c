/* dadfi eval: measure a protector against zoo models on a face data set (the paper's metrics, JSON). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "attack.h"
#include "gen_faces.h"
#include "attrcls.h"
#include "celeba.h"
#include "cli.h"
#include "dfw.h"
#include "eval.h"
#include "image.h"
#include "plot.h"
#include "resample.h"
#include "zoo_list.h"

#define MAX_WEIGHTS (256u << 20)
#define MAX_CONDS 16 /* JPEG qualities in one run */

int eval_chart_command(int argc, char **argv); /* eval_chart.c */

static void help(void) {
    printf(
        "usage: dadfi eval --protector P --models F1,F2,... --data DIR --json OUT [OPTIONS]\n"
        "       dadfi eval chart ...        (draw report charts; `dadfi eval chart --help`)\n\n"
        "Protects faces of a data set, runs every deepfake model on the clean and the protected face, and writes the\n"
        "paper's metrics as JSON (design notes \"Metrics\").  Progress goes to stderr.\n\n"
        "protectors (P):\n"
        "  none            no change (the metrics must come out 0)\n"
        "  noise           uniform noise in [-eps, eps]\n"
        "  sign-noise      +-eps per pixel and channel, random signs\n"
        "  pgd             per-image PGD (Ruiz et al. 2020): random start, step 0.01, 10 iterations, white box\n"
        "                  against the --pgd-models (default: the evaluated models) and the image's measured edits\n"
        "  universal:F     a universal perturbation (CMUA-style; `dadfi train-universal`), a .dfw with tensor\n"
        "                  \"delta\" [3,S,S] (or [1,3,S,S]); resized to --size if S differs\n"
        "  gen:F           the Gen network in weight file F\n"
        "  eot-pgd         per-image EOT-PGD (with --attack only): PGD on the whole photo at the models' scale\n"
        "                  through the differentiable attacker pipeline, --eot-samples K draws per iteration\n"
        "                  (default 4) from --eot-spec (default: the first --attack): the bound for Gen\n\n"
        "options:\n"
        "  --models LIST   comma-separated zoo weight files; a model's name is its file name without .dfw.\n"
        "                  With --attack also imported models (`tools/convert_tfjs_graph.mjs`, e.g. the\n"
        "                  CartoonGANs): each sees the attacker's crop resampled to its own side (256), one\n"
        "                  output per photo (no attributes); PGD protectors attack the zoo models only\n"
        "  --data DIR      DIR/labels.csv and DIR/images/: CelebA (columns file, partition, attributes; faces\n"
        "                  centre-cropped) or UTKFace (columns file, age, gender, race; source attributes estimated\n"
        "                  by --classifier or else the first model's discriminator head, Male from the label;\n"
        "                  results per gender and race)\n"
        "  --classifier F  attribute classifier (`dadfi attr-train`, e.g. weights/attrcls.dfw) that estimates the\n"
        "                  source attributes of faces without labels (UTKFace)\n"
        "  --split S       test (default), val, train or all (CelebA partition 2, 1, 0; ignored for UTKFace)\n"
        "  --n N           evaluate N images spread evenly over the split (default: all)\n"
        "  --size S        the models' input size (default 128)\n"
        "  --eps E         L-inf budget on the [-1, 1] scale (default 0.05)\n"
        "  --edits K       edits measured per image, 1..5 (default 1): attribute (i + j) %% 5, j < K, skipping\n"
        "                  edits that change nothing; success rates are over (image, edit) pairs\n"
        "  --jpeg Q        re-encode clean and protected faces with a real JPEG codec (stb, quality Q) before the\n"
        "                  models see them; a list Q1,Q2,... (0: no JPEG) measures every quality on the same\n"
        "                  protections and writes one JSON each: --json must then contain {q}\n"
        "  --resize R      protect the face at full size round(S / R) (e.g. 256 for R = 0.5), then downsize it to S\n"
        "                  with an antialiased filter before the models see it (a site shrinking an upload); Gen\n"
        "                  runs at full size, PGD and universal deltas are made at S and upsampled bilinearly\n"
        "  --pgd-models L  models PGD attacks (default: the zoo models of --models); eot-pgd also attacks\n"
        "                  imported models named here (e.g. build/hosoda.dfw), at their own side: list\n"
        "                  either zoo or imported models; --pgd-iters N (10), --pgd-step X (0.01);\n"
        "                  --pgd-no-balance: step along the plain sum of the models' gradients (default: each\n"
        "                  model's gradient scaled to mean |g| = 1 per image first, see `dadfi pgd --help`);\n"
        "                  --pgd-through-jpeg Q: attack through a differentiable JPEG at quality Q (augment.h), so\n"
        "                  that the perturbation survives re-encoding (compare with --jpeg Q)\n"
        "  --mobilenet F   ImageNet MobileNet v1 for the Frechet and perceptual distances (default mobilenet.dfw\n"
        "                  from $DADFI_HOME, else beside the executable (build/), share/dadfi/ or ./build/, made\n"
        "                  by `node tools/convert_mobilenet.mjs`; both skipped with a note when the default is\n"
        "                  absent)\n"
        "  --no-frechet    skip the Frechet distances (2 MobileNet runs per image, edit and model, and 2 per\n"
        "                  image, fewer); the perceptual distance is still measured when the MobileNet exists\n"
        "  --no-perceptual skip the perceptual distance (2 MobileNet runs per image at the photo's own size\n"
        "                  fewer); with --no-frechet as well, no MobileNet is loaded\n"
        "  --seed N        noise and PGD random seed (default 1)\n"
        "  --json OUT      write the result here\n"
        "  --grid OUT.png  image grid of the first --grid-rows (4) faces: original | protected | perturbation x10 |\n"
        "                  deepfake(original) | deepfake(protected) per model (what the models see)\n"
        "  --attack SPEC   measure through the attacker's pipeline (core/evaluation/attack.h; repeatable, one\n"
        "                  JSON each: --json must then contain {a}): the whole photo is protected at the\n"
        "                  models' scale (face square -> --size; Gen and PGD on the face square, see\n"
        "                  --gen-margin),\n"
        "                  the delta upsampled to the photo and clipped to eps, rounded to 8 bits; then per image\n"
        "                  one seeded draw of the site (downsize, JPEG) and the attacker's own crop (jitter,\n"
        "                  rotation, kernel) with the real codec and resamplers, for the clean and the\n"
        "                  protected photo alike.  SPEC: a preset (lab, jitter, bilinear, bicubic, area,\n"
        "                  triangle-aa, bicubic-aa, jpeg95, jpeg90, jpeg85, jpeg75, downsize, full, train) or\n"
        "                  key=value pairs, e.g. shift=0.04,scale=0.08,rot=5,kernel=bicubic-aa,jpeg=75-95\n"
        "  --photo-scale K with --attack: enlarge each photo K times first (1..8, antialiased bicubic; 4: a\n"
        "                  phone-sized face of ~700 pixels), the reference square with it\n"
        "  --detector F    with --attack and a Gen: protect as `dadfi protect` does with this BlazeFace .dfw\n"
        "                  (faces detected, each face's square from the detection, independent of the attacker's\n"
        "                  reference square; no face found: the whole photo); stderr says in how many photos\n"
        "                  faces were found\n"
        "  --whole-side W  with --attack and a Gen: protect as `dadfi protect --no-detect --work-side W` does (what\n"
        "                  a photo with no face found gets): Gen on the whole photo, shrunk to W pixels on its\n"
        "                  longest side when larger (0: full resolution; face: the default, the short side at\n"
        "                  --size), the delta upsampled back\n"
        "  --attacker-detector F  with --attack: the attacker finds the face itself with this BlazeFace .dfw\n"
        "                  (e.g. build/blazeface-front.dfw, another model than the protector's) on the photo it\n"
        "                  receives (after the site's downsize / JPEG), takes the CelebA-style square from its\n"
        "                  detection (gen_faces.h) and jitters that; the clean photo gets the same crop; no face\n"
        "                  found: the reference square (stderr counts both)\n"
        "  --gen-margin M  with --attack: Gen protects the square of M times the face square's side around it, as\n"
        "                  `dadfi protect` does (gen_faces.h: at the models' scale, the outer 5 %% feathered), nothing\n"
        "                  outside it (default 1: the face square; measured best: larger squares lose success and\n"
        "                  PSNR); 0: Gen on the whole photo at the models' scale\n"
        "  -q, --quiet     no progress\n\n"
        "pipeline per image: face crop at full size F (8-bit) -> protect -> round to 8 bits -> [JPEG Q] ->\n"
        "[downsize to S] -> every model, first edit of the image's edits ... K-th edit; the clean face takes the same\n"
        "path, so `none` gives exactly 0 and the condition alone disrupts nothing.\n\n"
        "JSON (numbers are means over images or (image, edit) pairs; null where undefined):\n"
        "  {\"protector\": P, \"eps\": E, \"n\": images,\n"
        "   \"condition\": {\"jpeg\": Q | null, \"resize\": R | null, \"attack\": canonical SPEC | null},\n"
        "   \"data\": {\"dir\": DIR, \"split\": S, \"size\": S, \"edits\": K},\n"
        "   \"protection\": {\"psnr\": dB (mean over changed images), \"psnr_images\": their count, \"ssim\": mean,\n"
        "                  \"linf\": max |x_adv - x| (8-bit rounding included), \"linf_mean\": mean of it per image,\n"
        "                  \"ms_per_image\": protection time, \"perceptual\": LPIPS-style distance of the\n"
        "                  protected upload (the whole photo with --attack) to the original: MobileNet's\n"
        "                  unit-normalised ReLU6 features after conv1 and pointwise blocks 1, 3, 5, 11, squared\n"
        "                  differences averaged over positions and the 5 layers, at the image's own size\n"
        "                  (mobilenet.h; 0 = identical; another face ~ 0.45), null without a MobileNet,\n"
        "                  \"frechet\": FD(MobileNet(x_adv), MobileNet(x)) on the models' view},\n"
        "   \"models\": {NAME: {\"arch\": family (or dadfi-graph), \"size\": input side, \"pairs\": count,\n"
        "              \"d_pix\": Eq. 19, \"d_pix_rms\": d_pix / sqrt(3 S S),\n"
        "              \"d_mask\": Eq. 20, \"d_mask_rms\": over masked elements, \"l2\": mean squared difference,\n"
        "              \"l2_mask\": masked mean squared difference, \"success_rate\": share of pairs with\n"
        "              l2_mask > 0.05, \"empty_masks\": pairs whose clean edit changed nothing (failures),\n"
        "              \"frechet\": FD(MobileNet(G(x_adv)), MobileNet(G(x)))}},\n"
        "   \"groups\": {KIND: {VALUE: {\"pairs\": count, \"success_rate\": {NAME: rate}}}}}   (gender, race)\n"
        "  Differences are of G(x_adv) against G(x) on the [-1, 1] scale; the mask is CMUA's (sum over RGB of\n"
        "  |G(x) - x|) > 0.5.\n\n"
        "example:\n"
        "  dadfi eval --protector gen:weights/gen.dfw --models zoo/stargan.dfw,zoo/attgan.dfw \\\n"
        "             --data ../shared/data/celeba_subset --n 200 --jpeg 85 --json gen-jpeg85.json --grid gen.png\n");
}

/* ------------------------------------------------------------------ data sets */
typedef struct {
    int n;
    char **path;
    float *attr;      /* [n, 5] or NULL (estimated) */
    int *male;        /* -1 unknown, else 0/1 (UTKFace) */
    int *group[2];    /* gender, race; -1 unknown */
    int ngroups;      /* 0: none, 1: gender, 2: gender and race */
} dataset;

static const char *gender_names[] = {"male", "female"};
static const char *race_names[] = {"White", "Black", "Asian", "Indian", "Others"};

static void data_free(dataset *d) {
    for (int i = 0; d->path && i < d->n; i++) free(d->path[i]);
    free(d->path);
    free(d->attr);
    free(d->male);
    free(d->group[0]);
    free(d->group[1]);
    memset(d, 0, sizeof *d);
}

static char *join_path(const char *dir, const char *file) {
    size_t n = strlen(dir) + strlen(file) + 16;
    char *s = malloc(n);
    if (s) snprintf(s, n, "%s/images/%s", dir, file);
    return s;
}

/* Allocate the per-row arrays of d for n rows. */
static int data_alloc(dataset *d, int n, int with_attr) {
    d->path = calloc((size_t)n, sizeof *d->path);
    d->attr = with_attr ? malloc((size_t)n * ZOO_NATTR * sizeof(float)) : NULL;
    d->male = malloc((size_t)n * sizeof(int));
    d->group[0] = malloc((size_t)n * sizeof(int));
    d->group[1] = malloc((size_t)n * sizeof(int));
    return d->path && (!with_attr || d->attr) && d->male && d->group[0] && d->group[1];
}

/* UTKFace labels.csv: file,age,gender,race,... (gender 0 male, 1 female; race 0..4). */
static df_status parse_utk(dataset *d, const char *dir, char *csv) {
    int col_file = -1, col_gender = -1, col_race = -1, ncols = 0, n = 0;
    long lines = 0;
    for (char *p = csv; *p; p++) lines += *p == '\n';
    if (!data_alloc(d, (int)lines + 1, 0)) return df_fail(DF_ERR_NOMEM, "eval: out of memory");
    char *save = NULL;
    long lineno = 0;
    for (char *line = strtok_r(csv, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        lineno++;
        size_t ll = strlen(line);
        if (ll && line[ll - 1] == '\r') line[--ll] = 0;
        if (!ll) continue;
        char *f[16];
        int nf = 0;
        for (char *s2 = NULL, *t = strtok_r(line, ",", &s2); t && nf < 16; t = strtok_r(NULL, ",", &s2)) f[nf++] = t;
        if (lineno == 1) {
            ncols = nf;
            for (int i = 0; i < nf; i++) {
                if (!strcmp(f[i], "file")) col_file = i;
                if (!strcmp(f[i], "gender")) col_gender = i;
                if (!strcmp(f[i], "race")) col_race = i;
            }
            if (col_file < 0 || col_gender < 0 || col_race < 0)
                return df_fail(DF_ERR_FORMAT, "eval: %s/labels.csv: need columns file, gender, race", dir);
            continue;
        }
        long g, r;
        if (nf != ncols || cli_parse_long(f[col_gender], 0, 1, &g) || cli_parse_long(f[col_race], 0, 4, &r) ||
            strchr(f[col_file], '/') || f[col_file][0] == '.')
            return df_fail(DF_ERR_FORMAT, "eval: %s/labels.csv line %ld is malformed", dir, lineno);
        if (!(d->path[n] = join_path(dir, f[col_file]))) return df_fail(DF_ERR_NOMEM, "eval: out of memory");
        d->male[n] = g == 0;
        d->group[0][n] = (int)g;
        d->group[1][n] = (int)r;
        d->n = ++n;
    }
    d->ngroups = 2;
    if (!n) return df_fail(DF_ERR_FORMAT, "eval: %s/labels.csv has no rows", dir);
    return DF_OK;
}

static df_status data_open(dataset *d, const char *dir, int partition) {
    memset(d, 0, sizeof *d);
    size_t pl = strlen(dir) + 16;
    char *path = malloc(pl);
    uint8_t *buf = NULL;
    size_t len = 0;
    if (!path) return df_fail(DF_ERR_NOMEM, "eval: out of memory");
    snprintf(path, pl, "%s/labels.csv", dir);
    df_status s = df_read_file(path, CELEBA_LABELS_MAX, &buf, &len);
    free(path);
    if (s) return s;
    char *csv = realloc(buf, len + 1);
    if (!csv) {
        free(buf);
        return df_fail(DF_ERR_NOMEM, "eval: out of memory");
    }
    csv[len] = 0;
    char *eol = strchr(csv, '\n');
    size_t hl = eol ? (size_t)(eol - csv) : len;
    int celeba = 0;
    for (size_t i = 0; i + 9 <= hl; i++) celeba |= !strncmp(csv + i, "partition", 9);
    if (!celeba) {
        s = parse_utk(d, dir, csv);
    } else {
        celeba_set cs;
        s = celeba_parse(&cs, csv, len, dir, partition);
        if (!s) {
            if (!data_alloc(d, cs.n, 1)) s = df_fail(DF_ERR_NOMEM, "eval: out of memory");
            for (int i = 0; !s && i < cs.n; i++) {
                if (!(d->path[i] = join_path(dir, cs.file[i]))) s = df_fail(DF_ERR_NOMEM, "eval: out of memory");
                d->n = i + 1;
                memcpy(d->attr + (size_t)i * ZOO_NATTR, cs.attr + (size_t)i * ZOO_NATTR, ZOO_NATTR * sizeof(float));
                d->male[i] = -1;
                d->group[0][i] = cs.attr[(size_t)i * ZOO_NATTR + ZOO_MALE] > 0.5f ? 0 : 1;
                d->group[1][i] = -1;
            }
            d->ngroups = 1;
            celeba_free(&cs);
        }
    }
    free(csv);
    if (s) data_free(d);
    return s;
}

/* ------------------------------------------------------------------ weights */
static df_status load_file(const char *path, uint8_t **buf, size_t *len) { return df_read_file(path, MAX_WEIGHTS, buf, len); }

/* Universal perturbation file: tensor "delta" [3,S,S] or [1,3,S,S]. */
static df_status load_universal(const char *path, float **delta, int *size) {
    uint8_t *buf = NULL;
    size_t len = 0;
    dfw_file f;
    df_status s = load_file(path, &buf, &len);
    if (s) return s;
    if ((s = dfw_parse(&f, buf, len)) != DF_OK) {
        free(buf);
        return s;
    }
    const dfw_tensor *t = dfw_find(&f, "delta");
    int off = t && t->ndim == 4 && t->dims[0] == 1;
    if (!t || t->ndim != 3 + off || t->dims[off] != 3 || t->dims[off + 1] != t->dims[off + 2] || t->dims[off + 1] > 4096)
        s = df_fail(DF_ERR_FORMAT, "%s: no tensor \"delta\" of shape [3,S,S]", path);
    else if (!(*delta = malloc(t->count * sizeof(float))))
        s = df_fail(DF_ERR_NOMEM, "out of memory");
    else {
        memcpy(*delta, t->data, t->count * sizeof(float));
        *size = t->dims[off + 1];
    }
    dfw_free(&f);
    free(buf);
    return s;
}

/* ------------------------------------------------------------------ the deepfake pipeline's condition */
/* rgb (F x F, 8-bit) -> [JPEG at quality jpeg] -> [antialiased resize to S] -> out [3, S, S]. */
static df_status condition(float *out, const uint8_t *rgb, int F, int S, int jpeg) {
    df_image dec = {0};
    const uint8_t *px = rgb;
    if (jpeg > 0) {
        uint8_t *enc = NULL;
        size_t elen = 0;
        df_status s = df_image_encode(rgb, F, F, DF_FMT_JPEG, jpeg, &enc, &elen);
        if (!s) s = df_image_decode(&dec, enc, elen);
        free(enc);
        if (s) return s;
        if (dec.w != F || dec.h != F) {
            df_image_free(&dec);
            return df_fail(DF_ERR_FORMAT, "JPEG round trip changed the size");
        }
        px = dec.rgb;
    }
    df_status s = DF_OK;
    if (F == S) df_rgb8_to_planar(out, px, F, F, 3);
    else s = celeba_prepare(out, S, px, F, F, 0, 0);
    df_image_free(&dec);
    return s;
}

static void quantize8(float *x, uint8_t *rgb, int F) {
    df_planar_to_rgb8(rgb, x, F, F, 3);
    df_rgb8_to_planar(x, rgb, F, F, 3);
}

/* ------------------------------------------------------------------ the command */
typedef struct {
    const char *protector, *models, *data, *split, *json, *grid, *mobilenet, *pgd_models, *classifier;
    long n, size, edits, seed, pgd_iters, grid_rows, pgd_jpeg;
    int jpeg[MAX_CONDS], njpeg;
    double eps, resize, pgd_step;
    int no_frechet, no_perceptual, quiet, mobilenet_given, pgd_no_balance;
    const char *attack[MAX_CONDS], *eot_spec;
    int nattack;
    long eot_samples;
    double gen_margin, photo_scale;
    long whole_side; /* --whole-side: the whole-photo path at this working side (0: full resolution; GF_WORK_FACE:
                      * the face scale, "face"); -2: off */
    const char *detector;
    const char *attacker_detector;
} eval_args;

/* "Q1,Q2,..." with Q in 0..100 (0: no JPEG) -> a->jpeg; returns nonzero if malformed. */
static int parse_qualities(eval_args *a, const char *list) {
    char buf[256], *save = NULL;
    if (strlen(list) >= sizeof buf) return 1;
    strcpy(buf, list);
    a->njpeg = 0;
    for (char *t = strtok_r(buf, ",", &save); t; t = strtok_r(NULL, ",", &save)) {
        long q;
        if (a->njpeg == MAX_CONDS || cli_parse_long(t, 0, 100, &q)) return 1;
        a->jpeg[a->njpeg++] = (int)q;
    }
    return a->njpeg == 0;
}

static int parse_args(eval_args *a, int argc, char **argv) {
    *a = (eval_args){.split = "test", .mobilenet = cli_default_file(CLI_FILE_MOBILENET, NULL, 0), .size = 128, .edits = 1, .seed = 1,
                     .pgd_iters = 10, .grid_rows = 4, .eps = 0.05, .pgd_step = 0.01, .eot_samples = 4,
                     .gen_margin = 1.0, .photo_scale = 1.0, .whole_side = -2};
    for (int i = 1; i < argc; i++) {
        const char *o = argv[i], *v = i + 1 < argc ? argv[i + 1] : NULL;
        int bad = 0;
        if (cli_is_help(o)) {
            help();
            return -1;
        }
#define STR(name, field) else if (!strcmp(o, name) && v) a->field = argv[++i]
#define LONG(name, field, lo, hi) else if (!strcmp(o, name) && v) bad = cli_parse_long(argv[++i], lo, hi, &a->field)
#define DBL(name, field, lo, hi) else if (!strcmp(o, name) && v) bad = cli_parse_float(argv[++i], lo, hi, &a->field)
        STR("--protector", protector);
        STR("--models", models);
        STR("--data", data);
        STR("--split", split);
        STR("--json", json);
        STR("--grid", grid);
        STR("--pgd-models", pgd_models);
        STR("--classifier", classifier);
        STR("--eot-spec", eot_spec);
        LONG("--eot-samples", eot_samples, 1, 64);
        else if (!strcmp(o, "--attack") && v) {
            if (a->nattack == MAX_CONDS) return cli_usage_error("eval", "at most %d --attack specs", MAX_CONDS);
            a->attack[a->nattack++] = argv[++i];
        }
        LONG("--n", n, 1, 10000000);
        LONG("--size", size, 32, 512);
        else if (!strcmp(o, "--jpeg") && v) bad = parse_qualities(a, argv[++i]);
        LONG("--edits", edits, 1, 5);
        LONG("--seed", seed, 0, 2147483647L);
        LONG("--pgd-iters", pgd_iters, 1, 100000);
        LONG("--pgd-through-jpeg", pgd_jpeg, 1, 100);
        LONG("--grid-rows", grid_rows, 1, 64);
        DBL("--eps", eps, 0.0, 0.5);
        DBL("--resize", resize, 0.05, 1.0);
        DBL("--pgd-step", pgd_step, 0.0, 1.0);
        DBL("--gen-margin", gen_margin, 0.0, 4.0);
        DBL("--photo-scale", photo_scale, 1.0, 8.0);
        STR("--detector", detector);
        STR("--attacker-detector", attacker_detector);
        else if (!strcmp(o, "--whole-side") && v && !strcmp(v, "face")) a->whole_side = GF_WORK_FACE, i++;
        LONG("--whole-side", whole_side, 0, 65536);
        else if (!strcmp(o, "--mobilenet") && v) a->mobilenet = argv[++i], a->mobilenet_given = 1;
        else if (!strcmp(o, "--no-frechet")) a->no_frechet = 1;
        else if (!strcmp(o, "--no-perceptual")) a->no_perceptual = 1;
        else if (!strcmp(o, "--pgd-no-balance")) a->pgd_no_balance = 1;
        else if (!strcmp(o, "-q") || !strcmp(o, "--quiet")) a->quiet = 1;
        else return cli_usage_error("eval", "unknown option or missing value: '%s'", o);
#undef STR
#undef LONG
#undef DBL
        if (bad) return cli_usage_error("eval", "bad value for %s: '%s'", o, argv[i]);
    }
    if (!a->protector || !a->models || !a->data || !a->json)
        return cli_usage_error("eval", "--protector, --models, --data and --json are required");
    if (a->size % 32) return cli_usage_error("eval", "--size must be a multiple of 32");
    if (a->gen_margin > 0 && a->gen_margin < 1)
        return cli_usage_error("eval", "--gen-margin is 0 (the whole photo) or at least 1 (the face square's side)");
    if ((a->photo_scale != 1.0 || a->detector || a->attacker_detector) && !a->nattack)
        return cli_usage_error("eval", "--photo-scale, --detector and --attacker-detector work on whole photos: they "
                                       "need --attack");
    if (a->whole_side != -2 && (!a->nattack || a->detector || strncmp(a->protector, "gen:", 4)))
        return cli_usage_error("eval", "--whole-side is the whole-photo path of `dadfi protect`: it needs --attack "
                                       "and --protector gen:FILE, and no --detector");
    if (a->whole_side > 0 && a->whole_side < 64) return cli_usage_error("eval", "--whole-side is 0 or at least 64");
    if (a->detector && strncmp(a->protector, "gen:", 4))
        return cli_usage_error("eval", "--detector places Gen's face squares: it needs --protector gen:FILE");
    if (a->nattack && (a->njpeg || a->resize > 0))
        return cli_usage_error("eval", "--attack replaces --jpeg and --resize (put jpeg=Q in the attack spec)");
    if (a->nattack > 1 && !strstr(a->json, "{a}"))
        return cli_usage_error("eval", "with several --attack specs, --json must contain {a} (one file per spec)");
    for (int k = 0; k < a->nattack; k++) {
        atk_spec sp;
        if (atk_parse(&sp, a->attack[k])) return cli_usage_error("eval", "%s", df_errmsg());
    }
    if (a->eot_spec) {
        atk_spec sp;
        if (atk_parse(&sp, a->eot_spec)) return cli_usage_error("eval", "--eot-spec: %s", df_errmsg());
    }
    if (a->njpeg > 1 && !strstr(a->json, "{q}"))
        return cli_usage_error("eval", "with several --jpeg qualities, --json must contain {q} (one file per quality)");
    if (strcmp(a->split, "test") && strcmp(a->split, "val") && strcmp(a->split, "train") && strcmp(a->split, "all"))
        return cli_usage_error("eval", "--split must be test, val, train or all");
    return 0;
}

/* Everything one run holds (freed in one place). */
typedef struct {
    dataset data;
    zoo_list models, pgd_models;
    graph_list graphs;   /* imported models among --models (--attack only) */
    graph_list pgd_graphs; /* imported models among --pgd-models (eot-pgd only) */
    eval_protector prot;
    gen_model *gen;
    float *delta;
    pgd_ctx *pgd;
    mobilenet *mn;
    attrcls *cls;
    eval_acc acc[MAX_CONDS];
    int nacc;
    float *x_full, *x_adv, *x, *xc, *xac, *ws, *grid_cells, *ygrid;
    uint8_t *rgb, *rgb_adv;
    int eot;          /* protector eot-pgd */
    atk_spec eot_spec; /* ... through this distribution */
    blazeface *det;    /* --detector: Gen's squares from detected faces (gf_protect_photo) */
    blazeface *adet;   /* --attacker-detector: the attacker's own face square */
    int atk_found, atk_missed; /* with adet: (photo, spec) pairs where the attacker found a face / did not */
    int photos_faces, photos_whole, photos_fill; /* with det: photos where faces were found / protected whole /
                                                  * one face filled the photo (protected whole as its crop) */
} eval_run;

static void run_free(eval_run *r) {
    data_free(&r->data);
    for (int c = 0; c < r->nacc; c++) eval_free(&r->acc[c]);
    zoo_list_free(&r->models);
    zoo_list_free(&r->pgd_models);
    graph_list_free(&r->graphs);
    graph_list_free(&r->pgd_graphs);
    gen_free(r->gen);
    free(r->delta);
    if (r->pgd) pgd_ctx_free(r->pgd);
    mobilenet_free(r->mn);
    blazeface_free(r->det);
    blazeface_free(r->adet);
    attrcls_free(r->cls);
    free(r->x_full);
    free(r->x_adv);
    free(r->x);
    free(r->xc);
    free(r->xac);
    free(r->ws);
    free(r->grid_cells);
    free(r->ygrid);
    free(r->rgb);
    free(r->rgb_adv);
}

static df_status setup_protector(eval_run *r, const eval_args *a) {
    eval_protector *p = &r->prot;
    memset(p, 0, sizeof *p);
    p->eps = (float)a->eps;
    df_rng_seed(&p->rng, (uint64_t)a->seed);
    const char *P = !strcmp(a->protector, "eot-pgd") ? "pgd" : a->protector, *colon = strchr(P, ':');
    if (P != a->protector && !a->nattack)
        return df_fail(DF_ERR_ARG, "protector eot-pgd needs --attack (it optimises through the attacker's pipeline)");
    r->eot = P != a->protector;
    size_t kl = colon ? (size_t)(colon - P) : strlen(P);
    static const eval_kind kinds[] = {EVAL_NONE, EVAL_NOISE, EVAL_SIGN_NOISE, EVAL_PGD, EVAL_UNIVERSAL, EVAL_GEN};
    int found = 0;
    for (int i = 0; i < 6; i++)
        if (strlen(eval_kind_name(kinds[i])) == kl && !strncmp(P, eval_kind_name(kinds[i]), kl)) p->kind = kinds[i], found = 1;
    int needs_file = found && (p->kind == EVAL_UNIVERSAL || p->kind == EVAL_GEN);
    if (!found || needs_file != (colon != NULL) || (colon && !colon[1]))
        return df_fail(DF_ERR_ARG, "unknown protector '%s' (none, noise, sign-noise, pgd, universal:F, gen:F)", P);
    df_status s = DF_OK;
    if (p->kind == EVAL_GEN) {
        uint8_t *buf = NULL;
        size_t len = 0;
        if ((s = load_file(colon + 1, &buf, &len)) != DF_OK) return s; /* the message names the file */
        s = gen_load(&r->gen, buf, len, 0);
        free(buf);
        if (s) return df_fail(s, "%s: %s", colon + 1, df_errmsg());
        p->gen = r->gen;
    } else if (p->kind == EVAL_UNIVERSAL) {
        if ((s = load_universal(colon + 1, &r->delta, &p->dsize)) != DF_OK) return s;
        p->delta = r->delta;
    } else if (p->kind == EVAL_PGD) {
        if (a->pgd_models) {
            if ((s = model_list_load(&r->pgd_models, &r->pgd_graphs, a->pgd_models)) != DF_OK) return s;
            p->pgd_models = r->pgd_models.m;
            p->n_pgd_models = r->pgd_models.n;
            p->pgd_graphs = r->pgd_graphs.g;
            p->n_pgd_graphs = r->pgd_graphs.n;
            if (p->n_pgd_graphs && !r->eot)
                return df_fail(DF_ERR_ARG, "--pgd-models: %s is an imported model: only eot-pgd attacks those (at "
                                           "their own side, through the attacker's pipeline)", r->pgd_graphs.name[0]);
            if (p->n_pgd_graphs && p->n_pgd_models)
                return df_fail(DF_ERR_ARG, "--pgd-models: zoo and imported models take different input sides; "
                                           "EOT-PGD attacks one side at a time (list either kind)");
        } else {
            p->pgd_models = r->models.m;
            p->n_pgd_models = r->models.n;
        }
        if (p->n_pgd_models == 0 && p->n_pgd_graphs == 0)
            return df_fail(DF_ERR_ARG, "protector %s attacks zoo models (--models or --pgd-models); imported models "
                                       "only with eot-pgd and named in --pgd-models", a->protector);
        if ((s = pgd_ctx_create(&r->pgd)) != DF_OK) return s;
        p->pgd = r->pgd;
        p->pgd_opts = pgd_default_opts();
        p->pgd_opts.iters = (int)a->pgd_iters;
        p->pgd_opts.step = (float)a->pgd_step;
        p->pgd_opts.balance = !a->pgd_no_balance;
        p->pgd_opts.jpeg = (int)a->pgd_jpeg;
    }
    return DF_OK;
}

static df_status load_mobilenet(eval_run *r, const eval_args *a) {
    if (a->no_frechet && a->no_perceptual) return DF_OK;
    struct stat st;
    if (!a->mobilenet_given && stat(a->mobilenet, &st) != 0) {
        if (!a->quiet)
            fprintf(stderr, "dadfi eval: note: %s not found; Frechet and perceptual distances skipped (make it "
                            "with `node tools/convert_mobilenet.mjs`, or pass --mobilenet F)\n", a->mobilenet);
        return DF_OK;
    }
    uint8_t *buf = NULL;
    size_t len = 0;
    df_status s = load_file(a->mobilenet, &buf, &len);
    if (!s) s = mobilenet_load(&r->mn, buf, len);
    free(buf);
    if (s) return df_fail(s, "%s: %s", a->mobilenet, df_errmsg());
    return DF_OK;
}

static df_status load_classifier(eval_run *r, const eval_args *a) {
    if (!a->classifier) return DF_OK;
    uint8_t *buf = NULL;
    size_t len = 0;
    df_status s = load_file(a->classifier, &buf, &len);
    if (!s) s = attrcls_load(&r->cls, buf, len, 0);
    free(buf);
    if (!s && attrcls_get_config(r->cls)->size != a->size)
        s = df_fail(DF_ERR_ARG, "classifier input size %d differs from --size %ld", attrcls_get_config(r->cls)->size, a->size);
    if (s) return df_fail(s, "%s: %s", a->classifier, df_errmsg());
    return DF_OK;
}

/* Source attributes of a face without labels: the attribute classifier (or else the first model's discriminator
 * head), Male from the label if known. */
static df_status estimate_attrs(eval_run *r, float *src, const float *x, int male) {
    float logits[ZOO_NATTR];
    df_status s = r->cls ? attrcls_forward(r->cls, logits, x, 1) : zoo_classify(r->models.m[0], logits, x, 1);
    if (s) return s;
    for (int k = 0; k < ZOO_NATTR; k++) src[k] = logits[k] > 0.0f ? 1.0f : 0.0f;
    if (male >= 0) src[ZOO_MALE] = (float)male;
    return DF_OK;
}

/* Grid rows: per image, 3 + 2 * nmodels cells [3, S, S]. */
static df_status save_grid(eval_run *r, const eval_args *a, int rows) {
    int S = (int)a->size, nm = r->models.n, cols = 3 + 2 * nm;
    size_t cell = 3 * (size_t)S * S;
    const float **cells = malloc((size_t)rows * cols * sizeof *cells);
    char (*titles)[80] = malloc((size_t)cols * sizeof *titles);
    const char **tp = malloc((size_t)cols * sizeof *tp);
    df_status s = DF_OK;
    if (!cells || !titles || !tp) s = df_fail(DF_ERR_NOMEM, "out of memory");
    for (int i = 0; !s && i < rows * cols; i++) cells[i] = r->grid_cells + (size_t)i * cell;
    for (int j = 0; !s && j < cols; j++) {
        if (j < 3) snprintf(titles[j], 80, "%s", j == 0 ? "original" : j == 1 ? "protected" : "perturbation x10");
        else snprintf(titles[j], 80, "%s %s", (j - 3) % 2 ? "G(x_adv)" : "G(x)", r->models.name[(j - 3) / 2]);
        tp[j] = titles[j];
    }
    char title[160];
    int q = a->njpeg ? a->jpeg[0] : 0;
    snprintf(title, sizeof title, "%s, eps %.3g", a->protector, a->eps);
    if (q) snprintf(title + strlen(title), sizeof title - strlen(title), ", JPEG %d", q);
    if (a->resize > 0) snprintf(title + strlen(title), sizeof title - strlen(title), ", resize %.2g", a->resize);
    df_canvas c = {0};
    if (!s) {
        df_image_grid g = {rows, cols, S, S, S < 96 ? (96 + S - 1) / S : 1, cells, tp, NULL, title};
        s = df_plot_grid(&c, &g);
    }
    if (!s) s = df_image_save(a->grid, c.rgb, c.w, c.h, DF_FMT_PNG, 0);
    df_canvas_free(&c);
    free(cells);
    free(titles);
    free(tp);
    return s;
}

/* The --json path for JPEG quality q: "{q}" replaced by q ("none" for 0). */
static char *json_path(const char *tmpl, int q) {
    const char *p = strstr(tmpl, "{q}");
    size_t n = strlen(tmpl) + 16;
    char *out = malloc(n);
    if (!out) return NULL;
    if (!p) snprintf(out, n, "%s", tmpl);
    else if (q > 0) snprintf(out, n, "%.*s%d%s", (int)(p - tmpl), tmpl, q, p + 3);
    else snprintf(out, n, "%.*snone%s", (int)(p - tmpl), tmpl, p + 3);
    return out;
}

static void summary(const eval_args *a, const eval_acc *acc, int q, const char *path) {
    long n = acc->nimages ? acc->nimages : 1;
    fprintf(stderr, "dadfi eval: %s", a->protector);
    if (q) fprintf(stderr, " JPEG %d", q);
    fprintf(stderr, " on %ld images: PSNR %.2f dB, SSIM %.4f", acc->nimages,
            acc->psnr_finite ? acc->psnr / acc->psnr_finite : INFINITY, acc->ssim / n);
    if (acc->nperceptual) fprintf(stderr, ", perceptual %.4f", acc->perceptual / acc->nperceptual);
    fprintf(stderr, ", %.1f ms/image; success", acc->ms / n);
    for (int m = 0; m < acc->nmodels; m++)
        fprintf(stderr, " %s %.1f%%", acc->m[m].name, 100.0 * acc->m[m].success / (acc->m[m].n ? acc->m[m].n : 1));
    fprintf(stderr, " -> %s\n", path);
}

/* Copy one image's grid row: xc, xac, 10 (xac - xc), then G(x), G(x_adv) per model (yg: [2][nmodels] outputs). */
static void grid_row(float *row, const float *xc, const float *xac, const float *yg, int nm, size_t ns) {
    memcpy(row, xc, ns * sizeof(float));
    memcpy(row + ns, xac, ns * sizeof(float));
    for (size_t k = 0; k < ns; k++) row[2 * ns + k] = 10.0f * (xac[k] - xc[k]);
    for (int m = 0; m < nm; m++) {
        memcpy(row + (3 + 2 * m) * ns, yg + m * ns, ns * sizeof(float));
        memcpy(row + (4 + 2 * m) * ns, yg + (nm + m) * ns, ns * sizeof(float));
    }
}

static df_status run_eval(eval_run *r, const eval_args *a) {
    int S = (int)a->size, F = a->resize > 0 ? (int)lround(S / a->resize) : S, nc = a->njpeg ? a->njpeg : 1;
    int partition = !strcmp(a->split, "test") ? 2 : !strcmp(a->split, "val") ? 1 : !strcmp(a->split, "train") ? 0 : -1;
    df_status s;
    if ((s = model_list_load(&r->models, &r->graphs, a->models))) return s;
    if (r->graphs.n)
        return df_fail(DF_ERR_ARG, "%s is an imported model: those are measured through the attacker's pipeline (add "
                                   "--attack lab for the protector's own crop, or --attack jitter)", r->graphs.name[0]);
    if (r->models.n == 0) return df_fail(DF_ERR_ARG, "no zoo model in --models");
    if ((s = data_open(&r->data, a->data, partition)) ||
        (s = setup_protector(r, a)) || (s = load_mobilenet(r, a)) || (s = load_classifier(r, a)))
        return s;
    const char *names[EVAL_MAX_MODELS];
    for (int i = 0; i < r->models.n; i++) names[i] = r->models.name[i];
    for (int c = 0; c < nc; c++) {
        if ((s = eval_init(&r->acc[c], r->models.m, names, r->models.n, S, r->mn))) return s;
        r->acc[c].no_frechet = a->no_frechet;
        r->acc[c].no_perceptual = a->no_perceptual;
        r->nacc = c + 1;
        if (r->data.ngroups >= 1 && eval_add_group_kind(&r->acc[c], "gender", gender_names, 2) < 0) return DF_ERR_ARG;
        if (r->data.ngroups >= 2 && eval_add_group_kind(&r->acc[c], "race", race_names, 5) < 0) return DF_ERR_ARG;
    }

    int n = a->n > 0 && a->n < r->data.n ? (int)a->n : r->data.n;
    int rows = a->grid ? (int)(a->grid_rows < n ? a->grid_rows : n) : 0, nm = r->models.n, cols = 3 + 2 * nm;
    size_t nf = 3 * (size_t)F * F, ns = 3 * (size_t)S * S;
    r->x_full = malloc(nf * sizeof(float));
    r->x_adv = malloc(nf * sizeof(float));
    r->x = malloc(ns * sizeof(float));
    r->xc = malloc(ns * sizeof(float));
    r->xac = malloc(ns * sizeof(float));
    r->ws = malloc(eval_protect_workspace(F, S) * sizeof(float));
    r->rgb = malloc(nf);
    r->rgb_adv = malloc(nf);
    r->grid_cells = rows ? malloc((size_t)rows * cols * ns * sizeof(float)) : NULL;
    r->ygrid = rows ? malloc(2 * (size_t)nm * ns * sizeof(float)) : NULL;
    if (!r->x_full || !r->x_adv || !r->x || !r->xc || !r->xac || !r->ws || !r->rgb || !r->rgb_adv ||
        (rows && (!r->grid_cells || !r->ygrid)))
        return df_fail(DF_ERR_NOMEM, "out of memory");

    double t0 = cli_now();
    for (int j = 0; j < n; j++) {
        int i = (int)((long long)j * r->data.n / n); /* spread evenly over the set */
        df_image img;
        if ((s = df_image_load(&img, r->data.path[i])) != DF_OK) return df_fail(s, "%s: %s", r->data.path[i], df_errmsg());
        s = celeba_prepare(r->x_full, F, img.rgb, img.w, img.h, 1, 0);
        df_image_free(&img);
        if (s) return s;
        quantize8(r->x_full, r->rgb, F);
        if (F == S) memcpy(r->x, r->x_full, ns * sizeof(float));
        else if ((s = celeba_prepare(r->x, S, r->rgb, F, F, 0, 0))) return s;
        float src[ZOO_NATTR], trg[ZOO_NATTR * ZOO_NATTR];
        if (r->data.attr) memcpy(src, r->data.attr + (size_t)i * ZOO_NATTR, sizeof src);
        else if ((s = estimate_attrs(r, src, r->x, r->data.male[i]))) return s;
        int ntrg = eval_targets(trg, src, j, (int)a->edits);

        double tp = cli_now();
        if ((s = eval_protect(&r->prot, r->x_adv, r->x_full, F, r->x, S, src, trg, ntrg, r->ws))) return s;
        double ms = (cli_now() - tp) * 1000.0;
        quantize8(r->x_adv, r->rgb_adv, F);

        int groups[2] = {r->data.group[0][i], r->data.group[1][i]};
        for (int c = 0; c < nc; c++) {
            int q = a->njpeg ? a->jpeg[c] : 0;
            if ((s = condition(r->xc, r->rgb, F, S, q)) || (s = condition(r->xac, r->rgb_adv, F, S, q)) ||
                (s = eval_add_protection(&r->acc[c], r->x_full, r->x_adv, F, ms, r->xc, r->xac)))
                return s;
            int row = c == 0 && j < rows;
            if ((s = eval_measure(&r->acc[c], r->xc, r->xac, src, trg, ntrg, groups, row ? r->ygrid : NULL,
                                  row ? r->ygrid + nm * ns : NULL)))
                return s;
            if (row) grid_row(r->grid_cells + (size_t)j * cols * ns, r->xc, r->xac, r->ygrid, nm, ns);
        }
        if (!a->quiet && (j + 1 == n || (j + 1) % 10 == 0 || cli_now() - t0 < 10)) {
            double el = cli_now() - t0;
            char succ[256] = "";
            for (int m = 0, off = 0; m < nm && off < 200; m++)
                off += snprintf(succ + off, sizeof succ - off, " %s %.0f%%", r->models.name[m],
                                100.0 * r->acc[0].m[m].success / (r->acc[0].m[m].n ? r->acc[0].m[m].n : 1));
            cli_progress("eval %s: %d/%d  %.2f s/image  ETA %.0f s  success:%s", a->protector, j + 1, n, el / (j + 1),
                         el / (j + 1) * (n - j - 1), succ);
        }
    }
    if (!a->quiet) cli_progress_done();
    if (rows && (s = save_grid(r, a, rows))) return df_fail(s, "%s: %s", a->grid, df_errmsg());
    for (int c = 0; c < nc; c++) {
        int q = a->njpeg ? a->jpeg[c] : 0;
        eval_info info = {a->protector, a->eps, q, a->resize, a->data, r->data.attr ? a->split : "all", (int)a->edits, NULL};
        char *json = NULL, *path = json_path(a->json, q);
        if (!path) return df_fail(DF_ERR_NOMEM, "out of memory");
        if (!(s = eval_finish(&r->acc[c])) && !(s = eval_json(&r->acc[c], &info, &json)))
            s = df_write_file_atomic(path, json, strlen(json));
        if (!s && !a->quiet) summary(a, &r->acc[c], q, path);
        free(json);
        free(path);
        if (s) return s;
    }
    return DF_OK;
}

/* ------------------------------------------------------------------ evaluation through the attacker's pipeline */
/* The --json path for attack spec k: "{a}" replaced by the spec as given (characters other than letters, digits,
 * '-' and '.' become '_'). */
static char *attack_json_path(const char *tmpl, const char *spec) {
    const char *p = strstr(tmpl, "{a}");
    size_t n = strlen(tmpl) + strlen(spec) + 16;
    char *out = malloc(n), name[256];
    if (!out) return NULL;
    snprintf(name, sizeof name, "%s", spec);
    for (char *c = name; *c; c++)
        if (!((*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9') || *c == '-' || *c == '.'))
            *c = '_';
    if (!p) snprintf(out, n, "%s", tmpl);
    else snprintf(out, n, "%.*s%s%s", (int)(p - tmpl), tmpl, name, p + 3);
    return out;
}

typedef struct {
    const atk_spec *spec;
    double cx, cy, side; /* the reference face square in the working frame */
    int S;
    uint64_t seed;
} eot_sampler_ctx;

/* EOT-PGD's samples: K crops of one iteration (one JPEG quality for all of them), seeded by (seed, iteration). */
static void eot_sample(void *vctx, rs_affine *maps, int *kernels, int *jpeg, int K, int iter) {
    eot_sampler_ctx *c = vctx;
    df_rng rng;
    df_rng_seed(&rng, c->seed * 7919u + (uint64_t)iter * 104729u + 17u);
    for (int k = 0; k < K; k++) {
        atk_sample o;
        atk_draw(&o, c->spec, &rng);
        maps[k] = atk_map(&o, c->cx, c->cy, c->side, c->S);
        kernels[k] = o.kernel;
        if (k == 0) *jpeg = o.jpeg;
    }
}

/* Per-image: the delta of the protector on the working frame xw [3, h, w] (the photo at the models' scale; face
 * square (cx, cy) side S), into dw. */
static df_status attack_delta(eval_run *r, const eval_args *a, float *dw, const float *xw, int h, int w, double cx,
                              double cy, const float *src, const float *trg, int ntrg, long index) {
    int S = (int)a->size;
    size_t nw = (size_t)3 * h * w, ns = (size_t)3 * S * S;
    eval_protector *p = &r->prot;
    df_status s = DF_OK;
    memset(dw, 0, nw * sizeof(float));
    if (p->kind == EVAL_GEN && a->gen_margin <= 0) { /* Gen on the whole frame */
        float *xa = malloc(nw * sizeof(float));
        if (!xa) return df_fail(DF_ERR_NOMEM, "out of memory");
        s = gen_protect(p->gen, xa, xw, h, w, p->eps);
        for (size_t k = 0; !s && k < nw; k++) dw[k] = xa[k] - xw[k];
        free(xa);
        return s;
    }
    if (p->kind != EVAL_PGD && p->kind != EVAL_UNIVERSAL) return DF_OK; /* none / noise: made at full resolution */
    int R = S; /* the reference square */
    size_t nr = (size_t)3 * R * R;
    int x0 = (int)lround(cx - R / 2.0), y0 = (int)lround(cy - R / 2.0);
    float *xs = malloc(nr * sizeof(float)), *xa = malloc(nr * sizeof(float)), *ds = NULL;
    if (!xs || !xa) s = df_fail(DF_ERR_NOMEM, "out of memory");
    for (int c = 0; !s && c < 3; c++) /* the region at the models' scale (edge-clamped) */
        for (int y = 0; y < R; y++)
            for (int x = 0; x < R; x++) {
                int yy = y0 + y < 0 ? 0 : y0 + y >= h ? h - 1 : y0 + y, xx = x0 + x < 0 ? 0 : x0 + x >= w ? w - 1 : x0 + x;
                xs[((size_t)c * R + y) * R + x] = xw[((size_t)c * h + yy) * w + xx];
            }
    if (!s && p->kind == EVAL_UNIVERSAL) {
        if (p->dsize == S) memcpy(xa, p->delta, ns * sizeof(float));
        else s = rs_resize_planar(xa, S, S, p->delta, 3, p->dsize, p->dsize, RS_TRIANGLE_AA);
        ds = xa;
    } else if (!s && !r->eot) {
        /* plain PGD on the reference square at S, pasted into the frame */
        int K = p->n_pgd_models;
        pgd_model pm[EVAL_MAX_MODELS];
        for (int i = 0; i < K; i++) pm[i] = (pgd_model){p->pgd_models[i], src, trg, ntrg, NULL, 1.0f, NULL};
        pgd_opts po = p->pgd_opts;
        po.eps = p->eps;
        po.seed = (uint64_t)a->seed * 1000003u + (uint64_t)index;
        s = pgd_set_models(p->pgd, pm, K, 1);
        if (!s) s = pgd_attack(p->pgd, xa, xs, &po, NULL);
        for (size_t k = 0; !s && k < ns; k++) xa[k] -= xs[k];
        ds = xa;
    }
    if (ds)
        for (int c = 0; c < 3; c++)
            for (int y = 0; y < R; y++)
                for (int x = 0; x < R; x++)
                    if (y0 + y >= 0 && y0 + y < h && x0 + x >= 0 && x0 + x < w)
                        dw[((size_t)c * h + y0 + y) * w + x0 + x] = ds[((size_t)c * R + y) * R + x];
    if (!s && r->eot) {
        /* EOT-PGD on the whole frame through the attacker's pipeline (differentiable version) */
        int K = (int)a->eot_samples, nm = p->n_pgd_models + p->n_pgd_graphs;
        float *srck = malloc((size_t)K * ZOO_NATTR * sizeof(float)), *trgk = malloc((size_t)ntrg * K * ZOO_NATTR * sizeof(float));
        float *xadv = malloc(nw * sizeof(float));
        if (!srck || !trgk || !xadv) s = df_fail(DF_ERR_NOMEM, "out of memory");
        for (int k = 0; !s && k < K; k++) {
            memcpy(srck + (size_t)k * ZOO_NATTR, src, ZOO_NATTR * sizeof(float));
            for (int t = 0; t < ntrg; t++)
                memcpy(trgk + ((size_t)t * K + k) * ZOO_NATTR, trg + (size_t)t * ZOO_NATTR, ZOO_NATTR * sizeof(float));
        }
        pgd_model pm[EVAL_MAX_MODELS];
        for (int i = 0; i < p->n_pgd_models; i++) pm[i] = (pgd_model){p->pgd_models[i], srck, trgk, ntrg, NULL, 1.0f, NULL};
        for (int i = 0; i < p->n_pgd_graphs; i++)
            pm[p->n_pgd_models + i] = (pgd_model){NULL, NULL, NULL, 1, NULL, 1.0f, p->pgd_graphs[i]};
        pgd_opts po = p->pgd_opts;
        po.eps = p->eps;
        po.jpeg = 0;
        po.seed = (uint64_t)a->seed * 1000003u + (uint64_t)index;
        /* the attacker's crop of the face square (side S in this frame) at the attacked models' own side */
        int side = p->n_pgd_graphs ? graph_get_info(p->pgd_graphs[0])->size : S;
        eot_sampler_ctx sc = {&r->eot_spec, cx, cy, S, side, po.seed};
        if (!s) s = pgd_set_models(p->pgd, pm, nm, K);
        if (!s) s = pgd_eot_attack(p->pgd, xadv, xw, h, w, eot_sample, &sc, &po);
        for (size_t k = 0; !s && k < nw; k++) dw[k] = xadv[k] - xw[k];
        free(srck), free(trgk), free(xadv);
    }
    free(xs), free(xa);
    return s;
}

static df_status load_detector(blazeface **det, const char *path) {
    if (!path) return DF_OK;
    uint8_t *buf = NULL;
    size_t len = 0;
    df_status s = load_file(path, &buf, &len);
    if (!s && (s = blazeface_load(det, buf, len))) s = df_fail(s, "%s: %s", path, df_errmsg());
    free(buf);
    return s;
}

/* The attacker's face square on the photo it receives (site: after the site's downsize and JPEG), in the original
 * W x H photo's pixels: its own detector's best face; none found: the reference square stays. */
static df_status attacker_square(eval_run *r, const atk_site_photo *site, int W, int H, double *cx, double *cy,
                                 double *side) {
    bf_face faces[GF_MAX_FACES];
    int n = 0;
    bf_opts bo = bf_default_opts();
    df_status s = blazeface_detect(r->adet, site->rgb, site->w, site->h, 3, &bo, faces, GF_MAX_FACES, &n);
    if (!s && n > 0) {
        gf_square q = gf_square_from_face(&faces[0]);
        *cx = q.cx * W / site->w, *cy = q.cy * H / site->h, *side = q.side / site->scale;
        r->atk_found++;
    } else if (!s) {
        r->atk_missed++;
    }
    return s;
}

static df_status run_attack_eval(eval_run *r, const eval_args *a) {
    int S = (int)a->size, nc = a->nattack;
    int partition = !strcmp(a->split, "test") ? 2 : !strcmp(a->split, "val") ? 1 : !strcmp(a->split, "train") ? 0 : -1;
    atk_spec specs[MAX_CONDS];
    char canon[MAX_CONDS][200];
    for (int c = 0; c < nc; c++) {
        atk_parse(&specs[c], a->attack[c]); /* checked in parse_args */
        atk_format(&specs[c], canon[c], sizeof canon[c]);
        if (a->attacker_detector) /* the square it jitters is its own detection */
            snprintf(canon[c] + strlen(canon[c]), sizeof canon[c] - strlen(canon[c]), ",square=detector");
    }
    atk_parse(&r->eot_spec, a->eot_spec ? a->eot_spec : a->attack[0]);
    df_status s;
    if ((s = model_list_load(&r->models, &r->graphs, a->models)) || (s = data_open(&r->data, a->data, partition)) ||
        (s = setup_protector(r, a)) || (s = load_mobilenet(r, a)) || (s = load_classifier(r, a)))
        return s;
    if ((s = load_detector(&r->det, a->detector)) || (s = load_detector(&r->adet, a->attacker_detector))) return s;
    const char *names[EVAL_MAX_MODELS];
    for (int i = 0; i < r->models.n; i++) names[i] = r->models.name[i];
    for (int c = 0; c < nc; c++) {
        if ((s = eval_init(&r->acc[c], r->models.m, names, r->models.n, S, r->mn))) return s;
        r->nacc = c + 1;
        for (int g = 0; g < r->graphs.n; g++)
            if ((s = eval_add_graph(&r->acc[c], r->graphs.g[g], r->graphs.name[g]))) return s;
        r->acc[c].no_frechet = a->no_frechet;
        r->acc[c].no_perceptual = a->no_perceptual;
        if (r->data.ngroups >= 1 && eval_add_group_kind(&r->acc[c], "gender", gender_names, 2) < 0) return DF_ERR_ARG;
        if (r->data.ngroups >= 2 && eval_add_group_kind(&r->acc[c], "race", race_names, 5) < 0) return DF_ERR_ARG;
    }
    int n = a->n > 0 && a->n < r->data.n ? (int)a->n : r->data.n, nm = r->acc[0].nmodels;
    size_t ns = 3 * (size_t)S * S, ng = 0; /* ng: the largest imported model's view */
    for (int g = 0; g < r->graphs.n; g++) {
        size_t G = (size_t)graph_get_info(r->graphs.g[g])->size;
        ng = 3 * G * G > ng ? 3 * G * G : ng;
    }
    r->xc = malloc((ns > ng ? ns : ng) * sizeof(float));
    r->xac = malloc((ns > ng ? ns : ng) * sizeof(float));
    r->x = malloc(ns * sizeof(float));
    if (!r->xc || !r->xac || !r->x) return df_fail(DF_ERR_NOMEM, "out of memory");
    double t0 = cli_now();
    for (int j = 0; j < n; j++) {
        int i = (int)((long long)j * r->data.n / n);
        df_image img;
        if ((s = df_image_load(&img, r->data.path[i])) != DF_OK) return df_fail(s, "%s: %s", r->data.path[i], df_errmsg());
        if (a->photo_scale != 1.0) { /* a larger photo of the same face (e.g. 4x: a phone-sized face) */
            int UW = (int)lround(img.w * a->photo_scale), UH = (int)lround(img.h * a->photo_scale);
            uint8_t *up = malloc((size_t)UW * UH * 3);
            if (!up) s = df_fail(DF_ERR_NOMEM, "out of memory");
            else if ((s = rs_resize_u8(up, UW, UH, img.rgb, img.w, img.h, 3, 3, RS_BICUBIC_AA))) free(up);
            if (s) {
                df_image_free(&img);
                return s;
            }
            free(img.rgb);
            img.rgb = up, img.w = UW, img.h = UH;
        }
        int W = img.w, H = img.h, side = W < H ? W : H;
        double cx = W / 2.0, cy = H / 2.0, f = (double)S / side;
        int w = (int)lround(W * f), h = (int)lround(H * f);
        size_t nf = (size_t)3 * W * H, nw = (size_t)3 * w * h;
        float *xf = malloc(nf * sizeof(float)), *xaf = malloc(nf * sizeof(float)), *df = malloc(nf * sizeof(float));
        float *xw = malloc(nw * sizeof(float)), *dw = malloc(nw * sizeof(float));
        uint8_t *rgb_adv = malloc(nf);
        if (!xf || !xaf || !df || !xw || !dw || !rgb_adv) s = df_fail(DF_ERR_NOMEM, "out of memory");
        float src[ZOO_NATTR], trg[ZOO_NATTR * ZOO_NATTR];
        int ntrg = 0;
        double ms = 0;
        if (!s) {
            df_rgb8_to_planar(xf, img.rgb, W, H, 3);
            /* the models' view of the reference square, for attributes that are estimated */
            s = rs_crop_u8_planar(r->x, S, S, img.rgb, W, H, 3, cx - side / 2.0, cy - side / 2.0, side, side, RS_TRIANGLE_AA);
        }
        if (!s && r->models.n) { /* edits for the zoo models (imported models take no attributes) */
            if (r->data.attr) memcpy(src, r->data.attr + (size_t)i * ZOO_NATTR, sizeof src);
            else s = estimate_attrs(r, src, r->x, r->data.male[i]);
            ntrg = eval_targets(trg, src, j, (int)a->edits);
        }
        if (!s && r->prot.kind == EVAL_GEN && (r->det || a->whole_side != -2)) {
            /* dadfi protect itself (gf_protect_photo): squares from the detected faces, independent of the
             * attacker's reference square; no face found: the whole photo */
            double tp = cli_now();
            gf_photo_opts po = gf_photo_default_opts();
            gf_photo_result pr;
            po.eps = r->prot.eps, po.face_size = S;
            if (a->whole_side != -2) po.no_detect = 1, po.work_side = (int)a->whole_side; /* no face found */
            s = gf_protect_photo(r->prot.gen, r->det, rgb_adv, img.rgb, W, H, 3, &po, &pr, NULL, NULL);
            ms = (cli_now() - tp) * 1000.0;
            if (!s) {
                r->photos_faces += pr.nsq > 0, r->photos_whole += pr.nsq == 0, r->photos_fill += pr.fills;
                df_rgb8_to_planar(xaf, rgb_adv, W, H, 3);
            }
        } else if (!s && r->prot.kind == EVAL_GEN && a->gen_margin > 0) {
            /* the product's path (gen_faces.h): Gen on the face square at the models' scale */
            double tp = cli_now();
            gf_square q = {cx, cy, side * a->gen_margin};
            s = gf_protect_rgb8(r->prot.gen, rgb_adv, img.rgb, W, H, 3, r->prot.eps, &q, 1, S, GF_FEATHER, NULL, NULL);
            ms = (cli_now() - tp) * 1000.0;
            if (!s) df_rgb8_to_planar(xaf, rgb_adv, W, H, 3);
        } else if (!s) {
            double tp = cli_now();
            s = rs_resize_planar(xw, h, w, xf, 3, H, W, RS_AREA);
            if (!s) s = attack_delta(r, a, dw, xw, h, w, cx * f, cy * f, src, trg, ntrg, j);
            if (!s) s = rs_resize_planar(df, H, W, dw, 3, h, w, GF_UP_KERNEL); /* as the face path delivers Gen's delta */
            eval_protector *p = &r->prot;
            for (size_t k = 0; !s && k < nf; k++) {
                float d = df[k];
                if (p->kind == EVAL_NOISE) d = (2.0f * df_rng_uniform(&p->rng) - 1.0f) * p->eps;
                else if (p->kind == EVAL_SIGN_NOISE) d = df_rng_uniform(&p->rng) < 0.5f ? -p->eps : p->eps;
                else if (p->kind == EVAL_NONE) d = 0;
                d = d < -p->eps ? -p->eps : d > p->eps ? p->eps : d;
                float v = xf[k] + d;
                xaf[k] = v < -1 ? -1 : v > 1 ? 1 : v;
            }
            ms = (cli_now() - tp) * 1000.0;
            if (!s) {
                df_planar_to_rgb8(rgb_adv, xaf, W, H, 3);
                df_rgb8_to_planar(xaf, rgb_adv, W, H, 3);
            }
        }
        int groups[2] = {r->data.group[0][i], r->data.group[1][i]};
        for (int c = 0; !s && c < nc; c++) {
            df_rng rng;
            df_rng_seed(&rng, (uint64_t)a->seed * 2654435761u + (uint64_t)j * 40503u + (uint64_t)c * 977u);
            atk_sample o;
            atk_draw(&o, &specs[c], &rng);
            /* the site's downsize and JPEG once per photo and draw; every model's crop comes from them */
            atk_site_photo sc = {0}, sa = {0};
            s = atk_real_site_rgb8(&sc, img.rgb, W, H, &specs[c], &o);
            if (!s) s = atk_real_site_rgb8(&sa, rgb_adv, W, H, &specs[c], &o);
            double acx = cx, acy = cy, aside = side; /* the attacker's square before its jitter */
            if (!s && r->adet) s = attacker_square(r, &sa, W, H, &acx, &acy, &aside);
            if (!s) s = atk_real_crop(r->xc, S, &sc, W, H, acx, acy, aside, &o);
            if (!s) s = atk_real_crop(r->xac, S, &sa, W, H, acx, acy, aside, &o);
            if (!s) s = eval_add_protection_hw(&r->acc[c], xf, xaf, H, W, ms, r->xc, r->xac);
            if (!s && r->models.n) s = eval_measure(&r->acc[c], r->xc, r->xac, src, trg, ntrg, groups, NULL, NULL);
            /* imported models: the same draw (crop, site), resampled to each model's own side */
            for (int g = 0; !s && g < r->graphs.n; g++) {
                int gi = r->models.n + g, G = r->acc[c].m[gi].size;
                s = atk_real_crop(r->xc, G, &sc, W, H, acx, acy, aside, &o);
                if (!s) s = atk_real_crop(r->xac, G, &sa, W, H, acx, acy, aside, &o);
                if (!s) s = eval_measure_graph(&r->acc[c], gi, r->xc, r->xac, groups);
            }
            atk_site_photo_free(&sc), atk_site_photo_free(&sa);
        }
        free(xf), free(xaf), free(df), free(xw), free(dw), free(rgb_adv);
        df_image_free(&img);
        if (s) return s;
        if (!a->quiet && (j + 1 == n || (j + 1) % 10 == 0 || cli_now() - t0 < 10)) {
            double el = cli_now() - t0;
            char succ[256] = "";
            for (int m = 0, off = 0; m < nm && off < 200; m++)
                off += snprintf(succ + off, sizeof succ - off, " %s %.0f%%", r->acc[0].m[m].name,
                                100.0 * r->acc[0].m[m].success / (r->acc[0].m[m].n ? r->acc[0].m[m].n : 1));
            cli_progress("eval %s: %d/%d  %.2f s/image  ETA %.0f s  success (%s):%s", a->protector, j + 1, n,
                         el / (j + 1), el / (j + 1) * (n - j - 1), a->attack[0], succ);
        }
    }
    if (!a->quiet) cli_progress_done();
    if (r->det && !a->quiet)
        fprintf(stderr, "eval: --detector: faces found in %d of %d photos (the others protected whole); in %d one "
                        "face filled the photo (protected whole as its crop)\n",
                r->photos_faces, r->photos_faces + r->photos_whole, r->photos_fill);
    if (r->adet && !a->quiet)
        fprintf(stderr, "eval: --attacker-detector: the attacker found a face in %d of %d (photo, attack) pairs (the "
                        "others: the reference square)\n", r->atk_found, r->atk_found + r->atk_missed);
    for (int c = 0; c < nc; c++) {
        eval_info info = {a->protector, a->eps, 0, 0, a->data, r->data.attr ? a->split : "all", (int)a->edits, canon[c]};
        char *json = NULL, *path = attack_json_path(a->json, a->attack[c]);
        if (!path) return df_fail(DF_ERR_NOMEM, "out of memory");
        if (!(s = eval_finish(&r->acc[c])) && !(s = eval_json(&r->acc[c], &info, &json)))
            s = df_write_file_atomic(path, json, strlen(json));
        if (!s && !a->quiet) {
            fprintf(stderr, "[attack %s] ", a->attack[c]);
            summary(a, &r->acc[c], 0, path);
        }
        free(json);
        free(path);
        if (s) return s;
    }
    return DF_OK;
}

int cmd_eval(int argc, char **argv) {
    if (argc > 1 && !strcmp(argv[1], "chart")) return eval_chart_command(argc - 1, argv + 1);
    eval_args a;
    int rc = parse_args(&a, argc, argv);
    if (rc) return rc < 0 ? EXIT_OK : rc;
    eval_run r;
    memset(&r, 0, sizeof r);
    df_status s = a.nattack ? run_attack_eval(&r, &a) : run_eval(&r, &a);
    run_free(&r);
    if (s) return cli_runtime_error("eval", NULL); /* every message names its file or protector */
    return EXIT_OK;
}
