// libjpeg-turbo wrapper: all setjmp/longjmp error handling stays inside this file.
#include "cjpeg_shim.h"

#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <jpeglib.h>
#include <jerror.h>

// libjpeg's own working memory (progressive JPEGs keep every coefficient of the image) is capped too; with the
// pixel limit checked first this is never reached by a valid image under the default limit.
#define CJPEG_MAX_WORKING_MEMORY (1024L * 1024 * 1024)

typedef struct {
    struct jpeg_error_mgr pub;
    jmp_buf jump;
    char *err;
    size_t err_capacity;
    int status;
} cjpeg_error_context;

// Deliberately the same four lines as cpng_set_error and cwebp_set_error: each shim is a SwiftPM target of its own, and sharing
// them would take a fourth C target for one function.
static void cjpeg_set_error(char *err, size_t capacity, const char *message) {
    if (err != NULL && capacity > 0) {
        snprintf(err, capacity, "%s", message);
    }
}

static void cjpeg_fail(j_common_ptr cinfo, int status, const char *message) {
    cjpeg_error_context *context = (cjpeg_error_context *)cinfo->err;
    cjpeg_set_error(context->err, context->err_capacity, message);
    context->status = status;
    longjmp(context->jump, 1);
}

// Fatal errors: record libjpeg's message, unwind to the setjmp in cjpeg_decode_rgb8.
static void cjpeg_error_exit(j_common_ptr cinfo) {
    char message[JMSG_LENGTH_MAX];
    (*cinfo->err->format_message)(cinfo, message);
    int status = CJPEG_ERR_LIBJPEG;
    if (cinfo->err->msg_code == JERR_OUT_OF_MEMORY) status = CJPEG_ERR_NO_MEMORY;
    cjpeg_fail(cinfo, status, message);
}

// Level -1 is a warning (corrupt data, premature end of data, …): refused like an error, except stray bytes
// between segments (JWRN_EXTRANEOUS_DATA), which many cameras and editors write and which lose no image data.
// Trace messages (level >= 0) are dropped; nothing is ever printed.
static void cjpeg_emit_message(j_common_ptr cinfo, int level) {
    if (level < 0 && cinfo->err->msg_code != JWRN_EXTRANEOUS_DATA) {
        char message[JMSG_LENGTH_MAX];
        (*cinfo->err->format_message)(cinfo, message);
        cjpeg_fail(cinfo, CJPEG_ERR_LIBJPEG, message);
    }
}

static void cjpeg_output_message(j_common_ptr cinfo) { (void)cinfo; }

static void cjpeg_progress(j_common_ptr cinfo) {
    if (cinfo->is_decompressor && ((j_decompress_ptr)cinfo)->input_scan_number > CJPEG_MAX_SCANS) {
        cjpeg_fail(cinfo, CJPEG_ERR_LIBJPEG, "progressive JPEG with too many scans");
    }
}

static uint32_t cjpeg_u16(const uint8_t *p, int little) {
    return little ? (uint32_t)p[0] | ((uint32_t)p[1] << 8) : ((uint32_t)p[0] << 8) | p[1];
}

static uint32_t cjpeg_u32(const uint8_t *p, int little) {
    return little ? (uint32_t)p[0] | ((uint32_t)p[1] << 8) | ((uint32_t)p[2] << 16) | ((uint32_t)p[3] << 24)
                  : ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | p[3];
}

int cjpeg_exif_orientation(const uint8_t *tiff, size_t size) {
    if (tiff == NULL || size < 8) return 1;
    int little;
    if (tiff[0] == 'I' && tiff[1] == 'I') little = 1;
    else if (tiff[0] == 'M' && tiff[1] == 'M') little = 0;
    else return 1;
    if (cjpeg_u16(tiff + 2, little) != 42) return 1;
    uint32_t ifd = cjpeg_u32(tiff + 4, little);
    if (ifd > size || size - ifd < 2) return 1;
    uint32_t count = cjpeg_u16(tiff + ifd, little);
    for (uint32_t i = 0; i < count; i++) {
        size_t entry = (size_t)ifd + 2 + (size_t)i * 12;
        if (entry > size || size - entry < 12) break;
        if (cjpeg_u16(tiff + entry, little) != 0x0112) continue;
        // SHORT (type 3), count 1: the value sits in the first two bytes of the value field.
        if (cjpeg_u16(tiff + entry + 2, little) != 3 || cjpeg_u32(tiff + entry + 4, little) != 1) return 1;
        uint32_t value = cjpeg_u16(tiff + entry + 8, little);
        return value >= 1 && value <= 8 ? (int)value : 1;
    }
    return 1;
}

static int cjpeg_orientation_of(j_decompress_ptr cinfo) {
    for (jpeg_saved_marker_ptr m = cinfo->marker_list; m != NULL; m = m->next) {
        if (m->marker == JPEG_APP0 + 1 && m->data_length >= 14 && memcmp(m->data, "Exif\0\0", 6) == 0) {
            return cjpeg_exif_orientation(m->data + 6, m->data_length - 6);
        }
    }
    return 1;
}

// Applies EXIF orientation `o` to a w×h RGB8 image: out(x, y) = in(source column, source row).
static uint8_t *cjpeg_orient(const uint8_t *in, uint32_t w, uint32_t h, int o, uint32_t *ow, uint32_t *oh) {
    int swap = o >= 5;
    *ow = swap ? h : w;
    *oh = swap ? w : h;
    uint8_t *out = (uint8_t *)malloc((size_t)w * h * 3);
    if (out == NULL) return NULL;
    for (uint32_t y = 0; y < *oh; y++) {
        for (uint32_t x = 0; x < *ow; x++) {
            uint32_t sc, sr;
            switch (o) {
                case 2: sc = w - 1 - x; sr = y; break;
                case 3: sc = w - 1 - x; sr = h - 1 - y; break;
                case 4: sc = x; sr = h - 1 - y; break;
                case 5: sc = y; sr = x; break;
                case 6: sc = y; sr = h - 1 - x; break;
                case 7: sc = w - 1 - y; sr = h - 1 - x; break;
                case 8: sc = w - 1 - y; sr = x; break;
                default: sc = x; sr = y; break;
            }
            memcpy(out + ((size_t)y * *ow + x) * 3, in + ((size_t)sr * w + sc) * 3, 3);
        }
    }
    return out;
}

int cjpeg_decode_rgb8(const uint8_t *data, size_t size, uint64_t max_pixels,
                      uint8_t **out_rgb, uint32_t *out_width, uint32_t *out_height, int *out_orientation,
                      char *err, size_t err_capacity) {
    if (out_rgb == NULL || out_width == NULL || out_height == NULL || out_orientation == NULL) {
        cjpeg_set_error(err, err_capacity, "null output pointer");
        return CJPEG_ERR_ARGUMENT;
    }
    *out_rgb = NULL;
    *out_width = 0;
    *out_height = 0;
    *out_orientation = 1;
    if (data == NULL || size < 3 || data[0] != 0xFF || data[1] != 0xD8 || data[2] != 0xFF) {
        cjpeg_set_error(err, err_capacity, "not a JPEG: no SOI marker");
        return CJPEG_ERR_SIGNATURE;
    }
    if (size > (size_t)0xFFFFFFFFu) {
        cjpeg_set_error(err, err_capacity, "JPEG data too large");
        return CJPEG_ERR_ARGUMENT;
    }

    struct jpeg_decompress_struct cinfo;
    struct jpeg_progress_mgr progress;
    cjpeg_error_context context;
    memset(&cinfo, 0, sizeof cinfo);
    memset(&context, 0, sizeof context);
    cinfo.err = jpeg_std_error(&context.pub);
    context.pub.error_exit = cjpeg_error_exit;
    context.pub.emit_message = cjpeg_emit_message;
    context.pub.output_message = cjpeg_output_message;
    context.err = err;
    context.err_capacity = err_capacity;
    context.status = CJPEG_OK;
    // Written between setjmp and longjmp, read after: volatile.
    uint8_t *volatile rgb = NULL;
    uint8_t *volatile row = NULL;

    if (setjmp(context.jump)) {
        free(rgb);
        free(row);
        jpeg_destroy_decompress(&cinfo);
        *out_rgb = NULL;
        if (context.status != CJPEG_ERR_TOO_LARGE) {
            *out_width = 0;
            *out_height = 0;
        }
        return context.status != CJPEG_OK ? context.status : CJPEG_ERR_LIBJPEG;
    }
    jpeg_create_decompress(&cinfo);
    cinfo.mem->max_memory_to_use = CJPEG_MAX_WORKING_MEMORY;
    progress.progress_monitor = cjpeg_progress;
    cinfo.progress = &progress;
    jpeg_mem_src(&cinfo, data, (unsigned long)size);
    jpeg_save_markers(&cinfo, JPEG_APP0 + 1, 0xFFFF);
    jpeg_read_header(&cinfo, TRUE);

    uint32_t w = cinfo.image_width, h = cinfo.image_height;
    if (w == 0 || h == 0) cjpeg_fail((j_common_ptr)&cinfo, CJPEG_ERR_ZERO_SIZE, "image has zero width or height");
    if ((uint64_t)w * h > max_pixels) {
        *out_width = w;
        *out_height = h;
        cjpeg_fail((j_common_ptr)&cinfo, CJPEG_ERR_TOO_LARGE, "image exceeds the pixel limit");
    }
    int orientation = cjpeg_orientation_of(&cinfo);
    int cmyk = cinfo.jpeg_color_space == JCS_CMYK || cinfo.jpeg_color_space == JCS_YCCK;
    cinfo.out_color_space = cmyk ? JCS_CMYK : JCS_RGB;
    jpeg_start_decompress(&cinfo);
    if (cinfo.output_width != w || cinfo.output_height != h ||
        cinfo.output_components != (cmyk ? 4 : 3)) {
        cjpeg_fail((j_common_ptr)&cinfo, CJPEG_ERR_LIBJPEG, "unexpected output geometry");
    }
    rgb = (uint8_t *)malloc((size_t)w * h * 3);
    row = (uint8_t *)malloc((size_t)w * (size_t)cinfo.output_components);
    if (rgb == NULL || row == NULL) cjpeg_fail((j_common_ptr)&cinfo, CJPEG_ERR_NO_MEMORY, "out of memory");
    // Adobe CMYK JPEGs store inverted values (255 = no ink); others store ink amounts.
    int inverted = cinfo.saw_Adobe_marker;
    while (cinfo.output_scanline < h) {
        uint8_t *dest = rgb + (size_t)cinfo.output_scanline * w * 3;
        JSAMPROW target = cmyk ? row : dest;
        if (jpeg_read_scanlines(&cinfo, &target, 1) != 1) {
            cjpeg_fail((j_common_ptr)&cinfo, CJPEG_ERR_LIBJPEG, "truncated JPEG data");
        }
        if (cmyk) {
            for (uint32_t x = 0; x < w; x++) {
                const uint8_t *p = row + (size_t)x * 4;
                unsigned k = inverted ? p[3] : 255u - p[3];
                for (int c = 0; c < 3; c++) {
                    unsigned v = inverted ? p[c] : 255u - p[c];
                    dest[x * 3 + c] = (uint8_t)((v * k + 127) / 255);
                }
            }
        }
    }
    jpeg_finish_decompress(&cinfo);
    jpeg_destroy_decompress(&cinfo);
    free(row);
    row = NULL;

    uint8_t *result = rgb;
    uint32_t ow = w, oh = h;
    if (orientation != 1) {
        result = cjpeg_orient(rgb, w, h, orientation, &ow, &oh);
        free(rgb);
        if (result == NULL) {
            cjpeg_set_error(err, err_capacity, "out of memory");
            return CJPEG_ERR_NO_MEMORY;
        }
    }
    *out_rgb = result;
    *out_width = ow;
    *out_height = oh;
    *out_orientation = orientation;
    return CJPEG_OK;
}

void cjpeg_free(void *pointer) { free(pointer); }
