"""Training of the stage-03 torch models (prompt fine-tuning, direct regression) through the one
shared trainer (:mod:`smpp_utils.core.trainer`): images are held once in an :class:`ImageBank`,
and each epoch's batches are drawn from it in a seeded order."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable

import numpy as np
import torch
from torch import nn

from ...core.trainer import TrainConfig, Trainer
from .images import ImageBank


@dataclass
class FitHistory:
    loss: list = field(default_factory=list)          # mean total loss per epoch
    parts: list = field(default_factory=list)         # mean loss parts per epoch
    epoch_seconds: list = field(default_factory=list)
    images_per_s: list = field(default_factory=list)
    val: list = field(default_factory=list)           # on_epoch_end results


class _Hooked(nn.Module):
    """The trainer's model interface over a stage-03 model: its loss parts (or training loss),
    its trainable parameters, and the caller's per-epoch callback."""

    def __init__(self, model: nn.Module, on_epoch_end: Callable | None):
        super().__init__()
        self.model = model
        self._callback = on_epoch_end

    def loss_parts(self, batch: dict) -> dict:
        if hasattr(self.model, "loss_parts"):
            return self.model.loss_parts(batch)
        return {"total": self.model.training_loss(batch)}

    def param_groups(self) -> list:
        if hasattr(self.model, "param_groups"):      # e.g. a higher lr for fresh heads
            return self.model.param_groups()
        return [p for p in self.model.parameters() if p.requires_grad]

    def on_epoch_end(self, epoch: int, trainer) -> object:
        return self._callback(epoch) if self._callback is not None else None


def fit_loop(model: nn.Module, bank: ImageBank, rows: dict, train_idx, *, epochs: int, lr: float,
             weight_decay: float, batch_size: int, device, seed: int, desc: str = "train",
             on_epoch_end: Callable | None = None, max_steps: int | None = None,
             progress: bool = True) -> FitHistory:
    """AdamW over the trainable parameters (Paper A Sec. 4.1: lr 1e-4, wd 1e-5, batch 128), no
    gradient clipping, every epoch kept (no validation-based stopping here: the callers evaluate
    in ``on_epoch_end``). ``rows``: per-post tensors (row-aligned with ``bank``) added to each
    batch under their key; the model implements ``loss_parts(batch) -> {"total", ...}`` or
    ``training_loss(batch)``. Shuffling is seeded per epoch; ``on_epoch_end(epoch)`` results
    land in ``history.val``."""
    train_idx = np.asarray(train_idx)
    seen: list[int] = []

    def loader(epoch: int):
        order = train_idx[np.random.default_rng(seed * 1000 + epoch).permutation(len(train_idx))]
        seen.append(0)
        for b, imgs in bank.batches(order, batch_size):
            tb = torch.from_numpy(b)
            seen[-1] += len(b)
            yield {"images": imgs, **{k: v[tb] for k, v in rows.items()}}

    cfg = TrainConfig(epochs=epochs, lr=lr, weight_decay=weight_decay, batch_size=batch_size,
                      seed=seed, optimizer="adamw", grad_clip=None, max_steps=max_steps,
                      patience=epochs + 1, device=str(device))
    hooked = _Hooked(model, on_epoch_end)
    hist = Trainer(hooked, cfg, None, progress, desc=desc).fit(loader, None, resume=False)
    seconds = [float(s) for s in hist.epoch_seconds]
    return FitHistory(loss=list(hist.train_loss), parts=list(hist.parts), epoch_seconds=seconds,
                      images_per_s=[n / max(s, 1e-9) for n, s in zip(seen, seconds)],
                      val=list(hist.extra))
