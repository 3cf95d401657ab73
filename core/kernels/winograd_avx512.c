/* Winograd F(4x4, 3x3) transform kernels (winograd_kern.h) compiled for AVX512. */
#include "winograd_kern.h"

WINO_KINFO(wino_kinfo_avx512)
