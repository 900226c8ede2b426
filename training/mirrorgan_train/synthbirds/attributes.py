"""SynthBirds attribute vocabulary, colour palette and the species model.

Everything here is deterministic: the 120 species are generated from the
fixed ``SPECIES_SEED`` so that every dataset seed shares the same species
table (the dataset seed only drives the per-image sampling).
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

SPECIES_SEED = 20240501
N_SPECIES = 120

# --------------------------------------------------------------------------
# Colours (CUB's 15 colour names). Base sRGB values; per image a small jitter
# is added. "iridescent" is rendered as a blue-green-purple gradient; its
# base value is only used for things like outlines.
# --------------------------------------------------------------------------
COLORS: dict[str, tuple[int, int, int]] = {
    "blue": (40, 90, 205),
    "brown": (118, 74, 38),
    "iridescent": (40, 120, 150),
    "purple": (112, 46, 150),
    "rufous": (182, 78, 34),
    "grey": (132, 132, 136),
    "yellow": (246, 214, 36),
    "olive": (122, 128, 44),
    "green": (46, 156, 62),
    "pink": (238, 142, 172),
    "orange": (248, 132, 22),
    "black": (26, 26, 30),
    "white": (242, 242, 236),
    "red": (212, 28, 34),
    "buff": (226, 196, 140),
}
COLOR_NAMES: tuple[str, ...] = tuple(COLORS)
IRIDESCENT_STOPS = ((30, 70, 200), (20, 165, 120), (125, 45, 180))

# Parts that carry a plumage colour, in drawing/description order.
PLUMAGE_PARTS: tuple[str, ...] = (
    "crown", "nape", "throat", "breast", "belly", "back", "wing", "tail")

SIZES = ("small", "medium", "large")
POSES = ("perched", "ground")
FACINGS = ("left", "right")
BACKGROUNDS = ("sky", "foliage", "water", "branch", "ground")
WING_PATTERNS = ("plain", "wingbars")
TAIL_LENGTHS = ("short", "long")
BEAK_SHAPES = ("short", "long", "hooked")

BEAK_COLORS = ("black", "grey", "yellow", "orange", "red", "pink", "brown", "buff", "white")
LEG_COLORS = ("black", "grey", "pink", "brown", "orange", "yellow", "red", "buff")
WINGBAR_COLORS = ("white", "yellow", "grey", "buff", "black", "rufous", "red", "orange")
EYE_RING_COLORS = ("white", "yellow", "red", "orange", "blue")

# Overall colour frequencies, roughly following CUB (lots of grey/brown/
# black/white, fewer purple/pink/iridescent).
_COLOR_WEIGHTS = {
    "grey": 10, "brown": 10, "black": 9, "white": 9, "yellow": 8, "blue": 6,
    "red": 5, "olive": 4, "buff": 5, "rufous": 4, "orange": 4, "green": 3,
    "purple": 2, "pink": 2, "iridescent": 2,
}
# Underparts are usually light.
_UNDER_WEIGHTS = {
    "white": 12, "buff": 8, "yellow": 8, "grey": 7, "rufous": 4, "orange": 4,
    "red": 4, "pink": 3, "brown": 3, "black": 2, "olive": 2, "blue": 2,
    "green": 1, "purple": 1, "iridescent": 1,
}

# Attribute keys recorded in each image's ground truth (meta["attributes"]).
ATTRIBUTE_KEYS: tuple[str, ...] = (
    "size", "pose", "facing", "background",
    "crown_color", "nape_color", "throat_color", "breast_color",
    "belly_color", "back_color", "wing_color", "tail_color",
    "wing_pattern", "wingbar_color", "tail_length",
    "beak_shape", "beak_color", "eye_ring", "eye_ring_color", "leg_color",
    "overall_color",
)

_FAMILIES = {
    "short": ("Finch", "Sparrow", "Bunting", "Grosbeak", "Tanager", "Chickadee", "Junco"),
    "long": ("Warbler", "Wren", "Kingfisher", "Thrasher", "Creeper", "Hummingbird", "Vireo"),
    "hooked": ("Shrike", "Flycatcher", "Kingbird", "Tyrant", "Jay", "Grackle", "Cuckoo"),
}
_PART_NAME = {
    "crown": "Crowned", "throat": "Throated", "breast": "Breasted", "belly": "Bellied",
    "back": "Backed", "wing": "Winged", "tail": "Tailed", "nape": "Naped",
}
_PREFIX = ("Western", "Eastern", "Northern", "Southern", "Lesser", "Greater",
           "Common", "Little", "Spotted", "Mountain", "Marsh", "Forest")


def _weighted(rng: np.random.Generator, weights: dict[str, float], exclude=()) -> str:
    keys = [k for k in weights if k not in exclude]
    w = np.array([weights[k] for k in keys], dtype=np.float64)
    return keys[int(rng.choice(len(keys), p=w / w.sum()))]


def _dist(rng: np.random.Generator, dominant, alternatives, p_dom: float) -> dict:
    """A distribution with one dominant value and up to 2 alternatives."""
    alts = [a for a in alternatives if a != dominant]
    if not alts or p_dom >= 1.0:
        return {dominant: 1.0}
    n_alt = int(rng.integers(1, 3))
    idx = rng.choice(len(alts), size=min(n_alt, len(alts)), replace=False)
    chosen = [alts[int(i)] for i in idx]
    rest = 1.0 - p_dom
    d = {dominant: p_dom}
    for c in chosen:
        d[c] = rest / len(chosen)
    # ``alternatives`` may repeat a colour; renormalise (sampling is unchanged).
    tot = sum(d.values())
    return {k: v / tot for k, v in d.items()}


@dataclass
class Species:
    id: int                     # 1-based, as in CUB's "NNN." prefix
    name: str                   # e.g. "Red_Crowned_Finch"
    dists: dict = field(default_factory=dict)   # attribute -> {value: prob}

    @property
    def dirname(self) -> str:
        return f"{self.id:03d}.{self.name}"

    def dominant(self, key: str):
        d = self.dists[key]
        return max(d, key=d.get)


def _make_species(rng: np.random.Generator, sid: int) -> Species:
    primary = _weighted(rng, _COLOR_WEIGHTS)
    secondary = _weighted(rng, _UNDER_WEIGHTS, exclude=(primary,))
    accent = _weighted(rng, _COLOR_WEIGHTS, exclude=(primary, secondary))
    dark = _weighted(rng, {"black": 4, "brown": 3, "grey": 3, primary: 3})
    # Which palette slot each plumage part takes (a few archetypes).
    layouts = [
        dict(crown=accent, nape=primary, throat=secondary, breast=secondary,
             belly=secondary, back=primary, wing=dark, tail=dark),
        dict(crown=primary, nape=primary, throat=accent, breast=accent,
             belly=secondary, back=primary, wing=primary, tail=dark),
        dict(crown=accent, nape=accent, throat=accent, breast=secondary,
             belly=secondary, back=primary, wing=dark, tail=primary),
        dict(crown=primary, nape=primary, throat=primary, breast=primary,
             belly=secondary, back=primary, wing=dark, tail=dark),
        dict(crown=dark, nape=primary, throat=secondary, breast=accent,
             belly=secondary, back=primary, wing=primary, tail=primary),
        dict(crown=primary, nape=primary, throat=primary, breast=primary,
             belly=primary, back=primary, wing=accent, tail=accent),
    ]
    layout = layouts[int(rng.integers(len(layouts)))]
    dists: dict[str, dict] = {}
    for part in PLUMAGE_PARTS:
        p_dom = float(rng.uniform(0.78, 0.97))
        alts = [primary, secondary, accent, dark,
                _weighted(rng, _COLOR_WEIGHTS)]
        dists[f"{part}_color"] = _dist(rng, layout[part], alts, p_dom)
    size = SIZES[int(rng.choice(3, p=[0.45, 0.35, 0.2]))]
    dists["size"] = _dist(rng, size, SIZES, float(rng.uniform(0.8, 0.95)))
    has_bars = rng.random() < 0.4
    dists["wing_pattern"] = {"wingbars": 0.88, "plain": 0.12} if has_bars else {"plain": 0.9, "wingbars": 0.1}
    bar = WINGBAR_COLORS[int(rng.choice(len(WINGBAR_COLORS), p=_norm([8, 4, 3, 3, 2, 1, 1, 1])))]
    dists["wingbar_color"] = _dist(rng, bar, WINGBAR_COLORS, 0.85)
    tail = "long" if rng.random() < 0.4 else "short"
    dists["tail_length"] = _dist(rng, tail, TAIL_LENGTHS, float(rng.uniform(0.82, 0.95)))
    beak = BEAK_SHAPES[int(rng.choice(3, p=[0.5, 0.3, 0.2]))]
    dists["beak_shape"] = _dist(rng, beak, BEAK_SHAPES, float(rng.uniform(0.82, 0.95)))
    bc = BEAK_COLORS[int(rng.choice(len(BEAK_COLORS), p=_norm([9, 6, 4, 4, 2, 2, 3, 2, 1])))]
    dists["beak_color"] = _dist(rng, bc, BEAK_COLORS, float(rng.uniform(0.8, 0.95)))
    ring = rng.random() < 0.35
    dists["eye_ring"] = {True: 0.88, False: 0.12} if ring else {False: 0.92, True: 0.08}
    rc = EYE_RING_COLORS[int(rng.choice(len(EYE_RING_COLORS), p=_norm([8, 3, 1, 1, 1])))]
    dists["eye_ring_color"] = _dist(rng, rc, EYE_RING_COLORS, 0.85)
    lc = LEG_COLORS[int(rng.choice(len(LEG_COLORS), p=_norm([7, 6, 4, 4, 2, 2, 1, 2])))]
    dists["leg_color"] = _dist(rng, lc, LEG_COLORS, float(rng.uniform(0.8, 0.95)))
    p_perch = float(rng.uniform(0.45, 0.85))
    dists["pose"] = {"perched": p_perch, "ground": 1.0 - p_perch}

    # Name from the most distinctive part + a family chosen by beak shape.
    feature = "crown" if layout["crown"] != layout["back"] else (
        "breast" if layout["breast"] != layout["back"] else "wing")
    if layout is layouts[5]:
        feature = "wing"
    fam = _FAMILIES[beak][int(rng.integers(len(_FAMILIES[beak])))]
    colour_word = layout[feature].capitalize()
    name = f"{colour_word}_{_PART_NAME[feature]}_{fam}"
    return Species(id=sid, name=name, dists=dists)


def _norm(w):
    w = np.asarray(w, dtype=np.float64)
    return w / w.sum()


_SPECIES_CACHE: list[Species] | None = None


def species_table() -> list[Species]:
    """The fixed list of ``N_SPECIES`` species (ids 1..N_SPECIES)."""
    global _SPECIES_CACHE
    if _SPECIES_CACHE is None:
        rng = np.random.default_rng(SPECIES_SEED)
        out: list[Species] = []
        used: set[str] = set()
        for sid in range(1, N_SPECIES + 1):
            sp = _make_species(rng, sid)
            name = sp.name
            k = 0
            while name in used:
                name = f"{_PREFIX[k % len(_PREFIX)]}_{sp.name}" + ("" if k < len(_PREFIX) else f"_{k}")
                k += 1
            sp.name = name
            used.add(name)
            out.append(sp)
        _SPECIES_CACHE = out
    return _SPECIES_CACHE


def _sample(rng: np.random.Generator, dist: dict, exclude=()):
    keys = [k for k in dist if k not in exclude]
    if not keys:
        return None
    w = np.array([dist[k] for k in keys], dtype=np.float64)
    return keys[int(rng.choice(len(keys), p=w / w.sum()))]


def _background_for(rng: np.random.Generator, pose: str) -> str:
    if pose == "perched":
        p = [0.3, 0.3, 0.12, 0.2, 0.08]
    else:
        p = [0.2, 0.2, 0.15, 0.05, 0.4]
    return BACKGROUNDS[int(rng.choice(len(BACKGROUNDS), p=p))]


def sample_attributes(species: Species, rng: np.random.Generator) -> dict:
    """Draw one bird's attributes from its species' distribution."""
    d = species.dists
    a: dict = {}
    a["size"] = _sample(rng, d["size"])
    a["pose"] = _sample(rng, d["pose"])
    a["facing"] = FACINGS[int(rng.integers(2))]
    a["background"] = _background_for(rng, a["pose"])
    for part in PLUMAGE_PARTS:
        a[f"{part}_color"] = _sample(rng, d[f"{part}_color"])
    a["wing_pattern"] = _sample(rng, d["wing_pattern"])
    bar = _sample(rng, d["wingbar_color"], exclude=(a["wing_color"],))
    if bar is None:
        bar = next(c for c in WINGBAR_COLORS if c != a["wing_color"])
    a["wingbar_color"] = bar if a["wing_pattern"] == "wingbars" else None
    a["tail_length"] = _sample(rng, d["tail_length"])
    a["beak_shape"] = _sample(rng, d["beak_shape"])
    a["beak_color"] = _sample(rng, d["beak_color"])
    a["eye_ring"] = bool(_sample(rng, d["eye_ring"]))
    excl = (a["nape_color"], a["crown_color"], a["throat_color"], "black")
    rc = _sample(rng, d["eye_ring_color"], exclude=excl)
    if rc is None:
        rc = next((c for c in EYE_RING_COLORS if c not in excl), None)
    if rc is None:
        a["eye_ring"] = False
    a["eye_ring_color"] = rc if a["eye_ring"] else None
    a["leg_color"] = _sample(rng, d["leg_color"])
    a["overall_color"] = overall_color(a)
    return a


def overall_color(a: dict):
    """A colour covering at least 6 of the 8 plumage parts (incl. back and
    wing), else None. Used for captions like "this bird is mostly red"."""
    counts: dict[str, int] = {}
    for part in PLUMAGE_PARTS:
        c = a[f"{part}_color"]
        counts[c] = counts.get(c, 0) + 1
    best = max(counts, key=counts.get)
    if counts[best] >= 6 and a["back_color"] == best and a["wing_color"] == best:
        return best
    return None
