"""Diagnose each link of the text-to-image chain (caption -> STEM -> DAMSM / D / G -> image attributes).

  cd training && OMP_WAIT_POLICY=PASSIVE .venv/bin/python -m mirrorgan_train.diagnose --data ../data/synthbirds \\
      --run ../runs/default [--weights ../Weights/synthbirds] [--text-encoder auto|run|weights] \\
      --out ../docs/eval/diagnosis [--parts 1,2,3,4,5,6,7] [--threads 1]

Writes <out>/diagnosis.json and <out>/diagnosis.md (markdown tables) and prints the tables. Each part is skipped,
with a message, when its input is missing:

1. Text probes: multinomial logistic-regression probes (standardised features, full-batch L-BFGS, L2 penalty
   chosen per attribute on a held-out fifth of the training captions) read each attribute back from the STEM
   feature of a caption that NAMES it (meta "named"): (a) the sentence feature, (b) mean and max of the word
   features over the caption's words. Trained on --probe-train train captions, tested on all test captions;
   beside the majority class of the training captions.
2. Attribute-oracle R-precision ceiling on exactly the evaluation's 500 images and candidates
   (evaluate.TestSet): a reader that knows image i's true attributes and the (attribute, value) pairs each
   candidate caption names; a candidate is consistent when all its pairs are true of image i; choosing uniformly
   among consistent candidates gives top-1 = 1 / #consistent. Also a colour-only reader, and a perfect reader
   that ranks the consistent candidates by likelihood ratio (sum of -log p(value) over the named pairs, p the
   values' frequency over train images): a caption naming more or rarer true pairs is the likelier one.
3. Image probes: the same probes over the frozen Lite0 features (lite0_features.pt) of the train renders, tested
   on the test renders: (a) global 1280-d, (b) global + the local map average-pooled to 4x4. Then the "probe
   reader": R-precision on the evaluation's candidates when each caption is scored by
   sum over its named pairs of log p_probe(value | image) - log p(value): what a reader of the frozen features
   that knows the attribute grammar reaches.
4. DAMSM real-image R-precision of the STEM (text encoder + image heads) on the evaluation's images and
   candidates (evaluate.r_precision_hits), and its ratios to the oracles and to the global-feature probe reader.
5. Discriminator matching (run/gan.pt): for real test images (64/128/256 pyramid), COND_DNET score with the
   image's own caption vs a caption of another class (the first R-precision distractor); share matched >
   mismatched, with BatchNorm on running statistics (eval) and on batch statistics of 8 (as in training).
6. Generator attribute recall over training (run/snapshots/g_it*.pt and run/gan.pt): 64^2 images for the
   evaluation captions (fixed z, eps = 0), upsampled to 256, classified by evaluate.train_classifier's
   attribute classifier; recall of the named pairs (evaluate.attribute_round_trip), beside real test images
   downsampled to 64 and upsampled back (the 64^2 ceiling).
7. Where the DAMSM loses (diagnosis/ceiling.py): image codes trained against the STEM's sentence features with the
   DAMSM sentence loss, evaluated like part 4: from the images' TRUE attributes with the STEM frozen (the ceiling of
   any image encoder under this text encoder) and with a copy of the STEM trained too (what retraining the text
   side adds); and linear, MLP and small convolutional heads over the frozen Lite0 features (what a richer head
   reads out of the frozen trunk). --ceiling-iters iterations of batch --ceiling-batch each.

"weakest link": each measured link gets a score (0 = chance, 1 = its ceiling): text probe (sentence feature,
accuracy over all named test pairs vs the majority class; attributes named with one value only left out),
DAMSM (R-precision, chance 1 %, ceiling the better of the uniform and likelihood-ratio oracles),
D matching (chance 0.5, ceiling 1), G recall (chance: majority values, ceiling: real 64^2 images); the lowest
score is named.

(The parts live in mirrorgan_train/diagnosis/: probes.py (parts 1 and 3), stem.py (the text encoder), oracle.py
(part 2, the probe reader), discriminator.py (part 5), generator.py (part 6), ceiling.py (part 7), report.py; this
file runs them.)
"""
from __future__ import annotations

import argparse
import json
import os
import sys
import time

import numpy as np
import torch

from . import data as D
from .attributes_classifier import load_meta
from .diagnosis import log
from .diagnosis.ceiling import part_ceiling
from .diagnosis.discriminator import part_discriminator
from .diagnosis.generator import part_generator
from .diagnosis.oracle import part_oracle, probe_reader_hits, strip_private, value_frequencies
from .diagnosis.probes import PROBE_WDS, image_rows, lite0_split, named_rows, pooled_features, probe_all, \
    summarise_probes
from .diagnosis.report import write_report
from .diagnosis.stem import caption_features, choose_stem, load_run_stem


# ==================================================================================================
# CLI
# ==================================================================================================
def main(argv=None):
    from . import evaluate as E

    p = argparse.ArgumentParser(prog="mirrorgan_train.diagnose", description=__doc__.split("\n")[0])
    p.add_argument("--data", default="../data/synthbirds")
    p.add_argument("--run", default="../runs/default")
    p.add_argument("--weights", default=None, help="a model directory (docs/MODEL_FORMAT.md)")
    p.add_argument("--text-encoder", dest="text_encoder", choices=("auto", "run", "weights"), default="auto",
                   help="STEM for parts 1 and 4: auto = --weights when given, else --run's stem.pt")
    p.add_argument("--out", default="../docs/eval/diagnosis")
    p.add_argument("--parts", default="1,2,3,4,5,6,7")
    p.add_argument("--images", type=int, default=500, help="evaluation images (evaluate.TestSet)")
    p.add_argument("--probe-train", dest="probe_train", type=int, default=20000, help="train captions for part 1")
    p.add_argument("--probe-iters", dest="probe_iters", type=int, default=100)
    p.add_argument("--probe-wds", dest="probe_wds", default=",".join(str(w) for w in PROBE_WDS))
    p.add_argument("--image-probe-train", dest="image_probe_train", type=int, default=0,
                   help="train renders for part 3 (0: all in lite0_features.pt)")
    p.add_argument("--d-images", dest="d_images", type=int, default=500)
    p.add_argument("--g-images", dest="g_images", type=int, default=500)
    p.add_argument("--max-snapshots", dest="max_snapshots", type=int, default=8)
    p.add_argument("--classifier-train", dest="classifier_train", type=int, default=5000)
    p.add_argument("--ceiling-iters", dest="ceiling_iters", type=int, default=4000, help="part 7: iterations per fit")
    p.add_argument("--ceiling-batch", dest="ceiling_batch", type=int, default=48, help="part 7: batch")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--reuse", default="",
                   help="a diagnosis.json whose results of parts not measured now are kept (e.g. part 3, the "
                        "frozen-feature probes, which do not depend on the trained model)")
    p.add_argument("--report-only", dest="report_only", action="store_true",
                   help="rewrite diagnosis.md (and the links) from <out>/diagnosis.json without measuring")
    args = p.parse_args(argv)
    if args.report_only:
        with open(os.path.join(args.out, "diagnosis.json")) as f:
            results = json.load(f)
        write_report(results, args.out)
        return results
    torch.set_num_threads(args.threads)
    parts = {int(x) for x in args.parts.split(",") if x.strip()}
    wds = tuple(float(w) for w in args.probe_wds.split(","))
    t_start = time.time()
    os.makedirs(args.out, exist_ok=True)
    results: dict = {"data": os.path.abspath(args.data), "run": os.path.abspath(args.run) if args.run else None,
                     "weights": os.path.abspath(args.weights) if args.weights else None, "skipped": {}}
    if args.reuse:  # keep the earlier file's measurements; the parts measured now overwrite theirs
        with open(args.reuse) as f:
            kept = json.load(f)
        for k in ("data", "run", "weights", "skipped", "links", "weakest_link", "runtime_s", "threads", "images",
                  "text_encoder"):
            kept.pop(k, None)
        results.update(kept)
        results["reused_from"] = os.path.abspath(args.reuse)

    def skip(part, msg):
        results["skipped"][str(part)] = msg
        log(f"part {part} skipped: {msg}")

    caps = D.CaptionSet(args.data)
    cpi = caps.cpi
    ts = E.TestSet(args.data, args.images, seed=args.seed)
    test_meta = load_meta(args.data, "test")
    lite0 = E.load_lite0_cache(args.data) if parts & {3, 4, 6, 7} else None
    if lite0 is None and parts & {3, 4, 6, 7}:
        log(f"no {os.path.join(args.data, 'lite0_features.pt')} (or unreadable)")
    stem = choose_stem(args) if parts & {1, 4, 7} else None
    if stem is not None:
        results["text_encoder"] = stem.source
        log(f"text encoder: {stem.source}")
    sent_test = words_test = None

    # ---- 1. text probes
    if 1 in parts:
        if stem is None:
            skip(1, "no text encoder (--weights model directory or --run stem.pt + config.json)")
        else:
            t0 = time.time()
            train_meta = load_meta(args.data, "train")
            n_all = len(caps.captions["train"])
            rng = np.random.default_rng(args.seed)
            tr_idx = np.sort(rng.choice(n_all, min(args.probe_train, n_all), replace=False))
            rows_tr = named_rows(train_meta, tr_idx, cpi)
            rows_te = named_rows(test_meta, range(len(caps.captions["test"])), cpi)
            s_tr, w_tr = caption_features(stem.text_encoder, [caps.captions["train"][j] for j in tr_idx])
            sent_test, words_test = caption_features(stem.text_encoder, caps.captions["test"])
            log(f"part 1: STEM features of {len(tr_idx)} train and {len(rows_te)} test captions in "
                f"{time.time() - t0:.0f}s")
            r1 = {"train_captions": int(len(tr_idx)), "test_captions": len(rows_te), "wds": list(wds)}
            r1["sentence"] = probe_all(s_tr, rows_tr, sent_test, rows_te, wds=wds, iters=args.probe_iters,
                                       seed=args.seed, tag="sentence")
            r1["words"] = probe_all(w_tr, rows_tr, words_test, rows_te, wds=wds, iters=args.probe_iters,
                                    seed=args.seed, tag="words")
            r1["sentence_summary"] = summarise_probes(r1["sentence"])
            r1["words_summary"] = summarise_probes(r1["words"])
            r1["seconds"] = time.time() - t0
            results["text_probes"] = r1
            del train_meta

    # ---- 2. attribute oracle
    if 2 in parts:
        results["oracle"] = part_oracle(ts, test_meta, args.seed, value_frequencies(load_meta(args.data, "train")))
        o = results["oracle"]
        log(f"part 2: oracle top-1 {o['all_attributes']['expected_top1']:.4f} (colour-only "
            f"{o['colour_only']['expected_top1']:.4f}, likelihood-ratio {o['likelihood_ratio']['expected_top1']:.4f}); "
            f"images with a consistent distractor {o['all_attributes']['share_with_consistent_distractor']:.3f}")

    # ---- 3. image probes
    if 3 in parts:
        tr_c, te_c = lite0_split(lite0, "train"), lite0_split(lite0, "test")
        if tr_c is None or te_c is None:
            skip(3, "lite0_features.pt (train and test) is missing")
        else:
            t0 = time.time()
            n_tr = tr_c["global"].shape[0] if not args.image_probe_train else min(args.image_probe_train,
                                                                                   tr_c["global"].shape[0])
            n_te = te_c["global"].shape[0]
            rows_tr = image_rows(load_meta(args.data, "train", n_tr))
            rows_te = image_rows(test_meta[:n_te])
            r3 = {"train_images": n_tr, "test_images": n_te, "wds": list(wds)}
            g_tr, g_te = tr_c["global"][:n_tr].float(), te_c["global"].float()
            r3["global"] = probe_all(g_tr, rows_tr, g_te, rows_te, wds=wds, iters=args.probe_iters, seed=args.seed,
                                     tag="image global", keep=True)
            gl_tr = pooled_features({"local": tr_c["local"][:n_tr], "global": tr_c["global"][:n_tr]})
            gl_te = pooled_features(te_c)
            r3["global_local"] = probe_all(gl_tr, rows_tr, gl_te, rows_te, wds=wds, iters=args.probe_iters,
                                           seed=args.seed, tag="image global+local", keep=True)
            del gl_tr, gl_te
            # the probe reader: R-precision when the captions are ranked by what the probes read in the image
            r3["reader"] = {}
            if n_te >= ts.n:
                for kind in ("global", "global_local"):
                    hits = probe_reader_hits(r3[kind], ts, test_meta)
                    fs = E.fold_stats(hits, seed=args.seed)
                    r3["reader"][kind] = {k: fs[k] for k in ("mean", "std", "n")}
                    log(f"part 3: probe reader ({kind}) R-precision {fs['mean']:.4f} ± {fs['std']:.4f}")
            r3["global"], r3["global_local"] = strip_private(r3["global"]), strip_private(r3["global_local"])
            r3["global_summary"] = summarise_probes(r3["global"])
            r3["global_local_summary"] = summarise_probes(r3["global_local"])
            r3["seconds"] = time.time() - t0
            results["image_probes"] = r3

    # ---- 4. DAMSM real-image R-precision
    if 4 in parts:
        if stem is None or stem.image_encoder is None:
            skip(4, "no STEM with image heads (--weights, or --run stem.pt with image_encoder)")
        else:
            from .models import Backbone

            t0 = time.time()
            bb = stem.backbone if stem.backbone is not None else Backbone(pretrained=True).eval()
            real = E.RealFeatures(ts)
            feats = real.backbone_features(bb, E.state_digest(bb), E.Eta(), 16, lite0)
            with torch.no_grad():
                codes = E.damsm_codes(stem.image_encoder, feats["local"], feats["global"])
            if sent_test is None:
                sent_test, _ = caption_features(stem.text_encoder, ts.all_ids)
            hits = E.r_precision_hits(codes, sent_test, ts)
            rp = E.fold_stats(hits, seed=args.seed)
            r4 = {"r_precision": {k: rp[k] for k in ("mean", "std", "folds", "n")}, "hits": int(hits.sum()),
                  "images": ts.n, "seconds": time.time() - t0}
            if "oracle" in results:
                r4["ratio_to_oracle"] = rp["mean"] / results["oracle"]["all_attributes"]["expected_top1"]
            lro = results.get("oracle", {}).get("likelihood_ratio")
            if lro and lro["expected_top1"] > 0:
                r4["ratio_to_likelihood_ratio_oracle"] = rp["mean"] / lro["expected_top1"]
            reader = results.get("image_probes", {}).get("reader", {}).get("global")
            if reader and reader["mean"] > 0:
                r4["ratio_to_global_probe_reader"] = rp["mean"] / reader["mean"]
            results["damsm"] = r4
            log(f"part 4: DAMSM real-image R-precision {rp['mean']:.4f} ± {rp['std']:.4f} ({int(hits.sum())} hits)")

    # ---- 7. where the DAMSM loses: image side or text side
    if 7 in parts:
        if stem is None:
            skip(7, "no text encoder (--weights model directory or --run stem.pt + config.json)")
        else:
            results["damsm_ceiling"] = part_ceiling(args, ts, stem, caps, lite0, load_meta(args.data, "train"))

    # ---- 5 and 6 need the run's own STEM (the text features the GAN was trained with)
    run_stem = load_run_stem(args.run) if parts & {5, 6} else None
    if 5 in parts:
        if not args.run or not os.path.exists(os.path.join(args.run, "gan.pt")):
            skip(5, f"no {os.path.join(args.run or '?', 'gan.pt')}")
        elif run_stem is None:
            skip(5, f"no {os.path.join(args.run, 'stem.pt')} + config.json (the GAN's text encoder)")
        else:
            t0 = time.time()
            results["discriminator"] = part_discriminator(args, ts, run_stem)
            results["discriminator"]["seconds"] = time.time() - t0
    if 6 in parts:
        if run_stem is None:
            skip(6, f"no {os.path.join(args.run or '?', 'stem.pt')} + config.json (the GAN's text encoder)")
        else:
            t0 = time.time()
            r6 = part_generator(args, ts, run_stem, lite0)
            if "skipped" in r6:
                skip(6, r6.pop("skipped"))
            else:
                r6["seconds"] = time.time() - t0
                results["generator"] = r6

    results["images"] = ts.n
    results["runtime_s"] = time.time() - t_start
    results["threads"] = args.threads
    write_report(results, args.out)
    log(f"wrote {os.path.join(args.out, 'diagnosis.json')} and diagnosis.md in {results['runtime_s'] / 60:.1f} min")
    return results


if __name__ == "__main__":
    sys.exit(0 if main() is not None else 1)
