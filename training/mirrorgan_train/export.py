"""Export a trained run to a model directory (docs/MODEL_FORMAT.md) that the Swift runtime serves.

  python -m mirrorgan_train.export --run runs/default --data data/synthbirds --out Weights/synthbirds
"""
from __future__ import annotations

import argparse
import hashlib
import json
import os

import torch
from safetensors.torch import save_file

from . import data as D
from .models import (CAPTION_CNN, CAPTION_RNN, CNN_ENCODER, G_NET, LITE0_GLOBAL_CHANNELS, LITE0_LOCAL_BLOCK,
                     LITE0_LOCAL_CHANNELS, PIXEL_MEAN, PIXEL_STD, RNN_ENCODER, Backbone, ModelConfig)

FILES = ["text_encoder.safetensors", "generator.safetensors", "backbone.safetensors", "image_encoder.safetensors",
         "stream_encoder.safetensors", "stream_decoder.safetensors", "vocab.json", "caption_bank.json", "model.json"]


def clean_state(sd):
    """Float32, contiguous, no num_batches_tracked (the runtime does not use the counters)."""
    return {k: v.detach().float().contiguous().clone() for k, v in sd.items() if not k.endswith("num_batches_tracked")}


def model_json(cfg: ModelConfig, name: str, description: str, stream_end_token: bool = True) -> dict:
    return {
        "format_version": 1,
        "name": name,
        "description": description,
        "text_encoder": {"n_words": cfg.n_words, "embedding_dim": cfg.embedding_dim, "hidden_dim": cfg.nef,
                         "words_num": cfg.words_num},
        "generator": {"ngf": cfg.ngf, "z_dim": cfg.z_dim, "condition_dim": cfg.condition_dim, "r_num": cfg.r_num,
                      "branch_num": cfg.branch_num, "base_size": cfg.base_size, "glam": cfg.glam},
        "backbone": {"name": "efficientnet-lite0", "input_size": 224, "resize": "bilinear", "align_corners": False,
                     "pixel_mean": PIXEL_MEAN, "pixel_std": PIXEL_STD, "local_block": LITE0_LOCAL_BLOCK,
                     "local_channels": LITE0_LOCAL_CHANNELS, "global_channels": LITE0_GLOBAL_CHANNELS},
        "stream": {"embed_size": cfg.cap_embed, "hidden_size": cfg.cap_hidden, "max_seq_length": cfg.max_seq_length,
                   "end_token": stream_end_token},
        "r_precision": {"candidates": 100, "feature": "damsm_global", "similarity": "cosine"},
        "output": {"mapping": "truncate"},
    }


def write_model_dir(out, cfg, modules: dict, vocab: list[str], bank: dict, name: str, description: str,
                    stream_end_token=True):
    """modules: text_encoder, generator, backbone (trunk state dict), image_encoder, stream_encoder,
    stream_decoder -> state dicts."""
    os.makedirs(out, exist_ok=True)
    for key, sd in modules.items():
        save_file(clean_state(sd), os.path.join(out, f"{key}.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(out, "vocab.json"), "w") as f:
        json.dump({"ixtoword": vocab}, f)
    with open(os.path.join(out, "caption_bank.json"), "w") as f:
        json.dump(bank, f, separators=(",", ":"))
    with open(os.path.join(out, "model.json"), "w") as f:
        json.dump(model_json(cfg, name, description, stream_end_token), f, indent=2)
    write_manifest(out)


def write_manifest(out):
    lines = []
    for fn in sorted(os.listdir(out)):
        if fn == "MANIFEST" or fn.startswith("."):
            continue
        with open(os.path.join(out, fn), "rb") as f:
            lines.append(f"{hashlib.sha256(f.read()).hexdigest()}  {fn}")
    with open(os.path.join(out, "MANIFEST"), "w") as f:
        f.write("\n".join(lines) + "\n")


def generator_state(gan_ckpt, cfg, params="ema"):
    """The G state to ship. "ema": EMA parameters with the current BN buffers (as the official trainer saves);
    "raw": the trained parameters themselves. With stage-wise training the EMA of stages 2-3 starts from their
    random initialisation when the all-stage phase begins; after N iterations it still weighs that
    initialisation by 0.999^N (0.37 after 1,000), so a short all-stage phase needs "raw"."""
    netG = G_NET(cfg)
    netG.load_state_dict(gan_ckpt["G"])
    if params == "ema":
        for p, a in zip(netG.parameters(), gan_ckpt["G_ema"]):
            p.data.copy_(a)
    return netG.state_dict()


def caption_bank(caps: D.CaptionSet) -> dict:
    n = len(caps.filenames["test"])
    ids, classes = [], []
    for i in range(n):
        for k in range(caps.cpi):
            c = caps.caption("test", i, k)
            if c:
                ids.append([int(t) for t in c])
                classes.append(int(caps.class_ids["test"][i]))
    return {"captions": ids, "class_ids": classes}


def main(argv=None):
    p = argparse.ArgumentParser(prog="mirrorgan_train.export")
    p.add_argument("--run", default="runs/default")
    p.add_argument("--data", default="data/synthbirds")
    p.add_argument("--out", default="Weights/synthbirds")
    p.add_argument("--name", default="synthbirds")
    p.add_argument("--g-params", dest="g_params", choices=["ema", "raw"], default="ema",
                   help="generator parameters to ship (see generator_state)")
    p.add_argument("--description", default="MirrorGAN (GLAM, lambda=20) trained on SynthBirds with the mirrorgan toolkit")
    args = p.parse_args(argv)
    caps = D.CaptionSet(args.data)
    with open(os.path.join(args.run, "config.json")) as f:
        cfg = ModelConfig(**json.load(f))
    stem = torch.load(os.path.join(args.run, "stem.pt"), map_location="cpu")  # runs from an accelerator too
    stream = torch.load(os.path.join(args.run, "stream.pt"), map_location="cpu")
    gan = torch.load(os.path.join(args.run, "gan.pt"), map_location="cpu")
    modules = {
        "text_encoder": stem["text_encoder"],
        "generator": generator_state(gan, cfg, args.g_params),
        "backbone": Backbone(pretrained=True).trunk_state_dict(),
        "image_encoder": stem["image_encoder"],
        "stream_encoder": stream["encoder"],
        "stream_decoder": stream["decoder"],
    }
    write_model_dir(args.out, cfg, modules, caps.vocab_list(), caption_bank(caps), args.name, args.description)
    total = sum(os.path.getsize(os.path.join(args.out, f)) for f in os.listdir(args.out))
    print(f"wrote {args.out} ({total / 1e6:.1f} MB)")


if __name__ == "__main__":
    main()
