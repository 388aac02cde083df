"""Paper A's "direct regression" comparison (Sec. 4.2, Table of CLIPFT vs direct): the same
pre-trained CLIP backbone fine-tuned end to end on popularity with an MSE head, instead of
the 77-class proxy task. Trained in notebook 03 (all CLIP training in one stage); notebook 05
only reads ``data/<profile>/predictions/direct_regression.parquet``.

Model: image and post-text CLIP features (L2-normalised, concatenated) -> LayerNorm -> Linear,
predicting the standardised label (train mean/std), mapped back to the label scale. The loop
is :func:`smpp_utils.paper_a.prompts.fit_loop` (AdamW, same images held once in an ``ImageBank``);
the epoch with the lowest validation MSE is kept.
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
from .prompts import ImageBank, _TextParts, encode_text_trimmed, fit_loop


class DirectRegressor(nn.Module):
    """CLIP backbone + regression head; ``training_loss(batch)`` (MSE on the standardised
    label) and ``predict(batch)`` (label scale), batch = {images, text, y}."""

    def __init__(self, clip, y_mean: float, y_std: float):
        super().__init__()
        self.clip = clip
        _TextParts(clip).token_embedding.requires_grad_(False)   # as in PromptCLIP
        d = int(clip.visual.output_dim)
        self.head = nn.Sequential(nn.LayerNorm(2 * d), nn.Linear(2 * d, 1))
        self.register_buffer("y_mean", torch.tensor(float(y_mean)))
        self.register_buffer("y_std", torch.tensor(max(float(y_std), 1e-6)))

    def _z(self, batch) -> torch.Tensor:
        x = F.normalize(self.clip.encode_image(batch["images"]), dim=-1)
        t = F.normalize(encode_text_trimmed(self.clip, batch["text"]), dim=-1)
        return self.head(torch.cat([x, t], dim=-1).float()).squeeze(-1)

    def training_loss(self, batch) -> torch.Tensor:
        return F.mse_loss(self._z(batch), (batch["y"].float() - self.y_mean) / self.y_std)

    def predict(self, batch) -> torch.Tensor:
        return self._z(batch) * self.y_std + self.y_mean


@torch.no_grad()
def predict_direct(model: DirectRegressor, bank: ImageBank, text_tokens: torch.Tensor, idx,
                   batch_size: int = 256, device=None) -> np.ndarray:
    device = device or next(model.parameters()).device
    model.eval()
    out = []
    for b, imgs in bank.batches(np.asarray(idx), batch_size):
        with autocast(device):
            out.append(model.predict({"images": imgs.to(device),
                                      "text": text_tokens[torch.from_numpy(b)].to(device)}).float().cpu())
    return torch.cat(out).numpy() if out else np.zeros(0, np.float32)


def train_direct(clip, bank: ImageBank, text_tokens: torch.Tensor, y: np.ndarray, train_idx, val_idx,
                 *, epochs: int, lr: float, weight_decay: float, batch_size: int, device, seed: int,
                 progress: bool = True, max_steps: int | None = None):
    """Fine-tune ``clip`` (a copy is not made: pass a fresh backbone) with the MSE head.
    Returns (model with the best-validation-MSE weights, history dict)."""
    y = np.asarray(y, dtype=np.float32)
    tr = np.asarray(train_idx)
    if not np.isfinite(y[tr]).all():
        raise ValueError("train_direct: train rows with a missing label")
    model = DirectRegressor(clip, y[tr].mean(), y[tr].std()).to(device)
    rows = {"text": text_tokens, "y": torch.from_numpy(y)}
    best = {"mse": np.inf, "state": None, "epoch": -1}

    def on_epoch_end(epoch):
        pred = predict_direct(model, bank, text_tokens, val_idx, device=device)
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


def write_direct_predictions(path, pids, splits, y_pred, fingerprint: str) -> pd.DataFrame:
    """``predictions/direct_regression.parquet``: Pid, split, y_pred (+ split fingerprint)."""
    pids, splits, y_pred = np.asarray(pids), np.asarray(splits), np.asarray(y_pred, dtype=np.float64)
    if not (len(pids) == len(splits) == len(y_pred)):
        raise ValueError(f"{path}: {len(pids)} Pids, {len(splits)} splits, {len(y_pred)} predictions")
    df = pd.DataFrame({"Pid": pids.astype(np.int64), "split": pd.array(splits, dtype="string"),
                       "y_pred": y_pred})
    write_parquet(df, path, {"fingerprint": fingerprint, "model": "direct_regression"})
    return df


def direct_metrics(df: pd.DataFrame, y_by_pid: pd.Series) -> dict:
    """MSE/MAE/SRC per split of a predictions frame against labels indexed by Pid."""
    out = {}
    for s, part in df.groupby("split"):
        m = regression_metrics(y_by_pid.loc[part["Pid"]].to_numpy(), part["y_pred"].to_numpy())
        out.update({f"direct_{s}_{k}": v for k, v in m.items()})
    return out
