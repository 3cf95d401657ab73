/* The stb_image and stb_image_write implementations (vendored in core/io/stb/, public domain / MIT), compiled
 * once with their warnings silenced, and the guard that turns stb's asserts into clean failures (df_stb.h).
 * Native builds only: the browser decodes images itself. */
#include <setjmp.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__clang__)
#pragma clang diagnostic push
#pragma clang diagnostic ignored "-Weverything"
#elif defined(__GNUC__)
#pragma GCC diagnostic push
#pragma GCC diagnostic ignored "-Wsign-compare"
#pragma GCC diagnostic ignored "-Wunused-function"
#pragma GCC diagnostic ignored "-Wunused-parameter"
#pragma GCC diagnostic ignored "-Wunused-variable"
#pragma GCC diagnostic ignored "-Wunused-but-set-variable"
#pragma GCC diagnostic ignored "-Wimplicit-fallthrough"
#pragma GCC diagnostic ignored "-Wtype-limits"
#pragma GCC diagnostic ignored "-Wmaybe-uninitialized"
#pragma GCC diagnostic ignored "-Wmisleading-indentation"
#pragma GCC diagnostic ignored "-Wshift-negative-value"
#pragma GCC diagnostic ignored "-Wstringop-overflow"
#pragma GCC diagnostic ignored "-Wdouble-promotion"
#endif

#define STB_IMAGE_IMPLEMENTATION
#define STB_IMAGE_WRITE_IMPLEMENTATION
#include "stb/df_stb.h"

#if defined(__clang__)
#pragma clang diagnostic pop
#elif defined(__GNUC__)
#pragma GCC diagnostic pop
#endif

/* ------------------------------------------------------------------ asserts and allocations (df_stb.h) */
/* The blocks stb allocated inside this thread's guard: a set of pointers (open addressing, linear probing,
 * tombstones), since stb_image_write's PNG compressor holds one block per hash bucket (up to 16384) and
 * reallocates them often. */
#define DF_TOMB ((void *)&tomb_mark)
static char tomb_mark;

typedef struct {
    void **slot;
    size_t cap, used, dead; /* cap: 0 or a power of two */
} ptr_set;

typedef struct {
    jmp_buf env;
} df_stb_guard_frame;

static _Thread_local df_stb_guard_frame *guard_top;
static _Thread_local ptr_set live;
static _Thread_local unsigned long assert_count;
static _Thread_local char assert_where[64];

static size_t ptr_hash(const void *p) {
    uint64_t x = (uint64_t)(uintptr_t)p;
    x ^= x >> 33;
    x *= 0xff51afd7ed558ccdULL;
    x ^= x >> 33;
    return (size_t)x;
}

/* room for one more pointer without growing; 0 when out of memory */
static int set_reserve(ptr_set *s) {
    if ((s->used + s->dead + 1) * 2 <= s->cap) return 1;
    size_t cap = 64;
    while (cap < (s->used + 1) * 4) cap *= 2;
    void **slot = calloc(cap, sizeof *slot);
    if (!slot) return 0;
    for (size_t i = 0; i < s->cap; i++) {
        void *p = s->slot[i];
        if (!p || p == DF_TOMB) continue;
        size_t j = ptr_hash(p) & (cap - 1);
        while (slot[j]) j = (j + 1) & (cap - 1);
        slot[j] = p;
    }
    free(s->slot);
    s->slot = slot;
    s->cap = cap;
    s->dead = 0;
    return 1;
}

static void set_add(ptr_set *s, void *p) { /* after set_reserve */
    size_t j = ptr_hash(p) & (s->cap - 1);
    while (s->slot[j] && s->slot[j] != DF_TOMB) j = (j + 1) & (s->cap - 1);
    if (s->slot[j] == DF_TOMB) s->dead--;
    s->slot[j] = p;
    s->used++;
}

static void set_remove(ptr_set *s, const void *p) {
    if (!s->cap) return;
    for (size_t j = ptr_hash(p) & (s->cap - 1); s->slot[j]; j = (j + 1) & (s->cap - 1))
        if (s->slot[j] == p) {
            s->slot[j] = DF_TOMB;
            s->used--;
            s->dead++;
            return;
        }
}

static void set_clear(ptr_set *s, int free_blocks) {
    for (size_t i = 0; free_blocks && i < s->cap; i++)
        if (s->slot[i] && s->slot[i] != DF_TOMB) free(s->slot[i]);
    free(s->slot);
    memset(s, 0, sizeof *s);
}

void *df_stb_malloc(size_t n) {
    if (!guard_top) return malloc(n);
    if (!set_reserve(&live)) return NULL;
    void *p = malloc(n);
    if (p) set_add(&live, p);
    return p;
}

void *df_stb_realloc(void *p, size_t n) {
    if (!guard_top) return realloc(p, n);
    if (!p) return df_stb_malloc(n);
    if (!set_reserve(&live)) return NULL; /* p stays valid (and tracked) */
    set_remove(&live, p); /* before realloc: p's value is indeterminate once it succeeds */
    void *q = realloc(p, n);
    set_add(&live, q ? q : p);
    return q;
}

void df_stb_free(void *p) {
    if (!p) return;
    if (guard_top) set_remove(&live, p);
    free(p);
}

void df_stb_assert_failed(const char *file, int line) {
    const char *base = file ? strrchr(file, '/') : NULL;
    snprintf(assert_where, sizeof assert_where, "%s:%d", base ? base + 1 : file ? file : "stb", line);
    assert_count++;
    if (guard_top) longjmp(guard_top->env, 1);
    /* no guard: go on as stb does with NDEBUG (the library never gets here: core/io/image.c guards every call) */
}

int df_stb_guard(void (*fn)(void *ctx), void *ctx) {
    if (guard_top) { /* inside a guard already: that one catches an assert in fn */
        fn(ctx);
        return 0;
    }
    df_stb_guard_frame g;
    guard_top = &g;
    if (setjmp(g.env)) {
        guard_top = NULL;
        set_clear(&live, 1); /* everything stb allocated in fn and had not freed */
        return -1;
    }
    fn(ctx);
    guard_top = NULL;
    set_clear(&live, 0); /* what stb returned now belongs to the caller (plain malloc blocks, freed with free()) */
    return 0;
}

const char *df_stb_assert_where(void) { return assert_where; }
unsigned long df_stb_assert_count(void) { return assert_count; }
