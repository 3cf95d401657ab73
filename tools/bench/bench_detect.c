/* The face detector on whole photos, native: faces pasted at 3 % to 60 % of the short side of synthetic photos of
 * several sizes, each photo searched with blazeface_detect's defaults (the page's and the CLI's), found or not.
 *
 *   bench_detect DETECTOR.dfw FACE.jpg... [--sizes N]
 *
 * For each face photo (e.g. CelebA's 000004 000017 000019 000034 000036 from ../shared/data/celeba_subset/images),
 * the box the detector finds on the face photo itself is the reference; the face photo is then pasted, at widths
 * that make the face (~55 % of a CelebA photo's width) 3, 4, 6, 8, 10, 12, 14, 16, 18, 20, 25, 30, 40 and 60 % of
 * the short side, on a textured background of 4000x3000, 3000x4000, 2400x1800, 4032x2268, 3000x3000 and 1600x1200
 * pixels (the first N sizes; pastes taller than the photo are skipped: 78 photos per face).  A paste is found when a
 * detection's box centre lies in the pasted photo and the box is wider than 0.3 of it; the IoU of the best such box
 * with the reference box (scaled and moved with the paste) measures how well it is placed; every other detection
 * is counted as a false one.  Prints one line per photo and the totals (found, false detections, mean IoU, the
 * detector's time). */
#define _POSIX_C_SOURCE 200809L
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "blazeface.h"
#include "image.h"
#include "resample.h"

#include "bench_clock.h"
static double now(void) { return now_ms() / 1e3; }

int main(int argc, char **argv) {
    int nsizes = 6, nfaces = 0;
    const char *faces[64];
    for (int i = 2; i < argc; i++) {
        if (!strcmp(argv[i], "--sizes") && i + 1 < argc) nsizes = atoi(argv[++i]);
        else if (nfaces < 64) faces[nfaces++] = argv[i];
    }
    if (argc < 3 || nfaces == 0 || nsizes < 1 || nsizes > 6) {
        fprintf(stderr, "usage: bench_detect DETECTOR.dfw FACE.jpg... [--sizes 1..6]\n");
        return 2;
    }
    uint8_t *buf;
    size_t len;
    blazeface *m = NULL;
    if (df_read_file(argv[1], 1 << 26, &buf, &len) != DF_OK || blazeface_load(&m, buf, len) != DF_OK) {
        fprintf(stderr, "bench_detect: %s: %s\n", argv[1], df_errmsg());
        return 1;
    }
    free(buf);
    static const int sizes[6][2] = {{4000, 3000}, {3000, 4000}, {2400, 1800}, {4032, 2268}, {3000, 3000}, {1600, 1200}};
    static const double fr[] = {0.03, 0.04, 0.06, 0.08, 0.1, 0.12, 0.14, 0.16, 0.18, 0.2, 0.25, 0.3, 0.4, 0.6};
    const int nf = sizeof fr / sizeof *fr;
    double sum_iou = 0, tt = 0;
    int found = 0, total = 0, other = 0, low = 0;
    for (int si = 0; si < nsizes; si++) {
        int W = sizes[si][0], H = sizes[si][1], S = W < H ? W : H;
        uint8_t *rgb = malloc((size_t)W * H * 3);
        if (!rgb) return 1;
        for (int k = 0; k < nfaces; k++) {
            df_image face;
            if (df_image_load(&face, faces[k]) != DF_OK) {
                fprintf(stderr, "bench_detect: %s: %s\n", faces[k], df_errmsg());
                return 1;
            }
            bf_face rf[16];
            int rn = 0;
            bf_opts ro = bf_default_opts();
            if (blazeface_detect(m, face.rgb, face.w, face.h, 3, &ro, rf, 16, &rn) != DF_OK || rn < 1) {
                printf("%s: no face on the face photo itself, left out\n", faces[k]);
                df_image_free(&face);
                continue;
            }
            const char *name = strrchr(faces[k], '/') ? strrchr(faces[k], '/') + 1 : faces[k];
            for (int fi = 0; fi < nf; fi++) {
                for (size_t i = 0; i < (size_t)W * H; i++) {
                    int x = (int)(i % W), y = (int)(i / W);
                    rgb[3 * i] = (uint8_t)(90 + x % 50), rgb[3 * i + 1] = (uint8_t)(100 + y % 40);
                    rgb[3 * i + 2] = (uint8_t)(110 + (x * 7 + y * 3) % 30);
                }
                int pw = (int)(fr[fi] * S / 0.55), ph = pw * face.h / face.w;
                if (ph > H) continue;
                /* argument positions of the faces (k + 2) place them as the first measurements did */
                int ka = k + 2;
                int px = (int)((W - pw) * (0.13 + 0.7 * ((ka * 7 + fi * 3) % 10) / 10.0));
                int py = (int)((H - ph) * (0.1 + 0.8 * ((ka * 3 + fi * 5) % 10) / 10.0));
                uint8_t *r = malloc((size_t)pw * ph * 3);
                if (!r || rs_resize_u8(r, pw, ph, face.rgb, face.w, face.h, 3, 3, RS_TRIANGLE_AA) != DF_OK) return 1;
                for (int y = 0; y < ph; y++) memcpy(rgb + ((size_t)(py + y) * W + px) * 3, r + (size_t)y * pw * 3, (size_t)pw * 3);
                free(r);
                bf_face f[64];
                int n = 0;
                bf_opts o = bf_default_opts();
                double t0 = now();
                if (blazeface_detect(m, rgb, W, H, 3, &o, f, 64, &n) != DF_OK) {
                    fprintf(stderr, "bench_detect: %s\n", df_errmsg());
                    return 1;
                }
                tt += now() - t0;
                int ok = 0;
                double sc = (double)pw / face.w, best = 0;
                double rx0 = px + rf[0].x0 * sc, ry0 = py + rf[0].y0 * sc, rx1 = px + rf[0].x1 * sc, ry1 = py + rf[0].y1 * sc;
                for (int i = 0; i < n; i++) {
                    double cx = (f[i].x0 + f[i].x1) / 2, cy = (f[i].y0 + f[i].y1) / 2;
                    if (cx > px && cx < px + pw && cy > py && cy < py + ph && f[i].x1 - f[i].x0 > 0.3 * pw) {
                        ok++;
                        double ix = fmin(f[i].x1, rx1) - fmax(f[i].x0, rx0), iy = fmin(f[i].y1, ry1) - fmax(f[i].y0, ry0);
                        double u = ((double)f[i].x1 - f[i].x0) * ((double)f[i].y1 - f[i].y0) + (rx1 - rx0) * (ry1 - ry0) - ix * iy;
                        double v = ix > 0 && iy > 0 ? ix * iy / u : 0;
                        best = v > best ? v : best;
                    } else
                        other++;
                }
                total++, found += ok >= 1;
                sum_iou += best, low += best < 0.8;
                printf("%dx%d %s %.2f: %d faces, %d on the paste, IoU %.3f%s", W, H, name, fr[fi], n, ok, best,
                       ok ? "" : "  MISSED");
                for (int i = 0; i < n; i++) printf(" [%.1f %.1f %.1f %.1f %.3f]", f[i].x0, f[i].y0, f[i].x1, f[i].y1, f[i].score);
                printf("\n");
            }
            df_image_free(&face);
        }
        free(rgb);
    }
    printf("TOTAL found %d of %d, %d other detections, mean IoU with the face photo's own box %.3f, %d below 0.8, "
           "detector time %.1f s\n", found, total, other, total ? sum_iou / total : 0.0, low, tt);
    blazeface_free(m);
    return found == total ? 0 : 1;
}
