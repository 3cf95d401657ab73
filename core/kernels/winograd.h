/* Winograd F(4x4, 3x3) convolution (winograd.c): 3x3, stride 1, one group.  Private to the kernels
 * (conv.c dispatches to it) and their tests. */
#ifndef DF_WINOGRAD_H
#define DF_WINOGRAD_H

#include "df.h"

/* out [K, OH, OW] = beta * out + bias + sum over c, ky, kx of w'[k, c, ky, kx] * xpad[c, oy + ky, ox + kx]
 * with xpad = x [C, H, W] padded by ph rows above and pw columns left (zero or reflect, DF_PAD_*; rows and
 * columns below and right as far as the output needs), and
 *   flip == 0: w' = weight [K, C, 3, 3] (a forward),
 *   flip != 0: w'[k, c, ky, kx] = weight[c, k, 2 - ky, 2 - kx], weight [C, K, 3, 3] (an input gradient:
 *              the convolution of dY with the flipped, transposed kernel).
 * beta == 0: out is not read; bias [K] or NULL. */
typedef struct {
    int C, H, W, K, OH, OW, ph, pw, mode, flip;
} df_wino;

size_t df_winograd_workspace(const df_wino *s); /* floats */
/* B images: x [B, C, H, W] -> out [B, K, OH, OW] (the weights are transformed once for all of them). */
void df_winograd_conv3x3(float *out, const float *x, const float *weight, const float *bias, const df_wino *s, int B,
                         float beta, float *ws);

/* Whether the convolutions (conv.c: forward and input gradient of df_conv2d, and of df_convT's stride-1
 * case) take the Winograd path for this layer and input size, unless it is off: groups 1, 3x3, stride 1, and
 * (mode 1) enough channels and pixels (the gate in winograd.c).  The workspace sizes count it even when off. */
int df_winograd_fits(const df_conv *c, int H, int W);

/* Mode 1 (the default): the gate; 0: off; 2: every convolution of a fitting shape, whatever its size (tests).
 * DF_WINOGRAD=0|1|2 in the environment sets it, df_winograd_enable(mode) too: before workspaces are sized (a
 * workspace sized in mode 0 or 1 may be too small for mode 2).  df_winograd_calls counts the convolutions
 * (images) that went through the path. */
void df_winograd_enable(int mode);
int df_winograd_enabled(void); /* the mode */
unsigned long df_winograd_calls(void);

#endif
