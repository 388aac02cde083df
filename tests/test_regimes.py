"""Regime sweep (analysis/regimes.py) on tiny simulated data with a cheap stand-in embedder:
every regime x split x model is present, the exact oracle is the best row, reruns agree."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest

from smpp_utils.analysis import regimes as R
from smpp_utils.core import config, paths

FAST = (R.USER_MEAN, R.RIDGE, R.KNN, R.KNN_TIME, R.LGBM, R.ORACLE)


def fake_embedder(posts: pd.DataFrame, image_root) -> dict:
    # a seeded function of the post's subcategory and Pid: content carries class signal,
    # no model weights needed (the real one is stage 02's frozen CLIP + MiniLM)
    codes = pd.factorize(posts["subcategory"].astype(str))[0]
    g = np.random.default_rng(0)
    centres = g.normal(size=(codes.max() + 1, 8)).astype(np.float32)
    noise = np.stack([np.random.default_rng(int(p)).normal(size=8) for p in posts["Pid"]]).astype(np.float32)
    img = centres[codes] + 0.5 * noise
    return {"clip": {"image": img, "text": img[:, ::-1].copy()}, "minilm": {"text": noise}}


@pytest.fixture
def sweep(tmp_path, monkeypatch):
    cfg = SimpleNamespace(**{**vars(config.stage("regimes", profile="ci")),
                             "posts": 300, "image_size": 8, "n_seeds": 1, "lgbm_estimators": 20})
    jcfg = SimpleNamespace(**config.section("jrpp", "ci"))
    monkeypatch.setattr(paths, "ROOT", tmp_path)     # the sweep writes under tmp_path/data/ci

    def run(regime):
        rows, _ = R.run_regime("ci", regime, cfg, jcfg, 0.1, 0.1, fake_embedder, models=FAST, log=None)
        return rows
    return run


def test_table_covers_every_split_and_model_and_the_oracle_leads(sweep):
    rows = sweep("smpd") + sweep("cold-start")
    table = R.summary_table(rows)
    assert set(table["regime"]) == {"smpd", "cold-start"}
    assert set(table["split"]) == {"random", "chrono"}
    for (_, _), g in table.groupby(["regime", "split"]):
        assert set(g["model"]) == set(FAST)
        best = g.sort_values("src_mean", ascending=False).iloc[0]["model"]
        assert best == R.ORACLE


def test_sweep_is_deterministic(sweep):
    a = pd.DataFrame(sweep("smpd"))
    b = pd.DataFrame(sweep("smpd"))
    pd.testing.assert_frame_equal(a, b)


def test_information_matched_row_uses_stage_04s_switches():
    from smpp_utils.jrpp.experiment import MATCHED_OVERRIDES

    use_meta, overrides = R.JRPP_ROWS[R.JRPP_CU]
    assert use_meta is False and overrides == MATCHED_OVERRIDES


def test_mechanism_checks_read_the_right_rows():
    rows = [{"regime": "smpd", "split": "random", "model": m, "seed": None, "n_test": 10,
             "src": v, "mse": 1.0, "mae": 1.0}
            for m, v in ((R.USER_MEAN, 0.5), (R.KNN, 0.7), (R.KNN_TIME, 0.6), (R.RIDGE, 0.4),
                         (R.LGBM, 0.8), (R.JRPP, 0.75), (R.JRPP_CU, 0.45), (R.ORACLE, 0.9))]
    c = R.mechanism_checks(R.summary_table(rows))["smpd"]["random"]
    assert c["knn_minus_user_mean"] == pytest.approx(0.2)
    assert c["knn_time_minus_knn"] == pytest.approx(-0.1)
    assert c["jrpp_content_user_minus_ridge"] == pytest.approx(0.05)
    assert c["best_model"] == R.LGBM and c["best_minus_oracle"] == pytest.approx(-0.1)


def test_run_regime_keeps_the_test_predictions_it_scores(tmp_path, monkeypatch):
    cfg = SimpleNamespace(**{**vars(config.stage("regimes", profile="ci")),
                             "posts": 300, "image_size": 8, "n_seeds": 1, "lgbm_estimators": 20})
    jcfg = SimpleNamespace(**config.section("jrpp", "ci"))
    monkeypatch.setattr(paths, "ROOT", tmp_path)
    store: dict = {}
    rows, _ = R.run_regime("ci", "smpd", cfg, jcfg, 0.1, 0.1, fake_embedder, schemes=("random",),
                           models=FAST, log=None, store=store)
    kept = store[("smpd", "random")]
    from smpp_utils.core.metrics import regression_metrics

    for r in rows:     # the stored matrix is exactly what the table's metrics were computed on
        p = kept["preds"][r["model"]][0]
        assert regression_metrics(kept["y"], p)["src"] == pytest.approx(r["src"])


def _store(n=200, seed=0):
    g = np.random.default_rng(seed)
    y = g.normal(size=n)
    good = y + 0.3 * g.normal(size=n)
    bad = g.normal(size=n)
    preds = {R.LGBM: np.stack([good, good + 0.01 * g.normal(size=n)]),   # seeded: (seeds, n)
             R.JRPP: bad[None], R.KNN: bad[None], R.KNN_TIME: bad[None]}
    return {("smpd", "random"): {"y": y, "preds": preds}}


def test_significance_table_finds_a_real_gap_and_not_a_tie():
    sig = R.significance_table(_store(), n_boot=300, seed=1)
    src = sig[sig["metric"] == "src"].set_index("claim")
    assert src.loc["Paper A's regressor family beats JRPP", "p_value"] < 0.01
    assert src.loc["JRPP beats Paper A's regressor family", "p_value"] > 0.99
    # KNN_TIME and KNN predict identically: the difference is 0 on every resample -> p = 1
    assert src.loc["time-aware retrieval beats time-blind", "p_value"] == 1.0
    # claims whose models were not evaluated (ridge, user mean, matched JRPP) are skipped
    assert "content beats identity" not in set(sig["claim"])
    # BH q >= p, and every (claim, metric) is a row
    assert (sig["q_bh"] >= sig["p_value"] - 1e-12).all()
    assert set(sig["metric"]) == {"src", "mse"} and len(sig) == 2 * 4


def test_significance_is_seeded_and_summarised():
    a = R.significance_table(_store(), n_boot=200, seed=3)
    b = R.significance_table(_store(), n_boot=200, seed=3)
    pd.testing.assert_frame_equal(a, b)
    held = R.claims_summary(a)
    assert held["Paper A's regressor family beats JRPP"]["src"] == ["smpd/random"]
    assert held["JRPP beats Paper A's regressor family"]["src"] == []
    md = R.significance_display(a)
    assert list(md.columns)[:3] == ["regime", "split", "claim (A beats B)"] and len(md) == 4
