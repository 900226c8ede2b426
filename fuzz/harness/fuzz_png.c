// libFuzzer harness for the PNG decoder shim (Sources/CPNGShim/cpng_shim.c) over the system libpng.
// Every request body that reaches POST /v1/captions ends up in cpng_decode_rgb8 with this pixel limit.
// Checks beyond "no crash / no ASan report": the status and outputs are consistent with the contract in
// cpng_shim.h, and the pixel buffer is exactly width * height * 3 bytes (ASan catches an over-read).
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <zlib.h>

#include "cpng_shim.h"
#include "decoder_contract.h"

size_t LLVMFuzzerMutate(uint8_t *data, size_t size, size_t max_size);

// libpng rejects a critical chunk with a bad CRC, so nearly every blind mutation would stop at the first
// chunk. Three times out of four this mutator rewrites the CRCs after mutating, so that the fuzzer reaches
// IHDR/PLTE/tRNS/IDAT handling and the shim's transformations; the rest keep bad CRCs to test that path.
size_t LLVMFuzzerCustomMutator(uint8_t *data, size_t size, size_t max_size, unsigned int seed) {
    size = LLVMFuzzerMutate(data, size, max_size);
    if ((seed & 3) == 0 || size < 8) return size;
    size_t pos = 8;
    while (pos + 12 <= size) {
        uint32_t len = ((uint32_t)data[pos] << 24) | ((uint32_t)data[pos + 1] << 16) | ((uint32_t)data[pos + 2] << 8) | data[pos + 3];
        if (len > size - pos - 12) break;
        uint32_t crc = (uint32_t)crc32(0L, data + pos + 4, len + 4);
        uint8_t *c = data + pos + 8 + len;
        c[0] = crc >> 24; c[1] = crc >> 16; c[2] = crc >> 8; c[3] = crc;
        pos += 12 + (size_t)len;
    }
    return size;
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint64_t max = fuzz_max_pixels("FUZZ_PNG_MAX_PIXELS");
    uint8_t *rgb = (uint8_t *)0x1;  // must be reset by the shim
    uint32_t w = 7, h = 7;
    char err[256];
    memset(err, 'x', sizeof err);
    int status = cpng_decode_rgb8(data, size, max, &rgb, &w, &h, err, sizeof err);
    if (status == CPNG_OK) {
        fuzz_check_decoded(rgb, w, h, max);
        // Round trip: what we decoded must encode and decode again to the same pixels.
        if ((uint64_t)w * h <= 4096) {
            uint8_t *png = NULL; size_t png_size = 0;
            if (cpng_encode_rgb8(rgb, w, h, &png, &png_size, err, sizeof err) != CPNG_OK) abort();
            uint8_t *again = NULL; uint32_t w2 = 0, h2 = 0;
            if (cpng_decode_rgb8(png, png_size, max, &again, &w2, &h2, err, sizeof err) != CPNG_OK) abort();
            if (w2 != w || h2 != h || memcmp(again, rgb, (size_t)w * h * 3) != 0) abort();
            cpng_free(again);
            cpng_free(png);
        }
        cpng_free(rgb);
    } else {
        fuzz_check_refused(rgb, w, h, err, sizeof err, status == CPNG_ERR_TOO_LARGE);
    }
    return 0;
}
