"""Two-iteration smoke run of every training stage on a tiny config and a tiny rendered dataset, then
export, reference inference over the exported directory, and the parity-fixture writer."""
import json
import os
import pickle

import pytest
import torch

from mirrorgan_train import train
from mirrorgan_train.data import CaptionSet, fixed_length, load_images, tokenize
from tiny_dataset import write_tiny_dataset


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("ds"))
    write_tiny_dataset(root, n_train=12, n_test=6)
    return root


def test_loaders_read_the_official_layout(tiny):
    caps = CaptionSet(tiny)
    assert caps.ixtoword[0] == "<end>"
    assert len(caps.captions["train"]) == 12 * 10 and len(caps.captions["test"]) == 6 * 10
    imgs = load_images(tiny, "test", caps)
    assert imgs.shape == (6, 3, 256, 256) and imgs.dtype == torch.uint8
    with open(os.path.join(tiny, "train", "filenames.pickle"), "rb") as f:
        assert len(pickle.load(f)) == 12


def test_tokenizer_official_cleaning():
    assert tokenize("This BIRD, has a   red-crown! café") == ["this", "bird", "has", "a", "red", "crown", "caf"]


def test_fixed_length_subsamples_in_order():
    import numpy as np

    ids, n = fixed_length(list(range(1, 31)), 18, np.random.default_rng(0))
    assert n == 18 and list(ids) == sorted(ids)


def test_every_stage_runs_and_exports(tiny, tmp_path):
    run = str(tmp_path / "run")
    common = ["--data", tiny, "--run", run, "--threads", "1"]
    train.main(["features", *common, "--batch", "8"])
    train.main(["stem", *common, "--iters", "2", "--batch", "6", "--ngf", "4", "--ndf", "4"])
    # Resumes at iteration 2 and runs 3 more with the word loss on every second one (iterations 2 and 4).
    train.main(["stem", *common, "--iters", "5", "--batch", "6", "--words-every", "2"])
    assert torch.load(os.path.join(run, "stem.pt"))["it"] == 5
    # Head-only phase: the image heads learn, the text encoder (the generator's conditioning) does not move.
    before = torch.load(os.path.join(run, "stem.pt"))
    train.main(["stem", *common, "--iters", "7", "--batch", "6", "--freeze-text"])
    after = torch.load(os.path.join(run, "stem.pt"))
    assert after["it"] == 7
    assert all(torch.equal(v, after["text_encoder"][k]) for k, v in before["text_encoder"].items())
    assert not torch.equal(before["image_encoder"]["emb_cnn_code.weight"], after["image_encoder"]["emb_cnn_code.weight"])
    train.main(["stream", *common, "--iters", "2", "--batch", "6"])
    train.main(["stream", *common, "--iters", "3", "--batch", "6", "--bf16"])  # resumes, one bf16 iteration
    st = torch.load(os.path.join(run, "stream.pt"))
    assert st["it"] == 3 and all(v.dtype != torch.bfloat16 for v in st["decoder"].values())
    train.main(["gan", *common, "--iters", "2", "--stages", "1", "--batch", "4"])
    train.main(["gan", *common, "--iters", "2", "--stages", "3", "--batch", "2"])
    ck = torch.load(os.path.join(run, "gan.pt"))
    assert ck["it"] == 4 and ck["stages"] == 3
    out = str(tmp_path / "model")
    from mirrorgan_train import export

    export.main(["--run", run, "--data", tiny, "--out", out, "--name", "tiny"])
    meta = json.load(open(os.path.join(out, "model.json")))
    assert meta["generator"]["ngf"] == 4 and meta["format_version"] == 1
    manifest = open(os.path.join(out, "MANIFEST")).read().split("\n")
    assert any(line.endswith("generator.safetensors") for line in manifest)

    # A warm start from the exported generator: during --d-warmup only the discriminators learn (G's
    # parameters stay the exported ones), then G trains; snapshots keep G every N iterations.
    import shutil
    from safetensors.torch import load_file

    warm = str(tmp_path / "warm")
    os.makedirs(warm)
    for f in ("config.json", "stem.pt", "stream.pt"):
        shutil.copy(os.path.join(run, f), warm)
    g0 = load_file(os.path.join(out, "generator.safetensors"))
    wcommon = ["--data", tiny, "--run", warm, "--threads", "1", "--stages", "3", "--batch", "2"]
    train.main(["gan", *wcommon, "--iters", "1", "--init-g", os.path.join(out, "generator.safetensors"),
                "--d-warmup", "1", "--snapshot-every", "1"])
    g1 = torch.load(os.path.join(warm, "gan.pt"))["G"]
    names = [k for k in g0 if "running_" not in k]
    assert all(torch.equal(g0[k], g1[k]) for k in names)
    train.main(["gan", *wcommon, "--iters", "2", "--d-warmup", "1", "--snapshot-every", "1"])
    g2 = torch.load(os.path.join(warm, "gan.pt"))["G"]
    assert any(not torch.equal(g0[k], g2[k]) for k in names)
    assert sorted(os.listdir(os.path.join(warm, "snapshots"))) == ["g_it000001.pt", "g_it000002.pt"]

    from mirrorgan_train.pipeline import CaptionError, ReferenceModel

    model = ReferenceModel(out)
    word = model.ixtoword[1]
    r = model.generate(f"{word} zzzunknown", seed=7, n=2)
    assert r["unknown"] == ["zzzunknown"]
    assert [im["seed"] for im in r["images"]] == [7, 8]
    assert r["images"][0]["png_bytes"].shape == (256, 256, 3)
    assert 1 <= r["images"][0]["rank"] <= 100
    again = model.generate(f"{word} zzzunknown", seed=7, n=1)
    assert (again["images"][0]["png_bytes"] == r["images"][0]["png_bytes"]).all()  # deterministic from the seed
    with pytest.raises(CaptionError):
        model.generate("qqqq zzzz", seed=1)

    # A new DAMSM code head on the trained STEM (--init-stem): a fresh run whose config.json records the head, the
    # text encoder left as it started; the export's model.json names the head and the reference model serves it.
    conv = str(tmp_path / "conv")
    os.makedirs(conv)
    for f in ("config.json", "stream.pt", "gan.pt"):
        shutil.copy(os.path.join(run, f), conv)
    ccommon = ["--data", tiny, "--run", conv, "--threads", "1", "--batch", "6", "--freeze-text"]
    train.main(["stem", *ccommon, "--iters", "3", "--image-head", "local_conv", "--image-head-width", "8",
                "--init-stem", os.path.join(run, "stem.pt")])
    src, st = torch.load(os.path.join(run, "stem.pt")), torch.load(os.path.join(conv, "stem.pt"))
    assert st["it"] == 3 and st["image_encoder"]["code_conv1.weight"].shape[0] == 8
    assert all(torch.equal(v, st["text_encoder"][k]) for k, v in src["text_encoder"].items())
    assert json.load(open(os.path.join(conv, "config.json")))["image_code_head"] == "local_conv"
    with pytest.raises(SystemExit):  # joint training keeps the head its stem.pt was trained with
        train.main(["stem", "--data", tiny, "--run", conv, "--threads", "1", "--batch", "6", "--iters", "4",
                    "--image-head", "linear"])
    # the head-only phase may switch the head of a trained run: same text encoder, a fresh head and count
    sw = str(tmp_path / "switch")
    os.makedirs(sw)
    for f in ("config.json", "stem.pt"):
        shutil.copy(os.path.join(run, f), sw)
    train.main(["stem", "--data", tiny, "--run", sw, "--threads", "1", "--batch", "6", "--freeze-text", "--iters",
                "2", "--image-head", "local_conv", "--image-head-width", "4"])
    st_sw = torch.load(os.path.join(sw, "stem.pt"))
    assert st_sw["it"] == 2 and st_sw["image_encoder"]["code_conv2.weight"].shape == (4, 4, 3, 3)
    assert all(torch.equal(v, st_sw["text_encoder"][k]) for k, v in src["text_encoder"].items())
    train.main(["stem", "--data", tiny, "--run", sw, "--threads", "1", "--batch", "6", "--freeze-text", "--iters",
                "3", "--lr", "1e-5"])  # resumes the switched run with its new head, at this invocation's lr
    st_sw = torch.load(os.path.join(sw, "stem.pt"))
    assert st_sw["it"] == 3 and all(g["lr"] == 1e-5 for g in st_sw["opt"]["param_groups"])
    out_c = str(tmp_path / "model_conv")
    export.main(["--run", conv, "--data", tiny, "--out", out_c, "--name", "tiny"])
    assert json.load(open(os.path.join(out_c, "model.json")))["image_encoder"] == {"code_head": "local_conv",
                                                                                    "width": 8}
    rc = ReferenceModel(out_c).generate(word, seed=7, n=1)
    assert rc["images"][0]["png_bytes"].shape == (256, 256, 3) and 1 <= rc["images"][0]["rank"] <= 100


def test_fixture_writer(tmp_path):
    from mirrorgan_train import fixtures

    fixtures.main(["--out", str(tmp_path)])
    total = sum(os.path.getsize(os.path.join(r, f)) for r, _, fs in os.walk(tmp_path) for f in fs)
    assert total < 10_000_000  # ~6 MB of tiny-model fixtures, ~2 MB of converted-layout ones (no trunk weights)
    assert os.path.exists(tmp_path / "parity" / "tiny" / "MANIFEST")
