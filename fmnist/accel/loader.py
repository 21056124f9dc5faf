"""Compiling and loading fused.c: built on first use with the system's C compiler (``gcc -O3 -march=native
-fopenmp``, about a second) into a private cache folder (``$FMNIST_CACHE``, else ``~/.cache/fmnist``),
loaded with ctypes; a cached library that is not this user's own, or that others may write, is rebuilt.
Without a compiler or after a failed build ``library()`` is None and ``build_error`` says why."""
from __future__ import annotations

import ctypes
import hashlib
import os
import platform
import shutil
import stat
import subprocess
import tempfile
import threading
from contextlib import contextmanager
from pathlib import Path
from typing import Iterator

SOURCE = Path(__file__).with_name("fused.c")
FLAGS = ["-O3", "-march=native", "-fopenmp", "-std=c11", "-shared", "-fPIC"]
if platform.machine().lower() in ("x86_64", "amd64"):
    FLAGS.append("-mprefer-vector-width=512")  # gcc's default is 256-bit even where AVX-512 is there
_lock = threading.Lock()
_lib: ctypes.CDLL | None = None
_tried = False
build_error: str | None = None  # why the kernels are not in use, for benchmarks and the curious


def _cache_dir() -> Path:
    return Path(os.environ.get("FMNIST_CACHE") or Path.home() / ".cache" / "fmnist")


def _private_dir(folder: Path) -> Path:
    """The cache folder, created 0700. A folder that is not ours or that others may write to is not
    used: a private one is made inside the system's temp folder instead (RuntimeError if even that is
    not safe)."""
    folder.mkdir(mode=0o700, parents=True, exist_ok=True)
    if _trusted(folder):
        return folder
    fallback = Path(tempfile.gettempdir()) / f"fmnist-kernels-{os.getuid()}"
    fallback.mkdir(mode=0o700, exist_ok=True)
    if not _trusted(fallback):
        raise RuntimeError(f"no private folder for the compiled kernels ({folder} and {fallback} are shared)")
    return fallback


def _trusted(path: Path) -> bool:
    """Owned by this user and writable by no one else (a library loaded with ctypes runs as this process)."""
    try:
        st = path.lstat()
    except OSError:
        return False
    if stat.S_ISLNK(st.st_mode):
        return False
    return st.st_uid == os.getuid() and not st.st_mode & (stat.S_IWGRP | stat.S_IWOTH)


def _cpu_key() -> str:
    """-march=native code runs only on CPUs like this one: the cache key includes the CPU's flags."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith(("flags", "Features")):
                return line
    except OSError:
        pass
    return os.uname().machine


def _build(source: Path, flags: list[str]) -> ctypes.CDLL:
    cc = os.environ.get("CC") or shutil.which("gcc") or shutil.which("cc")
    if not cc:
        raise RuntimeError("no C compiler (gcc or cc) found")
    key = hashlib.sha256(source.read_bytes() + " ".join([cc, *flags, _cpu_key()]).encode()).hexdigest()[:16]
    folder = _private_dir(_cache_dir())
    so = folder / f"fused-{key}.so"
    if so.exists() and not _trusted(so):
        so.unlink()   # planted or tampered with: rebuilt, never loaded
    if not so.exists():
        fd, tmp = tempfile.mkstemp(suffix=".so", dir=so.parent)
        os.close(fd)
        try:
            out = subprocess.run([cc, *flags, str(source), "-o", tmp], capture_output=True, text=True, timeout=120)
            if out.returncode != 0:
                raise RuntimeError(f"{cc} failed: {out.stderr.strip()[-500:]}")
            os.chmod(tmp, 0o700)
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
    lib.gated_maxpool2_forward.argtypes = [p, p, p, i64, i64, i64, i64, p, p, f64, f64, p, p, p, p, p, p, i32]
    lib.gated_maxpool2_backward.argtypes = [p, p, p, p, i64, i64, i64, i64, p, p, p, p, p, i32]
    lib.sa_pool.argtypes = [p, i64, i64, i64, i64, i64, p, p, i32]
    lib.sa_mask.argtypes = [p, i64, i64, i64, i64, p, ctypes.c_float, p, i32]
    lib.sa_apply.argtypes = [p, p, i64, i64, p, i32]
    lib.sa_grad_logits.argtypes = [p, p, p, i64, i64, p, i32]
    lib.sa_conv_backward.argtypes = [p, p, i64, i64, i64, i64, p, p, p, i32]
    lib.sa_grad_input.argtypes = [p, p, p, p, i64, i64, i64, p, i32]
    lib.maxpool2_forward.argtypes = [p, i64, i64, i64, i64, p, p, i32]
    lib.maxpool2_backward.argtypes = [p, p, i64, i64, i64, i64, p, i32]
    lib.sa_apply_maxpool2.argtypes = [p, p, i64, i64, i64, i64, p, p, i32]
    lib.sa_maxpool2_grad_logits.argtypes = [p, p, p, p, i64, i64, i64, i64, p, i32]
    lib.sa_maxpool2_grad_input.argtypes = [p, p, p, p, p, i64, i64, i64, i64, p, i32]
    f32 = ctypes.c_float
    lib.stem_train_forward.argtypes = [p, i64, i64, i64, i64, p, f32, p, p, f64, f64, p, p, p, p, p, i32]
    lib.stem_train_backward.argtypes = [p, i64, i64, i64, i64, p, f32, p, p, p, p, p, i32]
    return lib


def library() -> ctypes.CDLL | None:
    """The compiled kernels, built once per process, or None where they cannot be (the reason is in
    ``build_error``)."""
    global _lib, _tried, build_error
    if _tried:
        return _lib
    with _lock:
        if not _tried:
            _lib, build_error = build()
            _tried = True
    return _lib


@contextmanager
def using(lib: ctypes.CDLL | None) -> Iterator[None]:
    """Within the block, every kernel call goes to lib, another build of fused.c (a test runs the
    portable C this way); None: no kernels, every guard says no."""
    global _lib, _tried
    with _lock:
        saved, _lib, _tried = (_lib, _tried), lib, True
    try:
        yield
    finally:
        with _lock:
            _lib, _tried = saved


def build(source: Path | None = None, flags: list[str] | None = None) -> tuple[ctypes.CDLL | None, str | None]:
    """Compile (or find in the cache) and load the kernels: (library, None), or (None, why not). A
    failed build never leaves a library behind."""
    try:
        return _build(source or SOURCE, FLAGS if flags is None else flags), None
    except Exception as e:  # no compiler, no OpenMP, a read-only home...: the plain modules run
        return None, f"{type(e).__name__}: {e}"
