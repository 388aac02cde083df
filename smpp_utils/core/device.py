"""Device selection, mixed precision and determinism.

CPU (what the study's byte-identical reruns rely on): ``configure_determinism(seed)`` seeds
python/numpy/torch, turns on ``torch.use_deterministic_algorithms`` and fixes the intra-op
thread count to ``$SMPP_THREADS`` (default 2). Parallel reductions (matmul blocking, sums)
split the work by thread count, so a float result can differ in the last bits between 1, 2 or
16 threads; with a fixed count the same seed gives the same bytes whatever the machine's
``OMP_NUM_THREADS`` or load. Trade-off: a 16-core machine trains with 2 threads unless
``SMPP_THREADS`` is raised, and results are then reproducible only among runs with that same
value. ``SMPP_THREADS=0`` leaves torch's default (fastest, not reproducible across machines).
faiss uses its own OpenMP pool: ``set_faiss_threads`` fixes it the same way.
DataLoader workers do not change results as long as per-sample work is deterministic (PIL
decode and fixed resize/normalise are) and the sample order comes from a seeded generator;
random augmentations in workers would need ``worker_init_fn`` seeding.

GPU: deterministic algorithms are on (with ``CUBLAS_WORKSPACE_CONFIG=:4096:8``, cudnn
deterministic, benchmark off), so reruns on the same GPU model, driver, CUDA/cuDNN and torch
version give identical results; across GPU models or library versions results differ in the
low bits (different kernels), and AMP (bf16/fp16 autocast, on by default on CUDA) adds rounding
that makes GPU numbers differ from CPU ones at roughly the 3rd-4th significant digit. Committed
numbers are the CPU ones.
"""

from __future__ import annotations

import contextlib
import os
import random

import numpy as np
import torch

_INTEROP_SET = False


def get_device(prefer: str | None = None) -> torch.device:
    """``prefer`` in {None, 'auto', 'cpu', 'cuda'}; ``$SMPP_DEVICE`` overrides 'auto'."""
    prefer = prefer or os.environ.get("SMPP_DEVICE", "auto")
    if prefer == "auto":
        prefer = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(prefer)


def amp_dtype(device: torch.device):
    """bf16 where supported, else fp16, on CUDA; None (full precision) on CPU."""
    if torch.device(device).type != "cuda":
        return None
    return torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16


def autocast(device: torch.device, enabled: bool = True):
    """bf16/fp16 autocast on CUDA, a no-op context on CPU (so CPU is exact)."""
    dtype = amp_dtype(device) if enabled else None
    if dtype is None:
        return contextlib.nullcontext()
    return torch.autocast("cuda", dtype=dtype)


def num_threads() -> int:
    return int(os.environ.get("SMPP_THREADS", "2"))


def set_faiss_threads(n: int | None = None) -> None:
    """Fix faiss's OpenMP pool to ``$SMPP_THREADS`` (call before searching)."""
    n = num_threads() if n is None else n
    if n > 0:
        try:
            import faiss
        except ImportError:
            return
        faiss.omp_set_num_threads(n)


def configure_determinism(seed: int | None = None) -> None:
    """Deterministic algorithms, a fixed thread count, cudnn flags; seeds if ``seed`` given."""
    global _INTEROP_SET
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    torch.use_deterministic_algorithms(True, warn_only=True)
    torch.backends.cudnn.deterministic = True
    torch.backends.cudnn.benchmark = False
    n = num_threads()
    if n > 0:
        torch.set_num_threads(n)
        if not _INTEROP_SET:
            try:                     # may be set only once, before any inter-op work
                torch.set_num_interop_threads(n)
            except RuntimeError:
                pass
            _INTEROP_SET = True
        set_faiss_threads(n)
    if seed is not None:
        seed_everything(seed)


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
