// libFuzzer harness for the WebP decoder shim (Sources/CWebPShim/cwebp_shim.c) over the system libwebp.
// Same contract checks as the PNG and JPEG harnesses: consistent status and outputs, an exactly sized buffer.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cwebp_shim.h"
#include "decoder_contract.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint64_t max = fuzz_max_pixels("FUZZ_WEBP_MAX_PIXELS");
    uint8_t *rgb = (uint8_t *)0x1;
    uint32_t w = 7, h = 7;
    char err[256];
    memset(err, 'x', sizeof err);
    int status = cwebp_decode_rgb8(data, size, max, &rgb, &w, &h, err, sizeof err);
    if (status == CWEBP_OK) {
        fuzz_check_decoded(rgb, w, h, max);
        cwebp_free(rgb);
    } else {
        fuzz_check_refused(rgb, w, h, err, sizeof err, status == CWEBP_ERR_TOO_LARGE);
    }
    return 0;
}
