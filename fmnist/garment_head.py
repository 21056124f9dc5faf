"""A small garment-or-not head: logistic regression on each model's pooled features (the 256 numbers its
classifier reads), fitted apart from the model, stored in the checkpoint's metadata.

Why: the calibrated top-class probability (MSP) can only say "unsure between classes"; a made-up object
with a closed outline often makes one class (Bag) sure. A head that sees the whole feature vector learns
what garments share that non-garments lack. It is fitted on data of the training side the model never
trained on (`tools/fit_garment_head.py`: half of the validation split's photos, their drawings and their
pictures in other styles as garments; non-garments from fmnist.sketches.pictures with an unused seed),
and its threshold chosen on the other half with another seed (`tools/tune_garment_flag.py --score head`).
bench/open_set.py compares it with MSP, energy and max-logit on pictures neither ever saw.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch


@dataclass
class GarmentHead:
    mean: np.ndarray    # (C,) feature standardisation
    std: np.ndarray     # (C,)
    weight: np.ndarray  # (C,)
    bias: float

    def logit(self, features: np.ndarray) -> np.ndarray:
        """(N, C) pooled features -> (N,) log-odds of "a garment"."""
        return ((np.asarray(features, np.float32) - self.mean) / self.std) @ self.weight + self.bias

    def to_meta(self) -> dict:
        return {"mean": self.mean.tolist(), "std": self.std.tolist(), "weight": self.weight.tolist(),
                "bias": float(self.bias)}

    @classmethod
    def from_meta(cls, d, channels: int) -> "GarmentHead | None":
        """The head stored in a checkpoint's metadata, or None where there is none or it does not fit the
        model (wrong length, not finite, zero spread): the app then falls back to the probabilities' rule."""
        if not isinstance(d, dict):
            return None
        try:
            arrays = [np.asarray(d[k], np.float32) for k in ("mean", "std", "weight")]
            bias = float(d["bias"])
        except (KeyError, TypeError, ValueError):
            return None
        if any(a.shape != (channels,) or not np.isfinite(a).all() for a in arrays) or not np.isfinite(bias):
            return None
        if (arrays[1] <= 0).any():
            return None
        return cls(*arrays, bias)


@torch.inference_mode()
def features(model, x: torch.Tensor, batch: int = 2000) -> np.ndarray:
    """Pooled features (N, C) of a prepared batch (N, 1, 28, 28)."""
    model.eval()
    return torch.cat([model.embed(x[i:i + batch]) for i in range(0, len(x), batch)]).float().numpy()


# The penalty's weight. 1e-4 since the sixth open-set round: of 1e-1, 1e-2, 1e-3 and 1e-4 it flagged the most
# held-out non-garments at tools/tune_garment_flag.py's 2% rule (training-side data); earlier rounds used 1e-2.
L2 = 1e-4


def fit(garments: np.ndarray, others: np.ndarray, l2: float = L2, steps: int = 200) -> GarmentHead:
    """Logistic regression (L2-penalised, classes weighted equally) of garments (N, C) against others (M, C)."""
    x = np.concatenate([garments, others]).astype(np.float32)
    mean, std = x.mean(0), x.std(0) + 1e-3
    xs = torch.from_numpy((x - mean) / std)
    y = torch.cat([torch.ones(len(garments)), torch.zeros(len(others))])
    w_each = torch.where(y > 0, 0.5 / len(garments), 0.5 / len(others))
    w = torch.zeros(x.shape[1], requires_grad=True)
    b = torch.zeros(1, requires_grad=True)
    opt = torch.optim.LBFGS([w, b], max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        opt.zero_grad()
        loss = (torch.nn.functional.binary_cross_entropy_with_logits(xs @ w + b, y, reduction="none") * w_each).sum() \
            + l2 * (w * w).sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)
    return GarmentHead(mean, std, w.detach().numpy().copy(), float(b.detach()))
