"""Choose the app's "does not look like a garment" thresholds (fmnist.inference.GARMENT_THRESHOLD for the
garment-or-not heads, GARMENT_CONFIDENCE for models without one) on held-out data of the training side,
not on any benchmark:

    .venv/bin/python tools/tune_garment_flag.py                 # the drawing-aware models
    .venv/bin/python tools/tune_garment_flag.py --folder runs/open --score energy

Garments: the second half of the validation split's photos, a drawing of each and a picture of each in
another style (fmnist.sketches: the models never trained on the validation split; the first half fitted
the garment-or-not heads). Not garments: the training side's
non-garments (made-up objects in every picture style, mouse doodles, textures: fmnist.sketches.pictures)
with a seed no training used. The rule is the app's (`looks_like_garments`): the score, combined over the
models, reaches the threshold. Prints, per threshold, how many of each are flagged, and picks the highest
threshold that flags at most --max-garments of the validation drawings and pictures and --max-photos of
the photos. The benchmarks (bench/open_set.py, bench/drawings.py) are the test of that choice.
"""
from __future__ import annotations

import argparse
import sys

import numpy as np
import torch

from fmnist.data import load_fashion_mnist, make_split, to_float
from fmnist.inference import DRAWING_CHECKPOINTS, GARMENT_SCORES, ModelZoo, garment_score
from fmnist.sketches import drawing_bank, outlier_bank, picture_bank

HELD_OUT_SEED = 97  # training's non-garments use the run's seed (0 and 1 for the shipped models)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--folder", default=str(DRAWING_CHECKPOINTS), help="folder of <arch>/ checkpoints")
    p.add_argument("--score", choices=GARMENT_SCORES, default="msp")
    p.add_argument("--max-garments", type=float, default=0.05,
                   help="the most of the validation drawings (and of the pictures) the threshold may flag")
    p.add_argument("--max-photos", type=float, default=0.01, help="the most of the validation photos it may flag")
    p.add_argument("--outliers", type=int, default=3000)
    a = p.parse_args()
    torch.set_num_threads(min(2, torch.get_num_threads()))
    zoo = ModelZoo(checkpoint_dir=a.folder)
    if zoo.unavailable:
        print("unavailable:", zoo.unavailable)
    meta = next(iter(zoo.meta.values()))
    seed = int((meta.get("study_model") or {}).get("seed", meta["config"]["seed"]))  # the study model's split
    split = make_split(load_fashion_mnist(), int(meta["config"]["val_size"]), seed)
    half = len(split.val_images) // 2  # the first half fitted the garment-or-not heads (tools/fit_garment_head.py)
    sets = {"validation photos": split.val_images[half:],
            "validation drawings": drawing_bank(split.val_images, seed, labels=split.val_labels)[half:],
            "validation pictures": picture_bank(split.val_images, split.val_labels, seed)[half:],
            "held-out non-garments": outlier_bank(a.outliers, HELD_OUT_SEED)}
    scores = {}
    for k, v in sets.items():
        logits, heads = zoo.outputs(to_float(v))
        scores[k] = garment_score(zoo.calibrated(logits), logits, zoo.temperature, a.score, heads)
    lo, hi = np.percentile(np.concatenate(list(scores.values())), [1, 99])
    thresholds = np.unique(np.round(np.linspace(lo, hi, 200), 3))
    print(f"score: {a.score}")
    print("| threshold | " + " | ".join(f"{k} flagged" for k in sets) + " |")
    print("|---|" + "---|" * len(sets))
    rates = {t: {k: float((s < t).mean()) for k, s in scores.items()} for t in thresholds}
    for t in thresholds[::10]:
        print(f"| {t:.3f} | " + " | ".join(f"{r:.1%}" for r in rates[t].values()) + " |")
    ok = [t for t in thresholds if rates[t]["validation drawings"] <= a.max_garments
          and rates[t]["validation pictures"] <= a.max_garments and rates[t]["validation photos"] <= a.max_photos]
    if not ok:
        print("no threshold meets the bounds on garments")
        return 1
    best = max(ok)
    print(f"\nchosen: GARMENT_THRESHOLD = {best:.3f} for {a.score!r} ("
          + ", ".join(f"{k} {r:.1%}" for k, r in rates[best].items()) + " flagged)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
