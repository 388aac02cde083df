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


# ------------------------------------------------------------------ calibration (issue 10)
CALIBRATION_ROWS = {"acf_lag1": "lag-1 autocorrelation", "acf_lag10": "lag-10 autocorrelation",
                    "acf_lag1000": "lag-1000 autocorrelation", "decile_first": "mean label, first Pid decile",
                    "decile_last": "mean label, last Pid decile", "decile_drift": "first - last decile",
                    "neighbour_src": "SRC of the 10-Pid-neighbour mean", "ks_real_marginal": "KS to the real marginal"}


def train_labels_pid_order(posts: pd.DataFrame) -> np.ndarray:
    """Labels of the official train files (``source_split == 'train'``), in Pid (= time) order."""
    tr = posts[(posts["source_split"] == "train") & posts["label"].notna()]
    return tr.sort_values("Pid", kind="stable")["label"].to_numpy(dtype=float)


def calibration_vs_real(posts: pd.DataFrame, name: str) -> pd.DataFrame:
    """The Pid-order statistics of this dataset's train labels against real SMPD's
    (``real_smpd_stats.REAL``), with issue 10's bands; NaN where the data is too short."""
    from .real_smpd_stats import REAL
    from .sim.calibrate import BANDS, label_stats

    st = label_stats(train_labels_pid_order(posts))
    rows = [{"statistic": label, "real SMPD": REAL.get(k, 0.0 if k == "ks_real_marginal" else np.nan),
             name: st.get(k, np.nan),
             "band (issue 10)": f"{BANDS[k][0]}-{BANDS[k][1]}" if k in BANDS else ""}
            for k, label in CALIBRATION_ROWS.items()]
    return pd.DataFrame(rows)


def acf_real_vs(posts: pd.DataFrame, name: str) -> pd.DataFrame:
    """Long table (lag, acf, dataset): the real SMPD profile (carried CSV) and this data's."""
    from .real_smpd_stats import acf_profile, real_acf_profile

    real = real_acf_profile().assign(dataset="SMPD (real, 305,613 train labels)")
    ours = acf_profile(train_labels_pid_order(posts)).assign(dataset=name)
    return pd.concat([real, ours], ignore_index=True)


def fig_label_acf(acf: pd.DataFrame, name: str):
    """Autocorrelation of the train labels in Pid order by lag (log x): real SMPD vs ``name``."""
    fig, ax = plt.subplots(figsize=(5.5, 3.4))
    sns.lineplot(data=acf, x="lag", y="acf", hue="dataset", style="dataset", markers=True, dashes=False, ax=ax)
    ax.set(xscale="log", xlabel="lag (posts, Pid order)", ylabel="label autocorrelation",
           title=f"Label autocorrelation by lag: SMPD vs {name}")
    ax.axhline(0, color="k", lw=0.5)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def sim_variance_shares(latent: pd.DataFrame, posts: pd.DataFrame, noise_sd: float) -> dict:
    """Variance decomposition of the simulated label score over the train posts: shares of
    user/content/time/text/session/noise (``sim.calibrate.variance_shares``)."""
    from .sim.calibrate import variance_shares

    train = set(posts.loc[posts["source_split"] == "train", "Pid"])
    return variance_shares(latent[latent["Pid"].isin(train)], noise_sd)
