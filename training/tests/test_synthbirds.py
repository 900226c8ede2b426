"""Tests for the SynthBirds renderer, caption grammar and dataset writer."""
import json
import os
import pickle
import re

import numpy as np
import pytest

from mirrorgan_train.synthbirds import (COLOR_NAMES, N_SPECIES, make_captions, render_image,
                                        sample_attributes, species_table, tokenize)
from mirrorgan_train.synthbirds.attributes import ATTRIBUTE_KEYS, PLUMAGE_PARTS
from mirrorgan_train.synthbirds.captions import make_captions as _mc  # noqa: F401
from mirrorgan_train.synthbirds.dataset import image_key, write_dataset
from mirrorgan_train.synthbirds.render import image_rng


# --------------------------------------------------------------------------
# renderer
# --------------------------------------------------------------------------
def test_render_deterministic():
    a, ma = render_image(7, 0)
    b, mb = render_image(7, 0)
    assert a.size == (256, 256) and a.mode == "RGB"
    assert a.tobytes() == b.tobytes()
    assert ma == mb
    c, _ = render_image(7, 1)
    assert a.tobytes() != c.tobytes()
    d, _ = render_image(8, 0)
    assert a.tobytes() != d.tobytes()


def test_render_other_size_and_framing():
    img, meta = render_image(3, 0, size=128)
    assert img.size == (128, 128)
    for k in range(24):
        img, meta = render_image(k, 0)
        x0, y0, x1, y1 = meta["boxes"]["bird"]
        frac = (x1 - x0) / 256
        assert 0.38 <= frac <= 0.74, (k, frac)
        cx = (x0 + x1) / 2 / 256
        assert 0.3 < cx < 0.7
        for part in ("head", "crown", "throat", "breast", "belly", "back", "wing", "tail",
                     "beak", "eye", "legs"):
            bx = meta["boxes"][part]
            assert 0 <= bx[0] <= bx[2] <= 256 and 0 <= bx[1] <= bx[3] <= 256, (part, bx)
        arr = np.asarray(img)
        assert arr.std() > 10  # not a flat image


def test_colours_visible_in_image():
    """The pixels at a part's centre are close to the part's named colour."""
    from mirrorgan_train.synthbirds.attributes import COLORS
    hits = total = 0
    for k in range(30):
        img, meta = render_image(k, 0)
        arr = np.asarray(img).astype(float)
        a = meta["attributes"]
        if a["back_color"] == "iridescent":
            continue
        x0, y0, x1, y1 = meta["boxes"]["eye"]
        # the crown sits just above the eye
        total += 1
        # nearest palette colour of the head region should be one of the head colours
        hx0, hy0, hx1, hy1 = meta["boxes"]["crown"]
        patch = arr[hy0:max(hy0 + 1, (hy0 + hy1) // 2 + 1), (hx0 + hx1) // 2 - 1:(hx0 + hx1) // 2 + 2]
        mean = patch.reshape(-1, 3).mean(0)
        names = list(COLORS)
        dist = [np.linalg.norm(mean - np.array(COLORS[n]) * np.linspace(0.68, 1.16, 12)[:, None], axis=1).min()
                for n in names]
        if names[int(np.argmin(dist))] in (a["crown_color"], a["nape_color"]):
            hits += 1
    assert hits >= 0.6 * total


# --------------------------------------------------------------------------
# species / vocabulary
# --------------------------------------------------------------------------
def test_species_table():
    sp = species_table()
    assert len(sp) == N_SPECIES >= 100
    assert [s.id for s in sp] == list(range(1, N_SPECIES + 1))
    assert len({s.name for s in sp}) == len(sp)
    for s in sp:
        assert re.fullmatch(r"[A-Za-z_]+", s.name)
        for key, dist in s.dists.items():
            assert abs(sum(dist.values()) - 1.0) < 1e-6, (s.name, key)
    assert len(COLOR_NAMES) == 15
    # species share some attributes and differ in others
    dom = [tuple(s.dominant(f"{p}_color") for p in PLUMAGE_PARTS) for s in sp]
    assert len(set(dom)) > 0.8 * len(sp)
    used = {c for d in dom for c in d}
    assert used == set(COLOR_NAMES)


def test_captions_hold_in_ground_truth():
    sp = species_table()
    vocab = set()
    lengths = []
    for k in range(400):
        rng = np.random.default_rng([3, k])
        attrs = sample_attributes(sp[k % len(sp)], rng)
        assert set(attrs) == set(ATTRIBUTE_KEYS)
        caps = make_captions({"attributes": attrs}, rng, n=10)
        assert len(caps) == 10
        for text, named in caps:
            assert 2 <= len(named) <= 5, (text, named)
            for key, value in named:
                assert attrs[key] == value, (text, key, value, attrs)
                assert value is not None
            toks = tokenize(text)
            assert 4 <= len(toks) <= 25, text
            lengths.append(len(toks))
            vocab.update(toks)
    assert 60 <= len(vocab) <= 250, len(vocab)
    assert 10 <= np.median(lengths) <= 18
    assert all(w.isascii() for w in vocab)


def test_caption_negative_attributes_never_mentioned():
    sp = species_table()
    for k in range(300):
        rng = np.random.default_rng([5, k])
        a = sample_attributes(sp[k % len(sp)], rng)
        for text, named in make_captions({"attributes": a}, rng):
            toks = tokenize(text)
            if a["wing_pattern"] != "wingbars":
                assert "wingbars" not in toks and "bars" not in toks
            if not a["eye_ring"]:
                assert "ring" not in toks and "eyering" not in toks
            if a["overall_color"] is None:
                assert "mostly" not in toks and "mainly" not in toks
            # every colour word in the caption belongs to some attribute value
            colours = {str(v) for v in a.values()}
            for t in toks:
                if t in COLOR_NAMES:
                    assert t in colours, (t, text)
                if t == "gray":
                    assert "grey" in colours


def test_tokenize_official_cleaning():
    assert tokenize("This bird, has a RED crown!") == ["this", "bird", "has", "a", "red", "crown"]
    assert tokenize("caf\u00e9 bird") == ["caf", "bird"]


# --------------------------------------------------------------------------
# dataset writer (official CUB / AttnGAN layout)
# --------------------------------------------------------------------------
def _read(p):
    with open(p, "rb") as f:
        raw = f.read()
    assert raw[:2] == b"\x80\x02"  # pickle protocol 2
    return pickle.loads(raw)


def test_write_dataset_layout(tmp_path):
    out = tmp_path / "sb"
    info = write_dataset(str(out), 12, 4, seed=0, workers=1, progress=False)
    assert info["n_train"] == 12 and info["n_test"] == 4
    tr = _read(out / "train" / "filenames.pickle")
    te = _read(out / "test" / "filenames.pickle")
    assert len(tr) == 12 and len(te) == 4
    assert tr == [image_key(k) for k in range(12)]
    ci_tr = _read(out / "train" / "class_info.pickle")
    ci_te = _read(out / "test" / "class_info.pickle")
    assert len(ci_tr) == 12 and len(ci_te) == 4
    for key, cid in zip(tr + te, ci_tr + ci_te):
        assert isinstance(cid, int)
        assert re.fullmatch(r"\d{3}\.[A-Za-z_]+/[A-Za-z_]+_\d{4}", key), key
        d, f = key.split("/")
        assert int(d[:3]) == cid
        assert f.startswith(d[4:] + "_")
        assert os.path.isfile(out / "images" / (key + ".png"))
        lines = (out / "text" / (key + ".txt")).read_text().strip().split("\n")
        assert len(lines) == 10
        meta = json.loads((out / "meta" / (key + ".json")).read_text())
        assert meta["species_id"] == cid and meta["filename"] == key
        for c in meta["captions"]:
            for k, v in c["named"]:
                assert meta["attributes"][k] == v
        assert [c["text"] for c in meta["captions"]] == lines
    caps = _read(out / "captions.pickle")
    assert isinstance(caps, list) and len(caps) == 4
    train_caps, test_caps, ixtoword, wordtoix = caps
    assert len(train_caps) == 120 and len(test_caps) == 40
    assert ixtoword[0] == "<end>" and wordtoix["<end>"] == 0
    assert all(ixtoword[i] == w for w, i in wordtoix.items())
    assert sorted(ixtoword) == list(range(len(ixtoword)))
    # captions decode back to the text files, in filenames order
    for j, key in enumerate(tr):
        lines = (out / "text" / (key + ".txt")).read_text().strip().split("\n")
        for c in range(10):
            dec = [ixtoword[i] for i in train_caps[j * 10 + c]]
            assert dec == tokenize(lines[c])
            assert 0 not in train_caps[j * 10 + c]
    arr = np.load(out / "images_256.npy")
    assert arr.shape == (16, 256, 256, 3) and arr.dtype == np.uint8
    from PIL import Image
    for j, key in enumerate(tr + te):
        png = np.asarray(Image.open(out / "images" / (key + ".png")).convert("RGB"))
        assert np.array_equal(png, arr[j])


def test_worker_count_does_not_change_output(tmp_path):
    outs = []
    for w in (1, 2):
        out = tmp_path / f"w{w}"
        write_dataset(str(out), 10, 4, seed=3, workers=w, chunk=3, progress=False)
        outs.append(out)
    a, b = outs
    assert (a / "images_256.npy").read_bytes() == (b / "images_256.npy").read_bytes()
    assert (a / "captions.pickle").read_bytes() == (b / "captions.pickle").read_bytes()
    for sub in ("train/filenames.pickle", "test/filenames.pickle", "train/class_info.pickle"):
        assert (a / sub).read_bytes() == (b / sub).read_bytes()
    key = image_key(5)
    assert (a / "text" / (key + ".txt")).read_text() == (b / "text" / (key + ".txt")).read_text()
    # and the API gives the same image as the writer
    img, _ = render_image(5, 3)
    assert np.array_equal(np.load(a / "images_256.npy")[5], np.asarray(img))


def test_make_captions_api_uses_rng():
    _, meta = render_image(11, 0)
    c1 = make_captions(meta, image_rng(0, 11, 1))
    c2 = make_captions(meta, image_rng(0, 11, 1))
    assert c1 == c2
    assert all(isinstance(t, str) and isinstance(n, list) for t, n in c1)
    assert len({t for t, _ in c1}) >= 8  # varied


@pytest.mark.parametrize("k", [0, 1, 2])
def test_meta_is_json_serialisable(k):
    _, meta = render_image(k, 0)
    s = json.dumps(meta)
    assert json.loads(s)["attributes"] == meta["attributes"]


def test_rewrite_captions_matches_fresh_render(tmp_path):
    from mirrorgan_train.synthbirds.dataset import rewrite_captions
    out = tmp_path / "rw"
    write_dataset(str(out), 6, 2, seed=1, workers=1, progress=False)
    before = {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file() and p.name != "info.json"}
    (out / "captions.pickle").unlink()
    rewrite_captions(str(out), progress=False)
    after = {p: p.read_bytes() for p in sorted(out.rglob("*")) if p.is_file() and p.name != "info.json"}
    assert before.keys() == after.keys()
    assert all(before[p] == after[p] for p in before)
