"""Loaders for the official CUB/AttnGAN dataset layout (SynthBirds writes the same layout).

<root>/captions.pickle      [train captions, test captions, ixtoword, wordtoix]; 10 captions per image
<root>/{train,test}/filenames.pickle, class_info.pickle
<root>/images/<name>.png    (<root>/images_256.npy: all images, train then test, uint8 [N,256,256,3])
"""
from __future__ import annotations

import os
import pickle
import re

import numpy as np
import torch
import torch.nn.functional as F

_TOKEN = re.compile(r"\w+")


def tokenize(text: str) -> list[str]:
    """Official cleaning: U+FFFD pairs -> space, lower-case, runs of word characters, ASCII only."""
    text = text.replace("\ufffd\ufffd", " ").lower()
    out = []
    for t in _TOKEN.findall(text):
        t = t.encode("ascii", "ignore").decode("ascii")
        if t:
            out.append(t)
    return out


def encode_words(text: str, wordtoix: dict) -> tuple[list[int], list[str]]:
    """Cleaned tokens -> (ids of known words, unknown words); unknown words are dropped as the official
    free-text inference does."""
    ids, unknown = [], []
    for t in tokenize(text):
        if t in wordtoix:
            ids.append(wordtoix[t])
        else:
            unknown.append(t)
    return ids, unknown


class CaptionSet:
    """Captions, vocabulary and split metadata of a dataset in the official layout."""

    def __init__(self, root: str, captions_per_image: int = 10):
        self.root = root
        self.cpi = captions_per_image
        with open(os.path.join(root, "captions.pickle"), "rb") as f:
            train_caps, test_caps, ixtoword, wordtoix = pickle.load(f)
        self.ixtoword = ixtoword
        self.wordtoix = wordtoix
        self.n_words = len(ixtoword)
        self.captions = {"train": train_caps, "test": test_caps}
        self.filenames, self.class_ids = {}, {}
        for split in ("train", "test"):
            with open(os.path.join(root, split, "filenames.pickle"), "rb") as f:
                self.filenames[split] = pickle.load(f)
            path = os.path.join(root, split, "class_info.pickle")
            if os.path.exists(path):
                with open(path, "rb") as f:
                    self.class_ids[split] = list(pickle.load(f))
            else:
                self.class_ids[split] = list(range(len(self.filenames[split])))

    def vocab_list(self) -> list[str]:
        return [self.ixtoword[i] for i in range(self.n_words)]

    def caption(self, split: str, image: int, k: int) -> list[int]:
        return self.captions[split][image * self.cpi + k]

    def encode(self, text: str) -> tuple[list[int], list[str]]:
        return encode_words(text, self.wordtoix)


def fixed_length(ids: list[int], words_num: int, rng: np.random.Generator) -> tuple[np.ndarray, int]:
    """Zero-pad to words_num; longer captions are randomly subsampled keeping word order (official)."""
    out = np.zeros(words_num, dtype=np.int64)
    n = len(ids)
    if n <= words_num:
        out[:n] = ids
        return out, max(n, 1)
    keep = np.sort(rng.permutation(n)[:words_num])
    out[:] = np.asarray(ids)[keep]
    return out, words_num


def load_images(root: str, split: str, captions: CaptionSet) -> torch.Tensor:
    """uint8 tensor [N, 3, 256, 256] of one split, from images_256.npy (or the PNGs)."""
    n_train = len(captions.filenames["train"])
    n = len(captions.filenames[split])
    npy = os.path.join(root, "images_256.npy")
    if os.path.exists(npy):
        arr = np.load(npy, mmap_mode="r")
        sl = arr[:n_train] if split == "train" else arr[n_train : n_train + n]
        return torch.from_numpy(np.ascontiguousarray(sl)).permute(0, 3, 1, 2).contiguous()
    from PIL import Image

    imgs = []
    for name in captions.filenames[split]:
        im = Image.open(os.path.join(root, "images", name + ".png")).convert("RGB").resize((256, 256), Image.BILINEAR)
        imgs.append(np.asarray(im))
    return torch.from_numpy(np.stack(imgs)).permute(0, 3, 1, 2).contiguous()


def to_unit(x_uint8: torch.Tensor) -> torch.Tensor:
    """uint8 [B,3,H,W] -> float in [-1, 1] (mean/std 0.5 as the official transform)."""
    return x_uint8.float().div_(127.5).sub_(1.0)


def pyramid(x256: torch.Tensor, sizes=(64, 128, 256)) -> list[torch.Tensor]:
    """The 64 and 128 copies are resized from the 256 image (antialiased bilinear, like PIL)."""
    out = []
    for s in sizes:
        out.append(x256 if s == x256.shape[-1] else F.interpolate(x256, size=(s, s), mode="bilinear", align_corners=False, antialias=True))
    return out


class CaptionSampler:
    """Draws (captions [B, words_num], lengths [B]) for image indices: one random caption of the 10."""

    def __init__(self, captions: CaptionSet, split: str, words_num: int, seed: int = 0):
        self.c = captions
        self.split = split
        self.words_num = words_num
        self.rng = np.random.default_rng(seed)

    def __call__(self, indices, k=None):
        caps, lens, which = [], [], []
        for i in indices:
            kk = int(self.rng.integers(self.c.cpi)) if k is None else k
            ids, n = fixed_length(self.c.caption(self.split, int(i), kk), self.words_num, self.rng)
            caps.append(ids)
            lens.append(n)
            which.append(kk)
        return torch.from_numpy(np.stack(caps)), torch.tensor(lens, dtype=torch.long), which


def trim(caps: torch.Tensor, lens: torch.Tensor):
    """Cut the padded captions to the longest length in the batch (T = words_emb.size(2))."""
    t = int(lens.max())
    caps = caps[:, :t]
    mask = torch.arange(t).unsqueeze(0) >= lens.unsqueeze(1)  # == (caps == 0) for captions without id 0
    return caps, lens, mask
