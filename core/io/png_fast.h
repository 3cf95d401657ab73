/* A fast lossless PNG encoder for 8-bit RGBA pixels in memory (the web page's downloadable file).
 *
 * Speed over size: each row gets one PNG filter (one for all rows, e.g. Up, the page's choice, or chosen per row:
 * the smallest sum of absolute filtered values, as libpng does), and the filtered bytes are compressed by Huffman coding alone plus runs of the
 * previous byte (deflate matches at distance 1), one dynamic-Huffman block per ~256 KB: no LZ77 search.  On
 * a 12 MP photo (4000 x 3000) the file is smaller than Chromium's canvas PNG (zlib, Sub, and RGBA) in a
 * quarter of the time.  The output is one
 * ordinary zlib stream (split over several IDAT chunks), decodable by any PNG reader.  An opaque photo (every
 * alpha 255) is written as RGB (colour type 2), otherwise RGBA (colour type 6, straight alpha): either way it
 * decodes to exactly the input pixels.
 *
 * Incremental: png_fast_next() encodes the next rows and hands back the file's next bytes, so a caller can stream
 * the file out (and report progress) without holding it all. */
#ifndef DF_PNG_FAST_H
#define DF_PNG_FAST_H

#include "df.h"

#ifdef __cplusplus
extern "C" {
#endif

typedef struct png_fast png_fast;

enum { PNG_FAST_ADAPTIVE = -1 }; /* filter argument: per-row choice; 0..4: that PNG filter on every row */

/* rgba: w*h*4 bytes, read (not copied) until png_fast_free.  channels: 0 (RGB if every alpha is 255, else
 * RGBA), 3 (alpha dropped) or 4. */
df_status png_fast_begin(png_fast **st, const uint8_t *rgba, int w, int h, int channels, int filter);
int png_fast_channels(const png_fast *st);
/* Encodes up to rows more rows (at least 1) and points *out / *len at the file's next bytes (valid until the next
 * call).  After the last row those bytes end the file; *rows_left is then 0. */
df_status png_fast_next(png_fast *st, int rows, const uint8_t **out, size_t *len, int *rows_left);
void png_fast_free(png_fast *st);

/* The whole file into a malloc'd buffer (native use, tests). */
df_status png_fast_encode(const uint8_t *rgba, int w, int h, int channels, int filter, uint8_t **out, size_t *len);

#ifdef __cplusplus
}
#endif
#endif
