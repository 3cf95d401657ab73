/* A small persistent thread pool: df_parallel_for splits [0, n) into one chunk per thread.
 * wasm (no pthreads in the default build) and DF_THREADS=1 run on the calling thread. */
#include <stdlib.h>

#include "df.h"

#if defined(__EMSCRIPTEN__) && !defined(__EMSCRIPTEN_PTHREADS__)
void df_set_threads(int n) { (void)n; }
int df_get_threads(void) { return 1; }
void df_parallel_for(int n, void (*fn)(void *, int, int), void *ctx) {
    if (n > 0) fn(ctx, 0, n);
}
#else
#include <pthread.h>
#include <unistd.h>

#define DF_MAX_THREADS 64

static struct {
    pthread_mutex_t mu;
    pthread_cond_t work, done;
    pthread_t tid[DF_MAX_THREADS];
    int nthreads;  /* total, including the caller */
    int started;   /* workers running */
    long gen;      /* job generation */
    int pending;   /* workers still busy with this generation */
    void (*fn)(void *, int, int);
    void *ctx;
    int n;
    int busy;      /* a parallel_for is running (nested calls go serial) */
} pool = {.mu = PTHREAD_MUTEX_INITIALIZER, .work = PTHREAD_COND_INITIALIZER, .done = PTHREAD_COND_INITIALIZER};

static void chunk(int n, int parts, int i, int *b, int *e) {
    *b = (int)((long)n * i / parts);
    *e = (int)((long)n * (i + 1) / parts);
}

static void *worker(void *arg) {
    int idx = (int)(long)arg;
    long seen = 0;
    pthread_mutex_lock(&pool.mu);
    for (;;) {
        while (pool.gen == seen) pthread_cond_wait(&pool.work, &pool.mu);
        seen = pool.gen;
        if (idx >= pool.nthreads) { /* shrunk: sit this one out */
            continue;
        }
        int b, e;
        chunk(pool.n, pool.nthreads, idx, &b, &e);
        void (*fn)(void *, int, int) = pool.fn;
        void *ctx = pool.ctx;
        pthread_mutex_unlock(&pool.mu);
        if (b < e) fn(ctx, b, e);
        pthread_mutex_lock(&pool.mu);
        if (--pool.pending == 0) pthread_cond_signal(&pool.done);
    }
    return NULL;
}

static int default_threads(void) {
    const char *env = getenv("DF_THREADS");
    if (env && atoi(env) > 0) return atoi(env);
    long c = sysconf(_SC_NPROCESSORS_ONLN);
    return c > 0 ? (int)c : 1;
}

void df_set_threads(int n) {
    if (n <= 0) n = default_threads();
    if (n > DF_MAX_THREADS) n = DF_MAX_THREADS;
    pthread_mutex_lock(&pool.mu);
    while (pool.started < n - 1) {
        if (pthread_create(&pool.tid[pool.started], NULL, worker, (void *)(long)(pool.started + 1)) != 0) break;
        pthread_detach(pool.tid[pool.started]);
        pool.started++;
    }
    pool.nthreads = pool.started + 1 < n ? pool.started + 1 : n;
    pthread_mutex_unlock(&pool.mu);
}

int df_get_threads(void) {
    if (pool.nthreads == 0) df_set_threads(0);
    return pool.nthreads;
}

void df_parallel_for(int n, void (*fn)(void *, int, int), void *ctx) {
    if (n <= 0) return;
    int nt = df_get_threads();
    pthread_mutex_lock(&pool.mu);
    if (nt <= 1 || n == 1 || pool.busy) {
        pthread_mutex_unlock(&pool.mu);
        fn(ctx, 0, n);
        return;
    }
    pool.busy = 1;
    pool.fn = fn;
    pool.ctx = ctx;
    pool.n = n;
    pool.pending = nt - 1;
    pool.gen++;
    pthread_cond_broadcast(&pool.work);
    pthread_mutex_unlock(&pool.mu);
    int b, e;
    chunk(n, nt, 0, &b, &e);
    if (b < e) fn(ctx, b, e);
    pthread_mutex_lock(&pool.mu);
    while (pool.pending > 0) pthread_cond_wait(&pool.done, &pool.mu);
    pool.busy = 0;
    pthread_mutex_unlock(&pool.mu);
}
#endif
