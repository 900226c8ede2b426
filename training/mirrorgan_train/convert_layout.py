"""What each official file must hold for a given config, which file is which, and how the official keys map
onto the model directory's files (docs/CONVERTING.md, docs/MODEL_FORMAT.md).

Expected shapes come from this project's modules (models.py mirrors the official key names) and, for the
Inception-v3 trunk of the DAMSM image encoder, from torchvision's Inception3, whose module names the official
CNN_ENCODER copies; the ResNet-152 trunk of STREAM's encoder is described here directly.
"""
from __future__ import annotations

from .backbones import INCEPTION_BLOCKS
from .convert_inputs import ConvertError
from .models import CAPTION_RNN, G_NET, RNN_ENCODER, ModelConfig

# --------------------------------------------------------------------------------------------------
# Which file is which (to catch swapped arguments)
# --------------------------------------------------------------------------------------------------
KINDS = {
    "text_encoder": "a DAMSM text encoder (RNN_ENCODER: encoder.weight, rnn.*)",
    "image_encoder": "a DAMSM image encoder (CNN_ENCODER: Inception-v3 Conv2d_*/Mixed_*, emb_features, emb_cnn_code)",
    "generator": "a generator (G_NET: ca_net.*, h_net1.*, img_net1.*)",
    "discriminator": "a discriminator (D_NET: img_code_s16.*), not a generator",
    "stream_encoder": "a STREAM encoder (CAPTION_CNN: resnet.*, linear.*, bn.*)",
    "stream_decoder": "a STREAM decoder (CAPTION_RNN: embed.weight, lstm.*, linear.*)",
}


def kind_of(sd: dict) -> str | None:
    keys = set(sd)
    if "encoder.weight" in keys or any(k.startswith("rnn.") for k in keys):
        return "text_encoder"
    if "emb_cnn_code.weight" in keys or any(k.startswith(("Conv2d_1a_3x3.", "Mixed_")) for k in keys):
        return "image_encoder"
    if any(k.startswith(("ca_net.", "h_net1.", "img_net1.")) for k in keys):
        return "generator"
    if any(k.startswith("img_code_s16.") for k in keys):
        return "discriminator"
    if "embed.weight" in keys or any(k.startswith("lstm.") for k in keys):
        return "stream_decoder"
    if any(k.startswith("resnet.") for k in keys) or "bn.running_mean" in keys:
        return "stream_encoder"
    return None


def require_kind(sd: dict, expected: str, path: str, flag: str):
    found = kind_of(sd)
    if found == expected:
        return
    if found is None:
        some = ", ".join(list(sd)[:4])
        raise ConvertError(f"{path}: given as {flag}, but its keys ({some}, ...) are not those of "
                           f"{KINDS[expected]}")
    raise ConvertError(f"{path}: given as {flag}, but it is {KINDS[found]}; expected {KINDS[expected]}. "
                       f"Were two file arguments swapped?")


# --------------------------------------------------------------------------------------------------
# Expected shapes
# --------------------------------------------------------------------------------------------------
def _shapes(module) -> dict:
    return {k: tuple(v.shape) for k, v in module.state_dict().items() if not k.endswith("num_batches_tracked")}


GLAM_KEYS = ("att.linear.", "att.conv_sentence_vis.", "conv.")


def is_glam(sd: dict) -> bool:
    """MirrorGAN's generator (GLAM) has sentence attention and a fusion conv in stages 2 and 3."""
    return any(k.startswith(f"h_net{s}.{g}") for k in sd for s in (2, 3) for g in GLAM_KEYS)


def text_encoder_shapes(cfg: ModelConfig) -> dict:
    return _shapes(RNN_ENCODER(cfg.n_words, cfg.embedding_dim, nhidden=cfg.nef))


def generator_shapes(cfg: ModelConfig) -> dict:
    return _shapes(G_NET(cfg))


def stream_decoder_shapes(cfg: ModelConfig) -> dict:
    return _shapes(CAPTION_RNN(cfg.cap_embed, cfg.cap_hidden, cfg.n_words))


def inception_trunk_shapes() -> dict:
    import torchvision

    net = torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=False)
    return {k: v for k, v in _shapes(net).items() if not k.startswith("fc.")}


def image_encoder_shapes(cfg: ModelConfig) -> dict:
    heads = {"emb_features.weight": (cfg.nef, 768, 1, 1), "emb_cnn_code.weight": (cfg.nef, 2048),
             "emb_cnn_code.bias": (cfg.nef,)}
    return {**inception_trunk_shapes(), **heads}


RESNET152_LAYERS = (3, 8, 36, 3)
# CAPTION_CNN keeps torchvision's ResNet children as nn.Sequential indices; the model directory uses the names.
RESNET_CHILDREN = {"0": "conv1", "1": "bn1", "4": "layer1", "5": "layer2", "6": "layer3", "7": "layer4"}


def resnet152_trunk_shapes() -> dict:
    """torchvision ResNet-152 without fc (bottleneck blocks 3-8-36-3, expansion 4), torchvision key names."""
    s = {"conv1.weight": (64, 3, 7, 7)}

    def bn(name, c):
        for p in ("weight", "bias", "running_mean", "running_var"):
            s[f"{name}.{p}"] = (c,)

    bn("bn1", 64)
    inplanes = 64
    for li, (blocks, width) in enumerate(zip(RESNET152_LAYERS, (64, 128, 256, 512)), start=1):
        for b in range(blocks):
            p = f"layer{li}.{b}"
            s[f"{p}.conv1.weight"] = (width, inplanes, 1, 1)
            bn(f"{p}.bn1", width)
            s[f"{p}.conv2.weight"] = (width, width, 3, 3)
            bn(f"{p}.bn2", width)
            s[f"{p}.conv3.weight"] = (width * 4, width, 1, 1)
            bn(f"{p}.bn3", width * 4)
            if b == 0:
                s[f"{p}.downsample.0.weight"] = (width * 4, inplanes, 1, 1)
                bn(f"{p}.downsample.1", width * 4)
            inplanes = width * 4
    return s


def stream_encoder_shapes(cfg: ModelConfig) -> dict:
    """Official CAPTION_CNN keys: resnet.<child index>.*, linear.*, bn.*."""
    names = {v: k for k, v in RESNET_CHILDREN.items()}
    trunk = {}
    for k, shape in resnet152_trunk_shapes().items():
        head, rest = k.split(".", 1)
        trunk[f"resnet.{names[head]}.{rest}"] = shape
    heads = {"linear.weight": (cfg.cap_embed, 2048), "linear.bias": (cfg.cap_embed,)}
    for p in ("weight", "bias", "running_mean", "running_var"):
        heads[f"bn.{p}"] = (cfg.cap_embed,)
    return {**trunk, **heads}


# --------------------------------------------------------------------------------------------------
# Checking a state dict against its expected shapes
# --------------------------------------------------------------------------------------------------
MAX_LINES = 12


def check_state(sd: dict, expected: dict, path: str, what: str, config: str, hints=()):
    """Every key present with exactly the expected shape and nothing else; otherwise one error listing each
    mismatch (key, expected and found shape), then the hints that apply."""
    problems = []
    for k, shape in expected.items():
        if k not in sd:
            problems.append(f"missing key {k} (expected shape {list(shape)})")
        elif tuple(sd[k].shape) != tuple(shape):
            problems.append(f"key {k}: expected shape {list(shape)}, found {list(sd[k].shape)}")
    for k in sd:
        if k not in expected:
            problems.append(f"extra key {k} (shape {list(sd[k].shape)}) that the config does not have")
    if not problems:
        return
    shown = problems[:MAX_LINES]
    if len(problems) > MAX_LINES:
        shown.append(f"... and {len(problems) - MAX_LINES} more")
    lines = [f"{path}: {what} does not fit the config ({config}): {len(problems)} problem(s)"]
    lines += ["  " + p for p in shown]
    lines += [h for h in hints if h]
    raise ConvertError("\n".join(lines))


def generator_hints(sd: dict, cfg: ModelConfig, glam: bool) -> list[str]:
    """What the file's own shapes say about GF_DIM, R_NUM and the branch count, when they differ."""
    hints = []
    w = sd.get("h_net1.fc.0.weight")
    if w is not None and w.dim() == 2 and w.shape[0] % 512 == 0 and w.shape[0] // 512 != cfg.ngf:
        hints.append(f"hint: the file's generator has GAN.GF_DIM = {w.shape[0] // 512}, the config "
                     f"{cfg.ngf} (birds 32, COCO 48: --config coco?)")
    r = {int(k.split(".")[2]) for k in sd if k.startswith("h_net2.residual.")}
    if r and max(r) + 1 != cfg.r_num:
        hints.append(f"hint: the file's generator has GAN.R_NUM = {max(r) + 1}, the config {cfg.r_num}")
    stages = max(int(k[5]) for k in sd if k.startswith("h_net") and k[5].isdigit()) if sd else 0
    if stages and stages != cfg.branch_num:
        hints.append(f"hint: the file's generator has {stages} stages, the config TREE.BRANCH_NUM {cfg.branch_num}")
    if not glam:
        hints.append("(no sentence-attention keys: read as the AttnGAN generator)")
    return hints


def text_encoder_hint(sd: dict, cfg: ModelConfig) -> str | None:
    w = sd.get("rnn.weight_hh_l0")
    if w is None or w.dim() != 2 or 2 * w.shape[1] == cfg.nef:
        return None
    return f"hint: the file's text encoder has TEXT.EMBEDDING_DIM = {2 * w.shape[1]}, the config {cfg.nef}"


def vocabulary_hint(sd: dict, key: str, n_words: int, captions_path: str) -> str | None:
    w = sd.get(key)
    if w is None or w.dim() != 2 or w.shape[0] == n_words:
        return None
    return (f"hint: {captions_path} has {n_words} words but {key} has {w.shape[0]} rows: this file was trained "
            f"with another vocabulary. Pair each text encoder / STREAM with its own captions pickle (AttnGAN "
            f"birds 5450 words, COCO 27297; MirrorGAN's bird_captions.pickle differs from AttnGAN's captions.pickle).")


# --------------------------------------------------------------------------------------------------
# Official files -> model directory files
# --------------------------------------------------------------------------------------------------
def split_image_encoder(sd: dict) -> tuple[dict, dict]:
    """CNN_ENCODER state -> (backbone: Inception trunk with torchvision names, image_encoder: the two heads)."""
    heads = {k: v for k, v in sd.items() if k.startswith(("emb_features.", "emb_cnn_code."))}
    trunk = {k: v for k, v in sd.items() if k not in heads}
    return trunk, heads


def split_stream_encoder(sd: dict) -> tuple[dict, dict]:
    """CAPTION_CNN state -> (stream_backbone: ResNet-152 trunk with torchvision names, stream_encoder: linear, bn)."""
    trunk, heads = {}, {}
    for k, v in sd.items():
        if k.startswith("resnet."):
            _, idx, rest = k.split(".", 2)
            trunk[f"{RESNET_CHILDREN[idx]}.{rest}"] = v
        else:
            heads[k] = v
    return trunk, heads


def inception_backbone(align_corners: bool) -> dict:
    """model.json "backbone" for the DAMSM image encoder's Inception-v3 trunk: [-1, 1] input straight in
    (pixel_mean = pixel_std = 0.5 makes the input mapping the identity), BN eps 0.001, region features from
    Mixed_6e (768 x 17 x 17), global feature the 8 x 8 average of Mixed_7c (2048)."""
    return {"name": "inception_v3", "input_size": 299, "resize": "bilinear", "align_corners": align_corners,
            "pixel_mean": 0.5, "pixel_std": 0.5, "bn_eps": 0.001, "local_layer": "Mixed_6e",
            "local_block": INCEPTION_BLOCKS.index("Mixed_6e"), "local_channels": 768, "global_channels": 2048}


IMAGENET_MEAN, IMAGENET_STD = [0.485, 0.456, 0.406], [0.229, 0.224, 0.225]


def resnet152_backbone(align_corners: bool, imagenet_normalise: bool) -> dict:
    """model.json "stream_backbone" for STREAM's ResNet-152 trunk (global feature: average of layer4, 2048)."""
    mean, std = (IMAGENET_MEAN, IMAGENET_STD) if imagenet_normalise else (0.5, 0.5)
    return {"name": "resnet152", "input_size": 224, "resize": "bilinear", "align_corners": align_corners,
            "pixel_mean": mean, "pixel_std": std, "bn_eps": 1e-5, "global_channels": 2048}
