"""What every training command shares: progress and stop handling, devices, checkpoints (save, load, resume),
the run's model configuration, and the frozen encoders a later stage loads from an earlier one's checkpoint."""
from __future__ import annotations

import json
import os
import signal
import time

import torch

from .models import CAPTION_CNN, CAPTION_RNN, RNN_ENCODER, Backbone, ModelConfig


# --------------------------------------------------------------------------------------------------
# Shared helpers
# --------------------------------------------------------------------------------------------------
class Progress:
    def __init__(self, total_iters, minutes, every=20):
        self.t0 = time.time()
        self.total = total_iters
        self.minutes = minutes
        self.every = every

    def elapsed(self):
        return time.time() - self.t0

    def done(self, it):
        return it >= self.total or (self.minutes and self.elapsed() > self.minutes * 60)

    def report(self, it, start_it, **losses):
        if it % self.every:
            return
        rate = (it - start_it) / max(self.elapsed(), 1e-6)
        left_iters = (self.total - it) / max(rate, 1e-9)
        left_time = self.minutes * 60 - self.elapsed() if self.minutes else left_iters
        eta = max(0.0, min(left_iters, left_time))
        msg = " ".join(f"{k}={v:.4f}" for k, v in losses.items())
        print(f"it {it} {msg} {rate:.2f} it/s eta {eta / 60:.1f} min", flush=True)


class StopFlag:
    """SIGTERM/SIGINT end the current stage cleanly after a checkpoint."""

    def __init__(self):
        self.stop = False
        signal.signal(signal.SIGTERM, self._set)
        signal.signal(signal.SIGINT, self._set)

    def _set(self, *_):
        self.stop = True


def pick_device(name: str) -> torch.device:
    """--device: "auto" takes CUDA when present, else the CPU. Every checkpoint is saved with CPU tensors and
    loaded with map_location="cpu", so a run moves between an accelerator machine and this CPU freely."""
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return torch.device(name)


def to_cpu(obj):
    """A state dict (or nested lists/dicts of them) with every tensor on the CPU."""
    if torch.is_tensor(obj):
        return obj.detach().cpu()
    if isinstance(obj, dict):
        return {k: to_cpu(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(to_cpu(v) for v in obj)
    return obj


def load_cpu(path):
    return torch.load(path, map_location="cpu")


def save(obj, path):
    tmp = path + ".tmp"
    torch.save(to_cpu(obj), tmp)
    os.replace(tmp, path)


def resume(path, modules: dict, opt, label) -> int:
    """Loads a stage checkpoint ({key: state_dict, "opt", "it"}) if it exists; returns the iteration."""
    if not os.path.exists(path):
        return 0
    st = load_cpu(path)
    for key, module in modules.items():
        module.load_state_dict(st[key])
    opt.load_state_dict(st["opt"])  # moves the optimiser state to the parameters' device
    print(f"resumed {label} at iteration {st['it']}")
    return st["it"]


def save_config(run, cfg: ModelConfig):
    os.makedirs(run, exist_ok=True)
    path = os.path.join(run, "config.json")
    if os.path.islink(path):  # a run sharing another run's config gets its own copy, never edits the other's
        os.remove(path)
    with open(path, "w") as f:
        json.dump(cfg.to_dict(), f, indent=2)


def load_config(run, captions, args=None) -> ModelConfig:
    path = os.path.join(run, "config.json")
    if os.path.exists(path):
        with open(path) as f:
            return ModelConfig(**json.load(f))
    cfg = ModelConfig(n_words=captions.n_words)
    if args is not None:
        for k in ("ngf", "ndf", "r_num", "words_num"):
            v = getattr(args, k, None)
            if v is not None:
                setattr(cfg, k, v)
    save_config(run, cfg)
    return cfg


def features_path(data):
    return os.path.join(data, "lite0_features.pt")


# --------------------------------------------------------------------------------------------------
# Backbone features (frozen EfficientNet-Lite0), computed once for STEM and STREAM pretraining
# --------------------------------------------------------------------------------------------------
@torch.no_grad()
def load_frozen_text_encoder(run, cfg):
    st = load_cpu(os.path.join(run, "stem.pt"))
    enc = RNN_ENCODER(cfg.n_words, cfg.embedding_dim, nhidden=cfg.nef)
    enc.load_state_dict(st["text_encoder"])
    enc.eval()
    for p in enc.parameters():
        p.requires_grad_(False)
    return enc


def load_frozen_stream(run, cfg):
    st = load_cpu(os.path.join(run, "stream.pt"))
    cnn = CAPTION_CNN(cfg.cap_embed)
    rnn = CAPTION_RNN(cfg.cap_embed, cfg.cap_hidden, cfg.n_words, max_seq_length=cfg.max_seq_length)
    cnn.load_state_dict(st["encoder"])
    rnn.load_state_dict(st["decoder"])
    bb = Backbone(pretrained=True)
    for m in (cnn, rnn, bb):
        m.eval()
        for p in m.parameters():
            p.requires_grad_(False)
    return bb, cnn, rnn
