"""A second, held-out set of garment drawings: designs written separately from both the training drawings
(fmnist.sketches) and the main benchmark's designs (fmnist/sketches/designs.py), and never used to tune
either. The main benchmark's failures steer the training drawings' design; this set checks that what
helps there is not tailored to its 50 designs.

    .venv/bin/python bench/heldout_drawings.py                 # the Sketch tab's models
    .venv/bin/python bench/heldout_drawings.py --models study  # the study-recipe models

Three designs per class, as three other people might draw them, each rendered at three sizes, positions
and brush widths with round-capped strokes, not anti-aliased (as the sketchpad's composite is), on a
560 px white canvas (the sketchpad's size) and passed to the models as a sketchpad value: 90 drawings,
made in a second, without a browser.
"""
from __future__ import annotations

import argparse

import numpy as np
import torch

from fmnist.data import CLASSES
from fmnist.inference import DRAWING_CHECKPOINTS, ModelZoo
from fmnist.sketches.heldout import drawings


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="drawings", help="drawings (the Sketch tab's), study, or a folder")
    ap.add_argument("--save", default=None, help="also save the 28x28 inputs as one PNG sheet here")
    ap.add_argument("--wrong", action="store_true", help="list the drawings each model gets wrong")
    a = ap.parse_args(argv)
    torch.set_num_threads(min(2, torch.get_num_threads()))
    x, labels, names = drawings()
    if a.save:
        from PIL import Image
        sheet = (x[:, 0].numpy() * 255).clip(0, 255).astype(np.uint8).reshape(10, -1, 28, 28)
        Image.fromarray(np.concatenate([np.concatenate(list(row), 1) for row in sheet], 0)).save(a.save)
    folder = {"drawings": DRAWING_CHECKPOINTS, "study": None}.get(a.models, a.models)
    zoo = ModelZoo(checkpoint_dir=folder)
    probs = zoo.probabilities(x)
    print(f"models: {a.models}; {len(labels)} held-out drawings\n")
    print("| model | all | " + " | ".join(CLASSES) + " |\n|---|---|" + "---|" * len(CLASSES))
    for name, p in probs.items():
        pred = p.argmax(1)
        per = [(pred[labels == c] == c).mean() for c in range(len(CLASSES))]
        print(f"| {name} | {(pred == labels).mean():.1%} | " + " | ".join(f"{v:.0%}" for v in per) + " |")
        if a.wrong:
            print("   wrong:", ", ".join(f"{n} -> {CLASSES[q]}" for n, t, q in zip(names, labels, pred) if t != q))


if __name__ == "__main__":
    main()
