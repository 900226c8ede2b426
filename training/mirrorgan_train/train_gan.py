"""The GAN stage: the generator (GLAM) against the paper's discriminators or issue 17's projected ones, the
loss terms adversarial + lambda * STREAM + KL, stage-wise (64 px alone, then all three stages), resumable."""
from __future__ import annotations

import math
import os
import time

import numpy as np
import torch
import torch.nn.functional as F

from . import data as D
from .losses import discriminator_loss, generator_adv_loss, kl_loss, stream_loss
from .models import G_NET, make_discriminators, weights_init
from .projected import (FrozenTrunk, cache_trunk_features, make_projected_discriminators, pretrain_match,
                        projected_d_loss, projected_g_loss)
from .train_common import (Progress, StopFlag, load_config, load_cpu, load_frozen_stream, load_frozen_text_encoder,
                           pick_device, save)

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
        adv = kl = ls = xs = torch.zeros(())
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
            if args.cross_scale_weight > 0 and S > 1:
                xs = cross_scale_loss(fakes)
                errG = errG + args.cross_scale_weight * xs
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
            extra = {k: v.item() for k, v, w in (("G_match", gm, args.g_match_weight), ("G_pair", gp_, args.g_pair_weight),
                                                 ("xscale", xs, args.cross_scale_weight)) if w > 0}
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


def cross_scale_loss(fakes):
    """--cross-scale-weight: Σ over stages k ≥ 2 of L1(avg_pool2(image_k), image_{k−1}.detach()).

    Why: on a CPU budget the 64² stage, trained alone with a batch four times larger, is the one that follows the
    caption (its birds take the named colours), while stages 2 and 3, trained for ~1,000 iterations at batch 8,
    garbled its shapes and washed its colours out (runs/p18 samples, seventh session). Tying each stage's
    downsampled image to the stage below makes the higher stages refiners of it, as they are meant to be; the detail
    above the lower stage's resolution is left to the adversarial terms. StackGAN++'s colour-consistency
    regulariser (means and covariances across scales) is the weaker form of the same idea. The lower stage is
    detached so that it is not pulled towards the higher stages' blur."""
    total = fakes[0].new_zeros(())
    for hi, lo in zip(fakes[1:], fakes[:-1]):
        total = total + F.l1_loss(F.avg_pool2d(hi, 2), lo.detach())
    return total


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
