#!/usr/bin/env bash
# Export, quantize and score the two shipped models from their training runs, and write
# the figures MODEL.md quotes (eval_*.json, peers.json, the dev_unseen failure picture).
#   tools/ship_models.sh RUN_DEFAULT/best.pt RUN_FAST/best.pt [DATA]
# A model that is not retrained comes from its shipped file: `peoplesemseg recover
# peoplesemseg_ros/models/peoplesemseg_fast.onnx --out runs/fast.pt` (the same masks).
# DATA defaults to ../shared/data. Run it on an otherwise idle machine: peers.json holds
# timings (ratios within the run are what to compare).
set -euo pipefail
cd "$(dirname "$0")/.."
DEFAULT_CKPT=${1:?default model checkpoint}
FAST_CKPT=${2:?fast model checkpoint}
DATA=${3:-../shared/data}
PS=${PEOPLESEMSEG:-.venv/bin/peoplesemseg}
M=peoplesemseg_ros/models
CALIB=("$DATA/train/splits/train.txt" --num-images 128)

# The person decision margin of each model, chosen on val only (calibrate_*.json). The
# default runs with test-time flip (frame and mirror image, logits averaged): its margin
# is chosen on the flip-averaged logits it ships with.
"$PS" calibrate "$DEFAULT_CKPT" --data "$DATA/train" --flip > "$M/calibrate_default.json"
"$PS" calibrate "$FAST_CKPT" --data "$DATA/train" > "$M/calibrate_fast.json"
margin() { "${PY:-.venv/bin/python}" -c 'import json,sys; print(json.load(open(sys.argv[1]))["margin"])' "$1"; }
"$PS" export "$DEFAULT_CKPT" --out "$M/peoplesemseg_default.onnx" --internal train \
  --person-margin "$(margin "$M/calibrate_default.json")" --flip
# the same network in one pass (model: default_single): half the compute
"$PS" export "$DEFAULT_CKPT" --out "$M/peoplesemseg_default_single.onnx" --internal train \
  --person-margin "$(margin "$M/calibrate_default.json")"
"$PS" export "$FAST_CKPT" --out "$M/peoplesemseg_fast.onnx" --height 144 --width 256 \
  --person-margin "$(margin "$M/calibrate_fast.json")"
for name in default fast; do
  "$PS" quantize "$M/peoplesemseg_$name.onnx" --out "$M/peoplesemseg_${name}_int8.onnx" \
    --calib "${CALIB[@]}"
done
for name in default default_int8 default_single fast fast_int8; do
  "$PS" eval --shared "$DATA" --model "$M/peoplesemseg_$name.onnx" --threads 2 --no-progress \
    | tail -n 1 > "$M/eval_$name.json"
done
"$PS" eval --shared "$DATA" --model "$M/peoplesemseg_default.onnx" --threads 2 --no-progress \
  --failures docs/dev_unseen_failures.jpg > /dev/null
"$PS" eval --shared "$DATA" --model "$M/peoplesemseg_fast.onnx" --threads 2 --no-progress \
  --failures docs/dev_unseen_failures_fast.jpg > /dev/null
"$PS" bench peers --models default,default_single,fast,default_int8,fast_int8 --threads 1 --rounds 10 \
  --iters 20 --shared "$DATA" --out "$M/peers.json" > /dev/null
echo "wrote $M/*.onnx, $M/calibrate_*.json, $M/eval_*.json, $M/peers.json, docs/dev_unseen_failures*.jpg"
