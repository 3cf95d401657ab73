/* ImageNet MobileNet v1 (Howard et al. 2017), inference only: the feature extractor of the Frechet distance
 * (design notes "Metrics").  The weights are Keras' MobileNet (alpha 0.75, 224), converted from the tfjs layers
 * model by tools/convert_mobilenet.mjs into a .dfw; they are never part of the project.
 *
 *   conv3x3/s2 (3 -> 32a) BN ReLU6,
 *   13 x { depthwise conv3x3/s (C) BN ReLU6, conv1x1 (C -> C') BN ReLU6 }
 *        C' = a x 64, 128, 128, 256, 256, 512 (x6), 1024, 1024;  s = 1,2,1,2,1,2,1,1,1,1,1,2,1
 *   global average pool -> features [32a * 32] (768 for a = 0.75)
 * Padding is TensorFlow's "same": a stride-2 layer on an even size pads one row/column at the bottom/right
 * only.  Batch norm (eps from the file, Keras' 1e-3) is folded into the convolutions at load.
 * Input: [B, 3, S, S] RGB in [-1, 1] (= x/127.5 - 1, what the Keras model expects), S a multiple of 32; the
 * model was trained at S = 224.
 *
 * Weight file: meta "arch" = "mobilenet-v1", "alpha" (0.25 | 0.5 | 0.75 | 1), "bn_eps"; tensors named as in
 * Keras, in our OIHW layout: "conv1/kernel" [32a,3,3,3], "conv_dw_K/depthwise_kernel" [C,1,3,3],
 * "conv_pw_K/kernel" [C',C,1,1], and for each conv "<name>_bn/{gamma,beta,moving_mean,moving_variance}" [cout].
 */
#ifndef DF_MOBILENET_H
#define DF_MOBILENET_H

#include "df.h"

#ifdef __cplusplus
extern "C" {
#endif

#define MOBILENET_ARCH "mobilenet-v1"
#define MOBILENET_SIZE 224
#define MOBILENET_BLOCKS 13

typedef struct mobilenet mobilenet;

/* Parse a .dfw buffer (untrusted: every shape is checked) and fold batch norm. */
df_status mobilenet_load(mobilenet **m, const uint8_t *buf, size_t len);
void mobilenet_free(mobilenet *m);
/* Feature size (768 for alpha 0.75). */
int mobilenet_feature_dim(const mobilenet *m);

/* feat [B, D] = GAP of the last block for x [B, 3, S, S] in [-1, 1]; S a multiple of 32 in 32..1024.
 * Activation buffers are (re)allocated when B or S grows. */
df_status mobilenet_features(mobilenet *m, float *feat, const float *x, int B, int S);
/* feat [D] for one image [3, H, W] of any size: bilinearly resized to 224 x 224 first (as FID resizes). */
df_status mobilenet_features_image(mobilenet *m, float *feat, const float *img, int H, int W);

#ifdef __cplusplus
}
#endif
#endif
