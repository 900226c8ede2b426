"""The fast recipe's discriminator side (mirrorgan_train/projected.py): DiffAugment, the projected heads,
the hinge + MA-GP losses, and a GAN run with --d-kind projected that resumes and exports."""
import os
import shutil

import pytest
import numpy as np
import torch
import torch.nn.functional as F

from mirrorgan_train import projected as P
from mirrorgan_train import train
from tiny_dataset import write_tiny_dataset


def test_translate_shifts_whole_images_and_fills_with_zeros():
    x = torch.arange(2 * 1 * 8 * 8, dtype=torch.float32).view(2, 1, 8, 8) + 1
    g = torch.Generator().manual_seed(3)
    y = P.translate(x, ratio=0.25, gen=g)
    for b in range(2):  # every kept pixel is the source shifted by one (dy, dx) within ±2
        found = False
        for dy in range(-2, 3):
            for dx in range(-2, 3):
                ref = torch.zeros(8, 8)
                for i in range(8):
                    for j in range(8):
                        if 0 <= i + dy < 8 and 0 <= j + dx < 8:
                            ref[i, j] = x[b, 0, i + dy, j + dx]
                found |= torch.equal(ref, y[b, 0])
        assert found


def test_cutout_zeroes_one_square_and_keeps_the_rest():
    x = torch.ones(4, 3, 16, 16)
    y = P.cutout(x, ratio=0.5, gen=torch.Generator().manual_seed(1))
    for b in range(4):
        zero = (y[b] == 0).all(0)
        assert 0 < zero.sum() <= 9 * 9  # a square of side ≤ 9 (8 ± 1), clipped at the borders
        assert torch.equal(y[b][:, ~zero], x[b][:, ~zero])  # colours untouched elsewhere
        rows, cols = zero.any(1).nonzero(), zero.any(0).nonzero()
        assert zero[rows.min():rows.max() + 1, cols.min():cols.max() + 1].all()  # one filled rectangle


def test_diff_augment_passes_gradients():
    x = torch.randn(2, 3, 16, 16, requires_grad=True)
    P.diff_augment(x, torch.Generator().manual_seed(0)).sum().backward()
    assert x.grad is not None and (x.grad != 0).any() and (x.grad == 0).any()


@pytest.fixture(scope="module")
def trunk():
    return P.FrozenTrunk(pretrained=False)


def test_trunk_is_frozen_and_taps_the_documented_depths(trunk):
    feats = trunk(torch.zeros(1, 3, 64, 64), 128)
    assert [f.shape[1] for f in feats] == list(P.TAP_CHANNELS)
    assert [f.shape[-1] for f in feats] == [128 // s for s in P.TAP_STRIDES]
    trunk.train()
    assert not trunk.backbone.training and all(not p.requires_grad for p in trunk.parameters())


def test_heads_reduce_to_one_logit_and_use_the_sentence(trunk):
    torch.manual_seed(0)
    d = P.ProjectedD(nef=8, input_size=64, width=8)
    feats = trunk(torch.randn(3, 3, 64, 64), 64)
    s1, s2 = torch.randn(3, 8), torch.randn(3, 8)
    a, b = d.logits(feats, s1), d.logits(feats, s2)
    assert a.shape == (3,) and not torch.allclose(a, b)


def test_match_matrix_diagonal_is_the_pairwise_logit_and_rows_share_the_unconditional_part(trunk):
    torch.manual_seed(4)
    d = P.ProjectedD(nef=8, input_size=64, width=8)
    feats = trunk(torch.randn(3, 3, 64, 64), 64)
    sent = torch.randn(3, 8)
    m = d.match(feats, sent)
    assert m.shape == (3, 3)
    assert torch.allclose(m.diagonal(), d.logits(feats, sent), atol=1e-6)
    assert torch.allclose(m[1, 2], d.logits([f[1:2] for f in feats], sent[2:3])[0], atol=1e-6)


def test_contrastive_match_loss_is_the_two_way_cross_entropy(trunk):
    torch.manual_seed(5)
    d = P.ProjectedD(nef=8, input_size=32, width=8)
    real, sent = torch.rand(4, 3, 32, 32), torch.randn(4, 8)
    _, parts = P.projected_d_loss(d, trunk, real, real, sent, augment=False, gp_weight=0)
    m = 10.0 * d.match(trunk(real, 32), sent)
    t = torch.arange(4)
    ref = 0.5 * (torch.nn.functional.cross_entropy(m, t) + torch.nn.functional.cross_entropy(m.t(), t))
    assert parts["match"] == pytest.approx(ref.item(), rel=1e-5)
    assert parts["wrong"] == pytest.approx((m[t, t.roll(1)] / 10.0).mean().item(), rel=1e-5)


def test_losses_train_the_heads_not_the_trunk_and_reach_the_generator(trunk):
    torch.manual_seed(1)
    d = P.ProjectedD(nef=8, input_size=64, width=8)
    real = torch.rand(4, 3, 32, 32) * 2 - 1
    fake = (torch.rand(4, 3, 32, 32) * 2 - 1).requires_grad_(True)
    sent = torch.randn(4, 8)
    loss, parts = P.projected_d_loss(d, trunk, real, fake, sent, gen=torch.Generator().manual_seed(0))
    loss.backward()
    assert parts["gp"] > 0 and torch.isfinite(loss)
    assert fake.grad is None  # the discriminator's step does not reach G
    assert all(p.grad is not None for p in d.parameters())
    assert all(p.grad is None for p in trunk.parameters())
    g, match, pair = P.projected_g_loss([d], trunk, [fake], sent, gen=torch.Generator().manual_seed(0))
    assert match.item() == 0.0 and pair.item() == 0.0  # no match weight, no real codes: the hinge term alone
    g.backward()
    assert fake.grad is not None and (fake.grad != 0).any()


def test_generator_match_term_is_cross_entropy_of_the_heads_match_matrix(trunk):
    """The generator's contrastive term = CE(scale × D.match(fakes, batch sentences), own caption), and its hinge
    term is minus the matrix's diagonal: both recomputed here from D.match on the same (unaugmented) fakes."""
    torch.manual_seed(5)
    d = P.ProjectedD(nef=8, input_size=32, width=8)
    fake = (torch.rand(4, 3, 32, 32) * 2 - 1).requires_grad_(True)
    sent = torch.randn(4, 8)
    adv, match, _ = P.projected_g_loss([d], trunk, [fake], sent, augment=False, match_weight=1.0, match_scale=3.0)
    m = d.match(trunk(fake, 32), sent)
    expect = -torch.log_softmax(3.0 * m, dim=1).diagonal().mean()
    assert torch.allclose(match, expect, atol=1e-6)
    assert torch.allclose(adv, -m.diagonal().mean(), atol=1e-6)
    match.backward()
    assert fake.grad is not None and (fake.grad != 0).any()


def test_generator_pair_term_pulls_a_fake_toward_its_own_real_image(trunk):
    """The image-image term = CE(cos(pair_code(fake_i), real code_j) / tau, j = i), recomputed by hand; it is
    lower when the fakes are their own real images than when they are the batch's real images in another order."""
    torch.manual_seed(7)
    d = P.ProjectedD(nef=8, input_size=32, width=8)
    real = torch.rand(4, 3, 32, 32) * 2 - 1
    codes = P.pair_code(trunk(real, 32))
    assert torch.allclose(codes.norm(dim=1), torch.ones(4), atol=1e-5) and codes.shape == (4, 112 + 320)
    fake = (torch.rand(4, 3, 32, 32) * 2 - 1).requires_grad_(True)
    sent = torch.randn(4, 8)
    _, _, pair = P.projected_g_loss([d], trunk, [fake], sent, augment=False, real_codes=[codes], pair_tau=0.5)
    sim = P.pair_code(trunk(fake, 32)) @ codes.t() / 0.5
    assert torch.allclose(pair, -torch.log_softmax(sim, 1).diagonal().mean(), atol=1e-6)
    pair.backward()
    assert fake.grad is not None and (fake.grad != 0).any()
    own = P.projected_g_loss([d], trunk, [real], sent, augment=False, real_codes=[codes], pair_tau=0.5)[2]
    shuffled = P.projected_g_loss([d], trunk, [real.roll(1, 0)], sent, augment=False, real_codes=[codes],
                                  pair_tau=0.5)[2]
    assert own < shuffled


def test_cached_trunk_features_are_the_trunks_taps_in_batches(trunk):
    images = torch.rand(5, 3, 32, 32) * 2 - 1
    feats = P.cache_trunk_features(trunk, images, 64, batch=2, augment=False)
    direct = trunk(images, 64)
    assert len(feats) == 4 and not any(f.requires_grad for f in feats)
    assert all(torch.allclose(a, b, atol=1e-6) for a, b in zip(feats, direct))


def test_match_pretraining_learns_a_separable_match():
    """On 16 cached feature sets, each with its own fixed 'caption' vector, pre-training the heads' match takes
    the in-batch accuracy from chance to (nearly) all correct."""
    torch.manual_seed(6)
    d = P.ProjectedD(nef=8, input_size=32, width=8)
    feats = [torch.randn(16, c, max(1, 32 // s), max(1, 32 // s)) for c, s in zip(P.TAP_CHANNELS, P.TAP_STRIDES)]
    sentences = torch.randn(16, 8)
    before = (d.match(feats, sentences).argmax(1) == torch.arange(16)).float().mean().item()
    opt = torch.optim.Adam(d.parameters(), lr=2e-3)
    acc = P.pretrain_match(d, opt, feats, lambda rows: sentences[rows], steps=200, batch=8,
                           rng=np.random.default_rng(0), log=lambda *_: None)
    after = (d.match(feats, sentences).argmax(1) == torch.arange(16)).float().mean().item()
    assert before < 0.5 and after >= 0.9 and acc >= 0.75


def test_ma_gp_is_dfgan_penalty_on_features_and_sentence(trunk):
    """MA-GP = k · mean over images of ‖∂D(real, s)/∂(features, s)‖^p (k = 2, p = 6), recomputed here by hand."""
    torch.manual_seed(2)
    d = P.ProjectedD(nef=8, input_size=32, width=8).eval()  # eval: spectral norm does not step between calls
    real, sent = torch.rand(3, 3, 32, 32), torch.randn(3, 8)
    _, parts = P.projected_d_loss(d, trunk, real, real, sent, augment=False)
    feats = [f.detach().requires_grad_(True) for f in trunk(real, 32)]
    s = sent.clone().requires_grad_(True)
    grads = torch.autograd.grad(d.logits(feats, s).sum(), feats + [s])
    norms = torch.sqrt(sum(g.flatten(1).pow(2).sum(1) for g in grads))
    assert parts["gp"] == pytest.approx((2.0 * norms.pow(6).mean()).item(), rel=1e-4)
    _, none = P.projected_d_loss(d, trunk, real, real, sent, augment=False, gp_weight=0)
    assert none["gp"] == 0.0 and none["real"] == pytest.approx(parts["real"], rel=1e-5)


def test_gan_with_the_projected_recipe_runs_resumes_and_keeps_g_keys(tmp_path):
    root = str(tmp_path / "ds")
    write_tiny_dataset(root, n_train=8, n_test=4)
    run = str(tmp_path / "run")
    common = ["--data", root, "--run", run, "--threads", "1"]
    train.main(["features", *common, "--batch", "8"])
    train.main(["stem", *common, "--iters", "1", "--batch", "4", "--ngf", "4", "--ndf", "4"])
    train.main(["stream", *common, "--iters", "1", "--batch", "4"])
    proj = ["--d-kind", "projected", "--d-sizes", "32", "32", "64", "--d-width", "8"]
    train.main(["gan", *common, "--iters", "2", "--stages", "1", "--batch", "4", *proj, "--d-pretrain-steps", "2",
                "--d-pretrain-images", "6", "--g-match-weight", "1", "--g-pair-weight", "1", "--ca-rescale", "3", "0.3"])
    ck = torch.load(os.path.join(run, "gan.pt"))
    assert ck["d_kind"] == "projected" and ck["it"] == 2 and len(ck["D"]) == 1 and ck["ca_rescaled"]
    train.main(["gan", *common, "--iters", "3", "--stages", "1", "--batch", "4", *proj])  # resumes its phase
    assert torch.load(os.path.join(run, "gan.pt"))["phase_it"] == 3
    train.main(["gan", *common, "--iters", "1", "--stages", "3", "--batch", "2", "--lambda1", "20", *proj,
                "--cross-scale-weight", "10"])
    ck = torch.load(os.path.join(run, "gan.pt"))
    assert ck["stages"] == 3 and len(ck["D"]) == 3 and ck["it"] == 4
    # The generator is the paper's module tree: a paper-recipe G loads its state without missing keys.
    from mirrorgan_train.models import G_NET, ModelConfig

    netG = G_NET(ModelConfig(**ck["config"]))
    netG.load_state_dict(ck["G"])
    # --fresh-d keeps G and its EMA, and starts the discriminators (and the phase's iteration count) afresh.
    before = ck["D"][0]
    train.main(["gan", *common, "--iters", "1", "--stages", "3", "--batch", "2", "--fresh-d", "--d-warmup", "1", *proj])
    ck2 = torch.load(os.path.join(run, "gan.pt"))
    assert ck2["phase_it"] == 1 and ck2["it"] == 5
    assert all(torch.equal(ck["G"][k], ck2["G"][k]) for k in ck["G"] if "running" not in k and "num_batches" not in k)  # D only
    assert not all(torch.equal(before[k], ck2["D"][0][k]) for k in before)
    # Switching recipe keeps G and starts the discriminators afresh.
    train.main(["gan", *common, "--iters", "1", "--stages", "3", "--batch", "2"])
    assert torch.load(os.path.join(run, "gan.pt"))["d_kind"] == "paper"


def test_ca_rescale_scales_the_mean_and_sets_sigma_keeping_keys():
    """rescale_conditioning: mu → k·mu for every sentence, logvar → 2 ln sigma (to the gate's sigmoid(8)), and the
    generator's state_dict keys and shapes unchanged."""
    from mirrorgan_train.models import G_NET, ModelConfig

    torch.manual_seed(8)
    g = G_NET(ModelConfig(n_words=20, nef=16, ngf=8, z_dim=8, condition_dim=6, branch_num=1))
    sent = torch.randn(5, 16)
    mu0, _ = g.ca_net.encode(sent)
    keys = {k: v.shape for k, v in g.state_dict().items()}
    train.rescale_conditioning(g, 3.0, 0.25)
    mu1, logvar1 = g.ca_net.encode(sent)
    assert torch.allclose(mu1, 3.0 * mu0, atol=1e-6)
    expect = 2.0 * np.log(0.25) * torch.sigmoid(torch.tensor(8.0))
    assert torch.allclose(logvar1, expect.expand_as(logvar1), atol=1e-6)
    assert {k: v.shape for k, v in g.state_dict().items()} == keys


def test_cross_scale_loss_ties_each_stage_to_the_one_below_and_leaves_the_lower_alone():
    from mirrorgan_train.train_gan import cross_scale_loss

    g = torch.Generator().manual_seed(3)
    s1 = torch.rand(2, 3, 4, 4, generator=g) * 2 - 1
    # A higher stage that is the lower one upsampled (nearest) costs nothing, at every stage pair.
    s2 = F.interpolate(s1, scale_factor=2, mode="nearest")
    s3 = F.interpolate(s2, scale_factor=2, mode="nearest")
    assert cross_scale_loss([s1, s2, s3]).item() == pytest.approx(0.0, abs=1e-7)
    # Otherwise it is the L1 of each 2x2 block's mean against the lower pixel, by hand, summed over the pairs.
    s1 = s1.clone().requires_grad_(True)
    s2 = (torch.rand(2, 3, 8, 8, generator=g) * 2 - 1).requires_grad_(True)
    blocks = s2.detach().reshape(2, 3, 4, 2, 4, 2).mean(dim=(3, 5))
    want = (blocks - s1.detach()).abs().mean().item()
    loss = cross_scale_loss([s1, s2])
    assert loss.item() == pytest.approx(want, rel=1e-6)
    loss.backward()
    assert s1.grad is None  # the lower stage is the target, not pulled towards the higher one
    assert s2.grad is not None and s2.grad.abs().sum() > 0

