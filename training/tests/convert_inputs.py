"""Tiny official-layout inputs for the converter's tests (test_convert.py, test_convert_errors.py): the config
YAML, the Python 2 captions pickle, the text encoder and generator (tests/official_layout.py, random weights), one
DAMSM image encoder per test module, the converter's command line, and the checks that an error wrote nothing."""
from __future__ import annotations

import os

import pytest

from mirrorgan_train import convert as C
from mirrorgan_train.models import ModelConfig

import official_layout as O

WORDS = [f"w{i}" for i in range(1, 40)]  # 40 words with <end>
TINY_YAML = """CONFIG_NAME: 'MirrorGAN'
DATASET_NAME: 'birds'
DATA_DIR: '../data/birds'
TREE:
    BRANCH_NUM: 3
TRAIN:
    FLAG: False
    NET_G: '../models/netG.pth'
    NET_E: '../data/STEM/text_encoder.pth'
    SMOOTH:
        LAMBDA1: 10.0
CAP:
    embed_size: 8
    hidden_size: 8
    caption_cnn_path: '../data/STREAM/cnn_encoder.ckpt'
GAN:
    DF_DIM: 8
    GF_DIM: 4
    Z_DIM: 100
    R_NUM: 2
TEXT:
    EMBEDDING_DIM: 16
    CAPTIONS_PER_IMAGE: 2
    WORDS_NUM: 10
"""
TINY = dict(ngf=4, nef=16, r_num=2)


def tiny_cfg(glam=True, n_words=len(WORDS) + 1):
    return ModelConfig(n_words=n_words, nef=16, words_num=10, ngf=4, r_num=2, glam=glam, cap_embed=8, cap_hidden=16)


# --------------------------------------------------------------------------------------------------
# Official-layout files
# --------------------------------------------------------------------------------------------------
def write_image_encoder(d):
    """One random DAMSM image encoder (full Inception-v3 trunk, nef 16 heads), legacy torch.save, in d:
    (path, module). conftest.py's `image_encoder_file` fixture makes one per test module."""
    net = O.randomise(O.CNN_ENCODER(nef=16), 3)
    path = str(d / "image_encoder200.pth")
    O.save_legacy(net.state_dict(), path)
    return path, net


def write_inputs(d, glam=True, yaml_text=TINY_YAML, words=WORDS, n_test=12, seed=0):
    """Tiny official files in d: config YAML, py2 captions pickle, text encoder, generator -> (paths, modules)."""
    d = str(d)
    paths = {"config": os.path.join(d, "bird.yml"), "captions": os.path.join(d, "captions.pickle"),
             "text_encoder": os.path.join(d, "text_encoder200.pth"), "generator": os.path.join(d, "netG_epoch_600.pth")}
    with open(paths["config"], "w") as f:
        f.write(yaml_text)
    caps = O.captions_pickle(words, n_train=8, n_test=n_test, seed=seed)
    O.write_py2_pickle(caps, paths["captions"])
    te = O.randomise(O.RNN_ENCODER(len(words) + 1, nhidden=16), seed + 1)
    g = O.randomise(O.G_NET(**TINY, glam=glam), seed + 2)
    O.save_legacy(te.state_dict(), paths["text_encoder"])
    O.save_legacy(g.state_dict(), paths["generator"])
    return paths, {"captions": caps, "text_encoder": te, "generator": g}


def argv(paths, image_encoder, out, *extra):
    return ["--config", paths["config"], "--generator", paths["generator"], "--text-encoder", paths["text_encoder"],
            "--image-encoder", image_encoder, "--captions", paths["captions"], "--out", str(out), *extra]


def run(args):
    return C.convert(C.parser().parse_args(args))


def assert_nothing_written(out):
    out = str(out)
    assert not os.path.exists(out)
    parent, base = os.path.split(out)
    assert [f for f in os.listdir(parent) if f.startswith(f".{base}.")] == []  # no staging directory left


def expect_error(args, out, *fragments):
    with pytest.raises(C.ConvertError) as e:
        run(args)
    msg = str(e.value)
    for frag in fragments:
        assert frag in msg, f"{frag!r} not in:\n{msg}"
    assert_nothing_written(out)
    return msg
