"""CUB-style caption grammar for SynthBirds.

``make_captions(meta, rng, n=10)`` returns ``n`` captions, each a tuple
``(text, named)`` where ``named`` is the list of ``(attribute, value)`` pairs
the caption asserts.  Every named pair holds in ``meta["attributes"]`` (the
tests check this), so a caption never mentions an attribute the bird lacks.
"""
from __future__ import annotations

import re

import numpy as np

# Part words (synonyms only where the mapping stays unambiguous).
PART_WORDS = {
    "crown": ["crown", "crown", "cap"],
    "nape": ["nape"],
    "throat": ["throat"],
    "breast": ["breast", "chest"],
    "belly": ["belly", "abdomen", "belly", "underbelly"],
    "back": ["back"],
    "wing": ["wings", "wings", "wing feathers"],
    "tail": ["tail", "tail", "tail feathers"],
}
PLURAL = {"wings", "legs", "feet", "wingbars", "feathers"}
SIZE_WORDS = {"small": ["small", "little", "tiny"], "medium": ["medium sized", "medium", "mid sized"],
              "large": ["large", "big", "large"]}
BEAK_SHAPE_WORDS = {"short": ["short", "stubby", "short pointed", "stout"],
                    "long": ["long", "long pointed", "long thin", "slender"],
                    "hooked": ["hooked", "curved", "strong hooked"]}
# Optional intensity modifiers (never change the colour name).
COLOR_MODS = {"yellow": ["bright"], "red": ["bright", "deep"], "orange": ["bright"],
              "blue": ["bright", "deep"], "green": ["bright"], "brown": ["dark"],
              "olive": ["dark"], "purple": ["dark"], "pink": ["pale"], "buff": ["pale"],
              "grey": ["light", "dark"], "black": ["jet"], "white": ["pure"]}
MOSTLY_WORDS = ["mostly", "mostly", "mainly", "predominantly"]
BEAK_WORDS = ["beak", "bill"]
POSE_WORDS = {"perched": ["perched on a branch", "sitting on a branch", "perched on a tree branch",
                          "resting on a branch"],
              "ground": ["standing on the ground", "on the ground", "standing on the ground"]}
# Pairs of parts that may be described together when they share a colour.
MERGES = [
    (("crown", "nape"), ["head", "head", "crown and nape"]),
    (("breast", "belly"), ["breast and belly", "chest and belly", "breast and abdomen", "underside",
                           "underbelly and breast"]),
    (("throat", "breast"), ["throat and breast", "throat and chest"]),
    (("back", "wing"), ["back and wings"]),
    (("wing", "tail"), ["wings and tail", "wings and tail feathers"]),
]

_WORD_RE = re.compile(r"\w+")


def tokenize(text: str) -> list[str]:
    """The official AttnGAN/CUB cleaning: lower-case, regex \\w+, ASCII only."""
    out = []
    for t in _WORD_RE.findall(text.replace("\ufffd\ufffd", " ").lower()):
        t = t.encode("ascii", "ignore").decode("ascii")
        if t:
            out.append(t)
    return out


def _pick(rng, seq):
    return seq[int(rng.integers(len(seq)))]


def _colour_word(rng, c):
    w = "gray" if c == "grey" and rng.random() < 0.25 else c
    if c in COLOR_MODS and rng.random() < 0.12:
        w = f"{_pick(rng, COLOR_MODS[c])} {w}"
    return w


def _article(word):
    return "an" if word[0] in "aeiou" else "a"


def _np(rng, words, plural):
    """Noun phrase with an article for singulars (sometimes dropped, as in CUB)."""
    text = " ".join(words)
    if plural:
        return text
    return f"{_article(text)} {text}"


class _Unit:
    """One noun phrase naming some attributes. ``pred`` is an optional
    predicative form ("wings that are black")."""

    def __init__(self, text, named, pred=None, kind="np", word=None, cw=None):
        self.text, self.named, self.pred, self.kind = text, named, pred, kind
        self.word, self.cw = word, cw


def _units(a, rng):
    """All candidate noun-phrase units for attributes ``a`` (with weights)."""
    units = []
    merged = set()
    for (p, q), words in MERGES:
        if a[f"{p}_color"] == a[f"{q}_color"] and rng.random() < 0.5:
            c = a[f"{p}_color"]
            w = _pick(rng, words)
            plural = w.split()[0] in PLURAL
            named = [(f"{p}_color", c), (f"{q}_color", c)]
            units.append((1.5, _Unit(_np(rng, [_colour_word(rng, c), w], plural), named)))
            merged.update((p, q))
    for part, words in PART_WORDS.items():
        c = a[f"{part}_color"]
        w = _pick(rng, words)
        plural = w.split()[-1] in PLURAL
        named = [(f"{part}_color", c)]
        cw = _colour_word(rng, c)
        weight = {"crown": 1.3, "wing": 1.4, "breast": 1.2, "belly": 1.2, "back": 1.0,
                  "throat": 1.0, "nape": 0.6, "tail": 0.9}[part]
        if part == "tail" and rng.random() < 0.5:
            named = named + [("tail_length", a["tail_length"])]
            text = _np(rng, [a["tail_length"], cw, w], False)
            units.append((weight, _Unit(text, named)))
            continue
        pred = f"{w} that {'are' if plural else 'is'} {cw}" if " " not in w else None
        pred = pred if (plural or pred is None) else f"{_article(w)} {pred}"
        units.append((weight * (0.6 if part in merged else 1.0),
                      _Unit(_np(rng, [cw, w], plural), named, pred=pred, kind="part", word=w, cw=cw)))
    units.append((0.6, _Unit(_np(rng, [a["tail_length"], "tail"], False),
                             [("tail_length", a["tail_length"])])))
    # beak
    bw = _pick(rng, BEAK_WORDS)
    sw = _pick(rng, BEAK_SHAPE_WORDS[a["beak_shape"]])
    cw = _colour_word(rng, a["beak_color"])
    r = rng.random()
    if r < 0.45:
        units.append((1.5, _Unit(_np(rng, [sw, cw, bw], False),
                                 [("beak_shape", a["beak_shape"]), ("beak_color", a["beak_color"])])))
    elif r < 0.8:
        units.append((1.5, _Unit(_np(rng, [sw, bw], False), [("beak_shape", a["beak_shape"])])))
    else:
        units.append((1.2, _Unit(_np(rng, [cw, bw], False), [("beak_color", a["beak_color"])],
                                 pred=f"a {bw} that is {cw}", kind="part", word=bw, cw=cw)))
    # wing bars
    if a["wing_pattern"] == "wingbars":
        bc = _colour_word(rng, a["wingbar_color"])
        r = rng.random()
        named = [("wing_pattern", "wingbars"), ("wingbar_color", a["wingbar_color"])]
        if r < 0.35:
            units.append((1.6, _Unit(f"{bc} wingbars", named)))
        elif r < 0.6:
            units.append((1.6, _Unit(f"{bc} wing bars", named)))
        else:
            wc = _colour_word(rng, a["wing_color"])
            units.append((1.6, _Unit(f"{wc} wings with {bc} wingbars",
                                     named + [("wing_color", a["wing_color"])])))
    # eye ring
    if a["eye_ring"]:
        rw = _pick(rng, ["eye ring", "eyering", "ring around its eye"])
        units.append((1.5, _Unit(_np(rng, [_colour_word(rng, a["eye_ring_color"]), rw], False),
                                 [("eye_ring", True), ("eye_ring_color", a["eye_ring_color"])])))
    # legs
    lw = _pick(rng, ["legs", "feet", "legs and feet", "tarsus"])
    lt = f"{_colour_word(rng, a['leg_color'])} {lw}"
    units.append((0.5, _Unit(lt if lw != "tarsus" else f"{_article(lt)} {lt}", [("leg_color", a["leg_color"])])))
    return units


def _join(rng, items):
    if len(items) == 1:
        return items[0]
    if len(items) == 2:
        return f"{items[0]} {_pick(rng, ['and', 'and', 'with', 'as well as', 'along with'])} {items[1]}"
    head = ", ".join(items[:-1])
    r = rng.random()
    if r < 0.45:
        return f"{head} and {items[-1]}"
    if r < 0.7:
        return f"{head}, and {items[-1]}"
    return f"{', '.join(items[:-2])} and {items[-2]} with {items[-1]}" if len(items) > 2 else head


def _one_caption(a, rng):
    named: list = []
    want = int(rng.choice([2, 3, 3, 4, 4, 5]))
    use_size = rng.random() < 0.35
    use_overall = a.get("overall_color") is not None and rng.random() < 0.5
    use_pose = rng.random() < 0.14
    if use_size:
        named.append(("size", a["size"]))
    if use_overall:
        named.append(("overall_color", a["overall_color"]))
    if use_pose:
        named.append(("pose", a["pose"]))

    cand = _units(a, rng)
    chosen: list[_Unit] = []
    covered: set = set(named)
    n_units_max = 3
    order = rng.permutation(len(cand))
    w = np.array([cand[i][0] for i in order])
    # weighted random order without replacement (Efraimidis-Spirakis keys)
    order = order[np.argsort(-(rng.random(len(w)) ** (1.0 / w)), kind="stable")]
    for i in order:
        u = cand[int(i)][1]
        if len(covered) >= want or len(chosen) >= n_units_max:
            break
        new = list(u.named)
        keys = {k for k, _ in covered}
        if any(k in keys for k, _ in new):
            continue  # never say the same attribute twice
        if len(covered) + len(new) > 5:
            continue
        chosen.append(u)
        covered.update(new)
    if not chosen:
        chosen.append(cand[0][1])
        covered.update(cand[0][1].named)

    sz = _pick(rng, SIZE_WORDS[a["size"]]) if use_size else None
    s_def = f"{_pick(rng, ['this', 'the', 'this'])} {sz} bird" if sz else _pick(
        rng, ["this bird", "the bird", "this particular bird", "this bird", "this songbird"])
    s_ind = f"{_article(sz)} {sz} bird" if sz else "a bird"
    items = [u.text for u in chosen]
    # the first simple part unit may be said predicatively
    if chosen[0].pred is not None and rng.random() < 0.25:
        items[0] = chosen[0].pred
    lst = _join(rng, items)
    oc = f"{_pick(rng, MOSTLY_WORDS)} {_colour_word(rng, a['overall_color'])}" if use_overall else None
    pose = _pick(rng, POSE_WORDS[a["pose"]]) if use_pose else None

    r = rng.random()
    if oc and pose:
        text = f"{s_def} is {oc} and is {pose}, it has {lst}"
    elif oc:
        opts = [f"{s_def} is {oc} with {lst}",
                f"{s_def} is {oc} and has {lst}",
                f"{s_ind} that is {oc} with {lst}",
                f"this is {s_ind} that is {oc}, it has {lst}"]
        text = _pick(rng, opts)
    elif pose:
        opts = [f"{s_ind} {pose} with {lst}",
                f"{s_def} is {pose} and has {lst}",
                f"{s_def} has {lst} and is {pose}"]
        text = _pick(rng, opts)
    elif chosen[0].kind == "part" and r < 0.12 and len(chosen) > 1:
        c0 = chosen[0]
        w0, cw = c0.word, c0.cw
        rest = _join(rng, [u.text for u in chosen[1:]])
        verb = "are" if w0 in PLURAL else "is"
        subj = "this bird" if not sz else f"this {sz} bird"
        text = f"the {w0} of {subj} {verb} {cw} and it has {rest}"
    else:
        opts = [f"{s_def} has {lst}", f"{s_def} has {lst}", f"{s_ind} with {lst}",
                f"this is {s_ind} with {lst}", f"{s_def} features {lst}",
                f"{s_def} has {lst}", f"{s_ind} that has {lst}", f"{s_def} displays {lst}",
                f"{s_def} shows {lst}", f"{lst} can be seen on {s_def}",
                f"this is a picture of {s_ind} with {lst}"]
        text = _pick(rng, opts)
    named_all = list(dict.fromkeys(named + [x for u in chosen for x in u.named]))
    return text, named_all


def make_captions(meta: dict, rng: np.random.Generator, n: int = 10) -> list[tuple[str, list]]:
    """``n`` captions for an image's ``meta`` (from ``render_image``).

    Returns a list of ``(text, named)``; ``named`` is a list of
    ``(attribute_key, value)`` pairs that all hold in ``meta["attributes"]``.
    """
    a = meta["attributes"] if "attributes" in meta else meta
    out: list[tuple[str, list]] = []
    seen: set[str] = set()
    tries = 0
    while len(out) < n:
        tries += 1
        text, named = _one_caption(a, rng)
        text = re.sub(r"\s+", " ", text).strip()
        ntok = len(tokenize(text))
        if ntok > 25 or ntok < 4:
            continue
        if text in seen and tries < 20 * n:
            continue
        seen.add(text)
        out.append((text, named))
    return out
