"""Official-architecture modules and file writers for the converter's tests (test_convert.py).

Written from the spec (shared/docs/mirrorgan-architecture.md, §1-§6), independently of models.py, with the
official attribute names so that state_dict() gives the official keys; behaviour follows the official code
where it differs from this project's (the mask tiling of pitfall 7, STREAM's fixed-length greedy decoding,
CAPTION_CNN's Sequential-indexed ResNet). The writers produce the official file layouts: a legacy
(pre-zip) torch.save file, and a protocol-2 captions pickle whose strings are Python 2 `str` (BINSTRING).
"""
from __future__ import annotations

import pickle
import struct

import torch
import torch.nn as nn
import torch.nn.functional as F
import torchvision
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


def _glu(x):
    h = x.size(1) // 2
    return x[:, :h] * torch.sigmoid(x[:, h:])


class GLU(nn.Module):
    def forward(self, x):
        return _glu(x)


def _c3(i, o):
    return nn.Conv2d(i, o, 3, 1, 1, bias=False)


def _c1(i, o):
    return nn.Conv2d(i, o, 1, 1, 0, bias=False)


def _up(i, o):  # keys .1 (conv) and .2 (BN)
    return nn.Sequential(nn.Upsample(scale_factor=2, mode="nearest"), _c3(i, 2 * o), nn.BatchNorm2d(2 * o), GLU())


class ResBlock(nn.Module):
    def __init__(self, c):
        super().__init__()
        self.block = nn.Sequential(_c3(c, 2 * c), nn.BatchNorm2d(2 * c), GLU(), _c3(c, c), nn.BatchNorm2d(c))

    def forward(self, x):
        return x + self.block(x)


class RNN_ENCODER(nn.Module):
    def __init__(self, ntoken, nhidden=256):
        super().__init__()
        self.encoder = nn.Embedding(ntoken, 300)
        self.drop = nn.Dropout(0.5)
        self.rnn = nn.LSTM(300, nhidden // 2, 1, batch_first=True, bidirectional=True)

    def forward(self, captions, cap_lens):  # batch sorted by length, longest first (official requirement)
        emb = self.drop(self.encoder(captions))
        out, (h, _) = self.rnn(pack_padded_sequence(emb, cap_lens.tolist(), batch_first=True))
        words = pad_packed_sequence(out, batch_first=True)[0].transpose(1, 2)
        return words, h.transpose(0, 1).contiguous().view(captions.size(0), -1)


class CA_NET(nn.Module):
    def __init__(self, nef, ncf):
        super().__init__()
        self.c_dim = ncf
        self.fc = nn.Linear(nef, 4 * ncf)
        self.relu = GLU()

    def forward(self, s, eps):
        x = self.relu(self.fc(s))
        mu, logvar = x[:, :self.c_dim], x[:, self.c_dim:]
        return eps * torch.exp(0.5 * logvar) + mu, mu, logvar


class INIT_STAGE_G(nn.Module):
    def __init__(self, ngf, in_dim):
        super().__init__()
        self.gf_dim = ngf
        self.fc = nn.Sequential(nn.Linear(in_dim, ngf * 32, bias=False), nn.BatchNorm1d(ngf * 32), GLU())
        self.upsample1, self.upsample2 = _up(ngf, ngf // 2), _up(ngf // 2, ngf // 4)
        self.upsample3, self.upsample4 = _up(ngf // 4, ngf // 8), _up(ngf // 8, ngf // 16)

    def forward(self, z, c):
        x = self.fc(torch.cat((c, z), 1)).view(-1, self.gf_dim, 4, 4)
        return self.upsample4(self.upsample3(self.upsample2(self.upsample1(x))))


class ATT_NET(nn.Module):
    """Word attention (AttnGAN GlobalAttentionGeneral); with glam, MirrorGAN's sentence attention too."""

    def __init__(self, idf, cdf, glam, ncf=100):
        super().__init__()
        self.glam = glam
        self.conv_context = _c1(cdf, idf)
        if glam:
            self.conv_sentence_vis = _c1(idf, idf)
            self.linear = nn.Linear(ncf, idf)
        self.mask = None

    def forward(self, h, c, context):
        b, _, ih, iw = h.shape
        n, t = ih * iw, context.size(2)
        src = self.conv_context(context.unsqueeze(3)).squeeze(3)
        attn = torch.bmm(h.view(b, -1, n).transpose(1, 2), src).view(b * n, t)
        if self.mask is not None:
            attn = attn.masked_fill(self.mask.repeat(n, 1), -float("inf"))  # official tiling (pitfall 7)
        attn = F.softmax(attn, dim=1).view(b, n, t).transpose(1, 2).contiguous()
        ctx_w = torch.bmm(src, attn).view(b, -1, ih, iw)
        amap = attn.view(b, -1, ih, iw)
        if not self.glam:
            return ctx_w, None, amap
        s = self.linear(c).view(b, -1, 1, 1)
        alpha = F.softmax(self.conv_sentence_vis(h * s), dim=1)
        return ctx_w, s * alpha, amap


class NEXT_STAGE_G(nn.Module):
    def __init__(self, ngf, nef, r_num, glam):
        super().__init__()
        self.att = ATT_NET(ngf, nef, glam)
        self.residual = nn.Sequential(*[ResBlock(2 * ngf) for _ in range(r_num)])
        self.upsample = _up(2 * ngf, ngf)
        if glam:
            self.conv = _c1(3 * ngf, 2 * ngf)

    def forward(self, h, c, words, mask):
        self.att.mask = mask
        ctx_w, ctx_s, amap = self.att(h, c, words)
        x = torch.cat((h, ctx_w), 1)
        if ctx_s is not None:
            x = self.conv(torch.cat((x, ctx_s), 1))
        return self.upsample(self.residual(x)), amap


class GET_IMAGE_G(nn.Module):
    def __init__(self, ngf):
        super().__init__()
        self.img = nn.Sequential(_c3(ngf, 3), nn.Tanh())

    def forward(self, h):
        return self.img(h)


class G_NET(nn.Module):
    def __init__(self, ngf=32, nef=256, ncf=100, z_dim=100, r_num=2, branch_num=3, glam=True):
        super().__init__()
        self.branch_num = branch_num
        self.ca_net = CA_NET(nef, ncf)
        self.h_net1 = INIT_STAGE_G(16 * ngf, z_dim + ncf)
        self.img_net1 = GET_IMAGE_G(ngf)
        for s in range(2, branch_num + 1):
            setattr(self, f"h_net{s}", NEXT_STAGE_G(ngf, nef, r_num, glam))
            setattr(self, f"img_net{s}", GET_IMAGE_G(ngf))

    def forward(self, z, sent, words, mask, eps):
        c, mu, logvar = self.ca_net(sent, eps)
        h = self.h_net1(z, c)
        imgs, maps = [self.img_net1(h)], []
        for s in range(2, self.branch_num + 1):
            h, a = getattr(self, f"h_net{s}")(h, c, words, mask)
            imgs.append(getattr(self, f"img_net{s}")(h))
            maps.append(a)
        return imgs, maps, mu, logvar


INCEPTION_PARTS = ["Conv2d_1a_3x3", "Conv2d_2a_3x3", "Conv2d_2b_3x3", "Conv2d_3b_1x1", "Conv2d_4a_3x3", "Mixed_5b",
                   "Mixed_5c", "Mixed_5d", "Mixed_6a", "Mixed_6b", "Mixed_6c", "Mixed_6d", "Mixed_6e", "Mixed_7a",
                   "Mixed_7b", "Mixed_7c"]


class CNN_ENCODER(nn.Module):
    """DAMSM image encoder: torchvision Inception-v3 blocks as attributes (official keys), two heads."""

    def __init__(self, nef=256):
        super().__init__()
        net = torchvision.models.inception_v3(weights=None, aux_logits=False, init_weights=False)
        for name in INCEPTION_PARTS:
            setattr(self, name, getattr(net, name))
        self.emb_features = _c1(768, nef)
        self.emb_cnn_code = nn.Linear(2048, nef)

    def heads(self, local, glob):
        return self.emb_features(local), self.emb_cnn_code(glob)

    def forward(self, x, align_corners=True):  # [-1, 1] straight in: no ImageNet normalisation (pitfall 15)
        x = F.interpolate(x, size=(299, 299), mode="bilinear", align_corners=align_corners)
        for name in INCEPTION_PARTS[:13]:
            x = getattr(self, name)(x)
            if name in ("Conv2d_2b_3x3", "Conv2d_4a_3x3"):
                x = F.max_pool2d(x, kernel_size=3, stride=2)
        local = x
        for name in INCEPTION_PARTS[13:]:
            x = getattr(self, name)(x)
        return self.heads(local, F.avg_pool2d(x, kernel_size=8).flatten(1))


class CAPTION_CNN(nn.Module):
    def __init__(self, embed_size=256):
        super().__init__()
        net = torchvision.models.resnet152(weights=None)
        self.resnet = nn.Sequential(*list(net.children())[:-1])
        self.linear = nn.Linear(2048, embed_size)
        self.bn = nn.BatchNorm1d(embed_size, momentum=0.01)

    def forward(self, images):  # resized to 224 as nn.Upsample(bilinear) does today; no normalisation (pitfall 13)
        images = F.interpolate(images, size=(224, 224), mode="bilinear", align_corners=False)
        return self.bn(self.linear(self.resnet(images).flatten(1)))


class CAPTION_RNN(nn.Module):
    def __init__(self, embed_size, hidden_size, vocab_size, max_seq_length=20):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_size)
        self.lstm = nn.LSTM(embed_size, hidden_size, 1, batch_first=True)
        self.linear = nn.Linear(hidden_size, vocab_size)
        self.max_seg_length = max_seq_length

    def sample(self, features):  # greedy, always max_seg_length tokens (official)
        ids, inputs, states = [], features.unsqueeze(1), None
        for _ in range(self.max_seg_length):
            h, states = self.lstm(inputs, states)
            pred = self.linear(h.squeeze(1)).argmax(1)
            ids.append(pred)
            inputs = self.embed(pred).unsqueeze(1)
        return torch.stack(ids, 1)


def randomise(module: nn.Module, seed: int) -> nn.Module:
    """Every parameter and BN buffer random (running_var positive), eval mode."""
    g = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for k, t in module.state_dict().items():
            if t.dtype != torch.float32:
                continue
            if k.endswith("running_var"):
                t.copy_(torch.rand(t.shape, generator=g) + 0.5)
            else:
                t.copy_(torch.randn(t.shape, generator=g) * 0.1)
    return module.eval()


def save_legacy(obj, path):
    """torch.save in the pre-1.6 (non-zip) format the official 2018-2019 files have."""
    torch.save(obj, path, _use_new_zipfile_serialization=False)


class _Py2Pickler(pickle._Pickler):
    """Protocol 2 with str written as Python 2 `str` (SHORT_BINSTRING / BINSTRING), as Python 2 wrote them."""
    dispatch = dict(pickle._Pickler.dispatch)

    def _save_py2_str(self, obj):
        b = obj.encode("ascii")
        if len(b) < 256:
            self.write(pickle.SHORT_BINSTRING + bytes([len(b)]) + b)
        else:
            self.write(pickle.BINSTRING + struct.pack("<i", len(b)) + b)
        self.memoize(obj)

    dispatch[str] = _save_py2_str


def write_py2_pickle(obj, path):
    with open(path, "wb") as f:
        _Py2Pickler(f, protocol=2).dump(obj)


def captions_pickle(words: list[str], n_train: int, n_test: int, seed: int = 0, max_len: int = 12) -> list:
    """[train captions, test captions, ixtoword, wordtoix] with ixtoword[0] = '<end>'."""
    g = torch.Generator().manual_seed(seed)
    ixtoword = {0: "<end>", **{i + 1: w for i, w in enumerate(words)}}
    n = len(ixtoword)

    def cap():
        length = int(torch.randint(3, max_len + 1, (1,), generator=g))
        return [int(t) for t in torch.randint(1, n, (length,), generator=g)]

    return [[cap() for _ in range(n_train)], [cap() for _ in range(n_test)], ixtoword,
            {w: i for i, w in ixtoword.items()}]
