"""The three architectures of the study, one registry, one way to read their spatial maps.

All three share the backbone: three stages at 28x28, 14x14 and 7x7, each two 3x3 convolutions with
BatchNorm and ReLU, followed by 2x2 max-pooling, then global average pooling and a linear head.

* ``simple``: that backbone and nothing more (the study's baseline).
* ``sa``:     CBAM's spatial attention (arXiv 1807.06521, section 3) at the end of every stage:
              [mean_c(F); max_c(F)] -> 7x7 conv -> sigmoid -> multiplied onto F.
* ``gated``:  the second convolution of every stage is a residual gated convolution after
              arXiv 1612.08083: h = ReLU(X + BN(X*W) ⊗ σ(X*V + c)) (BatchNorm in place of the bias b,
              a ReLU after the residual sum as in the backbone). The gate V is a 1x1 convolution
              (the paper uses the same kernel as W); a 3x3 gate (``gate_kernel=3``) costs 1.5x the
              parameters, over the 20% budget we keep between architectures.

Every model takes raw images, float (N, 1, 28, 28) in [0, 1] with the dataset's polarity (garment bright
on black), normalizes inside, and returns logits (N, num_classes). ``model.spatial_maps(x)`` returns, for
``sa`` its attention maps and for ``gated`` its gate maps, one (N, H, W) tensor in [0, 1] per stage; the
baseline has none and returns an empty list.

Training on bf16 channels_last CPU tensors runs the element-wise layers (BatchNorm + ReLU, the gate, the
attention, max-pooling; in sa and gated a stage's last layer and the max-pooling after it as one, see
``run_stage``) and the whole first layer (convolution of the one-channel image, BatchNorm, ReLU) as fused
C kernels (fmnist/fused.py): the same function, fewer passes over memory.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Callable, Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F

from . import fused

MEAN, STD = 0.2860, 0.3530  # Fashion-MNIST training-set pixel statistics

_REGISTRY: dict[str, Callable[..., "FashionCNN"]] = {}
# Maps are collected per thread, so concurrent requests to one shared model never see each other's maps.
_recording = threading.local()


@contextmanager
def recording_maps() -> Iterator[list[torch.Tensor]]:
    """Collect, in this thread, the (N, H, W) maps that attention and gate modules produce in forward passes."""
    _recording.maps = []
    try:
        yield _recording.maps
    finally:
        _recording.maps = None


def _record(make_map: Callable[[], torch.Tensor]) -> None:
    """Keep the (N, H, W) map make_map() returns, if this thread is recording maps; computed only then
    (gated's map is a full pass over its gates, not to be paid in every training step)."""
    maps = getattr(_recording, "maps", None)
    if maps is not None:
        maps.append(make_map().detach().float())


def register_model(name: str):
    def deco(cls):
        _REGISTRY[name] = cls
        cls.arch = name
        return cls
    return deco


def list_models() -> list[str]:
    return list(_REGISTRY)


def create_model(name: str, **kwargs) -> "FashionCNN":
    if name not in _REGISTRY:
        raise ValueError(f"unknown architecture {name!r}; choose from {', '.join(_REGISTRY)}")
    return _REGISTRY[name](**kwargs)


class BatchNormReLU(nn.BatchNorm2d):
    """BatchNorm2d followed by ReLU, with BatchNorm2d's parameters and state_dict keys.

    Training on bf16 channels_last CPU tensors runs one fused kernel (fmnist/fused.py), fewer passes over
    memory than BatchNorm's and ReLU's; everywhere else (evaluation, fp32, CUDA) it is eager PyTorch."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if fused.batch_norm_relu_applies(x, self):
            if self.num_batches_tracked is not None:
                self.num_batches_tracked.add_(1)
            return fused.BatchNormReLUFunction.apply(x, self.weight, self.bias, self.running_mean,
                                                     self.running_var, self.momentum, self.eps)
        return F.relu(super().forward(x), inplace=True)


class MaxPool2x2(nn.MaxPool2d):
    """nn.MaxPool2d(2); training on bf16 channels_last CPU tensors uses fmnist/fused.py's kernel."""

    def __init__(self):
        super().__init__(2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and x.shape[-1] >= 2 and x.shape[-2] >= 2 and fused.applies(x):
            return fused.MaxPool2Function.apply(x)
        return super().forward(x)


class ConvBNReLU(nn.Sequential):
    """Sequential(3x3 conv, BatchNormReLU) (ReLU has no state, so the keys are those of
    Sequential(conv, BatchNorm2d, ReLU) checkpoints). As the first layer (one input channel) in bf16
    training on the CPU it runs as one fused kernel (fmnist/fused.py's StemFunction)."""

    def __init__(self, cin: int, cout: int):
        super().__init__(nn.Conv2d(cin, cout, 3, padding=1, bias=False), BatchNormReLU(cout))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv, bn = self[0], self[1]
        if fused.stem_applies(x, conv, bn):
            if bn.num_batches_tracked is not None:
                bn.num_batches_tracked.add_(1)
            return fused.StemFunction.apply(x, conv.weight, bn.weight, bn.bias, bn.running_mean, bn.running_var,
                                            bn.momentum, bn.eps)
        return super().forward(x)


def conv_bn_relu(cin: int, cout: int) -> ConvBNReLU:
    return ConvBNReLU(cin, cout)


class ChannelPool(torch.autograd.Function):
    """[mean_c(x); max_c(x)] as (N, 2, H, W), the input of CBAM's spatial attention.

    The values and gradients of torch.cat([x.mean(1, keepdim=True), x.max(1, keepdim=True).values], 1)
    (the max's gradient goes to the index max returns), computed on the (N, H, W, C) view of x, which is
    contiguous when x is channels_last, as in bf16 training. Autograd's own version scattered the max's
    gradient into a channels-first buffer and then added it to a channels_last one, and a bf16 mean
    copied x to fp32 first; this one reads and writes x's memory in order (sa's training step is ~15%
    faster on the CPU, bench/step_ab.py)."""

    @staticmethod
    def forward(ctx, x: torch.Tensor) -> torch.Tensor:
        v = x.permute(0, 2, 3, 1)  # (N, H, W, C)
        mx, idx = v.max(-1, keepdim=True)  # (N, H, W, 1)
        ones = torch.ones(v.shape[-1], 1, dtype=v.dtype, device=v.device)
        mean = (v @ ones).to(mx.dtype) / v.shape[-1]  # a matmul sums with fp32 accumulation, in one pass
        ctx.save_for_backward(idx)
        ctx.channels, ctx.dtype = v.shape[-1], x.dtype
        return torch.cat([mean, mx], -1).permute(0, 3, 1, 2)  # (N, 2, H, W)

    @staticmethod
    def backward(ctx, grad: torch.Tensor) -> torch.Tensor:  # grad: (N, 2, H, W)
        (idx,) = ctx.saved_tensors
        g = grad.permute(0, 2, 3, 1).to(ctx.dtype)  # (N, H, W, 2)
        gx = (g[..., :1] / ctx.channels).expand(*idx.shape[:-1], ctx.channels).contiguous()  # (N, H, W, C)
        gx.scatter_add_(-1, idx, g[..., 1:])
        return gx.permute(0, 3, 1, 2)  # channels_last strides, the layout of the gradients around it


class SpatialAttention(nn.Module):
    """CBAM spatial attention: a (N, 1, H, W) mask from channel-wise mean and max, 7x7 conv, sigmoid."""

    def __init__(self, kernel_size: int = 7):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2)

    def reset_parameters(self) -> None:
        # start neutral (mask 0.5 everywhere) and learn where to look; a random 7x7 kernel on the
        # max map saturates the sigmoid at once and makes early BatchNorm statistics unreliable
        nn.init.normal_(self.conv.weight, std=0.01)
        nn.init.zeros_(self.conv.bias)

    def _fused(self, x: torch.Tensor) -> bool:  # bf16 channels_last training on the CPU, kernels built
        return bool(self.training and fused.applies(x) and x.shape[1] < 2**15 and self.conv.kernel_size[0] % 2)

    def fuses_pool(self, x: torch.Tensor) -> bool:
        """True where forward_pool runs as one fused kernel (bf16 training, at least 2x2 pixels)."""
        return self._fused(x) and x.shape[-1] >= 2 and x.shape[-2] >= 2

    def forward_pool(self, x: torch.Tensor) -> torch.Tensor:
        """max_pool2d(self(x), 2) as one kernel, without the full-size product; only where fuses_pool(x)."""
        out, mask = fused.SpatialAttentionPool2Function.apply(x, self.conv.weight, self.conv.bias)
        _record(lambda: mask[:, 0])
        return out

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, C, H, W)
        if self._fused(x):
            out, mask = fused.SpatialAttentionFunction.apply(x, self.conv.weight, self.conv.bias)
        else:
            pooled = ChannelPool.apply(x)  # (N, 2, H, W): [mean_c(x); max_c(x)]
            mask = torch.sigmoid(self.conv(pooled))  # (N, 1, H, W)
            out = x * mask
        _record(lambda: mask[:, 0])
        return out


class GatedConv(nn.Module):
    """Residual gated convolution: ReLU(x + BN(x*W) ⊗ σ(x*V + c))  (arXiv 1612.08083, eq. 1 and sec. 3)."""

    def __init__(self, channels: int, gate_kernel: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1, bias=False)
        self.bn = nn.BatchNorm2d(channels)
        self.gate = nn.Conv2d(channels, channels, gate_kernel, padding=gate_kernel // 2)

    def reset_parameters(self) -> None:
        # gates start half open (as in the paper's implementations, no saturation at initialization)
        nn.init.normal_(self.gate.weight, std=0.01)
        nn.init.zeros_(self.gate.bias)

    def forward(self, x: torch.Tensor, pool: nn.Module | None = None) -> torch.Tensor:
        """The block; with pool, pool(block(x)), as one fused kernel where pool is a MaxPool2x2 and the
        block runs fused (bf16 training)."""
        conv, bn, gate = self.conv, self.bn, self.gate
        if (fused.batch_norm_relu_applies(x, bn) and fused.conv3x3_applies(conv) and gate.kernel_size == (1, 1)
                and gate.bias is not None and fused.gate_applies(gate.weight, gate.bias)):
            # the 3x3 convolution and the 1x1 gate (as matrix products) inside the fused function
            _record(lambda: torch.sigmoid(gate(x)).mean(1))
            if bn.num_batches_tracked is not None:
                bn.num_batches_tracked.add_(1)
            args = (x, conv.weight, gate.weight, gate.bias, bn.weight, bn.bias, bn.running_mean, bn.running_var,
                    bn.momentum, bn.eps)
            if isinstance(pool, MaxPool2x2) and x.shape[-1] >= 2 and x.shape[-2] >= 2:
                return fused.GatedGatePool2Function.apply(*args)
            out = fused.GatedGateFunction.apply(*args)
        else:
            cv = conv(x)
            a = gate(x)  # (N, C, H, W); sigmoid(a) is how much of each feature passes
            _record(lambda: torch.sigmoid(a).mean(1))
            if fused.batch_norm_relu_applies(cv, bn) and fused.applies(x) and fused.applies(a):
                if bn.num_batches_tracked is not None:
                    bn.num_batches_tracked.add_(1)
                out = fused.GatedResidualFunction.apply(x, cv, a, bn.weight, bn.bias, bn.running_mean,
                                                        bn.running_var, bn.momentum, bn.eps)
            else:
                out = F.relu(x + bn(cv) * torch.sigmoid(a))
        return out if pool is None else pool(out)


class FashionCNN(nn.Module):
    """The shared backbone; subclasses choose what finishes each stage."""

    arch = "base"

    def __init__(self, num_classes: int = 10, widths: tuple[int, ...] = (32, 64, 128), dropout: float = 0.2):
        super().__init__()
        self.num_classes, self.widths, self.dropout_p = num_classes, tuple(widths), dropout
        self.register_buffer("mean", torch.tensor(MEAN), persistent=False)
        self.register_buffer("std", torch.tensor(STD), persistent=False)
        stages, cin = [], 1
        for w in self.widths:
            stages.append(nn.Sequential(conv_bn_relu(cin, w), self.second_layer(w), MaxPool2x2()))
            cin = w
        self.stages = nn.ModuleList(stages)
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(cin, num_classes))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        for m in self.map_modules():
            m.reset_parameters()

    def second_layer(self, channels: int) -> nn.Module:
        return conv_bn_relu(channels, channels)

    def init_args(self) -> dict:
        """Constructor arguments, stored in checkpoints so that loading needs nothing but the file."""
        return {"num_classes": self.num_classes, "widths": list(self.widths), "dropout": self.dropout_p}

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:  # (N, 1, 28, 28) in [0, 1]
        x = (x - self.mean) / self.std
        for stage in self.stages:
            x = self.run_stage(stage, x)
        return x  # (N, C, 3, 3)

    def run_stage(self, stage: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
        """One stage, (first layer, second layer, max-pooling); a subclass may fuse its parts."""
        return stage(x)

    def forward_head(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(x.mean((2, 3), keepdim=True))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))  # (N, num_classes)

    def map_modules(self) -> list[nn.Module]:
        return [m for m in self.modules() if isinstance(m, (SpatialAttention, GatedConv))]

    @torch.no_grad()
    def spatial_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The model's own maps, one (N, H, W) in [0, 1] per stage (attention for sa, gates for gated)."""
        with recording_maps() as maps:
            self(x)
        return maps

    def forward_with_activation(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Logits and the last stage's activation before pooling, (N, C, 7, 7): what Grad-CAM weighs."""
        x = (x - self.mean) / self.std
        for stage in self.stages[:-1]:
            x = stage(x)
        *body, pool = self.stages[-1]
        for layer in body:
            x = layer(x)
        return self.forward_head(pool(x)), x


@register_model("simple")
class SimpleCNN(FashionCNN):
    """Baseline: conv-BN-ReLU x2 + max-pool per stage."""


@register_model("sa")
class SpatialAttentionCNN(FashionCNN):
    """Baseline plus CBAM spatial attention after the second convolution of every stage."""

    def second_layer(self, channels: int) -> nn.Module:
        return nn.Sequential(conv_bn_relu(channels, channels), SpatialAttention())

    def run_stage(self, stage: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
        # in bf16 training the attention's product and the max-pooling after it are one kernel
        first, (conv, attention), pool = stage
        x = conv(first(x))
        if isinstance(pool, MaxPool2x2) and attention.fuses_pool(x):
            return attention.forward_pool(x)
        return pool(attention(x))


@register_model("gated")
class GatedCNN(FashionCNN):
    """Baseline whose second convolution per stage is a residual gated convolution (GLU-style)."""

    def __init__(self, num_classes: int = 10, widths: tuple[int, ...] = (32, 64, 128), dropout: float = 0.2,
                 gate_kernel: int = 1):
        self.gate_kernel = gate_kernel
        super().__init__(num_classes, widths, dropout)

    def second_layer(self, channels: int) -> nn.Module:
        return GatedConv(channels, self.gate_kernel)

    def run_stage(self, stage: nn.Sequential, x: torch.Tensor) -> torch.Tensor:
        # in bf16 training the block and the max-pooling after it are one kernel
        first, block, pool = stage
        return block(first(x), pool=pool)

    def init_args(self) -> dict:
        return {**super().init_args(), "gate_kernel": self.gate_kernel}


def count_parameters(model: nn.Module) -> int:
    return sum(p.numel() for p in model.parameters())


def count_macs(model: nn.Module) -> int:
    """Multiply-adds of convolutions and linear layers for one 28x28 image (hooks, no extra library)."""
    total = 0

    def hook(mod, inp, out):
        nonlocal total
        if isinstance(mod, nn.Conv2d):
            total += out.numel() * (mod.in_channels // mod.groups) * mod.kernel_size[0] * mod.kernel_size[1]
        elif isinstance(mod, nn.Linear):
            total += mod.in_features * mod.out_features

    handles = [m.register_forward_hook(hook) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    was_training = model.training
    model.eval()
    with torch.no_grad():
        model(torch.zeros(1, 1, 28, 28))
    model.train(was_training)
    for h in handles:
        h.remove()
    return total
