/* Symmetric eigen-decomposition: Householder reduction to tridiagonal form, then the implicit QL
 * method with Wilkinson-style shifts (the EISPACK tred2/tql2 pair, as in the public-domain JAMA).
 *
 * Storage: the textbook algorithm works on V[r][c] and walks down columns; we keep V transposed,
 * V(r, c) = Z[c*n + r], so that every inner loop runs along a contiguous row of Z and the final
 * eigenvectors come out as rows.  For a symmetric input the transposed start is the same matrix. */
#include "linalg.h"

#include <math.h>

#define V(r, c) Z[(size_t)(c) * n + (r)]

/* Reduce V (symmetric) to tridiagonal form: diagonal in d, sub-diagonal in e[1..n-1] (e[0] = 0).
 * The Householder vectors are kept in V; with vectors != 0 they are accumulated into the orthogonal
 * transformation, so V holds Q with A = Q T Q^T. */
static void tred2(double *Z, double *d, double *e, int n, int vectors) {
    for (int j = 0; j < n; j++) d[j] = V(n - 1, j);
    for (int i = n - 1; i > 0; i--) {
        double scale = 0.0, h = 0.0;
        for (int k = 0; k < i; k++) scale += fabs(d[k]);
        if (scale == 0.0) {
            e[i] = d[i - 1];
            for (int j = 0; j < i; j++) {
                d[j] = V(i - 1, j);
                V(i, j) = 0.0;
                V(j, i) = 0.0;
            }
        } else {
            /* Householder vector u (in d) that zeroes row i left of the sub-diagonal */
            for (int k = 0; k < i; k++) {
                d[k] /= scale;
                h += d[k] * d[k];
            }
            double f = d[i - 1], g = sqrt(h);
            if (f > 0) g = -g;
            e[i] = scale * g;
            h -= f * g;
            d[i - 1] = f - g;
            for (int j = 0; j < i; j++) e[j] = 0.0;
            /* e = A u (lower triangle of the leading i x i block) */
            for (int j = 0; j < i; j++) {
                const double *col = &V(0, j);
                f = d[j];
                V(j, i) = f;
                g = e[j] + col[j] * f;
                for (int k = j + 1; k < i; k++) {
                    g += col[k] * d[k];
                    e[k] += col[k] * f;
                }
                e[j] = g;
            }
            f = 0.0;
            for (int j = 0; j < i; j++) {
                e[j] /= h;
                f += e[j] * d[j];
            }
            double hh = f / (h + h);
            for (int j = 0; j < i; j++) e[j] -= hh * d[j];
            /* A -= u e^T + e u^T */
            for (int j = 0; j < i; j++) {
                double *col = &V(0, j);
                f = d[j];
                g = e[j];
                for (int k = j; k < i; k++) col[k] -= f * e[k] + g * d[k];
                d[j] = V(i - 1, j);
                V(i, j) = 0.0;
            }
        }
        d[i] = h;
    }
    if (!vectors) {
        for (int j = 0; j < n; j++) d[j] = V(j, j);
        e[0] = 0.0;
        return;
    }
    /* accumulate the transformations into V */
    for (int i = 0; i < n - 1; i++) {
        V(n - 1, i) = V(i, i);
        V(i, i) = 1.0;
        double h = d[i + 1];
        double *u = &V(0, i + 1);
        if (h != 0.0) {
            for (int k = 0; k <= i; k++) d[k] = u[k] / h;
            for (int j = 0; j <= i; j++) {
                double *col = &V(0, j);
                double g = 0.0;
                for (int k = 0; k <= i; k++) g += u[k] * col[k];
                for (int k = 0; k <= i; k++) col[k] -= g * d[k];
            }
        }
        for (int k = 0; k <= i; k++) u[k] = 0.0;
    }
    for (int j = 0; j < n; j++) {
        d[j] = V(n - 1, j);
        V(n - 1, j) = 0.0;
    }
    V(n - 1, n - 1) = 1.0;
    e[0] = 0.0;
}

/* Implicit QL on the tridiagonal (d, e); rotations applied to V when vectors != 0. Returns 0 on success. */
static int tql2(double *Z, double *d, double *e, int n, int vectors) {
    for (int i = 1; i < n; i++) e[i - 1] = e[i];
    e[n - 1] = 0.0;
    const double eps = 0x1p-52;
    double f = 0.0, tst1 = 0.0;
    for (int l = 0; l < n; l++) {
        /* find a negligible sub-diagonal element e[m] (e[n-1] = 0 stops the search) */
        double t = fabs(d[l]) + fabs(e[l]);
        if (t > tst1) tst1 = t;
        int m = l;
        while (m < n - 1 && fabs(e[m]) > eps * tst1) m++;
        int iter = 0;
        while (m > l && fabs(e[l]) > eps * tst1) {
            if (++iter > 60) return 1;
            /* implicit shift from the leading 2x2 block */
            double g = d[l];
            double p = (d[l + 1] - g) / (2.0 * e[l]);
            double r = hypot(p, 1.0);
            if (p < 0) r = -r;
            d[l] = e[l] / (p + r);
            d[l + 1] = e[l] * (p + r);
            double dl1 = d[l + 1];
            double h = g - d[l];
            for (int i = l + 2; i < n; i++) d[i] -= h;
            f += h;
            /* QL sweep from m - 1 up to l */
            p = d[m];
            double c = 1.0, c2 = 1.0, c3 = 1.0, el1 = e[l + 1], s = 0.0, s2 = 0.0;
            for (int i = m - 1; i >= l; i--) {
                c3 = c2;
                c2 = c;
                s2 = s;
                g = c * e[i];
                h = c * p;
                r = hypot(p, e[i]);
                e[i + 1] = s * r;
                s = e[i] / r;
                c = p / r;
                p = c * d[i] - s * g;
                d[i + 1] = h + s * (c * g + s * d[i]);
                if (vectors) {
                    double *zi = &V(0, i), *zi1 = &V(0, i + 1);
                    for (int k = 0; k < n; k++) {
                        double hk = zi1[k];
                        zi1[k] = s * zi[k] + c * hk;
                        zi[k] = c * zi[k] - s * hk;
                    }
                }
            }
            p = -s * s2 * c3 * el1 * e[l] / dl1;
            e[l] = s * p;
            d[l] = c * p;
        }
        d[l] += f;
        e[l] = 0.0;
    }
    return 0;
}

df_status df_eigh(double *w, double *Z, double *e, int n, int vectors) {
    if (!w || !Z || !e || n < 1) return df_fail(DF_ERR_ARG, "eigh: bad arguments (n = %d)", n);
    for (int i = 0; i < n; i++)
        for (int j = i; j < n; j++)
            if (!isfinite(Z[(size_t)i * n + j])) return df_fail(DF_ERR_ARG, "eigh: non-finite entry (%d, %d)", i, j);
    tred2(Z, w, e, n, vectors);
    if (tql2(Z, w, e, n, vectors)) return df_fail(DF_ERR_UNSUPPORTED, "eigh: QL iteration did not converge");
    /* selection sort, ascending (moves whole eigenvector rows) */
    for (int i = 0; i < n - 1; i++) {
        int k = i;
        for (int j = i + 1; j < n; j++)
            if (w[j] < w[k]) k = j;
        if (k == i) continue;
        double p = w[i];
        w[i] = w[k];
        w[k] = p;
        if (vectors)
            for (int j = 0; j < n; j++) {
                p = V(j, i);
                V(j, i) = V(j, k);
                V(j, k) = p;
            }
    }
    return DF_OK;
}
