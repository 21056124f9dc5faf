"""Which device and precision a run uses: CUDA, Apple's MPS or the CPU, and bf16 where the hardware has it."""
from __future__ import annotations

from pathlib import Path

import torch


def pick_device(name: str = "auto") -> torch.device:
    if name != "auto":
        return torch.device(name)
    if torch.cuda.is_available():
        return torch.device("cuda")
    if getattr(torch.backends, "mps", None) and torch.backends.mps.is_available():
        return torch.device("mps")
    return torch.device("cpu")


SIMD_FLAGS = ("amx_bf16", "avx2", "avx512_bf16", "avx512f")  # the vector extensions numpy, OpenCV and oneDNN pick kernels by


def cpu_flags() -> set[str]:
    """The CPU's feature flags from /proc/cpuinfo (empty where there is none)."""
    try:
        return set(Path("/proc/cpuinfo").read_text().split())
    except OSError:
        return set()


def simd() -> tuple[str, ...]:
    """Which of SIMD_FLAGS this CPU has, sorted: what decides whether two hosts compute the same bytes."""
    return tuple(sorted(cpu_flags() & set(SIMD_FLAGS)))


def cpu_supports_bf16() -> bool:
    """True where the CPU has native bf16 math (AMX or AVX-512 BF16) that oneDNN will use."""
    has_flag = bool(cpu_flags() & {"amx_bf16", "avx512_bf16"})
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


def auto(value, default: bool) -> bool:
    return default if value == "auto" else bool(value)
