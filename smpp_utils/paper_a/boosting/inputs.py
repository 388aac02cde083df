"""Inputs of the boosting stage (Paper A stage 2): which file each block comes from, checks
that name the missing file and the stage that writes it, blocks re-ordered to the posts'
Pids, and the direct-regression predictions of stage 03 as results."""

from __future__ import annotations

from pathlib import Path
from typing import Iterable

import numpy as np
import pandas as pd

from ...core import paths
from ...core.io import load_arrays, read_parquet
from ...core.metrics import regression_metrics
from .tables import NEURAL_HEAD

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
    """Test metrics of stage 03's direct-regression heads, one result per variant
    (``variant`` column: ``direct`` content only, ``direct_meta`` content + metadata; a file
    without the column holds ``direct``) and seed (a ``seed`` column when present), in the
    same shape as :func:`run_variant`'s results."""
    path = input_path(profile, "direct")
    check_inputs(profile, ["direct"], data_json=False)
    df, _ = read_parquet(path, expect_fingerprint=fingerprint)
    for col in ("Pid", "split", "y_pred"):
        if col not in df:
            raise KeyError(f"{path}: no column {col!r}; it has {list(df.columns)}")
    if "variant" not in df:
        df = df.assign(variant="direct")
    if "seed" not in df:
        df = df.assign(seed=-1)
    test = posts.loc[posts["split"] == "test", ["Pid", "label"]]
    out = []
    for (variant, seed), part in df.groupby(["variant", "seed"], sort=True):
        pred = part[part["split"] == "test"].set_index("Pid")["y_pred"]
        missing = test["Pid"][~test["Pid"].isin(pred.index)]
        if len(missing):
            raise KeyError(f"{path}: variant {variant!r}: {len(missing)} test Pids have no "
                           f"prediction, e.g. {missing.head().tolist()}")
        yhat = pred.reindex(test["Pid"]).to_numpy(dtype=float)
        out.append({"variant": str(variant), "regressor": NEURAL_HEAD,
                    "seed": None if seed == -1 else int(seed),
                    "metrics": regression_metrics(test["label"], yhat), "y_pred": yhat,
                    "pids": test["Pid"].to_numpy(), "n_train": None, "n_features": None,
                    "best_iteration": None, "fit_seconds": None, "importance": None})
    return out
