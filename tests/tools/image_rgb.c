/* image_rgb PHOTO OUT.rgb: decode a photo with the project's decoder and write its pixels as raw 8-bit RGB rows;
 * prints "W H".  The JavaScript tests use it to get pixels of JPEG files (Node has no JPEG decoder). */
#include <stdio.h>

#include "image.h"

int main(int argc, char **argv) {
    if (argc != 3) {
        fprintf(stderr, "usage: image_rgb PHOTO OUT.rgb\n");
        return 2;
    }
    df_image img = {0};
    if (df_image_load(&img, argv[1]) != DF_OK ||
        df_write_file_atomic(argv[2], img.rgb, (size_t)img.w * img.h * 3) != DF_OK) {
        fprintf(stderr, "image_rgb: %s\n", df_errmsg());
        df_image_free(&img);
        return 1;
    }
    printf("%d %d\n", img.w, img.h);
    df_image_free(&img);
    return 0;
}
