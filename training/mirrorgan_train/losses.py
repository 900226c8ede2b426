"""Training losses as implemented by the official code (miscc/losses.py of AttnGAN and MirrorGAN)."""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F


def cosine_similarity(x1, x2, dim=1, eps=1e-8):
    w12 = torch.sum(x1 * x2, dim)
    w1 = torch.norm(x1, 2, dim)
    w2 = torch.norm(x2, 2, dim)
    return (w12 / (w1 * w2).clamp(min=eps)).squeeze()


def class_mask(class_ids):
    """[B, B] bool: True where two different samples share a class (masked to -inf, diagonal kept)."""
    c = torch.as_tensor(class_ids)
    m = c.unsqueeze(0) == c.unsqueeze(1)
    m.fill_diagonal_(False)
    return m


def sent_loss(cnn_code, rnn_code, class_ids, gamma3=10.0, eps=1e-8):
    """DAMSM sentence loss: cosine(v_bar, s) * gamma3, cross-entropy both ways."""
    labels = torch.arange(cnn_code.size(0), device=cnn_code.device)
    cnn = cnn_code.unsqueeze(0)
    rnn = rnn_code.unsqueeze(0)
    cnn_norm = torch.norm(cnn, 2, dim=2, keepdim=True)
    rnn_norm = torch.norm(rnn, 2, dim=2, keepdim=True)
    scores0 = torch.bmm(cnn, rnn.transpose(1, 2))
    norm0 = torch.bmm(cnn_norm, rnn_norm.transpose(1, 2))
    scores0 = (scores0 / norm0.clamp(min=eps) * gamma3).squeeze(0)
    scores0 = scores0.masked_fill(class_mask(class_ids).to(scores0.device), -float("inf"))
    scores1 = scores0.transpose(0, 1)
    return F.cross_entropy(scores0, labels), F.cross_entropy(scores1, labels)


def func_attention(query, context, gamma1):
    """query [B, ndf, T] (words), context [B, ndf, H, W] (regions) -> weighted [B, ndf, T]."""
    b, t = query.size(0), query.size(2)
    ih, iw = context.size(2), context.size(3)
    source_l = ih * iw
    context = context.view(b, -1, source_l)
    context_t = context.transpose(1, 2).contiguous()
    attn = torch.bmm(context_t, query).view(b * source_l, t)
    attn = F.softmax(attn, dim=1).view(b, source_l, t)  # over words for each region
    attn = attn.transpose(1, 2).contiguous().view(b * t, source_l)
    attn = F.softmax(attn * gamma1, dim=1).view(b, t, source_l)  # over regions for each word
    attn_t = attn.transpose(1, 2).contiguous()
    return torch.bmm(context, attn_t), attn.view(b, -1, ih, iw)


def word_similarities(img_features, words_emb, cap_lens, gamma1=4.0, gamma2=5.0, eps=1e-8):
    """DAMSM word-level matching scores of every (image, caption) pair at once: [B images, C captions],
    R(Q, D) = log sum_t exp(gamma2 * cos(e_t, c_t)) over each caption's valid words (no 1/gamma2, pitfall 18).

    The same arithmetic as the official per-caption loop (`words_loss_reference`), batched over all pairs: the
    padded word positions are masked out of the softmax over words and out of the sum, which is what slicing
    each caption to its length does in the loop. One batched pass instead of B attention passes made the STEM
    iteration with the word loss several times cheaper on CPU (docs/TRAINING.md, iteration cost)."""
    b_img = img_features.size(0)
    c, d, t = words_emb.shape
    ctx = img_features.reshape(b_img, d, -1)  # [B, D, R]
    lens = torch.as_tensor(cap_lens, device=words_emb.device).long()
    valid = torch.arange(t, device=words_emb.device).unsqueeze(0) < lens.unsqueeze(1)  # [C, T]
    scores = torch.einsum("bdr,cdt->bcrt", ctx, words_emb)  # region-word dot products
    scores = scores.masked_fill(~valid[None, :, None, :], -float("inf"))
    attn = F.softmax(scores, dim=3)  # over the caption's words, for each region
    attn = F.softmax(attn * gamma1, dim=2)  # over regions, for each word
    weighted = torch.einsum("bdr,bcrt->bcdt", ctx, attn)  # [B, C, D, T]
    w12 = (weighted * words_emb.unsqueeze(0)).sum(2)
    norms = weighted.norm(2, dim=2) * words_emb.norm(2, dim=1).unsqueeze(0)
    cos = w12 / norms.clamp(min=eps)  # [B, C, T]
    r = torch.exp(cos * gamma2).masked_fill(~valid.unsqueeze(0), 0.0).sum(2)
    return torch.log(r)


def words_loss(img_features, words_emb, cap_lens, class_ids, gamma1=4.0, gamma2=5.0, gamma3=10.0):
    """DAMSM word loss (batched): cross-entropy both ways over gamma3 * R(Q_i, D_j), other samples of the same
    class masked out."""
    b = words_emb.size(0)
    labels = torch.arange(b, device=words_emb.device)
    sims = word_similarities(img_features, words_emb, cap_lens, gamma1, gamma2) * gamma3
    sims = sims.masked_fill(class_mask(class_ids).to(sims.device), -float("inf"))
    return F.cross_entropy(sims, labels), F.cross_entropy(sims.transpose(0, 1), labels)


def words_loss_reference(img_features, words_emb, cap_lens, class_ids, gamma1=4.0, gamma2=5.0, gamma3=10.0):
    """DAMSM word loss as in the code, one caption at a time: R = log sum_j exp(gamma2 * cos) (no 1/gamma2,
    pitfall 18). The naive reference `words_loss` is tested against."""
    b = words_emb.size(0)
    labels = torch.arange(b)
    sims = []
    for i in range(b):
        n = int(cap_lens[i])
        word = words_emb[i, :, :n].unsqueeze(0).repeat(b, 1, 1)
        weiContext, _ = func_attention(word, img_features, gamma1)
        row_sim = cosine_similarity(word.transpose(1, 2).reshape(b * n, -1), weiContext.transpose(1, 2).reshape(b * n, -1))
        row_sim = row_sim.view(b, n).mul_(gamma2).exp_().sum(dim=1, keepdim=True).log()
        sims.append(row_sim)
    sims = torch.cat(sims, 1) * gamma3  # [B images, B captions]
    sims = sims.masked_fill(class_mask(class_ids), -float("inf"))
    return F.cross_entropy(sims, labels), F.cross_entropy(sims.transpose(0, 1), labels)


def kl_loss(mu, logvar):
    """Mean over batch and dimensions (not a sum)."""
    return torch.mean(-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()))


def discriminator_loss(netD, real_imgs, fake_imgs, conditions):
    bce = nn.BCELoss()
    real_features = netD(real_imgs)
    fake_features = netD(fake_imgs.detach())
    b = real_features.size(0)
    ones, zeros = torch.ones(b, device=real_features.device), torch.zeros(b, device=real_features.device)
    cond_real = netD.COND_DNET(real_features, conditions)
    cond_fake = netD.COND_DNET(fake_features, conditions)
    cond_wrong = netD.COND_DNET(real_features[: b - 1], conditions[1:b])
    real_errD = bce(cond_real, ones)
    fake_errD = bce(cond_fake, zeros)
    wrong_errD = bce(cond_wrong, zeros[1:b])
    if netD.UNCOND_DNET is not None:
        real_u = bce(netD.UNCOND_DNET(real_features), ones)
        fake_u = bce(netD.UNCOND_DNET(fake_features), zeros)
        return (real_errD + real_u) / 2.0 + (fake_errD + fake_u + wrong_errD) / 3.0
    return real_errD + (fake_errD + wrong_errD) / 2.0


def generator_adv_loss(netsD, fake_imgs, sent_emb):
    """Sum over stages of uncond + cond BCE against 1 (not halved, as the code)."""
    bce = nn.BCELoss()
    total = 0.0
    for netD, fake in zip(netsD, fake_imgs):
        f = netD(fake)
        ones = torch.ones(f.size(0), device=f.device)
        total = total + bce(netD.COND_DNET(f, sent_emb), ones) + bce(netD.UNCOND_DNET(f), ones)
    return total


def stream_targets(captions, lengths, end_token: bool):
    """Targets for teacher forcing: the caption tokens, optionally followed by <end> (id 0).
    Returns (input captions, target lengths)."""
    if not end_token:
        return captions, lengths
    b, t = captions.shape
    caps = torch.cat([captions, torch.zeros(b, 1, dtype=captions.dtype, device=captions.device)], 1)
    return caps, lengths + 1


def stream_loss(cap_cnn, cap_rnn, glob_feat, captions, lengths, end_token=False):
    """Cross-entropy of the STREAM decoder (teacher-forced) against the caption tokens (packed)."""
    from torch.nn.utils.rnn import pack_padded_sequence

    caps, lens = stream_targets(captions, lengths, end_token)
    feats = cap_cnn(glob_feat)
    # The decoder input is [feature, w0 .. w_{L-1}] packed with L (+1) lengths: it drops the last input.
    logits = cap_rnn(feats, caps[:, : int(lens.max())], lens)
    targets = pack_padded_sequence(caps, lens.cpu(), batch_first=True, enforce_sorted=False).data
    return F.cross_entropy(logits.float(), targets)  # fp32 even when the decoder ran under bf16 autocast
