"""The batched DAMSM word loss against the official one-caption-at-a-time loop (losses.words_loss_reference)."""
import numpy as np
import torch

from mirrorgan_train.losses import word_similarities, words_loss, words_loss_reference


def _inputs(seed=0, b=7, d=16, t=9):
    g = torch.Generator().manual_seed(seed)
    img = torch.randn(b, d, 5, 5, generator=g, requires_grad=True)
    words = torch.randn(b, d, t, generator=g, requires_grad=True)
    lens = torch.tensor([t, 3, 1, 5, t, 2, 8][:b])
    classes = np.array([0, 1, 0, 2, 3, 1, 4][:b])
    return img, words, lens, classes


def _loss_and_grads(fn):
    img, words, lens, classes = _inputs()
    l0, l1 = fn(img, words, lens, classes)
    (l0 + 2 * l1).backward()
    return torch.stack([l0, l1]).detach(), img.grad, words.grad


def test_batched_word_loss_equals_the_reference_loop_and_its_gradients():
    ref = _loss_and_grads(words_loss_reference)
    new = _loss_and_grads(words_loss)
    for a, b in zip(ref, new):
        torch.testing.assert_close(b, a, rtol=1e-5, atol=1e-6)


def test_padded_word_positions_do_not_change_the_scores():
    img, words, lens, _ = _inputs()
    s = word_similarities(img, words, lens)
    garbage = words.detach().clone()
    for c, n in enumerate(lens.tolist()):
        garbage[c, :, n:] = 1e3  # whatever sits past a caption's length
    torch.testing.assert_close(word_similarities(img, garbage, lens), s)


def test_matching_pairs_score_highest_when_regions_are_the_words():
    # Each image's regions are its caption's word vectors (plus noise): the diagonal must win every row.
    g = torch.Generator().manual_seed(1)
    words = torch.randn(5, 32, 6, generator=g)
    img = torch.cat([words, torch.zeros(5, 32, 3)], 2).view(5, 32, 3, 3) + 0.01 * torch.randn(5, 32, 3, 3, generator=g)
    s = word_similarities(img, words, torch.full((5,), 6))
    assert (s.argmax(1) == torch.arange(5)).all()
