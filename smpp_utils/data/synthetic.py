"""Synthetic model inputs in the exact shape of ``smpp_utils.data.inputs.build_inputs`` (the
one generator of the study: unit tests of JRPP and the baselines, the baselines' timing script
and the JRPP benchmark).

The label has a strong, learnable signal:
y = 5 + 1.5*<img, w_i> + <txt, w_t> + 0.5*meta[:,0] + user effect + category effect + noise.
Images of one category share a centre and the text shares half the image directions, so
nearest neighbours carry label information and a model that learns from content and
neighbours beats the mean predictor. As in ``build_inputs``: train users are 1..U and a user
with no train post maps to 0 (``n_users`` = U + 1); tags are right-padded with 0.
"""

from __future__ import annotations

import numpy as np
import torch

SPLITS = ("train", "val", "test")


def make_synthetic(n_train: int = 600, n_val: int = 150, n_test: int = 150, di: int = 16,
                   dt: int = 24, dm: int = 6, n_users: int = 40, n_cats: int = 5,
                   n_tags: int = 30, max_tags: int = 8, noise: float = 0.3, seed: int = 0):
    """``(data, info)`` like ``build_inputs``: ``data[split]`` holds img [n, di], txt [n, dt],
    meta [n, dm], user [n], cat [n], tags [n, max_tags], y [n], idx [n]; ``n_users`` users
    drawn before the split (those without a train post become 0)."""
    g = np.random.default_rng(seed)
    n = n_train + n_val + n_test
    cat = g.integers(0, n_cats, n)
    centres = g.normal(0, 1, (n_cats, di))
    img = centres[cat] + 0.7 * g.normal(0, 1, (n, di))
    txt = g.normal(0, 1, (n, dt))
    h = min(di // 2, dt)
    txt[:, :h] += 0.5 * img[:, :h]
    meta = g.normal(0, 1, (n, dm))
    user = g.integers(1, n_users, n)
    wi, wt = g.normal(0, 1, di) / np.sqrt(max(di, 1)), g.normal(0, 1, dt) / np.sqrt(max(dt, 1))
    ueff, ceff = g.normal(0, 0.5, n_users), g.normal(0, 0.8, n_cats)
    y = (5 + 1.5 * img @ wi + txt @ wt + (0.5 * meta[:, 0] if dm else 0) + ueff[user] + ceff[cat]
         + noise * g.normal(0, 1, n))
    ntag = g.integers(0, max_tags + 1, n)
    tags = np.zeros((n, max_tags), np.int64)
    for r in range(n):
        tags[r, :ntag[r]] = g.integers(1, n_tags, ntag[r])
    cuts = dict(zip(SPLITS, (slice(0, n_train), slice(n_train, n_train + n_val),
                             slice(n_train + n_val, n))))
    train_users = np.unique(user[cuts["train"]])
    dense = np.zeros(n_users, np.int64)                    # train users 1..U, others 0
    dense[train_users] = np.arange(1, len(train_users) + 1)
    user = dense[user]
    data = {}
    for s, sl in cuts.items():
        data[s] = {"img": torch.tensor(img[sl], dtype=torch.float32),
                   "txt": torch.tensor(txt[sl], dtype=torch.float32),
                   "meta": torch.tensor(meta[sl], dtype=torch.float32),
                   "user": torch.tensor(user[sl]), "cat": torch.tensor(cat[sl]),
                   "tags": torch.tensor(tags[sl]), "y": torch.tensor(y[sl], dtype=torch.float32),
                   "idx": torch.arange(sl.stop - sl.start)}
    info = {"fingerprint": f"synthetic-{seed}", "scheme": "random",
            "dims": {"img": di, "txt": dt, "meta": dm},
            "n_users": len(train_users) + 1, "n_tags": n_tags, "n_cats": n_cats,
            "label_mean": float(y[cuts["train"]].mean()),
            "pids": {s: np.arange(sl.start, sl.stop, dtype=np.int64) + 1 for s, sl in cuts.items()}}
    return data, info
