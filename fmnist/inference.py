"""The adapter between models and any front end: load what is there, predict with all, explain."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torchvision.transforms.functional as TF

from .checkpoints import DRAWING_DIR, CheckpointError, load_checkpoint, shipped_names
from .data import CLASSES
from .explain import explain as explain_one
from .explain import overlay
from .garment_head import GarmentHead, features
from .models import FashionCNN, list_models
from .preprocess import Prepared, prepare

LOW_CONFIDENCE = 0.5
# "Does not look like a garment". The shipped rule: each drawing-aware model carries a small
# garment-or-not head (fmnist.garment_head: logistic regression on its pooled features); where their mean
# log-odds falls under GARMENT_THRESHOLD, the app says so. bench/open_set.py compared it with the
# calibrated top-class probability (MSP), the energy score and the max logit: it flags the most
# non-garments where 5% of the garments are flagged (docs/drawings.md). The threshold was chosen by
# tools/tune_garment_flag.py --score head --max-garments 0.02 --max-photos 0.005 on data of the training
# side (the second half of the validation split: 1.7% of its drawings v11, 2.0% of its pictures in other
# styles v5, 0.2% of its photos flagged; 97.7% of unseen non-garments v6), for heads fitted with
# garment_head.L2 (1e-4: it flagged the most unseen non-garments there). The bound on garments was 1%
# until the pictures gained the shapes people draw (v2: bags with handles, strappy sandals), when 1% was
# seen to leave a thick-brush house a bag (docs/drawings.md gives the figures at both bounds). A model
# without a head (a visitor's taught copy) is judged by the probabilities' rule: the mean calibrated
# probability of one class under GARMENT_CONFIDENCE (chosen the same way with --score msp
# --max-garments 0.05 --max-photos 0.01: 3.4% / 1.9% / 1.0%; 90.8% of non-garments v6).
GARMENT_CONFIDENCE = 0.499
GARMENT_THRESHOLD = -0.052
DRAWING_CHECKPOINTS = DRAWING_DIR  # the drawing-aware models the Sketch tab answers with
HOW_TO_DRAW = ("Draw the whole outline of one garment, large: a T-shirt, trousers, a dress, a shoe seen "
               "from the side, a bag with its handle.")


@dataclass
class ModelPrediction:
    name: str
    probs: dict[str, float]
    top: str
    confidence: float
    own_map: np.ndarray | None = None      # (168, 168, 3) overlay of attention / gates, None for simple
    grad_cam: np.ndarray | None = None     # (168, 168, 3) overlay
    garment_logit: float | None = None     # its garment-or-not head's log-odds, where it has a head


@dataclass
class Comparison:
    prepared: Prepared
    predictions: dict[str, ModelPrediction] = field(default_factory=dict)

    @property
    def looks_like_a_garment(self) -> bool:
        """looks_like_garments() for this one input."""
        if not self.predictions:
            return False
        probs = {n: np.array([[p.probs[c] for c in CLASSES]]) for n, p in self.predictions.items()}
        heads = {n: np.array([p.garment_logit]) for n, p in self.predictions.items() if p.garment_logit is not None}
        return bool(looks_like_garments(probs, heads=heads)[0])

    @property
    def mean_probs(self) -> dict[str, float]:
        """Each class's calibrated probability averaged over the models ({} without models)."""
        preds = list(self.predictions.values())
        return {c: float(np.mean([p.probs[c] for p in preds])) for c in CLASSES} if preds else {}

    @property
    def verdict(self) -> str:
        """An honest one-liner: the answer (and who disagrees), or that this does not look like a garment
        and what to do."""
        if not self.predictions:
            return "No model is available."
        votes = ", ".join(f"{n}: {p.top} ({p.confidence:.0%})" for n, p in self.predictions.items())
        tops = {p.top for p in self.predictions.values()}
        if not self.looks_like_a_garment:
            if len(tops) > 1:
                why = "the models disagree"
            elif max(self.mean_probs.values()) < GARMENT_CONFIDENCE:
                why = "none of the models is sure"
            else:  # sure of a class, but their garment-or-not check says it is unlike any garment they know
                why = "it is unlike the garments they learned, though each would guess"
            hint = HOW_TO_DRAW if self.prepared.drawing else "Try a photo of one garment on a plain background."
            return f"**This does not look like a garment** to the models ({why}: {votes}). {hint}"
        if len(tops) > 1:
            mean = self.mean_probs
            best = max(mean, key=mean.get)
            return (f"Most likely **{best}** ({mean[best]:.0%} on average), but the models disagree: {votes}. "
                    "Extra details help tell similar garments apart (a coat's opening, a shirt's collar and buttons).")
        msg = f"All models say **{next(iter(tops))}**."
        low = [n for n, p in self.predictions.items() if p.confidence < LOW_CONFIDENCE]
        if low:
            msg += f" Low confidence (under {LOW_CONFIDENCE:.0%}) from {', '.join(low)}: treat the answer as a guess."
        return msg


GARMENT_SCORES = ("msp", "energy", "maxlogit", "head")  # what bench/open_set.py compares


def garment_score(probs: dict[str, np.ndarray], logits: dict[str, np.ndarray] | None = None,
                  temperatures: dict[str, float] | None = None, kind: str = "msp",
                  heads: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """Per input, how much it looks like a garment (higher: more), from each model's (N, 10) calibrated
    probabilities (raw logits and head log-odds for the scores that need them), combined over the models:
    msp: the mean calibrated probability's top class (Hendrycks & Gimpel 2017);
    energy: the mean of T * logsumexp(logits / T) with each model's temperature (Liu et al. 2020);
    maxlogit: the mean of the top logit over T (Hendrycks et al. 2022);
    head: the mean log-odds of the models' garment-or-not heads (fmnist.garment_head)."""
    if kind == "msp":
        return np.stack(list(probs.values())).mean(0).max(1)
    if kind == "head":
        if not heads:
            raise ValueError("the head score needs the models' garment-or-not heads")
        return np.stack([np.asarray(h, np.float64) for h in heads.values()]).mean(0)
    if logits is None:
        raise ValueError(f"the {kind} score needs the models' logits")
    t = {n: float((temperatures or {}).get(n, 1.0)) for n in logits}
    if kind == "energy":
        return np.stack([t[n] * torch.from_numpy(np.asarray(l, np.float32) / t[n]).logsumexp(1).numpy()
                         for n, l in logits.items()]).mean(0)
    if kind == "maxlogit":
        return np.stack([np.asarray(l).max(1) / t[n] for n, l in logits.items()]).mean(0)
    raise ValueError(f"unknown garment score {kind!r}; choose from {GARMENT_SCORES}")


def looks_like_garments(probs: dict[str, np.ndarray], threshold: float | None = None,
                        heads: dict[str, np.ndarray] | None = None) -> np.ndarray:
    """Per input, whether the app names a garment rather than saying it does not look like one. With the
    models' garment-or-not heads (`heads`, each model's (N,) log-odds): their mean
    reaches GARMENT_THRESHOLD. Without: averaged over the models, one class's calibrated probability
    reaches GARMENT_CONFIDENCE (where none does, the models are unsure or split between classes).
    bench/open_set.py and bench/drawings.py count the same; tools/tune_garment_flag.py chose the
    thresholds on held-out data (it tries others through `threshold`)."""
    if heads:
        return garment_score(probs, kind="head", heads=heads) >= (GARMENT_THRESHOLD if threshold is None else threshold)
    return garment_score(probs) >= (GARMENT_CONFIDENCE if threshold is None else threshold)


_ROOT = str(Path(__file__).resolve().parent.parent) + "/"


def _without_server_paths(message: str) -> str:
    """A message shown to visitors, with the project's folder on this server left out of any path."""
    return message.replace(_ROOT, "")


def drawing_models_shipped() -> bool:
    return any(n.startswith("drawings/") for n in shipped_names())


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
    convolutions then run in the layout they prefer, which makes the Sketch tab's pass and /predict
    faster (bench/inference.py --ab; docs/benchmarks.md). Predictions are the same up to float rounding."""

    def __init__(self, names=None, checkpoint_dir: str | Path | None = None, channels_last: bool = True):
        self.channels_last = channels_last
        self.models: dict[str, FashionCNN] = {}
        self.meta: dict[str, dict] = {}
        self.temperature: dict[str, float] = {}  # from each checkpoint's calibration; 1 where it has none
        self.heads: dict[str, GarmentHead] = {}  # garment-or-not heads, where the checkpoint has one
        self.unavailable: dict[str, str] = {}
        for name in names or list_models():
            src = Path(checkpoint_dir) / name if checkpoint_dir else name
            try:
                ckpt = load_checkpoint(src)
            except CheckpointError as e:
                self.unavailable[name] = _without_server_paths(str(e))
                continue
            self.add(name, ckpt.model, ckpt.meta)

    @classmethod
    def for_drawings(cls) -> "ModelZoo":
        """The drawing-aware models where they are shipped, else the study's."""
        return cls(checkpoint_dir=DRAWING_CHECKPOINTS if drawing_models_shipped() else None)

    def add(self, name: str, model: FashionCNN, meta: dict | None = None) -> None:
        """Answer with model under name from now on (a model added later is no longer unavailable)."""
        self.models[name] = self._ready(model)
        self.unavailable.pop(name, None)
        self.meta[name] = meta or {}
        t = float((self.meta[name].get("calibration") or {}).get("temperature") or 1.0)
        self.temperature[name] = t if np.isfinite(t) and t > 0 else 1.0
        head = GarmentHead.from_meta(self.meta[name].get("garment_head"), model.head[-1].in_features)
        if head is not None:
            self.heads[name] = head
        else:
            self.heads.pop(name, None)

    def _ready(self, model: FashionCNN) -> FashionCNN:
        model.eval()
        return model.to(memory_format=torch.channels_last) if self.channels_last else model

    @torch.inference_mode()
    def outputs(self, x: torch.Tensor, models: dict[str, FashionCNN] | None = None,
                batch: int = 2000) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
        """Raw logits (N, 10) per model and, for the models with a garment-or-not head, its log-odds (N,),
        from one pass over a prepared batch x (N, 1, 28, 28), in chunks of `batch`."""
        logits, heads = {}, {}
        for n, m in (models or self.models).items():
            feats = features(m, x, batch)
            logits[n] = m.head(torch.from_numpy(feats)).numpy()
            if self._has_head(n, m):
                heads[n] = self.heads[n].logit(feats)
        return logits, heads

    def logits(self, x: torch.Tensor, models: dict[str, FashionCNN] | None = None) -> dict[str, np.ndarray]:
        """Raw logits (N, 10) per model for a prepared batch x (N, 1, 28, 28)."""
        return self.outputs(x, models)[0]

    def probabilities(self, x: torch.Tensor, models: dict[str, FashionCNN] | None = None) -> dict[str, np.ndarray]:
        """Calibrated softmax (N, 10) per model for a prepared batch x (N, 1, 28, 28)."""
        return self.calibrated(self.logits(x, models))

    def _has_head(self, name: str, model: FashionCNN) -> bool:
        """Whether model is the one whose garment-or-not head is stored under name: a visitor's taught copy
        answering under the same name has moved its features, so the probabilities' rule judges it."""
        return name in self.heads and self.models.get(name) is model

    def calibrated(self, logits: dict[str, np.ndarray]) -> dict[str, np.ndarray]:
        """Each model's logits divided by its temperature, softmaxed."""
        return {n: torch.from_numpy(l).div(self.temperature.get(n, 1.0)).softmax(1).numpy() for n, l in logits.items()}

    def compare(self, image=None, angle: float = 0.0, hflip: bool = False, vflip: bool = False,
                explain: bool = True, extra: dict[str, FashionCNN] | None = None,
                prepared: Prepared | None = None) -> Comparison:
        """Prepare any image once (or take `prepared`), then every model's top classes, own map and Grad-CAM."""
        prepared = prepared or prepare(image)
        x = transform_input(prepared.tensor, angle, hflip, vflip)
        shown = (x[0, 0].clamp(0, 1).numpy() * 255).round().astype(np.uint8)
        if angle or hflip or vflip:
            prepared = Prepared(tensor=x, preview=shown, notes=prepared.notes + ["rotated/flipped by the explorer"],
                                drawing=prepared.drawing)
        models = {**self.models, **(extra or {})}
        result = Comparison(prepared=prepared)
        if not explain:
            logits, heads = self.outputs(x, models)
            probs = self.calibrated(logits)
        for name, model in models.items():
            if explain:  # probabilities, own map, Grad-CAM and features from one forward and one backward
                p, own, cam, feats = explain_one(model, x, temperature=self.temperature.get(name, 1.0), with_features=True)
                head = self.heads[name].logit(feats[None])[0] if self._has_head(name, model) else None
            else:
                p, head = probs[name][0], (heads[name][0] if name in heads else None)
            pred = ModelPrediction(name=name, probs={c: float(v) for c, v in zip(CLASSES, p)},
                                   top=CLASSES[int(p.argmax())], confidence=float(p.max()),
                                   garment_logit=None if head is None else float(head))
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

    def verdict_json(self, image) -> dict:
        """The /verdict API's answer: what the Sketch tab says, as data. `garment` is False where the app
        says "does not look like a garment" (then `answer` is None); `answer` is the class with the highest
        mean calibrated probability; `verdict` is the tab's sentence (Markdown); per model its top class
        and probability; `drawing` says whether the input was read as a drawing."""
        result = self.compare(image, explain=False)
        garment = result.looks_like_a_garment
        mean = result.mean_probs
        best = max(mean, key=mean.get) if mean else None
        return {"garment": garment, "answer": best if garment else None,
                "confidence": mean[best] if best else 0.0, "verdict": result.verdict,
                "drawing": result.prepared.drawing,
                "models": {n: {"top": p.top, "confidence": p.confidence} for n, p in result.predictions.items()}}
