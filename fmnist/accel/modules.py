"""Fused stand-ins for the layers of fmnist.models, and the functions that swap them in and out.

Each fused module holds the very modules (and so the parameters and buffers) of the plain one it
replaces, so state-dict keys and values are unchanged, and computes the same function. In training on
bf16 channels_last CPU tensors it calls its kernel (fmnist.accel.kernels); wherever the kernel does not
apply (evaluation, fp32, CUDA, no compiler, a shape the kernel does not take) its guard says so and the
plain module's forward runs.

Where a stage's last layer is sa's attention or gated's block, the max-pooling after it can run in the
same kernel: the converter gives that layer ``pools=True`` and leaves ``PoolingDoneAbove`` in the
pooling's place, so the full-size output and its gradient are never written.
"""
from __future__ import annotations

import torch
import torch.nn as nn
import torch.nn.functional as F

from ..models import ConvBNReLU, GatedConv, SpatialAttention, record_map
from . import kernels as k


def _count(bn: nn.BatchNorm2d) -> None:
    """What BatchNorm2d's forward does besides its arithmetic in training, for the kernels that do it."""
    if bn.num_batches_tracked is not None:
        bn.num_batches_tracked.add_(1)


def _bn_args(bn: nn.BatchNorm2d) -> tuple:
    return bn.weight, bn.bias, bn.running_mean, bn.running_var, bn.momentum, bn.eps


def _at_least_2x2(x: torch.Tensor) -> bool:
    return x.shape[-1] >= 2 and x.shape[-2] >= 2


def _adopt(cls, plain: nn.Module, **settings) -> nn.Module:
    """An instance of cls holding plain's submodules (shared, not copied), its mode and settings."""
    module = cls.__new__(cls)
    nn.Module.__init__(module)
    for name, child in plain.named_children():
        module.add_module(name, child)
    module.train(plain.training)
    for key, value in settings.items():
        if hasattr(cls, key):
            setattr(module, key, value)
    return module


class FusedConvBNReLU(ConvBNReLU):
    """ConvBNReLU; in bf16 training the first layer (one input channel) as one kernel (StemFunction:
    the convolution is recomputed in the backward instead of stored) and any other layer's BatchNorm +
    ReLU as one (BatchNormReLUFunction)."""

    stem = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv, bn, _ = self
        if self.stem and k.stem_applies(x, conv, bn):
            _count(bn)
            return k.StemFunction.apply(x, conv.weight, *_bn_args(bn))
        y = conv(x)
        if k.batch_norm_relu_applies(y, bn):
            _count(bn)
            return k.BatchNormReLUFunction.apply(y, *_bn_args(bn))
        return F.relu(bn(y), inplace=True)


class FusedMaxPool2(nn.MaxPool2d):
    """nn.MaxPool2d(2); in bf16 training one kernel that keeps one-byte indices."""

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.training and _at_least_2x2(x) and k.applies(x):
            return k.MaxPool2Function.apply(x)
        return super().forward(x)


class FusedSpatialAttention(SpatialAttention):
    """SpatialAttention; in bf16 training the channel pooling, the small convolution (in fp32) and the
    product as one kernel, with ``pools`` the 2x2 max-pooling after it too."""

    pools = False

    def _applies(self, x: torch.Tensor) -> bool:
        return bool(self.training and k.applies(x) and x.shape[1] < 2**15 and self.conv.kernel_size[0] % 2
                    and self.conv.bias is not None)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self._applies(x):
            out = super().forward(x)
            return F.max_pool2d(out, 2) if self.pools else out
        if self.pools and _at_least_2x2(x):
            out, mask = k.SpatialAttentionPool2Function.apply(x, self.conv.weight, self.conv.bias)
        else:
            out, mask = k.SpatialAttentionFunction.apply(x, self.conv.weight, self.conv.bias)
            out = F.max_pool2d(out, 2) if self.pools else out
        record_map(lambda: mask[:, 0])
        return out


class FusedGatedConv(GatedConv):
    """GatedConv; in bf16 training the whole block as one function (GatedGateFunction: its 3x3 convolution
    and 1x1 gate inside, their shares of x's gradient added in place), with ``pools`` the 2x2
    max-pooling after it too. With ``gate_inside`` False (or a gate that is not 1x1) the two convolutions
    run before the kernel, which does the element-wise rest (GatedResidualFunction)."""

    pools = False
    gate_inside = True

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        conv, bn, gate = self.conv, self.bn, self.gate
        if not k.batch_norm_relu_applies(x, bn):
            out = super().forward(x)
        elif (self.gate_inside and k.conv3x3_applies(conv) and gate.kernel_size == (1, 1) and gate.bias is not None
              and k.gate_applies(gate.weight, gate.bias)):
            record_map(lambda: torch.sigmoid(gate(x)).mean(1))
            _count(bn)
            args = (x, conv.weight, gate.weight, gate.bias, *_bn_args(bn))
            if self.pools and _at_least_2x2(x):
                return k.GatedGatePool2Function.apply(*args)
            out = k.GatedGateFunction.apply(*args)
        else:
            cv, a = conv(x), gate(x)
            record_map(lambda: torch.sigmoid(a).mean(1))
            if k.applies(cv) and k.applies(a):
                _count(bn)
                out = k.GatedResidualFunction.apply(x, cv, a, *_bn_args(bn))
            else:
                out = F.relu(x + bn(cv) * torch.sigmoid(a))
        return F.max_pool2d(out, 2) if self.pools else out


class PoolingDoneAbove(nn.Identity):
    """Stands where a max-pooling was whose work the layer before it now does (``pools=True``); keeps the
    original, which ``to_plain`` puts back."""

    def __init__(self, pool: nn.MaxPool2d):
        super().__init__()
        self.__dict__["original"] = pool  # not a submodule: the model's module tree stays as before


_PLAIN = {FusedConvBNReLU: ConvBNReLU, FusedSpatialAttention: SpatialAttention, FusedGatedConv: GatedConv}
_FUSED = {plain: fused for fused, plain in _PLAIN.items()}


def _is_pool2(m: nn.Module) -> bool:
    return (type(m) is nn.MaxPool2d and m.kernel_size in (2, (2, 2)) and m.stride in (2, (2, 2))
            and m.padding in (0, (0, 0)) and m.dilation in (1, (1, 1)) and not m.ceil_mode and not m.return_indices)


def _output_layer(seq: nn.Sequential) -> tuple[nn.Module, str]:
    """(parent, name) of the layer that produces seq's output, looking into nested plain Sequentials."""
    parent, name = seq, list(seq._modules)[-1]
    while type(parent._modules[name]) is nn.Sequential and len(parent._modules[name]):
        parent = parent._modules[name]
        name = list(parent._modules)[-1]
    return parent, name


def fused_layer(plain: nn.Module, **settings) -> nn.Module:
    """The fused stand-in for one plain layer (ConvBNReLU, SpatialAttention or GatedConv), holding its
    modules; settings: ``pools``, ``stem``, ``gate_inside`` where the stand-in has them."""
    if type(plain) not in _FUSED:
        raise TypeError(f"no fused stand-in for {type(plain).__name__}")
    return _adopt(_FUSED[type(plain)], plain, **settings)


def to_fused(model: nn.Module, *, stem: bool = True, gate_inside: bool = True, pooling: bool = True) -> nn.Module:
    """Swap model's layers for their fused stand-ins, in place (returns model). The options turn single
    fusions off, for A/B measurements (bench/step_ab.py): the first layer's kernel, gated's convolutions
    inside its kernel, and stage ends fused with the max-pooling after them."""
    for parent in list(model.modules()):
        names = list(parent._modules)
        if pooling and type(parent) is nn.Sequential:
            for before, name in zip(names, names[1:]):
                if not _is_pool2(parent._modules[name]):
                    continue
                above = parent._modules[before]
                owner, key = _output_layer(above) if type(above) is nn.Sequential else (parent, before)
                if type(owner._modules[key]) in (SpatialAttention, GatedConv):
                    owner._modules[key] = fused_layer(owner._modules[key], pools=True, gate_inside=gate_inside)
                    parent._modules[name] = PoolingDoneAbove(parent._modules[name])
        for name in names:
            child = parent._modules[name]
            if type(child) in _FUSED:
                parent._modules[name] = fused_layer(child, stem=stem, gate_inside=gate_inside)
            elif _is_pool2(child):
                fused = FusedMaxPool2(2)
                fused.train(child.training)
                parent._modules[name] = fused
    return model


def to_plain(model: nn.Module) -> nn.Module:
    """Undo to_fused, in place (returns model): the plain modules back, holding the same parameters."""
    for parent in list(model.modules()):
        for name, child in list(parent._modules.items()):
            if type(child) in _PLAIN:
                parent._modules[name] = _adopt(_PLAIN[type(child)], child)
            elif isinstance(child, PoolingDoneAbove):
                parent._modules[name] = child.original
            elif type(child) is FusedMaxPool2:
                pool = nn.MaxPool2d(2)
                pool.train(child.training)
                parent._modules[name] = pool
    return model
