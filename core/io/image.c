/* Image files (native only): format sniffing, the structure checks stb_image does not make (PNG chunk
 * CRCs, the JPEG end-of-image marker, the BMP pixel-array size: stb decodes truncated JPEG/BMP files
 * silently and ignores PNG CRCs), the pixel limit before any allocation, EXIF orientation, encoding,
 * and atomic file writes (temporary file in the same directory, fsync, rename). */
#define _XOPEN_SOURCE 700
#include "image.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <unistd.h>

#include "dfw.h" /* df_crc32: the PNG CRC is the same CRC-32 */
#include "stb/df_stb.h"

#define DF_IMAGE_MAX_FILE ((size_t)1 << 30) /* df_image_load reads at most 1 GiB */

static uint32_t be16(const uint8_t *p) { return (uint32_t)p[0] << 8 | p[1]; }
static uint32_t be32(const uint8_t *p) { return be16(p) << 16 | be16(p + 2); }
static uint32_t le16(const uint8_t *p) { return (uint32_t)p[1] << 8 | p[0]; }
static uint32_t le32(const uint8_t *p) { return le16(p + 2) << 16 | le16(p); }

/* ------------------------------------------------------------------ format sniffing */
typedef enum { IMG_OTHER, IMG_JPEG, IMG_PNG, IMG_BMP } img_kind;
static const char *kind_name[] = {"image", "JPEG", "PNG", "BMP"};

static img_kind sniff(const uint8_t *b, size_t n) {
    if (n >= 3 && b[0] == 0xFF && b[1] == 0xD8 && b[2] == 0xFF) return IMG_JPEG;
    if (n >= 8 && memcmp(b, "\x89PNG\r\n\x1a\n", 8) == 0) return IMG_PNG;
    if (n >= 2 && b[0] == 'B' && b[1] == 'M') return IMG_BMP;
    return IMG_OTHER;
}

/* A name for the usual formats we refuse, for the error message. */
static const char *other_name(const uint8_t *b, size_t n) {
    if (n >= 4 && memcmp(b, "GIF8", 4) == 0) return "GIF";
    if (n >= 12 && memcmp(b, "RIFF", 4) == 0 && memcmp(b + 8, "WEBP", 4) == 0) return "WebP";
    if (n >= 4 && (memcmp(b, "II*\0", 4) == 0 || memcmp(b, "MM\0*", 4) == 0)) return "TIFF";
    if (n >= 12 && memcmp(b + 4, "ftyp", 4) == 0) return "HEIF/AVIF/MP4";
    if (n >= 4 && memcmp(b, "8BPS", 4) == 0) return "PSD";
    return "unknown";
}

/* ------------------------------------------------------------------ structure checks
 * Each reads the dimensions from the header and checks the pixel limit as soon as it knows them, so a
 * header claiming a huge image is refused before anything else (and long before stb allocates). */
static df_status check_size(img_kind k, uint64_t w, uint64_t h) {
    if (w == 0 || h == 0)
        return df_fail(DF_ERR_FORMAT, "image: %s has no pixels (%llux%llu)", kind_name[k], (unsigned long long)w,
                       (unsigned long long)h);
    if (w > (uint64_t)DF_IMAGE_MAX_PIXELS || h > (uint64_t)DF_IMAGE_MAX_PIXELS || w * h > (uint64_t)DF_IMAGE_MAX_PIXELS)
        return df_fail(DF_ERR_NOMEM, "image: %llux%llu %s exceeds the limit of %ld pixels", (unsigned long long)w,
                       (unsigned long long)h, kind_name[k], DF_IMAGE_MAX_PIXELS);
    return DF_OK;
}

static int printable4(const uint8_t *t) {
    for (int i = 0; i < 4; i++)
        if (t[i] < 0x21 || t[i] > 0x7e) return 0;
    return 1;
}

/* IHDR first (size checked at once), every chunk inside the buffer with a matching CRC, up to IEND. */
static df_status png_check(const uint8_t *b, size_t n) {
    if (n >= 24 && be32(b + 8) == 13 && memcmp(b + 12, "IHDR", 4) == 0) {
        df_status st = check_size(IMG_PNG, be32(b + 16), be32(b + 20));
        if (st) return st;
    }
    for (size_t pos = 8;;) {
        if (n - pos < 12) return df_fail(DF_ERR_FORMAT, "image: truncated PNG (no IEND chunk; file ends at byte %zu)", n);
        uint32_t clen = be32(b + pos);
        const uint8_t *type = b + pos + 4;
        const char *tn = printable4(type) ? (const char *)type : "????";
        if (clen > n - pos - 12)
            return df_fail(DF_ERR_FORMAT, "image: truncated PNG (chunk '%.4s' at byte %zu needs %u bytes, %zu left)", tn,
                           pos, clen, n - pos - 12);
        if (pos == 8 && memcmp(type, "IHDR", 4) != 0)
            return df_fail(DF_ERR_FORMAT, "image: corrupt PNG (first chunk is '%.4s', not IHDR)", tn);
        if (df_crc32(type, (size_t)clen + 4) != be32(type + 4 + clen))
            return df_fail(DF_ERR_FORMAT, "image: corrupt PNG (CRC mismatch in chunk '%.4s' at byte %zu)", tn, pos);
        if (memcmp(type, "IEND", 4) == 0) return DF_OK;
        pos += 12 + (size_t)clen;
    }
}

/* EXIF APP1 payload ("Exif\0\0" + TIFF): IFD0 tag 0x0112 (SHORT) -> 1..8; anything malformed -> 1. */
static int exif_orientation(const uint8_t *p, size_t n) {
    if (n < 14 || memcmp(p, "Exif\0\0", 6) != 0) return 1;
    const uint8_t *t = p + 6;
    size_t tn = n - 6;
    int le = t[0] == 'I' && t[1] == 'I';
    if (!le && !(t[0] == 'M' && t[1] == 'M')) return 1;
    uint32_t (*r16)(const uint8_t *) = le ? le16 : be16;
    uint32_t (*r32)(const uint8_t *) = le ? le32 : be32;
    uint32_t ifd = r32(t + 4);
    if (r16(t + 2) != 42 || ifd > tn || tn - ifd < 2) return 1;
    uint32_t count = r16(t + ifd);
    if ((tn - ifd - 2) / 12 < count) return 1;
    for (uint32_t i = 0; i < count; i++) {
        const uint8_t *e = t + ifd + 2 + 12 * (size_t)i;
        if (r16(e) != 0x0112) continue;
        uint32_t v = r16(e + 8);
        return r16(e + 2) == 3 && r32(e + 4) >= 1 && v >= 1 && v <= 8 ? (int)v : 1;
    }
    return 1;
}

/* Walk the markers up to the end-of-image marker; note the first EXIF orientation on the way. */
static df_status jpeg_scan(const uint8_t *b, size_t n, int *orientation) {
    int in_scan = 0, exif_seen = 0, frame_seen = 0;
    *orientation = 1;
    size_t pos = 2;
    while (pos + 1 < n) {
        if (in_scan) { /* entropy-coded data: skip stuffed 0xFF00, restart markers and fill bytes */
            const uint8_t *ff = memchr(b + pos, 0xFF, n - pos);
            if (!ff || (size_t)(ff - b) + 1 >= n) break;
            pos = (size_t)(ff - b);
            uint8_t m = b[pos + 1];
            if (m == 0x00 || (m >= 0xD0 && m <= 0xD7) || m == 0xFF) {
                pos += m == 0xFF ? 1 : 2;
                continue;
            }
            in_scan = 0;
        }
        if (b[pos] != 0xFF || b[pos + 1] == 0xFF) { /* stray bytes and fill before a marker are tolerated */
            pos++;
            continue;
        }
        uint8_t m = b[pos + 1];
        if (m == 0xD9) {
            if (!frame_seen) return df_fail(DF_ERR_FORMAT, "image: corrupt JPEG (no frame header)");
            return DF_OK;
        }
        if (m == 0x00 || m == 0x01 || (m >= 0xD0 && m <= 0xD8)) { /* no length field */
            pos += 2;
            continue;
        }
        if (n - pos < 4) break;
        size_t seg = be16(b + pos + 2);
        if (seg < 2) return df_fail(DF_ERR_FORMAT, "image: corrupt JPEG (segment length %zu at byte %zu)", seg, pos);
        if (seg > n - pos - 2) break;
        int sof = m >= 0xC0 && m <= 0xCF && m != 0xC4 && m != 0xC8 && m != 0xCC;
        if (sof && !frame_seen && seg >= 7) { /* SOFn: precision, height, width */
            frame_seen = 1;
            df_status st = check_size(IMG_JPEG, be16(b + pos + 7), be16(b + pos + 5));
            if (st) return st;
        }
        if (m == 0xE1 && !exif_seen && seg >= 8 && memcmp(b + pos + 4, "Exif\0\0", 6) == 0) {
            exif_seen = 1;
            *orientation = exif_orientation(b + pos + 4, seg - 2);
        }
        in_scan = m == 0xDA;
        pos += 2 + seg;
    }
    return df_fail(DF_ERR_FORMAT, "image: truncated JPEG (no end-of-image marker in %zu bytes)", n);
}

/* Uncompressed BMP: the pixel array must fit in the file (stb reads zeros past the end). */
static df_status bmp_check(const uint8_t *b, size_t n) {
    if (n < 26) return df_fail(DF_ERR_FORMAT, "image: truncated BMP header");
    uint32_t off = le32(b + 10), hsz = le32(b + 14), bpp, comp = 0;
    int64_t w, h;
    if (hsz == 12) {
        w = le16(b + 18), h = le16(b + 20), bpp = le16(b + 24);
    } else {
        if (n < 34) return df_fail(DF_ERR_FORMAT, "image: truncated BMP header");
        w = (int32_t)le32(b + 18), h = (int32_t)le32(b + 22), bpp = le16(b + 28), comp = le32(b + 30);
    }
    if (h < 0) h = -h; /* top-down rows */
    if (w < 0) return df_fail(DF_ERR_FORMAT, "image: corrupt BMP (width %lld)", (long long)w);
    df_status st = check_size(IMG_BMP, (uint64_t)w, (uint64_t)h);
    if (st) return st;
    if (comp != 0 && comp != 3) /* stb reads BI_RGB and BI_BITFIELDS (and misreads compression >= 2^31) */
        return df_fail(DF_ERR_UNSUPPORTED, "image: BMP compression %u is not supported (uncompressed only)", comp);
    if (bpp != 1 && bpp != 4 && bpp != 8 && bpp != 16 && bpp != 24 && bpp != 32)
        return df_fail(DF_ERR_FORMAT, "image: corrupt BMP (%u bits per pixel)", bpp);
    uint64_t row = ((uint64_t)w * bpp + 31) / 32 * 4, need = (uint64_t)off + row * (uint64_t)h;
    if (need > n)
        return df_fail(DF_ERR_FORMAT, "image: truncated BMP (%zu bytes, the pixels need %llu)", n,
                       (unsigned long long)need);
    return DF_OK;
}

/* ------------------------------------------------------------------ EXIF orientation
 * Display pixel (x, y) comes from stored pixel (sx, sy) = (a x + b y + c, d x + e y + f); orientations
 * 5..8 swap width and height.  Row o: {a, b, c is w-1?, d, e, f is h-1?}. */
static const int orient_map[9][6] = {
    {1, 0, 0, 0, 1, 0},  {1, 0, 0, 0, 1, 0},  /* 0 (unused), 1: as stored */
    {-1, 0, 1, 0, 1, 0}, {-1, 0, 1, 0, -1, 1}, /* 2: mirror left-right, 3: rotate 180 */
    {1, 0, 0, 0, -1, 1}, {0, 1, 0, 1, 0, 0},   /* 4: mirror top-bottom, 5: transpose */
    {0, 1, 0, -1, 0, 1}, {0, -1, 1, -1, 0, 1}, /* 6: rotate 90 clockwise, 7: transverse */
    {0, -1, 1, 1, 0, 0},                       /* 8: rotate 90 counter-clockwise */
};

static df_status apply_orientation(df_image *img, int o) {
    int w = img->w, h = img->h, ow = o >= 5 ? h : w, oh = o >= 5 ? w : h;
    const int *m = orient_map[o];
    uint8_t *out = malloc((size_t)w * h * 3);
    if (!out) return df_fail(DF_ERR_NOMEM, "image: cannot allocate %dx%d pixels", w, h);
    for (int y = 0; y < oh; y++)
        for (int x = 0; x < ow; x++) {
            int sx = m[0] * x + m[1] * y + m[2] * (w - 1), sy = m[3] * x + m[4] * y + m[5] * (h - 1);
            memcpy(out + 3 * ((size_t)y * ow + x), img->rgb + 3 * ((size_t)sy * w + sx), 3);
        }
    free(img->rgb);
    img->rgb = out;
    img->w = ow;
    img->h = oh;
    return DF_OK;
}

/* ------------------------------------------------------------------ decode */
/* stb calls run inside df_stb_guard: an stb assert that a malformed file reaches fails the call cleanly. */
typedef struct {
    const uint8_t *buf;
    int len, w, h, comp, ok;
    uint8_t *px;
} stb_call;

static void stb_info_call(void *ctx) {
    stb_call *c = ctx;
    c->ok = stbi_info_from_memory(c->buf, c->len, &c->w, &c->h, &c->comp);
}

static void stb_load_call(void *ctx) {
    stb_call *c = ctx;
    c->px = stbi_load_from_memory(c->buf, c->len, &c->w, &c->h, &c->comp, 3);
}

df_status df_image_decode(df_image *img, const uint8_t *buf, size_t len) {
    if (!img) return df_fail(DF_ERR_ARG, "image: NULL df_image");
    memset(img, 0, sizeof *img);
    if (!buf || len == 0) return df_fail(DF_ERR_FORMAT, "image: empty file");
    img_kind k = sniff(buf, len);
    if (k == IMG_OTHER)
        return df_fail(DF_ERR_UNSUPPORTED,
                       "image: unsupported image format (%s): only JPEG, PNG and BMP are read; convert it first "
                       "(e.g. to PNG)", other_name(buf, len));
    const char *kn = kind_name[k];
    if (len > INT_MAX) return df_fail(DF_ERR_NOMEM, "image: %s file of %zu bytes is too large", kn, len);
    int orientation = 1;
    df_status st = k == IMG_PNG ? png_check(buf, len) : k == IMG_JPEG ? jpeg_scan(buf, len, &orientation)
                                                                    : bmp_check(buf, len);
    if (st) return st;
    stb_call c = {buf, (int)len, 0, 0, 0, 0, NULL}; /* stb's view of the header (its failure reasons are generic here) */
    if (df_stb_guard(stb_info_call, &c) || !c.ok)
        return df_fail(DF_ERR_FORMAT, "image: corrupt or unsupported %s header", kn);
    int w = c.w, h = c.h, comp = c.comp;
    if ((st = check_size(k, (uint64_t)(w > 0 ? w : 0), (uint64_t)(h > 0 ? h : 0)))) return st;
    if (df_stb_guard(stb_load_call, &c))
        return df_fail(DF_ERR_FORMAT, "image: corrupt %s (decoder check failed at %s)", kn, df_stb_assert_where());
    uint8_t *px = c.px;
    if (!px) {
        const char *why = stbi_failure_reason();
        if (why && strcmp(why, "outofmem") == 0) return df_fail(DF_ERR_NOMEM, "image: out of memory decoding %dx%d", w, h);
        return df_fail(DF_ERR_FORMAT, "image: corrupt %s (%s)", kn, why ? why : "unknown");
    }
    if (c.w != w || c.h != h) {
        stbi_image_free(px);
        return df_fail(DF_ERR_FORMAT, "image: corrupt %s (size changed while decoding)", kn);
    }
    img->w = w;
    img->h = h;
    img->rgb = px; /* STBI_MALLOC is df_stb_malloc, plain malloc underneath: df_image_free's free() matches */
    if (comp == 1 || comp == 2) img->notes |= DF_IMG_NOTE_GRAY_EXPANDED;
    if (comp == 2 || comp == 4) img->notes |= DF_IMG_NOTE_ALPHA_DROPPED;
    if (orientation != 1) {
        if ((st = apply_orientation(img, orientation))) {
            df_image_free(img);
            return st;
        }
        img->notes |= DF_IMG_NOTE_EXIF_ROTATED;
    }
    return DF_OK;
}

void df_image_free(df_image *img) {
    if (!img) return;
    free(img->rgb);
    memset(img, 0, sizeof *img);
}

/* A failure message prefixed with the file name (the message buffer is copied before df_fail reuses it). */
static df_status fail_in(df_status st, const char *path) {
    char msg[512];
    snprintf(msg, sizeof msg, "%s", df_errmsg());
    return df_fail(st, "%s: %s", path, msg);
}

df_status df_image_load(df_image *img, const char *path) {
    uint8_t *buf;
    size_t len;
    if (img) memset(img, 0, sizeof *img);
    df_status st = df_read_file(path, DF_IMAGE_MAX_FILE, &buf, &len);
    if (st) return st;
    st = df_image_decode(img, buf, len);
    free(buf);
    return st ? fail_in(st, path) : DF_OK;
}

/* ------------------------------------------------------------------ encode */
typedef struct {
    uint8_t *p;
    size_t n, cap;
    int failed;
} membuf;

static void membuf_write(void *ctx, void *data, int size) {
    membuf *m = ctx;
    if (m->failed || size <= 0) return;
    if ((size_t)size > m->cap - m->n) {
        size_t cap = m->cap ? m->cap : 65536;
        while (cap - m->n < (size_t)size && cap <= SIZE_MAX / 2) cap *= 2;
        uint8_t *p = cap - m->n >= (size_t)size ? realloc(m->p, cap) : NULL;
        if (!p) {
            m->failed = 1;
            return;
        }
        m->p = p;
        m->cap = cap;
    }
    memcpy(m->p + m->n, data, (size_t)size);
    m->n += (size_t)size;
}

typedef struct {
    membuf *m;
    const uint8_t *rgb;
    int w, h;
    df_image_format fmt;
    int quality, ok;
} encode_call;

static void encode_in_stb(void *ctx) {
    encode_call *c = ctx;
    if (c->fmt == DF_FMT_JPEG) c->ok = stbi_write_jpg_to_func(membuf_write, c->m, c->w, c->h, 3, c->rgb, c->quality);
    else c->ok = stbi_write_png_to_func(membuf_write, c->m, c->w, c->h, 3, c->rgb, c->w * 3);
}

df_status df_image_encode(const uint8_t *rgb, int w, int h, df_image_format fmt, int quality, uint8_t **out,
                          size_t *outlen) {
    if (!out || !outlen) return df_fail(DF_ERR_ARG, "image: NULL output");
    *out = NULL;
    *outlen = 0;
    if (!rgb || w <= 0 || h <= 0 || (int64_t)w * h > DF_IMAGE_MAX_PIXELS)
        return df_fail(DF_ERR_ARG, "image: cannot encode a %dx%d image (1..%ld pixels)", w, h, DF_IMAGE_MAX_PIXELS);
    if (fmt == DF_FMT_JPEG) {
        if (quality < 1 || quality > 100) return df_fail(DF_ERR_ARG, "image: JPEG quality %d (1..100)", quality);
        if (w > 65535 || h > 65535) return df_fail(DF_ERR_ARG, "image: JPEG is limited to 65535x65535 (%dx%d)", w, h);
    } else if (fmt != DF_FMT_PNG) {
        return df_fail(DF_ERR_ARG, "image: unknown output format %d", (int)fmt);
    }
    membuf m = {0};
    encode_call c = {&m, rgb, w, h, fmt, quality, 0};
    if (df_stb_guard(encode_in_stb, &c)) {
        free(m.p);
        /* the one assert reachable without a bug in stb: stbiw__sbgrowf's allocation check */
        return df_fail(DF_ERR_NOMEM, "image: encoding %dx%d %s failed (encoder check failed at %s)", w, h,
                       fmt == DF_FMT_JPEG ? "JPEG" : "PNG", df_stb_assert_where());
    }
    if (!c.ok || m.failed || m.n == 0) {
        free(m.p);
        return df_fail(DF_ERR_NOMEM, "image: encoding %dx%d %s failed (out of memory)", w, h,
                       fmt == DF_FMT_JPEG ? "JPEG" : "PNG");
    }
    *out = m.p;
    *outlen = m.n;
    return DF_OK;
}

df_status df_image_save(const char *path, const uint8_t *rgb, int w, int h, df_image_format fmt, int quality) {
    uint8_t *buf;
    size_t len;
    df_status st = df_image_encode(rgb, w, h, fmt, quality, &buf, &len);
    if (st) return path ? fail_in(st, path) : st;
    st = df_write_file_atomic(path, buf, len);
    free(buf);
    return st;
}

df_status df_image_format_from_path(const char *path, df_image_format *fmt) {
    const char *dot = path ? strrchr(path, '.') : NULL;
    if (dot && !strchr(dot, '/')) {
        if (strcasecmp(dot, ".png") == 0) return *fmt = DF_FMT_PNG, DF_OK;
        if (strcasecmp(dot, ".jpg") == 0 || strcasecmp(dot, ".jpeg") == 0) return *fmt = DF_FMT_JPEG, DF_OK;
    }
    return df_fail(DF_ERR_ARG, "image: cannot tell the format of '%s' (use .png, .jpg or .jpeg)",
                   path ? path : "(null)");
}

/* ------------------------------------------------------------------ files */
static df_status fail_errno(const char *what, const char *path) {
    char e[128] = "unknown error";
    strerror_r(errno, e, sizeof e);
    return df_fail(DF_ERR_IO, "%s '%s': %s", what, path, e);
}

df_status df_write_file_atomic(const char *path, const void *data, size_t len) {
    if (!path || !*path || (!data && len)) return df_fail(DF_ERR_ARG, "write: bad path or data");
    size_t n = strlen(path);
    char *tmp = malloc(n + 12);
    if (!tmp) return df_fail(DF_ERR_NOMEM, "write: out of memory");
    memcpy(tmp, path, n);
    memcpy(tmp + n, ".tmp-XXXXXX", 12);
    int fd = mkstemp(tmp);
    if (fd < 0) {
        df_status st = fail_errno("write: cannot create a temporary file for", path);
        free(tmp);
        return st;
    }
    df_status st = DF_OK;
    const uint8_t *p = data;
    for (size_t done = 0; done < len && st == DF_OK;) {
        ssize_t k = write(fd, p + done, len - done);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) st = fail_errno("write: cannot write", tmp);
        else done += (size_t)k;
    }
    if (st == DF_OK && fchmod(fd, 0644) != 0) st = fail_errno("write: cannot set permissions of", tmp);
    if (st == DF_OK && fsync(fd) != 0) st = fail_errno("write: cannot flush", tmp);
    if (close(fd) != 0 && st == DF_OK) st = fail_errno("write: cannot close", tmp);
    if (st == DF_OK && rename(tmp, path) != 0) st = fail_errno("write: cannot rename the temporary file to", path);
    if (st != DF_OK) {
        unlink(tmp);
    } else { /* make the rename durable: flush the directory (best effort) */
        char *slash = strrchr(tmp, '/');
        if (slash) slash[slash == tmp ? 1 : 0] = 0;
        int dfd = open(slash ? tmp : ".", O_RDONLY);
        if (dfd >= 0) {
            fsync(dfd);
            close(dfd);
        }
    }
    free(tmp);
    return st;
}

df_status df_read_file(const char *path, size_t limit, uint8_t **out, size_t *outlen) {
    if (!out || !outlen || !path) return df_fail(DF_ERR_ARG, "read: NULL argument");
    *out = NULL;
    *outlen = 0;
    int fd = open(path, O_RDONLY);
    if (fd < 0) return fail_errno("read: cannot open", path);
    struct stat sb;
    df_status st = DF_OK;
    if (fstat(fd, &sb) != 0) st = fail_errno("read: cannot stat", path);
    else if (S_ISDIR(sb.st_mode)) st = df_fail(DF_ERR_IO, "read: '%s' is a directory", path);
    else if (S_ISREG(sb.st_mode) && (uint64_t)sb.st_size > limit)
        st = df_fail(DF_ERR_NOMEM, "read: '%s' has %lld bytes, more than the limit of %zu", path, (long long)sb.st_size,
                     limit);
    /* Regular files: one read of the known size and one that sees the end; pipes and growing files: the buffer
     * doubles, never beyond limit + 1 bytes (reading that many means the file is over the limit). */
    size_t n = 0, cap = limit < SIZE_MAX ? limit + 1 : limit;
    if (st == DF_OK && S_ISREG(sb.st_mode) && (size_t)sb.st_size < cap) cap = (size_t)sb.st_size + 1;
    else if (st == DF_OK && !S_ISREG(sb.st_mode) && cap > 65536) cap = 65536;
    uint8_t *buf = st ? NULL : malloc(cap);
    if (st == DF_OK && !buf) st = df_fail(DF_ERR_NOMEM, "read: cannot allocate %zu bytes for '%s'", cap, path);
    while (st == DF_OK) {
        if (n > limit) {
            st = df_fail(DF_ERR_NOMEM, "read: '%s' is larger than the limit of %zu bytes", path, limit);
            break;
        }
        if (n == cap) { /* cap <= limit here */
            size_t grow = cap > SIZE_MAX / 2 ? SIZE_MAX : 2 * cap;
            if (grow > limit && limit < SIZE_MAX) grow = limit + 1;
            uint8_t *nb = realloc(buf, grow);
            if (!nb) {
                st = df_fail(DF_ERR_NOMEM, "read: out of memory reading '%s'", path);
                break;
            }
            buf = nb;
            cap = grow;
        }
        ssize_t k = read(fd, buf + n, cap - n);
        if (k < 0 && errno == EINTR) continue;
        if (k < 0) st = fail_errno("read: cannot read", path);
        else if (k == 0) break;
        else n += (size_t)k;
    }
    close(fd);
    if (st) {
        free(buf);
        return st;
    }
    *out = buf;
    *outlen = n;
    return DF_OK;
}
