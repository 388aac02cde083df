"""Calibration of a regime against real SMPD's Pid-order label statistics.

``python -m smpp_utils.data.sim.calibrate [--seeds 0 1 2] [--posts 20000] [--regime smpd]``
writes ``docs/sim_calibration.csv`` (one row per statistic: real value, each seed) and
``docs/sim_calibration.md``; targets are ``real_smpd_stats.REAL`` (not model rankings).
"""
from __future__ import annotations

import argparse
from pathlib import Path

import pandas as pd

from ...core.io import atomic_path
from .. import real_smpd_stats as rss
from . import regime_config, simulate_table

STATS = ("acf_lag1", "acf_lag10", "acf_lag1000", "decile_first", "decile_last", "decile_drift",
         "neighbour_src")


def train_stats(cfg) -> tuple[dict, dict]:
    """Calibration statistics of the train labels in Pid order, and the variance shares of
    the raw score's components (train posts)."""
    tab = simulate_table(cfg)
    tr = tab.posts["split"].to_numpy() == "train"
    st = rss.stats(tab.posts.loc[tr, "label"].to_numpy())     # rows are in Pid order
    comp = tab.latent.loc[tr, [c for c in tab.latent.columns if c.startswith("c_")]]
    v = comp.var()
    return st, (v / v.sum()).to_dict()


def calibration_table(regime: str, seeds, posts: int) -> tuple[pd.DataFrame, pd.DataFrame]:
    rows, shares = {"real SMPD": {k: rss.REAL[k] for k in STATS}}, {}
    for s in seeds:
        st, sh = train_stats(regime_config(regime, posts=posts, seed=s))
        rows[f"sim seed {s}"] = {k: st[k] for k in STATS}
        shares[f"sim seed {s}"] = sh
    return pd.DataFrame(rows).rename_axis("statistic"), pd.DataFrame(shares).rename_axis("component")


def main(argv=None):
    ap = argparse.ArgumentParser(prog="python -m smpp_utils.data.sim.calibrate")
    ap.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4, 5])
    ap.add_argument("--posts", type=int, default=20_000)
    ap.add_argument("--regime", default="smpd")
    ap.add_argument("--out", default="docs")
    a = ap.parse_args(argv)
    tab, shares = calibration_table(a.regime, a.seeds, a.posts)
    out = Path(a.out)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "sim_calibration.csv") as p:
        tab.round(4).to_csv(p)
    md = (f"# SMPD-Sim calibration (regime `{a.regime}`, {a.posts} train posts)\n\n"
          "Train labels in Pid order; real values from `smpp_utils.data.real_smpd_stats.REAL`.\n"
          "Written by `python -m smpp_utils.data.sim.calibrate`.\n\n"
          + tab.round(3).to_markdown() + "\n\n## Variance shares of the raw score (train)\n\n"
          + shares.round(3).to_markdown() + "\n")
    with atomic_path(out / "sim_calibration.md") as p:
        Path(p).write_text(md)
    print(md)


if __name__ == "__main__":
    main()
