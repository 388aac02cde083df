"""Evaluation metrics on the label (log-views) scale: MSE, MAE and Spearman's rank
correlation (SRC) over the whole test set, as in JRPP Sec. 4 and the SMP Challenge."""

from __future__ import annotations

import numpy as np
from scipy.stats import spearmanr
from sklearn.metrics import mean_absolute_error, mean_squared_error


def regression_metrics(y_true, y_pred) -> dict[str, float]:
    y_true = np.asarray(y_true, dtype=float).ravel()
    y_pred = np.asarray(y_pred, dtype=float).ravel()
    if y_true.shape != y_pred.shape:
        raise ValueError(f"shape mismatch: {y_true.shape} labels vs {y_pred.shape} predictions")
    if not (np.isfinite(y_true).all() and np.isfinite(y_pred).all()):
        raise ValueError("labels and predictions must be finite")
    src = spearmanr(y_true, y_pred).statistic if np.ptp(y_pred) > 0 else 0.0
    return {"mse": float(mean_squared_error(y_true, y_pred)),
            "mae": float(mean_absolute_error(y_true, y_pred)),
            "src": float(src)}


def summarize_seeds(rows: list[dict], keys=("mse", "mae", "src")) -> dict[str, float]:
    """Mean and (population=False) std over seeds: {'mse_mean', 'mse_std', ...}."""
    out = {}
    for k in keys:
        v = np.array([r[k] for r in rows], dtype=float)
        out[f"{k}_mean"] = float(v.mean())
        out[f"{k}_std"] = float(v.std(ddof=1)) if len(v) > 1 else 0.0
    return out
