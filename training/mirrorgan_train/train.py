"""Training commands, one per stage, each resumable from its checkpoint.

  python -m mirrorgan_train.train features --data data/synthbirds
  python -m mirrorgan_train.train stem     --data data/synthbirds --run runs/default --minutes 12
  python -m mirrorgan_train.train stream   --data data/synthbirds --run runs/default --minutes 8
  python -m mirrorgan_train.train gan      --data data/synthbirds --run runs/default --stages 1 --minutes 25
  python -m mirrorgan_train.train gan      --data data/synthbirds --run runs/default --stages 3 --minutes 70 --lambda1 20

One module per stage: train_encoders.py (features, stem, stream), train_gan.py (gan), train_common.py (what
they share); this file holds the command line.

The order follows the paper: STEM (DAMSM losses) first, STREAM next, then the generator with the adversarial
losses + lambda * STREAM loss + KL. The generator is trained stage-wise (64 px alone, then all three stages).
"""
from __future__ import annotations

import argparse

import torch

# Re-exported: the commands and the helpers tests and tools call as train.<name>.
from .train_common import load_frozen_stream, load_frozen_text_encoder  # noqa: F401
from .train_encoders import cmd_features, cmd_stem, cmd_stream
from .train_gan import cmd_gan, rescale_conditioning  # noqa: F401


def main(argv=None):
    p = argparse.ArgumentParser(prog="mirrorgan_train.train")
    sub = p.add_subparsers(dest="cmd", required=True)

    def common(sp):
        sp.add_argument("--data", default="data/synthbirds")
        sp.add_argument("--run", default="runs/default")
        sp.add_argument("--seed", type=int, default=0)
        sp.add_argument("--threads", type=int, default=2)
        sp.add_argument("--iters", type=int, default=10**9)
        sp.add_argument("--minutes", type=float, default=0)
        sp.add_argument("--ngf", type=int)
        sp.add_argument("--ndf", type=int)
        sp.add_argument("--r-num", dest="r_num", type=int)
        sp.add_argument("--words-num", dest="words_num", type=int)
        sp.add_argument("--device", default="auto", help="auto (CUDA when present, else CPU), cpu, cuda, cuda:N")

    sp = sub.add_parser("features")
    common(sp)
    sp.add_argument("--batch", type=int, default=50)
    sp.add_argument("--limit", type=int, default=0, help="train images to encode (0: all)")
    sp.add_argument("--test-limit", dest="test_limit", type=int, default=1000, help="test images to encode (0: all)")
    sp = sub.add_parser("stem")
    common(sp)
    sp.add_argument("--batch", type=int, default=48)
    sp.add_argument("--lr", type=float, default=0.002)
    sp.add_argument("--gamma1", type=float, default=4.0)
    sp.add_argument("--gamma2", type=float, default=5.0)
    sp.add_argument("--gamma3", type=float, default=10.0)
    sp.add_argument("--freeze-text", dest="freeze_text", action="store_true",
                    help="train only the image heads against the current text encoder (sentence loss)")
    sp.add_argument("--image-head", dest="image_head", choices=["linear", "local_conv"], default=None,
                    help="the DAMSM global code's head (models.CNN_ENCODER); recorded in the run's config.json; "
                         "default: the run's, else linear")
    sp.add_argument("--image-head-width", dest="image_head_width", type=int, default=None,
                    help="local_conv's width (default 256)")
    sp.add_argument("--init-stem", dest="init_stem", default="",
                    help="start a new run's STEM from this stem.pt (text encoder, matching image-head tensors)")
    sp.add_argument("--words-every", dest="words_every", type=int, default=1,
                    help="compute the DAMSM word loss every N iterations (1: every iteration, as the paper)")
    sp = sub.add_parser("stream")
    common(sp)
    sp.add_argument("--bf16", action="store_true", help="forward passes under bf16 autocast (parameters stay fp32)")
    sp.add_argument("--batch", type=int, default=128)
    sp.add_argument("--lr", type=float, default=1e-3)
    sp = sub.add_parser("gan")
    common(sp)
    sp.add_argument("--stages", type=int, default=3)
    sp.add_argument("--batch", type=int, default=8)
    sp.add_argument("--lr-g", dest="lr_g", type=float, default=2e-4)
    sp.add_argument("--lr-d", dest="lr_d", type=float, default=2e-4)
    sp.add_argument("--lambda1", type=float, default=20.0)
    sp.add_argument("--sample-every", dest="sample_every", type=int, default=500)
    sp.add_argument("--checkpoint-every", dest="checkpoint_every", type=int, default=200)
    sp.add_argument("--snapshot-every", dest="snapshot_every", type=int, default=0,
                    help="keep G's parameters every N phase iterations in RUN/snapshots (diagnosis)")
    sp.add_argument("--d-warmup", dest="d_warmup", type=int, default=0,
                    help="train only the discriminators for the first N phase iterations (after --init-g)")
    sp.add_argument("--init-g", dest="init_g", default="",
                    help="start G from an exported generator.safetensors (a fresh run only)")
    sp.add_argument("--fresh-d", dest="fresh_d", action="store_true",
                    help="resume G (and its EMA) from the checkpoint but start the discriminators and optimisers afresh")
    sp.add_argument("--d-kind", dest="d_kind", choices=["paper", "projected"], default="paper",
                    help="paper: the official discriminators and BCE losses; projected: issue 17's recipe "
                         "(text-conditioned heads over frozen Lite0 features, hinge + MA-GP, DiffAugment)")
    sp.add_argument("--d-sizes", dest="d_sizes", type=int, nargs=3, default=[128, 128, 128],
                    help="projected: the trunk's input size for the 64, 128 and 256 px images")
    sp.add_argument("--d-width", dest="d_width", type=int, default=64, help="projected: the heads' first width")
    sp.add_argument("--gp-weight", dest="gp_weight", type=float, default=2.0,
                    help="projected: weight of the matching-aware gradient penalty (DF-GAN: 2, power 6)")
    sp.add_argument("--match-weight", dest="match_weight", type=float, default=1.0,
                    help="projected: weight of the heads' contrastive image-caption match loss on real images")
    sp.add_argument("--d-pretrain-steps", dest="d_pretrain_steps", type=int, default=0,
                    help="projected: steps of match pre-training for each untrained discriminator, on cached "
                         "trunk features of real images, before the GAN starts")
    sp.add_argument("--d-pretrain-images", dest="d_pretrain_images", type=int, default=3000,
                    help="projected: real training images cached for --d-pretrain-steps")
    sp.add_argument("--g-match-weight", dest="g_match_weight", type=float, default=0.0,
                    help="projected: weight of the generator's contrastive term (its fake picked among the batch's "
                         "captions by the heads)")
    sp.add_argument("--g-pair-weight", dest="g_pair_weight", type=float, default=0.0,
                    help="projected: weight of the generator's image-image contrastive term (a fake nearer its own "
                         "caption's real image than the batch's others, in the frozen trunk's features)")
    sp.add_argument("--ca-rescale", dest="ca_rescale", type=float, nargs=2, default=None, metavar=("MU_SCALE", "SIGMA"),
                    help="once, at the start: scale the CA's mean by MU_SCALE and set its sigma to SIGMA (a short "
                         "budget's conditioning; see rescale_conditioning)")
    sp.add_argument("--cross-scale-weight", dest="cross_scale_weight", type=float, default=0.0,
                    help="weight of the cross-scale consistency term: each higher stage's image, average-pooled to "
                         "the stage below's size, against that stage's image (detached; L1); see cross_scale_loss")
    sp.add_argument("--stream-stage1", dest="stream_stage1", action="store_true",
                    help="also apply lambda1 * STREAM in a 64²-only phase (--stages 1), to the 64² image")
    sp.add_argument("--stream-images", dest="stream_images", type=int, default=0,
                    help="images of each batch the STREAM loss reads (0: all)")
    sp.add_argument("--no-augment", dest="augment", action="store_false",
                    help="projected: no DiffAugment (translation and cutout)")
    args = p.parse_args(argv)
    torch.set_num_threads(args.threads)
    {"features": cmd_features, "stem": cmd_stem, "stream": cmd_stream, "gan": cmd_gan}[args.cmd](args)


if __name__ == "__main__":
    main()
