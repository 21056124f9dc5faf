"""What a model looks at: its own spatial maps, Grad-CAM, and heat-map overlays for display."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .models import FashionCNN, recording

# Colour scale of every heat map shown: a perceptual ramp (inferno-like), 0 = black-purple, 1 = pale yellow.
_ANCHORS = np.array([
    [0, 0, 4], [40, 11, 84], [101, 21, 110], [159, 42, 99], [212, 72, 66], [245, 125, 21], [250, 193, 39],
    [252, 255, 164]], dtype=np.float32)
COLOUR_SCALE = "0 (ignored) black → purple → orange → pale yellow 1 (most weight)"


def colormap(values: np.ndarray) -> np.ndarray:
    """(H, W) in [0, 1] -> (H, W, 3) uint8 on the ramp above."""
    v = np.clip(np.nan_to_num(values), 0, 1) * (len(_ANCHORS) - 1)
    lo = np.floor(v).astype(int).clip(0, len(_ANCHORS) - 2)
    t = (v - lo)[..., None]
    return ((1 - t) * _ANCHORS[lo] + t * _ANCHORS[lo + 1]).round().astype(np.uint8)


# every uint8 level's colour, so an overlay looks colours up instead of interpolating per pixel (the
# interpolation was a visible share of the five overlays the Sketch tab draws per answer)
_LEVEL_COLOURS = colormap(np.arange(256) / 255.0)  # (256, 3) uint8


def overlay(image28: np.ndarray, heat: np.ndarray, size: int = 168, alpha: float = 0.55) -> np.ndarray:
    """Blend a heat map (any HxW in [0, 1]) over a 28x28 grey image, upscaled to size x size RGB."""
    base = np.asarray(Image.fromarray(image28).resize((size, size), Image.NEAREST).convert("RGB"), np.float32)
    heat_big = np.asarray(Image.fromarray((np.clip(heat, 0, 1) * 255).astype(np.uint8)).resize((size, size), Image.BILINEAR))
    colour = _LEVEL_COLOURS[heat_big].astype(np.float32)  # == colormap(heat_big / 255.0)
    return (base * (1 - alpha) + colour * alpha).round().astype(np.uint8)


def explain(model: FashionCNN, x: torch.Tensor, target: int | None = None, temperature: float = 1.0):
    """One forward and one backward for x (1, 1, 28, 28): probabilities (10,) of logits / temperature
    (fmnist.calibrate), the model's own first-stage
    map (28, 28) scaled to [0, 1] or None, and Grad-CAM (7, 7) in [0, 1] for target (default: top class).

    Grad-CAM (Selvaraju et al. 2017) weighs the last stage's activation before pooling by its mean
    gradient. No hooks: activation and maps are recorded by the forward pass itself, per thread, so
    concurrent calls on one shared model are independent."""
    model.eval()
    with torch.enable_grad(), recording() as rec:
        logits = model(x)
        act = rec.activations[-1]  # (1, C, 7, 7)
        cls = int(logits.argmax(1)) if target is None else target
        (grad,) = torch.autograd.grad(logits[0, cls], act)
    maps = rec.maps
    weights = grad.mean((2, 3), keepdim=True)  # (1, C, 1, 1)
    cam = F.relu((weights * act).sum(1))[0].detach()  # (7, 7)
    top = float(cam.max())
    cam = (cam / top).numpy() if top > 0 else cam.numpy()
    return (logits.detach() / temperature).softmax(1)[0].numpy(), _unit(maps[0][0].numpy()) if maps else None, cam


def grad_cam(model: FashionCNN, x: torch.Tensor, target: int | None = None) -> np.ndarray:
    """Grad-CAM (7, 7) in [0, 1] for x (1, 1, 28, 28); see explain()."""
    return explain(model, x, target)[2]


def _unit(m: np.ndarray) -> np.ndarray:
    lo, hi = m.min(), m.max()
    return (m - lo) / (hi - lo) if hi > lo else np.zeros_like(m)
