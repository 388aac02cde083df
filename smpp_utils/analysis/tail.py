"""Tail analysis (notebook 07): how the models do on the most popular posts.

* JRPP Table 3: MSE / MAE / SRC on the top 20% and top 10% of test posts by ground-truth
  popularity, for every model whose test predictions earlier stages wrote.
* Paper A's tail discussion (posts with popularity > 12): error on those posts, and the
  signed error by true-popularity decile, which shows the regression-to-the-mean bias that
  Paper A observes ("rightward shift" when tail posts are oversampled).

Reads only prediction files; never retrains anything.
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib import pyplot as plt
from scipy import stats

from ..core import paths
from ..core.io import read_parquet
from ..core.metrics import regression_metrics, summarize_seeds
from ..core.reports import mean_std_cell
from ..data.prepare import dataset_label
from ..data.provenance import with_note

# JRPP Table 3 (top 20% / 10% most popular test posts), reported in the paper on real SMPD.
PAPER_TABLE3_SMPD = pd.DataFrame({
    "model": ["SKAPP", "JRPP"],
    "top20_mse": [3.381, 3.068], "top20_mae": [1.329, 1.207], "top20_src": [0.471, 0.508],
    "top10_mse": [5.231, 4.581], "top10_mae": [1.683, 1.479], "top10_src": [0.296, 0.372],
})

BOOSTING_NAMES = {("metadata", "LightGBM"): "Paper A: metadata (LightGBM)",
                  ("clipft", "LightGBM"): "Paper A: CLIPFT (LightGBM)",
                  ("clipft", "CatBoost"): "Paper A: CLIPFT (CatBoost)",
                  ("direct", "neural head"): "Paper A: direct regression (content only)",
                  ("direct_meta", "neural head"): "Paper A: direct regression (content + metadata)"}


def top_mask(y, frac: float) -> np.ndarray:
    """The ``round(frac * n)`` posts with the highest label (ties broken by position)."""
    y = np.asarray(y, dtype=float)
    k = int(round(frac * len(y)))
    if not 0 < k <= len(y):
        raise ValueError(f"top {frac:.0%} of {len(y)} posts is empty")
    mask = np.zeros(len(y), dtype=bool)
    mask[np.argsort(-y, kind="stable")[:k]] = True
    return mask


def collect_test_predictions(profile: str, fingerprint: str) -> pd.DataFrame:
    """Long table (model, seed, Pid, y_pred) of every model's test predictions on disk:
    JRPP (with test-time perturbation) and its baselines (04), Paper A variants (05)."""
    d = paths.data_dir(profile) / "predictions"
    parts = []
    for f in sorted((d / "jrpp").glob("*_seed*.parquet")):
        df, _ = read_parquet(f, expect_fingerprint=fingerprint)
        df = df[df["split"] == "test"]
        seed = int(f.stem.rsplit("seed", 1)[1])
        cols = ["y_pred_tta"] if f.stem.startswith("jrpp_") else [c for c in df if c not in ("Pid", "split")]
        for c in cols:
            parts.append(pd.DataFrame({"model": "JRPP" if c == "y_pred_tta" else c, "seed": seed,
                                       "Pid": df["Pid"].to_numpy(), "y_pred": df[c].to_numpy()}))
    boost = d / "boosting.parquet"
    if boost.is_file():
        df, _ = read_parquet(boost, expect_fingerprint=fingerprint)
        for (variant, reg), name in BOOSTING_NAMES.items():
            sub = df[(df["variant"] == variant) & (df["regressor"] == reg)]
            if len(sub):
                parts.append(sub.assign(model=name)[["model", "seed", "Pid", "y_pred"]])
    if not parts:
        raise FileNotFoundError(f"{d}: no test predictions - run the jrpp (04) and boosting (05) stages")
    out = pd.concat(parts, ignore_index=True)
    if (paths.data_dir(profile) / "posts.parquet").is_file():   # the dataset, for figure titles
        out.attrs["dataset"] = dataset_label(profile)
    return out


def table3_caption(label: str) -> str:
    """Caption of Table 3 (``label``: ``data.prepare.dataset_label``)."""
    return (f"Table 3 - tail performance on the most popular test posts (random split), "
            f"{with_note(label, '; ')}; mean ± std over seeds.")


def tail_table(preds: pd.DataFrame, labels: pd.Series, fracs=(0.2, 0.1)) -> pd.DataFrame:
    """Rows = models (in order of appearance), columns = metric on each top fraction, as
    mean ± std over seeds (plus the full test set for reference)."""
    rows = []
    for model, g in preds.groupby("model", sort=False):
        row = {"model": model, "seeds": g["seed"].nunique()}
        for frac in (1.0, *fracs):
            per_seed = []
            for _, s in g.groupby("seed"):
                y = labels.reindex(s["Pid"]).to_numpy()
                m = top_mask(y, frac) if frac < 1 else np.ones(len(y), bool)
                per_seed.append(regression_metrics(y[m], s["y_pred"].to_numpy()[m]))
            summ = summarize_seeds(per_seed)
            tag = "all" if frac == 1.0 else f"top{int(round(frac * 100))}"
            for k in ("mse", "mae", "src"):
                row[f"{tag}_{k}"] = summ[f"{k}_mean"]
                row[f"{tag}_{k}_std"] = summ[f"{k}_std"]
        rows.append(row)
    return pd.DataFrame(rows)


def format_tail_table(t: pd.DataFrame) -> pd.DataFrame:
    out = t[["model", "seeds"]].copy()
    for c in t.columns:
        if c.endswith(("_mse", "_mae", "_src")) and not c.endswith("_std"):
            out[c] = [mean_std_cell(m, s, 3) for m, s in zip(t[c], t[f"{c}_std"])]
    return out


def error_by_decile(preds: pd.DataFrame, labels: pd.Series, n_bins: int = 10) -> pd.DataFrame:
    """Mean signed error (prediction - truth) and MAE per true-popularity decile, per model
    (seeds pooled), each with the half-width of its 95% confidence interval over the decile's
    test posts (``*_ci95``; t interval of the per-post errors averaged over seeds, so a post
    counts once however many seeds predicted it; 0 for a single post). ``attrs["dataset"]``
    of ``preds`` (:func:`collect_test_predictions`) is kept for the figure title."""
    y = labels.reindex(preds["Pid"]).to_numpy()
    edges = np.quantile(labels.reindex(preds["Pid"].unique()), np.linspace(0, 1, n_bins + 1))
    dec = np.clip(np.searchsorted(edges, y, side="right") - 1, 0, n_bins - 1)
    df = preds.assign(y=y, decile=dec + 1, err=preds["y_pred"].to_numpy() - y)
    df["abs_err"] = df["err"].abs()
    out = (df.groupby(["model", "decile"], sort=False)
             .agg(mean_error=("err", "mean"), mae=("err", lambda e: np.abs(e).mean()),
                  mean_label=("y", "mean"), n=("err", "size")).reset_index())
    per_post = df.groupby(["model", "decile", "Pid"], sort=False)[["err", "abs_err"]].mean()
    ci = per_post.groupby(level=["model", "decile"], sort=False).agg(
        posts=("err", "size"), mean_error_ci95=("err", _ci95), mae_ci95=("abs_err", _ci95))
    out = out.merge(ci.reset_index(), on=["model", "decile"], how="left")
    out.attrs = dict(preds.attrs)
    return out


def _ci95(x) -> float:
    """Half-width of the 95% t interval of the mean of ``x`` (0 for fewer than 2 values)."""
    x = np.asarray(x, dtype=float)
    if len(x) < 2:
        return 0.0
    return float(stats.sem(x) * stats.t.ppf(0.975, len(x) - 1))


def plot_error_by_decile(dec: pd.DataFrame, models: list[str], label: str | None = None):
    """Signed error and MAE per true-popularity decile, one line per model with 95% CI error
    bars (points of different models dodged sideways so the bars do not overlap). ``label``:
    the dataset (``data.prepare.dataset_label``); None takes ``dec.attrs["dataset"]``."""
    label = label or dec.attrs.get("dataset")
    sub = dec[dec["model"].isin(models)]
    fig, axes = plt.subplots(1, 2, figsize=(11, 4.2))
    order = [m for m in models if m in set(sub["model"])]
    width = 0.36                                  # total sideways spread of a decile's points
    for i, model in enumerate(order):
        g = sub[sub["model"] == model].sort_values("decile")
        shift = (i - (len(order) - 1) / 2) * width / max(len(order) - 1, 1)
        for ax, col in zip(axes, ("mean_error", "mae")):
            ax.errorbar(g["decile"] + shift, g[col], yerr=g[f"{col}_ci95"], marker="o", ms=4,
                        capsize=2, lw=1.2, elinewidth=0.9, color=f"C{i}", label=model)
    axes[0].axhline(0, color="k", lw=0.8)
    axes[0].set(xlabel="true popularity decile (test)", ylabel="mean error (pred - true)",
                title="signed error by popularity")
    axes[1].set(xlabel="true popularity decile (test)", ylabel="MAE", title="absolute error by popularity")
    for ax in axes:
        ax.set_xticks(range(1, int(sub["decile"].max()) + 1) if len(sub) else [])
    handles, names = axes[0].get_legend_handles_labels()
    fig.legend(handles, names, loc="lower center", ncol=min(len(names), 2), frameon=False, fontsize=9)
    fig.suptitle("Test error by true-popularity decile" + (f" - {label}" if label else "")
                 + "; seeds pooled, error bars: 95% CI over the decile's test posts", fontsize=10)
    rows = (len(names) + 1) // 2
    fig.tight_layout(rect=(0, 0.06 * rows, 1, 1))
    return fig


def above_threshold(preds: pd.DataFrame, labels: pd.Series, threshold: float = 12.0) -> pd.DataFrame:
    """Paper A's tail (label > threshold): posts, MAE and mean signed error per model."""
    y = labels.reindex(preds["Pid"]).to_numpy()
    df = preds.assign(y=y, err=preds["y_pred"].to_numpy() - y)[y > threshold]
    return (df.groupby("model", sort=False)
              .agg(posts_per_seed=("err", lambda e: len(e)), mae=("err", lambda e: np.abs(e).mean()),
                   mean_error=("err", "mean")).reset_index()
              .assign(posts_per_seed=lambda t: t["posts_per_seed"] // preds.groupby("model")["seed"].nunique()
                      .reindex(t["model"]).to_numpy()))
