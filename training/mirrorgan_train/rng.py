"""MirrorRNG: the seeded generator shared with the Swift runtime (Sources/MirrorGAN/Random/MirrorRNG.swift).

Specified in docs/MODEL_FORMAT.md, "Noise (z, eps) and candidate sampling": xoshiro256** seeded with four
successive splitmix64 outputs, uniform doubles from the top 53 bits, Box-Muller normals in pairs computed
in double precision and rounded to float32. Pure Python, no numpy.
"""
from __future__ import annotations

import math
import struct

MASK64 = (1 << 64) - 1
CANDIDATE_SEED_MASK = 0x5DEECE66D


def _rotl(x: int, k: int) -> int:
    return ((x << k) | (x >> (64 - k))) & MASK64


def _to_float32(x: float) -> float:
    """Round a Python float (double) to the nearest float32, returned as a Python float."""
    return struct.unpack("<f", struct.pack("<f", x))[0]


class MirrorRNG:
    def __init__(self, seed: int) -> None:
        sm = seed & MASK64
        state = []
        for _ in range(4):
            sm = (sm + 0x9E3779B97F4A7C15) & MASK64
            z = sm
            z = ((z ^ (z >> 30)) * 0xBF58476D1CE4E5B9) & MASK64
            z = ((z ^ (z >> 27)) * 0x94D049BB133111EB) & MASK64
            state.append(z ^ (z >> 31))
        self.s = state

    def next_u64(self) -> int:
        s = self.s
        result = (_rotl((s[1] * 5) & MASK64, 7) * 9) & MASK64
        t = (s[1] << 17) & MASK64
        s[2] ^= s[0]
        s[3] ^= s[1]
        s[1] ^= s[2]
        s[0] ^= s[3]
        s[2] ^= t
        s[3] = _rotl(s[3], 45)
        return result

    def uniform(self) -> float:
        """Uniform double in [0, 1): (next >> 11) * 2**-53."""
        return (self.next_u64() >> 11) * (2.0 ** -53)

    def normals(self, n: int) -> list[float]:
        """n standard normals (float32 values); for odd n the last pair's second value is discarded."""
        out: list[float] = []
        while len(out) < n:
            u1 = 1.0 - self.uniform()
            u2 = self.uniform()
            r = math.sqrt(-2.0 * math.log(u1))
            theta = 2.0 * math.pi * u2
            out.append(_to_float32(r * math.cos(theta)))
            out.append(_to_float32(r * math.sin(theta)))
        return out[:n]


def image_seed(seed: int, index: int) -> int:
    """Seed of image `index` of a request seeded with `seed` (wrapping)."""
    return (seed + index) & MASK64


def noise(image_seed_value: int, z_dim: int, condition_dim: int) -> tuple[list[float], list[float]]:
    """z, then epsilon, from one generator seeded with the image seed."""
    rng = MirrorRNG(image_seed_value)
    z = rng.normals(z_dim)
    return z, rng.normals(condition_dim)


def candidate_indices(seed: int, bank: list[list[int]], query: list[int], k: int = 99) -> list[int]:
    """R-precision candidates for the image whose seed is `seed` (= request seed + image index).

    Draws next() % len(bank) from MirrorRNG(seed ^ 0x5DEECE66D), skipping indices already drawn and
    captions equal to `query`, until k are drawn (in draw order). If fewer than k captions are eligible,
    returns all eligible indices in ascending order.
    """
    query = list(query)
    eligible = [i for i, caption in enumerate(bank) if list(caption) != query]
    if k <= 0:
        return []
    if len(eligible) < k:
        return eligible
    rng = MirrorRNG((seed & MASK64) ^ CANDIDATE_SEED_MASK)
    taken = [False] * len(bank)
    drawn: list[int] = []
    while len(drawn) < k:
        index = rng.next_u64() % len(bank)
        if taken[index] or list(bank[index]) == query:
            continue
        taken[index] = True
        drawn.append(index)
    return drawn
