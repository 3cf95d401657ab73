/* The ISAs this build and CPU can run, for kernel tests that compare every one (tests/test_*.c). */
#ifndef DF_TEST_ISAS_H
#define DF_TEST_ISAS_H

#include "df.h"

/* Fills isas[0 .. n) (scalar first) and returns n; leaves the last one forced: the caller forces what it needs. */
static inline int test_isas(df_isa isas[DF_ISA_WASM128 + 1]) {
    int n = 0;
    for (int i = DF_ISA_SCALAR; i <= DF_ISA_WASM128; i++)
        if (df_isa_force((df_isa)i) == DF_OK) isas[n++] = (df_isa)i;
    return n;
}

#endif
