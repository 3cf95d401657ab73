/* SIMD dispatch: the one place that decides which kernel variant runs.
 * x86: AVX-512 (F+VL+BW+DQ with OS support for zmm state) > AVX2+FMA > scalar, detected once;
 * DF_ISA=scalar|avx2|avx512 in the environment lowers the choice.  wasm: SIMD128 when compiled
 * with -msimd128, else scalar.  Other targets: scalar. */
#include <stdatomic.h>
#include <stdlib.h>
#include <string.h>

#include "df.h"

#if defined(DF_X86) && (defined(__x86_64__) || defined(__i386__))
#include <cpuid.h>

static unsigned long long xgetbv0(void) {
    unsigned lo, hi;
    __asm__ volatile("xgetbv" : "=a"(lo), "=d"(hi) : "c"(0));
    return ((unsigned long long)hi << 32) | lo;
}

static df_isa detect(void) {
    unsigned a, b, c, d;
    if (!__get_cpuid(1, &a, &b, &c, &d)) return DF_ISA_SCALAR;
    int osxsave = (c >> 27) & 1, avx = (c >> 28) & 1, fma = (c >> 12) & 1;
    if (!osxsave || !avx) return DF_ISA_SCALAR;
    unsigned long long xcr0 = xgetbv0();
    if ((xcr0 & 0x6) != 0x6) return DF_ISA_SCALAR; /* OS saves xmm + ymm */
    if (__get_cpuid_max(0, NULL) < 7) return DF_ISA_SCALAR;
    __cpuid_count(7, 0, a, b, c, d);
    int avx2 = (b >> 5) & 1;
    int f = (b >> 16) & 1, dq = (b >> 17) & 1, bw = (b >> 30) & 1, vl = (b >> 31) & 1;
    if (f && dq && bw && vl && (xcr0 & 0xe6) == 0xe6 && fma && avx2) return DF_ISA_AVX512; /* opmask + zmm */
    if (avx2 && fma) return DF_ISA_AVX2;
    return DF_ISA_SCALAR;
}
#elif defined(__wasm_simd128__)
static df_isa detect(void) { return DF_ISA_WASM128; }
#else
static df_isa detect(void) { return DF_ISA_SCALAR; }
#endif

/* -1 = not yet detected.  Detection is idempotent, so racing first calls agree. */
static atomic_int isa_best = -1, isa_active = -1;

static int supported(df_isa best, df_isa isa) {
    if (isa == DF_ISA_SCALAR) return 1;
    if (isa == DF_ISA_WASM128 || best == DF_ISA_WASM128) return isa == best;
    return isa <= best;
}

static void init(void) {
    df_isa best = detect(), act = best;
    const char *env = getenv("DF_ISA");
    if (env && *env) {
        for (int i = DF_ISA_SCALAR; i <= DF_ISA_WASM128; i++)
            if (strcmp(env, df_isa_name((df_isa)i)) == 0 && supported(best, (df_isa)i)) act = (df_isa)i;
    }
    int expect = -1;
    atomic_compare_exchange_strong(&isa_active, &expect, (int)act);
    atomic_store(&isa_best, (int)best);
}

static df_isa load(atomic_int *v) {
    int x = atomic_load_explicit(v, memory_order_acquire);
    if (x < 0) {
        init();
        x = atomic_load(v);
    }
    return (df_isa)x;
}

df_isa df_isa_best(void) { return load(&isa_best); }
df_isa df_isa_active(void) { return load(&isa_active); }

df_status df_isa_force(df_isa isa) {
    df_isa best = df_isa_best();
    if ((int)isa < DF_ISA_SCALAR || (int)isa > DF_ISA_WASM128 || !supported(best, isa))
        return df_fail(DF_ERR_UNSUPPORTED, "ISA %s not supported here (best: %s)", df_isa_name(isa), df_isa_name(best));
    atomic_store(&isa_active, (int)isa);
    return DF_OK;
}

const char *df_isa_name(df_isa isa) {
    switch (isa) {
    case DF_ISA_SCALAR: return "scalar";
    case DF_ISA_AVX2: return "avx2";
    case DF_ISA_AVX512: return "avx512";
    case DF_ISA_WASM128: return "wasm128";
    }
    return "unknown";
}
