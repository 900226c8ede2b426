"""Part 2 of the diagnosis: the attribute-oracle R-precision ceiling, and part 3's probe reader."""
from __future__ import annotations

import numpy as np

from ..attributes_classifier import COLOR_ATTRIBUTES, norm_value
from ..evaluation.metrics import R_CANDIDATES
from ..synthbirds.attributes import ATTRIBUTE_KEYS


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
    from ..evaluation.metrics import fold_stats

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
        from ..evaluation.metrics import fold_stats

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
