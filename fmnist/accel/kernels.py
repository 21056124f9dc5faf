"""The C kernels and the autograd Functions that call them: bf16 channels_last training on the CPU.

On the CPU the element-wise layers of these small CNNs are memory-bound, and eager PyTorch runs each one
as its own pass over whole tensors (and allocates a fresh output for each). ``fused.c`` does the same
arithmetic in fewer passes; each Function below is one layer (or two) of a model, forward and backward:

* ``BatchNormReLUFunction``: BatchNorm with batch statistics + ReLU;
* ``StemFunction``: the first layer, ReLU(BN(conv3x3(image))) for one input channel, the convolution
  recomputed in each pass instead of stored;
* ``GatedResidualFunction``: gated's ReLU(x + BN(conv) * sigmoid(gate));
* ``GatedGateFunction``: the whole gated block, its 3x3 convolution (oneDNN's) and its 1x1 gate (matrix
  products on the channels_last rows) inside, their shares of x's gradient added onto the residual's in
  place; ``GatedGatePool2Function`` with the 2x2 max-pooling after it too;
* ``SpatialAttentionFunction``: sa's channel pooling, its small convolution and x * mask;
  ``SpatialAttentionPool2Function`` with the 2x2 max-pooling after it: the full-size x * mask and its
  gradient are never written;
* ``MaxPool2Function``: 2x2 max-pooling with one-byte indices.

Each ``*_applies`` guard says which tensors and layers a Function takes; ``fmnist.accel.modules`` calls
them. The C file is compiled on first use and loaded by ``fmnist.accel.loader`` (nothing is built at install
time); OpenMP shares torch's own thread pool (libgomp). Without a compiler ``library()`` is None.
"""
from __future__ import annotations

import ctypes

import torch
import torch.nn.functional as F
from torch.autograd.function import once_differentiable

from .loader import library


def applies(x: torch.Tensor) -> bool:
    """True where the fused kernels take x: bf16 channels_last (N, C, H, W) on the CPU, kernels built."""
    return (x.device.type == "cpu" and x.dtype == torch.bfloat16 and x.dim() == 4 and x.numel() > 0
            and x.is_contiguous(memory_format=torch.channels_last) and library() is not None)


def _ptr(t: torch.Tensor) -> ctypes.c_void_p:
    return ctypes.c_void_p(t.data_ptr())


def _fp32_vector(t: torch.Tensor | None) -> bool:
    return t is None or (t.dtype == torch.float32 and t.is_contiguous() and t.device.type == "cpu")


def batch_norm_relu_applies(x: torch.Tensor, bn: torch.nn.BatchNorm2d) -> bool:
    """True where BatchNormReLUFunction (and, with x the BatchNorm's input, GatedResidualFunction) can
    stand in for eager PyTorch in training."""
    return (bn.training and bn.affine and bn.momentum is not None and applies(x)
            and all(_fp32_vector(t) for t in (bn.weight, bn.bias, bn.running_mean, bn.running_var)))


def gate_applies(weight: torch.Tensor, bias: torch.Tensor) -> bool:
    """True where GatedGateFunction takes a 1x1 gate convolution's (C, C, 1, 1) weight and (C,) bias."""
    return (weight.dim() == 4 and weight.shape[2:] == (1, 1) and weight.shape[0] == weight.shape[1]
            and _fp32_vector(bias) and weight.dtype == torch.float32 and weight.device.type == "cpu"
            and weight.is_contiguous())


def _running(t: torch.Tensor | None) -> ctypes.c_void_p:
    return ctypes.c_void_p(None) if t is None else _ptr(t)


class BatchNormReLUFunction(torch.autograd.Function):
    """ReLU(batch_norm(x)) with batch statistics, updating the running ones (if given) as BatchNorm2d does.
    One C call forward, one backward; x is bf16 channels_last, the parameters fp32 (see batch_norm_relu_applies)."""

    @staticmethod
    def forward(ctx, x, weight, bias, running_mean, running_var, momentum: float, eps: float):
        n, c, h, w = x.shape
        stats = torch.empty(4, c)  # mean, invstd, scale, shift
        y = torch.empty_like(x, memory_format=torch.channels_last)
        library().bn_relu_train_forward(_ptr(x), n * h * w, c, _ptr(weight), _ptr(bias), eps, momentum,
                                        _running(running_mean), _running(running_var), _ptr(stats), _ptr(y),
                                        torch.get_num_threads())
        ctx.save_for_backward(x, stats)
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, gy):
        x, stats = ctx.saved_tensors
        gy = gy.to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
        n, c, h, w = x.shape
        grads = torch.empty(2, c)  # d weight, d bias
        dx = torch.empty_like(x, memory_format=torch.channels_last) if ctx.needs_input_grad[0] else None
        library().bn_relu_train_backward(_ptr(x), _ptr(gy), n * h * w, c, _ptr(stats), _ptr(grads),
                                         ctypes.c_void_p(None) if dx is None else _ptr(dx), torch.get_num_threads())
        return dx, grads[0], grads[1], None, None, None, None


def _gated_forward(x, conv, gate, weight, bias, running_mean, running_var, momentum: float, eps: float):
    n, c, h, w = x.shape
    stats = torch.empty(4, c)
    out, sig = (torch.empty_like(x, memory_format=torch.channels_last) for _ in range(2))
    library().gated_train_forward(_ptr(x), _ptr(conv), _ptr(gate), n * h * w, c, _ptr(weight), _ptr(bias),
                                  eps, momentum, _running(running_mean), _running(running_var), _ptr(stats),
                                  _ptr(out), _ptr(sig), torch.get_num_threads())
    return out, sig, stats


def _gated_backward(out, conv, sig, stats, gout):
    """(d x: the residual path's share, d conv, d gate, (d weight, d bias) of the BatchNorm and d gate summed
    over pixels: the gate convolution's bias gradient)."""
    gout = gout.to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
    n, c, h, w = out.shape
    grads = torch.empty(3, c)
    dx, dconv, dgate = (torch.empty_like(out, memory_format=torch.channels_last) for _ in range(3))
    library().gated_train_backward(_ptr(out), _ptr(conv), _ptr(sig), _ptr(gout), n * h * w, c, _ptr(stats),
                                   _ptr(grads), _ptr(dx), _ptr(dconv), _ptr(dgate), torch.get_num_threads())
    return dx, dconv, dgate, grads


class GatedResidualFunction(torch.autograd.Function):
    """ReLU(x + batch_norm(conv) * sigmoid(gate)): the element-wise part of models.GatedConv in training,
    batch statistics of conv, running ones updated as BatchNorm2d does. x, conv and gate (the gate
    convolution's output before the sigmoid) are (N, C, H, W) bf16 channels_last."""

    @staticmethod
    def forward(ctx, x, conv, gate, weight, bias, running_mean, running_var, momentum: float, eps: float):
        out, sig, stats = _gated_forward(x, conv, gate, weight, bias, running_mean, running_var, momentum, eps)
        ctx.save_for_backward(out, conv, sig, stats)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, gout):
        dx, dconv, dgate, grads = _gated_backward(*ctx.saved_tensors, gout)
        return dx, dconv, dgate, grads[0], grads[1], None, None, None, None


def _rows(t: torch.Tensor) -> torch.Tensor:
    """A channels_last (N, C, H, W) tensor as the (N*H*W, C) matrix it is in memory (a view)."""
    return t.permute(0, 2, 3, 1).reshape(-1, t.shape[1])


def conv3x3_applies(conv: torch.nn.Conv2d) -> bool:
    """True where GatedGateFunction takes conv: a 3x3 convolution of stride 1, padding 1, no bias, fp32."""
    return (conv.kernel_size == (3, 3) and conv.stride == (1, 1) and conv.padding == (1, 1)
            and conv.dilation == (1, 1) and conv.groups == 1 and conv.bias is None and conv.padding_mode == "zeros"
            and conv.weight.dtype == torch.float32 and conv.weight.device.type == "cpu")


def _conv3x3(x: torch.Tensor, conv_weight: torch.Tensor):
    """The block's 3x3 convolution in bf16 as autocast runs it (oneDNN's): (output, the bf16 weight used)."""
    w = conv_weight.detach().to(torch.bfloat16)
    return F.conv2d(x, w, padding=1).contiguous(memory_format=torch.channels_last), w


_conv_add_ = None  # oneDNN's convolution with a sum post-op, where this torch has it (see _conv3x3_backward)


def _conv3x3_backward(dconv: torch.Tensor, x: torch.Tensor, w: torch.Tensor, dx: torch.Tensor) -> torch.Tensor:
    """Adds the convolution's share of x's gradient onto dx (in place) and returns its weight's gradient
    (fp32). x's share is the convolution of dconv with the weight transposed and flipped, which oneDNN runs
    with dx as a sum post-op (torch.ops.mkldnn._convolution_pointwise_, what torch.compile fuses with):
    autograd would write the share, then add it to dx in a second pass over both."""
    global _conv_add_
    pad = (1, 1)
    dw = torch.ops.aten.convolution_backward(dconv, x, w, None, pad, pad, pad, False, (0, 0), 1,
                                             (False, True, False))[1]
    wt = w.transpose(0, 1).flip(2, 3).contiguous(memory_format=torch.channels_last)
    if _conv_add_ is None:
        try:
            _conv_add_ = torch.ops.mkldnn._convolution_pointwise_.binary
        except (AttributeError, RuntimeError):
            _conv_add_ = False
    if _conv_add_:
        try:
            _conv_add_(dx, dconv, wt, None, [1, 1], [1, 1], [1, 1], 1, "add", None, None, [], None)
            return dw.float()
        except RuntimeError:  # an op this torch build lacks or no longer takes so: the two passes
            _conv_add_ = False
    dx.add_(F.conv2d(dconv, wt, padding=1))
    return dw.float()


def _gate(x: torch.Tensor, gate_weight: torch.Tensor, gate_bias: torch.Tensor):
    """A 1x1 convolution of channels_last x in bf16, as a matrix product on its rows: (gate (N, C, H, W)
    channels_last, the weight as the bf16 (C, C) matrix used)."""
    n, c, h, w = x.shape
    v = gate_weight.detach().to(torch.bfloat16).view(c, c)
    gate = torch.addmm(gate_bias.detach().to(torch.bfloat16), _rows(x), v.t())  # (N*H*W, C)
    return gate.view(n, h, w, c).permute(0, 3, 1, 2), v


def _gate_backward(x: torch.Tensor, v: torch.Tensor, dx: torch.Tensor, dgate: torch.Tensor):
    """Adds the gate's share of x's gradient onto dx (in place) and returns the gate weight's gradient."""
    dg, xr = _rows(dgate), _rows(x)
    _rows(dx).addmm_(dg, v)  # dx is channels_last: its rows are a view
    m, c = dg.shape
    parts = min(torch.get_num_threads(), 4)
    if parts > 1 and m % parts == 0:
        # the weight gradient sums over all N*H*W pixels; torch's mm of this shape runs on one thread, so
        # the sum is split into one matrix product per thread (bmm), the parts added in fp32
        dv = torch.bmm(dg.view(parts, -1, c).transpose(1, 2), xr.view(parts, -1, c)).sum(0, dtype=torch.float32)
    else:
        dv = (dg.t() @ xr).float()
    return dv.view_as(v).unsqueeze(-1).unsqueeze(-1)


def _block_gradients(x, cw, v, dx, dconv, dgate, grads):
    """GatedGateFunction's and GatedGatePool2Function's gradients from their C backward's (dx the residual's
    share of x's, dconv, dgate, grads): the gate's and the convolution's shares added onto dx."""
    dv = _gate_backward(x, v, dx, dgate)
    dw = _conv3x3_backward(dconv, x, cw, dx)
    return dx, dw, dv, grads[2], grads[0], grads[1], None, None, None, None


class GatedGateFunction(torch.autograd.Function):
    """ReLU(x + batch_norm(conv(x)) * sigmoid(gate(x))): models.GatedConv in training, its 3x3 convolution
    (weight (C, C, 3, 3), padding 1, no bias) and its 1x1 gate (weight (C, C, 1, 1), bias (C,)) included,
    the fp32 parameters applied in bf16 as autocast would. x's gradient has three shares, the residual's,
    the gate's and the convolution's: the C kernel writes the first, the gate's is added in place by one
    addmm (a 1x1 convolution on channels_last rows is a matrix product), the convolution's by oneDNN as
    it computes it (_conv3x3_backward); autograd would write each and add them up in passes of their own.
    The gate's weight gradient is a matrix product too, one per thread (oneDNN's 1x1 weight gradient of
    this shape runs on one)."""

    @staticmethod
    def forward(ctx, x, conv_weight, gate_weight, gate_bias, weight, bias, running_mean, running_var,
                momentum: float, eps: float):
        conv, cw = _conv3x3(x, conv_weight)
        gate, v = _gate(x, gate_weight, gate_bias)
        out, sig, stats = _gated_forward(x, conv, gate, weight, bias, running_mean, running_var, momentum, eps)
        ctx.save_for_backward(x, cw, out, conv, sig, stats, v)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, gout):
        x, cw, out, conv, sig, stats, v = ctx.saved_tensors
        return _block_gradients(x, cw, v, *_gated_backward(out, conv, sig, stats, gout))


class GatedGatePool2Function(torch.autograd.Function):
    """max_pool2d(GatedGateFunction(...), 2): gated's block and the 2x2 max-pooling that ends its stage, the
    same values and gradients as the two one after the other, without the block's full-size output and
    its gradient in memory (the pooling's code also marks the windows whose max the ReLU zeroed, which is
    all the backward needs of h). H and W >= 2."""

    @staticmethod
    def forward(ctx, x, conv_weight, gate_weight, gate_bias, weight, bias, running_mean, running_var,
                momentum: float, eps: float):
        n, c, h, w = x.shape
        conv, cw = _conv3x3(x, conv_weight)
        gate, v = _gate(x, gate_weight, gate_bias)
        stats = torch.empty(4, c)
        sig = torch.empty_like(x, memory_format=torch.channels_last)
        out = torch.empty(n, c, h // 2, w // 2, dtype=x.dtype, memory_format=torch.channels_last)
        code = torch.empty(n, h // 2, w // 2, c, dtype=torch.uint8)
        library().gated_maxpool2_forward(_ptr(x), _ptr(conv), _ptr(gate), n, h, w, c, _ptr(weight), _ptr(bias), eps,
                                         momentum, _running(running_mean), _running(running_var), _ptr(stats),
                                         _ptr(out), _ptr(code), _ptr(sig), torch.get_num_threads())
        ctx.save_for_backward(x, cw, conv, sig, stats, v, code)
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, gout):
        x, cw, conv, sig, stats, v, code = ctx.saved_tensors
        gout = gout.to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
        n, c, h, w = x.shape
        grads = torch.empty(3, c)
        dx, dconv, dgate = (torch.empty_like(x, memory_format=torch.channels_last) for _ in range(3))
        library().gated_maxpool2_backward(_ptr(conv), _ptr(sig), _ptr(gout), _ptr(code), n, h, w, c,
                                          _ptr(stats), _ptr(grads), _ptr(dx), _ptr(dconv), _ptr(dgate),
                                          torch.get_num_threads())
        return _block_gradients(x, cw, v, dx, dconv, dgate, grads)


def _sa_mask(x: torch.Tensor, weight: torch.Tensor, bias: torch.Tensor):
    """sa's forward up to the mask: the padded planar [mean_c; max_c] maps, the argmax channels, the
    weight as fp32 and the mask (N, 1, H, W) fp32."""
    lib, threads = library(), torch.get_num_threads()
    n, c, h, w = x.shape
    r = weight.shape[-1] // 2
    planes = n * 2 * (h + 2 * r) * (w + 2 * r)  # planar fp32, zero border (the convolution's padding),
    pooled = torch.zeros(planes + 2 * r)  # and 2r floats of slack that sa_mask's last row reads past
    idx = torch.empty(n, h, w, dtype=torch.int16)
    lib.sa_pool(_ptr(x), n, h, w, c, 2 * r + 1, _ptr(pooled), _ptr(idx), threads)
    wt = weight.detach().float().contiguous()
    mask = torch.empty(n, 1, h, w)
    lib.sa_mask(_ptr(pooled), n, h, w, 2 * r + 1, _ptr(wt), float(bias.detach()[0]), _ptr(mask), threads)
    return pooled, idx, wt, mask


def _sa_conv_backward(pooled: torch.Tensor, dlogits: torch.Tensor, wt: torch.Tensor):
    """The small convolution's backward: (d weight, d bias) and the gradient at [mean_c; max_c]."""
    n, h, w = dlogits.shape
    k = wt.shape[-1]
    grads = torch.empty(2 * k * k + 1)  # d weight, d bias
    dpooled = torch.empty(n, 2, h, w)
    library().sa_conv_backward(_ptr(pooled), _ptr(dlogits), n, h, w, k, _ptr(wt), _ptr(grads), _ptr(dpooled),
                               torch.get_num_threads())
    return grads[:-1].view(1, 2, k, k), grads[-1:], dpooled


class SpatialAttentionFunction(torch.autograd.Function):
    """CBAM's spatial attention in training: mask = sigmoid(conv_kxk([mean_c(x); max_c(x)]) + b), returns
    (x * mask, mask); the mask (N, 1, H, W), fp32, carries no gradient of its own (it is returned for the
    map). x is (N, C, H, W) bf16 channels_last; weight (1, 2, k, k) and bias (1,) fp32, k odd. The small
    convolution runs in C too, in fp32 (eager bf16 rounds the mask's logits)."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        n, c, h, w = x.shape
        pooled, idx, wt, mask = _sa_mask(x, weight, bias)
        out = torch.empty_like(x, memory_format=torch.channels_last)
        library().sa_apply(_ptr(x), _ptr(mask), n * h * w, c, _ptr(out), torch.get_num_threads())
        ctx.save_for_backward(x, pooled, idx, mask, wt)
        ctx.mark_non_differentiable(mask)
        return out, mask

    @staticmethod
    @once_differentiable
    def backward(ctx, gout, _gmask):
        x, pooled, idx, mask, wt = ctx.saved_tensors
        lib, threads = library(), torch.get_num_threads()
        gout = gout.to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
        n, c, h, w = x.shape
        dlogits = torch.empty(n, h, w)
        lib.sa_grad_logits(_ptr(gout), _ptr(x), _ptr(mask), n * h * w, c, _ptr(dlogits), threads)
        gweight, gbias, dpooled = _sa_conv_backward(pooled, dlogits, wt)
        dx = torch.empty_like(x, memory_format=torch.channels_last)
        lib.sa_grad_input(_ptr(gout), _ptr(mask), _ptr(dpooled), _ptr(idx), n, h * w, c, _ptr(dx), threads)
        return dx, gweight, gbias


class SpatialAttentionPool2Function(torch.autograd.Function):
    """max_pool2d(x * mask, 2) with sa's mask as in SpatialAttentionFunction, returns (pooled, mask): what
    SpatialAttentionFunction followed by MaxPool2Function compute (same values, same gradients), without
    the full-size product and its gradient in memory. x (N, C, H, W) bf16 channels_last, H and W >= 2."""

    @staticmethod
    def forward(ctx, x, weight, bias):
        n, c, h, w = x.shape
        pooled, idx, wt, mask = _sa_mask(x, weight, bias)
        out = torch.empty(n, c, h // 2, w // 2, dtype=x.dtype, memory_format=torch.channels_last)
        code = torch.empty(n, h // 2, w // 2, c, dtype=torch.uint8)
        library().sa_apply_maxpool2(_ptr(x), _ptr(mask), n, h, w, c, _ptr(out), _ptr(code), torch.get_num_threads())
        ctx.save_for_backward(x, pooled, idx, mask, wt, code)
        ctx.mark_non_differentiable(mask)
        return out, mask

    @staticmethod
    @once_differentiable
    def backward(ctx, gout, _gmask):
        x, pooled, idx, mask, wt, code = ctx.saved_tensors
        lib, threads = library(), torch.get_num_threads()
        gout = gout.to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
        n, c, h, w = x.shape
        dlogits = torch.empty(n, h, w)
        lib.sa_maxpool2_grad_logits(_ptr(gout), _ptr(code), _ptr(x), _ptr(mask), n, h, w, c, _ptr(dlogits), threads)
        gweight, gbias, dpooled = _sa_conv_backward(pooled, dlogits, wt)
        dx = torch.empty_like(x, memory_format=torch.channels_last)
        lib.sa_maxpool2_grad_input(_ptr(gout), _ptr(code), _ptr(mask), _ptr(dpooled), _ptr(idx), n, h, w, c,
                                   _ptr(dx), threads)
        return dx, gweight, gbias


class MaxPool2Function(torch.autograd.Function):
    """2x2 max-pooling with stride 2 (floor mode) of a (N, C, H, W) bf16 channels_last tensor; keeps a
    one-byte code per output (which of the four inputs won) instead of int64 indices."""

    @staticmethod
    def forward(ctx, x):
        n, c, h, w = x.shape
        out = torch.empty(n, c, h // 2, w // 2, dtype=x.dtype, memory_format=torch.channels_last)
        code = torch.empty(n, h // 2, w // 2, c, dtype=torch.uint8)
        library().maxpool2_forward(_ptr(x), n, h, w, c, _ptr(out), _ptr(code), torch.get_num_threads())
        ctx.save_for_backward(code)
        ctx.shape = x.shape
        return out

    @staticmethod
    @once_differentiable
    def backward(ctx, gout):
        (code,) = ctx.saved_tensors
        n, c, h, w = ctx.shape
        gout = gout.to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
        dx = torch.empty(n, c, h, w, dtype=torch.bfloat16, memory_format=torch.channels_last)
        library().maxpool2_backward(_ptr(gout), _ptr(code), n, h, w, c, _ptr(dx), torch.get_num_threads())
        return dx


def _cpu_autocast_bf16() -> bool:
    try:  # the device-type forms arrived in torch 2.4
        return torch.is_autocast_enabled("cpu") and torch.get_autocast_dtype("cpu") == torch.bfloat16
    except (AttributeError, TypeError):
        return False


def stem_applies(x: torch.Tensor, conv: torch.nn.Conv2d, bn: torch.nn.BatchNorm2d) -> bool:
    """True where StemFunction can stand in for conv + BatchNorm + ReLU in bf16 training: a 3x3, stride 1,
    padding 1, bias-free convolution of a one-channel fp32 CPU image that needs no gradient, under CPU
    autocast to bf16 (where eager would run the convolution in bf16), kernels built."""
    return (x.device.type == "cpu" and x.dtype == torch.float32 and x.dim() == 4 and x.shape[1] == 1
            and x.numel() > 0 and not x.requires_grad and conv.in_channels == 1 and conv.groups == 1
            and conv.kernel_size == (3, 3) and conv.stride == (1, 1) and conv.padding == (1, 1)
            and conv.dilation == (1, 1) and conv.bias is None and conv.padding_mode == "zeros"
            and _fp32_vector(conv.weight) and _cpu_autocast_bf16() and library() is not None
            and bn.training and bn.affine and bn.momentum is not None
            and all(_fp32_vector(t) for t in (bn.weight, bn.bias, bn.running_mean, bn.running_var)))


class StemFunction(torch.autograd.Function):
    """ReLU(batch_norm(conv2d(x, weight, padding=1))) with batch statistics for a (N, 1, H, W) fp32 image
    and a (C, 1, 3, 3) fp32 weight, updating the running statistics as BatchNorm2d does; returns (N, C, H, W)
    bf16 channels_last, as conv + BatchNormReLU under bf16 autocast do. The convolution runs in fp32 (eager
    rounds image, weight and output to bf16) and is recomputed in each pass instead of stored. No gradient
    for the image (see stem_applies)."""

    @staticmethod
    def forward(ctx, x, conv_weight, weight, bias, running_mean, running_var, momentum: float, eps: float):
        n, _, h, w = x.shape
        c = conv_weight.shape[0]
        xp = F.pad(x.detach().reshape(n, h, w), (1, 1, 1, 1)).contiguous()
        image_mean = float(xp.mean())  # shifts the taps' moments (see fused.c)
        wt = conv_weight.detach().reshape(c, 9).t().contiguous()  # (9, C): tap-major
        mom = torch.empty(90, dtype=torch.float64)  # the taps' sums and second moments
        stats = torch.empty(4, c)
        y = torch.empty(n, c, h, w, dtype=torch.bfloat16, memory_format=torch.channels_last)
        library().stem_train_forward(_ptr(xp), n, h, w, c, _ptr(wt), image_mean, _ptr(weight), _ptr(bias), eps,
                                     momentum, _running(running_mean), _running(running_var), _ptr(mom),
                                     _ptr(stats), _ptr(y), torch.get_num_threads())
        ctx.save_for_backward(xp, wt, mom, stats)
        ctx.shape, ctx.image_mean = (n, c, h, w), image_mean
        return y

    @staticmethod
    @once_differentiable
    def backward(ctx, gy):
        xp, wt, mom, stats = ctx.saved_tensors
        n, c, h, w = ctx.shape
        gy = gy.to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
        grads = torch.empty(2, c)
        dwt = torch.empty(9, c)
        library().stem_train_backward(_ptr(xp), n, h, w, c, _ptr(wt), ctx.image_mean, _ptr(mom), _ptr(gy),
                                      _ptr(stats), _ptr(grads), _ptr(dwt), torch.get_num_threads())
        return None, dwt.t().reshape(c, 1, 3, 3), grads[0], grads[1], None, None, None, None
