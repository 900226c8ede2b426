"""Writes eval_protocol.json: numpy's answers for the evaluation protocol `mirrorgan eval` must reproduce bit for bit
(Tests/MirrorGANTests/RPrecisionEvaluationTests.swift).

  training/.venv/bin/python Tests/Fixtures/eval/make_eval_fixtures.py

- permutations: np.random.default_rng(seed).permutation(n), the fold shuffle;
- folds: the toolkit's own fold_stats on fixed 0/1 hit vectors (imported from mirrorgan_train, so a change there
  shows up here when this is rerun);
- candidates: TestSet's draw of 99 other-class candidates (MirrorRNG(i ^ 0x5DEECE66D), next() % total), on a small
  synthetic class list, with the same loop as training/mirrorgan_train's TestSet.
"""
import json
import os
import sys

import numpy as np

HERE = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(HERE, "..", "..", "..", "training"))

try:
    from mirrorgan_train.evaluation.metrics import fold_stats
except ImportError:  # before the evaluation package split
    from mirrorgan_train.evaluate import fold_stats
from mirrorgan_train.rng import CANDIDATE_SEED_MASK, MirrorRNG


def candidates(i, classes, flat_class, k=99):
    """TestSet.__init__'s draw for image i (flat_class: class per caption)."""
    eligible = np.flatnonzero(flat_class != classes[i])
    if len(eligible) < k:
        return [int(v) for v in np.resize(eligible, k)]
    rng = MirrorRNG(i ^ CANDIDATE_SEED_MASK)
    taken, out = set(), []
    total = len(flat_class)
    while len(out) < k:
        j = rng.next_u64() % total
        if flat_class[j] == classes[i] or j in taken:
            continue
        taken.add(j)
        out.append(int(j))
    return out


def main():
    out = {"permutations": [], "folds": [], "candidates": []}
    for seed in [0, 1, 7, 2**40 + 3]:
        for n in [1, 2, 9, 10, 11, 100, 1000, 1003]:
            out["permutations"].append({"seed": seed, "n": n,
                                        "order": [int(v) for v in np.random.default_rng(seed).permutation(n)]})
    gen = np.random.default_rng(12345)
    for n, p in [(1, 0.5), (7, 0.5), (10, 0.3), (37, 0.1), (1000, 0.02), (2000, 0.3), (1999, 0.5)]:
        hits = [int(v) for v in (gen.random(n) < p)]
        for seed in [0, 3]:
            s = fold_stats(hits, seed=seed)
            out["folds"].append({"hits": hits, "seed": seed, "mean": s["mean"], "std": s["std"],
                                 "fold_means": s["fold_means"]})
    # 60 images of 10 captions, 12 classes (5 images each): 550 eligible captions per image.
    classes = np.array([i // 5 for i in range(60)])
    flat = np.repeat(classes, 10)
    out["candidates"].append({"classes": [int(c) for c in flat], "picks": [candidates(i, classes, flat) for i in range(8)]})
    # Only 3 classes of 2 images: 40 eligible < 99 (numpy's resize repeats them).
    small = np.array([i // 2 for i in range(6)])
    small_flat = np.repeat(small, 10)
    out["candidates"].append({"classes": [int(c) for c in small_flat],
                              "picks": [candidates(i, small, small_flat) for i in range(3)]})
    with open(os.path.join(HERE, "eval_protocol.json"), "w") as f:
        json.dump(out, f, separators=(",", ":"))
        f.write("\n")


if __name__ == "__main__":
    main()
