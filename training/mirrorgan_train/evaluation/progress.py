"""Progress lines with an ETA over a whole evaluation run (also used by diagnose.py)."""
from __future__ import annotations

import time
from collections import Counter


class Eta:
    PRIOR = {"generate": 0.15, "backbone": 0.15, "inception": 0.2, "train_backbone": 0.15}  # s per image, 2 cores

    def __init__(self):
        self.t0 = time.time()
        self.plan: Counter = Counter()
        self.done: Counter = Counter()
        self.spent: Counter = Counter()
        self.last = 0.0

    def add(self, kind, n):
        self.plan[kind] += n

    def record(self, kind, n, seconds):
        self.done[kind] += n
        self.spent[kind] += seconds

    def remaining(self):
        left = 0.0
        for k, n in self.plan.items():
            rate = self.spent[k] / self.done[k] if self.done[k] else self.PRIOR.get(k, 0.2)
            left += max(0, n - self.done[k]) * rate
        return left

    def report(self, phase, i, n, force=False):
        now = time.time()
        if not force and now - self.last < 10:
            return
        self.last = now
        rates = " ".join(f"{k} {self.spent[k] / self.done[k]:.3f}s/img" for k in sorted(self.done) if self.done[k])
        print(f"[{now - self.t0:7.0f}s] {phase} {i}/{n} | {rates} | ETA {self.remaining() / 60:.1f} min", flush=True)


class timed:
    def __init__(self, eta, kind, n):
        self.eta, self.kind, self.n = eta, kind, n

    def __enter__(self):
        self.t = time.time()

    def __exit__(self, *exc):
        self.eta.record(self.kind, self.n, time.time() - self.t)
