/* CelebA subset: labels.csv parsing, face crop + resize, and a reproducible batch loader (native only: reads files).
 *
 * Data directory layout: DIR/labels.csv ("file,identity,partition,<attributes...>", attributes 0/1, columns in
 * any order, the five zoo attributes required) and DIR/images/<file>.
 * Faces: StarGAN's preprocessing.  The aligned 178x218 CelebA photo is centre-cropped to 178x178 (any photo:
 * its centred square) and resized to S x S with an antialiased bilinear (triangle) filter, the one PIL and
 * torchvision use; values in [-1, 1], planar RGB.
 */
#ifndef DF_CELEBA_H
#define DF_CELEBA_H

#include "zoo.h"

#ifdef __cplusplus
extern "C" {
#endif

#define CELEBA_NAME_MAX 64
#define CELEBA_LABELS_MAX (64u << 20) /* labels.csv size limit (bytes) */

typedef struct {
    int n;                          /* rows selected */
    char (*file)[CELEBA_NAME_MAX];  /* image file names */
    int *identity, *partition;
    float *attr;                    /* [n, ZOO_NATTR] in {0, 1} */
    char *dir;                      /* the data directory (copy) */
} celeba_set;

/* Parse DIR/labels.csv and keep the rows of one partition (0 train, 1 val, 2 test; -1 all).  Every row is
 * checked (field count, safe file name, integers, 0/1 attributes); the first bad line is reported. */
df_status celeba_open(celeba_set *s, const char *dir, int partition);
/* Same from a labels.csv already in memory (tests, fuzzing); dir may be NULL (no image loading). */
df_status celeba_parse(celeba_set *s, const char *csv, size_t len, const char *dir, int partition);
void celeba_free(celeba_set *s);

/* rgb (w x h interleaved 8-bit) -> out [3, size, size] in [-1, 1]: centre square crop (if crop != 0; otherwise
 * the whole picture is resized, stretched if not square), antialiased bilinear resize, optional mirror. */
df_status celeba_prepare(float *out, int size, const uint8_t *rgb, int w, int h, int crop, int flip);
/* Load and prepare image i of the set. */
df_status celeba_load(const celeba_set *s, int i, float *out, int size, int flip);

/* Indices of batch `step` (B images) for an epoch-wise shuffle of n items seeded by seed: the same
 * (seed, step) always gives the same batch, so training resumes exactly. */
void celeba_batch_indices(int *idx, int n, int B, uint64_t seed, long step);
/* Load B images x [B,3,size,size] and attributes attr [B,5] (either may be NULL); flips[b] != 0 mirrors
 * image b (flips may be NULL). */
df_status celeba_load_batch(const celeba_set *s, const int *idx, int B, float *x, float *attr, int size,
                            const int *flips);

#ifdef __cplusplus
}
#endif
#endif
