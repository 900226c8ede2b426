"""A directory converted from official AttnGAN files (make convert, docs/CONVERTING.md) and the real binary.

The Swift runtime has only the EfficientNet-Lite0 trunk so far (issue 18's open part), so today it must refuse a
converted directory at load with a message that says why, never half-load it. When the runtime gains the
Inception-v3 / ResNet-152 trunks and serving without STREAM, this test becomes the "serves it" test.

Environment: MIRRORGAN_BIN (default .build/release/mirrorgan). Runs the converter with this interpreter (the
toolkit's venv, as `make test-integration` runs it) on tiny random-weight files in the official layouts.
"""
import json
import os
import subprocess
import sys

import torch

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("MIRRORGAN_BIN") or os.path.join(ROOT, ".build", "release", "mirrorgan")
sys.path.insert(0, os.path.join(ROOT, "training", "tests"))

import official_layout as O  # noqa: E402

WORDS = [f"w{i}" for i in range(1, 20)]
CONFIG = """TREE:
    BRANCH_NUM: 3
GAN:
    GF_DIM: 4
    R_NUM: 2
TEXT:
    EMBEDDING_DIM: 16
    CAPTIONS_PER_IMAGE: 2
"""


def test_converted_attngan_directory_is_refused_with_a_reason(tmp_path):
    (tmp_path / "bird.yml").write_text(CONFIG)
    O.write_py2_pickle(O.captions_pickle(WORDS, 4, 6), tmp_path / "captions.pickle")
    O.save_legacy(O.randomise(O.RNN_ENCODER(len(WORDS) + 1, nhidden=16), 1).state_dict(), tmp_path / "te.pth")
    O.save_legacy(O.randomise(O.G_NET(ngf=4, nef=16, glam=False), 2).state_dict(), tmp_path / "netG.pth")
    torch.save(O.CNN_ENCODER(nef=16).state_dict(), tmp_path / "ie.pth")
    out = tmp_path / "attngan"
    conv = subprocess.run([sys.executable, "-m", "mirrorgan_train.convert", "--config", str(tmp_path / "bird.yml"),
                           "--generator", str(tmp_path / "netG.pth"), "--text-encoder", str(tmp_path / "te.pth"),
                           "--image-encoder", str(tmp_path / "ie.pth"), "--captions", str(tmp_path / "captions.pickle"),
                           "--out", str(out)], capture_output=True, text=True, timeout=300)
    assert conv.returncode == 0, conv.stderr
    meta = json.loads((out / "model.json").read_text())
    assert meta["backbone"]["name"] == "inception_v3" and meta["stream"] is None

    run = subprocess.run([BIN, "inspect", str(out)], capture_output=True, text=True, timeout=60)
    assert run.returncode != 0
    assert "stream_encoder.safetensors" in run.stderr + run.stdout  # no STREAM: refused before any weight is read

    # With STREAM files present, the refusal names the backbone (stand-in STREAM files: the runtime stops at
    # model.json before reading them).
    from safetensors.torch import save_file

    sys.path.insert(0, os.path.join(ROOT, "training"))
    from mirrorgan_train import export

    meta["stream"] = {"embed_size": 8, "hidden_size": 16, "max_seq_length": 20, "end_token": False}
    (out / "model.json").write_text(json.dumps(meta))
    for name in ("stream_encoder", "stream_decoder"):
        save_file({"x": torch.zeros(1)}, str(out / f"{name}.safetensors"))
    export.write_manifest(str(out))
    run = subprocess.run([BIN, "inspect", str(out)], capture_output=True, text=True, timeout=60)
    assert run.returncode != 0
    assert "backbone inception_v3 is not supported" in run.stderr + run.stdout
