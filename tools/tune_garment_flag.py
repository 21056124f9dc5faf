"""Choose the app's "does not look like a garment" threshold (fmnist.inference.GARMENT_CONFIDENCE) on
held-out data, not on the drawing benchmark:

    .venv/bin/python tools/tune_garment_flag.py                 # the drawing-aware models
    .venv/bin/python tools/tune_garment_flag.py --folder runs/drawings

Garments: the validation split's photos and a drawing of each (fmnist.sketches, the bank the models'
temperatures were fitted on; the models never trained on the validation split). Not garments: doodles
from fmnist.sketches.doodle with a seed the training never used (scribbles, loops, spirals, polygons,
letters, digits). The rule is the app's (`looks_like_garments`): averaged over the models, one
class's calibrated probability reaches the threshold. Prints, per threshold, how many of each are
flagged, and picks the highest threshold that flags at most --max-garments of the validation drawings.
The benchmark's own rates (bench/drawings.py) are the test of that choice.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

ROOT = Path(__file__).resolve().parent.parent

from fmnist.data import load_fashion_mnist, make_split, to_float
from fmnist.inference import DRAWING_CHECKPOINTS, ModelZoo, looks_like_garments
from fmnist.sketches import doodle_bank, drawing_bank

HELD_OUT_DOODLE_SEED = 97  # training's doodles use the run's seed (0 for the shipped models)


def flagged(probs: dict[str, np.ndarray], threshold: float) -> np.ndarray:
    """Where the app would say "does not look like a garment" at this threshold."""
    return ~looks_like_garments(probs, threshold)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--folder", default=str(DRAWING_CHECKPOINTS), help="folder of <arch>/ checkpoints")
    p.add_argument("--max-garments", type=float, default=0.05,
                   help="the most of the validation drawings the chosen threshold may flag")
    p.add_argument("--doodles", type=int, default=2000)
    a = p.parse_args()
    torch.set_num_threads(min(2, torch.get_num_threads()))
    zoo = ModelZoo(checkpoint_dir=a.folder)
    if zoo.unavailable:
        print("unavailable:", zoo.unavailable)
    meta = next(iter(zoo.meta.values()))
    seed = int((meta.get("study_model") or {}).get("seed", meta["config"]["seed"]))  # the study model's split
    split = make_split(load_fashion_mnist(), int(meta["config"]["val_size"]), seed)
    sets = {"validation photos": split.val_images,
            "validation drawings": drawing_bank(split.val_images, seed, labels=split.val_labels),
            "held-out doodles": doodle_bank(a.doodles, HELD_OUT_DOODLE_SEED)}
    probs = {k: zoo.probabilities(to_float(v)) for k, v in sets.items()}
    thresholds = np.round(np.arange(0.3, 0.951, 0.01), 2)
    print("| threshold | " + " | ".join(f"{k} flagged" for k in sets) + " |")
    print("|---|" + "---|" * len(sets))
    rates = {}
    for t in thresholds:
        rates[t] = {k: float(flagged(p, t).mean()) for k, p in probs.items()}
        if round(t * 100) % 5 == 0:
            print(f"| {t:.2f} | " + " | ".join(f"{r:.1%}" for r in rates[t].values()) + " |")
    ok = [t for t in thresholds if rates[t]["validation drawings"] <= a.max_garments]
    if not ok:
        print(f"no threshold flags at most {a.max_garments:.0%} of the validation drawings")
        return 1
    best = max(ok)
    print(f"\nchosen: GARMENT_CONFIDENCE = {best:.2f} (flags {rates[best]['validation drawings']:.1%} of the validation "
          f"drawings, {rates[best]['validation photos']:.1%} of the photos, {rates[best]['held-out doodles']:.1%} of "
          f"the held-out doodles)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
