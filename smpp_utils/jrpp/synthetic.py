"""Synthetic inputs in the exact shape of ``smpp_utils.data.inputs.build_inputs`` (for tests,
the benchmark and speed measurements). The label has a content signal (a random linear
function of the image/text embeddings), a per-user effect and noise, so a model that
learns from content and neighbours beats predicting the mean."""

from __future__ import annotations

import numpy as np
import torch


def make_synthetic(n_train: int = 800, n_val: int = 100, n_test: int = 100, di: int = 32,
                   dt: int = 24, dm: int = 4, n_users: int = 50, n_clusters: int = 8,
                   n_tags: int = 30, seed: int = 0, noise: float = 0.3):
    rng = np.random.default_rng(seed)
    n = n_train + n_val + n_test
    centers = rng.normal(size=(n_clusters, di + dt)).astype(np.float32)
    cl = rng.integers(0, n_clusters, n)
    x = centers[cl] + 0.5 * rng.normal(size=(n, di + dt)).astype(np.float32)
    meta = rng.normal(size=(n, dm)).astype(np.float32)
    uid = rng.integers(1, n_users + 1, n)
    w = rng.normal(size=di + dt) / np.sqrt(di + dt)
    ueff = rng.normal(scale=0.8, size=n_users + 1)
    y = (5.0 + x @ w + ueff[uid] + (meta[:, 0] * 0.3 if dm else 0) + noise * rng.normal(size=n)).astype(np.float32)
    split = np.array(["train"] * n_train + ["val"] * n_val + ["test"] * n_test)
    split = split[rng.permutation(n)]
    train_users = np.unique(uid[split == "train"])
    umap = np.zeros(n_users + 1, dtype=np.int64)
    umap[train_users] = np.arange(1, len(train_users) + 1)
    data, pids = {}, {}
    for s in ("train", "val", "test"):
        m = split == s
        cnt = int(m.sum())
        data[s] = {"img": torch.from_numpy(x[m, :di].copy()), "txt": torch.from_numpy(x[m, di:].copy()),
                   "meta": torch.from_numpy(meta[m]), "user": torch.from_numpy(umap[uid[m]]),
                   "cat": torch.from_numpy(cl[m].astype(np.int64)),
                   "tags": torch.from_numpy(rng.integers(0, n_tags, (cnt, 4)).astype(np.int64)),
                   "y": torch.from_numpy(y[m]), "idx": torch.arange(cnt)}
        pids[s] = np.nonzero(m)[0].astype(np.int64) + 1
    info = {"fingerprint": f"synthetic-{seed}", "pids": pids, "scheme": "random",
            "dims": {"img": di, "txt": dt, "meta": dm}, "n_users": len(train_users) + 1,
            "n_tags": n_tags, "n_cats": n_clusters, "label_mean": float(y[split == "train"].mean())}
    return data, info
