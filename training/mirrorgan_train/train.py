"""Training commands, one per stage, each resumable from its checkpoint.

  python -m mirrorgan_train.train features --data data/synthbirds
  python -m mirrorgan_train.train stem     --data data/synthbirds --run runs/default --minutes 12
  python -m mirrorgan_train.train stream   --data data/synthbirds --run runs/default --minutes 8
  python -m mirrorgan_train.train gan      --data data/synthbirds --run runs/default --stages 1 --minutes 25
  python -m mirrorgan_train.train gan      --data data/synthbirds --run runs/default --stages 3 --minutes 70 --lambda1 20

The order follows the paper: STEM (DAMSM losses) first, STREAM next, then the generator with the adversarial
losses + lambda * STREAM loss + KL. The generator is trained stage-wise (64 px alone, then all three stages).
"""
from __future__ import annotations

import argparse
import json
import math
import os
import signal
import sys
import time

import numpy as np
import torch
import torch.nn.functional as F

from . import data as D
from .losses import discriminator_loss, generator_adv_loss, kl_loss, sent_loss, stream_loss, words_loss
from .models import (CAPTION_CNN, CAPTION_RNN, CNN_ENCODER, G_NET, RNN_ENCODER, Backbone, ModelConfig,
                     make_discriminators, weights_init)


# --------------------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------------------
class Progress:
    def __init__(self, total_iters, minutes, every=20):
        self.t0 = time.time()
        self.total = total_iters
        self.minutes = minutes
        self.every = every

    def elapsed(self):
        return time.time() - self.t0

    def done(self, it):
        return it >= self.total or (self.minutes and self.elapsed() > self.minutes * 60)

    def report(self, it, start_it, **losses):
        if it % self.every:
            return
        rate = (it - start_it) / max(self.elapsed(), 1e-6)
        left_iters = (self.total - it) / max(rate, 1e-9)
        left_time = self.minutes * 60 - self.elapsed() if self.minutes else left_iters
        eta = max(0.0, min(left_iters, left_time))
        msg = " ".join(f"{k}={v:.4f}" for k, v in losses.items())
        print(f"it {it} {msg} {rate:.2f} it/s eta {eta / 60:.1f} min", flush=True)


class StopFlag:
    """SIGTERM/SIGINT end the current stage cleanly after a checkpoint."""

    def __init__(self):
        self.stop = False
        signal.signal(signal.SIGTERM, self._set)
        signal.signal(signal.SIGINT, self._set)

    def _set(self, *_):
        self.stop = True


def save(obj, path):
    tmp = path + ".tmp"
    torch.save(obj, tmp)
    os.replace(tmp, path)


def resume(path, modules: dict, opt, label) -> int:
    """Loads a stage checkpoint ({key: state_dict, "opt", "it"}) if it exists; returns the iteration."""
    if not os.path.exists(path):
        return 0
    st = torch.load(path)
    for key, module in modules.items():
        module.load_state_dict(st[key])
    opt.load_state_dict(st["opt"])
    print(f"resumed {label} at iteration {st['it']}")
    return st["it"]


def load_config(run, captions, args=None) -> ModelConfig:
    path = os.path.join(run, "config.json")
    if os.path.exists(path):
        with open(path) as f:
            return ModelConfig(**json.load(f))
    cfg = ModelConfig(n_words=captions.n_words)
    if args is not None:
        for k in ("ngf", "ndf", "r_num", "words_num"):
            v = getattr(args, k, None)
            if v is not None:
                setattr(cfg, k, v)
    os.makedirs(run, exist_ok=True)
    with open(path, "w") as f:
        json.dump(cfg.to_dict(), f, indent=2)
    return cfg


def features_path(data):
    return os.path.join(data, "lite0_features.pt")


# --------------------------------------------------------------------------------------------------
# Backbone features (frozen EfficientNet-Lite0), computed once for STEM and STREAM pretraining
# --------------------------------------------------------------------------------------------------
@torch.no_grad()
def cmd_features(args):
    caps = D.CaptionSet(args.data)
    bb = Backbone(pretrained=True).eval()
    out = {}
    for split in ("train", "test"):
        imgs = D.load_images(args.data, split, caps)
        limit = args.limit if split == "train" else args.test_limit
        n = imgs.shape[0] if not limit else min(limit, imgs.shape[0])
        loc = torch.empty(n, 112, 14, 14, dtype=torch.float16)
        glo = torch.empty(n, 1280, dtype=torch.float32)
        t0 = time.time()
        for s in range(0, n, args.batch):
            x = D.to_unit(imgs[s : s + args.batch])
            l, g = bb(x)
            loc[s : s + len(x)] = l.half()
            glo[s : s + len(x)] = g
            if (s // args.batch) % 20 == 0:
                print(f"features {split} {s + len(x)}/{n} {(s + len(x)) / (time.time() - t0):.1f} img/s", flush=True)
        out[split] = {"local": loc, "global": glo}
    save(out, features_path(args.data))
    print("wrote", features_path(args.data))


# --------------------------------------------------------------------------------------------------
# STEM: DAMSM pretraining of the text encoder together with the image heads
# --------------------------------------------------------------------------------------------------
def cmd_stem(args):
    torch.manual_seed(args.seed)
    caps = D.CaptionSet(args.data)
    cfg = load_config(args.run, caps, args)
    feats = torch.load(features_path(args.data))
    loc, glo = feats["train"]["local"], feats["train"]["global"]
    n = loc.shape[0]
    text_enc = RNN_ENCODER(cfg.n_words, cfg.embedding_dim, nhidden=cfg.nef)
    img_enc = CNN_ENCODER(cfg.nef)
    params = list(text_enc.parameters()) + list(img_enc.parameters())
    opt = torch.optim.Adam(params, lr=args.lr, betas=(0.5, 0.999))
    ck = os.path.join(args.run, "stem.pt")
    it = resume(ck, {"text_encoder": text_enc, "image_encoder": img_enc}, opt, "STEM")
    sampler = D.CaptionSampler(caps, "train", cfg.words_num, seed=args.seed + it)
    classes = np.asarray(caps.class_ids["train"])
    rng = np.random.default_rng(args.seed + it)
    prog, stop, start = Progress(args.iters, args.minutes), StopFlag(), it
    w0 = w1 = torch.zeros(())  # the last word loss computed (reported between word-loss iterations)
    text_enc.train()
    img_enc.train()
    while not prog.done(it) and not stop.stop:
        idx = rng.choice(n, args.batch, replace=False)
        c, lens, _ = sampler(idx)
        c, lens, _ = D.trim(c, lens)
        words, sent = text_enc(c, lens)
        region, code = img_enc(loc[idx].float(), glo[idx])
        s0, s1 = sent_loss(code, sent, classes[idx], args.gamma3)
        loss = s0 + s1
        # The word loss costs ~16x the sentence loss on CPU (one attention pass per caption), so it runs every
        # --words-every iterations; the sentence loss, which R-precision measures, runs every iteration.
        if it % args.words_every == 0:
            w0, w1 = words_loss(region, words, lens, classes[idx], args.gamma1, args.gamma2, args.gamma3)
            loss = loss + w0 + w1
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(text_enc.parameters(), 0.25)
        opt.step()
        it += 1
        prog.report(it, start, w=(w0 + w1).item(), s=(s0 + s1).item())
    save({"text_encoder": text_enc.state_dict(), "image_encoder": img_enc.state_dict(), "opt": opt.state_dict(), "it": it}, ck)
    acc = damsm_rprecision(text_enc, img_enc, caps, feats["test"], cfg.words_num)
    print(f"STEM saved at iteration {it}; real-image R-precision (test, 100 candidates) = {acc:.3f}")


@torch.no_grad()
def damsm_rprecision(text_enc, img_enc, caps, feats, words_num, n_images=500, seed=0):
    """Real-image R-precision ceiling: each test image vs its caption + 99 captions of other classes."""
    text_enc.eval()
    img_enc.eval()
    rng = np.random.default_rng(seed)
    n = min(n_images, feats["global"].shape[0])
    classes = np.asarray(caps.class_ids["test"])
    _, code = img_enc(feats["local"][:n].float(), feats["global"][:n])
    all_n = len(caps.filenames["test"])
    hits = 0
    for i in range(n):
        cand = [(i, int(rng.integers(10)))]
        while len(cand) < 100:
            j = int(rng.integers(all_n))
            if classes[j] != classes[i]:
                cand.append((j, int(rng.integers(10))))
        ids = [caps.caption("test", j, k) for j, k in cand]
        c = torch.zeros(100, max(len(x) for x in ids), dtype=torch.long)
        lens = torch.tensor([max(len(x), 1) for x in ids])
        for r, x in enumerate(ids):
            c[r, : len(x)] = torch.tensor(x, dtype=torch.long)
        _, sent = text_enc(c, lens)
        sims = F.cosine_similarity(code[i : i + 1], sent)
        hits += int(sims.argmax().item() == 0)
    text_enc.train()
    img_enc.train()
    return hits / n


# --------------------------------------------------------------------------------------------------
# STREAM pretraining (captioner on the frozen backbone's pooled feature)
# --------------------------------------------------------------------------------------------------
def cmd_stream(args):
    torch.manual_seed(args.seed)
    caps = D.CaptionSet(args.data)
    cfg = load_config(args.run, caps, args)
    feats = torch.load(features_path(args.data))
    glo = feats["train"]["global"]
    n = glo.shape[0]
    cnn = CAPTION_CNN(cfg.cap_embed)
    rnn = CAPTION_RNN(cfg.cap_embed, cfg.cap_hidden, cfg.n_words, max_seq_length=cfg.max_seq_length)
    opt = torch.optim.Adam(list(cnn.parameters()) + list(rnn.parameters()), lr=args.lr)
    ck = os.path.join(args.run, "stream.pt")
    it = resume(ck, {"encoder": cnn, "decoder": rnn}, opt, "STREAM")
    sampler = D.CaptionSampler(caps, "train", 32, seed=args.seed + it)  # whole captions (no subsampling)
    rng = np.random.default_rng(args.seed + it)
    prog, stop, start = Progress(args.iters, args.minutes), StopFlag(), it
    cnn.train()
    rnn.train()
    while not prog.done(it) and not stop.stop:
        idx = rng.choice(n, args.batch, replace=False)
        c, lens, _ = sampler(idx)
        c, lens, _ = D.trim(c, lens)
        loss = stream_loss(cnn, rnn, glo[idx], c, lens, end_token=True)
        opt.zero_grad()
        loss.backward()
        opt.step()
        it += 1
        prog.report(it, start, ce=loss.item())
    save({"encoder": cnn.state_dict(), "decoder": rnn.state_dict(), "opt": opt.state_dict(), "it": it}, ck)
    cnn.eval()
    g = feats["test"]["global"][:4]
    ids, _ = rnn.sample(cnn(g))
    for r in range(ids.shape[0]):
        words = [caps.ixtoword[int(t)] for t in ids[r] if int(t) != 0]
        print("test", r, "->", " ".join(words), "| ref:", " ".join(caps.ixtoword[t] for t in caps.caption("test", r, 0)))
    print(f"STREAM saved at iteration {it}")


# --------------------------------------------------------------------------------------------------
# GAN: G_NET with D_NET64/128/256, adversarial + lambda * STREAM + KL
# --------------------------------------------------------------------------------------------------
def load_frozen_text_encoder(run, cfg):
    st = torch.load(os.path.join(run, "stem.pt"))
    enc = RNN_ENCODER(cfg.n_words, cfg.embedding_dim, nhidden=cfg.nef)
    enc.load_state_dict(st["text_encoder"])
    enc.eval()
    for p in enc.parameters():
        p.requires_grad_(False)
    return enc


def load_frozen_stream(run, cfg):
    st = torch.load(os.path.join(run, "stream.pt"))
    cnn = CAPTION_CNN(cfg.cap_embed)
    rnn = CAPTION_RNN(cfg.cap_embed, cfg.cap_hidden, cfg.n_words, max_seq_length=cfg.max_seq_length)
    cnn.load_state_dict(st["encoder"])
    rnn.load_state_dict(st["decoder"])
    bb = Backbone(pretrained=True)
    for m in (cnn, rnn, bb):
        m.eval()
        for p in m.parameters():
            p.requires_grad_(False)
    return bb, cnn, rnn


def gan_checkpoint_path(run):
    return os.path.join(run, "gan.pt")


def cmd_gan(args):
    torch.manual_seed(args.seed)
    caps = D.CaptionSet(args.data)
    cfg = load_config(args.run, caps, args)
    S = args.stages
    text_enc = load_frozen_text_encoder(args.run, cfg)
    netG = G_NET(cfg)
    netG.apply(weights_init)
    netsD = make_discriminators(cfg)
    for d in netsD:
        d.apply(weights_init)
    optG = torch.optim.Adam(netG.parameters(), lr=args.lr_g, betas=(0.5, 0.999))
    optsD = [torch.optim.Adam(d.parameters(), lr=args.lr_d, betas=(0.5, 0.999)) for d in netsD]
    ema = [p.detach().clone() for p in netG.parameters()]
    it, phase_it = 0, 0
    ck = gan_checkpoint_path(args.run)
    if os.path.exists(ck):
        st = torch.load(ck)
        netG.load_state_dict(st["G"])
        for d, sd in zip(netsD, st["D"]):
            d.load_state_dict(sd)
        ema = st["G_ema"]
        it = st["it"]
        if st["stages"] == S:  # same phase: resume the optimisers too
            optG.load_state_dict(st["optG"])
            for o, sd in zip(optsD, st["optD"]):
                o.load_state_dict(sd)
            phase_it = st.get("phase_it", 0)
        print(f"resumed GAN at iteration {it} (checkpoint stages {st['stages']}, now {S})")
    use_stream = S == cfg.branch_num and args.lambda1 > 0
    if use_stream:
        bb, cap_cnn, cap_rnn = load_frozen_stream(args.run, cfg)
    imgs = D.load_images(args.data, "train", caps)
    n = imgs.shape[0]
    sampler = D.CaptionSampler(caps, "train", cfg.words_num, seed=args.seed + it)
    rng = np.random.default_rng(args.seed + it)
    fixed = fixed_sample_inputs(caps, cfg, text_enc)
    os.makedirs(os.path.join(args.run, "samples"), exist_ok=True)
    prog, stop, start = Progress(args.iters, args.minutes, every=10), StopFlag(), phase_it
    netG.train()
    for d in netsD:
        d.train()

    def checkpoint():
        save({"G": netG.state_dict(), "G_ema": ema, "D": [d.state_dict() for d in netsD], "optG": optG.state_dict(),
              "optD": [o.state_dict() for o in optsD], "it": it, "phase_it": phase_it, "stages": S,
              "config": cfg.to_dict()}, ck)

    while not prog.done(phase_it) and not stop.stop:
        idx = rng.choice(n, args.batch, replace=False)
        c, lens, _ = sampler(idx)
        c, lens, mask = D.trim(c, lens)
        with torch.no_grad():
            words, sent = text_enc(c, lens)
        real = D.pyramid(D.to_unit(imgs[idx]))[:S]
        z = torch.randn(args.batch, cfg.z_dim)
        fakes, _, mu, logvar, _ = netG(z, sent, words, mask, stages=S)
        d_losses = []
        for i in range(S):
            netsD[i].zero_grad()
            errD = discriminator_loss(netsD[i], real[i], fakes[i], sent)
            errD.backward()
            optsD[i].step()
            d_losses.append(errD.item())
        netG.zero_grad()
        adv = generator_adv_loss(netsD[:S], fakes, sent)
        kl = kl_loss(mu, logvar)
        errG = adv + kl
        ls = torch.zeros(())
        if use_stream:
            _, glob = bb(fakes[-1])
            ls = stream_loss(cap_cnn, cap_rnn, glob, c, lens, end_token=False)
            errG = errG + args.lambda1 * ls
        errG.backward()
        optG.step()
        with torch.no_grad():
            for p, a in zip(netG.parameters(), ema):
                a.mul_(0.999).add_(p.detach(), alpha=0.001)
        it += 1
        phase_it += 1
        prog.report(phase_it, start, D=sum(d_losses), G_adv=adv.item(), stream=ls.item(), kl=kl.item())
        if phase_it % args.sample_every == 0:
            write_samples(netG, ema, fixed, cfg, S, os.path.join(args.run, "samples", f"s{S}_{it:06d}.png"))
        if phase_it % args.checkpoint_every == 0:
            checkpoint()
    checkpoint()
    write_samples(netG, ema, fixed, cfg, S, os.path.join(args.run, "samples", f"s{S}_{it:06d}.png"))
    print(f"GAN saved at iteration {it} (phase {phase_it}, stages {S}) after {prog.elapsed() / 60:.1f} min")


def fixed_sample_inputs(caps, cfg, text_enc, n=8):
    g = torch.Generator().manual_seed(1234)
    m = len(caps.filenames["test"])
    c = [caps.caption("test", (i * 37) % m, 0) for i in range(n)]
    t = max(len(x) for x in c)
    ids = torch.zeros(n, t, dtype=torch.long)
    for r, x in enumerate(c):
        ids[r, : len(x)] = torch.tensor(x)
    lens = torch.tensor([len(x) for x in c])
    with torch.no_grad():
        words, sent = text_enc(ids, lens)
    mask = torch.arange(t).unsqueeze(0) >= lens.unsqueeze(1)
    return {"words": words, "sent": sent, "mask": mask, "z": torch.randn(n, cfg.z_dim, generator=g),
            "eps": torch.zeros(n, cfg.condition_dim), "text": [" ".join(caps.ixtoword[i] for i in x) for x in c]}


@torch.no_grad()
def write_samples(netG, ema, fixed, cfg, stages, path):
    import torchvision.utils as vutils

    backup = [p.detach().clone() for p in netG.parameters()]
    for p, a in zip(netG.parameters(), ema):
        p.data.copy_(a)
    netG.eval()
    fakes, _, _, _, _ = netG(fixed["z"], fixed["sent"], fixed["words"], fixed["mask"], eps=fixed["eps"], stages=stages)
    netG.train()
    for p, b in zip(netG.parameters(), backup):
        p.data.copy_(b)
    rows = [F.interpolate(f, size=(128, 128), mode="nearest") for f in fakes]
    vutils.save_image(torch.cat(rows, 0), path, nrow=fixed["z"].shape[0], normalize=True, value_range=(-1, 1))
    with open(path.replace(".png", ".txt"), "w") as f:
        f.write("\n".join(fixed["text"]) + "\n")


# --------------------------------------------------------------------------------------------------
def main(argv=None):
    p = argparse.ArgumentParser(prog="mirrorgan_train.train")
    sub = p.add_subparsers(dest="cmd", required=True)

    def common(sp):
        sp.add_argument("--data", default="data/synthbirds")
        sp.add_argument("--run", default="runs/default")
        sp.add_argument("--seed", type=int, default=0)
        sp.add_argument("--threads", type=int, default=2)
        sp.add_argument("--iters", type=int, default=10**9)
        sp.add_argument("--minutes", type=float, default=0)
        sp.add_argument("--ngf", type=int)
        sp.add_argument("--ndf", type=int)
        sp.add_argument("--r-num", dest="r_num", type=int)
        sp.add_argument("--words-num", dest="words_num", type=int)

    sp = sub.add_parser("features")
    common(sp)
    sp.add_argument("--batch", type=int, default=50)
    sp.add_argument("--limit", type=int, default=0, help="train images to encode (0: all)")
    sp.add_argument("--test-limit", dest="test_limit", type=int, default=1000, help="test images to encode (0: all)")
    sp = sub.add_parser("stem")
    common(sp)
    sp.add_argument("--batch", type=int, default=48)
    sp.add_argument("--lr", type=float, default=0.002)
    sp.add_argument("--gamma1", type=float, default=4.0)
    sp.add_argument("--gamma2", type=float, default=5.0)
    sp.add_argument("--gamma3", type=float, default=10.0)
    sp.add_argument("--words-every", dest="words_every", type=int, default=1,
                    help="compute the DAMSM word loss every N iterations (1: every iteration, as the paper)")
    sp = sub.add_parser("stream")
    common(sp)
    sp.add_argument("--batch", type=int, default=128)
    sp.add_argument("--lr", type=float, default=1e-3)
    sp = sub.add_parser("gan")
    common(sp)
    sp.add_argument("--stages", type=int, default=3)
    sp.add_argument("--batch", type=int, default=8)
    sp.add_argument("--lr-g", dest="lr_g", type=float, default=2e-4)
    sp.add_argument("--lr-d", dest="lr_d", type=float, default=2e-4)
    sp.add_argument("--lambda1", type=float, default=20.0)
    sp.add_argument("--sample-every", dest="sample_every", type=int, default=500)
    sp.add_argument("--checkpoint-every", dest="checkpoint_every", type=int, default=200)
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    {"features": cmd_features, "stem": cmd_stem, "stream": cmd_stream, "gan": cmd_gan}[args.cmd](args)


if __name__ == "__main__":
    main()
