"""mirrorgan_train.evaluate on a tiny rendered dataset and a random-weight tiny model directory, plus unit tests
of the BLEU, fold statistics, Frechet distance and caption parser."""
import json
import math
import os

import numpy as np
import pytest
import torch

from mirrorgan_train import evaluate as E
from mirrorgan_train.attributes_classifier import load_meta
from tiny_dataset import write_tiny_dataset

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("ds"))
    write_tiny_dataset(root, n_train=12, n_test=6)
    return root


@pytest.fixture(scope="module")
def tiny_model(tiny, tmp_path_factory):
    """Random-weight modules (small widths) with the pretrained Lite0 trunk, written as a model directory."""
    from mirrorgan_train import export
    from mirrorgan_train.data import CaptionSet
    from mirrorgan_train.models import (CAPTION_CNN, CAPTION_RNN, CNN_ENCODER, G_NET, RNN_ENCODER, Backbone,
                                        ModelConfig)

    torch.manual_seed(0)
    caps = CaptionSet(tiny)
    cfg = ModelConfig(n_words=caps.n_words, embedding_dim=16, nef=32, ngf=4, ndf=4, cap_embed=16, cap_hidden=32)
    modules = {
        "text_encoder": RNN_ENCODER(cfg.n_words, cfg.embedding_dim, nhidden=cfg.nef).state_dict(),
        "generator": G_NET(cfg).state_dict(),
        "backbone": Backbone(pretrained=True).trunk_state_dict(),
        "image_encoder": CNN_ENCODER(cfg.nef).state_dict(),
        "stream_encoder": CAPTION_CNN(cfg.cap_embed).state_dict(),
        "stream_decoder": CAPTION_RNN(cfg.cap_embed, cfg.cap_hidden, cfg.n_words).state_dict(),
    }
    out = str(tmp_path_factory.mktemp("model"))
    export.write_model_dir(out, cfg, modules, caps.vocab_list(), export.caption_bank(caps), "tiny", "random weights")
    return out


# --------------------------------------------------------------------------------------------------
def test_bleu_hand_computed():
    refs = [["the cat is on the mat".split(), "there is a cat on the mat".split()]]
    # "a cat is on the mat": p1 6/6, p2 5/5, p3 3/4 ("a cat is" misses), p4 2/3; c = r = 6 -> BP 1
    r = E.corpus_bleu4(["a cat is on the mat".split()], refs)
    assert r["precisions"] == pytest.approx([1, 1, 3 / 4, 2 / 3])
    assert r["bleu4"] == pytest.approx((3 / 4 * 2 / 3) ** 0.25)
    # "cat is on the mat": all precisions 1, c = 5, closest r = 6 -> BP exp(1 - 6/5)
    r = E.corpus_bleu4(["cat is on the mat".split()], refs)
    assert r["brevity_penalty"] == pytest.approx(math.exp(-0.2))
    assert r["bleu4"] == pytest.approx(math.exp(-0.2))
    # corpus level: counts are summed before the precisions: p3 6/7, p4 4/5, c 11, r 12
    r = E.corpus_bleu4(["a cat is on the mat".split(), "cat is on the mat".split()], refs * 2)
    assert r["bleu4"] == pytest.approx(math.exp(1 - 12 / 11) * (6 / 7 * 4 / 5) ** 0.25)
    # clipping: "the the the" against "the cat" counts "the" once; no bigram match -> 0
    r = E.corpus_bleu4([["the", "the", "the"]], [[["the", "cat"]]])
    assert r["precisions"][0] == pytest.approx(1 / 3) and r["bleu4"] == 0.0


def test_fold_stats():
    hits = [1] * 30 + [0] * 70
    s = E.fold_stats(hits, folds=10, seed=0)
    assert s["folds"] == 10 and s["n"] == 100
    assert s["mean"] == pytest.approx(0.3)  # equal folds: the mean of fold means is the overall mean
    assert s["std"] == pytest.approx(np.std(s["fold_means"]))
    assert sorted(s["fold_means"]) != [0.3] * 10  # shuffled, not stratified
    assert E.fold_stats(hits, seed=0) == s  # fixed seed
    assert E.fold_stats([1] * 20)["std"] == 0.0 and E.fold_stats([1] * 20)["mean"] == 1.0
    assert E.fold_stats([1, 0, 1])["folds"] == 3


def test_frechet_distance():
    rng = np.random.default_rng(0)
    a = rng.normal(size=(6, 6))
    b = rng.normal(size=(6, 6))
    s1, s2 = a @ a.T + 0.1 * np.eye(6), b @ b.T + 0.1 * np.eye(6)
    tr, _ = E.sqrt_trace_product(s1, s2)
    # S1 S2 is similar to a PSD matrix: its eigenvalues are real and >= 0
    assert tr == pytest.approx(np.sqrt(np.linalg.eigvals(s1 @ s2).real.clip(0)).sum(), rel=1e-6)
    x = rng.normal(size=(500, 4))
    assert E.frechet_distance(x, x)[0] == pytest.approx(0.0, abs=1e-6)
    # diagonal covariances: ||mu1 - mu2||^2 + sum (sqrt(v1) - sqrt(v2))^2
    y = x * np.array([1, 2, 3, 4]) + np.array([1, 0, 0, 0])
    v1, v2 = x.var(0, ddof=1), y.var(0, ddof=1)
    fid, _ = E.frechet_distance(x, y)
    # x's sample covariance is not exactly diagonal, so compare loosely with the diagonal formula
    assert fid == pytest.approx(((x.mean(0) - y.mean(0)) ** 2).sum() + ((np.sqrt(v1) - np.sqrt(v2)) ** 2).sum(),
                                rel=0.05)
    # fewer samples than dimensions (rank-deficient covariances): the sample-space route equals the full one
    f1, f2 = rng.normal(size=(20, 50)), rng.normal(size=(30, 50)) * 1.5 + 0.3
    full = ((f1.mean(0) - f2.mean(0)) ** 2).sum() + np.trace(np.cov(f1, rowvar=False)) + np.trace(
        np.cov(f2, rowvar=False)) - 2 * E.sqrt_trace_product(np.cov(f1, rowvar=False), np.cov(f2, rowvar=False))[0]
    assert E.frechet_distance(f1, f2)[0] == pytest.approx(full, rel=1e-6)


def test_parser_recovers_named_attributes_of_real_captions(tiny):
    metas = load_meta(tiny, "train") + load_meta(tiny, "test")
    caps = [(c["text"], c["named"]) for m in metas for c in m["captions"]]
    gts = [m["attributes"] for m in metas for _ in m["captions"]]
    r = E.parser_recall(caps, gts)
    assert r["captions"] == 180 and r["recall"] >= 0.95 and r["precision"] >= 0.95


def test_parser_constructions():
    c = E.parse_claims("the crown of this small bird is red and it has a yellow breast and belly")
    assert c == {"size": "small", "crown_color": "red", "breast_color": "yellow", "belly_color": "yellow"}
    c = E.parse_claims("this bird has wings that are black, a short pointed gray bill and white wing bars")
    assert c == {"wing_color": "black", "beak_shape": "short", "beak_color": "grey", "wing_pattern": "wingbars",
                 "wingbar_color": "white"}
    c = E.parse_claims("a bird that is mostly jet black with a long olive tail and an orange ring around its eye")
    assert c == {"overall_color": "black", "tail_length": "long", "tail_color": "olive", "eye_ring": "yes",
                 "eye_ring_color": "orange"}
    c = E.parse_claims("a mid sized bird perched on a branch with a brown head, pink legs and feet")
    assert c == {"size": "medium", "pose": "perched", "crown_color": "brown", "nape_color": "brown",
                 "leg_color": "pink"}
    assert E.parse_claims(["a", "bird", "<end>"]) == {}


def test_batched_generation_equals_serving_path(tiny, tiny_model):
    from mirrorgan_train.pipeline import ReferenceModel

    model = ReferenceModel(tiny_model)
    ts = E.TestSet(tiny, 3)
    img, atts = E.generate_batch(model, ts.ids, [0, 1, 2])
    for i in range(3):
        r = model.generate(ts.text(i), seed=i, n=1)
        ref = r["images"][0]["images"][-1]
        assert (img[i] - ref).abs().max().item() < 1e-4
        assert len(atts) == 2 and atts[-1].shape[1] == len(ts.ids[max(range(3), key=lambda j: len(ts.ids[j]))])


def test_candidates_are_other_classes(tiny):
    ts = E.TestSet(tiny, 6)
    assert ts.candidates.shape == (6, 99)
    for i in range(6):
        assert (ts.flat_class[ts.candidates[i]] != ts.classes[i]).all()
    assert (E.TestSet(tiny, 6).candidates == ts.candidates).all()  # fixed seed


def test_evaluate_end_to_end(tiny, tiny_model, tmp_path):
    out = str(tmp_path / "eval")
    E.main(["--weights", tiny_model, "--lambda0-weights", tiny_model, "--data", tiny, "--out", out, "--images", "6",
            "--classifier-train", "12", "--batch", "4", "--threads", "1"])
    r = json.load(open(os.path.join(out, "results.json")))
    assert r["dataset"]["evaluated"] == 6 and r["dataset"]["caption_text_mismatches"] == 0
    assert r["caption_parser"]["recall"] >= 0.95
    assert r["protocol"]["fid"]["generated"] == 6
    assert 0 <= r["classifier"]["mean_accuracy"] <= 1
    assert set(r["classifier"]["test_accuracy"]) >= {"crown_color", "wing_color", "size", "beak_shape"}
    assert set(r["models"]) == {"main", "lambda0"}
    for res in r["models"].values():
        for kind in ("generated", "real"):
            rp = res["r_precision"][kind]
            assert 0 <= rp["mean"] <= 1 and rp["std"] >= 0 and rp["folds"] == 6 and rp["n"] == 6
        assert res["fid"]["value"] > 0 and math.isfinite(res["fid"]["value"])
        sem = res["semantic"]
        for key in ("generated", "real"):
            for part in ("classifier", "stream"):
                d = sem[part][key]
                assert 0 <= d["overall"] <= 1 and d["n_named"] > 0
                assert d["color"] is None or 0 <= d["color"] <= 1
        assert 0 <= sem["classifier"]["baseline_majority"] <= 1
        st = res["stream"]["real"]
        assert 0 <= st["bleu4"] <= 1 and len(st["precisions"]) == 4
        assert st["precision"] is None or 0 <= st["precision"] <= 1
        assert len(res["stream"]["examples"]) == 5
    # the two runs of the same directory agree (deterministic)
    assert r["models"]["main"]["r_precision"] == r["models"]["lambda0"]["r_precision"]
    assert r["models"]["main"]["fid"]["value"] == pytest.approx(r["models"]["lambda0"]["fid"]["value"])
    for name in ("grid.png", "attention.png", "grid_lambda0.png"):
        path = os.path.join(out, name)
        assert os.path.exists(path) and os.path.getsize(path) < 1_500_000
    from PIL import Image

    assert Image.open(os.path.join(out, "grid.png")).size[0] == 4 * 256 + 3 * 2


def test_evaluate_without_fid_and_figures(tiny, tiny_model, tmp_path):
    out = str(tmp_path / "eval")
    E.main(["--weights", tiny_model, "--data", tiny, "--out", out, "--images", "3", "--classifier-train", "12",
            "--batch", "4", "--threads", "1", "--no-fid", "--no-figures", "--cache-dir", str(tmp_path / "cache")])
    r = json.load(open(os.path.join(out, "results.json")))
    assert r["protocol"]["fid"] is None and "fid" not in r["models"]["main"] and r["figures"] == {}
    assert sorted(os.listdir(out)) == ["results.json"]
    assert any(f.startswith("backbone_") for f in os.listdir(tmp_path / "cache"))  # real features cached
