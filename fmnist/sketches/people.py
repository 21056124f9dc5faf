"""The shapes people draw, rather than the shapes photographed: tops with their sleeves held out, and
trousers in any proportions."""
from __future__ import annotations

import cv2
import numpy as np

from .strokes import SCALE

# A photographed top lies flat with its sleeves against its body: its mask is nearly a rectangle, and a
# drawing traced from it has no gap between sleeve and body. People draw a top as a body with two sleeves
# held out from it (short for a T-shirt, to the hem or beyond for the rest), and a trouser as two legs in
# any proportions. `person_shape` makes such a shape; its proportions are random within wide ranges.
PERSON_SHAPE_P = {0: 0.3, 1: 0.3, 2: 0.45, 4: 0.45, 6: 0.45}  # how often a class is drawn from person_shape
PERSON_CLASS_DETAILS_P = {2: 0.5, 4: 0.95, 6: 0.95}  # how often such a shape gets its details: a coat or a shirt
#   drawn without them is a long-sleeved top like any other, and a plain one is most often a pullover


def _fill(shape: tuple, polygon: list) -> np.ndarray:
    out = np.zeros(shape, np.uint8)
    cv2.fillPoly(out, [np.asarray(polygon, np.float32).round().astype(np.int32)], 1, cv2.LINE_AA)
    return out


def _top_shape(label: int, rng: np.random.Generator) -> tuple[list, list, list]:
    """A top as people draw it, in units of its body's height: (outline, body, cuffs), points (x, y) with
    x = 0 on the centre line and y = 0 at the neck, y down."""
    u = rng.uniform
    s = u(0.26, 0.42)                  # shoulder half-width
    hem = s * u(0.85, 1.15)            # the hem's half-width
    neck_w = s * u(0.3, 0.5)
    v_neck = label == 4 or (label in (0, 6) and rng.random() < 0.2)
    depth = u(0.15, 0.45) if v_neck else u(0.03, 0.12)
    slope = u(0.0, 0.07)               # shoulders fall from the neck
    if label == 0:                     # short sleeves held well out
        angle, length, width = u(30, 80), u(0.15, 0.45), u(0.16, 0.3)
    else:                              # long sleeves, from nearly hanging to held out
        angle, length, width = u(8, 55), u(0.6, 1.05), u(0.12, 0.22)
    armpit_y = u(0.18, 0.35)
    sides, cuffs = [], []
    for sign in (-1, 1):               # left sleeve, then right, each slightly different
        a = np.radians(angle + rng.normal(0, 4))
        d = np.array([sign * np.sin(a), np.cos(a)])           # along the sleeve
        across = np.array([-sign * np.cos(a), np.sin(a)])     # across it, towards the body
        shoulder = np.array([sign * s, slope])
        out = shoulder + length * u(0.93, 1.07) * d
        inner = out + width * u(0.65, 1.0) * across
        sides.append((shoulder, out, inner, np.array([sign * s * u(0.9, 1.0), armpit_y])))
        back = out - 0.08 * d
        cuffs.append([tuple(back), tuple(back + width * 0.8 * across)])
    (ls, lo, li, la), (rs, ro, ri, ra) = sides
    neckline = [(neck_w * np.cos(t), depth * np.sin(t)) for t in np.linspace(0, np.pi, 9)] if not v_neck else [
        (neck_w, 0.0), (0.0, depth), (-neck_w, 0.0)]                                          # right to left
    outline = [*neckline, tuple(ls), tuple(lo), tuple(li), tuple(la), (-hem, 1.0), (hem, 1.0), tuple(ra),
               tuple(ri), tuple(ro), tuple(rs)]
    body = [*neckline, tuple(ls), tuple(la), (-hem, 1.0), (hem, 1.0), tuple(ra), tuple(rs)]
    return outline, body, cuffs


def _trouser_shape(rng: np.random.Generator) -> list:
    """Two legs joined at the waist, in units of the trouser's length."""
    u = rng.uniform
    waist = u(0.16, 0.42)
    hip = waist * u(1.0, 1.12)
    outer = waist * u(0.85, 1.4)
    gap = u(0.015, 0.12)
    outer = max(outer, gap + u(0.09, 0.2))
    crotch = u(0.2, 0.42)
    return [(-waist, 0.0), (waist, 0.0), (hip, 0.15), (outer, 1.0), (gap, 1.0), (0.0, crotch), (-gap, 1.0),
            (-outer, 1.0), (-hip, 0.15)]


def person_shape(label: int, shape: tuple, rng: np.random.Generator):
    """A garment's shape as people draw it, on a canvas of `shape` (the drawing's, garment ~224 px tall):
    (mask, body, cuffs): 0/1 masks of the whole shape and of a top's body (None for trousers), and a top's
    cuff lines in canvas pixels (empty for trousers)."""
    if label == 1:
        outline, body, cuffs = _trouser_shape(rng), None, []
    else:
        outline, body, cuffs = _top_shape(label, rng)
    t = np.radians(rng.uniform(-5, 5))  # a hand's tilt and shear
    tilt = np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]]) @ np.array([[1, rng.uniform(-0.08, 0.08)], [0, 1]])
    pts = np.asarray(outline, np.float64) @ tilt.T
    lo, hi = pts.min(0), pts.max(0)
    size = 28 * SCALE * rng.uniform(0.85, 1.0) / max(hi - lo)   # the long side ~ the dataset's frame
    centre = np.array([shape[1], shape[0]]) / 2 - (lo + hi) / 2 * size

    def place(points):
        return [tuple(tilt @ np.asarray(p) * size + centre) for p in points]

    mask = _fill(shape, place(outline))
    return (mask, None if body is None else _fill(shape, place(body)) & mask,
            [place(c) for c in cuffs])


