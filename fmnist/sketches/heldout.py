"""A second, held-out set of garment drawings: designs written separately from both the training drawings
and the main benchmark's designs (`designs.py`), and never used to design either. The main benchmark's
failures steer the training drawings' design; this set checks that what helps there is not tailored to
its 50 designs (it did pick between two training rounds once, so it is not untouched: quote both sets).

Three designs per class, as three other people might draw them, each rendered at three sizes, positions
and brush widths with round-capped strokes, not anti-aliased (as the sketchpad's composite is), on a
560 px white canvas (the sketchpad's size) and passed to the models as a sketchpad value: 90 drawings,
made in a second, without a browser (`bench/heldout_drawings.py` scores them).
"""
from __future__ import annotations

import numpy as np
import torch

from ..preprocess import prepare
from .strokes import Filled, render
from .strokes import arc as _arc


def arc(cx, cy, rx, ry, a0, a1, n=10):
    """strokes.arc with this set's default of 10 points."""
    return _arc(cx, cy, rx, ry, a0, a1, n)


# Each design: a list of strokes (strokes.py), a Filled one for a shape shaded in. Written freehand from how the garments look, not from the other sets' coordinates.
def _tee_boxy():
    return [[(0.3, 0.05), (0.05, 0.2), (0.12, 0.42), (0.25, 0.37), (0.25, 0.95), (0.75, 0.95), (0.75, 0.37),
             (0.88, 0.42), (0.95, 0.2), (0.7, 0.05)], arc(0.5, 0.05, 0.2, 0.1, 180, 0)]


def _tee_vneck():
    return [[(0.36, 0.08), (0.1, 0.16), (0.0, 0.36), (0.2, 0.44), (0.28, 0.33), (0.3, 0.97), (0.7, 0.97),
             (0.72, 0.33), (0.8, 0.44), (1.0, 0.36), (0.9, 0.16), (0.64, 0.08), (0.5, 0.3), (0.36, 0.08)]]


def _tank():
    return [[(0.3, 0.0), (0.3, 0.18), (0.18, 0.35), (0.2, 1.0), (0.8, 1.0), (0.82, 0.35), (0.7, 0.18), (0.7, 0.0)],
            arc(0.5, 0.0, 0.2, 0.25, 180, 0)]


def _trouser_straight():
    return [[(0.22, 0.0), (0.78, 0.0), (0.82, 1.0), (0.56, 1.0), (0.5, 0.3), (0.44, 1.0), (0.18, 1.0), (0.22, 0.0)]]


def _trouser_flared():
    return [[(0.3, 0.0), (0.7, 0.0), (0.72, 0.4), (0.9, 1.0), (0.58, 1.0), (0.5, 0.35), (0.42, 1.0), (0.1, 1.0),
             (0.28, 0.4), (0.3, 0.0)], [(0.3, 0.07), (0.7, 0.07)]]


def _trouser_jeans():
    return [[(0.2, 0.0), (0.8, 0.0), (0.78, 1.0), (0.55, 1.0), (0.5, 0.28)],
            [(0.5, 0.28), (0.45, 1.0), (0.22, 1.0), (0.2, 0.0)], [(0.2, 0.08), (0.8, 0.08)], [(0.5, 0.08), (0.5, 0.25)],
            arc(0.2, 0.08, 0.12, 0.12, 0, 90, 5), arc(0.8, 0.08, 0.12, 0.12, 180, 90, 5)]


def _long_top(angle, length, neck="round"):
    """A long-sleeved top as one closed stroke, its sleeves `angle` degrees out from hanging down."""
    a = np.radians(angle)
    d, p = np.array([-np.sin(a), np.cos(a)]), np.array([np.cos(a), np.sin(a)])  # along the left sleeve; across it
    shoulder, armpit = np.array([0.3, 0.08]), np.array([0.3, 0.3])
    cuff_out, cuff_in = shoulder + length * d, shoulder + length * d + 0.14 * p
    left = [tuple(shoulder), tuple(cuff_out), tuple(cuff_in), tuple(armpit)]  # shoulder -> cuff -> armpit
    right = [(1 - x, y) for x, y in reversed(left)]                           # armpit -> cuff -> shoulder
    neckline = (arc(0.5, 0.08, 0.14, 0.08, 180, 0, 7) if neck == "round"
                else [(0.38, 0.08), (0.5, 0.35), (0.62, 0.08)])
    return [left + [(0.32, 1.0), (0.68, 1.0)] + right + neckline[::-1] + [left[0]]]


def _sweater():
    strokes = _long_top(30, 0.8)
    return strokes + [[(0.32, 0.92), (0.68, 0.92)]]


def _hoodie():
    strokes = _long_top(20, 0.85)
    return strokes + [[(0.38, 0.6), (0.62, 0.6), (0.66, 0.8), (0.34, 0.8), (0.38, 0.6)]]


def _jumper_wide():
    strokes = _long_top(45, 0.7)
    return strokes


def _coat_long():
    strokes = _long_top(15, 0.75, neck="v")
    return strokes + [[(0.5, 0.35), (0.5, 1.0)], [(0.35, 0.7), (0.45, 0.7)], [(0.55, 0.7), (0.65, 0.7)]]


def _coat_belted():
    strokes = _long_top(25, 0.8, neck="v")
    return strokes + [[(0.5, 0.35), (0.5, 1.0)], [(0.31, 0.6), (0.69, 0.6)], [(0.44, 0.45), (0.44, 0.45)],
                      [(0.44, 0.75), (0.44, 0.75)]]


def _parka():
    strokes = _long_top(35, 0.8)
    return strokes + [[(0.5, 0.16), (0.5, 1.0)], [(0.36, 0.55), (0.46, 0.55), (0.46, 0.7), (0.36, 0.7)],
                      [(0.64, 0.55), (0.54, 0.55), (0.54, 0.7), (0.64, 0.7)]]


def _shirt_collar():
    strokes = _long_top(20, 0.8)
    return strokes + [[(0.38, 0.08), (0.44, 0.2), (0.5, 0.12), (0.56, 0.2), (0.62, 0.08)]] + [
        [(0.5, y), (0.5, y)] for y in (0.3, 0.45, 0.6, 0.75, 0.9)]


def _shirt_pocket():
    strokes = _long_top(30, 0.8)
    return strokes + [[(0.4, 0.08), (0.5, 0.2), (0.6, 0.08)], [(0.5, 0.2), (0.5, 1.0)],
                      [(0.56, 0.35), (0.65, 0.35), (0.65, 0.45), (0.56, 0.45)]]


def _shirt_short():
    return _tee_boxy()[:1] + [[(0.38, 0.05), (0.44, 0.18), (0.5, 0.1), (0.56, 0.18), (0.62, 0.05)]] + [
        [(0.5, y), (0.5, y)] for y in (0.3, 0.5, 0.7, 0.88)]


def _dress_aline():
    return [[(0.38, 0.0), (0.35, 0.15), (0.4, 0.35), (0.1, 1.0), (0.9, 1.0), (0.6, 0.35), (0.65, 0.15), (0.62, 0.0)],
            arc(0.5, 0.0, 0.12, 0.12, 180, 0, 7)]


def _dress_sleeves():
    return [[(0.38, 0.0), (0.2, 0.06), (0.12, 0.2), (0.28, 0.24), (0.32, 0.42), (0.15, 1.0), (0.85, 1.0), (0.68, 0.42),
             (0.72, 0.24), (0.88, 0.2), (0.8, 0.06), (0.62, 0.0)], arc(0.5, 0.0, 0.12, 0.1, 180, 0, 7),
            [(0.32, 0.42), (0.68, 0.42)]]


def _dress_straight():
    return [[(0.35, 0.0), (0.3, 0.2), (0.33, 0.45), (0.28, 1.0), (0.72, 1.0), (0.67, 0.45), (0.7, 0.2), (0.65, 0.0)],
            [(0.35, 0.0), (0.5, 0.12), (0.65, 0.0)]]


def _sandal_flat():
    return [[(0.0, 0.85), (0.05, 1.0), (1.0, 1.0), (1.0, 0.85), (0.0, 0.85)], [(0.15, 0.85), (0.35, 0.3), (0.55, 0.85)],
            [(0.45, 0.85), (0.7, 0.35), (0.9, 0.85)]]


def _sandal_heel():
    return [[(0.0, 0.7), (0.6, 0.8), (0.85, 0.5), (1.0, 0.55), (0.95, 1.0), (0.85, 1.0), (0.8, 0.65)],
            [(0.1, 0.72), (0.3, 0.45), (0.45, 0.76)], [(0.75, 0.55), (0.8, 0.2), (0.95, 0.5)]]


def _sandal_thong():
    return [[(0.0, 0.8), (1.0, 0.8), (1.0, 0.95), (0.0, 0.95), (0.0, 0.8)], [(0.2, 0.8), (0.45, 0.45), (0.7, 0.8)],
            [(0.45, 0.45), (0.45, 0.8)]]


def _sneaker_low():
    return [[(0.0, 0.55), (0.0, 0.95), (1.0, 0.95), (1.0, 0.75), (0.7, 0.6), (0.5, 0.35), (0.3, 0.3), (0.2, 0.55),
             (0.0, 0.55)], [(0.0, 0.85), (1.0, 0.85)], [(0.45, 0.4), (0.55, 0.48)], [(0.52, 0.48), (0.62, 0.56)]]


def _sneaker_runner():
    return [[(0.0, 0.45), (0.05, 0.95), (0.95, 0.95), (1.0, 0.8), (0.75, 0.6), (0.55, 0.3), (0.35, 0.2), (0.15, 0.3),
             (0.0, 0.45)], [(0.3, 0.6), (0.5, 0.45), (0.7, 0.7)]]


def _sneaker_slipon():
    return [[(0.0, 0.6), (0.0, 0.95), (1.0, 0.95), (0.95, 0.75), (0.6, 0.55), (0.25, 0.5), (0.0, 0.6)],
            [(0.0, 0.88), (1.0, 0.88)]]


def _bag_tote():
    return [[(0.1, 0.35), (0.9, 0.35), (1.0, 1.0), (0.0, 1.0), (0.1, 0.35)], arc(0.5, 0.35, 0.25, 0.3, 180, 360)]


def _bag_satchel():
    return [[(0.0, 0.3), (1.0, 0.3), (1.0, 1.0), (0.0, 1.0), (0.0, 0.3)], [(0.0, 0.3), (0.5, 0.6), (1.0, 0.3)],
            [(0.35, 0.3), (0.35, 0.1), (0.65, 0.1), (0.65, 0.3)]]


def _bag_clutch():
    return [Filled([(0.0, 0.2), (1.0, 0.2), (1.0, 0.9), (0.0, 0.9)]), [(0.25, 0.2), (0.5, 0.0), (0.75, 0.2)]]


def _boot_chelsea():
    return [[(0.1, 0.0), (0.45, 0.0), (0.45, 0.55), (0.95, 0.75), (1.0, 1.0), (0.05, 1.0), (0.1, 0.0)],
            [(0.05, 0.9), (1.0, 0.9)]]


def _boot_laced():
    return [[(0.15, 0.0), (0.5, 0.0), (0.55, 0.5), (0.95, 0.7), (1.0, 1.0), (0.1, 1.0), (0.15, 0.0)],
            [(0.45, 0.15), (0.55, 0.2)], [(0.47, 0.3), (0.57, 0.35)], [(0.1, 0.88), (1.0, 0.88)]]


def _boot_heel():
    return [[(0.2, 0.0), (0.5, 0.0), (0.5, 0.5), (0.95, 0.8), (0.95, 0.95), (0.35, 0.95), (0.3, 1.0), (0.15, 1.0),
             (0.2, 0.0)]]


DESIGNS = {0: (_tee_boxy, _tee_vneck, _tank), 1: (_trouser_straight, _trouser_flared, _trouser_jeans),
           2: (_sweater, _hoodie, _jumper_wide), 3: (_dress_aline, _dress_sleeves, _dress_straight),
           4: (_coat_long, _coat_belted, _parka), 5: (_sandal_flat, _sandal_heel, _sandal_thong),
           6: (_shirt_collar, _shirt_pocket, _shirt_short), 7: (_sneaker_low, _sneaker_runner, _sneaker_slipon),
           8: (_bag_tote, _bag_satchel, _bag_clutch), 9: (_boot_chelsea, _boot_laced, _boot_heel)}
ASPECT = {0: 1.0, 1: 0.6, 2: 1.0, 3: 0.7, 4: 0.8, 5: 1.8, 6: 1.0, 7: 2.2, 8: 1.3, 9: 1.0}  # width / height
OWN_ASPECT = {"_tank": 0.6}
LAYOUTS = ((380, 280, 280, 18), (260, 300, 260, 30), (440, 270, 300, 12))  # (height px, centre x, centre y, brush)


def drawings() -> tuple[torch.Tensor, np.ndarray, list[str]]:
    """The 90 held-out drawings as the models see them (N, 1, 28, 28), their labels, their names."""
    xs, labels, names = [], [], []
    for label, designs in DESIGNS.items():
        for fn in designs:
            for k, layout in enumerate(LAYOUTS):
                rgba = render(fn(), OWN_ASPECT.get(fn.__name__, ASPECT[label]), layout)
                xs.append(prepare({"composite": rgba, "layers": [], "background": None}).tensor)
                labels.append(label)
                names.append(f"{fn.__name__.strip('_')}-{k}")
    return torch.cat(xs), np.array(labels), names
