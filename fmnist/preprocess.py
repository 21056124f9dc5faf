"""One path from any user image (sketch, upload, API, array) to the model's 28x28 input.

Fashion-MNIST images are bright garments on black, trimmed to the garment, the longest side scaled to
28 pixels and centred. ``prepare(image)`` does the same to a user's image:

1. read it (file path, bytes, PIL image, numpy array or Gradio's sketchpad dict) as grey levels in
   [0, 1], compositing any transparency over white;
   an image made of repeated k x k pixels is reduced back exactly; one already 28x28 and bright on black
   is used as it is;
2. decide polarity from the border: a light background (photo, sketch) is inverted to bright-on-black;
3. subtract the background level, scale the brightest part to 1, crop to the content, fill closed
   outlines of drawings (the dataset's garments are solid), thicken thin strokes so they survive;
4. find the dataset's frame around it to a fraction of a pixel (the longest side fills it, the other
   side is centred; aspect ratio kept), average it down to 28x28, sharpen.
Bad input raises ImageError with a message meant for the user.
"""
from __future__ import annotations

import io
import os
import warnings
from dataclasses import dataclass, field

import numpy as np
import torch
from scipy import ndimage
from PIL import Image, ImageFilter, UnidentifiedImageError

# Pillow refuses images above this many pixels (decompression bombs): 40 MP covers any photo.
MAX_PIXELS = 40_000_000
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
MAX_FILE_BYTES = 20 * 1024 * 1024
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


class ImageError(ValueError):
    """The image cannot be classified; the message says why in words a user understands."""


@dataclass
class Prepared:
    tensor: torch.Tensor   # (1, 1, 28, 28) float32 in [0, 1], bright garment on black
    preview: np.ndarray    # (28, 28) uint8, what the models see
    notes: list[str] = field(default_factory=list)

    @classmethod
    def from_image(cls, image: np.ndarray, notes: list[str] | None = None) -> "Prepared":
        """From a (28, 28) float image in [0, 1]: the model's input and its uint8 preview."""
        x = np.ascontiguousarray(image, dtype=np.float32)
        return cls(tensor=torch.from_numpy(x)[None, None], preview=(x * 255).round().astype(np.uint8),
                   notes=notes if notes is not None else [])


def _from_pil(img: Image.Image) -> np.ndarray:
    """PIL image of any mode -> float32 (H, W) grey in [0, 1], transparency composited over white."""
    if getattr(img, "is_animated", False):
        img.seek(0)
    w, h = img.size
    if w * h == 0:
        raise ImageError("The image is empty (0 pixels).")
    if w * h > MAX_PIXELS:
        raise ImageError(f"The image is too large ({w}x{h} pixels; the limit is {MAX_PIXELS // 1_000_000} MP).")
    mode = img.mode
    if mode in ("I", "I;16", "I;16B", "I;16L", "I;16N", "F"):
        arr = np.asarray(img, dtype=np.float64)
        return _from_array(arr)
    if mode == "P":
        img = img.convert("RGBA")
    elif mode in ("CMYK", "YCbCr", "LAB", "HSV"):
        img = img.convert("RGB")
    elif mode == "1":
        img = img.convert("L")
    if img.mode in ("RGBA", "LA", "PA", "RGBa", "La"):
        rgba = img.convert("RGBA")
        if rgba.getextrema()[3][0] == 255:
            img = rgba.convert("RGB")  # opaque (Gradio 6.31's sketch composite): nothing to composite
        else:
            img = Image.alpha_composite(Image.new("RGBA", rgba.size, (255, 255, 255, 255)), rgba)
    return np.asarray(img.convert("L"), dtype=np.float32) / 255.0


def _from_array(arr: np.ndarray) -> np.ndarray:
    """numpy array (H, W), (H, W, C) with C in 1..4, any dtype -> float32 (H, W) grey in [0, 1]."""
    arr = np.asarray(arr)
    if arr.dtype == object or arr.dtype.kind not in "biuf":
        raise ImageError(f"Unsupported pixel type {arr.dtype}.")
    if arr.ndim == 3 and arr.shape[0] in (1, 3, 4) and arr.shape[-1] not in (1, 3, 4):
        arr = np.moveaxis(arr, 0, -1)  # channels-first
    if arr.ndim == 3 and arr.shape[-1] == 1:
        arr = arr[..., 0]
    if arr.ndim not in (2, 3) or (arr.ndim == 3 and arr.shape[-1] not in (2, 3, 4)):
        raise ImageError(f"An image must be H x W or H x W x (1-4 channels); got shape {arr.shape}.")
    if arr.size == 0:
        raise ImageError("The image is empty (0 pixels).")
    if arr.shape[0] * arr.shape[1] > MAX_PIXELS:
        raise ImageError(f"The image is too large ({arr.shape[1]}x{arr.shape[0]} pixels).")
    if arr.dtype == np.uint8 and (arr.ndim == 2 or arr.shape[-1] in (3, 4)):
        # the sketchpad's RGBA canvas: Pillow converts it in a fraction of the time numpy takes
        return _from_pil(Image.fromarray(np.ascontiguousarray(arr)))
    if arr.dtype.kind == "b":
        x = arr.astype(np.float32)
    elif arr.dtype.kind in "iu":
        info = np.iinfo(arr.dtype)
        top = 255 if arr.max(initial=0) <= 255 and arr.dtype.itemsize == 1 else max(float(arr.max()), 1.0)
        x = np.clip(arr.astype(np.float64), 0, min(top, info.max)) / top
    else:
        x = np.clip(arr.astype(np.float64), -1e300, 1e300)  # so that hi - lo below cannot overflow
        finite = np.isfinite(x)
        if not finite.any():
            raise ImageError("The image has no valid pixel values (all NaN or infinite).")
        if not finite.all():
            x = np.where(finite, x, np.nanmin(np.where(finite, x, np.nan)))
        lo, hi = x.min(), x.max()
        if lo < 0 or hi > 1:  # not in [0, 1]: stretch what is there
            x = (x - lo) / (hi - lo) if hi > lo else np.zeros_like(x)
    x = x.astype(np.float32)
    if x.ndim == 3:
        ch = x.shape[-1]
        alpha = x[..., -1] if ch in (2, 4) else np.ones(x.shape[:2], np.float32)
        grey = x[..., 0] if ch <= 2 else x[..., :3] @ np.array([0.299, 0.587, 0.114], np.float32)
        x = alpha * grey + (1 - alpha) * 1.0  # over white, like an RGBA upload
    return np.clip(x, 0, 1)


def read_image(source) -> np.ndarray:
    """Any supported input -> float32 (H, W) grey in [0, 1] (dark ink or garment stays dark)."""
    if source is None:
        raise ImageError("No image: draw something or upload a picture.")
    if isinstance(source, dict):  # Gradio ImageEditor / Sketchpad value
        comp = source.get("composite")
        if comp is None and source.get("layers"):
            layers = [np.asarray(layer) for layer in source["layers"] if layer is not None]
            comp = _flatten_layers(source.get("background"), layers)
        return read_image(comp)
    if isinstance(source, Image.Image):
        return _from_pil(source)
    if isinstance(source, np.ndarray):
        return _from_array(source)
    if isinstance(source, torch.Tensor):
        return _from_array(source.detach().cpu().numpy())
    if isinstance(source, (bytes, bytearray)):
        if len(source) == 0:
            raise ImageError("The file is empty.")
        return _open_and_read(io.BytesIO(source))
    if isinstance(source, (str, os.PathLike)):
        path = os.fspath(source)
        if not os.path.isfile(path):
            raise ImageError("The uploaded file could not be found.")
        size = os.path.getsize(path)
        if size == 0:
            raise ImageError("The file is empty.")
        if size > MAX_FILE_BYTES:
            raise ImageError(f"The file is too large ({size / 2**20:.1f} MiB; limit {MAX_FILE_BYTES // 2**20} MiB).")
        return _open_and_read(path)
    raise ImageError(f"Cannot read an image from a {type(source).__name__}.")


def _flatten_layers(background, layers: list[np.ndarray]) -> np.ndarray:
    base = np.asarray(background) if background is not None else None
    img = Image.new("RGBA", (layers[0].shape[1], layers[0].shape[0]), (255, 255, 255, 255))
    for arr in ([base] if base is not None else []) + layers:
        layer = Image.fromarray(arr.astype(np.uint8)).convert("RGBA").resize(img.size)
        img = Image.alpha_composite(img, layer)
    return np.asarray(img)


def _open_and_read(fp) -> np.ndarray:
    try:
        with warnings.catch_warnings():
            # Pillow only warns between 1x and 2x its limit; here anything over the limit is refused
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(fp)
        with img:
            w, h = img.size  # known from the header: refuse before decoding anything big
            if w * h > MAX_PIXELS:
                raise ImageError(f"The image is too large ({w}x{h} pixels; the limit is {MAX_PIXELS // 1_000_000} MP).")
            img.load()
            return _from_pil(img)
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageError(f"The image is too large to open safely ({e}).") from e
    except UnidentifiedImageError as e:
        raise ImageError("This file is not an image Pillow can read (PNG, JPEG, GIF, WebP, BMP, TIFF...).") from e
    except (OSError, SyntaxError, ValueError, EOFError) as e:
        raise ImageError(f"The image file is damaged or truncated ({e}).") from e


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


def prepare(source, size: int = 28, fill_outlines: bool | None = None) -> Prepared:
    """Any image -> the model's input, as Fashion-MNIST would have made it; see the module docstring.

    fill_outlines fills closed outlines, since the dataset's garments are solid shapes and a drawn
    outline looks like a strappy sandal to every model; None means: for sketchpad drawings only.
    """
    if fill_outlines is None:
        fill_outlines = isinstance(source, dict)
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
            x = np.asarray(Image.fromarray(x).filter(ImageFilter.MaxFilter(grow | 1)))
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
    if SHARPEN is not None and scale > 1.5:
        for axis in (0, 1):
            small = ndimage.convolve1d(small, SHARPEN, axis=axis, mode="nearest")
        small = np.clip(small, 0, 1)
    if not np.isfinite(small).all():
        raise ImageError("The image could not be converted to valid pixel values.")
    return Prepared.from_image(small, notes)


def render_as_upload(image28: np.ndarray, scale: int = 8, canvas: int = 400, offset=(30, -20),
                     jpeg_quality: int = 85) -> bytes:
    """A dataset image as a user might upload it: upscaled, dark on white, off-centre, JPEG. For tests."""
    big = Image.fromarray(255 - image28).resize((28 * scale, 28 * scale), Image.BILINEAR)
    page = Image.new("L", (canvas, canvas), 255)
    x0 = (canvas - big.width) // 2 + offset[0]
    y0 = (canvas - big.height) // 2 + offset[1]
    page.paste(big, (x0, y0))
    buf = io.BytesIO()
    page.convert("RGB").save(buf, "JPEG", quality=jpeg_quality)
    return buf.getvalue()


def render_as_random_upload(image28: np.ndarray, rng: np.random.Generator) -> bytes:
    """render_as_upload with the ranges the upload-agreement test and bench draw from: enlarged 3-11x,
    a 380-600 px page, up to 40 px off-centre, JPEG quality 60-95."""
    return render_as_upload(image28, scale=int(rng.integers(3, 12)), canvas=int(rng.integers(380, 600)),
                            offset=(int(rng.integers(-40, 40)), int(rng.integers(-40, 40))),
                            jpeg_quality=int(rng.integers(60, 95)))


__all__ = ["ImageError", "Prepared", "prepare", "read_image", "render_as_random_upload", "render_as_upload"]
