/* stb_image / stb_image_write configuration shared by core/image_stb.c (the one translation unit with the
 * implementations) and the code that calls them.  Only JPEG, PNG and BMP are compiled in; no stdio. */
#ifndef DF_STB_H
#define DF_STB_H

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
