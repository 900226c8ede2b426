"""Real-image features shared by the models of one run, cached on disk by dataset, N and backbone digest
(backbone global + pooled local, Inception), reuse of the dataset's lite0_features.pt, and the attribute
classifier trained once per run on real train renders."""
from __future__ import annotations

import hashlib
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

from .. import data as D
from ..attributes_classifier import AttributeClassifier, classifier_features, load_meta
from .data import TestSet, train_uint8
from .progress import timed

CLASSIFIER_POOL = 4


class RealFeatures:
    """Backbone (global, local map in fp16, local pooled for the classifier) and Inception features of the real test
    images, per backbone digest."""

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
            cached = torch.load(path)
            if "local" in cached:  # caches written before the local map was kept are recomputed
                self.backbone[digest] = cached
                return cached
        n = self.ts.n
        glob = torch.empty(n, 1280)
        full = None  # [n, C, h, w] fp16, allocated at the first batch (the trunk decides its shape)
        loc = torch.empty(n, 112 * CLASSIFIER_POOL * CLASSIFIER_POOL)
        start = _cached_prefix(backbone, lite0_cache, "test", n, lambda: self.ts.real_uint8(0, 2))
        if start:
            glob[:start] = lite0_cache["test"]["global"][:start].float()
            full = torch.empty(n, *lite0_cache["test"]["local"].shape[1:], dtype=torch.float16)
            full[:start] = lite0_cache["test"]["local"][:start].half()
            loc[:start] = F.adaptive_avg_pool2d(lite0_cache["test"]["local"][:start].float(),
                                                CLASSIFIER_POOL).flatten(1)
            print(f"real test backbone features 0..{start - 1} from lite0_features.pt")
        eta.add("backbone", n - start)
        for s, e in _batches(start, n, batch):
            with timed(eta, "backbone", e - s), torch.no_grad():
                l, g = backbone(D.to_unit(self.ts.real_uint8(s, e)))
                glob[s:e] = g
                if full is None:
                    full = torch.empty(n, *l.shape[1:], dtype=torch.float16)
                full[s:e] = l.half()
                loc[s:e] = F.adaptive_avg_pool2d(l, CLASSIFIER_POOL).flatten(1)
            eta.report("real backbone", e, n)
        self.backbone[digest] = {"global": glob, "local": full, "local_pooled": loc}
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
        for s, e in _batches(0, n, batch):
            with timed(eta, "inception", e - s):
                out[s:e] = inc(self.ts.real_uint8(s, e))
            eta.report("real inception", e, n)
        self.inception = out
        if path:
            os.makedirs(self.cache_dir, exist_ok=True)
            torch.save(out, path)
        return out


def _batches(start, n, batch):
    """(s, e) of the batches that cover start..<n."""
    return ((s, min(n, s + batch)) for s in range(start, n, batch))


def _cached_prefix(backbone, lite0, split, n, first_images):
    """How many of the split's first n images have features in lite0_features.pt (`lite0`) that this backbone
    made (checked on `first_images()`); 0 without a cache or when another backbone made it."""
    if lite0 is None or lite0.get(split) is None:
        return 0
    m = min(n, lite0[split]["global"].shape[0])
    return m if m and _lite0_matches(backbone, lite0[split], first_images()) else 0


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
    start = _cached_prefix(backbone, lite0, "train", n_train, lambda: train_uint8(data, caps, 0, 2))
    if start:
        for s, e in _batches(0, start, 1000):
            feats[s:e] = classifier_features(lite0["train"]["local"][s:e], lite0["train"]["global"][s:e],
                                             CLASSIFIER_POOL)
        print(f"classifier: train features 0..{start - 1} from lite0_features.pt")
    eta.add("train_backbone", n_train - start)
    for s, e in _batches(start, n_train, batch):
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
