"""Drawing benchmark: how often each model names a drawn garment, drawn with the mouse on the app's
sketchpad, given as the sketchpad's value and uploaded as files; and how often the app says "this does
not look like a garment", for garments and for things that are not.

    .venv/bin/python bench/drawings.py                   # the models the Sketch tab uses
    .venv/bin/python bench/drawings.py --models study    # the study-recipe models (checkpoints/<arch>)
    .venv/bin/python bench/drawings.py --fill            # with closed outlines filled first

The drawings (tests/data/drawings/, made by tools/capture_drawings.py from the hand-designed paths in
fmnist/sketches/designs.py) are read from disk, so this runs in seconds. Upload forms: the sketchpad's
composite as a PNG (black on white), as a PNG with transparency (ink in the alpha), as JPEG (quality 80)
and white on a dark grey background.
"""
from __future__ import annotations

import argparse
import io
import json
import sys
from collections import Counter
from pathlib import Path

import numpy as np
import torch
from PIL import Image

from fmnist.data import CLASSES
from fmnist.inference import DRAWING_CHECKPOINTS, ModelZoo, looks_like_garments
from fmnist.preprocess import ImageError, prepare
from fmnist.sketches.designs import KINDS as KINDS_OF

ROOT = Path(__file__).resolve().parent.parent

DRAWINGS = ROOT / "tests" / "data" / "drawings"


def load_drawings(folder: Path = DRAWINGS) -> list[dict]:
    """The stored drawings with their index entries, each with its RGBA array as 'rgba'."""
    index = json.loads((folder / "index.json").read_text())
    for d in index:
        d["rgba"] = np.asarray(Image.open(folder / f"{d['name']}.png").convert("RGBA"))
    return index


def on_white(rgba: np.ndarray) -> np.ndarray:
    """The drawing's RGBA value over white, as a grey uint8 image."""
    return np.asarray(Image.alpha_composite(Image.new("RGBA", rgba.shape[1::-1], "white"),
                                            Image.fromarray(rgba)).convert("L"))


def upload_forms(rgba: np.ndarray) -> dict[str, bytes]:
    """The drawing as files a visitor might upload."""
    grey = on_white(rgba)
    forms = {}
    buf = io.BytesIO()
    Image.fromarray(grey).save(buf, "PNG")
    forms["png-white"] = buf.getvalue()
    clear = np.zeros(grey.shape + (4,), np.uint8)
    clear[..., 3] = 255 - grey
    buf = io.BytesIO()
    Image.fromarray(clear).save(buf, "PNG")
    forms["png-transparent"] = buf.getvalue()
    buf = io.BytesIO()
    Image.fromarray(grey).convert("RGB").save(buf, "JPEG", quality=80)
    forms["jpeg"] = buf.getvalue()
    buf = io.BytesIO()
    Image.fromarray((40 + (255 - grey.astype(np.float32)) * 215 / 255).astype(np.uint8)).save(buf, "PNG")
    forms["white-on-dark"] = buf.getvalue()
    return forms


def prepared_inputs(drawings: list[dict], fill: bool = False) -> dict[str, torch.Tensor]:
    """{path: (N, 1, 28, 28)} for the sketchpad path and every upload form, in the drawings' order."""
    paths: dict[str, list[torch.Tensor]] = {}
    blank = torch.zeros(1, 1, 28, 28)
    for d in drawings:
        sources = {"sketchpad": {"composite": d["rgba"], "layers": [], "background": None}, **upload_forms(d["rgba"])}
        for path, src in sources.items():
            try:
                x = prepare(src, fill_outlines=fill).tensor
            except ImageError:
                x = blank
            paths.setdefault(path, []).append(x)
    return {p: torch.cat(xs) for p, xs in paths.items()}


def run(zoo: ModelZoo, drawings: list[dict], fill: bool = False) -> dict:
    garments = [i for i, d in enumerate(drawings) if d["label"] >= 0]
    others = [i for i, d in enumerate(drawings) if d["label"] < 0]
    labels = np.array([drawings[i]["label"] for i in garments])
    kind = [KINDS_OF[drawings[i]["label"]][drawings[i]["variant"]] for i in garments]
    out = {"drawings": len(garments), "not_garments": len(others), "kind_counts": dict(Counter(kind)),
           "accuracy": {}, "per_class": {}, "per_kind": {}, "confusions": {}, "flagged_garments": {},
           "flagged_not_garments": {}}
    for path, x in prepared_inputs(drawings, fill).items():
        logits, heads = zoo.outputs(x)
        probs = zoo.calibrated(logits)
        flags = ~looks_like_garments(probs, heads=heads)  # where the app says "does not look like a garment"
        out["flagged_garments"][path] = float(flags[garments].mean())
        out["flagged_not_garments"][path] = float(flags[others].mean()) if others else None
        for i in others:
            out.setdefault("flagged_by_kind", {}).setdefault(drawings[i]["class"], []).append(bool(flags[i]))
        for name, p in probs.items():
            pred = p[garments].argmax(1)
            out["accuracy"].setdefault(name, {})[path] = float((pred == labels).mean())
            per = out["per_class"].setdefault(name, {})
            for c in range(len(CLASSES)):
                per.setdefault(CLASSES[c], []).append(float((pred[labels == c] == c).mean()))
            kinds = out["per_kind"].setdefault(name, {})
            for k in ("outline", "open", "filled", "details"):
                sel = np.array(kind) == k
                kinds.setdefault(k, []).append(float((pred[sel] == labels[sel]).mean()))
            conf = out["confusions"].setdefault(name, Counter())
            conf.update(f"{CLASSES[t]} -> {CLASSES[q]}" for t, q in zip(labels, pred) if t != q)
    out["flagged_by_kind"] = {k: float(np.mean(v)) for k, v in out.get("flagged_by_kind", {}).items()}
    for name in out["per_class"]:
        out["per_class"][name] = {c: float(np.mean(v)) for c, v in out["per_class"][name].items()}
        out["per_kind"][name] = {k: float(np.mean(v)) for k, v in out["per_kind"][name].items()}
        out["confusions"][name] = dict(out["confusions"][name].most_common(6))
    return out


def report(res: dict) -> str:
    paths = list(next(iter(res["accuracy"].values())))
    lines = [f"{res['drawings']} garment drawings, {res['not_garments']} non-garment drawings", "",
             "| model | " + " | ".join(paths) + " |", "|---|" + "---|" * len(paths)]
    for name, acc in res["accuracy"].items():
        lines.append(f"| {name} | " + " | ".join(f"{acc[p]:.1%}" for p in paths) + " |")
    lines += ["", "Per class (mean over the five paths):", "",
              "| model | " + " | ".join(CLASSES) + " |", "|---|" + "---|" * len(CLASSES)]
    for name, per in res["per_class"].items():
        lines.append(f"| {name} | " + " | ".join(f"{per[c]:.0%}" for c in CLASSES) + " |")
    if "per_kind" in res:
        counts = res.get("kind_counts", {})
        kinds = list(next(iter(res["per_kind"].values())))
        lines += ["", "By kind of drawing (mean over the five paths; \"details\" drawings carry inner lines of the kind "
                  "the training drawings' hand-written prior adds):", "",
                  "| model | " + " | ".join(f"{k} ({counts[k]})" if k in counts else k for k in kinds) + " |",
                  "|---|" + "---|" * len(kinds)]
        for name, per in res["per_kind"].items():
            lines.append(f"| {name} | " + " | ".join(f"{per[k]:.1%}" for k in kinds) + " |")
    lines += ["", "Most frequent confusions (true -> said, counts over the five paths):"]
    for name, conf in res["confusions"].items():
        lines.append(f"- {name}: " + ", ".join(f"{k} ({v})" for k, v in conf.items()))
    lines += ["", "\"Does not look like a garment\": | " + " | ".join(paths) + " |", "|---|" + "---|" * len(paths),
              "| garments flagged | " + " | ".join(f"{res['flagged_garments'][p]:.1%}" for p in paths) + " |"]
    if res["not_garments"]:
        lines.append("| non-garments flagged | " + " | ".join(f"{res['flagged_not_garments'][p]:.1%}" for p in paths) + " |")
        lines += ["", "Non-garments flagged, by kind: " + ", ".join(f"{k} {v:.0%}" for k, v in res["flagged_by_kind"].items())]
    return "\n".join(lines)


def main(argv=None):
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--models", default="drawings", help="drawings (the Sketch tab's), study, or a folder")
    ap.add_argument("--fill", action="store_true", help="fill closed outlines before classifying")
    ap.add_argument("--json", default=None, help="also write the figures to this file")
    ap.add_argument("--asset", action="store_true",
                    help="run the study-recipe and the drawing-aware models and write fmnist/assets/drawing_benchmark.json "
                         "(the Metrics tab's table)")
    a = ap.parse_args(argv)
    torch.set_num_threads(min(2, torch.get_num_threads()))
    if a.asset:
        return write_asset()
    folder = {"drawings": DRAWING_CHECKPOINTS, "study": None}.get(a.models, a.models)
    zoo = ModelZoo(checkpoint_dir=folder)
    if zoo.unavailable:
        print("unavailable:", zoo.unavailable)
    if not zoo.models:
        sys.exit(f"no model could be loaded from {a.models}")
    res = run(zoo, load_drawings(), a.fill)
    print(f"models: {a.models}{' (outlines filled)' if a.fill else ''}")
    print(report(res))
    if a.json:
        Path(a.json).write_text(json.dumps(res, indent=1))


def write_asset(path: Path = ROOT / "fmnist" / "assets" / "drawing_benchmark.json") -> None:
    import datetime
    import subprocess

    drawings = load_drawings()
    out = {"made_with": "python bench/drawings.py --asset", "date": datetime.date.today().isoformat(),
           # "-dirty" when the models or code measured are not yet committed (HEAD alone would not hold them)
           "commit": subprocess.run(["git", "describe", "--always", "--dirty", "--abbrev=7"], cwd=ROOT,
                                    capture_output=True, text=True).stdout.strip()}
    for key, folder, fill in (("study", None, False), ("study_filled", None, True), ("drawings", DRAWING_CHECKPOINTS, False)):
        out[key] = run(ModelZoo(checkpoint_dir=folder), drawings, fill)
        print(f"models: {key}\n{report(out[key])}\n")
    path.write_text(json.dumps(out, indent=1))
    print(summary(out))
    print(f"wrote {path}")


def summary(asset: dict) -> str:
    """The README's before/after table: the study-recipe models as the app used them before (closed
    outlines filled on the sketchpad only), and the drawing-aware ones."""
    def up(res, name):
        return np.mean([v for k, v in res["accuracy"][name].items() if k != "sketchpad"])

    s, f, d = asset["study"], asset["study_filled"], asset["drawings"]
    lines = ["| model | sketchpad: before | after | uploaded files (4 forms): before | after |", "|---|---|---|---|---|"]
    for name in d["accuracy"]:
        lines.append(f"| {name} | {f['accuracy'][name]['sketchpad']:.1%} | **{d['accuracy'][name]['sketchpad']:.1%}** | "
                     f"{up(s, name):.1%} | **{up(d, name):.1%}** |")
    flag_g = np.mean(list(d["flagged_garments"].values()))
    flag_n = np.mean(list(d["flagged_not_garments"].values()))
    lines += ["", f"\"Does not look like a garment\": {flag_g:.1%} of the {d['drawings']} garment drawings, "
              f"{flag_n:.1%} of the {d['not_garments']} non-garment drawings (mean over the five paths)."]
    return "\n".join(lines)


if __name__ == "__main__":
    main()
