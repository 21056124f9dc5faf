"""Fit each drawing-aware model's garment-or-not head (fmnist.garment_head) and store it in the checkpoint:

    .venv/bin/python tools/fit_garment_head.py --folder runs/open      # then tools/tune_garment_flag.py --score head

Garments: the first half of the validation split (the models never trained on it): its photos, a drawing
of each and a picture of each in another style. Not garments: fmnist.sketches.pictures' non-garments with
seed FIT_SEED (training used the run's seed; the threshold is tuned with another). The second half of the
validation split is left for tools/tune_garment_flag.py. Writes the head into <folder>/<arch>/'s metadata
(the weights are untouched) and prints how well it separates its own data.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np
import torch

from fmnist import garment_head
from fmnist.checkpoints import load_checkpoint, save_checkpoint
from fmnist.data import load_fashion_mnist, make_split, to_float
from fmnist.models import list_models
from fmnist.sketches import drawing_bank, outlier_bank, picture_bank
from fmnist.sketches.pictures import OUTLIERS_VERSION

FIT_SEED = 53
KEEP_FROM_FILE = ("format", "arch", "init_args", "classes")


def fitting_sets(meta: dict):
    """(garments, non-garments) as (N, 1, 28, 28) float tensors, and the split's seed."""
    seed = int((meta.get("study_model") or {}).get("seed", meta["config"]["seed"]))
    split = make_split(load_fashion_mnist(), int(meta["config"]["val_size"]), seed)
    half = len(split.val_images) // 2
    images, labels = split.val_images[:half], split.val_labels[:half]
    garments = torch.cat([images, drawing_bank(split.val_images, seed, labels=split.val_labels)[:half],
                          picture_bank(split.val_images, split.val_labels, seed)[:half]])
    return to_float(garments), to_float(outlier_bank(3 * half, FIT_SEED)), seed


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--folder", required=True, help="folder of <arch>/ checkpoints (rewritten in place)")
    p.add_argument("--l2", type=float, default=garment_head.L2,
                   help=f"the logistic regression's L2 weight (default {garment_head.L2:g}: fmnist.garment_head.L2 says why; "
                        "rounds before 2026-12-07 used 1e-2)")
    a = p.parse_args()
    torch.set_num_threads(min(2, torch.get_num_threads()))
    sets = None
    for arch in list_models():
        src = Path(a.folder) / arch
        if not (src / "model.safetensors").is_file():
            continue
        ckpt = load_checkpoint(src)
        if sets is None:
            sets = fitting_sets(ckpt.meta)
        pos, neg, _ = sets
        fp, fn = garment_head.features(ckpt.model, pos), garment_head.features(ckpt.model, neg)
        head = garment_head.fit(fp, fn, a.l2)
        acc = ((head.logit(fp) >= 0).mean() + (head.logit(fn) < 0).mean()) / 2
        meta = {k: v for k, v in ckpt.meta.items() if k not in KEEP_FROM_FILE}
        meta["garment_head"] = {**head.to_meta(), "fitted_on": (
            f"validation half 1 of seed {sets[2]}: {len(pos)} photos, drawings and pictures; "
            f"{len(neg)} non-garments (v{OUTLIERS_VERSION}) of fmnist.sketches.pictures seed {FIT_SEED}; L2 {a.l2:g}")}
        save_checkpoint(ckpt.model, src, **meta)
        print(f"{arch}: head fitted, balanced accuracy on its own data {acc:.3f} -> {src}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
