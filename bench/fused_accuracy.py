"""The fused CPU kernels change speed, not results: the same short training run with and without them.

    python bench/fused_accuracy.py [--epochs 4] [--archs simple sa gated]

Each architecture is trained twice from the same seed with the release recipe (cosine, 1 warm-up epoch,
weight decay 0.05, label smoothing 0.1, EMA 0.999, the study's augmentations), once with ``--fused off``
(the plain modules) and once with ``--fused on`` (the kernels of fmnist.accel), each in its own process (one at a time:
two torch processes on 2 cores slow each other). Prints training time, images/second and validation and
test accuracy per run. bf16 rounding differs between the two, so the runs are not bit-identical: expect
accuracies within run-to-run noise (about +-0.005 after a few epochs), not equality.
"""
from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
from fmnist.checkpoints import load_checkpoint


def run(arch: str, epochs: int, fused: bool, out: Path) -> dict:
    env = {k: v for k, v in os.environ.items() if k != "FMNIST_FUSED"}  # it would override --fused
    cmd = [sys.executable, "-m", "fmnist", "train", "--arch", arch, "--fused", "on" if fused else "off",
           "--epochs", str(epochs), "--schedule", "cosine",
           "--warmup-epochs", "1", "--weight-decay", "0.05", "--label-smoothing", "0.1", "--ema", "0.999",
           "--patience", str(epochs), "--seed", "0", "--quiet", "--out", str(out)]
    subprocess.run(cmd, cwd=ROOT, env=env, check=True, stdout=subprocess.DEVNULL)
    meta = load_checkpoint(out).meta
    images = meta["steps"] * meta["config"]["batch_size"]
    return {"time": meta["train_time_s"], "img_s": images / meta["train_time_s"],
            "val": meta["val_metrics"]["val_acc"], "test": meta["test_metrics"]["accuracy"]}


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--epochs", type=int, default=4)
    p.add_argument("--archs", nargs="+", default=["simple", "sa", "gated"])
    a = p.parse_args()
    print(f"{a.epochs} epochs each, seed 0\n")
    print("| model | kernels | training time | img/s (incl. validation) | val acc | test acc |\n|---|---|---|---|---|---|")
    with tempfile.TemporaryDirectory() as tmp:
        for arch in a.archs:
            for fused in (False, True):
                r = run(arch, a.epochs, fused, Path(tmp) / f"{arch}-{int(fused)}.safetensors")
                print(f"| {arch} | {'fused' if fused else 'plain'} | {r['time']:.0f} s | {r['img_s']:.0f} | "
                      f"{r['val']:.4f} | {r['test']:.4f} |", flush=True)


if __name__ == "__main__":
    main()
