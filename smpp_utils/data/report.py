"""Dataset statistics and figures of notebook 01: JRPP Table 1 (posts, users, average
popularity), Figure 3 (CCDF of popularity; posts per user), the simulated label
distribution against the real SMPD marginal, and the simulator's oracle ceiling."""

from __future__ import annotations

import numpy as np
import pandas as pd
import seaborn as sns
from matplotlib import pyplot as plt

from ..core.metrics import regression_metrics

# JRPP Table 1, reported in the paper for the real datasets (popularity in raw counts).
PAPER_TABLE1 = pd.DataFrame({
    "dataset": ["ICIP", "SMPD", "Instagram"],
    "posts": [20_337, 305_613, 297_865],
    "users": [17_302, 38_312, 33_935],
    "avg_popularity_raw": [200.78, 493.14, 4694.26],
})


def table1(posts: pd.DataFrame, name: str) -> pd.DataFrame:
    """Posts, users and label statistics of the labelled posts (label = log-scaled views)."""
    lab = posts[posts["label"].notna()]
    return pd.DataFrame([{
        "dataset": name, "posts": len(lab), "users": lab["Uid"].nunique(),
        "posts_per_user": len(lab) / max(lab["Uid"].nunique(), 1),
        "avg_label": lab["label"].mean(), "median_label": lab["label"].median(),
        "std_label": lab["label"].std(), "categories": lab["category"].nunique(),
        "subcategories": lab["subcategory"].nunique()}])


def ccdf(values) -> tuple[np.ndarray, np.ndarray]:
    """x sorted ascending, P(X >= x)."""
    x = np.sort(np.asarray(values, dtype=float))
    return x, 1.0 - np.arange(len(x)) / len(x)


def fig3(posts: pd.DataFrame, name: str):
    """Figure 3 of JRPP: empirical CCDF of popularity (left) and posts per user (right)."""
    lab = posts[posts["label"].notna()]
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    x, p = ccdf(lab["label"])
    sns.lineplot(x=x, y=p, ax=axes[0], drawstyle="steps-post", errorbar=None)
    axes[0].set(yscale="log", xlabel="popularity (label, log-scaled views)", ylabel="P(X >= x)",
                title=f"{name}: CCDF of popularity")
    counts = lab.groupby("Uid").size()
    x, p = ccdf(counts)
    sns.lineplot(x=x, y=p, ax=axes[1], drawstyle="steps-post", errorbar=None)
    axes[1].set(xscale="log", yscale="log", xlabel="posts per user", ylabel="P(X >= x)",
                title=f"{name}: posts per user")
    fig.tight_layout()
    return fig


def label_vs_real(labels, real_quantiles: np.ndarray, name: str):
    """The label distribution against the real SMPD train marginal (given by its quantile
    table): the two CDFs (left) and a QQ plot (right)."""
    labels = np.asarray(labels, dtype=float)
    qs = np.linspace(0, 1, len(real_quantiles))
    fig, axes = plt.subplots(1, 2, figsize=(9, 3.4))
    sns.ecdfplot(labels, ax=axes[0], label=name)
    axes[0].plot(real_quantiles, qs, "k--", lw=1, label="real SMPD train")
    axes[0].set(xlabel="label (log-scaled views)", ylabel="CDF", title="label CDF")
    axes[0].legend(loc="lower right")
    axes[1].plot(real_quantiles, np.quantile(labels, qs), ".", ms=3)
    lo, hi = float(real_quantiles.min()), float(real_quantiles.max())
    axes[1].plot([lo, hi], [lo, hi], "k--", lw=1)
    axes[1].set(xlabel="real SMPD quantile", ylabel=f"{name} quantile", title="QQ plot")
    fig.tight_layout()
    return fig


def ks_to_quantiles(labels, real_quantiles: np.ndarray) -> float:
    """Kolmogorov-Smirnov distance between the labels' ECDF and the real marginal given by
    its quantile table (linear interpolation between quantiles)."""
    x = np.sort(np.asarray(labels, dtype=float))
    qs = np.linspace(0, 1, len(real_quantiles))
    real_cdf = np.interp(x, real_quantiles, qs)
    n = len(x)
    ecdf_hi = np.arange(1, n + 1) / n
    ecdf_lo = np.arange(0, n) / n
    return float(max(np.abs(ecdf_hi - real_cdf).max(), np.abs(real_cdf - ecdf_lo).max()))


def oracle_on_split(posts: pd.DataFrame, oracle_pred: pd.Series, split: str = "test") -> dict:
    """Metrics of the oracle predictor (E[label | latent score]) on one split."""
    sub = posts[posts["split"] == split]
    pred = oracle_pred.reindex(sub["Pid"]).to_numpy()
    if np.isnan(pred).any():
        raise ValueError("oracle predictions missing for some posts of the split")
    return regression_metrics(sub["label"].to_numpy(), pred)
