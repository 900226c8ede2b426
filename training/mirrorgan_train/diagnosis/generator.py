"""Part 6 of the diagnosis: the generator's 64x64 attribute recall over its training snapshots."""
from __future__ import annotations

import glob
import os
import re
import time

import numpy as np
import torch
import torch.nn.functional as F

from .. import data as D
from ..attributes_classifier import classifier_features
from . import log


# ==================================================================================================
# Part 6: generator attribute recall over snapshots
# ==================================================================================================
def snapshot_list(run, max_snapshots):
    paths = glob.glob(os.path.join(run, "snapshots", "g_it*.pt"))
    key = lambda p: int(re.findall(r"g_it(\d+)", os.path.basename(p))[0])  # noqa: E731
    paths = sorted(paths, key=key)
    if max_snapshots and len(paths) > max_snapshots:
        keep = np.unique(np.linspace(0, len(paths) - 1, max_snapshots).round().astype(int))
        paths = [paths[k] for k in keep]
    return paths


@torch.no_grad()
def classify_images(imgs_256, backbone, clf, batch=25):
    feats = []
    for s in range(0, imgs_256.shape[0], batch):
        l, g = backbone(imgs_256[s : s + batch])
        feats.append(classifier_features(l, g, clf.pool))
    return clf.predict(torch.cat(feats))


def up256(x):
    return F.interpolate(x, size=(256, 256), mode="bilinear", align_corners=False)


def part_generator(args, ts, run_stem, lite0) -> dict:
    from ..evaluation.data import pad_ids
    from ..evaluation.features import train_classifier
    from ..evaluation.metrics import attribute_round_trip
    from ..evaluation.progress import Eta
    from ..models import G_NET, Backbone, ModelConfig

    snaps = snapshot_list(args.run, args.max_snapshots)
    gan = os.path.join(args.run, "gan.pt")
    entries = [(p, None) for p in snaps]
    if os.path.exists(gan):
        entries.append((gan, "gan.pt"))
    if not entries:
        return {"skipped": f"no {os.path.join(args.run, 'snapshots', 'g_it*.pt')} and no gan.pt"}
    n = min(args.g_images, ts.n)
    backbone = Backbone(pretrained=True).eval()
    clf, train_meta = train_classifier(args.data, args.classifier_train, backbone, lite0, Eta(), 16, args.seed)
    majority = clf.majority(train_meta)
    named = ts.named[:n]
    res = {"images": n, "classifier_train": len(train_meta), "snapshots": []}
    # ceilings: real test images at 256 and at 64 (downsampled as the GAN's real pyramid, upsampled back)
    t0 = time.time()
    real64 = []
    real256 = []
    for s in range(0, n, 50):
        x = D.to_unit(ts.real_uint8(s, min(n, s + 50)))
        real64.append(up256(D.pyramid(x, sizes=(64,))[0]))
        real256.append(x)
    res["real_256"] = attribute_round_trip(classify_images(torch.cat(real256), backbone, clf), named)
    res["real_64"] = attribute_round_trip(classify_images(torch.cat(real64), backbone, clf), named)
    del real64, real256
    res["baseline_majority"] = attribute_round_trip([majority] * n, named)["overall"]
    log(f"  classifier recall of named pairs: real 256 {res['real_256']['overall']:.3f}, real 64 "
        f"{res['real_64']['overall']:.3f} (colour {res['real_64']['color']:.3f}), majority "
        f"{res['baseline_majority']:.3f} ({time.time() - t0:.0f}s)")
    caps, lens = pad_ids([x if x else [0] for x in ts.ids[:n]])
    words, sent = run_stem.text_encoder(caps, lens)
    mask = torch.arange(words.shape[2]).unsqueeze(0) >= lens.unsqueeze(1)
    for path, label in entries:
        t0 = time.time()
        st = torch.load(path, map_location="cpu")
        cfg = ModelConfig(**st["config"]) if st.get("config") else run_stem.cfg
        G = G_NET(cfg)
        G.load_state_dict(st["G"], strict=False)
        G.eval()
        z = torch.randn(n, cfg.z_dim, generator=torch.Generator().manual_seed(args.seed))
        eps = torch.zeros(n, cfg.condition_dim)
        imgs = []
        with torch.no_grad():
            for s in range(0, n, 50):
                e = min(n, s + 50)
                fakes, _, _, _, _ = G(z[s:e], sent[s:e], words[s:e], mask[s:e], eps=eps[s:e], stages=1)
                imgs.append(up256(fakes[0]))
        rt = attribute_round_trip(classify_images(torch.cat(imgs), backbone, clf), named)
        row = {"path": os.path.abspath(path), "label": label or os.path.basename(path), "it": st.get("it"),
               "stages": st.get("stages"), "recall": rt["overall"], "color": rt["color"],
               "plumage_color": rt["plumage_color"], "per_attribute": rt["per_attribute"]}
        res["snapshots"].append(row)
        log(f"  G {row['label']} (it {row['it']}): named-pair recall {rt['overall']:.3f} (colour {rt['color']:.3f}) "
            f"({time.time() - t0:.0f}s)")
    # in training order (gan.pt after a snapshot of the same iteration); the link uses the last row
    res["snapshots"].sort(key=lambda r: (r["it"] if r["it"] is not None else -1, r["label"] == "gan.pt"))
    return res
