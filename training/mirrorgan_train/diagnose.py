"""Diagnose each link of the text-to-image chain (caption -> STEM -> DAMSM / D / G -> image attributes).

  cd training && OMP_WAIT_POLICY=PASSIVE .venv/bin/python -m mirrorgan_train.diagnose --data ../data/synthbirds \\
      --run ../runs/default [--weights ../Weights/synthbirds] [--text-encoder auto|run|weights] \\
      --out ../docs/eval/diagnosis [--parts 1,2,3,4,5,6] [--threads 1]

Writes <out>/diagnosis.json and <out>/diagnosis.md (markdown tables) and prints the tables. Each part is skipped,
with a message, when its input is missing:

1. Text probes: multinomial logistic-regression probes (standardised features, full-batch L-BFGS, L2 penalty
   chosen per attribute on a held-out fifth of the training captions) read each attribute back from the STEM
   feature of a caption that NAMES it (meta "named"): (a) the sentence feature, (b) mean and max of the word
   features over the caption's words. Trained on --probe-train train captions, tested on all test captions;
   beside the majority class of the training captions.
2. Attribute-oracle R-precision ceiling on exactly the evaluation's 500 images and candidates
   (evaluate.TestSet): a reader that knows image i's true attributes and the (attribute, value) pairs each
   candidate caption names; a candidate is consistent when all its pairs are true of image i; choosing uniformly
   among consistent candidates gives top-1 = 1 / #consistent. Also a colour-only reader, and a perfect reader
   that ranks the consistent candidates by likelihood ratio (sum of -log p(value) over the named pairs, p the
   values' frequency over train images): a caption naming more or rarer true pairs is the likelier one.
3. Image probes: the same probes over the frozen Lite0 features (lite0_features.pt) of the train renders, tested
   on the test renders: (a) global 1280-d, (b) global + the local map average-pooled to 4x4. Then the "probe
   reader": R-precision on the evaluation's candidates when each caption is scored by
   sum over its named pairs of log p_probe(value | image) - log p(value): what a reader of the frozen features
   that knows the attribute grammar reaches.
4. DAMSM real-image R-precision of the STEM (text encoder + image heads) on the evaluation's images and
   candidates (evaluate.r_precision_hits), and its ratios to the oracles and to the global-feature probe reader.
5. Discriminator matching (run/gan.pt): for real test images (64/128/256 pyramid), COND_DNET score with the
   image's own caption vs a caption of another class (the first R-precision distractor); share matched >
   mismatched, with BatchNorm on running statistics (eval) and on batch statistics of 8 (as in training).
6. Generator attribute recall over training (run/snapshots/g_it*.pt and run/gan.pt): 64^2 images for the
   evaluation captions (fixed z, eps = 0), upsampled to 256, classified by evaluate.train_classifier's
   attribute classifier; recall of the named pairs (evaluate.attribute_round_trip), beside real test images
   downsampled to 64 and upsampled back (the 64^2 ceiling).

"weakest link": each measured link gets a score (0 = chance, 1 = its ceiling): text probe (sentence feature,
accuracy over all named test pairs vs the majority class; attributes named with one value only left out),
DAMSM (R-precision, chance 1 %, ceiling the better of the uniform and likelihood-ratio oracles),
D matching (chance 0.5, ceiling 1), G recall (chance: majority values, ceiling: real 64^2 images); the lowest
score is named.
"""
from __future__ import annotations

import argparse
import glob
import json
import os
import re
import sys
import time
from types import SimpleNamespace

import numpy as np
import torch
import torch.nn.functional as F

from . import data as D
from .attributes_classifier import (COLOR_ATTRIBUTES, PLUMAGE_COLOR_ATTRIBUTES, classifier_features, load_meta,
                                    norm_value)
from .synthbirds.attributes import ATTRIBUTE_KEYS

PROBE_WDS = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1)
CLASSIFIER_POOL = 4
R_CANDIDATES = 100


def log(msg):
    print(msg, flush=True)


# ==================================================================================================
# Linear probes
# ==================================================================================================
def standardise(train: torch.Tensor, *others: torch.Tensor):
    mean = train.mean(0)
    std = train.std(0).clamp_min(1e-4)
    return [(x - mean) / std for x in (train, *others)]


def fit_probe(x: torch.Tensor, y: torch.Tensor, n_classes: int, wd: float, iters: int = 100, init=None):
    """Multinomial logistic regression, mean cross-entropy + wd * ||W||^2, full-batch L-BFGS from zero (or from
    init = (W, b)). x: standardised float [n, d], y: long [n]. Returns (W [d, C], b [C])."""
    if init is None:
        W = torch.zeros(x.shape[1], n_classes, requires_grad=True)
        b = torch.zeros(n_classes, requires_grad=True)
    else:
        W, b = init[0].clone().requires_grad_(True), init[1].clone().requires_grad_(True)
    opt = torch.optim.LBFGS([W, b], lr=1.0, max_iter=iters, history_size=20, tolerance_grad=1e-6,
                            tolerance_change=1e-9, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(x @ W + b, y) + wd * W.pow(2).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    return W.detach(), b.detach()


def probe_attribute(x_train: torch.Tensor, labels_train: list[str], x_test: torch.Tensor, labels_test: list[str],
                    wds=PROBE_WDS, iters: int = 100, seed: int = 0) -> dict:
    """One attribute: choose the L2 penalty on a held-out fifth of the training rows, refit on all of them and
    report test accuracy (test values never seen in training count as errors) and the majority-class baseline.
    x_* must already be standardised."""
    classes = sorted(set(labels_train))
    index = {c: k for k, c in enumerate(classes)}
    y = torch.tensor([index[v] for v in labels_train], dtype=torch.long)
    maj = max(classes, key=labels_train.count)
    out = {"n_train": len(labels_train), "n_test": len(labels_test), "classes": len(classes), "majority_value": maj,
           "majority": float(np.mean([v == maj for v in labels_test])) if labels_test else float("nan")}
    # kept for the probe reader (part 3): class list, training frequencies, test log-probabilities
    out["_classes"] = classes
    out["_prior"] = {c: labels_train.count(c) / len(labels_train) for c in classes}
    if len(classes) < 2 or not labels_test:
        out.update(accuracy=out["majority"], wd=None, _test_logp=torch.zeros(len(labels_test), len(classes)))
        return out
    wd = wds[0]
    if len(wds) > 1 and len(labels_train) >= 20:
        perm = torch.randperm(len(labels_train), generator=torch.Generator().manual_seed(seed))
        nv = max(1, len(perm) // 5)
        va, tr = perm[:nv], perm[nv:]
        best, init, best_init = -1.0, None, None
        for w in sorted(wds, reverse=True):  # strongest penalty first, each fit warm-started from the previous
            init = fit_probe(x_train[tr], y[tr], len(classes), w, iters, init)
            acc = ((x_train[va] @ init[0] + init[1]).argmax(1) == y[va]).float().mean().item()
            if acc > best + 1e-9:  # ties keep the stronger penalty
                best, wd, best_init = acc, w, init
        out["val_accuracy"] = best
        W, b = fit_probe(x_train, y, len(classes), wd, iters, best_init)
    else:
        W, b = fit_probe(x_train, y, len(classes), wd, iters)
    logits = x_test @ W + b
    out["_test_logp"] = F.log_softmax(logits, 1)
    pred = logits.argmax(1).tolist()
    out["accuracy"] = float(np.mean([classes[p] == v for p, v in zip(pred, labels_test)]))
    out["train_accuracy"] = float(((x_train @ W + b).argmax(1) == y).float().mean().item())
    out["wd"] = wd
    return out


def probe_all(x_train, rows_train, x_test, rows_test, attrs=ATTRIBUTE_KEYS, wds=PROBE_WDS, iters=100, seed=0,
              tag="", keep=False) -> dict:
    """rows_*: per row a dict {attribute: value} of the labels that row has (a caption: the attributes it names;
    an image: all of them). One probe per attribute over the rows that carry it. keep: leave the '_' entries
    (classes, training frequencies, log-probabilities of the test rows that carry the attribute)."""
    xs_train, xs_test = standardise(x_train, x_test)
    res = {}
    for a in attrs:
        tr = [r for r, d in enumerate(rows_train) if a in d]
        te = [r for r, d in enumerate(rows_test) if a in d]
        if not tr or not te:
            continue
        t0 = time.time()
        res[a] = probe_attribute(xs_train[tr], [rows_train[r][a] for r in tr], xs_test[te],
                                 [rows_test[r][a] for r in te], wds, iters, seed)
        if not keep:
            res[a] = {k: v for k, v in res[a].items() if not k.startswith("_")}
        log(f"  probe {tag} {a}: {res[a]['accuracy']:.3f} (majority {res[a]['majority']:.3f}, n {len(tr)}/{len(te)}, "
            f"{time.time() - t0:.1f}s)")
    return res


def summarise_probes(res: dict) -> dict:
    """Means over attributes and the pooled (example-weighted) accuracy against the pooled majority baseline,
    over the attributes with at least two values in training (captions name some attributes with one value
    only, e.g. wing_pattern = wingbars: nothing to read there)."""
    single = sorted(a for a, r in res.items() if r["classes"] < 2)
    res = {a: r for a, r in res.items() if r["classes"] >= 2}
    if not res:
        return {}
    n = sum(r["n_test"] for r in res.values())
    pooled = sum(r["accuracy"] * r["n_test"] for r in res.values()) / max(n, 1)
    pooled_maj = sum(r["majority"] * r["n_test"] for r in res.values()) / max(n, 1)
    mean = lambda keys: float(np.mean([res[a]["accuracy"] for a in keys])) if keys else float("nan")  # noqa: E731
    col = [a for a in res if a in COLOR_ATTRIBUTES]
    plum = [a for a in res if a in PLUMAGE_COLOR_ATTRIBUTES]
    return {"mean": mean(list(res)), "color_mean": mean(col), "plumage_color_mean": mean(plum),
            "majority_mean": float(np.mean([r["majority"] for r in res.values()])),
            "pooled": pooled, "pooled_majority": pooled_maj, "n_test": n,
            "score": (pooled - pooled_maj) / max(1e-9, 1 - pooled_maj), "single_value_excluded": single}


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
    from .evaluate import pad_ids

    sents, words = [], []
    enc.eval()
    for s in range(0, len(id_lists), batch):
        caps, lens = pad_ids([list(x) if len(x) else [0] for x in id_lists[s : s + batch]])
        w, se = enc(caps, lens)
        sents.append(se)
        words.append(masked_word_pool(w, lens))
    return torch.cat(sents), torch.cat(words)


def load_run_config(run):
    from .models import ModelConfig

    path = os.path.join(run, "config.json")
    if not os.path.exists(path):
        return None
    with open(path) as f:
        return ModelConfig(**json.load(f))


def load_run_stem(run):
    """(text encoder, image encoder, cfg) from run/stem.pt built as train.load_frozen_text_encoder, or None."""
    from .models import CNN_ENCODER, RNN_ENCODER

    path = os.path.join(run, "stem.pt") if run else ""
    cfg = load_run_config(run) if run else None
    if not run or not os.path.exists(path) or cfg is None:
        return None
    st = torch.load(path, map_location="cpu")
    enc = RNN_ENCODER(cfg.n_words, cfg.embedding_dim, nhidden=cfg.nef)
    enc.load_state_dict(st["text_encoder"])
    img = CNN_ENCODER(cfg.nef)
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
    from .pipeline import ReferenceModel

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


# ==================================================================================================
# Part 2: attribute oracle
# ==================================================================================================
def consistent(named, attrs: dict, only=None) -> bool:
    """All (attribute, value) pairs the caption names hold for the image (attrs: ground truth, raw meta values).
    only: restrict to these attributes (the others are invisible to the reader and never rule a caption out)."""
    return all(norm_value(attrs[a]) == norm_value(v) for a, v in named if only is None or a in only)


def oracle_counts(true_attrs: list[dict], candidate_named: list[list[list]], only=None) -> np.ndarray:
    """candidate_named[i]: the named pairs of image i's candidates, the true caption first.
    Returns the number of consistent candidates per image (the true caption included)."""
    out = np.zeros(len(true_attrs), dtype=np.int64)
    for i, (attrs, cands) in enumerate(zip(true_attrs, candidate_named)):
        out[i] = 1 + sum(int(consistent(n, attrs, only)) for n in cands[1:])
    return out


def oracle_lr_expected(true_attrs: list[dict], candidate_named: list[list[list]], prior: dict,
                       floor: float = 1e-6) -> np.ndarray:
    """A perfect attribute reader that ranks the consistent candidates by their likelihood ratio, i.e. by
    sum over the named pairs of -log p(value) (p: the values' frequency over images): a consistent caption that
    names more, or rarer, true pairs is the likelier one. Expected top-1 per image: 0 if a distractor scores
    higher than the true caption, else 1 / (1 + distractors tied with it)."""
    out = np.zeros(len(true_attrs))
    for i, (attrs, cands) in enumerate(zip(true_attrs, candidate_named)):
        scores = []
        for named in cands:
            if not consistent(named, attrs):
                scores.append(-np.inf)
                continue
            scores.append(sum(-np.log(max(prior.get(a, {}).get(norm_value(v), 0.0), floor)) for a, v in named))
        s0 = scores[0]
        if any(x > s0 + 1e-9 for x in scores[1:]):
            continue
        out[i] = 1.0 / (1 + sum(abs(x - s0) <= 1e-9 for x in scores[1:]))
    return out


def value_frequencies(metas: list[dict]) -> dict:
    """{attribute: {normalised value: share of images}}."""
    out = {}
    for a in ATTRIBUTE_KEYS:
        vals = [norm_value(m["attributes"][a]) for m in metas]
        out[a] = {v: vals.count(v) / len(vals) for v in set(vals)}
    return out


def oracle_summary(counts: np.ndarray, seed=0) -> dict:
    from .evaluate import fold_stats

    exp_hits = 1.0 / np.maximum(counts, 1)
    fs = fold_stats(exp_hits, seed=seed)
    return {"expected_top1": float(exp_hits.mean()), "folds": {"mean": fs["mean"], "std": fs["std"], "n": fs["n"]},
            "share_with_consistent_distractor": float(np.mean(counts > 1)),
            "mean_consistent_candidates": float(counts.mean()), "max_consistent_candidates": int(counts.max())}


def part_oracle(ts, test_meta, seed=0, prior=None) -> dict:
    cpi = ts.cpi
    true_attrs = [test_meta[i]["attributes"] for i in range(ts.n)]
    cand_named = []
    true_inconsistent = 0
    for i in range(ts.n):
        flat = [i * cpi + ts.k[i]] + [int(j) for j in ts.candidates[i]]
        named = [test_meta[j // cpi]["captions"][j % cpi]["named"] for j in flat]
        true_inconsistent += int(not consistent(named[0], true_attrs[i]))
        cand_named.append(named)
    res = {"images": ts.n, "candidates": R_CANDIDATES, "true_caption_inconsistent": true_inconsistent,
           "all_attributes": oracle_summary(oracle_counts(true_attrs, cand_named), seed),
           "colour_only": oracle_summary(oracle_counts(true_attrs, cand_named, only=set(COLOR_ATTRIBUTES)), seed),
           "chance": 1.0 / R_CANDIDATES}
    if prior is not None:
        from .evaluate import fold_stats

        lr = oracle_lr_expected(true_attrs, cand_named, prior)
        fs = fold_stats(lr, seed=seed)
        res["likelihood_ratio"] = {"expected_top1": float(lr.mean()), "folds": {"mean": fs["mean"], "std": fs["std"],
                                                                                 "n": fs["n"]},
                                   "prior": "value frequencies over the train images"}
    return res


def probe_reader_scores(logp: dict, classes: dict, prior: dict, image: int, named_lists, floor=1e-6):
    """Bayes score of each candidate caption for one image under independent attribute probes:
    sum over its named pairs of log p(value | image) - log p(value) (the log-likelihood ratio of "this caption
    describes this image"; pairs of attributes without a probe add 0)."""
    out = []
    for named in named_lists:
        sc = 0.0
        for a, v in named:
            if a not in logp:
                continue
            v = norm_value(v)
            k = classes[a].index(v) if v in classes[a] else None
            lp = float(logp[a][image, k]) if k is not None else float(np.log(floor))
            sc += lp - float(np.log(max(prior[a].get(v, 0.0), floor)))
        out.append(sc)
    return out


def probe_reader_hits(probes: dict, ts, test_meta) -> np.ndarray:
    """R-precision hits (evaluate's images and candidates, strict top-1) of the probe reader; probes: probe_all
    output with keep=True over all test images in order."""
    logp = {a: r["_test_logp"] for a, r in probes.items()}
    classes = {a: r["_classes"] for a, r in probes.items()}
    prior = {a: r["_prior"] for a, r in probes.items()}
    cpi = ts.cpi
    hits = np.zeros(ts.n, dtype=np.int64)
    for i in range(ts.n):
        flat = [i * cpi + ts.k[i]] + [int(j) for j in ts.candidates[i]]
        sc = probe_reader_scores(logp, classes, prior, i, [test_meta[j // cpi]["captions"][j % cpi]["named"]
                                                           for j in flat])
        hits[i] = int(all(x < sc[0] for x in sc[1:]))
    return hits


def strip_private(res: dict) -> dict:
    return {a: {k: v for k, v in r.items() if not k.startswith("_")} for a, r in res.items()}


# ==================================================================================================
# Data helpers
# ==================================================================================================
def named_rows(metas, flat_indices, cpi):
    """Flat caption indices -> per caption {attribute: normalised value} of the pairs it names."""
    return [{a: norm_value(v) for a, v in metas[j // cpi]["captions"][j % cpi]["named"]} for j in flat_indices]


def image_rows(metas):
    return [{a: norm_value(m["attributes"][a]) for a in ATTRIBUTE_KEYS} for m in metas]


def lite0_split(lite0, split):
    if lite0 is None or lite0.get(split) is None:
        return None
    return lite0[split]


def pooled_features(split_cache, pool=CLASSIFIER_POOL, chunk=1000):
    n = split_cache["global"].shape[0]
    out = torch.empty(n, 1280 + 112 * pool * pool)
    for s in range(0, n, chunk):
        e = min(n, s + chunk)
        out[s:e] = classifier_features(split_cache["local"][s:e], split_cache["global"][s:e], pool)
    return out


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
    from .models import make_discriminators

    path = os.path.join(args.run, "gan.pt")
    st = torch.load(path, map_location="cpu")
    cfg = run_stem.cfg
    if st.get("config"):
        from .models import ModelConfig

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
    from .evaluate import Eta, attribute_round_trip, pad_ids, train_classifier
    from .models import G_NET, Backbone, ModelConfig

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


# ==================================================================================================
# Report
# ==================================================================================================
def pct(x, digits=1):
    return "—" if x is None or (isinstance(x, float) and not np.isfinite(x)) else f"{100 * x:.{digits}f} %"


def links(results) -> list[dict]:
    """The measured links with raw ratio and chance-normalised score."""
    out = []
    p1 = results.get("text_probes", {})
    if p1.get("sentence_summary"):
        s = p1["sentence_summary"]
        out.append({"link": "text probe (STEM sentence feature)", "value": s["pooled"], "chance": s["pooled_majority"],
                    "ceiling": 1.0, "ratio": s["pooled"], "score": s["score"]})
    p4 = results.get("damsm", {})
    p2 = results.get("oracle", {})
    if p4.get("r_precision") and p2.get("all_attributes"):
        # the ceiling: the better of the two perfect readers (uniform choice among the consistent candidates, and
        # likelihood-ratio ranking of them, which a reader of noisy probes already approaches)
        v = p4["r_precision"]["mean"]
        c = max(p2["all_attributes"]["expected_top1"], p2.get("likelihood_ratio", {}).get("expected_top1", 0.0))
        out.append({"link": "DAMSM vs oracle (real-image R-precision)", "value": v, "chance": 0.01, "ceiling": c,
                    "ratio": v / c, "score": (v - 0.01) / max(1e-9, c - 0.01)})
    p5 = results.get("discriminator", {})
    if p5.get("stages"):
        v = p5["stages"]["1"]["eval"]["share_matched_gt_mismatched"]
        out.append({"link": "D matching (stage 1, matched > mismatched)", "value": v, "chance": 0.5, "ceiling": 1.0,
                    "ratio": v, "score": (v - 0.5) / 0.5})
    p6 = results.get("generator", {})
    if p6.get("snapshots"):
        last = p6["snapshots"][-1]
        v, c, ch = last["recall"], p6["real_64"]["overall"], p6["baseline_majority"]
        out.append({"link": f"G recall vs real 64² ({last['label']})", "value": v, "chance": ch, "ceiling": c,
                    "ratio": v / max(c, 1e-9), "score": (v - ch) / max(1e-9, c - ch)})
    return out


def markdown(results) -> str:
    L = ["| link | measure | value | reference |", "|---|---|---:|---|"]
    p1 = results.get("text_probes", {})
    if p1.get("sentence_summary"):
        for kind, label in (("sentence", "sentence feature"), ("words", "word features (mean ‖ max)")):
            s = p1[f"{kind}_summary"]
            L.append(f"| 1. text probe | attribute read back from the {label}, named pairs of test captions | "
                     f"{pct(s['pooled'])} (colours {pct(s['color_mean'])}) | "
                     f"majority class {pct(s['pooled_majority'])} |")
    p2 = results.get("oracle", {})
    if p2.get("all_attributes"):
        a, c = p2["all_attributes"], p2["colour_only"]
        L.append(f"| 2. oracle | R-precision of a perfect attribute reader (top-1 of 100, expected) | "
                 f"{pct(a['expected_top1'])} ± {pct(a['folds']['std'])} | chance 1 %; "
                 f"{pct(a['share_with_consistent_distractor'])} of images have a consistent distractor |")
        L.append(f"| 2. oracle | the same, reader of colours only | {pct(c['expected_top1'])} | "
                 f"{pct(c['share_with_consistent_distractor'])} with a consistent distractor |")
        if p2.get("likelihood_ratio"):
            r = p2["likelihood_ratio"]
            L.append(f"| 2. oracle | perfect reader ranking the consistent candidates by likelihood ratio "
                     f"(Σ −log p(value) over the named pairs) | {pct(r['expected_top1'])} ± "
                     f"{pct(r['folds']['std'])} | uniform choice: {pct(a['expected_top1'])} |")
    p3 = results.get("image_probes", {})
    for kind, label in (("global", "global 1280"), ("global_local", "global + local 4×4")):
        s = p3.get(f"{kind}_summary")
        if s:
            L.append(f"| 3. image probe | attribute from frozen Lite0 {label} (test renders, all attributes) | "
                     f"{pct(s['mean'])} (colours {pct(s['color_mean'])}, plumage {pct(s['plumage_color_mean'])}) | "
                     f"majority {pct(s['majority_mean'])} |")
    for kind, label in (("global", "global 1280"), ("global_local", "global + local 4×4")):
        s = p3.get("reader", {}).get(kind)
        if s:
            oracle = (f"oracles: uniform {pct(p2.get('all_attributes', {}).get('expected_top1'))}, likelihood ratio "
                      f"{pct(p2.get('likelihood_ratio', {}).get('expected_top1'))}")
            L.append(f"| 3. probe reader | R-precision when captions are ranked by Σ log p(value \\| image) / p(value) "
                     f"of the {label} probes (top-1 of 100) | {pct(s['mean'])} ± {pct(s['std'])} | "
                     f"a reader of the frozen {label} features; {oracle} |")
    p4 = results.get("damsm", {})
    if p4.get("r_precision"):
        r = p4["r_precision"]
        ref = f"oracle {pct(p2['all_attributes']['expected_top1'])} → ratio {p4['ratio_to_oracle']:.2f}" \
            if p4.get("ratio_to_oracle") is not None else "chance 1 %"
        if p4.get("ratio_to_likelihood_ratio_oracle") is not None:
            ref += f"; likelihood-ratio oracle → ratio {p4['ratio_to_likelihood_ratio_oracle']:.2f}"
        if p4.get("ratio_to_global_probe_reader") is not None:
            ref += f"; probe reader (global) → ratio {p4['ratio_to_global_probe_reader']:.2f}"
        L.append(f"| 4. DAMSM | real-image R-precision (top-1 of 100) | {pct(r['mean'])} ± {pct(r['std'])} | {ref} |")
    p5 = results.get("discriminator", {})
    for s, r in sorted(p5.get("stages", {}).items()):
        L.append(f"| 5. D matching | stage {s} ({r['size']}px): real image scores own caption above a mismatched "
                 f"one | {pct(r['eval']['share_matched_gt_mismatched'])} (BN batch: "
                 f"{pct(r['batch']['share_matched_gt_mismatched'])}) | chance 50 % |")
    p6 = results.get("generator", {})
    if p6.get("snapshots"):
        for row in p6["snapshots"]:
            L.append(f"| 6. G recall | {row['label']} (it {row['it']}): named pairs the classifier finds in 64² "
                     f"images | {pct(row['recall'])} (colours {pct(row['color'])}) | real 64² "
                     f"{pct(p6['real_64']['overall'])} (colours {pct(p6['real_64']['color'])}), majority "
                     f"{pct(p6['baseline_majority'])} |")
    L.append("")
    lk = results.get("links", [])
    if lk:
        L += ["| link | value | chance | ceiling | value / ceiling | score (0 chance, 1 ceiling) |",
              "|---|---:|---:|---:|---:|---:|"]
        for r in lk:
            L.append(f"| {r['link']} | {pct(r['value'])} | {pct(r['chance'])} | {pct(r['ceiling'])} | "
                     f"{r['ratio']:.2f} | {r['score']:.2f} |")
        L.append("")
    L.append(f"weakest link: {results.get('weakest_link', 'not determined (no link measured)')}")
    L.append("")
    # per-attribute table
    t_s, t_w = p1.get("sentence", {}), p1.get("words", {})
    i_g, i_gl = p3.get("global", {}), p3.get("global_local", {})
    attrs = [a for a in ATTRIBUTE_KEYS if a in t_s or a in i_g or a in i_gl]
    if attrs:
        L += ["| attribute | test captions naming it | majority (captions) | text: sentence | text: words | "
              "majority (images) | image: global | image: global + local |", "|---|---:|---:|---:|---:|---:|---:|---:|"]
        for a in attrs:
            g = lambda d, k="accuracy": pct(d[a][k]) if a in d else "—"  # noqa: E731
            L.append(f"| {a} | {t_s[a]['n_test'] if a in t_s else 0} | {g(t_s, 'majority')} | {g(t_s)} | {g(t_w)} | "
                     f"{g(i_g, 'majority')} | {g(i_g)} | {g(i_gl)} |")
        L.append("")
        single = p1.get("sentence_summary", {}).get("single_value_excluded")
        if single:
            L.append(f"Captions name {', '.join(single)} with one value only; the text-probe summaries leave them out.")
            L.append("")
    for key, msg in results.get("skipped", {}).items():
        L.append(f"- part {key} skipped: {msg}")
    return "\n".join(L) + "\n"


# ==================================================================================================
# CLI
# ==================================================================================================
def main(argv=None):
    from . import evaluate as E

    p = argparse.ArgumentParser(prog="mirrorgan_train.diagnose", description=__doc__.split("\n")[0])
    p.add_argument("--data", default="../data/synthbirds")
    p.add_argument("--run", default="../runs/default")
    p.add_argument("--weights", default=None, help="a model directory (docs/MODEL_FORMAT.md)")
    p.add_argument("--text-encoder", dest="text_encoder", choices=("auto", "run", "weights"), default="auto",
                   help="STEM for parts 1 and 4: auto = --weights when given, else --run's stem.pt")
    p.add_argument("--out", default="../docs/eval/diagnosis")
    p.add_argument("--parts", default="1,2,3,4,5,6")
    p.add_argument("--images", type=int, default=500, help="evaluation images (evaluate.TestSet)")
    p.add_argument("--probe-train", dest="probe_train", type=int, default=20000, help="train captions for part 1")
    p.add_argument("--probe-iters", dest="probe_iters", type=int, default=100)
    p.add_argument("--probe-wds", dest="probe_wds", default=",".join(str(w) for w in PROBE_WDS))
    p.add_argument("--image-probe-train", dest="image_probe_train", type=int, default=0,
                   help="train renders for part 3 (0: all in lite0_features.pt)")
    p.add_argument("--d-images", dest="d_images", type=int, default=500)
    p.add_argument("--g-images", dest="g_images", type=int, default=500)
    p.add_argument("--max-snapshots", dest="max_snapshots", type=int, default=8)
    p.add_argument("--classifier-train", dest="classifier_train", type=int, default=5000)
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--reuse", default="",
                   help="a diagnosis.json whose results of parts not measured now are kept (e.g. part 3, the "
                        "frozen-feature probes, which do not depend on the trained model)")
    p.add_argument("--report-only", dest="report_only", action="store_true",
                   help="rewrite diagnosis.md (and the links) from <out>/diagnosis.json without measuring")
    args = p.parse_args(argv)
    if args.report_only:
        with open(os.path.join(args.out, "diagnosis.json")) as f:
            results = json.load(f)
        write_report(results, args.out)
        return results
    torch.set_num_threads(args.threads)
    parts = {int(x) for x in args.parts.split(",") if x.strip()}
    wds = tuple(float(w) for w in args.probe_wds.split(","))
    t_start = time.time()
    os.makedirs(args.out, exist_ok=True)
    results: dict = {"data": os.path.abspath(args.data), "run": os.path.abspath(args.run) if args.run else None,
                     "weights": os.path.abspath(args.weights) if args.weights else None, "skipped": {}}
    if args.reuse:  # keep the earlier file's measurements; the parts measured now overwrite theirs
        with open(args.reuse) as f:
            kept = json.load(f)
        for k in ("data", "run", "weights", "skipped", "links", "weakest_link", "runtime_s", "threads", "images",
                  "text_encoder"):
            kept.pop(k, None)
        results.update(kept)
        results["reused_from"] = os.path.abspath(args.reuse)

    def skip(part, msg):
        results["skipped"][str(part)] = msg
        log(f"part {part} skipped: {msg}")

    caps = D.CaptionSet(args.data)
    cpi = caps.cpi
    ts = E.TestSet(args.data, args.images, seed=args.seed)
    test_meta = load_meta(args.data, "test")
    lite0 = E.load_lite0_cache(args.data) if parts & {3, 4, 6} else None
    if lite0 is None and parts & {3, 4, 6}:
        log(f"no {os.path.join(args.data, 'lite0_features.pt')} (or unreadable)")
    stem = choose_stem(args) if parts & {1, 4} else None
    if stem is not None:
        results["text_encoder"] = stem.source
        log(f"text encoder: {stem.source}")
    sent_test = words_test = None

    # ---- 1. text probes
    if 1 in parts:
        if stem is None:
            skip(1, "no text encoder (--weights model directory or --run stem.pt + config.json)")
        else:
            t0 = time.time()
            train_meta = load_meta(args.data, "train")
            n_all = len(caps.captions["train"])
            rng = np.random.default_rng(args.seed)
            tr_idx = np.sort(rng.choice(n_all, min(args.probe_train, n_all), replace=False))
            rows_tr = named_rows(train_meta, tr_idx, cpi)
            rows_te = named_rows(test_meta, range(len(caps.captions["test"])), cpi)
            s_tr, w_tr = caption_features(stem.text_encoder, [caps.captions["train"][j] for j in tr_idx])
            sent_test, words_test = caption_features(stem.text_encoder, caps.captions["test"])
            log(f"part 1: STEM features of {len(tr_idx)} train and {len(rows_te)} test captions in "
                f"{time.time() - t0:.0f}s")
            r1 = {"train_captions": int(len(tr_idx)), "test_captions": len(rows_te), "wds": list(wds)}
            r1["sentence"] = probe_all(s_tr, rows_tr, sent_test, rows_te, wds=wds, iters=args.probe_iters,
                                       seed=args.seed, tag="sentence")
            r1["words"] = probe_all(w_tr, rows_tr, words_test, rows_te, wds=wds, iters=args.probe_iters,
                                    seed=args.seed, tag="words")
            r1["sentence_summary"] = summarise_probes(r1["sentence"])
            r1["words_summary"] = summarise_probes(r1["words"])
            r1["seconds"] = time.time() - t0
            results["text_probes"] = r1
            del train_meta

    # ---- 2. attribute oracle
    if 2 in parts:
        results["oracle"] = part_oracle(ts, test_meta, args.seed, value_frequencies(load_meta(args.data, "train")))
        o = results["oracle"]
        log(f"part 2: oracle top-1 {o['all_attributes']['expected_top1']:.4f} (colour-only "
            f"{o['colour_only']['expected_top1']:.4f}, likelihood-ratio {o['likelihood_ratio']['expected_top1']:.4f}); "
            f"images with a consistent distractor {o['all_attributes']['share_with_consistent_distractor']:.3f}")

    # ---- 3. image probes
    if 3 in parts:
        tr_c, te_c = lite0_split(lite0, "train"), lite0_split(lite0, "test")
        if tr_c is None or te_c is None:
            skip(3, "lite0_features.pt (train and test) is missing")
        else:
            t0 = time.time()
            n_tr = tr_c["global"].shape[0] if not args.image_probe_train else min(args.image_probe_train,
                                                                                   tr_c["global"].shape[0])
            n_te = te_c["global"].shape[0]
            rows_tr = image_rows(load_meta(args.data, "train", n_tr))
            rows_te = image_rows(test_meta[:n_te])
            r3 = {"train_images": n_tr, "test_images": n_te, "wds": list(wds)}
            g_tr, g_te = tr_c["global"][:n_tr].float(), te_c["global"].float()
            r3["global"] = probe_all(g_tr, rows_tr, g_te, rows_te, wds=wds, iters=args.probe_iters, seed=args.seed,
                                     tag="image global", keep=True)
            gl_tr = pooled_features({"local": tr_c["local"][:n_tr], "global": tr_c["global"][:n_tr]})
            gl_te = pooled_features(te_c)
            r3["global_local"] = probe_all(gl_tr, rows_tr, gl_te, rows_te, wds=wds, iters=args.probe_iters,
                                           seed=args.seed, tag="image global+local", keep=True)
            del gl_tr, gl_te
            # the probe reader: R-precision when the captions are ranked by what the probes read in the image
            r3["reader"] = {}
            if n_te >= ts.n:
                for kind in ("global", "global_local"):
                    hits = probe_reader_hits(r3[kind], ts, test_meta)
                    fs = E.fold_stats(hits, seed=args.seed)
                    r3["reader"][kind] = {k: fs[k] for k in ("mean", "std", "n")}
                    log(f"part 3: probe reader ({kind}) R-precision {fs['mean']:.4f} ± {fs['std']:.4f}")
            r3["global"], r3["global_local"] = strip_private(r3["global"]), strip_private(r3["global_local"])
            r3["global_summary"] = summarise_probes(r3["global"])
            r3["global_local_summary"] = summarise_probes(r3["global_local"])
            r3["seconds"] = time.time() - t0
            results["image_probes"] = r3

    # ---- 4. DAMSM real-image R-precision
    if 4 in parts:
        if stem is None or stem.image_encoder is None:
            skip(4, "no STEM with image heads (--weights, or --run stem.pt with image_encoder)")
        else:
            from .models import Backbone

            t0 = time.time()
            bb = stem.backbone if stem.backbone is not None else Backbone(pretrained=True).eval()
            real = E.RealFeatures(ts)
            feats = real.backbone_features(bb, E.state_digest(bb), E.Eta(), 16, lite0)
            with torch.no_grad():
                codes = stem.image_encoder.emb_cnn_code(feats["global"])
            if sent_test is None:
                sent_test, _ = caption_features(stem.text_encoder, ts.all_ids)
            hits = E.r_precision_hits(codes, sent_test, ts)
            rp = E.fold_stats(hits, seed=args.seed)
            r4 = {"r_precision": {k: rp[k] for k in ("mean", "std", "folds", "n")}, "hits": int(hits.sum()),
                  "images": ts.n, "seconds": time.time() - t0}
            if "oracle" in results:
                r4["ratio_to_oracle"] = rp["mean"] / results["oracle"]["all_attributes"]["expected_top1"]
            lro = results.get("oracle", {}).get("likelihood_ratio")
            if lro and lro["expected_top1"] > 0:
                r4["ratio_to_likelihood_ratio_oracle"] = rp["mean"] / lro["expected_top1"]
            reader = results.get("image_probes", {}).get("reader", {}).get("global")
            if reader and reader["mean"] > 0:
                r4["ratio_to_global_probe_reader"] = rp["mean"] / reader["mean"]
            results["damsm"] = r4
            log(f"part 4: DAMSM real-image R-precision {rp['mean']:.4f} ± {rp['std']:.4f} ({int(hits.sum())} hits)")

    # ---- 5 and 6 need the run's own STEM (the text features the GAN was trained with)
    run_stem = load_run_stem(args.run) if parts & {5, 6} else None
    if 5 in parts:
        if not args.run or not os.path.exists(os.path.join(args.run, "gan.pt")):
            skip(5, f"no {os.path.join(args.run or '?', 'gan.pt')}")
        elif run_stem is None:
            skip(5, f"no {os.path.join(args.run, 'stem.pt')} + config.json (the GAN's text encoder)")
        else:
            t0 = time.time()
            results["discriminator"] = part_discriminator(args, ts, run_stem)
            results["discriminator"]["seconds"] = time.time() - t0
    if 6 in parts:
        if run_stem is None:
            skip(6, f"no {os.path.join(args.run or '?', 'stem.pt')} + config.json (the GAN's text encoder)")
        else:
            t0 = time.time()
            r6 = part_generator(args, ts, run_stem, lite0)
            if "skipped" in r6:
                skip(6, r6.pop("skipped"))
            else:
                r6["seconds"] = time.time() - t0
                results["generator"] = r6

    results["images"] = ts.n
    results["runtime_s"] = time.time() - t_start
    results["threads"] = args.threads
    write_report(results, args.out)
    log(f"wrote {os.path.join(args.out, 'diagnosis.json')} and diagnosis.md in {results['runtime_s'] / 60:.1f} min")
    return results


def write_report(results: dict, out: str) -> str:
    """Links, weakest link, diagnosis.json and diagnosis.md (also printed)."""
    from .evaluate import _jsonable

    lk = links(results)
    results["links"] = lk
    results.pop("weakest_link", None)
    if lk:
        w = min(lk, key=lambda r: r["score"])
        results["weakest_link"] = (f"{w['link']}: score {w['score']:.2f} (value {100 * w['value']:.1f} %, chance "
                                   f"{100 * w['chance']:.1f} %, ceiling {100 * w['ceiling']:.1f} %)")
    md = "# Diagnosis: each link of the text-to-image chain\n\n"
    md += (f"Text encoder: {results.get('text_encoder', '—')}; run: {results.get('run')}; "
           f"{results.get('images') or results.get('oracle', {}).get('images', '?')} evaluation images.\n\n")
    md += markdown(results)
    with open(os.path.join(out, "diagnosis.json"), "w") as f:
        json.dump(_jsonable(results), f, indent=2)
    with open(os.path.join(out, "diagnosis.md"), "w") as f:
        f.write(md)
    print(md)
    return md


if __name__ == "__main__":
    sys.exit(0 if main() is not None else 1)
