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
