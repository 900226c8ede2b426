"""Caption parser for the evaluation: caption text -> {attribute: value} claims, with the SynthBirds caption
grammar's vocabulary (used for STREAM's round trip and its attribute precision)."""
from __future__ import annotations

from .. import data as D
from ..attributes_classifier import norm_value
from ..synthbirds.attributes import COLOR_NAMES

COLOR_WORDS = {c: c for c in COLOR_NAMES}
COLOR_WORDS["gray"] = "grey"
INTENSIFIERS = {"bright", "deep", "dark", "pale", "light", "jet", "pure"}
SHAPE_WORDS = {"short", "stubby", "pointed", "stout", "long", "thin", "slender", "hooked", "curved", "strong"}
MODIFIERS = set(COLOR_WORDS) | INTENSIFIERS | SHAPE_WORDS
# multi-word nouns, longest first
MULTI_WORDS = [(("ring", "around", "its", "eye"), "EYERING"), (("legs", "and", "feet"), "LEGS"),
               (("eye", "ring"), "EYERING"), (("wing", "feathers"), "WINGS"), (("tail", "feathers"), "TAIL"),
               (("wing", "bars"), "WINGBARS")]
PLUMAGE_HEADS = {"crown": ("crown",), "cap": ("crown",), "nape": ("nape",), "head": ("crown", "nape"),
                 "throat": ("throat",), "breast": ("breast",), "chest": ("breast",), "belly": ("belly",),
                 "abdomen": ("belly",), "underbelly": ("belly",), "underside": ("breast", "belly"),
                 "back": ("back",), "wings": ("wing",), "wing": ("wing",), "WINGS": ("wing",), "tail": ("tail",),
                 "TAIL": ("tail",)}
OTHER_HEADS = {"beak": "beak", "bill": "beak", "WINGBARS": "wingbars", "wingbars": "wingbars", "EYERING": "eyering",
               "eyering": "eyering", "legs": "legs", "feet": "legs", "tarsus": "legs", "LEGS": "legs"}
SIZE_OF = {"small": "small", "little": "small", "tiny": "small", "medium": "medium", "mid": "medium",
           "large": "large", "big": "large"}
POSE_OF = {"perched": "perched", "sitting": "perched", "resting": "perched", "branch": "perched",
           "standing": "ground", "ground": "ground"}
MOSTLY = {"mostly", "mainly", "predominantly"}
SUBJECT_WORDS = {"this", "the", "a", "particular", "bird", "songbird", "sized"} | set(SIZE_OF)


def _normalise_tokens(tokens: list[str]) -> list[str]:
    out, i = [], 0
    while i < len(tokens):
        for words, sym in MULTI_WORDS:
            if tuple(tokens[i : i + len(words)]) == words:
                out.append(sym)
                i += len(words)
                break
        else:
            out.append(tokens[i])
            i += 1
    return out


def _colour_after(sym: list[str], k: int):
    while k < len(sym) and sym[k] in INTENSIFIERS:
        k += 1
    return COLOR_WORDS.get(sym[k]) if k < len(sym) else None


def parse_claims(text) -> dict[str, str]:
    """Caption text (str or token list) -> {attribute: value} with values as attributes_classifier.norm_value
    writes them. The first statement about an attribute wins."""
    tokens = D.tokenize(text) if isinstance(text, str) else [t for t in text if t != "<end>"]
    sym = _normalise_tokens(tokens)
    claims: dict[str, str] = {}
    head_colour: dict[int, str] = {}

    def claim(a, v):
        if v is not None and a not in claims:
            claims[a] = v

    for h, s in enumerate(sym):
        if s in SIZE_OF:
            claim("size", SIZE_OF[s])
        elif s in POSE_OF:
            claim("pose", POSE_OF[s])
        elif s in MOSTLY:
            claim("overall_color", _colour_after(sym, h + 1))
        if s not in PLUMAGE_HEADS and s not in OTHER_HEADS:
            continue
        window, j = [], h - 1
        while j >= 0 and sym[j] in MODIFIERS:
            window.append(sym[j])
            j -= 1
        colour = next((COLOR_WORDS[w] for w in window if w in COLOR_WORDS), None)  # nearest to the head
        if colour is None and h + 2 < len(sym) and sym[h + 1] == "that" and sym[h + 2] in ("is", "are"):
            colour = _colour_after(sym, h + 3)  # "wings that are black"
        if colour is None and h + 1 < len(sym) and sym[h + 1] == "of":  # "the crown of this bird is red"
            k = h + 2
            while k < len(sym) and k < h + 7 and sym[k] in SUBJECT_WORDS:
                k += 1
            if k < len(sym) and sym[k] in ("is", "are"):
                colour = _colour_after(sym, k + 1)
        if colour is None and s in PLUMAGE_HEADS and h >= 2 and sym[h - 1] == "and" and (h - 2) in head_colour:
            colour = head_colour[h - 2]  # "a yellow breast and belly"
        if colour is not None:
            head_colour[h] = colour
        if s in PLUMAGE_HEADS:
            for part in PLUMAGE_HEADS[s]:
                claim(f"{part}_color", colour)
                if part == "tail":
                    claim("tail_length", next((w for w in window if w in ("long", "short")), None))
        elif OTHER_HEADS[s] == "beak":
            claim("beak_color", colour)
            shape = None
            if any(w in ("hooked", "curved") for w in window):
                shape = "hooked"
            elif any(w in ("long", "thin", "slender") for w in window):
                shape = "long"
            elif any(w in ("short", "stubby", "stout") for w in window):
                shape = "short"
            claim("beak_shape", shape)
        elif OTHER_HEADS[s] == "wingbars":
            claim("wing_pattern", "wingbars")
            claim("wingbar_color", colour)
        elif OTHER_HEADS[s] == "eyering":
            claim("eye_ring", "yes")
            claim("eye_ring_color", colour)
        elif OTHER_HEADS[s] == "legs":
            claim("leg_color", colour)
    return claims


def named_pairs(named) -> list[tuple[str, str]]:
    """Meta JSON 'named' list -> [(attribute, normalised value)]."""
    return [(a, norm_value(v)) for a, v in named]


def parser_recall(captions: list[tuple[str, list]], attributes: list[dict] | None = None) -> dict:
    """captions: [(text, named)] (attributes: the image's ground truth per caption, for precision)."""
    found = total = correct_claims = n_claims = 0
    for r, (text, named) in enumerate(captions):
        claims = parse_claims(text)
        for a, v in named_pairs(named):
            total += 1
            found += int(claims.get(a) == v)
        if attributes is not None:
            gt = attributes[r]
            for a, v in claims.items():
                n_claims += 1
                correct_claims += int(norm_value(gt[a]) == v)
    out = {"captions": len(captions), "named": total, "recall": found / max(total, 1)}
    if attributes is not None:
        out["claims"] = n_claims
        out["precision"] = correct_claims / max(n_claims, 1)
    return out
