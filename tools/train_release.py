"""Train every (architecture, seed) pair of the release in parallel processes, one log and checkpoint each.

Used for the shipped checkpoints (see README, "Shipped models"): on a GPU all runs share the card; on
a CPU pass --parallel 1. Each run is `python -m fmnist train` with the release recipe below.

    python tools/train_release.py --out runs/release --time-budget 420 --seeds 0 1 2
    python tools/train_release.py --out runs/release3 --archs sa gated --seeds 0 --parallel 1 \
        --time-budget 1920 --resume runs/release2            # warm restarts of earlier runs
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

# The study's recipe where it speaks (AdamW, lr 3e-4, batch 64, cross-entropy, seed augmentations);
# our choices where it is silent: wider stages, cosine schedule with warm-up, weight decay, label
# smoothing, weight averaging, and training to a time budget with the best validation epoch kept.
RELEASE_RECIPE = [
    "--lr", "3e-4", "--batch-size", "64", "--augment", "seed", "--schedule", "cosine",
    "--warmup-epochs", "1", "--weight-decay", "0.05", "--label-smoothing", "0.1", "--ema", "0.999",
    "--widths", "32,64,128", "--dropout", "0.2", "--epochs", "300", "--patience", "1000",
]


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--archs", nargs="+", default=["simple", "sa", "gated"])
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--time-budget", type=float, default=420)
    p.add_argument("--epochs", type=int, default=None, help="override the epoch cap (e.g. for a smoke test)")
    p.add_argument("--limit", type=int, default=None)
    p.add_argument("--parallel", type=int, default=0, help="runs at once (0: all)")
    p.add_argument("--threads", type=int, default=0, help="torch threads per run (0: torch's default)")
    p.add_argument("--out", default="runs/release")
    p.add_argument("--resume", default=None, metavar="DIR",
                   help="warm restart: continue DIR/<arch>-s<seed>.safetensors with a fresh schedule over --time-budget")
    p.add_argument("--extra", nargs=argparse.REMAINDER, default=[], help="more arguments for every run")
    a = p.parse_args()
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    recipe = list(RELEASE_RECIPE)
    if a.epochs:
        recipe[recipe.index("--epochs") + 1] = str(a.epochs)
    jobs = [(arch, seed) for seed in a.seeds for arch in a.archs]
    env = {**os.environ, "PYTHONUNBUFFERED": "1", **({"OMP_NUM_THREADS": str(a.threads)} if a.threads else {})}
    running, done, t0 = [], [], time.time()
    while jobs or running:
        while jobs and (not a.parallel or len(running) < a.parallel):
            arch, seed = jobs.pop(0)
            name = f"{arch}-s{seed}"
            cmd = [sys.executable, "-m", "fmnist", "train", "--arch", arch, "--seed", str(seed), *recipe,
                   "--time-budget", str(a.time_budget), "--quiet", "--out", str(out / f"{name}.safetensors"),
                   *(["--limit", str(a.limit)] if a.limit else []),
                   *(["--resume", str(Path(a.resume) / f"{name}.safetensors"), "--restart-schedule"] if a.resume else []),
                   *a.extra]
            log = open(out / f"{name}.log", "w")
            running.append((name, subprocess.Popen(cmd, stdout=log, stderr=subprocess.STDOUT, env=env), log))
        for item in list(running):
            name, proc, log = item
            if proc.poll() is not None:
                log.close()
                running.remove(item)
                done.append((name, proc.returncode))
                print(f"[{time.time() - t0:6.0f}s] {name} exited {proc.returncode}", flush=True)
        time.sleep(1)
    summary = {}
    for name, rc in done:
        entry = {"returncode": rc}
        path = out / f"{name}.safetensors"
        if path.exists():
            from fmnist.checkpoints import read_metadata

            meta = read_metadata(path)
            entry.update({k: meta.get(k) for k in ("label", "best_epoch", "val_metrics", "time_to_best_s",
                                                   "train_time_s", "trained_on")})
            entry["test_accuracy"] = (meta.get("test_metrics") or {}).get("accuracy")
            entry["epochs"] = len(meta.get("history", []))
        summary[name] = entry
        print(name, json.dumps(entry))
    (out / "summary.json").write_text(json.dumps(summary, indent=1))
    return 0 if all(rc == 0 for _, rc in done) else 1


if __name__ == "__main__":
    sys.exit(main())
