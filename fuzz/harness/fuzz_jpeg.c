// libFuzzer harness for the JPEG decoder shim (Sources/CJPEGShim/cjpeg_shim.c) over the system libjpeg-turbo.
// Every JPEG body that reaches POST /v1/captions or /v1/chat/completions ends up in cjpeg_decode_rgb8 with this
// pixel limit. Checks beyond "no crash / no ASan report": status and outputs follow cjpeg_shim.h's contract, and
// the pixel buffer is exactly width * height * 3 bytes (ASan catches an over-read). The EXIF reader is fed the
// input directly too.
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "cjpeg_shim.h"
#include "decoder_contract.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    const uint64_t max = fuzz_max_pixels("FUZZ_JPEG_MAX_PIXELS");
    int o = cjpeg_exif_orientation(data, size);
    if (o < 1 || o > 8) abort();
    uint8_t *rgb = (uint8_t *)0x1;  // must be reset by the shim
    uint32_t w = 7, h = 7;
    int orientation = 0;
    char err[256];
    memset(err, 'x', sizeof err);
    int status = cjpeg_decode_rgb8(data, size, max, &rgb, &w, &h, &orientation, err, sizeof err);
    if (status == CJPEG_OK) {
        fuzz_check_decoded(rgb, w, h, max);
        if (orientation < 1 || orientation > 8) abort();
        cjpeg_free(rgb);
    } else {
        fuzz_check_refused(rgb, w, h, err, sizeof err, status == CJPEG_ERR_TOO_LARGE);
    }
    return 0;
}
