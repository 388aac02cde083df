"""77-way accuracies of the prompt-tuned classifier (the table of notebook 03)."""

from __future__ import annotations

from typing import Sequence

import numpy as np
import pandas as pd


def topk_accuracy(probs: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Share of rows whose label is among the k highest scores; label -1 (unseen) is a miss."""
    labels = np.asarray(labels)
    if len(labels) == 0:
        return float("nan")
    top = np.argsort(-probs, axis=1)[:, :k]
    return float(((top == labels[:, None]) & (labels[:, None] >= 0)).any(1).mean())


def accuracy_report(probs: np.ndarray, labels: np.ndarray, splits: np.ndarray,
                    categories: np.ndarray, seen_train: set | None = None,
                    class_names: Sequence | None = None) -> tuple[dict, pd.DataFrame]:
    """77-way top-1/top-5 per split plus per-category top-1 (the table of notebook 03).
    Returns (metrics dict, table with one row per category + 'all' and columns per split).
    Unseen-class posts are counted (``n_unseen_<split>``) and scored as misses."""
    metrics, rows = {}, {}
    splits, categories, labels = np.asarray(splits), np.asarray(categories), np.asarray(labels)
    for s in ("val", "test"):
        m = splits == s
        if not m.any():
            continue
        metrics[f"{s}_top1"] = topk_accuracy(probs[m], labels[m], 1)
        metrics[f"{s}_top5"] = topk_accuracy(probs[m], labels[m], 5)
        metrics[f"n_{s}"] = int(m.sum())
        metrics[f"n_unseen_{s}"] = int((labels[m] < 0).sum())
        if seen_train is not None and class_names is not None:
            no_train = np.array([lab >= 0 and class_names[lab] not in seen_train for lab in labels[m]])
            metrics[f"n_no_train_posts_{s}"] = int(no_train.sum())
        for c in sorted(set(categories[m])):
            mc = m & (categories == c)
            rows.setdefault(c, {"category": c})
            rows[c][f"{s}_n"] = int(mc.sum())
            rows[c][f"{s}_top1"] = topk_accuracy(probs[mc], labels[mc], 1)
        rows.setdefault("all", {"category": "all"})
        rows["all"][f"{s}_n"] = int(m.sum())
        rows["all"][f"{s}_top1"] = metrics[f"{s}_top1"]
        rows["all"][f"{s}_top5"] = metrics[f"{s}_top5"]
    order = [c for c in rows if c != "all"] + ["all"]
    return metrics, pd.DataFrame([rows[c] for c in order])


# report key of each branch's prediction array of ``export.extract`` (pred_<branch>)
BRANCH_KEYS = {"global": "global", "local": "local", "enh": "enhanced"}


def branch_top1(arrays: dict, labels: np.ndarray, splits: np.ndarray, split: str = "val") -> dict:
    """Top-1 of each branch alone (``top1_<split>_global/local/enhanced``) from the
    ``pred_<branch>`` arrays that feature extraction returns, so they are measured exactly
    as the features the regressor reads are computed. Unseen classes count as misses."""
    m = np.asarray(splits) == split
    y = np.asarray(labels)[m]
    if not m.any():
        return {}
    return {f"top1_{split}_{name}": float(((arrays[f"pred_{b}"][m] == y) & (y >= 0)).mean())
            for b, name in BRANCH_KEYS.items()}
