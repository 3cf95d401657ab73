/* The paper's metrics (design notes "Metrics").  Images are float planar [3, H, W] in [-1, 1]. */
#ifndef DF_METRICS_H
#define DF_METRICS_H

#include "df.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DF_SUCCESS_THRESHOLD 0.05

typedef struct {
    double d_pix, d_pix_rms;     /* Eq. 19: sqrt(sum (a - b)^2), and / sqrt(n) */
    double d_mask, d_mask_rms;   /* Eq. 20: restricted to the mask; rms over masked elements (0 if empty) */
    double l2;                   /* mean squared error over all elements */
    double l2_mask;              /* masked squared error / (3 * mask pixels); 0 if the mask is empty */
    long mask_pixels;
    int success;                 /* l2_mask > 0.05 and mask not empty */
} df_disruption;

/* mask [H*W] (uint8 0/1): (sum over RGB |gx - x|) > 0.5  (CMUA-Watermark's rule). Returns mask pixel count. */
long df_cmua_mask(uint8_t *mask, const float *gx, const float *x, int H, int W);
/* g_adv = G(x_adv), g_clean = G(x), x = the clean input of G (for the mask). */
void df_disruption_measure(df_disruption *d, const float *g_adv, const float *g_clean, const float *x, int H, int W);

/* Protection invisibility: PSNR (peak-to-peak range 2 on [-1,1], i.e. the 0..255 PSNR), SSIM (11x11 Gaussian,
 * sigma 1.5, K1 0.01, K2 0.03, on [0,1]-scaled channels, mean over channels), L-inf. */
double df_psnr(const float *a, const float *b, size_t n);
double df_ssim(const float *a, const float *b, int C, int H, int W);
double df_linf(const float *a, const float *b, size_t n);

/* Frechet distance between two feature sets [n, d] (rows).  Matrix square root by eigen-decomposition. */
df_status df_frechet(double *out, const float *feat_a, int na, const float *feat_b, int nb, int d);

#ifdef __cplusplus
}
#endif
#endif
