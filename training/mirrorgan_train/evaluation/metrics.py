"""Scores of the evaluation: corpus BLEU-4, R-precision hits and their fold statistics, the semantic round trip
and the precision of parsed claims (protocols: evaluate.py's docstring)."""
from __future__ import annotations

import math
from collections import Counter
from typing import TYPE_CHECKING

import numpy as np
import torch
import torch.nn.functional as F

from ..attributes_classifier import COLOR_ATTRIBUTES, PLUMAGE_COLOR_ATTRIBUTES, norm_value

if TYPE_CHECKING:
    from .data import TestSet

R_CANDIDATES = 100
R_FOLDS = 10


def corpus_bleu4(hypotheses: list[list[str]], references: list[list[list[str]]], max_n: int = 4) -> dict:
    """Corpus BLEU (Papineni et al.): clipped n-gram counts summed over the corpus, geometric mean of the
    n = 1..4 precisions with uniform weights, brevity penalty exp(1 - r/c) when c <= r, where c is the total
    hypothesis length and r the sum of the reference lengths closest to each hypothesis (ties: the shorter)."""
    clipped = [0] * max_n
    totals = [0] * max_n
    c = r = 0
    for hyp, refs in zip(hypotheses, references):
        c += len(hyp)
        r += min((abs(len(x) - len(hyp)), len(x)) for x in refs)[1] if refs else 0
        for n in range(1, max_n + 1):
            h = Counter(tuple(hyp[i : i + n]) for i in range(len(hyp) - n + 1))
            if not h:
                continue
            mx: Counter = Counter()
            for ref in refs:
                for g, k in Counter(tuple(ref[i : i + n]) for i in range(len(ref) - n + 1)).items():
                    mx[g] = max(mx[g], k)
            clipped[n - 1] += sum(min(k, mx[g]) for g, k in h.items())
            totals[n - 1] += sum(h.values())
    precisions = [clipped[k] / totals[k] if totals[k] else 0.0 for k in range(max_n)]
    if c == 0 or min(precisions) == 0:
        bleu = 0.0
    else:
        bp = 1.0 if c > r else math.exp(1 - r / c)
        bleu = bp * math.exp(sum(math.log(p) for p in precisions) / max_n)
    bp = (1.0 if c > r else math.exp(1 - r / c)) if c else 0.0
    return {"bleu4": bleu, "precisions": precisions, "brevity_penalty": bp, "hyp_len": c, "ref_len": r}


def fold_stats(hits, folds: int = R_FOLDS, seed: int = 0) -> dict:
    """Shuffle the 0/1 results (fixed seed), split into `folds` near-equal folds, mean and std (ddof 0) of the
    fold means (AttnGAN reports R-precision this way)."""
    x = np.asarray(hits, dtype=np.float64)
    if len(x) == 0:
        return {"mean": float("nan"), "std": float("nan"), "folds": 0, "n": 0, "fold_means": []}
    x = np.random.default_rng(seed).permutation(x)
    parts = np.array_split(x, min(folds, len(x)))
    means = np.array([p.mean() for p in parts])
    return {"mean": float(means.mean()), "std": float(means.std()), "folds": len(parts), "n": int(len(x)),
            "fold_means": [float(m) for m in means]}


def r_precision_hits(codes: torch.Tensor, sent_all: torch.Tensor, ts: TestSet) -> np.ndarray:
    codes = F.normalize(codes, dim=1)
    sn = F.normalize(sent_all, dim=1)
    hits = np.zeros(ts.n, dtype=np.int64)
    for i in range(ts.n):
        true = int(i * ts.cpi + ts.k[i])
        idx = torch.from_numpy(np.concatenate([[true], ts.candidates[i]]))
        sims = sn[idx] @ codes[i]
        hits[i] = int(bool((sims[1:] < sims[0]).all()))
    return hits


def attribute_round_trip(preds: list[dict], named: list[list[tuple[str, str]]]) -> dict:
    """Share of named (attribute, value) pairs found in the predictions (classifier or parsed claims)."""
    per: dict[str, list[int]] = {}
    mentioned = 0
    for p, pairs in zip(preds, named):
        for a, v in pairs:
            per.setdefault(a, []).append(int(p.get(a) == v))
            mentioned += int(a in p)
    allv = [x for v in per.values() for x in v]
    col = [x for a, v in per.items() if a in COLOR_ATTRIBUTES for x in v]
    plum = [x for a, v in per.items() if a in PLUMAGE_COLOR_ATTRIBUTES for x in v]
    mean = lambda v: float(np.mean(v)) if v else float("nan")  # noqa: E731
    return {"overall": mean(allv), "color": mean(col), "plumage_color": mean(plum), "n_named": len(allv),
            "n_color": len(col), "stated_share": mentioned / max(len(allv), 1),
            "per_attribute": {a: {"share": mean(v), "n": len(v)} for a, v in sorted(per.items())}}


def claim_precision(claims: list[dict], truths: list[dict]) -> dict:
    n = ok = 0
    for c, gt in zip(claims, truths):
        for a, v in c.items():
            n += 1
            ok += int(norm_value(gt[a]) == v)
    return {"precision": ok / n if n else float("nan"), "claims": n, "claims_per_caption": n / max(len(claims), 1)}
