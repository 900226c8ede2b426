"""Backgrounds of the SynthBirds renderer: vectorised numpy gradients and textures (float32 HxWx3 in 0..255), the
ground strip with the bird's shadow, and the iridescent gradient (package-private: only render.py uses them)."""
from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from .attributes import IRIDESCENT_STOPS


# ----------------------------------------------------------------------------
# Backgrounds (float32 HxWx3 in 0..255)
# ----------------------------------------------------------------------------
def _noise(rng, gh, gw, size, resample=Image.BICUBIC):
    a = (rng.random((gh, gw)) * 255).astype(np.uint8)
    im = Image.fromarray(a, "L").resize((size, size), resample)
    return np.asarray(im, dtype=np.float32) * (1.0 / 255.0)


def _lerp(c0, c1, t):
    c0 = np.asarray(c0, np.float32)
    c1 = np.asarray(c1, np.float32)
    return c0 + (c1 - c0) * t[..., None]


def _jit(rng, c, s=10.0):
    return np.clip(np.asarray(c, np.float32) + rng.normal(0, s, 3), 0, 255).astype(np.float32)


def _background(kind, rng, size):
    yy = np.linspace(0.0, 1.0, size, dtype=np.float32)[:, None]  # (size, 1): broadcasts over x
    full = lambda g: np.broadcast_to(g, (size, size, 3)).copy()  # noqa: E731
    if kind == "sky":
        top, bot = _jit(rng, (62, 122, 206)), _jit(rng, (178, 208, 240))
        img = full(_lerp(top, bot, yy))
        n = 0.65 * _noise(rng, 4, 5, size) + 0.35 * _noise(rng, 9, 11, size)
        cl = np.clip((n - rng.uniform(0.5, 0.62)) * 3.0, 0.0, 0.85)
        img = img * (1 - cl[..., None]) + 246.0 * cl[..., None]
    elif kind == "foliage":
        dark, light = _jit(rng, (34, 78, 34)), _jit(rng, (118, 168, 72))
        t = 0.55 * _noise(rng, 5, 5, size) + 0.45 * _noise(rng, 14, 14, size)
        t = np.clip((t - 0.2) * 1.6, 0, 1)
        img = _lerp(dark, light, t)
        img *= (1.05 - 0.2 * yy)[..., None]
    elif kind == "water":
        top, bot = _jit(rng, (70, 140, 170)), _jit(rng, (22, 72, 112))
        img = full(_lerp(top, bot, yy))
        rip = _noise(rng, 40, 3, size) * 0.6 + _noise(rng, 90, 5, size) * 0.4
        img += ((rip - 0.5) * 70.0)[..., None]
        hi = np.clip((rip - 0.72) * 5.0, 0, 1)
        img = img * (1 - hi[..., None] * 0.6) + 235.0 * hi[..., None] * 0.6
    elif kind == "branch":
        top, bot = _jit(rng, (170, 190, 175)), _jit(rng, (120, 150, 120))
        img = full(_lerp(top, bot, yy))
        lo = size // 4
        m = Image.new("L", (lo, lo), 0)
        d = ImageDraw.Draw(m)
        for _ in range(int(rng.integers(3, 6))):
            x0, y0 = rng.uniform(-0.2, 1.2, 2) * lo
            ang = rng.uniform(0, math.pi)
            ln = lo * 1.5
            d.line([(x0 - ln * math.cos(ang), y0 - ln * math.sin(ang)),
                    (x0 + ln * math.cos(ang), y0 + ln * math.sin(ang))],
                   fill=int(rng.integers(150, 255)), width=int(rng.integers(2, 5)))
        m = m.filter(ImageFilter.GaussianBlur(1.2)).resize((size, size), Image.BILINEAR)
        mm = np.asarray(m, np.float32)[..., None] * (0.8 / 255.0)
        img = img * (1 - mm) + _jit(rng, (74, 58, 42)) * mm
        img += ((_noise(rng, 6, 6, size) - 0.5) * 30.0)[..., None]
    else:  # ground / earth
        top, bot = _jit(rng, (168, 146, 108)), _jit(rng, (112, 86, 58))
        img = full(_lerp(top, bot, yy))
        img += ((_noise(rng, 5, 5, size) - 0.5) * 40.0)[..., None]
        img += ((_noise(rng, 64, 64, size, Image.BILINEAR) - 0.5) * 34.0)[..., None]
    return img.astype(np.float32, copy=False)


def _ground_strip(img, rng, size, y_ground, feet_x, shadow_w):
    """Foreground ground surface below ``y_ground`` (pixels), with texture and
    a soft shadow under the bird."""
    kind = int(rng.integers(3))
    near, far = [((58, 100, 38), (96, 142, 58)),
                 ((112, 84, 56), (160, 130, 92)),
                 ((186, 164, 120), (214, 196, 156))][kind]
    near, far = _jit(rng, near, 8), _jit(rng, far, 8)
    xs = np.arange(size, dtype=np.float32)
    wav = (np.sin(xs / size * rng.uniform(4, 9) + rng.uniform(0, 6)) * size * 0.008)
    ys = np.arange(size, dtype=np.float32)[:, None]
    edge = y_ground + wav[None, :]
    cover = np.clip(ys - edge + 0.5, 0, 1)
    depth = np.clip((ys - edge) / max(1.0, size - y_ground), 0, 1)
    g = _lerp(far, near, depth)
    tex = _noise(rng, 96, 96, size, Image.BILINEAR) * 0.6 + _noise(rng, 24, 48, size) * 0.4
    g += ((tex - 0.5) * 60.0)[..., None]
    # soft shadow
    dx = (xs[None, :] - feet_x) / max(shadow_w, 1.0)
    dy = (ys - (y_ground + size * 0.02)) / (size * 0.03)
    sh = np.exp(-(dx * dx + dy * dy) * 1.5) * 0.45
    g *= (1.0 - sh)[..., None]
    return (img * (1 - cover[..., None]) + g * cover[..., None]).astype(np.float32, copy=False)


def _iridescent(size, rng):
    yy, xx = np.mgrid[0:size, 0:size].astype(np.float32) / size
    ph = rng.uniform(0, 2 * math.pi)
    t = (np.sin((xx * 1.3 + yy * 0.9) * 2 * math.pi * 1.2 + ph) + 1) * 0.5
    a, b, c = (np.array(s, np.float32) for s in IRIDESCENT_STOPS)
    t2 = np.clip(t * 2, 0, 1)[..., None]
    t3 = np.clip(t * 2 - 1, 0, 1)[..., None]
    return np.where(t[..., None] < 0.5, a + (b - a) * t2, b + (c - b) * t3).astype(np.float32)
