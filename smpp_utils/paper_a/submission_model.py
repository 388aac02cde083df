"""Paper A's model on the SMP Challenge protocol: predictions for every official test post
(``posts.parquet`` rows with ``source_split == "test"``) and the challenge's JSON.

No other stage predicts these posts: the random split (every model of stages 03-05) holds
train-file posts only, and the ``chrono`` scheme has them as its test rows only when they are
labelled (SMPD-Sim). Here Paper A's model - LightGBM on metadata + the dual CLIPFT blocks,
loss-selected train rows, stage 05's knobs, the first seed - is fitted under the chronological
protocol and predicts them all, labelled or not:

* **Rows** (:func:`official_split`): ``train`` / ``val`` = the chrono scheme's train / val
  rows (labelled train-file posts; the latest ``val_frac`` by postdate is val, used for early
  stopping only); ``test`` = every official test post; ``unused`` = the rest (on real SMPD
  the chrono scheme's own test rows, i.e. the latest train-file posts, which this model
  neither fits nor predicts).
* **Metadata** is recomputed for these rows (:func:`~smpp_utils.data.features.metadata_features`
  on the whole table, official test rows marked ``test``): the user mean label comes from the
  train rows only (out of fold on them). Every label outside train/val is blanked before any
  feature is computed, so no label of a test post can enter a feature or the fit
  (tests/test_submission_model.py perturbs them and checks that nothing changes). Label-free
  columns (posts per user, days since the user's first post) see the test posts, as a
  challenge entrant would.
* **Content blocks** are stage 03's ``features/clipft.npz``. That file is keyed to EVERY post
  of ``posts.parquet`` (stage 03 extracts all posts, the unlabelled test ones included) and
  records the *random* split's fingerprint: the prompt model and the prototypes were fitted on
  the random split's train rows (train-file posts only) and never see popularity (they are
  trained to classify subcategories). :func:`load_official_inputs` checks the recorded
  fingerprint and that every official test Pid is in the file; a missing one is an error
  naming it - a prediction is never made up for a post without features.
* **PCA** of each block (``boosting.pca_dims``) and the loss-based selection
  (``boosting.select_frac`` of the train rows with the lowest classification loss) are fitted
  on this protocol's train rows, as stage 05 does on its own.

Outputs: ``data/<profile>/predictions/official_test.parquet`` (Pid, y_pred; fingerprint = the
chrono split's) and ``data/<profile>/submission_paperA.json``
(:func:`~smpp_utils.analysis.submission.write_submission`); both are validated before either
is written. On SMPD-Sim the official test posts carry labels, so :func:`official_test_metrics`
gives the SMP-Challenge-style score (later-in-time posts, cold users); on real SMPD it is None.
"""

from __future__ import annotations

import time
from pathlib import Path
from typing import Mapping

import numpy as np
import pandas as pd

from ..analysis import submission
from ..core import paths
from ..core.io import load_arrays, read_parquet_meta, write_parquet
from ..core.metrics import regression_metrics
from ..data.features import metadata_features
from ..data.splits import load_posts
from .boosting import feature_matrix, input_path, pca_dims_for, train_selection
from .boosting.models import best_iteration, default_threads, fit_lgbm, predict

ROLES = ("train", "val", "test", "unused")
PREDICTIONS = Path("predictions") / "official_test.parquet"   # under data/<profile>/
SUBMISSION = "submission_paperA.json"                          # under data/<profile>/


class FeaturesMissing(KeyError):
    """The content features do not cover the posts that must be predicted."""


def predictions_path(profile: str) -> Path:
    return paths.data_dir(profile) / PREDICTIONS


def submission_path(profile: str) -> Path:
    return paths.data_dir(profile) / SUBMISSION


# ----------------------------------------------------------------------------- rows
def official_split(posts: pd.DataFrame) -> np.ndarray:
    """Role of each row (see the module docstring) from ``source_split`` and the chrono
    scheme's ``split`` column (<NA> for unlabelled posts)."""
    for c in ("source_split", "split"):
        if c not in posts:
            raise KeyError(f"official_split: posts need a {c!r} column (load_posts(profile, 'chrono', "
                           "labelled_only=False))")
    test = (posts["source_split"].astype(str) == "test").to_numpy()
    chrono = posts["split"].astype(object).where(posts["split"].notna(), "").to_numpy()
    clash = test & np.isin(chrono, ["train", "val"])
    if clash.any():
        raise ValueError(f"official_split: official test post Pid {posts['Pid'].to_numpy()[clash][0]} is a "
                         f"chrono {chrono[clash][0]!r} row; the chrono scheme never fits on test-file posts")
    role = np.full(len(posts), "unused", dtype=object)
    for s in ("train", "val"):
        role[chrono == s] = s
    role[test] = "test"
    return role.astype(str)


def official_features(posts: pd.DataFrame, blocks: Mapping[str, np.ndarray], cls_loss, *,
                      select_frac: float, oof_folds: int, seed: int, pca_dims: int | None):
    """(X, y, role, selection, pids) over the rows that are not ``unused``: metadata
    recomputed on the whole table with every label outside train/val blanked first, plus
    ``blocks`` (row-aligned with ``posts``), PCA fitted on the train rows; ``selection`` =
    the loss-selected train rows (val/test always True); ``y`` is NaN on test rows."""
    role = official_split(posts)
    fit_rows = np.isin(role, ["train", "val"])
    table = posts.assign(split=role, label=posts["label"].astype(float).where(fit_rows))
    meta = metadata_features(table, oof_folds=oof_folds, seed=seed)
    keep = role != "unused"
    role, pids = role[keep], table["Pid"].to_numpy()[keep]
    meta = meta[keep].reset_index(drop=True)
    kept = {k: np.asarray(v)[keep] for k, v in blocks.items()}
    X = feature_matrix(meta, kept, pca_dims, pids=pids, train_mask=role == "train")
    sel = train_selection(np.asarray(cls_loss, dtype=float)[keep], role, select_frac)
    return X, table["label"].to_numpy(dtype=float)[keep], role, sel, pids


def fit_official(X: pd.DataFrame, y, role, sel, cfg, seed: int, pids, threads: int | None = None) -> dict:
    """LightGBM (stage 05's ``fit_lgbm``) on the selected train rows, early stopping on val;
    predictions for every test row: {'pred': DataFrame Pid/y_pred, 'n_train', 'n_val',
    'best_iteration', 'fit_seconds'}."""
    role, y = np.asarray(role), np.asarray(y, dtype=float)
    tr, va, te = (role == "train") & np.asarray(sel, bool), role == "val", role == "test"
    for name, m in (("train", tr), ("val", va), ("test", te)):
        if not m.any():
            raise ValueError(f"fit_official: no {name} rows")
    t0 = time.perf_counter()
    model = fit_lgbm(X[tr], y[tr], X[va], y[va], cfg, seed, threads or default_threads())
    fit_s = time.perf_counter() - t0
    pred = pd.DataFrame({"Pid": np.asarray(pids, dtype=np.int64)[te], "y_pred": predict(model, X[te])})
    return {"pred": pred.sort_values("Pid").reset_index(drop=True), "n_train": int(tr.sum()),
            "n_val": int(va.sum()), "best_iteration": best_iteration(model), "fit_seconds": round(fit_s, 2)}


def official_test_metrics(posts: pd.DataFrame, pred: pd.DataFrame) -> dict | None:
    """MSE / MAE / SRC over the official test posts that carry a label (all of them on
    SMPD-Sim), with ``n``; None when none does (real SMPD)."""
    test = posts.loc[posts["source_split"].astype(str) == "test", ["Pid", "label"]]
    test = test[test["label"].notna()]
    if test.empty:
        return None
    yhat = pred.set_index("Pid")["y_pred"].reindex(test["Pid"]).to_numpy()
    return {**regression_metrics(test["label"].to_numpy(dtype=float), yhat), "n": int(len(test))}


# ----------------------------------------------------------------------------- files
def load_official_inputs(profile: str) -> dict:
    """Posts (chrono scheme, every post), the dual CLIPFT blocks and ``cls_loss`` aligned
    with them, and both fingerprints. Refuses a ``clipft.npz`` made from another split and
    one that lacks any official test post (:class:`FeaturesMissing`)."""
    posts, chrono_fp = load_posts(profile, "chrono", labelled_only=False)
    d = paths.data_dir(profile)
    random_fp = read_parquet_meta(d / "splits.parquet")["fingerprints"]["random"]  # checked by load_posts
    path = input_path(profile, "clipft")
    if not path.is_file():
        raise FileNotFoundError(f"{path} is missing <- written by stage finetune (notebooks/03_prompt_finetune.ipynb)")
    file_pids, arrays, _ = load_arrays(path, expect_fingerprint=random_fp)
    role = official_split(posts)
    need = posts["Pid"].to_numpy()[role != "unused"]
    missing = np.setdiff1d(need, file_pids)
    if len(missing):
        is_test = np.isin(missing, posts.loc[role == "test", "Pid"])
        raise FeaturesMissing(
            f"{path}: no CLIPFT features for {len(missing)} posts this model must fit or predict "
            f"({int(is_test.sum())} of {int((role == 'test').sum())} official test posts, e.g. Pid "
            f"{missing[:5].tolist()}); the file covers {len(file_pids)} posts. Stage 03 must extract "
            "every post of posts.parquet; no prediction is made for posts without features")
    pos = pd.Index(file_pids).get_indexer(posts["Pid"].to_numpy())
    ok = pos >= 0                                    # 'unused' rows may be absent: zero-filled, never read
    take = lambda a: np.where(ok.reshape(-1, *[1] * (a.ndim - 1)), a[np.maximum(pos, 0)], 0)  # noqa: E731
    blocks = {f"clipft_{n}": take(a) for n, a in sorted(arrays.items()) if n != "cls_loss"}
    return {"posts": posts, "blocks": blocks, "cls_loss": np.where(ok, arrays["cls_loss"][np.maximum(pos, 0)], np.nan),
            "chrono_fingerprint": chrono_fp, "features_fingerprint": random_fp}


def external_data(proto) -> tuple[bool, str]:
    """(used, details) of the submission's ``external_data`` from the prototypes knobs: the
    CLIP weights (a checkpoint file, or pre-trained on this dataset's train posts) and the
    text encoder of the textual prototypes (MiniLM is pre-trained elsewhere)."""
    clip = (f"CLIP {proto.clip_model} initialised from {Path(str(proto.clip_pretrained)).name}"
            if proto.clip_pretrained else f"CLIP {proto.clip_model} pre-trained on the challenge train posts only")
    text = ("textual prototypes from all-MiniLM-L6-v2 (pre-trained sentence encoder)"
            if proto.text_encoder == "minilm" else "textual prototypes from CLIP's text tower")
    used = bool(proto.clip_pretrained) or proto.text_encoder == "minilm"
    return used, f"Paper A (dual prompts + prototypes, LightGBM); {clip}; {text}"


def write_outputs(profile: str, pred: pd.DataFrame, posts: pd.DataFrame, meta: Mapping,
                  external_used: bool, details: str) -> tuple[Path, Path]:
    """Validate the predictions against the official test posts, then write the parquet and
    the challenge JSON (each atomically; nothing is written when the check fails)."""
    submission.validated_scores(pred, submission.official_test_pids(posts), source="official-test predictions")
    out = write_parquet(pred[["Pid", "y_pred"]], predictions_path(profile), dict(meta))
    js = submission.write_submission(pred, posts, submission_path(profile), details=details,
                                     external_used=external_used, source=str(out))
    return out, js


def run_official(profile: str, bcfg, seed: int, proto, threads: int | None = None) -> dict:
    """The whole export of notebook 10's last section: inputs, features, one LightGBM fit
    (``bcfg``: stage 05's knobs; ``seed``: its first seed), both files. Returns the
    official-test metrics (None without labels), counts, file paths and the fit's time."""
    t0 = time.perf_counter()
    inp = load_official_inputs(profile)
    posts = inp["posts"]
    X, y, role, sel, pids = official_features(posts, inp["blocks"], inp["cls_loss"],
                                              select_frac=bcfg.select_frac, oof_folds=bcfg.oof_folds,
                                              seed=seed, pca_dims=pca_dims_for(bcfg))
    fit = fit_official(X, y, role, sel, bcfg, seed, pids, threads)
    used, details = external_data(proto)
    meta = {"fingerprint": inp["chrono_fingerprint"], "features_fingerprint": inp["features_fingerprint"],
            "model": "Paper A dual CLIPFT + metadata, LightGBM, loss-selected chrono train rows",
            "seed": int(seed), "best_iteration": fit["best_iteration"]}
    pred_path, sub_path = write_outputs(profile, fit["pred"], posts, meta, used, details)
    return {"metrics": official_test_metrics(posts, fit["pred"]), "n_official_test": int(len(fit["pred"])),
            "n_train": int((role == "train").sum()), "n_train_selected": fit["n_train"],
            "n_val": fit["n_val"], "best_iteration": fit["best_iteration"], "seed": int(seed),
            "predictions": pred_path, "submission": sub_path, "fit_seconds": fit["fit_seconds"],
            "seconds": round(time.perf_counter() - t0, 2)}
