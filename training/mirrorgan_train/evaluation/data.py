"""The evaluation's inputs: the first N test images with their captions, named attributes and R-precision
candidates (drawn as `mirrorgan eval` draws them), real images as uint8, padded caption batches."""
from __future__ import annotations

import os

import numpy as np
import torch

from .. import data as D
from ..attributes_classifier import load_meta
from ..rng import CANDIDATE_SEED_MASK, MirrorRNG
from .claims import named_pairs
from .metrics import R_CANDIDATES


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
        # Candidates are drawn exactly as `mirrorgan eval` (Sources/MirrorGAN/Pipeline/RPrecisionEvaluation.swift) draws them, so the
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
