"""Baselines and regimes come from one registry each; every other list (the knob's allowed
values, the Table 2 order, the kinds, the runner of the baselines, the simulator's regime
configs) is derived from it. Shown by adding one of each here, as a new contributor would:
a baseline is its module + one line in ``smpp_utils/baselines/__init__.py``; a regime is one
entry in ``smpp_utils/data/sim/config.py`` REGIMES + its line in ``data/sim/README.md``."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import pytest

from smpp_utils import baselines
from smpp_utils.core import config, knobs
from smpp_utils.data import sim
from smpp_utils.data.sim import config as sim_config
from smpp_utils.data.synthetic import make_synthetic
from smpp_utils.jrpp import experiment, report
from smpp_utils.pipeline.registries import registries


def user_mean_run(data, info, seed, cfg):
    """A new baseline (what its module would hold): the train label mean of the post's user."""
    tr = data["train"]
    users, y = tr["user"].numpy(), tr["y"].numpy()
    means = {u: y[users == u].mean() for u in np.unique(users)}
    pred = {s: np.array([means.get(int(u), y.mean()) for u in data[s]["user"]]) for s in ("val", "test")}
    return {**pred, "seconds": 0.01}


@pytest.fixture
def new_baseline(monkeypatch):
    # the one line in baselines/__init__.py
    monkeypatch.setitem(baselines.BASELINES, "UserMean", (user_mean_run, "feature"))
    return "UserMean"


def test_a_new_baseline_is_everywhere_from_one_registry_line(new_baseline):
    assert baselines.REGISTRY[new_baseline] is user_mean_run
    assert baselines.KIND[new_baseline] == "feature" and new_baseline not in baselines.NEURAL
    # the knob accepts it (the pre-flight's check) ...
    params = config.load_params()
    params["ci"]["jrpp"]["baselines"] = f"SVR,{new_baseline}"
    knobs.validate(params, registries=registries())
    # ... Table 2 lists it after the paper's baselines and before JRPP ...
    order = report._ordered({new_baseline: 1, "JRPP": 2, "SVR": 3})
    assert order.index(new_baseline) == list(baselines.BASELINES).index(new_baseline) < order.index("JRPP")
    # ... and stage 04's loop runs it
    data, info = make_synthetic(n_train=200, n_val=50, n_test=50, seed=1)
    cfg = SimpleNamespace(baselines=new_baseline, seed=0, n_seeds=1, lr=1e-3, batch_size=64, epochs=2,
                          patience=2)
    out = experiment.run_baselines(data, info, cfg)
    assert list(out["results"]) == [new_baseline] and isinstance(out["results"][new_baseline], list)


def test_a_new_regime_is_selectable_from_one_registry_entry(monkeypatch):
    # the one entry in data/sim/config.py REGIMES
    monkeypatch.setitem(sim_config.REGIMES, "session-dominated", {"w_session": 1.5, "w_user": 0.1})
    assert "session-dominated" in sim.REGIMES
    assert sim.regime_config("session-dominated", posts=10).w_session == 1.5
    params = config.load_params()
    params["ci"]["regimes"]["regimes"] = "smpd,session-dominated"
    params["ci"]["data"]["sim_regime"] = "session-dominated"
    knobs.validate(params, registries=registries())
    params["ci"]["regimes"]["regimes"] = "smpd,session-dominatd"
    with pytest.raises(knobs.KnobError, match="did you mean 'session-dominated'"):
        knobs.validate(params, registries=registries())
