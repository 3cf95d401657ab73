/* Image files <-> float planes.  Decoding and encoding go through stb_image / stb_image_write.
 * Every input is untrusted: sizes are checked, nothing is written on failure, and writes are atomic
 * (temporary file in the same directory + rename). */
#ifndef DF_IMAGE_H
#define DF_IMAGE_H

#include "df.h"

#ifdef __cplusplus
extern "C" {
#endif

#define DF_IMAGE_MAX_PIXELS 100000000L /* 100 megapixels: decompression-bomb limit */

enum {
    DF_IMG_NOTE_ALPHA_DROPPED = 1,    /* the file had an alpha channel; it was ignored */
    DF_IMG_NOTE_GRAY_EXPANDED = 2,    /* grayscale input became RGB */
    DF_IMG_NOTE_EXIF_ROTATED = 4,     /* EXIF orientation != 1 was applied */
};

typedef struct {
    int w, h;          /* after EXIF orientation */
    uint8_t *rgb;      /* w*h*3, malloc'd, owned */
    int notes;         /* DF_IMG_NOTE_* flags, for the caller to report */
} df_image;

/* Decode JPEG/PNG/BMP bytes (EXIF orientation honoured for JPEG); other formats (WebP, GIF, TIFF, HEIF...) are
 * DF_ERR_UNSUPPORTED with the format named in the message. */
df_status df_image_decode(df_image *img, const uint8_t *buf, size_t len);
/* df_image_load's and df_image_save's error messages name the file already ("photo.jpg: image: ..."); callers
 * add their own context but not the path again. */
df_status df_image_load(df_image *img, const char *path);
void df_image_free(df_image *img);

typedef enum { DF_FMT_PNG = 0, DF_FMT_JPEG = 1 } df_image_format;
/* Encode to a malloc'd buffer. quality 1..100 (JPEG only). */
df_status df_image_encode(const uint8_t *rgb, int w, int h, df_image_format fmt, int quality,
                          uint8_t **out, size_t *outlen);
/* Atomic write (temp + rename). */
df_status df_image_save(const char *path, const uint8_t *rgb, int w, int h, df_image_format fmt, int quality);
/* Format from a file name's extension (.png, .jpg, .jpeg); DF_ERR_ARG if unknown. */
df_status df_image_format_from_path(const char *path, df_image_format *fmt);
/* Atomic write of arbitrary bytes. */
df_status df_write_file_atomic(const char *path, const void *data, size_t len);
/* Read a whole file (limit bytes at most) into a malloc'd buffer. */
df_status df_read_file(const char *path, size_t limit, uint8_t **out, size_t *outlen);

/* 8-bit interleaved RGB <-> float planar [3, H, W] in [-1, 1]. */
void df_rgb8_to_planar(float *out, const uint8_t *rgb, int w, int h, int stride_px /* 3 or 4 (RGBA) */);
void df_planar_to_rgb8(uint8_t *rgb, const float *in, int w, int h, int stride_px);

/* Shrink RGBA src (w x h, 8 bits a channel) by the whole factor f (1..16) into dst (RGBA, ceil(w / f) x
 * ceil(h / f)): each dst pixel is the rounded mean of its f x f block of src, (sum + n / 2) / n over the n pixels of
 * the block (fewer at the right and bottom edges), every channel alpha included.  Only dst pixels in the box
 * [vx0, vx1) x [vy0, vy1) of dst are written.  (The page's display views: web/views.mjs boxShrink is the same.) */
df_status df_box_shrink_rgba8(uint8_t *dst, const uint8_t *src, int w, int h, int f, int vx0, int vy0, int vx1,
                              int vy1);

/* Two RGBA photos of one size compared over RGB in the box [x0, x1) x [y0, y1) (clipped to the photo; pixels
 * elsewhere are taken as equal): the largest |a - b| (linf), the sum of squared differences (se), the pixels that
 * differ in any byte (changed) and the smallest box holding them ([x0, x1) x [y0, y1); x0 >= x1 when none).
 * (The page's comparison: web/views.mjs diffRGBA is the same.) */
typedef struct {
    int linf;
    double se;
    long changed;
    int x0, y0, x1, y1;
} df_diff;
df_status df_diff_rgba8(const uint8_t *a, const uint8_t *b, int w, int h, int x0, int y0, int x1, int y1,
                        df_diff *out);

#ifdef __cplusplus
}
#endif
#endif
