/* Small dense linear algebra in double (used by the Frechet distance). */
#ifndef DF_LINALG_H
#define DF_LINALG_H

#include "df.h"

#ifdef __cplusplus
extern "C" {
#endif

/* Symmetric eigen-decomposition by Householder tridiagonalisation + implicit QL (EISPACK tred2/tql2).
 *   Z [n, n] row-major: on entry the symmetric matrix A (only its upper triangle, j >= i, is read);
 *     on return, if vectors != 0, row i holds the unit eigenvector of w[i], so A = Z^T diag(w) Z;
 *     with vectors == 0 its contents are destroyed (and the O(n^3) vector accumulation is skipped).
 *   w [n]: eigenvalues in ascending order.   e [n]: scratch.
 * Cost about 4/3 n^3 (values only) or 9 n^3 (with vectors) flops.
 * Fails (DF_ERR_ARG) on n < 1, NULL pointers or non-finite entries, DF_ERR_UNSUPPORTED if QL does not converge. */
df_status df_eigh(double *w, double *Z, double *e, int n, int vectors);

#ifdef __cplusplus
}
#endif
#endif
