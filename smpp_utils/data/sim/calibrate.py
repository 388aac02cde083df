"""Calibration of a regime against real SMPD's Pid-order label statistics, on every seed.

``python -m smpp_utils.data.sim.calibrate [--seeds 0 1 ... 9] [--posts 20000] [--regime smpd]``
writes ``docs/sim_calibration.csv`` (one row per statistic: real value, the band of issue 10,
each seed, min, max, whether every seed is inside the band) and ``docs/sim_calibration.md``
(the same plus the raw score's variance shares); targets are ``real_smpd_stats.REAL`` (never
model rankings: tuning the simulator until a paper's ranking appears would be circular).

Why the seeds used to disagree (regime ``smpd`` before v2.1): with lognormal(0, 1.4) activity,
1-3 users held 2-5% of a 20k-post sample, and sessions averaged 2 posts, so most of the lag-1
correlation came from a few heavy users and a few subcategories (which user/subcategory is
big is a seed draw): lag-1 ranged 0.35-0.44 and the neighbour SRC 0.37-0.49 over seeds 0-9.
v2.1 takes the short-range correlation from many upload sessions (mean 8 posts, per-user
lognormal batch size, the real lag 1->10 decay) and softens the activity tail (sigma 1.1),
so each statistic is an average over thousands of sessions.
"""
from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import pandas as pd

from ...core.io import atomic_path
from .. import real_smpd_stats as rss
from ..label_quantiles import quantile_map
from .config import regime_config
from .table import simulate_table

STATS = ("acf_lag1", "acf_lag10", "acf_lag1000", "decile_first", "decile_last", "decile_drift",
         "neighbour_src", "ks_real_marginal")
# issue 10's done-when bands on the train labels in Pid order (any seed)
BANDS = {"acf_lag1": (0.28, 0.43), "decile_drift": (1.8, 3.5), "neighbour_src": (0.38, 0.58),
         "ks_real_marginal": (0.0, 0.03)}
# components of the raw score grouped by what they are (variance decomposition)
GROUPS = {"user": ("c_user",), "content": ("c_subcat", "c_concept", "c_image", "c_visual"),
          "time": ("c_weekday", "c_hour", "c_age", "c_trend"), "text": ("c_tags", "c_spam", "c_title"),
          "session": ("c_session",)}


def ks_real_marginal(labels) -> float:
    """KS distance of ``labels`` to the real SMPD train marginal (4000 carried quantiles)."""
    from scipy.stats import ks_2samp

    q = quantile_map((np.arange(4000) + 0.5) / 4000)
    return float(ks_2samp(np.asarray(labels, float), q).statistic)


def label_stats(labels_pid_order) -> dict:
    """``real_smpd_stats.stats`` plus the KS distance to the real marginal."""
    y = np.asarray(labels_pid_order, float)
    return {**rss.stats(y), "ks_real_marginal": ks_real_marginal(y)}


def in_bands(st: dict) -> dict[str, bool]:
    return {k: bool(lo <= st[k] <= hi) for k, (lo, hi) in BANDS.items()}


def variance_shares(latent: pd.DataFrame, noise_sd: float) -> dict:
    """Shares of the label's N(0, 1) score s + e: ``noise`` = sd^2 (exact), the rest split over
    the groups in proportion to their components' variances (sum of the variances of the c_*
    columns in ``latent``; the components are nearly independent, user skill -> image the
    main exception). Also the per-component shares of the raw score (``components``)."""
    cols = [c for c in latent.columns if c.startswith("c_")]
    v = latent[cols].var()
    comp = (v / v.sum()).to_dict()
    grouped = {g: (1 - noise_sd**2) * sum(comp.get(c, 0.0) for c in cs) for g, cs in GROUPS.items()}
    grouped["noise"] = noise_sd**2
    return {"groups": grouped, "components": comp}


def train_stats(cfg) -> tuple[dict, dict]:
    """Calibration statistics of the train labels in Pid order, and the variance shares of
    the raw score's components (train posts)."""
    tab = simulate_table(cfg)
    tr = tab.posts["split"].to_numpy() == "train"
    st = label_stats(tab.posts.loc[tr, "label"].to_numpy())     # rows are in Pid order
    return st, variance_shares(tab.latent.loc[tr], cfg.label_noise_sd)["components"]


def calibration_table(regime: str, seeds, posts: int, users: int | None = None) -> tuple[pd.DataFrame, pd.DataFrame]:
    """(statistics x [real SMPD, band, sim seed s..., min, max, all seeds in band], component
    variance shares x seeds)."""
    rows, shares = {}, {}
    for s in seeds:
        st, sh = train_stats(regime_config(regime, posts=posts, users=users, seed=s))
        rows[f"sim seed {s}"] = {k: st.get(k, np.nan) for k in STATS}
        shares[f"sim seed {s}"] = sh
    sims = pd.DataFrame(rows)
    real = {k: rss.REAL.get(k, 0.0 if k == "ks_real_marginal" else np.nan) for k in STATS}
    tab = pd.concat([pd.Series(real, name="real SMPD"),
                     pd.Series({k: f"{BANDS[k][0]}-{BANDS[k][1]}" if k in BANDS else "" for k in STATS}, name="band"),
                     sims, sims.min(axis=1).rename("min"), sims.max(axis=1).rename("max")], axis=1)
    tab["all seeds in band"] = [("yes" if ((sims.loc[k] >= BANDS[k][0]) & (sims.loc[k] <= BANDS[k][1])).all() else "NO")
                                if k in BANDS else "" for k in STATS]
    return tab.rename_axis("statistic"), pd.DataFrame(shares).rename_axis("component")


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m smpp_utils.data.sim.calibrate")
    ap.add_argument("--seeds", type=int, nargs="+", default=list(range(10)))
    ap.add_argument("--posts", type=int, default=20_000)
    ap.add_argument("--users", type=int, default=None, help="default: posts / posts_per_user (8)")
    ap.add_argument("--regime", default="smpd")
    ap.add_argument("--out", default="docs")
    a = ap.parse_args(argv)
    tab, shares = calibration_table(a.regime, a.seeds, a.posts, a.users)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "sim_calibration.csv") as p:
        tab.round(4).to_csv(p)
    n_users = regime_config(a.regime, posts=a.posts, users=a.users).n_users()
    md = (f"# SMPD-Sim calibration (regime `{a.regime}`, {a.posts} train posts, {n_users} users, "
          f"seeds {a.seeds[0]}-{a.seeds[-1]})\n\n"
          "Train labels in Pid order; real values from `smpp_utils.data.real_smpd_stats.REAL` "
          "(the 305,613 real SMPD train labels); bands from issue 10; KS to the real marginal "
          "(carried quantiles). Written by `python -m smpp_utils.data.sim.calibrate`.\n\n"
          + tab.round(3).to_markdown() + "\n\n## Variance shares of the raw score (train)\n\n"
          + shares.round(3).to_markdown() + "\n")
    with atomic_path(out / "sim_calibration.md") as p:
        Path(p).write_text(md)
    print(md)


if __name__ == "__main__":
    main()
