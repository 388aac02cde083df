"""Feature matrices of the boosting stage: Paper A's loss-based sample selection and the
metadata + embedding-block matrix (optional PCA fitted on train rows only), aligned by Pid."""

from __future__ import annotations

from typing import Mapping

import numpy as np
import pandas as pd

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


def pca_dims_for(cfg) -> int | None:
    """PCA components per embedding block (``boosting.pca_dims``; 0 = raw features)."""
    return int(cfg.pca_dims) if cfg.pca_dims else None
