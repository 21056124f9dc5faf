"""Upload agreement: do real test images, re-rendered as a user would upload them, get the answer the
model gives the original 28x28 image?

    python bench/upload_agreement.py [--n 2000]

Each image is enlarged 3-11x (bilinear), put dark-on-white at a random place on a 380-600 px page and
saved as JPEG (quality 60-95), then goes through `prepare`, the app's one preprocessing path. The images
are drawn from the test set leaving out the 300 of tests/test_upload_agreement.py and the 600 that the
preprocessing constants were tuned on, so this is a held-out figure. Needs the dataset.
"""
from __future__ import annotations

import argparse
import time

import numpy as np
import torch

import fmnist
from fmnist.checkpoints import shipped_names
from fmnist.data import to_float
from fmnist.images import render_as_random_upload
from fmnist.preprocess import prepare


def held_out(n: int) -> tuple[np.ndarray, np.random.Generator]:
    test_sample = set(np.random.default_rng(0).choice(10_000, 300, replace=False).tolist())
    tuning = [i for i in np.random.default_rng(1).permutation(10_000) if i not in test_sample][:600]
    rng = np.random.default_rng(2)
    return np.array([i for i in rng.permutation(10_000) if i not in set(tuning)][:n]), rng


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--n", type=int, default=2000, help="number of test images (at most 9,400)")
    args = ap.parse_args()
    torch.set_num_threads(2)
    ds = fmnist.load_fashion_mnist(download=False)
    idx, rng = held_out(args.n)
    originals = ds.test_images[idx]
    start = time.perf_counter()
    uploads = torch.cat([prepare(render_as_random_upload(img, rng)).tensor for img in originals.numpy()])
    ms = (time.perf_counter() - start) / len(idx) * 1000
    err = (uploads - to_float(originals)).abs().mean().item()
    print(f"{len(idx)} held-out test images; decode + prepare {ms:.1f} ms per upload; mean abs. pixel "
          f"error against the originals {err:.4f}\n")
    print("| model | agreement | 95% interval |")
    print("|---|---|---|")
    with torch.no_grad():
        for name in shipped_names():  # the study-recipe models and the drawing-aware ones
            model = fmnist.load_model(name)
            same = (model(to_float(originals)).argmax(1) == model(uploads).argmax(1)).float()
            a, n = same.mean().item(), len(same)
            half = 1.96 * (a * (1 - a) / n) ** 0.5
            print(f"| {name} | {a:.1%} | [{a - half:.1%}, {a + half:.1%}] |", flush=True)


if __name__ == "__main__":
    main()
