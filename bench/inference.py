"""Inference latency: one image through all three shipped models with their maps, and batch throughput.

    python bench/inference.py [--runs 200]
    python bench/inference.py --ab [--runs 200]    # channels_last vs contiguous models: Sketch tab, /predict

"One image" is what the Sketch tab does per stroke: preprocess a 560x560 sketch, then for each model the
probabilities, its own map and a Grad-CAM (ModelZoo.compare). Reported: median and p95 in ms. The app's
ModelZoo keeps its models channels_last; --ab times that pass and /predict's forwards with both layouts
in one process, alternating blocks of 20 calls so that both see the same phases of the machine.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch
from PIL import Image, ImageDraw

from fmnist.inference import ModelZoo
from fmnist.preprocess import prepare


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


def ab(value: dict, runs: int) -> None:
    zoos = {"channels_last": ModelZoo(), "contiguous": ModelZoo(channels_last=False)}
    x = prepare(value).tensor
    passes = {"the Sketch tab's pass": lambda zoo: zoo.compare(value),
              "probabilities only (/predict), prepared input": lambda zoo: zoo.probabilities(x)}
    print("| what | models | median ms | p95 ms |\n|---|---|---|---|")
    for what, fn in passes.items():
        times: dict[str, list[float]] = {k: [] for k in zoos}
        for zoo in zoos.values():
            for _ in range(5):
                fn(zoo)
        for _ in range(max(runs // 20, 1)):
            for k, zoo in zoos.items():
                for _ in range(20):
                    s = time.perf_counter()
                    fn(zoo)
                    times[k].append((time.perf_counter() - s) * 1000)
        for k, t in times.items():
            print(f"| {what} | {k} | {np.median(t):.1f} | {np.percentile(t, 95):.1f} |")
    a, b = zoos.values()
    pa, pb = a.probabilities(x), b.probabilities(x)
    print("largest probability difference between layouts:", max(float(abs(pa[n] - pb[n]).max()) for n in pa))


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--runs", type=int, default=200)
    p.add_argument("--ab", action="store_true", help="channels_last vs contiguous models, alternating")
    a = p.parse_args()
    value = {"composite": sketch()}
    if a.ab:
        return ab(value, a.runs)
    zoo = ModelZoo.for_drawings()  # what the Sketch tab answers with
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
