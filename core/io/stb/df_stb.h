/* stb_image / stb_image_write configuration shared by core/io/image_stb.c (the one translation unit with the
 * implementations) and the code that calls them.  Only JPEG, PNG and BMP are compiled in; no stdio.
 * Versions and the project's patches to the vendored files: core/io/stb/SOURCE.md.
 *
 * stb's asserts are checked failures, never aborts nor silence: STBI_ASSERT / STBIW_ASSERT call
 * df_stb_assert_failed, which, inside df_stb_guard, ends the guarded call at once (longjmp) and frees
 * everything stb allocated since the guard began (stb's allocations go through df_stb_malloc & co., which
 * track them while a guard is active, in plain malloc blocks: free() still matches what stb returns).
 * Outside a guard a failed assert is only counted (df_stb_assert_count) and stb goes on as with NDEBUG;
 * the library (core/io/image.c) calls stb only through df_stb_guard. */
#ifndef DF_STB_H
#define DF_STB_H

#include <stddef.h>

/* Runs fn(ctx).  Returns 0 when it ran to the end, -1 when an stb assert failed in it (then what stb had
 * allocated in it is freed, and df_stb_assert_where() names the assert).  Thread-safe (state is per thread).
 * A guard inside a guard only runs fn: an assert in it ends the outer one. */
int df_stb_guard(void (*fn)(void *ctx), void *ctx);
void df_stb_assert_failed(const char *file, int line);
const char *df_stb_assert_where(void); /* "stb_image.h:2140" for the last failed assert on this thread, or "" */
unsigned long df_stb_assert_count(void); /* failed stb asserts on this thread so far, guarded or not */
void *df_stb_malloc(size_t n);
void *df_stb_realloc(void *p, size_t n);
void df_stb_free(void *p);

#define STBI_ASSERT(x) ((x) ? (void)0 : df_stb_assert_failed(__FILE__, __LINE__))
#define STBIW_ASSERT(x) ((x) ? (void)0 : df_stb_assert_failed(__FILE__, __LINE__))
#define STBI_MALLOC(n) df_stb_malloc(n)
#define STBI_REALLOC(p, n) df_stb_realloc(p, n)
#define STBI_FREE(p) df_stb_free(p)
#define STBIW_MALLOC(n) df_stb_malloc(n)
#define STBIW_REALLOC(p, n) df_stb_realloc(p, n)
#define STBIW_FREE(p) df_stb_free(p)

#define STBI_NO_STDIO
#define STBI_ONLY_JPEG
#define STBI_ONLY_PNG
#define STBI_ONLY_BMP
#define STBI_NO_LINEAR
#define STBI_NO_HDR
#define STBI_MAX_DIMENSIONS (1 << 20) /* far above DF_IMAGE_MAX_PIXELS' useful shapes; checked again there */
#define STBI_WRITE_NO_STDIO
#include "stb_image.h"
#include "stb_image_write.h"

#endif
