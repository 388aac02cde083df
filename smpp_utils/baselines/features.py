"""Feature helpers of the tree/kernel baselines (SVR, HyFea, MFTM) and of the neural ones:
train-fitted standardisation and PCA, tag counts. Every statistic is fitted on train only."""

from __future__ import annotations

import numpy as np

from .inputs import SPLITS, _np


def pca_blocks(data: dict, key: str, n_comp: int, seed: int) -> dict[str, np.ndarray]:
    """Standardise ``data[s][key]`` with train statistics and project on the train PCA."""
    from sklearn.decomposition import PCA
    from sklearn.preprocessing import StandardScaler

    x = {s: _np(data[s][key]).astype(np.float32) for s in SPLITS}
    d = x["train"].shape[1]
    if d == 0:
        return {s: np.zeros((len(x[s]), 0), np.float32) for s in SPLITS}
    k = max(1, min(n_comp, d, len(x["train"]) - 1))
    sc = StandardScaler().fit(x["train"])
    solver = "randomized" if k < d else "full"
    pca = PCA(k, svd_solver=solver, random_state=seed).fit(sc.transform(x["train"]))
    return {s: pca.transform(sc.transform(x[s])).astype(np.float32) for s in SPLITS}


def tag_counts(data: dict) -> dict[str, np.ndarray]:
    return {s: ((_np(data[s]["tags"]) > 0).sum(1).astype(np.float32) if "tags" in data[s]
                else np.zeros(len(data[s]["y"]), np.float32)) for s in SPLITS}


def standardised(data: dict, keys=("img", "txt")) -> dict:
    """Shallow copies of the splits with ``keys`` standardised by train mean/std."""
    out = {s: dict(data[s]) for s in SPLITS}
    for k in keys:
        x = data["train"][k].float()
        if x.shape[1] == 0:
            continue
        mu, sd = x.mean(0), x.std(0).clamp_min(1e-6)
        for s in SPLITS:
            out[s][k] = (data[s][k].float() - mu) / sd
    return out
