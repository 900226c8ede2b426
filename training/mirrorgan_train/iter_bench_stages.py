"""The training stages that iter_bench.py times, on synthetic data: each stage's __init__ builds the models as
train.py does, sample() is the loop's data step and step() the rest of one iteration (docs: iter_bench.py)."""
from __future__ import annotations

import copy

import numpy as np
import torch

from . import data as D
from .losses import (discriminator_loss, generator_adv_loss, kl_loss, sent_loss, stream_loss, words_loss,
                     words_loss_reference)
from .models import (CAPTION_CNN, CAPTION_RNN, CNN_ENCODER, G_NET, RNN_ENCODER, Backbone, make_discriminators,
                     weights_init)

N_WORDS = 106  # SynthBirds vocabulary (with <end> = 0)
N_CLASSES = 120  # SynthBirds training classes
LOCAL_SHAPE = (112, 14, 14)
GLOBAL_DIM = 1280

# train.py defaults
STEM_LR, STREAM_LR, LR_G, LR_D, LAMBDA1 = 0.002, 1e-3, 2e-4, 2e-4, 20.0
GAMMA1, GAMMA2, GAMMA3 = 4.0, 5.0, 10.0


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
