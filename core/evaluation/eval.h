/* Evaluation of protectors against zoo models and imported models (graph.h) (design notes "Metrics"; `dadfi
 * eval` drives it).
 *
 * Per image: the upload x_full [3, F, F] is protected (eval_protect), the caller applies the condition a
 * deepfake pipeline would (8-bit rounding, JPEG re-encoding, resizing to the models' size S) to the clean and
 * the protected upload alike, and eval_measure runs every model on both for the image's edits and accumulates
 * the disruption metrics; eval_add_protection accumulates the invisibility metrics of x_adv_full against
 * x_full (PSNR, SSIM, L-inf and, with a MobileNet, the LPIPS-style perceptual distance mobilenet_perceptual).
 * eval_finish computes the Frechet distances (MobileNet features of every G(x_adv) against every G(x), and of
 * x_adv against x) and eval_json writes the result (schema in tools/cli/cmd_eval.c's --help).
 * Imported image-to-image models (eval_add_graph: e.g. CartoonGAN) take no attributes and run at their own input
 * side: the caller hands each its own view of the clean and the protected photo (eval_measure_graph), one pair per
 * image; the same metrics, with the mask of where the clean output differs from the input.
 * No file I/O here: the command reads images and applies the JPEG codec.
 */
#ifndef DF_EVAL_H
#define DF_EVAL_H

#include "df.h"
#include "gen.h"
#include "metrics.h"
#include "mobilenet.h"
#include "graph.h"
#include "pgd.h"
#include "zoo.h"

#ifdef __cplusplus
extern "C" {
#endif

#define EVAL_MAX_MODELS 16
#define EVAL_MAX_GROUP_KINDS 2 /* e.g. gender, race */
#define EVAL_MAX_GROUP_VALUES 8

/* ------------------------------------------------------------------ protectors */
typedef enum { EVAL_NONE = 0, EVAL_NOISE, EVAL_SIGN_NOISE, EVAL_PGD, EVAL_UNIVERSAL, EVAL_GEN } eval_kind;
const char *eval_kind_name(eval_kind k); /* "none", "noise", "sign-noise", "pgd", "universal", "gen" */

typedef struct {
    eval_kind kind;
    float eps;
    gen_model *gen;              /* EVAL_GEN (borrowed): runs at the upload's size F */
    const float *delta;          /* EVAL_UNIVERSAL (borrowed): [3, dsize, dsize] */
    int dsize;
    pgd_ctx *pgd;                /* EVAL_PGD (borrowed): white-box per-image PGD on x at size S ... */
    pgd_opts pgd_opts;           /* ... with these options (eps is taken from .eps, the seed from rng) ... */
    zoo_model *const *pgd_models; /* ... against these models, all edits of the image at once */
    int n_pgd_models;
    graph_model *const *pgd_graphs; /* imported models EOT-PGD attacks (the CLI's eot-pgd only; eval_protect
                                     * ignores them) */
    int n_pgd_graphs;
    df_rng rng;                  /* noise draws and PGD seeds */
} eval_protector;

/* x_adv_full [3, F, F] from the upload x_full [3, F, F] and the same face at the models' size, x [3, S, S].
 * none: a copy; noise: U(-eps, eps) per element; sign-noise: +-eps per element; gen: Gen at size F; pgd and
 * universal: the delta is made at S (universal: resized to S if dsize != S) and bilinearly resized to F when
 * F != S.  The delta is clipped to [-eps, eps] at F and x_adv_full to [-1, 1].  src [5] and trg [ntrg, 5]: the
 * edits PGD attacks.  ws: scratch of eval_protect_workspace(F, S) floats. */
size_t eval_protect_workspace(int F, int S);
df_status eval_protect(eval_protector *p, float *x_adv_full, const float *x_full, int F, const float *x, int S,
                       const float *src, const float *trg, int ntrg, float *ws);

/* The edits measured on image number `index`: up to nedits (1..5) targets trg [nedits, 5], starting with
 * attribute index % 5 and skipping edits that would change nothing (a hair colour the face already has
 * alone).  Returns the number written. */
int eval_targets(float *trg, const float *src, int index, int nedits);

/* ------------------------------------------------------------------ accumulation */
typedef struct {
    char name[64];
    zoo_model *model;                 /* borrowed (a zoo model), or NULL and ... */
    graph_model *graph;               /* ... an imported model (borrowed) */
    int size;                         /* the side of the model's input (zoo: S) */
    long n, success;                  /* measured (image, edit) pairs */
    long cap;                         /* feature rows allocated */
    double d_pix, d_pix_rms, d_mask, d_mask_rms, l2, l2_mask; /* sums */
    long empty_masks;
    float *feat_clean, *feat_adv;     /* MobileNet features [n, D] of G(x) and G(x_adv) */
    double frechet;                   /* eval_finish; NAN if not computed */
    long group_n[EVAL_MAX_GROUP_KINDS][EVAL_MAX_GROUP_VALUES];
    long group_success[EVAL_MAX_GROUP_KINDS][EVAL_MAX_GROUP_VALUES];
} eval_model_acc;

typedef struct {
    int S;                            /* the models' input size */
    int nmodels;                      /* zoo models first (eval_init), then imported ones (eval_add_graph) */
    int nzoo;
    eval_model_acc m[EVAL_MAX_MODELS];
    mobilenet *mn;                    /* borrowed; NULL: no Frechet or perceptual distances */
    int no_frechet, no_perceptual;    /* set after eval_init to skip either use of mn (both 0 by default) */
    /* protection (x_adv_full against x_full) */
    long nimages, psnr_finite;
    double psnr, ssim, linf, linf_sum, ms;  /* psnr: sum over images with finite PSNR; linf: max */
    double perceptual;                /* sum of mobilenet_perceptual(x_full, x_adv_full) over nperceptual images */
    long nperceptual;
    float *feat_x, *feat_xadv;        /* MobileNet features of x and x_adv (the model view) */
    long nfeat_x, cap_x;
    double frechet_x;
    /* fairness groups (optional): kinds (e.g. "gender") with named values (e.g. "male") */
    int ngroup_kinds;
    char group_kind[EVAL_MAX_GROUP_KINDS][32];
    int ngroup_values[EVAL_MAX_GROUP_KINDS];
    char group_value[EVAL_MAX_GROUP_KINDS][EVAL_MAX_GROUP_VALUES][32];
    float *y;                         /* scratch: [2, 3, S, S] */
    float *yg;                        /* scratch: [2, 3, G, G], G the largest imported model's side */
} eval_acc;

/* models[i] named names[i] (copied; at most 63 bytes), all of input size S.  nmodels may be 0 when imported
 * models follow (eval_add_graph); eval_measure needs at least one model of either kind. */
df_status eval_init(eval_acc *a, zoo_model *const *models, const char *const *names, int nmodels, int S,
                    mobilenet *mn);
void eval_free(eval_acc *a);
/* One more target: the imported model g (borrowed) named name, at its input side (graph_get_info(g)->size); it
 * must map a 3-channel image to one of the same size.  After eval_init, before the first measurement. */
df_status eval_add_graph(eval_acc *a, graph_model *g, const char *name);
/* Run imported target i (index into a->m, >= a->nzoo) on its own view of the clean and the protected photo,
 * xc and xac [3, size, size], and accumulate one pair.  groups as for eval_measure. */
df_status eval_measure_graph(eval_acc *a, int i, const float *xc, const float *xac, const int *groups);
/* Declare a group kind with its value names (before the first eval_measure); returns its index or -1. */
int eval_add_group_kind(eval_acc *a, const char *kind, const char *const *values, int nvalues);

/* Run every zoo model on the conditioned clean face xc and protected face xac ([3, S, S]) for the edits src [5] ->
 * trg [ntrg, 5] and accumulate.  groups [ngroup_kinds] (NULL, or -1 entries: unknown).  If y_clean / y_adv are
 * non-NULL they receive [nmodels, 3, S, S]: every model's output for the first edit (for image grids). */
df_status eval_measure(eval_acc *a, const float *xc, const float *xac, const float *src, const float *trg, int ntrg,
                       const int *groups, float *y_clean, float *y_adv);
/* Invisibility of one protected upload [3, F, F] and the time its protection took.  xc, xac: the model view
 * [3, S, S] (for the Frechet distance of x_adv against x; may be NULL).  With a MobileNet (and !no_perceptual)
 * the perceptual distance of the upload itself: 2 MobileNet passes at its native size (mobilenet.h). */
df_status eval_add_protection(eval_acc *a, const float *x_full, const float *x_adv_full, int F, double ms,
                              const float *xc, const float *xac);
/* The same for a photo of H x W (the attacker-pipeline evaluation protects whole photos). */
df_status eval_add_protection_hw(eval_acc *a, const float *x_full, const float *x_adv_full, int H, int W, double ms,
                                 const float *xc, const float *xac);
/* Frechet distances (needs a MobileNet and >= 2 rows; otherwise they stay NAN). */
df_status eval_finish(eval_acc *a);

/* ------------------------------------------------------------------ JSON */
typedef struct {
    const char *protector;  /* as given on the command line, e.g. "gen:weights/gen.dfw" */
    double eps;
    int jpeg;               /* 0: none */
    double resize;          /* 0: none */
    const char *data, *split;
    int edits;
    const char *attack;     /* the attacker pipeline (attack.h spec, canonical text) or NULL */
} eval_info;
/* The result as JSON (NUL-terminated, malloc'd): schema in `dadfi eval --help`.  Non-finite numbers are
 * written as null. */
df_status eval_json(const eval_acc *a, const eval_info *info, char **out);

#ifdef __cplusplus
}
#endif
#endif
