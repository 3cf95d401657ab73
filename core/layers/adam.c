/* Adam (paper Eq. 15-18) with bias correction, plus decoupled weight decay (AdamW) when
 * weight_decay > 0:
 *   m = b1 m + (1 - b1) g;  v = b2 v + (1 - b2) g^2;
 *   mhat = m / (1 - b1^t);  vhat = v / (1 - b2^t);
 *   p -= lr * (mhat / (sqrt(vhat) + eps) + weight_decay * p).
 * param, grad, m, v [n]; step t counts from 1. */
#include <math.h>

#include "df.h"

void df_adam_update(float *param, const float *grad, float *m, float *v, size_t n, const df_adam *cfg, long step) {
    if (step < 1) step = 1;
    float b1 = cfg->beta1, b2 = cfg->beta2, eps = cfg->eps;
    float c1 = (float)(1.0 / (1.0 - pow(b1, (double)step)));
    float c2 = (float)(1.0 / (1.0 - pow(b2, (double)step)));
    float lr = cfg->lr, decay = cfg->weight_decay > 0 ? 1.0f - cfg->lr * cfg->weight_decay : 1.0f;
    for (size_t i = 0; i < n; i++) {
        float g = grad[i];
        m[i] = b1 * m[i] + (1.0f - b1) * g;
        v[i] = b2 * v[i] + (1.0f - b2) * g * g;
        param[i] = param[i] * decay - lr * (m[i] * c1) / (sqrtf(v[i] * c2) + eps);
    }
}
