"""SynthBirds renderer: a procedural, anti-aliased bird drawn from attributes.

The bird is built as a list of polygons in "bird units" (the body ellipse has
a semi-major axis of 1), framed into the image, drawn with PIL at ``SS``x
supersampling and box-downsampled.  Backgrounds are vectorised numpy
gradients/textures; the bird gets a soft radial light + rim shading and
iridescent parts a blue-green-purple gradient.

Public API: ``render_image(index, seed, size=256) -> (PIL.Image, meta)`` and
``render_attributes(attrs, rng, size=256)`` for explicit attributes. Polygon helpers and the palette are in
geometry.py, backgrounds in backgrounds.py.
"""
from __future__ import annotations

import math

import numpy as np
from PIL import Image, ImageDraw, ImageFilter

from .attributes import N_SPECIES, sample_attributes, species_table
from .backgrounds import _background, _ground_strip, _iridescent, _jit
from .geometry import _circle, _clip, _clip_convex, _ellipse, _hull, _Palette, _rot, _shade, _thick_line

SS = 3  # supersampling factor


# ----------------------------------------------------------------------------
# Bird geometry
# ----------------------------------------------------------------------------
def _build_bird(a, rng):
    """Return (ops, meta_parts) in bird units for a right-facing bird.

    ops: list of (part, polygon, colour_name_or_rgb, shaded, kind) where kind is
    'poly' or ('line', width).  Drawn in order (back to front).
    """
    perched = a["pose"] == "perched"
    size = a["size"]
    th = math.radians(rng.uniform(22, 34) if perched else rng.uniform(4, 14))
    b = {"small": 0.70, "medium": 0.64, "large": 0.58}[size] * rng.uniform(0.95, 1.05)
    rh = {"small": 0.50, "medium": 0.45, "large": 0.40}[size] * rng.uniform(0.95, 1.05)

    body = _ellipse((0.0, 0.0), 1.0, b, th, 64)
    R = lambda p: _rot(p, th)  # noqa: E731

    ops = []
    parts = {}

    # --- tail (behind the body) ---
    long_tail = a["tail_length"] == "long"
    t0 = R((-0.80, 0.05 * b))
    d = _rot(np.array([-1.0, 0.0]), th + math.radians(4 if perched else -16))
    nrm = np.array([-d[1], d[0]])
    L = (1.25 if long_tail else 0.55) * rng.uniform(0.92, 1.08) * (1.1 if size == "large" and long_tail else 1.0)
    wb, we = 0.2 * b / 0.64, (0.22 if long_tail else 0.30) * b / 0.64
    tail = np.array([t0 + nrm * wb, t0 + d * L + nrm * we, t0 + d * (L - 0.08) + nrm * 0.0,
                     t0 + d * L - nrm * we, t0 - nrm * wb])
    ops.append(("tail", tail, a["tail_color"], True, "poly"))
    ops.append(("tail", np.array([t0 + d * 0.15, t0 + d * (L - 0.1)]), ("dark", a["tail_color"]), True, ("line", 0.03)))
    parts["tail"] = tail

    # --- legs (behind body) ---
    bottom = body[:, 1].max()
    leg_len = (0.22 if perched else 0.55) * (1.1 if size == "large" else 1.0)
    feet_y = bottom + leg_len
    hips = [R((0.18, 0.75 * b)), R((-0.12, 0.80 * b))]
    legs = []
    for i, hp in enumerate(hips):
        fx = hp[0] + (0.06 if perched else 0.1 - 0.12 * i)
        foot = np.array([fx, feet_y])
        legs.append(_thick_line(hp, foot, 0.07))
        ops.append(("legs", legs[-1], a["leg_color"], False, "poly"))
    parts["legs"] = np.concatenate(legs)

    # --- body: back colour, underside (belly), breast ---
    ops.append(("back", body, a["back_color"], True, "poly"))
    under = _clip(body, R((-1.2, 0.28 * b)), R((1.2, -0.2 * b)))
    ops.append(("belly", under, a["belly_color"], True, "poly"))
    breast = _clip(under, R((0.08, 1.5 * b)), R((0.22, -1.5 * b)))
    ops.append(("breast", breast, a["breast_color"], True, "poly"))
    parts["back"] = _clip(body, R((1.2, -0.2 * b)), R((-1.2, 0.28 * b)))
    parts["belly"] = _clip(under, R((0.22, -1.5 * b)), R((0.08, 1.5 * b)))
    parts["breast"] = breast

    # --- neck + head ---
    front = R((1.0, 0.0))
    H = R((0.70, -0.40 * b)) + np.array([0.14, -0.42]) * (rh / 0.45)
    if not perched:
        H = H + np.array([0.08, 0.06])
    N = R((0.55, -0.05 * b))
    neck_r = 0.55 * b
    head = _circle(H, rh, 44)
    cap = _hull(np.concatenate([head, _circle(N, neck_r, 32)]))
    ops.append(("nape", cap, a["nape_color"], True, "poly"))
    # throat: below the beak line and in front of the neck axis
    thr = _clip(cap, H + np.array([-rh * 1.2, rh * 0.12]), H + np.array([rh * 1.6, rh * 0.34]))
    axis0 = H + np.array([-0.15 * rh, 0.0])
    axis1 = N + np.array([0.05, 0.35])
    thr = _clip(thr, axis1, axis0)
    ops.append(("throat", thr, a["throat_color"], True, "poly"))
    parts["throat"] = thr
    crown = _clip(head, H + np.array([rh * 1.05, -rh * 0.42]), H + np.array([-rh * 1.05, -rh * 0.05]))
    ops.append(("crown", crown, a["crown_color"], True, "poly"))
    parts["crown"] = crown
    parts["nape"] = _clip(cap, H + np.array([-0.1 * rh, -2 * rh]), H + np.array([-0.1 * rh, 2 * rh]))
    parts["head"] = head

    # --- wing ---
    root = np.array([0.50, -0.45 * b])
    tip = np.array([-1.30 if a["tail_length"] == "long" else -1.18, 0.12 * b])
    ax = tip - root
    an = np.array([ax[1], -ax[0]]) / np.hypot(*ax)  # points up (y negative) in local frame
    if an[1] > 0:
        an = -an
    W = 0.50 * b
    ts = np.linspace(0, 1, 24)
    wdt = np.sqrt(ts) * (1 - ts) ** 0.85
    wdt = wdt / wdt.max() * W
    top = root + ts[:, None] * ax + an * (wdt * 0.55)[:, None]
    bot = root + ts[:, None] * ax - an * (wdt * 0.72)[:, None]
    wing_local = np.concatenate([top, bot[::-1][1:-1]])
    wing = R(wing_local)
    ops.append(("wing", wing, a["wing_color"], True, "poly"))
    parts["wing"] = wing
    if a["wing_pattern"] == "wingbars":
        for t_a, t_b in ((0.24, 0.31), (0.40, 0.47)):
            band = np.array([root + ax * t_a + an * 2, root + ax * t_b + an * 2,
                             root + ax * t_b - an * 2, root + ax * t_a - an * 2])
            bar = _clip_convex(wing_local, band)
            if len(bar) >= 3:
                ops.append(("wingbars", R(bar), a["wingbar_color"], True, "poly"))
    for off in (-0.25, -0.55):
        p0 = root + ax * 0.6 + an * W * off
        p1 = root + ax * 0.95 + an * W * off * 0.3
        ops.append(("wing", R(np.array([p0, p1])), ("dark", a["wing_color"]), True, ("line", 0.025)))
    ops.append(("wing", np.concatenate([wing, wing[:1]]), ("dark", a["wing_color"]), True, ("line", 0.03)))

    # --- beak ---
    bd = np.array([math.cos(0.15), math.sin(0.15)])
    bn = np.array([-bd[1], bd[0]])  # points down
    base = H + rh * np.array([0.88, 0.12])
    shape = a["beak_shape"]
    if shape == "short":
        Lb, hb = 0.62 * rh, 0.30 * rh
        beak = np.array([base - bn * hb - bd * 0.1 * rh, base + bd * Lb, base + bn * hb - bd * 0.1 * rh])
    elif shape == "long":
        Lb, hb = 1.55 * rh, 0.19 * rh
        beak = np.array([base - bn * hb - bd * 0.1 * rh, base + bd * Lb * 0.9 - bn * 0.03 * rh,
                         base + bd * Lb, base + bn * hb - bd * 0.1 * rh])
    else:  # hooked
        Lb, hb = 0.85 * rh, 0.30 * rh
        beak = np.array([base - bn * hb - bd * 0.1 * rh,
                         base + bd * Lb * 0.55 - bn * hb * 0.85,
                         base + bd * Lb * 0.95 - bn * hb * 0.2,
                         base + bd * Lb * 1.0 + bn * hb * 0.45,
                         base + bd * Lb * 0.82 + bn * hb * 0.2,
                         base + bd * Lb * 0.55 + bn * hb * 0.7,
                         base + bn * hb - bd * 0.1 * rh])
    ops.append(("beak", beak, a["beak_color"], False, "poly"))
    ops.append(("beak", np.array([base - bd * 0.05 * rh, base + bd * Lb * 0.7]),
                ("dark", a["beak_color"]), False, ("line", 0.02)))
    parts["beak"] = beak

    # --- eye ---
    E = H + rh * np.array([0.30, -0.10])
    if a["eye_ring"]:
        ops.append(("eye_ring", _circle(E, 0.30 * rh, 28), a["eye_ring_color"], False, "poly"))
    eye = _circle(E, 0.17 * rh, 24)
    ops.append(("eye", eye, (14, 12, 12), False, "poly"))
    ops.append(("eye", _circle(E + rh * np.array([0.05, -0.06]), 0.055 * rh, 12), (250, 250, 250), False, "poly"))
    parts["eye"] = eye

    # --- toes (drawn after a perch) ---
    toes = []
    for i, hp in enumerate(hips):
        fx = hp[0] + (0.06 if perched else 0.1 - 0.12 * i)
        f = np.array([fx, feet_y])
        for dx, dy in ((0.2, 0.03), (-0.12, 0.02), (0.12, 0.06)):
            toes.append(_thick_line(f, f + np.array([dx, dy]), 0.05))
    geo = dict(feet_y=feet_y, feet_x=float(np.mean([h[0] for h in hips])), head=H, rh=rh, front=front)
    return ops, parts, toes, geo


# ----------------------------------------------------------------------------
# Main rendering
# ----------------------------------------------------------------------------
def render_attributes(a: dict, rng: np.random.Generator, size: int = 256):
    """Render a bird with attributes ``a``; returns (PIL RGB image, boxes)."""
    pal = _Palette(rng)
    ops, parts, toes, geo = _build_bird(a, rng)

    # frame: bounding box of the bird in bird units
    allp = np.concatenate([p for _, p, *_ in ops] + toes)
    x0, y0 = allp.min(axis=0)
    x1, y1 = allp.max(axis=0)
    frac = {"small": (0.46, 0.54), "medium": (0.53, 0.61), "large": (0.60, 0.68)}[a["size"]]
    scale = rng.uniform(*frac) * size / (x1 - x0)
    scale = min(scale, 0.80 * size / (y1 - y0))
    cx = size * (0.5 + rng.uniform(-0.035, 0.035))
    ox = cx - scale * (x0 + x1) / 2
    if a["pose"] == "perched":
        cy = size * (0.47 + rng.uniform(-0.03, 0.03))
        oy = cy - scale * (y0 + y1) / 2
        oy = min(oy, size * 0.985 - scale * y1)
        oy = max(oy, size * 0.015 - scale * y0)
    else:
        feet_px = size * rng.uniform(0.80, 0.86)
        oy = feet_px - scale * geo["feet_y"]
        oy = max(oy, size * 0.02 - scale * y0)
    flip = a["facing"] == "left"

    def T(p, ss=SS):
        q = np.empty_like(np.asarray(p, float))
        q[..., 0] = ox + scale * p[..., 0]
        q[..., 1] = oy + scale * p[..., 1]
        if flip:
            q[..., 0] = size - q[..., 0]
        return q * ss

    S = size * SS
    fg = Image.new("RGB", (S, S), (0, 0, 0))
    aux = Image.new("RGB", (S, S), (0, 0, 0))  # R: shaded, G: iridescent, B: alpha
    dfg, dax = ImageDraw.Draw(fg), ImageDraw.Draw(aux)

    def colour(cn):
        if isinstance(cn, tuple) and cn and cn[0] == "dark":
            return _shade(pal(cn[1]), 0.62 if cn[1] != "black" else 1.9), False
        if isinstance(cn, str):
            return pal(cn), cn == "iridescent"
        return cn, False

    def draw(poly, cn, shaded, kind):
        rgb, irid = colour(cn)
        auxc = (255 if shaded else 0, 255 if irid else 0, 255)
        pts = [tuple(v) for v in T(poly)]
        if len(pts) < 2:
            return
        if kind == "poly":
            if len(pts) < 3:
                return
            dfg.polygon(pts, fill=rgb)
            dax.polygon(pts, fill=auxc)
        else:
            w = max(1, int(round(kind[1] * scale * SS)))
            dfg.line(pts, fill=rgb, width=w, joint="curve")
            dax.line(pts, fill=auxc, width=w, joint="curve")

    feet_y_px = oy + scale * geo["feet_y"]
    # perch (a branch in front of the background, behind the bird)
    if a["pose"] == "perched":
        bark = _jit(rng, (96, 66, 40), 8)
        th = size * rng.uniform(0.04, 0.058)
        slope = rng.uniform(-0.12, 0.12)
        fx = (size - (ox + scale * geo["feet_x"])) if flip else (ox + scale * geo["feet_x"])
        yc = feet_y_px + th * 0.45
        xa, xb = -10.0, size + 10.0
        ya, yb = yc + slope * (xa - fx), yc + slope * (xb - fx)
        for f, off, w in ((0.7, 0.12, 1.0), (1.0, -0.05, 0.8), (1.25, -0.28, 0.35)):
            poly = _thick_line((xa, ya + off * th), (xb, yb + off * th), th * w) * SS
            c = tuple(int(min(255, v * f)) for v in bark)
            dfg.polygon([tuple(v) for v in poly], fill=c)
            dax.polygon([tuple(v) for v in poly], fill=(0, 0, 255))
        # a twig with two leaves on the side away from the bird's head
        side = -1 if not flip else 1
        tx = fx + side * size * rng.uniform(0.25, 0.38)
        ty = yc + slope * (tx - fx)
        tip = (tx + side * size * 0.1, ty - size * rng.uniform(0.08, 0.14))
        dfg.line([(tx * SS, ty * SS), (tip[0] * SS, tip[1] * SS)], fill=tuple(int(v) for v in bark),
                 width=int(th * 0.3 * SS))
        dax.line([(tx * SS, ty * SS), (tip[0] * SS, tip[1] * SS)], fill=(0, 0, 255), width=int(th * 0.3 * SS))
        leaf_c = tuple(int(v) for v in _jit(rng, (62, 130, 48), 10))
        for k, (lx, ly) in enumerate((tip, ((tx + tip[0]) / 2, (ty + tip[1]) / 2))):
            lp = _ellipse((lx, ly), size * 0.04, size * 0.016, rng.uniform(-1, 1) + k, 20) * SS
            dfg.polygon([tuple(v) for v in lp], fill=leaf_c)
            dax.polygon([tuple(v) for v in lp], fill=(0, 0, 255))
        for i in range(int(rng.integers(4, 9))):  # bark streaks
            x = rng.uniform(0, size)
            y = yc + slope * (x - fx) + rng.uniform(-0.3, 0.3) * th
            ln = rng.uniform(0.04, 0.1) * size
            dfg.line([(x * SS, y * SS), ((x + ln) * SS, (y + slope * ln) * SS)],
                     fill=tuple(int(v * 0.7) for v in bark), width=SS)

    for part, poly, cn, shaded, kind in ops:
        if part == "legs" or part == "tail":
            draw(poly, cn, shaded, kind)
    for tp in toes:
        draw(tp, a["leg_color"], False, "poly")
    for part, poly, cn, shaded, kind in ops:
        if part not in ("legs", "tail"):
            draw(poly, cn, shaded, kind)

    fgs = np.asarray(fg.reduce(SS), np.float32)
    axs = np.asarray(aux.reduce(SS), np.float32) * (1.0 / 255.0)
    shade_m, irid_m, alpha = axs[..., 0], axs[..., 1], axs[..., 2]

    # ---- background ----
    img = _background(a["background"], rng, size)
    if a["pose"] == "ground":
        fxp = ox + scale * geo["feet_x"]
        if flip:
            fxp = size - fxp
        img = _ground_strip(img, rng, size, feet_y_px - size * 0.015, fxp, scale * 0.9)

    # ---- bird shading ----
    if irid_m.max() > 0:
        grad = _iridescent(size, rng)
        fgs = fgs * (1 - irid_m[..., None]) + grad * irid_m[..., None]
    H = T(geo["head"], 1)
    bx0, by0 = T(np.array([x0, y0]), 1)
    bx1, by1 = T(np.array([x1, y1]), 1)
    lx = (H[0] + (bx0 + bx1) / 2) / 2
    ly = by0 + 0.35 * abs(by1 - by0)
    Rl = 0.55 * abs(bx1 - bx0)
    yy, xx = np.ogrid[0:size, 0:size]
    field = 1.16 - 0.42 * (((xx - lx) ** 2 + (yy - ly) ** 2) / (Rl * Rl))
    field = np.clip(field, 0.68, 1.16).astype(np.float32)
    am = Image.fromarray((shade_m * 255).astype(np.uint8), "L").filter(ImageFilter.GaussianBlur(size / 90))
    rim = np.asarray(am, np.float32) * (1.0 / 255.0)
    sh = field * (0.80 + 0.2 * rim)
    fgs = fgs * (1.0 + shade_m * (sh - 1.0))[..., None]
    out = img * (1.0 - alpha[..., None]) + fgs
    out = np.clip(out + 0.5, 0, 255).astype(np.uint8)

    # ---- part boxes (output pixels) ----
    boxes = {}
    bird_pts = T(allp, 1)
    boxes["bird"] = _box(bird_pts, size)
    for name, poly in parts.items():
        if len(poly):
            boxes[name] = _box(T(poly, 1), size)
    if a["wing_pattern"] == "wingbars":
        bars = [T(p, 1) for part, p, *_ in ops if part == "wingbars"]
        if bars:
            boxes["wingbars"] = _box(np.concatenate(bars), size)
    return Image.fromarray(out, "RGB"), boxes


def _box(pts, size):
    x0, y0 = np.floor(pts.min(axis=0))
    x1, y1 = np.ceil(pts.max(axis=0))
    c = lambda v: int(max(0, min(size, v)))  # noqa: E731
    return [c(x0), c(y0), c(x1), c(y1)]


def species_for_index(index: int) -> int:
    """1-based species id of image ``index`` (round-robin over species)."""
    return index % N_SPECIES + 1


def image_rng(seed: int, index: int, stream: int = 0) -> np.random.Generator:
    return np.random.default_rng([int(seed), int(index), int(stream)])


def render_image(index: int, seed: int, size: int = 256):
    """Render image ``index`` of the dataset with ``seed``.

    Returns (PIL.Image RGB size x size, meta) where meta holds species_id,
    species_name, index, seed, attributes (see attributes.ATTRIBUTE_KEYS) and
    boxes (part -> [x0, y0, x1, y1] in pixels).
    """
    sp = species_table()[species_for_index(index) - 1]
    rng = image_rng(seed, index, 0)
    attrs = sample_attributes(sp, rng)
    img, boxes = render_attributes(attrs, rng, size)
    meta = {
        "index": int(index),
        "seed": int(seed),
        "species_id": sp.id,
        "species_name": sp.name,
        "size_px": int(size),
        "attributes": attrs,
        "boxes": boxes,
    }
    return img, meta
