"""Convert official AttnGAN / MirrorGAN files into a model directory (docs/CONVERTING.md, docs/MODEL_FORMAT.md).

  python -m mirrorgan_train.convert --config birds --generator netG_epoch_600.pth \\
      --text-encoder text_encoder200.pth --image-encoder image_encoder200.pth \\
      --captions captions.pickle [--class-info test/class_info.pickle] \\
      [--stream-encoder cnn_encoder.ckpt --stream-decoder rnn_decoder.ckpt] --out Weights/attngan-birds

Every input is read and checked before anything is written; the directory is written under a temporary name
beside --out and renamed at the end, so an error never leaves a partial model directory. Reading the files
runs no code from them (convert_inputs.py).
"""
from __future__ import annotations

import argparse
import os
import sys

from . import export
from .convert_inputs import Captions, ConvertError, read_captions, read_class_info, read_config, load_checkpoint, \
    state_dict_of
from .convert_layout import check_state, generator_hints, generator_shapes, image_encoder_shapes, inception_backbone, \
    is_glam, require_kind, resnet152_backbone, split_image_encoder, split_stream_encoder, stream_decoder_shapes, \
    stream_encoder_shapes, text_encoder_hint, text_encoder_shapes, vocabulary_hint
from .models import ModelConfig


def model_config(official, n_words: int, glam: bool, words_num: int | None = None) -> ModelConfig:
    """The official config's widths as this toolkit's ModelConfig. STREAM's LSTM is CAP.hidden_size * 2 wide,
    as MirrorGAN's trainer builds it; the text encoder's word embedding is 300 (fixed in RNN_ENCODER)."""
    g = official.get
    return ModelConfig(n_words=n_words, embedding_dim=300, nef=g("TEXT", "EMBEDDING_DIM"),
                       words_num=words_num or g("TEXT", "WORDS_NUM"), ngf=g("GAN", "GF_DIM"), z_dim=g("GAN", "Z_DIM"),
                       condition_dim=g("GAN", "CONDITION_DIM"), r_num=g("GAN", "R_NUM"),
                       branch_num=g("TREE", "BRANCH_NUM"), base_size=g("TREE", "BASE_SIZE"), glam=glam,
                       cap_embed=g("CAP", "embed_size"), cap_hidden=g("CAP", "hidden_size") * 2)


def test_caption_bank(caps: Captions, per_image: int, class_info: list[int] | None, class_info_path=None) -> dict:
    """R-precision candidates: the pickle's test captions; caption j belongs to test image j // per_image, whose
    class id comes from class_info.pickle when given (CUB), else the image index (COCO: every image its own
    class, as the official code falls back to)."""
    n_images = -(-len(caps.test) // per_image)
    if class_info is not None and len(class_info) != n_images:
        raise ConvertError(f"{class_info_path}: {len(class_info)} class ids, but {caps.path} has {len(caps.test)} "
                           f"test captions = {n_images} images at {per_image} captions per image "
                           f"(TEXT.CAPTIONS_PER_IMAGE)")
    classes = class_info if class_info is not None else list(range(n_images))
    return export.bank_from((c, classes[j // per_image]) for j, c in enumerate(caps.test))


def _read(path, kind, flag, ema=True):
    sd = state_dict_of(load_checkpoint(path), path, ema=ema)
    require_kind(sd, kind, path, flag)
    return sd


def convert(args) -> str:
    if os.path.exists(args.out) and not args.force:  # before reading hundreds of MB (staged_dir checks again)
        raise ConvertError(f"{os.path.abspath(args.out)} already exists (pass --force to replace it)")
    if (args.stream_encoder is None) != (args.stream_decoder is None):
        raise ConvertError("--stream-encoder and --stream-decoder go together (STREAM is both or neither)")
    official = read_config(args.config)
    caps = read_captions(args.captions)
    class_info = read_class_info(args.class_info) if args.class_info else None
    te = _read(args.text_encoder, "text_encoder", "--text-encoder")
    g = _read(args.generator, "generator", "--generator", ema=args.g_params == "ema")
    glam = is_glam(g)
    cfg = model_config(official, caps.n_words, glam, args.words_num)
    src = official.source
    check_state(te, text_encoder_shapes(cfg), args.text_encoder, "the text encoder", src,
                [vocabulary_hint(te, "encoder.weight", caps.n_words, args.captions), text_encoder_hint(te, cfg)])
    check_state(g, generator_shapes(cfg), args.generator,
                "the MirrorGAN (GLAM) generator" if glam else "the AttnGAN generator", src,
                generator_hints(g, cfg, glam))
    ie = _read(args.image_encoder, "image_encoder", "--image-encoder")
    check_state(ie, image_encoder_shapes(cfg), args.image_encoder, "the DAMSM image encoder", src)
    backbone, image_heads = split_image_encoder(ie)
    modules = {"text_encoder": te, "generator": g, "backbone": backbone, "image_encoder": image_heads}
    stream_backbone = None
    if args.stream_encoder:
        se = _read(args.stream_encoder, "stream_encoder", "--stream-encoder")
        sd = _read(args.stream_decoder, "stream_decoder", "--stream-decoder")
        check_state(se, stream_encoder_shapes(cfg), args.stream_encoder, "the STREAM encoder", src)
        check_state(sd, stream_decoder_shapes(cfg), args.stream_decoder, "the STREAM decoder", src,
                    [vocabulary_hint(sd, "embed.weight", caps.n_words, args.captions)])
        modules["stream_backbone"], modules["stream_encoder"] = split_stream_encoder(se)
        modules["stream_decoder"] = sd
        stream_backbone = resnet152_backbone(args.stream_align_corners == "true", args.stream_input == "imagenet")
    bank = test_caption_bank(caps, official.get("TEXT", "CAPTIONS_PER_IMAGE"), class_info, args.class_info)
    name = args.name or os.path.basename(os.path.normpath(args.out))
    kind = "MirrorGAN (GLAM)" if glam else "AttnGAN"
    description = args.description or f"{kind} generator converted from official-format files ({src} config)"
    try:
        with export.staged_dir(args.out, replace=args.force) as tmp:
            export.write_model_dir(tmp, cfg, modules, caps.ixtoword, bank, name, description, stream_end_token=False,
                                   backbone=inception_backbone(args.damsm_align_corners == "true"),
                                   stream_backbone=stream_backbone)
    except FileExistsError as e:
        raise ConvertError(str(e)) from None
    return kind


def parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(prog="mirrorgan_train.convert", description=__doc__.split("\n\n")[0])
    p.add_argument("--config", default="birds", help="preset (birds, coco) or an official YAML (cfg/*.yml)")
    p.add_argument("--generator", required=True, help="netG_*.pth (AttnGAN or MirrorGAN, detected from the keys)")
    p.add_argument("--text-encoder", dest="text_encoder", required=True, help="DAMSM text_encoder*.pth")
    p.add_argument("--image-encoder", dest="image_encoder", required=True, help="DAMSM image_encoder*.pth")
    p.add_argument("--captions", required=True, help="captions.pickle (AttnGAN) or bird_captions.pickle (MirrorGAN)")
    p.add_argument("--class-info", dest="class_info", default=None,
                   help="test/class_info.pickle: class ids of the test images for the caption bank (optional)")
    p.add_argument("--stream-encoder", dest="stream_encoder", default=None, help="STREAM CAPTION_CNN file (optional)")
    p.add_argument("--stream-decoder", dest="stream_decoder", default=None, help="STREAM CAPTION_RNN file (optional)")
    p.add_argument("--out", required=True, help="model directory to create (must not exist unless --force)")
    p.add_argument("--force", action="store_true", help="replace an existing --out (only after a complete write)")
    p.add_argument("--name", default=None, help="model name in model.json (default: the --out folder's name)")
    p.add_argument("--description", default=None)
    p.add_argument("--words-num", dest="words_num", type=int, default=None,
                   help="TEXT.WORDS_NUM to record (default: the config's)")
    p.add_argument("--g-params", dest="g_params", choices=["ema", "raw"], default="ema",
                   help="for a checkpoint dict with an EMA list (avg_param_G / G_ema): which parameters to take")
    p.add_argument("--damsm-align-corners", dest="damsm_align_corners", choices=["true", "false"], default="true",
                   help="the image encoder's 299 resize: true = PyTorch <= 0.4.0 bilinear, the era of the released "
                        "DAMSM encoders (default); false = today's nn.Upsample default")
    p.add_argument("--stream-align-corners", dest="stream_align_corners", choices=["true", "false"], default="false")
    p.add_argument("--stream-input", dest="stream_input", choices=["raw", "imagenet"], default="raw",
                   help="STREAM's input: raw [-1, 1] as MirrorGAN's loss feeds it (default), or ImageNet mean/std")
    return p


def main(argv=None) -> int:
    args = parser().parse_args(argv)
    try:
        kind = convert(args)
    except ConvertError as e:
        print(f"convert: error: {e}", file=sys.stderr)
        print(f"convert: nothing was written to {args.out}", file=sys.stderr)
        return 2
    total = sum(os.path.getsize(os.path.join(args.out, f)) for f in os.listdir(args.out))
    print(f"wrote {args.out} ({kind}, {total / 1e6:.1f} MB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
