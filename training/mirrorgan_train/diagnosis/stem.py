"""The text encoder under diagnosis (from a run's stem.pt or a model directory) and caption features."""
from __future__ import annotations

import json
import os
from types import SimpleNamespace

import torch

from . import log


# ==================================================================================================
# Text encoder and caption features
# ==================================================================================================
def masked_word_pool(words: torch.Tensor, lens: torch.Tensor) -> torch.Tensor:
    """words [B, D, T], lens [B] -> [B, 2D]: mean and max over each caption's first lens[b] words."""
    t = words.shape[2]
    valid = (torch.arange(t).unsqueeze(0) < lens.unsqueeze(1)).unsqueeze(1)  # [B,1,T]
    cnt = valid.sum(2).clamp_min(1)
    mean = (words * valid).sum(2) / cnt
    mx = words.masked_fill(~valid, -float("inf")).amax(2)
    mx = torch.where(torch.isfinite(mx), mx, torch.zeros_like(mx))
    return torch.cat([mean, mx], 1)


@torch.no_grad()
def caption_features(enc, id_lists, batch=1000):
    """-> (sentence [N, nef], pooled words [N, 2 nef]) of whole captions (as the serving path encodes them)."""
    from ..evaluation.data import pad_ids

    sents, words = [], []
    enc.eval()
    for s in range(0, len(id_lists), batch):
        caps, lens = pad_ids([list(x) if len(x) else [0] for x in id_lists[s : s + batch]])
        w, se = enc(caps, lens)
        sents.append(se)
        words.append(masked_word_pool(w, lens))
    return torch.cat(sents), torch.cat(words)


def load_run_config(run):
    from ..models import ModelConfig

    path = os.path.join(run, "config.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return ModelConfig(**json.load(f))


def load_run_stem(run):
    """(text encoder, image encoder, cfg) from run/stem.pt built as train.load_frozen_text_encoder, or None."""
    from ..models import CNN_ENCODER, RNN_ENCODER

    path = os.path.join(run, "stem.pt") if run else ""
    cfg = load_run_config(run) if run else None
    if not run or not os.path.exists(path) or cfg is None:
        return None
    st = torch.load(path, map_location="cpu")
    enc = RNN_ENCODER(cfg.n_words, cfg.embedding_dim, nhidden=cfg.nef)
    enc.load_state_dict(st["text_encoder"])
    img = CNN_ENCODER(cfg.nef, code_head=cfg.image_code_head, width=cfg.image_code_width)
    if "image_encoder" in st:
        img.load_state_dict(st["image_encoder"])
    else:
        img = None
    for m in (enc, img):
        if m is not None:
            m.eval()
    return SimpleNamespace(text_encoder=enc, image_encoder=img, cfg=cfg, backbone=None,
                           source=f"run {os.path.abspath(run)} (stem.pt, iteration {st.get('it')})")


def load_weights_stem(weights):
    from ..pipeline import ReferenceModel

    m = ReferenceModel(weights)
    return SimpleNamespace(text_encoder=m.text_encoder, image_encoder=m.image_encoder, cfg=m.cfg, backbone=m.backbone,
                           source=f"model directory {os.path.abspath(weights)}")


def choose_stem(args):
    """The text encoder (and DAMSM image heads) to diagnose, by --text-encoder."""
    want = args.text_encoder
    if want == "auto":
        want = "weights" if args.weights else "run"
    if want == "weights":
        if not args.weights or not os.path.exists(os.path.join(args.weights, "model.json")):
            log(f"no model directory at {args.weights}: no text encoder from --weights")
            return None
        return load_weights_stem(args.weights)
    stem = load_run_stem(args.run)
    if stem is None:
        log(f"no {os.path.join(args.run or '?', 'stem.pt')} with config.json: no text encoder from --run")
    return stem
