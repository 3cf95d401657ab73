#define _POSIX_C_SOURCE 200809L
/* Status messages, arenas, parameter blocks and the random generator. */
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "df.h"

/* ------------------------------------------------------------------ status */
static _Thread_local char df_msg[512];

df_status df_fail(df_status code, const char *fmt, ...) {
    /* through a local buffer: callers may pass df_errmsg() itself to add context to the previous message */
    char tmp[sizeof df_msg];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(tmp, sizeof tmp, fmt, ap);
    va_end(ap);
    memcpy(df_msg, tmp, sizeof df_msg);
    return code;
}

const char *df_errmsg(void) { return df_msg; }

const char *df_status_name(df_status s) {
    switch (s) {
    case DF_OK: return "ok";
    case DF_ERR_ARG: return "invalid argument";
    case DF_ERR_NOMEM: return "out of memory";
    case DF_ERR_FORMAT: return "malformed input";
    case DF_ERR_IO: return "I/O error";
    case DF_ERR_UNSUPPORTED: return "unsupported";
    }
    return "unknown status";
}

/* ------------------------------------------------------------------ arena */
#define DF_ALIGN 64

void df_arena_plan(df_arena *a) {
    a->planning = 1;
    a->used = 0;
}

df_status df_arena_commit(df_arena *a) {
    size_t need = a->used;
    a->planning = 0;
    a->used = 0;
    if (need <= a->cap && a->base) return DF_OK;
    free(a->base);
    a->base = NULL;
    a->cap = 0;
    if (need == 0) return DF_OK;
    void *p = NULL;
    if (posix_memalign(&p, DF_ALIGN, need) != 0 || !p)
        return df_fail(DF_ERR_NOMEM, "arena: cannot allocate %zu bytes", need);
    a->base = p;
    a->cap = need;
    return DF_OK;
}

float *df_arena_floats(df_arena *a, size_t n) {
    size_t bytes = (n * sizeof(float) + DF_ALIGN - 1) & ~(size_t)(DF_ALIGN - 1);
    if (a->planning) {
        a->used += bytes;
        return NULL;
    }
    if (a->used + bytes > a->cap) return NULL; /* plan and use disagree: caller bug, reported as NULL */
    float *p = (float *)(a->base + a->used);
    a->used += bytes;
    return p;
}

void df_arena_reset(df_arena *a) { a->used = 0; }

void df_arena_free(df_arena *a) {
    free(a->base);
    memset(a, 0, sizeof *a);
}

/* ------------------------------------------------------------------ parameters */
int df_params_declare(df_params *p, const char *name, int ndim, const int *dims) {
    if (p->n >= DF_MAX_PARAMS) {
        df_fail(DF_ERR_ARG, "params: more than %d tensors", DF_MAX_PARAMS);
        return -1;
    }
    if (!name || strlen(name) >= DF_NAME_MAX || ndim < 1 || ndim > 4) {
        df_fail(DF_ERR_ARG, "params: bad declaration of '%s'", name ? name : "(null)");
        return -1;
    }
    df_param_info *t = &p->info[p->n];
    memset(t, 0, sizeof *t);
    strcpy(t->name, name);
    t->ndim = ndim;
    size_t count = 1;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] <= 0) {
            df_fail(DF_ERR_ARG, "params: '%s' has a non-positive dimension", name);
            return -1;
        }
        t->dims[i] = dims[i];
        count *= (size_t)dims[i];
    }
    /* keep each tensor 64-byte aligned inside the block */
    t->offset = p->total;
    t->count = count;
    p->total += (count + 15) & ~(size_t)15;
    return p->n++;
}

static float *df_alloc_floats(size_t n) {
    void *q = NULL;
    if (posix_memalign(&q, DF_ALIGN, (n ? n : 1) * sizeof(float)) != 0) return NULL;
    memset(q, 0, (n ? n : 1) * sizeof(float));
    return q;
}

df_status df_params_alloc(df_params *p, int training) {
    p->data = df_alloc_floats(p->total);
    if (training) {
        p->grad = df_alloc_floats(p->total);
        p->m = df_alloc_floats(p->total);
        p->v = df_alloc_floats(p->total);
    }
    if (!p->data || (training && (!p->grad || !p->m || !p->v))) {
        df_params_free(p);
        return df_fail(DF_ERR_NOMEM, "params: cannot allocate %zu floats", p->total);
    }
    return DF_OK;
}

void df_params_free(df_params *p) {
    free(p->data);
    free(p->grad);
    free(p->m);
    free(p->v);
    p->data = p->grad = p->m = p->v = NULL;
}

float *df_params_get(const df_params *p, int index) {
    if (index < 0 || index >= p->n || !p->data) return NULL;
    return p->data + p->info[index].offset;
}

int df_params_find(const df_params *p, const char *name) {
    for (int i = 0; i < p->n; i++)
        if (strcmp(p->info[i].name, name) == 0) return i;
    return -1;
}

void df_params_zero_grad(df_params *p) {
    if (p->grad) memset(p->grad, 0, p->total * sizeof(float));
}

/* ------------------------------------------------------------------ random: splitmix64 */
void df_rng_seed(df_rng *r, uint64_t seed) { r->s = seed * 0x9E3779B97F4A7C15ull + 0x1234567ull; }

static uint64_t df_rng_next(df_rng *r) {
    uint64_t z = (r->s += 0x9E3779B97F4A7C15ull);
    z = (z ^ (z >> 30)) * 0xBF58476D1CE4E5B9ull;
    z = (z ^ (z >> 27)) * 0x94D049BB133111EBull;
    return z ^ (z >> 31);
}

uint32_t df_rng_u32(df_rng *r) { return (uint32_t)(df_rng_next(r) >> 32); }

float df_rng_uniform(df_rng *r) { return (float)(df_rng_next(r) >> 40) * (1.0f / 16777216.0f); }

float df_rng_normal(df_rng *r) {
    double u1 = ((df_rng_next(r) >> 11) + 1.0) * (1.0 / 9007199254740993.0);
    double u2 = (df_rng_next(r) >> 11) * (1.0 / 9007199254740992.0);
    return (float)(sqrt(-2.0 * log(u1)) * cos(6.283185307179586 * u2));
}
