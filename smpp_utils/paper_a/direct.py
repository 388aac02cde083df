"""Paper A's "direct regression" comparison (Sec. 4.2, Table of CLIPFT vs direct): the same
pre-trained CLIP backbone fine-tuned end to end on popularity with an MSE head, instead of
the 77-class proxy task. Trained in notebook 03 (all CLIP training in one stage); notebook 05
only reads ``data/<profile>/predictions/direct_regression.parquet``.

Two variants (column ``variant`` of the predictions file):

* ``direct`` - **content only**: image and post-text CLIP features (L2-normalised,
  concatenated) -> LayerNorm -> Linear. This is the paper's comparison row, but the boosted
  rows it is compared with also read the metadata, so on its own it confounds "proxy task vs
  direct" with "metadata vs none".
* ``direct_meta`` - **content + the same metadata** the boosted rows get
  (``data.features.metadata_features``, out-of-fold user mean included): the content head
  as above plus a two-layer MLP on the encoded metadata (:func:`encode_metadata`), summed.
  The fair comparison with "metadata + CLIPFT".

Both predict the standardised label (train mean/std), mapped back to the label scale.
:func:`run_direct` trains each variant for each of ``direct_seeds`` seeds (seed = base + i;
the seed fixes the head's initialisation and the batch order) and returns the long
predictions frame (``Pid, split, y_pred, variant, seed``). Training runs
through :func:`smpp_utils.paper_a.prompts.fit_loop` (the shared trainer, AdamW, images held once
in an ``ImageBank``); the epoch with the lowest validation MSE is kept.
"""

from __future__ import annotations

import copy

import numpy as np
import pandas as pd
import torch
import torch.nn.functional as F
from torch import nn

from ..core.device import autocast
from ..core.io import write_parquet
from ..core.metrics import regression_metrics
from .prompts import ImageBank, fit_loop
from .prompts.towers import _TextParts, encode_text_trimmed


VARIANTS = ("direct", "direct_meta")


def encode_metadata(meta: pd.DataFrame, train_mask) -> np.ndarray:
    """The metadata frame as a float32 matrix for a neural head: numeric columns
    standardised with train-row mean/std, NaN -> 0 plus a 0/1 missing column for each
    column with a NaN; 'category' columns one-hot over the levels seen in train rows
    (others all zero). Nothing is fitted on val/test rows."""
    train_mask = np.asarray(train_mask, dtype=bool)
    if len(train_mask) != len(meta) or not train_mask.any():
        raise ValueError(f"encode_metadata: {len(meta)} rows, train mask of {len(train_mask)} "
                         f"with {int(train_mask.sum())} train rows")
    cols = []
    for c in meta.columns:
        v = meta[c]
        if isinstance(v.dtype, pd.CategoricalDtype):
            levels = sorted(set(v[train_mask].dropna().astype(str)))
            cols.append((v.astype(str).to_numpy()[:, None] == np.array(levels)[None]).astype(np.float32))
            continue
        x = v.to_numpy(dtype=float)
        mu, sd = np.nanmean(x[train_mask]), np.nanstd(x[train_mask])
        mu, sd = (0.0 if np.isnan(mu) else mu), (1.0 if not sd > 0 else sd)
        missing = np.isnan(x)
        cols.append(np.where(missing, 0.0, (x - mu) / sd)[:, None].astype(np.float32))
        if missing.any():
            cols.append(missing[:, None].astype(np.float32))
    return np.concatenate(cols, axis=1)


class DirectRegressor(nn.Module):
    """CLIP backbone + regression head; ``training_loss(batch)`` (MSE on the standardised
    label) and ``predict(batch)`` (label scale), batch = {images, text, y[, meta]}.
    ``meta_dim > 0`` adds an MLP on ``batch["meta"]`` whose output is added to the content
    head's (the content path is the same as without metadata)."""

    def __init__(self, clip, y_mean: float, y_std: float, meta_dim: int = 0, meta_hidden: int = 128,
                 head_lr: float | None = None):
        super().__init__()
        self.head_lr = head_lr
        self.clip = clip
        _TextParts(clip).token_embedding.requires_grad_(False)   # as in PromptCLIP
        d = int(clip.visual.output_dim)
        self.head = nn.Sequential(nn.LayerNorm(2 * d), nn.Linear(2 * d, 1))
        self.meta_head = (nn.Sequential(nn.Linear(meta_dim, meta_hidden), nn.GELU(),
                                        nn.Linear(meta_hidden, 1)) if meta_dim else None)
        self.register_buffer("y_mean", torch.tensor(float(y_mean)))
        self.register_buffer("y_std", torch.tensor(max(float(y_std), 1e-6)))

    def _z(self, batch) -> torch.Tensor:
        x = F.normalize(self.clip.encode_image(batch["images"].float()), dim=-1)
        t = F.normalize(encode_text_trimmed(self.clip, batch["text"]), dim=-1)
        z = self.head(torch.cat([x, t], dim=-1).float()).squeeze(-1)
        if self.meta_head is not None:
            z = z + self.meta_head(batch["meta"].float()).squeeze(-1)
        return z

    def param_groups(self) -> list[dict]:
        """The backbone at the trainer's lr; the freshly initialised heads at ``head_lr``
        (None = the same lr), so the metadata MLP is not starved by CLIP's small fine-tuning lr."""
        heads = [p for m in (self.head, self.meta_head) if m is not None for p in m.parameters()]
        ids = {id(p) for p in heads}
        backbone = [p for p in self.parameters() if p.requires_grad and id(p) not in ids]
        head_group = {"params": heads} if self.head_lr is None else {"params": heads, "lr": float(self.head_lr)}
        return [{"params": backbone}, head_group]

    def training_loss(self, batch) -> torch.Tensor:
        return F.mse_loss(self._z(batch), (batch["y"].float() - self.y_mean) / self.y_std)

    def predict(self, batch) -> torch.Tensor:
        return self._z(batch) * self.y_std + self.y_mean


@torch.no_grad()
def predict_direct(model: DirectRegressor, bank: ImageBank, text_tokens: torch.Tensor, idx,
                   batch_size: int = 256, device=None, meta: torch.Tensor | None = None) -> np.ndarray:
    device = device or next(model.parameters()).device
    model.eval()
    out = []
    for b, imgs in bank.batches(np.asarray(idx), batch_size):
        tb = torch.from_numpy(b)
        batch = {"images": imgs.to(device), "text": text_tokens[tb].to(device)}
        if meta is not None:
            batch["meta"] = meta[tb].to(device)
        with autocast(device):
            out.append(model.predict(batch).float().cpu())
    return torch.cat(out).numpy() if out else np.zeros(0, np.float32)


def train_direct(clip, bank: ImageBank, text_tokens: torch.Tensor, y: np.ndarray, train_idx, val_idx,
                 *, epochs: int, lr: float, weight_decay: float, batch_size: int, device, seed: int,
                 progress: bool = True, max_steps: int | None = None, meta: np.ndarray | None = None,
                 head_lr: float | None = None):
    """Fine-tune ``clip`` (a copy is not made: pass a fresh backbone) with the MSE head;
    ``meta`` [n_rows, m] (row-aligned with ``bank``, e.g. :func:`encode_metadata`) adds the
    metadata MLP; ``head_lr`` is the heads' learning rate (None = ``lr``). Returns (model with
    the best-validation-MSE weights, history dict)."""
    y = np.asarray(y, dtype=np.float32)
    tr = np.asarray(train_idx)
    if not np.isfinite(y[tr]).all():
        raise ValueError("train_direct: train rows with a missing label")
    meta_t = None if meta is None else torch.as_tensor(np.asarray(meta, dtype=np.float32))
    if meta_t is not None and len(meta_t) != bank.n:
        raise ValueError(f"train_direct: metadata has {len(meta_t)} rows for {bank.n} images")
    model = DirectRegressor(clip, y[tr].mean(), y[tr].std(),
                            meta_dim=0 if meta_t is None else meta_t.shape[1], head_lr=head_lr).to(device)
    rows = {"text": text_tokens, "y": torch.from_numpy(y)}
    if meta_t is not None:
        rows["meta"] = meta_t
    best = {"mse": np.inf, "state": None, "epoch": -1}

    def on_epoch_end(epoch):
        pred = predict_direct(model, bank, text_tokens, val_idx, device=device, meta=meta_t)
        mse = float(np.mean((pred - y[np.asarray(val_idx)]) ** 2))
        if mse < best["mse"]:
            best.update(mse=mse, epoch=epoch,
                        state=copy.deepcopy({k: v.detach().cpu() for k, v in model.state_dict().items()}))
        return {"val_mse": mse}

    hist = fit_loop(model, bank, rows, tr, epochs=epochs, lr=lr, weight_decay=weight_decay,
                    batch_size=batch_size, device=device, seed=seed, desc="direct",
                    on_epoch_end=on_epoch_end, max_steps=max_steps, progress=progress)
    if best["state"] is not None:
        model.load_state_dict(best["state"])
    return model, {"val_mse": [v["val_mse"] for v in hist.val], "best_epoch": best["epoch"],
                   "epoch_seconds": hist.epoch_seconds, "images_per_s": hist.images_per_s}


def run_direct(load_clip, bank: ImageBank, text_tokens: torch.Tensor, posts: pd.DataFrame, *,
               variants=VARIANTS, seeds, epochs: int, lr: float, weight_decay: float,
               batch_size: int, device, oof_folds: int, meta_seed: int,
               head_lr: float | None = None, progress: bool = True) -> tuple[pd.DataFrame, dict]:
    """Every direct-regression variant x seed, trained on the train rows of ``posts`` (row-
    aligned with ``bank``; columns Pid, split, label), best epoch on val, predicted on val
    and test. ``load_clip()`` returns a fresh backbone (each run starts from the same
    pre-trained weights). ``direct_meta`` reads :func:`bank_metadata` (the boosting stage's
    metadata: same function, ``oof_folds`` and ``meta_seed``). Returns (long predictions frame
    ``Pid, split, y_pred, variant, seed``, {``<variant>/<seed>``: history})."""
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        raise ValueError(f"run_direct: unknown variants {unknown}; expected {VARIANTS}")
    split = posts["split"].astype("string").fillna("").to_numpy()
    idx = {s: np.flatnonzero(split == s) for s in ("train", "val", "test")}
    evl = np.concatenate([idx["val"], idx["test"]])
    y = np.array(posts["label"], dtype=np.float32)          # a writable copy (torch.from_numpy)
    meta = bank_metadata(posts, oof_folds, meta_seed) if "direct_meta" in variants else None
    parts, hists = [], {}
    for variant in variants:
        for seed in seeds:
            model, hist = train_direct(load_clip(), bank, text_tokens, y, idx["train"], idx["val"],
                                       epochs=epochs, lr=lr, weight_decay=weight_decay,
                                       batch_size=batch_size, device=device, seed=int(seed),
                                       progress=progress, head_lr=head_lr,
                                       meta=meta if variant == "direct_meta" else None)
            pred = predict_direct(model, bank, text_tokens, evl, batch_size=2 * batch_size,
                                  device=device,
                                  meta=None if variant != "direct_meta" else torch.from_numpy(meta))
            parts.append(pd.DataFrame({"Pid": posts["Pid"].to_numpy()[evl], "split": split[evl],
                                       "y_pred": pred, "variant": variant, "seed": int(seed)}))
            hists[f"{variant}/{seed}"] = hist
    return pd.concat(parts, ignore_index=True), hists


def write_direct_predictions(path, pids, splits, y_pred, fingerprint: str,
                             variants=None, seeds=None) -> pd.DataFrame:
    """``predictions/direct_regression.parquet``: Pid, split, y_pred, variant (one of
    ``VARIANTS``; default ``direct``), seed (-1 when not given) + the split fingerprint."""
    pids, splits, y_pred = np.asarray(pids), np.asarray(splits), np.asarray(y_pred, dtype=np.float64)
    variants = np.full(len(pids), "direct", dtype=object) if variants is None else np.asarray(variants)
    seeds = np.full(len(pids), -1, dtype=np.int64) if seeds is None else np.asarray(seeds, dtype=np.int64)
    if not (len(pids) == len(splits) == len(y_pred) == len(variants) == len(seeds)):
        raise ValueError(f"{path}: {len(pids)} Pids, {len(splits)} splits, {len(y_pred)} predictions, "
                         f"{len(variants)} variants, {len(seeds)} seeds")
    unknown = sorted(set(variants) - set(VARIANTS))
    if unknown:
        raise ValueError(f"{path}: unknown variants {unknown}; expected {VARIANTS}")
    df = pd.DataFrame({"Pid": pids.astype(np.int64), "split": pd.array(splits, dtype="string"),
                       "y_pred": y_pred, "variant": pd.array(variants, dtype="string"),
                       "seed": seeds})
    if df.duplicated(["Pid", "variant", "seed"]).any():
        raise ValueError(f"{path}: a (Pid, variant, seed) appears twice")
    write_parquet(df, path, {"fingerprint": fingerprint, "model": "direct_regression"})
    return df


def direct_metrics(df: pd.DataFrame, y_by_pid: pd.Series) -> dict:
    """MSE/MAE/SRC per variant and split (``<variant>_<split>_<metric>``) of a predictions
    frame against labels indexed by Pid; with several seeds, the mean over seeds."""
    out = {}
    if "variant" not in df:
        df = df.assign(variant="direct")
    if "seed" not in df:
        df = df.assign(seed=-1)
    for (v, s), part in df.groupby(["variant", "split"]):
        per_seed = [regression_metrics(y_by_pid.loc[p["Pid"]].to_numpy(), p["y_pred"].to_numpy())
                    for _, p in part.groupby("seed")]
        out.update({f"{v}_{s}_{k}": float(np.mean([m[k] for m in per_seed])) for k in per_seed[0]})
    return out


def bank_metadata(posts: pd.DataFrame, oof_folds: int, seed: int) -> np.ndarray:
    """:func:`encode_metadata` for every row of ``posts`` (all posts, as stage 03 holds
    them): the metadata are computed on the labelled rows exactly as the boosting stage
    computes them (same function, folds and seed); rows outside the split get zeros (they
    are never trained on or scored)."""
    from ..data.features import metadata_features

    lab = posts["split"].notna().to_numpy()
    part = posts.loc[lab].reset_index(drop=True)
    enc = encode_metadata(metadata_features(part, oof_folds=oof_folds, seed=seed),
                          (part["split"] == "train").to_numpy())
    out = np.zeros((len(posts), enc.shape[1]), np.float32)
    out[lab] = enc
    return out
