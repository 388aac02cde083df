"""HyFea - Lai, Zhang and Zhang (2020), "HyFea: Winning Solution to Social Media Popularity
Prediction for Multimedia Grand Challenge 2020", ACM Multimedia.

Original: CatBoost over a hybrid of engineered features - image (semantic/aesthetic
descriptors), category, space-time, user profile, title/tag text features - with
CatBoost's ordered target statistics for the categorical ones.
Here: ``CatBoostRegressor`` (depth 6, lr 0.08, at most 600 trees, early stopping on val
after 30) on the numeric metadata, the train-PCA of the image and text embeddings (16
components each), the tag count, and two categorical columns (subcategory, user id)
encoded by CatBoost's ordered target statistics (no feature combinations). Simplified: no
hand-crafted image descriptors; the frozen embeddings stand in for them. CPU CatBoost, one
thread (deterministic for a seed on any machine).
"""

from __future__ import annotations

import numpy as np

from .features import pca_blocks, tag_counts
from .inputs import SPLITS, _np, check_inputs, require
from .timing import Timer

N_PCA = 16


def features(data: dict, seed: int):
    img, txt = pca_blocks(data, "img", N_PCA, seed), pca_blocks(data, "txt", N_PCA, seed)
    tc = tag_counts(data)
    num = {s: np.concatenate([_np(data[s]["meta"]), img[s], txt[s], tc[s][:, None]], 1) for s in SPLITS}
    cats = {s: np.stack([_np(data[s]["cat"]), _np(data[s]["user"])], 1).astype(np.int64) for s in SPLITS}
    return num, cats


def run(data, info, seed, cfg, iterations: int = 600):
    catboost = require("catboost")
    CatBoostRegressor, Pool = catboost.CatBoostRegressor, catboost.Pool
    check_inputs(data, ("img", "txt", "meta", "y", "cat", "user"))
    with Timer() as t:
        num, cats = features(data, seed)
        d = num["train"].shape[1]

        def pool(s):
            import pandas as pd
            df = pd.DataFrame(num[s], columns=[f"f{i}" for i in range(d)])
            df["cat"], df["user"] = cats[s][:, 0], cats[s][:, 1]
            y = _np(data[s]["y"]).astype(np.float64)
            return Pool(df, y, cat_features=["cat", "user"])

        pools = {s: pool(s) for s in SPLITS}
        model = CatBoostRegressor(iterations=iterations, depth=6, learning_rate=0.08,
                                  loss_function="RMSE", random_seed=int(seed), thread_count=1,
                                  max_ctr_complexity=1,
                                  allow_writing_files=False, verbose=False, od_type="Iter",
                                  od_wait=30, use_best_model=True)
        model.fit(pools["train"], eval_set=pools["val"])
        out = {s: model.predict(pools[s]).astype(np.float64) for s in ("val", "test")}
    out["seconds"] = t.seconds
    return out
