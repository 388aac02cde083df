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

Data parallel (``torchrun --nproc_per_node=N``): a Trainer built inside a torch.distributed
process group (joined automatically from torchrun's environment by :func:`init_distributed`:
NCCL on GPUs, one GPU per process by ``LOCAL_RANK``, gloo on CPU) trains with the *same global
batch* as one process: every rank draws the same seeded permutation and global batches, takes
its contiguous shard of each batch (:func:`shard`, the equivalent of a DistributedSampler
without padding or dropped rows), and after ``backward`` the gradients are weighted by
shard/global rows and summed over ranks (one all-reduce per step). For a loss that is a mean
over rows (MSE, CE, the IB's KL) this is exactly the gradient of the global batch, so the run
matches one process up to float summation order (tests/test_trainer_ddp.py: <= 1e-5 on every
weight); a loss that couples rows of a batch (CLIP's contrastive loss) sees only its shard.
The hand-written all-reduce replaces ``DistributedDataParallel`` because the models' entry
point is ``training_loss``/``loss_parts``, not ``forward`` (DDP hooks ``forward``). Rank 0
alone writes ``best.pt``/``last.pt``; the validation loss and every stop decision are rank
0's (broadcast), so ranks never diverge; callers guard their own outputs with
:func:`is_main_process`. One process (no process group) runs exactly the code it ran before.
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


# ---------------------------------------------------------------------- data parallel
def dist_world() -> tuple[int, int]:
    """(rank, world size) of the torch.distributed process group; (0, 1) without one."""
    dist = torch.distributed
    if dist.is_available() and dist.is_initialized():
        return dist.get_rank(), dist.get_world_size()
    return 0, 1


def is_main_process() -> bool:
    """True on rank 0 (and without a process group): the process that writes outputs."""
    return dist_world()[0] == 0


def init_distributed(backend: str | None = None) -> tuple[int, int]:
    """Join the process group that torchrun describes (``WORLD_SIZE`` > 1, ``RANK``,
    ``MASTER_ADDR``/``MASTER_PORT`` in the environment): NCCL with one GPU per process
    (``LOCAL_RANK``) when CUDA is available, else gloo. Without them (or when already joined)
    nothing happens. Returns (rank, world size)."""
    dist = torch.distributed
    if int(os.environ.get("WORLD_SIZE", "1")) > 1 and dist.is_available() and not dist.is_initialized():
        backend = backend or ("nccl" if torch.cuda.is_available() else "gloo")
        if backend == "nccl":
            torch.cuda.set_device(int(os.environ.get("LOCAL_RANK", "0")))
        dist.init_process_group(backend)
    return dist_world()


def shard(batch: dict, rank: int, world: int) -> dict:
    """Rank ``rank``'s contiguous share of a global batch (row counts differ by at most 1)."""
    n = _batch_len(batch)
    lo, hi = rank * n // world, (rank + 1) * n // world
    return {k: (v[lo:hi] if torch.is_tensor(v) and v.dim() > 0 and len(v) == n else v)
            for k, v in batch.items()}


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
        self.rank, self.world = init_distributed()
        self.device = get_device(cfg.device)
        if self.world > 1 and self.device.type == "cuda":      # one GPU per process
            self.device = torch.device("cuda", int(os.environ.get("LOCAL_RANK", torch.cuda.current_device())))
        if self.world > 1 and cfg.batch_size < self.world:
            raise ValueError(f"TrainConfig.batch_size={cfg.batch_size} is the global batch: it must "
                             f"be >= the number of processes ({self.world})")
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
        if self.ckpt_dir is None or self.rank != 0:          # rank 0 writes checkpoints
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

    # ------------------------------------------------------------------ data parallel
    def _params(self) -> list:
        return [p for g in self.opt.param_groups for p in g["params"]]

    def _reduce_grads(self, weight: float) -> None:
        """grad <- sum over ranks of (shard rows / global rows) * grad, one all-reduce per
        dtype; a parameter without a gradient on every rank keeps ``grad = None``."""
        dist = torch.distributed
        ps = self._params()
        for dtype in sorted({p.dtype for p in ps}, key=str):
            group = [p for p in ps if p.dtype == dtype]
            flat = torch.cat([p.grad.reshape(-1) * weight if p.grad is not None
                              else p.new_zeros(p.numel()) for p in group]
                             + [torch.tensor([float(p.grad is not None) for p in group],
                                             dtype=dtype, device=group[0].device)])
            dist.all_reduce(flat)
            o = 0
            for i, p in enumerate(group):
                if flat[-len(group) + i] > 0:
                    g = flat[o:o + p.numel()].view_as(p)
                    if p.grad is None:
                        p.grad = g.clone()
                    else:
                        p.grad.copy_(g)
                o += p.numel()

    def _from_rank0(self, value: float) -> float:
        """Rank 0's value on every rank (validation loss, stop decisions)."""
        if self.world == 1:
            return value
        t = torch.tensor([float(value)], dtype=torch.float64, device=self.device)
        torch.distributed.broadcast(t, 0)
        return float(t.item())

    def _sync_start(self) -> None:
        """Every rank starts from rank 0's weights (buffers included)."""
        if self.world > 1:
            for t in self.model.state_dict().values():
                torch.distributed.broadcast(t, 0)

    # ------------------------------------------------------------------ loop
    def _step(self, batch: dict) -> dict:
        if self.world > 1:
            n_global = _batch_len(batch)
            batch = shard(batch, self.rank, self.world)
            n_local = _batch_len(batch)
            if n_local == 0:                  # a last batch with fewer rows than ranks
                self.opt.zero_grad(set_to_none=True)
                self._reduce_grads(0.0)
                return self._finish_step({})
        with autocast(self.device, self.cfg.amp):
            parts = (self.model.loss_parts(batch) if hasattr(self.model, "loss_parts")
                     else {"total": self.model.training_loss(batch)})
        loss = parts["total"]
        self.opt.zero_grad(set_to_none=True)
        if self.scaler is not None:
            self.scaler.scale(loss).backward()
        else:
            loss.backward()
        if self.world > 1:
            self._reduce_grads(n_local / n_global)        # = the global batch's mean gradient
        return self._finish_step(parts)

    def _finish_step(self, parts: dict) -> dict:
        if self.scaler is not None:
            self.scaler.unscale_(self.opt)
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
        self._sync_start()
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
                       leave=False, disable=not progress_enabled(self.progress) or self.rank != 0)
            for batch in bar:
                parts = self._step(to_device(batch, self.device))
                k = _batch_len(batch) if self.world == 1 else _batch_len(shard(batch, self.rank, self.world))
                for name, v in parts.items():
                    sums[name] = sums.get(name, 0.0) + float(v.detach()) * k
                n += k
                if cfg.max_steps and self.history.steps >= cfg.max_steps:
                    break
            if self.world > 1:                                # epoch means over the global rows
                keys = sorted(sums)
                t = torch.tensor([sums[key] for key in keys] + [n], dtype=torch.float64, device=self.device)
                torch.distributed.all_reduce(t)
                sums, n = dict(zip(keys, t[:-1].tolist())), t[-1].item()
            self.history.parts.append({name: v / max(n, 1) for name, v in sums.items()})
            self.history.train_loss.append(self.history.parts[-1].get("total", math.nan))
            if n and not math.isfinite(self.history.parts[-1].get("total", 0.0)):
                raise FloatingPointError(
                    f"{self.desc}: the training loss became {self.history.train_loss[-1]} in epoch "
                    f"{self.epoch + 1} with lr = {cfg.lr:g}; lower the stage's learning-rate knob")
            val_loss = (validation_loss(self.model, val, cfg.eval_batch_size, self.device, cfg.amp)
                        if val is not None else -float(self.epoch))
            val_loss = self._from_rank0(val_loss)
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
            if cfg.max_minutes and self._from_rank0((time.time() - t_start) / 60 > cfg.max_minutes):
                self.history.stopped_early = True
        if self._best_state is not None:
            self.model.load_state_dict(self._best_state)
        if self.world > 1:
            torch.distributed.barrier()                     # rank 0's checkpoints are written
        return self.history


def fit(model, train, val, cfg: TrainConfig, ckpt_dir=None, resume: bool = True,
        progress: bool = True, run_key: str = "", desc: str = "epoch"):
    """Convenience: train ``model`` and return ``(model with best weights, History)``."""
    tr = Trainer(model, cfg, ckpt_dir, progress, run_key=run_key, desc=desc)
    hist = tr.fit(train, val, resume=resume)
    return tr.model, hist
