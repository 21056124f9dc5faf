"""The one gate every file from a visitor passes before anything opens it.

A client of a public Space can send any JSON: a file "upload" may name any path on the server. Only two
places may ever be read: the folder where the web framework stores what visitors uploaded (its upload
cache) and the app's own assets (the example images). Anything else, whether or not it exists, gets the
same neutral refusal (``REFUSED``), so a caller learns nothing about the server's files.

For the sketchpad's value (background, layers and composite, each an uploaded PNG), the gate also caps
the number of layers and each image's size from its header, before a single pixel is decoded.
"""
from __future__ import annotations

import io
import os
from pathlib import Path

from .images import ImageError, read_header, read_rgba

ASSETS = Path(__file__).resolve().parent / "assets"
REFUSED = "This file cannot be used. Upload an image (PNG, JPEG, GIF, WebP or BMP) through the app."
MAX_LAYERS = 4            # the sketchpad sends one layer (layers=False); a few more are tolerated
MAX_SKETCH_SIDE = 2048    # the canvas is 560x560; a sketch part larger than this is refused unread
MAX_SKETCH_PIXELS = 2048 * 2048


class FileGate:
    """Which folders files may be read from (their real paths, symbolic links resolved)."""

    def __init__(self, roots: list[str | os.PathLike]):
        self.roots = [os.path.realpath(r) for r in roots]

    def path(self, value) -> str:
        """A visitor's file (a path, or a dict with a "path": Gradio's FileData) -> its real path, if it
        is a regular file inside one of the roots; otherwise ImageError(REFUSED), the same message
        whether the file exists or not."""
        if isinstance(value, dict):
            value = value.get("path")
        if not isinstance(value, (str, os.PathLike)):
            raise ImageError(REFUSED)
        try:
            raw = os.fspath(value)
            if not raw or "\x00" in raw:
                raise ImageError(REFUSED)
            real = os.path.realpath(raw)
        except (TypeError, ValueError, OSError):
            raise ImageError(REFUSED) from None
        if not any(_inside(real, root) for root in self.roots) or not os.path.isfile(real):
            raise ImageError(REFUSED)
        return real

    def sketch(self, payload, blobs=None) -> dict:
        """The sketchpad's raw value -> the same dict with decoded RGBA arrays, for prepare().

        The value is {"background", "layers", "composite"}, each part a file value (FileData, from an
        API client) or None; from the browser, it names an "id" instead and the parts come as bytes
        (`blobs`: the drawing the browser sent to the server just before, or None). File values go
        through path(); at most MAX_LAYERS layers; each part's size is read from its header and
        refused above MAX_SKETCH_SIDE before any part is decoded. An empty canvas gives
        {"composite": None, "layers": [], ...} (prepare() then says "No image")."""
        if payload is None:
            return {"background": None, "layers": [], "composite": None}
        if not isinstance(payload, dict):
            raise ImageError(REFUSED)
        source = payload
        if blobs is not None:
            source = {"background": getattr(blobs, "background", None), "layers": getattr(blobs, "layers", None),
                      "composite": getattr(blobs, "composite", None)}
        layers = source.get("layers") or []
        if not isinstance(layers, list):
            raise ImageError(REFUSED)
        if len(layers) > MAX_LAYERS:
            raise ImageError(f"Too many layers ({len(layers)}; the sketchpad sends at most {MAX_LAYERS}).")
        composite = source.get("composite")
        parts = {"composite": composite} if composite is not None else {
            "background": source.get("background"), **{f"layer{i}": v for i, v in enumerate(layers)}}
        files = {k: io.BytesIO(v) if isinstance(v, (bytes, bytearray)) else self.path(v)
                 for k, v in parts.items() if v is not None}
        for f in files.values():   # every header first: nothing is decoded if one part is too big
            w, h = read_header(f)
            if max(w, h) > MAX_SKETCH_SIDE or w * h > MAX_SKETCH_PIXELS:
                raise ImageError(f"The drawing is too large ({w}x{h} pixels; the sketchpad's limit is "
                                 f"{MAX_SKETCH_SIDE}x{MAX_SKETCH_SIDE}).")
        arrays = {}
        for k, f in files.items():
            if isinstance(f, io.BytesIO):
                f.seek(0)
            arrays[k] = read_rgba(f)
        return {"background": arrays.get("background"), "composite": arrays.get("composite"),
                "layers": [arrays[k] for k in sorted(arrays) if k.startswith("layer")]}


def _inside(path: str, root: str) -> bool:
    try:
        return os.path.commonpath([path, root]) == root
    except ValueError:  # different drives
        return False


__all__ = ["ASSETS", "MAX_LAYERS", "MAX_SKETCH_SIDE", "REFUSED", "FileGate"]
