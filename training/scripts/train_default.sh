#!/usr/bin/env bash
# The default model's whole pipeline, resumable stage by stage (each stage resumes from its checkpoint;
# a finished stage is skipped when its marker exists). Times are wall-clock budgets per stage on a 2-core CPU.
#   bash training/scripts/train_default.sh            (from the repository root)
# Environment: DATA, RUN, NGF, NDF, STEM_MIN, STREAM_MIN, GAN1_MIN, GAN3_MIN, LAMBDA1, THREADS, WORDS_EVERY
# (the STEM's DAMSM word loss every N iterations: it costs ~16x the sentence loss on CPU; docs/TRAINING.md).
set -euo pipefail
# OpenMP threads that spin while waiting starve the other core when builds run beside training.
export OMP_WAIT_POLICY=${OMP_WAIT_POLICY:-PASSIVE}
cd "$(dirname "$0")/.."
PY=${PY:-.venv/bin/python}
DATA=${DATA:-../data/synthbirds}
RUN=${RUN:-../runs/default}
NGF=${NGF:-16}; NDF=${NDF:-16}
STEM_MIN=${STEM_MIN:-28}; STREAM_MIN=${STREAM_MIN:-5}; GAN1_MIN=${GAN1_MIN:-15}; GAN3_MIN=${GAN3_MIN:-45}
LAMBDA1=${LAMBDA1:-20}; THREADS=${THREADS:-2}; WORDS_EVERY=${WORDS_EVERY:-4}
mkdir -p "$RUN"
stage() {  # stage NAME COMMAND...: run once, record its wall time
  local name=$1; shift
  if [ -f "$RUN/.done_$name" ]; then echo "== $name: done already"; return; fi
  echo "== $name: $*"; local t0=$(date +%s)
  "$@"
  local t1=$(date +%s); echo "$name $((t1 - t0))" >> "$RUN/timings.txt"; touch "$RUN/.done_$name"
}
if [ ! -f "$DATA/info.json" ]; then  # info.json is the renderer's last write
  stage render $PY -m mirrorgan_train.synthbirds.dataset --out "$DATA" --n-train 10000 --n-test 2000 --seed 0 --workers 2
fi
[ -f "$DATA/lite0_features.pt" ] || stage features $PY -m mirrorgan_train.train features --data "$DATA" --run "$RUN" --threads $THREADS --limit ${FEATURE_LIMIT:-5000}
stage stem   $PY -m mirrorgan_train.train stem   --data "$DATA" --run "$RUN" --threads $THREADS --minutes $STEM_MIN --ngf $NGF --ndf $NDF --words-every $WORDS_EVERY
stage stream $PY -m mirrorgan_train.train stream --data "$DATA" --run "$RUN" --threads $THREADS --minutes $STREAM_MIN
stage gan1   $PY -m mirrorgan_train.train gan    --data "$DATA" --run "$RUN" --threads $THREADS --minutes $GAN1_MIN --stages 1 --batch 16
stage gan3   $PY -m mirrorgan_train.train gan    --data "$DATA" --run "$RUN" --threads $THREADS --minutes $GAN3_MIN --stages 3 --batch 8 --lambda1 $LAMBDA1
echo "== all stages finished"; cat "$RUN/timings.txt"
