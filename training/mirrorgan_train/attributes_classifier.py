"""SynthBirds attribute classifier for the semantic round trip (docs: mirrorgan_train.evaluate).

Linear (multinomial logistic) heads over frozen EfficientNet-Lite0 features (models.Backbone): the global
1280-d feature plus the block-10 local map (112 x 14 x 14) average-pooled to 112 x P x P, standardised with
the training statistics. One softmax head per categorical attribute of the meta JSON
(synthbirds.attributes.ATTRIBUTE_KEYS); None and booleans become the classes "none" / "yes" / "no".

Trained on real SynthBirds renders only, so that it measures whether a generated image shows what its caption
names in the way the renderer draws it.
"""
from __future__ import annotations

import json
import os
import pickle

import numpy as np
import torch
import torch.nn.functional as F

from .synthbirds.attributes import ATTRIBUTE_KEYS

COLOR_ATTRIBUTES = tuple(k for k in ATTRIBUTE_KEYS if k.endswith("_color"))
PLUMAGE_COLOR_ATTRIBUTES = ("crown_color", "nape_color", "throat_color", "breast_color", "belly_color",
                            "back_color", "wing_color", "tail_color")


def norm_value(v) -> str:
    """Ground-truth value -> class label (None -> 'none', True/False -> 'yes'/'no')."""
    if v is None:
        return "none"
    if isinstance(v, bool):
        return "yes" if v else "no"
    return str(v)


# --------------------------------------------------------------------------------------------------
# Meta JSON (ground truth)
# --------------------------------------------------------------------------------------------------
def load_filenames(data: str, split: str) -> list[str]:
    with open(os.path.join(data, split, "filenames.pickle"), "rb") as f:
        return list(pickle.load(f))


def load_meta(data: str, split: str, n: int | None = None) -> list[dict]:
    names = load_filenames(data, split)
    if n is not None:
        names = names[:n]
    out = []
    for name in names:
        with open(os.path.join(data, "meta", name + ".json")) as f:
            out.append(json.load(f))
    return out


# --------------------------------------------------------------------------------------------------
# Features
# --------------------------------------------------------------------------------------------------
def classifier_features(local: torch.Tensor, glob: torch.Tensor, pool: int = 4) -> torch.Tensor:
    """local [B,112,14,14] (any float dtype), glob [B,1280] -> [B, 1280 + 112*pool*pool] float32."""
    parts = [glob.float()]
    if pool > 0:
        parts.append(F.adaptive_avg_pool2d(local.float(), pool).flatten(1))
    return torch.cat(parts, 1)


class AttributeClassifier:
    """One linear softmax head per attribute over standardised backbone features."""

    def __init__(self, classes: dict[str, list[str]], dim: int, pool: int):
        self.classes = classes
        self.attrs = list(classes)
        self.pool = pool
        self.dim = dim
        self.mean = torch.zeros(dim)
        self.std = torch.ones(dim)
        sizes = [len(classes[a]) for a in self.attrs]
        self.offsets = np.concatenate([[0], np.cumsum(sizes)]).tolist()
        self.linear = torch.nn.Linear(dim, int(sum(sizes)))

    # ---------------------------------------------------------------------------------------------
    @staticmethod
    def fit(feats: torch.Tensor, metas: list[dict], pool: int, epochs: int = 300, lr: float = 0.01,
            weight_decay: float = 1e-3, seed: int = 0, batch: int = 1024, log=print) -> "AttributeClassifier":
        attrs = [a for a in ATTRIBUTE_KEYS]
        labels = {a: [norm_value(m["attributes"][a]) for m in metas] for a in attrs}
        classes = {a: sorted(set(labels[a])) for a in attrs}
        clf = AttributeClassifier(classes, feats.shape[1], pool)
        clf.mean = feats.mean(0)
        clf.std = feats.std(0).clamp_min(1e-4)
        x = (feats - clf.mean) / clf.std
        y = torch.stack([torch.tensor([classes[a].index(v) for v in labels[a]]) for a in attrs], 1)  # [n, A]
        g = torch.Generator().manual_seed(seed)
        torch.nn.init.zeros_(clf.linear.weight)
        torch.nn.init.zeros_(clf.linear.bias)
        opt = torch.optim.Adam(clf.linear.parameters(), lr=lr, weight_decay=0.0)
        n = x.shape[0]
        steps_per_epoch = max(1, (n + batch - 1) // batch)
        sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, epochs * steps_per_epoch)
        for ep in range(epochs):
            perm = torch.randperm(n, generator=g)
            for s in range(0, n, batch):
                idx = perm[s : s + batch]
                logits = clf.linear(x[idx])
                loss = sum(F.cross_entropy(logits[:, clf.offsets[k] : clf.offsets[k + 1]], y[idx, k])
                           for k in range(len(attrs))) / len(attrs)
                loss = loss + weight_decay * clf.linear.weight.pow(2).sum()
                opt.zero_grad()
                loss.backward()
                opt.step()
                sched.step()
            if log and (ep + 1) % max(1, epochs // 4) == 0:
                log(f"  classifier epoch {ep + 1}/{epochs} loss {loss.item():.4f}")
        clf.linear.eval()
        return clf

    @torch.no_grad()
    def predict(self, feats: torch.Tensor) -> list[dict[str, str]]:
        logits = self.linear((feats - self.mean) / self.std)
        out = [dict() for _ in range(feats.shape[0])]
        for k, a in enumerate(self.attrs):
            pred = logits[:, self.offsets[k] : self.offsets[k + 1]].argmax(1).tolist()
            for r, p in enumerate(pred):
                out[r][a] = self.classes[a][p]
        return out

    def accuracy(self, feats: torch.Tensor, metas: list[dict]) -> dict[str, float]:
        preds = self.predict(feats)
        acc = {}
        for a in self.attrs:
            acc[a] = float(np.mean([p[a] == norm_value(m["attributes"][a]) for p, m in zip(preds, metas)]))
        return acc

    def majority(self, metas: list[dict]) -> dict[str, str]:
        """Most frequent training value per attribute (for the chance baseline), from `metas`."""
        out = {}
        for a in self.attrs:
            vals = [norm_value(m["attributes"][a]) for m in metas]
            out[a] = max(set(vals), key=vals.count)
        return out

    def state(self) -> dict:
        return {"classes": self.classes, "pool": self.pool, "dim": self.dim, "mean": self.mean, "std": self.std,
                "linear": self.linear.state_dict()}

    @staticmethod
    def from_state(st: dict) -> "AttributeClassifier":
        clf = AttributeClassifier(st["classes"], st["dim"], st["pool"])
        clf.mean, clf.std = st["mean"], st["std"]
        clf.linear.load_state_dict(st["linear"])
        clf.linear.eval()
        return clf
