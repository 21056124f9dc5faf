"""Make the drawing-aware models: fine-tune each shipped study model with drawings mixed into its batches,
calibrate it, and install it as checkpoints/drawings/<arch>/ (the Sketch tab's and /predict's models).

    .venv/bin/python tools/train_drawings.py                  # all three, as shipped
    .venv/bin/python tools/train_drawings.py --archs sa --epochs 5 --out runs/drawings    # without installing
    .venv/bin/python tools/train_drawings.py --archs sa --minutes 5 --out runs/drawings   # by the clock
    .venv/bin/python tools/train_drawings.py --archs simple --base drawings --epochs 4 --seed 1 --lr 5e-5 --out runs/more
                                                              # more epochs on the shipped drawing models

The recipe (stored in each checkpoint's config and "recipe"): the study-recipe checkpoint, then a warm
restart of `EPOCHS[arch]` epochs (the length is counted in epochs, not minutes: this machine's speed
varies up to 2x between days, so "12 minutes" is not one recipe) with a `drawings` share of each batch shown as drawings (fmnist.sketches)
and an `outliers` share as non-garment doodles, AdamW at a cosine-decayed lr and **horizontal flips
only**: an upright phase, which departs from the study's vertical flips and +-90 degree rotations
(people draw garments upright, and the test images are upright). The study comparison keeps the models
trained with the study's augmentations throughout. Then a temperature is fitted on the validation
photos and a drawing of each (fmnist.calibrate).
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent

from fmnist.calibrate import calibrate
from fmnist.checkpoints import CHECKPOINT_DIR, load_checkpoint, save_result
from fmnist.data import load_fashion_mnist, make_split
from fmnist.sketches import VERSION, drawing_bank
from fmnist.sketches.pictures import OUTLIERS_VERSION, PICTURES_VERSION
from fmnist.training import TrainConfig, fit

EPOCHS = {"simple": 11, "sa": 11, "gated": 24}  # the shipped runs' lengths
RECIPE = ("the study-recipe model, then {length} with {drawings:.0%} of each batch drawings (fmnist.sketches v{version}: "
          "silhouettes, outlines, contours, edges and scribbles, with class details; some tops and trousers in the "
          "shapes people draw), "
          "horizontal flips only (upright: departs from the study's vertical flips and ±90° rotations), "
          "AdamW lr {lr:g} cosine; temperature fitted on validation photos and drawings")


def more_recipe(base_recipe: str, length: str, a, seed: int, split_seed: int) -> str:
    """The recipe of a round on top of a drawing-aware model: the base's, then what this round changed."""
    more = (f"{base_recipe}; then {length} more with {a.drawings:.0%} drawings (fmnist.sketches v{VERSION}), "
            + (f"{a.pictures:.0%} pictures in other styles (fmnist.sketches.pictures v{PICTURES_VERSION}), " if a.pictures else "")
            + f"{a.outliers:.0%} non-garments per batch (outlier exposure, outliers v{OUTLIERS_VERSION}), augmentations {a.augment} (upright), "
            f"AdamW lr {a.lr:g} cosine")
    if seed != split_seed:
        more += f", batches, drawings and doodles of seed {seed} (validation split of seed {split_seed})"
    return more + "; temperature fitted again"


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--archs", nargs="+", default=["simple", "sa", "gated"])
    p.add_argument("--epochs", type=int, default=None, help="length of each run in epochs (default: as shipped, "
                   + ", ".join(f"{k} {v}" for k, v in EPOCHS.items()) + ")")
    p.add_argument("--minutes", type=float, default=None, help="length of each run in minutes instead of epochs")
    p.add_argument("--drawings", type=float, default=0.6, help="fraction of each batch shown as drawings")
    p.add_argument("--pictures", type=float, default=0.0,
                   help="fraction of each batch as pictures in other styles (fmnist.sketches.pictures)")
    p.add_argument("--outliers", type=float, default=0.1,
                   help="fraction of each batch as non-garments (made-up objects, doodles, textures)")
    p.add_argument("--augment", default="hflip", help="augmentation ops, comma-separated (default hflip; "
                   "translate2 and erase add translation by up to 2 px and random erasing)")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--out", default=str(CHECKPOINT_DIR / "drawings"), help="folder of <arch>/ checkpoints")
    p.add_argument("--base", choices=["study", "drawings"], default="study",
                   help="start from the study-recipe model (default) or from the shipped drawing-aware one")
    p.add_argument("--seed", type=int, default=None,
                   help="seed of this round's batches, drawings and doodles (default: the base model's); "
                        "the validation split stays the study model's")
    a = p.parse_args()
    ds = load_fashion_mnist()
    for arch in a.archs:
        base = load_checkpoint(arch if a.base == "study" else f"drawings/{arch}")
        bc = base.meta["config"]
        study = base.meta.get("study_model") or {"test_accuracy": base.meta["test_metrics"]["accuracy"]}
        split_seed = int(study.get("seed", bc["seed"]))  # the study model's split, whatever this round's seed
        seed = bc["seed"] if a.seed is None else a.seed
        planned = 1000 if a.minutes else (a.epochs or EPOCHS.get(arch, 11))
        cfg = TrainConfig(arch=arch, resume=str(base.path), restart_schedule=True, best_of_this_run=True, epochs=len(base.meta["history"]) + planned,
                          patience=1000, lr=a.lr, schedule="cosine", batch_size=bc["batch_size"],
                          weight_decay=bc["weight_decay"], label_smoothing=bc["label_smoothing"], ema=bc["ema"],
                          widths=tuple(bc["widths"]), dropout=bc["dropout"], augment=tuple(a.augment.split(",")), seed=seed,
                          val_size=bc["val_size"], drawings=a.drawings, pictures=a.pictures, outliers=a.outliers,
                          time_budget_s=a.minutes * 60 if a.minutes else None)
        split = make_split(ds, cfg.val_size, split_seed)
        for ev in fit(cfg, split):
            if ev["event"] == "epoch":
                print(f"{arch} epoch {ev['epoch']}: val {ev['val_acc']:.4f} ({ev['elapsed_s']:.0f} s)", flush=True)
        result = ev["result"]
        cal = calibrate(result.model, split.val_images, split.val_labels, drawing_bank(split.val_images, split_seed, labels=split.val_labels))
        epochs = len(result.history) - len(base.meta["history"])
        length = f"{a.minutes:g} min ({epochs} epochs)" if a.minutes else f"{epochs} epochs"
        if a.base == "study":
            recipe = RECIPE.format(length=length, drawings=a.drawings, lr=a.lr, version=VERSION)
            if a.outliers:
                recipe += f"; {a.outliers:.0%} of each batch non-garment doodles trained towards no class (outlier exposure)"
            if seed != split_seed:
                recipe += f"; batches, drawings and doodles with seed {seed} (validation split of seed {split_seed})"
        else:
            recipe = more_recipe(base.meta.get("recipe", "the drawing-aware model"), length, a, seed, split_seed)
        path = save_result(result, Path(a.out) / arch, calibration=cal, recipe=recipe,
                           study_model={"test_accuracy": float(study["test_accuracy"]), "seed": split_seed})
        print(f"{arch}: test {result.test_metrics['accuracy']:.4f} (study model {float(study['test_accuracy']):.4f}), "
              f"{epochs} epochs in {(result.train_time_s - float(base.meta.get('train_time_s') or 0.0)) / 60:.1f} min, temperature {cal['temperature']:.3f}, val NLL {cal['nll_before']:.3f} -> {cal['nll_after']:.3f} -> {path}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
