"""JRPP Figures 4-6 helpers (smpp_utils.analysis.jrpp_figures): grids, reuse of stage 04's
models, the shortlist override, seed summaries, bars from 0, the case study's queries and
its retrieval (= the model's own, the query never among its neighbours)."""

from types import SimpleNamespace

import numpy as np
import pandas as pd
import pytest
import torch

from smpp_utils.analysis import jrpp_figures as jf
from smpp_utils.data.synthetic import make_synthetic
from smpp_utils.jrpp import JRPP, JRPPConfig, ablation
from smpp_utils.jrpp.experiment import with_bank_pos

torch.set_num_threads(1)
CFG = SimpleNamespace(seed=7, n_seeds=2, k=10, shortlist=20, n_mol=4)


def test_parse_grid():
    assert jf.parse_grid("10, 5,5") == [5, 10]
    assert jf.parse_grid("") == [] and jf.parse_grid(None) == []
    with pytest.raises(ValueError, match=">= 1"):
        jf.parse_grid("0,4")


def test_plan_reuses_stage04_value_and_keeps_shortlist_at_least_k():
    plan = {p["k"]: p for p in jf.sweep_plan("k", [5, 10, 40], CFG)}
    assert plan[10] == {"k": 10, "source": "stage 04", "overrides": {}}
    assert plan[5]["overrides"] == {"k": 5, "shortlist": 20}          # shortlist never lowered
    assert plan[40]["overrides"] == {"k": 40, "shortlist": 40}        # raised to k
    m = {p["M"]: p for p in jf.sweep_plan("M", [2, 4], CFG)}
    assert m[4]["source"] == "stage 04" and m[2]["overrides"] == {"n_mol": 2}
    cfg = JRPPConfig.from_cfg({"k": 10, "shortlist": 20, "kprime_frac": 0.8}, **plan[40]["overrides"])
    assert cfg.shortlist >= cfg.k and cfg.kprime == 32                # k' follows k


def test_stage04_point_reads_its_metrics_and_trains_nothing(monkeypatch):
    fits, reads = [], []
    s04 = [{"variant": "full", "seed_index": i, "mse": 1.0 + i, "mae": 0.5, "src": 0.9} for i in range(2)]

    def fake_fit(data, info, cfg, seed, overrides):
        fits.append((seed, overrides))
        return {"mse": 3.0, "mae": 2.0, "src": 0.1, "epochs_run": 1, "seconds": 0.0}

    monkeypatch.setattr(jf, "fit_point", fake_fit)
    monkeypatch.setattr(jf, "stage04_full_rows", lambda *a: reads.append(a) or s04)
    rows = pd.DataFrame(jf.sweep_rows(jf.sweep_plan("k", [5, 10], CFG), {}, {}, CFG, "ci", 2))
    assert fits == [(7, {"k": 5, "shortlist": 20}), (8, {"k": 5, "shortlist": 20})]
    assert len(reads) == 1                                            # read once, not per seed
    at10 = rows[rows["k"] == 10].sort_values("seed_index")
    assert at10["mse"].tolist() == [1.0, 2.0] and set(at10["source"]) == {"stage 04"}
    assert rows[rows["k"] == 5]["mse"].tolist() == [3.0, 3.0]


def test_sweep_summary_mean_and_sample_std_hand_checked():
    rows = pd.DataFrame({"k": [20, 5, 5, 5], "seed_index": [0, 0, 1, 2], "source": ["stage 04"] + ["trained"] * 3,
                         "mse": [2.0, 1.0, 2.0, 3.0], "mae": [1.0, 1.0, 1.0, 1.0], "src": [0.5, 0.1, 0.2, 0.6]})
    s = jf.sweep_summary(rows, "k")
    assert s["k"].tolist() == [5, 20]                                 # sorted, numeric
    s = s.set_index("k")
    assert s.loc[5, "seeds"] == 3 and s.loc[5, "mse_mean"] == pytest.approx(2.0)
    assert s.loc[5, "mse_std"] == pytest.approx(1.0)                  # ddof = 1
    assert s.loc[5, "src_std"] == pytest.approx(np.std([0.1, 0.2, 0.6], ddof=1))
    assert s.loc[20, "mse_std"] == 0.0 and s.loc[20, "source"] == "stage 04"


def test_ablation_bars_start_at_zero():
    df = pd.DataFrame({"variant": ["full", "full", "w/o joint", "w/o joint"], "seed_index": [0, 1, 0, 1],
                       "mse": [10.0, 10.2, 10.5, 10.7], "mae": [2.0, 2.1, 2.2, 2.3], "src": [0.80, 0.82, 0.78, 0.79]})
    fig = jf.plot_ablation_bars(df, "SMPD-Sim (smpd regime)", 2)
    assert all(ax.get_ylim()[0] == 0 for ax in fig.axes)
    assert "SMPD-Sim (smpd regime)" in fig._suptitle.get_text()
    old = ablation.plot_ablation(df)                                  # control: the old plot truncates
    assert any(ax.get_ylim()[0] > 0 for ax in old.axes)


def test_pick_queries_distinct_deterministic():
    y = np.array([3.0, 9.0, 1.0, 5.0, 9.0, 1.0, 4.0])
    p = jf.pick_queries(y)
    assert p == {"high": 4, "median": 6, "low": 2}                    # stable sort: first of ties low, last high
    assert len(set(p.values())) == 3 and jf.pick_queries(y) == p
    with pytest.raises(ValueError, match=">= 3"):
        jf.pick_queries([1.0, 2.0])


@pytest.fixture(scope="module")
def model_and_data():
    data, info = make_synthetic(300, 40, 40, di=16, dt=12, dm=3, n_users=25, seed=5)
    data = with_bank_pos(data)
    torch.manual_seed(0)
    cfg = JRPPConfig(proj_dim=32, n_mol=4, mol_dim=16, shortlist=12, k=6, n_layers=1, n_heads=2, d_model=16)
    model = JRPP(info["dims"], info["n_users"], info["label_mean"], cfg, bank=data["train"]).eval()
    return model, data, info


def test_retrieve_is_the_models_retrieval_and_excludes_the_query(model_and_data):
    model, data, info = model_and_data
    rows = list(range(10))
    b = {k: v[rows] for k, v in data["test"].items()}
    with torch.no_grad():
        _, want = model._retrieve(b, model.encode(b), b["bank_pos"], "eval")
    ids, got = jf.retrieve(model, data["test"], rows, model.cfg.k, k0=model.cfg.shortlist)
    np.testing.assert_allclose(got, want.numpy(), atol=1e-5)
    assert (np.diff(got, axis=1) <= 1e-7).all()                       # best first
    # train posts as queries: their own bank position is never returned, even widened to 50
    tr = list(range(30))
    ids, _ = jf.retrieve(model, data["train"], tr, 50)
    assert ids.shape == (30, 50)
    assert not (ids == np.array(tr)[:, None]).any()
    assert all(len(set(r)) == 50 for r in ids)                        # no repeats


def test_case_study_rows(model_and_data):
    model, data, info = model_and_data
    case, dist = jf.case_study(model, data, info, n_show=7, n_dist=20)
    assert list(dict.fromkeys(case["query"])) == ["high", "median", "low"]
    q = case[case["rank"] == 0]
    assert q["query_pid"].nunique() == 3
    assert q.set_index("query").loc["high", "label"] == pytest.approx(float(data["test"]["y"].max()))
    nb = case[case["rank"] > 0]
    assert len(nb) == 21 and set(nb["Pid"]).issubset(set(info["pids"]["train"]))
    assert not set(nb["Pid"]) & set(q["Pid"])                          # the query is not its own neighbour
    assert len(dist) == 60 and dist.groupby("query")["rank"].max().eq(20).all()
    # the top 7 come from the model's shortlist (12), the top 20 from a shortlist widened to 20,
    # a superset: its r-th best score is at least the r-th best of the top 7
    for role, g in dist.groupby("query"):
        wide = g.sort_values("rank")["mol_score"].to_numpy()[:7]
        own = nb[nb["query"] == role].sort_values("rank")["mol_score"].to_numpy()
        assert (wide >= own - 1e-6).all() and wide[0] == pytest.approx(own[0], abs=1e-5)


def test_sweep_seeds_limit_the_trained_points_only(monkeypatch):
    fits = []
    monkeypatch.setattr(jf, "fit_point", lambda d, i, c, seed, o: fits.append(seed) or
                        {"mse": 3.0, "mae": 2.0, "src": 0.1})
    monkeypatch.setattr(jf, "stage04_full_rows", lambda *a: [{"mse": 1.0, "mae": 0.5, "src": 0.9}] * 2)
    rows = pd.DataFrame(jf.sweep_rows(jf.sweep_plan("M", [2, 4, 8], CFG), {}, {}, CFG, "ci", 2, 1))
    assert fits == [7, 7]                                             # M = 2 and 8, first seed only
    assert rows.groupby("M").size().to_dict() == {2: 1, 4: 2, 8: 1}
    with pytest.raises(ValueError, match="sweep_seeds = 3"):
        jf.sweep_rows(jf.sweep_plan("M", [2], CFG), {}, {}, CFG, "ci", 2, 3)
