"""Inference latency: one image through all three shipped models with their maps, and batch throughput.

    python bench/inference.py [--runs 200]

"One image" is what the Sketch tab does per stroke: preprocess a 560x560 sketch, then for each model the
probabilities, its own map and a Grad-CAM (ModelZoo.compare). Reported: median and p95 in ms.
"""
from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image, ImageDraw

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))
from fmnist.inference import ModelZoo  # noqa: E402
from fmnist.preprocess import prepare  # noqa: E402


def sketch() -> np.ndarray:
    img = Image.new("RGBA", (560, 560), "white")
    d = ImageDraw.Draw(img)
    d.line([(240, 100), (200, 460)], fill="black", width=22)
    d.line([(320, 100), (360, 460)], fill="black", width=22)
    d.line([(240, 100), (320, 100)], fill="black", width=22)
    return np.asarray(img)


def timed(fn, runs: int) -> tuple[float, float]:
    for _ in range(5):
        fn()
    t = []
    for _ in range(runs):
        s = time.perf_counter()
        fn()
        t.append((time.perf_counter() - s) * 1000)
    return float(np.median(t)), float(np.percentile(t, 95))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__)
    p.add_argument("--runs", type=int, default=200)
    a = p.parse_args()
    zoo = ModelZoo()
    value = {"composite": sketch()}
    print(f"torch {torch.__version__}, {torch.get_num_threads()} threads; models: {', '.join(zoo.models)}")
    print("| what | median ms | p95 ms |\n|---|---|---|")
    rows = {
        "preprocess a 560x560 sketch": lambda: prepare(value),
        "probabilities only, 3 models": lambda: zoo.probabilities(prepare(value).tensor),
        "all 3 models with own maps + Grad-CAM (the Sketch tab)": lambda: zoo.compare(value),
        "rotation sweep (25 angles x 3 models)": lambda: zoo.rotation_sweep(prepare(value).tensor),
    }
    for name, fn in rows.items():
        med, p95 = timed(fn, a.runs)
        print(f"| {name} | {med:.1f} | {p95:.1f} |")
    x = torch.rand(256, 1, 28, 28)
    with torch.inference_mode():
        for name, m in zoo.models.items():
            for _ in range(2):
                m(x)
            s = time.perf_counter()
            for _ in range(10):
                m(x)
            print(f"| batch throughput {name} (fp32, batch 256) | {2560 / (time.perf_counter() - s):.0f} img/s | |")


if __name__ == "__main__":
    main()
