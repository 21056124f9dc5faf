"""Training as a generator of plain-dict events; the CLI, the app and TensorBoard only listen.

    for event in fit(TrainConfig(arch="sa", epochs=5)):
        if event["event"] == "epoch": print(event["val_acc"])
    result = event["result"]          # the last event is always {"event": "end", ...}

The run in parts: ``_set_up`` (device, precision, data, model, kernels, optimizer), ``_train_one_epoch``
(yields step events), ``_validate`` (the epoch event, the best weights kept) and ``_finish`` (the end
event with the result); ``_Run.progress`` is the one measure of how far a run is.

Stopping: pass ``stop`` (a threading.Event or any object with ``is_set()``); training ends at the next
step and the end event carries a valid model labelled ``status="stopped"``.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import dataclass, field
from typing import Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import augment as aug
from . import accel, sketches
from .data import Split, load_fashion_mnist, make_split, to_float
from .evaluate import evaluate_model, predict_proba
from .accel import FlatParameters
from .config import SCHEDULES, TrainConfig
from .hardware import auto as _auto
from .hardware import bf16_supported, pick_device
from .models import FashionCNN, count_parameters, create_model
from .reference import STUDY_LEVEL


@dataclass
class TrainResult:
    model: FashionCNN
    config: TrainConfig
    status: str                   # completed | early_stopped | time_budget | stopped | time_cap (set by jobs)
    history: list[dict] = field(default_factory=list)
    best_epoch: int = 0
    val_metrics: dict = field(default_factory=dict)
    test_metrics: dict | None = None
    train_time_s: float = 0.0
    time_to_best_s: float = 0.0
    steps: int = 0
    data_fingerprint: str = ""
    device: str = "cpu"
    bf16: bool = False
    previous_runs: list[dict] = field(default_factory=list)  # a resumed run: the runs it continued

    @property
    def label(self) -> str:
        """A human label: 'completed', or 'stopped early by the user (partial: 3 epochs + 120 steps)'."""
        if self.status == "stopped":
            return f"partial: stopped by the user after {len(self.history)} full epoch(s), {self.steps} steps"
        if self.status == "time_budget":
            return f"time budget reached after {len(self.history)} epochs (best epoch {self.best_epoch})"
        if self.status == "time_cap":
            return (f"partial: ended by the server's time cap after {len(self.history)} full epoch(s), "
                    f"{self.steps} steps (best epoch {self.best_epoch})")
        if self.status == "early_stopped":
            return f"early-stopped at epoch {len(self.history)} (best epoch {self.best_epoch})"
        return f"completed {len(self.history)} epochs (best epoch {self.best_epoch})"


class WeightEMA:
    """Exponential moving average of a model's weights and BatchNorm statistics, updated without host
    syncs. The decay warms up as (1+t)/(10+t), so early averages do not sit near the initialization."""

    def __init__(self, model: nn.Module, decay: float):
        self.module = copy.deepcopy(model).eval()
        self.decay, self.updates = decay, 0
        pairs = list(zip(self.module.state_dict().values(), model.state_dict().values()))
        self.floats = ([a for a, _ in pairs if a.is_floating_point()], [c for a, c in pairs if a.is_floating_point()])
        self.others = [(a, c) for a, c in pairs if not a.is_floating_point()]

    @torch.no_grad()
    def update(self) -> None:
        self.updates += 1
        d = min(self.decay, (1 + self.updates) / (10 + self.updates))
        torch._foreach_lerp_(self.floats[0], self.floats[1], 1 - d)
        for a, c in self.others:
            a.copy_(c)


def lr_factor(schedule: str, progress: float, warmup: float = 0.0) -> float:
    """Multiplier of the base learning rate at progress in [0, 1] of the run."""
    progress = min(max(progress, 0.0), 1.0)
    if schedule == "constant":
        return 1.0
    if schedule == "cosine":
        if progress < warmup:
            return (progress + 1e-3) / (warmup + 1e-3)
        return 0.5 * (1 + math.cos(math.pi * (progress - warmup) / max(1e-9, 1 - warmup)))
    if schedule == "onecycle":  # as torch's OneCycleLR: up from lr/25 over 30%, then down to lr/1e4
        if progress < 0.3:
            return 1 / 25 + (1 - 1 / 25) * 0.5 * (1 - math.cos(math.pi * progress / 0.3))
        return 1e-4 + (1 - 1e-4) * 0.5 * (1 + math.cos(math.pi * (progress - 0.3) / 0.7))
    raise ValueError(f"unknown schedule {schedule!r}; choose from {', '.join(SCHEDULES)}")


DOODLES = 20_000      # non-garments made for outlier exposure
OUTLIER_WEIGHT = 0.5  # their loss (cross-entropy to the uniform distribution) relative to a garment's


def batch_loss(logits: torch.Tensor, y: torch.Tensor, label_smoothing: float = 0.0, outliers: bool = False) -> torch.Tensor:
    """Cross-entropy; with outliers, inputs labelled -1 are pushed towards the uniform distribution
    (Hendrycks et al. 2019), so that a model is unsure of what is not a garment."""
    if not outliers:
        return F.cross_entropy(logits, y, label_smoothing=label_smoothing)
    ce = F.cross_entropy(logits, y.clamp_min(0), label_smoothing=label_smoothing, reduction="none")
    uniform = -F.log_softmax(logits, 1).mean(1)
    return torch.where(y < 0, OUTLIER_WEIGHT * uniform, ce).mean()


@torch.inference_mode()
def _val_metrics(model, images, labels, bf16) -> dict:
    probs = torch.from_numpy(predict_proba(model, images, bf16=bf16))
    loss = F.nll_loss(probs.clamp_min(1e-12).log(), labels).item()
    return {"val_loss": loss, "val_acc": (probs.argmax(1) == labels).float().mean().item()}


@dataclass
class _Run:
    """One run's state: what set-up makes, what the epochs change, what the end reports."""

    cfg: TrainConfig
    split: Split
    device: torch.device
    bf16: bool
    channels_last: bool
    fused: bool
    model: FashionCNN
    flat: FlatParameters | None
    ema: WeightEMA | None
    opt: torch.optim.Optimizer
    g: torch.Generator
    ops: tuple                     # the augmentation ops (fmnist.augment)
    final_ops: tuple               # those of the final phase
    x_train: torch.Tensor          # the training images and labels, on the device
    y_train: torch.Tensor
    drawings: torch.Tensor | None  # one drawing per training image (cfg.drawings), or None
    pictures: torch.Tensor | None  # one picture in another style per training image (cfg.pictures), or None
    doodles: torch.Tensor | None   # non-garments (cfg.outliers)
    steps_per_epoch: int
    start_epoch: int               # epochs done before this run (a resumed checkpoint's)
    schedule_offset: float         # where in its schedule this run starts: 0, or a resumed run's place
    warmup: float                  # the schedule's warm-up, as a share of it
    history: list[dict]
    prior_s: float                 # training time before this run: resumed runs report totals
    time_to_best: float
    previous_runs: list[dict]
    best_acc: float = -1.0
    best_epoch: int = 0
    best_state: dict | None = None
    status: str = "completed"
    steps_done: int = 0
    t0: float = 0.0
    epoch_summary: dict | None = None  # the last epoch's training loss, accuracy, images seen, start time

    @property
    def evaluated(self) -> nn.Module:
        """The weights validation and the result use: the average where there is one."""
        return self.ema.module if self.ema else self.model

    def elapsed(self) -> float:
        return time.perf_counter() - self.t0

    def progress(self) -> float:
        """The one measure of how far this run is, in [0, 1]: its share of the planned steps, or of the
        time budget where one is set and runs out first. The learning-rate schedule, the events and the
        ETA all follow it."""
        planned = (self.cfg.epochs - self.start_epoch) * self.steps_per_epoch
        done = self.steps_done / max(planned, 1)
        if self.cfg.time_budget_s:
            done = max(done, self.elapsed() / self.cfg.time_budget_s)
        return min(done, 1.0)

    def in_final_phase(self, p: float) -> bool:
        """Whether progress p lies in the final (upright) phase."""
        return self.cfg.final_phase > 0 and p >= 1 - self.cfg.final_phase

    def learning_rate(self, p: float) -> float:
        """At progress p: the main schedule over the run's first 1 - final_phase, then a fresh cosine
        from final_lr."""
        cfg = self.cfg
        if self.in_final_phase(p):
            start = cfg.final_lr if cfg.final_lr is not None else cfg.lr / 3
            return start * lr_factor("cosine", (p - (1 - cfg.final_phase)) / cfg.final_phase)
        position = self.schedule_offset + (1 - self.schedule_offset) * p / (1 - cfg.final_phase)
        return cfg.lr * lr_factor(cfg.schedule, position, self.warmup)

    def eta_s(self) -> float:
        """Seconds left at the pace so far."""
        p = self.progress()
        return self.elapsed() * (1 - p) / p if p > 0 else float("inf")


def _set_up(cfg: TrainConfig, split: Split | None) -> _Run:
    """Device, precision, data, the model (new or resumed), kernels, optimizer and averages."""
    ops, final_ops = aug.resolve(cfg.augment), aug.resolve(cfg.final_augment)
    lr_factor(cfg.schedule, 0.0)  # fail early on an unknown schedule name
    if not 0 <= cfg.final_phase < 1:
        raise ValueError(f"final_phase is a share of the run in [0, 1), not {cfg.final_phase}")
    torch.manual_seed(cfg.seed)
    device = pick_device(cfg.device)
    supported = bf16_supported(device)
    use_bf16 = _auto(cfg.bf16, supported)
    if use_bf16 and not supported:
        raise RuntimeError(f"bf16 was requested but {device} has no native bf16 support")
    channels_last = _auto(cfg.channels_last, use_bf16)
    if split is None:
        split = make_split(load_fashion_mnist(cfg.data_dir), cfg.val_size, cfg.seed, cfg.limit)

    history, previous_runs, prior_s, time_to_best = [], [], 0.0, 0.0
    if cfg.resume:
        from .checkpoints import load_checkpoint

        ckpt = load_checkpoint(cfg.resume)
        model = ckpt.model
        history = list(ckpt.meta.get("history", []))
        prior_s = float(ckpt.meta.get("train_time_s") or 0.0)
        previous_runs = previous_run_chain(ckpt.meta)
        time_to_best = float(ckpt.meta.get("time_to_best_s") or 0.0)
    else:
        model = create_model(cfg.arch, widths=cfg.widths, dropout=cfg.dropout)
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    fused = accel.use_kernels(cfg.fused, device, use_bf16)
    if fused:
        accel.to_fused(model)  # the same parameters, stand-ins that run the C kernels in bf16 training
    if device.type == "cpu":
        accel.keep_freed_memory()  # activations are reallocated every step; no page faults for them
    flat = accel.FlatParameters(model) if accel.FlatParameters.applies(model) else None  # before the EMA's references
    ema = WeightEMA(model, cfg.ema) if cfg.ema else None

    start_epoch = len(history)
    first = start_epoch if cfg.restart_schedule else 0  # the epoch the schedule counts from
    steps_per_epoch = math.ceil(len(split.train_images) / cfg.batch_size)
    run = _Run(
        cfg=cfg, split=split, device=device, bf16=use_bf16, channels_last=channels_last, fused=fused, model=model,
        flat=flat, ema=ema, opt=accel.make_optimizer(flat or model, cfg.lr, cfg.weight_decay),
        # a resumed run draws fresh shuffles and augmentations rather than repeating epoch 1's
        g=torch.Generator(device=device).manual_seed(cfg.seed + 1000 * start_epoch),  # on the device: no syncs
        ops=ops, final_ops=final_ops, x_train=split.train_images.to(device), y_train=split.train_labels.to(device),
        drawings=sketches.drawing_bank(split.train_images, cfg.seed, labels=split.train_labels).to(device) if cfg.drawings else None,
        pictures=sketches.picture_bank(split.train_images, split.train_labels, cfg.seed).to(device) if cfg.pictures else None,
        doodles=sketches.outlier_bank(DOODLES, cfg.seed).to(device) if cfg.outliers else None,
        steps_per_epoch=steps_per_epoch, start_epoch=start_epoch,
        schedule_offset=(start_epoch - first) / max(cfg.epochs - first, 1),
        warmup=cfg.warmup_epochs / max(cfg.epochs - first, 1), history=history, prior_s=prior_s,
        time_to_best=time_to_best, previous_runs=previous_runs)
    earlier = [] if cfg.best_of_this_run else history
    run.best_acc = max((h["val_acc"] for h in earlier), default=-1.0)
    run.best_epoch = max(earlier, key=lambda h: h["val_acc"])["epoch"] if earlier else 0
    run.best_state = copy.deepcopy(run.evaluated.state_dict())
    return run


def _batch(run: _Run, idx: torch.Tensor, final: bool) -> tuple[torch.Tensor, torch.Tensor]:
    """The training batch of images idx: some swapped for drawings or doodles, then augmented (with the
    final phase's augmentations where final)."""
    cfg, g, device = run.cfg, run.g, run.device
    images, y = run.x_train[idx], run.y_train[idx]
    if run.drawings is not None or run.pictures is not None:  # one draw: a drawing, a picture or the photo
        u = torch.rand(len(idx), generator=g, device=device)
        if run.drawings is not None:
            images = torch.where((u < cfg.drawings)[:, None, None], run.drawings[idx], images)
        if run.pictures is not None:
            as_picture = (u >= cfg.drawings) & (u < cfg.drawings + cfg.pictures)
            images = torch.where(as_picture[:, None, None], run.pictures[idx], images)
    if run.doodles is not None:  # labelled -1: trained towards no class
        as_doodle = torch.rand(len(idx), generator=g, device=device) < cfg.outliers
        pick = torch.randint(len(run.doodles), (len(idx),), generator=g, device=device)
        images = torch.where(as_doodle[:, None, None], run.doodles[pick], images)
        y = torch.where(as_doodle, -1, y)
    x = aug.augment(to_float(images), run.final_ops if final else run.ops, g)
    if run.channels_last:
        x = x.contiguous(memory_format=torch.channels_last)
    return x, y


def _train_one_epoch(run: _Run, epoch: int, stop) -> Iterator[dict]:
    """One pass over the training images (or until a stop or the time budget), yielding a step event
    every cfg.log_every steps; leaves the epoch's summary in run.epoch_summary (None where no step ran)."""
    cfg, model, opt, device = run.cfg, run.model, run.opt, run.device
    model.train()
    perm = torch.randperm(len(run.x_train), generator=run.g, device=device)
    t_epoch, seen = time.perf_counter(), 0
    loss_sum = torch.zeros((), device=device)  # accumulated on the device: no sync per step
    correct = torch.zeros((), device=device)
    steps = run.steps_per_epoch
    # looks at validation between epochs, for epochs long enough to want them (100+ steps)
    checks = ({round(steps * j / (cfg.val_checks + 1)) for j in range(1, cfg.val_checks + 1)} - {0, steps}
              if steps >= 25 * (cfg.val_checks + 1) else set())
    for step in range(steps):
        if stop is not None and stop.is_set():
            run.status = "stopped"
            break
        if cfg.time_budget_s and run.elapsed() >= cfg.time_budget_s:
            run.status = "time_budget"
            break
        p = run.progress()  # where this step is: its augmentations and its learning rate
        final = run.in_final_phase(p)
        x, y = _batch(run, perm[step * cfg.batch_size : (step + 1) * cfg.batch_size], final)
        for group in opt.param_groups:
            group["lr"] = run.learning_rate(p)
        with torch.autocast(device.type, dtype=torch.bfloat16, enabled=run.bf16):
            logits = model(x)
            loss = batch_loss(logits.float(), y, cfg.label_smoothing, run.doodles is not None)
        if run.flat is not None:
            run.flat.zero_grad()
        else:
            opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()
        if run.ema is not None:
            run.ema.update()
        run.steps_done += 1
        seen += len(y)
        loss_sum += loss.detach() * len(y)
        correct += (logits.detach().argmax(1) == y).sum()
        if step % cfg.log_every == 0 or step == run.steps_per_epoch - 1:
            yield {"event": "step", "epoch": epoch, "step": step + 1, "steps_per_epoch": run.steps_per_epoch,
                   "global_step": (epoch - 1) * run.steps_per_epoch + step + 1, "loss": loss.item(),
                   "acc": (logits.argmax(1) == y).float().mean().item(), "lr": opt.param_groups[0]["lr"],
                   "images_per_sec": run.steps_done * cfg.batch_size / max(run.elapsed(), 1e-9),
                   "eta_s": run.eta_s(), "progress": run.progress(),
                   "phase": "final" if final else "main"}
        if step + 1 in checks:  # a look at validation between epochs, for the live curves only
            n = cfg.val_check_size
            val = _val_metrics(run.evaluated, run.split.val_images[:n], run.split.val_labels[:n], run.bf16)
            model.train()
            yield {"event": "val", "epoch": epoch, "step": step + 1, "steps_per_epoch": steps,
                   "epoch_float": epoch - 1 + (step + 1) / steps, "images": min(n, len(run.split.val_images)), **val}
    run.epoch_summary = None if seen == 0 else {
        "train_loss": loss_sum.item() / seen, "train_acc": correct.item() / seen, "seen": seen, "t_epoch": t_epoch}


def _validate(run: _Run, epoch: int) -> dict:
    """Validation after an epoch: the history row, the best weights kept, the epoch event."""
    val = _val_metrics(run.evaluated, run.split.val_images, run.split.val_labels, run.bf16)
    elapsed = run.elapsed()
    is_best = val["val_acc"] > run.best_acc
    if is_best:
        run.best_acc, run.best_epoch, run.time_to_best = val["val_acc"], epoch, run.prior_s + elapsed
        run.best_state = copy.deepcopy(run.evaluated.state_dict())
    s = run.epoch_summary
    epoch_time = time.perf_counter() - s["t_epoch"]  # the epoch's training and its validation
    row = {"epoch": epoch, "train_loss": s["train_loss"], "train_acc": s["train_acc"], **val,
           "lr": run.opt.param_groups[0]["lr"], "images_per_sec": s["seen"] / epoch_time,
           "epoch_time_s": epoch_time, "elapsed_s": run.prior_s + elapsed}
    run.history.append(row)
    return {"event": "epoch", **row, "best_epoch": run.best_epoch, "best_val_acc": run.best_acc, "is_best": is_best,
            "epochs": run.cfg.epochs, "eta_s": run.eta_s(), "progress": run.progress()}


def _finish(run: _Run) -> dict:
    """The best epoch's weights as plain modules, their validation and test metrics, the end event."""
    train_time = run.prior_s + run.elapsed()
    final = run.evaluated
    if run.history:  # the best epoch's weights; a run stopped before one full epoch keeps its current weights
        final.load_state_dict(run.best_state)
    if run.flat is not None and final is run.model:
        accel.FlatParameters.release(final)
    final = accel.to_plain(final).to(memory_format=torch.contiguous_format).eval()
    split = run.split
    val_metrics = _val_metrics(final, split.val_images, split.val_labels, run.bf16)
    # reported in fp32 without TTA: exactly what fmnist.load_model() computes; `evaluate` adds TTA
    test = evaluate_model(final, split.test_images, split.test_labels, tta=False) if run.cfg.evaluate_test else None
    result = TrainResult(
        model=final.cpu().eval(), config=run.cfg, status=run.status, history=run.history, best_epoch=run.best_epoch,
        val_metrics=val_metrics, test_metrics=test, train_time_s=train_time, time_to_best_s=run.time_to_best,
        steps=run.steps_done, data_fingerprint=split.fingerprint, device=str(run.device), bf16=run.bf16,
        previous_runs=run.previous_runs)
    return {"event": "end", "status": run.status, "label": result.label, "result": result,
            "val_acc": val_metrics["val_acc"], "test_acc": test["accuracy"] if test else None,
            "train_time_s": train_time}


def fit(cfg: TrainConfig | None = None, split: Split | None = None, stop=None) -> Iterator[dict]:
    """Train cfg.arch; yields start, step (and, with cfg.val_checks, val), epoch and finally end events
    (plain dicts)."""
    cfg = cfg or TrainConfig()
    run = _set_up(cfg, split)
    yield {"event": "start", "arch": run.model.arch, "config": cfg.to_dict(), "train_size": len(run.split.train_images),
           "val_size": len(run.split.val_images), "device": str(run.device), "bf16": run.bf16,
           "channels_last": run.channels_last, "fused": run.fused, "params": count_parameters(run.model),
           "steps_per_epoch": run.steps_per_epoch, "epochs": cfg.epochs, "start_epoch": run.start_epoch}
    run.t0 = time.perf_counter()
    for epoch in range(run.start_epoch + 1, cfg.epochs + 1):
        yield from _train_one_epoch(run, epoch, stop)
        if run.status == "stopped" or run.epoch_summary is None:
            break
        yield _validate(run, epoch)
        if run.status == "time_budget":
            break
        if epoch - run.best_epoch >= cfg.patience:
            run.status = "early_stopped"
            break
    yield _finish(run)


def first_reaching(history: list[dict], level: float = STUDY_LEVEL) -> tuple[float | None, int | None]:
    """(elapsed seconds, epoch) where a run's validation accuracy first reached level, or (None, None)."""
    for h in history:
        if h["val_acc"] >= level:
            return h["elapsed_s"], h["epoch"]
    return None, None


def previous_run_chain(meta: dict) -> list[dict]:
    """The runs a checkpoint's training consisted of, oldest first: what a run resumed from it continues."""
    before = meta.get("previous_runs", [])
    own = {"config": meta.get("config"),
           "epochs": len(meta.get("history", [])) - sum(r.get("epochs", 0) for r in before),
           "train_time_s": float(meta.get("train_time_s") or 0.0) - sum(r.get("train_time_s") or 0.0 for r in before)}
    return list(before) + [own]


def train(cfg: TrainConfig | None = None, split: Split | None = None, stop=None) -> TrainResult:
    """fit() without listening: run to the end and return the result."""
    for event in fit(cfg, split, stop):
        pass
    return event["result"]
