"""One trainer for every torch model of the study (CLIP pre-training, prompt fine-tuning,
direct regression, JRPP, the neural baselines). ``.backward()`` appears only here.

A model is an ``nn.Module`` with, over a batch (a dict of tensors, one row per post):

* ``training_loss(batch) -> scalar`` or ``loss_parts(batch) -> {"total": scalar, ...}``
  (the parts are averaged per epoch into ``History.parts``);
* ``predict(batch) -> tensor [B]`` (regressors; used by ``predict`` and the default
  validation loss, MSE against ``batch["y"]``);
* optional ``validation_loss(batch) -> scalar`` (lower is better: val CE, 1-accuracy, ClipLoss)
  used instead of the MSE for early stopping and the best checkpoint;
* optional ``param_groups() -> list[dict]`` (torch optimizer groups; default: every parameter
  with ``requires_grad``), ``on_epoch_start(epoch, trainer)``, ``on_epoch_end(epoch, trainer)``
  (its return value is kept in ``History.extra``), ``after_step()`` (e.g. clamp CLIP's
  temperature after each optimizer step).

Data: a dict of equal-length in-memory tensors (shuffled per epoch with a seeded generator) or a
callable ``loader(epoch) -> iterable of batch dicts`` (a DataLoader factory for streaming; it
must seed its own shuffling from ``epoch`` for resume to be exact). Adam/AdamW, optional
cosine schedule with linear warmup (per step), gradient clipping, AMP (bf16/fp16 autocast and
a GradScaler for fp16) on CUDA only, early stopping, ``best.pt``/``last.pt`` saved with
``core.checkpoint`` (weights_only, byte-stable). A run interrupted after any epoch resumes
from ``last.pt`` to the same result as an uninterrupted run. tqdm shows one bar per epoch,
off when stderr is not a TTY or ``SMPP_PROGRESS=0``.
"""

from __future__ import annotations

import math
import os
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Iterator

import numpy as np
import torch
from tqdm.auto import tqdm

from .checkpoint import load_checkpoint, numpy_rng_from_plain, numpy_rng_to_plain, save_checkpoint
from .device import amp_dtype, autocast, configure_determinism, get_device, seed_everything


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
    optimizer: str = "adam"              # "adam" | "adamw"
    schedule: str | None = None          # None | "cosine" (per step, after linear warmup)
    warmup_steps: int = 0
    amp: bool = True                     # autocast on CUDA only; CPU is always full precision
    max_steps: int | None = None         # stop after this many optimizer steps in total
    betas: tuple = (0.9, 0.999)
    eps: float = 1e-8

    # the knobs a params.yaml section (e.g. ``jrpp``) may set; the rest are code choices
    KNOBS = ("epochs", "lr", "batch_size", "patience", "eval_batch_size", "max_minutes", "device")

    @classmethod
    def from_knobs(cls, cfg, seed: int, **defaults) -> "TrainConfig":
        """The training settings of a params.yaml section ``cfg`` (attribute access; None for
        none): each of :attr:`KNOBS` the section has, else ``defaults[name]``, else the field's
        default; ``seed`` is the run's seed. Used by JRPP and the neural baselines alike."""
        kw = dict(defaults, seed=int(seed))
        for name in cls.KNOBS:
            if cfg is not None and getattr(cfg, name, None) is not None:
                kw[name] = getattr(cfg, name)
        for name in ("epochs", "batch_size", "patience", "eval_batch_size"):
            if name in kw:
                kw[name] = int(kw[name])
        for name in ("lr", "max_minutes"):
            if kw.get(name) is not None:
                kw[name] = float(kw[name])
        return cls(**kw)


@dataclass
class History:
    train_loss: list = field(default_factory=list)
    val_mse: list = field(default_factory=list)      # the validation loss (MSE by default)
    epoch_seconds: list = field(default_factory=list)
    parts: list = field(default_factory=list)
    extra: list = field(default_factory=list)
    best_epoch: int = -1
    best_val_mse: float = math.inf
    stopped_early: bool = False
    steps: int = 0

    @property
    def val_loss(self) -> list:
        return self.val_mse


DataSpec = "dict | Callable[[int], Iterable[dict]]"


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


def _batches(data, batch_size: int, epoch: int | None = None, seed: int = 0):
    """Batches of a dict (shuffled when ``epoch`` is given) or of a loader factory."""
    if isinstance(data, dict):
        gen = torch.Generator().manual_seed(seed * 1000 + epoch) if epoch is not None else None
        return iterate(data, batch_size, epoch is not None, gen), math.ceil(n_rows(data) / batch_size)
    it = data(epoch if epoch is not None else 0)
    try:
        total = len(it)
    except TypeError:
        total = None
    return it, total


def _batch_len(batch: dict) -> int:
    return next(len(v) for v in batch.values() if torch.is_tensor(v))


def progress_enabled(progress: bool = True) -> bool:
    return bool(progress) and os.environ.get("SMPP_PROGRESS", "1") != "0" and sys.stderr.isatty()


@torch.no_grad()
def predict(model, data, batch_size: int = 2048, device=None) -> np.ndarray:
    device = device or next(model.parameters()).device
    model.eval()
    it, _ = _batches(data, batch_size)
    out = [model.predict(to_device(b, device)).float().cpu() for b in it]
    return torch.cat(out).numpy() if out else np.zeros(0)


@torch.no_grad()
def validation_loss(model, data, batch_size: int = 2048, device=None, amp: bool = False) -> float:
    """``model.validation_loss`` averaged over rows (batch-size weighted), or MSE of predict."""
    device = device or next(model.parameters()).device
    model.eval()
    if not hasattr(model, "validation_loss"):
        if isinstance(data, dict):
            return float(np.mean((predict(model, data, batch_size, device) - data["y"].numpy()) ** 2))
        tot = n = 0.0
        for b in _batches(data, batch_size)[0]:
            p = model.predict(to_device(b, device)).float().cpu()
            tot += float(((p - b["y"].float()) ** 2).sum())
            n += len(p)
        return tot / max(n, 1)
    tot = n = 0.0
    for b in _batches(data, batch_size)[0]:
        with autocast(device, amp):
            v = model.validation_loss(to_device(b, device))
        k = _batch_len(b)
        tot += float(v) * k
        n += k
    return tot / max(n, 1)


class Trainer:
    def __init__(self, model: torch.nn.Module, cfg: TrainConfig, ckpt_dir: str | Path | None = None,
                 progress: bool = True, run_key: str = "", desc: str = "epoch"):
        """``run_key`` identifies the run (config, data fingerprint...): a ``last.pt`` written
        under another key is stale and is ignored instead of resumed."""
        if cfg.optimizer not in ("adam", "adamw"):
            raise ValueError(f"TrainConfig.optimizer: {cfg.optimizer!r} is not 'adam' or 'adamw'")
        if cfg.schedule not in (None, "cosine"):
            raise ValueError(f"TrainConfig.schedule: {cfg.schedule!r} is not None or 'cosine'")
        self.cfg = cfg
        self.device = get_device(cfg.device)
        self.model = model.to(self.device)
        self.ckpt_dir = Path(ckpt_dir) if ckpt_dir else None
        self.progress = progress
        self.run_key = run_key
        self.desc = desc
        groups = (model.param_groups() if hasattr(model, "param_groups")
                  else [p for p in self.model.parameters() if p.requires_grad])
        opt_cls = torch.optim.AdamW if cfg.optimizer == "adamw" else torch.optim.Adam
        self.opt = opt_cls(groups, lr=cfg.lr, weight_decay=cfg.weight_decay, betas=tuple(cfg.betas),
                           eps=cfg.eps)
        self.sched = None
        self.amp_dtype = amp_dtype(self.device) if cfg.amp else None
        self.scaler = torch.amp.GradScaler("cuda") if self.amp_dtype == torch.float16 else None
        self.history = History()
        self.epoch = 0
        self._bad_epochs = 0
        self._best_state = None

    def _make_schedule(self, steps_per_epoch: int | None):
        if self.cfg.schedule != "cosine" or self.sched is not None:
            return
        total = self.cfg.max_steps or (self.cfg.epochs * (steps_per_epoch or 1))
        warm = self.cfg.warmup_steps

        def lam(step):
            if step < warm:
                return (step + 1) / max(warm, 1)
            return 0.5 * (1 + math.cos(math.pi * min(1.0, (step - warm) / max(1, total - warm))))
        self.sched = torch.optim.lr_scheduler.LambdaLR(self.opt, lam)

    # ------------------------------------------------------------------ checkpoints
    def _state(self) -> dict:
        return {"model": self.model.state_dict(), "opt": self.opt.state_dict(),
                "sched": self.sched.state_dict() if self.sched is not None else {},
                "scaler": self.scaler.state_dict() if self.scaler is not None else {},
                "epoch": self.epoch,
                # wall-clock seconds stay out: they would make the bytes differ run to run
                "history": {k: v for k, v in asdict(self.history).items() if k != "epoch_seconds"},
                "bad_epochs": self._bad_epochs, "best_state": self._best_state or {},
                "torch_rng": torch.get_rng_state(), "numpy_rng": numpy_rng_to_plain(),
                "cfg": asdict(self.cfg), "run_key": self.run_key}

    def save(self, name: str) -> None:
        if self.ckpt_dir is None:
            return
        state = (self._state() if name == "last.pt"
                 else {"model": self.model.state_dict(), "epoch": self.epoch})
        save_checkpoint(self.ckpt_dir / name, state)

    def try_resume(self) -> bool:
        if self.ckpt_dir is None or not (self.ckpt_dir / "last.pt").is_file():
            return False
        st = load_checkpoint(self.ckpt_dir / "last.pt", map_location=self.device)
        if st.get("run_key", "") != self.run_key or st.get("cfg") != asdict(self.cfg):
            print(f"{self.ckpt_dir / 'last.pt'}: written by another run (config or data differ); "
                  "starting from scratch")
            return False
        self.model.load_state_dict(st["model"])
        self.opt.load_state_dict(st["opt"])
        self.epoch = st["epoch"]
        self.history = History(**st["history"])
        self.history.epoch_seconds = [math.nan] * len(self.history.val_mse)   # not saved
        self._bad_epochs = st["bad_epochs"]
        self._best_state = st["best_state"] or None
        if st.get("sched"):
            self._make_schedule(1)
            self.sched.load_state_dict(st["sched"])
        if st.get("scaler") and self.scaler is not None:
            self.scaler.load_state_dict(st["scaler"])
        torch.set_rng_state(st["torch_rng"].cpu())
        np.random.set_state(numpy_rng_from_plain(st["numpy_rng"]))
        return True

    # ------------------------------------------------------------------ loop
    def _step(self, batch: dict) -> dict:
        with autocast(self.device, self.cfg.amp):
            parts = (self.model.loss_parts(batch) if hasattr(self.model, "loss_parts")
                     else {"total": self.model.training_loss(batch)})
        loss = parts["total"]
        self.opt.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
            self.scaler.unscale_(self.opt)
        else:
            loss.backward()
        if self.cfg.grad_clip:
            torch.nn.utils.clip_grad_norm_(self.model.parameters(), self.cfg.grad_clip)
        if self.scaler is not None:
            self.scaler.step(self.opt)
            self.scaler.update()
        else:
            self.opt.step()
        if self.sched is not None:
            self.sched.step()
        if hasattr(self.model, "after_step"):
            self.model.after_step()
        self.history.steps += 1
        return parts

    def fit(self, train, val, resume: bool = True, stop_after: int | None = None) -> History:
        """Train until ``cfg.epochs``, early stopping, ``cfg.max_steps`` or ``stop_after``
        epochs in this call (used by tests to simulate an interruption). ``val`` may be None
        (no early stopping; the last epoch is kept). Restores the best weights at the end."""
        cfg = self.cfg
        configure_determinism()
        if not (resume and self.try_resume()):
            seed_everything(cfg.seed)
        t_start = time.time()
        done_here = 0
        while (self.epoch < cfg.epochs and not self.history.stopped_early
               and not (cfg.max_steps and self.history.steps >= cfg.max_steps)):
            if stop_after is not None and done_here >= stop_after:
                return self.history
            t0 = time.time()
            if hasattr(self.model, "on_epoch_start"):
                self.model.on_epoch_start(self.epoch, self)
            self.model.train()
            it, total = _batches(train, cfg.batch_size, self.epoch, cfg.seed)
            self._make_schedule(total)
            sums, n = {}, 0
            bar = tqdm(it, total=total, desc=f"{self.desc} {self.epoch + 1}/{cfg.epochs}",
                       leave=False, disable=not progress_enabled(self.progress))
            for batch in bar:
                parts = self._step(to_device(batch, self.device))
                k = _batch_len(batch)
                for name, v in parts.items():
                    sums[name] = sums.get(name, 0.0) + float(v.detach()) * k
                n += k
                if cfg.max_steps and self.history.steps >= cfg.max_steps:
                    break
            self.history.parts.append({name: v / max(n, 1) for name, v in sums.items()})
            self.history.train_loss.append(self.history.parts[-1].get("total", math.nan))
            val_loss = (validation_loss(self.model, val, cfg.eval_batch_size, self.device, cfg.amp)
                        if val is not None else -float(self.epoch))
            self.history.val_mse.append(val_loss)
            if hasattr(self.model, "on_epoch_end"):
                self.history.extra.append(self.model.on_epoch_end(self.epoch, self))
            self.history.epoch_seconds.append(time.time() - t0)
            if val_loss < self.history.best_val_mse - 1e-9:
                self.history.best_val_mse, self.history.best_epoch = val_loss, self.epoch
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


def fit(model, train, val, cfg: TrainConfig, ckpt_dir=None, resume: bool = True,
        progress: bool = True, run_key: str = "", desc: str = "epoch"):
    """Convenience: train ``model`` and return ``(model with best weights, History)``."""
    tr = Trainer(model, cfg, ckpt_dir, progress, run_key=run_key, desc=desc)
    hist = tr.fit(train, val, resume=resume)
    return tr.model, hist
