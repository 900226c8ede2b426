"""Deterministic random weights for the Inception-v3 and ResNet-152 trunks: the twin of the Swift runtime's
`SyntheticTrunk` (Sources/MirrorGAN/Pipeline/SyntheticTrunk.swift), value for value.

The parity fixtures of converted models (fixtures.py) store no trunk weights (88 MB and 232 MB at full size):
both sides make them from a seed, so the committed fixture holds only the small files and the outputs. A value
depends only on the seed, the tensor's name and its index (counter-based), so the order tensors are made in
does not matter:

  key seed  s = FNV-1a-64(name) XOR seed
  h_i       = splitmix64's output function of s + (i + 1) * 0x9E3779B97F4A7C15 (mod 2^64)
  v_i       = (h_i >> 40) / 2^23 - 1, exact in float32, in [-1, 1)
  value     rank >= 2 (conv, linear): v * float32(sqrt(6 / fan_in)) (He-uniform: ReLU keeps the scale)
            running_var 1 + 0.25 v; running_mean 0.1 v; bias 0.1 v; BN weight 1 + 0.1 v, except a bottleneck's
            last BN (bn3) 0.2 + 0.05 v, so that 50 residual adds keep ResNet-152's activations O(1)
all in float32 arithmetic.
"""
from __future__ import annotations

import math

import numpy as np

FNV_OFFSET, FNV_PRIME = 0xCBF29CE484222325, 0x100000001B3
GOLDEN = 0x9E3779B97F4A7C15
MASK64 = (1 << 64) - 1


def fnv1a64(name: str) -> int:
    h = FNV_OFFSET
    for b in name.encode("utf-8"):
        h = ((h ^ b) * FNV_PRIME) & MASK64
    return h


def unit_values(name: str, count: int, seed: int) -> np.ndarray:
    """v_i in [-1, 1), float32."""
    s = np.uint64(fnv1a64(name) ^ (seed & MASK64))
    with np.errstate(over="ignore"):
        z = s + (np.arange(1, count + 1, dtype=np.uint64) * np.uint64(GOLDEN))
        z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
        z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
        z = z ^ (z >> np.uint64(31))
    return (z >> np.uint64(40)).astype(np.float32) / np.float32(8388608) - np.float32(1)


def value(name: str, shape: tuple, seed: int) -> np.ndarray:
    n = int(np.prod(shape)) if shape else 1
    v = unit_values(name, n, seed)
    f = np.float32
    if len(shape) >= 2:
        fan_in = int(np.prod(shape[1:]))
        out = v * f(math.sqrt(6.0 / fan_in))
    elif name.endswith("running_var"):
        out = f(1) + f(0.25) * v
    elif name.endswith("running_mean"):
        out = f(0.1) * v
    elif name.endswith("bias"):
        out = f(0.1) * v
    elif name.endswith("bn3.weight"):
        out = f(0.2) + f(0.05) * v
    else:
        out = f(1) + f(0.1) * v
    return out.astype(np.float32).reshape(shape)


def state_dict(module, seed: int) -> dict:
    """Every float tensor of `module`'s state dict made by the rule above (num_batches_tracked left out)."""
    import torch

    return {k: torch.from_numpy(value(k, tuple(t.shape), seed)) for k, t in module.state_dict().items()
            if not k.endswith("num_batches_tracked")}
