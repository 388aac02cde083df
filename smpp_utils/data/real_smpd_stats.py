"""Dynamics statistics of SMPD labels in Pid (= time) order, and the real values carried.

``REAL`` holds the values computed by ``python -m smpp_utils.data.real_smpd_stats CSV`` from
the 305,613 official SMPD train labels (``train_labels_pid.csv``: columns pid,label, the SMP
Challenge 2019 train release; computed 2026-12-02). The project does not read that file at
run time; these numbers are the calibration targets of ``SimConfig`` regime ``smpd``.
"""
from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.stats import spearmanr

LAGS = (1, 2, 5, 10, 20, 50, 100, 200, 500, 1000)
# lags of the autocorrelation profile carried in real_smpd_acf.csv (notebook 01's figure)
PROFILE_LAGS = (1, 2, 3, 4, 5, 6, 7, 8, 10, 15, 20, 30, 50, 70, 100, 150, 200, 300, 500, 700, 1000, 1500, 2000)
ACF_CSV = Path(__file__).with_name("real_smpd_acf.csv")


def autocorr(y: np.ndarray, lag: int) -> float:
    """Pearson correlation of y[t] and y[t+lag] (labels in Pid order)."""
    y = np.asarray(y, float)
    return float(np.corrcoef(y[:-lag], y[lag:])[0, 1])


def acf_profile(y: np.ndarray, lags=PROFILE_LAGS) -> pd.DataFrame:
    """Columns lag, acf: ``autocorr`` at every lag below half the length."""
    y = np.asarray(y, float)
    keep = [L for L in lags if L < len(y) // 2]
    return pd.DataFrame({"lag": keep, "acf": [autocorr(y, L) for L in keep]})


def real_acf_profile() -> pd.DataFrame:
    """The real SMPD train labels' autocorrelation by lag, carried in ``real_smpd_acf.csv``
    (written by ``python -m smpp_utils.data.real_smpd_stats CSV --acf-csv``)."""
    return pd.read_csv(ACF_CSV, comment="#")


def decile_drift(y: np.ndarray) -> tuple[float, float]:
    """Mean label of the first and of the last Pid decile."""
    parts = np.array_split(np.asarray(y, float), 10)
    return float(parts[0].mean()), float(parts[-1].mean())


def neighbour_src(y: np.ndarray, k: int = 10) -> float:
    """Spearman of the label with the mean of its k Pid-neighbours (k/2 each side, itself left out)."""
    y = np.asarray(y, float)
    h = k // 2
    c = np.r_[0.0, np.cumsum(y)]
    idx = np.arange(h, len(y) - h)
    s = c[idx + h + 1] - c[idx - h] - y[idx]
    return float(spearmanr(y[idx], s / k)[0])


def stats(y: np.ndarray) -> dict:
    """The calibration statistics of labels ``y`` given in Pid order."""
    first, last = decile_drift(y)
    out = {f"acf_lag{L}": autocorr(y, L) for L in LAGS if L < len(y) // 2}
    out.update({"decile_first": first, "decile_last": last, "decile_drift": first - last,
                "neighbour_src": neighbour_src(y), "n": int(len(y))})
    return out


def from_csv(path) -> dict:
    df = pd.read_csv(path)
    return stats(df.sort_values("pid", kind="stable")["label"].to_numpy())


# computed by `python -m smpp_utils.data.real_smpd_stats /work/shared/data/smpd/train_labels_pid.csv`
REAL = {"acf_lag1": 0.3571, "acf_lag2": 0.3037, "acf_lag5": 0.231, "acf_lag10": 0.187,
        "acf_lag20": 0.1492, "acf_lag50": 0.1234, "acf_lag100": 0.1086, "acf_lag200": 0.1022,
        "acf_lag500": 0.0928, "acf_lag1000": 0.0897, "decile_first": 7.4456,
        "decile_last": 4.7858, "decile_drift": 2.6598, "neighbour_src": 0.4839, "n": 305613}

if __name__ == "__main__":
    import json
    print(json.dumps({k: (round(v, 4) if isinstance(v, float) else v) for k, v in from_csv(sys.argv[1]).items()}, indent=1))
    if "--acf-csv" in sys.argv:
        y = pd.read_csv(sys.argv[1]).sort_values("pid", kind="stable")["label"].to_numpy()
        prof = acf_profile(y)
        ACF_CSV.write_text("# autocorrelation of the 305,613 real SMPD train labels in Pid order, by lag;\n"
                           "# python -m smpp_utils.data.real_smpd_stats train_labels_pid.csv --acf-csv\n"
                           + prof.to_csv(index=False, float_format="%.4f", lineterminator="\n"))
