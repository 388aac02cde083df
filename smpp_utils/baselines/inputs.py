"""The inputs every baseline of JRPP Table 2 receives (the ``build_inputs`` splits) and the
checks on them: ``NotRun`` (a baseline that cannot run here, with the reason shown in the
table), ``check_inputs``, label statistics and category counts."""

from __future__ import annotations

import numpy as np
import torch


SPLITS = ("train", "val", "test")


class NotRun(Exception):
    """A baseline that cannot run on these inputs; ``reason`` says why (shown in the table)."""

    def __init__(self, reason: str):
        super().__init__(reason)
        self.reason = reason


def check_inputs(data: dict, need=("img", "txt", "meta", "y")) -> None:
    for s in SPLITS:
        if s not in data:
            raise KeyError(f"inputs have no {s!r} split (have {sorted(data)})")
        missing = [k for k in need if k not in data[s]]
        if missing:
            raise KeyError(f"split {s!r} lacks {missing}")
        n = {k: len(v) for k, v in data[s].items() if torch.is_tensor(v)}
        if len(set(n.values())) != 1:
            raise ValueError(f"split {s!r}: tensors of different lengths {n}")
    if len(data["train"]["y"]) < 2:
        raise NotRun("fewer than 2 train posts")


def _np(t) -> np.ndarray:
    return t.detach().cpu().numpy() if torch.is_tensor(t) else np.asarray(t)


def label_stats(data: dict, info: dict | None = None) -> tuple[float, float]:
    y = data["train"]["y"].float()
    mean = float(info["label_mean"]) if info and "label_mean" in info else float(y.mean())
    return mean, float(y.std()) if len(y) > 1 else 1.0


def n_cats_of(data: dict, info: dict | None) -> int:
    n = int(info.get("n_cats", 0)) if info else 0
    return max(n, 1 + max(int(data[s]["cat"].max()) for s in SPLITS if len(data[s]["cat"])))


def require(module: str):
    """Import the optional library ``module`` or raise ``NotRun`` saying it is not installed."""
    import importlib

    try:
        return importlib.import_module(module)
    except ImportError as e:
        raise NotRun(f"{module} is not installed ({e})") from e
