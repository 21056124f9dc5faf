"""What a model looks at: its own spatial maps, Grad-CAM, and heat-map overlays for display."""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from PIL import Image

from .models import FashionCNN, recording

# Colour scale of every heat map shown: matplotlib's inferno (perceptually uniform, readable in grey and by
# most colour-blind eyes), 0 = black, 1 = pale yellow; looked up per uint8 level.
COLOUR_SCALE = "inferno: 0 (ignored) black → purple → orange → pale yellow 1 (most weight)"


def _inferno_levels() -> np.ndarray:
    from matplotlib import colormaps

    return (colormaps["inferno"](np.linspace(0.0, 1.0, 256))[:, :3] * 255).round().astype(np.uint8)


_LEVEL_COLOURS = _inferno_levels()  # (256, 3) uint8: every uint8 level's colour


def colormap(values: np.ndarray) -> np.ndarray:
    """(H, W) in [0, 1] -> (H, W, 3) uint8: inferno, at 256 levels."""
    levels = (np.clip(np.nan_to_num(values), 0, 1) * 255).round().astype(np.uint8)
    return _LEVEL_COLOURS[levels]


def colour_bar(width: int = 336, height: int = 64) -> np.ndarray:
    """A small legend of the maps' colours, (height, width, 3) uint8: the inferno bar from 0 to 1 with its
    two ends named, drawn by matplotlib."""
    from matplotlib.colorbar import ColorbarBase
    from matplotlib.colors import Normalize
    from matplotlib.figure import Figure
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib import colormaps

    fig = Figure(figsize=(width / 100, height / 100), dpi=100)
    canvas = FigureCanvasAgg(fig)
    ax = fig.add_axes((0.03, 0.55, 0.94, 0.35))
    bar = ColorbarBase(ax, cmap=colormaps["inferno"], norm=Normalize(0, 1), orientation="horizontal")
    bar.set_ticks([0, 0.5, 1])
    bar.set_ticklabels(["0: ignored", "0.5", "1: most weight"])
    bar.ax.tick_params(labelsize=8)
    labels = bar.ax.get_xticklabels()
    labels[0].set_horizontalalignment("left")    # the end labels stay inside the picture
    labels[-1].set_horizontalalignment("right")
    canvas.draw()
    return np.asarray(canvas.buffer_rgba())[..., :3].copy()


def overlay(image28: np.ndarray, heat: np.ndarray, size: int = 168, alpha: float = 0.55) -> np.ndarray:
    """Blend a heat map (any HxW in [0, 1]) over a 28x28 grey image, upscaled to size x size RGB."""
    base = np.asarray(Image.fromarray(image28).resize((size, size), Image.NEAREST).convert("RGB"), np.float32)
    heat_big = np.asarray(Image.fromarray((np.clip(heat, 0, 1) * 255).astype(np.uint8)).resize((size, size), Image.BILINEAR))
    colour = _LEVEL_COLOURS[heat_big].astype(np.float32)  # == colormap(heat_big / 255.0)
    return (base * (1 - alpha) + colour * alpha).round().astype(np.uint8)


def explain(model: FashionCNN, x: torch.Tensor, target: int | None = None, temperature: float = 1.0,
            with_features: bool = False):
    """One forward and one backward for x (1, 1, 28, 28): probabilities (10,) of logits / temperature
    (fmnist.calibrate), the model's own first-stage
    map (28, 28) scaled to [0, 1] or None, and Grad-CAM (7, 7) in [0, 1] for target (default: top class).

    Grad-CAM (Selvaraju et al. 2017) weighs the last stage's activation before pooling by its mean
    gradient. No hooks: activation and maps are recorded by the forward pass itself, per thread, so
    concurrent calls on one shared model are independent. with_features: also the pooled features the
    classifier read (C,), for the garment-or-not head, as a fourth value."""
    model.eval()
    with torch.enable_grad(), recording() as rec:
        features = model.embed(x)
        logits = model.head(features)
        act = rec.activations[-1]  # (1, C, 7, 7)
        cls = int(logits.argmax(1)) if target is None else target
        (grad,) = torch.autograd.grad(logits[0, cls], act)
    maps = rec.maps
    weights = grad.mean((2, 3), keepdim=True)  # (1, C, 1, 1)
    cam = F.relu((weights * act).sum(1))[0].detach()  # (7, 7)
    top = float(cam.max())
    cam = (cam / top).numpy() if top > 0 else cam.numpy()
    out = ((logits.detach() / temperature).softmax(1)[0].numpy(), _unit(maps[0][0].numpy()) if maps else None, cam)
    return out + (features.detach()[0].numpy(),) if with_features else out


def grad_cam(model: FashionCNN, x: torch.Tensor, target: int | None = None) -> np.ndarray:
    """Grad-CAM (7, 7) in [0, 1] for x (1, 1, 28, 28); see explain()."""
    return explain(model, x, target)[2]


def _unit(m: np.ndarray) -> np.ndarray:
    lo, hi = m.min(), m.max()
    return (m - lo) / (hi - lo) if hi > lo else np.zeros_like(m)
