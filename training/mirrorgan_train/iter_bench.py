"""Seconds per training iteration of every training stage, on synthetic data, under several CPU execution
settings (fp32, channels-last, bf16 autocast, bf16 + channels-last).

    python -m mirrorgan_train.iter_bench [--threads 2] [--iters 5] [--warmup 2] [--json out.json]
                                         [--batch-scale 1.0] [--stages features,gan3] [--settings fp32,bf16]

Each stage runs what the matching loop of train.py runs per iteration, with the same model classes, loss
functions, optimisers and hyper-parameters (defaults of train.py's argument parser), including the per-iteration
data preparation (caption sampling through data.CaptionSampler, data.trim, to_unit/pyramid for images):

  features    frozen Backbone(pretrained=True) forward of 50 images 256² (cmd_features, no_grad)
  stem        STEM, sentence loss only (cmd_stem with --words-every > 1, on a non-word-loss iteration), batch 48
  stem_words  STEM with the word loss added (cmd_stem on a word-loss iteration; --words-every 1), batch 48
  stem_words_loop  the same with the official one-caption-at-a-time word loss (losses.words_loss_reference):
              what cmd_stem ran before the batched word loss
  stream      STREAM, stream_loss(end_token=True), batch 128
  gan1        GAN stage 1 (G_NET stages=1, D_NET64), batch 16
  gan3        GAN all stages (stages=3, three discriminators) + lambda1 (20) * STREAM loss through the frozen
              Backbone on the 256² fake, batch 8

Not timed: the periodic work of the loops (progress lines, sample grids every 500 GAN iterations, checkpoints).

Synthetic data: uint8 images uniform in 0..255; backbone features N(0, 1) (local stored fp16 as features.pt
stores them); captions of the real vocabulary (106 words, ids 1..105) with SynthBirds-like raw lengths
(N(15, 3) clipped to 5..25, ~12 % longer than words_num 18 and thus subsampled); 120 classes. Models use the
shipped widths: ModelConfig(n_words=106, ngf=16, ndf=16), words_num 18.

Settings:
  fp32                  the default (what train.py runs, except cmd_features which train.py may run channels-last)
  channels_last         every model .to(memory_format=torch.channels_last), every 4-D image/feature-map input
                        .contiguous(memory_format=torch.channels_last)
  bf16 autocast         each model's forward runs under torch.autocast('cpu', dtype=torch.bfloat16) and its floating
                        outputs are cast back to fp32, so the loss functions (losses.py) compute in fp32; models
                        that the loss functions call (discriminators and their logit heads, the STREAM captioner)
                        are wrapped the same way; backward and the optimiser steps run on the fp32 parameters
  bf16 + channels_last  both

Loss check: for each non-fp32 setting and each stage, fresh models with the same seeded weights and one fixed
batch (the GAN's CA_NET noise passed explicitly, dropout seeded) are run forward once without an update; every
loss component is compared with fp32: relative difference |L - L_fp32| / |L_fp32| (features: relative L2 of the
local and global features). "non-finite" flags a NaN/inf in any loss of the timed iterations, in the parameters
after them, or in the check values.

The stages themselves (models, synthetic data, one iteration each) are in iter_bench_stages.py.
"""
from __future__ import annotations

import argparse
import json
import math
import os
import statistics
import time
from dataclasses import dataclass

import torch

from .bench_report import cpu_name
from .iter_bench_stages import N_WORDS, GanStage, build
from .models import ModelConfig


STAGES = ["features", "stem", "stem_words", "stem_words_loop", "stream", "gan1", "gan3"]
STAGE_LABEL = {
    "features": "features: frozen Backbone forward, 256² images",
    "stem": "STEM, sentence loss",
    "stem_words": "STEM, sentence + word loss",
    "stem_words_loop": "STEM, sentence + word loss (official per-caption loop)",
    "stream": "STREAM (end token)",
    "gan1": "GAN stage 1 (64²)",
    "gan3": "GAN all stages + λ·STREAM",
}
DEFAULT_BATCH = {"features": 50, "stem": 48, "stem_words": 48, "stem_words_loop": 48, "stream": 128, "gan1": 16, "gan3": 8}
MIN_BATCH = 2  # BatchNorm in training mode and the mismatched-pair discriminator loss need two samples



# --------------------------------------------------------------------------------------------------
# Execution settings
# --------------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class Setting:
    name: str
    channels_last: bool
    bf16: bool

    def model(self, m: torch.nn.Module, *called: torch.nn.Module) -> torch.nn.Module:
        """Applies the setting to a model; `called` are submodules that the loss functions call directly."""
        if self.channels_last:
            m.to(memory_format=torch.channels_last)
        if self.bf16:
            for x in (m, *called):
                _autocast_forward(x)
        return m

    def image(self, x: torch.Tensor) -> torch.Tensor:
        return x.contiguous(memory_format=torch.channels_last) if self.channels_last else x


SETTINGS = [Setting("fp32", False, False), Setting("channels_last", True, False),
            Setting("bf16 autocast", False, True), Setting("bf16 + channels_last", True, True)]
SETTING_ALIASES = {"fp32": "fp32", "cl": "channels_last", "channels_last": "channels_last",
                   "bf16": "bf16 autocast", "bf16 autocast": "bf16 autocast",
                   "bf16_cl": "bf16 + channels_last", "bf16+cl": "bf16 + channels_last",
                   "bf16 + channels_last": "bf16 + channels_last"}


def _to_fp32(o):
    if torch.is_tensor(o):
        return o.float() if o.is_floating_point() and o.dtype != torch.float32 else o
    if isinstance(o, (list, tuple)):
        return type(o)(_to_fp32(x) for x in o)
    return o


def _autocast_forward(m: torch.nn.Module):
    """Runs m.forward under CPU bf16 autocast and returns fp32 outputs (the loss functions stay in fp32)."""
    inner = m.forward

    def forward(*args, **kwargs):
        with torch.autocast("cpu", dtype=torch.bfloat16):
            out = inner(*args, **kwargs)
        return _to_fp32(out)

    m.forward = forward


# --------------------------------------------------------------------------------------------------
# Measurement
# --------------------------------------------------------------------------------------------------
def _finite_values(d) -> bool:
    for v in d.values():
        if torch.is_tensor(v):
            if not bool(torch.isfinite(v).all()):
                return False
        elif not math.isfinite(v):
            return False
    return True


def time_stage(stage, cfg, setting, batch, warmup, iters, max_seconds=0.0):
    """Per-iteration wall times of `iters` iterations after `warmup`; with max_seconds > 0 the timed loop stops
    early (after at least one iteration) once it has run that long."""
    st = build(stage, cfg, setting, batch)
    times, finite = [], True
    for k in range(warmup + iters):
        t0 = time.perf_counter()
        out = st.step(st.sample())
        dt = time.perf_counter() - t0
        finite = finite and _finite_values(out)
        if k >= warmup:
            times.append(dt)
            if max_seconds and sum(times) >= max_seconds:
                break
    finite = finite and all(bool(torch.isfinite(p).all()) for p in st.params())
    return times, finite


def check_values(stage, cfg, setting, batch):
    """Loss values (features: the features) of fresh seeded models on one fixed batch, no update."""
    st = build(stage, cfg, setting, batch, seed=0)
    data = st.sample()
    torch.manual_seed(1)  # dropout of the STEM text encoder
    with torch.no_grad():
        if isinstance(st, GanStage):
            eps = torch.randn(batch, cfg.condition_dim, generator=torch.Generator().manual_seed(2))
            out = st.step(data, update=False, eps=eps)
        else:
            out = st.step(data, update=False)
    return out


def rel_diff(values, ref):
    d = {}
    for k, v in values.items():
        r = ref[k]
        if torch.is_tensor(v):
            d[k] = float((v.float() - r.float()).norm() / r.float().norm().clamp(min=1e-12))
        else:
            d[k] = abs(v - r) / max(abs(r), 1e-12) if math.isfinite(v) and math.isfinite(r) else float("inf")
    return d


def _json_values(v):
    """Loss values as they are; feature tensors as their L2 norm."""
    return {(k + "_norm" if torch.is_tensor(x) else k): (float(x.float().norm()) if torch.is_tensor(x) else x)
            for k, x in v.items()}


def run(stages, settings, threads=2, iters=5, warmup=2, batch_scale=1.0, check=True, max_seconds=0.0, log=print):
    torch.set_num_threads(threads)
    cfg = ModelConfig(n_words=N_WORDS, ngf=16, ndf=16)
    res = {"torch": torch.__version__, "threads": threads, "iters": iters, "warmup": warmup, "batch_scale": batch_scale,
           "max_seconds": max_seconds,
           "cpu": cpu_name(), "cpu_capability": _cpu_capability(), "loadavg_start": _loadavg(), "stages": {}}
    t_all = time.time()
    for stage in stages:
        batch = max(MIN_BATCH, int(round(DEFAULT_BATCH[stage] * batch_scale)))
        entry = {"batch": batch, "settings": {}}
        ref = check_values(stage, cfg, SETTINGS[0], batch) if check else None
        for s in settings:
            t0 = time.time()
            r = {}
            try:
                times, finite = time_stage(stage, cfg, s, batch, warmup, iters, max_seconds)
                med = statistics.median(times)
                r.update(s_per_it=med, times=times, finite=finite)
                if stage == "features":
                    r["ms_per_image"] = 1000.0 * med / batch
            except (RuntimeError, NotImplementedError) as e:  # an op without a kernel for this setting
                r["error"] = _first_line(e)
            if check and s.name != "fp32":
                try:  # forward only: it may work where the training iteration (backward) does not
                    vals = check_values(stage, cfg, s, batch)
                    rd = rel_diff(vals, ref)
                    r["check"] = {"values": _json_values(vals), "rel_diff": rd, "max_rel_diff": max(rd.values()),
                                  "worst": max(rd, key=rd.get), "finite": _finite_values(vals)}
                    r["finite"] = r.get("finite", True) and r["check"]["finite"]
                except (RuntimeError, NotImplementedError) as e:
                    r["check_error"] = _first_line(e)
            entry["settings"][s.name] = r
            head = f"{stage:<10} {s.name:<21} batch {batch:<3}"
            if "error" in r:
                log(f"{head} ERROR {r['error']}", flush=True)
            else:
                log(f"{head} {r['s_per_it']:8.3f} s/it  (min {min(r['times']):.3f}, n={len(r['times'])}, "
                    f"{'finite' if r['finite'] else 'NON-FINITE'})", flush=True)
            if "check" in r:
                ck = r["check"]
                log(f"{head} check: max rel diff vs fp32 {ck['max_rel_diff']:.1e} [{ck['worst']}], "
                    f"{'finite' if ck['finite'] else 'NON-FINITE'}; {time.time() - t0:.0f} s", flush=True)
        if check:
            entry["fp32_check_values"] = _json_values(ref)
        res["stages"][stage] = entry
    res["loadavg_end"] = _loadavg()
    res["wall_s"] = time.time() - t_all
    return res


def _first_line(e):
    msg = str(e).strip()
    return msg.splitlines()[0] if msg else type(e).__name__


def _cpu_capability():
    try:
        return torch.backends.cpu.get_cpu_capability()
    except AttributeError:  # torch < 2.0
        cfg = torch.__config__.show()
        for line in cfg.splitlines():
            if "CPU capability usage" in line:
                return line.split(":", 1)[1].strip()
        return "?"


def _loadavg():
    try:
        return list(os.getloadavg())
    except OSError:
        return None


# --------------------------------------------------------------------------------------------------
# Report
# --------------------------------------------------------------------------------------------------
def markdown(res) -> str:
    stages = list(res["stages"])
    names = list(next(iter(res["stages"].values()))["settings"]) if stages else []
    lines = [f"torch {res['torch']}, {res['threads']} threads, median of {res['iters']} iterations after "
             f"{res['warmup']} warm-up"
             + (f" (timed loop capped at {res['max_seconds']:g} s: n=timed iterations)" if res.get("max_seconds") else "")
             + f"; batch scale {res['batch_scale']:g}; CPU {res['cpu']} (ATen capability {res['cpu_capability']}); "
             f"load average {_fmt_load(res['loadavg_start'])} at start, {_fmt_load(res.get('loadavg_end'))} at end",
             "", "Seconds per iteration: median (min); ×N: speed-up of the median over fp32, above 1 is faster:", "",
             "| stage | batch | " + " | ".join(names) + " |", "|---|---:|" + "---:|" * len(names)]
    for st in stages:
        e = res["stages"][st]
        cells = []
        for n in names:
            r = e["settings"][n]
            if "error" in r:
                cells.append("error: " + r["error"][:70].replace("|", "/"))
                continue
            c = f"{r['s_per_it']:.3f}"
            if len(r["times"]) > 1:  # other load only adds time: the minimum is the less noisy figure
                c += f" (min {min(r['times']):.3f})"
            if len(r["times"]) < res["iters"]:
                c += f" (n={len(r['times'])})"
            if "ms_per_image" in r:
                c += f" ({r['ms_per_image']:.1f} ms/img)"
            if n != "fp32" and "s_per_it" in e["settings"].get("fp32", {}):
                c += f" ×{e['settings']['fp32']['s_per_it'] / r['s_per_it']:.2f}"
            cells.append(c)
        lines.append(f"| {STAGE_LABEL[st]} | {e['batch']} | " + " | ".join(cells) + " |")
    checked = [n for n in names if any("check" in res["stages"][st]["settings"][n] for st in stages)]
    if checked:
        lines += ["", "Loss check (fresh seeded weights, one fixed batch, no update): max relative difference of the "
                  "loss components vs fp32 [worst component]; features: relative L2 of the features; NaN/inf:", "",
                  "| stage | " + " | ".join(checked) + " |", "|---|" + "---|" * len(checked)]
        for st in stages:
            cells = []
            for n in checked:
                r = res["stages"][st]["settings"][n]
                ck = r.get("check")
                if not ck:
                    cells.append("error: " + r["check_error"][:60].replace("|", "/") if "check_error" in r else "—")
                    continue
                c = f"{ck['max_rel_diff']:.1e} [{ck['worst']}]" + (", finite" if r["finite"] else ", **NaN/inf**")
                if "error" in r:
                    c += " (forward only: the training iteration failed)"
                cells.append(c)
            lines.append(f"| {STAGE_LABEL[st]} | " + " | ".join(cells) + " |")
    return "\n".join(lines)


def _fmt_load(l):
    return "?" if not l else "/".join(f"{x:.2f}" for x in l)


def main(argv=None):
    p = argparse.ArgumentParser(prog="mirrorgan_train.iter_bench", description=__doc__.split("\n")[0])
    p.add_argument("--threads", type=int, default=2)
    p.add_argument("--iters", type=int, default=5, help="timed iterations per stage and setting (median reported)")
    p.add_argument("--warmup", type=int, default=2)
    p.add_argument("--batch-scale", dest="batch_scale", type=float, default=1.0,
                   help="multiply every stage's batch (minimum 2), for quick runs")
    p.add_argument("--quick", action="store_true", help="= --batch-scale 0.0625 --iters 1 --warmup 1")
    p.add_argument("--stages", default=",".join(STAGES), help="comma-separated subset of " + ",".join(STAGES))
    p.add_argument("--settings", default="fp32,channels_last,bf16,bf16_cl",
                   help="comma-separated subset of fp32, channels_last (cl), bf16, bf16_cl")
    p.add_argument("--max-seconds", dest="max_seconds", type=float, default=0.0,
                   help="stop a stage's timed loop early once it has run this long (at least one iteration; "
                        "0: always --iters); the table marks such medians (n=...)")
    p.add_argument("--no-check", dest="check", action="store_false", help="skip the loss check against fp32")
    p.add_argument("--json", help="write the results here")
    args = p.parse_args(argv)
    if args.quick:
        args.batch_scale, args.iters, args.warmup = 0.0625, 1, 1
    stages = [s.strip() for s in args.stages.split(",") if s.strip()]
    for s in stages:
        if s not in STAGES:
            p.error(f"unknown stage {s!r}")
    by_name = {s.name: s for s in SETTINGS}
    settings = []
    for s in args.settings.split(","):
        s = s.strip()
        if s not in SETTING_ALIASES:
            p.error(f"unknown setting {s!r}")
        settings.append(by_name[SETTING_ALIASES[s]])
    if args.iters < 1:
        p.error("--iters must be >= 1")
    res = run(stages, settings, args.threads, args.iters, args.warmup, args.batch_scale, args.check, args.max_seconds)
    table = markdown(res)
    print()
    print(table)
    if args.json:
        res["markdown"] = table
        with open(args.json, "w") as f:
            json.dump(res, f, indent=2)
        print("wrote", args.json)
    return res


if __name__ == "__main__":
    main()
