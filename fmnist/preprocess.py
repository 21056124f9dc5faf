"""One path from any user image (sketch, upload, API, array) to the model's 28x28 input.

Fashion-MNIST images are bright garments on black, trimmed to the garment, the longest side scaled to
28 pixels and centred. ``prepare(image)`` does the same to a user's image:

1. read it as grey levels in [0, 1] (`fmnist.images`: file path, bytes, PIL image, numpy array or
   Gradio's sketchpad dict), compositing any transparency over white;
   an image made of repeated k x k pixels is reduced back exactly; one already 28x28 and bright on black
   is used as it is;
2. decide polarity from the border: a light background (photo, sketch) is inverted to bright-on-black;
3. subtract the background level, scale the brightest part to 1; a drawing (decided from the content:
   ink on a flat background) loses its faint noise; crop to the content, thicken thin strokes so they
   survive the reduction;
4. find the dataset's frame around it to a fraction of a pixel (the longest side fills it, the other
   side is centred; aspect ratio kept), average it down to 28x28, sharpen (photos only).
Bad input raises ImageError with a message meant for the user.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
from scipy import ndimage
from PIL import Image

from .images import ImageError, read_image

# Tuned on 600 test images re-rendered as uploads (disjoint from the 300 in
# tests/test_upload_agreement.py; NOTES.md, "Upload agreement"): a 5% threshold ignores JPEG ringing
# around the garment, the frame is found to a fraction of a pixel (_dataset_frame), area averaging
# shrinks, and a sharpening pass undoes what is left of the enlargement's blur.
CONTENT_THRESHOLD = 0.05  # a pixel belongs to the garment above this fraction of the brightest one
DOWNSAMPLE = Image.BOX
# An image enlarged the usual way (linear interpolation between pixel centres) and averaged back onto
# the original grid is blurred by [1/8, 3/4, 1/8] in each direction; this kernel (nearly) inverts that.
# It is also a mild sharpening, as Zalando applied after shrinking its photos.
SHARPEN = np.array([-1 / 6, 4 / 3, -1 / 6], np.float32)
OUTLINE_FILL = 1.0  # brightness given to the inside of a drawn outline (ink is 1.0)
WORK_SIDE = 1024  # bigger inputs are first reduced to this, so cost does not grow with the upload
# A drawing: content nearly all ink at full strength, the half-tone pixels along strokes' edges aside.
# Fewer flat photos pass at 0.9 than at 0.75 (at 0.75 they cost a point of upload agreement: they are
# not sharpened).
DRAWING_SATURATION = 0.9
DRAWING_FLOOR = 0.2  # in a drawing, pixels fainter than this fraction of the ink are noise


@dataclass
class Prepared:
    tensor: torch.Tensor   # (1, 1, 28, 28) float32 in [0, 1], bright garment on black
    preview: np.ndarray    # (28, 28) uint8, what the models see
    notes: list[str] = field(default_factory=list)
    drawing: bool = False  # looks_like_drawing() said so

    @classmethod
    def from_image(cls, image: np.ndarray, notes: list[str] | None = None) -> "Prepared":
        """From a (28, 28) float image in [0, 1]: the model's input and its uint8 preview."""
        x = np.ascontiguousarray(image, dtype=np.float32)
        return cls(tensor=torch.from_numpy(x)[None, None], preview=(x * 255).round().astype(np.uint8),
                   notes=notes if notes is not None else [])


def _undo_pixel_enlargement(grey: np.ndarray, min_side: int = 8) -> tuple[np.ndarray, int]:
    """An image made of equal k x k blocks (a small image enlarged by repeating pixels: our examples, a
    zoomed screenshot of a 28x28 image) -> the small image, exactly, and k; others unchanged, k = 1.

    Rows change only at multiples of k and columns too exactly when every k x k block is constant.
    Resampling such an image instead blurs it, and the models are sensitive to that.
    """
    h, w = grey.shape
    row_changes = np.flatnonzero((grey[1:] != grey[:-1]).any(1)) + 1
    col_changes = np.flatnonzero((grey[:, 1:] != grey[:, :-1]).any(0)) + 1
    k = int(np.gcd.reduce(np.concatenate([[h, w], row_changes, col_changes])))
    if k < 2 or min(h, w) // k < min_side:
        return grey, 1
    return np.ascontiguousarray(grey[::k, ::k]), k


def _edges(profile: np.ndarray, step: int) -> tuple[float, float]:
    """Where content starts and ends along a profile (the brightest pixel of each row or column), to a
    fraction of a pixel: the point where it first reaches half the brightness it has one pixel of the
    original further in. An upscaled image ramps up over one original pixel; its edge is mid-ramp."""
    n = len(profile)
    inside = np.flatnonzero(profile > CONTENT_THRESHOLD * max(float(profile.max()), 1e-6))
    if len(inside) == 0:
        return 0.0, float(n)
    found = []
    for j0, d in ((int(inside[0]), 1), (int(inside[-1]), -1)):
        half = profile[int(np.clip(j0 + d * step, 0, n - 1))] / 2
        j = j0
        while 0 <= j + d < n and profile[j] < half and abs(j - j0) < step:
            j += d
        before = profile[j - d] if 0 <= j - d < n else 0.0
        frac = (half - before) / (profile[j] - before) if profile[j] > before else 0.5
        found.append(j - d + 0.5 + d * float(np.clip(frac, 0, 1)))  # from the centre of pixel j - d
    lo, hi = found[0], found[1]
    return (lo, hi) if hi > lo else (float(inside[0]), float(inside[-1] + 1))


def _dataset_frame(x: np.ndarray, size: int) -> tuple[float, float, float, float]:
    """(left, top, right, bottom) of the square that becomes the size x size image, in x's pixels.

    Fashion-MNIST scaled the longest side to fill the frame and centred the other side, which is a
    whole number of pixels wide with one more pixel of margin on the top/left when the margin is odd.
    """
    h, w = x.shape
    step = max(1, int(round(max(h, w) / size)))
    top, bottom = _edges(x.max(1), step)
    left, right = _edges(x.max(0), step)
    if bottom - top >= right - left:
        s = (bottom - top) / size
        px = int(np.clip(round((right - left) / s), 1, size))
        left -= (size - px + 1) // 2 * s
        return left, top, left + size * s, bottom
    s = (right - left) / size
    px = int(np.clip(round((bottom - top) / s), 1, size))
    top -= (size - px + 1) // 2 * s
    return left, top, right, top + size * s


def _stroke_width(mask: np.ndarray) -> float:
    """Typical stroke width of a binary mask: 2 * area / perimeter (a filled shape gives a large value)."""
    area = mask.sum()
    inner = mask[1:-1, 1:-1] & mask[:-2, 1:-1] & mask[2:, 1:-1] & mask[1:-1, :-2] & mask[1:-1, 2:]
    perimeter = area - inner.sum()
    return float(2 * area / max(perimeter, 1))


def looks_like_drawing(grey: np.ndarray) -> bool:
    """Whether a grey image (H, W) in [0, 1] is a drawing (ink on a flat background) rather than a photo.

    Decided from the content, so the sketchpad, an uploaded drawing and an API call are treated alike:
    the background is flat (90% of the border within 0.1 of its median; where strokes run off the
    canvas, at least half of it, the rest ink) and the content is nearly all ink at full strength (at
    least 90% of the pixels that stand out reach 80% of the strongest), where a photo has shading.
    The half-tone pixels along a stroke's edges (anti-aliasing, JPEG), between the ink and the
    background, are not counted: a thin anti-aliased stroke is mostly edge. A flat, evenly lit garment
    can pass as a (filled) drawing; it is then not sharpened and loses its faintest pixels.
    """
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    bg = float(np.median(border))
    flat = np.abs(border - bg) < 0.1
    if flat.mean() < 0.5:
        return False
    d = np.abs(grey - bg)
    d = d / max(float(d.max()), 1e-6)
    content = d > 0.15
    ink = d > 0.8
    if not ink.any():
        return False
    if flat.mean() >= 0.9 and ink.sum() >= DRAWING_SATURATION * content.sum():
        return True  # solid ink on a flat background: no need to look at the edges
    edge = content & ~ink & _next_to(~content) & _next_to(ink)
    if flat.mean() < 0.9:  # strokes reach the border: what is not background there must be ink
        inky = ink | edge
        if np.concatenate([inky[0], inky[-1], inky[:, 0], inky[:, -1]])[~flat].mean() < 0.9:
            return False
    return bool(ink.sum() >= DRAWING_SATURATION * (content & ~edge).sum())


def _thicken(x: np.ndarray, k: int) -> np.ndarray:
    """The maximum over each k x k square: the same pixels as Pillow's MaxFilter(k), in two 1-D passes
    whose cost does not grow with k (MaxFilter is O(k²) per pixel: seconds for a thin line on a big
    canvas, a CPU bomb on a public server)."""
    x = ndimage.maximum_filter1d(x, k, axis=0, mode="nearest")
    return ndimage.maximum_filter1d(x, k, axis=1, mode="nearest")


def _next_to(mask: np.ndarray) -> np.ndarray:
    """mask grown by one pixel up, down, left and right (a binary dilation with a cross, in slices)."""
    out = mask.copy()
    out[1:] |= mask[:-1]
    out[:-1] |= mask[1:]
    out[:, 1:] |= mask[:, :-1]
    out[:, :-1] |= mask[:, 1:]
    return out


def prepare(source, size: int = 28, fill_outlines: bool = False, drawing: bool | None = None) -> Prepared:
    """Any image -> the model's input, as Fashion-MNIST would have made it; see the module docstring.

    A drawing (``looks_like_drawing``) loses its faint pixels (JPEG ringing, paper grain) and is not
    sharpened, since it was never enlarged from 28 pixels. fill_outlines fills closed outlines (the
    dataset's garments are solid shapes); the drawing-aware models read outlines as they are, so it is
    off by default and kept for comparisons. drawing: None decides from the content; True or False
    says so (the training drawings of fmnist.sketches are drawings by construction).
    """
    grey = read_image(source)
    notes: list[str] = []
    grey, k = _undo_pixel_enlargement(grey)
    if k > 1:
        notes.append(f"pixels repeated {k}x{k}: reduced back exactly")
    h, w = grey.shape
    if max(h, w) > WORK_SIDE:  # reduce huge inputs first (area filter keeps thin strokes as grey)
        s = WORK_SIDE / max(h, w)
        grey = np.asarray(Image.fromarray(grey).resize((max(1, round(w * s)), max(1, round(h * s))), Image.BOX))
        h, w = grey.shape
    border = np.concatenate([grey[0], grey[-1], grey[:, 0], grey[:, -1]])
    bg = float(np.median(border))
    if (h, w) == (size, size) and bg <= 0.5 and not isinstance(source, dict):
        # already in the dataset's format (28x28, bright on black): cropping and rescaling could only
        # move it away from what the models were trained on
        if float(grey.max()) < 0.08:
            raise ImageError("The image looks blank: nothing stands out from the background.")
        notes.append(f"already a {size}x{size} bright-on-black image: used as it is")
        return Prepared.from_image(grey, notes)
    if bg > 0.5:
        x = 1.0 - grey
        bg = 1.0 - bg
        notes.append("light background: inverted to the dataset's bright-on-black")
    else:
        x = grey.copy()
    x = np.nan_to_num(np.clip((x - bg) / max(1e-6, 1 - bg), 0, 1))
    peak = float(x.max())
    if peak < 0.08:
        raise ImageError("The image looks blank: nothing stands out from the background.")
    x = (x / peak).astype(np.float32)  # the brightest part becomes 1, as in the dataset (faint drawings too)
    drawing = looks_like_drawing(grey) if drawing is None else bool(drawing)
    if drawing:
        x[x < DRAWING_FLOOR] = 0.0
        notes.append("a drawing (ink on a flat background): faint pixels dropped")
    mask = x > CONTENT_THRESHOLD  # the garment or the drawing
    rows, cols = np.flatnonzero(mask.any(1)), np.flatnonzero(mask.any(0))
    if len(rows) == 0:
        raise ImageError("The image looks blank: nothing stands out from the background.")
    top, bottom, left, right = rows[0], rows[-1] + 1, cols[0], cols[-1] + 1
    x, mask = x[top:bottom, left:right], mask[top:bottom, left:right]
    if fill_outlines:
        inside = ndimage.binary_fill_holes(x > 0.5) & (x <= 0.5)
        if inside.sum() > 0.05 * x.size:
            x = np.where(inside, OUTLINE_FILL, x).astype(np.float32)
            mask = mask | inside
            notes.append("closed outlines filled (the dataset's garments are solid shapes)")
    side = max(x.shape)
    scale = side / size
    if scale > 2:
        # a stroke thinner than ~1.5 output pixels would fade away when shrunk: widen it first
        width = _stroke_width(mask)
        grow = int(round(1.5 * scale - width))
        if grow >= 2:
            x = _thicken(x, grow | 1)
            notes.append("thin strokes thickened")
    # the dataset's frame: the longest side fills it, the other side is a whole number of pixels
    # centred in it (one more pixel of margin on top/left when odd), edges found to a fraction of a pixel
    left, top, right, bottom = _dataset_frame(x, size)
    h, w = x.shape  # zeros around the crop, so that the frame may reach past it:
    margin = int(np.ceil(max(0.0, -left, -top, right - w, bottom - h))) + 2
    padded = np.pad(x, margin)
    box = (left + margin, top + margin, right + margin, bottom + margin)
    small = np.asarray(Image.fromarray(padded).resize((size, size), DOWNSAMPLE if scale >= 1 else Image.BICUBIC, box=box))
    small = np.clip(small, 0, 1)
    if SHARPEN is not None and scale > 1.5 and not drawing:
        for axis in (0, 1):
            small = ndimage.convolve1d(small, SHARPEN, axis=axis, mode="nearest")
        small = np.clip(small, 0, 1)
    if not np.isfinite(small).all():
        raise ImageError("The image could not be converted to valid pixel values.")
    prepared = Prepared.from_image(small, notes)
    prepared.drawing = drawing
    return prepared


__all__ = ["ImageError", "Prepared", "looks_like_drawing", "prepare", "read_image"]
