/* Workspaces with a guard zone after them, for kernel tests: ws_alloc(n) fills n floats with NaN (a kernel that
 * reads before it writes shows up) and GUARD sentinel floats after them; ws_guard_ok says whether the kernel left
 * the sentinels alone.  Under AddressSanitizer the allocation is exact instead, so that reads past the workspace
 * are caught too. */
#ifndef DF_TEST_WS_GUARD_H
#define DF_TEST_WS_GUARD_H
#include <math.h>
#include <stdlib.h>

#if defined(__SANITIZE_ADDRESS__)
#define GUARD 0
#else
#define GUARD 64
#endif
static const float GUARD_VAL = 12345.5f;

static float *ws_alloc(size_t n) {
    float *ws = malloc(sizeof(float) * (n + GUARD));
    for (size_t i = 0; i < n; i++) ws[i] = NAN;
    for (int i = 0; i < GUARD; i++) ws[n + (size_t)i] = GUARD_VAL;
    return ws;
}

static int ws_guard_ok(const float *ws, size_t n) {
    for (int i = 0; i < GUARD; i++)
        if (ws[n + (size_t)i] != GUARD_VAL) return 0;
    return 1;
}
#endif
