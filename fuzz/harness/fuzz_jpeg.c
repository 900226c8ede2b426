// libFuzzer harness for the JPEG decoder shim (Sources/CJPEGShim/cjpeg_shim.c) over the system libjpeg-turbo.
// Every JPEG body that reaches POST /v1/captions or /v1/chat/completions ends up in cjpeg_decode_rgb8 with this
// pixel limit. Checks beyond "no crash / no ASan report": status and outputs follow cjpeg_shim.h's contract, and
// the pixel buffer is exactly width * height * 3 bytes (ASan catches an over-read). The EXIF reader is fed the
// input directly too.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cjpeg_shim.h"

// The server's default (16 Mpx); FUZZ_JPEG_MAX_PIXELS can lower it to go faster.
static uint64_t max_pixels(void) {
    static uint64_t value = 0;
    if (value == 0) {
        const char *env = getenv("FUZZ_JPEG_MAX_PIXELS");
        value = env != NULL ? strtoull(env, NULL, 10) : 16ull * 1024 * 1024;
        if (value == 0) value = 16ull * 1024 * 1024;
    }
    return value;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    int o = cjpeg_exif_orientation(data, size);
    if (o < 1 || o > 8) abort();
    uint8_t *rgb = (uint8_t *)0x1;  // must be reset by the shim
    uint32_t w = 7, h = 7;
    int orientation = 0;
    char err[256];
    memset(err, 'x', sizeof err);
    int status = cjpeg_decode_rgb8(data, size, max_pixels(), &rgb, &w, &h, &orientation, err, sizeof err);
    if (status == CJPEG_OK) {
        if (rgb == NULL || w == 0 || h == 0 || (uint64_t)w * h > max_pixels()) abort();
        if (orientation < 1 || orientation > 8) abort();
        volatile uint8_t sink = rgb[0] ^ rgb[(size_t)w * h * 3 - 1];
        (void)sink;
        cjpeg_free(rgb);
    } else {
        if (rgb != NULL) abort();
        if (memchr(err, 0, sizeof err) == NULL) abort();
        if (status != CJPEG_ERR_TOO_LARGE && (w != 0 || h != 0)) abort();
    }
    return 0;
}
