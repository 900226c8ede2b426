"""Write a SynthBirds dataset in the official CUB / AttnGAN layout.

    python -m mirrorgan_train.synthbirds.dataset --out data/synthbirds \
        --n-train 10000 --n-test 2000 --seed 0 --workers 2

Layout (same as AttnGAN's preprocessed CUB-200-2011 + text):

    <out>/images/<NNN.Species_Name>/<Species_Name_XXXX>.png
    <out>/text/<NNN.Species_Name>/<Species_Name_XXXX>.txt     10 captions
    <out>/meta/<NNN.Species_Name>/<Species_Name_XXXX>.json    ground truth
    <out>/train/filenames.pickle, <out>/test/filenames.pickle
    <out>/train/class_info.pickle, <out>/test/class_info.pickle
    <out>/captions.pickle  = [train_captions, test_captions, ixtoword, wordtoix]
    <out>/images_256.npy   uint8 [N_train + N_test, S, S, 3] (train then test)
    <out>/info.json        seed, counts, vocabulary size, timings

Image ``k`` (0-based, train images first) is rendered from an RNG seeded with
(seed, k), so the output does not depend on ``--workers``.
"""
from __future__ import annotations

import argparse
import json
import os
import pickle
import sys
import time
from collections import Counter

import numpy as np

from .attributes import species_table
from .captions import make_captions, tokenize
from .render import image_rng, render_image, species_for_index

CAPTIONS_PER_IMAGE = 10
PNG_COMPRESS_LEVEL = 1


def image_key(index: int) -> str:
    """'NNN.Species_Name/Species_Name_XXXX' for image ``index``."""
    sp = species_table()[species_for_index(index) - 1]
    return f"{sp.dirname}/{sp.name}_{index // len(species_table()) + 1:04d}"


def render_with_captions(index: int, seed: int, size: int = 256):
    """(image, meta) with meta['captions'] = [{'text', 'named'}] (10 of them)."""
    img, meta = render_image(index, seed, size)
    caps = make_captions(meta, image_rng(seed, index, 1), CAPTIONS_PER_IMAGE)
    meta["captions"] = [{"text": t, "named": [[k, v] for k, v in named]} for t, named in caps]
    return img, meta


def _render_range(args):
    out, seed, size, start, end, n_train, write_npy = args
    arr = np.load(os.path.join(out, f"images_{size}.npy"), mmap_mode="r+") if write_npy else None
    texts = []
    for k in range(start, end):
        img, meta = render_with_captions(k, seed, size)
        key = image_key(k)
        meta["filename"] = key
        meta["split"] = "train" if k < n_train else "test"
        img.save(os.path.join(out, "images", key + ".png"), compress_level=PNG_COMPRESS_LEVEL)
        lines = [c["text"] for c in meta["captions"]]
        with open(os.path.join(out, "text", key + ".txt"), "w") as f:
            f.write("\n".join(lines) + "\n")
        with open(os.path.join(out, "meta", key + ".json"), "w") as f:
            json.dump(meta, f, separators=(",", ":"))
        if arr is not None:
            arr[k] = np.asarray(img, dtype=np.uint8)
        texts.append((k, lines))
    if arr is not None:
        arr.flush()
        del arr
    return texts


def build_vocab(all_captions):
    """AttnGAN's build_dictionary: index 0 is '<end>', then every word
    (sorted, for determinism). Returns (ixtoword, wordtoix)."""
    counts = Counter(w for cap in all_captions for w in cap)
    vocab = sorted(counts)
    ixtoword = {0: "<end>"}
    wordtoix = {"<end>": 0}
    for i, w in enumerate(vocab, start=1):
        ixtoword[i] = w
        wordtoix[w] = i
    return ixtoword, wordtoix


def _atomic_write(path, data: bytes):
    tmp = f"{path}.tmp{os.getpid()}"
    with open(tmp, "wb") as f:
        f.write(data)
    os.replace(tmp, path)


def _write_caption_pickles(out, keys, captions_text, n_train) -> int:
    """captions.pickle + {train,test}/{filenames,class_info}.pickle (protocol 2)."""
    n = len(keys)
    toks = [[tokenize(c) for c in lines] for lines in captions_text]
    ixtoword, wordtoix = build_vocab(c for per in toks for c in per)
    enc = [[[wordtoix[w] for w in c] for c in per] for per in toks]
    train_caps = [c for per in enc[:n_train] for c in per]
    test_caps = [c for per in enc[n_train:] for c in per]
    _atomic_write(os.path.join(out, "captions.pickle"),
                  pickle.dumps([train_caps, test_caps, ixtoword, wordtoix], protocol=2))
    for split, rng_ in (("train", range(0, n_train)), ("test", range(n_train, n))):
        _atomic_write(os.path.join(out, split, "filenames.pickle"),
                      pickle.dumps([keys[k] for k in rng_], protocol=2))
        _atomic_write(os.path.join(out, split, "class_info.pickle"),
                      pickle.dumps([species_for_index(k) for k in rng_], protocol=2))
    return len(ixtoword)


def rewrite_captions(out: str, progress: bool = True) -> int:
    """Regenerate only the captions (text/, meta captions, captions.pickle) of an
    existing dataset from its stored attributes, e.g. after a grammar change.
    Images are untouched; the result equals a full re-render. Returns the
    vocabulary size."""
    with open(os.path.join(out, "info.json")) as f:
        info = json.load(f)
    seed, n_train, n = info["seed"], info["n_train"], info["n_train"] + info["n_test"]
    keys = [image_key(k) for k in range(n)]
    captions_text = []
    for k, key in enumerate(keys):
        mp = os.path.join(out, "meta", key + ".json")
        with open(mp) as f:
            meta = json.load(f)
        caps = make_captions(meta, image_rng(seed, k, 1), CAPTIONS_PER_IMAGE)
        meta["captions"] = [{"text": t, "named": [[a, v] for a, v in nm]} for t, nm in caps]
        lines = [t for t, _ in caps]
        _atomic_write(mp, json.dumps(meta, separators=(",", ":")).encode())
        _atomic_write(os.path.join(out, "text", key + ".txt"), ("\n".join(lines) + "\n").encode())
        captions_text.append(lines)
        if progress and (k + 1) % 2000 == 0:
            print(f"[synthbirds] captions {k + 1}/{n}", flush=True)
    vs = _write_caption_pickles(out, keys, captions_text, n_train)
    info["vocab_size"] = vs
    _atomic_write(os.path.join(out, "info.json"), json.dumps(info, indent=1).encode())
    return vs


def write_dataset(out: str, n_train: int, n_test: int, seed: int = 0, workers: int = 2,
                  size: int = 256, chunk: int = 40, progress: bool = True, write_npy: bool = True):
    t0 = time.time()
    n = n_train + n_test
    out = os.path.abspath(out)
    keys = [image_key(k) for k in range(n)]
    for sub in ("images", "text", "meta"):
        for d in sorted({k.split("/")[0] for k in keys}):
            os.makedirs(os.path.join(out, sub, d), exist_ok=True)
    for sub in ("train", "test"):
        os.makedirs(os.path.join(out, sub), exist_ok=True)
    if write_npy:
        arr = np.lib.format.open_memmap(os.path.join(out, f"images_{size}.npy"), mode="w+",
                                        dtype=np.uint8, shape=(n, size, size, 3))
        arr.flush()
        del arr
    jobs = [(out, seed, size, s, min(n, s + chunk), n_train, write_npy) for s in range(0, n, chunk)]
    captions_text: list = [None] * n
    done = 0

    def _report():
        if progress:
            el = time.time() - t0
            eta = el / max(done, 1) * (n - done)
            print(f"[synthbirds] {done}/{n} images  {el:6.1f}s elapsed  ETA {eta:6.1f}s", flush=True)

    if workers <= 1:
        for j in jobs:
            for k, lines in _render_range(j):
                captions_text[k] = lines
                done += 1
            if done % 400 < chunk or done == n:
                _report()
    else:
        import multiprocessing as mp
        # Not "fork": a process that has started threads (torch's, a test run's) can hand a forked worker a
        # lock some other thread held at the fork, and the worker then waits on it forever (seen: the training
        # suite hung in test_worker_count_does_not_change_output, a worker in futex_wait). The forkserver is a
        # fresh single-threaded process, so its forks are safe.
        ctx = mp.get_context("forkserver") if sys.platform != "win32" else mp.get_context()
        with ctx.Pool(workers) as pool:
            for res in pool.imap_unordered(_render_range, jobs):
                for k, lines in res:
                    captions_text[k] = lines
                    done += 1
                if done % 400 < chunk or done == n:
                    _report()
    t_render = time.time() - t0

    vocab_size = _write_caption_pickles(out, keys, captions_text, n_train)
    info = {
        "name": "SynthBirds", "seed": seed, "n_train": n_train, "n_test": n_test,
        "size": size, "n_species": len(species_table()), "captions_per_image": CAPTIONS_PER_IMAGE,
        "vocab_size": vocab_size, "split": "per-image (all species in both splits)",
        "images_npy": f"images_{size}.npy" if write_npy else None,
        "render_seconds": round(t_render, 1), "total_seconds": round(time.time() - t0, 1),
        "workers": workers,
    }
    with open(os.path.join(out, "info.json"), "w") as f:
        json.dump(info, f, indent=1)
    if progress:
        print(f"[synthbirds] wrote {n} images to {out} in {info['total_seconds']}s; "
              f"vocabulary {vocab_size} words (incl. <end>)", flush=True)
    return info


# ----------------------------------------------------------------------------
# Documentation helpers: statistics and a caption grid.
# ----------------------------------------------------------------------------
def compute_stats(metas: list[dict]) -> dict:
    from .attributes import ATTRIBUTE_KEYS
    attr = {k: Counter() for k in ATTRIBUTE_KEYS}
    lens = Counter()
    words = Counter()
    named = Counter()
    for m in metas:
        for k in ATTRIBUTE_KEYS:
            attr[k][str(m["attributes"][k])] += 1
        for c in m["captions"]:
            t = tokenize(c["text"])
            lens[len(t)] += 1
            words.update(t)
            for k, _ in c["named"]:
                named[k] += 1
    return {"n_images": len(metas), "attributes": {k: dict(v.most_common()) for k, v in attr.items()},
            "caption_lengths": dict(sorted(lens.items())), "vocab": dict(words.most_common()),
            "named_attribute_counts": dict(named.most_common())}


def make_grid(path: str, indices, seed: int = 0, cell: int = 192, cols: int = 4):
    from PIL import Image, ImageDraw, ImageFont
    font = ImageFont.load_default()
    caps_h = 40
    rows = (len(indices) + cols - 1) // cols
    grid = Image.new("RGB", (cols * cell, rows * (cell + caps_h)), (255, 255, 255))
    d = ImageDraw.Draw(grid)
    for i, k in enumerate(indices):
        img, meta = render_with_captions(k, seed, 256)
        x, y = (i % cols) * cell, (i // cols) * (cell + caps_h)
        grid.paste(img.resize((cell, cell), Image.LANCZOS), (x, y))
        text = meta["captions"][0]["text"]
        lines, cur = [], ""
        for w in text.split():
            if d.textlength(cur + " " + w, font=font) > cell - 6 and cur:
                lines.append(cur)
                cur = w
            else:
                cur = (cur + " " + w).strip()
        lines.append(cur)
        for j, ln in enumerate(lines[:3]):
            d.text((x + 3, y + cell + 2 + 12 * j), ln, fill=(0, 0, 0), font=font)
    grid.save(path, optimize=True)
    return grid


def main(argv=None):
    p = argparse.ArgumentParser(description="Render the SynthBirds dataset (CUB/AttnGAN layout).")
    p.add_argument("--out", default="data/synthbirds")
    p.add_argument("--n-train", type=int, default=10000)
    p.add_argument("--n-test", type=int, default=2000)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--workers", type=int, default=2)
    p.add_argument("--size", type=int, default=256)
    p.add_argument("--no-npy", action="store_true", help="skip images_<size>.npy")
    p.add_argument("--grid", default=None, help="only write a 4x4 caption grid PNG to this path")
    p.add_argument("--captions-only", action="store_true",
                   help="regenerate the captions of an existing --out dataset (images untouched)")
    a = p.parse_args(argv)
    if a.grid:
        make_grid(a.grid, list(range(16)), seed=a.seed)
        print(f"wrote {a.grid}")
        return
    if a.captions_only:
        vs = rewrite_captions(a.out)
        print(f"rewrote captions in {a.out}; vocabulary {vs} words (incl. <end>)")
        return
    write_dataset(a.out, a.n_train, a.n_test, seed=a.seed, workers=a.workers, size=a.size,
                  write_npy=not a.no_npy)


if __name__ == "__main__":
    main()
