"""Paired bootstrap over test posts: is model A's metric really better than model B's?

Both models are scored on the SAME test posts, so their errors are correlated; resampling
the posts (with replacement) and recomputing both metrics on each resample keeps that
pairing, and the spread of the resampled differences is the uncertainty that comes from
which posts happen to be in the test set (Efron & Tibshirani 1993, ch. 16; the usual
"paired bootstrap" of system comparisons). Seed-to-seed spread is a different source of
variance and is reported beside it (mean ± std over seeds), not folded in here.

* ``improvement`` is oriented so that positive means "A better than B":
  ``src_A - src_B`` for SRC, ``mse_B - mse_A`` / ``mae_B - mae_A`` for the errors.
* A prediction may be a vector (n,) or a matrix (seeds, n): with several seeds the metric of
  a model on a resample is the MEAN over its seeds of the metric on that resample (the same
  resample for every seed and both models), i.e. the test of "A's mean-over-seeds metric is
  better than B's".
* One-sided p-value for H0 "A is not better" (improvement <= 0):
  ``p = (1 + #{b : improvement*_b <= 0}) / (B + 1)`` - the share of resamples on which A is
  not better, with the +1 that keeps a finite bootstrap from claiming p = 0. Identical
  predictions give p = 1 (the difference is 0 on every resample); two equally good,
  unrelated models give p near 0.5.
* CI: percentile interval of the resampled improvements (``1 - alpha`` two-sided).

Vectorised: the B resamples are an integer index matrix drawn from one seeded
``numpy.random.Generator`` (chunked, so memory stays ~``chunk x n``); SRC on a resample is
the Pearson correlation of average ranks (``scipy.stats.rankdata``), which is exactly what
``scipy.stats.spearmanr`` computes (ties included; a test checks the two agree); the observed
value is ``spearmanr`` itself. A constant prediction has SRC 0, as in ``core.metrics``.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass

import numpy as np
from scipy.stats import rankdata, spearmanr

METRICS = ("src", "mse", "mae")
HIGHER_IS_BETTER = {"src": True, "mse": False, "mae": False}


@dataclass(frozen=True)
class BootstrapResult:
    metric: str            # src | mse | mae
    value_a: float         # observed metric of A (mean over its seeds)
    value_b: float         # observed metric of B
    improvement: float     # observed, positive = A better (src_A - src_B, err_B - err_A)
    ci_low: float          # percentile CI of the improvement
    ci_high: float
    p_value: float         # one-sided, H0: A not better than B
    n_boot: int
    n_posts: int

    def as_dict(self) -> dict:
        return asdict(self)


def interval_cell(value: float, low: float, high: float, digits: int = 4) -> str:
    """'+0.0780 [+0.0600, +0.0950]': an improvement with its bootstrap interval (report cells)."""
    return f"{value:+.{digits}f} [{low:+.{digits}f}, {high:+.{digits}f}]"


def _as_matrix(pred, n: int, name: str) -> np.ndarray:
    p = np.asarray(pred, dtype=float)
    p = p[None, :] if p.ndim == 1 else p
    if p.ndim != 2 or p.shape[1] != n:
        raise ValueError(f"{name}: expected shape ({n},) or (seeds, {n}), got {np.shape(pred)}")
    if not np.isfinite(p).all():
        raise ValueError(f"{name}: predictions must be finite")
    return p


def _rowwise_pearson(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Pearson correlation of matching rows of a and b (..., n); 0 where a row is constant."""
    a = a - a.mean(-1, keepdims=True)
    b = b - b.mean(-1, keepdims=True)
    den = np.sqrt((a * a).sum(-1) * (b * b).sum(-1))
    num = (a * b).sum(-1)
    with np.errstate(invalid="ignore", divide="ignore"):
        r = num / den
    return np.where(den > 1e-12 * np.maximum(1.0, np.abs(num)), r, 0.0)


def resampled_metric(y: np.ndarray, pred: np.ndarray, idx: np.ndarray, metric: str) -> np.ndarray:
    """Metric of ``pred`` (seeds, n) on each resample ``idx`` (B, n), mean over seeds: (B,)."""
    yb = y[idx]                                   # (B, n)
    pb = pred[:, idx]                             # (S, B, n)
    if metric == "mse":
        return ((pb - yb) ** 2).mean(-1).mean(0)
    if metric == "mae":
        return np.abs(pb - yb).mean(-1).mean(0)
    if metric == "src":
        ry = rankdata(yb, axis=-1)
        rp = rankdata(pb, axis=-1)
        return _rowwise_pearson(rp, ry[None]).mean(0)
    raise ValueError(f"unknown metric {metric!r}; expected one of {METRICS}")


def observed_metric(y: np.ndarray, pred: np.ndarray, metric: str) -> float:
    """Metric on all posts, mean over seeds (SRC by scipy.stats.spearmanr)."""
    vals = []
    for p in pred:
        if metric == "mse":
            vals.append(float(np.mean((p - y) ** 2)))
        elif metric == "mae":
            vals.append(float(np.mean(np.abs(p - y))))
        elif metric == "src":
            vals.append(float(spearmanr(y, p).statistic) if np.ptp(p) > 0 and np.ptp(y) > 0 else 0.0)
        else:
            raise ValueError(f"unknown metric {metric!r}; expected one of {METRICS}")
    return float(np.mean(vals))


def bootstrap_indices(n: int, n_boot: int, seed: int, chunk: int = 256):
    """Yield (≤chunk, n) index matrices, B rows in all, from one seeded generator: the same
    seed gives the same resamples whatever the chunk size."""
    rng = np.random.default_rng(seed)
    done = 0
    while done < n_boot:
        m = min(chunk, n_boot - done)
        yield rng.integers(0, n, size=(m, n))
        done += m


def paired_bootstrap(y, pred_a, pred_b, metric: str = "src", n_boot: int = 2000, seed: int = 0,
                     alpha: float = 0.05, chunk: int = 256) -> BootstrapResult:
    """Paired bootstrap of ``metric(A) - metric(B)`` over the posts (see the module doc)."""
    if metric not in METRICS:
        raise ValueError(f"unknown metric {metric!r}; expected one of {METRICS}")
    if int(n_boot) < 1:
        raise ValueError(f"n_boot must be >= 1, got {n_boot}")
    if not 0.0 < alpha < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    y = np.asarray(y, dtype=float).ravel()
    if len(y) < 2 or not np.isfinite(y).all():
        raise ValueError(f"labels: need >= 2 finite values, got {len(y)}")
    a, b = _as_matrix(pred_a, len(y), "pred_a"), _as_matrix(pred_b, len(y), "pred_b")
    sign = 1.0 if HIGHER_IS_BETTER[metric] else -1.0
    va, vb = observed_metric(y, a, metric), observed_metric(y, b, metric)
    diffs = np.concatenate([
        sign * (resampled_metric(y, a, idx, metric) - resampled_metric(y, b, idx, metric))
        for idx in bootstrap_indices(len(y), int(n_boot), int(seed), int(chunk))])
    lo, hi = np.quantile(diffs, [alpha / 2, 1 - alpha / 2])
    p = (1 + int(np.sum(diffs <= 0))) / (len(diffs) + 1)
    return BootstrapResult(metric, va, vb, sign * (va - vb), float(lo), float(hi), float(p),
                           int(n_boot), len(y))


def compare(y, pred_a, pred_b, metrics=METRICS, **kw) -> dict[str, BootstrapResult]:
    """:func:`paired_bootstrap` for each metric, the same resamples for all (same seed)."""
    return {m: paired_bootstrap(y, pred_a, pred_b, m, **kw) for m in metrics}


def claim_rows(y, preds, pairs, metrics=METRICS, **kw) -> list[dict]:
    """One row per (claim, metric) for each ``(claim, A, B)`` of ``pairs``: the claim, the two
    model names, their seed counts and :class:`BootstrapResult`'s fields. ``preds`` maps a
    model name to its test prediction (vector or (seeds, n) matrix); ``kw`` go to
    :func:`compare` (the same seed, hence the same resamples, for every claim)."""
    rows = []
    for claim, a, b in pairs:
        A, B = _as_matrix(preds[a], len(y), a), _as_matrix(preds[b], len(y), b)
        for r in compare(y, A, B, metrics, **kw).values():
            rows.append({"claim": claim, "A": a, "B": b, "seeds_a": len(A), "seeds_b": len(B),
                         **r.as_dict()})
    return rows
