"""The official `openai` Python package against the real `mirrorgan serve` binary, and uploaded images of every
supported kind through the live server.

- images.generate, models.list, chat.completions.create (plain and streaming) with the client unchanged, and
  the client's typed errors for what the server refuses (model_not_found, size, response_format=url);
- PNG variants (RGBA, 16-bit, grey, palette, Adam7 interlaced), JPEG (baseline, progressive, EXIF orientation)
  and WebP (lossless, lossy) at several sizes caption exactly like the equivalent RGB PNG: the PNG of the same
  picture for lossless codings, the PNG of the pixels PIL decodes (the same Debian libjpeg-turbo and libwebp)
  for lossy ones, so a decoding difference of any kind would show;
- malformed and oversized (decompression-bomb) files of each format get a 4xx JSON error and the server lives.

Environment: MIRRORGAN_BIN, MIRRORGAN_WEIGHTS (as test_server_live.py). Run: make test-integration
"""
import base64
import difflib
import io
import json
import struct
import zlib

import openai
import pytest
from PIL import Image, ImageOps

from test_server_live import WEIGHTS, Server, error_of, png_size

MODEL = json.load(open(f"{WEIGHTS}/model.json"))["name"]
CAPTION = "this bird has a red crown and a white belly"


@pytest.fixture(scope="module")
def server():
    s = Server("--max-body-bytes", str(32 << 20))  # room for the 16-bit PNGs of large images
    yield s
    assert s.stop() == 0


@pytest.fixture(scope="module")
def client(server):
    return openai.OpenAI(base_url=f"http://127.0.0.1:{server.port}/v1", api_key="not-checked", max_retries=0, timeout=300)


@pytest.fixture(scope="module")
def bird(client):
    """A generated 256×256 bird as PIL RGB."""
    r = client.images.generate(model=MODEL, prompt=CAPTION, n=1, size="256x256", response_format="b64_json",
                               extra_body={"seed": 11})
    return Image.open(io.BytesIO(base64.b64decode(r.data[0].b64_json))).convert("RGB")


def encode(img, fmt, **kw):
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def caption(server, data, content_type="application/octet-stream"):
    status, _, body = server.request("POST", "/v1/captions", data, {"Content-Type": content_type})
    assert status == 200, body[:300]
    return json.loads(body)["caption"]


def similarity(a, b):
    return difflib.SequenceMatcher(None, a.split(), b.split()).ratio()


def chunk(kind, payload):
    return struct.pack(">I", len(payload)) + kind + payload + struct.pack(">I", zlib.crc32(kind + payload) & 0xFFFFFFFF)


def interlaced_png(img):
    """An 8-bit RGB Adam7-interlaced PNG (PIL cannot write one)."""
    w, h = img.size
    px = img.tobytes()
    raw = b""
    for x0, y0, dx, dy in [(0, 0, 8, 8), (4, 0, 8, 8), (0, 4, 4, 8), (2, 0, 4, 4), (0, 2, 2, 4), (1, 0, 2, 2), (0, 1, 1, 2)]:
        xs, ys = range(x0, w, dx), range(y0, h, dy)
        if len(xs) == 0 or len(ys) == 0:
            continue
        for y in ys:
            raw += b"\0" + b"".join(px[(y * w + x) * 3:(y * w + x) * 3 + 3] for x in xs)
    ihdr = struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 1)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def png16(img):
    """16-bit RGB PNG whose samples are the 8-bit ones × 257 (decodes back to the same 8-bit pixels)."""
    w, h = img.size
    px = img.tobytes()
    raw = b"".join(b"\0" + b"".join(struct.pack(">H", v * 257) for v in px[y * w * 3:(y + 1) * w * 3]) for y in range(h))
    ihdr = struct.pack(">IIBBBBB", w, h, 16, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def with_orientation(img, n):
    """A JPEG storing `img` as a camera would for EXIF orientation n (6: rotated 90° clockwise to display)."""
    inverse = {6: Image.ROTATE_90, 8: Image.ROTATE_270, 3: Image.ROTATE_180}
    exif = Image.Exif()
    exif[0x0112] = n
    return encode(img.transpose(inverse[n]), "JPEG", quality=95, exif=exif.tobytes())


# ---- the openai client --------------------------------------------------------------------------------------

def test_images_generate_with_the_openai_client(client):
    r = client.images.generate(model=MODEL, prompt="a small bird with a red belly", n=2, size="256x256",
                               response_format="b64_json")
    assert isinstance(r.created, int) and r.created > 1_700_000_000
    assert len(r.data) == 2
    for d in r.data:
        assert png_size(base64.b64decode(d.b64_json)) == (256, 256)
        # This server's fields travel beside OpenAI's and the client keeps them.
        assert d.model_extra["redescription"] and d.model_extra["r_precision"]["candidates"] == 100
    # Defaults (no size, no response_format, no model) work too.
    assert len(client.images.generate(prompt="a small yellow bird").data) == 1


def test_models_list_with_the_openai_client(client):
    models = client.models.list().data
    assert [m.id for m in models] == [MODEL]
    assert models[0].owned_by == "mirrorgan" and models[0].created > 1_700_000_000


def test_refusals_are_the_clients_typed_errors(client):
    with pytest.raises(openai.NotFoundError) as e:
        client.images.generate(model="dall-e-3", prompt="a bird")
    assert e.value.code == "model_not_found" and e.value.param == "model"
    with pytest.raises(openai.BadRequestError) as e:
        client.images.generate(model=MODEL, prompt="a bird", size="512x512")
    assert e.value.param == "size" and "256x256" in e.value.message
    with pytest.raises(openai.BadRequestError) as e:
        client.images.generate(model=MODEL, prompt="a bird", response_format="url")
    assert e.value.code == "unsupported_value" and e.value.param == "response_format"
    with pytest.raises(openai.BadRequestError) as e:
        client.images.generate(model=MODEL, prompt="a bird", quality="hd")
    assert e.value.param == "quality"
    with pytest.raises(openai.NotFoundError):
        client.chat.completions.create(model="gpt-4o", messages=[{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "iVBORw0KGgo="}}]}])


def test_chat_completions_caption_an_image(server, client, bird):
    png = encode(bird, "PNG")
    want = caption(server, png, "image/png")
    for url in ["data:image/png;base64," + base64.b64encode(png).decode(), base64.b64encode(png).decode()]:
        r = client.chat.completions.create(model=MODEL, messages=[
            {"role": "system", "content": "You describe birds."},
            {"role": "user", "content": [{"type": "text", "text": "What bird is this?"},
                                         {"type": "image_url", "image_url": {"url": url, "detail": "low"}}]}])
        assert r.object == "chat.completion" and r.model == MODEL
        assert r.choices[0].message.role == "assistant"
        assert r.choices[0].message.content == want
        assert r.choices[0].finish_reason == "stop"
        assert r.usage.completion_tokens == len(want.split())
        assert r.usage.prompt_tokens == 1
        assert r.usage.total_tokens == len(want.split()) + 1
    cut = client.chat.completions.create(model=MODEL, max_tokens=3, messages=[{"role": "user", "content": [
        {"type": "image_url", "image_url": {"url": base64.b64encode(png).decode()}}]}])
    assert cut.choices[0].message.content == " ".join(want.split()[:3]) and cut.choices[0].finish_reason == "length"


def test_chat_completions_stream(server, client, bird):
    jpg = encode(bird, "JPEG", quality=95)
    want = caption(server, jpg, "image/jpeg")
    stream = client.chat.completions.create(model=MODEL, stream=True, stream_options={"include_usage": True},
                                            messages=[{"role": "user", "content": [
                                                {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64," + base64.b64encode(jpg).decode()}}]}])
    words, finish, usage = [], [], None
    for c in stream:
        assert c.object == "chat.completion.chunk"
        if c.choices:
            if c.choices[0].delta.content:
                words.append(c.choices[0].delta.content)
            if c.choices[0].finish_reason:
                finish.append(c.choices[0].finish_reason)
        if c.usage:
            usage = c.usage
    assert "".join(words) == want
    assert len(words) == len(want.split())
    assert finish == ["stop"]
    assert usage is not None and usage.completion_tokens == len(want.split())


# ---- image inputs ---------------------------------------------------------------------------------------------

SIZES = [(256, 256), (640, 480), (1500, 1000)]


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_png_variants_caption_like_the_rgb_png(server, bird, size):
    img = bird.resize(size, Image.BICUBIC)
    want = caption(server, encode(img, "PNG"))
    # Same pixels, other encodings: the same caption exactly.
    rgba = img.convert("RGBA")
    assert caption(server, encode(rgba, "PNG"), "image/png") == want
    assert caption(server, png16(img), "image/png") == want
    assert caption(server, interlaced_png(img), "image/png") == want
    grey = img.convert("L")
    assert caption(server, encode(grey, "PNG")) == caption(server, encode(grey.convert("RGB"), "PNG"))
    # A 256-colour palette changes the pixels (the shipped captioner is sensitive to that: 0.4 word overlap
    # was measured at 256²), so its caption is compared with the RGB PNG of the same quantised pixels.
    pal = img.quantize(256)
    assert caption(server, encode(pal, "PNG")) == caption(server, encode(pal.convert("RGB"), "PNG"))


@pytest.mark.parametrize("size", SIZES, ids=lambda s: f"{s[0]}x{s[1]}")
def test_jpeg_and_webp_caption_like_the_png(server, bird, size):
    img = bird.resize(size, Image.BICUBIC)
    want = caption(server, encode(img, "PNG"))
    assert caption(server, encode(img, "WEBP", lossless=True), "image/webp") == want
    lossy = {
        "jpeg baseline": encode(img, "JPEG", quality=95),
        "jpeg progressive": encode(img, "JPEG", quality=95, progressive=True),
        "jpeg 4:2:0": encode(img, "JPEG", quality=75, subsampling=2),
        "webp lossy": encode(img, "WEBP", quality=90),
    }
    for name, data in lossy.items():
        decoded = Image.open(io.BytesIO(data)).convert("RGB")
        assert decoded.size == size
        got = caption(server, data, "image/jpeg" if "jpeg" in name else "image/webp")
        assert got == caption(server, encode(decoded, "PNG")), name
        # What lossy coding did to the caption (the shipped captioner is sensitive to small pixel changes).
        print(f"{size} {name}: word overlap with the lossless caption {similarity(got, want):.2f}")
    # EXIF orientation: the photo stored turned, with the tag, captions as its upright pixels do.
    for n in (3, 6, 8):
        stored = with_orientation(img, n)
        upright = ImageOps.exif_transpose(Image.open(io.BytesIO(stored))).convert("RGB")
        assert upright.size == size
        assert caption(server, stored, "image/jpeg") == caption(server, encode(upright, "PNG")), n


def jpeg_with_size(data, w, h):
    b = bytearray(data)
    sof = b.index(b"\xff\xc0")
    b[sof + 5:sof + 9] = struct.pack(">HH", h, w)
    return bytes(b)


def webp_with_size(data, w, h):
    b = bytearray(data)
    assert b[12:16] == b"VP8L"
    bits = struct.unpack("<I", b[21:25])[0] & ~((1 << 28) - 1)
    b[21:25] = struct.pack("<I", bits | (w - 1) | ((h - 1) << 14))
    return bytes(b)


def test_malformed_and_oversized_files_get_4xx(server, bird):
    small = bird.resize((64, 64))
    jpg = encode(small, "JPEG", quality=90)
    webp = encode(small, "WEBP", lossless=True)
    cases = [
        (jpg[:len(jpg) // 2], 400),                                   # truncated JPEG
        (jpg[:2] + b"\xff\xc0" + b"\x00" * 40, 400),                  # SOI then a broken frame header
        (jpeg_with_size(jpg, 65000, 65000), 413),                      # bomb: 4.2 Gpx declared
        (jpeg_with_size(jpg, 0, 64), 400),                             # zero width
        (webp[:len(webp) // 2], 400),                                  # truncated WebP
        (webp_with_size(webp, 16384, 16384), 413),                     # bomb: 268 Mpx declared
        (b"RIFF\x10\x00\x00\x00WEBPVP8 " + b"\x00" * 8, 400),          # empty VP8 frame
        (b"GIF89a" + b"\x00" * 40, 400),                               # unsupported format
        (b"BM" + b"\x00" * 60, 400),
    ]
    for data, status in cases:
        for ct in ("image/jpeg", "image/webp", "application/octet-stream"):
            s, _, body = server.request("POST", "/v1/captions", data, {"Content-Type": ct})
            assert s == status, (data[:16], ct, body[:200])
            assert error_of(body)["code"] == ("image_too_large" if status == 413 else "invalid_image")
        s, _, body = server.post_json("/v1/chat/completions", {"messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "data:image/jpeg;base64," + base64.b64encode(data).decode()}}]}]})
        assert s == status, (data[:16], body[:200])
        assert server.healthy()
    # The limit is configurable: a server with --max-image-pixels 4096 refuses a 65×64 image, takes 64×64.
    tight = Server("--max-image-pixels", "4096")
    try:
        ok = encode(bird.resize((64, 64)), "PNG")
        assert tight.request("POST", "/v1/captions", ok, {"Content-Type": "image/png"})[0] == 200
        s, _, body = tight.request("POST", "/v1/captions", encode(bird.resize((65, 64)), "JPEG"), {"Content-Type": "image/jpeg"})
        assert s == 413 and "4096" in error_of(body)["message"]
    finally:
        assert tight.stop() == 0
