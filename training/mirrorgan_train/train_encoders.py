"""The encoder stages, in the paper's order: `features` (the frozen Lite0 trunk's real-image features), `stem`
(STEM: the DAMSM text and image encoders) and `stream` (STREAM: the captioner)."""
from __future__ import annotations

import os
import time
from types import SimpleNamespace

import numpy as np
import torch

from . import data as D
from .losses import sent_loss, stream_loss, words_loss
from .models import CAPTION_CNN, CAPTION_RNN, CNN_ENCODER, RNN_ENCODER, Backbone
from .train_common import Progress, StopFlag, features_path, load_config, load_cpu, pick_device, resume, save, \
    save_config

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
# What STEM and STREAM share: their inputs, and resuming and saving a stage checkpoint
# --------------------------------------------------------------------------------------------------
def _stage_inputs(args):
    """The seed set, then the device, the captions, the run's config and the real-image features."""
    torch.manual_seed(args.seed)
    dev = pick_device(args.device)
    caps = D.CaptionSet(args.data)
    return dev, caps, load_config(args.run, caps, args), load_cpu(features_path(args.data))


def _resume_stage(args, name, modules: dict, opt, label):
    """`<run>/<name>` resumed if it exists: its path, the iteration, the sampling RNG seeded for that iteration,
    the progress reporter and the stop flag."""
    ck = os.path.join(args.run, name)
    it = resume(ck, modules, opt, label)
    return ck, it, np.random.default_rng(args.seed + it), Progress(args.iters, args.minutes), StopFlag()


def _save_stage(ck, modules: dict, opt, it):
    save({**{key: m.state_dict() for key, m in modules.items()}, "opt": opt.state_dict(), "it": it}, ck)


# --------------------------------------------------------------------------------------------------
# STEM: DAMSM pretraining of the text encoder together with the image heads
# --------------------------------------------------------------------------------------------------
def cmd_stem(args):
    dev, caps, cfg, feats = _stage_inputs(args)
    loc, glo = feats["train"]["local"].to(dev), feats["train"]["global"].to(dev)  # local stays fp16
    n = loc.shape[0]
    cfg = _image_head_config(args, cfg)
    text_enc = RNN_ENCODER(cfg.n_words, cfg.embedding_dim, nhidden=cfg.nef).to(dev)
    img_enc = CNN_ENCODER(cfg.nef, code_head=cfg.image_code_head, width=cfg.image_code_width).to(dev)
    params = list(text_enc.parameters()) + list(img_enc.parameters())
    opt = torch.optim.Adam(params, lr=args.lr, betas=(0.5, 0.999))
    modules = {"text_encoder": text_enc, "image_encoder": img_enc}
    own = os.path.join(args.run, "stem.pt")
    if args.init_stem and not os.path.exists(own):
        _init_from_stem(args.init_stem, text_enc, img_enc)
    elif os.path.exists(own) and _checkpoint_head(own) != cfg.image_code_head:
        if not args.freeze_text:
            raise SystemExit(f"{own} holds another image head than config.json's {cfg.image_code_head}; "
                             f"finish the head-only phase (--freeze-text) first")
        # the head-only phase switching the code head: the run's text encoder, a new head, a fresh optimiser
        _init_from_stem(own, text_enc, img_enc)
        _save_stage(own, modules, opt, 0)
    ck, it, rng, prog, stop = _resume_stage(args, "stem.pt", modules, opt, "STEM")
    for group in opt.param_groups:  # --lr holds for this invocation's iterations (a resumed phase may lower it)
        group["lr"] = args.lr
    start = it
    sampler = D.CaptionSampler(caps, "train", cfg.words_num, seed=args.seed + it)
    classes = np.asarray(caps.class_ids["train"])
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
    frozen_sent = _frozen_sentences(text_enc, caps) if args.freeze_text else None
    while not prog.done(it) and not stop.stop:
        idx = rng.choice(n, args.batch, replace=False)
        tidx = torch.from_numpy(idx).to(dev)
        if frozen_sent is not None:  # one of each image's captions, its sentence feature computed once
            sent = frozen_sent[torch.from_numpy(idx * caps.cpi + rng.integers(caps.cpi, size=len(idx))).to(dev)]
        else:
            c, lens, _ = sampler(idx)
            c, lens, _ = D.trim(c, lens)
            words, sent = text_enc(c.to(dev), lens)
        code = img_enc.code(loc[tidx].float(), glo[tidx])
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
        if frozen_sent is None:
            torch.nn.utils.clip_grad_norm_(text_enc.parameters(), 0.25)
        opt.step()
        it += 1
        prog.report(it, start, w=(w0 + w1).item(), s=(s0 + s1).item())
    _save_stage(ck, modules, opt, it)
    acc = damsm_rprecision(text_enc.cpu(), img_enc.cpu(), args.data, feats["test"])
    print(f"STEM saved at iteration {it}; real-image R-precision (docs/EVALUATION.md protocol, "
          f"{acc['n']} test images) = {acc['mean']:.3f} ± {acc['std']:.3f}")


def _frozen_sentences(text_enc, caps):
    """[N_train * cpi, nef]: the frozen text encoder's sentence feature of every training caption, whole (as the
    server encodes it), computed once: the head-only phase then costs the image heads alone (docs/TRAINING.md)."""
    from .evaluation.batched import sentence_features

    t0 = time.time()
    ids = [list(c) for c in caps.captions["train"]]
    out = sentence_features(SimpleNamespace(text_encoder=text_enc), ids)
    print(f"sentence features of {len(ids)} training captions (frozen text encoder) in {time.time() - t0:.0f}s")
    return out


def _image_head_config(args, cfg):
    """--image-head / --image-head-width into the run's config.json. A trained STEM keeps its head, except in the
    head-only phase (--freeze-text), which may fit a new head to the fixed text encoder."""
    head = args.image_head or cfg.image_code_head
    width = args.image_head_width or cfg.image_code_width
    if (head, width) == (cfg.image_code_head, cfg.image_code_width):
        return cfg
    if os.path.exists(os.path.join(args.run, "stem.pt")) and not args.freeze_text:
        raise SystemExit(f"{args.run}/stem.pt was trained with the {cfg.image_code_head} image head; another head "
                         f"is fitted with --freeze-text (the head-only phase) or in a new run (--init-stem)")
    cfg.image_code_head, cfg.image_code_width = head, width
    save_config(args.run, cfg)
    return cfg


def _checkpoint_head(path) -> str:
    """The code head a stem.pt's image encoder was trained with."""
    return "local_conv" if "code_conv1.weight" in load_cpu(path)["image_encoder"] else "linear"


def _init_from_stem(path, text_enc, img_enc):
    """A fresh STEM stage started from another run's stem.pt: its text encoder, and the image heads' tensors that
    exist there (a new code head starts from its initialisation)."""
    st = load_cpu(path)
    text_enc.load_state_dict(st["text_encoder"])
    missing, unexpected = img_enc.load_state_dict(st["image_encoder"], strict=False)
    if unexpected:
        raise SystemExit(f"{path}: image encoder tensors {unexpected} do not fit this run's image head")
    print(f"STEM initialised from {path} (iteration {st.get('it')}); new image-head tensors: {len(missing)}")


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
    dev, caps, cfg, feats = _stage_inputs(args)
    glo = feats["train"]["global"].to(dev)
    n = glo.shape[0]
    cnn = CAPTION_CNN(cfg.cap_embed).to(dev)
    rnn = CAPTION_RNN(cfg.cap_embed, cfg.cap_hidden, cfg.n_words, max_seq_length=cfg.max_seq_length).to(dev)
    opt = torch.optim.Adam(list(cnn.parameters()) + list(rnn.parameters()), lr=args.lr)
    modules = {"encoder": cnn, "decoder": rnn}
    ck, it, rng, prog, stop = _resume_stage(args, "stream.pt", modules, opt, "STREAM")
    start = it
    sampler = D.CaptionSampler(caps, "train", 32, seed=args.seed + it)  # whole captions (no subsampling)
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
    _save_stage(ck, modules, opt, it)
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
