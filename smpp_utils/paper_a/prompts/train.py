"""Training of the stage-03 torch models (prompt fine-tuning, direct regression).
TEMPORARY: a compact AdamW loop until the shared trainer (core/trainer.py) takes it over."""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from typing import Callable

import numpy as np
from torch import nn
import torch
from tqdm.auto import tqdm

from ...core.device import autocast, seed_everything
from .images import ImageBank


@dataclass
class FitHistory:
    loss: list = field(default_factory=list)          # mean total loss per epoch
    parts: list = field(default_factory=list)         # mean loss parts per epoch
    epoch_seconds: list = field(default_factory=list)
    images_per_s: list = field(default_factory=list)
    val: list = field(default_factory=list)           # on_epoch_end results


def fit_loop(model: nn.Module, bank: ImageBank, rows: dict, train_idx, *, epochs: int, lr: float,
             weight_decay: float, batch_size: int, device, seed: int, desc: str = "train",
             on_epoch_end: Callable | None = None, max_steps: int | None = None,
             progress: bool = True) -> FitHistory:
    """AdamW over the trainable parameters (Paper A Sec. 4.1: lr 1e-4, wd 1e-5, batch 128).
    ``rows``: per-post tensors (row-aligned with ``bank``) added to each batch under their key;
    the model implements ``loss_parts(batch) -> {"total", ...}`` or ``training_loss(batch)``.
    Shuffling is seeded per epoch; ``on_epoch_end(epoch)`` results land in ``history.val``."""
    seed_everything(seed)
    model.to(device)
    params = [p for p in model.parameters() if p.requires_grad]
    opt = torch.optim.AdamW(params, lr=lr, weight_decay=weight_decay)
    hist, train_idx, step = FitHistory(), np.asarray(train_idx), 0
    for epoch in range(epochs):
        model.train()
        order = train_idx[np.random.default_rng(seed * 1000 + epoch).permutation(len(train_idx))]
        sums, n_img, t0 = {}, 0, time.time()
        bar = tqdm(bank.batches(order, batch_size), total=math.ceil(len(order) / batch_size),
                   desc=f"{desc} epoch {epoch + 1}/{epochs}", leave=False, disable=not progress)
        for b, imgs in bar:
            batch = {"images": imgs.to(device, non_blocking=True)}
            tb = torch.from_numpy(b)
            batch.update({k: v[tb].to(device) for k, v in rows.items()})
            with autocast(device):
                parts = (model.loss_parts(batch) if hasattr(model, "loss_parts")
                         else {"total": model.training_loss(batch)})
            opt.zero_grad(set_to_none=True)
            parts["total"].backward()
            opt.step()
            for k, v in parts.items():
                sums[k] = sums.get(k, 0.0) + float(v.detach()) * len(b)
            n_img += len(b)
            step += 1
            bar.set_postfix(loss=f"{float(parts['total'].detach()):.3f}")
            if max_steps and step >= max_steps:
                break
        dt = time.time() - t0
        hist.parts.append({k: v / max(n_img, 1) for k, v in sums.items()})
        hist.loss.append(hist.parts[-1].get("total", float("nan")))
        hist.epoch_seconds.append(dt)
        hist.images_per_s.append(n_img / max(dt, 1e-9))
        if on_epoch_end is not None:
            hist.val.append(on_epoch_end(epoch))
        if max_steps and step >= max_steps:
            break
    return hist
