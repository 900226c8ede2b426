"""Writes the image-decoder fixtures of Tests/MirrorGANTests/ImageDecoderTests.swift (PIL from the toolkit's venv):

  upright.png               64×48 RGB, four coloured quadrants and a bar: every orientation looks different
  baseline.jpg, progressive.jpg, grey.jpg, cmyk.jpg   the same picture as JPEG (quality 95)
  orient1.jpg … orient8.jpg the picture stored as a camera would for EXIF orientation n (so that applying the
                            tag gives upright.png back)
  lossless.webp, lossy.webp, alpha.webp   WebP (alpha.webp: left half transparent, composited over white)
  truncated.jpg, huge.jpg, huge.webp, huge.png   malformed and bomb headers (65000×65000, 16383×16383, 100000²)

Run: training/.venv/bin/python Tests/Fixtures/images/make_images.py
"""
import io
import os
import struct
import zlib

from PIL import Image

HERE = os.path.dirname(os.path.abspath(__file__))


def upright():
    im = Image.new("RGB", (64, 48))
    px = im.load()
    for y in range(48):
        for x in range(64):
            q = (x >= 32) + 2 * (y >= 24)
            px[x, y] = [(200, 40, 40), (40, 200, 40), (40, 40, 200), (220, 220, 40)][q]
            if 8 <= y < 16 and x < 24:
                px[x, y] = (250, 250, 250)
    return im


# The transform a camera's stored pixels need for EXIF orientation n (PIL's exif_transpose table); the stored
# image is its inverse applied to the upright picture.
TO_UPRIGHT = {2: Image.FLIP_LEFT_RIGHT, 3: Image.ROTATE_180, 4: Image.FLIP_TOP_BOTTOM, 5: Image.TRANSPOSE,
              6: Image.ROTATE_270, 7: Image.TRANSVERSE, 8: Image.ROTATE_90}
INVERSE = {Image.FLIP_LEFT_RIGHT: Image.FLIP_LEFT_RIGHT, Image.ROTATE_180: Image.ROTATE_180,
           Image.FLIP_TOP_BOTTOM: Image.FLIP_TOP_BOTTOM, Image.TRANSPOSE: Image.TRANSPOSE,
           Image.ROTATE_270: Image.ROTATE_90, Image.TRANSVERSE: Image.TRANSVERSE, Image.ROTATE_90: Image.ROTATE_270}


def save(name, data):
    with open(os.path.join(HERE, name), "wb") as f:
        f.write(data)


def encoded(im, fmt, **kw):
    buf = io.BytesIO()
    im.save(buf, fmt, **kw)
    return buf.getvalue()


def png_chunk(kind, payload):
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)


def main():
    im = upright()
    save("upright.png", encoded(im, "PNG"))
    save("baseline.jpg", encoded(im, "JPEG", quality=95, subsampling=0))
    save("progressive.jpg", encoded(im, "JPEG", quality=95, subsampling=0, progressive=True))
    save("grey.jpg", encoded(im.convert("L"), "JPEG", quality=95))
    save("cmyk.jpg", encoded(im.convert("CMYK"), "JPEG", quality=95))
    for n in range(1, 9):
        stored = im if n == 1 else im.transpose(INVERSE[TO_UPRIGHT[n]])
        exif = Image.Exif()
        exif[0x0112] = n
        save(f"orient{n}.jpg", encoded(stored, "JPEG", quality=95, subsampling=0, exif=exif.tobytes()))
    save("lossless.webp", encoded(im, "WEBP", lossless=True))
    save("lossy.webp", encoded(im, "WEBP", quality=95))
    rgba = im.convert("RGBA")
    a = rgba.load()
    for y in range(48):
        for x in range(32):
            r, g, b, _ = a[x, y]
            a[x, y] = (r, g, b, 0)
    save("alpha.webp", encoded(rgba, "WEBP", lossless=True))
    jpg = encoded(im, "JPEG", quality=95)
    save("truncated.jpg", jpg[: len(jpg) // 2])
    # A real JPEG whose SOF0 claims 65000×65000 (jpeg_read_header reads up to the first scan, so the size is
    # known before any pixel memory), and a real lossless WebP whose VP8L header claims 16384×16384.
    big = bytearray(jpg)
    sof = big.index(b"\xff\xc0")
    big[sof + 5:sof + 9] = struct.pack(">HH", 65000, 65000)
    save("huge.jpg", bytes(big))
    webp = bytearray(encoded(im, "WEBP", lossless=True))
    assert webp[12:16] == b"VP8L" and webp[20] == 0x2F
    bits = struct.unpack("<I", webp[21:25])[0] & ~((1 << 28) - 1)
    webp[21:25] = struct.pack("<I", bits | (16384 - 1) | ((16384 - 1) << 14))
    save("huge.webp", bytes(webp))
    ihdr = struct.pack(">IIBBBBB", 100000, 100000, 8, 2, 0, 0, 0)
    save("huge.png", b"\x89PNG\r\n\x1a\n" + png_chunk(b"IHDR", ihdr) + png_chunk(b"IDAT", zlib.compress(b"\x00" * 64))
         + png_chunk(b"IEND", b""))


if __name__ == "__main__":
    main()
