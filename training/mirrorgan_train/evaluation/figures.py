"""The evaluation's figures: a grid of generated images per caption and the word-attention maps
(PNG size-limited for the repository)."""
from __future__ import annotations

import os

import numpy as np
import torch
import torch.nn.functional as F

from .batched import generate_batch, uint8_batch
from .data import TestSet


def _font():
    from PIL import ImageFont

    for name in ("DejaVuSans.ttf", "/usr/share/fonts/truetype/dejavu/DejaVuSans.ttf"):
        try:
            return ImageFont.truetype(name, 13)
        except OSError:
            continue
    return ImageFont.load_default()


def _text_size(draw, text, font):
    box = draw.textbbox((0, 0), text, font=font)
    return box[2] - box[0], box[3] - box[1]


def save_png_limited(img, path, limit=1_500_000):
    """PNG (optimize); palette-quantise, then shrink, until it is under `limit` bytes."""
    from PIL import Image

    img.save(path, optimize=True)
    if os.path.getsize(path) <= limit:
        return
    q = img.quantize(colors=256, method=Image.Quantize.MEDIANCUT, dither=Image.Dither.FLOYDSTEINBERG)
    q.save(path, optimize=True)
    while os.path.getsize(path) > limit:
        img = img.resize((int(img.width * 0.85), int(img.height * 0.85)), Image.LANCZOS)
        img.quantize(colors=256, method=Image.Quantize.MEDIANCUT).save(path, optimize=True)


def grid_captions(ts: TestSet, rows=8):
    idx = [(r * 37) % ts.n_all for r in range(rows)]
    return [(i, list(ts.caps.caption("test", i, 0)), ts.text(i, 0)) for i in idx]


@torch.no_grad()
def make_grid(model, ts, path, rows=8, seeds=4, title=None):
    from PIL import Image, ImageDraw

    font = _font()
    caps = grid_captions(ts, rows)
    size, band, pad = 256, 22, 2
    head = 24 if title else 0
    W = seeds * size + (seeds - 1) * pad
    canvas = Image.new("RGB", (W, head + rows * (size + band)), "white")
    draw = ImageDraw.Draw(canvas)
    if title:
        draw.text((4, 4), title, fill="black", font=font)
    for r, (_, ids, text) in enumerate(caps):
        img, _ = generate_batch(model, [ids] * seeds, list(range(seeds)))
        u8 = uint8_batch(img).permute(0, 2, 3, 1).numpy()
        y = head + r * (size + band)
        for c in range(seeds):
            canvas.paste(Image.fromarray(u8[c]), (c * (size + pad), y))
        while _text_size(draw, text, font)[0] > W - 8 and len(text) > 10:
            text = text[:-5] + "…"
        draw.text((4, y + size + 3), text, fill="black", font=font)
    save_png_limited(canvas, path)


def _heat(a: np.ndarray) -> np.ndarray:
    """[H,W] in [0,1] -> RGB float (a 'jet'-like colour map)."""
    r = np.clip(1.5 - np.abs(4 * a - 3), 0, 1)
    g = np.clip(1.5 - np.abs(4 * a - 2), 0, 1)
    b = np.clip(1.5 - np.abs(4 * a - 1), 0, 1)
    return np.stack([r, g, b], -1)


@torch.no_grad()
def make_attention(model, ts, path, n_captions=2, cell=160):
    from PIL import Image, ImageDraw

    if model.cfg.branch_num < 2:
        return False
    font = _font()
    caps = grid_captions(ts, 8)
    # the two shortest of the grid captions (readable word rows)
    caps = sorted(caps, key=lambda c: len(c[1]))[:n_captions]
    per_row = 8
    rows_img = []
    for _, ids, text in caps:
        img, atts = generate_batch(model, [ids], [0])
        att = atts[-1][0]  # stage-3 (last stage) word attention [T, h, w]
        words = [model.ixtoword[t] for t in ids]
        u8 = uint8_batch(img)[0].permute(1, 2, 0).numpy()
        base = np.asarray(Image.fromarray(u8).resize((cell, cell), Image.BILINEAR)).astype(np.float32) / 255
        maps = F.interpolate(att[: len(words)].unsqueeze(1), size=(cell, cell), mode="bilinear",
                             align_corners=False)[:, 0].numpy()
        # attention is a distribution over words at each pixel: one scale for all words of the caption (a robust
        # maximum, since border pixels can be outliers), so the maps compare across words
        scale = max(float(np.percentile(maps, 99.5)), 1e-8)
        n_rows = (len(words) + per_row - 1) // per_row
        label_h = 18
        W = 256 + 8 + per_row * (cell + 4)
        H = max(256 + label_h, n_rows * (cell + label_h)) + 22
        canvas = Image.new("RGB", (W, H), "white")
        draw = ImageDraw.Draw(canvas)
        short = text if _text_size(draw, text, font)[0] < W - 8 else text[:120] + "…"
        draw.text((4, 2), short, fill="black", font=font)
        canvas.paste(Image.fromarray(u8), (0, 22))
        for w, (word, m) in enumerate(zip(words, maps)):
            m = np.clip(m / scale, 0, 1)
            over = 0.45 * base + 0.55 * _heat(m)
            x = 256 + 8 + (w % per_row) * (cell + 4)
            y = 22 + (w // per_row) * (cell + label_h)
            canvas.paste(Image.fromarray((over * 255).astype(np.uint8)), (x, y + label_h))
            draw.text((x + 2, y + 2), word, fill="black", font=font)
        rows_img.append(canvas)
    W = max(r.width for r in rows_img)
    out = Image.new("RGB", (W, sum(r.height for r in rows_img) + 8 * (len(rows_img) - 1)), "white")
    y = 0
    for r in rows_img:
        out.paste(r, (0, y))
        y += r.height + 8
    save_png_limited(out, path)
    return True
