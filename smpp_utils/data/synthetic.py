"""Synthetic inputs in the shape of ``smpp_utils.data.inputs.build_inputs`` with a known,
learnable signal (tests and the timing scripts)."""

from __future__ import annotations

import numpy as np
import torch


def make_synthetic(n_train: int = 600, n_val: int = 150, n_test: int = 150, di: int = 16,
                   dt: int = 24, dm: int = 6, n_users: int = 40, n_cats: int = 5,
                   n_tags: int = 30, max_tags: int = 8, noise: float = 0.3, seed: int = 0):
    """Inputs shaped like ``smpp_utils.data.inputs.build_inputs`` with a strong, learnable signal:
    y = 5 + 1.5*<img, w_i> + <txt, w_t> + 0.5*meta[:,0] + user effect + category effect + noise.
    Images of one category share a centre so neighbours carry label information."""
    g = np.random.default_rng(seed)
    n = n_train + n_val + n_test
    cat = g.integers(0, n_cats, n)
    centres = g.normal(0, 1, (n_cats, di))
    img = centres[cat] + 0.7 * g.normal(0, 1, (n, di))
    txt = g.normal(0, 1, (n, dt))
    txt[:, :di // 2] += 0.5 * img[:, :di // 2]
    meta = g.normal(0, 1, (n, dm))
    user = g.integers(1, n_users, n)
    wi, wt = g.normal(0, 1, di) / np.sqrt(di), g.normal(0, 1, dt) / np.sqrt(dt)
    ueff, ceff = g.normal(0, 0.5, n_users), g.normal(0, 0.8, n_cats)
    y = (5 + 1.5 * img @ wi + txt @ wt + (0.5 * meta[:, 0] if dm else 0) + ueff[user] + ceff[cat]
         + noise * g.normal(0, 1, n))
    ntag = g.integers(0, max_tags + 1, n)
    tags = np.zeros((n, max_tags), np.int64)
    for r in range(n):
        tags[r, :ntag[r]] = g.integers(1, n_tags, ntag[r])
    cuts = {"train": slice(0, n_train), "val": slice(n_train, n_train + n_val),
            "test": slice(n_train + n_val, n)}
    train_users = set(user[cuts["train"]])
    user = np.where(np.isin(user, list(train_users)), user, 0)
    data = {}
    for s, sl in cuts.items():
        m = sl.stop - sl.start
        data[s] = {"img": torch.tensor(img[sl], dtype=torch.float32),
                   "txt": torch.tensor(txt[sl], dtype=torch.float32),
                   "meta": torch.tensor(meta[sl], dtype=torch.float32),
                   "user": torch.tensor(user[sl]), "cat": torch.tensor(cat[sl]),
                   "tags": torch.tensor(tags[sl]), "y": torch.tensor(y[sl], dtype=torch.float32),
                   "idx": torch.arange(m)}
    info = {"fingerprint": f"synthetic-{seed}", "dims": {"img": di, "txt": dt, "meta": dm},
            "n_users": n_users, "n_tags": n_tags, "n_cats": n_cats,
            "label_mean": float(y[cuts["train"]].mean()),
            "pids": {s: np.arange(sl.start, sl.stop) for s, sl in cuts.items()}}
    return data, info
