"""How hard is the Challenge? The drawing benchmark's 200 garments replayed stroke by stroke, and by tenths
of their ink, to the drawing-aware models: how much of a drawing each model needs before it recognises it
as the game does (its top class is the asked one at fmnist.challenge.CONFIDENT or more, calibrated).

    .venv/bin/python bench/challenge_replay.py

The strokes are the benchmark's own (fmnist.sketches.designs.layouts(), the paths drawn with the mouse for
tests/data/drawings), drawn here at the sketchpad's 560 px with round ends and joins, the first k of them
(or the first tenths of their whole path, in drawing order). Prints, per model: the median share of the
strokes and of the ink it needed, and how often it never recognised the whole drawing.
"""
from __future__ import annotations

import argparse
import json

import cv2
import numpy as np
import torch

from fmnist.challenge import CONFIDENT
from fmnist.data import CLASSES
from fmnist.inference import ModelZoo
from fmnist.preprocess import ImageError, prepare
from fmnist.sketches.designs import layouts

SIDE = 560


def draw(strokes: list, brush: int) -> np.ndarray:
    """Strokes in canvas fractions as the sketchpad's composite: RGBA, black ink on white, round ends."""
    canvas = np.full((SIDE, SIDE), 255, np.uint8)
    for s in strokes:
        pts = (np.asarray(s, np.float64) * SIDE).round().astype(np.int32)
        if len(pts) > 1:
            cv2.polylines(canvas, [pts], False, 0, brush, cv2.LINE_AA)
        for x, y in pts:
            cv2.circle(canvas, (int(x), int(y)), brush // 2, 0, -1, cv2.LINE_AA)
    return np.dstack([canvas] * 3 + [np.full_like(canvas, 255)])


def ink_prefix(strokes: list, share: float) -> list:
    """The first `share` of the drawing's whole path (its strokes in order), cut inside a stroke."""
    lengths = [np.linalg.norm(np.diff(np.asarray(s), axis=0), axis=1) for s in strokes]
    budget, out = share * sum(float(seg.sum()) for seg in lengths), []
    for s, seg in zip(strokes, lengths):
        if budget <= 0:
            break
        s = np.asarray(s, np.float64)
        if seg.sum() <= budget:
            out.append(s.tolist())
            budget -= float(seg.sum())
            continue
        cum = np.concatenate([[0], np.cumsum(seg)])
        i = min(int(np.searchsorted(cum, budget)) - 1, len(seg) - 1)
        t = (budget - cum[i]) / max(seg[i], 1e-9)
        out.append(s[:i + 1].tolist() + [(s[i] + t * (s[i + 1] - s[i])).tolist()])
        budget = 0
    return out


def first_recognised(probs: np.ndarray, label: int) -> int | None:
    """The index of the first prefix the model recognises (None: never)."""
    hits = np.flatnonzero((probs.argmax(1) == label) & (probs[:, label] >= CONFIDENT))
    return int(hits[0]) if len(hits) else None


def main(argv=None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--tenths", type=int, default=10, help="steps of the ink replay")
    a = ap.parse_args(argv)
    torch.set_num_threads(min(2, torch.get_num_threads()))
    zoo = ModelZoo.for_drawings()
    garments = [d for d in layouts() if d["label"] >= 0]
    shares = [(k + 1) / a.tenths for k in range(a.tenths)]
    by_stroke = {n: [] for n in zoo.models}
    by_ink = {n: [] for n in zoo.models}
    for d in garments:
        prefixes = {"stroke": [d["strokes"][:k] for k in range(1, len(d["strokes"]) + 1)],
                    "ink": [ink_prefix(d["strokes"], s) for s in shares]}
        for kind, parts in prefixes.items():
            xs = []
            for part in parts:
                try:
                    xs.append(prepare({"composite": draw(part, d["brush"]), "layers": [], "background": None}).tensor)
                except ImageError:
                    xs.append(torch.zeros(1, 1, 28, 28))
            probs = zoo.probabilities(torch.cat(xs))
            for name, p in probs.items():
                k = first_recognised(p, d["label"])
                share = None if k is None else ((k + 1) / len(parts))
                (by_stroke if kind == "stroke" else by_ink)[name].append(share)
    print(f"{len(garments)} benchmark garments replayed; recognised = top class is the asked one at "
          f"{CONFIDENT:.0%} or more\n")
    print("| model | median share of the strokes needed | median share of the ink needed | never recognised |")
    print("|---|---|---|---|")
    out = {}
    for name in zoo.models:
        strokes = [s for s in by_stroke[name] if s is not None]
        ink = [s for s in by_ink[name] if s is not None]
        never = sum(s is None for s in by_stroke[name]) / len(garments)
        out[name] = {"strokes": float(np.median(strokes)), "ink": float(np.median(ink)), "never": never}
        print(f"| {name} | {out[name]['strokes']:.0%} | {out[name]['ink']:.0%} | {never:.1%} |")
    per_class = {CLASSES[c]: float(np.median([s for d, s in zip(garments, by_ink["gated"]) if d["label"] == c
                                              and s is not None] or [np.nan])) for c in range(10)}
    print("\ngated, median share of the ink by class: " + ", ".join(f"{c} {v:.0%}" for c, v in per_class.items()))
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
