"""Wall time of a baseline (``Timer``) under a fixed, small CPU thread count (``cpu_threads``)."""

from __future__ import annotations

import contextlib
import os
import time

import torch


class Timer:
    """Wall time of a ``with`` block, run under ``cpu_threads`` (see there)."""

    def __enter__(self):
        self._limits = cpu_threads()
        self._limits.__enter__()
        self.t0 = time.perf_counter()
        return self

    def __exit__(self, *exc):
        self.seconds = time.perf_counter() - self.t0
        self._limits.__exit__(*exc)


@contextlib.contextmanager
def cpu_threads(n: int | None = None):
    """Limit torch, BLAS and OpenMP pools (faiss, LightGBM) to ``n`` threads inside the block
    (default ``$SMPP_BASELINE_THREADS`` or 1), restoring them afterwards. The baselines are small
    (batches of a few hundred rows, <= 512 wide): extra CPU threads gain little there, while
    oversubscribed OpenMP pools stall badly on a shared host (measured 20x on 2 busy cores).
    A fixed count also keeps CPU results identical across machines; CUDA work is unaffected."""
    from threadpoolctl import threadpool_limits

    n = int(n or os.environ.get("SMPP_BASELINE_THREADS", "1"))
    old = torch.get_num_threads()
    torch.set_num_threads(n)
    try:
        with threadpool_limits(n):
            yield
    finally:
        torch.set_num_threads(old)
