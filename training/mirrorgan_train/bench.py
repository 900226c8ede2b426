"""Side-by-side CPU benchmark: the Swift runtime, PyTorch (eager, the reference modules of models.py) and
ONNX Runtime (the same modules exported with torch.onnx.export), in one run, on the same machine, thread
count, weights and inputs (docs/PERFORMANCE.md; `make bench`).

For each configuration:
  official-birds  the official birds widths (ngf 32, R_NUM 2, nef 256, n_words 5450) with random weights,
                  built here and exported to a temporary model directory that the Swift bench loads;
  default         Weights/synthbirds (skipped while that directory is incomplete, e.g. during training);
  converted-birds the layout `make convert` writes for a MirrorGAN birds model (Inception-v3 DAMSM trunk, STREAM on
                  ResNet-152, official birds widths, GLAM), random weights written by the Swift side
                  (`mirrorgan bench --save-model`); Swift only (PyTorch and ORT columns empty);
  converted-coco  the same for an AttnGAN COCO release (ngf 48, R_NUM 3, 27,297 words, no STREAM); Swift only.
Inputs: caption token ids 1..18 (T = 18), z and eps from MirrorRNG(seed 0) (rng.py, the Swift twin).
The three generators' 256² images are compared (max |diff|) to show that they computed the same thing.

    python -m mirrorgan_train.bench --threads 2 --iterations 5 [--configs official-birds,default]
                                    [--swift .build/release/mirrorgan] [--write-docs docs/PERFORMANCE.md]
"""
from __future__ import annotations

import argparse
import json
import os
import re
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import warnings

import torch

from .fixtures import randomize_bn  # the same non-trivial BN statistics as the parity fixtures

from . import rng as mrng
from .bench_report import extra_lines, fmt, machine_line, summary, table, weights_mib, write_docs
from .export import write_model_dir
from .models import (CAPTION_CNN, CAPTION_RNN, CNN_ENCODER, G_NET, RNN_ENCODER, Backbone, ModelConfig, weights_init)

REPO = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
ALLOC_COUNTER = os.path.join(REPO, ".build", "alloccount.so")
T_TOKENS = 18
SWIFT_ONLY = ("converted-birds", "converted-coco")  # the converter's layout, random weights written by the Swift side


def load_safetensors(path):
    from safetensors.torch import load_file
    return load_file(path)


# ------------------------------------------------------------------------------------------------
# Models for one configuration
# ------------------------------------------------------------------------------------------------
@torch.no_grad()
def official_birds(out_dir):
    """Random-weight official-birds modules, written as a model directory for the Swift side."""
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    cfg = ModelConfig.official_birds()
    text = RNN_ENCODER(cfg.n_words, cfg.embedding_dim, nhidden=cfg.nef)
    gen = G_NET(cfg)
    gen.apply(weights_init)
    randomize_bn(gen, g)
    backbone = Backbone(pretrained=False)
    randomize_bn(backbone, g)
    img_enc = CNN_ENCODER(cfg.nef)
    cap_cnn = CAPTION_CNN(cfg.cap_embed)
    randomize_bn(cap_cnn, g)
    cap_rnn = CAPTION_RNN(cfg.cap_embed, cfg.cap_hidden, cfg.n_words, max_seq_length=cfg.max_seq_length)
    for m in (text, gen, backbone, img_enc, cap_cnn, cap_rnn):
        m.eval()
    vocab = ["<end>"] + [f"w{i}" for i in range(1, cfg.n_words)]
    bank = {"captions": [[1 + (7 * i + 3 * k) % (cfg.n_words - 1) for k in range(5 + i % 13)] for i in range(200)],
            "class_ids": [i % 50 for i in range(200)]}
    write_model_dir(out_dir, cfg, {"text_encoder": text.state_dict(), "generator": gen.state_dict(),
                                   "backbone": backbone.trunk_state_dict(), "image_encoder": img_enc.state_dict(),
                                   "stream_encoder": cap_cnn.state_dict(), "stream_decoder": cap_rnn.state_dict()},
                    vocab, bank, "official-birds-random", "random weights at the official birds widths",
                    stream_end_token=False)
    return cfg, dict(text=text, gen=gen, backbone=backbone, img_enc=img_enc, cap_cnn=cap_cnn, cap_rnn=cap_rnn,
                     bank=bank["captions"])


@torch.no_grad()
def from_directory(model_dir):
    """The modules of an exported model directory (Weights/synthbirds)."""
    with open(os.path.join(model_dir, "model.json")) as f:
        mj = json.load(f)
    t, gcfg, s = mj["text_encoder"], mj["generator"], mj["stream"]
    cfg = ModelConfig(n_words=t["n_words"], embedding_dim=t["embedding_dim"], nef=t["hidden_dim"],
                      words_num=t["words_num"], ngf=gcfg["ngf"], z_dim=gcfg["z_dim"],
                      condition_dim=gcfg["condition_dim"], r_num=gcfg["r_num"], branch_num=gcfg["branch_num"],
                      base_size=gcfg["base_size"], glam=gcfg["glam"], cap_embed=s["embed_size"],
                      cap_hidden=s["hidden_size"], max_seq_length=s["max_seq_length"])
    text = RNN_ENCODER(cfg.n_words, cfg.embedding_dim, nhidden=cfg.nef)
    text.load_state_dict(load_safetensors(os.path.join(model_dir, "text_encoder.safetensors")))
    gen = G_NET(cfg)
    gen.load_state_dict(load_safetensors(os.path.join(model_dir, "generator.safetensors")), strict=False)
    backbone = Backbone(pretrained=False)
    backbone.net.load_state_dict(load_safetensors(os.path.join(model_dir, "backbone.safetensors")), strict=False)
    cap_cnn = CAPTION_CNN(cfg.cap_embed)
    cap_cnn.load_state_dict(load_safetensors(os.path.join(model_dir, "stream_encoder.safetensors")))
    cap_rnn = CAPTION_RNN(cfg.cap_embed, cfg.cap_hidden, cfg.n_words, max_seq_length=cfg.max_seq_length)
    cap_rnn.load_state_dict(load_safetensors(os.path.join(model_dir, "stream_decoder.safetensors")))
    bb = mj["backbone"]
    img_enc = CNN_ENCODER.from_config(cfg.nef, bb["local_channels"], bb["global_channels"], mj.get("image_encoder"))
    img_enc.load_state_dict(load_safetensors(os.path.join(model_dir, "image_encoder.safetensors")))
    for m in (text, gen, backbone, img_enc, cap_cnn, cap_rnn):
        m.eval()
    with open(os.path.join(model_dir, "caption_bank.json")) as f:
        bank = json.load(f)["captions"]
    return cfg, dict(text=text, gen=gen, backbone=backbone, img_enc=img_enc, cap_cnn=cap_cnn, cap_rnn=cap_rnn,
                     bank=bank)


def inputs(cfg, mods):
    ids = [1 + i % (cfg.n_words - 1) for i in range(T_TOKENS)]
    z, eps = mrng.noise(mrng.image_seed(0, 0), cfg.z_dim, cfg.condition_dim)
    caps = torch.tensor([ids], dtype=torch.long)
    lens = torch.tensor([len(ids)])
    with torch.inference_mode():
        words, sent = mods["text"](caps, lens)
    mask = torch.zeros(1, len(ids), dtype=torch.bool)
    # R-precision candidates: 99 bank captions (the Swift side draws 99 by seed; the cost is the same).
    cand = mods["bank"][:99]
    cand_caps = torch.zeros(len(cand), max(len(c) for c in cand), dtype=torch.long)
    for r, c in enumerate(cand):
        cand_caps[r, : len(c)] = torch.tensor(c, dtype=torch.long)
    return dict(ids=ids, caps=caps, lens=lens, z=torch.tensor([z]), eps=torch.tensor([eps]),
                words=words.contiguous(), sent=sent.contiguous(), mask=mask,
                cand_caps=cand_caps, cand_lens=torch.tensor([len(c) for c in cand]))


def png_bytes(img):
    """[1, 3, H, W] in [-1, 1] → PNG bytes (PIL), as a PyTorch server would answer, at zlib level 1 (PIL exposes no
    zlib strategy; the Swift side uses level 1 with Z_RLE, faster and smaller on these images)."""
    import io

    from PIL import Image
    x = ((img[0].clamp(-1, 1) + 1.0) * 127.5).permute(1, 2, 0).to(torch.uint8).numpy()
    buf = io.BytesIO()
    Image.fromarray(x).save(buf, format="PNG", compress_level=1)  # the Swift server's zlib level
    return buf.getvalue()


# ------------------------------------------------------------------------------------------------
# Timing
# ------------------------------------------------------------------------------------------------
def median_ms(samples):
    return statistics.median(samples) * 1e3


def time_pytorch(mods, x, iterations, warmup, full):
    """The PyTorch side of every stage; with `full`, also the whole request as a PyTorch server would run it:
    text encoder → generator → PNG → backbone → STREAM greedy decoding → R-precision (the 99 candidates
    encoded as one batch, cosines with the image's DAMSM code)."""
    gen = mods["gen"]
    res = {k: [] for k in ("text_encoder", "generator_stage1", "generator_stage2", "generator_stage3", "generator",
                           "png_encode", "backbone", "stream_decoding", "r_precision", "request")}
    img = None
    with torch.inference_mode():
        for it in range(warmup + iterations):
            t = {}
            t_req = t0 = time.perf_counter()
            words, sent = mods["text"](x["caps"], x["lens"])
            t["text_encoder"] = time.perf_counter() - t0
            # The generator runs on the fixed features of inputs() so that all runtimes see the same numbers.
            t0 = time.perf_counter()
            c, _, _ = gen.ca_net(x["sent"], x["eps"])
            h = gen.h_net1(x["z"], c)
            i64 = gen.img_net1(h)
            t1 = time.perf_counter()
            h, _ = gen.h_net2(h, c, x["words"], x["mask"])
            i128 = gen.img_net2(h)
            t2 = time.perf_counter()
            h, _ = gen.h_net3(h, c, x["words"], x["mask"])
            img = gen.img_net3(h)
            t3 = time.perf_counter()
            t.update(generator_stage1=t1 - t0, generator_stage2=t2 - t1, generator_stage3=t3 - t2, generator=t3 - t0)
            if full:
                t0 = time.perf_counter()
                png_bytes(img)
                t["png_encode"] = time.perf_counter() - t0
                t0 = time.perf_counter()
                local, glob = mods["backbone"](img)
                t["backbone"] = time.perf_counter() - t0
                t0 = time.perf_counter()
                mods["cap_rnn"].sample(mods["cap_cnn"](glob), stop_at_end=False)
                t["stream_decoding"] = time.perf_counter() - t0
                t0 = time.perf_counter()
                _, code = mods["img_enc"](local, glob)
                _, cand = mods["text"](x["cand_caps"], x["cand_lens"])
                sims = torch.nn.functional.cosine_similarity(code, cand)
                true = torch.nn.functional.cosine_similarity(code, sent)
                int((sims > true).sum())
                t["r_precision"] = time.perf_counter() - t0
                t["request"] = time.perf_counter() - t_req
            if it >= warmup:
                for k, v in t.items():
                    res[k].append(v)
    return {k: median_ms(v) for k, v in res.items() if v}, img


class GeneratorImages(torch.nn.Module):
    """G_NET with the three images as outputs (what the Swift generator computes)."""

    def __init__(self, gen):
        super().__init__()
        self.gen = gen

    def forward(self, z, sent, words, mask, eps):
        imgs, _, _, _, _ = self.gen(z, sent, words, mask, eps=eps)
        return imgs[0], imgs[1], imgs[2]


class BackboneGlobal(torch.nn.Module):
    def __init__(self, bb):
        super().__init__()
        self.bb = bb

    def forward(self, img):
        local, glob = self.bb(img)
        return local, glob


def ort_session(path, threads):
    import onnxruntime as ort
    so = ort.SessionOptions()
    so.intra_op_num_threads = threads
    so.inter_op_num_threads = 1
    so.execution_mode = ort.ExecutionMode.ORT_SEQUENTIAL
    so.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
    return ort.InferenceSession(path, so, providers=["CPUExecutionProvider"])


def time_ort(mods, x, img, threads, iterations, warmup, tmp, full):
    """Export G (and the backbone) to ONNX, run with ONNX Runtime; returns ({stage: ms}, img256, notes)."""
    res, notes, out_img = {}, [], None
    gpath = os.path.join(tmp, "generator.onnx")
    feeds = dict(z=x["z"], sent=x["sent"], words=x["words"], mask=x["mask"], eps=x["eps"])
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        # The wrappers are put in eval mode: export restores the wrapper's mode on every submodule afterwards.
        torch.onnx.export(GeneratorImages(mods["gen"]).eval(), tuple(feeds.values()), gpath, input_names=list(feeds),
                          output_names=["img64", "img128", "img256"], opset_version=13)
    sess = ort_session(gpath, threads)
    np_feeds = {k: v.numpy() for k, v in feeds.items()}
    times = []
    for it in range(warmup + iterations):
        t0 = time.perf_counter()
        outs = sess.run(None, np_feeds)
        if it >= warmup:
            times.append(time.perf_counter() - t0)
    res["generator"] = median_ms(times)
    out_img = torch.from_numpy(outs[2])
    if full:
        try:
            bpath = os.path.join(tmp, "backbone.onnx")
            with torch.no_grad(), warnings.catch_warnings():
                warnings.simplefilter("ignore")
                torch.onnx.export(BackboneGlobal(mods["backbone"]).eval(), (img,), bpath, input_names=["img"],
                                  output_names=["local", "global"], opset_version=13)
            bs = ort_session(bpath, threads)
            feed = {"img": img.numpy()}
            times = []
            for it in range(warmup + iterations):
                t0 = time.perf_counter()
                bs.run(None, feed)
                if it >= warmup:
                    times.append(time.perf_counter() - t0)
            res["backbone"] = median_ms(times)
        except Exception as e:  # noqa: BLE001 - reported, the generator numbers still stand
            notes.append(f"ORT backbone export failed: {type(e).__name__}: {str(e)[:200]}")
    return res, out_img, notes


def time_swift(swift, model_dir, threads, iterations, warmup, tmp, full):
    dump = os.path.join(tmp, "swift_images.safetensors")
    cmd = [swift, "bench", "--weights", model_dir, "--threads", str(threads), "--iterations", str(iterations),
           "--warmup", str(warmup), "--dump-images", dump]
    if not full:
        cmd.append("--generator-only")
    env = dict(os.environ)
    if os.path.exists(ALLOC_COUNTER):  # bench/alloccount.c, built by `make bench`
        env["LD_PRELOAD"] = ALLOC_COUNTER
    out = subprocess.run(cmd, check=True, capture_output=True, text=True, env=env).stdout
    res = {}
    for m in re.finditer(r"^(\w+)_ms_median=([0-9.]+)$", out, re.M):
        res[m.group(1)] = float(m.group(2))
    for key in ("sgemm_gmacs", "conv3x3_gmacs", "allocations_per_request", "generate_allocations_per_request"):
        m = re.search(rf"^{key}=([0-9.]+)$", out, re.M)
        if m:
            res[key] = float(m.group(1))
    rss = re.search(r"^peak_rss_mib=([0-9.]+)$", out, re.M)
    img = load_safetensors(dump)["image256"]
    return res, img, (float(rss.group(1)) if rss else None), out


def peak_rss_mib():
    with open("/proc/self/status") as f:
        for line in f:
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    return None


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--threads", default="1,2", help="thread counts, comma-separated (each gets its own tables)")
    ap.add_argument("--iterations", type=int, default=5)
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--configs", default="official-birds,default,converted-birds,converted-coco")
    ap.add_argument("--swift", default=os.path.join(REPO, ".build", "release", "mirrorgan"))
    ap.add_argument("--default-weights", default=os.path.join(REPO, "Weights", "synthbirds"))
    ap.add_argument("--generator-only", action="store_true", help="skip backbone and STREAM")
    ap.add_argument("--write-docs", default=None, help="replace the tables in this markdown file")
    ap.add_argument("--write-readme", default=None, help="replace the summary table in this markdown file")
    ap.add_argument("--json", default=None, help="also write the raw results here")
    a = ap.parse_args(argv)
    thread_counts = [int(t) for t in str(a.threads).split(",") if t.strip()]

    try:
        torch.set_num_interop_threads(1)
    except RuntimeError:
        pass
    full = not a.generator_only
    results, notes = {}, []
    tmp_root = tempfile.mkdtemp(prefix="mirrorgan-bench-")
    load_start = os.getloadavg()[0]
    try:
        for config in [c.strip() for c in a.configs.split(",") if c.strip()]:
            tmp = os.path.join(tmp_root, config)
            os.makedirs(tmp)
            if config == "official-birds":
                model_dir = os.path.join(tmp, "model")
                cfg, mods = official_birds(model_dir)
            elif config in SWIFT_ONLY:
                model_dir = os.path.join(tmp, "model")
                subprocess.run([a.swift, "bench", "--config", config, "--save-model", model_dir], check=True,
                               capture_output=True)
                with open(os.path.join(model_dir, "model.json")) as f:
                    meta = json.load(f)
                for threads in thread_counts:
                    key = f"{config}@{threads}"
                    print(f"[{key}] Swift ...", flush=True)
                    sw, _, sw_rss, _ = time_swift(a.swift, model_dir, threads, a.iterations, a.warmup, tmp, full)
                    results[key] = dict(config=config, threads=threads, swift=sw, pytorch={}, ort={},
                                        swift_rss_mib=sw_rss,
                                        max_abs_diff_swift_vs_pytorch=None, max_abs_diff_ort_vs_pytorch=None,
                                        ngf=meta["generator"]["ngf"], r_num=meta["generator"]["r_num"],
                                        nef=meta["text_encoder"]["hidden_dim"], n_words=meta["text_encoder"]["n_words"],
                                        weights_mib=weights_mib(model_dir), seconds=0.0)
                    print(table(results[key]))
                    print(extra_lines(results[key]), flush=True)
                shutil.rmtree(model_dir, ignore_errors=True)
                continue
            elif config == "default":
                model_dir = a.default_weights
                if not os.path.exists(os.path.join(model_dir, "MANIFEST")):
                    notes.append(f"default: skipped ({model_dir} is not a complete model directory yet)")
                    print(notes[-1], flush=True)
                    continue
                cfg, mods = from_directory(model_dir)
            else:
                raise SystemExit(f"unknown config {config}")
            x = inputs(cfg, mods)
            for threads in thread_counts:
                torch.set_num_threads(threads)
                key = f"{config}@{threads}"
                t_start = time.time()
                print(f"[{key}] PyTorch ...", flush=True)
                pt, pt_img = time_pytorch(mods, x, a.iterations, a.warmup, full)
                print(f"[{key}] ONNX Runtime ...", flush=True)
                ox, ort_img, n = time_ort(mods, x, pt_img, threads, a.iterations, a.warmup, tmp, full)
                notes += [f"{key}: {s}" for s in n]
                print(f"[{key}] Swift ...", flush=True)
                sw, sw_img, sw_rss, sw_out = time_swift(a.swift, model_dir, threads, a.iterations, a.warmup, tmp, full)
                diff_pt = float((sw_img - pt_img).abs().max())
                diff_ort = float((ort_img - pt_img).abs().max())
                results[key] = dict(config=config, threads=threads, swift=sw, pytorch=pt, ort=ox, swift_rss_mib=sw_rss,
                                    max_abs_diff_swift_vs_pytorch=diff_pt, max_abs_diff_ort_vs_pytorch=diff_ort,
                                    ngf=cfg.ngf, r_num=cfg.r_num, nef=cfg.nef, n_words=cfg.n_words,
                                    weights_mib=weights_mib(model_dir), seconds=time.time() - t_start)
                print(f"\n== {config}: ngf {cfg.ngf}, R_NUM {cfg.r_num}, nef {cfg.nef}, n_words {cfg.n_words}, "
                      f"{threads} thread(s), median of {a.iterations} ==")
                print(table(results[key]))
                print(extra_lines(results[key]), flush=True)
    finally:
        shutil.rmtree(tmp_root, ignore_errors=True)

    when = time.strftime("%Y-%m-%d %H:%M")
    text = [f"Measured {when} by `make bench` (threads {','.join(map(str, thread_counts))}, median of "
            f"{a.iterations} after {a.warmup} warm-up).",
            f"Machine: {machine_line()}; load average at start {load_start:.2f}.", "", summary(results), ""]
    for key, r in results.items():
        text += [f"#### {r['config']}, {r['threads']} thread(s) (ngf {r['ngf']}, R_NUM {r['r_num']}, nef {r['nef']}, "
                 f"n_words {r['n_words']})", "", table(r), "", extra_lines(r), ""]
    for n in notes:
        text.append(f"- {n}")
    text = "\n".join(text).rstrip() + "\n"
    if a.write_docs:
        write_docs(a.write_docs, text)
        print(f"tables written to {a.write_docs}")
    if a.write_readme:
        write_docs(a.write_readme, f"Measured {when} by `make bench` on {machine_line()}.\n\n" + summary(results) + "\n")
        print(f"summary written to {a.write_readme}")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(dict(results=results, notes=notes, threads=thread_counts, when=when), f, indent=2)
    print(summary(results))
    print(f"PyTorch process peak RSS {fmt(peak_rss_mib())} MiB")


if __name__ == "__main__":
    sys.exit(main())
