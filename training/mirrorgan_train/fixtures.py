"""Parity fixtures that pin the Swift runtime to these PyTorch modules.

  python -m mirrorgan_train.fixtures --out Tests/Fixtures            # tiny random-weight modules
  python -m mirrorgan_train.fixtures --out Tests/Fixtures --weights Weights/synthbirds   # + shipped-model reference

Writes
  parity/tiny/            a model directory (docs/MODEL_FORMAT.md) of a tiny random-weight config, without the
                          backbone (the backbone fixture uses the shipped Lite0 weights instead)
  parity/tiny_attngan/    the same for the AttnGAN generator variant (generator only)
  parity/tiny_io.safetensors      inputs and outputs of every module and the key intermediates
  parity/backbone_io.safetensors  EfficientNet-Lite0 input and (local, global) outputs
  parity/converted_*              converted-layout models: Inception-v3 / ResNet-152 trunks, whole requests
                                  (fixtures_converted.py)
  reference/              shipped-model reference: caption, seed, PNG, redescription, R-precision (with --weights)
Token ids are stored as F32 tensors (exact for ids < 2^24).
"""
from __future__ import annotations

import argparse
import json
import os

import numpy as np
import torch
from safetensors.torch import save_file

from .export import clean_state, model_json, write_model_dir
from .models import (CAPTION_CNN, CAPTION_RNN, CNN_ENCODER, G_NET, RNN_ENCODER, Backbone, ModelConfig,
                     weights_init)

TINY = dict(n_words=40, embedding_dim=24, nef=32, words_num=18, ngf=4, ndf=4, z_dim=16, condition_dim=12, r_num=2,
            cap_embed=16, cap_hidden=24, max_seq_length=20)


def randomize_bn(module, g):
    """Non-trivial BN statistics so that the inference-mode BN is actually exercised."""
    for m in module.modules():
        if isinstance(m, (torch.nn.BatchNorm1d, torch.nn.BatchNorm2d)):
            n = m.num_features
            m.running_mean.copy_(torch.randn(n, generator=g) * 0.1)
            m.running_var.copy_(torch.rand(n, generator=g) * 0.5 + 0.75)
            m.weight.data.copy_(1 + torch.randn(n, generator=g) * 0.1)
            m.bias.data.copy_(torch.randn(n, generator=g) * 0.1)


def f32(x):
    return torch.as_tensor(x).detach().float().contiguous().clone()


@torch.no_grad()
def tiny_fixtures(out):
    torch.manual_seed(0)
    g = torch.Generator().manual_seed(0)
    cfg = ModelConfig(**TINY)
    text = RNN_ENCODER(cfg.n_words, cfg.embedding_dim, nhidden=cfg.nef)
    gen = G_NET(cfg)
    gen.apply(weights_init)
    randomize_bn(gen, g)
    img_enc = CNN_ENCODER(cfg.nef)
    cap_cnn = CAPTION_CNN(cfg.cap_embed)
    randomize_bn(cap_cnn, g)
    cap_rnn = CAPTION_RNN(cfg.cap_embed, cfg.cap_hidden, cfg.n_words, max_seq_length=cfg.max_seq_length)
    for m in (text, gen, img_enc, cap_cnn, cap_rnn):
        m.eval()
    vocab = ["<end>"] + [f"w{i}" for i in range(1, cfg.n_words)]
    bank = {"captions": [[int(t) for t in torch.randint(1, cfg.n_words, (int(torch.randint(3, 12, (1,), generator=g)),), generator=g)]
                         for _ in range(150)], "class_ids": [i % 7 for i in range(150)]}
    modules = {"text_encoder": text.state_dict(), "generator": gen.state_dict(),
               "image_encoder": img_enc.state_dict(), "stream_encoder": cap_cnn.state_dict(),
               "stream_decoder": cap_rnn.state_dict()}
    tiny_dir = os.path.join(out, "parity", "tiny")
    write_model_dir(tiny_dir, cfg, modules, vocab, bank, "tiny", "random-weight parity fixture")

    io = {}
    # STEM on a batch of 3 captions of unequal lengths (packed semantics)
    lens = torch.tensor([7, 4, 1])
    caps = torch.zeros(3, 7, dtype=torch.long)
    for r, n in enumerate(lens.tolist()):
        caps[r, :n] = torch.randint(1, cfg.n_words, (n,), generator=g)
    words, sent = text(caps, lens)
    io.update({"stem.captions": f32(caps), "stem.lengths": f32(lens), "stem.words": words, "stem.sentence": sent})
    # CA + generator on batch 2 (captions 0 and 1, per-sample masks)
    b = 2
    w, s = words[:b, :, :7], sent[:b]
    mask = torch.arange(7).unsqueeze(0) >= lens[:b].unsqueeze(1)
    z = torch.randn(b, cfg.z_dim, generator=g)
    eps = torch.randn(b, cfg.condition_dim, generator=g)
    c, mu, logvar = gen.ca_net(s, eps)
    imgs, atts, _, _, hs = gen(z, s, w, mask, eps=eps)
    io.update({"gen.z": z, "gen.eps": eps, "gen.mask": f32(mask), "ca.c": c, "ca.mu": mu, "ca.logvar": logvar,
               "gen.h1": hs[0], "gen.h2": hs[1][:1], "gen.img64": imgs[0], "gen.img128": imgs[1],
               "gen.img256": imgs[2][:1], "gen.att1": atts[0], "gen.att2": atts[1][:1]})
    # GLAM attention internals of stage 2
    att = gen.h_net2.att
    att.applyMask(mask)
    cw, cs, wa, sa = att(hs[0], c, w)
    io.update({"glam.word_context": cw, "glam.sentence_context": cs, "glam.word_attention": wa,
               "glam.sentence_attention": sa})
    # AttnGAN variant (no sentence attention)
    cfg_a = ModelConfig(**{**TINY, "glam": False})
    gen_a = G_NET(cfg_a)
    gen_a.apply(weights_init)
    randomize_bn(gen_a, g)
    gen_a.eval()
    imgs_a, atts_a, _, _, _ = gen_a(z, s, w, mask, eps=eps)
    os.makedirs(os.path.join(out, "parity", "tiny_attngan"), exist_ok=True)
    save_file({k: f32(v) for k, v in gen_a.state_dict().items() if not k.endswith("num_batches_tracked")},
              os.path.join(out, "parity", "tiny_attngan", "generator.safetensors"))
    io.update({"attngan.img256": imgs_a[2][:1], "attngan.att1": atts_a[0]})
    # DAMSM heads
    local = torch.randn(2, 112, 14, 14, generator=g)
    glob = torch.randn(2, 1280, generator=g).abs()
    region, code = img_enc(local, glob)
    io.update({"damsm.local": local, "damsm.global": glob, "damsm.region": region, "damsm.code": code})
    # STREAM: encoder head, teacher-forced logits, greedy decoding
    feat = cap_cnn(glob)
    tf_caps = caps[:1, :7]
    emb = torch.cat((feat[:1].unsqueeze(1), cap_rnn.embed(tf_caps)), 1)
    hid, _ = cap_rnn.lstm(emb)
    logits = cap_rnn.linear(hid)  # [1, 8, V]
    ids, lps = cap_rnn.sample(feat, stop_at_end=False)
    io.update({"stream.feature": feat, "stream.tf_captions": f32(tf_caps), "stream.tf_logits": logits,
               "stream.greedy_ids": f32(ids), "stream.greedy_logprobs": lps})
    # DAMSM code head "local_conv" (model.json "image_encoder"), on the same inputs; its own generator so that the
    # fixtures above do not move
    gc = torch.Generator().manual_seed(2)
    cfg_c = ModelConfig(**TINY, image_code_head="local_conv", image_code_width=16)
    conv_enc = CNN_ENCODER(cfg_c.nef, code_head="local_conv", width=16)
    for prm in conv_enc.parameters():
        prm.copy_(torch.randn(prm.shape, generator=gc) * 0.1)
    randomize_bn(conv_enc, gc)
    conv_enc.eval()
    conv_dir = os.path.join(out, "parity", "tiny_local_conv")
    os.makedirs(conv_dir, exist_ok=True)
    save_file(clean_state(conv_enc.state_dict()), os.path.join(conv_dir, "image_encoder.safetensors"),
              metadata={"format": "pt"})
    with open(os.path.join(conv_dir, "model.json"), "w") as f:
        json.dump(model_json(cfg_c, "tiny_local_conv", "random-weight parity fixture: the local_conv DAMSM code head"),
                  f, indent=2)
    io["damsm_conv.code"] = conv_enc.code(local, glob)
    save_file({k: f32(v) for k, v in io.items()}, os.path.join(out, "parity", "tiny_io.safetensors"))


@torch.no_grad()
def backbone_fixture(out):
    g = torch.Generator().manual_seed(1)
    bb = Backbone(pretrained=True).eval()
    x = torch.rand(1, 3, 64, 64, generator=g) * 2 - 1
    local, glob = bb(x)
    x224 = bb.preprocess(x)
    save_file({"input": f32(x), "preprocessed": f32(x224), "local": f32(local), "global": f32(glob)},
              os.path.join(out, "parity", "backbone_io.safetensors"))


REFERENCE_CAPTIONS = [("this bird has a red crown and a white belly", 42)]


@torch.no_grad()
def reference_fixture(out, weights):
    from PIL import Image

    from .pipeline import ReferenceModel

    model = ReferenceModel(weights)
    ref_dir = os.path.join(out, "reference")
    os.makedirs(ref_dir, exist_ok=True)
    entries = []
    for k, (text, seed) in enumerate(REFERENCE_CAPTIONS):
        r = model.generate(text, seed, n=2)
        for j, im in enumerate(r["images"]):
            name = f"ref{k}_{j}.png"
            Image.fromarray(im["png_bytes"]).save(os.path.join(ref_dir, name))
            entries.append({"caption": text, "seed": seed, "index": j, "image_seed": im["seed"], "png": name,
                            "tokens": r["ids"], "unknown_words": r["unknown"],
                            "redescription": im["redescription"], "redescription_ids": im["redescription_ids"],
                            "rank": im["rank"], "cosine": im["cosine"]})
    with open(os.path.join(ref_dir, "reference.json"), "w") as f:
        json.dump({"weights": os.path.basename(os.path.normpath(weights)), "entries": entries}, f, indent=2)


def main(argv=None):
    p = argparse.ArgumentParser(prog="mirrorgan_train.fixtures")
    p.add_argument("--out", default="Tests/Fixtures")
    p.add_argument("--weights", default=None, help="shipped model directory for the reference images")
    args = p.parse_args(argv)
    torch.set_num_threads(2)
    tiny_fixtures(args.out)
    backbone_fixture(args.out)
    from .fixtures_converted import write as converted_fixtures  # converted layouts (issue 18)

    converted_fixtures(args.out)
    if args.weights:
        reference_fixture(args.out, args.weights)
    total = 0
    for root, _, files in os.walk(args.out):
        total += sum(os.path.getsize(os.path.join(root, f)) for f in files)
    print(f"fixtures in {args.out}: {total / 1e6:.2f} MB")


if __name__ == "__main__":
    main()
