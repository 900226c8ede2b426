#ifndef CPNG_SHIM_H
#define CPNG_SHIM_H

// A small, crash-free C API over libpng. libpng reports errors by longjmp; that must never cross
// Swift frames, so every setjmp/longjmp lives in cpng_shim.c and the functions below only return codes.

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

/// Result codes of the shim (0 is success).
typedef enum {
    CPNG_OK = 0,
    CPNG_ERR_SIGNATURE = 1,   ///< not a PNG (bad or short 8-byte signature)
    CPNG_ERR_LIBPNG = 2,      ///< libpng rejected the data (truncated, bad CRC, bad chunk, ...): see err
    CPNG_ERR_ZERO_SIZE = 3,   ///< width or height is zero
    CPNG_ERR_TOO_LARGE = 4,   ///< width * height exceeds the caller's pixel limit
    CPNG_ERR_NO_MEMORY = 5,   ///< allocation failed
    CPNG_ERR_ARGUMENT = 6     ///< invalid argument (null pointer, zero size, size overflow)
} cpng_status;

/// Decodes any PNG (grey, grey+alpha, palette, RGB, RGBA, 8/16-bit, interlaced) held in memory to
/// tightly packed RGB8 rows. Alpha (including tRNS transparency) is composited over white.
/// The header's width * height is checked against `max_pixels` before any pixel buffer is allocated.
/// On success `*out_rgb` holds width * height * 3 bytes allocated with malloc (free with cpng_free).
/// On failure `*out_rgb` is NULL and `err` (if not NULL) holds a NUL-terminated message; for
/// CPNG_ERR_TOO_LARGE, `*out_width` and `*out_height` give the size the header claims.
int cpng_decode_rgb8(const uint8_t *data, size_t size, uint64_t max_pixels,
                     uint8_t **out_rgb, uint32_t *out_width, uint32_t *out_height,
                     char *err, size_t err_capacity);

/// Encodes tightly packed RGB8 pixels (width * height * 3 bytes) to a PNG file image in memory.
/// On success `*out_png` holds `*out_size` bytes; release it with cpng_free_encoded on the same thread.
int cpng_encode_rgb8(const uint8_t *rgb, uint32_t width, uint32_t height,
                     uint8_t **out_png, size_t *out_size,
                     char *err, size_t err_capacity);

/// Frees a buffer returned by this shim.
/// Releases a decoder result (cpng_decode_rgb8's out_rgb).
void cpng_free(void *pointer);

/// Releases an encoder result (cpng_encode_rgb8's out_png), on the thread that encoded it: its memory
/// goes back to that thread's encoder pool.
void cpng_free_encoded(void *pointer);

#ifdef __cplusplus
}
#endif

#endif
