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
from types import SimpleNamespace

import numpy as np
import torch
import torch.nn.functional as F

from . import data as D
from .losses import discriminator_loss, generator_adv_loss, kl_loss, sent_loss, stream_loss, words_loss
from .projected import (FrozenTrunk, cache_trunk_features, make_projected_discriminators, pretrain_match,
                        projected_d_loss, projected_g_loss)
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


def pick_device(name: str) -> torch.device:
    """--device: "auto" takes CUDA when present, else the CPU. Every checkpoint is saved with CPU tensors and
    loaded with map_location="cpu", so a run moves between an accelerator machine and this CPU freely."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def to_cpu(obj):
    """A state dict (or nested lists/dicts of them) with every tensor on the CPU."""
    if torch.is_tensor(obj):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_cpu(v) for v in obj)
    return obj


def load_cpu(path):
    return torch.load(path, map_location="cpu")


def save(obj, path):
    tmp = path + ".tmp"
    torch.save(to_cpu(obj), tmp)
    os.replace(tmp, path)


def resume(path, modules: dict, opt, label) -> int:
    """Loads a stage checkpoint ({key: state_dict, "opt", "it"}) if it exists; returns the iteration."""
    if not os.path.exists(path):
        return 0
    st = load_cpu(path)
    for key, module in modules.items():
        module.load_state_dict(st[key])
    opt.load_state_dict(st["opt"])  # moves the optimiser state to the parameters' device
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
    dev = pick_device(args.device)
    caps = D.CaptionSet(args.data)
    # channels-last halves the Lite0 forward on this CPU (docs/TRAINING.md, iteration cost); fp32 so that the
    # features match what the runtime computes.
    bb = Backbone(pretrained=True).eval().to(dev, memory_format=torch.channels_last)
    out = {}
    for split in ("train", "test"):
        imgs = D.load_images(args.data, split, caps)
        limit = args.limit if split == "train" else args.test_limit
        n = imgs.shape[0] if not limit else min(limit, imgs.shape[0])
        loc = torch.empty(n, 112, 14, 14, dtype=torch.float16)
        glo = torch.empty(n, 1280, dtype=torch.float32)
        t0 = time.time()
        for s in range(0, n, args.batch):
            x = D.to_unit(imgs[s : s + args.batch].to(dev)).contiguous(memory_format=torch.channels_last)
            l, g = bb(x)
            loc[s : s + len(x)] = l.half().cpu()
            glo[s : s + len(x)] = g.cpu()
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
    dev = pick_device(args.device)
    caps = D.CaptionSet(args.data)
    cfg = load_config(args.run, caps, args)
    feats = load_cpu(features_path(args.data))
    loc, glo = feats["train"]["local"].to(dev), feats["train"]["global"].to(dev)  # local stays fp16
    n = loc.shape[0]
    text_enc = RNN_ENCODER(cfg.n_words, cfg.embedding_dim, nhidden=cfg.nef).to(dev)
    img_enc = CNN_ENCODER(cfg.nef).to(dev)
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
    if args.freeze_text:
        # Head-only phase: the text encoder that the generator is conditioned on stays as it is (eval mode, as it
        # serves: no dropout) and only the image heads learn to match its sentence features. The optimiser state
        # keeps its layout (Adam skips parameters without gradients), so the checkpoint resumes either way.
        text_enc.eval()
        for p in text_enc.parameters():
            p.requires_grad_(False)
    while not prog.done(it) and not stop.stop:
        idx = rng.choice(n, args.batch, replace=False)
        c, lens, _ = sampler(idx)
        c, lens, _ = D.trim(c, lens)
        tidx = torch.from_numpy(idx).to(dev)
        words, sent = text_enc(c.to(dev), lens)
        code = img_enc.emb_cnn_code(glo[tidx])
        s0, s1 = sent_loss(code, sent, classes[idx], args.gamma3)
        loss = s0 + s1
        # The word loss costs several times the sentence loss on CPU (an attention pass per image-caption pair),
        # so it may run every --words-every iterations; the sentence loss, which R-precision measures, runs every
        # iteration.
        if it % args.words_every == 0 and not args.freeze_text:  # region features only for the word loss
            region = img_enc.emb_features(loc[tidx].float())
            w0, w1 = words_loss(region, words, lens, classes[idx], args.gamma1, args.gamma2, args.gamma3)
            loss = loss + w0 + w1
        opt.zero_grad()
        loss.backward()
        torch.nn.utils.clip_grad_norm_(text_enc.parameters(), 0.25)
        opt.step()
        it += 1
        prog.report(it, start, w=(w0 + w1).item(), s=(s0 + s1).item())
    save({"text_encoder": text_enc.state_dict(), "image_encoder": img_enc.state_dict(), "opt": opt.state_dict(), "it": it}, ck)
    acc = damsm_rprecision(text_enc.cpu(), img_enc.cpu(), args.data, feats["test"])
    print(f"STEM saved at iteration {it}; real-image R-precision (docs/EVALUATION.md protocol, "
          f"{acc['n']} test images) = {acc['mean']:.3f} ± {acc['std']:.3f}")


@torch.no_grad()
def damsm_rprecision(text_enc, img_enc, data, feats, n_images=500) -> dict:
    """Real-image R-precision of a DAMSM pair on the evaluation's own protocol (evaluate.TestSet: the same
    captions, 99 candidates and folds as docs/EVALUATION.md and `mirrorgan eval`)."""
    from .evaluate import TestSet, fold_stats, r_precision_hits, sentence_features

    was = text_enc.training, img_enc.training
    text_enc.eval()
    img_enc.eval()
    ts = TestSet(data, n_images)
    sent_all = sentence_features(SimpleNamespace(text_encoder=text_enc), ts.all_ids)  # reads model.text_encoder
    _, code = img_enc(feats["local"][: ts.n].float(), feats["global"][: ts.n])
    text_enc.train(was[0])
    img_enc.train(was[1])
    return fold_stats(r_precision_hits(code, sent_all, ts))


# --------------------------------------------------------------------------------------------------
# STREAM pretraining (captioner on the frozen backbone's pooled feature)
# --------------------------------------------------------------------------------------------------
def cmd_stream(args):
    torch.manual_seed(args.seed)
    dev = pick_device(args.device)
    caps = D.CaptionSet(args.data)
    cfg = load_config(args.run, caps, args)
    feats = load_cpu(features_path(args.data))
    glo = feats["train"]["global"].to(dev)
    n = glo.shape[0]
    cnn = CAPTION_CNN(cfg.cap_embed).to(dev)
    rnn = CAPTION_RNN(cfg.cap_embed, cfg.cap_hidden, cfg.n_words, max_seq_length=cfg.max_seq_length).to(dev)
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
        # --bf16: the forward under bf16 autocast (the cross-entropy in fp32): 3x cheaper on a CPU with AVX512-BF16
        # at a loss drift of ~1e-5 (docs/TRAINING.md, iteration cost).
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=args.bf16):
            loss = stream_loss(cnn, rnn, glo[torch.from_numpy(idx).to(dev)], c.to(dev), lens, end_token=True)
        opt.zero_grad()
        loss.backward()
        opt.step()
        it += 1
        prog.report(it, start, ce=loss.item())
    save({"encoder": cnn.state_dict(), "decoder": rnn.state_dict(), "opt": opt.state_dict(), "it": it}, ck)
    q = stream_quality(cnn.cpu(), rnn.cpu(), caps, args.data, feats["test"]["global"])
    for r, words in enumerate(q.pop("examples")):
        print("test", r, "->", " ".join(words), "| ref:", " ".join(caps.ixtoword[t] for t in caps.caption("test", r, 0)))
    print(f"STREAM saved at iteration {it}; real test images ({q['images']}): attribute-claim precision "
          f"{q['claim_precision']:.3f} ({q['claims_per_caption']:.2f} claims per caption), BLEU-4 {q['bleu4']:.3f}")


@torch.no_grad()
def stream_quality(cnn, rnn, caps, data, glob, n_images=500) -> dict:
    """STREAM on real test images, with the evaluation's own measures (evaluate.py): the precision of the
    (attribute, value) claims its greedy captions make, and corpus BLEU-4 against the 10 references."""
    from .attributes_classifier import load_meta
    from .evaluate import claim_precision, corpus_bleu4, parse_claims, redescribe_batch

    was = cnn.training, rnn.training
    cnn.eval()
    rnn.eval()
    n = min(n_images, glob.shape[0])
    # The evaluation's own greedy redescription (stops at <end>), so these numbers are evaluate.py's.
    hyps = redescribe_batch(SimpleNamespace(stream_encoder=cnn, stream_decoder=rnn, end_token=True,
                                            ixtoword=caps.ixtoword), glob[:n])
    refs = [[[caps.ixtoword[t] for t in caps.caption("test", i, k)] for k in range(caps.cpi)] for i in range(n)]
    truth = load_meta(data, "test", n)
    cp = claim_precision([parse_claims(h) for h in hyps], [m["attributes"] for m in truth])
    cnn.train(was[0])
    rnn.train(was[1])
    return {"images": n, "claim_precision": cp["precision"], "claims_per_caption": cp["claims_per_caption"],
            "bleu4": corpus_bleu4(hyps, refs)["bleu4"], "examples": hyps[:4]}


# --------------------------------------------------------------------------------------------------
# GAN: G_NET with D_NET64/128/256, adversarial + lambda * STREAM + KL
# --------------------------------------------------------------------------------------------------
def load_frozen_text_encoder(run, cfg):
    st = load_cpu(os.path.join(run, "stem.pt"))
    enc = RNN_ENCODER(cfg.n_words, cfg.embedding_dim, nhidden=cfg.nef)
    enc.load_state_dict(st["text_encoder"])
    enc.eval()
    for p in enc.parameters():
        p.requires_grad_(False)
    return enc


def load_frozen_stream(run, cfg):
    st = load_cpu(os.path.join(run, "stream.pt"))
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
    dev = pick_device(args.device)
    caps = D.CaptionSet(args.data)
    cfg = load_config(args.run, caps, args)
    S = args.stages
    text_enc = load_frozen_text_encoder(args.run, cfg).to(dev)
    netG = G_NET(cfg)
    netG.apply(weights_init)
    projected = args.d_kind == "projected"
    if projected:  # issue 17's recipe (mirrorgan_train/projected.py): heads over the frozen Lite0 trunk
        trunk = FrozenTrunk().to(dev)
        netsD = make_projected_discriminators(cfg.nef, S, sizes=args.d_sizes, width=args.d_width)
    else:  # the paper's discriminators
        netsD = make_discriminators(cfg)[:S]
        for d in netsD:
            d.apply(weights_init)
    gen = torch.Generator().manual_seed(args.seed + 1)  # DiffAugment's draws
    if args.init_g:  # warm start from an exported generator (e.g. the shipped model's), keys as G_NET's
        from safetensors.torch import load_file

        missing, unexpected = netG.load_state_dict(load_file(args.init_g), strict=False)
        if unexpected or any("num_batches_tracked" not in k for k in missing):
            raise SystemExit(f"--init-g {args.init_g}: missing {missing}, unexpected {unexpected}")
        print(f"generator initialised from {args.init_g}")
    netG.to(dev)
    for d in netsD:
        d.to(dev)
    # The paper's Adam betas (0.5, 0.999); the hinge recipe uses (0, 0.99) as Projected GAN and DF-GAN do.
    betas = (0.0, 0.99) if projected else (0.5, 0.999)
    optG = torch.optim.Adam(netG.parameters(), lr=args.lr_g, betas=betas)
    optsD = [torch.optim.Adam(d.parameters(), lr=args.lr_d, betas=betas) for d in netsD]
    ema = [p.detach().clone() for p in netG.parameters()]
    it, phase_it = 0, 0
    fresh_d = [True] * S  # which discriminators start untrained (for --d-pretrain-steps)
    ck = gan_checkpoint_path(args.run)
    if os.path.exists(ck):
        st = load_cpu(ck)
        netG.load_state_dict(st["G"])
        same_d = st.get("d_kind", "paper") == args.d_kind and not args.fresh_d
        if same_d:  # a checkpoint of the other recipe (or --fresh-d) keeps its G only; the discriminators start afresh
            for i, (d, sd) in enumerate(zip(netsD, st["D"])):
                d.load_state_dict(sd)
                fresh_d[i] = False
        ema = [a.to(dev) for a in st["G_ema"]]
        it = st["it"]
        if st["stages"] == S and same_d:  # same phase: resume the optimisers too
            optG.load_state_dict(st["optG"])
            for o, sd in zip(optsD, st["optD"][: len(optsD)]):
                o.load_state_dict(sd)
            phase_it = st.get("phase_it", 0)
        print(f"resumed GAN at iteration {it} (checkpoint stages {st['stages']}, now {S})")
    if args.ca_rescale and not (os.path.exists(ck) and st.get("ca_rescaled")):
        rescale_conditioning(netG, *args.ca_rescale)
        ema = [p.detach().clone() for p in netG.parameters()]  # the old CA's average would undo the surgery
        ca_rescaled = True
        print(f"CA rescaled: mean x{args.ca_rescale[0]}, sigma {args.ca_rescale[1]}")
    else:
        ca_rescaled = os.path.exists(ck) and bool(st.get("ca_rescaled"))
    # The paper applies STREAM to the final (256²) image only; --stream-stage1 applies it in the 64²-only phase too
    # (to the 64² image), on --stream-images images of each batch (the Lite0 pass at 224² is the costly part).
    use_stream = args.lambda1 > 0 and (S == cfg.branch_num or args.stream_stage1)
    if use_stream:
        bb, cap_cnn, cap_rnn = (m.to(dev) for m in load_frozen_stream(args.run, cfg))
    imgs = D.load_images(args.data, "train", caps).to(dev)  # uint8 on the device (2 GB for 10,000 images)
    n = imgs.shape[0]
    sampler = D.CaptionSampler(caps, "train", cfg.words_num, seed=args.seed + it)
    rng = np.random.default_rng(args.seed + it)
    fixed = fixed_sample_inputs(caps, cfg, text_enc, dev)
    os.makedirs(os.path.join(args.run, "samples"), exist_ok=True)
    if projected and args.d_pretrain_steps > 0 and any(fresh_d):
        pretrain_fresh_heads(args, netsD, optsD, fresh_d, trunk, text_enc, imgs, caps, cfg, gen, dev)
    prog, stop, start = Progress(args.iters, args.minutes, every=10), StopFlag(), phase_it
    netG.train()
    for d in netsD:
        d.train()

    def checkpoint():
        save({"G": netG.state_dict(), "G_ema": ema, "D": [d.state_dict() for d in netsD], "optG": optG.state_dict(),
              "optD": [o.state_dict() for o in optsD], "it": it, "phase_it": phase_it, "stages": S,
              "d_kind": args.d_kind, "ca_rescaled": ca_rescaled, "config": cfg.to_dict()}, ck)

    while not prog.done(phase_it) and not stop.stop:
        idx = rng.choice(n, args.batch, replace=False)
        c, lens, _ = sampler(idx)
        c, lens, mask = D.trim(c, lens)
        c, mask = c.to(dev), mask.to(dev)
        with torch.no_grad():
            words, sent = text_enc(c, lens)
        real = D.pyramid(D.to_unit(imgs[torch.from_numpy(idx).to(dev)]))[:S]
        z = torch.randn(args.batch, cfg.z_dim, device=dev)
        # --d-warmup: a fresh discriminator beside a trained generator (--init-g) first learns alone, so that G's
        # first updates follow a discriminator that already tells real from fake rather than a random one.
        warm = phase_it < args.d_warmup
        with torch.set_grad_enabled(not warm):
            fakes, _, mu, logvar, _ = netG(z, sent, words, mask, stages=S)
        d_losses, d_parts, real_codes = [], {}, []
        for i in range(S):
            netsD[i].zero_grad()
            if projected:
                errD, parts = projected_d_loss(netsD[i], trunk, real[i], fakes[i], sent, gp_weight=args.gp_weight,
                                               match_weight=args.match_weight, augment=args.augment, gen=gen)
                real_codes.append(parts.pop("real_code"))
                if i == S - 1:
                    d_parts = {k: parts[k] for k in ("real", "fake", "wrong", "match", "acc", "gp")}
            else:
                errD = discriminator_loss(netsD[i], real[i], fakes[i], sent)
            errD.backward()
            optsD[i].step()
            d_losses.append(errD.item())
        adv = kl = ls = torch.zeros(())
        if not warm:
            netG.zero_grad()
            gm = gp_ = torch.zeros(())
            if projected:
                adv, gm, gp_ = projected_g_loss(netsD, trunk, fakes, sent, augment=args.augment, gen=gen,
                                                match_weight=args.g_match_weight,
                                                real_codes=real_codes if args.g_pair_weight > 0 else None)
            else:
                adv = generator_adv_loss(netsD, fakes, sent)
            kl = kl_loss(mu, logvar)
            errG = adv + kl + args.g_match_weight * gm + args.g_pair_weight * gp_
            if use_stream:
                k = args.stream_images or args.batch
                _, glob = bb(fakes[-1][:k])
                ls = stream_loss(cap_cnn, cap_rnn, glob, c[:k], lens[:k], end_token=False)
                errG = errG + args.lambda1 * ls
            errG.backward()
            optG.step()
            with torch.no_grad():
                for p, a in zip(netG.parameters(), ema):
                    a.mul_(0.999).add_(p.detach(), alpha=0.001)
        it += 1
        phase_it += 1
        extra = {}
        if projected and not warm:
            extra = {k: v.item() for k, v, w in (("G_match", gm, args.g_match_weight), ("G_pair", gp_, args.g_pair_weight))
                     if w > 0}
        prog.report(phase_it, start, D=sum(d_losses), G_adv=adv.item(), stream=ls.item(), kl=kl.item(), **extra,
                    **d_parts)
        if phase_it % args.sample_every == 0:
            write_samples(netG, ema, fixed, cfg, S, os.path.join(args.run, "samples", f"s{S}_{it:06d}.png"))
        if phase_it % args.checkpoint_every == 0:
            checkpoint()
        if args.snapshot_every and phase_it % args.snapshot_every == 0:
            snapshot(netG, it, S, cfg, args.run)
    checkpoint()
    write_samples(netG, ema, fixed, cfg, S, os.path.join(args.run, "samples", f"s{S}_{it:06d}.png"))
    print(f"GAN saved at iteration {it} (phase {phase_it}, stages {S}) after {prog.elapsed() / 60:.1f} min")


@torch.no_grad()
def rescale_conditioning(netG, mu_scale: float, sigma: float):
    """Conditioning-augmentation surgery for a short budget (--ca-rescale): the CA's mean scaled by `mu_scale`
    and its standard deviation set to `sigma` (learnable from there), the keys and the KL term unchanged.

    Why: measured on the shipped generator, the CA's mean varies across captions by 0.31 per dimension (std) while
    its sampled noise has sigma 0.97, and the generator ignores z: its 64² output is a function of
    c = mu + sigma * eps, of which eps is ~10x the caption's part in variance. A caption's images then vary along
    every attribute direction about as much as different captions do, and the named attributes come out at
    chance (docs/EVALUATION.md). The paper's 600 epochs let the CA learn a larger mean; a CPU budget does not.
    The CA's fc output is GLU([a | b]) = [mu | logvar]: the mu half of `a` is scaled; logvar's gate is opened
    (b → +8, sigmoid ≈ 1) and its value set to the constant 2 ln sigma."""
    fc = netG.ca_net.fc
    c = netG.ca_net.c_dim
    fc.weight[:c] *= mu_scale
    fc.bias[:c] *= mu_scale
    fc.weight[c:2 * c] = 0.0
    fc.bias[c:2 * c] = 2.0 * math.log(sigma)
    fc.weight[3 * c:4 * c] = 0.0
    fc.bias[3 * c:4 * c] = 8.0


def pretrain_fresh_heads(args, netsD, optsD, fresh_d, trunk, text_enc, imgs, caps, cfg, gen, dev):
    """--d-pretrain-steps: each untrained projected discriminator first learns the image-caption match on cached
    trunk features of --d-pretrain-images real training images at its stage's size (random captions each step),
    so that from the GAN's first iteration its conditional logits carry the text."""
    n = min(args.d_pretrain_images, imgs.shape[0])
    rng = np.random.default_rng(args.seed + 7)
    idx = np.sort(rng.choice(imgs.shape[0], n, replace=False))
    sampler = D.CaptionSampler(caps, "train", cfg.words_num, seed=args.seed + 8)

    def sentences(rows):
        c, lens, _ = sampler(idx[rows.numpy()])
        c, lens, _ = D.trim(c, lens)
        with torch.no_grad():
            return text_enc(c.to(dev), lens)[1]

    t0 = time.time()
    for i, netD in enumerate(netsD):
        if not fresh_d[i]:
            continue
        feats = []
        for j in range(0, n, 256):  # level i of the pyramid, a few hundred images at a time (memory)
            real = D.pyramid(D.to_unit(imgs[torch.from_numpy(idx[j:j + 256]).to(dev)]))[i]
            feats.append(cache_trunk_features(trunk, real, netD.input_size, augment=args.augment, gen=gen))
        feats = [torch.cat(f, 0) for f in zip(*feats)]
        acc = pretrain_match(netD, optsD[i], feats, sentences, args.d_pretrain_steps, batch=min(64, n), rng=rng,
                             log=lambda m, i=i: print(f"D{i}: {m}", flush=True))
        print(f"D{i}: match pre-trained on {n} images ({netD.input_size}² trunk input) in "
              f"{(time.time() - t0) / 60:.1f} min, last in-batch accuracy {acc:.2f}", flush=True)


def snapshot(netG, it, stages, cfg, run):
    """G's parameters at this iteration, for the diagnosis of attribute recall against training iterations
    (mirrorgan_train.diagnose)."""
    os.makedirs(os.path.join(run, "snapshots"), exist_ok=True)
    save({"G": netG.state_dict(), "it": it, "stages": stages, "config": cfg.to_dict()},
         os.path.join(run, "snapshots", f"g_it{it:06d}.pt"))


def fixed_sample_inputs(caps, cfg, text_enc, dev, n=8):
    g = torch.Generator().manual_seed(1234)
    m = len(caps.filenames["test"])
    c = [caps.caption("test", (i * 37) % m, 0) for i in range(n)]
    t = max(len(x) for x in c)
    ids = torch.zeros(n, t, dtype=torch.long)
    for r, x in enumerate(c):
        ids[r, : len(x)] = torch.tensor(x)
    lens = torch.tensor([len(x) for x in c])
    with torch.no_grad():
        words, sent = text_enc(ids.to(dev), lens)
    mask = (torch.arange(t).unsqueeze(0) >= lens.unsqueeze(1)).to(dev)
    return {"words": words, "sent": sent, "mask": mask, "z": torch.randn(n, cfg.z_dim, generator=g).to(dev),
            "eps": torch.zeros(n, cfg.condition_dim, device=dev),
            "text": [" ".join(caps.ixtoword[i] for i in x) for x in c]}


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
        sp.add_argument("--device", default="auto", help="auto (CUDA when present, else CPU), cpu, cuda, cuda:N")

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
    sp.add_argument("--freeze-text", dest="freeze_text", action="store_true",
                    help="train only the image heads against the current text encoder (sentence loss)")
    sp.add_argument("--words-every", dest="words_every", type=int, default=1,
                    help="compute the DAMSM word loss every N iterations (1: every iteration, as the paper)")
    sp = sub.add_parser("stream")
    common(sp)
    sp.add_argument("--bf16", action="store_true", help="forward passes under bf16 autocast (parameters stay fp32)")
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
    sp.add_argument("--snapshot-every", dest="snapshot_every", type=int, default=0,
                    help="keep G's parameters every N phase iterations in RUN/snapshots (diagnosis)")
    sp.add_argument("--d-warmup", dest="d_warmup", type=int, default=0,
                    help="train only the discriminators for the first N phase iterations (after --init-g)")
    sp.add_argument("--init-g", dest="init_g", default="",
                    help="start G from an exported generator.safetensors (a fresh run only)")
    sp.add_argument("--fresh-d", dest="fresh_d", action="store_true",
                    help="resume G (and its EMA) from the checkpoint but start the discriminators and optimisers afresh")
    sp.add_argument("--d-kind", dest="d_kind", choices=["paper", "projected"], default="paper",
                    help="paper: the official discriminators and BCE losses; projected: issue 17's recipe "
                         "(text-conditioned heads over frozen Lite0 features, hinge + MA-GP, DiffAugment)")
    sp.add_argument("--d-sizes", dest="d_sizes", type=int, nargs=3, default=[128, 128, 128],
                    help="projected: the trunk's input size for the 64, 128 and 256 px images")
    sp.add_argument("--d-width", dest="d_width", type=int, default=64, help="projected: the heads' first width")
    sp.add_argument("--gp-weight", dest="gp_weight", type=float, default=2.0,
                    help="projected: weight of the matching-aware gradient penalty (DF-GAN: 2, power 6)")
    sp.add_argument("--match-weight", dest="match_weight", type=float, default=1.0,
                    help="projected: weight of the heads' contrastive image-caption match loss on real images")
    sp.add_argument("--d-pretrain-steps", dest="d_pretrain_steps", type=int, default=0,
                    help="projected: steps of match pre-training for each untrained discriminator, on cached "
                         "trunk features of real images, before the GAN starts")
    sp.add_argument("--d-pretrain-images", dest="d_pretrain_images", type=int, default=3000,
                    help="projected: real training images cached for --d-pretrain-steps")
    sp.add_argument("--g-match-weight", dest="g_match_weight", type=float, default=0.0,
                    help="projected: weight of the generator's contrastive term (its fake picked among the batch's "
                         "captions by the heads)")
    sp.add_argument("--g-pair-weight", dest="g_pair_weight", type=float, default=0.0,
                    help="projected: weight of the generator's image-image contrastive term (a fake nearer its own "
                         "caption's real image than the batch's others, in the frozen trunk's features)")
    sp.add_argument("--ca-rescale", dest="ca_rescale", type=float, nargs=2, default=None, metavar=("MU_SCALE", "SIGMA"),
                    help="once, at the start: scale the CA's mean by MU_SCALE and set its sigma to SIGMA (a short "
                         "budget's conditioning; see rescale_conditioning)")
    sp.add_argument("--stream-stage1", dest="stream_stage1", action="store_true",
                    help="also apply lambda1 * STREAM in a 64²-only phase (--stages 1), to the 64² image")
    sp.add_argument("--stream-images", dest="stream_images", type=int, default=0,
                    help="images of each batch the STREAM loss reads (0: all)")
    sp.add_argument("--no-augment", dest="augment", action="store_false",
                    help="projected: no DiffAugment (translation and cutout)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    {"features": cmd_features, "stem": cmd_stem, "stream": cmd_stream, "gan": cmd_gan}[args.cmd](args)


if __name__ == "__main__":
    main()
