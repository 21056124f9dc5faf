"""The three architectures of the study, one registry, one way to read their spatial maps.

All three share the backbone: three stages at 28x28, 14x14 and 7x7, each two 3x3 convolutions with
BatchNorm and ReLU, followed by 2x2 max-pooling, then global average pooling and a linear head.

* ``simple``: that backbone and nothing more (the study's baseline).
* ``sa``:     CBAM's spatial attention (arXiv 1807.06521, section 3) at the end of every stage:
              M(F) = σ(f7x7([AvgPool_c(F); MaxPool_c(F)])), F' = M(F) ⊗ F.
* ``gated``:  the second convolution of every stage is a residual gated convolution after
              arXiv 1612.08083, eq. 1 with the residual of section 3: h = ReLU(X + BN(X*W) ⊗ σ(X*V + c))
              (BatchNorm in place of the bias b, a ReLU after the sum as in the backbone). The gate V is
              a 1x1 convolution (the paper uses W's kernel size; a 3x3 gate, ``gate_kernel=3``, costs
              1.5x the parameters, over the 20% budget we keep between architectures).

Every model takes raw images, float (N, 1, 28, 28) in [0, 1] with the dataset's polarity (garment bright
on black), normalizes inside, and returns logits (N, num_classes). ``model.spatial_maps(x)`` returns
the model's own maps, one (N, H, W) tensor in [0, 1] per stage (attention for sa, gates for gated; none
for the baseline).

Adding an architecture: subclass ``FashionCNN``, override ``second_layer`` (what ends each stage's two
convolutions), give it a ``title`` (and, if it has them, a ``map_name`` for its maps and a ``paper``),
and register it with ``@register_model("name")``; the CLI, the app and the benchmarks pick it up from
the registry. These
modules are plain PyTorch; the CPU training kernels (``fmnist.accel``) swap in for them during bf16
training only, sharing their parameters.
"""
from __future__ import annotations

import threading
from contextlib import contextmanager
from typing import Callable, Iterator

import torch
import torch.nn as nn
import torch.nn.functional as F

MEAN, STD = 0.2860, 0.3530  # Fashion-MNIST training-set pixel statistics

_REGISTRY: dict[str, type["FashionCNN"]] = {}


def register_model(name: str):
    """Class decorator: make an architecture available by name (create_model, the CLI, the app)."""
    def deco(cls):
        _REGISTRY[name] = cls
        cls.arch = name
        return cls
    return deco


def list_models() -> list[str]:
    return list(_REGISTRY)


def model_class(name: str) -> type["FashionCNN"]:
    if name not in _REGISTRY:
        raise ValueError(f"unknown architecture {name!r}; choose from {', '.join(_REGISTRY)}")
    return _REGISTRY[name]


def create_model(name: str, **kwargs) -> "FashionCNN":
    return model_class(name)(**kwargs)


# Maps (and Grad-CAM's activation) are collected per thread, so concurrent requests to one shared model
# never see each other's.
_recording = threading.local()


class Recording:
    """What the forward passes inside ``recording()`` kept: ``maps``, the (N, H, W) attention or gate map
    of every map-producing layer, and ``activations``, every stage's output before its pooling."""

    def __init__(self):
        self.maps: list[torch.Tensor] = []
        self.activations: list[torch.Tensor] = []


@contextmanager
def recording() -> Iterator[Recording]:
    _recording.now = Recording()
    try:
        yield _recording.now
    finally:
        _recording.now = None


@contextmanager
def recording_maps() -> Iterator[list[torch.Tensor]]:
    """Collect, in this thread, the (N, H, W) maps that attention and gate layers produce."""
    with recording() as r:
        yield r.maps


def record_map(make_map: Callable[[], torch.Tensor]) -> None:
    """Keep the (N, H, W) map make_map() returns if this thread is recording; computed only then (gated's
    map is a pass over its gates, not to be paid in every training step)."""
    now = getattr(_recording, "now", None)
    if now is not None:
        now.maps.append(make_map().detach().float())


def _record_activation(x: torch.Tensor) -> None:
    now = getattr(_recording, "now", None)
    if now is not None:
        now.activations.append(x)


class ConvBNReLU(nn.Sequential):
    """3x3 convolution, BatchNorm, ReLU: the backbone's layer."""

    def __init__(self, cin: int, cout: int):
        super().__init__(nn.Conv2d(cin, cout, 3, padding=1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class SpatialAttention(nn.Module):
    """CBAM's spatial attention: a (N, 1, H, W) mask σ(conv7x7([mean_c(F); max_c(F)])) multiplied onto F."""

    def __init__(self, kernel_size: int = 7):
        super().__init__()
        self.conv = nn.Conv2d(2, 1, kernel_size, padding=kernel_size // 2)

    def reset_parameters(self) -> None:
        # start neutral (mask 0.5 everywhere) and learn where to look; a random 7x7 kernel on the
        # max map saturates the sigmoid at once and makes early BatchNorm statistics unreliable
        nn.init.normal_(self.conv.weight, std=0.01)
        nn.init.zeros_(self.conv.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, C, H, W)
        pooled = torch.cat([x.mean(1, keepdim=True), x.max(1, keepdim=True).values], 1)  # (N, 2, H, W)
        mask = torch.sigmoid(self.conv(pooled))  # (N, 1, H, W)
        record_map(lambda: mask[:, 0])
        return x * mask


class GatedConv(nn.Module):
    """Residual gated convolution: ReLU(x + BN(x*W) ⊗ σ(x*V + c)), the gate σ(x*V + c) saying how much
    of each feature passes."""

    def __init__(self, channels: int, gate_kernel: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(channels, channels, 3, padding=1, bias=False)  # W
        self.bn = nn.BatchNorm2d(channels)
        self.gate = nn.Conv2d(channels, channels, gate_kernel, padding=gate_kernel // 2)  # V, c

    def reset_parameters(self) -> None:
        # gates start half open (as in the paper's implementations, no saturation at initialization)
        nn.init.normal_(self.gate.weight, std=0.01)
        nn.init.zeros_(self.gate.bias)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        gate = torch.sigmoid(self.gate(x))
        record_map(lambda: gate.mean(1))
        return F.relu(x + self.bn(self.conv(x)) * gate)


class FashionCNN(nn.Module):
    """The shared backbone; subclasses choose what ends each stage's two convolutions."""

    arch = "base"
    title = "FashionCNN"      # shown beside the registry name in the app and the docs
    map_name: str | None = None  # what spatial_maps() shows ("spatial attention", "gates"); None: no maps
    paper: str | None = None     # the paper behind it, as a Markdown link

    def __init__(self, num_classes: int = 10, widths: tuple[int, ...] = (32, 64, 128), dropout: float = 0.2):
        super().__init__()
        self.num_classes, self.widths, self.dropout_p = num_classes, tuple(widths), dropout
        self.register_buffer("mean", torch.tensor(MEAN), persistent=False)
        self.register_buffer("std", torch.tensor(STD), persistent=False)
        stages, cin = [], 1
        for w in self.widths:
            stages.append(nn.Sequential(ConvBNReLU(cin, w), self.second_layer(w), nn.MaxPool2d(2)))
            cin = w
        self.stages = nn.ModuleList(stages)
        self.head = nn.Sequential(nn.Flatten(), nn.Dropout(dropout), nn.Linear(cin, num_classes))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        for m in self.modules():
            if isinstance(m, (SpatialAttention, GatedConv)):
                m.reset_parameters()

    def second_layer(self, channels: int) -> nn.Module:
        return ConvBNReLU(channels, channels)

    def init_args(self) -> dict:
        """Constructor arguments, stored in checkpoints so that loading needs nothing but the file."""
        return {"num_classes": self.num_classes, "widths": list(self.widths), "dropout": self.dropout_p}

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (N, 1, 28, 28) in [0, 1]
        return self.head(self.embed(x))  # (N, num_classes)

    def embed(self, x: torch.Tensor) -> torch.Tensor:
        """The pooled features the classifier reads, (N, C): what the garment-or-not head reads too."""
        x = (x - self.mean) / self.std
        for stage in self.stages:
            *layers, pool = stage
            for layer in layers:
                x = layer(x)
            _record_activation(x)  # the last stage's is what Grad-CAM weighs
            x = pool(x)
        return x.mean((2, 3))

    @torch.no_grad()
    def spatial_maps(self, x: torch.Tensor) -> list[torch.Tensor]:
        """The model's own maps, one (N, H, W) in [0, 1] per stage (attention for sa, gates for gated)."""
        with recording_maps() as maps:
            self(x)
        return maps


@register_model("simple")
class SimpleCNN(FashionCNN):
    """Baseline: conv-BN-ReLU x2 + max-pool per stage."""

    title = "SimpleCNN"


@register_model("sa")
class SpatialAttentionCNN(FashionCNN):
    """Baseline plus CBAM spatial attention after the second convolution of every stage."""

    title = "spatial attention"
    map_name = "spatial attention"
    paper = "CBAM, [arXiv 1807.06521](https://arxiv.org/abs/1807.06521)"

    def second_layer(self, channels: int) -> nn.Module:
        return nn.Sequential(ConvBNReLU(channels, channels), SpatialAttention())


@register_model("gated")
class GatedCNN(FashionCNN):
    """Baseline whose second convolution per stage is a residual gated convolution (GLU-style)."""

    title = "GatedCNN"
    map_name = "gates"
    paper = "gated convolutions, [arXiv 1612.08083](https://arxiv.org/abs/1612.08083)"

    def __init__(self, num_classes: int = 10, widths: tuple[int, ...] = (32, 64, 128), dropout: float = 0.2,
                 gate_kernel: int = 1):
        self.gate_kernel = gate_kernel
        super().__init__(num_classes, widths, dropout)

    def second_layer(self, channels: int) -> nn.Module:
        return GatedConv(channels, self.gate_kernel)

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
