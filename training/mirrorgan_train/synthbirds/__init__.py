"""SynthBirds: procedural CUB-style captioned birds for training MirrorGAN on CPU.

API (see docs/DATASET.md):
    render_image(index, seed, size=256) -> (PIL.Image, meta)
    make_captions(meta, rng, n=10) -> list[(text, named_attributes)]
    mirrorgan_train.synthbirds.dataset.write_dataset(out, n_train, n_test, seed, workers)
CLI:
    python -m mirrorgan_train.synthbirds.dataset --out data/synthbirds \
        --n-train 10000 --n-test 2000 --seed 0 --workers 2
"""
from .attributes import (ATTRIBUTE_KEYS, COLOR_NAMES, COLORS, N_SPECIES, Species,
                         sample_attributes, species_table)
from .captions import make_captions, tokenize
from .render import image_rng, render_attributes, render_image, species_for_index

__all__ = [
    "ATTRIBUTE_KEYS", "COLOR_NAMES", "COLORS", "N_SPECIES", "Species",
    "sample_attributes", "species_table", "render_attributes", "render_image",
    "species_for_index", "image_rng", "make_captions", "tokenize",
]
