"""One trainer for every torch regressor of the study (JRPP, the neural baselines, the
direct-regression variant of Paper A).

A model is an ``nn.Module`` with two methods over a batch (a dict of tensors, one row per
post, the target under ``"y"``):

* ``training_loss(batch) -> scalar tensor`` (may add regularisers, e.g. JRPP's IB term)
* ``predict(batch) -> tensor [B]`` (deterministic, evaluation mode)

and optionally ``on_epoch_start(epoch, trainer)`` (JRPP re-encodes its bank there).
Data is held in memory as a dict of equal-length tensors. Adam, early stopping on
validation MSE, best and last checkpoints; a run interrupted after any epoch resumes from
``last.pt`` to the same result as an uninterrupted run (per-epoch seeded shuffling, RNG
states saved in the checkpoint).
"""

from __future__ import annotations

import math
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from tqdm.auto import tqdm

from .device import get_device, seed_everything


@dataclass
class TrainConfig:
    epochs: int = 30
    lr: float = 1e-4
    batch_size: int = 512
    patience: int = 10
    weight_decay: float = 0.0
    grad_clip: float | None = 5.0
    seed: int = 0
    eval_batch_size: int = 2048
    max_minutes: float | None = None     # wall-time guard: stop after the epoch that crosses it
    device: str | None = None


@dataclass
class History:
    train_loss: list = field(default_factory=list)
    val_mse: list = field(default_factory=list)
    epoch_seconds: list = field(default_factory=list)
    best_epoch: int = -1
    best_val_mse: float = math.inf
    stopped_early: bool = False


def to_device(batch: dict, device) -> dict:
    return {k: (v.to(device, non_blocking=True) if torch.is_tensor(v) else v) for k, v in batch.items()}


def n_rows(data: dict) -> int:
    lens = {k: len(v) for k, v in data.items() if torch.is_tensor(v)}
    if len(set(lens.values())) != 1:
        raise ValueError(f"tensors of different lengths in one dataset: {lens}")
    return next(iter(lens.values()))


def iterate(data: dict, batch_size: int, shuffle: bool = False,
            generator: torch.Generator | None = None) -> Iterator[dict]:
    n = n_rows(data)
    order = torch.randperm(n, generator=generator) if shuffle else torch.arange(n)
    for s in range(0, n, batch_size):
        idx = order[s:s + batch_size]
        yield {k: (v[idx] if torch.is_tensor(v) else v) for k, v in data.items()}


@torch.no_grad()
def predict(model, data: dict, batch_size: int = 2048, device=None) -> np.ndarray:
    device = device or next(model.parameters()).device
    model.eval()
    out = [model.predict(to_device(b, device)).float().cpu() for b in iterate(data, batch_size)]
    return torch.cat(out).numpy() if out else np.zeros(0)


class Trainer:
    def __init__(self, model: torch.nn.Module, cfg: TrainConfig, ckpt_dir: str | Path | None = None,
                 progress: bool = True, run_key: str = ""):
        """``run_key`` identifies the run (config, data fingerprint...): a ``last.pt`` written
        under another key is stale and is ignored instead of resumed."""
        self.cfg = cfg
        self.device = get_device(cfg.device)
        self.model = model.to(self.device)
        self.ckpt_dir = Path(ckpt_dir) if ckpt_dir else None
        self.progress = progress
        self.run_key = run_key
        self.opt = torch.optim.Adam(self.model.parameters(), lr=cfg.lr, weight_decay=cfg.weight_decay)
        self.history = History()
        self.epoch = 0
        self._bad_epochs = 0
        self._best_state = None

    # ------------------------------------------------------------------ checkpoints
    def _state(self) -> dict:
        return {"model": self.model.state_dict(), "opt": self.opt.state_dict(),
                "epoch": self.epoch, "history": asdict(self.history),
                "bad_epochs": self._bad_epochs, "best_state": self._best_state,
                "torch_rng": torch.get_rng_state(), "numpy_rng": np.random.get_state(),
                "cfg": asdict(self.cfg), "run_key": self.run_key}

    def save(self, name: str) -> None:
        if self.ckpt_dir is None:
            return
        self.ckpt_dir.mkdir(parents=True, exist_ok=True)
        tmp = self.ckpt_dir / f".{name}.tmp"
        torch.save(self._state() if name == "last.pt" else {"model": self.model.state_dict(),
                                                             "epoch": self.epoch}, tmp)
        tmp.replace(self.ckpt_dir / name)

    def try_resume(self) -> bool:
        if self.ckpt_dir is None or not (self.ckpt_dir / "last.pt").is_file():
            return False
        st = torch.load(self.ckpt_dir / "last.pt", map_location=self.device, weights_only=False)
        if st.get("run_key", "") != self.run_key or st.get("cfg") != asdict(self.cfg):
            print(f"{self.ckpt_dir / 'last.pt'}: written by another run (config or data differ); "
                  "starting from scratch")
            return False
        self.model.load_state_dict(st["model"])
        self.opt.load_state_dict(st["opt"])
        self.epoch = st["epoch"]
        self.history = History(**st["history"])
        self._bad_epochs = st["bad_epochs"]
        self._best_state = st["best_state"]
        torch.set_rng_state(st["torch_rng"])
        np.random.set_state(st["numpy_rng"])
        return True

    # ------------------------------------------------------------------ loop
    def fit(self, train: dict, val: dict, resume: bool = True,
            stop_after: int | None = None) -> History:
        """Train until ``cfg.epochs``, early stopping or ``stop_after`` epochs in this call
        (used by tests to simulate an interruption). Restores the best weights at the end."""
        cfg = self.cfg
        if not (resume and self.try_resume()):
            seed_everything(cfg.seed)
        t_start = time.time()
        done_here = 0
        while self.epoch < cfg.epochs and not self.history.stopped_early:
            if stop_after is not None and done_here >= stop_after:
                return self.history
            t0 = time.time()
            if hasattr(self.model, "on_epoch_start"):
                self.model.on_epoch_start(self.epoch, self)
            self.model.train()
            gen = torch.Generator().manual_seed(cfg.seed * 1000 + self.epoch)
            losses = []
            n = n_rows(train)
            bar = tqdm(iterate(train, cfg.batch_size, True, gen), total=math.ceil(n / cfg.batch_size),
                       desc=f"epoch {self.epoch + 1}/{cfg.epochs}", leave=False,
                       disable=not self.progress)
            for batch in bar:
                loss = self.model.training_loss(to_device(batch, self.device))
                self.opt.zero_grad(set_to_none=True)
                loss.backward()
                if cfg.grad_clip:
                    torch.nn.utils.clip_grad_norm_(self.model.parameters(), cfg.grad_clip)
                self.opt.step()
                losses.append(float(loss.detach()))
            val_pred = predict(self.model, val, cfg.eval_batch_size, self.device)
            val_mse = float(np.mean((val_pred - val["y"].numpy()) ** 2))
            self.history.train_loss.append(float(np.mean(losses)))
            self.history.val_mse.append(val_mse)
            self.history.epoch_seconds.append(time.time() - t0)
            if val_mse < self.history.best_val_mse - 1e-9:
                self.history.best_val_mse, self.history.best_epoch = val_mse, self.epoch
                self._best_state = {k: v.detach().cpu().clone() for k, v in self.model.state_dict().items()}
                self._bad_epochs = 0
                self.save("best.pt")
            else:
                self._bad_epochs += 1
                if self._bad_epochs >= cfg.patience:
                    self.history.stopped_early = True
            self.epoch += 1
            done_here += 1
            self.save("last.pt")
            if cfg.max_minutes and (time.time() - t_start) / 60 > cfg.max_minutes:
                self.history.stopped_early = True
        if self._best_state is not None:
            self.model.load_state_dict(self._best_state)
        return self.history


def fit(model, train: dict, val: dict, cfg: TrainConfig, ckpt_dir=None, resume: bool = True,
        progress: bool = True):
    """Convenience: train ``model`` and return ``(model with best weights, History)``."""
    tr = Trainer(model, cfg, ckpt_dir, progress)
    hist = tr.fit(train, val, resume=resume)
    return tr.model, hist
