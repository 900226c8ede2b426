// Shared by the image-decoder harnesses (fuzz_png.c, fuzz_jpeg.c, fuzz_webp.c): the pixel limit and the
// checks of the contract the three shims share (cpng_shim.h, cjpeg_shim.h, cwebp_shim.h): on success a
// non-empty image within the limit whose buffer is exactly width * height * 3 bytes; on failure no buffer,
// a NUL-terminated message, and sizes left at zero except for "too large" (which reports them).
#ifndef MIRRORGAN_FUZZ_DECODER_CONTRACT_H
#define MIRRORGAN_FUZZ_DECODER_CONTRACT_H

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

// The server's default limit (16 Mpx); the environment variable `env` (FUZZ_<FORMAT>_MAX_PIXELS) can lower it
// to go faster. Read once.
static uint64_t fuzz_max_pixels(const char *env) {
    static uint64_t value = 0;
    if (value == 0) {
        const char *text = getenv(env);
        value = text != NULL ? strtoull(text, NULL, 10) : 16ull * 1024 * 1024;
        if (value == 0) value = 16ull * 1024 * 1024;
    }
    return value;
}

// A decoded image: non-empty, within the limit, and the buffer really holds w * h * 3 bytes (the first and last
// bytes are touched: ASan reports if it is shorter than promised).
static void fuzz_check_decoded(const uint8_t *rgb, uint32_t w, uint32_t h, uint64_t max_pixels) {
    if (rgb == NULL || w == 0 || h == 0 || (uint64_t)w * h > max_pixels) abort();
    volatile uint8_t sink = rgb[0] ^ rgb[(size_t)w * h * 3 - 1];
    (void)sink;
}

// A refusal: no buffer, a NUL-terminated message, and no sizes unless the image was too large.
static void fuzz_check_refused(const uint8_t *rgb, uint32_t w, uint32_t h, const char *err, size_t err_size,
                               int too_large) {
    if (rgb != NULL) abort();
    if (memchr(err, 0, err_size) == NULL) abort();
    if (!too_large && (w != 0 || h != 0)) abort();
}

#endif
