"""Teach it: a visitor's corrections ("it's a Coat") fine-tune the visitor's own copies of the drawing-aware
models, in about a minute on a 2-core CPU, without forgetting the rest.

Each taught drawing is shown in many augmented variants (small turns, scales, shifts, mirror images,
thicker or thinner strokes), an eighth of each batch; the rest is replay: Fashion-MNIST training photos
and the training drawings made from them (`sketches.drawing_bank`), on which the copy is held to what
the model answered before (distillation, as in "Learning without Forgetting", Li & Hoiem 2016), so it
keeps what it knew. Only the last stage and the head learn; BatchNorm statistics stay frozen (a few dozen
steps of mostly new images would move them); AdamW at a small rate.
A fixed check (500 Fashion-MNIST test images shipped with the app, `views.load_test_sample`) and the
visitor's own examples are scored before and after, so the app can say what the teaching changed.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Iterator

import numpy as np
import torch
import torch.nn as nn
import torch.nn.functional as F

from .data import CLASSES, to_float
from .hardware import cpu_supports_bf16
from .models import FashionCNN

MAX_EXAMPLES = 24     # a visitor's examples kept at most (the oldest go first)
STEPS = 20            # steps per model
BATCH = 64            # a share of taught variants (SHARE), the rest replay
SHARE = 0.125
LR = 1e-4
TUNE = "last"         # what learns: "last" (the last stage and the head) or "all"
REPLAY_IMAGES = 2000  # Fashion-MNIST training photos for replay (and one drawing of each)


@dataclass
class Example:
    image: np.ndarray   # (28, 28) uint8, as the models saw it
    label: int

    @property
    def name(self) -> str:
        return CLASSES[self.label]


@dataclass
class TeachReport:
    """Accuracy before and after, per model: on the visitor's examples and on the fixed check."""
    own_before: dict[str, float] = field(default_factory=dict)
    own_after: dict[str, float] = field(default_factory=dict)
    check_before: dict[str, float] = field(default_factory=dict)
    check_after: dict[str, float] = field(default_factory=dict)
    seconds: float = 0.0

    def forgot(self, limit: float = 0.005) -> list[str]:
        """Models whose check accuracy dropped by more than `limit` (half a point)."""
        return [n for n in self.check_after if self.check_before[n] - self.check_after[n] > limit]


def add_example(examples: list[Example], image: np.ndarray, label: int) -> list[Example]:
    """A new list with the drawing added (at most MAX_EXAMPLES: the oldest go)."""
    if not 0 <= int(label) < len(CLASSES):
        raise ValueError(f"the class must be one of {', '.join(CLASSES)}")
    image = np.asarray(image)
    if image.shape != (28, 28):
        raise ValueError("an example is a 28x28 drawing as the models see it")
    return (list(examples) + [Example(image.astype(np.uint8), int(label))])[-MAX_EXAMPLES:]


def variants(images: torch.Tensor, k: int, g: torch.Generator) -> torch.Tensor:
    """k random variants of each (N, 1, 28, 28) image in [0, 1]: turned up to ±12°, scaled 0.88-1.1,
    shifted up to 2 px, mirrored half the time, strokes thickened (a third) or thinned (a sixth)."""
    x = images.repeat_interleave(k, 0)
    n = len(x)
    angle = (torch.rand(n, generator=g) * 2 - 1) * math.radians(12)
    scale = 0.88 + torch.rand(n, generator=g) * 0.22
    flip = torch.where(torch.rand(n, generator=g) < 0.5, -1.0, 1.0)
    shift = (torch.rand(n, 2, generator=g) * 2 - 1) * (2 / 14)
    cos, sin = torch.cos(angle) / scale, torch.sin(angle) / scale
    theta = torch.stack([torch.stack([cos * flip, -sin, shift[:, 0]], 1),
                         torch.stack([sin * flip, cos, shift[:, 1]], 1)], 1)
    grid = F.affine_grid(theta, list(x.shape), align_corners=False)
    x = F.grid_sample(x, grid, align_corners=False, padding_mode="zeros")
    stroke = torch.rand(n, generator=g)
    thick = F.max_pool2d(x, 3, 1, 1)
    thin = -F.max_pool2d(-x, 3, 1, 1)
    x = torch.where((stroke < 1 / 3)[:, None, None, None], thick, x)
    return torch.where((stroke > 5 / 6)[:, None, None, None], thin, x).clamp(0, 1)


def replay_set(ds, n: int = REPLAY_IMAGES, seed: int = 0) -> tuple[torch.Tensor, torch.Tensor]:
    """n Fashion-MNIST training photos and one drawing of each (cached on disk after the first time):
    (2n, 1, 28, 28) in [0, 1] and their labels."""
    from .sketches import drawing_bank

    idx = torch.from_numpy(np.random.default_rng(seed).choice(len(ds.train_labels), n, replace=False))
    images, labels = ds.train_images[idx], ds.train_labels[idx]
    drawings = drawing_bank(images, seed=seed, labels=labels)
    return to_float(torch.cat([images, drawings])), torch.cat([labels, labels])


@torch.inference_mode()
def accuracy(model: nn.Module, x: torch.Tensor, y: torch.Tensor) -> float:
    if len(x) == 0:
        return float("nan")
    model.eval()
    return float((model(x).argmax(1) == y).float().mean())


def _freeze_batch_norm(model: nn.Module) -> None:
    for m in model.modules():
        if isinstance(m, nn.modules.batchnorm._BatchNorm):
            m.eval()


def _forward(model: FashionCNN, x: torch.Tensor, tune: str) -> torch.Tensor:
    """Logits; with tune="last" the stages before the last run without gradients (they do not learn)."""
    if tune == "all":
        return model(x)
    with torch.no_grad():
        x = (x - model.mean) / model.std
        for stage in model.stages[:-1]:
            x = stage(x)
    return model.head(model.stages[-1](x).mean((2, 3), keepdim=True))


def fine_tune(models: dict[str, FashionCNN], examples: list[Example], replay: tuple[torch.Tensor, torch.Tensor],
              check: tuple[torch.Tensor, torch.Tensor], steps: int = STEPS, lr: float = LR, seed: int = 0,
              stop=None, share: float = SHARE, tune: str = TUNE) -> Iterator[dict]:
    """Fine-tune a copy of each model on the examples (their variants) mixed with replay; the models given
    are never changed. Yields {"event": "step", "model", "step", "steps", "loss", "progress"} and, per model,
    {"event": "model", "name", "model"}; last {"event": "end", "models", "report"}. A set `stop` (an object
    with is_set()) ends the current model's training early; the copies made so far are returned."""
    if not examples:
        raise ValueError("Add at least one example first: say what a drawing really is.")
    with torch.random.fork_rng():   # dropout's draws, repeatable for a seed, the caller's generator untouched
        torch.manual_seed(seed)
        yield from _fine_tune(models, examples, replay, check, steps, lr, seed, stop, share, tune)


def _fine_tune(models, examples, replay, check, steps, lr, seed, stop, share, tune) -> Iterator[dict]:
    t0, g = time.monotonic(), torch.Generator().manual_seed(seed)
    own_x = torch.from_numpy(np.stack([e.image for e in examples]).astype(np.float32) / 255)[:, None]
    own_y = torch.tensor([e.label for e in examples])
    report, taught = TeachReport(), {}
    bf16 = cpu_supports_bf16()
    for k, (name, base) in enumerate(models.items()):
        model = copy.deepcopy(base).float()
        report.own_before[name], report.check_before[name] = accuracy(model, own_x, own_y), accuracy(model, *check)
        learning = list(model.parameters()) if tune == "all" else [*model.stages[-1].parameters(), *model.head.parameters()]
        opt = torch.optim.AdamW(learning, lr=lr, weight_decay=0.01)
        taught_n = max(1, round(BATCH * share))
        for step in range(steps):
            if stop is not None and stop.is_set():
                break
            model.train()
            _freeze_batch_norm(model)
            pick = torch.randint(0, len(own_x), (taught_n,), generator=g)
            xs = variants(own_x[pick], 1, g)
            r = torch.randint(0, len(replay[0]), (BATCH - len(xs),), generator=g)
            x = torch.cat([xs, replay[0][r]])
            with torch.autocast("cpu", dtype=torch.bfloat16, enabled=bf16):
                logits = _forward(model, x, tune).float()
                with torch.no_grad():   # what the model answered before: the replay keeps to it
                    before = base(replay[0][r]).float()
            loss = (F.cross_entropy(logits[:len(xs)], own_y[pick]) * share
                    + F.kl_div(F.log_softmax(logits[len(xs):], 1), F.log_softmax(before, 1), log_target=True,
                               reduction="batchmean") * (1 - share))
            opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            yield {"event": "step", "model": name, "step": step + 1, "steps": steps, "loss": loss.item(),
                   "progress": (k + (step + 1) / steps) / len(models)}
        model.eval()
        report.own_after[name], report.check_after[name] = accuracy(model, own_x, own_y), accuracy(model, *check)
        taught[name] = model
        yield {"event": "model", "name": name, "model": model}
    report.seconds = time.monotonic() - t0
    yield {"event": "end", "models": taught, "report": report}


def report_markdown(report: TeachReport, n_examples: int) -> str:
    """What the teaching changed, in a table, and whether the models forgot anything."""
    lines = [f"**Taught on your {n_examples} example(s) in {report.seconds:.0f} s.**", "",
             "| model | your examples: before → after | Fashion-MNIST check (500 test images): before → after |",
             "|---|---|---|"]
    for n in report.own_after:
        lines.append(f"| {n} | {report.own_before[n]:.0%} → **{report.own_after[n]:.0%}** | "
                     f"{report.check_before[n]:.1%} → {report.check_after[n]:.1%} |")
    forgot = report.forgot()
    lines.append("")
    lines.append(f"⚠️ The check dropped by more than half a point for {', '.join(forgot)}: these copies forgot "
                 "some of what they knew." if forgot else
                 "The check moved by half a point or less: nothing measurable was forgotten.")
    return "\n".join(lines)
