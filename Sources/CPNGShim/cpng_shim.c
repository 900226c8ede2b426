// libpng wrapper: all setjmp/longjmp error handling stays inside this file.
#include "cpng_shim.h"

#include <png.h>
#include <zlib.h>
#include <pthread.h>
#include <setjmp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

// libpng refuses images wider/taller than this by default (PNG_USER_WIDTH_MAX is 1,000,000);
// chunks other than IDAT may not allocate more than this many bytes (defends against huge iCCP/zTXt).
#define CPNG_CHUNK_MALLOC_MAX ((png_alloc_size_t)8 * 1024 * 1024)

typedef struct {
    char *err;
    size_t err_capacity;
} cpng_error_context;

// Deliberately the same four lines as cjpeg_set_error and cwebp_set_error: each shim is a SwiftPM target of its own, and sharing
// them would take a fourth C target for one function.
static void cpng_set_error(char *err, size_t capacity, const char *message) {
    if (err != NULL && capacity > 0) {
        snprintf(err, capacity, "%s", message);
    }
}

// Called by libpng on a fatal error: record the message, then unwind to the setjmp in our caller.
static void cpng_error_fn(png_structp png, png_const_charp message) {
    cpng_error_context *context = (cpng_error_context *)png_get_error_ptr(png);
    if (context != NULL) {
        cpng_set_error(context->err, context->err_capacity, message != NULL ? message : "libpng error");
    }
    png_longjmp(png, 1);
}

// Warnings (e.g. a bad CRC in an ancillary chunk, which libpng skips) are not errors for us.
static void cpng_warning_fn(png_structp png, png_const_charp message) {
    (void)png;
    (void)message;
}

typedef struct {
    const uint8_t *data;
    size_t size;
    size_t offset;
} cpng_reader;

static void cpng_read_fn(png_structp png, png_bytep out, size_t length) {
    cpng_reader *reader = (cpng_reader *)png_get_io_ptr(png);
    if (reader == NULL || length > reader->size - reader->offset) {
        png_error(png, "truncated PNG data");
    }
    memcpy(out, reader->data + reader->offset, length);
    reader->offset += length;
}

// The argument checks and cleared outputs at the top are deliberately those of cwebp_decode_rgb8 and cjpeg_decode_rgb8 (one SwiftPM
// target per shim, as for the error-text helper above).
int cpng_decode_rgb8(const uint8_t *data, size_t size, uint64_t max_pixels,
                     uint8_t **out_rgb, uint32_t *out_width, uint32_t *out_height,
                     char *err, size_t err_capacity) {
    if (out_rgb == NULL || out_width == NULL || out_height == NULL) {
        cpng_set_error(err, err_capacity, "null output pointer");
        return CPNG_ERR_ARGUMENT;
    }
    *out_rgb = NULL;
    *out_width = 0;
    *out_height = 0;
    if (data == NULL || size < 8 || png_sig_cmp((png_const_bytep)data, 0, 8) != 0) {
        cpng_set_error(err, err_capacity, "not a PNG: bad signature");
        return CPNG_ERR_SIGNATURE;
    }

    // Check the IHDR dimensions ourselves first, so that a zero or absurd size gets its own error code
    // whatever libpng's own limits are. IHDR must be the first chunk: length(4) "IHDR" width(4) height(4).
    if (size >= 24 && memcmp(data + 12, "IHDR", 4) == 0) {
        uint32_t w = ((uint32_t)data[16] << 24) | ((uint32_t)data[17] << 16) | ((uint32_t)data[18] << 8) | data[19];
        uint32_t h = ((uint32_t)data[20] << 24) | ((uint32_t)data[21] << 16) | ((uint32_t)data[22] << 8) | data[23];
        if (w == 0 || h == 0) {
            cpng_set_error(err, err_capacity, "image has zero width or height");
            return CPNG_ERR_ZERO_SIZE;
        }
        if ((uint64_t)w * (uint64_t)h > max_pixels) {
            char message[160];
            snprintf(message, sizeof message, "image is %ux%u = %llu pixels, over the limit of %llu",
                     (unsigned)w, (unsigned)h, (unsigned long long)w * (unsigned long long)h,
                     (unsigned long long)max_pixels);
            cpng_set_error(err, err_capacity, message);
            *out_width = w;  // reported so the caller can name the size; *out_rgb stays NULL
            *out_height = h;
            return CPNG_ERR_TOO_LARGE;
        }
    }

    cpng_error_context context = {err, err_capacity};
    png_structp png = png_create_read_struct(PNG_LIBPNG_VER_STRING, &context, cpng_error_fn, cpng_warning_fn);
    if (png == NULL) {
        cpng_set_error(err, err_capacity, "out of memory (png_create_read_struct)");
        return CPNG_ERR_NO_MEMORY;
    }
    png_infop info = png_create_info_struct(png);
    if (info == NULL) {
        png_destroy_read_struct(&png, NULL, NULL);
        cpng_set_error(err, err_capacity, "out of memory (png_create_info_struct)");
        return CPNG_ERR_NO_MEMORY;
    }

    // Buffers are volatile because they are assigned after setjmp and freed after a longjmp.
    uint8_t *volatile rgba = NULL;
    png_bytep *volatile rows = NULL;
    uint8_t *volatile rgb = NULL;
    volatile int status = CPNG_ERR_LIBPNG;
    cpng_reader reader = {data, size, 0};

    if (setjmp(png_jmpbuf(png))) {
        // libpng called cpng_error_fn, which already wrote the message.
        free(rows);
        free(rgba);
        free(rgb);
        png_destroy_read_struct(&png, &info, NULL);
        return status;
    }

    png_set_read_fn(png, &reader, cpng_read_fn);
    png_set_chunk_malloc_max(png, CPNG_CHUNK_MALLOC_MAX);
    png_read_info(png, info);

    png_uint_32 width = png_get_image_width(png, info);
    png_uint_32 height = png_get_image_height(png, info);
    if (width == 0 || height == 0) {
        // libpng normally rejects this itself in png_read_info; kept as a second line of defence.
        status = CPNG_ERR_ZERO_SIZE;
        png_error(png, "image has zero width or height");
    }
    if ((uint64_t)width * (uint64_t)height > max_pixels) {
        char message[160];
        snprintf(message, sizeof message, "image is %ux%u = %llu pixels, over the limit of %llu",
                 (unsigned)width, (unsigned)height,
                 (unsigned long long)width * (unsigned long long)height, (unsigned long long)max_pixels);
        status = CPNG_ERR_TOO_LARGE;
        *out_width = width;
        *out_height = height;
        png_error(png, message);
    }

    // Normalise every colour type / bit depth to 8-bit RGBA.
    int color_type = png_get_color_type(png, info);
    int bit_depth = png_get_bit_depth(png, info);
    if (color_type == PNG_COLOR_TYPE_PALETTE) png_set_palette_to_rgb(png);
    if (color_type == PNG_COLOR_TYPE_GRAY && bit_depth < 8) png_set_expand_gray_1_2_4_to_8(png);
    if (png_get_valid(png, info, PNG_INFO_tRNS)) png_set_tRNS_to_alpha(png);
    if (bit_depth == 16) png_set_scale_16(png);
    if (color_type == PNG_COLOR_TYPE_GRAY || color_type == PNG_COLOR_TYPE_GRAY_ALPHA) png_set_gray_to_rgb(png);
    png_set_filler(png, 0xFF, PNG_FILLER_AFTER);  // adds opaque alpha when there is none
    png_set_interlace_handling(png);              // Adam7: libpng de-interlaces over all passes
    png_read_update_info(png, info);

    size_t rowbytes = png_get_rowbytes(png, info);
    if (rowbytes != (size_t)width * 4) {
        png_error(png, "unexpected row size after transformations");
    }
    size_t pixels = (size_t)width * (size_t)height;
    status = CPNG_ERR_NO_MEMORY;
    rgba = (uint8_t *)malloc(pixels * 4);
    rows = (png_bytep *)malloc(sizeof(png_bytep) * (size_t)height);
    rgb = (uint8_t *)malloc(pixels * 3);
    if (rgba == NULL || rows == NULL || rgb == NULL) {
        png_error(png, "out of memory for pixel buffers");
    }
    status = CPNG_ERR_LIBPNG;
    for (png_uint_32 y = 0; y < height; y++) rows[y] = rgba + (size_t)y * rowbytes;
    png_read_image(png, rows);
    png_read_end(png, NULL);

    // Composite over white: out = (c * a + 255 * (255 - a)) / 255, rounded to nearest.
    for (size_t i = 0; i < pixels; i++) {
        unsigned a = rgba[4 * i + 3];
        for (int k = 0; k < 3; k++) {
            unsigned c = rgba[4 * i + k];
            rgb[3 * i + k] = (uint8_t)((c * a + 255u * (255u - a) + 127u) / 255u);
        }
    }

    free(rows);
    free(rgba);
    png_destroy_read_struct(&png, &info, NULL);
    *out_rgb = rgb;
    *out_width = width;
    *out_height = height;
    return CPNG_OK;
}

// Encoder memory. libpng, zlib (through libpng's allocator) and the encoder itself ask for the same block
// sizes on every encode of an image of a given size: a few per thread are kept and handed out again, so
// that encoding a request's image in steady state calls malloc for nothing (docs/PERFORMANCE.md,
// "Allocations"). Blocks are matched by exact size; at most CPNG_POOL_SLOTS per thread, each at most
// CPNG_POOL_MAX_BLOCK bytes (larger or further requests fall through to malloc/free).
#define CPNG_POOL_SLOTS 32
#define CPNG_POOL_MAX_BLOCK ((size_t)4 * 1024 * 1024)

typedef struct {
    void *pointer;
    size_t size;
    int used;
} cpng_block;

typedef struct {
    cpng_block blocks[CPNG_POOL_SLOTS];
} cpng_pool;

static pthread_key_t cpng_pool_key;
static pthread_once_t cpng_pool_once = PTHREAD_ONCE_INIT;

static void cpng_pool_destroy(void *raw) {
    cpng_pool *pool = (cpng_pool *)raw;
    for (int i = 0; i < CPNG_POOL_SLOTS; i++) free(pool->blocks[i].pointer);
    free(pool);
}

static void cpng_pool_make_key(void) { (void)pthread_key_create(&cpng_pool_key, cpng_pool_destroy); }

static cpng_pool *cpng_thread_pool(void) {
    (void)pthread_once(&cpng_pool_once, cpng_pool_make_key);
    cpng_pool *pool = (cpng_pool *)pthread_getspecific(cpng_pool_key);
    if (pool == NULL) {
        pool = (cpng_pool *)calloc(1, sizeof(cpng_pool));
        if (pool != NULL && pthread_setspecific(cpng_pool_key, pool) != 0) {
            free(pool);
            pool = NULL;
        }
    }
    return pool;
}

static void *cpng_pool_malloc(size_t size) {
    cpng_pool *pool = cpng_thread_pool();
    if (pool == NULL || size == 0 || size > CPNG_POOL_MAX_BLOCK) return malloc(size);
    int empty = -1;
    for (int i = 0; i < CPNG_POOL_SLOTS; i++) {
        cpng_block *b = &pool->blocks[i];
        if (b->pointer != NULL && !b->used && b->size == size) {
            b->used = 1;
            return b->pointer;
        }
        if (b->pointer == NULL && empty < 0) empty = i;
    }
    void *p = malloc(size);
    if (p != NULL && empty >= 0) pool->blocks[empty] = (cpng_block){p, size, 1};
    return p;
}

static void cpng_pool_free(void *pointer) {
    if (pointer == NULL) return;
    cpng_pool *pool = cpng_thread_pool();
    if (pool != NULL) {
        for (int i = 0; i < CPNG_POOL_SLOTS; i++) {
            if (pool->blocks[i].pointer == pointer) {
                pool->blocks[i].used = 0;
                return;
            }
        }
    }
    free(pointer);
}

static png_voidp cpng_png_malloc(png_structp png, png_alloc_size_t size) {
    (void)png;
    return cpng_pool_malloc(size);
}

static void cpng_png_free(png_structp png, png_voidp pointer) {
    (void)png;
    cpng_pool_free(pointer);
}

typedef struct {
    uint8_t *data;
    size_t size;
    size_t capacity;
} cpng_writer;

static void cpng_write_fn(png_structp png, png_bytep bytes, size_t length) {
    cpng_writer *writer = (cpng_writer *)png_get_io_ptr(png);
    if (length > SIZE_MAX - writer->size) png_error(png, "PNG output too large");
    size_t needed = writer->size + length;
    if (needed > writer->capacity) {
        size_t capacity = writer->capacity > 0 ? writer->capacity : 4096;
        while (capacity < needed) {
            if (capacity > SIZE_MAX / 2) { capacity = needed; break; }
            capacity *= 2;
        }
        uint8_t *grown = (uint8_t *)cpng_pool_malloc(capacity);
        if (grown == NULL) png_error(png, "out of memory for PNG output");
        memcpy(grown, writer->data, writer->size);
        cpng_pool_free(writer->data);
        writer->data = grown;
        writer->capacity = capacity;
    }
    memcpy(writer->data + writer->size, bytes, length);
    writer->size = needed;
}

static void cpng_flush_fn(png_structp png) { (void)png; }

int cpng_encode_rgb8(const uint8_t *rgb, uint32_t width, uint32_t height,
                     uint8_t **out_png, size_t *out_size,
                     char *err, size_t err_capacity) {
    if (out_png == NULL || out_size == NULL || rgb == NULL) {
        cpng_set_error(err, err_capacity, "null pointer argument");
        return CPNG_ERR_ARGUMENT;
    }
    *out_png = NULL;
    *out_size = 0;
    if (width == 0 || height == 0) {
        cpng_set_error(err, err_capacity, "image has zero width or height");
        return CPNG_ERR_ZERO_SIZE;
    }
    if (width > PNG_UINT_31_MAX / 3 || height > PNG_UINT_31_MAX) {
        cpng_set_error(err, err_capacity, "image dimensions too large for PNG");
        return CPNG_ERR_ARGUMENT;
    }

    cpng_error_context context = {err, err_capacity};
    png_structp png = png_create_write_struct_2(PNG_LIBPNG_VER_STRING, &context, cpng_error_fn, cpng_warning_fn,
                                                NULL, cpng_png_malloc, cpng_png_free);
    if (png == NULL) {
        cpng_set_error(err, err_capacity, "out of memory (png_create_write_struct)");
        return CPNG_ERR_NO_MEMORY;
    }
    png_infop info = png_create_info_struct(png);
    if (info == NULL) {
        png_destroy_write_struct(&png, NULL);
        cpng_set_error(err, err_capacity, "out of memory (png_create_info_struct)");
        return CPNG_ERR_NO_MEMORY;
    }

    // On the heap so that its contents, changed by cpng_write_fn, are well defined after a longjmp.
    cpng_writer *writer = (cpng_writer *)cpng_pool_malloc(sizeof(cpng_writer));
    if (writer != NULL) memset(writer, 0, sizeof(cpng_writer));
    if (writer == NULL) {
        png_destroy_write_struct(&png, &info);
        cpng_set_error(err, err_capacity, "out of memory (writer)");
        return CPNG_ERR_NO_MEMORY;
    }
    png_bytep *volatile rows = NULL;

    if (setjmp(png_jmpbuf(png))) {
        cpng_pool_free(rows);
        cpng_pool_free(writer->data);
        cpng_pool_free(writer);
        png_destroy_write_struct(&png, &info);
        return CPNG_ERR_LIBPNG;
    }

    png_set_write_fn(png, writer, cpng_write_fn, cpng_flush_fn);
    // The Paeth filter and zlib level 1 with run-length matching only (Z_RLE): on the generator's 256²
    // images, whose Paeth residuals are noise-like, distant string matches gain little, so Z_RLE is both
    // faster and smaller than level 1's default strategy (measured on a shipped-weights image: 1.8 ms and
    // 73 KB against 2.1 ms and 90 KB; libpng's defaults, level 6 with an adaptive filter per row: 24.7 ms,
    // 84 KB), and still collapses flat areas (attention maps, uploads) to almost nothing.
    png_set_compression_level(png, 1);
    png_set_compression_strategy(png, Z_RLE);
    png_set_filter(png, PNG_FILTER_TYPE_BASE, PNG_FILTER_PAETH);
    // Room for a typical result up front (half the raw size), so the output buffer rarely grows.
    writer->capacity = (size_t)width * height * 3 / 2 + 4096;
    writer->data = (uint8_t *)cpng_pool_malloc(writer->capacity);
    if (writer->data == NULL) png_error(png, "out of memory for PNG output");
    png_set_IHDR(png, info, width, height, 8, PNG_COLOR_TYPE_RGB, PNG_INTERLACE_NONE,
                 PNG_COMPRESSION_TYPE_DEFAULT, PNG_FILTER_TYPE_DEFAULT);
    rows = (png_bytep *)cpng_pool_malloc(sizeof(png_bytep) * (size_t)height);
    if (rows == NULL) png_error(png, "out of memory for row pointers");
    for (uint32_t y = 0; y < height; y++) rows[y] = (png_bytep)(rgb + (size_t)y * width * 3);
    png_write_info(png, info);
    png_write_image(png, rows);
    png_write_end(png, NULL);

    cpng_pool_free(rows);
    png_destroy_write_struct(&png, &info);
    *out_png = writer->data;
    *out_size = writer->size;
    cpng_pool_free(writer);
    return CPNG_OK;
}

void cpng_free(void *pointer) { free(pointer); }

void cpng_free_encoded(void *pointer) { cpng_pool_free(pointer); }
