"""Batched calls of a ReferenceModel's modules that give the serving path's numbers: sentence features, DAMSM codes,
generation with rng.noise(seed), the PNG mapping, greedy redescription; the backbone digest that keys caches."""
from __future__ import annotations

import hashlib

import torch

from ..rng import noise
from .data import pad_ids


@torch.no_grad()
def sentence_features(model, id_lists, batch=500):
    """[N, nef] sentence features of whole captions, on the text encoder's device."""
    dev = next(model.text_encoder.parameters()).device
    out = []
    for s in range(0, len(id_lists), batch):
        caps, lens = pad_ids([x if x else [0] for x in id_lists[s : s + batch]])
        out.append(model.text_encoder(caps.to(dev), lens)[1])
    return torch.cat(out)


@torch.no_grad()
def damsm_codes(image_encoder, local, glob, batch=100):
    """DAMSM global image codes [N, nef] (CNN_ENCODER.code) of backbone features: the local map (any float dtype; the
    linear head ignores it) and the global feature, in batches."""
    return torch.cat([image_encoder.code(local[s : s + batch].float(), glob[s : s + batch].float())
                      for s in range(0, glob.shape[0], batch)])


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
