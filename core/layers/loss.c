/* Losses.  Each returns the mean loss (accumulated in double) and, when grad != NULL, ADDS
 * scale * d(loss)/d(input) into grad. */
#include <math.h>

#include "df.h"

/* mean |x - t|; d/dx = sign(x - t) / n (0 at x == t) */
float df_l1_loss(float *grad, const float *x, const float *target, size_t n, float scale) {
    if (n == 0) return 0.0f;
    double s = 0;
    for (size_t i = 0; i < n; i++) s += fabs((double)x[i] - target[i]);
    if (grad) {
        float g = scale / (float)n;
        for (size_t i = 0; i < n; i++) {
            float d = x[i] - target[i];
            grad[i] += d > 0 ? g : (d < 0 ? -g : 0.0f);
        }
    }
    return (float)(s / n);
}

/* mean (x - t)^2; d/dx = 2 (x - t) / n */
float df_mse_loss(float *grad, const float *x, const float *target, size_t n, float scale) {
    if (n == 0) return 0.0f;
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)x[i] - target[i];
        s += d * d;
    }
    if (grad) {
        float g = 2.0f * scale / (float)n;
        for (size_t i = 0; i < n; i++) grad[i] += g * (x[i] - target[i]);
    }
    return (float)(s / n);
}

/* sum(mask * (x - t)^2) / max(1, sum(mask)); d/dx = 2 mask (x - t) / max(1, sum(mask)) */
float df_masked_mse_loss(float *grad, const float *x, const float *target, const float *mask, size_t n, float scale) {
    double s = 0, ms = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)x[i] - target[i];
        s += mask[i] * d * d;
        ms += mask[i];
    }
    double den = ms > 1.0 ? ms : 1.0;
    if (grad) {
        float g = (float)(2.0 * scale / den);
        for (size_t i = 0; i < n; i++) grad[i] += g * mask[i] * (x[i] - target[i]);
    }
    return (float)(s / den);
}

/* mean(max(z, 0) - z t + log(1 + exp(-|z|))) (stable BCE with logits); d/dz = (sigmoid(z) - t) / n */
float df_bce_logits_loss(float *grad, const float *logits, const float *target, size_t n, float scale) {
    if (n == 0) return 0.0f;
    double s = 0;
    float g = scale / (float)n;
    for (size_t i = 0; i < n; i++) {
        double z = logits[i], t = target[i];
        s += (z > 0 ? z : 0) - z * t + log1p(exp(-fabs(z)));
        if (grad) {
            double sig = z >= 0 ? 1.0 / (1.0 + exp(-z)) : exp(z) / (1.0 + exp(z));
            grad[i] += g * (float)(sig - t);
        }
    }
    return (float)(s / n);
}

/* mean (x - target)^2 with a scalar target */
float df_lsgan_loss(float *grad, const float *x, float target, size_t n, float scale) {
    if (n == 0) return 0.0f;
    double s = 0;
    for (size_t i = 0; i < n; i++) {
        double d = (double)x[i] - target;
        s += d * d;
    }
    if (grad) {
        float g = 2.0f * scale / (float)n;
        for (size_t i = 0; i < n; i++) grad[i] += g * (x[i] - target);
    }
    return (float)(s / n);
}

/* kind +1: mean relu(1 - x); kind -1: mean relu(1 + x); kind 0: mean(-x).
 * Subgradient 0 at the hinge kink. */
float df_hinge_gan_loss(float *grad, const float *x, int kind, size_t n, float scale) {
    if (n == 0) return 0.0f;
    double s = 0;
    float g = scale / (float)n;
    for (size_t i = 0; i < n; i++) {
        if (kind == 0) {
            s -= x[i];
            if (grad) grad[i] -= g;
        } else {
            float m = 1.0f - (float)kind * x[i]; /* margin term: 1 - x (real) or 1 + x (fake) */
            if (m > 0) {
                s += m;
                if (grad) grad[i] -= (float)kind * g;
            }
        }
    }
    return (float)(s / n);
}

/* Paper Eq. 4: delta [B, per_image]; mean over b of max(0, max_i |delta_b[i]| - eps).
 * Subgradient: where the hinge is active, sign(delta) / B at the first element attaining the max. */
float df_perturb_hinge_loss(float *grad, const float *delta, int B, size_t per_image, float eps, float scale) {
    if (B <= 0 || per_image == 0) return 0.0f;
    double s = 0;
    for (int b = 0; b < B; b++) {
        const float *d = delta + (size_t)b * per_image;
        size_t arg = 0;
        float m = fabsf(d[0]);
        for (size_t i = 1; i < per_image; i++)
            if (fabsf(d[i]) > m) {
                m = fabsf(d[i]);
                arg = i;
            }
        if (m > eps) {
            s += (double)m - eps;
            if (grad) grad[(size_t)b * per_image + arg] += (d[arg] > 0 ? 1.0f : -1.0f) * scale / (float)B;
        }
    }
    return (float)(s / B);
}
