"""Training of the neural baselines: the one shared trainer (``smpp_utils.core.trainer``) with
the settings of the ``jrpp`` section of params.yaml (``TrainConfig.from_knobs``, as JRPP),
``fit_predict``, ``default_cfg`` for tests and the timing script, and ``run_neural``, the
shared ``run`` of every neural baseline."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np

from ..core.trainer import TrainConfig, Trainer, predict
from .features import standardised
from .inputs import NotRun, check_inputs, label_stats, n_cats_of
from .layers import Regressor
from .timing import Timer


def fit_predict(model: Regressor, data: dict, cfg, seed: int) -> dict:
    """Train with the shared trainer (early stopping on val MSE) and predict val/test."""
    tc = TrainConfig.from_knobs(cfg, seed)
    tr = Trainer(model, tc, ckpt_dir=None, progress=False)
    tr.fit(data["train"], data["val"], resume=False)
    return {s: predict(tr.model, data[s], tc.eval_batch_size, tr.device).astype(np.float64)
            for s in ("val", "test")}


def seeded(seed: int) -> None:
    """Seed the RNGs before a model is built (weight init is then reproducible)."""
    from ..core.device import seed_everything

    seed_everything(int(seed))


def default_cfg(**kw) -> SimpleNamespace:
    base = {"seed": 0, "lr": 1e-3, "batch_size": 128, "epochs": 20, "patience": 5, **kw}
    return SimpleNamespace(**base)


def run_neural(data: dict, info: dict, seed: int, cfg, build, prepare=None,
               need=("img", "txt", "meta", "y", "cat")) -> dict:
    """Shared ``run`` of the neural baselines: standardise the embeddings (train statistics),
    optionally ``prepare(std_data, raw_data) -> data`` (e.g. fixed retrieval on the raw
    frozen embeddings, neighbour ids added to the standardised splits), seed, ``build(data, info,
    y_mean, y_std) -> Regressor``, train with the shared trainer, predict val/test."""
    check_inputs(data, need)
    for k in ("img", "txt"):
        if k in need and data["train"][k].shape[1] == 0:
            raise NotRun(f"needs {k} features; the {k} embedding has dimension 0")
    with Timer() as t:
        d = standardised(data)
        if prepare is not None:
            d = prepare(d, data)
        seeded(seed)
        y_mean, y_std = label_stats(d, info)
        model = build(d, info, y_mean, y_std)
        out = fit_predict(model, d, cfg, seed)
    out["seconds"] = t.seconds
    return out


def multimodal_build(cls):
    """``build`` for :func:`run_neural` of a model ``cls(d_img, d_txt, d_meta, n_cats,
    y_mean, y_std)`` (the shapes read from the train split)."""
    def build(d, info, y_mean, y_std):
        tr = d["train"]
        return cls(tr["img"].shape[1], tr["txt"].shape[1], tr["meta"].shape[1], n_cats_of(d, info),
                   y_mean, y_std)
    return build
