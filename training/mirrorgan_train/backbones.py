"""Image trunks named by model.json (docs/MODEL_FORMAT.md): the reference for what the runtime must compute.

  "efficientnet-lite0"  this toolkit's trunk (models.Backbone), shared by the DAMSM image encoder and STREAM
  "inception_v3"        the official DAMSM image encoder's trunk (CNN_ENCODER): region features from Mixed_6e
                        (768 x 17 x 17), global feature the 8 x 8 average of Mixed_7c (2048)
  "resnet152"           the official STREAM encoder's trunk (CAPTION_CNN): global feature the average of layer4

Each trunk takes images in [-1, 1] of any size and returns (local or None, global). The resize and the pixel
mapping come from the model.json entry: bilinear to input_size (align_corners as given), then
((x + 1) / 2 - pixel_mean) / pixel_std, with scalar or per-channel mean and std.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from .models import Backbone

INCEPTION_BLOCKS = ["Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "Conv2d_3b_1x1", "Conv2d_4a_3x3", "Mixed_5b",
                    "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e", "Mixed_7a",
                    "Mixed_7b", "Mixed_7c"]


class _Preprocess(nn.Module):
    def __init__(self, desc: dict):
        super().__init__()
        self.size = int(desc["input_size"])
        self.align_corners = bool(desc["align_corners"])
        mean = torch.tensor(desc["pixel_mean"], dtype=torch.float32).reshape(-1)
        std = torch.tensor(desc["pixel_std"], dtype=torch.float32).reshape(-1)
        self.register_buffer("mean", mean.view(1, -1, 1, 1), persistent=False)
        self.register_buffer("std", std.view(1, -1, 1, 1), persistent=False)

    def forward(self, x):
        if x.shape[-2:] != (self.size, self.size):
            x = F.interpolate(x, size=(self.size, self.size), mode="bilinear", align_corners=self.align_corners)
        return ((x + 1.0) * 0.5 - self.mean) / self.std


class InceptionTrunk(nn.Module):
    """torchvision Inception-v3 blocks under their own names (as the official CNN_ENCODER holds them)."""

    def __init__(self, desc: dict):
        super().__init__()
        import torchvision

        net = torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=False)
        for name in INCEPTION_BLOCKS:
            setattr(self, name, getattr(net, name))
        self.pre = _Preprocess(desc)

    def forward(self, x):
        x = self.pre(x)
        for name in INCEPTION_BLOCKS[:13]:  # through Mixed_6e
            x = getattr(self, name)(x)
            if name in ("Conv2d_2b_3x3", "Conv2d_4a_3x3"):
                x = F.max_pool2d(x, kernel_size=3, stride=2)
        local = x
        for name in INCEPTION_BLOCKS[13:]:
            x = getattr(self, name)(x)
        return local, x.mean(dim=(2, 3))


class ResNetTrunk(nn.Module):
    """torchvision ResNet-152 without fc."""

    def __init__(self, desc: dict):
        super().__init__()
        import torchvision

        net = torchvision.models.resnet152(weights=None)
        for name in ("conv1", "bn1", "relu", "maxpool", "layer1", "layer2", "layer3", "layer4"):
            setattr(self, name, getattr(net, name))
        self.pre = _Preprocess(desc)

    def forward(self, x):
        x = self.maxpool(self.relu(self.bn1(self.conv1(self.pre(x)))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return None, x.mean(dim=(2, 3))


def build_trunk(desc: dict, state_dict: dict) -> nn.Module:
    """The trunk a model.json entry names, with its weights (every tensor required, none extra), in eval mode."""
    name = desc["name"]
    if name == "efficientnet-lite0":  # models.Backbone itself, as before (its state digests key evaluation caches)
        m = Backbone(pretrained=False, input_size=int(desc["input_size"]))
        m.net.load_state_dict(state_dict, strict=False)  # the format omits _fc
        return m.eval()
    if name == "inception_v3":
        m = InceptionTrunk(desc)
    elif name == "resnet152":
        m = ResNetTrunk(desc)
    else:
        raise ValueError(f"backbone {name!r} is not one of efficientnet-lite0, inception_v3, resnet152")
    m.load_state_dict(state_dict)
    return m.eval()
