"""Device selection: CUDA when present (with mixed precision), CPU otherwise."""

from __future__ import annotations

import contextlib
import os
import random

import numpy as np
import torch


def get_device(prefer: str | None = None) -> torch.device:
    """``prefer`` in {None, 'auto', 'cpu', 'cuda'}; ``$SMPP_DEVICE`` overrides 'auto'."""
    prefer = prefer or os.environ.get("SMPP_DEVICE", "auto")
    if prefer == "auto":
        prefer = "cuda" if torch.cuda.is_available() else "cpu"
    return torch.device(prefer)


def autocast(device: torch.device):
    """bf16/fp16 autocast on CUDA, a no-op context on CPU."""
    if device.type == "cuda":
        dtype = torch.bfloat16 if torch.cuda.is_bf16_supported() else torch.float16
        return torch.autocast("cuda", dtype=dtype)
    return contextlib.nullcontext()


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % (2**32))
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        torch.cuda.manual_seed_all(seed)
