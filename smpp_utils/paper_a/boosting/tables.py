"""Report side of the boosting stage: seed summaries, the Paper A main table (the paper's
own numbers in their own column, the oracle ceiling row), caption, long predictions frame
and the metrics summary."""

from __future__ import annotations

from typing import Any, Iterable, Mapping

import numpy as np
import pandas as pd

from ...core.metrics import summarize_seeds
from ...core.reports import mean_std_cell
from ...data.provenance import is_simulated, label_of, with_note

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
    "direct": "Direct regression (image + text only): CLIP fine-tuned on popularity, no metadata",
    "direct_meta": "Direct regression (image + text + metadata): CLIP fine-tuned on popularity "
                   "with the same metadata as the boosted rows (the fair comparison)",
}


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


def table_caption(source: str, profile: str, n_test: int, seeds: list[int], pca_dims,
                  n_selected: int, n_train: int, direct_seeds: int | None = None,
                  dataset: str | None = None, oracle: bool | None = None) -> str:
    """``dataset``: ``data.prepare.dataset_label``; None reads it from ``profile``'s canonical
    table (so a simulated folder read as official files is named simulated whatever ``source``
    says), or, without one, takes the label of ``source``. ``oracle``: whether the table has
    the oracle row; None: whether ``profile``'s data stage recorded an oracle ceiling."""
    label = dataset or _dataset_of(profile, source)
    has_oracle = _oracle_recorded(profile) if oracle is None else oracle
    data = f"**{with_note(label, ': ')}.**" if is_simulated(label) else f"{label}, random 8:1:1 split."
    pca = (f" Embedding blocks reduced to {pca_dims} PCA components each (fitted on train rows)."
           if pca_dims else "")
    comparable = (" It was not produced by this pipeline." if label == label_of("smpd") else
                  f" It was not produced by this pipeline and is NOT comparable with this table's {label} numbers.")
    return (f"Table: Paper A stage 2 - gradient boosting on metadata and multimodal features, "
            f"profile `{profile}`. {data} Test split ({n_test} posts); SRC / MAE / MSE as mean ± std "
            f"over {len(seeds)} seed(s) {seeds}. Loss-based selection kept {n_selected} of {n_train} "
            f"train posts.{pca}{_direct_note(direct_seeds)}"
            + (" The oracle row is the simulator's noise-free score (ceiling)." if has_oracle else "")
            + f" The column '{PAPER_COLUMN}' quotes the SRC Paper A (arXiv 2508.16147) reports on real "
            f"SMPD for CLIPFT features.{comparable}")


def _dataset_of(profile: str, source: str) -> str:
    from ...core import paths
    from ...data.prepare import dataset_label

    if (paths.data_dir(profile) / "posts.parquet").is_file():
        return dataset_label(profile)
    return label_of(source)


def _oracle_recorded(profile: str) -> bool:
    from ...core import paths
    from ...data.prepare import read_oracle

    if not (paths.data_dir(profile) / "posts.parquet").is_file() \
            or not (paths.metrics_dir(profile) / "data.json").is_file():
        return False
    return read_oracle(profile) is not None


def _direct_note(direct_seeds: int | None) -> str:
    if not direct_seeds:
        return ""
    why = (" (each seed is a full end-to-end CLIP fine-tuning; fewer than 3 for CPU cost)"
           if direct_seeds < 3 else "")
    return (f" Direct-regression rows (stage 03): {direct_seeds} seed(s){why}; 'image + text only'"
            " sees no metadata, 'image + text + metadata' the boosted rows' metadata.")


def metrics_summary(results: list[dict], matrices: Mapping[str, pd.DataFrame], **extra) -> dict:
    """Everything for ``boosting.json``: per-variant/regressor summaries with per-seed
    numbers, feature counts, the paper's numbers, plus ``extra`` (rows, timings...)."""
    return {"results": summarize(results),
            "n_features": {k: int(v.shape[1]) for k, v in matrices.items()},
            "paper_reported_src": {f"{v}/{r}": s for (v, r), s in PAPER_A_REPORTED.items()},
            **extra}
