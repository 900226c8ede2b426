"""A tiny dataset in the official CUB/AttnGAN layout, for fast tests of loaders and training stages.

Uses the SynthBirds renderer when it is importable, so the loaders are exercised on rendered birds."""
from __future__ import annotations

import os
import pickle

import numpy as np


def write_tiny_dataset(root: str, n_train: int = 12, n_test: int = 6, seed: int = 0) -> str:
    from mirrorgan_train.synthbirds.dataset import write_dataset

    write_dataset(root, n_train=n_train, n_test=n_test, seed=seed, workers=1)
    return root
