"""Export a trained run to a model directory (docs/MODEL_FORMAT.md) that the Swift runtime serves.

  python -m mirrorgan_train.export --run runs/default --data data/synthbirds --out Weights/synthbirds
"""
from __future__ import annotations

import argparse
import contextlib
import hashlib
import json
import os
import shutil
import tempfile

import torch
from safetensors.torch import save_file

from . import data as D
from .models import (CAPTION_CNN, CAPTION_RNN, CNN_ENCODER, G_NET, LITE0_GLOBAL_CHANNELS, LITE0_LOCAL_BLOCK,
                     LITE0_LOCAL_CHANNELS, PIXEL_MEAN, PIXEL_STD, RNN_ENCODER, Backbone, ModelConfig)

def clean_state(sd):
    """Float32, contiguous, no num_batches_tracked (the runtime does not use the counters)."""
    return {k: v.detach().float().contiguous().clone() for k, v in sd.items() if not k.endswith("num_batches_tracked")}


# The image trunk this toolkit trains with (models.Backbone): shared by the DAMSM image encoder and STREAM.
LITE0_BACKBONE = {"name": "efficientnet-lite0", "input_size": 224, "resize": "bilinear", "align_corners": False,
                  "pixel_mean": PIXEL_MEAN, "pixel_std": PIXEL_STD, "local_block": LITE0_LOCAL_BLOCK,
                  "local_channels": LITE0_LOCAL_CHANNELS, "global_channels": LITE0_GLOBAL_CHANNELS}


def model_json(cfg: ModelConfig, name: str, description: str, stream_end_token: bool = True,
               backbone: dict | None = None, stream_backbone: dict | None = None, stream: bool = True) -> dict:
    """model.json (docs/MODEL_FORMAT.md). backbone: the DAMSM image encoder's trunk (default Lite0);
    stream_backbone: STREAM's own trunk when it is not the shared one (written as "stream_backbone");
    stream=False: the model has no STREAM ("stream": null)."""
    meta = {
        "format_version": 1,
        "name": name,
        "description": description,
        "text_encoder": {"n_words": cfg.n_words, "embedding_dim": cfg.embedding_dim, "hidden_dim": cfg.nef,
                         "words_num": cfg.words_num},
        "generator": {"ngf": cfg.ngf, "z_dim": cfg.z_dim, "condition_dim": cfg.condition_dim, "r_num": cfg.r_num,
                      "branch_num": cfg.branch_num, "base_size": cfg.base_size, "glam": cfg.glam},
        "backbone": dict(backbone or LITE0_BACKBONE),
        "stream": {"embed_size": cfg.cap_embed, "hidden_size": cfg.cap_hidden, "max_seq_length": cfg.max_seq_length,
                   "end_token": stream_end_token} if stream else None,
        "r_precision": {"candidates": 100, "feature": "damsm_global", "similarity": "cosine"},
        "output": {"mapping": "truncate"},
    }
    if stream and stream_backbone is not None:
        meta["stream_backbone"] = dict(stream_backbone)
    if cfg.image_code_head != "linear":  # the official linear head needs no entry (docs/MODEL_FORMAT.md)
        meta["image_encoder"] = {"code_head": cfg.image_code_head, "width": cfg.image_code_width}
    return meta


def write_model_dir(out, cfg, modules: dict, vocab: list[str], bank: dict, name: str, description: str,
                    stream_end_token=True, backbone=None, stream_backbone=None):
    """modules: file stem -> state dict (text_encoder, generator, backbone (trunk), image_encoder, and where the
    model has them stream_encoder, stream_decoder, stream_backbone). backbone / stream_backbone: see model_json."""
    os.makedirs(out, exist_ok=True)
    for key, sd in modules.items():
        save_file(clean_state(sd), os.path.join(out, f"{key}.safetensors"), metadata={"format": "pt"})
    with open(os.path.join(out, "vocab.json"), "w") as f:
        json.dump({"ixtoword": vocab}, f)
    with open(os.path.join(out, "caption_bank.json"), "w") as f:
        json.dump(bank, f, separators=(",", ":"))
    meta = model_json(cfg, name, description, stream_end_token, backbone, stream_backbone,
                      stream="stream_decoder" in modules)
    with open(os.path.join(out, "model.json"), "w") as f:
        json.dump(meta, f, indent=2)
    write_manifest(out)


@contextlib.contextmanager
def staged_dir(out, replace=False):
    """Yields a fresh temporary directory beside `out`; when the block ends without an exception it becomes
    `out` by a rename, otherwise it is removed: a failed write never leaves a partial model directory.
    An existing `out` is an error unless replace is true (then it is swapped out after the new one is complete)."""
    out = os.path.abspath(out)
    if os.path.exists(out) and not replace:
        raise FileExistsError(f"{out} already exists (pass --force to replace it)")
    parent = os.path.dirname(out)
    os.makedirs(parent, exist_ok=True)
    tmp = tempfile.mkdtemp(prefix=f".{os.path.basename(out)}.", suffix=".partial", dir=parent)
    try:
        yield tmp
        if os.path.exists(out):
            old = tmp + ".old"
            os.rename(out, old)
            try:
                os.rename(tmp, out)
            except BaseException:
                os.rename(old, out)  # the previous directory back in place
                raise
            shutil.rmtree(old)
        else:
            os.rename(tmp, out)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


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


def bank_from(pairs) -> dict:
    """caption_bank.json from (token ids, class id) pairs, in order; empty captions are left out."""
    ids, classes = [], []
    for c, class_id in pairs:
        if len(c):
            ids.append([int(t) for t in c])
            classes.append(int(class_id))
    return {"captions": ids, "class_ids": classes}


def caption_bank(caps: D.CaptionSet) -> dict:
    n = len(caps.filenames["test"])
    return bank_from((caps.caption("test", i, k), caps.class_ids["test"][i]) for i in range(n) for k in range(caps.cpi))


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
