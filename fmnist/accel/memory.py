"""The allocator setting that keeps a training step's memory in the process."""
from __future__ import annotations

import ctypes

_allocator_tuned = False


def keep_freed_memory() -> bool:
    """Ask glibc to keep freed blocks for reuse instead of returning them to the OS (process-wide).

    By default glibc hands blocks over 128 KiB back at once, so every new activation of a training step
    (a (64, 32, 28, 28) bf16 tensor is 3.2 MB) is page-faulted in again, thousands of faults per step,
    costly on a virtual machine; with these settings a step faults almost never and the kernels that
    write those activations are no longer slowed by it (docs/benchmarks.md). The price: memory freed at
    the top of the heap (up to 1 GiB) stays with the process for reuse. The trainer calls this on the
    CPU. Returns False where the C library is not glibc (nothing changed)."""
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
