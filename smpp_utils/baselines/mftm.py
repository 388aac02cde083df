"""MFTM - Hsu, Lee, Hou and Tsai (2023), "Gradient Boost Tree Network Based on Extensive
Feature Analysis for Popularity Prediction of Social Posts", ACM Multimedia.

Original: LightGBM over an extensive, analysed feature set - user statistics, post
metadata, temporal/geo features, category, tag statistics and reduced vision-language
embeddings - with feature selection by importance analysis.
Here: LightGBM (31 leaves, lr 0.05, at most 800 trees, early stopping on val) on
the numeric metadata, the train-PCA of image and text embeddings (32 components each),
subcategory (native categorical), tag count, and user statistics from the train labels
(post count, out-of-fold smoothed mean label and std, so a train row never sees its own
label). Simplified: no feature-selection study; the embeddings are our frozen ones.
"""

from __future__ import annotations

import numpy as np

from .features import pca_blocks, tag_counts
from .inputs import SPLITS, _np, check_inputs, require
from .timing import Timer

N_PCA = 32
THREADS = 1      # one thread: identical trees on any machine, and no OpenMP stalls on a busy host
SMOOTH = 5.0     # prior weight (in posts) of the global mean in the user mean label


def _user_stats(users_fit, y_fit, users_q, y_mean):
    n_u = int(max(users_fit.max(initial=0), users_q.max(initial=0))) + 1
    cnt = np.bincount(users_fit, minlength=n_u).astype(np.float64)
    s1 = np.bincount(users_fit, y_fit, minlength=n_u)
    s2 = np.bincount(users_fit, y_fit ** 2, minlength=n_u)
    mean = (s1 + SMOOTH * y_mean) / (cnt + SMOOTH)
    var = np.where(cnt > 1, s2 / np.maximum(cnt, 1) - (s1 / np.maximum(cnt, 1)) ** 2, np.nan)
    cnt[0] = 0.0                                           # user 0 = unseen
    mean[0], var[0] = y_mean, np.nan
    return np.stack([cnt[users_q], mean[users_q], np.sqrt(np.clip(var[users_q], 0, None))], 1)


def user_features(data: dict, seed: int, folds: int = 5) -> dict[str, np.ndarray]:
    u = {s: _np(data[s]["user"]).astype(np.int64) for s in SPLITS}
    y = _np(data["train"]["y"]).astype(np.float64)
    out = {s: _user_stats(u["train"], y, u[s], y.mean()) for s in ("val", "test")}
    fold = np.random.default_rng(seed).integers(0, folds, len(y))
    tr = np.zeros((len(y), 3))
    for f in range(folds):
        m = fold == f
        tr[m] = _user_stats(u["train"][~m], y[~m], u["train"][m], y[~m].mean() if (~m).any() else y.mean())
    tr[:, 0] = _user_stats(u["train"], y, u["train"], y.mean())[:, 0] - 1   # count of other posts
    out["train"] = tr
    return out


def features(data: dict, seed: int) -> dict[str, np.ndarray]:
    img, txt = pca_blocks(data, "img", N_PCA, seed), pca_blocks(data, "txt", N_PCA, seed)
    tc, us = tag_counts(data), user_features(data, seed)
    return {s: np.concatenate([_np(data[s]["cat"])[:, None].astype(np.float32), tc[s][:, None],
                               us[s], _np(data[s]["meta"]), img[s], txt[s]], 1) for s in SPLITS}


def run(data, info, seed, cfg, max_trees: int = 800):
    lgb = require("lightgbm")
    check_inputs(data, ("img", "txt", "meta", "y", "cat", "user"))
    with Timer() as t:
        x = features(data, seed)
        y = {s: _np(data[s]["y"]).astype(np.float64) for s in SPLITS}
        params = {"objective": "regression", "learning_rate": 0.05, "num_leaves": 31,
                  "min_data_in_leaf": 20, "bagging_fraction": 0.8, "bagging_freq": 1,
                  "feature_fraction": 0.8, "seed": int(seed), "deterministic": True,
                  "force_row_wise": True, "num_threads": THREADS, "verbosity": -1}
        train = lgb.Dataset(x["train"], y["train"], categorical_feature=[0], free_raw_data=False)
        val = lgb.Dataset(x["val"], y["val"], reference=train)
        booster = lgb.train(params, train, max_trees, valid_sets=[val],
                            callbacks=[lgb.early_stopping(50, verbose=False)])
        out = {s: booster.predict(x[s], num_iteration=booster.best_iteration).astype(np.float64)
               for s in ("val", "test")}
    out["seconds"] = t.seconds
    return out
