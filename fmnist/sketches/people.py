"""The shapes people draw, rather than the shapes photographed: tops with their sleeves held out,
trousers in any proportions, bags with their handles, sandals with open straps, and sneakers and ankle
boots in profile, the foot's opening dipping behind a tongue."""
from __future__ import annotations

import cv2
import numpy as np

from .strokes import SCALE

# A photographed top lies flat with its sleeves against its body: its mask is nearly a rectangle, and a
# drawing traced from it has no gap between sleeve and body. People draw a top as a body with two sleeves
# held out from it (short for a T-shirt, to the hem or beyond for the rest), and a trouser as two legs in
# any proportions. `person_shape` makes such a shape; its proportions are random within wide ranges.
PERSON_SHAPE_P = {0: 0.3, 1: 0.3, 2: 0.45, 4: 0.45, 5: 0.3, 6: 0.45, 7: 0.15, 8: 0.25, 9: 0.15}  # how often a class
#   is drawn from person_shape (v11: sandals, bags and shoes too, not only tops and trousers)
PERSON_CLASS_DETAILS_P = {2: 0.5, 4: 0.95, 6: 0.95}  # how often such a shape gets its details: a coat or a shirt
#   drawn without them is a long-sleeved top like any other, and a plain one is most often a pullover
HOODED_COAT_P = 0.5          # coats drawn with a hood over the neck (the body, which places the details, has none)
SHORT_SLEEVED_SHIRT_P = 0.2  # shirts drawn with short sleeves: a collar and buttons, not the sleeves, make a shirt


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
    if label == 0 or (label == 6 and rng.random() < SHORT_SLEEVED_SHIRT_P):  # short sleeves held well out
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
    top = neckline
    if label == 4 and rng.random() < HOODED_COAT_P:  # a hood standing over the neck (a parka, an anorak)
        hw, hh = min(s * 0.9, neck_w * u(1.2, 1.7)), u(0.12, 0.25)
        top = [(hw * np.cos(t), -hh * np.sin(t)) for t in np.linspace(0, np.pi, 11)]
    outline = [*top, tuple(ls), tuple(lo), tuple(li), tuple(la), (-hem, 1.0), (hem, 1.0), tuple(ra),
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


# A photographed bag fills the frame and its handle is often cut off or lies flat; a photographed sandal's
# straps merge into one blob at 28x28 (and `styles._mask` fills holes). People draw a bag as a body with a
# handle standing over it, and a sandal as a sole with separate straps over the foot, the gaps showing.
# Both have holes, so they are drawn as masks in units of their width (`_Canvas`), not as one polygon.
class _Canvas:
    """A (W x H) design in units, drawn on a 0/1 mask of `shape` with the long side ~ the dataset's frame."""

    def __init__(self, shape: tuple, w: float, h: float, rng: np.random.Generator):
        self.mask = np.zeros(shape, np.uint8)
        self.s = 28 * SCALE * rng.uniform(0.85, 1.0) / max(w, h)
        self.o = np.array([shape[1], shape[0]]) / 2 - np.array([w, h]) / 2 * self.s

    def p(self, x, y):
        return tuple(int(round(v)) for v in self.o + np.array([x, y]) * self.s)

    def n(self, v):
        return max(1, int(round(v * self.s)))

    def poly(self, pts):
        cv2.fillPoly(self.mask, [np.array([self.p(x, y) for x, y in pts], np.int32)], 1, cv2.LINE_AA)

    def line(self, pts, thick):
        """A straight-segment path through `pts`, `thick` units wide."""
        cv2.polylines(self.mask, [np.array([self.p(x, y) for x, y in pts], np.int32)], False, 1, self.n(thick), cv2.LINE_AA)

    def arc(self, cx, cy, rx, ry, a0, a1, thick=None):
        """An elliptical arc (degrees, y down: 180-360 is the upper half); filled when thick is None."""
        cv2.ellipse(self.mask, self.p(cx, cy), (self.n(rx), self.n(ry)), 0, a0, a1, 1,
                    -1 if thick is None else self.n(thick), cv2.LINE_AA)


def _bag_shape(shape: tuple, rng: np.random.Generator) -> np.ndarray:
    """A bag as people draw it: a box, trapezoid, rounded box or half-moon body with one arc handle, two
    handles, a long strap or none (a clutch), the handles' holes open."""
    u = rng.uniform
    bh = 1 / u(1.0, 1.8)                                   # the body's height; its width is 1
    handle = rng.choice(["arc", "two", "strap", "none"], p=[0.45, 0.2, 0.15, 0.2])
    t = u(0.035, 0.08) if handle != "strap" else u(0.02, 0.045)
    handle_height = {"arc": (0.15, 0.45), "two": (0.12, 0.35), "strap": (0.35, 0.8)}  # drawn only for the handle chosen
    hh = u(*handle_height[str(handle)]) if handle != "none" else 0.0
    top = hh + t                                          # the body's top edge, below the handle
    c = _Canvas(shape, 1.0 + t, top + bh, rng)
    body = rng.choice(["box", "trapezoid", "rounded", "half-moon"], p=[0.35, 0.3, 0.2, 0.15])
    x0, x1, y1 = t / 2, 1 + t / 2, top + bh
    if body == "half-moon":
        c.poly([(x0, top + bh * 0.5), (x1, top + bh * 0.5), (x1, y1), (x0, y1)])
        c.arc(0.5 + t / 2, top + bh * 0.5, 0.5, bh * 0.5, 180, 360)
    elif body == "trapezoid":
        a, b = (u(0.04, 0.2), 0.0) if rng.random() < 0.8 else (0.0, u(0.04, 0.15))  # most narrow at the top
        c.poly([(x0 + a, top), (x1 - a, top), (x1 - b, y1), (x0 + b, y1)])
    else:
        c.poly([(x0, top), (x1, top), (x1, y1), (x0, y1)])
        if body == "rounded":
            r = c.n(u(0.05, 0.2) * bh)
            c.mask = cv2.morphologyEx(c.mask, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1,) * 2))
    cx = 0.5 + t / 2
    if handle == "arc":
        c.arc(cx, top + t, u(0.15, 0.35), hh, 180, 360, t)
    elif handle == "two":
        d, rx = u(0.12, 0.25), u(0.07, 0.13)
        for x in (cx - d, cx + d):
            c.arc(x, top + t, rx, hh, 180, 360, t)
    elif handle == "strap":
        c.arc(cx, top + t, u(0.38, 0.5), hh, 180, 360, t)
    return c.mask


SANDAL_STRAPS = {"arcs": 0.5, "crossed": 0.3, "thong": 0.2}  # how the straps are drawn (v11: crossed and thong)


def _sandal_shape(shape: tuple, rng: np.random.Generator) -> np.ndarray:
    """A sandal from the side, as people draw it: a flat, wedge or high-heeled sole and its straps, the gaps
    between them showing; toe right or left. Straps: one to three arcs over the foot (and sometimes one round
    the ankle), two or three straight straps crossing one another, or a flip-flop's thong (a flat sole and
    one inverted V)."""
    u = rng.uniform
    straps = str(rng.choice(list(SANDAL_STRAPS), p=list(SANDAL_STRAPS.values())))
    heel = rng.choice(["flat", "wedge", "high"], p=[0.45, 0.25, 0.3]) if straps != "thong" else "flat"
    st = u(0.035, 0.08) if straps != "thong" else u(0.05, 0.11)  # the sole's thickness; the sandal is 1 long
    hh = u(*{"wedge": (0.12, 0.3), "high": (0.2, 0.45)}[str(heel)]) if heel != "flat" else 0.0
    foot = u(0.22, 0.4)                                    # how high the straps rise over the sole
    ankle = straps == "arcs" and rng.random() < 0.45
    height = hh + st + foot * (1.5 if ankle else 1.0) + 0.05
    c = _Canvas(shape, 1.0, height, rng)
    ground = height - 0.01

    def sole_top(x):  # the top of the sole at x (heel at 0, toe at 1): it falls from the heel to the ball
        ball = 0.55
        return ground - st - (hh * max(0.0, 1 - x / ball) if heel != "flat" else 0.0)
    xs = np.linspace(0.0, 1.0, 24)
    top = [(x, sole_top(x)) for x in xs]
    c.poly(top + [(1.0, sole_top(1.0) + st * 0.9), *[(x, sole_top(x) + st) for x in xs[::-1]]])
    if heel == "wedge":
        c.poly([(0.0, sole_top(0.0)), (0.5, sole_top(0.5) + st), (0.45, ground), (0.0, ground)])
    elif heel == "high":
        w = u(0.04, 0.1)
        c.poly([(0.02, sole_top(0.02)), (0.02 + w * 1.5, sole_top(0.02 + w * 1.5)), (0.04 + w, ground), (0.04, ground)])
    t = u(0.03, 0.06)

    def on_sole(x):  # a strap's foot, a little inside the sole so that the two join
        return (x, sole_top(x) + st * 0.3)
    if straps == "thong":  # from the heel's side up over the foot and down to the toe post
        a, peak, b = u(0.1, 0.35), u(0.4, 0.6), u(0.65, 0.85)
        c.line([on_sole(a), (peak, sole_top(peak) - foot * u(0.6, 1.0)), on_sole(b)], t)
    elif straps == "crossed":  # inverted Vs or diagonals, each starting before the last one ends: they cross
        x = u(0.1, 0.3)
        for _ in range(int(rng.integers(2, 4))):
            span = u(0.35, 0.6)
            peak = x + span * u(0.4, 0.9)
            h = foot * u(0.7, 1.0) * (1.3 - 0.6 * peak)
            ends = [on_sole(x), (peak, sole_top(peak) - h)]
            if rng.random() < 0.75:
                ends.append(on_sole(min(x + span, 0.97)))
            c.line(ends, t)
            x = min(x + span * u(0.3, 0.6), 0.6)
    else:  # arcs over the instep and the toes, lower towards the toe
        n = int(rng.integers(1, 4))
        centres = np.sort(u(0.4, 0.85, n)) if n > 1 else [u(0.5, 0.75)]
        for x in centres:
            c.arc(x, sole_top(x), u(0.1, 0.22), foot * u(0.7, 1.0) * (1.3 - 0.6 * x), 180, 360, t)
        if ankle:  # a strap up the back of the heel and one from there to the instep: a gap between them
            y = sole_top(0.05) - foot * u(1.1, 1.5)
            c.poly([(0.03, y), (0.03 + t, y), (0.03 + t, sole_top(0.03)), (0.03, sole_top(0.03))])
            x = centres[0]
            end = (x - 0.05, sole_top(x) - foot * 0.8)
            c.poly([(0.03, y), (0.03, y + t * 1.2), (end[0], end[1] + t * 1.2), end])
    return c.mask[:, ::-1].copy() if rng.random() < 0.5 else c.mask


# A photographed sneaker or boot is a solid profile, and a drawing traced from it is that profile's outline.
# People draw one the same way round but as a line drawing: a sole under an upper whose top edge dips at
# the foot's opening behind a raised tongue (a boot's shaft instead rises at the back), a rounded toe, and
# a heel that may stand apart from the sole's front (a boot's block heel). No straps, no holes: what tells
# a sneaker from a sandal in a drawing is a closed upper.
def _smooth_path(points: list, rounds: int = 2) -> list:
    """Chaikin's corner cutting on an open path, keeping its two ends: a hand's rounded corners."""
    pts = np.asarray(points, np.float64)
    for _ in range(rounds):
        nxt = np.roll(pts, -1, 0)
        cut = np.stack([0.75 * pts + 0.25 * nxt, 0.25 * pts + 0.75 * nxt], 1).reshape(-1, 2)
        pts = np.vstack([pts[:1], cut[:-2], pts[-1:]])
    return [tuple(p) for p in pts]


def _shoe_shape(label: int, shape: tuple, rng: np.random.Generator) -> np.ndarray:
    """A sneaker (7) or an ankle boot (9) in profile, as people draw it: 1 long, heel at x = 0, toe at
    x = 1 (then mirrored half of the time), y down from the top of the upper."""
    u = rng.uniform
    boot = label == 9
    st = u(0.05, 0.12)                                     # the sole's thickness
    heel_h = u(0.0, 0.14) if boot and rng.random() < 0.6 else 0.0   # a block heel under a boot
    back = u(0.55, 0.95) if boot else u(0.28, 0.45)        # the upper's height at the heel
    toe_h = u(0.1, 0.2)                                    # the toe's height over the sole
    height = back + st + heel_h
    c = _Canvas(shape, 1.0, height, rng)
    ground = height
    sole_y = ground - st - heel_h                          # the sole's top under the heel (the upper's foot)
    if boot:                                               # a shaft up the back, its front falling to the instep
        front = u(0.3, 0.45)
        top = [(0.0, sole_y - back), (front * u(0.85, 1.0), sole_y - back * u(0.92, 1.02)),
               (front + u(0.05, 0.12), sole_y - back * u(0.45, 0.6))]
    else:                                                  # a heel tab, the opening's dip, the tongue
        dip = back * u(0.55, 0.8)
        tongue = back * u(0.95, 1.15)
        top = [(0.0, sole_y - back), (0.08, sole_y - back * u(0.9, 1.0)), (u(0.18, 0.26), sole_y - dip),
               (u(0.34, 0.42), sole_y - dip * u(0.95, 1.05)), (u(0.4, 0.48), sole_y - tongue)]
    vamp = [(u(0.62, 0.72), sole_y - toe_h - (back - toe_h) * u(0.15, 0.35)), (u(0.88, 0.94), sole_y - toe_h),
            (1.0, sole_y - toe_h * u(0.3, 0.6))]

    def sole_top(x):  # flat, or under a heeled boot falling from the heel to the ball of the foot
        return sole_y + heel_h * float(np.clip((x - 0.3) / 0.3, 0.0, 1.0))
    xs = np.linspace(0.0, 1.0, 12)
    corners = 2 if rng.random() < 0.7 else 1
    upper = _smooth_path([*top, *vamp, (1.0, sole_top(1.0) + st * 0.5)], corners)  # the top edge and
    c.poly([*upper, *[(x, sole_top(x) + st * 0.5) for x in xs[::-1]]])  # the toe, rounded, then into the sole
    toe_rise = st * u(0.0, 0.8) if not boot else 0.0      # a sneaker's sole curls up at the toe
    c.poly([*[(x, sole_top(x) - toe_rise * max(0.0, (x - 0.8) / 0.2)) for x in xs],
            (1.0, sole_top(1.0) + st * 0.7), (0.95, sole_top(1.0) + st), *[(x, sole_top(x) + st) for x in xs[-2::-1]]])
    if heel_h > 0:                                         # a block heel under the back of the sole
        c.poly([(0.02, sole_y + st), (u(0.2, 0.28), sole_y + st), (0.22, ground), (0.04, ground)])
    return c.mask[:, ::-1].copy() if rng.random() < 0.5 else c.mask


_MASK_SHAPES = {5: _sandal_shape, 7: lambda shape, rng: _shoe_shape(7, shape, rng), 8: _bag_shape,
                9: lambda shape, rng: _shoe_shape(9, shape, rng)}  # shapes with holes or notches: drawn as masks


def _hand(rng: np.random.Generator) -> np.ndarray:
    """A hand's tilt (within 5 degrees) and shear, as a 2x2 matrix on (x, y) points, y down."""
    t = np.radians(rng.uniform(-5, 5))
    return np.array([[np.cos(t), -np.sin(t)], [np.sin(t), np.cos(t)]]) @ np.array([[1, rng.uniform(-0.08, 0.08)], [0, 1]])


def _tilt(mask: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """A mask tilted and sheared by `_hand` about its centre."""
    a = _hand(rng)
    c = np.array([mask.shape[1] / 2, mask.shape[0] / 2])
    m = np.hstack([a, (c - a @ c)[:, None]])
    return cv2.warpAffine(mask, m, (mask.shape[1], mask.shape[0]), flags=cv2.INTER_NEAREST)


DRAWN_SHAPES = (0, 1, 2, 4, 5, 6, 7, 8, 9)  # the classes person_shape draws (the drawings use PERSON_SHAPE_P's)


def person_shape(label: int, shape: tuple, rng: np.random.Generator):
    """A garment's shape as people draw it, on a canvas of `shape` (the drawing's, garment ~224 px tall):
    (mask, body, cuffs): 0/1 masks of the whole shape and of a top's body (None for other classes), and a
    top's cuff lines in canvas pixels (empty for other classes). Classes: DRAWN_SHAPES."""
    if label not in DRAWN_SHAPES:
        raise ValueError(f"no drawn shape for class {label}; person_shape draws classes {DRAWN_SHAPES}")
    if label in _MASK_SHAPES:
        return _tilt(_MASK_SHAPES[label](shape, rng), rng), None, []
    if label == 1:
        outline, body, cuffs = _trouser_shape(rng), None, []
    else:
        outline, body, cuffs = _top_shape(label, rng)
    tilt = _hand(rng)
    pts = np.asarray(outline, np.float64) @ tilt.T
    lo, hi = pts.min(0), pts.max(0)
    size = 28 * SCALE * rng.uniform(0.85, 1.0) / max(hi - lo)   # the long side ~ the dataset's frame
    centre = np.array([shape[1], shape[0]]) / 2 - (lo + hi) / 2 * size

    def place(points):
        return [tuple(tilt @ np.asarray(p) * size + centre) for p in points]

    mask = _fill(shape, place(outline))
    return (mask, None if body is None else _fill(shape, place(body)) & mask,
            [place(c) for c in cuffs])


