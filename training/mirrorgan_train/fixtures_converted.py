"""Parity fixtures for converted models (issue 18): the Inception-v3 and ResNet-152 trunks and whole requests of
tiny random-weight model directories in the converted layout, from these PyTorch modules.

  python -m mirrorgan_train.fixtures --out Tests/Fixtures     # writes these too

Writes under parity/:
  converted_birds/           birds config (GLAM generator, STREAM on ResNet-152, DAMSM on Inception-v3), tiny widths
  converted_coco_nostream/   COCO config (R_NUM 3, WORDS_NUM 12, AttnGAN generator), no STREAM ("stream": null)
  converted_io.safetensors   trunk inputs and outputs (Inception-v3 local features: first 32 channels in full and
                             every channel's sum; global features; ResNet-152 global, raw and ImageNet input)
  converted_requests.json    whole requests: tokens, redescription ids, R-precision rank and cosine, DAMSM code
The directories hold every file but the two trunks and the MANIFEST: the trunks' weights (88 and 232 MB) are made
from the seeds in converted_requests.json by synthetic_trunk.py here and by its Swift twin in the tests, which then
write the MANIFEST. Everything else is at tiny widths, so the fixtures stay under 2 MB.
"""
from __future__ import annotations

import json
import os
import shutil
import tempfile

import torch
from safetensors.torch import save_file

from . import synthetic_trunk
from .backbones import InceptionTrunk, ResNetTrunk
from .convert_layout import inception_backbone, resnet152_backbone
from .export import write_model_dir
from .fixtures import randomize_bn
from .models import CAPTION_CNN, CAPTION_RNN, CNN_ENCODER, G_NET, RNN_ENCODER, ModelConfig, weights_init
from .pipeline import ReferenceModel

INCEPTION_SEED, RESNET_SEED = 18001, 18002
TRUNK_FILES = ("backbone.safetensors", "stream_backbone.safetensors")
BIRDS = dict(n_words=40, embedding_dim=300, nef=16, words_num=18, ngf=4, z_dim=16, condition_dim=12, r_num=2,
             glam=True, cap_embed=16, cap_hidden=32, max_seq_length=20)
COCO = dict(BIRDS, words_num=12, r_num=3, glam=False)
REQUESTS = {"converted_birds": [("w1 w2 w3 w5 w8 w13 w21", 7), ("w4 w9 w16 w25 w36", 2026)],
            "converted_coco_nostream": [("w3 w1 w4 w1 w5 w9 w2 w6", 11)]}


def _model_dir(path, kw, stream: bool, seed: int):
    """A complete converted-layout directory (trunks included) at `path`."""
    torch.manual_seed(seed)
    g = torch.Generator().manual_seed(seed)
    cfg = ModelConfig(**kw)
    gen = G_NET(cfg)
    gen.apply(weights_init)
    randomize_bn(gen, g)
    bb = inception_backbone(align_corners=True)
    inc = InceptionTrunk(bb)
    modules = {"text_encoder": RNN_ENCODER(cfg.n_words, cfg.embedding_dim, nhidden=cfg.nef).state_dict(),
               "generator": gen.state_dict(), "backbone": synthetic_trunk.state_dict(inc, INCEPTION_SEED),
               "image_encoder": CNN_ENCODER(cfg.nef, 768, 2048).state_dict()}
    sbb = None
    if stream:
        cap_cnn = CAPTION_CNN(cfg.cap_embed, 2048)
        randomize_bn(cap_cnn, g)
        sbb = resnet152_backbone(align_corners=False, imagenet_normalise=False)
        modules["stream_backbone"] = synthetic_trunk.state_dict(ResNetTrunk(sbb), RESNET_SEED)
        modules["stream_encoder"] = cap_cnn.state_dict()
        modules["stream_decoder"] = CAPTION_RNN(cfg.cap_embed, cfg.cap_hidden, cfg.n_words,
                                                max_seq_length=cfg.max_seq_length).state_dict()
    vocab = ["<end>"] + [f"w{i}" for i in range(1, cfg.n_words)]
    bank = {"captions": [[int(t) for t in torch.randint(1, cfg.n_words, (int(torch.randint(3, 12, (1,), generator=g)),),
                                                          generator=g)] for _ in range(150)],
            "class_ids": [i // 10 for i in range(150)]}
    write_model_dir(path, cfg, modules, vocab, bank, os.path.basename(path), "random-weight converted-layout fixture",
                    stream_end_token=False, backbone=bb, stream_backbone=sbb)


@torch.no_grad()
def trunk_io() -> dict:
    g = torch.Generator().manual_seed(18)
    x = torch.rand(1, 3, 64, 64, generator=g) * 2 - 1
    inc = InceptionTrunk(inception_backbone(align_corners=True))
    inc.load_state_dict(synthetic_trunk.state_dict(inc, INCEPTION_SEED))
    local, glob = inc.eval()(x)
    io = {"input": x, "inception.local_head": local[:, :32], "inception.local_channel_sum": local.sum(dim=(2, 3)),
          "inception.global": glob}
    for key, imagenet in (("resnet.global", False), ("resnet_imagenet.global", True)):
        res = ResNetTrunk(resnet152_backbone(align_corners=False, imagenet_normalise=imagenet))
        res.load_state_dict(synthetic_trunk.state_dict(res, RESNET_SEED))
        io[key] = res.eval()(x)[1]
    return {k: v.detach().float().contiguous() for k, v in io.items()}


@torch.no_grad()
def write(out: str):
    parity = os.path.join(out, "parity")
    save_file(trunk_io(), os.path.join(parity, "converted_io.safetensors"))
    requests = {"inception_seed": INCEPTION_SEED, "resnet_seed": RESNET_SEED, "models": {}}
    models = (("converted_birds", BIRDS, True, 181), ("converted_coco_nostream", COCO, False, 182))
    for name, kw, stream, seed in models:
        with tempfile.TemporaryDirectory() as tmp:
            full = os.path.join(tmp, name)
            _model_dir(full, kw, stream, seed)
            model = ReferenceModel(full)
            entries = []
            for text, s in REQUESTS[name]:
                r = model.generate(text, s, n=2)
                for im in r["images"]:
                    entries.append({"caption": text, "seed": s, "image_seed": im["seed"], "tokens": r["ids"],
                                    "redescription_ids": im["redescription_ids"] if stream else None,
                                    "rank": im["rank"], "cosine": im["cosine"],
                                    "code": model.image_code(im["images"][-1]).tolist()})
            requests["models"][name] = entries
            dest = os.path.join(parity, name)
            shutil.rmtree(dest, ignore_errors=True)
            os.makedirs(dest)
            for f in sorted(os.listdir(full)):
                if f not in TRUNK_FILES and f != "MANIFEST":
                    shutil.copy(os.path.join(full, f), os.path.join(dest, f))
    with open(os.path.join(parity, "converted_requests.json"), "w") as f:
        json.dump(requests, f, indent=1)

