"""The gradient-boosted regressors of Paper A stage 2 (LightGBM, CatBoost): seeded,
byte-reproducible on CPU for a given seed whatever the machine's core count (a fixed thread
count, LightGBM ``deterministic`` + ``force_row_wise``), early stopping on the val rows,
pandas 'category' columns as native categoricals; one fit per variant x regressor x seed."""

from __future__ import annotations

import os
import time
from typing import Iterable, Mapping

import numpy as np
import pandas as pd

from ...core.metrics import regression_metrics
from .matrices import categorical_columns


def default_threads() -> int:
    """The thread count every GBDT fit uses: ``$SMPP_THREADS`` (default 2), never the
    machine's core count or ``OMP_NUM_THREADS``, so a seed gives the same bytes on any
    machine (the same variable fixes torch's and faiss's pools, ``core.device``)."""
    n = int(os.environ.get("SMPP_THREADS", "2") or 2)
    return n if n > 0 else 2


def _knob(params, key: str):
    return params[key] if isinstance(params, Mapping) else getattr(params, key)


def _patience(n_rounds: int) -> int:
    return max(10, int(n_rounds) // 10)


def fit_lgbm(X_train, y_train, X_val, y_val, params, seed: int, threads: int | None = None):
    """LightGBM regressor, early stopping on the val rows, pandas 'category' columns as
    native categoricals. Row/column subsampling makes the seed matter; deterministic=True
    with a fixed thread count makes a seed reproducible."""
    import lightgbm as lgb

    n = int(_knob(params, "lgbm_estimators"))
    model = lgb.LGBMRegressor(
        n_estimators=n, learning_rate=float(_knob(params, "lgbm_lr")),
        num_leaves=int(_knob(params, "lgbm_leaves")), min_child_samples=20,
        subsample=0.8, subsample_freq=1, colsample_bytree=0.8,
        random_state=int(seed), deterministic=True, force_row_wise=True,
        n_jobs=int(threads or default_threads()), verbose=-1)
    model.fit(X_train, np.asarray(y_train, dtype=float),
              eval_X=(X_val,), eval_y=(np.asarray(y_val, dtype=float),), eval_metric="l2",
              categorical_feature=categorical_columns(X_train) or "auto",
              callbacks=[lgb.early_stopping(_patience(n), verbose=False)])
    return model


def _catboost_frame(X: pd.DataFrame) -> pd.DataFrame:
    """CatBoost wants categorical values as strings without NaN."""
    X = X.copy()
    for c in categorical_columns(X):
        X[c] = X[c].astype(object).where(X[c].notna(), "<NA>").astype(str)
    return X


def fit_catboost(X_train, y_train, X_val, y_val, params, seed: int, threads: int | None = None):
    """CatBoost regressor with ``cat_features`` (the 'category' columns), early stopping
    on the val rows (best model kept); ``random_seed`` + fixed ``thread_count``."""
    from catboost import CatBoostRegressor

    n = int(_knob(params, "cat_iterations"))
    model = CatBoostRegressor(
        iterations=n, depth=int(_knob(params, "cat_depth")),
        learning_rate=float(_knob(params, "cat_lr")), loss_function="RMSE",
        random_seed=int(seed), thread_count=int(threads or default_threads()),
        cat_features=categorical_columns(X_train), early_stopping_rounds=_patience(n),
        use_best_model=True, allow_writing_files=False, verbose=False)
    model.fit(_catboost_frame(X_train), np.asarray(y_train, dtype=float),
              eval_set=(_catboost_frame(X_val), np.asarray(y_val, dtype=float)))
    return model


REGRESSORS = {"LightGBM": fit_lgbm, "CatBoost": fit_catboost}


def predict(model, X: pd.DataFrame) -> np.ndarray:
    if type(model).__module__.startswith("catboost"):
        X = _catboost_frame(X)
    return np.asarray(model.predict(X), dtype=float)


def importance(model, columns) -> pd.Series:
    """Feature importance normalised to sum 1 (LightGBM: total gain; CatBoost:
    PredictionValuesChange)."""
    if type(model).__module__.startswith("catboost"):
        v = np.asarray(model.get_feature_importance(), dtype=float)
    else:
        v = np.asarray(model.booster_.feature_importance("gain"), dtype=float)
    return pd.Series(v / v.sum() if v.sum() > 0 else v, index=list(columns))


def best_iteration(model) -> int:
    if type(model).__module__.startswith("catboost"):
        return int(model.get_best_iteration() + 1)
    return int(model.best_iteration_ or model.n_estimators)


def run_variant(name: str, X: pd.DataFrame, y, split, sel_mask, regressor: str, seed: int,
                cfg, threads: int | None = None, pids=None) -> dict:
    """Fit ``regressor`` on the train rows kept by ``sel_mask`` (None = all), early-stop
    on the val rows, and score the test rows. Returns test metrics, predictions, the
    number of train rows and features, best iteration, fit time and importances."""
    if regressor not in REGRESSORS:
        raise ValueError(f"unknown regressor {regressor!r}; expected one of {sorted(REGRESSORS)}")
    y = np.asarray(y, dtype=float)
    split = np.asarray(split)
    if not (len(X) == len(y) == len(split)):
        raise ValueError(f"run_variant({name}): {len(X)} rows, {len(y)} labels, {len(split)} splits")
    sel = np.ones(len(X), bool) if sel_mask is None else np.asarray(sel_mask, dtype=bool)
    tr, va, te = (split == "train") & sel, split == "val", split == "test"
    for s, m in (("train", tr), ("val", va), ("test", te)):
        if not m.any():
            raise ValueError(f"run_variant({name}): no {s} rows")
    t0 = time.perf_counter()
    model = REGRESSORS[regressor](X[tr], y[tr], X[va], y[va], cfg, seed, threads)
    fit_s = time.perf_counter() - t0
    yhat = predict(model, X[te])
    return {"variant": name, "regressor": regressor, "seed": int(seed),
            "metrics": regression_metrics(y[te], yhat), "y_pred": yhat,
            "pids": None if pids is None else np.asarray(pids)[te],
            "n_train": int(tr.sum()), "n_features": int(X.shape[1]),
            "best_iteration": best_iteration(model), "fit_seconds": round(fit_s, 2),
            "importance": importance(model, X.columns)}


def run_all(matrices: Mapping[str, pd.DataFrame], selections: Mapping[str, np.ndarray | None],
            y, split, seeds: Iterable[int], cfg, threads: int | None = None, pids=None,
            regressors: Iterable[str] = tuple(REGRESSORS)) -> list[dict]:
    """Every variant x regressor x seed; one short line printed per fit."""
    results = []
    for name, X in matrices.items():
        for reg in regressors:
            for seed in seeds:
                r = run_variant(name, X, y, split, selections.get(name), reg, seed, cfg,
                                threads=threads, pids=pids)
                m = r["metrics"]
                print(f"{name:12s} {reg:9s} seed {seed}: SRC {m['src']:.4f} MAE {m['mae']:.4f} "
                      f"MSE {m['mse']:.4f} ({r['best_iteration']} trees, {r['fit_seconds']:.1f}s)")
                results.append(r)
    return results
