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
"""
from __future__ import annotations

import argparse
import copy
import json
import math
import os
import platform
import statistics
import time
from dataclasses import dataclass

import numpy as np
import torch

from . import data as D
from .losses import (discriminator_loss, generator_adv_loss, kl_loss, sent_loss, stream_loss, words_loss,
                     words_loss_reference)
from .models import (CAPTION_CNN, CAPTION_RNN, CNN_ENCODER, G_NET, RNN_ENCODER, Backbone, ModelConfig,
                     make_discriminators, weights_init)

N_WORDS = 106  # SynthBirds vocabulary (with <end> = 0)
N_CLASSES = 120  # SynthBirds training classes
LOCAL_SHAPE = (112, 14, 14)
GLOBAL_DIM = 1280

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

# train.py defaults
STEM_LR, STREAM_LR, LR_G, LR_D, LAMBDA1 = 0.002, 1e-3, 2e-4, 2e-4, 20.0
GAMMA1, GAMMA2, GAMMA3 = 4.0, 5.0, 10.0


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
# Synthetic data
# --------------------------------------------------------------------------------------------------
class SyntheticCaptions:
    """Duck-typed data.CaptionSet for CaptionSampler: 10 random captions per image over the real vocabulary."""

    cpi = 10

    def __init__(self, n_images: int, seed: int):
        rng = np.random.default_rng(seed)
        lens = np.clip(np.rint(rng.normal(15, 3, n_images * self.cpi)), 5, 25).astype(int)
        self.caps = [rng.integers(1, N_WORDS, n).tolist() for n in lens]

    def caption(self, split, image, k):
        return self.caps[image * self.cpi + k]


def synthetic_images(n, seed):
    g = torch.Generator().manual_seed(seed)
    return torch.randint(0, 256, (n, 3, 256, 256), dtype=torch.uint8, generator=g)


def synthetic_features(n, seed):
    g = torch.Generator().manual_seed(seed)
    loc = torch.randn(n, *LOCAL_SHAPE, generator=g).abs_().half()  # post-activation-like, stored fp16
    glo = torch.randn(n, GLOBAL_DIM, generator=g).abs_()
    return loc, glo


_BACKBONE = {}


def pretrained_backbone():
    """Backbone(pretrained=True), loaded once and deep-copied for each setting."""
    if "bb" not in _BACKBONE:
        _BACKBONE["bb"] = Backbone(pretrained=True)
    return copy.deepcopy(_BACKBONE["bb"])


def freeze(*mods):
    for m in mods:
        m.eval()
        for p in m.parameters():
            p.requires_grad_(False)


# --------------------------------------------------------------------------------------------------
# Stages: __init__ builds the models as train.py does; sample() is the loop's data step; step() the rest
# --------------------------------------------------------------------------------------------------
class FeaturesStage:
    def __init__(self, cfg, setting, batch, seed):
        self.s, self.b = setting, batch
        self.imgs = synthetic_images(batch, seed)
        self.bb = setting.model(pretrained_backbone().eval())
        self.loc = torch.empty(batch, *LOCAL_SHAPE, dtype=torch.float16)
        self.glo = torch.empty(batch, GLOBAL_DIM, dtype=torch.float32)

    def sample(self):
        return self.s.image(D.to_unit(self.imgs[0 : self.b]))

    @torch.no_grad()
    def step(self, x, update=True):
        l, g = self.bb(x)
        self.loc[: len(x)] = l.half()
        self.glo[: len(x)] = g
        return {"local": l, "global": g}

    def params(self):
        return []


class StemStage:
    def __init__(self, cfg, setting, batch, seed, words, word_loss=words_loss):
        self.s, self.b, self.words, self.word_loss = setting, batch, words, word_loss
        n = 4 * batch
        self.loc, self.glo = synthetic_features(n, seed)
        self.classes = np.random.default_rng(seed).integers(0, N_CLASSES, n)
        torch.manual_seed(seed)
        self.text_enc = setting.model(RNN_ENCODER(cfg.n_words, cfg.embedding_dim, nhidden=cfg.nef))
        self.img_enc = setting.model(CNN_ENCODER(cfg.nef))
        params = list(self.text_enc.parameters()) + list(self.img_enc.parameters())
        self.opt = torch.optim.Adam(params, lr=STEM_LR, betas=(0.5, 0.999))
        self.sampler = D.CaptionSampler(SyntheticCaptions(n, seed), "train", cfg.words_num, seed=seed)
        self.rng = np.random.default_rng(seed)
        self.text_enc.train()
        self.img_enc.train()

    def sample(self):
        idx = self.rng.choice(len(self.classes), self.b, replace=False)
        c, lens, _ = self.sampler(idx)
        c, lens, _ = D.trim(c, lens)
        return idx, c, lens

    def step(self, batch, update=True):
        idx, c, lens = batch
        words, sent = self.text_enc(c, lens)
        region, code = self.img_enc(self.s.image(self.loc[idx].float()), self.glo[idx])
        s0, s1 = sent_loss(code, sent, self.classes[idx], GAMMA3)
        loss = s0 + s1
        out = {"s0": s0, "s1": s1}
        if self.words:
            w0, w1 = self.word_loss(region, words, lens, self.classes[idx], GAMMA1, GAMMA2, GAMMA3)
            loss = loss + w0 + w1
            out.update(w0=w0, w1=w1)
        if update:
            self.opt.zero_grad()
            loss.backward()
            torch.nn.utils.clip_grad_norm_(self.text_enc.parameters(), 0.25)
            self.opt.step()
        out["total"] = loss
        return {k: v.item() for k, v in out.items()}  # train.py reports .item() every iteration

    def params(self):
        return list(self.text_enc.parameters()) + list(self.img_enc.parameters())


class StreamStage:
    def __init__(self, cfg, setting, batch, seed):
        self.s, self.b = setting, batch
        n = 4 * batch
        _, self.glo = synthetic_features(n, seed)
        torch.manual_seed(seed)
        self.cnn = setting.model(CAPTION_CNN(cfg.cap_embed))
        self.rnn = setting.model(CAPTION_RNN(cfg.cap_embed, cfg.cap_hidden, cfg.n_words, max_seq_length=cfg.max_seq_length))
        self.opt = torch.optim.Adam(list(self.cnn.parameters()) + list(self.rnn.parameters()), lr=STREAM_LR)
        self.sampler = D.CaptionSampler(SyntheticCaptions(n, seed), "train", 32, seed=seed)  # whole captions
        self.rng = np.random.default_rng(seed)
        self.cnn.train()
        self.rnn.train()

    def sample(self):
        idx = self.rng.choice(self.glo.shape[0], self.b, replace=False)
        c, lens, _ = self.sampler(idx)
        c, lens, _ = D.trim(c, lens)
        return idx, c, lens

    def step(self, batch, update=True):
        idx, c, lens = batch
        loss = stream_loss(self.cnn, self.rnn, self.glo[idx], c, lens, end_token=True)
        if update:
            self.opt.zero_grad()
            loss.backward()
            self.opt.step()
        return {"ce": loss.item()}

    def params(self):
        return list(self.cnn.parameters()) + list(self.rnn.parameters())


class GanStage:
    def __init__(self, cfg, setting, batch, seed, stages):
        self.s, self.b, self.S, self.cfg = setting, batch, stages, cfg
        n = 4 * batch
        self.imgs = synthetic_images(n, seed)
        torch.manual_seed(seed)
        # The frozen STEM text encoder (load_frozen_text_encoder; random weights here).
        self.text_enc = RNN_ENCODER(cfg.n_words, cfg.embedding_dim, nhidden=cfg.nef)
        freeze(self.text_enc)
        setting.model(self.text_enc)
        self.netG = G_NET(cfg)
        self.netG.apply(weights_init)
        self.netsD = make_discriminators(cfg)
        for d in self.netsD:
            d.apply(weights_init)
        setting.model(self.netG)
        for d in self.netsD:
            setting.model(d, d.COND_DNET, d.UNCOND_DNET)  # the loss functions call the logit heads directly
        self.optG = torch.optim.Adam(self.netG.parameters(), lr=LR_G, betas=(0.5, 0.999))
        self.optsD = [torch.optim.Adam(d.parameters(), lr=LR_D, betas=(0.5, 0.999)) for d in self.netsD]
        self.ema = [p.detach().clone() for p in self.netG.parameters()]
        self.use_stream = stages == cfg.branch_num and LAMBDA1 > 0
        if self.use_stream:  # load_frozen_stream: Backbone(pretrained=True) + the STREAM captioner, frozen
            self.cap_cnn = CAPTION_CNN(cfg.cap_embed)
            self.cap_rnn = CAPTION_RNN(cfg.cap_embed, cfg.cap_hidden, cfg.n_words, max_seq_length=cfg.max_seq_length)
            self.bb = pretrained_backbone()
            freeze(self.cap_cnn, self.cap_rnn, self.bb)
            for m in (self.cap_cnn, self.cap_rnn, self.bb):
                setting.model(m)
        self.sampler = D.CaptionSampler(SyntheticCaptions(n, seed), "train", cfg.words_num, seed=seed)
        self.rng = np.random.default_rng(seed)
        self.noise = torch.Generator().manual_seed(seed)
        self.netG.train()
        for d in self.netsD:
            d.train()

    def sample(self):
        idx = self.rng.choice(self.imgs.shape[0], self.b, replace=False)
        c, lens, _ = self.sampler(idx)
        c, lens, mask = D.trim(c, lens)
        return idx, c, lens, mask

    def step(self, batch, update=True, eps=None):
        idx, c, lens, mask = batch
        S, netG, netsD = self.S, self.netG, self.netsD
        with torch.no_grad():
            words, sent = self.text_enc(c, lens)
        real = [self.s.image(x) for x in D.pyramid(D.to_unit(self.imgs[idx]))[:S]]
        z = torch.randn(self.b, self.cfg.z_dim, generator=None if update else self.noise)
        fakes, _, mu, logvar, _ = netG(z, sent, words, mask, eps=eps, stages=S)
        out = {}
        for i in range(S):
            netsD[i].zero_grad()
            errD = discriminator_loss(netsD[i], real[i], fakes[i], sent)
            if update:
                errD.backward()
                self.optsD[i].step()
            out[f"D{i}"] = errD.item()
        netG.zero_grad()
        adv = generator_adv_loss(netsD[:S], fakes, sent)
        kl = kl_loss(mu, logvar)
        errG = adv + kl
        ls = torch.zeros(())
        if self.use_stream:
            _, glob = self.bb(fakes[-1])
            ls = stream_loss(self.cap_cnn, self.cap_rnn, glob, c, lens, end_token=False)
            errG = errG + LAMBDA1 * ls
        if update:
            errG.backward()
            self.optG.step()
            with torch.no_grad():
                for p, a in zip(netG.parameters(), self.ema):
                    a.mul_(0.999).add_(p.detach(), alpha=0.001)
        out.update(G_adv=adv.item(), kl=kl.item(), stream=ls.item(), G_total=errG.item())
        return out

    def params(self):
        return list(self.netG.parameters()) + [p for d in self.netsD for p in d.parameters()]


def build(stage, cfg, setting, batch, seed=0):
    if stage == "features":
        return FeaturesStage(cfg, setting, batch, seed)
    if stage in ("stem", "stem_words", "stem_words_loop"):
        return StemStage(cfg, setting, batch, seed, words=stage != "stem",
                         word_loss=words_loss_reference if stage == "stem_words_loop" else words_loss)
    if stage == "stream":
        return StreamStage(cfg, setting, batch, seed)
    if stage in ("gan1", "gan3"):
        return GanStage(cfg, setting, batch, seed, stages=1 if stage == "gan1" else 3)
    raise ValueError(stage)


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
           "cpu": _cpu_name(), "cpu_capability": _cpu_capability(), "loadavg_start": _loadavg(), "stages": {}}
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


def _cpu_name():
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor()


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
