"""The static figures in docs/, drawn by matplotlib from what the repository ships (no data, no training):

    .venv/bin/python tools/figures.py        # writes docs/figures/*.png

- per_class_f1.png: per-class F1 on the Fashion-MNIST test set, the study-recipe models beside the
  study's published figures (checkpoints/<arch>/ metadata, fmnist.reference.STUDY);
- drawing_benchmark.png: the drawing-aware models' accuracy per class on the 200 mouse-drawn garments
  (fmnist/assets/drawing_benchmark.json, written by bench/drawings.py --asset);
- colour_bar.png: the maps' colour scale (matplotlib's inferno), as the app shows it.
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
from matplotlib.figure import Figure
from PIL import Image

from fmnist.checkpoints import CHECKPOINT_DIR, read_metadata, resolve_path
from fmnist.data import CLASSES
from fmnist.explain import colour_bar
from fmnist.models import list_models
from fmnist.reference import STUDY, STUDY_MODELS

ROOT = Path(__file__).resolve().parent.parent
COLOURS = {"simple": "#4c72b0", "sa": "#dd8452", "gated": "#55a868"}


def _bars(ax, series: dict[str, list[float]], hatched: set[str] = frozenset()) -> None:
    """Grouped bars, one group per class, one bar per series."""
    width = 0.8 / len(series)
    x = np.arange(len(CLASSES))
    for i, (name, values) in enumerate(series.items()):
        arch = name.split()[0]
        ax.bar(x + (i - (len(series) - 1) / 2) * width, values, width, label=name, color=COLOURS.get(arch, "grey"),
               alpha=0.45 if name in hatched else 1.0, hatch="//" if name in hatched else None, edgecolor="white")
    ax.set_xticks(x, CLASSES, rotation=30, ha="right")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(ncol=3, fontsize=8, loc="lower left")


def per_class_f1(out: Path) -> None:
    series = {}
    for arch in list_models():
        meta = read_metadata(resolve_path(CHECKPOINT_DIR / arch))
        series[f"{arch} (ours)"] = [meta["test_metrics"]["per_class"][c]["f1"] for c in CLASSES]
        if arch in STUDY_MODELS:
            series[f"{arch} (study)"] = [STUDY[arch][c]["f1"] for c in CLASSES]
    fig = Figure(figsize=(10, 4.2), dpi=110, layout="constrained")
    ax = fig.add_subplot()
    _bars(ax, series, hatched={n for n in series if n.endswith("(study)")})
    ax.set_ylim(0.55, 1.0)
    ax.set_ylabel("F1 on the 10,000 test images")
    ax.set_title("Per-class F1: the study-recipe models (solid) beside the study's (hatched)")
    fig.savefig(out)


def drawing_benchmark(out: Path, asset: Path = ROOT / "fmnist" / "assets" / "drawing_benchmark.json") -> None:
    bench = json.loads(asset.read_text())
    res = bench["drawings"]
    series = {name: [res["per_class"][name][c] for c in CLASSES] for name in res["per_class"]}
    fig = Figure(figsize=(10, 4.2), dpi=110, layout="constrained")
    ax = fig.add_subplot()
    _bars(ax, series)
    ax.axhline(0.9, color="black", lw=0.8, ls="--")
    ax.set_ylim(0, 1.05)
    ax.set_ylabel("named right (20 drawings a class)")
    ax.set_title(f"Drawing-aware models on {res['drawings']} mouse-drawn garments "
                 f"({bench.get('date', '?')}, commit {bench.get('commit', '?')}); dashed: the 90% target")
    fig.savefig(out)


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--out", default=str(ROOT / "docs" / "figures"))
    a = ap.parse_args(argv)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    per_class_f1(out / "per_class_f1.png")
    drawing_benchmark(out / "drawing_benchmark.png")
    Image.fromarray(colour_bar()).save(out / "colour_bar.png")
    print(f"figures written to {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
