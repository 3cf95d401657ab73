/* .dfw weight container: CRC-32, parser for untrusted buffers, writer.  Layout: see dfw.h.
 * The parser walks the header, the metadata and tensor tables with a bounds-checked cursor (size_t
 * math, every addition and product checked), then checks padding, the exact file length and both
 * CRCs, so a truncated, extended or corrupted file is always refused with a message saying where. */
#include "dfw.h"

#include <errno.h>
#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ != __ORDER_LITTLE_ENDIAN__
#error ".dfw tensor data is little endian and used in place: big-endian hosts are not supported"
#endif

#define DFW_MAGIC "DFW1"
#define DFW_VERSION 1u
#define DFW_HEADER 32   /* bytes */
#define DFW_ALIGN 64    /* data section start and tensor offsets */

/* ------------------------------------------------------------------ CRC-32 (IEEE 802.3 / zlib / PNG) */
static const uint32_t crc_table[256] = {
    0x00000000, 0x77073096, 0xee0e612c, 0x990951ba, 0x076dc419, 0x706af48f,
    0xe963a535, 0x9e6495a3, 0x0edb8832, 0x79dcb8a4, 0xe0d5e91e, 0x97d2d988,
    0x09b64c2b, 0x7eb17cbd, 0xe7b82d07, 0x90bf1d91, 0x1db71064, 0x6ab020f2,
    0xf3b97148, 0x84be41de, 0x1adad47d, 0x6ddde4eb, 0xf4d4b551, 0x83d385c7,
    0x136c9856, 0x646ba8c0, 0xfd62f97a, 0x8a65c9ec, 0x14015c4f, 0x63066cd9,
    0xfa0f3d63, 0x8d080df5, 0x3b6e20c8, 0x4c69105e, 0xd56041e4, 0xa2677172,
    0x3c03e4d1, 0x4b04d447, 0xd20d85fd, 0xa50ab56b, 0x35b5a8fa, 0x42b2986c,
    0xdbbbc9d6, 0xacbcf940, 0x32d86ce3, 0x45df5c75, 0xdcd60dcf, 0xabd13d59,
    0x26d930ac, 0x51de003a, 0xc8d75180, 0xbfd06116, 0x21b4f4b5, 0x56b3c423,
    0xcfba9599, 0xb8bda50f, 0x2802b89e, 0x5f058808, 0xc60cd9b2, 0xb10be924,
    0x2f6f7c87, 0x58684c11, 0xc1611dab, 0xb6662d3d, 0x76dc4190, 0x01db7106,
    0x98d220bc, 0xefd5102a, 0x71b18589, 0x06b6b51f, 0x9fbfe4a5, 0xe8b8d433,
    0x7807c9a2, 0x0f00f934, 0x9609a88e, 0xe10e9818, 0x7f6a0dbb, 0x086d3d2d,
    0x91646c97, 0xe6635c01, 0x6b6b51f4, 0x1c6c6162, 0x856530d8, 0xf262004e,
    0x6c0695ed, 0x1b01a57b, 0x8208f4c1, 0xf50fc457, 0x65b0d9c6, 0x12b7e950,
    0x8bbeb8ea, 0xfcb9887c, 0x62dd1ddf, 0x15da2d49, 0x8cd37cf3, 0xfbd44c65,
    0x4db26158, 0x3ab551ce, 0xa3bc0074, 0xd4bb30e2, 0x4adfa541, 0x3dd895d7,
    0xa4d1c46d, 0xd3d6f4fb, 0x4369e96a, 0x346ed9fc, 0xad678846, 0xda60b8d0,
    0x44042d73, 0x33031de5, 0xaa0a4c5f, 0xdd0d7cc9, 0x5005713c, 0x270241aa,
    0xbe0b1010, 0xc90c2086, 0x5768b525, 0x206f85b3, 0xb966d409, 0xce61e49f,
    0x5edef90e, 0x29d9c998, 0xb0d09822, 0xc7d7a8b4, 0x59b33d17, 0x2eb40d81,
    0xb7bd5c3b, 0xc0ba6cad, 0xedb88320, 0x9abfb3b6, 0x03b6e20c, 0x74b1d29a,
    0xead54739, 0x9dd277af, 0x04db2615, 0x73dc1683, 0xe3630b12, 0x94643b84,
    0x0d6d6a3e, 0x7a6a5aa8, 0xe40ecf0b, 0x9309ff9d, 0x0a00ae27, 0x7d079eb1,
    0xf00f9344, 0x8708a3d2, 0x1e01f268, 0x6906c2fe, 0xf762575d, 0x806567cb,
    0x196c3671, 0x6e6b06e7, 0xfed41b76, 0x89d32be0, 0x10da7a5a, 0x67dd4acc,
    0xf9b9df6f, 0x8ebeeff9, 0x17b7be43, 0x60b08ed5, 0xd6d6a3e8, 0xa1d1937e,
    0x38d8c2c4, 0x4fdff252, 0xd1bb67f1, 0xa6bc5767, 0x3fb506dd, 0x48b2364b,
    0xd80d2bda, 0xaf0a1b4c, 0x36034af6, 0x41047a60, 0xdf60efc3, 0xa867df55,
    0x316e8eef, 0x4669be79, 0xcb61b38c, 0xbc66831a, 0x256fd2a0, 0x5268e236,
    0xcc0c7795, 0xbb0b4703, 0x220216b9, 0x5505262f, 0xc5ba3bbe, 0xb2bd0b28,
    0x2bb45a92, 0x5cb36a04, 0xc2d7ffa7, 0xb5d0cf31, 0x2cd99e8b, 0x5bdeae1d,
    0x9b64c2b0, 0xec63f226, 0x756aa39c, 0x026d930a, 0x9c0906a9, 0xeb0e363f,
    0x72076785, 0x05005713, 0x95bf4a82, 0xe2b87a14, 0x7bb12bae, 0x0cb61b38,
    0x92d28e9b, 0xe5d5be0d, 0x7cdcefb7, 0x0bdbdf21, 0x86d3d2d4, 0xf1d4e242,
    0x68ddb3f8, 0x1fda836e, 0x81be16cd, 0xf6b9265b, 0x6fb077e1, 0x18b74777,
    0x88085ae6, 0xff0f6a70, 0x66063bca, 0x11010b5c, 0x8f659eff, 0xf862ae69,
    0x616bffd3, 0x166ccf45, 0xa00ae278, 0xd70dd2ee, 0x4e048354, 0x3903b3c2,
    0xa7672661, 0xd06016f7, 0x4969474d, 0x3e6e77db, 0xaed16a4a, 0xd9d65adc,
    0x40df0b66, 0x37d83bf0, 0xa9bcae53, 0xdebb9ec5, 0x47b2cf7f, 0x30b5ffe9,
    0xbdbdf21c, 0xcabac28a, 0x53b39330, 0x24b4a3a6, 0xbad03605, 0xcdd70693,
    0x54de5729, 0x23d967bf, 0xb3667a2e, 0xc4614ab8, 0x5d681b02, 0x2a6f2b94,
    0xb40bbe37, 0xc30c8ea1, 0x5a05df1b, 0x2d02ef8d
};

uint32_t df_crc32(const void *data, size_t len) {
    const uint8_t *p = data;
    uint32_t c = 0xFFFFFFFFu;
    for (size_t i = 0; i < len; i++) c = crc_table[(c ^ p[i]) & 0xFF] ^ (c >> 8);
    return c ^ 0xFFFFFFFFu;
}

/* ------------------------------------------------------------------ little-endian bytes */
static uint32_t rd16(const uint8_t *p) { return (uint32_t)p[0] | (uint32_t)p[1] << 8; }
static uint32_t rd32(const uint8_t *p) { return rd16(p) | rd16(p + 2) << 16; }
static uint64_t rd64(const uint8_t *p) { return (uint64_t)rd32(p) | (uint64_t)rd32(p + 4) << 32; }
static void wr16(uint8_t *p, uint32_t v) { p[0] = (uint8_t)v; p[1] = (uint8_t)(v >> 8); }
static void wr32(uint8_t *p, uint32_t v) { wr16(p, v); wr16(p + 2, v >> 16); }
static void wr64(uint8_t *p, uint64_t v) { wr32(p, (uint32_t)v); wr32(p + 4, (uint32_t)(v >> 32)); }

static size_t align_up(size_t x) { return (x + (DFW_ALIGN - 1)) & ~(size_t)(DFW_ALIGN - 1); }

/* Keys and tensor names: 1..DFW_MAX_KEY printable ASCII bytes (0x20..0x7e). */
static int valid_name(const uint8_t *s, size_t n) {
    if (n < 1 || n > DFW_MAX_KEY) return 0;
    for (size_t i = 0; i < n; i++)
        if (s[i] < 0x20 || s[i] > 0x7e) return 0;
    return 1;
}

/* Meta values: well-formed UTF-8 (no overlongs, surrogates or code points > U+10FFFF), no NUL. */
static int valid_utf8(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        uint32_t c = s[i];
        if (c == 0) return 0;
        if (c < 0x80) { i++; continue; }
        size_t k = c >= 0xF0 ? 3 : c >= 0xE0 ? 2 : c >= 0xC0 ? 1 : 0;
        if (k == 0 || c > 0xF4 || k > n - i - 1) return 0;
        uint32_t cp = c & (0x3Fu >> k);
        for (size_t j = 1; j <= k; j++) {
            if ((s[i + j] & 0xC0) != 0x80) return 0;
            cp = cp << 6 | (s[i + j] & 0x3Fu);
        }
        static const uint32_t min_cp[4] = {0, 0x80, 0x800, 0x10000};
        if (cp < min_cp[k] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
        i += k + 1;
    }
    return 1;
}

/* ------------------------------------------------------------------ parser */
typedef struct {
    const uint8_t *buf;
    size_t len, pos;
} dfw_cursor;

/* Take n bytes at the cursor, or NULL if the buffer ends first. */
static const uint8_t *take(dfw_cursor *c, size_t n) {
    if (n > c->len - c->pos) return NULL;
    const uint8_t *p = c->buf + c->pos;
    c->pos += n;
    return p;
}

static int name_eq(const char *a, size_t an, const char *b, size_t bn) { return an == bn && memcmp(a, b, an) == 0; }

static int tensor_cmp(const void *a, const void *b) {
    const dfw_tensor *x = *(const dfw_tensor *const *)a, *y = *(const dfw_tensor *const *)b;
    size_t n = x->name_len < y->name_len ? x->name_len : y->name_len;
    int r = memcmp(x->name, y->name, n);
    return r ? r : (x->name_len > y->name_len) - (x->name_len < y->name_len);
}

static df_status parse_meta(dfw_file *f, dfw_cursor *c) {
    for (int i = 0; i < f->n_meta; i++) {
        size_t at = c->pos;
        const uint8_t *p = take(c, 2), *key = NULL, *lp = NULL, *val = NULL;
        size_t klen = p ? rd16(p) : 0;
        if (p && (key = take(c, klen)) && !valid_name(key, klen))
            return df_fail(DF_ERR_FORMAT, "weights: metadata entry %d at byte %zu has a bad key (length %zu, "
                           "printable ASCII expected)", i + 1, at, klen);
        if (key && (lp = take(c, 4))) val = take(c, rd32(lp));
        if (!val)
            return df_fail(DF_ERR_FORMAT, "weights: truncated metadata table at byte %zu (entry %d of %d)", at, i + 1,
                           f->n_meta);
        size_t vlen = rd32(lp);
        if (!valid_utf8(val, vlen))
            return df_fail(DF_ERR_FORMAT, "weights: metadata '%.*s' is not NUL-free UTF-8", (int)klen, (const char *)key);
        for (int j = 0; j < i; j++)
            if (name_eq(f->meta[j].key, f->meta[j].key_len, (const char *)key, klen))
                return df_fail(DF_ERR_FORMAT, "weights: duplicate metadata key '%.*s'", (int)klen, (const char *)key);
        f->meta[i] = (dfw_meta){(const char *)key, klen, (const char *)val, vlen};
    }
    return DF_OK;
}

/* Tensor records; offsets are checked against data_size here and turned into pointers by the caller. */
static df_status parse_tensors(dfw_file *f, dfw_cursor *c, uint64_t data_size, uint64_t *offsets) {
    for (int i = 0; i < f->n_tensors; i++) {
        size_t at = c->pos;
        const uint8_t *p = take(c, 2), *name = NULL, *q = NULL, *dp = NULL, *op = NULL;
        size_t nlen = p ? rd16(p) : 0;
        if (p && (name = take(c, nlen)) && !valid_name(name, nlen))
            return df_fail(DF_ERR_FORMAT, "weights: tensor %d at byte %zu has a bad name (length %zu, printable "
                           "ASCII expected)", i + 1, at, nlen);
        if (name) q = take(c, 2);
        if (q && (q[1] < 1 || q[1] > 4))
            return df_fail(DF_ERR_FORMAT, "weights: tensor '%.*s' has %u dimensions (1..4 allowed)", (int)nlen,
                           (const char *)name, q[1]);
        if (q && (dp = take(c, 4 * (size_t)q[1]))) op = take(c, 16);
        if (!op)
            return df_fail(DF_ERR_FORMAT, "weights: truncated tensor table at byte %zu (tensor %d of %d)", at, i + 1,
                           f->n_tensors);
        int nl = (int)nlen;
        const char *nm = (const char *)name;
        if (q[0] != 0)
            return df_fail(DF_ERR_UNSUPPORTED, "weights: tensor '%.*s' has dtype %u (only 0 = float32 is supported)",
                           nl, nm, q[0]);
        dfw_tensor *t = &f->tensors[i];
        t->name = nm;
        t->name_len = nlen;
        t->ndim = q[1];
        t->count = 1;
        for (int d = 0; d < t->ndim; d++) {
            uint32_t v = rd32(dp + 4 * d);
            if (v == 0 || v > INT_MAX)
                return df_fail(DF_ERR_FORMAT, "weights: tensor '%.*s' dimension %d is %u (1..%d allowed)", nl, nm, d,
                               v, INT_MAX);
            if (t->count > SIZE_MAX / 4 / v)
                return df_fail(DF_ERR_FORMAT, "weights: tensor '%.*s' is too large (element count overflows)", nl, nm);
            t->dims[d] = (int)v;
            t->count *= v;
        }
        uint64_t off = rd64(op), nbytes = rd64(op + 8);
        if (nbytes != (uint64_t)t->count * 4)
            return df_fail(DF_ERR_FORMAT, "weights: tensor '%.*s' has %llu bytes but its shape needs %llu", nl, nm,
                           (unsigned long long)nbytes, (unsigned long long)t->count * 4);
        if (off % DFW_ALIGN)
            return df_fail(DF_ERR_FORMAT, "weights: tensor '%.*s' offset %llu is not %d-byte aligned", nl, nm,
                           (unsigned long long)off, DFW_ALIGN);
        if (off > data_size || nbytes > data_size - off)
            return df_fail(DF_ERR_FORMAT, "weights: tensor '%.*s' (bytes %llu..%llu) lies outside the %llu-byte data "
                           "section", nl, nm, (unsigned long long)off, (unsigned long long)(off + nbytes),
                           (unsigned long long)data_size);
        offsets[i] = off;
    }
    return DF_OK;
}

static df_status check_unique_names(const dfw_file *f) {
    if (f->n_tensors < 2) return DF_OK;
    const dfw_tensor **ix = malloc((size_t)f->n_tensors * sizeof *ix);
    if (!ix) return df_fail(DF_ERR_NOMEM, "weights: out of memory");
    for (int i = 0; i < f->n_tensors; i++) ix[i] = &f->tensors[i];
    qsort(ix, (size_t)f->n_tensors, sizeof *ix, tensor_cmp);
    df_status st = DF_OK;
    for (int i = 1; i < f->n_tensors && st == DF_OK; i++)
        if (tensor_cmp(&ix[i - 1], &ix[i]) == 0)
            st = df_fail(DF_ERR_FORMAT, "weights: duplicate tensor name '%.*s'", (int)ix[i]->name_len, ix[i]->name);
    free(ix);
    return st;
}

df_status dfw_parse(dfw_file *f, const uint8_t *buf, size_t len) {
    if (!f) return df_fail(DF_ERR_ARG, "weights: NULL dfw_file");
    memset(f, 0, sizeof *f);
    if (!buf && len) return df_fail(DF_ERR_ARG, "weights: NULL buffer");
    if (len < DFW_HEADER)
        return df_fail(DF_ERR_FORMAT, "weights: file too short for a header (%zu bytes, need %d)", len, DFW_HEADER);
    if (memcmp(buf, DFW_MAGIC, 4) != 0) return df_fail(DF_ERR_FORMAT, "weights: bad magic (not a .dfw file)");
    uint32_t version = rd32(buf + 4);
    if (version != DFW_VERSION)
        return df_fail(DF_ERR_UNSUPPORTED, "weights: format version %u is not supported (this build reads %u)",
                       version, DFW_VERSION);
    if (df_crc32(buf, 28) != rd32(buf + 28)) return df_fail(DF_ERR_FORMAT, "weights: header checksum mismatch");
    uint32_t n_meta = rd32(buf + 8), n_tensors = rd32(buf + 12);
    uint64_t data_size = rd64(buf + 16);
    if (n_meta > DFW_MAX_META)
        return df_fail(DF_ERR_FORMAT, "weights: %u metadata entries (at most %d)", n_meta, DFW_MAX_META);
    if (n_tensors > DFW_MAX_TENSORS)
        return df_fail(DF_ERR_FORMAT, "weights: %u tensors (at most %d)", n_tensors, DFW_MAX_TENSORS);

    f->version = version;
    f->n_meta = (int)n_meta;
    f->n_tensors = (int)n_tensors;
    f->meta = calloc(n_meta ? n_meta : 1, sizeof *f->meta);
    f->tensors = calloc(n_tensors ? n_tensors : 1, sizeof *f->tensors);
    uint64_t *offsets = calloc(n_tensors ? n_tensors : 1, sizeof *offsets);
    df_status st = DF_OK;
    if (!f->meta || !f->tensors || !offsets) st = df_fail(DF_ERR_NOMEM, "weights: out of memory");

    dfw_cursor c = {buf, len, DFW_HEADER};
    if (st == DF_OK) st = parse_meta(f, &c);
    if (st == DF_OK) st = parse_tensors(f, &c, data_size, offsets);
    size_t data_start = align_up(c.pos); /* c.pos <= len, so no overflow */
    if (st == DF_OK && data_start > len)
        st = df_fail(DF_ERR_FORMAT, "weights: truncated padding at byte %zu", len);
    for (size_t i = c.pos; st == DF_OK && i < data_start; i++)
        if (buf[i]) st = df_fail(DF_ERR_FORMAT, "weights: nonzero padding byte at %zu", i);
    if (st == DF_OK && len - data_start != data_size)
        st = df_fail(DF_ERR_FORMAT, "weights: %s: the header says %llu data bytes from byte %zu, the file has %zu",
                     len - data_start < data_size ? "truncated data section" : "trailing bytes after the data",
                     (unsigned long long)data_size, data_start, len - data_start);
    if (st == DF_OK && df_crc32(buf + DFW_HEADER, len - DFW_HEADER) != rd32(buf + 24))
        st = df_fail(DF_ERR_FORMAT, "weights: checksum mismatch (corrupt file)");
    if (st == DF_OK) st = check_unique_names(f);
    for (int i = 0; st == DF_OK && i < f->n_tensors; i++)
        f->tensors[i].data = (const float *)(const void *)(buf + data_start + (size_t)offsets[i]);
    free(offsets);
    if (st != DF_OK) dfw_free(f);
    return st;
}

void dfw_free(dfw_file *f) {
    if (!f) return;
    free(f->meta);
    free(f->tensors);
    memset(f, 0, sizeof *f);
}

/* ------------------------------------------------------------------ lookups */
static const dfw_meta *meta_find(const dfw_file *f, const char *key) {
    size_t n = key ? strlen(key) : 0;
    for (int i = 0; f && key && i < f->n_meta; i++)
        if (name_eq(f->meta[i].key, f->meta[i].key_len, key, n)) return &f->meta[i];
    return NULL;
}

int dfw_meta_has(const dfw_file *f, const char *key) { return meta_find(f, key) != NULL; }

df_status dfw_meta_get(const dfw_file *f, const char *key, char *out, size_t outsz) {
    const dfw_meta *m = meta_find(f, key);
    if (!m) return df_fail(DF_ERR_FORMAT, "weights: metadata '%s' missing", key ? key : "(null)");
    if (!out || m->val_len >= outsz)
        return df_fail(DF_ERR_FORMAT, "weights: metadata '%s' (%zu bytes) does not fit a %zu-byte buffer", key,
                       m->val_len, outsz);
    memcpy(out, m->val, m->val_len);
    out[m->val_len] = 0;
    return DF_OK;
}

/* A meta value as a whole-string integer (iv) or number (dv). */
static df_status meta_number(const dfw_file *f, const char *key, long *iv, double *dv) {
    char s[64], *end;
    df_status st = dfw_meta_get(f, key, s, sizeof s);
    if (st) return st;
    errno = 0;
    long l = iv ? strtol(s, &end, 10) : 0;
    double d = iv ? 0 : strtod(s, &end);
    int range = errno == ERANGE && (iv || d == HUGE_VAL || d == -HUGE_VAL); /* float underflow is fine */
    if (!s[0] || *end || range)
        return df_fail(DF_ERR_FORMAT, "weights: metadata '%s' = '%s' is not %s", key, s, iv ? "an integer" : "a number");
    if (iv) *iv = l;
    else *dv = d;
    return DF_OK;
}

df_status dfw_meta_int(const dfw_file *f, const char *key, long *out) { return meta_number(f, key, out, NULL); }
df_status dfw_meta_float(const dfw_file *f, const char *key, double *out) { return meta_number(f, key, NULL, out); }

const dfw_tensor *dfw_find(const dfw_file *f, const char *name) {
    size_t n = name ? strlen(name) : 0;
    for (int i = 0; f && name && i < f->n_tensors; i++)
        if (name_eq(f->tensors[i].name, f->tensors[i].name_len, name, n)) return &f->tensors[i];
    return NULL;
}

static void shape_str(char *s, size_t n, int ndim, const int *dims) {
    int k = snprintf(s, n, "[");
    for (int i = 0; i < ndim && k > 0 && (size_t)k < n; i++) k += snprintf(s + k, n - k, i ? ", %d" : "%d", dims[i]);
    if (k > 0 && (size_t)k < n) snprintf(s + k, n - k, "]");
}

df_status dfw_read_tensor(const dfw_file *f, const char *name, float *dst, int ndim, const int *dims) {
    const dfw_tensor *t = dfw_find(f, name);
    if (!t) return df_fail(DF_ERR_FORMAT, "weights: tensor '%s' missing", name ? name : "(null)");
    int same = t->ndim == ndim;
    for (int i = 0; same && i < ndim; i++) same = t->dims[i] == dims[i];
    if (!same) {
        char a[64], b[64];
        shape_str(a, sizeof a, t->ndim, t->dims);
        shape_str(b, sizeof b, ndim, dims);
        return df_fail(DF_ERR_FORMAT, "weights: tensor '%s' has shape %s, expected %s", name, a, b);
    }
    memcpy(dst, t->data, t->count * sizeof(float));
    return DF_OK;
}

/* Adam moments live under "opt.m/<name>" and "opt.v/<name>". */
static df_status opt_name(char *out, size_t n, char which, const char *name) {
    int k = snprintf(out, n, "opt.%c/%s", which, name);
    if (k < 0 || (size_t)k >= n) return df_fail(DF_ERR_ARG, "weights: name too long: opt.%c/%s", which, name);
    return DF_OK;
}

df_status dfw_load_params(const dfw_file *f, df_params *p) {
    if (!f || !p || !p->data) return df_fail(DF_ERR_ARG, "weights: dfw_load_params needs a file and allocated params");
    char nm[DFW_MAX_KEY + 1];
    df_status st = DF_OK;
    for (int i = 0; i < p->n && st == DF_OK; i++)
        st = dfw_read_tensor(f, p->info[i].name, p->data + p->info[i].offset, p->info[i].ndim, p->info[i].dims);
    /* Optimiser state: loaded when p has moments and the file is a checkpoint (has opt.m/ for the first tensor). */
    if (st || !p->m || !p->v || p->n == 0 || opt_name(nm, sizeof nm, 'm', p->info[0].name) || !dfw_find(f, nm))
        return st;
    for (int i = 0; i < p->n && st == DF_OK; i++) {
        const df_param_info *in = &p->info[i];
        if (!(st = opt_name(nm, sizeof nm, 'm', in->name))) st = dfw_read_tensor(f, nm, p->m + in->offset, in->ndim, in->dims);
        if (!st && !(st = opt_name(nm, sizeof nm, 'v', in->name))) st = dfw_read_tensor(f, nm, p->v + in->offset, in->ndim, in->dims);
    }
    return st;
}

/* ------------------------------------------------------------------ writer */
void dfw_writer_init(dfw_writer *w) { memset(w, 0, sizeof *w); }

static char *dup_str(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

df_status dfw_writer_meta(dfw_writer *w, const char *key, const char *val) {
    if (!key || !val || !valid_name((const uint8_t *)key, strlen(key)))
        return df_fail(DF_ERR_ARG, "weights: bad metadata key '%s' (1..%d printable ASCII bytes)", key ? key : "(null)",
                       DFW_MAX_KEY);
    size_t vlen = strlen(val);
    if (vlen > UINT32_MAX || !valid_utf8((const uint8_t *)val, vlen))
        return df_fail(DF_ERR_ARG, "weights: metadata '%s' is not UTF-8", key);
    int i = 0;
    while (i < w->n_meta && strcmp(w->meta_keys[i], key) != 0) i++;
    if (i == DFW_MAX_META) return df_fail(DF_ERR_ARG, "weights: more than %d metadata entries", DFW_MAX_META);
    char *v = dup_str(val), *k = i < w->n_meta ? w->meta_keys[i] : dup_str(key);
    if (!v || !k) {
        free(v);
        if (i == w->n_meta) free(k);
        return df_fail(DF_ERR_NOMEM, "weights: out of memory");
    }
    if (i < w->n_meta) free(w->meta_vals[i]); /* an existing key is overwritten */
    else w->n_meta++;
    w->meta_keys[i] = k;
    w->meta_vals[i] = v;
    return DF_OK;
}

df_status dfw_writer_meta_int(dfw_writer *w, const char *key, long val) {
    char s[32];
    snprintf(s, sizeof s, "%ld", val);
    return dfw_writer_meta(w, key, s);
}

df_status dfw_writer_meta_float(dfw_writer *w, const char *key, double val) {
    char s[40];
    snprintf(s, sizeof s, "%.17g", val); /* round-trips every double */
    return dfw_writer_meta(w, key, s);
}

df_status dfw_writer_tensor(dfw_writer *w, const char *name, int ndim, const int *dims, const float *data) {
    if (!name || !valid_name((const uint8_t *)name, strlen(name)))
        return df_fail(DF_ERR_ARG, "weights: bad tensor name '%s' (1..%d printable ASCII bytes)",
                       name ? name : "(null)", DFW_MAX_KEY);
    if (ndim < 1 || ndim > 4 || !dims || !data)
        return df_fail(DF_ERR_ARG, "weights: tensor '%s': ndim %d (1..4), dims and data required", name, ndim);
    size_t count = 1;
    for (int i = 0; i < ndim; i++) {
        if (dims[i] <= 0 || count > SIZE_MAX / 4 / (size_t)dims[i])
            return df_fail(DF_ERR_ARG, "weights: tensor '%s' has a bad dimension %d", name, dims[i]);
        count *= (size_t)dims[i];
    }
    for (int i = 0; i < w->n_tensors; i++)
        if (strcmp(w->t[i].name, name) == 0) return df_fail(DF_ERR_ARG, "weights: duplicate tensor '%s'", name);
    if (w->n_tensors == DFW_MAX_TENSORS) return df_fail(DF_ERR_ARG, "weights: more than %d tensors", DFW_MAX_TENSORS);
    char *nm = dup_str(name);
    if (!nm) return df_fail(DF_ERR_NOMEM, "weights: out of memory");
    int k = w->n_tensors++;
    w->t[k].name = nm;
    w->t[k].ndim = ndim;
    memcpy(w->t[k].dims, dims, (size_t)ndim * sizeof *dims);
    w->t[k].data = data;
    return DF_OK;
}

df_status dfw_writer_params(dfw_writer *w, const df_params *p, int with_opt) {
    if (!p || !p->data) return df_fail(DF_ERR_ARG, "weights: dfw_writer_params needs allocated params");
    df_status st = DF_OK;
    char nm[DFW_MAX_KEY + 1];
    for (int i = 0; i < p->n && st == DF_OK; i++)
        st = dfw_writer_tensor(w, p->info[i].name, p->info[i].ndim, p->info[i].dims, p->data + p->info[i].offset);
    if (!with_opt || !p->m || !p->v) return st;
    for (int i = 0; i < p->n && st == DF_OK; i++) {
        const df_param_info *in = &p->info[i];
        if (!(st = opt_name(nm, sizeof nm, 'm', in->name))) st = dfw_writer_tensor(w, nm, in->ndim, in->dims, p->m + in->offset);
        if (!st && !(st = opt_name(nm, sizeof nm, 'v', in->name))) st = dfw_writer_tensor(w, nm, in->ndim, in->dims, p->v + in->offset);
    }
    return st;
}

static size_t tensor_bytes(const dfw_writer *w, int i) {
    size_t n = 4;
    for (int d = 0; d < w->t[i].ndim; d++) n *= (size_t)w->t[i].dims[d];
    return n;
}

/* Adds b to *a; 0 on overflow. */
static int add_ok(size_t *a, size_t b) {
    if (b > SIZE_MAX - *a) return 0;
    *a += b;
    return 1;
}

df_status dfw_writer_finish(dfw_writer *w, uint8_t **out, size_t *outlen) {
    *out = NULL;
    *outlen = 0;
    size_t tables = DFW_HEADER, data = 0;
    int ok = 1;
    for (int i = 0; i < w->n_meta; i++) ok &= add_ok(&tables, 6 + strlen(w->meta_keys[i])) && add_ok(&tables, strlen(w->meta_vals[i]));
    for (int i = 0; i < w->n_tensors; i++) {
        ok &= add_ok(&tables, 20 + strlen(w->t[i].name) + 4 * (size_t)w->t[i].ndim) && add_ok(&data, tensor_bytes(w, i));
        if (ok && i + 1 < w->n_tensors) { /* next tensor starts aligned */
            ok = data <= SIZE_MAX - DFW_ALIGN;
            data = align_up(data);
        }
    }
    size_t start = align_up(tables), total = start;
    if (!ok || tables > SIZE_MAX - DFW_ALIGN || !add_ok(&total, data))
        return df_fail(DF_ERR_NOMEM, "weights: file too large");
    uint8_t *b = calloc(total, 1);
    if (!b) return df_fail(DF_ERR_NOMEM, "weights: cannot allocate %zu bytes", total);

    memcpy(b, DFW_MAGIC, 4);
    wr32(b + 4, DFW_VERSION);
    wr32(b + 8, (uint32_t)w->n_meta);
    wr32(b + 12, (uint32_t)w->n_tensors);
    wr64(b + 16, data);
    size_t pos = DFW_HEADER, off = 0;
    for (int i = 0; i < w->n_meta; i++) {
        size_t k = strlen(w->meta_keys[i]), v = strlen(w->meta_vals[i]);
        wr16(b + pos, (uint32_t)k);
        memcpy(b + pos + 2, w->meta_keys[i], k);
        wr32(b + pos + 2 + k, (uint32_t)v);
        memcpy(b + pos + 6 + k, w->meta_vals[i], v);
        pos += 6 + k + v;
    }
    for (int i = 0; i < w->n_tensors; i++) {
        size_t n = strlen(w->t[i].name), nbytes = tensor_bytes(w, i);
        wr16(b + pos, (uint32_t)n);
        memcpy(b + pos + 2, w->t[i].name, n);
        pos += 2 + n;
        b[pos++] = 0; /* dtype f32 */
        b[pos++] = (uint8_t)w->t[i].ndim;
        for (int d = 0; d < w->t[i].ndim; d++, pos += 4) wr32(b + pos, (uint32_t)w->t[i].dims[d]);
        wr64(b + pos, off);
        wr64(b + pos + 8, nbytes);
        pos += 16;
        memcpy(b + start + off, w->t[i].data, nbytes);
        off = align_up(off + nbytes);
    }
    wr32(b + 24, df_crc32(b + DFW_HEADER, total - DFW_HEADER));
    wr32(b + 28, df_crc32(b, 28));
    *out = b;
    *outlen = total;
    return DF_OK;
}

void dfw_writer_free(dfw_writer *w) {
    for (int i = 0; i < w->n_meta; i++) {
        free(w->meta_keys[i]);
        free(w->meta_vals[i]);
    }
    for (int i = 0; i < w->n_tensors; i++) free(w->t[i].name);
    dfw_writer_init(w);
}
