#!/usr/bin/env bash
# The default model's whole pipeline, resumable stage by stage (each stage resumes from its checkpoint;
# a finished stage is skipped when its marker exists). Times are wall-clock budgets per stage on a 2-core CPU.
#   bash training/scripts/train_default.sh            (from the repository root)
# Environment: DATA, RUN, NGF, NDF, STEM_MIN, STEM2_MIN, HEAD_MIN, IMAGE_HEAD, HEAD_LR, STREAM_MIN, GAN1_MIN, GAN3_MIN,
# RECIPE, LAMBDA1, THREADS,
# DEVICE (auto: CUDA when present), INIT_G (a generator.safetensors to start G from instead of training it from
# scratch: the shipped model's generators were made this way, docs/TRAINING.md).
# STEM runs in three phases (docs/TRAINING.md): the DAMSM word loss every 4th iteration, then every 8th (the
# sentence loss, which R-precision and the generator's conditioning use, every iteration), then a head-only phase
# that fits the DAMSM image heads to the now fixed text encoder.
set -euo pipefail
# OpenMP threads that spin while waiting starve the other core when builds run beside training.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
DATA=${DATA:-../data/synthbirds}
RUN=${RUN:-../runs/default}
NGF=${NGF:-16}; NDF=${NDF:-16}
STEM_MIN=${STEM_MIN:-20}; STEM2_MIN=${STEM2_MIN:-27}; HEAD_MIN=${HEAD_MIN:-15}; STREAM_MIN=${STREAM_MIN:-30}
GAN1_MIN=${GAN1_MIN:-15}; GAN3_MIN=${GAN3_MIN:-55}
IMAGE_HEAD=${IMAGE_HEAD:-local_conv}; HEAD_LR=${HEAD_LR:-2e-4}
RECIPE=${RECIPE:-paper}; LAMBDA1=${LAMBDA1:-20}; THREADS=${THREADS:-2}; DEVICE=${DEVICE:-auto}; INIT_G=${INIT_G:-}
mkdir -p "$RUN"
stage() {  # stage NAME COMMAND...: run once, record its wall time
  local name=$1; shift
  if [ -f "$RUN/.done_$name" ]; then echo "== $name: done already"; return; fi
  echo "== $name: $*"; local t0=$(date +%s)
  "$@"
  local t1=$(date +%s); echo "$name $((t1 - t0))" >> "$RUN/timings.txt"; touch "$RUN/.done_$name"
}
T="--data $DATA --run $RUN --threads $THREADS --device $DEVICE"
if [ ! -f "$DATA/info.json" ]; then  # info.json is the renderer's last write
  stage render $PY -m mirrorgan_train.synthbirds.dataset --out "$DATA" --n-train 10000 --n-test 2000 --seed 0 --workers 2
fi
# Backbone features of all 10,000 training and 2,000 test images (channels-last: 1.6x cheaper on this CPU).
[ -f "$DATA/lite0_features.pt" ] || stage features $PY -m mirrorgan_train.train features $T --limit 0 --test-limit 0
stage stem   $PY -m mirrorgan_train.train stem $T --minutes $STEM_MIN --ngf $NGF --ndf $NDF --words-every 4
stage stem2  $PY -m mirrorgan_train.train stem $T --minutes $STEM2_MIN --words-every 8
# The head-only phase fits the DAMSM code head IMAGE_HEAD (local_conv: convolutions over the region map, which
# read the part colours the pooled feature loses; docs/EVALUATION.md diagnosis part 7) to the fixed text encoder,
# on sentence features computed once.
stage stemhead $PY -m mirrorgan_train.train stem $T --minutes $HEAD_MIN --freeze-text --batch 48 \
    --image-head $IMAGE_HEAD --lr $HEAD_LR
stage stream $PY -m mirrorgan_train.train stream $T --minutes $STREAM_MIN --bf16
# The GAN. RECIPE=paper (default; what a fresh clone can run end to end): the official discriminators and BCE
# losses, STREAM on the final stage only. RECIPE=projected (issue 17, docs/TRAINING.md): text-conditioned heads over
# the frozen Lite0 trunk, match-pre-trained before the GAN, hinge + MA-GP, DiffAugment, the generator's contrastive
# terms, the CA rescaled for the short budget, and lambda1 * STREAM already in the 64² phase (8 images of each
# batch); in the all-stage phase, each higher stage's image tied to the stage below's (--cross-scale-weight).
# The shipped generator (eighth session) is the paper recipe's continued by this one
# (INIT_G=<the paper recipe's generator.safetensors>); from scratch it has not been run yet.
if [ "$RECIPE" = projected ]; then
  INIT=""; [ -n "$INIT_G" ] && INIT="--init-g $INIT_G"
  P="--d-kind projected --stream-images 8 --lambda1 $LAMBDA1 --g-match-weight 1 --g-pair-weight 0.5 --snapshot-every 200"
  stage gan1 $PY -m mirrorgan_train.train gan $T --minutes $GAN1_MIN --stages 1 --batch 32 --stream-stage1 \
      --d-pretrain-steps 1500 --ca-rescale 3 0.3 $P $INIT
  stage gan3 $PY -m mirrorgan_train.train gan $T --minutes $GAN3_MIN --stages 3 --batch 8 --d-sizes 128 128 224 \
      --d-pretrain-steps 600 --d-pretrain-images 2000 --cross-scale-weight 20 $P
elif [ -z "$INIT_G" ]; then
  stage gan1 $PY -m mirrorgan_train.train gan $T --minutes $GAN1_MIN --stages 1 --batch 16
  stage gan3 $PY -m mirrorgan_train.train gan $T --minutes $GAN3_MIN --stages 3 --batch 8 --lambda1 $LAMBDA1
else
  stage gan3 $PY -m mirrorgan_train.train gan $T --minutes $GAN3_MIN --stages 3 --batch 8 --lambda1 $LAMBDA1 \
      --init-g "$INIT_G" --d-warmup 100 --snapshot-every 100
fi
echo "== all stages finished"; cat "$RUN/timings.txt"
