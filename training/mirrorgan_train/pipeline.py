"""Reference inference over a model directory: the behaviour the Swift runtime must reproduce.

  caption text -> tokens -> STEM -> CA (+eps) -> G_NET (3 stages) -> 256 px image
  image -> backbone -> STREAM greedy redescription; image -> DAMSM global feature -> R-precision rank
The trunks are the ones model.json names (backbones.py): EfficientNet-Lite0 shared by DAMSM and STREAM, or the
official Inception-v3 (DAMSM) and ResNet-152 (STREAM, its own trunk) of a converted directory; a model without
STREAM ("stream": null) gives no redescription.

Caption rules (the same in Swift, Sources/MirrorGAN/Pipeline/Tokenizer.swift):
  * official cleaning (lower-case, runs of word characters, ASCII only); out-of-vocabulary words are
    dropped as the official gen_example does, and reported;
  * captions over MAX_CAPTION_BYTES bytes are refused; more than MAX_WORDS known words are truncated to
    the first MAX_WORDS (the official free-text path has no limit; a server needs one) and reported.
"""
from __future__ import annotations

import json
import os

import numpy as np
import torch
import torch.nn.functional as F
from safetensors.torch import load_file

from .backbones import build_trunk
from .data import encode_words
from .models import CAPTION_CNN, CAPTION_RNN, CNN_ENCODER, G_NET, RNN_ENCODER, ModelConfig
from .rng import candidate_indices, image_seed, noise

MAX_CAPTION_BYTES = 2048
MAX_WORDS = 64


class CaptionError(ValueError):
    def __init__(self, code, message):
        super().__init__(message)
        self.code = code


class ReferenceModel:
    def __init__(self, model_dir: str):
        self.dir = model_dir
        with open(os.path.join(model_dir, "model.json")) as f:
            self.meta = json.load(f)
        m = self.meta
        self.cfg = ModelConfig(n_words=m["text_encoder"]["n_words"], embedding_dim=m["text_encoder"]["embedding_dim"],
                               nef=m["text_encoder"]["hidden_dim"], words_num=m["text_encoder"]["words_num"],
                               ngf=m["generator"]["ngf"], z_dim=m["generator"]["z_dim"],
                               condition_dim=m["generator"]["condition_dim"], r_num=m["generator"]["r_num"],
                               branch_num=m["generator"]["branch_num"], glam=m["generator"]["glam"],
                               **({} if m["stream"] is None else {
                                   "cap_embed": m["stream"]["embed_size"], "cap_hidden": m["stream"]["hidden_size"],
                                   "max_seq_length": m["stream"]["max_seq_length"]}))
        cfg = self.cfg
        ld = lambda n: load_file(os.path.join(model_dir, n + ".safetensors"))
        self.text_encoder = RNN_ENCODER(cfg.n_words, cfg.embedding_dim, nhidden=cfg.nef)
        self.text_encoder.load_state_dict(ld("text_encoder"))
        self.generator = G_NET(cfg)
        self.generator.load_state_dict(ld("generator"), strict=False)  # no num_batches_tracked
        bb = m["backbone"]
        self.backbone = build_trunk(bb, ld("backbone"))  # the DAMSM image encoder's trunk
        self.image_encoder = CNN_ENCODER.from_config(cfg.nef, bb["local_channels"], bb["global_channels"],
                                                     m.get("image_encoder"))
        self.image_encoder.load_state_dict(ld("image_encoder"))
        # STREAM: none (AttnGAN releases), on the shared trunk, or on its own (converted MirrorGAN: ResNet-152)
        self.stream_encoder = self.stream_decoder = None
        self.stream_backbone = self.backbone
        if m["stream"] is not None:
            sb = m.get("stream_backbone")
            if sb is not None:
                self.stream_backbone = build_trunk(sb, ld("stream_backbone"))
            self.stream_encoder = CAPTION_CNN(cfg.cap_embed, (sb or bb)["global_channels"])
            self.stream_encoder.load_state_dict(ld("stream_encoder"), strict=False)
            self.stream_decoder = CAPTION_RNN(cfg.cap_embed, cfg.cap_hidden, cfg.n_words,
                                              max_seq_length=cfg.max_seq_length)
            self.stream_decoder.load_state_dict(ld("stream_decoder"))
        for mod in (self.text_encoder, self.generator, self.image_encoder, self.stream_encoder, self.stream_decoder):
            if mod is not None:
                mod.eval()
        with open(os.path.join(model_dir, "vocab.json")) as f:
            self.ixtoword = json.load(f)["ixtoword"]
        self.wordtoix = {w: i for i, w in enumerate(self.ixtoword)}
        with open(os.path.join(model_dir, "caption_bank.json")) as f:
            self.bank = json.load(f)["captions"]
        self.end_token = bool(m["stream"] and m["stream"].get("end_token", False))

    # ---------------------------------------------------------------------------------------------
    def encode_caption(self, text: str):
        if len(text.encode("utf-8")) > MAX_CAPTION_BYTES:
            raise CaptionError("caption_too_long", f"caption is longer than {MAX_CAPTION_BYTES} bytes")
        ids, unknown = encode_words(text, self.wordtoix)
        if not ids:
            raise CaptionError("empty_caption" if not unknown else "no_known_words", "caption has no known words")
        truncated = len(ids) > MAX_WORDS
        return ids[:MAX_WORDS], unknown, truncated

    @torch.no_grad()
    def text_features(self, ids: list[int]):
        c = torch.tensor([ids], dtype=torch.long)
        return self.text_encoder(c, torch.tensor([len(ids)]))

    @torch.no_grad()
    def generate(self, text: str, seed: int, n: int = 1, mean_only: bool = False):
        ids, unknown, truncated = self.encode_caption(text)
        words, sent = self.text_features(ids)
        mask = torch.zeros(1, len(ids), dtype=torch.bool)
        results = []
        for i in range(n):
            s = image_seed(seed, i)
            z, eps = noise(s, self.cfg.z_dim, self.cfg.condition_dim)
            z = torch.tensor([z])
            eps = torch.zeros(1, self.cfg.condition_dim) if mean_only else torch.tensor([eps])
            imgs, atts, mu, logvar, h = self.generator(z, sent, words, mask, eps=eps)
            img = imgs[-1][0]
            red_ids, red_lp = self.redescribe(img)
            rank, cos = self.r_precision(img, sent[0], ids, s)
            results.append({"seed": s, "images": [x[0] for x in imgs], "attention": [a[0] for a in atts],
                            "png_bytes": to_uint8(img), "redescription": self.words(red_ids),
                            "redescription_ids": red_ids, "logprobs": red_lp, "rank": rank, "cosine": cos,
                            "z": z[0], "eps": eps[0], "h": [x[0] for x in h]})
        return {"ids": ids, "unknown": unknown, "truncated": truncated, "words_emb": words[0], "sent_emb": sent[0],
                "images": results}

    def words(self, ids):
        return " ".join(self.ixtoword[i] for i in ids)

    @torch.no_grad()
    def redescribe(self, img):
        """img [3,H,W] in [-1,1] -> (ids without <end>, per-token log-probabilities); ([], []) without STREAM."""
        if self.stream_decoder is None:
            return [], []
        _, glob = self.stream_backbone(img.unsqueeze(0))
        ids, lps = self.stream_decoder.sample(self.stream_encoder(glob), stop_at_end=self.end_token)
        out_ids, out_lp = [], []
        for t, lp in zip(ids[0].tolist(), lps[0].tolist()):
            if self.end_token and t == 0:
                break
            out_ids.append(t)
            out_lp.append(lp)
        return out_ids, out_lp

    @torch.no_grad()
    def image_code(self, img):
        local, glob = self.backbone(img.unsqueeze(0))
        region, code = self.image_encoder(local, glob)
        return code[0]

    @torch.no_grad()
    def r_precision(self, img, sent, ids, seed):
        """Rank (1..100) of the true caption among itself + 99 bank captions by cosine with the image's
        DAMSM global feature; ties count in the caption's favour."""
        code = self.image_code(img)
        cand = candidate_indices(seed, self.bank, ids, 99)
        sims = [F.cosine_similarity(code, sent, dim=0).item()]
        for j in cand:
            _, s = self.text_features(self.bank[j])
            sims.append(F.cosine_similarity(code, s[0], dim=0).item())
        true = sims[0]
        rank = 1 + sum(1 for x in sims[1:] if x > true)
        return rank, true


def to_uint8(img: torch.Tensor) -> np.ndarray:
    """[3,H,W] in [-1,1] -> uint8 [H,W,3]: (x + 1) * 127.5 truncated (official, pitfall 16), after a clamp."""
    x = (img.clamp(-1, 1) + 1.0) * 127.5
    return x.permute(1, 2, 0).numpy().astype(np.uint8)
