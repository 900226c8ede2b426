"""Reading official AttnGAN/MirrorGAN files for the converter (convert.py): PyTorch checkpoints, the captions
pickle, the class-info pickle and the config (a preset or an official YAML).

Every failure is a ConvertError whose message names the file and what was expected and found. Nothing here
executes code from the files: checkpoints are read with torch.load(weights_only=True) and pickles with an
unpickler that refuses every class reference.
"""
from __future__ import annotations

import copy
import os
import pickle
import zipfile
from dataclasses import dataclass

import torch


class ConvertError(Exception):
    """A problem with one of the converter's inputs; the message is meant for the user as it is."""


# --------------------------------------------------------------------------------------------------
# PyTorch checkpoints
# --------------------------------------------------------------------------------------------------
_BUFFER_SUFFIXES = (".running_mean", ".running_var", ".num_batches_tracked")
# Where training scripts nest the state dict inside a checkpoint dictionary (official files are the bare
# state dict; DataParallel and other trainers' files are not).
_NESTED_KEYS = ("state_dict", "netG", "G", "model", "generator")
_EMA_KEYS = ("avg_param_G", "G_ema")


def _file_kind(path: str) -> str:
    if not os.path.isfile(path):
        raise ConvertError(f"{path}: no such file")
    with open(path, "rb") as f:
        head = f.read(4)
    if head[:4] == b"PK\x03\x04":
        return "zip"
    if head[:1] == b"\x80":
        return "pickle"
    shown = head if head else b"(an empty file)"
    raise ConvertError(f"{path}: not a PyTorch checkpoint or pickle (a PyTorch file starts with a zip header "
                       f"or a pickle protocol byte 0x80; this one starts with {shown!r})")


def load_checkpoint(path: str) -> object:
    """torch.load without running code from the file; errors say whether the file is truncated, not a
    checkpoint, or holds objects other than tensors."""
    kind = _file_kind(path)
    if kind == "zip" and not zipfile.is_zipfile(path):
        raise ConvertError(f"{path}: truncated or corrupt PyTorch file (the zip archive has no central directory; "
                           f"was the download cut short? {os.path.getsize(path)} bytes)")
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError as e:
        detail = str(e).split("WeightsUnpickler error:")[-1].strip()
        if "Unsupported" in detail:  # torch's weights-only unpickler met a class other than tensors/containers
            raise ConvertError(f"{path}: holds Python objects other than tensors and containers (a pickled whole "
                               f"module?); load it with its own code and save module.state_dict() instead "
                               f"({detail})") from None
        raise ConvertError(f"{path}: truncated or corrupt PyTorch file ({detail})") from None
    except (EOFError, RuntimeError, ValueError, OSError, zipfile.BadZipFile, KeyError) as e:
        raise ConvertError(f"{path}: truncated or corrupt PyTorch file ({type(e).__name__}: {e})") from None


def _is_state_dict(obj) -> bool:
    return isinstance(obj, dict) and len(obj) > 0 and all(
        isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in obj.items())


def parameter_keys(sd: dict) -> list[str]:
    """Keys of parameters (not BN buffers), in state-dict order, which is module.parameters() order."""
    return [k for k in sd if not k.endswith(_BUFFER_SUFFIXES)]


def state_dict_of(obj, path: str, ema: bool = True) -> dict:
    """The flat state dict in a loaded checkpoint: the object itself (official files), or nested under a
    trainer's key; an EMA parameter list beside it (avg_param_G / G_ema, in parameters() order) replaces the
    parameters when ema is true (the official trainer's netG files already hold EMA parameters). `module.`
    prefixes (DataParallel) and num_batches_tracked counters are removed; tensors become float32."""
    sd, ema_list = None, None
    if _is_state_dict(obj):
        sd = obj
    elif isinstance(obj, dict):
        for k in _NESTED_KEYS:
            if _is_state_dict(obj.get(k)):
                sd = obj[k]
                break
        for k in _EMA_KEYS:
            if isinstance(obj.get(k), (list, tuple)):
                ema_list = list(obj[k])
    if sd is None:
        what = f"a dict with keys {sorted(map(str, obj))[:8]}" if isinstance(obj, dict) else type(obj).__name__
        raise ConvertError(f"{path}: expected a state dict (names -> tensors), found {what}")
    out = {}
    for k, v in sd.items():
        if k.startswith("module."):
            k = k[len("module."):]
        if k.endswith("num_batches_tracked"):
            continue
        out[k] = v.detach().float()
    if ema and ema_list is not None:
        keys = parameter_keys(out)
        if len(keys) != len(ema_list):
            raise ConvertError(f"{path}: the EMA parameter list has {len(ema_list)} tensors but the state dict has "
                               f"{len(keys)} parameters")
        for k, a in zip(keys, ema_list):
            if not isinstance(a, torch.Tensor) or tuple(a.shape) != tuple(out[k].shape):
                found = tuple(a.shape) if isinstance(a, torch.Tensor) else type(a).__name__
                raise ConvertError(f"{path}: EMA parameter for {k}: expected shape {list(out[k].shape)}, found {found}")
            out[k] = a.detach().float()
    return out


# --------------------------------------------------------------------------------------------------
# Pickles (captions.pickle / bird_captions.pickle, class_info.pickle)
# --------------------------------------------------------------------------------------------------
class _DataOnlyUnpickler(pickle.Unpickler):
    """Lists, dicts, tuples, ints and strings only: a captions pickle references no class."""

    def find_class(self, module, name):
        raise pickle.UnpicklingError(f"the pickle references {module}.{name}")


def load_data_pickle(path: str):
    if _file_kind(path) != "pickle":
        raise ConvertError(f"{path}: a zip archive (a PyTorch checkpoint?), not a pickle")
    try:
        with open(path, "rb") as f:
            # Python 2 str (protocol 2 BINSTRING) becomes str; its bytes are ASCII in the official pickles.
            return _DataOnlyUnpickler(f, encoding="latin1").load()
    except EOFError:
        raise ConvertError(f"{path}: truncated pickle (the file ends before the pickle's STOP opcode)") from None
    except pickle.UnpicklingError as e:
        if "truncated" in str(e):
            raise ConvertError(f"{path}: truncated pickle ({e})") from None
        raise ConvertError(f"{path}: not a data-only pickle ({e}); expected lists, dicts, ints and strings") from None
    except Exception as e:  # a corrupt opcode stream raises several kinds
        raise ConvertError(f"{path}: unreadable pickle ({type(e).__name__}: {e})") from None


def _text(x) -> str:
    return x.decode("latin1") if isinstance(x, bytes) else x


@dataclass
class Captions:
    """The official captions pickle: [train captions, test captions, ixtoword, wordtoix]."""
    path: str
    train: list
    test: list
    ixtoword: list[str]  # index i -> word i

    @property
    def n_words(self) -> int:
        return len(self.ixtoword)


def read_captions(path: str) -> Captions:
    obj = load_data_pickle(path)
    layout = "a list of 4 items [train captions, test captions, ixtoword, wordtoix]"
    if not isinstance(obj, (list, tuple)) or len(obj) != 4:
        found = f"a {type(obj).__name__} of {len(obj)} items" if hasattr(obj, "__len__") else type(obj).__name__
        raise ConvertError(f"{path}: unexpected captions-pickle layout: expected {layout}, found {found}")
    train, test, ixtoword, wordtoix = obj
    for i, (name, d) in enumerate([("ixtoword", ixtoword), ("wordtoix", wordtoix)], start=2):
        if not isinstance(d, dict) or not d:
            raise ConvertError(f"{path}: item [{i}] ({name}) should be a non-empty dict, found {type(d).__name__}")
    ix = {}
    for k, w in ixtoword.items():
        if not isinstance(k, int) or not isinstance(w, (str, bytes)):
            raise ConvertError(f"{path}: item [2] (ixtoword) should map int -> str, found {type(k).__name__} -> "
                               f"{type(w).__name__} ({k!r}: {w!r})")
        ix[k] = _text(w)
    n = len(ix)
    if sorted(ix) != list(range(n)):
        missing = sorted(set(range(n)) - set(ix))[:5]
        raise ConvertError(f"{path}: item [2] (ixtoword) keys should be 0..{n - 1}; missing {missing}")
    if ix[0] != "<end>":
        raise ConvertError(f"{path}: item [2] (ixtoword) index 0 should be '<end>', found {ix[0]!r}")
    if len(wordtoix) != n:
        raise ConvertError(f"{path}: item [3] (wordtoix) has {len(wordtoix)} words, item [2] (ixtoword) {n}")
    for w, k in wordtoix.items():
        if ix.get(k) != _text(w):
            raise ConvertError(f"{path}: item [3] (wordtoix) maps {_text(w)!r} to {k!r}, but ixtoword[{k!r}] is "
                               f"{ix.get(k)!r}")
    for i, (name, caps) in enumerate([("train captions", train), ("test captions", test)]):
        if not isinstance(caps, (list, tuple)):
            raise ConvertError(f"{path}: item [{i}] ({name}) should be a list of captions, found {type(caps).__name__}")
        for j, c in enumerate(caps):
            if not isinstance(c, (list, tuple)) or not all(isinstance(t, int) and 0 <= t < n for t in c):
                raise ConvertError(f"{path}: item [{i}] ({name}) caption {j} should be a list of word ids in "
                                   f"0..{n - 1}, found {c!r:.80}")
    return Captions(path, list(train), list(test), [ix[i] for i in range(n)])


def read_class_info(path: str) -> list[int]:
    obj = load_data_pickle(path)
    try:
        return [int(x) for x in obj]
    except (TypeError, ValueError):
        raise ConvertError(f"{path}: class_info.pickle should be a list of class ids (ints), found "
                           f"{type(obj).__name__}") from None


# --------------------------------------------------------------------------------------------------
# Config: the official cfg/config.py defaults, a preset or an official YAML over them
# --------------------------------------------------------------------------------------------------
OFFICIAL_DEFAULTS = {  # MirrorGAN cfg/config.py (AttnGAN's is the same for these keys; CAP is MirrorGAN's)
    "TREE": {"BRANCH_NUM": 3, "BASE_SIZE": 64},
    "GAN": {"GF_DIM": 128, "Z_DIM": 100, "CONDITION_DIM": 100, "R_NUM": 2},
    "TEXT": {"CAPTIONS_PER_IMAGE": 10, "EMBEDDING_DIM": 256, "WORDS_NUM": 18},
    "CAP": {"embed_size": 256, "hidden_size": 512, "num_layers": 1},
}
PRESETS = {
    # MirrorGAN cfg/train_bird.yml (AttnGAN bird_attn2.yml has the same widths)
    "birds": {"GAN": {"GF_DIM": 32, "R_NUM": 2}, "TEXT": {"CAPTIONS_PER_IMAGE": 10, "WORDS_NUM": 18},
              "CAP": {"embed_size": 256, "hidden_size": 256}},
    # AttnGAN cfg/coco_attn2.yml (MirrorGAN published no COCO config; CAP as for birds)
    "coco": {"GAN": {"GF_DIM": 48, "R_NUM": 3}, "TEXT": {"CAPTIONS_PER_IMAGE": 5, "WORDS_NUM": 12},
             "CAP": {"embed_size": 256, "hidden_size": 256}},
}


@dataclass
class OfficialConfig:
    source: str  # preset name or YAML path, for messages
    values: dict

    def get(self, section: str, key: str) -> int:
        return self.values[section][key]


def _merge(over: dict, base: dict, source: str, where: str = ""):
    for k, v in over.items():
        if k in base and isinstance(base[k], dict):
            if not isinstance(v, dict):
                raise ConvertError(f"{source}: config key {where}{k} should be a section (a mapping), found {v!r}")
            _merge(v, base[k], source, f"{where}{k}.")
        elif k in base:
            if isinstance(v, bool) or not isinstance(v, int) or v <= 0:
                raise ConvertError(f"{source}: config key {where}{k} should be a positive integer, found {v!r}")
            base[k] = v
        # other keys (paths, learning rates, ...) do not shape the model: ignored


def read_config(spec: str) -> OfficialConfig:
    """spec: a preset name ("birds", "coco") or the path of an official YAML (cfg/*.yml), merged over the
    official defaults as the official code does."""
    values = copy.deepcopy(OFFICIAL_DEFAULTS)
    if spec in PRESETS:
        _merge(PRESETS[spec], values, spec)
        return OfficialConfig(spec, values)
    if not os.path.isfile(spec):
        raise ConvertError(f"{spec}: not a preset ({', '.join(PRESETS)}) and no such YAML file")
    try:
        import yaml
    except ImportError:
        raise ConvertError("reading an official YAML config needs PyYAML (Debian: python3-yaml)") from None
    try:
        with open(spec) as f:
            doc = yaml.safe_load(f)
    except (yaml.YAMLError, UnicodeDecodeError) as e:
        raise ConvertError(f"{spec}: not a YAML file ({str(e).splitlines()[0]})") from None
    if not isinstance(doc, dict):
        raise ConvertError(f"{spec}: an official config is a YAML mapping (TREE, GAN, TEXT, CAP sections), "
                           f"found {type(doc).__name__}")
    _merge(doc, values, spec)
    return OfficialConfig(spec, values)
