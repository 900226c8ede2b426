#ifndef CWEBP_SHIM_H
#define CWEBP_SHIM_H

// WebP decoding over libwebp with the same contract as the PNG and JPEG shims.

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

typedef enum {
    CWEBP_OK = 0,
    CWEBP_ERR_SIGNATURE = 1,   ///< not a WebP (no RIFF....WEBP header)
    CWEBP_ERR_LIBWEBP = 2,     ///< libwebp rejected the data: see err
    CWEBP_ERR_ZERO_SIZE = 3,
    CWEBP_ERR_TOO_LARGE = 4,   ///< width * height exceeds the caller's pixel limit
    CWEBP_ERR_NO_MEMORY = 5,
    CWEBP_ERR_ARGUMENT = 6,
    CWEBP_ERR_ANIMATED = 7     ///< animated WebP (only still images are captioned)
} cwebp_status;

/// Decodes a still WebP (lossy or lossless, with or without alpha) to tightly packed RGB8 rows; alpha is
/// composited over white as in the PNG decoder. The bitstream's width * height is checked against `max_pixels`
/// before any pixel buffer is allocated. On success `*out_rgb` holds width * height * 3 bytes (free with
/// cwebp_free); on failure it is NULL and `err` holds a NUL-terminated message (for CWEBP_ERR_TOO_LARGE the
/// claimed size is in `*out_width`, `*out_height`).
int cwebp_decode_rgb8(const uint8_t *data, size_t size, uint64_t max_pixels,
                      uint8_t **out_rgb, uint32_t *out_width, uint32_t *out_height,
                      char *err, size_t err_capacity);

void cwebp_free(void *pointer);

#ifdef __cplusplus
}
#endif

#endif
