"""The optimizer step as one tensor: all parameters as views of one buffer, AdamW over that buffer."""
from __future__ import annotations

import torch
import torch.nn as nn


class FlatParameters:
    """A model's parameters, and their gradients, as views of one tensor each: ``param`` and ``param.grad``.

    AdamW then updates one tensor per step instead of one per parameter tensor (20-26 in these models),
    whose per-tensor Python and dispatch are a visible share of a small model's CPU training step. Each parameter keeps its shape and
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
    where the device has one (CPU and CUDA: one pass per tensor instead of several small ops), else the
    default."""
    params = [model.param] if isinstance(model, FlatParameters) else list(model.parameters())
    try:
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay, fused=True)
    except (RuntimeError, ValueError):
        return torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)


