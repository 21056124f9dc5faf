"""Temperature scaling (Guo et al., "On Calibration of Modern Neural Networks", 2017): one number per
model, fitted on held-out images, that divides its logits so that its probabilities mean what they say.

The models are fitted on the validation split's photos and a drawing of each (fmnist.sketches), since
the app shows probabilities for both. The answer stays the same (dividing logits keeps their order);
only how sure the model says it is changes, which the app's "not a garment" verdict relies on.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from .data import to_float


@torch.no_grad()
def logits_of(model: torch.nn.Module, images: torch.Tensor, batch: int = 1000) -> torch.Tensor:
    """fp32 logits (N, 10) of uint8 images (N, 28, 28), in eval mode."""
    model.eval()
    return torch.cat([model(to_float(images[i:i + batch])).float() for i in range(0, len(images), batch)])


def nll(logits: torch.Tensor, labels: torch.Tensor, temperature: float = 1.0) -> float:
    return F.cross_entropy(logits / temperature, labels).item()


def expected_calibration_error(logits: torch.Tensor, labels: torch.Tensor, temperature: float = 1.0,
                               bins: int = 15) -> float:
    """|confidence - accuracy| averaged over equal-width confidence bins, weighted by their size."""
    p = (logits / temperature).softmax(1)
    conf, pred = p.max(1)
    right = (pred == labels).float()
    edges = torch.linspace(0, 1, bins + 1)
    ece = 0.0
    for lo, hi in zip(edges[:-1], edges[1:]):
        inside = (conf > lo) & (conf <= hi)
        if inside.any():
            ece += inside.float().mean().item() * abs(conf[inside].mean().item() - right[inside].mean().item())
    return ece


def fit_temperature(logits: torch.Tensor, labels: torch.Tensor) -> float:
    """The temperature T > 0 that minimises the cross-entropy of softmax(logits / T) on labels."""
    logits, labels = logits.detach().float().clone(), labels.detach().clone()  # usable by autograd
    log_t = torch.zeros((), requires_grad=True)
    opt = torch.optim.LBFGS([log_t], lr=0.1, max_iter=200, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = F.cross_entropy(logits / log_t.exp(), labels)
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    t = float(log_t.detach().exp())
    return t if np.isfinite(t) and t > 0 else 1.0


def calibrate(model: torch.nn.Module, images: torch.Tensor, labels: torch.Tensor,
              drawings: torch.Tensor | None = None) -> dict:
    """Fit a temperature on images (and drawings of the same images, same labels); the figures to store
    in the checkpoint's metadata as ``calibration``."""
    logits = logits_of(model, images)
    y = labels
    if drawings is not None:
        logits = torch.cat([logits, logits_of(model, drawings)])
        y = torch.cat([labels, labels])
    t = fit_temperature(logits, y)
    return {"temperature": t, "images": len(y), "with_drawings": drawings is not None,
            "nll_before": nll(logits, y), "nll_after": nll(logits, y, t),
            "ece_before": expected_calibration_error(logits, y), "ece_after": expected_calibration_error(logits, y, t)}
