"""Fused CPU kernels for training: BatchNorm + ReLU in bf16 channels_last, with a plain-PyTorch fallback.

On the CPU the element-wise layers of these small CNNs are memory-bound, and eager PyTorch runs BatchNorm
and ReLU as separate passes over whole tensors. ``fmnist/fused.c`` does both in fewer passes. It is
compiled on first use with the system's C compiler (``gcc -O3 -march=native -fopenmp``, about a second)
into a cache folder (``$FMNIST_CACHE``, else ``~/.cache/fmnist``) and loaded with ctypes, so nothing needs
building at install time. Where there is no compiler, the build fails, the tensor is not bf16
channels_last on the CPU, or ``FMNIST_FUSED=0`` is set, callers get ``None`` from :func:`library` and use
eager PyTorch; both paths compute the same function (tests/test_fused.py).
"""
from __future__ import annotations

import ctypes
import hashlib
import os
import shutil
import subprocess
import tempfile
import threading
from pathlib import Path

import torch
import torch.nn.functional as F

SOURCE = Path(__file__).with_name("fused.c")
FLAGS = ["-O3", "-march=native", "-mprefer-vector-width=512", "-fopenmp", "-std=c11", "-shared", "-fPIC"]
_lock = threading.Lock()
_lib: ctypes.CDLL | None = None
_tried = False
build_error: str | None = None  # why the kernels are not in use, for benchmarks and the curious


_allocator_tuned = False


def keep_freed_memory() -> bool:
    """Ask glibc to keep freed blocks for reuse instead of returning them to the OS (process-wide).

    By default glibc hands blocks over 128 KiB back at once, so every new activation of a training step
    (3.2 MB for one (64, 32, 28, 28) bf16 tensor) is page-faulted in again: ~1,000-6,000 faults per step,
    costly on a virtual machine. With these settings a step faults ~0 times and the fused kernels run up to
    twice as fast; the price is that memory freed at the heap's top (up to 1 GiB) stays with the process.
    Returns False where the C library is not glibc (nothing changed)."""
    global _allocator_tuned
    if not _allocator_tuned:
        try:
            mallopt = ctypes.CDLL("libc.so.6").mallopt
        except (OSError, AttributeError):
            return False
        m_trim_threshold, m_top_pad, m_mmap_threshold = -1, -2, -3
        _allocator_tuned = bool(mallopt(m_mmap_threshold, 32 << 20) and mallopt(m_trim_threshold, 1 << 30)
                                and mallopt(m_top_pad, 64 << 20))
    return _allocator_tuned


def _cache_dir() -> Path:
    return Path(os.environ.get("FMNIST_CACHE") or Path.home() / ".cache" / "fmnist")


def _cpu_key() -> str:
    """-march=native code runs only on CPUs like this one: the cache key includes the CPU's flags."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line
    except OSError:
        pass
    return os.uname().machine


def _build() -> ctypes.CDLL:
    cc = os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")
    if not cc:
        raise RuntimeError("no C compiler (gcc or cc) found")
    key = hashlib.sha256(SOURCE.read_bytes() + " ".join([cc, *FLAGS, _cpu_key()]).encode()).hexdigest()[:16]
    so = _cache_dir() / f"fused-{key}.so"
    if not so.exists():
        so.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(suffix=".so", dir=so.parent)
        os.close(fd)
        try:
            out = subprocess.run([cc, *FLAGS, str(SOURCE), "-o", tmp], capture_output=True, text=True, timeout=120)
            if out.returncode != 0:
                raise RuntimeError(f"{cc} failed: {out.stderr.strip()[-500:]}")
            os.replace(tmp, so)  # atomic: a concurrent build or a crash never leaves half a library
        finally:
            if os.path.exists(tmp):
                os.unlink(tmp)
    lib = ctypes.CDLL(str(so))
    p, i64, i32, f64 = ctypes.c_void_p, ctypes.c_int64, ctypes.c_int, ctypes.c_double
    lib.bn_relu_train_forward.argtypes = [p, i64, i64, p, p, f64, f64, p, p, p, p, i32]
    lib.bn_relu_train_backward.argtypes = [p, p, i64, i64, p, p, p, i32]
    lib.gated_train_forward.argtypes = [p, p, p, i64, i64, p, p, f64, f64, p, p, p, p, p, i32]
    lib.gated_train_backward.argtypes = [p, p, p, p, i64, i64, p, p, p, p, p, i32]
    lib.sa_pool.argtypes = [p, i64, i64, p, p, i32]
    lib.sa_apply.argtypes = [p, p, i64, i64, p, i32]
    lib.sa_grad_mask.argtypes = [p, p, i64, i64, p, i32]
    lib.sa_grad_input.argtypes = [p, p, p, p, i64, i64, p, i32]
    lib.maxpool2_forward.argtypes = [p, i64, i64, i64, i64, p, p, i32]
    lib.maxpool2_backward.argtypes = [p, p, i64, i64, i64, i64, p, i32]
    return lib


def library() -> ctypes.CDLL | None:
    """The compiled kernels, or None where they cannot be used (the reason is in ``build_error``)."""
    global _lib, _tried, build_error
    if _tried:
        return _lib
    with _lock:
        if not _tried:
            if os.environ.get("FMNIST_FUSED", "1") == "0":
                build_error = "turned off by FMNIST_FUSED=0"
            else:
                try:
                    _lib = _build()
                except Exception as e:  # no compiler, no OpenMP, a read-only home...: eager PyTorch
                    build_error = f"{type(e).__name__}: {e}"
            _tried = True
    return _lib


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
    def backward(ctx, gy):
        x, stats = ctx.saved_tensors
        gy = gy.to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
        n, c, h, w = x.shape
        grads = torch.empty(2, c)  # d weight, d bias
        dx = torch.empty_like(x, memory_format=torch.channels_last) if ctx.needs_input_grad[0] else None
        library().bn_relu_train_backward(_ptr(x), _ptr(gy), n * h * w, c, _ptr(stats), _ptr(grads),
                                         ctypes.c_void_p(None) if dx is None else _ptr(dx), torch.get_num_threads())
        return dx, grads[0], grads[1], None, None, None, None


class GatedResidualFunction(torch.autograd.Function):
    """ReLU(x + batch_norm(conv) * sigmoid(gate)): the element-wise part of models.GatedConv in training,
    batch statistics of conv, running ones updated as BatchNorm2d does. x, conv and gate (the gate
    convolution's output before the sigmoid) are (N, C, H, W) bf16 channels_last."""

    @staticmethod
    def forward(ctx, x, conv, gate, weight, bias, running_mean, running_var, momentum: float, eps: float):
        n, c, h, w = x.shape
        stats = torch.empty(4, c)
        out, sig = (torch.empty_like(x, memory_format=torch.channels_last) for _ in range(2))
        library().gated_train_forward(_ptr(x), _ptr(conv), _ptr(gate), n * h * w, c, _ptr(weight), _ptr(bias),
                                      eps, momentum, _running(running_mean), _running(running_var), _ptr(stats),
                                      _ptr(out), _ptr(sig), torch.get_num_threads())
        ctx.save_for_backward(out, conv, sig, stats)
        return out

    @staticmethod
    def backward(ctx, gout):
        out, conv, sig, stats = ctx.saved_tensors
        gout = gout.to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
        n, c, h, w = out.shape
        grads = torch.empty(2, c)
        dx, dconv, dgate = (torch.empty_like(out, memory_format=torch.channels_last) for _ in range(3))
        library().gated_train_backward(_ptr(out), _ptr(conv), _ptr(sig), _ptr(gout), n * h * w, c, _ptr(stats),
                                       _ptr(grads), _ptr(dx), _ptr(dconv), _ptr(dgate), torch.get_num_threads())
        return dx, dconv, dgate, grads[0], grads[1], None, None, None, None


class SpatialAttentionFunction(torch.autograd.Function):
    """CBAM's spatial attention in training: mask = sigmoid(conv([mean_c(x); max_c(x)])), returns
    (x * mask, mask); the mask (N, 1, H, W) carries no gradient of its own (it is returned for the map).
    x is (N, C, H, W) bf16 channels_last; the 2->1 convolution runs in PyTorch, in fp32 (eager bf16 rounds
    the mask's logits, and the bias's gradient, a sum with heavy cancellation, moved by a few percent)."""

    @staticmethod
    def forward(ctx, x, weight, bias, padding: int):
        lib, threads = library(), torch.get_num_threads()
        n, c, h, w = x.shape
        pooled = torch.empty(n, 2, h, w, dtype=torch.bfloat16, memory_format=torch.channels_last)
        idx = torch.empty(n, h, w, dtype=torch.int16)
        lib.sa_pool(_ptr(x), n * h * w, c, _ptr(pooled), _ptr(idx), threads)
        pooled32 = pooled.float()  # (N, 2, H, W): the small convolution runs in fp32, forward and backward
        mask32 = torch.sigmoid(F.conv2d(pooled32, weight.detach(), bias.detach(), padding=padding))
        mask = mask32.to(torch.bfloat16).contiguous()  # (N, 1, H, W), what multiplies x
        out = torch.empty_like(x, memory_format=torch.channels_last)
        lib.sa_apply(_ptr(x), _ptr(mask), n * h * w, c, _ptr(out), threads)
        ctx.save_for_backward(x, pooled32, idx, mask, mask32, weight.detach())
        ctx.padding = padding
        ctx.mark_non_differentiable(mask)
        return out, mask

    @staticmethod
    def backward(ctx, gout, _gmask):
        x, pooled32, idx, mask, mask32, weight = ctx.saved_tensors
        lib, threads = library(), torch.get_num_threads()
        gout = gout.to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
        n, c, h, w = x.shape
        dmask = torch.empty(n, 1, h, w)
        lib.sa_grad_mask(_ptr(gout), _ptr(x), n * h * w, c, _ptr(dmask), threads)
        dlogits = dmask * mask32 * (1 - mask32)  # (N, 1, H, W)
        dpooled, dweight, dbias = torch.ops.aten.convolution_backward(
            dlogits, pooled32, weight, [1], [1, 1], [ctx.padding] * 2, [1, 1], False, [0, 0], 1, [True, True, True])
        dpooled = dpooled.to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
        dx = torch.empty_like(x, memory_format=torch.channels_last)
        lib.sa_grad_input(_ptr(gout), _ptr(mask), _ptr(dpooled), _ptr(idx), n * h * w, c, _ptr(dx), threads)
        return dx, dweight, dbias, None


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
    def backward(ctx, gout):
        (code,) = ctx.saved_tensors
        n, c, h, w = ctx.shape
        gout = gout.to(torch.bfloat16).contiguous(memory_format=torch.channels_last)
        dx = torch.empty(n, c, h, w, dtype=torch.bfloat16, memory_format=torch.channels_last)
        library().maxpool2_backward(_ptr(gout), _ptr(code), n, h, w, c, _ptr(dx), torch.get_num_threads())
        return dx
