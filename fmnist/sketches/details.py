"""The details people draw to say which garment it is, as a table of strokes per class.

Once the shading is gone, a coat, a shirt and a pullover have the same outline; what tells them apart in
a drawing is what people add: a coat's opening, lapels and pockets, a shirt's collar and buttons, a
pullover's ribbed hem and cuffs, a trouser's waistband and fly, a shoe's sole and laces. A 28x28 photo
shows these faintly or not at all, so `garment_details` draws them on the garment's own mask, placed from
the mask's shape (its box, centre line, neckline), each with a probability per class: a prior about how
people draw garments, written by hand. The drawing benchmark's designs carry the same kind of knowledge
(written separately, in `designs.py`), so its figures are reported for plain outlines apart from outlines
with details (bench/drawings.py, by kind).

`DETAILS[label]` lists a class's details in the order they are tried: (name, probability, draw, needs).
The probability may depend on what was drawn before; `needs` names a detail that must have been drawn.
Each `draw` takes a `Pen`, whose X(f) and Y(f) are fractions of the garment's box from its top left.
"""
from __future__ import annotations

from typing import Callable, NamedTuple

import cv2
import numpy as np

from .strokes import arc

CLASS_DETAILS_P = {4: 0.9, 6: 0.9}  # how often an outline or contour of a class gets its details (0.7 otherwise):
#                              coats and shirts share an outline, so their details are what names them


class Pen:
    """Draws detail strokes on one garment: its box (x0, y0, w, h), centre line cx, the neckline's lowest
    point and the hem at the centre, the brush lw, and what has been drawn so far."""

    def __init__(self, mask: np.ndarray, width: int, rng: np.random.Generator, body=None, cuffs=None):
        self.mask, self.rng, self.cuffs = mask, rng, cuffs
        self.ink = np.zeros_like(mask)
        frame = body if body is not None and body.any() else mask
        ys, xs = np.nonzero(frame)
        self.x0, self.y0, x1, y1 = xs.min(), ys.min(), xs.max(), ys.max()
        self.x1 = x1
        self.w, self.h = max(1, x1 - self.x0), max(1, y1 - self.y0)
        self.cx = int(round((self.x0 + x1) / 2 + rng.normal(0, 0.01) * self.w))
        col = np.flatnonzero(frame[:, min(max(self.cx, 0), mask.shape[1] - 1)])
        self.neck = int(col[0]) if len(col) else self.y0  # the neckline's lowest point at the centre
        self.hem = int(col[-1]) if len(col) else y1
        self.lw = max(2, int(round(width * rng.uniform(0.75, 1.0))))  # the same brush as the outline, most often
        self.jit = 0.012 * max(self.w, self.h)
        self.drawn: set[str] = set()

    def X(self, f):
        return self.x0 + f * self.w

    def Y(self, f):
        return self.y0 + f * self.h

    def u(self, a, b):
        return self.rng.uniform(a, b)

    def count(self, a, b):
        return int(self.rng.integers(a, b))

    def stroke(self, pts, closed=False):
        pts = np.asarray(pts, np.float32) + self.rng.normal(0, self.jit, (len(pts), 2)).astype(np.float32)
        cv2.polylines(self.ink, [pts.round().astype(np.int32)], closed, 255, self.lw, cv2.LINE_AA)

    def dots(self, x, ys, size=1.0):
        """Round dots (buttons) at (x, y) for y in ys, `size` times a coat's button."""
        r = max(1, int(round(size * max(self.lw, 0.025 * self.w))))
        for y in ys:
            cv2.circle(self.ink, (int(x), int(y)), r, 255, -1, cv2.LINE_AA)

    def across(self, y, a=0.22, b=0.78):
        """A horizontal line across the body at row y, clipped to the mask."""
        row = np.flatnonzero(self.mask[int(min(max(y, 0), self.mask.shape[0] - 1))])
        if len(row):
            lo, hi = max(row[0], self.X(a)), min(row[-1], self.X(b))
            if hi > lo:
                self.stroke([(lo, y), (hi, y)])

    def sleeve_ends(self):
        """A line across each sleeve near its end."""
        if self.cuffs:
            for c in self.cuffs:
                self.stroke(c)
        else:
            y = self.Y(self.u(0.7, 0.85))
            self.stroke([(self.X(0.0), y), (self.X(0.15), y)])
            self.stroke([(self.X(0.85), y), (self.X(1.0), y)])

    def neck_arc(self, rx, extra):
        """A round neckline: an arc under the box's top, as deep as the neckline."""
        self.stroke(arc(self.cx, self.y0, rx * self.w, max(self.neck - self.y0, 0.08 * self.h) + extra * self.h, 180, 0))

    def dashes(self, ys, half=0.03):
        """Short lines across the centre line (a zip's teeth)."""
        for y in ys:
            self.stroke([(self.cx - half * self.w, y), (self.cx + half * self.w, y)])

    def toe_left(self):
        """Whether a shoe's toe points left (more of the mask in the box's right half: the shaft)."""
        return self.mask[:, self.x0:int(self.X(0.5))].sum() < self.mask[:, int(self.X(0.5)):self.x1 + 1].sum()


class Detail(NamedTuple):
    name: str
    p: float | Callable[[Pen], float]
    draw: Callable[[Pen], None]
    needs: str | None = None


def _pair(d: Pen, y, left, right):
    """Two short lines at row y, from left[0] to left[1] and right[0] to right[1] of the box (pockets)."""
    d.stroke([(d.X(left[0]), y), (d.X(left[1]), y)])
    d.stroke([(d.X(right[0]), y), (d.X(right[1]), y)])


COAT = (  # an opening down the front, lapels, buttons, pockets, a belt, a zip
    Detail("opening", 0.85, lambda d: d.stroke([(d.cx, d.neck), (d.cx, d.hem)])),
    Detail("lapels", 0.5, lambda d: d.stroke([(d.X(0.38), d.y0), (d.cx, d.Y(d.u(0.25, 0.4))), (d.X(0.62), d.y0)])),
    Detail("buttons", 0.3, lambda d: d.dots(d.cx - (0.06 * d.w if "opening" in d.drawn else 0),
                                            np.linspace(d.Y(0.35), d.Y(0.85), d.count(3, 6)))),
    Detail("pockets", 0.35, lambda d: _pair(d, d.Y(d.u(0.6, 0.75)), (0.25, 0.4), (0.6, 0.75))),
    Detail("belt", 0.15, lambda d: d.across(d.Y(0.5))),
    Detail("zip", 0.4, lambda d: d.dashes(np.linspace(d.Y(0.2), d.Y(0.9), d.count(5, 10)), d.u(0.03, 0.05)),
           needs="opening"),
)


def _collar(d: Pen):
    s = d.u(0.05, 0.1)
    d.stroke([(d.X(0.36), d.y0), (d.cx - s * d.w, d.neck + 0.1 * d.h), (d.cx, d.neck + 0.03 * d.h),
              (d.cx + s * d.w, d.neck + 0.1 * d.h), (d.X(0.64), d.y0)])


SHIRT_BUTTON = 0.6  # a shirt's buttons are smaller than a coat's (v11)
SHIRT = (  # a collar, buttons or a placket, a chest pocket, cuffs
    Detail("collar", 0.75, _collar),
    Detail("buttons", 0.7, lambda d: d.dots(d.cx, np.linspace(d.Y(0.22), d.Y(0.88), d.count(3, 7)), SHIRT_BUTTON)),
    Detail("placket", lambda d: 0.35 if "buttons" in d.drawn else 0.1,  # with buttons on it, most often
           lambda d: d.stroke([(d.cx, d.neck + 0.05 * d.h), (d.cx, d.hem)])),
    Detail("pocket", 0.25, lambda d: d.stroke([(d.X(0.58), d.Y(0.22)), (d.X(0.72), d.Y(0.22)), (d.X(0.72), d.Y(0.34)),
                                                (d.X(0.58), d.Y(0.34))], True)),
    Detail("cuffs", 0.2, Pen.sleeve_ends),
)
PULLOVER = (  # a crew neck, a ribbed hem and cuffs, a pattern band
    Detail("neck", 0.35, lambda d: d.neck_arc(0.14, 0.04)),
    Detail("hem", 0.45, lambda d: d.across(d.Y(0.92))),
    Detail("cuffs", 0.35, Pen.sleeve_ends),
    Detail("pattern", 0.12, lambda d: d.stroke([(x, d.Y(0.45) if i % 2 else d.Y(0.55))
                                                for i, x in enumerate(np.linspace(d.X(0.24), d.X(0.76), 7))])),
)
T_SHIRT = (  # the neck, the hem
    Detail("neck", 0.35, lambda d: d.neck_arc(0.13, 0.03)),
    Detail("hem", 0.25, lambda d: d.across(d.Y(0.92))),
)
TROUSER = (  # a waistband, a fly, pockets
    Detail("waistband", 0.45, lambda d: d.across(d.Y(0.08), 0.0, 1.0)),
    Detail("fly", 0.35, lambda d: d.stroke([(d.cx, d.Y(0.08)), (d.cx, d.Y(0.28))])),
    Detail("pockets", 0.25, lambda d: (d.stroke(arc(d.X(0.2), d.y0, 0.12 * d.w, 0.1 * d.h, 0, 90)),
                                       d.stroke(arc(d.X(0.8), d.y0, 0.12 * d.w, 0.1 * d.h, 180, 90)))),
)
DRESS = (  # a waist, a neckline
    Detail("waist", 0.3, lambda d: d.across(d.Y(d.u(0.3, 0.42)), 0.0, 1.0)),
    Detail("neckline", 0.2, lambda d: d.stroke(arc(d.cx, d.y0, 0.12 * d.w, 0.1 * d.h, 180, 0))),
)


def _laces(d: Pen, at):
    """Two to four short slanted lines, the i-th at at(i) = (x, y)."""
    for i in range(d.count(2, 5)):
        x, y = at(i)
        d.stroke([(x, y), (x + 0.07 * d.w, y - 0.04 * d.h)])


def _boot_laces(d: Pen):
    x = d.X(0.5) if d.toe_left() else d.X(0.45)
    _laces(d, lambda i: (x, d.Y(0.15 + 0.13 * i)))


SOLE = Detail("sole", 0.45, lambda d: d.across(d.Y(d.u(0.78, 0.9)), 0.0, 1.0))
SNEAKER = (  # a sole line, laces, a stripe
    SOLE,
    Detail("laces", 0.3, lambda d: _laces(d, lambda i: (d.X(0.38 + 0.08 * i), d.Y(0.35 - 0.05 * i)))),
    Detail("stripe", 0.2, lambda d: d.stroke([(d.X(0.35), d.Y(0.65)), (d.X(0.6), d.Y(0.45)), (d.X(0.8), d.Y(0.6))])),
)
ANKLE_BOOT = (  # a sole line, laces, a zip
    SOLE,
    Detail("laces", 0.3, _boot_laces),
    Detail("zip", 0.15, lambda d: d.stroke([(d.X(0.8), d.Y(0.05)), (d.X(0.8), d.Y(0.8))])),
)


def _flap(d: Pen):
    """A bag's flap over the top of its body: a V, a rounded edge or a straight one, sometimes with a clasp."""
    y, depth = d.Y(d.u(0.35, 0.5)), d.u(0.12, 0.3) * d.h
    kind = d.count(0, 3)
    if kind == 0:
        d.stroke([(d.X(0.0), y), (d.cx, y + depth), (d.X(1.0), y)])
    elif kind == 1:
        d.stroke(arc(d.cx, y, 0.5 * d.w, depth, 0, 180))
    else:
        d.across(y + depth, 0.0, 1.0)
    if d.rng.random() < 0.4:
        d.dots(d.cx, [y + depth], 0.8)


def _stripes(d: Pen):
    """Two to four lines across a bag's lower body, or one zigzag."""
    if d.rng.random() < 0.7:
        for y in np.linspace(d.Y(d.u(0.5, 0.65)), d.Y(0.92), d.count(2, 5)):
            d.across(y, 0.0, 1.0)
    else:
        y = d.Y(d.u(0.6, 0.8))
        xs = np.linspace(d.X(0.05), d.X(0.95), d.count(5, 10))
        d.stroke([(x, y + (0.05 * d.h if i % 2 else -0.05 * d.h)) for i, x in enumerate(xs)])


BAG = (  # a flap (v11: three kinds, a clasp), stripes or a zigzag (v11)
    Detail("flap", 0.3, _flap),
    Detail("stripes", 0.15, _stripes),
)
DETAILS = {0: T_SHIRT, 1: TROUSER, 2: PULLOVER, 3: DRESS, 4: COAT, 5: (), 6: SHIRT, 7: SNEAKER, 8: BAG,
           9: ANKLE_BOOT}


def garment_details(mask: np.ndarray, label: int, width: int, rng: np.random.Generator,
                    body: np.ndarray | None = None, cuffs: list | None = None) -> np.ndarray:
    """Detail strokes for a garment of class `label` on its (H, W) 0/1 mask: uint8 ink 0/255. For a shape
    from `person_shape`, `body` (a top without its sleeves) places the details and `cuffs` are where its
    sleeves end."""
    if not mask.any():
        return np.zeros_like(mask)
    pen = Pen(mask, width, rng, body, cuffs)
    for detail in DETAILS[label]:
        if detail.needs is not None and detail.needs not in pen.drawn:
            continue
        if rng.random() < (detail.p(pen) if callable(detail.p) else detail.p):
            detail.draw(pen)
            pen.drawn.add(detail.name)
    return pen.ink & cv2.dilate(mask, np.ones((pen.lw + 1, pen.lw + 1), np.uint8)) * 255  # details stay on the garment
