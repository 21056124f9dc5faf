#!/usr/bin/env bash
# One device call: a short smoke run, then all release runs in parallel; results into $OUT.
# Arguments go on to tools/train_release.py, e.g. `bash tools/device_release.sh --extra --widths 64,128,256`.
set -u
export FMNIST_DATA=$PWD/.devdata PYTHONUNBUFFERED=1
BUDGET=${BUDGET:-400}
nvidia-smi -L; python3 -c "import torch, sys; print(sys.version, torch.__version__, torch.cuda.is_available())"
python3 tools/train_release.py --out /tmp/smoke --archs gated --seeds 9 --time-budget 8 --limit 3000 || {
  cat /tmp/smoke/*.log; exit 1; }
tail -3 /tmp/smoke/gated-s9.log
python3 tools/train_release.py --out /tmp/rel --time-budget "$BUDGET" --seeds 0 1 2 "$@" 2>&1 | tee "$OUT/driver.log"
cd /tmp/rel && cp simple-s0.safetensors sa-s0.safetensors gated-s0.safetensors summary.json "$OUT/"
tar czf "$OUT/seeds1.tgz" *-s1.safetensors; tar czf "$OUT/seeds2.tgz" *-s2.safetensors; tar czf "$OUT/logs.tgz" *.log
ls -la "$OUT"
