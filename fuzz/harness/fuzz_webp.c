// libFuzzer harness for the WebP decoder shim (Sources/CWebPShim/cwebp_shim.c) over the system libwebp.
// Same contract checks as the PNG and JPEG harnesses: consistent status and outputs, an exactly sized buffer.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cwebp_shim.h"

static uint64_t max_pixels(void) {
    static uint64_t value = 0;
    if (value == 0) {
        const char *env = getenv("FUZZ_WEBP_MAX_PIXELS");
        value = env != NULL ? strtoull(env, NULL, 10) : 16ull * 1024 * 1024;
        if (value == 0) value = 16ull * 1024 * 1024;
    }
    return value;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    uint8_t *rgb = (uint8_t *)0x1;
    uint32_t w = 7, h = 7;
    char err[256];
    memset(err, 'x', sizeof err);
    int status = cwebp_decode_rgb8(data, size, max_pixels(), &rgb, &w, &h, err, sizeof err);
    if (status == CWEBP_OK) {
        if (rgb == NULL || w == 0 || h == 0 || (uint64_t)w * h > max_pixels()) abort();
        volatile uint8_t sink = rgb[0] ^ rgb[(size_t)w * h * 3 - 1];
        (void)sink;
        cwebp_free(rgb);
    } else {
        if (rgb != NULL) abort();
        if (memchr(err, 0, sizeof err) == NULL) abort();
        if (status != CWEBP_ERR_TOO_LARGE && (w != 0 || h != 0)) abort();
    }
    return 0;
}
