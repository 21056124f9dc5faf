"""CPU training speed, as one layer apart from the models: the C kernels, their fused modules, the
flat-parameter AdamW and the allocator setting.

The trainer converts a model for training where the kernels apply and converts it back at the end:

    fused = accel.use_kernels(cfg.fused, device, bf16)    # "auto": CPU, bf16, kernels built
    if fused:
        accel.to_fused(model)          # same parameters and buffers, same state-dict keys
    ...train...
    accel.to_plain(model)

``to_fused`` swaps each layer of fmnist.models for a stand-in that runs one C kernel where that kernel
applies (training, bf16 channels_last, CPU) and the plain layer everywhere else. The environment
variable ``FMNIST_FUSED`` (0 or 1) overrides the trainer's setting, for A/B runs from the shell.
"""
from __future__ import annotations

import os

import torch

from . import kernels, loader
from .memory import keep_freed_memory
from .modules import fused_layer, to_fused, to_plain
from .optim import FlatParameters, make_optimizer

__all__ = ["FlatParameters", "available", "fused_layer", "keep_freed_memory", "make_optimizer", "to_fused", "to_plain",
           "use_kernels", "why_not"]


def available() -> bool:
    """True where the kernels are built (or can be: the first call builds them, about a second)."""
    return kernels.library() is not None


def why_not() -> str | None:
    """Why the kernels are not available here (a failed build's message), or None."""
    return None if available() else loader.build_error


def use_kernels(setting: str | bool = "auto", device: torch.device | str = "cpu", bf16: bool = True) -> bool:
    """Whether training with this setting runs the fused kernels: "auto" (or True) where they apply, the
    CPU in bf16 with the kernels built; False never. FMNIST_FUSED=0/1 in the environment overrides the
    setting (1 still needs a CPU, bf16 and a build)."""
    env = os.environ.get("FMNIST_FUSED")
    if env in ("0", "1"):
        setting = env == "1"
    if setting in (False, "off", "0", 0):
        return False
    if setting not in ("auto", True, "on", "1", 1):
        raise ValueError(f"fused must be auto, on or off, not {setting!r}")
    return torch.device(device).type == "cpu" and bool(bf16) and available()
