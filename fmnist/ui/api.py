"""The app's public API, also served as MCP tools: /predict and /verdict take one image file.

A file from a client (or an MCP tool call: a URL Gradio turned into a file value) reaches these handlers
unopened (preprocess=False) and passes the same gate as every upload: only files in Gradio's upload cache
or the app's assets are read, whatever path the caller names."""
from __future__ import annotations

import gradio as gr

from .. import serving
from ..gate import FileGate
from ..images import ImageError
from ..inference import ModelZoo


def predict(zoo: ModelZoo, gate: FileGate, image):
    """Classify a picture of a garment (a photo or a drawing) with each of the three CNNs trained on
    Fashion-MNIST (SimpleCNN, SpatialAttentionCNN, GatedCNN).

    Args:
        image: the picture: a PNG, JPEG, GIF, WebP or BMP file, uploaded to this app first.

    Returns:
        {model: {class: probability}} for every model, over the ten classes T-shirt/top, Trouser,
        Pullover, Dress, Coat, Sandal, Shirt, Sneaker, Bag, Ankle boot.
    """
    return zoo.predict_json(gate.path(image))


def verdict(zoo: ModelZoo, gate: FileGate, image):
    """What garment a picture shows, or that it does not look like a garment, as the app's Sketch tab
    says it: the three models' calibrated answers combined.

    Args:
        image: the picture: a PNG, JPEG, GIF, WebP or BMP file, uploaded to this app first.

    Returns:
        {garment, answer, confidence, verdict, drawing, models: {model: {top, confidence}}}; answer is
        None where the picture does not look like a garment, and verdict says it in words.
    """
    return zoo.verdict_json(gate.path(image))


def as_endpoint(fn, zoo: ModelZoo, gate: FileGate):
    """fn(zoo, gate, image) as a handler of one file, run as image work (the serving threads), with a file
    that is not a usable image answered by a gr.Error that says why. Name and docstring are kept: Gradio
    makes the MCP tool's name and description from them."""
    def endpoint(image):
        try:
            return serving.image_work(fn, zoo, gate, image)
        except ImageError as e:
            raise gr.Error(str(e))
    endpoint.__name__, endpoint.__qualname__, endpoint.__doc__ = fn.__name__, fn.__qualname__, fn.__doc__
    return endpoint


def api_endpoints(zoo: ModelZoo, gate: FileGate) -> None:
    """/predict and /verdict: hidden components, public endpoints (and MCP tools)."""
    for fn in (predict, verdict):
        with gr.Row(visible=False):
            file, out, button = gr.File(label="image"), gr.JSON(), gr.Button(fn.__name__)
        # preprocess=False: the client's file value reaches the gate as sent
        button.click(as_endpoint(fn, zoo, gate), file, out, api_name=fn.__name__, preprocess=False,
                     concurrency_limit=serving.IMAGE_WORKERS, concurrency_id=serving.IMAGE_POOL)
