"""Part 7: where the DAMSM loses R-precision, the image side or the text side.

Every measure here trains an image code against STEM's sentence features with the DAMSM sentence loss (the loss
STEM's image head is trained with: cosine x gamma3, cross-entropy both ways, same-class pairs masked) and reports
the evaluation's real-image R-precision (evaluate.TestSet: its 500 images and 99 candidates each):

- truth, frozen STEM: the image code is a linear map of the image's TRUE attributes (one-hot of every
  (attribute, value) of meta "attributes"), so the image side reads perfectly; what is left is the ceiling of any
  image encoder under this text encoder's geometry.
- truth, STEM trained too: the same with a copy of the text encoder trained jointly from its weights; what
  retraining the text side could add (it would also mean retraining the generator, which is conditioned on it).
- heads over the frozen Lite0 features (lite0_features.pt), frozen STEM: the runtime's two code heads
  (models.CNN_ENCODER: linear of the global feature; local_conv, convolutions over the 14x14 region map with the
  global feature) refitted here, and a diagnosis-only two-layer MLP of the global feature: how much a richer head
  reads out of the frozen trunk.
"""
from __future__ import annotations

import copy
import time

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from ..models import CNN_ENCODER
from . import log


# ==================================================================================================
# Inputs
# ==================================================================================================
def attribute_vocabulary(meta: list[dict]) -> dict:
    """(attribute, str(value)) -> column, in first-seen order over the given images."""
    vocab: dict = {}
    for m in meta:
        for k in sorted(m["attributes"]):
            vocab.setdefault((k, str(m["attributes"][k])), len(vocab))
    return vocab


def attribute_onehot(meta: list[dict], vocab: dict) -> torch.Tensor:
    """[N, len(vocab)]: 1 where the image has that (attribute, value); values unseen in training stay 0."""
    x = torch.zeros(len(meta), len(vocab))
    for i, m in enumerate(meta):
        for k, v in m["attributes"].items():
            j = vocab.get((k, str(v)))
            if j is not None:
                x[i, j] = 1.0
    return x


# ==================================================================================================
# Heads
# ==================================================================================================
class TruthHead(nn.Module):
    def __init__(self, n_in, nef):
        super().__init__()
        self.fc = nn.Linear(n_in, nef)

    def forward(self, x):
        return self.fc(x)


class GlobalMLP(nn.Module):
    """Two layers over the global feature (a diagnosis-only head: what a non-linear reader of the pooled feature
    adds)."""

    def __init__(self, nef, global_channels=1280, hidden=1024):
        super().__init__()
        self.a, self.b = nn.Linear(global_channels, hidden), nn.Linear(hidden, nef)

    def code(self, local, glob):
        return self.b(F.relu(self.a(glob)))


def code_parameters(head) -> list:
    """The parameters a head's global code depends on (CNN_ENCODER's emb_features serves the regions only)."""
    return [p for name, p in head.named_parameters() if not name.startswith("emb_features.")]


# ==================================================================================================
# Fitting
# ==================================================================================================
def fit(code_fn, params, sent_fn, classes, n, iters, batch, lr, seed, gamma3=10.0, clip=None):
    """Adam (betas 0.5, 0.999, cosine-decayed lr) on the DAMSM sentence loss; code_fn(idx) -> [B, nef] image codes,
    sent_fn(idx, rng) -> [B, nef] sentence features of one caption of each image. Returns the last loss."""
    from ..losses import sent_loss

    rng = np.random.default_rng(seed)
    opt = torch.optim.Adam(params, lr=lr, betas=(0.5, 0.999))
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, max(1, iters))
    b = min(batch, n)
    loss = torch.zeros(())
    for _ in range(iters):
        idx = rng.choice(n, b, replace=False)
        s0, s1 = sent_loss(code_fn(idx), sent_fn(idx, rng), classes[idx], gamma3)
        loss = s0 + s1
        opt.zero_grad()
        loss.backward()
        if clip is not None:
            torch.nn.utils.clip_grad_norm_(clip, 0.25)
        opt.step()
        sched.step()
    return float(loss.item())


def _r_precision(codes, sent_all, ts, seed):
    from ..evaluation.metrics import fold_stats, r_precision_hits

    fs = fold_stats(r_precision_hits(codes, sent_all, ts), seed=seed)
    return {k: fs[k] for k in ("mean", "std", "n")}


def _eval_mode(*mods):
    for m in mods:
        m.eval()


def part_ceiling(args, ts, stem, caps, lite0, train_meta) -> dict:
    """Part 7 (module docstring). stem: the diagnosed STEM (text_encoder, cfg); lite0: the frozen-feature cache or
    None (the feature heads are then skipped)."""
    from .. import data as D
    from .stem import caption_features

    torch.manual_seed(args.seed)
    t0 = time.time()
    cpi, nef = caps.cpi, stem.cfg.nef
    n = len(train_meta)
    classes = np.asarray(caps.class_ids["train"])[:n]
    iters, batch = args.ceiling_iters, args.ceiling_batch
    sent_train, _ = caption_features(stem.text_encoder, [list(c) for c in caps.captions["train"][: n * cpi]])
    sent_test, _ = caption_features(stem.text_encoder, ts.all_ids)
    fixed = lambda idx, rng: sent_train[idx * cpi + rng.integers(cpi, size=len(idx))]  # noqa: E731
    vocab = attribute_vocabulary(train_meta)
    x_tr, x_te = attribute_onehot(train_meta, vocab), attribute_onehot(ts.meta, vocab)
    out = {"iterations": iters, "batch": min(batch, n), "train_images": n, "attribute_columns": len(vocab)}

    # truth, frozen STEM
    head = TruthHead(len(vocab), nef)
    loss = fit(lambda idx: head(x_tr[idx]), head.parameters(), fixed, classes, n, iters, batch, 1e-3, args.seed)
    _eval_mode(head)
    with torch.no_grad():
        out["truth_frozen_stem"] = {**_r_precision(head(x_te), sent_test, ts, args.seed), "last_loss": loss}
    log(f"part 7: true attributes, frozen STEM: R-precision {out['truth_frozen_stem']['mean']:.4f}")

    # truth, STEM trained jointly (a copy; the diagnosed encoder is left as it is)
    enc = copy.deepcopy(stem.text_encoder).train()
    head = TruthHead(len(vocab), nef)
    sampler = D.CaptionSampler(caps, "train", stem.cfg.words_num, seed=args.seed)

    def joint(idx, rng):
        c, lens, _ = sampler(idx)
        c, lens, _ = D.trim(c, lens)
        return enc(c, lens)[1]

    loss = fit(lambda idx: head(x_tr[idx]), list(head.parameters()) + list(enc.parameters()), joint, classes, n,
               iters, batch, 1e-3, args.seed, clip=list(enc.parameters()))
    _eval_mode(head, enc)
    with torch.no_grad():
        sent_joint, _ = caption_features(enc, ts.all_ids)
        out["truth_joint_stem"] = {**_r_precision(head(x_te), sent_joint, ts, args.seed), "last_loss": loss}
    log(f"part 7: true attributes, STEM trained too: R-precision {out['truth_joint_stem']['mean']:.4f}")

    # heads over the frozen Lite0 features, frozen STEM
    if lite0 is None or "train" not in lite0 or "test" not in lite0:
        out["feature_heads_skipped"] = "lite0_features.pt (train and test) is missing"
    else:
        nf = min(n, lite0["train"]["global"].shape[0])
        loc, glo = lite0["train"]["local"][:nf], lite0["train"]["global"][:nf]
        tl, tg = lite0["test"]["local"][: ts.n].float(), lite0["test"]["global"][: ts.n].float()
        out["feature_heads"] = {}
        cl, cg = loc.shape[1], glo.shape[1]
        # the runtime's two code heads (models.CNN_ENCODER, as shipped) and a diagnosis-only MLP
        for name, head, lr in (("global_linear", CNN_ENCODER(nef, cl, cg), 2e-3),
                               ("global_mlp", GlobalMLP(nef, cg), 2e-4),
                               ("local_conv", CNN_ENCODER(nef, cl, cg, code_head="local_conv"), 2e-4)):
            t1 = time.time()
            head.train()
            params = code_parameters(head)
            loss = fit(lambda idx: head.code(loc[idx].float(), glo[idx].float()), params, fixed, classes[:nf],
                       nf, iters, batch, lr, args.seed)
            _eval_mode(head)
            with torch.no_grad():
                codes = torch.cat([head.code(tl[s : s + 100], tg[s : s + 100]) for s in range(0, ts.n, 100)])
            out["feature_heads"][name] = {**_r_precision(codes, sent_test, ts, args.seed), "last_loss": loss,
                                          "parameters": sum(p.numel() for p in params),
                                          "seconds": time.time() - t1}
            log(f"part 7: {name} head over frozen Lite0 features: R-precision "
                f"{out['feature_heads'][name]['mean']:.4f} ({time.time() - t1:.0f}s)")
    out["seconds"] = time.time() - t0
    return out
