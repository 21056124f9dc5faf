"""Fashion-MNIST test accuracy of a set of models: each alone, with horizontal-flip test-time augmentation
(the mean of the image's and its mirror's probabilities), and the three together (their calibrated
probabilities averaged), with and without the flip.

    .venv/bin/python bench/fashion_mnist.py                      # the models the Sketch tab uses
    .venv/bin/python bench/fashion_mnist.py --folder runs/open   # a folder of <arch>/ checkpoints
    .venv/bin/python bench/fashion_mnist.py --folder checkpoints # the study-recipe models

The drawing-aware models are trained upright with horizontal flips only, so only the mirror is a view
they know; the study-recipe models also know vertical flips (`fmnist evaluate` reports all four).
"""
from __future__ import annotations

import argparse
import json
import sys

import numpy as np
import torch

from fmnist.data import load_fashion_mnist, to_float
from fmnist.inference import DRAWING_CHECKPOINTS, ModelZoo


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--folder", default=str(DRAWING_CHECKPOINTS), help="folder of <arch>/ checkpoints")
    p.add_argument("--json", help="write the figures here")
    a = p.parse_args()
    torch.set_num_threads(min(2, torch.get_num_threads()))
    zoo = ModelZoo(checkpoint_dir=a.folder)
    ds = load_fashion_mnist()
    x, y = to_float(ds.test_images), ds.test_labels.numpy()
    plain = zoo.probabilities(x)
    mirror = zoo.probabilities(x.flip(-1))
    out = {}
    for n in plain:
        out[n] = {"accuracy": float((plain[n].argmax(1) == y).mean()),
                  "with flip TTA": float(((plain[n] + mirror[n]).argmax(1) == y).mean())}
    ens = np.mean(list(plain.values()), 0)
    ens_tta = ens + np.mean(list(mirror.values()), 0)
    out["ensemble of the three"] = {"accuracy": float((ens.argmax(1) == y).mean()),
                                    "with flip TTA": float((ens_tta.argmax(1) == y).mean())}
    print(f"Fashion-MNIST test (10,000 images), models in {a.folder}")
    print("| model | accuracy | with flip TTA |\n|---|---|---|")
    for n, r in out.items():
        print(f"| {n} | {r['accuracy']:.4f} | {r['with flip TTA']:.4f} |")
    if a.json:
        with open(a.json, "w") as f:
            json.dump(out, f, indent=1)
    return 0


if __name__ == "__main__":
    sys.exit(main())
