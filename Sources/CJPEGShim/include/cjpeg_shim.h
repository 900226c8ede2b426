#ifndef CJPEG_SHIM_H
#define CJPEG_SHIM_H

// A small, crash-free C API over libjpeg-turbo. libjpeg reports errors by longjmp; that must never cross
// Swift frames, so every setjmp/longjmp lives in cjpeg_shim.c and the functions below only return codes.

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Result codes of the shim (0 is success).
typedef enum {
    CJPEG_OK = 0,
    CJPEG_ERR_SIGNATURE = 1,   ///< not a JPEG (no SOI marker followed by another marker)
    CJPEG_ERR_LIBJPEG = 2,     ///< libjpeg rejected the data, or warned about corrupt data: see err
    CJPEG_ERR_ZERO_SIZE = 3,   ///< width or height is zero
    CJPEG_ERR_TOO_LARGE = 4,   ///< width * height exceeds the caller's pixel limit
    CJPEG_ERR_NO_MEMORY = 5,   ///< allocation failed
    CJPEG_ERR_ARGUMENT = 6     ///< invalid argument (null pointer)
} cjpeg_status;

/// Progressive JPEGs with more scans than this are refused (each scan re-reads the whole image: a small file
/// with thousands of scans is a CPU bomb). libjpeg-turbo's own TJFLAG_LIMITSCANS uses the same bound.
#define CJPEG_MAX_SCANS 500

/// Decodes a baseline or progressive JPEG (grey, YCbCr, RGB, CMYK/YCCK) held in memory to tightly packed RGB8
/// rows, upright: the EXIF orientation (APP1 "Exif", tag 0x0112) is applied, so a portrait photo stored
/// sideways comes out portrait. The header's width * height is checked against `max_pixels` before any pixel
/// buffer is allocated. libjpeg's warnings (corrupt or truncated data) are errors, except stray bytes between
/// segments (JWRN_EXTRANEOUS_DATA), which lose no image data.
/// On success `*out_rgb` holds out_width * out_height * 3 bytes (free with cjpeg_free) and `*out_orientation`
/// the EXIF orientation that was applied (1 = none). On failure `*out_rgb` is NULL and `err` (if not NULL)
/// holds a NUL-terminated message; for CJPEG_ERR_TOO_LARGE, `*out_width` and `*out_height` give the size the
/// header claims.
int cjpeg_decode_rgb8(const uint8_t *data, size_t size, uint64_t max_pixels,
                      uint8_t **out_rgb, uint32_t *out_width, uint32_t *out_height, int *out_orientation,
                      char *err, size_t err_capacity);

/// The EXIF orientation (1–8) in a TIFF structure (the APP1 payload after "Exif\0\0"); 1 when absent or invalid.
int cjpeg_exif_orientation(const uint8_t *tiff, size_t size);

/// Releases a decoder result.
void cjpeg_free(void *pointer);

#ifdef __cplusplus
}
#endif

#endif
