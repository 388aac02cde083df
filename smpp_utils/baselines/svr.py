"""SVR - Khosla, Das Sarma and Hamid (2014), "What Makes an Image Popular?", WWW.

Original: a linear/RBF support-vector regressor on hand-crafted image content features
(colour, gist, texture, deep activations) and social context (user followers, views,
tags...), on log-normalised views.
Here: sklearn ``SVR`` (RBF kernel, C=1, epsilon=0.1) on the train-PCA of the standardised
frozen image and text embeddings (32 components each) plus the numeric metadata.
Simplified: a kernel method is quadratic in the training rows, so it is fitted on a seeded
random subsample of at most ``MAX_TRAIN`` (5000) train posts; no hand-crafted features.
"""

from __future__ import annotations

import numpy as np

from .features import pca_blocks
from .inputs import SPLITS, _np, check_inputs
from .timing import Timer

MAX_TRAIN = 5000
N_PCA = 32


def features(data: dict, seed: int) -> dict[str, np.ndarray]:
    from sklearn.preprocessing import StandardScaler

    img, txt = pca_blocks(data, "img", N_PCA, seed), pca_blocks(data, "txt", N_PCA, seed)
    x = {s: np.concatenate([img[s], txt[s], _np(data[s]["meta"])], 1) for s in SPLITS}
    sc = StandardScaler().fit(x["train"])
    return {s: sc.transform(x[s]) for s in SPLITS}


def run(data, info, seed, cfg, max_train: int = MAX_TRAIN):
    from sklearn.svm import SVR

    check_inputs(data)
    with Timer() as t:
        x = features(data, seed)
        y = _np(data["train"]["y"]).astype(np.float64)
        rows = np.random.default_rng(seed).permutation(len(y))[:max_train]
        model = SVR(kernel="rbf", C=1.0, epsilon=0.1, gamma="scale", cache_size=500)
        model.fit(x["train"][rows], y[rows])
        out = {s: model.predict(x[s]) for s in ("val", "test")}
    out["seconds"] = t.seconds
    return out
