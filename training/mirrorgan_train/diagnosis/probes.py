"""Part 1 and 3 of the diagnosis: linear probes (standardised features, full-batch L-BFGS, L2 penalty chosen on a
held-out fifth) and their inputs (caption and image rows, pooled Lite0 features)."""
from __future__ import annotations

import time

import numpy as np
import torch
import torch.nn.functional as F

from ..attributes_classifier import COLOR_ATTRIBUTES, PLUMAGE_COLOR_ATTRIBUTES, classifier_features, norm_value
from ..evaluation.features import CLASSIFIER_POOL
from ..synthbirds.attributes import ATTRIBUTE_KEYS
from . import log

PROBE_WDS = (1e-5, 1e-4, 1e-3, 1e-2, 1e-1)


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
