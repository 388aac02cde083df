"""Paired bootstrap (analysis.significance) on hand-checked inputs."""

import numpy as np
import pytest
from scipy.stats import spearmanr

from smpp_utils.analysis import significance as sig


def _data(n=300, seed=0):
    rng = np.random.default_rng(seed)
    y = rng.normal(6.0, 2.0, n)
    return rng, y


def test_identical_predictions_p_is_one_and_zero_difference():
    rng, y = _data()
    p = y + rng.normal(0, 1.0, len(y))
    for m in sig.METRICS:
        r = sig.paired_bootstrap(y, p, p.copy(), m, n_boot=200, seed=1)
        assert r.improvement == 0.0
        assert r.ci_low == r.ci_high == 0.0
        assert r.p_value == 1.0          # A is never better on any resample


def test_clearly_better_model_small_p_and_ci_above_zero():
    rng, y = _data()
    good = y + rng.normal(0, 0.3, len(y))
    bad = y + rng.normal(0, 2.0, len(y))
    for m in sig.METRICS:
        r = sig.paired_bootstrap(y, good, bad, m, n_boot=500, seed=2)
        assert r.improvement > 0, m
        assert r.p_value < 0.01, m
        assert r.ci_low > 0, m
        # the reverse claim is rejected
        assert sig.paired_bootstrap(y, bad, good, m, n_boot=500, seed=2).p_value > 0.99


def test_equally_good_unrelated_models_p_near_half():
    ps = []
    for s in range(20):
        rng, y = _data(200, seed=100 + s)
        a = y + rng.normal(0, 1.0, len(y))
        b = y + rng.normal(0, 1.0, len(y))
        ps.append(sig.paired_bootstrap(y, a, b, "mse", n_boot=200, seed=s).p_value)
    assert 0.3 < np.mean(ps) < 0.7        # uniform under H0 on average


def test_hand_checked_observed_values():
    y = np.array([1.0, 2.0, 3.0, 4.0])
    a = np.array([1.0, 2.0, 3.0, 5.0])    # mse 0.25, mae 0.25, src 1
    b = np.array([2.0, 1.0, 3.0, 4.0])    # mse 0.5, mae 0.5, src 0.8
    r = sig.compare(y, a, b, n_boot=50, seed=0)
    assert r["mse"].value_a == pytest.approx(0.25) and r["mse"].value_b == pytest.approx(0.5)
    assert r["mse"].improvement == pytest.approx(0.25)
    assert r["mae"].improvement == pytest.approx(0.25)
    assert r["src"].value_a == pytest.approx(1.0) and r["src"].value_b == pytest.approx(0.8)
    assert r["src"].improvement == pytest.approx(0.2)


def test_vectorised_src_matches_spearmanr_with_ties():
    rng = np.random.default_rng(3)
    y = np.round(rng.normal(0, 1, 40), 1)          # ties in the labels
    p = np.round(y + rng.normal(0, 1, 40), 0)      # many ties in the predictions
    idx = next(sig.bootstrap_indices(40, 16, seed=4))
    got = sig.resampled_metric(y, p[None], idx, "src")
    want = [spearmanr(y[i], p[i]).statistic for i in idx]
    np.testing.assert_allclose(got, want, atol=1e-12)
    mse = sig.resampled_metric(y, p[None], idx, "mse")
    np.testing.assert_allclose(mse, [np.mean((p[i] - y[i]) ** 2) for i in idx])


def test_constant_prediction_has_src_zero():
    y = np.arange(10.0)
    idx = next(sig.bootstrap_indices(10, 5, seed=0))
    assert (sig.resampled_metric(y, np.full((1, 10), 3.0), idx, "src") == 0).all()
    assert sig.observed_metric(y, np.full((1, 10), 3.0), "src") == 0.0


def test_seeds_matrix_averages_metric_over_seeds():
    rng, y = _data(100)
    s1, s2 = y + rng.normal(0, 0.5, 100), y + rng.normal(0, 1.5, 100)
    both = np.stack([s1, s2])
    r = sig.paired_bootstrap(y, both, s1, "mae", n_boot=10, seed=0)
    assert r.value_a == pytest.approx((np.abs(s1 - y).mean() + np.abs(s2 - y).mean()) / 2)


def test_deterministic_and_chunk_independent():
    rng, y = _data(150)
    a, b = y + rng.normal(0, 1, 150), y + rng.normal(0, 1.1, 150)
    r1 = sig.paired_bootstrap(y, a, b, "src", n_boot=300, seed=9, chunk=64)
    r2 = sig.paired_bootstrap(y, a, b, "src", n_boot=300, seed=9, chunk=300)
    assert r1 == r2
    r3 = sig.paired_bootstrap(y, a, b, "src", n_boot=300, seed=10)
    assert (r3.ci_low, r3.ci_high) != (r1.ci_low, r1.ci_high)


def test_bad_input_refused():
    y = np.arange(5.0)
    with pytest.raises(ValueError, match="pred_b"):
        sig.paired_bootstrap(y, y, y[:4])
    with pytest.raises(ValueError, match="unknown metric"):
        sig.paired_bootstrap(y, y, y, "rmse")
    with pytest.raises(ValueError, match="finite"):
        sig.paired_bootstrap(y, y, np.array([0, 1, np.nan, 3, 4.0]))


def test_interval_cell_hand_checked():
    from smpp_utils.analysis.significance import interval_cell

    assert interval_cell(0.078, 0.06, 0.095) == "+0.0780 [+0.0600, +0.0950]"
    assert interval_cell(-0.0025, -0.0119, 0.0071, digits=3) == "-0.003 [-0.012, +0.007]"
