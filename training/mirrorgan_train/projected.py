"""The fast GAN recipe's discriminator side (issue 17): a text-conditioned projected discriminator, DF-GAN's
hinge loss with the matching-aware gradient penalty, and DiffAugment. The generator (GLAM, its keys and its
loss terms: adversarial, lambda * STREAM, KL) is unchanged; only what judges it is new.

Ideas taken from the papers, code written here:
- Projected GAN (Sauer et al. 2021): the discriminator reads features of a frozen ImageNet network (here
  the EfficientNet-Lite0 trunk the project already ships) at several depths; only small heads are trained,
  so it tells real from fake after a few hundred iterations instead of tens of thousands.
- GALIP / StyleGAN-T: the text enters the discriminator heads; here as a projection (Miyato & Koyama 2018)
  of the STEM sentence feature onto every location of a head's last feature map, so a part's colour is
  judged where the part is.
- DF-GAN (Tao et al. 2022): hinge loss with mismatched real pairs as negatives, and the matching-aware
  gradient penalty (MA-GP, k = 2, p = 6) on real matching pairs, here taken in feature space (the frozen
  trunk is not differentiated twice, which would cost more than the rest of the iteration).
- DiffAugment (Zhao et al. 2020): translation and cutout on real and fake alike, differentiable. No colour
  jitter: colours are what the captions name.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .models import Backbone

# Lite0 blocks whose outputs the heads read: strides 4, 8, 16 and 32 (channels 24, 40, 112, 320).
TAPS = (2, 4, 10, 15)
TAP_CHANNELS = (24, 40, 112, 320)
TAP_STRIDES = (4, 8, 16, 32)


# ---------------------------------------------------------------------------------------------------- DiffAugment
def translate(x: torch.Tensor, ratio: float = 0.125, gen: torch.Generator | None = None) -> torch.Tensor:
    """Shifts each image by up to ±ratio of its size in each axis, filling with zeros (differentiable)."""
    b, _, h, w = x.shape
    sh, sw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    dy = torch.randint(-sh, sh + 1, (b, 1, 1), generator=gen).to(x.device)
    dx = torch.randint(-sw, sw + 1, (b, 1, 1), generator=gen).to(x.device)
    yy = torch.arange(h, device=x.device).view(1, h, 1) + dy
    xx = torch.arange(w, device=x.device).view(1, 1, w) + dx
    valid = ((yy >= 0) & (yy < h) & (xx >= 0) & (xx < w)).unsqueeze(1).to(x.dtype)
    bi = torch.arange(b, device=x.device).view(b, 1, 1)
    out = x.permute(0, 2, 3, 1)[bi, yy.clamp(0, h - 1), xx.clamp(0, w - 1)].permute(0, 3, 1, 2)
    return out * valid


def cutout(x: torch.Tensor, ratio: float = 0.5, gen: torch.Generator | None = None) -> torch.Tensor:
    """Zeroes one square of ratio × the image size at a random place in each image (differentiable)."""
    b, _, h, w = x.shape
    ch, cw = int(h * ratio + 0.5), int(w * ratio + 0.5)
    cy = torch.randint(0, h + (1 - ch % 2), (b, 1, 1), generator=gen).to(x.device)
    cx = torch.randint(0, w + (1 - cw % 2), (b, 1, 1), generator=gen).to(x.device)
    yy = torch.arange(h, device=x.device).view(1, h, 1)
    xx = torch.arange(w, device=x.device).view(1, 1, w)
    inside = ((yy - cy).abs() <= ch // 2) & ((xx - cx).abs() <= cw // 2)
    return x * (~inside).unsqueeze(1).to(x.dtype)


def diff_augment(x: torch.Tensor, gen: torch.Generator | None = None) -> torch.Tensor:
    return cutout(translate(x, gen=gen), gen=gen)


# ---------------------------------------------------------------------------------------------------- discriminator
class FrozenTrunk(nn.Module):
    """Lite0 up to its last block, frozen and in eval mode (BN statistics fixed), returning the TAPS outputs.
    One instance serves every stage's discriminator; it is not part of any D's state_dict."""

    def __init__(self, pretrained=True):
        super().__init__()
        self.backbone = Backbone(pretrained=pretrained)
        self.backbone.eval()
        for p in self.backbone.parameters():
            p.requires_grad_(False)

    def train(self, mode=True):  # never leaves eval mode: its BN statistics are ImageNet's
        return super().train(False)

    def forward(self, x: torch.Tensor, size: int) -> list[torch.Tensor]:
        n = self.backbone.net
        if x.shape[-1] != size:
            # Downscaling (256 -> 128) averages, upscaling interpolates: a fake's aliasing is not hidden.
            x = F.interpolate(x, size=(size, size), mode="bilinear", align_corners=False, antialias=x.shape[-1] > size)
        x = ((x + 1.0) * 0.5 - 0.498) / 0.502  # the Backbone's normalisation (models.PIXEL_MEAN/STD)
        x = n._swish(n._bn0(n._conv_stem(x)))
        out = []
        for idx, block in enumerate(n._blocks):
            x = block(x, drop_connect_rate=None)
            if idx in TAPS:
                out.append(x)
            if idx == TAPS[-1]:
                break
        return out


class ProjectedHead(nn.Module):
    """One depth's head: a 1×1 mixing conv and stride-2 convs down to a 4×4 map (or the tap's own size when
    smaller); from it an unconditional logit (per location, averaged) and an image code (a 1×1 conv, averaged
    over locations) whose inner product with the projected sentence is the conditional logit (Miyato & Koyama's
    projection, as StyleGAN-T conditions its heads).

    Because the conditional part is an inner product, a whole batch's image × sentence matrix costs one matmul,
    and the heads learn the match contrastively (`match_loss`: every other caption of the batch is a negative,
    not just one); with one mismatched caption per image, the hinge alone left the match at chance (48 % after 300
    iterations at 64², own caption against a mismatched one), while the generator needs it from the start.

    No spectral norm: with it *and* MA-GP the heads could not separate real from fake (logits within ±0.2
    after 260 iterations at 64², the penalty larger than the hinge); DF-GAN relies on MA-GP alone."""

    def __init__(self, in_ch: int, tap_size: int, nef: int, width: int = 64, cond_dim: int = 128):
        super().__init__()
        layers = [nn.Conv2d(in_ch, width, 1), nn.LeakyReLU(0.2, inplace=True)]
        size, ch = tap_size, width
        while size > 4:
            nxt = min(ch * 2, 256)
            layers += [nn.Conv2d(ch, nxt, 4, 2, 1), nn.LeakyReLU(0.2, inplace=True)]
            ch, size = nxt, size // 2
        self.body = nn.Sequential(*layers)
        self.uncond = nn.Conv2d(ch, 1, 1)
        self.code = nn.Conv2d(ch, cond_dim, 1)
        self.embed = nn.Linear(nef, cond_dim)
        self.scale = cond_dim ** -0.5

    def forward(self, feat: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(unconditional logit [B], image code [B, cond_dim])."""
        h = self.body(feat)
        return self.uncond(h).mean(dim=(1, 2, 3)), self.code(h).mean(dim=(2, 3))

    def match(self, feat: torch.Tensor, sent: torch.Tensor) -> torch.Tensor:
        """[B images, B' sentences] logits: unconditional + projection."""
        u, c = self(feat)
        return u[:, None] + self.scale * c @ self.embed(sent).t()


class ProjectedD(nn.Module):
    """A stage's discriminator: heads over the frozen trunk's TAPS, read at `input_size`; logits are the heads' mean."""

    def __init__(self, nef: int, input_size: int, width: int = 64):
        super().__init__()
        self.input_size = input_size
        self.heads = nn.ModuleList(
            ProjectedHead(c, max(1, input_size // s), nef, width) for c, s in zip(TAP_CHANNELS, TAP_STRIDES))

    def match(self, feats: list[torch.Tensor], sent: torch.Tensor) -> torch.Tensor:
        """[B, B'] logits of every image with every sentence."""
        return torch.stack([h.match(f, sent) for h, f in zip(self.heads, feats)], 0).mean(0)

    def logits(self, feats: list[torch.Tensor], sent: torch.Tensor) -> torch.Tensor:
        """[B] logits of image i with sentence i."""
        total = 0.0
        for h, f in zip(self.heads, feats):
            u, c = h(f)
            total = total + u + h.scale * (c * h.embed(sent)).sum(1)
        return total / len(self.heads)


def make_projected_discriminators(nef: int, stages: int, sizes=(128, 128, 128), width: int = 64):
    return [ProjectedD(nef, sizes[i], width) for i in range(stages)]


# ---------------------------------------------------------------------------------------------------- losses
def projected_d_loss(netD: ProjectedD, trunk: FrozenTrunk, real, fake, sent, gp_weight=2.0, gp_power=6.0,
                     match_weight=1.0, match_scale=10.0, augment=True, gen=None):
    """DF-GAN's discriminator objective on projected features: hinge on (real, match) as real and (fake, match)
    and (real, mismatch: the previous image's caption) as fakes (each ½), MA-GP on (real features, sentence),
    and `match_weight` × a contrastive match loss over the batch's real images (cross-entropy of
    `match_scale` × the image × sentence logits against the own caption, both directions, as DAMSM's sentence
    loss). Returns (loss, parts)."""
    if augment:
        real, fake = diff_augment(real, gen), diff_augment(fake.detach(), gen)
    with torch.no_grad():
        real_f = trunk(real, netD.input_size)
        fake_f = trunk(fake.detach(), netD.input_size)
    real_f = [f.detach().requires_grad_(True) for f in real_f]
    sent = sent.detach().requires_grad_(True)
    b = real.shape[0]
    m = netD.match(real_f, sent)
    d_real = m.diagonal()
    d_wrong = m[torch.arange(b), torch.arange(b).roll(1)]
    d_fake = netD.logits(fake_f, sent.detach())
    hinge = F.relu(1.0 - d_real).mean() + 0.5 * (F.relu(1.0 + d_fake).mean() + F.relu(1.0 + d_wrong).mean())
    loss = hinge
    target = torch.arange(b, device=m.device)
    matching = match_loss(m, match_scale)
    if match_weight > 0:
        loss = loss + match_weight * matching
    gp = torch.zeros((), device=real.device)
    if gp_weight > 0:
        grads = torch.autograd.grad(d_real.sum(), real_f + [sent], create_graph=True)
        norm = torch.sqrt(sum(g.flatten(1).pow(2).sum(1) for g in grads) + 1e-12)
        gp = gp_weight * norm.pow(gp_power).mean()
        loss = loss + gp
    return loss, {"real_code": pair_code([f.detach() for f in real_f]),
                  "hinge": hinge.item(), "gp": gp.item(), "match": matching.item(), "real": d_real.mean().item(),
                  "fake": d_fake.mean().item(), "wrong": d_wrong.mean().item(),
                  "acc": (m.argmax(1) == target).float().mean().item()}


def pair_code(feats: list[torch.Tensor]) -> torch.Tensor:
    """An image's code for the paired-image term: the two deepest taps (strides 16 and 32) averaged over
    locations, concatenated and L2-normalised ([B, 112 + 320])."""
    return F.normalize(torch.cat([feats[-2].mean(dim=(2, 3)), feats[-1].mean(dim=(2, 3))], 1), dim=1)


def match_loss(m: torch.Tensor, scale: float, both: bool = True) -> torch.Tensor:
    """Contrastive image-caption loss of an [images, sentences] logit matrix whose diagonal holds the pairs:
    cross-entropy of scale × the logits against the own caption (and, with `both`, the own image)."""
    target = torch.arange(m.shape[0], device=m.device)
    loss = F.cross_entropy(scale * m, target)
    return 0.5 * (loss + F.cross_entropy(scale * m.t(), target)) if both else loss


@torch.no_grad()
def cache_trunk_features(trunk: FrozenTrunk, images: torch.Tensor, size: int, batch: int = 64, augment=True,
                         gen=None) -> list[torch.Tensor]:
    """The trunk's tap features of `images` (float, [-1, 1]) read at `size`, once DiffAugmented as the GAN's
    real images are: what `pretrain_match` trains the heads on without running the trunk at every step."""
    parts = []
    for i in range(0, images.shape[0], batch):
        x = images[i:i + batch]
        parts.append(trunk(diff_augment(x, gen) if augment else x, size))
    return [torch.cat(p, 0) for p in zip(*parts)]


def pretrain_match(netD: ProjectedD, opt: torch.optim.Optimizer, feats: list[torch.Tensor], sentences, steps: int,
                   batch: int = 64, match_scale: float = 10.0, rng=None, log=print) -> float:
    """Teaches a fresh discriminator's heads the image-caption match on cached real features before the GAN
    starts (issue 17: inside the GAN the heads were still learning the match when the run ended, so the
    adversarial term taught realism only). `sentences(rows)` gives a sentence feature per cached image (a random
    caption of it each call). Returns the last in-batch accuracy (own caption ranked first of `batch`)."""
    n = feats[0].shape[0]
    acc = 0.0
    for step in range(1, steps + 1):
        rows = torch.from_numpy(rng.choice(n, batch, replace=False))
        m = netD.match([f[rows] for f in feats], sentences(rows))
        loss = match_loss(m, match_scale)
        opt.zero_grad()
        loss.backward()
        opt.step()
        if step % 100 == 0 or step == steps:
            acc = (m.argmax(1) == torch.arange(batch)).float().mean().item()
            log(f"match pre-training {step}/{steps}: loss {loss.item():.3f}, in-batch accuracy {acc:.2f}")
    return acc


def projected_g_loss(netsD, trunk: FrozenTrunk, fakes, sent, augment=True, gen=None, match_weight=0.0,
                     match_scale=10.0, real_codes=None, pair_tau=0.1):
    """The generator's terms, summed over stages: the hinge term −D(fake, sentence); with `match_weight`, a
    contrastive term asking each stage's heads to pick a fake's own caption among the batch's (XMC-GAN's
    image-sentence loss, the discriminator's heads as the judge); with `real_codes` (each stage's real images'
    `pair_code`, in batch order), XMC-GAN's image-image contrastive term in the frozen trunk's feature space: a
    fake has to be nearer its own caption's real image than the batch's other real images (cosine / pair_tau).
    The caption is all that links a fake to its real image, so this term teaches the text (colours, parts)
    directly, from the first iteration, without waiting for a discriminator to learn the match.
    Returns (adv, match, pair)."""
    adv, match, pair = 0.0, torch.zeros(()), torch.zeros(())
    for i, (netD, fake) in enumerate(zip(netsD, fakes)):
        x = diff_augment(fake, gen) if augment else fake
        feats = trunk(x, netD.input_size)
        m = netD.match(feats, sent)
        adv = adv - m.diagonal().mean()
        if match_weight > 0:
            match = match + match_loss(m, match_scale, both=False)
        if real_codes is not None:
            sim = pair_code(feats) @ real_codes[i].t()
            pair = pair + F.cross_entropy(sim / pair_tau, torch.arange(sim.shape[0], device=sim.device))
    return adv, match, pair
