"""Reading whatever a user gives us as an image (file path, bytes, PIL image, numpy array, tensor,
Gradio's sketchpad dict) as grey levels in [0, 1], safely; and rendering dataset images the way a user
would upload them (for the upload-agreement test and bench).

Any transparency is composited over white; files and images that are too large are refused from the
header, before decoding; bad input raises ImageError with a message meant for the user.
"""
from __future__ import annotations

import io
import os
import warnings

import numpy as np
import torch
from PIL import Image, ImageOps, UnidentifiedImageError

# Pillow refuses images above this many pixels (decompression bombs): 40 MP covers any photo.
MAX_PIXELS = 40_000_000
Image.MAX_IMAGE_PIXELS = MAX_PIXELS
MAX_FILE_BYTES = 20 * 1024 * 1024
# The formats the app documents; no other Pillow plugin ever parses a visitor's bytes.
FORMATS = ("PNG", "JPEG", "GIF", "WEBP", "BMP")
NOT_AN_IMAGE = "This file is not an image the app reads (PNG, JPEG, GIF, WebP or BMP)."
# Images larger than this on their longest side are reduced while decoding (JPEG's own scaled decode,
# then an exact box reduction): prepare() works at 1024 pixels at most, so nothing is lost but memory.
DECODE_SIDE = 2048


class ImageError(ValueError):
    """The image cannot be classified; the message says why in words a user understands."""


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


def _open(fp) -> Image.Image:
    """Image.open restricted to FORMATS, its size checked from the header: nothing decoded yet."""
    with warnings.catch_warnings():
        # Pillow only warns between 1x and 2x its limit; here anything over the limit is refused
        warnings.simplefilter("error", Image.DecompressionBombWarning)
        img = Image.open(fp, formats=FORMATS)
    w, h = img.size  # known from the header: refuse before decoding anything big
    if w * h > MAX_PIXELS:
        img.close()
        raise ImageError(f"The image is too large ({w}x{h} pixels; the limit is {MAX_PIXELS // 1_000_000} MP).")
    return img


def _decode(img: Image.Image, reduce: bool = True) -> Image.Image:
    """Decode (a large JPEG at a reduced scale), turn upright as its EXIF orientation says (phones store
    photos sideways with a "rotate" tag), and reduce anything still above DECODE_SIDE by an exact box."""
    w, h = img.size
    if reduce and img.format == "JPEG" and max(w, h) > DECODE_SIDE:
        k = max(w, h) / DECODE_SIDE
        img.draft(img.mode, (int(w / k), int(h / k)))  # JPEG's DCT scaling: 1/2, 1/4 or 1/8, never below
    img.load()
    img = ImageOps.exif_transpose(img) or img
    if reduce and max(img.size) > DECODE_SIDE:
        if img.mode in ("I;16", "I;16B", "I;16L", "I;16N"):
            img = img.convert("I")
        elif img.mode in ("P", "1"):
            img = img.convert("RGBA" if img.mode == "P" else "L")
        img = img.reduce(max(img.size) // DECODE_SIDE)
    return img


def _guarded(fn):
    """Pillow's errors on a visitor's bytes, as ImageError with a message for the user."""
    try:
        return fn()
    except ImageError:
        raise
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as e:
        raise ImageError(f"The image is too large to open safely ({e}).") from e
    except UnidentifiedImageError as e:
        raise ImageError(NOT_AN_IMAGE) from e
    except (OSError, SyntaxError, ValueError, EOFError, MemoryError) as e:
        raise ImageError(f"The image file is damaged or truncated ({e}).") from e


def _open_and_read(fp) -> np.ndarray:
    def read():
        with _open(fp) as img:
            return _from_pil(_decode(img))
    return _guarded(read)


def read_header(path) -> tuple[int, int]:
    """(width, height) of an image file from its header alone (format and size checks included)."""
    def size():
        with _open(path) as img:
            return img.size
    return _guarded(size)


def read_rgba(path) -> np.ndarray:
    """An image file as (H, W, 4) uint8, upright, transparency kept (a sketchpad layer's ink may be only
    in its alpha); not reduced."""
    def read():
        with _open(path) as img:
            return np.asarray(_decode(img, reduce=False).convert("RGBA"))
    return _guarded(read)


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


__all__ = ["FORMATS", "MAX_FILE_BYTES", "MAX_PIXELS", "ImageError", "read_header", "read_image", "read_rgba",
           "render_as_random_upload", "render_as_upload"]
