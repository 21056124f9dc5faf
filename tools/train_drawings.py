"""Make the drawing-aware models: fine-tune each shipped study model with drawings mixed into its batches,
calibrate it, and install it as checkpoints/drawings/<arch>/ (the Sketch tab's and /predict's models).

    .venv/bin/python tools/train_drawings.py                  # all three, as shipped (12 / 12 / 18 min on 2 cores)
    .venv/bin/python tools/train_drawings.py --archs sa --minutes 5 --out runs/drawings   # without installing

The recipe (stored in each checkpoint's config and "recipe"): the study-recipe checkpoint, then a warm
restart of `minutes` minutes (12 for simple and sa; 18 for gated, which is ~1.5x slower per step and
gained most from the extra time) with a `drawings` share of each batch shown as drawings (fmnist.sketches)
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
sys.path.insert(0, str(ROOT))

from fmnist.calibrate import calibrate  # noqa: E402
from fmnist.checkpoints import CHECKPOINT_DIR, load_checkpoint, save_result  # noqa: E402
from fmnist.data import load_fashion_mnist, make_split  # noqa: E402
from fmnist.sketches import VERSION, drawing_bank  # noqa: E402
from fmnist.training import TrainConfig, fit  # noqa: E402

MINUTES = {"simple": 12.0, "sa": 12.0, "gated": 18.0}  # the shipped runs' lengths
RECIPE = ("the study-recipe model, then {minutes:g} min ({epochs} epochs) with {drawings:.0%} of each batch drawings (fmnist.sketches v{version}: "
          "silhouettes, outlines, contours, edges and scribbles, with class details; some tops and trousers in the "
          "shapes people draw), "
          "horizontal flips only (upright: departs from the study's vertical flips and ±90° rotations), "
          "AdamW lr {lr:g} cosine; temperature fitted on validation photos and drawings")


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--archs", nargs="+", default=["simple", "sa", "gated"])
    p.add_argument("--minutes", type=float, default=None, help="length of each run (default: as shipped, "
                   + ", ".join(f"{k} {v:g}" for k, v in MINUTES.items()) + " min)")
    p.add_argument("--drawings", type=float, default=0.6, help="fraction of each batch shown as drawings")
    p.add_argument("--outliers", type=float, default=0.1, help="fraction of each batch as non-garment doodles")
    p.add_argument("--lr", type=float, default=1e-4)
    p.add_argument("--out", default=str(CHECKPOINT_DIR / "drawings"), help="folder of <arch>/ checkpoints")
    a = p.parse_args()
    ds = load_fashion_mnist()
    for arch in a.archs:
        minutes = a.minutes or MINUTES.get(arch, 12.0)
        base = load_checkpoint(arch)
        bc = base.meta["config"]
        cfg = TrainConfig(arch=arch, resume=str(base.path), restart_schedule=True, epochs=len(base.meta["history"]) + 1000,
                          patience=1000, lr=a.lr, schedule="cosine", batch_size=bc["batch_size"],
                          weight_decay=bc["weight_decay"], label_smoothing=bc["label_smoothing"], ema=bc["ema"],
                          widths=tuple(bc["widths"]), dropout=bc["dropout"], augment=("hflip",), seed=bc["seed"],
                          val_size=bc["val_size"], drawings=a.drawings, outliers=a.outliers, time_budget_s=minutes * 60)
        split = make_split(ds, cfg.val_size, cfg.seed)
        for ev in fit(cfg, split):
            if ev["event"] == "epoch":
                print(f"{arch} epoch {ev['epoch']}: val {ev['val_acc']:.4f} ({ev['elapsed_s']:.0f} s)", flush=True)
        result = ev["result"]
        cal = calibrate(result.model, split.val_images, split.val_labels, drawing_bank(split.val_images, cfg.seed, labels=split.val_labels))
        epochs = len(result.history) - len(base.meta["history"])
        recipe = RECIPE.format(minutes=minutes, epochs=epochs, drawings=a.drawings, lr=a.lr, version=VERSION)
        if a.outliers:
            recipe += f"; {a.outliers:.0%} of each batch non-garment doodles trained towards no class (outlier exposure)"
        path = save_result(result, Path(a.out) / arch, calibration=cal, recipe=recipe,
                           study_model={"test_accuracy": base.meta["test_metrics"]["accuracy"]})
        print(f"{arch}: test {result.test_metrics['accuracy']:.4f} (study model {base.meta['test_metrics']['accuracy']:.4f}), "
              f"temperature {cal['temperature']:.3f}, val NLL {cal['nll_before']:.3f} -> {cal['nll_after']:.3f} -> {path}",
              flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
