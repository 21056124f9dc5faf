"""Training as a generator of plain-dict events; the CLI, the app and TensorBoard only listen.

    for event in fit(TrainConfig(arch="sa", epochs=5)):
        if event["event"] == "epoch": print(event["val_acc"])
    result = event["result"]          # the last event is always {"event": "end", ...}

Stopping: pass ``stop`` (a threading.Event or any object with ``is_set()``); training ends at the next
step and the end event carries a valid model labelled ``status="stopped"``.
"""
from __future__ import annotations

import copy
import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import augment as aug
from . import fused, sketches
from .data import Split, load_fashion_mnist, make_split, to_float
from .evaluate import evaluate_model, predict_proba
from .models import FashionCNN, count_parameters, create_model
from .reference import STUDY_LEVEL


@dataclass
class TrainConfig:
    """Defaults are the original study's recipe; the options it is silent on default to the plain choice."""

    arch: str = "simple"
    epochs: int = 100             # study: "up to 100 epochs"; early stopping usually ends sooner
    batch_size: int = 64          # study
    lr: float = 3e-4              # study, AdamW
    weight_decay: float = 0.01    # AdamW's own default; the study does not say
    schedule: str = "constant"    # constant | cosine | onecycle (the study does not say: constant)
    warmup_epochs: float = 0.0    # linear warm-up for cosine
    label_smoothing: float = 0.0
    augment: str | tuple[str, ...] = "seed"   # a preset of fmnist.augment or a tuple of op names
    patience: int = 10            # epochs without a better validation accuracy before stopping
    seed: int = 0
    limit: int | None = None      # cap on training images, for quick runs
    val_size: int = 5000          # stratified, carved from the 60,000 training images
    widths: tuple[int, ...] = (32, 64, 128)
    dropout: float = 0.2
    ema: float = 0.0              # weight averaging decay (e.g. 0.999); 0 turns it off
    device: str = "auto"          # auto | cpu | cuda | mps
    bf16: str | bool = "auto"     # auto: on where the hardware supports it
    channels_last: str | bool = "auto"
    log_every: int = 20           # steps between step events
    evaluate_test: bool = True    # report test metrics at the end (never used for model selection)
    data_dir: str | None = None
    resume: str | None = None     # checkpoint to continue from (weights, history, epoch counter)
    restart_schedule: bool = False  # with resume: a fresh schedule over this run (a warm restart, SGDR)
    time_budget_s: float | None = None  # stop after this much training time; schedules follow the clock
    drawings: float = 0.0         # fraction of each batch shown as drawings of the same images
                                  # (fmnist.sketches); the study has none: 0
    outliers: float = 0.0         # fraction shown as non-garment doodles, trained towards no class
                                  # (outlier exposure; train accuracy counts them as wrong); study: 0

    def to_dict(self) -> dict:
        d = asdict(self)
        d["widths"] = list(self.widths)
        if not isinstance(self.augment, str):
            d["augment"] = list(self.augment)
        return d


@dataclass
class TrainResult:
    model: FashionCNN
    config: TrainConfig
    status: str                   # completed | early_stopped | time_budget | stopped
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
        if self.status == "early_stopped":
            return f"early-stopped at epoch {len(self.history)} (best epoch {self.best_epoch})"
        return f"completed {len(self.history)} epochs (best epoch {self.best_epoch})"


def pick_device(name: str = "auto") -> torch.device:
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


def cpu_supports_bf16() -> bool:
    """True where the CPU has native bf16 math (AMX or AVX-512 BF16) that oneDNN will use."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        flags = ""
    has_flag = any(f in flags.split() for f in ("amx_bf16", "avx512_bf16"))
    try:
        onednn = torch.backends.mkldnn.is_available() and torch.ops.mkldnn._is_mkldnn_bf16_supported()
    except Exception:
        onednn = False
    return has_flag and bool(onednn)


def bf16_supported(device: torch.device) -> bool:
    if device.type == "cuda":
        return torch.cuda.is_bf16_supported()
    if device.type == "cpu":
        return cpu_supports_bf16()
    return False


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


class FlatParameters:
    """A model's parameters, and their gradients, as views of one tensor each: ``param`` and ``param.grad``.

    AdamW then updates one tensor per step instead of one per parameter (20-26 here): its per-tensor
    Python and dispatch were ~0.5-1.5 ms of a CPU training step. Each parameter keeps its shape and
    strides (channels_last weights stay channels_last); autograd adds each gradient into its view of the
    gradient buffer, which ``zero_grad`` zeroes (never set to None: the views would be lost). Element by
    element the update is AdamW's per-tensor one. Create it before WeightEMA, which keeps references to
    the model's tensors (a deep copy gets separate ones). ``release`` gives a module its own parameter
    tensors back, for saving (safetensors refuses tensors that share memory)."""

    def __init__(self, model: nn.Module):
        params = list(model.parameters())
        first = params[0]
        self.param = nn.Parameter(torch.empty(sum(p.numel() for p in params), dtype=first.dtype, device=first.device))
        self.param.grad = torch.zeros_like(self.param)
        offset = 0
        with torch.no_grad():
            for p in params:
                view = self.param.data.as_strided(p.shape, p.stride(), offset)
                view.copy_(p)
                p.data = view
                p.grad = self.param.grad.as_strided(p.shape, p.stride(), offset)
                offset += p.numel()

    @staticmethod
    def applies(model: nn.Module) -> bool:
        """Every parameter trainable, of one dtype and device, and dense (contiguous or channels_last)."""
        params = list(model.parameters())
        return bool(params) and all(
            p.requires_grad and p.dtype == params[0].dtype and p.device == params[0].device and p.grad is None
            and (p.is_contiguous() or (p.dim() == 4 and p.is_contiguous(memory_format=torch.channels_last)))
            for p in params)

    def zero_grad(self) -> None:
        self.param.grad.zero_()

    @staticmethod
    def release(module: nn.Module) -> nn.Module:
        with torch.no_grad():
            for p in module.parameters():
                p.data = p.data.clone(memory_format=torch.preserve_format)
                p.grad = None
        return module


def make_optimizer(model: nn.Module | FlatParameters, lr: float, weight_decay: float) -> torch.optim.AdamW:
    """AdamW over the model's parameters, or over the one buffer of a FlatParameters, with its fused kernel
    where the device has one (CPU and CUDA: one pass per tensor instead of several small ops; training
    steps a few per cent faster here), else the default."""
    params = [model.param] if isinstance(model, FlatParameters) else list(model.parameters())
    try:
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=True)
    except (RuntimeError, ValueError):
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)


def _auto(value, default: bool) -> bool:
    return default if value == "auto" else bool(value)


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
    raise ValueError(f"unknown schedule {schedule!r}; choose from constant, cosine, onecycle")


DOODLES = 20_000      # non-garment doodles made for outlier exposure
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


def fit(cfg: TrainConfig | None = None, split: Split | None = None, stop=None) -> Iterator[dict]:
    """Train cfg.arch; yields start, step, epoch and finally end events (plain dicts)."""
    cfg = cfg or TrainConfig()
    ops = aug.resolve(cfg.augment)
    torch.manual_seed(cfg.seed)
    device = pick_device(cfg.device)
    supported = bf16_supported(device)
    use_bf16 = _auto(cfg.bf16, supported)
    if use_bf16 and not supported:
        raise RuntimeError(f"bf16 was requested but {device} has no native bf16 support")
    channels_last = _auto(cfg.channels_last, use_bf16)
    if split is None:
        split = make_split(load_fashion_mnist(cfg.data_dir), cfg.val_size, cfg.seed, cfg.limit)

    history: list[dict] = []
    start_epoch = 0
    prior_s = time_to_best = 0.0  # training time before this run (resumed runs report totals)
    previous_runs: list[dict] = []
    if cfg.resume:
        from .checkpoints import load_checkpoint

        ckpt = load_checkpoint(cfg.resume)
        model = ckpt.model
        history = list(ckpt.meta.get("history", []))
        start_epoch = len(history)
        prior_s = float(ckpt.meta.get("train_time_s") or 0.0)
        previous_runs = previous_run_chain(ckpt.meta)
        time_to_best = float(ckpt.meta.get("time_to_best_s") or 0.0)
    else:
        model = create_model(cfg.arch, widths=cfg.widths, dropout=cfg.dropout)
    model.to(device)
    if channels_last:
        model.to(memory_format=torch.channels_last)
    if device.type == "cpu":
        fused.keep_freed_memory()  # activations are reallocated every step; no page faults for them
    flat = FlatParameters(model) if FlatParameters.applies(model) else None  # before the EMA's references
    ema = WeightEMA(model, cfg.ema) if cfg.ema else None

    x_train = split.train_images.to(device)
    # one drawing per training image, made once and cached; a batch swaps some images for theirs
    bank = sketches.drawing_bank(split.train_images, cfg.seed).to(device) if cfg.drawings else None
    doodles = sketches.doodle_bank(DOODLES, cfg.seed).to(device) if cfg.outliers else None
    y_train = split.train_labels.to(device)
    n = len(x_train)
    steps_per_epoch = math.ceil(n / cfg.batch_size)
    first = start_epoch if cfg.restart_schedule else 0  # the epoch the schedule counts from
    total_steps = steps_per_epoch * max(cfg.epochs - first, 1)
    opt = make_optimizer(flat or model, cfg.lr, cfg.weight_decay)
    lr_factor(cfg.schedule, 0.0)  # fail early on an unknown schedule name
    warmup = cfg.warmup_epochs / max(cfg.epochs - first, 1)
    # a resumed run draws fresh shuffles and augmentations rather than repeating epoch 1's
    g = torch.Generator(device=device).manual_seed(cfg.seed + 1000 * start_epoch)  # on the device: no host syncs

    yield {"event": "start", "arch": model.arch, "config": cfg.to_dict(), "train_size": n,
           "val_size": len(split.val_images), "device": str(device), "bf16": use_bf16,
           "channels_last": channels_last, "params": count_parameters(model),
           "steps_per_epoch": steps_per_epoch, "epochs": cfg.epochs, "start_epoch": start_epoch}

    best_acc = max((h["val_acc"] for h in history), default=-1.0)
    best_epoch = max(history, key=lambda h: h["val_acc"])["epoch"] if history else 0
    best_state = copy.deepcopy((ema.module if ema else model).state_dict())
    t0 = time.perf_counter()
    status, steps_done = "completed", 0
    stopped = lambda: stop is not None and stop.is_set()  # noqa: E731

    for epoch in range(start_epoch + 1, cfg.epochs + 1):
        model.train()
        perm = torch.randperm(n, generator=g, device=device)
        t_epoch, seen = time.perf_counter(), 0
        loss_sum = torch.zeros((), device=device)  # accumulated on the device: no sync per step
        correct = torch.zeros((), device=device)
        for step in range(steps_per_epoch):
            if stopped():
                status = "stopped"
                break
            # progress through the run: by steps, or by the clock when a time budget is set
            progress = ((epoch - 1 - first) * steps_per_epoch + step) / total_steps
            if cfg.time_budget_s:
                progress = max(progress, (time.perf_counter() - t0) / cfg.time_budget_s)
                if progress >= 1.0:
                    status = "time_budget"
                    break
            idx = perm[step * cfg.batch_size : (step + 1) * cfg.batch_size]
            images, y = x_train[idx], y_train[idx]
            if bank is not None:
                as_drawing = torch.rand(len(idx), generator=g, device=device) < cfg.drawings
                images = torch.where(as_drawing[:, None, None], bank[idx], images)
            if doodles is not None:  # labelled -1: trained towards no class
                as_doodle = torch.rand(len(idx), generator=g, device=device) < cfg.outliers
                pick = torch.randint(len(doodles), (len(idx),), generator=g, device=device)
                images = torch.where(as_doodle[:, None, None], doodles[pick], images)
                y = torch.where(as_doodle, -1, y)
            x = aug.augment(to_float(images), ops, g)
            if channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            with torch.autocast(device.type, dtype=torch.bfloat16, enabled=use_bf16):
                logits = model(x)
                loss = batch_loss(logits.float(), y, cfg.label_smoothing, doodles is not None)
            for group in opt.param_groups:
                group["lr"] = cfg.lr * lr_factor(cfg.schedule, progress, warmup)
            if flat is not None:
                flat.zero_grad()
            else:
                opt.zero_grad(set_to_none=True)
            loss.backward()
            opt.step()
            if ema is not None:
                ema.update()
            steps_done += 1
            seen += len(y)
            loss_sum += loss.detach() * len(y)
            correct += (logits.detach().argmax(1) == y).sum()
            if step % cfg.log_every == 0 or step == steps_per_epoch - 1:
                elapsed = time.perf_counter() - t0
                ips = steps_done * cfg.batch_size / max(elapsed, 1e-9)
                remaining = (cfg.epochs - epoch) * steps_per_epoch + (steps_per_epoch - step - 1)
                eta = remaining * cfg.batch_size / max(ips, 1e-9)
                if cfg.time_budget_s:
                    eta = min(eta, cfg.time_budget_s - elapsed)
                yield {"event": "step", "epoch": epoch, "step": step + 1, "steps_per_epoch": steps_per_epoch,
                       "global_step": (epoch - 1) * steps_per_epoch + step + 1, "loss": loss.item(),
                       "acc": (logits.argmax(1) == y).float().mean().item(), "lr": opt.param_groups[0]["lr"],
                       "images_per_sec": ips, "eta_s": eta,
                       "progress": ((epoch - 1 - start_epoch) * steps_per_epoch + step + 1)
                       / ((cfg.epochs - start_epoch) * steps_per_epoch)}
        if status == "stopped" or (status == "time_budget" and seen == 0):
            break
        eval_model = ema.module if ema else model
        val = _val_metrics(eval_model, split.val_images, split.val_labels, use_bf16)
        epoch_time = time.perf_counter() - t_epoch
        elapsed = time.perf_counter() - t0
        is_best = val["val_acc"] > best_acc
        if is_best:
            best_acc, best_epoch, time_to_best = val["val_acc"], epoch, prior_s + elapsed
            best_state = copy.deepcopy(eval_model.state_dict())
        row = {"epoch": epoch, "train_loss": loss_sum.item() / seen, "train_acc": correct.item() / seen, **val,
               "lr": opt.param_groups[0]["lr"], "images_per_sec": seen / epoch_time,
               "epoch_time_s": epoch_time, "elapsed_s": prior_s + elapsed}
        history.append(row)
        per_epoch = elapsed / (epoch - start_epoch)
        yield {"event": "epoch", **row, "best_epoch": best_epoch, "best_val_acc": best_acc, "is_best": is_best,
               "epochs": cfg.epochs, "eta_s": per_epoch * (cfg.epochs - epoch)}
        if status == "time_budget":
            break
        if epoch - best_epoch >= cfg.patience:
            status = "early_stopped"
            break

    train_time = prior_s + time.perf_counter() - t0
    if history:  # the best epoch's weights; a run stopped before one full epoch keeps its current weights
        (ema.module if ema else model).load_state_dict(best_state)
    final = (ema.module if ema else model)
    if flat is not None and final is model:
        FlatParameters.release(final)
    final = final.to(memory_format=torch.contiguous_format).eval()
    val_metrics = _val_metrics(final, split.val_images, split.val_labels, use_bf16)
    # reported in fp32 without TTA: exactly what fmnist.load_model() computes; `evaluate` adds TTA
    test = evaluate_model(final, split.test_images, split.test_labels, tta=False) if cfg.evaluate_test else None
    result = TrainResult(
        model=final.cpu().eval(), config=cfg, status=status, history=history, best_epoch=best_epoch,
        val_metrics=val_metrics, test_metrics=test, train_time_s=train_time, time_to_best_s=time_to_best,
        steps=steps_done, data_fingerprint=split.fingerprint, device=str(device), bf16=use_bf16,
        previous_runs=previous_runs,
    )
    yield {"event": "end", "status": status, "label": result.label, "result": result,
           "val_acc": val_metrics["val_acc"], "test_acc": test["accuracy"] if test else None,
           "train_time_s": train_time}


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
