"""mirrorgan_train.diagnose: the attribute oracle on hand-made candidates, the linear probes on synthetic data,
the word pooling, and every part end to end on a tiny rendered dataset with a random-weight tiny run."""
import json
import os

import numpy as np
import pytest
import torch

from mirrorgan_train import diagnose as G
from mirrorgan_train.diagnosis.oracle import (oracle_counts, oracle_lr_expected, oracle_summary, probe_reader_scores,
                                            value_frequencies)
from mirrorgan_train.diagnosis.probes import probe_all, probe_attribute, standardise, summarise_probes
from mirrorgan_train.diagnosis.stem import masked_word_pool
from mirrorgan_train.synthbirds.attributes import ATTRIBUTE_KEYS
from tiny_dataset import write_tiny_dataset

torch.set_num_threads(1)

TRUE = {"crown_color": "red", "size": "small", "eye_ring": False, "eye_ring_color": None, "wing_color": "black"}


# --------------------------------------------------------------------------------------------------
def test_oracle_one_consistent_distractor_halves_the_ceiling():
    cands = [[["crown_color", "red"]],  # the true caption (first)
             [["crown_color", "blue"]],  # ruled out
             [["size", "small"]],  # consistent: the reader cannot tell it from the true caption
             [["size", "large"], ["crown_color", "red"]]]  # one false pair rules it out
    counts = oracle_counts([TRUE], [cands])
    assert counts.tolist() == [2]
    s = oracle_summary(counts)
    assert s["expected_top1"] == pytest.approx(0.5)
    assert s["share_with_consistent_distractor"] == 1.0


def test_oracle_mean_share_and_colour_only_reader():
    cands_a = [[["crown_color", "red"]], [["crown_color", "blue"]], [["wing_color", "grey"]]]  # only the true one
    cands_b = [[["size", "small"]], [["size", "large"], ["crown_color", "red"]], [["eye_ring", False]],
               [["eye_ring_color", None], ["wing_color", "black"]]]  # booleans / None normalised: 2 consistent
    counts = oracle_counts([TRUE, TRUE], [cands_a, cands_b])
    assert counts.tolist() == [1, 3]
    s = oracle_summary(counts)
    assert s["expected_top1"] == pytest.approx((1 + 1 / 3) / 2)
    assert s["share_with_consistent_distractor"] == 0.5
    # a colour-only reader ignores size: ("size", "large") no longer rules out the second candidate of b
    col = oracle_counts([TRUE, TRUE], [cands_a, cands_b], only={"crown_color", "wing_color", "eye_ring_color"})
    assert col.tolist() == [1, 4]


def test_likelihood_ratio_oracle_prefers_the_caption_naming_more_true_pairs():
    prior = {"crown_color": {"red": 0.1, "blue": 0.9}, "size": {"small": 0.5, "large": 0.5},
             "wing_color": {"black": 0.5}}
    true_cap = [["crown_color", "red"], ["size", "small"]]
    # distractors: one consistent naming fewer pairs, one inconsistent -> the true caption wins outright
    a = [true_cap, [["size", "small"]], [["crown_color", "blue"]]]
    # a consistent distractor naming the same pairs ties (1/2); one naming a rarer extra pair beats it (0)
    b = [true_cap, [["size", "small"], ["crown_color", "red"]]]
    c = [true_cap, [["crown_color", "red"], ["size", "small"], ["wing_color", "black"]]]
    e = oracle_lr_expected([TRUE] * 3, [a, b, c], prior)
    assert e.tolist() == [1.0, 0.5, 0.0]
    # the uniform oracle cannot tell a's consistent distractor from the true caption
    assert oracle_counts([TRUE], [a]).tolist() == [2]
    metas = [{"attributes": {k: ("red" if k == "crown_color" else None) for k in ATTRIBUTE_KEYS}}] * 3 + [
        {"attributes": {k: None for k in ATTRIBUTE_KEYS}}]
    f = value_frequencies(metas)
    assert f["crown_color"] == {"red": 0.75, "none": 0.25} and f["size"] == {"none": 1.0}


def test_probe_learns_a_separable_attribute_and_reports_the_majority():
    g = torch.Generator().manual_seed(0)
    x = torch.randn(600, 8, generator=g) * 3 + 5  # unstandardised on purpose
    proj = torch.randn(8, 3, generator=g)
    names = ["red", "blue", "green"]
    y = [names[k] for k in ((x - 5) @ proj).argmax(1).tolist()]
    xs_tr, xs_te = standardise(x[:400], x[400:])
    r = probe_attribute(xs_tr, y[:400], xs_te, y[400:], wds=(1e-4, 1e-2), iters=100)
    assert r["accuracy"] >= 0.9 and r["classes"] == 3 and r["wd"] in (1e-4, 1e-2)
    assert r["_test_logp"].shape == (200, 3) and sum(r["_prior"].values()) == pytest.approx(1.0)
    counts = {v: y[:400].count(v) for v in names}
    assert r["majority_value"] == max(counts, key=counts.get)
    assert r["majority"] == pytest.approx(np.mean([v == r["majority_value"] for v in y[400:]]))
    # a label the features do not carry stays near the majority class
    noise = [names[k] for k in torch.randint(0, 3, (600,), generator=g).tolist()]
    r = probe_attribute(xs_tr, noise[:400], xs_te, noise[400:], wds=(1e-2,), iters=50)
    assert r["accuracy"] < 0.6
    # probe_all: only rows that carry the attribute take part; unseen test values count as errors
    rows_tr = [{"a": v} if i % 2 else {} for i, v in enumerate(y[:400])]
    rows_te = [{"a": v} for v in y[400:]] + [{"a": "purple"}]
    res = probe_all(x[:400], rows_tr, torch.cat([x[400:], x[:1]]), rows_te, attrs=("a", "b"), wds=(1e-3,))
    assert set(res) == {"a"} and res["a"]["n_train"] == 200 and res["a"]["n_test"] == 201
    assert 0.85 <= res["a"]["accuracy"] <= 200 / 201
    summ = summarise_probes(res)
    assert summ["pooled"] == pytest.approx(res["a"]["accuracy"]) and summ["score"] <= 1


def test_probe_reader_ranks_by_likelihood_ratio():
    # one image, one attribute read with p(red) = 0.9, p(blue) = 0.1; prior 0.5 / 0.5
    logp = {"crown_color": torch.log(torch.tensor([[0.1, 0.9]]))}
    classes = {"crown_color": ["blue", "red"]}
    prior = {"crown_color": {"blue": 0.5, "red": 0.5}}
    sc = probe_reader_scores(logp, classes, prior, 0, [[["crown_color", "red"]], [["crown_color", "blue"]],
                                                         [["size", "small"]], [["crown_color", "purple"]]])
    assert sc[0] == pytest.approx(np.log(0.9 / 0.5)) and sc[1] == pytest.approx(np.log(0.1 / 0.5))
    assert sc[2] == 0.0 and sc[3] == pytest.approx(0.0)  # no probe for size; an unseen value: floor / floor
    assert sc[0] > max(sc[1:])


def test_word_pooling_ignores_padding():
    w = torch.tensor([[[1.0, 3.0, 0.0], [-2.0, -4.0, 0.0]], [[5.0, 0.0, 0.0], [-1.0, 0.0, 0.0]]])  # [B=2, D=2, T=3]
    out = masked_word_pool(w, torch.tensor([2, 1]))
    assert out.tolist() == [[2.0, -3.0, 3.0, -2.0], [5.0, -1.0, 5.0, -1.0]]


# --------------------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    root = str(tmp_path_factory.mktemp("ds"))
    write_tiny_dataset(root, n_train=12, n_test=6)
    # the frozen backbone features the training writes (train.py features), from the pretrained Lite0
    from mirrorgan_train.data import CaptionSet, load_images, to_unit
    from mirrorgan_train.models import Backbone

    caps = CaptionSet(root)
    bb = Backbone(pretrained=True).eval()
    out = {}
    with torch.no_grad():
        for split in ("train", "test"):
            l, g = bb(to_unit(load_images(root, split, caps)))
            out[split] = {"local": l.half(), "global": g}
    torch.save(out, os.path.join(root, "lite0_features.pt"))
    return root


@pytest.fixture(scope="module")
def tiny_run(tiny, tmp_path_factory):
    """A random-weight run directory: config.json, stem.pt, gan.pt (stage 1 phase) and two G snapshots."""
    from mirrorgan_train.data import CaptionSet
    from mirrorgan_train.models import CNN_ENCODER, G_NET, RNN_ENCODER, ModelConfig, make_discriminators

    torch.manual_seed(0)
    caps = CaptionSet(tiny)
    cfg = ModelConfig(n_words=caps.n_words, embedding_dim=16, nef=32, ngf=4, ndf=4)
    run = str(tmp_path_factory.mktemp("run"))
    with open(os.path.join(run, "config.json"), "w") as f:
        json.dump(cfg.to_dict(), f)
    torch.save({"text_encoder": RNN_ENCODER(cfg.n_words, cfg.embedding_dim, nhidden=cfg.nef).state_dict(),
                "image_encoder": CNN_ENCODER(cfg.nef).state_dict(), "it": 7}, os.path.join(run, "stem.pt"))
    torch.save({"G": G_NET(cfg).state_dict(), "D": [d.state_dict() for d in make_discriminators(cfg)], "stages": 1,
                "it": 5, "config": cfg.to_dict()}, os.path.join(run, "gan.pt"))
    os.makedirs(os.path.join(run, "snapshots"))
    for it in (2, 10):
        torch.save({"G": G_NET(cfg).state_dict(), "it": it, "stages": 1, "config": cfg.to_dict()},
                   os.path.join(run, "snapshots", f"g_it{it:06d}.pt"))
    return run


def test_diagnose_end_to_end(tiny, tiny_run, tmp_path):
    out = str(tmp_path / "diag")
    r = G.main(["--data", tiny, "--run", tiny_run, "--out", out, "--images", "6", "--probe-train", "100",
                "--probe-iters", "20", "--probe-wds", "1e-3", "--d-images", "6", "--g-images", "6",
                "--classifier-train", "12", "--ceiling-iters", "3", "--threads", "1"])
    j = json.load(open(os.path.join(out, "diagnosis.json")))
    md = open(os.path.join(out, "diagnosis.md")).read()
    assert j["skipped"] == {} and "run" in j["text_encoder"]
    p1 = j["text_probes"]
    assert p1["test_captions"] == 60 and {"sentence", "words"} <= set(p1)
    assert set(p1["sentence"]) <= set(ATTRIBUTE_KEYS) and 0 <= p1["sentence_summary"]["pooled"] <= 1
    o = j["oracle"]
    assert o["true_caption_inconsistent"] == 0 and o["images"] == 6
    assert 0.01 <= o["all_attributes"]["expected_top1"] <= 1
    assert o["colour_only"]["expected_top1"] <= o["all_attributes"]["expected_top1"] + 1e-9
    assert 0 <= o["likelihood_ratio"]["expected_top1"] <= 1
    assert j["image_probes"]["train_images"] == 12 and 0 <= j["image_probes"]["global_local_summary"]["mean"] <= 1
    assert set(j["image_probes"]["reader"]) == {"global", "global_local"}
    assert not any(k.startswith("_") for r in j["image_probes"]["global"].values() for k in r)
    assert 0 <= j["damsm"]["r_precision"]["mean"] <= 1 and j["damsm"]["images"] == 6
    d = j["discriminator"]
    assert set(d["stages"]) == {"1"} and d["stages"]["1"]["eval"]["n"] == 6
    g = j["generator"]
    assert [s["it"] for s in g["snapshots"]] == [2, 5, 10] and g["snapshots"][1]["label"] == "gan.pt"
    assert 0 <= g["real_64"]["overall"] <= 1 and 0 <= g["snapshots"][0]["recall"] <= 1
    c = j["damsm_ceiling"]
    assert c["train_images"] == 12 and c["batch"] == 12 and c["iterations"] == 3
    assert {"truth_frozen_stem", "truth_joint_stem"} <= set(c) and c["truth_frozen_stem"]["n"] == 6
    assert set(c["feature_heads"]) == {"global_linear", "global_mlp", "local_conv"}
    assert all(0 <= r["mean"] <= 1 and np.isfinite(r["last_loss"]) for r in c["feature_heads"].values())
    assert "7. DAMSM ceiling" in md and "7. DAMSM head" in md
    assert len(j["links"]) == 4 and j["weakest_link"].split(":")[0] in {x["link"] for x in j["links"]}
    assert "weakest link: " in md and "| link |" in md
    assert r["weakest_link"] == j["weakest_link"]
    # the report can be rewritten from the JSON alone
    os.remove(os.path.join(out, "diagnosis.md"))
    again = G.main(["--out", out, "--report-only"])
    assert open(os.path.join(out, "diagnosis.md")).read() == md and again["weakest_link"] == j["weakest_link"]


def test_parts_are_skipped_with_a_message(tiny, tmp_path):
    out = str(tmp_path / "diag")
    j = G.main(["--data", tiny, "--run", str(tmp_path / "none"), "--out", out, "--images", "6", "--parts",
                "1,2,4,5,6,7", "--threads", "1"])
    assert set(j["skipped"]) == {"1", "4", "5", "6", "7"} and "oracle" in j
    md = open(os.path.join(out, "diagnosis.md")).read()
    assert "part 5 skipped" in md and "weakest link: not determined" in md


# --------------------------------------------------------------------------------------------------
# Part 7: the DAMSM ceiling
# --------------------------------------------------------------------------------------------------
def test_attribute_onehot_marks_each_value_and_ignores_unseen_ones():
    from mirrorgan_train.diagnosis.ceiling import attribute_onehot, attribute_vocabulary

    train = [{"attributes": {"wing_color": "red", "eye_ring": True}},
             {"attributes": {"wing_color": "blue", "eye_ring": None}}]
    vocab = attribute_vocabulary(train)
    assert vocab == {("eye_ring", "True"): 0, ("wing_color", "red"): 1, ("eye_ring", "None"): 2,
                     ("wing_color", "blue"): 3}
    x = attribute_onehot(train + [{"attributes": {"wing_color": "green", "eye_ring": True}}], vocab)
    assert x.tolist() == [[1, 1, 0, 0], [0, 0, 1, 1], [1, 0, 0, 0]]


def test_fit_learns_codes_that_match_their_sentences():
    """Sentences are fixed random directions of 4 classes; codes from a one-hot of the class must learn to point at
    them: the sentence loss falls and each code is nearest its own class's sentence."""
    from mirrorgan_train.diagnosis.ceiling import TruthHead, fit

    torch.manual_seed(0)
    n, classes = 64, np.arange(64) % 4
    sent = torch.randn(4, 8)
    x = torch.nn.functional.one_hot(torch.from_numpy(classes), 4).float()
    head = TruthHead(4, 8)
    first = fit(lambda idx: head(x[idx]), head.parameters(), lambda idx, rng: sent[classes[idx]], np.arange(n), n,
                1, 8, 0.0, seed=0)
    last = fit(lambda idx: head(x[idx]), head.parameters(), lambda idx, rng: sent[classes[idx]], np.arange(n), n,
               300, 8, 5e-2, seed=0)
    assert last < first
    with torch.no_grad():
        sims = torch.nn.functional.normalize(head(torch.eye(4)), dim=1) @ torch.nn.functional.normalize(sent, dim=1).T
    assert sims.argmax(1).tolist() == [0, 1, 2, 3]
