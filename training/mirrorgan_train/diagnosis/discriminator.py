"""Part 5 of the diagnosis: does D's conditional head prefer an image's own caption?"""
from __future__ import annotations

import os

import torch

from .. import data as D
from . import log
from .stem import caption_features


# ==================================================================================================
# Part 5: discriminator matching
# ==================================================================================================
@torch.no_grad()
def d_matching(netD, imgs, sent_match, sent_wrong, batch=8, mode="eval") -> dict:
    """Share of images whose COND_DNET score with their own caption exceeds the score with a mismatched one.
    mode 'eval': BatchNorm running statistics; 'batch': batch statistics of `batch` images, the image codes
    computed once per batch and each conditioning in its own call (as discriminator_loss does)."""
    import copy

    net = copy.deepcopy(netD)
    net.train(mode == "batch")
    m, w, u = [], [], []
    n = imgs.shape[0]
    step = batch if mode == "batch" else 64
    for s in range(0, n, step):
        e = min(n, s + step)
        if mode == "batch" and e - s < 2:
            break
        h = net(imgs[s:e])
        m.append(net.COND_DNET(h, sent_match[s:e]))
        w.append(net.COND_DNET(h, sent_wrong[s:e]))
        u.append(net.UNCOND_DNET(h))
    m, w, u = torch.cat(m), torch.cat(w), torch.cat(u)
    return {"share_matched_gt_mismatched": float((m > w).float().mean()), "mean_matched": float(m.mean()),
            "mean_mismatched": float(w.mean()), "mean_unconditional_real": float(u.mean()), "n": int(m.numel())}


def part_discriminator(args, ts, run_stem) -> dict:
    from ..models import make_discriminators

    path = os.path.join(args.run, "gan.pt")
    st = torch.load(path, map_location="cpu")
    cfg = run_stem.cfg
    if st.get("config"):
        from ..models import ModelConfig

        cfg = ModelConfig(**st["config"])
    nets = make_discriminators(cfg)
    for d, sd in zip(nets, st["D"]):
        d.load_state_dict(sd)
    trained = int(st.get("stages", len(st["D"])))
    n = min(args.d_images, ts.n)
    flat_true = [i * ts.cpi + ts.k[i] for i in range(n)]
    flat_wrong = [int(ts.candidates[i][0]) for i in range(n)]  # a caption of another test image of another class
    sent_true, _ = caption_features(run_stem.text_encoder, [ts.all_ids[j] for j in flat_true])
    sent_wrong, _ = caption_features(run_stem.text_encoder, [ts.all_ids[j] for j in flat_wrong])
    x256 = D.to_unit(ts.real_uint8(0, n))
    pyr = D.pyramid(x256)
    res = {"checkpoint": os.path.abspath(path), "it": st.get("it"), "trained_stages": trained, "images": n,
           "mismatched": "the first R-precision distractor of image i (a caption of a test image of another class)",
           "stages": {}}
    for s in range(min(trained, len(nets))):
        size = 64 * 2 ** s
        r = {"size": size}
        for mode in ("eval", "batch"):
            r[mode] = d_matching(nets[s], pyr[s], sent_true, sent_wrong, mode=mode)
        res["stages"][str(s + 1)] = r
        log(f"  D stage {s + 1} ({size}px): matched > mismatched {r['eval']['share_matched_gt_mismatched']:.3f} "
            f"(BN eval), {r['batch']['share_matched_gt_mismatched']:.3f} (BN batch of 8)")
    return res
