"""The drawing benchmark's designs: garments as people draw them with a mouse, and things that are not.

Written by hand, separately from the training drawings (`styles.py`, `details.py`, `people.py` never
import this module; a test checks it), so the benchmark measures how well the models generalise to
drawings rather than to the augmentation's own output. Each design is a list of strokes (`strokes.py`);
placements (size, position, aspect, brush, hand wobble) are applied by `layouts()`. The benchmark's
drawings were drawn from these in the real sketchpad (`tools/capture_drawings.py`) and are stored in
tests/data/drawings. Shoes point left, as in the dataset's photos, except where a variant says otherwise
(people draw both ways).
"""
from __future__ import annotations

import math

import numpy as np

from ..data import CLASSES
from .strokes import closed, dots, zigzag
from .strokes import arc as _arc


def arc(cx, cy, rx, ry, a0, a1, n=12):
    """strokes.arc with the benchmark's default of 12 points."""
    return _arc(cx, cy, rx, ry, a0, a1, n)


# --- tops -----------------------------------------------------------------------------------------
def tshirt_body(sleeve=0.22, neck="round"):
    s = sleeve
    neck_pts = arc(0.5, 0.02, 0.13, 0.1, 180, 0, 8)[1:-1] if neck == "round" else [(0.44, 0.04), (0.5, 0.16), (0.56, 0.04)]
    return closed((0.37, 0.02), *neck_pts, (0.63, 0.02), (0.95, 0.12), (1.0, 0.12 + s + 0.06),
                  (0.8, 0.12 + s + 0.1), (0.8, 1.0), (0.2, 1.0), (0.2, 0.12 + s + 0.1), (0.0, 0.12 + s + 0.06),
                  (0.05, 0.12))


def tshirt(v):
    if v == 0:
        return [tshirt_body()]
    if v == 1:  # V-neck, with the hem drawn as a second stroke
        return [tshirt_body(neck="v"), [(0.22, 0.92), (0.78, 0.92)]]
    if v == 2:  # open outline: sleeves and body as separate strokes with gaps
        return [[(0.37, 0.02), (0.05, 0.13), (0.0, 0.38), (0.19, 0.42)],
                [(0.63, 0.02), (0.95, 0.13), (1.0, 0.38), (0.81, 0.42)],
                [(0.21, 0.44), (0.21, 1.0), (0.79, 1.0), (0.79, 0.44)],
                arc(0.5, 0.02, 0.13, 0.1, 180, 0, 8)]
    if v == 3:  # outline shaded in
        return [tshirt_body(), zigzag(0.24, 0.76, 0.15, 0.95, 9)]
    # a tank top: straps, no sleeves
    return [closed((0.25, 0.0), (0.35, 0.0), *arc(0.5, 0.05, 0.15, 0.2, 180, 0, 8)[1:-1], (0.65, 0.0),
                   (0.75, 0.0), (0.78, 0.3), (0.85, 1.0), (0.15, 1.0), (0.22, 0.3))]


def long_sleeve_top(collar=False, cuffs=False, hem=False, open_front=False, buttons=False, pocket=False,
                    sleeve_drop=0.78):
    """A pullover / shirt / coat silhouette: long sleeves hanging down beside the body."""
    d = sleeve_drop
    body = [closed((0.36, 0.0), *arc(0.5, 0.0, 0.14, 0.09, 180, 0, 8)[1:-1], (0.64, 0.0), (0.92, 0.08),
                   (1.0, d), (0.86, d), (0.8, 0.3), (0.8, 1.0), (0.2, 1.0), (0.2, 0.3), (0.14, d), (0.0, d),
                   (0.08, 0.08))]
    extra = []
    if collar:
        extra += [[(0.36, 0.0), (0.44, 0.14), (0.5, 0.08), (0.56, 0.14), (0.64, 0.0)]]
    if cuffs:
        extra += [[(0.01, d - 0.06), (0.15, d - 0.06)], [(0.85, d - 0.06), (0.99, d - 0.06)]]
    if hem:
        extra += [[(0.2, 0.92), (0.8, 0.92)]]
    if open_front:
        extra += [[(0.5, 0.09), (0.5, 1.0)]]
    if buttons:
        extra += dots([0.5] * 5, [0.25, 0.4, 0.55, 0.7, 0.85])
    if pocket:
        extra += [closed((0.58, 0.22), (0.72, 0.22), (0.72, 0.34), (0.58, 0.34))]
    return body + extra


def pullover(v):
    if v == 0:
        return long_sleeve_top()
    if v == 1:
        return long_sleeve_top(cuffs=True, hem=True)
    if v == 2:  # crew neck drawn as a second arc, ribbed hem
        return long_sleeve_top(hem=True) + [arc(0.5, 0.02, 0.14, 0.14, 180, 0, 8)]
    if v == 3:  # open outline, in four strokes
        return [[(0.36, 0.0), (0.08, 0.08), (0.0, 0.78), (0.14, 0.78), (0.2, 0.32)],
                [(0.64, 0.0), (0.92, 0.08), (1.0, 0.78), (0.86, 0.78), (0.8, 0.32)],
                [(0.2, 0.36), (0.2, 1.0), (0.8, 1.0), (0.8, 0.36)], arc(0.5, 0.0, 0.14, 0.09, 180, 0, 8)]
    # a chunky jumper with a pattern band
    return long_sleeve_top(cuffs=True, hem=True, sleeve_drop=0.85) + [zigzag(0.22, 0.78, 0.45, 0.55, 6)]


def shirt(v):
    if v == 0:
        return long_sleeve_top(collar=True, buttons=True)
    if v == 1:
        return long_sleeve_top(collar=True, open_front=True, cuffs=True)
    if v == 2:
        return long_sleeve_top(collar=True, buttons=True, pocket=True)
    if v == 3:  # a polo / short-sleeved shirt: collar and buttons make it a shirt
        return [tshirt_body(sleeve=0.18, neck="v"), [(0.37, 0.02), (0.45, 0.14), (0.5, 0.09), (0.55, 0.14), (0.63, 0.02)]] \
            + dots([0.5] * 3, [0.25, 0.45, 0.65])
    return long_sleeve_top(collar=True, open_front=True, buttons=True, sleeve_drop=0.7)


def coat(v):
    lapels = [[(0.38, 0.0), (0.5, 0.35), (0.62, 0.0)]]
    if v == 0:
        return long_sleeve_top(open_front=True, sleeve_drop=0.9) + lapels
    if v == 1:  # buttons and pockets
        return long_sleeve_top(open_front=True, sleeve_drop=0.9) + dots([0.44] * 4, [0.4, 0.55, 0.7, 0.85]) \
            + [[(0.24, 0.7), (0.38, 0.7)], [(0.62, 0.7), (0.76, 0.7)]]
    if v == 2:  # a zip up the middle, with teeth, and a hood outline
        return long_sleeve_top(sleeve_drop=0.9) + [[(0.5, 0.08), (0.5, 1.0)]] \
            + [[(0.47, y), (0.53, y)] for y in np.linspace(0.2, 0.9, 6)] + [arc(0.5, 0.02, 0.18, 0.16, 180, 360, 10)]
    if v == 3:  # long coat flaring out, belt
        return [closed((0.36, 0.0), (0.64, 0.0), (0.92, 0.08), (1.0, 0.8), (0.86, 0.8), (0.8, 0.3), (0.86, 1.0),
                       (0.14, 1.0), (0.2, 0.3), (0.14, 0.8), (0.0, 0.8), (0.08, 0.08)),
                [(0.5, 0.0), (0.5, 1.0)], [(0.2, 0.5), (0.8, 0.5)]] + lapels
    # open outline with a front line
    return [[(0.36, 0.0), (0.08, 0.08), (0.0, 0.9), (0.14, 0.9), (0.2, 0.3), (0.2, 1.0), (0.48, 1.0)],
            [(0.64, 0.0), (0.92, 0.08), (1.0, 0.9), (0.86, 0.9), (0.8, 0.3), (0.8, 1.0), (0.52, 1.0)],
            [(0.5, 0.1), (0.5, 0.95)]] + lapels


def dress(v):
    if v == 0:  # A-line with straps
        return [closed((0.3, 0.0), (0.36, 0.0), (0.4, 0.12), (0.6, 0.12), (0.64, 0.0), (0.7, 0.0), (0.7, 0.35),
                       (0.95, 1.0), (0.05, 1.0), (0.3, 0.35))]
    if v == 1:  # with a waist line and short sleeves
        return [closed((0.35, 0.0), (0.5, 0.08), (0.65, 0.0), (0.82, 0.06), (0.78, 0.18), (0.68, 0.16),
                       (0.66, 0.38), (0.9, 1.0), (0.1, 1.0), (0.34, 0.38), (0.32, 0.16), (0.22, 0.18),
                       (0.18, 0.06)), [(0.34, 0.38), (0.66, 0.38)]]
    if v == 2:  # a slim sheath dress
        return [closed((0.32, 0.0), (0.42, 0.05), (0.58, 0.05), (0.68, 0.0), (0.7, 0.3), (0.64, 0.45),
                       (0.72, 1.0), (0.28, 1.0), (0.36, 0.45), (0.3, 0.3))]
    if v == 3:  # open outline: bodice and skirt as separate strokes
        return [[(0.3, 0.0), (0.33, 0.35), (0.05, 1.0), (0.45, 1.0)], [(0.7, 0.0), (0.67, 0.35), (0.95, 1.0), (0.55, 1.0)],
                [(0.3, 0.0), (0.5, 0.1), (0.7, 0.0)]]
    # shaded in
    return dress(0) + [zigzag(0.34, 0.66, 0.18, 0.45, 5), zigzag(0.15, 0.85, 0.5, 0.95, 6)]


def trouser(v):
    legs = closed((0.15, 0.0), (0.85, 0.0), (1.0, 1.0), (0.6, 1.0), (0.5, 0.3), (0.4, 1.0), (0.0, 1.0))
    if v == 0:  # the outline of two legs
        return [legs]
    if v == 1:  # "∩" with a middle line
        return [[(0.0, 1.0), (0.12, 0.0), (0.88, 0.0), (1.0, 1.0)], [(0.5, 0.25), (0.45, 1.0)],
                [(0.5, 0.25), (0.55, 1.0)]]
    if v == 2:  # with a waistband and a fly
        return [legs, [(0.14, 0.08), (0.86, 0.08)], [(0.5, 0.08), (0.5, 0.25)]]
    if v == 3:  # narrow jeans with pockets
        return [closed((0.25, 0.0), (0.75, 0.0), (0.78, 1.0), (0.55, 1.0), (0.5, 0.3), (0.45, 1.0), (0.22, 1.0)),
                arc(0.25, 0.0, 0.1, 0.1, 0, 90, 5), arc(0.75, 0.0, 0.1, 0.1, 180, 90, 5)]
    # two leg strokes side by side, shaded
    return [legs, zigzag(0.08, 0.42, 0.1, 0.95, 8), zigzag(0.58, 0.92, 0.1, 0.95, 8)]


# --- shoes and bags (toes to the left) -------------------------------------------------------------
def sneaker(v):
    low = closed((0.0, 0.62), (0.08, 0.45), (0.35, 0.35), (0.5, 0.2), (0.85, 0.12), (1.0, 0.2), (1.0, 0.85),
                 (0.0, 0.85))
    if v == 0:
        return [low]
    if v == 1:  # with laces
        return [low] + [[(0.4 + 0.08 * i, 0.33 - 0.04 * i), (0.48 + 0.08 * i, 0.42 - 0.04 * i)] for i in range(4)]
    if v == 2:  # with a sole line and a stripe
        return [low, [(0.0, 0.72), (1.0, 0.72)], [(0.35, 0.6), (0.6, 0.4), (0.8, 0.55)]]
    if v == 3:  # pointing right, open at the heel
        return [[(1.0, 0.62), (0.92, 0.45), (0.65, 0.35), (0.5, 0.2), (0.15, 0.12), (0.0, 0.2), (0.0, 0.85),
                 (1.0, 0.85), (1.0, 0.62)], [(0.0, 0.72), (1.0, 0.72)]]
    return [low, zigzag(0.1, 0.9, 0.4, 0.8, 7)]


def ankle_boot(v):
    boot = closed((0.0, 0.72), (0.1, 0.55), (0.45, 0.5), (0.55, 0.0), (0.95, 0.0), (1.0, 1.0), (0.0, 1.0))
    if v == 0:
        return [boot]
    if v == 1:  # with a heel
        return [closed((0.0, 0.72), (0.1, 0.55), (0.45, 0.5), (0.55, 0.0), (0.95, 0.0), (1.0, 1.0), (0.75, 1.0),
                       (0.75, 0.9), (0.0, 0.9))]
    if v == 2:  # laces up the front
        return [boot] + [[(0.5, y), (0.6, y - 0.05)] for y in (0.15, 0.28, 0.41)]
    if v == 3:  # sole line and a zip on the side
        return [boot, [(0.0, 0.9), (1.0, 0.9)], [(0.8, 0.05), (0.8, 0.8)]]
    return [boot, zigzag(0.55, 0.9, 0.05, 0.95, 8), zigzag(0.08, 0.55, 0.6, 0.95, 3)]


def sandal(v):
    sole = [(0.0, 0.85), (1.0, 0.85)]
    if v == 0:  # a sole and three straps
        return [sole, arc(0.2, 0.85, 0.12, 0.2, 180, 360, 7), arc(0.5, 0.85, 0.12, 0.25, 180, 360, 7),
                arc(0.82, 0.85, 0.12, 0.3, 180, 360, 7)]
    if v == 1:  # a heeled sandal with an ankle strap
        return [[(0.0, 0.75), (0.6, 0.6), (0.85, 0.45), (1.0, 0.45)], [(0.85, 0.45), (0.85, 1.0)],
                arc(0.15, 0.72, 0.12, 0.18, 180, 360, 7), [(0.8, 0.45), (0.85, 0.1), (0.95, 0.1), (1.0, 0.45)]]
    if v == 2:  # a sole outline with crossing straps
        return [closed((0.0, 0.8), (1.0, 0.8), (1.0, 0.9), (0.0, 0.9)), [(0.15, 0.8), (0.55, 0.3), (0.8, 0.8)],
                [(0.35, 0.8), (0.6, 0.35), (0.95, 0.8)]]
    if v == 3:  # a strappy gladiator: sole and several thin straps up to the ankle
        return [sole] + [[(0.3 + 0.08 * i, 0.85), (0.5 + 0.06 * i, 0.2 + 0.1 * i)] for i in range(4)] \
            + [[(0.45, 0.25 + 0.12 * i), (0.85, 0.25 + 0.12 * i)] for i in range(3)]
    # a flip-flop seen from the side
    return [[(0.0, 0.9), (0.1, 0.8), (0.9, 0.8), (1.0, 0.9), (0.0, 0.9)], [(0.3, 0.8), (0.5, 0.5), (0.75, 0.8)]]


def bag(v):
    if v == 0:  # a rectangle with a handle
        return [closed((0.0, 0.35), (1.0, 0.35), (1.0, 1.0), (0.0, 1.0)), arc(0.5, 0.35, 0.25, 0.33, 180, 360, 10)]
    if v == 1:  # a tote: trapezoid and two handles
        return [closed((0.1, 0.35), (0.9, 0.35), (1.0, 1.0), (0.0, 1.0)), arc(0.35, 0.35, 0.12, 0.3, 180, 360, 8),
                arc(0.65, 0.35, 0.12, 0.3, 180, 360, 8)]
    if v == 2:  # a satchel with a flap
        return [closed((0.0, 0.3), (1.0, 0.3), (1.0, 1.0), (0.0, 1.0)), [(0.0, 0.3), (0.5, 0.6), (1.0, 0.3)],
                arc(0.5, 0.3, 0.15, 0.25, 180, 360, 8)]
    if v == 3:  # a shoulder bag with a long strap
        return [closed((0.1, 0.55), (0.9, 0.55), (0.9, 1.0), (0.1, 1.0)), arc(0.5, 0.55, 0.4, 0.55, 180, 360, 12)]
    return [closed((0.0, 0.4), (1.0, 0.4), (1.0, 1.0), (0.0, 1.0)), zigzag(0.05, 0.95, 0.45, 0.95, 7),
            arc(0.5, 0.4, 0.2, 0.3, 180, 360, 8)]


GARMENTS = {0: tshirt, 1: trouser, 2: pullover, 3: dress, 4: coat, 5: sandal, 6: shirt, 7: sneaker, 8: bag,
            9: ankle_boot}
ASPECT = {0: 1.0, 1: 0.75, 2: 1.0, 3: 0.8, 4: 0.85, 5: 1.7, 6: 1.0, 7: 2.0, 8: 1.2, 9: 1.1}  # width / height
VARIANTS = 5
# What each variant adds to the bare shape, per class (variants 0-4): "outline" (closed, nothing inside),
# "open" (gaps in the outline), "details" (inner lines: collars, openings, buttons, laces, soles...),
# "filled" (shaded in). The training drawings get class-typical details from a hand-written prior
# (fmnist.sketches.garment_details), so the benchmark reports the "details" drawings apart.
KINDS = {0: ("outline", "details", "open", "filled", "outline"),
         1: ("outline", "open", "details", "details", "filled"),
         2: ("outline", "details", "details", "open", "details"),
         3: ("outline", "details", "outline", "open", "filled"),
         4: ("details", "details", "details", "details", "details"),
         5: ("outline", "outline", "outline", "outline", "outline"),
         6: ("details", "details", "details", "details", "details"),
         7: ("outline", "details", "details", "details", "filled"),
         8: ("outline", "outline", "details", "outline", "filled"),
         9: ("outline", "outline", "details", "details", "filled")}
BRUSHES = (12, 22, 36, 16, 30)  # the sketchpad's brush sizes used (its default is 22)


# --- things that are not garments ---------------------------------------------------------------
def _spiral():
    t = np.linspace(0, 6 * math.pi, 60)
    return [[(0.5 + 0.5 * a / t[-1] * math.cos(a), 0.5 + 0.5 * a / t[-1] * math.sin(a)) for a in t]]


NOT_GARMENTS = {
    "spiral": _spiral,
    "circle": lambda: [arc(0.5, 0.5, 0.5, 0.5, 0, 360, 24)],
    "smiley": lambda: [arc(0.5, 0.5, 0.5, 0.5, 0, 360, 24), arc(0.5, 0.55, 0.28, 0.22, 20, 160, 8)]
    + dots([0.35, 0.65], [0.35, 0.35], 0.04),
    "house": lambda: [closed((0.1, 0.45), (0.9, 0.45), (0.9, 1.0), (0.1, 1.0)), [(0.0, 0.5), (0.5, 0.0), (1.0, 0.5)],
                      closed((0.42, 1.0), (0.42, 0.7), (0.58, 0.7), (0.58, 1.0))],
    "star": lambda: [closed(*[(0.5 + 0.5 * math.cos(math.radians(-90 + 144 * i)),
                               0.5 + 0.5 * math.sin(math.radians(-90 + 144 * i))) for i in range(5)])],
    "letter A": lambda: [[(0.0, 1.0), (0.5, 0.0), (1.0, 1.0)], [(0.25, 0.55), (0.75, 0.55)]],
    "letter E": lambda: [[(0.9, 0.0), (0.1, 0.0), (0.1, 1.0), (0.9, 1.0)], [(0.1, 0.5), (0.7, 0.5)]],
    "digit 2": lambda: [arc(0.5, 0.28, 0.4, 0.28, 190, 380, 10) + [(0.0, 1.0), (1.0, 1.0)]],
    "digit 8": lambda: [arc(0.5, 0.25, 0.3, 0.25, 90, 450, 14), arc(0.5, 0.72, 0.4, 0.28, 270, 630, 14)],
    "scribble": lambda: [[(0.0, 0.2), (0.9, 0.1), (0.1, 0.5), (1.0, 0.4), (0.2, 0.9), (0.8, 1.0), (0.3, 0.3)]],
    "heart": lambda: [arc(0.28, 0.3, 0.25, 0.25, 150, 360, 8) + arc(0.72, 0.3, 0.25, 0.25, 180, 390, 8)
                      + [(0.5, 1.0), (0.06, 0.45)]],
    "tree": lambda: [arc(0.5, 0.35, 0.45, 0.35, 0, 360, 20), [(0.42, 0.7), (0.42, 1.0), (0.58, 1.0), (0.58, 0.7)]],
    "sun": lambda: [arc(0.5, 0.5, 0.25, 0.25, 0, 360, 16)]
    + [[(0.5 + 0.32 * math.cos(a), 0.5 + 0.32 * math.sin(a)), (0.5 + 0.5 * math.cos(a), 0.5 + 0.5 * math.sin(a))]
       for a in np.linspace(0, 2 * math.pi, 9)[:-1]],
    "fish": lambda: [arc(0.4, 0.5, 0.4, 0.25, 0, 360, 18), [(0.8, 0.5), (1.0, 0.25), (1.0, 0.75), (0.8, 0.5)]],
}


def layouts(seed: int = 0, per_design: int = 4):
    """Every benchmark drawing as a dict: name, label (class index, or -1 for a non-garment), strokes in
    canvas fractions, brush size; sizes, positions, aspects and the hand's wobble vary by placement."""
    rng = np.random.default_rng(seed)
    out = []

    def place(strokes, aspect, k):
        height = rng.uniform(0.45, 0.85)
        w = height * aspect * rng.uniform(0.85, 1.15)
        h = height
        if w > 0.9:
            h, w = h * 0.9 / w, 0.9
        x0 = rng.uniform(0.04, 0.96 - w)
        y0 = rng.uniform(0.04, 0.96 - h)
        wobble = rng.uniform(0.0, 0.012)
        placed = []
        for s in strokes:
            pts = np.asarray(s, float)
            pts = np.stack([x0 + pts[:, 0] * w, y0 + pts[:, 1] * h], 1)
            pts += rng.normal(0, wobble, pts.shape)
            placed.append(np.clip(pts, 0.01, 0.99).round(4).tolist())
        return placed, BRUSHES[(k + len(out)) % len(BRUSHES)]

    for label, make in GARMENTS.items():
        for v in range(VARIANTS):
            for k in range(per_design):
                strokes, brush = place(make(v), ASPECT[label], k)
                out.append({"name": f"{label}-{v}-{k}", "label": label, "class": CLASSES[label], "variant": v,
                            "strokes": strokes, "brush": brush})
    for name, make in NOT_GARMENTS.items():
        for k in range(2):
            strokes, brush = place(make(), 1.0, k)
            out.append({"name": f"x-{name.replace(' ', '_')}-{k}", "label": -1, "class": name, "variant": 0,
                        "strokes": strokes, "brush": brush})
    return out
