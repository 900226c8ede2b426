"""Polygon helpers (float arrays of shape (N, 2), in bird units) and the colour palette of the SynthBirds renderer
(package-private: only render.py uses them, hence the leading underscores)."""
from __future__ import annotations

import math

import numpy as np

from .attributes import COLORS


# ----------------------------------------------------------------------------
# Small geometry helpers (polygons are float arrays of shape (N, 2)).
# ----------------------------------------------------------------------------
def _ellipse(c, a, b, rot=0.0, n=56):
    t = np.linspace(0.0, 2.0 * math.pi, n, endpoint=False)
    x, y = a * np.cos(t), b * np.sin(t)
    cr, sr = math.cos(rot), math.sin(rot)
    # rot > 0 lifts the +x end (image y points down)
    return np.stack([c[0] + x * cr + y * sr, c[1] - x * sr + y * cr], axis=1)


def _circle(c, r, n=40):
    return _ellipse(c, r, r, 0.0, n)


def _hull(p):
    """Convex hull (monotone chain)."""
    pts = sorted(set(map(tuple, np.round(p, 6))))
    if len(pts) <= 2:
        return np.array(pts)

    def cross(o, a, b):
        return (a[0] - o[0]) * (b[1] - o[1]) - (a[1] - o[1]) * (b[0] - o[0])

    lower, upper = [], []
    for q in pts:
        while len(lower) >= 2 and cross(lower[-2], lower[-1], q) <= 0:
            lower.pop()
        lower.append(q)
    for q in reversed(pts):
        while len(upper) >= 2 and cross(upper[-2], upper[-1], q) <= 0:
            upper.pop()
        upper.append(q)
    return np.array(lower[:-1] + upper[:-1])


def _clip(poly, p0, p1):
    """Keep the part of ``poly`` to the left of the directed line p0->p1
    (left in image coordinates with y down = counter-clockwise side)."""
    if len(poly) == 0:
        return poly
    d = np.array(p1, float) - np.array(p0, float)
    s = (poly[:, 0] - p0[0]) * d[1] - (poly[:, 1] - p0[1]) * d[0]
    s = -s  # >= 0 : inside
    out = []
    n = len(poly)
    for i in range(n):
        j = (i + 1) % n
        a, b = poly[i], poly[j]
        sa, sb = s[i], s[j]
        if sa >= 0:
            out.append(a)
        if (sa >= 0) != (sb >= 0):
            t = sa / (sa - sb)
            out.append(a + t * (b - a))
    return np.array(out) if out else np.zeros((0, 2))


def _clip_convex(poly, conv):
    c = conv.mean(axis=0)
    for i in range(len(conv)):
        p0, p1 = conv[i], conv[(i + 1) % len(conv)]
        d = p1 - p0
        side = -((c[0] - p0[0]) * d[1] - (c[1] - p0[1]) * d[0])
        poly = _clip(poly, p0, p1) if side >= 0 else _clip(poly, p1, p0)
        if len(poly) == 0:
            break
    return poly


def _rot(p, th):
    """Rotate body-local points so that the +x end is lifted by ``th``."""
    p = np.asarray(p, float)
    c, s = math.cos(th), math.sin(th)
    x, y = p[..., 0], p[..., 1]
    return np.stack([x * c + y * s, -x * s + y * c], axis=-1)


def _thick_line(p0, p1, w):
    p0, p1 = np.asarray(p0, float), np.asarray(p1, float)
    d = p1 - p0
    n = np.array([-d[1], d[0]]) / (np.hypot(*d) + 1e-9) * (w / 2)
    return np.array([p0 + n, p1 + n, p1 - n, p0 - n])


# ----------------------------------------------------------------------------
# Colours
# ----------------------------------------------------------------------------
class _Palette:
    def __init__(self, rng):
        self.rng = rng
        self.cache = {}

    def __call__(self, name):
        if name not in self.cache:
            base = np.array(COLORS[name], float)
            j = self.rng.normal(0.0, 7.0, 3) + self.rng.normal(0.0, 5.0)
            self.cache[name] = tuple(int(v) for v in np.clip(base + j, 0, 255))
        return self.cache[name]


def _shade(rgb, f):
    return tuple(int(max(0, min(255, v * f))) for v in rgb)
