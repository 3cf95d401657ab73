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
#define MOBILENET_MAX_SIDE 1024     /* largest network input side */
#define MOBILENET_MAX_INPUT 16384   /* largest image side mobilenet_perceptual accepts (resized to fit) */
#define MOBILENET_PERCEPTUAL_LAYERS 5

typedef struct mobilenet mobilenet;

/* Parse a .dfw buffer (untrusted: every shape is checked) and fold batch norm. */
df_status mobilenet_load(mobilenet **m, const uint8_t *buf, size_t len);
void mobilenet_free(mobilenet *m);
/* Feature size (768 for alpha 0.75). */
int mobilenet_feature_dim(const mobilenet *m);

/* feat [B, D] = GAP of the last block for x [B, 3, S, S] in [-1, 1]; S a multiple of 32 in 32..1024.
 * Activation buffers are (re)allocated when B or S grows (they are kept between calls: not thread-safe). */
df_status mobilenet_features(mobilenet *m, float *feat, const float *x, int B, int S);
/* feat [D] for one image [3, H, W] of any size: bilinearly resized to 224 x 224 first (as FID resizes). */
df_status mobilenet_features_image(mobilenet *m, float *feat, const float *img, int H, int W);

/* LPIPS-style perceptual distance (Zhang et al. 2018, "lin" weights replaced by ones) between two images
 * x, y [3, H, W] in [-1, 1]: both go through the network as a batch of 2 up to conv_pw_11; at 5 taps - the
 * ReLU6 outputs of conv1 (stride 2, 24 channels for a = 0.75), conv_pw_1 (2, 48), conv_pw_3 (4, 96), conv_pw_5
 * (8, 192) and conv_pw_11 (16, 384) - every position's channel vector is divided by its L2 norm (+ 1e-10), and
 * the squared L2 distance of the two unit vectors (0..2 for these non-negative features; 2 - 2 cos) is
 * averaged over positions.  *dist = the mean of the 5 taps (LPIPS sums its layers: this is 1/5 of that sum);
 * layers [MOBILENET_PERCEPTUAL_LAYERS] (may be NULL) receive the taps' terms.  0 for identical images.
 * Resolution: native, because the protection's visibility is a matter of its fine texture at the photo's own
 * scale (resizing to 224 as mobilenet_features_image does would blur an upsampled crop and alias a large
 * photo's delta away).  Sides above MOBILENET_MAX_SIDE are first shrunk (aspect kept, antialiased triangle
 * filter) so the long side is MOBILENET_MAX_SIDE, sides below 32 are stretched to 32, and then the centred
 * window whose sides are the largest multiples of 32 is used (at most 31 rows and columns dropped, no
 * resampling).  mobilenet_perceptual_size gives those sizes: resized rh x rw, then the window ch x cw.
 * Cost: the first 23 of the 27 layers (86 % of a full pass) on 2 images of ch x cw: 2 x 0.28 G multiply-adds
 * at 224 x 224, proportional to the pixel count (about 1 s for a 896 x 896 pair on 2 cores).
 * Fails (DF_ERR_ARG) on NULL pointers, sides outside 1..MOBILENET_MAX_INPUT and non-finite pixels. */
df_status mobilenet_perceptual(mobilenet *m, double *dist, double *layers, const float *x, const float *y, int H, int W);
void mobilenet_perceptual_size(int H, int W, int *rh, int *rw, int *ch, int *cw);

#ifdef __cplusplus
}
#endif
#endif
