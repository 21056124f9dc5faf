"""The adapter between models and any front end: load what is there, predict with all, explain."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torchvision.transforms.functional as TF

from .checkpoints import CheckpointError, load_checkpoint
from .data import CLASSES
from .explain import explain as explain_one
from .explain import overlay
from .models import FashionCNN, list_models
from .preprocess import Prepared, prepare

LOW_CONFIDENCE = 0.5


@dataclass
class ModelPrediction:
    name: str
    probs: dict[str, float]
    top: str
    confidence: float
    own_map: np.ndarray | None = None      # (168, 168, 3) overlay of attention / gates, None for simple
    grad_cam: np.ndarray | None = None     # (168, 168, 3) overlay


@dataclass
class Comparison:
    prepared: Prepared
    predictions: dict[str, ModelPrediction] = field(default_factory=dict)

    @property
    def verdict(self) -> str:
        """An honest one-liner: agreement, disagreement or low confidence."""
        if not self.predictions:
            return "No model is available."
        tops = {p.top for p in self.predictions.values()}
        low = [n for n, p in self.predictions.items() if p.confidence < LOW_CONFIDENCE]
        if len(tops) > 1:
            votes = ", ".join(f"{n}: {p.top} ({p.confidence:.0%})" for n, p in self.predictions.items())
            msg = f"The models disagree ({votes}); none of them is sure of this one."
        else:
            msg = f"All models say **{tops.pop()}**."
        if low:
            msg += f" Low confidence (under {LOW_CONFIDENCE:.0%}) from {', '.join(low)}: treat the answer as a guess."
        return msg


def transform_input(x: torch.Tensor, angle: float = 0.0, hflip: bool = False, vflip: bool = False) -> torch.Tensor:
    """Rotate (degrees, counter-clockwise) and flip a prepared (N, 1, 28, 28) input, as the invariance explorer does."""
    if hflip:
        x = x.flip(-1)
    if vflip:
        x = x.flip(-2)
    if angle:
        x = TF.rotate(x, float(angle), interpolation=TF.InterpolationMode.BILINEAR)
    return x


class ModelZoo:
    """The shipped models (and any added later); a missing or broken checkpoint is recorded, not raised.

    Models are kept in eval mode with channels_last weights (converted in place): at batch 1 oneDNN's
    convolutions then run in the layout they prefer; with the wide models on the 2-core CPU the Sketch
    tab's pass took 6-7% less time and /predict's three forwards 16% less (bench/inference.py --ab).
    Predictions are the same up to float rounding."""

    def __init__(self, names=None, checkpoint_dir: str | Path | None = None, channels_last: bool = True):
        self.channels_last = channels_last
        self.models: dict[str, FashionCNN] = {}
        self.meta: dict[str, dict] = {}
        self.unavailable: dict[str, str] = {}
        for name in names or list_models():
            src = Path(checkpoint_dir) / name if checkpoint_dir else name
            try:
                ckpt = load_checkpoint(src)
            except CheckpointError as e:
                self.unavailable[name] = str(e)
                continue
            self.models[name], self.meta[name] = self._ready(ckpt.model), ckpt.meta

    def add(self, name: str, model: FashionCNN, meta: dict | None = None) -> None:
        self.models[name] = self._ready(model)
        self.meta[name] = meta or {}

    def _ready(self, model: FashionCNN) -> FashionCNN:
        model.eval()
        return model.to(memory_format=torch.channels_last) if self.channels_last else model

    @torch.inference_mode()
    def probabilities(self, x: torch.Tensor, models: dict[str, FashionCNN] | None = None) -> dict[str, np.ndarray]:
        """Softmax (N, 10) per model for a prepared batch x (N, 1, 28, 28)."""
        return {n: m(x).softmax(1).numpy() for n, m in (models or self.models).items()}

    def compare(self, image=None, angle: float = 0.0, hflip: bool = False, vflip: bool = False,
                explain: bool = True, extra: dict[str, FashionCNN] | None = None,
                prepared: Prepared | None = None) -> Comparison:
        """Prepare any image once (or take `prepared`), then every model's top classes, own map and Grad-CAM."""
        prepared = prepared or prepare(image)
        x = transform_input(prepared.tensor, angle, hflip, vflip)
        shown = (x[0, 0].clamp(0, 1).numpy() * 255).round().astype(np.uint8)
        if angle or hflip or vflip:
            prepared = Prepared(tensor=x, preview=shown, notes=prepared.notes + ["rotated/flipped by the explorer"])
        models = {**self.models, **(extra or {})}
        result = Comparison(prepared=prepared)
        probs = None if explain else self.probabilities(x, models)
        for name, model in models.items():
            if explain:  # probabilities, own map and Grad-CAM from one forward and one backward
                p, own, cam = explain_one(model, x)
            else:
                p = probs[name][0]
            pred = ModelPrediction(name=name, probs={c: float(v) for c, v in zip(CLASSES, p)},
                                   top=CLASSES[int(p.argmax())], confidence=float(p.max()))
            if explain:
                pred.own_map = overlay(shown, own) if own is not None else None
                pred.grad_cam = overlay(shown, cam)
            result.predictions[name] = pred
        return result

    def rotation_sweep(self, x: torch.Tensor, angles=range(-180, 181, 15),
                       extra: dict[str, FashionCNN] | None = None) -> dict:
        """Probability of the upright answer as a prepared input x (1, 1, 28, 28) turns: rotation invariance."""
        batch = torch.cat([transform_input(x, a) for a in angles])
        models = {**self.models, **(extra or {})}
        probs = self.probabilities(batch, models)
        out = {"angles": list(angles)}
        for name, p in probs.items():
            upright = int(p[list(angles).index(0)].argmax()) if 0 in angles else int(p[0].argmax())
            out[name] = {"class": CLASSES[upright], "prob": p[:, upright].tolist(),
                         "top": [CLASSES[i] for i in p.argmax(1)]}
        return out

    def predict_json(self, image) -> dict[str, dict[str, float]]:
        """{model: {class: probability}} for all available models: the /predict API's answer."""
        x = prepare(image).tensor
        return {n: {c: float(v) for c, v in zip(CLASSES, p[0])} for n, p in self.probabilities(x).items()}
