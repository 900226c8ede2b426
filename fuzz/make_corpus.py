#!/usr/bin/env python3
"""Writes the committed seed corpora under fuzz/corpus/<target>/ (small, deterministic files).

Run with the toolkit's interpreter (it has PIL, numpy and safetensors):
    training/.venv/bin/python fuzz/make_corpus.py
"""
import base64
import io
import json
import os
import struct
import sys

import numpy as np
from PIL import Image

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")


def out(target, name, data):
    d = os.path.join(ROOT, target)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode("utf-8")
    with open(os.path.join(d, name), "wb") as f:
        f.write(data)


def png_bytes(img, **kw):
    b = io.BytesIO()
    img.save(b, format="PNG", **kw)
    return b.getvalue()


def pngs():
    rng = np.random.default_rng(0)
    rgb = rng.integers(0, 256, (8, 8, 3), dtype=np.uint8)
    yield "rgb8.png", png_bytes(Image.fromarray(rgb, "RGB"))
    yield "rgb8_interlaced.png", png_bytes(Image.fromarray(rgb, "RGB"), interlace=1)
    rgba = rng.integers(0, 256, (6, 5, 4), dtype=np.uint8)
    yield "rgba8.png", png_bytes(Image.fromarray(rgba, "RGBA"))
    grey = rng.integers(0, 256, (7, 3), dtype=np.uint8)
    yield "grey8.png", png_bytes(Image.fromarray(grey, "L"))
    yield "grey_alpha.png", png_bytes(Image.fromarray(np.stack([grey, grey[::-1]], -1), "LA"))
    yield "grey1.png", png_bytes(Image.fromarray(grey > 127).convert("1"))
    grey16 = (rng.integers(0, 65536, (4, 4))).astype(np.uint16)
    yield "grey16.png", png_bytes(Image.fromarray(grey16, "I;16"))
    pal = Image.fromarray(rgb, "RGB").convert("P", palette=Image.ADAPTIVE, colors=16)
    yield "palette4.png", png_bytes(pal, bits=4)
    pal_t = pal.copy()
    pal_t.info["transparency"] = 0
    yield "palette_trns.png", png_bytes(pal_t, transparency=0)
    yield "palette_interlaced.png", png_bytes(pal, interlace=1)
    yield "one_pixel.png", png_bytes(Image.new("RGB", (1, 1), (255, 0, 0)))
    # 16-bit RGB: PIL cannot write it, so build the chunks by hand (filter 0 rows, zlib).
    import zlib

    def chunk(kind, data):
        c = struct.pack(">I", len(data)) + kind + data
        return c + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

    w, h = 3, 2
    raw = b"".join(b"\x00" + rng.integers(0, 256, w * 6, dtype=np.uint8).tobytes() for _ in range(h))
    png16 = (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0))
             + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    yield "rgb16.png", png16
    raw_a = b"".join(b"\x00" + rng.integers(0, 256, w * 8, dtype=np.uint8).tobytes() for _ in range(h))
    yield "rgba16_interlaced.png", (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 16, 6, 0, 0, 1))
                                    + chunk(b"IDAT", zlib.compress(raw_a + raw_a)) + chunk(b"IEND", b""))
    # Header claims 5000x5000 (over the 16 Mpx limit) and 0x4: the shim's own IHDR checks.
    yield "too_large_header.png", (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 5000, 5000, 8, 2, 0, 0, 0))
                                   + chunk(b"IEND", b""))
    yield "zero_width.png", (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 0, 4, 8, 2, 0, 0, 0))
                             + chunk(b"IEND", b""))


def jpegs():
    rng = np.random.default_rng(1)
    rgb = Image.fromarray(rng.integers(0, 256, (16, 24, 3), dtype=np.uint8), "RGB")

    def jpg(img, **kw):
        b = io.BytesIO()
        img.save(b, format="JPEG", **kw)
        return b.getvalue()

    yield "baseline.jpg", jpg(rgb, quality=80)
    yield "progressive.jpg", jpg(rgb, quality=80, progressive=True)
    yield "grey.jpg", jpg(rgb.convert("L"), quality=80)
    yield "cmyk.jpg", jpg(rgb.convert("CMYK"), quality=80)
    yield "subsampled.jpg", jpg(rgb, quality=50, subsampling=2)
    exif = Image.Exif()
    exif[0x0112] = 6
    yield "exif_orientation6.jpg", jpg(rgb, quality=80, exif=exif.tobytes())
    exif[0x0112] = 5
    yield "exif_orientation5_progressive.jpg", jpg(rgb, quality=80, progressive=True, exif=exif.tobytes())


def webps():
    rng = np.random.default_rng(2)
    rgb = Image.fromarray(rng.integers(0, 256, (12, 10, 3), dtype=np.uint8), "RGB")
    rgba = Image.fromarray(rng.integers(0, 256, (9, 7, 4), dtype=np.uint8), "RGBA")

    def webp(img, **kw):
        b = io.BytesIO()
        img.save(b, format="WEBP", **kw)
        return b.getvalue()

    yield "lossy.webp", webp(rgb, quality=70)
    yield "lossless.webp", webp(rgb, lossless=True)
    yield "alpha_lossless.webp", webp(rgba, lossless=True)
    yield "alpha_lossy.webp", webp(rgba, quality=70)


def main():
    for name, data in jpegs():
        out("jpeg", name, data)
    for name, data in webps():
        out("webp", name, data)
    png_list = list(pngs())
    for name, data in png_list:
        out("png", name, data)
    small_png = dict(png_list)["rgb8.png"]
    grey_png = dict(png_list)["grey8.png"]

    # Generation request bodies (POST /v1/images/generations).
    bodies = {
        "minimal.json": {"caption": "a small red bird"},
        "full.json": {"caption": "this bird has a black crown and yellow wings", "seed": 42, "n": 2,
                      "response_format": "png", "return_attention": True, "beam_size": 3},
        "random_seed.json": {"caption": "bird", "seed": -1},
        "max_seed.json": {"caption": "bird", "seed": 18446744073709551615},
        "nulls.json": {"caption": "bird", "seed": None, "n": None, "response_format": None},
        "extra.json": {"caption": "bird", "unknown": [1, 2.5e-3, {"a": [True, False, None]}]},
    }
    for name, b in bodies.items():
        out("json", name, json.dumps(b))
    out("json", "escapes.json", '{"caption":"a \\"bird\\" \\\\ \\/ \\b\\f\\n\\r\\t \\u00e9 \\ud83d\\udc26"}')
    out("json", "nested.json", '{"caption":"x","a":' + "[" * 40 + "]" * 40 + "}")
    out("json", "numbers.json", '{"caption":"x","n":1,"seed":0,"beam_size":8,"z":[-0,0.5,1E+2,-1e-9,123456789012345678901234567890]}')
    out("json", "duplicate.json", '{"caption":"a","caption":"b","n":1,"n":2}')
    out("json", "whitespace.json", ' \t\r\n{ "caption" : "bird" } \n')
    # OpenAI Images API and chat-completions bodies (the json harness parses every input as both).
    out("json", "openai_images.json", json.dumps({"model": "synthbirds", "prompt": "a small red bird", "n": 1, "size": "256x256",
                                                  "response_format": "b64_json", "quality": "standard", "style": "vivid",
                                                  "user": "u"}))
    image_part = {"type": "image_url", "image_url": {"url": "data:image/png;base64," + base64.b64encode(small_png).decode()}}
    out("json", "openai_chat.json", json.dumps({"model": "synthbirds", "max_tokens": 5, "stream": True,
                                                "stream_options": {"include_usage": True},
                                                "messages": [{"role": "system", "content": "describe"},
                                                             {"role": "user", "content": [{"type": "text", "text": "what bird?"}, image_part]}]}))
    out("json", "openai_chat_raw.json", json.dumps({"messages": [{"role": "user", "content": [
        {"type": "image_url", "image_url": base64.b64encode(grey_png).decode()}]}]}))

    # Multipart: first line is the Content-Type header value, the rest the body.
    def multipart(boundary, parts, ct=None):
        body = b""
        for headers, content in parts:
            body += b"--" + boundary.encode() + b"\r\n" + headers.encode() + b"\r\n\r\n" + content + b"\r\n"
        body += b"--" + boundary.encode() + b"--\r\n"
        return (ct or f"multipart/form-data; boundary={boundary}").encode() + b"\n" + body

    img = 'Content-Disposition: form-data; name="image"; filename="a.png"\r\nContent-Type: image/png'
    beam = 'Content-Disposition: form-data; name="beam_size"'
    out("multipart", "image.txt", multipart("XyZ", [(img, small_png)]))
    out("multipart", "image_beam.txt", multipart("----formdata123", [(beam, b"4"), (img, grey_png)]))
    out("multipart", "quoted_boundary.txt", multipart("a b", [(img, small_png)], 'multipart/form-data; boundary="a b"'))
    out("multipart", "no_image.txt", multipart("b", [(beam, b"2")]))
    out("multipart", "bad_beam.txt", multipart("b", [(beam, b"nine"), (img, small_png)]))
    out("multipart", "raw_png.txt", b"image/png\n" + small_png)
    out("multipart", "json.txt", b"application/json\n" + json.dumps({"image": base64.b64encode(small_png).decode()}).encode())
    out("multipart", "padding.txt", b"multipart/form-data; boundary=q\n--q  \t\r\n" + img.encode() + b"\r\n\r\n" + small_png + b"\r\n--q--")

    # Base64 image text (the value of "image" in a JSON caption request).
    b64 = base64.b64encode(small_png).decode()
    out("base64", "plain.txt", b64)
    out("base64", "data_url.txt", "data:image/png;base64," + b64)
    out("base64", "wrapped.txt", "\n".join(b64[i:i + 76] for i in range(0, len(b64), 76)))
    out("base64", "data_url_not_b64.txt", "data:image/png," + b64)
    out("base64", "unpadded.txt", b64.rstrip("="))
    out("base64", "grey.txt", base64.b64encode(grey_png).decode())
    out("base64", "short.txt", "iVBORw0KGgo=")

    # Captions (raw UTF-8 bytes).
    captions = {
        "plain.txt": "a small red bird with a black crown",
        "mixed.txt": "This BIRD has YELLOW wings, and a short-beak; 12 _ x2",
        "unicode.txt": "caf\u00e9 na\u00efve \u00fcber bird \u0431\u0435\u0440\u0451\u0437\u0430 \u9ce5 \U0001F426 \u0660\u0661",
        "replacement.txt": "red\ufffd\ufffdbird \ufffd blue",
        "oov.txt": "zebra quokka",
        "empty_words.txt": "... ,,, !!!",
        "control.txt": "bird\x07 red",
        "whitespace.txt": "\tbird\r\nred ",
        "combining.txt": "bi\u0301rd re\u0308d \u00c5ngstr\u00f6m",
        "long.txt": " ".join(["bird"] * 80),
    }
    for name, text in captions.items():
        out("tokenizer", name, text)
    out("tokenizer", "invalid_utf8.txt", b"bird \xff\xfe red \xc3")

    # safetensors files.
    from safetensors.numpy import save

    out("safetensors", "f32.safetensors", save({"w": np.arange(6, dtype=np.float32).reshape(2, 3)}))
    out("safetensors", "f16_metadata.safetensors", save({"b": np.ones(3, np.float16), "a": np.zeros((1, 2), np.float16)},
                                                        metadata={"format": "pt"}))
    try:
        import torch
        from safetensors.torch import save as tsave
        out("safetensors", "bf16.safetensors", tsave({"x": torch.tensor([1.5, -2.0], dtype=torch.bfloat16)}))
    except ImportError:
        pass
    out("safetensors", "empty_tensor.safetensors", save({"e": np.zeros((0, 4), np.float32), "s": np.array(3, np.float32)}))
    header = json.dumps({"t": {"dtype": "F32", "shape": [2], "data_offsets": [0, 8]}}).encode()
    out("safetensors", "gap.safetensors", struct.pack("<Q", len(header)) + header + b"\0" * 12)
    header = json.dumps({"t": {"dtype": "I64", "shape": [1], "data_offsets": [0, 8]}}).encode()
    out("safetensors", "int64.safetensors", struct.pack("<Q", len(header)) + header + b"\0" * 8)
    out("safetensors", "too_small.safetensors", b"\x05\0\0")
    return 0


if __name__ == "__main__":
    sys.exit(main())
