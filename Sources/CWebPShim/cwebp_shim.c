// libwebp wrapper with the PNG and JPEG shims' contract (size check before allocation, alpha over white).
#include "cwebp_shim.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <webp/decode.h>

// Deliberately the same four lines as cpng_set_error and cjpeg_set_error: each shim is a SwiftPM target of its own, and sharing
// them would take a fourth C target for one function.
static void cwebp_set_error(char *err, size_t capacity, const char *message) {
    if (err != NULL && capacity > 0) {
        snprintf(err, capacity, "%s", message);
    }
}

static const char *cwebp_status_text(VP8StatusCode status) {
    switch (status) {
        case VP8_STATUS_OUT_OF_MEMORY: return "out of memory";
        case VP8_STATUS_INVALID_PARAM: return "invalid parameter";
        case VP8_STATUS_BITSTREAM_ERROR: return "bitstream error";
        case VP8_STATUS_UNSUPPORTED_FEATURE: return "unsupported feature";
        case VP8_STATUS_NOT_ENOUGH_DATA: return "truncated WebP data";
        default: return "cannot decode the WebP data";
    }
}

// The argument checks and cleared outputs at the top are deliberately those of cpng_decode_rgb8 and cjpeg_decode_rgb8 (one SwiftPM
// target per shim, as for the error-text helper above).
int cwebp_decode_rgb8(const uint8_t *data, size_t size, uint64_t max_pixels,
                      uint8_t **out_rgb, uint32_t *out_width, uint32_t *out_height,
                      char *err, size_t err_capacity) {
    if (out_rgb == NULL || out_width == NULL || out_height == NULL) {
        cwebp_set_error(err, err_capacity, "null output pointer");
        return CWEBP_ERR_ARGUMENT;
    }
    *out_rgb = NULL;
    *out_width = 0;
    *out_height = 0;
    if (data == NULL || size < 12 || memcmp(data, "RIFF", 4) != 0 || memcmp(data + 8, "WEBP", 4) != 0) {
        cwebp_set_error(err, err_capacity, "not a WebP: no RIFF/WEBP header");
        return CWEBP_ERR_SIGNATURE;
    }
    WebPBitstreamFeatures features;
    VP8StatusCode status = WebPGetFeatures(data, size, &features);
    if (status != VP8_STATUS_OK) {
        cwebp_set_error(err, err_capacity, cwebp_status_text(status));
        return status == VP8_STATUS_OUT_OF_MEMORY ? CWEBP_ERR_NO_MEMORY : CWEBP_ERR_LIBWEBP;
    }
    if (features.has_animation) {
        cwebp_set_error(err, err_capacity, "animated WebP is not supported");
        return CWEBP_ERR_ANIMATED;
    }
    if (features.width <= 0 || features.height <= 0) {
        cwebp_set_error(err, err_capacity, "image has zero width or height");
        return CWEBP_ERR_ZERO_SIZE;
    }
    uint64_t w = (uint64_t)features.width, h = (uint64_t)features.height;
    if (w * h > max_pixels) {
        *out_width = (uint32_t)w;
        *out_height = (uint32_t)h;
        cwebp_set_error(err, err_capacity, "image exceeds the pixel limit");
        return CWEBP_ERR_TOO_LARGE;
    }
    size_t pixels = (size_t)(w * h);
    uint8_t *rgba = (uint8_t *)malloc(pixels * 4);
    if (rgba == NULL) {
        cwebp_set_error(err, err_capacity, "out of memory");
        return CWEBP_ERR_NO_MEMORY;
    }
    if (WebPDecodeRGBAInto(data, size, rgba, pixels * 4, (int)(w * 4)) == NULL) {
        free(rgba);
        cwebp_set_error(err, err_capacity, "cannot decode the WebP data");
        return CWEBP_ERR_LIBWEBP;
    }
    // Alpha over white, compacted in place to RGB (the write index never passes the read index).
    for (size_t i = 0; i < pixels; i++) {
        unsigned a = rgba[i * 4 + 3];
        for (int c = 0; c < 3; c++) {
            unsigned v = rgba[i * 4 + c];
            rgba[i * 3 + c] = (uint8_t)((v * a + 255u * (255u - a) + 127) / 255);
        }
    }
    *out_rgb = rgba;
    *out_width = (uint32_t)w;
    *out_height = (uint32_t)h;
    return CWEBP_OK;
}

void cwebp_free(void *pointer) { free(pointer); }
