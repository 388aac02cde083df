"""Paper A, stage 2: gradient-boosted regressors (LightGBM, CatBoost) on metadata plus
multimodal feature blocks, with the paper's loss-based sample selection.

Paper A extracts features from its fine-tuned CLIP (CLIPFT), keeps the training posts
whose classification loss is lowest (77% of them) and fits LightGBM / CatBoost on those
features together with user-behaviour metadata. This module holds the pieces that the
notebook ``05_boosting`` strings together:

* :func:`fit_lgbm`, :func:`fit_catboost` - seeded, reproducible regressors with early
  stopping on the validation rows; categorical columns handled natively.
* :func:`select_by_loss` - the loss-based sample selection.
* :func:`feature_matrix` - metadata + named embedding columns (optional PCA fitted on
  train rows only), aligned by Pid.
* :func:`run_variant`, :func:`summarize`, :func:`paperA_table` - one fit, the seed
  summary and the report table (paper numbers in their own column).
"""

from __future__ import annotations

import json
import os
import time
from pathlib import Path
from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from ..core import paths
from ..core.io import load_arrays, read_parquet
from ..core.metrics import regression_metrics, summarize_seeds
from ..core.reports import mean_std_cell

# SRC that Paper A (arXiv 2508.16147) reports on real SMPD for its CLIPFT features.
PAPER_A_REPORTED: dict[tuple[str, str], float] = {
    ("clipft", "LightGBM"): 0.7295,
    ("clipft", "CatBoost"): 0.7303,
}
PAPER_COLUMN = "reported in the paper (real SMPD)"
NEURAL_HEAD = "neural head"

# Row labels of the report table.
VARIANT_LABELS = {
    "metadata": "metadata only",
    "clip_frozen": "metadata + frozen CLIP (image, text) + MiniLM (text)",
    "clipft": "metadata + CLIPFT, loss-selected train rows (Paper A)",
    "clipft_all": "metadata + CLIPFT, all train rows",
    "direct": "direct regression (CLIP fine-tuned on popularity, stage 03)",
}

# Input files of the stage: (path relative to data/<profile>, the stage that writes it).
INPUTS: dict[str, tuple[str, str]] = {
    "clip": ("emb/clip.npz", "prototypes (notebooks/02_prototypes.ipynb)"),
    "minilm": ("emb/minilm.npz", "prototypes (notebooks/02_prototypes.ipynb)"),
    "clipft": ("features/clipft.npz", "finetune (notebooks/03_prompt_finetune.ipynb)"),
    "direct": ("predictions/direct_regression.parquet",
               "finetune (notebooks/03_prompt_finetune.ipynb)"),
}


# ----------------------------------------------------------------------------- inputs
def input_path(profile: str, key: str) -> Path:
    return paths.data_dir(profile) / INPUTS[key][0]


def check_inputs(profile: str, keys: Iterable[str] = tuple(INPUTS), data_json: bool = True) -> None:
    """Fail early, naming every missing input file and the stage that writes it."""
    missing = [f"  {input_path(profile, k)}  <- written by stage {INPUTS[k][1]}"
               for k in keys if not input_path(profile, k).is_file()]
    oracle = paths.metrics_dir(profile) / "data.json"
    if data_json and not oracle.is_file():
        missing.append(f"  {oracle}  <- written by stage data (notebooks/01_data.ipynb)")
    if missing:
        raise FileNotFoundError("boosting stage: input files are missing; run the stages "
                                "that write them first (dvc repro):\n" + "\n".join(missing))


def load_blocks(profile: str, key: str, pids, fingerprint: str,
                exclude: Iterable[str] = ()) -> tuple[dict[str, np.ndarray], dict[str, np.ndarray]]:
    """Arrays of one input npz, reordered to ``pids`` and checked against the split
    fingerprint: ({'<key>_<array>': features}, {excluded name: array})."""
    check_inputs(profile, [key], data_json=False)
    _, arrays, _ = load_arrays(input_path(profile, key), expect_fingerprint=fingerprint, pids=pids)
    exclude = set(exclude)
    blocks = {f"{key}_{n}": a for n, a in sorted(arrays.items()) if n not in exclude}
    extra = {n: a for n, a in arrays.items() if n in exclude}
    return blocks, extra


def direct_regression_results(profile: str, posts: pd.DataFrame, fingerprint: str) -> list[dict]:
    """Test metrics of stage 03's direct-regression head, one result per seed (a ``seed``
    column when present), in the same shape as :func:`run_variant`'s results."""
    path = input_path(profile, "direct")
    check_inputs(profile, ["direct"], data_json=False)
    df, _ = read_parquet(path, expect_fingerprint=fingerprint)
    for col in ("Pid", "split", "y_pred"):
        if col not in df:
            raise KeyError(f"{path}: no column {col!r}; it has {list(df.columns)}")
    test = posts.loc[posts["split"] == "test", ["Pid", "label"]]
    out = []
    for seed, part in (df.groupby("seed") if "seed" in df else [(None, df)]):
        pred = part[part["split"] == "test"].set_index("Pid")["y_pred"]
        missing = test["Pid"][~test["Pid"].isin(pred.index)]
        if len(missing):
            raise KeyError(f"{path}: {len(missing)} test Pids have no prediction, "
                           f"e.g. {missing.head().tolist()}")
        yhat = pred.reindex(test["Pid"]).to_numpy(dtype=float)
        out.append({"variant": "direct", "regressor": NEURAL_HEAD, "seed": seed,
                    "metrics": regression_metrics(test["label"], yhat), "y_pred": yhat,
                    "pids": test["Pid"].to_numpy(), "n_train": None, "n_features": None,
                    "best_iteration": None, "fit_seconds": None, "importance": None})
    return out


# ----------------------------------------------------------------------------- selection
def select_by_loss(cls_loss, frac: float) -> np.ndarray:
    """Paper A's loss-based sample selection: keep the ``frac`` of the rows with the
    LOWEST classification loss (exactly ``round(frac * n)`` of the n rows that have a
    loss; ties broken by position). Rows without a loss (NaN) are always kept."""
    if not 0.0 <= frac <= 1.0:
        raise ValueError(f"select_by_loss: frac must be in [0, 1], got {frac}")
    loss = np.asarray(cls_loss, dtype=float).ravel()
    has = ~np.isnan(loss)
    idx = np.flatnonzero(has)
    k = int(round(frac * len(idx)))
    keep = ~has
    keep[idx[np.argsort(loss[idx], kind="stable")[:k]]] = True
    return keep


def train_selection(cls_loss, split, frac: float) -> np.ndarray:
    """:func:`select_by_loss` over the train rows only; val/test rows are always kept."""
    loss = np.where(np.asarray(split) == "train", np.asarray(cls_loss, dtype=float), np.nan)
    return select_by_loss(loss, frac)


# ----------------------------------------------------------------------------- features
def _align(block: str, arr: np.ndarray, src_pids, pids) -> np.ndarray:
    pos = pd.Index(np.asarray(src_pids)).get_indexer(np.asarray(pids))
    if (pos < 0).any():
        missing = np.asarray(pids)[pos < 0]
        raise KeyError(f"feature block {block!r}: {len(missing)} Pids missing, "
                       f"e.g. {missing[:5].tolist()}")
    return arr[pos]


def _pca(block: str, x: np.ndarray, train: np.ndarray, dims: int) -> np.ndarray:
    from sklearn.decomposition import PCA

    n_comp = min(dims, x.shape[1], int(train.sum()))
    if n_comp >= x.shape[1]:
        return x
    return PCA(n_components=n_comp, random_state=0).fit(x[train]).transform(x)


def feature_matrix(meta_df: pd.DataFrame, arrays: Mapping[str, np.ndarray] | None = None,
                   pca_dims: int | None = None, *, pids=None, array_pids=None,
                   train_mask=None) -> pd.DataFrame:
    """Metadata columns plus one named column per embedding dimension (``<block>_000``...).

    * Rows follow ``meta_df``. Its Pids come from ``pids``, else a ``Pid`` column, else an
      index named ``Pid``. Blocks are row-aligned with ``meta_df`` unless ``array_pids``
      gives their Pids (one array for all blocks or a dict per block): then rows are
      matched by Pid and a Pid missing from a block is an error.
    * ``pca_dims``: each block wider than that is reduced by a PCA fitted on the train
      rows only (``train_mask``, else ``meta_df['split'] == 'train'``).
    * ``Pid`` / ``split`` columns are not features; every other column must be numeric,
      boolean or pandas 'category'.
    """
    meta = meta_df.copy()
    if pids is None:
        pids = (meta["Pid"].to_numpy() if "Pid" in meta
                else meta.index.to_numpy() if meta.index.name == "Pid" else None)
    if train_mask is None and "split" in meta:
        train_mask = (meta["split"] == "train").to_numpy()
    meta = meta.drop(columns=[c for c in ("Pid", "split") if c in meta])
    for c in meta.columns:
        dt = meta[c].dtype
        if not (isinstance(dt, pd.CategoricalDtype) or pd.api.types.is_numeric_dtype(dt)
                or pd.api.types.is_bool_dtype(dt)):
            raise TypeError(f"feature_matrix: column {c!r} has dtype {dt}; expected numeric, "
                            "bool or 'category'")
    parts = [meta]
    for block, arr in (arrays or {}).items():
        arr = np.asarray(arr)
        arr = arr.reshape(len(arr), -1).astype(np.float32)
        if array_pids is not None:
            src = array_pids[block] if isinstance(array_pids, Mapping) else array_pids
            if pids is None:
                raise ValueError("feature_matrix: array_pids given but meta_df has no Pids "
                                 "(pass pids=, a 'Pid' column or an index named 'Pid')")
            arr = _align(block, arr, src, pids)
        elif len(arr) != len(meta):
            raise ValueError(f"feature block {block!r} has {len(arr)} rows for {len(meta)} posts")
        if pca_dims:
            if train_mask is None:
                raise ValueError("feature_matrix: PCA needs the train rows (train_mask= or a "
                                 "'split' column)")
            arr = _pca(block, arr, np.asarray(train_mask, dtype=bool), int(pca_dims))
        cols = [f"{block}_{i:03d}" for i in range(arr.shape[1])]
        parts.append(pd.DataFrame(arr, index=meta.index, columns=cols))
    out = pd.concat(parts, axis=1)
    if out.columns.duplicated().any():
        raise ValueError(f"feature_matrix: duplicate columns {out.columns[out.columns.duplicated()].tolist()}")
    return out


def categorical_columns(X: pd.DataFrame) -> list[str]:
    return [c for c in X.columns if isinstance(X[c].dtype, pd.CategoricalDtype)]


# ----------------------------------------------------------------------------- regressors
def default_threads() -> int:
    """A fixed thread count for this machine (reproducible runs need a fixed count)."""
    n = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    return max(1, min(int(n or 1), 16))


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
        n_jobs=threads or default_threads(), verbose=-1)
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
        random_seed=int(seed), thread_count=threads or default_threads(),
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


# ----------------------------------------------------------------------------- reporting
def summarize(results: list[dict]) -> dict[str, dict[str, dict[str, Any]]]:
    """{variant: {regressor: {mse_mean, mse_std, ..., per_seed: [...], n_train, ...}}}."""
    out: dict[str, dict[str, dict[str, Any]]] = {}
    for r in results:
        out.setdefault(r["variant"], {}).setdefault(r["regressor"], {"runs": []})["runs"].append(r)
    for regs in out.values():
        for reg, d in regs.items():
            runs = d.pop("runs")
            d.update(summarize_seeds([r["metrics"] for r in runs]))
            d["n_seeds"] = len(runs)
            d["per_seed"] = [{"seed": r["seed"], **r["metrics"],
                              "best_iteration": r["best_iteration"],
                              "fit_seconds": r["fit_seconds"]} for r in runs]
            d["n_train"] = runs[0]["n_train"]
            d["n_features"] = runs[0]["n_features"]
    return out


def mean_importance(results: list[dict], variant: str, regressor: str) -> pd.Series:
    """Normalised importance averaged over seeds, largest first."""
    imps = [r["importance"] for r in results
            if r["variant"] == variant and r["regressor"] == regressor and r["importance"] is not None]
    if not imps:
        raise KeyError(f"no importances for {variant}/{regressor}")
    return pd.concat(imps, axis=1).mean(axis=1).sort_values(ascending=False)


def importance_figure(imp: pd.Series, title: str, top: int = 20):
    import matplotlib.pyplot as plt
    import seaborn as sns

    d = imp.head(top).rename_axis("feature").reset_index(name="importance")
    d["block"] = [f.rsplit("_", 1)[0] if f.rsplit("_", 1)[-1].isdigit() else "metadata"
                  for f in d["feature"]]
    fig, ax = plt.subplots(figsize=(7, 0.28 * len(d) + 1.2))
    sns.barplot(data=d, x="importance", y="feature", hue="block", dodge=False, ax=ax)
    ax.set(title=title, xlabel="share of total importance", ylabel="")
    return fig


def _cell(s: Mapping, key: str) -> str:
    """'mean ± std' over seeds; the bare value for a single run (no spread to show)."""
    if s["n_seeds"] < 2:
        return f"{s[f'{key}_mean']:.4f}"
    return mean_std_cell(s[f"{key}_mean"], s[f"{key}_std"])


def paperA_table(results: list[dict], oracle: Mapping[str, float] | None,
                 paper_numbers: Mapping[tuple[str, str], float],
                 labels: Mapping[str, str] | None = None) -> pd.DataFrame:
    """One row per (variant, regressor) with test SRC / MAE / MSE as 'mean ± std' over
    seeds (the bare value for one seed), the oracle ceiling row (when given), and the paper's own numbers in a separate
    column ``PAPER_COLUMN`` (SRC on real SMPD; empty where the paper has none)."""
    labels = labels or {}
    summ = summarize(results)
    rows = []
    for variant, regs in summ.items():
        for reg, s in regs.items():
            paper = paper_numbers.get((variant, reg))
            rows.append({"features": labels.get(variant, variant), "regressor": reg,
                         "seeds": s["n_seeds"],
                         **{k.upper(): _cell(s, k) for k in ("src", "mae", "mse")},
                         PAPER_COLUMN: "" if paper is None else f"SRC {paper:.4f}"})
    if oracle:
        rows.append({"features": "oracle ceiling (simulator's noise-free score)", "regressor": "-",
                     "seeds": "-", **{k.upper(): f"{oracle[k]:.4f}" for k in ("src", "mae", "mse")},
                     PAPER_COLUMN: ""})
    return pd.DataFrame(rows, columns=["features", "regressor", "seeds", "SRC", "MAE", "MSE",
                                       PAPER_COLUMN])


def predictions_frame(results: list[dict]) -> pd.DataFrame:
    """Long table of test predictions: Pid, variant, regressor, seed, y_pred."""
    parts = [pd.DataFrame({"Pid": r["pids"], "variant": r["variant"], "regressor": r["regressor"],
                           "seed": -1 if r["seed"] is None else r["seed"], "y_pred": r["y_pred"]})
             for r in results if r.get("pids") is not None]
    return pd.concat(parts, ignore_index=True)


# ----------------------------------------------------------------------------- the stage
def pca_dims_for(cfg) -> int | None:
    """PCA components per embedding block (``boosting.pca_dims``; 0 = raw features)."""
    return int(cfg.pca_dims) if cfg.pca_dims else None


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


def table_caption(source: str, profile: str, n_test: int, seeds: list[int], pca_dims,
                  n_selected: int, n_train: int) -> str:
    data = ("**Simulated data (SMPD-Sim), not real SMPD.**" if source == "sim"
            else "Real SMPD (random 8:1:1 split).")
    pca = (f" Embedding blocks reduced to {pca_dims} PCA components each (fitted on train rows)."
           if pca_dims else "")
    return (f"Table: Paper A stage 2 - gradient boosting on metadata and multimodal features, "
            f"profile `{profile}`. {data} Test split ({n_test} posts); SRC / MAE / MSE as mean ± std "
            f"over {len(seeds)} seed(s) {seeds}. Loss-based selection kept {n_selected} of {n_train} "
            f"train posts.{pca} The oracle row is the simulator's noise-free score (ceiling). "
            f"The column '{PAPER_COLUMN}' quotes the SRC Paper A (arXiv 2508.16147) reports on real "
            f"SMPD for CLIPFT features; it was not produced by this pipeline.")


def metrics_summary(results: list[dict], matrices: Mapping[str, pd.DataFrame], **extra) -> dict:
    """Everything for ``boosting.json``: per-variant/regressor summaries with per-seed
    numbers, feature counts, the paper's numbers, plus ``extra`` (rows, timings...)."""
    return {"results": summarize(results),
            "n_features": {k: int(v.shape[1]) for k, v in matrices.items()},
            "paper_reported_src": {f"{v}/{r}": s for (v, r), s in PAPER_A_REPORTED.items()},
            **extra}
